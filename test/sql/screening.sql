-- recommend_all with ALS alone (issue 12): float32 scores by seg_reco's own
-- kernels at every instruction-set level, the screening that keeps the
-- products that can be among the best (two rounds: the blocks' maxima,
-- then the groups of the blocks that reach them) and exact scores for
-- those.  1,000 products: seven blocks of 128 and 104 after them, 63
-- panels of sixteen (the AVX-512 kernel's last pass is short); 21 factors.
-- Every level gives recommend_for's lists and score bits, for every
-- customer, with 10 and with 200 (more than the blocks and the products
-- after them: the first round cannot bound), and the screening decides
-- every customer.
\i test/sql/include/hand_made_sources.sql
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1, 1000) p;
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 2000) c;
-- 40 lines a customer, popular products more often (a square law), and
-- each customer's own taste (c % 17)
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT c * 40 + q, c * 10 + q / 4, c,
       1 + ((((c * 7919 + q * 104729) % 1000) ^ 2)::bigint / 1000 + (c % 17) * 53) % 1000, 1,
       '2025-01-01 10:00+00'::timestamptz + (q / 4) * interval '3 day', 1, 10, 10
  FROM generate_series(1, 2000) c, generate_series(0, 39) q;
-- statistics of the lines (the fixture's transaction holds them): each
-- recommend_for below reads its customer's lines through the index
ANALYZE seg_reco.transactions;
SELECT count(DISTINCT product_id) AS products_bought FROM seg_reco.transactions;
SELECT m.name FROM seg_reco.als_train('screen', factors => 21, iterations => 3) m;
SELECT count(*) AS customers FROM seg_reco.als_customer_factors WHERE model = 'screen';
SELECT count(*) AS products FROM seg_reco.als_product_factors WHERE model = 'screen';

CREATE TEMP TABLE ra (simd text, n int, customer_id bigint, product_id bigint, score float8, rank int);
SET seg_reco.simd = generic;
SELECT setting, used FROM seg_reco.simd_info();
-- the screening decides every customer (the DEBUG1 line of recommend_all)
SET client_min_messages = debug1;
SELECT n, count(*) AS rows
  FROM (VALUES (10), (200)) v(n),
       seg_reco.recommend_all('screen', n, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}')
 GROUP BY n ORDER BY n;
SET client_min_messages = warning;
-- each level's lists (set_config for the call that follows, in the loop)
DO $$
DECLARE
    lvl text;
BEGIN
    FOREACH lvl IN ARRAY ARRAY['generic', 'avx2', 'avx512f'] LOOP
        PERFORM pg_catalog.set_config('seg_reco.simd', lvl, true);
        INSERT INTO ra
        SELECT lvl, v.n, a.customer_id, a.product_id, a.score, a.rank
          FROM (VALUES (10), (200)) v(n),
               seg_reco.recommend_all('screen', v.n, only_active => false,
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}') a;
    END LOOP;
END
$$;
RESET seg_reco.simd;
-- each level (a level the CPU lacks falls back to the best below it) against
-- recommend_for, row by row
CREATE TEMP TABLE rf AS
SELECT n, c.customer_id, r.product_id, r.score, r.rank
  FROM (VALUES (10), (200)) v(n),
       (SELECT customer_id FROM seg_reco.als_customer_factors WHERE model = 'screen') c,
       seg_reco.recommend_for(c.customer_id, n, only_active => false, model => 'screen',
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}') r;
SELECT s.simd, v.n, count(f.*) AS rows, count(*) FILTER (WHERE a.product_id = f.product_id AND a.score = f.score) AS same
  FROM (VALUES ('generic'), ('avx2'), ('avx512f')) s(simd)
  CROSS JOIN (VALUES (10), (200)) v(n)
  JOIN rf f ON f.n = v.n
  LEFT JOIN ra a ON a.simd = s.simd AND a.n = f.n AND a.customer_id = f.customer_id AND a.rank = f.rank
 GROUP BY 1, 2 ORDER BY 2, 1 DESC;
SELECT count(*) AS listed_by_only_one
  FROM ((SELECT n, customer_id, rank FROM ra WHERE simd = 'generic' EXCEPT SELECT n, customer_id, rank FROM rf)
        UNION ALL (SELECT n, customer_id, rank FROM rf EXCEPT SELECT n, customer_id, rank FROM ra WHERE simd = 'generic')) x;
-- include_purchased => false: the products each customer bought are read
-- in (customer, product) order into a list held in maintenance_work_mem
-- (16 bytes an entry), past it in a temporary file read back a chunk at a
-- time.  At 1MB (65,536 entries) the pairs below do not fit: the same
-- rows as with the list in memory, and recommend_for's
SELECT count(DISTINCT (customer_id, product_id)) > 65536 AS more_pairs_than_1mb_holds
  FROM seg_reco.transactions;
CREATE TEMP TABLE ra_new (mwm text, customer_id bigint, product_id bigint, score float8, rank int);
SET seg_reco.simd = generic;
SET client_min_messages = debug1;
SET maintenance_work_mem = '64MB';
INSERT INTO ra_new
SELECT '64MB', a.customer_id, a.product_id, a.score, a.rank
  FROM seg_reco.recommend_all('screen', 10, include_purchased => false, only_active => false) a;
SET maintenance_work_mem = '1MB';
INSERT INTO ra_new
SELECT '1MB', a.customer_id, a.product_id, a.score, a.rank
  FROM seg_reco.recommend_all('screen', 10, include_purchased => false, only_active => false) a;
SET client_min_messages = warning;
RESET seg_reco.simd;
-- and for a list of customers (every third)
INSERT INTO ra_new
SELECT '1MB, some', a.customer_id, a.product_id, a.score, a.rank
  FROM seg_reco.recommend_all('screen', 10, include_purchased => false, only_active => false,
                              customer_ids => ARRAY(SELECT generate_series(1, 2000, 3)::bigint)) a;
RESET maintenance_work_mem;
CREATE TEMP TABLE rf_new AS
SELECT c.customer_id, r.product_id, r.score, r.rank
  FROM (SELECT DISTINCT customer_id FROM ra_new) c,
       seg_reco.recommend_for(c.customer_id, 10, include_purchased => false, only_active => false,
                              model => 'screen') r;
SELECT m.mwm, count(*) AS rows,
       count(*) FILTER (WHERE m.product_id = r.product_id AND m.score = r.score) AS same_as_recommend_for,
       count(*) FILTER (WHERE b.customer_id IS NOT NULL) AS bought_listed
  FROM ra_new m
  JOIN rf_new r USING (customer_id, rank)
  LEFT JOIN (SELECT DISTINCT customer_id, product_id FROM seg_reco.transactions) b
         ON b.customer_id = m.customer_id AND b.product_id = m.product_id
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS differ_1mb_64mb
  FROM ((SELECT customer_id, product_id, score, rank FROM ra_new WHERE mwm = '1MB'
         EXCEPT ALL SELECT customer_id, product_id, score, rank FROM ra_new WHERE mwm = '64MB')
        UNION ALL (SELECT customer_id, product_id, score, rank FROM ra_new WHERE mwm = '64MB'
         EXCEPT ALL SELECT customer_id, product_id, score, rank FROM ra_new WHERE mwm = '1MB')) x;

-- The products by descending norm, a stage at a time (3/8, 3/4, all of
-- them, in whole blocks): a customer whose unscored products cannot reach
-- the pool (||x|| ||y_i|| below the bound) or the lowest score is decided
-- without them.  3,000 products (stages 1,152, 2,304, 3,000): the DEBUG1
-- line counts the customers decided at each stage; every level gives
-- recommend_for's rows, with 10 and with 200.
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1001, 3000) p;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 1000000 + c * 40 + q, 1000000 + c * 10 + q / 4, c,
       1 + ((((c * 7919 + q * 104729) % 3000) ^ 2)::bigint / 3000 + (c % 17) * 53) % 3000, 1,
       '2025-03-01 10:00+00'::timestamptz + (q / 4) * interval '3 day', 1, 10, 10
  FROM generate_series(1, 2000) c, generate_series(0, 39) q;
ANALYZE seg_reco.transactions;
SELECT m.name FROM seg_reco.als_train('screen3', factors => 21, iterations => 3) m;
SELECT count(*) AS products FROM seg_reco.als_product_factors WHERE model = 'screen3';
SET seg_reco.simd = generic;
SET client_min_messages = debug1;
SELECT n, count(*) AS rows
  FROM (VALUES (10), (200)) v(n),
       seg_reco.recommend_all('screen3', n, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}')
 GROUP BY n ORDER BY n;
SET client_min_messages = warning;
TRUNCATE ra;
DO $$
DECLARE
    lvl text;
BEGIN
    FOREACH lvl IN ARRAY ARRAY['generic', 'avx2', 'avx512f'] LOOP
        PERFORM pg_catalog.set_config('seg_reco.simd', lvl, true);
        INSERT INTO ra
        SELECT lvl, v.n, a.customer_id, a.product_id, a.score, a.rank
          FROM (VALUES (10), (200)) v(n),
               seg_reco.recommend_all('screen3', v.n, only_active => false,
                                      weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}') a;
    END LOOP;
END
$$;
RESET seg_reco.simd;
CREATE TEMP TABLE rf3 AS
SELECT n, c.customer_id, r.product_id, r.score, r.rank
  FROM (VALUES (10), (200)) v(n),
       (SELECT customer_id FROM seg_reco.als_customer_factors WHERE model = 'screen3') c,
       seg_reco.recommend_for(c.customer_id, n, only_active => false, model => 'screen3',
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "upcf": 0, "seasonal": 0, "history_prior": 0}') r;
SELECT s.simd, v.n, count(f.*) AS rows, count(*) FILTER (WHERE a.product_id = f.product_id AND a.score = f.score) AS same
  FROM (VALUES ('generic'), ('avx2'), ('avx512f')) s(simd)
  CROSS JOIN (VALUES (10), (200)) v(n)
  JOIN rf3 f ON f.n = v.n
  LEFT JOIN ra a ON a.simd = s.simd AND a.n = f.n AND a.customer_id = f.customer_id AND a.rank = f.rank
 GROUP BY 1, 2 ORDER BY 2, 1 DESC;
ROLLBACK;
