/* SPDX-License-Identifier: MIT */
/* Framing: the length-prefixed triple and the incremental stream parser. */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>

#include "leakcheck.h"

TestSuite(frame, .fini = camas_test_check_leaks);

/* C.1 of wire-protocol.md: the first JSON frame, and two more. */
static const guint8 ohai[] = {0x00, 0x00, 0x00, 0x0e, '[', '0', ',', ' ', '0', ',', ' ',
                              '"', 'o', 'h', 'a', 'i', '"', ']'};

static GBytes *
encode_json(CamasMsgType type, guint64 id, CamasValue *content)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasCodec) codec = camas_codec_new("json", &error);
    cr_assert_not_null(codec, "%s", error ? error->message : "");
    GBytes *frame = NULL;
    if (type == CAMAS_MSG_REQUEST) {
        frame = camas_frame_encode_request(codec, id, content, 0, &error);
    } else {
        g_autoptr(CamasValue) idv = camas_value_new_uint(id);
        frame = camas_frame_encode(codec, type, idv, content, 0, &error);
    }
    cr_assert_not_null(frame, "%s", error ? error->message : "");
    camas_value_unref(content);
    return frame;
}

static void
assert_bytes(GBytes *b, const void *expect, gsize len)
{
    gsize n;
    const guint8 *d = g_bytes_get_data(b, &n);
    cr_assert_eq(n, len, "got %zu bytes, expected %zu", n, len);
    cr_assert_arr_eq(d, expect, len);
}

Test(frame, request_matches_captured_aiomas_bytes)
{
    g_autoptr(GBytes) f = encode_json(CAMAS_MSG_REQUEST, 0, camas_value_new_str("ohai"));
    assert_bytes(f, ohai, sizeof ohai);
}

Test(frame, reply_and_failure_match_captured_bytes)
{
    static const char reply[] = "[1, 0, [\"reply\", \"ohai\"]]";
    static const char fail[] = "[2, 1, \"ValueError: boom\\n\"]";
    g_autoptr(GBytes) r = encode_json(CAMAS_MSG_RESULT, 0, camas_value_build("[s s]", "reply", "ohai"));
    g_autoptr(GBytes) e = encode_json(CAMAS_MSG_EXCEPTION, 1, camas_value_new_str("ValueError: boom\n"));
    guint8 expect[64];
    memcpy(expect, "\x00\x00\x00\x19", 4);
    memcpy(expect + 4, reply, sizeof reply - 1);
    assert_bytes(r, expect, 4 + sizeof reply - 1);
    memcpy(expect, "\x00\x00\x00\x1c", 4);
    memcpy(expect + 4, fail, sizeof fail - 1);
    assert_bytes(e, expect, 4 + sizeof fail - 1);
}

Test(frame, decode_splits_triple)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasCodec) codec = camas_codec_new("msgpack", &error);
    cr_assert_not_null(codec);
    /* C.4: [1, 0, ["reply", "ohai"]] */
    static const guint8 p[] = {0x93, 0x01, 0x00, 0x92, 0xa5, 'r', 'e', 'p', 'l', 'y',
                               0xa4, 'o', 'h', 'a', 'i'};
    CamasMsgType type;
    g_autoptr(CamasValue) id = NULL;
    g_autoptr(CamasValue) content = NULL;
    cr_assert(camas_frame_decode(codec, p, sizeof p, &type, &id, &content, &error));
    cr_assert_eq(type, CAMAS_MSG_RESULT);
    cr_assert_eq(camas_value_get_int(id), 0);
    g_autoptr(CamasValue) expect = camas_value_build("[s s]", "reply", "ohai");
    cr_assert(camas_value_equal(content, expect));
}

Test(frame, decode_rejects_bad_triples)
{
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    static const char *bad[] = {"[0, 1]", "\"notatriple\"", "[3, 0, null]", "[-1, 0, null]",
                                "[1.0, 0, null]", "[0, 1, 2, 3]", "{}"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        CamasMsgType type = 99;
        CamasValue *id = NULL, *content = NULL;
        cr_assert_not(camas_frame_decode(codec, (const guint8 *)bad[i], strlen(bad[i]), &type,
                                         &id, &content, &error),
                      "accepted %s", bad[i]);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL), "%s: %s", bad[i],
                  error->message);
        cr_assert_null(id);
        cr_assert_null(content);
        cr_assert_eq(type, 99, "outputs must be untouched on error");
    }
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_frame_decode(codec, (const guint8 *)"[0, 0", 5, NULL, NULL, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC));
}

Test(frame, encode_refuses_messages_over_the_maximum)
{
    g_autoptr(CamasCodec) codec = camas_codec_new("msgpack", NULL);
    char big[200];
    memset(big, 'x', sizeof big);
    g_autoptr(CamasValue) v = camas_value_new_str_len(big, sizeof big);
    g_autoptr(GError) error = NULL;
    GBytes *f = camas_frame_encode_request(codec, 1, v, 100, &error);
    cr_assert_null(f);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE));
    cr_assert(strstr(error->message, "100"), "%s", error->message);
    g_autoptr(GBytes) ok = camas_frame_encode_request(codec, 1, v, 300, NULL);
    cr_assert_not_null(ok);
}

/* Feeds @stream in pieces of @chunk bytes and collects every payload. */
static GPtrArray *
parse_in_chunks(const guint8 *stream, gsize len, gsize chunk, gsize max)
{
    g_autoptr(CamasFrameParser) p = camas_frame_parser_new(max);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    for (gsize off = 0; off < len; off += chunk) {
        camas_frame_parser_feed(p, stream + off, MIN(chunk, len - off));
        GBytes *b;
        g_autoptr(GError) error = NULL;
        while ((b = camas_frame_parser_next(p, &error)))
            g_ptr_array_add(out, b);
        cr_assert_null(error, "%s", error ? error->message : "");
    }
    cr_assert_eq(camas_frame_parser_get_buffered(p), 0);
    return out;
}

Test(frame, parser_accepts_any_split_and_coalescing)
{
    /* three frames: ohai, a 1-byte payload, and a 300-byte payload */
    GByteArray *s = g_byte_array_new();
    g_byte_array_append(s, ohai, sizeof ohai);
    g_byte_array_append(s, (const guint8 *)"\x00\x00\x00\x01Z", 5);
    guint8 big[304] = {0x00, 0x00, 0x01, 0x2c};
    for (int i = 0; i < 300; i++)
        big[4 + i] = (guint8)i;
    g_byte_array_append(s, big, sizeof big);
    for (gsize chunk = 1; chunk <= s->len; chunk++) {
        g_autoptr(GPtrArray) frames = parse_in_chunks(s->data, s->len, chunk, 0);
        cr_assert_eq(frames->len, 3, "chunk %zu: %u frames", chunk, frames->len);
        assert_bytes(frames->pdata[0], ohai + 4, sizeof ohai - 4);
        assert_bytes(frames->pdata[1], "Z", 1);
        assert_bytes(frames->pdata[2], big + 4, 300);
    }
    g_byte_array_unref(s);
}

Test(frame, parser_reports_frame_offsets)
{
    g_autoptr(CamasFrameParser) p = camas_frame_parser_new(0);
    camas_frame_parser_feed(p, ohai, sizeof ohai);
    camas_frame_parser_feed(p, ohai, sizeof ohai);
    g_autoptr(GBytes) a = camas_frame_parser_next(p, NULL);
    cr_assert_eq(camas_frame_parser_get_frame_offset(p), 0);
    g_autoptr(GBytes) b = camas_frame_parser_next(p, NULL);
    cr_assert_eq(camas_frame_parser_get_frame_offset(p), sizeof ohai);
    cr_assert_null(camas_frame_parser_next(p, NULL));
}

Test(frame, parser_rejects_oversized_announcement_before_buffering)
{
    g_autoptr(CamasFrameParser) p = camas_frame_parser_new(1024);
    /* announces 4 GiB - 1: refused as soon as the header is complete */
    camas_frame_parser_feed(p, (const guint8 *)"\xff\xff\xff", 3);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_frame_parser_next(p, &error));
    cr_assert_null(error);
    camas_frame_parser_feed(p, (const guint8 *)"\xffpayload", 8);
    cr_assert_null(camas_frame_parser_next(p, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL));
    cr_assert(strstr(error->message, "4294967295"), "%s", error->message);
    cr_assert_eq(camas_frame_parser_get_buffered(p), 0, "nothing is kept after the error");
    /* and it stays broken */
    g_clear_error(&error);
    camas_frame_parser_feed(p, ohai, sizeof ohai);
    cr_assert_null(camas_frame_parser_next(p, &error));
    cr_assert_not_null(error);
}

Test(frame, parser_rejects_zero_length_frame)
{
    g_autoptr(CamasFrameParser) p = camas_frame_parser_new(0);
    camas_frame_parser_feed(p, ohai, sizeof ohai);
    camas_frame_parser_feed(p, (const guint8 *)"\0\0\0\0", 4);
    g_autoptr(GBytes) first = camas_frame_parser_next(p, NULL);
    cr_assert_not_null(first, "the valid frame before the bad one is delivered");
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_frame_parser_next(p, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL));
    cr_assert(strstr(error->message, "zero-length"), "%s", error->message);
    cr_assert(strstr(error->message, "byte 18"), "%s", error->message);
}

Test(frame, frame_round_trips_through_parser_for_every_codec)
{
    const char *const *names = camas_codec_list_names();
    cr_assert_not_null(names[0]);
    for (; *names; names++) {
        g_autoptr(CamasCodec) codec = camas_codec_new(*names, NULL);
        g_autoptr(CamasValue) content = camas_value_build("[s [i s f] {s:i}]", "agent-0/service",
                                                          42, "hello", 3.14, "x", 1);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) f = camas_frame_encode_request(codec, G_MAXUINT64, content, 0, &error);
        cr_assert_not_null(f, "%s: %s", *names, error ? error->message : "");
        g_autoptr(CamasFrameParser) p = camas_frame_parser_new(0);
        gsize n;
        const guint8 *d = g_bytes_get_data(f, &n);
        camas_frame_parser_feed(p, d, n);
        g_autoptr(GBytes) payload = camas_frame_parser_next(p, &error);
        cr_assert_not_null(payload);
        CamasMsgType type;
        g_autoptr(CamasValue) id = NULL;
        g_autoptr(CamasValue) back = NULL;
        cr_assert(camas_frame_decode(codec, g_bytes_get_data(payload, NULL),
                                     g_bytes_get_size(payload), &type, &id, &back, &error),
                  "%s: %s", *names, error ? error->message : "");
        cr_assert_eq(type, CAMAS_MSG_REQUEST);
        cr_assert_eq(camas_value_get_uint(id), G_MAXUINT64, "%s", *names);
        cr_assert(camas_value_equal(back, content), "%s", *names);
    }
}
