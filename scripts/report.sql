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
\echo '== RFM segments (seg_reco.segment_summary, kind rfm) ======================'
SELECT segment, customers, share_pct AS "share %", round(revenue) AS revenue_nok,
       revenue_share_pct AS "revenue %", mean_recency_days AS "recency d",
       mean_frequency AS frequency, round(mean_monetary) AS monetary_nok,
       mean_p_alive AS p_alive, expected_value_12m AS clv_12m_nok, at_risk_pct AS "at risk %"
  FROM seg_reco.segment_summary WHERE kind = 'rfm'
 ORDER BY revenue DESC NULLS LAST;

\echo
\echo '== Customer clusters (k-means on behaviour; seg_reco.cluster_profiles) ======='
SELECT (SELECT detail ->> 'k' FROM seg_reco.refresh_log
         WHERE step = 'clusters' ORDER BY run_id DESC LIMIT 1) AS k,
       (SELECT detail ->> 'rule' FROM seg_reco.refresh_log
         WHERE step = 'clusters' ORDER BY run_id DESC LIMIT 1) AS chosen_by;
SELECT p.cluster_name, p.customers, p.recency_days AS "recency d", p.frequency,
       p.basket_nok, p.basket_lines, p.weekday_morning_share AS morning,
       p.own_brand_share AS own_brand, p.organic_share AS organic, p.meat_fish_share AS meat_fish,
       p.baby_share AS baby, p.mean_gmm_probability AS gmm_p,
       s.expected_value_12m AS clv_12m_nok, s.at_risk_pct AS "at risk %"
  FROM seg_reco.cluster_profiles p
  JOIN seg_reco.segment_summary s ON s.kind = 'cluster' AND s.segment = p.cluster_name
 ORDER BY p.customers DESC;

\echo
\echo '== Planted behaviour recovered (seg_reco.demo_truth against the results) ==='
WITH typical AS (
    SELECT d.shopper_type, mode() WITHIN GROUP (ORDER BY s.cluster_name) AS cluster_name
      FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
     GROUP BY d.shopper_type)
SELECT d.shopper_type, count(*) AS customers,
       round(avg(s.frequency), 1) AS receipts,
       round(avg(s.monetary / nullif(s.frequency, 0)), 0) AS nok_per_receipt,
       t.cluster_name AS typical_cluster,
       round(100.0 * avg((s.cluster_name = t.cluster_name)::int), 1) AS "in it %"
  FROM seg_reco.demo_truth d
  JOIN seg_reco.customer_segments s USING (customer_id)
  JOIN typical t USING (shopper_type)
 GROUP BY d.shopper_type, t.cluster_name ORDER BY receipts DESC;

SELECT d.taste, count(*) AS customers,
       mode() WITHIN GROUP (ORDER BY s.cluster_name) AS typical_cluster,
       round(avg(f.organic_share)::numeric, 2) AS organic, round(avg(f.own_brand_share)::numeric, 2) AS own_brand,
       round(avg(f.meat_fish_share)::numeric, 2) AS meat_fish, round(avg(f.baby_share)::numeric, 3) AS baby
  FROM seg_reco.demo_truth d
  JOIN seg_reco.customer_segments s USING (customer_id)
  JOIN seg_reco.customer_features f USING (customer_id)
 GROUP BY d.taste ORDER BY customers DESC;

SELECT CASE WHEN d.at_risk THEN 'planted at-risk (last purchase 90-180 d ago)'
            WHEN d.churned_on IS NOT NULL THEN 'planted churner'
            WHEN d.joined_late THEN 'planted newcomer'
            ELSE 'other customers' END AS planted_group,
       count(*) AS customers,
       round(100.0 * avg((s.segment IN ('At Risk', 'Can''t Lose Them', 'Hibernating', 'Lost', 'About to Sleep'))::int), 1) AS "lapsing RFM segment %",
       round(100.0 * avg((s.cluster_name = 'At-Risk')::int), 1) AS "At-Risk cluster %",
       round(avg(s.p_alive)::numeric, 2) AS mean_p_alive,
       round(100.0 * avg(s.at_risk::int), 1) AS "model at-risk %",
       round(avg(s.clv_12m)::numeric, 0) AS mean_clv_12m_nok
  FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
 GROUP BY 1 ORDER BY 1;

\echo
\echo '== Sample recommendations (seg_reco.recommendations, why_recommended) ======='
WITH sample AS (
    SELECT DISTINCT ON (d.taste) d.taste, d.shopper_type, d.customer_id
      FROM seg_reco.demo_truth d
      JOIN seg_reco.customer_segments s USING (customer_id)
     WHERE d.taste IN ('vegetarian', 'baby', 'organic') AND d.churned_on IS NULL AND NOT d.at_risk
       AND s.frequency >= 10
     ORDER BY d.taste, d.customer_id
)
SELECT s.customer_id AS customer, s.taste || ' / ' || s.shopper_type AS planted,
       r.rank, p.name AS product, p.category,
       CASE WHEN EXISTS (SELECT 1 FROM seg_reco.transactions t
                          WHERE t.customer_id = s.customer_id AND t.product_id = r.product_id)
            THEN 're-buy' ELSE 'new' END AS kind,
       round(r.score::numeric, 3) AS score,
       -- the first explanation: the repeat or the neighbours (next-basket
       -- rows, first when the model has a build), else the history product
       -- contributing most to the ALS score
       (SELECT CASE WHEN w.history_product_id IS NULL OR w.history_product_id = r.product_id
                    THEN w.reason
                    ELSE hp.name || ' (' || round(w.contribution::numeric, 3) || ')' END
          FROM seg_reco.why_recommended(s.customer_id, r.product_id, 1) w
          LEFT JOIN seg_reco.products hp ON hp.product_id = w.history_product_id
         ORDER BY w.rank LIMIT 1) AS because_of
  FROM sample s
  JOIN seg_reco.recommendations r ON r.customer_id = s.customer_id AND r.rank <= 4
  JOIN seg_reco.products p ON p.product_id = r.product_id
 ORDER BY s.taste, r.rank;

\echo
\echo '== Recommenders compared (seg_reco.evaluate: last 30 days held out, k = 10) ==='
SELECT recommender, mode, customers,
       round(ndcg_at_k::numeric, 4) AS "NDCG@10", round(precision_at_k::numeric, 4) AS "P@10",
       round(recall_at_k::numeric, 4) AS "R@10", round(map_at_k::numeric, 4) AS "MAP@10",
       round(hit_rate::numeric, 3) AS hit_rate, round(100 * coverage::numeric, 1) AS "coverage %",
       round(diversity::numeric, 3) AS diversity, round(novelty::numeric, 2) AS novelty
  FROM seg_reco.evaluation_runs
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.evaluation_runs WHERE name = 'demo report')
 ORDER BY mode, ndcg_at_k DESC NULLS LAST;

\echo
\echo '== Cold start: what the blend does with little or no history (recommend_for) ='
WITH examples AS (
    (SELECT 'no purchases: ' || coalesce(c.county, '?') || ', tier ' || c.member_tier AS who, c.customer_id
       FROM seg_reco.customers c
       JOIN seg_reco.customer_segments s USING (customer_id)
      WHERE s.frequency = 0 ORDER BY c.customer_id LIMIT 1)
    UNION ALL
    (SELECT 'newcomer, ' || s.frequency || ' receipt(s)', s.customer_id
       FROM seg_reco.customer_segments s JOIN seg_reco.demo_truth d USING (customer_id)
      WHERE d.joined_late AND s.frequency BETWEEN 1 AND 2 ORDER BY s.customer_id LIMIT 1)
    UNION ALL
    SELECT 'unknown customer id', -1
)
SELECT e.who, e.customer_id AS customer, r.rank, p.name AS product, p.category,
       round(r.score::numeric, 3) AS score, array_to_string(r.sources, ', ') AS sources
  FROM examples e
  CROSS JOIN LATERAL seg_reco.recommend_for(e.customer_id, 4) r
  JOIN seg_reco.products p ON p.product_id = r.product_id
 ORDER BY e.who, r.rank;

\echo
\echo '== Cohorts: % of each monthly cohort buying n months after its first (seg_reco.cohorts) =='
SELECT to_char(cohort, 'YYYY-MM') AS cohort, max(cohort_size) AS members,
       round(100 * max(retention) FILTER (WHERE period_number = 1)) AS m1,
       round(100 * max(retention) FILTER (WHERE period_number = 2)) AS m2,
       round(100 * max(retention) FILTER (WHERE period_number = 3)) AS m3,
       round(100 * max(retention) FILTER (WHERE period_number = 6)) AS m6,
       round(100 * max(retention) FILTER (WHERE period_number = 9)) AS m9,
       round(100 * max(retention) FILTER (WHERE period_number = 12)) AS m12,
       round(100 * max(retention) FILTER (WHERE period_number = 18)) AS m18,
       round(max(cumulative_revenue_per_member) FILTER (WHERE period_number = 5)) AS "NOK/member 6m",
       round(max(cumulative_revenue_per_member) FILTER (WHERE period_number = 11)) AS "NOK/member 12m"
  FROM seg_reco.cohorts
 GROUP BY cohort ORDER BY cohort;

\echo
\echo '== Planted life cycle in the cohorts (cohort_retention split by demo_truth) ======'
WITH newcomers AS (
    SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value = 'true') AS late,
           sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value = 'true' AND cohort >= '2025-07-01') AS late_in_late_cohorts,
           sum(cohort_size) FILTER (WHERE period_number = 0 AND cohort >= '2025-07-01') AS late_cohorts
      FROM seg_reco.cohort_retention(split_by => 'demo_truth.joined_late')
), churners AS (
    SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value IS NOT NULL) AS members,
           coalesce(sum(active_customers) FILTER (WHERE split_value IS NOT NULL
                    AND period_start > date_trunc('month', split_value::date)), 0) AS after_churn,
           max(period_start) FILTER (WHERE split_value IS NOT NULL AND active_customers > 0) AS last_month
      FROM seg_reco.cohort_retention(split_by => 'churned_on')
), lapsing AS (
    SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value = 'true') AS members,
           sum(active_customers) FILTER (WHERE split_value = 'true' AND period_start = '2025-06-01') AS june,
           sum(active_customers) FILTER (WHERE split_value = 'true' AND period_start >= '2025-11-01') AS nov_dec
      FROM seg_reco.cohort_retention(split_by => 'demo_truth.at_risk')
), season AS (
    SELECT max(revenue_per_member) FILTER (WHERE period_start = '2024-12-01') AS dec24,
           max(revenue_per_member) FILTER (WHERE period_start = '2025-12-01') AS dec25,
           round(avg(revenue_per_member) FILTER (WHERE extract(month FROM period_start) <> 12 AND period_number > 0), 2) AS other_months
      FROM seg_reco.cohorts WHERE cohort = (SELECT min(cohort) FROM seg_reco.cohorts)
)
SELECT 'newcomers (joined 2025-07..12)' AS planted,
       format('%s customers, all in the cohorts 2025-07..12: %s of their %s members',
              n.late, n.late_in_late_cohorts, n.late_cohorts) AS seen_in_the_cohorts
  FROM newcomers n
UNION ALL
SELECT 'churners (stop at churned_on, by 2025-06-30)',
       format('%s customers: %s buy after their churn month; the last month any of them buys: %s',
              c.members, c.after_churn, to_char(c.last_month, 'YYYY-MM'))
  FROM churners c
UNION ALL
SELECT 'at risk (last purchase 90-180 days before the end)',
       format('%s customers: %s buying in 2025-06, %s in 2025-11..12', l.members, l.june, l.nov_dec)
  FROM lapsing l
UNION ALL
SELECT 'Christmas (first cohort, revenue per member)',
       format('December 2024 %s NOK, December 2025 %s NOK, other months %s NOK on average', s.dec24, s.dec25, s.other_months)
  FROM season s;

\echo
\echo '== Win-back campaign: at-risk customers by expected value (campaign_targets) ====='
\echo '   {"campaign": "winback", "at_risk": true, "min_clv": 300, "control_share": 0.1,'
\echo '    "budget_customers": 100, "exclude_contacted_days": 30}  (email opt-in by default)'
CREATE TEMP TABLE report_winback AS
SELECT * FROM seg_reco.campaign_targets('{"campaign": "winback", "at_risk": true, "min_clv": 300,
    "control_share": 0.1, "budget_customers": 100, "exclude_contacted_days": 30}');
SELECT coalesce(segment, '(all)') AS rfm_segment,
       count(*) FILTER (WHERE NOT control) AS contacted, count(*) FILTER (WHERE control) AS held_out,
       round(sum(expected_value) FILTER (WHERE NOT control)) AS expected_value_nok,
       round(avg(expected_value)) AS mean_clv_nok, round(avg(p_alive)::numeric, 2) AS mean_p_alive
  FROM report_winback
 GROUP BY ROLLUP (segment) ORDER BY segment IS NULL, contacted DESC;
SELECT rank, customer_id AS customer, CASE WHEN control THEN 'control' ELSE 'contact' END AS kind,
       round(expected_value) AS clv_nok, round(p_alive::numeric, 2) AS p_alive, segment,
       array_to_string(product_names, ', ') AS recommended_products
  FROM report_winback ORDER BY rank LIMIT 6;
DROP TABLE report_winback;

\echo
\echo '== Last refresh (seg_reco.refresh_log) ===================================='
-- kind: full (every line read, every model trained) or incremental (the
-- changed customers: their new lines merged, or recomputed from all lines)
SELECT step, kind, row_count AS rows, duration_ms AS ms,
       CASE WHEN step = 'customer_features' AND kind = 'incremental'
            THEN format('%s customers merged (%s new lines read), %s recomputed from all lines',
                        detail ->> 'customers_merged', detail ->> 'lines_merged', detail ->> 'customers_recomputed')
            WHEN step = 'customer_features' THEN coalesce(detail ->> 'reason', '')
       END AS what
  FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
 ORDER BY started_at;

\ir report_ab.sql
