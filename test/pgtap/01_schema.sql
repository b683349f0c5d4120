-- Schema objects of seg_reco: tables, keys, indexes, views, functions and
-- their markings, pg_dump registration.
BEGIN;
SELECT plan(70);

SELECT has_schema('seg_reco');
SELECT has_extension('seg_reco');
SELECT tables_are('seg_reco', ARRAY['customers', 'products', 'transactions', 'nonmember_transactions', 'digital_events',
                                    'demo_truth', 'rfm_segments', 'source_columns', 'sources', 'models',
                                    'setting_defaults', 'settings', 'cluster_names', 'customer_clusters',
                                    'customer_value', 'refresh_log', 'als_customer_factors', 'als_product_factors',
                                    'content_terms', 'product_content', 'content_version', 'segment_popularity',
                                    'popularity_info', 'evaluation_runs', 'ab_experiments', 'ab_assignments',
                                    'demo_campaign_truth', 'recommendations_a', 'recommendations_b',
                                    'recommendations_active', 'contact_history', 'product_rules', 'product_rules_info',
                                    'nextbasket_neighbours', 'customer_state', 'refresh_state', 'dirty_customers',
                                    'customer_state_products', 'customer_feature_values', 'customer_rfm',
                                    'cohort_customer_months', 'cohort_cells']);
SELECT materialized_views_are('seg_reco', ARRAY['segment_summary']);
SELECT views_are('seg_reco', ARRAY['cluster_profiles', 'btyd_models', 'progress', 'recommendations', 'source_ids',
                                   'customer_features', 'customer_segments', 'cohorts']);

SELECT col_is_pk('seg_reco', 'customers', 'customer_id', 'customers keyed by customer_id');
SELECT col_is_pk('seg_reco', 'products', 'product_id', 'products keyed by product_id');
SELECT col_is_pk('seg_reco', 'transactions', 'line_id', 'transactions keyed by line_id');
SELECT col_is_pk('seg_reco', 'digital_events', 'event_id', 'digital_events keyed by event_id');
SELECT fk_ok('seg_reco', 'transactions', 'customer_id', 'seg_reco', 'customers', 'customer_id');
SELECT fk_ok('seg_reco', 'transactions', 'product_id', 'seg_reco', 'products', 'product_id');
SELECT fk_ok('seg_reco', 'digital_events', 'customer_id', 'seg_reco', 'customers', 'customer_id');
SELECT fk_ok('seg_reco', 'digital_events', 'product_id', 'seg_reco', 'products', 'product_id');
SELECT col_type_is('seg_reco', 'transactions', 'amount', 'numeric(12,2)', 'amount is numeric(12,2) NOK');
SELECT col_type_is('seg_reco', 'transactions', 'ts', 'timestamp with time zone', 'ts is timestamptz');
SELECT col_not_null('seg_reco', 'transactions', 'receipt_id', 'every line has a receipt');
SELECT col_is_null('seg_reco', 'transactions', 'customer_id', 'non-member lines have no customer');
SELECT col_is_null('seg_reco', 'digital_events', 'product_id', 'searches have no product');
SELECT has_index('seg_reco', 'transactions', 'transactions_customer_ts_idx', ARRAY['customer_id', 'ts']);
SELECT has_index('seg_reco', 'transactions', 'transactions_product_idx', ARRAY['product_id']);
SELECT has_index('seg_reco', 'products', 'products_inactive_idx', ARRAY['product_id']);
SELECT has_index('seg_reco', 'digital_events', 'digital_events_customer_ts_idx', ARRAY['customer_id', 'ts']);
SELECT col_is_pk('seg_reco', 'customer_rfm', 'customer_id', 'customer_segments: one row per customer (the primary key of customer_rfm)');
SELECT index_is_unique('seg_reco', 'segment_summary', 'segment_summary_kind_segment_idx');
SELECT col_is_pk('seg_reco', 'customer_feature_values', 'customer_id', 'customer_features: one row per customer (the primary key of customer_feature_values)');
SELECT columns_are('seg_reco', 'customer_segments',
    ARRAY['customer_id', 'as_of_date', 'first_purchase', 'last_purchase', 'recency_days',
          'frequency', 'monetary', 'r_score', 'f_score', 'm_score', 'rfm_code', 'segment',
          'cluster', 'cluster_name', 'gmm_component', 'gmm_probability',
          'p_alive', 'expected_purchases_90d', 'clv_12m', 'at_risk', 'value_model']);
SELECT volatility_is('seg_reco', 'compute_customer_features', ARRAY['date'], 'stable');
SELECT volatility_is('seg_reco', 'cluster_feature_vector', ARRAY['seg_reco.customer_features'], 'immutable');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.refresh_clusters()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'seg_reco.refresh_value()', 'EXECUTE'),
          'pipeline steps are not executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM seg_reco.setting_defaults), 39, '39 pipeline settings');
SELECT throws_ok('SELECT seg_reco.setting(''no_such_setting'')', '42704', NULL, 'unknown setting is an error');
SELECT throws_ok('INSERT INTO seg_reco.settings VALUES (''no_such_setting'', ''1'')', '23503', NULL,
                 'only known settings can be overridden');
SELECT has_type('seg_reco', 'rfm_state', 'the rfm aggregate has a real state type');
SELECT has_composite('seg_reco', 'rfm_values', 'rfm returns a composite');

-- functions and their markings
SELECT has_function('seg_reco', 'rfm_score', ARRAY['date']);
SELECT volatility_is('seg_reco', 'rfm_score', ARRAY['date'], 'stable');
SELECT is_aggregate('seg_reco', 'rfm', ARRAY['bigint', 'timestamp with time zone', 'double precision']);
SELECT is_aggregate('seg_reco', 'rfm_merge', ARRAY['seg_reco.rfm_state']);
SELECT volatility_is('seg_reco', 'rfm_trans', ARRAY['seg_reco.rfm_state', 'bigint', 'timestamp with time zone', 'double precision'], 'immutable');
SELECT isnt_strict('seg_reco', 'rfm_trans', ARRAY['seg_reco.rfm_state', 'bigint', 'timestamp with time zone', 'double precision'],
                   'rfm_trans is not strict: it builds the first state itself');
SELECT is_strict('seg_reco', 'rfm_state_in', ARRAY['cstring']);
SELECT has_function('seg_reco', 'generate_demo_data', ARRAY['integer', 'integer', 'bigint', 'bigint', 'bigint']);
SELECT volatility_is('seg_reco', 'generate_demo_data', ARRAY['integer', 'integer', 'bigint', 'bigint', 'bigint'], 'volatile');
SELECT has_function('seg_reco', 'use_source', ARRAY['text', 'regclass', 'jsonb', 'boolean']);
SELECT volatility_is('seg_reco', 'use_source', ARRAY['text', 'regclass', 'jsonb', 'boolean'], 'volatile');
SELECT is_procedure('seg_reco', 'refresh', ARRAY['text']);

-- the aggregates can run in parallel plans and split across nodes
SELECT is((SELECT a.aggcombinefn::text FROM pg_aggregate a WHERE a.aggfnoid = 'seg_reco.rfm(bigint,timestamptz,float8)'::regprocedure),
          'seg_reco.rfm_combine', 'rfm has a combine function');
SELECT is((SELECT a.aggtranstype::regtype::text FROM pg_aggregate a WHERE a.aggfnoid = 'seg_reco.rfm(bigint,timestamptz,float8)'::regprocedure),
          'seg_reco.rfm_state', 'rfm state type is not internal');
SELECT is((SELECT p.proparallel::text FROM pg_proc p WHERE p.oid = 'seg_reco.rfm(bigint,timestamptz,float8)'::regprocedure),
          's', 'rfm is parallel safe');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'seg_reco'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
              AND p.proparallel <> 's'),
          ARRAY['_als_train', '_customer_state_lines', '_nextbasket_build', '_progress_begin', '_progress_done', '_progress_end',
                '_progress_entries', '_progress_peak_memory', '_progress_step', '_segment_popularity_rows', 'als_fold_in',
                'association_rules', 'frequent_itemsets'],
          'every C function is parallel safe but the ALS and next-basket builds and the ALS fold-in, which write the model tables, the one-pass customer state and segment popularity (cursors over the lines, for refresh()''s and build_popularity''s INSERT), the progress functions, which report the calling session''s own work, and the miners of a caller''s query (restricted: it may read temporary tables)');
-- the served recommendations slot is indexed (the idle one may not be: the
-- TRUNCATE that empties it drops its indexes, and its fill builds them)
SELECT is((SELECT array_agg(format('%s %s', i.indisunique, i.indkey::text) ORDER BY i.indisunique DESC)
             FROM pg_index i
            WHERE i.indrelid = ('seg_reco.recommendations_' || (SELECT slot FROM seg_reco.recommendations_active))::regclass),
          ARRAY['t 1 2', 'f 3'], 'the served slot: unique index on (customer_id, rank), index on product_id');
SELECT col_not_null('seg_reco', 'recommendations_a', 'customer_id', 'slot a: customer_id not null');
SELECT col_not_null('seg_reco', 'recommendations_b', 'rank', 'slot b: rank not null');
SELECT is((SELECT count(*)::int FROM seg_reco.recommendations_active), 1, 'one pointer row');
SELECT has_function('seg_reco', 'association_rules', ARRAY['text', 'double precision', 'double precision', 'integer', 'integer', 'integer', 'integer', 'integer']);
SELECT volatility_is('seg_reco', 'association_rules', ARRAY['text', 'double precision', 'double precision', 'integer', 'integer', 'integer', 'integer', 'integer'], 'stable');
SELECT volatility_is('seg_reco', 'bought_with', ARRAY['bigint', 'integer', 'boolean'], 'stable');
SELECT ok((SELECT 'seg_reco.product_rules'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'association rules are dumped');

-- functions that run SQL pin their search_path (hostile search_path safety)
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'seg_reco'::regnamespace
              AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('plpgsql', 'sql'))
              AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
              AND p.oid <> 'seg_reco.refresh(text)'::regprocedure),
          0, 'every SQL/plpgsql function pins search_path (but refresh(), which commits)');
-- refresh() cannot have SET clauses (a procedure with them cannot COMMIT):
-- it only calls seg_reco's procedures and functions by qualified name
SELECT is((SELECT p.proconfig FROM pg_proc p WHERE p.oid = 'seg_reco.refresh(text)'::regprocedure), NULL,
          'refresh() has no SET clause, so it can commit');
-- but the capture trigger: every role that may write the sources must have
-- its changes recorded without write access to seg_reco's bookkeeping
SELECT is((SELECT array_agg(p.oid::regprocedure::text) FROM pg_proc p
            WHERE p.pronamespace = 'seg_reco'::regnamespace AND p.prosecdef),
          ARRAY['seg_reco._capture_changes()'], 'no SECURITY DEFINER but the capture trigger');

-- pg_dump registration
SELECT ok((SELECT 'seg_reco.customers'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'customers are dumped');
SELECT ok((SELECT 'seg_reco.transactions'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'transactions are dumped');
SELECT ok((SELECT 'seg_reco.rfm_segments'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'edited segment rules are dumped');
SELECT ok((SELECT 'seg_reco.refresh_log'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'refresh log is dumped');
SELECT ok((SELECT 'seg_reco.settings'::regclass = ANY (e.extconfig) AND 'seg_reco.models'::regclass = ANY (e.extconfig)
             FROM pg_extension e WHERE e.extname = 'seg_reco'), 'settings and models are dumped');

-- the shipped segment map: 11 named segments, every code mapped
SELECT is((SELECT count(*)::int FROM seg_reco.rfm_segments WHERE builtin), 11, '11 standard segments');
SELECT is((SELECT count(*)::int
             FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m
            WHERE NOT EXISTS (SELECT 1 FROM seg_reco.rfm_segments s
                               WHERE r BETWEEN s.r_min AND s.r_max AND f BETWEEN s.f_min AND s.f_max
                                 AND m BETWEEN s.m_min AND s.m_max)), 0, 'all 125 RFM codes are mapped');
SELECT is((SELECT count(*)::int FROM seg_reco.source_columns WHERE required), 12, '12 required source columns');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'seg_reco'),
          'the installed version is the control file''s default_version');

SELECT * FROM finish();
ROLLBACK;
