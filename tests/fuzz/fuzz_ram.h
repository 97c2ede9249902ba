/* SPDX-License-Identifier: MIT */
/*
 * Forced into the fixtures of tests/unit and tests/security when they are built for the fuzz
 * targets (tests/fuzz/CMakeLists.txt): their calloc/free of the fake host's 16 MiB of L1 RAM
 * go to a small pool that recycles the buffers, zeroed, between inputs. A fresh 16 MiB buffer
 * per input costs about 10 ms under AddressSanitizer (mapping, and poisoning its shadow on
 * free), ten times the rest of an input. Every other allocation passes through unchanged; the
 * pool buffers have guard pages instead of AddressSanitizer redzones (fuzz_ram.c).
 */
#ifndef NESTVMX_TESTS_FUZZ_RAM_H
#define NESTVMX_TESTS_FUZZ_RAM_H

#include <stdlib.h>

void *fuzz_ram_calloc(size_t count, size_t size);
void fuzz_ram_free(void *ptr);

#define calloc fuzz_ram_calloc
#define free fuzz_ram_free

#endif
