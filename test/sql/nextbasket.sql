-- The next-basket model (TIFU-KNN): values computed by hand on four
-- customers, the neighbours stored, the source in the blend, the
-- explanation, row order, bad inputs.
\i test/sql/include/hand_made_sources.sql
SET extra_float_digits = 0;
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1, 6) p;
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 5) c;
-- baskets (receipt = customer x 10 + basket number, one day apart):
--   customer 1: {1, 2}, {1}, {1, 3}      customer 2: {1, 4}, {4}
--   customer 3: {2, 3}                   customer 4: {5}, {5}
--   customer 5: exists, never bought
CREATE TEMP TABLE nb_lines AS
SELECT row_number() OVER (ORDER BY c, b, p) AS line_id, c * 10 + b AS receipt_id, c AS customer_id, p AS product_id,
       '2025-03-01 10:00+00'::timestamptz + make_interval(days => b) AS ts
  FROM (VALUES (1, 1, 1), (1, 1, 2), (1, 2, 1), (1, 3, 1), (1, 3, 3),
               (2, 1, 1), (2, 1, 4), (2, 2, 4), (3, 1, 2), (3, 1, 3), (4, 1, 5), (4, 2, 5)) v(c, b, p);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT line_id, receipt_id, customer_id, product_id, 1, ts, 1, 10, 10 FROM nb_lines ORDER BY line_id;

-- Parameters: group_size m = 2, within_decay r_b = 0.5, group_decay r_g =
-- 0.5, neighbours k = 1, alpha = 0.5.  A basket r places before the latest
-- (r = 0 the latest) weighs r_g^(r div m) x r_b^(r mod m) / (size of its
-- group) / (number of groups G); groups are counted from the latest, the
-- oldest holds the rest.
--   customer 1: T = 3, G = 2: {1,3} r=0: 1 x 1 / 2 / 2 = 0.25;
--     {1} r=1: 1 x 0.5 / 2 / 2 = 0.125; {1,2} r=2 (oldest group, size 1):
--     0.5 x 1 / 1 / 2 = 0.25.  u1 = (1: 0.625, 2: 0.25, 3: 0.25)
--   customer 2: T = 2, G = 1: {4} 0.5, {1,4} 0.5 / 2 = 0.25.
--     u2 = (1: 0.25, 4: 0.75)
--   customer 3: T = 1: u3 = (2: 1, 3: 1);  customer 4: u4 = (5: 0.75)
-- Squared norms 0.515625, 0.625, 2, 0.5625; squared distances
-- |a|^2 + |b|^2 - 2 a.b: d(1,2) = 0.828125, d(1,3) = 1.515625, d(1,4) =
-- 1.078125, d(2,3) = 2.625, d(2,4) = 1.1875, d(3,4) = 2.5625.  The nearest
-- of 1 is 2; of 2, 3 and 4 it is 1.  So the neighbours' vectors: 1 gets
-- u2, the others u1; and customer 1's scores 0.5 x own + 0.5 x u2:
--   1: 0.3125 + 0.125 = 0.4375, 4: 0.375, 2: 0.125, 3: 0.125 (ties by id).
SELECT m.name, (m.model -> 'nextbasket') - 'seconds' AS build
  FROM seg_reco.als_train('nb', factors => 2, regularization => 0.1, iterations => 5) m;
SELECT seg_reco.nextbasket_build('nb', '{"group_size": 2, "within_decay": 0.5, "group_decay": 0.5,
                                        "neighbours": 1, "alpha": 0.5}') - 'seconds' AS build;
SELECT customer_id, product_ids, scores FROM seg_reco.nextbasket_neighbours WHERE model = 'nb' ORDER BY customer_id;
SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb');
SELECT * FROM seg_reco.nextbasket_scores(3, 2, 'nb');
-- as of the day of customer 1's second basket: T = 2, one group of 2:
-- {1} 0.5, {1,2} 0.25: own (1: 0.75, 2: 0.25); the neighbours stay u2
SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb', as_of => '2025-03-03');
-- no purchases, or unknown: no rows
SELECT count(*) FROM seg_reco.nextbasket_scores(5, 10, 'nb');
SELECT count(*) FROM seg_reco.nextbasket_scores(999, 10, 'nb');

-- the source of the blend: alone, recommend_for ranks as nextbasket_scores
-- (divided by the best: 1, 0.375 / 0.4375 = 0.857, 0.286, 0.286)
SELECT product_id, round(score::numeric, 3) AS score, rank, sources
  FROM seg_reco.recommend_for(1, 4, model => 'nb',
                              weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1}');
-- new products only: the neighbours' part alone reaches product 4
SELECT product_id, rank, sources
  FROM seg_reco.recommend_for(1, 1, include_purchased => false, model => 'nb',
                              weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1}');
-- recommend_all gives the same lists
SELECT customer_id, array_agg(product_id ORDER BY rank) AS products, array_agg(round(score::numeric, 3) ORDER BY rank) AS scores
  FROM seg_reco.recommend_all('nb', 3, weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1}')
 GROUP BY customer_id ORDER BY customer_id;

-- why_recommended: the repeat (3 receipts with product 1 over 2 days: every
-- 1 day), then the neighbours, then the als contributions
SELECT history_product_id, round(contribution::numeric, 4) AS contribution, rank, purchased, reason
  FROM seg_reco.why_recommended(1, 1, 1, 'nb') WHERE rank <= 2;
SELECT history_product_id, round(contribution::numeric, 4) AS contribution, rank, purchased, reason
  FROM seg_reco.why_recommended(1, 4, 1, 'nb') WHERE reason NOT LIKE 'customers who %';
SELECT history_product_id, round(contribution::numeric, 4) AS contribution, rank, purchased, reason
  FROM seg_reco.why_recommended(1, 2, 1, 'nb') WHERE rank = 1;
-- the als rows follow, one per history product (k = 1 here)
SELECT count(*) AS als_rows, min(reason) AS reason
  FROM seg_reco.why_recommended(1, 4, 1, 'nb') WHERE history_product_id IS NOT NULL;

-- the same rows in another order give the same numbers
CREATE TEMP TABLE nb_before AS SELECT customer_id, product_ids, scores FROM seg_reco.nextbasket_neighbours WHERE model = 'nb';
CREATE TEMP TABLE nb_scores_before AS SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb');
TRUNCATE seg_reco.transactions;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT line_id, receipt_id, customer_id, product_id, 1, ts, 1, 10, 10 FROM nb_lines ORDER BY md5(line_id::text);
SELECT seg_reco.nextbasket_build('nb', '{"group_size": 2, "within_decay": 0.5, "group_decay": 0.5,
                                        "neighbours": 1, "alpha": 0.5}') ->> 'customers' AS customers;
SELECT count(*) AS differing FROM (
  (SELECT * FROM nb_before EXCEPT SELECT customer_id, product_ids, scores FROM seg_reco.nextbasket_neighbours WHERE model = 'nb')
  UNION ALL
  (SELECT customer_id, product_ids, scores FROM seg_reco.nextbasket_neighbours WHERE model = 'nb' EXCEPT SELECT * FROM nb_before)) d;
SELECT count(*) AS differing FROM (
  (SELECT * FROM nb_scores_before EXCEPT SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb'))
  UNION ALL
  (SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb') EXCEPT SELECT * FROM nb_scores_before)) d;

-- more neighbours than customers: all the others (k = 3); customer 1's
-- neighbours' vector is (u2 + u3 + u4) / 3 = (1: 0.0833, 2: 0.3333, 3:
-- 0.3333, 4: 0.25, 5: 0.25)
SELECT seg_reco.nextbasket_build('nb', '{"group_size": 2, "within_decay": 0.5, "group_decay": 0.5,
                                        "neighbours": 50, "alpha": 0.5}') ->> 'neighbours' AS neighbours;
SELECT customer_id, product_ids, scores FROM seg_reco.nextbasket_neighbours WHERE model = 'nb' AND customer_id = 1;

-- evaluate's recommender nextbasket with config nextbasket, and
-- tune_nextbasket, split on 2025-03-04: only customer 1 buys from then on,
-- {1, 3}.  As of 2025-03-03 (m = 2, decays 0.5) the vectors are u1 = (1:
-- 0.75, 2: 0.25), u2 = (1: 0.25, 4: 0.75), u3 = (2: 1, 3: 1), u4 = (5:
-- 0.75); customer 1's nearest is 2 (squared distances 0.875, 2.125,
-- 1.1875).  alpha 1 (own alone) ranks 1, 2: NDCG@2 = 1 / (1 + 1 / log2 3) =
-- 0.6131; alpha 0 (the neighbours alone, u2) ranks 4, 1: 0.6309 / 1.6309 =
-- 0.3869.  (evaluate's diversity reads the content vectors.)
SELECT seg_reco.build_content() ->> 'products' AS products;
SELECT recommender, mode, customers, round(ndcg_at_k::numeric, 4) AS ndcg
  FROM seg_reco.evaluate('2025-03-04', 2, '{"recommenders": ["nextbasket"], "als": {"factors": 2},
                                            "nextbasket": {"group_size": 2, "within_decay": 0.5, "group_decay": 0.5,
                                                           "neighbours": 1, "alpha": 0}}')
 WHERE mode = 'all';
SELECT params, round(ndcg_at_k::numeric, 4) AS ndcg, chosen
  FROM seg_reco.tune_nextbasket('2025-03-04', '{"k": 2, "als": {"factors": 2}, "candidates": [
           {"group_size": 2, "within_decay": 0.5, "group_decay": 0.5, "neighbours": 1, "alpha": 0},
           {"group_size": 2, "within_decay": 0.5, "group_decay": 0.5, "neighbours": 1, "alpha": 1}]}');
-- the winner stays in the settings
SELECT key, value FROM seg_reco.settings WHERE key LIKE 'nextbasket\_%' ORDER BY key;
DELETE FROM seg_reco.settings WHERE key LIKE 'nextbasket\_%';
-- tune_nextbasket with source upcf: UP-CF@r's parameters, scored by the
-- blend with the source upcf alone on the products new to the customer
-- (customer 1 buys 3 after the split, new to it).  As of the split
-- customer 1 bought {1, 2}; asymmetric cosine (alpha 0.5) 1 / (2^0.5 2^0.5)
-- = 0.5 with customer 2 ({1, 4}) and with customer 3 ({2, 3}), 0 with 4.
-- upcf_neighbours 1: customer 2 (the tie to the lower id) brings 4 alone;
-- the list of 2 goes on with the products of score 0 by id: 4, 3: NDCG@2
-- 1 / log2 3 = 0.6309.  upcf_neighbours 2: 4 and 3 at 0.5^2 x 1 each (UP@10
-- of both 1), the tie to the lower id: 3, 4: NDCG@2 1.
SELECT params, round(ndcg_at_k::numeric, 4) AS ndcg, chosen
  FROM seg_reco.tune_nextbasket('2025-03-04', '{"source": "upcf", "k": 2, "als": {"factors": 2}, "candidates": [
           {"upcf_neighbours": 1}, {"upcf_neighbours": 2}]}');
-- the winner stays in the settings, with the others of UP-CF@r as they were
SELECT key, value FROM seg_reco.settings WHERE key LIKE 'nextbasket\_%' ORDER BY key;
DELETE FROM seg_reco.settings WHERE key LIKE 'nextbasket\_%';
-- bad inputs: evaluate's als must be an object of known keys; tune_nextbasket
-- takes its parameters from candidates, of its source's keys, and chooses
-- the recommender and weights itself
SELECT * FROM seg_reco.evaluate('2025-03-04', 2, '{"als": "NaN"}');
SELECT * FROM seg_reco.evaluate('2025-03-04', 2, '{"als": {"factor": 2}}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"nextbasket": {"alpha": 1}}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"candidates": []}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"candidates": [{"k": 5}]}');
SELECT * FROM seg_reco.tune_nextbasket(NULL);
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"source": "upcf", "candidates": [{"neighbours": 5}]}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"candidates": [{"upcf_alpha": 0.2}]}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"source": "tifu"}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"source": 1}');
SELECT * FROM seg_reco.tune_nextbasket('2025-03-04', '{"weights": {"als": 1}}');

-- bad inputs
SELECT * FROM seg_reco.nextbasket_scores(NULL, 10, 'nb');
SELECT * FROM seg_reco.nextbasket_scores(1, 0, 'nb');
SELECT * FROM seg_reco.nextbasket_scores(1, -1, 'nb');
SELECT * FROM seg_reco.nextbasket_scores(1, NULL, 'nb');
SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nope');
SELECT seg_reco.nextbasket_build('nb', '{"neighbours": 0}');
SELECT seg_reco.nextbasket_build('nb', '{"neighbours": -3}');
SELECT seg_reco.nextbasket_build('nb', '{"group_size": 0}');
SELECT seg_reco.nextbasket_build('nb', '{"within_decay": 0}');
SELECT seg_reco.nextbasket_build('nb', '{"group_decay": 1.5}');
SELECT seg_reco.nextbasket_build('nb', '{"alpha": "NaN"}');
SELECT seg_reco.nextbasket_build('nb', '{"alpha": 2}');
SELECT seg_reco.nextbasket_build('nb', '{"k": 5}');
SELECT seg_reco.nextbasket_build('nb', '[1]');
SELECT seg_reco.nextbasket_build(NULL);
SELECT seg_reco.nextbasket_build('nope');
SELECT seg_reco._nextbasket_build('nb', NULL, 2, 0.5, 0.5, NULL, 0.5);
INSERT INTO seg_reco.settings VALUES ('nextbasket_neighbours', '0');
SELECT seg_reco.nextbasket_build('nb');
DELETE FROM seg_reco.settings WHERE key = 'nextbasket_neighbours';
-- a model on a custom source has no build (its ids need not be ours)
SELECT m.name, m.model ? 'nextbasket' AS has_build
  FROM seg_reco.als_train('nb_custom', factors => 2, iterations => 2,
                          source => 'SELECT customer_id, product_id, 1 AS weight FROM seg_reco.transactions') m;
SELECT seg_reco.nextbasket_build('nb_custom');
SELECT * FROM seg_reco.nextbasket_scores(1, 10, 'nb_custom');
-- deleting the model deletes its neighbours
DELETE FROM seg_reco.models WHERE name IN ('nb', 'nb_custom');
SELECT count(*) FROM seg_reco.nextbasket_neighbours WHERE model IN ('nb', 'nb_custom');
-- an empty history: the build stores nobody
TRUNCATE seg_reco.transactions;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
VALUES (1, 1, NULL, 1, 1, '2025-03-02 10:00+00', 1, 10, 10);
SELECT seg_reco._nextbasket_build('x', NULL, 2, 0.5, 0.5, 1, 0.5) AS customers;
-- at scale (issue 12): the lines are read in blocks of customers and the
-- neighbours searched through inverted lists, stored in batches; the
-- neighbours and recommend_all's lists of demo data are those of the
-- build that read every line at once (0.2.0 before; checksums computed
-- with it), whether the lines fit in memory or are spilled to temporary
-- files (work_mem 1MB: a buffer of 43,690 lines, 120,000 read)
SELECT relation, rows FROM seg_reco.generate_demo_data(1500, 500, 120000, 0, 11) WHERE relation = 'transactions';
SELECT m.name, m.model ? 'nextbasket' AS has_build
  FROM seg_reco.als_train('nbdemo', factors => 4, iterations => 2) m;
CREATE TEMP VIEW nb_sum AS
SELECT count(*) AS customers, sum(cardinality(product_ids)) AS entries,
       md5(string_agg(customer_id || ':' || product_ids::text || ':' || scores::text, ';' ORDER BY customer_id)) AS checksum
  FROM seg_reco.nextbasket_neighbours WHERE model = 'nbdemo';
CREATE TEMP VIEW ra_sum AS
SELECT count(*) AS rows,
       md5(string_agg(customer_id || ':' || product_id || ':' || round(score::numeric, 9) || ':' || rank, ';'
                      ORDER BY customer_id, rank)) AS checksum
  FROM seg_reco.recommend_all('nbdemo', 5);
SELECT * FROM nb_sum;
SELECT * FROM ra_sum;
SELECT customer_id, product_ids[1:5], scores[1:5] FROM seg_reco.nextbasket_neighbours
 WHERE model = 'nbdemo' AND customer_id IN (1, 750, 1500) ORDER BY customer_id;
SET work_mem = '1MB';
SELECT seg_reco.nextbasket_build('nbdemo') ->> 'customers' AS customers;
SELECT * FROM nb_sum;
SELECT * FROM ra_sum;
RESET work_mem;
-- recommend_all for a few customers (the incremental refresh's lists)
-- reads only their neighbour rows, by the primary key (before: every
-- customer's rows, to use three; 3.7 s for 525 customers at 10x on
-- Citus), and gives them the lists it gives them among everyone's (the
-- weights named: the neighbours' source weighs, whatever the settings
-- earlier tests leave)
\set nbw '{"als": 1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 1, "upcf": 1, "seasonal": 0}'
SAVEPOINT few_customers;
SET LOCAL enable_seqscan = off;
CREATE TEMP TABLE nb_fetched0 AS
SELECT pg_stat_get_xact_tuples_fetched('seg_reco.nextbasket_neighbours'::regclass) AS n;
SELECT count(*) AS rows FROM seg_reco.recommend_all('nbdemo', 5, weights => :'nbw', customer_ids => ARRAY[1, 750, 1500]::bigint[]);
SELECT pg_stat_get_xact_tuples_fetched('seg_reco.nextbasket_neighbours'::regclass) - (SELECT n FROM nb_fetched0)
       AS neighbour_rows_read;
ROLLBACK TO SAVEPOINT few_customers;
SELECT count(*) AS differences
  FROM ((SELECT customer_id, product_id, rank, score
           FROM seg_reco.recommend_all('nbdemo', 5, weights => :'nbw', customer_ids => ARRAY[1, 750, 1500]::bigint[])
         EXCEPT
         SELECT customer_id, product_id, rank, score
           FROM seg_reco.recommend_all('nbdemo', 5, weights => :'nbw') WHERE customer_id IN (1, 750, 1500))
        UNION ALL
        (SELECT customer_id, product_id, rank, score
           FROM seg_reco.recommend_all('nbdemo', 5, weights => :'nbw') WHERE customer_id IN (1, 750, 1500)
         EXCEPT
         SELECT customer_id, product_id, rank, score
           FROM seg_reco.recommend_all('nbdemo', 5, weights => :'nbw', customer_ids => ARRAY[1, 750, 1500]::bigint[]))) d;
-- the candidate sample (setting nextbasket_candidates): past it, the
-- neighbours are searched among that many customers chosen by a hash of
-- the id, whatever the order of the lines
INSERT INTO seg_reco.settings VALUES ('nextbasket_candidates', '300');
SELECT p ->> 'candidates' AS candidates, p ->> 'customers' AS customers
  FROM seg_reco.nextbasket_build('nbdemo') p;
SELECT * FROM nb_sum;
CREATE TEMP TABLE nb_demo_lines AS SELECT * FROM seg_reco.transactions;
TRUNCATE seg_reco.transactions;
INSERT INTO seg_reco.transactions SELECT * FROM nb_demo_lines ORDER BY md5(line_id::text);
SELECT seg_reco.nextbasket_build('nbdemo') ->> 'customers' AS customers;
SELECT * FROM nb_sum;
-- bad values of the setting and of params
UPDATE seg_reco.settings SET value = '99' WHERE key = 'nextbasket_candidates';
SELECT seg_reco.nextbasket_build('nbdemo');
UPDATE seg_reco.settings SET value = '"many"' WHERE key = 'nextbasket_candidates';
SELECT seg_reco.nextbasket_build('nbdemo');
DELETE FROM seg_reco.settings WHERE key = 'nextbasket_candidates';
SELECT seg_reco.nextbasket_build('nbdemo', '{"candidates": 20000000}');
SELECT seg_reco.nextbasket_build('nbdemo', '{"candidates": null}');
SELECT seg_reco._nextbasket_build('nbdemo', NULL, 2, 0.5, 0.5, 10, 0.5, NULL);
DELETE FROM seg_reco.models WHERE name = 'nbdemo';
