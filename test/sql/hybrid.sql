-- Hybrid recommend_for: the blend, its sources, weights, diversity (MMR),
-- the category cap, exclusions, boosts, cold start, on a hand-made catalogue
\i test/sql/include/hand_made_sources.sql
TRUNCATE seg_reco.segment_popularity, seg_reco.popularity_info;

-- three categories; 13 is new (never sold), 14 inactive
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active) VALUES
 (1, 'Epler røde', 'frukt', 'epler', 30, true), (2, 'Epler gule', 'frukt', 'epler', 30, true),
 (3, 'Pærer', 'frukt', 'pærer', 35, true), (4, 'Bananer', 'frukt', 'bananer', 25, true),
 (5, 'Lettmelk', 'meieri', 'melk', 20, true), (6, 'Helmelk', 'meieri', 'melk', 22, true),
 (7, 'Ost mild', 'meieri', 'ost', 90, true), (8, 'Yoghurt naturell', 'meieri', 'yoghurt', 25, true),
 (9, 'Brød grovt', 'brød', 'brød', 45, true), (10, 'Brødet lyst', 'brød', 'brød', 40, true),
 (11, 'Rundstykker', 'brød', 'rundstykker', 30, true), (12, 'Knekkebrød', 'brød', 'knekkebrød', 35, true),
 (13, 'Epler grønne', 'frukt', 'epler', 30, true), (14, 'Pærer gamle', 'frukt', 'pærer', 30, false);
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 20) c;
-- customers 1-4 buy fruit and dairy, 5-8 bread and dairy, every week for
-- 8 weeks, each a different mix; customer 9 bought once
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT row_number() OVER (), c * 100 + w, c, p, 1,
       '2025-01-06 10:00+00'::timestamptz + make_interval(days => 7 * w + c), 1, 10, 10
  FROM generate_series(1, 8) c, generate_series(0, 7) w,
       LATERAL unnest(CASE WHEN c <= 4 THEN ARRAY[1 + (c + w) % 3, 5 + (c * w) % 3, 4]
                           ELSE ARRAY[9 + (c + w) % 3, 5 + (c * w) % 3, 12] END) p
 WHERE (c + w) % 4 <> 0;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
VALUES (1000, 9001, 9, 9, 1, '2025-02-20 10:00+00', 1, 45, 45);
SELECT seg_reco.build_content() ->> 'products' AS products;
SELECT seg_reco.build_popularity() ->> 'buyers' AS buyers;
SELECT m.name FROM seg_reco.als_train('default', factors => 3, regularization => 0.1, iterations => 10) m;

-- the blend: every row says which sources gave at least 10% of its score
SELECT product_id, round(score::numeric, 3) AS score, rank, sources
  FROM seg_reco.recommend_for(1, 6);
-- new to the customer: no buy_again, no products already bought; the
-- defaults for new products weigh als 1, nextbasket 0.05
SELECT product_id, round(score::numeric, 3) AS score, rank, sources
  FROM seg_reco.recommend_for(1, 4, include_purchased => false);
-- a product never sold (13) reaches a fruit buyer through content alone
SELECT product_id, rank, sources
  FROM seg_reco.recommend_for(1, 10, include_purchased => false, weights => '{"als": 0, "popularity": 0, "content": 1, "nextbasket": 0}')
 WHERE product_id = 13;

-- weights override: buy-again alone lists the customer's own products (a
-- weights object is whole: the sources it leaves out weigh 0)
SELECT array_agg(product_id ORDER BY rank) AS buy_again_only,
       bool_and(sources = '{buy_again}') AS only_buy_again
  FROM seg_reco.recommend_for(1, 5, weights => '{"buy_again": 1}');
SELECT array_agg(product_id ORDER BY product_id) AS bought
  FROM (SELECT DISTINCT product_id FROM seg_reco.transactions WHERE customer_id = 1) b;
-- the defaults come from the setting hybrid_weights (tune_weights writes it)
INSERT INTO seg_reco.settings VALUES ('hybrid_weights',
  '{"rebuy": {"als": 0, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0}, "new": {"als": 1, "content": 0, "popularity": 0, "nextbasket": 0}}');
SELECT array_agg(product_id ORDER BY rank) AS from_setting, bool_and(sources = '{buy_again}') AS only_buy_again
  FROM seg_reco.recommend_for(1, 5);
SELECT bool_and(sources = '{als}') AS only_als FROM seg_reco.recommend_for(1, 3, include_purchased => false);
SELECT array_agg(product_id ORDER BY rank) AS call_overrides_setting
  FROM seg_reco.recommend_for(1, 3, weights => '{"buy_again": 0, "popularity": 1}');
-- a stored object written before next basket existed keeps its meaning:
-- ALS alone, next basket (a source it leaves out) weighs 0, not its
-- default; recommend_all says so once (a NOTICE), recommend_for never
UPDATE seg_reco.settings SET value = '{"rebuy": {"als": 1, "content": 0, "popularity": 0, "buy_again": 0}}'
 WHERE key = 'hybrid_weights';
SELECT bool_and(sources = '{als}') AS als_alone, count(*) FROM seg_reco.recommend_for(1, 5);
SET client_min_messages = notice;
SELECT bool_and(sources = '{als}') AS als_alone, count(*)
  FROM seg_reco.recommend_all('default', 5, customer_ids => ARRAY[1, 5]::bigint[]);
SET client_min_messages = warning;
DELETE FROM seg_reco.settings WHERE key = 'hybrid_weights';

-- diversity: MMR trades score for variety (content alone puts bananas and
-- two milks first, all bought weekly); the category cap (fewer rows when
-- categories run out); exclude
SELECT array_agg(product_id ORDER BY rank) AS plain,
       round(seg_reco.intra_list_diversity(array_agg(product_id))::numeric, 3) AS ild
  FROM seg_reco.recommend_for(1, 3, weights => '{"als": 0, "popularity": 0, "buy_again": 0, "content": 1, "nextbasket": 0}');
SELECT array_agg(product_id ORDER BY rank) AS mmr,
       round(seg_reco.intra_list_diversity(array_agg(product_id))::numeric, 3) AS ild
  FROM seg_reco.recommend_for(1, 3, weights => '{"als": 0, "popularity": 0, "buy_again": 0, "content": 1, "nextbasket": 0}',
                              diversity => 0.7);
SELECT array_agg(p.category ORDER BY r.rank) AS capped
  FROM seg_reco.recommend_for(1, 4, max_per_category => 1) r JOIN seg_reco.products p USING (product_id);
SELECT array_agg(product_id ORDER BY rank) AS without_top
  FROM seg_reco.recommend_for(1, 3, exclude => (SELECT array_agg(product_id) FROM seg_reco.recommend_for(1, 1)));

-- boost: a campaign product (bread for a fruit buyer) goes to the top
SELECT product_id, rank, sources
  FROM seg_reco.recommend_for(1, 2, boost => '{"11": 5}');

-- few purchases: with history_prior 2, ALS and buy-again count h / (h + 2)
-- (h = 1 receipt here): with als 1 against popularity 0.5, popularity leads
-- (ALS counts 1/3); the defaults for new products have history_prior 0
SELECT product_id, rank, sources FROM seg_reco.recommend_for(9, 3, include_purchased => false);
SELECT product_id, rank, sources
  FROM seg_reco.recommend_for(9, 3, include_purchased => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0.5, "nextbasket": 0, "history_prior": 2}');
-- content alone (the object is whole)
SELECT product_id, rank, sources
  FROM seg_reco.recommend_for(9, 3, include_purchased => false, weights => '{"content": 1}');

-- no history: the list build_popularity chose (here popularity: one
-- customer first seen in its validation window, too few to earn the
-- demographic list; see coldstart); unknown: global popularity
SELECT seg_reco.build_popularity() -> 'cold_start' ->> 'chosen' AS chosen,
       (SELECT cold_start FROM seg_reco.popularity_info) AS served;
SELECT product_id, rank, sources FROM seg_reco.recommend_for(20, 3);
-- the setting cold_start_source "demographic": the customer's segment list
INSERT INTO seg_reco.settings VALUES ('cold_start_source', '"demographic"');
SELECT seg_reco.build_popularity() -> 'cold_start' AS cold_start;
SELECT product_id, rank, sources FROM seg_reco.recommend_for(20, 3);
-- a member with ALS factors but no receipt (digital events only: here 1's
-- factors, written by hand) gets the same cold start with re-buys (ALS
-- counts h / (h + 2) = 0), from recommend_for and recommend_all alike
INSERT INTO seg_reco.als_customer_factors (model, customer_id, factors)
SELECT model, 19, factors FROM seg_reco.als_customer_factors WHERE model = 'default' AND customer_id = 1;
SELECT product_id, rank, sources FROM seg_reco.recommend_for(19, 3);
SELECT customer_id, product_id, rank, sources
  FROM seg_reco.recommend_all('default', 3, customer_ids => ARRAY[19]::bigint[]);
-- new products: ALS (history_prior 0) applies, the blend serves
SELECT bool_and(sources = '{als}') AS als FROM seg_reco.recommend_for(19, 3, include_purchased => false);
DELETE FROM seg_reco.als_customer_factors WHERE model = 'default' AND customer_id = 19;
-- an id not in seg_reco.customers (an anonymous visitor, a stale id in a
-- dashboard's join): no error, the global list labelled popularity
SELECT count(*), bool_and(sources = '{popularity}') AS global FROM seg_reco.recommend_for(424242, 3);
DELETE FROM seg_reco.settings WHERE key = 'cold_start_source';
SELECT count(*), bool_and(sources = '{popularity}') AS global FROM seg_reco.recommend_for(424242, 3);

-- k larger than the catalogue: every active product, once
SELECT count(*), count(DISTINCT product_id), bool_and(product_id <> 14) AS no_inactive
  FROM seg_reco.recommend_for(1, 1000);

-- recommend_all gives recommend_for's lists (also with MMR and a cap)
SELECT bool_and(a.product_id = r.product_id AND abs(a.score - r.score) < 1e-9 AND a.sources = r.sources) AS same,
       count(*)
  FROM seg_reco.recommend_all('default', 4, diversity => 0.3, max_per_category => 2) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 4, diversity => 0.3, max_per_category => 2) r
    ON r.rank = a.rank;

-- the per-backend caches follow the data within the session: the products
-- a call ranks (the model's and the content build's, with their popularity)
-- are kept per model version and content build; product facts are read at
-- every call.  A product added to the catalogue is ranked once
-- build_content has run:
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
VALUES (15, 'Epler søte', 'frukt', 'epler', 30, true);
SELECT count(*) FILTER (WHERE product_id = 15) AS new_product_listed
  FROM seg_reco.recommend_for(1, 20, weights => '{"als": 0, "popularity": 0, "buy_again": 0, "content": 1, "nextbasket": 0}');
SELECT seg_reco.build_content() ->> 'products' AS products;
SELECT count(*) FILTER (WHERE product_id = 15) AS new_product_listed
  FROM seg_reco.recommend_for(1, 20, weights => '{"als": 0, "popularity": 0, "buy_again": 0, "content": 1, "nextbasket": 0}');
-- a retrained model brings its popularity: 13, never sold, now bought by 10-14
SELECT round(score::numeric, 3) AS popularity_13
  FROM seg_reco.recommend_for(1, 20, weights => '{"als": 0, "content": 0, "buy_again": 0, "popularity": 1, "nextbasket": 0}')
 WHERE product_id = 13;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 2000 + c, 9100 + c, c, 13, 1, '2025-02-21 10:00+00', 1, 30, 30 FROM generate_series(10, 14) c;
SELECT m.name FROM seg_reco.als_train('default', factors => 3, regularization => 0.1, iterations => 10) m;
SELECT round(score::numeric, 3) AS popularity_13
  FROM seg_reco.recommend_for(1, 20, weights => '{"als": 0, "content": 0, "buy_again": 0, "popularity": 1, "nextbasket": 0}')
 WHERE product_id = 13;
-- a product made inactive leaves the lists at once
SELECT product_id AS top FROM seg_reco.recommend_for(1, 1) \gset
UPDATE seg_reco.products SET active = false WHERE product_id = :top;
SELECT count(*) FILTER (WHERE product_id = :top) AS still_listed, count(*) AS listed
  FROM seg_reco.recommend_for(1, 20);

-- product ids 2^40 apart (the universe finds them by bisection, not in the
-- table it keeps for a dense range of ids): the same lists and scores, ids
-- aside, from the same data renumbered in the same order
CREATE TEMP TABLE lists_dense AS
SELECT 'all' AS call, customer_id, product_id, rank, score, sources FROM seg_reco.recommend_all('default', 5)
UNION ALL
SELECT 'content', 1, product_id, rank, score, sources
  FROM seg_reco.recommend_for(1, 5, weights => '{"als": 0.5, "popularity": 0.1, "buy_again": 1, "content": 1, "nextbasket": 0}');
CREATE TEMP TABLE keep_products AS SELECT * FROM seg_reco.products;
CREATE TEMP TABLE keep_lines AS SELECT * FROM seg_reco.transactions;
CREATE TEMP TABLE keep_events AS SELECT * FROM seg_reco.digital_events;
UPDATE keep_products SET product_id = product_id * 1099511627776;
UPDATE keep_lines SET product_id = product_id * 1099511627776;
UPDATE keep_events SET product_id = product_id * 1099511627776;
TRUNCATE seg_reco.transactions, seg_reco.digital_events, seg_reco.products;
INSERT INTO seg_reco.products SELECT * FROM keep_products;
INSERT INTO seg_reco.transactions SELECT * FROM keep_lines;
INSERT INTO seg_reco.digital_events SELECT * FROM keep_events;
SELECT seg_reco.build_content() ->> 'products' AS products;
SELECT seg_reco.build_popularity() ->> 'buyers' AS buyers;
SELECT m.name FROM seg_reco.als_train('default', factors => 3, regularization => 0.1, iterations => 10) m;
CREATE TEMP TABLE lists_sparse AS
SELECT 'all' AS call, customer_id, product_id / 1099511627776 AS product_id, rank, score, sources FROM seg_reco.recommend_all('default', 5)
UNION ALL
SELECT 'content', 1, product_id / 1099511627776, rank, score, sources
  FROM seg_reco.recommend_for(1, 5, weights => '{"als": 0.5, "popularity": 0.1, "buy_again": 1, "content": 1, "nextbasket": 0}');
SELECT (SELECT count(*) FROM lists_dense) AS rows_dense, (SELECT count(*) FROM lists_sparse) AS rows_sparse,
       (SELECT count(*) FROM (SELECT * FROM lists_dense EXCEPT ALL SELECT * FROM lists_sparse) d) AS differ;

-- errors
SELECT * FROM seg_reco.recommend_for(1, weights => '{"als": -1}');
SELECT * FROM seg_reco.recommend_for(1, weights => '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}');
SELECT * FROM seg_reco.recommend_for(1, weights => '{"collaborative": 1}');
SELECT * FROM seg_reco.recommend_for(1, weights => '[1]');
SELECT * FROM seg_reco.recommend_for(1, diversity => 1.5);
SELECT * FROM seg_reco.recommend_for(1, max_per_category => 0);
SELECT * FROM seg_reco.recommend_for(1, boost => '{"x": 1}');
SELECT * FROM seg_reco.recommend_for(1, boost => '{"3": "a lot"}');
ROLLBACK;
