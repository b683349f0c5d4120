-- An analyst without superuser rights reads the views and calls the
-- functions after the README's GRANTs; only the owner changes data, models
-- and configuration.
BEGIN;
SELECT plan(55);

CREATE ROLE seg_reco_test_analyst NOLOGIN NOSUPERUSER;
-- the README's GRANTs
GRANT USAGE ON SCHEMA seg_reco TO seg_reco_test_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA seg_reco TO seg_reco_test_analyst;

-- an experiment of the owner's, for the analyst to read
SELECT lives_ok($$SELECT seg_reco.ab_create_experiment('priv_test', starts_at => '2025-10-01', ends_at => '2025-11-01')$$,
                'the owner creates an experiment');
SELECT is((SELECT sum(customers)::int FROM seg_reco.ab_assign_all('priv_test', ARRAY(SELECT customer_id FROM seg_reco.customers ORDER BY customer_id LIMIT 500))),
          500, 'the owner assigns customers');

SET ROLE seg_reco_test_analyst;
SELECT lives_ok('SELECT count(*) FROM seg_reco.customer_segments', 'analyst reads customer_segments');
SELECT lives_ok('SELECT count(*) FROM seg_reco.segment_summary', 'analyst reads segment_summary');
SELECT lives_ok('SELECT count(*) FROM seg_reco.recommendations', 'analyst reads the recommendations view');
SELECT throws_ok('SELECT seg_reco.refresh_recommendations()', '42501', NULL, 'analyst cannot swap in new recommendations');
SELECT throws_ok('UPDATE seg_reco.recommendations_active SET slot = slot', '42501', NULL, 'analyst cannot move the pointer');
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
SELECT throws_ok('REFRESH MATERIALIZED VIEW seg_reco.segment_summary', '42501', NULL, 'analyst cannot refresh views');
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
-- A/B tests (issue 14): the owner designs experiments, assigns customers
-- and plants the demo campaign; the analyst reads the tables and results
SELECT throws_ok('SELECT seg_reco.ab_create_experiment(''analyst_test'')', '42501', NULL, 'analyst cannot create experiments');
SELECT throws_ok('SELECT seg_reco.ab_assign(''priv_test'', 1)', '42501', NULL, 'analyst cannot assign customers');
SELECT throws_ok('SELECT * FROM seg_reco.ab_assign_all(''priv_test'', ''{1,2}''::bigint[])', '42501', NULL,
                 'analyst cannot assign customers in bulk');
SELECT throws_ok('SELECT seg_reco.ab_set_status(''priv_test'', ''stopped'')', '42501', NULL, 'analyst cannot stop experiments');
SELECT throws_ok('SELECT seg_reco.ab_experiment_from_campaign(''c'', 0.1)', '42501', NULL, 'analyst cannot make experiments of campaigns');
SELECT throws_ok('SELECT * FROM seg_reco.generate_demo_campaign()', '42501', NULL, 'analyst cannot plant the demo campaign');
SELECT throws_ok('UPDATE seg_reco.ab_assignments SET arm = ''treatment''', '42501', NULL, 'analyst cannot move customers between arms');
SELECT lives_ok('SELECT count(*) FROM seg_reco.ab_experiments JOIN seg_reco.ab_assignments USING (experiment)',
                'analyst reads experiments and assignments');
SELECT is((SELECT count(*)::int FROM seg_reco.ab_results('priv_test', 'revenue')), 2, 'analyst reads the results of an experiment');
SELECT is((SELECT count(*)::int FROM seg_reco.ab_roi('priv_test', 1)), 1, 'analyst computes its ROI');
SELECT ok((SELECT n_control FROM seg_reco.ab_sample_size('proportion', 0.1, 0.01)) > 0, 'analyst plans a sample size');
-- contact history (issue 14): the analyst reads it, builds target lists
-- and cohorts, but cannot record contacts or change the history
SELECT lives_ok('SELECT count(*) FROM seg_reco.contact_history', 'analyst reads the contact history');
SELECT lives_ok('SELECT count(*) FROM seg_reco.cohort_retention(split_by => ''segment'')', 'analyst computes cohorts');
SELECT isnt_empty('SELECT * FROM seg_reco.campaign_targets(''{"campaign": "pgtap", "at_risk": true, "budget_customers": 5}'')',
                  'analyst builds a target list');
SELECT throws_ok('SELECT seg_reco.record_contacts(array_agg(t)) FROM seg_reco.campaign_targets(''{"campaign": "pgtap", "budget_customers": 5}'') t',
                 '42501', NULL, 'analyst cannot record contacts');
SELECT throws_ok('INSERT INTO seg_reco.contact_history VALUES (''x'', 1, now(), ''email'', false)', '42501', NULL,
                 'analyst cannot write the contact history');
RESET ROLE;
-- a campaign role with the README's GRANTs adds rows, and only adds them
CREATE ROLE seg_reco_test_campaigns NOLOGIN NOSUPERUSER IN ROLE seg_reco_test_analyst;
GRANT INSERT ON seg_reco.contact_history TO seg_reco_test_campaigns;
GRANT EXECUTE ON FUNCTION seg_reco.record_contacts(seg_reco.campaign_target[], timestamptz) TO seg_reco_test_campaigns;
SET ROLE seg_reco_test_campaigns;
SELECT is((SELECT contacted FROM seg_reco.record_contacts(
              (SELECT array_agg(t) FROM seg_reco.campaign_targets('{"campaign": "pgtap", "budget_customers": 5, "control_share": 0.5}') t),
              '2030-01-01')), 5::bigint, 'the campaign role records a target list');
SELECT throws_ok('DELETE FROM seg_reco.contact_history', '42501', NULL, 'the campaign role cannot delete contacts');
SELECT throws_ok('UPDATE seg_reco.contact_history SET control = NOT control', '42501', NULL, 'the campaign role cannot change contacts');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM seg_reco.contact_history WHERE campaign = 'pgtap' AND NOT control
             AND contacted_at = '2030-01-01'), 5, 'the recorded contacts are there');

-- without the GRANTs, nothing is readable
CREATE ROLE seg_reco_test_stranger NOLOGIN NOSUPERUSER;
SET ROLE seg_reco_test_stranger;
SELECT throws_ok('SELECT count(*) FROM seg_reco.customer_segments', '42501', NULL, 'a role without USAGE reads nothing');
RESET ROLE;
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'seg_reco_test_analyst'), 'the analyst is no superuser');

SELECT * FROM finish();
ROLLBACK;
