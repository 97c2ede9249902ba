/* SPDX-License-Identifier: MIT */
/*
 * The Criterion assertions the shared test fixtures use (tests/unit/vmx_harness.c,
 * entry_fixture.c, tests/security/sec_env.c), for the fuzz targets: they link libFuzzer's
 * main instead of Criterion's, and a failed assertion in a fixture is a finding, so it aborts
 * (libFuzzer then saves the input). Only the assertion forms the fixtures use are here.
 */
#ifndef NESTVMX_TESTS_FUZZ_CRITERION_SHIM_H
#define NESTVMX_TESTS_FUZZ_CRITERION_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline _Noreturn void fuzz_shim_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fixture assertion failed: %s\n", file, line, what);
    abort();
}

#define cr_assert(cond, ...) ((cond) ? (void)0 : fuzz_shim_fail(__FILE__, __LINE__, #cond))
#define cr_assert_not(cond, ...) cr_assert(!(cond))
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b))
#define cr_expect_eq(a, b, ...) cr_assert((a) == (b))
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0)
#define cr_assert_fail(...) fuzz_shim_fail(__FILE__, __LINE__, "cr_assert_fail")

#endif
