-- The next-basket build's neighbour searches on many ties, at a size where
-- the selection of the nearest first narrows the candidates by the maxima
-- of slices (2,000 candidates: 16 or more per neighbour sought): ties
-- must go to the lower customer id there as everywhere.
\i test/sql/include/hand_made_sources.sql
-- 2,000 customers; customer c buys product 1 and product 10000 + c, once.
-- Every pair of customers shares product 1 and nothing else, so:
--   TIFU-KNN: every vector is (w on product 1, w on its own), every pair
--     at the same distance: the 50 nearest of a customer are the 50 lowest
--     other ids, their mean vector product 1 at w and 50 others at w / 50;
--     divided by the best: 1 and 0.02.
--   UP-CF@r: every similarity is 1 / (2^0.5 2^0.5) = 0.5: the 100 most
--     similar are the 100 lowest other ids, each adding 0.5^2 x 1 to its
--     own product (product 1 is not new): 100 products at 1 after the
--     division by the best.
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true
  FROM (SELECT 1 UNION ALL SELECT 10000 + c FROM generate_series(1, 2000) c) v(p);
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 2000) c;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 2 * c + q, c, c, CASE q WHEN 0 THEN 1 ELSE 10000 + c END, 1, '2025-03-01 10:00+00', 1, 10, 10
  FROM generate_series(1, 2000) c, generate_series(0, 1) q;
SELECT m.name FROM seg_reco.als_train('ties', factors => 2, regularization => 0.1, iterations => 2) m;
SELECT b ->> 'customers' AS customers, b ->> 'candidates' AS candidates, b ->> 'neighbours' AS neighbours,
       b ->> 'upcf_neighbours' AS upcf_neighbours
  FROM seg_reco.nextbasket_build('ties') b;
-- customers 1, 2, 30, 51, 52 and 2000: the lowest ids but their own
WITH want AS (
  SELECT u, ARRAY(SELECT p FROM (SELECT 1::bigint AS p UNION ALL
                                 (SELECT 10000 + v FROM generate_series(1, 2000) v WHERE v <> u ORDER BY v LIMIT 50)) s
                  ORDER BY p) AS tifu,
         ARRAY(SELECT 10000::bigint + v FROM generate_series(1, 2000) v WHERE v <> u ORDER BY v LIMIT 100) AS upcf
    FROM unnest(ARRAY[1, 2, 30, 51, 52, 2000]) u)
SELECT w.u AS customer_id,
       n.product_ids = w.tifu AS tifu_lowest_ids,
       (SELECT array_agg(DISTINCT s) FROM unnest(n.scores) s) AS tifu_scores,
       n.upcf_product_ids = w.upcf AS upcf_lowest_ids,
       (SELECT array_agg(DISTINCT s) FROM unnest(n.upcf_scores) s) AS upcf_scores
  FROM want w JOIN seg_reco.nextbasket_neighbours n ON n.model = 'ties' AND n.customer_id = w.u
 ORDER BY w.u;
-- and so for every customer
SELECT count(*) AS customers,
       count(*) FILTER (WHERE n.product_ids[1] = 1 AND cardinality(n.product_ids) = 51
                          AND n.product_ids[51] = 10050 + (n.customer_id <= 50)::int) AS tifu_as_expected,
       count(*) FILTER (WHERE cardinality(n.upcf_product_ids) = 100
                          AND n.upcf_product_ids[100] = 10100 + (n.customer_id <= 100)::int) AS upcf_as_expected
  FROM seg_reco.nextbasket_neighbours n WHERE n.model = 'ties';
ROLLBACK;
