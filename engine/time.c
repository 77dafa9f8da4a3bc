/* SPDX-License-Identifier: MIT */
/*
 * Tick, second and ISO 8601 date conversions (see camas/time.h).  Pure arithmetic: the civil
 * calendar is computed with Howard Hinnant's days_from_civil / civil_from_days, so the result
 * does not depend on the C library, the time zone database or the environment.
 */
#include <math.h>
#include <string.h>

#include <camas/time.h>

/* Seconds that fit in gint64 nanoseconds, with margin for the fractional part. */
#define MAX_SECONDS 9.2e9

gboolean
camas_time_from_seconds(double seconds, gint64 *ticks, GError **error)
{
    g_return_val_if_fail(ticks != NULL, FALSE);
    if (!isfinite(seconds) || seconds > MAX_SECONDS || seconds < -MAX_SECONDS) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "time %g s is not a finite number of seconds within ±%g s", seconds,
                    MAX_SECONDS);
        return FALSE;
    }
    /* Split so that the integer part converts exactly and the fraction (exact too: the
     * subtraction of floor() loses nothing) is rounded to the nearest nanosecond once. */
    double whole = floor(seconds);
    double frac = seconds - whole;
    *ticks = (gint64)whole * CAMAS_TICKS_PER_SECOND + (gint64)llround(frac * 1e9);
    return TRUE;
}

double
camas_time_to_seconds(gint64 ticks)
{
    /* Split for the same reason: whole seconds and the nanosecond remainder are each exact. */
    gint64 s = ticks / CAMAS_TICKS_PER_SECOND;
    gint64 ns = ticks % CAMAS_TICKS_PER_SECOND;
    return (double)s + (double)ns / 1e9;
}

/* --- civil calendar ------------------------------------------------------------------------ */

static gint64
days_from_civil(gint64 y, unsigned m, unsigned d)
{
    y -= m <= 2;
    gint64 era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (gint64)doe - 719468;
}

static void
civil_from_days(gint64 z, gint64 *year, unsigned *month, unsigned *day)
{
    z += 719468;
    gint64 era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    gint64 y = (gint64)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = y + (*month <= 2);
}

static unsigned
days_in_month(gint64 y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* --- parsing ------------------------------------------------------------------------------- */

typedef struct {
    const char *text;
    const char *p;
    GError **error;
} Parser;

static gboolean
fail(Parser *ps, const char *what)
{
    g_set_error(ps->error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                "invalid ISO 8601 date \"%s\": %s at position %d", ps->text, what,
                (int)(ps->p - ps->text));
    return FALSE;
}

/* Exactly @n digits. */
static gboolean
digits(Parser *ps, int n, unsigned *out, const char *what)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!g_ascii_isdigit(ps->p[i])) {
            ps->p += i;
            return fail(ps, what);
        }
        v = v * 10 + (unsigned)(ps->p[i] - '0');
    }
    ps->p += n;
    *out = v;
    return TRUE;
}

static gboolean
expect(Parser *ps, char c, const char *what)
{
    if (*ps->p != c)
        return fail(ps, what);
    ps->p++;
    return TRUE;
}

gboolean
camas_date_parse(const char *text, gint64 *unix_ns, gint32 *offset_seconds, GError **error)
{
    g_return_val_if_fail(text != NULL, FALSE);
    g_return_val_if_fail(unix_ns != NULL, FALSE);
    Parser ps = {text, text, error};
    unsigned year, month, day, hour = 0, minute = 0, second = 0, frac_ns = 0;
    int offset = 0;

    if (!digits(&ps, 4, &year, "expected a 4-digit year") || !expect(&ps, '-', "expected '-'") ||
        !digits(&ps, 2, &month, "expected a 2-digit month") ||
        !expect(&ps, '-', "expected '-'") || !digits(&ps, 2, &day, "expected a 2-digit day"))
        return FALSE;
    if (month < 1 || month > 12) {
        ps.p -= 5;
        return fail(&ps, "month out of range");
    }
    if (day < 1 || day > days_in_month(year, month)) {
        ps.p -= 2;
        return fail(&ps, "day out of range");
    }
    if (*ps.p == 'T' || *ps.p == 't' || *ps.p == ' ') {
        ps.p++;
        if (!digits(&ps, 2, &hour, "expected a 2-digit hour") ||
            !expect(&ps, ':', "expected ':'") ||
            !digits(&ps, 2, &minute, "expected 2-digit minutes"))
            return FALSE;
        if (*ps.p == ':') {
            ps.p++;
            if (!digits(&ps, 2, &second, "expected 2-digit seconds"))
                return FALSE;
            if (*ps.p == '.' || *ps.p == ',') {
                ps.p++;
                int n = 0;
                while (g_ascii_isdigit(*ps.p)) {
                    if (n == 9)
                        return fail(&ps, "more than 9 fractional digits");
                    frac_ns = frac_ns * 10 + (unsigned)(*ps.p - '0');
                    n++;
                    ps.p++;
                }
                if (n == 0)
                    return fail(&ps, "expected fractional digits");
                for (; n < 9; n++)
                    frac_ns *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59) {
            ps.p = text + 11;
            return fail(&ps, "time of day out of range");
        }
        if (*ps.p == 'Z' || *ps.p == 'z') {
            ps.p++;
        } else if (*ps.p == '+' || *ps.p == '-') {
            int sign = *ps.p == '-' ? -1 : 1;
            unsigned oh, om = 0;
            ps.p++;
            if (!digits(&ps, 2, &oh, "expected a 2-digit offset hour"))
                return FALSE;
            if (*ps.p == ':') {
                ps.p++;
                if (!digits(&ps, 2, &om, "expected 2-digit offset minutes"))
                    return FALSE;
            } else if (g_ascii_isdigit(*ps.p)) {
                if (!digits(&ps, 2, &om, "expected 2-digit offset minutes"))
                    return FALSE;
            }
            if (oh > 23 || om > 59)
                return fail(&ps, "offset out of range");
            offset = sign * (int)(oh * 3600 + om * 60);
        }
    }
    if (*ps.p != '\0')
        return fail(&ps, "unexpected trailing text");

    gint64 secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                  second - offset;
    gint64 frac = frac_ns;
    if (secs < 0 && frac > 0) {
        /* Borrow a second so that the product stays in range down to the minimum. */
        secs++;
        frac -= CAMAS_TICKS_PER_SECOND;
    }
    gint64 ns;
    if (__builtin_mul_overflow(secs, CAMAS_TICKS_PER_SECOND, &ns) ||
        __builtin_add_overflow(ns, frac, &ns)) {
        ps.p = text;
        return fail(&ps, "date outside the representable range (1677..2262)");
    }
    *unix_ns = ns;
    if (offset_seconds)
        *offset_seconds = offset;
    return TRUE;
}

/* --- formatting ---------------------------------------------------------------------------- */

char *
camas_date_format(gint64 unix_ns, gint32 offset_seconds)
{
    g_return_val_if_fail(offset_seconds > -86400 && offset_seconds < 86400, NULL);
    /* Floor division: the sub-second part of an instant before 1970 is still positive. */
    gint64 secs = unix_ns / CAMAS_TICKS_PER_SECOND;
    gint64 frac = unix_ns % CAMAS_TICKS_PER_SECOND;
    if (frac < 0) {
        frac += CAMAS_TICKS_PER_SECOND;
        secs--;
    }
    secs += offset_seconds;
    gint64 days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    gint64 sod = secs - days * 86400;
    gint64 year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);

    GString *out = g_string_sized_new(40);
    g_string_append_printf(out, "%04" G_GINT64_FORMAT "-%02u-%02uT%02d:%02d:%02d", year, month,
                           day, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (frac % 1000 != 0)
        g_string_append_printf(out, ".%09d", (int)frac);
    else if (frac != 0)
        g_string_append_printf(out, ".%06d", (int)(frac / 1000));
    int off = offset_seconds < 0 ? -offset_seconds : offset_seconds;
    g_string_append_printf(out, "%c%02d:%02d", offset_seconds < 0 ? '-' : '+', off / 3600,
                           off / 60 % 60);
    return g_string_free(out, FALSE);
}
