-- Content vectors (TF-IDF, norwegian text search), content_similar,
-- content_scores and intra_list_diversity on a hand-made catalogue
\i test/sql/include/hand_made_sources.sql
TRUNCATE seg_reco.content_version, seg_reco.product_content, seg_reco.content_terms;

-- before any build: a clear error
SELECT * FROM seg_reco.content_similar(1);

-- apples ("epler" / "eple" stem to the same lexeme), bread ("brødet" /
-- "brød"), milk, cheese; product 8 has no usable text (only a size);
-- product 9 (pears) is new and never sold; product 10 is inactive
INSERT INTO seg_reco.products (product_id, name, brand, category, subcategory, description, unit_price, active) VALUES
 (1, 'Epler', 'Frukthagen', 'frukt og grønt', 'frukt', 'Søte epler fra Hardanger.', 30, true),
 (2, 'Eple grønt', 'Frukthagen', 'frukt og grønt', 'frukt', 'Et syrlig eple.', 25, true),
 (3, 'Brødet', 'Bakers', 'brød og bakevarer', 'brød', 'Brødet er bakt med fullkorn.', 40, true),
 (4, 'Brød grovt', 'Bakers', 'brød og bakevarer', 'brød', 'Grovt brød.', 45, true),
 (5, 'Lettmelk', 'Tine', 'meieri', 'melk', 'Frisk lettmelk.', 20, true),
 (6, 'Helmelk', 'Tine', 'meieri', 'melk', 'Frisk helmelk.', 21, true),
 (7, 'Ost mild', 'Tine', 'meieri', 'ost', 'En mild ost.', 90, true),
 (8, '750 g', NULL, '', NULL, NULL, 10, true),
 (9, 'Pærer', 'Frukthagen', 'frukt og grønt', 'frukt', 'Saftige pærer.', 35, true),
 (10, 'Epler gule', 'Frukthagen', 'frukt og grønt', 'frukt', 'Gule epler.', 30, false);

-- names only, single lexemes only: the cosine of 1 ('Epler') and 2 ('Eple
-- grønt') by hand.  n = 10; df(epl) = 3 (1, 2, 10), df(grønt) = 1;
-- idf = ln(11 / (1 + df)) + 1; vector 1 = (1), vector 2 = (idf3, idf1) /
-- norm: cos = idf3 / sqrt(idf3^2 + idf1^2)
SELECT s - 'seconds' - 'version' AS summary
  FROM seg_reco.build_content(1, 0, 0, 0, 0, bigram_weight => 0,
                              attribute_weights => '{"category": 0, "subcategory": 0, "brand": 0,
                                                     "own_brand": 0, "organic": 0, "vegetarian": 0}') s;
SELECT lexeme, df, round(idf::numeric, 4) AS idf, kind FROM seg_reco.content_terms ORDER BY term_id;
SELECT round(similarity::numeric, 4) AS similarity,
       round(((ln(11 / 4.0) + 1) / sqrt((ln(11 / 4.0) + 1) ^ 2 + (ln(11 / 2.0) + 1) ^ 2))::numeric, 4) AS by_hand
  FROM seg_reco.content_similar(1) WHERE similar_product_id = 2;

-- the same with bigrams of weight 2: 2 ('Eple grønt') gains the bigram
-- "epl grønt" (df 1) with tf 2; 10 ('Epler gule') gains "epl gul" (df 1):
-- vector 2 = (idf3, idf1, 2 idf1) / norm, so cos(1, 2) = idf3 / sqrt(idf3^2 + 5 idf1^2)
SELECT s - 'seconds' - 'version' AS summary
  FROM seg_reco.build_content(1, 0, 0, 0, 0, bigram_weight => 2,
                              attribute_weights => '{"category": 0, "subcategory": 0, "brand": 0,
                                                     "own_brand": 0, "organic": 0, "vegetarian": 0}') s;
SELECT lexeme, df, kind FROM seg_reco.content_terms WHERE kind = 'bigram' ORDER BY term_id;
SELECT feature, kind, round(weight::numeric, 4) AS weight, df FROM seg_reco.content_features(2);
SELECT round(similarity::numeric, 4) AS similarity,
       round(((ln(11 / 4.0) + 1) / sqrt((ln(11 / 4.0) + 1) ^ 2 + 5 * (ln(11 / 2.0) + 1) ^ 2))::numeric, 4) AS by_hand
  FROM seg_reco.content_similar(1) WHERE similar_product_id = 2;

-- the default build: all fields
SELECT s - 'seconds' - 'version' AS summary FROM seg_reco.build_content() s;
SELECT c.product_id, cardinality(c.terms) AS terms, c.active,
       round(sqrt((SELECT sum(w * w) FROM unnest(c.weights) w))::numeric, 4) AS norm
  FROM seg_reco.product_content c ORDER BY c.product_id;
SELECT t.lexeme FROM seg_reco.content_terms t
 WHERE t.lexeme IN ('epl', 'brød', 'pær', 'melk', 'og', 'fra', 'med', '750', 'g') ORDER BY 1;
-- the default build's features of 1 ('Epler', 'Søte epler fra Hardanger.',
-- organic): its lexemes, its bigrams (stop word "fra" skipped: "epl
-- hardang"; none across fields), its attributes (category, subcategory,
-- brand, organic, with their setting's weights)
UPDATE seg_reco.products SET organic = true WHERE product_id = 1;
UPDATE seg_reco.products SET own_brand = true WHERE product_id IN (3, 4);
SELECT s - 'seconds' - 'version' AS summary FROM seg_reco.build_content() s;
SELECT feature, kind, round(weight::numeric, 4) AS weight, df FROM seg_reco.content_features(1);
SELECT kind, count(*) AS features, min(lexeme COLLATE "C") AS first, max(lexeme COLLATE "C") AS last
  FROM seg_reco.content_terms GROUP BY kind ORDER BY kind;
-- stop words make no feature, alone or in a bigram
SELECT count(*) AS stop_word_features FROM seg_reco.content_terms t
 WHERE t.kind <> 'attribute' AND t.lexeme ~ '(^| )(og|fra|med|er|en|et)( |$)';
-- what the build used, for the record
SELECT params - 'name_weight' - 'brand_weight' - 'category_weight' - 'subcategory_weight'
              - 'description_weight' AS params
  FROM seg_reco.content_version;

-- neighbours: the other apple, the other bread, the other milk
SELECT * FROM (SELECT p.product_id, s.similar_product_id, round(s.similarity::numeric, 4) AS similarity, s.rank
                 FROM seg_reco.products p, seg_reco.content_similar(p.product_id, 3) s
                WHERE p.product_id <> 8) x
 WHERE rank = 1 ORDER BY product_id;
SELECT similar_product_id, round(similarity::numeric, 4) AS similarity, rank
  FROM seg_reco.content_similar(1, 20);
-- the inactive product only on request; no product beats itself
SELECT similar_product_id, round(similarity::numeric, 4) AS similarity, rank
  FROM seg_reco.content_similar(1, 3, only_active => false);
-- symmetric
SELECT round(a.similarity::numeric, 6) = round(b.similarity::numeric, 6) AS symmetric
  FROM seg_reco.content_similar(3, 10) a, seg_reco.content_similar(4, 10) b
 WHERE a.similar_product_id = 4 AND b.similar_product_id = 3;
-- no usable text: an empty vector, no neighbours, and nobody's neighbour
SELECT count(*) AS neighbours_of_8 FROM seg_reco.content_similar(8, 100);
SELECT count(*) AS lists_with_8 FROM seg_reco.products p, seg_reco.content_similar(p.product_id, 100) s
 WHERE s.similar_product_id = 8;
-- k larger than the catalogue: every product with a positive similarity
SELECT count(*) AS rows FROM seg_reco.content_similar(5, 1000000);

-- bad input
SELECT * FROM seg_reco.content_similar(999);
SELECT * FROM seg_reco.content_similar(1, 0);
SELECT * FROM seg_reco.content_similar(NULL);
SELECT * FROM seg_reco.content_similar(1, NULL);

-- the cache follows the build: a rebuild with other weights, and a rollback
SELECT round(similarity::numeric, 4) AS before FROM seg_reco.content_similar(5) WHERE similar_product_id = 6;
SAVEPOINT rebuild;
SELECT (seg_reco.build_content(name_weight => 5, sublinear_tf => true)) ? 'version' AS rebuilt;
SELECT round(similarity::numeric, 4) AS after_rebuild FROM seg_reco.content_similar(5) WHERE similar_product_id = 6;
ROLLBACK TO SAVEPOINT rebuild;
SELECT round(similarity::numeric, 4) AS after_rollback FROM seg_reco.content_similar(5) WHERE similar_product_id = 6;

-- bad build parameters
SELECT seg_reco.build_content(name_weight => -1);
SELECT seg_reco.build_content(0, 0, 0, 0, 0);
SELECT seg_reco.build_content(name_weight => 'NaN');
SELECT seg_reco.build_content(sublinear_tf => NULL);
SELECT seg_reco.build_content(text_config => 'klingon');
SELECT seg_reco.build_content(text_config => 'no_such_schema.english');
SELECT seg_reco.build_content(bigram_weight => -1);
SELECT seg_reco.build_content(bigram_weight => 'Infinity');
SELECT seg_reco.build_content(attribute_weights => '[1, 2]');
SELECT seg_reco.build_content(attribute_weights => '{"colour": 1}');
SELECT seg_reco.build_content(attribute_weights => '{"brand": -1}');
SELECT seg_reco.build_content(attribute_weights => '{"brand": "high"}');
SELECT seg_reco.build_content(attribute_weights => '{"brand": null}');
-- the settings are checked the same way
SAVEPOINT bad_settings;
INSERT INTO seg_reco.settings VALUES ('content_text_config', 'null');
SELECT seg_reco.build_content();
UPDATE seg_reco.settings SET value = '"klingon"' WHERE key = 'content_text_config';
SELECT seg_reco.build_content();
INSERT INTO seg_reco.settings VALUES ('content_bigram_weight', 'null');
SELECT seg_reco.build_content(text_config => 'norwegian');
ROLLBACK TO SAVEPOINT bad_settings;
-- content_features: bad input
SELECT * FROM seg_reco.content_features(NULL);
SELECT * FROM seg_reco.content_features(999);

-- customers: 101 buys apples weekly, bread and milk; 102 milk and cheese;
-- 104 has only a return; 105 has no history
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier) VALUES
 (101, '2020-01-01', 1980, 4, 'Oslo', 'gull'),
 (102, '2020-01-01', 1980, 4, 'Oslo', 'gull'),
 (104, '2020-01-01', 1990, 2, 'Oslo', 'basis'),
 (105, '2020-01-01', 1980, 4, 'Oslo', 'basis');
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount) VALUES
 (1, 1, 101, 1, 1, '2025-01-01 10:00+00', 1, 30, 30),
 (2, 1, 101, 3, 1, '2025-01-01 10:00+00', 1, 40, 40),
 (3, 1, 101, 5, 1, '2025-01-01 10:00+00', 1, 20, 20),
 (4, 2, 101, 1, 1, '2025-01-08 10:00+00', 1, 30, 30),
 (5, 2, 101, 1, 1, '2025-01-08 10:00+00', 1, 30, 30),
 (6, 3, 101, 1, 1, '2025-01-15 10:00+00', 1, 30, 30),
 (7, 3, 101, 3, 1, '2025-01-15 10:00+00', 1, 40, 40),
 (8, 4, 101, 1, 1, '2025-01-22 10:00+00', 1, 30, 30),
 (9, 5, 102, 5, 1, '2025-01-03 10:00+00', 1, 20, 20),
 (10, 5, 102, 7, 1, '2025-01-03 10:00+00', 1, 90, 90),
 (11, 6, 102, 5, 1, '2025-01-20 10:00+00', 1, 20, 20),
 (12, 7, 104, 1, 1, '2025-01-05 10:00+00', -1, 30, -30);

-- 101's profile leans to apples: the bought apple first, the bought bread
-- (its bigrams shared with nothing else) before the other apple; the
-- never-sold pears get a score too (new-product cold start); the inactive
-- apple only with only_active => false
SELECT product_id, round(score::numeric, 4) AS score, rank FROM seg_reco.content_scores(101, 5);
SELECT product_id, round(score::numeric, 4) AS score, rank
  FROM seg_reco.content_scores(101, 5, exclude_purchased => true);
SELECT product_id, round(score::numeric, 4) AS score, rank
  FROM seg_reco.content_scores(101, 3, exclude_purchased => true, only_active => false);
-- as of 2025-01-01 only the first receipt counts: apples, bread, milk equally
SELECT product_id, round(score::numeric, 4) AS score
  FROM seg_reco.content_scores(101, 3, as_of => '2025-01-01') ORDER BY 2 DESC, 1;
-- without decay bread (2 receipts) weighs more than with a short half-life
SELECT round(a.score::numeric, 4) AS bread_no_decay, round(b.score::numeric, 4) AS bread_half_life_1d
  FROM seg_reco.content_scores(101, 10, half_life_days => 'Infinity') a,
       seg_reco.content_scores(101, 10, half_life_days => 1) b
 WHERE a.product_id = 4 AND b.product_id = 4;
SELECT product_id, round(score::numeric, 4) AS score, rank FROM seg_reco.content_scores(102, 3);
-- only returns, no history, unknown, history before as_of only: no rows
SELECT count(*) AS only_returns FROM seg_reco.content_scores(104);
SELECT count(*) AS no_history FROM seg_reco.content_scores(105);
SELECT count(*) AS unknown FROM seg_reco.content_scores(999);
SELECT count(*) AS before_history FROM seg_reco.content_scores(101, as_of => '2024-12-31');
-- bad input
SELECT * FROM seg_reco.content_scores(101, 0);
SELECT * FROM seg_reco.content_scores(NULL);
SELECT * FROM seg_reco.content_scores(101, half_life_days => 0);
SELECT * FROM seg_reco.content_scores(101, half_life_days => 'NaN');
SELECT * FROM seg_reco.content_scores(101, as_of => 'infinity');

-- intra-list diversity: 1 - mean pairwise cosine
SELECT round(seg_reco.intra_list_diversity(ARRAY[1, 2]::bigint[])::numeric, 4) AS apples,
       round((1 - s.similarity)::numeric, 4) AS by_hand
  FROM seg_reco.content_similar(1) s WHERE s.similar_product_id = 2;
SELECT round(seg_reco.intra_list_diversity(ARRAY[1, 2, 3]::bigint[])::numeric, 4) AS three,
       round((1 - (coalesce((SELECT sum(s.similarity) FROM seg_reco.content_similar(1) s
                              WHERE s.similar_product_id IN (2, 3)), 0)
                   + coalesce((SELECT s.similarity FROM seg_reco.content_similar(2) s
                                WHERE s.similar_product_id = 3), 0)) / 3)::numeric, 4) AS by_hand;
SELECT seg_reco.intra_list_diversity(ARRAY[1, 8]::bigint[]) AS with_empty_text,
       seg_reco.intra_list_diversity(ARRAY[1, 7]::bigint[]) AS unrelated,
       seg_reco.intra_list_diversity(ARRAY[1, 999]::bigint[]) AS one_known,
       seg_reco.intra_list_diversity(ARRAY[1, NULL]::bigint[]) AS with_null,
       seg_reco.intra_list_diversity('{}'::bigint[]) AS empty,
       seg_reco.intra_list_diversity(NULL) AS null_list;
-- a list, not a catalogue: the pairs grow with the square of its length (a
-- list of 100,000 ran for minutes); 10,000 products at most
SELECT seg_reco.intra_list_diversity(array_fill(1::bigint, ARRAY[10000])) AS ten_thousand_same;
SELECT seg_reco.intra_list_diversity(array_fill(1::bigint, ARRAY[10001]));

-- an English catalogue (UCI Online Retail's names): under the setting
-- content_text_config 'english' its stop words ("of", "the", "and") make
-- no feature and "hanging" and "hang" match; under 'norwegian' they stay
-- (not Norwegian stop words) and nothing is stemmed the English way
INSERT INTO seg_reco.products (product_id, name, category, unit_price) VALUES
 (21, 'WHITE HANGING HEART T-LIGHT HOLDER', 'retail', 2.55),
 (22, 'SET OF 3 CAKE TINS PANTRY DESIGN', 'retail', 4.95),
 (23, 'PACK OF 72 RETROSPOT CAKE CASES', 'retail', 0.55),
 (24, 'HANG THE HEART AND THE LIGHTS', 'retail', 1.25);
SELECT seg_reco.build_content(bigram_weight => 1) ->> 'config' AS config;
SELECT feature, kind, df FROM seg_reco.content_features(22) ORDER BY feature COLLATE "C";
INSERT INTO seg_reco.settings VALUES ('content_text_config', '"english"');
SELECT seg_reco.build_content(bigram_weight => 1) ->> 'config' AS config;
SELECT feature, kind, df FROM seg_reco.content_features(22) ORDER BY feature COLLATE "C";
SELECT p.product_id, string_agg(f.feature, ', ' ORDER BY f.feature COLLATE "C") AS features
  FROM seg_reco.products p, seg_reco.content_features(p.product_id) f
 WHERE p.product_id BETWEEN 21 AND 24 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS english_stop_word_features FROM seg_reco.content_terms t
 WHERE t.kind <> 'attribute' AND t.lexeme ~ '(^| )(of|the|and)( |$)';
-- 24 shares "hang", "heart", "light" and the bigrams "hang heart" ("the"
-- skipped) and "heart light" (the whole of "t-light" makes no bigram) with 21
SELECT similar_product_id, round(similarity::numeric, 4) AS similarity FROM seg_reco.content_similar(24, 1);
-- the call's config wins over the setting; any configuration, schema-qualified
SELECT seg_reco.build_content(text_config => 'pg_catalog.simple') ->> 'config' AS config;
SELECT count(*) AS simple_keeps_of FROM seg_reco.content_terms WHERE lexeme = 'of';
DELETE FROM seg_reco.settings WHERE key = 'content_text_config';
-- a feature every product holds (a single category "retail") tells no two
-- apart and is left out, as a word and as an attribute
SAVEPOINT one_category;
UPDATE seg_reco.products SET category = 'retail';
SELECT seg_reco.build_content() ->> 'attributes' AS attributes;
SELECT count(*) AS retail_features FROM seg_reco.content_terms WHERE lexeme IN ('retail', 'category:retail');
ROLLBACK TO SAVEPOINT one_category;

-- markings
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'seg_reco'
   AND p.proname IN ('build_content', 'content_features', 'content_similar', 'content_scores', 'intra_list_diversity')
 ORDER BY 1;
SELECT has_function_privilege('public', 'seg_reco.build_content(float8, float8, float8, float8, float8, boolean, text, float8, jsonb)', 'EXECUTE') AS public_builds;
SELECT has_function_privilege('public', 'seg_reco.content_features(bigint)', 'EXECUTE') AS public_reads_features;
ROLLBACK;
