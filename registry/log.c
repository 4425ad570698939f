/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry's history, newest first: every change an operator made, with
 * who made it and why, straight from the git commits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "registry/registry-internal.h"

int registry_log(registry *r, unsigned max, registry_log_fn fn, void *ctx, agora_error_t *err)
{
        _cleanup_git_(git_revwalk) git_revwalk *walk = NULL;
        git_oid oid;
        unsigned seen = 0;
        int rc;

        if (git_revwalk_new(&walk, r->repo) < 0 ||
            git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 || git_revwalk_push_head(walk) < 0)
                return registry_git_error(err, -1, "registry '%s': cannot walk history", r->path);
        /* Topological as well as by time: commits made within one second must
         * still list child before parent. */
        while ((max == 0 || seen < max) && (rc = git_revwalk_next(&oid, walk)) == 0) {
                _cleanup_git_(git_commit) git_commit *c = NULL;
                _cleanup_free_ char *author = NULL;
                registry_log_entry e = {0};
                const git_signature *sig;

                if (git_commit_lookup(&c, r->repo, &oid) < 0)
                        return registry_git_error(err, -1, "registry '%s': commit %s", r->path, git_oid_tostr_s(&oid));
                sig = git_commit_author(c);
                if (asprintf(&author, "%s <%s>", sig->name, sig->email) < 0)
                        return agora_error_set_errno(err, ENOMEM, "registry '%s': log", r->path);
                git_oid_tostr(e.commit, sizeof(e.commit), &oid);
                e.time = (int64_t)git_commit_time(c);
                e.author = author;
                e.summary = git_commit_summary(c);
                if (e.summary == NULL)
                        e.summary = "";
                seen++;
                /* The callback may stop the walk (a pager closed, say) by
                 * returning nonzero; that is not an error of ours. */
                if (fn(ctx, &e) != 0)
                        return 0;
        }
        if (rc < 0 && rc != GIT_ITEROVER && (max == 0 || seen < max))
                return registry_git_error(err, rc, "registry '%s': cannot walk history", r->path);
        return 0;
}
