-- bench/fuzz.sh: the bad-input matrix, generated from the catalog.
--
-- Every function, procedure and aggregate in schema seg_reco (pg_proc), with
-- its input argument types: a baseline call with sensible defaults, then for
-- each argument position each hostile value suited to its type while the
-- other arguments keep their defaults.  Aggregates run over 10 rows
-- (generate_series(1, 10) g) with the hostile value in every row and, a
-- second time, in row 5 only; and once over zero rows.  Functions whose
-- arguments all have names are called in named notation, leaving out the
-- arguments that have a default of their own unless the defaults below set
-- them (smaller sizes) or the argument is the one under test.  Results are
-- turned into text on the server (every output function runs) and only
-- their count and length go to the client, so that a call's time is the
-- server's.
--
-- Output (psql, unaligned, tab-separated), one call a line:
--   id, role (analyst: executable by the non-superuser fuzz_analyst; owner:
--   revoked from PUBLIC, run as superuser), kind (select or call), function,
--   argument, hostile value, SQL
-- A type without hostile values below gets NULL and its default only; the
-- line "-- type without hostile values: T" is printed to stderr for it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
\pset pager off

-- constants of the scratch data, written into the SQL as literals
CREATE TEMP TABLE fz_const AS
SELECT c.cust, p.prod, seg_reco.default_as_of() AS asof,
       (SELECT seg_reco.rfm_state_agg(t.receipt_id, t.ts, t.amount::float8)::text
          FROM seg_reco.transactions t WHERE t.customer_id = c.cust) AS rfmstate,
       (SELECT seg_reco.btyd_summary_state_agg(t.ts::date, t.amount::float8, date '2025-12-31', 'week')::text
          FROM seg_reco.transactions t WHERE t.customer_id = c.cust) AS btydstate,
       seg_reco.kmeans_load('fuzz_km3')::text::jsonb AS km,
       seg_reco.gmm_load('fuzz_gmm3')::text::jsonb AS gmm
  FROM (SELECT customer_id AS cust FROM seg_reco.transactions WHERE customer_id IS NOT NULL
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1) c,
       (SELECT product_id AS prod FROM seg_reco.transactions WHERE product_id IS NOT NULL
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1) p;

-- the functions and their input arguments (IN, INOUT, VARIADIC)
CREATE TEMP TABLE fz_fn AS
SELECT p.oid, p.proname, p.prokind, p.pronargs, p.pronargdefaults,
       format('seg_reco.%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) AS sig,
       has_function_privilege('fuzz_analyst', p.oid, 'EXECUTE') AS public
  FROM pg_proc p
 WHERE p.pronamespace = 'seg_reco'::regnamespace;

CREATE TEMP TABLE fz_arg AS
SELECT f.oid, a.pos, a.typ, format_type(a.typ, NULL) AS typname,
       coalesce(nullif(a.name, ''), '$' || a.pos) AS name, nullif(a.name, '') IS NOT NULL AS named,
       a.pos > f.pronargs - f.pronargdefaults AS has_default
  FROM fz_fn f
  CROSS JOIN LATERAL (
      SELECT u.t AS typ, u.n AS name, row_number() OVER (ORDER BY u.o) AS pos
        FROM pg_proc p,
             unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes, p.proargnames)
               WITH ORDINALITY u(t, m, n, o)
       WHERE p.oid = f.oid AND coalesce(u.m, 'i') IN ('i', 'b', 'v')) a;

-- defaults: the first row (lowest prio) whose fn matches the function name
-- (a regular expression) and whose arg is the argument's name ($n when it
-- has none) or its type (type:<name>).  {cust}, {prod}, {asof},
-- {rfmstate}, {btydstate}, {km}, {gmm} are replaced by the constants.
CREATE TEMP TABLE fz_default (prio serial, fn text, arg text, expr text);
INSERT INTO fz_default (fn, arg, expr) VALUES
-- aggregates: values that vary over the rows g = 1..10
('^(kmeans_train|gmm_train|kmeans_select_k|silhouette)$', 'features', 'ARRAY[g, (g * 7) % 5, 1.5 * g]'),
('^(kmeans_train|gmm_train)$', 'k', '2'),
('^(kmeans_train|gmm_train|kmeans_select_k)$', 'options', $$'{"seed": 1}'$$),
('^silhouette$', 'cluster', '1 + g % 2'),
('^silhouette$', 'sample_size', '5'),
('^silhouette$', 'seed', '1'),
('^kmeans_select_k$', 'k_min', '2'),
('^kmeans_select_k$', 'k_max', '3'),
('^(bgnbd_fit|mbgnbd_fit)$', 'frequency', 'g % 4'),
('^(bgnbd_fit|mbgnbd_fit)$', 'recency', '2 * (g % 4)'),
('^(bgnbd_fit|mbgnbd_fit)$', 't', '30 + g'),
('^(bgnbd_fit|mbgnbd_fit|gammagamma_fit)$', 'penalizer', '0.01'),
('^gammagamma_fit$', 'frequency', '1 + g % 3'),
('^gammagamma_fit$', 'monetary_value', '10 + g'),
('^(btyd_summary|btyd_summary_state_agg)$', 'purchase_date', $$date '2024-01-01' + 3 * g$$),
('^(btyd_summary|btyd_summary_state_agg)$', 'amount', '10 * g'),
('^(btyd_summary|btyd_summary_state_agg)$', 'calibration_end', $$'2024-03-01'$$),
('^(btyd_summary|btyd_summary_state_agg)$', 'unit', $$'week'$$),
('^(rfm|rfm_state_agg)$', 'receipt_id', 'g'),
('^(rfm|rfm_state_agg)$', 'ts', $$timestamptz '2024-01-01' + g * interval '1 day'$$),
('^(rfm|rfm_state_agg)$', 'amount', '10.0 * g'),
('^rfm_merge$', '$1', '{rfmstate}'),
('^btyd_summary_merge$', '$1', '{btydstate}'),
-- support functions (unnamed arguments)
('^rfm_trans$', '$2', '1'),
('^rfm_trans$', '$3', $$'2024-01-01'$$),
('^rfm_trans$', '$4', '1'),
('^rfm_state_in$', '$1', $$'1,0,5,0,0,0:{7}'$$),
('^btyd_summary_trans$', '$2', $$'2024-01-10'$$),
('^btyd_summary_trans$', '$3', '1'),
('^btyd_summary_trans$', '$4', $$'2025-12-31'$$),
('^btyd_summary_trans$', '$5', $$'week'$$),
('^btyd_summary_state_in$', '$1', $$'week,8800,1:{8790:5}'$$),
('^kmeans_model_in$', '$1', '{km}'),
('^gmm_model_in$', '$1', '{gmm}'),
-- functions
('.', 'customer_id', '{cust}'),
('.', 'product_id', '{prod}'),
('^(kmeans_assign|kmeans_assign_distance|kmeans_silhouette|gmm_assign|gmm_proba)$', 'features', $$'{3,1,4.5}'$$),
('^(kmeans_assign|kmeans_assign_distance|kmeans_silhouette|kmeans_save)$', 'model', $$seg_reco.kmeans_load('fuzz_km3')$$),
('^(gmm_assign|gmm_proba|gmm_save)$', 'model', $$seg_reco.gmm_load('fuzz_gmm3')$$),
('^kmeans_assign$', 'model_name', $$'fuzz_km3'$$),
('^kmeans_save$', 'name', $$'fuzz_km_saved'$$),
('^gmm_save$', 'name', $$'fuzz_gmm_saved'$$),
('^kmeans_load$', 'name', $$'fuzz_km3'$$),
('^gmm_load$', 'name', $$'fuzz_gmm3'$$),
('^_model_load$', 'name', $$'fuzz_km3'$$),
('^_model_load$', 'want_kind', $$'kmeans'$$),
('^(p_alive|expected_purchases|expected_spend|clv|btyd_scores|_btyd_model)$', 'model', $$'customer_btyd'$$),
('^btyd_train$', 'name', $$'fuzz_btyd'$$),
('^(bgnbd|mbgnbd)_', 'r', '0.24'),
('^(bgnbd|mbgnbd)_', 'alpha', '4.4'),
('^(bgnbd|mbgnbd)_', 'a', '0.79'),
('^(bgnbd|mbgnbd)_', 'b', '2.4'),
('^gammagamma_', 'p', '6'),
('^gammagamma_', 'q', '4'),
('^gammagamma_', 'gamma', '15'),
('.', 'frequency', '2'),
('.', 'recency', '30'),
('.', 't', '38'),
('.', 'horizon', '10'),
('.', 'expected_spend', '50'),
('.', 'monetary_value', '30'),
('^(als_train|_als_train)$', 'name', $$'fuzz_als'$$),
('^(als_train|_als_train)$', 'factors', '4'),
('^(als_train|_als_train)$', 'iterations', '2'),
('^_als_train$', 'regularization', '0.01'),
('^_als_train$', 'alpha', '1'),
('^_als_train$', 'seed', '1'),
('^_als_train$', 'solver', $$'cg'$$),
('^_als_train$', 'query', 'seg_reco.als_source_query()'),
('^_als_train$', 'custom_source', 'false'),
('^_als_train$', 'options', $$'{}'$$),
('^(generate_demo_data|_demo_.*)$', 'customers', '100'),
('^(generate_demo_data|_demo_.*)$', 'products', '50'),
('^(generate_demo_data|_demo_.*)$', 'transactions', '1000'),
('^(generate_demo_data|_demo_.*)$', 'digital_events', '100'),
('^(generate_demo_data|_demo_.*)$', 'seed', '1'),
('^_age_band$', 'birth_year', '1980'),
('^_age_band$', 'ref_year', '2025'),
('^_household_band$', 'household_size', '3'),
('_at_k$', 'recommended', $$'{1,2,3,4,5}'$$),
('_at_k$', 'relevant', $$'{2,5,9}'$$),
('_at_k$', 'k', '10'),
('^(intra_list_diversity|novelty)$', 'products', $$'{1,2,3,4,5}'$$),
('^(evaluate|tune_weights)$', 'split_date', $$date '{asof}' - 30$$),
('^evaluate$', 'config', $$'{"sample_size": 50, "test_days": 14, "als": {"factors": 4, "iterations": 2}}'$$),
('^tune_weights$', 'config', $$'{"candidates": [{"als": 1, "content": 0.1, "popularity": 0.1, "buy_again": 1}], "sample_size": 50, "test_days": 14, "als": {"factors": 4, "iterations": 2}}'$$),
('^setting$', 'key', $$'als_factors'$$),
('^use_source$', 'relation', $$'customers'$$),
('^use_source$', 'source', $$'fuzz.customers_copy'$$),
('^use_source$', 'discard_data', 'true'),
('^cluster_feature_vector$', 'f', '(SELECT x FROM seg_reco.customer_features x ORDER BY x.customer_id LIMIT 1)'),
('^(association_rules|frequent_itemsets)$', 'query', $$'SELECT receipt_id, product_id FROM seg_reco.transactions'$$),
('^(association_rules|frequent_itemsets|build_rules)$', 'min_support', '0.01'),
('^(association_rules|build_rules)$', 'min_confidence', '0.1'),
('^(association_rules|frequent_itemsets|build_rules)$', 'max_length', '3'),
('^(association_rules|frequent_itemsets)$', 'max_itemsets', '100000'),
('^basket_complements$', 'product_ids', $$'{{prod}}'$$),
-- by type
('.', 'type:integer', '2'),
('.', 'type:bigint', '1'),
('.', 'type:double precision', '1'),
('.', 'type:text', $$'x'$$),
('.', 'type:boolean', 'false'),
('.', 'type:date', $$'{asof}'$$),
('.', 'type:timestamp with time zone', $$'2025-01-01'$$),
('.', 'type:jsonb', $$'{}'$$),
('.', 'type:double precision[]', $$'{1,2,3}'$$),
('.', 'type:bigint[]', $$'{1,2,3}'$$),
('.', 'type:regclass', $$'seg_reco.customers'$$),
('.', 'type:cstring', $$'x'$$),
('.', 'type:internal', 'NULL'),
('.', 'type:seg_reco.rfm_state', '{rfmstate}'),
('.', 'type:seg_reco.btyd_summary_state', '{btydstate}'),
('.', 'type:seg_reco.kmeans_model', $$seg_reco.kmeans_load('fuzz_km3')$$),
('.', 'type:seg_reco.gmm_model', $$seg_reco.gmm_load('fuzz_gmm3')$$);

-- hostile values by type (fn: functions they apply to, a regular expression)
CREATE TEMP TABLE fz_hostile (typ text, fn text DEFAULT '.', expr text);
INSERT INTO fz_hostile (typ, expr) VALUES
('integer', 'NULL'), ('integer', '0'), ('integer', '-1'), ('integer', '1'),
('integer', '2147483647'), ('integer', '-2147483648'), ('integer', '1000000'),
('bigint', 'NULL'), ('bigint', '0'), ('bigint', '-1'), ('bigint', '999999999'),
('bigint', '9223372036854775807'), ('bigint', '-9223372036854775808'),
('double precision', 'NULL'), ('double precision', $$'NaN'$$), ('double precision', $$'Infinity'$$),
('double precision', $$'-Infinity'$$), ('double precision', '1e308'), ('double precision', '-1e308'),
('double precision', '0'), ('double precision', '-1'), ('double precision', '4.9e-324'),
('text', 'NULL'), ('text', $$''$$), ('text', $$' '$$), ('text', $$'garbage'$$), ('text', $$'WEEK'$$),
('text', $$'1,2,3'$$), ('text', $$'it''s'$$), ('text', $$repeat('x', 1000000)$$),
('text', $$'seg_reco.models'$$), ('text', $$'pg_catalog.pg_authid'$$), ('text', $$'SELECT 1'$$),
('text', $$'SELECT NULL::bigint, NULL::bigint, NULL::float8'$$),
('text', $$'SELECT -1::bigint, 999999999::bigint, ''NaN''::float8'$$),
('boolean', 'NULL'), ('boolean', 'true'), ('boolean', 'false'),
('date', 'NULL'), ('date', $$'4714-11-24 BC'$$), ('date', $$'4713-01-01 BC'$$), ('date', $$'294276-12-31'$$),
('date', $$'5874897-12-31'$$), ('date', $$'infinity'$$), ('date', $$'-infinity'$$), ('date', $$'1900-01-01'$$),
('date', $$'2999-12-31'$$),
('timestamp with time zone', 'NULL'), ('timestamp with time zone', $$'4714-11-24 00:00:00+00 BC'$$),
('timestamp with time zone', $$'294276-12-31 23:59:59+00'$$), ('timestamp with time zone', $$'infinity'$$),
('timestamp with time zone', $$'-infinity'$$), ('timestamp with time zone', $$'1900-01-01'$$),
('timestamp with time zone', $$'epoch'$$),
('jsonb', 'NULL'), ('jsonb', $$'{}'$$), ('jsonb', $$'[]'$$), ('jsonb', $$'null'$$), ('jsonb', $$'"x"'$$),
('jsonb', $$'1'$$), ('jsonb', $$'{"k": "x"}'$$), ('jsonb', $$'{"seed": -1}'$$), ('jsonb', $$'{"": 1}'$$),
('jsonb', $$repeat('[', 5000)::text || repeat(']', 5000)$$),
('jsonb', $$(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100000) g)$$),
('double precision[]', 'NULL'), ('double precision[]', $$'{}'$$), ('double precision[]', $$'{NULL}'$$),
('double precision[]', $$'{1,NULL,3}'$$), ('double precision[]', $$'{NaN,1,1}'$$),
('double precision[]', $$'{Infinity,1,1}'$$), ('double precision[]', $$'{-Infinity,1,1}'$$),
('double precision[]', $$'{1e308,1e308,1e308}'$$), ('double precision[]', $$'{-1e308,1e308,-1e308}'$$),
('double precision[]', $$'{1,2}'$$), ('double precision[]', $$'{1,2,3,4}'$$),
('double precision[]', $$'{{1,2,3}}'$$), ('double precision[]', $$'{{1,2},{3,4}}'$$),
('double precision[]', $$'[2:4]={1,2,3}'$$), ('double precision[]', 'array_fill(0::float8, ARRAY[3])'),
('double precision[]', 'array_fill(1::float8, ARRAY[100000])'),
('double precision[]', 'array_fill(1::float8, ARRAY[1000, 1000])'),
('bigint[]', 'NULL'), ('bigint[]', $$'{}'$$), ('bigint[]', $$'{NULL}'$$), ('bigint[]', $$'{1,NULL}'$$),
('bigint[]', $$'{-1}'$$), ('bigint[]', $$'{0}'$$), ('bigint[]', $$'{999999999}'$$),
('bigint[]', $$'{9223372036854775807,-9223372036854775808}'$$), ('bigint[]', $$'{1,1,1,1}'$$),
('bigint[]', $$'{{1,2},{3,4}}'$$), ('bigint[]', $$'[5:6]={1,2}'$$),
('bigint[]', 'array_fill(1::bigint, ARRAY[100000])'),
('bigint[]', 'ARRAY(SELECT g::bigint FROM generate_series(1, 1000000) g)'),
('regclass', 'NULL'), ('regclass', $$'pg_class'$$), ('regclass', $$'seg_reco.models'$$),
('regclass', $$'seg_reco.recommendations'$$), ('regclass', $$'seg_reco.btyd_models'$$),
('regclass', $$'pg_catalog.pg_authid'$$), ('regclass', $$'fuzz.typed'$$), ('regclass', $$'999999999'$$),
('regclass', $$'-'$$),
('cstring', 'NULL'), ('cstring', $$''$$), ('cstring', $$'garbage'$$), ('cstring', $$'{}'$$),
('cstring', $$'[]'$$), ('cstring', $$'null'$$), ('cstring', $$'1,2,3'$$),
('seg_reco.rfm_state', 'NULL'), ('seg_reco.rfm_state', $$'0,0,0,0,-,-:{}'$$),
('seg_reco.rfm_state', $$'9223372036854775807,0,1e308,0,0,9223371331199999999:{-9223372036854775808,9223372036854775807}'$$),
('seg_reco.rfm_state', $$'9223372036854775807,9223372036854775807,-1e308,0,-,-:{}'$$),
('seg_reco.rfm_state', $$(SELECT '100000,0,5,0,0,0:{' || string_agg(g::text, ',' ORDER BY g) || '}' FROM generate_series(1, 100000) g)$$),
('seg_reco.rfm_state', $$'1,0,5,0,-86400000000,-86400000000:{0}'$$),
('seg_reco.btyd_summary_state', 'NULL'), ('seg_reco.btyd_summary_state', $$'week,8800,0:{}'$$),
('seg_reco.btyd_summary_state', $$'day,8800,1:{8790:5}'$$),
('seg_reco.btyd_summary_state', $$'week,9000,1:{8790:5}'$$),
('seg_reco.btyd_summary_state', $$'day,100000000,9223372036854775807:{-2451545:-1e308,100000000!1e308}'$$),
('seg_reco.btyd_summary_state', $$'week,-2451545,1:{-2451545:0}'$$),
('seg_reco.btyd_summary_state', $$'day,8800,2:{8790!-5,8791!-1}'$$),
('seg_reco.btyd_summary_state', $$'day,8800,1:{-4294958496:5}'$$),
('seg_reco.kmeans_model', 'NULL'), ('seg_reco.gmm_model', 'NULL'),
('seg_reco.customer_features', 'NULL');
-- state and model texts for the input functions
INSERT INTO fz_hostile (typ, fn, expr)
SELECT 'cstring', '^rfm_state_in$', e FROM unnest(ARRAY[
    $$'1,0,5'$$, $$'1,0,5,0,0,0:{7'$$, $$'-1,0,5,0,-,-:{}'$$, $$'1,0,NaN,0,0,0:{7}'$$,
    $$'1,0,5,0,9223372036854775807,9223372036854775807:{7}'$$, $$'2,0,5,0,0,0:{8,7}'$$,
    $$'99999999999999999999,0,5,0,-,-:{}'$$, $$'1,0,5,0,0,0:{7}junk'$$,
    $$'100001,0,5,0,0,0:{' || repeat(',', 100000) || '}'$$]) e
UNION ALL
SELECT 'cstring', '^btyd_summary_state_in$', e FROM unnest(ARRAY[
    $$'week'$$, $$'week,8800,1:{8790'$$, $$'month,8800,0:{}'$$, $$'week,2147483647,0:{}'$$,
    $$'week,8800,-1:{}'$$, $$'week,8800,1:{8790:NaN}'$$, $$'week,8800,2:{8790:5,8780:1}'$$,
    $$'week,8800,1:{99999999999999999999:5}'$$, $$'day,8800,1:{-4294958496:5}'$$,
    $$'week,8800,1:{' || repeat(',', 100000) || '}'$$]) e;

-- hostile models: patches on the valid 3-feature models of fuzz_setup.sql
CREATE TEMP TABLE fz_model_patch (typ text, patch jsonb, drop_key text);
INSERT INTO fz_model_patch (typ, patch) VALUES
('kmeans', '{"k": 0}'), ('kmeans', '{"k": -1}'), ('kmeans', '{"k": 3}'), ('kmeans', '{"k": 2147483647}'),
('kmeans', '{"d": 0}'), ('kmeans', '{"d": 2}'), ('kmeans', '{"d": 2147483647}'), ('kmeans', '{"d": "x"}'),
('kmeans', '{"centroids": []}'), ('kmeans', '{"centroids": [[1, 2, 3]]}'),
('kmeans', '{"centroids": [[1, 2], [3, 4]]}'), ('kmeans', '{"centroids": [[1e308, 1e308, 1e308], [-1e308, -1e308, -1e308]]}'),
('kmeans', '{"centroids": [["x", 1, 1], [1, 1, 1]]}'), ('kmeans', '{"centroids": [[null, 1, 1], [1, 1, 1]]}'),
('kmeans', '{"centroids": null}'), ('kmeans', '{"centroids": {"a": 1}}'),
('kmeans', '{"sizes": [-1, -1]}'), ('kmeans', '{"sizes": [1]}'), ('kmeans', '{"inertia": -1}'),
('kmeans', '{"transform": {"mean": [0, 0, 0], "scale": [0, 0, 0]}}'),
('kmeans', '{"transform": {"mean": [0], "scale": [1]}}'), ('kmeans', '{"transform": null}'),
('kmeans', '{"transform": {"mean": [1e308, 1e308, 1e308], "scale": [1e-308, 1e-308, 1e-308]}}'),
('kmeans', '{"params": {"log1p": [99]}}'), ('kmeans', '{"params": {"log1p": [-1]}}'),
('kmeans', '{"params": {"log1p": [0]}}'), ('kmeans', '{"params": {"log1p": [1, 1, 1, 1]}}'),
('kmeans', '{"params": null}'), ('kmeans', '{"version": 999}'), ('kmeans', '{"kind": "gmm"}'),
('gmm', '{"k": 0}'), ('gmm', '{"k": 3}'), ('gmm', '{"d": 2}'), ('gmm', '{"d": 2147483647}'),
('gmm', '{"weights": [1]}'), ('gmm', '{"weights": [-1, 2]}'), ('gmm', '{"weights": [0, 0]}'),
('gmm', '{"weights": [1e308, 1e308]}'),
('gmm', '{"means": [[1, 2, 3]]}'), ('gmm', '{"means": [[1e308, 1e308, 1e308], [1, 1, 1]]}'),
('gmm', '{"covariances": [[[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]]}'),
('gmm', '{"covariances": [[[-1, 0, 0], [0, -1, 0], [0, 0, -1]], [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]]}'),
('gmm', '{"covariances": [[[1, 2, 0], [2, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]]}'),
('gmm', '{"covariances": [[[1e-300, 0, 0], [0, 1e-300, 0], [0, 0, 1e-300]], [[1e300, 0, 0], [0, 1e300, 0], [0, 0, 1e300]]]}'),
('gmm', '{"covariances": [[1, 1, 1], [1, 1, 1]]}'), ('gmm', '{"covariances": [[[1]]]}'),
('gmm', '{"covariance_type": "diag"}'), ('gmm', '{"covariance_type": "spherical"}'),
('gmm', '{"transform": {"mean": [0, 0, 0], "scale": [0, 0, 0]}}'), ('gmm', '{"params": {"log1p": [99]}}'),
('gmm', '{"version": 999}'), ('gmm', '{"kind": "kmeans"}');
INSERT INTO fz_model_patch (typ, drop_key) VALUES
('kmeans', 'centroids'), ('kmeans', 'k'), ('kmeans', 'transform'), ('kmeans', 'kind'),
('gmm', 'covariances'), ('gmm', 'weights'), ('gmm', 'means'), ('gmm', 'transform');
INSERT INTO fz_hostile (typ, fn, expr)
SELECT 'seg_reco.' || m.typ || '_model', '.',
       quote_literal(CASE WHEN m.drop_key IS NOT NULL
                          THEN (CASE m.typ WHEN 'kmeans' THEN c.km ELSE c.gmm END) - m.drop_key
                          ELSE (CASE m.typ WHEN 'kmeans' THEN c.km ELSE c.gmm END) || m.patch END::text)
  FROM fz_model_patch m, fz_const c
UNION ALL
SELECT 'seg_reco.' || t || '_model', '.', e
  FROM unnest(ARRAY['kmeans', 'gmm']) t, unnest(ARRAY[$$'{}'$$, $$'[]'$$, $$'null'$$, $$'garbage'$$]) e;
-- and as text for their input functions
INSERT INTO fz_hostile (typ, fn, expr)
SELECT 'cstring', '^' || substr(h.typ, 10) || '_in$', h.expr
  FROM fz_hostile h WHERE h.typ IN ('seg_reco.kmeans_model', 'seg_reco.gmm_model') AND h.expr <> 'NULL';

-- composite arguments: rows of NULLs, NaN/-1, the largest and the smallest values
INSERT INTO fz_hostile (typ, fn, expr)
SELECT format_type(t.oid, NULL), '.',
       'ROW(' || string_agg(CASE WHEN v.cls = 'null' THEN 'NULL'
                                 WHEN a.atttypid IN ('float8'::regtype, 'float4'::regtype, 'numeric'::regtype) THEN
                                      CASE v.cls WHEN 'nan' THEN $$'NaN'$$ WHEN 'max' THEN $$'Infinity'$$ ELSE '-1e308' END
                                 WHEN a.atttypid = 'int4'::regtype THEN
                                      CASE v.cls WHEN 'nan' THEN '-1' WHEN 'max' THEN '2147483647' ELSE '-2147483648' END
                                 WHEN a.atttypid = 'int8'::regtype THEN
                                      CASE v.cls WHEN 'nan' THEN '-1' WHEN 'max' THEN '9223372036854775807' ELSE '-9223372036854775808' END
                                 ELSE 'NULL' END, ', ' ORDER BY a.attnum)
       || ')::' || format_type(t.oid, NULL)
  FROM pg_type t
  JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
 CROSS JOIN (VALUES ('null'), ('nan'), ('max'), ('min')) v(cls)
 WHERE t.oid IN (SELECT typ FROM fz_arg) AND t.typtype = 'c'
 GROUP BY t.oid, v.cls;

-- jsonb option keys per function; each is tried with every value below,
-- merged into the argument's default object
CREATE TEMP TABLE fz_key (fn text, arg text, key text);
INSERT INTO fz_key
SELECT fn, arg, unnest(keys) FROM (VALUES
  ('^(kmeans_train|kmeans_select_k|gmm_train)$', 'options', ARRAY['n_init', 'max_iter', 'tol', 'seed', 'standardize', 'log1p']),
  ('^gmm_train$', 'options', ARRAY['covariance_type', 'reg_covar']),
  ('^kmeans_select_k$', 'options', ARRAY['sample_size']),
  ('^(als_source_query|als_train|_als_train)$', 'options', ARRAY['purchase_weight', 'view_weight', 'click_weight', 'add_to_cart_weight', 'as_of', 'half_life_days']),
  ('^recommend_(for|all)$', 'weights', ARRAY['als', 'content', 'popularity', 'buy_again', 'history_prior']),
  ('^recommend_for$', 'boost', ARRAY['1', '999999999', '-1', 'x']),
  ('^(evaluate|tune_weights)$', 'config', ARRAY['recommenders', 'sample_size', 'seed', 'test_days', 'als', 'weights', 'diversity', 'max_per_category', 'min_segment_size']),
  ('^tune_weights$', 'config', ARRAY['candidates', 'k']),
  ('^use_source$', 'columns', ARRAY['customer_id', 'member_since', 'x'])) v(fn, arg, keys);
CREATE TEMP TABLE fz_keyval (v text);
INSERT INTO fz_keyval VALUES ('-1'), ('0'), ('1e308'), ('-1e308'), ('2147483648'), ('"NaN"'), ('"x"'),
    ('null'), ('[]'), ('{}'), ('true'), ('[-1, "x", null]'), ('{"als": "NaN", "factors": -1}');

-- defaults per argument, with the constants in
CREATE TEMP TABLE fz_argdef AS
SELECT a.*, f.proname, f.prokind,
       (SELECT replace(replace(replace(replace(replace(replace(replace(d.expr,
                   '{cust}', c.cust::text), '{prod}', c.prod::text), '{asof}', c.asof::text),
                   '{rfmstate}', quote_literal(c.rfmstate)), '{btydstate}', quote_literal(c.btydstate)),
                   '{km}', quote_literal(c.km::text)), '{gmm}', quote_literal(c.gmm::text))
          FROM fz_default d, fz_const c
         WHERE f.proname ~ d.fn AND (d.arg = a.name OR d.arg = 'type:' || a.typname)
         ORDER BY (d.arg = a.name) DESC, d.prio LIMIT 1) AS def,
       (SELECT count(*) FROM fz_default d
         WHERE f.proname ~ d.fn AND d.arg = a.name) > 0 AS def_by_name
  FROM fz_arg a JOIN fz_fn f USING (oid);

-- every hostile value per argument; for a jsonb argument whose default is
-- an object, a hostile object literal is merged into that default (so that
-- {"seed": -1} tests the seed, not the cost of a full-size default run)
CREATE TEMP TABLE fz_case AS
SELECT d.oid, d.pos,
       CASE WHEN d.typname = 'jsonb' AND h.expr ~ '^''\{.*\}''$'
                 AND d.def ~ '^''\{.*\}''$' AND jsonb_typeof(substring(d.def FROM '^''(.*)''$')::jsonb) = 'object'
            THEN quote_literal((substring(d.def FROM '^''(.*)''$')::jsonb
                                || substring(h.expr FROM '^''(.*)''$')::jsonb)::text)
            ELSE h.expr END
  FROM fz_argdef d JOIN fz_hostile h ON h.typ = d.typname AND d.proname ~ h.fn
 WHERE d.typname <> 'internal'
UNION ALL
SELECT d.oid, d.pos, quote_literal((coalesce(
           (SELECT x.v::jsonb FROM (SELECT substring(d.def FROM '^''(.*)''$') AS v) x
             WHERE x.v IS NOT NULL AND jsonb_typeof(x.v::jsonb) = 'object'), '{}'::jsonb)
         || jsonb_build_object(k.key, kv.v::jsonb))::text)
  FROM fz_argdef d JOIN fz_key k ON d.proname ~ k.fn AND d.name = k.arg
 CROSS JOIN fz_keyval kv
 WHERE d.typname = 'jsonb';

\o /dev/stderr
SELECT DISTINCT '-- type without hostile values: ' || d.typname
  FROM fz_argdef d
 WHERE d.typname <> 'internal' AND NOT EXISTS (SELECT 1 FROM fz_hostile h WHERE h.typ = d.typname);
\o

-- the calls: a baseline (pos 0), each argument with each hostile value, and
-- for aggregates the value in row 5 only and a run over zero rows
WITH fn AS (
    SELECT f.*, NOT EXISTS (SELECT 1 FROM fz_arg a WHERE a.oid = f.oid AND (NOT a.named OR a.typname = 'internal')) AS all_named,
           EXISTS (SELECT 1 FROM fz_arg a WHERE a.oid = f.oid AND a.typname = 'internal') AS has_internal
      FROM fz_fn f),
cases AS (
    SELECT f.oid, 0 AS pos, NULL::text AS expr, 'all' AS rows FROM fn f
    UNION ALL
    SELECT f.oid, 0, NULL, 'zero' FROM fn f WHERE f.prokind = 'a'
    UNION ALL
    SELECT c.oid, c.pos, c.expr, 'all' FROM fz_case c JOIN fn f USING (oid) WHERE NOT f.has_internal
    UNION ALL
    SELECT c.oid, c.pos, c.expr, 'row5' FROM fz_case c JOIN fn f USING (oid) WHERE f.prokind = 'a'),
rendered AS (
    SELECT f.oid, f.sig, f.proname, f.prokind, f.public, cs.pos, cs.expr, cs.rows,
           (SELECT string_agg(
                       CASE WHEN f.prokind = 'f' AND f.all_named THEN quote_ident(a.name) || ' => ' ELSE '' END
                       || CASE WHEN a.pos = cs.pos AND cs.rows = 'row5'
                               THEN format('CASE WHEN g = 5 THEN (%s)::%s ELSE (%s)::%s END',
                                           cs.expr, a.typname, coalesce(a.def, 'NULL'), a.typname)
                               WHEN a.pos = cs.pos THEN format('(%s)::%s', cs.expr, a.typname)
                               WHEN a.typname = 'internal' THEN 'NULL'
                               ELSE format('(%s)::%s', coalesce(a.def, 'NULL'), a.typname) END,
                       ', ' ORDER BY a.pos)
              FROM fz_argdef a
             WHERE a.oid = f.oid
               AND (a.pos = cs.pos OR NOT (f.prokind = 'f' AND f.all_named AND a.has_default AND NOT a.def_by_name))
           ) AS args,
           (SELECT a.name FROM fz_arg a WHERE a.oid = f.oid AND a.pos = cs.pos) AS argname
      FROM fn f JOIN cases cs USING (oid))
SELECT row_number() OVER (ORDER BY r.prokind = 'p', r.proname, r.sig, r.pos, r.rows, r.expr) AS id,
       CASE WHEN r.public THEN 'analyst' ELSE 'owner' END AS role,
       CASE WHEN r.prokind = 'p' THEN 'call' ELSE 'select' END AS kind,
       r.sig,
       coalesce(r.argname, '-') || CASE r.rows WHEN 'row5' THEN ' (row 5)' WHEN 'zero' THEN ' (0 rows)' ELSE '' END,
       coalesce(left(regexp_replace(r.expr, '\s+', ' ', 'g'), 60), 'defaults'),
       CASE r.prokind
            WHEN 'p' THEN format('CALL seg_reco.%I(%s)', r.proname, coalesce(r.args, ''))
            WHEN 'a' THEN format('SELECT length(seg_reco.%I(%s)::text) FROM generate_series(1, %s) g',
                                 r.proname, r.args, CASE r.rows WHEN 'zero' THEN 0 ELSE 10 END)
            ELSE format('SELECT count(*), sum(length((f)::text)) FROM seg_reco.%I(%s) f',
                        r.proname, coalesce(r.args, '')) END
  FROM rendered r
 ORDER BY 1;
