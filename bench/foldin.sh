#!/usr/bin/env bash
# Fold-in and partial rebuild benchmark (issue 12, incremental nightly
# refresh): what a night costs when only a few customers changed, against
# what a full recomputation costs, side by side.
#
#   bash bench/foldin.sh [--scales "1 10"] [--share 0.005] [--keep]
#                        [--socket DIR --port N]   (use a running server instead of scripts/lib.sh's)
#
# Per scale s (generate_demo_data(customers => 10000 * s), then CALL
# seg_reco.refresh() for the model, content, popularity and served lists;
# database seg_reco_bench_foldin_x<s>, dropped at the end unless --keep):
#   1. a share of the customers (--share, default 0.5%, chosen by md5 of the
#      id) buy 8 active products each on the last day of the data (as_of
#      does not move, so the partial result can be compared with a full one);
#   2. als_fold_in('default', those customers)      against  als_train (refresh_als(): the settings' factors and iterations);
#   3. refresh_recommendations(those customers)     against  refresh_recommendations() (everyone),
#      each into an idle slot emptied before (TRUNCATE, as refresh() does),
#      and the rows in which the two results differ (0 expected);
#   4. the time-dependent part: recommend_all with the pipeline's settings as
#      of the last day and as of the day after, with no new line (only the
#      buy-again timing moves): how many customers' lists change.
# Each timed call runs in its own session, after the one before committed.
# Nothing is asserted: it prints, and keeps the figures in
# bench/out/foldin-<time>/.
set -euo pipefail
SCALES="1"
SHARE=0.005
KEEP=0
SOCK=
PGPORT_=
while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=$2; shift 2 ;;
        --share) SHARE=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --socket) SOCK=$2; shift 2 ;;
        --port) PGPORT_=$2; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
for s in $SCALES; do
    [[ $s =~ ^[0-9]+$ && $s -ge 1 && $s -le 500 ]] || { echo "scales are whole numbers from 1 to 500, got $s" >&2; exit 2; }
done
[[ $SHARE =~ ^0?\.[0-9]+$ ]] || { echo "--share is a fraction such as 0.005, got $SHARE" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -n $SOCK ]]; then
    PGBIN=${SEG_RECO_PGBIN:-/usr/lib/postgresql/15/bin}
    psql_db() { local db=$1; shift; "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PGPORT_" -U postgres -d "$db" "$@"; }
    say() { printf '%s\n' "$*"; }
else
    # shellcheck source=scripts/lib.sh
    source "$HERE/../scripts/lib.sh"
    step "build and install" build_install
    step "cluster" start_cluster
fi

OUT=$HERE/out/foldin-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt

# timed DB SQL: run SQL (one statement) in a new session; prints "<seconds>|<its result>"
timed() {
    psql_db "$1" -At -q <<SQL
SET client_min_messages = warning;
SELECT clock_timestamp() AS t0 \gset
CREATE TEMP TABLE _r AS $2;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3) || '|' ||
       coalesce((SELECT string_agg(x::text, ' ') FROM _r x), '');
SQL
}

for s in $SCALES; do
    db=seg_reco_bench_foldin_x$s
    c=$((10000 * s))
    say "==> scale x$s: $c customers (database $db)"
    psql_db postgres -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql_db "$db" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION seg_reco" \
        -c "SELECT count(*) FROM seg_reco.generate_demo_data(customers => $c)" >/dev/null
    psql_db "$db" -q -c "VACUUM ANALYZE"
    psql_db "$db" -q -c "SET client_min_messages = warning" -c "CALL seg_reco.refresh()"
    psql_db "$db" -q -c "VACUUM ANALYZE"

    # 1. the changed customers buy on the last day
    psql_db "$db" -q <<SQL
SET client_min_messages = warning;
CREATE TABLE public.bench_changed AS
SELECT customer_id FROM seg_reco.customers
 ORDER BY md5(customer_id::text) LIMIT greatest(1, round($c * $SHARE)::int);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT (SELECT max(line_id) FROM seg_reco.transactions) + row_number() OVER (ORDER BY c.customer_id, p.product_id),
       (SELECT max(receipt_id) FROM seg_reco.transactions) + c.rn, c.customer_id, p.product_id, 1,
       date_trunc('day', (SELECT max(ts) FROM seg_reco.transactions)) + interval '8 hours', 1,
       p.unit_price, p.unit_price
  FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS rn FROM public.bench_changed) c
 CROSS JOIN LATERAL (SELECT product_id, unit_price FROM seg_reco.products WHERE active
                      ORDER BY md5(product_id::text || c.customer_id::text) LIMIT 8) p;
ANALYZE seg_reco.transactions;
SQL
    n=$(psql_db "$db" -At -c "SELECT count(*) FROM public.bench_changed")
    ids="ARRAY(SELECT customer_id FROM public.bench_changed)"

    # 2. fold-in, partial rebuild, full rebuild, then the full retrain
    fold=$(timed "$db" "SELECT seg_reco.als_fold_in('default', $ids) - 'seconds' AS r")
    # each fill into an emptied slot, as refresh() leaves it (TRUNCATE in a short transaction before)
    empty_idle() { psql_db "$db" -At -q -c "SET client_min_messages = warning" -c "SELECT seg_reco._recommendations_empty_idle(NULL) ->> 'emptied'" >/dev/null; }
    empty_idle
    part=$(timed "$db" "SELECT seg_reco.refresh_recommendations($ids) - 'slot' - 'generation' AS r")
    psql_db "$db" -q -c "CREATE TABLE public.bench_partial AS SELECT * FROM seg_reco.recommendations"
    empty_idle
    full=$(timed "$db" "SELECT seg_reco.refresh_recommendations() AS r")
    differ=$(psql_db "$db" -At -c "SELECT count(*) FROM ((SELECT * FROM seg_reco.recommendations EXCEPT ALL SELECT * FROM public.bench_partial)
                                     UNION ALL (SELECT * FROM public.bench_partial EXCEPT ALL SELECT * FROM seg_reco.recommendations)) x")
    train=$(timed "$db" "SELECT seg_reco.refresh_als() AS r")

    # 4. a day passes without new lines: the buy-again timing alone moves
    drift=$(psql_db "$db" -At -q <<SQL
SET client_min_messages = warning;
CREATE TEMP TABLE d0 AS
SELECT customer_id, array_agg(product_id ORDER BY rank) AS l
  FROM seg_reco.recommend_all('default', (seg_reco.setting('recommendations_per_customer'))::int,
                              diversity => (seg_reco.setting('recommendations_diversity'))::float8,
                              max_per_category => (seg_reco.setting('recommendations_max_per_category') #>> '{}')::int,
                              as_of => seg_reco.default_as_of()) GROUP BY 1;
CREATE TEMP TABLE d1 AS
SELECT customer_id, array_agg(product_id ORDER BY rank) AS l
  FROM seg_reco.recommend_all('default', (seg_reco.setting('recommendations_per_customer'))::int,
                              diversity => (seg_reco.setting('recommendations_diversity'))::float8,
                              max_per_category => (seg_reco.setting('recommendations_max_per_category') #>> '{}')::int,
                              as_of => seg_reco.default_as_of() + 1) GROUP BY 1;
SELECT count(*) || '|' || count(*) FILTER (WHERE d0.l <> d1.l) || '|' ||
       count(*) FILTER (WHERE NOT (d0.l @> d1.l AND d1.l @> d0.l))
  FROM d0 JOIN d1 USING (customer_id);
SQL
)
    IFS='|' read -r fold_s fold_r <<<"$fold"
    IFS='|' read -r part_s part_r <<<"$part"
    IFS='|' read -r full_s full_r <<<"$full"
    IFS='|' read -r train_s train_r <<<"$train"
    IFS='|' read -r d_all d_order d_set <<<"$drift"
    {
        echo "== scale x$s: $c customers, $n changed ($SHARE), 8 lines each on the last day"
        printf '%-34s %12s   %-34s %12s\n' "incremental" "seconds" "full" "seconds"
        printf '%-34s %12s   %-34s %12s\n' "als_fold_in($n customers)" "$fold_s" "als_train (refresh_als)" "$train_s"
        printf '%-34s %12s   %-34s %12s\n' "refresh_recommendations($n ids)" "$part_s" "refresh_recommendations()" "$full_s"
        echo "rows in which the partial and the full rebuild differ: $differ"
        echo "one day later, no new line (as_of + 1): lists changed for $d_order of $d_all customers ($d_set with other products)"
        echo "  fold-in:  $fold_r"
        echo "  partial:  $part_r"
        echo "  full:     $full_r"
        echo "  retrain:  $train_r"
    } | tee -a "$SUMMARY"
    if [[ $KEEP -eq 0 ]]; then
        psql_db postgres -q -c "DROP DATABASE $db"
    fi
done
say "figures in $SUMMARY"
