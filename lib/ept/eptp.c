/* SPDX-License-Identifier: MIT */
/* EPTP validity against the capabilities exposed to L1 (SDM 25.6.11, A.10). */
#include "eptp.h"

/* A field value and the capability that makes it supported. */
typedef struct eptp_choice {
    uint8_t value;
    nvmx_feature capability;
} eptp_choice;

static const eptp_choice memory_types[] = {
    {MEMTYPE_UC, NVMX_FEATURE_EPT_MEMTYPE_UC},
    {MEMTYPE_WB, NVMX_FEATURE_EPT_MEMTYPE_WB},
};

static const eptp_choice walk_lengths[] = {
    {3, NVMX_FEATURE_EPT_WALK_4},
    {4, NVMX_FEATURE_EPT_WALK_5},
};

static bool choice_supported(const nvmx_vm *vm, const eptp_choice *choices, size_t count,
                             uint64_t value)
{
    for (size_t i = 0; i < count; i++) {
        if (choices[i].value == value)
            return nvmx_vm_has_feature(vm, choices[i].capability);
    }
    return false;
}

bool eptp_memory_type_supported(const nvmx_vm *vm, uint64_t eptp)
{
    return choice_supported(vm, memory_types, NVMX_ARRAY_SIZE(memory_types),
                            eptp & EPTP_MEMTYPE_MASK);
}

bool eptp_walk_length_supported(const nvmx_vm *vm, uint64_t eptp)
{
    return choice_supported(vm, walk_lengths, NVMX_ARRAY_SIZE(walk_lengths),
                            (eptp & EPTP_WALK_MASK) >> EPTP_WALK_SHIFT);
}

bool eptp_accessed_dirty_allowed(const nvmx_vm *vm, uint64_t eptp)
{
    return !(eptp & EPTP_ACCESSED_DIRTY) || nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT_AD);
}

bool eptp_shadow_stack_allowed(const nvmx_vm *vm, uint64_t eptp)
{
    return !(eptp & EPTP_SUPERVISOR_SHADOW_STACK) ||
           nvmx_vm_has_feature(vm, NVMX_FEATURE_EPT_SHADOW_STACK);
}

bool eptp_reserved_bits_clear(const nvmx_vm *vm, uint64_t eptp)
{
    return !(eptp & EPTP_RESERVED_LOW) && !(eptp >> vm->phys_addr_width);
}

bool eptp_valid(const nvmx_vm *vm, uint64_t eptp)
{
    return eptp_memory_type_supported(vm, eptp) && eptp_walk_length_supported(vm, eptp) &&
           eptp_accessed_dirty_allowed(vm, eptp) && eptp_shadow_stack_allowed(vm, eptp) &&
           eptp_reserved_bits_clear(vm, eptp);
}
