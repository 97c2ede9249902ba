/* SPDX-License-Identifier: MIT */
#include "entry_checks.h"

const entry_check entry_checks_controls[] = {
    ENTRY_CHECK(NULL, 0, NULL, 0, NULL),
};
const size_t entry_checks_controls_count = 0;
