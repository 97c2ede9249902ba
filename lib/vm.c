/* SPDX-License-Identifier: MIT */
/* VM lifecycle, and allocation and logging through the embedder's ops. */
#include "internal.h"
#include "vmcs/entry_checks.h"

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
    if (vm->ops.log)
        vm->ops.log(vm->host_ctx, level, message);
}

void vm_log_hex(const nvmx_vm *vm, nvmx_log_level level, const char *message, uint64_t value)
{
    char line[160];
    size_t n = 0;
    while (message[n] && n < sizeof(line) - 20) {
        line[n] = message[n];
        n++;
    }
    line[n++] = ' ';
    line[n++] = '0';
    line[n++] = 'x';
    int digits = 1;
    while (digits < 16 && (value >> (4 * digits)))
        digits++;
    for (int d = digits - 1; d >= 0; d--)
        line[n++] = "0123456789abcdef"[(value >> (4 * d)) & 0xF];
    line[n] = '\0';
    vm_log(vm, level, line);
}

void vm_log_parts(const nvmx_vm *vm, nvmx_log_level level, const char *const *parts, unsigned count)
{
    char line[256];
    size_t n = 0;
    for (unsigned i = 0; i < count; i++) {
        for (const char *p = parts[i]; *p && n < sizeof(line) - 1; p++)
            line[n++] = *p;
    }
    line[n] = '\0';
    vm_log(vm, level, line);
}

void nvmx_vm_config_init(nvmx_vm_config *config)
{
    if (!config)
        return;
    nvmx_memset(config, 0, sizeof(*config));
    config->expose_vmx = true;
    config->phys_addr_width = 46;
    config->max_cached_vmcs = NVMX_DEFAULT_MAX_CACHED_VMCS;
    config->max_ept02_pages = NVMX_DEFAULT_MAX_EPT02_PAGES;
    config->max_vpid02 = NVMX_DEFAULT_MAX_VPID02;
    config->feature_control = NVMX_FEATURE_CONTROL_LOCK | NVMX_FEATURE_CONTROL_VMX_OUTSIDE_SMX;
}

static bool required_ops_present(const nvmx_host_ops *ops)
{
    return ops->mem_alloc && ops->mem_free && ops->l1_read && ops->l1_write && ops->translate &&
           ops->reg_get && ops->reg_set && ops->segment_get && ops->inject_exception;
}

static nvmx_status check_config(const nvmx_vm *vm, const nvmx_vm_config *config)
{
    if (config->max_cached_vmcs < 1 || config->max_cached_vmcs > NVMX_MAX_CACHED_VMCS_LIMIT) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "max_cached_vmcs must be 1 to 4096, got",
                   config->max_cached_vmcs);
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    if (config->max_ept02_pages < NVMX_MIN_EPT02_PAGES ||
        config->max_ept02_pages > NVMX_MAX_EPT02_PAGES_LIMIT) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "max_ept02_pages must be 4 to 0x100000, got",
                   config->max_ept02_pages);
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    if (config->l0.msr_bitmap && !(vm->ops.page_alloc && vm->ops.page_free)) {
        vm_log(vm, NVMX_LOG_ERROR, "l0.msr_bitmap needs the page_alloc and page_free ops");
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    if (config->max_vpid02 < 1 || config->max_vpid02 > NVMX_MAX_VPID02_LIMIT) {
        vm_log_hex(vm, NVMX_LOG_ERROR, "max_vpid02 must be 1 to 0x40, got", config->max_vpid02);
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    if (config->disabled_feature_count && !config->disabled_features) {
        vm_log(vm, NVMX_LOG_ERROR, "disabled_feature_count is set but disabled_features is NULL");
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    return NVMX_OK;
}

nvmx_status nvmx_vm_create(const nvmx_vm_config *config, const nvmx_host_ops *ops, void *host_ctx,
                           nvmx_vm **out)
{
    if (!config || !ops || !out)
        return NVMX_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!required_ops_present(ops)) {
        if (ops->log)
            ops->log(host_ctx, NVMX_LOG_ERROR,
                     "nvmx_vm_create: a required op is NULL (mem_alloc, mem_free, l1_read, "
                     "l1_write, translate, reg_get, reg_set, segment_get, inject_exception)");
        return NVMX_ERR_INVALID_ARGUMENT;
    }
    /* Validate on a stack copy first, so a failure allocates nothing. */
    nvmx_vm probe;
    nvmx_memset(&probe, 0, sizeof(probe));
    probe.ops = *ops;
    probe.host_ctx = host_ctx;
    nvmx_status status = check_config(&probe, config);
    if (status == NVMX_OK)
        status = capabilities_compute(&probe, config);
    if (status != NVMX_OK)
        return status;
    probe.phys_addr_width = config->phys_addr_width;
    probe.max_cached_vmcs = config->max_cached_vmcs;
    probe.max_ept02_pages = config->max_ept02_pages;
    probe.max_vpid02 = config->max_vpid02;
    probe.feature_control_at_reset = config->feature_control;
    probe.l0 = config->l0;
    for (unsigned i = 0; i < VMCS12_FIELD_COUNT; i++) {
        if (NVMX_FIELD_TYPE(vmcs_field_table[i].encoding) == NVMX_FIELD_TYPE_GUEST)
            probe.guest_fields[i / 64] |= probe.field_exists[i / 64] & (1ull << (i % 64));
    }
    entry_checks_memo_inputs(probe.entry_memo_inputs);

    nvmx_vm *vm = ops->mem_alloc(host_ctx, sizeof(*vm));
    if (!vm)
        return NVMX_ERR_NO_MEMORY;
    *vm = probe;
    *out = vm;
    return NVMX_OK;
}

void nvmx_vm_destroy(nvmx_vm *vm)
{
    if (!vm)
        return;
    if (vm->vcpu_count)
        vm_log(vm, NVMX_LOG_ERROR, "nvmx_vm_destroy: vCPUs still exist; destroy them first");
    vm->ops.mem_free(vm->host_ctx, vm, sizeof(*vm));
}
