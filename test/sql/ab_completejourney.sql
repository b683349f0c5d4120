--
-- ab_completejourney: campaign reach and redemption on The Complete
-- Journey (84.51°), loaded and analysed by bench/completejourney.sql as a
-- user would.  The data are read from .shared/data/completejourney (a link
-- scripts/test.sh makes to the shared/ folder beside the clone, or to
-- SEG_RECO_SHARED; psql runs in the repository root), never copied here;
-- scripts/test.sh skips this test when they are missing (and fails under
-- CI=true).  Not an A/B test: the chain chose who received its campaigns.
--
\i bench/completejourney.sql
-- the published sizes of the data set (README of the shared data)
SELECT (SELECT count(DISTINCT household_id) FROM completejourney.campaigns) = 1559 AS households_reached,
       (SELECT count(DISTINCT household_id) FROM completejourney.coupon_redemptions) = 410 AS households_redeeming,
       (SELECT count(*) FROM completejourney.demographics) = 801 AS demographics,
       (SELECT count(*) FROM completejourney.transactions) = 75000 AS sample_lines;
-- every redemption belongs to a campaign the household received
SELECT count(*) AS redemptions_without_contact
  FROM completejourney.coupon_redemptions r
 WHERE NOT EXISTS (SELECT 1 FROM completejourney.campaigns c
                    WHERE c.household_id = r.household_id AND c.campaign_id = r.campaign_id);
-- the selection the README describes: reach and redemption rise with spend
SELECT bool_and(reached_gap) AS reach_rises_with_spend, bool_and(redeem_gap) AS redemption_rises_with_spend
  FROM (SELECT avg((campaigns_received > 0)::int) > lag(avg((campaigns_received > 0)::int)) OVER w AS reached_gap,
               avg((campaigns_redeemed > 0)::int) FILTER (WHERE campaigns_received > 0)
                 > lag(avg((campaigns_redeemed > 0)::int) FILTER (WHERE campaigns_received > 0)) OVER w AS redeem_gap
          FROM completejourney.households WHERE spend_segment IS NOT NULL
         GROUP BY spend_segment WINDOW w AS (ORDER BY spend_segment)) s;
SET client_min_messages = warning;
DROP SCHEMA completejourney CASCADE;
