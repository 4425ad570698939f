/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A TCP connection to a service on the host (the test listens on every
 * address of the host and passes ADDR:PORT, [ADDR6]:PORT arguments).
 * Three layers stop it: the filter refuses AF_INET sockets (EPERM),
 * Landlock denies TCP connect (EACCES), and the cage's network namespace
 * has only its own loopback and no route (ECONNREFUSED, ENETUNREACH).
 */
#define PROBE_NAME "tcp_connect"
#include "probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int parse(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
        char host[128];
        const char *colon = strrchr(arg, ':');
        size_t hlen;
        long port;

        if (!colon)
                return -1;
        hlen = (size_t)(colon - arg);
        if (arg[0] == '[' && hlen >= 2 && arg[hlen - 1] == ']') {
                arg++;
                hlen -= 2;
        }
        if (hlen >= sizeof host)
                return -1;
        memcpy(host, arg, hlen);
        host[hlen] = '\0';
        port = strtol(colon + 1, NULL, 10);
        if (port <= 0 || port > 65535)
                return -1;
        memset(ss, 0, sizeof *ss);
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
                ((struct sockaddr_in *)ss)->sin_family = AF_INET;
                ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
                *len = sizeof(struct sockaddr_in);
                return 0;
        }
        if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
                *len = sizeof(struct sockaddr_in6);
                return 0;
        }
        return -1;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                probe_error("usage: esc_tcp_connect ADDR:PORT…");
        for (int i = 1; i < argc; i++) {
                struct sockaddr_storage ss;
                struct timeval tv = {.tv_sec = 3};
                socklen_t len;
                int fd;

                if (parse(argv[i], &ss, &len) < 0)
                        probe_error("bad address %s", argv[i]);
                fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        probe_note("%s: socket %s", argv[i], probe_errno_name(errno));
                        continue;
                }
                /* A dropped SYN must not hang the probe. */
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                if (connect(fd, (struct sockaddr *)&ss, len) == 0)
                        probe_escape("connected to %s", argv[i]);
                else
                        probe_note("%s: connect %s", argv[i], probe_errno_name(errno));
                close(fd);
        }
        probe_finish();
}
