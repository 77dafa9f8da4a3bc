/* SPDX-License-Identifier: MIT */
/* The `camas` command-line program: dispatches to the subcommands of command-table.h. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "camas.h"
#include "command-table.h"

int
camas_cmd_fail(const char *cmd, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    fprintf(stderr, "camas %s: %s\n", cmd, msg);
    return CAMAS_EXIT_USAGE;
}

const char *
camas_cmd_option_value(int argc, char **argv, int *i, const char *name, gboolean *missing)
{
    const char *arg = argv[*i];
    gsize n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = TRUE;
        return NULL;
    }
    return argv[++*i];
}

static void
usage(FILE *out)
{
    fprintf(out, "usage: camas COMMAND [ARGS...]\n\ncommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(camas__command_table); i++)
        fprintf(out, "  %-10s %s\n", camas__command_table[i]->name,
                camas__command_table[i]->summary);
    fprintf(out, "\n`camas COMMAND --help` describes one command.\n");
}

int
main(int argc, char **argv)
{
    /* Output must not depend on the user's locale (decimal points, collation). */
    setlocale(LC_ALL, "C");
    if (argc < 2) {
        usage(stderr);
        return CAMAS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CAMAS_EXIT_OK;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(camas__command_table); i++)
        if (!strcmp(argv[1], camas__command_table[i]->name))
            return camas__command_table[i]->main(argc - 1, argv + 1);
    fprintf(stderr, "camas: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CAMAS_EXIT_USAGE;
}
