-- ALS: objects, markings, privileges, and the behaviour users rely on
-- (own-group recommendations, popularity fallback, rollback safety), on a
-- small hand-made matrix inside a transaction that is rolled back.
BEGIN;
SELECT plan(24);

SELECT has_table('seg_reco', 'als_customer_factors', 'customer factors table');
SELECT has_table('seg_reco', 'als_product_factors', 'product factors table');
SELECT has_sequence('seg_reco', 'als_model_version_seq', 'model version sequence');
SELECT col_is_pk('seg_reco', 'als_customer_factors', ARRAY['model', 'customer_id'], 'customer factors keyed by model and customer');
SELECT col_is_pk('seg_reco', 'als_product_factors', ARRAY['model', 'product_id'], 'product factors keyed by model and product');
SELECT fk_ok('seg_reco', 'als_customer_factors', 'model', 'seg_reco', 'models', 'name');
SELECT fk_ok('seg_reco', 'als_product_factors', 'model', 'seg_reco', 'models', 'name');
SELECT col_type_is('seg_reco', 'als_customer_factors', 'factors', 'real[]', 'factors are float4[]');

SELECT volatility_is('seg_reco', 'als_train', ARRAY['text', 'integer', 'double precision', 'double precision', 'integer', 'bigint', 'text', 'text', 'jsonb', 'boolean'], 'volatile');
SELECT volatility_is('seg_reco', 'recommend_for', ARRAY['bigint', 'integer', 'boolean', 'text', 'bigint[]', 'boolean', 'text', 'jsonb', 'double precision', 'integer', 'bigint[]', 'jsonb', 'date'], 'stable');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)'::regprocedure),
          's'::"char", 'recommend_for is parallel safe');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean)'::regprocedure),
          'u'::"char", 'als_train is parallel unsafe');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean)', 'EXECUTE'),
          'PUBLIC cannot train models');
SELECT ok(NOT has_function_privilege('public', 'seg_reco._als_train(text, integer, float8, float8, integer, bigint, text, text, boolean, jsonb)', 'EXECUTE'),
          'PUBLIC cannot call the internal trainer');
SELECT ok(has_function_privilege('public', 'seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)', 'EXECUTE'),
          'PUBLIC may call recommend_for');
SELECT ok(obj_description('seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date, bigint[])'::regprocedure, 'pg_proc') IS NOT NULL,
          'recommend_all has a comment');

CREATE TEMP TABLE t_inter AS
SELECT c AS customer_id, CASE WHEN c <= 5 THEN 100 + i ELSE 200 + i END AS product_id, 1.0 AS weight
  FROM generate_series(1, 10) c, generate_series(1, 5) i WHERE i <> (c % 5) + 1;

SELECT lives_ok($$SELECT seg_reco.als_train('pgtap_als', factors => 2, regularization => 0.1, alpha => 5,
                                            source => 'SELECT * FROM pg_temp.t_inter')$$, 'als_train on a custom source');
SELECT is((SELECT kind FROM seg_reco.models WHERE name = 'pgtap_als'), 'als', 'registered in seg_reco.models');
SELECT is((SELECT count(*)::int FROM seg_reco.als_customer_factors WHERE model = 'pgtap_als'), 10, 'one factor row per customer');
SELECT ok((SELECT bool_and(product_id < 200) FROM seg_reco.recommend_for(1, 3, model => 'pgtap_als')),
          'a group-1 customer gets group-1 products');
SELECT is((SELECT count(*)::int FROM seg_reco.recommend_for(424242, 3, model => 'pgtap_als')), 3,
          'an unknown customer gets a popularity list');
SELECT throws_ok($$SELECT seg_reco.als_train('pgtap_als', factors => 99, source => 'SELECT * FROM pg_temp.t_inter')$$,
                 '22023', NULL, 'too many factors is refused');
SELECT throws_ok($$SELECT * FROM seg_reco.recommend_for(1, model => 'pgtap_missing')$$,
                 '42704', NULL, 'an unknown model is an error');
SELECT is((SELECT count(*)::int FROM seg_reco.recommend_all('pgtap_als', 2)), 20, 'recommend_all: n per customer');

SELECT * FROM finish();
ROLLBACK;
