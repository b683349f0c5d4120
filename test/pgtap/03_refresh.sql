-- refresh() on the full demo data: the views agree with the same figures
-- computed in plain SQL, the planted behaviour is visible, each step logged.
BEGIN;
SELECT plan(14);

SELECT ok((SELECT count(*) FROM seg_reco.customers) > 0, 'demo data is loaded');
SELECT lives_ok('CALL seg_reco.refresh()', 'refresh runs');

SELECT is((SELECT count(*) FROM seg_reco.customer_segments),
          (SELECT count(*) FROM seg_reco.customers), 'one row per customer');
SELECT is((SELECT count(DISTINCT step)::int FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)), 2, 'the run logged both steps');
SELECT ok((SELECT bool_and(duration_ms >= 0 AND finished_at >= started_at) FROM seg_reco.refresh_log),
          'every step has a duration');

-- the same RFM in plain SQL: must agree customer by customer
CREATE TEMP TABLE plain_rfm AS
WITH a AS (SELECT max(ts)::date AS as_of FROM seg_reco.transactions),
     per AS (
    SELECT t.customer_id,
           count(DISTINCT t.receipt_id) FILTER (WHERE t.amount > 0) AS frequency,
           sum(t.amount) AS monetary,
           (SELECT as_of FROM a) - max(t.ts) FILTER (WHERE t.amount > 0)::date AS recency_days
      FROM seg_reco.transactions t
     WHERE t.customer_id IS NOT NULL
     GROUP BY t.customer_id)
SELECT per.*,
       1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1) / count(*) OVER ())::int AS r_score,
       1 + (5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ())::int AS f_score,
       1 + (5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ())::int AS m_score
  FROM per WHERE frequency > 0;

SELECT is((SELECT count(*) FROM plain_rfm p JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE (p.frequency, p.monetary, p.recency_days, p.r_score, p.f_score, p.m_score)
                  IS DISTINCT FROM (s.frequency, s.monetary, s.recency_days, s.r_score, s.f_score, s.m_score)),
          0::bigint, 'RFM values and scores equal the plain-SQL computation');
SELECT is((SELECT count(*) FROM seg_reco.customer_segments WHERE frequency > 0),
          (SELECT count(*) FROM plain_rfm), 'every buying customer is scored');
SELECT is((SELECT sum(monetary) FROM seg_reco.customer_segments),
          (SELECT sum(amount) FROM seg_reco.transactions WHERE customer_id IS NOT NULL), 'revenue adds up');

-- quintiles: every score used, none holds more than 40% of customers
SELECT is((SELECT count(DISTINCT r_score)::int FROM seg_reco.customer_segments), 5, 'five recency scores');
SELECT ok((SELECT max(c) < 0.4 * sum(c) FROM (SELECT count(*) c FROM seg_reco.customer_segments
                                               WHERE m_score IS NOT NULL GROUP BY m_score) x),
          'monetary quintiles are balanced');

-- the planted at-risk group (last purchase 90+ days back) scores low recency
SELECT ok((SELECT avg((s.r_score <= 2)::int) >= 0.9
             FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE d.at_risk), 'planted at-risk customers have recency score 1-2');
SELECT ok((SELECT avg((s.segment IN ('At Risk', 'Can''t Lose Them', 'Hibernating', 'Lost', 'About to Sleep'))::int) >= 0.9
             FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE d.at_risk), 'planted at-risk customers land in lapsing segments');
SELECT ok((SELECT sum(share_pct) BETWEEN 99.9 AND 100.1 FROM seg_reco.segment_summary), 'segment shares add up to 100%');
SELECT ok((SELECT count(*) >= 8 FROM seg_reco.segment_summary), 'the demo customers spread over many segments');

SELECT * FROM finish();
ROLLBACK;
