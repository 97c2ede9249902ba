/* SPDX-License-Identifier: MIT */
/*
 * Pinned capabilities (nvmx_vm_config.pinned_caps): a migrated VM must see exactly the MSR
 * values it saw before, so they are used as given, but only if they are a capability set a
 * processor could report (SDM Vol. 3D Appendix A) and lie within host ∩ implemented.
 * Every check names the offending MSR in the log, and the features it lacks.
 */
#include "caps_model.h"

/* ---- Log lines ------------------------------------------------------------------------------- */

void caps_line_init(caps_line *line)
{
    line->length = 0;
    line->text[0] = '\0';
}

void caps_line_add(caps_line *line, const char *text)
{
    while (*text && line->length + 1 < sizeof(line->text))
        line->text[line->length++] = *text++;
    line->text[line->length] = '\0';
}

void caps_line_hex(caps_line *line, uint64_t value)
{
    char digits[19];
    unsigned n = sizeof(digits) - 1;
    digits[n] = '\0';
    do {
        digits[--n] = "0123456789ABCDEF"[value & 0xF];
        value >>= 4;
    } while (value);
    digits[--n] = 'x';
    digits[--n] = '0';
    caps_line_add(line, &digits[n]);
}

void caps_line_decimal(caps_line *line, uint64_t value)
{
    char digits[21];
    unsigned n = sizeof(digits) - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    caps_line_add(line, &digits[n]);
}

void caps_line_bits(caps_line *line, nvmx_cap_reg reg, uint64_t bits)
{
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        const caps_feature_info *info = &caps_features[f];
        if (info->reg == reg && ((bits >> info->bit) & 1)) {
            caps_line_add(line, " ");
            caps_line_add(line, info->name);
            bits &= ~(1ull << info->bit);
        }
    }
    if (bits) {
        caps_line_add(line, " bits ");
        caps_line_hex(line, bits);
    }
}

/* ---- One failed check: "pinned <MSR>: <what>" and the detail --------------------------------- */

typedef struct pinned_check {
    const nvmx_vm *vm;
    const nvmx_vmx_caps *pinned;
    const nvmx_vmx_caps *ceiling; /* host ∩ implemented */
} pinned_check;

static caps_line *reject_begin(caps_line *line, uint32_t msr, const char *what)
{
    caps_line_init(line);
    caps_line_add(line, "pinned capabilities rejected: ");
    caps_line_add(line, caps_msr_name(msr));
    caps_line_add(line, " ");
    caps_line_add(line, what);
    return line;
}

static nvmx_status reject(const pinned_check *check, const caps_line *line)
{
    vm_log(check->vm, NVMX_LOG_ERROR, line->text);
    return NVMX_ERR_INCOMPATIBLE_CAPS;
}

static nvmx_status reject_bits(const pinned_check *check, uint32_t msr, const char *what,
                               uint64_t bits)
{
    caps_line line;
    caps_line_add(reject_begin(&line, msr, what), " ");
    caps_line_hex(&line, bits);
    return reject(check, &line);
}

static nvmx_status reject_features(const pinned_check *check, uint32_t msr, const char *what,
                                   nvmx_cap_reg reg, uint64_t bits)
{
    caps_line line;
    caps_line_bits(reject_begin(&line, msr, what), reg, bits);
    return reject(check, &line);
}

#define LACKS "allows what the host or the library lacks:"

/* ---- Control MSRs (A.3-A.5) ------------------------------------------------------------------ */

static uint32_t allowed0(uint64_t msr)
{
    return (uint32_t)msr;
}

static uint32_t allowed1(uint64_t msr)
{
    return (uint32_t)(msr >> 32);
}

static nvmx_status check_control(const pinned_check *check, nvmx_cap_reg reg)
{
    const caps_reg_layout *layout = &caps_layout[reg];
    uint64_t msr = caps_msr_get(check->pinned, layout->offset);
    uint64_t ceiling = caps_msr_get(check->ceiling, layout->offset);
    /* A.3: a control that must be 1 has to be allowed to be 1. */
    if (allowed0(msr) & ~allowed1(msr))
        return reject_bits(check, layout->msr, "has must-be-1 bits that are not allowed-1:",
                           allowed0(msr) & ~allowed1(msr));
    /* A.2: the non-TRUE MSR reports the default1 controls as must-be-1. */
    if (allowed0(ceiling) & ~allowed0(msr))
        return reject_bits(check, layout->msr, "reports default1 controls as allowed-0:",
                           allowed0(ceiling) & ~allowed0(msr));
    if (allowed1(msr) & ~allowed1(ceiling))
        return reject_features(check, layout->msr, LACKS, reg, allowed1(msr) & ~allowed1(ceiling));
    return NVMX_OK;
}

/* A.2/A.3.1: a TRUE MSR has the same allowed-1 settings and differs from its non-TRUE MSR only
 * in default1 controls it reports as allowed-0. It exists only with IA32_VMX_BASIC[55]. */
static nvmx_status check_true_control(const pinned_check *check, nvmx_cap_reg reg)
{
    const caps_reg_layout *layout = &caps_layout[reg];
    uint64_t msr = caps_msr_get(check->pinned, layout->offset);
    uint64_t true_msr = caps_msr_get(check->pinned, layout->true_offset);
    uint64_t ceiling = caps_msr_get(check->ceiling, layout->true_offset);
    if (!caps_feature_bit(check->pinned, NVMX_FEATURE_TRUE_CTLS)) {
        if (true_msr)
            return reject_bits(check, layout->true_msr,
                               "must be 0 without vmx-true-ctls:", true_msr);
        return NVMX_OK;
    }
    if (allowed1(true_msr) != allowed1(msr))
        return reject_bits(check, layout->true_msr, "allowed-1 differs from the non-TRUE MSR:",
                           allowed1(true_msr) ^ allowed1(msr));
    uint64_t differ = (allowed0(true_msr) ^ allowed0(msr)) & ~layout->default1;
    if (differ || (allowed0(true_msr) & ~allowed0(msr)))
        return reject_bits(check, layout->true_msr,
                           "allowed-0 differs from the non-TRUE MSR outside its default1 bits:",
                           (allowed0(true_msr) ^ allowed0(msr)));
    if (allowed0(ceiling) & ~allowed0(true_msr))
        return reject_features(check, layout->true_msr, LACKS, reg,
                               allowed0(ceiling) & ~allowed0(true_msr));
    return NVMX_OK;
}

static nvmx_status check_controls(const pinned_check *check)
{
    for (unsigned r = 0; r < NVMX_CAP_REG_COUNT; r++) {
        if (!caps_layout[r].split)
            continue;
        nvmx_status status = check_control(check, (nvmx_cap_reg)r);
        if (status == NVMX_OK && caps_layout[r].true_msr)
            status = check_true_control(check, (nvmx_cap_reg)r);
        if (status != NVMX_OK)
            return status;
    }
    return NVMX_OK;
}

/* ---- 64-bit registers: BASIC (A.1), MISC (A.6), PROCBASED3, EXIT2, EPT_VPID_CAP, VMFUNC ---- */

/* The bits of a register that are features. */
static uint64_t feature_mask(nvmx_cap_reg reg)
{
    uint64_t mask = 0;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        if (caps_features[f].reg == reg)
            mask |= 1ull << caps_features[f].bit;
    return mask;
}

/* Feature bits within the ceiling; every other bit exactly as the library builds it (for
 * PROCBASED3, EXIT2, EPT_VPID_CAP and VMFUNC that is 0; BASIC: the library's VMCS revision,
 * region size and memory type, never bits 48/49). Numbers the caller checked are `skip`. */
static nvmx_status check_plain(const pinned_check *check, nvmx_cap_reg reg, uint64_t skip)
{
    const caps_reg_layout *layout = &caps_layout[reg];
    uint64_t value = caps_msr_get(check->pinned, layout->offset);
    uint64_t ceiling = caps_msr_get(check->ceiling, layout->offset);
    uint64_t features = feature_mask(reg);
    uint64_t differ = (value ^ ceiling) & ~features & ~skip;
    if (differ)
        return reject_bits(check, layout->msr,
                           "differs from the library's in non-feature bits:", differ);
    if (value & features & ~ceiling)
        return reject_features(check, layout->msr, LACKS, reg, value & features & ~ceiling);
    return NVMX_OK;
}

static nvmx_status check_misc_numbers(const pinned_check *check)
{
    uint64_t misc = check->pinned->misc, ceiling = check->ceiling->misc;
    if ((misc & CAPS_MISC_CR3_TARGETS_MASK) > (ceiling & CAPS_MISC_CR3_TARGETS_MASK))
        return reject_bits(check, NVMX_MSR_IA32_VMX_MISC,
                           "reports more CR3-target values than host and library support:",
                           (misc & CAPS_MISC_CR3_TARGETS_MASK) >> CAPS_MISC_CR3_TARGETS_SHIFT);
    if ((misc & CAPS_MISC_MSR_LIST_MASK) > (ceiling & CAPS_MISC_MSR_LIST_MASK))
        return reject_bits(check, NVMX_MSR_IA32_VMX_MISC,
                           "reports longer MSR lists than host and library support, N =",
                           (misc & CAPS_MISC_MSR_LIST_MASK) >> CAPS_MISC_MSR_LIST_SHIFT);
    /* The rate is the host's (vmcs02's timer runs on it) and exists only with the timer. */
    uint64_t rate = caps_feature_bit(check->pinned, NVMX_FEATURE_PREEMPTION_TIMER)
                        ? ceiling & CAPS_MISC_TIMER_RATE_MASK
                        : 0;
    if ((misc & CAPS_MISC_TIMER_RATE_MASK) != rate)
        return reject_bits(check, NVMX_MSR_IA32_VMX_MISC,
                           "preemption-timer rate is not the host's (0 without the timer):",
                           misc & CAPS_MISC_TIMER_RATE_MASK);
    return NVMX_OK;
}

static nvmx_status check_plain_registers(const pinned_check *check)
{
    static const uint8_t plain[] = {NVMX_CAP_PROCBASED3, NVMX_CAP_EXIT2, NVMX_CAP_EPT_VPID,
                                    NVMX_CAP_VMFUNC};
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(plain); i++) {
        nvmx_status status = check_plain(check, (nvmx_cap_reg)plain[i], 0);
        if (status != NVMX_OK)
            return status;
    }
    nvmx_status status = check_misc_numbers(check);
    if (status != NVMX_OK)
        return status;
    return check_plain(check, NVMX_CAP_MISC,
                       CAPS_MISC_TIMER_RATE_MASK | CAPS_MISC_CR3_TARGETS_MASK |
                           CAPS_MISC_MSR_LIST_MASK);
}

/* ---- CR0/CR4 fixed bits (A.7, A.8) ---------------------------------------------------------- */

typedef struct cr_fixed {
    uint32_t msr0, msr1;
    uint16_t offset0, offset1;
    uint64_t required; /* SDM 24.8: bits VMX operation always needs set */
} cr_fixed;

static nvmx_status check_cr(const pinned_check *check, const cr_fixed *cr)
{
    uint64_t fixed0 = caps_msr_get(check->pinned, cr->offset0);
    uint64_t fixed1 = caps_msr_get(check->pinned, cr->offset1);
    if (fixed0 & ~fixed1)
        return reject_bits(check, cr->msr0,
                           "has bits fixed to 1 that FIXED1 fixes to 0:", fixed0 & ~fixed1);
    if (cr->required & ~fixed0)
        return reject_bits(check, cr->msr0,
                           "lacks bits VMX operation requires:", cr->required & ~fixed0);
    uint64_t host0 = caps_msr_get(check->ceiling, cr->offset0);
    if (host0 & ~fixed0)
        return reject_bits(check, cr->msr0, "lacks bits the host fixes to 1:", host0 & ~fixed0);
    uint64_t host1 = caps_msr_get(check->ceiling, cr->offset1);
    if (fixed1 & ~host1)
        return reject_bits(check, cr->msr1, "allows bits the host fixes to 0:", fixed1 & ~host1);
    return NVMX_OK;
}

#define CR_OFFSET(field) ((uint16_t)offsetof(nvmx_vmx_caps, field))

static nvmx_status check_crs(const pinned_check *check)
{
    static const cr_fixed crs[] = {
        {NVMX_MSR_IA32_VMX_CR0_FIXED0, NVMX_MSR_IA32_VMX_CR0_FIXED1, CR_OFFSET(cr0_fixed0),
         CR_OFFSET(cr0_fixed1), NVMX_CR0_PE | NVMX_CR0_NE | NVMX_CR0_PG},
        {NVMX_MSR_IA32_VMX_CR4_FIXED0, NVMX_MSR_IA32_VMX_CR4_FIXED1, CR_OFFSET(cr4_fixed0),
         CR_OFFSET(cr4_fixed1), NVMX_CR4_VMXE},
    };
    for (size_t i = 0; i < NVMX_ARRAY_SIZE(crs); i++) {
        nvmx_status status = check_cr(check, &crs[i]);
        if (status != NVMX_OK)
            return status;
    }
    return NVMX_OK;
}

/* ---- Dependencies and VMCS_ENUM -------------------------------------------------------------- */

static nvmx_status check_dependencies(const pinned_check *check)
{
    caps_model model;
    caps_model_of(check->pinned, &model);
    nvmx_feature feature, needs;
    if (!caps_dependency_broken(&model.features, &feature, &needs))
        return NVMX_OK;
    caps_line line;
    caps_line_init(&line);
    caps_line_add(&line, "pinned capabilities rejected: ");
    caps_line_add(&line, caps_msr_name(caps_layout[caps_features[feature].reg].msr));
    caps_line_add(&line, " has ");
    caps_line_add(&line, caps_features[feature].name);
    caps_line_add(&line, " without ");
    caps_line_add(&line, caps_features[needs].name);
    caps_line_add(&line, ", which it needs");
    return reject(check, &line);
}

static nvmx_status check_vmcs_enum(const pinned_check *check)
{
    uint64_t exists[VMCS12_FIELD_WORDS];
    caps_fields_exist(check->pinned, exists);
    uint64_t expected = caps_vmcs_enum(exists);
    if (check->pinned->vmcs_enum == expected)
        return NVMX_OK;
    caps_line line;
    reject_begin(&line, NVMX_MSR_IA32_VMX_VMCS_ENUM,
                 "is not the highest index of the fields that exist: ");
    caps_line_hex(&line, check->pinned->vmcs_enum);
    caps_line_add(&line, " instead of ");
    caps_line_hex(&line, expected);
    return reject(check, &line);
}

nvmx_status caps_check_pinned(const nvmx_vm *vm, const nvmx_vmx_caps *pinned,
                              const nvmx_vmx_caps *ceiling)
{
    const pinned_check check = {vm, pinned, ceiling};
    /* BASIC first: whether TRUE MSRs may exist decides how they are checked; the controls
     * next: whether the preemption timer exists decides the MISC rate. */
    nvmx_status status = check_plain(&check, NVMX_CAP_BASIC, 0);
    if (status == NVMX_OK)
        status = check_controls(&check);
    if (status == NVMX_OK)
        status = check_plain_registers(&check);
    if (status == NVMX_OK)
        status = check_crs(&check);
    if (status == NVMX_OK)
        status = check_dependencies(&check);
    if (status == NVMX_OK)
        status = check_vmcs_enum(&check);
    return status;
}
