/* SPDX-License-Identifier: MIT */
#include "internal.h"

uint32_t nvmx_version(void)
{
    return NVMX_VERSION;
}
