/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the MsgPackBlosc decoder (blosc header checks, c-blosc decompression, the
 * msgpack decoder) on arbitrary bytes.  Decoding must either fail with a CAMAS_ERROR_CODEC
 * error or give a value that re-encodes, decodes again to an equal value, and re-encodes to
 * the very same bytes.  __type__ maps are kept raw (EXT) so that any id round-trips.
 */
#include <stdlib.h>
#include <string.h>

#include <camas/camas.h>

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static CamasCodec *codec;
    if (!codec) {
        codec = camas_codec_new("msgpack-blosc", NULL);
        camas_codec_set_raw_ext(codec, TRUE);
    }
    GError *error = NULL;
    CamasValue *v = camas_codec_decode(codec, data, size, &error);
    if (!v) {
        if (!g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CODEC))
            abort();
        g_error_free(error);
        return 0;
    }
    GByteArray *out = g_byte_array_new();
    if (!camas_codec_encode(codec, v, out, NULL))
        abort();
    CamasValue *w = camas_codec_decode(codec, out->data, out->len, NULL);
    if (!w || !camas_value_equal(v, w))
        abort();
    GByteArray *again = g_byte_array_new();
    if (!camas_codec_encode(codec, w, again, NULL) || again->len != out->len ||
        memcmp(again->data, out->data, out->len) != 0)
        abort();
    g_byte_array_unref(again);
    g_byte_array_unref(out);
    camas_value_unref(w);
    camas_value_unref(v);
    return 0;
}
