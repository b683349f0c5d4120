-- BTYD summaries, closed forms, fitting and stored models on small hand-made
-- data; the summary aggregate in parallel plans; every bad input.
-- (CDNOW validation: btyd_cdnow.)
SET TimeZone = 'Europe/Oslo';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

-- customer 1: first purchase 2024-01-01 (two lines that day), repeats on
-- 01-08 and 01-22 (two lines), a return-only day 01-29, a line after the
-- calibration end 2024-02-04.  2: one purchase.  3: only a return.
-- 4: first purchase on the calibration end.  5: a zero-value repeat.
CREATE TEMP TABLE lines (cid int, d date, amount float8);
INSERT INTO lines VALUES
  (1, '2024-01-01', 10), (1, '2024-01-01', 5), (1, '2024-01-08', 20),
  (1, '2024-01-22', 30), (1, '2024-01-22', 12), (1, '2024-01-29', -4),
  (1, '2024-02-10', 99),
  (2, '2024-01-15', 7),
  (3, '2024-01-20', -3),
  (4, '2024-02-04', 8),
  (5, '2024-01-03', 9), (5, '2024-01-31', 0), (5, '2024-01-10', NULL);
-- frequency, recency and t in weeks; monetary = (20 + 42 - 4) / 2 = 29 for 1
SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-02-04')).*
  FROM lines GROUP BY cid ORDER BY cid;
SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-02-04', 'day')).*
  FROM lines GROUP BY cid ORDER BY cid;
-- rows in any order give the same summary
SELECT (seg_reco.btyd_summary(d, amount, '2024-02-04', 'day' ORDER BY d DESC)).*
  FROM lines WHERE cid = 1;
-- no rows, or no purchase up to the calibration end: NULL
SELECT seg_reco.btyd_summary(d, amount, '2024-02-04') IS NULL AS no_rows FROM lines WHERE false;
SELECT seg_reco.btyd_summary(d, amount, '2023-12-31') IS NULL AS before_first FROM lines WHERE cid = 1;

-- the state type: text form, round trip, merge of partial states
SELECT seg_reco.btyd_summary_state_agg(d, amount, '2024-02-04', 'week') FROM lines WHERE cid = 1;
SELECT (seg_reco.btyd_summary_final(seg_reco.btyd_summary_state_agg(d, amount, '2024-02-04', 'week')::text
                                    ::seg_reco.btyd_summary_state)).*
  FROM lines WHERE cid = 1;
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (SELECT seg_reco.btyd_summary_state_agg(d, amount, '2024-02-04', 'week') AS s
          FROM lines WHERE cid = 1 GROUP BY d > '2024-01-10') p;
SELECT 'week,8800,0:{}'::seg_reco.btyd_summary_state;
SELECT seg_reco.btyd_summary_final('week,8800,0:{}');
-- malformed states
SELECT 'month,8800,0:{}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8801:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,2:{8790:5,8780:1}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:NaN}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,0:{8790:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790?5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5}x'::seg_reco.btyd_summary_state;
-- exact text form: no trailing comma, no blanks before numbers
SELECT 'week,8800,2:{8790:5,}'::seg_reco.btyd_summary_state;
SELECT 'week, 8800,1:{8790:5}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8790:5}'::seg_reco.btyd_summary_state::text;
-- bad aggregate input
SELECT seg_reco.btyd_summary(d, amount, '2024-02-04', 'month') FROM lines;
SELECT seg_reco.btyd_summary(d, amount, NULL, 'week') FROM lines;
SELECT seg_reco.btyd_summary(d, amount, 'infinity', 'week') FROM lines;
SELECT seg_reco.btyd_summary(d, 'NaN', '2024-02-04') FROM lines;
SELECT seg_reco.btyd_summary('infinity', amount, '2024-02-04') FROM lines;
SELECT seg_reco.btyd_summary(d, amount, d) FROM lines;
SELECT seg_reco.btyd_summary_trans(NULL, '2024-01-01', 1, '2024-02-04');

-- parallel plans: Partial Aggregate, the same answer as the serial plan
CREATE TABLE btyd_par AS
SELECT g % 700 AS cid, date '2023-01-01' + (g * 7919) % 500 AS d,
       ((g % 37) - 3)::float8 AS amount
  FROM generate_series(1, 50000) g;
ANALYZE btyd_par;
CREATE TEMP TABLE btyd_serial AS
SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).* FROM btyd_par GROUP BY cid;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT cid, seg_reco.btyd_summary(d, amount, '2024-03-31', 'day') FROM btyd_par GROUP BY cid;
SELECT count(*) AS customers,
       (SELECT count(*) FROM (
            (SELECT * FROM btyd_serial
             EXCEPT ALL
             SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).* FROM btyd_par GROUP BY cid)
            UNION ALL
            (SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).* FROM btyd_par GROUP BY cid
             EXCEPT ALL
             SELECT * FROM btyd_serial)) x) AS differing_rows
  FROM btyd_serial;
EXPLAIN (COSTS OFF)
SELECT seg_reco.btyd_summary(d, amount, '2024-03-31', 'day') FROM btyd_par;
SELECT (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).* FROM btyd_par;
SELECT seg_reco.btyd_summary(d, amount, '2024-03-31', 'day') IS NULL AS zero_rows FROM btyd_par WHERE cid < 0;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET enable_hashagg;
DROP TABLE btyd_par;

-- closed forms at the published CDNOW parameters (FHL 2005: a customer with
-- x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks)
SELECT round(seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 39)::numeric, 3) AS e39,
       round(seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86)::numeric, 4) AS p_alive;
-- one-time buyers: P(alive) = 1 under BG/NBD, below 1 under MBG/NBD; T = 0 is defined
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 0, 0, 38.86) AS bg_one_time,
       round(seg_reco.mbgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 0, 0, 38.86)::numeric, 4) AS mbg_one_time,
       seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 0, 0, 0) AS bg_t0,
       round(seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 39)::numeric, 4) AS bg_t0_e39,
       round(seg_reco.mbgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 39)::numeric, 4) AS mbg_t0_e39,
       seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 3, 20, 30, 0) AS horizon_0;
-- 2F1 on both sides of the switch to the 1 - z transformation (z = 0.9 at
-- a horizon of 9 (alpha + T) = 389.4 weeks), a long horizon, and a = 1
SELECT h, round(seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 7, 30, 38.86, h)::numeric, 6) AS e
  FROM unnest(ARRAY[389.3, 389.5, 10000]) h;
SELECT round(seg_reco.bgnbd_expected_purchases(0.243, 4.414, 1, 2.426, 2, 30.43, 38.86, 39)::numeric, 6) AS a_1,
       round(seg_reco.bgnbd_expected_purchases(0.243, 4.414, 1.00001, 2.426, 2, 30.43, 38.86, 39)::numeric, 6) AS a_1_00001;
-- spend: a repeat customer shrinks towards the population mean 35.22
-- (p gamma / (q - 1)), which customers without repeat or positive spend get
SELECT round(seg_reco.gammagamma_expected_spend(6.25, 3.74, 15.44, 2, 22.35)::numeric, 2) AS repeat_customer,
       round(seg_reco.gammagamma_expected_spend(6.25, 3.74, 15.44, 0, 0)::numeric, 2) AS one_time,
       round(seg_reco.gammagamma_expected_spend(6.25, 3.74, 15.44, 3, -5)::numeric, 2) AS negative_spend;
-- CLV over 12 months at 1 % a month; no discount = spend x expected purchases in 12 x 4.345 weeks
SELECT round(seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0)::numeric, 2) AS clv_12m,
       round(seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, 12, 0)::numeric, 6) AS clv_undiscounted,
       round((25 * seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 12 * 4.345))::numeric, 6) AS check_value,
       round(seg_reco.mbgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, 6, 0.02, 'week')::numeric, 2) AS mbg_clv_6m,
       seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, 0) AS zero_months;
-- bad inputs of the closed forms
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, -1, 0, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 1.5, 2, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, 40, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 0, 5, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, -1, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 'NaN', 0, 38.86);
SELECT seg_reco.bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, 30, 'Infinity');
SELECT seg_reco.bgnbd_p_alive(0, 4.414, 0.793, 2.426, 2, 30, 38.86);
SELECT seg_reco.mbgnbd_p_alive(0.243, 4.414, -0.793, 2.426, 2, 30, 38.86);
SELECT seg_reco.bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 2, 30, 38.86, -1);
SELECT seg_reco.gammagamma_expected_spend(6.25, 0.9, 15.44, 0, 0);
SELECT seg_reco.gammagamma_expected_spend(6.25, 3.74, 'NaN', 2, 20);
SELECT seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, -1);
SELECT seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, 12, -1);
SELECT seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 25.0, 12, 0.01, 'month');

-- fitting: bad input, no rows, a fit that does not converge and the same
-- data with a penalizer (identical buying rates: r and alpha run off to
-- infinity without one)
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (-1.0, 0.0, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (2.0, 6.0, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (2.0, 'NaN'::float8, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t, -0.1) FROM (VALUES (2.0, 1.0, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t, NULL) FROM (VALUES (2.0, 1.0, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t, f) FROM (VALUES (2.0, 1.0, 5.0), (1.0, 1.0, 5.0)) v(f, r, t);
SELECT seg_reco.bgnbd_fit(f, r, t) FROM (VALUES (2.0, 1.0, 5.0)) v(f, r, t) WHERE false;
SELECT seg_reco.gammagamma_fit(f, m) FROM (VALUES (0.0, 0.0), (2.0, -3.0)) v(f, m);
SELECT seg_reco.gammagamma_fit(f, m) FROM (VALUES (-2.0, 3.0)) v(f, m);
SELECT converged, n_customers FROM (
    SELECT (seg_reco.bgnbd_fit(3, 10 + g % 20, 30)).* FROM generate_series(1, 1000) g) f;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
       round(b::numeric, 3) AS b, round(log_likelihood::numeric, 1) AS ll, converged, penalizer
  FROM (SELECT (seg_reco.bgnbd_fit(3, 10 + g % 20, 30, 0.01)).* FROM generate_series(1, 1000) g) f;

-- stored models: unknown name, and btyd_train refusing a fit that does not
-- converge (the rows live only inside this transaction)
SELECT seg_reco.p_alive('no such model', 1, 1, 2);
SELECT * FROM seg_reco.btyd_scores('no such model');
BEGIN;
DELETE FROM seg_reco.transactions;
INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT 900000 + g, '2023-01-01' FROM generate_series(1, 1000) g;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
VALUES (900001, 'btyd test', 'test', 1);
-- every customer: 4 purchase days, the last 10..29 weeks after the first,
-- T = 30 weeks at 2024-07-28
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT 900000 * k + g, 900000 * k + g, 900000 + g, 900001, 1,
       (date '2024-07-28' - 210 + CASE k WHEN 0 THEN 0 ELSE (10 + g % 20) * 7 * k / 3 END)::timestamptz
         + interval '12 hours',
       1, 10 + g % 7, 10 + g % 7
  FROM generate_series(1, 1000) g, generate_series(0, 3) k;
SAVEPOINT s;
SELECT seg_reco.btyd_train('flat', '2024-07-28');
ROLLBACK TO SAVEPOINT s;
SELECT seg_reco.btyd_train('flat', '2024-07-28', unit => 'fortnight');
ROLLBACK TO SAVEPOINT s;
SELECT seg_reco.btyd_train('flat', '2024-07-28', model => 'pareto');
ROLLBACK TO SAVEPOINT s;
SELECT name, kind, round((params->>'r')::numeric, 3) AS r, round((params->>'alpha')::numeric, 3) AS alpha,
       round((params->>'a')::numeric, 3) AS a, round((params->>'b')::numeric, 3) AS b,
       converged, n_customers, calibration_end, unit, penalizer
  FROM seg_reco.btyd_train('flat', '2024-07-28', penalizer => 0.01);
SELECT count(*) AS customers, count(*) FILTER (WHERE at_risk) AS at_risk,
       count(*) FILTER (WHERE p_alive IS NULL OR p_alive = 'NaN' OR clv_12m = 'NaN'
                          OR expected_spend = 'NaN' OR expected_purchases_90d = 'NaN') AS nan_or_null
  FROM seg_reco.btyd_scores('flat');
-- a name held by a model of another kind (an als model with its factor
-- rows): refused before fitting and left as it was; replaced, factor rows
-- and all, only with replace => true
INSERT INTO seg_reco.models (name, kind, model, trained_at)
VALUES ('reco', 'als', '{"version": 0}', '2025-01-02 03:04:05+00');
INSERT INTO seg_reco.als_customer_factors VALUES ('reco', 900001, '{1, 2}');
INSERT INTO seg_reco.als_product_factors VALUES ('reco', 900001, '{1, 2}', 1);
SAVEPOINT clash;
SELECT * FROM seg_reco.btyd_train('reco', '2024-07-28', penalizer => 0.01);
ROLLBACK TO SAVEPOINT clash;
SELECT kind, trained_at = '2025-01-02 03:04:05+00' AS untouched,
       (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'reco') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'reco') AS product_factors
  FROM seg_reco.models WHERE name = 'reco';
SELECT name, kind, converged, n_customers
  FROM seg_reco.btyd_train('reco', '2024-07-28', penalizer => 0.01, replace => true);
SELECT (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'reco') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'reco') AS product_factors;
-- bgnbd and mbgnbd are one family: either replaces the other without asking
INSERT INTO seg_reco.models (name, kind, model) VALUES ('family', 'mbgnbd', '{}');
SELECT name, kind, converged FROM seg_reco.btyd_train('family', '2024-07-28', penalizer => 0.01);
SAVEPOINT clash;
SELECT seg_reco.btyd_train('flat', '2024-07-28', penalizer => 0.01, replace => NULL);
ROLLBACK TO SAVEPOINT clash;
ROLLBACK;
-- nothing was stored
SELECT count(*) FROM seg_reco.btyd_models;

-- Row order (issue 11, item 4).  Amounts are summed exactly (18 decimals in
-- fixed point), so lines in any order, and partial states merged in any
-- order, give the same bits; a float8 sum did not: (0.1 + 0.2) + 0.3 <>
-- (0.3 + 0.2) + 0.1
SELECT (seg_reco.btyd_summary(d, amount, '2024-01-10', 'day' ORDER BY amount)).monetary_value AS ascending,
       (seg_reco.btyd_summary(d, amount, '2024-01-10', 'day' ORDER BY amount DESC)).monetary_value AS descending,
       seg_reco.btyd_summary_state_agg(d, amount, '2024-01-10', 'day' ORDER BY amount DESC)::text AS state
  FROM (VALUES (date '2024-01-01', 5::float8), ('2024-01-03', 0.1), ('2024-01-03', 0.2), ('2024-01-03', 0.3)) v(d, amount);
-- 700 customers, lines of cents: shuffled, reversed and parallel give the
-- same summaries (compared with = on float8) and the same state texts
CREATE TABLE btyd_cents AS
SELECT g % 700 AS cid, date '2023-01-01' + (g * 7919) % 500 AS d,
       ((g * 7919) % 100000 - 8000) / 100.0::float8 AS amount
  FROM generate_series(1, 50000) g;
ANALYZE btyd_cents;
CREATE TEMP TABLE btyd_cents_serial AS
SELECT cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).*,
       seg_reco.btyd_summary_state_agg(d, amount, '2024-03-31', 'day')::text AS state
  FROM btyd_cents GROUP BY cid;
SELECT setseed(0.11);
CREATE TEMP TABLE btyd_cents_orders AS
SELECT 'shuffled' AS ord, cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day' ORDER BY random())).*,
       seg_reco.btyd_summary_state_agg(d, amount, '2024-03-31', 'day' ORDER BY random())::text AS state
  FROM btyd_cents GROUP BY cid
UNION ALL
SELECT 'reversed', cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day' ORDER BY d DESC, amount DESC)).*,
       seg_reco.btyd_summary_state_agg(d, amount, '2024-03-31', 'day' ORDER BY d DESC, amount DESC)::text
  FROM btyd_cents GROUP BY cid;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF)
SELECT cid, seg_reco.btyd_summary(d, amount, '2024-03-31', 'day') FROM btyd_cents GROUP BY cid;
INSERT INTO btyd_cents_orders
SELECT 'parallel', cid, (seg_reco.btyd_summary(d, amount, '2024-03-31', 'day')).*,
       seg_reco.btyd_summary_state_agg(d, amount, '2024-03-31', 'day')::text
  FROM btyd_cents GROUP BY cid;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
RESET enable_hashagg;
SELECT o.ord, count(*) AS customers,
       count(*) FILTER (WHERE o.monetary_value = s.monetary_value AND o.frequency = s.frequency
                          AND o.recency = s.recency AND o.t = s.t) AS same_summary,
       count(*) FILTER (WHERE o.state = s.state) AS same_state
  FROM btyd_cents_orders o JOIN btyd_cents_serial s USING (cid) GROUP BY o.ord ORDER BY o.ord;
DROP TABLE btyd_cents;

-- the fitting aggregates sort what they collect: the same customers in any
-- order give the same parameters, bit for bit (also above 20,000
-- customers, where the optimiser starts on a seeded subsample)
CREATE TEMP TABLE btyd_fit_rows AS
SELECT x, CASE WHEN x > 0 THEN x / rate ELSE 0 END AS tx, t,
       CASE WHEN x > 0 THEN 5 + (k * 7919) % 4000 / 100.0 ELSE 0 END AS m
  FROM (SELECT k, rate, t, floor(rate * CASE WHEN k % 5 = 0 THEN t / 3 ELSE t END) AS x
          FROM (SELECT k, ((k * 7919) % 100 + 1) / 100.0 AS rate, 20 + k % 30 AS t
                  FROM generate_series(1, 3000) k) a) b;
SELECT setseed(0.22);
CREATE TEMP TABLE btyd_fits AS
SELECT 'bgnbd' AS model, ord, (f).r AS p1, (f).alpha AS p2, (f).a AS p3, (f).b AS p4,
       (f).log_likelihood, (f).converged
  FROM (SELECT 'ascending' AS ord, seg_reco.bgnbd_fit(x, tx, t ORDER BY x, tx, t) AS f FROM btyd_fit_rows
        UNION ALL SELECT 'descending', seg_reco.bgnbd_fit(x, tx, t ORDER BY x DESC, tx DESC, t DESC) FROM btyd_fit_rows
        UNION ALL SELECT 'shuffled', seg_reco.bgnbd_fit(x, tx, t ORDER BY random()) FROM btyd_fit_rows) s
UNION ALL
SELECT 'mbgnbd', ord, (f).r, (f).alpha, (f).a, (f).b, (f).log_likelihood, (f).converged
  FROM (SELECT 'ascending' AS ord, seg_reco.mbgnbd_fit(x, tx, t ORDER BY x, tx, t) AS f FROM btyd_fit_rows
        UNION ALL SELECT 'descending', seg_reco.mbgnbd_fit(x, tx, t ORDER BY x DESC, tx DESC, t DESC) FROM btyd_fit_rows
        UNION ALL SELECT 'shuffled', seg_reco.mbgnbd_fit(x, tx, t ORDER BY random()) FROM btyd_fit_rows) s
UNION ALL
SELECT 'gammagamma', ord, (f).p, (f).q, (f).gamma, NULL, (f).log_likelihood, (f).converged
  FROM (SELECT 'ascending' AS ord, seg_reco.gammagamma_fit(x, m ORDER BY x, m) AS f FROM btyd_fit_rows
        UNION ALL SELECT 'descending', seg_reco.gammagamma_fit(x, m ORDER BY x DESC, m DESC) FROM btyd_fit_rows
        UNION ALL SELECT 'shuffled', seg_reco.gammagamma_fit(x, m ORDER BY random()) FROM btyd_fit_rows) s
UNION ALL
SELECT 'bgnbd 24000', ord, (f).r, (f).alpha, (f).a, (f).b, (f).log_likelihood, (f).converged
  FROM (SELECT 'ascending' AS ord, seg_reco.bgnbd_fit(x, tx, t ORDER BY x, tx, t) AS f
          FROM btyd_fit_rows, generate_series(1, 8) k
        UNION ALL
        SELECT 'descending', seg_reco.bgnbd_fit(x, tx, t ORDER BY x DESC, tx DESC, t DESC)
          FROM btyd_fit_rows, generate_series(1, 8) k) s;
SELECT model, count(*) AS orders, count(DISTINCT (p1, p2, p3, p4, log_likelihood)) AS distinct_fits,
       bool_and(converged) AS converged
  FROM btyd_fits GROUP BY model ORDER BY model;
SELECT model, round(p1::numeric, 4) AS p1, round(p2::numeric, 4) AS p2, round(p3::numeric, 4) AS p3,
       round(p4::numeric, 4) AS p4, round(log_likelihood::numeric, 2) AS ll
  FROM btyd_fits WHERE ord = 'ascending' ORDER BY model;

-- No NaN or garbage (issue 11, item 6).  Huge but finite arguments: a
-- finite expected spend (the weighted-mean form when the products
-- overflow), a finite P(alive), or an error where the value itself is out
-- of range (SQLSTATE 22003)
SELECT seg_reco.gammagamma_expected_spend(1e300, 1e300, 1e300, 1e300, 1e300) AS spend_huge,
       seg_reco.gammagamma_expected_spend(1e308, 1e308, 1e308, 1e6, 1e308) AS spend_huge2,
       seg_reco.bgnbd_p_alive(1, 1e308, 1, 1, 2, 1e308, 1e308) AS p_alive_huge,
       seg_reco.mbgnbd_p_alive(1e308, 1e308, 1e308, 1e308, 2, 1e308, 1e308) AS mbg_p_alive_huge;
SELECT seg_reco.gammagamma_expected_spend(1e300, 2, 1e300, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT seg_reco.bgnbd_clv(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86, 1.7e308);
\echo :LAST_ERROR_SQLSTATE
-- amounts beyond 1e20 cannot be summed exactly: an error (22003)
SELECT seg_reco.btyd_summary(d, 1e300, '2024-01-10') FROM (VALUES (date '2024-01-01')) v(d);
\echo :LAST_ERROR_SQLSTATE
SELECT seg_reco.btyd_summary(d, 9e19, '2024-01-10') FROM (VALUES (date '2024-01-01'), ('2024-01-01')) v(d);
\echo :LAST_ERROR_SQLSTATE
-- the state's text form: days outside the range of type date are an error
-- (22008; they gave dates in year 7900593), amounts are exact decimals
SELECT 'week,8800,1:{-3000000000:5}'::seg_reco.btyd_summary_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'week,2147483000,1:{8000:5}'::seg_reco.btyd_summary_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'week,8800,-1:{}'::seg_reco.btyd_summary_state;
SELECT 'week,8800,1:{8000:1e20}'::seg_reco.btyd_summary_state;
SELECT 'week,2145031948,2:{-2451545:5.5,0:1.0000000000000000001}'::seg_reco.btyd_summary_state;
SELECT (seg_reco.btyd_summary_final('week,2145031948,2:{-2451545:5.5,0:1.0000000000000000001}')).*;

-- a state of seg_reco 0.1.0 (float8 amounts), as a table may hold it, is
-- read into the exact form: days 8766 (purchase, 10.1) and 8770 (0.2 + 0.1)
BEGIN;
-- raw bytes of the state's alignment (bytea's I/O), cast to the state type
CREATE TYPE pg_temp.raw_state;
CREATE FUNCTION pg_temp.raw_state_in(cstring) RETURNS pg_temp.raw_state
    AS 'byteain' LANGUAGE internal IMMUTABLE STRICT;
CREATE FUNCTION pg_temp.raw_state_out(pg_temp.raw_state) RETURNS cstring
    AS 'byteaout' LANGUAGE internal IMMUTABLE STRICT;
CREATE TYPE pg_temp.raw_state (INPUT = pg_temp.raw_state_in, OUTPUT = pg_temp.raw_state_out,
                               INTERNALLENGTH = VARIABLE, ALIGNMENT = double);
CREATE CAST (pg_temp.raw_state AS seg_reco.btyd_summary_state) WITHOUT FUNCTION;
-- little-endian bytes of a bytea built with the *send functions
CREATE FUNCTION pg_temp.le(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
RETURN (SELECT string_agg(substr(b, i, 1), ''::bytea ORDER BY i DESC) FROM generate_series(1, length(b)) i);
CREATE TEMP TABLE old_state AS
SELECT (pg_temp.le(int4send(2)) || pg_temp.le(int4send(2)) || pg_temp.le(int4send(2))
        || pg_temp.le(int4send(1)) || pg_temp.le(int4send(8775)) || pg_temp.le(int8send(3))
        || pg_temp.le(int4send(8766)) || pg_temp.le(int4send(1)) || pg_temp.le(float8send(10.1))
        || pg_temp.le(int4send(8770)) || pg_temp.le(int4send(1)) || pg_temp.le(float8send(0.2::float8 + 0.1::float8))
       )::text::pg_temp.raw_state::seg_reco.btyd_summary_state AS st;
SELECT st::text, (seg_reco.btyd_summary_final(st)).* FROM old_state;
SELECT (seg_reco.btyd_summary_merge(s)).*
  FROM (SELECT st AS s FROM old_state
        UNION ALL SELECT 'day,8775,1:{8772:1.5}'::seg_reco.btyd_summary_state) u;
ROLLBACK;
