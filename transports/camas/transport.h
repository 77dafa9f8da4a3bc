/* SPDX-License-Identifier: MIT */
/*
 * Transport addresses and TLS settings: what a user writes to say where a server listens or a
 * client connects.  The transports themselves (LocalQueue, TCP, Unix sockets, TLS over TCP)
 * sit behind one ops table (transport-private.h); users reach them through channels, RPC and
 * containers.
 *
 * Address forms (aiomas' URL forms plus the conformance tool's short forms):
 *   tcp://HOST:PORT   tcp://[::1]:PORT   HOST:PORT   [::1]:PORT      TCP (IPv4, IPv6, names)
 *   tls://HOST:PORT                                                 TCP + TLS (needs TLS settings)
 *   ipc://[PATH]   ipc://PATH   unix:PATH                           Unix domain socket
 *   local://QUEUE                                                   in-process LocalQueue
 */
#pragma once

#include <camas/error.h>

G_BEGIN_DECLS

typedef enum {
    CAMAS_ADDRESS_LOCAL = 0,
    CAMAS_ADDRESS_TCP,
    CAMAS_ADDRESS_IPC,
} CamasAddressKind;

typedef struct {
    CamasAddressKind kind;
    char *host;     /* TCP: as written (no brackets); "" = all interfaces when listening */
    guint16 port;   /* TCP: 0 when listening = chosen by the OS */
    char *path;     /* IPC: the socket path; LOCAL: the queue id (no '/') */
    gboolean tls;   /* written as tls:// */
} CamasAddress;

/**
 * camas_address_parse:
 * Returns: (transfer full): the address, or NULL with CAMAS_ERROR_INVALID naming what is wrong
 * (unknown scheme — listing the known ones —, missing or bad port, empty path, '/' in a queue
 * id, unbalanced brackets).
 */
CAMAS_API CamasAddress *camas_address_parse(const char *text, GError **error);
CAMAS_API CamasAddress *camas_address_copy(const CamasAddress *address);
CAMAS_API void camas_address_free(CamasAddress *address);
/* (transfer full) canonical text: tcp://host:port, tcp://[v6]:port, ipc://[path], local://id */
CAMAS_API char *camas_address_to_string(const CamasAddress *address);
CAMAS_API gboolean camas_address_equal(const CamasAddress *a, const CamasAddress *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasAddress, camas_address_free)

/**
 * CamasTlsContext: an OpenSSL context configured as aiomas' make_ssl_server_context /
 * make_ssl_client_context: TLS 1.2 or newer, ECDHE with AES-GCM, no compression, a fresh ECDH
 * key per handshake, the peer's certificate required and verified against one CA file; clients
 * also check the host name or IP address they connected to.  Reference counted.
 */
typedef struct _CamasTlsContext CamasTlsContext;

/* aiomas' SSLCerts(cafile, certfile, keyfile): PEM files. */
typedef struct {
    const char *cafile;
    const char *certfile;
    const char *keyfile;
} CamasTlsCerts;

/* NULL with CAMAS_ERROR_INVALID naming the file and OpenSSL's reason when a file is missing,
 * unreadable, or the key does not match the certificate. */
CAMAS_API CamasTlsContext *camas_tls_context_new_server(const CamasTlsCerts *certs,
                                                        GError **error);
CAMAS_API CamasTlsContext *camas_tls_context_new_client(const CamasTlsCerts *certs,
                                                        GError **error);
CAMAS_API CamasTlsContext *camas_tls_context_ref(CamasTlsContext *context);
CAMAS_API void camas_tls_context_unref(CamasTlsContext *context);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasTlsContext, camas_tls_context_unref)

/**
 * CamasTransportOptions: how to listen or connect.  Zero-initialised = defaults.
 */
typedef struct {
    CamasTlsContext *tls;        /* server or client context; NULL = plaintext (TCP only) */
    const char *tls_server_name; /* clients: the name to verify; NULL = the address' host */
    gsize write_high_water;      /* queued outgoing bytes above which the pipe reports
                                  * itself paused; 0 = 4 MiB */
    gsize write_low_water;       /* ... and below which it resumes; 0 = high / 4 */
    int backlog;                 /* listen backlog; 0 = 1024 */
    guint handshake_timeout_ms;  /* TLS: a handshake not finished within this many
                                  * milliseconds (real time) fails with
                                  * CAMAS_ERROR_TIMED_OUT; 0 = 30000 */
    const char *local_address;   /* dialing: the address the dialing side is known by (a
                                  * container gives its own); LocalQueue names the dialer's
                                  * end by it for link models (camas/localqueue.h).  Borrowed
                                  * until the dial (a channel's open) finishes; NULL = none */
} CamasTransportOptions;

G_END_DECLS
