/* SPDX-License-Identifier: MIT */
/* The MsgPack and MsgPackBlosc codecs: the captured aiomas frames (wire-protocol.md §13 C.4,
 * C.5) byte for byte in both directions, every value kind and msgpack form, and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <string.h>

#include <camas/camas.h>

#include "codec-private.h"
#include "leakcheck.h"
#include "live-private.h"
#include "msgpack-private.h"

TestSuite(codec_msgpack, .fini = camas_test_check_leaks);

/* --- helpers ------------------------------------------------------------------------------ */

static CamasCodec *
new_codec(const char *name)
{
    GError *error = NULL;
    CamasCodec *codec = camas_codec_new(name, &error);
    cr_assert_not_null(codec, "camas_codec_new(%s): %s", name, error ? error->message : "");
    return codec;
}

/* Hex (spaces and '|' ignored) to bytes. */
static GByteArray *
unhex(const char *hex)
{
    GByteArray *a = g_byte_array_new();
    for (const char *p = hex; *p;) {
        if (*p == ' ' || *p == '|') {
            p++;
            continue;
        }
        int hi = g_ascii_xdigit_value(p[0]);
        int lo = p[1] ? g_ascii_xdigit_value(p[1]) : -1;
        cr_assert(hi >= 0 && lo >= 0, "bad hex in a test vector: %s", hex);
        guint8 b = (guint8)(hi * 16 + lo);
        g_byte_array_append(a, &b, 1);
        p += 2;
    }
    return a;
}

static char *
tohex(const guint8 *data, gsize len)
{
    GString *s = g_string_sized_new(len * 2 + 1);
    for (gsize i = 0; i < len; i++)
        g_string_append_printf(s, "%02x", data[i]);
    return g_string_free(s, FALSE);
}

/* Encodes @value (borrowed) and returns the hex of the bytes. */
static char *
encode_hex(CamasCodec *codec, const CamasValue *value)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *error = NULL;
    gboolean ok = camas_codec_encode(codec, value, out, &error);
    cr_assert(ok, "encode failed: %s", error ? error->message : "");
    return tohex(out->data, out->len);
}

static void
assert_encodes(CamasCodec *codec, const CamasValue *value, const char *hex)
{
    g_autofree char *got = encode_hex(codec, value);
    g_autoptr(GByteArray) want = unhex(hex);
    g_autofree char *want_hex = tohex(want->data, want->len);
    g_autofree char *repr = camas_value_repr(value);
    cr_assert_str_eq(got, want_hex, "encoding %s: got %s, want %s", repr, got, want_hex);
}

static CamasValue *
decode_ok(CamasCodec *codec, const guint8 *data, gsize len)
{
    GError *error = NULL;
    CamasValue *v = camas_codec_decode(codec, data, len, &error);
    g_autofree char *hex = tohex(data, MIN(len, 64));
    cr_assert_not_null(v, "decoding %s: %s", hex, error ? error->message : "");
    cr_assert_null(error);
    return v;
}

static void
assert_decodes(CamasCodec *codec, const char *hex, const CamasValue *want)
{
    g_autoptr(GByteArray) in = unhex(hex);
    g_autoptr(CamasValue) got = decode_ok(codec, in->data, in->len);
    g_autofree char *r1 = camas_value_repr(got);
    g_autofree char *r2 = camas_value_repr(want);
    cr_assert(camas_value_equal(got, want), "decoding %s: got %s, want %s", hex, r1, r2);
}

/* Decoding must fail with CAMAS_ERROR_CODEC and a message containing @part (NULL: any). */
static void
assert_decode_fails(CamasCodec *codec, const guint8 *data, gsize len, const char *part)
{
    GError *error = NULL;
    CamasValue *v = camas_codec_decode(codec, data, len, &error);
    g_autofree char *hex = tohex(data, MIN(len, 40));
    if (v) {
        g_autofree char *r = camas_value_repr(v);
        camas_value_unref(v);
        cr_assert_fail("decoding %s (%" G_GSIZE_FORMAT " bytes) should fail, got %s", hex, len,
                       r);
    }
    cr_assert_not_null(error, "decoding %s failed without an error", hex);
    cr_assert_eq(error->domain, CAMAS_ERROR);
    cr_assert_eq(error->code, CAMAS_ERROR_CODEC, "decoding %s: code %d (%s)", hex, error->code,
                 error->message);
    if (part)
        cr_assert(strstr(error->message, part) != NULL, "decoding %s: \"%s\" lacks \"%s\"", hex,
                  error->message, part);
    g_error_free(error);
}

static void
assert_decode_hex_fails(CamasCodec *codec, const char *hex, const char *part)
{
    g_autoptr(GByteArray) in = unhex(hex);
    assert_decode_fails(codec, in->data, in->len, part);
}

/* Encoding @value after two bytes already in the output must fail with CAMAS_ERROR_CODEC and a
 * message containing @part, and leave those two bytes as they were. */
static void
assert_encode_fails(CamasCodec *codec, const CamasValue *value, const char *part)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_byte_array_append(out, (const guint8 *)"ab", 2);
    GError *error = NULL;
    g_autofree char *repr = camas_value_repr(value);
    cr_assert_not(camas_codec_encode(codec, value, out, &error), "encoding %.200s should fail",
                  repr);
    cr_assert_not_null(error, "encoding %.200s failed without an error", repr);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC), "%.200s: %s", repr,
              error->message);
    cr_assert(strstr(error->message, part) != NULL, "%.200s: \"%s\" lacks \"%s\"", repr,
              error->message, part);
    cr_assert_eq(out->len, 2, "%.200s: partial output left behind", repr);
    cr_assert(memcmp(out->data, "ab", 2) == 0);
    g_error_free(error);
}

/* Encodes, decodes, checks equality, and checks that re-encoding gives the same bytes. */
static void
assert_round_trip(CamasCodec *codec, const CamasValue *value)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *error = NULL;
    cr_assert(camas_codec_encode(codec, value, out, &error), "encode: %s",
              error ? error->message : "");
    g_autoptr(CamasValue) back = decode_ok(codec, out->data, out->len);
    g_autofree char *r1 = camas_value_repr(value);
    g_autofree char *r2 = camas_value_repr(back);
    cr_assert(camas_value_equal(value, back), "round trip of %.200s gave %.200s", r1, r2);
    g_autoptr(GByteArray) again = g_byte_array_new();
    cr_assert(camas_codec_encode(codec, back, again, NULL));
    cr_assert_eq(again->len, out->len);
    cr_assert(memcmp(again->data, out->data, out->len) == 0, "re-encoding %.200s differs", r1);
}

/* A native object kind for the serializer tests: instances are static path strings. */
static const char *const thing_paths[] = {"", "calc", "sub"};

static const CamasObjectType thing_type = {.name = "Thing"};

static CamasValue *
thing_serialize(const CamasValue *object, gpointer user_data, GError **error)
{
    return camas_value_new_str(camas_value_object_get_instance(object));
}

static CamasValue *
thing_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    const char *s = camas_value_get_str(data, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(thing_paths); i++)
        if (strcmp(s, thing_paths[i]) == 0)
            return camas_value_new_object(&thing_type, (gpointer)thing_paths[i]);
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "no thing \"%s\"", s);
    return NULL;
}

static CamasValue *
thing(gsize i)
{
    return camas_value_new_object(&thing_type, (gpointer)thing_paths[i]);
}

static CamasValue *
ext_str(gint64 id, const char *s)
{
    g_autoptr(CamasValue) data = camas_value_new_str(s);
    return camas_value_new_ext(id, data);
}

/* --- wire-protocol.md §13 C.4: the captured MsgPack frames -------------------------------- */

typedef struct {
    const char *hex;
    CamasValue *value;
} Vector;

#define TRACEBACK_LEN 276

static char *
traceback_text(void)
{
    GString *s = g_string_new("Traceback (most recent call last):\n");
    while (s->len < TRACEBACK_LEN)
        g_string_append_c(s, (char)('a' + s->len % 26));
    g_string_truncate(s, TRACEBACK_LEN);
    return g_string_free(s, FALSE);
}

/* Fills @v with the C.4 vectors; __type__ maps as EXT values (encode them, or decode in raw
 * mode).  Returns their number; the caller unrefs the values. */
static gsize
c4_vectors(Vector *v, char **traceback_hex)
{
    g_autofree char *tb = traceback_text();
    g_autofree char *tbhex = tohex((const guint8 *)tb, TRACEBACK_LEN);
    *traceback_hex = g_strconcat("930203da0114", tbhex, NULL);
    gsize n = 0;
    v[n++] = (Vector){"930000a46f686169", camas_value_build("[i i s]", 0, 0, "ohai")};
    v[n++] = (Vector){"93010092a57265706c79a46f686169",
                      camas_value_build("[i i [s s]]", 1, 0, "reply", "ohai")};
    v[n++] = (Vector){"930201b156616c75654572726f723a20626f6f6d0a",
                      camas_value_build("[i i s]", 2, 1, "ValueError: boom\n")};
    v[n++] = (Vector){"93000292c40200019201cb4004000000000000",
                      camas_value_build("[i i [y [i f]]]", 0, 2, "\x00\x01", (gsize)2, 1, 2.5)};
    v[n++] = (Vector){"93000093a361646492030480",
                      camas_value_build("[i i [s [i i] {}]]", 0, 0, "add", 3, 4)};
    v[n++] = (Vector){"93010007", camas_value_build("[i i i]", 1, 0, 7)};
    v[n++] = (Vector){"930102cd0400", camas_value_build("[i i i]", 1, 2, 1024)};
    v[n++] = (Vector){*traceback_hex, camas_value_build("[i i s]", 2, 3, tb)};
    v[n++] = (Vector){"93010681a85f5f747970655f5f9200a463616c63",
                      camas_value_build("[i i V]", 1, 6, ext_str(0, "calc"))};
    v[n++] = (Vector){"93000793a863616c6c6261636b9381a85f5f747970655f5f9200a0ab636c69656e745f65"
                      "63686fa17880",
                      camas_value_build("[i i [s [V s s] {}]]", 0, 7, "callback", ext_str(0, ""),
                                        "client_echo", "x")};
    v[n++] = (Vector){"93000093ac76616c69646174655f61696491a13080",
                      camas_value_build("[i i [s [s] {}]]", 0, 0, "validate_aid", "0")};
    v[n++] = (Vector){"930100a94563686f4167656e74",
                      camas_value_build("[i i s]", 1, 0, "EchoAgent")};
    v[n++] = (Vector){"93000293b36167656e74732f302f73686966745f646174659281a85f5f747970655f5f92"
                      "00b9323031362d30312d30315430303a30303a30302b30303a3030cd0e1080",
                      camas_value_build("[i i [s [V i] {}]]", 0, 2, "agents/0/shift_date",
                                        ext_str(0, "2016-01-01T00:00:00+00:00"), 3600)};
    v[n++] = (Vector){"930104c0", camas_value_build("[i i n]", 1, 4)};
    return n;
}

static void
free_vectors(Vector *v, gsize n, char *traceback_hex)
{
    for (gsize i = 0; i < n; i++)
        camas_value_unref(v[i].value);
    g_free(traceback_hex);
}

Test(codec_msgpack, encodes_the_captured_aiomas_frames_byte_for_byte)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    Vector v[16];
    char *tbhex;
    gsize n = c4_vectors(v, &tbhex);
    for (gsize i = 0; i < n; i++)
        assert_encodes(codec, v[i].value, v[i].hex);
    free_vectors(v, n, tbhex);
}

Test(codec_msgpack, decodes_the_captured_aiomas_frames)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_raw_ext(codec, TRUE);
    Vector v[16];
    char *tbhex;
    gsize n = c4_vectors(v, &tbhex);
    for (gsize i = 0; i < n; i++)
        assert_decodes(codec, v[i].hex, v[i].value);
    free_vectors(v, n, tbhex);
}

Test(codec_msgpack, tuples_encode_as_arrays_like_lists)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(CamasValue) v = camas_value_build("(i i (s (i i) {}))", 0, 0, "add", 3, 4);
    assert_encodes(codec, v, "93000093a361646492030480");
}

Test(codec_msgpack, decoded_arrays_are_lists)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(GByteArray) in = unhex("93010007");
    g_autoptr(CamasValue) v = decode_ok(codec, in->data, in->len);
    cr_assert_eq(camas_value_get_type(v), CAMAS_VALUE_LIST);
}

Test(codec_msgpack, objects_travel_through_their_serializer_as_type_maps)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    cr_assert_eq(camas_codec_add_serializer(codec, &thing_type, thing_serialize,
                                            thing_deserialize, NULL, NULL),
                 0);
    g_autoptr(CamasValue) reply = camas_value_build("[i i V]", 1, 6, thing(1));
    assert_encodes(codec, reply, "93010681a85f5f747970655f5f9200a463616c63");
    g_autoptr(CamasValue) req = camas_value_build("[i i [s [V s s] {}]]", 0, 7, "callback",
                                                  thing(0), "client_echo", "x");
    const char *req_hex = "93000793a863616c6c6261636b9381a85f5f747970655f5f9200a0ab636c69656e74"
                          "5f6563686fa17880";
    assert_encodes(codec, req, req_hex);
    /* decoding calls the deserializer: the very same objects come back */
    assert_decodes(codec, "93010681a85f5f747970655f5f9200a463616c63", reply);
    assert_decodes(codec, req_hex, req);
}

Test(codec_msgpack, an_object_without_serializer_is_a_codec_error)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(CamasValue) v = camas_value_build("[i V]", 1, thing(1));
    assert_encode_fails(codec, v, "Thing");
}

Test(codec_msgpack, type_maps_are_deserialized_innermost_first_and_other_keys_dropped)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_raw_ext(codec, TRUE);
    /* {"a": 1, "__type__": [3, {"__type__": [4, "x"]}]} -> ext(3, ext(4, "x")) */
    const char *hex = "82 a161 01 a85f5f747970655f5f 92 03 81 a85f5f747970655f5f 92 04 a178";
    g_autoptr(CamasValue) inner = ext_str(4, "x");
    g_autoptr(CamasValue) want = camas_value_new_ext(3, inner);
    assert_decodes(codec, hex, want);
}

Test(codec_msgpack, an_unknown_type_id_is_a_codec_error_with_offset)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    /* [1, {"__type__": [7, "x"]}] : the map starts at byte 2 */
    assert_decode_hex_fails(codec, "92 01 81 a85f5f747970655f5f 92 07 a178", "at byte 2");
    assert_decode_hex_fails(codec, "92 01 81 a85f5f747970655f5f 92 07 a178", "7");
}

Test(codec_msgpack, a_deserializer_failure_is_a_codec_error)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL,
                               NULL);
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 92 00 a3 6e6f70", "no thing");
}

Test(codec_msgpack, malformed_type_values_are_rejected)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_raw_ext(codec, TRUE);
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 01", "2-item array");
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 91 01", "2-item array");
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 93 01 02 03", "2-item array");
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 92 a178 01", "id must be");
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 92 cb3ff0000000000000 01",
                            "id must be");
    assert_decode_hex_fails(codec, "81 a85f5f747970655f5f 92 cfffffffffffffffff 01",
                            "id must be");
}

/* --- wire-protocol.md §13 C.5: MsgPackBlosc --------------------------------------------- */

static const char *const c5_hex[] = {
    "02011308 08000000 08000000 18000000 | 930000a46f686169",
    "02011308 04000000 01000000 14000000 | 93010007",
    "02011308 0d000000 08000000 1d000000 | 930100a94563686f4167656e74",
};

static CamasValue *
c5_value(gsize i)
{
    switch (i) {
    case 0:
        return camas_value_build("[i i s]", 0, 0, "ohai");
    case 1:
        return camas_value_build("[i i i]", 1, 0, 7);
    default:
        return camas_value_build("[i i s]", 1, 0, "EchoAgent");
    }
}

Test(codec_msgpack, blosc_encodes_the_captured_frames_byte_for_byte)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    for (gsize i = 0; i < G_N_ELEMENTS(c5_hex); i++) {
        g_autoptr(CamasValue) v = c5_value(i);
        assert_encodes(codec, v, c5_hex[i]);
    }
}

Test(codec_msgpack, blosc_decodes_the_captured_frames)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    for (gsize i = 0; i < G_N_ELEMENTS(c5_hex); i++) {
        g_autoptr(CamasValue) v = c5_value(i);
        assert_decodes(codec, c5_hex[i], v);
    }
}

Test(codec_msgpack, blosc_codec_is_found_by_every_name)
{
    const char *names[] = {"msgpack-blosc", "msgpack_blosc", "msgpackblosc", "MsgPackBlosc"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(CamasCodec) codec = new_codec(names[i]);
        cr_assert_str_eq(camas_codec_get_name(codec), "msgpack-blosc");
        cr_assert(camas_codec_supports_bytes(codec));
    }
    g_autoptr(CamasCodec) codec = new_codec("MsgPack");
    cr_assert_str_eq(camas_codec_get_name(codec), "msgpack");
    cr_assert(camas_codec_supports_bytes(codec));
}

/* A compressible payload: text-like runs with a seeded pattern. */
static GBytes *
compressible_bytes(gsize n)
{
    guint8 *data = g_malloc(n);
    for (gsize i = 0; i < n; i++)
        data[i] = (guint8)("camas speaks aiomas "[i % 20] + (i / 4096) % 3);
    return g_bytes_new_take(data, n);
}

Test(codec_msgpack, blosc_round_trips_and_compresses_a_10mb_payload)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    gsize n = 10 * 1000 * 1000;
    g_autoptr(GBytes) payload = compressible_bytes(n);
    gsize len;
    const guint8 *data = g_bytes_get_data(payload, &len);
    g_autoptr(CamasValue) v = camas_value_build("[i i [s [y] {}]]", 0, 9, "store", data, len);
    g_autoptr(GByteArray) out = g_byte_array_new();
    cr_assert(camas_codec_encode(codec, v, out, NULL));
    cr_assert_lt(out->len, n / 20, "10 MB compressed only to %u bytes", out->len);
    /* a real blosc container: not memcpyed, shuffled, blosclz, typesize 8 */
    cr_assert_eq(out->data[0], 2);
    cr_assert_eq(out->data[2] & 0x02, 0);
    cr_assert_eq(out->data[2] & 0x01, 0x01);
    cr_assert_eq(out->data[2] >> 5, 0);
    cr_assert_eq(out->data[3], 8);
    g_autoptr(CamasValue) back = decode_ok(codec, out->data, out->len);
    cr_assert(camas_value_equal(v, back));
    /* and again, now with the scratch buffers in whatever state the first message left */
    g_autoptr(CamasValue) small = c5_value(2);
    assert_encodes(codec, small, c5_hex[2]);
    assert_decodes(codec, c5_hex[2], small);
}

Test(codec_msgpack, blosc_round_trips_incompressible_data)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    g_autoptr(GRand) rand = g_rand_new_with_seed(42);
    gsize n = 300 * 1000;
    guint8 *data = g_malloc(n);
    for (gsize i = 0; i < n; i++)
        data[i] = (guint8)g_rand_int(rand);
    g_autoptr(CamasValue) v = camas_value_build("[y]", data, n);
    g_free(data);
    assert_round_trip(codec, v);
}

Test(codec_msgpack, blosc_rejects_bad_headers)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    /* shorter than a header */
    assert_decode_hex_fails(codec, "", "fewer than the 16-byte");
    assert_decode_hex_fails(codec, "02011308 08000000 08000000", "fewer than the 16-byte");
    /* cbytes is not the payload length */
    assert_decode_hex_fails(codec, "02011308 08000000 08000000 19000000 | 930000a46f686169",
                            "compressed bytes");
    assert_decode_hex_fails(codec, "02011308 08000000 08000000 18000000 | 930000a46f6861",
                            "compressed bytes");
    /* format versions */
    assert_decode_hex_fails(codec, "00011308 08000000 08000000 18000000 | 930000a46f686169",
                            "version 0");
    assert_decode_hex_fails(codec, "03011308 08000000 08000000 18000000 | 930000a46f686169",
                            "version 3");
    /* empty container */
    assert_decode_hex_fails(codec, "02011308 00000000 00000000 10000000", "empty");
    /* memcpyed, but announcing more than it holds */
    assert_decode_hex_fails(codec, "02011308 09000000 08000000 18000000 | 930000a46f686169",
                            "memcpyed");
    /* beyond c-blosc's limit */
    assert_decode_hex_fails(codec, "02011308 f0ffff7f 08000000 18000000 | 930000a46f686169",
                            "limit");
    assert_decode_hex_fails(codec, "02011308 ffffffff 08000000 18000000 | 930000a46f686169",
                            "limit");
    /* compressed, announcing 1 GB from 24 bytes: refused before allocating */
    assert_decode_hex_fails(codec, "02010108 00000040 00000100 18000000 | 930000a46f686169",
                            "expand");
    /* block sizes c-blosc never writes */
    assert_decode_hex_fails(codec, "02011308 08000000 00000000 18000000 | 930000a46f686169",
                            "block size");
    assert_decode_hex_fails(codec, "02011308 08000000 09000000 18000000 | 930000a46f686169",
                            "block size");
    /* a compressed container whose body is garbage */
    assert_decode_hex_fails(codec,
                            "02010108 00010000 00010000 20000000 | 00000000 ffffffff 01020304 "
                            "05060708",
                            "decompress");
}

Test(codec_msgpack, blosc_reports_bad_msgpack_inside)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    assert_decode_hex_fails(codec, "02011308 01000000 01000000 11000000 | c1", "reserved");
    assert_decode_hex_fails(codec, "02011308 01000000 01000000 11000000 | c1", "msgpack-blosc");
    assert_decode_hex_fails(codec, "02011308 02000000 02000000 12000000 | 9301", "truncated");
}

Test(codec_msgpack, blosc_rejects_every_truncation_of_a_compressed_payload)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    g_autoptr(GBytes) payload = compressible_bytes(64 * 1024);
    gsize len;
    const guint8 *data = g_bytes_get_data(payload, &len);
    g_autoptr(CamasValue) v = camas_value_build("[y]", data, len);
    g_autoptr(GByteArray) out = g_byte_array_new();
    cr_assert(camas_codec_encode(codec, v, out, NULL));
    cr_assert_eq(out->data[2] & 0x02, 0, "expected a compressed container");
    for (gsize n = 0; n < out->len; n++)
        assert_decode_fails(codec, out->data, n, NULL);
}

/* A serializer that encodes its object's path with the very codec it is called from, and a
 * deserializer that decodes it again: nested calls must not share the codec's scratch buffer
 * with the call they are nested in (ASan would see the use after free). */
static CamasValue *
nested_serialize(const CamasValue *object, gpointer user_data, GError **error)
{
    CamasCodec *codec = user_data;
    char c = *(const char *)camas_value_object_get_instance(object);
    g_autofree char *path = g_strnfill(5000, c);
    g_autoptr(CamasValue) inner = camas_value_new_str(path);
    GBytes *bytes = camas_codec_encode_bytes(codec, inner, error);
    if (!bytes)
        return NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);
    CamasValue *v = camas_value_new_bytes(data, len);
    g_bytes_unref(bytes);
    return v;
}

static CamasValue *
nested_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    CamasCodec *codec = user_data;
    gsize len;
    const guint8 *bytes = camas_value_get_bytes(data, &len);
    g_autoptr(CamasValue) inner = camas_codec_decode(codec, bytes, len, error);
    if (!inner)
        return NULL;
    const char *s = camas_value_get_str(inner, NULL);
    return camas_value_new_object(&thing_type, (gpointer)(s[0] == 'c' ? thing_paths[1]
                                                                        : thing_paths[2]));
}

Test(codec_msgpack, blosc_serializers_may_use_the_same_codec)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    camas_codec_add_serializer(codec, &thing_type, nested_serialize, nested_deserialize, codec,
                               NULL);
    g_autofree char *pad = g_strnfill(20000, 'p');
    g_autoptr(CamasValue) v = camas_value_build("[s V s V]", pad, thing(1), pad, thing(2));
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *error = NULL;
    cr_assert(camas_codec_encode(codec, v, out, &error), "%s", error ? error->message : "");
    g_autoptr(CamasValue) back = decode_ok(codec, out->data, out->len);
    cr_assert(camas_value_equal(back, v));
}

Test(codec_msgpack, blosc_refuses_messages_beyond_its_limit)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack-blosc");
    gsize saved = camas__msgpack_blosc_max_size;
    camas__msgpack_blosc_max_size = 100;
    g_autofree char *s = g_strnfill(200, 'x');
    g_autoptr(CamasValue) v = camas_value_new_str(s);
    g_autoptr(GByteArray) out = g_byte_array_new();
    GError *error = NULL;
    gboolean ok = camas_codec_encode(codec, v, out, &error);
    camas__msgpack_blosc_max_size = saved;
    cr_assert_not(ok);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE));
    cr_assert(strstr(error->message, "limit") != NULL, "%s", error->message);
    cr_assert_eq(out->len, 0);
    g_error_free(error);
    /* just below the limit it works */
    assert_round_trip(codec, v);
}

/* --- every msgpack form -------------------------------------------------------------------- */

typedef struct {
    const char *hex;
    gboolean is_unsigned;
    guint64 bits; /* the int64 or uint64 value */
} IntCase;

static const IntCase int_cases[] = {
    {"00", FALSE, 0},
    {"01", FALSE, 1},
    {"7f", FALSE, 127},
    {"cc80", FALSE, 128},
    {"ccff", FALSE, 255},
    {"cd0100", FALSE, 256},
    {"cdffff", FALSE, 65535},
    {"ce00010000", FALSE, 65536},
    {"ceffffffff", FALSE, G_MAXUINT32},
    {"cf0000000100000000", FALSE, G_GUINT64_CONSTANT(0x100000000)},
    {"cf7fffffffffffffff", FALSE, G_MAXINT64},
    {"cf8000000000000000", TRUE, G_GUINT64_CONSTANT(0x8000000000000000)},
    {"cfffffffffffffffff", TRUE, G_MAXUINT64},
    {"ff", FALSE, (guint64)-1},
    {"e0", FALSE, (guint64)-32},
    {"d0df", FALSE, (guint64)-33},
    {"d080", FALSE, (guint64)-128},
    {"d1ff7f", FALSE, (guint64)-129},
    {"d18000", FALSE, (guint64)-32768},
    {"d2ffff7fff", FALSE, (guint64)-32769},
    {"d280000000", FALSE, (guint64)(gint64)G_MININT32},
    {"d3ffffffff7fffffff", FALSE, (guint64)((gint64)G_MININT32 - 1)},
    {"d38000000000000000", FALSE, (guint64)G_MININT64},
};

static CamasValue *
int_case_value(const IntCase *c)
{
    return c->is_unsigned ? camas_value_new_uint(c->bits) : camas_value_new_int((gint64)c->bits);
}

Test(codec_msgpack, ints_use_the_smallest_form_python_uses)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    for (gsize i = 0; i < G_N_ELEMENTS(int_cases); i++) {
        g_autoptr(CamasValue) v = int_case_value(&int_cases[i]);
        assert_encodes(codec, v, int_cases[i].hex);
    }
}

Test(codec_msgpack, ints_of_every_width_decode_with_their_sign)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    for (gsize i = 0; i < G_N_ELEMENTS(int_cases); i++) {
        const IntCase *c = &int_cases[i];
        g_autoptr(CamasValue) want = int_case_value(c);
        g_autoptr(GByteArray) in = unhex(c->hex);
        g_autoptr(CamasValue) got = decode_ok(codec, in->data, in->len);
        cr_assert(camas_value_equal(got, want), "%s", c->hex);
        cr_assert_eq(camas_value_int_is_unsigned(got), c->is_unsigned, "%s", c->hex);
        cr_assert_eq(camas_value_get_uint(got), c->bits, "%s", c->hex);
    }
    /* forms Python never writes but accepts: wide encodings of small numbers */
    g_autoptr(CamasValue) five = camas_value_new_int(5);
    g_autoptr(CamasValue) minus_one = camas_value_new_int(-1);
    assert_decodes(codec, "cc05", five);
    assert_decodes(codec, "cd0005", five);
    assert_decodes(codec, "ce00000005", five);
    assert_decodes(codec, "cf0000000000000005", five);
    assert_decodes(codec, "d005", five);
    assert_decodes(codec, "d10005", five);
    assert_decodes(codec, "d200000005", five);
    assert_decodes(codec, "d30000000000000005", five);
    assert_decodes(codec, "d0ff", minus_one);
    assert_decodes(codec, "d1ffff", minus_one);
    assert_decodes(codec, "d2ffffffff", minus_one);
    assert_decodes(codec, "d3ffffffffffffffff", minus_one);
}

Test(codec_msgpack, floats_are_always_float64)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    struct {
        double d;
        const char *hex;
    } cases[] = {
        {1.0, "cb3ff0000000000000"},
        {2.5, "cb4004000000000000"},
        {-0.0, "cb8000000000000000"},
        {0.0, "cb0000000000000000"},
        {INFINITY, "cb7ff0000000000000"},
        {-INFINITY, "cbfff0000000000000"},
        {5e-324, "cb0000000000000001"},
        {1.5, "cb3ff8000000000000"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasValue) v = camas_value_new_float(cases[i].d);
        assert_encodes(codec, v, cases[i].hex);
        assert_round_trip(codec, v);
    }
    g_autoptr(CamasValue) nan_v = camas_value_new_float(NAN);
    assert_round_trip(codec, nan_v);
    /* -0.0 keeps its sign */
    g_autoptr(GByteArray) in = unhex("cb8000000000000000");
    g_autoptr(CamasValue) z = decode_ok(codec, in->data, in->len);
    cr_assert(signbit(camas_value_get_float(z)));
    /* a float is never an int */
    g_autoptr(CamasValue) one = camas_value_new_int(1);
    g_autoptr(GByteArray) fin = unhex("cb3ff0000000000000");
    g_autoptr(CamasValue) f = decode_ok(codec, fin->data, fin->len);
    cr_assert_eq(camas_value_get_type(f), CAMAS_VALUE_FLOAT);
    cr_assert_not(camas_value_equal(f, one));
}

Test(codec_msgpack, float32_decodes_widened)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(CamasValue) v = camas_value_new_float(1.5);
    assert_decodes(codec, "ca3fc00000", v);
    g_autoptr(CamasValue) tenth = camas_value_new_float((double)0.1f);
    assert_decodes(codec, "ca3dcccccd", tenth);
    g_autoptr(CamasValue) inf = camas_value_new_float(-INFINITY);
    assert_decodes(codec, "caff800000", inf);
    g_autoptr(GByteArray) in = unhex("ca7fc00000");
    g_autoptr(CamasValue) nan_v = decode_ok(codec, in->data, in->len);
    cr_assert(isnan(camas_value_get_float(nan_v)));
}

Test(codec_msgpack, nil_and_booleans)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(CamasValue) v = camas_value_build("[n b b]", FALSE, TRUE);
    assert_encodes(codec, v, "93 c0 c2 c3");
    assert_decodes(codec, "93 c0 c2 c3", v);
    /* a scalar alone is a message too */
    g_autoptr(CamasValue) null = camas_value_new_null();
    assert_encodes(codec, null, "c0");
    assert_decodes(codec, "c0", null);
}

/* The header bytes Python writes for a str or bin of @n bytes. */
static void
check_sized(CamasCodec *codec, gboolean is_str, gsize n, const char *header_hex)
{
    char *s = g_malloc(n + 1);
    for (gsize i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    s[n] = 0;
    g_autoptr(CamasValue) v = is_str ? camas_value_new_str_len(s, (gssize)n)
                                     : camas_value_new_bytes(s, n);
    g_autoptr(GByteArray) out = g_byte_array_new();
    cr_assert(camas_codec_encode(codec, v, out, NULL));
    g_autoptr(GByteArray) header = unhex(header_hex);
    cr_assert_eq(out->len, header->len + n, "%s of %zu", is_str ? "str" : "bin", n);
    g_autofree char *got = tohex(out->data, header->len);
    g_autofree char *want = tohex(header->data, header->len);
    cr_assert_str_eq(got, want, "%s of %zu bytes", is_str ? "str" : "bin", n);
    cr_assert(memcmp(out->data + header->len, s, n) == 0);
    g_autoptr(CamasValue) back = decode_ok(codec, out->data, out->len);
    cr_assert(camas_value_equal(back, v));
    g_free(s);
}

Test(codec_msgpack, strings_use_fixstr_str8_str16_str32)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    check_sized(codec, TRUE, 0, "a0");
    check_sized(codec, TRUE, 31, "bf");
    check_sized(codec, TRUE, 32, "d920");
    check_sized(codec, TRUE, 255, "d9ff");
    check_sized(codec, TRUE, 256, "da0100");
    check_sized(codec, TRUE, 65535, "daffff");
    check_sized(codec, TRUE, 65536, "db00010000");
    check_sized(codec, TRUE, 1000000, "db000f4240");
}

Test(codec_msgpack, bytes_use_bin8_bin16_bin32)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    check_sized(codec, FALSE, 0, "c400");
    check_sized(codec, FALSE, 255, "c4ff");
    check_sized(codec, FALSE, 256, "c50100");
    check_sized(codec, FALSE, 65535, "c5ffff");
    check_sized(codec, FALSE, 65536, "c600010000");
}

Test(codec_msgpack, strings_keep_utf8_and_nul)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(CamasValue) v = camas_value_new_str_len("h\xc3\xa9l\0\xf0\x9f\x98\x80", 9);
    assert_encodes(codec, v, "a9 68c3a96c00f09f9880");
    assert_round_trip(codec, v);
    g_autoptr(CamasValue) b = camas_value_new_bytes("\xff\x00\xfe", 3);
    assert_encodes(codec, b, "c403ff00fe");
    assert_round_trip(codec, b);
}

static CamasValue *
int_list(gsize n)
{
    CamasValue **items = g_new(CamasValue *, n ? n : 1);
    for (gsize i = 0; i < n; i++)
        items[i] = camas_value_new_int((gint64)(i % 100));
    CamasValue *v = camas_value_new_list_take(items, n);
    g_free(items);
    return v;
}

static CamasValue *
int_map(gsize n)
{
    CamasValue **keys = g_new(CamasValue *, n ? n : 1);
    CamasValue **values = g_new(CamasValue *, n ? n : 1);
    for (gsize i = 0; i < n; i++) {
        keys[i] = camas_value_new_int((gint64)i);
        values[i] = camas_value_new_null();
    }
    CamasValue *v = camas_value_new_map_take(keys, values, n, NULL);
    g_free(keys);
    g_free(values);
    return v;
}

static void
check_container_header(CamasCodec *codec, CamasValue *v, const char *header_hex)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    cr_assert(camas_codec_encode(codec, v, out, NULL));
    g_autoptr(GByteArray) header = unhex(header_hex);
    g_autofree char *got = tohex(out->data, MIN(out->len, header->len));
    g_autofree char *want = tohex(header->data, header->len);
    cr_assert_str_eq(got, want);
    assert_round_trip(codec, v);
    camas_value_unref(v);
}

Test(codec_msgpack, containers_use_fix_16_and_32_forms)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    check_container_header(codec, int_list(0), "90");
    check_container_header(codec, int_list(15), "9f");
    check_container_header(codec, int_list(16), "dc0010");
    check_container_header(codec, int_list(65535), "dcffff");
    check_container_header(codec, int_list(65536), "dd00010000");
    check_container_header(codec, int_map(0), "80");
    check_container_header(codec, int_map(15), "8f");
    check_container_header(codec, int_map(16), "de0010");
    check_container_header(codec, int_map(65536), "df00010000");
}

Test(codec_msgpack, maps_keep_order_and_scalar_keys)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    CamasValue *keys[] = {camas_value_new_str("z"),     camas_value_new_int(1),
                          camas_value_new_null(),       camas_value_new_bytes("k", 1),
                          camas_value_new_float(0.5),   camas_value_new_bool(TRUE),
                          camas_value_new_uint(G_MAXUINT64)};
    CamasValue *values[G_N_ELEMENTS(keys)];
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        values[i] = camas_value_new_int((gint64)i);
    g_autoptr(CamasValue) m = camas_value_new_map_take(keys, values, G_N_ELEMENTS(keys), NULL);
    assert_encodes(codec, m,
                   "87 a17a 00 01 01 c0 02 c4016b 03 cb3fe0000000000000 04 c3 05 "
                   "cfffffffffffffffff 06");
    assert_round_trip(codec, m);
}

Test(codec_msgpack, every_value_kind_round_trips)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_raw_ext(codec, TRUE);
    g_autofree char *big = g_strnfill(70000, 'q');
    g_autoptr(CamasValue) v = camas_value_build(
        "[n b b i I I U U f f f f s s y y [] () {} [[[]]] {s:[i (s)] s:{}} V s (i I U)]", TRUE,
        FALSE, 0, G_MAXINT64, G_MININT64, G_MAXUINT64, (guint64)G_MAXINT64 + 1, 0.0, -0.0,
        (double)NAN, (double)INFINITY, "", "\xe2\x82\xac", "", (gsize)0, "\x00\xff", (gsize)2, "a",
        1, "b", "c", ext_str(5, "2016-01-01T00:00:00+00:00"), big, -1, G_MININT64, G_MAXUINT64);
    cr_assert_not_null(v);
    assert_round_trip(codec, v);
}

/* --- depth ------------------------------------------------------------------------------- */

static CamasValue *
nested_lists(guint depth)
{
    CamasValue *v = camas_value_new_int(1);
    for (guint i = 0; i < depth; i++)
        v = camas_value_new_list_take(&v, 1);
    return v;
}

static GByteArray *
nested_hex_bytes(gsize depth)
{
    GByteArray *a = g_byte_array_new();
    for (gsize i = 0; i < depth; i++)
        g_byte_array_append(a, (const guint8 *)"\x91", 1);
    g_byte_array_append(a, (const guint8 *)"\x01", 1);
    return a;
}

Test(codec_msgpack, the_depth_limit_applies_to_encode_and_decode)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_max_depth(codec, 3);
    camas_codec_set_raw_ext(codec, TRUE);
    g_autoptr(CamasValue) ok = nested_lists(3);
    assert_round_trip(codec, ok);
    g_autoptr(CamasValue) deep = nested_lists(4);
    assert_encode_fails(codec, deep, "deeper than the limit of 3");
    {
        g_autoptr(GByteArray) in = nested_hex_bytes(4);
        assert_decode_fails(codec, in->data, in->len, "deeper than the limit of 3");
        assert_decode_fails(codec, in->data, in->len, "at byte 3");
    }
    /* an ext is two levels on the wire: [ext(0, [1])] is 4 deep */
    g_autoptr(CamasValue) e = camas_value_build("[V]", camas_value_new_ext(0, ok));
    assert_encode_fails(codec, e, "deeper than the limit of 3");
    g_autoptr(CamasValue) e2 = camas_value_build("[V]", ext_str(0, "x"));
    assert_round_trip(codec, e2);
    /* and 0 refuses every container */
    camas_codec_set_max_depth(codec, 0);
    assert_decode_hex_fails(codec, "90", "deeper");
    assert_decode_hex_fails(codec, "80", "deeper");
    g_autoptr(CamasValue) one = camas_value_new_int(1);
    assert_round_trip(codec, one);
}

Test(codec_msgpack, deep_messages_decode_without_recursion)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_max_depth(codec, 100000);
    g_autoptr(GByteArray) in = nested_hex_bytes(100000);
    g_autoptr(CamasValue) v = decode_ok(codec, in->data, in->len);
    const CamasValue *p = v;
    for (int i = 0; i < 100000; i++)
        p = camas_value_get_item(p, 0);
    cr_assert_eq(camas_value_get_int(p), 1);
    g_autoptr(GByteArray) deeper = nested_hex_bytes(100001);
    assert_decode_fails(codec, deeper->data, deeper->len, "deeper than the limit of 100000");
}

/* --- the encoder's own forms against msgpack-c's packer ------------------------------------ */

/* msgpack-c's packer on the same tree: what Python writes for it, and what the encoder must
 * write byte for byte wherever a value sits (it writes the common forms itself).  An EXT is
 * {"__type__": [id, data]}. */
static void
ref_pack(msgpack_packer *pk, const CamasValue *v)
{
    gsize n = 0;
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_NULL:
        msgpack_pack_nil(pk);
        break;
    case CAMAS_VALUE_BOOL:
        if (camas_value_get_bool(v))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case CAMAS_VALUE_INT:
        if (camas_value_int_is_unsigned(v))
            msgpack_pack_uint64(pk, camas_value_get_uint(v));
        else
            msgpack_pack_int64(pk, camas_value_get_int(v));
        break;
    case CAMAS_VALUE_FLOAT:
        msgpack_pack_double(pk, camas_value_get_float(v));
        break;
    case CAMAS_VALUE_STR: {
        const char *s = camas_value_get_str(v, &n);
        msgpack_pack_str_with_body(pk, s, n);
        break;
    }
    case CAMAS_VALUE_BYTES: {
        const guint8 *b = camas_value_get_bytes(v, &n);
        msgpack_pack_bin_with_body(pk, b, n);
        break;
    }
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
        n = camas_value_get_length(v);
        msgpack_pack_array(pk, n);
        for (gsize i = 0; i < n; i++)
            ref_pack(pk, camas_value_get_item(v, i));
        break;
    case CAMAS_VALUE_MAP:
        n = camas_value_get_length(v);
        msgpack_pack_map(pk, n);
        for (gsize i = 0; i < n; i++) {
            ref_pack(pk, camas_value_map_get_key(v, i));
            ref_pack(pk, camas_value_map_get_value(v, i));
        }
        break;
    case CAMAS_VALUE_EXT:
        msgpack_pack_map(pk, 1);
        msgpack_pack_str_with_body(pk, "__type__", 8);
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, camas_value_ext_get_type_id(v));
        ref_pack(pk, camas_value_ext_get_data(v));
        break;
    default:
        cr_assert_fail("ref_pack: no reference form for a %s",
                       camas_value_type_name(camas_value_get_type(v)));
    }
}

/* Encodes @v after @prefix bytes already in the output, and checks the bytes after them against
 * msgpack-c's and the prefix is untouched. */
static void
assert_matches_msgpack_c_after(CamasCodec *codec, const CamasValue *v, gsize prefix)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    ref_pack(&pk, v);

    g_autoptr(GByteArray) out = g_byte_array_new();
    for (gsize i = 0; i < prefix; i++) {
        guint8 b = (guint8)(i * 7);
        g_byte_array_append(out, &b, 1);
    }
    GError *error = NULL;
    cr_assert(camas_codec_encode(codec, v, out, &error), "encode: %s",
              error ? error->message : "");
    g_autofree char *repr = camas_value_repr(v);
    cr_assert_eq(out->len, prefix + sbuf.size, "%.200s after %zu bytes: %u bytes, msgpack-c %zu",
                 repr, prefix, out->len - (guint)prefix, sbuf.size);
    for (gsize i = 0; i < prefix; i++)
        cr_assert_eq(out->data[i], (guint8)(i * 7), "prefix byte %zu changed", i);
    if (memcmp(out->data + prefix, sbuf.data, sbuf.size) != 0) {
        g_autofree char *got = tohex(out->data + prefix, MIN(sbuf.size, 80));
        g_autofree char *want = tohex((const guint8 *)sbuf.data, MIN(sbuf.size, 80));
        cr_assert_fail("%.200s: got %s, msgpack-c %s", repr, got, want);
    }
    msgpack_sbuffer_destroy(&sbuf);
}

static void
assert_matches_msgpack_c(CamasCodec *codec, const CamasValue *v)
{
    assert_matches_msgpack_c_after(codec, v, 0);
}

/* Every int form, with the values on both sides of each boundary. */
static const gint64 int_edges[] = {
    0,          1,          31,         32,         126,          127,          128,
    129,        254,        255,        256,        257,          65534,        65535,
    65536,      65537,      G_MAXUINT32 - 1,        G_MAXUINT32,  (gint64)G_MAXUINT32 + 1,
    G_MAXINT64 - 1,         G_MAXINT64, -1,         -2,           -31,          -32,
    -33,        -127,       -128,       -129,       -32767,       -32768,       -32769,
    G_MININT32 + 1,         G_MININT32, (gint64)G_MININT32 - 1,   G_MININT64 + 1,
    G_MININT64,
};

/* The scalars of every form the encoder writes: ints (above), uint64 beyond int64, strs and
 * bins of every header width (and every fixstr length, each copied its own way), floats, nil,
 * booleans. */
static GPtrArray *
edge_scalars(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)camas_value_unref);
    for (gsize i = 0; i < G_N_ELEMENTS(int_edges); i++)
        g_ptr_array_add(a, camas_value_new_int(int_edges[i]));
    g_ptr_array_add(a, camas_value_new_uint((guint64)G_MAXINT64 + 1));
    g_ptr_array_add(a, camas_value_new_uint(G_MAXUINT64 - 1));
    g_ptr_array_add(a, camas_value_new_uint(G_MAXUINT64));
    static const gsize lens[] = {255, 256, 65535, 65536};
    g_autofree char *text = g_malloc(65537);
    for (gsize i = 0; i < 65536; i++)
        text[i] = (char)('a' + i % 26);
    for (gsize n = 0; n <= 40; n++)
        g_ptr_array_add(a, camas_value_new_str_len(text, (gssize)n));
    for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
        g_ptr_array_add(a, camas_value_new_str_len(text, (gssize)lens[i]));
        g_ptr_array_add(a, camas_value_new_bytes(text, lens[i]));
    }
    for (gsize n = 0; n <= 3; n++)
        g_ptr_array_add(a, camas_value_new_bytes(text, n));
    static const double floats[] = {0.0, -0.0, 3.14, -1e300, 5e-324, INFINITY, NAN};
    for (gsize i = 0; i < G_N_ELEMENTS(floats); i++)
        g_ptr_array_add(a, camas_value_new_float(floats[i]));
    g_ptr_array_add(a, camas_value_new_null());
    g_ptr_array_add(a, camas_value_new_bool(TRUE));
    g_ptr_array_add(a, camas_value_new_bool(FALSE));
    return a;
}

Test(codec_msgpack, every_form_matches_msgpack_c_alone_in_lists_and_in_maps)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(GPtrArray) scalars = edge_scalars();
    for (guint i = 0; i < scalars->len; i++) {
        CamasValue *s = g_ptr_array_index(scalars, i);
        assert_matches_msgpack_c(codec, s);
        /* first, middle and last item; a map key and value; two levels down */
        g_autoptr(CamasValue) first = camas_value_build("[v i]", s, 5);
        g_autoptr(CamasValue) middle = camas_value_build("(i v i)", 5, s, 5);
        g_autoptr(CamasValue) last = camas_value_build("[s v]", "x", s);
        g_autoptr(CamasValue) map = camas_value_new_map(&s, &s, 1, NULL);
        g_autoptr(CamasValue) deep = camas_value_build("[[v] {s:[i v]} i]", s, "k", 1, s, 2);
        assert_matches_msgpack_c(codec, first);
        assert_matches_msgpack_c(codec, middle);
        assert_matches_msgpack_c(codec, last);
        assert_matches_msgpack_c(codec, map);
        assert_matches_msgpack_c(codec, deep);
    }
}

Test(codec_msgpack, container_headers_match_msgpack_c_at_depth)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    static const gsize sizes[] = {0, 1, 15, 16, 17, 65535, 65536};
    for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autoptr(CamasValue) list = int_list(sizes[i]);
        g_autoptr(CamasValue) map = int_map(sizes[i]);
        g_autoptr(CamasValue) nested =
            camas_value_build("[v (v i) {s:v} v]", list, map, 3, "m", map, list);
        assert_matches_msgpack_c(codec, list);
        assert_matches_msgpack_c(codec, map);
        assert_matches_msgpack_c(codec, nested);
    }
}

/* A random tree: every value kind, wide and empty containers, EXTs around any of them. */
static CamasValue *
random_value(GRand *rng, const GPtrArray *scalars, guint depth)
{
    guint pick = (guint)g_rand_int_range(rng, 0, depth == 0 ? 10 : 16);
    if (pick < 10)
        return camas_value_ref(g_ptr_array_index(scalars, g_rand_int_range(rng, 0,
                                                                           (gint32)scalars->len)));
    if (pick < 12) {
        CamasValue *data = random_value(rng, scalars, depth - 1);
        CamasValue *v = camas_value_new_ext(g_rand_int_range(rng, -200, 200), data);
        camas_value_unref(data);
        return v;
    }
    gsize n = (gsize)g_rand_int_range(rng, 0, g_rand_int_range(rng, 0, 4) == 0 ? 20 : 5);
    if (pick < 15) {
        CamasValue **items = g_new(CamasValue *, n + 1);
        for (gsize i = 0; i < n; i++)
            items[i] = random_value(rng, scalars, depth - 1);
        CamasValue *v = pick == 14 ? camas_value_new_tuple_take(items, n)
                                   : camas_value_new_list_take(items, n);
        g_free(items);
        return v;
    }
    /* int keys 0..n-1 are distinct; values random */
    CamasValue **keys = g_new(CamasValue *, n + 1);
    CamasValue **values = g_new(CamasValue *, n + 1);
    for (gsize i = 0; i < n; i++) {
        keys[i] = camas_value_new_int((gint64)i * 1000 - 3000);
        values[i] = random_value(rng, scalars, depth - 1);
    }
    CamasValue *v = camas_value_new_map_take(keys, values, n, NULL);
    g_free(keys);
    g_free(values);
    return v;
}

Test(codec_msgpack, random_trees_match_msgpack_c_after_any_prefix)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    g_autoptr(GPtrArray) scalars = edge_scalars();
    GRand *rng = g_rand_new_with_seed(20240601);
    for (int i = 0; i < 400; i++) {
        g_autoptr(CamasValue) v = random_value(rng, scalars, (guint)g_rand_int_range(rng, 1, 7));
        /* the output may already hold bytes: up to and past the encoder's first reserve */
        assert_matches_msgpack_c_after(codec, v, (gsize)g_rand_int_range(rng, 0, 600));
    }
    g_rand_free(rng);
}

Test(codec_msgpack, messages_past_the_first_reserve_grow_the_output)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    /* 31-byte strs (the longest fixstr, written without a room check of its own) and ints:
     * the room runs out inside the list, at every offset against the 256-byte reserve */
    g_autofree char *s31 = g_strnfill(31, 'q');
    for (gsize n = 1; n <= 40; n++) {
        CamasValue **items = g_new(CamasValue *, 2 * n);
        for (gsize i = 0; i < n; i++) {
            items[2 * i] = camas_value_new_str(s31);
            items[2 * i + 1] = camas_value_new_int((gint64)i * 100);
        }
        g_autoptr(CamasValue) v = camas_value_new_list_take(items, 2 * n);
        g_free(items);
        for (gsize prefix = 0; prefix < 64; prefix += 7)
            assert_matches_msgpack_c_after(codec, v, prefix);
    }
}

/* [[...[1, 0]..., 0], 0]: each container is its parent's first item, so each stays open while
 * its child is written (the encoder stacks every level). */
static CamasValue *
nested_pairs(guint depth)
{
    CamasValue *v = camas_value_new_int(1);
    for (guint i = 0; i < depth; i++)
        v = camas_value_build("[V i]", v, 0);
    return v;
}

/* {"k": {"k": ... 1}}: maps as the last item of their parent (the encoder reuses the level) */
static CamasValue *
nested_maps(guint depth)
{
    CamasValue *v = camas_value_new_int(1);
    for (guint i = 0; i < depth; i++)
        v = camas_value_build("{s:V}", "k", v);
    return v;
}

/* [[0], [[...[1]...]]]: the deep part comes after a sibling container was opened and closed
 * (the encoder resumes a stacked level before it descends) */
static CamasValue *
nested_after_sibling(guint depth)
{
    if (depth < 2)
        return nested_lists(depth);
    return camas_value_build("[[i] V]", 0, nested_lists(depth - 1));
}

Test(codec_msgpack, the_depth_limit_holds_for_last_and_for_inner_containers)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    static const guint limits[] = {1, 2, 3, 15, 16, 17, 40};
    for (gsize i = 0; i < G_N_ELEMENTS(limits); i++) {
        guint d = limits[i];
        camas_codec_set_max_depth(codec, d);
        CamasValue *(*shapes[])(guint) = {nested_lists, nested_pairs, nested_maps,
                                          nested_after_sibling};
        for (gsize s = 0; s < G_N_ELEMENTS(shapes); s++) {
            g_autoptr(CamasValue) ok = shapes[s](d);
            assert_matches_msgpack_c(codec, ok);
            assert_round_trip(codec, ok);
            g_autoptr(CamasValue) deep = shapes[s](d + 1);
            g_autofree char *want = g_strdup_printf("deeper than the limit of %u levels", d);
            assert_encode_fails(codec, deep, want);
        }
    }
}

Test(codec_msgpack, deep_values_encode_without_recursion)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_max_depth(codec, 20000);
    /* 10000 open levels on the encoder's own stack (it starts on the C stack with a few) */
    g_autoptr(CamasValue) pairs = nested_pairs(10000);
    GString *want = g_string_new(NULL);
    for (int i = 0; i < 10000; i++)
        g_string_append(want, "92");
    g_string_append(want, "01");
    for (int i = 0; i < 10000; i++)
        g_string_append(want, "00");
    assert_encodes(codec, pairs, want->str);
    g_string_free(want, TRUE);
    g_autoptr(CamasValue) lists = nested_lists(10000);
    assert_matches_msgpack_c(codec, lists);
}

/* Objects of thing_type inside what a "Box" serializer returns: [thing, [thing], n]. */
static const CamasObjectType box_type = {.name = "Box"};

static CamasValue *
box_serialize(const CamasValue *object, gpointer user_data, GError **error)
{
    gsize n = GPOINTER_TO_SIZE(camas_value_object_get_instance(object));
    return camas_value_build("[V [V] i]", thing(1), thing(2), (int)n);
}

/* Boxes only travel out in these tests. */
static CamasValue *
box_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "boxes are not decoded here");
    return NULL;
}

/* The same tree with the serializers' results written out as EXT values. */
static CamasValue *
box_as_ext(gsize n)
{
    g_autoptr(CamasValue) data = camas_value_build("[V [V] i]", ext_str(0, "calc"),
                                                   ext_str(0, "sub"), (int)n);
    return camas_value_new_ext(1, data);
}

/* An EXT around @data (taken). */
static CamasValue *
ext_take(gint64 id, CamasValue *data)
{
    CamasValue *v = camas_value_new_ext(id, data);
    camas_value_unref(data);
    return v;
}

static CamasValue *
box(gsize n)
{
    return camas_value_new_object(&box_type, GSIZE_TO_POINTER(n));
}

/* Objects first, in the middle and last, in lists and maps, inside EXT data and inside what a
 * serializer returned; @as_ext: the same tree with the serializers' results as EXT values. */
static CamasValue *
objects_everywhere(gboolean as_ext)
{
    return camas_value_build(
        "[V {s:V s:[i V]} V [[V]] V]", as_ext ? box_as_ext(7) : box(7), "a",
        as_ext ? ext_str(0, "") : thing(0), "b", 1, as_ext ? box_as_ext(8) : box(8),
        ext_take(5, camas_value_build("[V {s:V}]", as_ext ? ext_str(0, "calc") : thing(1), "x",
                                      ext_take(6, as_ext ? ext_str(0, "sub") : thing(2)))),
        as_ext ? ext_str(0, "calc") : thing(1), as_ext ? ext_str(0, "sub") : thing(2));
}

Test(codec_msgpack, objects_and_extensions_encode_at_any_depth)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    cr_assert_eq(camas_codec_add_serializer(codec, &thing_type, thing_serialize,
                                            thing_deserialize, NULL, NULL),
                 0);
    cr_assert_eq(
        camas_codec_add_serializer(codec, &box_type, box_serialize, box_deserialize, NULL, NULL),
        1);
    g_autoptr(CamasValue) objects = objects_everywhere(FALSE);
    g_autoptr(CamasValue) exts = objects_everywhere(TRUE);
    assert_matches_msgpack_c(codec, exts);
    g_autofree char *got = encode_hex(codec, objects);
    g_autofree char *want = encode_hex(codec, exts);
    cr_assert_str_eq(got, want);
    /* EXT data that is an EXT, down to a container holding one */
    g_autoptr(CamasValue) chain =
        ext_take(1, ext_take(2, ext_take(3, camas_value_build("[i V]", 1, ext_str(4, "x")))));
    assert_matches_msgpack_c(codec, chain);
}

Test(codec_msgpack, extension_levels_count_against_the_limit_at_any_depth)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL,
                               NULL);
    camas_codec_add_serializer(codec, &box_type, box_serialize, box_deserialize, NULL, NULL);
    /* a box is {"__type__": [1, [thing, [thing], n]]}: its innermost thing's array is the
     * sixth level */
    g_autoptr(CamasValue) b = box(3);
    g_autoptr(CamasValue) in_list = camas_value_build("[i V]", 1, box(3));
    g_autoptr(CamasValue) b_ext = box_as_ext(3);
    g_autoptr(CamasValue) in_list_ext = camas_value_build("[i V]", 1, box_as_ext(3));
    /* exactly deep enough: the same bytes as the EXT values written out */
    camas_codec_set_max_depth(codec, 6);
    g_autofree char *alone = encode_hex(codec, b);
    g_autofree char *alone_ext = encode_hex(codec, b_ext);
    cr_assert_str_eq(alone, alone_ext);
    camas_codec_set_max_depth(codec, 7);
    g_autofree char *listed = encode_hex(codec, in_list);
    g_autofree char *listed_ext = encode_hex(codec, in_list_ext);
    cr_assert_str_eq(listed, listed_ext);
    struct {
        CamasValue *v;
        guint limit;
    } too_deep[] = {{b, 5}, {in_list, 6}};
    for (gsize i = 0; i < G_N_ELEMENTS(too_deep); i++) {
        camas_codec_set_max_depth(codec, too_deep[i].limit);
        g_autofree char *want =
            g_strdup_printf("deeper than the limit of %u levels", too_deep[i].limit);
        assert_encode_fails(codec, too_deep[i].v, want);
    }
    /* an EXT needs its two levels wherever it sits: [[ext]] is four deep */
    camas_codec_set_max_depth(codec, 3);
    g_autoptr(CamasValue) ok = camas_value_build("[i [i] V]", 1, 2, ext_str(9, "x"));
    assert_matches_msgpack_c(codec, ok);
    g_autoptr(CamasValue) deep = camas_value_build("[[V] i]", ext_str(9, "x"), 1);
    assert_encode_fails(codec, deep, "deeper than the limit of 3 levels");
}

Test(codec_msgpack, a_failure_inside_a_serializers_result_releases_it)
{
    /* the box serializer's result holds things, which this codec cannot serialize: the error
     * comes from deep inside the result, which must be released (the suite's teardown counts
     * live values) and the output left as it was */
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_add_serializer(codec, &box_type, box_serialize, box_deserialize, NULL, NULL);
    g_autoptr(CamasValue) v = camas_value_build("[s [V i] i]", "call", box(4), 5, 6);
    assert_encode_fails(codec, v, "No serializer found for type \"Thing\"");
}

/* --- bad input ---------------------------------------------------------------------------- */

Test(codec_msgpack, every_truncation_of_valid_messages_is_an_error)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_set_raw_ext(codec, TRUE);
    Vector v[16];
    char *tbhex;
    gsize n = c4_vectors(v, &tbhex);
    for (gsize i = 0; i < n; i++) {
        g_autoptr(GByteArray) in = unhex(v[i].hex);
        assert_decode_fails(codec, in->data, 0, "empty");
        for (gsize len = 1; len < in->len; len++)
            assert_decode_fails(codec, in->data, len, "truncated");
    }
    free_vectors(v, n, tbhex);
    /* and of a message using every wide form */
    g_autoptr(GByteArray) in = unhex("95 cf0000000100000000 d3ffffffff7fffffff ca3fc00000 "
                                     "c50003616263 de0001 d90161 dc0001 dd00000001 df00000000");
    for (gsize len = 1; len < in->len; len++)
        assert_decode_fails(codec, in->data, len, "truncated");
}

Test(codec_msgpack, trailing_bytes_are_an_error)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    assert_decode_hex_fails(codec, "93010007 00", "1 trailing bytes");
    assert_decode_hex_fails(codec, "93010007 00", "at byte 4");
    assert_decode_hex_fails(codec, "c0 c0 c0", "2 trailing bytes");
}

Test(codec_msgpack, reserved_byte_and_ext_types_are_rejected)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    assert_decode_hex_fails(codec, "c1", "reserved");
    assert_decode_hex_fails(codec, "93 00 00 c1", "at byte 3");
    const char *exts[] = {"c70105ff", "c8000105ff", "c900000001 05ff", "d405ff",
                          "d50501 02", "d605 01020304", "d705 0102030405060708",
                          "d805 0102030405060708 0102030405060708",
                          "d6ff 00000000"}; /* the last one: a msgpack Timestamp */
    for (gsize i = 0; i < G_N_ELEMENTS(exts); i++)
        assert_decode_hex_fails(codec, exts[i], "ext type");
}

Test(codec_msgpack, invalid_utf8_is_an_error_naming_the_offset)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    assert_decode_hex_fails(codec, "a1 80", "invalid UTF-8");       /* stray continuation */
    assert_decode_hex_fails(codec, "a1 80", "at byte 1");
    assert_decode_hex_fails(codec, "a2 c0 80", "invalid UTF-8");    /* overlong NUL */
    assert_decode_hex_fails(codec, "a2 c1 bf", "invalid UTF-8");    /* overlong */
    assert_decode_hex_fails(codec, "a3 e0 80 80", "invalid UTF-8"); /* overlong 3-byte */
    assert_decode_hex_fails(codec, "a3 ed a0 80", "invalid UTF-8"); /* surrogate */
    assert_decode_hex_fails(codec, "a4 f0 80 80 80", "invalid UTF-8"); /* overlong 4-byte */
    assert_decode_hex_fails(codec, "a4 f4 90 80 80", "invalid UTF-8"); /* > U+10FFFF */
    assert_decode_hex_fails(codec, "a1 f5", "invalid UTF-8");
    assert_decode_hex_fails(codec, "a1 ff", "invalid UTF-8");
    assert_decode_hex_fails(codec, "a2 e2 82", "invalid UTF-8");    /* cut sequence */
    assert_decode_hex_fails(codec, "a2 c3 28", "invalid UTF-8");    /* bad continuation */
    /* the offset of the bad byte inside a longer message */
    assert_decode_hex_fails(codec, "92 a3 616263 aa 6162636465666768 ff 69", "at byte 14");
    /* bin is not text: anything goes */
    g_autoptr(CamasValue) b = camas_value_new_bytes("\xed\xa0\x80", 3);
    assert_decodes(codec, "c403 eda080", b);
    /* the edges of the valid ranges */
    static const char edges[] = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
                                "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    g_autoptr(CamasValue) ok = camas_value_new_str_len(edges, sizeof edges - 1);
    assert_round_trip(codec, ok);
}

Test(codec_msgpack, announced_counts_beyond_the_input_fail_before_allocating)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    /* 2^32-1 items or bytes announced in 5 bytes: refused without touching the allocator
     * (msgpack-c's unpacker would ask for ~100 GB here; under ASan that aborts) */
    assert_decode_hex_fails(codec, "ddffffffff", "cannot fit");
    assert_decode_hex_fails(codec, "dfffffffff", "cannot fit");
    assert_decode_hex_fails(codec, "dbffffffff", "truncated");
    assert_decode_hex_fails(codec, "c6ffffffff", "truncated");
    assert_decode_hex_fails(codec, "dcffff 01", "cannot fit");
    assert_decode_hex_fails(codec, "deffff 0101", "cannot fit");
    /* nested: the inner array is checked against what is left after the outer header */
    assert_decode_hex_fails(codec, "92 dd00000004 0101 01", "cannot fit");
    /* exactly enough is fine */
    g_autoptr(CamasValue) three = camas_value_build("[i i i]", 1, 1, 1);
    assert_decodes(codec, "dd00000003 010101", three);
    /* a map needs two bytes per entry */
    assert_decode_hex_fails(codec, "82 0101 01", "cannot fit");
}

Test(codec_msgpack, duplicate_and_container_keys_are_rejected)
{
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    assert_decode_hex_fails(codec, "82 a161 01 a161 02", "Duplicate map key 'a'");
    assert_decode_hex_fails(codec, "92 00 82 a161 01 a161 02", "at byte 2");
    assert_decode_hex_fails(codec, "82 01 01 d00101", "Duplicate");
    assert_decode_hex_fails(codec, "81 90 01", "keys must be");
    assert_decode_hex_fails(codec, "81 80 01", "keys must be");
    assert_decode_hex_fails(codec, "81 80 01", "at byte 1");
    /* 20 entries (the hashed check) with the duplicate last */
    GString *hex = g_string_new("de0014");
    for (int i = 0; i < 19; i++)
        g_string_append_printf(hex, " %02x c0", i);
    g_string_append(hex, " 05 c0");
    assert_decode_hex_fails(codec, hex->str, "Duplicate map key 5");
    g_string_free(hex, TRUE);
    /* distinct kinds are distinct keys: 1, 1.0, True, "1", b"1" */
    g_autoptr(GByteArray) in = unhex("85 01c0 cb3ff0000000000000c0 c3c0 a131c0 c40131c0");
    g_autoptr(CamasValue) m = decode_ok(codec, in->data, in->len);
    cr_assert_eq(camas_value_get_length(m), 5);
}

Test(codec_msgpack, a_failed_decode_leaks_nothing)
{
    /* the suite's teardown checks the live counters; this exercises failure after the arena
     * already holds values, adopted objects and a heap stack */
    g_autoptr(CamasCodec) codec = new_codec("msgpack");
    camas_codec_add_serializer(codec, &thing_type, thing_serialize, thing_deserialize, NULL,
                               NULL);
    camas_codec_set_max_depth(codec, 1000);
    assert_decode_hex_fails(codec, "93 81 a85f5f747970655f5f 92 00 a463616c63 a161 c1",
                            "reserved");
    g_autoptr(GByteArray) in = nested_hex_bytes(200);
    g_byte_array_set_size(in, in->len - 1);
    g_byte_array_append(in, (const guint8 *)"\xc1", 1);
    assert_decode_fails(codec, in->data, in->len, "reserved");
}

Test(codec_msgpack, decoded_values_outlive_the_codec_and_each_other)
{
    CamasCodec *codec = new_codec("msgpack");
    g_autoptr(GByteArray) in = unhex("93000093a361646492030480");
    CamasValue *v = decode_ok(codec, in->data, in->len);
    camas_codec_unref(codec);
    CamasValue *args = camas_value_ref(camas_value_get_item(camas_value_get_item(v, 2), 1));
    camas_value_unref(v);
    cr_assert_eq(camas_value_get_int(camas_value_get_item(args, 1)), 4);
    camas_value_unref(args);
    cr_assert_eq(g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_ARENA]), 0);
}
