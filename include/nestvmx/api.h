/* SPDX-License-Identifier: MIT */
/**
 * @file api.h
 * @brief Symbol visibility: only declarations marked NVMX_API are exported by the library.
 */
#ifndef NESTVMX_API_H
#define NESTVMX_API_H

#if defined(__GNUC__) || defined(__clang__)
/** Marks a function of the public API (exported from the shared and static library). */
#define NVMX_API __attribute__((visibility("default")))
#else
#define NVMX_API
#endif

#endif
