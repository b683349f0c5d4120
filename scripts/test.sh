#!/usr/bin/env bash
# Every test: same setup as demo.sh, then the check of the thread contract
# (scripts/check_threads.py, one test), pg_regress (make installcheck) and
# pgTAP (pg_prove test/pgtap/*.sql) against the throwaway cluster, the visual
# report of a small demo database opened in headless Chromium (one test:
# run_report_test in scripts/lib/report.sh) and the analyst report
# scripts/report.sql on that database (one test), then the TAP tests of
# test/t/*.pl (each starts clusters of its own: upgrade paths), and last the
# tests on a Citus cluster (test/citus/t/*.pl, Citus built from ../shared/vendor
# when missing; scripts/test-citus.sh runs them alone).
# Ends with the line "N passed, N failed[, N skipped]" (N = test files);
# exits non-zero if anything failed.  .ci/run calls this script.
#
# Tests that read the public data sets of ../shared/data (or
# $SEG_RECO_SHARED/data) are skipped, each named with the file it misses,
# when that folder is absent; under CI=true a missing file is a failure.
set -euo pipefail

VALGRIND=0
CITUS=1
case ${1:-} in
    -h|--help)
        printf 'usage: bash scripts/test.sh [--valgrind | --no-citus]\n\nRuns every test (pg_regress, pgTAP, the TAP tests of test/t, then those of\n'
        printf 'test/citus/t on a Citus cluster, building Citus from ../shared/vendor if missing).\n'
        printf 'With --no-citus: all but the Citus tests, reported as skipped (not under CI=true).\n'
        printf 'With --valgrind: only the pg_regress suite, against a cluster of its own whose\n'
        printf 'server processes run under valgrind memcheck (scripts/lib/valgrind.sh);\n'
        printf 'fails on any valgrind error.  VALGRIND_TESTS="a b" runs those tests only.\n'
        printf 'Environment: SEG_RECO_PGPORT (default 54315), CI=true (build with -Werror;\n'
        printf 'tests whose data in ../shared are missing fail instead of being skipped),\n'
        printf 'SEG_RECO_SHARED (the folder holding data/, default ../shared).\n'
        exit 0 ;;
    --valgrind) VALGRIND=1 ;;
    --no-citus)
        if [[ ${CI:-} == true ]]; then
            printf -- '--no-citus is not allowed under CI=true: CI runs every test\n' >&2
            exit 2
        fi
        CITUS=0 ;;
    '') ;;
    *) printf 'unknown option: %s (try --help)\n' "$1" >&2; exit 2 ;;
esac

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSED=0
FAILED=0
FAILED_NAMES=()

# the REGRESS list from the Makefile
regress_tests() {
    # shellcheck disable=SC2016  # $(REGRESS) is make syntax
    make -s --no-print-directory -C "$ROOT" PG_CONFIG="$PG_CONFIG" -f Makefile -f - \
        print-regress <<<'print-regress: ; @echo $(REGRESS)'
}

# Tests that need data which are not in the repository (their licences are
# for research and teaching): test name and the file under shared/data/ it
# reads.  They come from the shared/ folder beside the clone, or from
# SEG_RECO_SHARED; the tests read them through the link .shared, whatever
# folder the clone is in.
DATA_TESTS=(
    "btyd_cdnow cdnow/CDNOW_sample.txt"
    "btyd_cdnow cdnow/cdnow_customers_summary_with_transactions.csv"
    "ab_completejourney completejourney/campaigns.csv"
    "ab_completejourney completejourney/campaign_descriptions.csv"
    "ab_completejourney completejourney/coupon_redemptions.csv"
    "ab_completejourney completejourney/demographics.csv"
    "ab_completejourney completejourney/transactions_sample.csv"
    "assoc_groceries groceries/groceries.csv"
)
SKIPPED=0
SKIPPED_NAMES=()

# sets SKIP_TESTS to the pg_regress tests to leave out (their data are
# missing), one a line; fails under CI when any is missing
SKIP_TESTS=
link_shared_data() {
    local shared=${SEG_RECO_SHARED:-$ROOT/../shared} entry name file skip=()
    for entry in "${DATA_TESTS[@]}"; do
        read -r name file <<<"$entry"
        if [[ ! -r $shared/data/$file ]]; then
            _is_ci && die "test $name needs $shared/data/$file, which is missing (CI runs every test)"
            skip+=("$name")
            SKIPPED_NAMES+=("$name (needs $shared/data/$file)")
        fi
    done
    [[ -d $shared/data ]] && ln -sfn "$(cd "$shared" && pwd)" "$ROOT/.shared"
    [[ ${#skip[@]} -eq 0 ]] || SKIP_TESTS=$(printf '%s\n' "${skip[@]}" | sort -u)
}

# run_regress [test...]: the Makefile's REGRESS list, or the tests named
run_regress() {
    local log=$STATE/installcheck.log rc=0 tests total ok bad name
    if [[ $# -gt 0 ]]; then tests=$*; else tests=$(regress_tests); fi
    total=$(wc -w <<<"$tests")
    if [[ $total -eq 0 ]]; then
        say "    no pg_regress tests in the Makefile"
        return 0
    fi
    local t kept=()
    link_shared_data
    if [[ -n $SKIP_TESTS ]]; then
        for t in $tests; do
            grep -qxF "$t" <<<"$SKIP_TESTS" || kept+=("$t")
        done
        SKIPPED=$(( SKIPPED + total - ${#kept[@]} ))
        tests=${kept[*]}
        total=${#kept[@]}
        say "    skipped (data missing): $(tr '\n' ' ' <<<"$SKIP_TESTS")"
    fi
    rm -f "$ROOT/test/regression.diffs" "$ROOT/test/regression.out"
    make -C "$ROOT" -s --no-print-directory PG_CONFIG="$PG_CONFIG" REGRESS="$tests" \
        installcheck >"$log" 2>&1 || rc=$?
    # PG15: "test rfm   ... ok   12 ms" / "     rfm   ... FAILED   12 ms";
    # PG16+: "ok 1  - rfm   12 ms" / "not ok 1 - rfm   12 ms"
    ok=$(grep -cE '\.\.\. ok( |$)|^ok [0-9]+ +[-+] ' "$log" || true)
    bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$log" || true)
    grep -E '\.\.\. (ok|FAILED)|^(not )?ok [0-9]+ ' "$log" | sed 's/^/    /' || true
    # tests that never reported (pg_regress stopped early) count as failed
    if [[ $(( ok + bad )) -lt $total ]]; then bad=$(( total - ok )); fi
    if [[ $rc -ne 0 && $bad -eq 0 ]]; then bad=1; fi
    PASSED=$(( PASSED + ok ))
    FAILED=$(( FAILED + bad ))
    if [[ $bad -gt 0 ]]; then
        FAILED_NAMES+=("pg_regress: $bad of $total")
        for name in $(grep -oE '^(test | +)?[a-z0-9_]+ +\.\.\. FAILED' "$log" | awk '{print $(NF-2)}' || true); do
            FAILED_NAMES+=("  $name")
        done
        if [[ -s $ROOT/test/regression.diffs ]]; then
            printf -- '---- %s (first 200 lines) ----\n' "$ROOT/test/regression.diffs"
            head -n 200 "$ROOT/test/regression.diffs"
            printf -- '---- end of regression.diffs ----\n'
        else
            show_tail "$log" 40 2>&1
        fi
    fi
}

run_pgtap() {
    local files=() f log=$STATE/pg_prove.log rc=0 bad
    for f in "$ROOT"/test/pgtap/*.sql; do
        [[ -f $f ]] && files+=("${f#"$ROOT"/}")
    done
    if [[ ${#files[@]} -eq 0 ]]; then
        say "    no pgTAP files in test/pgtap/: skipped"
        return 0
    fi
    (cd "$ROOT" && pg_prove --psql-bin "$PGBIN/psql" -h "$SOCKDIR" -p "$PORT" -U postgres \
        -d "$DB" "${files[@]}") >"$log" 2>&1 || rc=$?
    sed 's/^/    /' "$log"
    # failed files are listed under "Test Summary Report" as "file (Wstat: ...)"
    mapfile -t bad < <(grep -oE '^[^ ]+\.sql +\(Wstat' "$log" | awk '{print $1}' | sort -u || true)
    local nbad=${#bad[@]}
    if [[ $rc -ne 0 && $nbad -eq 0 ]]; then nbad=${#files[@]}; bad=("${files[@]}"); fi
    PASSED=$(( PASSED + ${#files[@]} - nbad ))
    FAILED=$(( FAILED + nbad ))
    for f in "${bad[@]}"; do FAILED_NAMES+=("pgTAP: $f"); done
}

# the thread contract of src/threads.h: what a task of seg_reco_parallel_for,
# and every function it reaches, may call; checked on the call graph of the
# sources (compiled into a scratch directory), one test
run_thread_check() {
    local log=$STATE/thread_check.log rc=0
    python3 "$ROOT/scripts/check_threads.py" --pg-config "$PG_CONFIG" >"$log" 2>&1 || rc=$?
    sed 's/^/    /' "$log"
    if [[ $rc -eq 0 ]]; then
        PASSED=$(( PASSED + 1 ))
    else
        FAILED=$(( FAILED + 1 ))
        FAILED_NAMES+=("thread contract (log: $log)")
    fi
}

# test/t/*.pl: TAP tests with PostgreSQL's own test modules; each starts the
# clusters it needs (scripts/lib/tap.sh).  The Citus tests (test/citus/t)
# are scripts/test-citus.sh's.
run_tap() { run_tap_dir test/t tap; }
run_citus_tap() { run_tap_dir test/citus/t tap-citus; }

if [[ $VALGRIND -eq 1 ]]; then
    # shellcheck source=scripts/lib/valgrind.sh
    source "$ROOT/scripts/lib/valgrind.sh"
    run_valgrind_suite
    print_timings
    if [[ ${#FAILED_NAMES[@]} -gt 0 ]]; then
        printf '\nfailed:\n'
        printf '  %s\n' "${FAILED_NAMES[@]}"
    fi
    printf '\n%d passed, %d failed%s; valgrind: %d errors\n' "$PASSED" "$FAILED" \
        "$([[ $SKIPPED -gt 0 ]] && printf ', %d skipped' "$SKIPPED")" "$VG_FINDINGS"
    [[ $FAILED -eq 0 && $VG_FINDINGS -eq 0 ]]
    exit
fi

# scripts/report.sql, the analyst report demo.sh prints, on the small demo
# database of the visual report's test (demo data, campaign, refresh,
# evaluation): it must run without an error, one test
run_analyst_report_test() {
    local log=$STATE/analyst_report.log rc=0
    psql_db "$REPORT_TEST_DB" -q -v ON_ERROR_STOP=1 -f "$ROOT/scripts/report.sql" >"$log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        say "    scripts/report.sql ran ($(wc -l <"$log") lines of output)"
        PASSED=$(( PASSED + 1 ))
    else
        show_tail "$log" 20
        FAILED=$(( FAILED + 1 ))
        FAILED_NAMES+=("analyst report scripts/report.sql (log: $log)")
    fi
}

setup_all
step "demo campaign removed" remove_demo_campaign
step "thread contract" run_thread_check
step "refresh models" refresh_pipeline
step "pg_regress (make installcheck)" run_regress
step "pgTAP (pg_prove)" run_pgtap
step "visual report (headless Chromium)" run_report_test
step "analyst report (scripts/report.sql)" run_analyst_report_test
step "TAP (prove test/t)" run_tap
if [[ $CITUS -eq 1 ]]; then
    step "Citus (build if missing)" ensure_citus
    step "TAP on Citus (prove test/citus/t)" run_citus_tap
else
    SKIPPED=$(( SKIPPED + 1 ))
    SKIPPED_NAMES+=("the Citus tests of test/citus/t (--no-citus; scripts/test-citus.sh runs them)")
fi
print_timings
print_test_summary
