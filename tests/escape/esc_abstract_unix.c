/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Abstract unix sockets have no file, so no mount or file permission
 * hides them: they belong to the network namespace, and Landlock's
 * LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET refuses connecting out of the
 * domain. The test listens on one on the host and passes "@NAME".
 * ECONNREFUSED (not found in the cage's namespace) and EPERM (Landlock) are
 * both refusals.
 */
#define PROBE_NAME "abstract_unix"
#include "probe.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
        if (argc < 2 || argv[1][0] != '@')
                probe_error("usage: esc_abstract_unix @NAME…");
        for (int i = 1; i < argc; i++) {
                struct sockaddr_un sun = {.sun_family = AF_UNIX};
                size_t n = strlen(argv[i] + 1);
                int type[] = {SOCK_STREAM, SOCK_DGRAM};

                if (argv[i][0] != '@' || n + 1 > sizeof sun.sun_path)
                        probe_error("bad name %s", argv[i]);
                /* sun_path[0] = 0: the abstract namespace. */
                memcpy(sun.sun_path + 1, argv[i] + 1, n);
                for (int t = 0; t < 2; t++) {
                        socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
                        int fd = socket(AF_UNIX, type[t] | SOCK_CLOEXEC, 0);
                        const char *kind = t ? "dgram" : "stream";

                        if (fd < 0) {
                                probe_note("%s %s: socket %s", argv[i], kind, probe_errno_name(errno));
                                continue;
                        }
                        if (connect(fd, (struct sockaddr *)&sun, len) == 0)
                                probe_escape("connected to host abstract socket %s (%s)", argv[i], kind);
                        else
                                probe_note("%s %s: %s", argv[i], kind, probe_errno_name(errno));
                        close(fd);
                }
        }
        probe_finish();
}
