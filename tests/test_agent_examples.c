/* SPDX-License-Identifier: MIT */
/*
 * The examples of docs/agents.md (docs/examples/{channel-echo,rpc-math,agent-*}.c), built as
 * programs by tests/meson.build and run here on free ports: each must exit with status 0 and
 * print exactly what the aiomas original prints (ports normalised to PORT).
 */
#include <criterion/criterion.h>
#include <string.h>

#include <glib.h>

#include "certs.h"
#include "leakcheck.h"

TestSuite(agent_examples, .fini = camas_test_check_leaks, .timeout = 30);

/* Runs example @name with @args (NULL-terminated) and returns its stdout with every
 * ":<digits>/" and ":<digits>" port written as ":PORT". */
static char *
run_example(const char *name, const char *const *args)
{
    g_autofree char *exe = g_strdup_printf("%s/tests/example-%s", CAMAS_BUILDDIR, name);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, exe);
    for (const char *const *a = args; a && *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                           &err, &status, &error),
              "%s: %s", exe, error ? error->message : "");
    cr_assert(g_spawn_check_wait_status(status, &error), "%s: %s\nstderr: %s", name, error->message,
              err);
    g_autoptr(GRegex) port = g_regex_new(":[0-9]+", 0, 0, NULL);
    return g_regex_replace_literal(port, out, -1, 0, ":PORT", 0, NULL);
}

static const char *const any_port[] = {"tcp://127.0.0.1:0", NULL};

Test(agent_examples, channel_echo_says_ohai_and_cya)
{
    g_autofree char *out = run_example("channel-echo", any_port);
    cr_assert_str_eq(out, "ohai\ncya\n");
}

Test(agent_examples, rpc_math_server_adds_3_and_4)
{
    g_autofree char *out = run_example("rpc-math", any_port);
    cr_assert_str_eq(out, "What’s 3 + 4? 7\n");
}

Test(agent_examples, hello_world_agent_says_hello_three_times)
{
    g_autofree char *out = run_example("agent-hello", any_port);
    cr_assert_str_eq(out, "Monty says:\nHello, World!\nHello, World!\nHello, World!\n");
}

Test(agent_examples, caller_gets_spam_from_callee)
{
    g_autofree char *out = run_example("agent-caller-callee", any_port);
    cr_assert_str_eq(out, "Caller('tcp://127.0.0.1:PORT/1') connecting to tcp://127.0.0.1:PORT/0\n"
                          "Caller('tcp://127.0.0.1:PORT/1') connected to "
                          "CalleeProxy('tcp://127.0.0.1:PORT/0')\n"
                          "Caller('tcp://127.0.0.1:PORT/1') got spamspamspam\n");
}

Test(agent_examples, test_agents_greet_and_call_each_other)
{
    g_autofree char *out = run_example("agent-test-agents", any_port);
    cr_assert_str_eq(out, "Ohai, I am TestAgent('tcp://127.0.0.1:PORT/0')\n"
                          "Ohai, I am TestAgent('tcp://127.0.0.1:PORT/1')\n"
                          "TestAgent('tcp://127.0.0.1:PORT/0') got 42 from "
                          "TestAgentProxy('tcp://127.0.0.1:PORT/1')\n");
}

Test(agent_examples, tls_containers_talk_over_tls)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    const char *args[] = {certs->ca,           certs->server_cert,  certs->server_key,
                          "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL};
    g_autofree char *out = run_example("agent-tls", args);
    cr_assert_str_eq(out, "Pinger('tcp://127.0.0.1:PORT/0') got 'pong' from "
                          "tcp://127.0.0.1:PORT/0 over TLS\n");
}
