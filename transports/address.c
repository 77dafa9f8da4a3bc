/* SPDX-License-Identifier: MIT */
/*
 * Transport addresses (camas/transport.h): parsing the forms users write (aiomas' URL forms
 * and the short HOST:PORT / unix:PATH forms), the canonical text, copying and comparing.
 * Pure string work: nothing here resolves names or touches the network.
 */
#include <string.h>

#include "transport-private.h"

static const char *const known_schemes = "tcp://, tls://, ipc://, unix:, local://";

static CamasAddress *
address_new(CamasAddressKind kind)
{
    CamasAddress *a = g_new0(CamasAddress, 1);
    a->kind = kind;
    return a;
}

/* A decimal port 0..65535, the whole of @text. */
static gboolean
parse_port(const char *text, const char *whole, guint16 *port, GError **error)
{
    if (*text == '\0') {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "missing port in address '%s'",
                    whole);
        return FALSE;
    }
    guint v = 0;
    gsize n = 0;
    for (const char *p = text; *p; p++, n++) {
        if (!g_ascii_isdigit(*p) || n >= 5 || (v = v * 10 + (guint)(*p - '0')) > 65535) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "bad port '%s' in address '%s' (a number from 0 to 65535)", text,
                        whole);
            return FALSE;
        }
    }
    *port = (guint16)v;
    return TRUE;
}

/* HOST:PORT or [V6]:PORT. */
static CamasAddress *
parse_host_port(const char *text, const char *whole, gboolean tls, GError **error)
{
    g_autofree char *host = NULL;
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "unbalanced '[' in address '%s'", whole);
            return NULL;
        }
        if (close[1] != ':') {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        close[1] ? "expected ':' and a port after ']' in address '%s'"
                                 : "missing port in address '%s'",
                        whole);
            return NULL;
        }
        host = g_strndup(text + 1, (gsize)(close - text - 1));
        if (strchr(host, '[') || strchr(host, ']')) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "unbalanced brackets in address '%s'", whole);
            return NULL;
        }
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "missing port in address '%s' (expected HOST:PORT)", whole);
            return NULL;
        }
        host = g_strndup(text, (gsize)(colon - text));
        if (strchr(host, ':')) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "an IPv6 host needs brackets in address '%s' (e.g. [::1]:5555)", whole);
            return NULL;
        }
        if (strchr(host, ']') || strchr(host, '[')) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "unbalanced brackets in address '%s'", whole);
            return NULL;
        }
        port = colon + 1;
    }
    for (const char *p = host; *p; p++) {
        if (*p == '/' || g_ascii_isspace(*p) || (guchar)*p < 0x20) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "bad character '%c' in the host of address '%s'", *p, whole);
            return NULL;
        }
    }
    guint16 portnum;
    if (!parse_port(port, whole, &portnum, error))
        return NULL;
    CamasAddress *a = address_new(CAMAS_ADDRESS_TCP);
    a->host = g_steal_pointer(&host);
    a->port = portnum;
    a->tls = tls;
    return a;
}

static CamasAddress *
parse_ipc(const char *text, const char *whole, GError **error)
{
    g_autofree char *path = NULL;
    if (text[0] == '[') {
        /* ipc://[PATH]: the brackets delimit paths that contain '/' from a following agent id;
         * the path itself may contain anything but ']' */
        const char *close = strchr(text, ']');
        if (close == NULL) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "unbalanced '[' in address '%s'", whole);
            return NULL;
        }
        if (close[1] != '\0') {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "unexpected '%s' after ']' in address '%s'", close + 1, whole);
            return NULL;
        }
        path = g_strndup(text + 1, (gsize)(close - text - 1));
    } else {
        path = g_strdup(text);
    }
    if (path[0] == '\0') {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "empty socket path in address '%s'",
                    whole);
        return NULL;
    }
    CamasAddress *a = address_new(CAMAS_ADDRESS_IPC);
    a->path = g_steal_pointer(&path);
    return a;
}

static CamasAddress *
parse_local(const char *text, const char *whole, GError **error)
{
    if (text[0] == '\0') {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "empty queue id in address '%s'",
                    whole);
        return NULL;
    }
    if (strchr(text, '/')) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "a LocalQueue id must not contain '/' (address '%s')", whole);
        return NULL;
    }
    CamasAddress *a = address_new(CAMAS_ADDRESS_LOCAL);
    a->path = g_strdup(text);
    return a;
}

CamasAddress *
camas_address_parse(const char *text, GError **error)
{
    g_return_val_if_fail(text != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!g_utf8_validate(text, -1, NULL)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "address is not valid UTF-8");
        return NULL;
    }
    if (text[0] == '\0') {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "empty address");
        return NULL;
    }
    if (g_str_has_prefix(text, "tcp://"))
        return parse_host_port(text + 6, text, FALSE, error);
    if (g_str_has_prefix(text, "tls://"))
        return parse_host_port(text + 6, text, TRUE, error);
    if (g_str_has_prefix(text, "ipc://"))
        return parse_ipc(text + 6, text, error);
    if (g_str_has_prefix(text, "unix:"))
        return parse_ipc(text + 5, text, error);
    if (g_str_has_prefix(text, "local://"))
        return parse_local(text + 8, text, error);
    const char *sep = strstr(text, "://");
    if (sep) {
        g_autofree char *scheme = g_strndup(text, (gsize)(sep - text));
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "unknown scheme '%s' in address '%s' (known: %s)", scheme, text,
                    known_schemes);
        return NULL;
    }
    /* The short forms HOST:PORT and [V6]:PORT. */
    return parse_host_port(text, text, FALSE, error);
}

CamasAddress *
camas_address_copy(const CamasAddress *address)
{
    g_return_val_if_fail(address != NULL, NULL);
    CamasAddress *a = address_new(address->kind);
    a->host = g_strdup(address->host);
    a->port = address->port;
    a->path = g_strdup(address->path);
    a->tls = address->tls;
    return a;
}

void
camas_address_free(CamasAddress *address)
{
    if (address == NULL)
        return;
    g_free(address->host);
    g_free(address->path);
    g_free(address);
}

char *
camas_address_to_string(const CamasAddress *address)
{
    g_return_val_if_fail(address != NULL, NULL);
    switch (address->kind) {
    case CAMAS_ADDRESS_TCP: {
        const char *host = address->host ? address->host : "";
        const char *scheme = address->tls ? "tls" : "tcp";
        if (strchr(host, ':'))
            return g_strdup_printf("%s://[%s]:%u", scheme, host, address->port);
        return g_strdup_printf("%s://%s:%u", scheme, host, address->port);
    }
    case CAMAS_ADDRESS_IPC:
        return g_strdup_printf("ipc://[%s]", address->path ? address->path : "");
    case CAMAS_ADDRESS_LOCAL:
        return g_strdup_printf("local://%s", address->path ? address->path : "");
    }
    g_return_val_if_reached(NULL);
}

gboolean
camas_address_equal(const CamasAddress *a, const CamasAddress *b)
{
    g_return_val_if_fail(a != NULL && b != NULL, FALSE);
    return a->kind == b->kind && a->port == b->port && !a->tls == !b->tls &&
           g_strcmp0(a->host ? a->host : "", b->host ? b->host : "") == 0 &&
           g_strcmp0(a->path, b->path) == 0;
}
