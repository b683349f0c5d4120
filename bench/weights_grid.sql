-- Many candidate weight sets on one model: evaluate()'s protocol (a
-- private ALS model trained on the interactions before :split, the
-- next-basket build, the segment popularity as of the day before, the
-- seeded sample of :sample customers who bought in the :days days from
-- :split, NDCG@10 of recommend_for's lists, diversity 0), but the model is
-- trained once for every candidate, where tune_weights trains it once per
-- candidate.  Mode :mode ('new': products the customer had not bought,
-- include_purchased false; 'all': re-buys count).  Candidates: the JSON
-- array :cands.  Leaves the model _weights_grid and the split's popularity
-- behind (a bench database).
--
--   psql -d DB -v split=2025-11-04 -v days=28 -v sample=2000 -v mode=new \
--        -v cands='[{"als": 1, ...}, ...]' -f bench/weights_grid.sql
-- (-v reuse=1: the model and popularity of the last run on this :split)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?reuse}
\else
SELECT seg_reco._model_claim('_weights_grid', ARRAY['als'], true, 'weights_grid');
SELECT seg_reco._als_train('_weights_grid', 64, 0.01, 1.0, 15, 42, 'cg',
                           seg_reco.als_source_query(jsonb_build_object('as_of', :'split'::date)), false,
                           jsonb_build_object('as_of', :'split'::date)) IS NOT NULL AS trained;
SELECT seg_reco.nextbasket_build('_weights_grid', '{}') IS NOT NULL AS nextbasket_built;
SELECT seg_reco.build_popularity(as_of => :'split'::date - 1) IS NOT NULL AS popularity_built;
\endif

CREATE TEMP TABLE g_cust AS
SELECT c.customer_id,
       EXISTS (SELECT 1 FROM seg_reco.transactions h
                WHERE h.customer_id = c.customer_id AND h.amount > 0 AND h.ts < :'split'::date::timestamptz) AS warm
  FROM (SELECT DISTINCT t.customer_id FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.amount > 0
           AND t.ts >= :'split'::date::timestamptz AND t.ts < (:'split'::date + :days)::timestamptz) c
 ORDER BY md5(c.customer_id::text || ':' || '42'), c.customer_id
 LIMIT :sample;
CREATE TEMP TABLE g_rel AS
SELECT c.customer_id, c.warm,
       array_agg(DISTINCT t.product_id) AS rel_all,
       array_agg(DISTINCT t.product_id) FILTER (
           WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                              WHERE h.customer_id = c.customer_id AND h.product_id = t.product_id
                                AND h.amount > 0 AND h.ts < :'split'::date::timestamptz)) AS rel_new
  FROM g_cust c
  JOIN seg_reco.transactions t ON t.customer_id = c.customer_id AND t.amount > 0
   AND t.ts >= :'split'::date::timestamptz AND t.ts < (:'split'::date + :days)::timestamptz
 GROUP BY c.customer_id, c.warm;

SELECT c.ord AS i, c.w AS weights, count(*) AS customers,
       round(avg(seg_reco.ndcg_at_k(
           ARRAY(SELECT f.product_id
                   FROM seg_reco.recommend_for(r.customer_id, 10, include_purchased => :'mode' = 'all',
                                               model => '_weights_grid', weights => c.w, diversity => 0,
                                               as_of => :'split'::date - 1) f
                  ORDER BY f.rank),
           CASE WHEN :'mode' = 'all' THEN r.rel_all ELSE r.rel_new END, 10))::numeric, 4) AS ndcg_at_10
  FROM jsonb_array_elements(:'cands'::jsonb) WITH ORDINALITY c(w, ord), g_rel r
 WHERE r.warm AND (:'mode' = 'all' OR r.rel_new IS NOT NULL)
 GROUP BY c.ord, c.w
 ORDER BY ndcg_at_10 DESC, c.ord;
