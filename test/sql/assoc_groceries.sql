-- Validation against arules (R) on its Groceries data set: 9,835 baskets
-- of one grocery store over 30 days, 169 items (Hahsler, Hornik &
-- Reutterer 2006).  Read from .shared/data/groceries/groceries.csv (a link
-- scripts/test.sh makes to the shared/ folder beside the clone, or to
-- SEG_RECO_SHARED; psql runs in the repository root); never copied here.
--
-- arules' apriori (Borgelt's code) counts an itemset frequent when
-- ceil(support x baskets) baskets hold it (src/istree.c: s_min = (int)
-- ceil(tacnt * supp)), so support 0.001 means 10 baskets, although its
-- verbose output prints "Absolute minimum support count: 9" (apriori.R
-- prints as.integer(support * length(data))); a rule needs confidence >=
-- min - 1e-12.  seg_reco does the same.  Published figures compared below:
--   [A] arulesViz reference manual, example of rules2matrix() (M. Hahsler;
--       https://rdocumentation.org/packages/arulesViz/topics/rules2matrix):
--       apriori(Groceries, support 0.001, confidence 0.8) sorts and recodes
--       157 items, writes 410 rules; lifts of its first ten rules, and
--       {liquor, red/blush wine} => {bottled beer} with support
--       0.001931876, confidence 0.9047619, coverage 0.002135231, lift
--       11.23527, count 19.
--   [B] arulesViz vignette (https://CRAN.R-project.org/package=arulesViz,
--       "Visualizing Association Rules", chunk 5): support 0.001,
--       confidence 0.5: 5668 rules.  Y.-W. Chiu, Machine Learning with R
--       Cookbook (Packt 2015), "Mining associations with the Apriori rule":
--       summary() of those 5668 rules: lengths 2/3/4/5/6: 11/1461/3211/
--       939/46; support 0.001017 to 0.022267, confidence 0.5 to 1, lift
--       1.957 to 18.996; the first rules {honey} => {whole milk}
--       0.001118454 0.7333333 2.870009, {tidbits} => {rolls/buns}
--       0.001220132 0.5217391 2.836542, {cocoa drinks} => {whole milk}
--       0.001321810 0.5909091 2.312611, {pudding powder} => {whole milk}
--       0.001321810 0.5652174 2.212062, {cooking chocolate} => {whole
--       milk} 0.001321810 0.5200000 2.035097, {cereals} => {whole milk}
--       0.003660397 0.6428571 2.515917; by lift (widely reproduced):
--       {Instant food products, soda} => {hamburger meat} 0.001220132
--       0.6315789 coverage 0.001931876 lift 18.99565 count 12, {popcorn,
--       soda} => {salty snack} 0.001220132 0.6315789 lift 16.69779 count 12.
--   [C] support 0.001, confidence 0.9: 129 rules; support 0.003,
--       confidence 0.5: 421 rules, 281 of them of 3 items (course
--       exercises reproducing arules, e.g. "grules #set of 129 rules").
--   [D] B. Lantz, Machine Learning with R (Packt), chapter 8, on this very
--       file (groceries.csv): summary(): 9835 transactions, 169 items,
--       density 0.02609146, most frequent whole milk 2513, other
--       vegetables 1903, rolls/buns 1809, soda 1715, yogurt 1372;
--       apriori(support 0.006, confidence 0.25, minlen 2): 109 items, 463
--       rules, lengths 2/3/4: 150/297/16, support 0.006101 to 0.074835,
--       confidence 0.25 to 0.66, lift 0.9932 to 3.9565, count 60 to 736;
--       {potted plants} (in this file "pot plants", arules' label) =>
--       {whole milk} 0.006914082 0.4000000 coverage
--       0.01728521 lift 1.565460 count 68, {pasta} => {whole milk}
--       0.006100661 0.4054054 0.01504830 1.586614 60, {herbs} => {root
--       vegetables} 0.007015760 0.4312500 0.01626843 3.956477 69 (the
--       highest lift), {berries} => {whipped/sour cream} 0.009049314
--       0.2721713 0.03324860 3.796886 89.
--   [E] eclat(groceries, support 0.07) on this file (an exercise script
--       reproduced in many course repositories) prints, among its
--       itemsets, {other vegetables, whole milk} 0.07483477, {whole milk}
--       0.25551601, {other vegetables} 0.19349263, {rolls/buns}
--       0.18393493, {yogurt} 0.13950178, {soda} 0.17437722.
-- Counts per length of the frequent itemsets are not published; they are
-- those of bench/assoc_reference.py (a plain level-wise count in Python),
-- which gives the same 13,492 itemsets at support 0.001 with the same
-- counts, and the same 5,668 rules, line by line (bench/assoc.sh checks).
SET extra_float_digits = 0;

CREATE TEMP TABLE groc_raw (line text);
\copy groc_raw FROM '.shared/data/groceries/groceries.csv' WITH (FORMAT text, DELIMITER E'\x01')
CREATE TEMP TABLE groc_items AS
SELECT row_number() OVER (ORDER BY item)::bigint AS id, item
  FROM (SELECT DISTINCT unnest(string_to_array(line, ',')) AS item FROM groc_raw) s;
CREATE TEMP TABLE groc AS
SELECT b.n AS basket, i.id AS product
  FROM (SELECT row_number() OVER () AS n, line FROM groc_raw) b
 CROSS JOIN LATERAL unnest(string_to_array(b.line, ',')) u(item)
  JOIN groc_items i ON i.item = u.item;
-- [D] 9835 baskets, 169 items, density 0.02609146
SELECT count(DISTINCT basket) AS baskets, count(DISTINCT product) AS items,
       round(count(*)::numeric / (count(DISTINCT basket) * count(DISTINCT product)), 8) AS density
  FROM groc;
CREATE FUNCTION pg_temp.names(ids bigint[]) RETURNS text[]
LANGUAGE sql STABLE
RETURN ARRAY(SELECT i.item FROM unnest(ids) u(id) JOIN groc_items i ON i.id = u.id ORDER BY i.item);
CREATE FUNCTION pg_temp.name(id bigint) RETURNS text
LANGUAGE sql STABLE
RETURN (SELECT i.item FROM groc_items i WHERE i.id = name.id);

-- [D] the five most frequent items: every item with support >= 0.13
SELECT pg_temp.names(items) AS items, count, round(support::numeric, 8) AS support
  FROM seg_reco.frequent_itemsets('SELECT basket, product FROM groc', 0.13, max_length => 1)
 ORDER BY count DESC;
-- [E] support 0.07: 19 itemsets, the six printed there among them
CREATE TEMP TABLE doc_e (items text[], support numeric);
INSERT INTO doc_e VALUES ('{other vegetables,whole milk}', 0.07483477), ('{whole milk}', 0.25551601),
    ('{other vegetables}', 0.19349263), ('{rolls/buns}', 0.18393493), ('{yogurt}', 0.13950178),
    ('{soda}', 0.17437722);
SELECT pg_temp.names(f.items) AS items, round(f.support::numeric, 8) AS support,
       round(f.support::numeric, 8) = d.support AS same_as_printed
  FROM seg_reco.frequent_itemsets('SELECT basket, product FROM groc', 0.07) f
  LEFT JOIN doc_e d ON d.items = pg_temp.names(f.items)
 ORDER BY f.support DESC;

-- [A] support 0.001: 157 frequent items (minimum count 10), 13,492 itemsets
SELECT cardinality(items) AS length, count(*) AS itemsets, min(count) AS min_count
  FROM seg_reco.frequent_itemsets('SELECT basket, product FROM groc', 0.001)
 GROUP BY ROLLUP (1) ORDER BY 1 NULLS LAST;

CREATE TEMP TABLE r08 AS
SELECT * FROM seg_reco.association_rules('SELECT basket, product FROM groc', 0.001, 0.8);
-- [A] 410 rules
SELECT cardinality(lhs) + 1 AS length, count(*) AS rules
  FROM r08 GROUP BY ROLLUP (1) ORDER BY 1 NULLS LAST;
-- [A] the ten rules of the example, at its precision
CREATE TEMP TABLE doc_a (lhs text[], rhs text, lift numeric);
INSERT INTO doc_a VALUES
    ('{liquor,red/blush wine}', 'bottled beer', 11.23527),
    ('{curd,turkey}', 'other vegetables', 4.134524),
    ('{rice,sugar}', 'whole milk', 3.913649),
    ('{house keeping products,whipped/sour cream}', 'whole milk', 3.612599),
    ('{bottled beer,soups}', 'whole milk', 3.587512),
    ('{cereals,curd}', 'whole milk', 3.557863),
    ('{pastry,sweet spreads}', 'whole milk', 3.557863),
    ('{butter,jam}', 'whole milk', 3.261374),
    ('{house keeping products,napkins}', 'whole milk', 3.17984),
    ('{cereals,yogurt}', 'whole milk', 3.168192);
SELECT d.lhs, d.rhs, d.lift AS published_lift,
       round(r.lift::numeric, scale(d.lift)) AS lift,
       round(r.lift::numeric, scale(d.lift)) = d.lift AS same
  FROM doc_a d
  LEFT JOIN r08 r ON pg_temp.names(r.lhs) = d.lhs AND pg_temp.name(r.rhs) = d.rhs
 ORDER BY d.lift DESC, d.lhs;
SELECT pg_temp.names(lhs) AS lhs, pg_temp.name(rhs) AS rhs, round(support::numeric, 9) AS support,
       round(confidence::numeric, 7) AS confidence, round(coverage::numeric, 9) AS coverage,
       round(lift::numeric, 5) AS lift, count
  FROM r08 ORDER BY r08.lift DESC LIMIT 1;
SELECT count(*) FILTER (WHERE conviction IS NULL) AS confidence_1_without_conviction,
       count(*) FILTER (WHERE confidence = 1) AS confidence_1
  FROM r08;

CREATE TEMP TABLE r05 AS
SELECT * FROM seg_reco.association_rules('SELECT basket, product FROM groc', 0.001, 0.5);
-- [B] 5668 rules: lengths 11/1461/3211/939/46
SELECT cardinality(lhs) + 1 AS length, count(*) AS rules
  FROM r05 GROUP BY ROLLUP (1) ORDER BY 1 NULLS LAST;
-- [B] summary of quality measures
SELECT round(min(support)::numeric, 6) AS min_support, round(max(support)::numeric, 6) AS max_support,
       round(min(confidence)::numeric, 4) AS min_confidence, max(confidence) AS max_confidence,
       round(min(lift)::numeric, 3) AS min_lift, round(max(lift)::numeric, 3) AS max_lift,
       min(count) AS min_count
  FROM r05;
-- [B] the first six rules and the two highest lifts, at the published precision
CREATE TEMP TABLE doc_b (lhs text[], rhs text, support numeric, confidence numeric, lift numeric);
INSERT INTO doc_b VALUES
    ('{honey}', 'whole milk', 0.001118454, 0.7333333, 2.870009),
    ('{tidbits}', 'rolls/buns', 0.001220132, 0.5217391, 2.836542),
    ('{cocoa drinks}', 'whole milk', 0.001321810, 0.5909091, 2.312611),
    ('{pudding powder}', 'whole milk', 0.001321810, 0.5652174, 2.212062),
    ('{cooking chocolate}', 'whole milk', 0.001321810, 0.5200000, 2.035097),
    ('{cereals}', 'whole milk', 0.003660397, 0.6428571, 2.515917),
    ('{Instant food products,soda}', 'hamburger meat', 0.001220132, 0.6315789, 18.99565),
    ('{popcorn,soda}', 'salty snack', 0.001220132, 0.6315789, 16.69779);
SELECT d.lhs, d.rhs,
       round(r.support::numeric, scale(d.support)) AS support,
       round(r.confidence::numeric, scale(d.confidence)) AS confidence,
       round(r.lift::numeric, scale(d.lift)) AS lift,
       (round(r.support::numeric, scale(d.support)), round(r.confidence::numeric, scale(d.confidence)),
        round(r.lift::numeric, scale(d.lift))) = (d.support, d.confidence, d.lift) AS same
  FROM doc_b d
  LEFT JOIN r05 r ON pg_temp.names(r.lhs) = d.lhs AND pg_temp.name(r.rhs) = d.rhs
 ORDER BY d.lift DESC;
-- [B] by lift, the two above come first
SELECT pg_temp.names(lhs) AS lhs, pg_temp.name(rhs) AS rhs, round(lift::numeric, 5) AS lift, count
  FROM r05 ORDER BY r05.lift DESC LIMIT 3;

-- [C] 129 rules at confidence 0.9; 421 at support 0.003 and confidence
-- 0.5, 281 of 3 items
SELECT count(*) AS rules FROM seg_reco.association_rules('SELECT basket, product FROM groc', 0.001, 0.9);
SELECT count(*) AS rules, count(*) FILTER (WHERE cardinality(lhs) = 2) AS of_3_items
  FROM seg_reco.association_rules('SELECT basket, product FROM groc', 0.003, 0.5);

-- [D] support 0.006 (60 baskets), confidence 0.25, minlen 2: 109 items, 463 rules
SELECT count(*) AS items FROM seg_reco.frequent_itemsets('SELECT basket, product FROM groc', 0.006, max_length => 1);
CREATE TEMP TABLE r006 AS
SELECT * FROM seg_reco.association_rules('SELECT basket, product FROM groc', 0.006, 0.25, min_length => 2);
SELECT cardinality(lhs) + 1 AS length, count(*) AS rules
  FROM r006 GROUP BY ROLLUP (1) ORDER BY 1 NULLS LAST;
SELECT round(min(support)::numeric, 6) AS min_support, round(max(support)::numeric, 6) AS max_support,
       min(confidence) AS min_confidence, round(max(confidence)::numeric, 4) AS max_confidence,
       round(min(lift)::numeric, 4) AS min_lift, round(max(lift)::numeric, 4) AS max_lift,
       min(count) AS min_count, max(count) AS max_count
  FROM r006;
CREATE TEMP TABLE doc_d (lhs text[], rhs text, support numeric, confidence numeric, coverage numeric,
                         lift numeric, count bigint);
INSERT INTO doc_d VALUES
    ('{pot plants}', 'whole milk', 0.006914082, 0.4000000, 0.01728521, 1.565460, 68),
    ('{pasta}', 'whole milk', 0.006100661, 0.4054054, 0.01504830, 1.586614, 60),
    ('{herbs}', 'root vegetables', 0.007015760, 0.4312500, 0.01626843, 3.956477, 69),
    ('{berries}', 'whipped/sour cream', 0.009049314, 0.2721713, 0.03324860, 3.796886, 89);
SELECT d.lhs, d.rhs,
       (round(r.support::numeric, scale(d.support)), round(r.confidence::numeric, scale(d.confidence)),
        round(r.coverage::numeric, scale(d.coverage)), round(r.lift::numeric, scale(d.lift)), r.count)
     = (d.support, d.confidence, d.coverage, d.lift, d.count) AS same
  FROM doc_d d
  LEFT JOIN r006 r ON pg_temp.names(r.lhs) = d.lhs AND pg_temp.name(r.rhs) = d.rhs
 ORDER BY d.lift DESC;
SELECT pg_temp.names(lhs) AS lhs, pg_temp.name(rhs) AS rhs, round(lift::numeric, 6) AS lift
  FROM r006 ORDER BY r006.lift DESC LIMIT 2;

-- Any row order, text basket ids: the same rules in the same order
SELECT (SELECT string_agg(format('%s=>%s %s %s %s', lhs, rhs, count, confidence, lift), ';') FROM r05)
     = (SELECT string_agg(format('%s=>%s %s %s %s', lhs, rhs, count, confidence, lift), ';')
          FROM seg_reco.association_rules(
                   'SELECT ''b'' || basket, product FROM groc ORDER BY md5(basket::text || product::text)',
                   0.001, 0.5)) AS same_rules_same_order;
