/* SPDX-License-Identifier: MIT */
/* The CAMAS_ERROR domain: an extended GError that carries a remote failure's origin and text. */
#include <camas/error.h>

typedef struct {
    char *origin;
    char *remote_text;
} CamasErrorPrivate;

static void
camas_error_private_init(CamasErrorPrivate *priv)
{
    priv->origin = NULL;
    priv->remote_text = NULL;
}

static void
camas_error_private_copy(const CamasErrorPrivate *src, CamasErrorPrivate *dest)
{
    dest->origin = g_strdup(src->origin);
    dest->remote_text = g_strdup(src->remote_text);
}

static void
camas_error_private_clear(CamasErrorPrivate *priv)
{
    g_clear_pointer(&priv->origin, g_free);
    g_clear_pointer(&priv->remote_text, g_free);
}

G_DEFINE_EXTENDED_ERROR(CamasError, camas_error)

GError *
camas_error_new_remote(const char *origin, const char *remote_text)
{
    GError *error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_REMOTE, "Origin: %s\n%s",
                                origin ? origin : "", remote_text ? remote_text : "");
    CamasErrorPrivate *priv = camas_error_get_private(error);
    priv->origin = g_strdup(origin ? origin : "");
    priv->remote_text = g_strdup(remote_text ? remote_text : "");
    return error;
}

const char *
camas_error_get_origin(const GError *error)
{
    g_return_val_if_fail(error != NULL, NULL);
    CamasErrorPrivate *priv = camas_error_get_private(error);
    return priv ? priv->origin : NULL;
}

const char *
camas_error_get_remote_text(const GError *error)
{
    g_return_val_if_fail(error != NULL, NULL);
    CamasErrorPrivate *priv = camas_error_get_private(error);
    return priv ? priv->remote_text : NULL;
}

const char *
camas_error_python_name(const GError *error)
{
    static const char *const names[] = {
        [CAMAS_ERROR_FAILED] = "RuntimeError",
        [CAMAS_ERROR_CLOSED] = "ConnectionResetError",
        [CAMAS_ERROR_CONNECTION_REFUSED] = "ConnectionRefusedError",
        [CAMAS_ERROR_TIMED_OUT] = "TimeoutError",
        [CAMAS_ERROR_PROTOCOL] = "ProtocolError",
        [CAMAS_ERROR_CODEC] = "aiomas.exceptions.SerializationError",
        [CAMAS_ERROR_REMOTE] = "aiomas.exceptions.RemoteException",
        [CAMAS_ERROR_LOOKUP] = "LookupError",
        [CAMAS_ERROR_INVALID] = "ValueError",
        [CAMAS_ERROR_TYPE] = "TypeError",
        [CAMAS_ERROR_TOO_LARGE] = "ValueError",
        [CAMAS_ERROR_CANCELLED] = "asyncio.exceptions.CancelledError",
        [CAMAS_ERROR_ZERO_DIVISION] = "ZeroDivisionError",
    };
    g_return_val_if_fail(error != NULL, "RuntimeError");
    if (error->domain != CAMAS_ERROR || error->code < 0 || (gsize)error->code >= G_N_ELEMENTS(names))
        return "RuntimeError";
    return names[error->code];
}

char *
camas_error_to_remote_text(const GError *error)
{
    g_return_val_if_fail(error != NULL, NULL);
    const char *remote = camas_error_get_remote_text(error);
    if (error->domain == CAMAS_ERROR && error->code == CAMAS_ERROR_REMOTE && remote)
        return g_strdup(remote);
    return g_strdup_printf("%s: %s\n", camas_error_python_name(error), error->message);
}
