/* SPDX-License-Identifier: MIT */
/*
 * `camas interop serve|probe`: the interop conformance tool (conformance-service.md).  `serve`
 * runs the fixed conformance service on the channel and RPC layers so that any aiomas peer can
 * be checked against camas; `probe` runs the checklist as a client against any server that
 * implements the service (camas itself, or Python aiomas).  This file parses the command line
 * both share and holds the helpers both use; interop-serve.c and interop-probe.c do the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop-private.h"
#include "live-private.h"

#define CMD "interop"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: camas interop serve|probe --codec json|msgpack|msgpack-blosc\n"
            "           [--channel ADDR] [--rpc ADDR] [--agent ADDR]\n"
            "           [--tls CAFILE,CERTFILE,KEYFILE]\n"
            "           [--timeout SECONDS] [--only GLOB,...] [--verbose]   (probe)\n"
            "\n"
            "serve   runs the conformance service on every layer given, prints one line\n"
            "        '<layer> <address>' per server, then READY, and runs until SIGINT/SIGTERM.\n"
            "probe   checks a server that implements the service: prints 'PASS <check>' or\n"
            "        'FAIL <check>: <why>' per check and 'N passed, M failed'; exit status 0\n"
            "        only if nothing failed.\n"
            "\n"
            "ADDR      HOST:PORT, [::1]:PORT, tcp://HOST:PORT or unix:PATH (ipc://[PATH]);\n"
            "          serve binds port 0 to a free port.\n"
            "--tls     aiomas' SSLCerts: TLS 1.2+, ECDHE + AES-GCM, certificates on both sides\n"
            "          checked against CAFILE (TCP addresses only; Unix sockets stay plain).\n"
            "--timeout probe: seconds each check may take (default 10).\n"
            "--only    probe: run only the checks whose names match one of the globs\n"
            "          (e.g. 'rpc.*,channel.raw.*').\n"
            "--verbose probe: print the values that failed a check in full.\n"
            "--agent   the agent container: agents \"0\" (EchoAgent) and \"1\" (CounterAgent).\n"
            "          The probe runs a container of its own next to it (same host, port 0;\n"
            "          a temporary socket for unix:) that the server's agents call back.\n");
}

static int
bad(const CamasInteropOptions *opts, const char *format, ...) G_GNUC_PRINTF(2, 3);

static int
bad(const CamasInteropOptions *opts, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    return camas_cmd_fail(opts->cmd, "%s", msg);
}

void
camas__interop_options_clear(CamasInteropOptions *opts)
{
    g_clear_pointer(&opts->codec, g_free);
    g_clear_pointer(&opts->channel, g_free);
    g_clear_pointer(&opts->rpc, g_free);
    g_clear_pointer(&opts->agent, g_free);
    g_clear_pointer(&opts->tls_ca, g_free);
    g_clear_pointer(&opts->tls_cert, g_free);
    g_clear_pointer(&opts->tls_key, g_free);
    g_clear_pointer(&opts->only, g_strfreev);
}

/* A server or peer address: any camas_address_parse() form except the in-process LocalQueue. */
static gboolean
check_address(const CamasInteropOptions *opts, const char *flag, const char *value, int *rc)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasAddress) a = camas_address_parse(value, &error);
    if (a == NULL) {
        *rc = bad(opts, "%s: bad address '%s': %s", flag, value, error->message);
        return FALSE;
    }
    if (a->kind == CAMAS_ADDRESS_LOCAL) {
        *rc = bad(opts, "%s: '%s' is an in-process LocalQueue address; give HOST:PORT or "
                        "unix:PATH", flag, value);
        return FALSE;
    }
    return TRUE;
}

gboolean
camas__interop_address_is_tcp(const char *address)
{
    g_autoptr(CamasAddress) a = camas_address_parse(address, NULL);
    return a != NULL && a->kind == CAMAS_ADDRESS_TCP;
}

char *
camas__interop_canonical_address(const char *address)
{
    g_autoptr(CamasAddress) a = camas_address_parse(address, NULL);
    return a ? camas_address_to_string(a) : g_strdup(address);
}

static gboolean
parse_tls(CamasInteropOptions *opts, const char *value, int *rc)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);
    if (g_strv_length(parts) != 3 || !*parts[0] || !*parts[1] || !*parts[2]) {
        *rc = bad(opts, "--tls: expected CAFILE,CERTFILE,KEYFILE, got '%s'", value);
        return FALSE;
    }
    for (int i = 0; i < 3; i++) {
        if (!g_file_test(parts[i], G_FILE_TEST_IS_REGULAR)) {
            static const char *const what[] = {"CA file", "certificate file", "key file"};
            *rc = bad(opts, "--tls: %s '%s' does not exist or is not a file", what[i], parts[i]);
            return FALSE;
        }
    }
    opts->tls_ca = g_strdup(parts[0]);
    opts->tls_cert = g_strdup(parts[1]);
    opts->tls_key = g_strdup(parts[2]);
    return TRUE;
}

static gboolean
parse_timeout(CamasInteropOptions *opts, const char *value, int *rc)
{
    char *end = NULL;
    double t = g_ascii_strtod(value, &end);
    if (end == value || *end != '\0' || !(t > 0) || t > 3600) {
        *rc = bad(opts, "--timeout: expected seconds in (0, 3600], got '%s'", value);
        return FALSE;
    }
    opts->timeout = t;
    return TRUE;
}

static gboolean
parse_codec(CamasInteropOptions *opts, const char *value, int *rc)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasCodec) codec = camas_codec_new(value, &error);
    if (codec == NULL) {
        *rc = bad(opts, "--codec: unknown codec '%s' (json, msgpack, msgpack-blosc)", value);
        return FALSE;
    }
    opts->codec = g_strdup(camas_codec_get_name(codec));
    return TRUE;
}

int
camas__interop_parse(int argc, char **argv, gboolean probe, CamasInteropOptions *opts)
{
    const char *cmd = opts->cmd;
    memset(opts, 0, sizeof *opts);
    opts->cmd = cmd;
    opts->timeout = 10;
    gboolean seen_timeout = FALSE;
    int rc = CAMAS_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            camas__interop_options_clear(opts);
            return -1;
        }
        if (!strcmp(arg, "--verbose") && probe) {
            opts->verbose = TRUE;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            rc = bad(opts, "unexpected argument '%s'", arg);
            goto fail;
        }
        /* --flag VALUE or --flag=VALUE */
        g_autofree char *flag = NULL;
        const char *value;
        const char *eq = strchr(arg, '=');
        if (eq) {
            flag = g_strndup(arg, (gsize)(eq - arg));
            value = eq + 1;
        } else {
            flag = g_strdup(arg);
            value = i + 1 < argc ? argv[i + 1] : NULL;
        }
        static const char *const known_serve[] = {"--codec", "--channel", "--rpc", "--agent",
                                                  "--tls", NULL};
        gboolean probe_only = !strcmp(flag, "--timeout") || !strcmp(flag, "--only");
        gboolean known = g_strv_contains(known_serve, flag) || (probe && probe_only);
        if (!known) {
            if (!probe && (probe_only || !strcmp(flag, "--verbose")))
                rc = bad(opts, "%s applies only to `camas interop probe`", flag);
            else
                rc = bad(opts, "unknown option '%s' (see `camas interop --help`)", flag);
            goto fail;
        }
        if (value == NULL) {
            rc = bad(opts, "%s needs a value", flag);
            goto fail;
        }
        if (!eq)
            i++;
        if (!strcmp(flag, "--codec")) {
            if (opts->codec) {
                rc = bad(opts, "--codec given twice");
                goto fail;
            }
            if (!parse_codec(opts, value, &rc))
                goto fail;
        } else if (!strcmp(flag, "--tls")) {
            if (opts->tls_ca) {
                rc = bad(opts, "--tls given twice");
                goto fail;
            }
            if (!parse_tls(opts, value, &rc))
                goto fail;
        } else if (!strcmp(flag, "--only")) {
            if (opts->only) {
                rc = bad(opts, "--only given twice");
                goto fail;
            }
            opts->only = g_strsplit(value, ",", -1);
            if (!*value) {
                rc = bad(opts, "--only: expected comma-separated check names or globs");
                goto fail;
            }
        } else if (!strcmp(flag, "--timeout")) {
            if (seen_timeout) {
                rc = bad(opts, "--timeout given twice");
                goto fail;
            }
            seen_timeout = TRUE;
            if (!parse_timeout(opts, value, &rc))
                goto fail;
        } else {
            char **slot = !strcmp(flag, "--channel") ? &opts->channel
                          : !strcmp(flag, "--rpc")   ? &opts->rpc
                                                     : &opts->agent;
            if (*slot) {
                rc = bad(opts, "%s given twice", flag);
                goto fail;
            }
            if (!check_address(opts, flag, value, &rc))
                goto fail;
            *slot = g_strdup(value);
        }
    }
    if (opts->codec == NULL) {
        rc = bad(opts, "--codec is required (json, msgpack or msgpack-blosc)");
        goto fail;
    }
    if (!opts->channel && !opts->rpc && !opts->agent) {
        rc = bad(opts, "nothing to do: give at least one of --channel, --rpc, --agent");
        goto fail;
    }
    return CAMAS_EXIT_OK;
fail:
    camas__interop_options_clear(opts);
    return rc;
}

static guint
n_sockets(void)
{
    return (guint)g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) +
           (guint)g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_LISTENER]);
}

gboolean
camas__interop_wait_pipes(CamasClock *clock, gint64 deadline, const gboolean *abort,
                          const char *cmd)
{
    CamasLoop *loop = camas_clock_get_loop(clock);
    gint64 notice = g_get_monotonic_time() + G_USEC_PER_SEC;
    for (;;) {
        camas_loop_run_due(loop);
        if (n_sockets() == 0)
            return TRUE;
        gint64 now = g_get_monotonic_time();
        if (now >= deadline || (abort && *abort))
            return FALSE;
        if (now >= notice) {
            fprintf(stderr, "camas %s: waiting for %u connection(s) whose peers keep them open "
                            "(at most 30 s%s)\n", cmd, n_sockets(),
                    abort ? "; stop again to quit now" : "");
            notice = G_MAXINT64;
        }
        /* Wake at least every 20 ms so the deadline is seen even when no socket moves. */
        camas_clock_run_until(clock, camas_clock_now(clock) + CAMAS_INTEROP_SECOND / 50);
    }
}

gboolean
camas__interop_check_leaks(const char *cmd)
{
    gboolean ok = TRUE;
    for (int k = 0; k < CAMAS__LIVE_N; k++) {
        int n = g_atomic_int_get(&camas__live_counts[k]);
        if (n != 0) {
            fprintf(stderr, "camas %s: %d %s object(s) leaked\n", cmd, n,
                    camas__live_name((CamasLiveKind)k));
            ok = FALSE;
        }
    }
    return ok;
}

static int
interop_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CAMAS_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return CAMAS_EXIT_OK;
    }
    gboolean probe;
    CamasInteropOptions opts = {0};
    if (!strcmp(sub, "serve")) {
        probe = FALSE;
        opts.cmd = "interop serve";
    } else if (!strcmp(sub, "probe")) {
        probe = TRUE;
        opts.cmd = "interop probe";
    } else {
        return camas_cmd_fail(CMD, "unknown subcommand '%s' (serve, probe)", sub);
    }
    int rc = camas__interop_parse(argc - 2, argv + 2, probe, &opts);
    if (rc < 0)
        return CAMAS_EXIT_OK; /* --help */
    if (rc != CAMAS_EXIT_OK)
        return rc;
    rc = probe ? camas__interop_probe(&opts) : camas__interop_serve(&opts);
    camas__interop_options_clear(&opts);
    return rc;
}

const CamasCommand camas__command_interop = {
    .name = CMD,
    .summary = "serve or probe the aiomas interop conformance service",
    .main = interop_main,
};
