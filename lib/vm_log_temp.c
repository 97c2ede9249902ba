/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY: stand-ins for vm_alloc/vm_free/vm_log/vm_log_hex, which belong to lib/vm.c and
 * are written on another branch. They exist only so that the `caps` branch links.
 * DELETE THIS FILE WHEN MERGING with the branch that adds lib/vm.c.
 */
#include "internal.h"

void *vm_alloc(nvmx_vm *vm, size_t size)
{
    return vm->ops.mem_alloc(vm->host_ctx, size);
}

void vm_free(nvmx_vm *vm, void *ptr, size_t size)
{
    if (ptr)
        vm->ops.mem_free(vm->host_ctx, ptr, size);
}

void vm_log(const nvmx_vm *vm, nvmx_log_level level, const char *message)
{
    if (vm && vm->ops.log)
        vm->ops.log(vm->host_ctx, level, message);
}

void vm_log_hex(const nvmx_vm *vm, nvmx_log_level level, const char *message, uint64_t value)
{
    char line[256];
    size_t n = 0;
    while (*message && n < sizeof(line) - 22)
        line[n++] = *message++;
    line[n++] = ' ';
    line[n++] = '0';
    line[n++] = 'x';
    char digits[16];
    unsigned count = 0;
    do {
        digits[count++] = "0123456789ABCDEF"[value & 0xF];
        value >>= 4;
    } while (value);
    while (count)
        line[n++] = digits[--count];
    line[n] = '\0';
    vm_log(vm, level, line);
}
