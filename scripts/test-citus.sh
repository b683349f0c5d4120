#!/usr/bin/env bash
# The tests on a Citus cluster (issue 15): builds and installs seg_reco,
# builds Citus 13.0.5 from ../shared/vendor unless it is installed
# (scripts/lib/citus.sh: with_llvm=no, about a minute on two cores, two with
# the Debian packages), then runs the TAP tests of test/citus/t: each starts
# a throwaway Citus coordinator and two workers, and a plain node with the
# same demo data, distributes the data (seg_reco.distribute()), runs the
# pipeline and compares every output and a sample of recommend_for with the
# plain node's.  Ends with the line "N passed, N failed" (N = test files);
# exits non-zero if anything failed, a failed Citus build included.
# scripts/test.sh runs the same tests last (so .ci/run does too).
set -euo pipefail

case ${1:-} in
    -h|--help)
        printf 'usage: bash scripts/test-citus.sh\n\n'
        printf 'Builds seg_reco and (unless installed) Citus %s from ../shared/vendor,\n' 13.0.5
        printf 'then runs the TAP tests of test/citus/t, each on a coordinator, two workers\n'
        printf 'and a plain node of its own (free ports of their own).\n'
        printf 'Environment: CI=true (build with -Werror), SEG_RECO_SHARED (the folder\n'
        printf 'holding vendor/, default ../shared).\n'
        exit 0 ;;
    '') ;;
    *) printf 'unknown option: %s (try --help)\n' "$1" >&2; exit 2 ;;
esac

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
SKIPPED_NAMES=()

run_citus_tap() { run_tap_dir test/citus/t tap-citus; }

step "packages" ensure_packages
step "build and install" build_install
step "Citus (build if missing)" ensure_citus
step "TAP on Citus (prove test/citus/t)" run_citus_tap
print_timings
print_test_summary
