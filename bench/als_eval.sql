-- Time-split evaluation of ALS against popularity (used by bench/als.sh).
-- psql variables: factors, iterations, alpha, regularization.
-- Trains 'als_split' on everything before the last 28 days, then scores the
-- top 10 of each customer of the model who bought something in those days,
-- once against every product bought (re-buys count), once against products
-- new to the customer (and recommending only products not bought before).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT max(ts) - interval '28 days' AS cutoff FROM seg_reco.transactions \gset
SELECT name, (metrics ->> 'train_seconds') AS train_seconds, metrics -> 'interactions' AS interactions
  FROM seg_reco.als_train('als_split', factors => :factors, iterations => :iterations,
                          alpha => :alpha, regularization => :regularization,
                          options => jsonb_build_object('as_of', :'cutoff'::timestamptz));

CREATE TEMP TABLE past AS
SELECT DISTINCT customer_id, product_id FROM seg_reco.transactions
 WHERE customer_id IS NOT NULL AND amount > 0 AND ts < :'cutoff';
CREATE INDEX ON past (customer_id, product_id);
CREATE TEMP TABLE test AS
SELECT DISTINCT t.customer_id, t.product_id FROM seg_reco.transactions t
  JOIN seg_reco.als_customer_factors f ON f.model = 'als_split' AND f.customer_id = t.customer_id
 WHERE t.amount > 0 AND t.ts >= :'cutoff';
CREATE TEMP TABLE rel AS
SELECT 'with re-buys'::text AS mode, customer_id, product_id FROM test
UNION ALL
SELECT 'new products only', t.customer_id, t.product_id FROM test t
 WHERE NOT EXISTS (SELECT 1 FROM past p WHERE p.customer_id = t.customer_id AND p.product_id = t.product_id);
CREATE TEMP TABLE pop AS
SELECT product_id, popularity FROM seg_reco.als_product_factors WHERE model = 'als_split'
 ORDER BY popularity DESC, product_id LIMIT 2000;

CREATE TEMP TABLE recs AS
SELECT 'ALS'::text AS method, 'with re-buys'::text AS mode, customer_id, product_id, rank
  FROM seg_reco.recommend_all('als_split', 10, include_purchased => true, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}')
UNION ALL
SELECT 'ALS', 'new products only', customer_id, product_id, rank
  FROM seg_reco.recommend_all('als_split', 10, include_purchased => false, only_active => false,
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}')
UNION ALL
SELECT 'popularity', 'with re-buys', c.customer_id, p.product_id, p.rank::int
  FROM (SELECT DISTINCT customer_id FROM rel) c,
       (SELECT product_id, row_number() OVER (ORDER BY popularity DESC, product_id) AS rank FROM pop LIMIT 10) p
UNION ALL
SELECT 'popularity', 'new products only', c.customer_id, p.product_id, p.rank::int
  FROM (SELECT DISTINCT customer_id FROM rel) c
  CROSS JOIN LATERAL (
        SELECT q.product_id, row_number() OVER (ORDER BY q.popularity DESC, q.product_id) AS rank
          FROM (SELECT pp.product_id, pp.popularity FROM pop pp
                 WHERE NOT EXISTS (SELECT 1 FROM past x WHERE x.customer_id = c.customer_id AND x.product_id = pp.product_id)
                 ORDER BY pp.popularity DESC, pp.product_id LIMIT 10) q) p;

WITH users AS (
    SELECT mode, customer_id, count(*) AS nrel FROM rel GROUP BY 1, 2
), marked AS (
    SELECT r.method, r.mode, r.customer_id, r.rank, (x.product_id IS NOT NULL) AS hit
      FROM recs r JOIN users u USING (mode, customer_id)
      LEFT JOIN rel x ON x.mode = r.mode AND x.customer_id = r.customer_id AND x.product_id = r.product_id
), hits AS (
    SELECT m.*, count(*) FILTER (WHERE m.hit) OVER (PARTITION BY m.method, m.mode, m.customer_id ORDER BY m.rank) AS cum
      FROM marked m
), per_user AS (
    SELECT h.method, h.mode, h.customer_id, u.nrel,
           count(*) FILTER (WHERE h.hit) AS nhit,
           sum(CASE WHEN h.hit THEN 1 / log(2, h.rank + 1) ELSE 0 END) AS dcg,
           (SELECT sum(1 / log(2, i + 1)) FROM generate_series(1, least(10, u.nrel)) i) AS idcg,
           sum(CASE WHEN h.hit THEN h.cum::numeric / h.rank ELSE 0 END) / least(10, u.nrel) AS ap
      FROM hits h JOIN users u USING (mode, customer_id)
     GROUP BY 1, 2, 3, 4
)
SELECT p.mode, p.method, count(*) AS customers,
       round(avg(p.nhit / 10.0), 4) AS "precision@10",
       round(avg(p.nhit::numeric / p.nrel), 4) AS "recall@10",
       round(avg(p.dcg / p.idcg), 4) AS "ndcg@10",
       round(avg(p.ap), 4) AS "map@10",
       round((SELECT count(DISTINCT r.product_id) FROM recs r WHERE r.method = p.method AND r.mode = p.mode)::numeric
             / (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'als_split'), 4) AS coverage
  FROM per_user p
 GROUP BY p.mode, p.method
 ORDER BY p.mode DESC, p.method;
