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
 * MSRs (26.1.3; the special x2APIC treatment of 29.5 needs that control) and L1's bits must
 * take effect; OR with L0's bits means L1 can never open an x2APIC MSR that L0's policy
 * intercepts (CVE-2019-3887: L2 reached L0's own APIC). What a pass-through access reaches is
 * L0's policy (its bitmap and the vmcs02 controls it sets in l0.proc2).
 *
 * When: SDM 25.11.4 forbids L1 to change a bitmap while a logical processor runs with a VMCS
 * referencing it, so reading L1's bitmap at every VM entry to L2 is exact. Only bytes where
 * L0's bitmap has a clear bit can change the merge (elsewhere the OR is all ones): the span
 * from the first to the last such byte is found when vmcs02 is built whole, and each entry
 * reads exactly that span of L1's bitmap once, straight into the page, then ORs L0's bytes
 * over it. Outside the span the page stays all ones. L1's bitmap is read once per entry; a
 * bitmap that is not L1 RAM reads as all ones (everything exits), as l1_bitmap_bit does.
 */
#include "msr_bitmap02.h"

/* Host-physical address of a page vmcs02 can reference: 4-KiB aligned (26.2.1.1) and below
 * 2^52, the largest physical-address width (the host's own width is the embedder's concern). */
#define MSR_BITMAP02_HPA_MASK 0x000FFFFFFFFFF000ull

nvmx_status msr_bitmap02_create(nvmx_vcpu *vcpu)
{
    nvmx_vm *vm = vcpu->vm;
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    nvmx_memset(b, 0, sizeof(*b));
    if (!vm->l0.msr_bitmap || !vm->vmx_exposed)
        return NVMX_OK; /* without VMX for L1 there is no L2 */
    uint64_t hpa = 0;
    void *page = vm->ops.page_alloc(vm->host_ctx, &hpa);
    if (!page) {
        vm_log(vm, NVMX_LOG_ERROR, "nvmx_vcpu_create: page_alloc failed for vmcs02's MSR bitmap");
        return NVMX_ERR_NO_MEMORY;
    }
    if (hpa & ~MSR_BITMAP02_HPA_MASK) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "page_alloc: host-physical address not a page below 2^52",
                   hpa);
        vm->ops.page_free(vm->host_ctx, page, hpa);
        return NVMX_ERR_HOST;
    }
    nvmx_memset(page, 0xFF, MSR_BITMAP_SIZE); /* intercept everything until the first merge */
    b->page = page;
    b->hpa = hpa;
    return NVMX_OK;
}

void msr_bitmap02_destroy(nvmx_vcpu *vcpu)
{
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    if (b->page)
        vcpu->vm->ops.page_free(vcpu->vm->host_ctx, b->page, b->hpa);
    nvmx_memset(b, 0, sizeof(*b));
}

bool msr_bitmap02_used(const nvmx_vm *vm, const vmcs12 *v)
{
    uint32_t allowed1 = (uint32_t)(vm->caps.procbased >> 32);
    uint32_t l1_proc = (uint32_t)vmcs12_get(v, VMCS12_ORD_CPU_BASED_VM_EXEC_CONTROL) & allowed1;
    return vm->l0.msr_bitmap && (l1_proc & NVMX_CTL(MSR_BITMAPS));
}

/* The bytes of L0's bitmap with a clear bit, widened to whole 8-byte words: [first, end),
 * empty when L0 intercepts every MSR. */
static void find_pass_through_span(const uint8_t *l0, uint16_t *first, uint16_t *end)
{
    unsigned f = 0, e = MSR_BITMAP_SIZE;
    while (f < e && l0[f] == 0xFF)
        f++;
    while (e > f && l0[e - 1] == 0xFF)
        e--;
    f &= ~7u;
    e = (e + 7u) & ~7u;
    *first = (uint16_t)(f < e ? f : 0);
    *end = (uint16_t)(f < e ? e : 0);
}

static void intercept_span(msr_bitmap02 *b)
{
    nvmx_memset(b->page + b->first, 0xFF, (size_t)(b->end - b->first));
}

static void or_l0_span(msr_bitmap02 *b, const uint8_t *l0)
{
    for (unsigned i = b->first; i < b->end; i += 8) {
        uint64_t merged, l0_word;
        nvmx_memcpy(&merged, b->page + i, 8);
        nvmx_memcpy(&l0_word, l0 + i, 8); /* L0's bitmap may have any alignment */
        merged |= l0_word;
        nvmx_memcpy(b->page + i, &merged, 8);
    }
}

/* A whole build: L0's policy may have changed, so the span is found again and the page is all
 * ones outside it; vmcs02 gets the page's address. */
static nvmx_status rebuild(nvmx_vcpu *vcpu)
{
    msr_bitmap02 *b = &vcpu->msr_bitmap02;
    find_pass_through_span(vcpu->vm->l0.msr_bitmap, &b->first, &b->end);
    nvmx_memset(b->page, 0xFF, MSR_BITMAP_SIZE);
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
    if (!msr_bitmap02_used(vcpu->vm, v) || b->first == b->end)
        return NVMX_OK;
    /* The VM-entry checks made the address 4-KiB aligned (26.2.1.1), so the span lies in one
     * L1 page and gpa + end cannot wrap; checked again as that is all the read relies on. The
     * read lands in the page itself: L0's bits are ORed in right after, before L2 can run. */
    uint64_t gpa = vmcs12_get(v, VMCS12_ORD_MSR_BITMAP);
    if (gpa & PAGE_OFFSET_MASK) {
        intercept_span(b);
        return NVMX_OK;
    }
    nvmx_status status = vcpu->vm->ops.l1_read(vcpu->vm->host_ctx, gpa + b->first,
                                               b->page + b->first, b->end - b->first);
    if (status != NVMX_OK) {
        intercept_span(b); /* not L1 RAM: all ones, every access exits */
        return status == NVMX_ERR_BAD_L1_ADDRESS ? NVMX_OK : NVMX_ERR_HOST;
    }
    or_l0_span(b, vcpu->vm->l0.msr_bitmap);
    return NVMX_OK;
}
