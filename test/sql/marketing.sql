--
-- marketing: cohorts (cohort_retention, the cohorts view) and campaign
-- targeting (campaign_targets, contact_history, record_contacts) on a small
-- demo data set, whose planted newcomers, churners and at-risk customers
-- (seg_reco.demo_truth, src/demo/demo.c) the cohorts must show as planted.
--
SET extra_float_digits = 0;
SET TimeZone = 'Europe/Oslo';
SET DateStyle = 'ISO, YMD';
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- everything runs in one transaction, rolled back at the end: the tests
-- after this one find the tables as they were (psql rolls back only the
-- failing statement of the error cases)
BEGIN;
\set ON_ERROR_ROLLBACK on

SELECT relation, rows FROM seg_reco.generate_demo_data(customers => 1000, products => 300,
    transactions => 60000, digital_events => 0, seed => 11);
CALL seg_reco.refresh();

-- refresh() fills the monthly cohort view as its last step
SELECT step, row_count FROM seg_reco.refresh_log
 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'cohorts';
SELECT count(*) AS view_rows,
       (SELECT count(*) FROM (TABLE seg_reco.cohorts
                              EXCEPT ALL
                              SELECT cohort, period_number, period_start, complete, cohort_size, active_customers,
                                     retention, revenue, revenue_per_member, cumulative_revenue_per_member
                                FROM seg_reco.cohort_retention('month')) d) AS differing_from_function
  FROM seg_reco.cohorts;

------------------------------------------------------------------------------
-- Cohorts: the figures equal a plain-SQL computation, cohort by cohort and
-- month by month (every month listed, also those nobody bought in)
------------------------------------------------------------------------------
CREATE TEMP TABLE plain_cohorts AS
WITH firsts AS (
    SELECT t.customer_id, date_trunc('month', min(t.ts))::date AS cohort
      FROM seg_reco.transactions t
     WHERE t.customer_id IS NOT NULL AND t.amount > 0
     GROUP BY t.customer_id
), sizes AS (
    SELECT cohort, count(*) AS size FROM firsts GROUP BY cohort
), months AS (
    SELECT s.cohort, s.size, m::date AS month
      FROM sizes s, generate_series(s.cohort, date '2025-12-01', interval '1 month') m
), act AS (
    SELECT f.cohort, date_trunc('month', t.ts)::date AS month,
           count(DISTINCT t.customer_id) FILTER (WHERE t.amount > 0) AS active,
           sum(t.amount) AS revenue
      FROM seg_reco.transactions t JOIN firsts f USING (customer_id)
     GROUP BY 1, 2
)
SELECT m.cohort, m.month, m.size, coalesce(a.active, 0) AS active, coalesce(a.revenue, 0) AS revenue,
       round(sum(coalesce(a.revenue, 0)) OVER (PARTITION BY m.cohort ORDER BY m.month) / m.size, 2) AS cumulative
  FROM months m LEFT JOIN act a ON a.cohort = m.cohort AND a.month = m.month;

SELECT (SELECT count(*) FROM plain_cohorts) AS plain_rows,
       count(*) AS function_rows,
       count(*) FILTER (WHERE (p.size, p.active, p.revenue, round(p.revenue / p.size, 2), p.cumulative)
                              IS DISTINCT FROM (r.cohort_size, r.active_customers, r.revenue,
                                                r.revenue_per_member, r.cumulative_revenue_per_member)) AS differing,
       bool_and(r.retention = r.active_customers::float8 / r.cohort_size) AS retention_is_share,
       bool_and(r.period_start = (r.cohort + make_interval(months => r.period_number))::date) AS period_numbers,
       bool_and(r.complete) AS all_complete,
       (SELECT sum(cohort_size) FROM seg_reco.cohorts WHERE period_number = 0) AS members,
       (SELECT count(DISTINCT customer_id) FROM seg_reco.transactions WHERE amount > 0) AS buyers
  FROM seg_reco.cohort_retention() r
  LEFT JOIN plain_cohorts p ON p.cohort = r.cohort AND p.month = r.period_start;

------------------------------------------------------------------------------
-- Planted behaviour, as src/demo/demo.c plants it
------------------------------------------------------------------------------
-- Newcomers: ~10% joined late (member_since 2025-07-01..12-16, nothing
-- bought before): every one of them forms a cohort from July 2025 on, and
-- they are most of those cohorts
SELECT split_value AS joined_late, min(cohort) AS first_cohort, max(cohort) AS last_cohort,
       sum(cohort_size) FILTER (WHERE period_number = 0) AS members,
       sum(cohort_size) FILTER (WHERE period_number = 0 AND cohort >= '2025-07-01') AS in_cohorts_from_july_2025
  FROM seg_reco.cohort_retention(split_by => 'demo_truth.joined_late')
 GROUP BY split_value ORDER BY split_value;
SELECT count(*) AS planted_newcomers FROM seg_reco.demo_truth WHERE joined_late;
-- the cohort sizes by month: the base (pre-existing members' first purchase
-- in the data) fades out during 2024, joiners of 2024-01..2025-06 trickle
-- in, the late joiners swell the last six cohorts
SELECT cohort, cohort_size FROM seg_reco.cohorts WHERE period_number = 0 ORDER BY cohort;

-- Churners: ~15% churned (demo_truth.churned_on up to 2025-06-30, no
-- purchase on or after it).  Split by churn date, no group buys in any
-- month after its churn month, and nobody of them after June 2025.
WITH r AS (SELECT * FROM seg_reco.cohort_retention(split_by => 'churned_on'))
SELECT count(DISTINCT r.split_value) AS churn_dates,
       (SELECT count(*) FROM seg_reco.demo_truth WHERE churned_on IS NOT NULL) AS planted_churners,
       sum(r.cohort_size) FILTER (WHERE r.split_value IS NOT NULL AND r.period_number = 0) AS churners_in_cohorts,
       coalesce(sum(r.active_customers) FILTER (WHERE r.split_value IS NOT NULL
                AND r.period_start > date_trunc('month', r.split_value::date)), 0) AS buying_after_churn_month,
       sum(r.active_customers) FILTER (WHERE r.split_value IS NOT NULL
                AND r.period_start = date_trunc('month', r.split_value::date)) > 0 AS some_buy_in_churn_month,
       max(r.period_start) FILTER (WHERE r.split_value IS NOT NULL AND r.active_customers > 0) AS last_month_a_churner_bought
  FROM r;
-- the retention of churners and of the rest, all cohorts together, by
-- calendar quarter: the churners' share buying falls to zero by mid-2025
SELECT to_char(period_start, 'YYYY-"Q"Q') AS quarter,
       round(sum(active_customers) FILTER (WHERE split_value IS NOT NULL)::numeric
             / sum(cohort_size) FILTER (WHERE split_value IS NOT NULL), 3) AS churners_buying,
       round(sum(active_customers) FILTER (WHERE split_value IS NULL)::numeric
             / sum(cohort_size) FILTER (WHERE split_value IS NULL), 3) AS others_buying
  FROM seg_reco.cohort_retention(split_by => 'churned_on')
 WHERE period_start IN ('2024-02-01', '2024-05-01', '2024-08-01', '2024-11-01', '2025-02-01',
                        '2025-05-01', '2025-08-01', '2025-11-01')
 GROUP BY 1 ORDER BY 1;

-- At risk: ~8% bought last 90-180 days before 2025-12-31 (so not after
-- 2025-10-02): their share buying runs down to zero from October 2025
SELECT period_start, split_value AS planted_at_risk, sum(cohort_size) AS members,
       sum(active_customers) AS buying
  FROM seg_reco.cohort_retention(split_by => 'demo_truth.at_risk')
 WHERE period_start >= '2025-06-01' AND split_value = 'true'
 GROUP BY 1, 2 ORDER BY 1;

-- Seasonality: Christmas shopping (a visit moved into 19-23 December,
-- Christmas food in 25-55% of December receipts) makes December the month
-- of the highest revenue per member of the first cohort
SELECT period_start, active_customers, round(retention::numeric, 3) AS retention, revenue_per_member
  FROM seg_reco.cohorts
 WHERE cohort = '2024-01-01' AND period_start BETWEEN '2024-10-01' AND '2025-01-01'
 ORDER BY period_start;
SELECT array_agg(period_start ORDER BY revenue_per_member DESC) FILTER (WHERE rk <= 2) AS best_two_months
  FROM (SELECT period_start, revenue_per_member,
               rank() OVER (ORDER BY revenue_per_member DESC) AS rk
          FROM seg_reco.cohorts WHERE cohort = '2024-01-01' AND period_number > 0) x;

------------------------------------------------------------------------------
-- Weeks, as-of windows, since, splits
------------------------------------------------------------------------------
-- weekly cohorts start on Mondays and hold the same customers and revenue
SELECT count(DISTINCT cohort) AS weekly_cohorts,
       bool_and(extract(isodow FROM cohort) = 1 AND extract(isodow FROM period_start) = 1) AS mondays,
       bool_and(period_start = cohort + 7 * period_number) AS week_numbers,
       sum(cohort_size) FILTER (WHERE period_number = 0) AS members,
       sum(revenue) = (SELECT sum(revenue) FROM seg_reco.cohorts) AS same_revenue,
       count(*) FILTER (WHERE NOT complete) AS incomplete_weeks,
       max(period_start) FILTER (WHERE NOT complete) AS incomplete_week
  FROM seg_reco.cohort_retention('week');

-- an as-of window: mid-December 2024.  Nothing after it counts, earlier
-- cohorts keep their members, and December 2024 is not complete yet.
SELECT max(period_start) AS last_period, count(*) FILTER (WHERE NOT complete) AS incomplete_rows,
       bool_and(NOT complete) FILTER (WHERE period_start = '2024-12-01') AS december_incomplete,
       sum(cohort_size) FILTER (WHERE period_number = 0) AS members,
       (SELECT sum(cohort_size) FROM seg_reco.cohorts WHERE period_number = 0 AND cohort <= '2024-12-01') AS same_members_later,
       sum(revenue) = (SELECT sum(amount) FROM seg_reco.transactions
                        WHERE customer_id IS NOT NULL AND ts < '2024-12-16') AS revenue_up_to_as_of
  FROM seg_reco.cohort_retention('month', as_of => '2024-12-15');
-- since: only cohorts from July 2025 (customers who bought earlier are in
-- none of them)
SELECT min(cohort) AS first_cohort, sum(cohort_size) FILTER (WHERE period_number = 0) AS members,
       (SELECT sum(cohort_size) FROM seg_reco.cohorts WHERE period_number = 0 AND cohort >= '2025-07-01') AS expected
  FROM seg_reco.cohort_retention(since => '2025-07-15');

-- splits add up to the whole
SELECT s.split_by, count(DISTINCT r.split_value) AS groups,
       sum(r.cohort_size) FILTER (WHERE r.period_number = 0) AS members,
       sum(r.active_customers) = (SELECT sum(active_customers) FROM seg_reco.cohorts) AS same_activity,
       sum(r.revenue) = (SELECT sum(revenue) FROM seg_reco.cohorts) AS same_revenue
  FROM unnest(ARRAY['channel', 'age_band', 'segment', 'cluster_name', 'member_tier', 'gender',
                    'customer_segments.at_risk', 'shopper_type']) s(split_by)
  CROSS JOIN LATERAL seg_reco.cohort_retention(split_by => s.split_by) r
 GROUP BY s.split_by ORDER BY s.split_by;
SELECT split_value AS first_channel, sum(cohort_size) FILTER (WHERE period_number = 0) AS members
  FROM seg_reco.cohort_retention(split_by => 'channel') GROUP BY 1 ORDER BY 1;
SELECT split_value AS age_band, sum(cohort_size) FILTER (WHERE period_number = 0) AS members
  FROM seg_reco.cohort_retention(split_by => 'age_band') GROUP BY 1 ORDER BY 1;

-- bad input: each a clear error
SELECT * FROM seg_reco.cohort_retention('quarter');
SELECT * FROM seg_reco.cohort_retention(NULL);
SELECT * FROM seg_reco.cohort_retention(split_by => 'shoe_size');
SELECT * FROM seg_reco.cohort_retention(split_by => 'customer_id');
SELECT * FROM seg_reco.cohort_retention(split_by => 'p_alive');
SELECT * FROM seg_reco.cohort_retention(split_by => 'pg_authid.rolname');
SELECT * FROM seg_reco.cohort_retention(split_by => 'customers.segment');
SELECT * FROM seg_reco.cohort_retention(split_by => 'x"; DROP TABLE seg_reco.customers; --');
SELECT * FROM seg_reco.cohort_retention(as_of => '2024-06-30', since => '2024-07-01');
-- no transactions: no cohorts
SAVEPOINT before_delete;
DELETE FROM seg_reco.transactions;
SELECT count(*) AS cohort_rows FROM seg_reco.cohort_retention();
ROLLBACK TO SAVEPOINT before_delete;

------------------------------------------------------------------------------
-- Campaign targeting
------------------------------------------------------------------------------
-- the win-back campaign: at-risk customers (repeat customers the model
-- thinks more likely gone than not), highest expected value first, email
-- opt-in, 10% held out as control, 20 contacts
CREATE TEMP TABLE winback AS
SELECT * FROM seg_reco.campaign_targets('{"campaign": "winback-2026-01", "at_risk": true,
    "control_share": 0.1, "budget_customers": 20, "exclude_contacted_days": 30,
    "as_of": "2026-01-05 09:00+01"}');
SELECT count(*) FILTER (WHERE NOT control) AS contacted, count(*) FILTER (WHERE control) AS held_out,
       bool_and(t.at_risk AND s.at_risk AND c.email_opt_in) AS all_at_risk_and_opted_in,
       bool_and(t.expected_value = s.clv_12m) AS value_is_clv,
       bool_and(t.rank = x.pos) AS ranks_dense,
       bool_and(t.channel = 'email' AND t.campaign = 'winback-2026-01') AS labelled,
       bool_and(cardinality(t.products) = 3) FILTER (WHERE NOT t.control) AS three_products,
       bool_and(t.products IS NULL AND t.cumulative_value IS NULL) FILTER (WHERE t.control) AS controls_get_nothing,
       round(max(t.cumulative_value)::numeric, 2) = round(sum(t.expected_value) FILTER (WHERE NOT t.control)::numeric, 2) AS cumulative_adds_up
  FROM winback t
  JOIN seg_reco.customer_segments s USING (customer_id)
  JOIN seg_reco.customers c USING (customer_id)
  JOIN (SELECT customer_id, row_number() OVER (ORDER BY expected_value DESC, customer_id) AS pos FROM winback) x USING (customer_id);
-- nobody left out ranks above the last one chosen
SELECT count(*) AS better_customers_left_out
  FROM seg_reco.customer_segments s JOIN seg_reco.customers c USING (customer_id)
 WHERE s.at_risk AND c.email_opt_in AND s.customer_id NOT IN (SELECT customer_id FROM winback)
   AND s.clv_12m > (SELECT min(expected_value) FROM winback);
-- the products are the customer's first recommendations
SELECT bool_and(t.products = (SELECT array_agg(r.product_id ORDER BY r.rank) FROM seg_reco.recommendations r
                               WHERE r.customer_id = t.customer_id AND r.rank <= 3)) AS products_are_top_recommendations,
       bool_and(cardinality(t.product_names) = 3) AS named
  FROM winback t WHERE NOT t.control;
SELECT rank, control, round(expected_value) AS expected_value_nok, round(p_alive::numeric, 2) AS p_alive, segment, reason
  FROM winback ORDER BY rank LIMIT 4;

-- the control group is fixed per campaign and customer (a hash), so a
-- rerun holds out the same customers; its share follows control_share
SELECT (SELECT array_agg(customer_id ORDER BY customer_id) FROM winback WHERE control)
     = (SELECT array_agg(customer_id ORDER BY customer_id)
          FROM seg_reco.campaign_targets('{"campaign": "winback-2026-01", "at_risk": true, "control_share": 0.1,
                                           "budget_customers": 20, "as_of": "2026-01-05 09:00+01"}')
         WHERE control) AS same_controls;
SELECT round(avg(control::int), 2) AS held_out_share, count(*) AS customers
  FROM seg_reco.campaign_targets('{"campaign": "share test", "control_share": 0.25, "require_opt_in": false}');

-- a budget in expected value: the list stops once the contacted
-- customers' expected value reaches it
SELECT count(*) AS customers, sum(expected_value) >= 50000 AS reached,
       sum(expected_value) - min(expected_value) < 50000 AS one_less_would_not
  FROM seg_reco.campaign_targets('{"campaign": "value budget", "budget_value": 50000, "products": 0}');

-- segments and clusters (any of the listed), p_alive range, minimum CLV
SELECT count(*) AS customers,
       bool_and(segment IN ('Champions', 'Loyal Customers')) AS in_segments,
       bool_and(p_alive BETWEEN 0.9 AND 1) AS p_alive_in_range,
       bool_and(expected_value >= 3000) AS min_clv_met,
       min(reason) FILTER (WHERE rank = 1) AS first_reason
  FROM seg_reco.campaign_targets('{"campaign": "vip", "segments": ["Champions", "Loyal Customers"],
                                   "p_alive_min": 0.9, "p_alive_max": 1, "min_clv": 3000, "products": 0}');
SELECT count(*) AS customers, bool_and(cluster_name = 'At-Risk') AS in_cluster,
       count(*) = (SELECT count(*) FROM seg_reco.customer_segments WHERE cluster_name = 'At-Risk') AS whole_cluster
  FROM seg_reco.campaign_targets('{"campaign": "cluster", "clusters": "At-Risk", "channel": "sms", "products": 0}');

-- product exclusions: no excluded category or product, only new products
-- with include_purchased false, and still three per customer (recommend_for
-- fills up when the stored list runs short)
CREATE TEMP TABLE excl AS
SELECT * FROM seg_reco.campaign_targets('{"campaign": "no dairy", "at_risk": true, "budget_customers": 10,
    "exclude_categories": ["meieri", "frukt og grønt"], "exclude_products": [2, 4], "include_purchased": false}');
SELECT count(*) AS customers,
       bool_and(cardinality(e.products) = 3) AS three_products,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM unnest(e.products) u(id)
                                       JOIN seg_reco.products p ON p.product_id = u.id
                                      WHERE p.category IN ('meieri', 'frukt og grønt') OR p.product_id IN (2, 4))) AS with_excluded,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM unnest(e.products) u(id)
                                       JOIN seg_reco.transactions t ON t.product_id = u.id AND t.customer_id = e.customer_id)) AS with_purchased,
       bool_and(cardinality(e.products) = (SELECT count(DISTINCT x) FROM unnest(e.products) x)) AS distinct_products
  FROM excl e;

------------------------------------------------------------------------------
-- Contact history: recording, frequency caps and exclusions across campaigns
------------------------------------------------------------------------------
SELECT * FROM seg_reco.record_contacts((SELECT array_agg(ROW(w.*)::seg_reco.campaign_target) FROM winback w), '2026-01-05 10:00+01');
-- recording the same list at the same time again adds nothing
SELECT * FROM seg_reco.record_contacts((SELECT array_agg(ROW(w.*)::seg_reco.campaign_target) FROM winback w), '2026-01-05 10:00+01');
SELECT campaign, channel, control, count(*) FROM seg_reco.contact_history GROUP BY 1, 2, 3 ORDER BY 1, 3;

-- a rerun of the campaign skips everyone it recorded (recontact false) ...
SELECT count(*) AS again, count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback)) AS recorded_again
  FROM seg_reco.campaign_targets('{"campaign": "winback-2026-01", "at_risk": true, "as_of": "2026-01-20 09:00+01"}');
-- ... another campaign skips the contacted within its cooldown, and the
-- win-back's control group (exclude_controls_days, default 90 days) ...
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE NOT control)) AS contacted_within_14_days,
       count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE control)) AS winback_controls
  FROM seg_reco.campaign_targets('{"campaign": "spring", "at_risk": true, "exclude_contacted_days": 14,
                                   "as_of": "2026-01-12 09:00+01"}');
-- ... but not once the cooldown is over, nor with exclude_controls_days 0
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE NOT control)) AS contacted_after_cooldown,
       count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE control)) AS winback_controls
  FROM seg_reco.campaign_targets('{"campaign": "spring", "at_risk": true, "exclude_contacted_days": 14,
                                   "exclude_controls_days": 0, "as_of": "2026-01-25 09:00+01"}');
-- exclude_campaigns: nobody the win-back contacted or held out
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback)) AS from_winback
  FROM seg_reco.campaign_targets('{"campaign": "spring", "exclude_campaigns": ["winback-2026-01"],
                                   "require_opt_in": false}');
-- frequency cap: at most 2 contacts in 30 days (a second campaign contacts
-- the win-back's first five again)
SELECT * FROM seg_reco.record_contacts(
    (SELECT array_agg(ROW('newsletter', 'email', w.customer_id, 1, false, NULL, NULL, NULL, NULL, NULL, NULL,
                          NULL, NULL, 'manual')::seg_reco.campaign_target)
       FROM (SELECT customer_id FROM winback WHERE NOT control ORDER BY rank LIMIT 5) w),
    '2026-01-08 10:00+01');
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM seg_reco.contact_history WHERE campaign = 'newsletter')) AS twice_contacted,
       count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE NOT control)) AS once_contacted
  FROM seg_reco.campaign_targets('{"campaign": "cap", "at_risk": true, "max_contacts": 2, "as_of": "2026-01-10 09:00+01"}');
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM winback WHERE NOT control)) AS once_contacted_cap_1
  FROM seg_reco.campaign_targets('{"campaign": "cap", "at_risk": true, "max_contacts": 1, "as_of": "2026-01-10 09:00+01"}');
-- an outside control group (a table or view with customer_id), e.g. the
-- control arm of an experiment
CREATE TEMP TABLE experiment_control AS
SELECT customer_id FROM seg_reco.customer_segments WHERE at_risk ORDER BY customer_id LIMIT 7;
SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM experiment_control)) AS from_experiment_control,
       (SELECT count(*) FROM seg_reco.customer_segments WHERE at_risk) - count(*) AS left_out
  FROM seg_reco.campaign_targets('{"campaign": "exp", "at_risk": true, "require_opt_in": false, "products": 0,
                                   "exclude_controls_days": 0, "exclude_customers_in": "pg_temp.experiment_control"}');

------------------------------------------------------------------------------
-- The recorded win-back as an experiment: its held-out control group against
-- the contacted, read by ab_results and ab_roi
------------------------------------------------------------------------------
-- purchases after the contact (the demo's lines end before it): 40 NOK by
-- each of the first three contacted, 25 NOK by the first control
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT 900000 + x.n, 900000 + x.n, x.customer_id, 1, 1, '2026-01-12 12:00+01', 1, x.amount, x.amount
  FROM (SELECT row_number() OVER (ORDER BY control DESC, rank) AS n, customer_id,
               CASE WHEN control THEN 25 ELSE 40 END AS amount
          FROM (SELECT *, row_number() OVER (PARTITION BY control ORDER BY rank) AS k FROM winback) w
         WHERE (control AND k = 1) OR (NOT control AND k <= 3)) x;
SELECT experiment, arms, weights, control_arm, status, starts_at = '2026-01-05 10:00+01' AS starts_at_first_contact
  FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', 0.1, ends_at => '2026-02-05');
-- the arms are the history's: held out = control, contacted = treatment
SELECT count(*) AS assigned, count(*) FILTER (WHERE (a.arm = 'control') = w.control) AS same_as_history
  FROM seg_reco.ab_assignments a JOIN winback w USING (customer_id)
 WHERE a.experiment = 'winback-2026-01';
-- ab_results against a count and means taken here (the experiment's window)
SELECT r.arm, r.assigned, r.n, r.mean = d.mean AS mean_as_counted, round(r.mean::numeric, 4) AS mean,
       r.planned_share
  FROM seg_reco.ab_results('winback-2026-01', 'revenue') r
  JOIN (SELECT CASE WHEN w.control THEN 'control' ELSE 'treatment' END AS arm,
               avg(coalesce((SELECT sum(t.amount) FROM seg_reco.transactions t
                              WHERE t.customer_id = w.customer_id AND t.ts >= '2026-01-05 10:00+01'
                                AND t.ts < '2026-02-05'), 0))::float8 AS mean
          FROM winback w GROUP BY 1) d USING (arm)
 ORDER BY r.arm;
SELECT arm, n, round(mean::numeric, 4) AS conversion
  FROM seg_reco.ab_results('winback-2026-01', 'conversion') ORDER BY arm;
\set VERBOSITY default
SELECT * FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', 0.1);
SELECT * FROM seg_reco.ab_experiment_from_campaign('no such campaign', 0.1);
SELECT * FROM seg_reco.ab_experiment_from_campaign('newsletter', 0.1, 'newsletter test');
SELECT * FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', 1, 'w2');
SELECT * FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', NULL, 'w2');
SELECT * FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', 0.1, 'w2', ends_at => '2025-12-01');
SELECT * FROM seg_reco.ab_experiment_from_campaign('winback-2026-01', 0.1, 'w2', promoted_products => '{1,NULL}');
\set VERBOSITY terse

------------------------------------------------------------------------------
-- Bad campaign definitions and contact lists: each a clear error
------------------------------------------------------------------------------
\set VERBOSITY default
SELECT * FROM seg_reco.campaign_targets(NULL);
SELECT * FROM seg_reco.campaign_targets('[1, 2]');
SELECT * FROM seg_reco.campaign_targets('{"at_risk": true}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "segment": "At Risk"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "segments": ["At Rsk"]}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "clusters": ["Nobody"]}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "budget_customers": -10}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "budget_value": -1.5}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "p_alive_min": 0.8, "p_alive_max": 0.2}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "p_alive_max": 1.2}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "min_clv": -100}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "min_clv": "lots"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "at_risk": "yes"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "control_share": 1}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "products": 500}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "exclude_contacted_days": 2.5}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "max_contacts": 0}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "segments": ["Lost", null]}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "exclude_products": ["milk"]}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "as_of": "next tuesday"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "exclude_customers_in": "no_such_table"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "exclude_customers_in": "seg_reco.products"}');
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "channel": ""}');
-- value criteria without values (the customer_value step was skipped)
SAVEPOINT before_delete;
DELETE FROM seg_reco.customer_value;
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x", "at_risk": true}');
ROLLBACK TO SAVEPOINT before_delete;
-- before the first refresh
SAVEPOINT before_delete;
DELETE FROM seg_reco.transactions;
DELETE FROM seg_reco.customers;
SELECT FROM seg_reco._customer_state_refresh(true);
SELECT FROM seg_reco._customer_rfm_update(NULL);
SELECT * FROM seg_reco.campaign_targets('{"campaign": "x"}');
ROLLBACK TO SAVEPOINT before_delete;

SELECT * FROM seg_reco.record_contacts(NULL);
SELECT * FROM seg_reco.record_contacts((SELECT array_agg(ROW(w.*)::seg_reco.campaign_target) FROM winback w), NULL);
SELECT * FROM seg_reco.record_contacts(ARRAY[NULL::seg_reco.campaign_target]);
SELECT * FROM seg_reco.record_contacts(ARRAY[ROW('x', 'email', NULL, 1, false, NULL, NULL, NULL, NULL, NULL, NULL,
                                                NULL, NULL, NULL)::seg_reco.campaign_target]);
SELECT * FROM seg_reco.record_contacts(ARRAY[ROW('x', 'email', 999999, 1, false, NULL, NULL, NULL, NULL, NULL, NULL,
                                                NULL, NULL, NULL)::seg_reco.campaign_target]);
SELECT * FROM seg_reco.record_contacts(ARRAY[ROW('x', 'email', 1, 1, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                                             ROW('x', 'email', 1, 2, true, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
                                            ]::seg_reco.campaign_target[]);
SELECT count(*) AS history_rows FROM seg_reco.contact_history;

ROLLBACK;
