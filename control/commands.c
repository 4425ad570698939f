/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "control/cli.h"

/*
 * Every verb, in the order `agora --help` lists them. Verbs that change the
 * registry need the operator's secret key, not only the .pub beside it: each
 * commit names the key that made it, and only holding the secret half shows
 * the operator is that key. Read-only verbs need only the registry; init and
 * keygen make their own.
 */
#define MUTATES (CMD_NEEDS_REGISTRY | CMD_NEEDS_KEY)

const cli_command cli_commands[] = {
        {"init", cmd_init, "create a registry and, if missing, the operator key", 0},
        {"keygen", cmd_keygen, "create a new operator key pair", 0},
        {"register", cmd_register, "register a capability, subagent or env bundle", MUTATES},
        {"assign", cmd_assign, "give a subagent capabilities", MUTATES},
        {"unassign", cmd_unassign, "take capabilities from a subagent", MUTATES},
        {"list", cmd_list, "list registered objects", CMD_NEEDS_REGISTRY},
        {"show", cmd_show, "print one definition", CMD_NEEDS_REGISTRY},
        {"log", cmd_log, "print the registry's history", CMD_NEEDS_REGISTRY},
        {"resolve", cmd_resolve, "print the exact content a dispatch would run", CMD_NEEDS_REGISTRY},
        {"verify", cmd_verify, "re-hash and re-check every object", CMD_NEEDS_REGISTRY},
        /* Signs the manifest: the secret key, as for a commit. Opens the
         * registry itself, only when its resolution cache cannot answer. */
        {"dispatch", cmd_dispatch, "run a subagent on a worker and keep its signed receipt", CMD_NEEDS_KEY},
        /* Hands the public key to the local worker to trust; signs nothing. */
        {"worker", cmd_worker, "start, stop or show the local worker", CMD_NEEDS_PUBKEY},
        {NULL, NULL, NULL, 0},
};

const cli_command *cli_command_find(const char *name)
{
        for (const cli_command *c = cli_commands; c->name != NULL; c++)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}
