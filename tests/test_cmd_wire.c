/* SPDX-License-Identifier: MIT */
/* `camas wire decode|encode`, run as a user runs it, on the captured frames of
 * wire-protocol.md §13. */
#include <criterion/criterion.h>
#include <gio/gio.h>
#include <string.h>

#include "leakcheck.h"

TestSuite(cmd_wire, .fini = camas_test_check_leaks);

typedef struct {
    int status;
    char *out; /* NUL-terminated, but may hold NULs: out_len counts them */
    gsize out_len;
    char *err;
} Run;

static void
run_clear(Run *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* A NUL-terminated copy that keeps embedded NULs (frames carry them). */
static char *
dup_bytes(GBytes *b, gsize *len)
{
    gsize n = g_bytes_get_size(b);
    char *s = g_malloc0(n + 1);
    if (n)
        memcpy(s, g_bytes_get_data(b, NULL), n);
    if (len)
        *len = n;
    return s;
}

/* Runs `camas wire ACTION --codec CODEC [--json]` with @input on standard input. */
static Run
run_wire(const char *action, const char *codec, gboolean json, const void *input, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) proc = g_subprocess_new(
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
            G_SUBPROCESS_FLAGS_STDERR_PIPE,
        &error, camas_test_camas_exe(), "wire", action, "--codec", codec,
        json ? "--json" : NULL, NULL);
    cr_assert_not_null(proc, "%s", error ? error->message : "");
    g_autoptr(GBytes) in = g_bytes_new(input, len);
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GBytes) err = NULL;
    cr_assert(g_subprocess_communicate(proc, in, NULL, &out, &err, &error), "%s",
              error ? error->message : "");
    Run r = {.status = g_subprocess_get_exit_status(proc)};
    r.out = dup_bytes(out, &r.out_len);
    r.err = dup_bytes(err, NULL);
    return r;
}

static int
exit_code(const Run *r)
{
    return r->status;
}

static GByteArray *
unhex(const char *hex)
{
    GByteArray *b = g_byte_array_new();
    for (const char *p = hex; *p;) {
        if (!g_ascii_isxdigit(*p)) {
            p++;
            continue;
        }
        guint8 v = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
        g_byte_array_append(b, &v, 1);
        p += 2;
    }
    return b;
}

/* Header + payload for each hex payload. */
static GByteArray *
frames(const char *const *payloads, gsize n)
{
    GByteArray *all = g_byte_array_new();
    for (gsize i = 0; i < n; i++) {
        g_autoptr(GByteArray) p = unhex(payloads[i]);
        guint32 be = GUINT32_TO_BE(p->len);
        g_byte_array_append(all, (const guint8 *)&be, 4);
        g_byte_array_append(all, p->data, p->len);
    }
    return all;
}

/* wire-protocol.md §13 C.4 prints the bin8 frame as 93 00 02 93 ...: an array header of 3
 * items for a 2-item content, so those bytes are truncated msgpack.  The vectors below use 92,
 * the encoding of the value the document names; a test below checks the printed bytes are
 * rejected as truncated rather than misread. */
Test(cmd_wire, decodes_captured_msgpack_frames)
{
    static const char *const c4[] = {
        "930000a46f686169",
        "93010092a57265706c79a46f686169",
        "930201b156616c75654572726f723a20626f6f6d0a",
        "93000292c40200019201cb4004000000000000",
        "93000093a361646492030480",
        "930102cd0400",
        "93010681a85f5f747970655f5f9200a463616c63",
        "930104c0",
    };
    g_autoptr(GByteArray) in = frames(c4, G_N_ELEMENTS(c4));
    Run r = run_wire("decode", "msgpack", FALSE, in->data, in->len);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    cr_assert_str_eq(r.out, "[0, 0, 'ohai']\n"
                            "[1, 0, ['reply', 'ohai']]\n"
                            "[2, 1, 'ValueError: boom\\n']\n"
                            "[0, 2, [b'\\x00\\x01', [1, 2.5]]]\n"
                            "[0, 0, ['add', [3, 4], {}]]\n"
                            "[1, 2, 1024]\n"
                            "[1, 6, ext(0, 'calc')]\n"
                            "[1, 4, None]\n");
    run_clear(&r);
}

Test(cmd_wire, decodes_captured_blosc_frames_as_json_lines)
{
    static const char *const c5[] = {
        "02011308 08000000 08000000 18000000 930000a46f686169",
        "02011308 04000000 01000000 14000000 93010007",
        "02011308 0d000000 08000000 1d000000 930100a94563686f4167656e74",
    };
    g_autoptr(GByteArray) in = frames(c5, G_N_ELEMENTS(c5));
    Run r = run_wire("decode", "msgpack-blosc", TRUE, in->data, in->len);
    cr_assert_eq(exit_code(&r), 0, "%s", r.err);
    cr_assert_str_eq(r.out, "[0, 0, \"ohai\"]\n[1, 0, 7]\n[1, 0, \"EchoAgent\"]\n");
    run_clear(&r);
}

/* Decodes msgpack frames @in to JSON lines, asserts they encode back to the same bytes, and
 * returns the lines. */
static char *
json_round_trip(const GByteArray *in)
{
    Run d = run_wire("decode", "msgpack", TRUE, in->data, in->len);
    cr_assert_eq(exit_code(&d), 0, "%s", d.err);
    Run e = run_wire("encode", "msgpack", FALSE, d.out, strlen(d.out));
    cr_assert_eq(exit_code(&e), 0, "%s", e.err);
    cr_assert_eq(e.out_len, in->len);
    cr_assert_arr_eq(e.out, in->data, in->len);
    run_clear(&e);
    g_free(d.err);
    return d.out;
}

Test(cmd_wire, json_lines_encode_back_to_the_same_frames)
{
    static const char *const c4[] = {
        "93000292c40200019201cb4004000000000000",
        "93000793a863616c6c6261636b9381a85f5f747970655f5f9200a0ab636c69656e745f6563686fa17880",
        "93000293b36167656e74732f302f73686966745f646174659281a85f5f747970655f5f9200b932303136"
        "2d30312d30315430303a30303a30302b30303a3030cd0e1080",
    };
    g_autoptr(GByteArray) in = frames(c4, G_N_ELEMENTS(c4));
    g_autofree char *lines = json_round_trip(in);
    cr_assert(strstr(lines, "{\"$bytes\": \"AAE=\"}"), "%s", lines);
}

Test(cmd_wire, json_codec_frames_match_captured_text)
{
    static const char text[] = "[0, 0, [\"add\", [3, 4], {}]]\n[1, 0, 7]\n";
    Run e = run_wire("encode", "json", FALSE, text, strlen(text));
    cr_assert_eq(exit_code(&e), 0, "%s", e.err);
    static const char expect[] = "\x00\x00\x00\x1b[0, 0, [\"add\", [3, 4], {}]]"
                                 "\x00\x00\x00\x09[1, 0, 7]";
    cr_assert_eq(e.out_len, sizeof expect - 1);
    cr_assert_arr_eq(e.out, expect, sizeof expect - 1);
    run_clear(&e);
}

Test(cmd_wire, errors_name_frame_and_offset_and_go_on)
{
    /* frame 1 fine, frame 2 not a triple, frame 3 fine, then a truncated frame */
    static const char in[] = "\x00\x00\x00\x0e[0, 0, \"ohai\"]"
                             "\x00\x00\x00\x02[]"
                             "\x00\x00\x00\x09[1, 0, 7]"
                             "\x00\x00\x00\x20[0,";
    Run r = run_wire("decode", "json", FALSE, in, sizeof in - 1);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert_str_eq(r.out, "[0, 0, 'ohai']\n[1, 0, 7]\n");
    cr_assert(strstr(r.err, "frame 2 at byte 18:"), "%s", r.err);
    cr_assert(strstr(r.err, "frame 4 at byte 37: the input ends inside it"), "%s", r.err);
    run_clear(&r);
}

Test(cmd_wire, truncated_msgpack_from_the_document_is_reported)
{
    static const char *const bad[] = {"93000293c40200019201cb4004000000000000"};
    g_autoptr(GByteArray) in = frames(bad, 1);
    Run r = run_wire("decode", "msgpack", FALSE, in->data, in->len);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert_str_eq(r.out, "");
    cr_assert(strstr(r.err, "frame 1 at byte 0") && strstr(r.err, "truncated"), "%s", r.err);
    run_clear(&r);
}

Test(cmd_wire, oversized_announcement_stops_with_error)
{
    static const char in[] = "\xff\xff\xff\xff[0, 0, 1]";
    Run r = run_wire("decode", "json", FALSE, in, sizeof in - 1);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert(strstr(r.err, "frame 1") && strstr(r.err, "4294967295"), "%s", r.err);
    run_clear(&r);
}

/* msgpack maps may have non-string keys; a map whose lone key is a tag name must not turn into
 * the tagged value on the way back. */
Test(cmd_wire, maps_json_cannot_hold_round_trip_as_map_pairs)
{
    static const char *const payloads[] = {
        "930100 83 01a161 c3c0 a16202",
        "930101 81 a62462797465 73 a178",
    };
    g_autoptr(GByteArray) in = frames(payloads, G_N_ELEMENTS(payloads));
    g_autofree char *lines = json_round_trip(in);
    cr_assert_str_eq(lines, "[1, 0, {\"$map\": [[1, \"a\"], [true, null], [\"b\", 2]]}]\n"
                            "[1, 1, {\"$map\": [[\"$bytes\", \"x\"]]}]\n");

    static const char *const bad[] = {
        "[0, 1, {\"$map\": 5}]\n",
        "[0, 1, {\"$map\": [[1]]}]\n",
        "[0, 1, {\"$map\": [[[1], 2]]}]\n",
        "[0, 1, {\"$map\": [[1, 2], [1, 3]]}]\n",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        Run r = run_wire("encode", "msgpack", FALSE, bad[i], strlen(bad[i]));
        cr_assert_eq(exit_code(&r), 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "line 1"), "case %zu: %s", i, r.err);
        run_clear(&r);
    }
}

Test(cmd_wire, bad_arguments_and_lines_are_reported)
{
    Run r = run_wire("decode", "nope", FALSE, "", 0);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert(strstr(r.err, "nope") && strstr(r.err, "msgpack"), "%s", r.err);
    run_clear(&r);
    static const char lines[] = "[0, 1, 2]\n\n[5, 1, 2]\n";
    r = run_wire("encode", "json", FALSE, lines, sizeof lines - 1);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert(strstr(r.err, "line 3"), "%s", r.err);
    run_clear(&r);
    static const char bad_b64[] = "[0, 1, {\"$bytes\": \"!!\"}]\n";
    r = run_wire("encode", "msgpack", FALSE, bad_b64, sizeof bad_b64 - 1);
    cr_assert_eq(exit_code(&r), 2);
    cr_assert(strstr(r.err, "line 1") && strstr(r.err, "base64"), "%s", r.err);
    run_clear(&r);
}
