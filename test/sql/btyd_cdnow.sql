-- Validation on the CDNOW sample of Fader, Hardie & Lee (2005): 2,357
-- customers, 39-week calibration period (1997-01-01 .. 1997-09-30), weeks
-- 40-78 as the holdout.  The data are read from .shared/data/cdnow
-- (a link scripts/test.sh makes to the shared/ folder beside the clone, or
-- to SEG_RECO_SHARED; psql runs in the repository root); never copied here.
SET TimeZone = 'Europe/Oslo';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never

CREATE TEMP TABLE cdnow_raw (line text);
\copy cdnow_raw FROM '.shared/data/cdnow/CDNOW_sample.txt'
-- columns: master id, sample id, date (YYYYMMDD), CDs, dollars; CRLF ends
CREATE TEMP TABLE cdnow AS
SELECT f[2]::int AS cid, to_date(f[3], 'YYYYMMDD') AS d, f[5]::float8 AS dollars
  FROM (SELECT regexp_split_to_array(btrim(line, E' \r'), '\s+') AS f FROM cdnow_raw) s;
SELECT count(*) AS transactions, count(DISTINCT cid) AS customers, min(d), max(d) FROM cdnow;

-- calibration summaries with seg_reco.btyd_summary, against the published
-- per-customer summary file (2 decimals)
CREATE TEMP TABLE cal AS
SELECT cid, (seg_reco.btyd_summary(d, dollars, '1997-09-30', 'week')).*
  FROM cdnow GROUP BY cid;
CREATE TEMP TABLE published (id int, x int, t_x numeric, t numeric, zbar numeric);
\copy published FROM '.shared/data/cdnow/cdnow_customers_summary_with_transactions.csv' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE c.frequency <> p.x OR round(c.recency::numeric, 2) <> p.t_x
                          OR round(c.t::numeric, 2) <> p.t
                          OR round(c.monetary_value::numeric, 2) <> p.zbar) AS differing
  FROM cal c FULL JOIN published p ON p.id = c.cid;
SELECT frequency, count(*) FROM cal GROUP BY ROLLUP (frequency) ORDER BY frequency NULLS LAST LIMIT 5;

-- BG/NBD: published r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
CREATE TEMP TABLE bg AS SELECT (seg_reco.bgnbd_fit(frequency, recency, t)).* FROM cal;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
       round(b::numeric, 3) AS b, round(log_likelihood::numeric, 1) AS log_likelihood,
       converged, n_customers
  FROM bg;

-- calibration / holdout: repeat purchases (distinct days) in weeks 40-78
-- against the conditional expectation for 39 weeks, by calibration frequency
CREATE TEMP TABLE holdout AS
SELECT c.cid, c.frequency, c.recency, c.t,
       (SELECT count(DISTINCT h.d) FROM cdnow h
         WHERE h.cid = c.cid AND h.d > '1997-09-30' AND h.d <= '1998-06-30') AS actual,
       seg_reco.bgnbd_expected_purchases(bg.r, bg.alpha, bg.a, bg.b, c.frequency, c.recency, c.t, 39) AS predicted
  FROM cal c, bg;
SELECT CASE WHEN frequency >= 7 THEN '7+' ELSE frequency::text END AS calibration_frequency,
       count(*) AS customers,
       round(avg(actual), 3) AS actual_mean, round(avg(predicted)::numeric, 3) AS predicted_mean
  FROM holdout GROUP BY 1 ORDER BY 1;
SELECT count(*) AS customers, sum(actual) AS actual_total, round(sum(predicted)::numeric, 1) AS predicted_total
  FROM holdout;
-- P(alive) of the one-time buyers is 1 by construction; MBG/NBD differs
SELECT frequency = 0 AS one_time,
       round(min(seg_reco.bgnbd_p_alive(bg.r, bg.alpha, bg.a, bg.b, frequency, recency, t))::numeric, 3) AS min_p_alive,
       round(avg(seg_reco.bgnbd_p_alive(bg.r, bg.alpha, bg.a, bg.b, frequency, recency, t))::numeric, 3) AS mean_p_alive
  FROM cal, bg GROUP BY 1 ORDER BY 1;

-- MBG/NBD (Batislam et al. 2007) on the same summaries
CREATE TEMP TABLE mbg AS SELECT (seg_reco.mbgnbd_fit(frequency, recency, t)).* FROM cal;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
       round(b::numeric, 3) AS b, round(log_likelihood::numeric, 1) AS log_likelihood, converged
  FROM mbg;
SELECT round(sum(seg_reco.mbgnbd_expected_purchases(mbg.r, mbg.alpha, mbg.a, mbg.b,
                                                    h.frequency, h.recency, h.t, 39))::numeric, 1) AS mbg_predicted_total,
       round(avg(seg_reco.mbgnbd_p_alive(mbg.r, mbg.alpha, mbg.a, mbg.b, h.frequency, h.recency, h.t))
             FILTER (WHERE h.frequency = 0)::numeric, 3) AS mbg_mean_p_alive_one_time
  FROM holdout h, mbg;

-- Gamma-Gamma: published p = 6.25, q = 3.74, gamma = 15.44 on the 946
-- repeat customers
CREATE TEMP TABLE gg AS SELECT (seg_reco.gammagamma_fit(frequency, monetary_value)).* FROM cal;
SELECT round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, round(gamma::numeric, 2) AS gamma,
       round(log_likelihood::numeric, 1) AS log_likelihood, converged, n_customers
  FROM gg;
SELECT round((p * gamma / (q - 1))::numeric, 2) AS population_mean_spend,
       round(avg(monetary_value) FILTER (WHERE frequency > 0)::numeric, 2) AS observed_mean_spend,
       round(avg(seg_reco.gammagamma_expected_spend(p, q, gamma, frequency, monetary_value))
             FILTER (WHERE frequency > 0)::numeric, 2) AS expected_mean_spend
  FROM cal, gg GROUP BY p, q, gamma;

-- stored model from seg_reco.transactions (inside a transaction that rolls
-- back, so the tables stay as other tests left them)
BEGIN;
DELETE FROM seg_reco.transactions;
INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT 800000 + cid, '1997-01-01' FROM (SELECT DISTINCT cid FROM cdnow) c;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
VALUES (800001, 'CD', 'music', 10);
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT 800000 + row_number() OVER (ORDER BY cid, d, dollars), 800000 + row_number() OVER (ORDER BY cid, d, dollars),
       800000 + cid, 800001, 1, d + time '12:00', 1, dollars, dollars
  FROM cdnow;
SELECT name, kind, round((params->>'r')::numeric, 3) AS r, round((params->>'alpha')::numeric, 3) AS alpha,
       round((params->>'a')::numeric, 3) AS a, round((params->>'b')::numeric, 3) AS b,
       round(log_likelihood::numeric, 1) AS ll, converged, n_customers, calibration_end, unit,
       round((params#>>'{spend,p}')::numeric, 2) AS p, round((params#>>'{spend,q}')::numeric, 2) AS q,
       round((params#>>'{spend,gamma}')::numeric, 2) AS gamma
  FROM seg_reco.btyd_train('cdnow', '1997-09-30');
SELECT count(*) AS customers, count(*) FILTER (WHERE at_risk) AS at_risk,
       round(avg(p_alive)::numeric, 3) AS mean_p_alive,
       round(sum(expected_purchases_90d)::numeric, 1) AS purchases_90d,
       round(sum(clv_12m)::numeric, 0) AS clv_12m_total,
       count(*) FILTER (WHERE 'NaN' IN (p_alive, expected_purchases_90d, expected_spend, clv_12m)) AS nan
  FROM seg_reco.btyd_scores('cdnow');
SELECT customer_id - 800000 AS cid, frequency, round(recency::numeric, 2) AS recency, round(t::numeric, 2) AS t,
       round(monetary_value::numeric, 2) AS monetary, round(p_alive::numeric, 3) AS p_alive,
       round(expected_purchases_90d::numeric, 3) AS e90, round(expected_spend::numeric, 2) AS spend,
       round(clv_12m::numeric, 2) AS clv_12m, at_risk
  FROM seg_reco.btyd_scores('cdnow') WHERE customer_id - 800000 IN (1, 2, 3, 18, 1061, 1516) ORDER BY 1;
-- the model-name functions agree with the parameter functions
SELECT round(seg_reco.p_alive('cdnow', 2, 30.43, 38.86)::numeric, 4) AS p_alive,
       round(seg_reco.expected_purchases('cdnow', 2, 30.43, 38.86, 39)::numeric, 3) AS e39,
       round(seg_reco.expected_spend('cdnow', 2, 22.35)::numeric, 2) AS spend,
       round(seg_reco.clv('cdnow', 2, 30.43, 38.86, 22.35)::numeric, 2) AS clv_12m;
-- MBG/NBD as the stored purchase model, in days
SELECT name, kind, round((params->>'r')::numeric, 3) AS r, round((params->>'alpha')::numeric, 2) AS alpha_days,
       round((params->>'a')::numeric, 3) AS a, round((params->>'b')::numeric, 3) AS b, converged, unit
  FROM seg_reco.btyd_train('cdnow_mbg_days', '1997-09-30', unit => 'day', model => 'mbgnbd');
SELECT count(*) FILTER (WHERE at_risk) AS at_risk, round(avg(p_alive)::numeric, 3) AS mean_p_alive,
       round(avg(p_alive) FILTER (WHERE frequency = 0)::numeric, 3) AS mean_p_alive_one_time
  FROM seg_reco.btyd_scores('cdnow_mbg_days');
-- retraining under the same name replaces the model
SELECT name, unit FROM seg_reco.btyd_train('cdnow', '1997-09-30', unit => 'day');
SELECT name, kind, unit FROM seg_reco.btyd_models ORDER BY name;
ROLLBACK;
