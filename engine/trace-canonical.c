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
 * Cost: the runner traces every message, so this is on the hot path of every scenario.  The
 * loop's thread only copies each record (its numbers, strings and payload) into a 256 KiB
 * chunk; a helper thread renders the lines, hashes them and calls the sink, chunk by chunk in
 * order, so the trace costs the simulation little more than a memcpy per record when a second
 * core is free.  The output does not depend on the threads: one producer, one consumer, one
 * order.  Rendering is by hand (no printf, no JSON library) into a reused line buffer, lines
 * are hashed 64 KiB at a time, and a payload costs one SHA-256 of its bytes with OpenSSL's
 * low-level functions on a stack context (no allocation).
 */
#include <pthread.h>
#include <string.h>

/* The low-level SHA-256 functions: deprecated in OpenSSL 3 in favour of EVP, but EVP allocates
 * and frees a context per digest, which is most of the cost of a payload's digest. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <camas/scenario.h>

#define HASH_BUF_SIZE (64 * 1024)
#define PAYLOAD_DIGEST_BYTES 16
#define CHUNK_SIZE (256 * 1024)
#define MAX_CHUNKS 8 /* in flight between the threads: back-pressure beyond */

/* The helper thread's state: everything rendering touches. */
typedef struct {
    CamasTraceLineFunc sink;
    gpointer sink_data;
    SHA256_CTX run;      /* the fingerprint over every line */
    guint8 *hash_buf;    /* whole lines not yet hashed */
    gsize hash_len;
    guint8 *line;        /* the line being rendered */
    gsize line_len;
    gsize line_cap;
    guint64 seq;         /* the next record's number */
} Render;

typedef enum {
    CHUNK_RECORDS = 0, /* encoded records to render */
    CHUNK_SYNC,        /* answer on `synced` once everything before is rendered */
    CHUNK_STOP,        /* end the thread */
} ChunkKind;

typedef struct {
    ChunkKind kind;
    guint8 *data;
    gsize len;
    gsize cap;
} Chunk;

/* A blocking FIFO between the two threads.  pthread primitives rather than GAsyncQueue: GLib's
 * mutexes are futexes that ThreadSanitizer cannot see, and this hand-off is exactly what a
 * TSan run should check. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    GQueue items;
} Queue;

static void
queue_init(Queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    g_queue_init(&q->items);
}

static void
queue_clear(Queue *q, GDestroyNotify free_item)
{
    g_queue_clear_full(&q->items, free_item);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
}

static void
queue_push(Queue *q, gpointer item)
{
    pthread_mutex_lock(&q->lock);
    g_queue_push_tail(&q->items, item);
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

/* Blocks until there is an item. */
static gpointer
queue_pop(Queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (g_queue_is_empty(&q->items))
        pthread_cond_wait(&q->nonempty, &q->lock);
    gpointer item = g_queue_pop_head(&q->items);
    pthread_mutex_unlock(&q->lock);
    return item;
}

/* NULL when empty. */
static gpointer
queue_try_pop(Queue *q)
{
    pthread_mutex_lock(&q->lock);
    gpointer item = g_queue_pop_head(&q->items);
    pthread_mutex_unlock(&q->lock);
    return item;
}

struct _CamasCanonicalTrace {
    Render render;        /* the helper thread's, except while it waits for work after a sync */
    guint64 records;      /* counted by the loop's thread as records come in */
    guint64 counts[CAMAS_TRACE_SPAWN + 2]; /* the last slot counts unknown kinds */
    GThread *thread;
    Queue work;           /* Chunk*, in record order */
    Queue spare;          /* rendered Chunk*, for reuse */
    Queue synced;         /* the sync chunk, handed back */
    Chunk *cur;           /* being filled, or NULL */
    guint n_chunks;       /* data chunks allocated */
};

static const char hex_digits[] = "0123456789abcdef";

static void render_record(Render *t, const CamasTraceRecord *r);
static void decode_chunk(Render *t, const Chunk *c);

static gpointer
render_thread(gpointer data)
{
    CamasCanonicalTrace *t = data;
    for (;;) {
        Chunk *c = queue_pop(&t->work);
        switch (c->kind) {
        case CHUNK_RECORDS:
            decode_chunk(&t->render, c);
            c->len = 0;
            queue_push(&t->spare, c);
            break;
        case CHUNK_SYNC:
            queue_push(&t->synced, c);
            break;
        case CHUNK_STOP:
            g_free(c);
            return NULL;
        }
    }
}

static Chunk *
chunk_new(ChunkKind kind, gsize cap)
{
    Chunk *c = g_new0(Chunk, 1);
    c->kind = kind;
    c->cap = cap;
    c->data = cap ? g_malloc(cap) : NULL;
    return c;
}

static void
chunk_free(gpointer data)
{
    Chunk *c = data;
    g_free(c->data);
    g_free(c);
}

CamasCanonicalTrace *
camas_canonical_trace_new(CamasTraceLineFunc sink, gpointer user_data)
{
    CamasCanonicalTrace *t = g_new0(CamasCanonicalTrace, 1);
    t->render.sink = sink;
    t->render.sink_data = user_data;
    SHA256_Init(&t->render.run);
    t->render.hash_buf = g_malloc(HASH_BUF_SIZE);
    t->render.line_cap = 1024;
    t->render.line = g_malloc(t->render.line_cap);
    queue_init(&t->work);
    queue_init(&t->spare);
    queue_init(&t->synced);
    t->thread = g_thread_new("camas-trace", render_thread, t);
    return t;
}

/* Hands the chunk being filled to the helper thread. */
static void
submit(CamasCanonicalTrace *t)
{
    if (t->cur && t->cur->len > 0) {
        queue_push(&t->work, t->cur);
        t->cur = NULL;
    }
}

/* Waits until the helper thread has rendered everything added so far.  Afterwards it waits for
 * work, so its state may be read until the next add (the queues' locks order the memory). */
static void
sync_render(CamasCanonicalTrace *t)
{
    submit(t);
    Chunk *c = chunk_new(CHUNK_SYNC, 0);
    queue_push(&t->work, c);
    Chunk *back = queue_pop(&t->synced);
    g_assert(back == c);
    chunk_free(back);
}

void
camas_canonical_trace_free(CamasCanonicalTrace *trace)
{
    if (!trace)
        return;
    submit(trace);
    queue_push(&trace->work, chunk_new(CHUNK_STOP, 0));
    g_thread_join(trace->thread);
    g_clear_pointer(&trace->cur, chunk_free);
    queue_clear(&trace->work, chunk_free);
    queue_clear(&trace->spare, chunk_free);
    queue_clear(&trace->synced, chunk_free);
    g_free(trace->render.hash_buf);
    g_free(trace->render.line);
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

void
camas_canonical_trace_flush(CamasCanonicalTrace *trace)
{
    g_return_if_fail(trace != NULL);
    sync_render(trace);
}

char *
camas_canonical_trace_dup_fingerprint(CamasCanonicalTrace *trace)
{
    g_return_val_if_fail(trace != NULL, NULL);
    sync_render(trace);
    /* a copy, so the trace can go on */
    SHA256_CTX copy = trace->render.run;
    guint8 md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = SHA256_DIGEST_LENGTH;
    SHA256_Update(&copy, trace->render.hash_buf, trace->render.hash_len);
    SHA256_Final(md, &copy);
    char *hex = g_malloc(2 * md_len + 1);
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = hex_digits[md[i] >> 4];
        hex[2 * i + 1] = hex_digits[md[i] & 15];
    }
    hex[2 * md_len] = '\0';
    return hex;
}

/* --- records between the threads ------------------------------------------------------------ */

/* A record in a chunk: kind (1 byte), which fields are present (1 byte), time and msg_id
 * (8 bytes each), then each present string as a 4-byte length and its bytes with their NUL,
 * then the payload or the digest as a 4-byte length and its bytes. */
enum {
    HAS_SRC = 1 << 0,
    HAS_DST = 1 << 1,
    HAS_METHOD = 1 << 2,
    HAS_TEXT = 1 << 3,
    HAS_PAYLOAD = 1 << 4,
    HAS_DIGEST = 1 << 5,
};

static inline guint8 *
put_bytes(guint8 *p, const void *src, gsize n)
{
    memcpy(p, src, n);
    return p + n;
}

static inline guint8 *
put_len_str(guint8 *p, const char *s, guint32 n)
{
    p = put_bytes(p, &n, 4);
    return put_bytes(p, s, (gsize)n + 1);
}

void
camas_canonical_trace_add(CamasCanonicalTrace *trace, const CamasTraceRecord *r)
{
    g_return_if_fail(trace != NULL && r != NULL);
    CamasCanonicalTrace *t = trace;
    t->records++;
    t->counts[(guint)r->kind <= CAMAS_TRACE_SPAWN ? (guint)r->kind : CAMAS_TRACE_SPAWN + 1]++;

    guint8 flags = 0;
    guint32 src_n = 0, dst_n = 0, method_n = 0, text_n = 0, bytes_n = 0;
    gsize need = 2 + 8 + 8;
    if (r->src) {
        flags |= HAS_SRC;
        need += 5 + (src_n = (guint32)strlen(r->src));
    }
    if (r->dst) {
        flags |= HAS_DST;
        need += 5 + (dst_n = (guint32)strlen(r->dst));
    }
    if (r->method) {
        flags |= HAS_METHOD;
        need += 5 + (method_n = (guint32)strlen(r->method));
    }
    if (r->text) {
        flags |= HAS_TEXT;
        need += 5 + (text_n = (guint32)strlen(r->text));
    }
    const guint8 *bytes = NULL;
    if (r->digest) {
        flags |= HAS_DIGEST;
        bytes = r->digest;
        bytes_n = (guint32)MIN(r->digest_len, (gsize)32);
        need += 4 + bytes_n;
    } else if (r->payload) {
        flags |= HAS_PAYLOAD;
        bytes = r->payload;
        bytes_n = (guint32)r->payload_len;
        need += 4 + bytes_n;
    }

    if (!t->cur || t->cur->len + need > t->cur->cap) {
        submit(t);
        Chunk *c = queue_try_pop(&t->spare);
        if (!c && t->n_chunks < MAX_CHUNKS) {
            c = chunk_new(CHUNK_RECORDS, CHUNK_SIZE);
            t->n_chunks++;
        }
        if (!c)
            c = queue_pop(&t->spare); /* the helper is behind: wait for it */
        if (c->cap < need) {
            c->cap = need;
            c->data = g_realloc(c->data, need);
        }
        t->cur = c;
    }
    guint8 *p = t->cur->data + t->cur->len;
    guint8 kind = (guint8)MIN((guint)r->kind, 255u);
    *p++ = kind;
    *p++ = flags;
    p = put_bytes(p, &r->time, 8);
    p = put_bytes(p, &r->msg_id, 8);
    if (flags & HAS_SRC)
        p = put_len_str(p, r->src, src_n);
    if (flags & HAS_DST)
        p = put_len_str(p, r->dst, dst_n);
    if (flags & HAS_METHOD)
        p = put_len_str(p, r->method, method_n);
    if (flags & HAS_TEXT)
        p = put_len_str(p, r->text, text_n);
    if (bytes) {
        p = put_bytes(p, &bytes_n, 4);
        p = put_bytes(p, bytes, bytes_n);
    }
    t->cur->len = (gsize)(p - t->cur->data);
}

static inline const guint8 *
get_len_str(const guint8 *p, const char **s)
{
    guint32 n;
    memcpy(&n, p, 4);
    *s = (const char *)p + 4;
    return p + 4 + n + 1;
}

static void
decode_chunk(Render *t, const Chunk *c)
{
    const guint8 *p = c->data, *end = c->data + c->len;
    while (p < end) {
        CamasTraceRecord r = {0};
        r.kind = (CamasTraceKind)p[0];
        guint8 flags = p[1];
        p += 2;
        memcpy(&r.time, p, 8);
        memcpy(&r.msg_id, p + 8, 8);
        p += 16;
        if (flags & HAS_SRC)
            p = get_len_str(p, &r.src);
        if (flags & HAS_DST)
            p = get_len_str(p, &r.dst);
        if (flags & HAS_METHOD)
            p = get_len_str(p, &r.method);
        if (flags & HAS_TEXT)
            p = get_len_str(p, &r.text);
        if (flags & (HAS_PAYLOAD | HAS_DIGEST)) {
            guint32 n;
            memcpy(&n, p, 4);
            if (flags & HAS_PAYLOAD) {
                r.payload = p + 4;
                r.payload_len = n;
            } else {
                r.digest = p + 4;
                r.digest_len = n;
            }
            p += 4 + n;
        }
        render_record(t, &r);
    }
}

/* --- rendering ----------------------------------------------------------------------------- */

/* Makes room for @need more bytes in the line buffer. */
static inline void
reserve(Render *t, gsize need)
{
    if (G_UNLIKELY(t->line_len + need > t->line_cap)) {
        while (t->line_len + need > t->line_cap)
            t->line_cap *= 2;
        t->line = g_realloc(t->line, t->line_cap);
    }
}

static inline void
put_raw(Render *t, const char *s, gsize n)
{
    memcpy(t->line + t->line_len, s, n);
    t->line_len += n;
}

/* For literals, after a reserve() that covers them. */
#define PUT_LIT(t, lit) put_raw((t), (lit), sizeof(lit) - 1)

/* Unsigned decimal (at most 20 bytes). */
static inline void
put_u64(Render *t, guint64 v)
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
put_time(Render *t, gint64 ticks)
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
put_hex(Render *t, const guint8 *bytes, gsize n)
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
put_field_str(Render *t, const char *key, gsize key_len, const char *s)
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
emit_line(Render *t)
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

static void
render_record(Render *t, const CamasTraceRecord *r)
{
    t->line_len = 0;
    /* the fixed part before the strings: at most ~80 bytes */
    reserve(t, 128);
    PUT_LIT(t, "{\"seq\":");
    put_u64(t, t->seq);
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
    t->seq++;
    emit_line(t);
}
