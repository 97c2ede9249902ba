/* SPDX-License-Identifier: MIT */
/*
 * Timing. Operations that can repeat back to back are timed in batches: CLOCK_MONOTONIC and
 * the TSC read around the whole batch, divided by its length. Operations that need an untimed
 * step before each one (a VMCLEAR before a VMLAUNCH, an exit before a VMRESUME) are timed one
 * by one with the TSC, minus the cost of reading it, summed over the batch; their nanoseconds
 * come from the TSC rate measured against CLOCK_MONOTONIC. Either way a batch gives one
 * per-operation sample, and median and p99 are taken over the batches.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

static double ns_per_tick = 1.0;
static uint64_t tick_overhead;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The fences keep the timed instructions from moving across the TSC reads. Without a TSC the
 * clock stands in (cycles then equal nanoseconds). */
static inline uint64_t ticks_begin(void)
{
#if HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return now_ns();
#endif
}

static inline uint64_t ticks_end(void)
{
#if HAVE_TSC
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
#else
    return now_ns();
#endif
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median cost of an empty timed region, taken off every per-operation sample. */
static uint64_t measure_tick_overhead(void)
{
    enum { SAMPLES = 1001 };
    static uint64_t samples[SAMPLES];
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t t0 = ticks_begin();
        samples[i] = ticks_end() - t0;
    }
    qsort(samples, SAMPLES, sizeof(samples[0]), compare_u64);
    return samples[SAMPLES / 2];
}

/* A fixed number of clock reads rather than a fixed time, so that a run under callgrind
 * executes the same instructions every time (about 1 ms, or 50 ms for a full run). */
void measure_init(bool quick)
{
    unsigned reads = quick ? 40000u : 2000000u;
    uint64_t t0 = now_ns(), c0 = ticks_begin(), t1 = t0;
    for (unsigned i = 0; i < reads; i++)
        t1 = now_ns();
    uint64_t c1 = ticks_end();
    ns_per_tick = c1 > c0 && t1 > t0 ? (double)(t1 - t0) / (double)(c1 - c0) : 1.0;
    tick_overhead = measure_tick_overhead();
}

double measure_tsc_ghz(void)
{
    return 1.0 / ns_per_tick;
}

/* total += now - before, field by field. */
static void counts_add(bench_counts *total, const bench_counts *now, const bench_counts *before)
{
    total->allocs += now->allocs - before->allocs;
    total->frees += now->frees - before->frees;
    for (int i = 0; i < 2; i++) {
        total->vmcs_reads[i] += now->vmcs_reads[i] - before->vmcs_reads[i];
        total->vmcs_writes[i] += now->vmcs_writes[i] - before->vmcs_writes[i];
    }
    total->reg_ops += now->reg_ops - before->reg_ops;
    total->mem_ops += now->mem_ops - before->mem_ops;
}

typedef struct sample {
    double ns, cycles; /* per operation */
} sample;

static sample run_batched(world *w, const benchmark *b, unsigned ops, bench_counts *total)
{
    bench_counts before = w->host.counts;
    uint64_t t0 = now_ns(), c0 = ticks_begin();
    for (unsigned i = 0; i < ops; i++)
        b->op(w);
    uint64_t c1 = ticks_end(), t1 = now_ns();
    counts_add(total, &w->host.counts, &before);
    return (sample){(double)(t1 - t0) / ops, (double)(c1 - c0) / ops};
}

static sample run_one_by_one(world *w, const benchmark *b, unsigned ops, bench_counts *total)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < ops; i++) {
        b->prepare(w);
        bench_counts before = w->host.counts;
        uint64_t c0 = ticks_begin();
        b->op(w);
        uint64_t ticks = ticks_end() - c0;
        counts_add(total, &w->host.counts, &before);
        sum += ticks > tick_overhead ? ticks - tick_overhead : 0;
    }
    double cycles = (double)sum / ops;
    return (sample){cycles * ns_per_tick, cycles};
}

static sample run_batch(world *w, const benchmark *b, unsigned ops, bench_counts *total)
{
    return b->prepare ? run_one_by_one(w, b, ops, total) : run_batched(w, b, ops, total);
}

/* Nearest rank: the smallest sample with at least p of all samples at or below it. */
static double percentile(const double *sorted, unsigned n, double p)
{
    unsigned rank = (unsigned)(p * n + 0.999999);
    return sorted[rank > 0 ? rank - 1 : 0];
}

static double median(const double *sorted, unsigned n)
{
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static void summarize(const double *ns, const double *cycles, unsigned batches,
                      const bench_counts *total, double ops, result *out)
{
    out->median_ns = median(ns, batches);
    out->p99_ns = percentile(ns, batches, 0.99);
    out->median_cycles = median(cycles, batches);
    out->allocs_per_op = total->allocs / ops;
    for (int i = 0; i < 2; i++) {
        out->vmcs_reads_per_op[i] = total->vmcs_reads[i] / ops;
        out->vmcs_writes_per_op[i] = total->vmcs_writes[i] / ops;
    }
    out->reg_ops_per_op = total->reg_ops / ops;
    out->mem_ops_per_op = total->mem_ops / ops;
}

void measure(const benchmark *b, const run_config *config, result *out)
{
    world w;
    world_init(&w, b->name);
    b->setup(&w);
    double *ns = malloc(config->batches * sizeof(double));
    double *cycles = malloc(config->batches * sizeof(double));
    if (!ns || !cycles)
        bench_fail(&w, "allocating the sample arrays", "out of memory");
    bench_counts total = {0}, warmup = {0};
    unsigned ops = config->ops_per_batch;
    if (b->ops_divisor > 1 && !config->quick)
        ops = ops / b->ops_divisor ? ops / b->ops_divisor : 1;
    run_batch(&w, b, ops, &warmup); /* caches, branch predictors, cached vmcs12s */
    for (unsigned i = 0; i < config->batches; i++) {
        sample s = run_batch(&w, b, ops, &total);
        ns[i] = s.ns;
        cycles[i] = s.cycles;
    }
    world_fini(&w);
    qsort(ns, config->batches, sizeof(double), compare_double);
    qsort(cycles, config->batches, sizeof(double), compare_double);
    out->name = b->name;
    out->per_op_timing = b->prepare != NULL;
    summarize(ns, cycles, config->batches, &total, (double)config->batches * ops, out);
    free(ns);
    free(cycles);
}
