-- Cohorts and campaign targeting on the full demo data (issue 14): the
-- objects and their markings, the planted life cycle seen in the cohort
-- view, and the README's win-back campaign.
BEGIN;
SELECT plan(22);

SET LOCAL TimeZone = 'Europe/Oslo';

-- objects and markings
SELECT has_function('seg_reco', 'cohort_retention', ARRAY['text', 'date', 'text', 'date']);
SELECT volatility_is('seg_reco', 'cohort_retention', ARRAY['text', 'date', 'text', 'date'], 'stable');
SELECT volatility_is('seg_reco', 'campaign_targets', ARRAY['jsonb'], 'stable');
SELECT volatility_is('seg_reco', 'record_contacts', ARRAY['seg_reco.campaign_target[]', 'timestamp with time zone'], 'volatile');
SELECT is((SELECT array_agg(p.proname::text || ':' || p.proparallel::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'seg_reco'::regnamespace
              AND p.proname IN ('cohort_retention', 'campaign_targets', 'record_contacts')),
          ARRAY['campaign_targets:r', 'cohort_retention:s', 'record_contacts:u'],
          'cohort_retention is parallel safe, campaign_targets restricted (it may read a temporary table), record_contacts unsafe (it writes)');
SELECT ok(NOT has_function_privilege('public', 'seg_reco.record_contacts(seg_reco.campaign_target[], timestamptz)', 'EXECUTE'),
          'record_contacts is not executable by PUBLIC');
SELECT ok((SELECT 'seg_reco.contact_history'::regclass = ANY (e.extconfig) FROM pg_extension e WHERE e.extname = 'seg_reco'),
          'the contact history is dumped');
SELECT col_is_pk('seg_reco', 'contact_history', ARRAY['campaign', 'customer_id', 'contacted_at'],
                 'one row per campaign, customer and time');
SELECT col_is_pk('seg_reco', 'cohort_cells', ARRAY['cohort', 'month'], 'cohorts: one cell per cohort and month (the primary key of cohort_cells)');

-- the cohort view: every buyer in exactly one cohort, every month listed
SELECT is((SELECT sum(cohort_size) FROM seg_reco.cohorts WHERE period_number = 0),
          (SELECT count(DISTINCT customer_id) FROM seg_reco.transactions WHERE amount > 0)::numeric,
          'every buying customer is in one cohort');
SELECT is((SELECT count(*) FROM seg_reco.cohorts),
          (SELECT sum(25 - extract(month FROM cohort) - 12 * (extract(year FROM cohort) - 2024))::bigint
             FROM (SELECT DISTINCT cohort FROM seg_reco.cohorts) c),
          'every month from the cohort''s first to December 2025 is listed');
SELECT is((SELECT sum(revenue) FROM seg_reco.cohorts),
          (SELECT sum(t.amount) FROM seg_reco.transactions t
             JOIN (SELECT customer_id, date_trunc('month', min(ts)) AS first_month FROM seg_reco.transactions
                    WHERE amount > 0 GROUP BY customer_id) f USING (customer_id)
            WHERE date_trunc('month', t.ts) >= f.first_month),
          'revenue adds up');

-- the planted life cycle (src/demo/demo.c)
SELECT is((SELECT sum(cohort_size) FILTER (WHERE period_number = 0 AND cohort < '2025-07-01')
             FROM seg_reco.cohort_retention(split_by => 'demo_truth.joined_late') WHERE split_value = 'true'),
          NULL::numeric, 'late joiners are in no cohort before July 2025');
SELECT ok((SELECT sum(cohort_size) FILTER (WHERE split_value = 'true')::float8 / sum(cohort_size) > 0.85
             FROM seg_reco.cohort_retention(split_by => 'demo_truth.joined_late')
            WHERE period_number = 0 AND cohort >= '2025-07-01'),
          'late joiners make up most of the cohorts from July 2025');
SELECT is((SELECT coalesce(sum(active_customers), 0) FROM seg_reco.cohort_retention(split_by => 'churned_on')
            WHERE split_value IS NOT NULL AND period_start > date_trunc('month', split_value::date)),
          0::numeric, 'churners buy in no month after their churn month');
SELECT ok((SELECT sum(active_customers) FILTER (WHERE period_start = date_trunc('month', split_value::date) - interval '1 month')
                > 0.4 * sum(cohort_size) FILTER (WHERE period_number = 0)
             FROM seg_reco.cohort_retention(split_by => 'churned_on') WHERE split_value IS NOT NULL),
          'churners were buying up to their churn: over 40% of them in the month before it');
SELECT is((SELECT sum(active_customers) FROM seg_reco.cohort_retention(split_by => 'demo_truth.at_risk')
            WHERE split_value = 'true' AND period_start >= '2025-11-01'),
          0::numeric, 'planted at-risk customers buy nothing in November and December 2025');
SELECT is((SELECT period_start FROM seg_reco.cohorts WHERE cohort = '2024-01-01' AND period_number > 0
            ORDER BY revenue_per_member DESC LIMIT 1),
          '2024-12-01'::date, 'December 2024 is the first cohort''s best month per member (Christmas)');

-- the README's win-back campaign
CREATE TEMP TABLE winback ON COMMIT DROP AS
SELECT * FROM seg_reco.campaign_targets('{"campaign": "winback-2026-01", "at_risk": true, "min_clv": 300,
    "control_share": 0.1, "budget_customers": 100, "exclude_contacted_days": 30}');
SELECT is((SELECT count(*) FROM winback WHERE NOT control), 100::bigint, 'the budget of 100 contacts is used');
SELECT ok((SELECT bool_and(w.at_risk AND s.at_risk AND s.clv_12m >= 300 AND c.email_opt_in)
             FROM winback w JOIN seg_reco.customer_segments s USING (customer_id)
             JOIN seg_reco.customers c USING (customer_id)), 'every target is at risk, worth 300 NOK or more and opted in');
SELECT ok((SELECT bool_and(cardinality(products) = 3 AND cardinality(product_names) = 3) FROM winback WHERE NOT control),
          'every contacted customer gets three products');
SELECT ok((SELECT count(*) FROM winback WHERE control) BETWEEN 5 AND 20, 'about a tenth is held out');

SELECT * FROM finish();
ROLLBACK;
