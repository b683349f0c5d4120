-- The analyst report printed by scripts/demo.sh (psql, database seg_reco).
\pset footer off
\pset null '-'
\echo
\echo '== Data =================================================================='
SELECT 'customers' AS relation, count(*) AS rows, NULL::date AS first_day, NULL::date AS last_day
  FROM seg_reco.customers
UNION ALL
SELECT 'products', count(*), NULL, NULL FROM seg_reco.products
UNION ALL
SELECT 'transactions', count(*), min(ts)::date, max(ts)::date FROM seg_reco.transactions
UNION ALL
SELECT 'digital_events', count(*), min(ts)::date, max(ts)::date FROM seg_reco.digital_events;

SELECT count(DISTINCT receipt_id) AS receipts,
       round(sum(amount)) AS revenue_nok,
       round(avg(amount), 2) AS mean_line_nok,
       round(100.0 * avg((amount < 0)::int), 2) AS return_line_pct,
       round(100.0 * avg((channel = 'online')::int), 1) AS online_line_pct
  FROM seg_reco.transactions;

\echo
\echo '== RFM segments (seg_reco.segment_summary) ==============================='
SELECT segment, customers, share_pct AS "share %", round(revenue) AS revenue_nok,
       revenue_share_pct AS "revenue %", mean_recency_days AS "recency d",
       mean_frequency AS frequency, round(mean_monetary) AS monetary_nok,
       mean_r AS r, mean_f AS f, mean_m AS m
  FROM seg_reco.segment_summary
 ORDER BY revenue DESC NULLS LAST;

\echo
\echo '== Planted behaviour recovered (seg_reco.demo_truth against the segments) ='
SELECT d.shopper_type, count(*) AS customers,
       round(avg(s.frequency), 1) AS receipts,
       round(avg(s.monetary / nullif(s.frequency, 0)), 0) AS nok_per_receipt,
       round(avg(s.recency_days), 0) AS recency_d,
       mode() WITHIN GROUP (ORDER BY s.segment) AS typical_segment
  FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
 GROUP BY d.shopper_type ORDER BY receipts DESC;

SELECT CASE WHEN d.at_risk THEN 'planted at-risk (last purchase 90+ d ago)'
            WHEN d.churned_on IS NOT NULL THEN 'planted churner'
            WHEN d.joined_late THEN 'planted newcomer'
            ELSE 'other customers' END AS planted_group,
       count(*) AS customers,
       round(100.0 * avg((s.r_score <= 2)::int), 1) AS "R score 1-2 %",
       round(100.0 * avg((s.segment IN ('At Risk', 'Can''t Lose Them', 'Hibernating', 'Lost', 'About to Sleep'))::int), 1) AS "lapsing segment %",
       round(100.0 * avg((s.segment IN ('New Customers', 'Promising', 'Potential Loyalists'))::int), 1) AS "new/promising %"
  FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
 GROUP BY 1 ORDER BY 1;

\echo
\echo '== Last refresh (seg_reco.refresh_log) ===================================='
SELECT step, row_count AS rows, duration_ms AS ms
  FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
 ORDER BY started_at;
