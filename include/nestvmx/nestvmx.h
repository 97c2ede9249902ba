/* SPDX-License-Identifier: MIT */
/**
 * @file nestvmx.h
 * @brief libnestvmx umbrella header: include this one.
 *
 * libnestvmx gives a VMM Intel VMX nested virtualization: it emulates the VMX instructions L1
 * executes, keeps vmcs12, builds vmcs02 and EPT02 and reflects VM exits, all through the host
 * ops table (ops.h). See docs/ARCHITECTURE.md.
 */
#ifndef NESTVMX_NESTVMX_H
#define NESTVMX_NESTVMX_H

#include "capabilities.h"
#include "controls.h"
#include "entry_checks.h"
#include "exit_reasons.h"
#include "exits.h"
#include "features.h"
#include "msrs.h"
#include "ops.h"
#include "state.h"
#include "status.h"
#include "version.h"
#include "vm.h"
#include "vm_instruction_errors.h"
#include "vmcs_fields.h"

#endif
