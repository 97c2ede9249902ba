/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ept02: random EPT12 tables in L1 memory and a random EPT01 (fuzz_env.h's model: 4-KiB,
 * 2-MiB and 1-GiB host pages with holes, reduced permissions and UC), then EPT02 faults by L2
 * (lib/ept/ept02.h, SDM 29.3), INVEPT-style invalidations of one root or all (29.4.3), L0's
 * EPT01 changes with ept02_invalidate_l1_range, page-cap evictions and allocation failures.
 * EPT02 is not wired into VM entry yet, so this target drives the internal API over a VM
 * whose capabilities are everything the software host can do (tests/unit/entry_fixture.c;
 * EPT is not exposed through nvmx_vm_create yet).
 *
 * Invariants, after every step: fuzz_check_ept02_tables (no EPT02 leaf maps a host address
 * EPT01 does not give now for that L1 range, with more permissions or a cacheable type where
 * EPT01 is UC; no dangling table pointer); for each fault answered EPT02_INSTALLED, the
 * result's host address is EPT01's for the result's L1 address, its permissions are within
 * EPT12's and EPT01's, and the EPT02 leaf for l2_gpa is that mapping; guest-memory accesses
 * per fault bounded by the EPT12 walk (EPT12_MAX_LEVELS entries and as many A/D updates per
 * walk, EPT12_AD_MAX_WALKS walks); at the end, ept02_destroy gives back every page and node.
 *
 * Script: byte 0 picks the page cap; then steps of one action byte and its operands.
 */
#include "fuzz_env.h"

#include "entry_fixture.h"
#include "ept/ept02.h"
#include "ept/eptp.h"

#define EPT12_TABLES 0x800000ull /* 16 pages of EPT12 tables in L1 RAM */
#define EPT12_TABLE_COUNT 16u
#define READS_PER_FAULT ((long)(EPT12_AD_MAX_WALKS * 2 * EPT12_MAX_LEVELS))

static uint64_t table_gpa(fuzz_input *in)
{
    return EPT12_TABLES + (uint64_t)(fuzz_u8(in) % EPT12_TABLE_COUNT) * 4096;
}

/* An EPTP (SDM 25.6.11): a table page, WB or UC, 4- or 5-level walk, A/D flags or not; or any
 * value (ept02_fault must refuse what eptp_valid refuses). */
static uint64_t eptp(fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    if (how >= 248)
        return fuzz_u64(in);
    uint64_t type = how & 1 ? 6 : 0;
    uint64_t walk = how & 2 ? 4 : 3; /* page-walk length - 1: 5 or 4 levels */
    uint64_t ad = how & 4 ? 1ull << 6 : 0;
    return (EPT12_TABLES + (uint64_t)((how >> 3) % 4) * 4096) | type | (walk << 3) | ad;
}

/* An EPT12 entry (SDM 29.3.2): a table page, an L1 data page (aligned for a large page or
 * not, in RAM, at its end or beyond) or anything, with random permission, memory-type,
 * ignore-PAT, page-size, A/D and user-execute bits, sometimes reserved bits. */
static uint64_t ept12_entry(fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    uint64_t address;
    switch (how % 5) {
    case 0:
        address = table_gpa(in);
        break;
    case 1:
        address = (uint64_t)(fuzz_u16(in) % 4096) << 12;
        break;
    case 2:
        address = (uint64_t)(fuzz_u8(in) % 16) << 21;
        break;
    case 3:
        address = (uint64_t)(fuzz_u8(in) % 4) << 30;
        break;
    default:
        address = fuzz_u64(in) & 0x000FFFFFFFFFF000ull;
        break;
    }
    uint64_t flags = fuzz_u16(in) & 0xFFFu;
    if (how & 0x80)
        flags |= fuzz_u64(in) & 0xFFF0000000000000ull;
    return address | flags;
}

/* An L2 address whose walk uses the first few entries of each table. */
static uint64_t l2_gpa(fuzz_input *in)
{
    uint8_t how = fuzz_u8(in);
    if (how >= 240)
        return fuzz_u64(in);
    uint64_t gpa = fuzz_u16(in) & 0xFFF;
    for (unsigned level = 1; level <= 4; level++)
        gpa |= (uint64_t)(fuzz_u8(in) % 4) << (12 + 9 * (level - 1));
    return gpa;
}

static void fault(entry_fixture *f, fuzz_input *in)
{
    static const ept12_access_kind kinds[] = {EPT12_ACCESS_READ, EPT12_ACCESS_WRITE,
                                              EPT12_ACCESS_FETCH};
    uint64_t ptr = eptp(in), gpa = l2_gpa(in);
    uint8_t how = fuzz_u8(in);
    ept12_access access = {.kind = FUZZ_PICK(in, kinds),
                           .user = how & 1,
                           .guest_paging = how & 2,
                           .mode_based_execute = how & 4};
    long reads = f->host.l1_reads;
    ept02_fault_result out;
    nvmx_status status = ept02_fault(&f->vcpu, ptr, gpa, &access, &out);
    FUZZ_REQUIRE(f->host.l1_reads - reads <= READS_PER_FAULT,
                 "guest-memory reads per EPT02 fault "
                 "bounded",
                 f->host.l1_reads - reads);
    if (status != NVMX_OK || out.outcome != EPT02_INSTALLED)
        return;
    nvmx_ept01_mapping m;
    FUZZ_REQUIRE(fuzz_ept01_lookup(&f->host, out.l1_gpa, &m) == NVMX_OK,
                 "EPT02 installs only what EPT01 backs", out.l1_gpa);
    FUZZ_REQUIRE(((m.host_phys ^ out.host_phys) & ~0xFFFull) == 0,
                 "EPT02 leaf is EPT01's host page of the L1 address", out.host_phys);
    FUZZ_REQUIRE((!out.read || (m.read && out.walk.read)) &&
                     (!out.write || (m.write && out.walk.write)) &&
                     (!out.execute || (m.execute && out.walk.execute)),
                 "EPT02 permissions within EPT12's and EPT01's", out.l1_gpa);
    uint64_t eptp02, entry, size;
    FUZZ_REQUIRE(ept02_root_hpa(&f->vcpu, ptr, &eptp02) == NVMX_OK, "installed root exists", ptr);
    FUZZ_REQUIRE(fuzz_ept02_leaf(eptp02, gpa, &entry, &size), "installed leaf is in EPT02", gpa);
    FUZZ_REQUIRE(size == out.page_size &&
                     (entry & 0x000FFFFFFFFFF000ull) == (out.host_phys & ~(size - 1)),
                 "EPT02 leaf is the one reported", entry);
}

/* L0 changes EPT01 and tells the library which L1 range changed (ops.h, ept02.h). */
static void ept01_change(entry_fixture *f, fuzz_input *in)
{
    static const uint64_t sizes[] = {4096, 1ull << 21, 1ull << 30};
    uint8_t how = fuzz_u8(in);
    fuzz_ept01_region r = {.used = !(how & 1), .present = !(how & 2)};
    r.size = sizes[(how >> 2) % 3];
    uint64_t base = fuzz_u8(in) & 2 ? EPT12_TABLES : (uint64_t)(fuzz_u16(in) % 4096) << 12;
    r.l1_base = base & ~(r.size - 1);
    uint8_t perms = fuzz_u8(in);
    r.read = perms & 1, r.write = perms & 2, r.execute = perms & 4;
    r.memory_type = perms & 8 ? 0 : 6;
    uint64_t changed[2][2];
    fuzz_ept01_set(how >> 5, &r, changed);
    for (int i = 0; i < 2; i++) {
        if (changed[i][1])
            ept02_invalidate_l1_range(&f->vcpu, changed[i][0], changed[i][1]);
    }
}

static void memory(entry_fixture *f, fuzz_input *in)
{
    uint64_t gpa = table_gpa(in) + (fuzz_u16(in) % 512) * 8;
    fake_host_write64(&f->host, gpa, ept12_entry(in));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static entry_fixture f;
    fuzz_input in = {data, size, 0};
    fuzz_host_reset();
    entry_fixture_init(&f);
    f.vm.ops = *fuzz_host_ops();
    f.vm.max_ept02_pages = NVMX_MIN_EPT02_PAGES + fuzz_u8(&in) % 16;
    for (int step = 0; step < FUZZ_MAX_STEPS && fuzz_more(&in); step++) {
        switch (fuzz_u8(&in) % 12) {
        case 0:
        case 1:
        case 2:
            memory(&f, &in);
            break;
        case 3:
        case 4:
        case 5:
            fault(&f, &in);
            break;
        case 6:
            ept01_change(&f, &in);
            break;
        case 7:
            ept02_invalidate_root(&f.vcpu, eptp(&in));
            break;
        case 8:
            ept02_invalidate_all(&f.vcpu);
            break;
        case 9:
            ept02_invalidate_l1_range(&f.vcpu, fuzz_value(&in), fuzz_value(&in));
            break;
        case 10: {
            uint64_t eptp02;
            ept02_root_hpa(&f.vcpu, eptp(&in), &eptp02);
            break;
        }
        default:
            if (fuzz_u8(&in) & 1)
                f.host.fail_page_at = f.host.page_allocs + 1 + fuzz_u8(&in) % 4;
            else
                f.host.fail_alloc_at = f.host.alloc_calls + 1 + fuzz_u8(&in) % 4;
            break;
        }
        fuzz_check_ept02_tables(&f.host);
        FUZZ_REQUIRE(f.vcpu.ept02.pages <= f.vm.max_ept02_pages, "EPT02 pages within the cap",
                     f.vcpu.ept02.pages);
    }
    ept02_destroy(&f.vcpu);
    FUZZ_REQUIRE(f.host.live_pages == 0, "EPT02 pages balance after destroy", f.host.live_pages);
    FUZZ_REQUIRE(f.host.live_allocations == 0, "allocations balance after destroy",
                 f.host.live_allocations);
    entry_fixture_fini(&f);
    return 0;
}
