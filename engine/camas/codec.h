/* SPDX-License-Identifier: MIT */
/*
 * Codecs: a value tree to payload bytes and back, exactly as aiomas 2.0.1 writes them
 * (JSON, MsgPack, MsgPackBlosc; wire-protocol.md §6-7).  A codec instance also holds the
 * custom serializers of one connection kind: native objects travel as
 * {"__type__": [type_id, data]}, type ids in registration order unless given explicitly.
 *
 * A codec is reference counted and not thread-safe; give each thread its own.
 */
#pragma once

#include <camas/value.h>

G_BEGIN_DECLS

typedef struct _CamasCodec CamasCodec;

/* Turns an OBJECT value into the data that travels inside __type__.  (transfer full) result;
 * NULL with @error set refuses the object. */
typedef CamasValue *(*CamasSerializeFunc)(const CamasValue *object, gpointer user_data,
                                          GError **error);
/* Turns the received data back into a value (usually an OBJECT).  (transfer full) result. */
typedef CamasValue *(*CamasDeserializeFunc)(const CamasValue *data, gpointer user_data,
                                            GError **error);

/* Default limits; both can be changed per codec. */
#define CAMAS_CODEC_DEFAULT_MAX_DEPTH 256

/**
 * camas_codec_new:
 * @name: "json", "msgpack" or "msgpack-blosc" (also "msgpack_blosc", "msgpackblosc")
 * Returns: (transfer full): a codec with no serializers, or NULL with CAMAS_ERROR_LOOKUP
 * listing the known names.
 */
CAMAS_API CamasCodec *camas_codec_new(const char *name, GError **error);
CAMAS_API CamasCodec *camas_codec_ref(CamasCodec *codec);
CAMAS_API void camas_codec_unref(CamasCodec *codec);

/* (transfer none) the canonical name ("json", "msgpack", "msgpack-blosc") */
CAMAS_API const char *camas_codec_get_name(const CamasCodec *codec);
/* (transfer none) NULL-terminated list of the registered codec names */
CAMAS_API const char *const *camas_codec_list_names(void);
/* FALSE for JSON: bytes values cannot be encoded there */
CAMAS_API gboolean camas_codec_supports_bytes(const CamasCodec *codec);

/**
 * camas_codec_add_serializer:
 * @type: the object kind to serialize, or NULL for the catch-all used for objects without a
 *        serializer of their own (aiomas' proxy serializer)
 * Returns: the type id given, i.e. the number of serializers registered before (aiomas order).
 */
CAMAS_API gint64 camas_codec_add_serializer(CamasCodec *codec, const CamasObjectType *type,
                                            CamasSerializeFunc serialize,
                                            CamasDeserializeFunc deserialize,
                                            gpointer user_data, GDestroyNotify destroy);
/* The same with a fixed @type_id; CAMAS_ERROR_INVALID if that id or @type is taken. */
CAMAS_API gboolean camas_codec_add_serializer_with_id(CamasCodec *codec, gint64 type_id,
                                                      const CamasObjectType *type,
                                                      CamasSerializeFunc serialize,
                                                      CamasDeserializeFunc deserialize,
                                                      gpointer user_data,
                                                      GDestroyNotify destroy, GError **error);

/* Deepest nesting encode and decode accept (CAMAS_ERROR_CODEC beyond). */
CAMAS_API void camas_codec_set_max_depth(CamasCodec *codec, guint max_depth);
/* When TRUE, decoding keeps every __type__ map as an EXT value instead of calling
 * deserializers (inspection tools).  Default FALSE: an unknown id is a CAMAS_ERROR_CODEC. */
CAMAS_API void camas_codec_set_raw_ext(CamasCodec *codec, gboolean raw_ext);

/**
 * camas_codec_encode:
 * Appends the encoding of @value to @out.  On error (CAMAS_ERROR_CODEC: bytes on JSON, an
 * object without serializer, too deep, a uint64 on a codec that cannot carry it) @out is
 * restored to its previous length.
 */
CAMAS_API gboolean camas_codec_encode(CamasCodec *codec, const CamasValue *value,
                                      GByteArray *out, GError **error);
CAMAS_API GBytes *camas_codec_encode_bytes(CamasCodec *codec, const CamasValue *value,
                                           GError **error);

/**
 * camas_codec_decode:
 * Returns: (transfer full): the value, or NULL with CAMAS_ERROR_CODEC saying what was wrong
 * and at which byte offset (garbage, truncation, trailing bytes, too deep, invalid UTF-8,
 * duplicate map key, integer out of range, unknown __type__ id).
 */
CAMAS_API CamasValue *camas_codec_decode(CamasCodec *codec, const guint8 *data, gsize len,
                                         GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasCodec, camas_codec_unref)

G_END_DECLS
