/* SPDX-License-Identifier: MIT */
/*
 * `camas wire decode|encode`: turns a stream of aiomas frames into one line per frame (a
 * Python-like repr, or JSON) and back.  Users debug interop with it; tests feed it captured
 * bytes.  In JSON lines, values JSON cannot hold are written as one-key objects:
 * bytes as {"$bytes": "<base64>"}, NaN and infinities as {"$float": "NaN"|"Infinity"|
 * "-Infinity"}, and maps JSON objects cannot hold (a key that is not a string, or a lone key
 * that is one of these tags) as {"$map": [[key, value], ...]}, so every line stays strict JSON
 * and `encode` gives back the bytes `decode` read.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <camas/camas.h>

#include "camas.h"

#define CMD "wire"

/* --- the JSON-lines convention ----------------------------------------------------------- */

static CamasValue *
tag(const char *key, CamasValue *data)
{
    CamasValue *k = camas_value_new_str(key);
    return camas_value_new_map_take(&k, &data, 1, NULL);
}

static gboolean
is_tag(const char *key)
{
    return !strcmp(key, "$bytes") || !strcmp(key, "$float") || !strcmp(key, "$map");
}

/* Whether a JSON object cannot carry map @v as it is. */
static gboolean
needs_map_tag(CamasValue *v)
{
    gsize n = camas_value_get_length(v);
    for (gsize i = 0; i < n; i++) {
        CamasValue *k = camas_value_map_get_key(v, i);
        if (camas_value_get_type(k) != CAMAS_VALUE_STR)
            return TRUE;
    }
    return n == 1 && is_tag(camas_value_get_str(camas_value_map_get_key(v, 0), NULL));
}

static CamasValue *to_json_safe(CamasValue *v);

static CamasValue *
map_to_pairs(CamasValue *v)
{
    gsize n = camas_value_get_length(v);
    CamasValue **pairs = g_new(CamasValue *, n ? n : 1);
    for (gsize i = 0; i < n; i++) {
        CamasValue *kv[2] = {to_json_safe(camas_value_map_get_key(v, i)),
                             to_json_safe(camas_value_map_get_value(v, i))};
        pairs[i] = camas_value_new_list_take(kv, 2);
    }
    CamasValue *r = camas_value_new_list_take(pairs, n);
    g_free(pairs);
    return tag("$map", r);
}

/* (transfer full) @v with bytes, non-finite floats and un-JSON-able maps replaced by their
 * tagged objects */
static CamasValue *
to_json_safe(CamasValue *v)
{
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_BYTES: {
        gsize len;
        const guint8 *d = camas_value_get_bytes(v, &len);
        g_autofree char *b64 = g_base64_encode(d, len);
        return tag("$bytes", camas_value_new_str(b64));
    }
    case CAMAS_VALUE_FLOAT: {
        double d = camas_value_get_float(v);
        if (isnan(d))
            return tag("$float", camas_value_new_str("NaN"));
        if (isinf(d))
            return tag("$float", camas_value_new_str(d > 0 ? "Infinity" : "-Infinity"));
        return camas_value_ref(v);
    }
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        gsize n = camas_value_get_length(v);
        CamasValue **items = g_new(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++)
            items[i] = to_json_safe(camas_value_get_item(v, i));
        CamasValue *r = camas_value_new_list_take(items, n);
        g_free(items);
        return r;
    }
    case CAMAS_VALUE_MAP: {
        if (needs_map_tag(v))
            return map_to_pairs(v);
        gsize n = camas_value_get_length(v);
        CamasValue **keys = g_new(CamasValue *, n ? n : 1);
        CamasValue **vals = g_new(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++) {
            keys[i] = camas_value_ref(camas_value_map_get_key(v, i));
            vals[i] = to_json_safe(camas_value_map_get_value(v, i));
        }
        CamasValue *r = camas_value_new_map_take(keys, vals, n, NULL);
        g_free(keys);
        g_free(vals);
        return r;
    }
    case CAMAS_VALUE_EXT: {
        g_autoptr(CamasValue) data = to_json_safe(camas_value_ext_get_data(v));
        return camas_value_new_ext(camas_value_ext_get_type_id(v), data);
    }
    default:
        return camas_value_ref(v);
    }
}

static gboolean
is_base64(const char *s, gsize len)
{
    if (len % 4)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        char c = s[i];
        gboolean pad_ok = c == '=' && i >= len - 2 && (i == len - 1 || s[len - 1] == '=');
        if (!g_ascii_isalnum(c) && c != '+' && c != '/' && !pad_ok)
            return FALSE;
    }
    return TRUE;
}

static CamasValue *from_json_safe(CamasValue *v, GError **error);

static CamasValue *
pairs_to_map(CamasValue *pairs, GError **error)
{
    if (camas_value_get_type(pairs) != CAMAS_VALUE_LIST) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "{\"$map\": ...} needs a list of [key, value] pairs");
        return NULL;
    }
    gsize n = camas_value_get_length(pairs);
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func((GDestroyNotify)camas_value_unref);
    g_autoptr(GPtrArray) vals = g_ptr_array_new_with_free_func((GDestroyNotify)camas_value_unref);
    for (gsize i = 0; i < n; i++) {
        CamasValue *p = camas_value_get_item(pairs, i);
        if (camas_value_get_type(p) != CAMAS_VALUE_LIST || camas_value_get_length(p) != 2) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "{\"$map\": ...}: item %zu is not a [key, value] pair", i);
            return NULL;
        }
        CamasValue *k = from_json_safe(camas_value_get_item(p, 0), error);
        if (!k)
            return NULL;
        g_ptr_array_add(keys, k);
        CamasValue *val = from_json_safe(camas_value_get_item(p, 1), error);
        if (!val)
            return NULL;
        g_ptr_array_add(vals, val);
    }
    CamasValue *r = camas_value_new_map_take((CamasValue **)keys->pdata, (CamasValue **)vals->pdata,
                                             n, error);
    if (r) { /* the map owns the items now */
        g_ptr_array_set_free_func(keys, NULL);
        g_ptr_array_set_free_func(vals, NULL);
    }
    return r;
}

/* (transfer full) the inverse of to_json_safe, or NULL with an error naming the bad tag */
static CamasValue *
from_json_safe(CamasValue *v, GError **error)
{
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE: {
        gsize n = camas_value_get_length(v);
        CamasValue **items = g_new0(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++) {
            if (!(items[i] = from_json_safe(camas_value_get_item(v, i), error))) {
                for (gsize j = 0; j < i; j++)
                    camas_value_unref(items[j]);
                g_free(items);
                return NULL;
            }
        }
        CamasValue *r = camas_value_new_list_take(items, n);
        g_free(items);
        return r;
    }
    case CAMAS_VALUE_MAP: {
        gsize n = camas_value_get_length(v);
        CamasValue *k0 = n == 1 ? camas_value_map_get_key(v, 0) : NULL;
        CamasValue *v0 = n == 1 ? camas_value_map_get_value(v, 0) : NULL;
        const char *key = k0 && camas_value_get_type(k0) == CAMAS_VALUE_STR
                              ? camas_value_get_str(k0, NULL)
                              : NULL;
        if (key && !strcmp(key, "$bytes")) {
            gsize len;
            const char *s = camas_value_to_str(v0, &len, NULL);
            if (!s || !is_base64(s, len)) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "{\"$bytes\": ...} needs a base64 string");
                return NULL;
            }
            gsize dlen = 0;
            g_autofree guchar *data = g_base64_decode(s, &dlen);
            return camas_value_new_bytes(data, dlen);
        }
        if (key && !strcmp(key, "$map"))
            return pairs_to_map(v0, error);
        if (key && !strcmp(key, "$float")) {
            const char *s = camas_value_to_str(v0, NULL, NULL);
            if (s && !strcmp(s, "NaN"))
                return camas_value_new_float(NAN);
            if (s && !strcmp(s, "Infinity"))
                return camas_value_new_float(INFINITY);
            if (s && !strcmp(s, "-Infinity"))
                return camas_value_new_float(-INFINITY);
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "{\"$float\": ...} needs \"NaN\", \"Infinity\" or \"-Infinity\"");
            return NULL;
        }
        CamasValue **keys = g_new0(CamasValue *, n ? n : 1);
        CamasValue **vals = g_new0(CamasValue *, n ? n : 1);
        gboolean ok = TRUE;
        for (gsize i = 0; i < n && ok; i++) {
            keys[i] = camas_value_ref(camas_value_map_get_key(v, i));
            ok = (vals[i] = from_json_safe(camas_value_map_get_value(v, i), error)) != NULL;
        }
        CamasValue *r = ok ? camas_value_new_map_take(keys, vals, n, error) : NULL;
        if (!r) {
            for (gsize i = 0; i < n; i++) {
                if (keys[i])
                    camas_value_unref(keys[i]);
                if (vals[i])
                    camas_value_unref(vals[i]);
            }
        }
        g_free(keys);
        g_free(vals);
        return r;
    }
    case CAMAS_VALUE_EXT: {
        g_autoptr(CamasValue) data = from_json_safe(camas_value_ext_get_data(v), error);
        return data ? camas_value_new_ext(camas_value_ext_get_type_id(v), data) : NULL;
    }
    default:
        return camas_value_ref(v);
    }
}

/* --- decode ------------------------------------------------------------------------------ */

typedef struct {
    CamasCodec *codec;
    CamasCodec *json; /* for --json output */
    gboolean as_json;
    guint64 frames;
    guint errors;
} DecodeState;

static void
print_frame(DecodeState *st, GBytes *payload, guint64 offset)
{
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(payload, &len);
    CamasMsgType type;
    g_autoptr(CamasValue) id = NULL;
    g_autoptr(CamasValue) content = NULL;
    st->frames++;
    if (!camas_frame_decode(st->codec, data, len, &type, &id, &content, &error)) {
        fprintf(stderr, "camas wire: frame %" G_GUINT64_FORMAT " at byte %" G_GUINT64_FORMAT
                        ": %s\n",
                st->frames, offset, error->message);
        st->errors++;
        return;
    }
    g_autoptr(CamasValue) type_value = camas_value_new_int(type);
    CamasValue *items[3] = {type_value, id, content};
    g_autoptr(CamasValue) triple = camas_value_new_list(items, 3);
    if (!st->as_json) {
        g_autofree char *repr = camas_value_repr(triple);
        printf("%s\n", repr);
        return;
    }
    g_autoptr(CamasValue) safe = to_json_safe(triple);
    g_autoptr(GByteArray) out = g_byte_array_new();
    if (!camas_codec_encode(st->json, safe, out, &error)) {
        fprintf(stderr, "camas wire: frame %" G_GUINT64_FORMAT " at byte %" G_GUINT64_FORMAT
                        ": cannot be written as JSON: %s\n",
                st->frames, offset, error->message);
        st->errors++;
        return;
    }
    fwrite(out->data, 1, out->len, stdout);
    putchar('\n');
}

static FILE *
open_input(const char *path, const char *mode)
{
    if (!path || !strcmp(path, "-"))
        return stdin;
    FILE *f = fopen(path, mode);
    if (!f)
        camas_cmd_fail(CMD, "cannot open %s: %s", path, g_strerror(errno));
    return f;
}

static CamasCodec *
open_codec(const char *name, gboolean raw_ext)
{
    g_autoptr(GError) error = NULL;
    if (!name) {
        g_autofree char *names = g_strjoinv(", ", (char **)camas_codec_list_names());
        camas_cmd_fail(CMD, "--codec is required (one of: %s)", names);
        return NULL;
    }
    CamasCodec *codec = camas_codec_new(name, &error);
    if (!codec) {
        camas_cmd_fail(CMD, "%s", error->message);
        return NULL;
    }
    camas_codec_set_raw_ext(codec, raw_ext);
    return codec;
}

static int
wire_decode(const char *codec_name, gboolean as_json, gsize max_size, const char *path)
{
    DecodeState st = {.as_json = as_json};
    g_autoptr(CamasCodec) codec = st.codec = open_codec(codec_name, TRUE);
    if (!codec)
        return CAMAS_EXIT_USAGE;
    g_autoptr(CamasCodec) json = st.json = camas_codec_new("json", NULL);
    camas_codec_set_raw_ext(json, TRUE);
    FILE *in = open_input(path, "rb");
    if (!in)
        return CAMAS_EXIT_USAGE;
    g_autoptr(CamasFrameParser) parser = camas_frame_parser_new(max_size);
    guint8 buf[65536];
    gsize n;
    guint64 total = 0;
    int rc = CAMAS_EXIT_OK;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        total += n;
        camas_frame_parser_feed(parser, buf, n);
        GBytes *payload;
        g_autoptr(GError) error = NULL;
        while ((payload = camas_frame_parser_next(parser, &error))) {
            print_frame(&st, payload, camas_frame_parser_get_frame_offset(parser));
            g_bytes_unref(payload);
        }
        if (error) {
            fflush(stdout);
            fprintf(stderr, "camas wire: frame %" G_GUINT64_FORMAT ": %s\n", st.frames + 1,
                    error->message);
            rc = CAMAS_EXIT_USAGE;
            break;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "camas wire: read error: %s\n", g_strerror(errno));
        rc = CAMAS_EXIT_USAGE;
    } else if (rc == CAMAS_EXIT_OK && camas_frame_parser_get_buffered(parser) > 0) {
        fflush(stdout);
        gsize partial = camas_frame_parser_get_buffered(parser);
        fprintf(stderr, "camas wire: frame %" G_GUINT64_FORMAT " at byte %" G_GUINT64_FORMAT
                        ": the input ends inside it (%" G_GSIZE_FORMAT " bytes of a partial "
                        "frame)\n",
                st.frames + 1, total - partial, partial);
        rc = CAMAS_EXIT_USAGE;
    }
    if (in != stdin)
        fclose(in);
    fflush(stdout);
    return st.errors ? CAMAS_EXIT_USAGE : rc;
}

/* --- encode ------------------------------------------------------------------------------ */

static gboolean
encode_line(CamasCodec *codec, CamasCodec *json, const char *line, gsize len, gsize max_size,
            GError **error)
{
    g_autoptr(CamasValue) raw = camas_codec_decode(json, (const guint8 *)line, len, error);
    if (!raw)
        return FALSE;
    g_autoptr(CamasValue) v = from_json_safe(raw, error);
    if (!v)
        return FALSE;
    gint64 type;
    if (!camas_value_is_sequence(v) || camas_value_get_length(v) != 3 ||
        !camas_value_to_int64(camas_value_get_item(v, 0), &type, NULL) || type < 0 ||
        type > 2) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "expected [msg_type (0, 1 or 2), msg_id, content]");
        return FALSE;
    }
    g_autoptr(GBytes) frame = camas_frame_encode(codec, (CamasMsgType)type,
                                                 camas_value_get_item(v, 1),
                                                 camas_value_get_item(v, 2), max_size, error);
    if (!frame)
        return FALSE;
    fwrite(g_bytes_get_data(frame, NULL), 1, g_bytes_get_size(frame), stdout);
    return TRUE;
}

static int
wire_encode(const char *codec_name, gsize max_size, const char *path)
{
    g_autoptr(CamasCodec) codec = open_codec(codec_name, FALSE);
    if (!codec)
        return CAMAS_EXIT_USAGE;
    g_autoptr(CamasCodec) json = camas_codec_new("json", NULL);
    camas_codec_set_raw_ext(json, TRUE);
    FILE *in = open_input(path, "r");
    if (!in)
        return CAMAS_EXIT_USAGE;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    guint64 lineno = 0;
    int rc = CAMAS_EXIT_OK;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        gsize skip = 0;
        while (skip < (gsize)len && g_ascii_isspace(line[skip]))
            skip++;
        if (skip == (gsize)len)
            continue;
        g_autoptr(GError) error = NULL;
        if (!encode_line(codec, json, line, (gsize)len, max_size, &error)) {
            fflush(stdout);
            fprintf(stderr, "camas wire: line %" G_GUINT64_FORMAT ": %s\n", lineno,
                    error->message);
            rc = CAMAS_EXIT_USAGE;
            break;
        }
    }
    free(line);
    if (in != stdin)
        fclose(in);
    fflush(stdout);
    return rc;
}

/* --- command line ------------------------------------------------------------------------ */

static int
wire_main(int argc, char **argv)
{
    g_autofree char *codec = NULL;
    gboolean as_json = FALSE;
    gint64 max_size = (gint64)CAMAS_FRAME_DEFAULT_MAX_SIZE;
    GOptionEntry entries[] = {
        {"codec", 'c', 0, G_OPTION_ARG_STRING, &codec, "json, msgpack or msgpack-blosc", "C"},
        {"json", 'j', 0, G_OPTION_ARG_NONE, &as_json, "decode: print JSON lines", NULL},
        {"max-size", 0, 0, G_OPTION_ARG_INT64, &max_size, "largest payload in bytes", "N"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("decode|encode [FILE]");
    g_option_context_set_summary(ctx,
        "decode: frames (stdin or FILE) -> one line per frame: [msg_type, msg_id, content]\n"
        "encode: JSON lines [msg_type, msg_id, content] -> frames on stdout\n"
        "In JSON lines bytes are {\"$bytes\": \"<base64>\"}, NaN/inf are "
        "{\"$float\": \"NaN\"}, and maps with non-string keys are {\"$map\": [[k, v], ...]}.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return camas_cmd_fail(CMD, "%s", error->message);
    if (argc < 2 || argc > 3)
        return camas_cmd_fail(CMD, "usage: camas wire decode|encode --codec C [FILE]");
    if (max_size < 1 || (guint64)max_size > CAMAS_FRAME_WIRE_MAX_SIZE)
        return camas_cmd_fail(CMD, "--max-size must be between 1 and %" G_GSIZE_FORMAT,
                              CAMAS_FRAME_WIRE_MAX_SIZE);
    const char *path = argc == 3 ? argv[2] : NULL;
    if (!strcmp(argv[1], "decode"))
        return wire_decode(codec, as_json, (gsize)max_size, path);
    if (!strcmp(argv[1], "encode")) {
        if (as_json)
            return camas_cmd_fail(CMD, "--json only applies to decode");
        return wire_encode(codec, (gsize)max_size, path);
    }
    return camas_cmd_fail(CMD, "unknown action '%s' (expected decode or encode)", argv[1]);
}

const CamasCommand camas__command_wire = {
    .name = "wire",
    .summary = "decode or encode a stream of aiomas frames",
    .main = wire_main,
};
