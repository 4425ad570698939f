/* SPDX-License-Identifier: Apache-2.0 */
/* The hand-written loose objects must be objects stock git reads and trusts. */
#include "tests/registry/registry-test.h"

#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define HELLO_GIT "ce013625030ba8dba906f756967f9e9ca394464a"
/* sha256 and git blob id of the empty file. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_GIT "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

static void small_blob_is_a_git_object(void **state)
{
        fixture *f = *state;
        agora_hash h = store_string(f->r, "hello\n");
        char hex[AGORA_HASH_HEX_LEN + 1];
        int status;

        hex_of(&h, hex);
        assert_string_equal(hex, HELLO_SHA256);
        _cleanup_free_ char *type = run(&status, "git -C %s cat-file -t " HELLO_GIT, f->path);
        _cleanup_free_ char *size = run(&status, "git -C %s cat-file -s " HELLO_GIT, f->path);
        _cleanup_free_ char *body = run(&status, "git -C %s cat-file -p " HELLO_GIT, f->path);
        assert_string_equal(type, "blob\n");
        assert_string_equal(size, "6\n");
        assert_string_equal(body, "hello\n");
}

static void empty_blob_is_a_git_object(void **state)
{
        fixture *f = *state;
        agora_hash h = store_string(f->r, "");
        char hex[AGORA_HASH_HEX_LEN + 1];

        hex_of(&h, hex);
        assert_string_equal(hex, EMPTY_SHA256);
        _cleanup_free_ char *size = run(NULL, "git -C %s cat-file -s " EMPTY_GIT, f->path);
        assert_string_equal(size, "0\n");
}

/* Above 8 MiB the object is written with stored (uncompressed) deflate
 * blocks; git and fsck must read those as well. */
static void large_blob_passes_git_fsck(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *file = NULL;
        size_t len = (9u << 20) + 12345;
        agora_hash h;
        char hex[AGORA_HASH_HEX_LEN + 1];
        int status;

        assert_true(asprintf(&file, "%s/big", f->dir) > 0);
        _cleanup_free_ char *gen = run(&status, "head -c %zu /dev/urandom > %s", len, file);
        assert_int_equal(status, 0);
        _cleanup_free_ char *want_sha = run(NULL, "sha256sum < %s | cut -c1-64", file);
        _cleanup_free_ char *want_oid = run(NULL, "git hash-object %s", file);

        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(registry_store_blob(f->r, fd, NULL, &h, &err), 0);
        hex_of(&h, hex);
        assert_memory_equal(hex, want_sha, AGORA_HASH_HEX_LEN);

        want_oid[40] = '\0';
        _cleanup_free_ char *size = run(NULL, "git -C %s cat-file -s %s", f->path, want_oid);
        _cleanup_free_ char *same = run(&status, "git -C %s cat-file blob %s | cmp -s - %s", f->path, want_oid, file);
        assert_int_equal(atoll(size), (long long)len);
        assert_int_equal(status, 0);

        put_commit(f->r, REGISTRY_CAPABILITY, "big", objects_capability_new("big", &h, len, 1), "add big");
        _cleanup_free_ char *fsck = run(&status, "git -C %s fsck --strict --full 2>&1", f->path);
        assert_int_equal(status, 0);
        _cleanup_free_ char *tree_oid = run(NULL, "git -C %s rev-parse HEAD:blobs/sha256/%s", f->path, hex);
        assert_memory_equal(tree_oid, want_oid, 40);
}

static void committed_blob_passes_git_fsck(void **state)
{
        fixture *f = *state;
        int status;

        put_capability(f->r, "echo-cap", "hello\n");
        _cleanup_free_ char *fsck = run(&status, "git -C %s fsck --strict --full --no-dangling 2>&1", f->path);
        assert_int_equal(status, 0);
        assert_string_equal(fsck, "");
}

static void expect_mismatch_stores_nothing(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        agora_hash wrong, got;
        int status;
        _cleanup_close_ int fd = bytes_fd("hello\n", 6);

        assert_int_equal(agora_hash_parse("sha256:" EMPTY_SHA256, &wrong, NULL), 0);
        assert_int_equal(registry_store_blob(f->r, fd, &wrong, &got, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_string_equal(err->msg, "blob sha256:" EMPTY_SHA256 ": content hashes to sha256:" HELLO_SHA256);
        _cleanup_free_ char *out = run(&status, "git -C %s cat-file -e " HELLO_GIT " 2>/dev/null", f->path);
        assert_int_not_equal(status, 0);
}

static void expect_match_stores(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        agora_hash want, got;
        _cleanup_close_ int fd = bytes_fd("hello\n", 6);

        assert_int_equal(agora_hash_parse("sha256:" HELLO_SHA256, &want, NULL), 0);
        assert_int_equal(registry_store_blob(f->r, fd, &want, &got, &err), 0);
        assert_true(agora_hash_equal(&want, &got));
}

static void storing_twice_is_harmless(void **state)
{
        fixture *f = *state;
        agora_hash a = store_string(f->r, "hello\n");
        agora_hash b = store_string(f->r, "hello\n");
        int status;

        assert_true(agora_hash_equal(&a, &b));
        _cleanup_free_ char *body = run(&status, "git -C %s cat-file -p " HELLO_GIT, f->path);
        assert_string_equal(body, "hello\n");
}

static void pipe_input_is_stored(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        int p[2];
        agora_hash h;
        char hex[AGORA_HASH_HEX_LEN + 1];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(write(p[1], "hello\n", 6), 6);
        close(p[1]);
        assert_int_equal(registry_store_blob(f->r, p[0], NULL, &h, &err), 0);
        close(p[0]);
        hex_of(&h, hex);
        assert_string_equal(hex, HELLO_SHA256);
        _cleanup_free_ char *body = run(NULL, "git -C %s cat-file -p " HELLO_GIT, f->path);
        assert_string_equal(body, "hello\n");
}

static void object_file_is_read_only(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *obj = NULL;
        struct stat st;

        store_string(f->r, "hello\n");
        assert_true(asprintf(&obj, "%s/objects/ce/013625030ba8dba906f756967f9e9ca394464a", f->path) > 0);
        assert_int_equal(stat(obj, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0444);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
int main(void)
{
        const struct CMUnitTest tests[] = {
                T(small_blob_is_a_git_object),     T(empty_blob_is_a_git_object),     T(large_blob_passes_git_fsck),
                T(committed_blob_passes_git_fsck), T(expect_mismatch_stores_nothing), T(expect_match_stores),
                T(storing_twice_is_harmless),      T(pipe_input_is_stored),           T(object_file_is_read_only),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
