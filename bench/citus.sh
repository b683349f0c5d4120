#!/usr/bin/env bash
# seg_reco on one node and on a Citus cluster (a coordinator and two
# workers) on the same machine (issue 15): the same demo data and the same
# statements, timed on both, with the cluster's overhead as a ratio.  All
# nodes share this machine's cores, so no speed-up is expected: the figures
# are the price of the distribution (planning, shipping intermediate
# results, per-shard queries).
#
#   bash bench/citus.sh                    # scale 1 (10,000 customers)
#   bash bench/citus.sh --scales "1 10"    # and 100,000 customers
#
#   --scales "S..."  generate_demo_data(customers => 10000 * S) per scale
#   --calls N        recommend_for calls per node for the latency (default 300)
#   --customers N    one run with N customers instead of the scales (a quick
#                    check of the script; its figures say little)
#   --keep           leave the clusters running at the end
#
# Timed, each in a new session (psql \timing, the statement's time):
#   rfm per customer     rfm() GROUP BY customer_id over the member lines
#   rfm all lines        rfm() over every member line (two phases on Citus)
#   btyd summaries       btyd_summary() per customer
#   features             compute_customer_features(default_as_of())
#   refresh              CALL seg_reco.refresh('full')
#   refresh incremental  CALL seg_reco.refresh('incremental') after one day
#                        of lines (bench/lib.sh make_day: about 0.14% of the
#                        lines, moved to the day after the last, new ids)
#                        added to both: on one node its capture triggers
#                        record the changed customers, on Citus the run
#                        compares every customer's lines with the stored
#                        state in the shards
#   recommend_for        pgbench, one client, --calls calls for random
#                        customers, SELECT seg_reco.recommend_for(c, 10) (on
#                        Citus delegated to the customer's worker); the mean
#                        latency (ms)
# and, on Citus only, distribute() (its time is not part of the ratios) and
# the data moved: for the four queries, the bytes the coordinator received
# from the workers ("Tuple data received from nodes" of EXPLAIN ANALYZE, a
# run of its own).  Not measured for refresh(): many statements, each with
# its own plan.
# The single node is scripts/cluster.sh's cluster (SEG_RECO_PGPORT), database
# citus_bench; the Citus cluster scripts/citus.sh's (SEG_RECO_CITUS_PGPORT),
# database seg_reco, whose extension is dropped and created again at every
# scale.  Uses the installed seg_reco and Citus (bash scripts/citus.sh build,
# make install first: this script installs nothing, so run it holding
# /tmp/seg_reco_install.lock when others may install meanwhile).
# Output: a table per scale, and bench/out/citus-<time>/ with the logs.
set -euo pipefail

SCALES="1"
CUSTOMERS=
CALLS=300
KEEP=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --calls) CALLS=$2; shift 2 ;;
        --customers) CUSTOMERS=$2; SCALES=c; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) printf 'unknown option: %s (try --help)\n' "$1" >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$HERE/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

OUT=$HERE/out/citus-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
SDB=citus_bench

citus_installed || die "Citus $CITUS_VERSION is not installed: bash scripts/citus.sh build"
step "single node" start_cluster
step "Citus cluster" start_citus_cluster

# run_on single|citus DB-ARGS...: psql on one of the two
run_on() {
    local where=$1; shift
    if [[ $where == single ]]; then psql_db "$SDB" "$@"; else citus_psql 0 "$@"; fi
}

# timed_on single|citus SQL LOG: the statement's time (ms) in a new session
timed_on() {
    local where=$1 sql=$2 log=$3
    run_on "$where" -At >"$log" 2>&1 <<SQL
SET client_min_messages = warning;
\timing on
$sql
SQL
    awk '/^Time: /{ if ($2 + 0 > t + 0) t = $2 } END { print (t == "" ? "-" : t) }' "$log"
}

# latency_on single|citus LOG: mean ms of recommend_for over $CALLS calls
# for random customers (pgbench, one client; the first call loads the model)
latency_on() {
    local where=$1 log=$2 host port db script=$OUT/recommend_for.sql n
    n=$(run_on "$where" -Atc "SELECT max(customer_id) FROM seg_reco.customers")
    # (SELECT f(...): on Citus the call is delegated to the customer's worker)
    printf '\\set c random(1, %s)\nSELECT seg_reco.recommend_for(:c, 10);\n' "$n" >"$script"
    if [[ $where == single ]]; then host=$SOCKDIR; port=$PORT; db=$SDB
    else host=$CITUS_SOCK; port=$(citus_port 0); db=$DB; fi
    "$PGBIN/pgbench" -n -h "$host" -p "$port" -U postgres -c 1 -t "$CALLS" -f "$script" "$db" >"$log" 2>&1 ||
        { echo -; return 0; }
    awk '/^latency average/{ print $4 }' "$log"
}

# received_on_citus SQL LOG: bytes the coordinator received from the
# workers running SQL (EXPLAIN ANALYZE, the top Citus scan's line)
received_on_citus() {
    local sql=$1 log=$2
    citus_psql 0 -At >"$log" 2>&1 <<SQL || { echo -; return 0; }
SET client_min_messages = warning;
EXPLAIN (ANALYZE, COSTS OFF) $sql
SQL
    awk '/Tuple data received from nodes:/{ v = $(NF - 1); u = $NF
                                            if (u == "kB") v *= 1024; else if (u == "MB") v *= 1048576
                                            t += v } END { print (t == "" ? "-" : t) }' "$log"
}

LINES=("rfm per customer" "rfm all lines" "btyd summaries" "features" "refresh" "refresh incremental"
       "recommend_for (mean)")
SQLS=(
    "SELECT count(*) FROM (SELECT customer_id, seg_reco.rfm(receipt_id, ts, amount::float8) AS r
                             FROM seg_reco.transactions WHERE customer_id IS NOT NULL GROUP BY customer_id) s;"
    "SELECT (r).* FROM (SELECT seg_reco.rfm(receipt_id, ts, amount::float8) AS r
                          FROM seg_reco.transactions WHERE customer_id IS NOT NULL OFFSET 0) s;"
    "SELECT count(*) FROM (SELECT customer_id,
                                  seg_reco.btyd_summary(ts::date, amount::float8, seg_reco.default_as_of(), 'week') AS v
                             FROM seg_reco.transactions WHERE customer_id IS NOT NULL GROUP BY customer_id) s;"
    "SELECT count(*) FROM seg_reco.compute_customer_features(seg_reco.default_as_of());"
    "CALL seg_reco.refresh('full');"
)

# c: the customers of scale $1 (c: --customers)
customers_of() { if [[ $1 == c ]]; then c=$CUSTOMERS; else c=$(( 10000 * $1 )); fi; }

declare -A R
for s in $SCALES; do
    customers_of "$s"
    say "==> scale $s ($c customers)"
    psql_db postgres -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $SDB" -c "CREATE DATABASE $SDB"
    psql_db "$SDB" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco"
    citus_psql 0 -q -c "SET client_min_messages = warning" \
        -c "DROP EXTENSION IF EXISTS seg_reco CASCADE" -c "CREATE EXTENSION seg_reco"
    for where in single citus; do
        t0=$EPOCHREALTIME
        run_on "$where" -q -c "SET client_min_messages = warning" \
            -c "SELECT count(*) FROM seg_reco.generate_demo_data(customers => $c)" >"$OUT/generate_${where}_x$s.log" 2>&1
        say "    $where: demo data in $(_elapsed "$t0") s"
    done
    R[$s,distribute]=$(timed_on citus "SELECT * FROM seg_reco.distribute();" "$OUT/distribute_x$s.log")
    say "    distribute(): ${R[$s,distribute]} ms"
    for where in single citus; do
        run_on "$where" -q -c "ANALYZE" >/dev/null
    done
    for i in "${!SQLS[@]}"; do
        for where in single citus; do
            R[$s,$i,$where]=$(timed_on "$where" "${SQLS[$i]}" "$OUT/${i}_${where}_x$s.log")
            say "    ${LINES[$i]} on $where: ${R[$s,$i,$where]} ms"
        done
    done
    # one day of lines on both (the single node's capture triggers on; on
    # Citus the members' lines into transactions, the others into
    # nonmember_transactions), then an incremental run
    read -r day cust < <(make_day "$SDB")
    psql_db "$SDB" -q -c "INSERT INTO seg_reco.transactions SELECT * FROM public.bench_day" >/dev/null
    psql_db "$SDB" -q -c "COPY (SELECT * FROM public.bench_day WHERE customer_id IS NOT NULL) TO STDOUT" |
        citus_psql 0 -q -c "COPY seg_reco.transactions FROM STDIN"
    psql_db "$SDB" -q -c "COPY (SELECT * FROM public.bench_day WHERE customer_id IS NULL) TO STDOUT" |
        citus_psql 0 -q -c "COPY seg_reco.nonmember_transactions FROM STDIN"
    say "    one day: $day lines, $cust customers, on both"
    i=${#SQLS[@]}
    for where in single citus; do
        R[$s,$i,$where]=$(timed_on "$where" "CALL seg_reco.refresh('incremental');" "$OUT/${i}_${where}_x$s.log")
        kind=$(run_on "$where" -Atc "SELECT kind || ', ' || coalesce(detail ->> 'customers_merged', '0') || ' merged, '
                                            || (detail ->> 'customers_recomputed') || ' recomputed'
                                       FROM seg_reco.refresh_log
                                      WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
                                        AND step = 'customer_features'")
        R[$s,kind,$where]=$kind
        say "    ${LINES[$i]} on $where: ${R[$s,$i,$where]} ms ($kind)"
    done
    i=$(( i + 1 ))
    for where in single citus; do
        R[$s,$i,$where]=$(latency_on "$where" "$OUT/latency_${where}_x$s.log")
        say "    ${LINES[$i]} on $where: ${R[$s,$i,$where]} ms"
    done
    # the same recommendations on both (a sample)
    same=$(for where in single citus; do
               run_on "$where" -Atc "WITH c AS MATERIALIZED (SELECT customer_id FROM seg_reco.customers
                                                              WHERE customer_id % 97 = 0)
                                       SELECT md5(string_agg(c.customer_id || ':' || r.product_id || ':' || r.score, ','
                                                             ORDER BY c.customer_id, r.rank))
                                         FROM c, seg_reco.recommend_for(c.customer_id, 10) r"
           done | sort -u | wc -l)
    R[$s,same]=$([[ $same -eq 1 ]] && echo yes || echo NO)
    for i in 0 1 2 3; do
        R[$s,$i,received]=$(received_on_citus "${SQLS[$i]}" "$OUT/received_${i}_x$s.log")
    done
done

printf '\nseg_reco on one node and on Citus (coordinator + 2 workers, %s shards), same machine (%s cores)\n' \
    "$(citus_psql 0 -Atc "SHOW citus.shard_count")" "$(nproc)"
for s in $SCALES; do
    customers_of "$s"
    printf '\nscale %s (%s customers); distribute() %s ms; the same recommendations: %s\n' \
        "$s" "$c" "${R[$s,distribute]}" "${R[$s,same]}"
    printf '%-22s %12s %12s %10s %16s\n' "ms" "one node" "Citus" "overhead" "received (bytes)"
    for i in "${!LINES[@]}"; do
        printf '%-22s %12s %12s %10s %16s\n' "${LINES[$i]}" "${R[$s,$i,single]}" "${R[$s,$i,citus]}" \
            "$(awk -v a="${R[$s,$i,single]}" -v b="${R[$s,$i,citus]}" \
                'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", b / a; else print "-" }')" \
            "${R[$s,$i,received]:-}"
    done
    printf 'incremental runs: one node %s; Citus %s\n' "${R[$s,kind,single]}" "${R[$s,kind,citus]}"
done | tee "$OUT/summary.txt"
say ""
say "logs: $OUT"
if [[ $KEEP -eq 0 ]]; then
    stop_citus_cluster
fi
