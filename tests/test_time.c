/* SPDX-License-Identifier: MIT */
/* Tests of tick, second and ISO 8601 date conversions (engine/time.c). */
#include <criterion/criterion.h>
#include <math.h>

#include <camas/time.h>

#include "leakcheck.h"

TestSuite(time, .fini = camas_test_check_leaks);

static gint64
ticks_of(double s)
{
    gint64 t = -1;
    GError *error = NULL;
    cr_assert(camas_time_from_seconds(s, &t, &error), "%g: %s", s, error ? error->message : "");
    return t;
}

Test(time, tenths_of_seconds_are_exact_ticks)
{
    cr_assert_eq(ticks_of(0.1), 100000000);
    gint64 sum = 0;
    for (int i = 0; i < 10; i++)
        sum += ticks_of(0.1);
    cr_assert_eq(sum, CAMAS_TICKS_PER_SECOND);
    cr_assert_eq(ticks_of(1.5), 1500000000);
    cr_assert_eq(ticks_of(0.000000001), 1);
    cr_assert_eq(ticks_of(-0.25), -250000000);
    cr_assert_eq(ticks_of(0.0000000004), 0);
    cr_assert_eq(ticks_of(0.0000000006), 1);
}

Test(time, large_times_keep_the_whole_seconds_exact)
{
    /* 10^9 s + 0.5 s: the product with 1e9 would round; the split conversion does not. */
    cr_assert_eq(ticks_of(1e9 + 0.5), G_GINT64_CONSTANT(1000000000500000000));
    cr_assert_eq(ticks_of(9e9), G_GINT64_CONSTANT(9000000000000000000));
}

Test(time, seconds_that_do_not_fit_are_errors)
{
    const double bad[] = {NAN, INFINITY, -INFINITY, 1e10, -1e10};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *error = NULL;
        gint64 t = 42;
        cr_assert_not(camas_time_from_seconds(bad[i], &t, &error));
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
        cr_assert_eq(t, 42, "output untouched on error");
        g_error_free(error);
    }
}

Test(time, ticks_convert_back_to_seconds)
{
    cr_assert_eq(camas_time_to_seconds(100000000), 0.1);
    cr_assert_eq(camas_time_to_seconds(CAMAS_TICKS_PER_SECOND * 5), 5.0);
    cr_assert_eq(camas_time_to_seconds(-1500000000), -1.5);
    cr_assert_eq(camas_time_to_seconds(G_GINT64_CONSTANT(1000000000500000000)), 1e9 + 0.5);
}

typedef struct {
    const char *text;
    gint64 unix_ns;
    gint32 offset;
} DateCase;

Test(time, dates_parse_in_every_accepted_form)
{
    static const DateCase cases[] = {
        {"1970-01-01T00:00:00+00:00", 0, 0},
        {"2016-01-01T00:00:00+00:00", G_GINT64_CONSTANT(1451606400) * 1000000000, 0},
        {"2016-01-01T00:00:00", G_GINT64_CONSTANT(1451606400) * 1000000000, 0},
        {"2016-01-01", G_GINT64_CONSTANT(1451606400) * 1000000000, 0},
        {"2016-01-01 00:00", G_GINT64_CONSTANT(1451606400) * 1000000000, 0},
        {"2016-01-01T00:00:00Z", G_GINT64_CONSTANT(1451606400) * 1000000000, 0},
        {"2016-03-27T01:59:59.250000+01:00",
         G_GINT64_CONSTANT(1459040399) * 1000000000 + 250000000, 3600},
        {"2016-03-27T01:59:59.25+0100", G_GINT64_CONSTANT(1459040399) * 1000000000 + 250000000,
         3600},
        {"2016-03-27T01:59:59.25+01", G_GINT64_CONSTANT(1459040399) * 1000000000 + 250000000,
         3600},
        {"2000-02-29T12:00:00-05:30", G_GINT64_CONSTANT(951845400) * 1000000000, -19800},
        {"1969-12-31T23:59:59.999999999Z", -1, 0},
        {"2262-04-11T23:47:16.854775807Z", G_MAXINT64, 0},
        {"1677-09-21T00:12:43.145224192Z", G_MININT64, 0},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *error = NULL;
        gint64 ns = 0;
        gint32 off = 99;
        cr_assert(camas_date_parse(cases[i].text, &ns, &off, &error), "%s: %s", cases[i].text,
                  error ? error->message : "");
        cr_assert_eq(ns, cases[i].unix_ns, "%s: %" G_GINT64_FORMAT, cases[i].text, ns);
        cr_assert_eq(off, cases[i].offset, "%s", cases[i].text);
    }
}

Test(time, bad_dates_are_errors_naming_the_position)
{
    static const struct {
        const char *text;
        const char *where;
    } cases[] = {
        {"", "position 0"},
        {"2016", "position 4"},
        {"2016-13-01", "month out of range"},
        {"2016-02-30", "day out of range"},
        {"2015-02-29", "day out of range"},
        {"2016-01-01T24:00", "time of day out of range"},
        {"2016-01-01T10:60", "time of day out of range"},
        {"2016-01-01T10:00:00.", "expected fractional digits"},
        {"2016-01-01T10:00:00.1234567891", "more than 9 fractional digits"},
        {"2016-01-01T10:00:00+25:00", "offset out of range"},
        {"2016-01-01T10:00:00 UTC", "trailing text at position 19"},
        {"2016-01-01x", "trailing text at position 10"},
        {"2263-01-01", "representable range"},
        {"1600-01-01", "representable range"},
        {"abcd-01-01", "4-digit year at position 0"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *error = NULL;
        gint64 ns = 7;
        cr_assert_not(camas_date_parse(cases[i].text, &ns, NULL, &error), "%s", cases[i].text);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
        cr_assert(strstr(error->message, cases[i].where), "%s: %s", cases[i].text,
                  error->message);
        cr_assert_eq(ns, 7);
        g_error_free(error);
    }
}

Test(time, dates_format_as_arrow_does)
{
    static const struct {
        gint64 ns;
        gint32 offset;
        const char *text;
    } cases[] = {
        {G_GINT64_CONSTANT(1451606400) * 1000000000, 0, "2016-01-01T00:00:00+00:00"},
        {G_GINT64_CONSTANT(1451606401) * 1000000000, 0, "2016-01-01T00:00:01+00:00"},
        {G_GINT64_CONSTANT(1459040399) * 1000000000 + 250000000, 3600,
         "2016-03-27T01:59:59.250000+01:00"},
        {G_GINT64_CONSTANT(1459040399) * 1000000000 + 250000001, 0,
         "2016-03-27T00:59:59.250000001+00:00"},
        {-1, 0, "1969-12-31T23:59:59.999999999+00:00"},
        {-1000, 0, "1969-12-31T23:59:59.999999+00:00"},
        {G_GINT64_CONSTANT(951845400) * 1000000000, -19800, "2000-02-29T12:00:00-05:30"},
        {G_MAXINT64, 0, "2262-04-11T23:47:16.854775807+00:00"},
        {G_MININT64, 0, "1677-09-21T00:12:43.145224192+00:00"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *s = camas_date_format(cases[i].ns, cases[i].offset);
        cr_assert_str_eq(s, cases[i].text);
        gint64 back;
        gint32 off;
        cr_assert(camas_date_parse(s, &back, &off, NULL));
        cr_assert_eq(back, cases[i].ns, "round trip of %s", s);
        cr_assert_eq(off, cases[i].offset);
    }
}

Test(time, every_day_of_four_centuries_round_trips)
{
    /* 1900-01-01 .. 2299-12-31 would overflow at the end; walk 1700..2261 day by day. */
    gint64 start, end;
    cr_assert(camas_date_parse("1700-01-01", &start, NULL, NULL));
    cr_assert(camas_date_parse("2261-12-31", &end, NULL, NULL));
    gint64 day = G_GINT64_CONSTANT(86400) * 1000000000;
    int prev_day = 0;
    for (gint64 t = start; t <= end; t += day) {
        g_autofree char *s = camas_date_format(t, 0);
        gint64 back;
        cr_assert(camas_date_parse(s, &back, NULL, NULL), "%s", s);
        cr_assert_eq(back, t, "%s", s);
        int d = atoi(s + 8);
        cr_assert(d == prev_day + 1 || d == 1, "day sequence broken at %s", s);
        prev_day = d;
    }
}
