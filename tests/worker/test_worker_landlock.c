/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cage_landlock_apply, tested for real: each test forks a child that drops
 * its capabilities, applies a small hand-built profile (read access to one
 * temporary directory) and then makes one call; the child's exit status
 * says what the call got (an errno, 0 for success). Every denied call
 * would succeed for the child without Landlock. Needs root and Landlock
 * ABI 6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "tests/worker/worker-test.h"
#include "worker/cage-internal.h"

#define CHILD_OK 0
#define CHILD_SETUP_FAILED 250
#define CHILD_ALLOWED 251
#define CHILD_WRONG 252

typedef struct fixture {
        char dir[64]; /* directory A: the only one the profile grants (read) */
        char file[96]; /* A/f, holding "data" */
        char other[96]; /* A/g, for the rule on a single file */
        profile_landlock_rule rule;
        profile prof;
} fixture;

static void write_text(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));

        if (f == NULL)
                return -1;
        strcpy(f->dir, "/tmp/agora-landlock-XXXXXX");
        if (mkdtemp(f->dir) == NULL) {
                free(f);
                return -1;
        }
        snprintf(f->file, sizeof(f->file), "%s/f", f->dir);
        snprintf(f->other, sizeof(f->other), "%s/g", f->dir);
        write_text(f->file, "data");
        write_text(f->other, "other");
        f->rule.path = f->dir;
        f->rule.access = PROFILE_ACCESS_READ;
        f->prof.name = "test";
        f->prof.landlock = &f->rule;
        f->prof.n_landlock = 1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        char path[128];

        unlink(f->file);
        unlink(f->other);
        snprintf(path, sizeof(path), "%s/new", f->dir);
        unlink(path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static int denied_errno(long r)
{
        return r < 0 ? errno : CHILD_ALLOWED;
}

/* What the child reports besides its exit code (an error message). */
static int report_fd = -1;
static char report[512];

static void child_report(const char *msg)
{
        if (report_fd >= 0 && write(report_fd, msg, strlen(msg)) < 0)
                _exit(CHILD_SETUP_FAILED);
}

static void child_sandbox(const profile *p)
{
        _cleanup_error_ agora_error_t e = NULL;

        if (cage_caps_drop(&e) < 0 || cage_landlock_apply(p, &e) < 0) {
                fprintf(stderr, "child: %s\n", agora_error_message(e));
                _exit(CHILD_SETUP_FAILED);
        }
}

/* Fork; the child runs FN(F) and exits with what it returns; the parent
 * collects what the child wrote into report[] and returns the status. The
 * child leaves only through _exit, so nothing of cmocka runs in it. */
static int run_child(fixture *f, int (*fn)(fixture *))
{
        int p[2], status = 0;
        ssize_t n, len = 0;
        pid_t pid;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                report_fd = p[1];
                _exit(fn(f));
        }
        close(p[1]);
        while ((n = read(p[0], report + len, sizeof(report) - 1 - (size_t)len)) > 0)
                len += n;
        report[len] = '\0';
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

static int read_errno(const char *path)
{
        char buf[16];
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return errno;
        if (read(fd, buf, sizeof(buf)) < 0)
                return errno;
        close(fd);
        return CHILD_ALLOWED;
}

/* ---- filesystem ---- */

static int probe_read_inside(fixture *f)
{
        char buf[8] = {0};
        int fd;

        child_sandbox(&f->prof);
        fd = open(f->file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno;
        if (read(fd, buf, sizeof(buf) - 1) != 4)
                return CHILD_WRONG;
        return strcmp(buf, "data") == 0 ? CHILD_OK : CHILD_WRONG;
}

static void test_read_in_granted_dir_works(void **state)
{
        expect_exit(run_child(*state, probe_read_inside), CHILD_OK);
}

static int probe_list_inside(fixture *f)
{
        int fd;

        child_sandbox(&f->prof);
        fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? errno : CHILD_OK;
}

static void test_list_granted_dir_works(void **state)
{
        expect_exit(run_child(*state, probe_list_inside), CHILD_OK);
}

static int probe_read_passwd(fixture *f)
{
        child_sandbox(&f->prof);
        return read_errno("/etc/passwd");
}

static void test_read_outside_is_eacces(void **state)
{
        expect_exit(run_child(*state, probe_read_passwd), EACCES);
}

static int probe_create_inside(fixture *f)
{
        char path[128];

        child_sandbox(&f->prof);
        snprintf(path, sizeof(path), "%s/new", f->dir);
        return denied_errno(open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
}

static void test_create_in_read_only_dir_is_eacces(void **state)
{
        expect_exit(run_child(*state, probe_create_inside), EACCES);
}

static int probe_write_inside(fixture *f)
{
        child_sandbox(&f->prof);
        return denied_errno(open(f->file, O_WRONLY | O_CLOEXEC));
}

static void test_write_in_read_only_dir_is_eacces(void **state)
{
        expect_exit(run_child(*state, probe_write_inside), EACCES);
}

static int probe_unlink_inside(fixture *f)
{
        child_sandbox(&f->prof);
        return denied_errno(unlink(f->other));
}

static void test_unlink_in_read_only_dir_is_eacces(void **state)
{
        expect_exit(run_child(*state, probe_unlink_inside), EACCES);
}

static int probe_file_rule(fixture *f)
{
        int r;

        /* A rule naming one file, with groups that also carry directory
         * rights: those must be masked away, or add_rule says EINVAL. */
        f->rule.path = f->file;
        f->rule.access = PROFILE_ACCESS_READ | PROFILE_ACCESS_CREATE | PROFILE_ACCESS_REMOVE;
        child_sandbox(&f->prof);
        r = read_errno(f->file);
        if (r != CHILD_ALLOWED)
                return r;
        /* Its sibling is not covered. */
        return read_errno(f->other);
}

static void test_rule_on_a_file_grants_that_file_only(void **state)
{
        expect_exit(run_child(*state, probe_file_rule), EACCES);
}

/* ---- network ---- */

static int tcp_listener(struct sockaddr_in *ret)
{
        socklen_t len = sizeof(*ret);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        memset(ret, 0, sizeof(*ret));
        ret->sin_family = AF_INET;
        ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)ret, sizeof(*ret)), 0);
        assert_int_equal(listen(fd, 4), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)ret, &len), 0);
        return fd;
}

static struct sockaddr_in listener_addr;

static int probe_tcp_connect(fixture *f)
{
        int fd;

        child_sandbox(&f->prof);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return CHILD_SETUP_FAILED;
        return denied_errno(connect(fd, (struct sockaddr *)&listener_addr, sizeof(listener_addr)));
}

static void test_tcp_connect_to_loopback_is_eacces(void **state)
{
        _cleanup_close_ int lfd = tcp_listener(&listener_addr);

        expect_exit(run_child(*state, probe_tcp_connect), EACCES);
}

static int probe_tcp_bind(fixture *f)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(0)};
        int fd;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        child_sandbox(&f->prof);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return CHILD_SETUP_FAILED;
        return denied_errno(bind(fd, (struct sockaddr *)&a, sizeof(a)));
}

static void test_tcp_bind_is_eacces(void **state)
{
        expect_exit(run_child(*state, probe_tcp_bind), EACCES);
}

/* ---- scopes ---- */

static struct sockaddr_un abstract_addr;
static socklen_t abstract_len;

static int probe_abstract_connect(fixture *f)
{
        int fd;

        child_sandbox(&f->prof);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return CHILD_SETUP_FAILED;
        return denied_errno(connect(fd, (struct sockaddr *)&abstract_addr, abstract_len));
}

static void test_abstract_unix_socket_outside_is_eperm(void **state)
{
        _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        static const char name[] = "agora-landlock-test";

        assert_true(lfd >= 0);
        memset(&abstract_addr, 0, sizeof(abstract_addr));
        abstract_addr.sun_family = AF_UNIX;
        /* sun_path[0] = '\0': the abstract namespace, no file behind it */
        snprintf(abstract_addr.sun_path + 1, sizeof(abstract_addr.sun_path) - 1, "%s-%d", name, (int)getpid());
        abstract_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract_addr.sun_path + 1));
        assert_int_equal(bind(lfd, (struct sockaddr *)&abstract_addr, abstract_len), 0);
        assert_int_equal(listen(lfd, 4), 0);
        expect_exit(run_child(*state, probe_abstract_connect), EPERM);
}

static int probe_signal_parent(fixture *f)
{
        child_sandbox(&f->prof);
        return denied_errno(kill(getppid(), 0));
}

static void test_signal_outside_the_domain_is_eperm(void **state)
{
        expect_exit(run_child(*state, probe_signal_parent), EPERM);
}

/* ---- refusals of cage_landlock_apply itself ---- */

static int probe_missing_path(fixture *f)
{
        _cleanup_error_ agora_error_t e = NULL;
        static char path[128];
        int r;

        snprintf(path, sizeof(path), "%s/does-not-exist", f->dir);
        f->rule.path = path;
        if (cage_caps_drop(&e) < 0)
                return CHILD_SETUP_FAILED;
        r = cage_landlock_apply(&f->prof, &e);
        if (r == 0)
                return CHILD_ALLOWED;
        child_report(agora_error_message(e));
        return e->kind == AGORA_ERR_NOTFOUND ? CHILD_OK : CHILD_WRONG;
}

static void test_missing_rule_path_is_an_error_naming_it(void **state)
{
        fixture *f = *state;

        expect_exit(run_child(f, probe_missing_path), CHILD_OK);
        assert_non_null(strstr(report, f->dir));
        assert_non_null(strstr(report, "does-not-exist"));
}

static int probe_without_nnp(fixture *f)
{
        _cleanup_error_ agora_error_t e = NULL;

        /* Root could restrict itself without no_new_privs; the cage must
         * not depend on that. */
        if (cage_landlock_apply(&f->prof, &e) == 0)
                return CHILD_ALLOWED;
        child_report(agora_error_message(e));
        return CHILD_OK;
}

static void test_apply_without_no_new_privs_is_refused(void **state)
{
        expect_exit(run_child(*state, probe_without_nnp), CHILD_OK);
        assert_non_null(strstr(report, "no_new_privs"));
}

/* Answer the Landlock version query with VAL (or fail it with -ERROR)
 * through a seccomp user-notification filter: the child's kernel then looks
 * like an older one, and cage_landlock_apply must refuse it. */
static long fake_val;
static int fake_error;

static int probe_fake_abi(fixture *f)
{
        _cleanup_error_ agora_error_t e = NULL;
        struct seccomp_notif *req = NULL;
        struct seccomp_notif_resp *resp = NULL;
        scmp_filter_ctx ctx;
        int nfd, r, status;
        pid_t sup;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || (ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
                return CHILD_SETUP_FAILED;
        if (seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(landlock_create_ruleset), 1,
                             SCMP_A2(SCMP_CMP_EQ, LANDLOCK_CREATE_RULESET_VERSION)) < 0 ||
            seccomp_load(ctx) < 0 || (nfd = seccomp_notify_fd(ctx)) < 0)
                return CHILD_SETUP_FAILED;
        sup = fork();
        if (sup < 0)
                return CHILD_SETUP_FAILED;
        if (sup == 0) {
                if (seccomp_notify_alloc(&req, &resp) < 0 || seccomp_notify_receive(nfd, req) < 0)
                        _exit(1);
                resp->id = req->id;
                resp->val = fake_val;
                resp->error = -fake_error;
                resp->flags = 0;
                _exit(seccomp_notify_respond(nfd, resp) < 0 ? 1 : 0);
        }
        close(nfd);
        if (cage_caps_drop(&e) < 0)
                return CHILD_SETUP_FAILED;
        r = cage_landlock_apply(&f->prof, &e);
        /* An implementation that never asked would leave the supervisor
         * waiting. */
        kill(sup, SIGKILL);
        waitpid(sup, &status, 0);
        if (r == 0)
                return CHILD_ALLOWED;
        child_report(agora_error_message(e));
        return CHILD_OK;
}

static void test_abi_below_6_is_refused(void **state)
{
        fake_val = 5;
        fake_error = 0;
        expect_exit(run_child(*state, probe_fake_abi), CHILD_OK);
        assert_non_null(strstr(report, "ABI 5"));
        assert_non_null(strstr(report, "ABI 6"));
}

static void test_kernel_without_landlock_is_refused(void **state)
{
        fake_val = 0;
        fake_error = EOPNOTSUPP;
        expect_exit(run_child(*state, probe_fake_abi), CHILD_OK);
        assert_non_null(strstr(report, "disabled"));
}

static void test_kernel_has_abi_6(void **state)
{
        long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

        (void)state;
        if (abi < 6)
                fail_msg("this kernel has Landlock ABI %ld (%s); the cage needs 6", abi,
                         abi < 0 ? strerror(errno) : "too old");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_has_abi_6),
                T(test_read_in_granted_dir_works),
                T(test_list_granted_dir_works),
                T(test_read_outside_is_eacces),
                T(test_create_in_read_only_dir_is_eacces),
                T(test_write_in_read_only_dir_is_eacces),
                T(test_unlink_in_read_only_dir_is_eacces),
                T(test_rule_on_a_file_grants_that_file_only),
                T(test_tcp_connect_to_loopback_is_eacces),
                T(test_tcp_bind_is_eacces),
                T(test_abstract_unix_socket_outside_is_eperm),
                T(test_signal_outside_the_domain_is_eperm),
                T(test_missing_rule_path_is_an_error_naming_it),
                T(test_apply_without_no_new_privs_is_refused),
                T(test_abi_below_6_is_refused),
                T(test_kernel_without_landlock_is_refused),
        };
#undef T

        if (geteuid() != 0) {
                fprintf(stderr, "test_worker_landlock needs root\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
