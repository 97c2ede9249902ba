/* SPDX-License-Identifier: MIT */
/*
 * The memo of the control and host-state VM-entry checks (lib/vmcs/entry_checks.c): after
 * they passed on a vmcs12 they are skipped while none of their inputs changed. Skipping must
 * never hide a broken rule: every row of the control and host-state break tables (one per
 * check, tests/unit/entry_fixture.h) must be visible to the memo.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "entry_fixture.h"
#include "vmx_harness.h"

/* The checks pass on the fixture's vmcs12; the memo records that. */
static void pass_and_record(entry_fixture *f)
{
    entry_checks_memo_inputs(f->vm.entry_memo_inputs);
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f->vcpu, &f->v);
    entry_check_ctx_prepare_controls(&c);
    cr_assert_null(entry_checks_first_failure(&c, NVMX_CHECK_CONTROLS));
    cr_assert_null(entry_checks_first_failure(&c, NVMX_CHECK_HOST_STATE));
    entry_checks_memo_record(&c, &f->v);
}

static bool memo_holds(entry_fixture *f)
{
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f->vcpu, &f->v);
    entry_check_ctx_prepare_controls(&c);
    return entry_checks_memo_holds(&c);
}

/* What vmcs12_write marks when the fields are written one by one: those whose value changed. */
static void mark_changed(vmcs12 *v, const vmcs12 *before)
{
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (v->field[i] != before->field[i])
            v->unchecked[i / 64] |= 1ull << (i % 64);
    }
}

Test(entry_memo, holds_after_a_pass_when_nothing_changed)
{
    entry_fixture f;
    entry_fixture_init(&f);
    pass_and_record(&f);
    cr_assert(memo_holds(&f));
    entry_fixture_fini(&f);
}

/* The inputs that are not vmcs12 fields: L1's IA32_EFER.LMA (SDM 27.2.4). */
Test(entry_memo, l1_leaving_ia32e_mode_is_seen)
{
    entry_fixture f;
    entry_fixture_init(&f);
    pass_and_record(&f);
    f.host.regs[NVMX_REG_EFER] &= ~NVMX_EFER_LMA;
    cr_assert_not(memo_holds(&f));
    entry_fixture_fini(&f);
}

/* A VM exit rewrites the entry controls and the injection field with the values they hold:
 * the memo keeps; a real change does not. */
Test(entry_memo, rewrite_with_the_same_value_keeps_it_a_change_does_not)
{
    entry_fixture f;
    entry_fixture_init(&f);
    pass_and_record(&f);
    const vmcs_field_info *entry = vmcs_field_lookup(NVMX_FIELD_VM_ENTRY_CONTROLS);
    uint64_t controls = GET(&f, VM_ENTRY_CONTROLS);
    vmcs12_write(&f.v, entry, NVMX_FIELD_VM_ENTRY_CONTROLS, controls);
    cr_assert(memo_holds(&f));
    vmcs12_write(&f.v, entry, NVMX_FIELD_VM_ENTRY_CONTROLS, controls ^ NVMX_CTL(ENTRY_LOAD_PAT));
    cr_assert_not(memo_holds(&f));
    entry_fixture_fini(&f);
}

/* Another vmcs12 (another cache node) never inherits the memo. */
Test(entry_memo, another_vmcs12_is_checked)
{
    entry_fixture f;
    entry_fixture_init(&f);
    pass_and_record(&f);
    f.vcpu.entry_memo.node = &f.vm; /* the memo is of some other vmcs12 */
    cr_assert_not(memo_holds(&f));
    entry_fixture_fini(&f);
}

/* Every break of a control or host-state check changes an input the memo watches. Rows that
 * change the VM's capabilities (fixed for a VM's life, so no L1 can cause them) are not
 * memo cases; most rows must be. */
static unsigned breaks_seen(const entry_break *rows, size_t count, unsigned *capability_rows)
{
    unsigned seen = 0;
    for (size_t i = 0; i < count; i++) {
        entry_fixture f;
        entry_fixture_init(&f);
        pass_and_record(&f);
        vmcs12 before = f.v;
        nvmx_vmx_caps caps = f.vm.caps;
        unsigned width = f.vm.phys_addr_width;
        rows[i].apply(&f);
        mark_changed(&f.v, &before);
        if (memcmp(&caps, &f.vm.caps, sizeof(caps)) != 0 || width != f.vm.phys_addr_width) {
            (*capability_rows)++;
        } else {
            cr_assert_not(memo_holds(&f), "breaking %s is hidden by the memo", rows[i].check);
            seen++;
        }
        entry_fixture_fini(&f);
    }
    return seen;
}

Test(entry_memo, every_control_and_host_state_break_is_seen)
{
    unsigned capability_rows = 0;
    unsigned seen =
        breaks_seen(entry_breaks_controls, entry_breaks_controls_count, &capability_rows);
    seen += breaks_seen(entry_breaks_host, entry_breaks_host_count, &capability_rows);
    cr_assert_gt(seen, 2 * capability_rows, "%u rows seen, %u change capabilities", seen,
                 capability_rows);
}

static bool controls_and_host_pass(entry_fixture *f)
{
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f->vcpu, &f->v);
    entry_check_ctx_prepare_controls(&c);
    return !entry_checks_first_failure(&c, NVMX_CHECK_CONTROLS) &&
           !entry_checks_first_failure(&c, NVMX_CHECK_HOST_STATE);
}

/* Sharper: for each field a break changes, when the checks pass with every other change of the
 * row made and only that field's change then makes them fail, the memo must see that one
 * field (this is what finds a guest-state field a control check reads, such as GUEST_CR0 for
 * the error-code rule of SDM 27.2.1.3). Returns the number of such fields. */
static unsigned needed_fields_seen(const entry_break *rows, size_t count)
{
    unsigned seen = 0;
    for (size_t r = 0; r < count; r++) {
        entry_fixture before, after;
        entry_fixture_init(&before);
        entry_fixture_init(&after);
        rows[r].apply(&after);
        for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
            if (after.v.field[i] == before.v.field[i])
                continue;
            entry_fixture f;
            entry_fixture_init(&f);
            rows[r].apply(&f);
            f.v.field[i] = before.v.field[i];
            if (controls_and_host_pass(&f)) {
                pass_and_record(&f);
                f.v.field[i] = after.v.field[i];
                f.v.unchecked[i / 64] |= 1ull << (i % 64);
                if (!controls_and_host_pass(&f)) {
                    cr_assert_not(memo_holds(&f), "%s: the memo misses field %s", rows[r].check,
                                  vmcs_field_table[i].name);
                    seen++;
                }
            }
            entry_fixture_fini(&f);
        }
        entry_fixture_fini(&before);
        entry_fixture_fini(&after);
    }
    return seen;
}

Test(entry_memo, every_field_a_break_needs_is_watched)
{
    unsigned seen = needed_fields_seen(entry_breaks_controls, entry_breaks_controls_count);
    seen += needed_fields_seen(entry_breaks_host, entry_breaks_host_count);
    cr_assert_gt(seen, 100, "only %u needed fields found", seen);
}

/* Through the public entry points: a round trip leaves the memo holding; L1's VMWRITE of a
 * host field the checks refuse (SDM 27.2.2: CR3 beyond the physical-address width) fails the
 * next VMRESUME with VMfailValid(8). */
static harness h;

static void l2_cpuid_exit(void)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_CPUID, .instruction_length = 2};
    cr_assert_eq(nvmx_on_l2_exit(h.vcpu, &exit, &h.next), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L1);
    h.host.running = NVMX_HW_VMCS01;
}

static void enter(uint32_t reason)
{
    cr_assert_eq(harness_exit(&h, reason, 0, 0), NVMX_OK, "%s", h.host.last_log);
    cr_assert_eq(h.next.run, NVMX_RUN_L2, "entry failed: %s", h.host.last_log);
    h.host.running = NVMX_HW_VMCS02;
}

/* VMfailValid(error) as L1 sees it: ZF alone in its RFLAGS (vmcs01, SDM 31.2) and the error
 * number in vmcs12. (harness_failed_valid reads the registers of a host without vmcs01.) */
static bool l1_failed_valid(unsigned error)
{
    uint64_t rflags = h.host.vmcs[NVMX_HW_VMCS01][VMCS12_ORD_GUEST_RFLAGS];
    return h.host.exception_count == 0 && (rflags & NVMX_RFLAGS_ARITH) == NVMX_RFLAGS_ZF &&
           vmcs12_get(&h.vcpu->current->data, VMCS12_ORD_VM_INSTRUCTION_ERROR) == error;
}

Test(entry_memo, host_field_written_after_a_round_trip_fails_vmresume_8)
{
    harness_nested_init(&h, NULL, NULL);
    enter(NVMX_EXIT_VMLAUNCH);
    l2_cpuid_exit();
    enter(NVMX_EXIT_VMRESUME);
    l2_cpuid_exit();
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_HOST_CR3, 1ull << 50), NVMX_OK);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMRESUME, 0, 0), NVMX_OK);
    cr_assert(l1_failed_valid(NVMX_VMERR_ENTRY_INVALID_HOST_STATE), "%s", h.host.last_log);
    harness_fini(&h);
}

/* SDM 27.2.1.2: a VM-exit control L1 may not set fails the next VMRESUME with
 * VMfailValid(7), also after the controls passed before. */
Test(entry_memo, control_written_after_a_round_trip_fails_vmresume_7)
{
    harness_nested_init(&h, NULL, NULL);
    enter(NVMX_EXIT_VMLAUNCH);
    l2_cpuid_exit();
    uint64_t exit_controls;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_VM_EXIT_CONTROLS, &exit_controls), NVMX_OK);
    uint64_t allowed1 = h.vm->caps.true_exit >> 32;
    unsigned bit = 0;
    while (bit < 32 && ((allowed1 >> bit) & 1))
        bit++;
    cr_assert_lt(bit, 32, "some exit control must be reserved");
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_VM_EXIT_CONTROLS, exit_controls | (1ull << bit)),
                 NVMX_OK);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMRESUME, 0, 0), NVMX_OK);
    cr_assert(l1_failed_valid(NVMX_VMERR_ENTRY_INVALID_CONTROL_FIELD), "%s", h.host.last_log);
    harness_fini(&h);
}
