/* SPDX-License-Identifier: MIT */
/* Test certificates generated with the OpenSSL API (see certs.h). */
#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>

#include "certs.h"

static gboolean
fail(GError **error, const char *what)
{
    char reason[256] = "no reason given";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "test certificates: %s: %s", what,
                reason);
    return FALSE;
}

static gboolean
add_ext(X509 *cert, X509 *issuer, int nid, const char *value, GError **error)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return fail(error, value);
    gboolean ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok || fail(error, "X509_add_ext");
}

/* A certificate for @key named @cn, signed by @issuer_key (self-signed when @issuer is NULL). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
          gboolean ca, GError **error)
{
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    /* Valid from an hour ago (clock skew) for a day. */
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const guchar *)"camas tests", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const guchar *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : cert;
    gboolean ok;
    if (ca)
        ok = add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE", error) &&
             add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign", error) &&
             add_ext(cert, iss, NID_subject_key_identifier, "hash", error);
    else
        ok = add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE", error) &&
             add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyAgreement",
                     error) &&
             add_ext(cert, iss, NID_ext_key_usage, "serverAuth,clientAuth", error) &&
             add_ext(cert, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1",
                     error) &&
             add_ext(cert, iss, NID_subject_key_identifier, "hash", error) &&
             add_ext(cert, iss, NID_authority_key_identifier, "keyid:always", error);
    if (!ok || !X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256())) {
        if (ok)
            fail(error, "X509_sign");
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static gboolean
write_pem(const char *path, X509 *cert, EVP_PKEY *key, GError **error)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "test certificates: %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    gboolean ok = cert ? PEM_write_X509(f, cert) == 1
                       : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    ok = (fclose(f) == 0) && ok;
    return ok || fail(error, path);
}

static EVP_PKEY *
make_key(GError **error)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL)
        fail(error, "EVP_EC_gen");
    return key;
}

/* A CA, or a leaf signed by (@ca, @ca_key), written to @cert_path (+ @key_path). */
static gboolean
issue(const char *cn, X509 **ca, EVP_PKEY **ca_key, gboolean make_ca, long serial,
      const char *cert_path, const char *key_path, GError **error)
{
    EVP_PKEY *key = make_key(error);
    if (key == NULL)
        return FALSE;
    X509 *cert = make_cert(key, cn, make_ca ? NULL : *ca, make_ca ? NULL : *ca_key, serial,
                           make_ca, error);
    gboolean ok = cert && write_pem(cert_path, cert, NULL, error) &&
                  (key_path == NULL || write_pem(key_path, NULL, key, error));
    if (ok && make_ca) {
        *ca = cert;
        *ca_key = key;
        return TRUE;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

CamasTestCerts *
camas_test_certs_new(GError **error)
{
    g_autoptr(GError) local = NULL;
    char *dir = g_dir_make_tmp("camas-certs-XXXXXX", &local);
    if (dir == NULL) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "test certificates: %s",
                    local->message);
        return NULL;
    }
    CamasTestCerts *c = g_new0(CamasTestCerts, 1);
    c->dir = dir;
    c->ca = g_build_filename(dir, "ca.pem", NULL);
    c->server_cert = g_build_filename(dir, "server.pem", NULL);
    c->server_key = g_build_filename(dir, "server.key", NULL);
    c->client_cert = g_build_filename(dir, "client.pem", NULL);
    c->client_key = g_build_filename(dir, "client.key", NULL);
    c->other_ca = g_build_filename(dir, "other-ca.pem", NULL);
    c->other_cert = g_build_filename(dir, "other.pem", NULL);
    c->other_key = g_build_filename(dir, "other.key", NULL);
    X509 *ca = NULL, *other = NULL;
    EVP_PKEY *ca_key = NULL, *other_key = NULL;
    gboolean ok = issue("camas test CA", &ca, &ca_key, TRUE, 1, c->ca, NULL, error) &&
                  issue("localhost", &ca, &ca_key, FALSE, 2, c->server_cert, c->server_key,
                        error) &&
                  issue("client", &ca, &ca_key, FALSE, 3, c->client_cert, c->client_key,
                        error) &&
                  issue("unrelated CA", &other, &other_key, TRUE, 1, c->other_ca, NULL,
                        error) &&
                  issue("localhost", &other, &other_key, FALSE, 2, c->other_cert, c->other_key,
                        error);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    if (!ok) {
        camas_test_certs_free(c);
        return NULL;
    }
    return c;
}

void
camas_test_certs_free(CamasTestCerts *c)
{
    if (c == NULL)
        return;
    char **files[] = {&c->ca, &c->server_cert, &c->server_key, &c->client_cert, &c->client_key,
                      &c->other_ca, &c->other_cert, &c->other_key};
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_unlink(*files[i]);
        g_free(*files[i]);
    }
    g_rmdir(c->dir);
    g_free(c->dir);
    g_free(c);
}

CamasTlsCerts
camas_test_certs_server(const CamasTestCerts *c)
{
    return (CamasTlsCerts){c->ca, c->server_cert, c->server_key};
}

CamasTlsCerts
camas_test_certs_client(const CamasTestCerts *c)
{
    return (CamasTlsCerts){c->ca, c->client_cert, c->client_key};
}

CamasTlsCerts
camas_test_certs_stranger(const CamasTestCerts *c)
{
    return (CamasTlsCerts){c->ca, c->other_cert, c->other_key};
}
