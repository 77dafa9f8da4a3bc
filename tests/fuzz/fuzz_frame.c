/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the frame parser and frame decoding.  The first byte picks the codec and
 * the chunk size the stream is fed in; every payload that decodes to a valid triple must
 * re-encode to a frame that decodes to an equal triple.
 */
#include <stdlib.h>

#include <camas/camas.h>

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    if (size < 1)
        return 0;
    static CamasCodec *codecs[3];
    if (!codecs[0]) {
        codecs[0] = camas_codec_new("json", NULL);
        codecs[1] = camas_codec_new("msgpack", NULL);
        codecs[2] = camas_codec_new("msgpack-blosc", NULL);
        for (int i = 0; i < 3; i++)
            camas_codec_set_raw_ext(codecs[i], TRUE);
    }
    CamasCodec *codec = codecs[data[0] % 3];
    gsize chunk = 1 + data[0] / 3;
    data++;
    size--;

    CamasFrameParser *p = camas_frame_parser_new(1 << 20);
    for (gsize off = 0; off < size; off += chunk) {
        camas_frame_parser_feed(p, data + off, MIN(chunk, size - off));
        GBytes *payload;
        GError *error = NULL;
        while ((payload = camas_frame_parser_next(p, &error))) {
            CamasMsgType type;
            CamasValue *id = NULL, *content = NULL;
            gsize len;
            const guint8 *d = g_bytes_get_data(payload, &len);
            if (camas_frame_decode(codec, d, len, &type, &id, &content, NULL)) {
                GBytes *again = camas_frame_encode(codec, type, id, content, 0, NULL);
                if (again) {
                    CamasMsgType type2;
                    CamasValue *id2 = NULL, *content2 = NULL;
                    gsize len2;
                    const guint8 *d2 = g_bytes_get_data(again, &len2);
                    if (!camas_frame_decode(codec, d2 + 4, len2 - 4, &type2, &id2, &content2,
                                            NULL) ||
                        type2 != type || !camas_value_equal(id, id2) ||
                        !camas_value_equal(content, content2))
                        abort();
                    camas_value_unref(id2);
                    camas_value_unref(content2);
                    g_bytes_unref(again);
                }
                camas_value_unref(id);
                camas_value_unref(content);
            }
            g_bytes_unref(payload);
        }
        g_clear_error(&error);
    }
    camas_frame_parser_free(p);
    return 0;
}
