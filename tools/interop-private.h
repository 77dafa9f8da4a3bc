/* SPDX-License-Identifier: MIT */
/*
 * `camas interop serve|probe`: the conformance service of conformance-service.md and the
 * checklist that probes it.  cmd-interop.c parses the command line both share and drives the
 * real-time loop helpers below; interop-serve.c implements the services, interop-probe.c the
 * client checks.  Private to the `camas` program.
 */
#pragma once

#include <camas/camas.h>

#include "camas.h"

G_BEGIN_DECLS

/* The parsed command line shared by serve and probe.  Strings are owned. */
typedef struct {
    const char *cmd;    /* "interop serve" or "interop probe", for messages */
    char *codec;        /* the canonical codec name: json, msgpack, msgpack-blosc */
    char *channel;      /* --channel ADDR (as given), or NULL */
    char *rpc;          /* --rpc ADDR, or NULL */
    char *agent;        /* --agent ADDR, or NULL */
    char *tls_ca;       /* --tls CAFILE,CERTFILE,KEYFILE, or all three NULL */
    char *tls_cert;
    char *tls_key;
    double timeout;     /* probe: seconds each check may take (--timeout), default 10 */
    gboolean verbose;   /* probe: print the value that failed a check in full (--verbose) */
    char **only;        /* probe: run only checks matching one of these globs (--only), or NULL */
} CamasInteropOptions;

/* Ticks per second (the loop's time unit is the nanosecond). */
#define CAMAS_INTEROP_SECOND G_GINT64_CONSTANT(1000000000)

/**
 * camas__interop_parse:
 * @argv: the arguments after `interop serve` / `interop probe`
 * @probe: TRUE for probe (accepts --timeout, --only and --verbose)
 *
 * Fills @opts.  Returns: CAMAS_EXIT_OK, or CAMAS_EXIT_USAGE after printing one line naming the
 * bad flag or value on stderr (and then @opts holds nothing to free).
 */
int camas__interop_parse(int argc, char **argv, gboolean probe, CamasInteropOptions *opts);
void camas__interop_options_clear(CamasInteropOptions *opts);

/* Whether a parsed address is one TLS applies to (TCP; Unix sockets always stay plain, as in
 * aiomas).  @address was validated by camas__interop_parse(). */
gboolean camas__interop_address_is_tcp(const char *address);

/* (transfer full): @address (validated by camas__interop_parse()) in its canonical form:
 * "tcp://HOST:PORT", "tcp://[V6]:PORT", "ipc://[PATH]" (agent URLs are built from it). */
char *camas__interop_canonical_address(const char *address);

/* How long a closed socket may linger at most (transports/socket.c: it flushes, then waits for
 * the peer's end for up to 30 s), plus slack: waiting this long always settles. */
#define CAMAS_INTEROP_LINGER_BOUND_US (40 * G_USEC_PER_SEC)

/**
 * camas__interop_wait_pipes:
 * @abort: (nullable): polled between iterations; TRUE stops waiting (a second stop signal)
 * @cmd: for the notice printed on stderr when closing takes longer than a second (a peer that
 *       keeps its end open), naming what the user can do
 *
 * Iterates the loop's context until every socket of the process has finished lingering (closed
 * sockets flush and wait for the peer's end) or @deadline (monotonic µs) passed, so that the
 * loop can be freed with nothing left behind.  Returns FALSE when the deadline passed or
 * @abort was set: then sockets are still attached to the context, which must not be freed.
 */
gboolean camas__interop_wait_pipes(CamasClock *clock, gint64 deadline, const gboolean *abort,
                                   const char *cmd);

/* Prints every counted camas object still alive on stderr ("camas interop serve: 2 channel
 * object(s) leaked").  Returns TRUE when nothing leaked. */
gboolean camas__interop_check_leaks(const char *cmd);

int camas__interop_serve(const CamasInteropOptions *opts);
int camas__interop_probe(const CamasInteropOptions *opts);

G_END_DECLS
