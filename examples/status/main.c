/* SPDX-License-Identifier: MIT */
/*
 * nestvmx-status: can this host run VMs that host VMs with libnestvmx, and what would L1 get?
 * The counterpart of the Hyper-V nested-virtualization status script, for Linux hosts.
 *
 *   1. The host: CPU vendor and VMX, IA32_FEATURE_CONTROL and the VMX capability MSRs (through
 *      /dev/cpu/0/msr when readable), /dev/kvm, kvm_intel's "nested" parameter, whether this
 *      machine is itself a guest. From that: native nested virtualization possible or not, and
 *      why; and whether the software L0 (nestvmx-emu) is available.
 *   2. For a policy (--disable NAME ...), every VMX feature the library knows: exposed to L1,
 *      or why not — computed by the library itself (nvmx_vm_create under variations of the
 *      configuration), never by a copy of its rules.
 *
 * Without root, on AMD, or in a guest it says what it could not check and why, and still
 * answers. --json prints the same as one JSON object.
 */
#define _POSIX_C_SOURCE 200809L /* pread */

#include <nestvmx/nestvmx.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* KVM_GET_API_VERSION (_IO(0xAE, 0)), without needing linux/kvm.h to build. */
#define KVM_GET_API_VERSION_IOCTL 0xAE00

#define MAX_DISABLED 64
#define MAX_NOTES 16

typedef struct host_facts {
    char vendor[64];
    char model[128];
    bool cpu_vmx;        /* "vmx" in /proc/cpuinfo flags */
    bool cpu_hypervisor; /* "hypervisor": we run in a VM */
    bool msr_readable;
    char msr_error[160];
    uint64_t feature_control;
    nvmx_vmx_caps caps; /* valid when msr_readable and cpu_vmx */
    bool kvm_present;
    bool kvm_accessible;
    int kvm_api;         /* KVM_GET_API_VERSION, -1 when it could not be asked */
    char kvm_nested[16]; /* "Y", "N", "1", "0" or "" when unknown */
    const char *notes[MAX_NOTES];
    int note_count;
} host_facts;

typedef struct options {
    bool json;
    const char *disabled[MAX_DISABLED];
    size_t disabled_count;
} options;

/* ---- The host --------------------------------------------------------------------------- */

static void note(host_facts *h, const char *text)
{
    if (h->note_count < MAX_NOTES)
        h->notes[h->note_count++] = text;
}

static void copy_value(char *dst, size_t size, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return;
    colon++;
    while (*colon == ' ' || *colon == '\t')
        colon++;
    snprintf(dst, size, "%s", colon);
    dst[strcspn(dst, "\n")] = 0;
}

static bool has_flag(const char *flags_line, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = strstr(flags_line, flag); p; p = strstr(p + 1, flag)) {
        bool starts = p == flags_line || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ':';
        bool ends = p[n] == ' ' || p[n] == '\n' || p[n] == 0;
        if (starts && ends)
            return true;
    }
    return false;
}

static void probe_cpuinfo(host_facts *h)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        note(h, "/proc/cpuinfo is not readable: the CPU could not be identified");
        return;
    }
    char line[4096];
    bool flags_seen = false;
    while (fgets(line, sizeof(line), f)) {
        if (!h->vendor[0] && strncmp(line, "vendor_id", 9) == 0)
            copy_value(h->vendor, sizeof(h->vendor), line);
        else if (!h->model[0] && strncmp(line, "model name", 10) == 0)
            copy_value(h->model, sizeof(h->model), line);
        else if (!flags_seen && strncmp(line, "flags", 5) == 0) {
            flags_seen = true;
            h->cpu_vmx = has_flag(line, "vmx");
            h->cpu_hypervisor = has_flag(line, "hypervisor");
        }
    }
    fclose(f);
}

static bool read_msr(int fd, uint32_t index, uint64_t *value)
{
    return pread(fd, value, sizeof(*value), index) == (ssize_t)sizeof(*value);
}

/* IA32_VMX_BASIC .. IA32_VMX_EXIT_CTLS2 are contiguous, in nvmx_vmx_caps order. */
static void probe_msrs(host_facts *h)
{
    int fd = open("/dev/cpu/0/msr", O_RDONLY);
    if (fd < 0) {
        snprintf(h->msr_error, sizeof(h->msr_error), "/dev/cpu/0/msr: %s%s", strerror(errno),
                 errno == ENOENT                     ? " (load the msr module: modprobe msr)"
                 : errno == EACCES || errno == EPERM ? " (run as root)"
                                                     : "");
        return;
    }
    if (!read_msr(fd, NVMX_MSR_IA32_FEATURE_CONTROL, &h->feature_control)) {
        snprintf(h->msr_error, sizeof(h->msr_error),
                 "IA32_FEATURE_CONTROL is not readable (not an Intel CPU with VMX?)");
        close(fd);
        return;
    }
    uint64_t *slot = &h->caps.basic;
    size_t count = sizeof(h->caps) / sizeof(uint64_t);
    for (size_t i = 0; i < count; i++) {
        if (!read_msr(fd, NVMX_MSR_IA32_VMX_BASIC + (uint32_t)i, &slot[i]))
            slot[i] = 0; /* an MSR the CPU does not have (A.3.3, A.10, A.11) */
    }
    close(fd);
    h->msr_readable = h->caps.basic != 0;
    if (!h->msr_readable)
        snprintf(h->msr_error, sizeof(h->msr_error), "IA32_VMX_BASIC reads as 0");
}

static void probe_kvm(host_facts *h)
{
    h->kvm_present = access("/dev/kvm", F_OK) == 0;
    h->kvm_accessible = access("/dev/kvm", R_OK | W_OK) == 0;
    h->kvm_api = -1;
    int fd = h->kvm_accessible ? open("/dev/kvm", O_RDWR) : -1;
    if (fd >= 0) {
        h->kvm_api = ioctl(fd, KVM_GET_API_VERSION_IOCTL, 0);
        close(fd);
    }
    FILE *f = fopen("/sys/module/kvm_intel/parameters/nested", "r");
    if (f) {
        if (fgets(h->kvm_nested, sizeof(h->kvm_nested), f))
            h->kvm_nested[strcspn(h->kvm_nested, "\n")] = 0;
        fclose(f);
    }
}

static void probe_host(host_facts *h)
{
    memset(h, 0, sizeof(*h));
    probe_cpuinfo(h);
    if (h->cpu_vmx)
        probe_msrs(h);
    probe_kvm(h);
}

static bool is_intel(const host_facts *h)
{
    return strcmp(h->vendor, "GenuineIntel") == 0;
}

/* IA32_FEATURE_CONTROL: lock (bit 0) and VMX outside SMX (bit 2), SDM Vol. 3C 24.7. */
static bool vmx_enabled_by_firmware(const host_facts *h)
{
    return (h->feature_control & 5) == 5;
}

/* Why native nested virtualization (libnestvmx under a hardware L0) is not possible here, or
 * NULL when nothing stands in the way that this tool can see. */
static const char *native_blocker(const host_facts *h)
{
    if (!is_intel(h))
        return "the CPU is not an Intel CPU: libnestvmx implements Intel VMX, which needs VT-x";
    if (!h->cpu_vmx)
        return h->cpu_hypervisor ? "the CPU does not report VMX: this machine is a guest whose "
                                   "hypervisor does not expose VT-x to it"
                                 : "the CPU does not report VMX (disabled in firmware?)";
    if (h->msr_readable && !vmx_enabled_by_firmware(h))
        return "IA32_FEATURE_CONTROL does not enable VMX outside SMX, or is not locked: enable "
               "VT-x in the firmware setup";
    if (!h->kvm_present)
        return "/dev/kvm does not exist: load kvm_intel for the example KVM host";
    return NULL;
}

/* ---- What L1 would get ------------------------------------------------------------------ */

/* Ops that do nothing: vm creation only looks at which ops exist. Every optional op is set,
 * as a complete embedder would: what the library exposes then depends only on host, policy
 * and what it implements. */
static void *op_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return aligned_alloc(16, (size + 15) & ~(size_t)15);
}
static void op_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)size;
    free(ptr);
}
static nvmx_status op_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    (void)ctx;
    (void)gpa;
    memset(buf, 0xFF, len);
    return NVMX_ERR_BAD_L1_ADDRESS;
}
static nvmx_status op_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    (void)ctx, (void)gpa, (void)buf, (void)len;
    return NVMX_ERR_BAD_L1_ADDRESS;
}
static nvmx_status op_cmpxchg(void *ctx, uint64_t gpa, uint64_t expected, uint64_t desired)
{
    (void)ctx, (void)gpa, (void)expected, (void)desired;
    return NVMX_ERR_BAD_L1_ADDRESS;
}
static nvmx_status op_translate(void *ctx, uint64_t linear, nvmx_access access, uint64_t *gpa,
                                nvmx_exception *fault)
{
    (void)ctx, (void)access, (void)fault;
    *gpa = linear;
    return NVMX_OK;
}
static uint64_t op_reg_get(void *ctx, nvmx_reg reg)
{
    (void)ctx, (void)reg;
    return 0;
}
static void op_reg_set(void *ctx, nvmx_reg reg, uint64_t value)
{
    (void)ctx, (void)reg, (void)value;
}
static void op_segment_get(void *ctx, nvmx_seg seg, nvmx_segment *out)
{
    (void)ctx, (void)seg;
    memset(out, 0, sizeof(*out));
}
static void op_inject(void *ctx, const nvmx_exception *e)
{
    (void)ctx, (void)e;
}
static nvmx_status op_ept01(void *ctx, uint64_t gpa, nvmx_ept01_mapping *out)
{
    (void)ctx, (void)gpa, (void)out;
    return NVMX_ERR_BAD_L1_ADDRESS;
}
static void *op_page_alloc(void *ctx, uint64_t *hpa)
{
    (void)ctx, (void)hpa;
    return NULL;
}
static void op_page_free(void *ctx, void *page, uint64_t hpa)
{
    (void)ctx, (void)page, (void)hpa;
}
static void op_tlb_flush(void *ctx, const nvmx_tlb_flush *request)
{
    (void)ctx, (void)request;
}
static uint16_t op_vpid_alloc(void *ctx)
{
    (void)ctx;
    return 0;
}
static void op_vpid_free(void *ctx, uint16_t vpid)
{
    (void)ctx, (void)vpid;
}
static nvmx_status op_vmcs_read(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t *value)
{
    (void)ctx, (void)which, (void)field;
    *value = 0;
    return NVMX_OK;
}
static nvmx_status op_vmcs_write(void *ctx, nvmx_hw_vmcs which, uint32_t field, uint64_t value)
{
    (void)ctx, (void)which, (void)field, (void)value;
    return NVMX_OK;
}
static nvmx_status op_msr_read(void *ctx, uint32_t index, uint64_t *value)
{
    (void)ctx, (void)index;
    *value = 0;
    return NVMX_ERR_HOST;
}
static nvmx_status op_msr_write(void *ctx, uint32_t index, uint64_t value)
{
    (void)ctx, (void)index, (void)value;
    return NVMX_ERR_HOST;
}
static uint64_t op_tsc(void *ctx)
{
    (void)ctx;
    return 0;
}

static const nvmx_host_ops complete_ops = {
    .mem_alloc = op_alloc,
    .mem_free = op_free,
    .l1_read = op_read,
    .l1_write = op_write,
    .l1_cmpxchg64 = op_cmpxchg,
    .translate = op_translate,
    .reg_get = op_reg_get,
    .reg_set = op_reg_set,
    .segment_get = op_segment_get,
    .inject_exception = op_inject,
    .ept01_lookup = op_ept01,
    .page_alloc = op_page_alloc,
    .page_free = op_page_free,
    .tlb_flush = op_tlb_flush,
    .vpid_alloc = op_vpid_alloc,
    .vpid_free = op_vpid_free,
    .hw_vmcs_read = op_vmcs_read,
    .hw_vmcs_write = op_vmcs_write,
    .msr_read = op_msr_read,
    .msr_write = op_msr_write,
    .tsc_read = op_tsc,
};

typedef struct exposure {
    bool exposed[NVMX_FEATURE_COUNT];
} exposure;

static nvmx_status exposure_of(const nvmx_vmx_caps *host_caps, const char *const *disabled,
                               size_t disabled_count, exposure *out)
{
    nvmx_vm_config config;
    nvmx_vm_config_init(&config);
    config.host_caps = host_caps;
    config.disabled_features = disabled;
    config.disabled_feature_count = disabled_count;
    nvmx_vm *vm;
    nvmx_status status = nvmx_vm_create(&config, &complete_ops, NULL, &vm);
    if (status != NVMX_OK)
        return status;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++)
        out->exposed[f] = nvmx_vm_has_feature(vm, (nvmx_feature)f);
    nvmx_vm_destroy(vm);
    return NVMX_OK;
}

/* The feature's bit in a capability set (allowed-1 half for control registers). */
static bool host_has(const nvmx_vmx_caps *caps, nvmx_feature f)
{
    static const struct {
        nvmx_cap_reg reg;
        unsigned bit;
    } where[NVMX_FEATURE_COUNT] = {
#define WHERE(id, name, reg, bit) [NVMX_FEATURE_##id] = {reg, bit},
        NVMX_FEATURE_LIST(WHERE)
#undef WHERE
    };
    const uint64_t regs[NVMX_CAP_REG_COUNT] = {
        [NVMX_CAP_BASIC] = caps->basic,
        [NVMX_CAP_PINBASED] = caps->true_pinbased,
        [NVMX_CAP_PROCBASED] = caps->true_procbased,
        [NVMX_CAP_PROCBASED2] = caps->procbased2,
        [NVMX_CAP_PROCBASED3] = caps->procbased3,
        [NVMX_CAP_EXIT] = caps->true_exit,
        [NVMX_CAP_EXIT2] = caps->exit2,
        [NVMX_CAP_ENTRY] = caps->true_entry,
        [NVMX_CAP_MISC] = caps->misc,
        [NVMX_CAP_EPT_VPID] = caps->ept_vpid_cap,
        [NVMX_CAP_VMFUNC] = caps->vmfunc,
    };
    bool split = where[f].reg == NVMX_CAP_PINBASED || where[f].reg == NVMX_CAP_PROCBASED ||
                 where[f].reg == NVMX_CAP_PROCBASED2 || where[f].reg == NVMX_CAP_EXIT ||
                 where[f].reg == NVMX_CAP_ENTRY;
    return (regs[where[f].reg] >> (where[f].bit + (split ? 32 : 0))) & 1;
}

typedef struct feature_report {
    bool exposed;
    const char *reason; /* why not, or NULL */
} feature_report;

/* Each reason is the library's own answer to a configuration that differs in one respect. */
static nvmx_status explain(const nvmx_vmx_caps *host_caps, const options *o,
                           feature_report out[NVMX_FEATURE_COUNT])
{
    exposure actual, no_policy, any_host;
    nvmx_vmx_caps everything;
    nvmx_caps_software_host(&everything, 46);
    nvmx_status status = exposure_of(host_caps, o->disabled, o->disabled_count, &actual);
    if (status == NVMX_OK)
        status = exposure_of(host_caps, NULL, 0, &no_policy);
    if (status == NVMX_OK)
        status = exposure_of(&everything, NULL, 0, &any_host);
    if (status != NVMX_OK)
        return status;
    const nvmx_vmx_caps *host = host_caps ? host_caps : &everything;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        out[f].exposed = actual.exposed[f];
        if (actual.exposed[f])
            out[f].reason = NULL;
        else if (no_policy.exposed[f])
            out[f].reason = "disabled by the policy (--disable), or by a feature it needs";
        else if (!any_host.exposed[f])
            out[f].reason = "not implemented by this libnestvmx version";
        else if (!host_has(host, (nvmx_feature)f))
            out[f].reason = "the host CPU does not support it";
        else
            out[f].reason = "needs another feature that the host CPU does not support";
    }
    return NVMX_OK;
}

/* ---- Output ----------------------------------------------------------------------------- */

static void print_text(const host_facts *h, const char *blocker, bool native_caps,
                       const feature_report *r)
{
    printf("Host\n");
    printf("  CPU:                 %s%s%s\n", h->vendor[0] ? h->vendor : "unknown",
           h->model[0] ? ", " : "", h->model);
    printf("  VMX (VT-x):          %s\n", h->cpu_vmx ? "reported by the CPU" : "not reported");
    printf("  running in a VM:     %s\n", h->cpu_hypervisor ? "yes" : "no");
    if (h->cpu_vmx)
        printf("  VMX capability MSRs: %s\n", h->msr_readable ? "read" : h->msr_error);
    if (h->msr_readable)
        printf("  IA32_FEATURE_CONTROL: %#llx (VMX %s)\n", (unsigned long long)h->feature_control,
               vmx_enabled_by_firmware(h) ? "enabled and locked" : "not enabled or not locked");
    printf("  /dev/kvm:            %s", !h->kvm_present     ? "absent"
                                        : h->kvm_accessible ? "present, accessible"
                                                            : "present, not accessible");
    if (h->kvm_api >= 0)
        printf(" (KVM API %d%s)", h->kvm_api,
               h->cpu_vmx ? "" : "; without VMX in the CPU it cannot run VMX guests natively");
    printf("\n");
    printf("  kvm_intel nested:    %s\n",
           h->kvm_nested[0] ? h->kvm_nested : "unknown (not loaded)");
    for (int i = 0; i < h->note_count; i++)
        printf("  note: %s\n", h->notes[i]);
    printf("\nNested virtualization with libnestvmx\n");
    printf("  native (hardware L0): %s\n", blocker ? "not possible" : "possible");
    if (blocker)
        printf("    why: %s\n", blocker);
#ifdef NESTVMX_EMU_BUILT
    printf("  emulated (nestvmx-emu on Unicorn): available\n");
#else
    printf("  emulated (nestvmx-emu on Unicorn): not built here (./run.sh demo installs Unicorn "
           "and builds it)\n");
#endif
    printf("\nVMX features for L1 (%s):\n",
           native_caps ? "on this host's VMX" : "on the software host of nestvmx-emu");
    unsigned exposed = 0;
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        exposed += r[f].exposed;
        printf("  %-28s %s%s\n", nvmx_feature_name((nvmx_feature)f),
               r[f].exposed ? "exposed" : "no: ", r[f].exposed ? "" : r[f].reason);
    }
    printf("  %u of %u features exposed\n", exposed, (unsigned)NVMX_FEATURE_COUNT);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_json(const host_facts *h, const char *blocker, bool native_caps,
                       const feature_report *r)
{
    printf("{\"host\":{\"vendor\":");
    json_string(h->vendor);
    printf(",\"model\":");
    json_string(h->model);
    printf(",\"vmx\":%s,\"in_vm\":%s,\"msrs_read\":%s", h->cpu_vmx ? "true" : "false",
           h->cpu_hypervisor ? "true" : "false", h->msr_readable ? "true" : "false");
    if (!h->msr_readable) {
        printf(",\"msrs_error\":");
        json_string(h->cpu_vmx ? h->msr_error : "the CPU does not report VMX");
    } else {
        printf(",\"feature_control\":%llu", (unsigned long long)h->feature_control);
    }
    printf(",\"kvm\":%s,\"kvm_accessible\":%s,\"kvm_api\":%d,\"kvm_intel_nested\":",
           h->kvm_present ? "true" : "false", h->kvm_accessible ? "true" : "false", h->kvm_api);
    json_string(h->kvm_nested);
    printf("},\"native\":{\"possible\":%s,\"why_not\":", blocker ? "false" : "true");
    if (blocker)
        json_string(blocker);
    else
        printf("null");
#ifdef NESTVMX_EMU_BUILT
    printf("},\"emulated\":{\"available\":true},");
#else
    printf("},\"emulated\":{\"available\":false},");
#endif
    printf("\"features_on\":");
    json_string(native_caps ? "host" : "software_host");
    printf(",\"features\":[");
    for (unsigned f = 0; f < NVMX_FEATURE_COUNT; f++) {
        printf("%s{\"name\":", f ? "," : "");
        json_string(nvmx_feature_name((nvmx_feature)f));
        printf(",\"exposed\":%s,\"why_not\":", r[f].exposed ? "true" : "false");
        if (r[f].reason)
            json_string(r[f].reason);
        else
            printf("null");
        printf("}");
    }
    printf("]}\n");
}

/* ---- Main ------------------------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: nestvmx-status [--json] [--disable FEATURE]...\n"
            "  Reports whether this host can run nested virtualization with libnestvmx\n"
            "  (natively or through nestvmx-emu) and which VMX features L1 would get.\n"
            "  --disable FEATURE  hide a feature from L1 (QEMU name, e.g. vmx-ept); repeatable\n"
            "  --json             one JSON object instead of text\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (strcmp(argv[i], "--disable") == 0) {
            nvmx_feature f;
            if (i + 1 >= argc) {
                fprintf(stderr, "nestvmx-status: --disable needs a feature name\n");
                return 2;
            }
            if (nvmx_feature_from_name(argv[++i], &f) != NVMX_OK) {
                fprintf(stderr,
                        "nestvmx-status: unknown VMX feature '%s' (names as in QEMU: "
                        "vmx-ept, vmx-hlt-exit, ...; run without options for the list)\n",
                        argv[i]);
                return 2;
            }
            if (o->disabled_count == MAX_DISABLED) {
                fprintf(stderr, "nestvmx-status: at most %d --disable options\n", MAX_DISABLED);
                return 2;
            }
            o->disabled[o->disabled_count++] = argv[i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "nestvmx-status: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    options o;
    int early = parse_options(argc, argv, &o);
    if (early >= 0)
        return early;
    host_facts h;
    probe_host(&h);
    bool native_caps = h.msr_readable && is_intel(&h);
    static feature_report report[NVMX_FEATURE_COUNT];
    nvmx_status status = explain(native_caps ? &h.caps : NULL, &o, report);
    if (status != NVMX_OK && native_caps) {
        note(&h, "the host's VMX MSRs are inconsistent for libnestvmx: showing the software host");
        native_caps = false;
        status = explain(NULL, &o, report);
    }
    if (status != NVMX_OK) {
        fprintf(stderr, "nestvmx-status: the library refused the configuration: %s\n",
                nvmx_status_str(status));
        return 1;
    }
    const char *blocker = native_blocker(&h);
    if (o.json)
        print_json(&h, blocker, native_caps, report);
    else
        print_text(&h, blocker, native_caps, report);
    return 0;
}
