#!/usr/bin/env bash
# Foundation benchmark: demo-data generation, RFM against plain SQL, refresh(),
# peak backend memory, at the reference scale and at 10x.
#
#   bash bench/foundation.sh [--scales "1 10"] [--runs 3]
#
# Each scale gets its own database (seg_reco_bench_x<scale>) in the throwaway
# cluster of scripts/lib.sh.  Figures are medians of --runs runs (the 10x
# data generation runs once).  Nothing here is asserted: it prints.
set -euo pipefail
SCALES="1 10"
RUNS=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
step "packages" ensure_packages
step "build and install" build_install
step "cluster" start_cluster

# run_timed DB SQL: run SQL in a fresh session; print "<ms> <peak RSS kB>"
run_timed() {
    local db=$1 sql=$2 out
    out=$(psql_db "$db" -q -At <<SQL
\timing on
$sql
\timing off
SELECT 'VmHWM ' || substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*([0-9]+)');
SQL
)
    local ms kb
    ms=$(printf '%s\n' "$out" | awk '/^Time: /{ t = $2 } END { print t }')
    kb=$(printf '%s\n' "$out" | awk '/VmHWM/{ print $2 }')
    printf '%s %s\n' "$ms" "$kb"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# The plain-SQL RFM an analyst would write (GROUP BY + count(DISTINCT) + ntile)
PLAIN_RFM="CREATE TEMP TABLE plain_rfm AS
WITH per AS (
    SELECT t.customer_id,
           count(DISTINCT t.receipt_id) FILTER (WHERE t.amount > 0) AS frequency,
           sum(t.amount) AS monetary,
           (SELECT max(ts) FROM seg_reco.transactions)::date - max(t.ts) FILTER (WHERE t.amount > 0)::date AS recency_days
      FROM seg_reco.transactions t
     WHERE t.customer_id IS NOT NULL
     GROUP BY t.customer_id), scored AS (
    SELECT per.*, ntile(5) OVER (ORDER BY recency_days DESC) AS r,
           ntile(5) OVER (ORDER BY frequency) AS f, ntile(5) OVER (ORDER BY monetary) AS m
      FROM per WHERE frequency > 0)
SELECT s.*, (SELECT g.segment FROM seg_reco.rfm_segments g
              WHERE s.r BETWEEN g.r_min AND g.r_max AND s.f BETWEEN g.f_min AND g.f_max
                AND s.m BETWEEN g.m_min AND g.m_max ORDER BY g.priority LIMIT 1) AS segment
  FROM scored s;"
EXT_RFM="CREATE TEMP TABLE ext_rfm AS SELECT * FROM seg_reco.rfm_score();"

declare -A R
for scale in $SCALES; do
    db=seg_reco_bench_x$scale
    c=$((10000 * scale)); p=5000; t=$((811465 * scale)); e=$((50000 * scale))
    say "==> scale x$scale: $c customers, $p products, $t lines, $e events (database $db)"
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql_db "$db" -q -c "CREATE EXTENSION seg_reco"
    gen_runs=$RUNS; [[ $scale -gt 1 ]] && gen_runs=1
    gens=(); genmem=()
    for ((i = 0; i < gen_runs; i++)); do
        read -r ms kb < <(run_timed "$db" "SELECT * FROM seg_reco.generate_demo_data($c, $p, $t, $e, 42);")
        gens+=("$ms"); genmem+=("$kb")
        say "    generate_demo_data run $((i + 1)): ${ms} ms, peak RSS ${kb} kB"
    done
    psql_db "$db" -q -c "VACUUM ANALYZE"
    exts=(); plains=(); extmem=(); plainmem=()
    for ((i = 0; i < RUNS; i++)); do
        read -r ms kb < <(run_timed "$db" "$EXT_RFM"); exts+=("$ms"); extmem+=("$kb")
        read -r ms kb < <(run_timed "$db" "$PLAIN_RFM"); plains+=("$ms"); plainmem+=("$kb")
        say "    run $((i + 1)): rfm_score ${exts[-1]} ms, plain SQL ${plains[-1]} ms"
    done
    refs=(); refmem=()
    ref_runs=$RUNS; [[ $scale -gt 1 ]] && ref_runs=1
    for ((i = 0; i < ref_runs; i++)); do
        read -r ms kb < <(run_timed "$db" "CALL seg_reco.refresh();"); refs+=("$ms"); refmem+=("$kb")
        say "    refresh run $((i + 1)): ${ms} ms"
    done
    R[$scale,gen]=$(printf '%s\n' "${gens[@]}" | median)
    R[$scale,genmem]=$(printf '%s\n' "${genmem[@]}" | sort -n | tail -1)
    R[$scale,ext]=$(printf '%s\n' "${exts[@]}" | median)
    R[$scale,plain]=$(printf '%s\n' "${plains[@]}" | median)
    R[$scale,extmem]=$(printf '%s\n' "${extmem[@]}" | sort -n | tail -1)
    R[$scale,plainmem]=$(printf '%s\n' "${plainmem[@]}" | sort -n | tail -1)
    R[$scale,ref]=$(printf '%s\n' "${refs[@]}" | median)
    R[$scale,refmem]=$(printf '%s\n' "${refmem[@]}" | sort -n | tail -1)
    R[$scale,rows]=$(psql_db "$db" -At -c "SELECT count(*) FROM seg_reco.transactions")
    R[$scale,gen_runs]=$gen_runs
done

echo
echo "== seg_reco foundation benchmark ($(nproc) cores, PostgreSQL $(psql_db postgres -At -c 'SHOW server_version')) =="
printf '%-6s %10s %12s %14s %14s %8s %12s %12s %12s\n' scale lines "gen s" "rfm_score s" "plain SQL s" ratio "refresh s" "peak MB gen" "peak MB rfm"
for scale in $SCALES; do
    awk -v s="x$scale" -v n="${R[$scale,rows]}" -v g="${R[$scale,gen]}" -v e="${R[$scale,ext]}" \
        -v p="${R[$scale,plain]}" -v r="${R[$scale,ref]}" -v gm="${R[$scale,genmem]}" -v em="${R[$scale,extmem]}" \
        'BEGIN { printf "%-6s %10d %12.2f %14.3f %14.3f %8.2f %12.3f %12.0f %12.0f\n", s, n, g/1000, e/1000, p/1000, p/e, r/1000, gm/1024, em/1024 }'
done
echo "ratio = plain SQL time / rfm_score time (above 1: seg_reco is faster). Medians of $RUNS runs"
echo "(generation and refresh at 10x: 1 run). Peak MB = VmHWM of the backend, including shared buffers it touched."
