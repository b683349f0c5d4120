-- Hybrid recommendations and evaluation runs: objects, markings,
-- privileges, and one evaluate() run on the demo data (small sample, small
-- model) inside a transaction that is rolled back.
BEGIN;
SELECT plan(31);

SELECT has_table('seg_reco', 'evaluation_runs', 'evaluation runs table');
SELECT has_sequence('seg_reco', 'evaluation_run_seq', 'evaluation run sequence');
SELECT col_is_pk('seg_reco', 'evaluation_runs', ARRAY['run_id', 'recommender', 'mode'], 'one row per run, recommender and mode');
SELECT columns_are('seg_reco', 'evaluation_runs',
                   ARRAY['run_id', 'name', 'split_date', 'k', 'config', 'recommender', 'mode', 'customers',
                         'precision_at_k', 'recall_at_k', 'ndcg_at_k', 'map_at_k', 'hit_rate',
                         'coverage', 'diversity', 'novelty', 'created_at'], 'evaluation_runs columns');
SELECT col_type_is('seg_reco', 'evaluation_runs', 'config', 'jsonb', 'the configuration is stored as jsonb');
SELECT volatility_is('seg_reco', 'evaluate', ARRAY['date', 'integer', 'jsonb', 'text'], 'volatile');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.evaluate(date, integer, jsonb, text)', 'EXECUTE'),
          'evaluate (it trains) is not open to PUBLIC');
SELECT ok(obj_description('seg_reco.evaluate(date, integer, jsonb, text)'::regprocedure, 'pg_proc') IS NOT NULL,
          'evaluate has a comment');
SELECT volatility_is('seg_reco', 'tune_weights', ARRAY['date', 'jsonb'], 'volatile');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.tune_weights(date, jsonb)', 'EXECUTE'),
          'tune_weights (it writes a setting) is not open to PUBLIC');
SELECT ok((SELECT value ? 'rebuy' AND value ? 'new' FROM seg_reco.setting_defaults WHERE key = 'hybrid_weights'),
          'hybrid_weights ships weights for re-buys and for new products');
SELECT ok(obj_description('seg_reco.evaluation_runs'::regclass, 'pg_class') IS NOT NULL,
          'evaluation_runs has a comment');
SELECT is((SELECT proparallel FROM pg_proc
            WHERE oid = 'seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date, bigint[])'::regprocedure),
          's'::"char", 'recommend_all is parallel safe');
SELECT has_column('seg_reco', 'recommendations', 'sources', 'the view says which sources contributed');

-- recommend_all on the demo data (thousands of products: the threshold pass
-- of the top-k; ALS alone: the float32 screening): recommend_for's lists
-- and score bits, and the same rows from the generic kernels as from the
-- CPU's best (seg_reco.simd)
SELECT is((SELECT count(*)::int
             FROM seg_reco.recommend_all('default', 10) a
             JOIN LATERAL seg_reco.recommend_for(a.customer_id, 10) r ON r.rank = a.rank
            WHERE a.customer_id % 50 = 0
              AND (a.product_id <> r.product_id OR a.score <> r.score OR a.sources <> r.sources)), 0,
          'recommend_all: recommend_for''s lists and score bits');
SELECT is((SELECT count(*)::int
             FROM seg_reco.recommend_all('default', 10, only_active => false,
                                         weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') a
             JOIN LATERAL seg_reco.recommend_for(a.customer_id, 10, only_active => false,
                                                 weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0, "history_prior": 0}') r
               ON r.rank = a.rank
            WHERE a.customer_id % 50 = 0
              AND (a.product_id <> r.product_id OR a.score <> r.score OR a.sources <> r.sources)), 0,
          'recommend_all, ALS alone (float32 screening): recommend_for''s lists and score bits');
SET LOCAL seg_reco.simd = generic;
CREATE TEMP TABLE ra_generic AS SELECT * FROM seg_reco.recommend_all('default', 10);
RESET seg_reco.simd;
SELECT is((SELECT count(*)::int FROM (SELECT * FROM seg_reco.recommend_all('default', 10)
                                      EXCEPT SELECT * FROM ra_generic) x), 0,
          'recommend_all: the generic kernels give the rows of the CPU''s best');
-- customer_ids (every other customer: several blocks in flight, each with
-- its own next-basket inputs, the default blend weighing that source): the
-- rows of the call for everyone, restricted to them
CREATE TEMP TABLE ra_even AS
SELECT * FROM seg_reco.recommend_all('default', 10,
                                     customer_ids => ARRAY(SELECT customer_id FROM seg_reco.als_customer_factors
                                                            WHERE model = 'default' AND customer_id % 2 = 0));
SELECT is((SELECT count(*)::int
             FROM ((SELECT * FROM ra_even EXCEPT ALL SELECT * FROM ra_generic WHERE customer_id % 2 = 0)
                   UNION ALL
                   (SELECT * FROM ra_generic WHERE customer_id % 2 = 0 EXCEPT ALL SELECT * FROM ra_even)) x)
          + (SELECT CASE WHEN count(*) > 0 THEN 0 ELSE 1 END FROM ra_even), 0,
          'recommend_all(customer_ids): the rows of the call for everyone');

-- the state evaluate() must leave alone
CREATE TEMP TABLE before_state AS
SELECT (SELECT model ->> 'version' FROM seg_reco.models WHERE name = 'default') AS default_version,
       (SELECT count(*) FROM seg_reco.segment_popularity) AS pop_rows,
       (SELECT as_of FROM seg_reco.popularity_info) AS pop_as_of;

CREATE TEMP TABLE r1 AS
SELECT * FROM seg_reco.evaluate((SELECT max(ts)::date - 27 FROM seg_reco.transactions), 10,
                                '{"sample_size": 60, "seed": 7, "als": {"factors": 8, "iterations": 3},
                                  "recommenders": ["popularity", "buy_again", "als", "hybrid", "cold_start"]}',
                                'pgtap run');
SELECT ok((SELECT count(*) FROM r1) >= 6, 'evaluate returns a row per recommender and mode');
SELECT set_eq('SELECT DISTINCT mode FROM r1 WHERE recommender <> ''cold_start''', ARRAY['all', 'new', 'cold_start']::text[],
              'modes all, new and cold_start (popularity for cold-start customers)');
SELECT is((SELECT count(*) FROM seg_reco.evaluation_runs WHERE name = 'pgtap run'),
          (SELECT count(*) FROM r1), 'every returned row is stored');
SELECT is((SELECT count(DISTINCT run_id)::int FROM seg_reco.evaluation_runs WHERE name = 'pgtap run'), 1,
          'one run id per call');
SELECT ok((SELECT bool_and(e.config ->> 'sample_size' = '60' AND e.k = 10) FROM seg_reco.evaluation_runs e
            WHERE e.name = 'pgtap run'), 'the run keeps its configuration and k');
SELECT ok((SELECT bool_and(precision_at_k BETWEEN 0 AND 1 AND recall_at_k BETWEEN 0 AND 1
                           AND ndcg_at_k BETWEEN 0 AND 1 AND map_at_k BETWEEN 0 AND 1
                           AND hit_rate BETWEEN 0 AND 1 AND coverage BETWEEN 0 AND 1 AND customers > 0)
             FROM seg_reco.evaluation_runs WHERE name = 'pgtap run'), 'metrics are shares in [0, 1]');
SELECT ok((SELECT ndcg_at_k FROM r1 WHERE recommender = 'buy_again' AND mode = 'all')
          > (SELECT ndcg_at_k FROM r1 WHERE recommender = 'popularity' AND mode = 'all'),
          'buy-again beats popularity when re-buys count');
SELECT is((SELECT model ->> 'version' FROM seg_reco.models WHERE name = 'default'),
          (SELECT default_version FROM before_state), 'the default model is untouched');
SELECT is((SELECT count(*)::int FROM seg_reco.models WHERE name LIKE '\_seg\_reco\_eval\_%'), 0,
          'the temporary model is deleted');
SELECT is((SELECT count(*) FROM seg_reco.segment_popularity), (SELECT pop_rows FROM before_state),
          'segment popularity is put back');
SELECT is((SELECT as_of FROM seg_reco.popularity_info), (SELECT pop_as_of FROM before_state),
          'popularity_info is put back');

-- a second run gets a new id; runs compare over time
SELECT lives_ok($$SELECT * FROM seg_reco.evaluate((SELECT max(ts)::date - 27 FROM seg_reco.transactions), 5,
                   '{"sample_size": 30, "als": {"factors": 8, "iterations": 2}, "recommenders": ["popularity"]}', 'pgtap run 2')$$,
                'a second run');
SELECT ok((SELECT max(run_id) FROM seg_reco.evaluation_runs WHERE name = 'pgtap run 2')
          > (SELECT max(run_id) FROM seg_reco.evaluation_runs WHERE name = 'pgtap run'), 'run ids increase');

SELECT * FROM finish();
ROLLBACK;
