/* SPDX-License-Identifier: MIT */
/*
 * The MsgPackBlosc codec (layer: codec plug-in): msgpack bytes (codec-msgpack.c) inside a
 * c-blosc 1.x container, exactly as aiomas 2.0.1 writes them with python-blosc's defaults
 * (wire-protocol.md §6.3): clevel 9, byte shuffle, typesize 8, compressor blosclz, automatic
 * block size.  Small messages come out "memcpyed" (flags 0x13: stored, not compressed).
 *
 * Decoding reads the 16-byte header itself before anything is allocated: the compressed size
 * must be the payload length, the announced size must be within c-blosc's limit and within
 * what any blosc1 compressor can expand the payload to, so a few bytes cannot make us allocate
 * gigabytes.  Only then does c-blosc decompress (into the codec's scratch buffer for messages
 * up to SCRATCH_KEEP) and the msgpack decoder run.
 */
#include <blosc.h>
#include <string.h>

#include "msgpack-private.h"

/* python-blosc's defaults (blosc.compress(data, typesize=8)) */
#define BLOSC_CLEVEL 9
#define BLOSC_TYPESIZE 8
#define BLOSC_HEADER 16

/* The scratch buffer stays allocated between messages up to this size; a larger message gets
 * a buffer of its own, so one 100 MB message does not pin 100 MB per codec forever. */
#define SCRATCH_KEEP (1024 * 1024)

/* The largest announced/decompressed size accepted per payload byte.  No blosc1 compressor
 * expands more than zlib's ~1032x (blosclz and lz4 ~255x: 248x measured on zeros); zstd can
 * (18000x on zeros), but aiomas only ever writes blosclz, and a bound is what keeps a 1 KB
 * payload from announcing a gigabyte. */
#define MAX_RATIO 1100

/* see msgpack-private.h */
gsize camas__msgpack_blosc_max_size = BLOSC_MAX_BUFFERSIZE;

/* The codec's scratch buffer, taken out of the codec while in use: a serializer or
 * deserializer that encodes with this same codec meanwhile (a nested call) then finds none and
 * works in a buffer of its own instead of overwriting ours. */
static GByteArray *
scratch_take(CamasCodec *codec)
{
    GByteArray *s = codec->scratch;
    codec->scratch = NULL;
    if (!s)
        s = g_byte_array_new();
    g_byte_array_set_size(s, 0);
    return s;
}

/* Puts @s back, releasing its memory after a large message: one 100 MB message must not pin
 * 100 MB per codec for good. */
static void
scratch_give(CamasCodec *codec, GByteArray *s, gsize used)
{
    if (used > SCRATCH_KEEP) {
        g_byte_array_unref(s);
        s = g_byte_array_new();
    }
    if (codec->scratch) /* a nested call left its own: keep ours, which is warm */
        g_byte_array_unref(codec->scratch);
    codec->scratch = s;
}

static gboolean
blosc_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out, GError **error)
{
    GByteArray *raw = scratch_take(codec);
    gboolean ok = FALSE;
    if (!camas__msgpack_encode(codec, value, raw, error)) {
        scratch_give(codec, raw, G_MAXSIZE); /* its size is unknown now: let it go */
        return FALSE;
    }
    gsize n = raw->len;
    if (n > camas__msgpack_blosc_max_size) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                    "msgpack-blosc: the message has %" G_GSIZE_FORMAT
                    " msgpack bytes, more than c-blosc's limit of %" G_GSIZE_FORMAT,
                    n, camas__msgpack_blosc_max_size);
        goto out;
    }
    guint before = out->len;
    if (n + BLOSC_HEADER > (gsize)G_MAXUINT - before) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                    "msgpack-blosc: the output would exceed 4 GiB");
        goto out;
    }
    /* c-blosc never needs more than n + 16 bytes: it stores incompressible data */
    g_byte_array_set_size(out, before + (guint)n + BLOSC_HEADER);
    int c = blosc_compress_ctx(BLOSC_CLEVEL, BLOSC_SHUFFLE, BLOSC_TYPESIZE, n, raw->data,
                               out->data + before, n + BLOSC_HEADER, BLOSC_BLOSCLZ_COMPNAME, 0,
                               1);
    if (c <= 0) {
        g_byte_array_set_size(out, before);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: blosc compression failed (code %d)", c);
        goto out;
    }
    g_byte_array_set_size(out, before + (guint)c);
    ok = TRUE;
out:
    scratch_give(codec, raw, n);
    return ok;
}

static inline guint32
load32le(const guint8 *p)
{
    guint32 v;
    memcpy(&v, p, 4);
    return GUINT32_FROM_LE(v);
}

static CamasValue *
blosc_decode(CamasCodec *codec, const guint8 *data, gsize len, GError **error)
{
    if (len < BLOSC_HEADER) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the payload has %" G_GSIZE_FORMAT
                    " bytes, fewer than the 16-byte blosc header",
                    len);
        return NULL;
    }
    /* version, versionlz, flags, typesize, then nbytes, blocksize, cbytes (little-endian) */
    guint version = data[0];
    guint flags = data[2];
    gsize nbytes = load32le(data + 4);
    gsize blocksize = load32le(data + 8);
    gsize cbytes = load32le(data + 12);

    if (version == 0 || version > BLOSC_VERSION_FORMAT) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: unsupported blosc format version %u (c-blosc 1.x writes "
                    "1 or 2)",
                    version);
        return NULL;
    }
    if (cbytes != len) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the blosc header says %" G_GSIZE_FORMAT
                    " compressed bytes, but the payload has %" G_GSIZE_FORMAT,
                    cbytes, len);
        return NULL;
    }
    if (nbytes == 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the blosc container is empty (a msgpack message has at "
                    "least one byte)");
        return NULL;
    }
    if (nbytes > BLOSC_MAX_BUFFERSIZE) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the blosc header announces %" G_GSIZE_FORMAT
                    " bytes, more than c-blosc's limit of %d",
                    nbytes, BLOSC_MAX_BUFFERSIZE);
        return NULL;
    }
    if (flags & BLOSC_MEMCPYED) {
        if (nbytes != len - BLOSC_HEADER) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "msgpack-blosc: a stored (memcpyed) blosc container of %" G_GSIZE_FORMAT
                        " bytes cannot hold the %" G_GSIZE_FORMAT " bytes its header announces",
                        len, nbytes);
            return NULL;
        }
    } else if (nbytes / MAX_RATIO > len) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the blosc header announces %" G_GSIZE_FORMAT
                    " bytes from %" G_GSIZE_FORMAT
                    " compressed bytes, more than any blosc compressor can expand (%dx)",
                    nbytes, len, MAX_RATIO);
        return NULL;
    }
    if (blocksize == 0 || blocksize > nbytes) {
        /* c-blosc writes blocksize <= nbytes, and at least 1 */
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: the blosc header's block size %" G_GSIZE_FORMAT
                    " does not fit its %" G_GSIZE_FORMAT " bytes",
                    blocksize, nbytes);
        return NULL;
    }

    /* small messages go to the reused scratch buffer, large ones to a buffer of their own
     * that is released right after decoding */
    guint8 *dest;
    guint8 *own = NULL;
    GByteArray *s = NULL;
    if (nbytes <= SCRATCH_KEEP) {
        s = scratch_take(codec);
        g_byte_array_set_size(s, (guint)nbytes);
        dest = s->data;
    } else {
        own = g_try_malloc(nbytes);
        if (!own) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                        "msgpack-blosc: cannot allocate %" G_GSIZE_FORMAT
                        " bytes for the decompressed message",
                        nbytes);
            return NULL;
        }
        dest = own;
    }
    int got = blosc_decompress_ctx(data, dest, nbytes, 1);
    CamasValue *result = NULL;
    if (got < 0 || (gsize)got != nbytes) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "msgpack-blosc: blosc could not decompress the payload (%s %d)",
                    got < 0 ? "error code" : "bytes:", got);
    } else {
        result = camas__msgpack_decode(codec, dest, nbytes,
                                       "msgpack-blosc: in the decompressed msgpack", error);
    }
    if (s)
        scratch_give(codec, s, nbytes);
    g_free(own);
    return result;
}

const CamasCodecClass camas__codec_msgpack_blosc = {
    .name = "msgpack-blosc",
    .aliases = "msgpack_blosc msgpackblosc",
    .abi_version = CAMAS_CODEC_ABI_VERSION,
    .supports_bytes = TRUE,
    .encode = blosc_encode,
    .decode = blosc_decode,
};
