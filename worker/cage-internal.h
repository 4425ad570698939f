/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to worker/: one step per kernel facility, each in its own file,
 * called in order by cage_run.c (which holds the ordering and says why).
 * Steps named *_parent run in agora-cage on the host side; steps without it
 * run inside the cage's namespaces, after clone. Every step returns 0 or -1
 * with ERR set naming what failed; none logs.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "capabilities/captar.h"
#include "common/error.h"
#include "worker/cage.h"
#include "worker/profile.h"

/* Where the new root is assembled inside the cage's mount namespace before
 * pivot_root. Any directory of the host will do: the tmpfs mounted on it
 * is private to the cage's mount namespace. */
#define CAGE_STAGING_DIR "/tmp"

/* ---- cage_cgroup.c: layer 1, created first so everything is charged ---- */

typedef struct cage_cgroup cage_cgroup; /* opaque */

typedef struct cage_cgroup_stats {
        uint64_t peak_memory_bytes;
        uint64_t oom_kills; /* processes the memory limit killed */
        uint64_t pids_max_hits; /* forks refused by the pids limit */
} cage_cgroup_stats;

/* Create the cage's cgroup (v2 under <mount>/agora/, v1 under
 * <mount>/<controller>/agora/ for memory, pids and cpu) and apply the
 * profile's limits: memory with swap off, pids, cpu weight and quota. ID
 * (1..64 of [A-Za-z0-9_-]) makes the name unique; an existing cage-ID is
 * AGORA_ERR_EXISTS. */
int cage_cgroup_create(const char *id, const profile_limits *limits, cage_cgroup **ret, agora_error_t *err);
/* Move PID (and so everything it later forks) into the cgroup. */
int cage_cgroup_attach(cage_cgroup *cg, pid_t pid, agora_error_t *err);
/* Kill every process in the cgroup and wait until it is empty (at most
 * 5 s, then AGORA_ERR_BUSY). On v1 this signals each listed process; the
 * caller kills the cage's PID 1 first, which ends the whole pid namespace
 * so that nothing can fork meanwhile. */
int cage_cgroup_kill(cage_cgroup *cg, agora_error_t *err);
int cage_cgroup_stats_read(cage_cgroup *cg, cage_cgroup_stats *ret, agora_error_t *err);
/* Kill what is left, remove the cgroup directories and free CG; safe on
 * NULL. Errors are reported but CG is freed regardless. */
int cage_cgroup_destroy(cage_cgroup *cg, agora_error_t *err);
/* The ids of every cage-ID directory under agora/, running or left behind
 * by an agora-cage that was killed (NULL-terminated, malloc'd). */
int cage_cgroup_list(char ***ret_ids, agora_error_t *err);
/* Kill what is left in cage-ID and remove its directories. Only for a cage
 * whose owner is known to be gone: the caller holds its host id slot. */
int cage_cgroup_remove_stale(const char *id, agora_error_t *err);
/* "v2" or "v1", for messages. */
const char *cage_cgroup_version(const cage_cgroup *cg);

/* ---- cage_userns.c: layer 2 ---- */

/* Host ids for uid/gid 0 of the cage: CAGE_ID_BASE + slot, the slot held by
 * an OFD lock on one byte of a lock file for as long as the cage runs, so
 * no two running cages share a host id. */
#define CAGE_ID_BASE 200000000u
#define CAGE_ID_SLOTS 65536u
#define CAGE_ID_LOCK_FILE "/run/agora/cage-ids.lock"

typedef struct cage_ids {
        uid_t host_uid;
        gid_t host_gid;
        int lock_fd; /* holds the slot; -1 when released */
} cage_ids;

int cage_userns_reserve_parent(cage_ids *ret, agora_error_t *err);
/* Deny setgroups, then map uid 0 and gid 0 of PID's user namespace to the
 * reserved host ids (one id each, nothing else mapped). */
int cage_userns_map_parent(pid_t pid, const cage_ids *ids, agora_error_t *err);
void cage_userns_release_parent(cage_ids *ids);
/* Try to take the slot of HOST_UID too, through MINE's lock file: 1 when
 * taken (no running cage has it; give it back with
 * cage_userns_unhold_parent) or when it is MINE's own, 0 when a running
 * cage holds it or HOST_UID is no cage id. */
int cage_userns_try_hold_parent(const cage_ids *mine, uid_t host_uid, agora_error_t *err);
void cage_userns_unhold_parent(const cage_ids *mine, uid_t host_uid);

/* ---- cage_mount.c, cage_unpack.c: layers 4 and 5 ---- */

/* On the host, before clone: a detached clone of the --workspace directory
 * DIR (nosuid, nodev, noexec unless the profile allows), for
 * cage_mount_setup to attach; *RET_FD is -1 when DIR is NULL. */
int cage_mount_workspace_parent(const char *dir, const profile *p, int *ret_fd, agora_error_t *err);

/* Build the new root on a tmpfs at CAGE_STAGING_DIR: read-only binds of the
 * profile's host paths, each capability unpacked and made read-only at
 * /cap/NAME, /workspace (WORKSPACE_TREE_FD attached, or a tmpfs when -1;
 * the fd is taken over), /tmp, a fresh /proc with sensitive entries
 * masked, a minimal /dev; then pivot_root into it, detach the old root and
 * make the root itself read-only. Runs as uid 0 of the cage's user
 * namespace, as PID 1 of its pid namespace. Everything needed from the
 * host is cloned before the staging tmpfs covers CAGE_STAGING_DIR. */
int cage_mount_setup(const cage_config *cfg, int workspace_tree_fd, agora_error_t *err);

/* Unpack the canonical tarball DATA into DIR_FD (an empty directory of the
 * new root), refusing again anything captar would refuse: links, devices,
 * "..", absolute paths, more than LIMITS allow. Every path is opened
 * relative to DIR_FD with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS. */
int cage_unpack(const char *name, const void *data, size_t len, int dir_fd, const captar_limits *limits,
                agora_error_t *err);

/* ---- cage_net.c: layer 3 (the net namespace itself comes from clone) ---- */

/* Bring loopback up, or leave it down; the namespace has no other device
 * and no route, so nothing leaves it either way. */
int cage_net_setup(bool loopback_up, agora_error_t *err);

/* ---- cage_sysctl.c: part of layer 3, in the new pid namespace ---- */

/* vm.memfd_noexec = 2 for the cage's pid namespace: no memfd can be
 * executed. Must run in the cage's PID 1 before it drops the host's root
 * euid (setresuid), since only that euid may write the sysctl. */
int cage_sysctl_memfd_noexec(agora_error_t *err);

/* ---- cage_process.c: layer 6 ---- */

/* RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_CORE 0, RLIMIT_NPROC from LIMITS. */
int cage_process_rlimits(const profile_limits *limits, agora_error_t *err);
/* Close every fd above 2 except KEEP (-1 for none). */
int cage_process_close_fds(int keep, agora_error_t *err);
/* New session (no controlling tty, so no TIOCSTI into the caller's) and
 * SIGKILL when the parent dies. */
int cage_process_session(agora_error_t *err);

/* ---- cage_caps.c: layer 7 ---- */

/* Drop every capability from the bounding, ambient, inheritable,
 * permitted and effective sets, lock the securebits, set no_new_privs. */
int cage_caps_drop(agora_error_t *err);

/* ---- cage_landlock.c: layer 8 ---- */

/* Restrict filesystem access to the profile's rules, deny TCP bind and
 * connect, scope abstract unix sockets and signals to the cage. Needs
 * Landlock ABI 6 or later; anything less is an error. */
int cage_landlock_apply(const profile *p, agora_error_t *err);

/* ---- cage_seccomp.c: layer 9, always last before exec ---- */

/* Default-deny allowlist for the native architecture, applied to all
 * threads: unknown syscalls ENOSYS, dangerous ones EPERM, other
 * architectures (and x32) kill the process. */
int cage_seccomp_apply(agora_error_t *err);

/* cage_seccomp.c: build both filters with libseccomp and write each as raw
 * BPF (struct sock_filter[]) to its fd. The build runs this once
 * (gen_seccomp.c); cage_seccomp_apply loads what it produced. */
int cage_seccomp_export(int args_fd, int allow_fd, agora_error_t *err);

/* cage_seccomp_load.c: the programs built into agora-cage, in load order. */
typedef struct cage_seccomp_program {
        const char *what;
        const void *insns; /* struct sock_filter[] */
        unsigned short len; /* instructions */
} cage_seccomp_program;

void cage_seccomp_programs(const cage_seccomp_program **ret, size_t *ret_n);

/* ---- cage_init.c: PID 1 of the cage ---- */

/* What PID 1 reports to agora-cage about the program. */
typedef struct cage_init_report {
        int32_t kind; /* 0: ran and ended (status valid), 1: exec failed (errnum valid) */
        int32_t status; /* wait status of the program */
        int32_t errnum;
} cage_init_report;

/* Reap every process of the pid namespace until PROGRAM_PID ends, then
 * write its report to REPORT_FD and return. */
void cage_init_reap(pid_t program_pid, int report_fd);

/* ---- cage_output.c: stdout/stderr of the program ---- */

/* Moves one output pipe of the program into a cage_stream: kept in memory
 * (capture) or copied to RELAY_FD, hashed either way, and never more than
 * the stream's cap: the byte past the cap is what stops the program. */
typedef struct cage_pump {
        cage_stream *s;
        int fd; /* read end, non-blocking; -1 once at end of file */
        int relay_fd; /* -1 when capturing */
        size_t alloc; /* bytes allocated at s->data */
        agora_hasher *hasher;
} cage_pump;

int cage_pump_init(cage_pump *p, cage_stream *s, int fd, uint64_t cap, bool capture, int relay_fd, agora_error_t *err);
/* Read what the pipe has now. Returns 1 when the stream went over its cap,
 * 0 otherwise, -1 on a read error; sets p->fd to -1 at end of file. */
int cage_pump_read(cage_pump *p, agora_error_t *err);
/* Close the pipe, finish the hash, free the hasher. */
void cage_pump_finish(cage_pump *p);

/* ---- cage_watch.c: agora-cage while its cage runs ---- */

/* The longest error line a setup step sends back. */
#define SETUP_MSG_MAX 1024

/* SIGINT, SIGTERM and SIGHUP stop the cage cleanly: blocked but while
 * waiting (ppoll opens them), restored afterwards. */
typedef struct cage_signals {
        sigset_t old_mask;
        sigset_t wait_mask; /* the mask while waiting: the old one, stop signals open */
        struct sigaction old[3];
} cage_signals;

void cage_signals_catch(cage_signals *g);
void cage_signals_restore(const cage_signals *g);
/* In the program before execve: every signal at its default, none blocked. */
void cage_signals_reset(void);

/* CLOCK_MONOTONIC in seconds. */
double cage_now(void);

typedef enum cage_stop { CAGE_STOP_NONE, CAGE_STOP_TIMEOUT, CAGE_STOP_OUTPUT, CAGE_STOP_SIGNAL } cage_stop;

typedef struct cage_watch {
        pid_t pid; /* PID 1, agora-cage's child */
        int pidfd;
        int report_fd;
        cage_cgroup *cg;
        cage_pump pumps[2];
        cage_stop stopped;
        const sigset_t *wait_mask;
        bool init_done;
        bool have_report;
        cage_init_report report;
        struct rusage usage; /* of PID 1 and everything it reaped */
} cage_watch;

/* Wait on the setup pipe FD until DEADLINE (cage_now() seconds) for it to
 * close: a message is a failed step (returned as the error); PID 1's NUL
 * byte alone sets *RET_STARTED (the program has been exec'd); nothing at
 * all leaves it false and is for the watch to make sense of. */
int cage_watch_setup(int fd, double deadline, const sigset_t *wait_mask, bool *ret_started, agora_error_t *err);
/* Move output, enforce DEADLINE and the output cap, stop on a signal, reap
 * PID 1 and drain: returns when the cage is over. */
int cage_watch_run(cage_watch *w, double deadline, agora_error_t *err);
/* Exit code, signal, reason and figures from what the watch saw. */
void cage_watch_result(const cage_watch *w, const cage_cgroup_stats *st, cage_result *ret);
