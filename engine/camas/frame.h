/* SPDX-License-Identifier: MIT */
/*
 * Framing: the aiomas message triple [msg_type, msg_id, content] behind a 4-byte big-endian
 * length header (wire-protocol.md §2-3).  Sits between the codecs and the channel layer;
 * transports move the frames as opaque GBytes.
 */
#pragma once

#include <camas/codec.h>

G_BEGIN_DECLS

/* The largest payload accepted by default, on send and on receive. */
#define CAMAS_FRAME_DEFAULT_MAX_SIZE ((gsize)64 * 1024 * 1024)
/* The wire cannot express more. */
#define CAMAS_FRAME_WIRE_MAX_SIZE ((gsize)G_MAXUINT32)
#define CAMAS_FRAME_HEADER_SIZE 4

typedef enum {
    CAMAS_MSG_REQUEST = 0,
    CAMAS_MSG_RESULT = 1,
    CAMAS_MSG_EXCEPTION = 2,
} CamasMsgType;

/**
 * camas_frame_encode:
 * @msg_id: (transfer none): the id as it travels; requests use a non-negative int, replies
 *          echo the request's id value unchanged (Python peers accept any id value)
 * @content: (transfer none): the content
 * @max_size: largest payload allowed (0 = CAMAS_FRAME_DEFAULT_MAX_SIZE)
 *
 * Returns: (transfer full): header + payload in one buffer, or NULL with CAMAS_ERROR_CODEC
 * (content not encodable) or CAMAS_ERROR_TOO_LARGE (naming both sizes).
 */
CAMAS_API GBytes *camas_frame_encode(CamasCodec *codec, CamasMsgType msg_type,
                                     const CamasValue *msg_id, const CamasValue *content,
                                     gsize max_size, GError **error);
/* The same for a numeric request id (no value needs to be built). */
CAMAS_API GBytes *camas_frame_encode_request(CamasCodec *codec, guint64 msg_id,
                                             const CamasValue *content, gsize max_size,
                                             GError **error);

/**
 * camas_frame_decode:
 * Decodes one payload (without header) into its three parts.  Outputs are (transfer full)
 * and only set on success.  CAMAS_ERROR_CODEC when the payload does not decode;
 * CAMAS_ERROR_PROTOCOL when it is not a 3-item array or msg_type is not 0, 1 or 2.
 */
CAMAS_API gboolean camas_frame_decode(CamasCodec *codec, const guint8 *payload, gsize len,
                                      CamasMsgType *msg_type, CamasValue **msg_id,
                                      CamasValue **content, GError **error);

/**
 * CamasFrameParser: splits a byte stream into payloads, whatever the split or coalescing of
 * the bytes fed.  It buffers at most one frame; the announced size is checked against the
 * maximum as soon as the header is complete, before any byte of the payload is kept.
 */
typedef struct _CamasFrameParser CamasFrameParser;

/* @max_size: 0 = CAMAS_FRAME_DEFAULT_MAX_SIZE */
CAMAS_API CamasFrameParser *camas_frame_parser_new(gsize max_size);
CAMAS_API void camas_frame_parser_free(CamasFrameParser *parser);

/* Appends received bytes (copied). */
CAMAS_API void camas_frame_parser_feed(CamasFrameParser *parser, const guint8 *data, gsize len);

/**
 * camas_frame_parser_next:
 * Returns: (transfer full): the next complete payload, or NULL when none is complete yet (no
 * error) or the stream is broken (CAMAS_ERROR_PROTOCOL: zero-length frame, or a frame larger
 * than the maximum; the parser then stays broken and refuses further frames).
 */
CAMAS_API GBytes *camas_frame_parser_next(CamasFrameParser *parser, GError **error);

/* Bytes received but not yet returned as payloads (a partial frame). */
CAMAS_API gsize camas_frame_parser_get_buffered(const CamasFrameParser *parser);
/* Stream offset of the header of the payload most recently returned by _next. */
CAMAS_API guint64 camas_frame_parser_get_frame_offset(const CamasFrameParser *parser);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasFrameParser, camas_frame_parser_free)

G_END_DECLS
