/* SPDX-License-Identifier: MIT */
/*
 * Test certificates, generated with the OpenSSL API into a fresh temporary directory: a CA,
 * a server and a client certificate signed by it (both naming DNS:localhost, IP:127.0.0.1
 * and IP:::1, usable for either role as aiomas uses one certificate for both), and an
 * unrelated second CA with a certificate of its own for negative tests.  EC P-256 keys, so
 * generating a set takes milliseconds.  Shared by every suite that needs TLS.
 */
#pragma once

#include <camas/transport.h>

typedef struct {
    char *dir;         /* the temporary directory holding every file below */
    char *ca;          /* the CA certificate (PEM) */
    char *server_cert; /* signed by ca */
    char *server_key;
    char *client_cert; /* signed by ca */
    char *client_key;
    char *other_ca;    /* an unrelated CA */
    char *other_cert;  /* signed by other_ca, the same names */
    char *other_key;
} CamasTestCerts;

/* NULL with CAMAS_ERROR_FAILED naming the OpenSSL or file step that failed. */
CamasTestCerts *camas_test_certs_new(GError **error);
/* Removes the files and the directory. */
void camas_test_certs_free(CamasTestCerts *certs);

/* The (cafile, certfile, keyfile) triples aiomas' SSLCerts would name. */
CamasTlsCerts camas_test_certs_server(const CamasTestCerts *certs);
CamasTlsCerts camas_test_certs_client(const CamasTestCerts *certs);
/* A certificate from the other CA, trusting the right CA (a stranger's certificate). */
CamasTlsCerts camas_test_certs_stranger(const CamasTestCerts *certs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasTestCerts, camas_test_certs_free)
