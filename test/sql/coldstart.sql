-- Buy-again, popularity, demographic cold start and novelty on a hand-made history
\i test/sql/include/hand_made_sources.sql
TRUNCATE seg_reco.segment_popularity, seg_reco.popularity_info;

INSERT INTO seg_reco.products (product_id, name, category, unit_price, active) VALUES
 (1, 'Epler', 'frukt', 30, true), (3, 'Brødet', 'brød', 40, true),
 (4, 'Brød grovt', 'brød', 45, true), (5, 'Lettmelk', 'meieri', 20, true),
 (7, 'Ost mild', 'meieri', 90, true), (9, 'Pærer', 'frukt', 35, true),
 (10, 'Epler gule', 'frukt', 30, false);
-- 101 and 102: same segment (born 1980, 4 in the household, Oslo, gull);
-- 103: alone in its segment; 104: only a return; 105: no history, a
-- neighbour of 101/102 with another tier; 106: no demographics at all
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier) VALUES
 (101, '2020-01-01', 1980, 4, 'Oslo', 'gull'),
 (102, '2020-01-01', 1980, 4, 'Oslo', 'gull'),
 (103, '2020-01-01', 1940, 1, 'Nordland', 'platina'),
 (104, '2020-01-01', 1990, 2, 'Oslo', 'basis'),
 (105, '2020-01-01', 1980, 4, 'Oslo', 'basis'),
 (106, '2020-01-01', NULL, NULL, NULL, 'basis');
-- 101: apples weekly (4 receipts, one with two lines), bread every 14 days
-- (2), milk once; 102: milk twice, cheese once, the inactive apples once;
-- 103: bread once; 104: a return
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount) VALUES
 (1, 1, 101, 1, 1, '2025-01-01 10:00+00', 1, 30, 30),
 (2, 1, 101, 3, 1, '2025-01-01 10:00+00', 1, 40, 40),
 (3, 1, 101, 5, 1, '2025-01-01 10:00+00', 1, 20, 20),
 (4, 2, 101, 1, 1, '2025-01-08 10:00+00', 1, 30, 30),
 (5, 2, 101, 1, 1, '2025-01-08 10:00+00', 1, 30, 30),
 (6, 3, 101, 1, 1, '2025-01-15 10:00+00', 1, 30, 30),
 (7, 3, 101, 3, 1, '2025-01-15 10:00+00', 1, 40, 40),
 (8, 4, 101, 1, 1, '2025-01-22 10:00+00', 1, 30, 30),
 (9, 5, 102, 5, 1, '2025-01-03 10:00+00', 1, 20, 20),
 (10, 5, 102, 7, 1, '2025-01-03 10:00+00', 1, 90, 90),
 (11, 6, 102, 5, 1, '2025-01-20 10:00+00', 1, 20, 20),
 (12, 6, 102, 10, 1, '2025-01-20 10:00+00', 1, 30, 30),
 (13, 8, 103, 4, 1, '2025-01-10 10:00+00', 1, 45, 45),
 (14, 7, 104, 1, 1, '2025-01-05 10:00+00', -1, 30, -30);

-- buy-again as of 2025-01-28 (days count from 2025-01-29 00:00): each
-- receipt with the product counts 0.5^(age / 730), and a repeat product
-- gains up to 5% when its cycle has come round: score = sum x (1 + 0.05 x
-- timing).
-- apples: n = 4, ages 27.583, 20.583, 13.583, 6.583: sum = 3.9357;
--   mu = 7, d = 6.583, s = max(0, 7/4, 1) = 1.75,
--   timing = exp(-((6.583 - 7) / 1.75)^2 / 2) = 0.9721, score = 4.1270
-- bread: ages 27.583, 13.583: sum = 1.9613; mu = 14, d = 13.583, s = 3.5,
--   timing = 0.9929, score = 2.0587
-- milk: one purchase, d = 27.583: 0.5^(27.583/730) = 0.9741
SELECT product_id, round(score::numeric, 4) AS score, rank, purchases,
       round(mean_cycle_days::numeric, 3) AS mean_cycle_days, round(days_since_last::numeric, 3) AS days_since_last
  FROM seg_reco.buy_again_scores(101, 10, '2025-01-28');
SELECT round(((0.5 ^ ((27 + 14 / 24.0) / 730) + 0.5 ^ ((20 + 14 / 24.0) / 730) + 0.5 ^ ((13 + 14 / 24.0) / 730)
               + 0.5 ^ ((6 + 14 / 24.0) / 730)) * (1 + 0.05 * exp(-0.5 * ((6 + 14 / 24.0 - 7) / 1.75) ^ 2)))::numeric, 4) AS apples_by_hand,
       round(((0.5 ^ ((27 + 14 / 24.0) / 730) + 0.5 ^ ((13 + 14 / 24.0) / 730))
              * (1 + 0.05 * exp(-0.5 * ((13 + 14 / 24.0 - 14) / 3.5) ^ 2)))::numeric, 4) AS bread_by_hand,
       round((0.5 ^ ((27 + 14 / 24.0) / 730))::numeric, 4) AS milk_by_hand;
-- apples just bought (as of 2025-01-22): not due, yet four receipts lead
-- bread's two (0.1.0 put the due bread first: on the demo data and UCI
-- Online Retail the count of receipts predicts the next month better)
SELECT product_id, round(score::numeric, 4) AS score, rank
  FROM seg_reco.buy_again_scores(101, 10, '2025-01-22');
-- long overdue (as of 2025-03-31): the apples have lapsed (timing near 0)
-- and the older receipts count less, but the count still leads
SELECT product_id, round(score::numeric, 4) AS score, rank
  FROM seg_reco.buy_again_scores(101, 10, '2025-03-31');
-- default as_of: the latest transaction (2025-01-22); k = 1: the apples
SELECT product_id, rank FROM seg_reco.buy_again_scores(101, 1);
-- only returns, unknown customer, nothing before as_of: no rows
SELECT count(*) AS only_returns FROM seg_reco.buy_again_scores(104);
SELECT count(*) AS unknown FROM seg_reco.buy_again_scores(999);
SELECT count(*) AS before_history FROM seg_reco.buy_again_scores(101, 10, '2024-12-31');
SELECT * FROM seg_reco.buy_again_scores(101, 0);
SELECT * FROM seg_reco.buy_again_scores(NULL);

-- popularity: distinct buying customers in the 90 days up to as_of, active
-- products only (product 10 is inactive); score = share of the 3 buyers
SELECT product_id, round(score::numeric, 4) AS score, rank, customers
  FROM seg_reco.popular_products(10, '2025-01-31');
SELECT product_id, rank FROM seg_reco.popular_products(2, '2025-01-31', days => 15);
SELECT * FROM seg_reco.popular_products(0);
SELECT * FROM seg_reco.popular_products(10, days => 0);

-- cold start before build_popularity: a clear error
SELECT * FROM seg_reco.cold_start_recommendations(101);

SELECT s - 'seconds' AS summary FROM seg_reco.build_popularity('2025-01-31') s;
SELECT level, age_band, household_band, county, member_tier, rank, product_id, buyers, segment_buyers
  FROM seg_reco.segment_popularity WHERE level IN (0, 4) ORDER BY level, age_band, household_band, county, member_tier, rank;

-- 105 (tier basis) has no buyers in its full segment; with
-- min_segment_size 2 the segment without the tier (101, 102) is used and
-- the wider levels fill up to k
SELECT product_id, round(score::numeric, 4) AS score, rank, segment_used
  FROM seg_reco.cold_start_recommendations(105, 10, 2);
-- the default min_segment_size (30) backs off to global popularity
SELECT product_id, round(score::numeric, 4) AS score, rank, segment_used
  FROM seg_reco.cold_start_recommendations(105, 3);
-- a segment with one member: used with min_segment_size 1, else backed off
SELECT product_id, rank, segment_used FROM seg_reco.cold_start_recommendations(103, 3, 1);
SELECT product_id, rank, segment_used FROM seg_reco.cold_start_recommendations(103, 3, 2);
-- no demographics: the 'unknown' bands, here backed off to global
SELECT product_id, rank, segment_used FROM seg_reco.cold_start_recommendations(106, 2, 1);
-- unknown customer, anonymous visitor: global popularity
SELECT product_id, rank, segment_used FROM seg_reco.cold_start_recommendations(999, 2);
SELECT product_id, rank, segment_used FROM seg_reco.cold_start_recommendations(NULL, 2);
-- k larger than the catalogue
SELECT count(*) AS rows FROM seg_reco.cold_start_recommendations(101, 1000, 1);
SELECT * FROM seg_reco.cold_start_recommendations(101, 0);
SELECT * FROM seg_reco.cold_start_recommendations(101, 10, 0);
SELECT * FROM seg_reco.cold_start_recommendations(101, NULL);
SELECT seg_reco.build_popularity(days => 0);

-- novelty: 3 buyers; milk (2 buyers): -log2(3/4) = 0.4150; pears (none):
-- -log2(1/4) = 2; mean 1.2075
SELECT round(seg_reco.novelty(ARRAY[5, 9]::bigint[])::numeric, 4) AS novelty,
       round(((-ln(3 / 4.0) - ln(1 / 4.0)) / ln(2) / 2)::numeric, 4) AS by_hand;
SELECT seg_reco.novelty('{}'::bigint[]) AS empty, seg_reco.novelty(NULL) AS null_list,
       round(seg_reco.novelty(ARRAY[5, NULL]::bigint[])::numeric, 4) AS with_null;

-- the one-read rows of build_popularity (_segment_popularity_rows,
-- src/popularity.c) equal the reference statement's window by window: two
-- overlapping windows, age bands of two years (101 and 102 are 44 in 2024,
-- 45 in 2025), top_n 1 (ties by product id) and 100
-- the reference statement (build_popularity's before the one read in C):
-- segment_popularity from the buys in [end - days, end), age bands as of
-- year.  Returns the rows written.
CREATE FUNCTION pg_temp.fill_segment_popularity_ref(v_end timestamptz, days integer,
                                                  top_n integer, v_year integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $fn$
DECLARE
    v_rows bigint;
BEGIN
    WITH buys AS MATERIALIZED (
        SELECT DISTINCT t.customer_id, t.product_id
          FROM seg_reco.transactions t
          JOIN seg_reco.products p ON p.product_id = t.product_id
         WHERE p.active AND t.customer_id IS NOT NULL AND t.amount > 0
           AND t.ts >= v_end - make_interval(days => days) AND t.ts < v_end
    ), cust AS MATERIALIZED (
        SELECT b.customer_id,
               seg_reco._age_band(c.birth_year, v_year) AS a,
               seg_reco._household_band(c.household_size) AS h,
               coalesce(c.county, 'unknown') AS co,
               coalesce(c.member_tier, 'unknown') AS ti
          FROM (SELECT DISTINCT b0.customer_id FROM buys b0) b
          LEFT JOIN seg_reco.customers c ON c.customer_id = b.customer_id
    ), keyed AS MATERIALIZED (
        SELECT l.level, cu.customer_id,
               CASE WHEN l.level >= 1 THEN cu.a ELSE '*' END AS a,
               CASE WHEN l.level >= 2 THEN cu.h ELSE '*' END AS h,
               CASE WHEN l.level >= 3 THEN cu.co ELSE '*' END AS co,
               CASE WHEN l.level >= 4 THEN cu.ti ELSE '*' END AS ti
          FROM cust cu CROSS JOIN generate_series(0, 4) l(level)
    ), seg AS (
        SELECT kk.level, kk.a, kk.h, kk.co, kk.ti, count(*)::integer AS n
          FROM keyed kk GROUP BY 1, 2, 3, 4, 5
    ), prod AS (
        SELECT kk.level, kk.a, kk.h, kk.co, kk.ti, b.product_id, count(*)::integer AS n,
               row_number() OVER (PARTITION BY kk.level, kk.a, kk.h, kk.co, kk.ti
                                  ORDER BY count(*) DESC, b.product_id) AS rk
          FROM keyed kk JOIN buys b ON b.customer_id = kk.customer_id
         GROUP BY 1, 2, 3, 4, 5, 6
    )
    INSERT INTO seg_reco.segment_popularity
    SELECT pr.level, pr.a, pr.h, pr.co, pr.ti, pr.rk::integer, pr.product_id, pr.n, s.n,
           pr.n::float8 / s.n
      FROM prod pr
      JOIN seg s USING (level, a, h, co, ti)
     WHERE pr.level = 0 OR pr.rk <= top_n;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$fn$;
CREATE TEMP TABLE sp_ref AS SELECT 0 AS win, * FROM seg_reco.segment_popularity WHERE false;
DELETE FROM seg_reco.segment_popularity;
SELECT pg_temp.fill_segment_popularity_ref('2025-01-20', 90, 1, 2024) AS rows_1;
INSERT INTO sp_ref SELECT 1, * FROM seg_reco.segment_popularity;
DELETE FROM seg_reco.segment_popularity;
SELECT pg_temp.fill_segment_popularity_ref('2025-02-01', 90, 100, 2025) AS rows_2;
INSERT INTO sp_ref SELECT 2, * FROM seg_reco.segment_popularity;
CREATE TEMP TABLE sp_one AS
SELECT * FROM seg_reco._segment_popularity_rows(
           ARRAY['2025-01-20'::timestamptz - interval '90 days', '2025-02-01'::timestamptz - interval '90 days'],
           ARRAY['2025-01-20'::timestamptz, '2025-02-01'], ARRAY[1, 100], ARRAY[2024, 2025]);
SELECT win, count(*) AS rows, count(DISTINCT (level, age_band, household_band, county, member_tier)) AS segments,
       string_agg(DISTINCT age_band, ' ') AS age_bands
  FROM sp_one GROUP BY win ORDER BY win;
SELECT (SELECT count(*) FROM (SELECT * FROM sp_ref EXCEPT ALL SELECT * FROM sp_one) d) AS only_reference,
       (SELECT count(*) FROM (SELECT * FROM sp_one EXCEPT ALL SELECT * FROM sp_ref) d) AS only_one_read;
SELECT * FROM seg_reco._segment_popularity_rows(ARRAY[now()], ARRAY[now(), now()], ARRAY[1], ARRAY[2025]);
SELECT * FROM seg_reco._segment_popularity_rows(ARRAY[now()], ARRAY[now()], ARRAY[0], ARRAY[2025]);

SELECT has_function_privilege('public', 'seg_reco.build_popularity(date, integer, integer)', 'EXECUTE') AS public_builds;
-- Which cold start the blend serves (build_popularity, setting
-- cold_start_source "auto"): on the 28 days up to as_of, the customers
-- first seen there get their segment's list (demographic) and everyone's
-- (popularity) as of the day before; demographic only with at least 30 of
-- them and an NDCG@10 at least 5% above popularity's.
-- Planted: 40 members under 30 (born 2000, alone, Oslo, basis) bought
-- products 201-208 and 220 on 2025-05-01, 40 aged 80 (born 1945, two,
-- Nordland, gull) 211-218 and 220; in the window (2025-06-15) 35 new young
-- members buy 201-203, 35 new old ones 211-213.
-- demographic: every new member's segment list starts with their three
-- products: NDCG 1.  popularity: 220, 201-208, 211 (ties by id): the young
-- hit at ranks 2-4, (1/log2(3) + 1/log2(4) + 1/log2(5)) / (1 + 1/log2(3) +
-- 1/log2(4)) = 0.7328, the old at rank 10, (1/log2(11)) / 2.1309 = 0.1357;
-- mean 0.4342: demographic is chosen
INSERT INTO seg_reco.products (product_id, name, category, unit_price, active)
SELECT g, 'Vare ' || g, 'diverse', 10, true FROM generate_series(201, 220) g WHERE g NOT IN (209, 210, 219);
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2025-01-01', CASE WHEN c < 2000 THEN 2000 ELSE 1945 END, CASE WHEN c < 2000 THEN 1 ELSE 2 END,
       CASE WHEN c < 2000 THEN 'Oslo' ELSE 'Nordland' END, CASE WHEN c < 2000 THEN 'basis' ELSE 'gull' END
  FROM (SELECT generate_series(1001, 1040) UNION ALL SELECT generate_series(2001, 2040)
        UNION ALL SELECT generate_series(1101, 1135) UNION ALL SELECT generate_series(2101, 2135)) c(c);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 1000 + row_number() OVER (ORDER BY b.c, b.p), 1000 + b.c, b.c, b.p, 1, b.ts, 1, 10, 10
  FROM (SELECT c, p, '2025-05-01 10:00+00'::timestamptz AS ts
          FROM generate_series(1001, 1040) c, (SELECT generate_series(201, 208) UNION ALL SELECT 220) p(p)
        UNION ALL
        SELECT c, p, '2025-05-01 10:00+00' FROM generate_series(2001, 2040) c, (SELECT generate_series(211, 218) UNION ALL SELECT 220) p(p)
        UNION ALL
        SELECT c, p, '2025-06-15 10:00+00' FROM generate_series(1101, 1135) c, generate_series(201, 203) p
        UNION ALL
        SELECT c, p, '2025-06-15 10:00+00' FROM generate_series(2101, 2135) c, generate_series(211, 213) p) b;
SELECT s -> 'cold_start' AS cold_start FROM seg_reco.build_popularity('2025-06-30') s;
SELECT cold_start FROM seg_reco.popularity_info;
SELECT round(((1 / log(2, 3) + 1 / log(2, 4) + 1 / log(2, 5)) / (1 + 1 / log(2, 3) + 1 / log(2, 4)))::numeric, 4) AS young_by_hand,
       round(((1 / log(2, 11)) / (1 + 1 / log(2, 3) + 1 / log(2, 4)))::numeric, 4) AS old_by_hand,
       round((((1 / log(2, 3) + 1 / log(2, 4) + 1 / log(2, 5)) + 1 / log(2, 11)) / 2
              / (1 + 1 / log(2, 3) + 1 / log(2, 4)))::numeric, 4) AS popularity_by_hand;
-- the same purchases without demographics (as UCI Online Retail): every
-- segment is everyone, the two lists are the same, popularity is chosen
UPDATE seg_reco.customers SET birth_year = NULL, household_size = NULL, county = NULL, member_tier = 'basis'
 WHERE customer_id > 1000;
SELECT s -> 'cold_start' AS cold_start FROM seg_reco.build_popularity('2025-06-30') s;
SELECT cold_start FROM seg_reco.popularity_info;
-- the setting decides without validation; a bad value is an error
INSERT INTO seg_reco.settings VALUES ('cold_start_source', '"demographic"');
SELECT s -> 'cold_start' AS cold_start FROM seg_reco.build_popularity('2025-06-30') s;
SELECT cold_start FROM seg_reco.popularity_info;
UPDATE seg_reco.settings SET value = '"segments"' WHERE key = 'cold_start_source';
SELECT seg_reco.build_popularity('2025-06-30');
DELETE FROM seg_reco.settings WHERE key = 'cold_start_source';

ROLLBACK;
