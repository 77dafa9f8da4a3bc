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
 * Queues are per loop: the registry maps a loop to its bound queue ids and its link model.  It
 * is keyed by the loop pointer for lookup only and never iterated, so addresses cannot
 * influence any order.
 *
 * Link models (camas/localqueue.h): when a connection is made, each end asks the loop's model
 * for the link its frames travel on and keeps it (with a reference to the model).  A send on an
 * end with a link schedules the arrive event at max(now + the model's delay, the due time of
 * the last item posted to the same receiver), so one direction stays FIFO; an end without one
 * schedules for now exactly as before, so a run without links is unchanged event for event.
 */
#include <string.h>

#include <camas/localqueue.h>

#include "live-private.h"
#include "transport-private.h"

/* A loop's link model, shared by the registry (while installed) and every pipe that has a
 * link under it. */
typedef struct {
    guint ref_count; /* only touched from the loop's thread, or under registry_lock */
    CamasLinkModelFuncs funcs;
    gpointer user_data;
    GDestroyNotify destroy;
} LqModel;

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
    char *local_id;       /* dialing: the queue id of the dialer's own address, or NULL */
    LqModel *model;       /* a reference while this end sends on a link, else NULL */
    gpointer link;        /* the model's state for frames this end sends (non-NULL with model) */
    gint64 rx_due;        /* the latest due time of an item posted to this end's rx */
} LqPipe;

typedef struct {
    char *queue_id; /* bound id (registered while the listener lives) */
} LqListener;

/* --- link models --------------------------------------------------------------------------- */

static LqModel *
model_ref(LqModel *m)
{
    m->ref_count++;
    return m;
}

static void
model_unref(LqModel *m)
{
    if (m == NULL || --m->ref_count > 0)
        return;
    if (m->destroy)
        m->destroy(m->user_data);
    g_free(m);
    camas__live_dec(CAMAS__LIVE_LINK_MODEL);
}

/* --- the per-loop registry ----------------------------------------------------------------- */

/* What the registry keeps for one loop; the entry goes when it holds nothing. */
typedef struct {
    GHashTable *queues; /* queue id -> CamasListener* */
    LqModel *model;     /* a reference, or NULL */
} LqLoop;

static GMutex registry_lock;
static GHashTable *registry; /* CamasLoop* -> LqLoop* */

static void
lq_loop_free(gpointer data)
{
    LqLoop *e = data;
    g_assert(e->model == NULL);
    g_hash_table_unref(e->queues);
    g_free(e);
}

/* Under the lock: @loop's entry, created when @create. */
static LqLoop *
registry_entry(CamasLoop *loop, gboolean create)
{
    LqLoop *e = registry ? g_hash_table_lookup(registry, loop) : NULL;
    if (e || !create)
        return e;
    if (registry == NULL)
        registry = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, lq_loop_free);
    e = g_new0(LqLoop, 1);
    e->queues = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert(registry, loop, e);
    return e;
}

/* Under the lock: drops @loop's entry if it holds nothing, so a later loop at the same address
 * starts clean. */
static void
registry_prune(CamasLoop *loop, LqLoop *e)
{
    if (e && e->model == NULL && g_hash_table_size(e->queues) == 0)
        g_hash_table_remove(registry, loop);
    if (registry && g_hash_table_size(registry) == 0)
        g_clear_pointer(&registry, g_hash_table_unref);
}

/* The listener bound to @queue_id and (transfer full, nullable) the loop's model. */
static CamasListener *
registry_lookup(CamasLoop *loop, const char *queue_id, LqModel **model)
{
    g_mutex_lock(&registry_lock);
    LqLoop *e = registry_entry(loop, FALSE);
    CamasListener *l = e ? g_hash_table_lookup(e->queues, queue_id) : NULL;
    *model = e && e->model ? model_ref(e->model) : NULL;
    g_mutex_unlock(&registry_lock);
    return l;
}

static gboolean
registry_add(CamasLoop *loop, const char *queue_id, CamasListener *listener)
{
    g_mutex_lock(&registry_lock);
    LqLoop *e = registry_entry(loop, TRUE);
    gboolean added = !g_hash_table_contains(e->queues, queue_id);
    if (added)
        g_hash_table_insert(e->queues, g_strdup(queue_id), listener);
    g_mutex_unlock(&registry_lock);
    return added;
}

static void
registry_remove(CamasLoop *loop, const char *queue_id)
{
    g_mutex_lock(&registry_lock);
    LqLoop *e = registry_entry(loop, FALSE);
    if (e)
        g_hash_table_remove(e->queues, queue_id);
    registry_prune(loop, e);
    g_mutex_unlock(&registry_lock);
}

void
camas_localqueue_set_link_model(CamasLoop *loop, const CamasLinkModelFuncs *funcs,
                                gpointer user_data, GDestroyNotify destroy)
{
    g_return_if_fail(loop != NULL);
    g_return_if_fail(funcs == NULL || (funcs->link != NULL && funcs->delay != NULL));
    LqModel *m = NULL;
    if (funcs) {
        m = g_new0(LqModel, 1);
        m->ref_count = 1;
        m->funcs = *funcs;
        m->user_data = user_data;
        m->destroy = destroy;
        camas__live_inc(CAMAS__LIVE_LINK_MODEL);
    }
    g_mutex_lock(&registry_lock);
    LqLoop *e = registry_entry(loop, m != NULL);
    LqModel *old = e ? e->model : NULL;
    if (e)
        e->model = m;
    registry_prune(loop, e);
    g_mutex_unlock(&registry_lock);
    /* The old model's destroy runs outside the lock (it may be the last reference). */
    model_unref(old);
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
        /* In a long queue (50 000 messages in the 100k-agent scenario) the chunks are cold
         * when their turn comes, and each is three dependent loads: the chunk, its array, the
         * bytes.  Start those of the next three chunks, one level each, so that each load finds
         * the one it depends on fetched by the hand-over before.  (Written out here: GCC
         * deletes calls of a helper whose only effects are prefetches.) */
        const CamasChunk *next = q->rx_head;
        if (next) {
            if (next->array)
                __builtin_prefetch(next->array->data);
            const CamasChunk *after = next->next;
            if (after) {
                if (after->array)
                    __builtin_prefetch(after->array);
                if (after->next)
                    __builtin_prefetch(after->next);
            }
        }
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

/* Out of line: the delayed arrival of an item @from sent to @t, no earlier than the item
 * before it. */
static G_GNUC_NO_INLINE void
schedule_arrival_delayed(LqPipe *from, LqPipe *t)
{
    CamasLoop *loop = camas__pipe_get_loop(t->self);
    gint64 delay = from->model->funcs.delay(from->link, from->model->user_data);
    gint64 now = camas_loop_now(loop);
    if (delay < 0)
        delay = 0;
    gint64 due = delay > G_MAXINT64 - now ? G_MAXINT64 : now + delay;
    if (due < t->rx_due)
        due = t->rx_due;
    t->rx_due = due;
    camas_loop_call_at_full(loop, due, arrive_event, camas__pipe_ref(t->self), unref_notify);
}

/* Appends @item (transfer full), sent by @from, to @to's receive queue and schedules its
 * arrival. */
static void
post(LqPipe *from, CamasPipe *to, CamasChunk *item)
{
    LqPipe *t = lq(to);
    item->next = NULL;
    if (t->rx_tail)
        t->rx_tail->next = item;
    else
        t->rx_head = item;
    t->rx_tail = item;
    if (G_UNLIKELY(from->link != NULL))
        schedule_arrival_delayed(from, t);
    else
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
    LqModel *model;
    CamasListener *listener = registry_lookup(loop, c->queue_id, &model);
    if (listener == NULL) {
        model_unref(model);
        g_autoptr(GError) error =
            g_error_new(CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED,
                        "no server is bound to LocalQueue '%s'", c->queue_id);
        camas__pipe_dial_done(client, error);
        return;
    }
    CamasPipe *server = camas__pipe_new_accepted(listener);
    pipe_init(server, c->queue_id);
    LqPipe *s = lq(server);
    s->peer = client;
    c->peer = server;
    if (model) {
        /* Each direction asks for its link, dialer to server first (the documented order). */
        c->link = model->funcs.link(c->local_id, c->queue_id, model->user_data);
        s->link = model->funcs.link(c->queue_id, c->local_id, model->user_data);
        if (c->link)
            c->model = model_ref(model);
        if (s->link)
            s->model = model_ref(model);
        model_unref(model);
    }
    g_clear_pointer(&c->local_id, g_free);
    /* As aiomas: the server side hears of the connection first, then the client. */
    camas__listener_accepted(listener, server);
    camas__pipe_dial_done(client, NULL);
}

static void
lq_dial(CamasPipe *pipe, const CamasAddress *address, const CamasTransportOptions *options)
{
    pipe_init(pipe, address->path);
    if (options->local_address && g_str_has_prefix(options->local_address, "local://"))
        lq(pipe)->local_id = g_strdup(options->local_address + strlen("local://"));
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
    post(q, q->peer, chunk);
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
        post(q, q->peer, &p->eof);
        q->peer = NULL;
    }
    q->link = NULL;
    g_clear_pointer(&q->model, model_unref);
    g_clear_pointer(&q->queue_id, g_free);
    g_clear_pointer(&q->local_id, g_free);
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
