/* SPDX-License-Identifier: MIT */
/*
 * Building and unpacking values with jansson-style format strings (a convenience layer over
 * value.c): "[i s {s:f}]" builds or reads a whole message shape in one call.  A malformed
 * format is a programming error (g_critical); a value of the wrong shape in unpack is an input
 * error that names the path to the part that was wrong.
 */
#include <string.h>

#include "value-private.h"

/* --- building ----------------------------------------------------------------------------- */

/* Items of all open containers share one stack: a container's items are the top of it until
 * its closing bracket, so building costs no allocation besides the values themselves. */
#define BUILD_STACK_INLINE 32

typedef struct {
    const char *fmt; /* the whole format, for messages */
    const char *p;   /* the next character */
    va_list *ap;
    gboolean failed; /* a g_critical was emitted; unwind */
    CamasValue **stack;
    gsize len, cap;
    CamasValue *inline_stack[BUILD_STACK_INLINE];
} Builder;

static void
stack_push(Builder *b, CamasValue *v)
{
    if (b->len == b->cap) {
        gsize cap = b->cap * 2;
        if (b->stack == b->inline_stack) {
            b->stack = g_new(CamasValue *, cap);
            memcpy(b->stack, b->inline_stack, b->len * sizeof(CamasValue *));
        } else {
            b->stack = g_renew(CamasValue *, b->stack, cap);
        }
        b->cap = cap;
    }
    b->stack[b->len++] = v;
}

/* Drops the references above @start (error unwinding). */
static void
stack_unwind(Builder *b, gsize start)
{
    while (b->len > start)
        camas_value_unref(b->stack[--b->len]);
}

static inline gboolean
is_separator(char c)
{
    return c == ' ' || c == ',' || c == ':' || c == '\t' || c == '\n';
}

static void
skip_separators(const char **p)
{
    while (is_separator(**p))
        (*p)++;
}

static void
build_fail(Builder *b, const char *what)
{
    if (!b->failed)
        g_critical("camas_value_build: %s at offset %d of format \"%s\"", what,
                   (int)(b->p - b->fmt), b->fmt);
    b->failed = TRUE;
}

static CamasValue *build_one(Builder *b);

/* Pushes the items up to @close; FALSE (with everything pushed so far released) on error. */
static gboolean
build_items(Builder *b, char close)
{
    gsize start = b->len;
    for (;;) {
        skip_separators(&b->p);
        if (*b->p == close) {
            b->p++;
            return TRUE;
        }
        if (*b->p == '\0') {
            build_fail(b, close == ']' ? "unclosed '['" : close == ')' ? "unclosed '('"
                                                                       : "unclosed '{'");
            stack_unwind(b, start);
            return FALSE;
        }
        CamasValue *v = build_one(b);
        if (!v) {
            stack_unwind(b, start);
            return FALSE;
        }
        stack_push(b, v);
    }
}

static CamasValue *
build_seq(Builder *b, CamasValueType type, char close)
{
    gsize start = b->len;
    if (!build_items(b, close))
        return NULL;
    gsize n = b->len - start;
    b->len = start; /* the new container takes the references */
    return type == CAMAS_VALUE_TUPLE ? camas_value_new_tuple_take(b->stack + start, n)
                                     : camas_value_new_list_take(b->stack + start, n);
}

static CamasValue *
build_map(Builder *b)
{
    const char *open = b->p - 1;
    gsize start = b->len;
    if (!build_items(b, '}'))
        return NULL;
    gsize count = b->len - start;
    if (count % 2) {
        b->p = open;
        build_fail(b, "map with a key but no value");
        stack_unwind(b, start);
        return NULL;
    }
    gsize n = count / 2;
    CamasValue *kbuf[16], *vbuf[16];
    CamasValue **keys = n <= 16 ? kbuf : g_new(CamasValue *, n);
    CamasValue **values = n <= 16 ? vbuf : g_new(CamasValue *, n);
    for (gsize i = 0; i < n; i++) {
        keys[i] = b->stack[start + 2 * i];
        values[i] = b->stack[start + 2 * i + 1];
    }
    g_autoptr(GError) error = NULL;
    CamasValue *map = camas_value_new_map_take(keys, values, n, &error);
    if (map) {
        b->len = start; /* the map owns the references now */
    } else {
        b->p = open;
        build_fail(b, error->message);
        stack_unwind(b, start);
    }
    if (keys != kbuf) {
        g_free(keys);
        g_free(values);
    }
    return map;
}

static CamasValue *
build_one(Builder *b)
{
    skip_separators(&b->p);
    char c = *b->p++;
    switch (c) {
    case 'n':
        return camas_value_new_null();
    case 'b':
        return camas_value_new_bool(va_arg(*b->ap, int));
    case 'i':
        return camas_value_new_int(va_arg(*b->ap, int));
    case 'I':
        return camas_value_new_int(va_arg(*b->ap, gint64));
    case 'U':
        return camas_value_new_uint(va_arg(*b->ap, guint64));
    case 'f':
        return camas_value_new_float(va_arg(*b->ap, double));
    case 's': {
        const char *s = va_arg(*b->ap, const char *);
        gssize len = -1;
        if (*b->p == '#') {
            b->p++;
            len = va_arg(*b->ap, gssize);
        }
        if (!s && len != 0) {
            build_fail(b, "NULL string argument");
            return NULL;
        }
        gsize n = len < 0 ? strlen(s) : (gsize)len;
        gsize bad;
        if (n && !camas__utf8_validate(s, n, &bad)) {
            build_fail(b, "string argument is not valid UTF-8");
            return NULL;
        }
        return camas_value_new_str_len(s ? s : "", (gssize)n);
    }
    case 'y': {
        gconstpointer data = va_arg(*b->ap, gconstpointer);
        gsize len = va_arg(*b->ap, gsize);
        if (!data && len) {
            build_fail(b, "NULL bytes argument");
            return NULL;
        }
        return camas_value_new_bytes(data, len);
    }
    case 'v':
    case 'V': {
        CamasValue *v = va_arg(*b->ap, CamasValue *);
        if (!v) {
            build_fail(b, "NULL value argument");
            return NULL;
        }
        return c == 'v' ? camas_value_ref(v) : v;
    }
    case '[':
        return build_seq(b, CAMAS_VALUE_LIST, ']');
    case '(':
        return build_seq(b, CAMAS_VALUE_TUPLE, ')');
    case '{':
        return build_map(b);
    case '\0':
        b->p--;
        build_fail(b, "missing value");
        return NULL;
    default:
        b->p--;
        build_fail(b, "unexpected character");
        return NULL;
    }
}

CamasValue *
camas_value_build_va(const char *format, va_list *ap)
{
    g_return_val_if_fail(format != NULL && ap != NULL, NULL);
    Builder b = {.fmt = format, .p = format, .ap = ap, .cap = BUILD_STACK_INLINE};
    b.stack = b.inline_stack;
    CamasValue *v = build_one(&b);
    if (v) {
        skip_separators(&b.p);
        if (*b.p != '\0') {
            build_fail(&b, "trailing characters");
            g_clear_pointer(&v, camas_value_unref);
        }
    }
    g_assert(b.len == 0);
    if (b.stack != b.inline_stack)
        g_free(b.stack);
    return v;
}

CamasValue *
camas_value_build(const char *format, ...)
{
    g_return_val_if_fail(format != NULL, NULL);
    va_list ap;
    va_start(ap, format);
    CamasValue *v = camas_value_build_va(format, &ap);
    va_end(ap);
    return v;
}

/* --- unpacking ---------------------------------------------------------------------------- */

typedef struct {
    const char *fmt;
    const char *p;
    va_list *ap;
    GError **error;
    gboolean malformed;
} Unpacker;

static gboolean
unpack_malformed(Unpacker *u, const char *what)
{
    if (!u->malformed) {
        g_critical("camas_value_unpack: %s at offset %d of format \"%s\"", what,
                   (int)(u->p - u->fmt), u->fmt);
        g_set_error(u->error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Malformed unpack format \"%s\": %s", u->fmt, what);
    }
    u->malformed = TRUE;
    return FALSE;
}

static gboolean
unpack_type_error(Unpacker *u, const char *expected, const CamasValue *v)
{
    g_set_error(u->error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "expected %s, got %s", expected,
                camas_value_type_name(v->type));
    return FALSE;
}

static gboolean unpack_one(Unpacker *u, const CamasValue *v);

/* Prefixes an error raised below with where it happened, innermost last:
 * "item 2: key 'a': expected int, got str". */
static void
prefix_item(Unpacker *u, gsize index)
{
    if (!u->malformed && u->error && *u->error)
        g_prefix_error(u->error, "item %" G_GSIZE_FORMAT ": ", index);
}

static void
prefix_key(Unpacker *u, const char *key)
{
    if (!u->malformed && u->error && *u->error) {
        g_autoptr(CamasValue) k = camas_value_new_str(key);
        g_autofree char *r = camas_value_repr(k);
        g_prefix_error(u->error, "key %s: ", r);
    }
}

/* Counts the items of the sequence at u->p (just after its opening bracket) without consuming
 * anything; -1 when it is not closed by @close. */
static gssize
count_items(Unpacker *u, char close)
{
    const char *p = u->p;
    gssize n = 0;
    int depth = 0;
    for (;; p++) {
        char c = *p;
        if (c == '\0')
            return -1;
        if (is_separator(c) || c == '#' || c == '?')
            continue;
        if (c == ']' || c == ')' || c == '}') {
            if (depth == 0)
                return c == close ? n : -1;
            depth--;
            continue;
        }
        if (depth == 0)
            n++;
        if (c == '[' || c == '(' || c == '{')
            depth++;
    }
}

/* With v == NULL, consumes the arguments of one format item without writing them (an absent
 * optional map entry). */
static gboolean
unpack_one(Unpacker *u, const CamasValue *v)
{
    skip_separators(&u->p);
    char c = *u->p++;
    switch (c) {
    case 'n':
        if (v && v->type != CAMAS_VALUE_NULL)
            return unpack_type_error(u, "null", v);
        return TRUE;
    case 'b': {
        gboolean *out = va_arg(*u->ap, gboolean *);
        if (!v)
            return TRUE;
        if (v->type != CAMAS_VALUE_BOOL)
            return unpack_type_error(u, "bool", v);
        if (out)
            *out = v->u.b != 0;
        return TRUE;
    }
    case 'i': {
        int *out = va_arg(*u->ap, int *);
        if (!v)
            return TRUE;
        gint64 i;
        if (!camas_value_to_int64(v, &i, u->error))
            return FALSE;
        if (i < G_MININT || i > G_MAXINT) {
            g_set_error(u->error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "int %" G_GINT64_FORMAT " is out of range for int", i);
            return FALSE;
        }
        if (out)
            *out = (int)i;
        return TRUE;
    }
    case 'I': {
        gint64 *out = va_arg(*u->ap, gint64 *);
        return !v || camas_value_to_int64(v, out, u->error);
    }
    case 'U': {
        guint64 *out = va_arg(*u->ap, guint64 *);
        return !v || camas_value_to_uint64(v, out, u->error);
    }
    case 'f': {
        double *out = va_arg(*u->ap, double *);
        return !v || camas_value_to_double(v, out, u->error);
    }
    case 's': {
        const char **out = va_arg(*u->ap, const char **);
        gsize *len_out = NULL;
        if (*u->p == '#') {
            u->p++;
            len_out = va_arg(*u->ap, gsize *);
        }
        if (!v)
            return TRUE;
        const char *s = camas_value_to_str(v, len_out, u->error);
        if (!s)
            return FALSE;
        if (out)
            *out = s;
        return TRUE;
    }
    case 'y': {
        const guint8 **out = va_arg(*u->ap, const guint8 **);
        gsize *len_out = va_arg(*u->ap, gsize *);
        if (!v)
            return TRUE;
        const guint8 *data = camas_value_to_bytes(v, len_out, u->error);
        if (!data)
            return FALSE;
        if (out)
            *out = data;
        return TRUE;
    }
    case 'v': {
        CamasValue **out = va_arg(*u->ap, CamasValue **);
        if (v && out)
            *out = (CamasValue *)v;
        return TRUE;
    }
    case '[':
    case '(': {
        /* either bracket accepts a list or a tuple: they are the same on the wire */
        char close = c == '[' ? ']' : ')';
        gssize n = count_items(u, close);
        if (n < 0)
            return unpack_malformed(u, c == '[' ? "unclosed '['" : "unclosed '('");
        if (v && v->type != CAMAS_VALUE_LIST && v->type != CAMAS_VALUE_TUPLE)
            return unpack_type_error(u, "list", v);
        if (v && v->u.seq.len != (gsize)n) {
            g_set_error(u->error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "expected %s of %" G_GSSIZE_FORMAT " item%s, got %" G_GSIZE_FORMAT,
                        camas_value_type_name(v->type), n, n == 1 ? "" : "s", v->u.seq.len);
            return FALSE;
        }
        for (gssize i = 0; i < n; i++) {
            if (!unpack_one(u, v ? v->u.seq.items[i] : NULL)) {
                prefix_item(u, (gsize)i);
                return FALSE;
            }
        }
        skip_separators(&u->p);
        g_assert(*u->p == close); /* count_items() checked the shape */
        u->p++;
        return TRUE;
    }
    case '{': {
        if (v && v->type != CAMAS_VALUE_MAP)
            return unpack_type_error(u, "map", v);
        for (;;) {
            skip_separators(&u->p);
            if (*u->p == '}') {
                u->p++;
                return TRUE;
            }
            gboolean optional = FALSE;
            if (*u->p == '?') {
                optional = TRUE;
                u->p++;
                skip_separators(&u->p);
            }
            if (*u->p != 's')
                return unpack_malformed(u, "map keys must be 's'");
            u->p++;
            const char *key = va_arg(*u->ap, const char *);
            if (!key)
                return unpack_malformed(u, "NULL key argument");
            skip_separators(&u->p);
            if (*u->p == '}' || *u->p == '\0')
                return unpack_malformed(u, "map key without a value");
            const CamasValue *item = v ? camas_value_map_lookup(v, key) : NULL;
            if (v && !item && !optional) {
                g_autoptr(CamasValue) k = camas_value_new_str(key);
                g_autofree char *r = camas_value_repr(k);
                g_set_error(u->error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "missing key %s", r);
                return FALSE;
            }
            if (!unpack_one(u, item)) {
                prefix_key(u, key);
                return FALSE;
            }
        }
    }
    case '\0':
        u->p--;
        return unpack_malformed(u, "missing value");
    default:
        u->p--;
        return unpack_malformed(u, "unexpected character");
    }
}

gboolean
camas_value_unpack(const CamasValue *value, GError **error, const char *format, ...)
{
    g_return_val_if_fail(value != NULL, FALSE);
    g_return_val_if_fail(format != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    /* A local error so that prefixes can be added even when the caller passes NULL. */
    g_autoptr(GError) local = NULL;
    va_list ap;
    va_start(ap, format);
    Unpacker u = {.fmt = format, .p = format, .ap = &ap, .error = &local};
    gboolean ok = unpack_one(&u, value);
    if (ok) {
        skip_separators(&u.p);
        if (*u.p != '\0')
            ok = unpack_malformed(&u, "trailing characters");
    }
    va_end(ap);
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&local));
    return ok;
}
