/* SPDX-License-Identifier: MIT */
/*
 * EPT violations and misconfigurations of L2 (exit reasons 48 and 49 from hardware walking
 * vmcs02's EPT): resolved in EPT02, reflected to L1 with the exit L1's EPT12 calls for, or
 * left to L0 (lib/exits/ept_exits.c).
 */
#ifndef NESTVMX_LIB_EXITS_EPT_EXITS_H
#define NESTVMX_LIB_EXITS_EPT_EXITS_H

#include "../internal.h"

/* For nvmx_on_l2_exit with reason 48 or 49 (see include/nestvmx/exits.h for the contract). */
nvmx_status ept_exit_from_l2(nvmx_vcpu *vcpu, const nvmx_exit *exit, nvmx_next *next);

#endif
