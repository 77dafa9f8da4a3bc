/* SPDX-License-Identifier: MIT */
/*
 * The canonical trace (camas/scenario.h): the tracer the scenario runner attaches to its loop.
 * It renders each trace record (camas/trace.h) as one JSON line with a fixed key order and
 * exact number formats, hands the line to an optional sink (the --trace file, a reference
 * comparison) and feeds it to SHA-256; the fingerprint is the digest of all lines, which is
 * `sha256sum` of the trace file.
 *
 * Why the form is what it is (docs/scenarios.md, "Trace format"):
 *  - "seq" numbers the records from 0, not the loop's event sequence numbers, so an internal
 *    change of the engine that schedules one more event without changing what is observable
 *    leaves fingerprints alone.
 *  - "time" is the tick count printed as seconds with nine decimals by integer arithmetic:
 *    exact, and independent of locale and printf.
 *  - payloads are replaced by the first 16 bytes of their SHA-256 (32 hex digits): short lines,
 *    and the bytes still count.
 *
 * Cost: the runner traces every message, so this is on the hot path of every scenario: a line
 * is formatted by hand (no printf, no JSON library) into a reused line buffer, then copied into
 * a 64 KiB buffer that is hashed in one call when it fills; a payload costs one SHA-256 of its
 * bytes with OpenSSL's low-level functions on a stack context (no allocation).
 */
#include <string.h>

/* The low-level SHA-256 functions: deprecated in OpenSSL 3 in favour of EVP, but EVP allocates
 * and frees a context per digest, which is most of the cost of a payload's digest. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <camas/scenario.h>

#define HASH_BUF_SIZE (64 * 1024)
#define PAYLOAD_DIGEST_BYTES 16

struct _CamasCanonicalTrace {
    CamasTraceLineFunc sink;
    gpointer sink_data;
    SHA256_CTX run;      /* the fingerprint over every line */
    guint8 *hash_buf;    /* whole lines not yet hashed */
    gsize hash_len;
    guint8 *line;        /* the line being rendered */
    gsize line_len;
    gsize line_cap;
    guint64 records;
    guint64 counts[CAMAS_TRACE_SPAWN + 2]; /* the last slot counts unknown kinds */
};

static const char hex_digits[] = "0123456789abcdef";

CamasCanonicalTrace *
camas_canonical_trace_new(CamasTraceLineFunc sink, gpointer user_data)
{
    CamasCanonicalTrace *t = g_new0(CamasCanonicalTrace, 1);
    t->sink = sink;
    t->sink_data = user_data;
    SHA256_Init(&t->run);
    t->hash_buf = g_malloc(HASH_BUF_SIZE);
    t->line_cap = 1024;
    t->line = g_malloc(t->line_cap);
    return t;
}

void
camas_canonical_trace_free(CamasCanonicalTrace *trace)
{
    if (!trace)
        return;
    g_free(trace->hash_buf);
    g_free(trace->line);
    g_free(trace);
}

static void
trace_callback(const CamasTraceRecord *record, gpointer user_data)
{
    camas_canonical_trace_add(user_data, record);
}

void
camas_canonical_trace_attach(CamasCanonicalTrace *trace, CamasLoop *loop)
{
    g_return_if_fail(trace != NULL && loop != NULL);
    camas_loop_set_tracer(loop, trace_callback, trace, NULL);
}

guint64
camas_canonical_trace_get_records(const CamasCanonicalTrace *trace)
{
    g_return_val_if_fail(trace != NULL, 0);
    return trace->records;
}

guint64
camas_canonical_trace_get_count(const CamasCanonicalTrace *trace, CamasTraceKind kind)
{
    g_return_val_if_fail(trace != NULL, 0);
    return (guint)kind <= CAMAS_TRACE_SPAWN ? trace->counts[kind] : 0;
}

char *
camas_canonical_trace_dup_fingerprint(CamasCanonicalTrace *trace)
{
    g_return_val_if_fail(trace != NULL, NULL);
    /* a copy, so the trace can go on */
    SHA256_CTX copy = trace->run;
    guint8 md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = SHA256_DIGEST_LENGTH;
    SHA256_Update(&copy, trace->hash_buf, trace->hash_len);
    SHA256_Final(md, &copy);
    char *hex = g_malloc(2 * md_len + 1);
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = hex_digits[md[i] >> 4];
        hex[2 * i + 1] = hex_digits[md[i] & 15];
    }
    hex[2 * md_len] = '\0';
    return hex;
}

/* --- rendering ----------------------------------------------------------------------------- */

/* Makes room for @need more bytes in the line buffer. */
static inline void
reserve(CamasCanonicalTrace *t, gsize need)
{
    if (G_UNLIKELY(t->line_len + need > t->line_cap)) {
        while (t->line_len + need > t->line_cap)
            t->line_cap *= 2;
        t->line = g_realloc(t->line, t->line_cap);
    }
}

static inline void
put_raw(CamasCanonicalTrace *t, const char *s, gsize n)
{
    memcpy(t->line + t->line_len, s, n);
    t->line_len += n;
}

/* For literals, after a reserve() that covers them. */
#define PUT_LIT(t, lit) put_raw((t), (lit), sizeof(lit) - 1)

/* Unsigned decimal (at most 20 bytes). */
static inline void
put_u64(CamasCanonicalTrace *t, guint64 v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(t, tmp + i, sizeof tmp - i);
}

/* Ticks as seconds with exactly nine decimals (at most 31 bytes). */
static void
put_time(CamasCanonicalTrace *t, gint64 ticks)
{
    guint64 abs = (guint64)ticks;
    if (ticks < 0) {
        PUT_LIT(t, "-");
        abs = (guint64)0 - (guint64)ticks;
    }
    put_u64(t, abs / 1000000000u);
    char frac[10];
    guint64 f = abs % 1000000000u;
    frac[0] = '.';
    for (int i = 9; i >= 1; i--) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    put_raw(t, frac, 10);
}

static inline void
put_hex(CamasCanonicalTrace *t, const guint8 *bytes, gsize n)
{
    guint8 *p = t->line + t->line_len;
    for (gsize i = 0; i < n; i++) {
        p[2 * i] = (guint8)hex_digits[bytes[i] >> 4];
        p[2 * i + 1] = (guint8)hex_digits[bytes[i] & 15];
    }
    t->line_len += 2 * n;
}

/* ,"<key>":"<s>" for a string.  Control characters, '"' and '\\' are escaped; valid UTF-8 is
 * copied as is; in a string that is not valid UTF-8 each byte >= 0x80 is written as \u00XX,
 * so every line is valid JSON whatever an agent logs. */
static void
put_field_str(CamasCanonicalTrace *t, const char *key, gsize key_len, const char *s)
{
    gsize n = strlen(s);
    reserve(t, key_len + 6 + n * 6);
    put_raw(t, key, key_len);
    guint8 *p = t->line + t->line_len;
    *p++ = '"';
    int valid = -1;
    for (gsize i = 0; i < n; i++) {
        guchar c = (guchar)s[i];
        if (G_LIKELY(c >= 0x20 && c != '"' && c != '\\' && c < 0x80)) {
            *p++ = c;
            continue;
        }
        if (c >= 0x80) {
            if (valid < 0)
                valid = g_utf8_validate(s, (gssize)n, NULL);
            if (valid) {
                *p++ = c;
                continue;
            }
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = c;
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\t':
            *p++ = 't';
            break;
        case '\r':
            *p++ = 'r';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = (guint8)hex_digits[c >> 4];
            *p++ = (guint8)hex_digits[c & 15];
        }
    }
    *p++ = '"';
    t->line_len = (gsize)(p - t->line);
}

#define PUT_FIELD_STR(t, key, s) put_field_str((t), (key), sizeof(key) - 1, (s))

/* Hashes the finished line and hands it to the sink. */
static void
emit_line(CamasCanonicalTrace *t)
{
    if (G_UNLIKELY(t->hash_len + t->line_len > HASH_BUF_SIZE)) {
        SHA256_Update(&t->run, t->hash_buf, t->hash_len);
        t->hash_len = 0;
    }
    if (G_UNLIKELY(t->line_len > HASH_BUF_SIZE)) {
        SHA256_Update(&t->run, t->line, t->line_len);
    } else {
        memcpy(t->hash_buf + t->hash_len, t->line, t->line_len);
        t->hash_len += t->line_len;
    }
    if (t->sink)
        t->sink((const char *)t->line, t->line_len, t->sink_data);
}

void
camas_canonical_trace_add(CamasCanonicalTrace *trace, const CamasTraceRecord *r)
{
    g_return_if_fail(trace != NULL && r != NULL);
    CamasCanonicalTrace *t = trace;
    t->line_len = 0;
    /* the fixed part before the strings: at most ~80 bytes */
    reserve(t, 128);
    PUT_LIT(t, "{\"seq\":");
    put_u64(t, t->records);
    PUT_LIT(t, ",\"time\":");
    put_time(t, r->time);
    PUT_LIT(t, ",\"kind\":\"");
    const char *kind = camas_trace_kind_name(r->kind);
    put_raw(t, kind, strlen(kind));
    PUT_LIT(t, "\"");
    if (r->src)
        PUT_FIELD_STR(t, ",\"src\":", r->src);
    if (r->dst)
        PUT_FIELD_STR(t, ",\"dst\":", r->dst);
    if (r->method)
        PUT_FIELD_STR(t, ",\"method\":", r->method);
    /* id and digest: at most ~110 bytes */
    reserve(t, 128);
    if (r->msg_id >= 0) {
        PUT_LIT(t, ",\"id\":");
        put_u64(t, (guint64)r->msg_id);
    }
    if (r->digest) {
        gsize n = MIN(r->digest_len, (gsize)32);
        PUT_LIT(t, ",\"digest\":\"");
        put_hex(t, r->digest, n);
        PUT_LIT(t, "\"");
    } else if (r->payload) {
        /* SHA256_Init/Update/Final, not SHA256(): in OpenSSL 3 the one-shot fetches the
         * algorithm by name (locks, allocation) on every call */
        guint8 md[SHA256_DIGEST_LENGTH];
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, r->payload, r->payload_len);
        SHA256_Final(md, &c);
        PUT_LIT(t, ",\"digest\":\"");
        put_hex(t, md, PAYLOAD_DIGEST_BYTES);
        PUT_LIT(t, "\"");
    }
    if (r->text)
        PUT_FIELD_STR(t, ",\"text\":", r->text);
    reserve(t, 2);
    PUT_LIT(t, "}\n");
    t->records++;
    t->counts[(guint)r->kind <= CAMAS_TRACE_SPAWN ? (guint)r->kind : CAMAS_TRACE_SPAWN + 1]++;
    emit_line(t);
}
