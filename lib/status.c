/* SPDX-License-Identifier: MIT */
#include "internal.h"

static const char *const status_messages[] = {
#define STATUS_MESSAGE(name, msg) [NVMX_##name] = msg,
    NVMX_STATUS_LIST(STATUS_MESSAGE)
#undef STATUS_MESSAGE
};

const char *nvmx_status_str(nvmx_status status)
{
    if ((unsigned)status >= NVMX_ARRAY_SIZE(status_messages))
        return "unknown status";
    return status_messages[status];
}
