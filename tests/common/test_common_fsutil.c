/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "tests/common/common-test.h"

static int setup_dir(void **state)
{
        return test_tmpdir_setup(state, "agora-fsutil");
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        assert_non_null(d);
        while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void write_plain(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_write_creates_file_with_content_and_mode(void **state)
{
        _cleanup_free_ char *p = path_in(state, "f");
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        struct stat st;
        size_t len = 0;

        assert_int_equal(fs_write_atomic(p, "hello\n", 6, 0640, false, &err), 0);
        assert_int_equal(fs_read_file(p, 100, &buf, &len, &err), 0);
        assert_int_equal(len, 6);
        assert_string_equal(buf, "hello\n");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(count_entries(*state), 1); /* no temp file left */
}

static void test_write_refuses_overwrite_and_keeps_old(void **state)
{
        _cleanup_free_ char *p = path_in(state, "f");
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        write_plain(p, "old");
        assert_int_equal(fs_write_atomic(p, "new", 3, 0644, false, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
        assert_non_null(strstr(agora_error_message(err), "already exists, refusing to overwrite"));
        assert_non_null(strstr(agora_error_message(err), p));
        assert_int_equal(fs_read_file(p, 100, &buf, NULL, &err), 0);
        assert_string_equal(buf, "old");
        assert_int_equal(count_entries(*state), 1);
}

static void test_write_overwrite_replaces(void **state)
{
        _cleanup_free_ char *p = path_in(state, "f");
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        write_plain(p, "old");
        assert_int_equal(fs_write_atomic(p, "new", 3, 0644, true, &err), 0);
        assert_int_equal(fs_read_file(p, 100, &buf, NULL, &err), 0);
        assert_string_equal(buf, "new");
        assert_int_equal(count_entries(*state), 1);
}

static void test_write_into_missing_dir_fails_cleanly(void **state)
{
        _cleanup_free_ char *p = path_in(state, "nodir/f");
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(fs_write_atomic(p, "x", 1, 0644, false, &err), -1);
        assert_non_null(strstr(agora_error_message(err), p));
        assert_int_equal(count_entries(*state), 0);
}

static void test_write_enospc_is_clear_and_leaves_nothing(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        /* /dev/full answers every write with ENOSPC, but it is not a
         * directory we can create temp files in; a full tmpfs needs root.
         * Use a real small tmpfs when we can mount one, else skip. */
        if (access("/dev/full", W_OK) != 0 || geteuid() != 0) {
                skip();
                return;
        }
        char dir[] = "/tmp/agora-full-XXXXXX", cmd[128], path[64];
        assert_non_null(mkdtemp(dir));
        snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=16k tmpfs %s 2>/dev/null", dir);
        if (system(cmd) != 0) {
                rmdir(dir);
                skip();
                return;
        }
        snprintf(path, sizeof(path), "%s/big", dir);
        size_t n = 1 << 20;
        char *buf = calloc(1, n);
        assert_non_null(buf);
        assert_int_equal(fs_write_atomic(path, buf, n, 0644, false, &err), -1);
        free(buf);
        char want[128];
        snprintf(want, sizeof(want), "'%s': write failed: No space left on device", path);
        assert_string_equal(agora_error_message(err), want);
        assert_int_equal(count_entries(dir), 0);
        snprintf(cmd, sizeof(cmd), "umount %s", dir);
        assert_int_equal(system(cmd), 0);
        rmdir(dir);
}

static void test_read_missing_is_notfound(void **state)
{
        _cleanup_free_ char *p = path_in(state, "absent");
        _cleanup_free_ char *want = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        char *buf = NULL;

        assert_int_equal(fs_read_file(p, 100, &buf, NULL, &err), -1);
        assert_null(buf);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_true(asprintf(&want, "'%s': No such file or directory", p) > 0);
        assert_string_equal(agora_error_message(err), want);
}

static void test_read_refuses_too_large(void **state)
{
        _cleanup_free_ char *p = path_in(state, "big");
        _cleanup_error_ agora_error_t err = NULL;
        char *buf = NULL;

        write_plain(p, "0123456789");
        assert_int_equal(fs_read_file(p, 9, &buf, NULL, &err), -1);
        assert_non_null(strstr(agora_error_message(err), "larger than 9 bytes"));
}

static void test_read_exact_max_ok(void **state)
{
        _cleanup_free_ char *p = path_in(state, "ten");
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        size_t len = 0;

        write_plain(p, "0123456789");
        assert_int_equal(fs_read_file(p, 10, &buf, &len, &err), 0);
        assert_int_equal(len, 10);
        assert_int_equal(buf[10], '\0');
}

static void test_read_refuses_directory(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        char *buf = NULL;

        assert_int_equal(fs_read_file(*state, 100, &buf, NULL, &err), -1);
        assert_non_null(strstr(agora_error_message(err), "not a regular file"));
}

/* No writer holds the FIFO open: a blocking open would hang here, so an
 * alarm turns that regression into a failed test instead of a stuck one. */
static void test_read_refuses_fifo(void **state)
{
        _cleanup_free_ char *p = path_in(state, "fifo");
        _cleanup_error_ agora_error_t err = NULL;
        char *buf = NULL;

        assert_int_equal(mkfifo(p, 0600), 0);
        alarm(5);
        assert_int_equal(fs_read_file(p, 100, &buf, NULL, &err), -1);
        alarm(0);
        assert_non_null(strstr(agora_error_message(err), "not a regular file"));
}

static void test_mkdir_p_creates_nested_and_accepts_existing(void **state)
{
        _cleanup_free_ char *p = path_in(state, "a/b//c/");
        _cleanup_free_ char *c = path_in(state, "a/b/c");
        _cleanup_error_ agora_error_t err = NULL;
        struct stat st;

        assert_int_equal(fs_mkdir_p(p, 0755, &err), 0);
        assert_int_equal(stat(c, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(fs_mkdir_p(c, 0755, &err), 0);
}

static void test_mkdir_p_fails_on_file_in_the_way(void **state)
{
        _cleanup_free_ char *f = path_in(state, "file");
        _cleanup_free_ char *p = path_in(state, "file/sub");
        _cleanup_error_ agora_error_t err = NULL;

        write_plain(f, "x");
        assert_int_equal(fs_mkdir_p(p, 0755, &err), -1);
        assert_non_null(err);
}

static void test_within_plain_and_nonexistent(void **state)
{
        _cleanup_free_ char *a = path_in(state, "x");
        _cleanup_free_ char *b = path_in(state, "new/deeper/file");

        assert_true(fs_path_is_within(*state, *state));
        assert_true(fs_path_is_within(*state, a));
        assert_true(fs_path_is_within(*state, b));
        assert_false(fs_path_is_within(*state, "/etc/passwd"));
}

static void test_within_dir_not_yet_created(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "reg/to/be");
        _cleanup_free_ char *inside = path_in(state, "reg/to/be/keys/op.key");
        _cleanup_free_ char *beside = path_in(state, "reg/to/keys/op.key");
        _cleanup_free_ char *l = path_in(state, "alias");

        assert_true(fs_path_is_within(dir, inside));
        assert_false(fs_path_is_within(dir, beside));
        /* The same registry reached through a symlink to its existing parent. */
        assert_int_equal(symlink(*state, l), 0);
        _cleanup_free_ char *via = path_in(state, "alias/reg/to/be/op.key");
        assert_true(fs_path_is_within(dir, via));
}

/* ".." through directories that do not exist yet climbs as the kernel will,
 * so a key path cannot dodge the check by spelling the registry another way. */
static void test_within_dotdot_through_missing_dirs(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "r3");
        _cleanup_free_ char *key = path_in(state, "r3/../r3/k/op.key");
        _cleanup_free_ char *out = path_in(state, "r3/k/../../elsewhere/op.key");

        assert_true(fs_path_is_within(dir, key));
        assert_false(fs_path_is_within(dir, out));
}

static void test_within_rejects_dotdot_escape(void **state)
{
        _cleanup_free_ char *esc = path_in(state, "../outside");
        _cleanup_free_ char *esc2 = path_in(state, "new/../../outside");

        assert_false(fs_path_is_within(*state, esc));
        assert_false(fs_path_is_within(*state, esc2));
}

static void test_within_rejects_prefix_sibling(void **state)
{
        _cleanup_free_ char *sib = NULL;

        assert_true(asprintf(&sib, "%sx/file", (char *)*state) > 0);
        assert_false(fs_path_is_within(*state, sib));
}

static void test_within_follows_symlink_out(void **state)
{
        _cleanup_free_ char *l = path_in(state, "link");
        _cleanup_free_ char *through = path_in(state, "link/passwd");

        assert_int_equal(symlink("/etc", l), 0);
        assert_false(fs_path_is_within(*state, l));
        assert_false(fs_path_is_within(*state, through));
}

static void test_within_rejects_dangling_symlink(void **state)
{
        _cleanup_free_ char *l = path_in(state, "dangle");

        assert_int_equal(symlink("/nonexistent-agora-target/x", l), 0);
        assert_false(fs_path_is_within(*state, l));
}

static void test_within_accepts_symlink_inside(void **state)
{
        _cleanup_free_ char *d = path_in(state, "real");
        _cleanup_free_ char *l = path_in(state, "alias");
        _cleanup_free_ char *f = path_in(state, "alias/file");
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(fs_mkdir_p(d, 0755, &err), 0);
        assert_int_equal(symlink("real", l), 0);
        assert_true(fs_path_is_within(*state, f));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, test_tmpdir_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_write_creates_file_with_content_and_mode),
                T(test_write_refuses_overwrite_and_keeps_old),
                T(test_write_overwrite_replaces),
                T(test_write_into_missing_dir_fails_cleanly),
                T(test_write_enospc_is_clear_and_leaves_nothing),
                T(test_read_missing_is_notfound),
                T(test_read_refuses_too_large),
                T(test_read_exact_max_ok),
                T(test_read_refuses_directory),
                T(test_read_refuses_fifo),
                T(test_mkdir_p_creates_nested_and_accepts_existing),
                T(test_mkdir_p_fails_on_file_in_the_way),
                T(test_within_plain_and_nonexistent),
                T(test_within_dir_not_yet_created),
                T(test_within_dotdot_through_missing_dirs),
                T(test_within_rejects_dotdot_escape),
                T(test_within_rejects_prefix_sibling),
                T(test_within_follows_symlink_out),
                T(test_within_rejects_dangling_symlink),
                T(test_within_accepts_symlink_inside),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
