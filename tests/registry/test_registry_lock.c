/* SPDX-License-Identifier: Apache-2.0 */
/* Concurrent writers serialise or get "busy"; nobody's commit is lost. */
#include <sys/file.h>
#include <time.h>

#include "tests/registry/registry-test.h"

#define WRITERS 8

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hold the registry lock the way another agora process would. */
static int hold_lock(const fixture *f)
{
        _cleanup_free_ char *path = NULL;
        int fd;

        assert_true(asprintf(&path, "%s/agora.lock", f->path) > 0);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
        return fd;
}

static void held_lock_gives_busy_after_timeout(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_close_ int fd = hold_lock(f);
        registry_txn *t = NULL;
        long long start;

        registry_set_lock_timeout(f->r, 200);
        start = now_ms();
        assert_int_equal(registry_begin(f->r, &t, &err), -1);
        assert_true(now_ms() - start >= 200);
        assert_null(t);
        assert_int_equal(err->kind, AGORA_ERR_BUSY);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want, "registry busy: '%s' is being changed by another agora command; try again",
                             f->path) > 0);
        assert_string_equal(err->msg, want);
}

static void lock_timeout_from_environment(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_close_ int fd = hold_lock(f);
        registry *r = NULL;
        registry_txn *t = NULL;
        long long start;

        setenv("AGORA_LOCK_TIMEOUT_MS", "0", 1);
        assert_int_equal(registry_open(f->path, &r, &err), 0);
        unsetenv("AGORA_LOCK_TIMEOUT_MS");
        start = now_ms();
        assert_int_equal(registry_begin(r, &t, &err), -1);
        /* The default would wait ten seconds. */
        assert_true(now_ms() - start < 2000);
        assert_int_equal(err->kind, AGORA_ERR_BUSY);
        registry_free(r);
}

static void lock_is_released_by_txn_free(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_txn *t = NULL;

        registry_set_lock_timeout(f->r, 0);
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        registry_txn_free(t);
        t = NULL;
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        registry_txn_free(t);
}

/* Child process: one writer. Exit 0 committed, 3 busy, 1 anything else. */
static void writer(const char *path, int i)
{
        agora_error_t err = NULL;
        registry *r = NULL;
        registry_txn *t = NULL;
        char name[16];
        int changed = 0;

        snprintf(name, sizeof(name), "w%d", i);
        json_t *env = objects_env_new(name);
        if (registry_open(path, &r, &err) < 0)
                _exit(1);
        /* Half the writers give up at once, half wait: both outcomes occur. */
        registry_set_lock_timeout(r, i % 2 ? 0 : 10000);
        if (registry_begin(r, &t, &err) < 0 || registry_txn_put(t, REGISTRY_ENV, name, env, &err) < 0 ||
            registry_txn_commit(t, name, &changed, NULL, &err) < 0)
                _exit(err->kind == AGORA_ERR_BUSY ? 3 : 1);
        _exit(changed == 1 ? 0 : 1);
}

static void concurrent_writers_commit_or_report_busy(void **state)
{
        fixture *f = *state;
        pid_t pids[WRITERS];
        int committed = 0, busy = 0, status;

        for (int i = 0; i < WRITERS; i++) {
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0)
                        writer(f->path, i);
        }
        for (int i = 0; i < WRITERS; i++) {
                assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
                assert_true(WIFEXITED(status));
                if (WEXITSTATUS(status) == 0)
                        committed++;
                else if (WEXITSTATUS(status) == 3)
                        busy++;
                else
                        fail_msg("writer %d failed (exit %d)", i, WEXITSTATUS(status));
        }
        assert_int_equal(committed + busy, WRITERS);
        assert_true(committed >= WRITERS / 2); /* the patient ones all get through */

        _cleanup_free_ char *count = run(NULL, "git -C %s rev-list --count HEAD", f->path);
        _cleanup_free_ char *envs = run(NULL, "git -C %s ls-tree --name-only HEAD envs/ | wc -l", f->path);
        assert_int_equal(atoi(count), 1 + committed);
        assert_int_equal(atoi(envs), committed); /* no commit overwrote another */
        _cleanup_free_ char *fsck = run(&status, "git -C %s fsck --strict 2>&1", f->path);
        assert_int_equal(status, 0);
}

/* A stock git writer ignores our lock; the compare-and-swap on the branch
 * must still refuse to overwrite its commit. */
static void branch_moved_by_git_gives_busy(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("mine");
        registry_txn *t = NULL;
        int status;

        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_ENV, "mine", env, &err), 0);
        _cleanup_free_ char *theirs = run(&status,
                                          "c=$(git -C %1$s commit-tree -p HEAD -m 'outside change' HEAD^{tree}) && "
                                          "git -C %1$s update-ref refs/heads/main $c && echo $c",
                                          f->path);
        assert_int_equal(status, 0);
        assert_int_equal(registry_txn_commit(t, "my change", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_BUSY);
        registry_txn_free(t);
        _cleanup_free_ char *head = run(NULL, "git -C %s rev-parse HEAD", f->path);
        assert_string_equal(head, theirs);
}

/* libgit2's lock on the branch, left by a command killed mid-update: not
 * "busy" (retrying never helps) but named, with git's advice. */
static void stale_ref_lock_file_is_named(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("mine");
        _cleanup_free_ char *lock = NULL, *want = NULL;
        registry_txn *t = NULL;
        _cleanup_free_ char *before = run(NULL, "git -C %s rev-parse HEAD", f->path);

        assert_true(asprintf(&lock, "%s/refs/heads/main.lock", f->path) > 0);
        close(open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_ENV, "mine", env, &err), 0);
        assert_int_equal(registry_txn_commit(t, "my change", NULL, NULL, &err), -1);
        registry_txn_free(t);
        assert_int_equal(err->kind, AGORA_ERR_FAILED);
        assert_true(asprintf(&want,
                             "registry '%s': stale lock file 'refs/heads/main.lock' left by an interrupted command; "
                             "remove it if no git command is running",
                             f->path) > 0);
        assert_string_equal(err->msg, want);
        _cleanup_free_ char *after = run(NULL, "git -C %s rev-parse HEAD", f->path);
        assert_string_equal(after, before);
}

/* A commit on a detached HEAD lands on no branch and is lost later. */
static void detached_head_is_refused_by_begin(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *want = NULL;
        registry_txn *t = NULL;
        int status;

        put_commit(f->r, REGISTRY_ENV, "prod", objects_env_new("prod"), "add prod");
        free(run(&status, "git -C %s update-ref --no-deref HEAD HEAD~1", f->path));
        assert_int_equal(status, 0);
        _cleanup_free_ char *before = run(NULL, "git -C %1$s rev-parse HEAD refs/heads/main", f->path);
        assert_int_equal(registry_begin(f->r, &t, &err), -1);
        assert_null(t);
        assert_true(asprintf(&want,
                             "registry '%s': HEAD is detached; agora commits only to a branch "
                             "(git symbolic-ref HEAD refs/heads/main)",
                             f->path) > 0);
        assert_string_equal(err->msg, want);
        _cleanup_free_ char *after = run(NULL, "git -C %1$s rev-parse HEAD refs/heads/main", f->path);
        assert_string_equal(after, before);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
int main(void)
{
        const struct CMUnitTest tests[] = {
                T(held_lock_gives_busy_after_timeout), T(lock_timeout_from_environment),
                T(lock_is_released_by_txn_free),       T(concurrent_writers_commit_or_report_busy),
                T(branch_moved_by_git_gives_busy),     T(stale_ref_lock_file_is_named),
                T(detached_head_is_refused_by_begin),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
