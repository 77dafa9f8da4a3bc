/* SPDX-License-Identifier: MIT */
/*
 * `camas container`: hosts agents of registered types (camas/registry.h) in one live container
 * until SIGINT/SIGTERM.  It prints its agents' URLs (one per line, in id order), then READY,
 * then the agents' log lines ("<url> <line>"), so scripts and the subprocess manager
 * (camas/subproc.h, which runs it with --manager) can wait for it and find the agents.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/registry.h>
#include <camas/subproc.h>

#include "camas.h"
#include "live-private.h"

#define CMD "container"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: camas container --listen ADDR [--codec CODEC] [--tls CA,CERT,KEY]\n"
            "                       [--clock realtime|external|afap] [--utc-start DATE]\n"
            "                       [--seed N] [--name NAME] [--connect-timeout SECONDS]\n"
            "                       [--manager] [--until-done] [--exit-on-stdin-eof]\n"
            "                       [--plugin LIB]...\n"
            "                       [--agent TYPE[:COUNT] [--init JSON] [--run JSON]]...\n"
            "       camas container [--plugin LIB]... --list-types\n"
            "\n"
            "Hosts agents in one container until SIGINT/SIGTERM.  Prints each agent's URL on a\n"
            "line of its own (in id order), then READY, then the agents' log lines as\n"
            "\"<url> <line>\".\n"
            "\n"
            "  --listen ADDR       tcp://HOST:PORT (port 0 = any), tcp://[::1]:PORT,\n"
            "                      ipc://[PATH], local://QUEUE\n"
            "  --codec CODEC       json (default), msgpack, msgpack-blosc\n"
            "  --tls CA,CERT,KEY   TLS for the server and every outgoing TCP connection\n"
            "  --clock KIND        realtime (default); external: time moves only by the\n"
            "                      manager's set_time(t); afap: as fast as possible\n"
            "  --utc-start DATE    the date at time 0 of external and afap clocks (ISO 8601;\n"
            "                      default 1970-01-01T00:00:00+00:00)\n"
            "  --seed N, --name NAME   the agents' random streams: seed N, stream NAME/<aid>\n"
            "  --manager           agent 0 is the subprocess Manager: spawn(type, ...),\n"
            "                      set_time(t), stop()\n"
            "  --plugin LIB        load agent types from a shared library (its\n"
            "                      camas_plugin_init(), as for scenario files' \"plugins\")\n"
            "  --agent TYPE[:COUNT]  COUNT (default 1) agents of a registered type\n"
            "  --init JSON         init arguments of the preceding --agent: an array, or an\n"
            "                      object for keyword arguments (checked against the type's\n"
            "                      parameters: see camas types)\n"
            "  --run JSON          arguments (an array) of the preceding --agent's proactive\n"
            "                      entry point; every proactive agent is started after READY\n"
            "  --until-done        exit once every started agent has finished (status 1 if one\n"
            "                      failed)\n"
            "  --exit-on-stdin-eof exit when stdin closes (the parent process went away)\n"
            "  --list-types        print the registered agent types with their parameters and\n"
            "                      exit (as camas types)\n");
}

typedef struct {
    char *type_arg; /* the --agent value, for messages */
    char *type_name;
    const CamasAgentClass *klass; /* resolved once every --plugin is loaded */
    guint count;
    CamasValue *init_args;   /* a list, or NULL */
    CamasValue *init_kwargs; /* a map, or NULL */
    CamasValue *run_args;    /* a list, or NULL */
} AgentSpec;

static void
agent_spec_free(gpointer data)
{
    AgentSpec *s = data;
    g_free(s->type_arg);
    g_free(s->type_name);
    g_clear_pointer(&s->init_args, camas_value_unref);
    g_clear_pointer(&s->init_kwargs, camas_value_unref);
    g_clear_pointer(&s->run_args, camas_value_unref);
    g_free(s);
}

typedef struct {
    char *listen;
    char *codec;
    char *tls[3];
    char *clock;
    char *utc_start;
    char *name;
    guint64 seed;
    double connect_timeout;
    gboolean manager;
    gboolean until_done;
    gboolean stdin_eof;
    gboolean list_types;
    GPtrArray *agents; /* AgentSpec */
} Options;

static void
options_clear(Options *o)
{
    g_free(o->listen);
    g_free(o->codec);
    for (int i = 0; i < 3; i++)
        g_free(o->tls[i]);
    g_free(o->clock);
    g_free(o->utc_start);
    g_free(o->name);
    g_ptr_array_unref(o->agents);
}

static CamasValue *
parse_json(const char *flag, const char *text, GError **error)
{
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(GError) e = NULL;
    CamasValue *v = camas_codec_decode(codec, (const guint8 *)text, strlen(text), &e);
    if (!v)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: not JSON: %s", flag, e->message);
    return v;
}

/* Returns CAMAS_EXIT_OK, or CAMAS_EXIT_USAGE after printing why. */
static int
parse(int argc, char **argv, Options *o)
{
    o->agents = g_ptr_array_new_with_free_func(agent_spec_free);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        g_autofree char *flag = NULL;
        const char *value = NULL;
        const char *eq = g_str_has_prefix(arg, "--") ? strchr(arg, '=') : NULL;
        if (eq) {
            flag = g_strndup(arg, (gsize)(eq - arg));
            value = eq + 1;
        } else {
            flag = g_strdup(arg);
        }
        static const char *const boolean[] = {
            "--manager", "--until-done", "--exit-on-stdin-eof", "--list-types", "--help", "-h",
            NULL};
        if (g_strv_contains(boolean, flag)) {
            if (value)
                return camas_cmd_fail(CMD, "%s takes no value", flag);
            if (!strcmp(flag, "--manager"))
                o->manager = TRUE;
            else if (!strcmp(flag, "--until-done"))
                o->until_done = TRUE;
            else if (!strcmp(flag, "--exit-on-stdin-eof"))
                o->stdin_eof = TRUE;
            else if (!strcmp(flag, "--list-types"))
                o->list_types = TRUE;
            else {
                usage(stdout);
                return -1;
            }
            continue;
        }
        static const char *const valued[] = {
            "--listen", "--codec",           "--tls",   "--clock", "--utc-start", "--seed",
            "--name",   "--connect-timeout", "--agent", "--init",  "--run",       "--plugin",
            NULL};
        if (!g_strv_contains(valued, flag))
            return camas_cmd_fail(CMD, "unknown option '%s' (see camas container --help)", arg);
        if (!value) {
            if (i + 1 >= argc)
                return camas_cmd_fail(CMD, "%s needs a value", flag);
            value = argv[++i];
        }
        if (!strcmp(flag, "--listen")) {
            g_free(o->listen);
            o->listen = g_strdup(value);
        } else if (!strcmp(flag, "--codec")) {
            g_free(o->codec);
            o->codec = g_strdup(value);
        } else if (!strcmp(flag, "--tls")) {
            g_auto(GStrv) parts = g_strsplit(value, ",", -1);
            if (g_strv_length(parts) != 3 || !parts[0][0] || !parts[1][0] || !parts[2][0])
                return camas_cmd_fail(CMD, "--tls needs CAFILE,CERTFILE,KEYFILE, not '%s'", value);
            for (int k = 0; k < 3; k++) {
                g_free(o->tls[k]);
                o->tls[k] = g_strdup(parts[k]);
            }
        } else if (!strcmp(flag, "--clock")) {
            if (strcmp(value, "realtime") && strcmp(value, "external") && strcmp(value, "afap"))
                return camas_cmd_fail(CMD, "--clock must be realtime, external or afap, not '%s'",
                                      value);
            g_free(o->clock);
            o->clock = g_strdup(value);
        } else if (!strcmp(flag, "--utc-start")) {
            g_free(o->utc_start);
            o->utc_start = g_strdup(value);
        } else if (!strcmp(flag, "--seed")) {
            char *end = NULL;
            errno = 0;
            o->seed = g_ascii_strtoull(value, &end, 10);
            if (!value[0] || *end || errno || value[0] == '-')
                return camas_cmd_fail(CMD, "--seed must be an unsigned 64-bit integer, not '%s'",
                                      value);
        } else if (!strcmp(flag, "--name")) {
            g_free(o->name);
            o->name = g_strdup(value);
        } else if (!strcmp(flag, "--connect-timeout")) {
            char *end = NULL;
            o->connect_timeout = g_ascii_strtod(value, &end);
            if (!value[0] || *end || !(o->connect_timeout >= 0))
                return camas_cmd_fail(CMD, "--connect-timeout must be seconds >= 0, not '%s'",
                                      value);
        } else if (!strcmp(flag, "--agent")) {
            g_autofree char *type_name = g_strdup(value);
            guint64 count = 1;
            char *colon = strrchr(type_name, ':');
            if (colon) {
                char *end = NULL;
                count = g_ascii_strtoull(colon + 1, &end, 10);
                if (!colon[1] || *end || count == 0 || count > 10000000)
                    return camas_cmd_fail(CMD, "--agent %s: COUNT must be 1 to 10000000", value);
                *colon = '\0';
            }
            AgentSpec *spec = g_new0(AgentSpec, 1);
            spec->type_arg = g_strdup(value);
            spec->type_name = g_steal_pointer(&type_name);
            spec->count = (guint)count;
            g_ptr_array_add(o->agents, spec);
        } else if (!strcmp(flag, "--plugin")) {
            g_autoptr(GError) error = NULL;
            if (!camas_plugin_load(value, &error))
                return camas_cmd_fail(CMD, "--plugin: %s", error->message);
        } else { /* --init, --run */
            if (o->agents->len == 0)
                return camas_cmd_fail(CMD, "%s must follow an --agent", flag);
            AgentSpec *spec = g_ptr_array_index(o->agents, o->agents->len - 1);
            g_autoptr(GError) error = NULL;
            g_autoptr(CamasValue) v = parse_json(flag, value, &error);
            if (!v)
                return camas_cmd_fail(CMD, "%s", error->message);
            CamasValueType t = camas_value_get_type(v);
            if (!strcmp(flag, "--run")) {
                if (t != CAMAS_VALUE_LIST)
                    return camas_cmd_fail(CMD, "--run needs a JSON array, not '%s'", value);
                g_clear_pointer(&spec->run_args, camas_value_unref);
                spec->run_args = g_steal_pointer(&v);
            } else if (t == CAMAS_VALUE_LIST) {
                g_clear_pointer(&spec->init_args, camas_value_unref);
                spec->init_args = g_steal_pointer(&v);
            } else if (t == CAMAS_VALUE_MAP) {
                g_clear_pointer(&spec->init_kwargs, camas_value_unref);
                spec->init_kwargs = g_steal_pointer(&v);
            } else {
                return camas_cmd_fail(CMD, "--init needs a JSON array or object, not '%s'", value);
            }
        }
    }
    if (o->list_types)
        return CAMAS_EXIT_OK;
    /* Types resolve only now, so a --plugin may come after the --agent naming its type. */
    for (guint i = 0; i < o->agents->len; i++) {
        AgentSpec *spec = g_ptr_array_index(o->agents, i);
        g_autoptr(GError) error = NULL;
        spec->klass = camas_agent_registry_lookup(spec->type_name, &error);
        if (!spec->klass)
            return camas_cmd_fail(CMD, "--agent %s: %s", spec->type_arg, error->message);
        /* Checked against the type's declared parameters before anything starts; the agents
         * get the bound arguments, declared defaults included.  Without --run a proactive
         * type's entry point gets no arguments, so its required ones are missing now. */
        gboolean proactive = spec->klass->run || spec->klass->start;
        g_autoptr(CamasValue) none = camas_value_new_list(NULL, 0);
        const CamasValue *run_args = spec->run_args ? spec->run_args : proactive ? none : NULL;
        CamasValue *args = NULL, *kwargs = NULL, *start = NULL;
        if (!camas_agent_class_bind_args(spec->klass, spec->init_args, spec->init_kwargs,
                                         run_args, &args, &kwargs, &start, &error))
            return camas_cmd_fail(CMD, "--agent %s: %s", spec->type_arg, error->message);
        g_clear_pointer(&spec->init_args, camas_value_unref);
        g_clear_pointer(&spec->init_kwargs, camas_value_unref);
        g_clear_pointer(&spec->run_args, camas_value_unref);
        spec->init_args = args;
        spec->init_kwargs = kwargs;
        spec->run_args = start;
    }
    if (!o->listen)
        return camas_cmd_fail(CMD, "--listen ADDR is required (see camas container --help)");
    if (!o->manager && o->agents->len == 0)
        return camas_cmd_fail(CMD, "nothing to host: give at least one --agent (or --manager)");
    return CAMAS_EXIT_OK;
}

/* --- running ------------------------------------------------------------------------------- */

typedef struct {
    gboolean quit;
    guint running; /* started agents whose entry point has not finished */
    gboolean failed;
} State;

/* Lines logged before READY (from agents' init) are held back: readers of our output (the
 * subprocess manager among them) take every line before READY for a URL. */
static void
print_log(CamasAgent *agent, const char *line, gpointer data)
{
    GString **held = data;
    if (*held) {
        g_string_append_printf(*held, "%s %s\n", camas_agent_get_url(agent), line);
        return;
    }
    printf("%s %s\n", camas_agent_get_url(agent), line);
    fflush(stdout);
}

typedef struct {
    State *state;
    char *url;
} RunWatch;

static void
run_done(CamasFuture *f, gpointer data)
{
    RunWatch *w = data;
    w->state->running--;
    const GError *e = camas_future_get_error(f);
    if (e && !camas_future_is_cancelled(f)) {
        fprintf(stderr, "camas container: %s: %s\n", w->url, e->message);
        w->state->failed = TRUE;
    }
}

static void
run_watch_free(gpointer data)
{
    RunWatch *w = data;
    g_free(w->url);
    g_free(w);
}

static gboolean
on_signal(gpointer data)
{
    ((State *)data)->quit = TRUE;
    return G_SOURCE_CONTINUE;
}

static gboolean
on_stdin(gint fd, GIOCondition condition, gpointer data)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN)))
        return G_SOURCE_CONTINUE;
    ((State *)data)->quit = TRUE;
    return G_SOURCE_REMOVE;
}

static GSource *
add_source(GSource *source, GMainContext *ctx, GSourceFunc func, gpointer data)
{
    g_source_set_callback(source, func, data, NULL);
    g_source_attach(source, ctx);
    return source;
}

static int
list_types(void)
{
    g_autofree const CamasAgentClass **types = camas_agent_registry_list();
    for (gsize i = 0; types[i]; i++) {
        g_autofree char *text = camas_agent_class_dup_description(types[i]);
        fputs(text, stdout);
    }
    return CAMAS_EXIT_OK;
}

static int
container_main(int argc, char **argv)
{
    Options o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != CAMAS_EXIT_OK) {
        options_clear(&o);
        return rc < 0 ? CAMAS_EXIT_OK : rc;
    }
    if (o.list_types) {
        options_clear(&o);
        return list_types();
    }
    /* A dead reader must not kill us with SIGPIPE: writes then just fail. */
    signal(SIGPIPE, SIG_IGN);

    GMainContext *ctx = g_main_context_new();
    CamasLoop *loop = camas_loop_new();
    GPtrArray *starts = g_ptr_array_new(); /* the AgentSpec of each spawned agent */
    State state = {0};
    g_autoptr(GString) held = NULL;
    GSource *sources[3] = {NULL, NULL, NULL};
    CamasClock *clock = NULL;
    const char *kind = o.clock ? o.clock : "realtime";
    gint64 utc_start = 0;
    g_autoptr(GError) error = NULL;
    if (o.utc_start && !camas_date_parse(o.utc_start, &utc_start, NULL, &error)) {
        rc = camas_cmd_fail(CMD, "--utc-start: %s", error->message);
        goto out_loop;
    }
    if (!strcmp(kind, "realtime")) {
        clock = camas_clock_new_realtime(loop, ctx);
    } else {
        clock = !strcmp(kind, "external") ? camas_clock_new_external(loop, utc_start, 0)
                                          : camas_clock_new_afap(loop, utc_start, 0);
        camas_loop_attach(loop, ctx);
    }

    CamasTlsCerts certs = {o.tls[0], o.tls[1], o.tls[2]};
    CamasContainerOptions copts = {
        .codec = o.codec,
        .tls = o.tls[0] ? &certs : NULL,
        .seed = o.seed,
        .name = o.name,
        .connect_timeout = o.connect_timeout,
    };
    CamasContainer *container = camas_container_new(clock, o.listen, &copts, &error);
    if (!container) {
        rc = camas_cmd_fail(CMD, "%s", error->message);
        goto out_clock;
    }
    held = g_string_new(NULL);
    camas_container_set_log_func(container, print_log, &held, NULL);

    CamasAgent *manager = NULL;
    if (o.manager)
        manager =
            camas_container_spawn(container, &camas_subproc_manager_class, NULL, NULL, &error);
    if (o.manager && !manager) {
        rc = camas_cmd_fail(CMD, "%s", error->message);
        goto out_container;
    }
    for (guint i = 0; i < o.agents->len; i++) {
        AgentSpec *spec = g_ptr_array_index(o.agents, i);
        for (guint j = 0; j < spec->count; j++) {
            CamasAgent *a = camas_container_spawn(container, spec->klass, spec->init_args,
                                                  spec->init_kwargs, &error);
            if (!a) {
                rc = camas_cmd_fail(CMD, "--agent %s: %s", spec->klass->name, error->message);
                goto out_container;
            }
            g_ptr_array_add(starts, spec);
        }
    }
    for (guint i = 0; i < camas_container_get_n_agents(container); i++)
        printf("%s\n", camas_agent_get_url(camas_container_get_agent(container, i)));
    printf("READY\n%s", held->str);
    fflush(stdout);
    g_string_free(g_steal_pointer(&held), TRUE); /* from now on lines go out at once */

    guint first = manager ? 1 : 0;
    for (guint i = 0; i < starts->len; i++) {
        AgentSpec *spec = g_ptr_array_index(starts, i);
        if (!spec->klass->run && !spec->klass->start)
            continue;
        CamasAgent *a = camas_container_get_agent(container, first + i);
        g_autoptr(CamasFuture) f = camas_agent_start(a, spec->run_args, &error);
        if (!f) {
            rc = camas_cmd_fail(CMD, "%s: %s", camas_agent_get_url(a), error->message);
            goto out_container;
        }
        RunWatch *w = g_new0(RunWatch, 1);
        w->state = &state;
        w->url = g_strdup(camas_agent_get_url(a));
        state.running++;
        camas_future_add_callback(f, run_done, w, run_watch_free);
    }

    sources[0] = add_source(g_unix_signal_source_new(SIGINT), ctx, on_signal, &state);
    sources[1] = add_source(g_unix_signal_source_new(SIGTERM), ctx, on_signal, &state);
    if (o.stdin_eof) {
        g_unix_set_fd_nonblocking(STDIN_FILENO, TRUE, NULL);
        sources[2] = add_source(g_unix_fd_source_new(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR),
                                ctx, (GSourceFunc)(void (*)(void))on_stdin, &state);
    }
    gboolean afap = !strcmp(kind, "afap");
    while (!state.quit) {
        if (o.until_done && state.running == 0)
            break;
        if (afap) {
            /* sockets first; then jump to the next event; block only when nothing is left */
            if (!g_main_context_iteration(ctx, FALSE) && !camas_loop_step(loop))
                g_main_context_iteration(ctx, TRUE);
        } else {
            g_main_context_iteration(ctx, TRUE);
        }
        gboolean stop = FALSE;
        if (manager && camas_subproc_manager_run_pending(manager, &stop) && stop)
            break;
    }
    if (o.until_done && state.failed)
        rc = CAMAS_EXIT_FAILED;

out_container:
    for (int i = 0; i < 3; i++) {
        if (sources[i]) {
            g_source_destroy(sources[i]);
            g_source_unref(sources[i]);
        }
    }
    camas_container_free(container);
    /* Closed sockets flush and wait for the peer's end: give them a moment before the loop
     * goes, so replies sent last (stop()) reach their callers. */
    gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    while ((g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0 ||
            g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_LISTENER]) > 0) &&
           g_get_monotonic_time() < deadline) {
        camas_loop_run_due(loop);
        if (!g_main_context_iteration(ctx, FALSE))
            g_usleep(1000);
    }
out_clock:
    camas_clock_unref(clock);
out_loop:
    camas_loop_free(loop);
    g_ptr_array_unref(starts);
    g_main_context_unref(ctx);
    options_clear(&o);
    return rc;
}

const CamasCommand camas__command_container = {
    .name = CMD,
    .summary = "host agents in a live container (URLs, then READY)",
    .main = container_main,
};
