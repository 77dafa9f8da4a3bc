/* SPDX-License-Identifier: MIT */
/*
 * Values: constructors, reference counting, arenas, readers and equality of the immutable value
 * tree (the layer under the codecs; layout in value-private.h).  Heap values are one malloc
 * each, with their string bytes, items or entries in the same block; decoded trees live in an
 * arena, where every value forwards its reference counting to the arena.  Freed arenas of the
 * common sizes are kept per thread for the next message.
 */
#include <math.h>
#include <string.h>

#include "live-private.h"
#include "value-private.h"

/* --- singletons --------------------------------------------------------------------------- */

CamasValue camas__value_null = {.type = CAMAS_VALUE_NULL, .flags = CAMAS__VALUE_STATIC};
CamasValue camas__value_true = {.type = CAMAS_VALUE_BOOL, .flags = CAMAS__VALUE_STATIC, .u.b = 1};
CamasValue camas__value_false = {.type = CAMAS_VALUE_BOOL, .flags = CAMAS__VALUE_STATIC, .u.b = 0};

/* Small ints are shared static values (as CPython does): the ids, counters and flags of RPC
 * messages then cost no allocation. */
#define SMALL_INT_MIN (-16)
#define SMALL_INT_MAX 255
#define SI(n) {.type = CAMAS_VALUE_INT, .flags = CAMAS__VALUE_STATIC, .u.i = (n)}
#define SI4(n) SI(n), SI((n) + 1), SI((n) + 2), SI((n) + 3)
#define SI16(n) SI4(n), SI4((n) + 4), SI4((n) + 8), SI4((n) + 12)
static CamasValue small_ints[SMALL_INT_MAX - SMALL_INT_MIN + 1] = {
    SI16(-16), SI16(0),   SI16(16),  SI16(32),  SI16(48),  SI16(64),  SI16(80),  SI16(96),
    SI16(112), SI16(128), SI16(144), SI16(160), SI16(176), SI16(192), SI16(208), SI16(224),
    SI16(240),
};
G_STATIC_ASSERT(G_N_ELEMENTS(small_ints) == 17 * 16);
#undef SI
#undef SI4
#undef SI16

/* --- arenas -------------------------------------------------------------------------------- */

/* The layout is in value-private.h (for the inline allocation fast path). */
typedef CamasArenaBlock ArenaBlock;
typedef CamasArenaAdopt AdoptNode;

#define ALIGN8(n) CAMAS__ARENA_ALIGN8(n)
#define BLOCK_HEADER CAMAS__ARENA_BLOCK_HEADER
#define ARENA_HEADER ALIGN8(sizeof(CamasArena))
#define ARENA_MIN_BLOCK 256

static inline char *
block_data(ArenaBlock *b)
{
    return (char *)b + BLOCK_HEADER;
}

/* Freed arenas are kept per thread for reuse, in size classes of their first block (256 bytes
 * times 1, 1.5, 2, 3, 4, ... 32: at most a third is wasted): decoding a message then costs no
 * malloc.  Each class keeps CACHE_CLASS_BYTES' worth, or as many arenas as this thread had
 * alive at once in the last period (as many new arenas of the class as that number) when that
 * is more: replies that wait in their futures for their callbacks come in waves of tens of
 * thousands in a large scenario, and the next wave reuses the arenas the last one freed rather
 * than freeing and allocating one per message.  The cache goes when its thread exits. */
#define CACHE_CLASSES 11 /* 256 B .. 8 KiB */
#define CACHE_CLASS_BYTES (64 * 1024)

typedef struct {
    CamasArena *free[CACHE_CLASSES]; /* linked through the arena's `block` field */
    guint len[CACHE_CLASSES];
    gssize limit[CACHE_CLASSES]; /* arenas the class may keep (0 until its first arena) */
    gssize out[CACHE_CLASSES];   /* arenas of the class this thread made and has not freed */
    gssize peak[CACHE_CLASSES];  /* the peak of out in this period */
    gssize made[CACHE_CLASSES];  /* arenas of the class made in this period */
} ArenaCache;

static __thread ArenaCache *arena_cache;

static void
arena_cache_free(gpointer data)
{
    ArenaCache *cache = data;
    for (guint c = 0; c < CACHE_CLASSES; c++) {
        while (cache->free[c]) {
            CamasArena *a = cache->free[c];
            cache->free[c] = (CamasArena *)a->block;
            g_free(a);
        }
    }
    if (cache == arena_cache)
        arena_cache = NULL;
    g_free(cache);
}

static GPrivate arena_cache_key = G_PRIVATE_INIT(arena_cache_free);

static G_GNUC_NO_INLINE ArenaCache *
arena_cache_create(void)
{
    arena_cache = g_new0(ArenaCache, 1);
    g_private_set(&arena_cache_key, arena_cache);
    return arena_cache;
}

/* The class of a first block of @size bytes, or -1 when too large to cache; *@class_size is
 * the class's block size (@size rounded up). */
static inline int
size_class(gsize size, gsize *class_size)
{
    if (size <= ARENA_MIN_BLOCK) {
        *class_size = ARENA_MIN_BLOCK;
        return 0;
    }
    if (size > ((gsize)ARENA_MIN_BLOCK << (CACHE_CLASSES - 1) / 2))
        return -1;
    /* the power of two above: size <= ARENA_MIN_BLOCK << k, k >= 1; then its three quarters */
    guint k = g_bit_storage((size - 1) / ARENA_MIN_BLOCK);
    gsize full = (gsize)ARENA_MIN_BLOCK << k;
    if (size <= full / 4 * 3) {
        *class_size = full / 4 * 3;
        return (int)(2 * k - 1);
    }
    *class_size = full;
    return (int)(2 * k);
}

static inline ArenaBlock *
first_block(CamasArena *arena)
{
    return (ArenaBlock *)((char *)arena + ARENA_HEADER);
}

CamasArena *
camas__arena_new(gsize size_hint)
{
    /* The arena header and the first block share one allocation: a small message costs one
     * malloc for its whole tree, or none when the cache has one of its class. */
    gsize size = MAX(ALIGN8(size_hint), ARENA_MIN_BLOCK);
    gsize class_size;
    int cls = size_class(size, &class_size);
    CamasArena *arena = NULL;
    if (cls >= 0) {
        size = class_size;
        ArenaCache *cache = arena_cache ? arena_cache : arena_cache_create();
        if (++cache->out[cls] > cache->peak[cls])
            cache->peak[cls] = cache->out[cls];
        if (G_UNLIKELY(++cache->made[cls] >= cache->limit[cls])) { /* a period is over */
            cache->limit[cls] = MAX(cache->peak[cls], (gssize)(CACHE_CLASS_BYTES / size));
            cache->peak[cls] = cache->out[cls];
            cache->made[cls] = 0;
        }
        if (cache->free[cls]) {
            arena = cache->free[cls];
            cache->free[cls] = (CamasArena *)arena->block;
            cache->len[cls]--;
        }
    }
    if (!arena)
        arena = g_malloc(ARENA_HEADER + BLOCK_HEADER + size);
    ArenaBlock *b = first_block(arena);
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    arena->refcount = 1;
    arena->block = b;
    arena->next_size = size * 2;
    arena->adopted = NULL;
    camas__live_inc(CAMAS__LIVE_ARENA);
    return arena;
}

static void
arena_free(CamasArena *arena)
{
    for (AdoptNode *n = arena->adopted; n; n = n->next)
        camas_value_unref(n->value);
    ArenaBlock *b = arena->block;
    while (b) {
        ArenaBlock *prev = b->prev;
        if (prev) /* the first block is part of the arena's own allocation */
            g_free(b);
        b = prev;
    }
    camas__live_dec(CAMAS__LIVE_ARENA);
    gsize size = first_block(arena)->size, class_size;
    int cls = size_class(size, &class_size);
    if (cls >= 0 && size == class_size) {
        ArenaCache *cache = arena_cache ? arena_cache : arena_cache_create();
        cache->out[cls]--;
        if ((gssize)cache->len[cls] < MAX(cache->limit[cls], (gssize)(CACHE_CLASS_BYTES / size))) {
            arena->block = (ArenaBlock *)cache->free[cls];
            cache->free[cls] = arena;
            cache->len[cls]++;
            return;
        }
    }
    g_free(arena);
}

void
camas__arena_unref(CamasArena *arena)
{
    g_return_if_fail(arena != NULL);
    if (g_atomic_int_dec_and_test(&arena->refcount))
        arena_free(arena);
}

gpointer
camas__arena_grow(CamasArena *arena, gsize size)
{
    gsize bsize = MAX(arena->next_size, size);
    ArenaBlock *b = g_malloc(BLOCK_HEADER + bsize);
    b->prev = arena->block;
    b->size = bsize;
    b->used = size;
    arena->block = b;
    arena->next_size = bsize * 2;
    return block_data(b);
}

gpointer
camas__arena_alloc_rest(CamasArena *arena, gsize min, gsize reserve, gsize *len)
{
    min = ALIGN8(min);
    reserve = ALIGN8(reserve);
    ArenaBlock *b = arena->block;
    gsize room = b->size - b->used;
    if (room < min)
        return *len = min, camas__arena_grow(arena, min);
    gsize take = room >= min + reserve ? room - reserve : min;
    gpointer p = block_data(b) + b->used;
    b->used += take;
    *len = take;
    return p;
}

CamasValue *
camas__arena_str(CamasArena *arena, CamasValueType type, const char *data, gsize len)
{
    char *mem = camas__arena_alloc(arena, sizeof(CamasValue) + len + 1);
    CamasValue *v = (CamasValue *)mem;
    char *copy = mem + sizeof(CamasValue);
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    *v = (CamasValue){.type = type, .flags = CAMAS__VALUE_ARENA, .arena = arena};
    v->u.str.len = len;
    v->u.str.data = copy;
    return v;
}

CamasValue *
camas__arena_adopt(CamasArena *arena, CamasValue *value)
{
    g_return_val_if_fail(value != NULL, NULL);
    /* Static values need no keeping; values of this arena must not keep it alive forever. */
    if (value->flags & CAMAS__VALUE_STATIC)
        return value;
    if ((value->flags & CAMAS__VALUE_ARENA) && value->arena == arena) {
        camas_value_unref(value);
        return value;
    }
    /* Decoders hand the whole first block to their own allocator, so a node often needs a
     * block of its own: a small one, which leaves the arena's growth sequence alone. */
    AdoptNode *n;
    ArenaBlock *b = arena->block;
    if (G_LIKELY(b->size - b->used >= ALIGN8(sizeof(AdoptNode)))) {
        n = (AdoptNode *)(block_data(b) + b->used);
        b->used += ALIGN8(sizeof(AdoptNode));
    } else {
        const gsize small = 4 * ALIGN8(sizeof(AdoptNode));
        ArenaBlock *nb = g_malloc(BLOCK_HEADER + small);
        nb->prev = b;
        nb->size = small;
        nb->used = ALIGN8(sizeof(AdoptNode));
        arena->block = nb;
        n = (AdoptNode *)block_data(nb);
    }
    n->value = value;
    n->next = arena->adopted;
    arena->adopted = n;
    return value;
}

CamasValue *
camas__arena_finish(CamasArena *arena, CamasValue *root)
{
    g_return_val_if_fail(root != NULL, NULL);
    if ((root->flags & CAMAS__VALUE_ARENA) && root->arena == arena)
        return root; /* the builder's arena reference is now root's */
    /* A root outside the arena (a singleton, an adopted value): give the caller its own
     * reference and drop the builder's. */
    camas_value_ref(root);
    camas__arena_unref(arena);
    return root;
}

/* --- reference counting -------------------------------------------------------------------- */

static void value_free(CamasValue *value);

CamasValue *
camas_value_ref(CamasValue *value)
{
    g_return_val_if_fail(value != NULL, NULL);
    if (G_LIKELY(value->flags == 0))
        g_atomic_int_inc(&value->refcount);
    else if (value->flags & CAMAS__VALUE_ARENA)
        g_atomic_int_inc(&value->arena->refcount);
    else if (!(value->flags & CAMAS__VALUE_STATIC))
        g_atomic_int_inc(&value->refcount);
    return value;
}

void
camas_value_unref(CamasValue *value)
{
    if (!value)
        return;
    if (value->flags & CAMAS__VALUE_STATIC)
        return;
    if (value->flags & CAMAS__VALUE_ARENA) {
        camas__arena_unref(value->arena);
        return;
    }
    if (g_atomic_int_dec_and_test(&value->refcount))
        value_free(value);
}

static void
value_free(CamasValue *value)
{
    switch ((CamasValueType)value->type) {
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
        for (gsize i = 0; i < value->u.seq.len; i++)
            camas_value_unref(value->u.seq.items[i]);
        break;
    case CAMAS_VALUE_MAP:
        for (gsize i = 0; i < value->u.map.len; i++) {
            camas_value_unref(value->u.map.entries[i].key);
            camas_value_unref(value->u.map.entries[i].value);
        }
        break;
    case CAMAS_VALUE_EXT:
        camas_value_unref(value->u.ext.data);
        break;
    case CAMAS_VALUE_OBJECT:
        if (value->u.obj.type->unref)
            value->u.obj.type->unref(value->u.obj.instance);
        break;
    default:
        break;
    }
    g_free(value);
    camas__live_dec(CAMAS__LIVE_VALUE);
}

/* --- constructors -------------------------------------------------------------------------- */

/* A heap value with @extra bytes after the struct (string bytes, items or entries). */
static inline CamasValue *
heap_value(CamasValueType type, gsize extra)
{
    CamasValue *v = g_malloc(sizeof(CamasValue) + extra);
    *v = (CamasValue){.type = type, .refcount = 1};
    camas__live_inc(CAMAS__LIVE_VALUE);
    return v;
}

static inline gpointer
heap_extra(CamasValue *v)
{
    return (char *)v + sizeof(CamasValue);
}

CamasValue *
camas_value_new_null(void)
{
    return &camas__value_null;
}

CamasValue *
camas_value_new_bool(gboolean b)
{
    return b ? &camas__value_true : &camas__value_false;
}

CamasValue *
camas_value_new_int(gint64 i)
{
    if (i >= SMALL_INT_MIN && i <= SMALL_INT_MAX)
        return &small_ints[i - SMALL_INT_MIN];
    CamasValue *v = heap_value(CAMAS_VALUE_INT, 0);
    v->u.i = i;
    return v;
}

CamasValue *
camas_value_new_uint(guint64 u)
{
    if (u <= G_MAXINT64)
        return camas_value_new_int((gint64)u);
    CamasValue *v = heap_value(CAMAS_VALUE_INT, 0);
    v->flags = CAMAS__VALUE_UNSIGNED;
    v->u.u = u;
    return v;
}

CamasValue *
camas_value_new_float(double d)
{
    CamasValue *v = heap_value(CAMAS_VALUE_FLOAT, 0);
    v->u.f = d;
    return v;
}

static CamasValue *
new_strlike(CamasValueType type, const char *data, gsize len)
{
    CamasValue *v = heap_value(type, len + 1);
    char *copy = heap_extra(v);
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    v->u.str.len = len;
    v->u.str.data = copy;
    return v;
}

CamasValue *
camas_value_new_str(const char *utf8)
{
    g_return_val_if_fail(utf8 != NULL, NULL);
    return new_strlike(CAMAS_VALUE_STR, utf8, strlen(utf8));
}

CamasValue *
camas_value_new_str_len(const char *utf8, gssize len)
{
    g_return_val_if_fail(utf8 != NULL || len == 0, NULL);
    if (len < 0)
        len = (gssize)strlen(utf8);
    return new_strlike(CAMAS_VALUE_STR, utf8, (gsize)len);
}

gboolean
camas__utf8_validate(const char *data, gsize len, gsize *bad_offset)
{
    /* g_utf8_validate_len() stops at NUL bytes, which are valid text here. */
    gsize pos = 0;
    while (pos < len) {
        const char *end;
        if (g_utf8_validate_len(data + pos, len - pos, &end))
            return TRUE;
        gsize at = (gsize)(end - data);
        if (data[at] != '\0') {
            if (bad_offset)
                *bad_offset = at;
            return FALSE;
        }
        pos = at + 1;
    }
    return TRUE;
}

CamasValue *
camas_value_new_str_checked(const char *data, gsize len, GError **error)
{
    g_return_val_if_fail(data != NULL || len == 0, NULL);
    gsize bad;
    if (!camas__utf8_validate(data, len, &bad)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "Invalid UTF-8 in string at byte offset %" G_GSIZE_FORMAT " (byte 0x%02x)",
                    bad, (guint8)data[bad]);
        return NULL;
    }
    return new_strlike(CAMAS_VALUE_STR, data, len);
}

CamasValue *
camas_value_new_printf(const char *format, ...)
{
    g_return_val_if_fail(format != NULL, NULL);
    va_list ap;
    va_start(ap, format);
    g_autofree char *s = g_strdup_vprintf(format, ap);
    va_end(ap);
    return new_strlike(CAMAS_VALUE_STR, s, strlen(s));
}

CamasValue *
camas_value_new_bytes(gconstpointer data, gsize len)
{
    g_return_val_if_fail(data != NULL || len == 0, NULL);
    return new_strlike(CAMAS_VALUE_BYTES, data, len);
}

static CamasValue *
new_seq(CamasValueType type, CamasValue *const *items, gsize n, gboolean take)
{
    g_return_val_if_fail(items != NULL || n == 0, NULL);
    CamasValue *v = heap_value(type, n * sizeof(CamasValue *));
    CamasValue **copy = heap_extra(v);
    for (gsize i = 0; i < n; i++) {
        g_assert(items[i] != NULL);
        copy[i] = take ? items[i] : camas_value_ref(items[i]);
    }
    v->u.seq.len = n;
    v->u.seq.items = copy;
    return v;
}

CamasValue *
camas_value_new_list(CamasValue *const *items, gsize n)
{
    return new_seq(CAMAS_VALUE_LIST, items, n, FALSE);
}

CamasValue *
camas_value_new_list_take(CamasValue **items, gsize n)
{
    return new_seq(CAMAS_VALUE_LIST, items, n, TRUE);
}

CamasValue *
camas_value_new_tuple(CamasValue *const *items, gsize n)
{
    return new_seq(CAMAS_VALUE_TUPLE, items, n, FALSE);
}

CamasValue *
camas_value_new_tuple_take(CamasValue **items, gsize n)
{
    return new_seq(CAMAS_VALUE_TUPLE, items, n, TRUE);
}

static CamasValue *
new_map(CamasValue *const *keys, CamasValue *const *values, gsize n, gboolean take,
        GError **error)
{
    g_return_val_if_fail((keys != NULL && values != NULL) || n == 0, NULL);
    /* Validate before counting or referencing anything, so that on error nothing is taken. */
    CamasValue *v = g_malloc(sizeof(CamasValue) + n * sizeof(CamasMapEntry));
    CamasMapEntry *entries = heap_extra(v);
    for (gsize i = 0; i < n; i++) {
        g_assert(keys[i] != NULL && values[i] != NULL);
        entries[i].key = keys[i];
        entries[i].value = values[i];
    }
    if (!camas__value_check_map_keys(entries, n, CAMAS_ERROR_INVALID, error)) {
        g_free(v);
        return NULL;
    }
    *v = (CamasValue){.type = CAMAS_VALUE_MAP, .refcount = 1};
    camas__live_inc(CAMAS__LIVE_VALUE);
    if (!take) {
        for (gsize i = 0; i < n; i++) {
            camas_value_ref(entries[i].key);
            camas_value_ref(entries[i].value);
        }
    }
    v->u.map.len = n;
    v->u.map.entries = entries;
    return v;
}

CamasValue *
camas_value_new_map(CamasValue *const *keys, CamasValue *const *values, gsize n, GError **error)
{
    return new_map(keys, values, n, FALSE, error);
}

CamasValue *
camas_value_new_map_take(CamasValue **keys, CamasValue **values, gsize n, GError **error)
{
    return new_map(keys, values, n, TRUE, error);
}

CamasValue *
camas_value_new_ext(gint64 type_id, CamasValue *data)
{
    g_return_val_if_fail(data != NULL, NULL);
    CamasValue *v = heap_value(CAMAS_VALUE_EXT, 0);
    v->u.ext.id = type_id;
    v->u.ext.data = camas_value_ref(data);
    return v;
}

CamasValue *
camas_value_new_object(const CamasObjectType *type, gpointer instance)
{
    g_return_val_if_fail(type != NULL, NULL);
    CamasValue *v = heap_value(CAMAS_VALUE_OBJECT, 0);
    v->u.obj.type = type;
    v->u.obj.instance = type->ref ? type->ref(instance) : instance;
    return v;
}

/* --- reading ------------------------------------------------------------------------------ */

CamasValueType
camas_value_get_type(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, CAMAS_VALUE_NULL);
    return (CamasValueType)value->type;
}

const char *
camas_value_type_name(CamasValueType type)
{
    static const char *const names[] = {
        [CAMAS_VALUE_NULL] = "null",   [CAMAS_VALUE_BOOL] = "bool",   [CAMAS_VALUE_INT] = "int",
        [CAMAS_VALUE_FLOAT] = "float", [CAMAS_VALUE_STR] = "str",     [CAMAS_VALUE_BYTES] = "bytes",
        [CAMAS_VALUE_LIST] = "list",   [CAMAS_VALUE_TUPLE] = "tuple", [CAMAS_VALUE_MAP] = "map",
        [CAMAS_VALUE_EXT] = "ext",     [CAMAS_VALUE_OBJECT] = "object",
    };
    if ((guint)type < G_N_ELEMENTS(names))
        return names[type];
    return "invalid";
}

gboolean
camas_value_is_null(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, FALSE);
    return value->type == CAMAS_VALUE_NULL;
}

gboolean
camas_value_is_sequence(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, FALSE);
    return value->type == CAMAS_VALUE_LIST || value->type == CAMAS_VALUE_TUPLE;
}

static gboolean
type_error(const CamasValue *value, const char *expected, GError **error)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "expected %s, got %s", expected,
                camas_value_type_name(value->type));
    return FALSE;
}

gboolean
camas_value_to_bool(const CamasValue *value, gboolean *out, GError **error)
{
    g_return_val_if_fail(value != NULL, FALSE);
    if (value->type != CAMAS_VALUE_BOOL)
        return type_error(value, "bool", error);
    if (out)
        *out = value->u.b != 0;
    return TRUE;
}

gboolean
camas_value_to_int64(const CamasValue *value, gint64 *out, GError **error)
{
    g_return_val_if_fail(value != NULL, FALSE);
    if (value->type != CAMAS_VALUE_INT)
        return type_error(value, "int", error);
    if ((value->flags & CAMAS__VALUE_UNSIGNED) && value->u.u > G_MAXINT64) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "int %" G_GUINT64_FORMAT " is out of range for int64", value->u.u);
        return FALSE;
    }
    if (out)
        *out = value->u.i;
    return TRUE;
}

gboolean
camas_value_to_uint64(const CamasValue *value, guint64 *out, GError **error)
{
    g_return_val_if_fail(value != NULL, FALSE);
    if (value->type != CAMAS_VALUE_INT)
        return type_error(value, "int", error);
    if (!(value->flags & CAMAS__VALUE_UNSIGNED) && value->u.i < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "int %" G_GINT64_FORMAT " is out of range for uint64", value->u.i);
        return FALSE;
    }
    if (out)
        *out = value->u.u;
    return TRUE;
}

gboolean
camas_value_to_double(const CamasValue *value, double *out, GError **error)
{
    g_return_val_if_fail(value != NULL, FALSE);
    double d;
    if (value->type == CAMAS_VALUE_FLOAT)
        d = value->u.f;
    else if (value->type == CAMAS_VALUE_INT)
        d = (value->flags & CAMAS__VALUE_UNSIGNED) ? (double)value->u.u : (double)value->u.i;
    else
        return type_error(value, "float", error);
    if (out)
        *out = d;
    return TRUE;
}

const char *
camas_value_to_str(const CamasValue *value, gsize *len, GError **error)
{
    g_return_val_if_fail(value != NULL, NULL);
    if (value->type != CAMAS_VALUE_STR) {
        type_error(value, "str", error);
        return NULL;
    }
    if (len)
        *len = value->u.str.len;
    return value->u.str.data;
}

const guint8 *
camas_value_to_bytes(const CamasValue *value, gsize *len, GError **error)
{
    g_return_val_if_fail(value != NULL, NULL);
    if (value->type != CAMAS_VALUE_BYTES) {
        type_error(value, "bytes", error);
        return NULL;
    }
    if (len)
        *len = value->u.str.len;
    return (const guint8 *)value->u.str.data;
}

gboolean
camas_value_get_bool(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_BOOL, FALSE);
    return value->u.b != 0;
}

gint64
camas_value_get_int(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_INT, 0);
    return value->u.i;
}

guint64
camas_value_get_uint(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_INT, 0);
    return value->u.u;
}

gboolean
camas_value_int_is_unsigned(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_INT, FALSE);
    return (value->flags & CAMAS__VALUE_UNSIGNED) && value->u.u > G_MAXINT64;
}

double
camas_value_get_float(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_FLOAT, 0.0);
    return value->u.f;
}

const char *
camas_value_get_str(const CamasValue *value, gsize *len)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_STR, NULL);
    if (len)
        *len = value->u.str.len;
    return value->u.str.data;
}

const guint8 *
camas_value_get_bytes(const CamasValue *value, gsize *len)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_BYTES, NULL);
    if (len)
        *len = value->u.str.len;
    return (const guint8 *)value->u.str.data;
}

gsize
camas_value_get_length(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, 0);
    switch ((CamasValueType)value->type) {
    case CAMAS_VALUE_STR:
    case CAMAS_VALUE_BYTES:
        return value->u.str.len;
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
        return value->u.seq.len;
    case CAMAS_VALUE_MAP:
        return value->u.map.len;
    default:
        return 0;
    }
}

CamasValue *
camas_value_get_item(const CamasValue *value, gsize index)
{
    g_return_val_if_fail(value != NULL, NULL);
    g_return_val_if_fail(value->type == CAMAS_VALUE_LIST || value->type == CAMAS_VALUE_TUPLE,
                         NULL);
    g_return_val_if_fail(index < value->u.seq.len, NULL);
    return value->u.seq.items[index];
}

CamasValue *
camas_value_map_get_key(const CamasValue *value, gsize index)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_MAP, NULL);
    g_return_val_if_fail(index < value->u.map.len, NULL);
    return value->u.map.entries[index].key;
}

CamasValue *
camas_value_map_get_value(const CamasValue *value, gsize index)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_MAP, NULL);
    g_return_val_if_fail(index < value->u.map.len, NULL);
    return value->u.map.entries[index].value;
}

CamasValue *
camas_value_map_lookup(const CamasValue *value, const char *key)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_MAP, NULL);
    g_return_val_if_fail(key != NULL, NULL);
    /* Maps on the wire are small (RPC kwargs, ext envelopes): a linear scan over the entries,
     * comparing lengths first, beats building any index. */
    gsize klen = strlen(key);
    const CamasMapEntry *e = value->u.map.entries;
    for (gsize i = 0, n = value->u.map.len; i < n; i++) {
        const CamasValue *k = e[i].key;
        if (k->type == CAMAS_VALUE_STR && k->u.str.len == klen &&
            memcmp(k->u.str.data, key, klen) == 0)
            return e[i].value;
    }
    return NULL;
}

CamasValue *
camas_value_map_lookup_value(const CamasValue *value, const CamasValue *key)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_MAP, NULL);
    g_return_val_if_fail(key != NULL, NULL);
    const CamasMapEntry *e = value->u.map.entries;
    for (gsize i = 0, n = value->u.map.len; i < n; i++)
        if (camas_value_equal(e[i].key, key))
            return e[i].value;
    return NULL;
}

gint64
camas_value_ext_get_type_id(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_EXT, 0);
    return value->u.ext.id;
}

CamasValue *
camas_value_ext_get_data(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_EXT, NULL);
    return value->u.ext.data;
}

const CamasObjectType *
camas_value_object_get_type(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_OBJECT, NULL);
    return value->u.obj.type;
}

gpointer
camas_value_object_get_instance(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL && value->type == CAMAS_VALUE_OBJECT, NULL);
    return value->u.obj.instance;
}

/* --- equality and hashing ------------------------------------------------------------------ */

static inline gboolean
int_equal(const CamasValue *a, const CamasValue *b)
{
    gboolean ua = (a->flags & CAMAS__VALUE_UNSIGNED) != 0;
    gboolean ub = (b->flags & CAMAS__VALUE_UNSIGNED) != 0;
    if (ua == ub)
        return a->u.i == b->u.i;
    /* One is read as uint64, the other as int64: equal only when the signed one is not
     * negative (canonical values never get here, but decoders may set the flag freely). */
    const CamasValue *s = ua ? b : a;
    return s->u.i >= 0 && a->u.u == b->u.u;
}

static inline gboolean
float_equal(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

gboolean
camas_value_equal(const CamasValue *a, const CamasValue *b)
{
    g_return_val_if_fail(a != NULL && b != NULL, FALSE);
    if (a == b)
        return TRUE;
    CamasValueType ta = a->type, tb = b->type;
    if (ta != tb) {
        gboolean sa = ta == CAMAS_VALUE_LIST || ta == CAMAS_VALUE_TUPLE;
        gboolean sb = tb == CAMAS_VALUE_LIST || tb == CAMAS_VALUE_TUPLE;
        if (!(sa && sb))
            return FALSE;
    }
    switch (ta) {
    case CAMAS_VALUE_NULL:
        return TRUE;
    case CAMAS_VALUE_BOOL:
        return (a->u.b != 0) == (b->u.b != 0);
    case CAMAS_VALUE_INT:
        return int_equal(a, b);
    case CAMAS_VALUE_FLOAT:
        return float_equal(a->u.f, b->u.f);
    case CAMAS_VALUE_STR:
    case CAMAS_VALUE_BYTES:
        return a->u.str.len == b->u.str.len &&
               memcmp(a->u.str.data, b->u.str.data, a->u.str.len) == 0;
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
        if (a->u.seq.len != b->u.seq.len)
            return FALSE;
        for (gsize i = 0; i < a->u.seq.len; i++)
            if (!camas_value_equal(a->u.seq.items[i], b->u.seq.items[i]))
                return FALSE;
        return TRUE;
    case CAMAS_VALUE_MAP:
        if (a->u.map.len != b->u.map.len)
            return FALSE;
        for (gsize i = 0; i < a->u.map.len; i++) {
            const CamasMapEntry *ea = &a->u.map.entries[i], *eb = &b->u.map.entries[i];
            if (!camas_value_equal(ea->key, eb->key) || !camas_value_equal(ea->value, eb->value))
                return FALSE;
        }
        return TRUE;
    case CAMAS_VALUE_EXT:
        return a->u.ext.id == b->u.ext.id && camas_value_equal(a->u.ext.data, b->u.ext.data);
    case CAMAS_VALUE_OBJECT:
        if (a->u.obj.type != b->u.obj.type)
            return FALSE;
        if (a->u.obj.instance == b->u.obj.instance)
            return TRUE;
        return a->u.obj.type->equal && a->u.obj.type->equal(a->u.obj.instance, b->u.obj.instance);
    }
    return FALSE;
}

static inline guint
mix64(guint64 x)
{
    /* splitmix64's finalizer: every input bit reaches every output bit. */
    x ^= x >> 30;
    x *= G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= G_GUINT64_CONSTANT(0x94d049bb133111eb);
    x ^= x >> 31;
    return (guint)(x ^ (x >> 32));
}

guint
camas__value_hash(const CamasValue *value)
{
    switch ((CamasValueType)value->type) {
    case CAMAS_VALUE_NULL:
        return 0x9e3779b9u;
    case CAMAS_VALUE_BOOL:
        return value->u.b ? 0x85ebca6bu : 0xc2b2ae35u;
    case CAMAS_VALUE_INT:
        /* equal ints have equal bit patterns (see int_equal) */
        return mix64(value->u.u);
    case CAMAS_VALUE_FLOAT: {
        double d = value->u.f;
        if (isnan(d))
            return 0x7ff80000u;
        if (d == 0.0)
            d = 0.0; /* -0.0 == 0.0 */
        guint64 bits;
        memcpy(&bits, &d, sizeof bits);
        return mix64(bits ^ G_GUINT64_CONSTANT(0x5555555555555555));
    }
    case CAMAS_VALUE_STR:
    case CAMAS_VALUE_BYTES: {
        /* FNV-1a over all bytes (strings may hold NUL), seeded by the type. */
        guint32 h = 2166136261u ^ value->type;
        const guint8 *p = (const guint8 *)value->u.str.data;
        for (gsize i = 0; i < value->u.str.len; i++) {
            h ^= p[i];
            h *= 16777619u;
        }
        return h;
    }
    default:
        /* Containers are never keys; hash by type so the function stays total. */
        return mix64(value->type);
    }
}

static inline gboolean
is_scalar_key(const CamasValue *key)
{
    return key->type <= CAMAS_VALUE_BYTES;
}

static gboolean
duplicate_error(const CamasMapEntry *entries, gsize first, gsize second, int code,
                GError **error)
{
    g_autofree char *r = camas_value_repr(entries[second].key);
    g_set_error(error, CAMAS_ERROR, code,
                "Duplicate map key %s (entries %" G_GSIZE_FORMAT " and %" G_GSIZE_FORMAT ")", r,
                first, second);
    return FALSE;
}

/* Up to this many entries the pairwise scan is faster than building a hash set. */
#define MAP_CHECK_LINEAR_MAX 16

gboolean
camas__value_check_map_keys(const CamasMapEntry *entries, gsize n, int code, GError **error)
{
    g_return_val_if_fail(entries != NULL || n == 0, FALSE);
    for (gsize i = 0; i < n; i++) {
        if (!is_scalar_key(entries[i].key)) {
            g_set_error(error, CAMAS_ERROR, code,
                        "Map key at entry %" G_GSIZE_FORMAT
                        " is a %s; keys must be null, bool, int, float, str or bytes",
                        i, camas_value_type_name(entries[i].key->type));
            return FALSE;
        }
    }
    if (n <= MAP_CHECK_LINEAR_MAX) {
        for (gsize i = 1; i < n; i++)
            for (gsize j = 0; j < i; j++)
                if (camas_value_equal(entries[j].key, entries[i].key))
                    return duplicate_error(entries, j, i, code, error);
        return TRUE;
    }
    /* Open addressing over entry indices (+1, 0 = empty), load factor <= 1/2: O(n) expected,
     * and the first duplicate in insertion order is the one reported. */
    gsize cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    gsize *slots = g_new0(gsize, cap);
    gboolean ok = TRUE;
    for (gsize i = 0; i < n && ok; i++) {
        gsize h = camas__value_hash(entries[i].key) & (cap - 1);
        while (slots[h]) {
            gsize j = slots[h] - 1;
            if (camas_value_equal(entries[j].key, entries[i].key)) {
                ok = duplicate_error(entries, j, i, code, error);
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (ok)
            slots[h] = i + 1;
    }
    g_free(slots);
    return ok;
}
