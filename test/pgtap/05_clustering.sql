-- Clustering objects: types, aggregates, markings, the model store and its
-- privileges.
BEGIN;
SELECT plan(25);

SELECT has_table('seg_reco', 'models', 'models are stored by name');
SELECT col_is_pk('seg_reco', 'models', 'name', 'models keyed by name');
SELECT col_type_is('seg_reco', 'models', 'model', 'jsonb', 'models hold their JSON text form');
SELECT has_type('seg_reco', 'kmeans_model', 'k-means models are a real type');
SELECT has_type('seg_reco', 'gmm_model', 'mixtures are a real type');
SELECT is_aggregate('seg_reco', 'kmeans_train', ARRAY['double precision[]', 'integer']);
SELECT is_aggregate('seg_reco', 'kmeans_train', ARRAY['double precision[]', 'integer', 'jsonb']);
SELECT is_aggregate('seg_reco', 'gmm_train', ARRAY['double precision[]', 'integer', 'jsonb']);
SELECT is_aggregate('seg_reco', 'silhouette', ARRAY['double precision[]', 'integer']);
SELECT is_aggregate('seg_reco', 'kmeans_select_k', ARRAY['double precision[]', 'integer', 'integer', 'jsonb']);

SELECT volatility_is('seg_reco', 'kmeans_assign', ARRAY['double precision[]', 'seg_reco.kmeans_model'], 'immutable');
SELECT is_strict('seg_reco', 'kmeans_assign', ARRAY['double precision[]', 'seg_reco.kmeans_model']);
SELECT volatility_is('seg_reco', 'kmeans_assign', ARRAY['double precision[]', 'text'], 'stable');
SELECT volatility_is('seg_reco', 'gmm_proba', ARRAY['double precision[]', 'seg_reco.gmm_model'], 'immutable');
SELECT ok((SELECT proparallel = 's' FROM pg_proc WHERE oid = 'seg_reco.kmeans_assign(float8[], seg_reco.kmeans_model)'::regprocedure),
          'kmeans_assign is parallel safe');
SELECT ok((SELECT proparallel = 's' FROM pg_proc WHERE oid = 'seg_reco.gmm_assign(float8[], seg_reco.gmm_model)'::regprocedure),
          'gmm_assign is parallel safe');
SELECT volatility_is('seg_reco', 'kmeans_save', ARRAY['text', 'seg_reco.kmeans_model', 'boolean'], 'volatile');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.kmeans_save(text, seg_reco.kmeans_model, boolean)', 'execute'),
          'PUBLIC cannot store k-means models');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.gmm_save(text, seg_reco.gmm_model, boolean)', 'execute'),
          'PUBLIC cannot store mixtures');
SELECT ok(NOT has_function_privilege('public', 'seg_reco._model_store(text, text, text[], jsonb, jsonb, jsonb, boolean, text)', 'execute')
          AND NOT has_function_privilege('public', 'seg_reco._model_claim(text, text[], boolean, text)', 'execute'),
          'PUBLIC cannot store or delete models through the internal helpers');
SELECT ok((SELECT bool_and(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'])
             FROM pg_proc WHERE oid IN ('seg_reco.kmeans_save(text, seg_reco.kmeans_model, boolean)'::regprocedure,
                                        'seg_reco.gmm_save(text, seg_reco.gmm_model, boolean)'::regprocedure,
                                        'seg_reco.kmeans_load(text)'::regprocedure,
                                        'seg_reco.gmm_load(text)'::regprocedure,
                                        'seg_reco._model_load(text, text)'::regprocedure,
                                        'seg_reco._model_claim(text, text[], boolean, text)'::regprocedure,
                                        'seg_reco._model_store(text, text, text[], jsonb, jsonb, jsonb, boolean, text)'::regprocedure)),
          'model store functions pin search_path');

-- behaviour: reproducible, errors carry SQLSTATEs
SELECT is((SELECT seg_reco.kmeans_train(ARRAY[x, x % 3], 2, '{"seed": 4}')::text FROM generate_series(1, 50) x),
          (SELECT seg_reco.kmeans_train(ARRAY[x, x % 3], 2, '{"seed": 4}')::text FROM generate_series(1, 50) x),
          'same seed, same model');
SELECT throws_ok($$SELECT seg_reco.kmeans_train(ARRAY[1, 'NaN']::float8[], 1)$$, '22000', NULL, 'NaN features are an error');
SELECT throws_ok($$SELECT seg_reco.kmeans_assign('{1}'::float8[], 'seg_reco_no_such_model')$$, '42704', NULL, 'unknown model name');
SELECT throws_ok($$SELECT seg_reco.kmeans_train(ARRAY[x]::float8[], 0) FROM generate_series(1, 3) x$$, '22023', NULL, 'k < 1');

SELECT * FROM finish();
ROLLBACK;
