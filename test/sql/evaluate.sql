-- Ranking metrics against hand-computed values
SET extra_float_digits = 0;

-- recommended {1,2,3,4,5}, relevant {2,5,9}: hits at ranks 2 and 5.
-- k = 5: precision 2/5; recall 2/3; DCG = 1/log2(3) + 1/log2(6) = 1.017782,
-- IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.130930, NDCG = 0.477624;
-- AP = (1/2 + 2/5) / min(5, 3) = 0.3; hit 1
SELECT round(seg_reco.precision_at_k(r, v, 5)::numeric, 6) AS p5,
       round(seg_reco.recall_at_k(r, v, 5)::numeric, 6) AS r5,
       round(seg_reco.ndcg_at_k(r, v, 5)::numeric, 6) AS ndcg5,
       round(((1 / log(2, 3) + 1 / log(2, 6)) / (1 + 1 / log(2, 3) + 0.5))::numeric, 6) AS ndcg5_by_hand,
       round(seg_reco.average_precision_at_k(r, v, 5)::numeric, 6) AS ap5,
       seg_reco.hit_at_k(r, v, 5) AS hit5
  FROM (VALUES ('{1,2,3,4,5}'::bigint[], '{2,5,9}'::bigint[])) x(r, v);
-- k = 3: one hit at rank 2: precision 1/3, recall 1/3,
-- NDCG = (1/log2(3)) / 2.130930 = 0.296082, AP = (1/2) / 3 = 0.166667
SELECT round(seg_reco.precision_at_k(r, v, 3)::numeric, 6) AS p3,
       round(seg_reco.recall_at_k(r, v, 3)::numeric, 6) AS r3,
       round(seg_reco.ndcg_at_k(r, v, 3)::numeric, 6) AS ndcg3,
       round(seg_reco.average_precision_at_k(r, v, 3)::numeric, 6) AS ap3
  FROM (VALUES ('{1,2,3,4,5}'::bigint[], '{2,5,9}'::bigint[])) x(r, v);
-- k = 1: a miss
SELECT seg_reco.precision_at_k(r, v, 1) AS p1, seg_reco.recall_at_k(r, v, 1) AS r1,
       seg_reco.ndcg_at_k(r, v, 1) AS ndcg1, seg_reco.average_precision_at_k(r, v, 1) AS ap1,
       seg_reco.hit_at_k(r, v, 1) AS hit1
  FROM (VALUES ('{1,2,3,4,5}'::bigint[], '{2,5,9}'::bigint[])) x(r, v);
-- k = 10 beyond a list of 5: precision divides by k; the ideal DCG still
-- stops at min(k, |relevant|) = 3, so NDCG and AP are those of k = 5
SELECT round(seg_reco.precision_at_k(r, v, 10)::numeric, 6) AS p10,
       round(seg_reco.ndcg_at_k(r, v, 10)::numeric, 6) AS ndcg10,
       round(seg_reco.average_precision_at_k(r, v, 10)::numeric, 6) AS ap10
  FROM (VALUES ('{1,2,3,4,5}'::bigint[], '{2,5,9}'::bigint[])) x(r, v);
-- a perfect ranking, in any order of the relevant set
SELECT seg_reco.precision_at_k('{9,5,2}', '{2,5,9}', 3) AS p, seg_reco.recall_at_k('{9,5,2}', '{2,5,9}', 3) AS r,
       seg_reco.ndcg_at_k('{9,5,2}', '{2,5,9}', 3) AS ndcg, seg_reco.average_precision_at_k('{9,5,2}', '{2,5,9}', 3) AS ap;
-- more relevant than k: recall stays below 1, NDCG and AP reach 1
SELECT round(seg_reco.recall_at_k('{1,2}', '{1,2,3,4}', 2)::numeric, 6) AS r,
       seg_reco.ndcg_at_k('{1,2}', '{1,2,3,4}', 2) AS ndcg,
       seg_reco.average_precision_at_k('{1,2}', '{1,2,3,4}', 2) AS ap;
-- a repeated recommendation counts once, at its first rank; duplicates in
-- relevant are ignored. {2,2,5} vs {2,5}: hits at ranks 1 and 3,
-- NDCG = (1 + 1/2) / (1 + 1/log2(3)) = 0.919721, AP = (1 + 2/3) / 2 = 0.833333
SELECT round(seg_reco.precision_at_k('{2,2,5}', '{2,5,5}', 3)::numeric, 6) AS p,
       round(seg_reco.ndcg_at_k('{2,2,5}', '{2,5,5}', 3)::numeric, 6) AS ndcg,
       round(seg_reco.average_precision_at_k('{2,2,5}', '{2,5,5}', 3)::numeric, 6) AS ap,
       seg_reco.recall_at_k('{2,2,5}', '{2,5,5}', 3) AS r;
-- nothing relevant: NULL where the metric is undefined
SELECT seg_reco.precision_at_k('{1,2}', '{}', 2) AS p, seg_reco.recall_at_k('{1,2}', '{}', 2) AS r,
       seg_reco.ndcg_at_k('{1,2}', '{}', 2) AS ndcg, seg_reco.average_precision_at_k('{1,2}', '{}', 2) AS ap,
       seg_reco.hit_at_k('{1,2}', '{}', 2) AS hit;
-- nothing recommended
SELECT seg_reco.precision_at_k('{}', '{1}', 2) AS p, seg_reco.recall_at_k('{}', '{1}', 2) AS r,
       seg_reco.ndcg_at_k('{}', '{1}', 2) AS ndcg, seg_reco.average_precision_at_k('{}', '{1}', 2) AS ap,
       seg_reco.hit_at_k('{}', '{1}', 2) AS hit;
-- averaged over customers (MAP@k, mean NDCG, hit rate)
SELECT round(avg(seg_reco.average_precision_at_k(r, v, 3))::numeric, 6) AS map3,
       round(avg(seg_reco.ndcg_at_k(r, v, 3))::numeric, 6) AS mean_ndcg3,
       round(avg(seg_reco.hit_at_k(r, v, 3))::numeric, 6) AS hit_rate
  FROM (VALUES ('{1,2,3}'::bigint[], '{1}'::bigint[]), ('{4,5,6}', '{7}'), ('{8,9}', '{}')) x(r, v);
-- bad input; NULL arrays give NULL (STRICT)
SELECT seg_reco.precision_at_k('{1}', '{1}', 0);
SELECT seg_reco.ndcg_at_k('{1}', '{1}', -3);
SELECT seg_reco.recall_at_k('{1,NULL}', '{1}', 2);
SELECT seg_reco.hit_at_k('{1}', '{NULL}', 2);
SELECT seg_reco.ndcg_at_k(NULL, '{1}', 2) AS null_list, seg_reco.ndcg_at_k('{1}', '{1}', NULL) AS null_k;
-- markings
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seg_reco' AND p.proname ~ '_at_k$' ORDER BY 1;
