/* SPDX-License-Identifier: Apache-2.0 */
/* Creating and opening registries, as an operator and stock git see them. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include "tests/registry/registry-test.h"

static void init_creates_bare_repo_with_marker_commit(void **state)
{
        fixture *f = *state;
        int status;
        _cleanup_free_ char *bare = run(&status, "git -C %s rev-parse --is-bare-repository", f->path);
        _cleanup_free_ char *log = run(&status, "git -C %s log --format=%%s", f->path);
        _cleanup_free_ char *marker = run(&status, "git -C %s show HEAD:agora-registry.json", f->path);
        _cleanup_free_ char *branch = run(&status, "git -C %s symbolic-ref HEAD", f->path);

        assert_string_equal(bare, "true\n");
        assert_string_equal(log, "init registry\n");
        assert_string_equal(marker, "{\"format\":1}");
        assert_string_equal(branch, "refs/heads/main\n");
}

static void init_uses_env_identity(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *who = run(NULL, "git -C %s log -1 --format='%%an <%%ae>|%%cn <%%ce>'", f->path);

        assert_string_equal(who, "Test Author <author@example.test>|Test Committer <committer@example.test>\n");
}

/* A killed init leaves .NAME.init-XXXXXX beside the registry; the next init
 * of that path removes it once it is old, and leaves a fresh one (another
 * init may be building there right now) and unrelated names alone. */
static void init_sweeps_old_leftovers_of_killed_inits(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *reg = NULL, *old = NULL, *fresh = NULL, *other = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        struct timespec hour_ago[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};

        assert_true(asprintf(&reg, "%s/swept", f->dir) > 0 && asprintf(&old, "%s/.swept.init-AbC123", f->dir) > 0 &&
                    asprintf(&fresh, "%s/.swept.init-XyZ789", f->dir) > 0 &&
                    asprintf(&other, "%s/.other.init-AbC123", f->dir) > 0);
        assert_int_equal(mkdir(old, 0700), 0);
        assert_int_equal(mkdir(fresh, 0700), 0);
        assert_int_equal(mkdir(other, 0700), 0);
        assert_int_equal(utimensat(AT_FDCWD, old, hour_ago, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, other, hour_ago, 0), 0);

        assert_int_equal(registry_init(reg, NULL, NULL, &err), 0);
        assert_int_equal(access(old, F_OK), -1);
        assert_int_equal(access(fresh, F_OK), 0);
        assert_int_equal(access(other, F_OK), 0);
}

static void init_refuses_non_empty_dir(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *dir = NULL, *file = NULL;
        _cleanup_error_ agora_error_t err = NULL;

        assert_true(asprintf(&dir, "%s/full", f->dir) > 0 && asprintf(&file, "%s/full/notes.txt", f->dir) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        FILE *fp = fopen(file, "w");
        assert_non_null(fp);
        fclose(fp);

        assert_int_equal(registry_init(dir, NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_EXISTS);
        assert_non_null(strstr(err->msg, "not empty, refusing to create a registry there"));
        assert_non_null(strstr(err->msg, dir));
        assert_int_equal(access(file, F_OK), 0);
}

static void init_accepts_existing_empty_dir(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *dir = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        registry *r = NULL;

        assert_true(asprintf(&dir, "%s/empty", f->dir) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(registry_init(dir, "Init Person", "init@example.test", &err), 0);
        assert_int_equal(registry_open(dir, &r, &err), 0);
        registry_free(r);
        _cleanup_free_ char *who = run(NULL, "git -C %s log -1 --format='%%an <%%ae>'", dir);
        assert_string_equal(who, "Init Person <init@example.test>\n");
}

static void open_missing_dir_is_notfound(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *dir = NULL;
        _cleanup_error_ agora_error_t err = NULL;
        registry *r = NULL;

        assert_true(asprintf(&dir, "%s/nothing-here", f->dir) > 0);
        assert_int_equal(registry_open(dir, &r, &err), -1);
        assert_null(r);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_non_null(strstr(err->msg, "no registry here (run agora init)"));
        assert_non_null(strstr(err->msg, dir));
}

static void open_plain_dir_is_not_a_registry(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry *r = NULL;

        assert_int_equal(registry_open(f->dir, &r, &err), -1);
        assert_non_null(strstr(err->msg, "not an agora registry (run agora init)"));
}

static void open_other_git_repo_is_not_a_registry(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        int status;
        registry *r = NULL;
        _cleanup_free_ char *out = run(&status,
                                       "cd %s && git init -q other && cd other && echo hi > f && git add f && "
                                       "git commit -qm first",
                                       f->dir);
        _cleanup_free_ char *other = NULL;

        assert_int_equal(status, 0);
        assert_true(asprintf(&other, "%s/other", f->dir) > 0);
        assert_int_equal(registry_open(other, &r, &err), -1);
        assert_non_null(strstr(err->msg, "not an agora registry (run agora init)"));
}

/* Open F's registry after running SHELL (with %1$s the registry's path)
 * and expect the error WANT, where %1$s again stands for the path. */
static void expect_open_error(fixture *f, const char *shell, const char *want_fmt)
{
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *want = NULL;
        registry *r = NULL;
        int status;

        free(run(&status, shell, f->path));
        assert_int_equal(status, 0);
        assert_true(asprintf(&want, want_fmt, f->path) > 0);
        assert_int_equal(registry_open(f->path, &r, &err), -1);
        assert_null(r);
        assert_string_equal(err->msg, want);
}

static void open_with_branch_deleted_names_it(void **state)
{
        expect_open_error(*state, "git -C %1$s update-ref -d refs/heads/main",
                          "'%1$s': branch 'refs/heads/main' does not exist (HEAD points at it)");
}

static void open_with_head_at_missing_branch_names_it(void **state)
{
        expect_open_error(*state, "git -C %1$s symbolic-ref HEAD refs/heads/elsewhere",
                          "'%1$s': branch 'refs/heads/elsewhere' does not exist (HEAD points at it)");
}

static void open_empty_git_repo_is_not_a_registry(void **state)
{
        expect_open_error(*state, "rm -rf %1$s && git init -q --bare %1$s",
                          "'%1$s': not an agora registry (run agora init)");
}

/* A detached HEAD is still readable: only writes need a branch. */
static void open_with_detached_head_reads(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry *r = NULL;
        registry_view *v = NULL;
        int status;

        free(run(&status, "git -C %s update-ref --no-deref HEAD HEAD", f->path));
        assert_int_equal(status, 0);
        assert_int_equal(registry_open(f->path, &r, &err), 0);
        assert_int_equal(registry_view_open(r, NULL, &v, &err), 0);
        registry_view_free(v);
        registry_free(r);
}

static void kind_parse_accepts_singular_and_plural(void **state)
{
        static const struct {
                const char *word;
                registry_kind kind;
        } cases[] = {
                {"capability", REGISTRY_CAPABILITY},
                {"capabilities", REGISTRY_CAPABILITY},
                {"subagent", REGISTRY_SUBAGENT},
                {"subagents", REGISTRY_SUBAGENT},
                {"env", REGISTRY_ENV},
                {"envs", REGISTRY_ENV},
        };
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                agora_error_t err = NULL;
                registry_kind k = REGISTRY_KIND_COUNT;
                assert_int_equal(registry_kind_parse(cases[i].word, &k, &err), 0);
                assert_int_equal(k, cases[i].kind);
        }
        assert_string_equal(registry_kind_name(REGISTRY_SUBAGENT), "subagent");
}

static void kind_parse_rejects_other_words(void **state)
{
        _cleanup_error_ agora_error_t err = NULL;
        registry_kind k;
        (void)state;

        assert_int_equal(registry_kind_parse("capabilitys", &k, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_non_null(strstr(err->msg, "'capabilitys'"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(init_creates_bare_repo_with_marker_commit, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(init_uses_env_identity, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(init_refuses_non_empty_dir, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(init_sweeps_old_leftovers_of_killed_inits, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(init_accepts_existing_empty_dir, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_missing_dir_is_notfound, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_plain_dir_is_not_a_registry, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_other_git_repo_is_not_a_registry, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_with_branch_deleted_names_it, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_with_head_at_missing_branch_names_it, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(open_empty_git_repo_is_not_a_registry, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(open_with_detached_head_reads, fixture_setup, fixture_teardown),
                cmocka_unit_test(kind_parse_accepts_singular_and_plural),
                cmocka_unit_test(kind_parse_rejects_other_words),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
