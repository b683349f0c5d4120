-- The season (the blend's source "seasonal", re-buys only): the customer's
-- products bought in the same 28 days a year before the coming ones,
-- divided by the best; values by hand, as_of moving the window, the batch
-- path, new products, the shipped weight, bad inputs.
\i test/sql/include/hand_made_sources.sql
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1, 6) p;
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 3) c;
-- customer 1, receipts at noon UTC (one receipt a day):
--   product 1: 2024-07-05, 2024-07-12, 2025-06-01
--   product 2: 2024-07-20, 2025-06-20
--   product 3: 2024-06-20, 2024-07-30, 2025-06-25
--   product 4: 2025-06-10, -15, -20, -25, -28
-- customers 2 and 3 buy products 4, 5 and 6 in 2025 only.
CREATE TEMP TABLE se_lines AS
SELECT row_number() OVER (ORDER BY c, d, p) AS line_id, c * 100000 + (d - '2024-01-01'::date) AS receipt_id,
       c AS customer_id, p AS product_id, d + time '12:00' AT TIME ZONE 'UTC' AS ts
  FROM (VALUES (1, 1, '2024-07-05'::date), (1, 1, '2024-07-12'), (1, 1, '2025-06-01'),
               (1, 2, '2024-07-20'), (1, 2, '2025-06-20'),
               (1, 3, '2024-06-20'), (1, 3, '2024-07-30'), (1, 3, '2025-06-25'),
               (1, 4, '2025-06-10'), (1, 4, '2025-06-15'), (1, 4, '2025-06-20'), (1, 4, '2025-06-25'),
               (1, 4, '2025-06-28'),
               (2, 4, '2025-05-02'), (2, 5, '2025-05-02'), (2, 6, '2025-05-09'),
               (3, 5, '2025-05-03'), (3, 6, '2025-05-03'), (3, 4, '2025-06-03')) v(c, p, d);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT line_id, receipt_id, customer_id, product_id, 1, ts, 1, 10, 10 FROM se_lines ORDER BY line_id;
SELECT m.name FROM seg_reco.als_train('se', factors => 2, regularization => 0.1, iterations => 5) m;

-- as_of 2025-06-30: the window is [2024-07-01, 2024-07-29) (365 days
-- before the day after as_of, 28 days): product 1 has 2 receipts in it,
-- product 2 one, product 3 none (2024-06-20 before, 2024-07-30 after), 4
-- none.  Divided by the best: 1: 1, 2: 0.5.
SELECT product_id, score, rank, sources
  FROM seg_reco.recommend_for(1, 2, model => 'se', weights => '{"seasonal": 1}', as_of => '2025-06-30');
-- beside buy-again the season adds exactly its weight x those values
SELECT w.product_id, round((w.score - b.score)::numeric, 6) AS season_part
  FROM seg_reco.recommend_for(1, 6, model => 'se', weights => '{"buy_again": 1, "seasonal": 0.4}',
                              as_of => '2025-06-30') w
  JOIN seg_reco.recommend_for(1, 6, model => 'se', weights => '{"buy_again": 1}',
                              as_of => '2025-06-30') b USING (product_id)
 ORDER BY w.product_id;
-- as_of 2025-07-20: the window [2024-07-21, 2024-08-18) holds product 3's
-- 2024-07-30 alone (2: 2024-07-20 is a day before it): 3: 1
SELECT product_id, score, rank, sources
  FROM seg_reco.recommend_for(1, 1, model => 'se', weights => '{"seasonal": 1}', as_of => '2025-07-20');
-- recommend_all gives the same rows (the batch path)
SELECT a.customer_id, a.product_id, a.score, a.rank, a.sources
  FROM seg_reco.recommend_all('se', 2, weights => '{"buy_again": 1, "seasonal": 0.4}', as_of => '2025-06-30') a
 WHERE a.customer_id = 1
EXCEPT
SELECT 1, f.product_id, f.score, f.rank, f.sources
  FROM seg_reco.recommend_for(1, 2, model => 'se', weights => '{"buy_again": 1, "seasonal": 0.4}',
                              as_of => '2025-06-30') f;
SELECT count(*) AS rows_customer_1
  FROM seg_reco.recommend_all('se', 2, weights => '{"buy_again": 1, "seasonal": 0.4}', as_of => '2025-06-30') a
 WHERE a.customer_id = 1;
-- no season for customer 2 (nothing bought a year before): with the season
-- alone no source applies, and the cold start serves (popularity here)
SELECT count(*) AS rows, bool_and(sources = '{popularity}') AS popularity
  FROM seg_reco.recommend_for(2, 2, model => 'se', weights => '{"seasonal": 1}', as_of => '2025-06-30');
-- products new to the customer: the season scores none of them, so it
-- changes nothing there
SELECT count(*) AS differ
  FROM (SELECT product_id, score FROM seg_reco.recommend_for(1, 4, include_purchased => false, model => 'se',
                                   weights => '{"als": 1, "seasonal": 1}', as_of => '2025-06-30')
        EXCEPT
        SELECT product_id, score FROM seg_reco.recommend_for(1, 4, include_purchased => false, model => 'se',
                                   weights => '{"als": 1}', as_of => '2025-06-30')) x;
-- the shipped weights: 0.1 with re-buys, 0 for new products
SELECT seg_reco.setting('hybrid_weights') -> 'rebuy' -> 'seasonal' AS rebuy,
       seg_reco.setting('hybrid_weights') -> 'new' -> 'seasonal' AS new;

-- why_recommended names the season: as of the latest line (2025-06-28) the
-- window is [2024-06-29, 2024-07-27): product 1 twice, product 2 once,
-- product 3 not (2024-06-20 and 2024-07-30 are outside)
SELECT w.product_id, r.history_product_id, r.contribution, r.purchased, r.reason
  FROM unnest(ARRAY[1, 2, 3]::bigint[]) w(product_id),
       LATERAL seg_reco.why_recommended(1, w.product_id, 3, 'se') r
 WHERE r.reason LIKE '%last year'
 ORDER BY w.product_id;

-- bad inputs
SELECT * FROM seg_reco.recommend_for(1, 2, model => 'se', weights => '{"seasonal": -1}');
SELECT * FROM seg_reco.recommend_for(1, 2, model => 'se', weights => '{"seasonal": "a lot"}');
SELECT * FROM seg_reco.recommend_for(1, 2, model => 'se', weights => '{"season": 1}');
ROLLBACK;
