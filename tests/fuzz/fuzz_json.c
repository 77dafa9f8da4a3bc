/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the JSON codec's decoder on arbitrary bytes.  Whatever decodes must
 * encode, decode again to an equal value, and encode again to the same bytes (our output is
 * canonical).  Two codecs: one in raw ext mode (every __type__ map stays an EXT), one with a
 * catch-all whose deserializer returns its data (so results built from message data are
 * adopted into the message arena).  Seeds: tests/fuzz/corpus/json.
 */
#include <stdlib.h>
#include <string.h>

#include <camas/camas.h>

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static CamasValue *
serialize_str(const CamasValue *object, gpointer user_data, GError **error)
{
    return camas_value_new_str("object");
}

static CamasValue *
deserialize_identity(const CamasValue *data, gpointer user_data, GError **error)
{
    return camas_value_ref((CamasValue *)data);
}

static void
check(CamasCodec *codec, const guint8 *data, size_t size)
{
    CamasValue *v = camas_codec_decode(codec, data, size, NULL);
    if (!v)
        return;
    GError *error = NULL;
    GBytes *text = camas_codec_encode_bytes(codec, v, &error);
    if (!text)
        abort(); /* everything the decoder accepts must be encodable */
    gsize len;
    const guint8 *bytes = g_bytes_get_data(text, &len);
    CamasValue *again = camas_codec_decode(codec, bytes, len, &error);
    if (!again || !camas_value_equal(v, again))
        abort();
    GBytes *text2 = camas_codec_encode_bytes(codec, again, &error);
    if (!text2 || !g_bytes_equal(text, text2))
        abort();
    g_bytes_unref(text2);
    camas_value_unref(again);
    g_bytes_unref(text);
    camas_value_unref(v);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static CamasCodec *raw, *hooked;
    if (!raw) {
        raw = camas_codec_new("json", NULL);
        camas_codec_set_raw_ext(raw, TRUE);
        hooked = camas_codec_new("json", NULL);
        camas_codec_add_serializer(hooked, NULL, serialize_str, deserialize_identity, NULL, NULL);
    }
    /* an exact-size heap copy, so that ASan catches any read past the end */
    guint8 *copy = g_memdup2(data, size ? size : 1);
    check(raw, copy, size);
    check(hooked, copy, size);
    g_free(copy);
    return 0;
}
