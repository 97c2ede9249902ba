/* SPDX-License-Identifier: MIT */
/* The operating mode and CPL of the running guest, from its registers (SDM Vol. 3A 2.2). */
#include "internal.h"

cpu_mode cpu_mode_of(const nvmx_vcpu *vcpu)
{
    const nvmx_host_ops *ops = &vcpu->vm->ops;
    if (!(ops->reg_get(vcpu->ctx, NVMX_REG_CR0) & NVMX_CR0_PE))
        return CPU_MODE_REAL;
    nvmx_segment cs;
    ops->segment_get(vcpu->ctx, NVMX_SEG_CS, &cs);
    if (ops->reg_get(vcpu->ctx, NVMX_REG_EFER) & NVMX_EFER_LMA) {
        if (cs.access_rights & NVMX_AR_L)
            return CPU_MODE_LONG64;
        return (cs.access_rights & NVMX_AR_DB) ? CPU_MODE_COMPAT32 : CPU_MODE_COMPAT16;
    }
    /* RFLAGS.VM is ignored in IA-32e mode (SDM Vol. 3A 2.3), so it is checked only here. */
    if (ops->reg_get(vcpu->ctx, NVMX_REG_RFLAGS) & NVMX_RFLAGS_VM)
        return CPU_MODE_V8086;
    return (cs.access_rights & NVMX_AR_DB) ? CPU_MODE_PROTECTED32 : CPU_MODE_PROTECTED16;
}

unsigned cpu_cpl(const nvmx_vcpu *vcpu)
{
    nvmx_segment ss;
    vcpu->vm->ops.segment_get(vcpu->ctx, NVMX_SEG_SS, &ss);
    return (ss.access_rights & NVMX_AR_DPL_MASK) >> NVMX_AR_DPL_SHIFT;
}
