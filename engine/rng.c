/* SPDX-License-Identifier: MIT */
/*
 * Seeded random streams (see camas/rng.h): splitmix64 seeding, FNV-1a stream names, and the
 * derived distributions.  Reference algorithms: xoshiro256** and splitmix64 by Blackman and
 * Vigna (prng.di.unimi.it), Lemire's "Fast random integer generation in an interval" (2019).
 */
#include <math.h>
#include <string.h>

#include <camas/rng.h>

static guint64
splitmix64_next(guint64 *x)
{
    guint64 z = (*x += G_GUINT64_CONSTANT(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void
camas_rng_init(CamasRng *rng, guint64 seed)
{
    g_return_if_fail(rng != NULL);
    guint64 x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64_next(&x);
    /* splitmix64 is a bijection of its counter, so four consecutive outputs are never all
     * zero; checked anyway because an all-zero state would stay zero forever. */
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
        rng->s[0] = 1;
}

guint64
camas_rng_hash_name(const char *name)
{
    guint64 h = G_GUINT64_CONSTANT(0xcbf29ce484222325);
    for (const guchar *p = (const guchar *)(name ? name : ""); *p; p++) {
        h ^= *p;
        h *= G_GUINT64_CONSTANT(0x100000001b3);
    }
    return h;
}

void
camas_rng_init_stream(CamasRng *rng, guint64 run_seed, const char *name)
{
    guint64 x = run_seed;
    camas_rng_init(rng, splitmix64_next(&x) ^ camas_rng_hash_name(name));
}

CamasRng *
camas_rng_new_stream(guint64 run_seed, const char *name)
{
    CamasRng *rng = g_new(CamasRng, 1);
    camas_rng_init_stream(rng, run_seed, name);
    return rng;
}

CamasRng *
camas_rng_copy(const CamasRng *rng)
{
    g_return_val_if_fail(rng != NULL, NULL);
    return g_memdup2(rng, sizeof *rng);
}

void
camas_rng_free(CamasRng *rng)
{
    g_free(rng);
}

double
camas_rng_uniform(CamasRng *rng, double a, double b)
{
    return a + (b - a) * camas_rng_double(rng);
}

guint64
camas_rng_below(CamasRng *rng, guint64 n)
{
    g_return_val_if_fail(n > 0, 0);
    unsigned __int128 m = (unsigned __int128)camas_rng_next(rng) * n;
    guint64 low = (guint64)m;
    if (low < n) {
        guint64 threshold = -n % n; /* 2^64 mod n */
        while (low < threshold) {
            m = (unsigned __int128)camas_rng_next(rng) * n;
            low = (guint64)m;
        }
    }
    return (guint64)(m >> 64);
}

gint64
camas_rng_int_range(CamasRng *rng, gint64 lo, gint64 hi)
{
    g_return_val_if_fail(lo <= hi, lo);
    guint64 span = (guint64)hi - (guint64)lo; /* the number of values minus one */
    if (span == G_MAXUINT64)
        return (gint64)camas_rng_next(rng);
    return (gint64)((guint64)lo + camas_rng_below(rng, span + 1));
}

double
camas_rng_normal(CamasRng *rng, double mean, double stddev)
{
    double u, v, s;
    do {
        u = 2.0 * camas_rng_double(rng) - 1.0;
        v = 2.0 * camas_rng_double(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return mean + stddev * u * sqrt(-2.0 * log(s) / s);
}

void
camas_rng_shuffle(CamasRng *rng, gpointer elements, gsize n, gsize size)
{
    g_return_if_fail(elements != NULL || n == 0);
    guchar *base = elements;
    guchar tmp[64];
    for (gsize i = n; i > 1; i--) {
        gsize j = (gsize)camas_rng_below(rng, i);
        if (j == i - 1)
            continue;
        guchar *a = base + (i - 1) * size, *b = base + j * size;
        for (gsize off = 0; off < size; off += sizeof tmp) {
            gsize k = MIN(sizeof tmp, size - off);
            memcpy(tmp, a + off, k);
            memcpy(a + off, b + off, k);
            memcpy(b + off, tmp, k);
        }
    }
}
