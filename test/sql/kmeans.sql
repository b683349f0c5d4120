-- k-means: training, model text form, assignment, feature preparation,
-- stored models, reproducibility, and every error.
SET extra_float_digits = 0;

-- three clusters of four points around (0,0), (10,0) and (0,10)
CREATE TEMP TABLE km_pts (g int, f float8[]);
INSERT INTO km_pts
SELECT g, ARRAY[cx + dx, cy + dy]
  FROM (VALUES (1, 0, 0), (2, 10, 0), (3, 0, 10)) c(g, cx, cy),
       (VALUES (1, 0), (-1, 0), (0, 1), (0, -1)) o(dx, dy);

CREATE TEMP TABLE km_model AS
SELECT seg_reco.kmeans_train(f, 3, '{"seed": 7}') AS m FROM km_pts;

-- centroids are the cluster means, each cluster has 4 points, inertia 12
SELECT (m::jsonb) ->> 'k' AS k, (m::jsonb) ->> 'd' AS d, (m::jsonb) ->> 'n' AS n,
       round(((m::jsonb) ->> 'inertia')::numeric, 9) AS inertia, (m::jsonb) -> 'sizes' AS sizes,
       (m::jsonb) -> 'params' AS params
  FROM km_model;
SELECT ARRAY[round((c ->> 0)::numeric, 9), round((c ->> 1)::numeric, 9)] AS centroid
  FROM km_model, jsonb_array_elements((m::jsonb) -> 'centroids') c
 ORDER BY 1;

-- every point lands with its own group; the distance to its centroid is 1
SELECT count(DISTINCT seg_reco.kmeans_assign(f, m)) AS clusters,
       count(DISTINCT g || ':' || seg_reco.kmeans_assign(f, m)) AS group_cluster_pairs,
       min((seg_reco.kmeans_assign_distance(f, m)).distance) AS min_dist,
       max((seg_reco.kmeans_assign_distance(f, m)).distance) AS max_dist
  FROM km_pts, km_model;
SELECT seg_reco.kmeans_assign('{9.5, 0.5}', m) = seg_reco.kmeans_assign('{10, 0}', m) AS same_cluster
  FROM km_model;
SELECT round(seg_reco.kmeans_silhouette('{0, 0}', (SELECT m FROM km_model))::numeric, 6) AS centre_silhouette,
       round(avg(seg_reco.kmeans_silhouette(f, (SELECT m FROM km_model)))::numeric, 6) AS simplified_silhouette
  FROM km_pts;

-- the text form round-trips exactly, also through jsonb
SELECT m::text::seg_reco.kmeans_model::text = m::text AS text_round_trip,
       m::jsonb::seg_reco.kmeans_model::text = m::text AS jsonb_round_trip
  FROM km_model;

-- the same seed gives the same model; rows with a NULL features array are skipped
SELECT (SELECT seg_reco.kmeans_train(f, 3, '{"seed": 7}')::text FROM km_pts) =
       (SELECT seg_reco.kmeans_train(f, 3, '{"seed": 7}')::text FROM km_pts) AS reproducible;
SELECT (seg_reco.kmeans_train(f, 3)::jsonb) ->> 'n' AS n_without_nulls
  FROM (SELECT f FROM km_pts UNION ALL SELECT NULL) s;
SELECT (SELECT array_agg(round(v::numeric, 9)) FROM jsonb_array_elements_text(m -> 'centroids' -> 0) v) AS one_cluster
  FROM (SELECT seg_reco.kmeans_train(f, 1)::jsonb AS m FROM km_pts) s;

-- feature preparation: log1p on column 2, z-scores; stored and applied by assign
CREATE TEMP TABLE km_money (f float8[]);
INSERT INTO km_money VALUES ('{1, 0}'), ('{2, 0}'), ('{1, 99}'), ('{2, 99}');
CREATE TEMP TABLE km_prep AS
SELECT seg_reco.kmeans_train(f, 2, '{"standardize": true, "log1p": [2], "seed": 1}') AS m FROM km_money;
SELECT (m::jsonb) -> 'params' -> 'log1p' AS log1p,
       (m::jsonb) -> 'transform' -> 'mean' AS mean,
       (SELECT array_agg(round(s::numeric, 6)) FROM jsonb_array_elements_text((m::jsonb) -> 'transform' -> 'scale') s) AS scale,
       (m::jsonb) -> 'sizes' AS sizes
  FROM km_prep;
SELECT f, seg_reco.kmeans_assign(f, m) = seg_reco.kmeans_assign('{1.5, 0}', m) AS with_zero
  FROM km_money, km_prep ORDER BY f;

-- stored models: save, replace atomically, assign by name
SELECT (seg_reco.kmeans_save('km_test', m)::jsonb) ->> 'k' AS saved_k FROM km_model;
SELECT name, kind, params ->> 'seed' AS seed, round((metrics ->> 'inertia')::numeric, 9) AS inertia, metrics -> 'sizes' AS sizes
  FROM seg_reco.models WHERE name = 'km_test';
SELECT count(*) AS agree FROM km_pts, km_model
 WHERE seg_reco.kmeans_assign(f, 'km_test') = seg_reco.kmeans_assign(f, m);
SELECT seg_reco.kmeans_load('km_test')::text = m::text AS loaded_same FROM km_model;
SELECT (seg_reco.kmeans_save('km_test', m)::jsonb) ->> 'k' AS replaced_k FROM km_prep;
SELECT count(*) AS models, min(metrics ->> 'n') AS n FROM seg_reco.models WHERE name = 'km_test';
SELECT has_function_privilege('public', 'seg_reco.kmeans_save(text, seg_reco.kmeans_model, boolean)', 'execute') AS public_can_save;
-- a name held by a model of another kind (an als model with its factor
-- rows): refused and left as it was; replaced, factor rows and all, only
-- with replace => true
INSERT INTO seg_reco.models (name, kind, model, trained_at)
VALUES ('km_clash', 'als', '{"version": 0}', '2025-01-02 03:04:05+00');
INSERT INTO seg_reco.als_customer_factors VALUES ('km_clash', 1, '{1, 2}');
INSERT INTO seg_reco.als_product_factors VALUES ('km_clash', 10, '{1, 2}', 1);
\set SHOW_CONTEXT never
SELECT seg_reco.kmeans_save('km_clash', m) IS NOT NULL AS saved FROM km_model;
\set SHOW_CONTEXT errors
SELECT kind, trained_at = '2025-01-02 03:04:05+00' AS untouched,
       (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'km_clash') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'km_clash') AS product_factors
  FROM seg_reco.models WHERE name = 'km_clash';
SELECT (seg_reco.kmeans_save('km_clash', m, replace => true)::jsonb) ->> 'k' AS replacing_k FROM km_model;
SELECT kind, metrics -> 'sizes' AS sizes,
       (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'km_clash') AS customer_factors,
       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'km_clash') AS product_factors
  FROM seg_reco.models WHERE name = 'km_clash';
-- replace => true over the same kind is a plain retrain
SELECT (seg_reco.kmeans_save('km_clash', m, true)::jsonb) ->> 'k' AS retrained_k FROM km_prep;
SELECT kind, metrics ->> 'n' AS n FROM seg_reco.models WHERE name = 'km_clash';
DELETE FROM seg_reco.models WHERE name = 'km_clash';

-- errors
SELECT seg_reco.kmeans_train(f, 0) FROM km_pts;
SELECT seg_reco.kmeans_train(f, 13) FROM km_pts;
SELECT seg_reco.kmeans_train(f, 3) FROM (SELECT '{1, 1}'::float8[] AS f FROM generate_series(1, 5) UNION ALL SELECT '{2, 2}') s;
SELECT seg_reco.kmeans_train(f, 2) FROM (VALUES ('{1, 2}'::float8[]), ('{1, 2, 3}')) v(f);
-- the parameters must be the same in every row: with the first row's, the
-- model would depend on the order the rows arrive in
SELECT seg_reco.kmeans_train(f, g + 1) FROM km_pts;
SELECT seg_reco.kmeans_train(f, 3, jsonb_build_object('seed', g)) FROM km_pts;
SELECT seg_reco.kmeans_train(f, 3, CASE WHEN g = 1 THEN '{"seed": 7}'::jsonb END) FROM km_pts;
SELECT seg_reco.kmeans_select_k(f, 2, g + 2) FROM km_pts;
SELECT seg_reco.gmm_train(f, 2, jsonb_build_object('seed', g)) FROM km_pts;
SELECT seg_reco.silhouette(f, g, 12, g) FROM km_pts;
-- equal jsonb values written differently are the same options
SELECT seg_reco.kmeans_train(f, 3, CASE WHEN g = 1 THEN '{"seed": 7, "max_iter": 50}'::jsonb
                                        ELSE '{"max_iter": 50.0, "seed": 7}' END)::text =
       (SELECT seg_reco.kmeans_train(f, 3, '{"seed": 7, "max_iter": 50}')::text FROM km_pts) AS same_model
  FROM km_pts;
SELECT seg_reco.kmeans_train(f, 1) FROM (VALUES ('{1, NULL}'::float8[])) v(f);
SELECT seg_reco.kmeans_train(f, 1) FROM (VALUES ('{1, NaN}'::float8[])) v(f);
SELECT seg_reco.kmeans_train(f, 1) FROM (VALUES ('{-Infinity, 1}'::float8[])) v(f);
SELECT seg_reco.kmeans_train(f, 1) FROM (VALUES ('{}'::float8[])) v(f);
SELECT seg_reco.kmeans_train(f, 1) FROM (VALUES ('{{1, 2}, {3, 4}}'::float8[])) v(f);
SELECT seg_reco.kmeans_train(f, 2) FROM km_pts WHERE false;
SELECT seg_reco.kmeans_train(NULL::float8[], 2) FROM km_pts;
SELECT seg_reco.kmeans_train(f, NULL) FROM km_pts;
SELECT seg_reco.kmeans_train(f, 2, '{"n_init": 0}') FROM km_pts;
SELECT seg_reco.kmeans_train(f, 2, '{"ninit": 3}') FROM km_pts;
SELECT seg_reco.kmeans_train(f, 2, '{"log1p": [3]}') FROM km_pts;
SELECT seg_reco.kmeans_train(f, 2, '[1]') FROM km_pts;
SELECT seg_reco.kmeans_train(f, 2, '{"log1p": [1]}') FROM km_pts;
SELECT seg_reco.kmeans_assign('{1, 2, 3}', m) FROM km_model;
SELECT seg_reco.kmeans_assign('{1, 2}', 'no_such_model');
SELECT '{"k": 1}'::seg_reco.kmeans_model;
SELECT 'not json'::seg_reco.kmeans_model;

-- seg_reco.threads: 50,000 points run in several tasks; the model does not
-- depend on the number of threads (sums are reduced in task order); k = 40
-- takes the dgemm path, k = 4 the small kernel
CREATE TEMP TABLE km_many AS
SELECT ARRAY[10 * sin(i) + 20 * (i % 3), 10 * cos(1.3 * i) + 7 * (i % 5), (i % 11)::float8]::float8[] AS f
  FROM generate_series(1, 50000) i;
SET seg_reco.threads = 1;
CREATE TEMP TABLE km_t1 AS
SELECT seg_reco.kmeans_train(f, 4, '{"seed": 3}')::text AS m4,
       seg_reco.kmeans_train(f, 40, '{"seed": 3, "n_init": 1}')::text AS m40 FROM km_many;
SET seg_reco.threads = 2;
CREATE TEMP TABLE km_t2 AS
SELECT seg_reco.kmeans_train(f, 4, '{"seed": 3}')::text AS m4,
       seg_reco.kmeans_train(f, 40, '{"seed": 3, "n_init": 1}')::text AS m40 FROM km_many;
SELECT a.m4 = b.m4 AS same_k4, a.m40 = b.m40 AS same_k40,
       (a.m4::jsonb -> 'sizes') AS sizes_k4, round((a.m4::jsonb ->> 'inertia')::numeric, 3) AS inertia_k4
  FROM km_t1 a, km_t2 b;
RESET seg_reco.threads;
SET seg_reco.threads = 0;

-- the same rows in any order give the same model (issue 11): the rows are
-- sorted into an order of their own before seeding; k = 4 (small kernel on
-- threads) and k = 40 (dgemm) on km_many shuffled, reversed and sorted
SELECT setseed(0.25);
CREATE TEMP TABLE km_orders AS
SELECT 'shuffled' AS input_order,
       seg_reco.kmeans_train(f, 4, '{"seed": 3}' ORDER BY random())::text AS m4,
       seg_reco.kmeans_train(f, 40, '{"seed": 3, "n_init": 1}' ORDER BY random())::text AS m40 FROM km_many
UNION ALL
SELECT 'reversed', seg_reco.kmeans_train(f, 4, '{"seed": 3}' ORDER BY f DESC)::text,
       seg_reco.kmeans_train(f, 40, '{"seed": 3, "n_init": 1}' ORDER BY f DESC)::text FROM km_many
UNION ALL
SELECT 'sorted', seg_reco.kmeans_train(f, 4, '{"seed": 3}' ORDER BY f)::text,
       seg_reco.kmeans_train(f, 40, '{"seed": 3, "n_init": 1}' ORDER BY f)::text FROM km_many;
SELECT o.input_order, o.m4 = t.m4 AS same_k4, o.m40 = t.m40 AS same_k40
  FROM km_orders o, km_t1 t ORDER BY 1;
-- also with feature preparation, on few rows and with duplicate rows
SELECT (SELECT seg_reco.kmeans_train(f, 2, '{"standardize": true, "log1p": [2], "seed": 1}' ORDER BY f DESC)::text FROM km_money) =
       (SELECT m::text FROM km_prep) AS same_prepared,
       (SELECT seg_reco.kmeans_train(f, 3, '{"seed": 5}' ORDER BY random())::text FROM (SELECT f FROM km_pts UNION ALL SELECT f FROM km_pts) s) =
       (SELECT seg_reco.kmeans_train(f, 3, '{"seed": 5}' ORDER BY f DESC)::text FROM (SELECT f FROM km_pts UNION ALL SELECT f FROM km_pts) s) AS same_with_duplicates;

-- the stored model is consistent with itself (issue 11): its sizes are the
-- counts kmeans_assign gives with its centroids on the training rows, its
-- inertia the sum of their squared distances.  Runs stopped early
-- (max_iter 2) used to store the sizes and inertia of the assignment
-- before the last centroid update: 9 of these 20 models differed.
CREATE TEMP TABLE km_early_pts AS
SELECT ARRAY[(i * i % 37)::float8, (i * 7 % 23)::float8] AS f FROM generate_series(1, 60) i;
CREATE TEMP TABLE km_early AS
SELECT s AS seed,
       (SELECT seg_reco.kmeans_train(f, 4, jsonb_build_object('seed', s, 'max_iter', 2, 'n_init', 1)) FROM km_early_pts) AS m
  FROM generate_series(1, 20) s;
SELECT count(*) AS models,
       count(*) FILTER (WHERE (m::jsonb) -> 'sizes' =
                              (SELECT jsonb_agg(coalesce(a.c, 0) ORDER BY g)
                                 FROM generate_series(1, 4) g
                                 LEFT JOIN (SELECT seg_reco.kmeans_assign(f, m) AS cl, count(*) AS c
                                              FROM km_early_pts GROUP BY 1) a ON a.cl = g)) AS sizes_agree,
       count(*) FILTER (WHERE abs(((m::jsonb) ->> 'inertia')::float8 -
                                  (SELECT sum(power((seg_reco.kmeans_assign_distance(f, m)).distance, 2))
                                     FROM km_early_pts)) < 1e-9 * ((m::jsonb) ->> 'inertia')::float8) AS inertia_agrees
  FROM km_early;
-- the same on km_many with its default options (k = 4 and k = 40)
SELECT (SELECT jsonb_agg(c ORDER BY cl) FROM (SELECT seg_reco.kmeans_assign(f, m4::seg_reco.kmeans_model) AS cl, count(*) AS c
                                                FROM km_many GROUP BY 1) a) = (m4::jsonb -> 'sizes') AS k4_sizes_agree,
       (SELECT jsonb_agg(c ORDER BY cl) FROM (SELECT seg_reco.kmeans_assign(f, m40::seg_reco.kmeans_model) AS cl, count(*) AS c
                                                FROM km_many GROUP BY 1) a) = (m40::jsonb -> 'sizes') AS k40_sizes_agree
  FROM km_t1;

-- huge finite values (issue 11): training rejects features beyond 1e100
-- (their squared distances overflow; the model's inertia was Infinity,
-- stored as null, and kmeans_load could not read it back); up to 1e100 the
-- model is finite and round-trips
SELECT seg_reco.kmeans_train(ARRAY[x], 2) FROM (VALUES (1e300::float8), (-1e300), (5e299), (0)) v(x);
SELECT seg_reco.kmeans_train(ARRAY[x, 1], 2, '{"standardize": true}') FROM (VALUES (1e300::float8), (-1e300), (5e299), (0)) v(x);
SELECT ((seg_reco.kmeans_save('km_huge', seg_reco.kmeans_train(ARRAY[x], 2))::jsonb) ->> 'inertia')::float8 AS inertia
  FROM (VALUES (1e100::float8), (-1e100), (5e99), (0)) v(x);
SELECT seg_reco.kmeans_load('km_huge')::text = m::text AS huge_round_trip, m::jsonb -> 'sizes' AS sizes
  FROM (SELECT model::text::seg_reco.kmeans_model AS m FROM seg_reco.models WHERE name = 'km_huge') s;
-- log1p brings such values into range
SELECT (seg_reco.kmeans_train(ARRAY[x], 2, '{"log1p": [1]}')::jsonb) -> 'sizes' AS log1p_sizes
  FROM (VALUES (1e300::float8), (1e299), (1), (2)) v(x);
-- assignment of rows far outside the training data: the nearest centroid
-- (when every squared distance overflows, decided by x.c, then |c|^2), a
-- finite distance, a finite simplified silhouette (0: both distances are
-- 1e300 at double precision); an error when the distance itself is beyond
-- double precision or the model's scaling overflows
SELECT seg_reco.kmeans_assign('{1e300, 0}', m) AS c_east, seg_reco.kmeans_assign('{10, 0}', m) AS c_10_0,
       seg_reco.kmeans_assign('{0, 1e300}', m) AS c_north, seg_reco.kmeans_assign('{0, 10}', m) AS c_0_10,
       seg_reco.kmeans_assign('{-1e300, -1e300}', m) AS c_south_west, seg_reco.kmeans_assign('{0, 0}', m) AS c_0_0,
       (seg_reco.kmeans_assign_distance('{1e300, 0}', m)).distance AS dist,
       round(seg_reco.kmeans_silhouette('{1e300, 0}', m)::numeric, 6) AS silhouette
  FROM km_model;
SELECT seg_reco.kmeans_assign_distance('{1.7e308, 1.7e308}', m) FROM km_model;
SELECT seg_reco.kmeans_assign('{1e300}', seg_reco.kmeans_train(ARRAY[x], 2, '{"standardize": true}'))
  FROM (VALUES (1e-10::float8), (2e-10), (3e-10), (4e-10)) v(x);
