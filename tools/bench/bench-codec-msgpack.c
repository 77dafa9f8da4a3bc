/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the MsgPack and MsgPackBlosc codecs, each next to its floor: msgpack-c packing
 * and unpacking the same RPC request into reused buffers, and raw c-blosc on the same 10 MB.
 * The request is the aiomas RPC call [0, 42, ["agent-0/service", [42, "hello", 3.14], {"x": 1}]].
 */
#include <blosc.h>
#include <msgpack.h>
#include <string.h>

#include <camas/camas.h>

#include "bench.h"

/* --- the RPC request ---------------------------------------------------------------------- */

/* The request's parts as plain C data, for the floor: read at run time, as an application
 * packing its own structs would (constants would let the compiler fold msgpack-c's branches
 * away, which no real message allows). */
typedef struct {
    gint64 type, id, arg0, kwarg;
    const char *path, *arg1, *key;
    gsize path_len, arg1_len, key_len;
    double arg2;
} RpcFields;

typedef struct {
    CamasCodec *codec;
    CamasValue *request;
    RpcFields f;
    GByteArray *out;     /* reused by the encoder */
    GByteArray *encoded; /* the request's bytes, for the decoders */
    msgpack_sbuffer sbuf;
    msgpack_unpacked unpacked;
} Rpc;

static void op_encode_floor(gpointer data, guint64 n);

static Rpc *
rpc(void)
{
    static Rpc r;
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        r.codec = camas_codec_new("msgpack", NULL);
        r.request = camas_value_build("[i i [s [i s f] {s:i}]]", 0, 42, "agent-0/service", 42,
                                      "hello", 3.14, "x", 1);
        r.out = g_byte_array_sized_new(256);
        r.encoded = g_byte_array_new();
        g_assert(camas_codec_encode(r.codec, r.request, r.encoded, NULL));
        r.f = (RpcFields){0, 42, 42, 1, "agent-0/service", "hello", "x", 15, 5, 1, 3.14};
        msgpack_sbuffer_init(&r.sbuf);
        msgpack_unpacked_init(&r.unpacked);
        /* the floor does the same work: the very bytes the codec writes, into a reused buffer
         * (as the codec's output array is reused) */
        op_encode_floor(&r, 1);
        g_assert(r.sbuf.size == r.encoded->len);
        g_assert(memcmp(r.sbuf.data, r.encoded->data, r.sbuf.size) == 0);
        g_once_init_leave(&done, 1);
    }
    return &r;
}

static void
op_encode(gpointer data, guint64 n)
{
    Rpc *r = data;
    for (guint64 i = 0; i < n; i++) {
        r->out->len = 0; /* as msgpack_sbuffer_clear: g_byte_array_set_size costs ~10 ns */
        if (!camas_codec_encode(r->codec, r->request, r->out, NULL))
            g_error("encode failed");
        camas_bench_consume(r->out->data);
    }
}

static void
op_decode(gpointer data, guint64 n)
{
    Rpc *r = data;
    for (guint64 i = 0; i < n; i++) {
        CamasValue *v = camas_codec_decode(r->codec, r->encoded->data, r->encoded->len, NULL);
        if (!v)
            g_error("decode failed");
        camas_bench_consume(v);
        camas_value_unref(v);
    }
}

static void
op_roundtrip(gpointer data, guint64 n)
{
    Rpc *r = data;
    for (guint64 i = 0; i < n; i++) {
        r->out->len = 0;
        if (!camas_codec_encode(r->codec, r->request, r->out, NULL))
            g_error("encode failed");
        CamasValue *v = camas_codec_decode(r->codec, r->out->data, r->out->len, NULL);
        if (!v)
            g_error("decode failed");
        camas_bench_consume(v);
        camas_value_unref(v);
    }
}

/* The floor: msgpack-c writing the same message item by item into a reused sbuffer. */
static void
op_encode_floor(gpointer data, guint64 n)
{
    Rpc *r = data;
    const RpcFields *f = &r->f;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->sbuf, msgpack_sbuffer_write);
    for (guint64 i = 0; i < n; i++) {
        msgpack_sbuffer_clear(&r->sbuf);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int64(&pk, f->type);
        msgpack_pack_int64(&pk, f->id);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_str_with_body(&pk, f->path, f->path_len);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int64(&pk, f->arg0);
        msgpack_pack_str_with_body(&pk, f->arg1, f->arg1_len);
        msgpack_pack_double(&pk, f->arg2);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, f->key, f->key_len);
        msgpack_pack_int64(&pk, f->kwarg);
        camas_bench_consume(r->sbuf.data);
    }
}

/* The floor: msgpack-c unpacking the same bytes into a reused zone. */
static void
op_decode_floor(gpointer data, guint64 n)
{
    Rpc *r = data;
    for (guint64 i = 0; i < n; i++) {
        size_t off = 0;
        if (msgpack_unpack_next(&r->unpacked, (const char *)r->encoded->data, r->encoded->len,
                                &off) != MSGPACK_UNPACK_SUCCESS)
            g_error("msgpack_unpack_next failed");
        camas_bench_consume(&r->unpacked.data);
    }
}

static double
run_encode(void)
{
    return camas_bench_rate(op_encode, rpc());
}

static double
run_encode_floor(void)
{
    return camas_bench_rate(op_encode_floor, rpc());
}

static double
run_decode(void)
{
    return camas_bench_rate(op_decode, rpc());
}

static double
run_decode_floor(void)
{
    return camas_bench_rate(op_decode_floor, rpc());
}

static double
run_roundtrip(void)
{
    return camas_bench_rate(op_roundtrip, rpc());
}

/* --- MsgPackBlosc on 10 MB ---------------------------------------------------------------- */

#define BIG (10 * 1000 * 1000)

typedef struct {
    CamasCodec *codec;
    CamasValue *value; /* one bytes value of BIG bytes */
    guint8 *raw;       /* its bytes */
    GByteArray *out;
    GByteArray *encoded;
    guint8 *dest; /* for the floors */
    gsize dest_size;
} Big;

static Big *
big(void)
{
    static Big b;
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        b.codec = camas_codec_new("msgpack-blosc", NULL);
        /* compressible, like the captured 10 MB payload (0.4 % after blosclz) */
        b.raw = g_malloc(BIG);
        for (gsize i = 0; i < BIG; i++)
            b.raw[i] = (guint8)("camas speaks aiomas "[i % 20] + (i / 4096) % 3);
        b.value = camas_value_new_bytes(b.raw, BIG);
        b.out = g_byte_array_sized_new(BIG / 4);
        b.encoded = g_byte_array_new();
        g_assert(camas_codec_encode(b.codec, b.value, b.encoded, NULL));
        b.dest_size = BIG + BLOSC_MAX_OVERHEAD;
        b.dest = g_malloc(b.dest_size);
        g_once_init_leave(&done, 1);
    }
    return &b;
}

static void
op_big_encode(gpointer data, guint64 n)
{
    Big *b = data;
    for (guint64 i = 0; i < n; i++) {
        g_byte_array_set_size(b->out, 0);
        if (!camas_codec_encode(b->codec, b->value, b->out, NULL))
            g_error("encode failed");
        camas_bench_consume(b->out->data);
    }
}

static void
op_big_encode_floor(gpointer data, guint64 n)
{
    Big *b = data;
    for (guint64 i = 0; i < n; i++) {
        int c = blosc_compress_ctx(9, BLOSC_SHUFFLE, 8, BIG, b->raw, b->dest, b->dest_size,
                                   "blosclz", 0, 1);
        if (c <= 0)
            g_error("blosc_compress_ctx failed");
        camas_bench_consume(b->dest);
    }
}

static void
op_big_decode(gpointer data, guint64 n)
{
    Big *b = data;
    for (guint64 i = 0; i < n; i++) {
        CamasValue *v = camas_codec_decode(b->codec, b->encoded->data, b->encoded->len, NULL);
        if (!v)
            g_error("decode failed");
        camas_bench_consume(v);
        camas_value_unref(v);
    }
}

/* Decompressing the same container with c-blosc alone (the decoder adds the msgpack pass and
 * the copy of the bytes into the value). */
static void
op_big_decode_floor(gpointer data, guint64 n)
{
    Big *b = data;
    for (guint64 i = 0; i < n; i++) {
        int got = blosc_decompress_ctx(b->encoded->data, b->dest, b->dest_size, 1);
        if (got <= 0)
            g_error("blosc_decompress_ctx failed");
        camas_bench_consume(b->dest);
    }
}

static double
mb_per_s(void (*op)(gpointer, guint64))
{
    return camas_bench_rate(op, big()) * (BIG / 1e6);
}

static double
run_big_encode(void)
{
    return mb_per_s(op_big_encode);
}

static double
run_big_encode_floor(void)
{
    return mb_per_s(op_big_encode_floor);
}

static double
run_big_decode(void)
{
    return mb_per_s(op_big_decode);
}

static double
run_big_decode_floor(void)
{
    return mb_per_s(op_big_decode_floor);
}

const CamasBench camas_bench_codec_msgpack[] = {
    {"codec.msgpack.encode", "ops/s", run_encode},
    {"codec.msgpack.encode.floor", "ops/s", run_encode_floor},
    {"codec.msgpack.decode", "ops/s", run_decode},
    {"codec.msgpack.decode.floor", "ops/s", run_decode_floor},
    {"codec.msgpack.roundtrip", "ops/s", run_roundtrip},
    {"codec.msgpack_blosc.encode.10mb", "MB/s", run_big_encode},
    {"codec.msgpack_blosc.encode.10mb.floor", "MB/s", run_big_encode_floor},
    {"codec.msgpack_blosc.decode.10mb", "MB/s", run_big_decode},
    {"codec.msgpack_blosc.decode.10mb.floor", "MB/s", run_big_decode_floor},
    {NULL},
};
