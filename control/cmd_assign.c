/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora assign|unassign SUBAGENT CAPABILITY…: change which capabilities a
 * subagent gets, all in one commit, or not at all.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/name.h"
#include "control/cli.h"
#include "registry/objects.h"

static const char usage_assign[] = "usage: agora assign SUBAGENT CAPABILITY…\n"
                                   "\n"
                                   "Give the registered subagent SUBAGENT the registered capabilities named,\n"
                                   "in one commit. Prints the subagent definition's new content hash.\n"
                                   "\n"
                                   "  --help  print this help\n";

static const char usage_unassign[] = "usage: agora unassign SUBAGENT CAPABILITY…\n"
                                     "\n"
                                     "Take the capabilities named from the subagent SUBAGENT, in one commit; each\n"
                                     "must be assigned to it. Prints the subagent definition's new content hash.\n"
                                     "\n"
                                     "  --help  print this help\n";

/* "VERB SUBAGENT: cap1, cap2" */
static char *commit_message(const char *verb, const char *subagent, char **caps, int n)
{
        size_t len = strlen(verb) + strlen(subagent) + 3;
        char *msg, *p;

        for (int i = 0; i < n; i++)
                len += strlen(caps[i]) + 2;
        msg = malloc(len + 1);
        if (msg == NULL)
                return NULL;
        p = msg + sprintf(msg, "%s %s:", verb, subagent);
        for (int i = 0; i < n; i++)
                p += sprintf(p, "%s %s", i > 0 ? "," : "", caps[i]);
        return msg;
}

static int change(cli_ctx *ctx, int argc, char **argv, bool assign, agora_error_t *err)
{
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *verb = assign ? "assign" : "unassign";
        _cleanup_txn_ registry_txn *t = NULL;
        _cleanup_json_ json_t *def = NULL;
        _cleanup_free_ char *message = NULL;
        registry_view *view;
        const char *subagent;
        char **caps;
        int c, n;

        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                if (c == 'h')
                        return cli_help(assign ? usage_assign : usage_unassign);
                return cli_option_error(ctx, verb, c, argv, err);
        }
        if (argc - optind < 2)
                return cli_usage(ctx, verb, err, "needs SUBAGENT and at least one CAPABILITY");
        subagent = argv[optind];
        caps = argv + optind + 1;
        n = argc - optind - 1;
        if (agora_name_check("subagent", subagent, err) < 0)
                return -1;
        for (int i = 0; i < n; i++) {
                if (agora_name_check("capability", caps[i], err) < 0)
                        return -1;
                /* Most likely a typo for another name: say so rather than
                 * guess (unassign would otherwise fail on the second one). */
                for (int j = 0; j < i; j++)
                        if (strcmp(caps[i], caps[j]) == 0)
                                return cli_usage(ctx, verb, err, "capability '%s' given twice", caps[i]);
        }
        message = commit_message(verb, subagent, caps, n);
        if (message == NULL)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", subagent);

        /* Read and change the definition under the lock, so that two
         * concurrent assigns cannot lose each other's capability. */
        if (cli_need_registry(ctx, verb, err) < 0)
                return -1;
        if (registry_begin(ctx->reg, &t, err) < 0)
                return -1;
        view = registry_txn_view(t);
        if (registry_view_get(view, REGISTRY_SUBAGENT, subagent, &def, NULL, err) < 0) {
                if (*err != NULL && (*err)->kind == AGORA_ERR_NOTFOUND)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND, "subagent '%s': not registered", subagent);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                if (assign) {
                        if (registry_view_get(view, REGISTRY_CAPABILITY, caps[i], NULL, NULL, err) < 0) {
                                if (*err != NULL && (*err)->kind == AGORA_ERR_NOTFOUND)
                                        return agora_error_set(err, AGORA_ERR_NOTFOUND,
                                                               "subagent '%s': capability '%s': not registered",
                                                               subagent, caps[i]);
                                return agora_error_wrap(err, "subagent '%s'", subagent);
                        }
                        if (objects_subagent_add_capability(def, caps[i], err) < 0)
                                return -1;
                } else if (objects_subagent_remove_capability(def, caps[i], err) < 0) {
                        return -1;
                }
        }
        return cli_put_commit_print(ctx, t, REGISTRY_SUBAGENT, subagent, def, message,
                                    assign ? "assigned capabilities to" : "unassigned capabilities from", err);
}

int cmd_assign(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        return change(ctx, argc, argv, true, err);
}

int cmd_unassign(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        return change(ctx, argc, argv, false, err);
}
