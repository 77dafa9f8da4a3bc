/* SPDX-License-Identifier: MIT */
/*
 * `camas types`: the registered agent types (camas/registry.h) with their declared parameters
 * (CamasAgentClass.params), sorted by name — what `camas container --agent`, the subprocess
 * manager and scenario files accept.  Plug-ins given with --plugin are listed too.
 */
#include <stdio.h>
#include <string.h>

#include <camas/registry.h>
#include <camas/scenario.h>

#include "camas.h"

#define CMD "types"

static void
usage(FILE *out)
{
    fprintf(out, "usage: camas types [--plugin LIB]... [TYPE]...\n"
                 "\n"
                 "Prints every registered agent type (or the TYPEs named), sorted by name: the\n"
                 "name and summary, then one line per parameter: name, kind, \"required\",\n"
                 "\"= DEFAULT\" or \"optional\", what it is, and where it goes when it is not a\n"
                 "keyword argument of init (\"(init #N)\": the Nth positional init argument;\n"
                 "\"(run)\": an argument of the proactive entry point).\n"
                 "\n"
                 "  --plugin LIB   load agent types from a shared library first (its\n"
                 "                 camas_plugin_init(), as for scenario files' \"plugins\")\n");
}

static int
types_main(int argc, char **argv)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *lib;
        gboolean missing = FALSE;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return CAMAS_EXIT_OK;
        }
        if ((lib = camas_cmd_option_value(argc, argv, &i, "--plugin", &missing))) {
            g_autoptr(GError) error = NULL;
            if (!camas_plugin_load(lib, &error))
                return camas_cmd_fail(CMD, "--plugin: %s", error->message);
        } else if (missing) {
            return camas_cmd_fail(CMD, "--plugin needs a shared library");
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return camas_cmd_fail(CMD, "unknown option %s (see camas types --help)", arg);
        } else {
            g_ptr_array_add(names, (gpointer)arg);
        }
    }
    g_autofree const CamasAgentClass **all = camas_agent_registry_list();
    g_autoptr(GString) out = g_string_new(NULL);
    if (names->len == 0) {
        for (gsize i = 0; all[i]; i++) {
            g_autofree char *text = camas_agent_class_dup_description(all[i]);
            g_string_append(out, text);
        }
    }
    /* Named types come in the order given; every name is looked up before anything is
     * printed, so a bad one leaves stdout empty. */
    for (guint i = 0; i < names->len; i++) {
        g_autoptr(GError) error = NULL;
        const CamasAgentClass *k = camas_agent_registry_lookup(names->pdata[i], &error);
        if (!k)
            return camas_cmd_fail(CMD, "%s", error->message);
        g_autofree char *text = camas_agent_class_dup_description(k);
        g_string_append(out, text);
    }
    fputs(out->str, stdout);
    return CAMAS_EXIT_OK;
}

const CamasCommand camas__command_types = {
    .name = CMD,
    .summary = "list agent types with their parameters",
    .main = types_main,
};
