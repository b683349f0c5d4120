-- Exact silhouette (against hand-computed values), sampling, choosing k.
SET extra_float_digits = 0;

-- 1-D points 0, 1 | 10, 11: a = 1 for every point; b = 10.5 for 0 and 11,
-- 9.5 for 1 and 10: s = 9.5/10.5, 8.5/9.5, 8.5/9.5, 9.5/10.5, mean 0.899749...
SELECT round(seg_reco.silhouette(ARRAY[x], c)::numeric, 12) AS exact
  FROM (VALUES (0, 1), (1, 1), (10, 2), (11, 2)) v(x, c);
-- a singleton cluster contributes 0; labels may be any integers:
-- (0.9 + 8/9 + 0) / 3 = 0.596296...
SELECT round(seg_reco.silhouette(ARRAY[x], c)::numeric, 12) AS with_singleton
  FROM (VALUES (0, -5), (1, -5), (10, 42)) v(x, c);
-- NULL rows are skipped
SELECT round(seg_reco.silhouette(f, c)::numeric, 12) AS skip_nulls
  FROM (VALUES ('{0}'::float8[], 1), ('{1}', 1), ('{10}', 2), ('{11}', 2), (NULL, 1), ('{5}', NULL)) v(f, c);

-- sampled: a seeded sample, the full set when sample_size >= n
SELECT round(seg_reco.silhouette(ARRAY[x], c, 100, 1)::numeric, 12) AS sample_all
  FROM (VALUES (0, 1), (1, 1), (10, 2), (11, 2)) v(x, c);
CREATE TEMP TABLE sil_pts AS
SELECT ARRAY[(g * 10 + (i % 7) * 0.1)::float8, ((i * 37) % 11 * 0.1)::float8] AS f, g AS c
  FROM generate_series(0, 2) g, generate_series(1, 200) i;
SELECT (SELECT seg_reco.silhouette(f, c, 50, 9) FROM sil_pts) =
       (SELECT seg_reco.silhouette(f, c, 50, 9) FROM sil_pts) AS sample_reproducible,
       (SELECT seg_reco.silhouette(f, c, 50, 9) FROM sil_pts) > 0.9 AS sample_high,
       round((SELECT seg_reco.silhouette(f, c) FROM sil_pts)::numeric, 6) AS exact_600;

-- choosing k: three groups are found
SELECT s -> 'chosen_k' AS chosen_k, s ->> 'rule' AS rule,
       (SELECT array_agg((e ->> 'k')::int ORDER BY (e ->> 'k')::int) FROM jsonb_array_elements(s -> 'candidates') e) AS ks,
       (SELECT bool_and((e ->> 'silhouette')::float8 BETWEEN -1 AND 1 AND (e ->> 'inertia')::float8 >= 0
                        AND (e -> 'bic') IS NOT NULL)
          FROM jsonb_array_elements(s -> 'candidates') e) AS sane
  FROM (SELECT seg_reco.kmeans_select_k(f, 2, 5, '{"seed": 1}') AS s FROM sil_pts) q;

-- errors
SELECT seg_reco.silhouette(ARRAY[x], 1) FROM (VALUES (0), (1)) v(x);
SELECT seg_reco.silhouette(ARRAY[x], x::int) FROM (VALUES (0), (1)) v(x);
SELECT seg_reco.silhouette(ARRAY[x], 1) FROM (VALUES (0)) v(x) WHERE false;
SELECT seg_reco.silhouette(ARRAY[x], c, 1, 0) FROM (VALUES (0, 1), (1, 1), (10, 2)) v(x, c);
SELECT seg_reco.kmeans_select_k(f, 1, 3) FROM sil_pts;
SELECT seg_reco.kmeans_select_k(f, 2, 3, '{"sample_size": 1}') FROM sil_pts;

-- the same rows in any order give the same result (issue 11): the rows and
-- their labels are sorted into an order of their own before sampling and
-- summing (the sampled silhouette drew other rows, the exact one differed
-- in its last bits, kmeans_select_k seeded from other rows)
SELECT setseed(0.75);
SELECT (SELECT seg_reco.silhouette(f, c, 50, 9 ORDER BY random()) FROM sil_pts) =
       (SELECT seg_reco.silhouette(f, c, 50, 9) FROM sil_pts) AS sample_shuffled_same,
       (SELECT seg_reco.silhouette(f, c, 50, 9 ORDER BY f DESC, c DESC) FROM sil_pts) =
       (SELECT seg_reco.silhouette(f, c, 50, 9) FROM sil_pts) AS sample_reversed_same,
       (SELECT seg_reco.silhouette(f, c ORDER BY random()) FROM sil_pts) =
       (SELECT seg_reco.silhouette(f, c ORDER BY f DESC, c DESC) FROM sil_pts) AS exact_same_bits,
       (SELECT seg_reco.kmeans_select_k(f, 2, 4, '{"seed": 1, "sample_size": 100}' ORDER BY random()) FROM sil_pts) =
       (SELECT seg_reco.kmeans_select_k(f, 2, 4, '{"seed": 1, "sample_size": 100}' ORDER BY f DESC) FROM sil_pts) AS select_k_same;
-- rows with the same features and different labels are told apart by label
SELECT (SELECT seg_reco.silhouette(ARRAY[x], c, 3, 2 ORDER BY c) FROM (VALUES (0, 1), (0, 2), (1, 1), (1, 2), (5, 2)) v(x, c)) =
       (SELECT seg_reco.silhouette(ARRAY[x], c, 3, 2 ORDER BY c DESC) FROM (VALUES (0, 1), (0, 2), (1, 1), (1, 2), (5, 2)) v(x, c)) AS same_with_label_ties;

-- huge finite values (issue 11): features beyond 1e100 are refused (their
-- squared distances overflow)
SELECT seg_reco.silhouette(ARRAY[x], c) FROM (VALUES (1e300::float8, 1), (-1e300, 2), (5e299, 1), (0, 2)) v(x, c);
SELECT seg_reco.kmeans_select_k(ARRAY[x], 2, 3) FROM (VALUES (1e300::float8), (-1e300), (5e299), (0), (1), (2)) v(x);
