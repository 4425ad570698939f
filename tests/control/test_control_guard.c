/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A verb that needs the registry, run without one (as main does for a
 * trailing --help, or as a getopt stopping early could lead to), returns an
 * error naming the verb instead of dereferencing NULL.
 */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "control/cli.h"

/* Run the verb NAME with ARGV (NULL-terminated, ARGV[0] the verb) and a
 * context that was never set up; return its status and error message. */
static int run_bare(const char *name, char **argv, char *msg, size_t len)
{
        _cleanup_error_ agora_error_t err = NULL;
        const cli_command *c = cli_command_find(name);
        cli_ctx ctx = {0};
        int argc = 0, r;

        assert_non_null(c);
        assert_true(c->flags & CMD_NEEDS_REGISTRY);
        while (argv[argc] != NULL)
                argc++;
        ctx.cmd = c;
        optind = 0;
        r = c->fn(&ctx, argc, argv, &err);
        snprintf(msg, len, "%s", err != NULL ? agora_error_message(err) : "");
        cli_ctx_release(&ctx);
        return r;
}

static void expect_guarded(const char *name, char **argv, const char *want)
{
        char msg[256];

        assert_int_equal(run_bare(name, argv, msg, sizeof(msg)), -1);
        assert_string_equal(msg, want);
}

static void test_read_verbs_refuse_without_registry(void **state)
{
        (void)state;
        char *verify[] = {"verify", NULL};
        char *list[] = {"list", NULL};
        char *show[] = {"show", "env", "e", NULL};
        char *log[] = {"log", NULL};
        char *resolve[] = {"resolve", "s", "--env", "e", NULL};

        expect_guarded("verify", verify, "verify: no registry is open (internal error)");
        expect_guarded("list", list, "list: no registry is open (internal error)");
        expect_guarded("show", show, "show: no registry is open (internal error)");
        expect_guarded("log", log, "log: no registry is open (internal error)");
        expect_guarded("resolve", resolve, "resolve: no registry is open (internal error)");
}

static void test_mutating_verbs_refuse_without_registry(void **state)
{
        (void)state;
        char *env[] = {"register", "env", "e", "A=1", NULL};
        char *subagent[] = {"register", "subagent", "s", "--entrypoint", "-h", NULL};
        char *capability[] = {"register", "capability", "c", ".", NULL};
        char *assign[] = {"assign", "s", "c", NULL};
        char *unassign[] = {"unassign", "s", "c", NULL};

        expect_guarded("register", env, "register env: no registry is open (internal error)");
        expect_guarded("register", subagent, "register subagent: no registry is open (internal error)");
        expect_guarded("register", capability, "register capability: no registry is open (internal error)");
        expect_guarded("assign", assign, "assign: no registry is open (internal error)");
        expect_guarded("unassign", unassign, "unassign: no registry is open (internal error)");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read_verbs_refuse_without_registry),
                cmocka_unit_test(test_mutating_verbs_refuse_without_registry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
