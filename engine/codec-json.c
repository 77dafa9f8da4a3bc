/* SPDX-License-Identifier: MIT */
/*
 * The JSON codec plug-in (layer: codec; wire-protocol.md §6.1 and §7): value trees to the exact
 * bytes of Python's `json.dumps(obj).encode()` and back as `json.loads(data.decode())` reads
 * them, with aiomas' {"__type__": [type_id, data]} extension maps.
 *
 * Design decision: this is our own encoder and decoder, not jansson (which camas still uses for
 * scenario files, and as the benchmark floor).  jansson cannot speak aiomas' JSON:
 *  - it cannot represent NaN or +-Infinity (json_real() rejects them), but Python sends the bare
 *    tokens NaN, Infinity and -Infinity (allow_nan=True), and refusing them would break the
 *    connection on the first float('inf');
 *  - it cannot read integers in (2^63, 2^64), which Python sends freely;
 *  - it prints reals with a fixed precision of 17 digits instead of Python's shortest repr, so
 *    `0.1` would not travel as the bytes Python writes.
 * Being our own code also lets the decoder build the tree straight into the message arena and
 * the encoder write into a pre-grown buffer, which is why it beats jansson on RPC messages.
 *
 * Encoding: separators ", " and ": ", ensure_ascii (non-ASCII as lowercase \uXXXX, astral
 * characters as surrogate pairs), Python's escape choices, floats as repr, non-str map keys
 * converted as Python does.  Decoding: strict JSON plus NaN/Infinity/-Infinity, strict UTF-8,
 * iterative (no recursion, so nesting depth is bounded only by max_depth, never by the C stack),
 * one arena per message.  Every error is CAMAS_ERROR_CODEC naming what and the byte offset.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "codec-private.h"

/* ============================================================================================
 * Encoder
 * ========================================================================================= */

typedef struct {
    CamasCodec *codec;
    GByteArray *out;
    guint8 *p;   /* write cursor inside out->data */
    guint8 *end; /* end of the area reserved so far (out->len bytes) */
} Enc;

/* GByteArray lengths are guint; a payload must also fit the 4-byte frame header. */
#define ENC_MAX_LEN G_MAXUINT32

G_NO_INLINE static gboolean
enc_grow(Enc *e, gsize need, GError **error)
{
    gsize used = (gsize)(e->p - e->out->data);
    if (need > ENC_MAX_LEN - used) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "JSON: encoded message would exceed %u bytes", (guint)ENC_MAX_LEN);
        return FALSE;
    }
    /* double, so that appending is amortised O(1); g_array rounds the allocation up to a power
     * of two anyway, so the bytes between len and the allocation are not wasted for long */
    gsize want = MAX(used + need, MAX(used * 2, used + 256));
    want = MIN(want, (gsize)ENC_MAX_LEN);
    g_byte_array_set_size(e->out, (guint)want);
    e->p = e->out->data + used;
    e->end = e->out->data + e->out->len;
    return TRUE;
}

/* Makes room for @need more bytes after the cursor: the hot path is one compare. */
#define ENC_RESERVE(e, need, error)                                                                \
    G_STMT_START                                                                                   \
    {                                                                                              \
        if (G_UNLIKELY((gsize)((e)->end - (e)->p) < (gsize)(need)) &&                              \
            !enc_grow((e), (need), (error)))                                                       \
            return FALSE;                                                                          \
    }                                                                                              \
    G_STMT_END

static inline void
enc_put(Enc *e, const char *s, gsize n)
{
    memcpy(e->p, s, n);
    e->p += n;
}

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Writes @u in decimal at e->p (at least 20 bytes reserved). */
static inline void
enc_u64(Enc *e, guint64 u)
{
    char buf[20];
    char *q = buf + sizeof buf;
    while (u >= 100) {
        guint d = (guint)(u % 100) * 2;
        u /= 100;
        *--q = digit_pairs[d + 1];
        *--q = digit_pairs[d];
    }
    if (u >= 10) {
        guint d = (guint)u * 2;
        *--q = digit_pairs[d + 1];
        *--q = digit_pairs[d];
    } else {
        *--q = (char)('0' + u);
    }
    enc_put(e, q, (gsize)(buf + sizeof buf - q));
}

/* An INT value in decimal (at least 21 bytes reserved). */
static inline void
enc_int(Enc *e, const CamasValue *v)
{
    if (v->flags & CAMAS__VALUE_UNSIGNED) {
        enc_u64(e, v->u.u);
    } else if (v->u.i < 0) {
        *e->p++ = '-';
        enc_u64(e, (guint64)0 - (guint64)v->u.i); /* also right for G_MININT64 */
    } else {
        enc_u64(e, (guint64)v->u.i);
    }
}

/* Exact powers of ten as doubles (10^22 is the largest one a double holds exactly). */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Python's repr of @d when it is short and positional, written at @out (at least 32 bytes);
 * returns the length, or 0 when the general formatter must decide.
 *
 * Why: camas__format_double finds the shortest digits by printing and re-reading (hundreds of
 * ns); most floats in messages are short decimals like 3.14, which this finds with a few
 * multiplications.  It is exact, not a heuristic: for k = 0, 1, 2, ... fraction digits it
 * takes the integers c in {m-1, m, m+1} around m = round(|d| * 10^k) and tests c / 10^k == |d|.
 * With c < 10^15 < 2^53 and k <= 22 both operands are exact doubles, so that single IEEE
 * division is the correctly rounded value of the decimal, exactly what Python's float() reads:
 * the test is a true round-trip test.  The first k with a round-tripping c gives the fewest
 * digits.  When d's rounding interval, scaled by 10^k, has a half-width below 1.5 only integers
 * within 1.5 of |d| * 10^k can lie inside it (and when it is wider m itself lies inside), so no
 * candidate is missed; if
 * two candidates round-trip Python would pick the closer one, so that (rare) case and powers of
 * two (whose rounding interval is lopsided) go to the general formatter.  The range
 * [1e-4, 1e15) is where repr is positional and c fits the bound. */
static gsize
format_short_double(double d, char *out)
{
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    int exp2;
    if (frexp(a, &exp2) == 0.5)
        return 0; /* a power of two */
    for (int k = 0; k <= 22; k++) {
        double p = a * pow10_exact[k];
        if (p >= 1e15)
            return 0;
        guint64 m = (guint64)(p + 0.5);
        guint64 found = 0;
        int hits = 0;
        for (guint64 c = m ? m - 1 : 0; c <= m + 1; c++) {
            if (c && (double)c / pow10_exact[k] == a) {
                found = c;
                hits++;
            }
        }
        if (hits == 0)
            continue;
        if (hits > 1)
            return 0;
        /* integer part, '.', then exactly k fraction digits (at least one: "2.0") */
        char digits[24];
        int n = 0;
        for (guint64 x = found; x; x /= 10)
            digits[n++] = (char)('0' + x % 10);
        while (n < k + 1)
            digits[n++] = '0'; /* leading zeros of 0.00ddd */
        char *o = out;
        if (d < 0)
            *o++ = '-';
        for (int i = n - 1; i >= k; i--)
            *o++ = digits[i];
        *o++ = '.';
        if (k == 0)
            *o++ = '0';
        for (int i = k - 1; i >= 0; i--)
            *o++ = digits[i];
        return (gsize)(o - out);
    }
    return 0;
}

/* A float as Python's json writes it (at least 32 bytes reserved): repr, and the bare tokens
 * NaN / Infinity / -Infinity of allow_nan=True. */
static inline void
enc_float(Enc *e, double d)
{
    if (G_UNLIKELY(isnan(d))) {
        enc_put(e, "NaN", 3);
    } else if (G_UNLIKELY(isinf(d))) {
        if (d > 0)
            enc_put(e, "Infinity", 8);
        else
            enc_put(e, "-Infinity", 9);
    } else {
        gsize n = format_short_double(d, (char *)e->p);
        e->p += n ? n : camas__format_double(d, (char *)e->p);
    }
}

/* Bytes that Python's ensure_ascii encoder copies unchanged: ' ' .. '~' except '"' and '\\'.
 * Everything else is escaped; bytes >= 0x80 start a UTF-8 sequence written as \uXXXX. */
#define WORD_ONES G_GUINT64_CONSTANT(0x0101010101010101)
#define WORD_HIGH G_GUINT64_CONSTANT(0x8080808080808080)

/* Nonzero when some byte of @w is < 0x20, '"', '\\' or >= @hi (0x7f for the encoder, which
 * escapes DEL as Python does; 0x80 for the decoder).  The SWAR "has byte less than / equal to"
 * tests are exact about whether such a byte exists, which is all the callers need. */
static inline guint64
word_special(guint64 w, guint hi)
{
    guint64 lt20 = (w - WORD_ONES * 0x20) & ~w & WORD_HIGH;
    guint64 q = w ^ (WORD_ONES * 0x22);
    guint64 eq22 = (q - WORD_ONES) & ~q & WORD_HIGH;
    guint64 b = w ^ (WORD_ONES * 0x5c);
    guint64 eq5c = (b - WORD_ONES) & ~b & WORD_HIGH;
    /* adding (0x80 - hi) to the low seven bits sets bit 7 exactly for bytes >= hi (with
     * hi in 0x7f..0x80 no carry crosses a byte); bytes >= 0x80 have it set already */
    guint64 ge = (w | ((w & ~WORD_HIGH) + WORD_ONES * (0x80 - hi))) & WORD_HIGH;
    return lt20 | eq22 | eq5c | ge;
}

static inline guint64
load_word(const guint8 *p)
{
    guint64 w;
    memcpy(&w, p, sizeof w);
    return w;
}

static const char hex_digits[16] = "0123456789abcdef";

static inline void
enc_u_escape(guint8 *p, guint cp)
{
    p[0] = '\\';
    p[1] = 'u';
    p[2] = (guint8)hex_digits[(cp >> 12) & 0xf];
    p[3] = (guint8)hex_digits[(cp >> 8) & 0xf];
    p[4] = (guint8)hex_digits[(cp >> 4) & 0xf];
    p[5] = (guint8)hex_digits[cp & 0xf];
}

/* Input bytes handled per reservation: bounds the over-reservation (6 output bytes per input
 * byte in the worst case, "\u001f") for long strings. */
#define STR_CHUNK 4096

static gboolean
enc_string(Enc *e, const char *str, gsize n, GError **error)
{
    const guint8 *s = (const guint8 *)str;
    gsize i = 0;

    ENC_RESERVE(e, 2, error);
    *e->p++ = '"';
    while (i < n) {
        gsize stop = MIN(n, i + STR_CHUNK);
        /* 6 bytes per input byte, plus one multi-byte character crossing `stop` (12 bytes) and
         * the closing quote */
        ENC_RESERVE(e, 6 * (stop - i) + 16, error);
        guint8 *p = e->p;
        while (i < stop) {
            /* the common case: eight plain ASCII bytes at a time */
            while (i + 8 <= stop) {
                guint64 w = load_word(s + i);
                if (word_special(w, 0x7f))
                    break;
                memcpy(p, &w, 8);
                p += 8;
                i += 8;
            }
            if (i >= stop)
                break;
            guint c = s[i];
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                *p++ = (guint8)c;
                i++;
                continue;
            }
            if (c < 0x80) {
                /* Python's ESCAPE_DCT: the short forms for these six, \u00XX for the rest
                 * (control characters and DEL) */
                *p++ = '\\';
                switch (c) {
                case '"':
                    *p++ = '"';
                    break;
                case '\\':
                    *p++ = '\\';
                    break;
                case '\n':
                    *p++ = 'n';
                    break;
                case '\r':
                    *p++ = 'r';
                    break;
                case '\t':
                    *p++ = 't';
                    break;
                case '\b':
                    *p++ = 'b';
                    break;
                case '\f':
                    *p++ = 'f';
                    break;
                default:
                    p--;
                    enc_u_escape(p, c);
                    p += 6;
                    break;
                }
                i++;
                continue;
            }
            /* A UTF-8 sequence.  STR values are valid UTF-8 by contract; the checks below only
             * make sure a broken value cannot make us read past its end. */
            guint cp, extra;
            if (c >= 0xc2 && c <= 0xdf) {
                cp = c & 0x1f;
                extra = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                cp = c & 0x0f;
                extra = 2;
            } else if (c >= 0xf0 && c <= 0xf4) {
                cp = c & 0x07;
                extra = 3;
            } else {
                goto bad_utf8;
            }
            if (n - i <= extra)
                goto bad_utf8;
            for (guint k = 1; k <= extra; k++) {
                guint cc = s[i + k];
                if ((cc & 0xc0) != 0x80)
                    goto bad_utf8;
                cp = (cp << 6) | (cc & 0x3f);
            }
            i += extra + 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                enc_u_escape(p, 0xd800 | (cp >> 10));
                enc_u_escape(p + 6, 0xdc00 | (cp & 0x3ff));
                p += 12;
            } else {
                enc_u_escape(p, cp);
                p += 6;
            }
        }
        e->p = p;
    }
    *e->p++ = '"';
    return TRUE;

bad_utf8:
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                "JSON: string value is not valid UTF-8 at its byte %" G_GSIZE_FORMAT, i);
    return FALSE;
}

static gboolean enc_value(Enc *e, const CamasValue *v, guint depth, GError **error);

/* {"__type__": [type_id, data]}: two levels of nesting on the wire. */
static gboolean
enc_ext(Enc *e, gint64 type_id, const CamasValue *data, guint depth, GError **error)
{
    if (depth + 2 > e->codec->max_depth) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "JSON: value nested deeper than %u levels", e->codec->max_depth);
        return FALSE;
    }
    ENC_RESERVE(e, 32, error);
    enc_put(e, "{\"__type__\": [", 14);
    if (type_id < 0) {
        *e->p++ = '-';
        enc_u64(e, (guint64)0 - (guint64)type_id);
    } else {
        enc_u64(e, (guint64)type_id);
    }
    enc_put(e, ", ", 2);
    if (!enc_value(e, data, depth + 2, error))
        return FALSE;
    ENC_RESERVE(e, 2, error);
    enc_put(e, "]}", 2);
    return TRUE;
}

/* A map key as Python's encoder converts it: str as is; float, int, bool and None as their
 * JSON text in quotes; anything else is Python's TypeError. */
static gboolean
enc_key(Enc *e, const CamasValue *k, GError **error)
{
    switch ((CamasValueType)k->type) {
    case CAMAS_VALUE_STR:
        return enc_string(e, k->u.str.data, k->u.str.len, error);
    case CAMAS_VALUE_INT:
        ENC_RESERVE(e, 24, error);
        *e->p++ = '"';
        enc_int(e, k);
        *e->p++ = '"';
        return TRUE;
    case CAMAS_VALUE_FLOAT:
        ENC_RESERVE(e, 36, error);
        *e->p++ = '"';
        enc_float(e, k->u.f);
        *e->p++ = '"';
        return TRUE;
    case CAMAS_VALUE_BOOL:
        ENC_RESERVE(e, 8, error);
        if (k->u.b)
            enc_put(e, "\"true\"", 6);
        else
            enc_put(e, "\"false\"", 7);
        return TRUE;
    case CAMAS_VALUE_NULL:
        ENC_RESERVE(e, 6, error);
        enc_put(e, "\"null\"", 6);
        return TRUE;
    default:
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "keys must be str, int, float, bool or None, not %s",
                    camas_value_type_name((CamasValueType)k->type));
        return FALSE;
    }
}

static gboolean
enc_too_deep(Enc *e, GError **error)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "JSON: value nested deeper than %u levels",
                e->codec->max_depth);
    return FALSE;
}

/* Recursion depth is bounded by max_depth (checked before descending): values are built by the
 * program, not read from the network, and the default limit keeps the C stack use small.  A
 * program that raises max_depth into the hundreds of thousands must expect deep C stacks here
 * (the decoder, which does read untrusted bytes, is iterative). */
static gboolean
enc_value(Enc *e, const CamasValue *v, guint depth, GError **error)
{
    switch ((CamasValueType)v->type) {
    case CAMAS_VALUE_NULL:
        ENC_RESERVE(e, 4, error);
        enc_put(e, "null", 4);
        return TRUE;
    case CAMAS_VALUE_BOOL:
        ENC_RESERVE(e, 5, error);
        if (v->u.b)
            enc_put(e, "true", 4);
        else
            enc_put(e, "false", 5);
        return TRUE;
    case CAMAS_VALUE_INT:
        ENC_RESERVE(e, 21, error);
        enc_int(e, v);
        return TRUE;
    case CAMAS_VALUE_FLOAT:
        ENC_RESERVE(e, 32, error);
        enc_float(e, v->u.f);
        return TRUE;
    case CAMAS_VALUE_STR:
        return enc_string(e, v->u.str.data, v->u.str.len, error);
    case CAMAS_VALUE_BYTES:
        /* aiomas: json.dumps calls the codec's serialize_obj, which has no serializer for it */
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "No serializer found for type \"bytes\"");
        return FALSE;
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        if (depth >= e->codec->max_depth)
            return enc_too_deep(e, error);
        gsize n = v->u.seq.len;
        ENC_RESERVE(e, 1, error);
        *e->p++ = '[';
        for (gsize i = 0; i < n; i++) {
            if (i) {
                ENC_RESERVE(e, 2, error);
                enc_put(e, ", ", 2);
            }
            if (!enc_value(e, v->u.seq.items[i], depth + 1, error))
                return FALSE;
        }
        ENC_RESERVE(e, 1, error);
        *e->p++ = ']';
        return TRUE;
    }
    case CAMAS_VALUE_MAP: {
        if (depth >= e->codec->max_depth)
            return enc_too_deep(e, error);
        gsize n = v->u.map.len;
        ENC_RESERVE(e, 1, error);
        *e->p++ = '{';
        for (gsize i = 0; i < n; i++) {
            if (i) {
                ENC_RESERVE(e, 2, error);
                enc_put(e, ", ", 2);
            }
            if (!enc_key(e, v->u.map.entries[i].key, error))
                return FALSE;
            ENC_RESERVE(e, 2, error);
            enc_put(e, ": ", 2);
            if (!enc_value(e, v->u.map.entries[i].value, depth + 1, error))
                return FALSE;
        }
        ENC_RESERVE(e, 1, error);
        *e->p++ = '}';
        return TRUE;
    }
    case CAMAS_VALUE_EXT:
        return enc_ext(e, v->u.ext.id, v->u.ext.data, depth, error);
    case CAMAS_VALUE_OBJECT: {
        gint64 type_id;
        CamasValue *data = NULL;
        if (depth + 2 > e->codec->max_depth)
            return enc_too_deep(e, error);
        if (!camas__codec_serialize_object(e->codec, v, &type_id, &data, error))
            return FALSE;
        gboolean ok = enc_ext(e, type_id, data, depth, error);
        camas_value_unref(data);
        return ok;
    }
    }
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "JSON: cannot encode a value of kind %u",
                v->type);
    return FALSE;
}

static gboolean
json_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out, GError **error)
{
    /* Reserve before taking pointers (an empty GByteArray has no buffer yet).  Small messages
     * (the RPC triple) usually fit this first reservation. */
    guint start = out->len;
    if (start > ENC_MAX_LEN - 128) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "JSON: encoded message would exceed %u bytes", (guint)ENC_MAX_LEN);
        return FALSE;
    }
    g_byte_array_set_size(out, start + 128);
    Enc e = {
        .codec = codec,
        .out = out,
        .p = out->data + start,
        .end = out->data + out->len,
    };
    if (!enc_value(&e, value, 0, error)) {
        /* the core restores the caller's length; drop the reserved tail here already so a
         * direct caller of the op sees no garbage either */
        g_byte_array_set_size(out, (guint)(e.p - out->data));
        return FALSE;
    }
    g_byte_array_set_size(out, (guint)(e.p - out->data));
    return TRUE;
}

/* ============================================================================================
 * Decoder
 * ========================================================================================= */

/* An open container: its kind, where its items start on the value stack, and where it began in
 * the input (for error messages). */
typedef struct {
    guint8 kind; /* '[' or '{' */
    gsize base;
    gsize offset;
} Frame;

typedef struct {
    CamasCodec *codec;
    const guint8 *data;
    const guint8 *end;
    CamasArena *arena;
    /* Items (maps: key, value, key, ...) of every open container, innermost last.  On close the
     * container copies its items into the arena and pops them, so the stack only ever holds
     * the open path's pending items. */
    CamasValue **stack;
    gsize sp, stack_cap;
    Frame *frames;
    gsize nframes, frames_cap;
    GError **error;
    CamasValue *stack_local[64];
    Frame frames_local[32];
} Dec;

static gboolean dec_fail(Dec *d, const guint8 *at, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
dec_fail(Dec *d, const guint8 *at, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(d->error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "JSON: %s at byte %" G_GSIZE_FORMAT, msg,
                (gsize)(at - d->data));
    return FALSE;
}

/* How an unexpected byte is named in messages: 'x' when printable, else 0xNN. */
static const char *
describe_byte(guint8 c, char buf[8])
{
    if (c >= 0x20 && c < 0x7f && c != '\'')
        g_snprintf(buf, 8, "'%c'", c);
    else
        g_snprintf(buf, 8, "0x%02x", c);
    return buf;
}

static gboolean
dec_unexpected(Dec *d, const guint8 *p, const char *expected)
{
    char buf[8];
    if (p >= d->end)
        return dec_fail(d, p, "expected %s but the input ended", expected);
    return dec_fail(d, p, "expected %s, found %s", expected, describe_byte(*p, buf));
}

G_NO_INLINE static gboolean
dec_grow_stack(Dec *d)
{
    gsize cap = d->stack_cap * 2;
    if (d->stack == d->stack_local) {
        d->stack = g_new(CamasValue *, cap);
        memcpy(d->stack, d->stack_local, d->sp * sizeof *d->stack);
    } else {
        d->stack = g_renew(CamasValue *, d->stack, cap);
    }
    d->stack_cap = cap;
    return TRUE;
}

static inline void
dec_push(Dec *d, CamasValue *v)
{
    if (G_UNLIKELY(d->sp == d->stack_cap))
        dec_grow_stack(d);
    d->stack[d->sp++] = v;
}

static inline const guint8 *
skip_ws(const guint8 *p, const guint8 *end)
{
    /* Python's json WHITESPACE: exactly these four */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Length of the valid UTF-8 sequence at @p (RFC 3629, as Python's strict decoder: no
 * overlongs, no surrogates, nothing above U+10FFFF), or 0 when it is invalid. */
static inline guint
utf8_seq_len(const guint8 *p, const guint8 *end)
{
    guint c = p[0];
    gsize avail = (gsize)(end - p);
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (p[2] & 0xc0) != 0x80)
            return 0;
        guint lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        guint lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

static inline int
hex_value(guint8 c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at @p (all present and checked by the scanning pass). */
static inline guint
read_hex4(const guint8 *p)
{
    return (guint)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 |
                   hex_value(p[3]));
}

static inline guint8 *
put_utf8(guint8 *q, guint cp)
{
    if (cp < 0x80) {
        *q++ = (guint8)cp;
    } else if (cp < 0x800) {
        *q++ = (guint8)(0xc0 | (cp >> 6));
        *q++ = (guint8)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (guint8)(0xe0 | (cp >> 12));
        *q++ = (guint8)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (guint8)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (guint8)(0xf0 | (cp >> 18));
        *q++ = (guint8)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (guint8)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (guint8)(0x80 | (cp & 0x3f));
    }
    return q;
}

/* Second pass over a string with escapes (s..stop, already validated apart from surrogate
 * pairing): decodes into a buffer in the arena.  Unescaping never lengthens the text. */
static CamasValue *
dec_unescape(Dec *d, const guint8 *s, const guint8 *stop)
{
    guint8 *buf = camas__arena_alloc(d->arena, (gsize)(stop - s) + 1);
    guint8 *q = buf;
    const guint8 *p = s;
    while (p < stop) {
        const guint8 *bs = memchr(p, '\\', (gsize)(stop - p));
        if (!bs)
            bs = stop;
        memcpy(q, p, (gsize)(bs - p));
        q += bs - p;
        p = bs;
        if (p >= stop)
            break;
        guint8 c = p[1];
        p += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *q++ = c;
            break;
        case 'b':
            *q++ = '\b';
            break;
        case 'f':
            *q++ = '\f';
            break;
        case 'n':
            *q++ = '\n';
            break;
        case 'r':
            *q++ = '\r';
            break;
        case 't':
            *q++ = '\t';
            break;
        case 'u': {
            guint cp = read_hex4(p);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* Python joins a high surrogate with a directly following \u low surrogate */
                if (stop - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    guint lo = read_hex4(p + 2);
                    if (lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                        q = put_utf8(q, cp);
                        break;
                    }
                }
                dec_fail(d, p - 6,
                         "lone surrogate \\u%04x in string (Python accepts it, but it cannot be "
                         "represented in UTF-8)",
                         cp);
                return NULL;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                dec_fail(d, p - 6,
                         "lone surrogate \\u%04x in string (Python accepts it, but it cannot be "
                         "represented in UTF-8)",
                         cp);
                return NULL;
            }
            q = put_utf8(q, cp);
            break;
        }
        default:
            g_assert_not_reached(); /* the scanning pass accepted only the escapes above */
        }
    }
    *q = 0;
    CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_STR);
    v->u.str.len = (gsize)(q - buf);
    v->u.str.data = (const char *)buf;
    return v;
}

/* A string token; *@pp points at its opening quote and is moved past the closing one.  The
 * first pass finds the end and validates everything (control characters, UTF-8, escapes);
 * strings without escapes (nearly all) are then copied in one go. */
static CamasValue *
dec_string(Dec *d, const guint8 **pp)
{
    const guint8 *open = *pp, *s = open + 1, *p = s, *end = d->end;
    gboolean escaped = FALSE;
    for (;;) {
        while (p + 8 <= end && !word_special(load_word(p), 0x80))
            p += 8;
        if (p >= end) {
            dec_fail(d, open, "unterminated string starting");
            return NULL;
        }
        guint c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = TRUE;
            if (p + 1 >= end) {
                dec_fail(d, open, "unterminated string starting");
                return NULL;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u':
                if (end - p < 6) {
                    dec_fail(d, open, "unterminated string starting");
                    return NULL;
                }
                for (int k = 2; k < 6; k++) {
                    if (hex_value(p[k]) < 0) {
                        dec_fail(d, p, "invalid \\uXXXX escape");
                        return NULL;
                    }
                }
                p += 6;
                continue;
            default: {
                char buf[8];
                dec_fail(d, p, "invalid escape \\%s in string", describe_byte(p[1], buf));
                return NULL;
            }
            }
        }
        if (c < 0x20) {
            dec_fail(d, p, "invalid control character 0x%02x in string", c);
            return NULL;
        }
        if (c >= 0x80) {
            guint n = utf8_seq_len(p, end);
            if (!n) {
                dec_fail(d, p, "invalid UTF-8 (byte 0x%02x) in string", c);
                return NULL;
            }
            p += n;
            continue;
        }
        p++;
    }
    *pp = p + 1;
    if (!escaped)
        return camas__arena_str(d->arena, CAMAS_VALUE_STR, (const char *)s, (gsize)(p - s));
    return dec_unescape(d, s, p);
}

static inline gboolean
is_digit(guint8 c)
{
    return c >= '0' && c <= '9';
}

/* Clinger's fast path: with at most 15 significant digits the digits are an exact double, and
 * with |exponent| <= 22 so is the power of ten, so one IEEE multiply or divide gives the
 * correctly rounded result, exactly what strtod (and Python's float()) would.  FALSE when the
 * number is outside that domain (or the FPU evaluates in extended precision). */
static gboolean
decimal_fast_path(guint64 int_part, gsize int_digits, const guint8 *frac, gsize frac_digits,
                  gint64 exp10, gboolean neg, double *out)
{
#if FLT_EVAL_METHOD == 0
    if (int_digits + frac_digits > 15)
        return FALSE;
    guint64 m = int_part;
    for (gsize i = 0; i < frac_digits; i++)
        m = m * 10 + (guint64)(frac[i] - '0');
    gint64 e10 = exp10 - (gint64)frac_digits;
    if (e10 < -22 || e10 > 22)
        return FALSE;
    double value = (double)m;
    if (e10 >= 0)
        value *= pow10_exact[e10];
    else
        value /= pow10_exact[-e10];
    *out = neg ? -value : value;
    return TRUE;
#else
    return FALSE;
#endif
}

/* g_ascii_strtod: locale-independent and correctly rounded (strtod_l in the C locale).  The
 * token needs a terminating NUL that the input does not have.  Overflow gives +-inf and
 * underflow 0 or a subnormal, as Python's float() does. */
static double
decimal_slow_path(const guint8 *start, const guint8 *end)
{
    gsize n = (gsize)(end - start);
    char local[64];
    char *buf = n < sizeof local ? local : g_malloc(n + 1);
    memcpy(buf, start, n);
    buf[n] = 0;
    double value = g_ascii_strtod(buf, NULL);
    if (buf != local)
        g_free(buf);
    return value;
}

/* A number token (grammar as Python's NUMBER_RE: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?); with a
 * fraction or exponent it is a float, else an int.  *@pp is moved past it. */
static CamasValue *
dec_number(Dec *d, const guint8 **pp)
{
    const guint8 *start = *pp, *p = start, *end = d->end;
    gboolean neg = FALSE;
    if (*p == '-') {
        neg = TRUE;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        dec_unexpected(d, p, "a digit");
        return NULL;
    }
    /* integer part; up to 19 digits cannot overflow a guint64, so only later ones check */
    const guint8 *int_start = p;
    guint64 mant = 0;
    gboolean overflow = FALSE;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p)) {
            guint dgt = *p - '0';
            if (G_UNLIKELY(mant > (G_MAXUINT64 - dgt) / 10))
                overflow = TRUE;
            else
                mant = mant * 10 + dgt;
            p++;
        }
    }
    gsize int_digits = (gsize)(p - int_start);

    gboolean is_float = FALSE;
    const guint8 *frac_start = NULL;
    gsize frac_digits = 0;
    if (p + 1 < end && *p == '.' && is_digit(p[1])) {
        is_float = TRUE;
        frac_start = ++p;
        while (p < end && is_digit(*p))
            p++;
        frac_digits = (gsize)(p - frac_start);
    }
    gboolean exp_neg = FALSE;
    gint64 exp = 0;
    gboolean exp_big = FALSE;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const guint8 *q = p + 1;
        if (q < end && (*q == '+' || *q == '-')) {
            exp_neg = *q == '-';
            q++;
        }
        if (q < end && is_digit(*q)) {
            is_float = TRUE;
            while (q < end && is_digit(*q)) {
                if (exp < 100000)
                    exp = exp * 10 + (*q - '0');
                else
                    exp_big = TRUE;
                q++;
            }
            p = q;
        }
    }
    *pp = p;

    if (!is_float) {
        CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_INT);
        if (overflow || (neg && mant > (guint64)G_MAXINT64 + 1)) {
            dec_fail(d, start,
                     "integer out of range (%.*s has more than 64 bits; camas carries ints in "
                     "[-2^63, 2^64-1])",
                     (int)MIN((gsize)(p - start), 40), (const char *)start);
            return NULL;
        }
        if (neg) {
            v->u.i = (gint64)((guint64)0 - mant);
        } else if (mant > (guint64)G_MAXINT64) {
            v->u.u = mant;
            v->flags |= CAMAS__VALUE_UNSIGNED;
        } else {
            v->u.i = (gint64)mant;
        }
        return v;
    }

    double value;
    if (overflow || exp_big ||
        !decimal_fast_path(mant, int_digits, frac_start, frac_digits, exp_neg ? -exp : exp, neg,
                           &value))
        value = decimal_slow_path(start, p);
    CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_FLOAT);
    v->u.f = value;
    return v;
}

/* The literal @word at *@pp: TRUE and moves past it when it is there completely. */
static inline gboolean
dec_literal(Dec *d, const guint8 **pp, const char *word, gsize n)
{
    if ((gsize)(d->end - *pp) >= n && memcmp(*pp, word, n) == 0) {
        *pp += n;
        return TRUE;
    }
    return FALSE;
}

static CamasValue *
dec_new_float(Dec *d, double f)
{
    CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_FLOAT);
    v->u.f = f;
    return v;
}

/* Closes the innermost array: its items move from the stack into the arena. */
static CamasValue *
dec_close_array(Dec *d)
{
    Frame *f = &d->frames[d->nframes - 1];
    gsize n = d->sp - f->base;
    CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_LIST);
    v->u.seq.len = n;
    v->u.seq.items = NULL;
    if (n) {
        v->u.seq.items = camas__arena_alloc(d->arena, n * sizeof(CamasValue *));
        memcpy(v->u.seq.items, d->stack + f->base, n * sizeof(CamasValue *));
    }
    d->sp = f->base;
    d->nframes--;
    return v;
}

static inline gboolean
str_eq(const CamasValue *a, const CamasValue *b)
{
    return a->u.str.len == b->u.str.len && memcmp(a->u.str.data, b->u.str.data, a->u.str.len) == 0;
}

static guint32
str_hash(const CamasValue *s)
{
    /* FNV-1a: deterministic (no per-process seed needed: this only detects duplicates, and an
     * attacker forcing collisions costs us O(n^2) on one map of one message at worst) */
    guint32 h = 2166136261u;
    for (gsize i = 0; i < s->u.str.len; i++)
        h = (h ^ (guint8)s->u.str.data[i]) * 16777619u;
    return h;
}

/* Index of a key that repeats an earlier one, or -1.  Keys are STR values. */
static gssize
find_duplicate_key(CamasValue *const *kv, gsize n)
{
    if (n <= 12) {
        for (gsize i = 1; i < n; i++)
            for (gsize j = 0; j < i; j++)
                if (str_eq(kv[2 * i], kv[2 * j]))
                    return (gssize)i;
        return -1;
    }
    gsize cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    gsize *slots = g_new(gsize, cap); /* entry index + 1; 0 = empty */
    memset(slots, 0, cap * sizeof *slots);
    gssize dup = -1;
    for (gsize i = 0; i < n && dup < 0; i++) {
        gsize h = str_hash(kv[2 * i]) & (cap - 1);
        while (slots[h]) {
            if (str_eq(kv[2 * (slots[h] - 1)], kv[2 * i])) {
                dup = (gssize)i;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (dup < 0)
            slots[h] = i + 1;
    }
    g_free(slots);
    return dup;
}

static inline gboolean
is_type_key(const CamasValue *k)
{
    return k->u.str.len == 8 && memcmp(k->u.str.data, "__type__", 8) == 0;
}

/* {"__type__": [type_id, data]} (other keys dropped, as aiomas does): the extension in raw
 * mode, else the registered deserializer's result. */
static CamasValue *
dec_ext(Dec *d, const Frame *f, const CamasValue *spec)
{
    const guint8 *at = d->data + f->offset;
    if (spec->type != CAMAS_VALUE_LIST || spec->u.seq.len != 2) {
        dec_fail(d, at,
                 "the value of \"__type__\" must be a 2-element array [type_id, data], "
                 "not %s",
                 spec->type == CAMAS_VALUE_LIST ? "an array of another length"
                                                : camas_value_type_name(spec->type));
        return NULL;
    }
    const CamasValue *id = spec->u.seq.items[0];
    CamasValue *data = spec->u.seq.items[1];
    if (id->type != CAMAS_VALUE_INT || (id->flags & CAMAS__VALUE_UNSIGNED)) {
        dec_fail(d, at, "the __type__ id must be an integer in the int64 range, not %s",
                 id->type == CAMAS_VALUE_INT ? "a larger int" : camas_value_type_name(id->type));
        return NULL;
    }
    if (d->codec->raw_ext) {
        /* built in the arena directly: no copy and no cross-arena references */
        CamasValue *v = camas__arena_value(d->arena, CAMAS_VALUE_EXT);
        v->u.ext.id = id->u.i;
        v->u.ext.data = data;
        return v;
    }
    GError *local = NULL;
    CamasValue *result = camas__codec_deserialize(d->codec, id->u.i, data, &local);
    if (!result) {
        dec_fail(d, at, "%s", local->message);
        g_error_free(local);
        return NULL;
    }
    return camas__arena_adopt(d->arena, result);
}

/* Closes the innermost object: duplicate keys are an error, a "__type__" key makes it an
 * extension. */
static CamasValue *
dec_close_map(Dec *d)
{
    Frame *f = &d->frames[d->nframes - 1];
    CamasValue **kv = d->stack + f->base;
    gsize n = (d->sp - f->base) / 2;

    gssize dup = find_duplicate_key(kv, n);
    if (dup >= 0) {
        const CamasValue *k = kv[2 * dup];
        GString *shown = g_string_new(NULL);
        camas_value_repr_append(k, shown);
        dec_fail(d, d->data + f->offset, "duplicate key %s in the object starting", shown->str);
        g_string_free(shown, TRUE);
        return NULL;
    }

    CamasValue *v;
    const CamasValue *type_spec = NULL;
    for (gsize i = 0; i < n; i++) {
        if (G_UNLIKELY(is_type_key(kv[2 * i]))) {
            type_spec = kv[2 * i + 1];
            break;
        }
    }
    if (type_spec) {
        v = dec_ext(d, f, type_spec);
        if (!v)
            return NULL;
    } else {
        v = camas__arena_value(d->arena, CAMAS_VALUE_MAP);
        v->u.map.len = n;
        v->u.map.entries = NULL;
        if (n) {
            CamasMapEntry *e = camas__arena_alloc(d->arena, n * sizeof(CamasMapEntry));
            for (gsize i = 0; i < n; i++) {
                e[i].key = kv[2 * i];
                e[i].value = kv[2 * i + 1];
            }
            v->u.map.entries = e;
        }
    }
    d->sp = f->base;
    d->nframes--;
    return v;
}

static gboolean
dec_open(Dec *d, guint8 kind, const guint8 *p)
{
    if (G_UNLIKELY(d->nframes >= d->codec->max_depth))
        return dec_fail(d, p, "nesting deeper than %u levels", d->codec->max_depth);
    if (G_UNLIKELY(d->nframes == d->frames_cap)) {
        gsize cap = d->frames_cap * 2;
        if (d->frames == d->frames_local) {
            d->frames = g_new(Frame, cap);
            memcpy(d->frames, d->frames_local, d->nframes * sizeof *d->frames);
        } else {
            d->frames = g_renew(Frame, d->frames, cap);
        }
        d->frames_cap = cap;
    }
    Frame *f = &d->frames[d->nframes++];
    f->kind = kind;
    f->base = d->sp;
    f->offset = (gsize)(p - d->data);
    return TRUE;
}

/* The whole document: an explicit state machine over a stack of open containers instead of
 * recursion, so hostile nesting costs heap (bounded by max_depth), never C stack. */
static CamasValue *
dec_document(Dec *d)
{
    const guint8 *p = d->data, *end = d->end;
    CamasValue *v;

value:
    p = skip_ws(p, end);
    if (p >= end) {
        dec_unexpected(d, p, "a value");
        return NULL;
    }
    switch (*p) {
    case '"':
        v = dec_string(d, &p);
        if (!v)
            return NULL;
        goto have_value;
    case '[':
        if (!dec_open(d, '[', p))
            return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            v = dec_close_array(d);
            goto have_value;
        }
        goto value;
    case '{':
        if (!dec_open(d, '{', p))
            return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}') {
            p++;
            v = dec_close_map(d);
            if (!v)
                return NULL;
            goto have_value;
        }
        goto key;
    case '-':
        if (p + 1 < end && p[1] == 'I') {
            if (!dec_literal(d, &p, "-Infinity", 9))
                goto bad_value;
            v = dec_new_float(d, -INFINITY);
            goto have_value;
        }
        G_GNUC_FALLTHROUGH;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        v = dec_number(d, &p);
        if (!v)
            return NULL;
        goto have_value;
    case 'n':
        if (!dec_literal(d, &p, "null", 4))
            goto bad_value;
        v = &camas__value_null;
        goto have_value;
    case 't':
        if (!dec_literal(d, &p, "true", 4))
            goto bad_value;
        v = &camas__value_true;
        goto have_value;
    case 'f':
        if (!dec_literal(d, &p, "false", 5))
            goto bad_value;
        v = &camas__value_false;
        goto have_value;
    case 'N':
        if (!dec_literal(d, &p, "NaN", 3))
            goto bad_value;
        v = dec_new_float(d, NAN);
        goto have_value;
    case 'I':
        if (!dec_literal(d, &p, "Infinity", 8))
            goto bad_value;
        v = dec_new_float(d, INFINITY);
        goto have_value;
    default:
        goto bad_value;
    }

key:
    /* p is at the first non-blank byte where an object key must start */
    if (p >= end || *p != '"') {
        dec_unexpected(d, p, "a string key in double quotes");
        return NULL;
    }
    v = dec_string(d, &p);
    if (!v)
        return NULL;
    dec_push(d, v);
    p = skip_ws(p, end);
    if (p >= end || *p != ':') {
        dec_unexpected(d, p, "':' after the object key");
        return NULL;
    }
    p++;
    goto value;

have_value:
    if (d->nframes == 0) {
        p = skip_ws(p, end);
        if (p < end) {
            char buf[8];
            dec_fail(d, p, "extra data (%s) after the value", describe_byte(*p, buf));
            return NULL;
        }
        return v;
    }
    dec_push(d, v);
    p = skip_ws(p, end);
    if (p >= end) {
        dec_unexpected(d, p, d->frames[d->nframes - 1].kind == '[' ? "',' or ']'" : "',' or '}'");
        return NULL;
    }
    if (d->frames[d->nframes - 1].kind == '[') {
        if (*p == ',') {
            p++;
            goto value;
        }
        if (*p == ']') {
            p++;
            v = dec_close_array(d);
            goto have_value;
        }
        dec_unexpected(d, p, "',' or ']'");
        return NULL;
    }
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        goto key;
    }
    if (*p == '}') {
        p++;
        v = dec_close_map(d);
        if (!v)
            return NULL;
        goto have_value;
    }
    dec_unexpected(d, p, "',' or '}'");
    return NULL;

bad_value:
    dec_unexpected(d, p, "a value");
    return NULL;
}

static CamasValue *
json_decode(CamasCodec *codec, const guint8 *data, gsize len, GError **error)
{
    Dec d;
    d.codec = codec;
    d.data = data;
    d.end = data + len;
    d.stack = d.stack_local;
    d.sp = 0;
    d.stack_cap = G_N_ELEMENTS(d.stack_local);
    d.frames = d.frames_local;
    d.nframes = 0;
    d.frames_cap = G_N_ELEMENTS(d.frames_local);
    d.error = error;
    /* Tree size tracks input size: an RPC request of ~60 bytes becomes ~12 values of 32 bytes
     * plus item arrays and string copies.  Larger inputs are mostly string bytes, so the hint
     * grows slower than the worst case (the arena adds blocks when needed). */
    d.arena = camas__arena_new(len < 1024 ? 256 + 8 * len : MIN(4 * len, (gsize)1 << 20));

    CamasValue *root = dec_document(&d);
    if (d.stack != d.stack_local)
        g_free(d.stack);
    if (d.frames != d.frames_local)
        g_free(d.frames);
    if (!root) {
        camas__arena_unref(d.arena);
        return NULL;
    }
    /* a singleton or adopted root gets its own reference and the arena goes */
    return camas__arena_finish(d.arena, root);
}

const CamasCodecClass camas__codec_json = {
    .name = "json",
    .aliases = NULL,
    .abi_version = CAMAS_CODEC_ABI_VERSION,
    .supports_bytes = FALSE,
    .encode = json_encode,
    .decode = json_decode,
};
