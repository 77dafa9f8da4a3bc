/* SPDX-License-Identifier: MIT */
/*
 * Time at the edges of the scheduler: the engine counts time in integer ticks (nanoseconds,
 * gint64) so that sums of durations are exact; users speak seconds (double, as aiomas does)
 * and ISO 8601 dates (as arrow does).  This file converts between the three, deterministically
 * and without reading any clock.
 *
 * A tick value is either a simulation time (ticks since the clock's origin) or, for dates, the
 * number of nanoseconds since 1970-01-01T00:00:00Z ("unix ns").  gint64 covers ±292 years of
 * simulation time, and dates from 1677-09-21 to 2262-04-11.
 */
#pragma once

#include <camas/error.h>

G_BEGIN_DECLS

#define CAMAS_TICKS_PER_SECOND G_GINT64_CONSTANT(1000000000)
#define CAMAS_TICKS_PER_MS G_GINT64_CONSTANT(1000000)
#define CAMAS_TICKS_PER_US G_GINT64_CONSTANT(1000)

/**
 * camas_time_from_seconds:
 * @seconds: a time or duration in seconds
 * @ticks: (out): the same in ticks, rounded to the nearest nanosecond (ties away from zero)
 *
 * The integer and fractional parts are converted separately, so 0.1 is exactly 100000000
 * ticks and ten of them are exactly one second, and large values keep every nanosecond a
 * double can carry.
 *
 * Returns: FALSE with CAMAS_ERROR_INVALID when @seconds is NaN, infinite, or outside the
 * ±9.2e9 s that ticks can hold.
 */
CAMAS_API gboolean camas_time_from_seconds(double seconds, gint64 *ticks, GError **error);

/* Ticks as seconds (a double: exact up to 2^53 ns, about 104 days; nearest beyond). */
CAMAS_API double camas_time_to_seconds(gint64 ticks);

/**
 * camas_date_parse:
 * @text: an ISO 8601 date and time in extended format: `YYYY-MM-DD`, optionally followed by
 *        `T` (or one space) and `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fraction` (1 to 9 digits are
 *        kept exactly; further digits are rejected), optionally followed by `Z`, `+HH:MM`,
 *        `-HH:MM`, `+HHMM` or `+HH`.  No offset means UTC (as arrow.get does).
 * @unix_ns: (out): the instant in nanoseconds since the Unix epoch
 * @offset_seconds: (out) (optional): the offset the text carried (east of UTC positive), 0
 *        when it had none
 *
 * Returns: FALSE with CAMAS_ERROR_INVALID naming the offending character position when @text
 * is not such a date, names an impossible day or time (2016-02-30, 24:00), or lies outside
 * the range @unix_ns can hold (about 1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z).
 */
CAMAS_API gboolean camas_date_parse(const char *text, gint64 *unix_ns, gint32 *offset_seconds,
                                    GError **error);

/**
 * camas_date_format:
 * @unix_ns: an instant
 * @offset_seconds: the offset to show it in (east of UTC positive; |offset| < 24 h, whole
 *        minutes); 0 gives "+00:00" as arrow does
 *
 * Returns: (transfer full): `YYYY-MM-DDTHH:MM:SS[.ffffff|.fffffffff]+HH:MM`, the form arrow's
 * str() produces: no fraction when the sub-second part is zero, six digits when it is a whole
 * number of microseconds, otherwise nine (so no tick is lost).
 */
CAMAS_API char *camas_date_format(gint64 unix_ns, gint32 offset_seconds);

G_END_DECLS
