/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cage_mount_setup and cage_net_setup for real: each test clones a child
 * into new user, mount, pid, net, ipc and uts namespaces (uid 0 mapped to
 * one unprivileged host id, as agora-cage does), the child builds the cage
 * root, then runs one probe inside it and reports over a pipe. The probe's
 * exit code says pass (0), probe failure (1) or setup failure (2), and
 * the pipe carries the reason, which the test shows on failure.
 */
#include <dirent.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "tests/capabilities/captar-test.h"
#include "worker/cage-internal.h"

#define TEST_HOST_ID 200099999u
#define CAP_NAME "tool"
#define CAP_FILE "capability file\n"
#define MiB (1ull << 20)

/* ---- the cage harness ---- */

typedef void (*probe_fn)(const cage_config *cfg);

typedef struct fixture {
        char *dir; /* host scratch: the capability's source, a workspace */
        char *workspace;
        char *host_ro[6];
        profile prof;
        cage_capability cap;
        cage_config cfg;
} fixture;

typedef struct cage_outcome {
        int status;
        char msg[4096];
} cage_outcome;

static int report_fd = -1; /* in the child: where a probe says why it failed */

static _Noreturn __attribute__((format(printf, 2, 3))) void probe_fail(int line, const char *fmt, ...)
{
        va_list ap;

        dprintf(report_fd, "line %d: ", line);
        va_start(ap, fmt);
        vdprintf(report_fd, fmt, ap);
        va_end(ap);
        _exit(1);
}

#define CHECK(cond, ...)                                   \
        do {                                               \
                if (!(cond))                               \
                        probe_fail(__LINE__, __VA_ARGS__); \
        } while (0)

/* errno of an expression that must fail, or 0 if it succeeded. */
#define FAILS_WITH(expr) ((expr) < 0 ? errno : 0)

static _Noreturn void cage_child(const cage_config *cfg, probe_fn probe, int go_fd, int ws_fd)
{
        agora_error_t err = NULL;
        char go;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (read(go_fd, &go, 1) != 1)
                _exit(3);
        close(go_fd);
        /* As agora-cage: become the one mapped id, uid 0 of the namespace. */
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
                dprintf(report_fd, "setresuid: %s", strerror(errno));
                _exit(2);
        }
        if (cage_mount_setup(cfg, ws_fd, &err) < 0) {
                dprintf(report_fd, "%s", agora_error_message(err));
                _exit(2);
        }
        if (probe != NULL)
                probe(cfg);
        _exit(0);
}

static void write_proc(pid_t pid, const char *file, const char *text)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static cage_outcome run_cage(const cage_config *cfg, probe_fn probe)
{
        cage_outcome out = {0};
        int report[2], go[2];
        char map[64];
        size_t len = 0;
        int ws_fd = -1;
        agora_error_t err = NULL;

        /* As agora-cage: the workspace is taken on the host side; its
         * refusal is a setup failure like any other. */
        if (cage_mount_workspace_parent(cfg->workspace_dir, cfg->profile, &ws_fd, &err) < 0) {
                snprintf(out.msg, sizeof(out.msg), "%s", agora_error_message(err));
                agora_error_release(&err);
                out.status = 2 << 8;
                return out;
        }

        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        fflush(NULL);
        long pid = syscall(SYS_clone,
                           CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                                   SIGCHLD,
                           0, 0, 0, 0);
        assert_true(pid >= 0);
        if (pid == 0) {
                close(report[0]);
                close(go[1]);
                report_fd = report[1];
                cage_child(cfg, probe, go[0], ws_fd);
        }
        close(report[1]);
        close(go[0]);
        if (ws_fd >= 0)
                close(ws_fd);
        write_proc((pid_t)pid, "setgroups", "deny");
        snprintf(map, sizeof(map), "0 %u 1", TEST_HOST_ID);
        write_proc((pid_t)pid, "uid_map", map);
        write_proc((pid_t)pid, "gid_map", map);
        assert_int_equal(write(go[1], "g", 1), 1);
        close(go[1]);
        for (;;) {
                ssize_t n = read(report[0], out.msg + len, sizeof(out.msg) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        out.msg[len] = '\0';
        close(report[0]);
        assert_int_equal(waitpid((pid_t)pid, &out.status, 0), pid);
        return out;
}

/* The probe ran and passed. */
static void expect_pass(const fixture *f, probe_fn probe)
{
        cage_outcome o = run_cage(&f->cfg, probe);

        if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
                fail_msg("cage %s (status 0x%x): %s",
                         WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2 ? "setup failed" : "probe failed", o.status,
                         o.msg);
}

/* cage_mount_setup refused, saying NEEDLE. */
static void expect_setup_failure(const fixture *f, const char *needle)
{
        cage_outcome o = run_cage(&f->cfg, NULL);

        if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 2)
                fail_msg("expected a setup failure, got status 0x%x: %s", o.status, o.msg);
        if (strstr(o.msg, needle) == NULL)
                fail_msg("setup error '%s' does not mention '%s'", o.msg, needle);
}

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        agora_error_t err = NULL;
        captar_result res;

        f->dir = captar_test_tmpdir();
        /* The child opens the workspace as the mapped id, so the path to it
         * must be searchable by that id. */
        assert_int_equal(chmod(f->dir, 0755), 0);
        char *src = captar_test_join(f->dir, "cap");
        assert_int_equal(mkdir(src, 0755), 0);
        captar_test_file(src, "file", CAP_FILE, 0644);
        captar_test_mkdir(src, "bin", 0755);
        captar_test_file(src, "bin/run", "#!/bin/sh\nexit 3\n", 0755);
        if (captar_test_build(CAP_NAME, src, NULL, &f->cap.data, &f->cap.len, &res, &err) < 0)
                fail_msg("captar_build: %s", agora_error_message(err));
        free(src);
        f->cap.name = strdup(CAP_NAME);
        f->cap.hash = res.hash;
        f->cap.content_bytes = res.content_bytes;
        f->cap.entries = res.entries;

        f->workspace = captar_test_join(f->dir, "ws");
        assert_int_equal(mkdir(f->workspace, 0755), 0);
        captar_test_file(f->workspace, "hello", "from the host\n", 0644);
        assert_int_equal(chown(f->workspace, TEST_HOST_ID, TEST_HOST_ID), 0);

        const char *ro[] = {"/usr", "/bin", "/lib", "/lib64", NULL};
        for (size_t i = 0; ro[i] != NULL; i++)
                f->host_ro[i] = (char *)ro[i];
        f->prof = (profile){
                .name = "test",
                .limits = {.workspace_bytes = 16 * MiB, .workspace_inodes = 1024, .tmp_bytes = 16 * MiB},
                .host_readonly = f->host_ro,
                .loopback_up = true,
        };
        f->cfg = (cage_config){.profile = &f->prof, .caps = &f->cap, .n_caps = 1};
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        captar_test_rm_rf(f->dir);
        free(f->dir);
        free(f->workspace);
        free(f->cap.name);
        free(f->cap.data);
        free(f);
        return 0;
}

/* ---- probes: each runs inside a fresh cage as its PID 1 ---- */

static int run_status(const char *path, char *const argv[])
{
        int status;
        pid_t pid = fork();

        if (pid == 0) {
                execv(path, argv);
                _exit(100 + (errno & 0x1f));
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

static char *slurp(const char *path)
{
        char *buf = NULL;
        agora_error_t err = NULL;

        if (fs_read_file(path, 1 << 20, &buf, NULL, &err) < 0) {
                /* /proc files say size 0; read through stdio instead. */
                FILE *in = fopen(path, "re");
                size_t len = 0;
                FILE *mem = open_memstream(&buf, &len);
                char chunk[4096];
                size_t n;
                if (in == NULL)
                        return NULL;
                while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
                        fwrite(chunk, 1, n, mem);
                fclose(in);
                fclose(mem);
        }
        return buf;
}

static void probe_host_programs_run(const cage_config *cfg)
{
        (void)cfg;
        char *const argv[] = {"sh", "-c", "exit 7", NULL};
        CHECK(access("/usr/bin/sh", X_OK) == 0, "/usr/bin/sh: %s", strerror(errno));
        /* Through the /bin and /lib64 symlinks, as any program starts. */
        int st = run_status("/bin/sh", argv);
        CHECK(st == 7, "/bin/sh -c 'exit 7' gave %d", st);
        char *const argv2[] = {"true", NULL};
        st = run_status("/usr/bin/true", argv2);
        CHECK(st == 0, "/usr/bin/true gave %d", st);
}

static void probe_capability_is_readonly(const cage_config *cfg)
{
        (void)cfg;
        struct stat st;
        char *s = slurp("/cap/" CAP_NAME "/file");
        CHECK(s != NULL && strcmp(s, CAP_FILE) == 0, "capability file content: %s", s ? s : strerror(errno));
        int e = FAILS_WITH(open("/cap/" CAP_NAME "/file", O_WRONLY | O_CLOEXEC));
        CHECK(e == EROFS, "writing a capability file: %s", strerror(e));
        e = FAILS_WITH(open("/cap/" CAP_NAME "/new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        CHECK(e == EROFS, "creating in a capability: %s", strerror(e));
        e = FAILS_WITH(mkdir("/cap/other", 0755));
        CHECK(e == EROFS, "creating in /cap: %s", strerror(e));
        CHECK(stat("/cap/" CAP_NAME "/bin/run", &st) == 0 && (st.st_mode & 07777) == 0755, "bin/run mode");
        CHECK(stat("/cap/" CAP_NAME "/file", &st) == 0 && (st.st_mode & 07777) == 0644, "file mode");
}

static void probe_capability_noexec(const cage_config *cfg)
{
        (void)cfg;
        char *const argv[] = {"run", NULL};
        int st = run_status("/cap/" CAP_NAME "/bin/run", argv);
        CHECK(st == 100 + EACCES, "exec of a capability file without exec-capabilities gave %d", st);
}

static void probe_capability_exec(const cage_config *cfg)
{
        (void)cfg;
        char *const argv[] = {"run", NULL};
        int st = run_status("/cap/" CAP_NAME "/bin/run", argv);
        CHECK(st == 3, "exec of a capability file with exec-capabilities gave %d", st);
}

static void write_script(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        CHECK(fd >= 0, "%s: %s", path, strerror(errno));
        CHECK(write(fd, "#!/bin/sh\nexit 0\n", 17) == 17, "%s: write", path);
        close(fd);
}

static void probe_workspace_and_tmp_writable_noexec(const cage_config *cfg)
{
        (void)cfg;
        struct statfs sf;
        struct stat st;
        char *const argv[] = {"s", NULL};

        write_script("/workspace/s");
        write_script("/tmp/s");
        CHECK(statfs("/workspace", &sf) == 0 && sf.f_type == TMPFS_MAGIC, "/workspace is not a tmpfs");
        CHECK(stat("/tmp", &st) == 0 && (st.st_mode & 07777) == 01777, "/tmp mode %o", st.st_mode & 07777);
        int r = run_status("/workspace/s", argv);
        CHECK(r == 100 + EACCES, "exec in /workspace gave %d", r);
        r = run_status("/tmp/s", argv);
        CHECK(r == 100 + EACCES, "exec in /tmp gave %d", r);
        /* Bounded: 16 MiB of the profile, and not a byte more. */
        int fd = open("/workspace/big", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        static char chunk[1 << 20];
        uint64_t total = 0;
        ssize_t n;
        CHECK(fd >= 0, "/workspace/big: %s", strerror(errno));
        while ((n = write(fd, chunk, sizeof(chunk))) > 0)
                total += (uint64_t)n;
        CHECK(n < 0 && errno == ENOSPC, "filling /workspace: %s", strerror(errno));
        CHECK(total <= 16 * MiB && total >= 15 * MiB, "/workspace took %llu bytes", (unsigned long long)total);
        close(fd);
}

static void probe_workspace_exec(const cage_config *cfg)
{
        (void)cfg;
        char *const argv[] = {"s", NULL};
        write_script("/workspace/s");
        int r = run_status("/workspace/s", argv);
        CHECK(r == 0, "exec in /workspace with exec-workspace gave %d", r);
}

static void probe_host_workspace(const cage_config *cfg)
{
        (void)cfg;
        char *s = slurp("/workspace/hello");
        CHECK(s != NULL && strcmp(s, "from the host\n") == 0, "/workspace/hello: %s", s ? s : strerror(errno));
        int fd = open("/workspace/from-cage", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        CHECK(fd >= 0, "/workspace/from-cage: %s", strerror(errno));
        CHECK(write(fd, "hi\n", 3) == 3, "write");
        close(fd);
}

static void probe_root_is_readonly(const cage_config *cfg)
{
        (void)cfg;
        int e = FAILS_WITH(mkdir("/x", 0755));
        CHECK(e == EROFS, "mkdir /x: %s", strerror(e));
        e = FAILS_WITH(open("/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        CHECK(e == EROFS, "creating /x: %s", strerror(e));
        e = FAILS_WITH(symlink("/", "/y"));
        CHECK(e == EROFS, "symlink /y: %s", strerror(e));
        e = FAILS_WITH(open("/usr/agora-test", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        CHECK(e == EROFS, "creating in /usr: %s", strerror(e));
        e = FAILS_WITH(mknod("/dev/evil", S_IFCHR | 0666, makedev(1, 3)));
        CHECK(e == EROFS, "mknod in /dev: %s", strerror(e));
}

static void probe_pid_namespace_proc(const cage_config *cfg)
{
        (void)cfg;
        CHECK(getpid() == 1, "getpid() = %d", (int)getpid());
        char *s = slurp("/proc/1/status");
        CHECK(s != NULL && strstr(s, "\nPid:\t1\n") != NULL && strstr(s, "\nNSpid:\t1\n") != NULL, "/proc/1/status: %s",
              s ? s : strerror(errno));
        free(s);
        /* No host process is visible: the only pid directory is ours. */
        DIR *d = opendir("/proc");
        struct dirent *de;
        CHECK(d != NULL, "/proc: %s", strerror(errno));
        while ((de = readdir(d)) != NULL)
                CHECK(de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, "1") == 0, "/proc/%s visible",
                      de->d_name);
        closedir(d);
}

static void probe_proc_sys_readonly(const cage_config *cfg)
{
        (void)cfg;
        char name[64] = "";
        /* Owned by the host's root, so refused even before the mount is
         * asked; it must fail all the same. */
        int e = FAILS_WITH(open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC));
        CHECK(e != 0, "writing /proc/sys/kernel/hostname worked");
        /* The net sysctls belong to the cage's root (it owns the net
         * namespace), so only the read-only bind stops this write. */
        e = FAILS_WITH(open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC));
        CHECK(e == EROFS, "writing /proc/sys/net/ipv4/ip_forward: %s", e ? strerror(e) : "worked");
        CHECK(gethostname(name, sizeof(name)) == 0 && strcmp(name, "agora") == 0, "hostname '%s'", name);
}

static const char *const masked_files[] = {"kcore",      "keys",        "kallsyms",   "latency_stats",
                                           "timer_list", "timer_stats", "sched_debug"};

static void probe_proc_masked(const cage_config *cfg)
{
        (void)cfg;
        struct stat st;
        size_t seen = 0;
        for (size_t i = 0; i < ARRAY_SIZE(masked_files); i++) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%s", masked_files[i]);
                if (stat(path, &st) < 0)
                        continue;
                CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "%s is not /dev/null", path);
                seen++;
        }
        CHECK(seen > 0, "no masked /proc file exists at all");
        DIR *d = opendir("/proc/acpi");
        if (d != NULL) {
                struct dirent *de;
                while ((de = readdir(d)) != NULL)
                        CHECK(de->d_name[0] == '.', "/proc/acpi/%s visible", de->d_name);
                closedir(d);
        }
}

static void probe_host_files_absent(const cage_config *cfg)
{
        (void)cfg;
        const char *absent[] = {"/sys", "/etc/passwd", "/etc", "/work", "/root", "/home", "/run", "/var"};
        for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
                int e = FAILS_WITH(access(absent[i], F_OK));
                CHECK(e == ENOENT, "%s: %s", absent[i], e ? strerror(e) : "exists");
        }
        /* The old root is gone, not merely hidden: ".." of / is /. */
        struct stat a, b;
        CHECK(stat("/", &a) == 0 && stat("/..", &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
              "/.. is not /");
        struct statfs sf;
        CHECK(statfs("/", &sf) == 0 && sf.f_type == TMPFS_MAGIC, "/ is not the tmpfs");
}

static bool mount_point_expected(const char *mp)
{
        static const char *const exact[] = {
                "/",
                "/usr",
                "/cap/" CAP_NAME,
                "/workspace",
                "/tmp",
                "/dev",
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/pts",
                "/dev/shm",
                "/proc",
                "/proc/kcore",
                "/proc/keys",
                "/proc/kallsyms",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/acpi",
                "/proc/asound",
                "/proc/scsi",
                "/proc/sys",
                "/proc/sysrq-trigger",
                "/proc/irq",
                "/proc/bus",
                "/proc/fs",
        };
        for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
                if (strcmp(mp, exact[i]) == 0)
                        return true;
        /* Submounts of the host's /usr, and of /proc/sys (binfmt_misc). */
        return strncmp(mp, "/usr/", 5) == 0 || strncmp(mp, "/proc/sys/", 10) == 0;
}

static void probe_mountinfo_has_nothing_of_the_host(const cage_config *cfg)
{
        (void)cfg;
        char *s = slurp("/proc/self/mountinfo");
        size_t n = 0;
        CHECK(s != NULL, "mountinfo: %s", strerror(errno));
        for (char *save = NULL, *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char root[4096], mp[4096];
                CHECK(sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) == 2, "mountinfo line '%s'", line);
                CHECK(mount_point_expected(mp), "unexpected mount: %s", line);
                /* The build tree and the test's scratch directory are where
                 * a leaked bind of the host would show. */
                CHECK(strncmp(root, "/work/", 6) != 0 && strcmp(root, "/work") != 0 &&
                              strstr(line, "captar-test") == NULL,
                      "host path in: %s", line);
                n++;
        }
        CHECK(n >= 10, "only %zu mounts", n);
}

static void assert_listing(const char *dir, const char *const *want, size_t n_want)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        CHECK(d != NULL, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d)) != NULL) {
                bool ok = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
                for (size_t i = 0; i < n_want && !ok; i++)
                        ok = strcmp(de->d_name, want[i]) == 0;
                CHECK(ok, "unexpected %s/%s", dir, de->d_name);
                n += de->d_name[0] != '.';
        }
        closedir(d);
        CHECK(n == n_want, "%s has %zu entries, want %zu", dir, n, n_want);
}

static void probe_root_lists_exactly(const cage_config *cfg)
{
        (void)cfg;
        const char *const want[] = {"bin", "cap", "dev", "lib", "lib64", "proc", "tmp", "usr", "workspace"};
        assert_listing("/", want, ARRAY_SIZE(want));
        const char *const caps[] = {CAP_NAME};
        assert_listing("/cap", caps, 1);
        char buf[64];
        ssize_t n = readlink("/lib64", buf, sizeof(buf) - 1);
        CHECK(n > 0, "/lib64 is not a symlink");
        buf[n] = '\0';
        CHECK(strcmp(buf, "usr/lib64") == 0, "/lib64 -> %s", buf);
}

static void probe_dev_is_minimal(const cage_config *cfg)
{
        (void)cfg;
        const char *const want[] = {"null", "zero", "full",  "random", "urandom", "tty", "pts",
                                    "ptmx", "fd",   "stdin", "stdout", "stderr",  "shm"};
        assert_listing("/dev", want, ARRAY_SIZE(want));
        char buf[16] = "xxxx";
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "x", 1) == 1, "/dev/null: %s", strerror(errno));
        close(fd);
        fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0 && read(fd, buf, 4) == 4 && memcmp(buf, "\0\0\0\0", 4) == 0, "/dev/zero");
        close(fd);
        fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && FAILS_WITH(write(fd, "x", 1)) == ENOSPC, "/dev/full");
        close(fd);
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0 && read(fd, buf, 8) == 8, "/dev/urandom");
        close(fd);
        /* A pty of the cage's own devpts instance. */
        fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        CHECK(fd >= 0 && grantpt(fd) == 0 && unlockpt(fd) == 0, "posix_openpt: %s", strerror(errno));
        const char *pts = ptsname(fd);
        CHECK(pts != NULL && strcmp(pts, "/dev/pts/0") == 0, "pty '%s' is not the first of a new instance",
              pts ? pts : "?");
        close(fd);
        fd = open("/dev/shm/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0, "/dev/shm: %s", strerror(errno));
        close(fd);
        char link[64];
        ssize_t n = readlink("/dev/fd", link, sizeof(link) - 1);
        CHECK(n > 0 && (link[n] = '\0', strcmp(link, "/proc/self/fd") == 0), "/dev/fd");
}

static bool lo_is_up(void)
{
        struct ifreq ifr = {0};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        strcpy(ifr.ifr_name, "lo");
        CHECK(fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS: %s", strerror(errno));
        close(fd);
        return (ifr.ifr_flags & IFF_UP) != 0;
}

/* errno of sending one datagram to ourselves on 127.0.0.1, 0 if it arrived. */
static int udp_to_self(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        char c = 0;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errno;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &alen) < 0 ||
            sendto(fd, "x", 1, 0, (struct sockaddr *)&a, alen) != 1 || recv(fd, &c, 1, MSG_DONTWAIT) != 1) {
                int e = errno;
                close(fd);
                return e;
        }
        close(fd);
        return 0;
}

static void probe_loopback_up(const cage_config *cfg)
{
        (void)cfg;
        agora_error_t err = NULL;
        CHECK(!lo_is_up(), "lo is up before cage_net_setup");
        CHECK(cage_net_setup(true, &err) == 0, "cage_net_setup: %s", agora_error_message(err));
        CHECK(lo_is_up(), "lo is down after cage_net_setup(true)");
        int e = udp_to_self();
        CHECK(e == 0, "UDP over loopback: %s", strerror(e));
}

static void probe_loopback_down(const cage_config *cfg)
{
        (void)cfg;
        agora_error_t err = NULL;
        CHECK(cage_net_setup(false, &err) == 0, "cage_net_setup: %s", agora_error_message(err));
        CHECK(!lo_is_up(), "lo is up after cage_net_setup(false)");
        int e = udp_to_self();
        CHECK(e != 0, "UDP over a loopback that should be down worked");
}

static void probe_extra_device_refused(const cage_config *cfg)
{
        (void)cfg;
        agora_error_t err = NULL;
        char *const argv[] = {"ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", NULL};
        int st = run_status("/usr/sbin/ip", argv);
        CHECK(st == 0, "ip link add gave %d", st);
        CHECK(cage_net_setup(true, &err) < 0, "cage_net_setup accepted a namespace with a veth");
        CHECK(strstr(agora_error_message(err), "'veth") != NULL, "error '%s' names no device",
              agora_error_message(err));
}

/* ---- tests ---- */

static void test_host_programs_run(void **state)
{
        expect_pass(*state, probe_host_programs_run);
}

static void test_capability_is_readonly(void **state)
{
        expect_pass(*state, probe_capability_is_readonly);
}

static void test_capability_noexec_unless_profile_allows(void **state)
{
        fixture *f = *state;
        expect_pass(f, probe_capability_noexec);
        f->prof.exec_capabilities = true;
        expect_pass(f, probe_capability_exec);
}

static void test_workspace_and_tmp_writable_bounded_noexec(void **state)
{
        expect_pass(*state, probe_workspace_and_tmp_writable_noexec);
}

static void test_workspace_exec_when_profile_allows(void **state)
{
        fixture *f = *state;
        f->prof.exec_workspace = true;
        expect_pass(f, probe_workspace_exec);
}

static void test_host_workspace_is_bound(void **state)
{
        fixture *f = *state;
        struct stat st;
        f->cfg.workspace_dir = f->workspace;
        expect_pass(f, probe_host_workspace);
        char *p = captar_test_join(f->workspace, "from-cage");
        assert_int_equal(stat(p, &st), 0);
        /* Written as the cage's uid 0, which is the unprivileged host id. */
        assert_int_equal(st.st_uid, TEST_HOST_ID);
        free(p);
}

static void test_missing_workspace_is_an_error(void **state)
{
        fixture *f = *state;
        char *p = captar_test_join(f->dir, "no-such-workspace");
        f->cfg.workspace_dir = p;
        expect_setup_failure(f, "workspace '");
        expect_setup_failure(f, p);
        free(p);
}

static void test_workspace_symlink_is_refused(void **state)
{
        fixture *f = *state;
        char *p = captar_test_join(f->dir, "ws-link");
        assert_int_equal(symlink(f->workspace, p), 0);
        f->cfg.workspace_dir = p;
        expect_setup_failure(f, p);
        free(p);
}

static void test_root_is_readonly(void **state)
{
        expect_pass(*state, probe_root_is_readonly);
}

static void test_proc_is_the_cage_pid_namespace(void **state)
{
        expect_pass(*state, probe_pid_namespace_proc);
}

static void test_proc_sys_is_readonly(void **state)
{
        expect_pass(*state, probe_proc_sys_readonly);
}

static void test_proc_sensitive_entries_masked(void **state)
{
        expect_pass(*state, probe_proc_masked);
}

static void test_host_files_are_absent(void **state)
{
        expect_pass(*state, probe_host_files_absent);
}

static void test_mountinfo_has_nothing_of_the_host(void **state)
{
        expect_pass(*state, probe_mountinfo_has_nothing_of_the_host);
}

static void test_root_lists_exactly_the_granted_entries(void **state)
{
        expect_pass(*state, probe_root_lists_exactly);
}

static void test_dev_is_minimal(void **state)
{
        expect_pass(*state, probe_dev_is_minimal);
}

static void test_missing_host_path_is_an_error(void **state)
{
        fixture *f = *state;
        f->host_ro[4] = "/no-such-agora-host-path";
        expect_setup_failure(f, "'/no-such-agora-host-path'");
}

static void test_reserved_host_path_is_refused(void **state)
{
        fixture *f = *state;
        f->host_ro[4] = "/proc";
        expect_setup_failure(f, "host path '/proc'");
        f->host_ro[4] = "/";
        expect_setup_failure(f, "host path '/'");
        f->host_ro[4] = "/usr/../etc";
        expect_setup_failure(f, "'..'");
}

static void test_hostile_capability_fails_setup(void **state)
{
        fixture *f = *state;
        static unsigned char garbage[1024];
        memset(garbage, 'A', sizeof(garbage));
        f->cap.len = sizeof(garbage);
        unsigned char *real = f->cap.data;
        f->cap.data = garbage;
        expect_setup_failure(f, "capability '" CAP_NAME "'");
        f->cap.data = real;
}

static void probe_two_capabilities(const cage_config *cfg)
{
        (void)cfg;
        const char *const want[] = {CAP_NAME, "other"};
        assert_listing("/cap", want, ARRAY_SIZE(want));
        char *s = slurp("/cap/other/file");
        CHECK(s != NULL && strcmp(s, CAP_FILE) == 0, "/cap/other/file: %s", s ? s : strerror(errno));
        int e = FAILS_WITH(open("/cap/other/file", O_WRONLY | O_CLOEXEC));
        CHECK(e == EROFS, "writing /cap/other/file: %s", strerror(e));
}

static void test_each_capability_has_its_mount(void **state)
{
        fixture *f = *state;
        cage_capability caps[2] = {f->cap, f->cap};
        caps[1].name = "other";
        f->cfg.caps = caps;
        f->cfg.n_caps = 2;
        expect_pass(f, probe_two_capabilities);
        caps[1].name = CAP_NAME;
        expect_setup_failure(f, "capability '" CAP_NAME "': granted twice");
        caps[1].name = "../escape";
        expect_setup_failure(f, "'../escape'");
        f->cfg.caps = &f->cap;
        f->cfg.n_caps = 1;
}

static void test_nothing_propagates_to_the_host(void **state)
{
        expect_pass(*state, probe_root_is_readonly);
        char *s = slurp("/proc/self/mountinfo");
        assert_non_null(s);
        if (strstr(s, " " CAGE_STAGING_DIR " ") != NULL || strstr(s, "/workspace") != NULL)
                fail_msg("a cage mount is visible on the host:\n%s", s);
        free(s);
}

static void test_loopback_up(void **state)
{
        expect_pass(*state, probe_loopback_up);
}

static void test_loopback_down(void **state)
{
        expect_pass(*state, probe_loopback_down);
}

static void test_extra_network_device_is_refused(void **state)
{
        if (access("/usr/sbin/ip", X_OK) != 0)
                skip();
        expect_pass(*state, probe_extra_device_refused);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_host_programs_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_capability_is_readonly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_capability_noexec_unless_profile_allows, setup, teardown),
                cmocka_unit_test_setup_teardown(test_workspace_and_tmp_writable_bounded_noexec, setup, teardown),
                cmocka_unit_test_setup_teardown(test_workspace_exec_when_profile_allows, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_workspace_is_bound, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_workspace_is_an_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_workspace_symlink_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_root_is_readonly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proc_is_the_cage_pid_namespace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proc_sys_is_readonly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proc_sensitive_entries_masked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_files_are_absent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mountinfo_has_nothing_of_the_host, setup, teardown),
                cmocka_unit_test_setup_teardown(test_root_lists_exactly_the_granted_entries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dev_is_minimal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_host_path_is_an_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reserved_host_path_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_capability_fails_setup, setup, teardown),
                cmocka_unit_test_setup_teardown(test_each_capability_has_its_mount, setup, teardown),
                cmocka_unit_test_setup_teardown(test_nothing_propagates_to_the_host, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loopback_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loopback_down, setup, teardown),
                cmocka_unit_test_setup_teardown(test_extra_network_device_is_refused, setup, teardown),
        };
        if (geteuid() != 0) {
                /* Mapping a host id other than our own needs root. */
                printf("1..0 # SKIP needs root\n");
                return 0;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
