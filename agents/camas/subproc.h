/* SPDX-License-Identifier: MIT */
/*
 * Multi-process containers (aiomas.subproc; wire-protocol.md §9.5).  A parent starts a
 * container in a child process — the `camas container --manager` program, re-executed with
 * fork+exec and a READY handshake on its stdout — whose agent "0" is a Manager:
 *
 *   spawn(type, *args, **kwargs) -> [proxy, url]   creates an agent of a registered type
 *                                                  (camas/registry.h) in the child's container
 *   set_time(t)                                    forwards to the child's external clock and
 *                                                  answers once everything due up to t ran
 *   stop()                                         shuts the child's container down; the child
 *                                                  exits with status 0
 *
 * so a parent can build a distributed system and distribute simulation time to its children.
 * The parent learns of a child that exits or crashes (the exit future fails, calls on its
 * connection fail with CAMAS_ERROR_CLOSED); a child whose parent dies exits too (its stdin
 * closes).
 *
 * The parent's loop must be attached to a GMainContext (a real-time clock does that, or
 * camas_loop_attach()): the handshake, the child watch and the sockets run there.
 */
#pragma once

#include <camas/container.h>

G_BEGIN_DECLS

/* --- the child's side ------------------------------------------------------------------------ */

/* The Manager agent type (agent "0" of `camas container --manager`); not in the registry. */
CAMAS_API extern const CamasAgentClass camas_subproc_manager_class;

/**
 * camas_subproc_manager_run_pending:
 * @manager: an agent of camas_subproc_manager_class
 * @stop: (out): set to TRUE once stop() was called (the host then shuts down)
 *
 * The host loop's half of set_time() and stop(): the Manager's methods only record what was
 * asked (and camas_loop_stop() the loop), because advancing the clock runs events and must not
 * happen inside the event that delivered the request.  The host calls this between loop
 * iterations: it runs a pending set_time (camas_clock_set_time()) and then answers it.
 * Returns: TRUE when it did something.
 */
CAMAS_API gboolean camas_subproc_manager_run_pending(CamasAgent *manager, gboolean *stop);

/* --- the parent's side ----------------------------------------------------------------------- */

typedef struct _CamasSubproc CamasSubproc;

/* A line the child printed after READY (its agents' log lines), lent. */
typedef void (*CamasSubprocOutputFunc)(CamasSubproc *subproc, const char *line, gpointer user_data);

typedef struct {
    /* The child container's address; NULL = "tcp://127.0.0.1:0" (a free port). */
    const char *listen;
    /* "external" (default: the parent distributes time), "realtime" or "afap". */
    const char *clock;
    /* The child container's stream name and seed (see CamasContainerOptions). */
    const char *name;
    guint64 seed;
    /* NULL = the parent container's codec. */
    const char *codec;
    /* TLS for the child's container (its server and its outgoing connections); NULL = none. */
    const CamasTlsCerts *tls;
    /* The camas program to run; NULL = $CAMAS_EXE if set, else "camas" on the PATH. */
    const char *program;
    /* Real-time seconds to wait for READY; 0 = 30. */
    double timeout;
    /* Told about output lines after READY; NULL = they are dropped. */
    CamasSubprocOutputFunc output;
    gpointer output_data;
} CamasSubprocOptions;

/**
 * camas_subproc_start:
 * @parent: (transfer none): the container that talks to the child (its connection to the
 *          child's manager is one of @parent's connections)
 * @options: (nullable)
 *
 * Starts the child, waits (without blocking the loop) for its READY line, and connects to its
 * manager.  Returns: (transfer full) a future that succeeds with an object value holding the
 * subprocess (take it with camas_subproc_start_finish()), or fails with CAMAS_ERROR_FAILED
 * (the child exited before READY: its status; or it did not get ready in time: it is killed),
 * or the connect's error.  NULL with CAMAS_ERROR_INVALID (no GMainContext, bad options) or
 * CAMAS_ERROR_FAILED (the program cannot be run).
 */
CAMAS_API CamasFuture *camas_subproc_start(CamasContainer *parent,
                                           const CamasSubprocOptions *options, GError **error);
CAMAS_API CamasSubproc *camas_subproc_start_finish(CamasFuture *future, GError **error);
/* Task style. */
CAMAS_API CamasSubproc *camas_subproc_start_await(CamasContainer *parent,
                                                  const CamasSubprocOptions *options,
                                                  GError **error);

CAMAS_API CamasSubproc *camas_subproc_ref(CamasSubproc *subproc);
/* The last reference kills a child that is still running (SIGKILL) and reaps it. */
CAMAS_API void camas_subproc_unref(CamasSubproc *subproc);

/* (transfer none): a proxy for the child's manager (agent "0"). */
CAMAS_API CamasProxy *camas_subproc_get_manager(CamasSubproc *subproc);
/* (transfer none): the manager's URL, e.g. "tcp://127.0.0.1:40123/0". */
CAMAS_API const char *camas_subproc_get_url(CamasSubproc *subproc);
CAMAS_API GPid camas_subproc_get_pid(CamasSubproc *subproc);
/* TRUE until the parent saw the child exit. */
CAMAS_API gboolean camas_subproc_is_running(CamasSubproc *subproc);

/**
 * camas_subproc_get_exit_future:
 * Returns: (transfer none): a future that succeeds (result NULL) when the child exits with
 * status 0, and fails with CAMAS_ERROR_CLOSED naming the status or signal otherwise (a crash).
 */
CAMAS_API CamasFuture *camas_subproc_get_exit_future(CamasSubproc *subproc);

/**
 * camas_subproc_spawn:
 * @type: a registered agent type name ("Callee")
 * @args, @kwargs: (nullable): init's arguments
 * Returns: (transfer full): a future for [proxy, url] (the manager's spawn()); an unknown type
 * fails with CAMAS_ERROR_REMOTE whose text ends in 'LookupError: Unknown agent type "X"
 * (known: ...)'.
 */
CAMAS_API CamasFuture *camas_subproc_spawn(CamasSubproc *subproc, const char *type,
                                           const CamasValue *args, const CamasValue *kwargs);
/* (transfer full): a future for the manager's set_time(@t) (done when the child ran everything
 * due up to @t). */
CAMAS_API CamasFuture *camas_subproc_set_time(CamasSubproc *subproc, double t);
/* (transfer full): asks the manager to stop; the future is done when the child has exited (as
 * camas_subproc_get_exit_future()). */
CAMAS_API CamasFuture *camas_subproc_stop(CamasSubproc *subproc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasSubproc, camas_subproc_unref)

G_END_DECLS
