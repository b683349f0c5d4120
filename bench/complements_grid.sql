-- Frequently bought together as a source for products new to the customer
-- (issue 13): does adding association rules, applied to the customer's
-- recent receipts, to the new-product blend raise NDCG@10?  The protocol of
-- bench/weights_grid.sql (a private ALS model and next-basket build trained
-- before :split, the popularity of the day before, the seeded sample of
-- :sample customers who bought in the :days days from :split, recommend_for
-- with include_purchased false, diversity 0).  The rules are mined by
-- association_rules from the receipts before :split only (pairs: one
-- product each side; support :supp, at least :mincount receipts, confidence
-- :conf).  A customer's rule score of product b is
--   sum over the products a of their last :recent receipts of conf(a => b)
-- (-v rscore='r.confidence * ln(r.lift)' or another expression of r.confidence
-- and r.lift instead of conf)
-- over the products b they had not bought, divided by the customer's best;
-- it enters the blend as recommend_for's boost, weight w, beside the
-- weights :base.  Prints NDCG@10 for w in :ws (0 is the base alone), and the
-- rules alone (ALS breaking ties: w 1000).  -v category=1: the category
-- source below instead of the rules; -v ext=file.csv: scores from a file.
--
--   psql -d DB -v split=2025-11-04 -v days=28 -v sample=2000 -v recent=3 \
--        -v supp=0.0001 -v mincount=5 -v conf=0.01 \
--        -v base='{"als": 1, "nextbasket": 0.05}' -v ws='{0,0.05,0.1,0.2,0.5,1000}' \
--        -f bench/complements_grid.sql
-- (-v reuse=1: the model and popularity of the last run on this :split, as
-- bench/weights_grid.sql leaves them)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?rscore}
\else
\set rscore 'r.confidence'
\endif
\if :{?reuse}
\else
SELECT seg_reco._model_claim('_weights_grid', ARRAY['als'], true, 'weights_grid');
SELECT seg_reco._als_train('_weights_grid', 64, 0.01, 1.0, 15, 42, 'cg',
                           seg_reco.als_source_query(jsonb_build_object('as_of', :'split'::date)), false,
                           jsonb_build_object('as_of', :'split'::date)) IS NOT NULL AS trained;
SELECT seg_reco.nextbasket_build('_weights_grid', '{}') IS NOT NULL AS nextbasket_built;
SELECT seg_reco.build_popularity(as_of => :'split'::date - 1) IS NOT NULL AS popularity_built;
\endif

CREATE TEMP TABLE c_cust AS
SELECT c.customer_id,
       EXISTS (SELECT 1 FROM seg_reco.transactions h
                WHERE h.customer_id = c.customer_id AND h.amount > 0 AND h.ts < :'split'::date::timestamptz) AS warm
  FROM (SELECT DISTINCT t.customer_id FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.amount > 0
           AND t.ts >= :'split'::date::timestamptz AND t.ts < (:'split'::date + :days)::timestamptz) c
 ORDER BY md5(c.customer_id::text || ':' || '42'), c.customer_id
 LIMIT :sample;
CREATE TEMP TABLE c_rel AS
SELECT c.customer_id,
       array_agg(DISTINCT t.product_id) FILTER (
           WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                              WHERE h.customer_id = c.customer_id AND h.product_id = t.product_id
                                AND h.amount > 0 AND h.ts < :'split'::date::timestamptz)) AS rel_new
  FROM c_cust c
  JOIN seg_reco.transactions t ON t.customer_id = c.customer_id AND t.amount > 0
   AND t.ts >= :'split'::date::timestamptz AND t.ts < (:'split'::date + :days)::timestamptz
 WHERE c.warm
 GROUP BY c.customer_id;
DELETE FROM c_rel WHERE rel_new IS NULL;

\if :{?ext}
-- scores from elsewhere (a CSV of customer_id, product_id, score: e.g. the
-- UP-CF@r of bench/nextbasket_ref.py, divided by the customer's best)
CREATE TEMP TABLE c_score (customer_id bigint, b bigint, score float8);
COPY c_score FROM :'ext' WITH (FORMAT csv);
\elif :{?category}
-- the category source instead of the rules: the customer's share of lines
-- in the product's category (before :split) times the product's share of
-- its category's lines in the 90 days before :split; the best 300 a customer
CREATE TEMP TABLE c_catshare AS
SELECT h.customer_id, p.category, count(*)::float8 / sum(count(*)) OVER (PARTITION BY h.customer_id) AS share
  FROM seg_reco.transactions h JOIN c_rel USING (customer_id) JOIN seg_reco.products p USING (product_id)
 WHERE h.amount > 0 AND h.ts < :'split'::date::timestamptz
 GROUP BY h.customer_id, p.category;
CREATE TEMP TABLE c_catpop AS
SELECT t.product_id, p.category, count(*)::float8 / sum(count(*)) OVER (PARTITION BY p.category) AS pop
  FROM seg_reco.transactions t JOIN seg_reco.products p USING (product_id)
 WHERE t.amount > 0 AND t.ts < :'split'::date::timestamptz AND t.ts >= (:'split'::date - 90)::timestamptz
   AND p.active
 GROUP BY t.product_id, p.category;
CREATE TEMP TABLE c_score AS
SELECT s.customer_id, s.b, s.score / max(s.score) OVER (PARTITION BY s.customer_id) AS score
  FROM (SELECT x.customer_id, x.b, x.score,
               row_number() OVER (PARTITION BY x.customer_id ORDER BY x.score DESC, x.b) AS nr
          FROM (SELECT cs.customer_id, cp.product_id AS b, cs.share * cp.pop AS score
                  FROM c_catshare cs JOIN c_catpop cp USING (category)
                 WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                                    WHERE h.customer_id = cs.customer_id AND h.product_id = cp.product_id
                                      AND h.amount > 0 AND h.ts < :'split'::date::timestamptz)) x) s
 WHERE s.nr <= 300;
\else
CREATE TEMP TABLE c_rules AS
SELECT r.lhs[1] AS a, r.rhs AS b, r.confidence, r.lift
  FROM seg_reco.association_rules(
           format('SELECT receipt_id, product_id FROM seg_reco.transactions
                    WHERE amount > 0 AND ts < %L::date::timestamptz', :'split'),
           :supp, :conf, 2, 2, :mincount) r;
CREATE INDEX ON c_rules (a);
SELECT count(*) AS rules, count(DISTINCT a) AS lhs_products FROM c_rules;

-- the products of each customer's last :recent receipts, and what they ever bought
CREATE TEMP TABLE c_recent AS
SELECT x.customer_id, t.product_id
  FROM (SELECT h.customer_id, h.receipt_id,
               dense_rank() OVER (PARTITION BY h.customer_id ORDER BY max(h.ts) DESC, h.receipt_id DESC) AS nr
          FROM seg_reco.transactions h JOIN c_rel USING (customer_id)
         WHERE h.amount > 0 AND h.ts < :'split'::date::timestamptz
         GROUP BY h.customer_id, h.receipt_id) x
  JOIN seg_reco.transactions t ON t.receipt_id = x.receipt_id AND t.customer_id = x.customer_id AND t.amount > 0
 WHERE x.nr <= :recent
 GROUP BY x.customer_id, t.product_id;
CREATE TEMP TABLE c_score AS
SELECT s.customer_id, s.b, s.score / max(s.score) OVER (PARTITION BY s.customer_id) AS score
  FROM (SELECT rc.customer_id, r.b, sum(:rscore) AS score
          FROM c_recent rc JOIN c_rules r ON r.a = rc.product_id
         WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                            WHERE h.customer_id = rc.customer_id AND h.product_id = r.b
                              AND h.amount > 0 AND h.ts < :'split'::date::timestamptz)
         GROUP BY rc.customer_id, r.b) s;
\endif
SELECT count(DISTINCT customer_id) AS customers_with_rule_scores, (SELECT count(*) FROM c_rel) AS customers
  FROM c_score;

SELECT w, count(*) AS customers,
       round(avg(seg_reco.ndcg_at_k(
           ARRAY(SELECT f.product_id
                   FROM seg_reco.recommend_for(r.customer_id, 10, include_purchased => false,
                                               model => '_weights_grid', weights => :'base'::jsonb,
                                               diversity => 0, as_of => :'split'::date - 1,
                                               boost => CASE WHEN w = 0 THEN NULL ELSE
                                                   (SELECT jsonb_object_agg(s.b::text, w * s.score)
                                                      FROM c_score s WHERE s.customer_id = r.customer_id) END) f
                  ORDER BY f.rank),
           r.rel_new, 10))::numeric, 4) AS ndcg_at_10
  FROM unnest(:'ws'::float8[]) w, c_rel r
 GROUP BY w
 ORDER BY w;
