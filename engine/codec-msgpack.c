/* SPDX-License-Identifier: MIT */
/*
 * The MsgPack codec (layer: codec plug-in, under framing and channel): a value tree to the
 * bytes Python aiomas 2.0.1 writes with `msgpack.packb(obj, use_bin_type=True)` and back
 * (wire-protocol.md §6.2, §7).  codec-msgpack-blosc.c wraps the same encoder and decoder.
 *
 * Why msgpack-c encodes but our own code decodes:
 *
 * ENCODE goes through msgpack-c's packer: it already picks exactly the forms Python picks
 * (smallest int form, unsigned forms for non-negative ints, float64, str8 for 32..255-byte
 * strings, bin for bytes).  We instantiate its pack template (the code behind msgpack_pack_*)
 * with a writer that stores straight into the output GByteArray, instead of going through
 * msgpack_packer's callback pointer once per item; see "encoding" below.
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
 * trims out->len to what was written at the end.  The write position travels through the
 * encoding functions as a value (argument in, result out) rather than living in the Encoder:
 * byte stores may alias any memory, so a position kept in memory would be reloaded and stored
 * again around every byte written. */
#define ENCODE_RESERVE 256

typedef struct {
    CamasCodec *codec;
    GByteArray *out;
    guint8 *end; /* out->data + out->len: the reserved room ends here */
    guint max_depth;
    gboolean too_large; /* the output would pass GByteArray's 4 GiB limit */
} Encoder;

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

/* What msgpack-c's pack functions write through: the position, and where to grow. */
typedef struct {
    guint8 *p;
    Encoder *e;
} Writer;

G_ALWAYS_INLINE static inline int
writer_put(Writer *w, const void *buf, size_t len)
{
    if (G_UNLIKELY(len > (gsize)(w->e->end - w->p))) {
        guint8 *p = reserve(w->e, w->p, len);
        if (!p)
            return -1;
        w->p = p;
    }
    const guint8 *src = buf;
    guint8 *dst = w->p;
    /* short str bodies (names, keys, paths) without a call to memcpy: two overlapping moves
     * that stay inside both buffers (constant-size headers fold to one branch) */
    if (len >= 8 && len <= 16) {
        guint64 a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + len - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + len - 8, &b, 8);
    } else if (len >= 4 && len < 8) {
        guint32 a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + len - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + len - 4, &b, 4);
    } else if (len < 4) {
        for (size_t i = 0; i < len; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst, src, len);
    }
    w->p = dst + len;
    return 0;
}

/* msgpack-c's packer, instantiated for this encoder: pack_template.h is the code behind every
 * msgpack_pack_* function, written to be included with the writer of one's choice (msgpack-c
 * instantiates it the same way for msgpack_packer).  Ours writes with writer_put() directly
 * instead of through msgpack_packer's callback pointer, so that each item compiles to a few
 * inline stores; with the position in a register this more than halved the encoding time of
 * an RPC message. */
#undef msgpack_pack_inline_func
#undef msgpack_pack_inline_func_cint
#undef msgpack_pack_inline_func_fixint
#undef msgpack_pack_user
#undef msgpack_pack_append_buffer
#define msgpack_pack_inline_func(name) G_ALWAYS_INLINE static inline int camas_pack##name
#define msgpack_pack_inline_func_cint(name) G_ALWAYS_INLINE static inline int camas_pack##name
#define msgpack_pack_inline_func_fixint(name)                                                   \
    G_ALWAYS_INLINE static inline int camas_pack_fix##name
#define msgpack_pack_user Writer *
#define msgpack_pack_append_buffer(user, buf, len) return writer_put(user, buf, len)
#include <msgpack/pack_template.h>
#undef msgpack_pack_inline_func
#undef msgpack_pack_inline_func_cint

static G_NO_INLINE guint8 *
too_deep(Encoder *e, GError **error)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                "msgpack: the value nests deeper than the limit of %u levels", e->max_depth);
    return NULL;
}

static G_NO_INLINE guint8 *
too_long(const char *what, gsize n, GError **error)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                "msgpack: a %s of %" G_GSIZE_FORMAT " %s exceeds msgpack's limit of 2^32-1", what,
                n, strcmp(what, "str") == 0 || strcmp(what, "bytes") == 0 ? "bytes" : "items");
    return NULL;
}

static inline gboolean
is_leaf(const CamasValue *v)
{
    return v->type <= CAMAS_VALUE_BYTES;
}

/* The encoding functions write @v at @p and return the position after it, or NULL on failure
 * (with @error set, except past 4 GiB: that is reported once, by camas__msgpack_encode). */

/* null, bool, int, float, str, bytes */
G_ALWAYS_INLINE static inline guint8 *
encode_leaf(Encoder *e, guint8 *p, const CamasValue *v, GError **error)
{
    Writer w = {p, e};
    int r;
    switch ((CamasValueType)v->type) {
    case CAMAS_VALUE_INT:
        /* msgpack-c, like Python, writes non-negative ints in the unsigned forms */
        if (v->flags & CAMAS__VALUE_UNSIGNED)
            r = camas_pack_uint64(&w, v->u.u);
        else
            r = camas_pack_int64(&w, v->u.i);
        break;
    case CAMAS_VALUE_STR:
        if (G_UNLIKELY(v->u.str.len > G_MAXUINT32))
            return too_long("str", v->u.str.len, error);
        r = camas_pack_str(&w, v->u.str.len);
        if (r == 0)
            r = camas_pack_str_body(&w, v->u.str.data, v->u.str.len);
        break;
    case CAMAS_VALUE_FLOAT:
        r = camas_pack_double(&w, v->u.f); /* always float64 (cb), as Python */
        break;
    case CAMAS_VALUE_NULL:
        r = camas_pack_nil(&w);
        break;
    case CAMAS_VALUE_BOOL:
        r = v->u.b ? camas_pack_true(&w) : camas_pack_false(&w);
        break;
    case CAMAS_VALUE_BYTES:
        if (G_UNLIKELY(v->u.str.len > G_MAXUINT32))
            return too_long("bytes", v->u.str.len, error);
        r = camas_pack_bin(&w, v->u.str.len);
        if (r == 0)
            r = camas_pack_bin_body(&w, v->u.str.data, v->u.str.len);
        break;
    default:
        g_assert_not_reached();
    }
    return r == 0 ? w.p : NULL;
}

static guint8 *encode_value(Encoder *e, guint8 *p, const CamasValue *v, guint depth,
                            GError **error);

/* A child of a container: leaves without the call. */
G_ALWAYS_INLINE static inline guint8 *
encode_child(Encoder *e, guint8 *p, const CamasValue *v, guint depth, GError **error)
{
    return is_leaf(v) ? encode_leaf(e, p, v, error) : encode_value(e, p, v, depth, error);
}

/* {"__type__": [type_id, data]}: a map and an array around data, i.e. two nesting levels. */
static guint8 *
encode_ext(Encoder *e, guint8 *p, gint64 type_id, const CamasValue *data, guint depth,
           GError **error)
{
    if (depth + 2 > e->max_depth)
        return too_deep(e, error);
    Writer w = {p, e};
    if (camas_pack_map(&w, 1) != 0 || camas_pack_str(&w, 8) != 0 ||
        camas_pack_str_body(&w, "__type__", 8) != 0 || camas_pack_array(&w, 2) != 0 ||
        camas_pack_int64(&w, type_id) != 0)
        return NULL;
    return encode_child(e, w.p, data, depth + 2, error);
}

/* @depth: the number of containers around @v on the wire. */
static guint8 *
encode_value(Encoder *e, guint8 *p, const CamasValue *v, guint depth, GError **error)
{
    switch ((CamasValueType)v->type) {
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        if (depth >= e->max_depth)
            return too_deep(e, error);
        gsize n = v->u.seq.len;
        if (G_UNLIKELY(n > G_MAXUINT32))
            return too_long("list", n, error);
        Writer w = {p, e};
        if (camas_pack_array(&w, n) != 0)
            return NULL;
        p = w.p;
        CamasValue *const *items = v->u.seq.items;
        for (gsize i = 0; i < n && p; i++)
            p = encode_child(e, p, items[i], depth + 1, error);
        return p;
    }
    case CAMAS_VALUE_MAP: {
        if (depth >= e->max_depth)
            return too_deep(e, error);
        gsize n = v->u.map.len;
        if (G_UNLIKELY(n > G_MAXUINT32))
            return too_long("map", n, error);
        Writer w = {p, e};
        if (camas_pack_map(&w, n) != 0)
            return NULL;
        p = w.p;
        const CamasMapEntry *entries = v->u.map.entries;
        for (gsize i = 0; i < n && p; i++) {
            p = encode_child(e, p, entries[i].key, depth + 1, error);
            if (p)
                p = encode_child(e, p, entries[i].value, depth + 1, error);
        }
        return p;
    }
    case CAMAS_VALUE_EXT:
        return encode_ext(e, p, v->u.ext.id, v->u.ext.data, depth, error);
    case CAMAS_VALUE_OBJECT: {
        gint64 type_id;
        CamasValue *data = NULL;
        if (!camas__codec_serialize_object(e->codec, v, &type_id, &data, error))
            return NULL;
        p = encode_ext(e, p, type_id, data, depth, error);
        camas_value_unref(data);
        return p;
    }
    default:
        if (is_leaf(v))
            return encode_leaf(e, p, v, error);
    }
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "msgpack: cannot encode a value of type %u",
                v->type);
    return NULL;
}

gboolean
camas__msgpack_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out,
                      GError **error)
{
    Encoder e;
    e.codec = codec;
    e.out = out;
    e.max_depth = codec->max_depth;
    e.too_large = FALSE;
    guint start = out->len;
    if (start <= G_MAXUINT - ENCODE_RESERVE)
        g_byte_array_set_size(out, start + ENCODE_RESERVE);
    e.end = out->data + out->len;
    GError *local = NULL;
    guint8 *p = encode_value(&e, out->data + start, value, 0, &local);
    if (!p) {
        out->len = start;
        if (e.too_large) {
            g_clear_error(&local);
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                        "msgpack: the encoded message would exceed 4 GiB");
        } else {
            g_propagate_error(error, local);
        }
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
