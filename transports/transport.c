/* SPDX-License-Identifier: MIT */
/*
 * The transport core: the layer between the channel layer and the transports.  It allocates
 * pipes and listeners with the private sizes the class tables ask for, keeps their reference
 * counts, picks the class for an address from the table generated out of `transport_plugins`
 * (transports/meson.build), and owns the rules of transport-private.h that are the same for
 * every transport: owner callbacks only from loop events, `closed` exactly once and never
 * after the owner's close, data held back until the owner starts (or resumes) reading, and
 * `writable` derived from the queued byte count with hysteresis between the two marks.  It
 * also keeps the per-thread pool of frame chunks (CamasChunk) that the channel encodes into
 * and LocalQueue passes along without copying.
 */
#include <string.h>

#include "live-private.h"
#include "transport-private.h"
#include "transport-table.h"

#define DEFAULT_HIGH_WATER ((gsize)4 * 1024 * 1024)
#define DEFAULT_BACKLOG 1024
#define DEFAULT_HANDSHAKE_TIMEOUT_MS 30000

/* The per-thread chunk pool keeps at least CHUNK_POOL_MIN chunks, and as many as were out at
 * once in the last period (as many takes as that number): traffic that comes in waves — a
 * scenario's 50 000 deliveries release their chunks, then 50 000 callbacks send and take them
 * again — reuses its chunks instead of freeing and allocating one per message, and after the
 * waves stop the allowance falls back within two periods.  Arrays are kept only up to a size
 * that an idle thread may keep. */
#define CHUNK_POOL_MIN 512
#define CHUNK_KEEP_BYTES ((guint)16 * 1024)
/* A chunk's array has room to spare (the encoder reserves ahead, about 500 bytes for a small
 * frame); with more chunks than this out of the pool (some 32 MiB of arrays in a burst of
 * queued messages), frames travel as exact-size copies instead, so a flood of queued small
 * messages costs little more than their bytes.  Below it a frame costs no allocation. */
#define CHUNK_PADDED_MAX 65536

/* Private state follows the core's struct at this alignment. */
#define PRIVATE_ALIGN 16
#define ALIGN_UP(n) (((n) + PRIVATE_ALIGN - 1) & ~(gsize)(PRIVATE_ALIGN - 1))

struct _CamasPipe {
    const CamasTransportClass *klass; /* the transport */
    CamasLoop *loop;                  /* every event of the pipe runs here */
    guint ref_count;                  /* owner + outstanding events + transport flushes */

    gboolean owner_closed;    /* camas__pipe_close() ran (or the dial was cancelled) */
    gboolean class_closed;    /* klass->close ran */
    gboolean announced;       /* handed to an owner (dial or accept callback ran) */
    gboolean started;         /* camas__pipe_start() ran */
    gboolean reading;         /* the owner wants data (start, set_reading) */
    gboolean eof;             /* the transport reported the end (camas__pipe_deliver_closed) */
    gboolean closed_reported; /* the owner's `closed` ran */

    CamasPipeCallbacks callbacks; /* the owner's, copied */
    gpointer user_data;

    CamasDialFunc dial_func; /* while a dial is pending */
    gpointer dial_data;
    CamasEventId dial_fail_event; /* camas__pipe_dial_fail_soon() */
    GError *dial_fail_error;

    /* Held back while the owner is not reading: bytes, then possibly the end. */
    GByteArray *held;
    GError *eof_error; /* the end's error (NULL = clean) until reported */
    CamasEventId flush_event;

    gsize write_queued;      /* last count the transport reported */
    gsize high_water;        /* above: not writable */
    gsize low_water;         /* at or below: writable again */
    gboolean writable;       /* state by the marks */
    gboolean writable_told;  /* state the owner was last told (TRUE initially) */
    guint writable_flips;    /* state changes since the owner was last told */
    CamasEventId writable_event;

    char *peername;
    char *tls_version;
    char *tls_cipher;
};

struct _CamasListener {
    const CamasTransportClass *klass;
    CamasLoop *loop;
    CamasAddress *address; /* as bound */
    CamasTransportOptions options;
    CamasAcceptFunc func;
    gpointer user_data;
    CamasListenerErrorFunc error_func;
    gpointer error_data;
    gboolean closed;
};

/* --- class table --------------------------------------------------------------------------- */

static gboolean
class_valid(const CamasTransportClass *k)
{
    return k->name && k->abi_version == CAMAS_TRANSPORT_ABI_VERSION && k->dial && k->listen &&
           k->listener_close && k->start && k->send && k->close;
}

static const CamasTransportClass *
class_for(CamasAddressKind kind)
{
    static gsize checked = 0;
    if (g_once_init_enter(&checked)) {
        for (gsize i = 0; i < G_N_ELEMENTS(camas__transport_table); i++)
            g_assert(class_valid(camas__transport_table[i]));
        g_once_init_leave(&checked, 1);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(camas__transport_table); i++)
        if (camas__transport_table[i]->kind == kind)
            return camas__transport_table[i];
    return NULL;
}

/* Options copied with defaults filled in; the TLS context is referenced. */
static void
options_copy(CamasTransportOptions *dst, const CamasTransportOptions *src)
{
    static const CamasTransportOptions none = {0};
    if (src == NULL)
        src = &none;
    *dst = *src;
    if (dst->tls)
        camas_tls_context_ref(dst->tls);
    dst->tls_server_name = g_strdup(src->tls_server_name);
    if (dst->write_high_water == 0)
        dst->write_high_water = DEFAULT_HIGH_WATER;
    if (dst->write_low_water == 0 || dst->write_low_water > dst->write_high_water)
        dst->write_low_water = dst->write_high_water / 4;
    if (dst->backlog <= 0)
        dst->backlog = DEFAULT_BACKLOG;
    if (dst->handshake_timeout_ms == 0)
        dst->handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

static void
options_clear(CamasTransportOptions *o)
{
    g_clear_pointer(&o->tls, camas_tls_context_unref);
    g_free((char *)o->tls_server_name);
    o->tls_server_name = NULL;
}

/* Address and options fit together?  TLS rides on TCP only; tls:// needs a context. */
static gboolean
check_tls(const CamasAddress *address, const CamasTransportOptions *options, GError **error)
{
    gboolean have = options && options->tls;
    if (address->tls && !have) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "%s needs TLS settings (a TLS context in the transport options)",
                    "tls:// address");
        return FALSE;
    }
    if (have && address->kind != CAMAS_ADDRESS_TCP) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "TLS applies only to TCP addresses, not to %s",
                    address->kind == CAMAS_ADDRESS_IPC ? "Unix sockets" : "LocalQueue");
        return FALSE;
    }
    return TRUE;
}

/* --- pipes: allocation and references ------------------------------------------------------ */

static CamasPipe *
pipe_alloc(const CamasTransportClass *klass, CamasLoop *loop,
           const CamasTransportOptions *options)
{
    CamasPipe *pipe = g_malloc0(ALIGN_UP(sizeof(CamasPipe)) + klass->pipe_size);
    pipe->klass = klass;
    pipe->loop = loop;
    pipe->ref_count = 1;
    pipe->writable = TRUE;
    pipe->writable_told = TRUE;
    pipe->high_water = options->write_high_water;
    pipe->low_water = options->write_low_water;
    camas__live_inc(CAMAS__LIVE_PIPE);
    return pipe;
}

CamasPipe *
camas__pipe_ref(CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL && pipe->ref_count > 0, NULL);
    pipe->ref_count++;
    return pipe;
}

void
camas__pipe_unref(CamasPipe *pipe)
{
    if (pipe == NULL)
        return;
    g_return_if_fail(pipe->ref_count > 0);
    if (--pipe->ref_count > 0)
        return;
    /* Every path to the last reference runs klass->close first (owner close, failed dial,
     * discard): the transport has released its resources. */
    g_assert(pipe->class_closed);
    if (pipe->held)
        g_byte_array_unref(pipe->held);
    g_clear_error(&pipe->eof_error);
    g_clear_error(&pipe->dial_fail_error);
    g_free(pipe->peername);
    g_free(pipe->tls_version);
    g_free(pipe->tls_cipher);
    g_free(pipe);
    camas__live_dec(CAMAS__LIVE_PIPE);
}

static void
pipe_unref_notify(gpointer pipe)
{
    camas__pipe_unref(pipe);
}

const gsize camas__pipe_private_offset = ALIGN_UP(sizeof(CamasPipe));

CamasLoop *
camas__pipe_get_loop(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, NULL);
    return pipe->loop;
}

const char *
camas__pipe_get_transport_name(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, NULL);
    return pipe->klass->name;
}

gboolean
camas__pipe_is_owner_closed(const CamasPipe *pipe)
{
    return pipe->owner_closed;
}

/* Cancels the core's own events (each holds a reference, released by the cancel). */
static void
pipe_cancel_events(CamasPipe *pipe)
{
    camas_loop_cancel(pipe->loop, pipe->flush_event);
    camas_loop_cancel(pipe->loop, pipe->writable_event);
    camas_loop_cancel(pipe->loop, pipe->dial_fail_event);
    pipe->flush_event = pipe->writable_event = pipe->dial_fail_event = CAMAS_EVENT_ID_NONE;
}

static void
pipe_class_close(CamasPipe *pipe)
{
    g_assert(!pipe->class_closed);
    pipe->class_closed = TRUE;
    pipe->klass->close(pipe);
}

void
camas__pipe_discard(CamasPipe *pipe)
{
    g_return_if_fail(pipe != NULL && !pipe->announced);
    pipe->owner_closed = TRUE;
    pipe_cancel_events(pipe);
    pipe_class_close(pipe);
    camas__pipe_unref(pipe);
}

/* --- dialing ------------------------------------------------------------------------------- */

CamasPipe *
camas__transport_dial(CamasLoop *loop, const CamasAddress *address,
                      const CamasTransportOptions *options, CamasDialFunc func,
                      gpointer user_data)
{
    g_return_val_if_fail(loop != NULL && address != NULL && func != NULL, NULL);
    const CamasTransportClass *klass = class_for(address->kind);
    g_return_val_if_fail(klass != NULL, NULL);

    CamasTransportOptions opts;
    options_copy(&opts, options);
    CamasPipe *pipe = pipe_alloc(klass, loop, &opts);
    pipe->dial_func = func;
    pipe->dial_data = user_data;
    GError *error = NULL;
    if (!check_tls(address, options, &error)) {
        camas__pipe_dial_fail_soon(pipe, error);
        g_error_free(error);
    } else {
        klass->dial(pipe, address, &opts);
    }
    options_clear(&opts);
    return pipe;
}

void
camas__pipe_dial_done(CamasPipe *pipe, const GError *error)
{
    g_return_if_fail(pipe != NULL && pipe->dial_func != NULL);
    if (pipe->owner_closed)
        return; /* cancelled: the transport should not have called, but be safe */
    CamasDialFunc func = pipe->dial_func;
    gpointer data = pipe->dial_data;
    pipe->dial_func = NULL;
    pipe->dial_data = NULL;
    if (error) {
        /* The pipe dies before the owner hears of it, so the error may even name it. */
        pipe->owner_closed = TRUE;
        pipe_cancel_events(pipe);
        func(NULL, error, data);
        pipe_class_close(pipe);
        camas__pipe_unref(pipe);
        return;
    }
    pipe->announced = TRUE;
    func(pipe, NULL, data);
}

static void
dial_fail_event(CamasLoop *loop, gpointer data)
{
    CamasPipe *pipe = data;
    pipe->dial_fail_event = CAMAS_EVENT_ID_NONE;
    GError *error = g_steal_pointer(&pipe->dial_fail_error);
    camas__pipe_dial_done(pipe, error);
    g_error_free(error);
}

void
camas__pipe_dial_fail_soon(CamasPipe *pipe, const GError *error)
{
    g_return_if_fail(pipe != NULL && error != NULL && pipe->dial_func != NULL);
    g_return_if_fail(camas_event_id_is_none(pipe->dial_fail_event));
    pipe->dial_fail_error = g_error_copy(error);
    pipe->dial_fail_event = camas_loop_call_soon_full(pipe->loop, dial_fail_event,
                                                      camas__pipe_ref(pipe), pipe_unref_notify);
}

/* --- the owner's side ---------------------------------------------------------------------- */

static void flush_event(CamasLoop *loop, gpointer data);

static void
schedule_flush(CamasPipe *pipe)
{
    if (camas_event_id_is_none(pipe->flush_event))
        pipe->flush_event = camas_loop_call_soon_full(pipe->loop, flush_event,
                                                      camas__pipe_ref(pipe), pipe_unref_notify);
}

void
camas__pipe_start(CamasPipe *pipe, const CamasPipeCallbacks *callbacks, gpointer user_data)
{
    g_return_if_fail(pipe != NULL && callbacks != NULL);
    g_return_if_fail(pipe->announced && !pipe->started && !pipe->owner_closed);
    g_return_if_fail(callbacks->received != NULL && callbacks->closed != NULL);
    pipe->callbacks = *callbacks;
    pipe->user_data = user_data;
    pipe->started = TRUE;
    pipe->reading = TRUE;
    /* Whatever arrived (or ended) before start, and a `writable` FALSE the owner has not
     * heard yet, is told from the flush event. */
    if ((pipe->held && pipe->held->len > 0) || pipe->eof || !pipe->writable)
        schedule_flush(pipe);
    pipe->klass->start(pipe);
}

gboolean
camas__pipe_send(CamasPipe *pipe, GBytes *bytes, GError **error)
{
    g_return_val_if_fail(pipe != NULL && bytes != NULL, FALSE);
    g_return_val_if_fail(pipe->announced && !pipe->owner_closed, FALSE);
    if (pipe->eof) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "the connection to %s is closed",
                    pipe->peername ? pipe->peername : "the peer");
        return FALSE;
    }
    if (g_bytes_get_size(bytes) == 0)
        return TRUE;
    return pipe->klass->send(pipe, bytes, error);
}

/* --- chunks ------------------------------------------------------------------------------- */

/* The pool: a free list in thread-local storage (no lock, no atomics), registered with a
 * GPrivate only so that it is freed when its thread exits. */
typedef struct {
    CamasChunk *head;
    guint len;
    gssize out;    /* chunks taken by this thread and not yet released by it */
    gssize limit;  /* chunks the pool may hold: the peak of `out` in the last period */
    gssize peak;   /* the peak of `out` in this period */
    gssize takes;  /* takes in this period */
} ChunkPool;

static __thread ChunkPool *chunk_pool;

static void
chunk_free(CamasChunk *c)
{
    if (c->bytes)
        g_bytes_unref(c->bytes);
    if (c->array)
        g_byte_array_unref(c->array);
    g_free(c);
}

static void
chunk_pool_free(gpointer data)
{
    ChunkPool *pool = data;
    while (pool->head) {
        CamasChunk *c = pool->head;
        pool->head = c->next;
        chunk_free(c);
    }
    if (pool == chunk_pool)
        chunk_pool = NULL;
    g_free(pool);
}

static GPrivate chunk_pool_key = G_PRIVATE_INIT(chunk_pool_free);

static G_GNUC_NO_INLINE ChunkPool *
chunk_pool_create(void)
{
    chunk_pool = g_new0(ChunkPool, 1);
    chunk_pool->limit = CHUNK_POOL_MIN;
    g_private_set(&chunk_pool_key, chunk_pool);
    return chunk_pool;
}

CamasChunk *
camas__chunk_new(void)
{
    ChunkPool *pool = chunk_pool ? chunk_pool : chunk_pool_create();
    if (++pool->out > pool->peak)
        pool->peak = pool->out;
    if (G_UNLIKELY(++pool->takes >= pool->limit)) { /* a period is over */
        pool->limit = MAX(pool->peak, CHUNK_POOL_MIN);
        pool->peak = pool->out;
        pool->takes = 0;
    }
    CamasChunk *c = pool->head;
    if (G_LIKELY(c != NULL)) {
        pool->head = c->next;
        pool->len--;
        c->next = NULL;
        if (G_LIKELY(c->array != NULL))
            return c;
    } else {
        c = g_new0(CamasChunk, 1);
    }
    c->array = g_byte_array_sized_new(CAMAS_CHUNK_MIN_ROOM);
    return c;
}

void
camas__chunk_release(CamasChunk *chunk)
{
    if (chunk->bytes) {
        g_bytes_unref(chunk->bytes);
        chunk->bytes = NULL;
    }
    if (chunk->array) {
        /* GByteArray keeps its capacity; the length is a bound of it up to the last growth */
        if (chunk->array->len > CHUNK_KEEP_BYTES) {
            g_byte_array_unref(chunk->array);
            chunk->array = NULL;
        } else {
            chunk->array->len = 0;
        }
    }
    ChunkPool *pool = chunk_pool ? chunk_pool : chunk_pool_create();
    pool->out--;
    if ((gssize)pool->len >= pool->limit) {
        chunk_free(chunk);
        return;
    }
    chunk->next = pool->head;
    pool->head = chunk;
    pool->len++;
}

gboolean
camas__pipe_send_chunk(CamasPipe *pipe, CamasChunk *chunk, GError **error)
{
    g_return_val_if_fail(pipe != NULL && chunk != NULL, FALSE);
    g_return_val_if_fail(pipe->announced && !pipe->owner_closed, FALSE);
    gsize len;
    camas__chunk_get_data(chunk, &len);
    if (pipe->eof || len == 0) {
        camas__chunk_release(chunk);
        if (!pipe->eof)
            return TRUE;
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "the connection to %s is closed",
                    pipe->peername ? pipe->peername : "the peer");
        return FALSE;
    }
    if (pipe->klass->send_chunk) {
        if (G_UNLIKELY(chunk_pool && chunk_pool->out > CHUNK_PADDED_MAX) && !chunk->bytes &&
            len <= CHUNK_KEEP_BYTES) {
            chunk->bytes = g_bytes_new(chunk->array->data, len);
            g_clear_pointer(&chunk->array, g_byte_array_unref);
        }
        return pipe->klass->send_chunk(pipe, chunk, error);
    }
    /* The transport queues GBytes: a small frame is copied (the chunk keeps its array for the
     * next send, which saves more allocations than the copy costs), a large one hands its
     * memory over. */
    GBytes *bytes;
    if (chunk->bytes)
        bytes = g_steal_pointer(&chunk->bytes);
    else if (len <= CHUNK_KEEP_BYTES)
        bytes = g_bytes_new(chunk->array->data, len);
    else
        bytes = g_byte_array_free_to_bytes(g_steal_pointer(&chunk->array));
    camas__chunk_release(chunk);
    gboolean ok = pipe->klass->send(pipe, bytes, error);
    g_bytes_unref(bytes);
    return ok;
}

gboolean
camas__pipe_is_writable(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, FALSE);
    return pipe->writable;
}

gsize
camas__pipe_get_write_queued(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, 0);
    return pipe->write_queued;
}

void
camas__pipe_set_reading(CamasPipe *pipe, gboolean reading)
{
    g_return_if_fail(pipe != NULL && pipe->started && !pipe->owner_closed);
    reading = !!reading;
    if (pipe->reading == reading)
        return;
    pipe->reading = reading;
    if (reading && ((pipe->held && pipe->held->len > 0) || (pipe->eof && !pipe->closed_reported)))
        schedule_flush(pipe);
    if (pipe->klass->set_reading)
        pipe->klass->set_reading(pipe, reading);
}

void
camas__pipe_close(CamasPipe *pipe)
{
    if (pipe == NULL)
        return;
    g_return_if_fail(!pipe->owner_closed);
    gboolean pending_dial = pipe->dial_func != NULL;
    g_return_if_fail(pipe->announced || pending_dial);
    pipe->owner_closed = TRUE;
    pipe->dial_func = NULL;
    pipe->dial_data = NULL;
    pipe_cancel_events(pipe);
    pipe_class_close(pipe);
    camas__pipe_unref(pipe);
}

const char *
camas__pipe_get_peername(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, NULL);
    return pipe->peername ? pipe->peername : "";
}

const char *
camas__pipe_get_tls_version(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, NULL);
    return pipe->tls_version;
}

const char *
camas__pipe_get_tls_cipher(const CamasPipe *pipe)
{
    g_return_val_if_fail(pipe != NULL, NULL);
    return pipe->tls_cipher;
}

/* --- the transport's side: deliveries ------------------------------------------------------ */

static void
report_closed(CamasPipe *pipe)
{
    g_assert(pipe->eof && !pipe->closed_reported);
    pipe->closed_reported = TRUE;
    g_autoptr(GError) error = g_steal_pointer(&pipe->eof_error);
    pipe->callbacks.closed(pipe, error, pipe->user_data);
}

static gboolean
can_deliver(const CamasPipe *pipe)
{
    return pipe->started && pipe->reading && !pipe->owner_closed;
}

/* Tells the owner the writable state if it changed since it was last told.  A crossing and a
 * crossing back in between (the queue went above the high-water mark and drained again before
 * this event) is told as both reports, so an owner that started waiting for TRUE when it saw
 * the pipe not writable always hears the TRUE. */
static void
tell_writable(CamasPipe *pipe)
{
    gboolean now = pipe->writable;
    gboolean dipped = now == pipe->writable_told && pipe->writable_flips >= 2;
    pipe->writable_flips = 0;
    if (now == pipe->writable_told && !dipped)
        return;
    if (dipped) {
        pipe->writable_told = !now;
        if (pipe->callbacks.writable)
            pipe->callbacks.writable(pipe, !now, pipe->user_data);
        if (pipe->owner_closed || pipe->eof)
            return;
    }
    pipe->writable_told = now;
    if (pipe->callbacks.writable)
        pipe->callbacks.writable(pipe, now, pipe->user_data);
}

/* Runs held data, a held end and an untold `writable` change, in that order, stopping as soon
 * as the owner pauses or closes. */
static void
flush_event(CamasLoop *loop, gpointer data)
{
    CamasPipe *pipe = data;
    pipe->flush_event = CAMAS_EVENT_ID_NONE;
    /* The owner may close from inside a callback; keep the memory until we are done. */
    camas__pipe_ref(pipe);
    if (can_deliver(pipe) && pipe->held && pipe->held->len > 0) {
        GByteArray *held = pipe->held;
        pipe->held = NULL;
        pipe->callbacks.received(pipe, held->data, held->len, pipe->user_data);
        if (pipe->held == NULL) {
            g_byte_array_set_size(held, 0);
            pipe->held = held; /* reuse the buffer */
        } else {
            g_byte_array_unref(held);
        }
    }
    if (!pipe->owner_closed && pipe->started && !pipe->eof)
        tell_writable(pipe);
    if (can_deliver(pipe) && pipe->eof && !pipe->closed_reported &&
        (pipe->held == NULL || pipe->held->len == 0))
        report_closed(pipe);
    camas__pipe_unref(pipe);
}

void
camas__pipe_deliver(CamasPipe *pipe, const guint8 *data, gsize len)
{
    g_return_if_fail(pipe != NULL);
    if (pipe->owner_closed || pipe->eof || len == 0)
        return;
    if (can_deliver(pipe) && (pipe->held == NULL || pipe->held->len == 0) &&
        camas_event_id_is_none(pipe->flush_event)) {
        pipe->callbacks.received(pipe, data, len, pipe->user_data);
        return;
    }
    /* Not reading (or older data still waits): keep it, in order.  Transports stop reading
     * while the owner is not reading, so this stays small. */
    if (pipe->held == NULL)
        pipe->held = g_byte_array_new();
    for (gsize off = 0; off < len;) { /* GByteArray takes guint lengths */
        guint n = (guint)MIN(len - off, (gsize)G_MAXUINT / 2);
        g_byte_array_append(pipe->held, data + off, n);
        off += n;
    }
}

void
camas__pipe_deliver_closed(CamasPipe *pipe, const GError *error)
{
    g_return_if_fail(pipe != NULL);
    if (pipe->owner_closed || pipe->eof)
        return;
    pipe->eof = TRUE;
    pipe->eof_error = error ? g_error_copy(error) : NULL;
    /* A pending `writable` change is moot now. */
    camas_loop_cancel(pipe->loop, pipe->writable_event);
    pipe->writable_event = CAMAS_EVENT_ID_NONE;
    if (can_deliver(pipe) && (pipe->held == NULL || pipe->held->len == 0) &&
        camas_event_id_is_none(pipe->flush_event))
        report_closed(pipe);
    /* else: the flush event (scheduled on start / resume, or pending) reports it */
}

void
camas__pipe_set_peername(CamasPipe *pipe, const char *peername)
{
    g_return_if_fail(pipe != NULL);
    g_free(pipe->peername);
    pipe->peername = g_strdup(peername);
}

void
camas__pipe_set_tls_info(CamasPipe *pipe, const char *version, const char *cipher)
{
    g_return_if_fail(pipe != NULL);
    g_free(pipe->tls_version);
    g_free(pipe->tls_cipher);
    pipe->tls_version = g_strdup(version);
    pipe->tls_cipher = g_strdup(cipher);
}

static void
writable_event(CamasLoop *loop, gpointer data)
{
    CamasPipe *pipe = data;
    pipe->writable_event = CAMAS_EVENT_ID_NONE;
    if (pipe->owner_closed || pipe->eof || !pipe->started)
        return; /* start's flush tells an owner that was not there yet */
    /* the callback may close the pipe: keep the memory until tell_writable is done */
    camas__pipe_ref(pipe);
    tell_writable(pipe);
    camas__pipe_unref(pipe);
}

void
camas__pipe_update_write_queued(CamasPipe *pipe, gsize queued)
{
    g_return_if_fail(pipe != NULL);
    pipe->write_queued = queued;
    if (pipe->owner_closed || pipe->eof)
        return; /* nobody to tell; the transport only flushes */
    gboolean writable = pipe->writable;
    if (writable && queued > pipe->high_water)
        writable = FALSE;
    else if (!writable && queued <= pipe->low_water)
        writable = TRUE;
    if (writable == pipe->writable)
        return;
    pipe->writable = writable;
    pipe->writable_flips++;
    /* Called from inside send: the owner hears it from an event. */
    if (camas_event_id_is_none(pipe->writable_event))
        pipe->writable_event = camas_loop_call_soon_full(pipe->loop, writable_event,
                                                         camas__pipe_ref(pipe),
                                                         pipe_unref_notify);
}

/* --- listeners ----------------------------------------------------------------------------- */

CamasListener *
camas__transport_listen(CamasLoop *loop, const CamasAddress *address,
                        const CamasTransportOptions *options, CamasAcceptFunc func,
                        gpointer user_data, GError **error)
{
    g_return_val_if_fail(loop != NULL && address != NULL && func != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    const CamasTransportClass *klass = class_for(address->kind);
    g_return_val_if_fail(klass != NULL, NULL);
    if (!check_tls(address, options, error))
        return NULL;

    CamasListener *listener = g_malloc0(ALIGN_UP(sizeof(CamasListener)) + klass->listener_size);
    listener->klass = klass;
    listener->loop = loop;
    listener->func = func;
    listener->user_data = user_data;
    options_copy(&listener->options, options);
    listener->address = camas_address_copy(address);
    if (!klass->listen(listener, address, &listener->options, error)) {
        options_clear(&listener->options);
        camas_address_free(listener->address);
        g_free(listener);
        return NULL;
    }
    camas__live_inc(CAMAS__LIVE_LISTENER);
    return listener;
}

const CamasAddress *
camas__listener_get_address(CamasListener *listener)
{
    g_return_val_if_fail(listener != NULL, NULL);
    return listener->address;
}

void
camas__listener_set_address(CamasListener *listener, const CamasAddress *address)
{
    g_return_if_fail(listener != NULL && address != NULL);
    CamasAddress *copy = camas_address_copy(address);
    camas_address_free(listener->address);
    listener->address = copy;
}

const CamasTransportOptions *
camas__listener_get_options(CamasListener *listener)
{
    return &listener->options;
}

void
camas__listener_set_error_func(CamasListener *listener, CamasListenerErrorFunc func,
                               gpointer user_data)
{
    g_return_if_fail(listener != NULL);
    listener->error_func = func;
    listener->error_data = user_data;
}

void
camas__listener_close(CamasListener *listener)
{
    if (listener == NULL)
        return;
    g_return_if_fail(!listener->closed);
    listener->closed = TRUE;
    listener->klass->listener_close(listener);
    options_clear(&listener->options);
    camas_address_free(listener->address);
    g_free(listener);
    camas__live_dec(CAMAS__LIVE_LISTENER);
}

gpointer
camas__listener_get_private(CamasListener *listener)
{
    return (char *)listener + ALIGN_UP(sizeof(CamasListener));
}

CamasLoop *
camas__listener_get_loop(CamasListener *listener)
{
    g_return_val_if_fail(listener != NULL, NULL);
    return listener->loop;
}

CamasPipe *
camas__pipe_new_accepted(CamasListener *listener)
{
    g_return_val_if_fail(listener != NULL && !listener->closed, NULL);
    return pipe_alloc(listener->klass, listener->loop, &listener->options);
}

void
camas__listener_accepted(CamasListener *listener, CamasPipe *pipe)
{
    g_return_if_fail(listener != NULL && pipe != NULL && !pipe->announced);
    g_return_if_fail(!listener->closed);
    pipe->announced = TRUE;
    listener->func(listener, pipe, listener->user_data);
}

void
camas__listener_accept_failed(CamasListener *listener, CamasPipe *pipe, const GError *error)
{
    g_return_if_fail(listener != NULL && pipe != NULL && error != NULL);
    if (listener->error_func)
        listener->error_func(listener, camas__pipe_get_peername(pipe), error,
                             listener->error_data);
    else
        g_debug("%s listener: connection from %s failed: %s", listener->klass->name,
                camas__pipe_get_peername(pipe), error->message);
    camas__pipe_discard(pipe);
}
