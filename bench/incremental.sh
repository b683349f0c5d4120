#!/usr/bin/env bash
# Incremental refresh benchmark (issue 12): at each scale, a full refresh
# against an incremental one after one day of new lines, step by step, side
# by side, with the capture triggers' cost on the day's load.
#
#   bash bench/incremental.sh [--scales "1 10"] [--keep]
#                             [--socket DIR --port N]   (use a running server instead of scripts/lib.sh's)
#
# Scale s is generate_demo_data(customers => 10000 * s) (1 = 811,465 lines,
# 10 = 8.1 M).  Per scale, on database seg_reco_bench_inc_x<s> (dropped at
# the end unless --keep):
#   - generate_demo_data, VACUUM ANALYZE;
#   - CALL seg_reco.refresh('full') in a new session: total time, each
#     step's time and peak memory (refresh_log.peak_memory_bytes: the
#     backend's VmHWM, reset at each step's start);
#   - one day of lines: the lines of the day of the last 90 whose count is
#     nearest the mean per day (about 0.14% of the lines), moved to the day
#     after the last, with new ids.  Loaded three times in one INSERT ...
#     SELECT: with the capture triggers disabled (rolled back), enabled
#     (rolled back), enabled (kept): the triggers' cost.  Then the same for
#     1,000 one-row INSERT statements (a till writing line by line);
#   - CALL seg_reco.refresh() in a new session (mode auto: incremental),
#     the same figures;
#   - a check that the incremental run's features and RFM values equal
#     compute_customer_features() and rfm_score() on the same lines.
# Nothing is asserted: it prints, and keeps the figures and logs in
# bench/out/incremental-<time>/.  One run per scale on a shared machine:
# the figures are noisy.
set -euo pipefail
SCALES="1 10"
KEEP=0
SOCK=
PGPORT_=
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --socket) SOCK=$2; shift 2 ;;
        --port) PGPORT_=$2; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for s in $SCALES; do
    [[ $s =~ ^[0-9]+$ && $s -ge 1 && $s -le 500 ]] || { echo "scales are whole numbers from 1 to 500, got $s" >&2; exit 2; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_connect

OUT=$HERE/out/incremental-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt

for s in $SCALES; do
    db=seg_reco_bench_inc_x$s
    c=$((10000 * s))
    say "==> scale x$s: $c customers (database $db)"
    bench_fresh_db "$db"
    ms=$(timed "$db" "SELECT relation, rows FROM seg_reco.generate_demo_data(customers => $c);" "$OUT/generate_x$s.log")
    lines=$(psql_db "$db" -At -c "SELECT count(*) FROM seg_reco.transactions")
    say "    generate_demo_data: $ms ms, $lines lines"
    ms=$(timed "$db" "VACUUM ANALYZE;" "$OUT/vacuum_x$s.log")

    full_ms=$(timed "$db" "CALL seg_reco.refresh('full');" "$OUT/full_x$s.log")
    full_run=$(last_run "$db")
    say "    full refresh: $full_ms ms"

    # one day of lines
    read -r day cust < <(make_day "$db")
    off=$(timed "$db" "BEGIN; ALTER TABLE seg_reco.transactions DISABLE TRIGGER USER; INSERT INTO seg_reco.transactions SELECT * FROM public.bench_day; ROLLBACK;" "$OUT/load_off_x$s.log")
    on=$(timed "$db" "BEGIN; INSERT INTO seg_reco.transactions SELECT * FROM public.bench_day; ROLLBACK;" "$OUT/load_on_x$s.log")
    keep=$(load_day "$db" "$OUT/load_x$s.log")
    # 1,000 one-row statements (the day's first 1,000 lines, new ids), without and with the triggers
    rows_sql=$(psql_db "$db" -At -c "SELECT string_agg(format('INSERT INTO seg_reco.transactions VALUES (%s, %s, %s, %s, %s, %L, %s, %s, %s, %s, %L);',
                                          line_id + 1000000000000, receipt_id, coalesce(customer_id::text, 'NULL'), product_id, store_id, ts,
                                          quantity, unit_price, discount, amount, channel), E'\n' ORDER BY line_id)
                                      FROM (SELECT * FROM public.bench_day ORDER BY line_id LIMIT 1000) d")
    row_off=$(psql_db "$db" -At >"$OUT/rows_off_x$s.log" 2>&1 <<SQL
SET client_min_messages = warning;
BEGIN;
ALTER TABLE seg_reco.transactions DISABLE TRIGGER USER;
SELECT clock_timestamp() AS t0 \gset
$rows_sql
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000) AS ms;
ROLLBACK;
SQL
        tail -n 2 "$OUT/rows_off_x$s.log" | head -n 1)
    row_on=$(psql_db "$db" -At >"$OUT/rows_on_x$s.log" 2>&1 <<SQL
SET client_min_messages = warning;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
$rows_sql
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000) AS ms;
ROLLBACK;
SQL
        tail -n 2 "$OUT/rows_on_x$s.log" | head -n 1)
    marks=$(psql_db "$db" -At -c "SELECT count(*) FROM seg_reco.dirty_customers")
    say "    one day: $day lines ($(awk -v a="$day" -v b="$lines" 'BEGIN { printf "%.3f", 100 * a / b }')% of the lines), $cust customers, $marks change marks"
    say "    its INSERT ... SELECT: $off ms without the capture triggers, $on ms with them ($keep ms kept)"
    say "    1,000 one-row INSERTs: $row_off ms without, $row_on ms with"

    inc_ms=$(timed "$db" "CALL seg_reco.refresh();" "$OUT/incremental_x$s.log")
    inc_run=$(last_run "$db")
    say "    incremental refresh: $inc_ms ms"
    same=$(psql_db "$db" -At -c "SELECT (SELECT count(*) FROM (SELECT * FROM seg_reco.customer_features EXCEPT SELECT * FROM seg_reco.compute_customer_features()) x)
                                      + (SELECT count(*) FROM (SELECT * FROM seg_reco.compute_customer_features() EXCEPT SELECT * FROM seg_reco.customer_features) x)
                                      + (SELECT count(*) FROM (SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency, monetary,
                                                                      r_score, f_score, m_score, rfm_code, segment FROM seg_reco.customer_segments
                                                               EXCEPT SELECT * FROM seg_reco.rfm_score()) x)")
    detail=$(psql_db "$db" -At -c "SELECT detail ->> 'customers_recomputed' || ' customers recomputed, state ' || (detail ->> 'state_ms') || ' ms'
                                      FROM seg_reco.refresh_log WHERE run_id = $inc_run AND step = 'customer_features'")
    fdetail=$(psql_db "$db" -At -c "SELECT 'state ' || (detail ->> 'state_ms') || ' ms'
                                      FROM seg_reco.refresh_log WHERE run_id = $full_run AND step = 'customer_features'")
    {
        printf '\nscale x%s: %s customers, %s lines; one day = %s lines (%s customers)\n' "$s" "$c" "$lines" "$day" "$cust"
        printf '%-18s %12s %9s %14s %9s %7s\n' step "full ms" "peak MB" "incremental ms" "peak MB" kind
        join -t'|' <(run_steps "$db" "$full_run" | awk -F'|' '{ printf "%02d %s|%s|%s\n", NR, $1, $2, $3 }' | sort) \
                   <(run_steps "$db" "$inc_run" | awk -F'|' '{ printf "%02d %s|%s|%s|%s\n", NR, $1, $2, $3, $4 }' | sort) |
            awk -F'|' '{ split($1, a, " "); printf "%-18s %12s %9s %14s %9s %7s\n", a[2], $2, $3, $4, $5, $6 }'
        printf '%-18s %12s %9s %14s\n' total "$full_ms" "" "$inc_ms"
        printf 'customer_features step: full %s; incremental %s\n' "$fdetail" "$detail"
        printf 'capture triggers, one day in one INSERT ... SELECT: %s ms without, %s ms with; 1,000 one-row INSERTs: %s ms without, %s ms with\n' \
            "$off" "$on" "$row_off" "$row_on"
        printf 'incremental features and RFM differing from compute_customer_features() and rfm_score(): %s rows\n' "$same"
    } | tee -a "$SUMMARY"
    if [[ $KEEP -eq 0 ]]; then
        psql_db postgres -q -c "DROP DATABASE $db"
    fi
done
say "figures and logs in $OUT"
