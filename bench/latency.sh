#!/usr/bin/env bash
# Serving latency: recommend_for (and why_recommended, similar_products as
# secondary lines) under pgbench with 2 clients, on the demo data (10,000
# customers, 5,000 products, the ALS model of refresh(), d = 64), against
# issue 12's baseline (recommend_for median 1.0-1.1 ms) and target (under
# 0.5 ms).
#
#   bash bench/latency.sh                     # this checkout
#   bash bench/latency.sh --before HEAD~1     # and a revision, interleaved
#
#   --before REV   also build git revision REV (git archive into a scratch
#                  tree) and measure it in the same rounds, alternating which
#                  goes first; then check that both give the same lists and
#                  scores (recommend_for, why_recommended, similar_products
#                  over a sample of customers and products)
#   --rounds N     rounds (default 5); each runs every line on every build
#   --seconds S    pgbench duration of recommend_for per round (default 20);
#                  the secondary lines run half as long
#   --clients C    pgbench clients (default 2, one thread each)
#   --lines L      which lines: any of rf, why, sim (default "rf why sim")
#   --fresh        rebuild the demo databases
#   --keep         leave the clusters running at the end
#
# Each build is installed into a private copy of the server tree
# (private_install in scripts/lib/build.sh) with a cluster of its own, so a
# `make install` by someone else changes nothing during the run; both are in
# .latency/ (or /var/tmp/seg_reco-<hash>/latency), ports SEG_RECO_PGPORT + 3
# (this checkout) and + 4 (--before).  Each holds database latency_demo:
# generate_demo_data() and refresh(), rebuilt only when the build's install
# script changes (or with --fresh).
#
# Latency is pgbench's per-transaction log (-l): the median and the 95th
# percentile over every call of every round, the first call of each
# connection left out (it loads the model into the backend's cache); the
# per-round medians are listed beside them, as the machine may be shared.
# On a busy machine the latency is mostly waiting for a CPU, so each round
# also measures the backend's CPU time per call (2,000 calls in one
# statement, from /proc/<pid>/stat: the server must run on this machine).
# Logs in bench/out/latency-<time>/.
set -euo pipefail

ROUNDS=5
SECONDS_RF=20
CPU_CALLS=2000
CLIENTS=2
LINES="rf why sim"
BEFORE=
FRESH=0
KEEP=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --before) BEFORE=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --seconds) SECONDS_RF=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --lines) LINES=$2; shift 2 ;;
        --fresh) FRESH=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,39p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $SECONDS_RF =~ ^[1-9][0-9]*$ && $CLIENTS =~ ^[1-9][0-9]*$ ]] \
    || { echo "--rounds, --seconds and --clients take whole numbers" >&2; exit 2; }
for l in $LINES; do
    [[ $l == rf || $l == why || $l == sim ]] || { echo "unknown line $l (rf, why, sim)" >&2; exit 2; }
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$HERE/../scripts/lib.sh"

DB=latency_demo
BASE_PORT=$PORT
OUT=$ROOT/bench/out/latency-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
resolve_dirs
if [[ $DATADIR == "$ROOT/.pgdata" ]]; then LAT=$ROOT/.latency; else LAT=$FALLBACK/latency; fi
mkdir -p "$LAT"
chmod 755 "$LAT"
if is_root; then chown postgres:postgres "$LAT"; fi

BUILDS=(this)
[[ -n $BEFORE ]] && BUILDS+=(before)
declare -A B_PORT B_SOCK B_DATA B_BIN B_DESC

# use_build LABEL: point the cluster helpers (scripts/lib/cluster.sh) at it
use_build() {
    DATADIR=${B_DATA[$1]}
    SOCKDIR=${B_SOCK[$1]}
    PORT=${B_PORT[$1]}
    POSTGRES_BIN=${B_BIN[$1]}
}

# build_tree LABEL SRC: private_install of the checkout SRC for build LABEL
build_tree() {
    local label=$1 src=$2 dir=$LAT/$1
    mkdir -p "$dir"
    (ROOT=$src; private_install "$dir/server")
    B_BIN[$label]=$dir/server$("$PG_CONFIG" --bindir)/postgres
    B_DATA[$label]=$dir/pgdata
    B_SOCK[$label]=$dir/run
}

# the demo database of the current build: kept while its install script is unchanged
demo_db() {
    local label=$1 hash old=
    hash=$(cat "$LAT/$label/server$("$PG_CONFIG" --sharedir)"/extension/seg_reco* | sha256sum | cut -c1-16)
    [[ -f $LAT/$label/db.hash ]] && old=$(cat "$LAT/$label/db.hash")
    if [[ $FRESH -eq 0 && $hash == "$old" ]] &&
       [[ -n $(psql_db "$DB" -tAc "SELECT 1 FROM pg_extension WHERE extname = 'seg_reco'") ]]; then
        say "    reusing database $DB ($label)"
        return 0
    fi
    rm -f "$LAT/$label/db.hash"
    psql_db postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    psql_db "$DB" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco" \
        -c "SELECT count(*) FROM seg_reco.generate_demo_data()" -c "CALL seg_reco.refresh()" >/dev/null
    psql_db "$DB" -q -c "VACUUM ANALYZE"
    printf '%s\n' "$hash" >"$LAT/$label/db.hash"
    say "    built database $DB ($label): demo data and refresh()"
}

setup_builds() {
    B_PORT[this]=$(( BASE_PORT + 3 ))
    B_DESC[this]="this checkout ($(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src sql || echo ', modified'))"
    build_tree this "$ROOT"
    if [[ -n $BEFORE ]]; then
        local rev src=$LAT/before/src
        rev=$(git -C "$ROOT" rev-parse --verify "$BEFORE^{commit}")
        B_PORT[before]=$(( BASE_PORT + 4 ))
        B_DESC[before]="before ($(git -C "$ROOT" rev-parse --short "$rev"))"
        if [[ ! -f $src/.rev || $(cat "$src/.rev") != "$rev" ]]; then
            rm -rf "$src"
            mkdir -p "$src"
            git -C "$ROOT" archive "$rev" | tar -x -C "$src"
            printf '%s\n' "$rev" >"$src/.rev"
        fi
        build_tree before "$src"
    fi
}

start_builds() {
    local b
    for b in "${BUILDS[@]}"; do
        use_build "$b"
        # a server of an earlier run may run another executable: restart it
        if pg_running; then stop_cluster; fi
        start_cluster
        demo_db "$b"
    done
}

write_scripts() {
    printf '\\set c random(1, 10000)\nSELECT * FROM seg_reco.recommend_for(:c, 10);\n' >"$OUT/rf.sql"
    printf '\\set c random(1, 10000)\n\\set p random(1, 5000)\nSELECT * FROM seg_reco.why_recommended(:c, :p);\n' >"$OUT/why.sql"
    printf '\\set p random(1, 5000)\nSELECT * FROM seg_reco.similar_products(:p, 10);\n' >"$OUT/sim.sql"
}

# run_line BUILD LINE ROUND
run_line() {
    local b=$1 line=$2 r=$3 secs=$SECONDS_RF
    [[ $line == rf ]] || secs=$(( (SECONDS_RF + 1) / 2 ))
    use_build "$b"
    (cd "$OUT" && "$PGBIN/pgbench" -h "$SOCKDIR" -p "$PORT" -U postgres -n -c "$CLIENTS" -j "$CLIENTS" \
        -T "$secs" -f "$OUT/$line.sql" -l --log-prefix="$b.$line.r$r" "$DB" >"$OUT/$b.$line.r$r.out" 2>&1) ||
        { cat "$OUT/$b.$line.r$r.out" >&2; die "pgbench failed ($b, $line, round $r)"; }
}

# latencies (ms) of the given logs, the first call of each connection left out
latencies() { cat "$@" | awk '$2 > 1 { printf "%.3f\n", $3 / 1000 }'; }
# "n median p95" of numbers on stdin
stats() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "0 - -"; exit }
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        p = a[int(0.95 * NR + 0.999999)]
        printf "%d %.3f %.3f\n", NR, m, p }'
}

# the SQL of a line's call for customer/product number c (server-side loops)
line_expr() {
    case $1 in
        rf) echo "seg_reco.recommend_for((c * 7919) % 10000 + 1, 10)" ;;
        why) echo "seg_reco.why_recommended((c * 7919) % 10000 + 1, (c * 31) % 5000 + 1)" ;;
        sim) echo "seg_reco.similar_products((c * 31) % 5000 + 1, 10)" ;;
    esac
}

# cpu_per_call BUILD LINE ROUND: the backend's CPU time per call (ms) over
# CPU_CALLS calls in one statement (/proc/<pid>/stat, after 200 calls that
# fill the caches), appended to $OUT/BUILD.LINE.cpu: less sensitive to a
# busy machine than the latency, which includes waiting for a CPU
cpu_per_call() {
    local b=$1 line=$2 expr
    expr=$(line_expr "$line")
    use_build "$b"
    psql_db "$DB" -qtA >/dev/null <<SQL
SELECT count(*) FROM generate_series(1, 200) c, LATERAL $expr r;
SELECT pg_catalog.pg_backend_pid() AS lat_pid \gset
\setenv LAT_PID :lat_pid
\! awk '{ print \$14 + \$15 }' /proc/\$LAT_PID/stat > "$OUT/cpu0"
SELECT count(*) FROM generate_series(1, $CPU_CALLS) c, LATERAL $expr r;
\! awk -v t0="\$(cat "$OUT/cpu0")" -v hz="\$(getconf CLK_TCK)" '{ printf "%.4f\\n", (\$14 + \$15 - t0) * 1000 / hz / $CPU_CALLS }' /proc/\$LAT_PID/stat >> "$OUT/$b.$line.cpu"
SQL
}

measure() {
    local r line b order
    for r in $(seq 1 "$ROUNDS"); do
        order=("${BUILDS[@]}")
        if (( r % 2 == 0 )) && [[ ${#BUILDS[@]} -eq 2 ]]; then order=("${BUILDS[1]}" "${BUILDS[0]}"); fi
        for line in $LINES; do
            for b in "${order[@]}"; do
                run_line "$b" "$line" "$r"
                cpu_per_call "$b" "$line"
                read -r n med p95 < <(latencies "$OUT/$b.$line.r$r".[0-9]* | stats)
                printf '    round %d  %-4s %-7s %6d calls  median %s ms  p95 %s ms  cpu %s ms/call  (load %s)\n' \
                    "$r" "$line" "$b" "$n" "$med" "$p95" "$(tail -n 1 "$OUT/$b.$line.cpu")" "$(cut -d' ' -f1 /proc/loadavg)"
            done
        done
    done
}

report() {
    local line b n med p95 rounds r name cpu
    printf '\n%-17s %-28s %7s %9s %7s %9s   %s\n' "line" "build" "calls" "median" "p95" "cpu/call" "per-round medians (ms)"
    for line in $LINES; do
        case $line in rf) name=recommend_for ;; why) name=why_recommended ;; sim) name=similar_products ;; esac
        for b in "${BUILDS[@]}"; do
            read -r n med p95 < <(latencies "$OUT/$b.$line".r*.[0-9]* | stats)
            cpu=$(stats <"$OUT/$b.$line.cpu" | cut -d' ' -f2)
            rounds=
            for r in $(seq 1 "$ROUNDS"); do
                rounds+=" $(latencies "$OUT/$b.$line.r$r".[0-9]* | stats | cut -d' ' -f2)"
            done
            printf '%-17s %-28s %7d %9s %7s %9s  %s\n' "$name" "${B_DESC[$b]}" "$n" "$med" "$p95" "$cpu" "$rounds"
        done
        if [[ $line == rf ]]; then
            printf '%-17s %-28s %7s %9s\n' "" "issue 12 baseline" "" "1.0-1.1"
            printf '%-17s %-28s %7s %9s\n' "" "issue 12 target" "" "< 0.5"
        fi
    done
    printf '(ms; pgbench -c %d -j %d, %d rounds of %d s for recommend_for and %d s for the others, builds\n' \
        "$CLIENTS" "$CLIENTS" "$ROUNDS" "$SECONDS_RF" $(( (SECONDS_RF + 1) / 2 ))
    printf ' interleaved, the first call of each connection left out; cpu/call: median over the rounds of\n'
    printf ' the backend CPU time of %d calls in one statement; load average at the end: %s; %d CPUs)\n' \
        "$CPU_CALLS" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
}

# the same answers from both builds: lists and scores over a sample, compared
# with every digit (extra_float_digits 1) and to 15 significant digits (0)
compare_results() {
    local b q efd sums
    q="SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
         SELECT format('rf %s %s', c, r) AS x FROM generate_series(1, 10000, 41) c,
                LATERAL seg_reco.recommend_for(c, 10) r
         UNION ALL SELECT format('rfn %s %s', c, r) FROM generate_series(7, 10000, 97) c,
                LATERAL seg_reco.recommend_for(c, 10, include_purchased => false, diversity => 0.3) r
         UNION ALL SELECT format('why %s %s', c, r) FROM generate_series(3, 10000, 211) c,
                LATERAL (SELECT product_id FROM seg_reco.recommend_for(c, 1)) p,
                LATERAL seg_reco.why_recommended(c, p.product_id) r
         UNION ALL SELECT format('sim %s %s', p, r) FROM generate_series(1, 5000, 53) p,
                LATERAL seg_reco.similar_products(p, 10) r) s"
    for efd in 1 0; do
        sums=()
        for b in "${BUILDS[@]}"; do
            use_build "$b"
            sums+=("$(psql_db "$DB" -tAq -c "SET extra_float_digits = $efd" -c "$q" | tail -n 1)")
        done
        if [[ ${sums[0]} == "${sums[1]}" ]]; then
            say "    extra_float_digits $efd: the same lists and scores from both builds (md5 ${sums[0]})"
        else
            say "    extra_float_digits $efd: RESULTS DIFFER between the builds (md5 ${sums[*]})"
        fi
    done
}

stop_builds() {
    local b
    for b in "${BUILDS[@]}"; do
        use_build "$b"
        stop_cluster
    done
}

step "build into private server trees" setup_builds
step "clusters and demo databases" start_builds
write_scripts
if [[ -n $BEFORE ]]; then step "same results" compare_results; fi
step "pgbench: $ROUNDS rounds" measure
report | tee "$OUT/report.txt"
[[ $KEEP -eq 1 ]] || stop_builds
say "logs: $OUT"
