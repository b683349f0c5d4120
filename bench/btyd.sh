#!/usr/bin/env bash
# BTYD benchmark: BG/NBD (and MBG/NBD, Gamma-Gamma) fitting time and the
# recovered parameters on the full CDNOW master (23,570 customers) and on
# synthetic BG/NBD summaries with known parameters (default 1,000,000).
#
#   bash bench/btyd.sh [--customers 1000000] [--runs 3] [--seed 42]
#
# Runs in its own database (seg_reco_bench_btyd) of the throwaway cluster of
# scripts/lib.sh.  Times are medians of --runs runs of the fitting query
# alone (summaries are prepared first), measured by psql's \timing.
# Nothing is asserted: it prints.  Target: under 1 s for 1 M summaries.
set -euo pipefail
CUSTOMERS=1000000
RUNS=3
SEED=42
while [[ $# -gt 0 ]]; do
    case $1 in
        --customers) CUSTOMERS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
BDB=seg_reco_bench_btyd
DATA=$ROOT/../shared/data/cdnow
# true parameters of the synthetic population: the published CDNOW values
TRUE_R=0.243 TRUE_ALPHA=4.414 TRUE_A=0.793 TRUE_B=2.426

step "packages" ensure_packages
step "build and install" build_install
step "cluster" start_cluster

setup_db() {
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $BDB" -c "CREATE DATABASE $BDB"
    psql_db "$BDB" -q -c "CREATE EXTENSION seg_reco"
}
step "database" setup_db

load_cdnow() {
    psql_db "$BDB" -q <<SQL
CREATE TABLE cdnow_raw (line text);
\copy cdnow_raw FROM '$DATA/CDNOW_master.txt'
CREATE TABLE cdnow AS
SELECT f[1]::int AS cid, to_date(f[2], 'YYYYMMDD') AS d, f[4]::float8 AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), '\s+') AS f FROM cdnow_raw) s
 WHERE f[1] ~ '^[0-9]+$';
CREATE TABLE cdnow_cal AS
SELECT cid, (seg_reco.btyd_summary(d, dollars, '1997-09-30', 'week')).* FROM cdnow GROUP BY cid;
ANALYZE cdnow_cal;
SQL
    psql_db "$BDB" -At -c "SELECT format('    %s transactions, %s customers', (SELECT count(*) FROM cdnow), (SELECT count(*) FROM cdnow_cal))"
}
step "load CDNOW master and summarise" load_cdnow

make_synthetic() {
    local csv
    csv=$(mktemp /tmp/btyd_synth.XXXXXX.csv)
    /usr/bin/python3 "$ROOT/bench/btyd_synth.py" "$CUSTOMERS" "$SEED" \
        "$TRUE_R" "$TRUE_ALPHA" "$TRUE_A" "$TRUE_B" >"$csv"
    chmod 644 "$csv"
    psql_db "$BDB" -q <<SQL
CREATE TABLE synth (frequency float8, recency float8, t float8);
\copy synth FROM '$csv' WITH (FORMAT csv)
ANALYZE synth;
SQL
    rm -f "$csv"
    psql_db "$BDB" -At -c "SELECT format('    %s summaries, %s with repeat purchases', count(*), count(*) FILTER (WHERE frequency > 0)) FROM synth"
}
step "generate $CUSTOMERS synthetic BG/NBD summaries" make_synthetic

# median wall time (ms) of RUNS runs of SQL, and the last run's output
time_query() {
    local sql=$1 i ms out times=()
    for ((i = 0; i < RUNS; i++)); do
        out=$(psql_db "$BDB" -At -F ' | ' -c '\timing on' -c "$sql" 2>&1)
        ms=$(printf '%s\n' "$out" | awk '/^Time: /{ print $2 }')
        times+=("$ms")
    done
    RESULT=$(printf '%s\n' "$out" | grep -v '^Time: ' | grep -v '^Timing is on')
    MEDIAN=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
}

report() {
    local label=$1 sql=$2
    time_query "$sql"
    printf '%-44s %10s ms   %s\n' "$label" "$MEDIAN" "$RESULT"
}

run_all() {
    local fmt="round(r::numeric,4) AS r, round(alpha::numeric,4) AS alpha, round(a::numeric,4) AS a, round(b::numeric,4) AS b, round(log_likelihood::numeric,1) AS ll, iterations, converged"
    printf '\n%-44s %13s   %s\n' "fit" "median" "r | alpha | a | b | log-likelihood | iterations | converged"
    report "BG/NBD, CDNOW master (23,570)" \
        "SELECT $fmt FROM (SELECT (seg_reco.bgnbd_fit(frequency, recency, t)).* FROM cdnow_cal) f"
    report "MBG/NBD, CDNOW master" \
        "SELECT $fmt FROM (SELECT (seg_reco.mbgnbd_fit(frequency, recency, t)).* FROM cdnow_cal) f"
    report "Gamma-Gamma, CDNOW master (repeat buyers)" \
        "SELECT round(p::numeric,3), round(q::numeric,3), round(gamma::numeric,3), round(log_likelihood::numeric,1), iterations, converged FROM (SELECT (seg_reco.gammagamma_fit(frequency, monetary_value)).* FROM cdnow_cal) f"
    report "BG/NBD, synthetic ($CUSTOMERS)" \
        "SELECT $fmt FROM (SELECT (seg_reco.bgnbd_fit(frequency, recency, t)).* FROM synth) f"
    report "BG/NBD, synthetic, penalizer 0.001" \
        "SELECT $fmt FROM (SELECT (seg_reco.bgnbd_fit(frequency, recency, t, 0.001)).* FROM synth) f"
    report "MBG/NBD, synthetic" \
        "SELECT $fmt FROM (SELECT (seg_reco.mbgnbd_fit(frequency, recency, t)).* FROM synth) f"
    report "reading the summaries alone (sum)" \
        "SELECT sum(frequency) + sum(recency) + sum(t) FROM synth"
    printf '\ntrue synthetic parameters: r %s, alpha %s, a %s, b %s\n' "$TRUE_R" "$TRUE_ALPHA" "$TRUE_A" "$TRUE_B"
}
step "fit" run_all
print_timings
