#!/usr/bin/env bash
# recommend_all against implicit's batch recommend on the SAME ALS model
# (issue 12: "at least as fast as implicit's batch recommend"), same
# machine, same run: seg_reco's stored factors are handed to implicit 0.7.2
# (bench/implicit_recommend.py), which scores them with float32 sgemm in
# batches and its own top-n on the same number of threads.
#
#   IMPLICIT_PATH=/var/tmp/implicit-0.7.2 bash bench/rankspeed.sh
#       [--customers 10000] [--runs 5] [--threads 2] [--fresh] [--keep]
#
#   --customers N  demo data of N customers (generate_demo_data(customers
#                  => N): 10000 is the reference scale, 100000 the 10x)
#   --runs R       rounds (default 5), seg_reco and implicit in turn, each
#                  with 3 timed calls of every line after a warm-up call;
#                  medians over all calls are shown
#   --threads T    seg_reco.threads and implicit's num_threads (default 2)
#   --fresh        rebuild the database
#   --keep         leave the cluster running
#
# Lines (top 10 for every customer; in one session after a warm-up call
# that loads the model into the backend's cache, as implicit's model is in
# memory; "als_cold" is the first in a new session, once a round):
#   als      ALS alone as implicit ranks it: weights {"als": 1, others 0,
#            "history_prior": 0}, only_active false (implicit has no
#            catalogue flags); no pass over the transactions is needed
#   als_prior  the same with the default history_prior (2): the purchase
#            lines are read for each customer's receipt count
#   hybrid   the default blend (als, content, popularity, buy-again)
#   implicit recommend(all customers, N = 10, filter_already_liked_items
#            false) on the same factors
# Then the lists: seg_reco's "als" lists against implicit's, customer by
# customer (implicit sums in float32, seg_reco in double: a different
# order is a near-tie, the score gap is shown).
#
# seg_reco.simd_info() (the kernels used) and the load average are printed:
# on a shared machine the ratio of the medians is what to read.  The build
# is installed into a private copy of the server tree (private_install in
# scripts/lib/build.sh, port SEG_RECO_PGPORT + 6), so another `make
# install` changes nothing during the run.  Logs in bench/out/rankspeed-*.
set -euo pipefail

CUSTOMERS=10000
RUNS=5
THREADS=2
FRESH=0
KEEP=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --customers) CUSTOMERS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ $CUSTOMERS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $THREADS =~ ^[1-9][0-9]*$ ]] ||
    { echo "--customers, --runs and --threads take whole numbers" >&2; exit 2; }
IMPLICIT_PATH=${IMPLICIT_PATH:-}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$HERE/../scripts/lib.sh"

DB=rankspeed_$CUSTOMERS
OUT=$ROOT/bench/out/rankspeed-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
resolve_dirs
if [[ $DATADIR == "$ROOT/.pgdata" ]]; then RS=$ROOT/.rankspeed; else RS=$FALLBACK/rankspeed; fi
mkdir -p "$RS"
chmod 755 "$RS"
if is_root; then chown postgres:postgres "$RS"; fi

setup() {
    private_install "$RS/server"
    POSTGRES_BIN=$PRIVATE_POSTGRES
    DATADIR=$RS/pgdata
    SOCKDIR=$RS/run
    PORT=$(( PORT + 6 ))
    export PGHOST=$SOCKDIR PGPORT=$PORT
    # a server of an earlier run may run another executable: restart it
    if pg_running; then as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast stop >/dev/null; fi
    start_cluster
}

# the demo database: kept while the build's install script is unchanged
demo_db() {
    local hash old=
    hash=$(cat "$RS/server$("$PG_CONFIG" --sharedir)"/extension/seg_reco* | sha256sum | cut -c1-16)
    [[ -f $RS/$DB.hash ]] && old=$(cat "$RS/$DB.hash")
    if [[ $FRESH -eq 0 && $hash == "$old" ]] &&
       [[ -n $(psql_db "$DB" -tAc "SELECT 1 FROM seg_reco.models WHERE name = 'bench'" 2>/dev/null) ]]; then
        say "    reusing database $DB"
        return 0
    fi
    rm -f "$RS/$DB.hash"
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    psql_db "$DB" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco" \
        -c "SELECT count(*) FROM seg_reco.generate_demo_data(customers => $CUSTOMERS)" \
        -c "CALL seg_reco.refresh()" \
        -c "SELECT 1 FROM seg_reco.als_train('bench', factors => 64, iterations => 15)" >/dev/null
    psql_db "$DB" -q -c "VACUUM ANALYZE"
    printf '%s\n' "$hash" >"$RS/$DB.hash"
    say "    built database $DB: demo data ($CUSTOMERS customers), refresh(), als_train('bench', 64 factors, 15 iterations)"
}

W_ALS='{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}'
W_PRIOR='{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0}'
call_of() {
    case $1 in
        als) echo "seg_reco.recommend_all('bench', 10, only_active => false, weights => '$W_ALS')" ;;
        als_prior) echo "seg_reco.recommend_all('bench', 10, only_active => false, weights => '$W_PRIOR')" ;;
        hybrid) echo "seg_reco.recommend_all('bench', 10)" ;;
    esac
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# one round of seg_reco: a session, a warm-up call, then PER timed calls of
# each line in turn; and a cold call of "als" in a new session
PER=3
seg_reco_round() {
    local r kind sql
    # the backend's CPU time (all its threads, /proc/<pid>/stat) over PER
    # calls of "als", as implicit's process_time
    sql="SET seg_reco.threads = $THREADS;
SELECT count(*) FROM $(call_of als) \\g /dev/null
SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) AS st0 \\gset
"
    for r in $(seq 1 "$PER"); do
        sql+="SELECT count(*) FROM $(call_of als) \\g /dev/null
"
    done
    sql+="SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) AS st1 \\gset
SELECT 'als_cpu', round(((split_part(:'st1', ' ', 12)::bigint + split_part(:'st1', ' ', 13)::bigint
                        - split_part(:'st0', ' ', 12)::bigint - split_part(:'st0', ' ', 13)::bigint)
                       / $(getconf CLK_TCK)::numeric / $PER), 4);
"
    for r in $(seq 1 "$PER"); do
        for kind in als als_prior hybrid; do
            sql+="SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT count(*) FROM $(call_of "$kind") \\g /dev/null
SELECT '$kind', round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 4);
"
        done
    done
    psql_db "$DB" -qAtF ' ' <<<"$sql" >>"$OUT/seg_reco.txt"
    psql_db "$DB" -qAtF ' ' <<SQL >>"$OUT/seg_reco.txt"
SET seg_reco.threads = $THREADS;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(*) FROM $(call_of als) \g /dev/null
SELECT 'als_cold', round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 4);
SQL
}

# one round of implicit: its process loads the factors, then PER timed
# recommend() calls after a warm-up one
implicit_round() {
    PYTHONPATH=$IMPLICIT_PATH /usr/bin/python3 "$HERE/implicit_recommend.py" --customers "$OUT/customers.tsv" \
        --products "$OUT/products.tsv" --threads "$THREADS" --runs "$PER" --warmup \
        ${1:+--lists "$OUT/implicit_lists.tsv"} >>"$OUT/implicit.json"
}

# RUNS rounds, seg_reco and implicit in turn (first one, then the other),
# so that both see the same load on a shared machine
measure() {
    local r
    psql_db "$DB" -qAtF ' ' -c "SELECT 'simd', setting, cpu, used FROM seg_reco.simd_info()" >"$OUT/seg_reco.txt"
    : >"$OUT/implicit.json"
    if [[ -n $IMPLICIT_PATH ]]; then
        psql_db "$DB" -qAtc "COPY (SELECT customer_id, factors FROM seg_reco.als_customer_factors WHERE model = 'bench' ORDER BY 1) TO STDOUT" >"$OUT/customers.tsv"
        psql_db "$DB" -qAtc "COPY (SELECT product_id, factors FROM seg_reco.als_product_factors WHERE model = 'bench' ORDER BY 1) TO STDOUT" >"$OUT/products.tsv"
    fi
    for r in $(seq 1 "$RUNS"); do
        if (( r % 2 )); then
            seg_reco_round
            [[ -z $IMPLICIT_PATH ]] || implicit_round "$( (( r == 1 )) && echo lists)"
        else
            [[ -z $IMPLICIT_PATH ]] || implicit_round
            seg_reco_round
        fi
    done
}

# seg_reco's "als" lists against implicit's
compare_lists() {
    psql_db "$DB" -qAtc "COPY (SELECT customer_id, rank, product_id, score FROM $(call_of als)) TO STDOUT" \
        >"$OUT/seg_reco_lists.tsv"
    /usr/bin/python3 - "$OUT/seg_reco_lists.tsv" "$OUT/implicit_lists.tsv" "$OUT/customers.tsv" "$OUT/products.tsv" <<'PY'
import sys
import numpy as np
def lists(path):
    d = {}
    for line in open(path):
        c, r, p, s = line.split("\t")
        d.setdefault(int(c), []).append((int(r), int(p)))
    return {c: [p for _, p in sorted(v)] for c, v in d.items()}
def factors(path):
    out = {}
    for line in open(path):
        i, v = line.rstrip("\n").split("\t")
        out[int(i)] = np.array([float(x) for x in v.strip("{}").split(",")], dtype=np.float64)
    return out
a, b = lists(sys.argv[1]), lists(sys.argv[2])
cf, pf = factors(sys.argv[3]), factors(sys.argv[4])
same_order = same_set = 0
gaps = []
for c, la in a.items():
    lb = b.get(c, [])
    if la == lb:
        same_order += 1
    if set(la) == set(lb):
        same_set += 1
    if la != lb:
        # where they part: the exact (double) scores of the products involved
        x = cf[c]
        sa = [float(x @ pf[p]) for p in la]
        sb = [float(x @ pf[p]) for p in lb]
        tenth = min(sa[-1], sb[-1])
        diff = set(la) ^ set(lb)
        top = max(sa[0], 1e-300)
        if diff:
            gaps.append(max(abs(float(x @ pf[p]) - tenth) for p in diff) / top)
        else:
            gaps.append(max(abs(sa[i] - sb[i]) for i in range(len(sa))) / top)
n = len(a)
print("lists: %d customers; the same 10 products in the same order: %d; the same set: %d; "
      "differing: %d, each a near-tie (largest relative score gap at the cut: %s)"
      % (n, same_order, same_set, n - same_order, "%.2g" % max(gaps) if gaps else "-"))
PY
}

report() {
    local kind med imp=-
    printf '\nrecommend_all vs implicit %s batch recommend, same model (%s customers, %s products, 64 factors), top 10, %s thread(s)\n' \
        "$(sed -n 's/.*"implicit": "\([^"]*\)".*/\1/p' "$OUT/implicit.json" 2>/dev/null | head -1)" \
        "$(psql_db "$DB" -qAtc "SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'bench'")" \
        "$(psql_db "$DB" -qAtc "SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'bench'")" "$THREADS"
    awk '$1 == "simd" { printf "kernels: seg_reco.simd = %s, CPU best %s, used %s\n", $2, $3, $4 }' "$OUT/seg_reco.txt"
    if [[ -s $OUT/implicit.json ]]; then
        /usr/bin/python3 -c 'import json, sys; [print(x) for l in open(sys.argv[1]) for x in json.loads(l)["recommend_runs"]]' \
            "$OUT/implicit.json" >"$OUT/implicit_runs.txt"
        imp=$(median <"$OUT/implicit_runs.txt")
        printf '  %-34s median %7.4f s  (%s runs: %s)\n' "implicit recommend" "$imp" \
            "$(wc -l <"$OUT/implicit_runs.txt")" "$(tr '\n' ' ' <"$OUT/implicit_runs.txt")"
    fi
    if [[ -s $OUT/implicit.json ]]; then
        printf '  %-34s median %7.4f s  (per call, its process)\n' "implicit recommend, CPU time" \
            "$(/usr/bin/python3 -c 'import json, sys; [print(json.loads(l)["recommend_cpu_seconds"]) for l in open(sys.argv[1])]' "$OUT/implicit.json" | median)"
    fi
    printf '  %-34s median %7.4f s  (per call, the backend and its threads)\n' "seg_reco recommend_all als, CPU" \
        "$(awk '$1 == "als_cpu" { print $2 }' "$OUT/seg_reco.txt" | median)"
    for kind in als als_cold als_prior hybrid; do
        med=$(awk -v k="$kind" '$1 == k { print $2 }' "$OUT/seg_reco.txt" | median)
        printf '  %-34s median %7.4f s  (%s runs: %s)%s\n' "seg_reco recommend_all $kind" "$med" \
            "$(awk -v k="$kind" '$1 == k' "$OUT/seg_reco.txt" | wc -l)" \
            "$(awk -v k="$kind" '$1 == k { printf "%s ", $2 }' "$OUT/seg_reco.txt")" \
            "$( [[ $imp != - ]] && awk -v a="$med" -v b="$imp" 'BEGIN { printf " -> %.2fx implicit'"'"'s time", a / b }')"
    done
    printf '(%s rounds, seg_reco and implicit in turn, %s timed calls of each line a round after a warm-up; load average %s; %s CPUs)\n' \
        "$RUNS" "$PER" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
}

step "build into a private server tree, cluster" setup
step "demo database" demo_db
step "$RUNS rounds: seg_reco recommend_all and implicit recommend in turn" measure
if [[ -n $IMPLICIT_PATH ]]; then
    step "the lists, seg_reco against implicit" compare_lists
else
    say "IMPLICIT_PATH not set: implicit not measured (bench/build_implicit.sh builds it)"
fi
report | tee "$OUT/report.txt"
[[ $KEEP -eq 1 ]] || as_pg "$PGBIN/pg_ctl" -D "$DATADIR" -w -t 120 -m fast stop >/dev/null
say "logs: $OUT"
