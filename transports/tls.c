/* SPDX-License-Identifier: MIT */
/*
 * TLS for the socket stream: contexts configured as aiomas' make_ssl_server_context /
 * make_ssl_client_context (wire-protocol.md §10), and sessions that run OpenSSL over memory
 * BIOs (see tls-private.h).  The socket stream (socket.c) decides when to feed, handshake,
 * read and write; this file only speaks OpenSSL and turns its error queue into messages that
 * name the reason ("certificate verify failed (unable to get local issuer certificate)",
 * "tlsv13 alert certificate required", "wrong version number", ...).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "live-private.h"
#include "tls-private.h"

/* TLS 1.2 suites: ECDHE key exchange with AES-GCM only (aiomas: 'ECDH+AESGCM'). */
#define TLS12_CIPHERS "ECDHE+AESGCM"

struct _CamasTlsSession {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the socket (owned by ssl) */
    BIO *wbio; /* ciphertext for the socket (owned by ssl) */
    gboolean established;
    gboolean failed;
};

/* OpenSSL's error queue (and, for certificate failures, the verification result) as one
 * line; the queue is emptied.  @fallback when the queue says nothing. */
static char *
openssl_reason(SSL *ssl, const char *fallback)
{
    GString *s = g_string_new(NULL);
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        char buf[256];
        if (r == NULL) {
            ERR_error_string_n(e, buf, sizeof buf);
            r = buf;
        }
        if (s->len)
            g_string_append(s, "; ");
        g_string_append(s, r);
    }
    if (ssl) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            g_string_append_printf(s, "%s(%s)", s->len ? " " : "certificate verify failed ",
                                   X509_verify_cert_error_string(v));
    }
    if (s->len == 0)
        g_string_append(s, fallback);
    return g_string_free(s, FALSE);
}

/* --- contexts ------------------------------------------------------------------------------ */

static gboolean
load_file(gboolean ok, const char *what, const char *path, GError **error)
{
    if (ok)
        return TRUE;
    g_autofree char *reason = openssl_reason(NULL, "OpenSSL gave no reason");
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "TLS: cannot use %s '%s': %s", what,
                path ? path : "(none)", reason);
    return FALSE;
}

CamasTlsContext *
camas__tls_context_new_from_ssl_ctx(SSL_CTX *ctx, gboolean server)
{
    g_return_val_if_fail(ctx != NULL, NULL);
    CamasTlsContext *context = g_new0(CamasTlsContext, 1);
    context->ref_count = 1;
    context->ctx = ctx;
    context->server = server;
    camas__live_inc(CAMAS__LIVE_TLS_CONTEXT);
    return context;
}

static CamasTlsContext *
context_new(const CamasTlsCerts *certs, gboolean server, GError **error)
{
    g_return_val_if_fail(certs != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (certs->cafile == NULL || certs->certfile == NULL || certs->keyfile == NULL) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "TLS settings need a CA file, a certificate file and a key file");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        g_autofree char *reason = openssl_reason(NULL, "out of memory");
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "TLS: SSL_CTX_new failed: %s",
                    reason);
        return NULL;
    }
    /* TLS 1.2 or newer; 1.2 restricted to ECDHE + AES-GCM; 1.3 keeps its AEAD suites.  No
     * compression; a fresh ECDH key per handshake (OpenSSL's default since 1.1, asked for
     * anyway as aiomas does). */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_ECDH_USE |
                                 SSL_OP_NO_RENEGOTIATION);
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS))
        goto fail_cipher;
    /* Trust exactly the one CA file; require and verify the peer's certificate. */
    if (!load_file(SSL_CTX_load_verify_locations(ctx, certs->cafile, NULL) == 1, "CA file",
                   certs->cafile, error) ||
        !load_file(SSL_CTX_use_certificate_chain_file(ctx, certs->certfile) == 1,
                   "certificate file", certs->certfile, error) ||
        !load_file(SSL_CTX_use_PrivateKey_file(ctx, certs->keyfile, SSL_FILETYPE_PEM) == 1,
                   "key file", certs->keyfile, error) ||
        !load_file(SSL_CTX_check_private_key(ctx) == 1, "key file (does not match the certificate)",
                   certs->keyfile, error)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (server) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Tell clients which CA we accept, so they pick the right certificate. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(certs->cafile);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        /* Nobody resumes sessions (aiomas connections are long-lived): skip the tickets. */
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    ERR_clear_error();
    return camas__tls_context_new_from_ssl_ctx(ctx, server);

fail_cipher: {
    g_autofree char *reason = openssl_reason(NULL, "no cipher matched");
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "TLS: cipher list '%s': %s",
                TLS12_CIPHERS, reason);
    SSL_CTX_free(ctx);
    return NULL;
}
}

CamasTlsContext *
camas_tls_context_new_server(const CamasTlsCerts *certs, GError **error)
{
    return context_new(certs, TRUE, error);
}

CamasTlsContext *
camas_tls_context_new_client(const CamasTlsCerts *certs, GError **error)
{
    return context_new(certs, FALSE, error);
}

CamasTlsContext *
camas_tls_context_ref(CamasTlsContext *context)
{
    g_return_val_if_fail(context != NULL, NULL);
    g_atomic_int_inc(&context->ref_count);
    return context;
}

void
camas_tls_context_unref(CamasTlsContext *context)
{
    if (context == NULL)
        return;
    if (!g_atomic_int_dec_and_test(&context->ref_count))
        return;
    SSL_CTX_free(context->ctx);
    g_free(context);
    camas__live_dec(CAMAS__LIVE_TLS_CONTEXT);
}

/* --- sessions ------------------------------------------------------------------------------ */

CamasTlsSession *
camas__tls_session_new(CamasTlsContext *context, const char *verify_name, GError **error)
{
    g_return_val_if_fail(context != NULL, NULL);
    if (!context->server && (verify_name == NULL || verify_name[0] == '\0')) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "TLS client: no host name or address to verify the server against");
        return NULL;
    }
    ERR_clear_error();
    SSL *ssl = SSL_new(context->ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        g_autofree char *reason = openssl_reason(NULL, "out of memory");
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "TLS: SSL_new failed: %s", reason);
        return NULL;
    }
    /* An empty read BIO means "more input needed", not end of file. */
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    if (context->server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        gboolean ok;
        if (g_hostname_is_ip_address(verify_name)) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, verify_name) == 1 &&
                 SSL_set_tlsext_host_name(ssl, verify_name) == 1;
        }
        if (!ok) {
            g_autofree char *reason = openssl_reason(NULL, "rejected by OpenSSL");
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "TLS client: cannot verify against '%s': %s", verify_name, reason);
            SSL_free(ssl);
            return NULL;
        }
    }
    CamasTlsSession *s = g_new0(CamasTlsSession, 1);
    s->ssl = ssl;
    s->rbio = rbio;
    s->wbio = wbio;
    return s;
}

void
camas__tls_session_free(CamasTlsSession *session)
{
    if (session == NULL)
        return;
    SSL_free(session->ssl);
    g_free(session);
    /* Errors a failed session left on this thread's queue must not leak into the next. */
    ERR_clear_error();
}

void
camas__tls_session_feed(CamasTlsSession *session, const guint8 *data, gsize len)
{
    while (len > 0) {
        int chunk = len > G_MAXINT ? G_MAXINT : (int)len;
        int n = BIO_write(session->rbio, data, chunk);
        g_assert(n == chunk); /* a memory BIO only fails when out of memory */
        data += n;
        len -= (gsize)n;
    }
}

static void
set_failed(CamasTlsSession *session, const char *what, const char *fallback, GError **error)
{
    session->failed = TRUE;
    g_autofree char *reason = openssl_reason(session->ssl, fallback);
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL, "%s: %s", what, reason);
}

gboolean
camas__tls_session_handshake(CamasTlsSession *session, GError **error)
{
    if (session->established)
        return TRUE;
    g_return_val_if_fail(!session->failed, FALSE);
    ERR_clear_error();
    int r = SSL_do_handshake(session->ssl);
    if (r == 1) {
        session->established = TRUE;
        return TRUE;
    }
    int e = SSL_get_error(session->ssl, r);
    /* With memory BIOs WANT_WRITE cannot happen (the write BIO grows); WANT_READ means the
     * peer's next flight has not arrived yet. */
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return FALSE;
    set_failed(session, "TLS handshake failed", "the peer broke off the handshake", error);
    return FALSE;
}

gboolean
camas__tls_session_is_established(const CamasTlsSession *session)
{
    return session->established;
}

gssize
camas__tls_session_read(CamasTlsSession *session, guint8 *buf, gsize cap, GError **error)
{
    g_return_val_if_fail(session->established && !session->failed, -2);
    ERR_clear_error();
    int r = SSL_read(session->ssl, buf, cap > G_MAXINT ? G_MAXINT : (int)cap);
    if (r > 0)
        return r;
    int e = SSL_get_error(session->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return -1;
    set_failed(session, "TLS failure", "the peer sent something that is not TLS", error);
    return -2;
}

gboolean
camas__tls_session_write(CamasTlsSession *session, const guint8 *data, gsize len,
                         GError **error)
{
    g_return_val_if_fail(session->established, FALSE);
    if (session->failed) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL, "the TLS session failed");
        return FALSE;
    }
    ERR_clear_error();
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        int r = SSL_write(session->ssl, data, chunk);
        if (r <= 0) {
            set_failed(session, "TLS write failed", "OpenSSL gave no reason", error);
            return FALSE;
        }
        data += r;
        len -= (gsize)r;
    }
    return TRUE;
}

GBytes *
camas__tls_session_take_output(CamasTlsSession *session)
{
    size_t pending = BIO_ctrl_pending(session->wbio);
    if (pending == 0)
        return NULL;
    guint8 *buf = g_malloc(pending);
    int n = BIO_read(session->wbio, buf, pending > G_MAXINT ? G_MAXINT : (int)pending);
    g_assert(n > 0);
    return g_bytes_new_take(buf, (gsize)n);
}

void
camas__tls_session_shutdown(CamasTlsSession *session)
{
    if (!session->established || session->failed)
        return;
    ERR_clear_error();
    /* Sends close_notify; we do not wait for the peer's (aiomas does not either). */
    SSL_shutdown(session->ssl);
    ERR_clear_error();
}

const char *
camas__tls_session_get_version(const CamasTlsSession *session)
{
    return SSL_get_version(session->ssl);
}

const char *
camas__tls_session_get_cipher(const CamasTlsSession *session)
{
    return SSL_get_cipher_name(session->ssl);
}
