#!/usr/bin/env bash
# The project's two entry points, for a fresh Debian 12 machine or a developer's:
#   ./run.sh demo   install what is missing, build, run the demo
#   ./run.sh test   install what is missing, build, run every test (ctest), then all of them
#                   again in a build with AddressSanitizer and UndefinedBehaviorSanitizer
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
    exec ctest --test-dir "$build-sanitize" --output-on-failure -j "$(nproc)" ;;
esac
