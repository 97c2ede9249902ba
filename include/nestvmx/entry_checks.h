/* SPDX-License-Identifier: MIT */
/**
 * @file entry_checks.h
 * @brief The VM-entry checks the library runs on VMLAUNCH/VMRESUME, enumerable by name.
 *
 * Every check of SDM Vol. 3C chapter 27 ("VM Entries") is one named entry: the checks on VMX
 * controls (a failure is VMfailValid(7)), on the host-state area (VMfailValid(8)) and on the
 * guest-state area (a VM exit to L1 with exit reason 33 | bit 31 and the check's exit
 * qualification). Names are stable: tools and tests refer to them.
 */
#ifndef NESTVMX_ENTRY_CHECKS_H
#define NESTVMX_ENTRY_CHECKS_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Which area a check looks at, in the order the SDM runs them (27.2, 27.3). */
typedef enum nvmx_entry_check_category {
    NVMX_CHECK_CONTROLS = 0,  /**< SDM 27.2.1: failure is VMfailValid(7) */
    NVMX_CHECK_HOST_STATE,    /**< SDM 27.2.2-27.2.4: failure is VMfailValid(8) */
    NVMX_CHECK_GUEST_STATE,   /**< SDM 27.3.1: failure is a VM-entry-failure exit (33) */
    NVMX_CHECK_CATEGORY_COUNT
} nvmx_entry_check_category;

/** @brief One VM-entry check. */
typedef struct nvmx_entry_check_info {
    const char *name;                   /**< stable, e.g. "guest.cr0.fixed_bits" */
    nvmx_entry_check_category category; /**< the area, which fixes the failure's form */
    const char *sdm_section;            /**< e.g. "27.3.1.1" */
    uint32_t exit_qualification;        /**< guest-state checks: 0, 2 (PDPTE), 3 (NMI), 4 (link) */
} nvmx_entry_check_info;

/** @brief Number of VM-entry checks. */
NVMX_API size_t nvmx_entry_check_count(void);

/**
 * @brief The check at an index, in the order the library runs them (controls, host, guest).
 * @return NULL when index >= nvmx_entry_check_count().
 */
NVMX_API const nvmx_entry_check_info *nvmx_entry_check_get(size_t index);

/** @brief The name of a category ("controls", "host-state", "guest-state"); NULL if invalid. */
NVMX_API const char *nvmx_entry_check_category_name(nvmx_entry_check_category category);

#ifdef __cplusplus
}
#endif

#endif
