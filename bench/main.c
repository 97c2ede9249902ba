/* SPDX-License-Identifier: MIT */
/* nestvmx-bench: options, running the benchmarks, the table and the JSON report. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_BATCHES 200u
#define FULL_OPS 1000u
#define QUICK_BATCHES 10u
#define QUICK_OPS 50u

typedef struct options {
    run_config run;
    const char *json_path;
    FILE *json; /* opened before the run, so that a bad path fails at once */
    const char *filter;
} options;

static void usage(FILE *out, const char *program)
{
    fprintf(out,
            "usage: %s [--quick] [--filter NAME] [--json FILE] [--batches N] [--ops N]\n"
            "Times the exit paths of libnestvmx on a synthetic host; per benchmark: median and\n"
            "p99 ns per operation over the batches, median TSC cycles, and host work per\n"
            "operation (allocations, hardware-VMCS reads/writes, register and memory ops).\n"
            "  --quick        %u batches of %u operations (a smoke run; numbers are rough)\n"
            "  --filter NAME  run only the benchmark NAME\n"
            "  --json FILE    also write the results to FILE as JSON\n"
            "  --batches N    number of timed batches (default %u)\n"
            "  --ops N        operations per batch (default %u)\n"
            "  --help         this text\n"
            "benchmarks:\n",
            program, QUICK_BATCHES, QUICK_OPS, FULL_BATCHES, FULL_OPS);
    for (size_t i = 0; i < benchmark_count; i++)
        fprintf(out, "  %-17s %s\n", benchmarks[i].name, benchmarks[i].measures);
}

static noreturn void usage_error(const char *program, const char *message, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s%s\n", program, message, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    fprintf(stderr, "Try '%s --help'.\n", program);
    exit(2);
}

static const benchmark *find_benchmark(const char *name)
{
    for (size_t i = 0; i < benchmark_count; i++) {
        if (strcmp(benchmarks[i].name, name) == 0)
            return &benchmarks[i];
    }
    return NULL;
}

/* A count between 1 and max, digits only. */
static unsigned parse_count(const char *program, const char *option, const char *text,
                            unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end || errno || value == 0 || value > max) {
        fprintf(stderr, "%s: %s needs a whole number from 1 to %lu, not '%s'\n", program, option,
                max, text);
        exit(2);
    }
    return (unsigned)value;
}

static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        usage_error(argv[0], "missing value after", argv[*i]);
    return argv[++*i];
}

static void parse_options(int argc, char **argv, options *o)
{
    unsigned batches = 0, ops = 0;
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, argv[0]);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
            o->run.quick = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json_path = option_value(argc, argv, &i);
        } else if (strcmp(a, "--filter") == 0) {
            o->filter = option_value(argc, argv, &i);
            if (!find_benchmark(o->filter))
                usage_error(argv[0], "no benchmark named", o->filter);
        } else if (strcmp(a, "--batches") == 0) {
            batches = parse_count(argv[0], a, option_value(argc, argv, &i), 100000);
        } else if (strcmp(a, "--ops") == 0) {
            ops = parse_count(argv[0], a, option_value(argc, argv, &i), 1000000);
        } else {
            usage_error(argv[0], "unknown option", a);
        }
    }
    if (o->json_path && !(o->json = fopen(o->json_path, "w"))) {
        fprintf(stderr, "%s: cannot write the JSON report to '%s': %s\n", argv[0], o->json_path,
                strerror(errno));
        exit(2);
    }
    o->run.batches = batches ? batches : o->run.quick ? QUICK_BATCHES : FULL_BATCHES;
    o->run.ops_per_batch = ops ? ops : o->run.quick ? QUICK_OPS : FULL_OPS;
}

static void print_header(const options *o)
{
    uint32_t v = nvmx_version();
    printf("libnestvmx %u.%u.%u, %u batches x %u ops, TSC %.3f GHz (cycles are TSC ticks)\n",
           v >> 16, (v >> 8) & 0xFF, v & 0xFF, o->run.batches, o->run.ops_per_batch,
           measure_tsc_ghz());
    printf("%-17s %-6s %9s %9s %10s %9s %11s %11s %7s %7s\n", "benchmark", "timing", "median ns",
           "p99 ns", "med cycles", "allocs/op", "vmcs01 r/w", "vmcs02 r/w", "reg ops", "mem ops");
}

/* Host work per operation is a whole number on these deterministic paths. */
static void print_row(const result *r)
{
    char vmcs[2][32];
    for (int i = 0; i < 2; i++)
        snprintf(vmcs[i], sizeof(vmcs[i]), "%.0f/%.0f", r->vmcs_reads_per_op[i],
                 r->vmcs_writes_per_op[i]);
    printf("%-17s %-6s %9.1f %9.1f %10.0f %9.3f %11s %11s %7.1f %7.1f\n", r->name,
           r->per_op_timing ? "per-op" : "batch", r->median_ns, r->p99_ns, r->median_cycles,
           r->allocs_per_op, vmcs[0], vmcs[1], r->reg_ops_per_op, r->mem_ops_per_op);
    fflush(stdout);
}

static void json_result(FILE *f, const result *r, bool last)
{
    fprintf(f, "    {\"name\": \"%s\", \"median_ns\": %.3f, \"p99_ns\": %.3f, ", r->name,
            r->median_ns, r->p99_ns);
    fprintf(f, "\"median_cycles\": %.1f, \"allocs_per_op\": %.6f, ", r->median_cycles,
            r->allocs_per_op);
    fprintf(f, "\"hw_vmcs_reads_per_op\": %.3f, \"hw_vmcs_writes_per_op\": %.3f, ",
            r->vmcs_reads_per_op[0] + r->vmcs_reads_per_op[1],
            r->vmcs_writes_per_op[0] + r->vmcs_writes_per_op[1]);
    fprintf(f, "\"reg_ops_per_op\": %.3f, \"mem_ops_per_op\": %.3f, \"timing\": \"%s\"}%s\n",
            r->reg_ops_per_op, r->mem_ops_per_op, r->per_op_timing ? "per_op" : "batch",
            last ? "" : ",");
}

static int write_json(FILE *f, const char *path, const result *results, size_t count)
{
    fprintf(f, "{\"benchmarks\": [\n");
    for (size_t i = 0; i < count; i++)
        json_result(f, &results[i], i + 1 == count);
    fprintf(f, "]}\n");
    bool failed = ferror(f) != 0;
    failed |= fclose(f) != 0;
    if (failed) {
        fprintf(stderr, "nestvmx-bench: cannot write '%s': %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    measure_init(o.run.quick);
    print_header(&o);
    result *results = calloc(benchmark_count, sizeof(result));
    if (!results) {
        fprintf(stderr, "nestvmx-bench: out of memory\n");
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < benchmark_count; i++) {
        if (o.filter && strcmp(o.filter, benchmarks[i].name) != 0)
            continue;
        measure(&benchmarks[i], &o.run, &results[n]);
        print_row(&results[n++]);
    }
    int status = o.json ? write_json(o.json, o.json_path, results, n) : 0;
    free(results);
    return status;
}
