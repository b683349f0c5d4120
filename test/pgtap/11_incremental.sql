-- Incremental refresh (issue 12) on the demo data: after a day of new
-- lines, a late line dated in the past, a corrected line and a deleted
-- one, an incremental run gives what a full run gives wherever the models
-- are the same (features, RFM, BTYD summaries and scores under the same
-- fit, clusters under the same models, cohorts), from the state of the
-- changed customers only, and writes only their rows (features, clusters,
-- RFM values, cohort months, lists in place); every kind of change is
-- captured; what needs a full run gets one.
BEGIN;
SELECT plan(60);
SET LOCAL client_min_messages = warning;

CALL seg_reco.refresh('full');
SELECT is((SELECT array_agg(DISTINCT kind) FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          ARRAY['full'], 'refresh(''full'') runs full and the log says so');
SELECT is((SELECT detail ->> 'customers_recomputed' FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features')::bigint,
          (SELECT count(DISTINCT customer_id) FROM seg_reco.transactions), 'a full run computes the state of every customer with a line');
SELECT is((SELECT count(*) FROM seg_reco.dirty_customers), 0::bigint, 'and consumes every change mark');
SELECT is(seg_reco._refresh_plan(NULL), '{"kind": "incremental", "mode": "auto"}'::jsonb,
          'with every model trained, the next run is incremental');
-- what the full run served, and its ALS model's version
CREATE TEMP TABLE lists_full AS SELECT * FROM seg_reco.recommendations;
CREATE TEMP TABLE als_full AS
SELECT m.model -> 'version' AS version FROM seg_reco.models m WHERE m.name = 'default' AND m.kind = 'als';
CREATE TEMP TABLE clusters_full AS SELECT * FROM seg_reco.customer_clusters;
CREATE TEMP TABLE active_full AS SELECT * FROM seg_reco.recommendations_active;
-- a day of lines (those of the day of the last 90 whose count is nearest
-- the mean per day, moved to the day after the last), a late line, a
-- corrected and a deleted line, digital events
CREATE TEMP TABLE day_pick AS
SELECT x.d, (SELECT max(ts)::date + 1 FROM seg_reco.transactions) - x.d AS shift
  FROM (SELECT t.ts::date AS d, count(*) AS n FROM seg_reco.transactions t
         WHERE t.ts >= (SELECT max(ts)::date - 90 FROM seg_reco.transactions) GROUP BY 1) x
 ORDER BY abs(x.n - (SELECT count(*)::numeric / (max(ts)::date - min(ts)::date + 1) FROM seg_reco.transactions)), x.d
 LIMIT 1;
CREATE TEMP TABLE day_lines AS
SELECT t.line_id + 100000000 AS line_id, t.receipt_id + 100000000 AS receipt_id, t.customer_id, t.product_id,
       t.store_id, t.ts + p.shift * interval '1 day' AS ts, t.quantity, t.unit_price, t.discount, t.amount, t.channel
  FROM seg_reco.transactions t, day_pick p
 WHERE t.ts::date = p.d;
INSERT INTO seg_reco.transactions SELECT * FROM day_lines;
SELECT ok((SELECT count(*) FROM day_lines) BETWEEN 0.001 * (SELECT count(*) FROM seg_reco.transactions)
                                               AND 0.002 * (SELECT count(*) FROM seg_reco.transactions),
          'a day is about 0.14% of the lines');
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
VALUES (900000001, 900000001, 17, 3, 1, (SELECT min(ts) FROM seg_reco.transactions) + interval '40 days', 2, 20, 40);
UPDATE seg_reco.transactions SET amount = amount + 10, product_id = 5
 WHERE line_id = (SELECT min(line_id) FROM seg_reco.transactions WHERE customer_id = 23);
DELETE FROM seg_reco.transactions
 WHERE line_id = (SELECT max(line_id) FROM seg_reco.transactions WHERE customer_id = 42 AND line_id < 100000000);
-- a line dated on the new day added to an old receipt of customer 31 (its
-- receipt counted once: the customer cannot merge, it is recomputed)
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 900000003, r.receipt_id, 31, 3, 1, (SELECT max(ts) FROM day_lines), 1, 15, 15
  FROM (SELECT max(t.receipt_id) AS receipt_id FROM seg_reco.transactions t
         WHERE t.customer_id = 31 AND t.line_id < 100000000) r;
INSERT INTO seg_reco.digital_events (event_id, customer_id, product_id, event_type, ts, channel)
SELECT e.event_id + 100000000, e.customer_id, e.product_id, e.event_type, e.ts + interval '1 day', e.channel
  FROM seg_reco.digital_events e WHERE e.ts >= (SELECT max(ts)::date FROM seg_reco.digital_events);
SELECT ok((SELECT count(DISTINCT customer_id) FROM seg_reco.dirty_customers) >= (SELECT count(DISTINCT customer_id) FROM day_lines),
          'the capture triggers recorded the customers of the new lines');
SELECT ok(EXISTS (SELECT 1 FROM seg_reco.dirty_customers WHERE customer_id = 17)
          AND EXISTS (SELECT 1 FROM seg_reco.dirty_customers WHERE customer_id = 23)
          AND EXISTS (SELECT 1 FROM seg_reco.dirty_customers WHERE customer_id = 42),
          'and those of the late, the corrected and the deleted line');

CALL seg_reco.refresh();
SELECT is((SELECT array_agg(DISTINCT kind) FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          ARRAY['incremental'], 'refresh() in mode auto ran incremental');
SELECT is((SELECT count(*) FROM seg_reco.refresh_log WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          11::bigint, 'with the 11 steps logged');
SELECT ok((SELECT (detail ->> 'customers_recomputed')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features')
          < (SELECT count(*) FROM seg_reco.customers) / 5, 'recomputing the state of the changed customers only');
-- the new lines merged into the stored state: the day's customers but
-- those with a late, corrected, deleted or old-receipt line (recomputed)
SELECT is((SELECT (detail ->> 'lines_merged')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features'),
          (SELECT count(*) FROM day_lines WHERE customer_id IS NOT NULL AND customer_id NOT IN (17, 23, 31, 42)),
          'the day''s lines are merged into the stored state (but those of customers recomputed)');
SELECT ok((SELECT (detail ->> 'customers_merged')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features')
          >= (SELECT count(DISTINCT customer_id) FROM day_lines WHERE customer_id NOT IN (17, 23, 31, 42)),
          'every customer of the day with only new lines is merged');
SELECT is((SELECT array_agg(c.customer_id ORDER BY c.customer_id) FROM pg_temp.seg_reco_changed c
            WHERE c.customer_id IN (17, 23, 31, 42) AND c.merge_after IS NULL),
          ARRAY[17, 23, 31, 42]::bigint[],
          'a late, a corrected, a deleted line and a line in an old receipt: recomputed from all lines');
SELECT is((SELECT (detail ->> 'customers_merged')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'cohorts'),
          (SELECT count(*) FROM pg_temp.seg_reco_changed c WHERE c.merge_after IS NOT NULL),
          'the cohorts step adds the months of the merged customers'' new lines only');
-- the ALS model and the lists: the changed customers folded in and their
-- lists rebuilt; everyone else's lists copied
SELECT is((SELECT (detail #>> '{fold_in,customers}')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'als_model'),
          (SELECT count(*) FROM pg_temp.seg_reco_changed),
          'the changed customers are folded into the ALS model');
SELECT is((SELECT m.model -> 'version' FROM seg_reco.models m WHERE m.name = 'default' AND m.kind = 'als'),
          (SELECT version FROM als_full), 'the fold-in keeps the model''s version (its product factors)');
SELECT is((SELECT detail ->> 'lists' FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'recommendations'),
          'changed customers', 'the lists of the changed customers only are rebuilt');
SELECT is((SELECT count(*) FROM (
             (SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources FROM seg_reco.recommendations r
               WHERE r.customer_id IN (SELECT c.customer_id FROM pg_temp.seg_reco_changed c)
              EXCEPT SELECT p.customer_id, p.rank, p.product_id, p.score, p.source, p.sources
                FROM seg_reco.pipeline_recommendations(ARRAY(SELECT c.customer_id FROM pg_temp.seg_reco_changed c)) p)
             UNION ALL
             (SELECT p.customer_id, p.rank, p.product_id, p.score, p.source, p.sources
                FROM seg_reco.pipeline_recommendations(ARRAY(SELECT c.customer_id FROM pg_temp.seg_reco_changed c)) p
              EXCEPT SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources FROM seg_reco.recommendations r)) x),
          0::bigint, 'their lists are what a full rebuild computes with the folded-in model');
SELECT is((SELECT count(*) FROM (
             (SELECT * FROM seg_reco.recommendations r
               WHERE r.customer_id NOT IN (SELECT c.customer_id FROM pg_temp.seg_reco_changed c)
              EXCEPT SELECT * FROM lists_full)
             UNION ALL
             (SELECT * FROM lists_full l
               WHERE l.customer_id NOT IN (SELECT c.customer_id FROM pg_temp.seg_reco_changed c)
              EXCEPT SELECT * FROM seg_reco.recommendations)) x),
          0::bigint, 'everyone else''s lists are those the full run served');
SELECT ok((SELECT count(*) FROM seg_reco.recommendations r
            WHERE r.customer_id IN (SELECT c.customer_id FROM pg_temp.seg_reco_changed c)) > 0,
          'and the changed customers have lists');
SELECT is((SELECT count(*) FROM (SELECT * FROM seg_reco.customer_features
                                 EXCEPT SELECT * FROM seg_reco.compute_customer_features()) x), 0::bigint,
          'features: every row as compute_customer_features() computes it from the lines');
SELECT is((SELECT count(*) FROM (SELECT * FROM seg_reco.compute_customer_features()
                                 EXCEPT SELECT * FROM seg_reco.customer_features) x), 0::bigint,
          'features: and no row missing');
SELECT is((SELECT count(*) FROM (SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency,
                                        monetary, r_score, f_score, m_score, rfm_code, segment
                                   FROM seg_reco.customer_segments
                                 EXCEPT SELECT * FROM seg_reco.rfm_score()) x), 0::bigint,
          'RFM values, scores and segments as rfm_score() computes them at the new date');
SELECT is((SELECT count(*) FROM seg_reco.customer_segments), (SELECT count(*) FROM seg_reco.rfm_score()),
          'RFM: one row per customer');
SELECT is((SELECT count(*) FROM (
             SELECT * FROM seg_reco._btyd_summaries_from_state((SELECT member_as_of FROM seg_reco.refresh_state), 'week')
             EXCEPT
             SELECT s.cid, (s.v).frequency, (s.v).recency, (s.v).t, (s.v).monetary_value
               FROM (SELECT t.customer_id AS cid,
                            seg_reco.btyd_summary(t.ts::date, t.amount::float8, (SELECT max(ts)::date FROM seg_reco.transactions WHERE customer_id IS NOT NULL), 'week') AS v
                       FROM seg_reco.transactions t WHERE t.customer_id IS NOT NULL GROUP BY 1) s
              WHERE s.v IS NOT NULL) x), 0::bigint,
          'BTYD summaries as btyd_summary() computes them from the lines at the new date');
SELECT is((SELECT count(*) FROM (
             SELECT customer_id, p_alive, expected_purchases_90d, expected_spend, clv_12m, at_risk FROM seg_reco.customer_value
             EXCEPT
             SELECT s.cid, seg_reco.p_alive('customer_btyd', (s.v).frequency, (s.v).recency, (s.v).t),
                    seg_reco.expected_purchases('customer_btyd', (s.v).frequency, (s.v).recency, (s.v).t, 90.0 / 7),
                    seg_reco.expected_spend('customer_btyd', (s.v).frequency, (s.v).monetary_value),
                    seg_reco.clv('customer_btyd', (s.v).frequency, (s.v).recency, (s.v).t, (s.v).monetary_value),
                    (s.v).frequency >= 1 AND seg_reco.p_alive('customer_btyd', (s.v).frequency, (s.v).recency, (s.v).t) < 0.5
               FROM (SELECT t.customer_id AS cid,
                            seg_reco.btyd_summary(t.ts::date, t.amount::float8, (SELECT max(ts)::date FROM seg_reco.transactions WHERE customer_id IS NOT NULL), 'week') AS v
                       FROM seg_reco.transactions t WHERE t.customer_id IS NOT NULL GROUP BY 1) s
              WHERE s.v IS NOT NULL) x), 0::bigint,
          'BTYD scores: the stored fit applied to the summaries of the lines at the new date');
SELECT is((SELECT count(*) FROM (
             SELECT customer_id, cluster, distance FROM seg_reco.customer_clusters
              WHERE customer_id IN (SELECT x.customer_id FROM pg_temp.seg_reco_changed x)
             EXCEPT
             SELECT f.customer_id, (seg_reco.kmeans_assign_distance(seg_reco.cluster_feature_vector(f::seg_reco.customer_features),
                                                                    seg_reco.kmeans_load('customer_kmeans'))).*
               FROM seg_reco.compute_customer_features() f) x), 0::bigint,
          'clusters: the stored k-means model applied to the features of the lines (changed customers)');
SELECT is((SELECT count(*) FROM seg_reco.customer_clusters), (SELECT count(*) FROM seg_reco.customer_features),
          'clusters: every customer with a purchase');
SELECT is((SELECT count(*) FROM (
             (SELECT * FROM seg_reco.customer_clusters c
               WHERE c.customer_id NOT IN (SELECT x.customer_id FROM pg_temp.seg_reco_changed x)
              EXCEPT SELECT * FROM clusters_full)
             UNION ALL
             (SELECT * FROM clusters_full c
               WHERE c.customer_id NOT IN (SELECT x.customer_id FROM pg_temp.seg_reco_changed x)
              EXCEPT SELECT * FROM seg_reco.customer_clusters)) x),
          0::bigint, 'clusters: the unchanged customers keep their assignment and name');
SELECT is((SELECT (detail ->> 'assigned')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'clusters'),
          (SELECT count(*) FROM seg_reco.customer_features f
            WHERE f.customer_id IN (SELECT x.customer_id FROM pg_temp.seg_reco_changed x)),
          'clusters: only the changed customers are assigned');
SELECT is((SELECT count(*) FROM (
             SELECT c.customer_id, c.cluster_name FROM seg_reco.customer_clusters c
             EXCEPT SELECT DISTINCT f.customer_id, n.cluster_name
               FROM seg_reco.customer_clusters f JOIN (SELECT DISTINCT cluster, cluster_name FROM clusters_full) n USING (cluster)) x),
          0::bigint, 'clusters: each cluster keeps its name');
SELECT is((SELECT count(*) FROM seg_reco.customer_feature_values), (SELECT count(*) FROM seg_reco.compute_customer_features()),
          'features: one stored row per customer with a purchase');
SELECT ok((SELECT (detail ->> 'features_written')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features')
          <= (SELECT count(*) FROM pg_temp.seg_reco_changed), 'features: only the changed customers'' rows are written');
SELECT ok((SELECT (detail ->> 'values_written')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_segments')
          <= (SELECT count(*) FROM pg_temp.seg_reco_changed)
          AND (SELECT (detail ->> 'scores_written')::bigint FROM seg_reco.refresh_log
                WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_segments')
              < (SELECT count(*) FROM seg_reco.customers) / 5,
          'RFM: the values of the changed customers and the scores that moved are written');
-- cohorts
SELECT is((SELECT count(*) FROM (
             (SELECT * FROM seg_reco.cohorts
              EXCEPT SELECT cohort, period_number, period_start, complete, cohort_size, active_customers, retention, revenue,
                            revenue_per_member, cumulative_revenue_per_member FROM seg_reco.cohort_retention('month'))
             UNION ALL
             (SELECT cohort, period_number, period_start, complete, cohort_size, active_customers, retention, revenue,
                     revenue_per_member, cumulative_revenue_per_member FROM seg_reco.cohort_retention('month')
              EXCEPT SELECT * FROM seg_reco.cohorts)) x),
          0::bigint, 'cohorts: as cohort_retention(''month'') computes them from the lines');
SELECT is((SELECT count(*) FROM seg_reco.cohorts), (SELECT count(*) FROM seg_reco.cohort_retention('month')),
          'cohorts: every row');
SELECT is((SELECT (detail ->> 'customers')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'cohorts'),
          (SELECT count(*) FROM pg_temp.seg_reco_changed), 'cohorts: the months of the changed customers only are read');
-- the lists: written in place in the served slot
SELECT is((SELECT a.slot || ' ' || a.generation FROM seg_reco.recommendations_active a),
          (SELECT a.slot || ' ' || (a.generation + 1) FROM active_full a),
          'the lists: the served slot is written in place (no swap)');
SELECT is((SELECT (detail ->> 'computed_rows')::bigint FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'recommendations'),
          (SELECT count(*) FROM seg_reco.recommendations r WHERE r.customer_id IN (SELECT c.customer_id FROM pg_temp.seg_reco_changed c)),
          'the lists: only the changed customers'' rows are written');
SELECT is((SELECT count(*) FROM seg_reco.customer_state_check()), 0::bigint,
          'the stored state matches every customer''s lines (count and checksum)');

-- the same as a full run on the same data, where the models do not matter
CREATE TEMP TABLE inc_features AS SELECT * FROM seg_reco.customer_features;
CREATE TEMP TABLE inc_rfm AS
SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency, monetary,
       r_score, f_score, m_score, rfm_code, segment FROM seg_reco.customer_segments;
CREATE TEMP TABLE inc_state AS SELECT * FROM seg_reco.customer_state;
CREATE TEMP TABLE inc_cohorts AS SELECT * FROM seg_reco.cohorts;
CREATE TEMP TABLE inc_cells AS SELECT * FROM seg_reco.cohort_cells;
CALL seg_reco.refresh('full');
SELECT is((SELECT count(*) FROM ((SELECT * FROM seg_reco.customer_state EXCEPT SELECT * FROM inc_state)
                                 UNION ALL (SELECT * FROM inc_state EXCEPT SELECT * FROM seg_reco.customer_state)) x),
          0::bigint, 'a full run computes the same customer state');
SELECT is((SELECT count(*) FROM ((SELECT * FROM seg_reco.customer_features EXCEPT SELECT * FROM inc_features)
                                 UNION ALL (SELECT * FROM inc_features EXCEPT SELECT * FROM seg_reco.customer_features)) x),
          0::bigint, 'and the same features');
SELECT is((SELECT count(*) FROM ((SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency, monetary,
                                         r_score, f_score, m_score, rfm_code, segment FROM seg_reco.customer_segments
                                  EXCEPT SELECT * FROM inc_rfm)
                                 UNION ALL (SELECT * FROM inc_rfm EXCEPT SELECT customer_id, as_of_date, first_purchase, last_purchase,
                                                  recency_days, frequency, monetary, r_score, f_score, m_score, rfm_code, segment
                                              FROM seg_reco.customer_segments)) x),
          0::bigint, 'and the same RFM values, scores and segments');
SELECT is((SELECT count(*) FROM ((SELECT * FROM seg_reco.cohorts EXCEPT SELECT * FROM inc_cohorts)
                                 UNION ALL (SELECT * FROM inc_cohorts EXCEPT SELECT * FROM seg_reco.cohorts)) x),
          0::bigint, 'and the same cohorts');
SELECT is((SELECT count(*) FROM ((SELECT * FROM seg_reco.cohort_cells EXCEPT SELECT * FROM inc_cells)
                                 UNION ALL (SELECT * FROM inc_cells EXCEPT SELECT * FROM seg_reco.cohort_cells)) x),
          0::bigint, 'and the same cohort cells');

-- no change escapes: a direct delete, an update moving a line to another
-- customer, and changed product attributes are recomputed; and two
-- customers' cohorts move (here, after the full run: their lines change
-- the data the BTYD spend model of a full run is fitted on)
-- two customers whose cohort moves: a late line in the first month of
-- the data for the newest buyer, and every line of another one's first
-- month deleted
CREATE TEMP TABLE cohort_movers AS
SELECT 'late' AS what, x.customer_id, x.cohort
  FROM (SELECT customer_id, min(month) FILTER (WHERE bought) AS cohort FROM seg_reco.cohort_customer_months
         GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1 LIMIT 1) x
UNION ALL
SELECT 'deleted', x.customer_id, x.cohort
  FROM (SELECT customer_id, min(month) FILTER (WHERE bought) AS cohort, count(*) FILTER (WHERE bought) AS months
          FROM seg_reco.cohort_customer_months WHERE customer_id BETWEEN 200 AND 300
         GROUP BY 1 HAVING count(*) FILTER (WHERE bought) >= 3 ORDER BY 1 LIMIT 1) x;

INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT 900000002, 900000002, m.customer_id, 3, 1, (SELECT min(ts) FROM seg_reco.transactions) + interval '10 days', 1, 30, 30
  FROM cohort_movers m WHERE m.what = 'late';
DELETE FROM seg_reco.transactions t USING cohort_movers m
 WHERE m.what = 'deleted' AND t.customer_id = m.customer_id AND date_trunc('month', t.ts)::date = m.cohort;
DELETE FROM seg_reco.transactions
 WHERE line_id = (SELECT max(line_id) FROM seg_reco.transactions WHERE customer_id = 101);
UPDATE seg_reco.transactions SET customer_id = 103
 WHERE line_id = (SELECT max(line_id) FROM seg_reco.transactions WHERE customer_id = 102);
UPDATE seg_reco.products SET organic = NOT organic
 WHERE product_id = (SELECT product_id FROM seg_reco.transactions WHERE customer_id = 104 LIMIT 1);
CALL seg_reco.refresh('incremental');
SELECT is((SELECT array_agg(DISTINCT kind) FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          ARRAY['incremental'], 'refresh(''incremental'') ran incremental');
SELECT is((SELECT count(*) FROM ((SELECT * FROM seg_reco.customer_features EXCEPT SELECT * FROM seg_reco.compute_customer_features())
                                 UNION ALL (SELECT * FROM seg_reco.compute_customer_features() EXCEPT SELECT * FROM seg_reco.customer_features)) x),
          0::bigint, 'deleted, moved lines and changed product attributes are in the features');
SELECT ok((SELECT (detail ->> 'changed_products')::int FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features') = 1,
          'the changed product was seen');
SELECT is((SELECT array_agg(m.what ORDER BY m.what) FROM cohort_movers m
            WHERE m.cohort IS DISTINCT FROM (SELECT min(c.month) FILTER (WHERE c.bought) FROM seg_reco.cohort_customer_months c
                                              WHERE c.customer_id = m.customer_id)),
          ARRAY['deleted', 'late'], 'cohorts: a late line and deleted lines moved two customers'' cohort');
SELECT is((SELECT count(*) FROM (
             (SELECT * FROM seg_reco.cohorts
              EXCEPT SELECT cohort, period_number, period_start, complete, cohort_size, active_customers, retention, revenue,
                            revenue_per_member, cumulative_revenue_per_member FROM seg_reco.cohort_retention('month'))
             UNION ALL
             (SELECT cohort, period_number, period_start, complete, cohort_size, active_customers, retention, revenue,
                     revenue_per_member, cumulative_revenue_per_member FROM seg_reco.cohort_retention('month')
              EXCEPT SELECT * FROM seg_reco.cohorts)) x),
          0::bigint, 'cohorts: with moved cohorts, as cohort_retention(''month'') computes them');
SELECT is((SELECT count(*) FROM ((SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency,
                                         monetary, r_score, f_score, m_score, rfm_code, segment FROM seg_reco.customer_segments
                                  EXCEPT SELECT * FROM seg_reco.rfm_score())
                                 UNION ALL (SELECT * FROM seg_reco.rfm_score()
                                  EXCEPT SELECT customer_id, as_of_date, first_purchase, last_purchase, recency_days, frequency,
                                                monetary, r_score, f_score, m_score, rfm_code, segment FROM seg_reco.customer_segments)) x),
          0::bigint, 'RFM: after deleted, moved and late lines, as rfm_score() computes it');

-- what needs a full run gets one
ALTER TABLE seg_reco.transactions DISABLE TRIGGER seg_reco_capture_delete;
SELECT is(seg_reco._refresh_plan(NULL) ->> 'reason',
          'the changes of seg_reco.transactions are not captured (its capture triggers are missing or disabled)',
          'a disabled capture trigger makes the next run full');
ALTER TABLE seg_reco.transactions ENABLE ALWAYS TRIGGER seg_reco_capture_delete;
SET LOCAL TimeZone = 'America/New_York';
SELECT is(seg_reco._refresh_plan('incremental') ->> 'kind', 'full', 'another TimeZone than the state''s makes the next run full');
RESET TimeZone;
SELECT is(seg_reco._refresh_plan('auto') ->> 'kind', 'incremental', 'back to incremental');
INSERT INTO seg_reco.settings (key, value) VALUES ('cluster_k_max', '9');
SELECT is(seg_reco._refresh_plan(NULL) ->> 'reason', 'settings changed since the last full run',
          'a changed setting makes the next run full');
DELETE FROM seg_reco.settings WHERE key = 'cluster_k_max';
UPDATE seg_reco.refresh_state SET last_full_at = now() - interval '7 days';
SELECT is(seg_reco._refresh_plan(NULL) ->> 'reason', 'the last full run is at least 7 days old (full_retrain_days)',
          'in mode auto a full run every full_retrain_days');
SELECT is(seg_reco._refresh_plan('incremental') ->> 'kind', 'incremental', 'but not in mode incremental');
TRUNCATE seg_reco.digital_events;
SELECT is(seg_reco._refresh_plan('incremental') ->> 'reason', 'seg_reco.digital_events was truncated',
          'a TRUNCATE makes the next run full');
SELECT lives_ok('CALL seg_reco.refresh()', 'and it runs');
SELECT is((SELECT array_agg(DISTINCT kind) FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          ARRAY['full'], 'full');

SELECT * FROM finish();
ROLLBACK;
