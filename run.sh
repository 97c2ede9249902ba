#!/usr/bin/env bash
# The project's two entry points, for a fresh Debian 12 machine or a developer's:
#   ./run.sh demo   install what is missing, build, run the demo
#   ./run.sh test   install what is missing, build, run every test (ctest), then all of them
#                   again in a build with AddressSanitizer and UndefinedBehaviorSanitizer,
#                   then each libFuzzer target for FUZZ_SECONDS (default 30) when clang has
#                   libFuzzer (tests/fuzz/, docs/SECURITY.md)
# BUILD_DIR (default: build) selects the build folder; extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")"
what=${1:-}
[ $# -gt 0 ] && shift
case "$what" in
  demo|test|build) ;;
  *) echo "usage: ./run.sh demo|test|build [cmake options...]" >&2
     echo "  demo   build and run the demo (installs missing Debian packages first)" >&2
     echo "  test   build and run all tests with ctest" >&2
     exit 2 ;;
esac
scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
case "$what" in
  demo) exec cmake --build "$build" --target demo ;;
  test)
    ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
    # The same tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
    cmake -S . -B "$build-sanitize" -DNESTVMX_SANITIZE=ON "$@" >/dev/null
    cmake --build "$build-sanitize" -j "$(nproc)"
    ctest --test-dir "$build-sanitize" --output-on-failure -j "$(nproc)"
    # The fuzz targets (ctest label fuzz), each for a bounded time; any finding fails.
    if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
      clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
      echo "run.sh: clang with libFuzzer not found, fuzz targets skipped" >&2
      exit 0
    fi
    CC=clang cmake -S . -B "$build-fuzz" -DNESTVMX_FUZZ=ON -DNESTVMX_BUILD_EXAMPLES=OFF \
      -DNESTVMX_BUILD_BENCH=OFF -DNESTVMX_FUZZ_SECONDS="${FUZZ_SECONDS:-30}" "$@" >/dev/null
    cmake --build "$build-fuzz" -j "$(nproc)" --target nestvmx-fuzzers
    exec ctest --test-dir "$build-fuzz" -L fuzz --output-on-failure -j "$(nproc)" ;;
esac
