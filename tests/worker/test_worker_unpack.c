/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cage_unpack: canonical tarballs from captar_build come out as the same
 * tree with the canonical modes; hostile tarballs, written here entry by
 * entry with libarchive and so never checked by captar, are refused with
 * an error naming the capability and the entry, and nothing appears next
 * to the target directory (a sentinel beside it must stay alone).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "tests/capabilities/captar-test.h"
#include "worker/cage-internal.h"

#define SENTINEL "keep me\n"

typedef struct raw_entry {
        const char *path;
        mode_t mode; /* with the S_IFMT bits */
        const char *content;
        const char *link; /* symlink target, or hardlink target with S_IFREG */
} raw_entry;

typedef struct fixture {
        char *dir; /* holds out/ and sentinel, nothing else */
        char *out;
        int out_fd;
        unsigned char *tar; /* the last tarball written */
        size_t tar_len;
} fixture;

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        f->dir = captar_test_tmpdir();
        f->out = captar_test_join(f->dir, "out");
        assert_int_equal(mkdir(f->out, 0755), 0);
        captar_test_file(f->dir, "sentinel", SENTINEL, 0644);
        f->out_fd = open(f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->out_fd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        close(f->out_fd);
        captar_test_rm_rf(f->dir);
        free(f->dir);
        free(f->out);
        free(f->tar);
        free(f);
        return 0;
}

/* Write V as given, no sanitising: hostile paths, types and all. */
static void write_raw(fixture *f, const char *filter, const raw_entry *v, size_t n)
{
        struct archive *a = archive_write_new();
        int fd = memfd_create("unpack-test", MFD_CLOEXEC);

        assert_non_null(a);
        assert_true(fd >= 0);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (filter != NULL)
                assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
        assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                size_t len = v[i].content ? strlen(v[i].content) : 0;
                archive_entry_set_pathname(e, v[i].path);
                archive_entry_set_mode(e, v[i].mode);
                if (S_ISLNK(v[i].mode))
                        archive_entry_set_symlink(e, v[i].link);
                else if (v[i].link != NULL)
                        archive_entry_set_hardlink(e, v[i].link);
                if (S_ISCHR(v[i].mode))
                        archive_entry_set_rdev(e, makedev(1, 3));
                archive_entry_set_size(e, (la_int64_t)len);
                assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
                if (len > 0)
                        assert_int_equal(archive_write_data(a, v[i].content, len), (ssize_t)len);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        free(f->tar);
        f->tar_len = (size_t)lseek(fd, 0, SEEK_END);
        f->tar = malloc(f->tar_len);
        assert_non_null(f->tar);
        assert_int_equal(pread(fd, f->tar, f->tar_len, 0), (ssize_t)f->tar_len);
        close(fd);
}

/* The scratch directory holds exactly out/ and the untouched sentinel. */
static void assert_nothing_outside(const fixture *f)
{
        DIR *d = opendir(f->dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (strcmp(de->d_name, "out") != 0 && strcmp(de->d_name, "sentinel") != 0)
                        fail_msg("'%s' appeared beside the target directory", de->d_name);
                n++;
        }
        closedir(d);
        assert_int_equal(n, 2);
        char *p = captar_test_join(f->dir, "sentinel"), *buf = NULL;
        agora_error_t err = NULL;
        assert_int_equal(fs_read_file(p, 1024, &buf, NULL, &err), 0);
        assert_string_equal(buf, SENTINEL);
        free(buf);
        free(p);
}

static void expect_refused(fixture *f, const raw_entry *v, size_t n, const captar_limits *lim, const char *entry,
                           const char *why)
{
        agora_error_t err = NULL;

        write_raw(f, NULL, v, n);
        assert_int_equal(cage_unpack("hostile", f->tar, f->tar_len, f->out_fd, lim, &err), -1);
        captar_test_error_says(err, "capability 'hostile'", entry, why, NULL);
        agora_error_release(&err);
        assert_nothing_outside(f);
}

static void assert_file(const fixture *f, const char *rel, const char *content, mode_t mode)
{
        char *p = captar_test_join(f->out, rel), *buf = NULL;
        agora_error_t err = NULL;
        struct stat st;

        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, mode);
        if (fs_read_file(p, 16u << 20, &buf, NULL, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_string_equal(buf, content);
        free(buf);
        free(p);
}

static void assert_dir(const fixture *f, const char *rel)
{
        char *p = captar_test_join(f->out, rel);
        struct stat st;

        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        free(p);
}

/* Build a capability the way the registry does and unpack it. */
static void unpack_built(fixture *f, const char *src)
{
        agora_error_t err = NULL;
        captar_result res;

        if (captar_test_build("good", src, NULL, &f->tar, &f->tar_len, &res, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        if (cage_unpack("good", f->tar, f->tar_len, f->out_fd, NULL, &err) < 0)
                fail_msg("cage_unpack: %s", agora_error_message(err));
}

static char *make_source(fixture *f)
{
        char *src = captar_test_join(f->dir, "src");
        assert_int_equal(mkdir(src, 0755), 0);
        captar_test_file(src, "top.txt", "top\n", 0644);
        captar_test_mkdir(src, "a", 0700);
        captar_test_file(src, "a/b.txt", "bee\n", 0600);
        captar_test_mkdir(src, "bin", 0755);
        captar_test_file(src, "bin/run", "#!/bin/sh\necho run\n", 0700);
        captar_test_mkdir(src, "deep", 0755);
        captar_test_mkdir(src, "deep/x", 0755);
        captar_test_mkdir(src, "deep/x/y", 0711);
        captar_test_file(src, "deep/x/y/z.txt", "zed\n", 0444);
        captar_test_mkdir(src, "empty", 0755);
        return src;
}

static void test_canonical_tree_is_unpacked(void **state)
{
        fixture *f = *state;
        char *src = make_source(f);

        unpack_built(f, src);
        assert_file(f, "top.txt", "top\n", 0644);
        assert_dir(f, "a");
        assert_file(f, "a/b.txt", "bee\n", 0644);
        assert_file(f, "bin/run", "#!/bin/sh\necho run\n", 0755);
        assert_dir(f, "deep/x/y");
        assert_file(f, "deep/x/y/z.txt", "zed\n", 0644);
        assert_dir(f, "empty");
        captar_test_rm_rf(src);
        free(src);
        assert_nothing_outside(f);
}

static void test_modes_do_not_follow_the_umask(void **state)
{
        fixture *f = *state;
        char *src = make_source(f);
        mode_t old = umask(077);

        unpack_built(f, src);
        umask(old);
        assert_dir(f, "a");
        assert_file(f, "top.txt", "top\n", 0644);
        assert_file(f, "bin/run", "#!/bin/sh\necho run\n", 0755);
        captar_test_rm_rf(src);
        free(src);
}

static void test_large_file_is_whole(void **state)
{
        fixture *f = *state;
        size_t n = 3u << 20;
        char *big = malloc(n + 1);
        agora_error_t err = NULL;

        assert_non_null(big);
        for (size_t i = 0; i < n; i++)
                big[i] = (char)('a' + i % 26);
        big[n] = '\0';
        const raw_entry v[] = {{"big.txt", S_IFREG | 0644, big, NULL}};
        write_raw(f, NULL, v, 1);
        if (cage_unpack("good", f->tar, f->tar_len, f->out_fd, NULL, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_file(f, "big.txt", big, 0644);
        free(big);
}

static void test_symlink_entry_is_refused(void **state)
{
        const raw_entry v[] = {{"sh", S_IFLNK | 0777, NULL, "/bin/sh"}};
        expect_refused(*state, v, 1, NULL, "'sh'", "symbolic links are not allowed");
}

static void test_hardlink_entry_is_refused(void **state)
{
        fixture *f = *state;
        char *target = captar_test_join(f->dir, "sentinel");
        const raw_entry v[] = {{"a", S_IFREG | 0644, "a\n", NULL}, {"b", S_IFREG | 0644, NULL, target}};
        expect_refused(f, v, 2, NULL, "'b'", "hard links are not allowed");
        free(target);
}

static void test_dotdot_is_refused(void **state)
{
        const raw_entry v[] = {{"../sentinel", S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(*state, v, 1, NULL, "'../sentinel'", "'..' is not allowed");
}

static void test_inner_dotdot_is_refused(void **state)
{
        const raw_entry v[] = {{"a/", S_IFDIR | 0755, NULL, NULL}, {"a/../../x", S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(*state, v, 2, NULL, "'a/../../x'", "'..' is not allowed");
}

static void test_absolute_path_is_refused(void **state)
{
        fixture *f = *state;
        char *abs = captar_test_join(f->dir, "pwned");
        const raw_entry v[] = {{abs, S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(f, v, 1, NULL, abs, "absolute paths are not allowed");
        free(abs);
}

static void test_empty_component_is_refused(void **state)
{
        const raw_entry v[] = {{"a/", S_IFDIR | 0755, NULL, NULL}, {"a//b", S_IFREG | 0644, "b\n", NULL}};
        expect_refused(*state, v, 2, NULL, "'a//b'", "empty path component");
}

static void test_dot_component_is_refused(void **state)
{
        const raw_entry v[] = {{"./a", S_IFREG | 0644, "a\n", NULL}};
        expect_refused(*state, v, 1, NULL, "'./a'", "'.' is not allowed");
}

static void test_control_character_is_refused(void **state)
{
        const raw_entry v[] = {{"a\033[2Jb", S_IFREG | 0644, "a\n", NULL}};
        expect_refused(*state, v, 1, NULL, "capability 'hostile'", "only printable ASCII");
}

static void test_long_component_is_refused(void **state)
{
        char name[300];
        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        const raw_entry v[] = {{name, S_IFREG | 0644, "a\n", NULL}};
        expect_refused(*state, v, 1, NULL, "nnnnnnnn", "longer than 255 bytes");
}

static void test_device_node_is_refused(void **state)
{
        const raw_entry v[] = {{"null", S_IFCHR | 0666, NULL, NULL}};
        expect_refused(*state, v, 1, NULL, "'null'", "device files are not allowed");
}

static void test_fifo_is_refused(void **state)
{
        const raw_entry v[] = {{"pipe", S_IFIFO | 0644, NULL, NULL}};
        expect_refused(*state, v, 1, NULL, "'pipe'", "special files are not allowed");
}

static void test_setuid_file_is_refused(void **state)
{
        const raw_entry v[] = {{"su", S_IFREG | 04755, "#!/bin/sh\n", NULL}};
        expect_refused(*state, v, 1, NULL, "'su'", "setuid/setgid/sticky");
}

static void test_setgid_dir_is_refused(void **state)
{
        const raw_entry v[] = {{"g/", S_IFDIR | 02755, NULL, NULL}};
        expect_refused(*state, v, 1, NULL, "'g/'", "setuid/setgid/sticky");
}

static void test_too_many_entries_are_refused(void **state)
{
        captar_limits lim;
        captar_limits_default(&lim);
        lim.max_entries = 2;
        const raw_entry v[] = {{"a", S_IFREG | 0644, "a\n", NULL},
                               {"b", S_IFREG | 0644, "b\n", NULL},
                               {"c", S_IFREG | 0644, "c\n", NULL}};
        expect_refused(*state, v, 3, &lim, "'c'", "more than 2 entries");
}

static void test_too_many_bytes_are_refused(void **state)
{
        fixture *f = *state;
        captar_limits lim;
        captar_limits_default(&lim);
        lim.max_bytes = 5;
        const raw_entry v[] = {{"a", S_IFREG | 0644, "abc", NULL}, {"b", S_IFREG | 0644, "def", NULL}};
        expect_refused(f, v, 2, &lim, "'b'", "more than 5 bytes");
        /* Refused on the declared size, before a byte of it was written. */
        char *b = captar_test_join(f->out, "b");
        assert_int_equal(access(b, F_OK), -1);
        free(b);
}

static void test_duplicate_file_is_refused(void **state)
{
        fixture *f = *state;
        const raw_entry v[] = {{"a", S_IFREG | 0644, "first\n", NULL}, {"a", S_IFREG | 0644, "second\n", NULL}};
        expect_refused(f, v, 2, NULL, "'a'", "already exists");
        assert_file(f, "a", "first\n", 0644);
}

static void test_existing_file_is_not_overwritten(void **state)
{
        fixture *f = *state;
        captar_test_file(f->out, "planted", "planted\n", 0600);
        const raw_entry v[] = {{"planted", S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(f, v, 1, NULL, "'planted'", "already exists");
        assert_file(f, "planted", "planted\n", 0600);
}

static void test_planted_symlink_is_not_followed(void **state)
{
        fixture *f = *state;
        char *link = captar_test_join(f->out, "up");
        /* A symlink already in the tree pointing out of it: the entry below
         * it must not land in f->dir. */
        assert_int_equal(symlink(f->dir, link), 0);
        const raw_entry v[] = {{"up/pwned", S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(f, v, 1, NULL, "'up/pwned'", "cannot open its directory 'up'");
        unlink(link);
        free(link);
}

static void test_planted_symlink_as_file_is_not_followed(void **state)
{
        fixture *f = *state;
        char *link = captar_test_join(f->out, "s");
        char *sentinel = captar_test_join(f->dir, "sentinel");
        assert_int_equal(symlink(sentinel, link), 0);
        const raw_entry v[] = {{"s", S_IFREG | 0644, "evil\n", NULL}};
        expect_refused(f, v, 1, NULL, "'s'", "already exists");
        unlink(link);
        free(link);
        free(sentinel);
}

static void test_missing_parent_is_refused(void **state)
{
        const raw_entry v[] = {{"nodir/file", S_IFREG | 0644, "x\n", NULL}};
        expect_refused(*state, v, 1, NULL, "'nodir/file'", "cannot open its directory 'nodir'");
}

static void test_compressed_tarball_is_refused(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        const raw_entry v[] = {{"a", S_IFREG | 0644, "a\n", NULL}};

        /* What was hashed is the uncompressed tarball; a gzip stream is not
         * it, so no decompressor is even offered. */
        write_raw(f, "gzip", v, 1);
        assert_int_equal(cage_unpack("hostile", f->tar, f->tar_len, f->out_fd, NULL, &err), -1);
        captar_test_error_says(err, "capability 'hostile'", NULL);
        agora_error_release(&err);
        char *a = captar_test_join(f->out, "a");
        assert_int_equal(access(a, F_OK), -1);
        free(a);
}

/* A tmpfs that is too small: the error names the capability and the file
 * that did not fit. Needs a private mount namespace, so in a child. */
static void test_full_tmpfs_names_capability_and_path(void **state)
{
        fixture *f = *state;
        int pipefd[2];
        char msg[1024] = "";
        int status;

        if (geteuid() != 0)
                skip();
        size_t n = 256u << 10;
        char *big = malloc(n + 1);
        memset(big, 'x', n);
        big[n] = '\0';
        const raw_entry v[] = {{"big.bin", S_IFREG | 0644, big, NULL}};
        write_raw(f, NULL, v, 1);
        free(big);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                agora_error_t err = NULL;
                int fd;
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("tmpfs", f->out, "tmpfs", 0, "size=64k") < 0 ||
                    (fd = open(f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                        dprintf(pipefd[1], "setup: %s", strerror(errno));
                        _exit(2);
                }
                if (cage_unpack("big", f->tar, f->tar_len, fd, NULL, &err) == 0)
                        _exit(3);
                dprintf(pipefd[1], "%s", agora_error_message(err));
                _exit(0);
        }
        close(pipefd[1]);
        ssize_t r = read(pipefd[0], msg, sizeof(msg) - 1);
        msg[r > 0 ? r : 0] = '\0';
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("child status %d: %s", status, msg);
        const char *needles[] = {"capability 'big'", "'big.bin'", "No space left on device"};
        for (size_t i = 0; i < ARRAY_SIZE(needles); i++)
                if (strstr(msg, needles[i]) == NULL)
                        fail_msg("error '%s' does not mention '%s'", msg, needles[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_canonical_tree_is_unpacked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modes_do_not_follow_the_umask, setup, teardown),
                cmocka_unit_test_setup_teardown(test_large_file_is_whole, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inner_dotdot_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_absolute_path_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_component_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dot_component_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_control_character_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_component_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_device_node_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fifo_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_setuid_file_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_setgid_dir_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_entries_are_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_bytes_are_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_file_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_existing_file_is_not_overwritten, setup, teardown),
                cmocka_unit_test_setup_teardown(test_planted_symlink_is_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_planted_symlink_as_file_is_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_parent_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compressed_tarball_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_tmpfs_names_capability_and_path, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
