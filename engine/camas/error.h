/* SPDX-License-Identifier: MIT */
/*
 * Errors: one GError domain for the whole library.  The codes mirror the aiomas exception
 * classes so that a failure text sent to a Python peer ends in the name it expects
 * (camas_error_python_name()).  CAMAS_ERROR is an extended error domain: a REMOTE error also
 * carries the peer's origin and its unchanged failure text.
 */
#pragma once

#include <camas/version.h>

G_BEGIN_DECLS

#define CAMAS_ERROR (camas_error_quark())

/**
 * CamasErrorCode: the closed set of failure kinds.  Never renumbered; new codes are appended.
 */
typedef enum {
    CAMAS_ERROR_FAILED = 0,         /* anything else (RuntimeError) */
    CAMAS_ERROR_CLOSED,             /* the connection or owner closed (ConnectionResetError) */
    CAMAS_ERROR_CONNECTION_REFUSED, /* nobody listens at the address (ConnectionRefusedError) */
    CAMAS_ERROR_TIMED_OUT,          /* a deadline passed (TimeoutError) */
    CAMAS_ERROR_PROTOCOL,           /* the peer broke the framing or message rules */
    CAMAS_ERROR_CODEC,              /* a value could not be encoded or decoded (SerializationError) */
    CAMAS_ERROR_REMOTE,             /* the peer answered with a failure (RemoteException) */
    CAMAS_ERROR_LOOKUP,             /* a name, path or id is unknown (LookupError) */
    CAMAS_ERROR_INVALID,            /* a bad value or argument (ValueError) */
    CAMAS_ERROR_TYPE,               /* a value of the wrong type (TypeError) */
    CAMAS_ERROR_TOO_LARGE,          /* a message or value exceeds a configured limit */
    CAMAS_ERROR_CANCELLED,          /* the operation was cancelled (CancelledError) */
    CAMAS_ERROR_ZERO_DIVISION,      /* division by zero (ZeroDivisionError) */
} CamasErrorCode;

CAMAS_API GQuark camas_error_quark(void);

/**
 * camas_error_new_remote:
 * @origin: the peer address as this side sees it (e.g. "('127.0.0.1', 5555)"), copied
 * @remote_text: the failure text the peer sent, unchanged, copied
 *
 * Returns: (transfer full): a CAMAS_ERROR_REMOTE error whose message is
 * "Origin: <origin>\n<remote_text>" (Python's str(RemoteException)).
 */
CAMAS_API GError *camas_error_new_remote(const char *origin, const char *remote_text);

/** camas_error_get_origin: (transfer none): the origin of a REMOTE error, else NULL. */
CAMAS_API const char *camas_error_get_origin(const GError *error);

/** camas_error_get_remote_text: (transfer none): the peer's text of a REMOTE error, else NULL. */
CAMAS_API const char *camas_error_get_remote_text(const GError *error);

/**
 * camas_error_python_name:
 * Returns: (transfer none): the Python exception class name a peer expects for @error
 * ("ValueError", "LookupError", ...).  Errors of other domains map to "RuntimeError".
 */
CAMAS_API const char *camas_error_python_name(const GError *error);

/**
 * camas_error_to_remote_text:
 * Returns: (transfer full): the failure text to send for @error: "<Name>: <message>\n", or
 * for a REMOTE error the text it carries, so failures pass through unchanged.
 */
CAMAS_API char *camas_error_to_remote_text(const GError *error);

G_END_DECLS
