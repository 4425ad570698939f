/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker/profile: the shipped profiles load and are ordered as documented;
 * a small profile parses field by field; every way a profile can be wrong
 * is refused with one line naming the profile and the key.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/common-test.h"

#include "common/cleanup.h"
#include "worker/profile.h"

#ifndef AGORA_PROFILES_DIR
#error "AGORA_PROFILES_DIR must name the source tree's profiles/ (set by SConstruct)"
#endif

static inline void profile_freep(profile **p)
{
        profile_free(*p);
}
#define _cleanup_profile_ _cleanup_(profile_freep)

/* Every value distinct, so a field read into the wrong member shows. */
static const char tiny[] = "name: tiny\n"
                           "tier: 3\n"
                           "description: a profile for tests\n"
                           "limits:\n"
                           "  memory: 5M\n"
                           "  pids: 7\n"
                           "  cpu-weight: 11\n"
                           "  cpu-quota: 13\n"
                           "  timeout: 17\n"
                           "  workspace: 128K\n"
                           "  workspace-inodes: 19\n"
                           "  tmp: 192K\n"
                           "  output: 2K\n"
                           "  open-files: 23\n"
                           "  file-size: 29\n"
                           "filesystem:\n"
                           "  host-readonly: [/usr, /lib64]\n"
                           "  exec-capabilities: true\n"
                           "  exec-workspace: false\n"
                           "network:\n"
                           "  loopback: up\n"
                           "landlock:\n"
                           "  - path: /usr\n"
                           "    access: [read, execute]\n"
                           "  - path: /cap\n"
                           "    access: [read, execute]\n"
                           "  - path: /workspace\n"
                           "    access: [read, write, create, remove]\n"
                           "  - path: /dev\n"
                           "    access: [read, write, ioctl]\n";

static const char tiny_what[] = "profile 'tiny'";

/* DOC with its first FROM replaced by TO. FROM must occur, so an edit that
 * no longer matches fails the test instead of testing the valid profile. */
static char *edit(const char *doc, const char *from, const char *to)
{
        const char *at = strstr(doc, from);
        char *out = NULL;

        if (at == NULL)
                fail_msg("edit: '%s' not in the document", from);
        assert_true(asprintf(&out, "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from)) > 0);
        return out;
}

static profile *load_ok(const char *doc)
{
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        if (profile_load_buffer(doc, strlen(doc), tiny_what, &p, &err) < 0)
                fail_msg("refused: %s", agora_error_message(err));
        assert_non_null(p);
        return p;
}

/* The error of a refused profile: one line, starting with the profile's
 * name, naming KEY and saying DETAIL. */
static void check_message(const agora_error_t err, agora_error_kind kind, const char *what, const char *key,
                          const char *detail)
{
        const char *msg = agora_error_message(err);

        assert_non_null(err);
        if (err->kind != kind)
                fail_msg("kind %d, want %d: %s", err->kind, kind, msg);
        if (strncmp(msg, what, strlen(what)) != 0)
                fail_msg("message does not start with \"%s\": %s", what, msg);
        if (strstr(msg, key) == NULL)
                fail_msg("message does not name \"%s\": %s", key, msg);
        if (detail != NULL && strstr(msg, detail) == NULL)
                fail_msg("message does not say \"%s\": %s", detail, msg);
        if (strchr(msg, '\n') != NULL)
                fail_msg("message is more than one line: %s", msg);
}

static void expect_refused(const char *doc, const char *key, const char *detail)
{
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = (profile *)&err; /* must be reset to NULL on failure */

        if (profile_load_buffer(doc, strlen(doc), tiny_what, &p, &err) == 0)
                fail_msg("accepted, want an error naming \"%s\"", key);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, tiny_what, key, detail);
}

/* TINY with the section from START up to NEXT (or the end) replaced. */
static char *edit_section(const char *start, const char *next, const char *to)
{
        const char *a = strstr(tiny, start), *b = next != NULL ? strstr(tiny, next) : tiny + strlen(tiny);
        char *out = NULL;

        assert_non_null(a);
        assert_non_null(b);
        assert_true(asprintf(&out, "%.*s%s%s", (int)(a - tiny), tiny, to, b) > 0);
        return out;
}

static void refuse_edit(const char *from, const char *to, const char *key, const char *detail)
{
        _cleanup_free_ char *doc = edit(tiny, from, to);

        expect_refused(doc, key, detail);
}

static void accept_edit(const char *from, const char *to)
{
        _cleanup_free_ char *doc = edit(tiny, from, to);

        profile_free(load_ok(doc));
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static int setup_tmpdir(void **state)
{
        return test_tmpdir_setup(state, "agora-profile");
}

static int teardown_tmpdir(void **state)
{
        return test_tmpdir_teardown(state);
}

/* ---- the shipped profiles ---- */

static void closedirp(DIR **d)
{
        if (*d != NULL)
                closedir(*d);
}

static void test_every_shipped_profile_loads(void **state)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *e;
        int n = 0;

        (void)state;
        d = opendir(AGORA_PROFILES_DIR);
        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
                _cleanup_error_ agora_error_t err = NULL;
                _cleanup_profile_ profile *p = NULL;
                _cleanup_free_ char *path = NULL;
                size_t len = strlen(e->d_name);

                if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
                        continue;
                assert_true(asprintf(&path, "%s/%s", AGORA_PROFILES_DIR, e->d_name) > 0);
                if (profile_load_file(path, &p, &err) < 0)
                        fail_msg("%s: %s", e->d_name, agora_error_message(err));
                assert_non_null(p->description);
                /* Every host path must exist on the supported host (Debian
                 * 12 x86_64), or the mount step would fail on every run. */
                for (char **h = p->host_readonly; *h; h++) {
                        struct stat st;
                        if (stat(*h, &st) < 0 || !S_ISDIR(st.st_mode))
                                fail_msg("%s: host path %s is not a directory here", e->d_name, *h);
                }
                n++;
        }
        assert_true(n >= 4);
}

static profile *load_shipped(const char *name)
{
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        if (profile_load_named(AGORA_PROFILES_DIR, name, &p, &err) < 0)
                fail_msg("%s: %s", name, agora_error_message(err));
        assert_string_equal(p->name, name);
        return p;
}

static unsigned rule_access(const profile *p, const char *path)
{
        for (size_t i = 0; i < p->n_landlock; i++)
                if (strcmp(p->landlock[i].path, path) == 0)
                        return p->landlock[i].access;
        fail_msg("%s: no landlock rule for %s", p->name, path);
        return 0;
}

static void test_shipped_tiers_ordered(void **state)
{
        _cleanup_profile_ profile *inspect = load_shipped("inspect"), *def = load_shipped("default");
        _cleanup_profile_ profile *build = load_shipped("build"), *egress = load_shipped("egress");

        (void)state;
        assert_true(inspect->tier < def->tier);
        assert_true(def->tier < build->tier);
        assert_true(build->tier < egress->tier);
        assert_int_equal(inspect->tier, 1);
        /* Each step up grants one thing more, never takes one back. */
        assert_false(inspect->exec_capabilities);
        assert_false(inspect->exec_workspace);
        assert_false(rule_access(inspect, "/cap") & PROFILE_ACCESS_EXECUTE);
        assert_false(rule_access(inspect, "/workspace") & PROFILE_ACCESS_EXECUTE);
        assert_true(def->exec_capabilities);
        assert_false(def->exec_workspace);
        assert_true(build->exec_capabilities);
        assert_true(build->exec_workspace);
        assert_true(rule_access(build, "/workspace") & PROFILE_ACCESS_EXECUTE);
        assert_false(inspect->loopback_up);
        assert_false(def->loopback_up);
        assert_false(build->loopback_up);
        assert_true(egress->loopback_up);
        assert_true(inspect->limits.memory_bytes < def->limits.memory_bytes);
        assert_true(inspect->limits.pids < def->limits.pids);
        assert_true(inspect->limits.timeout_s < def->limits.timeout_s);
        assert_true(def->limits.memory_bytes < build->limits.memory_bytes);
        assert_true(def->limits.timeout_s < build->limits.timeout_s);
        assert_int_equal(inspect->limits.memory_bytes, 256ull << 20);
        assert_int_equal(inspect->limits.timeout_s, 60);
        assert_int_equal(build->limits.file_size_bytes, 1ull << 30);
}

static void test_egress_is_default_plus_loopback(void **state)
{
        _cleanup_profile_ profile *def = load_shipped("default"), *egress = load_shipped("egress");

        (void)state;
        assert_memory_equal(&def->limits, &egress->limits, sizeof(def->limits));
        assert_int_equal(def->exec_capabilities, egress->exec_capabilities);
        assert_int_equal(def->exec_workspace, egress->exec_workspace);
        for (size_t i = 0; def->host_readonly[i] || egress->host_readonly[i]; i++) {
                assert_non_null(def->host_readonly[i]);
                assert_non_null(egress->host_readonly[i]);
                assert_string_equal(def->host_readonly[i], egress->host_readonly[i]);
        }
        assert_int_equal(def->n_landlock, egress->n_landlock);
        for (size_t i = 0; i < def->n_landlock; i++) {
                assert_string_equal(def->landlock[i].path, egress->landlock[i].path);
                assert_int_equal(def->landlock[i].access, egress->landlock[i].access);
        }
        assert_false(def->loopback_up);
        assert_true(egress->loopback_up);
}

/* ---- a valid profile ---- */

static void test_every_field_as_written(void **state)
{
        _cleanup_profile_ profile *p = load_ok(tiny);

        (void)state;
        assert_string_equal(p->name, "tiny");
        assert_int_equal(p->tier, 3);
        assert_string_equal(p->description, "a profile for tests");
        assert_int_equal(p->limits.memory_bytes, 5ull << 20);
        assert_int_equal(p->limits.pids, 7);
        assert_int_equal(p->limits.cpu_weight, 11);
        assert_int_equal(p->limits.cpu_quota_percent, 13);
        assert_int_equal(p->limits.timeout_s, 17);
        assert_int_equal(p->limits.workspace_bytes, 128ull << 10);
        assert_int_equal(p->limits.workspace_inodes, 19);
        assert_int_equal(p->limits.tmp_bytes, 192ull << 10);
        assert_int_equal(p->limits.output_bytes, 2ull << 10);
        assert_int_equal(p->limits.open_files, 23);
        assert_int_equal(p->limits.file_size_bytes, 29);
        assert_string_equal(p->host_readonly[0], "/usr");
        assert_string_equal(p->host_readonly[1], "/lib64");
        assert_null(p->host_readonly[2]);
        assert_true(p->exec_capabilities);
        assert_false(p->exec_workspace);
        assert_true(p->loopback_up);
        assert_int_equal(p->n_landlock, 4);
        assert_string_equal(p->landlock[0].path, "/usr");
        assert_int_equal(p->landlock[0].access, PROFILE_ACCESS_READ | PROFILE_ACCESS_EXECUTE);
        assert_string_equal(p->landlock[1].path, "/cap");
        assert_int_equal(p->landlock[1].access, PROFILE_ACCESS_READ | PROFILE_ACCESS_EXECUTE);
        assert_string_equal(p->landlock[2].path, "/workspace");
        assert_int_equal(p->landlock[2].access,
                         PROFILE_ACCESS_READ | PROFILE_ACCESS_WRITE | PROFILE_ACCESS_CREATE | PROFILE_ACCESS_REMOVE);
        assert_string_equal(p->landlock[3].path, "/dev");
        assert_int_equal(p->landlock[3].access, PROFILE_ACCESS_READ | PROFILE_ACCESS_WRITE | PROFILE_ACCESS_IOCTL);
}

static void test_description_optional(void **state)
{
        _cleanup_free_ char *doc = edit(tiny, "description: a profile for tests\n", "");
        _cleanup_profile_ profile *p = load_ok(doc);

        (void)state;
        assert_null(p->description);
        assert_string_equal(p->name, "tiny");
}

static void test_description_one_line(void **state)
{
        (void)state;
        refuse_edit("description: a profile for tests", "description: \"two\\nlines\"", "description", "one line");
        refuse_edit("description: a profile for tests", "description: \"\\e[31mred\"", "description", "one line");
}

/* ---- keys ---- */

static void test_unknown_key_top_level(void **state)
{
        (void)state;
        refuse_edit("tier: 3\n", "tier: 3\ncolour: blue\n", "unknown key 'colour'", NULL);
        /* A misspelt section reads as a typo, not as a missing section. */
        refuse_edit("limits:", "limts:", "unknown key 'limts'", NULL);
}

static void test_unknown_key_nested(void **state)
{
        (void)state;
        refuse_edit("  memory:", "  memroy:", "limits: unknown key 'memroy'", NULL);
        refuse_edit("  exec-capabilities:", "  exec-capabilites:", "filesystem: unknown key 'exec-capabilites'", NULL);
        refuse_edit("  loopback:", "  looback:", "network: unknown key 'looback'", NULL);
        refuse_edit("    access: [read, write, ioctl]", "    acess: [read, write, ioctl]",
                    "landlock rule 4: unknown key 'acess'", NULL);
}

static void test_missing_required_key(void **state)
{
        (void)state;
        refuse_edit("name: tiny\n", "", "missing required key 'name'", NULL);
        refuse_edit("tier: 3\n", "", "missing required key 'tier'", NULL);
        refuse_edit("  timeout: 17\n", "", "limits: missing required key 'timeout'", NULL);
        refuse_edit("  exec-workspace: false\n", "", "filesystem: missing required key 'exec-workspace'", NULL);
        refuse_edit("network:\n  loopback: up\n", "", "missing required key 'network'", NULL);
        refuse_edit("  - path: /dev\n    access: [read, write, ioctl]\n", "  - access: [read]\n",
                    "landlock rule 4: missing required key 'path'", NULL);
        /* A bare "key:" is null in yamldoc, and null is not a value. */
        refuse_edit("  pids: 7", "  pids:", "limits: missing required key 'pids'", NULL);
}

static void test_wrong_types(void **state)
{
        (void)state;
        {
                _cleanup_free_ char *doc = edit_section("limits:\n", "filesystem:\n", "limits: 5M\n");
                expect_refused(doc, "'limits' must be a mapping, not a string", NULL);
        }
        refuse_edit("  memory: 5M", "  memory: [5M]", "'memory' must be a string", NULL);
        refuse_edit("  host-readonly: [/usr, /lib64]", "  host-readonly: /usr", "'host-readonly' must be a list", NULL);
        refuse_edit("  host-readonly: [/usr, /lib64]", "  host-readonly: [/usr, [/lib64]]", "filesystem.host-readonly",
                    "entry 2");
        refuse_edit("landlock:\n", "landlock:\n  - /usr\n", "landlock rule 1", "must be a mapping");
        expect_refused("- name: tiny\n", tiny_what, "must be a mapping");
}

/* ---- values ---- */

static void test_bad_size(void **state)
{
        (void)state;
        refuse_edit("  memory: 5M", "  memory: 12Q", "limits.memory", "'12Q' is not a size");
        refuse_edit("  memory: 5M", "  memory: -5M", "limits.memory", "is not a size");
        refuse_edit("  memory: 5M", "  memory: 99999999999999999999", "limits.memory", "is not a size");
        refuse_edit("  tmp: 192K", "  tmp: 1.5M", "limits.tmp", "'1.5M' is not a size");
}

static void test_count_takes_no_suffix(void **state)
{
        (void)state;
        refuse_edit("  pids: 7", "  pids: 1K", "limits.pids", "'1K' is not a whole number");
        refuse_edit("tier: 3", "tier: three", "tier", "'three' is not a whole number");
        refuse_edit("  timeout: 17", "  timeout: 17s", "limits.timeout", "not a whole number");
}

typedef struct range_case {
        const char *line; /* as in tiny, replaced by "KEY: VALUE" */
        const char *key; /* as it appears in the message */
        const char *low_ok, *low_bad, *high_ok, *high_bad; /* NULL: no such bound to test */
} range_case;

static const range_case ranges[] = {
        {"tier: 3", "tier", "1", "0", "9", "10"},
        {"  memory: 5M", "limits.memory", "4M", "4095K", "1T", "1025G"},
        {"  pids: 7", "limits.pids", "2", "1", "65536", "65537"},
        {"  cpu-weight: 11", "limits.cpu-weight", "1", "0", "10000", "10001"},
        {"  cpu-quota: 13", "limits.cpu-quota", "0", NULL, "100000", "100001"},
        {"  timeout: 17", "limits.timeout", "1", "0", "86400", "86401"},
        {"  workspace: 128K", "limits.workspace", "64K", "65535", "1T", "1025G"},
        {"  workspace-inodes: 19", "limits.workspace-inodes", "16", "15", "4294967295", "4294967296"},
        {"  tmp: 192K", "limits.tmp", "64K", "63K", "1T", "1025G"},
        {"  output: 2K", "limits.output", "1K", "1023", "1G", "1025M"},
        {"  open-files: 23", "limits.open-files", "16", "15", "65536", "65537"},
        {"  file-size: 29", "limits.file-size", "1", "0", "1T", "1025G"},
};

static void test_ranges(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
                const range_case *c = &ranges[i];
                const char *values[] = {c->low_ok, c->high_ok, c->low_bad, c->high_bad};
                const char *colon = strchr(c->line, ':');
                for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
                        _cleanup_free_ char *line = NULL;
                        if (values[v] == NULL)
                                continue;
                        assert_true(asprintf(&line, "%.*s: %s", (int)(colon - c->line), c->line, values[v]) > 0);
                        if (v < 2)
                                accept_edit(c->line, line);
                        else
                                refuse_edit(c->line, line, c->key, "out of range");
                }
        }
}

static void test_range_message_quotes_bounds(void **state)
{
        (void)state;
        refuse_edit("  memory: 5M", "  memory: 1M", "limits.memory", "'1M' is out of range 4M..1T");
        refuse_edit("  pids: 7", "  pids: 0", "limits.pids", "'0' is out of range 2..65536");
}

static void test_bad_boolean(void **state)
{
        (void)state;
        /* No implicit typing: YAML 1.1's yes/on/True are not booleans here. */
        refuse_edit("  exec-capabilities: true", "  exec-capabilities: yes", "filesystem.exec-capabilities",
                    "'yes' is not a boolean");
        refuse_edit("  exec-workspace: false", "  exec-workspace: False", "filesystem.exec-workspace",
                    "'False' is not a boolean");
        refuse_edit("  exec-workspace: false", "  exec-workspace: 0", "filesystem.exec-workspace", "not a boolean");
}

static void test_bad_loopback(void **state)
{
        (void)state;
        refuse_edit("  loopback: up", "  loopback: on", "network.loopback", "'on' is not up or down");
        refuse_edit("  loopback: up", "  loopback: \"up \"", "network.loopback", "not up or down");
}

static void test_hostile_value_quoted(void **state)
{
        _cleanup_free_ char *line = NULL;
        char big[600];

        (void)state;
        refuse_edit("  memory: 5M", "  memory: \"\\e]0;owned\\a\"", "limits.memory", "'\\x1b]0;owned\\x07'");
        memset(big, '7', sizeof(big) - 2);
        big[sizeof(big) - 2] = 'Q';
        big[sizeof(big) - 1] = '\0';
        assert_true(asprintf(&line, "  memory: %s", big) > 0);
        {
                _cleanup_free_ char *doc = edit(tiny, "  memory: 5M", line);
                _cleanup_error_ agora_error_t err = NULL;
                profile *p = NULL;
                assert_int_equal(profile_load_buffer(doc, strlen(doc), tiny_what, &p, &err), -1);
                check_message(err, AGORA_ERR_USAGE, tiny_what, "limits.memory", "...");
                assert_true(strlen(agora_error_message(err)) < 300);
        }
}

/* ---- host paths ---- */

static void test_host_path_not_normalised(void **state)
{
        static const struct {
                const char *path, *detail;
        } cases[] = {
                {"usr", "'usr' is not an absolute path"},
                {"/usr/", "ends with '/'"},
                {"//usr", "contains '//'"},
                {"/usr//lib", "contains '//'"},
                {"/usr/./lib", "'.' or '..'"},
                {"/usr/../etc", "'.' or '..'"},
                {"/usr/lib/..", "'.' or '..'"},
                {"/", "is the root itself"},
                {"\"/us\\tr\"", "control character"},
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *line = NULL;
                assert_true(asprintf(&line, "  host-readonly: [%s, /lib64]", cases[i].path) > 0);
                refuse_edit("  host-readonly: [/usr, /lib64]", line, "filesystem.host-readonly", cases[i].detail);
        }
}

static void test_host_path_forbidden(void **state)
{
        static const char *const refused[] = {
                "/proc",    "/proc/sys", "/sys",      "/sys/fs/cgroup", "/dev",
                "/dev/shm", "/cap",      "/cap/x",    "/workspace",     "/tmp",
                "/tmp/x",   "/run",      "/run/dbus", "/var/run",       "/var/run/docker.sock"};

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
                _cleanup_free_ char *line = NULL;
                assert_true(asprintf(&line, "  host-readonly: [/usr, /lib64, %s]", refused[i]) > 0);
                refuse_edit("  host-readonly: [/usr, /lib64]", line, "filesystem.host-readonly", "is not allowed");
        }
        /* Prefixes by component only: these are ordinary host paths. */
        accept_edit("  host-readonly: [/usr, /lib64]", "  host-readonly: [/usr, /lib64, /procfs, /tmpx, /var/lib]");
}

static void test_host_path_duplicate(void **state)
{
        (void)state;
        refuse_edit("  host-readonly: [/usr, /lib64]", "  host-readonly: [/usr, /lib64, /usr]",
                    "filesystem.host-readonly", "'/usr' is listed twice");
}

static void test_no_host_paths_is_fine(void **state)
{
        _cleanup_free_ char *a = edit(tiny, "  host-readonly: [/usr, /lib64]", "  host-readonly: []");
        _cleanup_free_ char *b = edit(a, "  - path: /usr\n    access: [read, execute]\n", "");
        _cleanup_profile_ profile *p = load_ok(b);

        (void)state;
        assert_null(p->host_readonly[0]);
        assert_int_equal(p->n_landlock, 3);
}

/* ---- Landlock rules ---- */

static void test_unknown_access_word(void **state)
{
        (void)state;
        refuse_edit("    access: [read, execute]", "    access: [read, exec]", "landlock '/usr'",
                    "access 'exec' is not one of read, write");
}

static void test_access_empty_or_repeated(void **state)
{
        (void)state;
        refuse_edit("    access: [read, execute]", "    access: []", "landlock '/usr'", "at least one");
        refuse_edit("    access: [read, execute]", "    access: [read, execute, read]", "landlock '/usr'",
                    "'read' is listed twice");
}

static void test_landlock_duplicate_path(void **state)
{
        (void)state;
        refuse_edit("  - path: /dev\n", "  - path: /usr\n", "landlock '/usr'", "listed twice");
}

static void test_landlock_path_checks(void **state)
{
        (void)state;
        refuse_edit("  - path: /dev\n", "  - path: dev\n", "landlock rule 4", "'dev' is not an absolute path");
        refuse_edit("  - path: /dev\n", "  - path: /dev/\n", "landlock rule 4", "ends with '/'");
        refuse_edit("  - path: /dev\n", "  - path: /usr/../etc\n", "landlock rule 4", "'.' or '..'");
        /* A rule must name something the cage has, or Landlock would fail
         * on every run instead of here. */
        refuse_edit("  - path: /dev\n", "  - path: /opt\n", "landlock '/opt'", "not in the cage");
        refuse_edit("  - path: /dev\n", "  - path: /lib\n", "landlock '/lib'", "not in the cage");
        refuse_edit("  - path: /dev\n", "  - path: /sys\n", "landlock '/sys'", "not in the cage");
        accept_edit("  - path: /dev\n    access: [read, write, ioctl]", "  - path: /usr/lib\n    access: [read]");
        accept_edit("  - path: /dev\n", "  - path: /dev/null\n");
        accept_edit("  - path: /dev\n    access: [read, write, ioctl]", "  - path: /\n    access: [read]");
}

static void test_execute_on_cap_contradicts(void **state)
{
        _cleanup_free_ char *a = edit(tiny, "  exec-capabilities: true", "  exec-capabilities: false");

        (void)state;
        expect_refused(a, "landlock '/cap'", "grants execute on /cap, but filesystem.exec-capabilities is false");
        {
                /* Granting it from above is the same grant. */
                _cleanup_free_ char *b = edit(a, "  - path: /cap\n    access: [read, execute]",
                                              "  - path: /cap\n    access: [read]\n  - path: /\n    access: [execute]");
                _cleanup_free_ char *c = edit(a, "  - path: /cap\n    access: [read, execute]",
                                              "  - path: /cap/tool\n    access: [execute]");
                _cleanup_free_ char *ok =
                        edit(a, "  - path: /cap\n    access: [read, execute]", "  - path: /cap\n    access: [read]");
                expect_refused(b, "landlock '/'", "exec-capabilities is false");
                expect_refused(c, "landlock '/cap/tool'", "exec-capabilities is false");
                profile_free(load_ok(ok));
        }
}

static void test_execute_on_workspace_contradicts(void **state)
{
        (void)state;
        refuse_edit("    access: [read, write, create, remove]", "    access: [read, write, create, remove, execute]",
                    "landlock '/workspace'", "grants execute on /workspace, but filesystem.exec-workspace is false");
        refuse_edit("  - path: /dev\n    access: [read, write, ioctl]", "  - path: /tmp\n    access: [read, execute]",
                    "landlock '/tmp'", "filesystem.exec-workspace is false");
        refuse_edit("  - path: /dev\n    access: [read, write, ioctl]",
                    "  - path: /workspace/bin\n    access: [execute]", "landlock '/workspace/bin'",
                    "filesystem.exec-workspace is false");
}

static void test_exec_flag_without_rule_contradicts(void **state)
{
        (void)state;
        refuse_edit("  - path: /cap\n    access: [read, execute]", "  - path: /cap\n    access: [read]",
                    "filesystem.exec-capabilities", "is true, but no landlock rule grants execute on /cap");
        {
                _cleanup_free_ char *a = edit(tiny, "  exec-workspace: false", "  exec-workspace: true");
                _cleanup_free_ char *b = edit(a, "    access: [read, write, create, remove]",
                                              "    access: [read, write, create, remove, execute]");
                _cleanup_free_ char *c =
                        edit(b, "  - path: /dev\n", "  - path: /tmp\n    access: [read, execute]\n  - path: /dev\n");
                expect_refused(a, "filesystem.exec-workspace", "no landlock rule grants execute on /workspace");
                expect_refused(b, "filesystem.exec-workspace", "no landlock rule grants execute on /tmp");
                profile_free(load_ok(c));
        }
}

static void test_write_on_readonly_contradicts(void **state)
{
        (void)state;
        refuse_edit("    access: [read, execute]", "    access: [read, write, execute]", "landlock '/usr'",
                    "grants write, but /usr is mounted read-only (filesystem.host-readonly)");
        refuse_edit("  - path: /dev\n    access: [read, write, ioctl]", "  - path: /usr/lib\n    access: [create]",
                    "landlock '/usr/lib'", "grants create, but /usr is mounted read-only");
        refuse_edit("  - path: /dev\n    access: [read, write, ioctl]", "  - path: /lib64\n    access: [remove]",
                    "landlock '/lib64'", "/lib64 is mounted read-only");
        refuse_edit("  - path: /cap\n    access: [read, execute]", "  - path: /cap\n    access: [read, execute, write]",
                    "landlock '/cap'", "grants write, but /cap is mounted read-only");
}

static void test_landlock_needs_a_rule(void **state)
{
        (void)state;
        {
                _cleanup_free_ char *doc = edit_section("landlock:\n", NULL, "landlock: []\n");
                expect_refused(doc, "landlock", "must list at least one rule");
        }
}

/* ---- names and files ---- */

static void test_name_checked(void **state)
{
        (void)state;
        refuse_edit("name: tiny", "name: ../x", "profile 'tiny': name: profile name '../x'", NULL);
        refuse_edit("name: tiny", "name: a/b", "name", "'/' is not allowed");
}

static void test_name_must_match_file(void **state)
{
        _cleanup_free_ char *path = path_in(state, "other.yaml");
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        write_file(path, tiny);
        assert_int_equal(profile_load_file(path, &p, &err), -1);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, "profile 'other'", "name",
                      "'tiny' does not match the file name 'other.yaml'");
}

static void test_file_must_be_named_yaml(void **state)
{
        _cleanup_free_ char *yml = path_in(state, "tiny.yml"), *hidden = path_in(state, ".tiny.yaml");
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        write_file(yml, tiny);
        assert_int_equal(profile_load_file(yml, &p, &err), -1);
        check_message(err, AGORA_ERR_USAGE, "profile file", "tiny.yml", "must be named NAME.yaml");
        write_file(hidden, tiny);
        assert_int_equal(profile_load_file(hidden, &p, &err), -1);
        check_message(err, AGORA_ERR_USAGE, "profile file", ".tiny.yaml", "must not start with '.'");
}

static void test_load_named_finds_file(void **state)
{
        _cleanup_free_ char *path = path_in(state, "tiny.yaml");
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_profile_ profile *p = NULL;

        write_file(path, tiny);
        if (profile_load_named(*state, "tiny", &p, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_string_equal(p->name, "tiny");
        assert_int_equal(p->limits.pids, 7);
}

static void test_load_named_refuses_escape(void **state)
{
        _cleanup_free_ char *dir = path_in(state, "profiles"), *outside = path_in(state, "etc.yaml");
        _cleanup_free_ char *sub = path_in(state, "profiles/sub"), *nested = path_in(state, "profiles/sub/etc.yaml");
        _cleanup_free_ char *doc = edit(tiny, "name: tiny", "name: etc");
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(mkdir(sub, 0700), 0);
        /* Valid profiles where a name with '/' would find them, so only the
         * name check stands between the call and the file. */
        write_file(outside, doc);
        write_file(nested, doc);
        assert_int_equal(profile_load_file(outside, &p, &err), 0);
        profile_free(p);
        p = NULL;

        assert_int_equal(profile_load_named(dir, "../etc", &p, &err), -1);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, "profile name '../etc'", "'../etc'", NULL);
        assert_int_equal(profile_load_named(dir, "sub/etc", &p, &err), -1);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, "profile name 'sub/etc'", "'/' is not allowed", NULL);
        assert_int_equal(profile_load_named(dir, "", &p, &err), -1);
        check_message(err, AGORA_ERR_USAGE, "profile name ''", "empty", NULL);
}

static void test_load_named_missing(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *want = NULL;
        profile *p = (profile *)&err;

        assert_int_equal(profile_load_named(*state, "nosuch", &p, &err), -1);
        assert_null(p);
        assert_true(asprintf(&want, "profile 'nosuch': not found in %s", (char *)*state) > 0);
        check_message(err, AGORA_ERR_NOTFOUND, "profile 'nosuch'", want, NULL);
}

/* "NAME:LINE:COL:" somewhere in MSG after PREFIX. */
static void assert_position(const char *msg, const char *prefix)
{
        const char *at = strstr(msg, prefix);
        unsigned line = 0, col = 0;
        char colon = 0;

        if (at == NULL)
                fail_msg("no \"%s\" in: %s", prefix, msg);
        if (sscanf(at + strlen(prefix), ":%u:%u%c", &line, &col, &colon) != 3 || colon != ':' || line == 0 || col == 0)
                fail_msg("no line and column after \"%s\" in: %s", prefix, msg);
}

static void test_malformed_yaml_buffer(void **state)
{
        static const char bad[] = "name: tiny\ntier: [3\nlimits:\n";
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        (void)state;
        assert_int_equal(profile_load_buffer(bad, strlen(bad), tiny_what, &p, &err), -1);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, tiny_what, tiny_what, NULL);
        assert_position(agora_error_message(err), tiny_what);
}

static void test_malformed_yaml_file(void **state)
{
        _cleanup_free_ char *path = path_in(state, "bad.yaml");
        _cleanup_error_ agora_error_t err = NULL;
        profile *p = NULL;

        write_file(path, "name: bad\nlimits:\n  memory: 5M\n pids: 7\n");
        assert_int_equal(profile_load_file(path, &p, &err), -1);
        assert_null(p);
        check_message(err, AGORA_ERR_USAGE, "profile 'bad': ", path, NULL);
        assert_position(agora_error_message(err), path);
}

/* ---- the rest of the API ---- */

static void test_default_dir(void **state)
{
        (void)state;
        assert_int_equal(setenv("AGORA_PROFILES", "/etc/agora/profiles", 1), 0);
        assert_string_equal(profile_default_dir(), "/etc/agora/profiles");
        assert_int_equal(setenv("AGORA_PROFILES", "", 1), 0);
        assert_string_equal(profile_default_dir(), AGORA_PROFILES_DIR);
        assert_int_equal(unsetenv("AGORA_PROFILES"), 0);
        assert_string_equal(profile_default_dir(), AGORA_PROFILES_DIR);
}

static void test_load_named_default_dir(void **state)
{
        _cleanup_free_ char *path = path_in(state, "tiny.yaml");
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_profile_ profile *p = NULL;

        assert_int_equal(setenv("AGORA_PROFILES", (char *)*state, 1), 0);
        write_file(path, tiny);
        if (profile_load_named(NULL, "tiny", &p, &err) < 0)
                fail_msg("%s", agora_error_message(err));
        assert_int_equal(unsetenv("AGORA_PROFILES"), 0);
        assert_string_equal(p->name, "tiny");
}

static void test_free_null(void **state)
{
        (void)state;
        profile_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_shipped_profile_loads),
                cmocka_unit_test(test_shipped_tiers_ordered),
                cmocka_unit_test(test_egress_is_default_plus_loopback),
                cmocka_unit_test(test_every_field_as_written),
                cmocka_unit_test(test_description_optional),
                cmocka_unit_test(test_description_one_line),
                cmocka_unit_test(test_unknown_key_top_level),
                cmocka_unit_test(test_unknown_key_nested),
                cmocka_unit_test(test_missing_required_key),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_bad_size),
                cmocka_unit_test(test_count_takes_no_suffix),
                cmocka_unit_test(test_ranges),
                cmocka_unit_test(test_range_message_quotes_bounds),
                cmocka_unit_test(test_bad_boolean),
                cmocka_unit_test(test_bad_loopback),
                cmocka_unit_test(test_hostile_value_quoted),
                cmocka_unit_test(test_host_path_not_normalised),
                cmocka_unit_test(test_host_path_forbidden),
                cmocka_unit_test(test_host_path_duplicate),
                cmocka_unit_test(test_no_host_paths_is_fine),
                cmocka_unit_test(test_unknown_access_word),
                cmocka_unit_test(test_access_empty_or_repeated),
                cmocka_unit_test(test_landlock_duplicate_path),
                cmocka_unit_test(test_landlock_path_checks),
                cmocka_unit_test(test_execute_on_cap_contradicts),
                cmocka_unit_test(test_execute_on_workspace_contradicts),
                cmocka_unit_test(test_exec_flag_without_rule_contradicts),
                cmocka_unit_test(test_write_on_readonly_contradicts),
                cmocka_unit_test(test_landlock_needs_a_rule),
                cmocka_unit_test(test_name_checked),
                cmocka_unit_test_setup_teardown(test_name_must_match_file, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_file_must_be_named_yaml, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_load_named_finds_file, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_load_named_refuses_escape, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_load_named_missing, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test(test_malformed_yaml_buffer),
                cmocka_unit_test_setup_teardown(test_malformed_yaml_file, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test(test_default_dir),
                cmocka_unit_test_setup_teardown(test_load_named_default_dir, setup_tmpdir, teardown_tmpdir),
                cmocka_unit_test(test_free_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
