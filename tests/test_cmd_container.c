/* SPDX-License-Identifier: MIT */
/*
 * `camas container`: URLs then READY then log lines, proactive agents started after READY,
 * --until-done, the live container serving calls until SIGTERM ends it cleanly, and bad
 * command lines (exit status 2 with one line naming the problem).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <camas/camas.h>

#include "testutil.h"

TestSuite(cmd_container, .fini = camas_test_check_leaks, .timeout = 30);

Test(cmd_container, prints_urls_then_ready_then_the_agents_lines)
{
    g_auto(CamasTestRun) r =
        camas_test_run_camas("container", "--listen", "local://cmd", "--clock", "afap", "--agent",
                             "Callee", "--agent", "HelloWorld", "--init", "[\"Monty\"]",
                             "--until-done", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "local://cmd/0\n"
                            "local://cmd/1\n"
                            "READY\n"
                            "local://cmd/1 Monty says:\n"
                            "local://cmd/1 Hello, World!\n"
                            "local://cmd/1 Hello, World!\n"
                            "local://cmd/1 Hello, World!\n");
}

Test(cmd_container, until_done_fails_when_an_agent_fails)
{
    g_auto(CamasTestRun) r =
        camas_test_run_camas("container", "--listen", "local://cmd", "--clock", "afap", "--agent",
                             "Caller", "--run", "[\"local://nobody/0\"]", "--until-done", NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "local://cmd/0: "), "%s", r.err);
}

Test(cmd_container, lists_the_registered_types)
{
    g_auto(CamasTestRun) r = camas_test_run_camas("container", "--list-types", NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(g_str_has_prefix(r.out, "Callee "), "%s", r.out);
    cr_assert(strstr(r.out, "\nEchoAgent "), "%s", r.out);
    cr_assert(strstr(r.out, "\nHelloWorld "), "%s", r.out);
}

Test(cmd_container, hosts_agent_types_from_a_plugin_named_after_their_agent)
{
    g_autofree char *so = g_strdup_printf("%s/tests/libmyagents.so", CAMAS_BUILDDIR);
    /* Adder's init takes both a positional label and keyword arguments: two --init options. */
    g_auto(CamasTestRun) r = camas_test_run_camas(
        "container", "--listen", "local://cmd", "--clock", "afap", "--agent", "Adder", "--init",
        "[\"a\"]", "--init", "{\"step\": 2, \"times\": 1}", "--agent", "Adder", "--init", "[\"b\"]",
        "--init", "{\"step\": 5, \"times\": 3}", "--run", "[\"local://cmd/0\"]", "--until-done",
        "--plugin", so, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(g_str_has_prefix(r.out, "local://cmd/0\nlocal://cmd/1\n"), "%s", r.out);
    cr_assert(strstr(r.out, "local://cmd/1 b ready\n"), "%s", r.out);

    g_auto(CamasTestRun) types = camas_test_run_camas("container", "--plugin", so, "--list-types",
                                                      NULL);
    cr_assert_eq(types.status, 0, "%s", types.err);
    cr_assert(g_str_has_prefix(types.out, "Adder "), "%s", types.out);

    g_autofree char *failing = g_strdup_printf("%s/tests/libmyagents-failing.so", CAMAS_BUILDDIR);
    g_auto(CamasTestRun) bad = camas_test_run_camas("container", "--listen", "local://x",
                                                    "--plugin", failing, "--agent", "Adder", NULL);
    cr_assert_eq(bad.status, 2, "%s", bad.err);
    cr_assert(strstr(bad.err, "camas container: --plugin: ") && strstr(bad.err, "licence server"),
              "%s", bad.err);
}

Test(cmd_container, bad_command_lines_exit_with_status_2_and_say_why)
{
    static const struct {
        const char *args[8];
        const char *why;
    } cases[] = {
        {{"--agent", "Callee"}, "--listen ADDR is required"},
        {{"--listen", "local://x"}, "nothing to host"},
        {{"--listen", "local://x", "--agent", "Nope"}, "Unknown agent type \"Nope\" (known: "},
        {{"--listen", "local://x", "--agent", "Callee:0"}, "COUNT must be"},
        {{"--listen", "local://x", "--init", "[]"}, "--init must follow an --agent"},
        {{"--listen", "local://x", "--agent", "Callee", "--init", "[1,"}, "--init: not JSON"},
        {{"--listen", "local://x", "--agent", "Callee", "--run", "{}"}, "--run needs a JSON array"},
        {{"--listen", "local://x", "--agent", "Callee", "--tls", "a,b"}, "--tls needs"},
        {{"--listen", "local://x", "--agent", "Callee", "--clock", "sundial"}, "--clock must be"},
        {{"--listen", "local://x", "--agent", "Callee", "--seed", "-1"}, "--seed must be"},
        {{"--listen", "bogus://x", "--agent", "Callee"}, "bogus"},
        {{"--listen", "local://x", "--agent", "Callee", "--codec", "xml"}, "xml"},
        {{"--listen", "local://x", "--agent", "Callee", "--frobnicate"}, "unknown option"},
        {{"--listen", "local://x", "--agent", "HelloWorld", "--init", "[1]"}, "HelloWorld"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *const *a = cases[i].args;
        g_auto(CamasTestRun) r =
            camas_test_run_camas("container", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
        cr_assert_eq(r.status, 2, "case %zu: status %d, stderr %s", i, r.status, r.err);
        cr_assert(g_str_has_prefix(r.err, "camas container: "), "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, cases[i].why), "case %zu: %s", i, r.err);
        cr_assert(g_str_has_suffix(r.err, "\n") && strchr(r.err, '\n') == strrchr(r.err, '\n'),
                  "case %zu: not one line: %s", i, r.err);
    }
}

/* Reads lines from @fd until READY (or a deadline); returns the URLs before it. */
static GPtrArray *
read_until_ready(int fd)
{
    GPtrArray *urls = g_ptr_array_new_with_free_func(g_free);
    GString *buf = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        char *nl = memchr(buf->str, '\n', buf->len);
        if (nl) {
            g_autofree char *line = g_strndup(buf->str, (gsize)(nl - buf->str));
            g_string_erase(buf, 0, (gssize)(nl - buf->str) + 1);
            if (strcmp(line, "READY") == 0)
                break;
            g_ptr_array_add(urls, g_steal_pointer(&line));
            continue;
        }
        cr_assert_lt(g_get_monotonic_time(), deadline, "no READY");
        char chunk[256];
        ssize_t n = read(fd, chunk, sizeof chunk);
        cr_assert_gt(n, 0, "the container's stdout closed before READY");
        g_string_append_len(buf, chunk, n);
    }
    g_string_free(buf, TRUE);
    return urls;
}

Test(cmd_container, serves_calls_until_sigterm_ends_it_cleanly)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_REALTIME);
    const char *argv[] = {camas_test_camas_exe(), "container", "--listen", "tcp://127.0.0.1:0",
                          "--agent", "Callee:2", NULL};
    GPid pid;
    int out_fd;
    g_autoptr(GError) error = NULL;
    cr_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                       NULL, &pid, NULL, &out_fd, NULL, &error),
              "%s", error ? error->message : "");
    g_autoptr(GPtrArray) urls = read_until_ready(out_fd);
    cr_assert_eq(urls->len, 2);
    cr_assert(g_str_has_suffix(g_ptr_array_index(urls, 1), "/1"));

    /* a client container calls the second Callee */
    CamasContainer *c = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    g_autoptr(CamasFuture) f = camas_container_connect(c, g_ptr_array_index(urls, 1), &error);
    cr_assert(camas_clock_run_until_complete(w->clock, f, NULL, &error), "%s",
              error ? error->message : "");
    g_autoptr(CamasProxy) p = camas_container_connect_finish(f, &error);
    g_autoptr(CamasFuture) call = camas_proxy_call_build(p, "spam", "[i]", 2);
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_clock_run_until_complete(w->clock, call, &r, &error), "%s",
              error ? error->message : "");
    cr_assert_str_eq(camas_value_get_str(r, NULL), "spamspam");

    cr_assert_eq(kill(pid, SIGTERM), 0);
    /* keep serving our side meanwhile: the container waits for our end of the connection */
    int status;
    pid_t exited = 0;
    CAMAS_TEST_WAIT(w, (exited = waitpid(pid, &status, WNOHANG)) != 0);
    cr_assert_eq(exited, pid, "waitpid: %s", g_strerror(errno));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    g_spawn_close_pid(pid);
    close(out_fd);

    /* the peer is gone: the next call fails instead of hanging */
    g_autoptr(CamasFuture) late = camas_proxy_call_build(p, "spam", "[i]", 1);
    cr_assert_not(camas_clock_run_until_complete(w->clock, late, NULL, NULL));
}
