/* SPDX-License-Identifier: MIT */
/*
 * The layout of a value and the arena that decoders build message trees in.  Only engine code
 * (codecs, framing, channel) includes this.
 *
 * Why an arena: a decoded RPC request is ~10 small values; one block per message instead of one
 * malloc per value keeps the codec within a small factor of the raw library.  Every value in an
 * arena points at it, and ref/unref of any of them counts on the arena.
 */
#pragma once

#include <camas/value.h>

G_BEGIN_DECLS

typedef struct _CamasArena CamasArena;

enum {
    CAMAS__VALUE_STATIC = 1 << 0,   /* never counted or freed: singletons, stack values */
    CAMAS__VALUE_ARENA = 1 << 1,    /* lives in `arena`; counting goes to the arena */
    CAMAS__VALUE_UNSIGNED = 1 << 2, /* an INT above G_MAXINT64, stored in u.u */
};

typedef struct {
    CamasValue *key;
    CamasValue *value;
} CamasMapEntry;

struct _CamasValue {
    guint8 type;      /* a CamasValueType */
    guint8 flags;     /* CAMAS__VALUE_* */
    guint16 reserved;
    gint32 refcount;  /* heap values only */
    CamasArena *arena; /* arena values only */
    union {
        gboolean b;
        gint64 i;
        guint64 u;
        double f;
        struct {
            gsize len;
            const char *data; /* always followed by a NUL byte */
        } str;                /* STR and BYTES */
        struct {
            gsize len;
            CamasValue **items;
        } seq; /* LIST and TUPLE */
        struct {
            gsize len;
            CamasMapEntry *entries;
        } map;
        struct {
            gint64 id;
            CamasValue *data;
        } ext;
        struct {
            const CamasObjectType *type;
            gpointer instance;
        } obj;
    } u;
};

/* Stack values for encoders that wrap a payload without allocating (e.g. the frame triple). */
#define CAMAS__VALUE_STATIC_INT(v)                                                               \
    {.type = CAMAS_VALUE_INT, .flags = CAMAS__VALUE_STATIC, .u.i = (v)}
#define CAMAS__VALUE_STATIC_SEQ(items_, n)                                                       \
    {.type = CAMAS_VALUE_LIST, .flags = CAMAS__VALUE_STATIC, .u.seq = {(n), (items_)}}

/* --- arenas: used by decoders ------------------------------------------------------------- */

/* The arena's layout, here only for the inline allocation fast path below (value.c owns the
 * rest): a chain of blocks, the newest first, each followed by its data (8-byte aligned). */
typedef struct _CamasArenaBlock CamasArenaBlock;
struct _CamasArenaBlock {
    CamasArenaBlock *prev;
    gsize size; /* usable bytes after the header */
    gsize used;
};

typedef struct _CamasArenaAdopt CamasArenaAdopt;
struct _CamasArenaAdopt {
    CamasArenaAdopt *next;
    CamasValue *value;
};

struct _CamasArena {
    gint refcount;
    CamasArenaBlock *block;    /* the current (newest) block; the chain runs through prev */
    gsize next_size;           /* the size of the next block: grows geometrically */
    CamasArenaAdopt *adopted;  /* heap values released when the arena dies */
};

#define CAMAS__ARENA_ALIGN8(n) (((n) + 7) & ~(gsize)7)
#define CAMAS__ARENA_BLOCK_HEADER CAMAS__ARENA_ALIGN8(sizeof(CamasArenaBlock))

/* A new arena with one reference held by the caller; @size_hint sizes the first block. */
CamasArena *camas__arena_new(gsize size_hint);
void camas__arena_unref(CamasArena *arena);
/* The slow path of camas__arena_alloc(): a new block for @size (8-aligned) bytes. */
gpointer camas__arena_grow(CamasArena *arena, gsize size);

/* 8-byte aligned raw memory owned by the arena */
static inline gpointer
camas__arena_alloc(CamasArena *arena, gsize size)
{
    size = CAMAS__ARENA_ALIGN8(size);
    CamasArenaBlock *b = arena->block;
    if (G_LIKELY(b->size - b->used >= size)) {
        gpointer p = (char *)b + CAMAS__ARENA_BLOCK_HEADER + b->used;
        b->used += size;
        return p;
    }
    return camas__arena_grow(arena, size);
}
/* All of the current block's free room, at least @min bytes (8-byte aligned; *@len is set to
 * the size handed out, a multiple of 8), for a decoder's own bump allocator.  @reserve bytes
 * are left for later camas__arena_alloc() calls when the block has them to spare. */
gpointer camas__arena_alloc_rest(CamasArena *arena, gsize min, gsize reserve, gsize *len);
/* A value of @type in the arena; the caller fills u. */
static inline CamasValue *
camas__arena_value(CamasArena *arena, CamasValueType type)
{
    CamasValue *v = (CamasValue *)camas__arena_alloc(arena, sizeof(CamasValue));
    *v = (CamasValue){.type = type, .flags = CAMAS__VALUE_ARENA, .arena = arena};
    return v;
}
/* A STR or BYTES value whose bytes (plus a NUL) are copied into the arena; no UTF-8 check. */
CamasValue *camas__arena_str(CamasArena *arena, CamasValueType type, const char *data, gsize len);
/* The arena keeps a reference to a heap @value (e.g. a deserializer's result) so that arena
 * containers may point at it; it is released when the arena dies.  Returns @value. */
CamasValue *camas__arena_adopt(CamasArena *arena, CamasValue *value);
/* Hands the builder's reference over to @root (which must live in @arena): returns @root with
 * one reference, and the arena lives exactly as long as references to its values do. */
CamasValue *camas__arena_finish(CamasArena *arena, CamasValue *root);

/* Shared singletons (static, never freed). */
extern CamasValue camas__value_null;
extern CamasValue camas__value_true;
extern CamasValue camas__value_false;

/* A hash consistent with camas_value_equal for scalar keys (used for duplicate-key checks). */
guint camas__value_hash(const CamasValue *value);

/* Validates a map's keys in place: scalars only and no duplicates (CAMAS_ERROR_INVALID, or
 * @code when the caller wants its own code, naming the key). */
gboolean camas__value_check_map_keys(const CamasMapEntry *entries, gsize n, int code,
                                     GError **error);

/* --- additions for codecs and printing ---------------------------------------------------- */

/* Writes Python's repr() of @d into @buf (NUL-terminated): the shortest digits that read back
 * as @d, scientific when the decimal exponent is < -4 or >= 16 ("1e-05", "1e+16"), else
 * positional with at least one fractional digit ("1.0", "-0.0"); "nan", "inf", "-inf".
 * Locale-independent.  Returns the length (always < 32). */
gsize camas__format_double(double d, char buf[32]);

/* UTF-8 check that accepts NUL bytes (valid text in a value).  On failure *@bad_offset is the
 * offset of the first byte that does not start a valid sequence. */
gboolean camas__utf8_validate(const char *data, gsize len, gsize *bad_offset);

G_END_DECLS
