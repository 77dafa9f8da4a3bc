/* SPDX-License-Identifier: MIT */
/*
 * `camas check`: runs scenario files and compares each with its "expect" section (fingerprint,
 * counts, final agent states) and, when there is one, with a reference trace, naming the first
 * record that differs.  One line per file: "ok", "FAILED" with every reason, or "ERROR" for a
 * file that cannot be run.  Exit status: 0 all passed, 1 a check failed, 2 a file or argument
 * was bad input (which wins over 1).
 */
#include <stdio.h>
#include <string.h>

#include <camas/scenario.h>

#include "camas.h"

#define CMD "check"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: camas check [--reference TRACE] SCENARIO.json...\n"
            "\n"
            "Runs each scenario and compares it with its \"expect\" section.  Prints one line\n"
            "per scenario: \"ok\", \"FAILED\" with the reasons, or \"ERROR\" when it cannot run.\n"
            "\n"
            "  --reference TRACE   compare the run's trace with TRACE (JSON Lines, as written\n"
            "                      by camas run --trace) and name the first record that\n"
            "                      differs; one scenario only.  Without it, the file's\n"
            "                      expect.reference_trace is used when it has one.\n"
            "\n"
            "Exit status: 0 every scenario passed, 1 a check failed, 2 bad input.\n");
}

static int
check_main(int argc, char **argv)
{
    const char *reference = NULL;
    g_autoptr(GPtrArray) files = g_ptr_array_new();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        gboolean missing = FALSE;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return CAMAS_EXIT_OK;
        } else if ((v = camas_cmd_option_value(argc, argv, &i, "--reference", &missing))) {
            reference = v;
        } else if (missing) {
            return camas_cmd_fail(CMD, "--reference needs a trace file");
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return camas_cmd_fail(CMD, "unknown option %s (see camas check --help)", arg);
        } else {
            g_ptr_array_add(files, (gpointer)arg);
        }
    }
    if (files->len == 0)
        return camas_cmd_fail(CMD, "no scenario files given (see camas check --help)");
    if (reference && files->len > 1)
        return camas_cmd_fail(CMD, "--reference compares one scenario, got %u", files->len);

    int status = CAMAS_EXIT_OK;
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasScenario) scenario = camas_scenario_load_file(file, &error);
        g_autoptr(CamasScenarioResult) result = NULL;
        if (scenario) {
            CamasScenarioRunOptions options = {
                .reference_trace =
                    reference ? reference : camas_scenario_get_reference_trace(scenario),
            };
            result = camas_scenario_run(scenario, &options, &error);
        }
        if (!result) {
            /* the message names the file already */
            printf("ERROR  %s\n", error->message);
            status = CAMAS_EXIT_USAGE;
        } else if (!camas_scenario_result_check(result, scenario, &error)) {
            printf("FAILED %s: %s\n", file, error->message);
            if (status == CAMAS_EXIT_OK)
                status = CAMAS_EXIT_FAILED;
        } else {
            const CamasScenarioStats *st = camas_scenario_result_get_stats(result);
            printf("ok     %s (%s: %" G_GUINT64_FORMAT " events, fingerprint %.12s...%s)\n", file,
                   camas_scenario_get_name(scenario), st->events, st->fingerprint,
                   camas_scenario_get_expected_fingerprint(scenario) ? ""
                                                                      : ", none expected");
        }
        fflush(stdout);
    }
    return status;
}

const CamasCommand camas__command_check = {
    .name = "check",
    .summary = "run scenario files and compare them with their expected fingerprints and states",
    .main = check_main,
};
