/* SPDX-License-Identifier: MIT */
/*
 * LocalQueue link models: simulated network delays between the in-process ends of LocalQueue
 * connections (local://ID).  A loop may carry one link model; LocalQueue asks it, once per
 * direction of each new connection, for the state of that link, and then, for every frame sent
 * on a direction that has one, for the frame's delay in ticks.  The scenario runner builds its
 * model from a scenario file's `links` (docs/scenarios.md); a hand-built simulation may install
 * its own.
 *
 * Ordering: the frames of one connection direction arrive in the order they were sent: each at
 * max(send time + delay, the arrival time of the frame before it), equal times in send order.
 * The end of stream (the sender closed) travels the same way, after the last frame.  Setting up
 * a connection is not delayed.  Directions whose link is NULL, and every connection of a loop
 * without a model, deliver exactly as without this header: scheduled for now, in send order.
 */
#pragma once

#include <camas/loop.h>

G_BEGIN_DECLS

/**
 * CamasLinkModelFuncs: what a link model does.  Both functions are called from inside
 * transport calls (a connection being set up, a send, a close): they must not call back into
 * camas (no scheduling, no sends), and must be deterministic (draw from seeded streams, see
 * camas/rng.h) for runs to be reproducible.
 */
typedef struct {
    /* The state of the link carrying frames from @from to @to, or NULL for no delay in that
     * direction.  @from and @to are queue ids: the accepting end's is the id its server is
     * bound to; the dialing end's is the id of the address it gave as
     * CamasTransportOptions.local_address (a container gives its own), or NULL when it gave
     * none or not a local:// one.  Called twice per connection, dialer to server first, from the
     * event that connects them.  The state is lent to @delay until the model's destroy runs.
     * Mandatory. */
    gpointer (*link)(const char *from, const char *to, gpointer user_data);
    /* The delay in ticks of the next frame (or end of stream) sent on @link, at the current
     * time; negative values count as 0.  Mandatory. */
    gint64 (*delay)(gpointer link, gpointer user_data);
} CamasLinkModelFuncs;

/**
 * camas_localqueue_set_link_model:
 * @loop: the loop whose LocalQueue connections the model applies to
 * @funcs: (nullable): the model (copied); NULL removes the loop's model
 * @user_data: passed to @funcs
 * @destroy: (nullable): called with @user_data once the model is replaced or removed and every
 *           connection made under it has closed
 *
 * Installs a link model for connections made from now on; connections made earlier keep the
 * model (or none) they were made with.  A loop with a model must have it removed (NULL) before
 * camas_loop_free(), as it must have its listeners closed.  Call it from the loop's thread; the
 * model's functions and @destroy run there too.
 */
CAMAS_API void camas_localqueue_set_link_model(CamasLoop *loop, const CamasLinkModelFuncs *funcs,
                                               gpointer user_data, GDestroyNotify destroy);

G_END_DECLS
