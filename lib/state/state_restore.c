/* SPDX-License-Identifier: MIT */
/*
 * Restoring the nested state (include/nestvmx/state.h, docs/STATE-FORMAT.md). Everything is
 * checked, and the new vmcs12 cache built aside, before the vCPU changes; a failure after the
 * swap (VM-entry checks, a hardware-VMCS op) swaps back. A blob is hostile input: every count
 * and length is checked against the bytes present, and the work is bounded by the blob size
 * and max_cached_vmcs.
 */
#include "../caps_model.h"
#include "../ept/ept02.h"
#include "../vmcs/entry_checks.h"
#include "../vmcs/vmcs02.h"
#include "state_format.h"

typedef struct restore_plan {
    bool have_caps, have_vcpu;
    nvmx_vmx_caps caps;
    uint32_t flags, generation;
    uint64_t vmxon, current, feature_control, deadline;
    const state_section *l2; /* points into `l2_section` when present */
    state_section l2_section;
    vmcs12_cache cache; /* the restored vmcs12s, built aside */
} restore_plan;

static nvmx_status reject(const nvmx_vm *vm, const char *why)
{
    const char *parts[] = {"nested state rejected: ", why};
    vm_log_parts(vm, NVMX_LOG_ERROR, parts, 2);
    return NVMX_ERR_BAD_STATE;
}

static bool has_flag(const restore_plan *p, uint32_t flag)
{
    return (p->flags & flag) != 0;
}

/* ---- Sections ------------------------------------------------------------------------------ */

static nvmx_status parse_vcpu(const nvmx_vm *vm, const state_section *s, restore_plan *p)
{
    if (p->have_vcpu || s->length != STATE_VCPU_SIZE)
        return reject(vm, "the vCPU section is repeated or has the wrong size");
    p->have_vcpu = true;
    p->flags = state_get32(s->payload);
    p->generation = state_get32(s->payload + 4);
    p->vmxon = state_get64(s->payload + 8);
    p->current = state_get64(s->payload + 16);
    p->feature_control = state_get64(s->payload + 24);
    p->deadline = state_get64(s->payload + 32);
    if (p->flags & ~STATE_VCPU_FLAGS_KNOWN)
        return reject(vm, "the vCPU section has unknown flags");
    return NVMX_OK;
}

/* One (encoding, value) pair: a field of this VM, within its width, not seen before. */
static nvmx_status parse_field(const nvmx_vm *vm, const uint8_t *e, uint64_t *seen,
                               unsigned *ordinal, uint64_t *value)
{
    uint32_t encoding = state_get32(e);
    const vmcs_field_info *f = vmcs_field_lookup(encoding);
    if (!f || f->encoding != encoding || state_get32(e + 4) != 0)
        return reject(vm, "a VMCS field encoding is unknown to this library version");
    *ordinal = f->ordinal;
    *value = state_get64(e + 8);
    if (!((vm->field_exists[*ordinal / 64] >> (*ordinal % 64)) & 1) && *value != 0)
        return reject(vm, "a VMCS field is set that does not exist for this VM's capabilities");
    if (*value & ~vmcs_field_width_mask(encoding))
        return reject(vm, "a VMCS field value is wider than the field");
    if ((seen[*ordinal / 64] >> (*ordinal % 64)) & 1)
        return reject(vm, "a VMCS field appears twice");
    seen[*ordinal / 64] |= 1ull << (*ordinal % 64);
    return NVMX_OK;
}

static nvmx_status parse_vmcs12(const nvmx_vm *vm, const state_section *s, vmcs12_cached *e)
{
    if (s->length < STATE_VMCS12_FIXED)
        return reject(vm, "a vmcs12 section is truncated");
    const uint8_t *p = s->payload;
    uint32_t count = state_get32(p + 24);
    if ((uint64_t)count * STATE_FIELD_ENTRY != s->length - STATE_VMCS12_FIXED ||
        count > VMCS12_FIELD_COUNT || state_get16(p + 22) != 0 || state_get32(p + 28) != 0)
        return reject(vm, "a vmcs12 section's field count does not match its length");
    nvmx_memset(e, 0, sizeof(*e));
    e->gpa = state_get64(p);
    e->revision = state_get32(p + 8);
    e->abort = state_get32(p + 12);
    e->launch_generation = state_get32(p + 16);
    e->launch_state = p[20];
    if (e->launch_state > VMCS12_STATE_LAUNCHED_BEFORE_VMXOFF ||
        (p[21] & ~STATE_VMCS12_FLAGS_KNOWN))
        return reject(vm, "a vmcs12 has an unknown launch state or flags");
    e->memory_stale = p[21] & STATE_VMCS12_MEMORY_STALE;
    if ((e->gpa & 0xFFF) || (e->gpa >> vm->phys_addr_width))
        return reject(vm, "a vmcs12 address is not 4-KiB aligned or beyond L1's address width");
    uint64_t seen[VMCS12_FIELD_WORDS] = {0};
    for (uint32_t i = 0; i < count; i++) {
        unsigned ordinal;
        uint64_t value;
        nvmx_status status =
            parse_field(vm, p + STATE_VMCS12_FIXED + i * STATE_FIELD_ENTRY, seen, &ordinal, &value);
        if (status != NVMX_OK)
            return status;
        e->data.field[ordinal] = value;
    }
    /* The first entry after a restore rebuilds vmcs02 from the whole vmcs12. */
    nvmx_memset(e->data.dirty, 0xFF, sizeof(e->data.dirty));
    nvmx_memset(e->data.unchecked, 0xFF, sizeof(e->data.unchecked));
    return NVMX_OK;
}

static nvmx_status parse_l2(const nvmx_vm *vm, const state_section *s, restore_plan *p)
{
    if (p->l2 || s->length < STATE_L2_FIXED)
        return reject(vm, "the L2 section is repeated or truncated");
    uint32_t count = state_get32(s->payload);
    if ((uint64_t)count * STATE_FIELD_ENTRY != s->length - STATE_L2_FIXED ||
        state_get32(s->payload + 4) != 0)
        return reject(vm, "the L2 section's field count does not match its length");
    uint64_t seen[VMCS12_FIELD_WORDS] = {0};
    for (uint32_t i = 0; i < count; i++) {
        unsigned ordinal;
        uint64_t value;
        nvmx_status status = parse_field(vm, s->payload + STATE_L2_FIXED + i * STATE_FIELD_ENTRY,
                                         seen, &ordinal, &value);
        if (status != NVMX_OK)
            return status;
        if (!state_l2_field(vm, ordinal))
            return reject(vm, "the L2 section holds a field that is not L2 state");
    }
    p->l2_section = *s;
    p->l2 = &p->l2_section;
    return NVMX_OK;
}

static nvmx_status add_vmcs12(nvmx_vm *vm, const state_section *s, restore_plan *p)
{
    vmcs12_cached entry;
    nvmx_status status = parse_vmcs12(vm, s, &entry);
    if (status != NVMX_OK)
        return status;
    if (p->cache.count >= vm->max_cached_vmcs)
        return reject(vm, "more vmcs12s than this VM's max_cached_vmcs");
    if (vmcs12_cache_find(vm, &p->cache, entry.gpa))
        return reject(vm, "two vmcs12s at the same address");
    return vmcs12_cache_insert(vm, &p->cache, &entry);
}

static nvmx_status parse_section(nvmx_vm *vm, const state_section *s, restore_plan *p)
{
    switch (s->type) {
    case STATE_SECTION_CAPS:
        if (p->have_caps || state_parse_caps(s, &p->caps) != NVMX_OK)
            return reject(vm, "the capabilities section is repeated or malformed");
        p->have_caps = true;
        return NVMX_OK;
    case STATE_SECTION_VCPU:
        return parse_vcpu(vm, s, p);
    case STATE_SECTION_VMCS12:
        return add_vmcs12(vm, s, p);
    case STATE_SECTION_L2:
        return parse_l2(vm, s, p);
    default:
        if (!(s->flags & STATE_SECTION_REQUIRED))
            return NVMX_OK; /* an optional section of a later minor version */
        vm_log(vm, NVMX_LOG_ERROR,
               "nested state rejected: it has a required section this library version does not "
               "know; restore it with the version that wrote it or a later one");
        return NVMX_ERR_STATE_VERSION;
    }
}

static nvmx_status parse_sections(nvmx_vm *vm, const uint8_t *blob, size_t size, restore_plan *p)
{
    uint32_t count;
    nvmx_status status = state_check_header(vm, blob, size, &count);
    size_t offset = STATE_HEADER_SIZE;
    for (uint32_t i = 0; status == NVMX_OK && i < count; i++) {
        state_section s;
        if (state_next_section(blob, size, &offset, &s) != NVMX_OK)
            return reject(vm, "a section runs past the end of the blob or has nonzero padding");
        status = parse_section(vm, &s, p);
    }
    if (status == NVMX_OK && offset != size)
        return reject(vm, "bytes after the last section");
    if (status == NVMX_OK && (!p->have_caps || !p->have_vcpu))
        return reject(vm, "the capabilities or vCPU section is missing");
    return status;
}

/* ---- Consistency --------------------------------------------------------------------------- */

/* Every feature that differs is named, so the operator knows what the destination lacks. */
static nvmx_status check_caps(const nvmx_vm *vm, const nvmx_vmx_caps *saved)
{
    if (nvmx_memcmp(saved, &vm->caps, sizeof(*saved)) == 0)
        return NVMX_OK;
    vm_log(vm, NVMX_LOG_ERROR,
           "nested state rejected: saved under other VMX capabilities than this VM exposes; "
           "create the VM with nvmx_state_caps() of the blob as pinned_caps");
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        bool had = caps_feature_bit(saved, (nvmx_feature)f);
        if (had == caps_feature_bit(&vm->caps, (nvmx_feature)f))
            continue;
        const char *parts[] = {had ? "missing here: L1 was given " : "extra here: ",
                               nvmx_feature_name((nvmx_feature)f),
                               had ? "" : " (L1 was not given it)"};
        vm_log_parts(vm, NVMX_LOG_ERROR, parts, 3);
    }
    return NVMX_ERR_INCOMPATIBLE_CAPS;
}

static bool page_address_ok(const nvmx_vm *vm, uint64_t gpa)
{
    return !(gpa & 0xFFF) && !(gpa >> vm->phys_addr_width);
}

static nvmx_status check_vcpu(nvmx_vm *vm, restore_plan *p)
{
    const uint32_t running_only =
        STATE_VCPU_L2_RUNNING | STATE_VCPU_TIMER_ACTIVE | STATE_VCPU_MTF_INJECTED;
    if (!has_flag(p, STATE_VCPU_VMX_OPERATION)) {
        if (p->vmxon != NVMX_INVALID_VMPTR || p->current != NVMX_INVALID_VMPTR || p->cache.count ||
            (p->flags & running_only))
            return reject(vm, "outside VMX operation but with VMX state");
        return NVMX_OK;
    }
    if (!page_address_ok(vm, p->vmxon))
        return reject(vm, "the VMXON pointer is not a valid page address");
    vmcs12_cached *current = NULL;
    if (p->current != NVMX_INVALID_VMPTR) {
        current = vmcs12_cache_find(vm, &p->cache, p->current);
        if (!current || p->current == p->vmxon)
            return reject(vm, "the current-VMCS pointer has no vmcs12 in the blob");
    }
    if (!has_flag(p, STATE_VCPU_L2_RUNNING)) {
        if ((p->flags & running_only) || p->l2)
            return reject(vm, "L2 state, timer or MTF state while L2 does not run");
        return NVMX_OK;
    }
    if (!current || !p->l2 || current->launch_state != VMCS12_STATE_LAUNCHED ||
        (current->revision & VMCS12_SHADOW_INDICATOR))
        return reject(vm, "L2 runs but there is no launched current vmcs12 or no L2 state");
    if (has_flag(p, STATE_VCPU_TIMER_ACTIVE) &&
        !nvmx_vm_has_feature(vm, NVMX_FEATURE_PREEMPTION_TIMER))
        return reject(vm, "a preemption-timer deadline without the preemption timer");
    return NVMX_OK;
}

/* ---- Commit -------------------------------------------------------------------------------- */

/* What the restore replaces, kept until it cannot fail any more. */
typedef struct vcpu_snapshot {
    bool vmx_operation, guest_mode, timer_active, mtf_injected;
    uint8_t parked;
    uint64_t vmxon_ptr, current_vmptr, feature_control, timer_deadline;
    struct vmcs12_cached *current;
    vmcs12_cache cache;
} vcpu_snapshot;

static void snapshot_take(const nvmx_vcpu *vcpu, vcpu_snapshot *s)
{
    *s = (vcpu_snapshot){.vmx_operation = vcpu->vmx_operation,
                         .guest_mode = vcpu->guest_mode,
                         .timer_active = vcpu->timer_active,
                         .mtf_injected = vcpu->mtf_injected,
                         .parked = vcpu->parked,
                         .vmxon_ptr = vcpu->vmxon_ptr,
                         .current_vmptr = vcpu->current_vmptr,
                         .feature_control = vcpu->feature_control,
                         .timer_deadline = vcpu->timer_deadline,
                         .current = vcpu->current,
                         .cache = vcpu->cache};
}

static void snapshot_put(nvmx_vcpu *vcpu, const vcpu_snapshot *s)
{
    vcpu->vmx_operation = s->vmx_operation;
    vcpu->guest_mode = s->guest_mode;
    vcpu->timer_active = s->timer_active;
    vcpu->mtf_injected = s->mtf_injected;
    vcpu->parked = s->parked;
    vcpu->vmxon_ptr = s->vmxon_ptr;
    vcpu->current_vmptr = s->current_vmptr;
    vcpu->feature_control = s->feature_control;
    vcpu->timer_deadline = s->timer_deadline;
    vcpu->current = s->current;
    vcpu->cache = s->cache;
}

static void install(nvmx_vcpu *vcpu, restore_plan *p)
{
    vcpu_snapshot s = {
        .vmx_operation = has_flag(p, STATE_VCPU_VMX_OPERATION),
        .guest_mode = has_flag(p, STATE_VCPU_L2_RUNNING),
        .timer_active = has_flag(p, STATE_VCPU_TIMER_ACTIVE),
        .mtf_injected = has_flag(p, STATE_VCPU_MTF_INJECTED),
        .parked = has_flag(p, STATE_VCPU_PARKED_SHUTDOWN)    ? NVMX_ACTIVITY_SHUTDOWN
                  : has_flag(p, STATE_VCPU_PARKED_WAIT_SIPI) ? NVMX_ACTIVITY_WAIT_SIPI
                                                             : 0,
        .vmxon_ptr = p->vmxon,
        .current_vmptr = p->current,
        .feature_control = p->feature_control,
        .timer_deadline = has_flag(p, STATE_VCPU_TIMER_ACTIVE) ? p->deadline : 0,
        .cache = p->cache,
    };
    s.cache.generation = p->generation;
    snapshot_put(vcpu, &s);
    vcpu->current = p->current == NVMX_INVALID_VMPTR
                        ? NULL
                        : vmcs12_cache_find(vcpu->vm, &vcpu->cache, p->current);
}

/* The vmcs12 as vmcs02's next entry sees it: L2's saved state and pending event in place of
 * the values L1 wrote before the entry. */
static void l2_view(const restore_plan *p, const vmcs12 *v, vmcs12 *out)
{
    *out = *v;
    uint32_t count = state_get32(p->l2->payload); /* checked by parse_l2 */
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = p->l2->payload + STATE_L2_FIXED + i * STATE_FIELD_ENTRY;
        const vmcs_field_info *f = vmcs_field_lookup(state_get32(e));
        if (f)
            out->field[f->ordinal] = state_get64(e + 8);
    }
}

static nvmx_status check_l2_entry(nvmx_vcpu *vcpu, const vmcs12 *view, entry_check_ctx *c)
{
    entry_check_ctx_init(c, vcpu, view);
    /* The registers are L2's now; L1's mode is in vmcs01, where L1's state waits (27.2.4). */
    uint64_t l1_efer;
    if (vcpu->vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS01, NVMX_FIELD_GUEST_IA32_EFER,
                                   &l1_efer) != NVMX_OK)
        return NVMX_ERR_HOST;
    c->l1_ia32e = (l1_efer & NVMX_EFER_LMA) != 0;
    entry_check_ctx_prepare_controls(c);
    const entry_check *failed = NULL;
    for (unsigned k = 0; !failed && k < NVMX_CHECK_CATEGORY_COUNT; k++) {
        if (k == NVMX_CHECK_GUEST_STATE)
            entry_check_ctx_prepare_guest(c);
        failed = entry_checks_first_failure(c, (nvmx_entry_check_category)k);
    }
    if (!failed)
        return NVMX_OK;
    const char *parts[] = {"nested state rejected: L2 could not be resumed, VM-entry check ",
                           failed->info.name, " fails"};
    vm_log_parts(vcpu->vm, NVMX_LOG_ERROR, parts, 3);
    return NVMX_ERR_BAD_STATE;
}

static nvmx_status write_l2_state(nvmx_vcpu *vcpu, const vmcs12 *view, const entry_check_ctx *c)
{
    const nvmx_vm *vm = vcpu->vm;
    vmcs02_invalidate(vcpu);
    nvmx_status status = vmcs02_build(vcpu, c->pdptes_loaded ? c->pdpte : NULL);
    for (unsigned i = 0; status == NVMX_OK && i < VMCS12_FIELD_COUNT; i++) {
        if (!state_l2_field(vm, i))
            continue;
        if (vm->ops.hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS02, vmcs_field_table[i].encoding,
                                  view->field[i]) != NVMX_OK)
            status = NVMX_ERR_HOST;
    }
    if (status != NVMX_OK)
        vmcs02_invalidate(vcpu);
    return status;
}

static nvmx_status commit(nvmx_vcpu *vcpu, restore_plan *p)
{
    vcpu_snapshot before;
    snapshot_take(vcpu, &before);
    install(vcpu, p);
    nvmx_status status = NVMX_OK;
    if (vcpu->guest_mode) {
        vmcs12 view;
        entry_check_ctx c;
        l2_view(p, &vcpu->current->data, &view);
        status = vcpu->vm->ops.hw_vmcs_read && vcpu->vm->ops.hw_vmcs_write
                     ? check_l2_entry(vcpu, &view, &c)
                     : NVMX_ERR_UNSUPPORTED;
        if (status == NVMX_OK) {
            /* EPT02 goes before vmcs02 is built: the build creates the EPT02 root its EPTP
             * names, which a later drop would free under it. A failed build leaves vmcs02
             * lost anyway (state.h), and EPT02 is derived state, rebuilt on demand. */
            ept02_invalidate_all(vcpu);
            status = write_l2_state(vcpu, &view, &c);
        }
    }
    if (status != NVMX_OK) {
        p->cache = vcpu->cache; /* the caller frees the restored cache */
        snapshot_put(vcpu, &before);
        return status;
    }
    /* The old vmcs12s belong to the state being replaced: dropped, not written back. */
    vmcs12_cache_discard(vcpu->vm, &before.cache);
    vcpu->pending_exit.pending = false;
    if (!vcpu->guest_mode) { /* with L2 running both were rebuilt above */
        ept02_invalidate_all(vcpu);
        vmcs02_invalidate(vcpu);
    }
    return NVMX_OK;
}

nvmx_status nvmx_vcpu_state_restore(nvmx_vcpu *vcpu, const void *buffer, size_t size)
{
    if (!vcpu || !buffer)
        return NVMX_ERR_INVALID_ARGUMENT;
    nvmx_vm *vm = vcpu->vm;
    restore_plan p;
    nvmx_memset(&p, 0, sizeof(p));
    vmcs12_cache_init(&p.cache);
    nvmx_status status = parse_sections(vm, buffer, size, &p);
    if (status == NVMX_OK)
        status = check_caps(vm, &p.caps);
    if (status == NVMX_OK)
        status = check_vcpu(vm, &p);
    if (status == NVMX_OK)
        status = commit(vcpu, &p);
    if (status != NVMX_OK)
        vmcs12_cache_discard(vm, &p.cache);
    return status;
}
