/* SPDX-License-Identifier: MIT */
/*
 * L1's VMX-preemption timer while L2 runs (SDM Vol. 3C 26.7.1), and HLT of L2. The library
 * keeps the timer's deadline in L1's TSC (nvmx_l2_timer_deadline); nestvmx-emu is the
 * hardware that counts: before every instruction of L2 (the code hook, trap.c) it compares
 * L1's TSC with the deadline and, once it has passed, L2 exits with reason 52 before that
 * instruction (26.7.1: the exit comes at an instruction boundary; 28.2.1: no qualification).
 * A halted L2 (HLT without HLT exiting, or a VM entry in the HLT activity state) waits for
 * the deadline, the only wake-up event nestvmx-emu has for L2 (no interrupt sources), and
 * exits with the HLT activity state saved (28.3.4) and RIP after the HLT.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include "emu.h"

#include <time.h>

/* Longest a halted L2 may wait for its timer, in seconds of host time: a longer deadline
 * ends the run (EMU_STATUS_L2_HALTED) instead of sleeping for hours. */
#define EMU_MAX_HALT_SECONDS 10.0

void emu_timer_refresh(emu *e)
{
    e->timer_armed = e->in_l2 && nvmx_l2_timer_deadline(e->vcpu, &e->timer_deadline);
}

bool emu_timer_expired(emu *e)
{
    return e->in_l2 && e->timer_armed && emu_l1_tsc(e) >= e->timer_deadline;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

bool emu_l2_halt(emu *e)
{
    if (!e->timer_armed)
        return false;
    double start = seconds();
    while (!emu_timer_expired(e)) {
        if (seconds() - start > EMU_MAX_HALT_SECONDS)
            return false;
        struct timespec nap = {0, 20000}; /* 20 us */
        nanosleep(&nap, NULL);
    }
    emu_l2_exit_at(e, NVMX_EXIT_PREEMPTION_TIMER, 0, 0);
    return true;
}
