-- The Complete Journey (84.51°/Kroger, CRAN package completejourney): the
-- campaigns 1,559 households received, the coupons 410 of them redeemed,
-- the demographics of 801 and a random sample of 75,000 of the 1.47 M
-- receipt lines of 2017.  Loaded as a user would, into schema
-- completejourney of the current database (replaced on each run), then:
-- campaign reach and redemption by campaign type, by spend segment and by
-- demographic segment, and why none of it is an A/B test.
--
-- Reads .shared/data/completejourney/*.csv relative to the current folder
-- (bench/completejourney.sh links .shared to ../shared, or to
-- $SEG_RECO_SHARED, and runs this from the repository root; the test
-- ab_completejourney reads it the same way).  Needs seg_reco (the rfm
-- aggregate for the spend segments, ab_compare for the naive comparison).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS completejourney CASCADE;
CREATE SCHEMA completejourney;
RESET client_min_messages;
CREATE TABLE completejourney.campaign_descriptions (
    campaign_id integer PRIMARY KEY, campaign_type text NOT NULL, start_date date NOT NULL, end_date date NOT NULL);
CREATE TABLE completejourney.campaigns (campaign_id integer NOT NULL, household_id integer NOT NULL,
    PRIMARY KEY (campaign_id, household_id));
CREATE TABLE completejourney.coupon_redemptions (
    household_id integer NOT NULL, coupon_upc bigint NOT NULL, campaign_id integer NOT NULL, redemption_date date NOT NULL);
CREATE TABLE completejourney.demographics (
    household_id integer PRIMARY KEY, age text, income text, home_ownership text, marital_status text,
    household_size text, household_comp text, kids_count text);
-- basket_id numeric: one line's id is written 4.0128e+10 (as R printed it)
CREATE TABLE completejourney.transactions (
    household_id integer NOT NULL, store_id integer, basket_id numeric NOT NULL, product_id bigint NOT NULL,
    quantity numeric, sales_value numeric NOT NULL, retail_disc numeric, coupon_disc numeric,
    coupon_match_disc numeric, week integer, transaction_timestamp timestamp NOT NULL);
\copy completejourney.campaign_descriptions FROM '.shared/data/completejourney/campaign_descriptions.csv' WITH (FORMAT csv, HEADER true)
\copy completejourney.campaigns FROM '.shared/data/completejourney/campaigns.csv' WITH (FORMAT csv, HEADER true)
\copy completejourney.coupon_redemptions FROM '.shared/data/completejourney/coupon_redemptions.csv' WITH (FORMAT csv, HEADER true)
\copy completejourney.demographics FROM '.shared/data/completejourney/demographics.csv' WITH (FORMAT csv, HEADER true, NULL '')
\copy completejourney.transactions FROM '.shared/data/completejourney/transactions_sample.csv' WITH (FORMAT csv, HEADER true)
ANALYZE completejourney.campaign_descriptions, completejourney.campaigns, completejourney.coupon_redemptions,
        completejourney.demographics, completejourney.transactions;

\echo
\echo '== The data ============================================================'
SELECT (SELECT count(*) FROM completejourney.transactions) AS sample_lines,
       (SELECT count(DISTINCT household_id) FROM completejourney.transactions) AS households_in_sample,
       (SELECT count(*) FROM completejourney.campaign_descriptions) AS campaigns,
       (SELECT count(DISTINCT household_id) FROM completejourney.campaigns) AS households_reached,
       (SELECT count(DISTINCT household_id) FROM completejourney.coupon_redemptions) AS households_redeeming,
       (SELECT count(*) FROM completejourney.demographics) AS with_demographics;

-- one row per household: campaigns received, campaigns with a redemption,
-- and from the 5% line sample (seg_reco.rfm; the timestamps are local
-- times, read as UTC) baskets and spend
CREATE TABLE completejourney.households AS
WITH ids AS (
    SELECT household_id FROM completejourney.transactions
    UNION SELECT household_id FROM completejourney.campaigns
    UNION SELECT household_id FROM completejourney.demographics
), received AS (
    SELECT household_id, count(*) AS campaigns FROM completejourney.campaigns GROUP BY household_id
), redeemed AS (
    SELECT household_id, count(DISTINCT campaign_id) AS campaigns, count(*) AS coupons
      FROM completejourney.coupon_redemptions GROUP BY household_id
), spend AS (
    SELECT household_id, (seg_reco.rfm(basket_id::bigint, transaction_timestamp AT TIME ZONE 'UTC', sales_value::float8)).*
      FROM completejourney.transactions GROUP BY household_id
)
SELECT i.household_id, coalesce(r.campaigns, 0) AS campaigns_received,
       coalesce(d.campaigns, 0) AS campaigns_redeemed, coalesce(d.coupons, 0) AS coupons_redeemed,
       s.frequency AS sample_baskets, s.monetary AS sample_spend,
       CASE ntile(3) OVER (PARTITION BY s.household_id IS NOT NULL ORDER BY s.monetary, i.household_id)
            WHEN 1 THEN '1 light' WHEN 2 THEN '2 medium' ELSE '3 heavy' END AS spend_segment
  FROM ids i
  LEFT JOIN received r USING (household_id)
  LEFT JOIN redeemed d USING (household_id)
  LEFT JOIN spend s USING (household_id);
UPDATE completejourney.households SET spend_segment = NULL WHERE sample_spend IS NULL;

\echo
\echo '== Reach and redemption by campaign type (a household-campaign pair redeems ='
\echo '   at least one coupon of that campaign) ==================================='
SELECT d.campaign_type, count(DISTINCT d.campaign_id) AS campaigns,
       count(DISTINCT c.household_id) AS households_reached,
       count(*) AS contacts,
       round(count(*)::numeric / count(DISTINCT d.campaign_id), 0) AS contacts_per_campaign,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM completejourney.coupon_redemptions r
                                       WHERE r.household_id = c.household_id AND r.campaign_id = c.campaign_id)) AS redeeming,
       round(100.0 * avg((EXISTS (SELECT 1 FROM completejourney.coupon_redemptions r
                                   WHERE r.household_id = c.household_id AND r.campaign_id = c.campaign_id))::int), 1)
           AS "redemption %"
  FROM completejourney.campaign_descriptions d
  JOIN completejourney.campaigns c USING (campaign_id)
 GROUP BY d.campaign_type ORDER BY d.campaign_type;

\echo
\echo '== By spend segment (tertiles of the sample spend of the 2,377 sampled households) =='
SELECT spend_segment, count(*) AS households,
       round(avg(sample_spend)::numeric, 2) AS sample_spend,
       round(100.0 * avg((campaigns_received > 0)::int), 1) AS "reached %",
       round(avg(campaigns_received), 2) AS campaigns_per_household,
       round(100.0 * avg((campaigns_redeemed > 0)::int) FILTER (WHERE campaigns_received > 0), 1) AS "redeemed % of reached",
       round(avg(coupons_redeemed) FILTER (WHERE campaigns_received > 0), 2) AS coupons_per_reached
  FROM completejourney.households WHERE spend_segment IS NOT NULL
 GROUP BY spend_segment ORDER BY spend_segment;

\echo
\echo '== By demographic segment (the 801 households with demographics) =========='
SELECT g.dimension, g.segment, count(*) AS households,
       round(100.0 * avg((h.campaigns_received > 0)::int), 1) AS "reached %",
       round(avg(h.campaigns_received), 2) AS campaigns_per_household,
       round(100.0 * avg((h.campaigns_redeemed > 0)::int) FILTER (WHERE h.campaigns_received > 0), 1) AS "redeemed % of reached"
  FROM completejourney.demographics d
  JOIN completejourney.households h USING (household_id),
       LATERAL (VALUES ('age', d.age),
                       ('income', CASE WHEN d.income IN ('Under 15K', '15-24K', '25-34K') THEN '1 under 35K'
                                       WHEN d.income IN ('35-49K', '50-74K') THEN '2 35-74K'
                                       WHEN d.income IN ('75-99K', '100-124K') THEN '3 75-124K'
                                       ELSE '4 125K+' END),
                       ('household', d.household_comp)) g(dimension, segment)
 GROUP BY g.dimension, g.segment ORDER BY g.dimension, g.segment;

\echo
\echo '== Why this is no A/B test ================================================'
\echo 'Recipients against non-recipients (Welch on the sample spend per household):'
\echo 'a large, "significant" gap that is not an effect of the campaigns.'
SELECT r.n_control AS not_reached, round(r.mean_control::numeric, 2) AS spend_not_reached,
       r.n_treatment AS reached, round(r.mean_treatment::numeric, 2) AS spend_reached,
       round(r.difference::numeric, 2) AS difference, round(r.ci_low::numeric, 2) AS ci_low,
       round(r.ci_high::numeric, 2) AS ci_high, r.p_value < 1e-10 AS "p < 1e-10"
  FROM seg_reco.ab_compare(
         (SELECT array_agg(sample_spend ORDER BY household_id) FROM completejourney.households
           WHERE sample_spend IS NOT NULL AND campaigns_received = 0),
         (SELECT array_agg(sample_spend ORDER BY household_id) FROM completejourney.households
           WHERE sample_spend IS NOT NULL AND campaigns_received > 0)) r;
-- the campaigns went to the chain's regular customers: reach by basket count in the sample
SELECT CASE WHEN sample_baskets <= 2 THEN '1-2' WHEN sample_baskets <= 5 THEN '3-5'
            WHEN sample_baskets <= 10 THEN '6-10' ELSE '11+' END AS sample_baskets,
       count(*) AS households, round(100.0 * avg((campaigns_received > 0)::int), 1) AS "reached %"
  FROM completejourney.households WHERE sample_baskets IS NOT NULL
 GROUP BY 1 ORDER BY min(sample_baskets);
