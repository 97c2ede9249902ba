/* SPDX-License-Identifier: MIT */
/* VM and vCPU creation and destruction: arguments, ops, allocation failures, no leaks. */
#include <criterion/criterion.h>
#include <string.h>

#include "vmx_harness.h"

static fake_host host;
static void setup(void)
{
    fake_host_init(&host, 1u << 20);
}
static void teardown(void)
{
    fake_host_fini(&host);
}

TestSuite(lifecycle, .init = setup, .fini = teardown);

/* NULL arguments are rejected without touching anything. */
Test(lifecycle, create_rejects_null_arguments)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_vm *vm = (nvmx_vm *)1;
    cr_assert_eq(nvmx_vm_create(NULL, fake_host_ops(), &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_vm_create(&config, NULL, &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, NULL), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_eq(host.alloc_calls, 0);
}

/* Every required op must be present; the log says which ones are required. */
Test(lifecycle, create_rejects_missing_required_op)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_host_ops ops = *fake_host_ops();
    ops.translate = NULL;
    nvmx_vm *vm;
    cr_assert_eq(nvmx_vm_create(&config, &ops, &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert_null(vm);
    cr_assert(strstr(host.last_log, "translate") != NULL, "log: %s", host.last_log);
    cr_assert_eq(host.alloc_calls, 0);
}

/* max_cached_vmcs outside 1..NVMX_MAX_CACHED_VMCS_LIMIT is an error, not clamped. */
Test(lifecycle, create_rejects_cache_bound_out_of_range)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_vm *vm;
    config.max_cached_vmcs = 0;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    config.max_cached_vmcs = NVMX_MAX_CACHED_VMCS_LIMIT + 1;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(host.last_log, "max_cached_vmcs") != NULL);
}

/* An unknown feature name fails creation and names the feature. */
Test(lifecycle, create_rejects_unknown_feature_name)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    const char *names[] = {"vmx-no-such-thing"};
    config.disabled_features = names;
    config.disabled_feature_count = 1;
    nvmx_vm *vm;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_ERR_UNKNOWN_FEATURE);
    cr_assert(strstr(host.last_log, "vmx-no-such-thing") != NULL, "log: %s", host.last_log);
    cr_assert_eq(host.live_allocations, 0);
}

/* Allocation failures surface as NVMX_ERR_NO_MEMORY and leave nothing allocated. */
Test(lifecycle, allocation_failure_is_reported_and_leaks_nothing)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    nvmx_vm *vm;
    host.fail_alloc_at = 1;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_ERR_NO_MEMORY);
    cr_assert_eq(host.live_allocations, 0);
    host.fail_alloc_at = 0;
    cr_assert_eq(nvmx_vm_create(&config, fake_host_ops(), &host, &vm), NVMX_OK);
    nvmx_vcpu *vcpu;
    host.fail_alloc_at = host.alloc_calls + 1;
    cr_assert_eq(nvmx_vcpu_create(vm, &host, &vcpu), NVMX_ERR_NO_MEMORY);
    nvmx_vm_destroy(vm);
    cr_assert_eq(host.live_allocations, 0);
}

/* SDM 24.7: a new vCPU is outside VMX operation, with no current VMCS. */
Test(lifecycle, new_vcpu_is_outside_vmx_operation)
{
    harness h;
    harness_init(&h, NULL);
    cr_assert_not(nvmx_vcpu_in_vmx_operation(h.vcpu));
    cr_assert_not(nvmx_vcpu_in_guest_mode(h.vcpu));
    cr_assert_eq(nvmx_vcpu_current_vmcs(h.vcpu), UINT64_MAX);
    harness_fini(&h);
}

/* Destroying a vCPU frees every cached vmcs12 and writes their data back. */
Test(lifecycle, vcpu_destroy_frees_and_writes_back_cached_vmcss)
{
    harness h;
    harness_init(&h, NULL);
    harness_vmxon_vmptrld(&h);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x4242);
    harness_pointer_insn(&h, NVMX_EXIT_VMPTRLD, VMCS_B);
    harness_vmwrite(&h, NVMX_FIELD_GUEST_RIP, 0x4343);
    nvmx_vcpu_destroy(h.vcpu);
    h.vcpu = NULL;
    uint64_t slot = VMCS12_HEADER_SIZE + 8u * VMCS12_ORD_GUEST_RIP;
    cr_assert_eq(fake_host_read64(&h.host, VMCS_B + slot), 0x4343);
    harness_fini(&h); /* checks no allocation is left */
}

/* Statuses have messages; values outside the enum do not crash. */
Test(lifecycle, every_status_has_a_message)
{
    for (int s = 0; s < NVMX_STATUS_COUNT; s++)
        cr_assert(nvmx_status_str((nvmx_status)s)[0] != '\0');
    cr_assert_str_eq(nvmx_status_str((nvmx_status)9999), "unknown status");
    cr_assert_eq(nvmx_version(), (uint32_t)NVMX_VERSION);
}
