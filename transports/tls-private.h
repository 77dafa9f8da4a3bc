/* SPDX-License-Identifier: MIT */
/*
 * TLS contexts and sessions for the socket stream (socket.c).  A session is one SSL object
 * over two OpenSSL memory BIOs: the stream feeds it the ciphertext it read from the socket
 * and queues the ciphertext the session produces on its own write queue, so TLS never
 * touches the fd and never blocks, and WANT_READ / WANT_WRITE reduce to "feed more input" /
 * "take the output".  Nothing outside transports/ includes this.
 */
#pragma once

#include <openssl/ssl.h>

#include "transport-private.h"

G_BEGIN_DECLS

struct _CamasTlsContext {
    gint ref_count;   /* atomic: a context may be shared by loops of several threads */
    SSL_CTX *ctx;     /* configured as aiomas' make_ssl_{server,client}_context */
    gboolean server;  /* accepts (TRUE) or connects (FALSE) */
};

/* Wraps an SSL_CTX configured elsewhere (tests: a client without a certificate, a TLS 1.2
 * only client), taking over the caller's reference.  (transfer full) */
CamasTlsContext *camas__tls_context_new_from_ssl_ctx(SSL_CTX *ctx, gboolean server);

typedef struct _CamasTlsSession CamasTlsSession;

/**
 * camas__tls_session_new:
 * @verify_name: clients: the host name or IP address the server's certificate must name
 *               (checked as an IP address when it parses as one); servers: NULL
 *
 * Returns: (transfer full): a session that has not started its handshake, or NULL with
 * CAMAS_ERROR_INVALID (a client without a name to verify, or OpenSSL failing to set up).
 */
CamasTlsSession *camas__tls_session_new(CamasTlsContext *context, const char *verify_name,
                                        GError **error);
void camas__tls_session_free(CamasTlsSession *session);

/* Ciphertext read from the socket (copied into the session). */
void camas__tls_session_feed(CamasTlsSession *session, const guint8 *data, gsize len);

/**
 * camas__tls_session_handshake:
 * Advances the handshake with the input fed so far.  Take the output afterwards, also on
 * failure (it may carry the alert that tells the peer why).
 * Returns: TRUE once established; FALSE without @error while it needs more input; FALSE
 * with CAMAS_ERROR_PROTOCOL naming OpenSSL's reason (and the verification result) on failure.
 */
gboolean camas__tls_session_handshake(CamasTlsSession *session, GError **error);
gboolean camas__tls_session_is_established(const CamasTlsSession *session);

/**
 * camas__tls_session_read:
 * Decrypts fed input into @buf.
 * Returns: the number of plaintext bytes (> 0); 0 when more input is needed; -1 when the peer
 * sent close_notify (clean end); -2 with CAMAS_ERROR_PROTOCOL on failure.
 */
gssize camas__tls_session_read(CamasTlsSession *session, guint8 *buf, gsize cap,
                               GError **error);

/* Encrypts all of @data (a memory BIO never refuses).  FALSE with CAMAS_ERROR_PROTOCOL when
 * the session failed. */
gboolean camas__tls_session_write(CamasTlsSession *session, const guint8 *data, gsize len,
                                  GError **error);

/* (transfer full): ciphertext waiting for the socket, or NULL when there is none. */
GBytes *camas__tls_session_take_output(CamasTlsSession *session);

/* Queues close_notify (take the output afterwards). */
void camas__tls_session_shutdown(CamasTlsSession *session);

/* (transfer none): "TLSv1.3", "TLS_AES_256_GCM_SHA384", ... once established. */
const char *camas__tls_session_get_version(const CamasTlsSession *session);
const char *camas__tls_session_get_cipher(const CamasTlsSession *session);

G_END_DECLS
