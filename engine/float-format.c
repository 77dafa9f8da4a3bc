/* SPDX-License-Identifier: MIT */
/*
 * Python's repr() of a float, for value repr and the text codecs (the layer under both): the
 * shortest decimal digits that read back as the same double (nearest to it when several are as
 * short), laid out by Python's rules.  Most doubles are done in exact 128-bit integer
 * arithmetic; subnormals and extreme exponents fall back to searching g_ascii_formatd()
 * outputs.  Locale-independent: the layout is written by hand.
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

/* Splits "d.ddde±x" into its digits (trailing zeros dropped when @strip) and decimal exponent.
 * Returns the number of digits. */
static int
split_digits(const char *s, char digits[24], int *exp10, gboolean strip)
{
    int n = 0;
    const char *p = s;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (strip && n > 1 && digits[n - 1] == '0')
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
    char digits[24];
    int exp10;
    int n = split_digits(sci, digits, &exp10, FALSE); /* the last digit may be a 0 */
    for (int step = -1; step <= 1; step += 2) {
        char buf[24];
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

/* The printf search, for subnormals and extreme exponents: the shortest digits among the
 * correctly rounded 15-, 16- and 17-digit forms (any decimal of at most DBL_DIG = 15 digits
 * survives a round trip of a normal double, so when the shortest form has <= 15 digits the
 * 15-digit form is it plus zeros).  Subnormals have less precision and search upwards from one
 * digit.  Returns the number of digits written to @digits; *@exp10 is the decimal exponent of
 * the first. */
static int
slow_digits(double d, char digits[24], int *exp10)
{
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
    return split_digits(sci, digits, exp10, TRUE);
}

typedef unsigned __int128 u128;

static u128
pow10_u128(int k)
{
    static const guint64 p10[20] = {1ull,
                                    10ull,
                                    100ull,
                                    1000ull,
                                    10000ull,
                                    100000ull,
                                    1000000ull,
                                    10000000ull,
                                    100000000ull,
                                    1000000000ull,
                                    10000000000ull,
                                    100000000000ull,
                                    1000000000000ull,
                                    10000000000000ull,
                                    100000000000000ull,
                                    1000000000000000ull,
                                    10000000000000000ull,
                                    100000000000000000ull,
                                    1000000000000000000ull,
                                    10000000000000000000ull};
    return k < 20 ? (u128)p10[k] : (u128)p10[19] * p10[k - 19];
}

/* floor(x * 2^p2 / 10^k) for x < 2^55 where the caller guarantees that every intermediate fits
 * 128 bits; returns whether the division was exact. */
static gboolean
scaled_floor(guint64 x, int p2, int k, guint64 *q)
{
    u128 num = x;
    gboolean exact = TRUE;
    if (p2 >= 0)
        num <<= p2;
    if (k < 0)
        num *= pow10_u128(-k);
    if (p2 < 0) {
        exact = (num & (((u128)1 << -p2) - 1)) == 0;
        num >>= -p2;
    }
    if (k > 0) {
        u128 p = pow10_u128(k);
        exact = exact && num % p == 0;
        num /= p;
    }
    *q = (guint64)num;
    return exact;
}

/* The shortest decimal n * 10^k inside the rounding interval of a normal double @d with
 * 2^-15 < |d| < 2^128 (so that the interval bounds are exact 128-bit integers at the finest
 * decimal scale needed), the one nearest @d when several have that length, ties to even:
 * the digits Python's repr() shows.  Returns FALSE outside that range. */
static gboolean
shortest_digits(double d, guint64 *n_out, int *k_out)
{
    guint64 bits;
    memcpy(&bits, &d, sizeof bits);
    guint64 frac = bits & ((G_GUINT64_CONSTANT(1) << 52) - 1);
    int bexp = (int)((bits >> 52) & 0x7ff);
    if (bexp == 0 || bexp == 0x7ff)
        return FALSE;
    guint64 m = frac | (G_GUINT64_CONSTANT(1) << 52);
    int e = bexp - 1075; /* |d| = m * 2^e */
    /* The interval of reals that read back as d, in units of 2^(e-2): [mm, mp] around 4m;
     * the gap below is half as wide at a power of two. */
    int e2 = e - 2;
    if (e2 < -69 || e2 > 73)
        return FALSE;
    guint64 mp = 4 * m + 2;
    guint64 mm = 4 * m - ((frac == 0 && bexp > 1) ? 1 : 2);
    gboolean inclusive = (m & 1) == 0; /* ties-to-even reading includes even bounds */

    /* k0 = floor(e2 * log10(2)): 10^k0 <= 2^e2, so the interval (width >= 3 * 2^e2) holds a
     * multiple of 10^k0; find the largest k whose multiples still fall inside. */
    int k = (e2 * 78913) >> 18;
    guint64 ql, qu, qv;
    gboolean exl = scaled_floor(mm, e2, k, &ql);
    gboolean exu = scaled_floor(mp, e2, k, &qu);
    /* d itself one digit finer, to know how it rounds at every coarser scale */
    gboolean exv = scaled_floor(m, e, k - 1, &qv);
    guint64 lo = (exl && inclusive) ? ql : ql + 1; /* smallest n with n * 10^k in range */
    guint64 hi = (exu && !inclusive) ? qu - 1 : qu; /* largest one */
    int dropped = (int)(qv % 10); /* the digit of d below 10^k */
    gboolean sticky = !exv;       /* anything nonzero below that digit */
    qv /= 10;
    g_assert(lo <= hi);
    while ((lo + 9) / 10 <= hi / 10) {
        lo = (lo + 9) / 10;
        hi /= 10;
        sticky = sticky || dropped != 0;
        dropped = (int)(qv % 10);
        qv /= 10;
        k++;
    }
    /* nearest to d, ties to even, kept inside [lo, hi] */
    guint64 n = qv;
    if (dropped > 5 || (dropped == 5 && (sticky || (qv & 1))))
        n++;
    n = CLAMP(n, lo, hi);
    *n_out = n;
    *k_out = k;
    return TRUE;
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

    char digits[24];
    int n, e;
    guint64 dn;
    int dk;
    if (shortest_digits(d, &dn, &dk)) {
        /* exact integer arithmetic: the common case (about 3e-5 to 3e38 in magnitude) */
        char tmp[24];
        int len = 0;
        do {
            tmp[len++] = (char)('0' + dn % 10);
            dn /= 10;
        } while (dn);
        for (int i = 0; i < len; i++)
            digits[i] = tmp[len - 1 - i];
        digits[len] = '\0';
        n = len;
        e = dk + len - 1;
    } else {
        n = slow_digits(d, digits, &e);
    }

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
