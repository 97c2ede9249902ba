/* SPDX-License-Identifier: MIT */
/*
 * Writing the nested state (include/nestvmx/state.h, docs/STATE-FORMAT.md). Deterministic:
 * the same state always gives the same bytes (vmcs12s in address order, fields in list order),
 * so save -> restore -> save reproduces a blob exactly.
 */
#include "state_format.h"

/* The fields that exist for the VM. */
static unsigned existing_field_count(const nvmx_vm *vm)
{
    unsigned n = 0;
    for (unsigned w = 0; w < VMCS12_FIELD_WORDS; w++) {
        for (uint64_t bits = vm->field_exists[w]; bits; bits &= bits - 1)
            n++;
    }
    return n;
}

static bool l2_running(const nvmx_vcpu *vcpu)
{
    return vcpu->guest_mode && vcpu->current;
}

static size_t caps_size(void)
{
    return STATE_SECTION_HEADER_SIZE + STATE_CAPS_FIXED + vmx_cap_msr_count * STATE_CAP_ENTRY;
}

static size_t vmcs12_size(const nvmx_vm *vm)
{
    return STATE_SECTION_HEADER_SIZE + STATE_VMCS12_FIXED +
           existing_field_count(vm) * (size_t)STATE_FIELD_ENTRY;
}

static size_t l2_size(const nvmx_vm *vm)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++)
        n += state_l2_field(vm, i);
    return STATE_SECTION_HEADER_SIZE + STATE_L2_FIXED + n * (size_t)STATE_FIELD_ENTRY;
}

static size_t state_size(const nvmx_vcpu *vcpu)
{
    size_t size = STATE_HEADER_SIZE + caps_size() + STATE_SECTION_HEADER_SIZE + STATE_VCPU_SIZE +
                  vcpu->cache.count * vmcs12_size(vcpu->vm);
    return l2_running(vcpu) ? size + l2_size(vcpu->vm) : size;
}

nvmx_status nvmx_vcpu_state_size(const nvmx_vcpu *vcpu, size_t *size)
{
    if (!vcpu || !size)
        return NVMX_ERR_INVALID_ARGUMENT;
    *size = state_size(vcpu);
    return NVMX_OK;
}

/* A writer over the caller's buffer, sized beforehand. */
typedef struct writer {
    uint8_t *p;
    uint32_t sections;
} writer;

static uint8_t *section_begin(writer *w, state_section_type type, uint32_t length)
{
    state_put16(w->p, (uint16_t)type);
    state_put16(w->p + 2, STATE_SECTION_REQUIRED);
    state_put32(w->p + 4, length);
    uint8_t *payload = w->p + STATE_SECTION_HEADER_SIZE;
    w->p = payload + state_pad8(length);
    w->sections++;
    return payload;
}

static uint8_t *put_field(uint8_t *p, unsigned ordinal, uint64_t value)
{
    state_put32(p, vmcs_field_table[ordinal].encoding);
    state_put64(p + 8, value);
    return p + STATE_FIELD_ENTRY;
}

static void write_caps(writer *w, const nvmx_vm *vm)
{
    uint8_t *p = section_begin(w, STATE_SECTION_CAPS,
                               STATE_CAPS_FIXED + vmx_cap_msr_count * STATE_CAP_ENTRY);
    state_put32(p, vmx_cap_msr_count);
    for (unsigned i = 0; i < vmx_cap_msr_count; i++) {
        uint8_t *e = p + STATE_CAPS_FIXED + i * STATE_CAP_ENTRY;
        state_put32(e, NVMX_MSR_IA32_VMX_BASIC + i);
        state_put64(e + 8, vmx_cap_msr_value(&vm->caps, i));
    }
}

static void write_vcpu(writer *w, const nvmx_vcpu *vcpu)
{
    uint32_t flags = (vcpu->vmx_operation ? STATE_VCPU_VMX_OPERATION : 0) |
                     (l2_running(vcpu) ? STATE_VCPU_L2_RUNNING : 0) |
                     (vcpu->timer_active ? STATE_VCPU_TIMER_ACTIVE : 0) |
                     (vcpu->mtf_injected ? STATE_VCPU_MTF_INJECTED : 0) |
                     (vcpu->parked == NVMX_ACTIVITY_SHUTDOWN ? STATE_VCPU_PARKED_SHUTDOWN : 0) |
                     (vcpu->parked == NVMX_ACTIVITY_WAIT_SIPI ? STATE_VCPU_PARKED_WAIT_SIPI : 0);
    uint8_t *p = section_begin(w, STATE_SECTION_VCPU, STATE_VCPU_SIZE);
    state_put32(p, flags);
    state_put32(p + 4, vcpu->cache.generation);
    state_put64(p + 8, vcpu->vmxon_ptr);
    state_put64(p + 16, vcpu->current_vmptr);
    state_put64(p + 24, vcpu->feature_control);
    state_put64(p + 32, vcpu->timer_active ? vcpu->timer_deadline : 0);
}

static void write_vmcs12(writer *w, const nvmx_vm *vm, const vmcs12_cached *e)
{
    size_t length = vmcs12_size(vm) - STATE_SECTION_HEADER_SIZE;
    uint8_t *p = section_begin(w, STATE_SECTION_VMCS12, (uint32_t)length);
    state_put64(p, e->gpa);
    state_put32(p + 8, e->revision);
    state_put32(p + 12, e->abort);
    state_put32(p + 16, e->launch_generation);
    p[20] = e->launch_state;
    p[21] = e->memory_stale ? STATE_VMCS12_MEMORY_STALE : 0;
    state_put32(p + 24, (uint32_t)((length - STATE_VMCS12_FIXED) / STATE_FIELD_ENTRY));
    uint8_t *f = p + STATE_VMCS12_FIXED;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if ((vm->field_exists[i / 64] >> (i % 64)) & 1)
            f = put_field(f, i, vmcs12_get(&e->data, i));
    }
}

/* L2's state lives in vmcs02 while L2 runs; vmcs12 keeps what L1 wrote until the exit. */
static nvmx_status write_l2(writer *w, nvmx_vcpu *vcpu)
{
    const nvmx_vm *vm = vcpu->vm;
    size_t length = l2_size(vm) - STATE_SECTION_HEADER_SIZE;
    uint8_t *p = section_begin(w, STATE_SECTION_L2, (uint32_t)length);
    state_put32(p, (uint32_t)((length - STATE_L2_FIXED) / STATE_FIELD_ENTRY));
    uint8_t *f = p + STATE_L2_FIXED;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (!state_l2_field(vm, i))
            continue;
        uint64_t value;
        if (vm->ops.hw_vmcs_read(vcpu->ctx, NVMX_HW_VMCS02, vmcs_field_table[i].encoding, &value) !=
            NVMX_OK)
            return NVMX_ERR_HOST;
        f = put_field(f, i, value & vmcs_field_width_mask(vmcs_field_table[i].encoding));
    }
    return NVMX_OK;
}

nvmx_status nvmx_vcpu_state_save(nvmx_vcpu *vcpu, void *buffer, size_t size, size_t *written)
{
    if (!vcpu || !written || (!buffer && size))
        return NVMX_ERR_INVALID_ARGUMENT;
    size_t needed = state_size(vcpu);
    *written = needed;
    if (size < needed)
        return NVMX_ERR_BUFFER_TOO_SMALL;
    if (l2_running(vcpu) && !vcpu->vm->ops.hw_vmcs_read)
        return NVMX_ERR_UNSUPPORTED;
    uint8_t *blob = buffer;
    nvmx_memset(blob, 0, needed);
    nvmx_memcpy(blob, STATE_MAGIC, 8);
    state_put16(blob + 8, NVMX_STATE_FORMAT_MAJOR);
    state_put16(blob + 10, NVMX_STATE_FORMAT_MINOR);
    state_put32(blob + 12, STATE_HEADER_SIZE);
    state_put32(blob + 16, (uint32_t)needed);
    writer w = {blob + STATE_HEADER_SIZE, 0};
    write_caps(&w, vcpu->vm);
    write_vcpu(&w, vcpu);
    for (const vmcs12_cached *e = vmcs12_cache_next_by_gpa(&vcpu->cache, NULL); e;
         e = vmcs12_cache_next_by_gpa(&vcpu->cache, e))
        write_vmcs12(&w, vcpu->vm, e);
    if (l2_running(vcpu)) {
        nvmx_status status = write_l2(&w, vcpu);
        if (status != NVMX_OK) {
            nvmx_memset(blob, 0, needed); /* never leave a blob that looks whole */
            return status;
        }
    }
    state_put32(blob + 20, w.sections);
    state_put32(blob + STATE_CRC_OFFSET, state_blob_crc(blob, needed));
    return NVMX_OK;
}
