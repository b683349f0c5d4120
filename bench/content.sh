#!/usr/bin/env bash
# Content, buy-again, popularity and cold start: build times, per-call
# latency and a first quality check on the demo data (time split); then
# seg_reco's content source alone against a plain TF-IDF reference
# (bench/content_tfidf_ref.py: scikit-learn's TfidfVectorizer with unigrams,
# bigrams and English stop words) on the demo data and UCI Online Retail,
# with bench/hybrid.sh's protocol (test: the last 30 days; evaluate()'s
# 2000 sampled customers; NDCG@10 over all products bought, re-buys count).
#
#   bash bench/content.sh            # the project cluster (scripts/lib.sh), database content_bench
#   CONTENT_BENCH_SOCKDIR=/tmp/x CONTENT_BENCH_PORT=5432 bash bench/content.sh   # another running server
#
# Environment: BENCH_DB (default content_bench), UCI_DB (content_uci),
# CALLS (latency calls per function, default 200), EVAL_CUSTOMERS (test
# customers sampled, default 2000; 0 = all), FRESH=1 (recreate the
# extension and the demo data), SKIP_DEMO_QUALITY=1, SKIP_REFERENCE=1,
# SKIP_UCI=1, UCI_CSV (the UCI file).  The reference needs python3-sklearn
# (Debian: apt-get install python3-sklearn).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BENCH_DB=${BENCH_DB:-content_bench}
UCI_DB=${UCI_DB:-content_uci}
UCI_CSV=${UCI_CSV:-$ROOT/../shared/data/online-retail/online_retail.csv.gz}
CALLS=${CALLS:-200}
EVAL_CUSTOMERS=${EVAL_CUSTOMERS:-2000}

if [[ -n ${CONTENT_BENCH_SOCKDIR:-} ]]; then
    SOCKDIR=$CONTENT_BENCH_SOCKDIR
    PORT=${CONTENT_BENCH_PORT:-5432}
else
    start_cluster >/dev/null
fi
q() { psql_db "$BENCH_DB" -q -P footer=off "$@"; }

if [[ -z $(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'") ]]; then
    psql_db postgres -q -c "CREATE DATABASE $BENCH_DB"
fi
have=$(psql_db "$BENCH_DB" -tAc "SELECT count(*) FROM pg_extension WHERE extname = 'seg_reco'")
if [[ $have == 0 || ${FRESH:-0} == 1 ]]; then
    say "==> (re)creating seg_reco and the demo data in $BENCH_DB"
    q -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS seg_reco CASCADE" \
      -c "CREATE EXTENSION seg_reco" -c "SELECT relation, rows FROM seg_reco.generate_demo_data()"
fi
q -c "SELECT (SELECT count(*) FROM seg_reco.customers) AS customers,
             (SELECT count(*) FROM seg_reco.products) AS products,
             (SELECT count(*) FROM seg_reco.transactions) AS lines"

say "==> build times (median of 3)"
q <<'SQL'
CREATE TEMP TABLE bt (step text, ms float8);
DO $$
DECLARE t0 timestamptz; i int;
BEGIN
  FOR i IN 1..3 LOOP
    t0 := clock_timestamp(); PERFORM seg_reco.build_content();
    INSERT INTO bt VALUES ('build_content', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); PERFORM seg_reco.build_popularity();
    INSERT INTO bt VALUES ('build_popularity', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT step, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS median_ms
  FROM bt GROUP BY step ORDER BY step;
SELECT summary FROM seg_reco.content_version;
SQL

say "==> latency per call ($CALLS calls each, random ids, after one warm-up call)"
q -v calls="$CALLS" <<'SQL'
CREATE TEMP TABLE lat (fn text, ms float8);
SELECT set_config('bench.calls', :'calls', false) IS NOT NULL AS set;
CREATE TEMP TABLE ids AS
SELECT (SELECT array_agg(customer_id ORDER BY md5(customer_id::text))
          FROM (SELECT DISTINCT customer_id FROM seg_reco.transactions WHERE customer_id IS NOT NULL) s) AS cust,
       (SELECT array_agg(product_id ORDER BY md5(product_id::text)) FROM seg_reco.product_content) AS prod;
DO $$
DECLARE
  n int := current_setting('bench.calls')::int; i int; t0 timestamptz; c bigint; p bigint;
  cu bigint[] := (SELECT cust FROM ids); pr bigint[] := (SELECT prod FROM ids);
BEGIN
  PERFORM count(*) FROM seg_reco.content_similar(pr[1]);
  PERFORM count(*) FROM seg_reco.content_scores(cu[1]);
  PERFORM count(*) FROM seg_reco.buy_again_scores(cu[1]);
  PERFORM count(*) FROM seg_reco.cold_start_recommendations(cu[1]);
  FOR i IN 1..n LOOP
    c := cu[1 + (i * 7919) % cardinality(cu)]; p := pr[1 + (i * 7919) % cardinality(pr)];
    t0 := clock_timestamp(); PERFORM count(*) FROM seg_reco.content_similar(p);
    INSERT INTO lat VALUES ('content_similar', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); PERFORM count(*) FROM seg_reco.content_scores(c);
    INSERT INTO lat VALUES ('content_scores', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); PERFORM count(*) FROM seg_reco.buy_again_scores(c);
    INSERT INTO lat VALUES ('buy_again_scores', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); PERFORM count(*) FROM seg_reco.cold_start_recommendations(c);
    INSERT INTO lat VALUES ('cold_start_recommendations', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp(); PERFORM count(*) FROM seg_reco.intra_list_diversity(pr[i:i + 9]);
    INSERT INTO lat VALUES ('intra_list_diversity (10)', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT fn, count(*) AS calls,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p95_ms
  FROM lat GROUP BY fn ORDER BY fn;
SQL

if [[ ${SKIP_DEMO_QUALITY:-0} != 1 ]]; then
say "==> quality: train on all but the last 4 weeks, test on the last 4 weeks (k = 10)"
q -v n_eval="$EVAL_CUSTOMERS" <<'SQL'
SET work_mem = '256MB';
CREATE TEMP TABLE split AS SELECT (max(ts)::date - 28) AS as_of FROM seg_reco.transactions;
SELECT as_of AS train_until FROM split;
SELECT seg_reco.build_popularity(as_of => (SELECT as_of FROM split)) - 'seconds' AS popularity_as_of_split;
CREATE TEMP TABLE hist AS
SELECT DISTINCT t.customer_id, t.product_id FROM seg_reco.transactions t, split
 WHERE t.customer_id IS NOT NULL AND t.amount > 0 AND t.ts < (split.as_of + 1)::timestamptz;
CREATE INDEX ON hist (customer_id, product_id);
ANALYZE hist;
CREATE TEMP TABLE test AS
SELECT t.customer_id, array_agg(DISTINCT t.product_id) AS all_items,
       array_agg(DISTINCT t.product_id) FILTER (WHERE h.product_id IS NULL) AS new_items,
       bool_or(EXISTS (SELECT 1 FROM hist h2 WHERE h2.customer_id = t.customer_id)) AS has_history
  FROM seg_reco.transactions t CROSS JOIN split
  LEFT JOIN hist h ON h.customer_id = t.customer_id AND h.product_id = t.product_id
 WHERE t.customer_id IS NOT NULL AND t.amount > 0 AND t.ts >= (split.as_of + 1)::timestamptz
 GROUP BY t.customer_id;
SELECT count(*) AS test_customers, count(*) FILTER (WHERE has_history) AS with_history,
       count(*) FILTER (WHERE new_items IS NOT NULL AND has_history) AS with_new_products
  FROM test;
CREATE TEMP TABLE evalc AS
SELECT * FROM test WHERE has_history ORDER BY md5(customer_id::text)
 LIMIT CASE WHEN :n_eval > 0 THEN :n_eval END;
CREATE TEMP TABLE pop AS
SELECT array_agg(product_id ORDER BY rank) AS items
  FROM seg_reco.popular_products(300, (SELECT as_of FROM split));

CREATE TEMP TABLE lists (model text, mode text, customer_id bigint, items bigint[]);
\timing on
-- all products (re-buys count)
INSERT INTO lists SELECT 'popularity', 'all', e.customer_id, (SELECT items[1:10] FROM pop) FROM evalc e;
INSERT INTO lists SELECT 'buy_again', 'all', e.customer_id,
       coalesce((SELECT array_agg(b.product_id ORDER BY b.rank)
                   FROM seg_reco.buy_again_scores(e.customer_id, 10, (SELECT as_of FROM split)) b), '{}')
  FROM evalc e;
INSERT INTO lists SELECT 'content', 'all', e.customer_id,
       coalesce((SELECT array_agg(c.product_id ORDER BY c.rank)
                   FROM seg_reco.content_scores(e.customer_id, 10, (SELECT as_of FROM split)) c), '{}')
  FROM evalc e;
-- new to the customer
INSERT INTO lists SELECT 'popularity', 'new', e.customer_id,
       (SELECT array_agg(x.p ORDER BY x.o) FROM (
            SELECT u.p, u.o FROM unnest((SELECT items FROM pop)) WITH ORDINALITY u(p, o)
             WHERE NOT EXISTS (SELECT 1 FROM hist h WHERE h.customer_id = e.customer_id AND h.product_id = u.p)
             ORDER BY u.o LIMIT 10) x)
  FROM evalc e;
INSERT INTO lists SELECT 'buy_again', 'new', e.customer_id, '{}' FROM evalc e;
INSERT INTO lists SELECT 'content', 'new', e.customer_id,
       coalesce((SELECT array_agg(c.product_id ORDER BY c.rank)
                   FROM seg_reco.content_scores(e.customer_id, 10, (SELECT as_of FROM split),
                                                exclude_purchased => true) c), '{}')
  FROM evalc e;
\timing off

SELECT l.mode, l.model, count(*) AS customers,
       round(avg(seg_reco.ndcg_at_k(l.items, CASE l.mode WHEN 'all' THEN e.all_items ELSE e.new_items END, 10))::numeric, 4) AS ndcg10,
       round(avg(seg_reco.precision_at_k(l.items, CASE l.mode WHEN 'all' THEN e.all_items ELSE e.new_items END, 10))::numeric, 4) AS prec10,
       round(avg(seg_reco.recall_at_k(l.items, CASE l.mode WHEN 'all' THEN e.all_items ELSE e.new_items END, 10))::numeric, 4) AS recall10,
       round(avg(seg_reco.hit_at_k(l.items, CASE l.mode WHEN 'all' THEN e.all_items ELSE e.new_items END, 10))::numeric, 4) AS hit10,
       round((SELECT count(DISTINCT u.p) FROM lists l2 JOIN evalc e2 USING (customer_id), unnest(l2.items) u(p)
               WHERE l2.mode = l.mode AND l2.model = l.model AND (l2.mode = 'all' OR e2.new_items IS NOT NULL))::numeric
             / (SELECT count(*) FROM seg_reco.products WHERE active) * 100, 1) AS coverage_pct,
       round(avg(seg_reco.intra_list_diversity(l.items))::numeric, 3) AS diversity,
       round(avg(seg_reco.novelty(l.items))::numeric, 2) AS novelty
  FROM lists l JOIN evalc e USING (customer_id)
 WHERE l.mode = 'all' OR e.new_items IS NOT NULL
 GROUP BY l.mode, l.model
 ORDER BY l.mode, l.model;

-- the cold-start path: test customers without history before the split
SELECT 'cold start' AS path, count(*) AS customers,
       round(avg(seg_reco.ndcg_at_k(r.items, t.all_items, 10))::numeric, 4) AS ndcg10_segment,
       round(avg(seg_reco.ndcg_at_k((SELECT items[1:10] FROM pop), t.all_items, 10))::numeric, 4) AS ndcg10_global
  FROM test t
  CROSS JOIN LATERAL (SELECT array_agg(c.product_id ORDER BY c.rank) AS items
                        FROM seg_reco.cold_start_recommendations(t.customer_id, 10) c) r
 WHERE NOT t.has_history;
SQL
fi

# ---------------------------------------------------------------- content alone against a plain TF-IDF
reference() {   # reference db label stop_words: seg_reco's content alone, then the reference
    local db=$1 label=$2 sw=$3 split dir
    split=$(psql_db "$db" -tAc "SELECT max(ts)::date + 1 - 30 FROM seg_reco.transactions")
    say "==> $label: content alone, test $split + 30 days, NDCG@10 (mode all: every product bought counts)"
    psql_db "$db" -q -P footer=off -c "SELECT summary - 'version' - 'seconds' AS content_build FROM seg_reco.content_version"
    psql_db "$db" -q -P footer=off -c "SELECT 'seg_reco content' AS model, customers, round(ndcg_at_k::numeric, 4) AS ndcg,
               round(precision_at_k::numeric, 4) AS prec, round(recall_at_k::numeric, 4) AS recall,
               round(hit_rate::numeric, 3) AS hit
          FROM seg_reco.evaluate('$split', 10, '{\"recommenders\": [\"content\"], \"test_days\": 30}', '$label content')
         WHERE mode = 'all'"
    dir=$(mktemp -d)
    chmod 777 "$dir"
    psql_db "$db" -q -v split="$split" -v days=30 -v dir="$dir" -f "$ROOT/bench/content_ref_export.sql"
    say "--- reference: scikit-learn TfidfVectorizer(ngram_range=(1, 2), stop_words=$sw) over name + description"
    /usr/bin/python3 "$ROOT/bench/content_tfidf_ref.py" "$dir" 10 "$sw"
    rm -rf "$dir"
}

if [[ ${SKIP_REFERENCE:-0} != 1 ]]; then
    /usr/bin/python3 -c 'import sklearn' 2>/dev/null ||
        die "the reference needs scikit-learn: apt-get install python3-sklearn (or SKIP_REFERENCE=1)"
    # the demo's text is Norwegian: scikit-learn has no Norwegian stop words
    reference "$BENCH_DB" demo none
    if [[ ${SKIP_UCI:-0} != 1 ]]; then
        [[ -r $UCI_CSV ]] || die "UCI Online Retail not found at $UCI_CSV (set UCI_CSV or SKIP_UCI=1)"
        if [[ -z $(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$UCI_DB'") || ${FRESH:-0} == 1 ]]; then
            say "==> loading UCI Online Retail into $UCI_DB"
            psql_db postgres -q -c "DROP DATABASE IF EXISTS $UCI_DB" -c "CREATE DATABASE $UCI_DB"
            psql_db "$UCI_DB" -q -c "CREATE EXTENSION seg_reco"
            psql_db "$UCI_DB" -q -v csv="$UCI_CSV" -f "$ROOT/bench/als_uci_load.sql"
        fi
        # an English catalogue: the text search configuration english
        psql_db "$UCI_DB" -q -c "INSERT INTO seg_reco.settings VALUES ('content_text_config', '\"english\"')
                                   ON CONFLICT (key) DO UPDATE SET value = excluded.value" \
            -c "SELECT seg_reco.build_content() ->> 'terms' AS terms"
        reference "$UCI_DB" uci english
    fi
fi
