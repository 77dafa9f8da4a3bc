/* SPDX-License-Identifier: MIT */
/*
 * What the MsgPackBlosc codec (codec-msgpack-blosc.c) borrows from the MsgPack codec
 * (codec-msgpack.c): the plain msgpack encoder and decoder, so that blosc only wraps bytes.
 */
#pragma once

#include "codec-private.h"

G_BEGIN_DECLS

/**
 * camas__msgpack_encode: appends the msgpack encoding of @value to @out, as Python's
 * `msgpack.packb(value, use_bin_type=True)` writes it.  CAMAS_ERROR_CODEC when the value
 * nests deeper than the codec's max_depth or an object has no serializer;
 * CAMAS_ERROR_TOO_LARGE when a str/bytes/container exceeds msgpack's 2^32-1 limit or the
 * output would exceed 4 GiB.  On error @out may hold partial bytes (callers truncate).
 */
gboolean camas__msgpack_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out,
                               GError **error);

/**
 * camas__msgpack_decode: decodes exactly @len bytes of msgpack into a new value tree living
 * in one arena (transfer full).  @what prefixes error messages ("msgpack", "msgpack-blosc");
 * errors are CAMAS_ERROR_CODEC and name the byte offset inside @data.
 */
CamasValue *camas__msgpack_decode(CamasCodec *codec, const guint8 *data, gsize len,
                                  const char *what, GError **error);

/* The largest msgpack message MsgPackBlosc encodes: c-blosc1 takes at most INT_MAX - 16 bytes
 * per call (BLOSC_MAX_BUFFERSIZE).  A variable only so that tests can lower it instead of
 * building a 2 GiB message. */
extern gsize camas__msgpack_blosc_max_size;

G_END_DECLS
