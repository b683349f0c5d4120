-- refresh() on the full demo data: the views agree with the same figures
-- computed in plain SQL, the planted behaviour is visible, each step logged.
BEGIN;
SELECT plan(40);

SELECT ok((SELECT count(*) FROM seg_reco.customers) > 0, 'demo data is loaded');
SELECT lives_ok('CALL seg_reco.refresh(''full'')', 'refresh runs');

SELECT is((SELECT count(*) FROM seg_reco.customer_segments),
          (SELECT count(*) FROM seg_reco.customers), 'one row per customer');
SELECT is((SELECT array_agg(step ORDER BY started_at) FROM seg_reco.refresh_log
            WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)),
          ARRAY['customer_features', 'clusters', 'customer_value', 'content', 'popularity', 'rules', 'als_model',
                'recommendations', 'customer_segments', 'segment_summary', 'cohorts'],
          'the run logged every step in order');
SELECT ok((SELECT bool_and(duration_ms >= 0 AND finished_at >= started_at) FROM seg_reco.refresh_log),
          'every step has a duration');
-- association rules of the receipts: thousands, and a list for most products
-- bought often enough (rules_min_support 0.0001)
SELECT ok((SELECT count(*) FROM seg_reco.product_rules) > 1000, 'the rules step found rules');
SELECT ok((SELECT count(DISTINCT lhs[1]) FROM seg_reco.product_rules WHERE cardinality(lhs) = 1 AND lift > 1) > 1000,
          'over 1,000 products have frequently-bought-together products');
SELECT is((SELECT count(*)::int FROM seg_reco.bought_with(
              (SELECT t.product_id FROM seg_reco.transactions t GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1))),
          10, 'the best seller gets a full list');

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
SELECT ok((SELECT bool_and(t BETWEEN 99.9 AND 100.1) FROM (SELECT sum(share_pct) t FROM seg_reco.segment_summary GROUP BY kind) x),
          'segment shares add up to 100% per kind');
SELECT ok((SELECT count(*) >= 8 FROM seg_reco.segment_summary WHERE kind = 'rfm'), 'the demo customers spread over many segments');

-- clusters: every buyer in one, k in the configured range, unique names from the profiles
SELECT is((SELECT count(*) FROM seg_reco.customer_segments WHERE frequency > 0 AND cluster IS NULL), 0::bigint,
          'every buying customer has a cluster');
SELECT ok((SELECT count(DISTINCT cluster) BETWEEN (seg_reco.setting('cluster_k_min'))::int
                                              AND (seg_reco.setting('cluster_k_max'))::int
             FROM seg_reco.customer_clusters), 'k is in the configured range');
SELECT is((SELECT count(DISTINCT cluster_name) FROM seg_reco.customer_clusters),
          (SELECT count(DISTINCT cluster) FROM seg_reco.customer_clusters), 'cluster names are unique');
SELECT ok((SELECT bool_and(gmm_probability BETWEEN 0 AND 1) FROM seg_reco.customer_clusters),
          'mixture probabilities are probabilities');
SELECT is((SELECT count(*)::int FROM seg_reco.models WHERE name IN ('customer_kmeans', 'customer_gmm')), 2,
          'both cluster models are stored');
-- the planted shopper types and the at-risk group are visible in the clusters
SELECT is((SELECT s.cluster_name FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE d.shopper_type = 'senior' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1),
          'Weekday Morning Regulars', 'seniors form the weekday-morning cluster');
SELECT is((SELECT s.cluster_name FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE d.shopper_type = 'daily_topup' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1),
          'Daily Top-Up', 'daily top-up shoppers form the daily top-up cluster');
SELECT is((SELECT s.cluster_name FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)
            WHERE d.taste = 'baby' AND d.churned_on IS NULL GROUP BY 1 ORDER BY count(*) FILTER (WHERE s.cluster_name = 'Young Families') DESC LIMIT 1),
          'Young Families', 'a young-families cluster exists');
SELECT ok((SELECT avg((s.cluster_name = 'At-Risk')::int) FILTER (WHERE d.churned_on IS NOT NULL OR d.at_risk)
                > 10 * avg((s.cluster_name = 'At-Risk')::int) FILTER (WHERE d.churned_on IS NULL AND NOT d.at_risk)
             FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)),
          'lapsed and churned customers concentrate in the At-Risk cluster');

-- customer value: never NaN, probabilities in range, churners flagged far more often
SELECT is((SELECT count(*) FROM seg_reco.customer_value
            WHERE p_alive = 'NaN' OR clv_12m = 'NaN' OR expected_purchases_90d = 'NaN'
               OR p_alive NOT BETWEEN 0 AND 1 OR clv_12m < 0 OR expected_purchases_90d < 0), 0::bigint,
          'customer value is finite and in range');
SELECT is((SELECT count(*) FROM seg_reco.customer_segments WHERE frequency > 0 AND p_alive IS NULL), 0::bigint,
          'every buying customer has a value');
SELECT is((SELECT array_agg(DISTINCT value_model) FROM seg_reco.customer_segments WHERE frequency > 0),
          ARRAY['mbgnbd'], 'the configured purchase model fits the demo data (no fallback)');
SELECT ok((SELECT avg(s.at_risk::int) FILTER (WHERE d.churned_on IS NOT NULL)
                > 5 * avg(s.at_risk::int) FILTER (WHERE d.churned_on IS NULL AND NOT d.at_risk) + 0.2
             FROM seg_reco.demo_truth d JOIN seg_reco.customer_segments s USING (customer_id)),
          'planted churners are flagged at risk far more often than other customers');
SELECT ok((SELECT sum(expected_value_12m) > 0 FROM seg_reco.segment_summary WHERE kind = 'cluster'),
          'segment_summary carries expected value');

-- recommendations: every customer gets a full list, ranks 1..N, products exist and are active
SELECT is((SELECT count(DISTINCT customer_id) FROM seg_reco.recommendations),
          (SELECT count(*) FROM seg_reco.customers), 'every customer has recommendations');
SELECT is((SELECT count(*) FROM (SELECT customer_id FROM seg_reco.recommendations GROUP BY customer_id
                                   HAVING count(*) <> 10 OR min(rank) <> 1 OR max(rank) <> 10) x), 0::bigint,
          'each list has ranks 1 to 10');
SELECT is((SELECT count(*) FROM seg_reco.recommendations r JOIN seg_reco.products p USING (product_id)
            WHERE NOT p.active), 0::bigint, 'no inactive product is recommended');
SELECT ok((SELECT count(DISTINCT product_id) >= 100 FROM seg_reco.recommendations),
          'the lists are personal, not one list for all');
-- vegetarians (who never buy meat) are recommended far less meat than others
SELECT ok((SELECT avg((p.category = 'kjøtt')::int) FILTER (WHERE d.taste = 'vegetarian')
                < 0.2 * avg((p.category = 'kjøtt')::int) FILTER (WHERE d.taste <> 'vegetarian')
             FROM seg_reco.recommendations r
             JOIN seg_reco.demo_truth d USING (customer_id)
             JOIN seg_reco.products p USING (product_id)
            WHERE r.rank <= 5), 'vegetarians get less than a fifth of the meat others get');
SELECT is((SELECT r.product_id FROM seg_reco.recommendations r WHERE r.customer_id = 2 AND r.rank = 1),
          (SELECT f.product_id FROM seg_reco.recommend_for(2, 1) f), 'the view agrees with recommend_for');

SELECT ok((SELECT proconfig @> ARRAY['jit=off'] FROM pg_proc WHERE oid = 'seg_reco._refresh_steps(jsonb,bigint,text)'::regprocedure),
          'refresh()''s steps run with jit = off');

-- the view reads one slot: a customer's list through the served slot's
-- index, the other slot skipped by a one-time filter
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END;
$$;
CREATE TEMP TABLE reco_plan AS
SELECT pg_temp.plan_of('SELECT * FROM seg_reco.recommendations WHERE customer_id = 2') AS plan,
       a.slot AS served, CASE a.slot WHEN 'a' THEN 'b' ELSE 'a' END AS idle
  FROM seg_reco.recommendations_active a;
SELECT matches((SELECT plan FROM reco_plan),
               (SELECT 'Index Scan using recommendations_' || served || '_customer_rank_idx on recommendations_' || served
                       || ' \S+ \(actual rows=10 loops=1\)' FROM reco_plan),
               'a customer''s list is read through the served slot''s index');
SELECT matches((SELECT plan FROM reco_plan),
               (SELECT 'on recommendations_' || idle || ' \S+ \(never executed\)' FROM reco_plan),
               'the idle slot is skipped by a one-time filter');

SELECT * FROM finish();
ROLLBACK;
