/* SPDX-License-Identifier: MIT */
/*
 * fuzz_state_restore: hostile nested-state blobs (include/nestvmx/state.h,
 * docs/STATE-FORMAT.md). A real blob is saved from a vCPU in a state the script chooses (root
 * operation with one or two vmcs12s, or L2 running), then mutated — byte flips, 16/32/64-bit
 * stores at chosen offsets, truncation — and, unless the script says otherwise, resealed with a
 * correct CRC-32C so that the content checks behind the checksum are reached. It is restored
 * onto the same vCPU, then a few random events run on whatever state resulted.
 *
 * Invariants (besides those of fuzz_env.h after every step): the restore answers one of the
 * documented statuses; a failed restore leaves the vCPU byte-identical (its own saved blob does
 * not change); a successful one is bit-exact (saving again and restoring that gives the same
 * bytes).
 *
 * Script: byte 0 picks the VM set-up; byte 1 the starting state; byte 2 the mutation count
 * (% 9) and bit 7 "do not reseal"; each mutation: kind byte, 16-bit offset, value; byte after
 * them: truncation (0 = none, else the blob is cut to (byte * 8) % size); then steps as
 * fuzz_l2_exits runs them (an L2 exit, a register change, a memory write, a host failure).
 */
#include "fuzz_env.h"

#include "state/state_format.h"

#include <stdlib.h>
#include <string.h>

#define BLOB_MAX (256u * 1024u)

static uint8_t blob[BLOB_MAX], before[BLOB_MAX], after[BLOB_MAX];

static size_t save_into(fuzz_env *e, uint8_t *buffer)
{
    size_t written = 0;
    nvmx_status status = nvmx_vcpu_state_save(e->h.vcpu, buffer, BLOB_MAX, &written);
    FUZZ_REQUIRE(status == NVMX_OK || status == NVMX_ERR_HOST, "state save works", status);
    return status == NVMX_OK ? written : 0;
}

/* The starting state: L1 with the known-good vmcs12 current (and maybe a second cached one),
 * or L2 launched from it. */
static void start(fuzz_env *e, fuzz_input *in)
{
    uint8_t how = fuzz_u8(in) % 4;
    if (how == 1 || how == 3) {
        fuzz_pointer_insn(e, NVMX_EXIT_VMPTRLD, VMCS_B);
        fuzz_pointer_insn(e, NVMX_EXIT_VMPTRLD, VMCS_A);
    }
    if (how >= 2)
        fuzz_simple_insn(e, NVMX_EXIT_VMLAUNCH);
}

static void mutate(fuzz_input *in, uint8_t *bytes, size_t size)
{
    uint8_t kind = fuzz_u8(in) % 4;
    size_t at = fuzz_u16(in) % size;
    uint64_t value = fuzz_value(in);
    switch (kind) {
    case 0:
        bytes[at] ^= (uint8_t)(1u << (value % 8));
        break;
    case 1:
        if (at + 2 <= size)
            state_put16(bytes + at, (uint16_t)value);
        break;
    case 2:
        if (at + 4 <= size)
            state_put32(bytes + at, (uint32_t)value);
        break;
    default:
        if (at + 8 <= size)
            state_put64(bytes + at, value);
        break;
    }
}

static bool documented(nvmx_status status)
{
    return status == NVMX_OK || status == NVMX_ERR_BAD_STATE || status == NVMX_ERR_STATE_VERSION ||
           status == NVMX_ERR_INCOMPATIBLE_CAPS || status == NVMX_ERR_NO_MEMORY ||
           status == NVMX_ERR_HOST;
}

static void restore_mutated(fuzz_env *e, fuzz_input *in)
{
    size_t size = save_into(e, blob);
    if (!size)
        return;
    uint8_t plan = fuzz_u8(in);
    for (unsigned i = 0; i < (plan & 0x7F) % 9; i++)
        mutate(in, blob, size);
    uint8_t cut = fuzz_u8(in);
    if (cut)
        size = ((size_t)cut * 8) % size;
    if (!(plan & 0x80) && size >= STATE_HEADER_SIZE && state_get32(blob + 16) == size)
        state_put32(blob + STATE_CRC_OFFSET, state_blob_crc(blob, size));

    size_t before_size = save_into(e, before);
    long reads = e->h.host.l1_reads, writes = e->h.host.l1_writes;
    nvmx_status status = nvmx_vcpu_state_restore(e->h.vcpu, blob, size);
    FUZZ_REQUIRE(documented(status), "restore answers a documented status", status);
    e->h.next.run = nvmx_vcpu_in_guest_mode(e->h.vcpu) ? NVMX_RUN_L2 : NVMX_RUN_L1;
    e->h.host.running = nvmx_vcpu_in_guest_mode(e->h.vcpu) ? NVMX_HW_VMCS02 : NVMX_HW_VMCS01;
    fuzz_env_check(e, reads, writes);
    size_t after_size = save_into(e, after);
    if (status != NVMX_OK) {
        FUZZ_REQUIRE(after_size == before_size && memcmp(before, after, after_size) == 0,
                     "a failed restore leaves the vCPU unchanged", status);
        return;
    }
    /* Bit-exact from here: what was restored saves to a blob that restores to itself. */
    nvmx_status again = nvmx_vcpu_state_restore(e->h.vcpu, after, after_size);
    FUZZ_REQUIRE(again == NVMX_OK || again == NVMX_ERR_NO_MEMORY || again == NVMX_ERR_HOST,
                 "a restored state restores again", again);
    if (again != NVMX_OK)
        return;
    size_t third_size = save_into(e, before);
    FUZZ_REQUIRE(third_size == after_size && memcmp(before, after, after_size) == 0,
                 "save -> restore -> save is bit-exact", third_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_env e;
    fuzz_input in = {data, size, 0};
    fuzz_env_init(&e, &in, true);
    start(&e, &in);
    restore_mutated(&e, &in);
    for (int step = 0; step < 16 && fuzz_more(&in) && !e.shut_down; step++) {
        switch (fuzz_u8(&in) % 4) {
        case 0:
            if (nvmx_vcpu_in_guest_mode(e.h.vcpu))
                fuzz_act_l2_exit(&e, &in);
            else
                fuzz_simple_insn(&e, NVMX_EXIT_VMRESUME);
            break;
        case 1:
            fuzz_act_register(&e, &in);
            break;
        case 2:
            fuzz_act_memory(&e, &in);
            break;
        default:
            fuzz_act_host_failure(&e, &in);
            break;
        }
    }
    fuzz_env_fini(&e);
    return 0;
}
