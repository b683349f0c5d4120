#!/usr/bin/env bash
# Every test: same setup as demo.sh, then pg_regress (make installcheck) and
# pgTAP (pg_prove test/pgtap/*.sql) against the throwaway cluster.
# Ends with the line "N passed, N failed" (N = test files); exits non-zero if
# anything failed.  .ci/run calls exactly this script.
set -euo pipefail

case ${1:-} in
    -h|--help)
        printf 'usage: bash scripts/test.sh\n\nRuns every test (pg_regress, then pgTAP).\n'
        printf 'Environment: SEG_RECO_PGPORT (default 54315), CI=true (build with -Werror).\n'
        exit 0 ;;
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

# The CDNOW data of test btyd_cdnow are not in the repository (their licence
# is for research and teaching): they come from the shared/ folder beside
# the clone, or from SEG_RECO_SHARED.  The test reads them through the link
# .shared, whatever folder the clone is in.
link_shared_data() {
    local shared=${SEG_RECO_SHARED:-$ROOT/../shared}
    [[ -r $shared/data/cdnow/CDNOW_sample.txt ]] ||
        die "the test data are not in $shared/data/cdnow: clone next to the project's shared/ folder, or set SEG_RECO_SHARED to the folder that holds data/cdnow"
    ln -sfn "$(cd "$shared" && pwd)" "$ROOT/.shared"
}

run_regress() {
    local log=$STATE/installcheck.log rc=0 tests total ok bad name
    tests=$(regress_tests)
    total=$(wc -w <<<"$tests")
    if [[ $total -eq 0 ]]; then
        say "    no pg_regress tests in the Makefile"
        return 0
    fi
    link_shared_data
    rm -f "$ROOT/test/regression.diffs" "$ROOT/test/regression.out"
    make -C "$ROOT" -s --no-print-directory PG_CONFIG="$PG_CONFIG" installcheck >"$log" 2>&1 || rc=$?
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

setup_all
step "refresh models" refresh_pipeline
step "pg_regress (make installcheck)" run_regress
step "pgTAP (pg_prove)" run_pgtap
print_timings
if [[ ${#FAILED_NAMES[@]} -gt 0 ]]; then
    printf '\nfailed:\n'
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
[[ $FAILED -eq 0 ]]
