/* SPDX-License-Identifier: MIT */
/*
 * --trace: one line per event L0 sees (an L1 VMX instruction or MSR access the library
 * handles, with its outcome; an L2 exit with reason, qualification, L2 RIP and who handled
 * it), on standard error so the guest's serial output stays clean. --stats / --stats-json:
 * counts per exit reason and handler, L0 exits per exit reflected to L1 (exit
 * multiplication), wall time, round trips per second.
 */
#include "emu.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const run_names[] = {
    [NVMX_RUN_L1] = "L1",
    [NVMX_RUN_L2] = "L2 (completed by the library)",
    [NVMX_RUN_L0_HANDLES] = "L0",
    [NVMX_RUN_SHUTDOWN_L1] = "L1 shut down",
};

static double now_seconds(void)
{
    struct timespec t;
    timespec_get(&t, TIME_UTC); /* C11; wall time is what --stats reports */
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void emu_stats_start(emu *e)
{
    e->stats.start = now_seconds();
}

/* The VMX instruction in `bytes` (SDM Vol. 3C 31.3 encodings), for the trace. */
static const char *vmx_mnemonic(const uint8_t *b, uint8_t n)
{
    uint8_t prefix = 0, i = 0;
    while (i < n && (b[i] == 0x66 || b[i] == 0xF3 || b[i] == 0xF2 || (b[i] & 0xF0) == 0x40))
        prefix = (b[i] & 0xF0) == 0x40 ? prefix : b[i], i++;
    if (i + 2 >= n + 1 || b[i] != 0x0F)
        return "instruction";
    uint8_t op = b[i + 1], modrm = i + 2 < n ? b[i + 2] : 0;
    if (op == 0x78)
        return "VMREAD";
    if (op == 0x79)
        return "VMWRITE";
    if (op == 0x01) {
        static const char *const c1[] = {"?", "VMCALL", "VMLAUNCH", "VMRESUME", "VMXOFF"};
        if (modrm >= 0xC1 && modrm <= 0xC4)
            return c1[modrm - 0xC0];
        return modrm == 0xD4 ? "VMFUNC" : "instruction";
    }
    if (op == 0xC7 && ((modrm >> 3) & 7) == 6)
        return prefix == 0x66 ? "VMCLEAR" : prefix == 0xF3 ? "VMXON" : "VMPTRLD";
    if (op == 0xC7 && ((modrm >> 3) & 7) == 7)
        return "VMPTRST";
    if (op == 0x38 && i + 2 < n)
        return b[i + 2] == 0x80 ? "INVEPT" : b[i + 2] == 0x81 ? "INVVPID" : "instruction";
    return "instruction";
}

/* What a completed VMX instruction left in RFLAGS (SDM 31.2). */
static const char *vmx_outcome(emu *e, const nvmx_next *next)
{
    if (next->exception_vector >= 0)
        return next->exception_vector == NVMX_VECTOR_UD ? "#UD" : "exception";
    if (next->run == NVMX_RUN_L2)
        return "VM entry, L2 runs";
    if (next->run == NVMX_RUN_SHUTDOWN_L1)
        return "VMX abort, L1 shuts down";
    if (next->run == NVMX_RUN_L0_HANDLES)
        return "not a VMX instruction: #UD";
    if (e->l1_state_loaded)
        return "VM-entry failure, L1 at its host state";
    uint64_t rflags = emu_reg(e, UC_X86_REG_RFLAGS);
    return (rflags & NVMX_RFLAGS_CF)   ? "VMfailInvalid"
           : (rflags & NVMX_RFLAGS_ZF) ? "VMfailValid"
                                       : "VMsucceed";
}

void emu_note_l1_vmx(emu *e, uint64_t rip, const nvmx_exit *exit, const nvmx_next *next)
{
    e->stats.l1_vmx++;
    e->stats.entries += next->run == NVMX_RUN_L2;
    if (e->trace)
        fprintf(stderr, "trace: L1 %s at %#" PRIx64 ": %s\n",
                vmx_mnemonic(exit->bytes, exit->bytes_length), rip, vmx_outcome(e, next));
}

void emu_note_l1_msr(emu *e, bool write, uint32_t index, const char *outcome)
{
    e->stats.l1_msr++;
    if (e->trace)
        fprintf(stderr, "trace: L1 %s %#" PRIx32 ": %s\n", write ? "WRMSR" : "RDMSR", index,
                outcome);
}

void emu_note_l2_exit(emu *e, uint64_t rip, const nvmx_exit *exit, nvmx_run run)
{
    unsigned reason = exit->reason == NVMX_EXIT_UNDECODED   ? EMU_STATS_VMX_BUCKET
                      : exit->reason < EMU_STATS_VMX_BUCKET ? exit->reason
                                                            : EMU_STATS_VMX_BUCKET;
    if ((unsigned)run < 3)
        e->stats.l2_exits[reason][run]++;
    if (!e->trace)
        return;
    const char *to = (unsigned)run < 4 ? run_names[run] : "?";
    if (exit->reason == NVMX_EXIT_UNDECODED) { /* the library decodes it */
        fprintf(stderr,
                "trace: L2 exit %s (instruction bytes) at L2 RIP %#" PRIx64 ": handled by %s\n",
                vmx_mnemonic(exit->bytes, exit->bytes_length), rip, to);
        return;
    }
    const char *name = nvmx_exit_reason_name(exit->reason);
    fprintf(stderr,
            "trace: L2 exit %s (%" PRIu32 ") qualification %#" PRIx64 " at L2 RIP %#" PRIx64
            ": handled by %s\n",
            name ? name : "?", exit->reason, exit->qualification, rip, to);
}

/* ---- the summary ---- */

typedef struct totals {
    uint64_t l2, reflected, l0;
    double seconds;
} totals;

static totals sum(const emu *e)
{
    totals t = {.seconds = now_seconds() - e->stats.start};
    for (unsigned r = 0; r <= EMU_STATS_VMX_BUCKET; r++) {
        for (unsigned w = 0; w < 3; w++)
            t.l2 += e->stats.l2_exits[r][w];
        t.reflected += e->stats.l2_exits[r][NVMX_RUN_L1];
    }
    t.l0 = t.l2 + e->stats.l1_vmx + e->stats.l1_msr;
    return t;
}

static const char *bucket_name(unsigned r)
{
    if (r == EMU_STATS_VMX_BUCKET)
        return "VMX instruction of L2";
    const char *name = nvmx_exit_reason_name(r);
    return name ? name : "?";
}

static void print_stats(const emu *e, const totals *t)
{
    fprintf(stderr, "nestvmx-emu stats: %.6f s wall time\n", t->seconds);
    fprintf(stderr, "  L1 exits to L0: %" PRIu64 " VMX instructions, %" PRIu64 " MSR accesses\n",
            e->stats.l1_vmx, e->stats.l1_msr);
    fprintf(stderr, "  VM entries into L2: %" PRIu64 "\n", e->stats.entries);
    fprintf(stderr, "  L2 exits to L0: %" PRIu64 " (%" PRIu64 " reflected to L1)\n", t->l2,
            t->reflected);
    for (unsigned r = 0; r <= EMU_STATS_VMX_BUCKET; r++) {
        const uint64_t *c = e->stats.l2_exits[r];
        if (c[0] + c[1] + c[2])
            fprintf(stderr,
                    "    %-28s to L1 %-8" PRIu64 " completed for L2 %-8" PRIu64
                    " handled by L0 %" PRIu64 "\n",
                    bucket_name(r), c[NVMX_RUN_L1], c[NVMX_RUN_L2], c[NVMX_RUN_L0_HANDLES]);
    }
    if (t->reflected)
        fprintf(stderr, "  L0 exits per reflected L2 exit: %.2f; round trips per second: %.0f\n",
                (double)t->l0 / (double)t->reflected,
                t->seconds > 0 ? (double)t->reflected / t->seconds : 0.0);
}

static bool write_json(const emu *e, const totals *t, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "nestvmx-emu: cannot write %s\n", path);
        return false;
    }
    fprintf(out,
            "{\n  \"wall_seconds\": %.6f,\n  \"l1_exits\": {\"vmx_instructions\": %" PRIu64
            ", \"msr_accesses\": %" PRIu64 "},\n  \"vm_entries\": %" PRIu64
            ",\n  \"l2_exits\": %" PRIu64 ",\n  \"reflected_to_l1\": %" PRIu64
            ",\n  \"l0_exits\": %" PRIu64 ",\n",
            t->seconds, e->stats.l1_vmx, e->stats.l1_msr, e->stats.entries, t->l2, t->reflected,
            t->l0);
    fprintf(out, "  \"l0_exits_per_reflected_exit\": %.4f,\n  \"round_trips_per_second\": %.1f,\n",
            t->reflected ? (double)t->l0 / (double)t->reflected : 0.0,
            t->reflected && t->seconds > 0 ? (double)t->reflected / t->seconds : 0.0);
    fprintf(out, "  \"by_reason\": [");
    const char *sep = "";
    for (unsigned r = 0; r <= EMU_STATS_VMX_BUCKET; r++) {
        const uint64_t *c = e->stats.l2_exits[r];
        if (!(c[0] + c[1] + c[2]))
            continue;
        fprintf(out,
                "%s\n    {\"reason\": %d, \"name\": \"%s\", \"to_l1\": %" PRIu64
                ", \"completed_for_l2\": %" PRIu64 ", \"handled_by_l0\": %" PRIu64 "}",
                sep, r == EMU_STATS_VMX_BUCKET ? -1 : (int)r, bucket_name(r), c[NVMX_RUN_L1],
                c[NVMX_RUN_L2], c[NVMX_RUN_L0_HANDLES]);
        sep = ",";
    }
    fprintf(out, "\n  ]\n}\n");
    return fclose(out) == 0;
}

bool emu_stats_finish(const emu *e)
{
    totals t = sum(e);
    if (e->stats_print)
        print_stats(e, &t);
    return !e->stats_json || write_json(e, &t, e->stats_json);
}
