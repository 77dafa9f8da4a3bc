/* SPDX-License-Identifier: MIT */
/*
 * The codec core (layer: codec, under framing and channel): finds codec plug-ins by name in
 * the table meson generates from `codec_plugins`, owns the per-codec serializer registry that
 * turns native objects into {"__type__": [type_id, data]} and back (wire-protocol.md §7), and
 * wraps the plug-ins' encode/decode ops so that a failed encode never leaves partial bytes.
 * The plug-ins (codec-json.c, codec-msgpack.c, ...) know nothing of each other.
 */
#include <string.h>

#include "codec-private.h"
#include "codec-table.h"
#include "live-private.h"

/* --- the plug-in table --------------------------------------------------------------------- */

const CamasCodecClass *const *
camas__codec_classes(gsize *n)
{
    if (n)
        *n = G_N_ELEMENTS(camas__codec_table);
    return camas__codec_table;
}

/* Registration check: every codec in the table must speak our ABI and have both ops.  Done
 * once, the first time any codec is created, so a broken plug-in fails loudly in every test. */
static void
check_table_once(void)
{
    static gsize checked = 0;
    if (g_once_init_enter(&checked)) {
        for (gsize i = 0; i < G_N_ELEMENTS(camas__codec_table); i++) {
            const CamasCodecClass *k = camas__codec_table[i];
            g_assert(k->name != NULL);
            g_assert(k->abi_version == CAMAS_CODEC_ABI_VERSION);
            g_assert(k->encode != NULL);
            g_assert(k->decode != NULL);
        }
        g_once_init_leave(&checked, 1);
    }
}

const char *const *
camas_codec_list_names(void)
{
    static const char *names[G_N_ELEMENTS(camas__codec_table) + 1];
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        for (gsize i = 0; i < G_N_ELEMENTS(camas__codec_table); i++)
            names[i] = camas__codec_table[i]->name;
        names[G_N_ELEMENTS(camas__codec_table)] = NULL;
        g_once_init_leave(&done, 1);
    }
    return names;
}

/* TRUE when @name is one of the space-separated words of @aliases (ASCII case-insensitive, so
 * that aiomas class names such as "MsgPackBlosc" are accepted too). */
static gboolean
alias_matches(const char *aliases, const char *name)
{
    gsize n = strlen(name);
    if (!aliases || n == 0)
        return FALSE;
    const char *p = aliases;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if ((gsize)(p - w) == n && g_ascii_strncasecmp(w, name, n) == 0)
            return TRUE;
    }
    return FALSE;
}

CamasCodec *
camas_codec_new(const char *name, GError **error)
{
    g_return_val_if_fail(name != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    check_table_once();

    const CamasCodecClass *klass = NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(camas__codec_table) && !klass; i++) {
        const CamasCodecClass *k = camas__codec_table[i];
        if (g_ascii_strcasecmp(k->name, name) == 0 || alias_matches(k->aliases, name))
            klass = k;
    }
    if (!klass) {
        g_autofree char *known = g_strjoinv(", ", (char **)camas_codec_list_names());
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "Unknown codec \"%s\" (known: %s)",
                    name, known);
        return NULL;
    }

    CamasCodec *codec = g_new0(CamasCodec, 1);
    codec->klass = klass;
    codec->refcount = 1;
    codec->serializers = g_array_new(FALSE, FALSE, sizeof(CamasSerializer));
    codec->max_depth = CAMAS_CODEC_DEFAULT_MAX_DEPTH;
    codec->raw_ext = FALSE;
    codec->scratch = g_byte_array_new();
    camas__live_inc(CAMAS__LIVE_CODEC);
    return codec;
}

CamasCodec *
camas_codec_ref(CamasCodec *codec)
{
    g_return_val_if_fail(codec != NULL, NULL);
    g_atomic_int_inc(&codec->refcount);
    return codec;
}

void
camas_codec_unref(CamasCodec *codec)
{
    if (!codec)
        return;
    if (!g_atomic_int_dec_and_test(&codec->refcount))
        return;
    /* destroy notifies run in registration order: deterministic, and user data registered
     * first is usually the longest-lived */
    for (guint i = 0; i < codec->serializers->len; i++) {
        CamasSerializer *s = &g_array_index(codec->serializers, CamasSerializer, i);
        if (s->destroy)
            s->destroy(s->user_data);
    }
    g_array_unref(codec->serializers);
    g_byte_array_unref(codec->scratch);
    g_free(codec);
    camas__live_dec(CAMAS__LIVE_CODEC);
}

const char *
camas_codec_get_name(const CamasCodec *codec)
{
    g_return_val_if_fail(codec != NULL, NULL);
    return codec->klass->name;
}

gboolean
camas_codec_supports_bytes(const CamasCodec *codec)
{
    g_return_val_if_fail(codec != NULL, FALSE);
    return codec->klass->supports_bytes;
}

void
camas_codec_set_max_depth(CamasCodec *codec, guint max_depth)
{
    g_return_if_fail(codec != NULL);
    codec->max_depth = max_depth;
}

void
camas_codec_set_raw_ext(CamasCodec *codec, gboolean raw_ext)
{
    g_return_if_fail(codec != NULL);
    codec->raw_ext = raw_ext ? TRUE : FALSE;
}

/* --- the serializer registry --------------------------------------------------------------- */

/* Registries hold a handful of entries (aiomas containers register two), so linear scans beat
 * any hash table here. */
static CamasSerializer *
find_by_type(CamasCodec *codec, const CamasObjectType *type)
{
    for (guint i = 0; i < codec->serializers->len; i++) {
        CamasSerializer *s = &g_array_index(codec->serializers, CamasSerializer, i);
        if (s->type == type)
            return s;
    }
    return NULL;
}

static CamasSerializer *
find_by_id(CamasCodec *codec, gint64 type_id)
{
    for (guint i = 0; i < codec->serializers->len; i++) {
        CamasSerializer *s = &g_array_index(codec->serializers, CamasSerializer, i);
        if (s->type_id == type_id)
            return s;
    }
    return NULL;
}

static void
append_serializer(CamasCodec *codec, gint64 type_id, const CamasObjectType *type,
                  CamasSerializeFunc serialize, CamasDeserializeFunc deserialize,
                  gpointer user_data, GDestroyNotify destroy)
{
    CamasSerializer s = {
        .type_id = type_id,
        .type = type,
        .serialize = serialize,
        .deserialize = deserialize,
        .user_data = user_data,
        .destroy = destroy,
    };
    g_array_append_val(codec->serializers, s);
}

gint64
camas_codec_add_serializer(CamasCodec *codec, const CamasObjectType *type,
                           CamasSerializeFunc serialize, CamasDeserializeFunc deserialize,
                           gpointer user_data, GDestroyNotify destroy)
{
    g_return_val_if_fail(codec != NULL, -1);
    g_return_val_if_fail(serialize != NULL && deserialize != NULL, -1);
    /* aiomas raises ValueError for a second serializer of one type: a programming error */
    g_return_val_if_fail(find_by_type(codec, type) == NULL, -1);

    /* aiomas: the id is the number of serializers registered before.  When an explicit id
     * already holds that number (only possible when mixing the two calls), take the next free
     * one so ids stay unique; pure aiomas-style registration never gets here. */
    gint64 type_id = codec->serializers->len;
    while (find_by_id(codec, type_id))
        type_id++;
    append_serializer(codec, type_id, type, serialize, deserialize, user_data, destroy);
    return type_id;
}

gboolean
camas_codec_add_serializer_with_id(CamasCodec *codec, gint64 type_id, const CamasObjectType *type,
                                   CamasSerializeFunc serialize, CamasDeserializeFunc deserialize,
                                   gpointer user_data, GDestroyNotify destroy, GError **error)
{
    g_return_val_if_fail(codec != NULL, FALSE);
    g_return_val_if_fail(serialize != NULL && deserialize != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (type_id < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Serializer type id %" G_GINT64_FORMAT " is negative", type_id);
        return FALSE;
    }
    if (find_by_id(codec, type_id)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "There is already a serializer with type id %" G_GINT64_FORMAT, type_id);
        return FALSE;
    }
    if (find_by_type(codec, type)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "There is already a serializer for type \"%s\"", type ? type->name : "object");
        return FALSE;
    }
    append_serializer(codec, type_id, type, serialize, deserialize, user_data, destroy);
    return TRUE;
}

gboolean
camas__codec_serialize_object(CamasCodec *codec, const CamasValue *object, gint64 *type_id,
                              CamasValue **data, GError **error)
{
    g_assert(camas_value_get_type(object) == CAMAS_VALUE_OBJECT);
    const CamasObjectType *type = camas_value_object_get_type(object);

    /* exact type first, then the catch-all (aiomas: the serializer registered for `object`) */
    CamasSerializer *s = find_by_type(codec, type);
    if (!s)
        s = find_by_type(codec, NULL);
    if (!s) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "No serializer found for type \"%s\"",
                    type && type->name ? type->name : "object");
        return FALSE;
    }

    GError *local = NULL;
    CamasValue *result = s->serialize(object, s->user_data, &local);
    if (!result) {
        /* aiomas wraps the serializer's failure into SerializationError; keep a codec error
         * from a nested encode as it is so it is not wrapped twice */
        if (!local) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Could not serialize object of type \"%s\"",
                        type && type->name ? type->name : "object");
        } else if (g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_CODEC)) {
            g_propagate_error(error, local);
        } else {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Could not serialize object of type \"%s\": %s",
                        type && type->name ? type->name : "object", local->message);
            g_error_free(local);
        }
        return FALSE;
    }
    *type_id = s->type_id;
    *data = result;
    return TRUE;
}

/* A heap copy of the arena parts of @value (values outside arenas are shared by reference).
 * Deserializers get such a copy so that whatever they keep cannot point into the decoder's
 * arena: a heap result holding an arena value, adopted by that same arena, would be a
 * reference cycle that is never freed.  Extension data is small (a path, a date string), so
 * the copy is cheap; its depth is bounded by the decoder's max_depth. */
static CamasValue *
copy_out_of_arena(const CamasValue *value)
{
    if (!(value->flags & CAMAS__VALUE_ARENA))
        return camas_value_ref((CamasValue *)value);

    switch ((CamasValueType)value->type) {
    case CAMAS_VALUE_NULL:
        return camas_value_new_null();
    case CAMAS_VALUE_BOOL:
        return camas_value_new_bool(value->u.b);
    case CAMAS_VALUE_INT:
        return (value->flags & CAMAS__VALUE_UNSIGNED) ? camas_value_new_uint(value->u.u)
                                                      : camas_value_new_int(value->u.i);
    case CAMAS_VALUE_FLOAT:
        return camas_value_new_float(value->u.f);
    case CAMAS_VALUE_STR:
        return camas_value_new_str_len(value->u.str.data, (gssize)value->u.str.len);
    case CAMAS_VALUE_BYTES:
        return camas_value_new_bytes(value->u.str.data, value->u.str.len);
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        gsize n = value->u.seq.len;
        CamasValue **items = g_new(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++)
            items[i] = copy_out_of_arena(value->u.seq.items[i]);
        CamasValue *copy = value->type == CAMAS_VALUE_LIST ? camas_value_new_list_take(items, n)
                                                           : camas_value_new_tuple_take(items, n);
        g_free(items);
        return copy;
    }
    case CAMAS_VALUE_MAP: {
        gsize n = value->u.map.len;
        CamasValue **keys = g_new(CamasValue *, n ? n : 1);
        CamasValue **values = g_new(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++) {
            keys[i] = copy_out_of_arena(value->u.map.entries[i].key);
            values[i] = copy_out_of_arena(value->u.map.entries[i].value);
        }
        /* the keys were unique in the original, so this cannot fail */
        CamasValue *copy = camas_value_new_map_take(keys, values, n, NULL);
        g_assert(copy != NULL);
        g_free(keys);
        g_free(values);
        return copy;
    }
    case CAMAS_VALUE_EXT: {
        g_autoptr(CamasValue) data = copy_out_of_arena(value->u.ext.data);
        return camas_value_new_ext(value->u.ext.id, data);
    }
    case CAMAS_VALUE_OBJECT:
        return camas_value_new_object(value->u.obj.type, value->u.obj.instance);
    }
    g_assert_not_reached();
}

/* @data is lent (transfer none): decoders pass values that live in their arena. */
CamasValue *
camas__codec_deserialize(CamasCodec *codec, gint64 type_id, CamasValue *data, GError **error)
{
    g_autoptr(CamasValue) copy = copy_out_of_arena(data);
    if (codec->raw_ext)
        return camas_value_new_ext(type_id, copy);

    CamasSerializer *s = find_by_id(codec, type_id);
    if (!s) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "Unknown __type__ id %" G_GINT64_FORMAT,
                    type_id);
        return NULL;
    }
    GError *local = NULL;
    CamasValue *result = s->deserialize(copy, s->user_data, &local);
    if (!result) {
        if (local && g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_CODEC)) {
            g_propagate_error(error, local);
        } else {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Could not deserialize __type__ id %" G_GINT64_FORMAT "%s%s", type_id,
                        local ? ": " : "", local ? local->message : "");
            g_clear_error(&local);
        }
        return NULL;
    }
    return result;
}

/* --- encode and decode --------------------------------------------------------------------- */

gboolean
camas_codec_encode(CamasCodec *codec, const CamasValue *value, GByteArray *out, GError **error)
{
    g_return_val_if_fail(codec != NULL, FALSE);
    g_return_val_if_fail(value != NULL, FALSE);
    g_return_val_if_fail(out != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    guint before = out->len;
    if (codec->klass->encode(codec, value, out, error))
        return TRUE;
    g_byte_array_set_size(out, before);
    return FALSE;
}

GBytes *
camas_codec_encode_bytes(CamasCodec *codec, const CamasValue *value, GError **error)
{
    g_return_val_if_fail(codec != NULL, NULL);
    g_return_val_if_fail(value != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    /* most messages are small: one allocation of this size usually suffices */
    GByteArray *out = g_byte_array_sized_new(128);
    if (!codec->klass->encode(codec, value, out, error)) {
        g_byte_array_unref(out);
        return NULL;
    }
    return g_byte_array_free_to_bytes(out);
}

CamasValue *
camas_codec_decode(CamasCodec *codec, const guint8 *data, gsize len, GError **error)
{
    g_return_val_if_fail(codec != NULL, NULL);
    g_return_val_if_fail(data != NULL || len == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    static const guint8 empty[1] = {0};
    return codec->klass->decode(codec, data ? data : empty, len, error);
}
