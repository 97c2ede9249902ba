#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-kvm-unit-tests.sh KUT_BUILD_DIR [TEST...]
#
# Runs kvm-unit-tests' x86/vmx.flat (built outside this repository, see
# docs/KVM-UNIT-TESTS.md) on nestvmx-emu, one boot per test so that an abort ends only that
# test. vmx.flat picks its tests by its command line (x86/vmx.c test_wanted: a test's name with
# spaces as underscores, a glob). Prints one line per test and
#   N passed, M failed, S skipped
# Exit status: 0 when nothing failed, 1 otherwise, 2 on bad usage.
#
# Environment: NESTVMX_EMU (default: build/examples/nestvmx-emu of this repository),
# KUT_TIMEOUT seconds per test (default 120), KUT_BUDGET instructions per test (default 4G),
# KUT_MEM (default 256M), KUT_LOG_DIR (default: a temporary folder; each test's output is kept
# there as NAME.log).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ] || [ ! -f "$1/x86/vmx.flat" ]; then
    echo "usage: $0 KUT_BUILD_DIR [TEST...]  (KUT_BUILD_DIR/x86/vmx.flat must exist)" >&2
    exit 2
fi
flat="$1/x86/vmx.flat"
shift
emu=${NESTVMX_EMU:-$repo/build/examples/nestvmx-emu}
if [ ! -x "$emu" ]; then
    echo "$0: nestvmx-emu not found at $emu (build it, or set NESTVMX_EMU)" >&2
    exit 2
fi
timeout_s=${KUT_TIMEOUT:-120}
budget=${KUT_BUDGET:-4G}
mem=${KUT_MEM:-256M}
logs=${KUT_LOG_DIR:-$(mktemp -d)}
mkdir -p "$logs"

# The issue 10 list: the tests that need nothing beyond a correct nested VMX and a minimal PC.
if [ $# -eq 0 ]; then
    set -- test_vmx_feature_control test_vmxon test_vmptrld test_vmclear test_vmptrst \
        test_vmwrite_vmread test_vmcs_high test_vmcs_lifecycle test_vmx_caps \
        test_vmread_flags_touch test_vmwrite_flags_touch null vmenter control_field_PAT \
        control_field_EFER CR_shadowing I/O_bitmap instruction_intercept EPT_A/D_disabled \
        EPT_A/D_enabled PML debug_controls MSR_switch vmmcall disable_RDTSCP invalid_msr \
        v2_null_test v2_multiple_entries_test fixture_test_case1 fixture_test_case2 \
        invvpid_test vmx_controls_test vmx_host_state_area_test vmx_guest_state_area_test \
        vmentry_movss_shadow_test vmentry_unrestricted_guest_test vmx_vmcs_shadow_test \
        vmx_ldtr_test vmx_cr_load_test vmx_cr4_osxsave_test vmx_no_nm_test vmx_db_test \
        vmx_nmi_window_test vmx_intr_window_test vmx_store_tsc_test \
        vmx_preemption_timer_zero_test ept_access_test_not_present ept_access_test_read_only \
        ept_access_test_write_only ept_access_test_read_write ept_access_test_execute_only \
        ept_access_test_read_execute ept_access_test_write_execute \
        ept_access_test_read_write_execute ept_access_test_reserved_bits \
        ept_access_test_ignored_bits ept_access_test_paddr_not_present_ad_disabled \
        ept_access_test_paddr_not_present_ad_enabled ept_access_test_paddr_read_only_ad_disabled \
        ept_access_test_paddr_read_only_ad_enabled ept_access_test_paddr_read_write \
        ept_access_test_paddr_read_write_execute ept_access_test_paddr_read_execute_ad_disabled \
        ept_access_test_paddr_read_execute_ad_enabled \
        ept_access_test_paddr_not_present_page_fault ept_access_test_force_2m_page \
        ept_access_test_execute_user_only ept_access_test_execute_both \
        ept_access_test_read_execute_user_only ept_access_test_read_execute_both \
        ept_access_test_read_write_execute_user_only ept_access_test_read_write_execute_both \
        atomic_switch_max_msrs_test vmx_mtf_test vmx_mtf_pdpte_test vmx_pae_test vmx_pse_test \
        vmx_pf_exception_test vmx_pf_no_vpid_test vmx_pf_invvpid_test vmx_pf_vpid_test \
        vmx_exception_test vmx_canonical_test
fi

passed=0 failed=0 skipped=0
printf '%-48s %-6s %s\n' TEST RESULT DETAIL
for test in "$@"; do
    log="$logs/$(printf '%s' "$test" | tr '/' '_').log"
    # IA32_FEATURE_CONTROL starts clear, as QEMU leaves it: vmx.flat locks it itself, and
    # test_vmx_feature_control checks that path.
    timeout "$timeout_s" "$emu" "$flat" --mem "$mem" --budget "$budget" \
        --feature-control unlocked --append "$test" >"$log" 2>&1
    status=$?
    echo "run-kvm-unit-tests: nestvmx-emu exit status $status" >>"$log"
    npass=$(grep -c 'PASS: ' "$log")
    nfail=$(grep -c '^FAIL: ' "$log")
    nskip=$(grep -c '^SKIP: ' "$log")
    summary=$(grep '^SUMMARY: ' "$log" | tail -n 1)
    if [ "$status" -eq 124 ]; then
        result=FAIL detail="timeout after ${timeout_s}s ($npass PASS, $nfail FAIL before)"
    elif [ -z "$summary" ]; then
        why=$(grep '^nestvmx-emu: ' "$log" | tail -n 1 | cut -c 14-100)
        result=FAIL detail="no SUMMARY (status $status) $why"
    elif [ "$nfail" -eq 0 ] && [ "$npass" -eq 0 ] && echo "$summary" | grep -q 'SUMMARY: 0 tests'; then
        # vmx.flat ran no check: a feature the test needs is not offered (its message says which)
        result=SKIP detail=$(grep -iE 'not supported|skipping|skip' "$log" | grep -v '^filter' |
            tail -n 1 | sed 's/^[[:space:]]*//' | cut -c 1-80)
        [ -n "$detail" ] || detail="no checks ran: the test's set-up declined (a feature is missing)"
    elif [ "$nfail" -gt 0 ] || echo "$summary" | grep -q '[1-9][0-9]* unexpected failures'; then
        first=$(grep '^FAIL: ' "$log" | head -n 1 | cut -c 7-90)
        result=FAIL detail="$nfail FAIL: $first"
    elif [ "$npass" -eq 0 ] && echo "$summary" | grep -q skipped; then
        result=SKIP detail=$(grep '^SKIP: ' "$log" | head -n 1 | cut -c 7-90)
    elif [ "$status" -ne 0 ]; then
        result=FAIL detail="exit status $status after $summary"
    else
        result=PASS detail="$npass PASS"
        [ "$nskip" -gt 0 ] && detail="$detail, $nskip SKIP"
    fi
    case $result in
    PASS) passed=$((passed + 1)) ;;
    FAIL) failed=$((failed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
    esac
    printf '%-48s %-6s %s\n' "$test" "$result" "$detail"
done
echo "logs: $logs"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
