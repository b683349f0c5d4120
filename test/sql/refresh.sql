-- refresh(): fills the views from the sources (here the rfm test's
-- hand-made customers), logs each step, and can run again concurrently.
SET TimeZone = 'Europe/Oslo';
\set SHOW_CONTEXT never
-- ten buying customers are too few for a purchase model: refresh() warns
-- and goes on (the skip is in refresh_log); the warning itself is not shown
SET client_min_messages = error;
-- right after CREATE EXTENSION the views are empty but populated
SELECT count(*) FROM seg_reco.customer_segments;
CALL seg_reco.refresh();
-- after the run the one-row tables every view joins are analysed: the
-- planner counts one row of each (never analysed, it guessed 637 and took
-- each view for 637 times its customers: 64 million rows at 10x, and JIT)
SELECT c.relname, c.reltuples FROM pg_class c
 WHERE c.oid IN ('seg_reco.refresh_state'::regclass, 'seg_reco.recommendations_active'::regclass)
 ORDER BY c.relname;
CREATE FUNCTION pg_temp.plan_rows(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE e json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO e;
    RETURN (e -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;
SELECT pg_temp.plan_rows('SELECT * FROM seg_reco.customer_features')
       <= 2 * (SELECT count(*) FROM seg_reco.customer_feature_values) AS view_estimated_as_its_customers;
SELECT customer_id, recency_days, frequency, monetary, rfm_code, segment
  FROM seg_reco.customer_segments ORDER BY customer_id;
SELECT segment, customers, share_pct, revenue, revenue_share_pct,
       mean_recency_days, mean_frequency, mean_monetary, mean_r, mean_f, mean_m
  FROM seg_reco.segment_summary WHERE kind = 'rfm' ORDER BY segment;
-- every buying customer is in a cluster; names are unique per cluster
SELECT count(cluster) AS clustered, count(DISTINCT cluster) AS clusters,
       count(DISTINCT cluster_name) AS names, bool_and(gmm_probability BETWEEN 0 AND 1) AS probabilities,
       count(*) FILTER (WHERE frequency > 0 AND cluster IS NULL) AS buyers_without_cluster
  FROM seg_reco.customer_segments;
SELECT count(*) AS cluster_rows, sum(customers) AS customers
  FROM seg_reco.segment_summary WHERE kind = 'cluster';
-- the clusters are what the stored models give each customer: k-means
-- cluster and distance, the most probable mixture component (the first on
-- ties) and its probability; and every name is the one its cluster's
-- profile earns, recomputed here per customer and column
SELECT count(*) AS customers,
       count(*) FILTER (WHERE c.cluster = (a.km).cluster AND c.distance = (a.km).distance) AS same_kmeans,
       count(*) FILTER (WHERE c.gmm_component = a.comp AND c.gmm_probability = a.pmax) AS same_gmm
  FROM seg_reco.customer_clusters c
  JOIN (SELECT f.customer_id,
               seg_reco.kmeans_assign_distance(seg_reco.cluster_feature_vector(f), seg_reco.kmeans_load('customer_kmeans')) AS km,
               (SELECT i FROM unnest(p.p) WITH ORDINALITY u(v, i) ORDER BY v DESC, i LIMIT 1)::integer AS comp,
               (SELECT max(v) FROM unnest(p.p) v) AS pmax
          FROM seg_reco.customer_features f,
               LATERAL (SELECT seg_reco.gmm_proba(seg_reco.cluster_feature_vector(f), seg_reco.gmm_load('customer_gmm')) AS p) p) a
    USING (customer_id);
SELECT cluster, cluster_name, count(*) AS customers, round(avg(distance)::numeric, 6) AS mean_distance,
       round(avg(gmm_probability)::numeric, 6) AS mean_gmm_probability
  FROM seg_reco.customer_clusters GROUP BY cluster, cluster_name ORDER BY cluster;
SELECT name, kind FROM seg_reco.models ORDER BY name;
SELECT run_id, step, row_count, duration_ms >= 0 AS timed, finished_at >= started_at AS ordered,
       detail ? 'skipped' AS skipped
  FROM seg_reco.refresh_log ORDER BY run_id, started_at;

-- a second run picks up new data and is logged as a new run
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (5001, 9501, 11, 1, 1, '2025-02-10 11:00', 1, 45, 45);
CALL seg_reco.refresh();
SELECT customer_id, recency_days, frequency, segment
  FROM seg_reco.customer_segments WHERE customer_id = 11;
SELECT run_id, count(*) AS steps FROM seg_reco.refresh_log GROUP BY run_id ORDER BY run_id;
DELETE FROM seg_reco.transactions WHERE line_id = 5001;

-- refresh inside a failed pipeline leaves the views as they were
BEGIN;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (5002, 9502, 2, 1, 1, '2025-01-20 10:00', 1, 0, 'NaN');
CALL seg_reco.refresh();
ROLLBACK;
SELECT count(*) AS customers, count(*) FILTER (WHERE customer_id = 11 AND frequency = 1) AS c11_bought
  FROM seg_reco.customer_segments;

-- a model trained on earlier data is not served once refresh() cannot
-- train one on the current data: the stale 'default' model is removed, the
-- recommendations view is empty and the log says why (issue 11, defect 3)
BEGIN;
SELECT (seg_reco.als_train('default', factors => 2, iterations => 3)).kind;
SELECT seg_reco.refresh_recommendations() ? 'slot' AS swapped;
SELECT count(*) > 0 AS served_before FROM seg_reco.recommendations;
CALL seg_reco.refresh();
SELECT count(*) AS recommendations_after, (SELECT count(*) FROM seg_reco.models WHERE kind = 'als') AS als_models,
       (SELECT count(*) FROM seg_reco.als_customer_factors) AS factor_rows
  FROM seg_reco.recommendations;
SELECT detail ? 'skipped' AS skipped, detail ->> 'removed_model' AS removed_model,
       (detail ->> 'removed_model_trained_at')::timestamptz <= now() AS removed_trained_at
  FROM seg_reco.refresh_log
 WHERE step = 'als_model' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
ROLLBACK;

-- customer value when the configured purchase model does not fit (issue 11,
-- item 8): the values come from the first model that fits, and the log,
-- customer_value and customer_segments name it.  Spends follow the
-- Gamma-Gamma model (p = 2, q = 4, gamma = 40), drawn from a hash.
CREATE FUNCTION pg_temp.u(bigint) RETURNS float8 LANGUAGE sql IMMUTABLE
RETURN (hashint8($1)::float8 + 2147483648.5) / 4294967296.0;
CREATE FUNCTION pg_temp.spend(c bigint, k integer) RETURNS numeric LANGUAGE sql IMMUTABLE
RETURN round((-(ln(pg_temp.u(c * 100 + k * 10 + 1)) + ln(pg_temp.u(c * 100 + k * 10 + 2)))
              / (-(ln(pg_temp.u(c * 100 + 91)) + ln(pg_temp.u(c * 100 + 92)) + ln(pg_temp.u(c * 100 + 93))
                   + ln(pg_temp.u(c * 100 + 94))) / 40))::numeric, 2);
BEGIN;
DELETE FROM seg_reco.transactions;
INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT 700000 + g, '2023-01-01' FROM generate_series(1, 1200) g;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
VALUES (700001, 'btyd test', 'test', 1);
-- no drop-out after a repeat purchase: 300 customers buying regularly up to
-- the end (0.2-1 times a week, for 20-49 weeks), and 200 who bought once
-- 30-49 weeks before it.  MBG/NBD explains the one-time buyers by drop-out
-- right after the first purchase with a probability of exactly 0 or 1 (a
-- and b run off to 0: no interior optimum); BG/NBD fits.
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT row_number() OVER (ORDER BY c.k, c.d), row_number() OVER (ORDER BY c.k, c.d), 700000 + c.k, 700001, 1,
       c.d + time '12:00', 1, pg_temp.spend(c.k, c.j), pg_temp.spend(c.k, c.j)
  FROM (SELECT k, j, date '2024-12-31' - 7 * (20 + k % 30) + floor(7 * j / (0.2 + ((k * 7919) % 80) / 100.0))::int AS d
          FROM generate_series(1, 300) k,
               generate_series(0, floor((0.2 + ((k * 7919) % 80) / 100.0) * (20 + k % 30))::int) j
        UNION ALL
        SELECT 1000 + g, 0, date '2024-12-31' - 7 * (30 + g % 20) FROM generate_series(1, 200) g) c;
CALL seg_reco.refresh();
SELECT detail ->> 'model' AS model, detail ->> 'configured_model' AS configured_model,
       detail -> 'not_fitted' -> 0 ->> 'model' AS not_fitted, detail -> 'not_fitted' -> 0 ->> 'error' AS why
  FROM seg_reco.refresh_log WHERE step = 'customer_value' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
SELECT model, count(*) AS customers, count(p_alive) AS p_alive, count(clv_12m) AS clv_12m
  FROM seg_reco.customer_value GROUP BY model;
SELECT value_model, count(*) AS customers, count(p_alive) AS p_alive, count(clv_12m) AS clv_12m,
       count(at_risk) AS at_risk
  FROM seg_reco.customer_segments WHERE frequency > 0 GROUP BY value_model;
ROLLBACK;

-- identical buying rates: every customer bought 4 times, the last 10-29
-- weeks after the first.  Neither model has an interior optimum (r and
-- alpha run off to infinity), nor does MBG/NBD with a penalizer; BG/NBD with
-- a purchase penalizer of 0.001 fits (the spend model stays unpenalised).
BEGIN;
DELETE FROM seg_reco.transactions;
INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT 700000 + g, '2023-01-01' FROM generate_series(1, 1000) g;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
VALUES (700001, 'btyd test', 'test', 1);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT 700000 * k + g, 700000 * k + g, 700000 + g, 700001, 1,
       date '2024-07-28' - 210 + CASE k WHEN 0 THEN 0 ELSE (10 + g % 20) * 7 * k / 3 END + time '12:00',
       1, pg_temp.spend(g, k), pg_temp.spend(g, k)
  FROM generate_series(1, 1000) g, generate_series(0, 3) k;
CALL seg_reco.refresh();
SELECT detail ->> 'model' AS model, detail ->> 'penalizer' AS penalizer, detail ->> 'configured_model' AS configured_model,
       jsonb_path_query_array(detail, '$.not_fitted[*].model') AS not_fitted,
       jsonb_path_query_array(detail, '$.not_fitted[*].penalizer') AS not_fitted_penalizer
  FROM seg_reco.refresh_log WHERE step = 'customer_value' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
SELECT value_model, count(*) AS customers, count(p_alive) AS p_alive, count(clv_12m) AS clv_12m
  FROM seg_reco.customer_segments WHERE frequency > 0 GROUP BY value_model;
SELECT name, kind, penalizer, params #>> '{spend,penalizer}' AS spend_penalizer, converged
  FROM seg_reco.btyd_models;
ROLLBACK;

-- progress (issue 12): with seg_reco.progress_messages, a NOTICE at each
-- start and end of a step, inner commands (clusters, als_train,
-- recommend_all) named after the step (times are in DETAIL, not shown
-- here); the ALS step fails inside and goes on.  Each step is logged with
-- the backend's peak resident memory in it.
BEGIN;
SET LOCAL client_min_messages = notice;
SET LOCAL seg_reco.progress_messages = on;
SET LOCAL seg_reco.progress_message_interval = '1h';
\set VERBOSITY terse
CALL seg_reco.refresh();
\set VERBOSITY default
SELECT step, peak_memory_bytes > 0 AS peak_memory
  FROM seg_reco.refresh_log WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
 ORDER BY started_at;
SELECT count(*) AS in_progress FROM seg_reco.progress;
ROLLBACK;
-- recommendations for millions of customers (issue 12): the view reads one
-- of two slot tables, the one seg_reco.recommendations_active names.  A
-- refresh writes the idle slot and swaps the pointer at its commit; called
-- by CALL outside a transaction block, it empties the idle slot with
-- TRUNCATE in short transactions of its own, before the fill and after the
-- swap.  A model small enough for these customers:
INSERT INTO seg_reco.settings VALUES ('als_factors', '2'), ('als_iterations', '3');
SELECT slot AS slot_before, generation AS generation_before FROM seg_reco.recommendations_active \gset
CALL seg_reco.refresh();
-- the pointer moved to the other slot
SELECT slot <> :'slot_before' AS swapped, generation - :generation_before AS swaps, swapped_at <= now() AS swapped_at
  FROM seg_reco.recommendations_active;
-- the view holds exactly what the materialized view held: the lists of
-- pipeline_recommendations()
SELECT count(*) AS rows, count(DISTINCT customer_id) AS customers, min(rank) AS first_rank, max(rank) AS last_rank,
       (SELECT count(*) FROM seg_reco.customers) AS all_customers
  FROM seg_reco.recommendations;
SELECT count(*) AS differences
  FROM ((SELECT * FROM seg_reco.recommendations
         EXCEPT ALL SELECT customer_id, rank, product_id, score, source, sources FROM seg_reco.pipeline_recommendations())
        UNION ALL
        (SELECT customer_id, rank, product_id, score, source, sources FROM seg_reco.pipeline_recommendations()
         EXCEPT ALL SELECT * FROM seg_reco.recommendations)) d;
-- the same columns in the same order as the materialized view had
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'seg_reco.recommendations'::regclass AND attnum > 0 ORDER BY attnum;
-- the served slot holds the lists and is indexed; the retired one was
-- emptied right after the swap, and its indexes dropped (the next fill
-- builds them over its rows)
SELECT (SELECT count(*) FROM seg_reco.recommendations_a) + (SELECT count(*) FROM seg_reco.recommendations_b)
       = (SELECT count(*) FROM seg_reco.recommendations) AS only_served_slot_full;
SELECT CASE c.relname WHEN 'recommendations_' || a.slot THEN 'served' ELSE 'idle' END AS slot,
       pg_relation_size(c.oid) > 0 AS has_rows,
       (SELECT string_agg(replace(pg_get_indexdef(i.indexrelid), c.relname, 'slot'), '; ' ORDER BY i.indisunique DESC)
          FROM pg_index i WHERE i.indrelid = c.oid) AS indexes
  FROM pg_class c, seg_reco.recommendations_active a
 WHERE c.oid IN ('seg_reco.recommendations_a'::regclass, 'seg_reco.recommendations_b'::regclass)
 ORDER BY 1 DESC;
SELECT row_count = (SELECT count(*) FROM seg_reco.recommendations) AS row_count,
       detail ->> 'slot' = (SELECT slot FROM seg_reco.recommendations_active) AS slot,
       detail -> 'before_fill' ->> 'emptied' AS before_fill, detail ->> 'deleted_rows' AS deleted_rows,
       detail ->> 'indexes_built' AS indexes_built, detail -> 'after_swap' ->> 'emptied' AS after_swap
  FROM seg_reco.refresh_log
 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
-- the next refresh swaps back
SELECT slot AS slot_before, generation AS generation_before FROM seg_reco.recommendations_active \gset
CALL seg_reco.refresh();
SELECT slot <> :'slot_before' AS swapped, generation - :generation_before AS swaps FROM seg_reco.recommendations_active;
SELECT detail -> 'before_fill' ->> 'emptied' AS before_fill, detail ->> 'deleted_rows' AS deleted_rows,
       detail ->> 'indexes_built' AS indexes_built, detail -> 'after_swap' ->> 'emptied' AS after_swap
  FROM seg_reco.refresh_log
 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);

-- a fill that fails leaves the old lists served: the whole refresh rolls
-- back, the pointer with it (here the diversity setting cannot be read)
SELECT slot AS slot_before, generation AS generation_before,
       (SELECT md5(string_agg(r::text, ',' ORDER BY r.customer_id, r.rank)) FROM seg_reco.recommendations r) AS lists_before,
       (SELECT max(run_id) FROM seg_reco.refresh_log) AS run_before
  FROM seg_reco.recommendations_active \gset
INSERT INTO seg_reco.settings VALUES ('recommendations_diversity', '"some"');
CALL seg_reco.refresh();
DELETE FROM seg_reco.settings WHERE key = 'recommendations_diversity';
SELECT slot = :'slot_before' AS same_slot, generation = :generation_before AS same_generation,
       (SELECT md5(string_agg(r::text, ',' ORDER BY r.customer_id, r.rank)) FROM seg_reco.recommendations r)
         = :'lists_before' AS same_lists,
       (SELECT max(run_id) FROM seg_reco.refresh_log) = :run_before AS nothing_logged
  FROM seg_reco.recommendations_active;

-- in a transaction block refresh() cannot commit: no TRUNCATE; the fill
-- empties the idle slot with DELETE (here the lists the first refresh of
-- the block retired), in the same transaction
BEGIN;
CALL seg_reco.refresh();
CALL seg_reco.refresh();
SELECT detail -> 'before_fill' ->> 'emptied' AS before_fill, detail -> 'before_fill' ->> 'reason' AS reason,
       (detail ->> 'deleted_rows')::bigint = (SELECT count(*) FROM seg_reco.recommendations) AS deleted_previous_lists,
       detail ? 'after_swap' AS after_swap
  FROM seg_reco.refresh_log
 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
ROLLBACK;

-- recommendations_lock_timeout_ms 0: never TRUNCATE (the retired slot stays
-- full until the next fill deletes its rows); out of range: an error
INSERT INTO seg_reco.settings VALUES ('recommendations_lock_timeout_ms', '0');
CALL seg_reco.refresh();
SELECT detail -> 'after_swap' ->> 'emptied' AS after_swap, detail -> 'after_swap' ->> 'reason' AS reason
  FROM seg_reco.refresh_log
 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
CALL seg_reco.refresh();
SELECT detail -> 'before_fill' ->> 'emptied' AS before_fill,
       (detail ->> 'deleted_rows')::bigint = (SELECT count(*) FROM seg_reco.recommendations) AS deleted_previous_lists
  FROM seg_reco.refresh_log
 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log);
UPDATE seg_reco.settings SET value = '-1' WHERE key = 'recommendations_lock_timeout_ms';
SET client_min_messages = notice;
\set VERBOSITY default
CALL seg_reco.refresh();
SET client_min_messages = error;
DELETE FROM seg_reco.settings WHERE key IN ('recommendations_lock_timeout_ms', 'als_factors', 'als_iterations');

-- incremental refresh (issue 12): every statement that changes the lines
-- or the digital events records the customers it touched (old and new
-- rows), in replica sessions and through COPY too; TRUNCATE asks for a
-- full run
SET client_min_messages = notice;
DELETE FROM seg_reco.dirty_customers;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (6001, 9601, 3, 1, 1, '2025-01-05 10:00', 1, 10, 10), (6002, 9602, NULL, 1, 1, '2025-01-05 10:00', 1, 10, 10);
UPDATE seg_reco.transactions SET customer_id = 4 WHERE line_id = 6001;
DELETE FROM seg_reco.transactions WHERE line_id IN (6001, 6002);
SET session_replication_role = replica;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (6003, 9603, 5, 1, 1, '2025-01-05 10:00', 1, 10, 10);
RESET session_replication_role;
COPY seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount) FROM stdin;
6004	9604	6	1	1	2025-01-05 11:00	1	10	10
\.
INSERT INTO seg_reco.digital_events (event_id, customer_id, event_type, ts, channel)
VALUES (7001, 7, 'view', '2025-01-05 10:00', 'app');
UPDATE seg_reco.transactions SET amount = amount WHERE line_id = 6999;
-- a role that may only write the lines has its changes recorded too
CREATE ROLE seg_reco_test_loader NOLOGIN;
GRANT USAGE ON SCHEMA seg_reco TO seg_reco_test_loader;
GRANT INSERT, DELETE ON seg_reco.transactions TO seg_reco_test_loader;
SET ROLE seg_reco_test_loader;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (6005, 9605, 8, 1, 1, '2025-01-05 12:00', 1, 10, 10);
RESET ROLE;
DELETE FROM seg_reco.transactions WHERE line_id = 6005;
REVOKE ALL ON seg_reco.transactions FROM seg_reco_test_loader;
REVOKE ALL ON SCHEMA seg_reco FROM seg_reco_test_loader;
DROP ROLE seg_reco_test_loader;
-- with the earliest time of inserted lines (since: what lets refresh()
-- merge them into the stored state), none for updates and deletes (the
-- customer is recomputed), infinity for digital events (read again anyway)
SELECT customer_id, count(*) AS marks, min(since) AS earliest_new_line, bool_or(since IS NULL) AS recompute
  FROM seg_reco.dirty_customers GROUP BY customer_id ORDER BY customer_id;
DELETE FROM seg_reco.transactions WHERE line_id IN (6003, 6004);
DELETE FROM seg_reco.digital_events WHERE event_id = 7001;
BEGIN;
TRUNCATE seg_reco.digital_events;
SELECT customer_id, reason FROM seg_reco.dirty_customers WHERE customer_id IS NULL;
SELECT seg_reco._refresh_plan('incremental') ->> 'kind' AS kind, seg_reco._refresh_plan('incremental') ->> 'reason' AS reason;
ROLLBACK;
-- the kind of run is logged; with these ten buying customers no purchase
-- model is fitted, so every run is full (an incremental run keeps the
-- models of the last full run, and needs all of them)
SET client_min_messages = error;
CALL seg_reco.refresh();
SET client_min_messages = notice;
SELECT step, kind, detail ->> 'reason' AS reason, (detail ->> 'customers_recomputed')::int AS recomputed
  FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step IN ('customer_features', 'cohorts')
 ORDER BY started_at;
SELECT count(*) AS marks_left FROM seg_reco.dirty_customers;
-- a full run's cohort months come from the customer state pass (0.2.0:
-- the cohorts step read every line again) and equal the statement over the
-- lines (_cohort_months) row for row, scale of the amounts included: a
-- month with a return only (not bought), one with an amount 0 only, lines
-- of different scales in one month, a month's return beside a purchase
BEGIN;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (6101, 9701, 3, 1, 1, '2024-11-15 10:00', 1, 10, 10),
       (6102, 9702, 4, 1, 1, '2024-10-15 10:00', -1, 10, -10),
       (6103, 9703, 5, 1, 1, '2024-09-15 10:00', 1, 0, 0),
       (6104, 9704, 3, 1, 1, '2024-11-16 10:00', -1, 4, -4.00),
       (6105, 9705, 6, 1, 1, '2024-08-15 10:00', 1, 10, 10.5),
       (6106, 9706, 6, 1, 1, '2024-08-16 10:00', 1, 10, 2.125);
SET client_min_messages = error;
CALL seg_reco.refresh('full');
SET client_min_messages = notice;
SELECT detail ->> 'customer_months_from' AS months_from, (detail ->> 'customer_months')::int AS months,
       (SELECT count(*) FROM seg_reco.cohort_customer_months) AS stored
  FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'cohorts';
CREATE TEMP TABLE months_from_lines AS
SELECT m.customer_id, m.month, m.bought, m.revenue::text AS revenue
  FROM seg_reco._cohort_months((SELECT s.as_of + 1 FROM seg_reco.refresh_state s)::timestamptz) m;
SELECT (SELECT count(*) FROM (SELECT customer_id, month, bought, revenue::text FROM seg_reco.cohort_customer_months
                              EXCEPT ALL TABLE months_from_lines) a) AS only_from_pass,
       (SELECT count(*) FROM (TABLE months_from_lines
                              EXCEPT ALL SELECT customer_id, month, bought, revenue::text FROM seg_reco.cohort_customer_months) b) AS only_from_lines,
       (SELECT count(*) FROM months_from_lines) AS months;
SELECT customer_id, month, bought, revenue FROM seg_reco.cohort_customer_months
 WHERE month < '2025-01-01' ORDER BY customer_id, month;
ROLLBACK;
SELECT count(*) AS state_rows, sum(lines) AS state_lines,
       (SELECT count(*) FROM seg_reco.transactions WHERE customer_id IS NOT NULL) AS member_lines
  FROM seg_reco.customer_state;
SELECT count(*) AS mismatches FROM seg_reco.customer_state_check();
-- changes that escaped the capture (triggers disabled) are found by the
-- check whatever column of a line they changed that the pipeline reads:
-- amount, time, channel, discount (0.2.0: the checksum held the ids only,
-- so these went unseen); quantity is read by no step and changes nothing
BEGIN;
ALTER TABLE seg_reco.transactions DISABLE TRIGGER USER;
CREATE TEMP TABLE check_lines AS
SELECT x.customer_id, (SELECT min(t.line_id) FROM seg_reco.transactions t WHERE t.customer_id = x.customer_id) AS line_id
  FROM (SELECT s.customer_id, row_number() OVER (ORDER BY s.customer_id) AS k FROM seg_reco.customer_state s) x
 WHERE x.k <= 5;
UPDATE seg_reco.transactions SET amount = amount + 0.01 WHERE line_id = (SELECT line_id FROM check_lines ORDER BY customer_id LIMIT 1 OFFSET 0);
UPDATE seg_reco.transactions SET ts = ts + interval '1 second' WHERE line_id = (SELECT line_id FROM check_lines ORDER BY customer_id LIMIT 1 OFFSET 1);
UPDATE seg_reco.transactions SET channel = CASE channel WHEN 'online' THEN 'store' ELSE 'online' END WHERE line_id = (SELECT line_id FROM check_lines ORDER BY customer_id LIMIT 1 OFFSET 2);
UPDATE seg_reco.transactions SET discount = CASE WHEN discount > 0 THEN 0 ELSE 1 END WHERE line_id = (SELECT line_id FROM check_lines ORDER BY customer_id LIMIT 1 OFFSET 3);
UPDATE seg_reco.transactions SET quantity = quantity + 1 WHERE line_id = (SELECT line_id FROM check_lines ORDER BY customer_id LIMIT 1 OFFSET 4);
SELECT c.customer_id, c.stored_lines, c.lines, c.checksum_matches,
       (SELECT k.line_id FROM check_lines k WHERE k.customer_id = c.customer_id) IS NOT NULL AS changed_here
  FROM seg_reco.customer_state_check() c ORDER BY 1;
SELECT count(*) AS changed_customers_found
  FROM seg_reco.customer_state_check() c JOIN check_lines k USING (customer_id);
ROLLBACK;
-- a line's share of the checksum: none for a line without an id or a
-- time; a value (no error) for an infinite time, a NaN amount or no
-- amount.  The same for the same value written otherwise (1.0, the same
-- instant in another zone); another for any other time, amount, discount
-- or channel (NaN, which the pass refuses anyway, hashes as no amount)
SELECT seg_reco._line_checksum(NULL, 1, 1, '2025-01-01', 1.00, false, false) AS no_line_id,
       seg_reco._line_checksum(1, NULL, 1, '2025-01-01', 1.00, false, false) AS no_receipt,
       seg_reco._line_checksum(1, 1, 1, NULL, 1.00, false, false) AS no_time;
SELECT v.line, v.h IS NOT NULL AS has_share,
       v.h = seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 1.00, false, false) AS same_as_ordinary,
       v.h = seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', NULL, false, false) AS same_as_no_amount
  FROM (VALUES ('amount 1.0', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 1.0, false, false)),
               ('01:00+01', seg_reco._line_checksum(1, 1, 1, '2025-01-01 01:00+01', 1.00, false, false)),
               ('infinity', seg_reco._line_checksum(1, 1, 1, 'infinity', 1.00, false, false)),
               ('one second later', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00:01+00', 1.00, false, false)),
               ('amount 1.01', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 1.01, false, false)),
               ('amount NaN', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 'NaN', false, false)),
               ('discounted', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 1.00, true, false)),
               ('online', seg_reco._line_checksum(1, 1, 1, '2025-01-01 00:00+00', 1.00, false, true)),
               ('line 2', seg_reco._line_checksum(2, 1, 1, '2025-01-01 00:00+00', 1.00, false, false))) v(line, h);
SELECT seg_reco._refresh_plan(NULL);
SELECT seg_reco._refresh_plan('full');
-- bad modes and settings
\set VERBOSITY default
CALL seg_reco.refresh('sometimes');
INSERT INTO seg_reco.settings VALUES ('refresh_mode', '"weekly"');
CALL seg_reco.refresh();
UPDATE seg_reco.settings SET value = '1' WHERE key = 'refresh_mode';
CALL seg_reco.refresh();
UPDATE seg_reco.settings SET value = 'null' WHERE key = 'refresh_mode';
CALL seg_reco.refresh();
DELETE FROM seg_reco.settings WHERE key = 'refresh_mode';
INSERT INTO seg_reco.settings VALUES ('full_retrain_days', '-1');
CALL seg_reco.refresh();
UPDATE seg_reco.settings SET value = '2.5' WHERE key = 'full_retrain_days';
CALL seg_reco.refresh();
UPDATE seg_reco.settings SET value = '4000' WHERE key = 'full_retrain_days';
CALL seg_reco.refresh();
UPDATE seg_reco.settings SET value = '"7"' WHERE key = 'full_retrain_days';
CALL seg_reco.refresh('incremental');
-- full_retrain_days 0 is fine: every run in mode auto is full
UPDATE seg_reco.settings SET value = '0' WHERE key = 'full_retrain_days';
SELECT seg_reco._refresh_plan('auto') ->> 'kind' AS kind;
DELETE FROM seg_reco.settings WHERE key = 'full_retrain_days';
\set VERBOSITY terse
SET client_min_messages = error;
