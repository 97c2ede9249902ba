/* SPDX-License-Identifier: MIT */
/* The buffer pool of fuzz_ram.h (not built with that header forced in). Buffers are
 * mappings between two inaccessible guard pages, so a stray access just past either end
 * faults as AddressSanitizer's redzones would catch it; giving a buffer back drops its pages
 * (MADV_DONTNEED), so the next user finds it zeroed at the cost of the pages it touches. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmx_harness.h"

void *fuzz_ram_calloc(size_t count, size_t size);
void fuzz_ram_free(void *ptr);

/* Two RAMs are live at once: the harness's and the known-good vmcs12's fixture. */
#define POOL_SIZE 4
#define GUARD 4096u
static struct {
    void *buffer;
    bool in_use;
} pool[POOL_SIZE];

void *fuzz_ram_calloc(size_t count, size_t size)
{
    if (count != 1 || size != HARNESS_RAM)
        return calloc(count, size);
    for (int i = 0; i < POOL_SIZE; i++) {
        if (pool[i].in_use)
            continue;
        if (!pool[i].buffer) {
            uint8_t *map = mmap(NULL, HARNESS_RAM + 2 * GUARD, PROT_NONE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (map == MAP_FAILED)
                return NULL;
            if (mprotect(map + GUARD, HARNESS_RAM, PROT_READ | PROT_WRITE) != 0)
                abort();
            pool[i].buffer = map + GUARD;
        }
        pool[i].in_use = true;
        return pool[i].buffer;
    }
    return calloc(count, size);
}

void fuzz_ram_free(void *ptr)
{
    for (int i = 0; i < POOL_SIZE; i++) {
        if (ptr && pool[i].buffer == ptr) {
            pool[i].in_use = false;
            if (madvise(ptr, HARNESS_RAM, MADV_DONTNEED) != 0)
                abort();
            return;
        }
    }
    free(ptr);
}
