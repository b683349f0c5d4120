-- The A/B section of the analyst report (read by scripts/report.sql): the
-- past coffee campaign planted by seg_reco.generate_demo_campaign, analysed
-- with ab_results and ab_roi, against the truth it planted.
\echo
\echo '== A/B test: the demo coffee campaign (seg_reco.ab_results, ab_roi) ======='
SELECT EXISTS (SELECT 1 FROM seg_reco.demo_campaign_truth) AS ab_has_campaign \gset
\if :ab_has_campaign
SELECT e.experiment, e.status, e.starts_at::date AS first_day, (e.ends_at - interval '1 day')::date AS last_day,
       count(*) FILTER (WHERE a.arm = 'control') AS control,
       count(*) FILTER (WHERE a.arm = 'treatment') AS treatment,
       cardinality(e.promoted_products) AS promoted_products
  FROM seg_reco.ab_experiments e JOIN seg_reco.ab_assignments a USING (experiment)
 WHERE e.experiment IN (SELECT experiment FROM seg_reco.demo_campaign_truth)
 GROUP BY e.experiment;

-- the planted effect on the treated (demo_campaign_truth) against each estimate
WITH exp AS (
    SELECT DISTINCT experiment FROM seg_reco.demo_campaign_truth
), truth AS (
    SELECT avg(planted_revenue)::float8 AS revenue,
           avg((responded AND NOT organic_purchase)::int)::float8 AS conversion,
           avg((responded AND NOT organic_promoted)::int)::float8 AS promoted_conversion
      FROM seg_reco.demo_campaign_truth WHERE arm = 'treatment'
), runs AS (
    SELECT * FROM (VALUES (1, 'conversion', '{}'::jsonb), (2, 'promoted_conversion', '{}'),
                          (3, 'revenue', '{}'), (4, 'revenue', '{"cuped": true, "pre_days": 365}'),
                          (5, 'revenue', '{"method": "bootstrap", "resamples": 2000, "seed": 1}'),
                          (6, 'basket_size', '{}')) v(o, metric, options)
), res AS (
    SELECT r.o, r.metric, x.*
      FROM exp, runs r, LATERAL seg_reco.ab_results(exp.experiment, r.metric, options => r.options) x
)
SELECT r.metric, t.method,
       round(c.mean::numeric, 3) AS control, round(t.mean::numeric, 3) AS treatment,
       round(t.difference::numeric, 3) AS difference,
       '[' || round(t.ci_low::numeric, 3) || ', ' || round(t.ci_high::numeric, 3) || ']' AS "95% interval",
       round(100 * t.relative_uplift::numeric, 1) AS "uplift %",
       CASE WHEN t.p_value < 1e-4 THEN '< 0.0001' ELSE round(t.p_value::numeric, 4)::text END AS p_value,
       round(CASE r.metric WHEN 'revenue' THEN tr.revenue WHEN 'conversion' THEN tr.conversion
                           WHEN 'promoted_conversion' THEN tr.promoted_conversion END::numeric, 3) AS planted,
       CASE WHEN r.metric = 'basket_size' THEN '-'
            WHEN CASE r.metric WHEN 'revenue' THEN tr.revenue WHEN 'conversion' THEN tr.conversion
                               ELSE tr.promoted_conversion END BETWEEN t.ci_low AND t.ci_high THEN 'yes'
            ELSE 'NO' END AS "planted in interval",
       round(100 * t.variance_reduction::numeric, 1) AS "CUPED variance cut %"
  FROM truth tr, res t JOIN res c ON c.o = t.o AND c.is_control, runs r
 WHERE NOT t.is_control AND r.o = t.o
 ORDER BY t.o;

\echo 'planted: the effect put into the data on the treated customers (revenue: NOK'
\echo 'per treated customer; conversions: the share of treated customers who bought'
\echo 'only because of the campaign).  basket_size is NOK per receipt of the'
\echo 'customers who bought: the extra coffee receipts are small, so it falls (it is'
\echo 'conditional on buying; read it with conversion).  CUPED uses each customer''s'
\echo 'spend in the 365 days before; the demo''s spend barely persists from one period'
\echo 'to the next, so it cuts little variance here.'
SELECT a.arm, a.assigned, round(100 * a.observed_share::numeric, 2) AS "observed %",
       round(100 * a.planned_share::numeric, 2) AS "planned %", round(a.srm_chi2::numeric, 3) AS chi2,
       round(a.srm_p_value::numeric, 4) AS "sample-ratio p"
  FROM (SELECT DISTINCT experiment FROM seg_reco.demo_campaign_truth) e,
       LATERAL seg_reco.ab_results(e.experiment, 'conversion') a;

\echo
\echo 'ROI at 5 NOK per contact, on revenue (margin 1) and on a 25% gross margin:'
SELECT m.margin, o.contacts, round(o.incremental_revenue::numeric) AS incremental_revenue_nok,
       '[' || round(o.incremental_revenue_low::numeric) || ', ' || round(o.incremental_revenue_high::numeric) || ']' AS "95% interval",
       round(o.cost::numeric) AS cost_nok, round(o.net_value::numeric) AS net_nok,
       '[' || round(o.net_value_low::numeric) || ', ' || round(o.net_value_high::numeric) || ']' AS "net 95% interval",
       round(o.roi::numeric, 2) AS roi,
       (SELECT round(sum(planted_revenue)) FROM seg_reco.demo_campaign_truth) AS planted_revenue_nok
  FROM (SELECT DISTINCT experiment FROM seg_reco.demo_campaign_truth) e,
       (VALUES (1.0::float8), (0.25)) m(margin),
       LATERAL seg_reco.ab_roi(e.experiment, 5, m.margin) o;

\echo
\echo 'Planning the next campaign at these sizes (two-sided alpha 0.05, power 0.8):'
SELECT round(seg_reco.ab_mde('proportion', c.mean, c.n, t.n)::numeric, 4) AS conversion_mde,
       round(seg_reco.ab_mde('mean', NULL, c.n, t.n, sd => c.sd)::numeric, 1) AS revenue_mde_nok,
       (seg_reco.ab_sample_size('mean', NULL, 20, sd => c.sd)).n_control AS per_arm_for_20_nok,
       (seg_reco.ab_sample_size('proportion', 0.5, 0.02)).n_control AS per_arm_for_2_points_at_50pct
  FROM (SELECT DISTINCT experiment FROM seg_reco.demo_campaign_truth) e,
       LATERAL (SELECT * FROM seg_reco.ab_results(e.experiment, 'conversion') WHERE is_control) cc,
       LATERAL (SELECT n, mean, sd FROM seg_reco.ab_results(e.experiment, 'revenue') WHERE is_control) c0,
       LATERAL (SELECT cc.n, cc.mean, c0.sd) c,
       LATERAL (SELECT n FROM seg_reco.ab_results(e.experiment, 'revenue') WHERE arm = 'treatment') t;
\else
\echo 'No demo campaign in this database (SELECT * FROM seg_reco.generate_demo_campaign() plants one).'
\endif
