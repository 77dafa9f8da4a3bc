/* SPDX-License-Identifier: MIT */
/*
 * Values: the immutable, reference-counted tree of everything that travels between agents
 * (the layer under the codecs).  A value is never changed after construction, so sharing one
 * between connections, traces and user code needs no copies.
 *
 * Ownership: constructors return a new reference; `_take` variants steal the references they
 * are given; getters lend (the result lives as long as the value it came from).
 * Values decoded from a message live in one arena; a reference to any value of that tree keeps
 * the whole arena alive, which is invisible to users.
 */
#pragma once

#include <camas/error.h>

G_BEGIN_DECLS

typedef enum {
    CAMAS_VALUE_NULL = 0,
    CAMAS_VALUE_BOOL,
    CAMAS_VALUE_INT,   /* the whole int64 and uint64 range */
    CAMAS_VALUE_FLOAT, /* IEEE double, NaN and infinities included */
    CAMAS_VALUE_STR,   /* valid UTF-8, may contain NUL */
    CAMAS_VALUE_BYTES,
    CAMAS_VALUE_LIST,
    CAMAS_VALUE_TUPLE, /* a list that prints as (...); the same array on the wire */
    CAMAS_VALUE_MAP,   /* insertion ordered, unique keys (str or another scalar) */
    CAMAS_VALUE_EXT,   /* an undecoded extension: {"__type__": [type_id, data]} */
    CAMAS_VALUE_OBJECT /* a native object that a codec serializer turns into an EXT */
} CamasValueType;

typedef struct _CamasValue CamasValue;

/**
 * CamasObjectType: how the value tree handles a native object it carries (a date, an RPC
 * proxy, a service).  One static const instance per kind of object; its address identifies
 * the kind, so codecs can look serializers up by it.
 */
typedef struct {
    const char *name;                        /* class name shown by repr, e.g. "Date" */
    gpointer (*ref)(gpointer instance);      /* takes a reference; NULL = not refcounted */
    void (*unref)(gpointer instance);        /* drops one; NULL = never freed by values */
    gboolean (*equal)(gconstpointer a, gconstpointer b); /* NULL = identity */
    void (*repr)(gconstpointer instance, GString *out);  /* NULL = "<name object>" */
} CamasObjectType;

/* --- scalars ------------------------------------------------------------------------------ */

/* The three constants are static singletons: ref/unref on them is free. */
CAMAS_API CamasValue *camas_value_new_null(void);
CAMAS_API CamasValue *camas_value_new_bool(gboolean b);
CAMAS_API CamasValue *camas_value_new_int(gint64 i);
CAMAS_API CamasValue *camas_value_new_uint(guint64 u);
CAMAS_API CamasValue *camas_value_new_float(double d);

/**
 * camas_value_new_str / _str_len:
 * @utf8: text; must be valid UTF-8 (a contract: callers holding untrusted bytes use
 *        camas_value_new_str_checked())
 * @len: length in bytes, or -1 for NUL-terminated
 */
CAMAS_API CamasValue *camas_value_new_str(const char *utf8);
CAMAS_API CamasValue *camas_value_new_str_len(const char *utf8, gssize len);
/* As above, but invalid UTF-8 gives a CAMAS_ERROR_CODEC error naming the byte offset. */
CAMAS_API CamasValue *camas_value_new_str_checked(const char *data, gsize len, GError **error);
CAMAS_API CamasValue *camas_value_new_printf(const char *format, ...) G_GNUC_PRINTF(1, 2);
CAMAS_API CamasValue *camas_value_new_bytes(gconstpointer data, gsize len);

/* --- containers ---------------------------------------------------------------------------- */

/* @items: n values; `_new_` takes its own references, `_take` steals the caller's. */
CAMAS_API CamasValue *camas_value_new_list(CamasValue *const *items, gsize n);
CAMAS_API CamasValue *camas_value_new_list_take(CamasValue **items, gsize n);
CAMAS_API CamasValue *camas_value_new_tuple(CamasValue *const *items, gsize n);
CAMAS_API CamasValue *camas_value_new_tuple_take(CamasValue **items, gsize n);

/**
 * camas_value_new_map / _map_take:
 * @keys, @values: n keys and n values, in the order to keep.  Keys must be scalars (null,
 * bool, int, float, str, bytes).  A duplicate key is a CAMAS_ERROR_INVALID error naming it;
 * on error nothing is taken.
 */
CAMAS_API CamasValue *camas_value_new_map(CamasValue *const *keys, CamasValue *const *values,
                                          gsize n, GError **error);
CAMAS_API CamasValue *camas_value_new_map_take(CamasValue **keys, CamasValue **values, gsize n,
                                               GError **error);

/* An extension value as it travels: {"__type__": [type_id, data]}.  Steals nothing. */
CAMAS_API CamasValue *camas_value_new_ext(gint64 type_id, CamasValue *data);

/* A native object; takes a reference through type->ref when it has one. */
CAMAS_API CamasValue *camas_value_new_object(const CamasObjectType *type, gpointer instance);

/* --- building from a format string -------------------------------------------------------- */

/**
 * camas_value_build:
 * @format: jansson-style description of the value, e.g. "[i s {s:f}]":
 *   n null · b gboolean · i int · I gint64 · U guint64 · f double · s const char* (UTF-8) ·
 *   s# const char*, gssize · y gconstpointer, gsize (bytes) · v CamasValue* (new ref taken) ·
 *   V CamasValue* (stolen) · [..] list · (..) tuple · {k:v ...} map with "s" or "v" keys.
 *   Spaces, commas and colons are separators.
 *
 * A malformed format string is a programming error (g_critical, returns NULL).
 */
CAMAS_API CamasValue *camas_value_build(const char *format, ...);
CAMAS_API CamasValue *camas_value_build_va(const char *format, va_list *ap);

/**
 * camas_value_unpack:
 * @value: (transfer none): the value to read
 * @format: the same letters as camas_value_build, with pointers to fill: i gint* (range
 *   checked) · I gint64* · U guint64* · f double* (ints accepted) · b gboolean* · s const char**
 *   (borrowed) · y const guint8**, gsize* · v CamasValue** (borrowed) · n nothing ·
 *   ? makes the next map entry optional (its pointer is left unchanged when absent) ·
 *   [..] list or tuple of exactly that many items · {s:x ...} map lookups by key.
 *
 * Returns: FALSE with a CAMAS_ERROR_TYPE error saying which part had which type when @value
 * does not have the described shape.
 */
CAMAS_API gboolean camas_value_unpack(const CamasValue *value, GError **error,
                                      const char *format, ...);

/* --- reference counting ------------------------------------------------------------------- */

CAMAS_API CamasValue *camas_value_ref(CamasValue *value);
CAMAS_API void camas_value_unref(CamasValue *value);

/* --- reading ------------------------------------------------------------------------------ */

CAMAS_API CamasValueType camas_value_get_type(const CamasValue *value);
/* "null", "bool", "int", "float", "str", "bytes", "list", "tuple", "map", "ext", "object" */
CAMAS_API const char *camas_value_type_name(CamasValueType type);

CAMAS_API gboolean camas_value_is_null(const CamasValue *value);
/* list or tuple */
CAMAS_API gboolean camas_value_is_sequence(const CamasValue *value);

/* Checked readers: on a type mismatch or out-of-range number they set CAMAS_ERROR_TYPE
 * (naming both types) and return FALSE or NULL. */
CAMAS_API gboolean camas_value_to_bool(const CamasValue *value, gboolean *out, GError **error);
CAMAS_API gboolean camas_value_to_int64(const CamasValue *value, gint64 *out, GError **error);
CAMAS_API gboolean camas_value_to_uint64(const CamasValue *value, guint64 *out, GError **error);
/* ints are converted (as Python does for float arithmetic) */
CAMAS_API gboolean camas_value_to_double(const CamasValue *value, double *out, GError **error);
CAMAS_API const char *camas_value_to_str(const CamasValue *value, gsize *len, GError **error);
CAMAS_API const guint8 *camas_value_to_bytes(const CamasValue *value, gsize *len,
                                             GError **error);

/* Unchecked fast readers: calling them on the wrong type is a programming error
 * (g_return_val_if_fail). */
CAMAS_API gboolean camas_value_get_bool(const CamasValue *value);
CAMAS_API gint64 camas_value_get_int(const CamasValue *value);   /* as int64 (wraps) */
CAMAS_API guint64 camas_value_get_uint(const CamasValue *value);  /* as uint64 (wraps) */
/* TRUE when the int is above G_MAXINT64, i.e. only representable as uint64 */
CAMAS_API gboolean camas_value_int_is_unsigned(const CamasValue *value);
CAMAS_API double camas_value_get_float(const CamasValue *value);
CAMAS_API const char *camas_value_get_str(const CamasValue *value, gsize *len);
CAMAS_API const guint8 *camas_value_get_bytes(const CamasValue *value, gsize *len);

/* Number of items of a list/tuple/map, bytes of str/bytes, 0 for others. */
CAMAS_API gsize camas_value_get_length(const CamasValue *value);
/* (transfer none) item @index of a list or tuple */
CAMAS_API CamasValue *camas_value_get_item(const CamasValue *value, gsize index);
/* (transfer none) key / value of map entry @index, in insertion order */
CAMAS_API CamasValue *camas_value_map_get_key(const CamasValue *value, gsize index);
CAMAS_API CamasValue *camas_value_map_get_value(const CamasValue *value, gsize index);
/* (transfer none) the value stored under the str key @key, or NULL */
CAMAS_API CamasValue *camas_value_map_lookup(const CamasValue *value, const char *key);
/* (transfer none) the value stored under any scalar key, or NULL */
CAMAS_API CamasValue *camas_value_map_lookup_value(const CamasValue *value,
                                                   const CamasValue *key);

CAMAS_API gint64 camas_value_ext_get_type_id(const CamasValue *value);
CAMAS_API CamasValue *camas_value_ext_get_data(const CamasValue *value); /* transfer none */
CAMAS_API const CamasObjectType *camas_value_object_get_type(const CamasValue *value);
CAMAS_API gpointer camas_value_object_get_instance(const CamasValue *value); /* transfer none */

/* --- comparing and printing ---------------------------------------------------------------- */

/**
 * camas_value_equal: deep equality.  Ints compare by numeric value; an int never equals a
 * float (the wire keeps them apart); NaN equals NaN (so round trips can be checked); list and
 * tuple with equal items are equal (they are the same on the wire); maps compare in order.
 */
CAMAS_API gboolean camas_value_equal(const CamasValue *a, const CamasValue *b);

/**
 * camas_value_repr: Python-like text: None, True, 42, 1.0, nan, inf, 'text', b'\x00',
 * [1, 2], (1,), {'a': 1}, ext(0, 'calc'), <Date 2016-01-01T00:00:00+00:00>.  Deterministic:
 * used in logs and traces.
 */
CAMAS_API char *camas_value_repr(const CamasValue *value);
CAMAS_API void camas_value_repr_append(const CamasValue *value, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasValue, camas_value_unref)

G_END_DECLS
