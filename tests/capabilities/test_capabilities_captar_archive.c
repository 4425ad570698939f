/* SPDX-License-Identifier: Apache-2.0 */
/*
 * captar_build on archives: the same content gives the same bytes whatever
 * the archive looks like, and hostile archives (written here, entry by
 * entry, with libarchive) are refused with an error naming the entry.
 */
#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "tests/capabilities/captar-test.h"

typedef struct raw_entry {
        const char *path;
        mode_t mode; /* with the S_IFMT bits */
        const char *content;
        const char *symlink;
        const char *hardlink;
        time_t mtime;
        int64_t uid;
        const char *uname;
} raw_entry;

/* Write ENTRIES as given, no sanitising: hostile paths, types and all.
 * FILTER is a libarchive filter name ("gzip", "xz"…) or NULL. */
static void write_archive(const char *path, const char *format, const char *filter, const raw_entry *v, size_t n)
{
        struct archive *a = archive_write_new();
        assert_non_null(a);
        assert_int_equal(archive_write_set_format_by_name(a, format), ARCHIVE_OK);
        if (filter != NULL)
                assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                size_t len = v[i].content ? strlen(v[i].content) : 0;
                archive_entry_set_pathname(e, v[i].path);
                archive_entry_set_mode(e, v[i].mode);
                archive_entry_set_size(e, (la_int64_t)len);
                archive_entry_set_mtime(e, v[i].mtime, 0);
                archive_entry_set_uid(e, v[i].uid);
                archive_entry_set_gid(e, v[i].uid);
                if (v[i].uname)
                        archive_entry_set_uname(e, v[i].uname);
                if (v[i].symlink)
                        archive_entry_set_symlink(e, v[i].symlink);
                if (v[i].hardlink)
                        archive_entry_set_hardlink(e, v[i].hardlink);
                if (S_ISCHR(v[i].mode))
                        archive_entry_set_rdev(e, makedev(1, 3));
                assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
                if (len > 0)
                        assert_int_equal(archive_write_data(a, v[i].content, len), (ssize_t)len);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

typedef struct fixture {
        char *dir;
        char *archive; /* where a test writes its input archive */
} fixture;

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        f->dir = captar_test_tmpdir();
        f->archive = captar_test_join(f->dir, "in.tar");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        captar_test_rm_rf(f->dir);
        free(f->dir);
        free(f->archive);
        free(f);
        return 0;
}

/* The reference capability as a directory: a/ (0700), a/b.txt, bin/run
 * (executable), empty/. */
static char *make_reference_dir(fixture *f)
{
        char *src = captar_test_join(f->dir, "ref");
        assert_int_equal(mkdir(src, 0755), 0);
        captar_test_mkdir(src, "a", 0700);
        captar_test_file(src, "a/b.txt", "bee\n", 0600);
        captar_test_mkdir(src, "bin", 0755);
        captar_test_file(src, "bin/run", "#!/bin/sh\n", 0700);
        captar_test_mkdir(src, "empty", 0755);
        return src;
}

static void build_bytes(const char *path, unsigned char **buf, size_t *len)
{
        agora_error_t err = NULL;
        captar_result res;
        if (captar_test_build("ref", path, NULL, buf, len, &res, &err) < 0)
                fail_msg("captar_build '%s': %s", path, agora_error_message(err));
}

static void assert_same_bytes(const char *a, const char *b)
{
        unsigned char *x, *y;
        size_t xl, yl;
        build_bytes(a, &x, &xl);
        build_bytes(b, &y, &yl);
        assert_int_equal(xl, yl);
        assert_memory_equal(x, y, xl);
        free(x);
        free(y);
}

static void test_targz_from_gnu_tar_matches_directory(void **state)
{
        fixture *f = *state;
        char *src = make_reference_dir(f);
        char *tgz = captar_test_join(f->dir, "gnu.tar.gz");

        /* Stock tar with its own order, owners and current mtimes. */
        free(captar_test_run("tar --owner=1234 --group=99 -czf '%s' -C '%s' .", tgz, src));
        assert_same_bytes(src, tgz);
        free(src);
        free(tgz);
}

static void test_messy_archive_matches_directory(void **state)
{
        fixture *f = *state;
        char *src = make_reference_dir(f);
        /* Reverse order, "./" and "//" spellings, trailing '/', owners and
         * mtimes all over the place, and "a/" only implied by a/b.txt. */
        const raw_entry v[] = {
                {"./empty/", S_IFDIR | 0700, NULL, NULL, NULL, 12345, 1000, "bob"},
                {"bin//run", S_IFREG | 0744, "#!/bin/sh\n", NULL, NULL, 999999, 42, "eve"},
                {"./bin", S_IFDIR | 0711, NULL, NULL, NULL, 1, 0, NULL},
                {"./a/b.txt", S_IFREG | 0640, "bee\n", NULL, NULL, 1700000000, 7, "root"},
                {"./", S_IFDIR | 0777, NULL, NULL, NULL, 5, 5, NULL},
        };
        write_archive(f->archive, "pax", "gzip", v, ARRAY_SIZE(v));
        assert_same_bytes(src, f->archive);
        free(src);
}

static void test_bzip2_xz_zstd_match_plain_tar(void **state)
{
        fixture *f = *state;
        const raw_entry v[] = {{"x/y", S_IFREG | 0644, "why\n", NULL, NULL, 0, 0, NULL}};
        const char *filters[] = {"bzip2", "xz", "zstd"};

        write_archive(f->archive, "ustar", NULL, v, 1);
        for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
                char *c = captar_test_join(f->dir, filters[i]);
                write_archive(c, "ustar", filters[i], v, 1);
                assert_same_bytes(f->archive, c);
                free(c);
        }
}

/* Build F->archive holding the one entry V and expect refusal naming it. */
static void expect_refused(fixture *f, const raw_entry *v, size_t n, const captar_limits *lim, const char *entry,
                           const char *why)
{
        agora_error_t err = NULL;

        write_archive(f->archive, "pax", NULL, v, n);
        assert_int_equal(captar_test_build("hostile", f->archive, lim, NULL, NULL, NULL, &err), -1);
        captar_test_error_says(err, "capability 'hostile'", entry, why, NULL);
        agora_error_release(&err);
}

static void test_dotdot_is_refused(void **state)
{
        const raw_entry v[] = {{"../x", S_IFREG | 0644, "evil", NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'../x'", "'..' is not allowed");
}

static void test_inner_dotdot_is_refused(void **state)
{
        const raw_entry v[] = {{"a/../../x", S_IFREG | 0644, "evil", NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'a/../../x'", "'..' is not allowed");
}

static void test_absolute_path_is_refused(void **state)
{
        const raw_entry v[] = {{"/etc/x", S_IFREG | 0644, "evil", NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'/etc/x'", "absolute paths are not allowed");
}

static void test_symlink_entry_is_refused(void **state)
{
        const raw_entry v[] = {{"bin/sh", S_IFLNK | 0777, NULL, "/bin/sh", NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'bin/sh'", "symbolic links are not allowed");
}

static void test_hardlink_entry_is_refused(void **state)
{
        const raw_entry v[] = {
                {"a", S_IFREG | 0644, "data", NULL, NULL, 0, 0, NULL},
                {"b", S_IFREG | 0644, NULL, NULL, "/etc/shadow", 0, 0, NULL},
        };
        expect_refused(*state, v, 2, NULL, "'b'", "hard links are not allowed");
}

static void test_char_device_is_refused(void **state)
{
        const raw_entry v[] = {{"null", S_IFCHR | 0666, NULL, NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'null'", "device files are not allowed");
}

static void test_fifo_entry_is_refused(void **state)
{
        const raw_entry v[] = {{"pipe", S_IFIFO | 0644, NULL, NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'pipe'", "FIFOs are not allowed");
}

static void test_setuid_entry_is_refused(void **state)
{
        const raw_entry v[] = {{"su", S_IFREG | 04755, "x", NULL, NULL, 0, 0, NULL}};
        expect_refused(*state, v, 1, NULL, "'su'", "setuid/setgid files are not allowed");
}

static void test_duplicate_after_normalising_is_refused(void **state)
{
        const raw_entry v[] = {
                {"dir/f", S_IFREG | 0644, "reviewed", NULL, NULL, 0, 0, NULL},
                {"./dir//f", S_IFREG | 0644, "shipped", NULL, NULL, 0, 0, NULL},
        };
        expect_refused(*state, v, 2, NULL, "'dir/f'", "duplicate path");
}

static void test_file_used_as_directory_is_refused(void **state)
{
        const raw_entry v[] = {
                {"lib", S_IFREG | 0644, "i am a file", NULL, NULL, 0, 0, NULL},
                {"lib/mod.py", S_IFREG | 0644, "x", NULL, NULL, 0, 0, NULL},
        };
        expect_refused(*state, v, 2, NULL, "'lib'", "used both as a file and as a directory");
}

static void test_too_many_entries_is_refused(void **state)
{
        captar_limits lim;
        const raw_entry v[] = {
                {"f1", S_IFREG | 0644, "1", NULL, NULL, 0, 0, NULL},
                {"f2", S_IFREG | 0644, "2", NULL, NULL, 0, 0, NULL},
                {"f3", S_IFREG | 0644, "3", NULL, NULL, 0, 0, NULL},
        };
        captar_limits_default(&lim);
        lim.max_entries = 2;
        expect_refused(*state, v, 3, &lim, "'f3'", "more than 2 entries (limit --max-entries)");
}

static void test_too_many_bytes_is_refused(void **state)
{
        captar_limits lim;
        const raw_entry v[] = {
                {"a", S_IFREG | 0644, "0123456789", NULL, NULL, 0, 0, NULL},
                {"b", S_IFREG | 0644, "0123456789", NULL, NULL, 0, 0, NULL},
        };
        captar_limits_default(&lim);
        lim.max_bytes = 15;
        expect_refused(*state, v, 2, &lim, "'b'", "more than 15 bytes of content (limit --max-size)");
}

static void test_zip_is_not_a_tar_archive(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        const raw_entry v[] = {{"x", S_IFREG | 0644, "zip me", NULL, NULL, 0, 0, NULL}};

        write_archive(f->archive, "zip", NULL, v, 1);
        assert_int_equal(captar_test_build("hostile", f->archive, NULL, NULL, NULL, NULL, &err), -1);
        captar_test_error_says(err, "capability 'hostile'", "not a tar archive", NULL);
        agora_error_release(&err);
}

static void test_cpio_is_not_a_tar_archive(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        const raw_entry v[] = {{"x", S_IFREG | 0644, "cpio me", NULL, NULL, 0, 0, NULL}};

        write_archive(f->archive, "cpio", "gzip", v, 1);
        assert_int_equal(captar_test_build("hostile", f->archive, NULL, NULL, NULL, NULL, &err), -1);
        captar_test_error_says(err, "capability 'hostile'", "not a tar archive", NULL);
        agora_error_release(&err);
}

/* A ustar header by hand: libarchive's writer would insist on writing the
 * whole 1 GiB body itself. */
static void ustar_header(unsigned char h[512], const char *name, uint64_t size)
{
        unsigned sum = 0;

        memset(h, 0, 512);
        strcpy((char *)h, name);
        memcpy(h + 100, "0000644", 7);
        memcpy(h + 108, "0000000", 7);
        memcpy(h + 116, "0000000", 7);
        snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
        memcpy(h + 136, "00000000000", 11);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
}

/* One gzip member holding LEN bytes of BUF, appended TIMES times to OUT. */
static void gzip_member(FILE *out, const unsigned char *buf, size_t len, int times)
{
        z_stream z = {0};
        size_t cap = deflateBound(&z, len) + 64;
        unsigned char *dst = malloc(cap);

        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (unsigned char *)buf;
        z.avail_in = (uInt)len;
        z.next_out = dst;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        for (int i = 0; i < times; i++)
                assert_int_equal(fwrite(dst, 1, z.total_out, out), z.total_out);
        deflateEnd(&z);
        free(dst);
}

static uint64_t bytes_read_by_me(void)
{
        FILE *io = fopen("/proc/self/io", "re");
        char line[128];
        unsigned long long v = 0;

        assert_non_null(io);
        while (fgets(line, sizeof(line), io))
                if (sscanf(line, "rchar: %llu", &v) == 1)
                        break;
        fclose(io);
        return v;
}

static void test_gzip_bomb_stops_early(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;
        captar_limits lim;
        const size_t chunk = 16u << 20;
        const uint64_t body = 1ull << 30;
        unsigned char hdr[512];
        unsigned char *zeros = calloc(1, chunk);
        struct stat st;

        /* 1 GiB of zeros as 64 concatenated gzip members of 16 MiB each:
         * about 1 MiB on disk, cheap to make. */
        FILE *out = fopen(f->archive, "we");
        assert_non_null(out);
        ustar_header(hdr, "bomb.bin", body);
        gzip_member(out, hdr, sizeof(hdr), 1);
        gzip_member(out, zeros, chunk, (int)(body / chunk));
        gzip_member(out, zeros, 1024, 1); /* end-of-archive blocks */
        fclose(out);
        assert_int_equal(stat(f->archive, &st), 0);

        captar_limits_default(&lim);
        lim.max_bytes = 4ull << 30; /* so that only the ratio can stop it */
        uint64_t before = bytes_read_by_me();
        assert_int_equal(captar_test_build("hostile", f->archive, &lim, NULL, NULL, NULL, &err), -1);
        uint64_t used = bytes_read_by_me() - before;
        captar_test_error_says(err, "capability 'hostile'", "'bomb.bin'", "limit --max-ratio", NULL);
        /* Refused after reading a small part of the compressed file. */
        if (used >= (uint64_t)st.st_size / 4)
                fail_msg("read %llu of %llu compressed bytes before refusing", (unsigned long long)used,
                         (unsigned long long)st.st_size);
        agora_error_release(&err);
        free(zeros);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_targz_from_gnu_tar_matches_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_messy_archive_matches_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bzip2_xz_zstd_match_plain_tar, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inner_dotdot_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_absolute_path_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlink_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_char_device_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fifo_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_setuid_entry_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicate_after_normalising_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_used_as_directory_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_entries_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_bytes_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_zip_is_not_a_tar_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cpio_is_not_a_tar_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gzip_bomb_stops_early, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
