-- ALS training, serving, fold-in, cache and guards on a hand-made matrix
SET extra_float_digits = 0;
SET client_min_messages = warning;

-- Two disjoint taste groups: customers 1-6 buy products 101-106, customers
-- 7-12 buy products 201-206; each customer misses one product of its group.
CREATE TABLE als_inter (customer_id bigint, product_id bigint, weight float8);
INSERT INTO als_inter
SELECT c, p, 1 + (c * p) % 3
  FROM generate_series(1, 12) c, generate_series(1, 6) i,
       LATERAL (SELECT CASE WHEN c <= 6 THEN 100 + i ELSE 200 + i END AS p) pp
 WHERE i <> (c % 6) + 1;
-- a duplicate row (summed) and a return cancelling a purchase (pair dropped)
INSERT INTO als_inter VALUES (1, 101, 1), (2, 102, 5), (2, 102, -5), (2, 102, -2);
SELECT count(*) AS rows, count(DISTINCT (customer_id, product_id)) AS pairs FROM als_inter;

-- training with the CG solver (the default) and the exact solver
SELECT m.name, m.kind, m.params ->> 'solver' AS solver, m.params -> 'factors' AS factors,
       m.metrics -> 'customers' AS customers, m.metrics -> 'products' AS products,
       m.metrics -> 'interactions' AS interactions, m.metrics -> 'pairs_dropped' AS dropped,
       jsonb_array_length(m.metrics -> 'loss') AS iterations
  FROM seg_reco.als_train('groups', factors => 2, regularization => 0.1, alpha => 5,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') m;
SELECT seg_reco.als_train('groups_chol', factors => 2, regularization => 0.1, alpha => 5,
                          iterations => 30, solver => 'cholesky',
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS trained;

-- the loss goes down and ends small
SELECT bool_and(l.loss <= prev * 1.0001) AS decreasing, round((max(l.loss) FILTER (WHERE l.i = 15))::numeric, 2) AS final_loss
  FROM (SELECT i, v::float8 AS loss, lag(v::float8) OVER (ORDER BY i) AS prev
          FROM seg_reco.models m, jsonb_array_elements_text(m.metrics -> 'loss') WITH ORDINALITY AS e(v, i)
         WHERE m.name = 'groups') l;

-- stored factors: one row per customer and product, of length factors
SELECT count(*), min(array_length(factors, 1)), max(array_length(factors, 1))
  FROM seg_reco.als_customer_factors WHERE model = 'groups';
SELECT count(*), min(array_length(factors, 1)) FROM seg_reco.als_product_factors WHERE model = 'groups';

-- each customer's recommendations come from its own group
SELECT c AS customer_id,
       bool_and(CASE WHEN c <= 6 THEN r.product_id < 200 ELSE r.product_id > 200 END) AS own_group
  FROM generate_series(1, 12) c, seg_reco.recommend_for(c, 5, model => 'groups') r
 GROUP BY c ORDER BY c;

-- without re-buys, the one product of the group the customer lacks comes first
-- (ALS alone)
SELECT c AS customer_id, r.product_id, r.rank
  FROM generate_series(1, 12) c,
       seg_reco.recommend_for(c, 1, include_purchased => false, model => 'groups', weights => '{"als": 1}') r
 ORDER BY c;

-- the candidates filter, and k larger than the catalogue
SELECT product_id, rank FROM seg_reco.recommend_for(1, 5, candidates => ARRAY[201, 104, 999]::bigint[], model => 'groups');
SELECT count(*) FROM seg_reco.recommend_for(1, 1000, model => 'groups');

-- CG and Cholesky agree
SELECT max(abs(a.score - b.score)) < 0.05 AS agree, bool_and(a.product_id = b.product_id) AS same_order
  FROM seg_reco.recommend_for(3, 6, model => 'groups') a
  JOIN seg_reco.recommend_for(3, 6, model => 'groups_chol') b USING (rank);

-- an unknown customer without history gets the popularity list, no error
SELECT product_id, round(score::numeric, 3) AS popularity, rank
  FROM seg_reco.recommend_for(999, 3, model => 'groups');

-- similar products come from the same group
SELECT bool_and(similar_product_id < 200) AS same_group, count(*)
  FROM seg_reco.similar_products(101, 5, model => 'groups');
SELECT count(*) FROM seg_reco.similar_products(999, 5, model => 'groups');

-- fold-in: customer 13 buys after training like group 2; compare with a retrain
INSERT INTO als_inter VALUES (13, 201, 2), (13, 202, 1), (13, 203, 3);
CREATE TABLE fold AS SELECT * FROM seg_reco.recommend_for(13, 6, model => 'groups', weights => '{"als": 1}');
SELECT bool_and(product_id > 200) AS own_group, count(*) FROM fold;
SELECT seg_reco.als_train('groups_retrained', factors => 2, regularization => 0.1, alpha => 5,
                          iterations => 30, solver => 'cholesky',
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS trained;
SELECT max(abs(f.score - r.score)) < 0.1 AS close, corr(f.score, r.score) > 0.9 AS correlated
  FROM seg_reco.recommend_for(13, 12, model => 'groups') f
  JOIN seg_reco.recommend_for(13, 12, model => 'groups_retrained') r USING (product_id);

-- why_recommended: contributions of the history sum to the folded-in score
-- (with als alone the blended score is that score scaled to [0, 1]: affine)
SELECT w.history_product_id, w.rank, w.purchased FROM seg_reco.why_recommended(13, 204, model => 'groups') w;
SELECT corr(w.total, f.score) > 0.999999 AS sums_to_score
  FROM fold f,
       LATERAL (SELECT sum(x.contribution) AS total
                  FROM seg_reco.why_recommended(13, f.product_id, 100, model => 'groups') x) w;
SELECT count(*) FROM seg_reco.why_recommended(13, 999, model => 'groups');
SELECT count(*) FROM seg_reco.why_recommended(999, 204, model => 'groups');

-- recommend_all: top n for every customer of the model, same as recommend_for
SELECT count(*), count(DISTINCT customer_id) FROM seg_reco.recommend_all('groups', 3);
SELECT bool_and(a.product_id = r.product_id AND abs(a.score - r.score) < 1e-9) AS matches
  FROM seg_reco.recommend_all('groups', 3) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 3, model => 'groups') r ON r.rank = a.rank;
SELECT bool_and(a.product_id = r.product_id) AS matches_without_rebuys
  FROM seg_reco.recommend_all('groups', 2, include_purchased => false) a
  JOIN LATERAL seg_reco.recommend_for(a.customer_id, 2, include_purchased => false, model => 'groups') r
    ON r.rank = a.rank;

-- recommend_all restricted to customer_ids: the rows of the call over all
-- customers for those of them with factors (999 has none: no rows)
SELECT count(*) AS rows, count(DISTINCT customer_id) AS customers
  FROM seg_reco.recommend_all('groups', 3, customer_ids => '{5, 1, 999, 5}');
SELECT count(*) AS differ
  FROM ((SELECT * FROM seg_reco.recommend_all('groups', 3, customer_ids => '{5, 1, 999, 5}'))
        EXCEPT ALL (SELECT * FROM seg_reco.recommend_all('groups', 3) WHERE customer_id IN (1, 5))) x;
SELECT count(*) AS rows FROM seg_reco.recommend_all('groups', 3, customer_ids => '{}');
SELECT count(*) AS differ
  FROM ((SELECT * FROM seg_reco.recommend_all('groups', 2, include_purchased => false, customer_ids => '{2, 9}'))
        EXCEPT ALL (SELECT * FROM seg_reco.recommend_all('groups', 2, include_purchased => false) WHERE customer_id IN (2, 9))) x;

-- als_fold_in (issue 12): a customer's factors solved again against the
-- fixed product factors, the exact customer half-step of training.  A
-- model trained to convergence (Cholesky, 1000 iterations) is a fixed point:
-- folding its customers in with unchanged data gives their trained factors
-- back (training ends with a product half-step, so after few iterations
-- they differ by how much that step moved: 2 iterations, below)
SELECT seg_reco.als_train('fold', factors => 2, regularization => 0.1, alpha => 5, iterations => 1000,
                          solver => 'cholesky',
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS trained;
SELECT seg_reco.als_train('fold2', factors => 2, regularization => 0.1, alpha => 5, iterations => 2,
                          solver => 'cholesky',
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS trained;
CREATE TABLE fold_before AS SELECT * FROM seg_reco.als_customer_factors WHERE model IN ('fold', 'fold2');
CREATE FUNCTION pg_temp.rel_change(m text) RETURNS float8 LANGUAGE sql AS $$
  SELECT max(sqrt((SELECT sum((x - y) ^ 2) FROM unnest(a.factors, b.factors) u(x, y))
              / (SELECT sum(y ^ 2) FROM unnest(b.factors) u(y))))
    FROM seg_reco.als_customer_factors a JOIN fold_before b USING (model, customer_id) WHERE a.model = m $$;
SELECT r - 'seconds' AS result FROM seg_reco.als_fold_in('fold', ARRAY(SELECT generate_series(1, 13)::bigint)) r;
SELECT r - 'seconds' AS result FROM seg_reco.als_fold_in('fold2', ARRAY(SELECT generate_series(1, 13)::bigint)) r;
SELECT pg_temp.rel_change('fold') < 1e-5 AS converged_reproduced, pg_temp.rel_change('fold2') > 1e-2 AS two_iterations_moved;
-- the solve, checked by hand in SQL: the normal equations
-- (Y^T Y + reg I + sum_i alpha w_i y_i y_i^T) x = sum_i (1 + alpha w_i) y_i
-- hold for customer 3's stored factors (float4: to about 1e-6)
WITH y AS (SELECT product_id, factors FROM seg_reco.als_product_factors WHERE model = 'fold'),
     x AS (SELECT factors FROM seg_reco.als_customer_factors WHERE model = 'fold' AND customer_id = 3),
     h AS (SELECT product_id, sum(weight) AS w FROM als_inter WHERE customer_id = 3 GROUP BY product_id HAVING sum(weight) > 0),
     xy AS (SELECT y.product_id, y.factors, (SELECT sum(a * b) FROM unnest(y.factors, x.factors) u(a, b)) AS s FROM y, x),
     lhs AS (SELECT j, sum(xy.factors[j] * (xy.s + 5 * coalesce(h.w, 0) * xy.s)) + 0.1 * (SELECT factors[j] FROM x) AS v
               FROM xy LEFT JOIN h USING (product_id), generate_series(1, 2) j GROUP BY j),
     rhs AS (SELECT j, sum(xy.factors[j] * (1 + 5 * h.w)) AS v FROM xy JOIN h USING (product_id), generate_series(1, 2) j GROUP BY j)
SELECT max(abs(lhs.v - rhs.v)) / max(abs(rhs.v)) < 1e-5 AS normal_equations_hold FROM lhs JOIN rhs USING (j);

-- a new customer (14, group 1's products): recommend_for solved it on the
-- fly before; stored, it is served the same list (scores to float4
-- precision), which is the top of x . y_i computed in SQL (the first six,
-- group 1's products: group 2's scores are zero up to rounding)
INSERT INTO als_inter VALUES (14, 101, 3), (14, 103, 1), (14, 105, 2);
CREATE TABLE fold_fly AS
SELECT * FROM seg_reco.recommend_for(14, 6, only_active => false, model => 'fold', weights => '{"als": 1}');
SELECT r - 'seconds' AS result FROM seg_reco.als_fold_in('fold', '{14}') r;
SELECT count(*) AS stored FROM seg_reco.als_customer_factors WHERE model = 'fold' AND customer_id = 14;
SELECT count(*) AS listed, bool_and(s.product_id = f.product_id) AS same_list,
       max(abs(s.score - f.score)) < 1e-5 AS same_scores, bool_and(s.product_id < 200) AS own_group
  FROM seg_reco.recommend_for(14, 6, only_active => false, model => 'fold', weights => '{"als": 1}') s
  JOIN fold_fly f USING (rank);
SELECT array_agg(r.product_id ORDER BY r.rank) = (
         SELECT array_agg(product_id ORDER BY s DESC) FROM (
           SELECT p.product_id, (SELECT sum(a::float8 * b) FROM unnest(p.factors, c.factors) u(a, b)) AS s
             FROM seg_reco.als_product_factors p, seg_reco.als_customer_factors c
            WHERE p.model = 'fold' AND c.model = 'fold' AND c.customer_id = 14
            ORDER BY s DESC LIMIT 6) t) AS list_is_sql_top
  FROM seg_reco.recommend_for(14, 6, only_active => false, model => 'fold',
                              weights => '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}') r;
-- the model's customer count follows; its version (the product side) does not change
SELECT (m.model -> 'customers')::int AS customers, m.model -> 'version' = b.model -> 'version' AS same_version
  FROM seg_reco.models m, (SELECT model FROM seg_reco.models WHERE name = 'fold') b WHERE m.name = 'fold';
-- a customer with no interaction left leaves the model; one that never had
-- any changes nothing; duplicates count once; other customers untouched
CREATE TABLE fold_c12 AS SELECT * FROM als_inter WHERE customer_id = 12;
DELETE FROM als_inter WHERE customer_id = 12;
CREATE TABLE fold_mid AS SELECT * FROM seg_reco.als_customer_factors WHERE model = 'fold';
SELECT r - 'seconds' AS result FROM seg_reco.als_fold_in('fold', '{12, 12, 777, 2}') r;
SELECT count(*) AS customer_12_rows FROM seg_reco.als_customer_factors WHERE model = 'fold' AND customer_id = 12;
SELECT count(*) AS untouched, bool_and(a.factors = b.factors) AS identical
  FROM seg_reco.als_customer_factors a JOIN fold_mid b USING (model, customer_id)
 WHERE a.customer_id NOT IN (2, 12);
SELECT (model -> 'customers')::int AS customers FROM seg_reco.models WHERE name = 'fold';
-- a product the model does not know is left out of the solve
INSERT INTO als_inter VALUES (14, 999, 4);
SELECT r -> 'interactions' AS interactions, r -> 'interactions_unknown_product' AS unknown_product
  FROM seg_reco.als_fold_in('fold', '{14}') r;
-- an empty array does nothing; any dimensions are fine
SELECT r - 'seconds' AS result FROM seg_reco.als_fold_in('fold', '{}') r;
SELECT r -> 'updated' AS updated FROM seg_reco.als_fold_in('fold', '{{1, 2}, {3, 4}}') r;
-- bounded memory: maintenance_work_mem at its minimum reads the pairs in
-- runs on temporary files (60,000 rows, above): the same factors
CREATE TABLE fold_many AS
SELECT (g * 7919) % 300 + 1 AS customer_id, (g * 104729) % 40 + 1 AS product_id,
       ((g % 13) - 2) * 0.25 AS weight
  FROM generate_series(1::bigint, 60000) g;
SELECT seg_reco.als_train('fold_many', factors => 4, iterations => 3, solver => 'cholesky',
                          source => 'SELECT customer_id, product_id, weight FROM public.fold_many') IS NOT NULL AS trained;
SELECT r -> 'updated' AS updated FROM seg_reco.als_fold_in('fold_many', ARRAY(SELECT generate_series(1, 300)::bigint)) r;
CREATE TABLE fold_many_mem AS SELECT * FROM seg_reco.als_customer_factors WHERE model = 'fold_many';
SET maintenance_work_mem = '1MB';
SELECT r -> 'updated' AS updated FROM seg_reco.als_fold_in('fold_many', ARRAY(SELECT generate_series(1, 300)::bigint)) r;
RESET maintenance_work_mem;
SELECT count(*) AS customers, bool_and(a.factors = b.factors) AS same_factors
  FROM seg_reco.als_customer_factors a JOIN fold_many_mem b USING (model, customer_id);
DELETE FROM seg_reco.models WHERE name IN ('fold', 'fold2', 'fold_many');
DELETE FROM als_inter WHERE customer_id = 14;
INSERT INTO als_inter SELECT * FROM fold_c12;
DROP TABLE fold_before, fold_fly, fold_mid, fold_c12, fold_many, fold_many_mem;

-- atomic replacement and the cache: a rolled-back retrain leaves the old
-- model, and the cache (loaded with the new one inside the transaction) is
-- not served stale afterwards
CREATE TABLE before AS SELECT * FROM seg_reco.recommend_for(1, 3, model => 'groups');
BEGIN;
SELECT seg_reco.als_train('groups', factors => 3, regularization => 1, alpha => 1, seed => 7,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS retrained;
SELECT count(*) AS factors_in_txn FROM seg_reco.als_customer_factors WHERE model = 'groups';
SELECT bool_or(abs(r.score - b.score) > 1e-6) AS new_model_served
  FROM seg_reco.recommend_for(1, 3, model => 'groups') r JOIN before b USING (rank);
ROLLBACK;
SELECT bool_and(abs(r.score - b.score) < 1e-12 AND r.product_id = b.product_id) AS old_model_served
  FROM seg_reco.recommend_for(1, 3, model => 'groups') r JOIN before b USING (rank);
SELECT m.params -> 'factors' AS factors FROM seg_reco.models m WHERE m.name = 'groups';
-- a committed retrain is served at once
SELECT seg_reco.als_train('groups', factors => 3, regularization => 1, alpha => 1, seed => 7,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter') IS NOT NULL AS retrained;
SELECT bool_or(abs(r.score - b.score) > 1e-6) AS new_model_served
  FROM seg_reco.recommend_for(1, 3, model => 'groups') r JOIN before b USING (rank);
SELECT count(*) AS customers_now FROM seg_reco.als_customer_factors WHERE model = 'groups';
-- a retrain that fails leaves the model as it was
SELECT seg_reco.als_train('groups', factors => 50,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT m.params -> 'factors' AS factors FROM seg_reco.models m WHERE m.name = 'groups';
-- deleting the registry row deletes the factors
DELETE FROM seg_reco.models WHERE name = 'groups_retrained';
SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'groups_retrained';

-- guards
\set VERBOSITY default
SELECT seg_reco.als_train('g', factors => 0, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', factors => 13, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', source => 'SELECT customer_id, product_id, weight FROM public.als_inter WHERE false');
SELECT seg_reco.als_train('g', factors => 2, source => 'SELECT 1 AS customer_id, 2 AS product_id, NULL::float8 AS weight');
SELECT seg_reco.als_train('g', factors => 2, source => 'SELECT 1 AS customer_id, 2 AS product_id, ''NaN''::float8 AS weight');
SELECT seg_reco.als_train('g', factors => 2, source => 'SELECT 1 AS customer_id, 2 AS product_id, -1 AS weight');
SELECT seg_reco.als_train('g', factors => 2, regularization => 0, alpha => 1e300,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', regularization => -1, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', regularization => 'NaN', source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', alpha => 0, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', iterations => 0, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', solver => 'sgd', source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', seed => NULL, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('', source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT seg_reco.als_train('g', source => 'SELECT customer_id, product_id, weight FROM public.als_inter', options => '{"view_weight": 1}');
SELECT seg_reco.als_train('g', options => '{"like_weight": 1}');
SELECT seg_reco.als_train('g', options => '{"view_weight": -1}');
SELECT seg_reco.als_train('g', options => '{"half_life_days": 0}');
SELECT seg_reco.als_train('g');
INSERT INTO seg_reco.models (name, kind, model, trained_at) VALUES ('km', 'kmeans', '{}', '2025-01-02 03:04:05+00');
SELECT seg_reco.als_train('km', factors => 2, source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT * FROM seg_reco.recommend_for(1, model => 'km');
-- replace => true: a training that fails keeps the other model; one that
-- succeeds replaces it
SELECT seg_reco.als_train('km', factors => 50, replace => true,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT kind, trained_at = '2025-01-02 03:04:05+00' AS untouched FROM seg_reco.models WHERE name = 'km';
SELECT name, kind, metrics -> 'customers' AS customers
  FROM seg_reco.als_train('km', factors => 2, replace => true,
                          source => 'SELECT customer_id, product_id, weight FROM public.als_inter');
SELECT count(*) AS recommended FROM seg_reco.recommend_for(1, 3, model => 'km');
-- and the other way round: a kmeans model replacing an als model takes its factor rows along
UPDATE seg_reco.models SET trained_at = '2025-01-02 03:04:05+00' WHERE name = 'km';
\set SHOW_CONTEXT never
SELECT seg_reco.kmeans_save('km', seg_reco.kmeans_train(f, 1)) IS NOT NULL AS saved
  FROM (VALUES ('{1, 2}'::float8[])) v(f);
\set SHOW_CONTEXT errors
SELECT (SELECT kind FROM seg_reco.models WHERE name = 'km') AS kind,
       (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'km') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'km') AS product_factors;
SELECT (seg_reco.kmeans_save('km', seg_reco.kmeans_train(f, 1), replace => true)::jsonb) ->> 'k' AS replacing_k
  FROM (VALUES ('{1, 2}'::float8[])) v(f);
SELECT (SELECT kind FROM seg_reco.models WHERE name = 'km') AS kind,
       (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'km') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'km') AS product_factors;
SELECT * FROM seg_reco.recommend_for(1, model => 'km');
DELETE FROM seg_reco.models WHERE name = 'km';
SELECT * FROM seg_reco.recommend_for(1, model => 'nope');
SELECT * FROM seg_reco.recommend_for(1, 0, model => 'groups');
SELECT * FROM seg_reco.recommend_for(NULL, model => 'groups');
SELECT * FROM seg_reco.similar_products(101, -1, model => 'groups');
SELECT * FROM seg_reco.recommend_all('groups', 0);
SELECT * FROM seg_reco._als_train('g', 2, 0.1, 1, 5, 1, 'cg', 'SELECT 1', false, '{}');
SELECT * FROM seg_reco.recommend_all('groups', customer_ids => '{1, NULL}');
SELECT seg_reco.als_fold_in('nope', '{1}');
SELECT seg_reco.als_fold_in(NULL, '{1}');
SELECT seg_reco.als_fold_in('groups', NULL);
SELECT seg_reco.als_fold_in('groups', '{1, NULL}');
INSERT INTO seg_reco.models (name, kind, model, trained_at) VALUES ('km2', 'kmeans', '{}', now());
SELECT seg_reco.als_fold_in('km2', '{1}');
DELETE FROM seg_reco.models WHERE name = 'km2';

-- markings: training is volatile and unsafe in parallel, serving stable and
-- parallel safe; training is not executable by PUBLIC
SELECT p.proname, p.provolatile, p.proparallel,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute,
       p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'seg_reco'::regnamespace
   AND p.proname IN ('als_train', '_als_train', 'als_fold_in', 'als_source_query', 'recommend_for',
                     'why_recommended', 'similar_products', 'recommend_all')
 ORDER BY p.proname;

-- Memory bounded by maintenance_work_mem (issue 12): with it at its minimum
-- (1MB: 16384 rows in memory) the 60,000 rows below are sorted in runs on
-- temporary files and merged.  Rows of a pair, receipts repeated with other
-- weights, unkeyed rows and pairs summing to zero or less all straddle the
-- runs; the model must equal, to the bit, the one sorted in memory.
CREATE TABLE als_many AS
SELECT (g * 7919) % 300 + 1 AS customer_id, (g * 104729) % 40 + 1 AS product_id,
       ((g % 13) - 2) * 0.25 AS weight,
       CASE WHEN g % 4 = 0 THEN NULL ELSE (g * 31) % 7 END AS receipt_id
  FROM generate_series(1::bigint, 60000) g;
SELECT count(*) AS rows, count(DISTINCT (customer_id, product_id)) AS pairs FROM als_many;
SELECT seg_reco._als_train('many_mem', 4, 0.1, 1, 3, 1, 'cg',
                           'SELECT customer_id::int8, product_id::int8, weight::float8, receipt_id::int8 FROM public.als_many',
                           false, '{}') > 0 AS trained;
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_files_before FROM pg_stat_database WHERE datname = current_database() \gset
SET maintenance_work_mem = '1MB';
SELECT seg_reco._als_train('many_spilled', 4, 0.1, 1, 3, 1, 'cg',
                           'SELECT customer_id::int8, product_id::int8, weight::float8, receipt_id::int8 FROM public.als_many',
                           false, '{}') > 0 AS trained;
RESET maintenance_work_mem;
SELECT pg_stat_force_next_flush();
SELECT pg_stat_clear_snapshot();
SELECT temp_files - :temp_files_before >= 4 AS sorted_in_runs
  FROM pg_stat_database WHERE datname = current_database();
SELECT a.metrics -> 'interactions' AS interactions, a.metrics -> 'pairs_dropped' AS dropped,
       a.metrics -> 'interactions' = b.metrics -> 'interactions'
       AND a.metrics -> 'pairs_dropped' = b.metrics -> 'pairs_dropped'
       AND a.metrics -> 'loss' = b.metrics -> 'loss' AS same_metrics
  FROM seg_reco.models a, seg_reco.models b
 WHERE a.name = 'many_mem' AND b.name = 'many_spilled';
SELECT count(*) AS customers, bool_and(a.factors = b.factors) AS same_customer_factors
  FROM seg_reco.als_customer_factors a
  JOIN seg_reco.als_customer_factors b USING (customer_id)
 WHERE a.model = 'many_mem' AND b.model = 'many_spilled';
SELECT count(*) AS products, bool_and(a.factors = b.factors) AS same_product_factors
  FROM seg_reco.als_product_factors a
  JOIN seg_reco.als_product_factors b USING (product_id)
 WHERE a.model = 'many_mem' AND b.model = 'many_spilled';
DELETE FROM seg_reco.models WHERE name IN ('many_mem', 'many_spilled');
DROP TABLE als_many;

-- The matrix in blocks (issue 12): when the pairs outgrow maintenance_work_mem
-- (24 bytes a pair: 1MB holds 43,690), both sides of the matrix are cut into
-- blocks of half of it kept in temporary files, read one at a time in each
-- half-iteration.  The model must equal, to the bit, the one built in memory,
-- with either solver; matrix_blocks and temp_bytes say how it was kept (every
-- pair written once each way: 12 bytes a side).
CREATE TABLE als_wide AS
SELECT c AS customer_id, p AS product_id, 1 + (c * p) % 5 AS weight
  FROM generate_series(1::bigint, 1000) c, generate_series(1::bigint, 150) p
 WHERE (c * 7 + p * 13) % 10 < 8;
SELECT count(*) AS pairs FROM als_wide;
SELECT seg_reco._als_train('wide_' || s, 4, 0.1, 1, 3, 1, s,
                           'SELECT customer_id::int8, product_id::int8, weight::float8, NULL::int8 AS receipt_id FROM public.als_wide',
                           false, '{}') > 0 AS trained
  FROM unnest(ARRAY['cg', 'cholesky']) s;
SET maintenance_work_mem = '1MB';
SELECT seg_reco._als_train('wide_blocks_' || s, 4, 0.1, 1, 3, 1, s,
                           'SELECT customer_id::int8, product_id::int8, weight::float8, NULL::int8 AS receipt_id FROM public.als_wide',
                           false, '{}') > 0 AS trained
  FROM unnest(ARRAY['cg', 'cholesky']) s;
RESET maintenance_work_mem;
SELECT b.name, a.metrics -> 'matrix_blocks' AS in_memory, b.metrics -> 'matrix_blocks' AS blocks,
       (b.metrics ->> 'temp_bytes')::bigint = 24 * (b.metrics ->> 'interactions')::bigint AS every_pair_written_once,
       a.metrics -> 'loss' = b.metrics -> 'loss' AS same_loss
  FROM seg_reco.models a
  JOIN seg_reco.models b ON b.name = 'wide_blocks_' || substr(a.name, 6)
 WHERE a.name IN ('wide_cg', 'wide_cholesky')
 ORDER BY b.name;
SELECT a.model, count(*) AS customers, bool_and(a.factors = b.factors) AS same_customer_factors
  FROM seg_reco.als_customer_factors a
  JOIN seg_reco.als_customer_factors b ON b.customer_id = a.customer_id AND b.model = 'wide_blocks_' || substr(a.model, 6)
 WHERE a.model IN ('wide_cg', 'wide_cholesky')
 GROUP BY a.model ORDER BY a.model;
SELECT a.model, count(*) AS products, bool_and(a.factors = b.factors) AS same_product_factors
  FROM seg_reco.als_product_factors a
  JOIN seg_reco.als_product_factors b ON b.product_id = a.product_id AND b.model = 'wide_blocks_' || substr(a.model, 6)
 WHERE a.model IN ('wide_cg', 'wide_cholesky')
 GROUP BY a.model ORDER BY a.model;
-- product ids far apart (ranked through a hash table instead of a table over
-- their range), in blocks: the same model, the ids' order being the same
SET maintenance_work_mem = '1MB';
SELECT seg_reco._als_train('wide_far_ids', 4, 0.1, 1, 3, 1, 'cg',
                           'SELECT customer_id::int8, product_id * 1000000007 - 4611686018427387904 AS product_id, weight::float8, NULL::int8 AS receipt_id FROM public.als_wide',
                           false, '{}') > 0 AS trained;
RESET maintenance_work_mem;
SELECT b.metrics -> 'matrix_blocks' AS blocks, count(*) AS customers,
       bool_and(fa.factors = fb.factors) AS same_customer_factors
  FROM seg_reco.models b
  JOIN seg_reco.als_customer_factors fb ON fb.model = b.name
  JOIN seg_reco.als_customer_factors fa ON fa.model = 'wide_cg' AND fa.customer_id = fb.customer_id
 WHERE b.name = 'wide_far_ids'
 GROUP BY 1;
SELECT min(product_id) AS min_id, count(*) AS products FROM seg_reco.als_product_factors WHERE model = 'wide_far_ids';
DELETE FROM seg_reco.models WHERE name LIKE 'wide\_%';
DROP TABLE als_wide;
