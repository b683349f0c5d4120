#!/usr/bin/env bash
# Scale benchmark (issue 12): demo-data generation, a full refresh and an
# incremental refresh after one day of new lines at several scales, each on
# its own database; the growth exponent of every step between scales; the
# issue's targets and its baseline beside.
#
#   bash bench/scale.sh [--scales "1 10 30"] [--keep]
#                       [--socket DIR --port N]   (use a running server instead of scripts/lib.sh's)
#   bash bench/scale.sh --summary bench/out/scale-<time>   (the tables of a run again, from its figures)
#
# For a long run, SEG_RECO_PGBIN=<bin directory of a private PostgreSQL 15>
# builds, installs into and runs that installation (its own data directory,
# scripts/lib.sh), so that other `make install`s into the system's do not
# change the module under the benchmark; SEG_RECO_PGPORT sets the port.
#
# Scale s is generate_demo_data(customers => 10000 * s) with its defaults
# (5,000 products; 81.1 receipt lines and 5 digital events per customer):
# 1 = 811,465 lines, 10 = 8.1 M, 30 = 24.3 M, 100 = 81 M, 200 = 162 M.
# Per scale, on database seg_reco_bench_scale_x<s> (dropped at the end
# unless --keep):
#   - generate_demo_data in a new session: time, rows, the backend's peak
#     memory: VmHWM (includes the shared buffers it touched) and its peak
#     private memory (RssAnon, sampled from /proc every 0.5 s);
#   - VACUUM ANALYZE (as autovacuum would do before a nightly run);
#   - CALL seg_reco.refresh('full') in a new session: total time and peak
#     memory as above, each step's time and peak memory (refresh_log:
#     duration_ms, peak_memory_bytes = the backend's VmHWM reset at the
#     step's start);
#   - one day of lines (bench/lib.sh make_day: about 0.14% of the lines,
#     the day of the last 90 nearest the mean, moved to the day after the
#     last), loaded with the capture triggers on; then
#     CALL seg_reco.refresh('incremental') in a new session: the same
#     figures, and a check that refresh_log.kind says incremental;
#   - disk: pg_database_size and the biggest relations.
# Then each step's growth exponent (log-log slope of time against scale: 1
# is linear) between consecutive scales and over all of them (least
# squares), each step extrapolated to x200 with its last exponent, the
# issue's targets and its baseline.
#
# IMPLICIT_PATH=DIR (a build of implicit 0.7.2 by bench/build_implicit.sh,
# outside the repository): after each full refresh, the pairs of the
# pipeline's ALS model 'default' (its own query, summed weights) go to
# implicit's fit and batch recommend (top 10 for every customer, 2 threads,
# one run, the model's factors, iterations, regularization and alpha), side
# by side with seg_reco's training time (the model's train_seconds) and
# recommend_all('default', 10) with ALS alone over every product (what
# implicit's recommend computes: only_active => false, no history prior; as
# bench/rankspeed.sh), in a new session.
#
# Nothing is asserted: it prints, and keeps the figures and logs in
# bench/out/scale-<time>/.  One run per scale (the large ones take long),
# so figures on a shared machine are noisy: the load average is printed
# beside each refresh.  Parallel workers of a backend (index builds,
# parallel queries) are processes of their own: their memory is not in the
# backend's figures.
set -euo pipefail
SCALES="1 10 30"
KEEP=0
FROM=
SOCK=
PGPORT_=
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --summary) FROM=$2; shift 2 ;;
        --socket) SOCK=$2; shift 2 ;;
        --port) PGPORT_=$2; shift 2 ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for s in $SCALES; do
    [[ $s =~ ^[0-9]+$ && $s -ge 1 && $s -le 500 ]] || { echo "scales are whole numbers from 1 to 500, got $s" >&2; exit 2; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

declare -A R
STEPS=()
if [[ -n $FROM ]]; then
    # the figures of an earlier run: its tables again (with this script's)
    [[ -f $FROM/figures.tsv ]] || { echo "no figures.tsv in $FROM" >&2; exit 2; }
    OUT=$FROM
    SUMMARY=$OUT/summary-again-$(date +%Y%m%d-%H%M%S).txt
    while IFS=$'\t' read -r key value; do R[$key]=$value; done <"$OUT/figures.tsv"
    if [[ -f $OUT/steps.txt ]]; then
        mapfile -t STEPS <"$OUT/steps.txt"
    else
        STEPS=(customer_features clusters customer_value content popularity rules als_model recommendations
               customer_segments segment_summary cohorts)
    fi
    SCALES=$(printf '%s\n' "${!R[@]}" | awk -F, '$2 == "gen" { print $1 }' | sort -n | tr '\n' ' ')
    say() { printf '%s\n' "$*"; }
else
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_connect

OUT=$HERE/out/scale-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# record_steps DB RUN PREFIX: R[s,PREFIX,step] = ms, R[s,PREFIX.peak,step] = MB,
# the step names in STEPS (first seen order), the kinds in R[s,PREFIX.kind]
record_steps() {
    local db=$1 run=$2 pre=$3 name dur peak kind kinds='' x seen
    while IFS='|' read -r name dur peak kind; do
        [[ -z $name ]] && continue
        R[$s,$pre,$name]=$dur
        R[$s,$pre.peak,$name]=$peak
        [[ " $kinds " == *" $kind "* ]] || kinds+="${kinds:+ }$kind"
        seen=0
        for x in "${STEPS[@]+"${STEPS[@]}"}"; do [[ $x == "$name" ]] && seen=1; done
        [[ $seen -eq 0 ]] && STEPS+=("$name")
        say "      $(printf '%-20s %12s ms  peak %6s MB  %s' "$name" "$dur" "$peak" "$kind")"
    done < <(run_steps "$db" "$run")
    R[$s,$pre.kind]=$kinds
}

# implicit_side DB: implicit's fit and batch recommend on the pairs of the
# model 'default', and seg_reco's train_seconds and recommend_all (ALS alone)
implicit_side() {
    local db=$1 pairs q f it reg al ref ms
    IFS='|' read -r q f it reg al < <(psql_db "$db" -At -c "SELECT params ->> 'query', params ->> 'factors', params ->> 'iterations',
                                                                    params ->> 'regularization', params ->> 'alpha'
                                                               FROM seg_reco.models WHERE name = 'default'")
    pairs=$OUT/pairs_x$s.tsv
    psql_db "$db" -Atc "COPY (SELECT customer_id, product_id, sum(weight) FROM ($q) s GROUP BY 1, 2) TO STDOUT" >"$pairs"
    ref=$(PYTHONPATH=$IMPLICIT_PATH /usr/bin/python3 "$HERE/implicit_ref.py" --pairs "$pairs" --threads 2 --runs 1 \
              --factors "$f" --iterations "$it" --regularization "$reg" --alpha "$al" 2>"$OUT/implicit_x$s.err") || ref=
    rm -f "$pairs"
    R[$s,impl_fit]=$(jfield "$ref" fit_seconds); R[$s,impl_rec]=$(jfield "$ref" recommend_seconds)
    R[$s,impl_pairs]=$(jfield "$ref" pairs)
    R[$s,ours_fit]=$(psql_db "$db" -At -c "SELECT metrics ->> 'train_seconds' FROM seg_reco.models WHERE name = 'default'")
    ms=$(timed "$db" "SELECT count(*) FROM seg_reco.recommend_all('default', 10, only_active => false, weights => '{\"als\": 1, \"history_prior\": 0}');" "$OUT/recommend_all_x$s.log")
    R[$s,ours_rec]=$(awk -v ms="$ms" 'BEGIN { if (ms == "-") print "-"; else printf "%.3f", ms / 1000 }')
    say "    ALS ($f factors, $it iterations, ${R[$s,impl_pairs]:-?} pairs): seg_reco train ${R[$s,ours_fit]:--} s, implicit fit ${R[$s,impl_fit]:--} s; top 10 for all: seg_reco recommend_all (ALS alone) ${R[$s,ours_rec]} s, implicit recommend ${R[$s,impl_rec]:--} s"
}
jfield() { [[ -z $1 ]] && { echo -; return; }; /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "-"))' "$1" "$2"; }

R[meta,server]="PostgreSQL $(psql_db postgres -At -c 'SHOW server_version') at $PGBIN, $(date -u +%Y-%m-%d); shared_buffers $(psql_db postgres -At -c 'SHOW shared_buffers'), work_mem $(psql_db postgres -At -c 'SHOW work_mem'), maintenance_work_mem $(psql_db postgres -At -c 'SHOW maintenance_work_mem')"
R[meta,loadbefore]=$(loadavg)
say "load before: $(loadavg) ($(nproc) cores)"
for s in $SCALES; do
    db=seg_reco_bench_scale_x$s
    c=$((10000 * s))
    say "==> scale x$s: $c customers (database $db); load $(loadavg)"
    bench_fresh_db "$db"

    read -r ms hwm anon st < <(run_sampled "$db" "SELECT relation, rows FROM seg_reco.generate_demo_data(customers => $c);" "$OUT/generate_x$s.log")
    R[$s,gen]=$ms; R[$s,genhwm]=$hwm; R[$s,genanon]=$anon; R[$s,genst]=$st
    R[$s,lines]=$(awk -F'|' '$1 == "transactions" { print $2 }' "$OUT/generate_x$s.log")
    R[$s,events]=$(awk -F'|' '$1 == "digital_events" { print $2 }' "$OUT/generate_x$s.log")
    say "    generate_demo_data: $ms ms ($st), ${R[$s,lines]:-?} lines, ${R[$s,events]:-?} events, VmHWM ${hwm} kB, peak RssAnon ${anon} kB"
    if [[ $st != ok ]]; then
        tail -n 5 "$OUT/generate_x$s.log" | sed 's/^/    /'
        continue
    fi

    read -r ms hwm anon st < <(run_sampled "$db" "VACUUM ANALYZE;" "$OUT/vacuum_x$s.log")
    R[$s,vac]=$ms
    say "    VACUUM ANALYZE: $ms ms"

    read -r ms hwm anon st < <(run_sampled "$db" "CALL seg_reco.refresh('full');" "$OUT/refresh_x$s.log")
    R[$s,ref]=$ms; R[$s,refhwm]=$hwm; R[$s,refanon]=$anon; R[$s,refst]=$st
    R[$s,load]=$(loadavg)
    say "    refresh('full'): $ms ms ($st), VmHWM ${hwm} kB, peak RssAnon ${anon} kB; load ${R[$s,load]}"
    if [[ $st != ok ]]; then
        tail -n 5 "$OUT/refresh_x$s.log" | sed 's/^/    /'
    else
        record_steps "$db" "$(last_run "$db")" full
    fi

    R[$s,dbsize]=$(psql_db "$db" -At -c "SELECT pg_database_size(current_database())")

    if [[ $st == ok && -n ${IMPLICIT_PATH:-} ]]; then
        implicit_side "$db"
    fi

    if [[ $st == ok ]]; then
        read -r day cust < <(make_day "$db")
        R[$s,day]=$day; R[$s,daycust]=$cust
        R[$s,dayload]=$(load_day "$db" "$OUT/load_day_x$s.log")
        say "    one day: $day lines, $cust customers, loaded in ${R[$s,dayload]} ms (capture triggers on)"
        read -r ms hwm anon st < <(run_sampled "$db" "CALL seg_reco.refresh('incremental');" "$OUT/incremental_x$s.log")
        R[$s,inc]=$ms; R[$s,inchwm]=$hwm; R[$s,incanon]=$anon; R[$s,incst]=$st
        R[$s,incload]=$(loadavg)
        say "    refresh('incremental'): $ms ms ($st), VmHWM ${hwm} kB, peak RssAnon ${anon} kB; load ${R[$s,incload]}"
        if [[ $st != ok ]]; then
            tail -n 5 "$OUT/incremental_x$s.log" | sed 's/^/    /'
        else
            record_steps "$db" "$(last_run "$db")" inc
            IFS='|' read -r R[$s,recomputed] R[$s,increason] < <(psql_db "$db" -At -c "SELECT detail ->> 'customers_recomputed', detail ->> 'reason'
                                     FROM seg_reco.refresh_log WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features'")
            if [[ ${R[$s,inc.kind]} != incremental ]]; then
                say "    WARNING: refresh_log.kind of the run asked to be incremental: ${R[$s,inc.kind]} (${R[$s,increason]:-no reason logged})"
            fi
        fi
        psql_db "$db" -q -c "DROP TABLE public.bench_day"
    fi

    psql_db "$db" -At -F ' ' -c "SELECT pg_size_pretty(pg_total_relation_size(c.oid)), n.nspname || '.' || c.relname
                                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                  WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                                  ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6" >"$OUT/relations_x$s.txt"
    R[$s,rels]=$(awk '{ printf "%s%s %s %s", (NR > 1 ? ", " : ""), $3, $1, $2 }' "$OUT/relations_x$s.txt")
    say "    disk after the full refresh: $(awk -v b="${R[$s,dbsize]}" 'BEGIN { printf "%.2f GB", b / 1073741824 }'); biggest now (with indexes): ${R[$s,rels]}"
    if [[ $KEEP -eq 0 ]]; then
        psql_db postgres -q -c "DROP DATABASE IF EXISTS $db"
    fi
done
R[meta,loadafter]=$(loadavg)
say "load after: ${R[meta,loadafter]}"
printf '%s\n' "${STEPS[@]+"${STEPS[@]}"}" >"$OUT/steps.txt"
fi

# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.0f", k / 1024 }'; }
secs() { awk -v ms="$1" 'BEGIN { if (ms == "" || ms == "-") print "-"; else printf "%.1f", ms / 1000 }'; }
# slope X1 Y1 X2 Y2: log-log slope
slope() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { if (b == "" || d == "" || b == "-" || d == "-" || b <= 0 || d <= 0 || a == c) print "-"; else printf "%.2f", log(d / b) / log(c / a) }'; }
# fit "x1 y1 x2 y2 ...": least-squares slope of log y on log x
fit() { awk -v p="$1" 'BEGIN { n = split(p, v, " "); k = 0; for (i = 1; i < n; i += 2) if (v[i + 1] != "-" && v[i + 1] > 0) { x[++k] = log(v[i]); y[k] = log(v[i + 1]) } if (k < 2) { print "-"; exit } for (i = 1; i <= k; i++) { sx += x[i]; sy += y[i] } mx = sx / k; my = sy / k; for (i = 1; i <= k; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) ^ 2 } if (sxx == 0) print "-"; else printf "%.2f", sxy / sxx }'; }
# extra MS FROM TO K: MS at scale FROM extrapolated to scale TO with exponent K (ms)
extra() { awk -v t="$1" -v a="$2" -v b="$3" -v k="$4" 'BEGIN { if (t == "" || t == "-" || k == "-") print "-"; else printf "%.0f", t * (b / a) ^ k }'; }

# peak KIND SCALE: the run's peak (MB): the largest step peak (VmHWM reset at
# each step's start), or the backend's VmHWM at the end when larger
peak() {
    local hwm p=- st v
    if [[ $1 == full ]]; then hwm=$(mb "${R[$2,refhwm]:-}"); else hwm=$(mb "${R[$2,inchwm]:-}"); fi
    for st in "${STEPS[@]+"${STEPS[@]}"}"; do
        v=${R[$2,$1.peak,$st]:--}
        if [[ $v != - ]] && { [[ $p == - ]] || [[ $v -gt $p ]]; }; then p=$v; fi
    done
    if [[ $hwm == - ]]; then echo "$p"
    elif [[ $p == - ]] || [[ $hwm -gt $p ]]; then echo "$hwm"
    else echo "$p"; fi
}

read -r -a SC <<<"$SCALES"
last=${SC[-1]}
prev=; if [[ ${#SC[@]} -ge 2 ]]; then prev=${SC[-2]}; fi
# val KIND SCALE STEP: a figure (ms) of the table of KIND (full or inc)
val() {
    case $3 in
        "refresh (total)") if [[ $1 == full ]]; then echo "${R[$2,ref]:-}"; else echo "${R[$2,inc]:-}"; fi ;;
        generate_demo_data) echo "${R[$2,gen]:-}" ;;
        *) echo "${R[$2,$1,$3]:-}" ;;
    esac
}
# the exponent used to extrapolate a step: the last pair's, or 1 when the
# step took under 0.5 s at the smaller scale (fixed costs, noise) or the
# pair's is missing; never below the least-squares one when that is steeper
exp_of() {
    local kind=$1 st=$2 va vb k kf pts='' x
    va=$(val "$kind" "$prev" "$st"); vb=$(val "$kind" "$last" "$st")
    k=-
    if [[ -n $prev && -n $va && -n $vb ]] && awk -v a="$va" 'BEGIN { exit !(a >= 500) }'; then
        k=$(slope "$prev" "$va" "$last" "$vb")
    fi
    [[ $k == - ]] && k=1.00
    for x in "${SC[@]}"; do pts+=" $x $(val "$kind" "$x" "$st")"; done
    kf=$(fit "$pts")
    if [[ $kf != - ]] && awk -v a="$kf" -v b="$k" 'BEGIN { exit !(a > b) }'; then k=$kf; fi
    echo "$k"
}

# steps_table KIND TITLE: seconds per scale, exponents, x200 estimate, peak MB per scale
EST200_full=0
EST200_inc=0
steps_table() {
    local kind=$1 hdr line st s i a b pts v p k e tot=0
    echo
    echo "-- $2: seconds at each scale, growth exponent (log-log slope; 1 = linear) between"
    echo "   consecutive scales and over all (least squares), x200 extrapolated from x$last with the"
    echo "   exponent in 'k' (the last pair's; 1 for steps under 0.5 s at x${prev:-?} or with one scale; the overall one when steeper),"
    echo "   and the step's peak memory (MB, VmHWM reset at the step's start)"
    hdr=$(printf '%-20s' step)
    for s in "${SC[@]}"; do hdr+=$(printf ' %9s' "x$s s"); done
    for ((i = 1; i < ${#SC[@]}; i++)); do hdr+=$(printf ' %9s' "${SC[i-1]}->${SC[i]}"); done
    hdr+=$(printf ' %6s %6s %10s' all k "x200 s")
    for s in "${SC[@]}"; do hdr+=$(printf ' %8s' "x$s MB"); done
    echo "$hdr"
    for st in "${STEPS[@]+"${STEPS[@]}"}" "refresh (total)"; do
        line=$(printf '%-20s' "$st")
        pts=
        for s in "${SC[@]}"; do
            v=$(val "$kind" "$s" "$st")
            line+=$(printf ' %9s' "$(secs "$v")")
            pts+=" $s ${v:--}"
        done
        for ((i = 1; i < ${#SC[@]}; i++)); do
            a=${SC[i-1]}; b=${SC[i]}
            line+=$(printf ' %9s' "$(slope "$a" "$(val "$kind" "$a" "$st")" "$b" "$(val "$kind" "$b" "$st")")")
        done
        k=$(exp_of "$kind" "$st")
        e=$(extra "$(val "$kind" "$last" "$st")" "$last" 200 "$k")
        if [[ $st != "refresh (total)" && $e != - ]]; then tot=$((tot + e)); fi
        [[ $st == "refresh (total)" ]] && e="$tot (sum)"
        line+=$(printf ' %6s %6s %10s' "$(fit "$pts")" "$k" "$(secs "${e%% *}")${e#"${e%% *}"}")
        for s in "${SC[@]}"; do
            if [[ $st == "refresh (total)" ]]; then
                p=$(peak "$kind" "$s")
            else
                p=${R[$s,$kind.peak,$st]:--}
            fi
            line+=$(printf ' %8s' "$p")
        done
        echo "$line"
    done
    printf -v "EST200_$kind" '%s' "$tot"
}

{
echo
echo "== seg_reco scale benchmark ($(nproc) cores, ${R[meta,server]:-server not recorded}) =="
echo "   load averages (1, 5, 15 min) before the run ${R[meta,loadbefore]:--}, after ${R[meta,loadafter]:--}"
echo
echo "-- generation, full refresh and incremental refresh after one day of lines (one run per scale;"
echo "   MB = peak VmHWM (the largest step's for a refresh; includes the shared buffers it touched) / peak"
echo "   private RssAnon of the backend (sampled every 0.5 s); disk after the full refresh;"
echo "   load = the machine's load averages (1, 5, 15 min) after the refresh: above $(nproc), others compete)"
printf '%-6s %9s %11s %9s %13s %8s %9s %11s %7s %-15s %8s %9s %11s %-15s\n' scale customers lines "gen s" "gen MB" "vacuum s" "full s" "full MB" "disk GB" "load (full)" "day" "incr s" "incr MB" "load (incr)"
for s in "${SC[@]}"; do
    printf '%-6s %9d %11s %9s %13s %8s %9s %11s %7s %-15s %8s %9s %11s %-15s\n' "x$s" $((10000 * s)) "${R[$s,lines]:--}" \
        "$(secs "${R[$s,gen]:-}")" "$(mb "${R[$s,genhwm]:-}")/$(mb "${R[$s,genanon]:-}")" "$(secs "${R[$s,vac]:-}")" \
        "$(secs "${R[$s,ref]:-}")" "$(peak full "$s")/$(mb "${R[$s,refanon]:-}")" \
        "$(awk -v b="${R[$s,dbsize]:-}" 'BEGIN { if (b == "") print "-"; else printf "%.2f", b / 1073741824 }')" "${R[$s,load]:--}" \
        "${R[$s,day]:--}" "$(secs "${R[$s,inc]:-}")" "$(peak inc "$s")/$(mb "${R[$s,incanon]:-}")" "${R[$s,incload]:--}"
done
for s in "${SC[@]}"; do
    [[ -n ${R[$s,inc]:-} ]] || continue
    echo "   x$s incremental: refresh_log.kind ${R[$s,inc.kind]:--}${R[$s,increason]:+ (${R[$s,increason]})}; ${R[$s,daycust]:-?} customers in the day, ${R[$s,recomputed]:-?} recomputed; day loaded in ${R[$s,dayload]:--} ms"
done

steps_table full "full refresh('full') steps"
steps_table inc "incremental refresh('incremental') steps after one day of lines"

echo
echo "-- generation"
pts=; line=$(printf '%-20s' generate_demo_data)
for s in "${SC[@]}"; do line+=$(printf ' %9s' "$(secs "${R[$s,gen]:-}")"); pts+=" $s ${R[$s,gen]:--}"; done
echo "$line   exponent $(fit "$pts")"

echo
echo "-- the issue's targets (2-core machine); x200 is the sum of the steps extrapolated above"
for tgt in "100 900" "200 1800"; do
    read -r ts tl <<<"$tgt"
    if [[ -n ${R[$ts,ref]:-} ]]; then
        meas="$(secs "${R[$ts,ref]}") s measured"
    elif [[ $ts == 200 && $EST200_full -gt 0 ]]; then
        meas="not run; $(secs "$EST200_full") s extrapolated from x$last"
    elif [[ -n ${R[$last,ref]:-} ]]; then
        meas="not run; $(secs "$(extra "${R[$last,ref]}" "$last" "$ts" "$(exp_of full "refresh (total)")")") s extrapolated from x$last"
    else
        meas="not run"
    fi
    printf '  %-48s %s\n' "full refresh at x$ts under $((tl / 60)) min ($tl s)" "$meas"
done
if [[ -n ${R[200,inc]:-} ]]; then
    meas="$(secs "${R[200,inc]}") s measured"
elif [[ $EST200_inc -gt 0 ]]; then
    meas="not run; $(secs "$EST200_inc") s extrapolated from x$last"
else
    meas="not run"
fi
printf '  %-48s %s\n' "incremental refresh at x200 under 3 min (180 s)" "$meas"
maxmb=0; maxwhere=
for s in "${SC[@]}"; do
    for key in gen full inc; do
        if [[ $key == gen ]]; then v=$(mb "${R[$s,genhwm]:-}"); else v=$(peak "$key" "$s"); fi
        if [[ $v != - && $v -gt $maxmb ]]; then maxmb=$v; maxwhere="x$s $key"; fi
    done
done
printf '  %-48s %s\n' "no backend above 4 GB" "largest seen $maxmb MB ($maxwhere; VmHWM, with the shared buffers it touched)"
for kind in full inc; do
    maxk=-; maxst=
    for st in "${STEPS[@]+"${STEPS[@]}"}"; do
        e=$(exp_of "$kind" "$st")
        if [[ $e != - ]] && { [[ $maxk == - ]] || awk -v a="$e" -v b="$maxk" 'BEGIN { exit !(a > b) }'; }; then maxk=$e; maxst=$st; fi
    done
    printf '  %-48s %s\n' "every step at most linear ($kind)" "steepest: $maxst $maxk"
done

if [[ -n $(for s in "${SC[@]}"; do echo "${R[$s,impl_fit]:-}"; done) ]]; then
    echo
    echo "-- ALS beside implicit 0.7.2 (built outside the repository, IMPLICIT_PATH; same pairs, factors, iterations,"
    echo "   regularization, alpha; 2 threads each; one run): training (seg_reco: train_seconds of the refresh's model)"
    echo "   and top 10 for every customer (seg_reco: recommend_all with ALS alone, a new session; implicit: recommend)"
    printf '  %-6s %10s %12s %12s %7s %14s %12s %7s\n' scale pairs "seg_reco s" "implicit s" ratio "seg_reco s" "implicit s" ratio
    for s in "${SC[@]}"; do
        [[ -n ${R[$s,impl_fit]:-} ]] || continue
        printf '  %-6s %10s %12s %12s %7s %14s %12s %7s\n' "x$s" "${R[$s,impl_pairs]:--}" "${R[$s,ours_fit]:--}" "${R[$s,impl_fit]}" \
            "$(awk -v a="${R[$s,ours_fit]:-}" -v b="${R[$s,impl_fit]}" 'BEGIN { if (a == "" || a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2f", a / b }')" \
            "${R[$s,ours_rec]:--}" "${R[$s,impl_rec]:--}" \
            "$(awk -v a="${R[$s,ours_rec]:-}" -v b="${R[$s,impl_rec]:-}" 'BEGIN { if (a == "" || a == "-" || b == "" || b == "-" || b <= 0) print "-"; else printf "%.2f", a / b }')"
    done
fi

echo
echo "-- the issue's baseline (measured before issue 12 on a quiet 2-core machine) beside this run"
printf '  %-40s %-36s %s\n' figure baseline "this run"
printf '  %-40s %-36s %s\n' "refresh at x1" "12 s" "$( [[ -n ${R[1,ref]:-} ]] && echo "$(secs "${R[1,ref]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "refresh at x30" "397 s" "$( [[ -n ${R[30,ref]:-} ]] && echo "$(secs "${R[30,ref]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "peak backend memory at x30 (refresh)" "2.55 GB" "$( [[ -n ${R[30,refhwm]:-} ]] && awk -v k="${R[30,refhwm]}" 'BEGIN { printf "%.2f GB", k / 1048576 }' || echo "not run")"
printf '  %-40s %-36s %s\n' "generation at x10" "49 s" "$( [[ -n ${R[10,gen]:-} ]] && echo "$(secs "${R[10,gen]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "generation at x30" "176 s" "$( [[ -n ${R[30,gen]:-} ]] && echo "$(secs "${R[30,gen]}") s" || echo "not run")"
echo
echo "Logs and figures: $OUT"
} | tee "$SUMMARY"

# the figures, one per line, for scripts (and --summary)
[[ -n $FROM ]] && exit 0
for key in "${!R[@]}"; do printf '%s\t%s\n' "$key" "${R[$key]}"; done | sort >"$OUT/figures.tsv"
