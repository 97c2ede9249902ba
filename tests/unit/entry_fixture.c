/* SPDX-License-Identifier: MIT */
#include "entry_fixture.h"

#include <criterion/criterion.h>
#include <string.h>

/* Access rights (SDM 25.4.1): code 64-bit (type 11, S, P, L, G: A09BH), data (type 3, S, P,
 * D/B, G: C093H), busy 64-bit TSS (type 11, P: 008BH); unusable is NVMX_AR_UNUSABLE. */
#define AR_CODE64 (NVMX_AR_TYPE_CODE_ER_ACCESSED | NVMX_AR_S | NVMX_AR_P | NVMX_AR_L | NVMX_AR_G)
#define AR_DATA (NVMX_AR_TYPE_DATA_RW_ACCESSED | NVMX_AR_S | NVMX_AR_P | NVMX_AR_DB | NVMX_AR_G)
#define AR_TSS64_BUSY (NVMX_AR_TYPE_TSS_BUSY | NVMX_AR_P)

static void good_controls(entry_fixture *f)
{
    const nvmx_vmx_caps *caps = &f->vm.caps;
    /* The must-be-1 bits of the TRUE capability MSRs (SDM A.3-A.5). */
    SET(f, PIN_BASED_VM_EXEC_CONTROL, caps->true_pinbased & 0xFFFFFFFF);
    SET(f, CPU_BASED_VM_EXEC_CONTROL, caps->true_procbased & 0xFFFFFFFF);
    SET(f, SECONDARY_VM_EXEC_CONTROL, 0);
    SET(f, VM_EXIT_CONTROLS, (caps->true_exit & 0xFFFFFFFF) | NVMX_CTL(EXIT_HOST_ADDR_SPACE));
    SET(f, VM_ENTRY_CONTROLS, (caps->true_entry & 0xFFFFFFFF) | NVMX_CTL(ENTRY_IA32E_MODE));
    SET(f, CR3_TARGET_COUNT, 0);
    SET(f, VM_EXIT_MSR_STORE_COUNT, 0);
    SET(f, VM_EXIT_MSR_LOAD_COUNT, 0);
    SET(f, VM_ENTRY_MSR_LOAD_COUNT, 0);
    SET(f, VM_ENTRY_INTR_INFO_FIELD, 0);
    SET(f, VMCS_LINK_POINTER, ~0ull);
}

static void good_host(entry_fixture *f)
{
    SET(f, HOST_CR0, 0x80000031);
    SET(f, HOST_CR3, 0x200000);
    SET(f, HOST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE);
    SET(f, HOST_CS_SELECTOR, 0x08);
    SET(f, HOST_SS_SELECTOR, 0x10);
    SET(f, HOST_DS_SELECTOR, 0x10);
    SET(f, HOST_ES_SELECTOR, 0x10);
    SET(f, HOST_FS_SELECTOR, 0x10);
    SET(f, HOST_GS_SELECTOR, 0x10);
    SET(f, HOST_TR_SELECTOR, 0x18);
    SET(f, HOST_FS_BASE, 0);
    SET(f, HOST_GS_BASE, 0);
    SET(f, HOST_TR_BASE, 0x3000);
    SET(f, HOST_GDTR_BASE, 0x1000);
    SET(f, HOST_IDTR_BASE, 0x2000);
    SET(f, HOST_IA32_SYSENTER_ESP, 0);
    SET(f, HOST_IA32_SYSENTER_EIP, 0);
    SET(f, HOST_RSP, 0x7000);
    SET(f, HOST_RIP, 0x400000);
    SET(f, HOST_IA32_PAT, 0x0007040600070406ull);
    SET(f, HOST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA);
}

static void good_segment(entry_fixture *f, unsigned sel, unsigned base, unsigned limit, unsigned ar,
                         uint16_t selector, uint32_t access)
{
    f->v.field[sel] = selector;
    f->v.field[base] = 0;
    f->v.field[limit] = 0xFFFFFFFF;
    f->v.field[ar] = access;
}

static void good_guest(entry_fixture *f)
{
    SET(f, GUEST_CR0, 0x80000031);
    SET(f, GUEST_CR3, 0x100000);
    SET(f, GUEST_CR4, NVMX_CR4_VMXE | NVMX_CR4_PAE);
    SET(f, GUEST_DR7, 0x400);
    SET(f, GUEST_IA32_DEBUGCTL, 0);
    SET(f, GUEST_IA32_PAT, 0x0007040600070406ull);
    SET(f, GUEST_IA32_EFER, NVMX_EFER_LME | NVMX_EFER_LMA);
    SET(f, GUEST_SYSENTER_ESP, 0);
    SET(f, GUEST_SYSENTER_EIP, 0);
    good_segment(f, VMCS12_ORD_GUEST_CS_SELECTOR, VMCS12_ORD_GUEST_CS_BASE,
                 VMCS12_ORD_GUEST_CS_LIMIT, VMCS12_ORD_GUEST_CS_AR_BYTES, 0x08, AR_CODE64);
    good_segment(f, VMCS12_ORD_GUEST_SS_SELECTOR, VMCS12_ORD_GUEST_SS_BASE,
                 VMCS12_ORD_GUEST_SS_LIMIT, VMCS12_ORD_GUEST_SS_AR_BYTES, 0x10, AR_DATA);
    good_segment(f, VMCS12_ORD_GUEST_DS_SELECTOR, VMCS12_ORD_GUEST_DS_BASE,
                 VMCS12_ORD_GUEST_DS_LIMIT, VMCS12_ORD_GUEST_DS_AR_BYTES, 0x10, AR_DATA);
    good_segment(f, VMCS12_ORD_GUEST_ES_SELECTOR, VMCS12_ORD_GUEST_ES_BASE,
                 VMCS12_ORD_GUEST_ES_LIMIT, VMCS12_ORD_GUEST_ES_AR_BYTES, 0x10, AR_DATA);
    good_segment(f, VMCS12_ORD_GUEST_FS_SELECTOR, VMCS12_ORD_GUEST_FS_BASE,
                 VMCS12_ORD_GUEST_FS_LIMIT, VMCS12_ORD_GUEST_FS_AR_BYTES, 0x10, AR_DATA);
    good_segment(f, VMCS12_ORD_GUEST_GS_SELECTOR, VMCS12_ORD_GUEST_GS_BASE,
                 VMCS12_ORD_GUEST_GS_LIMIT, VMCS12_ORD_GUEST_GS_AR_BYTES, 0x10, AR_DATA);
    SET(f, GUEST_TR_SELECTOR, 0x18);
    SET(f, GUEST_TR_BASE, 0x3000);
    SET(f, GUEST_TR_LIMIT, 0x67);
    SET(f, GUEST_TR_AR_BYTES, AR_TSS64_BUSY);
    SET(f, GUEST_LDTR_SELECTOR, 0);
    SET(f, GUEST_LDTR_BASE, 0);
    SET(f, GUEST_LDTR_LIMIT, 0);
    SET(f, GUEST_LDTR_AR_BYTES, NVMX_AR_UNUSABLE);
    SET(f, GUEST_GDTR_BASE, 0x1000);
    SET(f, GUEST_GDTR_LIMIT, 0xFFF);
    SET(f, GUEST_IDTR_BASE, 0x2000);
    SET(f, GUEST_IDTR_LIMIT, 0xFFF);
    SET(f, GUEST_RSP, 0x8000);
    SET(f, GUEST_RIP, 0x500000);
    SET(f, GUEST_RFLAGS, 0x2);
    SET(f, GUEST_ACTIVITY_STATE, 0);
    SET(f, GUEST_INTERRUPTIBILITY_INFO, 0);
    SET(f, GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

void entry_fixture_init(entry_fixture *f)
{
    memset(f, 0, sizeof(*f));
    fake_host_init(&f->host, 16u << 20);
    f->vm.ops = *fake_host_ops();
    f->vm.host_ctx = &f->host;
    f->vm.vmx_exposed = true;
    f->vm.phys_addr_width = 46;
    f->vm.max_cached_vmcs = 8;
    f->vm.max_ept02_pages = NVMX_DEFAULT_MAX_EPT02_PAGES;
    nvmx_caps_software_host(&f->vm.caps, 46);
    memset(f->vm.field_exists, 0xFF, sizeof(f->vm.field_exists));
    f->vcpu.vm = &f->vm;
    f->vcpu.ctx = &f->host;
    f->vcpu.vmx_operation = true;
    f->vcpu.current_vmptr = NVMX_INVALID_VMPTR;
    f->vcpu.vmxon_ptr = 0x10000;
    vmcs12_cache_init(&f->vcpu.cache);
    good_controls(f);
    good_host(f);
    good_guest(f);
}

void entry_fixture_fini(entry_fixture *f)
{
    vmcs12_cache_flush(&f->vm, &f->vcpu.cache);
    cr_expect_eq(f->host.live_allocations, 0);
    fake_host_fini(&f->host);
}

const char *entry_fixture_first_failure(entry_fixture *f, nvmx_entry_check_category category)
{
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f->vcpu, &f->v);
    if (category == NVMX_CHECK_CONTROLS)
        entry_check_ctx_prepare_controls(&c);
    if (category == NVMX_CHECK_GUEST_STATE)
        entry_check_ctx_prepare_guest(&c);
    const entry_check *check = entry_checks_first_failure(&c, category);
    return check ? check->info.name : NULL;
}

const entry_check *entry_fixture_first_failing_check(entry_fixture *f)
{
    entry_check_ctx c;
    entry_check_ctx_init(&c, &f->vcpu, &f->v);
    for (unsigned cat = 0; cat < NVMX_CHECK_CATEGORY_COUNT; cat++) {
        if (cat == NVMX_CHECK_CONTROLS)
            entry_check_ctx_prepare_controls(&c);
        if (cat == NVMX_CHECK_GUEST_STATE)
            entry_check_ctx_prepare_guest(&c);
        const entry_check *check = entry_checks_first_failure(&c, (nvmx_entry_check_category)cat);
        if (check)
            return check;
    }
    return NULL;
}
