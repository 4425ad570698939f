/* SPDX-License-Identifier: Apache-2.0 */
/*
 * captar_check_canonical: our own output passes; anything else holding the
 * same files (GNU tar's, a compressed copy, one flipped byte) does not.
 */
#include "tests/capabilities/captar-test.h"

typedef struct fixture {
        char *dir;
        char *src;
        unsigned char *canon; /* captar_build output for src */
        size_t canon_len;
} fixture;

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        agora_error_t err = NULL;
        captar_result res;

        f->dir = captar_test_tmpdir();
        f->src = captar_test_join(f->dir, "cap");
        assert_int_equal(mkdir(f->src, 0755), 0);
        captar_test_mkdir(f->src, "bin", 0755);
        captar_test_file(f->src, "bin/run", "#!/bin/sh\necho hi\n", 0755);
        captar_test_file(f->src, "README", "read me\n", 0644);
        if (captar_test_build("c", f->src, NULL, &f->canon, &f->canon_len, &res, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        captar_test_rm_rf(f->dir);
        free(f->dir);
        free(f->src);
        free(f->canon);
        free(f);
        return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        unsigned char *buf = malloc((size_t)st.st_size + 1);
        assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        *len = (size_t)st.st_size;
        return buf;
}

static void expect_not_canonical(const void *data, size_t len, const char *why)
{
        agora_error_t err = NULL;

        captar_result res = {.size = 12345};

        assert_int_equal(captar_check_canonical("c", data, len, NULL, &res, &err), -1);
        assert_int_equal(res.size, 12345); /* untouched on failure */
        captar_test_error_says(err, "capability 'c'", why, NULL);
        agora_error_release(&err);
}

static void test_own_output_is_canonical(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;

        if (captar_check_canonical("c", f->canon, f->canon_len, NULL, NULL, &err) < 0)
                fail_msg("%s", agora_error_message(err));
}

/* What the check reports is what captar_build reported for the same bytes,
 * so a definition's "size" and "entries" can be compared with it. */
static void test_check_describes_tarball_as_build_did(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_result built, checked;

        free(f->canon);
        f->canon = NULL;
        if (captar_test_build("c", f->src, NULL, &f->canon, &f->canon_len, &built, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        if (captar_check_canonical("c", f->canon, f->canon_len, NULL, &checked, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_memory_equal(&checked.hash, &built.hash, sizeof(built.hash));
        assert_int_equal(checked.size, f->canon_len);
        assert_int_equal(checked.size, built.size);
        assert_int_equal(checked.entries, 3); /* README, bin, bin/run */
        assert_int_equal(checked.entries, built.entries);
        assert_int_equal(checked.content_bytes, built.content_bytes);
}

/* The limits apply to the checked tarball too: a registry reader passes
 * limits derived from the blob's length, never trusting its headers. */
static void test_check_applies_entry_limit(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_limits lim;

        captar_limits_default(&lim);
        lim.max_entries = 2;
        assert_int_equal(captar_check_canonical("c", f->canon, f->canon_len, &lim, NULL, &err), -1);
        captar_test_error_says(err, "capability 'c'", "more than 2 entries", NULL);
        agora_error_release(&err);
}

static void test_gnu_tar_of_same_files_is_not_canonical(void **state)
{
        fixture *f = *state;
        char *tarfile = captar_test_join(f->dir, "gnu.tar");
        size_t len;

        free(captar_test_run("tar -cf '%s' -C '%s' bin README", tarfile, f->src));
        unsigned char *buf = slurp(tarfile, &len);
        expect_not_canonical(buf, len, "tarball is not in canonical form");
        free(buf);
        free(tarfile);
}

static void test_flipped_mode_byte_is_not_canonical(void **state)
{
        fixture *f = *state;
        unsigned char *copy = malloc(f->canon_len);

        memcpy(copy, f->canon, f->canon_len);
        /* The first header is README's (sorted first), mode field at offset
         * 100 (ustar); make it 0600 and fix the checksum so it still parses. */
        assert_memory_equal(copy, "README", 6);
        snprintf((char *)copy + 100, 8, "%07o", 0600);
        unsigned sum = 0;
        memset(copy + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += copy[i];
        snprintf((char *)copy + 148, 8, "%06o", sum);
        expect_not_canonical(copy, f->canon_len, "tarball is not in canonical form");
        free(copy);
}

static void test_extra_trailing_bytes_are_not_canonical(void **state)
{
        fixture *f = *state;
        unsigned char *copy = calloc(1, f->canon_len + 10240);

        memcpy(copy, f->canon, f->canon_len);
        expect_not_canonical(copy, f->canon_len + 10240, "tarball is not in canonical form");
        free(copy);
}

static void test_gzipped_tarball_is_refused(void **state)
{
        fixture *f = *state;
        char *plain = captar_test_join(f->dir, "c.tar");
        char *gz = captar_test_join(f->dir, "c.tar.gz");
        size_t len;

        captar_test_write_bytes(plain, f->canon, f->canon_len);
        free(captar_test_run("gzip -c '%s' > '%s'", plain, gz));
        unsigned char *buf = slurp(gz, &len);
        expect_not_canonical(buf, len, "not a tar archive");
        free(buf);
        free(plain);
        free(gz);
}

static void test_hostile_entry_is_refused_by_name(void **state)
{
        fixture *f = *state;
        char *tarfile = captar_test_join(f->dir, "evil.tar");
        size_t len;

        /* GNU tar keeps a symlink as a symlink. */
        char *link = captar_test_join(f->src, "passwd");
        assert_int_equal(symlink("/etc/passwd", link), 0);
        free(captar_test_run("tar -cf '%s' -C '%s' passwd", tarfile, f->src));
        unsigned char *buf = slurp(tarfile, &len);
        expect_not_canonical(buf, len, "'passwd': symbolic links are not allowed");
        free(buf);
        free(link);
        free(tarfile);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_own_output_is_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_describes_tarball_as_build_did, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_applies_entry_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gnu_tar_of_same_files_is_not_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flipped_mode_byte_is_not_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_extra_trailing_bytes_are_not_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gzipped_tarball_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_entry_is_refused_by_name, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
