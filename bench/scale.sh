#!/usr/bin/env bash
# Scale benchmark (issue 12): demo-data generation and a full refresh() at
# several scales, each on its own database; the growth exponent of every
# refresh step between scales; the issue's targets and its baseline beside.
#
#   bash bench/scale.sh [--scales "1 10 30"] [--keep]
#                       [--socket DIR --port N]   (use a running server instead of scripts/lib.sh's)
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
#   - CALL seg_reco.refresh() in a new session: total time and peak memory
#     as above, each step's time from seg_reco.refresh_log, and each step's
#     peak memory when refresh_log has a peak_memory_bytes column;
#   - disk: pg_database_size and the biggest relations.
# Then each step's growth exponent (log-log slope of time against scale: 1
# is linear) between consecutive scales and over all of them (least
# squares), the issue's targets and its baseline.  Incremental refresh after
# adding one day of lines is not built yet: its column says so.
#
# Nothing is asserted: it prints, and keeps the figures and logs in
# bench/out/scale-<time>/.  One run per scale (the large ones take long),
# so figures on a shared machine are noisy.  Parallel workers of a
# backend (index builds, parallel queries) are processes of their own:
# their memory is not in the backend's figures.
set -euo pipefail
SCALES="1 10 30"
KEEP=0
SOCK=
PGPORT_=
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --socket) SOCK=$2; shift 2 ;;
        --port) PGPORT_=$2; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for s in $SCALES; do
    [[ $s =~ ^[0-9]+$ && $s -ge 1 && $s -le 500 ]] || { echo "scales are whole numbers from 1 to 500, got $s" >&2; exit 2; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -n $SOCK ]]; then
    PGBIN=/usr/lib/postgresql/15/bin
    psql_db() { local db=$1; shift; "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PGPORT_" -U postgres -d "$db" "$@"; }
    say() { printf '%s\n' "$*"; }
else
    # shellcheck source=scripts/lib.sh
    source "$HERE/../scripts/lib.sh"
    step "build and install" build_install
    step "cluster" start_cluster
fi

OUT=$HERE/out/scale-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt

# run_sampled DB SQL LOG: run SQL in a new session with \timing, sampling the
# backend's RssAnon meanwhile; prints "<ms> <VmHWM kB> <peak RssAnon kB> <ok|failed>"
run_sampled() {
    local db=$1 sql=$2 log=$3 pid= bg ms hwm anon=0 a status=ok
    ( psql_db "$db" -At <<SQL
SELECT 'PID ' || pg_backend_pid();
SET client_min_messages = warning;
\timing on
$sql
\timing off
SELECT 'VmHWM ' || substring(pg_catalog.pg_read_file('/proc/self/status') from 'VmHWM:\s*([0-9]+)');
SQL
    ) >"$log" 2>&1 &
    bg=$!
    while kill -0 "$bg" 2>/dev/null; do
        [[ -z $pid ]] && pid=$(awk '/^PID /{ print $2; exit }' "$log" 2>/dev/null || true)
        if [[ -n $pid && -r /proc/$pid/status ]]; then
            a=$(awk '/^RssAnon:/{ print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            [[ -n $a && $a -gt $anon ]] && anon=$a
        fi
        sleep 0.5
    done
    wait "$bg" || status=failed
    ms=$(awk '/^Time: /{ t = $2 } END { print (t == "" ? "-" : t) }' "$log")
    hwm=$(awk '/^VmHWM /{ print $2 }' "$log")
    printf '%s %s %s %s\n' "$ms" "${hwm:--}" "$anon" "$status"
}

has_peak_col() {
    psql_db "$1" -At -c "SELECT count(*) FROM information_schema.columns
                          WHERE table_schema = 'seg_reco' AND table_name = 'refresh_log'
                            AND column_name = 'peak_memory_bytes'"
}

declare -A R
STEPS=()
PEAKCOL=0
for s in $SCALES; do
    db=seg_reco_bench_scale_x$s
    c=$((10000 * s))
    say "==> scale x$s: $c customers (database $db)"
    psql_db postgres -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql_db "$db" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco"

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

    read -r ms hwm anon st < <(run_sampled "$db" "CALL seg_reco.refresh();" "$OUT/refresh_x$s.log")
    R[$s,ref]=$ms; R[$s,refhwm]=$hwm; R[$s,refanon]=$anon; R[$s,refst]=$st
    R[$s,load]=$(cut -d' ' -f2 /proc/loadavg)
    say "    refresh(): $ms ms ($st), VmHWM ${hwm} kB, peak RssAnon ${anon} kB"
    if [[ $st != ok ]]; then
        tail -n 5 "$OUT/refresh_x$s.log" | sed 's/^/    /'
    else
        PEAKCOL=$(has_peak_col "$db")
        peak_expr=NULL
        [[ $PEAKCOL -gt 0 ]] && peak_expr=peak_memory_bytes
        while IFS='|' read -r stepname dur peak; do
            [[ -z $stepname ]] && continue
            R[$s,step,$stepname]=$dur
            R[$s,peak,$stepname]=$peak
            local_seen=0
            for x in "${STEPS[@]+"${STEPS[@]}"}"; do [[ $x == "$stepname" ]] && local_seen=1; done
            [[ $local_seen -eq 0 ]] && STEPS+=("$stepname")
            say "      $(printf '%-20s %12s ms' "$stepname" "$dur")${peak:+  peak $((peak / 1048576)) MB}"
        done < <(psql_db "$db" -At -c "SELECT step, duration_ms, $peak_expr FROM seg_reco.refresh_log
                                        WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
                                        ORDER BY started_at, step")
    fi

    R[$s,dbsize]=$(psql_db "$db" -At -c "SELECT pg_database_size(current_database())")
    psql_db "$db" -At -F ' ' -c "SELECT pg_size_pretty(pg_total_relation_size(c.oid)), n.nspname || '.' || c.relname
                                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                  WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                                  ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6" >"$OUT/relations_x$s.txt"
    R[$s,rels]=$(awk '{ printf "%s%s %s %s", (NR > 1 ? ", " : ""), $3, $1, $2 }' "$OUT/relations_x$s.txt")
    say "    disk: $(awk -v b="${R[$s,dbsize]}" 'BEGIN { printf "%.2f GB", b / 1073741824 }'); biggest (with indexes): ${R[$s,rels]}"
    if [[ $KEEP -eq 0 ]]; then
        psql_db postgres -q -c "DROP DATABASE IF EXISTS $db"
    fi
done

# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { if (k == "" || k == "-") print "-"; else printf "%.0f", k / 1024 }'; }
secs() { awk -v ms="$1" 'BEGIN { if (ms == "" || ms == "-") print "-"; else printf "%.1f", ms / 1000 }'; }
# slope X1 Y1 X2 Y2: log-log slope
slope() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN { if (b == "" || d == "" || b == "-" || d == "-" || b <= 0 || d <= 0 || a == c) print "-"; else printf "%.2f", log(d / b) / log(c / a) }'; }
# fit "x1 y1 x2 y2 ...": least-squares slope of log y on log x
fit() { awk -v p="$1" 'BEGIN { n = split(p, v, " "); k = 0; for (i = 1; i < n; i += 2) if (v[i + 1] != "-" && v[i + 1] > 0) { x[++k] = log(v[i]); y[k] = log(v[i + 1]) } if (k < 2) { print "-"; exit } for (i = 1; i <= k; i++) { sx += x[i]; sy += y[i] } mx = sx / k; my = sy / k; for (i = 1; i <= k; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) ^ 2 } if (sxx == 0) print "-"; else printf "%.2f", sxy / sxx }'; }

read -r -a SC <<<"$SCALES"
{
echo
echo "== seg_reco scale benchmark ($(nproc) cores, PostgreSQL $(psql_db postgres -At -c 'SHOW server_version'), $(date -u +%Y-%m-%d); shared_buffers $(psql_db postgres -At -c 'SHOW shared_buffers'), work_mem $(psql_db postgres -At -c 'SHOW work_mem'), maintenance_work_mem $(psql_db postgres -At -c 'SHOW maintenance_work_mem')) =="
echo
echo "-- generation and full refresh (one run per scale; MB = VmHWM / peak private RssAnon of the backend;"
echo "   load = the machine's 5-minute load average after the refresh: above the core count, others compete)"
printf '%-6s %9s %11s %9s %9s %13s %8s %10s %13s %8s %5s  %s\n' scale customers lines events "gen s" "gen MB" "vacuum s" "refresh s" "refresh MB" "disk GB" load "incremental refresh (1 day)"
for s in "${SC[@]}"; do
    printf '%-6s %9d %11s %9s %9s %13s %8s %10s %13s %8s %5s  %s\n' "x$s" $((10000 * s)) "${R[$s,lines]:--}" "${R[$s,events]:--}" \
        "$(secs "${R[$s,gen]:-}")" "$(mb "${R[$s,genhwm]:-}")/$(mb "${R[$s,genanon]:-}")" "$(secs "${R[$s,vac]:-}")" \
        "$(secs "${R[$s,ref]:-}")" "$(mb "${R[$s,refhwm]:-}")/$(mb "${R[$s,refanon]:-}")" \
        "$(awk -v b="${R[$s,dbsize]:-}" 'BEGIN { if (b == "") print "-"; else printf "%.2f", b / 1073741824 }')" "${R[$s,load]:--}" "n/a (not built yet)"
done

echo
echo "-- refresh steps: seconds at each scale, growth exponent (log-log slope; 1 = linear) between"
echo "   consecutive scales and over all (least squares)"
hdr=$(printf '%-20s' step)
for s in "${SC[@]}"; do hdr+=$(printf ' %9s' "x$s s"); done
for ((i = 1; i < ${#SC[@]}; i++)); do hdr+=$(printf ' %9s' "${SC[i-1]}->${SC[i]}"); done
hdr+=$(printf ' %8s' "all")
[[ $PEAKCOL -gt 0 ]] && for s in "${SC[@]}"; do hdr+=$(printf ' %9s' "x$s MB"); done
echo "$hdr"
for st in "${STEPS[@]+"${STEPS[@]}"}" "refresh (total)" generate_demo_data; do
    line=$(printf '%-20s' "$st")
    pts=
    for s in "${SC[@]}"; do
        case $st in
            "refresh (total)") v=${R[$s,ref]:-} ;;
            generate_demo_data) v=${R[$s,gen]:-} ;;
            *) v=${R[$s,step,$st]:-} ;;
        esac
        line+=$(printf ' %9s' "$(secs "$v")")
        pts+=" $s ${v:--}"
    done
    for ((i = 1; i < ${#SC[@]}; i++)); do
        a=${SC[i-1]}; b=${SC[i]}
        case $st in
            "refresh (total)") va=${R[$a,ref]:-}; vb=${R[$b,ref]:-} ;;
            generate_demo_data) va=${R[$a,gen]:-}; vb=${R[$b,gen]:-} ;;
            *) va=${R[$a,step,$st]:-}; vb=${R[$b,step,$st]:-} ;;
        esac
        line+=$(printf ' %9s' "$(slope "$a" "$va" "$b" "$vb")")
    done
    line+=$(printf ' %8s' "$(fit "$pts")")
    if [[ $PEAKCOL -gt 0 ]]; then
        for s in "${SC[@]}"; do
            p=${R[$s,peak,$st]:-}
            line+=$(printf ' %9s' "$( [[ -n $p ]] && echo $((p / 1048576)) || echo -)")
        done
    fi
    echo "$line"
done
[[ $PEAKCOL -gt 0 ]] || echo "(per-step peak memory: refresh_log has no peak_memory_bytes column in this build)"
echo "Steps shorter than about 0.5 s at the smaller scale give noisy exponents."

echo
echo "-- the issue's targets (2-core machine)"
last=${SC[-1]}
allref=; for s in "${SC[@]}"; do allref+=" $s ${R[$s,ref]:--}"; done
k=$(fit "$allref")
# extrapolate with the steeper of the overall exponent and the last pair's
# (fixed costs make the small scales look sublinear)
kx=$k
if [[ ${#SC[@]} -ge 2 ]]; then
    prev=${SC[-2]}
    kl=$(slope "$prev" "${R[$prev,ref]:--}" "$last" "${R[$last,ref]:--}")
    if [[ $kl != - ]] && { [[ $kx == - ]] || awk -v a="$kl" -v b="$kx" 'BEGIN { exit !(a > b) }'; }; then kx=$kl; fi
fi
for tgt in "100 900" "200 1800"; do
    read -r ts tl <<<"$tgt"
    if [[ -n ${R[$ts,ref]:-} ]]; then
        meas="$(secs "${R[$ts,ref]}") s measured"
    elif [[ $kx != - && -n ${R[$last,ref]:-} ]] && [[ $ts -gt $last ]]; then
        meas=$(awk -v t="${R[$last,ref]}" -v s="$last" -v x="$ts" -v k="$kx" 'BEGIN { printf "not run; %.0f s extrapolated from x%d with exponent %s", t / 1000 * (x / s) ^ k, s, k }')
    else
        meas="not run"
    fi
    printf '  %-48s %s\n' "full refresh at x$ts under $((tl / 60)) min ($tl s)" "$meas"
done
printf '  %-48s %s\n' "incremental refresh at x200 under 3 min" "n/a (not built yet)"
maxmb=0
for s in "${SC[@]}"; do
    for key in genhwm refhwm genanon refanon; do
        v=${R[$s,$key]:-}
        [[ -n $v && $v != - && $v -gt $maxmb ]] && maxmb=$v
    done
done
printf '  %-48s %s\n' "no backend above 4 GB" "largest seen $(mb "$maxmb") MB (VmHWM, with shared buffers)"
maxk=-; maxst=; maxl=-; maxlst=
for st in "${STEPS[@]+"${STEPS[@]}"}"; do
    pts=; for s in "${SC[@]}"; do pts+=" $s ${R[$s,step,$st]:--}"; done
    e=$(fit "$pts")
    if [[ $e != - ]] && { [[ $maxk == - ]] || awk -v a="$e" -v b="$maxk" 'BEGIN { exit !(a > b) }'; }; then maxk=$e; maxst=$st; fi
    if [[ ${#SC[@]} -ge 2 ]]; then
        # steps under 0.5 s at the smaller scale are too noisy to judge
        va=${R[${SC[-2]},step,$st]:--}
        if [[ $va != - ]] && awk -v a="$va" 'BEGIN { exit !(a >= 500) }'; then
            e=$(slope "${SC[-2]}" "$va" "$last" "${R[$last,step,$st]:--}")
            if [[ $e != - ]] && { [[ $maxl == - ]] || awk -v a="$e" -v b="$maxl" 'BEGIN { exit !(a > b) }'; }; then maxl=$e; maxlst=$st; fi
        fi
    fi
done
printf '  %-48s %s\n' "every step at most linear (exponent <= 1)" "steepest over all scales: $maxst $maxk; x${SC[-2]:-?}->x$last: $maxlst $maxl; whole refresh $k (x${SC[-2]:-?}->x$last ${kl:--})"

echo
echo "-- the issue's baseline (measured before issue 12 on a quiet 2-core machine) beside this run"
printf '  %-40s %-36s %s\n' figure baseline "this run"
printf '  %-40s %-36s %s\n' "refresh at x1" "12 s" "$( [[ -n ${R[1,ref]:-} ]] && echo "$(secs "${R[1,ref]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "refresh at x30" "397 s" "$( [[ -n ${R[30,ref]:-} ]] && echo "$(secs "${R[30,ref]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "peak backend memory at x30 (refresh)" "2.55 GB" "$( [[ -n ${R[30,refhwm]:-} ]] && awk -v k="${R[30,refhwm]}" 'BEGIN { printf "%.2f GB", k / 1048576 }' || echo "not run")"
printf '  %-40s %-36s %s\n' "generation at x10" "49 s" "$( [[ -n ${R[10,gen]:-} ]] && echo "$(secs "${R[10,gen]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "generation at x30" "176 s" "$( [[ -n ${R[30,gen]:-} ]] && echo "$(secs "${R[30,gen]}") s" || echo "not run")"
printf '  %-40s %-36s %s\n' "refresh growth exponent" "1.03 (features 1.12, segments 1.10)" "$k"
echo
echo "Logs and figures: $OUT"
} | tee "$SUMMARY"

# the figures, one per line, for scripts
for key in "${!R[@]}"; do printf '%s\t%s\n' "$key" "${R[$key]}"; done | sort >"$OUT/figures.tsv"
