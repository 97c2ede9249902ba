/* SPDX-License-Identifier: MIT */
/**
 * @file version.h
 * @brief Library version, for compile-time and run-time checks.
 */
#ifndef NESTVMX_VERSION_H
#define NESTVMX_VERSION_H

#include "api.h"
#include <stdint.h>

/** Major version: changes break the API or the ABI. */
#define NVMX_VERSION_MAJOR 0
/** Minor version: compatible additions. */
#define NVMX_VERSION_MINOR 1
/** Patch version: fixes only. */
#define NVMX_VERSION_PATCH 0
/** The version as one number, (major << 16) | (minor << 8) | patch. */
#define NVMX_VERSION ((NVMX_VERSION_MAJOR << 16) | (NVMX_VERSION_MINOR << 8) | NVMX_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/** @brief The version of the library linked at run time (same packing as NVMX_VERSION). */
NVMX_API uint32_t nvmx_version(void);

#ifdef __cplusplus
}
#endif

#endif
