/* SPDX-License-Identifier: MIT */
#include "entry_fixture.h"

const entry_break entry_breaks_host[] = {{NULL, NULL}};
const size_t entry_breaks_host_count = 0;
