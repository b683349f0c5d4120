#!/usr/bin/env bash
# Association rules: seg_reco.association_rules (FP-growth in C) timed on
# three basket sets, each against a plain SQL self-join that counts the
# product pairs of the same baskets (the pairs alone: what rules of two
# products need), in the same run:
#   - Groceries (arules; 9,835 baskets, 169 items), support 0.001;
#   - the demo data's receipts (seg_reco.generate_demo_data(): 811,465
#     lines), the pipeline's settings (support 0.0001, length <= 3) and
#     support 0.001 with arules' maximum length 10;
#   - UCI Online Retail invoices (not cancelled, quantity > 0; StockCode
#     as a dense product id), support 0.005 and 0.01.
# Then which order serves a cart best: on the demo data and UCI, rules
# mined from the receipts before the last TEST_DAYS (30) days; in each of
# EVAL_BASKETS (5000) sampled later receipts with 2+ products, one product
# (chosen by a hash) is held out, the rest of the receipt is the cart (basket_complements'
# rules: lhs in the cart, rhs not, lift > 1, each product by its best rule)
# or the product alone (bought_with); hit rate @10 = the held-out product
# (bought_with: any other product of the receipt) is in the top 10.
# Ranked by confidence, then lift, among the rules with lift > 1 (seg_reco's
# order), by lift, then confidence, or by confidence with the rules of lift
# <= 1 kept; and the top sellers (not in the cart) as a baseline.  First of all, the frequent itemsets and rules of Groceries
# at four supports are compared line by line with bench/assoc_reference.py
# (a plain level-wise count in Python).
#
#   flock -o /tmp/seg_reco_install.lock env SEG_RECO_PGPORT=54395 bash bench/assoc.sh
#
# Runs in its own database (seg_reco_bench_assoc) of the throwaway cluster
# of scripts/lib.sh (it builds and installs: hold the install lock when
# others share the machine).  Times are medians of RUNS (3) runs, the
# self-joins' of SELFJOIN_RUNS (1: a minute on UCI).  Nothing is asserted:
# it prints.  Environment: RUNS, TEST_DAYS, EVAL_BASKETS, MAX_BASKETS (the
# quality rules mined from a hash sample of at most that many receipts, as
# build_rules does above rules_max_baskets; default all),
# FRESH=1 (recreate the database), SKIP_REFERENCE=1, SKIP_TIMINGS=1, SKIP_QUALITY=1,
# SHARED (the folder holding data/, default ../shared).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
RUNS=${RUNS:-3}
SELFJOIN_RUNS=${SELFJOIN_RUNS:-1}
TEST_DAYS=${TEST_DAYS:-30}
EVAL_BASKETS=${EVAL_BASKETS:-5000}
SHARED=${SHARED:-$ROOT/../shared}
BDB=seg_reco_bench_assoc
GROCERIES=$SHARED/data/groceries/groceries.csv
UCI=$SHARED/data/online-retail/online_retail.csv.gz

step "packages" ensure_packages
step "build and install" build_install
step "cluster" start_cluster
q() { psql_db "$BDB" -q -P footer=off "$@"; }

setup_db() {
    if [[ ${FRESH:-0} == 1 ]]; then
        psql_db postgres -q -c "DROP DATABASE IF EXISTS $BDB"
    fi
    if [[ -z $(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$BDB'") ]]; then
        psql_db postgres -q -c "CREATE DATABASE $BDB"
    fi
    q -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS seg_reco CASCADE" \
      -c "CREATE EXTENSION seg_reco"
    if [[ -z $(psql_db "$BDB" -tAc "SELECT 1 FROM pg_class WHERE relname = 'demo_lines'") ]]; then
        q -c "SELECT relation, rows FROM seg_reco.generate_demo_data()" >/dev/null
        q <<'SQL'
CREATE TABLE public.demo_lines AS
SELECT receipt_id AS basket, product_id AS product, ts FROM seg_reco.transactions WHERE amount > 0;
SQL
    fi
    if [[ -z $(psql_db "$BDB" -tAc "SELECT 1 FROM pg_class WHERE relname = 'groc_lines'") ]]; then
        q -v file="$GROCERIES" <<'SQL'
CREATE TEMP TABLE groc_raw (line text);
COPY groc_raw FROM :'file' WITH (FORMAT text, DELIMITER E'\x01');
CREATE TABLE public.groc_items AS
SELECT row_number() OVER (ORDER BY item)::bigint AS product, item
  FROM (SELECT DISTINCT unnest(string_to_array(line, ',')) AS item FROM groc_raw) s;
CREATE TABLE public.groc_lines AS
SELECT b.n AS basket, i.product
  FROM (SELECT row_number() OVER () AS n, line FROM groc_raw) b
 CROSS JOIN LATERAL unnest(string_to_array(b.line, ',')) u(item)
  JOIN public.groc_items i ON i.item = u.item;
SQL
    fi
    if [[ -z $(psql_db "$BDB" -tAc "SELECT 1 FROM pg_class WHERE relname = 'uci_lines'") ]]; then
        q -v cmd="gzip -dc $UCI" <<'SQL'
CREATE TEMP TABLE raw (invoice text, stock_code text, description text, quantity numeric,
                       invoice_date timestamp, unit_price numeric, customer_id numeric, country text);
COPY raw FROM PROGRAM :'cmd' WITH (FORMAT csv, HEADER true);
CREATE TABLE public.uci_products AS
SELECT row_number() OVER (ORDER BY stock_code)::bigint AS product, stock_code
  FROM (SELECT DISTINCT stock_code FROM raw) s;
CREATE TABLE public.uci_lines AS
SELECT r.invoice AS basket, p.product, r.invoice_date AS ts
  FROM raw r JOIN public.uci_products p USING (stock_code)
 WHERE r.invoice NOT LIKE 'C%' AND r.quantity > 0;
SQL
    fi
    q -c "ANALYZE" -c "SELECT 'groceries' AS data, count(DISTINCT basket) AS baskets, count(DISTINCT product) AS products, count(*) AS lines FROM public.groc_lines
          UNION ALL SELECT 'demo', count(DISTINCT basket), count(DISTINCT product), count(*) FROM public.demo_lines
          UNION ALL SELECT 'uci', count(DISTINCT basket), count(DISTINCT product), count(*) FROM public.uci_lines"
}
step "database and data" setup_db

# the same itemsets and rules as the Python reference, line by line
reference_check() {
    local s out=$STATE/assoc_reference
    mkdir -p "$out"
    for s in 0.001 0.002 0.005 0.01; do
        python3 "$ROOT/bench/assoc_reference.py" "$GROCERIES" --support "$s" --confidence 0.5 \
            --rules-out "$out/ref_rules_$s" --itemsets-out "$out/ref_sets_$s" >/dev/null
        psql_db "$BDB" -At -v s="$s" >"$out/our_rules_$s" <<'SQL'
SELECT coalesce((SELECT string_agg(i.item, ';' ORDER BY i.item) FROM unnest(r.lhs) l JOIN public.groc_items i ON i.product = l), '')
       || '|' || (SELECT i.item FROM public.groc_items i WHERE i.product = r.rhs) || '|' || r.count
  FROM seg_reco.association_rules('SELECT basket, product FROM public.groc_lines', :s, 0.5) r;
SQL
        psql_db "$BDB" -At -v s="$s" >"$out/our_sets_$s" <<'SQL'
SELECT (SELECT string_agg(i.item, ';' ORDER BY i.item) FROM unnest(f.items) l JOIN public.groc_items i ON i.product = l)
       || '|' || f.count
  FROM seg_reco.frequent_itemsets('SELECT basket, product FROM public.groc_lines', :s) f;
SQL
        printf '    support %s: itemsets %s (reference %s, %s lines differ), rules at confidence 0.5 %s (reference %s, %s lines differ)\n' "$s" \
            "$(wc -l <"$out/our_sets_$s")" "$(wc -l <"$out/ref_sets_$s")" \
            "$(diff <(LC_ALL=C sort "$out/our_sets_$s") <(LC_ALL=C sort "$out/ref_sets_$s") | grep -c '^[<>]' || true)" \
            "$(wc -l <"$out/our_rules_$s")" "$(wc -l <"$out/ref_rules_$s")" \
            "$(diff <(LC_ALL=C sort "$out/our_rules_$s") <(LC_ALL=C sort "$out/ref_rules_$s") | grep -c '^[<>]' || true)"
    done
}
[[ ${SKIP_REFERENCE:-0} == 1 ]] || step "Groceries against bench/assoc_reference.py" reference_check

# time_runs LABEL QUERY [RUNS]: median and all runs (ms) of SELECT count(*) FROM (QUERY), and its count
time_runs() {
    local label=$1 sql=$2 runs=${3:-$RUNS}
    q -v label="$label" -v sql="$sql" -v runs="$runs" <<'SQL'
SELECT set_config('bench.sql', :'sql', false) IS NULL AS x \gset
SELECT set_config('bench.runs', :'runs', false) IS NULL AS x \gset
CREATE TEMP TABLE IF NOT EXISTS t (ms float8, n bigint);
TRUNCATE t;
DO $$
DECLARE t0 timestamptz; n bigint; i int;
BEGIN
  FOR i IN 1..current_setting('bench.runs')::int LOOP
    t0 := clock_timestamp();
    EXECUTE 'SELECT count(*) FROM (' || current_setting('bench.sql') || ') s' INTO n;
    INSERT INTO t VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000, n);
  END LOOP;
END $$;
SELECT :'label' AS what, max(n) AS result_rows,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms,
       string_agg(round(ms::numeric, 1)::text, ' ' ORDER BY ms) AS runs_ms
  FROM t;
SQL
}

# the pair counts of a SQL self-join over the distinct (basket, product)
# lines of TABLE, with the same minimum count as support S
selfjoin() {
    local table=$1 s=$2
    printf "SELECT a.product AS p1, b.product AS p2, count(*) AS n
              FROM (SELECT DISTINCT basket, product FROM public.%s) a
              JOIN (SELECT DISTINCT basket, product FROM public.%s) b ON b.basket = a.basket AND b.product > a.product
             GROUP BY 1, 2
            HAVING count(*) >= ceil(%s * (SELECT count(DISTINCT basket) FROM public.%s) - 1e-9)" \
        "$table" "$table" "$s" "$table"
}

bench_data() {   # bench_data TABLE LABEL SUPPORT CONFIDENCE MAXLEN [self-join]
    local table=$1 label=$2 s=$3 c=$4 len=$5 join=${6:-}
    say "==> $label: support $s, confidence $c"
    time_runs "$label association_rules, length <= $len" \
        "SELECT * FROM seg_reco.association_rules('SELECT basket, product FROM public.$table', $s, $c, max_length => $len)"
    time_runs "$label frequent_itemsets, length <= $len" \
        "SELECT * FROM seg_reco.frequent_itemsets('SELECT basket, product FROM public.$table', $s, max_length => $len)"
    time_runs "$label frequent_itemsets, pairs only" \
        "SELECT * FROM seg_reco.frequent_itemsets('SELECT basket, product FROM public.$table', $s, max_length => 2, min_length => 2)"
    if [[ -n $join ]]; then
        q -c "SELECT count(*) AS self_join_rows FROM (SELECT DISTINCT basket, product FROM public.$table) a
                JOIN (SELECT DISTINCT basket, product FROM public.$table) b ON b.basket = a.basket AND b.product > a.product"
        time_runs "$label SQL self-join, frequent pairs" "$(selfjoin "$table" "$s")" "$SELFJOIN_RUNS"
    fi
}

bench_all() {
    bench_data groc_lines groceries 0.001 0.5 10 self-join
    bench_data demo_lines demo 0.0001 0.05 3 self-join
    bench_data demo_lines demo 0.001 0.05 10
    bench_data uci_lines uci 0.01 0.5 10
    bench_data uci_lines uci 0.005 0.5 10 self-join
}
[[ ${SKIP_TIMINGS:-0} == 1 ]] || step "timings" bench_all

# hit rate @10 of the two orders on held-out receipts
quality() {   # quality TABLE LABEL SUPPORT CONFIDENCE
    local table=$1 label=$2 s=$3 c=$4
    say "==> $label: rules from the receipts before the last $TEST_DAYS days (support $s, confidence $c, length <= 3, max_baskets ${MAX_BASKETS:-all})"
    q -v t="$table" -v s="$s" -v c="$c" -v days="$TEST_DAYS" -v n="$EVAL_BASKETS" -v mb="${MAX_BASKETS:-NULL}" <<'SQL'
SELECT max(ts) - make_interval(days => :days) AS split FROM public.:t \gset
CREATE TEMP TABLE rules AS
SELECT * FROM seg_reco.association_rules(
    format('SELECT basket, product FROM public.%I WHERE ts < %L', :'t', :'split'),
    :s, :c, max_length => 3, min_length => 2, max_baskets => :mb);
SELECT count(*) AS rules, round(max(count / support)) AS baskets_mined FROM rules;
CREATE INDEX ON rules ((lhs[1]));
CREATE TEMP TABLE pop AS
SELECT product, count(DISTINCT basket) AS n FROM public.:t WHERE ts < :'split'
 GROUP BY product ORDER BY n DESC, product LIMIT 1000;
CREATE TEMP TABLE test AS
SELECT basket, array_agg(DISTINCT product) AS items
  FROM public.:t WHERE ts >= :'split'
 GROUP BY basket HAVING count(DISTINCT product) >= 2
 ORDER BY md5(basket::text) LIMIT :n;
CREATE TEMP TABLE held AS
SELECT t.basket, h.held, array_remove(t.items, h.held) AS cart, t.items
  FROM test t
 CROSS JOIN LATERAL (SELECT i AS held FROM unnest(t.items) i ORDER BY md5(t.basket::text || i::text) LIMIT 1) h;
-- basket_complements' candidates: each product by its best rule (confidence,
-- then lift), among the rules with lift > 1 (filtered) or among all
CREATE TEMP TABLE cand AS
SELECT DISTINCT h.basket, h.held, r.rhs, r.confidence, r.lift, r.lhs
  FROM held h
 CROSS JOIN LATERAL unnest(h.cart) e(product)
  JOIN rules r ON r.lhs[1] = e.product AND r.lhs <@ h.cart AND r.rhs <> ALL (h.cart);
CREATE TEMP TABLE best AS
(SELECT DISTINCT ON (basket, held, rhs) basket, held, rhs, confidence, lift, true AS filtered
   FROM cand WHERE lift > 1 ORDER BY basket, held, rhs, confidence DESC, lift DESC)
UNION ALL
(SELECT DISTINCT ON (basket, held, rhs) basket, held, rhs, confidence, lift, false
   FROM cand ORDER BY basket, held, rhs, confidence DESC, lift DESC);
CREATE INDEX ON best (basket, held);
CREATE TEMP TABLE variant (name text, filtered boolean, by_lift boolean);
INSERT INTO variant VALUES ('confidence, lift; lift > 1 (seg_reco)', true, false),
                           ('lift, confidence; lift > 1', true, true),
                           ('confidence, lift; lift <= 1 kept', false, false);
SELECT 'basket_complements' AS list, v.name AS ranking, count(*) AS carts,
       round(avg((h.held = ANY (coalesce(l.top, '{}')))::int), 4) AS hit_rate_at_10,
       round(avg(cardinality(coalesce(l.top, '{}'))), 2) AS mean_list_length
  FROM held h
 CROSS JOIN variant v
  LEFT JOIN LATERAL (
        SELECT (array_agg(b.rhs ORDER BY CASE WHEN v.by_lift THEN b.lift ELSE b.confidence END DESC,
                                         CASE WHEN v.by_lift THEN b.confidence ELSE b.lift END DESC, b.rhs))[1:10] AS top
          FROM best b WHERE b.basket = h.basket AND b.held = h.held AND b.filtered = v.filtered) l ON true
 GROUP BY v.name
UNION ALL
SELECT 'basket_complements', 'popularity: top sellers not in the cart', count(*),
       round(avg((h.held = ANY (l.top))::int), 4), round(avg(cardinality(l.top)), 2)
  FROM held h
 CROSS JOIN LATERAL (SELECT ARRAY(SELECT p.product FROM pop p WHERE p.product <> ALL (h.cart)
                                   ORDER BY p.n DESC, p.product LIMIT 10) AS top) l
 ORDER BY 1, 2;
SELECT 'bought_with' AS list, v.name AS ranking, count(*) AS products,
       round(avg((coalesce(l.top, '{}') && array_remove(h.items, h.held))::int), 4) AS hit_rate_at_10,
       round(avg(cardinality(coalesce(l.top, '{}'))), 2) AS mean_list_length
  FROM held h
 CROSS JOIN variant v
  LEFT JOIN LATERAL (
        SELECT (array_agg(r.rhs ORDER BY CASE WHEN v.by_lift THEN r.lift ELSE r.confidence END DESC,
                                         CASE WHEN v.by_lift THEN r.confidence ELSE r.lift END DESC, r.rhs))[1:10] AS top
          FROM rules r WHERE r.lhs = ARRAY[h.held] AND (r.lift > 1 OR NOT v.filtered)) l ON true
 GROUP BY v.name
UNION ALL
SELECT 'bought_with', 'popularity: top sellers but the product', count(*),
       round(avg((l.top && array_remove(h.items, h.held))::int), 4), round(avg(cardinality(l.top)), 2)
  FROM held h
 CROSS JOIN LATERAL (SELECT ARRAY(SELECT p.product FROM pop p WHERE p.product <> h.held
                                   ORDER BY p.n DESC, p.product LIMIT 10) AS top) l
 ORDER BY 1, 2;
SQL
}
quality_all() {
    quality demo_lines demo 0.0001 0.05
    quality demo_lines demo 0.001 0.05
    quality uci_lines uci 0.005 0.05
    quality uci_lines uci 0.01 0.05
}
[[ ${SKIP_QUALITY:-0} == 1 ]] || step "ranking quality" quality_all
print_timings
