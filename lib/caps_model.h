/* SPDX-License-Identifier: MIT */
/*
 * The capability model behind lib/capabilities.c (SDM Vol. 3D Appendix A).
 *
 * A capability set is handled as a *model*: the set of named features it has (features.h)
 * plus the few fields of the capability MSRs that are numbers rather than feature bits.
 * Every combination (host ∩ implemented ∩ policy, dependencies) is done on models; raw MSR
 * values are produced from a model in one place (caps_model_build) and read back into one in
 * one place (caps_model_of). So a bit the library does not know can never leak from the host
 * to L1, and the default1 rules (A.2) are applied by construction.
 *
 * Shared by lib/capabilities.c, lib/capabilities_pinned.c, lib/msr.c and the unit tests.
 * Not installed.
 */
#ifndef NESTVMX_LIB_CAPS_MODEL_H
#define NESTVMX_LIB_CAPS_MODEL_H

#include "internal.h"

_Static_assert(NVMX_FEATURE_COUNT < 255, "features are stored in uint8_t, NONE included");

/* ---- Features and the registers they live in ------------------------------------------ */

/* One row of NVMX_FEATURE_LIST. */
typedef struct caps_feature_info {
    const char *name; /* QEMU-style, "vmx-ept" */
    uint8_t reg;      /* nvmx_cap_reg */
    uint8_t bit;      /* bit in that register (allowed-1 half for control registers) */
} caps_feature_info;

extern const caps_feature_info caps_features[NVMX_FEATURE_COUNT];

/* Where a capability register lives in nvmx_vmx_caps, and its default1 bits (SDM A.2). */
typedef struct caps_reg_layout {
    uint32_t msr;         /* index of the MSR that holds the register */
    uint16_t offset;      /* offsetof(nvmx_vmx_caps, ...) of that MSR */
    uint32_t true_msr;    /* its IA32_VMX_TRUE_* counterpart, 0 = none */
    uint16_t true_offset; /* offset of the TRUE MSR */
    bool split;           /* allowed-0 in bits 31:0, allowed-1 in 63:32 (A.3-A.5) */
    uint64_t default1;    /* controls reserved as 1 (A.2); 0 for registers without any */
} caps_reg_layout;

extern const caps_reg_layout caps_layout[NVMX_CAP_REG_COUNT];

static inline uint64_t caps_msr_get(const nvmx_vmx_caps *caps, unsigned offset)
{
    uint64_t value;
    nvmx_memcpy(&value, (const char *)caps + offset, sizeof(value));
    return value;
}

static inline void caps_msr_set(nvmx_vmx_caps *caps, unsigned offset, uint64_t value)
{
    nvmx_memcpy((char *)caps + offset, &value, sizeof(value));
}

/* A default1 feature names the ability to *clear* a default1 control, which only the TRUE
 * MSRs can report (A.2). QEMU's names say so: "vmx-cr3-load-noexit". */
bool caps_feature_is_default1(nvmx_feature feature);
/* The feature's bit is 1 in its register (allowed-1 for controls): the "1-setting is
 * supported" of SDM Appendix B, which decides field existence and MSR existence. */
bool caps_feature_bit(const nvmx_vmx_caps *caps, nvmx_feature feature);
/* The feature is present: its bit is set, or for a default1 feature, the TRUE MSR exists and
 * allows the control to be 0. */
bool caps_feature_present(const nvmx_vmx_caps *caps, nvmx_feature feature);
/* The name of a VMX MSR from NVMX_MSR_LIST ("IA32_VMX_BASIC"), "?" if not in the list. */
const char *caps_msr_name(uint32_t index);

/* ---- Feature sets ---------------------------------------------------------------------- */

#define CAPS_FEATURE_WORDS ((NVMX_FEATURE_COUNT + 63) / 64)

typedef struct feature_set {
    uint64_t word[CAPS_FEATURE_WORDS];
} feature_set;

static inline bool feature_set_has(const feature_set *set, unsigned feature)
{
    return feature < NVMX_FEATURE_COUNT && ((set->word[feature / 64] >> (feature % 64)) & 1);
}

static inline void feature_set_add(feature_set *set, unsigned feature)
{
    if (feature < NVMX_FEATURE_COUNT)
        set->word[feature / 64] |= 1ull << (feature % 64);
}

static inline void feature_set_remove(feature_set *set, unsigned feature)
{
    if (feature < NVMX_FEATURE_COUNT)
        set->word[feature / 64] &= ~(1ull << (feature % 64));
}

/* Every feature of NVMX_FEATURE_LIST. */
void feature_set_fill(feature_set *set);
void feature_set_intersect(feature_set *set, const feature_set *other);
bool feature_set_equal(const feature_set *a, const feature_set *b);

/* ---- Models ----------------------------------------------------------------------------- */

/* The fields of a capability set that are numbers or masks, not feature bits. */
typedef struct caps_numbers {
    uint8_t timer_rate;   /* IA32_VMX_MISC[4:0]: TSC bit the preemption timer counts with (A.6) */
    uint16_t cr3_targets; /* IA32_VMX_MISC[24:16]: number of CR3-target values (A.6) */
    uint8_t msr_list;     /* IA32_VMX_MISC[27:25]: N, MSR lists of up to 512 * (N + 1) (A.6) */
    uint64_t cr0_fixed0, cr0_fixed1; /* A.7 */
    uint64_t cr4_fixed0, cr4_fixed1; /* A.8 */
} caps_numbers;

typedef struct caps_model {
    feature_set features;
    caps_numbers numbers;
} caps_model;

/* IA32_VMX_MISC fields that are numbers (SDM A.6). */
#define CAPS_MISC_TIMER_RATE_MASK 0x1Full
#define CAPS_MISC_CR3_TARGETS_SHIFT 16
#define CAPS_MISC_CR3_TARGETS_MASK (0x1FFull << CAPS_MISC_CR3_TARGETS_SHIFT)
#define CAPS_MISC_MSR_LIST_SHIFT 25
#define CAPS_MISC_MSR_LIST_MASK (7ull << CAPS_MISC_MSR_LIST_SHIFT)

/* Read a raw capability set back into a model (bits the library does not know are lost). */
void caps_model_of(const nvmx_vmx_caps *caps, caps_model *out);
/* The raw MSR values of a model: library VMCS format in BASIC, default1 bits as A.2 says,
 * TRUE MSRs only with vmx-true-ctls, the timer rate only with the preemption timer,
 * VMCS_ENUM from the fields that exist. The model should be closed under dependencies. */
void caps_model_build(const caps_model *model, nvmx_vmx_caps *out);
/* model ∩= limit: features intersect, counts take the minimum, CR fixed0 bits unite and
 * fixed1 bits intersect (stricter wins); the timer rate stays the model's (the host's). */
void caps_model_restrict(caps_model *model, const caps_model *limit);
/* What the library implements (the table in lib/capabilities.c). */
void caps_implemented(caps_model *out);
/* The software CPU of nvmx_caps_software_host, as a model. */
void caps_software_host_model(caps_model *out);

/* ---- Dependencies ------------------------------------------------------------------------ */

/* Remove every feature whose prerequisite is absent, until nothing changes. */
void caps_apply_dependencies(feature_set *set);
/* The first dependency the set breaks: *feature is present without *needs. */
bool caps_dependency_broken(const feature_set *set, nvmx_feature *feature, nvmx_feature *needs);

/* ---- VMCS fields ------------------------------------------------------------------------- */

/* One bit per vmcs_field_table entry: its feature is NONE or its bit is set (Appendix B). */
void caps_fields_exist(const nvmx_vmx_caps *caps, uint64_t exists[VMCS12_FIELD_WORDS]);
/* IA32_VMX_VMCS_ENUM: the highest index (bits 9:1) of the existing fields (A.9). */
uint64_t caps_vmcs_enum(const uint64_t exists[VMCS12_FIELD_WORDS]);

/* ---- Log lines (no libc formatting in lib/) ----------------------------------------------- */

typedef struct caps_line {
    char text[256];
    size_t length;
} caps_line;

void caps_line_init(caps_line *line);
/* Append text; what does not fit is cut, the line stays NUL-terminated. */
void caps_line_add(caps_line *line, const char *text);
void caps_line_hex(caps_line *line, uint64_t value);
void caps_line_decimal(caps_line *line, uint64_t value);
/* Append " name" for each feature of reg whose bit is in bits, and " bits 0x..." for the rest. */
void caps_line_bits(caps_line *line, nvmx_cap_reg reg, uint64_t bits);

/* ---- Pinned capabilities (lib/capabilities_pinned.c) -------------------------------------- */

/* Check pinned caps are consistent and within ceiling (= host ∩ implemented, built). Logs the
 * offending MSR and returns NVMX_ERR_INCOMPATIBLE_CAPS if not. */
nvmx_status caps_check_pinned(const nvmx_vm *vm, const nvmx_vmx_caps *pinned,
                              const nvmx_vmx_caps *ceiling);

#endif
