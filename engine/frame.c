/* SPDX-License-Identifier: MIT */
/*
 * Framing (wire-protocol.md §2-3): encode a message triple with its length header in one
 * buffer, decode a payload back into its parts, and split a byte stream into payloads.
 */
#include <string.h>

#include <camas/frame.h>

#include "codec-private.h"

static gsize
effective_max(gsize max_size)
{
    if (max_size == 0)
        return CAMAS_FRAME_DEFAULT_MAX_SIZE;
    return MIN(max_size, CAMAS_FRAME_WIRE_MAX_SIZE);
}

static GBytes *
encode_triple(CamasCodec *codec, CamasMsgType msg_type, CamasValue *msg_id,
              const CamasValue *content, gsize max_size, GError **error)
{
    /* The triple is wrapped in stack values: nothing is allocated but the output buffer. */
    CamasValue type_value = CAMAS__VALUE_STATIC_INT(msg_type);
    CamasValue *items[3] = {&type_value, msg_id, (CamasValue *)content};
    CamasValue triple = CAMAS__VALUE_STATIC_SEQ(items, 3);

    GByteArray *buf = g_byte_array_sized_new(64);
    g_byte_array_set_size(buf, CAMAS_FRAME_HEADER_SIZE);
    if (!camas_codec_encode(codec, &triple, buf, error)) {
        g_byte_array_unref(buf);
        return NULL;
    }
    gsize payload = buf->len - CAMAS_FRAME_HEADER_SIZE;
    gsize limit = effective_max(max_size);
    if (payload > limit) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                    "message of %" G_GSIZE_FORMAT " bytes exceeds the maximum frame size of "
                    "%" G_GSIZE_FORMAT " bytes",
                    payload, limit);
        g_byte_array_unref(buf);
        return NULL;
    }
    guint32 be = GUINT32_TO_BE((guint32)payload);
    memcpy(buf->data, &be, sizeof be);
    return g_byte_array_free_to_bytes(buf);
}

GBytes *
camas_frame_encode(CamasCodec *codec, CamasMsgType msg_type, const CamasValue *msg_id,
                   const CamasValue *content, gsize max_size, GError **error)
{
    g_return_val_if_fail(codec != NULL, NULL);
    g_return_val_if_fail(msg_id != NULL && content != NULL, NULL);
    g_return_val_if_fail(msg_type <= CAMAS_MSG_EXCEPTION, NULL);
    return encode_triple(codec, msg_type, (CamasValue *)msg_id, content, max_size, error);
}

GBytes *
camas_frame_encode_request(CamasCodec *codec, guint64 msg_id, const CamasValue *content,
                           gsize max_size, GError **error)
{
    g_return_val_if_fail(codec != NULL && content != NULL, NULL);
    CamasValue id = CAMAS__VALUE_STATIC_INT((gint64)msg_id);
    if (msg_id > G_MAXINT64)
        id.flags |= CAMAS__VALUE_UNSIGNED;
    return encode_triple(codec, CAMAS_MSG_REQUEST, &id, content, max_size, error);
}

CamasValue *
camas__frame_decode_triple(CamasCodec *codec, const guint8 *payload, gsize len,
                           CamasMsgType *msg_type, GError **error)
{
    /* the plug-in directly (camas_codec_decode() only adds argument checks) */
    static const guint8 empty[1] = {0};
    g_autoptr(CamasValue) triple =
        codec->klass->decode(codec, payload ? payload : empty, len, error);
    if (!triple)
        return NULL;
    /* the common case, read straight from the layout: a list of three, a small int type */
    if (G_LIKELY((triple->type == CAMAS_VALUE_LIST || triple->type == CAMAS_VALUE_TUPLE) &&
                 triple->u.seq.len == 3)) {
        const CamasValue *t = triple->u.seq.items[0];
        if (G_LIKELY(t->type == CAMAS_VALUE_INT && !(t->flags & CAMAS__VALUE_UNSIGNED) &&
                     t->u.i >= CAMAS_MSG_REQUEST && t->u.i <= CAMAS_MSG_EXCEPTION)) {
            *msg_type = (CamasMsgType)t->u.i;
            return g_steal_pointer(&triple);
        }
    }
    if (!camas_value_is_sequence(triple) || camas_value_get_length(triple) != 3) {
        if (camas_value_is_sequence(triple))
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                        "message is not a [msg_type, msg_id, content] triple: got an array of "
                        "%" G_GSIZE_FORMAT " items",
                        camas_value_get_length(triple));
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                        "message is not a [msg_type, msg_id, content] triple: got %s",
                        camas_value_type_name(camas_value_get_type(triple)));
        return NULL;
    }
    CamasValue *type = camas_value_get_item(triple, 0);
    gint64 t;
    if (camas_value_get_type(type) != CAMAS_VALUE_INT || camas_value_int_is_unsigned(type) ||
        (t = camas_value_get_int(type)) < CAMAS_MSG_REQUEST || t > CAMAS_MSG_EXCEPTION) {
        g_autofree char *r = camas_value_repr(type);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                    "invalid message type %s (expected 0, 1 or 2)", r);
        return NULL;
    }
    *msg_type = (CamasMsgType)t;
    return g_steal_pointer(&triple);
}

gboolean
camas_frame_decode(CamasCodec *codec, const guint8 *payload, gsize len, CamasMsgType *msg_type,
                   CamasValue **msg_id, CamasValue **content, GError **error)
{
    g_return_val_if_fail(codec != NULL, FALSE);
    g_autoptr(CamasValue) triple =
        camas__frame_decode_triple(codec, payload, len, msg_type, error);
    if (!triple)
        return FALSE;
    if (msg_id)
        *msg_id = camas_value_ref(camas_value_get_item(triple, 1));
    if (content)
        *content = camas_value_ref(camas_value_get_item(triple, 2));
    return TRUE;
}

/* --- stream parser ---------------------------------------------------------------------- */

#define LARGE_BUFFER ((gsize)1024 * 1024)

struct _CamasFrameParser {
    GByteArray *buf; /* received bytes; buf->data[pos..] not yet consumed */
    gsize pos;
    gsize max_size;
    guint64 consumed;     /* stream offset of buf->data[0] */
    guint64 frame_offset; /* stream offset of the last returned frame's header */
    gboolean broken;
};

CamasFrameParser *
camas_frame_parser_new(gsize max_size)
{
    CamasFrameParser *p = g_new0(CamasFrameParser, 1);
    p->buf = g_byte_array_new();
    p->max_size = effective_max(max_size);
    return p;
}

void
camas_frame_parser_free(CamasFrameParser *parser)
{
    if (!parser)
        return;
    g_byte_array_unref(parser->buf);
    g_free(parser);
}

void
camas_frame_parser_feed(CamasFrameParser *parser, const guint8 *data, gsize len)
{
    g_return_if_fail(parser != NULL);
    if (parser->broken || len == 0)
        return;
    /* Drop consumed bytes before growing, so the buffer holds at most about one frame. */
    if (parser->pos > 0 && parser->pos >= parser->buf->len / 2) {
        g_byte_array_remove_range(parser->buf, 0, parser->pos);
        parser->consumed += parser->pos;
        parser->pos = 0;
    }
    g_byte_array_append(parser->buf, data, len);
}

GBytes *
camas_frame_parser_next(CamasFrameParser *parser, GError **error)
{
    g_return_val_if_fail(parser != NULL, NULL);
    if (parser->broken) {
        g_set_error_literal(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                            "the frame stream is broken by an earlier error");
        return NULL;
    }
    gsize avail = parser->buf->len - parser->pos;
    if (avail < CAMAS_FRAME_HEADER_SIZE)
        return NULL;
    const guint8 *h = parser->buf->data + parser->pos;
    guint32 size = (guint32)h[0] << 24 | (guint32)h[1] << 16 | (guint32)h[2] << 8 | h[3];
    guint64 offset = parser->consumed + parser->pos;
    if (size == 0 || size > parser->max_size) {
        parser->broken = TRUE;
        if (size == 0)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                        "zero-length frame at byte %" G_GUINT64_FORMAT, offset);
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                        "frame at byte %" G_GUINT64_FORMAT " announces %u bytes, more than "
                        "the maximum of %" G_GSIZE_FORMAT,
                        offset, size, parser->max_size);
        /* Release what was buffered: nothing more will be parsed. */
        g_byte_array_set_size(parser->buf, 0);
        parser->pos = 0;
        return NULL;
    }
    if (avail - CAMAS_FRAME_HEADER_SIZE < size)
        return NULL;
    GBytes *payload = g_bytes_new(h + CAMAS_FRAME_HEADER_SIZE, size);
    parser->frame_offset = offset;
    parser->pos += CAMAS_FRAME_HEADER_SIZE + size;
    if (parser->pos == parser->buf->len) {
        parser->consumed += parser->pos;
        /* Do not keep a large frame's allocation around for an idle connection. */
        if (parser->buf->len > LARGE_BUFFER) {
            g_byte_array_unref(parser->buf);
            parser->buf = g_byte_array_new();
        } else {
            g_byte_array_set_size(parser->buf, 0);
        }
        parser->pos = 0;
    }
    return payload;
}

gsize
camas_frame_parser_get_buffered(const CamasFrameParser *parser)
{
    g_return_val_if_fail(parser != NULL, 0);
    return parser->buf->len - parser->pos;
}

guint64
camas_frame_parser_get_frame_offset(const CamasFrameParser *parser)
{
    g_return_val_if_fail(parser != NULL, 0);
    return parser->frame_offset;
}
