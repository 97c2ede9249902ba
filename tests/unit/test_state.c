/* SPDX-License-Identifier: MIT */
/*
 * Nested state save/restore (include/nestvmx/state.h, docs/STATE-FORMAT.md): bit-exact round
 * trips in root and non-root operation, a restored vCPU behaving as the original, and every
 * malformed blob rejected with the vCPU untouched.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_format.h"
#include "ept_l2_fixture.h"
#include "vmx_harness.h"

static harness h, h2;

static void setup(void)
{
    harness_nested_init(&h, NULL, NULL);
}
static void teardown(void)
{
    harness_fini(&h);
}
TestSuite(state, .init = setup, .fini = teardown);

typedef struct blob {
    uint8_t *bytes;
    size_t size;
} blob;

static blob save(harness *x)
{
    blob b;
    cr_assert_eq(nvmx_vcpu_state_size(x->vcpu, &b.size), NVMX_OK);
    b.bytes = malloc(b.size);
    size_t written;
    cr_assert_eq(nvmx_vcpu_state_save(x->vcpu, b.bytes, b.size, &written), NVMX_OK, "%s",
                 x->host.last_log);
    cr_assert_eq(written, b.size);
    return b;
}

static bool same(blob a, blob b)
{
    return a.size == b.size && memcmp(a.bytes, b.bytes, a.size) == 0;
}

/* The destination: a fresh VM and vCPU with L1's memory and vmcs01 copied, as an embedder
 * restores them before the nested state. */
static void destination(const nvmx_vm_config *config)
{
    harness_init(&h2, config);
    memcpy(h2.host.ram, h.host.ram, h.host.ram_size);
    memcpy(h2.host.vmcs, h.host.vmcs, sizeof(h.host.vmcs));
    memcpy(h2.host.regs, h.host.regs, sizeof(h.host.regs));
    memcpy(h2.host.segs, h.host.segs, sizeof(h.host.segs));
    h2.host.vmcs_backed = h.host.vmcs_backed;
    h2.host.running = h.host.running;
}

static void launch(harness *x)
{
    cr_assert_eq(harness_exit(x, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(x->next.run, NVMX_RUN_L2, "%s", x->host.last_log);
    x->host.running = NVMX_HW_VMCS02;
}

static void l2_cpuid_exit(harness *x)
{
    nvmx_exit exit = {.reason = NVMX_EXIT_CPUID, .instruction_length = 2};
    cr_assert_eq(nvmx_on_l2_exit(x->vcpu, &exit, &x->next), NVMX_OK);
    cr_assert_eq(x->next.run, NVMX_RUN_L1);
    x->host.running = NVMX_HW_VMCS01;
}

/* Rewrite the checksum after a deliberate change, so that the content checks are reached. */
static void reseal(blob b)
{
    state_put32(b.bytes + STATE_CRC_OFFSET, state_blob_crc(b.bytes, b.size));
}

/* The offset of the first section of a type, 0 if none. */
static size_t section_offset(blob b, uint16_t type)
{
    size_t offset = STATE_HEADER_SIZE;
    state_section s;
    for (uint32_t i = 0; i < state_get32(b.bytes + 20); i++) {
        size_t here = offset;
        cr_assert_eq(state_next_section(b.bytes, b.size, &offset, &s), NVMX_OK);
        if (s.type == type)
            return here;
    }
    return 0;
}

/* The value slot of a field in a field-pair list starting at `pairs`. */
static uint8_t *field_slot(uint8_t *pairs, uint32_t count, uint32_t encoding)
{
    for (uint32_t i = 0; i < count; i++) {
        if (state_get32(pairs + i * STATE_FIELD_ENTRY) == encoding)
            return pairs + i * STATE_FIELD_ENTRY + 8;
    }
    cr_assert_fail("field %x not in the blob", encoding);
    return NULL;
}

static uint8_t *vmcs12_field(blob b, uint32_t encoding)
{
    uint8_t *p = b.bytes + section_offset(b, STATE_SECTION_VMCS12) + STATE_SECTION_HEADER_SIZE;
    return field_slot(p + STATE_VMCS12_FIXED, state_get32(p + 24), encoding);
}

static uint8_t *l2_field(blob b, uint32_t encoding)
{
    size_t off = section_offset(b, STATE_SECTION_L2);
    cr_assert(off);
    uint8_t *p = b.bytes + off + STATE_SECTION_HEADER_SIZE;
    return field_slot(p + STATE_L2_FIXED, state_get32(p), encoding);
}

/* A restore that must fail: the given status, and the destination exactly as before. */
static void assert_rejected(blob b, nvmx_status expected)
{
    blob before = save(&h2);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, b.bytes, b.size), expected, "%s",
                 h2.host.last_log);
    blob after = save(&h2);
    cr_assert(same(before, after), "a failed restore changed the vCPU");
    free(before.bytes);
    free(after.bytes);
}

Test(state, save_restore_save_is_bit_exact_in_root_operation)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B), NVMX_OK);
    cr_assert(harness_succeeded(&h));
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    blob b = save(&h2);
    cr_assert(same(a, b));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h2.vcpu), VMCS_B);
    cr_assert(nvmx_vcpu_in_vmx_operation(h2.vcpu));
    free(a.bytes);
    free(b.bytes);
    harness_fini(&h2);
}

Test(state, save_outside_vmx_operation_restores_outside_vmx_operation)
{
    harness_fini(&h);
    harness_init(&h, NULL);
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h2.vcpu));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h2.vcpu), NVMX_INVALID_VMPTR);
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, restored_vcpu_launches_the_same_l2)
{
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK);
    launch(&h);
    launch(&h2);
    cr_assert_eq(memcmp(h.host.vmcs, h2.host.vmcs, sizeof(h.host.vmcs)), 0);
    free(a.bytes);
    harness_fini(&h2);
}

/* Saved while L2 runs, after L2 made progress: the restored L2 continues from vmcs02's state,
 * and its next exit reaches L1 exactly as on the original. */
Test(state, save_while_l2_runs_resumes_l2_and_exits_identically)
{
    launch(&h);
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP] += 0x40;
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RSP] -= 0x80;
    blob a = save(&h);
    cr_assert(section_offset(a, STATE_SECTION_L2));
    destination(NULL);
    memset(h2.host.vmcs[NVMX_HW_VMCS02], 0, sizeof(h2.host.vmcs[NVMX_HW_VMCS02]));
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    cr_assert(nvmx_vcpu_in_guest_mode(h2.vcpu));
    cr_assert_eq(h2.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP],
                 h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_GUEST_RIP]);
    blob b = save(&h2);
    cr_assert(same(a, b), "save -> restore -> save differs while L2 runs");
    l2_cpuid_exit(&h);
    l2_cpuid_exit(&h2);
    cr_assert_eq(memcmp(h.host.vmcs[NVMX_HW_VMCS01], h2.host.vmcs[NVMX_HW_VMCS01],
                        sizeof(h.host.vmcs[NVMX_HW_VMCS01])),
                 0, "L1 state after the exit differs");
    blob c = save(&h), d = save(&h2);
    cr_assert(same(c, d), "vmcs12 after the exit differs");
    free(a.bytes);
    free(b.bytes);
    free(c.bytes);
    free(d.bytes);
    harness_fini(&h2);
}

/* The event vmcs02's next entry injects (here one L0 re-injects) survives the restore; L1's
 * injected event of the original entry, long delivered, is not injected again. */
Test(state, pending_vmcs02_injection_is_restored_and_l1_event_not_repeated)
{
    uint32_t l1_event = NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << 8) | 0x30;
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_RFLAGS, 0x202), NVMX_OK);
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_VM_ENTRY_INTR_INFO_FIELD, l1_event), NVMX_OK);
    launch(&h);
    uint32_t reinjected = NVMX_INTR_INFO_VALID | (NVMX_INTR_TYPE_EXTERNAL << 8) | 0x51;
    h.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD] = reinjected;
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    cr_assert_eq(h2.host.vmcs[NVMX_HW_VMCS02][VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD], reinjected);
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, size_query_and_too_small_buffer_write_nothing)
{
    size_t size, written = 0;
    cr_assert_eq(nvmx_vcpu_state_size(h.vcpu, &size), NVMX_OK);
    uint8_t *buffer = calloc(1, size);
    cr_assert_eq(nvmx_vcpu_state_save(h.vcpu, buffer, size - 1, &written),
                 NVMX_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(written, size);
    for (size_t i = 0; i < size; i++)
        cr_assert_eq(buffer[i], 0);
    cr_assert_eq(nvmx_vcpu_state_size(NULL, &size), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_vcpu_state_save(h.vcpu, NULL, 0, NULL), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_vcpu_state_restore(h.vcpu, NULL, 0), NVMX_ERR_INVALID_ARGUMENT);
    free(buffer);
}

Test(state, every_truncation_is_rejected_and_changes_nothing)
{
    blob a = save(&h);
    destination(NULL);
    for (size_t len = 0; len < a.size; len += (len < 64 ? 1 : 37))
        assert_rejected((blob){a.bytes, len}, NVMX_ERR_BAD_STATE);
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, random_corruptions_are_rejected_and_change_nothing)
{
    launch(&h);
    blob a = save(&h);
    destination(NULL);
    uint8_t *copy = malloc(a.size);
    srand(7);
    for (int round = 0; round < 1500; round++) {
        memcpy(copy, a.bytes, a.size);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            copy[(size_t)rand() % a.size] ^= (uint8_t)(1u << (rand() % 8));
        if (memcmp(copy, a.bytes, a.size) == 0)
            continue;
        nvmx_status status = nvmx_vcpu_state_restore(h2.vcpu, copy, a.size);
        cr_assert(status == NVMX_ERR_BAD_STATE || status == NVMX_ERR_STATE_VERSION, "round %d: %s",
                  round, nvmx_status_str(status));
    }
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h2.vcpu));
    free(copy);
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, wrong_magic_and_other_major_version_are_refused)
{
    blob a = save(&h);
    destination(NULL);
    a.bytes[0] ^= 1;
    reseal(a);
    assert_rejected(a, NVMX_ERR_BAD_STATE);
    a.bytes[0] ^= 1;
    state_put16(a.bytes + 8, NVMX_STATE_FORMAT_MAJOR + 1);
    reseal(a);
    assert_rejected(a, NVMX_ERR_STATE_VERSION);
    cr_assert(strstr(h2.host.last_log, "major version"));
    free(a.bytes);
    harness_fini(&h2);
}

/* Forward compatibility (docs/STATE-FORMAT.md): an unknown optional section is skipped, an
 * unknown required one refused. */
static blob with_extra_section(blob a, uint16_t flags)
{
    blob b = {calloc(1, a.size + 16), a.size + 16};
    memcpy(b.bytes, a.bytes, a.size);
    state_put16(b.bytes + a.size, 0x7777);
    state_put16(b.bytes + a.size + 2, flags);
    state_put32(b.bytes + a.size + 4, 3);
    memcpy(b.bytes + a.size + 8, "abc", 3);
    state_put32(b.bytes + 16, (uint32_t)b.size);
    state_put32(b.bytes + 20, state_get32(b.bytes + 20) + 1);
    reseal(b);
    return b;
}

Test(state, unknown_optional_section_is_skipped_unknown_required_refused)
{
    blob a = save(&h);
    destination(NULL);
    blob optional = with_extra_section(a, 0), required = with_extra_section(a, 1);
    assert_rejected(required, NVMX_ERR_STATE_VERSION);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, optional.bytes, optional.size), NVMX_OK, "%s",
                 h2.host.last_log);
    free(optional.bytes);
    free(required.bytes);
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, field_wider_than_its_width_is_refused)
{
    blob a = save(&h);
    destination(NULL);
    state_put64(vmcs12_field(a, NVMX_FIELD_GUEST_CS_SELECTOR), 0x10000);
    reseal(a);
    assert_rejected(a, NVMX_ERR_BAD_STATE);
    cr_assert(strstr(h2.host.last_log, "wider"));
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, current_pointer_without_its_vmcs12_is_refused)
{
    blob a = save(&h);
    destination(NULL);
    size_t vcpu = section_offset(a, STATE_SECTION_VCPU) + STATE_SECTION_HEADER_SIZE;
    state_put64(a.bytes + vcpu + 16, VMCS_C);
    reseal(a);
    assert_rejected(a, NVMX_ERR_BAD_STATE);
    cr_assert(strstr(h2.host.last_log, "current-VMCS"));
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, l2_running_flag_without_l2_state_is_refused)
{
    blob a = save(&h);
    destination(NULL);
    size_t vcpu = section_offset(a, STATE_SECTION_VCPU) + STATE_SECTION_HEADER_SIZE;
    state_put32(a.bytes + vcpu, state_get32(a.bytes + vcpu) | STATE_VCPU_L2_RUNNING);
    reseal(a);
    assert_rejected(a, NVMX_ERR_BAD_STATE);
    free(a.bytes);
    harness_fini(&h2);
}

/* SDM 27.3.1.1: CR0.PE must be 1 for a guest without unrestricted guest. The restore re-runs
 * the VM-entry checks on the state L2 would resume with, and names the failing one. */
Test(state, restore_while_l2_runs_reruns_entry_checks_on_l2_state)
{
    launch(&h);
    blob a = save(&h);
    destination(NULL);
    uint8_t *cr0 = l2_field(a, NVMX_FIELD_GUEST_CR0);
    state_put64(cr0, state_get64(cr0) & ~(uint64_t)NVMX_CR0_PE);
    reseal(a);
    assert_rejected(a, NVMX_ERR_BAD_STATE);
    cr_assert(strstr(h2.host.last_log, "VM-entry check"), "%s", h2.host.last_log);
    cr_assert_not(nvmx_vcpu_in_guest_mode(h2.vcpu));
    free(a.bytes);
    harness_fini(&h2);
}

Test(state, saved_under_other_capabilities_names_what_is_missing)
{
    blob a = save(&h);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *hide[] = {"vmx-hlt-exit"};
    config.disabled_features = hide;
    config.disabled_feature_count = 1;
    destination(&config);
    assert_rejected(a, NVMX_ERR_INCOMPATIBLE_CAPS);
    cr_assert(strstr(h2.host.last_log, "vmx-hlt-exit"), "%s", h2.host.last_log);
    free(a.bytes);
    harness_fini(&h2);
}

/* Migration: the destination VM takes the blob's capabilities as pinned ones. */
Test(state, blob_capabilities_pin_the_destination_vm)
{
    blob a = save(&h);
    nvmx_vmx_caps caps, expected;
    cr_assert_eq(nvmx_state_caps(a.bytes, a.size, &caps), NVMX_OK);
    nvmx_vm_get_caps(h.vm, &expected);
    cr_assert_eq(memcmp(&caps, &expected, sizeof(caps)), 0);
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.pinned_caps = &caps;
    destination(&config);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    a.bytes[40] ^= 1;
    cr_assert_eq(nvmx_state_caps(a.bytes, a.size, &caps), NVMX_ERR_BAD_STATE);
    free(a.bytes);
    harness_fini(&h2);
}

/* The blob is the truth: what the destination vCPU had cached is dropped, not written back
 * into the restored L1 memory. */
Test(state, restore_drops_previous_vmcs12s_without_writing_them_back)
{
    blob a = save(&h);
    destination(NULL);
    harness_vmxon_vmptrld(&h2);
    cr_assert_eq(harness_vmwrite(&h2, NVMX_FIELD_GUEST_RIP, 0x1234), NVMX_OK);
    long writes = h2.host.l1_writes;
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK);
    cr_assert_eq(h2.host.l1_writes, writes);
    uint64_t rip;
    cr_assert_eq(harness_vmread(&h2, NVMX_FIELD_GUEST_RIP, &rip), NVMX_OK);
    uint64_t original;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_GUEST_RIP, &original), NVMX_OK);
    cr_assert_eq(rip, original);
    free(a.bytes);
    harness_fini(&h2);
}

/* VMRESUME after restore keeps the launch generation: a VMCS launched before a VMXOFF on the
 * source is still "launched before VMXOFF" (error 6 is not lost, SDM 31.3 VMRESUME). */
Test(state, launch_generation_survives_restore)
{
    launch(&h);
    l2_cpuid_exit(&h);
    blob a = save(&h);
    size_t off = section_offset(a, STATE_SECTION_VCPU) + STATE_SECTION_HEADER_SIZE;
    cr_assert_eq(state_get32(a.bytes + off + 4), h.vcpu->cache.generation);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK);
    cr_assert_eq(harness_exit(&h2, NVMX_EXIT_VMRESUME, 0, 0), NVMX_OK);
    cr_assert_eq(h2.next.run, NVMX_RUN_L2, "%s", h2.host.last_log);
    free(a.bytes);
    harness_fini(&h2);
}

/* A hostile blob with a valid checksum: random bytes changed, then resealed. Whatever the
 * outcome, it is one of the documented statuses, and the vCPU stays usable (a save works). */
Test(state, resealed_random_mutations_fail_cleanly_or_restore_consistently)
{
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B), NVMX_OK);
    cr_assert_eq(harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_A), NVMX_OK);
    launch(&h);
    blob a = save(&h);
    destination(NULL);
    uint8_t *copy = malloc(a.size);
    srand(11);
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, a.bytes, a.size);
        int changes = 1 + rand() % 3;
        for (int c = 0; c < changes; c++) {
            size_t at = STATE_HEADER_SIZE + (size_t)rand() % (a.size - STATE_HEADER_SIZE);
            copy[at] = (rand() % 4) ? (uint8_t)(copy[at] ^ (1u << (rand() % 8))) : (uint8_t)rand();
        }
        blob mutated = {copy, a.size};
        reseal(mutated);
        nvmx_status status = nvmx_vcpu_state_restore(h2.vcpu, copy, a.size);
        cr_assert(status == NVMX_OK || status == NVMX_ERR_BAD_STATE ||
                      status == NVMX_ERR_STATE_VERSION || status == NVMX_ERR_INCOMPATIBLE_CAPS,
                  "round %d: %s", round, nvmx_status_str(status));
        blob after = save(&h2);
        free(after.bytes);
    }
    free(copy);
    free(a.bytes);
    harness_fini(&h2);
}

/* The VMX-preemption timer's deadline (in L1's TSC, SDM 26.7) travels with the state: the
 * restored L2 exits to L1 at the same moment. */
Test(state, preemption_timer_deadline_survives_restore)
{
    uint64_t pin;
    cr_assert_eq(harness_vmread(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, &pin), NVMX_OK);
    cr_assert_eq(
        harness_vmwrite(&h, NVMX_FIELD_PIN_BASED_VM_EXEC_CONTROL, pin | NVMX_CTL(PREEMPTION_TIMER)),
        NVMX_OK);
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_VMX_PREEMPTION_TIMER_VALUE, 100), NVMX_OK);
    h.host.tsc = 1000;
    launch(&h);
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    uint64_t d1, d2;
    cr_assert(nvmx_l2_timer_deadline(h.vcpu, &d1));
    cr_assert(nvmx_l2_timer_deadline(h2.vcpu, &d2));
    cr_assert_eq(d1, d2);
    free(a.bytes);
    harness_fini(&h2);
}

/* The checksum is CRC-32C: the standard check value of "123456789" is 0xE3069283. */
Test(state, checksum_is_crc32c)
{
    cr_assert_eq(state_crc32c(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
}

/* An L2 the library parks in wait-for-SIPI (vmcs02 active meanwhile) stays parked across a
 * restore, and the SIPI still reaches L1 as exit reason 4 (SDM 26.2). */
Test(state, parked_wait_for_sipi_survives_restore)
{
    cr_assert_eq(harness_vmwrite(&h, NVMX_FIELD_GUEST_ACTIVITY_STATE, NVMX_ACTIVITY_WAIT_SIPI),
                 NVMX_OK);
    cr_assert_eq(harness_exit(&h, NVMX_EXIT_VMLAUNCH, 0, 0), NVMX_OK);
    cr_assert_eq(h.next.run, NVMX_RUN_L2_PARKED, "%s", h.host.last_log);
    h.host.running = NVMX_HW_VMCS02;
    blob a = save(&h);
    destination(NULL);
    cr_assert_eq(nvmx_vcpu_state_restore(h2.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 h2.host.last_log);
    blob b = save(&h2);
    cr_assert(same(a, b));
    cr_assert_eq(nvmx_l1_sipi(h2.vcpu, 0x12, &h2.next), NVMX_OK);
    cr_assert_eq(h2.next.run, NVMX_RUN_L1);
    uint64_t reason, qualification;
    h2.host.running = NVMX_HW_VMCS01;
    cr_assert_eq(harness_vmread(&h2, NVMX_FIELD_VM_EXIT_REASON, &reason), NVMX_OK);
    cr_assert_eq(harness_vmread(&h2, NVMX_FIELD_EXIT_QUALIFICATION, &qualification), NVMX_OK);
    cr_assert_eq(reason, NVMX_EXIT_SIPI);
    cr_assert_eq(qualification, 0x12);
    free(a.bytes);
    free(b.bytes);
    harness_fini(&h2);
}

/* Restored while L2 runs under EPT: the restore builds vmcs02 with a new EPT02 root, and
 * vmcs02's EPTP must still name it afterwards (it named a dropped root once, so L2's next
 * EPT violation filled an EPT02 the hardware did not use). */
Test(state, restore_while_l2_runs_under_ept_leaves_vmcs02_eptp_on_the_live_ept02)
{
    enum { L2_GPA = 0x400000, L1_GPA = 0x500000 };
    ept_l2 x;
    ept_l2_init(&x, NULL, NULL, false);
    ept12_map(&x, L2_GPA, L1_GPA, 4096, EPT_RWX | EPT_WB);
    blob a = save(&x.h);
    cr_assert_eq(nvmx_vcpu_state_restore(x.h.vcpu, a.bytes, a.size), NVMX_OK, "%s",
                 x.h.host.last_log);
    cr_assert_eq(ept_l2_violation(&x, L2_GPA, EPT_QUAL_READ, 0), NVMX_OK);
    uint64_t leaf, size;
    cr_assert(ept02_hw_walk(ept_l2_eptp02(&x), L2_GPA, &leaf, &size),
              "the EPT02 vmcs02 names does not hold the page the violation mapped");
    free(a.bytes);
    ept_l2_fini(&x);
}
