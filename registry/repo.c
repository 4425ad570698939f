/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry handle: library lifetime, creating and opening a registry,
 * the identity its commits carry, and the kinds of objects it holds.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "registry/registry-internal.h"

#define FALLBACK_NAME "agora operator"
#define FALLBACK_EMAIL "operator@localhost"

static const struct {
        const char *singular, *plural;
} kinds[REGISTRY_KIND_COUNT] = {
        [REGISTRY_CAPABILITY] = {"capability", "capabilities"},
        [REGISTRY_SUBAGENT] = {"subagent", "subagents"},
        [REGISTRY_ENV] = {"env", "envs"},
};

const char *registry_kind_name(registry_kind k)
{
        return (unsigned)k < REGISTRY_KIND_COUNT ? kinds[k].singular : "object";
}

const char *registry_kind_dir(registry_kind k)
{
        return (unsigned)k < REGISTRY_KIND_COUNT ? kinds[k].plural : "objects";
}

int registry_kind_parse(const char *s, registry_kind *ret, agora_error_t *err)
{
        for (unsigned k = 0; k < REGISTRY_KIND_COUNT; k++)
                if (s != NULL && (strcmp(s, kinds[k].singular) == 0 || strcmp(s, kinds[k].plural) == 0)) {
                        *ret = (registry_kind)k;
                        return 0;
                }
        return agora_error_set(err, AGORA_ERR_USAGE, "'%s': not a kind of object (want capability, subagent or env)",
                               s ? s : "");
}

int registry_git_error(agora_error_t *err, int code, const char *fmt, ...)
{
        /* Taken first: formatting the context may change errno. */
        int saved_errno = errno;
        const git_error *e = git_error_last();
        _cleanup_free_ char *ctx = NULL;
        const char *why;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&ctx, fmt, ap) < 0)
                ctx = NULL;
        va_end(ap);
        /* Some libgit2 failures (a write cut short by a full disk among them)
         * set no message; the errno behind them still says what happened,
         * where "git error" would send the operator looking in the wrong
         * place. */
        if (e != NULL && e->message != NULL && *e->message)
                why = e->message;
        else if (code == GIT_ENOTFOUND)
                why = "not found";
        else if (saved_errno != 0)
                why = strerror(saved_errno);
        else
                why = "git error";
        return agora_error_set(err, AGORA_ERR_FAILED, "%s: %s", ctx ? ctx : "registry", why);
}

int registry_commit_write(git_repository *repo, const git_signature *author, const git_signature *committer,
                          const char *message, const git_tree *tree, size_t n_parents, const git_commit *parents[],
                          git_oid *ret)
{
        _cleanup_git_(git_odb) git_odb *odb = NULL;
        git_buf buf = GIT_BUF_INIT;
        int rc;

        rc = git_commit_create_buffer(&buf, repo, author, committer, NULL, message, tree, n_parents, parents);
        if (rc == 0)
                rc = git_repository_odb(&odb, repo);
        if (rc == 0)
                rc = git_odb_write(ret, odb, buf.ptr, buf.size, GIT_OBJECT_COMMIT);
        git_buf_dispose(&buf);
        return rc;
}

static bool global_ready;

int registry_global_init(agora_error_t *err)
{
        if (global_ready)
                return 0;
        if (git_libgit2_init() < 0)
                return registry_git_error(err, -1, "libgit2");
        global_ready = true;
        /* libgit2 re-hashes every object it reads with collision-detecting
         * SHA-1 (about 1 s per 200 MB). Every read the registry returns is
         * already checked against its sha256 name, which is the hash agora
         * trusts, so the SHA-1 pass buys nothing but time. */
        git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
        /* A crash or power cut between writing objects and moving the branch
         * must leave either the old head or a complete new one. */
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        return 0;
}

void registry_global_shutdown(void)
{
        if (!global_ready)
                return;
        global_ready = false;
        git_libgit2_shutdown();
}

/* One of NAME (explicit), the environment variable, the config default, the fallback. */
static const char *pick(const char *explicit, const char *envvar, const char *config, const char *fallback)
{
        const char *e;

        if (explicit != NULL && *explicit)
                return explicit;
        e = getenv(envvar);
        if (e != NULL && *e)
                return e;
        if (config != NULL && *config)
                return config;
        return fallback;
}

int registry_signatures(git_repository *repo, const char *name, const char *email, git_signature **ret_author,
                        git_signature **ret_committer, agora_error_t *err)
{
        _cleanup_git_(git_signature) git_signature *config = NULL, *author = NULL, *committer = NULL;

        /* No user.name in the config is normal on a server: fall back quietly. */
        if (git_signature_default(&config, repo) < 0)
                config = NULL;
        if (git_signature_now(&author, pick(name, "GIT_AUTHOR_NAME", config ? config->name : NULL, FALLBACK_NAME),
                              pick(email, "GIT_AUTHOR_EMAIL", config ? config->email : NULL, FALLBACK_EMAIL)) < 0)
                return registry_git_error(err, -1, "commit author");
        if (git_signature_now(&committer, pick(name, "GIT_COMMITTER_NAME", config ? config->name : NULL, FALLBACK_NAME),
                              pick(email, "GIT_COMMITTER_EMAIL", config ? config->email : NULL, FALLBACK_EMAIL)) < 0)
                return registry_git_error(err, -1, "commit committer");
        *ret_author = take_ptr(author);
        *ret_committer = take_ptr(committer);
        return 0;
}

/* Refuse to turn a directory holding anything into a registry: an operator
 * who mistypes a path must not get their home directory initialised. */
int registry_init_check(const char *path, agora_error_t *err)
{
        DIR *d;
        struct dirent *de;
        bool empty = true;

        d = opendir(path);
        if (d == NULL) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ENOTDIR)
                        return agora_error_set(err, AGORA_ERR_EXISTS, "'%s': exists and is not a directory", path);
                return agora_error_set_errno(err, errno, "'%s': cannot open directory", path);
        }
        while ((de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        empty = false;
                        break;
                }
        closedir(d);
        if (!empty)
                return agora_error_set(err, AGORA_ERR_EXISTS, "'%s': not empty, refusing to create a registry there",
                                       path);
        return 0;
}

static int write_first_commit(const char *dir, const char *path, const char *author_name, const char *author_email,
                              agora_error_t *err)
{
        git_repository_init_options opts;
        _cleanup_git_(git_repository) git_repository *repo = NULL;
        _cleanup_git_(git_treebuilder) git_treebuilder *tb = NULL;
        _cleanup_git_(git_tree) git_tree *tree = NULL;
        _cleanup_git_(git_signature) git_signature *author = NULL, *committer = NULL;
        _cleanup_git_(git_reference) git_reference *ref = NULL;
        git_oid blob, tree_oid, commit;

        if (git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION) < 0)
                return registry_git_error(err, -1, "'%s': cannot create registry", path);
        /* Bare: there is no work tree that could drift from what is committed. */
        opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
        opts.initial_head = "main"; /* REGISTRY_BRANCH */
        opts.description = "agora registry";
        if (git_repository_init_ext(&repo, dir, &opts) < 0)
                return registry_git_error(err, -1, "'%s': cannot create registry", path);
        if (git_blob_create_from_buffer(&blob, repo, REGISTRY_MARKER_JSON, strlen(REGISTRY_MARKER_JSON)) < 0 ||
            git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, REGISTRY_MARKER, &blob, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tree_oid, tb) < 0 || git_tree_lookup(&tree, repo, &tree_oid) < 0)
                return registry_git_error(err, -1, "'%s': cannot write first tree", path);
        if (registry_signatures(repo, author_name, author_email, &author, &committer, err) < 0)
                return agora_error_wrap(err, "'%s'", path);
        if (registry_commit_write(repo, author, committer, "init registry\n", tree, 0, NULL, &commit) < 0 ||
            git_reference_create(&ref, repo, REGISTRY_BRANCH, &commit, 0, "init registry") < 0)
                return registry_git_error(err, -1, "'%s': cannot write first commit", path);
        return 0;
}

/* An init builds its registry in PARENT/.BASE.init-XXXXXX; one killed
 * before its rename leaves that directory behind. The next init of the same
 * path removes those old enough that no live init can still own them (an
 * init takes milliseconds). */
#define INIT_LEFTOVER_AGE_SECONDS 600

static void sweep_init_leftovers(const char *parent, const char *base)
{
        _cleanup_free_ char *prefix = NULL;
        DIR *d;
        struct dirent *de;
        time_t now = time(NULL);

        if (asprintf(&prefix, ".%s.init-", base) < 0)
                return;
        d = opendir(parent);
        if (d == NULL)
                return;
        while ((de = readdir(d)) != NULL) {
                _cleanup_free_ char *full = NULL;
                _cleanup_error_ agora_error_t ignored = NULL;
                struct stat st;

                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 || strlen(de->d_name) != strlen(prefix) + 6 ||
                    asprintf(&full, "%s/%s", parent, de->d_name) < 0)
                        continue;
                if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode) && now - st.st_mtime > INIT_LEFTOVER_AGE_SECONDS)
                        fs_remove_tree(full, &ignored);
        }
        closedir(d);
}

int registry_init(const char *path, const char *author_name, const char *author_email, agora_error_t *err)
{
        _cleanup_free_ char *copy = NULL, *tmp = NULL;
        _cleanup_error_ agora_error_t ignored = NULL;
        const char *parent, *base;
        char *slash;

        if (registry_global_init(err) < 0 || registry_init_check(path, err) < 0)
                return -1;
        copy = strdup(path);
        if (copy == NULL)
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
                copy[strlen(copy) - 1] = '\0';
        slash = strrchr(copy, '/');
        if (slash == NULL) {
                parent = ".";
                base = copy;
        } else {
                *slash = '\0';
                parent = slash == copy ? "/" : copy;
                base = slash + 1;
        }
        if (fs_mkdir_p(parent, 0755, err) < 0)
                return agora_error_wrap(err, "'%s'", path);
        sweep_init_leftovers(parent, base);
        if (asprintf(&tmp, "%s/.%s.init-XXXXXX", parent, base) < 0) {
                tmp = NULL;
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        }
        if (mkdtemp(tmp) == NULL)
                return agora_error_set_errno(err, errno, "'%s': cannot create directory", path);
        /* Built aside and renamed into place: rename(2) replaces an empty
         * directory atomically and refuses a non-empty one, so a crash or a
         * full disk leaves no half registry at PATH. */
        if (write_first_commit(tmp, path, author_name, author_email, err) < 0) {
                fs_remove_tree(tmp, &ignored);
                return -1;
        }
        if (chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
                int saved = errno;
                fs_remove_tree(tmp, &ignored);
                if (saved == ENOTEMPTY || saved == EEXIST)
                        return agora_error_set(err, AGORA_ERR_EXISTS,
                                               "'%s': not empty, refusing to create a registry there", path);
                return agora_error_set_errno(err, saved, "'%s': cannot move the new registry into place", path);
        }
        return 0;
}

static int not_ours(const char *path, agora_error_t *err)
{
        return agora_error_set(err, AGORA_ERR_FAILED, "'%s': not an agora registry (run agora init)", path);
}

static int has_object(const git_oid *id, void *payload)
{
        (void)id, (void)payload;
        return 1; /* one is enough: stop */
}

/* HEAD names a branch that does not exist. A repository with no objects at
 * all is a bare `git init`, never a registry; one with history has lost its
 * branch (deleted, or HEAD re-pointed), and saying "run agora init" there
 * would send the operator to destroy it. */
static int unborn_head(git_repository *repo, const char *path, agora_error_t *err)
{
        _cleanup_git_(git_reference) git_reference *head = NULL;
        _cleanup_git_(git_odb) git_odb *odb = NULL;
        const char *target;

        if (git_repository_odb(&odb, repo) == 0 && git_odb_foreach(odb, has_object, NULL) == 0)
                return not_ours(path, err);
        if (git_reference_lookup(&head, repo, "HEAD") < 0)
                return registry_git_error(err, -1, "'%s': cannot read HEAD", path);
        target = git_reference_symbolic_target(head);
        return agora_error_set(err, AGORA_ERR_FAILED, "'%s': branch '%s' does not exist (HEAD points at it)", path,
                               target ? target : "?");
}

/* The head tree must carry our marker with the one format we understand. */
static int check_marker(git_repository *repo, const char *path, agora_error_t *err)
{
        _cleanup_git_(git_reference) git_reference *head = NULL;
        _cleanup_git_(git_commit) git_commit *commit = NULL;
        _cleanup_git_(git_tree) git_tree *tree = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int rc;

        rc = git_repository_head(&head, repo);
        if (rc == GIT_EUNBORNBRANCH)
                return unborn_head(repo, path, err);
        if (rc < 0)
                return registry_git_error(err, rc, "'%s': cannot read HEAD", path);
        if (git_commit_lookup(&commit, repo, git_reference_target(head)) < 0 || git_commit_tree(&tree, commit) < 0)
                return registry_git_error(err, -1, "'%s': cannot read the commit HEAD points at", path);
        if (registry_tree_read(repo, tree, REGISTRY_MARKER, 4096, &buf, &len, NULL, NULL) < 0)
                return not_ours(path, err);
        if (len != strlen(REGISTRY_MARKER_JSON) || memcmp(buf, REGISTRY_MARKER_JSON, len) != 0)
                return not_ours(path, err);
        return 0;
}

/* PATH holds a git repository: bare (as agora makes them) or with .git. */
static bool looks_like_git(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return false;
        if (fstatat(fd, ".git", &st, 0) == 0)
                return true;
        return fstatat(fd, "HEAD", &st, 0) == 0 && S_ISREG(st.st_mode) && fstatat(fd, "objects", &st, 0) == 0 &&
               S_ISDIR(st.st_mode);
}

int registry_open(const char *path, registry **ret, agora_error_t *err)
{
        _cleanup_git_(git_repository) git_repository *repo = NULL;
        registry *r;
        struct stat st;
        int rc;

        if (registry_global_init(err) < 0)
                return -1;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return agora_error_set(err, AGORA_ERR_NOTFOUND, "'%s': no registry here (run agora init)",
                                               path);
                return agora_error_set_errno(err, errno, "'%s'", path);
        }
        /* NO_SEARCH: a registry path that happens to lie inside some other git
         * checkout must not silently open that checkout instead. */
        rc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
        /* Not a git repository at all: an empty or unrelated directory. */
        if (rc == GIT_ENOTFOUND && !looks_like_git(path))
                return not_ours(path, err);
        /* libgit2 1.5 refuses another user's repository (git's "dubious
         * ownership") with GIT_ENOTFOUND and a stray message about
         * safe.directory; say what newer libgit2 says. */
        if (rc == GIT_ENOTFOUND && st.st_uid != geteuid())
                return agora_error_set(err, AGORA_ERR_FAILED,
                                       "'%s': cannot open registry: repository path '%s' is not owned by current user",
                                       path, path);
        /* Anything else (another user's repository, which libgit2 refuses as
         * "not owned by current user"; an unreadable one; a broken HEAD) has
         * its own cause, which "run agora init" would only hide. */
        if (rc < 0)
                return registry_git_error(err, rc, "'%s': cannot open registry", path);
        if (check_marker(repo, path, err) < 0)
                return -1;
        r = calloc(1, sizeof(*r));
        if (r == NULL || (r->path = strdup(path)) == NULL) {
                free(r);
                return agora_error_set_errno(err, ENOMEM, "'%s'", path);
        }
        r->repo = take_ptr(repo);
        r->lock_timeout_ms = REGISTRY_DEFAULT_LOCK_TIMEOUT_MS;
        const char *env = getenv("AGORA_LOCK_TIMEOUT_MS");
        if (env != NULL && *env) {
                char *end;
                errno = 0;
                unsigned long ms = strtoul(env, &end, 10);
                if (errno == 0 && *end == '\0' && ms <= 24ul * 3600 * 1000)
                        r->lock_timeout_ms = (unsigned)ms;
        }
        *ret = r;
        return 0;
}

void registry_free(registry *r)
{
        if (r == NULL)
                return;
        git_repository_free(r->repo);
        free(r->path);
        free(r->name);
        free(r->email);
        free(r->keyid);
        free(r->blobs);
        free(r);
}

const char *registry_path(const registry *r)
{
        return r->path;
}

/* Identity strings go into commit headers and messages: a newline would let
 * them forge extra headers or trailers. */
static int identity_field(const char *what, const char *s, char **slot, agora_error_t *err)
{
        char *copy = NULL;

        if (s != NULL) {
                if (strpbrk(s, "\n\r<>") != NULL)
                        return agora_error_set(err, AGORA_ERR_USAGE,
                                               "operator %s '%s': must not contain newlines or <>", what, s);
                copy = strdup(s);
                if (copy == NULL)
                        return agora_error_set_errno(err, ENOMEM, "operator %s", what);
        }
        free(*slot);
        *slot = copy;
        return 0;
}

int registry_set_identity(registry *r, const char *name, const char *email, const char *keyid, agora_error_t *err)
{
        if (identity_field("name", name, &r->name, err) < 0 || identity_field("email", email, &r->email, err) < 0 ||
            identity_field("key id", keyid, &r->keyid, err) < 0)
                return -1;
        return 0;
}

void registry_set_lock_timeout(registry *r, unsigned milliseconds)
{
        r->lock_timeout_ms = milliseconds;
}

int registry_blobmap_add(registry *r, const agora_hash *h, const git_oid *oid, agora_error_t *err)
{
        if (registry_blobmap_find(r, h) != NULL)
                return 0;
        if (r->n_blobs == r->cap_blobs) {
                size_t cap = r->cap_blobs ? 2 * r->cap_blobs : 8;
                registry_blob_ref *b = reallocarray(r->blobs, cap, sizeof(*b));
                if (b == NULL)
                        return agora_error_set_errno(err, ENOMEM, "blob map");
                r->blobs = b;
                r->cap_blobs = cap;
        }
        r->blobs[r->n_blobs].sha256 = *h;
        git_oid_cpy(&r->blobs[r->n_blobs].oid, oid);
        r->n_blobs++;
        return 0;
}

const git_oid *registry_blobmap_find(const registry *r, const agora_hash *h)
{
        for (size_t i = 0; i < r->n_blobs; i++)
                if (agora_hash_equal(&r->blobs[i].sha256, h))
                        return &r->blobs[i].oid;
        return NULL;
}
