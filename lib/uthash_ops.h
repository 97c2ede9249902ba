/* SPDX-License-Identifier: MIT */
/*
 * uthash configured for lib/: it allocates through the VM's ops and never aborts. Wherever a
 * HASH_ macro that allocates or frees is used, `hash_vm` (the nvmx_vm) and `hash_oom` (a bool,
 * set when an add ran out of memory) must be in scope.
 */
#ifndef NESTVMX_LIB_UTHASH_OPS_H
#define NESTVMX_LIB_UTHASH_OPS_H

#include "internal.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(size) vm_alloc(hash_vm, (size))
#define uthash_free(ptr, size) vm_free(hash_vm, (ptr), (size))
#define uthash_nonfatal_oom(obj) (hash_oom = true)
#define uthash_bzero(a, n) nvmx_memset((a), 0, (n))
#define uthash_memcmp(a, b, n) nvmx_memcmp((a), (b), (n))
#define uthash_strlen(s) 0
#include <uthash.h>

#endif
