/* SPDX-License-Identifier: Apache-2.0 */
/* Mutations: what ends up in git, one commit each, and reading it back. */
#include "tests/registry/registry-test.h"

/* sha256 and git blob id of "hello\n", from sha256sum and git hash-object. */
#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define HELLO_GIT "ce013625030ba8dba906f756967f9e9ca394464a"
#define ECHO_CAP_JSON                                                                                               \
        "{\"contentHash\":\"sha256:" HELLO_SHA256 "\",\"entries\":1,\"kind\":\"capability\",\"name\":\"echo-cap\"," \
        "\"size\":6}"

static void put_get_round_trip(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def = NULL;
        registry_view *v = NULL;
        agora_hash h, def_hash, want_def_hash;

        h = put_capability(f->r, "echo-cap", "hello\n");
        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_CAPABILITY, "echo-cap", &def, &def_hash, &err), 0);
        assert_string_equal(json_string_value(json_object_get(def, "contentHash")), "sha256:" HELLO_SHA256);
        assert_int_equal(json_integer_value(json_object_get(def, "size")), 6);
        agora_hash_buffer(ECHO_CAP_JSON, strlen(ECHO_CAP_JSON), &want_def_hash);
        assert_true(agora_hash_equal(&def_hash, &want_def_hash));

        void *data = NULL;
        size_t len = 0;
        assert_int_equal(registry_view_blob(v, &h, "capability 'echo-cap'", &data, &len, &err), 0);
        assert_int_equal(len, 6);
        assert_memory_equal(data, "hello\n", 6);
        free(data);
        registry_view_free(v);
}

static void definition_is_canonical_json_in_git(void **state)
{
        fixture *f = *state;

        put_capability(f->r, "echo-cap", "hello\n");
        _cleanup_free_ char *shown = run(NULL, "git -C %s show HEAD:capabilities/echo-cap.json", f->path);
        _cleanup_free_ char *blob = run(NULL, "git -C %s rev-parse HEAD:blobs/sha256/" HELLO_SHA256, f->path);
        assert_string_equal(shown, ECHO_CAP_JSON);
        assert_string_equal(blob, HELLO_GIT "\n");
}

static void each_mutation_is_one_commit_with_trailer(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;

        assert_int_equal(registry_set_identity(f->r, "Alice Operator", "alice@example.test", "ABCDEF0123456789", &err),
                         0);
        put_capability(f->r, "echo-cap", "hello\n");
        put_commit(f->r, REGISTRY_ENV, "prod", objects_env_new("prod"), "add env prod");

        _cleanup_free_ char *log = run(NULL, "git -C %s log --format=%%s", f->path);
        _cleanup_free_ char *body = run(NULL, "git -C %s log -1 --format=%%B", f->path);
        _cleanup_free_ char *trailer =
                run(NULL, "git -C %s log -1 --format='%%(trailers:key=Operator-Key,valueonly)'", f->path);
        _cleanup_free_ char *who = run(NULL, "git -C %s log -1 --format='%%an <%%ae>'", f->path);
        _cleanup_free_ char *parents = run(NULL, "git -C %s rev-list --parents -1 HEAD | wc -w", f->path);
        assert_string_equal(log, "add env prod\nregister capability\ninit registry\n");
        assert_string_equal(body, "add env prod\n\nOperator-Key: ABCDEF0123456789\n\n");
        assert_string_equal(trailer, "ABCDEF0123456789\n\n");
        assert_string_equal(who, "Alice Operator <alice@example.test>\n");
        assert_string_equal(parents, "2\n");
}

static void unchanged_tree_makes_no_commit(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL;

        put_capability(f->r, "echo-cap", "hello\n");
        before = run(NULL, "git -C %s rev-parse HEAD", f->path);
        agora_hash h;
        agora_hash_parse("sha256:" HELLO_SHA256, &h, NULL);
        assert_int_equal(put_commit(f->r, REGISTRY_CAPABILITY, "echo-cap", objects_capability_new("echo-cap", &h, 6, 1),
                                    "register again"),
                         0);
        after = run(NULL, "git -C %s rev-parse HEAD", f->path);
        assert_string_equal(before, after);
}

static void list_is_sorted_by_name(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_strv_ char **names = NULL;
        registry_view *v = NULL;
        registry_txn *t = NULL;

        /* "a-b" sorts before "a" in git's tree order ("a-b.json" < "a.json"). */
        static const char *const order[] = {"zeta", "a-b", "a", "M"};
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
                _cleanup_json_ json_t *env = objects_env_new(order[i]);
                assert_int_equal(registry_txn_put(t, REGISTRY_ENV, order[i], env, &err), 0);
        }
        assert_int_equal(registry_txn_commit(t, "add envs", NULL, NULL, &err), 0);
        registry_txn_free(t);

        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_list(v, REGISTRY_ENV, &names, &err), 0);
        assert_string_equal(names[0], "M");
        assert_string_equal(names[1], "a");
        assert_string_equal(names[2], "a-b");
        assert_string_equal(names[3], "zeta");
        assert_null(names[4]);
        registry_view_free(v);
}

static void list_of_empty_kind_is_empty(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_strv_ char **names = NULL;
        registry_view *v = NULL;

        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_list(v, REGISTRY_SUBAGENT, &names, &err), 0);
        assert_null(names[0]);
        registry_view_free(v);
}

static void removing_capability_drops_its_blob_from_tree(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_txn *t = NULL;
        int changed = -1, status;

        put_capability(f->r, "echo-cap", "hello\n");
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_remove(t, REGISTRY_CAPABILITY, "echo-cap", &err), 0);
        assert_int_equal(registry_txn_commit(t, "remove echo-cap", &changed, NULL, &err), 0);
        registry_txn_free(t);
        assert_int_equal(changed, 1);

        _cleanup_free_ char *tree = run(NULL, "git -C %s ls-tree -r --name-only HEAD", f->path);
        _cleanup_free_ char *old = run(&status, "git -C %s cat-file -t HEAD~1:blobs/sha256/" HELLO_SHA256, f->path);
        assert_string_equal(tree, "agora-registry.json\n");
        assert_string_equal(old, "blob\n"); /* history keeps it */
}

static void replacing_capability_blob_drops_old_one(void **state)
{
        fixture *f = *state;
        agora_hash second;
        char hex[AGORA_HASH_HEX_LEN + 1];

        put_capability(f->r, "echo-cap", "hello\n");
        second = put_capability(f->r, "echo-cap", "hello again\n");
        hex_of(&second, hex);
        _cleanup_free_ char *blobs = run(NULL, "git -C %s ls-tree --name-only HEAD blobs/sha256/", f->path);
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&want, "blobs/sha256/%s\n", hex) > 0);
        assert_string_equal(blobs, want);
}

static void get_missing_is_notfound(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;

        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_SUBAGENT, "ghost", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg, "subagent 'ghost': not registered");
        registry_view_free(v);
}

static void get_refuses_path_like_name(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_view *v = NULL;

        assert_int_equal(registry_view_open(f->r, NULL, &v, &err), 0);
        assert_int_equal(registry_view_get(v, REGISTRY_CAPABILITY, "../agora-registry", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        registry_view_free(v);
}

static void put_capability_without_stored_blob_fails(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def = NULL;
        registry_txn *t = NULL;
        agora_hash h;

        agora_hash_parse("sha256:" HELLO_SHA256, &h, NULL);
        def = objects_capability_new("echo-cap", &h, 6, 1);
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_CAPABILITY, "echo-cap", def, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_NOTFOUND);
        assert_string_equal(err->msg,
                            "capability 'echo-cap': blob sha256:" HELLO_SHA256 ": not stored in the registry");
        registry_txn_free(t);
}

static void subagent_naming_missing_capability_is_refused(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *def = objects_subagent_new("coder", "/bin/agent", NULL);
        registry_txn *t = NULL;

        assert_int_equal(objects_subagent_add_capability(def, "ghost-cap", &err), 0);
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_SUBAGENT, "coder", def, &err), -1);
        assert_string_equal(err->msg, "subagent 'coder': capability 'ghost-cap': not registered");
        registry_txn_free(t);
}

static void capability_in_use_cannot_be_removed(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        json_t *def = objects_subagent_new("coder", "/bin/agent", NULL);
        registry_txn *t = NULL;

        put_capability(f->r, "echo-cap", "hello\n");
        assert_int_equal(objects_subagent_add_capability(def, "echo-cap", &err), 0);
        put_commit(f->r, REGISTRY_SUBAGENT, "coder", def, "add coder");
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_remove(t, REGISTRY_CAPABILITY, "echo-cap", &err), -1);
        assert_string_equal(err->msg, "capability 'echo-cap': still used by subagent 'coder'");
        registry_txn_free(t);
}

static void txn_view_shows_staged_state(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("staging");
        registry_txn *t = NULL;

        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_ENV, "staging", env, &err), 0);
        assert_int_equal(registry_view_get(registry_txn_view(t), REGISTRY_ENV, "staging", NULL, NULL, &err), 0);
        registry_txn_free(t); /* abandoned: nothing committed */
        _cleanup_free_ char *log = run(NULL, "git -C %s log --format=%%s", f->path);
        assert_string_equal(log, "init registry\n");
}

typedef struct log_capture {
        char summaries[8][64];
        char authors[8][64];
        unsigned n;
} log_capture;

static int capture(void *ctx, const registry_log_entry *e)
{
        log_capture *c = ctx;
        snprintf(c->summaries[c->n], sizeof(c->summaries[0]), "%s", e->summary);
        snprintf(c->authors[c->n], sizeof(c->authors[0]), "%s", e->author);
        c->n++;
        return 0;
}

static void log_is_newest_first_with_author(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        log_capture c = {0};

        put_commit(f->r, REGISTRY_ENV, "one", objects_env_new("one"), "first change\n\nwith a body");
        put_commit(f->r, REGISTRY_ENV, "two", objects_env_new("two"), "second change");
        assert_int_equal(registry_log(f->r, 0, capture, &c, &err), 0);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.summaries[0], "second change");
        assert_string_equal(c.summaries[1], "first change");
        assert_string_equal(c.summaries[2], "init registry");
        assert_string_equal(c.authors[0], "Test Author <author@example.test>");

        memset(&c, 0, sizeof(c));
        assert_int_equal(registry_log(f->r, 1, capture, &c, &err), 0);
        assert_int_equal(c.n, 1);
}

static void commit_needs_a_message(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("x");
        registry_txn *t = NULL;

        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_ENV, "x", env, &err), 0);
        assert_int_equal(registry_txn_commit(t, "", NULL, NULL, &err), -1);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        registry_txn_free(t);
}

/* Every reader refuses a definition over REGISTRY_DEF_MAX (1 MiB): one must
 * never be committed, nor even written to the object store. */
static void oversized_definition_is_refused_before_writing(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        _cleanup_json_ json_t *env = objects_env_new("big");
        _cleanup_free_ char *value = malloc(1100001);
        registry_txn *t = NULL;

        assert_non_null(value);
        memset(value, 'x', 1100000);
        value[1100000] = '\0';
        assert_int_equal(objects_env_set_value(env, "V", value, &err), 0);
        _cleanup_free_ char *before = run(NULL, "find %s/objects -type f | wc -l", f->path);
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        assert_int_equal(registry_txn_put(t, REGISTRY_ENV, "big", env, &err), -1);
        registry_txn_free(t);
        assert_int_equal(err->kind, AGORA_ERR_USAGE);
        assert_string_equal(err->msg, "env 'big': definition is 1100058 bytes, more than the 1048576 allowed");
        _cleanup_free_ char *after = run(NULL, "find %s/objects -type f | wc -l", f->path);
        assert_string_equal(after, before);
}

/* Temp object files of a killed writer are removed by the next mutation;
 * those a live writer may still be filling (recent mtime) are kept. */
static void begin_sweeps_stale_temp_objects(void **state)
{
        fixture *f = *state;
        _cleanup_error_ agora_error_t err = NULL;
        registry_txn *t = NULL;
        int status;

        free(run(&status,
                 "cd %s/objects && mkdir -p ab && touch tmp_object_git2_old ab/tmp_obj_old tmp_object_git2_new "
                 "ab/tmp_obj_new ab/keep_old && touch -d '1 hour ago' tmp_object_git2_old ab/tmp_obj_old ab/keep_old",
                 f->path));
        assert_int_equal(status, 0);
        assert_int_equal(registry_begin(f->r, &t, &err), 0);
        registry_txn_free(t);
        /* Only the planted names: objects/ab/ may also hold a real object
         * of the registry (any hash starting with "ab", one in 256). */
        _cleanup_free_ char *left = run(NULL, "cd %s/objects && ls -d tmp_* ab/tmp_* ab/keep_*", f->path);
        assert_string_equal(left, "ab/keep_old\nab/tmp_obj_new\ntmp_object_git2_new\n");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
int main(void)
{
        const struct CMUnitTest tests[] = {
                T(put_get_round_trip),
                T(definition_is_canonical_json_in_git),
                T(each_mutation_is_one_commit_with_trailer),
                T(unchanged_tree_makes_no_commit),
                T(list_is_sorted_by_name),
                T(list_of_empty_kind_is_empty),
                T(removing_capability_drops_its_blob_from_tree),
                T(replacing_capability_blob_drops_old_one),
                T(get_missing_is_notfound),
                T(get_refuses_path_like_name),
                T(put_capability_without_stored_blob_fails),
                T(subagent_naming_missing_capability_is_refused),
                T(capability_in_use_cannot_be_removed),
                T(txn_view_shows_staged_state),
                T(log_is_newest_first_with_author),
                T(commit_needs_a_message),
                T(oversized_definition_is_refused_before_writing),
                T(begin_sweeps_stale_temp_objects),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
