/* SPDX-License-Identifier: MIT */
/*
 * A known-good vmcs12 for VM-entry check tests: a 64-bit L2 under a 64-bit L1 host, every
 * field valid per SDM Vol. 3C 27.2 and 27.3, on a VM whose capabilities are everything the
 * software host can do (so a test of one rule is never masked by a reserved-bit check).
 * A test breaks exactly one rule and asserts which check fails first.
 */
#ifndef NESTVMX_TESTS_ENTRY_FIXTURE_H
#define NESTVMX_TESTS_ENTRY_FIXTURE_H

#include "fake_host.h"
#include "vmcs/entry_checks.h"

typedef struct entry_fixture {
    fake_host host;
    struct nvmx_vm vm;
    struct nvmx_vcpu vcpu;
    vmcs12 v;
} entry_fixture;

/* Build the VM (software host capabilities, every field existing) and the good vmcs12. */
void entry_fixture_init(entry_fixture *f);
void entry_fixture_fini(entry_fixture *f);

/* Set a field by name: SET(f, GUEST_CR0, value). */
#define SET(f, name, value) ((f)->v.field[VMCS12_ORD_##name] = (uint64_t)(value))
#define GET(f, name) ((f)->v.field[VMCS12_ORD_##name])

/* Run the checks of one category (after entry_check_ctx_init and, for guest-state, the
 * prepare step) and return the name of the first that fails, or NULL. */
const char *entry_fixture_first_failure(entry_fixture *f, nvmx_entry_check_category category);
/* The first failing check over all categories in SDM order, or NULL. */
const entry_check *entry_fixture_first_failing_check(entry_fixture *f);

/* Asserts that the first failing check, over all categories, is `name`. */
#define ASSERT_FIRST_FAILURE(f, check_name)                                                    \
    do {                                                                                       \
        const entry_check *fc_ = entry_fixture_first_failing_check(f);                         \
        cr_assert_not_null(fc_, "expected check %s to fail, but every check passed",          \
                           (check_name));                                                      \
        cr_assert_str_eq(fc_->info.name, (check_name));                                        \
    } while (0)

/* One row of a table-driven check test: `apply` breaks exactly one rule of the known-good
 * vmcs12 (and may enable what the rule needs), `check` is the check that must fail first.
 * Each test file exports its table, so a coverage test can prove every check has a row. */
typedef struct entry_break {
    const char *check;
    void (*apply)(entry_fixture *f);
} entry_break;

extern const entry_break entry_breaks_controls[];
extern const size_t entry_breaks_controls_count;
extern const entry_break entry_breaks_host[];
extern const size_t entry_breaks_host_count;
extern const entry_break entry_breaks_guest[];
extern const size_t entry_breaks_guest_count;

#endif
