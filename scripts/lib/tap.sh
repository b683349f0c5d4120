# shellcheck shell=bash
# TAP tests with PostgreSQL's own test modules (PostgreSQL::Test::Cluster):
# scripts/test.sh runs test/t, scripts/test-citus.sh test/citus/t.
# Sourced through scripts/lib.sh, never run.  The caller keeps the counters
# PASSED, FAILED, SKIPPED and the lists FAILED_NAMES, SKIPPED_NAMES.

# run_tap_dir DIR NAME: prove DIR/*.pl (DIR relative to the project), each
# file starting the clusters it needs, as the cluster's OS user, in the
# scratch folder $FALLBACK/NAME; one test per file
run_tap_dir() {
    local src=$1 name=$2
    local files=() f log=$STATE/$name.log dir=$FALLBACK/$name
    for f in "$ROOT/$src"/*.pl; do
        [[ -f $f ]] && files+=("$(basename "$f")")
    done
    if [[ ${#files[@]} -eq 0 ]]; then
        say "    no TAP tests in $src/: skipped"
        return 0
    fi
    mkdir -p "$dir" "$STATE"
    rm -rf "$dir/tmp_check" "$dir/t"
    cp -r "$ROOT/$src" "$dir/t"
    if is_root; then chown -R postgres:postgres "$dir"; fi
    local pgxs
    pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")/..
    as_pg env PATH="$PGBIN:$PATH" TESTDIR="$dir" PG_REGRESS="$pgxs/test/regress/pg_regress" \
        PGHOST= PGPORT= PGUSER= \
        bash -c "cd '$dir' && prove -I '$pgxs/test/perl' t/*.pl" >"$log" 2>&1 || true
    sed 's/^/    /' "$log"
    # a file passed only if prove printed "t/NAME.pl .. ok" for it
    for f in "${files[@]}"; do
        if grep -qE "^t/${f//./\\.} \.+ skipped" "$log" && ! _is_ci; then
            SKIPPED=$(( SKIPPED + 1 ))
            SKIPPED_NAMES+=("TAP: $src/$f ($(grep -oE "^t/${f//./\\.} \.+ skipped: .*" "$log" | sed 's/^[^:]*: //'))")
        elif grep -qE "^t/${f//./\\.} \.+ ok" "$log"; then
            PASSED=$(( PASSED + 1 ))
        else
            FAILED=$(( FAILED + 1 ))
            FAILED_NAMES+=("TAP: $src/$f (logs: $dir/tmp_check/log)")
        fi
    done
}

# the summary lines every test script ends with: the failed and skipped
# tests, then "N passed, N failed[, N skipped]"; true when none failed
print_test_summary() {
    if [[ ${#FAILED_NAMES[@]} -gt 0 ]]; then
        printf '\nfailed:\n'
        printf '  %s\n' "${FAILED_NAMES[@]}"
    fi
    if [[ ${#SKIPPED_NAMES[@]} -gt 0 ]]; then
        printf '\nskipped:\n'
        printf '  %s\n' "${SKIPPED_NAMES[@]}"
    fi
    if [[ $SKIPPED -gt 0 ]]; then
        printf '\n%d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
    else
        printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
    fi
    [[ $FAILED -eq 0 ]]
}
