-- The data of the HTML report (scripts/report.sh): one line of JSON per
-- section, {"name": value}, read from seg_reco's views, tables and
-- functions.  A section whose relation is missing or empty gives
-- {"name": null} (the page shows "no data" with what to run); a section
-- whose query fails prints its error on stderr and no line (the page says it
-- could not be read).  Run with psql -X -At (no ON_ERROR_STOP: one failing
-- section must not lose the others).  Histograms and summaries are computed
-- here, so the page carries kilobytes whatever the number of customers.
\set QUIET on
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;

-- what there is to read
SELECT coalesce((SELECT c.relispopulated FROM pg_class c WHERE c.oid = to_regclass('seg_reco.customer_segments')), false)
       AND coalesce((SELECT c.relispopulated FROM pg_class c WHERE c.oid = to_regclass('seg_reco.segment_summary')), false)
           AS have_segments,
       coalesce((SELECT c.relispopulated FROM pg_class c WHERE c.oid = to_regclass('seg_reco.cohorts')), false) AS have_cohorts,
       to_regclass('seg_reco.cluster_profiles') IS NOT NULL AS have_profiles,
       to_regclass('seg_reco.evaluation_runs') IS NOT NULL AS have_evaluation,
       to_regclass('seg_reco.ab_experiments') IS NOT NULL AND to_regclass('seg_reco.demo_campaign_truth') IS NOT NULL
           AND EXISTS (SELECT 1 FROM pg_proc f WHERE f.proname = 'ab_roi'
                                      AND f.pronamespace = to_regnamespace('seg_reco')) AS have_ab,
       to_regclass('seg_reco.refresh_log') IS NOT NULL AS have_refresh_log,
       to_regclass('seg_reco.demo_truth') IS NOT NULL AS have_demo_truth \gset

-- meta: the database, the version, the data's as-of day, the last refresh
SELECT json_build_object('meta', json_build_object(
    'database', current_database(),
    'generated_at', to_char(now(), 'YYYY-MM-DD HH24:MI TZ'),
    'seg_reco_version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'seg_reco'),
    'customers', (SELECT count(*) FROM seg_reco.customers),
    'as_of', CASE WHEN :'have_segments' THEN (SELECT max(s.as_of_date) FROM seg_reco.customer_segments s) END,
    'totals', CASE WHEN :'have_segments' THEN (
        SELECT json_build_object('revenue', round(sum(s.monetary)), 'clv_12m', round(sum(s.clv_12m)::numeric),
                                 'at_risk', count(*) FILTER (WHERE s.at_risk))
          FROM seg_reco.customer_segments s) END,
    'last_refresh', CASE WHEN :'have_refresh_log' THEN (SELECT to_char(max(l.finished_at), 'YYYY-MM-DD HH24:MI TZ')
                                                          FROM seg_reco.refresh_log l) END,
    'demo', CASE WHEN :'have_demo_truth' THEN EXISTS (SELECT 1 FROM seg_reco.demo_truth) ELSE false END));

-- RFM segments and behaviour clusters: size, revenue, value (segment_summary)
\if :have_segments
SELECT json_build_object('segments', (
    SELECT json_agg(json_build_object(
               'segment', s.segment, 'customers', s.customers, 'share_pct', s.share_pct,
               'revenue', round(s.revenue), 'revenue_share_pct', s.revenue_share_pct,
               'recency_days', s.mean_recency_days, 'frequency', s.mean_frequency,
               'monetary', round(s.mean_monetary), 'p_alive', s.mean_p_alive,
               'clv_12m', s.expected_value_12m, 'at_risk_pct', s.at_risk_pct,
               'planted_lapsing', p.n)
           ORDER BY s.revenue DESC NULLS LAST, s.segment)
      FROM seg_reco.segment_summary s
      -- on the demo data: the planted churners and at-risk customers in it
      LEFT JOIN (SELECT c.segment, count(*) AS n
                   FROM seg_reco.customer_segments c JOIN seg_reco.demo_truth d USING (customer_id)
                  WHERE d.at_risk OR d.churned_on IS NOT NULL
                  GROUP BY c.segment) p ON p.segment = s.segment
     WHERE s.kind = 'rfm'));
\else
SELECT json_build_object('segments', NULL);
\endif

\if :have_segments
SELECT json_build_object('clusters', (
    SELECT json_agg(json_build_object(
               'name', p.cluster_name, 'customers', p.customers,
               'revenue_share_pct', s.revenue_share_pct,
               'clv_per_customer', round(s.expected_value_12m / nullif(s.customers, 0)),
               'at_risk_pct', s.at_risk_pct, 'p_alive', s.mean_p_alive,
               'recency_days', p.recency_days, 'frequency', p.frequency, 'basket_nok', p.basket_nok,
               'basket_lines', p.basket_lines, 'weekday_morning_share', p.weekday_morning_share,
               'own_brand_share', p.own_brand_share, 'organic_share', p.organic_share,
               'meat_fish_share', p.meat_fish_share, 'baby_share', p.baby_share)
           ORDER BY p.customers DESC, p.cluster)
      FROM seg_reco.cluster_profiles p
      LEFT JOIN seg_reco.segment_summary s ON s.kind = 'cluster' AND s.segment = p.cluster_name));
\else
SELECT json_build_object('clusters', NULL);
\endif

-- 12-month CLV: a histogram in "nice" NOK bins up to the 99th percentile,
-- the rest in an open last bin; split by the at-risk flag
\if :have_segments
WITH v AS (
    SELECT greatest(s.clv_12m, 0) AS clv, coalesce(s.at_risk, false) AS at_risk
      FROM seg_reco.customer_segments s WHERE s.clv_12m IS NOT NULL AND s.clv_12m <> 'NaN'
), q AS (
    SELECT count(*) AS n, avg(v.clv) AS mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.clv) AS median,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY v.clv) AS p99
      FROM v
), w AS (
    -- bin width: p99 / 25 rounded up to 1, 2 or 5 times a power of ten
    SELECT q.*, e * CASE WHEN r <= 1 THEN 1 WHEN r <= 2 THEN 2 WHEN r <= 5 THEN 5 ELSE 10 END AS width
      FROM q, LATERAL (SELECT greatest(q.p99, 1) / 25 AS w0) a,
           LATERAL (SELECT power(10, floor(log(a.w0))) AS e) b,
           LATERAL (SELECT a.w0 / b.e AS r) c
), b AS (
    SELECT least(floor(v.clv / w.width)::integer, ceil(greatest(w.p99, 1) / w.width)::integer) AS bin,
           count(*) FILTER (WHERE NOT v.at_risk) AS not_at_risk, count(*) FILTER (WHERE v.at_risk) AS at_risk
      FROM v, w GROUP BY 1
)
SELECT json_build_object('clv', CASE WHEN w.n > 0 THEN json_build_object(
           'customers', w.n, 'mean', round(w.mean::numeric), 'median', round(w.median::numeric),
           'p99', round(w.p99::numeric), 'width', w.width,
           'unvalued', (SELECT count(*) FROM seg_reco.customer_segments s WHERE s.clv_12m IS NULL OR s.clv_12m = 'NaN'),
           'bins', (SELECT json_agg(json_build_object(
                               'lo', g.i * w.width,
                               'hi', CASE WHEN g.i < ceil(greatest(w.p99, 1) / w.width) THEN (g.i + 1) * w.width END,
                               'not_at_risk', coalesce(b.not_at_risk, 0), 'at_risk', coalesce(b.at_risk, 0))
                           ORDER BY g.i)
                      FROM generate_series(0, ceil(greatest(w.p99, 1) / w.width)::integer) g(i)
                      LEFT JOIN b ON b.bin = g.i)) END)
  FROM w;
\else
SELECT json_build_object('clv', NULL);
\endif

-- probability alive in 20 bins of 0.05; split by the planted life cycle of
-- the demo data when there is one, else by the at-risk flag
\if :have_segments
SELECT EXISTS (SELECT 1 FROM seg_reco.demo_truth) AS by_truth \gset
WITH v AS (
    SELECT least(floor(s.p_alive * 20)::integer, 19) AS bin,
           CASE WHEN NOT :'by_truth' THEN CASE WHEN s.at_risk THEN 'at risk' ELSE 'not at risk' END
                WHEN d.customer_id IS NULL THEN 'not in demo_truth'
                WHEN d.at_risk THEN 'planted at-risk'
                WHEN d.churned_on IS NOT NULL THEN 'planted churner'
                WHEN d.joined_late THEN 'planted newcomer'
                ELSE 'other customers' END AS grp
      FROM seg_reco.customer_segments s
      LEFT JOIN seg_reco.demo_truth d ON :'by_truth' AND d.customer_id = s.customer_id
     WHERE s.p_alive IS NOT NULL AND s.p_alive <> 'NaN'
), g AS (
    SELECT v.grp, count(*) AS n,
           (SELECT array_agg(coalesce(c.k, 0) ORDER BY i.i)
              FROM generate_series(0, 19) i(i)
              LEFT JOIN (SELECT v2.bin, count(*) AS k FROM v v2 WHERE v2.grp = v.grp GROUP BY v2.bin) c
                     ON c.bin = i.i) AS counts
      FROM v GROUP BY v.grp
)
SELECT json_build_object('p_alive', CASE WHEN count(*) > 0 THEN json_build_object(
           'split', CASE WHEN :'by_truth' THEN 'demo_truth' ELSE 'at_risk' END,
           'customers', sum(g.n),
           'one_time_buyers', (SELECT count(*) FROM seg_reco.customer_segments s
                                WHERE s.frequency = 1 AND s.p_alive IS NOT NULL),
           'groups', json_agg(json_build_object('group', g.grp, 'customers', g.n, 'counts', g.counts)
                              ORDER BY g.grp)) END)
  FROM g;
\else
SELECT json_build_object('p_alive', NULL);
\endif

-- monthly acquisition cohorts (the view refresh() keeps): one array per
-- cell [cohort, period_number, retention, cohort_size, active_customers,
-- revenue_per_member, cumulative_revenue_per_member, complete, period_start]
\if :have_cohorts
SELECT json_build_object('cohorts', (
    SELECT json_agg(json_build_array(to_char(c.cohort, 'YYYY-MM'), c.period_number, round(c.retention::numeric, 4),
                                     c.cohort_size, c.active_customers, c.revenue_per_member,
                                     c.cumulative_revenue_per_member, c.complete,
                                     to_char(c.period_start, 'YYYY-MM'))
                    ORDER BY c.cohort, c.period_number)
      FROM seg_reco.cohorts c));
\else
SELECT json_build_object('cohorts', NULL);
\endif

-- the last recommender comparison (seg_reco.evaluate)
\if :have_evaluation
SELECT json_build_object('evaluation', (
    SELECT json_build_object('run_id', r.run_id, 'name', max(r.name), 'split_date', max(r.split_date),
                             'k', max(r.k), 'rows', json_agg(json_build_object(
                                 'recommender', r.recommender, 'mode', r.mode, 'customers', r.customers,
                                 'ndcg', r.ndcg_at_k, 'precision', r.precision_at_k, 'recall', r.recall_at_k,
                                 'map', r.map_at_k, 'hit_rate', r.hit_rate, 'coverage', r.coverage,
                                 'diversity', r.diversity, 'novelty', r.novelty)
                                 ORDER BY r.mode, r.ndcg_at_k DESC NULLS LAST, r.recommender))
      FROM seg_reco.evaluation_runs r
     WHERE r.run_id = (SELECT max(x.run_id) FROM seg_reco.evaluation_runs x)
     GROUP BY r.run_id));
\else
SELECT json_build_object('evaluation', NULL);
\endif

-- A/B results: the demo campaign when there is one, else the experiment
-- created last that has a window and assigned customers
\if :have_ab
SELECT coalesce((SELECT d.experiment FROM seg_reco.demo_campaign_truth d
                  JOIN seg_reco.ab_experiments e USING (experiment) LIMIT 1),
                (SELECT e.experiment FROM seg_reco.ab_experiments e
                  WHERE e.starts_at IS NOT NULL AND e.ends_at IS NOT NULL AND e.starts_at <= now()
                    AND EXISTS (SELECT 1 FROM seg_reco.ab_assignments a WHERE a.experiment = e.experiment)
                  ORDER BY e.created_at DESC, e.experiment LIMIT 1), '') AS ab_experiment \gset
SELECT :'ab_experiment' <> '' AS have_experiment \gset
\if :have_experiment
WITH e AS (
    SELECT * FROM seg_reco.ab_experiments WHERE experiment = :'ab_experiment'
), truth AS (
    -- the planted effect on the treated, per metric (demo campaign only)
    SELECT avg(t.planted_revenue)::float8 AS revenue,
           avg((t.responded AND NOT t.organic_purchase)::int)::float8 AS conversion,
           avg((t.responded AND NOT t.organic_promoted)::int)::float8 AS promoted_conversion
      FROM seg_reco.demo_campaign_truth t
     WHERE t.experiment = :'ab_experiment' AND t.arm = 'treatment'
    HAVING count(*) > 0
), runs AS (
    SELECT r.* FROM e, (VALUES (1, 'conversion', 'conversion', '{}'::jsonb, 'pp'),
                               (2, 'promoted_conversion', 'bought a promoted product', '{}', 'pp'),
                               (3, 'revenue', 'revenue/customer (Welch)', '{}', 'NOK'),
                               (4, 'revenue', 'revenue/customer (CUPED)', '{"cuped": true, "pre_days": 365}', 'NOK'),
                               (5, 'revenue', 'revenue/customer (bootstrap)', '{"method": "bootstrap", "resamples": 1000, "seed": 1}', 'NOK'),
                               (6, 'basket_size', 'NOK per receipt (buyers)', '{}', 'NOK')) r(o, metric, label, options, unit)
     WHERE r.metric <> 'promoted_conversion' OR coalesce(cardinality(e.promoted_products), 0) > 0
), res AS (
    SELECT r.o, r.metric, r.label, r.unit, x.*
      FROM runs r, LATERAL seg_reco.ab_results(:'ab_experiment', r.metric, options => r.options) x
)
SELECT json_build_object('ab', json_build_object(
    'experiment', e.experiment, 'status', e.status,
    'first_day', e.starts_at::date, 'last_day', (e.ends_at - interval '1 day')::date,
    'arms', (SELECT json_agg(json_build_object('arm', a.arm, 'assigned', a.assigned,
                                               'srm_p_value', a.srm_p_value) ORDER BY a.arm)
               FROM res a WHERE a.o = 1),
    'demo', EXISTS (SELECT 1 FROM truth),
    'results', (SELECT json_agg(json_build_object(
                   'label', t.label, 'unit', t.unit, 'arm', t.arm, 'method', t.method,
                   'control_mean', c.mean, 'mean', t.mean, 'difference', t.difference,
                   'ci_low', t.ci_low, 'ci_high', t.ci_high, 'relative_uplift', t.relative_uplift,
                   'p_value', t.p_value, 'variance_reduction', t.variance_reduction,
                   'planted', CASE t.metric WHEN 'revenue' THEN tr.revenue WHEN 'conversion' THEN tr.conversion
                                            WHEN 'promoted_conversion' THEN tr.promoted_conversion END)
                   ORDER BY t.o, t.arm)
                  FROM res t
                  JOIN res c ON c.o = t.o AND c.is_control
                  LEFT JOIN truth tr ON true
                 WHERE NOT t.is_control AND t.arm <> 'holdout'),
    'roi', (SELECT json_agg(json_build_object('margin', m.margin, 'arm', o.arm, 'contacts', o.contacts,
                                              'incremental_revenue', round(o.incremental_revenue::numeric),
                                              'low', round(o.incremental_revenue_low::numeric),
                                              'high', round(o.incremental_revenue_high::numeric),
                                              'cost', round(o.cost::numeric),
                                              'net', round(o.net_value::numeric),
                                              'net_low', round(o.net_value_low::numeric),
                                              'net_high', round(o.net_value_high::numeric),
                                              'roi', round(o.roi::numeric, 2)) ORDER BY m.margin DESC, o.arm)
              FROM (VALUES (1.0::float8), (0.25)) m(margin),
                   LATERAL seg_reco.ab_roi(:'ab_experiment', 5, m.margin) o),
    'planted_revenue', (SELECT round(sum(t.planted_revenue)) FROM seg_reco.demo_campaign_truth t
                         WHERE t.experiment = :'ab_experiment')))
  FROM e;
\else
SELECT json_build_object('ab', NULL);
\endif
\else
SELECT json_build_object('ab', NULL);
\endif

-- the steps of the last refresh() and the totals of the runs before it
\if :have_refresh_log
SELECT json_build_object('refresh', (
    SELECT json_build_object(
        'run_id', max(l.run_id), 'started_at', to_char(min(l.started_at), 'YYYY-MM-DD HH24:MI:SS TZ'),
        'steps', json_agg(json_build_object('step', l.step, 'seconds', round(l.duration_ms / 1000, 2),
                                            'rows', l.row_count,
                                            'peak_mb', round(l.peak_memory_bytes / 1048576.0))
                          ORDER BY l.started_at),
        'history', (SELECT json_agg(json_build_object('run_id', h.run_id, 'started_at', h.started_at,
                                                      'seconds', h.seconds) ORDER BY h.run_id)
                      FROM (SELECT x.run_id, to_char(min(x.started_at), 'YYYY-MM-DD HH24:MI') AS started_at,
                                   round(sum(x.duration_ms) / 1000, 1) AS seconds
                              FROM seg_reco.refresh_log x GROUP BY x.run_id
                             ORDER BY x.run_id DESC LIMIT 30) h))
      FROM seg_reco.refresh_log l
     WHERE l.run_id = (SELECT max(x.run_id) FROM seg_reco.refresh_log x)
    HAVING count(*) > 0));
\else
SELECT json_build_object('refresh', NULL);
\endif

-- the planted life cycle of the demo data as the cohorts show it (the
-- demo's calendar: newcomers join 2025-07..12, churners stop by 2025-06-30)
\if :have_demo_truth
\if :have_cohorts
SELECT json_build_object('demo_cohorts', CASE WHEN EXISTS (SELECT 1 FROM seg_reco.demo_truth) THEN (
    WITH newcomers AS (
        SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value = 'true') AS late,
               sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value = 'true' AND cohort >= '2025-07-01') AS late_in_late_cohorts,
               sum(cohort_size) FILTER (WHERE period_number = 0 AND cohort >= '2025-07-01') AS late_cohorts
          FROM seg_reco.cohort_retention(split_by => 'demo_truth.joined_late')
    ), churners AS (
        SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND split_value IS NOT NULL) AS members,
               coalesce(sum(active_customers) FILTER (WHERE split_value IS NOT NULL
                        AND period_start > date_trunc('month', split_value::date)), 0) AS after_churn
          FROM seg_reco.cohort_retention(split_by => 'churned_on')
    ), season AS (
        SELECT max(revenue_per_member) FILTER (WHERE period_start = '2024-12-01') AS dec24,
               max(revenue_per_member) FILTER (WHERE period_start = '2025-12-01') AS dec25,
               round(avg(revenue_per_member) FILTER (WHERE extract(month FROM period_start) <> 12 AND period_number > 0), 2) AS other_months
          FROM seg_reco.cohorts WHERE cohort = (SELECT min(cohort) FROM seg_reco.cohorts)
    )
    SELECT json_build_object('newcomers', n.late, 'newcomers_in_late_cohorts', n.late_in_late_cohorts,
                             'late_cohort_members', n.late_cohorts,
                             'churners', c.members, 'churners_buying_after_churn', c.after_churn,
                             'december_2024', s.dec24, 'december_2025', s.dec25, 'other_months', s.other_months)
      FROM newcomers n, churners c, season s) END);
\endif
\endif
