/* SPDX-License-Identifier: MIT */
/*
 * lib/ builds with -ffreestanding: no libc. The only library calls the compiler may emit are
 * memcpy/memset/memmove/memcmp (GCC and Clang require them even freestanding), so lib/ uses
 * these names and nothing else from <string.h>. tests/tools/check-symbols.sh enforces it.
 */
#ifndef NESTVMX_LIB_FREESTANDING_H
#define NESTVMX_LIB_FREESTANDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nvmx_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define nvmx_memset(d, c, n) __builtin_memset((d), (c), (n))
#define nvmx_memcmp(a, b, n) __builtin_memcmp((a), (b), (n))

#define NVMX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
