/* SPDX-License-Identifier: MIT */
/*
 * vmcs02's MSR bitmap (SDM 25.6.9: four 1-KByte quarters, read low, read high, write low, write
 * high; MSRs 0-1FFFH and C0000000H-C0001FFFH; a set bit makes the access exit; 26.1.3: MSRs
 * outside both ranges always exit). L2's access must exit when L0 intercepts it or when L1's
 * vmcs12 would make it exit, so each bit of the merged page is L0's bit OR L1's bit; L1 without
 * "use MSR bitmaps" gets a vmcs02 without bitmaps (every access exits, 26.1.3). Reflection
 * (lib/exits/reflect.c) then gives the exit to L1 iff L1's own bitmap says so, and the rest
 * come back to L0 as NVMX_RUN_L0_HANDLES.
 *
 * The x2APIC MSRs 800H-8FFH follow the same OR rule, a deliberate choice: "virtualize x2APIC
 * mode" is not exposed to L1, so for L2 as L1 sees it these MSRs are plain bitmap-controlled
 * MSRs (26.1.3; the special x2APIC treatment of 30.5 needs that control) and L1's bits must
 * take effect; OR with L0's bits means L1 can never open an x2APIC MSR that L0's policy
 * intercepts (CVE-2019-3887: L2 reached L0's own APIC). What a pass-through access reaches is
 * L0's policy (its bitmap and the vmcs02 controls it sets in l0.proc2).
 *
 * When: SDM 25.11.4 (checked against SDM text) says software should modify such a structure
 * only while no processor with a current VMCS referencing it is in VMX non-root operation,
 * and that doing otherwise "may lead to unpredictable behavior": reading L1's bitmap at every
 * VM entry to L2 is one of the behaviors allowed.
 * Only the 64-bit words where L0's bitmap has a clear bit can differ from all ones: they are
 * listed (with the byte span from the first to the last) at the vCPU's first VM entry and at
 * the first after L0 says its policy changed (nvmx_vcpu_vmcs02_invalidate); every other word
 * of the page is all ones for good, so switching vmcs12s does not touch L0's bitmap. Each
 * entry then reads that span of L1's bitmap once (one l1_read into working memory, never into
 * the page) and writes only the listed words. A bitmap that is not L1 RAM reads as all ones
 * (everything exits), as l1_bitmap_bit does for reflection.
 */
#include "msr_bitmap02.h"

#define WORDS (MSR_BITMAP_SIZE / 8u)

/* Host-physical address of a page vmcs02 can reference: 4-KiB aligned (27.2.1.1) and below
 * 2^52, the largest physical-address width (the host's own width is the embedder's concern). */
#define MSR_BITMAP02_HPA_MASK 0x000FFFFFFFFFF000ull

/* The words of the page the merge writes: pass[0..count) index the words where L0's bitmap has
 * a clear bit, l0[] holds those words of L0's bitmap, l1[] receives L1's bitmap over the byte
 * span [first, end) (whole words). */
struct msr_bitmap02_work {
    uint64_t l1[WORDS];
    uint64_t l0[WORDS];
    uint16_t pass[WORDS];
    uint16_t count;
    uint16_t first, end;
};

nvmx_status msr_bitmap02_create(nvmx_vcpu *vcpu)
{
    nvmx_vm *vm = vcpu->vm;
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    nvmx_memset(b, 0, sizeof(*b));
    if (!vm->l0.msr_bitmap || !vm->vmx_exposed)
        return NVMX_OK; /* without VMX for L1 there is no L2 */
    struct msr_bitmap02_work *work = vm_alloc(vm, sizeof(*work));
    if (!work)
        return NVMX_ERR_NO_MEMORY;
    uint64_t hpa = 0;
    void *page = vm->ops.page_alloc(vm->host_ctx, &hpa);
    if (!page) {
        vm_log(vm, NVMX_LOG_ERROR, "nvmx_vcpu_create: page_alloc failed for vmcs02's MSR bitmap");
        vm_free(vm, work, sizeof(*work));
        return NVMX_ERR_NO_MEMORY;
    }
    if (hpa & ~MSR_BITMAP02_HPA_MASK) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "page_alloc: host-physical address not a page below 2^52",
                   hpa);
        vm->ops.page_free(vm->host_ctx, page, hpa);
        vm_free(vm, work, sizeof(*work));
        return NVMX_ERR_HOST;
    }
    nvmx_memset(page, 0xFF, MSR_BITMAP_SIZE); /* intercept everything until the first merge */
    nvmx_memset(work, 0, sizeof(*work));
    b->page = page;
    b->hpa = hpa;
    b->work = work;
    b->relist = true;
    return NVMX_OK;
}

void msr_bitmap02_destroy(nvmx_vcpu *vcpu)
{
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    if (b->page) {
        vcpu->vm->ops.page_free(vcpu->vm->host_ctx, b->page, b->hpa);
        vm_free(vcpu->vm, b->work, sizeof(*b->work));
    }
    nvmx_memset(b, 0, sizeof(*b));
}

void msr_bitmap02_policy_changed(nvmx_vcpu *vcpu)
{
    vcpu->msr_bitmap02.relist = vcpu->msr_bitmap02.page != NULL;
}

bool msr_bitmap02_used(const nvmx_vm *vm, const vmcs12 *v)
{
    uint32_t allowed1 = (uint32_t)(vm->caps.procbased >> 32);
    uint32_t l1_proc = (uint32_t)vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & allowed1;
    return vm->l0.msr_bitmap && (l1_proc & NVMX_CTL(MSR_BITMAPS));
}

/* List the words where L0's bitmap (any alignment: read through memcpy) has a clear bit. */
static void list_pass_through_words(struct msr_bitmap02_work *work, const uint8_t *l0)
{
    work->count = 0;
    for (unsigned w = 0; w < WORDS; w++) {
        uint64_t word;
        nvmx_memcpy(&word, l0 + w * 8, 8);
        if (word != ~0ull) {
            work->l0[work->count] = word;
            work->pass[work->count++] = (uint16_t)w;
        }
    }
    work->first = work->count ? (uint16_t)(work->pass[0] * 8) : 0;
    work->end = work->count ? (uint16_t)(work->pass[work->count - 1] * 8 + 8) : 0;
}

static void intercept_listed_words(msr_bitmap02 *b)
{
    for (unsigned k = 0; k < b->work->count; k++)
        b->page[b->work->pass[k]] = ~0ull;
}

/* A whole build: vmcs02 gets the page's address; after a policy change the words are listed
 * again and the page is all ones but for them. */
static nvmx_status rebuild(nvmx_vcpu *vcpu)
{
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    if (b->relist) {
        list_pass_through_words(b->work, vcpu->vm->l0.msr_bitmap);
        nvmx_memset(b->page, 0xFF, MSR_BITMAP_SIZE);
        b->relist = false;
    }
    nvmx_status status =
        vcpu->vm->ops.hw_vmcs_write(vcpu->ctx, NVMX_HW_VMCS02, NVMX_FIELD_MSR_BITMAP, b->hpa);
    return status == NVMX_OK ? NVMX_OK : NVMX_ERR_HOST;
}

nvmx_status msr_bitmap02_update(nvmx_vcpu *vcpu, const vmcs12 *v, bool full)
{
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    if (!b->page)
        return NVMX_OK;
    if (full) {
        nvmx_status status = rebuild(vcpu);
        if (status != NVMX_OK)
            return status;
    }
    struct msr_bitmap02_work *work = b->work;
    if (!msr_bitmap02_used(vcpu->vm, v) || !work->count)
        return NVMX_OK;
    /* The VM-entry checks made the address 4-KiB aligned (27.2.1.1), so the span lies in one
     * L1 page and gpa + end cannot wrap; checked again as that is all the read relies on. */
    uint64_t gpa = vmcs12_get(v, VMCS12_ORD_MSR_BITMAP);
    if (gpa & PAGE_OFFSET_MASK) {
        intercept_listed_words(b);
        return NVMX_OK;
    }
    nvmx_status status =
        vcpu->vm->ops.l1_read(vcpu->vm->host_ctx, gpa + work->first,
                              (uint8_t *)work->l1 + work->first, (size_t)(work->end - work->first));
    if (status != NVMX_OK) {
        intercept_listed_words(b); /* not L1 RAM: all ones, every access exits */
        return status == NVMX_ERR_BAD_L1_ADDRESS ? NVMX_OK : NVMX_ERR_HOST;
    }
    for (unsigned k = 0; k < work->count; k++)
        b->page[work->pass[k]] = work->l0[k] | work->l1[work->pass[k]];
    return NVMX_OK;
}
