/* SPDX-License-Identifier: MIT */
/* The blob's framing: byte order, checksum, header and sections (docs/STATE-FORMAT.md). */
#include "state_format.h"

bool state_l2_field(const nvmx_vm *vm, unsigned ordinal)
{
    switch (ordinal) {
    case VMCS12_ORD_VM_ENTRY_INTR_INFO_FIELD:
    case VMCS12_ORD_VM_ENTRY_EXCEPTION_ERROR_CODE:
    case VMCS12_ORD_VM_ENTRY_INSTRUCTION_LEN:
        return true;
    case VMCS12_ORD_VMX_PREEMPTION_TIMER_VALUE:
    case VMCS12_ORD_VMCS_LINK_POINTER:
        return false;
    default:
        return ordinal < VMCS12_FIELD_COUNT &&
               ((vm->guest_fields[ordinal / 64] >> (ordinal % 64)) & 1);
    }
}

/* CRC-32C four bits at a time: entry i is the CRC of nibble i (polynomial 0x82F63B78). */
static const uint32_t crc32c_nibble[16] = {
    0x00000000u, 0x105EC76Fu, 0x20BD8EDEu, 0x30E349B1u, 0x417B1DBCu, 0x5125DAD3u,
    0x61C69362u, 0x7198540Du, 0x82F63B78u, 0x92A8FC17u, 0xA24BB5A6u, 0xB21572C9u,
    0xC38D26C4u, 0xD3D3E1ABu, 0xE330A81Au, 0xF36E6F75u,
};

uint32_t state_crc32c(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 0xF];
        crc = (crc >> 4) ^ crc32c_nibble[crc & 0xF];
    }
    return ~crc;
}

uint32_t state_blob_crc(const uint8_t *blob, size_t total)
{
    uint32_t crc = state_crc32c(0, blob, STATE_CRC_OFFSET);
    return state_crc32c(crc, blob + STATE_HEADER_SIZE, total - STATE_HEADER_SIZE);
}

void state_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void state_put32(uint8_t *p, uint32_t v)
{
    state_put16(p, (uint16_t)v);
    state_put16(p + 2, (uint16_t)(v >> 16));
}

void state_put64(uint8_t *p, uint64_t v)
{
    state_put32(p, (uint32_t)v);
    state_put32(p + 4, (uint32_t)(v >> 32));
}

uint16_t state_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t state_get32(const uint8_t *p)
{
    return state_get16(p) | ((uint32_t)state_get16(p + 2) << 16);
}

uint64_t state_get64(const uint8_t *p)
{
    return state_get32(p) | ((uint64_t)state_get32(p + 4) << 32);
}

static nvmx_status bad(const nvmx_vm *vm, nvmx_status status, const char *why)
{
    if (vm) {
        const char *parts[] = {"nested state rejected: ", why};
        vm_log_parts(vm, NVMX_LOG_ERROR, parts, 2);
    }
    return status;
}

nvmx_status state_check_header(const nvmx_vm *vm, const uint8_t *blob, size_t size, uint32_t *count)
{
    if (size < STATE_HEADER_SIZE)
        return bad(vm, NVMX_ERR_BAD_STATE, "shorter than the 32-byte header (truncated)");
    if (nvmx_memcmp(blob, STATE_MAGIC, 8) != 0)
        return bad(vm, NVMX_ERR_BAD_STATE, "no NVMXSTAT magic: not a libnestvmx nested state");
    if (state_get16(blob + 8) != NVMX_STATE_FORMAT_MAJOR)
        return bad(vm, NVMX_ERR_STATE_VERSION,
                   "format major version differs from this library's (1): convert it with the "
                   "library version that wrote it");
    uint32_t header = state_get32(blob + 12), total = state_get32(blob + 16);
    if (header != STATE_HEADER_SIZE || state_get32(blob + 24) != 0)
        return bad(vm, NVMX_ERR_BAD_STATE, "header size or flags are not those of version 1");
    if (total != size || total % 8 != 0)
        return bad(vm, NVMX_ERR_BAD_STATE,
                   "recorded size differs from the buffer size (truncated or padded blob)");
    if (state_blob_crc(blob, total) != state_get32(blob + STATE_CRC_OFFSET))
        return bad(vm, NVMX_ERR_BAD_STATE, "CRC-32C mismatch: the blob is corrupted");
    *count = state_get32(blob + 20);
    return NVMX_OK;
}

nvmx_status state_next_section(const uint8_t *blob, size_t total, size_t *offset,
                               state_section *out)
{
    if (total - *offset < STATE_SECTION_HEADER_SIZE)
        return NVMX_ERR_BAD_STATE;
    const uint8_t *p = blob + *offset;
    out->type = state_get16(p);
    out->flags = state_get16(p + 2);
    out->length = state_get32(p + 4);
    size_t room = total - *offset - STATE_SECTION_HEADER_SIZE;
    if (out->length > room || state_pad8(out->length) > room)
        return NVMX_ERR_BAD_STATE;
    out->payload = p + STATE_SECTION_HEADER_SIZE;
    for (size_t i = out->length; i < state_pad8(out->length); i++) {
        if (out->payload[i] != 0)
            return NVMX_ERR_BAD_STATE;
    }
    *offset += STATE_SECTION_HEADER_SIZE + state_pad8(out->length);
    return NVMX_OK;
}

nvmx_status state_parse_caps(const state_section *s, nvmx_vmx_caps *out)
{
    if (s->length < STATE_CAPS_FIXED)
        return NVMX_ERR_BAD_STATE;
    uint32_t count = state_get32(s->payload);
    if (state_get32(s->payload + 4) != 0 ||
        (uint64_t)count * STATE_CAP_ENTRY != s->length - STATE_CAPS_FIXED)
        return NVMX_ERR_BAD_STATE;
    nvmx_memset(out, 0, sizeof(*out));
    uint64_t seen = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = s->payload + STATE_CAPS_FIXED + i * STATE_CAP_ENTRY;
        uint32_t slot = state_get32(e) - NVMX_MSR_IA32_VMX_BASIC;
        /* An MSR this version does not know, one given twice, or a nonzero pad: not a blob
         * this library wrote. */
        if (slot >= vmx_cap_msr_count || (seen >> slot) & 1 || state_get32(e + 4) != 0)
            return NVMX_ERR_BAD_STATE;
        seen |= 1ull << slot;
        vmx_cap_msr_set(out, slot, state_get64(e + 8));
    }
    return NVMX_OK;
}

nvmx_status nvmx_state_caps(const void *buffer, size_t size, nvmx_vmx_caps *out)
{
    if (!buffer || !out)
        return NVMX_ERR_INVALID_ARGUMENT;
    const uint8_t *blob = buffer;
    uint32_t count;
    nvmx_status status = state_check_header(NULL, blob, size, &count);
    size_t offset = STATE_HEADER_SIZE;
    for (uint32_t i = 0; status == NVMX_OK && i < count; i++) {
        state_section s;
        status = state_next_section(blob, size, &offset, &s);
        if (status == NVMX_OK && s.type == STATE_SECTION_CAPS)
            return state_parse_caps(&s, out);
    }
    return status == NVMX_OK ? NVMX_ERR_BAD_STATE : status;
}
