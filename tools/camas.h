/* SPDX-License-Identifier: MIT */
/*
 * The `camas` program's subcommand table.  A subcommand is one file tools/cmd-<name>.c defining
 * `const CamasCommand camas__command_<name>` plus its name in the `commands` list of
 * tools/meson.build.
 *
 * Exit codes, for every subcommand: 0 success, 1 a check failed, 2 bad input (arguments,
 * files, bytes) with a one-line error on stderr.
 */
#pragma once

#include <glib.h>

enum {
    CAMAS_EXIT_OK = 0,
    CAMAS_EXIT_FAILED = 1,
    CAMAS_EXIT_USAGE = 2,
};

typedef struct {
    const char *name;    /* as typed after `camas` */
    const char *summary; /* one line for `camas --help` */
    /* argv[0] is the subcommand name; returns the process exit code. */
    int (*main)(int argc, char **argv);
} CamasCommand;

/* Prints "camas <cmd>: <message>" on stderr and returns CAMAS_EXIT_USAGE. */
int camas_cmd_fail(const char *cmd, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value (advancing *i past it), or NULL —
 * when argv[*i] is another argument, or (setting *missing) when VALUE is missing. */
const char *camas_cmd_option_value(int argc, char **argv, int *i, const char *name,
                                   gboolean *missing);
