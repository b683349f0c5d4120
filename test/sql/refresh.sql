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
REFRESH MATERIALIZED VIEW seg_reco.recommendations;
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
