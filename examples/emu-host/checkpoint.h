/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints of nestvmx-emu (--save-at N FILE, --restore FILE): the whole machine in one
 * versioned, CRC-32C checked file (layout in README.md "Checkpoints"), so that a new process
 * continues the run exactly where the old one stopped.
 */
#ifndef NESTVMX_EMU_CHECKPOINT_H
#define NESTVMX_EMU_CHECKPOINT_H

#include "pc.h"

/* A checkpoint file read into memory and checked (format, checksum, every section's size). */
typedef struct emu_checkpoint {
    uint8_t *data;
    size_t size;
    uint64_t ram_size;
    bool pc; /* a multiboot PC (the PC section holds its devices) */
    const uint8_t *section[16];
    uint64_t length[16];
} emu_checkpoint;

/* The run loop's event: called once L0 has handled a stop of the guest and is about to resume
 * it. Counts it; at --save-at's count writes the file. -1 to go on, else the exit status. */
int emu_checkpoint_event(emu *e);
/* An event inside a hook (a library call after which the guest goes on in the same emulation
 * run): counts it; at --save-at's count stops emulation with EMU_STOP_CHECKPOINT. */
void emu_checkpoint_note(emu *e);
/* EMU_STOP_CHECKPOINT: write the file; the exit status (0 when written). */
int emu_checkpoint_write(emu *e);
/* After the run: say when --save-at's event never came. */
void emu_checkpoint_finish(const emu *e);

/* Read and check FILE; prints what is wrong and returns false (nothing allocated). */
bool emu_checkpoint_read(const char *path, emu_checkpoint *out);
/* The capabilities the library's nested state was saved under (to pin them). */
bool emu_checkpoint_caps(const emu_checkpoint *c, nvmx_vmx_caps *caps);
/* The devices of a multiboot PC, before the machine is created (e->pc allocated). */
bool emu_checkpoint_restore_pc(emu *e, const emu_checkpoint *c);
/* Everything else, into the machine create_machine built: RAM, vmcs01/vmcs02, the emu's own
 * state, Unicorn's CPU, then the library's nested state. Returns an exit status or -1. */
int emu_checkpoint_restore(emu *e, const emu_checkpoint *c);
void emu_checkpoint_free(emu_checkpoint *c);

#endif
