/* SPDX-License-Identifier: MIT */
/*
 * aiomas' TLS configuration for agent containers (docs/agents.md): two containers given the
 * same SSLCerts (CA, certificate, key) talk over TLS only — the server side requires a client
 * certificate signed by the CA, the client side checks the server's host name.
 *
 *   sslcerts = aiomas.SSLCerts('ca.pem', 'device.pem', 'device.key')
 *   c = aiomas.Container.create(('127.0.0.1', 5555), ssl=sslcerts)
 *
 * Usage: agent-tls [CAFILE CERTFILE KEYFILE [ADDR_A ADDR_B]]
 *        (defaults: ca.pem device.pem device.key, tcp://127.0.0.1:5555 tcp://127.0.0.1:5556)
 */
#include <stdio.h>

#include <camas/camas.h>
#include <camas/container.h>

static void
ping(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_new_str("pong"));
}

static const CamasRpcMethod ponger_methods[] = {{"ping", ping}, {NULL}};
static const CamasAgentClass ponger = {.name = "Ponger", .methods = ponger_methods};

static CamasValue *
pinger_run(CamasAgent *self, const CamasValue *args, GError **error)
{
    const char *addr = camas_value_get_str(camas_value_get_item(args, 0), NULL);
    g_autoptr(CamasProxy) other = camas_agent_connect(self, addr, error);
    if (!other)
        return NULL;
    g_autoptr(CamasValue) r = camas_agent_call(other, "ping", error, NULL);
    if (!r)
        return NULL;
    CamasChannel *ch = camas_rpc_connection_get_channel(camas_proxy_get_connection(other));
    g_autofree char *me = camas_agent_dup_repr(self);
    printf("%s got '%s' from %s over %s\n", me, camas_value_get_str(r, NULL), addr,
           camas_channel_get_tls_version(ch) ? "TLS" : "plaintext");
    return NULL;
}

static const CamasAgentClass pinger = {.name = "Pinger", .run = pinger_run};

int
main(int argc, char **argv)
{
    CamasTlsCerts certs = {"ca.pem", "device.pem", "device.key"};
    if (argc >= 4)
        certs = (CamasTlsCerts){argv[1], argv[2], argv[3]};
    const char *addr_a = argc >= 6 ? argv[4] : "tcp://127.0.0.1:5555";
    const char *addr_b = argc >= 6 ? argv[5] : "tcp://127.0.0.1:5556";

    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    CamasContainerOptions options = {.tls = &certs};
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasContainer) a = camas_container_new(clock, addr_a, &options, &error);
    g_autoptr(CamasContainer) b = a ? camas_container_new(clock, addr_b, &options, &error) : NULL;
    if (!b) {
        fprintf(stderr, "agent-tls: %s\n", error->message);
        return 1;
    }
    CamasAgent *p = camas_container_spawn(a, &pinger, NULL, NULL, &error);
    CamasAgent *q = camas_container_spawn(b, &ponger, NULL, NULL, &error);
    g_autoptr(CamasValue) args = camas_value_build("[s]", camas_agent_get_url(q));
    g_autoptr(CamasFuture) done = camas_agent_start(p, args, &error);
    if (!camas_clock_run_until_complete(clock, done, NULL, &error)) {
        fprintf(stderr, "agent-tls: %s\n", error->message);
        return 1;
    }
    return 0;
}
