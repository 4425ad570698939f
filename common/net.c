/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NNG set-up shared by both ends. Plain tcp:// is allowed only where no
 * other host can see it; anything that crosses hosts is tls+tcp:// with
 * both ends proving themselves against the operator's CA, so that a
 * dispatch (which may carry secrets) is never readable on the wire and a
 * stranger can neither pose as a worker nor reach one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/net.h"
#include "common/schema.h"
#include "common/wire.h"

static void url_freep(nng_url **u)
{
        if (*u != NULL)
                nng_url_free(*u);
}

static void tls_freep(nng_tls_config **c)
{
        if (*c != NULL)
                nng_tls_config_free(*c);
}

static bool is_loopback(const char *host)
{
        struct in_addr a4;
        struct in6_addr a6;

        if (strcmp(host, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}

int net_url_check(const char *url, const net_tls *tls, const char *what, agora_error_t *err)
{
        _cleanup_(url_freep) nng_url *u = NULL;
        int rv = nng_url_parse(&u, url);

        if (rv != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s '%s': not an address (%s)", what, url,
                                       nng_strerror(rv));
        if (strcmp(u->u_scheme, "ipc") == 0) {
                if (u->u_path == NULL || u->u_path[0] != '/')
                        return agora_error_set(err, AGORA_ERR_USAGE, "%s '%s': want ipc:///absolute/path", what, url);
                return 0;
        }
        if (strcmp(u->u_scheme, "tcp") == 0) {
                if (!is_loopback(u->u_hostname))
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "%s '%s': plain tcp:// only on loopback; use tls+tcp:// across hosts",
                                               what, url);
                return 0;
        }
        if (strcmp(u->u_scheme, "tls+tcp") == 0) {
                if (tls == NULL || tls->cert == NULL || tls->key == NULL || tls->ca == NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "%s '%s': tls+tcp:// needs a certificate, its key and the CA", what,
                                               url);
                return 0;
        }
        return agora_error_set(err, AGORA_ERR_USAGE,
                               "%s '%s': scheme '%s' (want ipc://, tls+tcp:// or loopback tcp://)", what, url,
                               u->u_scheme);
}

int net_survey_url(const char *url, char **ret, agora_error_t *err)
{
        _cleanup_(url_freep) nng_url *u = NULL;
        int rv = nng_url_parse(&u, url), r;

        if (rv != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "'%s': not an address (%s)", url, nng_strerror(rv));
        if (strcmp(u->u_scheme, "ipc") == 0) {
                r = asprintf(ret, "%s.survey", url);
        } else {
                uint64_t port;
                if (schema_parse_uint(u->u_port, 65534, &port) < 0 || port == 0)
                        return agora_error_set(err, AGORA_ERR_USAGE, "'%s': want a port from 1 to 65534", url);
                const char *h = u->u_hostname;
                r = asprintf(ret, "%s://%s%s%s:%lu", u->u_scheme, strchr(h, ':') ? "[" : "", h,
                             strchr(h, ':') ? "]" : "", (unsigned long)port + 1);
        }
        if (r < 0) {
                *ret = NULL;
                return agora_error_set_errno(err, ENOMEM, "'%s'", url);
        }
        return 0;
}

static int tls_config(const char *url, const net_tls *tls, bool server, nng_tls_config **ret, agora_error_t *err)
{
        _cleanup_(tls_freep) nng_tls_config *cfg = NULL;
        _cleanup_(url_freep) nng_url *u = NULL;
        _cleanup_free_ char *cert = NULL, *key = NULL;
        size_t n;
        int rv;

        if ((rv = nng_url_parse(&u, url)) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "'%s': %s", url, nng_strerror(rv));
        if (fs_read_file(tls->cert, 1 << 20, &cert, &n, err) < 0)
                return agora_error_wrap(err, "TLS certificate");
        if (fs_read_file(tls->key, 1 << 20, &key, &n, err) < 0)
                return agora_error_wrap(err, "TLS key");
        if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "TLS for '%s': %s", url, nng_strerror(rv));
        rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
        sodium_memzero(key, n);
        if (rv != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "TLS certificate '%s' with key '%s': %s", tls->cert,
                                       tls->key, nng_strerror(rv));
        if ((rv = nng_tls_config_ca_file(cfg, tls->ca)) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "TLS CA '%s': %s", tls->ca, nng_strerror(rv));
        /* Both ends must show a certificate from the CA: mutual TLS. */
        if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "TLS for '%s': %s", url, nng_strerror(rv));
        if (!server && (rv = nng_tls_config_server_name(cfg, u->u_hostname)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "TLS for '%s': %s", url, nng_strerror(rv));
        *ret = take_ptr(cfg);
        return 0;
}

static bool wants_tls(const char *url)
{
        return strncmp(url, "tls+tcp://", 10) == 0;
}

int net_listen(nng_socket s, const char *url, const net_tls *tls, agora_error_t *err)
{
        _cleanup_(tls_freep) nng_tls_config *cfg = NULL;
        nng_listener l;
        int rv;

        if ((rv = nng_listener_create(&l, s, url)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "listen on '%s': %s", url, nng_strerror(rv));
        if (wants_tls(url)) {
                if (tls_config(url, tls, true, &cfg, err) < 0)
                        goto fail;
                if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg)) != 0)
                        goto fail_rv;
        }
        if (strncmp(url, "ipc://", 6) == 0 && (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) != 0)
                goto fail_rv;
        if ((rv = nng_listener_start(l, 0)) != 0)
                goto fail_rv;
        return 0;
fail_rv:
        agora_error_set(err, rv == NNG_EADDRINUSE ? AGORA_ERR_BUSY : AGORA_ERR_FAILED, "listen on '%s': %s", url,
                        nng_strerror(rv));
fail:
        nng_listener_close(l);
        return -1;
}

int net_dial(nng_socket s, const char *url, const net_tls *tls, agora_error_t *err)
{
        _cleanup_(tls_freep) nng_tls_config *cfg = NULL;
        nng_dialer d;
        int rv;

        if ((rv = nng_dialer_create(&d, s, url)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
        if (wants_tls(url)) {
                if (tls_config(url, tls, false, &cfg, err) < 0)
                        goto fail;
                if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
                        goto fail_rv;
        }
        /* Reconnect quickly: a worker that restarts is back within a second. */
        nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 20);
        nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 500);
        if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
                goto fail_rv;
        return 0;
fail_rv:
        agora_error_set(err, AGORA_ERR_FAILED, "worker '%s': %s", url, nng_strerror(rv));
fail:
        nng_dialer_close(d);
        return -1;
}

int net_msg_encode(const json_t *header, const void *payload, size_t len, nng_msg **ret, agora_error_t *err)
{
        _cleanup_free_ char *h = NULL;
        unsigned char prefix[WIRE_PREFIX_LEN];
        nng_msg *m = NULL;
        size_t hlen;
        int rv;

        if (wire_header(header, &h, &hlen, prefix, err) < 0)
                return -1;
        if ((rv = nng_msg_alloc(&m, 0)) != 0 || (rv = nng_msg_reserve(m, sizeof(prefix) + hlen + len)) != 0 ||
            (rv = nng_msg_append(m, prefix, sizeof(prefix))) != 0 || (rv = nng_msg_append(m, h, hlen)) != 0 ||
            (len > 0 && (rv = nng_msg_append(m, payload, len)) != 0)) {
                if (m != NULL)
                        nng_msg_free(m);
                return agora_error_set(err, AGORA_ERR_FAILED, "message: %s", nng_strerror(rv));
        }
        *ret = m;
        return 0;
}

int net_msg_decode(nng_msg *msg, json_t **ret_header, const unsigned char **ret_payload, size_t *ret_len,
                   agora_error_t *err)
{
        return wire_decode(nng_msg_body(msg), nng_msg_len(msg), ret_header, ret_payload, ret_len, err);
}

void net_msg_wipe_free(nng_msg *msg)
{
        if (msg == NULL)
                return;
        sodium_memzero(nng_msg_body(msg), nng_msg_len(msg));
        nng_msg_free(msg);
}

static void aio_freep(nng_aio **a)
{
        if (*a != NULL)
                nng_aio_free(*a);
}

int net_request(nng_ctx ctx, const json_t *header, const void *payload, size_t len, int timeout_ms, nng_msg **ret_reply,
                agora_error_t *err)
{
        _cleanup_(aio_freep) nng_aio *aio = NULL;
        nng_msg *m = NULL;
        int rv;

        if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
                return agora_error_set(err, AGORA_ERR_FAILED, "request: %s", nng_strerror(rv));
        if (net_msg_encode(header, payload, len, &m, err) < 0)
                return -1;
        nng_aio_set_msg(aio, m);
        nng_aio_set_timeout(aio, timeout_ms);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if ((rv = nng_aio_result(aio)) != 0) {
                net_msg_wipe_free(nng_aio_get_msg(aio));
                return agora_error_set(err, rv == NNG_ETIMEDOUT ? AGORA_ERR_BUSY : AGORA_ERR_FAILED, "%s",
                                       nng_strerror(rv));
        }
        nng_aio_set_timeout(aio, timeout_ms);
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if ((rv = nng_aio_result(aio)) != 0)
                return agora_error_set(err, rv == NNG_ETIMEDOUT ? AGORA_ERR_BUSY : AGORA_ERR_FAILED, "%s",
                                       nng_strerror(rv));
        *ret_reply = nng_aio_get_msg(aio);
        return 0;
}
