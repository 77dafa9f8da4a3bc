/* SPDX-License-Identifier: MIT */
/*
 * The channel layer (aiomas.channel; wire-protocol.md §3-§5): request ids in both directions,
 * futures for replies, remote failures, connection loss, bad input.  Sits on the framing and
 * codec layers and on the transports' pipes (transports/transport-private.h); the RPC layer
 * (rpc.c) builds on it.
 *
 * Costs on the hot path (one request and its reply over LocalQueue): the outgoing frame is
 * encoded straight into a pooled chunk (transport-private.h) that LocalQueue links into the
 * peer's queue as it is; received bytes are decoded straight from the transport's buffer when
 * they hold whole frames (only a frame split across deliveries is copied into the channel's
 * partial-frame buffer); the decoded triple lives in one arena (cached per thread, value.c) and
 * its reference is handed on whole (request handle, reply future) rather than per part; the
 * pending-reply table is an open-addressing array keyed by id; request handles come from a
 * per-channel free list and futures from the future cache.  So a round trip over LocalQueue
 * calls malloc only when a pool or cache runs dry.
 */
#include <string.h>

#include <camas/task.h>
#include <camas/trace.h>

#include "channel-private.h"
#include "codec-private.h"
#include "live-private.h"
#include "transport-private.h"
#include "value-private.h"

#define LARGE_BUFFER ((gsize)1024 * 1024)

/* --- the pending-reply table ---------------------------------------------------------------- */

/* This end hands out ids in increasing order and most replies come back soon, so the ids in
 * flight form a window [lo, hi): a ring indexed by id & mask holds them, and insert, take and
 * the slide of the window are O(1) with no hashing, no tombstones and no rebuilds in steady
 * state.  The ring grows when more than half of it is live; it shrinks when, over as many
 * inserts as it has slots, at most an eighth of it was live at any time.  So a burst that comes
 * back (a scenario's waves of requests) keeps its ring instead of shrinking at the end of each
 * wave and growing again in the next, and a resize's copy costs at most one slot per insert.
 * A straggler (a request whose reply takes so long that the window would outgrow the ring) moves
 * to a small open-addressing table, so one stuck call cannot make the ring as large as the
 * number of ids sent since.  A cancelled request keeps its entry (the future is done; the late
 * reply is dropped quietly), as in aiomas. */
#define RING_MIN 16

/* The stragglers: open addressing with linear probing on id & mask, tombstones for removals,
 * rebuilt when live entries plus tombstones exceed half of it. */
static const char tombstone_mark;
#define TOMBSTONE ((CamasFuture *)(gpointer)&tombstone_mark)

/* A pending request: its future and, when it was sent while a tracer was attached, its method
 * name for the REPLY or FAILURE record (in the channel's name store, see below). */
typedef struct {
    CamasFuture *future; /* owned reference; NULL = empty */
    const char *method;  /* a name of the name store, or NULL */
} RingSlot;

typedef struct {
    guint64 id;
    CamasFuture *future; /* owned reference; NULL = empty, TOMBSTONE = removed */
    const char *method;  /* as in RingSlot */
} PendingSlot;

typedef struct {
    PendingSlot *slots; /* NULL until the first straggler */
    gsize mask;         /* capacity - 1; capacity is a power of two */
    gsize n;            /* live entries */
    gsize used;         /* live entries + tombstones */
} OldTable;

typedef struct {
    RingSlot *ring;     /* ring[id & mask]: the request id in [lo, hi), or an empty slot */
    gsize mask;         /* ring capacity - 1, a power of two */
    guint64 lo;         /* the oldest id in the ring (its slot is live when n_ring > 0) */
    guint64 hi;         /* one past the newest id inserted */
    gsize peak;         /* the most live entries since the last resize or shrink check */
    gsize inserts;      /* inserts since then */
    gsize n_ring;       /* live entries in the ring */
    OldTable old;       /* stragglers, all below lo */
} PendingTable;

static void
old_put(OldTable *t, guint64 id, RingSlot e)
{
    gsize i = id & t->mask;
    while (t->slots[i].future && t->slots[i].future != TOMBSTONE)
        i = (i + 1) & t->mask;
    if (!t->slots[i].future)
        t->used++;
    t->slots[i] = (PendingSlot){id, e.future, e.method};
}

static G_GNUC_NO_INLINE void
old_insert(OldTable *t, guint64 id, RingSlot e)
{
    if (!t->slots || (t->used + 1) * 2 > t->mask + 1) {
        PendingSlot *old = t->slots;
        gsize old_cap = old ? t->mask + 1 : 0;
        /* grow when live entries need it, shrink after a burst, else just sweep the
         * tombstones away */
        gsize cap = MAX(old_cap, 16);
        if ((t->n + 1) * 4 > cap)
            cap *= 2;
        else
            while (cap > 16 && (t->n + 1) * 8 < cap)
                cap /= 2;
        t->mask = cap - 1;
        t->slots = g_new0(PendingSlot, cap);
        t->used = 0;
        for (gsize i = 0; i < old_cap; i++)
            if (old[i].future && old[i].future != TOMBSTONE)
                old_put(t, old[i].id, (RingSlot){old[i].future, old[i].method});
        g_free(old);
    }
    old_put(t, id, e);
    t->n++;
}

static G_GNUC_NO_INLINE RingSlot
old_take(OldTable *t, guint64 id)
{
    if (t->n == 0)
        return (RingSlot){NULL, NULL};
    for (gsize i = id & t->mask; t->slots[i].future; i = (i + 1) & t->mask) {
        if (t->slots[i].future != TOMBSTONE && t->slots[i].id == id) {
            RingSlot found = {t->slots[i].future, t->slots[i].method};
            t->slots[i].future = TOMBSTONE;
            t->n--;
            if (t->n == 0) { /* the last straggler: give the memory back */
                g_clear_pointer(&t->slots, g_free);
                t->mask = t->used = 0;
            }
            return found;
        }
    }
    return (RingSlot){NULL, NULL};
}

static void
pending_init(PendingTable *t)
{
    t->mask = RING_MIN - 1;
    t->ring = g_new0(RingSlot, RING_MIN);
    t->lo = t->hi = 0;
    t->n_ring = 0;
}

static inline gsize
pending_count(const PendingTable *t)
{
    return t->n_ring + t->old.n;
}

/* Moves the ring's entries into one of @cap slots. */
static G_GNUC_NO_INLINE void
ring_resize(PendingTable *t, gsize cap)
{
    RingSlot *ring = g_new0(RingSlot, cap);
    for (guint64 id = t->lo; id < t->hi; id++)
        ring[id & (cap - 1)] = t->ring[id & t->mask];
    g_free(t->ring);
    t->ring = ring;
    t->mask = cap - 1;
    t->peak = t->n_ring;
    t->inserts = 0;
}

/* A period of as many inserts as the ring has slots is over: shrink it if it was mostly empty
 * all along (and the window of ids in it fits the smaller ring). */
static G_GNUC_NO_INLINE void
ring_check_shrink(PendingTable *t, guint64 id)
{
    gsize cap = t->mask + 1;
    while (cap > RING_MIN && (t->peak + 1) * 8 < cap && id - t->lo < cap / 2)
        cap /= 2;
    if (cap < t->mask + 1) {
        ring_resize(t, cap);
    } else {
        t->peak = t->n_ring;
        t->inserts = 0;
    }
}

/* The ring needs room for @id (> every id in it): move the oldest entries out to the straggler
 * table until the window [lo, id] fits. */
static G_GNUC_NO_INLINE void
ring_evict_until(PendingTable *t, guint64 id)
{
    while (t->lo < t->hi && id - t->lo > t->mask) {
        RingSlot *slot = &t->ring[t->lo & t->mask];
        if (slot->future) {
            old_insert(&t->old, t->lo, *slot);
            *slot = (RingSlot){NULL, NULL};
            t->n_ring--;
        }
        t->lo++;
    }
    if (t->n_ring == 0)
        t->lo = t->hi = id;
    else
        while (!t->ring[t->lo & t->mask].future)
            t->lo++;
}

/* Adds @id (greater than every id inserted before) with @future (transfer full) and @method
 * (a name of the channel's store, or NULL). */
static inline void
pending_insert(PendingTable *t, guint64 id, CamasFuture *future, const char *method)
{
    if (t->n_ring == 0) /* an empty window starts over at id */
        t->lo = t->hi = id;
    gsize cap = t->mask + 1;
    if (G_UNLIKELY((t->n_ring + 1) * 2 > cap))
        ring_resize(t, cap * 2);
    else if (cap > RING_MIN && G_UNLIKELY(++t->inserts >= cap))
        ring_check_shrink(t, id);
    if (G_UNLIKELY(id - t->lo > t->mask))
        ring_evict_until(t, id);
    t->ring[id & t->mask] = (RingSlot){future, method};
    t->hi = id + 1;
    if (++t->n_ring > t->peak)
        t->peak = t->n_ring;
}

/* Removes @id and returns its entry (the future in transfer full); the future is NULL when @id
 * is not pending. */
static inline RingSlot
pending_take(PendingTable *t, guint64 id)
{
    if (G_UNLIKELY(id < t->lo || id >= t->hi))
        return old_take(&t->old, id);
    RingSlot *slot = &t->ring[id & t->mask];
    RingSlot found = *slot;
    if (!found.future)
        return found;
    *slot = (RingSlot){NULL, NULL};
    t->n_ring--;
    /* slide the window's start past the ids already answered */
    if (t->n_ring == 0)
        t->lo = t->hi;
    else
        while (!t->ring[t->lo & t->mask].future)
            t->lo++;
    return found;
}

static int
compare_slot_ids(gconstpointer a, gconstpointer b)
{
    guint64 x = ((const PendingSlot *)a)->id, y = ((const PendingSlot *)b)->id;
    return x < y ? -1 : x > y;
}

/* Empties the table and returns its entries sorted by id (so failing them is deterministic). */
static PendingSlot *
pending_steal_sorted(PendingTable *t, gsize *n)
{
    gsize total = pending_count(t);
    PendingSlot *out = g_new(PendingSlot, total ? total : 1);
    gsize k = 0;
    /* stragglers first: they are all older than the ring's ids */
    for (gsize i = 0; t->old.slots && i <= t->old.mask; i++)
        if (t->old.slots[i].future && t->old.slots[i].future != TOMBSTONE)
            out[k++] = t->old.slots[i];
    qsort(out, k, sizeof *out, compare_slot_ids);
    for (guint64 id = t->lo; id < t->hi; id++) {
        RingSlot *slot = &t->ring[id & t->mask];
        if (slot->future) {
            out[k++] = (PendingSlot){id, slot->future, slot->method};
            *slot = (RingSlot){NULL, NULL};
        }
    }
    g_assert(k == total);
    g_clear_pointer(&t->old.slots, g_free);
    t->old.mask = t->old.n = t->old.used = 0;
    t->n_ring = 0;
    t->lo = t->hi;
    *n = k;
    return out;
}

static void
pending_clear(PendingTable *t)
{
    g_free(t->ring);
    g_free(t->old.slots);
}

/* --- method names of traced requests ------------------------------------------------------- */

/* A REPLY or FAILURE trace record names the method of its request, which the sender only lent
 * for the send.  So while a tracer is attached each request's name is copied into the channel's
 * name store: blocks of NAME_BLOCK bytes filled front to back, each name preceded by a pointer
 * to its block and its length (so a REPLY record need not measure it), each block counting its
 * names not yet released.  A block whose last name goes
 * is kept for reuse (a few) or freed, so a traced request copies its name and allocates
 * nothing once the blocks are there, however its reply is ordered with others. */
#define NAME_BLOCK ((gsize)16 * 1024)
#define NAME_SPARE_MAX 4

typedef struct _NameBlock NameBlock;
struct _NameBlock {
    NameBlock *next; /* the spare list */
    gsize live;      /* names handed out and not released */
    gsize used;      /* bytes of data taken */
    gsize cap;       /* bytes of data */
    gpointer data[]; /* entries: a NameHead, then the name with its NUL, padded */
};

typedef struct {
    NameBlock *block; /* the block the name is in */
    gsize len;        /* the name's strlen */
} NameHead;

typedef struct {
    NameBlock *cur;   /* the block being filled, or NULL */
    NameBlock *spare; /* empty standard-size blocks */
    guint n_spare;
} NameStore;

static void
block_retire(NameStore *st, NameBlock *b)
{
    if (b->cap == NAME_BLOCK && st->n_spare < NAME_SPARE_MAX) {
        b->next = st->spare;
        st->spare = b;
        st->n_spare++;
    } else {
        g_free(b);
    }
}

/* A copy of @name (@name_len bytes, its strlen) that stays valid until names_release(). */
static G_GNUC_NO_INLINE const char *
names_dup(NameStore *st, const char *name, gsize name_len)
{
    gsize len = name_len + 1;
    gsize need = sizeof(NameHead) + ((len + sizeof(gpointer) - 1) & ~(sizeof(gpointer) - 1));
    NameBlock *b = st->cur;
    if (G_UNLIKELY(!b || b->used + need > b->cap)) {
        if (b && b->live == 0 && need <= b->cap) {
            b->used = 0; /* every name in it is gone: fill it again */
        } else {
            if (b && b->live == 0)
                block_retire(st, b);
            /* else it goes when its last name does */
            if (need <= NAME_BLOCK && st->spare) {
                b = st->spare;
                st->spare = b->next;
                st->n_spare--;
            } else {
                gsize cap = MAX(need, NAME_BLOCK);
                b = g_malloc(sizeof(NameBlock) + cap);
                b->cap = cap;
            }
            b->live = 0;
            b->used = 0;
            st->cur = b;
        }
    }
    guint8 *p = (guint8 *)b->data + b->used;
    *(NameHead *)(gpointer)p = (NameHead){b, name_len};
    memcpy(p + sizeof(NameHead), name, len);
    b->used += need;
    b->live++;
    return (const char *)p + sizeof(NameHead);
}

/* The length of a name of names_dup(), 0 for NULL. */
static inline gsize
names_len(const char *name)
{
    return name ? ((const NameHead *)(gconstpointer)(name - sizeof(NameHead)))->len : 0;
}

/* Gives back a name of names_dup(), or nothing for NULL. */
static inline void
names_release(NameStore *st, const char *name)
{
    if (!name)
        return;
    NameBlock *b = ((const NameHead *)(gconstpointer)(name - sizeof(NameHead)))->block;
    if (--b->live == 0 && b != st->cur)
        block_retire(st, b);
}

/* Frees the store; every name must have been released. */
static void
names_clear(NameStore *st)
{
    if (st->cur) {
        g_assert(st->cur->live == 0);
        g_free(st->cur);
    }
    while (st->spare) {
        NameBlock *b = st->spare;
        st->spare = b->next;
        g_free(b);
    }
    st->cur = NULL;
    st->n_spare = 0;
}

/* --- the structures ------------------------------------------------------------------------- */

struct _CamasRequest {
    CamasChannel *channel; /* a reference: the request keeps its channel alive */
    CamasValue *message;   /* the decoded [type, id, content] (owned): holds the two below */
    CamasValue *id;        /* the id as received */
    CamasValue *content;
    const char *rpc_path;  /* set by the RPC layer (points into content), or NULL */
    CamasRequest *next;    /* the channel's free list or its queue of undelivered requests */
};

struct _CamasChannel {
    gint refcount;
    CamasLoop *loop;
    CamasPipe *pipe; /* NULL once closed */
    CamasCodec *codec;
    gsize max_size;

    guint64 next_id;      /* the id of this end's next request */
    PendingTable pending; /* this end's requests waiting for a reply */
    NameStore names;      /* the methods of pending requests sent while traced */

    /* the partial frame received so far (only when a frame was split across deliveries) */
    GByteArray *rx;
    guint64 rx_offset;   /* stream offset of the next byte to be consumed */

    CamasRequestFunc request_func;
    gpointer request_data;
    GDestroyNotify request_destroy;
    CamasRequest *queue_head, *queue_tail; /* requests waiting for a request function */
    CamasEventId drain_event;

    CamasChannelClosedFunc closed_func;
    gpointer closed_data;
    GDestroyNotify closed_destroy;

    CamasRequest *free_requests; /* recycled request handles */

    gsize write_limit;        /* options->write_limit: 0 = none */
    GPtrArray *drain_waiters; /* camas_channel_drain() futures (references), or NULL */
    gboolean started;         /* the pipe was started */
    gboolean paused;          /* camas_channel_set_reading(FALSE) is in force */

    char *peername;   /* aiomas peername: the origin of remote failures */
    char *trace_local, *trace_peer;
    guint32 trace_local_len, trace_peer_len; /* their strlen, for trace records */
    char *tls_version, *tls_cipher;

    gboolean closed;
    GError *close_error;              /* set when the peer or bad input closed it */
    CamasChannelServer *server;       /* the server that accepted it (not owned), or NULL */
    gpointer rpc;                     /* the RPC connection using it (not owned), or NULL */
};

struct _CamasChannelServer {
    CamasLoop *loop;
    CamasListener *listener;
    CamasCodec *codec;
    CamasChannelOptions options;
    char *address;
    CamasChannelConnectedFunc connected;
    gpointer user_data;
    GDestroyNotify destroy;
    GPtrArray *channels; /* open accepted channels, accept order, references */
    guint64 n_accepted;
    gboolean closed;
};

static _Thread_local CamasChannel *current_channel;

CamasChannel *
camas__channel_get_current(void)
{
    return current_channel;
}

static void channel_free(CamasChannel *ch);
static void server_forget(CamasChannelServer *server, CamasChannel *ch);
static void drain_waiters_settle(CamasChannel *ch, gboolean ok);

/* --- tracing -------------------------------------------------------------------------------- */

static gint64
id_for_trace(const CamasValue *id)
{
    if (id && camas_value_get_type(id) == CAMAS_VALUE_INT && !camas_value_int_is_unsigned(id))
        return camas_value_get_int(id);
    return -1;
}

static void
trace(CamasChannel *ch, CamasTraceKind kind, gboolean outgoing, gint64 msg_id, const char *method,
      gsize method_len, const guint8 *payload, gsize len, const char *text)
{
    /* every field named: a partial initializer zero-fills the struct first with `rep stos`,
     * whose start-up cost was a quarter of handle_payload's own time */
    CamasTraceRecord r = {
        .kind = kind,
        .time = 0,
        .seq = 0,
        .src = outgoing ? ch->trace_local : ch->trace_peer,
        .dst = outgoing ? ch->trace_peer : ch->trace_local,
        .method = method,
        .msg_id = msg_id,
        .payload = payload,
        .payload_len = len,
        .digest = NULL,
        .digest_len = 0,
        .text = text,
        .src_len = outgoing ? ch->trace_local_len : ch->trace_peer_len,
        .dst_len = outgoing ? ch->trace_peer_len : ch->trace_local_len,
        .method_len = (guint32)method_len,
    };
    camas__loop_emit(ch->loop, &r);
}

/* The RPC path of a request content for DELIVER records, and its length in @len (0 when it is
 * not a plain string: the tracer measures it then). */
static const char *
rpc_method_of(const CamasChannel *ch, const CamasValue *content, gsize *len)
{
    /* the fields directly: four accessor calls were a third of this, once per request */
    *len = 0;
    if (!ch->rpc || (content->type != CAMAS_VALUE_LIST && content->type != CAMAS_VALUE_TUPLE) ||
        content->u.seq.len == 0)
        return NULL;
    const CamasValue *path = content->u.seq.items[0];
    if (path->type != CAMAS_VALUE_STR)
        return NULL;
    const char *s = path->u.str.data;
    *len = path->u.str.len;
    if (memchr(s, '\0', *len))
        *len = 0; /* an embedded NUL: the record ends the name there, as before */
    return s;
}

/* --- encoding ------------------------------------------------------------------------------- */

/* Encodes [type, id, content] with its header into a chunk of the pipe's pool, which
 * camas__pipe_send_chunk() then hands to the transport as it is.  The codec's serializers see
 * this channel as the current one.  Needs an open channel (a pipe). */
static CamasChunk *
encode_frame(CamasChannel *ch, CamasMsgType type, CamasValue *id, const CamasValue *content,
             GError **error)
{
    CamasValue type_value = CAMAS__VALUE_STATIC_INT(type);
    CamasValue *items[3] = {&type_value, id, (CamasValue *)content};
    CamasValue triple = CAMAS__VALUE_STATIC_SEQ(items, 3);

    CamasChunk *chunk = camas__chunk_new();
    GByteArray *buf = chunk->array;
    /* the header is written below: only the length needs setting, and a pooled array always
     * has the room (CAMAS_CHUNK_MIN_ROOM) */
    G_STATIC_ASSERT(CAMAS_FRAME_HEADER_SIZE <= CAMAS_CHUNK_MIN_ROOM);
    buf->len = CAMAS_FRAME_HEADER_SIZE;
    CamasChannel *outer = current_channel;
    current_channel = ch;
    /* the plug-in directly: the chunk is dropped on failure, so nothing needs truncating */
    gboolean ok = ch->codec->klass->encode(ch->codec, &triple, buf, error);
    current_channel = outer;

    if (ok) {
        gsize payload = buf->len - CAMAS_FRAME_HEADER_SIZE;
        if (G_LIKELY(payload <= ch->max_size)) {
            guint32 be = GUINT32_TO_BE((guint32)payload);
            memcpy(buf->data, &be, sizeof be);
            return chunk;
        }
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                    "message of %" G_GSIZE_FORMAT " bytes exceeds the maximum frame size "
                    "of %" G_GSIZE_FORMAT " bytes",
                    payload, ch->max_size);
    }
    camas__chunk_release(chunk);
    return NULL;
}

/* --- closing -------------------------------------------------------------------------------- */

static void
request_release(CamasRequest *req)
{
    CamasChannel *ch = req->channel;
    g_clear_pointer(&req->message, camas_value_unref);
    req->id = req->content = NULL;
    req->rpc_path = NULL;
    req->next = ch->free_requests;
    ch->free_requests = req;
    req->channel = NULL;
    camas__live_dec(CAMAS__LIVE_REQUEST);
    camas_channel_unref(ch);
}

static GError *
closed_error(void)
{
    return g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_CLOSED, "Connection closed");
}

static void
run_closed_func(CamasLoop *loop, gpointer data)
{
    CamasChannel *ch = data;
    if (ch->closed_func)
        ch->closed_func(ch, ch->close_error, ch->closed_data);
}

/* Closes the pipe and settles everything.  @reason (transfer full, nullable): why the peer or
 * bad input closed it; NULL when this side closed it. */
static void
channel_shutdown(CamasChannel *ch, GError *reason)
{
    if (ch->closed) {
        g_clear_error(&reason);
        return;
    }
    ch->closed = TRUE;
    ch->close_error = reason;
    /* keep the channel alive while futures' and the server's references go */
    camas_channel_ref(ch);

    if (ch->pipe) {
        camas__pipe_close(ch->pipe);
        ch->pipe = NULL;
    }
    if (!camas_event_id_is_none(ch->drain_event)) {
        camas_loop_cancel(ch->loop, ch->drain_event);
        ch->drain_event = CAMAS_EVENT_ID_NONE;
    }

    /* Fail every pending request, in id order. */
    gsize n;
    PendingSlot *slots = pending_steal_sorted(&ch->pending, &n);
    for (gsize i = 0; i < n; i++) {
        if (camas_loop_is_traced(ch->loop))
            trace(ch, CAMAS_TRACE_FAILURE, FALSE, (gint64)slots[i].id, slots[i].method,
                  names_len(slots[i].method), NULL, 0,
                  "Connection closed");
        names_release(&ch->names, slots[i].method);
        camas_future_set_error(slots[i].future, closed_error());
        camas_future_unref(slots[i].future);
    }
    g_free(slots);

    /* Senders waiting for room: there will be none. */
    drain_waiters_settle(ch, FALSE);

    /* Requests nobody took: nothing can be answered any more. */
    while (ch->queue_head) {
        CamasRequest *req = ch->queue_head;
        ch->queue_head = req->next;
        request_release(req);
    }
    ch->queue_tail = NULL;

    if (reason && ch->closed_func)
        camas_loop_call_soon_full(ch->loop, run_closed_func, camas_channel_ref(ch),
                                  (GDestroyNotify)camas_channel_unref);
    if (ch->server)
        server_forget(ch->server, ch); /* drops the server's reference */
    camas_channel_unref(ch);
}

/* The peer broke the protocol: log it with the peer's address, keep the error, close. */
static void
channel_fail_input(CamasChannel *ch, GError *error)
{
    GError *reason = g_error_new(CAMAS_ERROR, error->code, "Connection with %s closed: %s",
                                 ch->peername, error->message);
    g_error_free(error);
    g_warning("%s", reason->message);
    channel_shutdown(ch, reason);
}

void
camas_channel_close(CamasChannel *channel)
{
    g_return_if_fail(channel != NULL);
    channel_shutdown(channel, NULL);
}

/* --- incoming messages ---------------------------------------------------------------------- */

/* @message (transfer full): the decoded triple. */
static CamasRequest *
request_new(CamasChannel *ch, CamasValue *message)
{
    CamasRequest *req = ch->free_requests;
    if (req)
        ch->free_requests = req->next;
    else
        req = g_new(CamasRequest, 1);
    req->channel = camas_channel_ref(ch);
    req->message = message;
    req->id = message->u.seq.items[1];
    req->content = message->u.seq.items[2];
    req->rpc_path = NULL;
    req->next = NULL;
    camas__live_inc(CAMAS__LIVE_REQUEST);
    return req;
}

static void
drain_queue(CamasLoop *loop, gpointer data)
{
    CamasChannel *ch = data;
    ch->drain_event = CAMAS_EVENT_ID_NONE;
    camas_channel_ref(ch);
    while (ch->queue_head && ch->request_func && !ch->closed) {
        CamasRequest *req = ch->queue_head;
        ch->queue_head = req->next;
        if (!ch->queue_head)
            ch->queue_tail = NULL;
        req->next = NULL;
        ch->request_func(ch, req, ch->request_data);
    }
    camas_channel_unref(ch);
}

/* @message (transfer full): the decoded triple. */
static void
handle_request(CamasChannel *ch, CamasValue *message, const guint8 *payload, gsize len)
{
    if (camas_loop_is_traced(ch->loop)) {
        gsize method_len;
        const char *method = rpc_method_of(ch, message->u.seq.items[2], &method_len);
        trace(ch, CAMAS_TRACE_DELIVER, FALSE, id_for_trace(message->u.seq.items[1]), method,
              method_len, payload, len, NULL);
    }
    CamasRequest *req = request_new(ch, message);
    if (ch->request_func && !ch->queue_head) {
        ch->request_func(ch, req, ch->request_data);
        return;
    }
    if (ch->queue_tail)
        ch->queue_tail->next = req;
    else
        ch->queue_head = req;
    ch->queue_tail = req;
}

/* A reference to @part, an item of @whole, from the caller's reference to @whole (both transfer
 * full).  Values of one arena share its count, so then the reference just moves over. */
static inline CamasValue *
take_part(CamasValue *whole, CamasValue *part)
{
    if ((part->flags & CAMAS__VALUE_ARENA) && (whole->flags & CAMAS__VALUE_ARENA) &&
        part->arena == whole->arena)
        return part;
    camas_value_ref(part);
    camas_value_unref(whole);
    return part;
}

/* @message (transfer full): the decoded triple. */
static void
handle_reply(CamasChannel *ch, CamasMsgType type, CamasValue *message, const guint8 *payload,
             gsize len)
{
    CamasValue *id = message->u.seq.items[1];
    if (camas_value_get_type(id) != CAMAS_VALUE_INT ||
        (!camas_value_int_is_unsigned(id) && camas_value_get_int(id) < 0)) {
        g_autofree char *r = camas_value_repr(id);
        camas_value_unref(message);
        channel_fail_input(ch, g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                           "reply with an invalid message id %s", r));
        return;
    }
    guint64 msg_id = camas_value_get_uint(id);
    CamasValue *content = take_part(message, message->u.seq.items[2]);
    RingSlot entry = pending_take(&ch->pending, msg_id);
    CamasFuture *future = entry.future;
    if (!future) {
        camas_value_unref(content);
        channel_fail_input(ch, g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                           "%s for message id %" G_GUINT64_FORMAT
                                           ", which has no pending request",
                                           type == CAMAS_MSG_RESULT ? "result" : "failure",
                                           msg_id));
        return;
    }
    if (type == CAMAS_MSG_RESULT) {
        if (camas_loop_is_traced(ch->loop))
            trace(ch, CAMAS_TRACE_REPLY, FALSE, (gint64)msg_id, entry.method,
                  names_len(entry.method), payload, len, NULL);
        names_release(&ch->names, entry.method);
        camas_future_set_result(future, content);
    } else {
        /* aiomas always sends a string; anything else is shown as its repr */
        g_autofree char *repr = NULL;
        const char *text;
        if (camas_value_get_type(content) == CAMAS_VALUE_STR)
            text = camas_value_get_str(content, NULL);
        else
            text = repr = camas_value_repr(content);
        if (camas_loop_is_traced(ch->loop))
            trace(ch, CAMAS_TRACE_FAILURE, FALSE, (gint64)msg_id, entry.method,
                  names_len(entry.method), payload, len, text);
        names_release(&ch->names, entry.method);
        camas_future_set_error(future, camas_error_new_remote(ch->peername, text));
        camas_value_unref(content);
    }
    camas_future_unref(future);
}

/* Decodes and dispatches one payload.  Returns FALSE when the channel is closed afterwards. */
static gboolean
handle_payload(CamasChannel *ch, const guint8 *payload, gsize len)
{
    CamasMsgType type;
    GError *error = NULL;
    CamasChannel *outer = current_channel;
    current_channel = ch;
    CamasValue *message = camas__frame_decode_triple(ch->codec, payload, len, &type, &error);
    current_channel = outer;
    if (!message) {
        channel_fail_input(ch, error);
        return FALSE;
    }
    if (type == CAMAS_MSG_REQUEST)
        handle_request(ch, message, payload, len);
    else
        handle_reply(ch, type, message, payload, len);
    return !ch->closed;
}

static gboolean
check_frame_size(CamasChannel *ch, guint32 size, guint64 offset)
{
    if (size == 0) {
        channel_fail_input(ch, g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                           "zero-length frame at byte %" G_GUINT64_FORMAT,
                                           offset));
        return FALSE;
    }
    if (size > ch->max_size) {
        channel_fail_input(ch, g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                           "frame at byte %" G_GUINT64_FORMAT " announces %u "
                                           "bytes, more than the maximum of %" G_GSIZE_FORMAT,
                                           offset, size, ch->max_size));
        return FALSE;
    }
    return TRUE;
}

static inline guint32
read_be32(const guint8 *h)
{
    return (guint32)h[0] << 24 | (guint32)h[1] << 16 | (guint32)h[2] << 8 | h[3];
}

/* Completes the buffered partial frame from @data.  Returns the bytes used; sets *@alive to
 * FALSE when the channel closed. */
static gsize
feed_partial(CamasChannel *ch, const guint8 *data, gsize len, gboolean *alive)
{
    GByteArray *rx = ch->rx;
    gsize used = 0;
    if (rx->len < CAMAS_FRAME_HEADER_SIZE) {
        gsize take = MIN(CAMAS_FRAME_HEADER_SIZE - rx->len, len);
        g_byte_array_append(rx, data, take);
        used += take;
        if (rx->len < CAMAS_FRAME_HEADER_SIZE)
            return used;
        if (!check_frame_size(ch, read_be32(rx->data), ch->rx_offset)) {
            *alive = FALSE;
            return used;
        }
    }
    gsize total = CAMAS_FRAME_HEADER_SIZE + (gsize)read_be32(rx->data);
    gsize take = MIN(total - rx->len, len - used);
    g_byte_array_append(rx, data + used, take);
    used += take;
    if (rx->len < total)
        return used;
    ch->rx_offset += total;
    /* The payload is handled from the buffer, which must stay put meanwhile: swap in a fresh
     * one first when the frame was large, so the buffer is not kept for an idle connection. */
    GByteArray *frame = rx;
    if (frame->len > LARGE_BUFFER)
        ch->rx = g_byte_array_new();
    else
        g_byte_array_ref(frame);
    *alive = handle_payload(ch, frame->data + CAMAS_FRAME_HEADER_SIZE,
                            total - CAMAS_FRAME_HEADER_SIZE);
    if (frame == ch->rx)
        g_byte_array_set_size(frame, 0);
    g_byte_array_unref(frame);
    return used;
}

static void
pipe_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    CamasChannel *ch = user_data;
    if (ch->closed)
        return;
    camas_channel_ref(ch);
    gboolean alive = TRUE;
    if (ch->rx->len > 0) {
        gsize used = feed_partial(ch, data, len, &alive);
        data += used;
        len -= used;
    }
    /* Whole frames are decoded straight from the transport's buffer. */
    while (alive && len >= CAMAS_FRAME_HEADER_SIZE) {
        guint32 size = read_be32(data);
        if (!check_frame_size(ch, size, ch->rx_offset)) {
            alive = FALSE;
            break;
        }
        if (len - CAMAS_FRAME_HEADER_SIZE < size)
            break;
        ch->rx_offset += CAMAS_FRAME_HEADER_SIZE + (gsize)size;
        alive = handle_payload(ch, data + CAMAS_FRAME_HEADER_SIZE, size);
        data += CAMAS_FRAME_HEADER_SIZE + (gsize)size;
        len -= CAMAS_FRAME_HEADER_SIZE + (gsize)size;
    }
    if (alive && len > 0)
        feed_partial(ch, data, len, &alive);
    camas_channel_unref(ch);
}

static void
pipe_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    CamasChannel *ch = user_data;
    channel_shutdown(ch, error ? g_error_copy(error) : closed_error());
}

static void
pipe_writable(CamasPipe *pipe, gboolean writable, gpointer user_data)
{
    CamasChannel *ch = user_data;
    /* a TRUE told as the first of a pair (the queue went back over the mark since) wakes
     * nobody: the TRUE that follows will */
    if (writable && !ch->closed && camas__pipe_is_writable(pipe))
        drain_waiters_settle(ch, TRUE);
}

static const CamasPipeCallbacks pipe_callbacks = {
    .received = pipe_received,
    .closed = pipe_closed,
    .writable = pipe_writable,
};

/* Starts delivering from the pipe (once the channel is set up), paused if asked to be. */
static void
channel_start(CamasChannel *ch)
{
    ch->started = TRUE;
    camas__pipe_start(ch->pipe, &pipe_callbacks, ch);
    if (ch->paused)
        camas__pipe_set_reading(ch->pipe, FALSE);
}

/* --- construction --------------------------------------------------------------------------- */

static CamasChannel *
channel_new(CamasLoop *loop, CamasPipe *pipe, CamasCodec *codec, const CamasChannelOptions *opts)
{
    CamasChannel *ch = g_new0(CamasChannel, 1);
    ch->refcount = 1;
    ch->loop = loop;
    ch->pipe = pipe;
    ch->codec = camas_codec_ref(codec);
    gsize max = opts ? opts->max_frame_size : 0;
    ch->max_size = max == 0 ? CAMAS_FRAME_DEFAULT_MAX_SIZE : MIN(max, CAMAS_FRAME_WIRE_MAX_SIZE);
    ch->write_limit = opts ? opts->write_limit : 0;
    pending_init(&ch->pending);
    ch->rx = g_byte_array_new();
    const char *peer = camas__pipe_get_peername(pipe);
    ch->peername = g_strdup(peer ? peer : "");
    ch->tls_version = g_strdup(camas__pipe_get_tls_version(pipe));
    ch->tls_cipher = g_strdup(camas__pipe_get_tls_cipher(pipe));
    camas__live_inc(CAMAS__LIVE_CHANNEL);
    return ch;
}

static void
channel_free(CamasChannel *ch)
{
    g_assert(ch->closed);
    g_assert(ch->queue_head == NULL);
    g_assert(ch->drain_waiters == NULL || ch->drain_waiters->len == 0);
    g_clear_pointer(&ch->drain_waiters, g_ptr_array_unref);
    if (ch->request_destroy)
        ch->request_destroy(ch->request_data);
    if (ch->closed_destroy)
        ch->closed_destroy(ch->closed_data);
    while (ch->free_requests) {
        CamasRequest *req = ch->free_requests;
        ch->free_requests = req->next;
        g_free(req);
    }
    pending_clear(&ch->pending);
    names_clear(&ch->names);
    g_byte_array_unref(ch->rx);
    camas_codec_unref(ch->codec);
    g_clear_error(&ch->close_error);
    g_free(ch->peername);
    g_free(ch->trace_local);
    g_free(ch->trace_peer);
    g_free(ch->tls_version);
    g_free(ch->tls_cipher);
    g_free(ch);
    camas__live_dec(CAMAS__LIVE_CHANNEL);
}

CamasChannel *
camas_channel_ref(CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    channel->refcount++;
    return channel;
}

void
camas_channel_unref(CamasChannel *channel)
{
    if (!channel)
        return;
    g_return_if_fail(channel->refcount > 0);
    if (channel->refcount == 1 && !channel->closed) {
        /* The last reference closes; shutdown takes and drops a temporary one. */
        channel_shutdown(channel, NULL);
    }
    if (--channel->refcount == 0)
        channel_free(channel);
}

static gpointer
channel_object_ref(gpointer instance)
{
    return camas_channel_ref(instance);
}

static void
channel_object_unref(gpointer instance)
{
    camas_channel_unref(instance);
}

const CamasObjectType camas__channel_object_type = {
    .name = "Channel",
    .ref = channel_object_ref,
    .unref = channel_object_unref,
};

/* --- accessors ------------------------------------------------------------------------------ */

void
camas_channel_set_request_func(CamasChannel *channel, CamasRequestFunc func, gpointer user_data,
                               GDestroyNotify destroy)
{
    g_return_if_fail(channel != NULL);
    GDestroyNotify old_destroy = channel->request_destroy;
    gpointer old_data = channel->request_data;
    channel->request_func = func;
    channel->request_data = user_data;
    channel->request_destroy = destroy;
    if (old_destroy)
        old_destroy(old_data);
    if (func && channel->queue_head && !channel->closed &&
        camas_event_id_is_none(channel->drain_event))
        channel->drain_event = camas_loop_call_soon(channel->loop, drain_queue, channel);
}

void
camas_channel_set_closed_func(CamasChannel *channel, CamasChannelClosedFunc func,
                              gpointer user_data, GDestroyNotify destroy)
{
    g_return_if_fail(channel != NULL);
    GDestroyNotify old_destroy = channel->closed_destroy;
    gpointer old_data = channel->closed_data;
    channel->closed_func = func;
    channel->closed_data = user_data;
    channel->closed_destroy = destroy;
    if (old_destroy)
        old_destroy(old_data);
}

gboolean
camas_channel_is_closed(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, TRUE);
    return channel->closed;
}

const GError *
camas_channel_get_close_error(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->close_error;
}

const char *
camas_channel_get_peername(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->peername;
}

CamasCodec *
camas_channel_get_codec(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->codec;
}

CamasLoop *
camas_channel_get_loop(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->loop;
}

gsize
camas_channel_get_n_pending(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, 0);
    return pending_count(&channel->pending);
}

const char *
camas_channel_get_tls_version(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->tls_version;
}

const char *
camas_channel_get_tls_cipher(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    return channel->tls_cipher;
}

void
camas_channel_set_trace_names(CamasChannel *channel, const char *local, const char *peer)
{
    g_return_if_fail(channel != NULL);
    char *l = g_strdup(local ? local : ""), *p = g_strdup(peer ? peer : "");
    g_free(channel->trace_local);
    g_free(channel->trace_peer);
    channel->trace_local = l;
    channel->trace_peer = p;
    channel->trace_local_len = (guint32)strlen(l);
    channel->trace_peer_len = (guint32)strlen(p);
}

void
camas__channel_set_rpc(CamasChannel *channel, gpointer rpc)
{
    channel->rpc = rpc;
}

gpointer
camas__channel_get_rpc(const CamasChannel *channel)
{
    return channel->rpc;
}

/* --- write back-pressure ------------------------------------------------------------------- */

/* Completes every drain future: with success when the pipe is writable again (@ok), with
 * CAMAS_ERROR_CLOSED when the channel closed; in the order they were asked for. */
static void
drain_waiters_settle(CamasChannel *ch, gboolean ok)
{
    GPtrArray *waiters = ch->drain_waiters;
    if (!waiters || waiters->len == 0)
        return;
    ch->drain_waiters = NULL; /* drains asked for from the callbacks queue up anew */
    for (guint i = 0; i < waiters->len; i++) {
        CamasFuture *f = g_ptr_array_index(waiters, i);
        if (ok)
            camas_future_set_result(f, NULL);
        else
            camas_future_set_error(f, closed_error());
        camas_future_unref(f);
    }
    g_ptr_array_unref(waiters);
}

/* A drain future was cancelled: it stops waiting. */
static void
drain_cancelled(CamasFuture *future, gpointer data)
{
    CamasChannel *ch = data;
    if (ch->drain_waiters && g_ptr_array_remove(ch->drain_waiters, future))
        camas_future_unref(future);
}

gboolean
camas_channel_is_writable(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, FALSE);
    return !channel->closed && camas__pipe_is_writable(channel->pipe);
}

gsize
camas_channel_get_write_queued(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, 0);
    return channel->closed ? 0 : camas__pipe_get_write_queued(channel->pipe);
}

CamasFuture *
camas_channel_drain(CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, NULL);
    CamasFuture *future = camas_future_new(channel->loop);
    if (channel->closed) {
        camas_future_set_error(future, closed_error());
        return future;
    }
    if (camas__pipe_is_writable(channel->pipe)) {
        camas_future_set_result(future, NULL);
        return future;
    }
    if (!channel->drain_waiters)
        channel->drain_waiters = g_ptr_array_new();
    g_ptr_array_add(channel->drain_waiters, camas_future_ref(future));
    /* the hook needs no reference: closing the channel settles (and unhooks) every waiter */
    camas_future_set_cancel_func(future, drain_cancelled, channel, NULL);
    return future;
}

gboolean
camas_channel_drain_await(CamasChannel *channel, GError **error)
{
    g_return_val_if_fail(channel != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    if (camas_channel_is_writable(channel))
        return TRUE; /* no suspension: a sender below the mark runs straight on */
    g_autoptr(CamasFuture) future = camas_channel_drain(channel);
    return camas_task_await(future, NULL, error);
}

void
camas_channel_set_reading(CamasChannel *channel, gboolean reading)
{
    g_return_if_fail(channel != NULL);
    reading = !!reading;
    if (channel->closed || channel->paused == !reading)
        return;
    channel->paused = !reading;
    if (channel->started)
        camas__pipe_set_reading(channel->pipe, reading);
}

gboolean
camas_channel_is_reading(const CamasChannel *channel)
{
    g_return_val_if_fail(channel != NULL, FALSE);
    return !channel->closed && !channel->paused;
}

/* --- sending requests ----------------------------------------------------------------------- */

/* The hard limit of options->write_limit: would @frame take the queue past it? */
static gboolean
check_write_limit(CamasChannel *ch, const CamasChunk *frame, GError **error)
{
    gsize len, queued = camas__pipe_get_write_queued(ch->pipe);
    camas__chunk_get_data(frame, &len);
    if (queued + len <= ch->write_limit)
        return TRUE;
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                "write buffer full: %" G_GSIZE_FORMAT " bytes queued for %s, a message of %"
                G_GSIZE_FORMAT " bytes would pass the limit of %" G_GSIZE_FORMAT " bytes",
                queued, ch->peername, len, ch->write_limit);
    return FALSE;
}

CamasFuture *
camas__channel_send_full(CamasChannel *channel, const CamasValue *content, const char *method)
{
    CamasChannel *ch = channel;
    CamasFuture *future = camas_future_new(ch->loop);
    if (ch->closed) {
        camas_future_set_error(future, closed_error());
        return future;
    }
    /* aiomas allocates the id before encoding: a failed encode uses it up */
    guint64 id = ch->next_id++;
    CamasValue id_value = CAMAS__VALUE_STATIC_INT((gint64)id);
    if (id > G_MAXINT64)
        id_value.flags |= CAMAS__VALUE_UNSIGNED;
    GError *error = NULL;
    CamasChunk *frame = encode_frame(ch, CAMAS_MSG_REQUEST, &id_value, content, &error);
    if (!frame) {
        camas_future_set_error(future, error);
        return future;
    }
    if (G_UNLIKELY(ch->write_limit > 0) && !check_write_limit(ch, frame, &error)) {
        camas__chunk_release(frame);
        camas_future_set_error(future, error);
        return future;
    }
    const char *name = NULL;
    if (camas_loop_is_traced(ch->loop)) {
        gsize len;
        const guint8 *p = camas__chunk_get_data(frame, &len);
        gsize method_len = method ? strlen(method) : 0; /* measured once for both */
        trace(ch, CAMAS_TRACE_SEND, TRUE, (gint64)id, method, method_len,
              p + CAMAS_FRAME_HEADER_SIZE, len - CAMAS_FRAME_HEADER_SIZE, NULL);
        if (method)
            name = names_dup(&ch->names, method, method_len);
    }
    if (!camas__pipe_send_chunk(ch->pipe, frame, &error)) {
        names_release(&ch->names, name);
        camas_future_set_error(future, error);
        return future;
    }
    pending_insert(&ch->pending, id, camas_future_ref(future), name);
    return future;
}

CamasFuture *
camas_channel_send(CamasChannel *channel, const CamasValue *content)
{
    g_return_val_if_fail(channel != NULL, NULL);
    g_return_val_if_fail(content != NULL, NULL);
    return camas__channel_send_full(channel, content, NULL);
}

/* --- answering requests --------------------------------------------------------------------- */

static void
send_reply_frame(CamasChannel *ch, CamasMsgType type, CamasValue *id, CamasChunk *frame,
                 const char *text)
{
    if (camas_loop_is_traced(ch->loop)) {
        gsize len;
        const guint8 *p = camas__chunk_get_data(frame, &len);
        trace(ch, CAMAS_TRACE_SEND, TRUE, id_for_trace(id), NULL, 0, p + CAMAS_FRAME_HEADER_SIZE,
              len - CAMAS_FRAME_HEADER_SIZE, text);
    }
    /* A failing pipe reports itself through its closed callback; nothing to do here. */
    camas__pipe_send_chunk(ch->pipe, frame, NULL);
}

static void
send_failure_text(CamasChannel *ch, CamasValue *id, const char *text)
{
    CamasValue text_value = {
        .type = CAMAS_VALUE_STR,
        .flags = CAMAS__VALUE_STATIC,
        .u.str = {strlen(text), text},
    };
    GError *error = NULL;
    CamasChunk *frame = encode_frame(ch, CAMAS_MSG_EXCEPTION, id, &text_value, &error);
    if (!frame) {
        /* Only a failure text above the frame limit gets here: send its last line alone. */
        g_clear_error(&error);
        const char *last = text + strlen(text);
        if (last > text && last[-1] == '\n')
            last--;
        while (last > text && last[-1] != '\n')
            last--;
        text_value.u.str.data = last;
        text_value.u.str.len = strlen(last);
        frame = encode_frame(ch, CAMAS_MSG_EXCEPTION, id, &text_value, &error);
        if (!frame) {
            g_warning("cannot send a failure reply to %s: %s", ch->peername, error->message);
            g_error_free(error);
            return;
        }
    }
    send_reply_frame(ch, CAMAS_MSG_EXCEPTION, id, frame, text);
}

/* The failure text for @error: an RPC call gets a Python-like traceback header. */
static char *
failure_text(const CamasRequest *req, const GError *error)
{
    g_autofree char *text = camas_error_to_remote_text(error);
    if (!req->rpc_path || g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_REMOTE))
        return g_steal_pointer(&text);
    return g_strdup_printf("Traceback (most recent call last):\n"
                           "  File \"camas/rpc.c\", line 1, in %s\n%s",
                           req->rpc_path, text);
}

void
camas_request_reply(CamasRequest *request, const CamasValue *result)
{
    g_return_if_fail(request != NULL);
    CamasChannel *ch = request->channel;
    if (!ch->closed) {
        const CamasValue *value = result ? result : &camas__value_null;
        GError *error = NULL;
        CamasChunk *frame = encode_frame(ch, CAMAS_MSG_RESULT, request->id, value, &error);
        if (frame) {
            send_reply_frame(ch, CAMAS_MSG_RESULT, request->id, frame, NULL);
        } else {
            /* as aiomas: the result cannot travel, so the caller gets the reason instead */
            g_autofree char *text = failure_text(request, error);
            g_error_free(error);
            send_failure_text(ch, request->id, text);
        }
    }
    request_release(request);
}

void
camas_request_reply_take(CamasRequest *request, CamasValue *result)
{
    camas_request_reply(request, result);
    if (result)
        camas_value_unref(result);
}

void
camas_request_fail_raw(CamasRequest *request, const char *text)
{
    g_return_if_fail(request != NULL);
    g_return_if_fail(text != NULL);
    CamasChannel *ch = request->channel;
    if (!ch->closed)
        send_failure_text(ch, request->id, text);
    request_release(request);
}

void
camas_request_fail(CamasRequest *request, const GError *error)
{
    g_return_if_fail(request != NULL);
    g_return_if_fail(error != NULL);
    g_autofree char *text = failure_text(request, error);
    camas_request_fail_raw(request, text);
}

void
camas_request_fail_text(CamasRequest *request, const char *name, const char *message)
{
    g_return_if_fail(request != NULL);
    g_return_if_fail(name != NULL && message != NULL);
    g_autofree char *text = NULL;
    if (request->rpc_path)
        text = g_strdup_printf("Traceback (most recent call last):\n"
                               "  File \"camas/rpc.c\", line 1, in %s\n%s: %s\n",
                               request->rpc_path, name, message);
    else
        text = g_strdup_printf("%s: %s\n", name, message);
    camas_request_fail_raw(request, text);
}

void
camas_request_free(CamasRequest *request)
{
    if (!request)
        return;
    camas_request_fail_text(request, "RuntimeError", "request dropped without a reply");
}

CamasValue *
camas_request_get_content(const CamasRequest *request)
{
    g_return_val_if_fail(request != NULL, NULL);
    return request->content;
}

CamasValue *
camas_request_get_id(const CamasRequest *request)
{
    g_return_val_if_fail(request != NULL, NULL);
    return request->id;
}

CamasChannel *
camas_request_get_channel(const CamasRequest *request)
{
    g_return_val_if_fail(request != NULL, NULL);
    return request->channel;
}

void
camas__request_set_rpc_path(CamasRequest *request, const char *path)
{
    request->rpc_path = path;
}

const char *
camas__request_get_rpc_path(const CamasRequest *request)
{
    return request->rpc_path;
}

/* --- default trace names -------------------------------------------------------------------- */

static guint64
next_client_number(const char *address)
{
    static GMutex lock;
    static GHashTable *counts; /* address -> count; only looked up, never iterated */
    g_mutex_lock(&lock);
    if (!counts)
        counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gpointer value = NULL;
    guint64 n = 0;
    if (g_hash_table_lookup_extended(counts, address, NULL, &value))
        n = GPOINTER_TO_SIZE(value);
    g_hash_table_insert(counts, g_strdup(address), GSIZE_TO_POINTER(n + 1));
    g_mutex_unlock(&lock);
    return n;
}

/* --- opening -------------------------------------------------------------------------------- */

typedef struct {
    gint refcount;
    CamasLoop *loop;
    CamasAddress *address;
    char *address_text; /* canonical */
    CamasCodec *codec;
    CamasChannelOptions options; /* the TLS context is referenced */
    CamasFuture *future;         /* a reference while the operation runs; NULL once over */
    CamasEventId retry;
    CamasPipe *dialing; /* the pending dial (holding a reference on the op), or NULL */
    guint attempts;
    CamasChannelSetupFunc setup;
    gpointer setup_data;
    GDestroyNotify setup_destroy;
} OpenOp;

static OpenOp *
open_op_ref(OpenOp *op)
{
    op->refcount++;
    return op;
}

static void
open_op_unref(gpointer data)
{
    OpenOp *op = data;
    if (--op->refcount > 0)
        return;
    g_assert(op->future == NULL);
    if (op->setup_destroy)
        op->setup_destroy(op->setup_data);
    camas_address_free(op->address);
    g_free(op->address_text);
    camas_codec_unref(op->codec);
    if (op->options.transport.tls)
        camas_tls_context_unref(op->options.transport.tls);
    g_free(op);
}

static void open_attempt(OpenOp *op);

static void
open_retry(CamasLoop *loop, gpointer data)
{
    OpenOp *op = data;
    op->retry = CAMAS_EVENT_ID_NONE;
    if (op->future)
        open_attempt(op);
}

static void
open_dialed(CamasPipe *pipe, const GError *error, gpointer data)
{
    OpenOp *op = data;
    op->dialing = NULL;
    g_assert(op->future != NULL); /* a cancel closes the pending dial, so we are not called */
    if (!pipe) {
        gint64 now = camas_loop_now(op->loop);
        gint64 deadline = op->options.connect_deadline;
        if (g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED) &&
            now < deadline) {
            gint64 interval = op->options.retry_interval > 0
                                  ? op->options.retry_interval
                                  : CAMAS_CHANNEL_DEFAULT_RETRY_INTERVAL;
            gint64 at = now > deadline - interval ? deadline : now + interval;
            op->retry = camas_loop_call_at_full(op->loop, at, open_retry, open_op_ref(op),
                                                open_op_unref);
        } else {
            CamasFuture *future = g_steal_pointer(&op->future);
            GError *e = op->attempts > 1
                            ? g_error_new(error->domain, error->code, "%s (%u attempts)",
                                          error->message, op->attempts)
                            : g_error_copy(error);
            camas_future_set_error(future, e);
            camas_future_unref(future);
        }
        open_op_unref(op);
        return;
    }

    CamasChannel *ch = channel_new(op->loop, pipe, op->codec, &op->options);
    g_autofree char *local = g_strdup_printf("%s#c%" G_GUINT64_FORMAT, op->address_text,
                                             next_client_number(op->address_text));
    camas_channel_set_trace_names(ch, local, op->address_text);
    if (op->setup)
        op->setup(ch, op->setup_data);
    channel_start(ch);
    CamasFuture *future = g_steal_pointer(&op->future);
    camas_future_set_result(future, camas_value_new_object(&camas__channel_object_type, ch));
    camas_future_unref(future);
    camas_channel_unref(ch);
    open_op_unref(op);
}

static void
open_attempt(OpenOp *op)
{
    op->attempts++;
    op->dialing = camas__transport_dial(op->loop, op->address, &op->options.transport,
                                        open_dialed, open_op_ref(op));
}

static void
open_cancelled(CamasFuture *future, gpointer data)
{
    OpenOp *op = data;
    if (!camas_event_id_is_none(op->retry)) {
        camas_loop_cancel(op->loop, op->retry); /* drops the event's reference */
        op->retry = CAMAS_EVENT_ID_NONE;
    }
    if (op->dialing) {
        /* cancels the attempt: open_dialed will not run, so its reference is ours to drop */
        camas__pipe_close(g_steal_pointer(&op->dialing));
        open_op_unref(op);
    }
    /* the caller of cancel holds a reference for the duration of the call */
    g_clear_pointer(&op->future, camas_future_unref);
}

CamasFuture *
camas__channel_open_full(CamasLoop *loop, const char *address, CamasCodec *codec,
                         const CamasChannelOptions *options, CamasChannelSetupFunc setup,
                         gpointer setup_data, GDestroyNotify setup_destroy, GError **error)
{
    CamasAddress *addr = camas_address_parse(address, error);
    if (!addr)
        return NULL;
    OpenOp *op = g_new0(OpenOp, 1);
    op->refcount = 1;
    op->loop = loop;
    op->address = addr;
    op->address_text = camas_address_to_string(addr);
    op->codec = camas_codec_ref(codec);
    if (options)
        op->options = *options;
    if (op->options.transport.tls)
        camas_tls_context_ref(op->options.transport.tls);
    op->setup = setup;
    op->setup_data = setup_data;
    op->setup_destroy = setup_destroy;
    CamasFuture *future = camas_future_new(loop);
    op->future = camas_future_ref(future);
    camas_future_set_cancel_func(future, open_cancelled, open_op_ref(op), open_op_unref);
    open_attempt(op);
    open_op_unref(op);
    return future;
}

CamasFuture *
camas_channel_open(CamasLoop *loop, const char *address, CamasCodec *codec,
                   const CamasChannelOptions *options, GError **error)
{
    g_return_val_if_fail(loop != NULL, NULL);
    g_return_val_if_fail(address != NULL, NULL);
    g_return_val_if_fail(codec != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    return camas__channel_open_full(loop, address, codec, options, NULL, NULL, NULL, error);
}

CamasChannel *
camas_channel_open_finish(CamasFuture *future, GError **error)
{
    g_return_val_if_fail(future != NULL, NULL);
    g_return_val_if_fail(camas_future_is_done(future), NULL);
    g_autoptr(CamasValue) value = NULL;
    if (!camas_future_propagate(future, &value, error))
        return NULL;
    g_return_val_if_fail(value != NULL &&
                             camas_value_get_type(value) == CAMAS_VALUE_OBJECT &&
                             camas_value_object_get_type(value) == &camas__channel_object_type,
                         NULL);
    return camas_channel_ref(camas_value_object_get_instance(value));
}

/* --- servers -------------------------------------------------------------------------------- */

static void
server_accepted(CamasListener *listener, CamasPipe *pipe, gpointer user_data)
{
    CamasChannelServer *server = user_data;
    if (server->closed) {
        camas__pipe_close(pipe);
        return;
    }
    CamasChannel *ch = channel_new(server->loop, pipe, server->codec, &server->options);
    g_autofree char *peer = g_strdup_printf("%s#s%" G_GUINT64_FORMAT, server->address,
                                            server->n_accepted++);
    camas_channel_set_trace_names(ch, server->address, peer);
    ch->server = server;
    g_ptr_array_add(server->channels, ch); /* the server owns the first reference */
    camas_channel_ref(ch);
    if (server->connected)
        server->connected(server, ch, server->user_data);
    if (!ch->closed)
        channel_start(ch);
    camas_channel_unref(ch);
}

/* A server channel closed: the server lets go of it. */
static void
server_forget(CamasChannelServer *server, CamasChannel *ch)
{
    ch->server = NULL;
    if (g_ptr_array_remove(server->channels, ch))
        camas_channel_unref(ch);
}

CamasChannelServer *
camas_channel_server_new(CamasLoop *loop, const char *address, CamasCodec *codec,
                         const CamasChannelOptions *options, CamasChannelConnectedFunc connected,
                         gpointer user_data, GDestroyNotify destroy, GError **error)
{
    g_return_val_if_fail(loop != NULL, NULL);
    g_return_val_if_fail(address != NULL, NULL);
    g_return_val_if_fail(codec != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    g_autoptr(CamasAddress) addr = camas_address_parse(address, error);
    if (!addr)
        return NULL;
    CamasChannelServer *server = g_new0(CamasChannelServer, 1);
    server->loop = loop;
    if (options)
        server->options = *options;
    server->listener = camas__transport_listen(loop, addr, &server->options.transport,
                                               server_accepted, server, error);
    if (!server->listener) {
        g_free(server);
        return NULL;
    }
    if (server->options.transport.tls)
        camas_tls_context_ref(server->options.transport.tls);
    server->codec = camas_codec_ref(codec);
    server->address = camas_address_to_string(camas__listener_get_address(server->listener));
    server->connected = connected;
    server->user_data = user_data;
    server->destroy = destroy;
    server->channels = g_ptr_array_new();
    camas__live_inc(CAMAS__LIVE_CHANNEL_SERVER);
    return server;
}

const char *
camas_channel_server_get_address(const CamasChannelServer *server)
{
    g_return_val_if_fail(server != NULL, NULL);
    return server->address;
}

guint
camas_channel_server_get_n_channels(const CamasChannelServer *server)
{
    g_return_val_if_fail(server != NULL, 0);
    return server->channels->len;
}

CamasChannel *
camas_channel_server_get_channel(const CamasChannelServer *server, guint index)
{
    g_return_val_if_fail(server != NULL, NULL);
    g_return_val_if_fail(index < server->channels->len, NULL);
    return g_ptr_array_index(server->channels, index);
}

void
camas_channel_server_close(CamasChannelServer *server)
{
    g_return_if_fail(server != NULL);
    if (server->closed)
        return;
    server->closed = TRUE;
    camas__listener_close(server->listener);
    server->listener = NULL;
    /* Close in accept order; each close removes the channel from the array. */
    while (server->channels->len > 0) {
        CamasChannel *ch = camas_channel_ref(g_ptr_array_index(server->channels, 0));
        camas_channel_close(ch);
        if (ch->server) /* closed earlier but not yet forgotten: cannot happen, be safe */
            server_forget(server, ch);
        camas_channel_unref(ch);
    }
}

void
camas_channel_server_free(CamasChannelServer *server)
{
    if (!server)
        return;
    camas_channel_server_close(server);
    if (server->destroy)
        server->destroy(server->user_data);
    g_ptr_array_unref(server->channels);
    camas_codec_unref(server->codec);
    if (server->options.transport.tls)
        camas_tls_context_unref(server->options.transport.tls);
    g_free(server->address);
    g_free(server);
    camas__live_dec(CAMAS__LIVE_CHANNEL_SERVER);
}

/* --- task style ------------------------------------------------------------------------------ */

CamasChannel *
camas_channel_open_await(CamasLoop *loop, const char *address, CamasCodec *codec,
                         const CamasChannelOptions *options, GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    g_autoptr(CamasFuture) future = camas_channel_open(loop, address, codec, options, error);
    if (!future)
        return NULL;
    if (!camas_task_await(future, NULL, error))
        return NULL;
    return camas_channel_open_finish(future, error);
}

CamasValue *
camas_channel_send_await(CamasChannel *channel, const CamasValue *content, GError **error)
{
    g_return_val_if_fail(channel != NULL && content != NULL, NULL);
    g_autoptr(CamasFuture) future = camas_channel_send(channel, content);
    CamasValue *result = NULL;
    if (!camas_task_await(future, &result, error))
        return NULL;
    return result ? result : camas_value_new_null();
}
