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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The low-level SHA-256 functions: deprecated in OpenSSL 3 in favour of EVP, but EVP allocates
 * and frees a context per digest, which is most of the cost of a payload's digest. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <camas/scenario.h>

#define HASH_BUF_SIZE (64 * 1024)
#define PAYLOAD_DIGEST_BYTES 16
#define CHUNK_SIZE (256 * 1024)
#define MAX_CHUNKS 8 /* in flight between the threads: back-pressure beyond */
/* Zeroed bytes after a chunk's capacity, and room after a line's bound: put_str() scans and
 * copies 16 bytes at a time, reading and writing up to 15 bytes past a string's end. */
#define STR_SLACK 16

/* The helper thread's state: everything rendering touches. */
typedef struct {
    CamasTraceLineFunc sink;
    gpointer sink_data;
    SHA256_CTX run;      /* the fingerprint over every line */
    guint8 *hash_buf;    /* whole lines not yet hashed */
    gsize hash_len;
    guint8 *line;        /* lines too long for hash_buf are rendered here */
    gsize line_cap;
    guint64 seq;         /* the next record's number */
    /* Rendering shortcuts (each line starts {"seq":N,"time":T,"kind":"K"): */
    char seq_text[24];   /* seq in decimal, counted up in place */
    guint seq_len;
    gint64 time_last;    /* the time of the last line, rendered in time_text */
    guint8 time_text[32];
    guint time_len;      /* 0 until the first line */
    char kind_text[CAMAS_TRACE_SPAWN + 1][24]; /* ,"kind":"<name>" of each known kind */
    guint8 kind_len[CAMAS_TRACE_SPAWN + 1];
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

/* The render state gets cache lines of its own: the helper thread writes it for every line,
 * and next to the loop thread's counters it made each record's count a cache miss (false
 * sharing). */
#define RENDER_ALIGN 128
#define RENDER_ALLOC ((sizeof(Render) + RENDER_ALIGN - 1) / RENDER_ALIGN * RENDER_ALIGN)

struct _CamasCanonicalTrace {
    Render *render;       /* the helper thread's, except while it waits for work after a sync */
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

static void decode_chunk(Render *t, const Chunk *c);

static gpointer
render_thread(gpointer data)
{
    CamasCanonicalTrace *t = data;
    for (;;) {
        Chunk *c = queue_pop(&t->work);
        switch (c->kind) {
        case CHUNK_RECORDS:
            decode_chunk(t->render, c);
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
    c->data = cap ? g_malloc0(cap + STR_SLACK) : NULL;
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
    Render *r = t->render = g_aligned_alloc0(1, RENDER_ALLOC, RENDER_ALIGN);
    r->sink = sink;
    r->sink_data = user_data;
    SHA256_Init(&r->run);
    r->hash_buf = g_malloc(HASH_BUF_SIZE);
    r->line_cap = 1024;
    r->line = g_malloc(r->line_cap);
    r->seq_text[0] = '0';
    r->seq_len = 1;
    for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++) {
        int n = g_snprintf(r->kind_text[k], sizeof r->kind_text[k], ",\"kind\":\"%s\"",
                           camas_trace_kind_name((CamasTraceKind)k));
        g_assert(n > 0 && (gsize)n < sizeof r->kind_text[k]);
        r->kind_len[k] = (guint8)n;
    }
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
    g_free(trace->render->hash_buf);
    g_free(trace->render->line);
    g_aligned_free(trace->render);
    g_free(trace);
}

static inline void trace_add(CamasCanonicalTrace *t, const CamasTraceRecord *r);

/* The loop's tracer: the record straight into the chunk (no call to the public function and
 * its argument checks, which cannot be inlined across the library's exported symbols). */
static void
trace_callback(const CamasTraceRecord *record, gpointer user_data)
{
    trace_add(user_data, record);
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
    SHA256_CTX copy = trace->render->run;
    guint8 md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = SHA256_DIGEST_LENGTH;
    SHA256_Update(&copy, trace->render->hash_buf, trace->render->hash_len);
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

/* @n bytes of the caller's memory: the short strings and payloads of a record are copied by
 * two overlapping loads and stores each, without a memcpy call (and never reading outside
 * them: they are not ours). */
static inline guint8 *
put_var(guint8 *p, const void *src, gsize n)
{
    const guint8 *s = src;
    if (n >= 8 && n <= 16) {
        guint64 a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &b, 8);
    } else if (n > 16 && n <= 32) {
        guint64 a[2], b[2];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(p, a, 16);
        memcpy(p + n - 16, b, 16);
    } else if (n >= 4 && n < 8) {
        guint32 a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &b, 4);
    } else if (n < 4) {
        for (gsize i = 0; i < n; i++)
            p[i] = s[i];
    } else {
        memcpy(p, s, n);
    }
    return p + n;
}

static inline guint8 *
put_len_str(guint8 *p, const char *s, guint32 n)
{
    p = put_bytes(p, &n, 4);
    return put_var(p, s, (gsize)n + 1);
}

/* Makes t->cur a chunk with room for @need bytes, handing the full one to the helper thread. */
static G_NO_INLINE void
next_chunk(CamasCanonicalTrace *t, gsize need)
{
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
        c->data = g_realloc(c->data, need + STR_SLACK);
        memset(c->data + need, 0, STR_SLACK);
    }
    t->cur = c;
}

void
camas_canonical_trace_add(CamasCanonicalTrace *trace, const CamasTraceRecord *r)
{
    g_return_if_fail(trace != NULL && r != NULL);
    trace_add(trace, r);
}

static inline void
trace_add(CamasCanonicalTrace *t, const CamasTraceRecord *r)
{
    t->records++;
    t->counts[(guint)r->kind <= CAMAS_TRACE_SPAWN ? (guint)r->kind : CAMAS_TRACE_SPAWN + 1]++;

    guint8 flags = 0;
    guint32 src_n = 0, dst_n = 0, method_n = 0, text_n = 0, bytes_n = 0;
    gsize need = 2 + 8 + 8;
    /* the emitter's lengths when it gave them (the channel does for every message): a strlen
     * per string was most of this function's own cost */
    if (r->src) {
        flags |= HAS_SRC;
        need += 5 + (src_n = r->src_len ? r->src_len : (guint32)strlen(r->src));
    }
    if (r->dst) {
        flags |= HAS_DST;
        need += 5 + (dst_n = r->dst_len ? r->dst_len : (guint32)strlen(r->dst));
    }
    if (r->method) {
        flags |= HAS_METHOD;
        need += 5 + (method_n = r->method_len ? r->method_len : (guint32)strlen(r->method));
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

    if (G_UNLIKELY(!t->cur || t->cur->len + need > t->cur->cap))
        next_chunk(t, need);
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
        p = put_var(p, bytes, bytes_n);
    }
    t->cur->len = (gsize)(p - t->cur->data);
}

/* --- rendering (the helper thread) --------------------------------------------------------- */

/* A decoded record: strings with their lengths (no strlen again). */
typedef struct {
    guint8 kind;
    gint64 time;
    gint64 msg_id;
    const char *str[4]; /* src, dst, method, text; NULL when absent */
    guint32 len[4];
    const guint8 *bytes; /* payload or digest */
    guint32 n_bytes;
    gboolean is_digest;
} Rec;

static const char digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

/* Unsigned decimal (at most 20 bytes), written in place from the last digit back (its length
 * counted first: no copy of a variable length). */
static inline guint8 *
put_u64(guint8 *p, guint64 v)
{
    int n = 1;
    for (guint64 x = v; x >= 10 && n < 20; n++)
        x /= 10;
    guint8 *end = p + n, *q = end;
    while (v >= 100) {
        guint r = (guint)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + 2 * v, 2);
    } else {
        *--q = (guint8)('0' + v);
    }
    return end;
}

/* Ticks as seconds with exactly nine decimals (at most 31 bytes). */
static inline guint8 *
put_time(guint8 *p, gint64 ticks)
{
    guint64 abs = (guint64)ticks;
    if (ticks < 0) {
        *p++ = '-';
        abs = (guint64)0 - (guint64)ticks;
    }
    p = put_u64(p, abs / 1000000000u);
    guint32 f = (guint32)(abs % 1000000000u);
    *p++ = '.';
    *p++ = (guint8)('0' + f / 100000000u);
    f %= 100000000u;
    for (int k = 3; k >= 0; k--) {
        memcpy(p + 2 * k, digits2 + 2 * (f % 100), 2);
        f /= 100;
    }
    return p + 8;
}

static inline guint8 *
put_hex(guint8 *p, const guint8 *bytes, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        p[2 * i] = (guint8)hex_digits[bytes[i] >> 4];
        p[2 * i + 1] = (guint8)hex_digits[bytes[i] & 15];
    }
    return p + 2 * n;
}

/* The 32 lowercase hex digits of 16 bytes (a payload's digest, on every line that has a
 * payload): with SSE2 all at once, which took a sixth of the rendering time byte by byte. */
static inline guint8 *
put_hex16(guint8 *p, const guint8 *bytes)
{
#ifdef __SSE2__
    __m128i v = _mm_loadu_si128((const __m128i *)(gconstpointer)bytes);
    __m128i mask = _mm_set1_epi8(0x0f);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    __m128i lo = _mm_and_si128(v, mask);
    /* byte i -> its high nibble, then its low one */
    __m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);
    /* nibble + '0', plus 'a' - '0' - 10 for the nibbles above 9 */
    __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9), gap = _mm_set1_epi8('a' - '0' - 10);
    a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
    b = _mm_add_epi8(_mm_add_epi8(b, zero), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
    _mm_storeu_si128((__m128i *)(gpointer)p, a);
    _mm_storeu_si128((__m128i *)(gpointer)(p + 16), b);
    return p + 32;
#else
    return put_hex(p, bytes, 16);
#endif
}

/* 0: copied as is; 1: escaped; 2: a byte >= 0x80 (copied when the string is valid UTF-8) */
static inline int
char_class(guchar c)
{
    return c >= 0x80 ? 2 : (c < 0x20 || c == '"' || c == '\\');
}

#ifndef __SSE2__
/* TRUE when none of the eight bytes of @x needs a look (char_class 0 for all): bytes below
 * 0x20, '"', '\\' and bytes >= 0x80 are found with the bit tricks of "Bit Twiddling Hacks"
 * (hasless / haszero), which never miss one; the order of the bytes does not matter. */
static inline gboolean
word_is_plain(guint64 x)
{
    const guint64 ones = 0x0101010101010101ull;
    guint64 quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    guint64 special = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
                      ((backslash - ones) & ~backslash) | x;
    return (special & (ones * 0x80)) == 0;
}
#endif

/* A JSON string.  Control characters, '"' and '\\' are escaped; valid UTF-8 is copied as is;
 * in a string that is not valid UTF-8 each byte >= 0x80 is written as \u00XX, so every line is
 * valid JSON whatever an agent logs.  Writes at most 2 + 6 * @n bytes, and with SSE2 garbage in
 * up to 15 bytes after them: @str must be followed by STR_SLACK readable bytes (a chunk's) and
 * the output have STR_SLACK bytes of room more (rec_bound() counts them). */
static guint8 *
put_str(guint8 *p, const char *str, gsize n)
{
    const guchar *s = (const guchar *)str;
    int valid = -1;
    *p++ = '"';
    gsize i = 0;
    while (i < n) {
        gsize j = i;
#ifdef __SSE2__
        /* 16 bytes at a time, copied as they are scanned: the bytes up to the first one that
         * needs a look are right, the rest is overwritten by what follows.  As signed bytes,
         * those >= 0x80 are below 0x20 too. */
        const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                      backslash = _mm_set1_epi8('\\');
        for (;;) {
            __m128i v = _mm_loadu_si128((const __m128i *)(gconstpointer)(s + j));
            _mm_storeu_si128((__m128i *)(gpointer)(p + (j - i)), v);
            __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                           _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                        _mm_cmpeq_epi8(v, backslash)));
            guint stop = (guint)_mm_movemask_epi8(special);
            if (n - j < 16)
                stop |= 1u << (n - j); /* the end of the string stops the scan too */
            if (stop) {
                j += (gsize)__builtin_ctz(stop);
                break;
            }
            j += 16;
        }
#else
        /* eight bytes at a time while all are plain (never reading past the string) */
        for (guint64 x; j + 8 <= n && (memcpy(&x, s + j, 8), word_is_plain(x));)
            j += 8;
        while (j < n && char_class(s[j]) == 0)
            j++;
        memcpy(p, s + i, j - i);
#endif
        p += j - i;
        if (j == n)
            break;
        guchar c = s[j];
        i = j + 1;
        if (char_class(c) == 2) {
            if (valid < 0)
                valid = g_utf8_validate(str, (gssize)n, NULL);
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
    return p;
}

#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/* Each key in 16 bytes (zero-padded), copied whole: a fixed-size copy is two moves, a variable
 * one a memcpy call; what lands past the key is overwritten (rec_bound() leaves the room).
 * Likewise the whole arrays of seq_text, time_text and kind_text below. */
#define KEY(lit) {lit, sizeof(lit) - 1}
static const struct {
    char text[16];
    guint8 len;
} field_keys[4] = {KEY(",\"src\":"), KEY(",\"dst\":"), KEY(",\"method\":"), KEY(",\"text\":")};
#undef KEY

/* The SHA-256 of @n bytes into @md; only its first 16 bytes are right.  A payload of up to
 * 55 bytes (a typical message) is one SHA-256 block: padded here and compressed with
 * SHA256_Transform, without Update's buffering and Final's padding and
 * wiping of the context, which cost as much as the compression itself.  Longer ones go
 * through SHA256_Init/Update/Final (not SHA256(): in OpenSSL 3 the one-shot fetches the
 * algorithm by name, with locks and allocation, on every call). */
static void
payload_digest(const guint8 *bytes, gsize n, guint8 md[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    if (n <= 55) {
        guint8 block[64];
        memcpy(block, bytes, n);
        block[n] = 0x80;
        memset(block + n + 1, 0, 55 - n);
        guint64 bits = GUINT64_TO_BE((guint64)n * 8);
        memcpy(block + 56, &bits, 8);
        SHA256_Transform(&c, block);
        for (int k = 0; k < 4; k++) {
            guint32 be = GUINT32_TO_BE((guint32)c.h[k]);
            memcpy(md + 4 * k, &be, 4);
        }
    } else {
        SHA256_Update(&c, bytes, n);
        SHA256_Final(md, &c);
    }
}

/* The line number for the next line: seq_text counts up like an odometer. */
static inline void
seq_text_next(Render *t)
{
    int i = (int)t->seq_len - 1;
    while (i >= 0 && t->seq_text[i] == '9')
        t->seq_text[i--] = '0';
    if (i >= 0) {
        t->seq_text[i]++;
    } else {
        memmove(t->seq_text + 1, t->seq_text, t->seq_len++);
        t->seq_text[0] = '1';
    }
}

/* Renders @r (line number t->seq) at @p, which has room for rec_bound(@r) bytes. */
static guint8 *
render_at(Render *t, guint8 *p, const Rec *r)
{
    p = PUT_LIT(p, "{\"seq\":");
    memcpy(p, t->seq_text, sizeof t->seq_text);
    p += t->seq_len;
    p = PUT_LIT(p, ",\"time\":");
    /* many lines share a time: render it once */
    if (G_UNLIKELY(t->time_len == 0 || r->time != t->time_last)) {
        t->time_last = r->time;
        t->time_len = (guint)(put_time(t->time_text, r->time) - t->time_text);
    }
    memcpy(p, t->time_text, sizeof t->time_text);
    p += t->time_len;
    if (G_LIKELY(r->kind <= CAMAS_TRACE_SPAWN)) {
        memcpy(p, t->kind_text[r->kind], sizeof t->kind_text[r->kind]);
        p += t->kind_len[r->kind];
    } else {
        p = PUT_LIT(p, ",\"kind\":\"");
        const char *kind = camas_trace_kind_name((CamasTraceKind)r->kind);
        gsize kn = strlen(kind);
        memcpy(p, kind, kn);
        p += kn;
        *p++ = '"';
    }
    /* src, dst, method; the text comes last */
    for (int k = 0; k < 3; k++) {
        if (!r->str[k])
            continue;
        memcpy(p, field_keys[k].text, sizeof field_keys[k].text);
        p = put_str(p + field_keys[k].len, r->str[k], r->len[k]);
    }
    if (r->msg_id >= 0) {
        p = PUT_LIT(p, ",\"id\":");
        p = put_u64(p, (guint64)r->msg_id);
    }
    if (r->bytes) {
        p = PUT_LIT(p, ",\"digest\":\"");
        if (r->is_digest) {
            p = put_hex(p, r->bytes, r->n_bytes);
        } else {
            G_STATIC_ASSERT(PAYLOAD_DIGEST_BYTES == 16);
            guint8 md[SHA256_DIGEST_LENGTH];
            payload_digest(r->bytes, r->n_bytes, md);
            p = put_hex16(p, md);
        }
        *p++ = '"';
    }
    if (r->str[3]) {
        p = PUT_LIT(p, ",\"text\":");
        p = put_str(p, r->str[3], r->len[3]);
    }
    return PUT_LIT(p, "}\n");
}

/* An upper bound of a record's line length. */
static gsize
rec_bound(const Rec *r)
{
    gsize n = 200 + STR_SLACK; /* keys, numbers, kind, digest; put_str's overshoot */
    for (int k = 0; k < 4; k++)
        if (r->str[k])
            n += 16 + 6 * (gsize)r->len[k];
    return n;
}

/* Renders one record straight into the hash buffer (a line too large for it goes through the
 * line buffer), then hands the line to the sink. */
static void
render_rec(Render *t, const Rec *r)
{
    gsize bound = rec_bound(r);
    const guint8 *line;
    gsize len;
    if (G_LIKELY(bound <= HASH_BUF_SIZE)) {
        if (t->hash_len + bound > HASH_BUF_SIZE) {
            SHA256_Update(&t->run, t->hash_buf, t->hash_len);
            t->hash_len = 0;
        }
        guint8 *start = t->hash_buf + t->hash_len;
        len = (gsize)(render_at(t, start, r) - start);
        t->hash_len += len;
        line = start;
    } else {
        if (bound > t->line_cap) {
            t->line_cap = bound;
            t->line = g_realloc(t->line, t->line_cap);
        }
        len = (gsize)(render_at(t, t->line, r) - t->line);
        /* keep the order of the hashed bytes: what is buffered goes first */
        SHA256_Update(&t->run, t->hash_buf, t->hash_len);
        t->hash_len = 0;
        SHA256_Update(&t->run, t->line, len);
        line = t->line;
    }
    t->seq++;
    seq_text_next(t);
    if (t->sink)
        t->sink((const char *)line, len, t->sink_data);
}

static inline const guint8 *
get_len_str(const guint8 *p, const char **s, guint32 *n)
{
    memcpy(n, p, 4);
    *s = (const char *)p + 4;
    return p + 4 + *n + 1;
}

static void
decode_chunk(Render *t, const Chunk *c)
{
    static const guint8 str_flags[4] = {HAS_SRC, HAS_DST, HAS_METHOD, HAS_TEXT};
    const guint8 *p = c->data, *end = c->data + c->len;
    while (p < end) {
        /* every field set below (no `Rec r = {0}`: zeroing it first cost a `rep stos` per
         * record) */
        Rec r;
        r.kind = p[0];
        guint8 flags = p[1];
        p += 2;
        memcpy(&r.time, p, 8);
        memcpy(&r.msg_id, p + 8, 8);
        p += 16;
        for (int k = 0; k < 4; k++) {
            r.str[k] = NULL;
            r.len[k] = 0;
            if (flags & str_flags[k])
                p = get_len_str(p, &r.str[k], &r.len[k]);
        }
        r.bytes = NULL;
        r.n_bytes = 0;
        r.is_digest = (flags & HAS_DIGEST) != 0;
        if (flags & (HAS_PAYLOAD | HAS_DIGEST)) {
            memcpy(&r.n_bytes, p, 4);
            r.bytes = p + 4;
            p += 4 + r.n_bytes;
        }
        render_rec(t, &r);
    }
}
