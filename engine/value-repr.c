/* SPDX-License-Identifier: MIT */
/*
 * Value repr: the Python-like, deterministic text of a value tree, used in logs, traces and
 * error messages (a leaf of the value layer).  It follows Python 3's repr() for the types both
 * share, including the quote choice and escapes of str and bytes and the float layout
 * (float-format.c); it never depends on the locale or on addresses.
 */
#include <string.h>

#include "value-private.h"

static const char hexdigits[] = "0123456789abcdef";

static char
choose_quote(const char *s, gsize len)
{
    /* Python: single quotes unless the text has a ' and no " */
    gboolean single = memchr(s, '\'', len) != NULL;
    gboolean dbl = memchr(s, '"', len) != NULL;
    return single && !dbl ? '"' : '\'';
}

static void
append_hex_escape(GString *out, char kind, guint32 c, int ndigits)
{
    g_string_append_c(out, '\\');
    g_string_append_c(out, kind);
    for (int i = ndigits - 1; i >= 0; i--)
        g_string_append_c(out, hexdigits[(c >> (4 * i)) & 0xf]);
}

/* Backslash escapes shared by str and bytes; FALSE when @c needs none of them. */
static gboolean
append_simple_escape(GString *out, guint32 c, char quote)
{
    switch (c) {
    case '\\':
        g_string_append(out, "\\\\");
        return TRUE;
    case '\n':
        g_string_append(out, "\\n");
        return TRUE;
    case '\r':
        g_string_append(out, "\\r");
        return TRUE;
    case '\t':
        g_string_append(out, "\\t");
        return TRUE;
    default:
        if (c == (guint32)quote) {
            g_string_append_c(out, '\\');
            g_string_append_c(out, quote);
            return TRUE;
        }
        if (c < 0x20 || c == 0x7f) {
            append_hex_escape(out, 'x', c, 2);
            return TRUE;
        }
        return FALSE;
    }
}

/* Python's str.isprintable() for one non-ASCII character: everything except the categories
 * Other (Cc, Cf, Cs, Co, Cn) and Separator (Zl, Zp, Zs). */
static gboolean
unichar_printable(gunichar c)
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
    case G_UNICODE_SPACE_SEPARATOR:
        return FALSE;
    default:
        return TRUE;
    }
}

static void
append_str(GString *out, const char *s, gsize len)
{
    char quote = choose_quote(s, len);
    g_string_append_c(out, quote);
    const char *p = s, *end = s + len;
    while (p < end) {
        guchar b = (guchar)*p;
        if (b < 0x80) {
            if (!append_simple_escape(out, b, quote))
                g_string_append_c(out, (char)b);
            p++;
            continue;
        }
        gunichar c = g_utf8_get_char_validated(p, end - p);
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            /* Not reachable for checked values; show the stray byte rather than fail. */
            append_hex_escape(out, 'x', b, 2);
            p++;
            continue;
        }
        const char *next = g_utf8_next_char(p);
        if (unichar_printable(c))
            g_string_append_len(out, p, next - p);
        else if (c < 0x100)
            append_hex_escape(out, 'x', c, 2);
        else if (c < 0x10000)
            append_hex_escape(out, 'u', c, 4);
        else
            append_hex_escape(out, 'U', c, 8);
        p = next;
    }
    g_string_append_c(out, quote);
}

static void
append_bytes(GString *out, const guint8 *s, gsize len)
{
    char quote = choose_quote((const char *)s, len);
    g_string_append_c(out, 'b');
    g_string_append_c(out, quote);
    for (gsize i = 0; i < len; i++) {
        if (append_simple_escape(out, s[i], quote))
            continue;
        if (s[i] >= 0x80)
            append_hex_escape(out, 'x', s[i], 2);
        else
            g_string_append_c(out, (char)s[i]);
    }
    g_string_append_c(out, quote);
}

/* Ints are the most common scalar in messages: format them without printf. */
static void
append_uint(GString *out, guint64 u, gboolean negative)
{
    char tmp[21];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (negative)
        g_string_append_c(out, '-');
    g_string_append_len(out, tmp + sizeof tmp - n, n);
}

void
camas_value_repr_append(const CamasValue *value, GString *out)
{
    g_return_if_fail(value != NULL && out != NULL);
    switch ((CamasValueType)value->type) {
    case CAMAS_VALUE_NULL:
        g_string_append(out, "None");
        return;
    case CAMAS_VALUE_BOOL:
        g_string_append(out, value->u.b ? "True" : "False");
        return;
    case CAMAS_VALUE_INT: {
        gboolean neg = !(value->flags & CAMAS__VALUE_UNSIGNED) && value->u.i < 0;
        append_uint(out, neg ? -(guint64)value->u.i : value->u.u, neg);
        return;
    }
    case CAMAS_VALUE_FLOAT: {
        char buf[32];
        gsize n = camas__format_double(value->u.f, buf);
        g_string_append_len(out, buf, (gssize)n);
        return;
    }
    case CAMAS_VALUE_STR:
        append_str(out, value->u.str.data, value->u.str.len);
        return;
    case CAMAS_VALUE_BYTES:
        append_bytes(out, (const guint8 *)value->u.str.data, value->u.str.len);
        return;
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        gboolean tuple = value->type == CAMAS_VALUE_TUPLE;
        g_string_append_c(out, tuple ? '(' : '[');
        for (gsize i = 0; i < value->u.seq.len; i++) {
            if (i)
                g_string_append(out, ", ");
            camas_value_repr_append(value->u.seq.items[i], out);
        }
        if (tuple && value->u.seq.len == 1)
            g_string_append_c(out, ',');
        g_string_append_c(out, tuple ? ')' : ']');
        return;
    }
    case CAMAS_VALUE_MAP:
        g_string_append_c(out, '{');
        for (gsize i = 0; i < value->u.map.len; i++) {
            if (i)
                g_string_append(out, ", ");
            camas_value_repr_append(value->u.map.entries[i].key, out);
            g_string_append(out, ": ");
            camas_value_repr_append(value->u.map.entries[i].value, out);
        }
        g_string_append_c(out, '}');
        return;
    case CAMAS_VALUE_EXT:
        g_string_append(out, "ext(");
        append_uint(out, value->u.ext.id < 0 ? -(guint64)value->u.ext.id : (guint64)value->u.ext.id,
                    value->u.ext.id < 0);
        g_string_append(out, ", ");
        camas_value_repr_append(value->u.ext.data, out);
        g_string_append_c(out, ')');
        return;
    case CAMAS_VALUE_OBJECT: {
        const CamasObjectType *t = value->u.obj.type;
        if (t->repr)
            t->repr(value->u.obj.instance, out);
        else
            g_string_append_printf(out, "<%s object>", t->name ? t->name : "?");
        return;
    }
    }
    g_string_append(out, "<invalid value>");
}

char *
camas_value_repr(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, NULL);
    GString *out = g_string_sized_new(32);
    camas_value_repr_append(value, out);
    return g_string_free(out, FALSE);
}
