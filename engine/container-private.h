/* SPDX-License-Identifier: MIT */
/*
 * What the container (engine/container.c) and the agent base (agents/agent.c) share: the
 * container's layout and the agent life-cycle hooks.  The subprocess manager (agents/subproc.c)
 * uses the internal reference counting too.
 */
#pragma once

#include <camas/container.h>

G_BEGIN_DECLS

struct _CamasContainer {
    gint ref_count;        /* the owner's reference, one per live agent, one per running op */
    gboolean closed;       /* shut down */
    gboolean owned;        /* the owner's reference is still held */
    CamasLoop *loop;       /* the clock's loop (not owned) */
    CamasClock *clock;     /* owned reference */
    CamasCodec *codec;     /* owned */
    CamasAddressKind kind; /* of the listen address */
    char *address;         /* base address of agent URLs: "tcp://host:port", "local://q" */
    char *base_url;        /* address + "/" */
    char *name;            /* stream name prefix (options.name or address) */
    guint64 seed;
    CamasTlsContext *tls_server, *tls_client; /* owned, nullable */
    gint64 connect_timeout;                   /* ticks, 0 = one attempt */
    gsize max_frame_size;
    CamasService *root;     /* the Container service (owned; the root holds a container ref) */
    CamasService *agents;   /* the agents dict (owned by root) */
    CamasRpcServer *server; /* owned */
    GPtrArray *agent_list;  /* CamasAgent* by id, not owned; NULL for failed ids */
    GHashTable *conns;      /* address -> ConnEntry (lookup only, never iterated) */
    GPtrArray *conn_list;   /* ConnEntry in creation order (owns one reference each) */
    GHashTable *classes;    /* CamasAgentClass* -> CamasServiceClass* (lookup only) */
    guint n_tasks;          /* live agent tasks and start futures */
    CamasAgentLogFunc log_func;
    gpointer log_data;
    GDestroyNotify log_destroy;
};

void camas__container_ref(CamasContainer *container);
void camas__container_unref(CamasContainer *container);

/* Hands a log line to the container's log function. */
void camas__container_log(CamasContainer *container, CamasAgent *agent, const char *line);

/* agents/agent.c: a new agent with one reference (held by its service, see container.c); takes
 * a container reference.  @url is taken. */
CamasAgent *camas__agent_new(CamasContainer *container, const CamasAgentClass *klass, guint32 aid,
                             char *url, guint32 aid_offset);

/* agents/agent.c: cancels the agent's tasks and start futures (container shutdown). */
void camas__agent_cancel_tasks(CamasAgent *agent);

/* agents/agent.c: the RPC method standing for every task-style method of an agent type: finds
 * the method by the request path's last component and runs it in a task owned by the agent. */
void camas__agent_task_method(gpointer instance, CamasRequest *request, const CamasValue *args,
                              const CamasValue *kwargs);

G_END_DECLS
