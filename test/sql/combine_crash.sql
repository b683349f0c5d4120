-- The support functions of seg_reco's aggregates called directly, with NULL
-- and hostile states (after tdigest's test/sql/combine_crash.sql): every
-- call ends in a result or a clear ERROR, never a crash or an internal error.
--
-- The aggregates (sql/src/*.sql) and their support functions:
--   rfm, rfm_state_agg, rfm_merge     SFUNC rfm_trans / rfm_combine, COMBINEFUNC rfm_combine,
--                                     FINALFUNC rfm_final; STYPE rfm_state (rfm_state_in/out)
--   btyd_summary (3 and 4 arguments), btyd_summary_state_agg, btyd_summary_merge
--                                     SFUNC btyd_summary_trans / btyd_summary_combine,
--                                     COMBINEFUNC btyd_summary_combine, FINALFUNC
--                                     btyd_summary_final; STYPE btyd_summary_state (in/out)
--   kmeans_train, gmm_train, silhouette, kmeans_select_k, bgnbd_fit, mbgnbd_fit,
--   gammagamma_fit                    STYPE internal: kmeans_trans/final, gmm_trans/final,
--                                     silhouette_trans/final, select_k_trans/final,
--                                     bgnbd_fit_trans, bgnbd_fit_final, mbgnbd_fit_final,
--                                     gammagamma_fit_trans/final
-- No aggregate has a SERIALFUNC or DESERIALFUNC (the states crossing processes
-- are the real types rfm_state and btyd_summary_state; the internal-state
-- aggregates have no COMBINEFUNC, so they never run as partial aggregates).
--
-- Functions taking `internal` cannot be called from SQL: no expression has
-- type internal, not even NULL (NULL::internal is "cannot cast type unknown
-- to internal"), so the internal-state support functions are reached only
-- through their aggregates; those are called below over no rows, NULL rows
-- and hostile arguments, which hands the final functions empty states.
SET TimeZone = 'UTC';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never
\set VERBOSITY terse

-- ---------------------------------------------------------------------------
-- rfm: transition and combine functions outside an aggregate: clear errors
SELECT seg_reco.rfm_trans(NULL, NULL, NULL, NULL);
SELECT seg_reco.rfm_trans(NULL, 1, '2024-01-01', 1);
SELECT seg_reco.rfm_trans('0,0,0,0,-,-:{}', 1, '2024-01-01', 1);
SELECT seg_reco.rfm_combine(NULL, NULL);
SELECT seg_reco.rfm_combine(NULL, '1,0,5,0,0,0:{7}');
SELECT seg_reco.rfm_combine('1,0,5,0,0,0:{7}', NULL);
SELECT seg_reco.rfm_combine('1,0,5,0,0,0:{7}', '1,0,5,0,0,0:{8}');
SELECT seg_reco.rfm_combine('0,0,0,0,-,-:{}', '0,0,0,0,-,-:{}');

-- the final function: NULL (no rows), empty, one-receipt and extreme states
SELECT (seg_reco.rfm_final(NULL)).*;
SELECT (seg_reco.rfm_final('0,0,0,0,-,-:{}')).*;
SELECT (seg_reco.rfm_final('3,1,12.5,0,0,86400000000:{1,2}')).*;
SELECT (seg_reco.rfm_final('9223372036854775807,9223372036854775807,-1e308,0,-,-:{}')).*;
SELECT (seg_reco.rfm_final('9223372036854775807,0,1e308,0,0,9223371331199999999:{-9223372036854775808,9223372036854775807}')).*;
-- fixed defect: a state whose first purchase is before 2000-01-01 (a
-- negative timestamp) could not be read back (rfm_state_in took the leading
-- "-" for the "no purchase" marker "-,-"), so partial states of customers who
-- bought before 2000 could not travel as text
SELECT seg_reco.rfm_state_agg(1, '1999-06-01', 5)::text::seg_reco.rfm_state;
SELECT (seg_reco.rfm_final(seg_reco.rfm_state_agg(1, '1999-06-01', 5)::text::seg_reco.rfm_state)).*;
SELECT (seg_reco.rfm_final('1,0,1,0,-211813488000000000,9223371331199999999:{-9223372036854775808}')).*;
SELECT (seg_reco.rfm_final('1,0,4.9e-324,0,0,0:{0}')).*;

-- the output function on the same states
SELECT seg_reco.rfm_state_out('0,0,0,0,-,-:{}');
SELECT seg_reco.rfm_state_out('9223372036854775807,0,1e308,-1e308,0,9223371331199999999:{-9223372036854775808,9223372036854775807}');

-- hostile text states: each a clear error
SELECT seg_reco.rfm_state_in('');
SELECT ''::seg_reco.rfm_state;
SELECT 'garbage'::seg_reco.rfm_state;
SELECT '1'::seg_reco.rfm_state;
SELECT '1,0'::seg_reco.rfm_state;
SELECT '1,0,5'::seg_reco.rfm_state;
SELECT '1,0,5,0'::seg_reco.rfm_state;
SELECT '1,0,5,0,0'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{7'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{7,'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{,7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,-,-:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{}'::seg_reco.rfm_state;
SELECT '-1,0,5,0,-,-:{}'::seg_reco.rfm_state;
SELECT '1,-1,5,0,-,-:{}'::seg_reco.rfm_state;
SELECT '1,2,5,0,-,-:{}'::seg_reco.rfm_state;
SELECT '99999999999999999999,0,5,0,-,-:{}'::seg_reco.rfm_state;
SELECT '1,0,NaN,0,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,NaN,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,Infinity,0,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,-Infinity,0,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,1e309,0,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,9,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,9223372036854775807,9223372036854775807:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,-9223372036854775808,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,9223372036854775808:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,-211813488000000001,0:{7}'::seg_reco.rfm_state;
SELECT '2,0,5,0,0,0:{8,7}'::seg_reco.rfm_state;
SELECT '2,0,5,0,0,0:{7,7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{7,8}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{99999999999999999999}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{7}junk'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{7};'::seg_reco.rfm_state;
SELECT '1 ,0,5,0,0,0:{7}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:{x}'::seg_reco.rfm_state;
SELECT '1,0,5,0,0,0:[7]'::seg_reco.rfm_state;
-- defect (minor): rfm_state_in accepts a trailing comma and leading blanks
-- (btyd_summary_state_in refuses the trailing comma):
-- SELECT '1,0,5,0,0,0:{7,}'::seg_reco.rfm_state;
-- SELECT ' 1,0,5,0,0,0:{7}'::seg_reco.rfm_state;
-- 100,000 empty ids (the message would repeat the whole text: only its SQLSTATE)
DO $$
BEGIN
    PERFORM ('100001,0,5,0,0,0:{' || repeat(',', 100000) || '}')::seg_reco.rfm_state;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'rejected with SQLSTATE %', SQLSTATE;
END $$;

-- a long valid state survives the round trip
SELECT length(s::text), (seg_reco.rfm_final(s)).frequency
  FROM (SELECT ('100000,0,5,0,0,0:{' || string_agg(g::text, ',' ORDER BY g) || '}')::seg_reco.rfm_state AS s
          FROM generate_series(1, 100000) g) x;

-- rfm_merge runs rfm_combine as its transition function: NULL/NULL,
-- NULL/state, state/NULL, empty states, equal and overlapping receipts
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES (NULL::seg_reco.rfm_state), (NULL)) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES (NULL::seg_reco.rfm_state), ('2,0,10,0,0,60000000:{7}')) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES ('2,0,10,0,0,60000000:{7}'::seg_reco.rfm_state), (NULL)) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES ('0,0,0,0,-,-:{}'::seg_reco.rfm_state), ('0,0,0,0,-,-:{}')) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES ('0,0,0,0,-,-:{}'::seg_reco.rfm_state), ('2,1,10,0,0,60000000:{7}')) v(s);
SELECT (seg_reco.rfm_merge(s)).*
  FROM (VALUES ('3,0,10,0,0,60000000:{1,2,3}'::seg_reco.rfm_state), ('3,0,10,0,0,60000000:{2,3,4}'),
               ('1,0,1,0,86400000000,86400000000:{0}')) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (SELECT NULL::seg_reco.rfm_state AS s WHERE false) v;
-- extreme but valid states: sums beyond float8 and the largest receipt ids
SELECT (seg_reco.rfm_merge(s)).*
  FROM (VALUES ('1,0,1e308,0,0,0:{9223372036854775807}'::seg_reco.rfm_state),
               ('1,0,-1e308,0,0,0:{-9223372036854775808}')) v(s);
-- fixed defects: merged amounts beyond float8 gave monetary NaN, and line
-- counts that overflow int64 wrapped around to negative numbers
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES ('1,0,1e19,0,0,0:{1}'::seg_reco.rfm_state), ('1,0,1e19,0,0,0:{2}')) v(s);
SELECT (seg_reco.rfm_merge(s)).* FROM (VALUES ('9223372036854775807,0,1,0,0,0:{1}'::seg_reco.rfm_state), ('9223372036854775807,0,1,0,0,0:{2}')) v(s);
SELECT (seg_reco.btyd_summary_merge(s)).* FROM (VALUES ('day,8800,9223372036854775807:{8790:1}'::seg_reco.btyd_summary_state), ('day,8800,9223372036854775807:{8791:1}')) v(s);
SELECT (seg_reco.rfm_merge(s)).*
  FROM (VALUES ('1,0,1e308,0,0,0:{1}'::seg_reco.rfm_state), ('1,0,-1e308,0,0,0:{2}')) v(s);

-- the transition function in its aggregate with NULL and hostile lines
SELECT (seg_reco.rfm(r, t, a)).*
  FROM (VALUES (NULL::bigint, NULL::timestamptz, NULL::float8), (1, NULL, 1), (NULL, '2024-01-01', 1)) v(r, t, a);
SELECT (seg_reco.rfm(r, t, a)).*
  FROM (VALUES (9223372036854775807, timestamptz '294276-12-31 23:59:59', 1e308::float8),
               (-9223372036854775808, timestamptz '4714-11-24 00:00:00 BC', 1e308)) v(r, t, a);
SELECT seg_reco.rfm(1, '-infinity', 1);
SELECT seg_reco.rfm(1, '2024-01-01', '-Infinity');

-- ---------------------------------------------------------------------------
-- btyd_summary: transition and combine functions outside an aggregate
SELECT seg_reco.btyd_summary_trans(NULL, NULL, NULL, NULL);
SELECT seg_reco.btyd_summary_trans(NULL, '2024-01-01', 1, '2024-02-01');
SELECT seg_reco.btyd_summary_trans(NULL, NULL, NULL, NULL, NULL);
SELECT seg_reco.btyd_summary_trans('week,8800,0:{}', '2024-01-01', 1, '2024-02-01', 'week');
SELECT seg_reco.btyd_summary_combine(NULL, NULL);
SELECT seg_reco.btyd_summary_combine(NULL, 'week,8800,1:{8790:5}');
SELECT seg_reco.btyd_summary_combine('week,8800,1:{8790:5}', NULL);
SELECT seg_reco.btyd_summary_combine('week,8800,1:{8790:5}', 'week,8800,1:{8791:5}');

-- the final function: NULL, empty, returns only, extreme states
SELECT seg_reco.btyd_summary_final(NULL) IS NULL AS null_state;
SELECT seg_reco.btyd_summary_final('week,8800,0:{}') IS NULL AS empty_state;
SELECT seg_reco.btyd_summary_final('day,8800,2:{8790!-5,8791!-1}') IS NULL AS returns_only;
SELECT (seg_reco.btyd_summary_final('day,8800,3:{8700:5,8750:1e308,8790:1e308}')).*;
SELECT (seg_reco.btyd_summary_final('day,100000000,2:{-2451545:1,100000000:1}')).*;
SELECT (seg_reco.btyd_summary_final('week,-2451545,1:{-2451545:0}')).*;
SELECT (seg_reco.btyd_summary_final('day,8800,9223372036854775807:{8790:5}')).*;
SELECT seg_reco.btyd_summary_state_out('day,100000000,9223372036854775807:{-2451545:-1e308,100000000!1e308}');

-- hostile text states: each a clear error
SELECT seg_reco.btyd_summary_state_in('');
SELECT ''::seg_reco.btyd_summary_state;
SELECT 'garbage'::seg_reco.btyd_summary_state;
SELECT 'week'::seg_reco.btyd_summary_state;
SELECT 'week,'::seg_reco.btyd_summary_state;
SELECT 'week,8800'::seg_reco.btyd_summary_state;
SELECT 'week,8800,'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5,'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5,}'::seg_reco.btyd_summary_state;
SELECT 'WEEK,8800,0:{}'::seg_reco.btyd_summary_state;
SELECT 'month,8800,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,x,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,100000001,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,-2451546,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,2147483647,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,99999999999999999999,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,-1:{}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,-1:{8790:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,0:{8790:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,99999999999999999999:{}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:NaN}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:Infinity}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:-Infinity}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:1e309}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790?5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8801:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,2:{8790:5,8780:1}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,2:{8790:5,8790:1}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{99999999999999999999:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5}x'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{x:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:x}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:[8790:5]'::seg_reco.btyd_summary_state;
DO $$
BEGIN
    PERFORM ('week,8800,1:{' || repeat(',', 100000) || '}')::seg_reco.btyd_summary_state;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'rejected with SQLSTATE %', SQLSTATE;
END $$;
-- fixed defects: a day outside int32 was truncated, not rejected (it read as
-- day 8800, 2024-02-04); a state of a calibration end after year 275,000,
-- which btyd_summary_state_agg writes, was refused by the input function
SELECT 'day,8800,1:{-4294958496:5}'::seg_reco.btyd_summary_state;
SELECT seg_reco.btyd_summary_state_agg('2024-01-01', 1, '5874897-12-31', 'day')::text::seg_reco.btyd_summary_state;

-- btyd_summary_merge runs btyd_summary_combine as its transition function
SELECT (seg_reco.btyd_summary_merge(s)).* FROM (VALUES (NULL::seg_reco.btyd_summary_state), (NULL)) v(s);
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (VALUES (NULL::seg_reco.btyd_summary_state), ('day,8800,2:{8700:5,8790:7}')) v(s);
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (VALUES ('day,8800,2:{8700:5,8790:7}'::seg_reco.btyd_summary_state), (NULL)) v(s);
SELECT seg_reco.btyd_summary_merge(s) IS NULL AS empty
  FROM (VALUES ('week,8800,0:{}'::seg_reco.btyd_summary_state), ('week,8800,0:{}')) v(s);
SELECT seg_reco.btyd_summary_merge(s) IS NULL AS no_rows
  FROM (SELECT NULL::seg_reco.btyd_summary_state AS s WHERE false) v;
-- the same day in both states, returns only on one side
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (VALUES ('day,8800,2:{8700:5,8790!-7}'::seg_reco.btyd_summary_state),
               ('day,8800,2:{8700:1,8790:7}')) v(s);
-- states that do not fit together
SELECT seg_reco.btyd_summary_merge(s)
  FROM (VALUES ('day,8800,1:{8700:5}'::seg_reco.btyd_summary_state), ('week,8800,1:{8700:5}')) v(s);
SELECT seg_reco.btyd_summary_merge(s)
  FROM (VALUES ('day,8800,1:{8700:5}'::seg_reco.btyd_summary_state), ('day,8801,1:{8700:5}')) v(s);
-- extreme but valid states
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (VALUES ('day,100000000,1:{-2451545:1e308}'::seg_reco.btyd_summary_state),
               ('day,100000000,1:{100000000:1e308}')) v(s);

-- the transition function in its aggregate with NULL and hostile lines
SELECT seg_reco.btyd_summary(d, a, '2024-02-01') IS NULL AS null_lines
  FROM (VALUES (NULL::date, NULL::float8), ('2024-01-01', NULL), (NULL, 5)) v(d, a);
SELECT seg_reco.btyd_summary(d, a, c)
  FROM (VALUES ('2024-01-01'::date, 5::float8, NULL::date)) v(d, a, c);
SELECT seg_reco.btyd_summary(d, a, '2024-02-01', u)
  FROM (VALUES ('2024-01-01'::date, 5::float8, NULL::text)) v(d, a, u);
SELECT seg_reco.btyd_summary(d, a, '2024-02-01', u)
  FROM (VALUES ('2024-01-01'::date, 5::float8, ''::text)) v(d, a, u);
SELECT seg_reco.btyd_summary(d, 5, '5874897-12-31') FROM (VALUES ('4713-01-01 BC'::date)) v(d);
SELECT seg_reco.btyd_summary(d, 5, '2024-02-01') FROM (VALUES ('-infinity'::date)) v(d);
SELECT seg_reco.btyd_summary('2024-01-01', 5, '-infinity');

-- ---------------------------------------------------------------------------
-- partial states of very different sizes combined in a partitionwise
-- parallel aggregate (tdigest's case): one tiny state, one with 50,000 ids
CREATE TABLE combine_states (k int, rs seg_reco.rfm_state, bs seg_reco.btyd_summary_state)
  PARTITION BY LIST (k);
CREATE TABLE combine_states_1 PARTITION OF combine_states FOR VALUES IN (1);
CREATE TABLE combine_states_2 PARTITION OF combine_states FOR VALUES IN (2);
INSERT INTO combine_states
SELECT 1, seg_reco.rfm_state_agg(7, '2024-01-01', 1), seg_reco.btyd_summary_state_agg('2024-01-01', 1, '2030-01-01', 'day')
  FROM generate_series(1, 2);
INSERT INTO combine_states
SELECT 2, seg_reco.rfm_state_agg(g, timestamptz '2024-01-01' + g * interval '1 minute', 1),
       seg_reco.btyd_summary_state_agg(date '2024-01-01' + (g % 2000), 1, '2030-01-01', 'day')
  FROM generate_series(1, 50000) g;
INSERT INTO combine_states SELECT * FROM combine_states;
INSERT INTO combine_states SELECT * FROM combine_states;
INSERT INTO combine_states SELECT * FROM combine_states;
INSERT INTO combine_states SELECT 1, NULL, NULL;
ANALYZE combine_states;
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT seg_reco.rfm_merge(rs) FROM combine_states;
EXPLAIN (COSTS OFF) SELECT seg_reco.btyd_summary_merge(bs) FROM combine_states;
SELECT (seg_reco.rfm_merge(rs)).* FROM combine_states;
SELECT (seg_reco.btyd_summary_merge(bs)).* FROM combine_states;
SELECT k, (seg_reco.rfm_merge(rs)).frequency FROM combine_states GROUP BY k ORDER BY k;
RESET enable_partitionwise_aggregate;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE combine_states;

-- ---------------------------------------------------------------------------
-- aggregates with internal states: the final function over no rows, over
-- rows that the transition function skips or rejects
SELECT seg_reco.kmeans_train(f, 2) IS NULL AS no_rows FROM (SELECT '{1}'::float8[] WHERE false) v(f);
SELECT seg_reco.kmeans_train(f, 2) FROM (VALUES (NULL::float8[]), (NULL)) v(f);
SELECT seg_reco.kmeans_train(f, k) FROM (VALUES ('{1,2}'::float8[], NULL::int)) v(f, k);
SELECT seg_reco.kmeans_train(f, 2) FROM (VALUES ('{1,2}'::float8[]), ('{1,2,3}')) v(f);
SELECT seg_reco.kmeans_train(f, 2) FROM (VALUES ('{}'::float8[]), ('{}')) v(f);
SELECT seg_reco.kmeans_train(f, 2) FROM (VALUES ('{1,NaN}'::float8[]), ('{1,2}')) v(f);
SELECT seg_reco.kmeans_train(f, 2, o) FROM (VALUES ('{1,2}'::float8[], NULL::jsonb), ('{3,4}', NULL)) v(f, o);
SELECT seg_reco.kmeans_train(f, 2, '{"n_init": 0}') FROM (VALUES ('{1,2}'::float8[]), ('{3,4}')) v(f);
SELECT seg_reco.gmm_train(f, 2) IS NULL AS no_rows FROM (SELECT '{1}'::float8[] WHERE false) v(f);
SELECT seg_reco.gmm_train(f, 2) FROM (VALUES (NULL::float8[]), (NULL)) v(f);
SELECT seg_reco.gmm_train(f, 2) FROM (VALUES ('{1,2}'::float8[]), ('{1,2,3}')) v(f);
SELECT seg_reco.gmm_train(f, 2, '[]') FROM (VALUES ('{1,2}'::float8[]), ('{3,4}')) v(f);
SELECT seg_reco.silhouette(f, c) IS NULL AS no_rows FROM (SELECT '{1}'::float8[], 1 WHERE false) v(f, c);
SELECT seg_reco.silhouette(f, c) FROM (VALUES (NULL::float8[], NULL::int), (NULL, NULL)) v(f, c);
SELECT seg_reco.silhouette(f, c) FROM (VALUES ('{1}'::float8[], 1), ('{2}', 2), ('{1,2}', 1)) v(f, c);
SELECT seg_reco.silhouette(f, c, n, s) FROM (VALUES ('{1}'::float8[], 1, -1, 1::bigint), ('{2}', 2, -1, 1)) v(f, c, n, s);
SELECT seg_reco.kmeans_select_k(f, 2, 3) IS NULL AS no_rows FROM (SELECT '{1}'::float8[] WHERE false) v(f);
SELECT seg_reco.kmeans_select_k(f, 3, 2) FROM (VALUES ('{1}'::float8[]), ('{2}'), ('{3}')) v(f);
SELECT seg_reco.kmeans_select_k(f, 2, 2147483647) FROM (VALUES ('{1}'::float8[]), ('{2}'), ('{3}')) v(f);
SELECT seg_reco.bgnbd_fit(f, r, t) IS NULL AS no_rows FROM (SELECT 1::float8, 1::float8, 1::float8 WHERE false) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (NULL::float8, NULL::float8, NULL::float8)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (1::float8, 5::float8, 2::float8)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t, p) FROM (VALUES (1::float8, 1::float8, 2::float8, 'NaN'::float8)) v(f, r, t, p);
SELECT seg_reco.mbgnbd_fit(f, r, t) IS NULL AS no_rows FROM (SELECT 1::float8, 1::float8, 1::float8 WHERE false) v(f, r, t);
SELECT seg_reco.mbgnbd_fit(f, r, t) FROM (VALUES ('Infinity'::float8, 1::float8, 2::float8)) v(f, r, t);
SELECT seg_reco.gammagamma_fit(f, m) IS NULL AS no_rows FROM (SELECT 1::float8, 1::float8 WHERE false) v(f, m);
SELECT seg_reco.gammagamma_fit(f, m) FROM (VALUES (NULL::float8, NULL::float8), (0, 5), (2, -1)) v(f, m);
SELECT seg_reco.gammagamma_fit(f, m, p) FROM (VALUES (2::float8, 5::float8, -1::float8)) v(f, m, p);
