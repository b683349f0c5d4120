-- UP-CF@r's neighbours (the next-basket build's second source, "upcf"):
-- values computed by hand on five customers, the source in the blend and
-- the explanation, row order, bad inputs.
\i test/sql/include/hand_made_sources.sql
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1, 9) p;
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 5) c;
-- baskets, oldest first (receipt = customer x 10 + basket number, one day apart):
--   customer 1: {1, 2}, {1, 3}, {1, 4}     I1 = {1, 2, 3, 4}
--   customer 2: {1, 2, 5}, {2, 6}          I2 = {1, 2, 5, 6}
--   customer 3: {1, 5}, {7}, {5, 7}        I3 = {1, 5, 7}
--   customer 4: {3, 4, 8}                  I4 = {3, 4, 8}
--   customer 5: {9}                        I5 = {9}
CREATE TEMP TABLE up_lines AS
SELECT row_number() OVER (ORDER BY c, b, p) AS line_id, c * 10 + b AS receipt_id, c AS customer_id, p AS product_id,
       '2025-03-01 10:00+00'::timestamptz + make_interval(days => b) AS ts
  FROM (VALUES (1, 1, 1), (1, 1, 2), (1, 2, 1), (1, 2, 3), (1, 3, 1), (1, 3, 4),
               (2, 1, 1), (2, 1, 2), (2, 1, 5), (2, 2, 2), (2, 2, 6),
               (3, 1, 1), (3, 1, 5), (3, 2, 7), (3, 3, 5), (3, 3, 7),
               (4, 1, 3), (4, 1, 4), (4, 1, 8), (5, 1, 9)) v(c, b, p);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT line_id, receipt_id, customer_id, product_id, 1, ts, 1, 10, 10 FROM up_lines ORDER BY line_id;

-- Parameters: upcf_baskets r = 2, upcf_alpha 0.75, upcf_locality q = 2,
-- upcf_neighbours k = 2.
-- UP@2(v, i), the share of v's last 2 baskets holding i:
--   v1 {1,3},{1,4}: 1: 1, 3: 0.5, 4: 0.5 (2 is older: 0)
--   v2 {1,2,5},{2,6}: 1: 0.5, 2: 1, 5: 0.5, 6: 0.5
--   v3 {7},{5,7}: 7: 1, 5: 0.5 (1 is older: 0);  v4: 3, 4, 8: 1;  v5: 9: 1
-- sim(u, v) = |Iu & Iv| / (|Iu|^0.75 |Iv|^0.25); intersections 1-2: 2,
-- 1-3: 1, 1-4: 2, 2-3: 2, the others 0.
--   customer 1 (|I| 4): v4 2 / (4^0.75 3^0.25) = 0.537285, v2 2 / 4 = 0.5,
--     v3 0.268642: the 2 nearest 4 and 2, sim^2 0.288675 and 0.25.  New
--     products: 8: 0.288675 x 1; 5: 0.25 x 0.5 = 0.125; 6: 0.125.
--     Divided by the best: 5: 0.433013, 6: 0.433013, 8: 1.
--   customer 2 (|I| 4): v3 0.537285, v1 0.5: 7: 0.288675; 3, 4: 0.125.
--     -> 3: 0.433013, 4: 0.433013, 7: 1.
--   customer 3 (|I| 3): v2 2 / (3^0.75 4^0.25) = 0.620403, v1 0.310202;
--     sim^2 0.3849, 0.096225.  2: 0.3849 x 1; 6: 0.3849 x 0.5 = 0.19245;
--     3, 4: 0.096225 x 0.5 = 0.048113 (2 of v1 is older than its last 2).
--     -> 2: 1, 3: 0.125, 4: 0.125, 6: 0.5.
--   customer 4 (|I| 3): v1 0.620403, then v2 at 0 (ties to the lower id;
--     a similarity of 0 adds nothing): 1: 0.3849 -> 1: 1.
--   customer 5: no customer shares a product: nothing.
-- (The same by bench/nextbasket_ref.py's upcf_scores, whose customer itself
-- adds nothing to the products new to it.)
SELECT m.name FROM seg_reco.als_train('up', factors => 2, regularization => 0.1, iterations => 5) m;
SELECT (b - 'seconds') - ARRAY['group_size', 'within_decay', 'group_decay', 'neighbours', 'alpha', 'candidates'] AS build
  FROM seg_reco.nextbasket_build('up', '{"upcf_baskets": 2, "upcf_alpha": 0.75, "upcf_locality": 2,
                                         "upcf_neighbours": 2}') b;
SELECT customer_id, upcf_product_ids, upcf_scores
  FROM seg_reco.nextbasket_neighbours WHERE model = 'up' ORDER BY customer_id;
-- recorded in the model's row
SELECT m.model -> 'nextbasket' -> 'upcf_locality' AS q FROM seg_reco.models m WHERE m.name = 'up';

-- r = 0 (every basket): v1's UP becomes 1: 1, 2, 3, 4: 1/3, so customer
-- 3's 2 gets 0.3849 x 1 + 0.096225 / 3 = 0.416975, 6 0.19245, 3 and 4
-- 0.032075 (-> 1, 0.461538, 0.076923, 0.076923), and customer 4's 2 from
-- v1 0.3849 / 3 (-> 1: 1, 2: 0.333333)
SELECT (seg_reco.nextbasket_build('up', '{"upcf_baskets": 0, "upcf_alpha": 0.75, "upcf_locality": 2,
                                          "upcf_neighbours": 2}') -> 'upcf_baskets') AS r;
SELECT customer_id, upcf_product_ids, upcf_scores
  FROM seg_reco.nextbasket_neighbours WHERE model = 'up' AND customer_id IN (3, 4) ORDER BY customer_id;

-- alpha 0.25, q 1, k 4 (all the others): customer 1's sims v4 2 / (4^0.25
-- 3^0.75) = 0.620403, v2 0.5, v3 0.310202: 8: 0.620403, 5: 0.5 x 0.5 +
-- 0.310202 x 0.5 = 0.405101, 7: 0.310202, 6: 0.25 -> 5: 0.652964, 6:
-- 0.402964, 7: 0.5, 8: 1
SELECT (seg_reco.nextbasket_build('up', '{"upcf_baskets": 2, "upcf_alpha": 0.25, "upcf_locality": 1,
                                          "upcf_neighbours": 4}') -> 'upcf_neighbours') AS k;
SELECT customer_id, upcf_product_ids, upcf_scores
  FROM seg_reco.nextbasket_neighbours WHERE model = 'up' AND customer_id = 1;

-- back to r 2, alpha 0.75, q 2, k 2 through the settings
INSERT INTO seg_reco.settings (key, value) VALUES
    ('nextbasket_upcf_baskets', '2'), ('nextbasket_upcf_alpha', '0.75'),
    ('nextbasket_upcf_locality', '2'), ('nextbasket_upcf_neighbours', '2');
SELECT (seg_reco.nextbasket_build('up') -> 'upcf_locality') AS q;
CREATE TEMP TABLE up_first AS
SELECT customer_id, product_ids, scores, upcf_product_ids, upcf_scores
  FROM seg_reco.nextbasket_neighbours WHERE model = 'up';
SELECT customer_id, upcf_product_ids, upcf_scores FROM up_first ORDER BY customer_id;

-- the source in the blend, alone, products new to the customer: customer 3
-- gets 2, 6, then 3 and 4 (ties to the lower id), divided by the best
SELECT product_id, round(score::numeric, 4) AS score, rank, sources
  FROM seg_reco.recommend_for(3, 4, include_purchased => false, model => 'up',
                              weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 1}');
-- with re-buys allowed it still speaks for new products only: the same four
SELECT product_id, round(score::numeric, 4) AS score, rank, sources
  FROM seg_reco.recommend_for(3, 4, include_purchased => true, model => 'up',
                              weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 1}');
-- recommend_all gives the same lists (customer 5 has no source: cold start)
SELECT customer_id, array_agg(product_id ORDER BY rank) AS products,
       array_agg(round(score::numeric, 4) ORDER BY rank) AS scores
  FROM seg_reco.recommend_all('up', 3, include_purchased => false,
                              weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 1}')
 WHERE customer_id <= 4
 GROUP BY customer_id ORDER BY customer_id;
-- the default weights for new products: ALS 1, next basket 0.05, upcf 0.1;
-- upcf names itself where it gives at least 10% of a score
SELECT count(*) FILTER (WHERE 'upcf' = ANY (sources)) > 0 AS upcf_named
  FROM seg_reco.recommend_all('up', 3, include_purchased => false);
SELECT (seg_reco.setting('hybrid_weights') -> 'new' ->> 'upcf')::float8 AS new_weight,
       (seg_reco.setting('hybrid_weights') -> 'rebuy' ->> 'upcf')::float8 AS rebuy_weight;

-- why_recommended: for a product new to the customer, the stored score
-- (relative to the customer's best); none for a product the customer bought
SELECT history_product_id, round(contribution::numeric, 4) AS contribution, purchased, reason
  FROM seg_reco.why_recommended(3, 6, 1, 'up') WHERE reason LIKE '%lately';
SELECT count(*) FROM seg_reco.why_recommended(3, 5, 1, 'up') WHERE reason LIKE '%lately';

-- the same rows in another order, on one thread or two, give the same arrays
DELETE FROM seg_reco.transactions;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT line_id, receipt_id, customer_id, product_id, 1, ts, 1, 10, 10 FROM up_lines ORDER BY line_id DESC;
SET seg_reco.threads = 1;
SELECT (seg_reco.nextbasket_build('up') ->> 'customers') AS customers;
SELECT count(*) AS differing
  FROM up_first f FULL JOIN seg_reco.nextbasket_neighbours n ON n.customer_id = f.customer_id AND n.model = 'up'
 WHERE f.upcf_product_ids IS DISTINCT FROM n.upcf_product_ids OR f.upcf_scores IS DISTINCT FROM n.upcf_scores
    OR f.product_ids IS DISTINCT FROM n.product_ids OR f.scores IS DISTINCT FROM n.scores;
RESET seg_reco.threads;

-- a row built before 0.2.0's upcf columns (NULL) is no source, not an error
UPDATE seg_reco.nextbasket_neighbours SET upcf_product_ids = NULL, upcf_scores = NULL WHERE model = 'up';
SELECT count(*) FROM seg_reco.recommend_for(3, 4, include_purchased => false, model => 'up');

-- upcf_neighbours 0: no second search, NULL arrays, the TIFU-KNN part unchanged
SELECT (seg_reco.nextbasket_build('up', '{"upcf_neighbours": 0}') ->> 'customers') AS customers;
SELECT count(*) FILTER (WHERE n.upcf_product_ids IS NULL AND n.upcf_scores IS NULL) AS without_upcf,
       count(*) FILTER (WHERE n.product_ids = f.product_ids AND n.scores = f.scores) AS same_tifu
  FROM seg_reco.nextbasket_neighbours n JOIN up_first f USING (customer_id) WHERE n.model = 'up';

-- bad inputs: each parameter out of its range, by params and by setting
SELECT seg_reco.nextbasket_build('up', '{"upcf_baskets": -1}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_baskets": 10001}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_alpha": 1.5}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_alpha": -0.1}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_locality": 0}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_locality": 51}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_neighbours": -1}');
SELECT seg_reco.nextbasket_build('up', '{"upcf_neighbours": "many"}');
UPDATE seg_reco.settings SET value = '"x"' WHERE key = 'nextbasket_upcf_locality';
SELECT seg_reco.nextbasket_build('up');
SELECT seg_reco._nextbasket_build('up', NULL, 3, 1, 0.6, 50, 0.5, 10000, 10, 0.75, NULL, 100);
-- a weight for upcf must be a number not below 0
SELECT count(*) FROM seg_reco.recommend_for(3, 4, model => 'up', weights => '{"als": 1, "upcf": -1}');
ROLLBACK;
