/* SPDX-License-Identifier: MIT */
/*
 * The codec plug-in table.  A codec is one file defining `const CamasCodecClass
 * camas__codec_<name>` plus its name in the `codec_plugins` list of engine/meson.build.
 */
#pragma once

#include <camas/codec.h>
#include <camas/frame.h>

#include "value-private.h"

G_BEGIN_DECLS

#define CAMAS_CODEC_ABI_VERSION 1

typedef struct {
    const char *name;     /* canonical name, e.g. "msgpack-blosc" */
    const char *aliases;  /* NULL or space-separated other accepted names */
    guint abi_version;    /* CAMAS_CODEC_ABI_VERSION */
    gboolean supports_bytes;
    /* Appends @value's encoding to @out; never blocks, never calls back into user code except
     * through serializers.  On error it may leave partial bytes: the caller truncates. */
    gboolean (*encode)(CamasCodec *codec, const CamasValue *value, GByteArray *out,
                       GError **error);
    /* Decodes exactly @len bytes into a new value (transfer full). */
    CamasValue *(*decode)(CamasCodec *codec, const guint8 *data, gsize len, GError **error);
} CamasCodecClass;

typedef struct {
    gint64 type_id;
    const CamasObjectType *type; /* NULL: catch-all */
    CamasSerializeFunc serialize;
    CamasDeserializeFunc deserialize;
    gpointer user_data;
    GDestroyNotify destroy;
} CamasSerializer;

struct _CamasCodec {
    const CamasCodecClass *klass;
    gint refcount;
    GArray *serializers; /* of CamasSerializer, registration order */
    guint max_depth;
    gboolean raw_ext;
    GByteArray *scratch; /* reusable buffer for codecs that encode in two steps */
};

/**
 * camas__codec_serialize_object: for encoders meeting an OBJECT value.
 * Sets *@type_id and *@data (transfer full) from the serializer registered for the object's
 * type (else the catch-all).  CAMAS_ERROR_CODEC "No serializer found for type "<name>"" when
 * there is none.
 */
gboolean camas__codec_serialize_object(CamasCodec *codec, const CamasValue *object,
                                       gint64 *type_id, CamasValue **data, GError **error);

/**
 * camas__codec_deserialize: for decoders meeting {"__type__": [type_id, data]}.
 * (transfer full) result: an EXT value in raw mode, else the deserializer's result;
 * CAMAS_ERROR_CODEC for an unknown id.
 */
CamasValue *camas__codec_deserialize(CamasCodec *codec, gint64 type_id, CamasValue *data,
                                     GError **error);

/**
 * camas__frame_decode_triple: camas_frame_decode() for the channel layer (frame.c).
 * Returns the whole [msg_type, msg_id, content] triple (transfer full; items 1 and 2 are the id
 * and the content) and sets *@msg_type, or NULL with the same errors.  Saves the channel a
 * reference count round trip per part.
 */
CamasValue *camas__frame_decode_triple(CamasCodec *codec, const guint8 *payload, gsize len,
                                       CamasMsgType *msg_type, GError **error);

/* Registered codecs, generated from engine/meson.build's codec_plugins list. */
const CamasCodecClass *const *camas__codec_classes(gsize *n);

G_END_DECLS
