/* SPDX-License-Identifier: MIT */
/*
 * Tests of the codec core (names, serializer registry, limits, raw ext mode, error handling of
 * the encode/decode wrappers) and of the JSON codec against the bytes Python aiomas 2.0.1
 * writes (wire-protocol.md §6.1, §7, §13 C.1-C.3; the expected texts were produced with
 * Python 3.11's json.dumps).
 */
#include "leakcheck.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <camas/camas.h>

#include "codec-private.h"

TestSuite(codec_json, .fini = camas_test_check_leaks);

/* --- helpers --------------------------------------------------------------------------------- */

static CamasCodec *
new_json(void)
{
    g_autoptr(GError) error = NULL;
    CamasCodec *codec = camas_codec_new("json", &error);
    cr_assert_not_null(codec, "camas_codec_new(json): %s", error ? error->message : "?");
    return codec;
}

/* The encoding of @v as a NUL-terminated string (asserts success). */
static char *
encode(CamasCodec *codec, const CamasValue *v)
{
    g_autoptr(GError) error = NULL;
    GByteArray *out = g_byte_array_new();
    gboolean ok = camas_codec_encode(codec, v, out, &error);
    if (!ok)
        g_byte_array_unref(out);
    cr_assert(ok, "encode failed: %s", error ? error->message : "?");
    g_byte_array_append(out, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(out, FALSE);
}

/* Encodes @v (stolen) and compares with @expected byte for byte. */
static void
assert_encodes(CamasCodec *codec, CamasValue *v, const char *expected)
{
    cr_assert_not_null(v);
    g_autofree char *got = encode(codec, v);
    camas_value_unref(v);
    cr_assert_str_eq(got, expected);
}

static CamasValue *
decode_len(CamasCodec *codec, const void *data, gsize len)
{
    g_autoptr(GError) error = NULL;
    CamasValue *v = camas_codec_decode(codec, data, len, &error);
    cr_assert_not_null(v, "decode of \"%.*s\" failed: %s", (int)len, (const char *)data,
                       error ? error->message : "?");
    cr_assert_null(error);
    return v;
}

static CamasValue *
decode(CamasCodec *codec, const char *text)
{
    return decode_len(codec, text, strlen(text));
}

/* Asserts that decoding fails with a CAMAS_ERROR_CODEC whose message contains @needle (may be
 * NULL); returns the error for further checks. */
static GError *
decode_fails_len(CamasCodec *codec, const void *data, gsize len, const char *needle)
{
    GError *error = NULL;
    CamasValue *v = camas_codec_decode(codec, data, len, &error);
    if (v) {
        g_autofree char *r = camas_value_repr(v);
        camas_value_unref(v);
        cr_assert_fail("decoding \"%.*s\" succeeded (%s)", (int)len, (const char *)data, r);
    }
    cr_assert_not_null(error);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC), "wrong error: %s",
              error->message);
    if (needle)
        cr_assert(strstr(error->message, needle), "error \"%s\" does not mention \"%s\"",
                  error->message, needle);
    return error;
}

static void
decode_fails(CamasCodec *codec, const char *text, const char *needle)
{
    g_autoptr(GError) error = decode_fails_len(codec, text, strlen(text), needle);
}

/* Decodes @text and encodes the result again: Python's output must come back unchanged. */
static void
assert_text_round_trip(CamasCodec *codec, const char *text)
{
    g_autoptr(CamasValue) v = decode(codec, text);
    g_autofree char *again = encode(codec, v);
    cr_assert_str_eq(again, text);
}

static void
assert_value_round_trip(CamasCodec *codec, CamasValue *v /* stolen */)
{
    cr_assert_not_null(v);
    g_autofree char *text = encode(codec, v);
    g_autoptr(CamasValue) back = decode(codec, text);
    g_autofree char *r1 = camas_value_repr(v);
    g_autofree char *r2 = camas_value_repr(back);
    cr_assert(camas_value_equal(v, back), "%s came back as %s (via %s)", r1, r2, text);
    camas_value_unref(v);
}

/* --- test objects ---------------------------------------------------------------------------- */

/* Instances are interned strings, so equal names are the same instance. */
static gboolean
thing_equal(gconstpointer a, gconstpointer b)
{
    return strcmp(a, b) == 0;
}

static const CamasObjectType thing_type = {.name = "Thing", .equal = thing_equal};
static const CamasObjectType other_type = {.name = "Other", .equal = thing_equal};
static const CamasObjectType date_type = {.name = "Date", .equal = thing_equal};

static CamasValue *
new_thing(const CamasObjectType *type, const char *name)
{
    return camas_value_new_object(type, (gpointer)g_intern_string(name));
}

typedef struct {
    const CamasObjectType *type;
    int serialized;
    int deserialized;
    int destroyed;
} Counter;

static CamasValue *
thing_serialize(const CamasValue *object, gpointer user_data, GError **error)
{
    Counter *c = user_data;
    if (c)
        c->serialized++;
    const char *name = camas_value_object_get_instance(object);
    if (strcmp(name, "refuse") == 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "cannot send %s", name);
        return NULL;
    }
    return camas_value_new_str(name);
}

static CamasValue *
thing_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    Counter *c = user_data;
    if (c)
        c->deserialized++;
    gsize len;
    const char *name = camas_value_to_str(data, &len, error);
    if (!name)
        return NULL;
    return new_thing(c && c->type ? c->type : &thing_type, name);
}

/* Returns the data itself: the decoded tree then contains (a copy of) a part of itself. */
static CamasValue *
identity_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    return camas_value_ref((CamasValue *)data);
}

static void
count_destroy(gpointer user_data)
{
    ((Counter *)user_data)->destroyed++;
}

/* --- the codec core --------------------------------------------------------------------------- */

Test(codec_json, new_finds_json_by_name_in_any_case)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasCodec) a = camas_codec_new("json", &error);
    g_autoptr(CamasCodec) b = camas_codec_new("JSON", &error);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_str_eq(camas_codec_get_name(a), "json");
    cr_assert_str_eq(camas_codec_get_name(b), "json");
    cr_assert_not(camas_codec_supports_bytes(a));
}

Test(codec_json, new_with_unknown_name_is_lookup_error_listing_known_names)
{
    g_autoptr(GError) error = NULL;
    CamasCodec *codec = camas_codec_new("yaml", &error);
    cr_assert_null(codec);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    cr_assert(strstr(error->message, "\"yaml\""), "%s", error->message);
    for (const char *const *n = camas_codec_list_names(); *n; n++)
        cr_assert(strstr(error->message, *n), "%s does not list %s", error->message, *n);
}

Test(codec_json, every_listed_name_and_alias_creates_its_codec)
{
    gsize n_classes;
    const CamasCodecClass *const *classes = camas__codec_classes(&n_classes);
    const char *const *names = camas_codec_list_names();
    gsize n_names = g_strv_length((char **)names);
    cr_assert_eq(n_names, n_classes);
    gboolean has_json = FALSE;
    for (gsize i = 0; i < n_classes; i++) {
        cr_assert_str_eq(names[i], classes[i]->name);
        has_json |= strcmp(names[i], "json") == 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasCodec) codec = camas_codec_new(names[i], &error);
        cr_assert_not_null(codec, "%s: %s", names[i], error ? error->message : "?");
        cr_assert_str_eq(camas_codec_get_name(codec), names[i]);
        g_auto(GStrv) aliases = g_strsplit(classes[i]->aliases ? classes[i]->aliases : "", " ", -1);
        for (char **a = aliases; *a; a++) {
            if (!**a)
                continue;
            g_autoptr(CamasCodec) alias = camas_codec_new(*a, &error);
            cr_assert_not_null(alias, "alias %s: %s", *a, error ? error->message : "?");
            cr_assert_str_eq(camas_codec_get_name(alias), names[i]);
        }
    }
    cr_assert(has_json);
}

Test(codec_json, ref_keeps_the_codec_alive_until_the_last_unref)
{
    CamasCodec *codec = new_json();
    Counter c = {0};
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, &c,
                               count_destroy);
    cr_assert_eq(camas_codec_ref(codec), codec);
    camas_codec_unref(codec);
    cr_assert_eq(c.destroyed, 0);
    cr_assert_str_eq(camas_codec_get_name(codec), "json");
    camas_codec_unref(codec);
    cr_assert_eq(c.destroyed, 1);
}

Test(codec_json, serializer_ids_follow_registration_order)
{
    g_autoptr(CamasCodec) codec = new_json();
    cr_assert_eq(camas_codec_add_serializer(codec, &date_type, thing_serialize, thing_deserialize,
                                            NULL, NULL),
                 0);
    cr_assert_eq(camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize,
                                            NULL, NULL),
                 1);
    /* the catch-all (aiomas' proxy serializer) is just the next one */
    cr_assert_eq(
        camas_codec_add_serializer(codec, NULL, thing_serialize, thing_deserialize, NULL, NULL), 2);
    /* agent container layout (§7): date = 0, user extra = 1, proxy = 2 */
    assert_encodes(codec,
                   camas_value_build("[V V V]", new_thing(&date_type, "2016-01-01T00:00:00+00:00"),
                                     new_thing(&thing_type, "x"),
                                     new_thing(&other_type, "agents/0")),
                   "[{\"__type__\": [0, \"2016-01-01T00:00:00+00:00\"]}, {\"__type__\": [1, "
                   "\"x\"]}, {\"__type__\": [2, \"agents/0\"]}]");
}

Test(codec_json, explicit_ids_are_used_and_checked)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(GError) error = NULL;
    cr_assert(camas_codec_add_serializer_with_id(codec, 1, &thing_type, thing_serialize,
                                                 thing_deserialize, NULL, NULL, &error));
    cr_assert_not(camas_codec_add_serializer_with_id(codec, 1, &other_type, thing_serialize,
                                                     thing_deserialize, NULL, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "type id 1"), "%s", error->message);
    g_clear_error(&error);
    cr_assert_not(camas_codec_add_serializer_with_id(codec, 7, &thing_type, thing_serialize,
                                                     thing_deserialize, NULL, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "Thing"), "%s", error->message);
    g_clear_error(&error);
    cr_assert_not(camas_codec_add_serializer_with_id(codec, -1, &other_type, thing_serialize,
                                                     thing_deserialize, NULL, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_clear_error(&error);

    /* implicit registration counts serializers (1 so far) but skips the taken id 1 */
    cr_assert_eq(camas_codec_add_serializer(codec, &other_type, thing_serialize, thing_deserialize,
                                            NULL, NULL),
                 2);
    cr_assert_eq(camas_codec_add_serializer(codec, &date_type, thing_serialize, thing_deserialize,
                                            NULL, NULL),
                 3);
    assert_encodes(codec, new_thing(&thing_type, "t"), "{\"__type__\": [1, \"t\"]}");
    assert_encodes(codec, new_thing(&other_type, "o"), "{\"__type__\": [2, \"o\"]}");
}

Test(codec_json, objects_use_their_own_serializer_before_the_catch_all)
{
    g_autoptr(CamasCodec) codec = new_json();
    Counter own = {0}, all = {0};
    camas_codec_add_serializer(codec, NULL, thing_serialize, thing_deserialize, &all, NULL);
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, &own, NULL);
    assert_encodes(codec, new_thing(&thing_type, "a"), "{\"__type__\": [1, \"a\"]}");
    assert_encodes(codec, new_thing(&other_type, "b"), "{\"__type__\": [0, \"b\"]}");
    cr_assert_eq(own.serialized, 1);
    cr_assert_eq(all.serialized, 1);
}

Test(codec_json, object_without_serializer_is_a_codec_error_and_output_is_restored)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    g_autoptr(CamasValue) v = camas_value_build("[i V]", 1, new_thing(&date_type, "d"));
    GByteArray *out = g_byte_array_new();
    g_byte_array_append(out, (const guint8 *)"abc", 3);
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_codec_encode(codec, v, out, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    cr_assert_str_eq(error->message, "No serializer found for type \"Date\"");
    cr_assert_eq(out->len, 3);
    cr_assert(memcmp(out->data, "abc", 3) == 0);
    g_byte_array_unref(out);
    g_clear_error(&error);
    cr_assert_null(camas_codec_encode_bytes(codec, v, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
}

Test(codec_json, failing_serializer_becomes_a_codec_error)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    g_autoptr(CamasValue) v = new_thing(&thing_type, "refuse");
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_codec_encode_bytes(codec, v, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    cr_assert(strstr(error->message, "Thing") && strstr(error->message, "cannot send refuse"), "%s",
              error->message);
}

Test(codec_json, encode_appends_to_existing_bytes)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = camas_value_build("[i i s]", 0, 0, "ohai");
    GByteArray *out = g_byte_array_new();
    g_byte_array_append(out, (const guint8 *)"\0\0\0\x0e", 4);
    cr_assert(camas_codec_encode(codec, v, out, NULL));
    cr_assert_eq(out->len, 4 + 14);
    cr_assert(memcmp(out->data, "\0\0\0\x0e[0, 0, \"ohai\"]", 18) == 0);
    g_byte_array_unref(out);
}

Test(codec_json, bytes_cannot_be_encoded)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = camas_value_build("[i {s:y}]", 1, "k", "\x00\x01", (gsize)2);
    GByteArray *out = g_byte_array_new();
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_codec_encode(codec, v, out, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    cr_assert_str_eq(error->message, "No serializer found for type \"bytes\"");
    cr_assert_eq(out->len, 0);
    g_byte_array_unref(out);
}

Test(codec_json, decode_calls_deserializers_innermost_first)
{
    g_autoptr(CamasCodec) codec = new_json();
    Counter c = {.type = &thing_type};
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, &c,
                               count_destroy);
    g_autoptr(CamasValue) v = decode(codec, "[1, 6, {\"__type__\": [0, \"calc\"]}]");
    cr_assert_eq(c.deserialized, 1);
    CamasValue *obj = camas_value_get_item(v, 2);
    cr_assert_eq(camas_value_get_type(obj), CAMAS_VALUE_OBJECT);
    cr_assert_eq(camas_value_object_get_type(obj), &thing_type);
    cr_assert_str_eq(camas_value_object_get_instance(obj), "calc");
    /* and back to exactly Python's bytes */
    g_autofree char *text = encode(codec, v);
    cr_assert_str_eq(text, "[1, 6, {\"__type__\": [0, \"calc\"]}]");
}

Test(codec_json, deserializer_result_may_be_the_top_level_value)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    g_autoptr(CamasValue) v = decode(codec, "{\"__type__\": [0, \"calc\"]}");
    cr_assert_eq(camas_value_get_type(v), CAMAS_VALUE_OBJECT);
    cr_assert_str_eq(camas_value_object_get_instance(v), "calc");
}

Test(codec_json, deserializer_keeping_its_data_does_not_leak)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, identity_deserialize, NULL,
                               NULL);
    /* the results hold the data they were given; the leak check of the teardown proves that
     * this creates no cycle between the message arena and the results */
    g_autoptr(CamasValue) v = decode(codec, "[{\"__type__\": [0, [1, \"two\", {\"x\": [3.5]}]]}, "
                                            "{\"__type__\": [0, {\"__type__\": [0, \"inner\"]}]}]");
    g_autoptr(CamasValue) want =
        camas_value_build("[[i s {s:[f]}] s]", 1, "two", "x", 3.5, "inner");
    cr_assert(camas_value_equal(v, want));
    /* a top-level result, too */
    g_autoptr(CamasValue) top = decode(codec, "{\"__type__\": [0, [\"a\"]]}");
    g_autoptr(CamasValue) want_top = camas_value_build("[s]", "a");
    cr_assert(camas_value_equal(top, want_top));
}

Test(codec_json, failing_deserializer_is_a_codec_error_with_offset)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    /* thing_deserialize wants a str */
    const char *text = "[1, {\"__type__\": [0, 5]}]";
    g_autoptr(GError) error = decode_fails_len(codec, text, strlen(text), "at byte 4");
    cr_assert(strstr(error->message, "__type__ id 0"), "%s", error->message);
}

Test(codec_json, unknown_type_id_is_a_codec_error)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    decode_fails(codec, "[1, 6, {\"__type__\": [1, \"calc\"]}]", "Unknown __type__ id 1");
    decode_fails(codec, "{\"__type__\": [-1, \"calc\"]}", "Unknown __type__ id -1");
    /* without any serializer (a plain channel) every extension is unknown */
    g_autoptr(CamasCodec) plain = new_json();
    decode_fails(plain, "{\"__type__\": [0, \"calc\"]}", "at byte 0");
}

Test(codec_json, malformed_type_maps_are_codec_errors)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_set_raw_ext(codec, TRUE);
    decode_fails(codec, "{\"__type__\": \"ab\"}", "2-element array");
    decode_fails(codec, "{\"__type__\": [0]}", "2-element array");
    decode_fails(codec, "{\"__type__\": [0, 1, 2]}", "2-element array");
    decode_fails(codec, "{\"__type__\": {}}", "2-element array");
    decode_fails(codec, "[{\"__type__\": [1.0, 1]}]", "at byte 1");
    decode_fails(codec, "{\"__type__\": [\"0\", 1]}", "must be an integer");
    decode_fails(codec, "{\"__type__\": [true, 1]}", "must be an integer");
    decode_fails(codec, "{\"__type__\": [18446744073709551615, 1]}", "int64 range");
}

Test(codec_json, raw_ext_mode_keeps_extensions_undecoded)
{
    g_autoptr(CamasCodec) codec = new_json();
    Counter c = {0};
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, &c, NULL);
    camas_codec_set_raw_ext(codec, TRUE);
    g_autoptr(CamasValue) v =
        decode(codec, "[{\"__type__\": [0, \"calc\"]}, {\"x\": 1, \"__type__\": [9, "
                      "{\"__type__\": [-5, null]}]}]");
    cr_assert_eq(c.deserialized, 0);
    g_autoptr(CamasValue) inner = camas_value_new_ext(-5, camas_value_new_null());
    g_autoptr(CamasValue) second = camas_value_new_ext(9, inner);
    g_autoptr(CamasValue) calc = camas_value_new_str("calc");
    g_autoptr(CamasValue) first = camas_value_new_ext(0, calc);
    g_autoptr(CamasValue) want = camas_value_build("[v v]", first, second);
    cr_assert(camas_value_equal(v, want));
    /* other keys of a __type__ map are dropped, as aiomas does */
    g_autofree char *text = encode(codec, v);
    cr_assert_str_eq(text, "[{\"__type__\": [0, \"calc\"]}, {\"__type__\": [9, {\"__type__\": "
                           "[-5, null]}]}]");
}

Test(codec_json, deserialize_helper_returns_ext_in_raw_mode_and_copies_arena_data)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_set_raw_ext(codec, TRUE);
    g_autoptr(CamasValue) data = decode(codec, "[\"path\", 1]");
    g_autoptr(CamasValue) ext = camas__codec_deserialize(codec, 4, data, NULL);
    cr_assert_not_null(ext);
    cr_assert_eq(camas_value_get_type(ext), CAMAS_VALUE_EXT);
    cr_assert_eq(camas_value_ext_get_type_id(ext), 4);
    cr_assert(camas_value_equal(camas_value_ext_get_data(ext), data));
    /* the result does not point into the message arena */
    cr_assert_not(camas_value_ext_get_data(ext)->flags & CAMAS__VALUE_ARENA);

    camas_codec_set_raw_ext(codec, FALSE);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas__codec_deserialize(codec, 4, data, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
}

Test(codec_json, ext_values_encode_as_type_maps)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) date = camas_value_new_str("2016-01-01T01:00:00+00:00");
    assert_encodes(codec, camas_value_build("[i i V]", 1, 2, camas_value_new_ext(0, date)),
                   "[1, 2, {\"__type__\": [0, \"2016-01-01T01:00:00+00:00\"]}]");
}

/* --- nesting limits ------------------------------------------------------------------------- */

static CamasValue *
nested_lists(guint depth)
{
    CamasValue *v = camas_value_new_int(1);
    for (guint i = 0; i < depth; i++)
        v = camas_value_new_list_take(&v, 1);
    return v;
}

static char *
nested_text(guint depth)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < depth; i++)
        g_string_append_c(s, '[');
    g_string_append_c(s, '1');
    for (guint i = 0; i < depth; i++)
        g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

Test(codec_json, nesting_up_to_max_depth_is_accepted_both_ways)
{
    g_autoptr(CamasCodec) codec = new_json();
    assert_value_round_trip(codec, nested_lists(CAMAS_CODEC_DEFAULT_MAX_DEPTH));
    g_autofree char *text = nested_text(CAMAS_CODEC_DEFAULT_MAX_DEPTH);
    assert_text_round_trip(codec, text);
}

Test(codec_json, nesting_beyond_max_depth_is_refused_both_ways)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = nested_lists(CAMAS_CODEC_DEFAULT_MAX_DEPTH + 1);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_codec_encode_bytes(codec, v, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    cr_assert(strstr(error->message, "256"), "%s", error->message);
    g_autofree char *text = nested_text(CAMAS_CODEC_DEFAULT_MAX_DEPTH + 1);
    decode_fails(codec, text, "deeper than 256 levels at byte 256");
}

Test(codec_json, set_max_depth_applies_and_type_maps_count_two_levels)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_set_max_depth(codec, 2);
    camas_codec_set_raw_ext(codec, TRUE);
    assert_text_round_trip(codec, "[[1]]");
    decode_fails(codec, "[[[1]]]", "deeper than 2 levels at byte 2");
    decode_fails(codec, "{\"a\": {\"b\": {}}}", "deeper than 2 levels at byte 12");
    /* {"__type__": [0, x]} is a map and an array on the wire */
    assert_text_round_trip(codec, "{\"__type__\": [0, 1]}");
    g_autoptr(CamasValue) list = camas_value_build("[i]", 1);
    g_autoptr(CamasValue) ext = camas_value_new_ext(0, list);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_codec_encode_bytes(codec, ext, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    camas_codec_set_max_depth(codec, 0);
    assert_text_round_trip(codec, "\"scalars only\"");
    decode_fails(codec, "[]", "deeper than 0 levels at byte 0");
}

Test(codec_json, a_megabyte_of_open_brackets_fails_cleanly)
{
    g_autoptr(CamasCodec) codec = new_json();
    gsize n = 1 << 20;
    g_autofree char *text = g_malloc(n);
    memset(text, '[', n);
    g_autoptr(GError) e1 = decode_fails_len(codec, text, n, "deeper than 256");
    /* even with the limit lifted the decoder does not recurse: it runs out of input */
    camas_codec_set_max_depth(codec, G_MAXUINT);
    g_autoptr(GError) e2 = decode_fails_len(codec, text, n, "input ended");
    memset(text, '{', n);
    g_autoptr(GError) e3 = decode_fails_len(codec, text, n, "string key");
}

/* --- Python's bytes ---------------------------------------------------------------------- */

Test(codec_json, captured_frames_encode_to_the_same_bytes)
{
    g_autoptr(CamasCodec) codec = new_json();
    /* C.1, with the header lengths of the capture */
    static const struct {
        const char *text;
        gsize len;
    } frames[] = {
        {"[0, 0, \"ohai\"]", 0x0e},
        {"[1, 0, [\"reply\", \"ohai\"]]", 0x19},
        {"[0, 1, [\"__fail__\", \"boom\"]]", 0x1c},
        {"[2, 1, \"ValueError: boom\\n\"]", 0x1c},
        {"[0, 0, [\"add\", [3, 4], {}]]", 0x1b},
        {"[1, 0, 7]", 0x09},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(frames); i++) {
        cr_assert_eq(strlen(frames[i].text), frames[i].len, "%s", frames[i].text);
        assert_text_round_trip(codec, frames[i].text);
    }
    assert_encodes(codec, camas_value_build("[i i s]", 0, 0, "ohai"), "[0, 0, \"ohai\"]");
    assert_encodes(codec, camas_value_build("[i i s]", 2, 1, "ValueError: boom\n"),
                   "[2, 1, \"ValueError: boom\\n\"]");
    assert_encodes(codec, camas_value_build("[i i [s (i i) {}]]", 0, 0, "add", 3, 4),
                   "[0, 0, [\"add\", [3, 4], {}]]");
    assert_encodes(codec,
                   camas_value_build("[i i [s [i s] {s:i}]]", 0, 1, "echo_args", 1, "two", "x", 3),
                   "[0, 1, [\"echo_args\", [1, \"two\"], {\"x\": 3}]]");
    assert_encodes(codec, camas_value_build("[i i n]", 1, 4), "[1, 4, null]");
}

Test(codec_json, captured_rpc_and_agent_frames_round_trip)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_set_raw_ext(codec, TRUE);
    static const char *const texts[] = {
        "[0, 1, [\"echo_args\", [1, \"two\"], {\"x\": 3}]]",
        "[1, 1, [[1, \"two\"], {\"x\": 3}]]",
        "[0, 2, [\"calc/deep/pow\", [2, 10], {}]]",
        "[1, 2, 1024]",
        "[2, 4, \"Traceback (most recent call last):\\n ... \\nLookupError: Name \\\"nope\\\" not "
        "found in \\\"\\\"\\n\"]",
        "[2, 5, \"Traceback ...\\nKeyError: 'hidden'\\n\\nDuring handling of the above "
        "exception, another exception occurred:\\n\\nTraceback ...\\nLookupError: "
        "\\\"__main__.MathServer.hidden\\\" is not exposed\\n\"]",
        "[1, 6, {\"__type__\": [0, \"calc\"]}]",
        "[0, 7, [\"callback\", [{\"__type__\": [0, \"\"]}, \"client_echo\", \"x\"], {}]]",
        "[1, 7, [\"cb\", [\"client\", \"x\"]]]",
        "[0, 8, [\"callback\", [{\"__type__\": [0, \"sub\"]}, \"twice\", 21], {}]]",
        "[0, 0, [\"validate_aid\", [\"0\"], {}]]",
        "[1, 0, \"EchoAgent\"]",
        "[0, 2, [\"agents/0/shift_date\", [{\"__type__\": [0, \"2016-01-01T00:00:00+00:00\"]}, "
        "3600], {}]]",
        "[1, 2, {\"__type__\": [0, \"2016-01-01T01:00:00+00:00\"]}]",
        "[0, 3, [\"agents/0/ping_back\", [{\"__type__\": [1, \"agents/0\"]}, 7], {}]]",
        "[1, 3, [\"pong-reply\", [\"pong\", 7]]]",
        "[1, 4, null]",
        "[0, 42, [\"agent-0/service\", [42, \"hello\", 3.14], {\"x\": 1}]]",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(texts); i++)
        assert_text_round_trip(codec, texts[i]);
}

Test(codec_json, rpc_proxies_travel_as_in_the_capture)
{
    /* plain RPC: the proxy serializer is the catch-all with id 0 */
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, NULL, thing_serialize, thing_deserialize, NULL, NULL);
    assert_encodes(codec,
                   camas_value_build("[i i [s [V s s] {}]]", 0, 7, "callback",
                                     new_thing(&other_type, ""), "client_echo", "x"),
                   "[0, 7, [\"callback\", [{\"__type__\": [0, \"\"]}, \"client_echo\", \"x\"], "
                   "{}]]");
}

Test(codec_json, scalars_encode_as_python_writes_them)
{
    g_autoptr(CamasCodec) codec = new_json();
    assert_encodes(codec, camas_value_new_null(), "null");
    assert_encodes(codec, camas_value_new_bool(TRUE), "true");
    assert_encodes(codec, camas_value_new_bool(FALSE), "false");
    assert_encodes(codec, camas_value_new_int(0), "0");
    assert_encodes(codec, camas_value_new_int(-7), "-7");
    assert_encodes(codec, camas_value_new_int(G_MAXINT64), "9223372036854775807");
    assert_encodes(codec, camas_value_new_int(G_MININT64), "-9223372036854775808");
    assert_encodes(codec, camas_value_new_uint(G_MAXUINT64), "18446744073709551615");
    assert_encodes(codec, camas_value_new_uint((guint64)G_MAXINT64 + 1), "9223372036854775808");
    assert_encodes(codec, camas_value_build("[]"), "[]");
    assert_encodes(codec, camas_value_build("{}"), "{}");
    assert_encodes(codec, camas_value_build("()"), "[]");
    assert_encodes(codec, camas_value_build("(i s)", 1, "a"), "[1, \"a\"]");
    assert_encodes(codec, camas_value_build("{s:[] s:{s:n}}", "a", "b", "c"),
                   "{\"a\": [], \"b\": {\"c\": null}}");
}

Test(codec_json, floats_encode_as_python_repr)
{
    g_autoptr(CamasCodec) codec = new_json();
    /* expected: Python 3.11 json.dumps of the same list */
    g_autoptr(CamasValue) v =
        camas_value_build("[f f f f f f f f f f f f f f f]", 1.0, 3.14, 1e16, 1e-5, 0.1, 5e-324,
                          -0.0, 1.7976931348623157e308, 123456789012345678.0, 1e22, 0.0001,
                          100000.0, NAN, INFINITY, -INFINITY);
    g_autofree char *text = encode(codec, v);
    cr_assert_str_eq(text, "[1.0, 3.14, 1e+16, 1e-05, 0.1, 5e-324, -0.0, 1.7976931348623157e+308, "
                           "1.2345678901234568e+17, 1e+22, 0.0001, 100000.0, NaN, Infinity, "
                           "-Infinity]");
}

Test(codec_json, map_keys_are_converted_as_python_does)
{
    g_autoptr(CamasCodec) codec = new_json();
    CamasValue *keys[] = {
        camas_value_new_int(2),          camas_value_new_float(1.5),
        camas_value_new_bool(TRUE),      camas_value_new_null(),
        camas_value_new_bool(FALSE),     camas_value_new_int(-3),
        camas_value_new_float(INFINITY), camas_value_new_float(1e16),
        camas_value_new_float(NAN),      camas_value_new_uint(G_MAXUINT64),
        camas_value_new_str("\xc3\xa9"),
    };
    CamasValue *values[G_N_ELEMENTS(keys)];
    const char *letters[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"};
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        values[i] = camas_value_new_str(letters[i]);
    CamasValue *map = camas_value_new_map_take(keys, values, G_N_ELEMENTS(keys), NULL);
    assert_encodes(codec, map,
                   "{\"2\": \"a\", \"1.5\": \"b\", \"true\": \"c\", \"null\": \"d\", \"false\": "
                   "\"e\", \"-3\": \"f\", \"Infinity\": \"g\", \"1e+16\": \"h\", \"NaN\": \"i\", "
                   "\"18446744073709551615\": \"j\", \"\\u00e9\": \"k\"}");

    /* a bytes key is Python's TypeError */
    g_autoptr(CamasValue) bkey = camas_value_new_bytes("k", 1);
    g_autoptr(CamasValue) bval = camas_value_new_int(1);
    g_autoptr(CamasValue) bmap = camas_value_new_map(&bkey, &bval, 1, NULL);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_codec_encode_bytes(codec, bmap, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
    cr_assert_str_eq(error->message, "keys must be str, int, float, bool or None, not bytes");
}

Test(codec_json, strings_are_escaped_as_python_ensure_ascii_does)
{
    g_autoptr(CamasCodec) codec = new_json();
    /* json.dumps(['\x00\x01\x1f\x7f\x80\u00e9\u2028\U0001F600/"\\\b\f\n\r\t']) */
    static const char raw[] = "\x00\x01\x1f\x7f\xc2\x80\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80/\"\\"
                              "\b\f\n\r\t";
    assert_encodes(codec, camas_value_build("[V]", camas_value_new_str_len(raw, sizeof raw - 1)),
                   "[\"\\u0000\\u0001\\u001f\\u007f\\u0080\\u00e9\\u2028\\ud83d\\ude00/\\\"\\\\\\b"
                   "\\f\\n\\r\\t\"]");
    assert_encodes(codec, camas_value_new_str(""), "\"\"");
    assert_encodes(codec, camas_value_new_str("\xf4\x8f\xbf\xbf"), "\"\\udbff\\udfff\"");
    assert_encodes(codec, camas_value_new_str("\xef\xbf\xbf"), "\"\\uffff\"");
    assert_encodes(codec, camas_value_new_str("plain ascii text, longer than eight bytes ~"),
                   "\"plain ascii text, longer than eight bytes ~\"");
}

/* A second, deliberately simple implementation of Python's py_encode_basestring_ascii. */
static void
reference_escape(GString *out, const char *s, gsize len)
{
    g_string_append_c(out, '"');
    const char *p = s, *end = s + len;
    while (p < end) {
        gunichar c = g_utf8_get_char(p);
        p = g_utf8_next_char(p);
        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        default:
            if (c >= 0x20 && c <= 0x7e)
                g_string_append_c(out, (char)c);
            else if (c >= 0x10000)
                g_string_append_printf(out, "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10),
                                       0xdc00 + ((c - 0x10000) & 0x3ff));
            else
                g_string_append_printf(out, "\\u%04x", c);
        }
    }
    g_string_append_c(out, '"');
}

static void
random_text(GRand *rand, GString *s, gsize chars)
{
    for (gsize i = 0; i < chars; i++) {
        gunichar c;
        switch (g_rand_int_range(rand, 0, 10)) {
        case 0:
            c = (gunichar)g_rand_int_range(rand, 0, 0x20);
            break;
        case 1:
            c = "\"\\\x7f/"[g_rand_int_range(rand, 0, 4)];
            break;
        case 2:
            c = (gunichar)g_rand_int_range(rand, 0x80, 0x800);
            break;
        case 3:
            do
                c = (gunichar)g_rand_int_range(rand, 0x800, 0x10000);
            while (c >= 0xd800 && c <= 0xdfff);
            break;
        case 4:
            c = (gunichar)g_rand_int_range(rand, 0x10000, 0x110000);
            break;
        default:
            c = (gunichar)g_rand_int_range(rand, 0x20, 0x7f);
        }
        char buf[6];
        g_string_append_len(s, buf, g_unichar_to_utf8(c, buf));
    }
}

Test(codec_json, random_strings_match_the_reference_escaper_and_round_trip)
{
    g_autoptr(CamasCodec) codec = new_json();
    GRand *rand = g_rand_new_with_seed(20160101);
    for (int round = 0; round < 300; round++) {
        GString *s = g_string_new(NULL);
        /* lengths around the encoder's 8-byte words and its 4096-byte chunks */
        gsize chars = round < 200 ? (gsize)round : (gsize)g_rand_int_range(rand, 1000, 9000);
        random_text(rand, s, chars);
        GString *want = g_string_new(NULL);
        reference_escape(want, s->str, s->len);
        g_autoptr(CamasValue) v = camas_value_new_str_len(s->str, (gssize)s->len);
        g_autofree char *got = encode(codec, v);
        cr_assert_str_eq(got, want->str, "round %d", round);
        g_autoptr(CamasValue) back = decode(codec, got);
        cr_assert(camas_value_equal(v, back), "round %d", round);
        g_string_free(want, TRUE);
        g_string_free(s, TRUE);
    }
    g_rand_free(rand);
}

Test(codec_json, long_plain_and_escaped_strings_cross_buffer_growth)
{
    g_autoptr(CamasCodec) codec = new_json();
    gsize n = 100000;
    g_autofree char *ctl = g_malloc(n);
    memset(ctl, 0x01, n);
    g_autoptr(CamasValue) v = camas_value_new_str_len(ctl, (gssize)n);
    g_autofree char *text = encode(codec, v);
    cr_assert_eq(strlen(text), 6 * n + 2);
    cr_assert(strncmp(text, "\"\\u0001\\u0001", 13) == 0);
    g_autoptr(CamasValue) back = decode(codec, text);
    cr_assert(camas_value_equal(v, back));
}

/* --- decoding ------------------------------------------------------------------------------- */

Test(codec_json, numbers_with_dot_or_exponent_are_floats_others_ints)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = decode(codec, "[1, 1.0, 1e0, 1E0, -0, -0.0, 0.1e1, 1E5, 100, 10e-1]");
    static const CamasValueType types[] = {
        CAMAS_VALUE_INT, CAMAS_VALUE_FLOAT, CAMAS_VALUE_FLOAT, CAMAS_VALUE_FLOAT,
        CAMAS_VALUE_INT, CAMAS_VALUE_FLOAT, CAMAS_VALUE_FLOAT, CAMAS_VALUE_FLOAT,
        CAMAS_VALUE_INT, CAMAS_VALUE_FLOAT,
    };
    cr_assert_eq(camas_value_get_length(v), G_N_ELEMENTS(types));
    for (gsize i = 0; i < G_N_ELEMENTS(types); i++)
        cr_assert_eq(camas_value_get_type(camas_value_get_item(v, i)), types[i], "item %zu", i);
    cr_assert(signbit(camas_value_get_float(camas_value_get_item(v, 5))));
    cr_assert_eq(camas_value_get_int(camas_value_get_item(v, 4)), 0);
    /* and they encode back as Python would print them */
    g_autofree char *text = encode(codec, v);
    cr_assert_str_eq(text, "[1, 1.0, 1.0, 1.0, 0, -0.0, 1.0, 100000.0, 100, 1.0]");
}

Test(codec_json, float_parsing_matches_python)
{
    g_autoptr(CamasCodec) codec = new_json();
    /* token, Python repr(json.loads(token)) */
    static const char *const cases[][2] = {
        {"1e400", "Infinity"},
        {"-1e400", "-Infinity"},
        {"1e-400", "0.0"},
        {"123.456e-2", "1.23456"},
        {"2.2250738585072011e-308", "2.225073858507201e-308"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"9007199254740993.0", "9007199254740992.0"},
        {"1.00000000000000011102230246251565404236316680908203125", "1.0"},
        {"4.9e-324", "5e-324"},
        {"3.14", "3.14"},
        {"1e22", "1e+22"},
        {"1e23", "1e+23"},
        {"123456789012345.6", "123456789012345.6"},
        {"0.000001", "1e-06"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasValue) v = decode(codec, cases[i][0]);
        cr_assert_eq(camas_value_get_type(v), CAMAS_VALUE_FLOAT, "%s", cases[i][0]);
        g_autofree char *text = encode(codec, v);
        cr_assert_str_eq(text, cases[i][1], "%s", cases[i][0]);
    }
}

Test(codec_json, decoded_floats_agree_with_strtod_bit_for_bit)
{
    /* The decoder's fast path must give exactly what g_ascii_strtod gives. */
    g_autoptr(CamasCodec) codec = new_json();
    GRand *rand = g_rand_new_with_seed(42);
    for (int i = 0; i < 20000; i++) {
        char text[64];
        int digits = g_rand_int_range(rand, 1, 19);
        int point = g_rand_int_range(rand, 1, digits + 1);
        gsize n = 0;
        if (g_rand_boolean(rand))
            text[n++] = '-';
        for (int k = 0; k < digits; k++) {
            if (k == point)
                text[n++] = '.';
            int dgt = g_rand_int_range(rand, k == 0 && point > 1 ? 1 : 0, 10);
            text[n++] = (char)('0' + dgt);
        }
        if (point == digits) {
            text[n++] = '.';
            text[n++] = '0';
        }
        if (g_rand_boolean(rand))
            n += (gsize)g_snprintf(text + n, sizeof text - n, "e%d",
                                   g_rand_int_range(rand, -30, 31));
        text[n] = 0;
        g_autoptr(CamasValue) v = decode(codec, text);
        double want = g_ascii_strtod(text, NULL);
        double got = camas_value_get_float(v);
        cr_assert(memcmp(&want, &got, sizeof got) == 0, "%s: %.17g != %.17g", text, got, want);
    }
    g_rand_free(rand);
}

Test(codec_json, random_doubles_round_trip_exactly)
{
    g_autoptr(CamasCodec) codec = new_json();
    GRand *rand = g_rand_new_with_seed(7);
    for (int i = 0; i < 5000; i++) {
        guint64 bits = ((guint64)g_rand_int(rand) << 32) | g_rand_int(rand);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d))
            continue;
        g_autoptr(CamasValue) v = camas_value_new_float(d);
        g_autofree char *text = encode(codec, v);
        g_autoptr(CamasValue) back = decode(codec, text);
        cr_assert_eq(camas_value_get_type(back), CAMAS_VALUE_FLOAT, "%s", text);
        double got = camas_value_get_float(back);
        cr_assert(memcmp(&got, &d, sizeof d) == 0, "%s", text);
    }
    g_rand_free(rand);
}

Test(codec_json, short_float_fast_path_agrees_with_the_general_formatter)
{
    /* The encoder formats short decimals itself and leaves the rest to camas__format_double
     * (checked against Python's repr on 450k values when written); both must agree on every
     * double.  Random short decimals, their neighbours, and powers of two. */
    g_autoptr(CamasCodec) codec = new_json();
    GRand *rand = g_rand_new_with_seed(314);
    for (int i = 0; i < 30000; i++) {
        char text[40];
        int digits = g_rand_int_range(rand, 1, 17);
        guint64 m = 0;
        for (int k = 0; k < digits; k++)
            m = m * 10 + (guint64)g_rand_int_range(rand, 0, 10);
        g_snprintf(text, sizeof text, "%" G_GUINT64_FORMAT "e%d", m,
                   g_rand_int_range(rand, -20, 16));
        double d = g_ascii_strtod(text, NULL);
        switch (i % 4) {
        case 1:
            d = nextafter(d, INFINITY);
            break;
        case 2:
            d = -d;
            break;
        case 3:
            d = ldexp(1.0, g_rand_int_range(rand, -20, 52));
            break;
        }
        char want[32];
        camas__format_double(d, want);
        g_autoptr(CamasValue) v = camas_value_new_float(d);
        g_autofree char *got = encode(codec, v);
        cr_assert_str_eq(got, want, "%s", text);
    }
    g_rand_free(rand);
}

Test(codec_json, special_float_tokens_are_read)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = decode(codec, "[NaN, Infinity, -Infinity]");
    cr_assert(isnan(camas_value_get_float(camas_value_get_item(v, 0))));
    cr_assert(isinf(camas_value_get_float(camas_value_get_item(v, 1))));
    cr_assert_gt(camas_value_get_float(camas_value_get_item(v, 1)), 0);
    cr_assert_lt(camas_value_get_float(camas_value_get_item(v, 2)), 0);
    assert_text_round_trip(codec, "[NaN, Infinity, -Infinity]");
    decode_fails(codec, "nan", "at byte 0");
    decode_fails(codec, "-NaN", "expected a digit, found 'N' at byte 1");
    decode_fails(codec, "infinity", "at byte 0");
    decode_fails(codec, "[Infinit]", "at byte 1");
    decode_fails(codec, "+Infinity", "at byte 0");
}

Test(codec_json, integers_cover_int64_and_uint64)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v =
        decode(codec, "[18446744073709551615, 9223372036854775808, 9223372036854775807, "
                      "-9223372036854775808]");
    CamasValue *umax = camas_value_get_item(v, 0);
    cr_assert(camas_value_int_is_unsigned(umax));
    cr_assert_eq(camas_value_get_uint(umax), G_MAXUINT64);
    cr_assert(camas_value_int_is_unsigned(camas_value_get_item(v, 1)));
    cr_assert_not(camas_value_int_is_unsigned(camas_value_get_item(v, 2)));
    cr_assert_eq(camas_value_get_int(camas_value_get_item(v, 2)), G_MAXINT64);
    cr_assert_eq(camas_value_get_int(camas_value_get_item(v, 3)), G_MININT64);
    assert_text_round_trip(codec, "[18446744073709551615, 9223372036854775808, "
                                  "9223372036854775807, -9223372036854775808]");
}

Test(codec_json, integers_beyond_64_bits_are_out_of_range)
{
    g_autoptr(CamasCodec) codec = new_json();
    decode_fails(codec, "18446744073709551616", "integer out of range");
    decode_fails(codec, "[1, -9223372036854775809]", "integer out of range");
    decode_fails(codec, "[1, -9223372036854775809]", "at byte 4");
    decode_fails(codec, "123456789012345678901234567890123456789012345678901234567890",
                 "integer out of range");
    /* a float may have as many digits as it likes */
    g_autoptr(CamasValue) f = decode(codec, "123456789012345678901234567890.0");
    cr_assert_eq(camas_value_get_type(f), CAMAS_VALUE_FLOAT);
}

Test(codec_json, any_json_whitespace_is_accepted)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v = decode(codec, " \t\r\n[ 0 ,\n\t42\r, {\"x\"\n:\t1 } , [ ] ,{ } ] \n");
    g_autofree char *text = encode(codec, v);
    cr_assert_str_eq(text, "[0, 42, {\"x\": 1}, [], {}]");
    /* no other whitespace (Python's json accepts exactly these four) */
    decode_fails(codec, "[1,\f2]", "at byte 3");
    decode_fails(codec, "[1,\v2]", "at byte 3");
    decode_fails(codec,
                 "\xc2\xa0"
                 "1",
                 "at byte 0");
}

Test(codec_json, escapes_and_surrogate_pairs_are_decoded)
{
    g_autoptr(CamasCodec) codec = new_json();
    g_autoptr(CamasValue) v =
        decode(codec, "[\"\\ud83d\\ude00\", \"\\u00e9\\u00E9\", \"\\/\\\"\\\\\\b\\f\\n\\r\\t\", "
                      "\"\\u0000x\", \"caf\xc3\xa9 \xf0\x9f\x98\x80\", \"\\u20ac\"]");
    gsize len;
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(v, 0), &len), "\xf0\x9f\x98\x80");
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(v, 1), &len), "\xc3\xa9\xc3\xa9");
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(v, 2), &len), "/\"\\\b\f\n\r\t");
    const char *nul = camas_value_get_str(camas_value_get_item(v, 3), &len);
    cr_assert_eq(len, 2);
    cr_assert(memcmp(nul, "\0x", 2) == 0);
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(v, 4), &len),
                     "caf\xc3\xa9 \xf0\x9f\x98\x80");
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(v, 5), &len), "\xe2\x82\xac");
    /* DEL and other bytes Python leaves raw are fine unescaped in the input */
    g_autoptr(CamasValue) del = decode(codec, "\"\x7f\"");
    cr_assert_str_eq(camas_value_get_str(del, &len), "\x7f");
}

Test(codec_json, lone_surrogates_are_refused_clearly)
{
    g_autoptr(CamasCodec) codec = new_json();
    decode_fails(codec, "[\"\\ud83d\"]", "lone surrogate \\ud83d in string");
    decode_fails(codec, "[\"\\ud83d\"]", "at byte 2");
    decode_fails(codec, "\"ab\\ude00\"", "lone surrogate \\ude00 in string (Python accepts it");
    decode_fails(codec, "\"\\ud83d\\u0041\"", "lone surrogate \\ud83d");
    decode_fails(codec, "\"\\ud83d\\ud83d\\ude00\"", "at byte 1");
    decode_fails(codec, "\"\\ude00\\ud83d\"", "lone surrogate \\ude00");
}

Test(codec_json, bad_escapes_and_control_characters_are_refused)
{
    g_autoptr(CamasCodec) codec = new_json();
    decode_fails(codec, "\"a\\x41\"", "invalid escape \\'x' in string at byte 2");
    decode_fails(codec, "\"\\u12g4\"", "invalid \\uXXXX escape at byte 1");
    decode_fails(codec, "\"\\U1234\"", "invalid escape");
    decode_fails(codec, "\"\\'\"", "invalid escape");
    decode_fails(codec, "[\"a\nb\"]", "invalid control character 0x0a in string at byte 3");
    decode_fails(codec, "\"\t\"", "invalid control character 0x09");
    decode_fails(codec, "'single'", "at byte 0");
}

Test(codec_json, invalid_utf8_is_refused_with_its_offset)
{
    g_autoptr(CamasCodec) codec = new_json();
    static const struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"\"\xff\"", "at byte 1"},                 /* never valid */
        {"[\"ab\xc0\xaf\"]", "at byte 4"},         /* overlong '/' */
        {"\"\xe0\x80\xaf\"", "at byte 1"},         /* overlong 3-byte */
        {"\"\xed\xa0\x80\"", "at byte 1"},         /* UTF-8 encoded surrogate */
        {"\"\xe2\x82\"", "at byte 1"},             /* truncated */
        {"\"\xf4\x90\x80\x80\"", "at byte 1"},     /* above U+10FFFF */
        {"\"\xf8\x88\x80\x80\x80\"", "at byte 1"}, /* 5-byte form */
        {"\"\x80\"", "at byte 1"},                 /* lone continuation */
        {"\"\\\xc3\xa9\"", "invalid escape"},      /* a backslash before a non-ASCII char */
        {"\xef\xbb\xbf[1]", "at byte 0"},          /* a BOM is not JSON (Python refuses too) */
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        decode_fails(codec, cases[i].text, cases[i].needle);
    decode_fails(codec, "\"\xff\"", "UTF-8");
}

Test(codec_json, duplicate_keys_are_refused_naming_the_key)
{
    g_autoptr(CamasCodec) codec = new_json();
    decode_fails(codec, "{\"a\": 1, \"b\": 2, \"a\": 3}", "duplicate key 'a'");
    decode_fails(codec, "[0, {\"\\u00e9\": 1, \"\xc3\xa9\": 2}]", "at byte 4");
    /* a large object takes the hashed path */
    GString *s = g_string_new("{");
    for (int i = 0; i < 100; i++)
        g_string_append_printf(s, "\"key%d\": %d, ", i, i);
    GString *ok = g_string_new(s->str);
    g_string_append(s, "\"key57\": 0}");
    decode_fails(codec, s->str, "duplicate key 'key57'");
    g_string_truncate(ok, ok->len - 2);
    g_string_append_c(ok, '}');
    g_autoptr(CamasValue) big = decode(codec, ok->str);
    cr_assert_eq(camas_value_get_length(big), 100);
    cr_assert_eq(camas_value_get_int(camas_value_map_lookup(big, "key99")), 99);
    g_autofree char *again = encode(codec, big);
    cr_assert_str_eq(again, ok->str);
    g_string_free(s, TRUE);
    g_string_free(ok, TRUE);
}

Test(codec_json, garbage_is_refused_with_the_offset)
{
    g_autoptr(CamasCodec) codec = new_json();
    static const struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"", "expected a value but the input ended at byte 0"},
        {"   ", "at byte 3"},
        {"xyz", "expected a value, found 'x' at byte 0"},
        {"[1, 2,]", "at byte 6"},
        {"[1 2]", "expected ',' or ']', found '2' at byte 3"},
        {"{\"a\": 1,}", "string key"},
        {"{\"a\" 1}", "':' after the object key"},
        {"{1: 2}", "string key in double quotes, found '1' at byte 1"},
        {"{'a': 1}", "at byte 1"},
        {"[1, 2] x", "extra data ('x') after the value at byte 7"},
        {"[1][2]", "extra data"},
        {"truex", "extra data"},
        {"nul", "at byte 0"},
        {"01", "extra data ('1') after the value at byte 1"},
        {"1.", "extra data"},
        {".5", "at byte 0"},
        {"1e", "extra data"},
        {"1.5e+", "extra data"},
        {"-", "expected a digit but the input ended at byte 1"},
        {"-a", "at byte 1"},
        {"+1", "at byte 0"},
        {"0x10", "extra data"},
        {"[1,,2]", "at byte 3"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"[\x01]", "found 0x01 at byte 1"},
        {"]", "at byte 0"},
        {"\"abc", "unterminated string starting at byte 0"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        decode_fails(codec, cases[i].text, cases[i].needle);
    /* a NUL byte inside the input is just another bad byte */
    g_autoptr(GError) error = decode_fails_len(codec, "[1]\0", 4, "extra data (0x00)");
}

Test(codec_json, every_truncation_of_a_document_fails)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_set_raw_ext(codec, TRUE);
    static const char *const docs[] = {
        "[0, 42, [\"agent-0/service\", [42, \"hello\", 3.14], {\"x\": 1}]]",
        "{\"a\": [true, false, null, NaN, -Infinity, Infinity], \"b\": {\"c\": "
        "\"\\ud83d\\ude00\"}}",
        "[1, 6, {\"__type__\": [0, \"calc\"]}]",
        "[-1.5e-3, 18446744073709551615, \"caf\xc3\xa9\", \"\\u00e9\\n\"]",
        "\"a string with \\\"escapes\\\" and \xe2\x82\xac\"",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(docs); i++) {
        gsize len = strlen(docs[i]);
        g_autoptr(CamasValue) whole = decode_len(codec, docs[i], len);
        for (gsize cut = 0; cut < len; cut++) {
            /* a heap copy of exactly the prefix, so ASan sees any read past its end */
            g_autofree char *prefix = g_memdup2(docs[i], cut ? cut : 1);
            g_autoptr(GError) error = decode_fails_len(codec, prefix, cut, NULL);
            cr_assert(strstr(error->message, "at byte"), "%s", error->message);
        }
    }
}

Test(codec_json, every_value_kind_round_trips)
{
    g_autoptr(CamasCodec) codec = new_json();
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL, NULL);
    assert_value_round_trip(codec, camas_value_new_null());
    assert_value_round_trip(codec, camas_value_new_bool(TRUE));
    assert_value_round_trip(codec, camas_value_new_bool(FALSE));
    assert_value_round_trip(codec, camas_value_new_int(0));
    assert_value_round_trip(codec, camas_value_new_int(-1));
    assert_value_round_trip(codec, camas_value_new_int(G_MININT64));
    assert_value_round_trip(codec, camas_value_new_int(G_MAXINT64));
    assert_value_round_trip(codec, camas_value_new_uint(G_MAXUINT64));
    assert_value_round_trip(codec, camas_value_new_float(0.1));
    assert_value_round_trip(codec, camas_value_new_float(-0.0));
    assert_value_round_trip(codec, camas_value_new_float(NAN));
    assert_value_round_trip(codec, camas_value_new_float(-INFINITY));
    assert_value_round_trip(codec, camas_value_new_str(""));
    assert_value_round_trip(codec, camas_value_new_str_len("a\0b", 3));
    assert_value_round_trip(codec, camas_value_new_str("\xf0\x9f\x98\x80 \xe2\x82\xac"));
    assert_value_round_trip(codec, camas_value_build("[]"));
    assert_value_round_trip(codec, camas_value_build("(i (s) [])", 1, "x"));
    assert_value_round_trip(codec, camas_value_build("{s:{s:[i f b n]}}", "a", "b", 1, 2.5, TRUE));
    assert_value_round_trip(codec, new_thing(&thing_type, "calc"));
    assert_value_round_trip(codec, camas_value_build("[V {s:V}]", new_thing(&thing_type, "x"), "k",
                                                     new_thing(&thing_type, "y")));
    /* a tuple arrives as a list (equal), as Python's json does */
    g_autoptr(CamasValue) tuple = camas_value_build("(i i)", 1, 2);
    g_autofree char *text = encode(codec, tuple);
    g_autoptr(CamasValue) back = decode(codec, text);
    cr_assert_eq(camas_value_get_type(back), CAMAS_VALUE_LIST);
}

Test(codec_json, decoded_trees_live_in_one_arena)
{
    g_autoptr(CamasCodec) codec = new_json();
    CamasValue *v =
        decode(codec, "[0, 42, [\"agent-0/service\", [42, \"hello\", 3.14], {\"x\": 1}]]");
    /* keep an inner value past the root: the arena must stay alive for it */
    CamasValue *args = camas_value_ref(camas_value_get_item(camas_value_get_item(v, 2), 1));
    cr_assert(args->flags & CAMAS__VALUE_ARENA);
    cr_assert_eq(args->arena, v->arena);
    camas_value_unref(v);
    gsize len;
    cr_assert_str_eq(camas_value_get_str(camas_value_get_item(args, 1), &len), "hello");
    camas_value_unref(args);
}
