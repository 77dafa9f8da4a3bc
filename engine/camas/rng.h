/* SPDX-License-Identifier: MIT */
/*
 * Seeded randomness: xoshiro256** streams, each derived from a run seed and a stable name
 * (an agent's address, a link's name), so that every agent draws its own reproducible
 * sequence whatever the others do.  Nothing here reads a clock, the environment or a pointer:
 * the same (seed, name) gives the same numbers on every run and every platform.
 *
 * Exactness: integers and uniform doubles are bit-identical everywhere.  exponential() and
 * normal() go through the C library's log() and sqrt(); sqrt is exact by IEEE 754, and log is
 * deterministic for one C library (glibc's is the same on every x86-64 and arm64 machine), but
 * two different libms may differ in the last bit.
 *
 * A CamasRng is a plain 32-byte value: embed it, copy it (a copy continues identically), or
 * allocate one with camas_rng_new_stream().
 */
#pragma once

#include <math.h>

#include <camas/error.h>

G_BEGIN_DECLS

typedef struct {
    guint64 s[4]; /* the xoshiro256** state; never all zero */
} CamasRng;

/* Seeds @rng from @seed through splitmix64 (the seeding its authors recommend). */
CAMAS_API void camas_rng_init(CamasRng *rng, guint64 seed);

/**
 * camas_rng_init_stream:
 * @run_seed: the run's seed (e.g. the scenario's)
 * @name: (nullable): the stream's stable name; NULL is the same as ""
 *
 * Seeds @rng with a stream independent of every other name's: the name is hashed with 64-bit
 * FNV-1a (a fixed function of its bytes), mixed with the splitmix64 finalizer of @run_seed,
 * and the result seeds splitmix64 as in camas_rng_init().
 */
CAMAS_API void camas_rng_init_stream(CamasRng *rng, guint64 run_seed, const char *name);

/* Returns: (transfer full): a new generator as camas_rng_init_stream(). */
CAMAS_API CamasRng *camas_rng_new_stream(guint64 run_seed, const char *name);
CAMAS_API CamasRng *camas_rng_copy(const CamasRng *rng);
CAMAS_API void camas_rng_free(CamasRng *rng);

/* The 64-bit FNV-1a hash of @name's bytes (the stream-name hash, exposed for tests and for
 * layers that derive further seeds). */
CAMAS_API guint64 camas_rng_hash_name(const char *name);

static inline guint64
camas_rng_rotl(guint64 x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits (xoshiro256**). */
static inline guint64
camas_rng_next(CamasRng *rng)
{
    guint64 *s = rng->s;
    guint64 result = camas_rng_rotl(s[1] * 5, 7) * 9;
    guint64 t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = camas_rng_rotl(s[3], 45);
    return result;
}

/* A uniform double in [0, 1): the top 53 bits of one draw. */
static inline double
camas_rng_double(CamasRng *rng)
{
    return (double)(camas_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* A uniform double in [@a, @b). */
CAMAS_API double camas_rng_uniform(CamasRng *rng, double a, double b);

/* A uniform integer in [0, @n), unbiased (Lemire's multiply-and-reject); @n > 0. */
CAMAS_API guint64 camas_rng_below(CamasRng *rng, guint64 n);

/* A uniform integer in [@lo, @hi], both included (Python's randint), unbiased; @lo <= @hi. */
CAMAS_API gint64 camas_rng_int_range(CamasRng *rng, gint64 lo, gint64 hi);

/* An exponentially distributed double with rate @rate > 0 (mean 1/@rate); never infinite.
 * Inline: simulation models draw one per event. */
static inline double
camas_rng_exponential(CamasRng *rng, double rate)
{
    /* 1 - u lies in (0, 1], so the log is finite; the subtraction is exact for 53-bit u. */
    return -log(1.0 - camas_rng_double(rng)) / rate;
}

/* A normally distributed double (Marsaglia's polar method; no cached spare, so the stream's
 * position depends only on the calls made). */
CAMAS_API double camas_rng_normal(CamasRng *rng, double mean, double stddev);

/* Shuffles @n elements of @size bytes in place (Fisher-Yates with camas_rng_below). */
CAMAS_API void camas_rng_shuffle(CamasRng *rng, gpointer elements, gsize n, gsize size);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasRng, camas_rng_free)

G_END_DECLS
