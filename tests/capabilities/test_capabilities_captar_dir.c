/* SPDX-License-Identifier: Apache-2.0 */
/*
 * captar_build on a directory, judged by stock tools: GNU tar lists and
 * extracts the output, sha256sum hashes it.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/capabilities/captar-test.h"

typedef struct listed {
        char mode[16];
        char owner[32];
        unsigned long long size;
        char date[16];
        char time[8];
        char name[256];
} listed;

/* Parse `tar -tvv` lines: "drwxr-xr-x 0/0 0 1970-01-01 00:00 bin/". */
static size_t tar_list(const char *tarfile, listed *out, size_t max)
{
        char *text = captar_test_run("TZ=UTC LC_ALL=C tar --numeric-owner -tvf '%s'", tarfile);
        size_t n = 0;

        for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
                assert_true(n < max);
                assert_int_equal(sscanf(line, "%15s %31s %llu %15s %7s %255s", out[n].mode, out[n].owner, &out[n].size,
                                        out[n].date, out[n].time, out[n].name),
                                 6);
                n++;
        }
        free(text);
        return n;
}

static const listed *find(const listed *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0)
                        return &v[i];
        fail_msg("'%s' not in the listing", name);
        return NULL;
}

typedef struct fixture {
        char *dir; /* scratch root */
        char *src; /* the capability's directory */
        char *tarfile; /* where a test may put the output */
} fixture;

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        f->dir = captar_test_tmpdir();
        f->src = captar_test_join(f->dir, "cap");
        f->tarfile = captar_test_join(f->dir, "out.tar");
        assert_int_equal(mkdir(f->src, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        captar_test_rm_rf(f->dir);
        free(f->dir);
        free(f->src);
        free(f->tarfile);
        free(f);
        return 0;
}

/* Build f->src into f->tarfile with default limits; the build must succeed. */
static void build_ok(fixture *f, captar_result *res)
{
        agora_error_t err = NULL;
        int fd = open(f->tarfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        if (captar_build("x", f->src, NULL, fd, res, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        close(fd);
}

static void build_fails(fixture *f, const captar_limits *limits, agora_error_t *err)
{
        assert_int_equal(captar_test_build("x", f->src, limits, NULL, NULL, NULL, err), -1);
}

static void test_listing_has_owner_zero_and_epoch_mtime(void **state)
{
        fixture *f = *state;
        listed v[16];
        captar_result res;

        captar_test_mkdir(f->src, "bin", 0750);
        captar_test_file(f->src, "bin/run", "#!/bin/sh\n", 0750);
        captar_test_file(f->src, "README", "hello\n", 0664);
        build_ok(f, &res);
        size_t n = tar_list(f->tarfile, v, 16);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(v[i].owner, "0/0");
                assert_string_equal(v[i].date, "1970-01-01");
                assert_string_equal(v[i].time, "00:00");
        }
        assert_string_equal(find(v, n, "README")->mode, "-rw-r--r--");
        assert_int_equal(find(v, n, "README")->size, 6);
        assert_string_equal(find(v, n, "bin/")->mode, "drwxr-xr-x");
        assert_string_equal(find(v, n, "bin/run")->mode, "-rwxr-xr-x");
}

static void test_mode_0700_becomes_0755(void **state)
{
        fixture *f = *state;
        listed v[4];
        captar_result res;

        captar_test_file(f->src, "tool", "x", 0700);
        build_ok(f, &res);
        assert_int_equal(tar_list(f->tarfile, v, 4), 1);
        assert_string_equal(v[0].mode, "-rwxr-xr-x");
}

static void test_mode_0600_becomes_0644(void **state)
{
        fixture *f = *state;
        listed v[4];
        captar_result res;

        captar_test_file(f->src, "secret-looking", "x", 0600);
        build_ok(f, &res);
        assert_int_equal(tar_list(f->tarfile, v, 4), 1);
        assert_string_equal(v[0].mode, "-rw-r--r--");
}

static void test_empty_directory_is_kept(void **state)
{
        fixture *f = *state;
        listed v[4];
        captar_result res;

        captar_test_mkdir(f->src, "cache", 0700);
        build_ok(f, &res);
        assert_int_equal(tar_list(f->tarfile, v, 4), 1);
        assert_string_equal(v[0].name, "cache/");
        assert_string_equal(v[0].mode, "drwxr-xr-x");
}

static void test_entries_are_in_bytewise_order(void **state)
{
        fixture *f = *state;
        captar_result res;

        captar_test_mkdir(f->src, "a", 0755);
        captar_test_file(f->src, "a/b", "1", 0644);
        captar_test_file(f->src, "a-b", "2", 0644);
        captar_test_file(f->src, "a.b", "3", 0644);
        build_ok(f, &res);
        char *names = captar_test_run("tar -tf '%s'", f->tarfile);
        /* strcmp order: "a" < "a-b" (0x2d) < "a.b" (0x2e) < "a/b" (0x2f). */
        assert_string_equal(names, "a/\na-b\na.b\na/b\n");
        free(names);
}

static void test_hash_is_sha256_of_the_bytes(void **state)
{
        fixture *f = *state;
        captar_result res;
        char want[AGORA_HASH_STR_LEN + 1], got[AGORA_HASH_STR_LEN + 1];

        captar_test_file(f->src, "data", "some content\n", 0644);
        build_ok(f, &res);
        char *out = captar_test_run("sha256sum '%s'", f->tarfile);
        snprintf(want, sizeof(want), "sha256:%.64s", out);
        agora_hash_format(&res.hash, got);
        assert_string_equal(got, want);
        free(out);
}

static void test_result_counts_entries_and_bytes(void **state)
{
        fixture *f = *state;
        captar_result res;
        struct stat st;

        captar_test_mkdir(f->src, "d", 0755);
        captar_test_file(f->src, "d/one", "12345", 0644);
        captar_test_file(f->src, "two", "123", 0644);
        build_ok(f, &res);
        assert_int_equal(stat(f->tarfile, &st), 0);
        assert_int_equal(res.size, (uint64_t)st.st_size);
        assert_int_equal(res.entries, 3);
        assert_int_equal(res.content_bytes, 8);
}

static void test_extracts_to_the_same_content(void **state)
{
        fixture *f = *state;
        captar_result res;

        captar_test_mkdir(f->src, "lib", 0755);
        captar_test_mkdir(f->src, "lib/deep", 0755);
        captar_test_file(f->src, "lib/deep/mod.py", "print('hi')\n", 0644);
        captar_test_file(f->src, "main", "#!/bin/sh\necho hi\n", 0755);
        build_ok(f, &res);
        char *out = captar_test_run("mkdir '%s/x' && tar -xf '%s' -C '%s/x' && diff -r '%s' '%s/x' && echo same",
                                    f->dir, f->tarfile, f->dir, f->src, f->dir);
        assert_string_equal(out, "same\n");
        free(out);
}

/* Two separate processes (different PIDs, different times) must produce
 * the same bytes, including for a path long enough to need a pax header. */
static void test_same_bytes_from_two_processes(void **state)
{
        fixture *f = *state;
        char longname[201];
        char *outs[2];

        memset(longname, 'n', 200);
        longname[200] = '\0';
        captar_test_file(f->src, longname, "long\n", 0644);
        captar_test_file(f->src, "short", "s\n", 0644);
        for (int i = 0; i < 2; i++) {
                char rel[16];
                snprintf(rel, sizeof(rel), "out%d.tar", i);
                outs[i] = captar_test_join(f->dir, rel);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        agora_error_t err = NULL;
                        int fd = open(outs[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        _exit(fd >= 0 && captar_build("x", f->src, NULL, fd, NULL, &err) == 0 ? 0 : 1);
                }
                int status;
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL); /* a different second/ms for any clock-derived field */
        }
        char *cmp = captar_test_run("cmp '%s' '%s' && echo same", outs[0], outs[1]);
        assert_string_equal(cmp, "same\n");
        /* The long name really went through a pax extended header. */
        char *pax = captar_test_run("grep -c PaxHeader '%s' || true", outs[0]);
        assert_string_not_equal(pax, "0\n");
        free(cmp);
        free(pax);
        free(outs[0]);
        free(outs[1]);
}

static void test_symlink_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;

        captar_test_mkdir(f->src, "bin", 0755);
        char *link = captar_test_join(f->src, "bin/link");
        assert_int_equal(symlink("/etc/passwd", link), 0);
        build_fails(f, NULL, &err);
        assert_string_equal(
                agora_error_message(err),
                "capability 'x': 'bin/link': symbolic links are not allowed (regular files and directories only)");
        agora_error_release(&err);
        free(link);
}

static void test_fifo_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        char *p = captar_test_join(f->src, "pipe");

        assert_int_equal(mkfifo(p, 0644), 0);
        build_fails(f, NULL, &err);
        captar_test_error_says(err, "capability 'x'", "'pipe'", "FIFOs are not allowed", NULL);
        agora_error_release(&err);
        free(p);
}

static void test_socket_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(s >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", f->src);
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        build_fails(f, NULL, &err);
        captar_test_error_says(err, "capability 'x'", "'sock'", "sockets are not allowed", NULL);
        agora_error_release(&err);
        close(s);
}

static void test_setuid_file_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;

        captar_test_file(f->src, "suid", "x", 04755);
        build_fails(f, NULL, &err);
        captar_test_error_says(err, "capability 'x'", "'suid'", "setuid/setgid", NULL);
        agora_error_release(&err);
}

static void test_too_many_entries_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_limits lim;

        captar_limits_default(&lim);
        lim.max_entries = 3;
        for (int i = 0; i < 4; i++) {
                char rel[8];
                snprintf(rel, sizeof(rel), "f%d", i);
                captar_test_file(f->src, rel, "x", 0644);
        }
        build_fails(f, &lim, &err);
        captar_test_error_says(err, "capability 'x'", "more than 3 entries (limit --max-entries)", NULL);
        agora_error_release(&err);
}

static void test_too_many_bytes_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_limits lim;

        captar_limits_default(&lim);
        lim.max_bytes = 10;
        captar_test_file(f->src, "a", "123456", 0644);
        captar_test_file(f->src, "b", "123456", 0644);
        build_fails(f, &lim, &err);
        captar_test_error_says(err, "capability 'x'", "more than 10 bytes of content (limit --max-size)", NULL);
        agora_error_release(&err);
}

static void test_full_disk_is_reported(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        captar_test_file(f->src, "a", "content", 0644);
        assert_int_equal(captar_build("x", f->src, NULL, fd, NULL, &err), -1);
        assert_string_equal(agora_error_message(err), "capability 'x': writing tarball: No space left on device");
        agora_error_release(&err);
        close(fd);
}

typedef struct progress_log {
        unsigned calls;
        uint64_t last_done, last_total;
        bool monotonic;
} progress_log;

static void record_progress(void *ctx, uint64_t done, uint64_t total)
{
        progress_log *p = ctx;
        if (done < p->last_done)
                p->monotonic = false;
        p->calls++;
        p->last_done = done;
        p->last_total = total;
}

static void test_progress_reports_every_4mib_up_to_total(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_limits lim;
        progress_log log = {.monotonic = true};
        char *p = captar_test_join(f->src, "big");
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 10 << 20), 0);
        close(fd);
        captar_limits_default(&lim);
        lim.progress = record_progress;
        lim.progress_ctx = &log;
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        assert_int_equal(captar_build("x", f->src, &lim, fd, NULL, &err), 0);
        close(fd);
        /* 10 MiB at one report per 4 MiB at most: the first chunk, 4-ish,
         * 8-ish, and the final one. */
        assert_in_range(log.calls, 2, 4);
        assert_true(log.monotonic);
        assert_int_equal(log.last_done, 10 << 20);
        assert_int_equal(log.last_total, 10 << 20);
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_listing_has_owner_zero_and_epoch_mtime, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mode_0700_becomes_0755, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mode_0600_becomes_0644, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_directory_is_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entries_are_in_bytewise_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hash_is_sha256_of_the_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_result_counts_entries_and_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_extracts_to_the_same_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_bytes_from_two_processes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fifo_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_socket_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_setuid_file_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_entries_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_bytes_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_disk_is_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_progress_reports_every_4mib_up_to_total, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
