#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

Each seed is a short script in the format its target's comment describes (one action byte,
then the action's operands; fuzz_env.c reads integers little-endian and zeros past the end).
The seeds start the fuzzer from the interesting states: L1 in VMX operation with a current
VMCS, L2 running after a successful VMLAUNCH, an exit back to L1, a 4-level EPT12 that
translates. Run it after changing a script format:  tests/fuzz/make-seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(*v):
    return bytes(x & 0xFF for x in v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def small(v):  # fuzz_value: kind 0 (of 7), one byte
    return u8(0, v)


def value64(v):  # fuzz_value: kind 5, eight bytes
    return u8(5) + u64(v)


# ---- fuzz_vmx_instructions: byte 0 set-up, byte 1 bit 0 nested; actions % 12 ------------
# fuzz_pointer: a byte < 192 picks VMXON_REGION, VMCS_A, VMCS_B, VMCS_C, SHADOW_VMCS, ...
VMXON, VMCLEAR, VMPTRLD, VMPTRST = 0, 1, 2, 3


def pointer_insn(insn, known):
    return u8(1, insn, known)


def vmwrite(ordinal, v):  # register form
    return u8(3, 1, 0) + u16(ordinal) + small(v)


def vmread(ordinal):
    return u8(2, 0, 0) + u16(ordinal) + small(0)


def no_operand(i):  # 0 VMLAUNCH, 1 VMRESUME, 2 VMXOFF, 3 VMCALL
    return u8(5, i)


def l2_exit_common(pick):  # action 11 in guest mode: a common reason, no extra info
    return u8(11, 0, pick) + small(0) + u8(3)


vmx = {
    "vmxon_vmptrld_vmxoff": u8(0, 0) + pointer_insn(VMXON, 0) + pointer_insn(VMPTRLD, 1)
    + vmread(0) + pointer_insn(VMPTRST, 1) + pointer_insn(VMCLEAR, 1) + no_operand(2),
    "nested_launch_exit": u8(0, 1) + no_operand(0) + l2_exit_common(3) + no_operand(1)
    + l2_exit_common(4) + no_operand(2),
    "undecoded_vmlaunch": u8(1, 1) + u8(6, 0x04, 1) + bytes(12),
    "undecoded_vmptrld_rax": u8(0, 1) + u8(6, 0x00, 5) + u8(0x30) + bytes(10),
    "invept_invvpid": u8(2, 1) + u8(4, 0x00) + bytes(16) + u8(4, 0x01) + u8(1) + bytes(15)
    + u8(4, 0x03) + bytes(16),
    "vmx_msrs": u8(0, 0) + u8(9, 0x00) + u32(0) + u32(0) + u8(9, 0x80) + u32(0) + u32(0)
    + u8(9, 0xC0) + u32(5) + u32(0),
    "cached_vmcs_eviction": u8(0, 1) + pointer_insn(VMPTRLD, 2) + pointer_insn(VMPTRLD, 3)
    + pointer_insn(VMPTRLD, 4) + pointer_insn(VMPTRLD, 1) + vmwrite(3, 7),
}

# ---- fuzz_vmcs12_entry: byte 0 set-up; actions % 10 --------------------------------------
ENTER_LAUNCH, ENTER_RESUME = u8(5, 0), u8(5, 1)


def entry_exit(pick):  # action 5 in guest mode: an L2 exit of a common reason
    return u8(5, 0, pick) + small(0) + u8(3)


def msr_list(which, entries):  # which: 0 entry load, 1 exit store, 2 exit load
    out = u8(4, which, 0, len(entries))
    for pick, v in entries:
        out += u8(0, pick) + small(v)
    return out + u8(0, 0)


entry = {
    "launch_cpuid_resume": u8(0) + ENTER_LAUNCH + entry_exit(3) + ENTER_RESUME + entry_exit(4),
    "launch_l0_preset1": u8(1) + ENTER_LAUNCH + entry_exit(7) + ENTER_RESUME,
    "launch_l0_preset2": u8(2) + ENTER_LAUNCH + entry_exit(2),
    "msr_lists": u8(0) + msr_list(0, [(8, 0), (5, 1)]) + msr_list(1, [(8, 0)])
    + msr_list(2, [(10, 0)]) + ENTER_LAUNCH + entry_exit(3) + ENTER_RESUME,
    "vmclear_vmptrld_launch": u8(0) + u8(7, 0) + ENTER_LAUNCH + u8(7, 0) + ENTER_RESUME,
}

# ---- fuzz_l2_exits: byte 0 set-up, byte 1 control writes, VMLAUNCH; actions % 8 ----------


def l2x(pick, qual=0, length=3):
    return u8(0, 0, pick) + small(qual) + u8(length)


def l1_turn(resume=True):
    return u8(0, 0 if resume else 4)


def set_proc_bits(bits):  # write_control: field 1 (primary controls), OR (how odd < 128)
    return u8(1, 1) + u32(bits)


HLT_EXITING, RDTSC_EXITING, IO_BITMAPS, MSR_BITMAPS = 1 << 7, 1 << 12, 1 << 25, 1 << 28

l2 = {
    "cpuid_hlt_triple_fault": u8(0, 0) + l2x(3) + l1_turn() + l2x(4) + l1_turn() + l2x(2),
    "hlt_exiting": u8(1, 1) + set_proc_bits(HLT_EXITING) + l2x(4) + l1_turn() + l2x(17),
    "io_msr_bitmaps": u8(2, 1) + set_proc_bits(IO_BITMAPS | MSR_BITMAPS) + u8(3, 0, 6)
    + small(1) + small(0) + l2x(7) + l2x(8) + l2x(6, 0x60),
    "vmread_vmwrite_in_l2": u8(0, 0) + u8(3, 200) + u16(3) + small(0) + small(0) + l2x(10)
    + l1_turn() + l2x(11),
    # Secondary controls, VMCS shadowing with the link pointer at SHADOW_VMCS and the
    # VMREAD/VMWRITE bitmaps at their pages (all zero: L2 completes them), then L2's VMREAD
    # and VMWRITE of field 3.
    "vmcs_shadowing": u8(0, 5) + set_proc_bits(1 << 31) + u8(2, 1) + u32(1 << 14)
    + u8(19, 0, 4) + u8(17, 0, 7) + u8(18, 0, 8) + u8(3, 200) + u16(3) + small(5) + small(0)
    + l2x(10) + l2x(11) + l2x(10),
    "platform_events": u8(0, 0) + u8(5, 0, 0x20) + u8(5, 1) + u8(5, 6, 0) + u8(5, 3) + l2x(13),
}

# ---- fuzz_ept02: byte 0 page cap; actions % 12 -------------------------------------------
WB = 6 << 3


def ept_table_entry(table, index, child_table):  # ept12_entry kind 0: a table page, RWX
    return u8(0, table) + u16(index) + u8(0, child_table) + u16(7)


def ept_leaf(table, index, page, flags):  # kind 1: an L1 data page
    return u8(0, table) + u16(index) + u8(1) + u16(page) + u16(flags)


def ept_fault(eptp_how, indexes, kind=0, how=0):  # eptp_how: 1 WB 4-level, | 4 A/D, + 8 * root
    return u8(3, eptp_how, 0) + u16(0x123) + u8(*indexes) + u8(how, kind)


tables = (ept_table_entry(0, 0, 1) + ept_table_entry(1, 0, 2) + ept_table_entry(2, 0, 3)
          + ept_leaf(3, 0, 0x100, 7 | WB) + ept_leaf(3, 1, 0x101, 1 | WB))
ept = {
    "walk_4k": u8(0) + tables + ept_fault(1, [0, 0, 0, 0]) + ept_fault(1, [1, 0, 0, 0], kind=1),
    "walk_2m": u8(4) + ept_table_entry(0, 0, 1) + ept_table_entry(1, 0, 2)
    + u8(0, 2) + u16(1) + u8(2, 1) + u16(0x80 | 7 | WB) + ept_fault(1, [0, 1, 0, 0]),
    "ept01_change": u8(0) + tables + ept_fault(1, [0, 0, 0, 0]) + u8(6, 0x24, 0) + u16(0x100)
    + u8(1) + ept_fault(1, [0, 0, 0, 0]) + u8(8),
    "accessed_dirty": u8(2) + tables + ept_fault(5, [0, 0, 0, 0], kind=1) + u8(7, 5) + u8(10, 1),
    "evictions": u8(0) + tables + ept_fault(1, [0, 0, 0, 0]) + ept_fault(9, [0, 0, 0, 0])
    + ept_fault(17, [0, 0, 0, 0]) + ept_fault(25, [0, 0, 0, 0]) + u8(9, 1, 0x10) + small(0x20),
}

# ---- fuzz_state_restore: byte 0 set-up, byte 1 starting state (0 root, 1 two vmcs12s, 2 L2,
# 3 L2 and two vmcs12s), byte 2 mutations (% 9; bit 7: keep the CRC as mutated), each
# mutation kind, u16 offset, value; then the truncation byte; then steps % 4 ----------------
state = {
    "root_intact": u8(0, 0, 0, 0),
    "two_vmcs12_intact": u8(0, 1, 0, 0),
    "l2_intact_then_exit": u8(0, 2, 0, 0, 0) + u8(10),
    "l2_vcpu_flags": u8(0, 3, 1, 3) + u16(32 + 104 + 8) + small(2) + u8(0),
    "l2_field_value": u8(0, 2, 1, 3) + u16(600) + value64(1 << 40) + u8(0),
    "root_bad_crc": u8(0, 0, 0x81, 0) + u16(40) + small(1) + u8(0),
    "l2_truncated": u8(0, 2, 0, 9),
}

for target, seeds in {"vmx_instructions": vmx, "vmcs12_entry": entry, "l2_exits": l2,
                      "ept02": ept, "state_restore": state}.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
