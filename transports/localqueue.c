/* SPDX-License-Identifier: MIT */
/*
 * The LocalQueue transport (local://ID): in-process connections that deliver by scheduling
 * events on the loop, never by calling the receiver directly (wire-protocol.md §12).
 *
 * A connection is two pipes, each with a receive queue of the chunks its peer sent.  Every
 * send links the chunk (transport-private.h; a channel's encoded frame or a GBytes reference —
 * no copy, no queue node: the link is in the chunk) into the peer's queue and schedules one
 * "arrive" event; the loop orders those events by its global (time, seq), so two clients that
 * alternately send are delivered c1-0, c2-0, c1-1, c2-1, ... and a run is reproducible.  The
 * receiving pipe keeps delivered chunks in its pool for its own sends.
 * Closing appends an end marker the same way, so the peer sees it after every byte already
 * sent.  Bytes count as queued on the sending side until the receiving owner has taken them,
 * which gives LocalQueue the same back-pressure (`writable`) as a socket whose peer stops
 * reading.
 *
 * Queues are per loop: the registry maps a loop to its bound queue ids.  It is keyed by the
 * loop pointer for lookup only and never iterated, so addresses cannot influence any order.
 */
#include <string.h>

#include "transport-private.h"

typedef struct {
    CamasPipe *self;      /* the pipe this state belongs to (not a reference) */
    CamasPipe *peer;      /* the other end (not a reference): cleared when either closes */
    char *queue_id;       /* for the dial and the peername */
    CamasChunk *rx_head;  /* chunks (owned) or &eof, in the order the peer sent them */
    CamasChunk *rx_tail;
    CamasChunk eof;       /* the end-of-stream marker the peer posts into rx */
    guint arrived;        /* leading items of rx whose arrive event has run */
    gsize sent_pending;   /* bytes this end sent that the peer's owner has not taken yet */
    gboolean started;     /* the owner started the pipe */
    gboolean reading;     /* ... and is reading */
    gboolean closed;      /* class close ran: pending arrive events do nothing */
    CamasEventId dial_event;
    CamasEventId drain_event;
} LqPipe;

typedef struct {
    char *queue_id; /* bound id (registered while the listener lives) */
} LqListener;

/* --- the per-loop registry ----------------------------------------------------------------- */

static GMutex registry_lock;
static GHashTable *registry; /* CamasLoop* -> GHashTable(queue id -> CamasListener*) */

static CamasListener *
registry_lookup(CamasLoop *loop, const char *queue_id)
{
    g_mutex_lock(&registry_lock);
    GHashTable *queues = registry ? g_hash_table_lookup(registry, loop) : NULL;
    CamasListener *l = queues ? g_hash_table_lookup(queues, queue_id) : NULL;
    g_mutex_unlock(&registry_lock);
    return l;
}

static gboolean
registry_add(CamasLoop *loop, const char *queue_id, CamasListener *listener)
{
    g_mutex_lock(&registry_lock);
    if (registry == NULL)
        registry = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)g_hash_table_unref);
    GHashTable *queues = g_hash_table_lookup(registry, loop);
    if (queues == NULL) {
        queues = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert(registry, loop, queues);
    }
    gboolean added = !g_hash_table_contains(queues, queue_id);
    if (added)
        g_hash_table_insert(queues, g_strdup(queue_id), listener);
    g_mutex_unlock(&registry_lock);
    return added;
}

static void
registry_remove(CamasLoop *loop, const char *queue_id)
{
    g_mutex_lock(&registry_lock);
    GHashTable *queues = registry ? g_hash_table_lookup(registry, loop) : NULL;
    if (queues) {
        g_hash_table_remove(queues, queue_id);
        /* An empty entry goes, so a later loop at the same address starts clean. */
        if (g_hash_table_size(queues) == 0)
            g_hash_table_remove(registry, loop);
    }
    if (registry && g_hash_table_size(registry) == 0)
        g_clear_pointer(&registry, g_hash_table_unref);
    g_mutex_unlock(&registry_lock);
}

/* --- pipes --------------------------------------------------------------------------------- */

static inline LqPipe *
lq(CamasPipe *pipe)
{
    return camas__pipe_get_private(pipe);
}

static void
unref_notify(gpointer pipe)
{
    camas__pipe_unref(pipe);
}

static void drain(LqPipe *q);

static void
arrive_event(CamasLoop *loop, gpointer data)
{
    LqPipe *q = lq(data);
    if (q->closed)
        return;
    g_assert(q->rx_head != NULL);
    q->arrived++;
    drain(q);
}

static void
drain_event(CamasLoop *loop, gpointer data)
{
    LqPipe *q = lq(data);
    q->drain_event = CAMAS_EVENT_ID_NONE;
    if (!q->closed)
        drain(q);
}

/* Hands every arrived chunk to the owner, in order, until it pauses or closes.  Runs only
 * from events that hold a reference to the pipe. */
static void
drain(LqPipe *q)
{
    while (q->arrived > 0 && q->started && q->reading && !q->closed) {
        CamasChunk *item = q->rx_head;
        q->rx_head = item->next;
        if (!q->rx_head)
            q->rx_tail = NULL;
        item->next = NULL;
        q->arrived--;
        if (item == &q->eof) {
            camas__pipe_deliver_closed(q->self, NULL);
            continue;
        }
        gsize len;
        const guint8 *data = camas__chunk_get_data(item, &len);
        /* The sender's bytes leave its queue when our owner takes them. */
        if (q->peer) {
            LqPipe *s = lq(q->peer);
            s->sent_pending -= len;
            camas__pipe_update_write_queued(q->peer, s->sent_pending);
        }
        camas__pipe_deliver(q->self, data, len);
        camas__chunk_release(item);
    }
}

static void
schedule_drain(LqPipe *q)
{
    if (q->arrived > 0 && camas_event_id_is_none(q->drain_event))
        q->drain_event = camas_loop_call_soon_full(camas__pipe_get_loop(q->self), drain_event,
                                                   camas__pipe_ref(q->self), unref_notify);
}

/* Appends @item (transfer full) to @to's receive queue and schedules its arrival. */
static void
post(CamasPipe *to, CamasChunk *item)
{
    LqPipe *t = lq(to);
    item->next = NULL;
    if (t->rx_tail)
        t->rx_tail->next = item;
    else
        t->rx_head = item;
    t->rx_tail = item;
    camas_loop_call_soon_full(camas__pipe_get_loop(to), arrive_event, camas__pipe_ref(to),
                              unref_notify);
}

static void
pipe_init(CamasPipe *pipe, const char *queue_id)
{
    LqPipe *q = lq(pipe);
    q->self = pipe;
    q->queue_id = g_strdup(queue_id);
    g_autofree char *name = g_strdup_printf("LocalQueue('%s')", queue_id);
    camas__pipe_set_peername(pipe, name);
}

static void
connect_event(CamasLoop *loop, gpointer data)
{
    CamasPipe *client = data;
    LqPipe *c = lq(client);
    c->dial_event = CAMAS_EVENT_ID_NONE;
    CamasListener *listener = registry_lookup(loop, c->queue_id);
    if (listener == NULL) {
        g_autoptr(GError) error =
            g_error_new(CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED,
                        "no server is bound to LocalQueue '%s'", c->queue_id);
        camas__pipe_dial_done(client, error);
        return;
    }
    CamasPipe *server = camas__pipe_new_accepted(listener);
    pipe_init(server, c->queue_id);
    lq(server)->peer = client;
    c->peer = server;
    /* As aiomas: the server side hears of the connection first, then the client. */
    camas__listener_accepted(listener, server);
    camas__pipe_dial_done(client, NULL);
}

static void
lq_dial(CamasPipe *pipe, const CamasAddress *address, const CamasTransportOptions *options)
{
    pipe_init(pipe, address->path);
    /* The lookup happens in the event, so a server bound or closed meanwhile counts. */
    lq(pipe)->dial_event = camas_loop_call_soon_full(camas__pipe_get_loop(pipe), connect_event,
                                                     camas__pipe_ref(pipe), unref_notify);
}

static void
lq_start(CamasPipe *pipe)
{
    LqPipe *q = lq(pipe);
    q->started = TRUE;
    q->reading = TRUE;
    schedule_drain(q);
}

static void
lq_set_reading(CamasPipe *pipe, gboolean reading)
{
    LqPipe *q = lq(pipe);
    q->reading = reading;
    if (reading)
        schedule_drain(q);
}

static gboolean
lq_send_chunk(CamasPipe *pipe, CamasChunk *chunk, GError **error)
{
    LqPipe *q = lq(pipe);
    if (q->peer == NULL) {
        /* the peer closed; its end marker is on the way (TCP drops these too) */
        camas__chunk_release(chunk);
        return TRUE;
    }
    gsize len;
    camas__chunk_get_data(chunk, &len);
    q->sent_pending += len;
    post(q->peer, chunk);
    camas__pipe_update_write_queued(pipe, q->sent_pending);
    return TRUE;
}

static gboolean
lq_send(CamasPipe *pipe, GBytes *bytes, GError **error)
{
    CamasChunk *chunk = camas__chunk_new();
    chunk->bytes = g_bytes_ref(bytes);
    return lq_send_chunk(pipe, chunk, error);
}

static void
lq_close(CamasPipe *pipe)
{
    LqPipe *q = lq(pipe);
    if (q->self == NULL)
        return; /* the dial never started (bad options): nothing was set up */
    CamasLoop *loop = camas__pipe_get_loop(pipe);
    q->closed = TRUE;
    camas_loop_cancel(loop, q->dial_event);
    camas_loop_cancel(loop, q->drain_event);
    q->dial_event = q->drain_event = CAMAS_EVENT_ID_NONE;
    while (q->rx_head) {
        CamasChunk *item = q->rx_head;
        q->rx_head = item->next;
        if (item != &q->eof)
            camas__chunk_release(item);
    }
    q->rx_tail = NULL;
    q->arrived = 0;
    if (q->peer) {
        LqPipe *p = lq(q->peer);
        /* What the peer sent us will never be taken: it is no longer queued on its side. */
        p->peer = NULL;
        p->sent_pending = 0;
        camas__pipe_update_write_queued(q->peer, 0);
        post(q->peer, &p->eof);
        q->peer = NULL;
    }
    g_clear_pointer(&q->queue_id, g_free);
}

/* --- listeners ----------------------------------------------------------------------------- */

static gboolean
lq_listen(CamasListener *listener, const CamasAddress *address,
          const CamasTransportOptions *options, GError **error)
{
    LqListener *l = camas__listener_get_private(listener);
    if (!registry_add(camas__listener_get_loop(listener), address->path, listener)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "LocalQueue '%s' already has a server (address local://%s in use)",
                    address->path, address->path);
        return FALSE;
    }
    l->queue_id = g_strdup(address->path);
    return TRUE;
}

static void
lq_listener_close(CamasListener *listener)
{
    LqListener *l = camas__listener_get_private(listener);
    registry_remove(camas__listener_get_loop(listener), l->queue_id);
    g_clear_pointer(&l->queue_id, g_free);
}

const CamasTransportClass camas__transport_localqueue = {
    .name = "local",
    .kind = CAMAS_ADDRESS_LOCAL,
    .abi_version = CAMAS_TRANSPORT_ABI_VERSION,
    .pipe_size = sizeof(LqPipe),
    .listener_size = sizeof(LqListener),
    .dial = lq_dial,
    .listen = lq_listen,
    .listener_close = lq_listener_close,
    .start = lq_start,
    .send = lq_send,
    .set_reading = lq_set_reading,
    .close = lq_close,
    .send_chunk = lq_send_chunk,
};
