------------------------------------------------------------------------------
-- Collaborative filtering: implicit-feedback ALS (src/als_train.c, als_model.c, reco_*.c)
------------------------------------------------------------------------------
-- BEGIN als
-- A model is a row of seg_reco.models (kind 'als'; params: training
-- parameters and the source query; metrics: loss and seconds per iteration;
-- model: version, factors, counts) plus its factor rows below, all written
-- by one als_train call in its transaction: readers see the old model until
-- it commits, a rollback keeps the old model.  model->>'version' comes from
-- als_model_version_seq at every training and keys each backend's cache of
-- product factors, so a retrained or rolled-back model is never served
-- stale.  Deleting a model's row from seg_reco.models deletes its factors.

CREATE SEQUENCE seg_reco.als_model_version_seq;
COMMENT ON SEQUENCE seg_reco.als_model_version_seq IS 'version numbers of trained als models (keys the per-backend model cache)';

CREATE TABLE seg_reco.als_customer_factors (
    model       text NOT NULL REFERENCES seg_reco.models (name) ON DELETE CASCADE ON UPDATE CASCADE,
    customer_id bigint NOT NULL,
    factors     float4[] NOT NULL,
    PRIMARY KEY (model, customer_id)
);
COMMENT ON TABLE seg_reco.als_customer_factors IS 'customer factors of each als model (one float4[] of length factors per customer seen in training)';

CREATE TABLE seg_reco.als_product_factors (
    model       text NOT NULL REFERENCES seg_reco.models (name) ON DELETE CASCADE ON UPDATE CASCADE,
    product_id  bigint NOT NULL,
    factors     float4[] NOT NULL,
    popularity  float8 NOT NULL,
    PRIMARY KEY (model, product_id)
);
COMMENT ON TABLE seg_reco.als_product_factors IS 'product factors of each als model, and popularity: the share of training customers with an interaction with the product (the fallback ranking)';

SELECT pg_catalog.pg_extension_config_dump('seg_reco.als_customer_factors', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.als_product_factors', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.als_model_version_seq', '');

-- The default input: one row per source row, summed per (customer, product)
-- in C.  A purchase counts purchase_weight (1.0) once per receipt (several
-- lines of one product on one receipt count once; returns, amount <= 0, and
-- lines without a customer are not counted); a product view 0.1, a click
-- 0.25, an add-to-cart 0.5 (remove_from_cart and search are not used).
-- Options: purchase_weight, view_weight, click_weight, add_to_cart_weight
-- (>= 0; 0 leaves the rows out), as_of (only rows with ts < as_of: train
-- on the past, test on the rest), half_life_days (each row's weight times
-- 0.5 ^ (age / half_life), age counted back from as_of or, without it, from
-- the latest transaction at training time).
CREATE FUNCTION seg_reco.als_source_query(options jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_key   text;
    v_pw    float8 := 1.0;
    v_vw    float8 := 0.1;
    v_cw    float8 := 0.25;
    v_aw    float8 := 0.5;
    v_asof  timestamptz;
    v_hl    float8;
    v_ref   timestamptz;
    v_decay_t text := '';
    v_decay_e text := '';
    v_cut_t text := '';
    v_cut_e text := '';
    v_types text[] := ARRAY[]::text[];
    v_q     text;
BEGIN
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"view_weight": 0.2, "half_life_days": 90}''.';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(options) LOOP
        IF v_key NOT IN ('purchase_weight', 'view_weight', 'click_weight', 'add_to_cart_weight',
                         'as_of', 'half_life_days') THEN
            RAISE EXCEPTION 'unknown als option "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use purchase_weight, view_weight, click_weight, add_to_cart_weight, as_of, half_life_days.';
        END IF;
    END LOOP;
    v_pw := coalesce((options ->> 'purchase_weight')::float8, v_pw);
    v_vw := coalesce((options ->> 'view_weight')::float8, v_vw);
    v_cw := coalesce((options ->> 'click_weight')::float8, v_cw);
    v_aw := coalesce((options ->> 'add_to_cart_weight')::float8, v_aw);
    IF v_pw < 0 OR v_vw < 0 OR v_cw < 0 OR v_aw < 0
       OR v_pw = 'NaN' OR v_vw = 'NaN' OR v_cw = 'NaN' OR v_aw = 'NaN'
       OR v_pw = 'Infinity' OR v_vw = 'Infinity' OR v_cw = 'Infinity' OR v_aw = 'Infinity' THEN
        RAISE EXCEPTION 'als weights must be finite and not negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use 0 to leave a kind of interaction out.';
    END IF;
    v_asof := (options ->> 'as_of')::timestamptz;
    v_hl := (options ->> 'half_life_days')::float8;
    IF v_hl IS NOT NULL AND NOT (v_hl > 0 AND v_hl < 'Infinity') THEN
        RAISE EXCEPTION 'half_life_days must be a positive number, got %', v_hl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_asof IS NOT NULL THEN
        v_cut_t := format(' AND t.ts < %L::timestamptz', v_asof);
        v_cut_e := format(' AND e.ts < %L::timestamptz', v_asof);
    END IF;
    IF v_hl IS NOT NULL THEN
        v_ref := coalesce(v_asof, (SELECT max(t.ts) FROM seg_reco.transactions t), now());
        v_decay_t := format(' * pg_catalog.pow(0.5::float8, (extract(epoch FROM %L::timestamptz - t.ts))::float8 / %s)',
                            v_ref, v_hl * 86400);
        v_decay_e := replace(v_decay_t, 't.ts', 'e.ts');
    END IF;
    IF v_pw > 0 THEN
        v_q := format('SELECT t.customer_id, t.product_id, (%s)::float8%s AS weight, t.receipt_id'
                      ' FROM seg_reco.transactions t'
                      ' WHERE t.customer_id IS NOT NULL AND t.amount > 0%s',
                      v_pw, v_decay_t, v_cut_t);
    END IF;
    IF v_vw > 0 THEN v_types := v_types || format('WHEN ''view'' THEN %s', v_vw); END IF;
    IF v_cw > 0 THEN v_types := v_types || format('WHEN ''click'' THEN %s', v_cw); END IF;
    IF v_aw > 0 THEN v_types := v_types || format('WHEN ''add_to_cart'' THEN %s', v_aw); END IF;
    IF cardinality(v_types) > 0 THEN
        v_q := CASE WHEN v_q IS NULL THEN '' ELSE v_q || ' UNION ALL ' END
            || format('SELECT e.customer_id, e.product_id, (CASE e.event_type %s END)::float8%s AS weight,'
                      ' NULL::bigint AS receipt_id'
                      ' FROM seg_reco.digital_events e'
                      ' WHERE e.product_id IS NOT NULL AND e.event_type IN (''view'', ''click'', ''add_to_cart'')%s',
                      array_to_string(v_types, ' '), v_decay_e, v_cut_e);
    END IF;
    IF v_q IS NULL THEN
        RAISE EXCEPTION 'all als weights are zero'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give purchases or some digital event a positive weight.';
    END IF;
    RETURN v_q;
END
$fn$;
COMMENT ON FUNCTION seg_reco.als_source_query(jsonb) IS 'the SQL als_train reads by default: purchases (1 per receipt) and digital events (view 0.1, click 0.25, add_to_cart 0.5) as (customer_id, product_id, weight, receipt_id); options change weights, cut off at as_of, add a half-life decay';

CREATE FUNCTION seg_reco._als_train(name text, factors integer, regularization float8,
                                    alpha float8, iterations integer, seed bigint, solver text,
                                    query text, custom_source boolean, options jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_als_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._als_train(text, integer, float8, float8, integer, bigint, text, text, boolean, jsonb) IS 'internal: trains an als model from a query of (customer_id, product_id, weight, receipt_id) and stores it; returns its version';
REVOKE EXECUTE ON FUNCTION seg_reco._als_train(text, integer, float8, float8, integer, bigint, text, text, boolean, jsonb) FROM PUBLIC;

-- On Citus (the lines distributed by customer), the default source query
-- summed per (customer, product) where the lines are, as the reader sums
-- them: a receipt's lines of a product once (the smallest weight, the
-- reader's first in its order), every row without a receipt (digital
-- events), in the reader's order (receipt, NULL first, then weight), and
-- receipt_id 0 for a pair with a receipt (the reader's "purchased"), NULL
-- without.  The reader then folds one row per pair into the same weight:
-- one row per pair travels to the coordinator instead of one per line.
CREATE FUNCTION seg_reco._als_pairs_query(query text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT format('SELECT x.customer_id, x.product_id,'
              ' pg_catalog.sum(x.weight ORDER BY x.receipt_id NULLS FIRST, x.weight) AS weight,'
              ' CASE WHEN pg_catalog.bool_or(x.receipt_id IS NOT NULL) THEN 0::pg_catalog.int8 END AS receipt_id'
              ' FROM (SELECT q.customer_id, q.product_id, q.weight, q.receipt_id,'
              ' pg_catalog.row_number() OVER (PARTITION BY q.customer_id, q.product_id, q.receipt_id'
              ' ORDER BY q.weight) AS n FROM (%s) q) x'
              ' WHERE x.receipt_id IS NULL OR x.n OPERATOR(pg_catalog.=) 1'
              ' GROUP BY x.customer_id, x.product_id', query)
$fn$;
COMMENT ON FUNCTION seg_reco._als_pairs_query(text) IS 'internal: the als source query summed per (customer, product) as the reader sums it (Citus: where the lines are)';
REVOKE EXECUTE ON FUNCTION seg_reco._als_pairs_query(text) FROM PUBLIC;

-- als_train: implicit-feedback ALS (Hu, Koren & Volinsky 2008) with the
-- conjugate-gradient solver (3 steps per row and iteration, as implicit) or
-- the exact Cholesky solver.  Confidence of a pair = 1 + alpha * weight.
-- source: a query returning columns customer_id, product_id, weight (any
-- numeric types; run with search_path = pg_catalog, pg_temp, so qualify
-- your tables); rows of one pair are summed; a NULL id skips the row; a
-- NULL, NaN or infinite weight is an error; a negative weight is allowed
-- (a return cancelling a purchase) and a pair whose sum is <= 0 is left out.
-- options: see als_source_query (default source only).  A model of another
-- kind under name is an error before training, or with replace => true
-- deleted (in the same transaction: a failed training keeps it).
CREATE FUNCTION seg_reco.als_train(name text,
                                   factors integer DEFAULT 64,
                                   regularization float8 DEFAULT 0.01,
                                   alpha float8 DEFAULT 1.0,
                                   iterations integer DEFAULT 15,
                                   seed bigint DEFAULT 42,
                                   solver text DEFAULT 'cg',
                                   source text DEFAULT NULL,
                                   options jsonb DEFAULT '{}',
                                   replace boolean DEFAULT false)
RETURNS seg_reco.models
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_query text;
    v_row   seg_reco.models;
BEGIN
    IF source IS NOT NULL THEN
        IF options IS NOT NULL AND options <> '{}'::jsonb THEN
            RAISE EXCEPTION 'options apply only to the default source'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Put weights, cut-offs and decay into your source query.';
        END IF;
        v_query := format('SELECT s.customer_id::pg_catalog.int8 AS customer_id,'
                          ' s.product_id::pg_catalog.int8 AS product_id,'
                          ' s.weight::pg_catalog.float8 AS weight,'
                          ' NULL::pg_catalog.int8 AS receipt_id FROM (%s) s',
                          rtrim(source, E'; \t\r\n'));
    ELSE
        v_query := seg_reco.als_source_query(coalesce(options, '{}'::jsonb));
        -- on Citus summed per pair in the shards (the same pairs and weights)
        IF seg_reco._citus_distributed('seg_reco.transactions') THEN
            v_query := seg_reco._als_pairs_query(v_query);
        END IF;
    END IF;
    PERFORM seg_reco._model_claim($1, ARRAY['als'], replace, 'als_train');
    PERFORM seg_reco._als_train($1, factors, regularization, alpha, iterations, seed, solver,
                                v_query, source IS NOT NULL, coalesce(options, '{}'::jsonb));
    IF source IS NULL THEN
        PERFORM seg_reco.nextbasket_build($1);
    END IF;
    SELECT * INTO v_row FROM seg_reco.models m WHERE m.name = $1;
    RETURN v_row;
END
$fn$;
COMMENT ON FUNCTION seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean) IS 'trains an implicit-feedback ALS model (solver cg or cholesky) on purchases and digital events, or on a query of (customer_id, product_id, weight), and stores it atomically under name; a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean) FROM PUBLIC;

-- als_fold_in: the factors of the given customers solved again against
-- the model's fixed product factors, from their interactions in the
-- model's source now (the exact solve of training's customer half-step,
-- with the model's alpha and regularization: what recommend_for does for a
-- customer without stored factors), and written in place: a new customer's
-- row inserted, a known one's replaced, the row of a customer with no
-- interaction left with the model's products deleted; other customers, the
-- product factors and the model's version are untouched.  The model's row
-- is locked meanwhile (a retrain waits); customer_ids: duplicates count
-- once, an empty array does nothing, NULL elements are an error.  Returns
-- the counts (customers, updated, inserted, deleted, without_interactions,
-- interactions, interactions_unknown_product) and seconds.
CREATE FUNCTION seg_reco.als_fold_in(model text, customer_ids bigint[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'seg_reco_als_fold_in'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.als_fold_in(text, bigint[]) IS 'solves the given customers'' factors again from their current interactions against the als model''s fixed product factors and writes them in place (new customers added, customers without interactions removed); returns the counts';
REVOKE EXECUTE ON FUNCTION seg_reco.als_fold_in(text, bigint[]) FROM PUBLIC;

-- Serving.  STABLE: they read the model and the customer's history (and
-- cache product factors per backend, keyed by the model version visible to
-- the snapshot, so the cache never changes an answer).  PARALLEL SAFE: they
-- only read tables.
-- recommend_for blends four sources, each normalised over the products
-- it may recommend so the weights mean something: als (x . y, min-max to
-- [0, 1]), content (cosine of the customer's content profile, purchases
-- decayed with a 90-day half-life, divided by the best), popularity (share
-- of the model's training customers, divided by the best) and buy_again
-- (the customer's own repeat pattern as buy_again_scores, divided by the
-- best).  score = sum of weight x normalised score (+ boost).  Default
-- weights: the setting hybrid_weights, "rebuy" {"als": 1, "content": 0.3,
-- "popularity": 0.1, "buy_again": 1} and "new" (include_purchased =>
-- false) {"als": 1, "content": 0.1, "popularity": 0.1}, chosen on a
-- validation split of the demo data (bench/hybrid.sh; tune_weights chooses
-- them on the owner's data); keys left out of weights keep their default;
-- negative weights, unknown keys or all four zero are errors.  The blend shifts with
-- history: als and buy_again are multiplied by h / (h + history_prior), h
-- = the customer's receipts (history_prior 2, a weights key), so a customer
-- with few purchases leans on content and popularity.  include_purchased
-- => false drops buy_again with the customer's products.  A customer with
-- no history at all gets the demographic cold start
-- (cold_start_recommendations; sources {cold_start}, then {popularity}).
-- A model trained on a custom source blends als and popularity only (its
-- ids need not be those of seg_reco.transactions).  diversity (0..1):
-- maximal marginal relevance, each next product maximises (1 - diversity)
-- x score / best - diversity x its largest content cosine to those already
-- listed.  max_per_category caps products of one category; exclude drops
-- products; boost '{"product_id": weight}' adds weight to the score of
-- those products (a campaign).  as_of: the history and buy-again timing as
-- of that day (default: the latest transaction's day).  sources: the
-- sources giving at least 10% of the row's score, largest first.
CREATE FUNCTION seg_reco.recommend_for(customer_id bigint,
                                       k integer DEFAULT 10,
                                       include_purchased boolean DEFAULT true,
                                       category text DEFAULT NULL,
                                       candidates bigint[] DEFAULT NULL,
                                       only_active boolean DEFAULT true,
                                       model text DEFAULT 'default',
                                       weights jsonb DEFAULT NULL,
                                       diversity float8 DEFAULT 0,
                                       max_per_category integer DEFAULT NULL,
                                       exclude bigint[] DEFAULT NULL,
                                       boost jsonb DEFAULT NULL,
                                       as_of date DEFAULT NULL)
RETURNS TABLE(product_id bigint, score float8, rank integer, sources text[])
AS 'MODULE_PATHNAME', 'seg_reco_recommend_for'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date) IS 'top-k products for a customer: a blend of als, content, popularity, buy-again and next-basket (TIFU-KNN) scores (weights per call), with diversity (MMR), a per-category cap, exclusions and boosts; folded in when new since training; demographic cold start without history; re-buys included by default';

-- why_recommended: first the next-basket parts of the product's score
-- (when the model has a build): the customer's own repeat (history product =
-- the product, contribution alpha x own, reason "you buy this every N
-- days" or "you bought this once before") and the neighbours' ((1 - alpha)
-- x neighbours, no history product, reason "customers with baskets like
-- yours buy this"); then the k history products that contribute most to
-- the als score (their contributions sum to the folded-in score; reason
-- "customers who bought this also buy it", or "looked at"); last, up to k
-- association rules {x} => {product} of product_rules with lift > 1 whose
-- x is in one of the customer's last three receipts before the serving
-- day (the model's as_of, else the latest transaction's): history product
-- x, contribution NULL (rules are no part of the score), reason "often
-- bought with <x's name> (confidence 0.42, lift 3.1)"; best first
-- (confidence, lift, x).  A rule is about one basket, so only the latest
-- receipts count; rules with two products on the left are left out.
-- Neither the next-basket nor the rule rows for a model on a custom source.
CREATE FUNCTION seg_reco.why_recommended(customer_id bigint, product_id bigint,
                                         k integer DEFAULT 5,
                                         model text DEFAULT 'default')
RETURNS TABLE(history_product_id bigint, contribution float8, rank integer, purchased boolean,
              reason text)
AS 'MODULE_PATHNAME', 'seg_reco_why_recommended'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.why_recommended(bigint, bigint, integer, text) IS 'why a product is recommended: its next-basket parts (the customer''s own repeat, the neighbours'') with a reason, then the products in the customer''s history that contribute most to its als score (those contributions sum to the folded-in score), then the association rules {x} => {product} (lift > 1) whose x is in the customer''s last three receipts (''often bought with x'', contribution NULL)';

CREATE FUNCTION seg_reco.similar_products(product_id bigint,
                                          k integer DEFAULT 10,
                                          only_active boolean DEFAULT true,
                                          model text DEFAULT 'default')
RETURNS TABLE(similar_product_id bigint, similarity float8, rank integer)
AS 'MODULE_PATHNAME', 'seg_reco_similar_products'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.similar_products(bigint, integer, boolean, text) IS 'the k products whose als factors are closest in cosine similarity (no rows for a product the model does not know)';

-- recommend_all: the list of recommend_for for every customer with stored
-- factors; customer_ids (0.2.0): only those of them (each customer's list
-- depends on that customer's factors and purchases alone, so it is the
-- row set of the call over all customers, restricted).
CREATE FUNCTION seg_reco.recommend_all(model text DEFAULT 'default',
                                       n integer DEFAULT 10,
                                       include_purchased boolean DEFAULT true,
                                       only_active boolean DEFAULT true,
                                       weights jsonb DEFAULT NULL,
                                       diversity float8 DEFAULT 0,
                                       max_per_category integer DEFAULT NULL,
                                       as_of date DEFAULT NULL,
                                       customer_ids bigint[] DEFAULT NULL)
RETURNS TABLE(customer_id bigint, product_id bigint, score float8, rank integer, sources text[])
AS 'MODULE_PATHNAME', 'seg_reco_recommend_all'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date, bigint[]) IS 'the hybrid top-n of recommend_for for every customer of an als model (or those of customer_ids; the same lists and score bits), als scored by seg_reco''s own SIMD kernels (seg_reco.simd), purchases read in one pass when a source needs them (for the recommendations view)';

CREATE FUNCTION seg_reco.simd_info(OUT setting text, OUT cpu text, OUT used text)
AS 'MODULE_PATHNAME', 'seg_reco_simd_info'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.simd_info() IS 'the instruction set of the kernels chosen at run time (recommend_all''s scores): the setting seg_reco.simd, the best this CPU supports, and the one used';
-- END als

