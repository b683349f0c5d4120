-- Which list serves a checkout: the cart's complements, the customer's own
-- list, or the complements ranked by the customer's own scores?  (Issue 13
-- §2: would a cart-aware recommend_for earn its place?)  On a database with
-- the demo data (scripts/demo.sh or seg_reco.generate_demo_data()):
--   psql -d DB -f bench/assoc_checkout.sql
-- Rules (the pipeline's settings: support 0.0001, count 10, confidence
-- 0.05, up to 3 products) and an als model 'checkout_split' (its next-basket
-- build included) from the receipts before the last 30 days; in 2,000 later
-- member receipts with 2+ products (chosen by a hash), one product (by a
-- hash) is held out, the rest is the cart.  Hit rate @10 of the held-out
-- product, for held-out products the customer had bought before (re-buys)
-- or not, and all:
--   a: basket_complements' list (rules lhs in the cart, rhs not, lift > 1,
--      each product by its best rule, by confidence, then lift);
--   b: recommend_for(customer, 10, exclude => cart) (default weights);
--   c: recommend_for over a's best 50 (candidates => them, exclude => cart);
--   d: recommend_for with include_purchased => false, exclude => cart.
-- Nothing is asserted: it prints.  The model is deleted at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT seg_reco.default_as_of() - 30 AS split, seg_reco.default_as_of() - 31 AS before_split \gset
CREATE TEMP TABLE checkout_rules AS
SELECT * FROM seg_reco.association_rules(
  format('SELECT t.receipt_id, t.product_id FROM seg_reco.transactions t WHERE t.amount > 0 AND t.ts < %L', :'split'),
  0.0001, 0.05, max_length => 3, min_length => 2, min_count => 10);
CREATE INDEX ON checkout_rules ((lhs[1]));
SELECT count(*) AS rules FROM checkout_rules;
SELECT name FROM seg_reco.als_train('checkout_split', options => jsonb_build_object('as_of', :'split'), replace => true);
CREATE TEMP TABLE checkout_eval AS
WITH rc AS (
  SELECT receipt_id, min(customer_id) AS customer_id, array_agg(DISTINCT product_id ORDER BY product_id) AS items
    FROM seg_reco.transactions
   WHERE ts >= :'split' AND amount > 0 AND customer_id IS NOT NULL
   GROUP BY receipt_id HAVING count(DISTINCT product_id) >= 2)
SELECT receipt_id, customer_id, items, items[1 + abs(hashint8(receipt_id)) % cardinality(items)] AS held
  FROM rc ORDER BY hashint8(receipt_id + 7) LIMIT 2000;
ALTER TABLE checkout_eval ADD COLUMN cart bigint[];
UPDATE checkout_eval SET cart = array_remove(items, held);
CREATE TEMP TABLE checkout_comp AS
SELECT e.receipt_id, c.rhs, c.rk
  FROM checkout_eval e, LATERAL (
    SELECT b.rhs, row_number() OVER (ORDER BY b.confidence DESC, b.lift DESC, b.rhs) AS rk
      FROM (SELECT DISTINCT ON (r.rhs) r.rhs, r.confidence, r.lift
              FROM checkout_rules r
             WHERE r.lhs[1] = ANY (e.cart) AND r.lhs <@ e.cart AND r.rhs <> ALL (e.cart) AND r.lift > 1
             ORDER BY r.rhs, r.confidence DESC, r.lift DESC, cardinality(r.lhs) DESC, r.lhs) b
     ORDER BY b.confidence DESC, b.lift DESC, b.rhs LIMIT 50) c;
CREATE TEMP TABLE checkout_res AS
SELECT e.receipt_id,
       EXISTS (SELECT 1 FROM seg_reco.transactions t
                WHERE t.customer_id = e.customer_id AND t.product_id = e.held AND t.amount > 0
                  AND t.ts < :'split') AS rebuy,
       EXISTS (SELECT 1 FROM checkout_comp c WHERE c.receipt_id = e.receipt_id AND c.rk <= 10 AND c.rhs = e.held) AS a,
       EXISTS (SELECT 1 FROM seg_reco.recommend_for(e.customer_id, 10, model => 'checkout_split', exclude => e.cart,
                                                   as_of => :'before_split') r
                WHERE r.product_id = e.held) AS b,
       EXISTS (SELECT 1 FROM seg_reco.recommend_for(e.customer_id, 10, model => 'checkout_split', exclude => e.cart,
                                                   as_of => :'before_split',
                                                   candidates => ARRAY(SELECT c.rhs FROM checkout_comp c
                                                                        WHERE c.receipt_id = e.receipt_id)) r
                WHERE r.product_id = e.held) AS c,
       EXISTS (SELECT 1 FROM seg_reco.recommend_for(e.customer_id, 10, model => 'checkout_split', exclude => e.cart,
                                                   as_of => :'before_split', include_purchased => false) r
                WHERE r.product_id = e.held) AS d
  FROM checkout_eval e;
SELECT CASE WHEN GROUPING(rebuy) = 1 THEN 'all' WHEN rebuy THEN 're-buy' ELSE 'new to the customer' END AS held_out,
       count(*) AS receipts,
       round(avg(a::int), 4) AS a_complements, round(avg(b::int), 4) AS b_recommend_for,
       round(avg(c::int), 4) AS c_complements_by_recommend_for, round(avg(d::int), 4) AS d_recommend_for_new
  FROM checkout_res GROUP BY ROLLUP (rebuy) ORDER BY GROUPING(rebuy), rebuy;
DELETE FROM seg_reco.models WHERE name = 'checkout_split';
