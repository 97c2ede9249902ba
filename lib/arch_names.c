/* SPDX-License-Identifier: MIT */
/*
 * Names of architectural numbers: basic exit reasons (SDM Vol. 3D, Appendix C) and
 * VM-instruction errors (SDM Vol. 3C 31.4). Both tables are generated from the X-macro lists of
 * the public headers, indexed by number; numbers the lists leave out stay NULL.
 */
#include <nestvmx/nestvmx.h>

#include "freestanding.h"

/* A number listed twice would be an initializer overridden silently; -Woverride-init (part of
 * -Wextra, an error under -Werror) turns that into a build failure. */
static const char *const exit_reason_names[] = {
#define EXIT_REASON_NAME(name, number) [number] = #name,
    NVMX_EXIT_REASON_LIST(EXIT_REASON_NAME)
#undef EXIT_REASON_NAME
};

static const char *const vm_instruction_error_texts[] = {
#define VM_INSTRUCTION_ERROR_TEXT(name, number, text) [number] = text,
    NVMX_VM_INSTRUCTION_ERROR_LIST(VM_INSTRUCTION_ERROR_TEXT)
#undef VM_INSTRUCTION_ERROR_TEXT
};

const char *nvmx_exit_reason_name(unsigned reason)
{
    if (reason >= NVMX_ARRAY_SIZE(exit_reason_names))
        return NULL;
    return exit_reason_names[reason];
}

const char *nvmx_vm_instruction_error_str(unsigned number)
{
    /* Error 0 does not exist: VMfailValid always stores a nonzero number (SDM 31.2). */
    if (number >= NVMX_ARRAY_SIZE(vm_instruction_error_texts))
        return NULL;
    return vm_instruction_error_texts[number];
}
