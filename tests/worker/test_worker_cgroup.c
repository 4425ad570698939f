/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker/cage_cgroup.c against the real cgroups of this host (v1 or v2);
 * needs root. Each test makes its own cage-<id>, and the teardown kills
 * whatever a failed assertion left behind and removes the cgroup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "worker/cage-internal.h"

#define MiB (1024ull * 1024)
#define CGROOT "/sys/fs/cgroup"

typedef struct fixture {
        char id[64];
        cage_cgroup *cg;
        pid_t child;
} fixture;

static int setup(void **state)
{
        static unsigned n;
        fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        snprintf(f->id, sizeof(f->id), "test-%d-%u", (int)getpid(), n++);
        f->child = -1;
        *state = f;
        return 0;
}

/* The cage's directory for CONTROLLER (v1), or its one directory (v2). */
static char *cage_dir(const fixture *f, const char *controller, bool v2)
{
        char *p = NULL;

        if (v2)
                assert_true(asprintf(&p, CGROOT "/agora/cage-%s", f->id) > 0);
        else
                assert_true(asprintf(&p, CGROOT "/%s/agora/cage-%s", controller, f->id) > 0);
        return p;
}

static void write_if_present(const char *dir, const char *file, const char *value)
{
        _cleanup_free_ char *path = NULL;
        FILE *fp;

        if (asprintf(&path, "%s/%s", dir, file) < 0 || (fp = fopen(path, "we")) == NULL)
                return;
        fputs(value, fp);
        fclose(fp);
}

/* A safety net independent of the code under test, run after its destroy:
 * when kill or destroy is broken, the test fails instead of leaving this
 * run's processes and directories behind (thawed first: a frozen process
 * does not die). */
static void remove_leftovers(const fixture *f)
{
        static const char *const where[] = {"memory", "pids", "cpu", NULL};

        for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
                _cleanup_free_ char *dir = cage_dir(f, where[i], where[i] == NULL);
                _cleanup_free_ char *path = NULL;
                FILE *fp;
                int pid;

                if (where[i] == NULL)
                        write_if_present(dir, "cgroup.freeze", "0");
                if (asprintf(&path, "%s/cgroup.procs", dir) < 0 || (fp = fopen(path, "re")) == NULL)
                        continue;
                while (fscanf(fp, "%d", &pid) == 1)
                        kill(pid, SIGKILL);
                fclose(fp);
                for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 100; tries++)
                        usleep(10000);
        }
}

static int teardown(void **state)
{
        fixture *f = *state;
        agora_error_t err = NULL;

        if (f->child > 0)
                kill(f->child, SIGKILL);
        cage_cgroup_destroy(f->cg, &err);
        agora_error_release(&err);
        remove_leftovers(f);
        if (f->child > 0)
                waitpid(f->child, NULL, 0);
        free(f);
        return 0;
}

static profile_limits limits(uint64_t memory, uint64_t pids, uint64_t weight, uint64_t quota)
{
        profile_limits l = {.memory_bytes = memory, .pids = pids, .cpu_weight = weight, .cpu_quota_percent = quota};

        return l;
}

static bool is_v2(const fixture *f)
{
        return strcmp(cage_cgroup_version(f->cg), "v2") == 0;
}

/* The trimmed content of a cage file, malloc'd. */
static char *cage_file(const fixture *f, const char *controller, const char *file)
{
        _cleanup_free_ char *dir = cage_dir(f, controller, is_v2(f));
        _cleanup_free_ char *path = NULL;
        char buf[256];
        FILE *fp;
        size_t n;

        assert_true(asprintf(&path, "%s/%s", dir, file) > 0);
        fp = fopen(path, "re");
        assert_non_null(fp);
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return strdup(buf);
}

static void assert_file(const fixture *f, const char *controller, const char *file, const char *want)
{
        _cleanup_free_ char *got = cage_file(f, controller, file);

        assert_string_equal(got, want);
}

/* The swap limit file exists only with swap accounting; without it,
 * create must have checked that the host has no swap. */
static void assert_swap_file(const fixture *f, const char *controller, const char *file, const char *want)
{
        _cleanup_free_ char *dir = cage_dir(f, controller, is_v2(f));
        _cleanup_free_ char *path = NULL;
        struct stat st;

        assert_true(asprintf(&path, "%s/%s", dir, file) > 0);
        if (stat(path, &st) == 0)
                assert_file(f, controller, file, want);
        else
                assert_int_equal(system("test $(wc -l < /proc/swaps) -le 1"), 0);
}

static const char *const v1_controllers[] = {"memory", "pids", "cpu"};

/* How many of the cage's directories exist on disk. */
static int dirs_present(const fixture *f)
{
        struct stat st;
        int n = 0;

        for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
                _cleanup_free_ char *d1 = cage_dir(f, v1_controllers[i], false);
                n += stat(d1, &st) == 0;
        }
        _cleanup_free_ char *d2 = cage_dir(f, NULL, true);
        n += stat(d2, &st) == 0;
        return n;
}

static int create(fixture *f, profile_limits l)
{
        _cleanup_error_ agora_error_t err = NULL;
        int r = cage_cgroup_create(f->id, &l, &f->cg, &err);

        if (r < 0)
                print_error("create: %s\n", agora_error_message(err));
        return r;
}

/* Fork a child that waits until the parent has attached it, then runs FN
 * and exits with its result. */
static pid_t spawn_attached(fixture *f, int (*fn)(int), int arg)
{
        _cleanup_error_ agora_error_t err = NULL;
        int go[2];
        pid_t pid;
        char c = 0;

        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(go[1]);
                if (read(go[0], &c, 1) != 1)
                        _exit(120);
                _exit(fn(arg));
        }
        close(go[0]);
        f->child = pid;
        assert_int_equal(cage_cgroup_attach(f->cg, pid, &err), 0);
        assert_int_equal(write(go[1], &c, 1), 1);
        close(go[1]);
        return pid;
}

static int touch_memory(int mib)
{
        size_t len = (size_t)mib * MiB;
        volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return 121;
        for (size_t i = 0; i < len; i += 4096)
                p[i] = 1;
        return 0;
}

/* Each of two processes holds 128 MiB, so dying takes a while (the kernel
 * unmaps it first) and a kill that does not wait is caught. */
static int sleep_with_grandchild(int ready_fd)
{
        /* A grandchild the caller never learns of: kill must still find it. */
        pid_t p = fork();

        if (touch_memory(128) != 0 || write(ready_fd, "r", 1) != 1)
                return 122;
        if (p == 0)
                for (;;)
                        pause();
        for (;;)
                pause();
        return 0;
}

/* Run sleep_with_grandchild in the cage and wait until both are ready. */
static void spawn_sleepers(fixture *f)
{
        int ready[2];
        char buf[2];

        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        spawn_attached(f, sleep_with_grandchild, ready[1]);
        close(ready[1]);
        assert_int_equal(read(ready[0], buf, 1), 1);
        assert_int_equal(read(ready[0], buf + 1, 1), 1);
        close(ready[0]);
}

static int fork_many(int n)
{
        int forked = 0;

        for (int i = 0; i < n; i++) {
                pid_t p = fork();
                if (p == 0)
                        for (;;)
                                pause();
                if (p > 0)
                        forked++;
        }
        return forked;
}

static int wait_child(fixture *f)
{
        int status = 0;

        assert_int_equal(waitpid(f->child, &status, 0), f->child);
        f->child = -1;
        return status;
}

static void test_create_writes_limits(void **state)
{
        fixture *f = *state;

        assert_int_equal(create(f, limits(64 * MiB, 16, 100, 50)), 0);
        if (is_v2(f)) {
                assert_file(f, NULL, "memory.max", "67108864");
                assert_swap_file(f, NULL, "memory.swap.max", "0");
                assert_file(f, NULL, "pids.max", "16");
                assert_file(f, NULL, "cpu.weight", "100");
                assert_file(f, NULL, "cpu.max", "50000 100000");
        } else {
                assert_string_equal(cage_cgroup_version(f->cg), "v1");
                assert_file(f, "memory", "memory.limit_in_bytes", "67108864");
                assert_swap_file(f, "memory", "memory.memsw.limit_in_bytes", "67108864");
                assert_file(f, "pids", "pids.max", "16");
                assert_file(f, "cpu", "cpu.shares", "1024");
                assert_file(f, "cpu", "cpu.cfs_period_us", "100000");
                assert_file(f, "cpu", "cpu.cfs_quota_us", "50000");
                assert_int_equal(dirs_present(f), 3); /* memory, pids, cpu: no cpuacct, no freezer */
        }
}

static void test_create_no_quota_and_top_weight(void **state)
{
        fixture *f = *state;

        assert_int_equal(create(f, limits(64 * MiB, 16, 10000, 0)), 0);
        if (is_v2(f)) {
                assert_file(f, NULL, "cpu.weight", "10000");
                assert_file(f, NULL, "cpu.max", "max 100000");
        } else {
                assert_file(f, "cpu", "cpu.shares", "102400"); /* 10000 * 1024 / 100 */
                assert_file(f, "cpu", "cpu.cfs_quota_us", "-1");
        }
}

static void test_kill_ends_every_process(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *procs = NULL;
        char want[24];
        int status;

        assert_int_equal(create(f, limits(512 * MiB, 16, 100, 50)), 0);
        spawn_sleepers(f);
        snprintf(want, sizeof(want), "%d", (int)f->child);
        procs = cage_file(f, "pids", "cgroup.procs");
        assert_non_null(strstr(procs, want));

        assert_int_equal(cage_cgroup_kill(f->cg, &err), 0);
        assert_file(f, "memory", "cgroup.procs", "");
        assert_file(f, "pids", "cgroup.procs", "");
        status = wait_child(f);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_oom_is_counted(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        cage_cgroup_stats s = {0};
        int status;

        assert_int_equal(create(f, limits(32 * MiB, 16, 100, 0)), 0);
        spawn_attached(f, touch_memory, 200);
        status = wait_child(f);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_int_equal(cage_cgroup_stats_read(f->cg, &s, &err), 0);
        assert_true(s.oom_kills >= 1);
        assert_true(s.peak_memory_bytes >= 16 * MiB);
        assert_true(s.peak_memory_bytes <= 32 * MiB);
}

static void test_pids_limit_is_counted(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        cage_cgroup_stats s = {0};
        int status;

        assert_int_equal(create(f, limits(64 * MiB, 8, 100, 0)), 0);
        spawn_attached(f, fork_many, 20);
        status = wait_child(f);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 7); /* 8 with the forker itself */
        assert_int_equal(cage_cgroup_stats_read(f->cg, &s, &err), 0);
        assert_true(s.pids_max_hits >= 1);
        assert_int_equal(s.oom_kills, 0);
        /* The forker is gone; its children, now orphans, are still charged. */
        assert_int_equal(cage_cgroup_kill(f->cg, &err), 0);
        assert_file(f, "pids", "cgroup.procs", "");
}

/* Gone, or a zombie waiting for its new parent to reap it. */
static bool process_dead(pid_t pid)
{
        char path[64], state = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fp = fopen(path, "re");
        if (fp == NULL)
                return true;
        if (fscanf(fp, "%*d (%*[^)]) %c", &state) != 1)
                state = 0;
        fclose(fp);
        return state == 'Z' || state == 'X';
}

/* What a killed agora-cage leaves: a cgroup whose owner is gone, here with
 * a process still in it. list names it, remove_stale kills what is in it
 * and removes every directory. */
static void test_stale_cgroup_is_listed_and_removed(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_strv_ char **ids = NULL;
        bool found = false;
        int report[2], status;
        pid_t owner, sleeper = 0;

        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        owner = fork();
        assert_true(owner >= 0);
        if (owner == 0) {
                /* The owner makes the cage, puts a process in it and dies
                 * without destroying anything. */
                cage_cgroup *cg = NULL;
                profile_limits l = limits(64 * MiB, 16, 100, 0);
                if (cage_cgroup_create(f->id, &l, &cg, &err) < 0)
                        _exit(1);
                pid_t p = fork();
                if (p == 0) {
                        for (;;)
                                pause();
                }
                if (p < 0 || cage_cgroup_attach(cg, p, &err) < 0 || write(report[1], &p, sizeof(p)) != sizeof(p))
                        _exit(2);
                _exit(0);
        }
        close(report[1]);
        assert_int_equal(read(report[0], &sleeper, sizeof(sleeper)), (ssize_t)sizeof(sleeper));
        close(report[0]);
        assert_int_equal(waitpid(owner, &status, 0), owner);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(dirs_present(f) >= 1);

        assert_int_equal(cage_cgroup_list(&ids, &err), 0);
        for (char **id = ids; *id; id++)
                found = found || strcmp(*id, f->id) == 0;
        assert_true(found);
        assert_int_equal(cage_cgroup_remove_stale(f->id, &err), 0);
        assert_int_equal(dirs_present(f), 0);
        for (int i = 0; i < 200 && !process_dead(sleeper); i++)
                usleep(10000);
        assert_true(process_dead(sleeper));
}

static void test_destroy_kills_and_removes_directories(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        struct stat st;
        int status;

        assert_int_equal(create(f, limits(512 * MiB, 16, 100, 50)), 0);
        assert_true(dirs_present(f) >= 1);
        spawn_sleepers(f);
        assert_int_equal(cage_cgroup_destroy(take_ptr(f->cg), &err), 0);
        assert_null(err);
        assert_int_equal(dirs_present(f), 0);
        status = wait_child(f);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        /* The shared parent stays for the other cages. */
        assert_true(stat(CGROOT "/memory/agora", &st) == 0 || stat(CGROOT "/agora", &st) == 0);
}

static void test_destroy_null_is_safe(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;

        (void)state;
        assert_int_equal(cage_cgroup_destroy(NULL, &err), 0);
        assert_null(err);
        assert_string_equal(cage_cgroup_version(NULL), "none");
}

static void assert_refused(fixture *f, const char *id, profile_limits l, agora_error_kind kind, const char *words)
{
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(cage_cgroup_create(id, &l, &f->cg, &err), -1);
        assert_null(f->cg);
        assert_non_null(err);
        assert_int_equal(err->kind, kind);
        assert_null(strchr(agora_error_message(err), '\n'));
        if (strstr(agora_error_message(err), words) == NULL)
                fail_msg("'%s' does not say '%s'", agora_error_message(err), words);
        assert_int_equal(dirs_present(f), 0);
}

static void test_create_refuses_bad_ids(void **state)
{
        fixture *f = *state;
        profile_limits l = limits(64 * MiB, 16, 100, 50);
        char long_id[80];

        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = '\0';
        assert_refused(f, "../../escape", l, AGORA_ERR_USAGE, "cage id '../../escape'");
        assert_refused(f, "a/b", l, AGORA_ERR_USAGE, "cage id 'a/b'");
        assert_refused(f, "", l, AGORA_ERR_USAGE, "cage id ''");
        assert_refused(f, "a b", l, AGORA_ERR_USAGE, "cage id 'a b'");
        assert_refused(f, long_id, l, AGORA_ERR_USAGE, "cage id");
}

static void test_create_refuses_out_of_range_limits(void **state)
{
        fixture *f = *state;

        assert_refused(f, f->id, limits(64 * MiB, 16, 0, 50), AGORA_ERR_USAGE, "cpu-weight 0");
        assert_refused(f, f->id, limits(64 * MiB, 16, 10001, 50), AGORA_ERR_USAGE, "cpu-weight 10001");
        assert_refused(f, f->id, limits(0, 16, 100, 50), AGORA_ERR_USAGE, "memory limit 0");
        assert_refused(f, f->id, limits(64 * MiB, 0, 100, 50), AGORA_ERR_USAGE, "pids limit 0");
}

/* The kernel refuses a quota above about 1.7e13 us per period; by then the
 * memory and pids limits are written, so this checks the undo as well. */
static void test_create_kernel_refusal_leaves_nothing(void **state)
{
        fixture *f = *state;
        profile_limits l = limits(64 * MiB, 16, 100, 100000000000ull);
        _cleanup_error_ agora_error_t probe = NULL;

        /* Find out which version is in charge, to name the file. */
        assert_int_equal(create(f, limits(64 * MiB, 16, 100, 50)), 0);
        bool v2 = is_v2(f);
        assert_int_equal(cage_cgroup_destroy(take_ptr(f->cg), &probe), 0);
        assert_refused(f, f->id, l, AGORA_ERR_FAILED,
                       v2 ? "'100000000000000 100000' to " CGROOT "/agora/cage-"
                          : "'100000000000000' to " CGROOT "/cpu/agora/cage-");
        assert_refused(f, f->id, l, AGORA_ERR_FAILED, "Invalid argument");
}

static void test_create_refuses_existing_cage(void **state)
{
        fixture *f = *state;

        profile_limits l = limits(64 * MiB, 16, 100, 50);
        _cleanup_error_ agora_error_t err = NULL;
        cage_cgroup *second = NULL;

        assert_int_equal(create(f, l), 0);
        assert_int_equal(cage_cgroup_create(f->id, &l, &second, &err), -1);
        assert_null(second);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
        assert_non_null(strstr(agora_error_message(err), "already exists"));
        /* The refused create must not have removed the running cage's directories. */
        assert_true(dirs_present(f) >= 1);
        assert_file(f, "pids", "pids.max", "16");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_writes_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_no_quota_and_top_weight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kill_ends_every_process, setup, teardown),
                cmocka_unit_test_setup_teardown(test_oom_is_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pids_limit_is_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_cgroup_is_listed_and_removed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_destroy_kills_and_removes_directories, setup, teardown),
                cmocka_unit_test_setup_teardown(test_destroy_null_is_safe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_refuses_bad_ids, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_refuses_out_of_range_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_kernel_refusal_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_refuses_existing_cage, setup, teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test_worker_cgroup: needs root to make cgroups\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
