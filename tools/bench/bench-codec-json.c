/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the JSON codec on the aiomas RPC request
 * [0, 42, ["agent-0/service", [42, "hello", 3.14], {"x": 1}]], each next to its floor: jansson
 * doing the same work in the same run.
 *
 *   codec.json.encode           build the request from C data and encode it to new bytes
 *   codec.json.encode.floor     json_pack + json_dumps (default ", " / ": " separators) + free
 *   codec.json.encode_prebuilt  encode an already built request into a reused buffer
 *   codec.json.encode_prebuilt.floor  json_dumpb of an already packed request into a buffer
 *   codec.json.decode           decode the bytes into a value tree and drop it
 *   codec.json.decode.floor     json_loads + json_decref
 */
#include <jansson.h>
#include <string.h>

#include <camas/camas.h>

#include "bench.h"

static const char request_text[] =
    "[0, 42, [\"agent-0/service\", [42, \"hello\", 3.14], {\"x\": 1}]]";

static CamasCodec *
json_codec(void)
{
    CamasCodec *codec = camas_codec_new("json", NULL);
    g_assert(codec);
    return codec;
}

static void
encode_op(gpointer data, guint64 n)
{
    CamasCodec *codec = data;
    for (guint64 i = 0; i < n; i++) {
        CamasValue *v = camas_value_build("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42,
                                          "hello", 3.14, "x", 1);
        GBytes *b = camas_codec_encode_bytes(codec, v, NULL);
        camas_bench_consume(b);
        g_bytes_unref(b);
        camas_value_unref(v);
    }
}

static double
bench_encode(void)
{
    g_autoptr(CamasCodec) codec = json_codec();
    /* check once that it is the right work */
    CamasValue *v = camas_value_build("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42,
                                      "hello", 3.14, "x", 1);
    GBytes *b = camas_codec_encode_bytes(codec, v, NULL);
    g_assert(g_bytes_get_size(b) == strlen(request_text));
    g_assert(memcmp(g_bytes_get_data(b, NULL), request_text, strlen(request_text)) == 0);
    g_bytes_unref(b);
    camas_value_unref(v);
    return camas_bench_rate(encode_op, codec);
}

static void
encode_floor_op(gpointer data, guint64 n)
{
    for (guint64 i = 0; i < n; i++) {
        json_t *j = json_pack("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42, "hello",
                              3.14, "x", 1);
        char *s = json_dumps(j, 0);
        camas_bench_consume(s);
        free(s);
        json_decref(j);
    }
}

static double
bench_encode_floor(void)
{
    return camas_bench_rate(encode_floor_op, NULL);
}

typedef struct {
    CamasCodec *codec;
    CamasValue *value;
    GByteArray *out;
} Prebuilt;

static void
encode_prebuilt_op(gpointer data, guint64 n)
{
    Prebuilt *p = data;
    for (guint64 i = 0; i < n; i++) {
        g_byte_array_set_size(p->out, 0);
        camas_codec_encode(p->codec, p->value, p->out, NULL);
        camas_bench_consume(p->out->data);
    }
}

static double
bench_encode_prebuilt(void)
{
    Prebuilt p = {
        .codec = json_codec(),
        .value = camas_value_build("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42, "hello",
                                   3.14, "x", 1),
        .out = g_byte_array_new(),
    };
    double rate = camas_bench_rate(encode_prebuilt_op, &p);
    g_byte_array_unref(p.out);
    camas_value_unref(p.value);
    camas_codec_unref(p.codec);
    return rate;
}

typedef struct {
    json_t *json;
    char buf[256];
} PrebuiltFloor;

static void
encode_prebuilt_floor_op(gpointer data, guint64 n)
{
    PrebuiltFloor *p = data;
    for (guint64 i = 0; i < n; i++) {
        size_t len = json_dumpb(p->json, p->buf, sizeof p->buf, 0);
        camas_bench_consume(p->buf + len);
    }
}

static double
bench_encode_prebuilt_floor(void)
{
    PrebuiltFloor p;
    p.json =
        json_pack("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42, "hello", 3.14, "x", 1);
    double rate = camas_bench_rate(encode_prebuilt_floor_op, &p);
    json_decref(p.json);
    return rate;
}

static void
decode_op(gpointer data, guint64 n)
{
    CamasCodec *codec = data;
    for (guint64 i = 0; i < n; i++) {
        CamasValue *v =
            camas_codec_decode(codec, (const guint8 *)request_text, sizeof request_text - 1, NULL);
        camas_bench_consume(v);
        camas_value_unref(v);
    }
}

static double
bench_decode(void)
{
    g_autoptr(CamasCodec) codec = json_codec();
    CamasValue *v =
        camas_codec_decode(codec, (const guint8 *)request_text, sizeof request_text - 1, NULL);
    g_assert(v && camas_value_get_length(v) == 3);
    camas_value_unref(v);
    return camas_bench_rate(decode_op, codec);
}

static void
decode_floor_op(gpointer data, guint64 n)
{
    for (guint64 i = 0; i < n; i++) {
        json_t *j = json_loads(request_text, 0, NULL);
        camas_bench_consume(j);
        json_decref(j);
    }
}

static double
bench_decode_floor(void)
{
    json_t *j = json_loads(request_text, 0, NULL);
    g_assert(j && json_array_size(j) == 3);
    json_decref(j);
    return camas_bench_rate(decode_floor_op, NULL);
}

const CamasBench camas_bench_codec_json[] = {
    {"codec.json.encode", "ops/s", bench_encode},
    {"codec.json.encode.floor", "ops/s", bench_encode_floor},
    {"codec.json.encode_prebuilt", "ops/s", bench_encode_prebuilt},
    {"codec.json.encode_prebuilt.floor", "ops/s", bench_encode_prebuilt_floor},
    {"codec.json.decode", "ops/s", bench_decode},
    {"codec.json.decode.floor", "ops/s", bench_decode_floor},
    {NULL},
};
