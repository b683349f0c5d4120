------------------------------------------------------------------------------
-- Content, buy-again, popularity and cold start; ranking metrics (src/tfidf.c, metrics.c)
------------------------------------------------------------------------------
-- BEGIN content
-- Content vectors: TF-IDF over the product text (name, brand, category,
-- subcategory, description) and the product attributes.  The text is
-- tokenised, stemmed and stripped of stop words by PostgreSQL's text search
-- with the configuration text_config (default: the setting
-- content_text_config, 'norwegian': "epler" and "eple" both become "epl";
-- 'english' for English catalogues; any regconfig).  Lexemes made of
-- digits, dots and commas only, and one-character lexemes (sizes and units
-- like "750", "g", "l"), are left out.  The features of a product: its
-- lexemes (tf = sum over the fields of field weight x occurrences, the
-- positions in the field's tsvector); its bigrams, each kept lexeme with
-- the next kept one in the same field (the stop words, numbers and
-- one-letter lexemes between them skipped, as scikit-learn's
-- ngram_range=(1, 2) after its stop words; of a hyphenated word, which
-- text search keeps whole and in parts, only the parts), stored as "lexeme lexeme" with
-- tf = field weight x bigram_weight x occurrences (default: the setting
-- content_bigram_weight; 0 = no bigrams); and its attributes
-- "category:<value>", "subcategory:<value>", "brand:<value>" (lower case)
-- and "own_brand", "organic", "vegetarian" when true, each with tf = its
-- weight in attribute_weights (the setting content_attribute_weights, with
-- the call's keys over it; 0 = left out).  A feature every product holds
-- (UCI's one category "retail") tells no two products apart and is left
-- out.  With sublinear_tf, tf becomes 1 + ln(tf) when tf > 1.  IDF is
-- smoothed as scikit-learn's TfidfVectorizer: ln((1 + n) / (1 + df)) + 1,
-- n = all products, df = products holding the feature.  Each vector is
-- L2-normalised, so the cosine of two products is the dot product of their
-- vectors.  A product with no usable text or attribute gets an empty
-- vector: its similarity to everything is 0.
--
-- The vectors are derived data written by seg_reco.build_content() (a
-- pipeline step): run it again after changing the catalogue.  Readers in C
-- cache all vectors per backend, keyed by seg_reco.content_version.version
-- (a fresh number from content_version_seq at every build, read from the
-- snapshot at every call), so a rebuilt or rolled-back build is never
-- served stale.  Editing product_content by hand bypasses that key.

CREATE SEQUENCE seg_reco.content_version_seq;
COMMENT ON SEQUENCE seg_reco.content_version_seq IS 'version numbers of content builds (keys the per-backend cache of content vectors)';

CREATE TABLE seg_reco.content_terms (
    term_id     integer PRIMARY KEY CHECK (term_id >= 1),
    lexeme      text NOT NULL UNIQUE,
    df          integer NOT NULL CHECK (df >= 1),
    idf         float8 NOT NULL,
    kind        text NOT NULL DEFAULT 'word' CHECK (kind IN ('word', 'bigram', 'attribute'))
);
COMMENT ON TABLE seg_reco.content_terms IS 'vocabulary of the content vectors: one row per feature (a lexeme, a bigram of two lexemes, or a product attribute such as category:meieri), with its document frequency and smoothed idf ln((1+n)/(1+df))+1 (written by build_content)';

CREATE TABLE seg_reco.product_content (
    product_id  bigint PRIMARY KEY,
    terms       integer[] NOT NULL,
    weights     float4[] NOT NULL,
    active      boolean NOT NULL,
    CHECK (pg_catalog.cardinality(terms) = pg_catalog.cardinality(weights))
);
COMMENT ON TABLE seg_reco.product_content IS 'sparse L2-normalised TF-IDF vector of each product: term ids (ascending, see content_terms) and their weights; empty arrays for a product without usable text; active as of the build (written by build_content)';

CREATE TABLE seg_reco.content_version (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     bigint NOT NULL,
    built_at    timestamptz NOT NULL,
    params      jsonb NOT NULL,
    summary     jsonb NOT NULL
);
COMMENT ON TABLE seg_reco.content_version IS 'one row: the version, parameters and summary of the last content build (the key of the per-backend vector cache)';

SELECT pg_catalog.pg_extension_config_dump('seg_reco.content_terms', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.product_content', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.content_version', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.content_version_seq', '');

CREATE FUNCTION seg_reco.build_content(name_weight float8 DEFAULT 2,
                                       brand_weight float8 DEFAULT 1,
                                       category_weight float8 DEFAULT 1,
                                       subcategory_weight float8 DEFAULT 2,
                                       description_weight float8 DEFAULT 1,
                                       sublinear_tf boolean DEFAULT false,
                                       text_config text DEFAULT NULL,
                                       bigram_weight float8 DEFAULT NULL,
                                       attribute_weights jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_t0        timestamptz := pg_catalog.clock_timestamp();
    v_w         float8[] := ARRAY[name_weight, brand_weight, category_weight,
                                  subcategory_weight, description_weight];
    v_x         float8;
    v_cfg_name  text;
    v_cfg       regconfig;
    v_bigram    float8;
    v_aw        jsonb;
    v_a         float8[];
    v_key       text;
    v_n         bigint;
    v_terms     bigint;
    v_bigrams   bigint;
    v_attrs     bigint;
    v_empty     bigint;
    v_nnz       bigint;
    v_version   bigint;
    v_params    jsonb;
    v_summary   jsonb;
BEGIN
    FOREACH v_x IN ARRAY v_w LOOP
        IF v_x IS NULL OR NOT (v_x >= 0 AND v_x < 'Infinity') THEN
            RAISE EXCEPTION 'field weights must be finite and not negative, got %', coalesce(v_x::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use 0 to leave a field out.';
        END IF;
    END LOOP;
    IF (SELECT sum(x) FROM unnest(v_w) x) = 0 THEN
        RAISE EXCEPTION 'all field weights are zero'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give at least one of name, brand, category, subcategory, description a positive weight.';
    END IF;
    IF sublinear_tf IS NULL THEN
        RAISE EXCEPTION 'sublinear_tf must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- the text search configuration: the call's, else the setting
    IF text_config IS NOT NULL THEN
        v_cfg_name := text_config;
    ELSIF jsonb_typeof(seg_reco.setting('content_text_config')) = 'string' THEN
        v_cfg_name := seg_reco.setting('content_text_config') #>> '{}';
    ELSE
        RAISE EXCEPTION 'setting content_text_config must be the name of a text search configuration, got %',
                        seg_reco.setting('content_text_config')
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'For example: UPDATE or INSERT ''"english"'' for key content_text_config in seg_reco.settings.';
    END IF;
    BEGIN
        v_cfg := v_cfg_name::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_schema_name OR invalid_name OR syntax_error
                   OR feature_not_supported THEN
        v_cfg := NULL;
    END;
    IF v_cfg IS NULL THEN
        RAISE EXCEPTION 'text search configuration "%" does not exist', v_cfg_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The configurations are: %s.',
                                  (SELECT string_agg(c.oid::regconfig::text, ', ' ORDER BY c.oid::regconfig::text)
                                     FROM pg_catalog.pg_ts_config c)),
                  HINT = 'Name one of them (schema-qualified if it is not in pg_catalog), or create your own with CREATE TEXT SEARCH CONFIGURATION.';
    END IF;
    -- bigrams: the call's weight, else the setting
    v_bigram := coalesce(bigram_weight, (seg_reco.setting('content_bigram_weight') #>> '{}')::float8);
    IF v_bigram IS NULL OR NOT (v_bigram >= 0 AND v_bigram < 'Infinity') THEN
        RAISE EXCEPTION 'bigram_weight must be finite and not negative, got %', coalesce(v_bigram::text, 'NULL')
            USING ERRCODE = CASE WHEN v_bigram IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END,
                  HINT = 'Use 0 for no bigrams.';
    END IF;
    -- attribute weights: the setting, with the call's keys over it
    IF attribute_weights IS NOT NULL AND jsonb_typeof(attribute_weights) <> 'object' THEN
        RAISE EXCEPTION 'attribute_weights must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"category": 1, "brand": 0.5, "organic": 0}''.';
    END IF;
    v_aw := seg_reco.setting('content_attribute_weights') || coalesce(attribute_weights, '{}');
    FOR v_key IN SELECT jsonb_object_keys(v_aw) LOOP
        IF v_key NOT IN ('category', 'subcategory', 'brand', 'own_brand', 'organic', 'vegetarian') THEN
            RAISE EXCEPTION 'unknown product attribute "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use category, subcategory, brand, own_brand, organic, vegetarian.';
        END IF;
        IF jsonb_typeof(v_aw -> v_key) <> 'number'
           OR NOT ((v_aw ->> v_key)::float8 >= 0 AND (v_aw ->> v_key)::float8 < 'Infinity') THEN
            RAISE EXCEPTION 'attribute weight of % must be a finite number, not negative, got %', v_key, v_aw -> v_key
                USING ERRCODE = CASE WHEN jsonb_typeof(v_aw -> v_key) = 'null' THEN 'null_value_not_allowed'
                                     ELSE 'invalid_parameter_value' END,
                      HINT = 'Use 0 to leave an attribute out.';
        END IF;
    END LOOP;
    v_a := ARRAY[coalesce((v_aw ->> 'category')::float8, 0), coalesce((v_aw ->> 'subcategory')::float8, 0),
                 coalesce((v_aw ->> 'brand')::float8, 0), coalesce((v_aw ->> 'own_brand')::float8, 0),
                 coalesce((v_aw ->> 'organic')::float8, 0), coalesce((v_aw ->> 'vegetarian')::float8, 0)];

    -- one build at a time; readers go on reading the old vectors
    LOCK TABLE seg_reco.content_version IN EXCLUSIVE MODE;
    DELETE FROM seg_reco.product_content;
    DELETE FROM seg_reco.content_terms;
    SELECT count(*) INTO v_n FROM seg_reco.products;

    -- each product's features and vectors in temporary tables, written to
    -- the terms and vectors by plain INSERT ... SELECT from them (on Citus
    -- those are reference tables: a statement writing one that reads other
    -- tables is sent whole to the workers, and fails there)
    IF pg_catalog.to_regclass('pg_temp.seg_reco_content_tf') IS NULL THEN
        CREATE TEMP TABLE seg_reco_content_tf
            (product_id bigint, lexeme text, kind text, tf float8) ON COMMIT DROP;
        CREATE TEMP TABLE seg_reco_content_vec
            (product_id bigint, terms integer[], weights real[], active boolean) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.seg_reco_content_tf, pg_temp.seg_reco_content_vec;
    END IF;
    WITH lex AS MATERIALIZED (
        -- every occurrence of a kept lexeme: field, position, field weight
        SELECT p.product_id, f.fno, f.w, u.lexeme, pos.pos
          FROM seg_reco.products p
         CROSS JOIN LATERAL (VALUES (1, p.name, v_w[1]), (2, p.brand, v_w[2]), (3, p.category, v_w[3]),
                                    (4, p.subcategory, v_w[4]), (5, p.description, v_w[5])) f(fno, txt, w)
         CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.to_tsvector(v_cfg, f.txt)) u
         CROSS JOIN LATERAL pg_catalog.unnest(coalesce(u.positions, '{0}'::smallint[])) pos(pos)
         WHERE f.w > 0 AND f.txt IS NOT NULL
           AND pg_catalog.length(u.lexeme) > 1
           AND u.lexeme OPERATOR(pg_catalog.!~) '^[0-9.,]+$'
    ), feat AS (
        SELECT l.product_id, l.lexeme AS feature, 'word' AS kind, l.w AS tf FROM lex l
        UNION ALL
        -- each lexeme with the next kept one in the same field (stop words,
        -- numbers and one-letter lexemes in between are skipped); a
        -- hyphenated word ("t-light") is a lexeme of its own followed by
        -- its parts ("light"): only the parts make bigrams, as in
        -- scikit-learn's tokens
        SELECT b.product_id, b.lexeme || ' ' || b.nxt, 'bigram', b.w * v_bigram
          FROM (SELECT l.product_id, l.w, l.lexeme,
                       lead(l.lexeme) OVER (PARTITION BY l.product_id, l.fno
                                            ORDER BY l.pos, l.lexeme COLLATE "C") AS nxt
                  FROM lex l WHERE l.lexeme OPERATOR(pg_catalog.!~) '-') b
         WHERE v_bigram > 0 AND b.nxt IS NOT NULL
        UNION ALL
        SELECT p.product_id, a.feature, 'attribute', a.w
          FROM seg_reco.products p
         CROSS JOIN LATERAL (VALUES
               ('category:' || lower(btrim(p.category)), v_a[1]),
               ('subcategory:' || lower(btrim(p.subcategory)), v_a[2]),
               ('brand:' || lower(btrim(p.brand)), v_a[3]),
               (CASE WHEN p.own_brand THEN 'own_brand' END, v_a[4]),
               (CASE WHEN p.organic THEN 'organic' END, v_a[5]),
               (CASE WHEN p.vegetarian THEN 'vegetarian' END, v_a[6])) a(feature, w)
         WHERE a.w > 0 AND a.feature IS NOT NULL AND a.feature OPERATOR(pg_catalog.!~) ':$'
    )
    INSERT INTO pg_temp.seg_reco_content_tf (product_id, lexeme, kind, tf)
    SELECT f.product_id, f.feature, min(f.kind), sum(f.tf)::float8
      FROM feat f
     GROUP BY f.product_id, f.feature;
    -- a feature every product holds tells no two products apart
    INSERT INTO seg_reco.content_terms (term_id, lexeme, df, idf, kind)
    SELECT (row_number() OVER (ORDER BY d.lexeme COLLATE "C"))::integer, d.lexeme, d.df::integer,
           ln((1 + v_n)::float8 / (1 + d.df)::float8) + 1, d.kind
      FROM (SELECT tf.lexeme, count(*) AS df, min(tf.kind) AS kind
              FROM pg_temp.seg_reco_content_tf tf GROUP BY tf.lexeme) d
     WHERE d.df < v_n OR v_n = 1;
    WITH w AS (
        SELECT tf.product_id, v.term_id,
               (CASE WHEN sublinear_tf AND tf.tf > 1 THEN 1 + ln(tf.tf) ELSE tf.tf END) * v.idf AS w
          FROM pg_temp.seg_reco_content_tf tf JOIN seg_reco.content_terms v ON v.lexeme = tf.lexeme
    ), vec AS (
        SELECT w.product_id,
               array_agg(w.term_id ORDER BY w.term_id) AS terms,
               array_agg((w.w / n.norm)::float4 ORDER BY w.term_id) AS weights
          FROM w JOIN (SELECT w2.product_id, sqrt(sum(w2.w * w2.w)) AS norm
                         FROM w w2 GROUP BY w2.product_id) n ON n.product_id = w.product_id
         WHERE n.norm > 0
         GROUP BY w.product_id
    )
    INSERT INTO pg_temp.seg_reco_content_vec (product_id, terms, weights, active)
    SELECT p.product_id, coalesce(vec.terms, '{}'), coalesce(vec.weights, '{}'), coalesce(p.active, true)
      FROM seg_reco.products p LEFT JOIN vec ON vec.product_id = p.product_id;
    INSERT INTO seg_reco.product_content (product_id, terms, weights, active)
    SELECT v.product_id, v.terms, v.weights, v.active FROM pg_temp.seg_reco_content_vec v;

    SELECT count(*), count(*) FILTER (WHERE t.kind = 'bigram'), count(*) FILTER (WHERE t.kind = 'attribute')
      INTO v_terms, v_bigrams, v_attrs FROM seg_reco.content_terms t;
    SELECT count(*) FILTER (WHERE cardinality(c.terms) = 0), coalesce(sum(cardinality(c.terms)), 0)
      INTO v_empty, v_nnz FROM seg_reco.product_content c;
    v_version := nextval('seg_reco.content_version_seq');
    v_params := jsonb_build_object('name_weight', name_weight, 'brand_weight', brand_weight,
                                   'category_weight', category_weight,
                                   'subcategory_weight', subcategory_weight,
                                   'description_weight', description_weight,
                                   'sublinear_tf', sublinear_tf, 'config', v_cfg::text,
                                   'bigram_weight', v_bigram, 'attribute_weights', v_aw);
    v_summary := jsonb_build_object('version', v_version, 'products', v_n, 'terms', v_terms,
                                    'bigrams', v_bigrams, 'attributes', v_attrs, 'config', v_cfg::text,
                                    'empty_products', v_empty, 'nonzeros', v_nnz,
                                    'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3));
    INSERT INTO seg_reco.content_version AS cv (singleton, version, built_at, params, summary)
    VALUES (true, v_version, now(), v_params, v_summary)
    ON CONFLICT (singleton) DO UPDATE
        SET version = excluded.version, built_at = excluded.built_at,
            params = excluded.params, summary = excluded.summary;
    RETURN v_summary;
END
$fn$;
COMMENT ON FUNCTION seg_reco.build_content(float8, float8, float8, float8, float8, boolean, text, float8, jsonb) IS 'builds the TF-IDF content vector of every product (words and bigrams from text search in text_config, product attributes, field weights, smoothed idf, L2 norm) into product_content and content_terms; returns a summary';
REVOKE EXECUTE ON FUNCTION seg_reco.build_content(float8, float8, float8, float8, float8, boolean, text, float8, jsonb) FROM PUBLIC;

-- The features of one product's content vector, heaviest first: what
-- content_similar and content_scores compare.  kind: 'word', 'bigram' or
-- 'attribute'; weight: the feature's weight in the L2-normalised vector;
-- df: products holding it.  Errors: content not built (55000), a product
-- without a vector (42704), NULL (22004).
CREATE FUNCTION seg_reco.content_features(product_id bigint)
RETURNS TABLE(feature text, kind text, weight float8, df integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF content_features.product_id IS NULL THEN
        RAISE EXCEPTION 'product_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM seg_reco.content_version) THEN
        RAISE EXCEPTION 'content vectors have not been built'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT seg_reco.build_content(); as the extension owner.';
    END IF;
    IF NOT EXISTS (SELECT FROM seg_reco.product_content c WHERE c.product_id = content_features.product_id) THEN
        RAISE EXCEPTION 'product % has no content vector', content_features.product_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'seg_reco.product_content has no row for it.',
                  HINT = 'Run SELECT seg_reco.build_content(); after adding products.';
    END IF;
    RETURN QUERY
    SELECT t.lexeme, t.kind, u.w::float8, t.df
      FROM seg_reco.product_content c
     CROSS JOIN LATERAL unnest(c.terms, c.weights) u(term, w)
      JOIN seg_reco.content_terms t ON t.term_id = u.term
     WHERE c.product_id = content_features.product_id
     ORDER BY u.w DESC, t.lexeme COLLATE "C";
END
$fn$;
COMMENT ON FUNCTION seg_reco.content_features(bigint) IS 'the features (lexemes, bigrams, attributes) of a product''s content vector with their weights, heaviest first';

-- Serving from the content vectors.  STABLE: they read the vectors visible
-- to the snapshot (through the version-keyed cache, which never changes an
-- answer; a parallel worker builds its own).  Errors: content
-- not built yet (55000); a product_id without a row in product_content
-- (42704, build_content again after adding products); k < 1 (22023); NULL
-- arguments other than as_of (22004).  Only products with a positive
-- similarity or score are returned, so fewer than k rows can come back (an
-- empty-text product has no neighbours).  Ties go to the lower product_id.
CREATE FUNCTION seg_reco.content_similar(product_id bigint,
                                         k integer DEFAULT 10,
                                         only_active boolean DEFAULT true)
RETURNS TABLE(similar_product_id bigint, similarity float8, rank integer)
AS 'MODULE_PATHNAME', 'seg_reco_content_similar'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.content_similar(bigint, integer, boolean) IS 'the k products whose content vectors are closest in cosine similarity (only similarity > 0; the product itself excluded; active as of the last build_content unless only_active is false)';

-- A customer's content profile: the sum of the vectors of the products they
-- bought up to as_of (lines with amount > 0 dated on or before as_of, all
-- lines without it), each counted once per receipt and weighted by
-- 0.5 ^ (days before the customer's latest purchase / half_life_days)
-- ('Infinity' = no decay), normalised; score = cosine(profile, product).
-- No purchases (or only returns) -> no rows.  Products never sold still get
-- scores: the cold start of new products.
CREATE FUNCTION seg_reco.content_scores(customer_id bigint,
                                        k integer DEFAULT 10,
                                        as_of date DEFAULT NULL,
                                        half_life_days float8 DEFAULT 90,
                                        exclude_purchased boolean DEFAULT false,
                                        only_active boolean DEFAULT true)
RETURNS TABLE(product_id bigint, score float8, rank integer)
AS 'MODULE_PATHNAME', 'seg_reco_content_scores'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.content_scores(bigint, integer, date, float8, boolean, boolean) IS 'top-k products by cosine between the customer''s content profile (purchases per receipt, exponentially decayed with half_life_days) and each product''s content vector; no rows without purchases';

-- Buy-again: the customer's own repeat pattern per product, from purchase
-- occasions (distinct receipts with the product, amount > 0) dated on or
-- before as_of (default: seg_reco._serving_as_of(), the latest transaction's
-- date; on Citus the last refresh()'s).
-- days_since_last counts from the end of as_of.  Each occasion counts 0.5 ^
-- (its age in days / 730), so the receipts with the product lead and
-- recency breaks ties; for n >= 2 occasions the sum is raised by up to 5%
-- when the usual cycle has come round: mean_cycle_days mu = (last - first)
-- / (n - 1) (at least 1 day), spread s = max(sample sd of the gaps, mu / 4,
-- 1 day), timing = exp(-((d - mu) / s)^2 / 2) while d <= mu and 0.5 ^ ((d -
-- mu) / (mu + s)) once overdue; score = sum x (1 + 0.05 x timing).  A single
-- purchase scores its 0.5 ^ (d / 730), mean_cycle_days NULL.  (Chosen on
-- the validation windows of the demo data and UCI Online Retail, where the
-- 0.1.0 score, n / (n + 2) x (0.1 + 0.9 x timing), ranked below a plain
-- count of receipts: bench/nextbasket.sh; the half-life and the 5%, 365
-- days and 10% before 2026-12-05: bench/buy_again_grid.sh.)  No purchases
-- -> no rows.
CREATE FUNCTION seg_reco.buy_again_scores(customer_id bigint,
                                          k integer DEFAULT 10,
                                          as_of date DEFAULT NULL)
RETURNS TABLE(product_id bigint, score float8, rank integer, purchases integer,
              mean_cycle_days float8, days_since_last float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_end timestamptz;
BEGIN
    IF customer_id IS NULL OR k IS NULL THEN
        RAISE EXCEPTION 'customer_id and k must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 THEN
        RAISE EXCEPTION 'k must be at least 1, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_end := (coalesce(as_of, seg_reco._serving_as_of(), current_date) + 1)::timestamptz;
    RETURN QUERY
    WITH occ AS (
        SELECT t.product_id AS pid, min(t.ts) AS ts
          FROM seg_reco.transactions t
         WHERE t.customer_id = buy_again_scores.customer_id AND t.amount > 0 AND t.ts < v_end
         GROUP BY t.product_id, t.receipt_id
    ), gaps AS (
        SELECT o.pid, o.ts,
               extract(epoch FROM o.ts - lag(o.ts) OVER (PARTITION BY o.pid ORDER BY o.ts))::float8 / 86400 AS gap
          FROM occ o
    ), per AS (
        SELECT g.pid, count(*)::integer AS n,
               extract(epoch FROM v_end - max(g.ts))::float8 / 86400 AS d,
               greatest(extract(epoch FROM max(g.ts) - min(g.ts))::float8 / 86400
                        / nullif(count(*) - 1, 0), 1) AS mu,
               coalesce(stddev_samp(g.gap), 0) AS sd,
               sum(pow(0.5::float8, extract(epoch FROM v_end - g.ts)::float8 / 86400 / 730)) AS dec
          FROM gaps g GROUP BY g.pid
    ), sc AS (
        SELECT p.pid, p.n, p.d,
               CASE WHEN p.n >= 2 THEN p.mu END AS mu,
               CASE WHEN p.n < 2 THEN p.dec
                    ELSE p.dec * (1 + 0.05 *
                         CASE WHEN p.d <= p.mu
                              THEN exp(-0.5 * pow((p.d - p.mu) / greatest(p.sd, p.mu / 4, 1), 2))
                              ELSE pow(0.5::float8, (p.d - p.mu) / (p.mu + greatest(p.sd, p.mu / 4, 1)))
                         END)
               END AS score
          FROM per p
    )
    SELECT sc.pid, sc.score,
           (row_number() OVER (ORDER BY sc.score DESC, sc.pid))::integer,
           sc.n, sc.mu, sc.d
      FROM sc
     ORDER BY sc.score DESC, sc.pid
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.buy_again_scores(bigint, integer, date) IS 'the customer''s own products ranked for buying again: receipts with the product, each decayed with a 730-day half-life, raised by up to 5% when the usual cycle has come round (score = sum x (1 + 0.05 x timing))';

-- Popularity and demographic cold start.  A product's popularity is the
-- number of distinct customers who bought it (amount > 0) in the days
-- before the end of as_of, among active products.

CREATE FUNCTION seg_reco.popular_products(k integer DEFAULT 10,
                                          as_of date DEFAULT NULL,
                                          days integer DEFAULT 90)
RETURNS TABLE(product_id bigint, score float8, rank integer, customers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_end   timestamptz;
    v_total bigint;
BEGIN
    IF k IS NULL OR days IS NULL THEN
        RAISE EXCEPTION 'k and days must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR days < 1 THEN
        RAISE EXCEPTION 'k and days must be at least 1, got k = %, days = %', k, days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_end := (coalesce(as_of, seg_reco._serving_as_of(), current_date) + 1)::timestamptz;
    SELECT count(DISTINCT t.customer_id) INTO v_total
      FROM seg_reco.transactions t
     WHERE t.customer_id IS NOT NULL AND t.amount > 0
       AND t.ts >= v_end - make_interval(days => days) AND t.ts < v_end;
    RETURN QUERY
    SELECT b.pid, b.n::float8 / v_total,
           (row_number() OVER (ORDER BY b.n DESC, b.pid))::integer, b.n
      FROM (SELECT t.product_id AS pid, count(DISTINCT t.customer_id) AS n
              FROM seg_reco.transactions t
              JOIN seg_reco.products p ON p.product_id = t.product_id
             WHERE p.active AND t.customer_id IS NOT NULL AND t.amount > 0
               AND t.ts >= v_end - make_interval(days => days) AND t.ts < v_end
             GROUP BY t.product_id) b
     ORDER BY b.n DESC, b.pid
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.popular_products(integer, date, integer) IS 'the k active products bought by most distinct customers in the days up to as_of; score = share of that period''s buying customers';

-- Demographic bands (age as of a reference year; household size).
CREATE FUNCTION seg_reco._age_band(birth_year integer, ref_year integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN birth_year IS NULL OR ref_year IS NULL THEN 'unknown'
            WHEN ref_year - birth_year < 30 THEN '<30'
            WHEN ref_year - birth_year < 45 THEN '30-44'
            WHEN ref_year - birth_year < 60 THEN '45-59'
            WHEN ref_year - birth_year < 75 THEN '60-74'
            ELSE '75+' END;
COMMENT ON FUNCTION seg_reco._age_band(integer, integer) IS 'age band of the demographic segments: <30, 30-44, 45-59, 60-74, 75+ or unknown';

CREATE FUNCTION seg_reco._household_band(household_size integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN household_size IS NULL THEN 'unknown'
            WHEN household_size <= 2 THEN household_size::text
            WHEN household_size <= 4 THEN '3-4'
            ELSE '5+' END;
COMMENT ON FUNCTION seg_reco._household_band(integer) IS 'household band of the demographic segments: 1, 2, 3-4, 5+ or unknown';

-- Segment popularity, precomputed by build_popularity().  Levels, from the
-- narrowest: 4 = age band + household band + county + member tier,
-- 3 = without the tier, 2 = age + household, 1 = age, 0 = everyone; a
-- dropped dimension holds '*', a missing value 'unknown'.  segment_buyers:
-- distinct buying customers of the segment in the window; score = buyers /
-- segment_buyers.  Levels 1-4 keep each segment's top_n products, level 0
-- every product bought in the window (active products only).
CREATE TABLE seg_reco.segment_popularity (
    level           integer NOT NULL CHECK (level BETWEEN 0 AND 4),
    age_band        text NOT NULL,
    household_band  text NOT NULL,
    county          text NOT NULL,
    member_tier     text NOT NULL,
    rank            integer NOT NULL,
    product_id      bigint NOT NULL,
    buyers          integer NOT NULL,
    segment_buyers  integer NOT NULL,
    score           float8 NOT NULL,
    PRIMARY KEY (level, age_band, household_band, county, member_tier, rank)
);
COMMENT ON TABLE seg_reco.segment_popularity IS 'most bought products of each demographic segment at five levels of detail (written by build_popularity; read by cold_start_recommendations and novelty)';

CREATE TABLE seg_reco.popularity_info (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    as_of       date NOT NULL,
    days        integer NOT NULL,
    top_n       integer NOT NULL,
    built_at    timestamptz NOT NULL,
    summary     jsonb NOT NULL,
    cold_start  text NOT NULL DEFAULT 'demographic' CHECK (cold_start IN ('demographic', 'popularity'))
);
COMMENT ON TABLE seg_reco.popularity_info IS 'one row: the window (as_of, days), top_n and summary of the last build_popularity, and what the blend serves customers without history (cold_start)';
COMMENT ON COLUMN seg_reco.popularity_info.cold_start IS 'what recommend_for serves a customer without history: demographic (cold_start_recommendations) or popularity (the global list); chosen by build_popularity on the validation window (setting cold_start_source "auto"; the figures are in summary -> cold_start) or set by that setting';

CREATE INDEX segment_popularity_global_idx ON seg_reco.segment_popularity (product_id) WHERE level = 0;

SELECT pg_catalog.pg_extension_config_dump('seg_reco.segment_popularity', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.popularity_info', '');

-- _segment_popularity_rows(starts, ends, top_ns, years): the rows
-- the reference statement (test/sql/coldstart.sql) writes for each window [starts[w], ends[w])
-- (its top_n, the year of its age bands), numbered by window, from one
-- read of the lines (src/popularity.c; build_popularity).
CREATE FUNCTION seg_reco._segment_popularity_rows(starts timestamptz[], ends timestamptz[],
                                                  top_ns integer[], years integer[])
RETURNS TABLE(win integer, level integer, age_band text, household_band text, county text,
              member_tier text, rank integer, product_id bigint, buyers integer,
              segment_buyers integer, score float8)
AS 'MODULE_PATHNAME', 'seg_reco_segment_popularity_rows'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._segment_popularity_rows(timestamptz[], timestamptz[], integer[], integer[]) IS 'internal: the rows of segment_popularity for one to four windows of buys from one read of the lines (build_popularity; test/sql/coldstart.sql holds the reference statement)';
REVOKE EXECUTE ON FUNCTION seg_reco._segment_popularity_rows(timestamptz[], timestamptz[], integer[], integer[]) FROM PUBLIC;

-- build_popularity also decides what the blend serves a customer without
-- history (popularity_info.cold_start).  Setting cold_start_source "auto":
-- on the validation window, the 28 days up to as_of, the customers first
-- seen there (no purchase before it; a seeded sample of at most 2000) are
-- given the lists of segment popularity as of the day before the window
-- (the same days), their own segment's (demographic) and everyone's
-- (popularity), scored on what they bought in the window.  Demographic only
-- when at least 30 such customers bought and its NDCG@10 is at least 5%
-- above popularity's; else popularity (data without demographics gives the
-- same lists, so popularity).  "demographic" or "popularity": that, no
-- validation.  The figures are in the summary (cold_start), which refresh()
-- logs in refresh_log.detail.
CREATE FUNCTION seg_reco.build_popularity(as_of date DEFAULT NULL,
                                          days integer DEFAULT 90,
                                          top_n integer DEFAULT 100)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_t0    timestamptz := clock_timestamp();
    v_asof  date;
    v_end   timestamptz;
    v_year  integer;
    v_rows  bigint;
    v_segs  bigint;
    v_buyers bigint;
    v_summary jsonb;
    v_mode  text;
    v_cold  text;
    v_check jsonb;
    v_vstart date;
    v_n     integer;
    v_dem   float8;
    v_pop   float8;
    v_serve seg_reco.segment_popularity[];
BEGIN
    IF days IS NULL OR top_n IS NULL THEN
        RAISE EXCEPTION 'days and top_n must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF days < 1 OR top_n < 1 THEN
        RAISE EXCEPTION 'days and top_n must be at least 1, got days = %, top_n = %', days, top_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_mode := seg_reco.setting('cold_start_source') #>> '{}';
    IF v_mode IS NULL OR v_mode NOT IN ('auto', 'demographic', 'popularity') THEN
        RAISE EXCEPTION 'setting cold_start_source must be "auto", "demographic" or "popularity", got %',
                        seg_reco.setting('cold_start_source')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UPDATE seg_reco.settings SET value = ''"auto"'' WHERE key = ''cold_start_source'';';
    END IF;
    v_asof := coalesce(as_of, seg_reco.default_as_of(), current_date);
    v_end := (v_asof + 1)::timestamptz;
    v_year := extract(year FROM v_asof)::integer;
    LOCK TABLE seg_reco.popularity_info IN EXCLUSIVE MODE;
    DELETE FROM seg_reco.segment_popularity;

    IF v_mode = 'auto' THEN
        -- the validation window [v_vstart, as_of]: popularity as of the day before
        v_vstart := v_asof - 27;
        -- both windows from one read of the lines: the validation one's
        -- rows into the table, the served one's kept for after
        WITH r AS MATERIALIZED (
            SELECT * FROM seg_reco._segment_popularity_rows(
                       ARRAY[v_vstart::timestamptz - make_interval(days => days),
                             v_end - make_interval(days => days)],
                       ARRAY[v_vstart::timestamptz, v_end], ARRAY[10, top_n],
                       ARRAY[extract(year FROM v_vstart - 1)::integer, v_year])
        ), ins AS (
            INSERT INTO seg_reco.segment_popularity
            SELECT r.level, r.age_band, r.household_band, r.county, r.member_tier, r.rank,
                   r.product_id, r.buyers, r.segment_buyers, r.score
              FROM r WHERE r.win = 1
        )
        SELECT array_agg(ROW(r.level, r.age_band, r.household_band, r.county, r.member_tier, r.rank,
                             r.product_id, r.buyers, r.segment_buyers, r.score)::seg_reco.segment_popularity)
          INTO v_serve
          FROM r WHERE r.win = 2;
        INSERT INTO seg_reco.popularity_info AS pi (singleton, as_of, days, top_n, built_at, summary, cold_start)
        VALUES (true, v_vstart - 1, days, 10, now(), '{}', 'demographic')
        ON CONFLICT (singleton) DO UPDATE
            SET as_of = excluded.as_of, days = excluded.days, top_n = excluded.top_n,
                built_at = excluded.built_at, summary = excluded.summary, cold_start = excluded.cold_start;
        WITH win AS (
            SELECT DISTINCT t.customer_id
              FROM seg_reco.transactions t
             WHERE t.customer_id IS NOT NULL AND t.amount > 0
               AND t.ts >= v_vstart::timestamptz AND t.ts < v_end
        ), fresh AS (
            SELECT w.customer_id
              FROM win w
             WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                                WHERE h.customer_id = w.customer_id AND h.amount > 0
                                  AND h.ts < v_vstart::timestamptz)
             ORDER BY md5(w.customer_id::text), w.customer_id
             LIMIT 2000
        ), rel AS (
            SELECT f.customer_id, array_agg(DISTINCT t.product_id) AS rel
              FROM fresh f
              JOIN seg_reco.transactions t ON t.customer_id = f.customer_id AND t.amount > 0
               AND t.ts >= v_vstart::timestamptz AND t.ts < v_end
             GROUP BY f.customer_id
        ), keyed AS (
            SELECT r.customer_id, r.rel,
                   (c.customer_id IS NULL,
                    seg_reco._age_band(c.birth_year, extract(year FROM v_vstart - 1)::integer),
                    seg_reco._household_band(c.household_size),
                    coalesce(c.county, 'unknown'), coalesce(c.member_tier, 'unknown'))::text AS seg
              FROM rel r LEFT JOIN seg_reco.customers c ON c.customer_id = r.customer_id
        ), lists AS (
            SELECT s.seg, ARRAY(SELECT cs.product_id FROM seg_reco.cold_start_recommendations(s.rep, 10) cs
                                 ORDER BY cs.rank) AS l
              FROM (SELECT kk.seg, min(kk.customer_id) AS rep FROM keyed kk GROUP BY kk.seg) s
        ), glob AS (
            SELECT ARRAY(SELECT cs.product_id FROM seg_reco.cold_start_recommendations(NULL, 10) cs
                          ORDER BY cs.rank) AS l
        ), scored AS (
            SELECT kk.rel, li.l AS dl, g.l AS gl
              FROM keyed kk JOIN lists li USING (seg) CROSS JOIN glob g
        )
        SELECT count(*)::integer,
               jsonb_build_object(
                   'from', v_vstart, 'to', v_asof, 'customers', count(*),
                   'demographic', jsonb_build_object(
                       'ndcg_at_10', round(coalesce(avg(seg_reco.ndcg_at_k(sc.dl, sc.rel, 10)), 0)::numeric, 4),
                       'precision_at_10', round(coalesce(avg(seg_reco.precision_at_k(sc.dl, sc.rel, 10)), 0)::numeric, 4),
                       'recall_at_10', round(coalesce(avg(seg_reco.recall_at_k(sc.dl, sc.rel, 10)), 0)::numeric, 4),
                       'hit_rate', round(coalesce(avg(seg_reco.hit_at_k(sc.dl, sc.rel, 10)), 0)::numeric, 4)),
                   'popularity', jsonb_build_object(
                       'ndcg_at_10', round(coalesce(avg(seg_reco.ndcg_at_k(sc.gl, sc.rel, 10)), 0)::numeric, 4),
                       'precision_at_10', round(coalesce(avg(seg_reco.precision_at_k(sc.gl, sc.rel, 10)), 0)::numeric, 4),
                       'recall_at_10', round(coalesce(avg(seg_reco.recall_at_k(sc.gl, sc.rel, 10)), 0)::numeric, 4),
                       'hit_rate', round(coalesce(avg(seg_reco.hit_at_k(sc.gl, sc.rel, 10)), 0)::numeric, 4))),
               coalesce(avg(seg_reco.ndcg_at_k(sc.dl, sc.rel, 10)), 0),
               coalesce(avg(seg_reco.ndcg_at_k(sc.gl, sc.rel, 10)), 0)
          INTO v_n, v_check, v_dem, v_pop
          FROM scored sc;
        v_cold := CASE WHEN v_n >= 30 AND v_dem > v_pop AND v_dem >= 1.05 * v_pop
                       THEN 'demographic' ELSE 'popularity' END;
        v_check := jsonb_build_object('chosen', v_cold, 'by', 'validation') || v_check
                   || jsonb_build_object('reason',
                          CASE WHEN v_n < 30 THEN format('%s customers first seen in the validation window (at least 30 needed)', v_n)
                               WHEN v_cold = 'demographic' THEN 'demographic NDCG@10 at least 5% above popularity'
                               ELSE 'demographic NDCG@10 not 5% above popularity' END);
        DELETE FROM seg_reco.segment_popularity;
        INSERT INTO seg_reco.segment_popularity SELECT * FROM unnest(v_serve);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    ELSE
        v_cold := v_mode;
        v_check := jsonb_build_object('chosen', v_cold, 'by', 'setting cold_start_source');
        INSERT INTO seg_reco.segment_popularity
        SELECT r.level, r.age_band, r.household_band, r.county, r.member_tier, r.rank,
               r.product_id, r.buyers, r.segment_buyers, r.score
          FROM seg_reco._segment_popularity_rows(ARRAY[v_end - make_interval(days => days)],
                                                 ARRAY[v_end], ARRAY[top_n], ARRAY[v_year]) r;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    END IF;
    SELECT count(*) FILTER (WHERE sp.level > 0), max(sp.segment_buyers) FILTER (WHERE sp.level = 0)
      INTO v_segs, v_buyers
      FROM seg_reco.segment_popularity sp WHERE sp.rank = 1;
    v_summary := jsonb_build_object('as_of', v_asof, 'days', days, 'top_n', top_n,
                                    'buyers', coalesce(v_buyers, 0), 'segments', v_segs, 'rows', v_rows,
                                    'cold_start', v_check,
                                    'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3));
    INSERT INTO seg_reco.popularity_info AS pi (singleton, as_of, days, top_n, built_at, summary, cold_start)
    VALUES (true, v_asof, days, top_n, now(), v_summary, v_cold)
    ON CONFLICT (singleton) DO UPDATE
        SET as_of = excluded.as_of, days = excluded.days, top_n = excluded.top_n,
            built_at = excluded.built_at, summary = excluded.summary, cold_start = excluded.cold_start;
    RETURN v_summary;
END
$fn$;
COMMENT ON FUNCTION seg_reco.build_popularity(date, integer, integer) IS 'precomputes product popularity (distinct buyers in the days up to as_of) overall and per demographic segment at four levels of detail into segment_popularity, and chooses on the 28 days up to as_of what the blend serves customers without history (popularity_info.cold_start); returns a summary';
REVOKE EXECUTE ON FUNCTION seg_reco.build_popularity(date, integer, integer) FROM PUBLIC;

-- Cold start: the narrowest segment of the customer (bands as of the
-- popularity window) with at least min_segment_size buyers gives the list;
-- when it holds fewer than k products, wider levels fill the rest (each row
-- names its level in segment_used: 'age+household+county+tier',
-- 'age+household+county', 'age+household', 'age' or 'global').  An unknown
-- customer, or NULL customer_id (an anonymous visitor), gets global
-- popularity.  Errors: popularity not built (55000), k or min_segment_size
-- < 1 (22023) or NULL (22004).
CREATE FUNCTION seg_reco.cold_start_recommendations(customer_id bigint,
                                                    k integer DEFAULT 10,
                                                    min_segment_size integer DEFAULT 30)
RETURNS TABLE(product_id bigint, score float8, rank integer, segment_used text)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_year  integer;
    v_a     text := '*';
    v_h     text := '*';
    v_co    text := '*';
    v_ti    text := '*';
    v_level integer := 0;
    v_l     integer;
    v_n     integer;
BEGIN
    IF k IS NULL OR min_segment_size IS NULL THEN
        RAISE EXCEPTION 'k and min_segment_size must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR min_segment_size < 1 THEN
        RAISE EXCEPTION 'k and min_segment_size must be at least 1, got k = %, min_segment_size = %',
                        k, min_segment_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT extract(year FROM pi.as_of)::integer INTO v_year FROM seg_reco.popularity_info pi;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segment popularity has not been built'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT seg_reco.build_popularity(); as the extension owner.';
    END IF;
    IF customer_id IS NOT NULL THEN
        SELECT seg_reco._age_band(c.birth_year, v_year), seg_reco._household_band(c.household_size),
               coalesce(c.county, 'unknown'), coalesce(c.member_tier, 'unknown')
          INTO v_a, v_h, v_co, v_ti
          FROM seg_reco.customers c WHERE c.customer_id = cold_start_recommendations.customer_id;
        IF FOUND THEN
            FOR v_l IN REVERSE 4..1 LOOP
                SELECT sp.segment_buyers INTO v_n
                  FROM seg_reco.segment_popularity sp
                 WHERE sp.level = v_l AND sp.rank = 1
                   AND sp.age_band = v_a
                   AND sp.household_band = CASE WHEN v_l >= 2 THEN v_h ELSE '*' END
                   AND sp.county = CASE WHEN v_l >= 3 THEN v_co ELSE '*' END
                   AND sp.member_tier = CASE WHEN v_l >= 4 THEN v_ti ELSE '*' END;
                IF FOUND AND v_n >= min_segment_size THEN
                    v_level := v_l;
                    EXIT;
                END IF;
            END LOOP;
        END IF;
    END IF;
    RETURN QUERY
    SELECT r.pid, r.score, (row_number() OVER (ORDER BY r.level DESC, r.rk))::integer,
           (ARRAY['global', 'age', 'age+household', 'age+household+county',
                  'age+household+county+tier'])[r.level + 1]
      FROM (SELECT DISTINCT ON (c.product_id) c.product_id AS pid, c.score, c.level, c.rank AS rk
              FROM (SELECT sp.product_id, sp.score, sp.level, sp.rank
                      FROM generate_series(0, v_level) l(level)
                     CROSS JOIN LATERAL (
                           SELECT s.product_id, s.score, s.level, s.rank
                             FROM seg_reco.segment_popularity s
                            WHERE s.level = l.level
                              AND s.age_band = CASE WHEN l.level >= 1 THEN v_a ELSE '*' END
                              AND s.household_band = CASE WHEN l.level >= 2 THEN v_h ELSE '*' END
                              AND s.county = CASE WHEN l.level >= 3 THEN v_co ELSE '*' END
                              AND s.member_tier = CASE WHEN l.level >= 4 THEN v_ti ELSE '*' END
                              AND s.rank <= k
                            ORDER BY s.rank) sp) c
             ORDER BY c.product_id, c.level DESC) r
     ORDER BY r.level DESC, r.rk
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.cold_start_recommendations(bigint, integer, integer) IS 'popular products in the customer''s demographic segment (age, household, county, member tier), backing off to wider segments below min_segment_size buyers and filling up from them; global popularity for unknown customers';

-- Ranking metrics (src/metrics.c).  recommended: the ranked list (only the
-- first k count; a repeated product counts at its first position);
-- relevant: the set of products the customer went on to buy (duplicates
-- ignored).  precision = hits / k; recall = hits / |relevant|; ndcg: binary
-- gains, discount 1 / log2(rank + 1), ideal DCG over min(k, |relevant|)
-- ranks; average precision: sum of precision@i over the ranks i <= k that
-- hit, divided by min(k, |relevant|) (the MAP@k convention); hit = 1 when
-- any of the first k is relevant.  An empty relevant set gives NULL for
-- recall, ndcg and average precision (avg() skips it) and 0 for precision
-- and hit.  k < 1 and NULL elements are errors.
CREATE FUNCTION seg_reco.precision_at_k(recommended bigint[], relevant bigint[], k integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_precision_at_k'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.precision_at_k(bigint[], bigint[], integer) IS 'share of the first k recommended products that are relevant (hits / k)';

CREATE FUNCTION seg_reco.recall_at_k(recommended bigint[], relevant bigint[], k integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_recall_at_k'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.recall_at_k(bigint[], bigint[], integer) IS 'share of the relevant products found among the first k recommended (NULL when nothing is relevant)';

CREATE FUNCTION seg_reco.ndcg_at_k(recommended bigint[], relevant bigint[], k integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_ndcg_at_k'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ndcg_at_k(bigint[], bigint[], integer) IS 'normalised discounted cumulative gain of the first k recommended, binary relevance, log2 discount, ideal over min(k, |relevant|) (NULL when nothing is relevant)';

CREATE FUNCTION seg_reco.average_precision_at_k(recommended bigint[], relevant bigint[], k integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_average_precision_at_k'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.average_precision_at_k(bigint[], bigint[], integer) IS 'average precision of the first k recommended, divided by min(k, |relevant|) (MAP@k when averaged; NULL when nothing is relevant)';

CREATE FUNCTION seg_reco.hit_at_k(recommended bigint[], relevant bigint[], k integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_hit_at_k'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.hit_at_k(bigint[], bigint[], integer) IS '1 when any of the first k recommended is relevant, else 0 (the hit rate when averaged)';

-- Intra-list diversity: 1 - mean content cosine over the pairs of the
-- list's products that have a content vector (an empty-text product has
-- cosine 0 with everything; products unknown to product_content and NULL
-- elements are skipped); NULL with fewer than two such products.
CREATE FUNCTION seg_reco.intra_list_diversity(products bigint[])
RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_intra_list_diversity'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.intra_list_diversity(bigint[]) IS '1 - mean pairwise content cosine of the products in the list (NULL with fewer than two products with content vectors)';

-- Novelty: mean over the list of -log2 p, p = (buyers + 1) / (all buyers + 1)
-- from the global level of segment_popularity (add-one smoothing, so a
-- product nobody bought in the window is the most novel, not infinite);
-- NULL elements skipped, NULL for an empty list; needs build_popularity.
CREATE FUNCTION seg_reco.novelty(products bigint[]) RETURNS float8
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_total integer;
    v_result float8;
BEGIN
    SELECT sp.segment_buyers INTO v_total
      FROM seg_reco.segment_popularity sp
     WHERE sp.level = 0 AND sp.age_band = '*' AND sp.household_band = '*'
       AND sp.county = '*' AND sp.member_tier = '*' AND sp.rank = 1;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM seg_reco.popularity_info) THEN
            RAISE EXCEPTION 'segment popularity has not been built'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Run SELECT seg_reco.build_popularity(); as the extension owner.';
        END IF;
        v_total := 0;
    END IF;
    SELECT avg(-ln((coalesce(sp.buyers, 0) + 1)::float8 / (v_total + 1)) / ln(2::float8))
      INTO v_result
      FROM unnest(products) u(pid)
      LEFT JOIN seg_reco.segment_popularity sp
             ON sp.level = 0 AND sp.age_band = '*' AND sp.household_band = '*'
            AND sp.county = '*' AND sp.member_tier = '*' AND sp.product_id = u.pid
     WHERE u.pid IS NOT NULL;
    RETURN v_result;
END
$fn$;
COMMENT ON FUNCTION seg_reco.novelty(bigint[]) IS 'mean -log2 of each product''s share of buying customers (add-one smoothed; from build_popularity''s global level): higher means less popular products';
-- END content

