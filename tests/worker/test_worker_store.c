/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's two stores on disk: the blob cache (uploads checked against
 * their hash, LRU eviction that spares pinned blobs, a corrupted copy
 * never served) and the nonce store (a nonce claimed once, remembered by a
 * new store on the same directory, forgotten after its expiry).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/common-test.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "worker/worker-internal.h"

static int setup(void **state)
{
        return test_tmpdir_setup(state, "agora-worker-store");
}

static int teardown(void **state)
{
        return test_tmpdir_teardown(state);
}

/* Upload BYTES as the blob named by their own hash (or by WANT if given). */
static int upload(blob_cache *c, const char *bytes, const agora_hash *want, agora_hash *ret, agora_error_t *err)
{
        cache_upload *u = NULL;
        size_t n = strlen(bytes);

        agora_hash_buffer(bytes, n, ret);
        if (want != NULL)
                *ret = *want;
        if (cache_upload_begin(c, ret, n, &u, err) < 0)
                return -1;
        /* In two chunks, as the wire sends them. */
        if (cache_upload_write(u, 0, bytes, n / 2, err) < 0 ||
            cache_upload_write(u, n / 2, bytes + n / 2, n - n / 2, err) < 0) {
                cache_upload_abort(u);
                return -1;
        }
        assert_true(cache_upload_complete(u));
        return cache_upload_finish(c, u, err);
}

static void cache_upload_then_pin(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        agora_hash h;
        char path[4096];

        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        assert_int_equal(upload(c, "hello blob", NULL, &h, &err), 0);
        cache_unpin(c, &h);
        /* Present, intact: pinned again for the next job. */
        assert_int_equal(cache_pin_if_valid(c, &h), 1);
        cache_path(c, &h, path, sizeof(path));
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 10);
        assert_int_equal(st.st_mode & 0777, 0400);
        cache_unpin(c, &h);
        cache_free(c);
}

static void cache_upload_with_wrong_bytes_is_refused_and_not_kept(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        agora_hash want, got;
        uint64_t bytes, limit;
        size_t count;

        agora_hash_buffer("the real bytes", 14, &want);
        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        assert_int_equal(upload(c, "forged bytes!!", &want, &got, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_INTEGRITY);
        assert_non_null(strstr(err->msg, "the bytes sent hash to sha256:"));
        cache_stats(c, &bytes, &limit, &count);
        assert_int_equal(count, 0);
        assert_int_equal(cache_pin_if_valid(c, &want), 0);
        cache_free(c);
        /* Nothing left on disk, not even the temporary file. */
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
        assert_int_equal(system(cmd), 0);
}

static void cache_chunk_out_of_order_is_refused(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        cache_upload *u = NULL;
        agora_hash h;

        agora_hash_buffer("abcdef", 6, &h);
        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        assert_int_equal(cache_upload_begin(c, &h, 6, &u, &err), 0);
        assert_int_equal(cache_upload_write(u, 3, "def", 3, &err), -1);
        assert_non_null(strstr(err->msg, "offset 3, want 0"));
        agora_error_release(&err);
        assert_int_equal(cache_upload_write(u, 0, "abcdefgh", 8, &err), -1);
        assert_non_null(strstr(err->msg, "past the blob's size"));
        cache_upload_abort(u);
        cache_free(c);
}

static void cache_evicts_least_recently_used_unpinned(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        char a[600], b[600], d[600];
        agora_hash ha, hb, hd;
        uint64_t bytes, limit;
        size_t count;

        memset(a, 'a', 599), a[599] = 0;
        memset(b, 'b', 599), b[599] = 0;
        memset(d, 'd', 599), d[599] = 0;
        /* Room for two blobs of 599 bytes, not three. */
        assert_int_equal(cache_open(dir, 1300, &c, &err), 0);
        assert_int_equal(upload(c, a, NULL, &ha, &err), 0);
        cache_unpin(c, &ha);
        assert_int_equal(upload(c, b, NULL, &hb, &err), 0);
        cache_unpin(c, &hb);
        /* a is used again, so b is now the least recently used. */
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
        assert_int_equal(cache_pin_if_valid(c, &ha), 1);
        cache_unpin(c, &ha);
        assert_int_equal(upload(c, d, NULL, &hd, &err), 0);
        cache_stats(c, &bytes, &limit, &count);
        assert_int_equal(count, 2);
        assert_true(bytes <= 1300);
        assert_int_equal(cache_pin_if_valid(c, &hb), 0);
        assert_int_equal(cache_pin_if_valid(c, &ha), 1);
        /* Both left are pinned: a fourth blob cannot push them out, the
         * cache runs over its bound rather than delete a blob in use. */
        char e[600];
        agora_hash he;
        memset(e, 'e', 599), e[599] = 0;
        assert_int_equal(upload(c, e, NULL, &he, &err), 0);
        assert_int_equal(cache_pin_if_valid(c, &ha), 1);
        cache_unpin(c, &ha);
        cache_unpin(c, &ha);
        cache_unpin(c, &hd);
        cache_unpin(c, &he);
        cache_stats(c, &bytes, &limit, &count);
        assert_true(bytes <= 1300);
        cache_free(c);
}

static void cache_corrupted_copy_is_dropped_not_served(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        agora_hash h;
        char path[4096];

        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        assert_int_equal(upload(c, "trusted tarball", NULL, &h, &err), 0);
        cache_unpin(c, &h);
        cache_path(c, &h, path, sizeof(path));
        chmod(path, 0600);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "evil", 4), 4);
        assert_int_equal(cache_pin_if_valid(c, &h), 0);
        assert_int_equal(access(path, F_OK), -1);
        cache_free(c);
}

static void cache_reopen_keeps_blobs_and_sweeps_partial_uploads(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "blobs");
        _cleanup_error_ agora_error_t err = NULL;
        blob_cache *c = NULL;
        agora_hash h;
        size_t count;
        uint64_t bytes, limit;
        char cmd[4200];

        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        assert_int_equal(upload(c, "kept", NULL, &h, &err), 0);
        cache_free(c);
        /* What a worker that died mid-upload leaves, and a stray file. */
        snprintf(cmd, sizeof(cmd), "cd '%s' && printf part > .upload-1-0123456789abcdef && echo x > junk", dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(cache_open(dir, 1 << 20, &c, &err), 0);
        cache_stats(c, &bytes, &limit, &count);
        assert_int_equal(count, 1);
        assert_int_equal(bytes, 4);
        assert_int_equal(cache_pin_if_valid(c, &h), 1);
        cache_unpin(c, &h);
        snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s' | wc -l)\" = 1", dir);
        assert_int_equal(system(cmd), 0);
        cache_free(c);
}

static void nonce_claimed_once_even_by_a_new_store(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "nonces");
        _cleanup_error_ agora_error_t err = NULL;
        nonce_store *s = NULL;
        int64_t exp = (int64_t)time(NULL) + 120;

        assert_int_equal(nonce_store_open(dir, &s, &err), 0);
        assert_int_equal(nonce_store_claim(s, "0123456789abcdef0123456789abcdef", exp, &err), 0);
        assert_int_equal(nonce_store_claim(s, "0123456789abcdef0123456789abcdef", exp, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
        agora_error_release(&err);
        nonce_store_free(s);
        /* As after a restart. */
        assert_int_equal(nonce_store_open(dir, &s, &err), 0);
        assert_int_equal(nonce_store_claim(s, "0123456789abcdef0123456789abcdef", exp, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
        agora_error_release(&err);
        assert_int_equal(nonce_store_claim(s, "fedcba9876543210fedcba9876543210", exp, &err), 0);
        nonce_store_free(s);
}

static void nonce_sweep_forgets_only_expired(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "nonces");
        _cleanup_error_ agora_error_t err = NULL;
        nonce_store *s = NULL;
        int64_t now = (int64_t)time(NULL);

        assert_int_equal(nonce_store_open(dir, &s, &err), 0);
        assert_int_equal(nonce_store_claim(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now - 200, &err), 0);
        assert_int_equal(nonce_store_claim(s, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", now + 200, &err), 0);
        nonce_store_sweep(s, now);
        /* The expired one may be claimed again (its manifest is refused as
         * expired anyway); the live one may not. */
        assert_int_equal(nonce_store_claim(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now - 200, &err), 0);
        assert_int_equal(nonce_store_claim(s, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", now + 200, &err), -1);
        nonce_store_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(cache_upload_then_pin, setup, teardown),
                cmocka_unit_test_setup_teardown(cache_upload_with_wrong_bytes_is_refused_and_not_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(cache_chunk_out_of_order_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(cache_evicts_least_recently_used_unpinned, setup, teardown),
                cmocka_unit_test_setup_teardown(cache_corrupted_copy_is_dropped_not_served, setup, teardown),
                cmocka_unit_test_setup_teardown(cache_reopen_keeps_blobs_and_sweeps_partial_uploads, setup, teardown),
                cmocka_unit_test_setup_teardown(nonce_claimed_once_even_by_a_new_store, setup, teardown),
                cmocka_unit_test_setup_teardown(nonce_sweep_forgets_only_expired, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
