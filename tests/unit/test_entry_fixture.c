/* SPDX-License-Identifier: MIT */
/* The known-good vmcs12 passes every VM-entry check; the check list is enumerable. */
#include <criterion/criterion.h>
#include <string.h>

#include "entry_fixture.h"

static entry_fixture f;
static void setup(void)
{
    entry_fixture_init(&f);
}
static void teardown(void)
{
    entry_fixture_fini(&f);
}
TestSuite(entry_checks, .init = setup, .fini = teardown);

/* The fixture every check test starts from is valid: no check fails on it. */
Test(entry_checks, known_good_vmcs12_passes_every_check)
{
    const entry_check *failed = entry_fixture_first_failing_check(&f);
    cr_assert_null(failed, "check %s fails on the known-good vmcs12",
                   failed ? failed->info.name : "");
}

/* The API enumerates every check with a unique name, a category and an SDM section. */
Test(entry_checks, checks_are_enumerable_with_unique_names)
{
    size_t n = nvmx_entry_check_count();
    for (size_t i = 0; i < n; i++) {
        const nvmx_entry_check_info *a = nvmx_entry_check_get(i);
        cr_assert_not_null(a);
        cr_assert_not_null(a->name);
        cr_assert_not_null(a->sdm_section);
        cr_assert_lt((unsigned)a->category, NVMX_CHECK_CATEGORY_COUNT);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(a->name, nvmx_entry_check_get(j)->name);
    }
    cr_assert_null(nvmx_entry_check_get(n));
    cr_assert_str_eq(nvmx_entry_check_category_name(NVMX_CHECK_GUEST_STATE), "guest-state");
    cr_assert_null(nvmx_entry_check_category_name(NVMX_CHECK_CATEGORY_COUNT));
}

static bool has_row(const char *name, const entry_break *rows, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(rows[i].check, name) == 0)
            return true;
    }
    return false;
}

/* Every check is reached by at least one test row that breaks exactly its rule. */
Test(entry_checks, every_check_has_a_failing_test)
{
    for (size_t i = 0; i < nvmx_entry_check_count(); i++) {
        const char *name = nvmx_entry_check_get(i)->name;
        bool covered = has_row(name, entry_breaks_controls, entry_breaks_controls_count) ||
                       has_row(name, entry_breaks_host, entry_breaks_host_count) ||
                       has_row(name, entry_breaks_guest, entry_breaks_guest_count);
        cr_assert(covered, "no test breaks check %s", name);
    }
}
