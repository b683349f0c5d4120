-- An analyst without superuser rights reads the views and calls the
-- functions after the README's GRANTs; only the owner changes data, models
-- and configuration.
BEGIN;
SELECT plan(30);

CREATE ROLE seg_reco_test_analyst NOLOGIN NOSUPERUSER;
-- the README's GRANTs
GRANT USAGE ON SCHEMA seg_reco TO seg_reco_test_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA seg_reco TO seg_reco_test_analyst;

SET ROLE seg_reco_test_analyst;
SELECT lives_ok('SELECT count(*) FROM seg_reco.customer_segments', 'analyst reads customer_segments');
SELECT lives_ok('SELECT count(*) FROM seg_reco.segment_summary', 'analyst reads segment_summary');
SELECT lives_ok('SELECT count(*) FROM seg_reco.rfm_score()', 'analyst calls rfm_score');
SELECT lives_ok('SELECT seg_reco.rfm(receipt_id, ts, amount) FROM seg_reco.transactions WHERE customer_id = 1',
                'analyst uses the rfm aggregate');
SELECT throws_ok('INSERT INTO seg_reco.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max) VALUES (1, ''x'', 1, 5, 1, 5, 1, 5)',
                 '42501', NULL, 'analyst cannot edit the segment map');
SELECT throws_ok('DELETE FROM seg_reco.transactions', '42501', NULL, 'analyst cannot delete transactions');
SELECT throws_ok('CALL seg_reco.refresh()', '42501', NULL, 'analyst cannot run the pipeline');
SELECT throws_ok('SELECT * FROM seg_reco.generate_demo_data()', '42501', NULL, 'analyst cannot regenerate data');
-- nor call the generator's helpers, which run at any size (issue 11, defect 11)
SELECT throws_ok('SELECT count(*) FROM seg_reco._demo_' || f || '(10, 50, 100, 10, 1)', '42501', NULL,
                 'analyst cannot call _demo_' || f)
  FROM unnest(ARRAY['customers', 'products', 'transactions', 'digital_events', 'truth']) f;
-- nor take more threads than the server allows (issue 11, defect 12)
SELECT throws_ok('SET seg_reco.threads = 64', '42501', 'thread count 64 is over seg_reco.max_threads (4)',
                 'analyst cannot raise seg_reco.threads over seg_reco.max_threads');
SELECT throws_ok('SET seg_reco.blas_threads = 5', '42501', 'thread count 5 is over seg_reco.max_threads (4)',
                 'analyst cannot raise seg_reco.blas_threads over seg_reco.max_threads');
SELECT throws_ok('SET seg_reco.max_threads = 64', '55P02', NULL, 'seg_reco.max_threads is the server''s');
SELECT throws_ok('SELECT seg_reco.use_source(''transactions'', ''pg_class'')', '42501', NULL, 'analyst cannot replace sources');
SELECT throws_ok('REFRESH MATERIALIZED VIEW seg_reco.customer_segments', '42501', NULL, 'analyst cannot refresh views');
SELECT throws_ok('SELECT seg_reco.kmeans_save(''x'', seg_reco.kmeans_load(''customer_kmeans''))', '42501', NULL, 'analyst cannot store models');
SELECT throws_ok('SELECT seg_reco.btyd_train(''x'')', '42501', NULL, 'analyst cannot train value models');
SELECT throws_ok('INSERT INTO seg_reco.settings VALUES (''cluster_k_max'', ''9'')', '42501', NULL, 'analyst cannot change settings');
SELECT lives_ok('SELECT count(*) FROM seg_reco.cluster_profiles', 'analyst reads cluster profiles');
SELECT isnt_empty('SELECT * FROM seg_reco.recommend_for(1, 5)', 'analyst gets recommendations');
SELECT throws_ok('SELECT seg_reco.als_train(''x'')', '42501', NULL, 'analyst cannot train recommenders');
SELECT lives_ok('SELECT count(*) FROM seg_reco.bought_with(1) UNION ALL SELECT count(*) FROM seg_reco.basket_complements(ARRAY[1, 2])',
                'analyst gets frequently bought together products');
SELECT lives_ok('SELECT count(*) FROM seg_reco.association_rules(''SELECT receipt_id, product_id FROM seg_reco.transactions WHERE customer_id = 1'', 0.5, 0.5)',
                'analyst mines the baskets they can read');
SELECT throws_ok('SELECT seg_reco.build_rules()', '42501', NULL, 'analyst cannot rebuild the pipeline''s rules');
SELECT lives_ok('SELECT seg_reco.kmeans_assign(seg_reco.cluster_feature_vector(f), ''customer_kmeans'') FROM seg_reco.customer_features f LIMIT 5',
                'analyst assigns clusters with a stored model');
RESET ROLE;

-- without the GRANTs, nothing is readable
CREATE ROLE seg_reco_test_stranger NOLOGIN NOSUPERUSER;
SET ROLE seg_reco_test_stranger;
SELECT throws_ok('SELECT count(*) FROM seg_reco.customer_segments', '42501', NULL, 'a role without USAGE reads nothing');
RESET ROLE;
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'seg_reco_test_analyst'), 'the analyst is no superuser');

SELECT * FROM finish();
ROLLBACK;
