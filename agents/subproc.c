/* SPDX-License-Identifier: MIT */
/*
 * Multi-process containers (camas/subproc.h): the Manager agent that a child container runs as
 * agent "0", and the parent's side that starts the child (fork+exec of `camas container
 * --manager` through g_spawn), reads its stdout until READY, connects to the manager, and
 * watches the process so that an exit or a crash is reported instead of hanging anyone.
 *
 * The parent's side runs from the loop's GMainContext: the stdout reader, the child watch and
 * the READY timeout are GSources there; what they learn completes futures, whose callbacks run
 * as loop events like everything else.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include <camas/registry.h>
#include <camas/subproc.h>
#include <camas/time.h>

#include "container-private.h"

/* --- the Manager (child side) ---------------------------------------------------------------- */

typedef struct {
    CamasAgent base;
    CamasRequest *pending; /* a set_time() waiting for the host loop */
    double pending_t;
    gboolean stop;
} Manager;

static void
manager_spawn(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasAgent *agent = self;
    gsize n = camas_value_get_length(args);
    if (n == 0) {
        camas_request_fail_text(req, "TypeError",
                                "spawn() missing 1 required positional argument: 'type'");
        return;
    }
    CamasValue *type_name = camas_value_get_item(args, 0);
    if (camas_value_get_type(type_name) != CAMAS_VALUE_STR) {
        camas_request_fail_text(req, "TypeError", "spawn() argument 'type' must be str");
        return;
    }
    GError *error = NULL;
    const CamasAgentClass *klass =
        camas_agent_registry_lookup(camas_value_get_str(type_name, NULL), &error);
    if (!klass) {
        camas_agent_fail(req, error);
        return;
    }
    g_autoptr(GPtrArray) rest = g_ptr_array_new();
    for (gsize i = 1; i < n; i++)
        g_ptr_array_add(rest, camas_value_get_item(args, i));
    g_autoptr(CamasValue) given = camas_value_new_list((CamasValue *const *)rest->pdata, rest->len);
    /* Checked against the type's declared parameters, as `camas container` and scenarios do;
     * a bad call is Python's TypeError.  The entry point is not started here: its parameters
     * are left alone. */
    g_autoptr(CamasValue) init_args = NULL, init_kwargs = NULL;
    if (!camas_agent_class_bind_args(klass, given, kwargs, NULL, &init_args, &init_kwargs, NULL,
                                     &error)) {
        camas_request_fail_text(req, "TypeError", error->message);
        g_error_free(error);
        return;
    }
    CamasAgent *spawned =
        camas_container_spawn(agent->container, klass, init_args, init_kwargs, &error);
    if (!spawned) {
        camas_agent_fail(req, error);
        return;
    }
    g_autoptr(CamasValue) proxy = camas_agent_to_value(spawned);
    camas_request_reply_take(req, camas_value_build("[v s]", proxy, camas_agent_get_url(spawned)));
}

static void
manager_set_time(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Manager *m = self;
    CamasAgent *agent = self;
    double t;
    if (!camas_agent_args_or_fail(req, "t:f", &t))
        return;
    CamasClockKind kind = camas_clock_get_kind(agent->clock);
    if (kind == CAMAS_CLOCK_REALTIME) {
        camas_request_fail_text(req, "RuntimeError",
                                "set_time() needs an external clock; this container's clock "
                                "follows real time");
        return;
    }
    if (m->pending) {
        camas_request_fail_text(req, "RuntimeError", "set_time() is already in progress");
        return;
    }
    gint64 ticks;
    GError *error = NULL;
    if (!camas_time_from_seconds(t, &ticks, &error)) {
        camas_agent_fail(req, error);
        return;
    }
    if (ticks <= camas_clock_now(agent->clock)) {
        g_autofree char *msg =
            g_strdup_printf("time must be greater than the current time: %.9g s is not after "
                            "%.9g s",
                            t, camas_clock_time(agent->clock));
        camas_request_fail_text(req, "ValueError", msg);
        return;
    }
    /* Advancing runs events: the host does it between iterations, not inside this event. */
    m->pending = req;
    m->pending_t = t;
    camas_loop_stop(camas_clock_get_loop(agent->clock));
}

static void
manager_stop(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Manager *m = self;
    if (!camas_agent_args_or_fail(req, ""))
        return;
    m->stop = TRUE;
    camas_request_reply(req, NULL);
    camas_loop_stop(camas_clock_get_loop(m->base.clock));
}

static void
manager_finalize(CamasAgent *agent)
{
    Manager *m = (Manager *)agent;
    if (m->pending)
        camas_request_fail_text(g_steal_pointer(&m->pending), "RuntimeError",
                                "the container shut down before set_time() ran");
}

static const CamasRpcMethod manager_methods[] = {
    {"spawn", manager_spawn},
    {"set_time", manager_set_time},
    {"stop", manager_stop},
    {NULL},
};

const CamasAgentClass camas_subproc_manager_class = {
    .name = "Manager",
    .module = "aiomas.subproc",
    .instance_size = sizeof(Manager),
    .finalize = manager_finalize,
    .methods = manager_methods,
    .summary = "agent 0 of a subprocess container: spawn(type, ...), set_time(t), stop()",
};

gboolean
camas_subproc_manager_run_pending(CamasAgent *manager, gboolean *stop)
{
    g_return_val_if_fail(manager != NULL && manager->klass == &camas_subproc_manager_class, FALSE);
    Manager *m = (Manager *)manager;
    gboolean did = FALSE;
    if (m->pending) {
        CamasRequest *req = g_steal_pointer(&m->pending);
        GError *error = NULL;
        if (camas_clock_set_time(manager->clock, m->pending_t, &error))
            camas_request_reply(req, NULL);
        else
            camas_agent_fail(req, error);
        did = TRUE;
    }
    if (stop)
        *stop = m->stop;
    return did || m->stop;
}

/* --- the parent's side ----------------------------------------------------------------------- */

struct _CamasSubproc {
    gint ref_count;
    CamasContainer *parent; /* internal reference */
    CamasLoop *loop;
    GMainContext *context;
    GPid pid;
    gboolean running;
    int stdin_fd, stdout_fd; /* -1 when closed */
    GSource *out_source, *watch_source, *timeout_source;
    GString *buf; /* stdout bytes not yet split into lines */
    char *url;    /* the manager's URL (the first URL line) */
    gboolean ready;
    CamasFuture *start; /* the start future while starting (owned) */
    CamasFuture *exit;  /* owned */
    CamasProxy *manager;
    CamasSubprocOutputFunc output;
    gpointer output_data;
    gboolean start_ref; /* the start operation holds a reference */
};

static gpointer
subproc_object_ref(gpointer instance)
{
    return camas_subproc_ref(instance);
}

static void
subproc_object_unref(gpointer instance)
{
    camas_subproc_unref(instance);
}

static const CamasObjectType subproc_type = {
    .name = "Subproc",
    .ref = subproc_object_ref,
    .unref = subproc_object_unref,
};

CamasSubproc *
camas_subproc_ref(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, NULL);
    subproc->ref_count++;
    return subproc;
}

static void
destroy_source(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void
camas_subproc_unref(CamasSubproc *subproc)
{
    if (!subproc)
        return;
    g_return_if_fail(subproc->ref_count > 0);
    if (--subproc->ref_count > 0)
        return;
    CamasSubproc *s = subproc;
    destroy_source(&s->out_source);
    destroy_source(&s->watch_source);
    destroy_source(&s->timeout_source);
    close_fd(&s->stdin_fd);
    close_fd(&s->stdout_fd);
    if (s->running) {
        /* Nobody can talk to it any more: end it and reap it, so no zombie is left. */
        kill(s->pid, SIGKILL);
        int status;
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
            ;
        g_spawn_close_pid(s->pid);
        s->running = FALSE;
        camas_future_set_error(s->exit, g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                                                    "camas container (pid %d) was killed: its last "
                                                    "reference was dropped",
                                                    (int)s->pid));
    }
    g_clear_pointer(&s->manager, camas_proxy_unref);
    g_clear_pointer(&s->start, camas_future_unref);
    camas_future_unref(s->exit);
    g_string_free(s->buf, TRUE);
    g_free(s->url);
    camas__container_unref(s->parent);
    g_free(s);
}

/* Ends the start operation (once): success hands the subprocess to the future's value. */
static void
start_done(CamasSubproc *s, GError *error)
{
    if (!s->start) {
        if (error)
            g_error_free(error);
        return;
    }
    CamasFuture *f = g_steal_pointer(&s->start);
    destroy_source(&s->timeout_source);
    if (error) {
        if (s->running)
            kill(s->pid, SIGKILL); /* the watch reaps it */
        camas_future_set_error(f, error);
    } else {
        camas_future_set_result(f, camas_value_new_object(&subproc_type, s));
    }
    camas_future_unref(f);
    if (s->start_ref) {
        s->start_ref = FALSE;
        camas_subproc_unref(s);
    }
}

static void
on_connected(CamasFuture *f, gpointer data)
{
    CamasSubproc *s = data;
    GError *error = NULL;
    CamasProxy *p = camas_container_connect_finish(f, &error);
    if (!s->start) { /* the start ended meanwhile (the child died or timed out) */
        if (p)
            camas_proxy_unref(p);
        g_clear_error(&error);
        return;
    }
    if (!p) {
        g_prefix_error(&error,
                       "Cannot connect to the manager of camas container (pid %d): ", (int)s->pid);
        start_done(s, error);
        return;
    }
    s->manager = p;
    start_done(s, NULL);
}

static void
handle_line(CamasSubproc *s, const char *line)
{
    if (s->ready) {
        if (s->output)
            s->output(s, line, s->output_data);
        return;
    }
    if (strcmp(line, "READY") == 0) {
        s->ready = TRUE;
        if (!s->url) {
            start_done(s, g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                      "camas container (pid %d) printed READY without an agent "
                                      "URL",
                                      (int)s->pid));
            return;
        }
        GError *error = NULL;
        CamasFuture *f = camas_container_connect(s->parent, s->url, &error);
        if (!f) {
            start_done(s, error);
            return;
        }
        camas_future_add_callback(f, on_connected, camas_subproc_ref(s),
                                  (GDestroyNotify)camas_subproc_unref);
        camas_future_unref(f);
        return;
    }
    /* URL lines have no spaces; log lines ("<url> <text>") do */
    if (!s->url && !strchr(line, ' ') && strstr(line, "://"))
        s->url = g_strdup(line);
}

static gboolean read_output(CamasSubproc *s, gint fd);

/* Source callbacks hold a reference while they run: ending the start may drop the last one. */
static gboolean
on_output(gint fd, GIOCondition condition, gpointer data)
{
    CamasSubproc *s = camas_subproc_ref(data);
    gboolean keep = read_output(s, fd);
    camas_subproc_unref(s);
    return keep;
}

static gboolean
read_output(CamasSubproc *s, gint fd)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            g_string_append_len(s->buf, chunk, n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        gboolean eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        /* complete lines, in order */
        char *nl;
        while ((nl = memchr(s->buf->str, '\n', s->buf->len))) {
            *nl = '\0';
            g_autofree char *line = g_strdup(s->buf->str);
            g_string_erase(s->buf, 0, (gssize)(nl - s->buf->str) + 1);
            handle_line(s, line);
        }
        if (eof) {
            /* the child closed its stdout (it is exiting): the watch tells why */
            g_source_unref(s->out_source);
            s->out_source = NULL;
            close_fd(&s->stdout_fd);
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }
}

static void
on_child_exit(GPid pid, gint status, gpointer data)
{
    CamasSubproc *s = camas_subproc_ref(data);
    g_source_unref(s->watch_source);
    s->watch_source = NULL;
    s->running = FALSE;
    g_spawn_close_pid(pid);
    GError *error = NULL;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        error = NULL;
    else if (WIFEXITED(status))
        error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                            "camas container (pid %d) exited with status %d", (int)pid,
                            WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                            "camas container (pid %d) was killed by signal %d (%s)", (int)pid,
                            WTERMSIG(status), g_strsignal(WTERMSIG(status)));
    else
        error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                            "camas container (pid %d) ended (wait status %d)", (int)pid, status);
    if (s->start) {
        GError *e = error ? g_error_copy(error)
                          : g_error_new(CAMAS_ERROR, CAMAS_ERROR_FAILED,
                                        "camas container (pid %d) exited before READY", (int)pid);
        if (error)
            g_prefix_error(&e, "Before READY: ");
        e->code = CAMAS_ERROR_FAILED;
        start_done(s, e);
    }
    if (error)
        camas_future_set_error(s->exit, error);
    else
        camas_future_set_result(s->exit, NULL);
    camas_subproc_unref(s);
}

static gboolean
on_timeout(gpointer data)
{
    CamasSubproc *s = camas_subproc_ref(data);
    g_source_unref(s->timeout_source);
    s->timeout_source = NULL;
    start_done(s, g_error_new(CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT,
                              "camas container (pid %d) did not print READY in time; killed it",
                              (int)s->pid));
    camas_subproc_unref(s);
    return G_SOURCE_REMOVE;
}

static GSource *
attach(GSource *source, GMainContext *context)
{
    g_source_attach(source, context);
    return source;
}

CamasFuture *
camas_subproc_start(CamasContainer *parent, const CamasSubprocOptions *options, GError **error)
{
    g_return_val_if_fail(parent != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    static const CamasSubprocOptions defaults = {0};
    const CamasSubprocOptions *o = options ? options : &defaults;
    CamasLoop *loop = camas_container_get_loop(parent);
    GMainContext *context = camas_loop_get_context(loop);
    if (!context) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Subprocess containers need the loop attached to a GMainContext (a "
                    "real-time clock, or camas_loop_attach())");
        return NULL;
    }
    if (camas_container_is_shut_down(parent)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "Container(%s) was shut down",
                    camas_container_get_address(parent));
        return NULL;
    }
    const char *clock = o->clock ? o->clock : "external";
    if (strcmp(clock, "external") != 0 && strcmp(clock, "realtime") != 0 &&
        strcmp(clock, "afap") != 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Unknown clock \"%s\" (known: external, realtime, afap)", clock);
        return NULL;
    }
    if (o->timeout < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "timeout must be >= 0");
        return NULL;
    }
    const char *program = o->program;
    if (!program)
        program = g_getenv("CAMAS_EXE");
    if (!program)
        program = "camas";

    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup(program));
    g_ptr_array_add(argv, g_strdup("container"));
    g_ptr_array_add(argv, g_strdup("--manager"));
    g_ptr_array_add(argv, g_strdup("--exit-on-stdin-eof"));
    g_ptr_array_add(argv, g_strdup("--listen"));
    g_ptr_array_add(argv, g_strdup(o->listen ? o->listen : "tcp://127.0.0.1:0"));
    g_ptr_array_add(argv, g_strdup("--codec"));
    g_ptr_array_add(
        argv,
        g_strdup(o->codec ? o->codec : camas_codec_get_name(camas_container_get_codec(parent))));
    g_ptr_array_add(argv, g_strdup("--clock"));
    g_ptr_array_add(argv, g_strdup(clock));
    g_ptr_array_add(argv, g_strdup("--seed"));
    g_ptr_array_add(argv, g_strdup_printf("%" G_GUINT64_FORMAT, o->seed));
    if (o->name) {
        g_ptr_array_add(argv, g_strdup("--name"));
        g_ptr_array_add(argv, g_strdup(o->name));
    }
    if (o->tls) {
        g_ptr_array_add(argv, g_strdup("--tls"));
        g_ptr_array_add(
            argv, g_strdup_printf("%s,%s,%s", o->tls->cafile, o->tls->certfile, o->tls->keyfile));
    }
    g_ptr_array_add(argv, NULL);

    GPid pid;
    int in_fd, out_fd;
    GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD;
    if (!strchr(program, '/'))
        flags |= G_SPAWN_SEARCH_PATH;
    GError *spawn_error = NULL;
    if (!g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL, flags, NULL, NULL, &pid, &in_fd,
                                  &out_fd, NULL, &spawn_error)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "Cannot run %s: %s", program,
                    spawn_error->message);
        g_error_free(spawn_error);
        return NULL;
    }
    g_unix_set_fd_nonblocking(out_fd, TRUE, NULL);

    CamasSubproc *s = g_new0(CamasSubproc, 1);
    s->ref_count = 1; /* held by the start operation */
    s->start_ref = TRUE;
    camas__container_ref(parent);
    s->parent = parent;
    s->loop = loop;
    s->context = context;
    s->pid = pid;
    s->running = TRUE;
    s->stdin_fd = in_fd; /* kept open: the child exits when it closes */
    s->stdout_fd = out_fd;
    s->buf = g_string_new(NULL);
    s->output = o->output;
    s->output_data = o->output_data;
    s->start = camas_future_new(loop);
    s->exit = camas_future_new(loop);

    s->out_source = attach(g_unix_fd_source_new(out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR), context);
    g_source_set_callback(s->out_source, (GSourceFunc)(void (*)(void))on_output, s, NULL);
    s->watch_source = attach(g_child_watch_source_new(pid), context);
    g_source_set_callback(s->watch_source, (GSourceFunc)(void (*)(void))on_child_exit, s, NULL);
    guint ms = (guint)((o->timeout > 0 ? o->timeout : 30.0) * 1000);
    s->timeout_source = attach(g_timeout_source_new(ms), context);
    g_source_set_callback(s->timeout_source, on_timeout, s, NULL);
    return camas_future_ref(s->start);
}

CamasSubproc *
camas_subproc_start_finish(CamasFuture *future, GError **error)
{
    g_return_val_if_fail(future != NULL && camas_future_is_done(future), NULL);
    g_autoptr(CamasValue) value = NULL;
    if (!camas_future_propagate(future, &value, error))
        return NULL;
    g_return_val_if_fail(value != NULL && camas_value_get_type(value) == CAMAS_VALUE_OBJECT &&
                             camas_value_object_get_type(value) == &subproc_type,
                         NULL);
    return camas_subproc_ref(camas_value_object_get_instance(value));
}

CamasSubproc *
camas_subproc_start_await(CamasContainer *parent, const CamasSubprocOptions *options,
                          GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    g_autoptr(CamasFuture) f = camas_subproc_start(parent, options, error);
    if (!f)
        return NULL;
    if (!camas_task_await(f, NULL, error))
        return NULL;
    return camas_subproc_start_finish(f, error);
}

CamasProxy *
camas_subproc_get_manager(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, NULL);
    return subproc->manager;
}

const char *
camas_subproc_get_url(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, NULL);
    return subproc->url;
}

GPid
camas_subproc_get_pid(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, 0);
    return subproc->pid;
}

gboolean
camas_subproc_is_running(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, FALSE);
    return subproc->running;
}

CamasFuture *
camas_subproc_get_exit_future(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL, NULL);
    return subproc->exit;
}

CamasFuture *
camas_subproc_spawn(CamasSubproc *subproc, const char *type, const CamasValue *args,
                    const CamasValue *kwargs)
{
    g_return_val_if_fail(subproc != NULL && subproc->manager != NULL && type != NULL, NULL);
    g_return_val_if_fail(args == NULL || camas_value_is_sequence(args), NULL);
    gsize n = args ? camas_value_get_length(args) : 0;
    CamasValue **items = g_new(CamasValue *, n + 1);
    items[0] = camas_value_new_str(type);
    for (gsize i = 0; i < n; i++)
        items[i + 1] = camas_value_ref(camas_value_get_item(args, i));
    g_autoptr(CamasValue) all = camas_value_new_list_take(items, n + 1);
    g_free(items);
    return camas_proxy_call(subproc->manager, "spawn", all, kwargs);
}

CamasFuture *
camas_subproc_set_time(CamasSubproc *subproc, double t)
{
    g_return_val_if_fail(subproc != NULL && subproc->manager != NULL, NULL);
    g_autoptr(CamasValue) args = camas_value_build("[f]", t);
    return camas_proxy_call(subproc->manager, "set_time", args, NULL);
}

CamasFuture *
camas_subproc_stop(CamasSubproc *subproc)
{
    g_return_val_if_fail(subproc != NULL && subproc->manager != NULL, NULL);
    if (subproc->running) {
        /* the answer does not matter: the exit tells how it ended */
        g_autoptr(CamasFuture) call = camas_proxy_call(subproc->manager, "stop", NULL, NULL);
    }
    return camas_future_ref(subproc->exit);
}
