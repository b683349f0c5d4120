-- Content, buy-again, popularity, cold start and metrics: objects,
-- markings, privileges and the behaviour users rely on, on a small
-- hand-made catalogue inside a transaction that is rolled back.
BEGIN;
SELECT plan(30);

SELECT has_table('seg_reco', 'product_content', 'content vectors table');
SELECT has_table('seg_reco', 'content_terms', 'vocabulary table');
SELECT has_table('seg_reco', 'content_version', 'content version table');
SELECT has_table('seg_reco', 'segment_popularity', 'segment popularity table');
SELECT has_table('seg_reco', 'popularity_info', 'popularity build table');
SELECT has_sequence('seg_reco', 'content_version_seq', 'content version sequence');
SELECT col_is_pk('seg_reco', 'product_content', 'product_id', 'one vector per product');
SELECT col_type_is('seg_reco', 'product_content', 'weights', 'real[]', 'weights are float4[]');
SELECT col_is_unique('seg_reco', 'content_terms', 'lexeme', 'one term id per lexeme');

SELECT volatility_is('seg_reco', 'build_content', ARRAY['double precision', 'double precision', 'double precision', 'double precision', 'double precision', 'boolean', 'text', 'double precision', 'jsonb'], 'volatile');
SELECT volatility_is('seg_reco', 'content_similar', ARRAY['bigint', 'integer', 'boolean'], 'stable');
SELECT volatility_is('seg_reco', 'content_scores', ARRAY['bigint', 'integer', 'date', 'double precision', 'boolean', 'boolean'], 'stable');
SELECT volatility_is('seg_reco', 'ndcg_at_k', ARRAY['bigint[]', 'bigint[]', 'integer'], 'immutable');
SELECT is((SELECT proisstrict AND proparallel = 's' FROM pg_proc
            WHERE oid = 'seg_reco.average_precision_at_k(bigint[], bigint[], integer)'::regprocedure),
          true, 'metrics are strict and parallel safe');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.build_content(float8, float8, float8, float8, float8, boolean, text, float8, jsonb)', 'EXECUTE'),
          'build_content is not executable by PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.build_popularity(date, integer, integer)', 'EXECUTE'),
          'build_popularity is not executable by PUBLIC');

-- a fresh catalogue (DELETE, not TRUNCATE: the sources may be views)
DELETE FROM seg_reco.transactions;
DELETE FROM seg_reco.digital_events;
DELETE FROM seg_reco.demo_truth;
DELETE FROM seg_reco.customers;
DELETE FROM seg_reco.products;
INSERT INTO seg_reco.products (product_id, name, brand, category, subcategory, description, unit_price) VALUES
 (1, 'Epler', 'Frukthagen', 'frukt og grønt', 'frukt', 'Søte epler.', 30),
 (2, 'Eple grønt', 'Frukthagen', 'frukt og grønt', 'frukt', 'Et syrlig eple.', 25),
 (3, 'Brødet', 'Bakers', 'brød og bakevarer', 'brød', 'Brødet er bakt med fullkorn.', 40),
 (4, 'Brød grovt', 'Bakers', 'brød og bakevarer', 'brød', 'Grovt brød.', 45),
 (5, '', NULL, '', NULL, NULL, 10);
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier) VALUES
 (1, '2020-01-01', 1980, 3, 'Oslo', 'gull'), (2, '2020-01-01', 1960, 1, 'Agder', 'basis');
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount) VALUES
 (1, 1, 1, 1, 1, '2025-01-01 10:00+00', 1, 30, 30),
 (2, 2, 1, 1, 1, '2025-01-08 10:00+00', 1, 30, 30),
 (3, 3, 2, 3, 1, '2025-01-05 10:00+00', 1, 40, 40);

SELECT is((seg_reco.build_content() ->> 'empty_products')::int, 1, 'a product without text gets an empty vector');
SELECT is((SELECT similar_product_id FROM seg_reco.content_similar(1) WHERE rank = 1), 2::bigint,
          '"epler" and "eple" are neighbours');
SELECT is((SELECT similar_product_id FROM seg_reco.content_similar(3) WHERE rank = 1), 4::bigint,
          '"brødet" and "brød" are neighbours');
SELECT is((SELECT count(*) FROM seg_reco.content_similar(5)), 0::bigint, 'an empty vector has no neighbours');
SELECT throws_ok('SELECT * FROM seg_reco.content_similar(42)', '42704', NULL, 'unknown product');
SELECT throws_ok('SELECT * FROM seg_reco.content_similar(1, 0)', '22023', NULL, 'k < 1');
SELECT is((SELECT product_id FROM seg_reco.content_scores(1, exclude_purchased => true) WHERE rank = 1), 2::bigint,
          'an apple buyer is offered the other apple');
SELECT is((SELECT product_id FROM seg_reco.buy_again_scores(1) WHERE rank = 1), 1::bigint, 'buy-again lists the repeat product');
SELECT ok((seg_reco.build_popularity('2025-01-31') ->> 'buyers')::int = 2, 'popularity counts buying customers');
SELECT is((SELECT DISTINCT segment_used FROM seg_reco.cold_start_recommendations(1, 10, 5)), 'global',
          'a small segment backs off to global popularity');
SELECT is((SELECT segment_used FROM seg_reco.cold_start_recommendations(1, 10, 1) WHERE rank = 1), 'age+household+county+tier',
          'a one-member segment is used when allowed');
SELECT is((SELECT count(*) FROM seg_reco.cold_start_recommendations(12345)), 2::bigint, 'an unknown customer gets global popularity');
SELECT is(round(seg_reco.ndcg_at_k('{1,2,3,4,5}', '{2,5,9}', 5)::numeric, 6), 0.477624, 'ndcg@5 by hand');
SELECT is(seg_reco.average_precision_at_k('{1,2,3,4,5}', '{2,5,9}', 5), 0.3::float8, 'AP@5 by hand');

SELECT * FROM finish();
ROLLBACK;
