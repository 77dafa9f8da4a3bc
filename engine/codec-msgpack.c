/* SPDX-License-Identifier: MIT */
/*
 * The MsgPack codec (layer: codec plug-in, under framing and channel): a value tree to the
 * bytes Python aiomas 2.0.1 writes with `msgpack.packb(obj, use_bin_type=True)` and back
 * (wire-protocol.md §6.2, §7).  codec-msgpack-blosc.c wraps the same encoder and decoder.
 *
 * Why msgpack-c encodes but our own code decodes:
 *
 * ENCODE writes the forms msgpack-c's packer picks, which are exactly the forms Python picks
 * (smallest int form, unsigned forms for non-negative ints, float64, str8 for 32..255-byte
 * strings, bin for bytes).  One loop walks the value tree with a stack of open containers and
 * writes the forms an RPC message is made of itself (small ints, short strings, floats, nil,
 * booleans, small lists and maps); the wider forms come from msgpack-c's pack template (the
 * code behind msgpack_pack_*), instantiated with a cursor into the output GByteArray instead
 * of msgpack_packer's callback pointer.  Tests compare every form at its boundaries with
 * msgpack-c's own packer; see "encoding" below.
 *
 * DECODE is a small decoder of our own, because msgpack-c's unpacker does not fit untrusted
 * input: it allocates the announced size of an array or map before checking that the input
 * holds that many items (a 5-byte array32 header announcing 2^32 elements asks for ~100 GB),
 * caps nesting at a fixed 32 levels, and hands ext types to the application.  Ours checks every
 * announced count against the bytes that remain *before* allocating (each item needs at least
 * one byte), has the codec's configurable depth limit and an explicit stack (no recursion, so
 * a deep message cannot exhaust the C stack), rejects ext types and the reserved byte 0xc1,
 * validates UTF-8 as Python's strict decoder does (no surrogates, no overlongs), rejects
 * duplicate and non-scalar map keys, and builds the whole tree in one arena per message
 * (camas__arena_*): one malloc for a typical RPC message.  Every error is a CAMAS_ERROR_CODEC
 * that says what was wrong and at which byte offset.
 *
 * Arrays decode as LIST (Python gets tuples, but camas_value_equal treats list and tuple alike
 * and lists print as [..] in traces); both LIST and TUPLE encode as arrays.  A map with the
 * key "__type__" is replaced by the codec's deserializer result for [type_id, data], innermost
 * first, other keys dropped, as aiomas' object hook does (§7).
 *
 * Depth: a container at nesting level k (the outermost is level 1) needs k <= max_depth, on
 * encode and on decode alike; an EXT or OBJECT counts as the two levels it has on the wire
 * ({"__type__": [id, data]}), so whatever this codec encodes it can decode again.
 */
#include <msgpack.h>
#include <string.h>

#include "msgpack-private.h"

/* --- encoding ------------------------------------------------------------------------------ */

/* The encoder writes straight into the output array: it reserves room by growing out->len
 * ahead of the writes (GByteArray keeps its capacity, so a reused array never reallocates) and
 * trims out->len to what was written at the end.
 *
 * Room is checked once per item, not once per write: before each item the loop makes sure
 * ITEM_ROOM bytes are free, which covers every scalar (at most 9 bytes), every container
 * header (5), the {"__type__": [id, prefix (20) and every fixstr (32); longer str and bin
 * values reserve for themselves.  The write position and the room's limit live in locals of
 * the item loop (registers), not in the Encoder: byte stores may alias any memory, so a
 * position kept in memory would be reloaded and stored again around every byte written. */
#define ENCODE_RESERVE 256
#define ITEM_ROOM 32

typedef struct {
    CamasCodec *codec;
    GByteArray *out;
    guint8 *end; /* out->data + out->len: the reserved room ends here */
    GError **error;
    gboolean too_large; /* the output would pass GByteArray's 4 GiB limit */
} Encoder;

G_STATIC_ASSERT(G_STRUCT_OFFSET(GByteArray, data) == G_STRUCT_OFFSET(GArray, data));
G_STATIC_ASSERT(G_STRUCT_OFFSET(GByteArray, len) == G_STRUCT_OFFSET(GArray, len));

/* Makes room for @len bytes at @p; returns where @p is now (the array may have moved), or
 * NULL past GByteArray's guint length. */
static G_NO_INLINE guint8 *
reserve(Encoder *e, guint8 *p, gsize len)
{
    gsize pos = (gsize)(p - e->out->data);
    if (e->too_large || len > (gsize)G_MAXUINT - pos) {
        e->too_large = TRUE;
        return NULL;
    }
    gsize want = MAX(pos + len, 2 * (gsize)e->out->len);
    want = MIN(want, (gsize)G_MAXUINT);
    g_byte_array_set_size(e->out, (guint)want);
    e->end = e->out->data + want;
    return e->out->data + pos;
}

/* msgpack-c's packer, instantiated for this encoder: pack_template.h is the code behind every
 * msgpack_pack_* function, written to be included with the writer of one's choice (msgpack-c
 * instantiates it the same way for msgpack_packer).  Ours stores through a cursor without a
 * room check (the caller has made room), so each form compiles to a few inline stores rather
 * than a call through msgpack_packer's callback pointer per item.  msgpack-c picks exactly the
 * forms Python picks (smallest int form, unsigned forms for non-negative ints, str8 for
 * 32..255-byte strings, bin for bytes); the item loop below writes the short forms itself
 * and leaves every wider form to these functions. */
#undef msgpack_pack_inline_func
#undef msgpack_pack_inline_func_cint
#undef msgpack_pack_inline_func_fixint
#undef msgpack_pack_user
#undef msgpack_pack_append_buffer
#define msgpack_pack_inline_func(name) G_ALWAYS_INLINE static inline int camas_pack##name
#define msgpack_pack_inline_func_cint(name) G_ALWAYS_INLINE static inline int camas_pack##name
#define msgpack_pack_inline_func_fixint(name)                                                   \
    G_ALWAYS_INLINE static inline int camas_pack_fix##name
#define msgpack_pack_user guint8 **
#define msgpack_pack_append_buffer(user, buf, len)                                              \
    return (memcpy(*(user), (buf), (len)), *(user) += (len), 0)
#include <msgpack/pack_template.h>
#undef msgpack_pack_inline_func
#undef msgpack_pack_inline_func_cint

static G_NO_INLINE guint8 *
too_deep(Encoder *e)
{
    g_set_error(e->error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                "msgpack: the value nests deeper than the limit of %u levels",
                e->codec->max_depth);
    return NULL;
}

static G_NO_INLINE guint8 *
too_long(Encoder *e, const char *what, gsize n, const char *unit)
{
    g_set_error(e->error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                "msgpack: a %s of %" G_GSIZE_FORMAT " %s exceeds msgpack's limit of 2^32-1", what,
                n, unit);
    return NULL;
}

/* Copies @len bytes, @w <= @len <= 2 @w, as two moves of @w bytes that overlap in the middle
 * and stay inside both buffers (@w is a constant: each move is one load and one store). */
G_ALWAYS_INLINE static inline void
copy_ends(guint8 *dst, const char *src, gsize len, gsize w)
{
    guint8 a[16], b[16];
    memcpy(a, src, w);
    memcpy(b, src + len - w, w);
    memcpy(dst, a, w);
    memcpy(dst + len - w, b, w);
}

/* Copies a str body of @len < 32 bytes without a call to memcpy (names, keys and paths are
 * mostly this short). */
G_ALWAYS_INLINE static inline void
copy_short(guint8 *dst, const char *src, gsize len)
{
    if (len >= 16) {
        copy_ends(dst, src, len, 16);
    } else if (len >= 8) {
        copy_ends(dst, src, len, 8);
    } else if (len >= 4) {
        copy_ends(dst, src, len, 4);
    } else if (len > 0) {
        /* 1..3 bytes: first, middle, last (some of them the same byte) */
        dst[0] = (guint8)src[0];
        dst[len / 2] = (guint8)src[len / 2];
        dst[len - 1] = (guint8)src[len - 1];
    }
}

/* The forms the item loop leaves to a call (out of line, so that the loop's few locals stay
 * in registers).  Each writes at @p, where the loop has made ITEM_ROOM bytes of room, and
 * returns the position after what it wrote, or NULL (with e->error set, except past 4 GiB:
 * camas__msgpack_encode reports that once). */

/* an int outside 0..127 */
static G_NO_INLINE guint8 *
put_int(guint8 *p, const CamasValue *v)
{
    /* msgpack-c, like Python, writes non-negative ints in the unsigned forms */
    if (v->flags & CAMAS__VALUE_UNSIGNED)
        camas_pack_uint64(&p, v->u.u);
    else
        camas_pack_int64(&p, v->u.i);
    return p;
}

/* the header of an array or map of 16 or more items (@n: items, or entries of a map) */
static G_NO_INLINE guint8 *
put_wide_header(Encoder *e, guint8 *p, gboolean is_map, gsize n)
{
    if (G_UNLIKELY(n > G_MAXUINT32))
        return too_long(e, is_map ? "map" : "list", n, "items");
    if (is_map)
        camas_pack_map(&p, n);
    else
        camas_pack_array(&p, n);
    return p;
}

/* A LIST, TUPLE or MAP @v inside containers that leave @left levels of the depth limit: writes
 * its header and sets *@items and *@n to what follows it (a map's entries are read as one array
 * of key, value, key, value, ... pointers). */
G_STATIC_ASSERT(sizeof(CamasMapEntry) == 2 * sizeof(CamasValue *));
G_STATIC_ASSERT(G_STRUCT_OFFSET(CamasMapEntry, value) == sizeof(CamasValue *));

G_ALWAYS_INLINE static inline guint8 *
open_container(Encoder *e, guint8 *p, const CamasValue *v, guint left,
               const CamasValue *const **items, gsize *n)
{
    if (G_UNLIKELY(left == 0))
        return too_deep(e);
    gboolean is_map = v->type == CAMAS_VALUE_MAP;
    /* seq and map share their layout: a count, then the items or entries */
    gsize len = is_map ? v->u.map.len : v->u.seq.len;
    *items = is_map ? (const CamasValue *const *)v->u.map.entries
                    : (const CamasValue *const *)v->u.seq.items;
    *n = is_map ? 2 * len : len;
    if (G_LIKELY(len < 16)) {
        *p = (guint8)((is_map ? 0x80 : 0x90) | len);
        return p + 1;
    }
    return put_wide_header(e, p, is_map, len);
}

static G_ALWAYS_INLINE inline gboolean
is_container(guint type)
{
    G_STATIC_ASSERT(CAMAS_VALUE_TUPLE == CAMAS_VALUE_LIST + 1);
    G_STATIC_ASSERT(CAMAS_VALUE_MAP == CAMAS_VALUE_LIST + 2);
    return type - CAMAS_VALUE_LIST <= 2u;
}

static guint8 *encode_items(Encoder *e, guint8 *p, const CamasValue *const *it,
                            const CamasValue *const *stop, guint left);

/* An EXT or OBJECT: {"__type__": [type_id, data]}, a map and an array around data, so two of
 * the @left levels.  A serializer's result lives until its encoding is done. */
static guint8 *
put_ext(Encoder *e, guint8 *p, const CamasValue *v, guint left)
{
    gint64 type_id;
    const CamasValue *data;
    CamasValue *owned = NULL;
    if (left < 2)
        return too_deep(e);
    if (v->type == CAMAS_VALUE_EXT) {
        type_id = v->u.ext.id;
        data = v->u.ext.data;
    } else {
        if (!camas__codec_serialize_object(e->codec, v, &type_id, &owned, e->error))
            return NULL;
        data = owned;
    }
    static const guint8 type_prefix[11] = {0x81, 0xa8, '_', '_', 't', 'y',
                                           'p',  'e',  '_', '_', 0x92};
    memcpy(p, type_prefix, sizeof type_prefix);
    p += sizeof type_prefix;
    camas_pack_int64(&p, type_id);
    p = encode_items(e, p, &data, &data + 1, left - 2);
    if (owned)
        camas_value_unref(owned);
    return p;
}

/* A str or bin too long for a fixstr (its own reservation, header and body) */
static guint8 *
put_long(Encoder *e, guint8 *p, const CamasValue *v)
{
    gsize n = v->u.str.len;
    gboolean is_str = v->type == CAMAS_VALUE_STR;
    if (G_UNLIKELY(n > G_MAXUINT32))
        return too_long(e, is_str ? "str" : "bytes", n, "bytes");
    if ((gsize)(e->end - p) < 5 + n && !(p = reserve(e, p, 5 + n)))
        return NULL;
    if (is_str)
        camas_pack_str(&p, n);
    else
        camas_pack_bin(&p, n);
    memcpy(p, v->u.str.data, n);
    return p + n;
}

/* long str, bytes, EXT, OBJECT */
static G_NO_INLINE guint8 *
put_other(Encoder *e, guint8 *p, const CamasValue *v, guint left)
{
    switch ((CamasValueType)v->type) {
    case CAMAS_VALUE_STR:
    case CAMAS_VALUE_BYTES:
        return put_long(e, p, v);
    case CAMAS_VALUE_EXT:
    case CAMAS_VALUE_OBJECT:
        return put_ext(e, p, v, left);
    default:
        g_set_error(e->error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack: cannot encode a value of type %u", v->type);
        return NULL;
    }
}

/* An open container with items left: where the loop continues when its current child is
 * written. */
typedef struct {
    const CamasValue *const *it;   /* the next item */
    const CamasValue *const *stop; /* after the last item */
    guint left;                    /* levels of the depth limit left to the items */
} Level;

/* Levels on the C stack; deeper values (the default limit is 256) move theirs to the heap. */
#define LOCAL_LEVELS 16

static G_NO_INLINE Level *
grow_levels(Level *base, const Level *local, Level **cap_end)
{
    gsize n = (gsize)(*cap_end - base);
    Level *heap;
    if (base == local) {
        heap = g_new(Level, 2 * n);
        memcpy(heap, local, n * sizeof(Level));
    } else {
        heap = g_renew(Level, base, 2 * n);
    }
    *cap_end = heap + 2 * n;
    return heap;
}

/* Writes the values from @it up to @stop (at least one) at @p, inside containers that leave
 * @left levels of the depth limit, and returns the position after them, or NULL (with
 * e->error set, except past 4 GiB).
 *
 * One loop over the tree with a stack of the open containers: no call per container, and a
 * container that is its parent's last item takes over the parent's level instead of
 * stacking one.  The short forms (fixint, uint8/16, fixstr, float64, nil, bool, fixarray,
 * fixmap) are written right here, the others by the functions above.  The type is found by a
 * chain of compares, not by a switch: its jump table's indirect branch mispredicted so often
 * that an RPC request took 55 ns instead of 37.  The order of the chain was measured too
 * (containers, ints, strs: 35 ns; ints, strs, containers: 38; strs first: 53).  Only the data
 * of an EXT or OBJECT (rare) is written by a call back into this loop: a tree nests at most
 * max_depth / 2 of those. */
G_ALWAYS_INLINE static inline guint8 *
encode_loop(Encoder *e, guint8 *p, const CamasValue *const *it, const CamasValue *const *stop,
            guint left)
{
    Level local[LOCAL_LEVELS];
    Level *base = local, *sp = local, *cap_end = local + LOCAL_LEVELS;
    guint8 *limit = e->end - ITEM_ROOM; /* an item may start at or before this */

#define PUSH()                                                                                   \
    do {                                                                                         \
        if (G_UNLIKELY(sp == cap_end)) {                                                         \
            gsize used_ = (gsize)(sp - base);                                                    \
            base = grow_levels(base, local, &cap_end);                                           \
            sp = base + used_;                                                                   \
        }                                                                                        \
        *sp++ = (Level){it, stop, left};                                                         \
    } while (0)

    for (;;) {
        do {
            const CamasValue *v = *it++;
            if (G_UNLIKELY(p > limit)) {
                if (!(p = reserve(e, p, ITEM_ROOM)))
                    goto failed;
                limit = e->end - ITEM_ROOM;
            }
            guint type = v->type;
            if (is_container(type)) {
                const CamasValue *const *items = NULL;
                gsize n = 0;
                if (!(p = open_container(e, p, v, left, &items, &n)))
                    goto failed;
                if (n > 0) {
                    if (it != stop)
                        PUSH();
                    it = items;
                    stop = items + n;
                    left--;
                }
            } else if (type == CAMAS_VALUE_INT) {
                /* non-negative below 2^16 (uint64 values are >= 2^63): fixint, uint8 or uint16,
                 * as msgpack-c writes them; message ids soon need the wider two */
                guint64 u = v->u.u;
                if (G_LIKELY(u < 128)) {
                    *p++ = (guint8)u;
                } else if (u < 256) {
                    p[0] = 0xcc;
                    p[1] = (guint8)u;
                    p += 2;
                } else if (u < 65536) {
                    p[0] = 0xcd;
                    p[1] = (guint8)(u >> 8);
                    p[2] = (guint8)u;
                    p += 3;
                } else {
                    p = put_int(p, v);
                }
            } else if (type == CAMAS_VALUE_STR && G_LIKELY(v->u.str.len < 32)) {
                gsize n = v->u.str.len;
                *p = (guint8)(0xa0 | n); /* fixstr */
                copy_short(p + 1, v->u.str.data, n);
                p += 1 + n;
            } else if (type == CAMAS_VALUE_FLOAT) { /* always float64, as Python */
                guint64 bits;
                memcpy(&bits, &v->u.f, 8);
                bits = GUINT64_TO_BE(bits);
                p[0] = 0xcb;
                memcpy(p + 1, &bits, 8);
                p += 9;
            } else if (type == CAMAS_VALUE_NULL) {
                *p++ = 0xc0;
            } else if (type == CAMAS_VALUE_BOOL) {
                *p++ = v->u.b ? 0xc3 : 0xc2;
            } else {
                if (!(p = put_other(e, p, v, left)))
                    goto failed;
                limit = e->end - ITEM_ROOM;
            }
        } while (it != stop);
        if (sp == base)
            break;
        sp--; /* a stacked level always has items left */
        it = sp->it;
        stop = sp->stop;
        left = sp->left;
    }
#undef PUSH
    if (base != local)
        g_free(base);
    return p;

failed:
    if (base != local)
        g_free(base);
    return NULL;
}

/* encode_loop() for an EXT's data (the top level inlines its own copy) */
static G_NO_INLINE guint8 *
encode_items(Encoder *e, guint8 *p, const CamasValue *const *it, const CamasValue *const *stop,
             guint left)
{
    return encode_loop(e, p, it, stop, left);
}

/* The encoder (the item loop is inlined here) starts on a cache line of its own: where the
 * linker happens to place it otherwise moved its time by 15 % between builds of the same code
 * (on the benchmark's AMD EPYC), as the loop's branches fell differently onto lines. */
#if defined(__GNUC__)
__attribute__((aligned(64)))
#endif
gboolean
camas__msgpack_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out,
                      GError **error)
{
    Encoder e;
    e.codec = codec;
    e.out = out;
    e.error = error;
    e.too_large = FALSE;
    guint start = out->len;
    /* g_byte_array_set_size() is g_array_set_size() on the same array cast to GArray (a byte
     * array is a GArray of bytes, garray.c implements every byte array call so); calling that
     * directly saves a call layer, 1 of the 37 ns an RPC request takes */
    if (G_LIKELY(start <= G_MAXUINT - ENCODE_RESERVE))
        g_array_set_size((GArray *)out, start + ENCODE_RESERVE);
    /* else within 256 bytes of 4 GiB: the loop's room check grows the array or fails */
    e.end = out->data + out->len;
    guint8 *p = encode_loop(&e, out->data + start, &value, &value + 1, codec->max_depth);
    if (G_UNLIKELY(!p)) {
        out->len = start;
        /* every other failure has set @error already (and stopped the encoding there) */
        if (e.too_large)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                        "msgpack: the encoded message would exceed 4 GiB");
        return FALSE;
    }
    /* drop the unused reserve: a byte array has no zero termination or clear function, so
     * shrinking it is setting its length (g_byte_array_set_size would cost a sixth of a small
     * message's encoding time here) */
    out->len = (guint)(p - out->data);
    return TRUE;
}

/* --- decoding ------------------------------------------------------------------------------ */

/* An open container: the decoder fills its slots in wire order. */
typedef struct {
    CamasValue *container; /* a LIST, or a MAP */
    gsize filled;          /* slots filled so far: items, or keys and values */
    gsize total;           /* slots to fill: n items, or 2 n for a map of n entries */
    gsize offset;          /* where its header starts (for messages) */
} Frame;

/* Frames on the C stack; deeper messages (rare: the default limit is 256) move to the heap. */
#define LOCAL_FRAMES 32

typedef struct {
    CamasCodec *codec;
    const char *what; /* "msgpack" or "msgpack-blosc": prefixes messages */
    CamasArena *arena;
    Frame *stack; /* the open containers around the innermost one */
    gsize saved;  /* frames in stack */
    gsize depth;  /* open containers: saved + 1 while one is open, else 0 */
    gsize cap;
    Frame local[LOCAL_FRAMES];
} Decoder;

static void G_GNUC_PRINTF(4, 5)
fail(const Decoder *d, GError **error, gsize offset, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "%s: at byte %" G_GSIZE_FORMAT ": %s",
                d->what, offset, msg);
}

static inline guint16
load16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static inline guint32
load32(const guint8 *p)
{
    guint32 v;
    memcpy(&v, p, 4);
    return GUINT32_FROM_BE(v);
}

static inline guint64
load64(const guint8 *p)
{
    guint64 v;
    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

/* Returns the index of the first byte that is not part of valid UTF-8, or @len.  Strict as
 * Python's decoder: no overlong forms, no surrogates (ED A0..BF), nothing above U+10FFFF.
 * NUL is valid (Python strings may hold it). */
static gsize
utf8_check(const guint8 *s, gsize len)
{
    gsize i = 0;
    while (i < len) {
        /* ASCII runs, 8 bytes at a time */
        while (i + 8 <= len) {
            guint64 w;
            memcpy(&w, s + i, 8);
            if (w & G_GUINT64_CONSTANT(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        guint8 c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c < 0xc2) {
            return i; /* a stray continuation byte, or an overlong 2-byte form */
        } else if (c < 0xe0) {
            if (len - i < 2 || (s[i + 1] & 0xc0) != 0x80)
                return i;
            i += 2;
        } else if (c < 0xf0) {
            if (len - i < 3 || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
                return i;
            if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0))
                return i; /* overlong, or a surrogate */
            i += 3;
        } else if (c < 0xf5) {
            if (len - i < 4 || (s[i + 1] & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
                (s[i + 3] & 0xc0) != 0x80)
                return i;
            if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
                return i; /* overlong, or above U+10FFFF */
            i += 4;
        } else {
            return i;
        }
    }
    return len;
}

static G_NO_INLINE void
grow_stack(Decoder *d)
{
    gsize cap = d->cap * 2;
    Frame *stack = g_new(Frame, cap);
    memcpy(stack, d->stack, d->saved * sizeof(Frame));
    if (d->stack != d->local)
        g_free(d->stack);
    d->stack = stack;
    d->cap = cap;
}

/* Parks the innermost open container while a child container is filled. */
G_ALWAYS_INLINE static inline void
save(Decoder *d, CamasValue *container, gsize filled, gsize total, gsize offset)
{
    if (G_UNLIKELY(d->saved == d->cap))
        grow_stack(d);
    d->stack[d->saved++] = (Frame){container, filled, total, offset};
}

/* Decoded values are carved from arena memory with an inline bump pointer: the arena hands
 * out chunks (the first one is most of its first block), and a value costs a compare and an add
 * instead of a call into value.c.  Values made here are exactly what camas__arena_value() and
 * camas__arena_str() make (value-private.h): flags ARENA, pointing at the arena. */
#define BUMP_MAX_CHUNK (1024 * 1024)

typedef struct {
    guint8 *p;
    guint8 *end;
    gsize next; /* the size of the next chunk */
    CamasArena *arena;
} Bump;

static G_NO_INLINE gpointer
bump_refill(Bump *b, gsize size)
{
    gsize chunk = MAX(size, b->next);
    b->next = MIN(b->next * 2, BUMP_MAX_CHUNK);
    guint8 *mem = camas__arena_alloc(b->arena, chunk);
    b->p = mem + size;
    b->end = mem + chunk;
    return mem;
}

/* The first chunk is all of the arena's first block: the block is sized by a guess from the
 * input length and rounded up by the arena, and whatever it holds beyond the guess is used
 * before anything is allocated.  (Deserializer results adopted by the arena, 16 bytes each, are
 * rare: they take a further block when they come.) */
static inline void
bump_start(Bump *b, gsize hint)
{
    gsize got;
    b->p = camas__arena_alloc_rest(b->arena, 8, 0, &got);
    b->end = b->p + got;
    b->next = MAX(hint, got);
}

/* @size: a multiple of 8 */
G_ALWAYS_INLINE static inline gpointer
bump_alloc(Bump *b, gsize size)
{
    if (G_LIKELY((gsize)(b->end - b->p) >= size)) {
        gpointer mem = b->p;
        b->p += size;
        return mem;
    }
    return bump_refill(b, size);
}

G_ALWAYS_INLINE static inline CamasValue *
new_value(Bump *b, CamasValueType type)
{
    CamasValue *v = bump_alloc(b, sizeof(CamasValue));
    *v = (CamasValue){.type = type, .flags = CAMAS__VALUE_ARENA, .arena = b->arena};
    return v;
}

/* A STR or BYTES value with its bytes (and a NUL) right behind it. */
G_ALWAYS_INLINE static inline CamasValue *
new_str(Bump *b, CamasValueType type, const guint8 *data, gsize len)
{
    CamasValue *v = bump_alloc(b, (sizeof(CamasValue) + len + 1 + 7) & ~(gsize)7);
    char *copy = (char *)(v + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    *v = (CamasValue){.type = type, .flags = CAMAS__VALUE_ARENA, .arena = b->arena};
    v->u.str.len = len;
    v->u.str.data = copy;
    return v;
}

static const char type_key[8] = {'_', '_', 't', 'y', 'p', 'e', '_', '_'};

/* A complete map: unique keys, then aiomas' object hook: a map holding the key "__type__" is
 * replaced by the deserializer's result for its [type_id, data]. */
static gboolean
finish_map(Decoder *d, CamasValue **v, gsize offset, GError **error)
{
    CamasValue *m = *v;
    gsize n = m->u.map.len;
    const CamasMapEntry *entries = m->u.map.entries;
    if (n > 1) {
        GError *local = NULL;
        if (!camas__value_check_map_keys(entries, n, CAMAS_ERROR_CODEC, &local)) {
            fail(d, error, offset, "%s", local->message);
            g_error_free(local);
            return FALSE;
        }
    }
    for (gsize i = 0; i < n; i++) {
        const CamasValue *k = entries[i].key;
        if (k->type != CAMAS_VALUE_STR || k->u.str.len != 8 ||
            memcmp(k->u.str.data, type_key, 8) != 0)
            continue;
        const CamasValue *t = entries[i].value;
        if ((t->type != CAMAS_VALUE_LIST && t->type != CAMAS_VALUE_TUPLE) || t->u.seq.len != 2) {
            g_autofree char *repr = camas_value_repr(t);
            fail(d, error, offset,
                 "the value of \"__type__\" must be a 2-item array [type_id, data], not %s",
                 repr);
            return FALSE;
        }
        const CamasValue *id = t->u.seq.items[0];
        if (id->type != CAMAS_VALUE_INT || (id->flags & CAMAS__VALUE_UNSIGNED)) {
            g_autofree char *repr = camas_value_repr(id);
            fail(d, error, offset, "the __type__ id must be a 64-bit integer, not %s", repr);
            return FALSE;
        }
        GError *local = NULL;
        CamasValue *result =
            camas__codec_deserialize(d->codec, id->u.i, t->u.seq.items[1], &local);
        if (!result) {
            g_propagate_prefixed_error(error, local, "%s: at byte %" G_GSIZE_FORMAT ": ",
                                       d->what, offset);
            return FALSE;
        }
        /* the arena keeps the result alive as long as the tree that contains it */
        *v = camas__arena_adopt(d->arena, result);
        return TRUE;
    }
    return TRUE;
}

/* The first arena block: a decoded value takes 32 bytes plus a slot in its container, strings
 * their length, so ~16x the input covers typical messages in one malloc; beyond a few KB the
 * arena's geometric growth is cheaper than guessing big. */
static inline gsize
arena_hint(gsize len)
{
    return len < 512 ? len * 16 + 64 : 8192;
}

CamasValue *
camas__msgpack_decode(CamasCodec *codec, const guint8 *data, gsize len, const char *what,
                      GError **error)
{
    Decoder d;
    d.codec = codec;
    d.what = what;
    d.stack = d.local;
    d.depth = 0;
    d.saved = 0;
    d.cap = LOCAL_FRAMES;
    if (len == 0) {
        fail(&d, error, 0, "empty input (a msgpack message has at least one byte)");
        return NULL;
    }
    gsize hint = arena_hint(len);
    d.arena = camas__arena_new(hint + 64);
    CamasArena *arena = d.arena;
    Bump bump = {.arena = arena};
    bump_start(&bump, hint);
    const guint max_depth = codec->max_depth;
    const guint8 *p = data;
    const guint8 *const end = data + len;
    /* The innermost open container lives in locals (registers), not in the stack array: every
     * value is placed into it, so its fill count must not go through memory. */
    CamasValue *cur = NULL; /* NULL: at the top level */
    gsize cur_filled = 0, cur_total = 0, cur_offset = 0;

/* at least @k more bytes after the type byte */
#define NEED(k)                                                                                  \
    do {                                                                                         \
        if (G_UNLIKELY((gsize)(end - p) < (k))) {                                                \
            fail(&d, error, voff,                                                                \
                 "truncated: type byte 0x%02x needs %u more bytes, %" G_GSIZE_FORMAT " left", b, \
                 (unsigned)(k), (gsize)(end - p));                                               \
            goto failed;                                                                         \
        }                                                                                        \
    } while (0)

    for (;;) {
        CamasValue *v;
        gsize voff = (gsize)(p - data); /* where v starts */
        gsize n;
        if (G_UNLIKELY(p == end)) {
            fail(&d, error, voff, "truncated: the input ends where a value should start");
            goto failed;
        }
        guint8 b = *p++;

        if (b < 0x80) { /* positive fixint */
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = b;
            goto place;
        }
        if (b >= 0xe0) { /* negative fixint */
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = (gint8)b;
            goto place;
        }
        if (b >= 0xa0 && b <= 0xbf) {
            n = b & 0x1f;
            goto str;
        }
        if (b <= 0x8f) {
            n = b & 0x0f;
            goto map;
        }
        if (b <= 0x9f) {
            n = b & 0x0f;
            goto array;
        }

        switch (b) {
        case 0xc0:
            v = &camas__value_null;
            goto place;
        case 0xc1:
            fail(&d, error, voff, "0xc1 is a reserved msgpack type byte");
            goto failed;
        case 0xc2:
            v = &camas__value_false;
            goto place;
        case 0xc3:
            v = &camas__value_true;
            goto place;
        case 0xc4:
            NEED(1);
            n = p[0];
            p += 1;
            goto bin;
        case 0xc5:
            NEED(2);
            n = load16(p);
            p += 2;
            goto bin;
        case 0xc6:
            NEED(4);
            n = load32(p);
            p += 4;
            goto bin;
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            fail(&d, error, voff,
                 "msgpack ext type 0x%02x is not supported (aiomas sends no ext types; "
                 "objects travel as {\"__type__\": [id, data]})",
                 b);
            goto failed;
        case 0xca: {
            NEED(4);
            guint32 bits = load32(p);
            float f;
            memcpy(&f, &bits, 4);
            p += 4;
            v = new_value(&bump, CAMAS_VALUE_FLOAT);
            v->u.f = f; /* widened exactly */
            goto place;
        }
        case 0xcb: {
            NEED(8);
            guint64 bits = load64(p);
            p += 8;
            v = new_value(&bump, CAMAS_VALUE_FLOAT);
            memcpy(&v->u.f, &bits, 8);
            goto place;
        }
        case 0xcc:
            NEED(1);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = p[0];
            p += 1;
            goto place;
        case 0xcd:
            NEED(2);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = load16(p);
            p += 2;
            goto place;
        case 0xce:
            NEED(4);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = load32(p);
            p += 4;
            goto place;
        case 0xcf: {
            NEED(8);
            guint64 u = load64(p);
            p += 8;
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.u = u;
            if (u > G_MAXINT64)
                v->flags |= CAMAS__VALUE_UNSIGNED;
            goto place;
        }
        case 0xd0:
            NEED(1);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = (gint8)p[0];
            p += 1;
            goto place;
        case 0xd1:
            NEED(2);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = (gint16)load16(p);
            p += 2;
            goto place;
        case 0xd2:
            NEED(4);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = (gint32)load32(p);
            p += 4;
            goto place;
        case 0xd3:
            NEED(8);
            v = new_value(&bump, CAMAS_VALUE_INT);
            v->u.i = (gint64)load64(p);
            p += 8;
            goto place;
        case 0xd9:
            NEED(1);
            n = p[0];
            p += 1;
            goto str;
        case 0xda:
            NEED(2);
            n = load16(p);
            p += 2;
            goto str;
        case 0xdb:
            NEED(4);
            n = load32(p);
            p += 4;
            goto str;
        case 0xdc:
            NEED(2);
            n = load16(p);
            p += 2;
            goto array;
        case 0xdd:
            NEED(4);
            n = load32(p);
            p += 4;
            goto array;
        case 0xde:
            NEED(2);
            n = load16(p);
            p += 2;
            goto map;
        case 0xdf:
            NEED(4);
            n = load32(p);
            p += 4;
            goto map;
        default:
            g_assert_not_reached(); /* every byte value is handled above */
        }

    str: {
        gsize left = (gsize)(end - p);
        if (G_UNLIKELY(n > left)) {
            fail(&d, error, voff,
                 "truncated: a str of %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " left", n,
                 left);
            goto failed;
        }
        gsize bad = utf8_check(p, n);
        if (G_UNLIKELY(bad != n)) {
            fail(&d, error, (gsize)(p - data) + bad,
                 "invalid UTF-8 (byte 0x%02x) in the str that starts at byte %" G_GSIZE_FORMAT,
                 p[bad], voff);
            goto failed;
        }
        v = new_str(&bump, CAMAS_VALUE_STR, p, n);
        p += n;
        goto place;
    }
    bin: {
        gsize left = (gsize)(end - p);
        if (G_UNLIKELY(n > left)) {
            fail(&d, error, voff,
                 "truncated: a bin of %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " left", n,
                 left);
            goto failed;
        }
        v = new_str(&bump, CAMAS_VALUE_BYTES, p, n);
        p += n;
        goto place;
    }
    array:
        /* every item takes at least one byte: check before allocating anything */
        if (G_UNLIKELY(n > (gsize)(end - p))) {
            fail(&d, error, voff,
                 "truncated: an array of %" G_GSIZE_FORMAT
                 " items cannot fit in the %" G_GSIZE_FORMAT " bytes left",
                 n, (gsize)(end - p));
            goto failed;
        }
        if (G_UNLIKELY(d.depth >= max_depth)) {
            fail(&d, error, voff, "nesting deeper than the limit of %u levels", max_depth);
            goto failed;
        }
        v = new_value(&bump, CAMAS_VALUE_LIST);
        v->u.seq.len = n;
        if (n == 0)
            goto place;
        v->u.seq.items = bump_alloc(&bump, n * sizeof(CamasValue *));
        if (cur)
            save(&d, cur, cur_filled, cur_total, cur_offset);
        d.depth++;
        cur = v;
        cur_filled = 0;
        cur_total = n;
        cur_offset = voff;
        continue;
    map:
        /* every entry takes at least two bytes */
        if (G_UNLIKELY(n > (gsize)(end - p) / 2)) {
            fail(&d, error, voff,
                 "truncated: a map of %" G_GSIZE_FORMAT
                 " entries cannot fit in the %" G_GSIZE_FORMAT " bytes left",
                 n, (gsize)(end - p));
            goto failed;
        }
        if (G_UNLIKELY(d.depth >= max_depth)) {
            fail(&d, error, voff, "nesting deeper than the limit of %u levels", max_depth);
            goto failed;
        }
        v = new_value(&bump, CAMAS_VALUE_MAP);
        v->u.map.len = n;
        if (n == 0)
            goto place;
        v->u.map.entries = bump_alloc(&bump, n * sizeof(CamasMapEntry));
        if (cur)
            save(&d, cur, cur_filled, cur_total, cur_offset);
        d.depth++;
        cur = v;
        cur_filled = 0;
        cur_total = 2 * n;
        cur_offset = voff;
        continue;

    place:
        /* store v in the innermost open container; completing it may complete its parents */
        while (cur) {
            if (cur->type == CAMAS_VALUE_LIST) {
                cur->u.seq.items[cur_filled] = v;
            } else if (cur_filled & 1) {
                cur->u.map.entries[cur_filled >> 1].value = v;
            } else {
                if (G_UNLIKELY(v->type > CAMAS_VALUE_BYTES)) {
                    fail(&d, error, voff,
                         "a map key is a %s; keys must be null, bool, int, float, str or bytes",
                         camas_value_type_name(v->type));
                    goto failed;
                }
                cur->u.map.entries[cur_filled >> 1].key = v;
            }
            if (++cur_filled < cur_total)
                break;
            /* cur is complete: it is the value to place in its parent */
            v = cur;
            voff = cur_offset;
            d.depth--;
            if (d.saved > 0) {
                const Frame *f = &d.stack[--d.saved];
                cur = f->container;
                cur_filled = f->filled;
                cur_total = f->total;
                cur_offset = f->offset;
            } else {
                cur = NULL;
            }
            if (v->type == CAMAS_VALUE_MAP && !finish_map(&d, &v, voff, error))
                goto failed;
        }
        if (!cur) {
            if (G_UNLIKELY(p != end)) {
                fail(&d, error, (gsize)(p - data),
                     "%" G_GSIZE_FORMAT " trailing bytes after the value", (gsize)(end - p));
                goto failed;
            }
            if (d.stack != d.local)
                g_free(d.stack);
            return camas__arena_finish(arena, v);
        }
    }
#undef NEED

failed:
    if (d.stack != d.local)
        g_free(d.stack);
    camas__arena_unref(arena);
    return NULL;
}

/* --- the codec class ----------------------------------------------------------------------- */

static CamasValue *
msgpack_decode(CamasCodec *codec, const guint8 *data, gsize len, GError **error)
{
    return camas__msgpack_decode(codec, data, len, "msgpack", error);
}

const CamasCodecClass camas__codec_msgpack = {
    .name = "msgpack",
    .aliases = NULL,
    .abi_version = CAMAS_CODEC_ABI_VERSION,
    .supports_bytes = TRUE,
    .encode = camas__msgpack_encode,
    .decode = msgpack_decode,
};
