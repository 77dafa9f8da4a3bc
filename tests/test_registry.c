/* SPDX-License-Identifier: MIT */
/*
 * The agent-type registry and the parameters agent types declare (CamasAgentClass.params,
 * agents/params.c): checking declaration tables, binding call-form arguments (what `camas
 * container --agent` and the subprocess manager's spawn() do), the same messages from the
 * scenario loader and from binding, describing types, and the `camas types` and `camas
 * container` command lines that use them.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/registry.h>
#include <camas/scenario.h>
#include <camas/subproc.h>

#include "testutil.h"

TestSuite(registry, .fini = camas_test_check_leaks, .timeout = 60);

static CamasValue *
dummy_run(CamasAgent *agent, const CamasValue *args, GError **error)
{
    return camas_value_new_null();
}

/* A type with one parameter of each target: two positional init arguments, keywords of every
 * scalar kind, and entry point arguments. */
static const CamasParamSpec mixed_params[] = {
    {"label", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, "\"x\"", "its name"},
    {"size", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_ARG, FALSE, NULL, "how big"},
    {"step", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, TRUE, NULL, "what each call adds"},
    {"rate", CAMAS_PARAM_FLOAT, CAMAS_PARAM_INIT_KWARG, FALSE, "0.5", "a fraction"},
    {"wait", CAMAS_PARAM_DURATION, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "seconds"},
    {"on", CAMAS_PARAM_BOOL, CAMAS_PARAM_INIT_KWARG, FALSE, "true", "a switch"},
    {"extra", CAMAS_PARAM_VALUE, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "anything"},
    {"peer", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, TRUE, NULL, "who to call"},
    {"others", CAMAS_PARAM_AGENTS, CAMAS_PARAM_START_ARG, FALSE, NULL, "who else"},
    {NULL},
};
static const CamasAgentClass mixed_class = {
    .name = "Mixed",
    .run = dummy_run,
    .summary = "a test type",
    .params = mixed_params,
};

static const CamasAgentClass plain_class = {.name = "Plain"};

/* Binds (args, kwargs, start) given as JSON-ish camas_value_build() formats. */
static gboolean
bind(const CamasAgentClass *klass, CamasValue *args, CamasValue *kwargs, CamasValue *start,
     CamasValue **a, CamasValue **k, CamasValue **s, GError **error)
{
    gboolean ok = camas_agent_class_bind_args(klass, args, kwargs, start, a, k, s, error);
    g_clear_pointer(&args, camas_value_unref);
    g_clear_pointer(&kwargs, camas_value_unref);
    g_clear_pointer(&start, camas_value_unref);
    return ok;
}

Test(registry, binding_fills_positional_keyword_and_entry_point_arguments_with_defaults)
{
    g_autoptr(CamasValue) a = NULL, k = NULL, s = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(bind(&mixed_class, camas_value_build("[s]", "one"),
                   camas_value_build("{s:i s:i s:i}", "size", 4, "step", 2, "wait", 1),
                   camas_value_build("[s]", "tcp://h:1/0"), &a, &k, &s, &error),
              "%s", error->message);
    /* size given by name still goes to its position; rate and on get their defaults; wait, an
     * int, arrives as a float; extra and others were not given and have no default */
    camas_test_assert_value(a, "[s i]", "one", 4);
    camas_test_assert_value(k, "{s:i s:f s:f s:b}", "step", 2, "rate", 0.5, "wait", 1.0, "on",
                            TRUE);
    camas_test_assert_value(s, "[s]", "tcp://h:1/0");
}

Test(registry, binding_without_entry_point_arguments_leaves_them_alone)
{
    g_autoptr(CamasValue) a = NULL, k = NULL;
    g_autoptr(GError) error = NULL;
    /* peer is required, but nobody starts the agent here (the subprocess manager's spawn):
     * the entry point's arguments come back as NULL */
    g_autoptr(CamasValue) marker = camas_value_new_int(1);
    CamasValue *s = marker;
    cr_assert(
        bind(&mixed_class, NULL, camas_value_build("{s:i}", "step", 1), NULL, &a, &k, &s, &error),
        "%s", error->message);
    cr_assert_null(s);
    camas_test_assert_value(a, "[s]", "x");
    /* a type without declarations binds nothing to nothing */
    g_autoptr(CamasValue) a2 = NULL, k2 = NULL;
    cr_assert(
        bind(&plain_class, NULL, NULL, camas_value_new_list(NULL, 0), &a2, &k2, NULL, &error));
    camas_test_assert_value(a2, "[]");
    camas_test_assert_value(k2, "{}");
}

Test(registry, bad_arguments_are_one_line_errors_naming_the_type_and_the_parameter)
{
    static const struct {
        const char *args, *kwargs, *start; /* JSON; NULL = not given */
        const CamasAgentClass *klass;
        const char *message;
    } cases[] = {
        {NULL, "{\"stepp\": 1}", "[\"u\"]", &mixed_class,
         "unknown parameter \"stepp\" (did you mean \"step\"?); Mixed takes: label, size, step, "
         "rate, wait, on, extra, peer, others"},
        {NULL, "{\"x\": 1}", NULL, &plain_class,
         "unknown parameter \"x\": Plain takes no parameters"},
        {NULL, "{\"step\": \"3\"}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"step\" (int) expects an integer, got a string"},
        {NULL, "{\"step\": 1.5}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"step\" (int) expects an integer, got a number with a fraction"},
        {NULL, "{\"step\": 1, \"rate\": true}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"rate\" (float) expects a number, got a boolean"},
        {NULL, "{\"step\": 1, \"wait\": -0.25}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"wait\" (duration) must not be negative, got -0.25"},
        {NULL, "{\"step\": 1, \"on\": 1}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"on\" (bool) expects true or false, got an integer"},
        {NULL, "{\"step\": 1}", "[7]", &mixed_class,
         "Mixed parameter \"peer\" (agent) expects an agent's URL (a string), got an integer"},
        {NULL, "{\"step\": 1}", "[\"u\", [\"v\", 1]]", &mixed_class,
         "Mixed parameter \"others\" (agents) expects a list of agents' URLs (strings), got an "
         "array"},
        {NULL, "{}", "[\"u\"]", &mixed_class,
         "Mixed needs the parameter \"step\" (int: what each call adds)"},
        {NULL, "{\"step\": 1}", "[]", &mixed_class,
         "Mixed needs the parameter \"peer\" (agent: who to call)"},
        {"[\"a\", 1, 2]", "{\"step\": 1}", "[\"u\"]", &mixed_class,
         "Mixed takes 2 positional init arguments (label, size), got 3"},
        {"[1]", NULL, NULL, &plain_class, "Plain takes no positional init arguments, got 1"},
        {NULL, "{\"step\": 1}", "[\"u\", [], 3]", &mixed_class,
         "Mixed takes 2 entry point arguments (peer, others), got 3"},
        {NULL, "{\"step\": 1, \"peer\": \"u\"}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"peer\" is an argument of the entry point, not of init"},
        {"[\"a\"]", "{\"step\": 1, \"label\": \"b\"}", "[\"u\"]", &mixed_class,
         "Mixed parameter \"label\" is given both by position and by name"},
        {NULL, NULL, "[1]", &plain_class, "Plain has no entry point to take arguments"},
    };
    g_autoptr(CamasCodec) json = camas_codec_new("json", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        CamasValue *in[3] = {NULL, NULL, NULL};
        const char *texts[3] = {cases[i].args, cases[i].kwargs, cases[i].start};
        for (int j = 0; j < 3; j++)
            if (texts[j])
                in[j] = camas_codec_decode(json, (const guint8 *)texts[j], strlen(texts[j]), NULL);
        g_autoptr(CamasValue) a = NULL, k = NULL, s = NULL;
        g_autoptr(GError) error = NULL;
        cr_assert_not(bind(cases[i].klass, in[0], in[1], in[2], &a, &k, &s, &error), "case %zu", i);
        camas_test_assert_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, NULL);
        cr_assert_str_eq(error->message, cases[i].message, "case %zu", i);
        cr_assert_null(a, "case %zu: nothing handed out on failure", i);
    }
}

Test(registry, a_positional_parameter_cannot_follow_one_left_out)
{
    static const CamasParamSpec gap_params[] = {
        {"a", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_ARG, FALSE, NULL, "first"},
        {"b", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_ARG, FALSE, NULL, "second"},
        {NULL},
    };
    static const CamasAgentClass gap_class = {.name = "Gap", .params = gap_params};
    g_autoptr(CamasValue) a = NULL, k = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert_not(
        bind(&gap_class, NULL, camas_value_build("{s:i}", "b", 2), NULL, &a, &k, NULL, &error));
    cr_assert_str_eq(error->message, "Gap's parameter \"b\" is given, so \"a\" (which comes "
                                     "before it) must be given too");
}

/* The scenario loader and binding word the same mistake the same way: the scenario adds only
 * "<file>: <JSON path>: " in front. */
Test(registry, scenario_files_and_call_arguments_get_the_same_messages)
{
    static const struct {
        const char *type, *params, *path;
    } cases[] = {
        {"PingPong", "{\"roundz\": 3}", ".params.roundz"},
        {"PingPong", "{\"rounds\": \"3\"}", ".params.rounds"},
        {"PingPong", "{\"interval\": -1}", ".params.interval"},
        {"Gossip", "{\"peers\": \"@g\", \"fanout\": 2.5}", ".params.fanout"},
        {"RingElection", "{}", ""},
        {"EchoAgent", "{\"x\": 1}", ".params.x"},
    };
    g_autoptr(CamasCodec) json = camas_codec_new("json", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text =
            g_strdup_printf("{\"agents\": [{\"name\": \"g\", \"type\": \"%s\", \"params\": %s}]}",
                            cases[i].type, cases[i].params);
        g_autoptr(GError) serror = NULL;
        g_autoptr(CamasScenario) sc =
            camas_scenario_load_data(text, strlen(text), "t.json", &serror);
        cr_assert_null(sc, "case %zu", i);

        const CamasAgentClass *klass = camas_test_agent_type(cases[i].type);
        CamasValue *kwargs = camas_codec_decode(json, (const guint8 *)cases[i].params,
                                                strlen(cases[i].params), NULL);
        if (camas_value_map_lookup(kwargs, "peers")) { /* a reference in files, URLs here */
            camas_value_unref(kwargs);
            kwargs = camas_value_build("{s:[s] s:f}", "peers", "local://x/0", "fanout", 2.5);
        }
        g_autoptr(CamasValue) a = NULL, k = NULL;
        g_autoptr(GError) berror = NULL;
        cr_assert_not(bind(klass, NULL, kwargs, NULL, &a, &k, NULL, &berror), "case %zu", i);
        g_autofree char *expect =
            g_strdup_printf("t.json: $.agents[0]%s: %s", cases[i].path, berror->message);
        cr_assert_str_eq(serror->message, expect, "case %zu", i);
    }
}

Test(registry, malformed_declarations_are_refused_by_the_class_check_and_the_registry)
{
    static const CamasParamSpec twice[] = {
        {"x", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "one"},
        {"x", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "two"},
        {NULL},
    };
    static const CamasParamSpec bad_default[] = {
        {"n", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "\"three\"", "a number"},
        {NULL},
    };
    static const CamasParamSpec not_json[] = {
        {"n", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "thr", "a number"},
        {NULL},
    };
    static const CamasParamSpec agent_default[] = {
        {"who", CAMAS_PARAM_AGENT, CAMAS_PARAM_INIT_KWARG, FALSE, "\"tcp://h:1/0\"", "x"},
        {NULL},
    };
    static const CamasParamSpec for_run[] = {
        {"who", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, TRUE, NULL, "for run"},
        {NULL},
    };
    static const CamasParamSpec bad_kind[] = {
        {"k", (CamasParamKind)42, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "?"},
        {NULL},
    };
    static const CamasAgentClass classes[] = {
        {.name = "RegTwice", .params = twice},
        {.name = "RegBadDefault", .params = bad_default},
        {.name = "RegNotJson", .params = not_json},
        {.name = "RegAgentDefault", .params = agent_default},
        {.name = "RegNoEntry", .params = for_run},
        {.name = "RegBadKind", .params = bad_kind},
    };
    static const char *const messages[] = {
        "Invalid agent type RegTwice: parameter \"x\" is declared twice",
        "Invalid agent type RegBadDefault: parameter \"n\": default \"three\" is not a valid int",
        "Invalid agent type RegNotJson: parameter \"n\": default thr is not JSON (",
        "Invalid agent type RegAgentDefault: parameter \"who\": default \"tcp://h:1/0\" is not a "
        "valid agent",
        "Invalid agent type RegNoEntry: parameter \"who\" goes to an entry point the type does "
        "not have",
        "Invalid agent type RegBadKind: parameter \"k\" has an unknown kind or target",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(classes); i++) {
        g_autoptr(GError) e1 = NULL, e2 = NULL;
        cr_assert_not(camas_agent_class_check(&classes[i], &e1), "case %zu", i);
        cr_assert(g_str_has_prefix(e1->message, messages[i]), "case %zu: %s", i, e1->message);
        cr_assert_not(camas_agent_registry_add(&classes[i], &e2), "case %zu", i);
        cr_assert_str_eq(e2->message, e1->message, "case %zu", i);
        cr_assert_null(camas_agent_registry_lookup(classes[i].name, NULL), "case %zu", i);
    }
}

Test(registry, a_table_of_abi_version_1_is_read_without_parameters)
{
    static const CamasParamSpec p[] = {{"x", CAMAS_PARAM_INT, 0, TRUE, NULL, "x"}, {NULL}};
    static const CamasAgentClass old = {.name = "Old", .abi_version = 1, .params = p};
    static const CamasAgentClass cur = {.name = "Cur", .abi_version = 2, .params = p};
    cr_assert_null(camas_agent_class_get_params(&old));
    cr_assert_eq(camas_agent_class_get_params(&cur), p);
    static const CamasAgentClass future = {.name = "Future", .abi_version = 3};
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_agent_class_check(&future, &error));
}

Test(registry, scenario_descriptions_take_their_parameters_from_the_class)
{
    /* a plug-in type: the class declares, the description adds nothing but may add a state */
    static const CamasParamSpec p[] = {
        {"n", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "7", "a number"},
        {NULL},
    };
    static const CamasAgentClass klass = {.name = "RegDescribed", .params = p};
    static const CamasScenarioType type = {.klass = &klass};
    cr_assert(camas_scenario_type_register(&type, NULL));
    const CamasScenarioType *view = camas_scenario_type_lookup("RegDescribed", NULL);
    cr_assert_eq(view->params, p);
    cr_assert_eq(view->klass, &klass);
    cr_assert(camas_scenario_type_register(&type, NULL), "registering the same table again");
    /* declaring in both places is refused */
    static const CamasAgentClass klass2 = {.name = "RegTwoPlaces", .params = p};
    static const CamasScenarioType both = {.klass = &klass2, .params = p};
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_scenario_type_register(&both, &error));
    cr_assert(strstr(error->message, "declared twice, by the scenario type and by the agent "
                                     "class"),
              "%s", error->message);
    /* a type that only has a class is described by it */
    const CamasScenarioType *caller = camas_scenario_type_lookup("Caller", NULL);
    cr_assert_eq(caller->params, camas_agent_class_get_params(camas_test_agent_type("Caller")));
    cr_assert_null(caller->state);
}

Test(registry, descriptions_list_every_parameter_in_declaration_order)
{
    g_autofree char *text = camas_agent_class_dup_description(&mixed_class);
    cr_assert_str_eq(text, "Mixed                a test type\n"
                           "    label        str      = \"x\"          its name (init #1)\n"
                           "    size         int      optional       how big (init #2)\n"
                           "    step         int      required       what each call adds\n"
                           "    rate         float    = 0.5          a fraction\n"
                           "    wait         duration optional       seconds\n"
                           "    on           bool     = true         a switch\n"
                           "    extra        value    optional       anything\n"
                           "    peer         agent    required       who to call (run)\n"
                           "    others       agents   optional       who else (run)\n");
    g_autofree char *plain = camas_agent_class_dup_description(&plain_class);
    cr_assert_str_eq(plain, "Plain\n");
}

Test(registry, every_built_in_type_binds_its_declared_defaults)
{
    g_autofree const CamasAgentClass **all = camas_agent_registry_list();
    gsize n = 0;
    for (; all[n]; n++) {
        if (n > 0)
            cr_assert_lt(strcmp(all[n - 1]->name, all[n]->name), 0, "sorted by name");
        /* no arguments at all: only the required parameters are missing */
        gboolean needs = FALSE;
        for (const CamasParamSpec *p = camas_agent_class_get_params(all[n]); p && p->name; p++)
            needs |= p->required && p->target != CAMAS_PARAM_START_ARG;
        g_autoptr(CamasValue) a = NULL, k = NULL;
        g_autoptr(GError) error = NULL;
        cr_assert_eq(camas_agent_class_bind_args(all[n], NULL, NULL, NULL, &a, &k, NULL, &error),
                     !needs, "%s: %s", all[n]->name, error ? error->message : "bound");
    }
    cr_assert_geq(n, 11);
}

/* --- the command lines ---------------------------------------------------------------------- */

Test(registry, camas_types_prints_every_type_sorted_with_its_parameters)
{
    g_auto(CamasTestRun) r = camas_test_run_camas("types", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    g_autofree const CamasAgentClass **all = camas_agent_registry_list();
    g_autoptr(GString) expect = g_string_new(NULL);
    for (gsize i = 0; all[i]; i++) {
        g_autofree char *d = camas_agent_class_dup_description(all[i]);
        g_string_append(expect, d);
    }
    cr_assert_str_eq(r.out, expect->str);
    g_auto(CamasTestRun) run = camas_test_run_camas("run", "--list-types", NULL);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_str_eq(run.out, expect->str, "camas run --list-types lists what camas types does");
    cr_assert(strstr(r.out, "\n    callee       agent    required       the Callee whose "
                            "spam(3) it calls (run)\n"),
              "%s", r.out);

    g_autofree char *so = g_strdup_printf("%s/tests/libmyagents.so", CAMAS_BUILDDIR);
    g_auto(CamasTestRun) one = camas_test_run_camas("types", "--plugin", so, "Adder", NULL);
    cr_assert_eq(one.status, 0, "%s", one.err);
    cr_assert_str_eq(one.out,
                     "Adder                add(n) -> total; run(peer) calls peer.add(step) `times` "
                     "times\n"
                     "    label        str      = \"adder\"      its name in logs (init #1)\n"
                     "    step         int      required       what each call adds\n"
                     "    times        int      = 3            calls to make\n"
                     "    peer         agent    optional       the Adder to add to (run)\n");

    g_auto(CamasTestRun) bad = camas_test_run_camas("types", "Callee", "Nope", NULL);
    cr_assert_eq(bad.status, 2);
    cr_assert_str_eq(bad.out, "");
    cr_assert(g_str_has_prefix(bad.err, "camas types: Unknown agent type \"Nope\" (known: "), "%s",
              bad.err);
    g_auto(CamasTestRun) opt = camas_test_run_camas("types", "--frob", NULL);
    cr_assert_eq(opt.status, 2);
}

Test(registry, camas_container_refuses_bad_init_arguments_before_starting_anything)
{
    g_autofree char *so = g_strdup_printf("%s/tests/libmyagents.so", CAMAS_BUILDDIR);
    const struct {
        const char *args[6];
        const char *message;
    } cases[] = {
        {{"--agent", "PingPong", "--init", "{\"roundz\": 3}"},
         "--agent PingPong: unknown parameter \"roundz\" (did you mean \"rounds\"?); PingPong "
         "takes: peer, rounds, interval"},
        {{"--agent", "PingPong:2", "--init", "{\"rounds\": \"3\"}"},
         "--agent PingPong:2: PingPong parameter \"rounds\" (int) expects an integer, got a "
         "string"},
        {{"--agent", "Caller"},
         "--agent Caller: Caller needs the parameter \"callee\" (agent: the Callee whose spam(3) "
         "it calls)"},
        {{"--agent", "Callee", "--run", "[1]"},
         "--agent Callee: Callee has no entry point to "
         "take arguments"},
        {{"--agent", "HelloWorld", "--init", "[\"a\", \"b\"]"},
         "--agent HelloWorld: HelloWorld takes 1 positional init argument (name), got 2"},
        {{"--plugin", so, "--agent", "Adder", "--init", "{\"times\": 2}"},
         "--agent Adder: Adder needs the parameter \"step\" (int: what each call adds)"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *const *a = cases[i].args;
        g_auto(CamasTestRun) r =
            camas_test_run_camas("container", "--listen", "local://reg", "--clock", "afap", a[0],
                                 a[1], a[2], a[3], a[4], a[5], NULL);
        cr_assert_eq(r.status, 2, "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "", "case %zu: nothing started", i);
        g_autofree char *expect = g_strdup_printf("camas container: %s\n", cases[i].message);
        cr_assert_str_eq(r.err, expect, "case %zu", i);
    }
}

Test(registry, camas_container_gives_agents_their_declared_defaults)
{
    g_autofree char *so = g_strdup_printf("%s/tests/libmyagents.so", CAMAS_BUILDDIR);
    /* Adder's init unpacks step and times both: times comes from its declared default (3),
     * label from its default "adder" */
    g_auto(CamasTestRun) r = camas_test_run_camas(
        "container", "--listen", "local://reg", "--clock", "afap", "--plugin", so, "--agent",
        "Adder", "--init", "{\"step\": 2}", "--agent", "Adder", "--init", "{\"step\": 5}", "--run",
        "[\"local://reg/0\"]", "--until-done", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "local://reg/0\nlocal://reg/1\nREADY\nlocal://reg/0 adder ready\n"
                            "local://reg/1 adder ready\n");
}

/* The subprocess manager's spawn(type, *args, **kwargs) binds the same way, in-process here:
 * a bad call is a TypeError with the binding message, a good one gets the declared defaults. */
Test(registry, the_managers_spawn_checks_arguments_against_the_declarations)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *server = NULL;
    g_autoptr(CamasProxy) manager =
        camas_test_pair_new(w, "reg", &camas_subproc_manager_class, NULL, &server, NULL);
    g_autoptr(CamasFuture) bad =
        camas_proxy_call_build(manager, "spawn", "([s] {s:s})", "PingPong", "rounds", "3");
    g_autoptr(GError) e = camas_test_await_error(w, bad);
    camas_test_assert_remote(
        e, "TypeError: PingPong parameter \"rounds\" (int) expects an integer, got a string\n");
    g_autoptr(CamasFuture) surplus =
        camas_proxy_call_build(manager, "spawn", "[s s s]", "HelloWorld", "a", "b");
    g_autoptr(GError) e2 = camas_test_await_error(w, surplus);
    camas_test_assert_remote(
        e2, "TypeError: HelloWorld takes 1 positional init argument (name), got 2\n");
    /* Caller's required callee goes to run, which spawn() does not start: accepted */
    g_autoptr(CamasFuture) ok = camas_proxy_call_build(manager, "spawn", "[s]", "Caller");
    g_autoptr(CamasValue) r = camas_test_await_ok(w, ok);
    cr_assert_eq(camas_container_get_n_agents(server), 2, "the manager and the Caller");
}
