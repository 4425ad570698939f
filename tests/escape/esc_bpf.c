/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpf(2) is a large kernel attack surface (verifier bugs are a steady source
 * of privilege escalations) and, with privilege, reads kernel memory. The
 * filter refuses it whatever kernel.unprivileged_bpf_disabled says.
 */
#define PROBE_NAME "bpf"
#include "probe.h"

#include <linux/bpf.h>
#include <sys/syscall.h>

int main(void)
{
        union bpf_attr map = {.map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};
        /* r0 = 0; exit: the smallest program the verifier accepts. */
        struct bpf_insn insns[] = {
                {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
                {.code = BPF_JMP | BPF_EXIT},
        };
        union bpf_attr prog = {
                .prog_type = BPF_PROG_TYPE_SOCKET_FILTER,
                .insn_cnt = sizeof insns / sizeof insns[0],
                .insns = (uintptr_t)insns,
                .license = (uintptr_t) "GPL",
        };
        long fd;

        fd = PROBE_EXPECT_FAIL("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &map, sizeof map));
        if (fd >= 0)
                close((int)fd);
        fd = PROBE_EXPECT_FAIL("bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &prog, sizeof prog));
        if (fd >= 0)
                close((int)fd);
        probe_finish();
}
