/* SPDX-License-Identifier: MIT */
/*
 * Python's repr() of a float, for value repr and the text codecs (the layer under both): the
 * shortest decimal digits that read back as the same double, laid out by Python's rules.
 * Locale-independent: digits come from g_ascii_formatd() and are laid out by hand.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "value-private.h"

/* Formats @d with @ndigits significant digits as "d.ddde±x" (C locale) and reports whether it
 * reads back as @d. */
static gboolean
format_digits(double d, int ndigits, char *out, gsize out_len)
{
    char fmt[8];
    g_snprintf(fmt, sizeof fmt, "%%.%de", ndigits - 1);
    g_ascii_formatd(out, (int)out_len, fmt, d);
    return g_ascii_strtod(out, NULL) == d;
}

/* Splits "d.ddde±x" into its significant digits (trailing zeros dropped) and decimal exponent.
 * Returns the number of digits. */
static int
split_digits(const char *s, char digits[20], int *exp10)
{
    int n = 0;
    const char *p = s;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    return n;
}

/* When the correctly rounded @n-digit string does not round-trip, a neighbour with the same
 * digit count may (near a power of two the rounding interval is lopsided).  Tries the last
 * digit plus and minus one. */
static gboolean
try_neighbours(double d, const char *sci, char *out, gsize out_len)
{
    char digits[20];
    int exp10;
    int n = split_digits(sci, digits, &exp10);
    for (int step = -1; step <= 1; step += 2) {
        char buf[20];
        memcpy(buf, digits, (gsize)n + 1);
        /* add or subtract one unit in the last place, with carry / borrow */
        int i = n - 1;
        gboolean ok = TRUE;
        while (i >= 0) {
            int c = buf[i] - '0' + step;
            if (c >= 0 && c <= 9) {
                buf[i] = (char)('0' + c);
                break;
            }
            buf[i] = step > 0 ? '0' : '9';
            i--;
        }
        if (i < 0 || buf[0] == '0')
            ok = FALSE; /* the digit count would change: not a same-length neighbour */
        if (!ok)
            continue;
        g_snprintf(out, out_len, "%s%c%s%se%d", d < 0 ? "-" : "", buf[0], n > 1 ? "." : "",
                   buf + 1, exp10);
        if (g_ascii_strtod(out, NULL) == d)
            return TRUE;
    }
    return FALSE;
}

gsize
camas__format_double(double d, char buf[32])
{
    if (isnan(d))
        return (gsize)g_strlcpy(buf, "nan", 32);
    if (isinf(d))
        return (gsize)g_strlcpy(buf, d < 0 ? "-inf" : "inf", 32);
    if (d == 0.0)
        return (gsize)g_strlcpy(buf, signbit(d) ? "-0.0" : "0.0", 32);

    /* Find the shortest round-tripping digits.  For normal doubles any decimal of at most
     * DBL_DIG (15) digits survives a round trip, so when the shortest form has <= 15 digits
     * the correctly rounded 15-digit form is it plus zeros: one try covers all "nice" numbers.
     * Subnormals have less precision, so they search upwards from one digit. */
    char sci[40];
    gboolean found = FALSE;
    if (fabs(d) >= DBL_MIN) {
        for (int nd = 15; nd <= 17 && !found; nd++) {
            found = format_digits(d, nd, sci, sizeof sci);
            if (!found && nd == 16)
                found = try_neighbours(d, sci, sci, sizeof sci);
        }
    } else {
        for (int nd = 1; nd <= 17 && !found; nd++)
            found = format_digits(d, nd, sci, sizeof sci);
    }
    g_assert(found); /* 17 digits always round-trip */

    char digits[20];
    int e;
    int n = split_digits(sci, digits, &e);

    /* Python's float_repr_style "short" layout: scientific below 1e-4 and from 1e16 on.
     * Longest output: "-" + 17 digits + "." + "e-308" or "-0.0000" + 17 digits, < 32. */
    char *o = buf;
    if (d < 0)
        *o++ = '-';
    if (e < -4 || e >= 16) {
        *o++ = digits[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (gsize)n - 1);
            o += n - 1;
        }
        *o++ = 'e';
        *o++ = e < 0 ? '-' : '+';
        int ae = ABS(e);
        if (ae >= 100)
            *o++ = (char)('0' + ae / 100);
        *o++ = (char)('0' + ae / 10 % 10);
        *o++ = (char)('0' + ae % 10);
    } else if (e >= 0) {
        /* e + 1 digits before the point, padded with zeros; at least one after it */
        for (int i = 0; i <= e; i++)
            *o++ = i < n ? digits[i] : '0';
        *o++ = '.';
        if (n > e + 1) {
            memcpy(o, digits + e + 1, (gsize)(n - e - 1));
            o += n - e - 1;
        } else {
            *o++ = '0';
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -e - 1; i++)
            *o++ = '0';
        memcpy(o, digits, (gsize)n);
        o += n;
    }
    *o = '\0';
    return (gsize)(o - buf);
}
