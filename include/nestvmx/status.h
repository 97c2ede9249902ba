/* SPDX-License-Identifier: MIT */
/**
 * @file status.h
 * @brief Status codes returned by every library function.
 *
 * A status reports how the *call* went. What L1 caused (an exception, VMfail, a VM exit) is
 * never an error status: it is an architectural outcome, delivered to L1 through the ops and
 * described in ::nvmx_next.
 */
#ifndef NESTVMX_STATUS_H
#define NESTVMX_STATUS_H

#include "api.h"
#ifdef __cplusplus
extern "C" {
#endif

/** X-macro list of statuses: name, message. One source for the enum and nvmx_status_str(). */
#define NVMX_STATUS_LIST(X)                                                                        \
    X(OK, "success")                                                                               \
    X(ERR_INVALID_ARGUMENT,                                                                        \
      "invalid argument: a NULL pointer, a bad size or a value out of range")                      \
    X(ERR_NO_MEMORY, "the embedder's allocation op returned no memory")                            \
    X(ERR_UNSUPPORTED, "not supported by this build or by the capabilities exposed to L1")         \
    X(ERR_UNKNOWN_FEATURE, "policy names a VMX feature the library does not know")                 \
    X(ERR_INCOMPATIBLE_CAPS,                                                                       \
      "capabilities are inconsistent or exceed what host and library provide")                     \
    X(ERR_HOST, "an embedder op reported a failure")                                               \
    X(ERR_BAD_L1_ADDRESS, "the L1 guest-physical address is not backed by guest memory")           \
    X(ERR_DECODE, "the instruction bytes are not a VMX instruction the library can decode")        \
    X(ERR_STATE, "the call is not valid in the vCPU's current state")                              \
    X(ERR_BUFFER_TOO_SMALL, "the buffer is too small; the needed size was returned")               \
    X(ERR_NOT_IMPLEMENTED, "this operation is not implemented in this library version")            \
    X(ERR_BAD_STATE,                                                                               \
      "the nested-state blob is truncated, corrupted or inconsistent; the vCPU was not changed")   \
    X(ERR_STATE_VERSION,                                                                           \
      "the nested-state blob has a format version this library cannot read; the vCPU was not "     \
      "changed")

/** @brief Result of a library call. */
typedef enum nvmx_status {
#define NVMX_STATUS_ENUM(name, msg) NVMX_##name,
    NVMX_STATUS_LIST(NVMX_STATUS_ENUM)
#undef NVMX_STATUS_ENUM
        NVMX_STATUS_COUNT /**< number of statuses, not a status */
} nvmx_status;

/**
 * @brief A human-readable message for a status.
 * @return a static string; "unknown status" for values outside the enum.
 */
NVMX_API const char *nvmx_status_str(nvmx_status status);

#ifdef __cplusplus
}
#endif

#endif
