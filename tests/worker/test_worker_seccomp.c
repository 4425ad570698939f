/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cage_caps_drop and cage_seccomp_apply, tested for real: each test forks
 * a child that applies them to itself and then makes one call, and the
 * child's exit status says what the call got (an errno, 0 for success).
 * Where the kernel itself would refuse the call to a process without
 * capabilities, the child keeps its capabilities (root may load a filter
 * without no_new_privs), so that only the filter can be the reason.
 * Needs root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "tests/worker/worker-test.h"
#include "worker/cage-internal.h"

/* Exit codes of the child besides errno values. */
#define CHILD_OK 0
#define CHILD_SETUP_FAILED 250 /* a step before the probe failed (message on stderr) */
#define CHILD_ALLOWED 251 /* the probe succeeded where it should not */
#define CHILD_WRONG 252 /* the probe succeeded with a wrong result */

enum cage_steps {
        STEP_CAPS = 1 << 0, /* cage_caps_drop */
        STEP_SECCOMP = 1 << 1, /* cage_seccomp_apply */
        STEP_ALL = STEP_CAPS | STEP_SECCOMP,
};

/* What a probe's result means: its errno, or CHILD_ALLOWED. */
static int denied_errno(long r)
{
        return r < 0 ? errno : CHILD_ALLOWED;
}

static int succeeded(long r)
{
        return r < 0 ? (errno != 0 ? errno : CHILD_WRONG) : CHILD_OK;
}

static void child_setup_fail(const char *step, agora_error_t e)
{
        fprintf(stderr, "child: %s: %s\n", step, agora_error_message(e));
        _exit(CHILD_SETUP_FAILED);
}

static void child_apply(unsigned steps)
{
        _cleanup_error_ agora_error_t e = NULL;

        if ((steps & STEP_CAPS) && cage_caps_drop(&e) < 0)
                child_setup_fail("cage_caps_drop", e);
        if ((steps & STEP_SECCOMP) && cage_seccomp_apply(&e) < 0)
                child_setup_fail("cage_seccomp_apply", e);
}

/* Fork, run PREPARE (may be NULL) before the steps and PROBE after them in
 * the child; return the child's wait status. The child only ever leaves
 * through _exit: no atexit handlers, cmocka or sanitizer, run under the
 * filter. */
static int run_child(unsigned steps, void (*prepare)(void), int (*probe)(void))
{
        int status = 0;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (prepare != NULL)
                        prepare();
                child_apply(steps);
                _exit(probe());
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return status;
}

/* ---- denied with EPERM ---- */

static int probe_unshare_user(void)
{
        return denied_errno(unshare(CLONE_NEWUSER));
}

static void test_unshare_user_is_eperm(void **state)
{
        (void)state;
        /* Without capabilities the kernel allows a new user namespace, so
         * only the filter can make this EPERM. */
        expect_exit(run_child(STEP_ALL, NULL, probe_unshare_user), EPERM);
}

/* A private mount namespace, so that a filter letting mount through
 * mounts nothing the host sees. */
static void prepare_private_mounts(void)
{
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                perror("child: private mount namespace");
                _exit(CHILD_SETUP_FAILED);
        }
}

static int probe_mount(void)
{
        return denied_errno(mount("agora-test", "/tmp", "tmpfs", 0, "size=1m"));
}

static void test_mount_is_eperm(void **state)
{
        (void)state;
        /* Capabilities kept: the kernel would allow this mount. */
        expect_exit(run_child(STEP_SECCOMP, prepare_private_mounts, probe_mount), EPERM);
}

static int probe_ptrace(void)
{
        return denied_errno(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static void test_ptrace_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_ptrace), EPERM);
}

static int probe_socket_inet(void)
{
        return denied_errno(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

static void test_socket_inet_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_socket_inet), EPERM);
}

static int probe_socket_netlink(void)
{
        return denied_errno(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
}

static void test_socket_netlink_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_socket_netlink), EPERM);
}

static int probe_socketpair_inet(void)
{
        int sv[2];

        return denied_errno(socketpair(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
}

static void test_socketpair_inet_is_eperm(void **state)
{
        (void)state;
        /* The kernel would say EOPNOTSUPP. */
        expect_exit(run_child(STEP_ALL, NULL, probe_socketpair_inet), EPERM);
}

static int probe_clone_newns(void)
{
        long r = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0UL);

        if (r == 0)
                _exit(0); /* a filter that let it through: the new process just ends */
        if (r > 0) {
                waitpid((pid_t)r, NULL, 0);
                return CHILD_ALLOWED;
        }
        return errno;
}

static void test_clone_with_namespace_flag_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_clone_newns), EPERM);
}

static int probe_personality_rx(void)
{
        int r = personality(PER_LINUX | READ_IMPLIES_EXEC);

        if (r < 0)
                return errno;
        return CHILD_ALLOWED;
}

static void test_personality_read_implies_exec_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_personality_rx), EPERM);
}

static int probe_personality_high_bit(void)
{
        /* Neither 0 nor 0xffffffff, with the top bit set: the case the
         * wrap-around pair (bit 31 set, bit 0 clear) has to catch. */
        return personality(0x80000000u) < 0 ? errno : CHILD_ALLOWED;
}

static void test_personality_top_bit_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_personality_high_bit), EPERM);
}

static int probe_personality_query_and_linux(void)
{
        int cur = personality(0xffffffff);

        if (cur < 0)
                return errno;
        if ((cur & PER_MASK) != PER_LINUX)
                return CHILD_WRONG;
        return succeeded(personality(PER_LINUX));
}

static void test_personality_query_and_linux_are_allowed(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_personality_query_and_linux), CHILD_OK);
}

static int probe_prlimit_other(void)
{
        struct rlimit rl;

        return denied_errno(prlimit(1, RLIMIT_NOFILE, NULL, &rl));
}

static void test_prlimit_of_another_process_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_prlimit_other), EPERM);
}

static int probe_rlimit_self(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return errno;
        return succeeded(prlimit(0, RLIMIT_NOFILE, &rl, NULL));
}

static void test_rlimits_of_self_are_allowed(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_rlimit_self), CHILD_OK);
}

/* ---- ioctl on a terminal ---- */

static int pty_slave = -1;

static void prepare_pty(void)
{
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
                perror("child: pty");
                _exit(CHILD_SETUP_FAILED);
        }
        pty_slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (pty_slave < 0) {
                perror("child: pty slave");
                _exit(CHILD_SETUP_FAILED);
        }
}

static int probe_tiocsti_high_bits(void)
{
        char c = 'x';

        /* cmd as the kernel reads it is TIOCSTI; a filter comparing all 64
         * bits would see a different number. */
        return denied_errno(syscall(SYS_ioctl, pty_slave, (unsigned long)TIOCSTI | (1UL << 32), &c));
}

static void test_tiocsti_with_junk_in_upper_bits_is_eperm(void **state)
{
        (void)state;
        /* Capabilities kept: with CAP_SYS_ADMIN the kernel lets TIOCSTI into
         * any tty, so only the filter stops it. */
        expect_exit(run_child(STEP_SECCOMP, prepare_pty, probe_tiocsti_high_bits), EPERM);
}

static int probe_tiocsti(void)
{
        char c = 'x';

        return denied_errno(ioctl(pty_slave, TIOCSTI, &c));
}

static void test_tiocsti_is_eperm(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_SECCOMP, prepare_pty, probe_tiocsti), EPERM);
}

static int probe_tiocgwinsz(void)
{
        struct winsize ws;

        return succeeded(ioctl(pty_slave, TIOCGWINSZ, &ws));
}

static void test_other_ioctls_are_allowed(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, prepare_pty, probe_tiocgwinsz), CHILD_OK);
}

/* ---- ENOSYS ---- */

static int probe_unknown_syscall(void)
{
        return denied_errno(syscall(1000, 0, 0, 0));
}

static void test_unknown_syscall_is_enosys(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_unknown_syscall), ENOSYS);
}

static int probe_clone3(void)
{
        struct clone_args args;

        memset(&args, 0, sizeof(args));
        /* Size 0: the kernel itself would answer EINVAL without creating
         * anything, so only the filter yields ENOSYS. */
        return denied_errno(syscall(SYS_clone3, &args, (size_t)0));
}

static void test_clone3_is_enosys(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_clone3), ENOSYS);
}

/* ---- allowed ---- */

static int probe_socket_unix(void)
{
        int sv[2];
        char c = 0;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return errno;
        if (socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0)
                return errno;
        if (write(sv[0], "u", 1) != 1 || read(sv[1], &c, 1) != 1)
                return errno;
        return c == 'u' ? CHILD_OK : CHILD_WRONG;
}

static void test_unix_sockets_are_allowed(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_socket_unix), CHILD_OK);
}

static int report_fd = -1;

static int probe_getpid(void)
{
        pid_t pid = (pid_t)syscall(SYS_getpid);

        if (write(report_fd, &pid, sizeof(pid)) != sizeof(pid))
                return errno;
        return CHILD_OK;
}

static void test_getpid_works(void **state)
{
        int p[2], status;
        pid_t pid, got = 0;

        (void)state;
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                report_fd = p[1];
                child_apply(STEP_ALL);
                _exit(probe_getpid());
        }
        close(p[1]);
        assert_int_equal(read(p[0], &got, sizeof(got)), sizeof(got));
        close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        expect_exit(status, CHILD_OK);
        assert_int_equal(got, pid);
}

static int probe_fork(void)
{
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return errno;
        if (pid == 0)
                _exit(42);
        if (waitpid(pid, &status, 0) != pid)
                return errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 42 ? CHILD_OK : CHILD_WRONG;
}

static void test_fork_is_allowed(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_fork), CHILD_OK);
}

static void *thread_mark(void *arg)
{
        *(int *)arg = 1;
        return NULL;
}

static int probe_pthread(void)
{
        pthread_t t;
        int ran = 0, r;

        /* glibc tries clone3 first; this only works because clone3 gets
         * ENOSYS and clone without namespace flags is allowed. */
        r = pthread_create(&t, NULL, thread_mark, &ran);
        if (r != 0)
                return r;
        r = pthread_join(t, NULL);
        if (r != 0)
                return r;
        return ran ? CHILD_OK : CHILD_WRONG;
}

static void test_pthread_create_works(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_ALL, NULL, probe_pthread), CHILD_OK);
}

/* ---- TSYNC: a thread that existed before the filter gets it too ---- */

static int tsync_go[2];

static void *thread_unshare(void *arg)
{
        char c;

        if (read(tsync_go[0], &c, 1) != 1) {
                *(int *)arg = CHILD_SETUP_FAILED;
                return NULL;
        }
        *(int *)arg = denied_errno(unshare(CLONE_NEWUSER));
        return NULL;
}

static void test_filter_reaches_existing_threads(void **state)
{
        int status;
        pid_t pid;

        (void)state;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                pthread_t t;
                int result = CHILD_SETUP_FAILED;

                if (pipe2(tsync_go, O_CLOEXEC) < 0 || pthread_create(&t, NULL, thread_unshare, &result) != 0)
                        _exit(CHILD_SETUP_FAILED);
                child_apply(STEP_ALL);
                if (write(tsync_go[1], "g", 1) != 1 || pthread_join(t, NULL) != 0)
                        _exit(CHILD_SETUP_FAILED);
                /* Without TSYNC the thread would get EINVAL (a threaded
                 * process cannot make a user namespace), not EPERM. */
                _exit(result);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        expect_exit(status, EPERM);
}

/* ---- other architectures ---- */

static int probe_x32(void)
{
        /* getpid as an x32 syscall: same kernel entry, different table. */
        syscall(0x40000000L | SYS_getpid);
        return CHILD_ALLOWED;
}

static void test_x32_syscall_kills_the_process(void **state)
{
        int status;

        (void)state;
        status = run_child(STEP_ALL, NULL, probe_x32);
        if (!WIFSIGNALED(status))
                fail_msg("child exited %d, want death by SIGSYS", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* ---- cage_caps_drop ---- */

static int probe_caps_zero(void)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2];

        if (syscall(SYS_capget, &hdr, data) < 0)
                return errno;
        for (int i = 0; i < 2; i++)
                if (data[i].effective || data[i].permitted || data[i].inheritable)
                        return CHILD_WRONG;
        for (unsigned long cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
                        return CHILD_WRONG;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0) != 0)
                return CHILD_WRONG;
        /* uid 0 with SECBIT_NOROOT locked: exec cannot give them back. */
        if ((prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) & SECBIT_NOROOT_LOCKED) == 0)
                return CHILD_WRONG;
        return CHILD_OK;
}

static void test_caps_are_zero_after_drop(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_CAPS, NULL, probe_caps_zero), CHILD_OK);
}

static int probe_nnp(void)
{
        return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? CHILD_OK : CHILD_WRONG;
}

static void test_no_new_privs_is_set_after_drop(void **state)
{
        (void)state;
        expect_exit(run_child(STEP_CAPS, NULL, probe_nnp), CHILD_OK);
}

/* ---- ordinary programs run under the filter ---- */

static const char workload[] =
        "set -eu\n"
        "d=$(mktemp -d /tmp/agora-seccomp-XXXXXX)\n"
        "trap 'rm -rf \"$d\"' EXIT\n"
        "cd \"$d\"\n"
        "echo hello > a && cp a b && mv b c && ln -s c s && cat s | sort | uniq | wc -l > n\n"
        "test \"$(cat n)\" = 1\n"
        "mkdir -p x/y && touch x/y/z && chmod 600 x/y/z && ls -laR . > /dev/null && find . -name z | grep -q z\n"
        "date > /dev/null && id > /dev/null && uname -a > /dev/null && sleep 0.01\n"
        "head -c 1000 /dev/urandom | sha256sum > /dev/null\n"
        "/usr/bin/python3 -c '\n"
        "import os, socket, subprocess, tempfile, threading\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "assert subprocess.run([\"true\"]).returncode == 0\n"
        "a, b = socket.socketpair(); a.send(b\"x\"); assert b.recv(1) == b\"x\"\n"
        "with tempfile.NamedTemporaryFile() as f: f.write(b\"y\")\n"
        "os.listdir(\"/\")\n"
        "'\n"
        "printf '#include <stdio.h>\\nint main(void){puts(\"ok\");return 0;}\\n' > t.c\n"
        "gcc -O1 -o t t.c\n"
        "test \"$(./t)\" = ok\n";

static int probe_workload(void)
{
        execl("/bin/sh", "sh", "-c", workload, (char *)NULL);
        return errno;
}

static void test_shell_coreutils_python_gcc_run(void **state)
{
        (void)state;
        if (access("/usr/bin/python3", X_OK) < 0 || access("/usr/bin/gcc", X_OK) < 0)
                skip();
        expect_exit(run_child(STEP_ALL, NULL, probe_workload), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unshare_user_is_eperm),
                cmocka_unit_test(test_mount_is_eperm),
                cmocka_unit_test(test_ptrace_is_eperm),
                cmocka_unit_test(test_socket_inet_is_eperm),
                cmocka_unit_test(test_socket_netlink_is_eperm),
                cmocka_unit_test(test_socketpair_inet_is_eperm),
                cmocka_unit_test(test_clone_with_namespace_flag_is_eperm),
                cmocka_unit_test(test_personality_read_implies_exec_is_eperm),
                cmocka_unit_test(test_personality_top_bit_is_eperm),
                cmocka_unit_test(test_personality_query_and_linux_are_allowed),
                cmocka_unit_test(test_prlimit_of_another_process_is_eperm),
                cmocka_unit_test(test_rlimits_of_self_are_allowed),
                cmocka_unit_test(test_tiocsti_with_junk_in_upper_bits_is_eperm),
                cmocka_unit_test(test_tiocsti_is_eperm),
                cmocka_unit_test(test_other_ioctls_are_allowed),
                cmocka_unit_test(test_unknown_syscall_is_enosys),
                cmocka_unit_test(test_clone3_is_enosys),
                cmocka_unit_test(test_unix_sockets_are_allowed),
                cmocka_unit_test(test_getpid_works),
                cmocka_unit_test(test_fork_is_allowed),
                cmocka_unit_test(test_pthread_create_works),
                cmocka_unit_test(test_filter_reaches_existing_threads),
                cmocka_unit_test(test_x32_syscall_kills_the_process),
                cmocka_unit_test(test_caps_are_zero_after_drop),
                cmocka_unit_test(test_no_new_privs_is_set_after_drop),
                cmocka_unit_test(test_shell_coreutils_python_gcc_run),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test_worker_seccomp needs root\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
