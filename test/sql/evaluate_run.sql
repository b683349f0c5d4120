-- seg_reco.evaluate() on a tiny history with metrics worked out by hand
\i test/sql/include/hand_made_sources.sql
TRUNCATE seg_reco.segment_popularity, seg_reco.popularity_info;
INSERT INTO seg_reco.products (product_id, name, category, unit_price) VALUES
 (1, 'Epler', 'frukt', 30), (2, 'Pærer', 'frukt', 30), (3, 'Lettmelk', 'meieri', 20),
 (4, 'Ost', 'meieri', 90), (5, 'Brød', 'brød', 40), (6, 'Rundstykker', 'brød', 30);
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county)
SELECT c, '2024-01-01', 1980, 2, 'Oslo' FROM generate_series(1, 5) c;
-- before the split (2025-03-01): 1 buys apples weekly (3 receipts) and pears
-- once; 2 apples twice and milk once; 3 cheese and bread once; 5 nothing.
-- After: 1 buys apples and rolls; 2 milk and cheese; 5 apples; 3 nothing.
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount) VALUES
 (1, 1, 1, 1, 1, '2025-02-01 10:00', 1, 30, 30), (2, 1, 1, 2, 1, '2025-02-01 10:00', 1, 30, 30),
 (3, 2, 1, 1, 1, '2025-02-08 10:00', 1, 30, 30), (4, 3, 1, 1, 1, '2025-02-15 10:00', 1, 30, 30),
 (5, 4, 2, 1, 1, '2025-02-03 10:00', 1, 30, 30), (6, 4, 2, 3, 1, '2025-02-03 10:00', 1, 20, 20),
 (7, 5, 2, 1, 1, '2025-02-20 10:00', 1, 30, 30),
 (8, 6, 3, 4, 1, '2025-02-10 10:00', 1, 90, 90), (9, 6, 3, 5, 1, '2025-02-10 10:00', 1, 40, 40),
 (10, 7, 1, 1, 1, '2025-03-03 10:00', 1, 30, 30), (11, 7, 1, 6, 1, '2025-03-03 10:00', 1, 30, 30),
 (12, 8, 2, 3, 1, '2025-03-04 10:00', 1, 20, 20), (13, 8, 2, 4, 1, '2025-03-04 10:00', 1, 90, 90),
 (14, 9, 5, 1, 1, '2025-03-05 10:00', 1, 30, 30);
SELECT seg_reco.build_content() ->> 'products' AS products;
SELECT seg_reco.build_popularity() ->> 'buyers' AS buyers_now;

-- k = 2.  buy_again lists 1's [1, 2] (apples: 3 receipts) and 2's [1, 3];
-- relevant {1, 6} and {3, 4}: hits at rank 1 and at rank 2.
--   precision (1/2 + 1/2) / 2 = 0.5, recall 0.5, hit 1,
--   NDCG (1 / (1 + 1/log2 3) + (1/log2 3) / (1 + 1/log2 3)) / 2 = 0.5,
--   MAP (1/2 + (1/2)/2) / 2 = 0.375, coverage {1, 2, 3} / 6 = 0.5.
-- popularity (share of customers before the split: apples 2/3, the rest
-- 1/3, ties to the lower id) lists [1, 2] for both: 1 hits at rank 1,
-- 2 misses: precision 0.25, recall 0.25, NDCG 0.613147 / 2 = 0.306574,
-- MAP 0.25, hit 0.5, coverage 2/6.  Mode new: 1 gets [3, 4] for {6}: miss;
-- 2 gets [2, 4] for {4}: rank 2, so precision 0.25, recall 0.5,
-- NDCG 0.630930 / 2 = 0.315465, MAP (1/2) / 2 = 0.25, hit 0.5.
-- Cold start: 5 gets [1, 2] for {1}: precision 0.5, recall, NDCG, MAP, hit 1.
SELECT recommender, mode, customers,
       round(precision_at_k::numeric, 6) AS p, round(recall_at_k::numeric, 6) AS r,
       round(ndcg_at_k::numeric, 6) AS ndcg, round(map_at_k::numeric, 6) AS map,
       round(hit_rate::numeric, 6) AS hit, round(coverage::numeric, 6) AS coverage
  FROM seg_reco.evaluate('2025-03-01', 2,
                         '{"recommenders": ["popularity", "buy_again", "cold_start"], "als": {"factors": 2}}',
                         'hand-made');

-- the run is stored; the private model is gone; the popularity is put back
SELECT name, split_date, k, config -> 'recommenders' AS recommenders, count(*) AS rows
  FROM seg_reco.evaluation_runs GROUP BY run_id, name, split_date, k, config;
SELECT count(*) AS models_left FROM seg_reco.models WHERE name LIKE '\_seg\_reco\_eval\_%';
SELECT summary ->> 'buyers' AS buyers_again FROM seg_reco.popularity_info;

-- all recommenders run (ALS and content too); test_days limits the window
SELECT count(*) AS rows, count(DISTINCT recommender) AS recommenders
  FROM seg_reco.evaluate('2025-03-01', 2, '{"als": {"factors": 2}, "test_days": 3}');

-- tune_weights: each candidate scored on the window; the best per mode
-- becomes the setting hybrid_weights (ties: the first candidate).  With
-- re-buys (k = 2) both lists equal buy_again's (NDCG 0.5, as above); for
-- new products buy-again does not apply, so both are popularity (0.315465).
SELECT mode, weights, round(ndcg_at_k::numeric, 6) AS ndcg, chosen
  FROM seg_reco.tune_weights('2025-03-01',
         '{"k": 2, "als": {"factors": 2}, "test_days": 10,
           "candidates": [{"als": 0, "content": 0, "popularity": 1, "buy_again": 1, "nextbasket": 0},
                          {"als": 0, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0}]}');
SELECT seg_reco.setting('hybrid_weights') AS hybrid_weights;
SELECT * FROM seg_reco.tune_weights('2025-03-01', '{"candidates": []}');

-- errors
SELECT * FROM seg_reco.evaluate('2025-03-01', 0);
SELECT * FROM seg_reco.evaluate('2025-03-01', 2, '{"colour": 1}');
SELECT * FROM seg_reco.evaluate('2025-03-01', 2, '{"recommenders": ["magic"]}');
SELECT * FROM seg_reco.evaluate('2025-03-01', 2, '[]');
SELECT * FROM seg_reco.evaluate(NULL);
-- a test window after the last purchase is refused at once, before any
-- training (issue 11, defect 7)
SELECT * FROM seg_reco.evaluate('2030-01-01', 2);
SELECT * FROM seg_reco.evaluate('2025-03-06', 2, '{"test_days": 7}');
SELECT * FROM seg_reco.tune_weights('2030-01-01');
ROLLBACK;
