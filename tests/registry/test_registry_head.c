/* SPDX-License-Identifier: Apache-2.0 */
/* registry_head_peek reads the head commit from the ref files as stock git
 * writes them, and refuses anything that is not a 40-digit commit id. */
#include "tests/registry/registry-test.h"

/* What stock git says the head is. */
static char *git_head(const fixture *f)
{
        int status;
        char *out = run(&status, "git -C '%s' rev-parse HEAD", f->path);

        assert_int_equal(status, 0);
        assert_int_equal(strlen(out), 41);
        out[40] = '\0';
        return out;
}

static void write_file(const fixture *f, const char *name, const char *text)
{
        _cleanup_free_ char *path = NULL;
        FILE *fp;

        assert_true(asprintf(&path, "%s/%s", f->path, name) > 0);
        fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
}

static void expect_refused(const fixture *f, const char *contains)
{
        _cleanup_error_ agora_error_t err = NULL;
        char out[41];

        assert_int_equal(registry_head_peek(f->path, out, &err), -1);
        assert_non_null(err);
        if (strstr(agora_error_message(err), contains) == NULL)
                fail_msg("'%s' lacks '%s'", agora_error_message(err), contains);
}

static void loose_ref_is_git_head(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *want = NULL;
        char out[41];

        put_capability(f->r, "one", "1");
        want = git_head(f);
        assert_int_equal(registry_head_peek(f->path, out, &err), 0);
        assert_string_equal(out, want);
}

static void packed_ref_is_git_head(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_free_ char *want = NULL, *ref = NULL, *loose = NULL;
        char out[41];
        int status;

        put_capability(f->r, "one", "1");
        put_capability(f->r, "two", "2");
        free(run(&status, "git -C '%s' pack-refs --all --prune", f->path));
        assert_int_equal(status, 0);
        /* Only packed-refs holds the branch now. */
        ref = run(&status, "git -C '%s' symbolic-ref HEAD", f->path);
        assert_int_equal(status, 0);
        ref[strcspn(ref, "\n")] = '\0';
        assert_true(asprintf(&loose, "%s/%s", f->path, ref) > 0);
        assert_int_equal(access(loose, F_OK), -1);
        want = git_head(f);
        assert_int_equal(registry_head_peek(f->path, out, &err), 0);
        assert_string_equal(out, want);
}

static void uppercase_or_short_commit_id_is_refused(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *head = NULL, *ref = NULL, *upper = NULL;
        int status;

        put_capability(f->r, "one", "1");
        head = git_head(f);
        ref = run(&status, "git -C '%s' symbolic-ref HEAD", f->path);
        assert_int_equal(status, 0);
        ref[strcspn(ref, "\n")] = '\0';

        upper = strdup(head);
        assert_non_null(upper);
        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        if (strcmp(upper, head) == 0)
                upper[0] = 'A'; /* a head of digits only: make one letter */
        write_file(f, ref, upper);
        expect_refused(f, "is not a commit id");

        head[39] = '\0';
        write_file(f, ref, head);
        expect_refused(f, "is not a commit id");

        write_file(f, ref, "not a commit at all, but long enough to fill forty\n");
        expect_refused(f, "is not a commit id");
}

static void detached_head_is_refused(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *head = NULL, *detached = NULL;

        put_capability(f->r, "one", "1");
        head = git_head(f);
        assert_true(asprintf(&detached, "%s\n", head) > 0);
        write_file(f, "HEAD", detached);
        expect_refused(f, "HEAD is not a branch");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(loose_ref_is_git_head, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(packed_ref_is_git_head, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(uppercase_or_short_commit_id_is_refused, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(detached_head_is_refused, fixture_setup, fixture_teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
