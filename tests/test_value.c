/* SPDX-License-Identifier: MIT */
/* Values: constructors, readers, arenas, equality, build/unpack, repr and float formatting. */
#include <criterion/criterion.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <camas/camas.h>

#include "leakcheck.h"
#include "live-private.h"
#include "value-private.h"

TestSuite(value, .fini = camas_test_check_leaks);

/* --- helpers ------------------------------------------------------------------------------ */

static int
live_values(void)
{
    return g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_VALUE]);
}

static int
live_arenas(void)
{
    return g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_ARENA]);
}

/* Asserts that the repr of @v (consumed) is @expected. */
static void
assert_repr(CamasValue *v, const char *expected)
{
    cr_assert_not_null(v);
    g_autofree char *r = camas_value_repr(v);
    cr_assert_str_eq(r, expected, "repr: got %s, want %s", r, expected);
    camas_value_unref(v);
}

static void
assert_float_repr(double d, const char *expected)
{
    char buf[32];
    gsize n = camas__format_double(d, buf);
    cr_assert_str_eq(buf, expected, "format_double(%.17g): got %s, want %s", d, buf, expected);
    cr_assert_eq(n, strlen(expected));
    assert_repr(camas_value_new_float(d), expected);
}

static void
assert_error(GError *error, int code, const char *message)
{
    cr_assert_not_null(error, "expected an error \"%s\"", message);
    cr_assert_eq(error->domain, CAMAS_ERROR);
    cr_assert_eq(error->code, code, "code %d, want %d (%s)", error->code, code, error->message);
    cr_assert_str_eq(error->message, message);
}

/* Counts g_critical()s of the "camas" domain while a test provokes programming errors. */
static int criticals;

static void
count_critical(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    criticals++;
}

static void
catch_criticals(void)
{
    criticals = 0;
    g_log_set_handler("camas", G_LOG_LEVEL_CRITICAL | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
                      count_critical, NULL);
}

/* A refcounted native object for OBJECT values. */
typedef struct {
    int refs;
    int id;
} Thing;

static gpointer
thing_ref(gpointer p)
{
    ((Thing *)p)->refs++;
    return p;
}

static void
thing_unref(gpointer p)
{
    ((Thing *)p)->refs--;
}

static gboolean
thing_equal(gconstpointer a, gconstpointer b)
{
    return ((const Thing *)a)->id == ((const Thing *)b)->id;
}

static void
thing_repr(gconstpointer p, GString *out)
{
    g_string_append_printf(out, "<Thing %d>", ((const Thing *)p)->id);
}

static const CamasObjectType thing_type = {
    .name = "Thing", .ref = thing_ref, .unref = thing_unref, .equal = thing_equal,
    .repr = thing_repr};
static const CamasObjectType plain_type = {.name = "Plain"};

/* --- scalars ------------------------------------------------------------------------------ */

Test(value, constants_are_static_singletons_that_ignore_refcounting)
{
    int before = live_values();
    CamasValue *n = camas_value_new_null();
    cr_assert_eq(n, camas_value_new_null());
    cr_assert_eq(camas_value_new_bool(TRUE), camas_value_new_bool(42));
    cr_assert_neq(camas_value_new_bool(TRUE), camas_value_new_bool(FALSE));
    for (int i = 0; i < 10; i++)
        camas_value_unref(camas_value_ref(n));
    camas_value_unref(n);
    camas_value_unref(n);
    cr_assert_eq(camas_value_get_type(n), CAMAS_VALUE_NULL);
    cr_assert(camas_value_is_null(n));
    cr_assert(camas_value_get_bool(camas_value_new_bool(TRUE)));
    cr_assert_not(camas_value_get_bool(camas_value_new_bool(FALSE)));
    cr_assert_eq(live_values(), before);
}

Test(value, bool_reads_back_and_rejects_other_types)
{
    gboolean b = FALSE;
    cr_assert(camas_value_to_bool(camas_value_new_bool(TRUE), &b, NULL));
    cr_assert_eq(b, TRUE);
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_value_to_bool(camas_value_new_null(), &b, &error));
    assert_error(error, CAMAS_ERROR_TYPE, "expected bool, got null");
}

Test(value, int64_extremes_round_trip)
{
    const gint64 cases[] = {0, 1, -1, -16, -17, 255, 256, G_MININT32, G_MAXINT32, G_MININT64,
                            G_MAXINT64};
    for (gsize k = 0; k < G_N_ELEMENTS(cases); k++) {
        g_autoptr(CamasValue) v = camas_value_new_int(cases[k]);
        cr_assert_eq(camas_value_get_type(v), CAMAS_VALUE_INT);
        cr_assert_eq(camas_value_get_int(v), cases[k]);
        cr_assert_not(camas_value_int_is_unsigned(v));
        gint64 i = 0;
        cr_assert(camas_value_to_int64(v, &i, NULL));
        cr_assert_eq(i, cases[k]);
        guint64 u = 0;
        g_autoptr(GError) error = NULL;
        gboolean ok = camas_value_to_uint64(v, &u, &error);
        cr_assert_eq(ok, cases[k] >= 0);
        if (ok) {
            cr_assert_eq(u, (guint64)cases[k]);
        } else {
            g_autofree char *msg =
                g_strdup_printf("int %" G_GINT64_FORMAT " is out of range for uint64", cases[k]);
            assert_error(error, CAMAS_ERROR_TYPE, msg);
        }
    }
}

Test(value, uint64_above_int64_is_unsigned_and_range_checked)
{
    g_autoptr(CamasValue) max = camas_value_new_uint(G_MAXUINT64);
    g_autoptr(CamasValue) edge = camas_value_new_uint((guint64)G_MAXINT64 + 1);
    g_autoptr(CamasValue) small = camas_value_new_uint(7);
    cr_assert(camas_value_int_is_unsigned(max));
    cr_assert(camas_value_int_is_unsigned(edge));
    cr_assert_not(camas_value_int_is_unsigned(small));
    cr_assert_eq(camas_value_get_uint(max), G_MAXUINT64);
    cr_assert_eq(camas_value_get_int(max), -1, "get_int wraps");
    cr_assert_eq(camas_value_get_uint(edge), (guint64)G_MAXINT64 + 1);
    cr_assert_eq(camas_value_get_int(small), 7);

    guint64 u = 0;
    cr_assert(camas_value_to_uint64(max, &u, NULL));
    cr_assert_eq(u, G_MAXUINT64);
    gint64 i = 0;
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_value_to_int64(edge, &i, &error));
    assert_error(error, CAMAS_ERROR_TYPE, "int 9223372036854775808 is out of range for int64");
    cr_assert_eq(i, 0, "the output is untouched on error");
}

Test(value, ints_from_signed_and_unsigned_constructors_are_equal)
{
    g_autoptr(CamasValue) a = camas_value_new_int(1000);
    g_autoptr(CamasValue) b = camas_value_new_uint(1000);
    g_autoptr(CamasValue) m1 = camas_value_new_int(-1);
    g_autoptr(CamasValue) umax = camas_value_new_uint(G_MAXUINT64);
    cr_assert(camas_value_equal(a, b));
    cr_assert_not(camas_value_equal(m1, umax), "-1 and 2**64-1 share bits, not value");
    cr_assert_eq(camas__value_hash(a), camas__value_hash(b));
}

Test(value, float_reads_back_and_ints_convert_to_double)
{
    g_autoptr(CamasValue) f = camas_value_new_float(-2.5);
    cr_assert_eq(camas_value_get_float(f), -2.5);
    double d = 0;
    cr_assert(camas_value_to_double(f, &d, NULL));
    cr_assert_eq(d, -2.5);
    g_autoptr(CamasValue) i = camas_value_new_int(-3);
    cr_assert(camas_value_to_double(i, &d, NULL));
    cr_assert_eq(d, -3.0);
    g_autoptr(CamasValue) u = camas_value_new_uint(G_MAXUINT64);
    cr_assert(camas_value_to_double(u, &d, NULL));
    cr_assert_eq(d, 18446744073709551616.0);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) s = camas_value_new_str("1.5");
    cr_assert_not(camas_value_to_double(s, &d, &error));
    assert_error(error, CAMAS_ERROR_TYPE, "expected float, got str");
    g_autoptr(GError) error2 = NULL;
    gint64 n;
    cr_assert_not(camas_value_to_int64(f, &n, &error2));
    assert_error(error2, CAMAS_ERROR_TYPE, "expected int, got float");
}

Test(value, str_keeps_embedded_nul_and_is_nul_terminated)
{
    g_autoptr(CamasValue) s = camas_value_new_str_len("a\0b", 3);
    gsize len = 0;
    const char *p = camas_value_get_str(s, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(p, "a\0b", 4), 0, "bytes plus a terminating NUL");
    cr_assert_eq(camas_value_get_length(s), 3);
    g_autoptr(CamasValue) t = camas_value_new_str("héllo");
    cr_assert_str_eq(camas_value_get_str(t, NULL), "héllo");
    cr_assert_eq(camas_value_get_length(t), 6, "length counts bytes");
    g_autoptr(CamasValue) u = camas_value_new_str_len("héllo", -1);
    cr_assert(camas_value_equal(t, u));
    g_autoptr(CamasValue) e = camas_value_new_str("");
    cr_assert_eq(camas_value_get_length(e), 0);
    cr_assert_str_eq(camas_value_get_str(e, NULL), "");
}

Test(value, str_checked_names_the_offset_of_invalid_utf8)
{
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_value_new_str_checked("ok\xff!", 4, &error));
    assert_error(error, CAMAS_ERROR_CODEC, "Invalid UTF-8 in string at byte offset 2 (byte 0xff)");
    g_autoptr(GError) error2 = NULL;
    /* a NUL is valid text; the truncated sequence after it is not */
    cr_assert_null(camas_value_new_str_checked("a\0b\xc3", 4, &error2));
    assert_error(error2, CAMAS_ERROR_CODEC, "Invalid UTF-8 in string at byte offset 3 (byte 0xc3)");
    g_autoptr(GError) error3 = NULL;
    /* an encoded surrogate is not UTF-8 */
    cr_assert_null(camas_value_new_str_checked("\xed\xa0\x80", 3, &error3));
    cr_assert_eq(error3->code, CAMAS_ERROR_CODEC);
    g_autoptr(CamasValue) ok = camas_value_new_str_checked("x\0\xc3\xa9", 4, NULL);
    cr_assert_not_null(ok);
    cr_assert_eq(camas_value_get_length(ok), 4);
    g_autoptr(CamasValue) empty = camas_value_new_str_checked(NULL, 0, NULL);
    cr_assert_not_null(empty);
}

Test(value, printf_formats_a_str)
{
    g_autoptr(CamasValue) s = camas_value_new_printf("%s-%d", "agent", 7);
    cr_assert_eq(camas_value_get_type(s), CAMAS_VALUE_STR);
    cr_assert_str_eq(camas_value_get_str(s, NULL), "agent-7");
}

Test(value, bytes_are_copied_and_read_back)
{
    guint8 raw[] = {0, 1, 2, 255};
    g_autoptr(CamasValue) b = camas_value_new_bytes(raw, sizeof raw);
    raw[0] = 9;
    gsize len = 0;
    const guint8 *p = camas_value_get_bytes(b, &len);
    cr_assert_eq(len, 4);
    cr_assert_eq(p[0], 0);
    cr_assert_eq(p[3], 255);
    cr_assert_eq(p[4], 0, "followed by a NUL");
    p = camas_value_to_bytes(b, &len, NULL);
    cr_assert_not_null(p);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_value_to_str(b, &len, &error));
    assert_error(error, CAMAS_ERROR_TYPE, "expected str, got bytes");
    g_autoptr(GError) error2 = NULL;
    g_autoptr(CamasValue) s = camas_value_new_str("x");
    cr_assert_null(camas_value_to_bytes(s, &len, &error2));
    assert_error(error2, CAMAS_ERROR_TYPE, "expected bytes, got str");
    g_autoptr(CamasValue) empty = camas_value_new_bytes(NULL, 0);
    cr_assert_eq(camas_value_get_length(empty), 0);
}

Test(value, type_names_match_the_header)
{
    const char *names[] = {"null", "bool", "int", "float", "str", "bytes",
                           "list", "tuple", "map", "ext", "object"};
    for (int t = CAMAS_VALUE_NULL; t <= CAMAS_VALUE_OBJECT; t++)
        cr_assert_str_eq(camas_value_type_name(t), names[t]);
}

/* --- containers ---------------------------------------------------------------------------- */

Test(value, list_takes_references_and_releases_them)
{
    int before = live_values();
    CamasValue *a = camas_value_new_int(100000);
    CamasValue *b = camas_value_new_str("b");
    CamasValue *items[] = {a, b};
    CamasValue *list = camas_value_new_list(items, 2);
    cr_assert_eq(camas_value_get_type(list), CAMAS_VALUE_LIST);
    cr_assert(camas_value_is_sequence(list));
    cr_assert_eq(camas_value_get_length(list), 2);
    cr_assert_eq(camas_value_get_item(list, 0), a);
    cr_assert_eq(camas_value_get_item(list, 1), b);
    camas_value_unref(a);
    camas_value_unref(b);
    cr_assert_eq(live_values(), before + 3, "the list keeps its items alive");
    cr_assert_eq(camas_value_get_int(camas_value_get_item(list, 0)), 100000);
    camas_value_unref(list);
    cr_assert_eq(live_values(), before);
}

Test(value, take_variants_steal_the_callers_references)
{
    int before = live_values();
    CamasValue *items[] = {camas_value_new_float(1.5), camas_value_new_str("x")};
    CamasValue *tuple = camas_value_new_tuple_take(items, 2);
    cr_assert_eq(camas_value_get_type(tuple), CAMAS_VALUE_TUPLE);
    cr_assert(camas_value_is_sequence(tuple));
    CamasValue *more[] = {camas_value_new_float(2.5)};
    CamasValue *list = camas_value_new_list_take(more, 1);
    CamasValue *copy = camas_value_new_tuple(items, 2);
    cr_assert(camas_value_equal(copy, tuple));
    camas_value_unref(copy);
    camas_value_unref(list);
    camas_value_unref(tuple);
    cr_assert_eq(live_values(), before);
}

Test(value, empty_containers)
{
    g_autoptr(CamasValue) l = camas_value_new_list(NULL, 0);
    g_autoptr(CamasValue) t = camas_value_new_tuple(NULL, 0);
    g_autoptr(CamasValue) m = camas_value_new_map(NULL, NULL, 0, NULL);
    cr_assert_eq(camas_value_get_length(l), 0);
    cr_assert_eq(camas_value_get_length(m), 0);
    cr_assert(camas_value_equal(l, t));
    cr_assert_null(camas_value_map_lookup(m, "a"));
}

Test(value, map_keeps_insertion_order_and_looks_keys_up)
{
    CamasValue *keys[] = {camas_value_new_str("b"), camas_value_new_int(3),
                          camas_value_new_str("a"), camas_value_new_null()};
    CamasValue *vals[] = {camas_value_new_int(1), camas_value_new_str("three"),
                          camas_value_new_int(2), camas_value_new_bool(TRUE)};
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) m = camas_value_new_map_take(keys, vals, 4, &error);
    cr_assert_not_null(m, "%s", error ? error->message : "");
    cr_assert_eq(camas_value_get_type(m), CAMAS_VALUE_MAP);
    cr_assert_eq(camas_value_get_length(m), 4);
    cr_assert_str_eq(camas_value_get_str(camas_value_map_get_key(m, 0), NULL), "b");
    cr_assert_str_eq(camas_value_get_str(camas_value_map_get_key(m, 2), NULL), "a");
    cr_assert_eq(camas_value_get_int(camas_value_map_get_value(m, 2)), 2);
    cr_assert_eq(camas_value_get_int(camas_value_map_lookup(m, "a")), 2);
    cr_assert_eq(camas_value_get_int(camas_value_map_lookup(m, "b")), 1);
    cr_assert_null(camas_value_map_lookup(m, "c"));
    cr_assert_null(camas_value_map_lookup(m, "ab"));
    g_autoptr(CamasValue) three = camas_value_new_uint(3);
    cr_assert_str_eq(camas_value_get_str(camas_value_map_lookup_value(m, three), NULL), "three");
    g_autoptr(CamasValue) three_f = camas_value_new_float(3.0);
    cr_assert_null(camas_value_map_lookup_value(m, three_f), "an int key is not a float key");
    cr_assert(camas_value_get_bool(camas_value_map_lookup_value(m, camas_value_new_null())));
}

Test(value, map_lookup_finds_keys_with_embedded_nul_only_by_value)
{
    CamasValue *keys[] = {camas_value_new_str_len("a\0b", 3)};
    CamasValue *vals[] = {camas_value_new_int(1)};
    g_autoptr(CamasValue) m = camas_value_new_map_take(keys, vals, 1, NULL);
    cr_assert_null(camas_value_map_lookup(m, "a"));
    g_autoptr(CamasValue) k = camas_value_new_str_len("a\0b", 3);
    cr_assert_not_null(camas_value_map_lookup_value(m, k));
}

Test(value, map_duplicate_key_is_an_error_naming_it_and_takes_nothing)
{
    int before = live_values();
    CamasValue *keys[] = {camas_value_new_str("x"), camas_value_new_str("it's"),
                          camas_value_new_str("it's")};
    CamasValue *vals[] = {camas_value_new_int(1000), camas_value_new_int(1001),
                          camas_value_new_int(1002)};
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_value_new_map_take(keys, vals, 3, &error));
    assert_error(error, CAMAS_ERROR_INVALID, "Duplicate map key \"it's\" (entries 1 and 2)");
    cr_assert_eq(live_values(), before + 6, "nothing was taken");
    g_autoptr(GError) error2 = NULL;
    cr_assert_null(camas_value_new_map(keys, vals, 3, &error2));
    cr_assert_eq(error2->code, CAMAS_ERROR_INVALID);
    for (int i = 0; i < 3; i++) {
        camas_value_unref(keys[i]);
        camas_value_unref(vals[i]);
    }
    cr_assert_eq(live_values(), before);
}

Test(value, map_duplicate_detection_uses_value_equality)
{
    struct {
        CamasValue *a, *b;
        gboolean dup;
    } cases[] = {
        {camas_value_new_int(5000), camas_value_new_uint(5000), TRUE},
        {camas_value_new_float(0.0), camas_value_new_float(-0.0), TRUE},
        {camas_value_new_float(NAN), camas_value_new_float(NAN), TRUE},
        {camas_value_new_int(1), camas_value_new_float(1.0), FALSE},
        {camas_value_new_int(1), camas_value_new_bool(TRUE), FALSE},
        {camas_value_new_str("a"), camas_value_new_bytes("a", 1), FALSE},
        {camas_value_new_null(), camas_value_new_null(), TRUE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        CamasValue *keys[] = {cases[i].a, cases[i].b};
        CamasValue *vals[] = {camas_value_new_null(), camas_value_new_null()};
        g_autoptr(GError) error = NULL;
        CamasValue *m = camas_value_new_map(keys, vals, 2, &error);
        cr_assert_eq(m == NULL, cases[i].dup, "case %zu", i);
        cr_assert_eq(error != NULL, cases[i].dup);
        if (cases[i].dup)
            cr_assert_eq(camas__value_hash(cases[i].a), camas__value_hash(cases[i].b));
        camas_value_unref(m);
        camas_value_unref(cases[i].a);
        camas_value_unref(cases[i].b);
    }
}

Test(value, map_rejects_container_keys)
{
    g_autoptr(CamasValue) list = camas_value_new_list(NULL, 0);
    CamasValue *keys[] = {camas_value_new_str("a"), list};
    CamasValue *vals[] = {camas_value_new_null(), camas_value_new_null()};
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_value_new_map(keys, vals, 2, &error));
    assert_error(error, CAMAS_ERROR_INVALID,
                 "Map key at entry 1 is a list; keys must be null, bool, int, float, str or bytes");
    camas_value_unref(keys[0]);
}

Test(value, check_map_keys_uses_the_callers_code)
{
    CamasValue *k = camas_value_new_str("k");
    CamasMapEntry entries[] = {{k, k}, {k, k}};
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas__value_check_map_keys(entries, 2, CAMAS_ERROR_CODEC, &error));
    assert_error(error, CAMAS_ERROR_CODEC, "Duplicate map key 'k' (entries 0 and 1)");
    camas_value_unref(k);
}

/* Large maps go through the hash set: find the first duplicate wherever it is. */
Test(value, large_map_duplicates_are_found_in_insertion_order)
{
    enum { N = 1000 };
    for (int dup_at = 17; dup_at < N; dup_at += 331) {
        CamasValue **keys = g_new(CamasValue *, N);
        CamasValue **vals = g_new(CamasValue *, N);
        for (int i = 0; i < N; i++) {
            keys[i] = i == dup_at ? camas_value_new_printf("key%d", i / 2)
                                  : camas_value_new_printf("key%d", i);
            vals[i] = camas_value_new_int(i);
        }
        g_autoptr(GError) error = NULL;
        cr_assert_null(camas_value_new_map(keys, vals, N, &error));
        g_autofree char *msg = g_strdup_printf("Duplicate map key 'key%d' (entries %d and %d)",
                                               dup_at / 2, dup_at / 2, dup_at);
        assert_error(error, CAMAS_ERROR_INVALID, msg);
        /* and without the duplicate the same keys are accepted */
        camas_value_unref(keys[dup_at]);
        keys[dup_at] = camas_value_new_printf("key%d", dup_at);
        g_autoptr(CamasValue) m = camas_value_new_map_take(keys, vals, N, NULL);
        cr_assert_not_null(m);
        cr_assert_eq(camas_value_get_int(camas_value_map_lookup(m, "key999")), 999);
        g_free(keys);
        g_free(vals);
    }
    /* ints, floats and mixed scalars in a large map */
    CamasValue *keys[40], *vals[40];
    for (int i = 0; i < 40; i++) {
        keys[i] = i % 2 ? camas_value_new_int(i) : camas_value_new_float(i);
        vals[i] = camas_value_new_null();
    }
    g_autoptr(CamasValue) m = camas_value_new_map_take(keys, vals, 40, NULL);
    cr_assert_not_null(m, "1 and 1.0 are distinct keys");
}

Test(value, ext_and_object_values)
{
    g_autoptr(CamasValue) data = camas_value_new_str("calc");
    g_autoptr(CamasValue) ext = camas_value_new_ext(7, data);
    cr_assert_eq(camas_value_get_type(ext), CAMAS_VALUE_EXT);
    cr_assert_eq(camas_value_ext_get_type_id(ext), 7);
    cr_assert_eq(camas_value_ext_get_data(ext), data);

    Thing t = {.refs = 1, .id = 5};
    CamasValue *o = camas_value_new_object(&thing_type, &t);
    cr_assert_eq(t.refs, 2, "the value holds a reference");
    cr_assert_eq(camas_value_get_type(o), CAMAS_VALUE_OBJECT);
    cr_assert_eq(camas_value_object_get_type(o), &thing_type);
    cr_assert_eq(camas_value_object_get_instance(o), &t);
    cr_assert_eq(camas_value_get_length(o), 0);
    camas_value_unref(o);
    cr_assert_eq(t.refs, 1, "released with the value");

    int plain = 0;
    g_autoptr(CamasValue) p = camas_value_new_object(&plain_type, &plain);
    cr_assert_eq(camas_value_object_get_instance(p), &plain);
}

/* --- equality ----------------------------------------------------------------------------- */

Test(value, equal_follows_the_wire_semantics)
{
    g_autoptr(CamasValue) nan1 = camas_value_new_float(NAN);
    g_autoptr(CamasValue) nan2 = camas_value_new_float(-NAN);
    g_autoptr(CamasValue) one_i = camas_value_new_int(1);
    g_autoptr(CamasValue) one_f = camas_value_new_float(1.0);
    g_autoptr(CamasValue) t = camas_value_new_bool(TRUE);
    g_autoptr(CamasValue) z = camas_value_new_float(0.0);
    g_autoptr(CamasValue) nz = camas_value_new_float(-0.0);
    g_autoptr(CamasValue) inf = camas_value_new_float(INFINITY);
    cr_assert(camas_value_equal(nan1, nan2), "NaN equals NaN");
    cr_assert_not(camas_value_equal(nan1, one_f));
    cr_assert_not(camas_value_equal(one_i, one_f), "int never equals float");
    cr_assert_not(camas_value_equal(one_i, t), "bool is not int");
    cr_assert(camas_value_equal(z, nz));
    cr_assert_not(camas_value_equal(inf, one_f));

    g_autoptr(CamasValue) l = camas_value_build("[i s [f]]", 1, "a", 2.0);
    g_autoptr(CamasValue) tu = camas_value_build("(i s (f))", 1, "a", 2.0);
    g_autoptr(CamasValue) l2 = camas_value_build("[i s [f]]", 1, "b", 2.0);
    g_autoptr(CamasValue) l3 = camas_value_build("[i s]", 1, "a");
    cr_assert(camas_value_equal(l, tu), "list equals tuple with equal items");
    cr_assert_not(camas_value_equal(l, l2));
    cr_assert_not(camas_value_equal(l, l3));

    g_autoptr(CamasValue) m1 = camas_value_build("{s:i, s:i}", "a", 1, "b", 2);
    g_autoptr(CamasValue) m2 = camas_value_build("{s:i, s:i}", "a", 1, "b", 2);
    g_autoptr(CamasValue) m3 = camas_value_build("{s:i, s:i}", "b", 2, "a", 1);
    g_autoptr(CamasValue) m4 = camas_value_build("{s:i, s:i}", "a", 1, "b", 3);
    cr_assert(camas_value_equal(m1, m2));
    cr_assert_not(camas_value_equal(m1, m3), "maps compare in order");
    cr_assert_not(camas_value_equal(m1, m4));
    cr_assert_not(camas_value_equal(m1, l));

    g_autoptr(CamasValue) s = camas_value_new_str("x");
    g_autoptr(CamasValue) b = camas_value_new_bytes("x", 1);
    cr_assert_not(camas_value_equal(s, b));

    g_autoptr(CamasValue) e1 = camas_value_new_ext(1, s);
    g_autoptr(CamasValue) e2 = camas_value_new_ext(1, s);
    g_autoptr(CamasValue) e3 = camas_value_new_ext(2, s);
    cr_assert(camas_value_equal(e1, e2));
    cr_assert_not(camas_value_equal(e1, e3));

    Thing ta = {.refs = 1, .id = 1}, tb = {.refs = 1, .id = 1}, tc = {.refs = 1, .id = 2};
    g_autoptr(CamasValue) oa = camas_value_new_object(&thing_type, &ta);
    g_autoptr(CamasValue) ob = camas_value_new_object(&thing_type, &tb);
    g_autoptr(CamasValue) oc = camas_value_new_object(&thing_type, &tc);
    cr_assert(camas_value_equal(oa, ob), "through the type's equal");
    cr_assert_not(camas_value_equal(oa, oc));
    int x = 0, y = 0;
    g_autoptr(CamasValue) px = camas_value_new_object(&plain_type, &x);
    g_autoptr(CamasValue) px2 = camas_value_new_object(&plain_type, &x);
    g_autoptr(CamasValue) py = camas_value_new_object(&plain_type, &y);
    cr_assert(camas_value_equal(px, px2), "identity without an equal function");
    cr_assert_not(camas_value_equal(px, py));
}

/* --- arenas ------------------------------------------------------------------------------- */

/* Builds ["name", 123456, <adopted heap value>] in a fresh arena. */
static CamasValue *
arena_tree(CamasValue *adoptee)
{
    CamasArena *arena = camas__arena_new(64);
    CamasValue *list = camas__arena_value(arena, CAMAS_VALUE_LIST);
    CamasValue **items = camas__arena_alloc(arena, 3 * sizeof(CamasValue *));
    items[0] = camas__arena_str(arena, CAMAS_VALUE_STR, "name", 4);
    items[1] = camas__arena_value(arena, CAMAS_VALUE_INT);
    items[1]->u.i = 123456;
    items[2] = camas__arena_adopt(arena, adoptee);
    list->u.seq.len = 3;
    list->u.seq.items = items;
    return camas__arena_finish(arena, list);
}

Test(value, arena_child_reference_keeps_the_arena_alive)
{
    int values_before = live_values();
    CamasValue *root = arena_tree(camas_value_new_str("adopted"));
    cr_assert_eq(live_arenas(), 1);
    cr_assert_eq(live_values(), values_before + 1, "arena values are not heap values");
    g_autofree char *r = camas_value_repr(root);
    cr_assert_str_eq(r, "['name', 123456, 'adopted']");

    CamasValue *child = camas_value_ref(camas_value_get_item(root, 0));
    CamasValue *adopted = camas_value_ref(camas_value_get_item(root, 2));
    camas_value_unref(root);
    cr_assert_eq(live_arenas(), 1, "the child's reference keeps the arena");
    cr_assert_str_eq(camas_value_get_str(child, NULL), "name");
    camas_value_unref(child);
    cr_assert_eq(live_arenas(), 0, "the last reference frees it");
    cr_assert_eq(live_values(), values_before + 1, "our own reference to the adopted value");
    cr_assert_str_eq(camas_value_get_str(adopted, NULL), "adopted");
    camas_value_unref(adopted);
    cr_assert_eq(live_values(), values_before, "adopted values are released with the arena");
}

Test(value, arena_values_inside_heap_containers_count_on_the_arena)
{
    CamasValue *root = arena_tree(camas_value_new_int(1 << 20));
    CamasValue *items[] = {camas_value_get_item(root, 1)};
    CamasValue *heap = camas_value_new_list(items, 1);
    camas_value_unref(root);
    cr_assert_eq(live_arenas(), 1);
    cr_assert_eq(camas_value_get_int(camas_value_get_item(heap, 0)), 123456);
    camas_value_unref(heap);
    cr_assert_eq(live_arenas(), 0);
}

Test(value, arena_grows_past_its_first_block_with_aligned_memory)
{
    CamasArena *arena = camas__arena_new(0);
    enum { N = 5000 };
    CamasValue **items = camas__arena_alloc(arena, N * sizeof(CamasValue *));
    for (int i = 0; i < N; i++) {
        char buf[32];
        int n = g_snprintf(buf, sizeof buf, "item %d", i);
        items[i] = camas__arena_str(arena, CAMAS_VALUE_STR, buf, (gsize)n);
        cr_assert_eq((guintptr)items[i] % 8, 0);
        guint8 *odd = camas__arena_alloc(arena, (gsize)(i % 13) + 1);
        cr_assert_eq((guintptr)odd % 8, 0);
        memset(odd, 0xab, (gsize)(i % 13) + 1);
    }
    /* one allocation larger than any block so far */
    guint8 *big = camas__arena_alloc(arena, 1 << 20);
    memset(big, 1, 1 << 20);
    CamasValue *list = camas__arena_value(arena, CAMAS_VALUE_LIST);
    list->u.seq.len = N;
    list->u.seq.items = items;
    CamasValue *root = camas__arena_finish(arena, list);
    for (int i = 0; i < N; i += 499) {
        g_autofree char *want = g_strdup_printf("item %d", i);
        cr_assert_str_eq(camas_value_get_str(camas_value_get_item(root, (gsize)i), NULL), want);
    }
    camas_value_unref(root);
}

Test(value, arena_finish_with_a_root_outside_the_arena)
{
    CamasArena *arena = camas__arena_new(16);
    CamasValue *root = camas__arena_finish(arena, camas_value_new_null());
    cr_assert(camas_value_is_null(root));
    cr_assert_eq(live_arenas(), 0, "nothing of the arena is referenced");
    camas_value_unref(root);

    arena = camas__arena_new(16);
    CamasValue *heap = camas__arena_adopt(arena, camas_value_new_str("deserialized"));
    root = camas__arena_finish(arena, heap);
    cr_assert_eq(live_arenas(), 0);
    cr_assert_str_eq(camas_value_get_str(root, NULL), "deserialized");
    camas_value_unref(root);
}

Test(value, arena_adopting_statics_and_own_values_does_not_leak)
{
    CamasArena *arena = camas__arena_new(16);
    cr_assert_eq(camas__arena_adopt(arena, camas_value_new_bool(TRUE)), &camas__value_true);
    CamasValue *s = camas__arena_str(arena, CAMAS_VALUE_BYTES, "\0\1", 2);
    cr_assert_eq(camas__arena_adopt(arena, camas_value_ref(s)), s);
    CamasValue *root = camas__arena_finish(arena, s);
    gsize len;
    const guint8 *p = camas_value_get_bytes(root, &len);
    cr_assert_eq(len, 2);
    cr_assert_eq(p[1], 1);
    cr_assert_eq(p[2], 0);
    camas_value_unref(root);
    cr_assert_eq(live_arenas(), 0, "adopting its own value did not make the arena immortal");
}

Test(value, static_stack_values_ignore_refcounting)
{
    CamasValue i = CAMAS__VALUE_STATIC_INT(42);
    CamasValue *items[] = {&i};
    CamasValue seq = CAMAS__VALUE_STATIC_SEQ(items, 1);
    cr_assert_eq(camas_value_ref(&seq), &seq);
    camas_value_unref(&seq);
    g_autofree char *r = camas_value_repr(&seq);
    cr_assert_str_eq(r, "[42]");
}

/* --- build and unpack ---------------------------------------------------------------------- */

Test(value, build_makes_every_kind)
{
    int before = live_values();
    CamasValue *kept = camas_value_new_str("kept");
    CamasValue *stolen = camas_value_new_str("stolen");
    g_autoptr(CamasValue) v = camas_value_build(
        "[n b i I U f s s# y v V (i) {s:i, v:s} []]", TRUE, -5, G_MININT64, G_MAXUINT64, 0.5,
        "str", "a\0b", (gssize)3, "\x01\x02", (gsize)2, kept, stolen, 9, "k", 1,
        camas_value_new_int(7), "seven");
    cr_assert_not_null(v);
    g_autofree char *r = camas_value_repr(v);
    cr_assert_str_eq(r, "[None, True, -5, -9223372036854775808, 18446744073709551615, 0.5, "
                        "'str', 'a\\x00b', b'\\x01\\x02', 'kept', 'stolen', (9,), "
                        "{'k': 1, 7: 'seven'}, []]");
    camas_value_unref(kept);
    cr_assert_eq(camas_value_get_item(v, 9), kept, "v shares the value");
    g_clear_pointer(&v, camas_value_unref);
    cr_assert_eq(live_values(), before, "V was stolen, v was referenced");
}

Test(value, build_scalars_and_separators)
{
    g_autoptr(CamasValue) i = camas_value_build("i", 42);
    cr_assert_eq(camas_value_get_int(i), 42);
    g_autoptr(CamasValue) l = camas_value_build(" [ i , i : i ] ", 1, 2, 3);
    cr_assert_eq(camas_value_get_length(l), 3);
    g_autoptr(CamasValue) s = camas_value_build("s#", "abc", (gssize)-1);
    cr_assert_str_eq(camas_value_get_str(s, NULL), "abc");
}

Test(value, build_handles_many_items_and_large_maps)
{
    /* 40 items overflow the builder's inline stack; "n" takes no argument */
    GString *fmt = g_string_new("[");
    for (int i = 0; i < 40; i++)
        g_string_append(fmt, i ? " n" : "n");
    g_string_append(fmt, " [b]]");
    g_autoptr(CamasValue) l = camas_value_build(fmt->str, TRUE);
    cr_assert_eq(camas_value_get_length(l), 41);
    cr_assert(camas_value_is_null(camas_value_get_item(l, 39)));
    cr_assert(camas_value_get_bool(camas_value_get_item(camas_value_get_item(l, 40), 0)));

    /* the same with an error at the end: everything built so far is released */
    catch_criticals();
    int before = live_values();
    g_string_truncate(fmt, fmt->len - 5);
    g_string_append(fmt, " s f q]");
    cr_assert_null(camas_value_build(fmt->str, "heap", 0.5));
    cr_assert_eq(criticals, 1);
    cr_assert_eq(live_values(), before);
    g_string_free(fmt, TRUE);

    g_autoptr(CamasValue) m = camas_value_build(
        "{i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i}", 0, 0,
        1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60, 7, 70, 8, 80, 9, 90, 10, 100, 11, 110, 12, 120,
        13, 130, 14, 140, 15, 150, 16, 160, 17, 170, 18, 180, 19, 190);
    cr_assert_eq(camas_value_get_length(m), 20);
    g_autoptr(CamasValue) k = camas_value_new_int(19);
    cr_assert_eq(camas_value_get_int(camas_value_map_lookup_value(m, k)), 190);
    before = live_values();
    cr_assert_null(camas_value_build(
        "{i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i i:i}", 0,
        100000, 1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60, 7, 70, 8, 80, 9, 90, 10, 100, 11, 110,
        12, 120, 13, 130, 14, 140, 15, 150, 16, 160, 17, 170, 18, 180, 0, 190000),
        "duplicate key 0");
    cr_assert_eq(criticals, 2);
    cr_assert_eq(live_values(), before, "keys and values of the failed map are released");
}

Test(value, build_rejects_malformed_formats_with_a_critical)
{
    catch_criticals();
    int before = live_values();
    /* each consumes at most two int arguments before failing */
    const char *bad[] = {"[i", "[i)", "x", "i i", "{i}", "", "(i", "[i]]", "[i q]"};
    for (gsize k = 0; k < G_N_ELEMENTS(bad); k++) {
        int c = criticals;
        cr_assert_null(camas_value_build(bad[k], 1000, 2000), "format \"%s\"", bad[k]);
        cr_assert_eq(criticals, c + 1, "format \"%s\" raised one critical", bad[k]);
    }
    cr_assert_null(camas_value_build("{s:i s:i}", "a", 1, "a", 2), "duplicate key");
    cr_assert_null(camas_value_build("[s]", NULL), "NULL string");
    cr_assert_null(camas_value_build("[s]", "\xff"), "invalid UTF-8");
    cr_assert_null(camas_value_build("[v]", NULL), "NULL value");
    cr_assert_eq(criticals, (int)G_N_ELEMENTS(bad) + 4);
    cr_assert_eq(live_values(), before, "partial trees are released");
}

Test(value, unpack_reads_every_kind)
{
    g_autoptr(CamasValue) v = camas_value_build(
        "[n b i I U f i s s# y [i i] {s:i s:s} (f)]", FALSE, -7, G_MAXINT64, G_MAXUINT64, 2.5,
        3, "txt", "a\0b", (gssize)3, "\xff", (gsize)1, 1, 2, "x", 10, "y", "why", 0.25);
    gboolean b = TRUE;
    int i = 0, i1 = 0, i2 = 0, x = 0;
    gint64 big = 0;
    guint64 ubig = 0;
    double f = 0, fi = 0, ft = 0;
    const char *s = NULL, *y = NULL, *s2 = NULL;
    gsize s2len = 0, blen = 0;
    const guint8 *bytes = NULL;
    CamasValue *tuple = NULL;
    g_autoptr(GError) error = NULL;
    gboolean ok = camas_value_unpack(v, &error, "[n b i I U f f s s# y [i i] {s:i s:s} v]", &b,
                                     &i, &big, &ubig, &f, &fi, &s, &s2, &s2len, &bytes, &blen,
                                     &i1, &i2, "x", &x, "y", &y, &tuple);
    cr_assert(ok, "%s", error ? error->message : "");
    cr_assert_eq(b, FALSE);
    cr_assert_eq(i, -7);
    cr_assert_eq(big, G_MAXINT64);
    cr_assert_eq(ubig, G_MAXUINT64);
    cr_assert_eq(f, 2.5);
    cr_assert_eq(fi, 3.0, "f accepts ints");
    cr_assert_str_eq(s, "txt");
    cr_assert_eq(s2len, 3);
    cr_assert_eq(memcmp(s2, "a\0b", 3), 0);
    cr_assert_eq(blen, 1);
    cr_assert_eq(bytes[0], 0xff);
    cr_assert_eq(i1, 1);
    cr_assert_eq(i2, 2);
    cr_assert_eq(x, 10);
    cr_assert_str_eq(y, "why");
    cr_assert_eq(tuple, camas_value_get_item(v, 12));
    cr_assert(camas_value_unpack(tuple, NULL, "(f)", &ft), "( ) reads a tuple too");
    cr_assert_eq(ft, 0.25);
}

Test(value, unpack_optional_map_entries)
{
    g_autoptr(CamasValue) v = camas_value_build("{s:i}", "a", 1);
    int a = 0, b = -1, c = -1, d = -1;
    cr_assert(camas_value_unpack(v, NULL, "{s:i ?s:i ?s:[i i]}", "a", &a, "b", &b, "c", &c, &d));
    cr_assert_eq(a, 1);
    cr_assert_eq(b, -1, "absent optional entries are left unchanged");
    cr_assert_eq(c, -1);
    cr_assert_eq(d, -1);
    cr_assert(camas_value_unpack(v, NULL, "{?s:i}", "a", &b));
    cr_assert_eq(b, 1, "present optional entries are read");
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_value_unpack(v, &error, "{s:i s:i}", "a", &a, "zz", &b));
    assert_error(error, CAMAS_ERROR_TYPE, "missing key 'zz'");
}

Test(value, unpack_errors_name_the_path_and_both_types)
{
    g_autoptr(CamasValue) v = camas_value_build("[i i i {s:[s i]}]", 1, 2, 3, "k", "x", 4);
    const char *s;
    int a, b, c;
    g_autoptr(GError) e1 = NULL;
    cr_assert_not(camas_value_unpack(v, &e1, "[i i s v]", &a, &b, &s, NULL));
    assert_error(e1, CAMAS_ERROR_TYPE, "item 2: expected str, got int");
    g_autoptr(GError) e2 = NULL;
    cr_assert_not(camas_value_unpack(v, &e2, "[i i i {s:[s s]}]", &a, &b, &c, "k", &s, &s));
    assert_error(e2, CAMAS_ERROR_TYPE, "item 3: key 'k': item 1: expected str, got int");
    g_autoptr(GError) e3 = NULL;
    cr_assert_not(camas_value_unpack(v, &e3, "[i i]", &a, &b));
    assert_error(e3, CAMAS_ERROR_TYPE, "expected list of 2 items, got 4");
    g_autoptr(GError) e4 = NULL;
    cr_assert_not(camas_value_unpack(v, &e4, "{s:i}", "a", &a));
    assert_error(e4, CAMAS_ERROR_TYPE, "expected map, got list");
    g_autoptr(GError) e5 = NULL;
    cr_assert_not(camas_value_unpack(camas_value_get_item(v, 0), &e5, "[i]", &a));
    assert_error(e5, CAMAS_ERROR_TYPE, "expected list, got int");
    g_autoptr(GError) e6 = NULL;
    cr_assert_not(camas_value_unpack(v, &e6, "[n i i v]", &b, &c, NULL));
    assert_error(e6, CAMAS_ERROR_TYPE, "item 0: expected null, got int");
    cr_assert_not(camas_value_unpack(v, NULL, "[n i i v]", &b, &c, NULL), "NULL error is fine");
}

Test(value, unpack_checks_int_ranges)
{
    g_autoptr(CamasValue) v = camas_value_build("[I U i]", (gint64)G_MAXINT32 + 1, G_MAXUINT64, -1);
    int i;
    gint64 big;
    guint64 u;
    g_autoptr(GError) e1 = NULL;
    cr_assert_not(camas_value_unpack(v, &e1, "[i v v]", &i, NULL, NULL));
    assert_error(e1, CAMAS_ERROR_TYPE, "item 0: int 2147483648 is out of range for int");
    g_autoptr(GError) e2 = NULL;
    cr_assert_not(camas_value_unpack(v, &e2, "[I I v]", &big, &big, NULL));
    assert_error(e2, CAMAS_ERROR_TYPE,
                 "item 1: int 18446744073709551615 is out of range for int64");
    g_autoptr(GError) e3 = NULL;
    cr_assert_not(camas_value_unpack(v, &e3, "[U U U]", &u, &u, &u));
    assert_error(e3, CAMAS_ERROR_TYPE, "item 2: int -1 is out of range for uint64");
    g_autoptr(GError) e4 = NULL;
    g_autoptr(CamasValue) f = camas_value_new_float(1.0);
    cr_assert_not(camas_value_unpack(f, &e4, "i", &i));
    assert_error(e4, CAMAS_ERROR_TYPE, "expected int, got float");
}

Test(value, unpack_with_null_outputs_checks_types_only)
{
    g_autoptr(CamasValue) v = camas_value_build("[i s b y v]", 1, "x", TRUE, "z", (gsize)1,
                                                camas_value_new_null());
    cr_assert(camas_value_unpack(v, NULL, "[i s b y v]", NULL, NULL, NULL, NULL, NULL, NULL));
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_value_unpack(v, &error, "[i i b y v]", NULL, NULL, NULL, NULL, NULL,
                                     NULL));
    assert_error(error, CAMAS_ERROR_TYPE, "item 1: expected int, got str");
}

Test(value, unpack_malformed_format_is_a_critical_and_an_error)
{
    catch_criticals();
    g_autoptr(CamasValue) v = camas_value_build("[i]", 1);
    int i;
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_value_unpack(v, &error, "[i", &i));
    cr_assert_eq(criticals, 1);
    cr_assert_eq(error->code, CAMAS_ERROR_INVALID);
    g_autoptr(GError) e2 = NULL;
    cr_assert_not(camas_value_unpack(v, &e2, "[i] x", &i));
    cr_assert_eq(criticals, 2);
    g_autoptr(GError) e3 = NULL;
    g_autoptr(CamasValue) m = camas_value_build("{s:i}", "a", 1);
    cr_assert_not(camas_value_unpack(m, &e3, "{i:i}", &i, &i));
    cr_assert_eq(criticals, 3);
}

/* --- repr --------------------------------------------------------------------------------- */

Test(value, repr_of_scalars)
{
    assert_repr(camas_value_new_null(), "None");
    assert_repr(camas_value_new_bool(TRUE), "True");
    assert_repr(camas_value_new_bool(FALSE), "False");
    assert_repr(camas_value_new_int(42), "42");
    assert_repr(camas_value_new_int(-1), "-1");
    assert_repr(camas_value_new_int(G_MININT64), "-9223372036854775808");
    assert_repr(camas_value_new_uint(G_MAXUINT64), "18446744073709551615");
    assert_repr(camas_value_new_float(NAN), "nan");
    assert_repr(camas_value_new_float(INFINITY), "inf");
    assert_repr(camas_value_new_float(-INFINITY), "-inf");
}

Test(value, repr_of_str_follows_python_quotes_and_escapes)
{
    assert_repr(camas_value_new_str("text"), "'text'");
    assert_repr(camas_value_new_str(""), "''");
    assert_repr(camas_value_new_str("it's"), "\"it's\"");
    assert_repr(camas_value_new_str("say \"hi\""), "'say \"hi\"'");
    assert_repr(camas_value_new_str("both ' and \""), "'both \\' and \"'");
    assert_repr(camas_value_new_str("a\\b\n\t\r"), "'a\\\\b\\n\\t\\r'");
    assert_repr(camas_value_new_str_len("\0\x01\x1f\x7f", 4), "'\\x00\\x01\\x1f\\x7f'");
    assert_repr(camas_value_new_str("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
                "'h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80'"); /* printable: raw */
    /* U+0085 (Cc), U+00A0 (Zs), U+200B (Cf), U+2028 (Zl), U+E000 (Co), U+E0001 (Cf) */
    assert_repr(camas_value_new_str("\xc2\x85\xc2\xa0\xe2\x80\x8b\xe2\x80\xa8\xee\x80\x80"
                                    "\xf3\xa0\x80\x81"),
                "'\\x85\\xa0\\u200b\\u2028\\ue000\\U000e0001'");
}

Test(value, repr_of_bytes)
{
    assert_repr(camas_value_new_bytes("\x00", 1), "b'\\x00'");
    assert_repr(camas_value_new_bytes("", 0), "b''");
    assert_repr(camas_value_new_bytes("ab'c", 4), "b\"ab'c\"");
    assert_repr(camas_value_new_bytes("'\"", 2), "b'\\'\"'");
    assert_repr(camas_value_new_bytes("\n\r\t\\\x7f\x80\xff ~", 9),
                "b'\\n\\r\\t\\\\\\x7f\\x80\\xff ~'");
}

Test(value, repr_of_containers_ext_and_objects)
{
    assert_repr(camas_value_build("[i, i]", 1, 2), "[1, 2]");
    assert_repr(camas_value_build("[]"), "[]");
    assert_repr(camas_value_build("()"), "()");
    assert_repr(camas_value_build("(i)", 1), "(1,)");
    assert_repr(camas_value_build("(i i)", 1, 2), "(1, 2)");
    assert_repr(camas_value_build("{}"), "{}");
    assert_repr(camas_value_build("{s:i}", "a", 1), "{'a': 1}");
    assert_repr(camas_value_build("{s:[n (s) {}] v:f}", "k", "t", camas_value_new_int(2), 0.5),
                "{'k': [None, ('t',), {}], 2: 0.5}");
    CamasValue *data = camas_value_new_str("calc");
    assert_repr(camas_value_new_ext(0, data), "ext(0, 'calc')");
    camas_value_unref(data);
    data = camas_value_build("[i i]", 1, 2);
    assert_repr(camas_value_new_ext(-3, data), "ext(-3, [1, 2])");
    camas_value_unref(data);
    Thing t = {.refs = 1, .id = 9};
    assert_repr(camas_value_new_object(&thing_type, &t), "<Thing 9>");
    int p = 0;
    assert_repr(camas_value_new_object(&plain_type, &p), "<Plain object>");
    cr_assert_eq(t.refs, 1);
}

Test(value, repr_append_appends)
{
    GString *s = g_string_new("x=");
    g_autoptr(CamasValue) v = camas_value_build("[f]", 1.0);
    camas_value_repr_append(v, s);
    cr_assert_str_eq(s->str, "x=[1.0]");
    g_string_free(s, TRUE);
}

/* --- floats ------------------------------------------------------------------------------- */

/* Expected strings are Python 3's repr() of the same doubles. */
Test(value, float_repr_matches_python)
{
    assert_float_repr(1.0, "1.0");
    assert_float_repr(0.0, "0.0");
    assert_float_repr(-0.0, "-0.0");
    assert_float_repr(0.1, "0.1");
    assert_float_repr(3.14, "3.14");
    assert_float_repr(-2.5, "-2.5");
    assert_float_repr(1e16, "1e+16");
    assert_float_repr(1e-05, "1e-05");
    assert_float_repr(0.0001, "0.0001");
    assert_float_repr(0.000123, "0.000123");
    assert_float_repr(5e-324, "5e-324");
    assert_float_repr(1.5e300, "1.5e+300");
    assert_float_repr(123456789012345.0, "123456789012345.0");
    assert_float_repr(1234567890123456.0, "1234567890123456.0");
    assert_float_repr(12345678901234567.0, "1.2345678901234568e+16");
    assert_float_repr(9999999999999998.0, "9999999999999998.0");
    assert_float_repr(1e15, "1000000000000000.0");
    assert_float_repr(1e22, "1e+22");
    assert_float_repr(1e100, "1e+100");
    assert_float_repr(-1e-100, "-1e-100");
    assert_float_repr(0.1 + 0.2, "0.30000000000000004");
    assert_float_repr(2.0 / 3.0, "0.6666666666666666");
    assert_float_repr(DBL_MAX, "1.7976931348623157e+308");
    assert_float_repr(DBL_MIN, "2.2250738585072014e-308");
    assert_float_repr(DBL_TRUE_MIN * 3, "1.5e-323");
    assert_float_repr(9007199254740993.0, "9007199254740992.0");
    assert_float_repr(4.35, "4.35");
    assert_float_repr(100.0, "100.0");
    assert_float_repr(1.2345e-5, "1.2345e-05");
    assert_float_repr(NAN, "nan");
    assert_float_repr(-INFINITY, "-inf");
    /* powers of two have a narrower gap below them: both search paths must see it */
    assert_float_repr(ldexp(1.0, -791), "7.678447687145631e-239");
    assert_float_repr(ldexp(1.0, 863), "6.150157786156811e+259");
    assert_float_repr(ldexp(1.0, 60), "1.152921504606847e+18");
    assert_float_repr(nextafter(ldexp(1.0, 60), 0), "1.1529215046068468e+18");
    assert_float_repr(ldexp(1.0, 127), "1.7014118346046923e+38");
    assert_float_repr(ldexp(1.0, -14), "6.103515625e-05");
    assert_float_repr(ldexp(1.0, -15), "3.0517578125e-05");
    assert_float_repr(3e-05, "3e-05");
    assert_float_repr(1e23, "1e+23");
}

/* The significant digits of a formatted float (leading and trailing zeros dropped) and its
 * decimal exponent, read back from the text itself. */
static int
significant_digits(const char *s, int *exp10)
{
    char digits[40];
    int n = 0, point = -1, first = -1;
    const char *p = s;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            point = n;
        } else if (*p >= '0' && *p <= '9') {
            if (first < 0 && *p != '0')
                first = n;
            digits[n++] = *p;
        }
    }
    if (point < 0)
        point = n;
    int last = n - 1;
    while (last > first && digits[last] == '0')
        last--;
    /* value = 0.d1d2... * 10^point; the exponent of the first significant digit: */
    *exp10 = point - first - 1 + (*p == 'e' ? atoi(p + 1) : 0);
    return last - first + 1;
}

/* Round trip, shortness and Python's layout for one finite nonzero double. */
static void
check_format(double d)
{
    char buf[32];
    gsize n = camas__format_double(d, buf);
    cr_assert_eq(n, strlen(buf));
    char *end;
    double back = g_ascii_strtod(buf, &end);
    cr_assert_eq(*end, '\0', "%s parses completely", buf);
    cr_assert(back == d && signbit(back) == signbit(d), "%s reads back as %.17g, not %.17g", buf,
              back, d);
    int exp10;
    int digits = significant_digits(buf, &exp10);
    cr_assert(digits >= 1 && digits <= 17, "%s has %d digits", buf, digits);
    /* shortest: the correctly rounded value with one digit fewer does not round-trip */
    if (digits > 1) {
        char fmt[8], tmp[40];
        g_snprintf(fmt, sizeof fmt, "%%.%de", digits - 2);
        g_ascii_formatd(tmp, sizeof tmp, fmt, d);
        cr_assert_neq(g_ascii_strtod(tmp, NULL), d, "%s is not the shortest: %s", buf, tmp);
    }
    /* Python's layout: scientific exactly when the exponent is < -4 or >= 16 */
    gboolean sci = strchr(buf, 'e') != NULL;
    cr_assert_eq(sci, exp10 < -4 || exp10 >= 16, "%s (exponent %d)", buf, exp10);
    if (sci) {
        const char *e = strchr(buf, 'e');
        cr_assert(e[1] == '+' || e[1] == '-');
        cr_assert_geq(strlen(e + 2), 2, "%s: at least two exponent digits", buf);
        cr_assert(e[-1] != '0' || e[-2] == '-' || e == buf + 1, "%s: no trailing zeros", buf);
    } else {
        const char *dot = strchr(buf, '.');
        cr_assert_not_null(dot, "%s has a point", buf);
        cr_assert(dot[1] != '\0', "%s has a digit after the point", buf);
    }
}

Test(value, float_format_round_trips_100000_random_doubles)
{
    GRand *rand = g_rand_new_with_seed(20160101);
    for (int k = 0; k < 100000; k++) {
        guint64 bits = ((guint64)g_rand_int(rand) << 32) | g_rand_int(rand);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue; /* ~0.05%: covered by the special-value tests */
        check_format(d);
    }
    /* "nice" numbers take the short path: short decimals at every scale */
    for (int k = 0; k < 20000; k++) {
        double d = (double)g_rand_int_range(rand, -999999, 999999) *
                   pow(10.0, g_rand_int_range(rand, -30, 30));
        check_format(d);
    }
    /* subnormals search upwards from one digit */
    for (int k = 0; k < 2000; k++) {
        guint64 bits = (((guint64)g_rand_int(rand) << 32) | g_rand_int(rand)) &
                       G_GUINT64_CONSTANT(0x000fffffffffffff);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (d != 0.0)
            check_format(d);
    }
    g_rand_free(rand);
}

Test(value, repr_does_not_depend_on_the_locale)
{
    static const char *const comma_locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                                "fr_FR.utf8", "nl_NL.UTF-8", "ru_RU.UTF-8",
                                                "de_DE", "fr_FR"};
    g_autoptr(CamasValue) v = camas_value_build("[f f f f]", 1.5, 1e-05, -0.25, 1e+16);
    g_autofree char *c_repr = camas_value_repr(v);
    cr_assert_str_eq(c_repr, "[1.5, 1e-05, -0.25, 1e+16]");

    const char *set = NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(comma_locales) && !set; i++)
        set = setlocale(LC_ALL, comma_locales[i]);
    if (set) {
        /* the locale really writes a comma... */
        char probe[16];
        snprintf(probe, sizeof probe, "%.1f", 1.5);
        cr_assert_str_eq(probe, "1,5", "locale %s", set);
        /* ...and repr does not */
        g_autofree char *l_repr = camas_value_repr(v);
        setlocale(LC_ALL, "C");
        cr_assert_str_eq(l_repr, c_repr, "under %s", set);
    } else {
        /* No comma locale is installed.  What repr relies on is that g_ascii_formatd() and
         * g_ascii_strtod() ignore the locale: check the output is exactly what they give for
         * the C locale and that it contains no locale decimal point other than '.'. */
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(buf, sizeof buf, "%.1f", 1.5);
        cr_assert_str_eq(buf, "1.5");
        cr_assert_eq(g_ascii_strtod("1.5", NULL), 1.5);
        char fb[32];
        camas__format_double(1.5, fb);
        cr_assert_str_eq(fb, buf);
        for (gsize i = 0; i < camas_value_get_length(v); i++) {
            g_autofree char *r = camas_value_repr(camas_value_get_item(v, i));
            cr_assert_null(strchr(r, ','), "%s", r);
        }
    }
}
