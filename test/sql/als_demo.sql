-- ALS on the default source (purchases per receipt + digital events) of a small demo
SET extra_float_digits = 0;
SET client_min_messages = warning;
-- in a transaction rolled back at the end: the tests after this one keep
-- the demo data they expect
BEGIN;
SELECT relation, rows FROM seg_reco.generate_demo_data(300, 60, 20000, 2000, 3);

-- the default weighting, as SQL
SELECT seg_reco.als_source_query() LIKE '%t.amount > 0%' AS purchases_only,
       seg_reco.als_source_query('{"view_weight": 0, "click_weight": 0, "add_to_cart_weight": 0}') NOT LIKE '%digital_events%' AS no_events,
       seg_reco.als_source_query('{"as_of": "2025-06-01", "half_life_days": 30}') LIKE '%pow(0.5%' AS decays;

-- interactions: distinct (customer, product) pairs with a purchase or an event
SELECT (m.metrics -> 'interactions')::bigint =
       (SELECT count(*) FROM (SELECT customer_id, product_id FROM seg_reco.transactions
                               WHERE customer_id IS NOT NULL AND amount > 0
                              UNION
                              SELECT customer_id, product_id FROM seg_reco.digital_events
                               WHERE product_id IS NOT NULL AND event_type IN ('view', 'click', 'add_to_cart')) s)
       AS pairs_match,
       (m.metrics -> 'customers')::int AS customers
  FROM seg_reco.als_train('demo', factors => 8, iterations => 5) m;

-- a time split with decay trains on fewer interactions
SELECT (m.metrics -> 'interactions')::bigint < (SELECT (metrics -> 'interactions')::bigint FROM seg_reco.models WHERE name = 'demo') AS fewer
  FROM seg_reco.als_train('demo_split', factors => 8, iterations => 5,
                          options => '{"as_of": "2025-10-01", "half_life_days": 90}') m;

-- the default source summed per (customer, product) by SQL, as the reader
-- sums it (what als_train reads on Citus, _als_pairs_query: one row per
-- pair leaves the shards, not one per line): the same model factor for
-- factor, the same purchased pairs (lists without them), also with a
-- time split and decay
SELECT seg_reco._als_train('demo_pairs', 8, 0.01, 1.0, 5, 42, 'cg',
                           seg_reco._als_pairs_query(seg_reco.als_source_query()), false, '{}') > 0 AS trained,
       seg_reco._als_train('demo_split_pairs', 8, 0.01, 1.0, 5, 42, 'cg',
                           seg_reco._als_pairs_query(seg_reco.als_source_query('{"as_of": "2025-10-01", "half_life_days": 90}')),
                           false, '{"as_of": "2025-10-01", "half_life_days": 90}') > 0 AS trained_split;
-- no query, no pairs query (NULL: _als_train then refuses it)
SELECT seg_reco._als_pairs_query(NULL) IS NULL AS strict;
SAVEPOINT no_query;
SELECT seg_reco._als_train('no_query', 8, 0.01, 1.0, 5, 42, 'cg', seg_reco._als_pairs_query(NULL), false, '{}');
ROLLBACK TO SAVEPOINT no_query;
-- (and the model's next-basket neighbours, which als_train builds after)
SELECT (seg_reco.nextbasket_build('demo_pairs') ->> 'customers')::int AS nextbasket_customers;
SELECT m.name, count(*) AS customers, count(*) FILTER (WHERE a.factors = b.factors) AS same_factors
  FROM (VALUES ('demo'), ('demo_split')) m(name)
  JOIN seg_reco.als_customer_factors a ON a.model = m.name
  JOIN seg_reco.als_customer_factors b ON b.model = m.name || '_pairs' AND b.customer_id = a.customer_id
 GROUP BY m.name ORDER BY m.name;
SELECT m.name, count(*) AS products, count(*) FILTER (WHERE a.factors = b.factors) AS same_factors
  FROM (VALUES ('demo'), ('demo_split')) m(name)
  JOIN seg_reco.als_product_factors a ON a.model = m.name
  JOIN seg_reco.als_product_factors b ON b.model = m.name || '_pairs' AND b.product_id = a.product_id
 GROUP BY m.name ORDER BY m.name;
SELECT (SELECT count(*) FROM seg_reco.recommend_all('demo', 5, include_purchased => false)) AS rows,
       (SELECT count(*) FROM (SELECT * FROM seg_reco.recommend_all('demo', 5, include_purchased => false)
                              EXCEPT
                              SELECT * FROM seg_reco.recommend_all('demo_pairs', 5, include_purchased => false)) d) AS differ;

-- every customer gets 10 active products; the view's source
SELECT count(*) AS rows, count(DISTINCT customer_id) AS customers, min(rank), max(rank)
  FROM seg_reco.recommend_all('demo');
SELECT count(*) AS inactive_recommended
  FROM seg_reco.recommend_all('demo', 10, only_active => true) r
  JOIN seg_reco.products p USING (product_id) WHERE NOT p.active;

-- category filter
SELECT bool_and(p.category = 'meieri') AS in_category
  FROM (SELECT customer_id FROM seg_reco.customers ORDER BY customer_id LIMIT 5) c,
       seg_reco.recommend_for(c.customer_id, 5, category => 'meieri', model => 'demo') r
  JOIN seg_reco.products p USING (product_id);

-- a model trained with as_of reads histories up to as_of when serving too: a
-- customer whose purchases all fall after it gets the cold-start list
-- (demographic popularity, built by the refresh test, then popularity)
SELECT count(*) = 10 AS ten,
       bool_and(r.sources <@ ARRAY['cold_start', 'popularity']) AS cold_start
  FROM (SELECT t.customer_id FROM seg_reco.transactions t
         WHERE t.customer_id NOT IN (SELECT customer_id FROM seg_reco.als_customer_factors WHERE model = 'demo_split')
           AND t.customer_id IS NOT NULL
         LIMIT 1) c,
       seg_reco.recommend_for(c.customer_id, 10, model => 'demo_split') r
  JOIN seg_reco.als_product_factors pop ON pop.model = 'demo_split' AND pop.product_id = r.product_id;

-- seg_reco.threads: the same factors and the same lists with 1 and 2
-- threads (300 customers: several tasks and sub-blocks)
SET seg_reco.threads = 1;
SELECT (metrics -> 'customers')::int AS customers FROM seg_reco.als_train('thr1', factors => 8, iterations => 5);
CREATE TEMP TABLE ra1 AS SELECT * FROM seg_reco.recommend_all('thr1', 5);
CREATE TEMP TABLE ra1n AS SELECT * FROM seg_reco.recommend_all('thr1', 5, include_purchased => false, diversity => 0.3);
SET seg_reco.threads = 2;
SELECT 1 AS trained FROM seg_reco.als_train('thr2', factors => 8, iterations => 5);
CREATE TEMP TABLE ra2 AS SELECT * FROM seg_reco.recommend_all('thr1', 5);
CREATE TEMP TABLE ra2n AS SELECT * FROM seg_reco.recommend_all('thr1', 5, include_purchased => false, diversity => 0.3);
RESET seg_reco.threads;
SELECT (SELECT count(*) FROM seg_reco.als_customer_factors a
          JOIN seg_reco.als_customer_factors b USING (customer_id)
         WHERE a.model = 'thr1' AND b.model = 'thr2' AND a.factors = b.factors)
       = (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'thr1') AS same_customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors a
          JOIN seg_reco.als_product_factors b USING (product_id)
         WHERE a.model = 'thr1' AND b.model = 'thr2' AND a.factors = b.factors)
       = (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'thr1') AS same_product_factors,
       (SELECT m1.metrics -> 'loss' = m2.metrics -> 'loss' FROM seg_reco.models m1, seg_reco.models m2
         WHERE m1.name = 'thr1' AND m2.name = 'thr2') AS same_loss,
       (SELECT count(*) FROM ra1) AS rows_1,
       (SELECT count(*) FROM (SELECT * FROM ra1 EXCEPT SELECT * FROM ra2) x) AS differ,
       (SELECT count(*) FROM (SELECT * FROM ra1n EXCEPT SELECT * FROM ra2n) x) AS differ_new;

-- The partial rebuild of the recommendations (issue 12): after a full one,
-- a few customers' lines change, they are folded into the model and their
-- lists rebuilt; the result equals a full rebuild on the same data
SELECT seg_reco.build_content() IS NOT NULL AS content, seg_reco.build_popularity() IS NOT NULL AS popularity;
SELECT 1 AS trained FROM seg_reco.als_train('default', factors => 8, iterations => 5);
SELECT r - 'slot' - 'generation' - 'deleted_rows' - 'indexes_built' AS full_rebuild FROM seg_reco.refresh_recommendations() r;
-- partial on the same data: nothing changes
CREATE TEMP TABLE reco_before AS SELECT * FROM seg_reco.recommendations;
SELECT r - 'slot' - 'generation' - 'deleted_rows' - 'indexes_built' - 'as_of' - 'as_of_full' AS partial_rebuild
  FROM seg_reco.refresh_recommendations('{5, 3, 5}') r;
SELECT count(*) AS differ
  FROM ((SELECT * FROM seg_reco.recommendations EXCEPT ALL SELECT * FROM reco_before)
        UNION ALL (SELECT * FROM reco_before EXCEPT ALL SELECT * FROM seg_reco.recommendations)) x;
-- three customers buy more on the last day (as_of stays), one loses every
-- line, a new member buys for the first time
CREATE TEMP TABLE changed AS
SELECT customer_id FROM seg_reco.als_customer_factors WHERE model = 'default' ORDER BY customer_id LIMIT 4;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT (SELECT max(line_id) FROM seg_reco.transactions) + row_number() OVER (ORDER BY c.customer_id, p.product_id),
       (SELECT max(receipt_id) FROM seg_reco.transactions) + c.customer_id, c.customer_id, p.product_id, 1,
       date_trunc('day', (SELECT max(ts) FROM seg_reco.transactions)), 1, p.unit_price, p.unit_price
  FROM (SELECT customer_id FROM changed ORDER BY customer_id LIMIT 3) c
 CROSS JOIN (SELECT product_id, unit_price FROM seg_reco.products WHERE active ORDER BY product_id DESC LIMIT 5) p;
DELETE FROM seg_reco.transactions WHERE customer_id = (SELECT max(customer_id) FROM changed);
DELETE FROM seg_reco.digital_events WHERE customer_id = (SELECT max(customer_id) FROM changed);
INSERT INTO seg_reco.customers (customer_id, member_since) VALUES (100000, '2025-01-01');
INSERT INTO changed VALUES (100000);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT (SELECT max(line_id) FROM seg_reco.transactions) + p.product_id, (SELECT max(receipt_id) + 1 FROM seg_reco.transactions),
       100000, p.product_id, 1, date_trunc('day', (SELECT max(ts) FROM seg_reco.transactions)), 1, p.unit_price, p.unit_price
  FROM (SELECT product_id, unit_price FROM seg_reco.products WHERE active ORDER BY product_id LIMIT 4) p;
SELECT r - 'seconds' - 'model' AS fold_in FROM seg_reco.als_fold_in('default', ARRAY(SELECT customer_id FROM changed)) r;
SELECT r - 'slot' - 'generation' - 'deleted_rows' - 'indexes_built' - 'as_of' - 'as_of_full' AS partial_rebuild
  FROM seg_reco.refresh_recommendations(ARRAY(SELECT customer_id FROM changed)) r;
CREATE TEMP TABLE reco_partial AS SELECT * FROM seg_reco.recommendations;
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM changed)) AS changed_rows,
       count(DISTINCT customer_id) FILTER (WHERE customer_id IN (SELECT customer_id FROM changed)) AS changed_listed
  FROM reco_partial;
SELECT count(*) AS lists_changed
  FROM (SELECT customer_id, array_agg(product_id ORDER BY rank) AS l FROM reco_before GROUP BY 1) b
  JOIN (SELECT customer_id, array_agg(product_id ORDER BY rank) AS l FROM reco_partial GROUP BY 1) p USING (customer_id)
 WHERE b.l <> p.l;
SELECT r - 'slot' - 'generation' - 'deleted_rows' - 'indexes_built' AS full_rebuild FROM seg_reco.refresh_recommendations() r;
SELECT count(*) AS differ_from_full
  FROM ((SELECT * FROM seg_reco.recommendations EXCEPT ALL SELECT * FROM reco_partial)
        UNION ALL (SELECT * FROM reco_partial EXCEPT ALL SELECT * FROM seg_reco.recommendations)) x;
-- what changed since the last full rebuild is reported: a setting
UPDATE seg_reco.settings SET value = '5' WHERE key = 'recommendations_per_customer';
INSERT INTO seg_reco.settings (key, value) SELECT 'recommendations_per_customer', '5'
 WHERE NOT EXISTS (SELECT 1 FROM seg_reco.settings WHERE key = 'recommendations_per_customer');
SELECT r -> 'kind' AS kind, r -> 'inputs_changed' AS inputs_changed
  FROM seg_reco.refresh_recommendations('{7}') r;
SELECT count(*) AS rows_of_7 FROM seg_reco.recommendations WHERE customer_id = 7;
SELECT count(*) AS rows FROM seg_reco.recommendations;
SAVEPOINT bad;
SELECT seg_reco.refresh_recommendations(NULL::bigint[]);
ROLLBACK TO bad;
SELECT seg_reco.refresh_recommendations('{1, NULL}');
ROLLBACK TO bad;
SELECT has_function_privilege('public', 'seg_reco.refresh_recommendations(bigint[])', 'EXECUTE') AS public_partial,
       has_function_privilege('public', 'seg_reco.als_fold_in(text, bigint[])', 'EXECUTE') AS public_fold_in;
-- recommend_all scores with seg_reco's own kernels (linalg_score.c): the
-- lists and the very score bits of recommend_for, whose ALS scores sum in
-- the order of seg_reco_dot (20 factors: eight partial sums and a tail; 60
-- products: a short last panel), the default blend weighing the next-basket
-- source; also the ALS ranking alone (no history_prior, next-basket without
-- weight: the purchase lines are not read)
SELECT 1 AS trained FROM seg_reco.als_train('simd', factors => 20, iterations => 3);
SET extra_float_digits = 3;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same
  FROM seg_reco.recommend_all('simd', 5) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'simd') r ON r.rank = a.rank;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same
  FROM seg_reco.recommend_all('simd', 5, weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'simd',
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') r
    ON r.rank = a.rank;
-- for given customer_ids (every third, and one without factors): each block
-- carries its own next-basket inputs, the walk over the neighbours skips
-- the customers not asked for, the purchase lines and pairs are theirs
-- only; recommend_for's rows with the next-basket source weighing, with the
-- products bought left out, with ALS and next-basket alone (no float32
-- screening, which ranks ALS alone; the purchase lines read for the
-- customer's own next-basket vector), and with ALS alone (the screening)
CREATE TEMP TABLE some_customers AS
SELECT customer_id FROM seg_reco.als_customer_factors WHERE model = 'simd' AND customer_id % 3 = 1
UNION ALL SELECT 999999;
SELECT count(DISTINCT a.customer_id) = (SELECT count(*) - 1 FROM some_customers) AS each_listed,
       bool_and(a.customer_id IN (SELECT customer_id FROM some_customers)) AS only_those,
       count(*) FILTER (WHERE 'nextbasket' = ANY (a.sources)) > 0 AS nextbasket_in_sources,
       count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same
  FROM seg_reco.recommend_all('simd', 5, weights => '{"nextbasket": 1}',
                              customer_ids => ARRAY(SELECT customer_id FROM some_customers)) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'simd', weights => '{"nextbasket": 1}') r
    ON r.rank = a.rank;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same
  FROM seg_reco.recommend_all('simd', 5, include_purchased => false, weights => '{"nextbasket": 1}',
                              customer_ids => ARRAY(SELECT customer_id FROM some_customers)) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, include_purchased => false, model => 'simd',
                                      weights => '{"nextbasket": 1}') r
    ON r.rank = a.rank;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same,
       count(*) FILTER (WHERE 'nextbasket' = ANY (a.sources)) > 0 AS nextbasket_in_sources
  FROM seg_reco.recommend_all('simd', 5, weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1, "history_prior": 0}',
                              customer_ids => ARRAY(SELECT customer_id FROM some_customers)) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'simd',
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1, "history_prior": 0}') r
    ON r.rank = a.rank;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score AND a.sources = r.sources) AS same
  FROM seg_reco.recommend_all('simd', 5, weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}',
                              customer_ids => ARRAY(SELECT customer_id FROM some_customers)) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'simd',
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') r
    ON r.rank = a.rank;

-- exact ties among the best (twenty products given the same factors before
-- the model is first served): the screening keeps the full blend's order
-- (ties to the lower product id), or leaves the customer to the full blend
SELECT 1 AS trained FROM seg_reco.als_train('ties', factors => 8, iterations => 3);
UPDATE seg_reco.als_product_factors f
   SET factors = (SELECT g.factors FROM seg_reco.als_product_factors g
                   WHERE g.model = 'ties' ORDER BY g.product_id LIMIT 1)
 WHERE f.model = 'ties' AND f.product_id IN (SELECT product_id FROM seg_reco.als_product_factors
                                              WHERE model = 'ties' ORDER BY product_id LIMIT 20);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score) AS same,
       count(*) FILTER (WHERE a.product_id IN (SELECT product_id FROM seg_reco.als_product_factors
                                                WHERE model = 'ties' ORDER BY product_id LIMIT 20)) > 0 AS tied_listed
  FROM seg_reco.recommend_all('ties', 5, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'ties', only_active => false,
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') r
    ON r.rank = a.rank;
-- every product the same factors: every score ties, the screening cannot
-- decide (the min-max range is empty) and each customer is blended in full
SELECT 1 AS trained FROM seg_reco.als_train('flat', factors => 8, iterations => 3);
UPDATE seg_reco.als_product_factors f
   SET factors = (SELECT g.factors FROM seg_reco.als_product_factors g
                   WHERE g.model = 'flat' ORDER BY g.product_id LIMIT 1)
 WHERE f.model = 'flat';
SELECT count(*) AS rows,
       count(*) FILTER (WHERE a.product_id = r.product_id AND a.score = r.score) AS same
  FROM seg_reco.recommend_all('flat', 5, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 5, model => 'flat', only_active => false,
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') r
    ON r.rank = a.rank;

-- seg_reco.simd: every level gives the same lists and bits (a level the CPU
-- lacks falls back to the best below it); simd_info says which is used
SET seg_reco.simd = generic;
SELECT setting, used FROM seg_reco.simd_info();
CREATE TEMP TABLE ra_generic AS SELECT * FROM seg_reco.recommend_all('simd', 5);
CREATE TEMP TABLE ra_generic_new AS SELECT * FROM seg_reco.recommend_all('simd', 5, include_purchased => false);
SET seg_reco.simd = avx2;
SELECT setting, used IN ('avx2', 'generic') AS fallback_ok FROM seg_reco.simd_info();
CREATE TEMP TABLE ra_avx2 AS SELECT * FROM seg_reco.recommend_all('simd', 5);
CREATE TEMP TABLE ra_avx2_new AS SELECT * FROM seg_reco.recommend_all('simd', 5, include_purchased => false);
SET seg_reco.simd = avx512f;
CREATE TEMP TABLE ra_avx512 AS SELECT * FROM seg_reco.recommend_all('simd', 5);
CREATE TEMP TABLE ra_avx512_new AS SELECT * FROM seg_reco.recommend_all('simd', 5, include_purchased => false);
RESET seg_reco.simd;
SELECT setting, used = cpu AS best_of_cpu FROM seg_reco.simd_info();
SELECT (SELECT count(*) FROM ra_generic) AS rows,
       (SELECT count(*) FROM (SELECT * FROM ra_generic EXCEPT SELECT * FROM ra_avx2) x) AS differ_avx2,
       (SELECT count(*) FROM (SELECT * FROM ra_generic EXCEPT SELECT * FROM ra_avx512) x) AS differ_avx512,
       (SELECT count(*) FROM (SELECT * FROM ra_generic_new EXCEPT SELECT * FROM ra_avx2_new) x) AS differ_avx2_new,
       (SELECT count(*) FROM (SELECT * FROM ra_generic_new EXCEPT SELECT * FROM ra_avx512_new) x) AS differ_avx512_new;
SET extra_float_digits = 0;

ROLLBACK;
SET seg_reco.simd = sse9;
