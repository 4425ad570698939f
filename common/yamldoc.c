/* SPDX-License-Identifier: Apache-2.0 */
#include "common/yamldoc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <yaml.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

/* Deep enough for any document a person writes; shallow enough that a
 * hostile one cannot make consumers that recurse run out of stack. */
#define YAMLDOC_MAX_DEPTH 64

typedef struct frame {
        json_t *container; /* borrowed: owned by its parent or by the root */
        char *key; /* in a mapping: the key awaiting its value */
        size_t key_line, key_col;
} frame;

typedef struct builder {
        const char *name;
        json_t *root; /* owned */
        frame stack[YAMLDOC_MAX_DEPTH];
        size_t depth;
        int documents;
} builder;

static void builder_release(builder *b)
{
        for (size_t i = 0; i < b->depth; i++)
                free(b->stack[i].key);
        json_decref(b->root);
        b->root = NULL;
        b->depth = 0;
}

static int fail_at(agora_error_t *err, const builder *b, yaml_mark_t mark, const char *problem)
{
        return agora_error_set(err, AGORA_ERR_USAGE, "%s:%zu:%zu: %s", b->name, mark.line + 1, mark.column + 1,
                               problem);
}

/* Attach V (owned, consumed) where the document currently is. */
static int builder_attach(builder *b, json_t *v, yaml_mark_t mark, agora_error_t *err)
{
        frame *top;

        if (b->depth == 0) {
                b->root = v;
                return 0;
        }
        top = &b->stack[b->depth - 1];
        if (json_is_array(top->container)) {
                if (json_array_append_new(top->container, v) < 0)
                        return agora_error_set_errno(err, ENOMEM, "%s", b->name);
                return 0;
        }
        if (top->key == NULL) {
                json_decref(v);
                return fail_at(err, b, mark, "mapping keys must be plain strings, not lists or mappings");
        }
        if (json_object_set_new(top->container, top->key, v) < 0)
                return agora_error_set_errno(err, ENOMEM, "%s", b->name);
        free(top->key);
        top->key = NULL;
        return 0;
}

static int builder_scalar(builder *b, const yaml_event_t *ev, agora_error_t *err)
{
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        frame *top = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
        json_t *v;

        /* Double-quoted "\0" is legal YAML, but C strings downstream would
         * stop at it and see a different value than the one checked. */
        if (memchr(s, '\0', len) != NULL)
                return fail_at(err, b, ev->start_mark, "NUL bytes are not allowed in strings");
        if (top != NULL && json_is_object(top->container) && top->key == NULL) {
                char msg[128 + 64];
                if (len == 0)
                        return fail_at(err, b, ev->start_mark, "empty mapping key");
                if (json_object_get(top->container, s) != NULL) {
                        snprintf(msg, sizeof(msg), "duplicate key '%.128s'", s);
                        return fail_at(err, b, ev->start_mark, msg);
                }
                top->key = strndup(s, len);
                if (top->key == NULL)
                        return agora_error_set_errno(err, ENOMEM, "%s", b->name);
                return 0;
        }
        /* No implicit typing: only the spellings of "nothing" become null,
         * and only when unquoted, so '~' quoted stays the string "~". */
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0))
                v = json_null();
        else
                v = json_stringn(s, len);
        if (v == NULL)
                return fail_at(err, b, ev->start_mark, "string is not valid UTF-8");
        return builder_attach(b, v, ev->start_mark, err);
}

static int builder_open(builder *b, json_t *container, yaml_mark_t mark, agora_error_t *err)
{
        if (container == NULL)
                return agora_error_set_errno(err, ENOMEM, "%s", b->name);
        if (b->depth == YAMLDOC_MAX_DEPTH) {
                json_decref(container);
                return fail_at(err, b, mark, "nested more than 64 levels deep");
        }
        if (builder_attach(b, container, mark, err) < 0)
                return -1;
        b->stack[b->depth++] = (frame){.container = container};
        return 0;
}

static bool event_has_anchor_or_tag(const yaml_event_t *ev, const char **what)
{
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                *what = ev->data.scalar.anchor ? "anchors are not allowed" : "tags are not allowed";
                return ev->data.scalar.anchor != NULL || ev->data.scalar.tag != NULL;
        case YAML_SEQUENCE_START_EVENT:
                *what = ev->data.sequence_start.anchor ? "anchors are not allowed" : "tags are not allowed";
                return ev->data.sequence_start.anchor != NULL || ev->data.sequence_start.tag != NULL;
        case YAML_MAPPING_START_EVENT:
                *what = ev->data.mapping_start.anchor ? "anchors are not allowed" : "tags are not allowed";
                return ev->data.mapping_start.anchor != NULL || ev->data.mapping_start.tag != NULL;
        default:
                return false;
        }
}

/* Handle one event; returns 1 at end of stream, 0 to go on, -1 on error. */
static int builder_event(builder *b, const yaml_event_t *ev, agora_error_t *err)
{
        const char *what = NULL;

        /* Aliases let a few hundred bytes expand to gigabytes ("billion
         * laughs"); without anchors there is nothing to alias, and tags would
         * ask for typing we deliberately do not do. */
        if (event_has_anchor_or_tag(ev, &what))
                return fail_at(err, b, ev->start_mark, what);
        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return fail_at(err, b, ev->start_mark, "aliases are not allowed");
        case YAML_DOCUMENT_START_EVENT:
                if (++b->documents > 1)
                        return fail_at(err, b, ev->start_mark, "only one document is allowed");
                return 0;
        case YAML_SCALAR_EVENT:
                return builder_scalar(b, ev, err);
        case YAML_SEQUENCE_START_EVENT:
                return builder_open(b, json_array(), ev->start_mark, err);
        case YAML_MAPPING_START_EVENT:
                return builder_open(b, json_object(), ev->start_mark, err);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (b->depth > 0) {
                        free(b->stack[b->depth - 1].key);
                        b->depth--;
                }
                return 0;
        case YAML_STREAM_END_EVENT:
                return 1;
        default:
                return 0;
        }
}

static void parser_deletep(yaml_parser_t **p)
{
        if (*p != NULL)
                yaml_parser_delete(*p);
}

int yamldoc_load_buffer(const char *buf, size_t len, const char *name, json_t **ret, agora_error_t *err)
{
        yaml_parser_t parser;
        _cleanup_(parser_deletep) yaml_parser_t *pp = NULL;
        _cleanup_(builder_release) builder b = {.name = name};

        if (len > YAMLDOC_MAX_BYTES)
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: larger than %u bytes", name, YAMLDOC_MAX_BYTES);
        if (!yaml_parser_initialize(&parser))
                return agora_error_set_errno(err, ENOMEM, "%s", name);
        pp = &parser;
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        for (;;) {
                yaml_event_t ev;
                int r;

                if (!yaml_parser_parse(&parser, &ev)) {
                        yaml_mark_t mark = parser.problem_mark;
                        if (parser.error == YAML_MEMORY_ERROR)
                                return agora_error_set_errno(err, ENOMEM, "%s", name);
                        if (parser.context != NULL)
                                return agora_error_set(
                                        err, AGORA_ERR_USAGE, "%s:%zu:%zu: %s %s", name, mark.line + 1, mark.column + 1,
                                        parser.problem ? parser.problem : "invalid YAML", parser.context);
                        return fail_at(err, &b, mark, parser.problem ? parser.problem : "invalid YAML");
                }
                r = builder_event(&b, &ev, err);
                yaml_event_delete(&ev);
                if (r < 0)
                        return -1;
                if (r > 0)
                        break;
        }
        /* Comments alone, or a bare "---", say nothing: most likely the wrong
         * file, and treating it as "all defaults" would hide that. */
        if (b.root == NULL || json_is_null(b.root))
                return agora_error_set(err, AGORA_ERR_USAGE, "%s: empty document", name);
        *ret = take_ptr(b.root);
        return 0;
}

int yamldoc_load_file(const char *path, json_t **ret, agora_error_t *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        if (fs_read_file(path, YAMLDOC_MAX_BYTES, &buf, &len, err) < 0)
                return -1;
        return yamldoc_load_buffer(buf, len, path, ret, err);
}
