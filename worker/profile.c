/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy profiles (worker/profile.h). Everything a profile says is checked
 * here, once, before a cage is built: the cage_*.c steps trust a loaded
 * profile, so a value that would surprise them (a mount path that is not
 * what it looks like, a Landlock rule that undoes a mount flag, a limit
 * that a kernel interface would read as "unlimited") must never get past
 * this file.
 */
#include "worker/profile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "common/schema.h"
#include "common/yamldoc.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define TIB (1ull << 40)

/* Bounds on list lengths: far above what a person writes, low enough that
 * the quadratic duplicate checks below stay instant on a hostile file. */
#define PROFILE_MAX_HOST_PATHS 64
#define PROFILE_MAX_RULES 128
#define PROFILE_MAX_DESCRIPTION 256

/* Values quoted back in errors are cut here and escaped (see quote()). */
#define QUOTE_MAX 96
#define QUOTE_BUF (4 * QUOTE_MAX + 8)

static inline void profile_freep(profile **p)
{
        profile_free(*p);
}

/* Render S for an error: printable ASCII as is, every other byte as \xNN,
 * cut after QUOTE_MAX bytes, so a hostile value cannot forge terminal
 * escapes or flood the one line an error is. */
static const char *quote(const char *s, char *out)
{
        size_t o = 0, n = 0;
        const unsigned char *p = (const unsigned char *)s;

        for (; *p && n < QUOTE_MAX; p++, n++) {
                if (*p >= 0x20 && *p < 0x7f && *p != '\\')
                        out[o++] = (char)*p;
                else
                        o += (size_t)snprintf(out + o, QUOTE_BUF - o, "\\x%02x", *p);
        }
        if (*p)
                o += (size_t)snprintf(out + o, QUOTE_BUF - o, "...");
        out[o] = '\0';
        return out;
}

/* "WHAT: KEY: problem", AGORA_ERR_USAGE. KEY names the offending key the
 * way the author would find it in the file: "limits.memory",
 * "landlock '/usr'". */
static int fail(agora_error_t *err, const char *what, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(agora_error_t *err, const char *what, const char *key, const char *fmt, ...)
{
        _cleanup_free_ char *problem = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&problem, fmt, ap);
        va_end(ap);
        if (r < 0)
                return agora_error_set_errno(err, ENOMEM, "%s: %s", what, key);
        return agora_error_set(err, AGORA_ERR_USAGE, "%s: %s: %s", what, key, problem);
}

/* "64M" for 64 MiB: limits are quoted back the way authors write them. */
static const char *format_size(uint64_t n, char out[32])
{
        static const char units[] = "KMGT";
        int u = -1;

        while (u < 3 && n >= KIB && n % KIB == 0) {
                n /= KIB;
                u++;
        }
        if (u < 0)
                snprintf(out, 32, "%" PRIu64, n);
        else
                snprintf(out, 32, "%" PRIu64 "%c", n, units[u]);
        return out;
}

/* ---- numbers ---- */

typedef struct number_spec {
        const char *key;
        size_t offset; /* of the uint64_t in profile_limits */
        bool size; /* bytes, with K/M/G/T suffixes; otherwise a plain count */
        uint64_t min, max;
} number_spec;

/* Every minimum says why a smaller value cannot work; every size stops at
 * 1T so that sums of sizes cannot overflow and no value reaches
 * RLIM_INFINITY (all ones), which the kernel reads as "no limit". */
static const number_spec limit_specs[] = {
        /* The dynamic loader, libc and a shell alone touch a few MiB. */
        {"memory", offsetof(profile_limits, memory_bytes), true, 4 * MIB, TIB},
        /* The cage's PID 1 (agora's reaper) and the program are two. */
        {"pids", offsetof(profile_limits, pids), false, 2, 65536},
        /* cgroup v2 cpu.weight accepts exactly this range. */
        {"cpu-weight", offsetof(profile_limits, cpu_weight), false, 1, 10000},
        /* Percent of one CPU; the machine's CPU count is not known here. */
        {"cpu-quota", offsetof(profile_limits, cpu_quota_percent), false, 0, 100000},
        /* A job that needs more than a day is a service, not a job. */
        {"timeout", offsetof(profile_limits, timeout_s), false, 1, 86400},
        {"workspace", offsetof(profile_limits, workspace_bytes), true, 64 * KIB, TIB},
        {"workspace-inodes", offsetof(profile_limits, workspace_inodes), false, 16, UINT32_MAX},
        {"tmp", offsetof(profile_limits, tmp_bytes), true, 64 * KIB, TIB},
        /* Captured output is held in agora-cage's memory, so it is bounded
         * well below what the host has. */
        {"output", offsetof(profile_limits, output_bytes), true, KIB, GIB},
        /* Below 16 the loader, stdio and a pipe or two already fail. */
        {"open-files", offsetof(profile_limits, open_files), false, 16, 65536},
        {"file-size", offsetof(profile_limits, file_size_bytes), true, 1, TIB},
};

static const number_spec tier_spec = {"tier", 0, false, 1, 9};

/* OBJ[SPEC->key] as a number in the spec's range. yamldoc gives every
 * scalar as a string, so a number is a string of digits here. SECTION
 * names OBJ for schema's messages ("profile 'x': limits"); PREFIX turns
 * the key into the path our messages use ("limits."). */
static int get_number(const json_t *obj, const number_spec *spec, const char *what, const char *section,
                      const char *prefix, uint64_t *ret, agora_error_t *err)
{
        char q[QUOTE_BUF], key[64], lo[32], hi[32];
        const char *s;
        uint64_t n;
        bool digits = true;

        if (schema_get_string(obj, spec->key, false, section, &s, err) < 0)
                return -1;
        snprintf(key, sizeof(key), "%s%s", prefix, spec->key);
        for (const char *p = s; *p; p++)
                if (!isdigit((unsigned char)*p))
                        digits = false;
        /* Counts take no suffix: "pids: 1K" is more likely a slip than a
         * request for 1024 processes. */
        if (!spec->size && (!digits || schema_parse_size(s, &n) < 0))
                return fail(err, what, key, "'%s' is not a whole number", quote(s, q));
        if (spec->size && schema_parse_size(s, &n) < 0)
                return fail(err, what, key,
                            "'%s' is not a size (want a whole number with an optional K, M, G or T suffix)",
                            quote(s, q));
        if (n < spec->min || n > spec->max) {
                if (spec->size)
                        return fail(err, what, key, "'%s' is out of range %s..%s", quote(s, q),
                                    format_size(spec->min, lo), format_size(spec->max, hi));
                return fail(err, what, key, "'%s' is out of range %" PRIu64 "..%" PRIu64, quote(s, q), spec->min,
                            spec->max);
        }
        *ret = n;
        return 0;
}

/* The keys of a section whose keys are exactly the names in SPECS. */
static int parse_limits(const json_t *doc, const char *what, profile_limits *ret, agora_error_t *err)
{
        const char *keys[ARRAY_SIZE(limit_specs) + 1];
        _cleanup_free_ char *section = NULL;
        json_t *limits;

        for (size_t i = 0; i < ARRAY_SIZE(limit_specs); i++)
                keys[i] = limit_specs[i].key;
        keys[ARRAY_SIZE(limit_specs)] = NULL;
        if (asprintf(&section, "%s: limits", what) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (schema_get_object(doc, "limits", false, what, &limits, err) < 0 ||
            schema_check_keys(limits, keys, section, err) < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(limit_specs); i++) {
                uint64_t *field = (uint64_t *)((char *)ret + limit_specs[i].offset);
                if (get_number(limits, &limit_specs[i], what, section, "limits.", field, err) < 0)
                        return -1;
        }
        return 0;
}

/* ---- words ---- */

/* yamldoc does no implicit typing, so "yes", "on" and "True" stay the
 * strings they are; accepting only two spellings keeps one meaning. */
static int get_bool(const json_t *obj, const char *key, const char *what, const char *section, const char *path,
                    bool *ret, agora_error_t *err)
{
        char q[QUOTE_BUF];
        const char *s;

        if (schema_get_string(obj, key, false, section, &s, err) < 0)
                return -1;
        if (strcmp(s, "true") == 0)
                *ret = true;
        else if (strcmp(s, "false") == 0)
                *ret = false;
        else
                return fail(err, what, path, "'%s' is not a boolean (write true or false)", quote(s, q));
        return 0;
}

static const struct {
        const char *word;
        unsigned bit;
} access_words[] = {
        {"read", PROFILE_ACCESS_READ},     {"write", PROFILE_ACCESS_WRITE},     {"create", PROFILE_ACCESS_CREATE},
        {"remove", PROFILE_ACCESS_REMOVE}, {"execute", PROFILE_ACCESS_EXECUTE}, {"ioctl", PROFILE_ACCESS_IOCTL},
};

static const char *access_word(unsigned bit)
{
        for (size_t i = 0; i < ARRAY_SIZE(access_words); i++)
                if (access_words[i].bit == bit)
                        return access_words[i].word;
        return "?";
}

/* ---- paths ---- */

/* Why PATH is not an absolute, normalised path, or NULL if it is. The
 * mount and Landlock steps compare paths as strings and walk them one
 * component at a time: "/usr/../etc" would pass a string check for /usr
 * while the kernel opens /etc, and "/usr/" or "//usr" would slip past the
 * duplicate and overlap checks below. */
static const char *path_problem(const char *path, bool allow_root)
{
        size_t len = strlen(path);

        if (path[0] != '/')
                return "is not an absolute path";
        if (len >= PATH_MAX)
                return "is too long";
        for (const unsigned char *p = (const unsigned char *)path; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return "contains a control character";
        if (len == 1)
                return allow_root ? NULL : "is the root itself";
        if (path[len - 1] == '/')
                return "ends with '/'";
        for (const char *c = path + 1;;) {
                const char *end = strchrnul(c, '/');
                size_t n = (size_t)(end - c);
                if (n == 0)
                        return "contains '//'";
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return "contains a '.' or '..' component";
                if (n > NAME_MAX)
                        return "has a component longer than 255 bytes";
                if (*end == '\0')
                        return NULL;
                c = end + 1;
        }
}

/* True when normalised path A is B or lies beneath it: "/usr/lib" is under
 * "/usr", "/usrx" is not, everything is under "/". */
static bool path_under(const char *a, const char *b)
{
        size_t n = strlen(b);

        if (strcmp(b, "/") == 0)
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static bool paths_overlap(const char *a, const char *b)
{
        return path_under(a, b) || path_under(b, a);
}

/* Host paths a profile may never bind. The first five are the cage's own
 * mount points: a host tree there would shadow them or be shadowed. */
static const struct {
        const char *path;
        const char *why;
} host_denied[] = {
        {"/proc", "is the cage's own (a fresh procfs)"},
        {"/dev", "is the cage's own (a minimal /dev)"},
        {"/cap", "is the cage's own (granted capabilities)"},
        {"/workspace", "is the cage's own (the job's workspace)"},
        {"/tmp", "is the cage's own (a private tmpfs)"},
        /* Host kernel and device state: no job needs it, and it is how
         * bugs in drivers and kernel knobs are reached. */
        {"/sys", "is host kernel state"},
        /* connect() on a unix socket needs write permission on the socket
         * file but ignores a read-only mount, so a read-only bind of /run
         * would still reach D-Bus, systemd, a container engine's socket. */
        {"/run", "holds the host's unix sockets, which a read-only bind does not close"},
        {"/var/run", "holds the host's unix sockets, which a read-only bind does not close"},
};

/* Mount points every cage has (cage_mount.c), in addition to the profile's
 * host paths. A Landlock rule must name something that exists in the
 * cage, or the Landlock step would fail at run time instead of here. */
static const char *const cage_areas[] = {"/cap", "/workspace", "/tmp", "/proc", "/dev"};

static int parse_host_readonly(const json_t *fs, const char *what, const char *section, profile *p, agora_error_t *err)
{
        static const char key[] = "filesystem.host-readonly";
        char q[QUOTE_BUF];
        json_t *list, *v;
        size_t i, n;

        if (schema_get_array(fs, "host-readonly", false, section, &list, err) < 0)
                return -1;
        n = json_array_size(list);
        if (n > PROFILE_MAX_HOST_PATHS)
                return fail(err, what, key, "more than %d paths", PROFILE_MAX_HOST_PATHS);
        p->host_readonly = calloc(n + 1, sizeof(char *));
        if (p->host_readonly == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        json_array_foreach(list, i, v)
        {
                const char *path = json_string_value(v), *problem;
                if (path == NULL)
                        return fail(err, what, key, "entry %zu must be a path, not a list, mapping or null", i + 1);
                problem = path_problem(path, false);
                if (problem != NULL)
                        return fail(err, what, key, "'%s' %s", quote(path, q), problem);
                for (size_t d = 0; d < ARRAY_SIZE(host_denied); d++)
                        if (path_under(path, host_denied[d].path))
                                return fail(err, what, key, "'%s' is not allowed: %s %s", quote(path, q),
                                            host_denied[d].path, host_denied[d].why);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(p->host_readonly[j], path) == 0)
                                return fail(err, what, key, "'%s' is listed twice", quote(path, q));
                p->host_readonly[i] = strdup(path);
                if (p->host_readonly[i] == NULL)
                        return agora_error_set_errno(err, ENOMEM, "%s", what);
        }
        return 0;
}

static int parse_filesystem(const json_t *doc, const char *what, profile *p, agora_error_t *err)
{
        static const char *const keys[] = {"host-readonly", "exec-capabilities", "exec-workspace", NULL};
        _cleanup_free_ char *section = NULL;
        json_t *fs;

        if (asprintf(&section, "%s: filesystem", what) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (schema_get_object(doc, "filesystem", false, what, &fs, err) < 0 ||
            schema_check_keys(fs, keys, section, err) < 0 || parse_host_readonly(fs, what, section, p, err) < 0 ||
            get_bool(fs, "exec-capabilities", what, section, "filesystem.exec-capabilities", &p->exec_capabilities,
                     err) < 0 ||
            get_bool(fs, "exec-workspace", what, section, "filesystem.exec-workspace", &p->exec_workspace, err) < 0)
                return -1;
        return 0;
}

static int parse_network(const json_t *doc, const char *what, profile *p, agora_error_t *err)
{
        static const char *const keys[] = {"loopback", NULL};
        _cleanup_free_ char *section = NULL;
        char q[QUOTE_BUF];
        const char *s;
        json_t *net;

        if (asprintf(&section, "%s: network", what) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (schema_get_object(doc, "network", false, what, &net, err) < 0 ||
            schema_check_keys(net, keys, section, err) < 0 ||
            schema_get_string(net, "loopback", false, section, &s, err) < 0)
                return -1;
        if (strcmp(s, "up") == 0)
                p->loopback_up = true;
        else if (strcmp(s, "down") == 0)
                p->loopback_up = false;
        else
                return fail(err, what, "network.loopback", "'%s' is not up or down", quote(s, q));
        return 0;
}

/* ---- Landlock ---- */

static int parse_access(const json_t *rule, const char *what, const char *section, const char *key, unsigned *ret,
                        agora_error_t *err)
{
        char q[QUOTE_BUF];
        json_t *list, *v;
        size_t i;

        *ret = 0;
        if (schema_get_array(rule, "access", false, section, &list, err) < 0)
                return -1;
        if (json_array_size(list) == 0)
                return fail(err, what, key,
                            "access must list at least one of read, write, create, remove, execute, "
                            "ioctl");
        json_array_foreach(list, i, v)
        {
                const char *word = json_string_value(v);
                unsigned bit = 0;
                if (word == NULL)
                        return fail(err, what, key, "access entry %zu must be a word", i + 1);
                for (size_t w = 0; w < ARRAY_SIZE(access_words); w++)
                        if (strcmp(word, access_words[w].word) == 0)
                                bit = access_words[w].bit;
                if (bit == 0)
                        return fail(err, what, key,
                                    "access '%s' is not one of read, write, create, remove, execute, ioctl",
                                    quote(word, q));
                if (*ret & bit)
                        return fail(err, what, key, "access '%s' is listed twice", word);
                *ret |= bit;
        }
        return 0;
}

static bool in_cage(const profile *p, const char *path)
{
        for (size_t i = 0; i < ARRAY_SIZE(cage_areas); i++)
                if (paths_overlap(path, cage_areas[i]))
                        return true;
        for (char **h = p->host_readonly; *h; h++)
                if (paths_overlap(path, *h))
                        return true;
        return false;
}

static int parse_rule(const json_t *rule, size_t index, const char *what, profile *p, agora_error_t *err)
{
        static const char *const keys[] = {"path", "access", NULL};
        _cleanup_free_ char *section = NULL;
        char q[QUOTE_BUF], key[QUOTE_BUF + 16], rule_key[48];
        const char *path, *problem;
        unsigned access;

        /* Until its path is known, a rule is named by its place in the list. */
        snprintf(rule_key, sizeof(rule_key), "landlock rule %zu", index + 1);
        if (asprintf(&section, "%s: %s", what, rule_key) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (schema_check_keys(rule, keys, section, err) < 0 ||
            schema_get_string(rule, "path", false, section, &path, err) < 0)
                return -1;
        problem = path_problem(path, true);
        if (problem != NULL)
                return fail(err, what, rule_key, "path '%s' %s", quote(path, q), problem);
        snprintf(key, sizeof(key), "landlock '%s'", quote(path, q));
        for (size_t j = 0; j < p->n_landlock; j++)
                if (strcmp(p->landlock[j].path, path) == 0)
                        return fail(err, what, key, "listed twice (give one rule per path)");
        if (!in_cage(p, path))
                return fail(err, what, key,
                            "not in the cage (bind it in filesystem.host-readonly, or use /cap, /workspace, /tmp, "
                            "/proc or /dev)");
        if (parse_access(rule, what, section, key, &access, err) < 0)
                return -1;
        p->landlock[p->n_landlock].path = strdup(path);
        if (p->landlock[p->n_landlock].path == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        p->landlock[p->n_landlock++].access = access;
        return 0;
}

static int parse_landlock(const json_t *doc, const char *what, profile *p, agora_error_t *err)
{
        json_t *list, *rule;
        size_t i, n;

        if (schema_get_array(doc, "landlock", false, what, &list, err) < 0)
                return -1;
        n = json_array_size(list);
        /* With no rule Landlock denies every access: the program could not
         * even be executed. Saying so here beats an EACCES at run time. */
        if (n == 0)
                return fail(err, what, "landlock", "must list at least one rule");
        if (n > PROFILE_MAX_RULES)
                return fail(err, what, "landlock", "more than %d rules", PROFILE_MAX_RULES);
        p->landlock = calloc(n, sizeof(*p->landlock));
        if (p->landlock == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        json_array_foreach(list, i, rule)
        {
                if (parse_rule(rule, i, what, p, err) < 0)
                        return -1;
        }
        return 0;
}

/* True when some rule grants execute on all of PATH: at PATH or above it. */
static bool execute_covers(const profile *p, const char *path)
{
        for (size_t i = 0; i < p->n_landlock; i++)
                if ((p->landlock[i].access & PROFILE_ACCESS_EXECUTE) && path_under(path, p->landlock[i].path))
                        return true;
        return false;
}

/* The exec-* flags become noexec mounts and the Landlock rules become a
 * second, independent layer; each must say the same thing, or the author
 * believes in a permission one layer silently takes away (or, if a layer
 * is ever lost, grants). */
static int check_exec_flag(const profile *p, const char *what, const char *flag, bool allowed, const char *area,
                           agora_error_t *err)
{
        char q[QUOTE_BUF], key[QUOTE_BUF + 16];

        if (allowed) {
                if (!execute_covers(p, area))
                        return fail(err, what, flag, "is true, but no landlock rule grants execute on %s", area);
                return 0;
        }
        for (size_t i = 0; i < p->n_landlock; i++) {
                const profile_landlock_rule *r = &p->landlock[i];
                if (!(r->access & PROFILE_ACCESS_EXECUTE) || !paths_overlap(r->path, area))
                        continue;
                snprintf(key, sizeof(key), "landlock '%s'", quote(r->path, q));
                return fail(err, what, key, "grants execute on %s, but %s is false", area, flag);
        }
        return 0;
}

static int check_consistency(const profile *p, const char *what, agora_error_t *err)
{
        const unsigned writes = PROFILE_ACCESS_WRITE | PROFILE_ACCESS_CREATE | PROFILE_ACCESS_REMOVE;
        char q[QUOTE_BUF], key[QUOTE_BUF + 16];

        if (check_exec_flag(p, what, "filesystem.exec-capabilities", p->exec_capabilities, "/cap", err) < 0 ||
            check_exec_flag(p, what, "filesystem.exec-workspace", p->exec_workspace, "/workspace", err) < 0 ||
            check_exec_flag(p, what, "filesystem.exec-workspace", p->exec_workspace, "/tmp", err) < 0)
                return -1;
        /* Host paths and /cap are mounted read-only; a write rule beneath
         * them could never work, and says the author expects it to. */
        for (size_t i = 0; i < p->n_landlock; i++) {
                const profile_landlock_rule *r = &p->landlock[i];
                unsigned w = r->access & writes;
                const char *ro = NULL;
                if (w == 0)
                        continue;
                if (path_under(r->path, "/cap"))
                        ro = "/cap";
                for (char **h = p->host_readonly; ro == NULL && *h; h++)
                        if (path_under(r->path, *h))
                                ro = *h;
                if (ro == NULL)
                        continue;
                snprintf(key, sizeof(key), "landlock '%s'", quote(r->path, q));
                return fail(err, what, key, "grants %s, but %s is mounted read-only%s", access_word(w & -w), ro,
                            strcmp(ro, "/cap") == 0 ? "" : " (filesystem.host-readonly)");
        }
        return 0;
}

/* ---- the document ---- */

static int parse_description(const json_t *doc, const char *what, profile *p, agora_error_t *err)
{
        const char *s;

        if (schema_get_string(doc, "description", true, what, &s, err) < 0)
                return -1;
        if (s == NULL)
                return 0;
        /* It is printed in listings: one line, no terminal escapes. */
        if (strlen(s) > PROFILE_MAX_DESCRIPTION)
                return fail(err, what, "description", "longer than %d bytes", PROFILE_MAX_DESCRIPTION);
        for (const unsigned char *c = (const unsigned char *)s; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return fail(err, what, "description", "must be one line without control characters");
        p->description = strdup(s);
        if (p->description == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        return 0;
}

/* WANT_NAME, when not NULL, is the name the file's own name gives. */
static int profile_parse(const json_t *doc, const char *what, const char *want_name, profile **ret, agora_error_t *err)
{
        static const char *const keys[] = {"name",       "tier",    "description", "limits",
                                           "filesystem", "network", "landlock",    NULL};
        _cleanup_(profile_freep) profile *p = NULL;
        char q[QUOTE_BUF];
        const char *name;
        uint64_t tier;

        /* Keys first: "limts:" must read as a typo, not as a missing
         * "limits:". */
        if (schema_check_keys(doc, keys, what, err) < 0)
                return -1;
        p = calloc(1, sizeof(*p));
        if (p == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (schema_get_string(doc, "name", false, what, &name, err) < 0)
                return -1;
        if (agora_name_check("profile", name, err) < 0)
                return agora_error_wrap(err, "%s: name", what);
        /* A subagent names its profile by file name; the document must
         * agree, or "inspect" could quietly load a copy of "build". */
        if (want_name != NULL && strcmp(name, want_name) != 0)
                return fail(err, what, "name", "'%s' does not match the file name '%s.yaml'", quote(name, q),
                            want_name);
        p->name = strdup(name);
        if (p->name == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", what);
        if (get_number(doc, &tier_spec, what, what, "", &tier, err) < 0)
                return -1;
        p->tier = (unsigned)tier;
        if (parse_description(doc, what, p, err) < 0 || parse_limits(doc, what, &p->limits, err) < 0 ||
            parse_filesystem(doc, what, p, err) < 0 || parse_network(doc, what, p, err) < 0 ||
            parse_landlock(doc, what, p, err) < 0 || check_consistency(p, what, err) < 0)
                return -1;
        *ret = take_ptr(p);
        return 0;
}

int profile_load_buffer(const char *buf, size_t len, const char *what, profile **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *doc = NULL;

        *ret = NULL;
        if (yamldoc_load_buffer(buf, len, what, &doc, err) < 0)
                return -1;
        return profile_parse(doc, what, NULL, ret, err);
}

/* The profile name PATH's file name gives: "build" for ".../build.yaml". */
static int file_stem(const char *path, char **ret, agora_error_t *err)
{
        static const char ext[] = ".yaml";
        const char *base = strrchr(path, '/');
        _cleanup_free_ char *stem = NULL;
        char q[QUOTE_BUF];
        size_t len;

        base = base != NULL ? base + 1 : path;
        len = strlen(base);
        if (len <= strlen(ext) || strcmp(base + len - strlen(ext), ext) != 0)
                return agora_error_set(err, AGORA_ERR_USAGE, "profile file '%s': must be named NAME.yaml",
                                       quote(path, q));
        stem = strndup(base, len - strlen(ext));
        if (stem == NULL)
                return agora_error_set_errno(err, ENOMEM, "profile file '%s'", quote(path, q));
        if (agora_name_check("profile", stem, err) < 0)
                return agora_error_wrap(err, "profile file '%s'", quote(path, q));
        *ret = take_ptr(stem);
        return 0;
}

int profile_load_file(const char *path, profile **ret, agora_error_t *err)
{
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *stem = NULL, *what = NULL;

        *ret = NULL;
        if (file_stem(path, &stem, err) < 0)
                return -1;
        if (asprintf(&what, "profile '%s'", stem) < 0)
                return agora_error_set_errno(err, ENOMEM, "profile '%s'", stem);
        /* yamldoc's errors name the file and position; ours name the profile. */
        if (yamldoc_load_file(path, &doc, err) < 0)
                return agora_error_wrap(err, "%s", what);
        return profile_parse(doc, what, stem, ret, err);
}

int profile_load_named(const char *dir, const char *name, profile **ret, agora_error_t *err)
{
        _cleanup_free_ char *path = NULL;

        *ret = NULL;
        /* Before NAME touches a path: "../x" or "a/b" must never leave DIR. */
        if (agora_name_check("profile", name, err) < 0)
                return -1;
        if (dir == NULL || dir[0] == '\0')
                dir = profile_default_dir();
        if (asprintf(&path, "%s/%s.yaml", dir, name) < 0)
                return agora_error_set_errno(err, ENOMEM, "profile '%s'", name);
        if (profile_load_file(path, ret, err) < 0) {
                if (*err != NULL && (*err)->kind == AGORA_ERR_NOTFOUND && (*err)->errnum == ENOENT)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND, "profile '%s': not found in %s", name, dir);
                return -1;
        }
        return 0;
}

const char *profile_default_dir(void)
{
        /* secure_getenv: should agora-cage ever run with file capabilities
         * or set-id, the caller's environment must not choose the policy. */
        const char *env = secure_getenv("AGORA_PROFILES");

        if (env != NULL && env[0] != '\0')
                return env;
#ifdef AGORA_PROFILES_DIR
        return AGORA_PROFILES_DIR;
#else
        return "/usr/share/agora/profiles";
#endif
}

void profile_free(profile *p)
{
        if (p == NULL)
                return;
        free(p->name);
        free(p->description);
        cleanup_strvp(&p->host_readonly);
        for (size_t i = 0; i < p->n_landlock; i++)
                free(p->landlock[i].path);
        free(p->landlock);
        free(p);
}
