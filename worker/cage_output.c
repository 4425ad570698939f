/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The program's stdout and stderr are pipes that only agora-cage reads:
 * the cage never holds the caller's terminal or files, so it cannot write
 * into them beyond its cap, nor push input into them with TIOCSTI. What
 * comes out is capped per stream; the cap is reported, never a silent cut.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "worker/cage-internal.h"

#define PUMP_CHUNK (64u << 10)

int cage_pump_init(cage_pump *p, cage_stream *s, int fd, uint64_t cap, bool capture, int relay_fd, agora_error_t *err)
{
        memset(p, 0, sizeof(*p));
        memset(s, 0, sizeof(*s));
        s->cap = cap;
        p->s = s;
        p->fd = fd;
        p->relay_fd = capture ? -1 : relay_fd;
        return agora_hasher_new(&p->hasher, err);
}

static int keep(cage_pump *p, const unsigned char *buf, size_t n, agora_error_t *err)
{
        cage_stream *s = p->s;

        if (p->relay_fd >= 0) {
                /* A reader that went away is no reason to stop draining:
                 * the program would block on a full pipe. */
                (void)fs_write_all(p->relay_fd, buf, n);
        } else {
                if (s->len + n > p->alloc) {
                        size_t want = p->alloc ? p->alloc : PUMP_CHUNK;
                        while (want < s->len + n)
                                want *= 2;
                        unsigned char *grown = realloc(s->data, want);
                        if (grown == NULL)
                                return agora_error_set_errno(err, ENOMEM, "keeping program output");
                        s->data = grown;
                        p->alloc = want;
                }
                memcpy(s->data + s->len, buf, n);
        }
        s->len += n;
        agora_hasher_update(p->hasher, buf, n);
        return 0;
}

int cage_pump_read(cage_pump *p, agora_error_t *err)
{
        unsigned char buf[PUMP_CHUNK];
        cage_stream *s = p->s;

        if (p->fd < 0)
                return 0;
        for (;;) {
                ssize_t n = read(p->fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return agora_error_set_errno(err, errno, "reading program output");
                if (n == 0) {
                        close(p->fd);
                        p->fd = -1;
                        return 0;
                }
                s->total += (uint64_t)n;
                size_t room = s->len < s->cap ? (size_t)(s->cap - s->len) : 0;
                size_t take = (size_t)n < room ? (size_t)n : room;
                if (take > 0 && keep(p, buf, take, err) < 0)
                        return -1;
                /* Said at once, not at the next empty pipe: a program that
                 * writes faster than this loop reads would otherwise keep
                 * agora-cage here, past its timeout, never stopped. */
                if (s->total > s->cap) {
                        s->truncated = true;
                        return 1;
                }
        }
}

void cage_pump_finish(cage_pump *p)
{
        if (p->fd >= 0) {
                close(p->fd);
                p->fd = -1;
        }
        if (p->hasher != NULL) {
                agora_hasher_final(p->hasher, &p->s->hash);
                agora_hasher_free(p->hasher);
                p->hasher = NULL;
        }
}
