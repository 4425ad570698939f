/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agora register capability|subagent|env: each registration is one commit
 * naming the verb and the object. The env bundle lives in cmd_register_env.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capabilities/captar.h"
#include "common/cjson.h"
#include "common/cleanup.h"
#include "common/name.h"
#include "common/schema.h"
#include "control/cli.h"
#include "worker/profile.h"
#include "registry/objects.h"

static const char usage[] =
        "usage: agora register capability NAME DIR|FILE.tar[.gz|.xz|.zst|.bz2] [--max-size BYTES] [--max-entries N]\n"
        "                                  [--max-ratio N]\n"
        "       agora register subagent NAME --entrypoint CMD [--capability NAME]… [--profile NAME]\n"
        "       agora register env NAME [KEY=VALUE]… [--secret KEY=REF]… [--file FILE.yaml]\n"
        "\n"
        "Register an object in the registry, as one commit. Registering a name again\n"
        "replaces its definition; registering identical content changes nothing.\n"
        "See agora register KIND --help for each kind's options.\n";

/* The help text states the default; keep it honest. */
_Static_assert(CAPTAR_DEFAULT_MAX_RATIO == 200, "update --max-ratio in usage_capability");

static const char usage_capability[] =
        "usage: agora register capability NAME PATH [--max-size BYTES] [--max-entries N] [--max-ratio N]\n"
        "\n"
        "Turn PATH (a directory, or a tar file, optionally gzip/xz/zstd/bzip2\n"
        "compressed) into a canonical tarball, store it by its sha256 and point the\n"
        "capability NAME at it. Prints the tarball's content hash, sha256:<hex>.\n"
        "Links, devices, FIFOs, setuid files and paths leaving the tree are refused.\n"
        "\n"
        "  --max-size BYTES  most content accepted, e.g. 64M or 1G (default 64M)\n"
        "  --max-entries N   most files and directories accepted (default 10000)\n"
        "  --max-ratio N     most a compressed PATH may expand: N times its size on\n"
        "                    disk (default 200); stops decompression bombs\n"
        "  --help            print this help\n";

static const char usage_subagent[] =
        "usage: agora register subagent NAME --entrypoint CMD [--capability NAME]… [--profile NAME]\n"
        "\n"
        "Define the subagent NAME: the command it runs, the registered capabilities it\n"
        "gets, and the policy profile of its cage. Registering it again replaces it.\n"
        "Prints the definition's content hash.\n"
        "\n"
        "  --entrypoint CMD   the program the subagent runs (required)\n"
        "  --capability NAME  a registered capability to assign; repeat for more\n"
        "  --profile NAME     the policy profile (default: " OBJECTS_DEFAULT_PROFILE "); it must load from\n"
        "                     $AGORA_PROFILES, else the installed profiles\n"
        "  --help             print this help\n";

int cli_put_commit_print(cli_ctx *ctx, registry_txn *t, registry_kind k, const char *name, const json_t *def,
                         const char *message, const char *done, agora_error_t *err)
{
        char hash[AGORA_HASH_STR_LEN + 1], commit[41];
        agora_hash h;
        int changed = 0;

        if (registry_txn_put(t, k, name, def, err) < 0)
                return -1;
        /* Read back what was staged: the hash of the bytes actually stored. */
        if (registry_view_get(registry_txn_view(t), k, name, NULL, &h, err) < 0)
                return -1;
        if (registry_txn_commit(t, message, &changed, commit, err) < 0)
                return -1;
        if (changed)
                cli_note_commit(ctx, commit, "%s %s '%s'", done, registry_kind_name(k), name);
        agora_hash_format(&h, hash);
        if (ctx->arg_json) {
                _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "kind", registry_kind_name(k), "name",
                                                     name, "contentHash", hash, "commit", commit, "changed", changed);
                if (j == NULL)
                        return agora_error_set_errno(err, ENOMEM, "%s '%s'", registry_kind_name(k), name);
                return output_json(j, false, err);
        }
        printf("%s\n", hash);
        return 0;
}

/* An unnamed file for the tarball being built, on the registry's file
 * system: nobody can open it by name, and it vanishes if we die. */
static int open_scratch(const char *dir, int *ret, agora_error_t *err)
{
        _cleanup_free_ char *tmpl = NULL;
        int fd;

        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0) {
                *ret = fd;
                return 0;
        }
        /* No O_TMPFILE on this file system: a named file, unlinked at once. */
        if (asprintf(&tmpl, "%s/.agora-scratch-XXXXXX", dir) < 0)
                return agora_error_set_errno(err, ENOMEM, "registry '%s'", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return agora_error_set_errno(err, errno, "registry '%s': scratch file", dir);
        unlink(tmpl);
        *ret = fd;
        return 0;
}

int cmd_register_capability(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const char verb[] = "register capability";
        static const struct option options[] = {
                {"max-size", required_argument, NULL, 's'},
                {"max-entries", required_argument, NULL, 'e'},
                {"max-ratio", required_argument, NULL, 'r'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_json_ json_t *def = NULL;
        _cleanup_txn_ registry_txn *t = NULL;
        _cleanup_close_ int fd = -1;
        captar_limits limits;
        captar_result res = {0};
        output_progress progress;
        char hash[AGORA_HASH_STR_LEN + 1], commit[41];
        const char *name, *path;
        agora_hash stored;
        int c, r, changed = 0;
        bool seen_size = false, seen_entries = false, seen_ratio = false;
        _cleanup_free_ char *message = NULL;

        captar_limits_default(&limits);
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (seen_size)
                                return cli_usage(ctx, verb, err, "--max-size given twice");
                        seen_size = true;
                        if (schema_parse_size(optarg, &limits.max_bytes) < 0 || limits.max_bytes == 0)
                                return cli_usage(ctx, verb, err, "--max-size '%s': not a size (e.g. 64M)", optarg);
                        break;
                case 'e':
                        if (seen_entries)
                                return cli_usage(ctx, verb, err, "--max-entries given twice");
                        seen_entries = true;
                        if (schema_parse_uint(optarg, UINT64_MAX, &limits.max_entries) < 0 || limits.max_entries == 0)
                                return cli_usage(ctx, verb, err, "--max-entries '%s': not a positive number", optarg);
                        break;
                case 'r':
                        if (seen_ratio)
                                return cli_usage(ctx, verb, err, "--max-ratio given twice");
                        seen_ratio = true;
                        if (schema_parse_uint(optarg, UINT64_MAX, &limits.max_ratio) < 0 || limits.max_ratio == 0)
                                return cli_usage(ctx, verb, err, "--max-ratio '%s': not a positive number", optarg);
                        break;
                case 'h':
                        return cli_help(usage_capability);
                default:
                        return cli_option_error(ctx, verb, c, argv, err);
                }
        }
        if (argc - optind < 2)
                return cli_usage(ctx, verb, err, "needs NAME and PATH");
        if (argc - optind > 2)
                return cli_usage(ctx, verb, err, "unexpected argument '%s'", argv[optind + 2]);
        name = argv[optind];
        path = argv[optind + 1];
        if (agora_name_check("capability", name, err) < 0)
                return -1;
        if (path[0] == '\0')
                return cli_usage(ctx, verb, err, "PATH must not be empty");

        if (cli_need_registry(ctx, verb, err) < 0)
                return -1;
        if (open_scratch(registry_path(ctx->reg), &fd, err) < 0)
                return -1;
        output_progress_init(&progress, name);
        limits.progress = output_progress_update;
        limits.progress_ctx = &progress;
        r = captar_build(name, path, &limits, fd, &res, err);
        output_progress_end(&progress);
        if (r < 0)
                return -1;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return agora_error_set_errno(err, errno, "capability '%s': scratch file", name);
        if (registry_store_blob(ctx->reg, fd, &res.hash, &stored, err) < 0)
                return -1;

        def = objects_capability_new(name, &stored, res.size, res.entries);
        if (def == NULL)
                return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
        agora_hash_format(&stored, hash);
        if (asprintf(&message, "register capability %s %s", name, hash) < 0)
                return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
        if (registry_begin(ctx->reg, &t, err) < 0 || registry_txn_put(t, REGISTRY_CAPABILITY, name, def, err) < 0 ||
            registry_txn_commit(t, message, &changed, commit, err) < 0)
                return -1;
        if (changed)
                cli_note_commit(ctx, commit, "registered capability '%s'", name);

        if (ctx->arg_json) {
                _cleanup_json_ json_t *j =
                        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "kind", "capability", "name", name,
                                  "contentHash", hash, "size", (json_int_t)res.size, "entries", (json_int_t)res.entries,
                                  "commit", commit, "changed", changed);
                if (j == NULL)
                        return agora_error_set_errno(err, ENOMEM, "capability '%s'", name);
                return output_json(j, false, err);
        }
        printf("%s\n", hash);
        return 0;
}

int cmd_register_subagent(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const char verb[] = "register subagent";
        static const struct option options[] = {
                {"entrypoint", required_argument, NULL, 'e'},
                {"capability", required_argument, NULL, 'c'},
                {"profile", required_argument, NULL, 'p'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        _cleanup_free_ const char **caps = calloc((size_t)argc + 1, sizeof(*caps));
        _cleanup_free_ char *message = NULL;
        _cleanup_json_ json_t *def = NULL;
        _cleanup_txn_ registry_txn *t = NULL;
        const char *name, *entrypoint = NULL, *profile_name = NULL;
        size_t n_caps = 0;
        int c;

        if (caps == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", verb);
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
                switch (c) {
                /* A second value is refused, not silently kept over the first. */
                case 'e':
                        if (entrypoint != NULL)
                                return cli_usage(ctx, verb, err, "--entrypoint given twice");
                        entrypoint = optarg;
                        break;
                case 'c':
                        for (size_t i = 0; i < n_caps; i++)
                                if (strcmp(caps[i], optarg) == 0)
                                        return cli_usage(ctx, verb, err, "capability '%s' given twice", optarg);
                        caps[n_caps++] = optarg;
                        break;
                case 'p':
                        if (profile_name != NULL)
                                return cli_usage(ctx, verb, err, "--profile given twice");
                        profile_name = optarg;
                        break;
                case 'h':
                        return cli_help(usage_subagent);
                default:
                        return cli_option_error(ctx, verb, c, argv, err);
                }
        }
        if (argc - optind < 1)
                return cli_usage(ctx, verb, err, "needs NAME");
        if (argc - optind > 1)
                return cli_usage(ctx, verb, err, "unexpected argument '%s'", argv[optind + 1]);
        name = argv[optind];
        if (entrypoint == NULL || entrypoint[0] == '\0')
                return cli_usage(ctx, verb, err, "--entrypoint CMD is required");
        if (profile_name == NULL)
                profile_name = OBJECTS_DEFAULT_PROFILE;
        if (agora_name_check("subagent", name, err) < 0 || agora_name_check("profile", profile_name, err) < 0)
                return -1;
        /* A subagent whose profile does not exist (or does not parse) could
         * never be dispatched: refuse it now, naming the profile. */
        {
                profile *p = NULL;
                if (profile_load_named(profile_default_dir(), profile_name, &p, err) < 0)
                        return agora_error_wrap(err, "subagent '%s'", name);
                profile_free(p);
        }
        def = objects_subagent_new(name, entrypoint, profile_name);
        if (def == NULL)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", name);
        for (size_t i = 0; i < n_caps; i++) {
                if (agora_name_check("capability", caps[i], err) < 0)
                        return agora_error_wrap(err, "subagent '%s'", name);
                if (objects_subagent_add_capability(def, caps[i], err) < 0)
                        return -1;
        }
        if (asprintf(&message, "register subagent %s", name) < 0)
                return agora_error_set_errno(err, ENOMEM, "subagent '%s'", name);
        /* The registry refuses a subagent naming an unregistered capability,
         * checked under the lock so it cannot race a removal. */
        if (cli_need_registry(ctx, verb, err) < 0)
                return -1;
        if (registry_begin(ctx->reg, &t, err) < 0)
                return -1;
        return cli_put_commit_print(ctx, t, REGISTRY_SUBAGENT, name, def, message, "registered", err);
}

int cmd_register(cli_ctx *ctx, int argc, char **argv, agora_error_t *err)
{
        static const struct {
                const char *kind;
                cli_fn fn;
        } kinds[] = {
                {"capability", cmd_register_capability},
                {"subagent", cmd_register_subagent},
                {"env", cmd_register_env},
        };

        if (argc < 2)
                return cli_usage(ctx, "register", err, "needs a kind: capability, subagent or env");
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                return cli_help(usage);
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                if (strcmp(argv[1], kinds[i].kind) == 0) {
                        optind = 0;
                        return kinds[i].fn(ctx, argc - 1, argv + 1, err);
                }
        }
        return cli_usage(ctx, "register", err, "'%s' is not a kind (capability, subagent or env)", argv[1]);
}
