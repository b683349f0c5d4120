/* seg_reco 0.1.0 -> 0.2.0 (ALTER EXTENSION seg_reco UPDATE TO '0.2.0') */
\echo Use "ALTER EXTENSION seg_reco UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 11 (hardening).  Functions whose body changed are replaced in place
-- (same signature: privileges, comments and dependent objects are kept).

-- the demo generator's helpers are owner-only, like generate_demo_data
REVOKE EXECUTE ON FUNCTION seg_reco._demo_customers(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_products(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_transactions(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_digital_events(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_truth(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

-- evaluate() and tune_weights() reject an empty test window at once;
-- tune_weights() tries ALS alone and stores no buy_again weight for new products
CREATE OR REPLACE FUNCTION seg_reco.evaluate(split_date date,
                                  k integer DEFAULT 10,
                                  config jsonb DEFAULT '{}',
                                  name text DEFAULT NULL)
RETURNS TABLE(recommender text, mode text, customers integer,
              precision_at_k float8, recall_at_k float8, ndcg_at_k float8, map_at_k float8,
              hit_rate float8, coverage float8, diversity float8, novelty float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_key     text;
    v_run     bigint;
    v_model   text := '_seg_reco_eval_' || pg_catalog.pg_backend_pid();
    v_recs    text[] := ARRAY['popularity', 'buy_again', 'als', 'content', 'hybrid', 'cold_start'];
    v_sample  integer := 2000;
    v_seed    bigint := 42;
    v_days    integer;
    v_end     timestamptz;
    v_als     jsonb := '{}';
    v_w       jsonb;
    v_div     float8 := 0;
    v_cap     integer;
    v_minseg  integer := 30;
    v_r       text;
    v_m       text;
    v_weights jsonb;
    v_active  bigint;
BEGIN
    IF split_date IS NULL OR k IS NULL OR config IS NULL THEN
        RAISE EXCEPTION 'split_date, k and config must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION 'config must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"recommenders": ["als", "hybrid"], "sample_size": 1000}''.';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(config) LOOP
        IF v_key NOT IN ('recommenders', 'sample_size', 'seed', 'test_days', 'als', 'weights',
                         'diversity', 'max_per_category', 'min_segment_size') THEN
            RAISE EXCEPTION 'unknown evaluate option "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use recommenders, sample_size, seed, test_days, als, weights, diversity, max_per_category, min_segment_size.';
        END IF;
    END LOOP;
    IF config ? 'recommenders' THEN
        v_recs := ARRAY(SELECT jsonb_array_elements_text(config -> 'recommenders'));
        IF EXISTS (SELECT 1 FROM unnest(v_recs) r
                    WHERE r NOT IN ('popularity', 'buy_again', 'als', 'content', 'hybrid', 'cold_start'))
           OR cardinality(v_recs) = 0 THEN
            RAISE EXCEPTION 'recommenders must be a list of popularity, buy_again, als, content, hybrid, cold_start'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    v_sample := coalesce((config ->> 'sample_size')::integer, v_sample);
    v_seed := coalesce((config ->> 'seed')::bigint, v_seed);
    v_days := (config ->> 'test_days')::integer;
    v_als := coalesce(config -> 'als', v_als);
    v_w := config -> 'weights';
    IF jsonb_typeof(v_w) = 'null' THEN
        v_w := NULL;
    END IF;
    v_div := coalesce((config ->> 'diversity')::float8, v_div);
    v_cap := (config ->> 'max_per_category')::integer;
    v_minseg := coalesce((config ->> 'min_segment_size')::integer, v_minseg);
    IF v_sample < 1 OR (v_days IS NOT NULL AND v_days < 1) THEN
        RAISE EXCEPTION 'sample_size and test_days must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_end := CASE WHEN v_days IS NULL THEN 'infinity'::timestamptz
                  ELSE (split_date + v_days)::timestamptz END;
    -- nothing to score: say so before training anything
    IF NOT EXISTS (SELECT 1 FROM seg_reco.transactions t
                    WHERE t.customer_id IS NOT NULL AND t.amount > 0
                      AND t.ts >= split_date::timestamptz AND t.ts < v_end) THEN
        RAISE EXCEPTION 'no member purchase in the test window %',
                        CASE WHEN v_days IS NULL THEN format('from %s on', to_char(split_date, 'YYYY-MM-DD'))
                             ELSE format('from %s to %s', to_char(split_date, 'YYYY-MM-DD'),
                                         to_char(split_date + v_days - 1, 'YYYY-MM-DD')) END
            USING ERRCODE = 'no_data_found',
                  DETAIL = coalesce((SELECT format('The latest transaction is dated %s.', to_char(max(t.ts), 'YYYY-MM-DD'))
                                       FROM seg_reco.transactions t HAVING count(*) > 0),
                                    'There are no transactions.'),
                  HINT = 'Choose a split_date before the latest transaction (for example seg_reco.default_as_of() - 29).';
    END IF;

    -- the past: a private model and the split's popularity
    PERFORM seg_reco.als_train(v_model,
                               factors => coalesce((v_als ->> 'factors')::integer, 64),
                               regularization => coalesce((v_als ->> 'regularization')::float8, 0.01),
                               alpha => coalesce((v_als ->> 'alpha')::float8, 1.0),
                               iterations => coalesce((v_als ->> 'iterations')::integer, 15),
                               options => jsonb_build_object('as_of', split_date));
    CREATE TEMP TABLE _eval_saved_pop ON COMMIT DROP AS SELECT * FROM seg_reco.segment_popularity;
    CREATE TEMP TABLE _eval_saved_info ON COMMIT DROP AS SELECT * FROM seg_reco.popularity_info;
    PERFORM seg_reco.build_popularity(as_of => split_date - 1);

    -- the customers and what they bought before and after the split
    CREATE TEMP TABLE _eval_cust ON COMMIT DROP AS
    SELECT c.customer_id,
           EXISTS (SELECT 1 FROM seg_reco.transactions h
                    WHERE h.customer_id = c.customer_id AND h.amount > 0 AND h.ts < split_date::timestamptz) AS warm
      FROM (SELECT DISTINCT t.customer_id FROM seg_reco.transactions t
             WHERE t.customer_id IS NOT NULL AND t.amount > 0
               AND t.ts >= split_date::timestamptz AND t.ts < v_end) c
     ORDER BY md5(c.customer_id::text || ':' || v_seed::text), c.customer_id
     LIMIT v_sample;
    CREATE TEMP TABLE _eval_rel ON COMMIT DROP AS
    SELECT c.customer_id, c.warm,
           array_agg(DISTINCT t.product_id) AS rel_all,
           array_agg(DISTINCT t.product_id) FILTER (
               WHERE NOT EXISTS (SELECT 1 FROM seg_reco.transactions h
                                  WHERE h.customer_id = c.customer_id AND h.product_id = t.product_id
                                    AND h.amount > 0 AND h.ts < split_date::timestamptz)) AS rel_new
      FROM _eval_cust c
      JOIN seg_reco.transactions t ON t.customer_id = c.customer_id AND t.amount > 0
       AND t.ts >= split_date::timestamptz AND t.ts < v_end
     GROUP BY c.customer_id, c.warm;

    CREATE TEMP TABLE _eval_lists (recommender text, mode text, customer_id bigint, rel bigint[],
                                   products bigint[]) ON COMMIT DROP;
    FOREACH v_r IN ARRAY v_recs LOOP
        IF v_r = 'cold_start' THEN
            INSERT INTO _eval_lists
            SELECT 'cold_start', 'cold_start', r.customer_id, r.rel_all,
                   ARRAY(SELECT cs.product_id FROM seg_reco.cold_start_recommendations(r.customer_id, k, v_minseg) cs
                          ORDER BY cs.rank)
              FROM _eval_rel r WHERE NOT r.warm;
            CONTINUE;
        END IF;
        IF v_r = 'buy_again' THEN
            INSERT INTO _eval_lists
            SELECT 'buy_again', 'all', r.customer_id, r.rel_all,
                   ARRAY(SELECT b.product_id FROM seg_reco.buy_again_scores(r.customer_id, k, split_date - 1) b
                          ORDER BY b.rank)
              FROM _eval_rel r WHERE r.warm;
            CONTINUE;
        END IF;
        v_weights := CASE v_r
            WHEN 'popularity' THEN '{"als": 0, "content": 0, "popularity": 1, "buy_again": 0}'::jsonb
            WHEN 'als' THEN '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0}'::jsonb
            WHEN 'content' THEN '{"als": 0, "content": 1, "popularity": 0, "buy_again": 0}'::jsonb
            ELSE v_w END;
        FOREACH v_m IN ARRAY ARRAY['all', 'new'] LOOP
            INSERT INTO _eval_lists
            SELECT v_r, v_m, r.customer_id, CASE v_m WHEN 'all' THEN r.rel_all ELSE r.rel_new END,
                   ARRAY(SELECT f.product_id
                           FROM seg_reco.recommend_for(r.customer_id, k, include_purchased => v_m = 'all',
                                                       model => v_model, weights => v_weights,
                                                       diversity => CASE WHEN v_r = 'hybrid' THEN v_div ELSE 0 END,
                                                       max_per_category => CASE WHEN v_r = 'hybrid' THEN v_cap END,
                                                       as_of => split_date - 1) f
                          ORDER BY f.rank)
              FROM _eval_rel r
             WHERE r.warm AND (v_m = 'all' OR r.rel_new IS NOT NULL);
        END LOOP;
        IF v_r = 'popularity' THEN
            INSERT INTO _eval_lists
            SELECT 'popularity', 'cold_start', r.customer_id, r.rel_all,
                   ARRAY(SELECT f.product_id
                           FROM seg_reco.recommend_for(r.customer_id, k, model => v_model,
                                                       weights => v_weights, as_of => split_date - 1) f
                          ORDER BY f.rank)
              FROM _eval_rel r WHERE NOT r.warm;
        END IF;
    END LOOP;

    SELECT count(*) INTO v_active FROM seg_reco.products p WHERE p.active;
    v_run := nextval('seg_reco.evaluation_run_seq');
    INSERT INTO seg_reco.evaluation_runs (run_id, name, split_date, k, config, recommender, mode, customers,
                                          precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate,
                                          coverage, diversity, novelty)
    SELECT v_run, evaluate.name, split_date, k, config, l.recommender, l.mode, count(*)::integer,
           avg(seg_reco.precision_at_k(l.products, l.rel, k)),
           avg(seg_reco.recall_at_k(l.products, l.rel, k)),
           avg(seg_reco.ndcg_at_k(l.products, l.rel, k)),
           avg(seg_reco.average_precision_at_k(l.products, l.rel, k)),
           avg(seg_reco.hit_at_k(l.products, l.rel, k)),
           (SELECT count(DISTINCT u.p) FROM _eval_lists l2, unnest(l2.products) u(p)
             WHERE l2.recommender = l.recommender AND l2.mode = l.mode)::float8 / nullif(v_active, 0),
           avg(seg_reco.intra_list_diversity(l.products)),
           avg(seg_reco.novelty(l.products))
      FROM _eval_lists l
     WHERE l.rel IS NOT NULL AND cardinality(l.rel) > 0
     GROUP BY l.recommender, l.mode;

    -- put everything back
    DELETE FROM seg_reco.models m WHERE m.name = v_model;
    DELETE FROM seg_reco.segment_popularity;
    INSERT INTO seg_reco.segment_popularity SELECT * FROM _eval_saved_pop;
    DELETE FROM seg_reco.popularity_info;
    INSERT INTO seg_reco.popularity_info SELECT * FROM _eval_saved_info;
    DROP TABLE _eval_saved_pop, _eval_saved_info, _eval_cust, _eval_rel, _eval_lists;

    RETURN QUERY
    SELECT e.recommender, e.mode, e.customers, e.precision_at_k, e.recall_at_k, e.ndcg_at_k, e.map_at_k,
           e.hit_rate, e.coverage, e.diversity, e.novelty
      FROM seg_reco.evaluation_runs e
     WHERE e.run_id = v_run
     ORDER BY e.mode, array_position(ARRAY['popularity', 'buy_again', 'als', 'content', 'hybrid', 'cold_start'],
                                     e.recommender);
END
$fn$;

CREATE OR REPLACE FUNCTION seg_reco.tune_weights(split_date date, config jsonb DEFAULT '{}')
RETURNS TABLE(mode text, weights jsonb, ndcg_at_k float8, chosen boolean)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_cands jsonb := coalesce(config -> 'candidates', '[
        {"als": 1, "content": 0.3, "popularity": 0.1, "buy_again": 1},
        {"als": 1, "content": 0.1, "popularity": 0.3, "buy_again": 2},
        {"als": 1, "content": 0.05, "popularity": 0.5, "buy_again": 1},
        {"als": 1, "content": 0, "popularity": 0.7, "buy_again": 1},
        {"als": 0.5, "content": 0, "popularity": 1, "buy_again": 1},
        {"als": 0.2, "content": 0, "popularity": 1, "buy_again": 1},
        {"als": 1, "content": 0.1, "popularity": 0.1, "buy_again": 1},
        {"als": 1, "content": 0, "popularity": 0, "buy_again": 1},
        {"als": 1, "content": 0, "popularity": 0, "buy_again": 0}]'::jsonb);
    v_k     integer := coalesce((config ->> 'k')::integer, 10);
    v_eval  jsonb;
    v_c     jsonb;
    v_rebuy jsonb;
    v_new   jsonb;
BEGIN
    IF split_date IS NULL OR config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION 'split_date must not be NULL and config must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v_cands) <> 'array' OR jsonb_array_length(v_cands) = 0 THEN
        RAISE EXCEPTION 'candidates must be a non-empty JSON array of weight objects'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example [{"als": 1, "content": 0.3, "popularity": 0.1, "buy_again": 1}].';
    END IF;
    v_eval := (config - 'candidates' - 'k') || jsonb_build_object('recommenders', '["hybrid"]'::jsonb);
    IF NOT v_eval ? 'test_days' THEN
        v_eval := v_eval || '{"test_days": 28}';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.transactions t
                    WHERE t.customer_id IS NOT NULL AND t.amount > 0
                      AND t.ts >= split_date::timestamptz
                      AND t.ts < (split_date + (v_eval ->> 'test_days')::integer)::timestamptz) THEN
        RAISE EXCEPTION 'no member purchase in the validation window from % to %', to_char(split_date, 'YYYY-MM-DD'),
                        to_char(split_date + (v_eval ->> 'test_days')::integer - 1, 'YYYY-MM-DD')
            USING ERRCODE = 'no_data_found',
                  DETAIL = coalesce((SELECT format('The latest transaction is dated %s.', to_char(max(t.ts), 'YYYY-MM-DD'))
                                       FROM seg_reco.transactions t HAVING count(*) > 0),
                                    'There are no transactions.'),
                  HINT = 'Choose an earlier split_date or a longer test_days.';
    END IF;
    CREATE TEMP TABLE _tune (mode text, weights jsonb, ndcg float8, i int) ON COMMIT DROP;
    FOR v_c IN SELECT e FROM jsonb_array_elements(v_cands) e LOOP
        INSERT INTO _tune
        -- buy-again scores only products bought before: on new products a
        -- candidate's buy_again weight does nothing, so it is stored as 0
        SELECT e.mode, CASE WHEN e.mode = 'new' THEN v_c || '{"buy_again": 0}' ELSE v_c END,
               e.ndcg_at_k, (SELECT count(*) FROM _tune)::int
          FROM seg_reco.evaluate(split_date, v_k, v_eval || jsonb_build_object('weights', v_c), 'tune_weights') e
         WHERE e.mode IN ('all', 'new');
    END LOOP;
    SELECT t.weights INTO v_rebuy FROM _tune t WHERE t.mode = 'all' AND t.ndcg IS NOT NULL ORDER BY t.ndcg DESC, t.i LIMIT 1;
    SELECT t.weights INTO v_new FROM _tune t WHERE t.mode = 'new' AND t.ndcg IS NOT NULL ORDER BY t.ndcg DESC, t.i LIMIT 1;
    IF v_rebuy IS NULL OR v_new IS NULL THEN
        RAISE EXCEPTION 'no customer bought anything in the validation window from %', split_date
            USING ERRCODE = 'no_data_found',
                  HINT = 'Choose an earlier split_date or a longer test_days.';
    END IF;
    INSERT INTO seg_reco.settings (key, value)
    VALUES ('hybrid_weights', jsonb_build_object('rebuy', v_rebuy, 'new', v_new))
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    RETURN QUERY
    SELECT t.mode, t.weights, t.ndcg,
           (t.mode = 'all' AND t.weights = v_rebuy) OR (t.mode = 'new' AND t.weights = v_new)
      FROM _tune t ORDER BY t.mode, t.ndcg DESC NULLS LAST, t.i;
    DROP TABLE _tune;
END
$fn$;

-- a refresh whose ALS training is skipped removes the stale default model
CREATE OR REPLACE FUNCTION seg_reco.refresh_als() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_model seg_reco.models;
    v_old timestamptz;
BEGIN
    BEGIN
        v_model := seg_reco.als_train('default',
                                      factors => (seg_reco.setting('als_factors'))::integer,
                                      regularization => (seg_reco.setting('als_regularization'))::float8,
                                      alpha => (seg_reco.setting('als_alpha'))::float8,
                                      iterations => (seg_reco.setting('als_iterations'))::integer);
    EXCEPTION WHEN invalid_parameter_value OR no_data_found OR data_exception THEN
        -- too little data (say, fewer products than factors): the rest still runs
        RAISE WARNING 'seg_reco.refresh: recommendation model not trained: %', SQLERRM;
        DELETE FROM seg_reco.models m WHERE m.name = 'default' AND m.kind = 'als'
        RETURNING m.trained_at INTO v_old;
        RETURN jsonb_build_object('skipped', SQLERRM)
               || CASE WHEN v_old IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('removed_model', 'default', 'removed_model_trained_at', v_old) END;
    END;
    RETURN jsonb_build_object('factors', v_model.params -> 'factors',
                              'final_loss', v_model.metrics -> 'loss' -> -1,
                              'seconds', round(((v_model.metrics ->> 'load_seconds')::numeric
                                                + (v_model.metrics ->> 'train_seconds')::numeric), 2));
END;
$fn$;

-- a model of another kind under the name is refused unless replace => true
-- (issue 11 item 2): kmeans_save, gmm_save, btyd_train and als_train gain a
-- last parameter replace boolean DEFAULT false
CREATE FUNCTION seg_reco._model_claim(model_name text, kinds text[], replace boolean, caller text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_kind    text;
    v_trained timestamptz;
BEGIN
    IF model_name IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF replace IS NULL THEN
        RAISE EXCEPTION 'replace must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Omit the argument to use its default.';
    END IF;
    SELECT m.kind, m.trained_at INTO v_kind, v_trained
      FROM seg_reco.models m WHERE m.name = model_name FOR UPDATE;
    IF NOT FOUND OR v_kind = ANY (kinds) THEN
        RETURN;
    END IF;
    IF NOT replace THEN
        RAISE EXCEPTION 'model "%" already exists with kind %', model_name, v_kind
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('The %s model "%s" was trained at %s; %s stores models of kind %s and replaces a model of another kind only when asked to.',
                                  v_kind, model_name, v_trained, caller, array_to_string(kinds, ' or ')),
                  HINT = format('Choose another name, or pass replace => true to replace the %s model%s.',
                                v_kind, CASE WHEN v_kind = 'als' THEN ' and its factor rows' ELSE '' END);
    END IF;
    DELETE FROM seg_reco.models m WHERE m.name = model_name;
END
$fn$;
COMMENT ON FUNCTION seg_reco._model_claim(text, text[], boolean, text) IS 'internal: locks the name for a model of one of kinds; a model of another kind under that name is an error, or with replace deleted (with its factor rows)';
REVOKE EXECUTE ON FUNCTION seg_reco._model_claim(text, text[], boolean, text) FROM PUBLIC;

CREATE FUNCTION seg_reco._model_store(model_name text, model_kind text, kinds text[],
                                      model_params jsonb, model_metrics jsonb, model_json jsonb,
                                      replace boolean, caller text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    LOOP
        PERFORM seg_reco._model_claim(model_name, kinds, replace, caller);
        INSERT INTO seg_reco.models AS m (name, kind, params, metrics, trained_at, model)
        VALUES (model_name, model_kind, model_params, model_metrics, pg_catalog.now(), model_json)
        ON CONFLICT ON CONSTRAINT models_pkey DO UPDATE
           SET kind = excluded.kind, params = excluded.params, metrics = excluded.metrics,
               trained_at = excluded.trained_at, model = excluded.model
         WHERE m.kind = ANY (kinds);
        -- not stored: another session stored a model of another kind under
        -- this name since the claim (now locked by us); claim it again
        EXIT WHEN FOUND;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION seg_reco._model_store(text, text, text[], jsonb, jsonb, jsonb, boolean, text) IS 'internal: stores (or replaces) a model of seg_reco.models by name, refusing to replace a model of another kind unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco._model_store(text, text, text[], jsonb, jsonb, jsonb, boolean, text) FROM PUBLIC;

DROP FUNCTION seg_reco.kmeans_save(text, seg_reco.kmeans_model);
CREATE FUNCTION seg_reco.kmeans_save(name text, model seg_reco.kmeans_model, replace boolean DEFAULT false)
    RETURNS seg_reco.kmeans_model
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT seg_reco._model_store($1, 'kmeans', ARRAY['kmeans'], j -> 'params',
               pg_catalog.jsonb_build_object('inertia', j -> 'inertia', 'iterations', j -> 'iterations',
                                             'n', j -> 'n', 'sizes', j -> 'sizes'),
               j, $3, 'kmeans_save')
      FROM (SELECT $2::text::jsonb AS j) s;
    SELECT $2;
$$;
COMMENT ON FUNCTION seg_reco.kmeans_save(text, seg_reco.kmeans_model, boolean) IS 'stores (or atomically replaces) a k-means model by name in seg_reco.models and returns it; a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.kmeans_save(text, seg_reco.kmeans_model, boolean) FROM PUBLIC;

DROP FUNCTION seg_reco.gmm_save(text, seg_reco.gmm_model);
CREATE FUNCTION seg_reco.gmm_save(name text, model seg_reco.gmm_model, replace boolean DEFAULT false)
    RETURNS seg_reco.gmm_model
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT seg_reco._model_store($1, 'gmm', ARRAY['gmm'],
               (j -> 'params') || pg_catalog.jsonb_build_object('covariance_type', j -> 'covariance_type'),
               pg_catalog.jsonb_build_object('log_likelihood', j -> 'log_likelihood', 'bic', j -> 'bic',
                                             'aic', j -> 'aic', 'iterations', j -> 'iterations',
                                             'converged', j -> 'converged', 'n', j -> 'n', 'weights', j -> 'weights'),
               j, $3, 'gmm_save')
      FROM (SELECT $2::text::jsonb AS j) s;
    SELECT $2;
$$;
COMMENT ON FUNCTION seg_reco.gmm_save(text, seg_reco.gmm_model, boolean) IS 'stores (or atomically replaces) a Gaussian mixture by name in seg_reco.models and returns it; a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.gmm_save(text, seg_reco.gmm_model, boolean) FROM PUBLIC;


DROP FUNCTION seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb);
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
    END IF;
    PERFORM seg_reco._model_claim($1, ARRAY['als'], replace, 'als_train');
    PERFORM seg_reco._als_train($1, factors, regularization, alpha, iterations, seed, solver,
                                v_query, source IS NOT NULL, coalesce(options, '{}'::jsonb));
    SELECT * INTO v_row FROM seg_reco.models m WHERE m.name = $1;
    RETURN v_row;
END
$fn$;
COMMENT ON FUNCTION seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean) IS 'trains an implicit-feedback ALS model (solver cg or cholesky) on purchases and digital events, or on a query of (customer_id, product_id, weight), and stores it atomically under name; a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.als_train(text, integer, float8, float8, integer, bigint, text, text, jsonb, boolean) FROM PUBLIC;

-- default_as_of() reads the latest line off a timestamp or date column of
-- the user's table behind seg_reco.transactions (through its index), not
-- through the view's cast to timestamptz (every line, at every recommend_for)
-- (issue 11 item 9)
CREATE OR REPLACE FUNCTION seg_reco.default_as_of() RETURNS date
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_latest timestamptz;
    v_rel regclass;
    v_col name;
BEGIN
    SELECT a.attrelid::regclass, a.attname INTO v_rel, v_col
      FROM seg_reco.sources s
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid = pg_catalog.to_regclass(s.source)
       AND a.attname = coalesce(s.columns ->> 'ts', 'ts') AND a.attnum > 0 AND NOT a.attisdropped
     WHERE s.relation = 'transactions'
       AND a.atttypid IN ('pg_catalog.timestamp'::regtype, 'pg_catalog.date'::regtype)
       AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
       -- the view still reads that very column
       AND EXISTS (SELECT 1
                     FROM pg_catalog.pg_rewrite r
                     JOIN pg_catalog.pg_depend d
                       ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                    WHERE r.ev_class = 'seg_reco.transactions'::regclass
                      AND d.refclassid = 'pg_catalog.pg_class'::regclass
                      AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum);
    IF FOUND THEN
        EXECUTE format('SELECT max(s.%I)::pg_catalog.timestamptz FROM %s s', v_col, v_rel) INTO v_latest;
    ELSE
        SELECT max(t.ts) INTO v_latest FROM seg_reco.transactions t;
    END IF;
    IF v_latest > pg_catalog.now() + interval '1 day' THEN
        RAISE EXCEPTION 'seg_reco.transactions holds lines dated in the future (latest %)', v_latest
            USING ERRCODE = 'data_exception',
                  HINT = 'Repair the timestamps, or pass as_of explicitly: lines after as_of are ignored.';
    END IF;
    RETURN v_latest::date;
END;
$fn$;

-- use_source('transactions', ...) says when the user's table has no index
-- for one customer's lines or for the latest line (issue 11 item 9)
CREATE OR REPLACE FUNCTION seg_reco.use_source(relation text, source regclass,
                                    columns jsonb DEFAULT '{}',
                                    discard_data boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_target regclass;
    v_kind "char";
    v_rows bigint;
    v_select text := '';
    v_col record;
    v_src_col text;
    v_src_type oid;
    v_src_typmod integer;
    v_tgt_type oid;
    v_key text;
    v_cust text;
    v_cust_type regtype;
    v_ts text;
BEGIN
    IF relation IS NULL OR relation NOT IN ('customers', 'products', 'transactions', 'digital_events') THEN
        RAISE EXCEPTION 'unknown source relation "%"', relation
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of customers, products, transactions, digital_events.';
    END IF;
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF columns IS NULL OR jsonb_typeof(columns) <> 'object' THEN
        RAISE EXCEPTION 'columns must be a JSON object mapping seg_reco column names to source column names'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"ts": "sold_at", "amount": "net_nok"}''.';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(columns) LOOP
        IF NOT EXISTS (SELECT 1 FROM seg_reco.source_columns sc
                        WHERE sc.relation = use_source.relation AND sc.column_name = v_key) THEN
            RAISE EXCEPTION 'seg_reco.% has no column "%"', relation, v_key
                USING ERRCODE = 'undefined_column';
        END IF;
        IF jsonb_typeof(columns -> v_key) <> 'string' THEN
            RAISE EXCEPTION 'mapping for column "%" must be a source column name (a JSON string)', v_key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;

    -- build the view's select list, checking every column
    FOR v_col IN SELECT * FROM seg_reco.source_columns sc
                  WHERE sc.relation = use_source.relation ORDER BY sc.position LOOP
        v_src_col := coalesce(columns ->> v_col.column_name, v_col.column_name);
        SELECT a.atttypid, a.atttypmod INTO v_src_type, v_src_typmod
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = source AND a.attname = v_src_col AND a.attnum > 0 AND NOT a.attisdropped;
        v_tgt_type := v_col.data_type::regtype;
        IF v_src_type IS NULL THEN
            IF v_col.required OR columns ? v_col.column_name THEN
                RAISE EXCEPTION 'source % has no column "%" for seg_reco.%.%',
                                source, v_src_col, relation, v_col.column_name
                    USING ERRCODE = 'undefined_column',
                          HINT = format('Map it with columns => ''{"%s": "<your column>"}''.', v_col.column_name);
            END IF;
            v_select := v_select || format('%s(%s)::%s AS %I',
                                           CASE WHEN v_select = '' THEN '' ELSE ', ' END,
                                           coalesce(v_col.fill_with, 'NULL'), v_col.data_type, v_col.column_name);
        ELSE
            IF (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid = v_src_type)
               IS DISTINCT FROM (SELECT t.typcategory FROM pg_catalog.pg_type t WHERE t.oid = v_tgt_type) THEN
                RAISE EXCEPTION 'column "%" of % has type %, which cannot stand for seg_reco.%.% (%)',
                                v_src_col, source, pg_catalog.format_type(v_src_type, v_src_typmod),
                                relation, v_col.column_name, v_col.data_type
                    USING ERRCODE = 'datatype_mismatch',
                          HINT = 'Map a column of a compatible type, or cast it in a view of your own and use that view as the source.';
            END IF;
            v_select := v_select || format('%ss.%I::%s AS %I',
                                           CASE WHEN v_select = '' THEN '' ELSE ', ' END,
                                           v_src_col, v_col.data_type, v_col.column_name);
        END IF;
        v_src_type := NULL;
    END LOOP;

    -- replace the current relation
    v_target := to_regclass(format('seg_reco.%I', relation));
    IF v_target IS NOT NULL THEN
        SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = v_target;
        IF v_kind = 'r' THEN
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM seg_reco.%I LIMIT 1) x', relation) INTO v_rows;
            IF v_rows > 0 AND NOT discard_data THEN
                RAISE EXCEPTION 'seg_reco.% holds data that replacing it by a view would discard', relation
                    USING ERRCODE = 'object_in_use',
                          HINT = 'Pass discard_data => true to drop the built-in table and its rows.';
            END IF;
            EXECUTE format('ALTER EXTENSION seg_reco DROP TABLE seg_reco.%I', relation);
            -- CASCADE drops only the foreign keys of other source tables
            EXECUTE format('DROP TABLE seg_reco.%I CASCADE', relation);
        ELSE
            EXECUTE format('ALTER EXTENSION seg_reco DROP VIEW seg_reco.%I', relation);
            EXECUTE format('DROP VIEW seg_reco.%I', relation);
        END IF;
    END IF;
    EXECUTE format('CREATE VIEW seg_reco.%I AS SELECT %s FROM %s s', relation, v_select, source);
    EXECUTE format('ALTER EXTENSION seg_reco ADD VIEW seg_reco.%I', relation);
    EXECUTE format('COMMENT ON VIEW seg_reco.%I IS %L', relation,
                   format('seg_reco.%s read from %s (seg_reco.use_source)', relation, source));

    -- recommend_for reads one customer's lines, and default_as_of() the
    -- latest line, at every call: without an index for each, every call
    -- reads every line.  Say so now (a view cannot carry an index; the
    -- view casts customer_id to bigint, so an index on another integer type
    -- serves only as the expression (col::bigint)).
    IF relation = 'transactions' THEN
        v_cust := coalesce(columns ->> 'customer_id', 'customer_id');
        v_ts := coalesce(columns ->> 'ts', 'ts');
        SELECT a.atttypid INTO v_cust_type FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = source AND a.attname = v_cust AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname IN ('btree', 'hash')
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = source AND i.indpred IS NULL
               AND CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN a.attname = v_cust
                        ELSE i.indkey[0] = 0
                             AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true) = format('(%s::bigint)', quote_ident(v_cust))
                   END) THEN
            RAISE NOTICE 'no index of % leads with %: every recommend_for will read all its lines', source,
                         CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                              ELSE format('(%I::bigint)', v_cust) END
                USING HINT = format('CREATE INDEX ON %s (%s, %I)', source,
                                    CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                                         ELSE format('(%I::bigint)', v_cust) END, v_ts);
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = source AND i.indpred IS NULL AND a.attname = v_ts) THEN
            RAISE NOTICE 'no index of % leads with %: default_as_of(), and so every recommend_for, will read all its lines',
                         source, quote_ident(v_ts)
                USING HINT = format('CREATE INDEX ON %s (%I)', source, v_ts);
        END IF;
    END IF;

    INSERT INTO seg_reco.sources AS s (relation, source, columns)
    VALUES (use_source.relation, source::text, use_source.columns)
    ON CONFLICT ON CONSTRAINT sources_pkey
    DO UPDATE SET source = excluded.source, columns = excluded.columns, defined_at = pg_catalog.now();

    RETURN format('seg_reco.%s now reads from %s', relation, source);
END;
$fn$;


-- Issue 11, items 4, 6 and 8 (lifetime value): the purchase model that
-- produced each customer's values, the fallback when the configured model
-- does not fit, and a spend penalizer of its own in btyd_train.
ALTER TABLE seg_reco.customer_value ADD COLUMN model text;
COMMENT ON TABLE seg_reco.customer_value IS 'probability alive, expected purchases in 90 days, 12-month CLV and at-risk flag of each customer, and the purchase model that produced them (written by seg_reco.refresh)';

-- btyd_train gains spend_penalizer (a new signature: dropped and created,
-- with its comment and privileges as a fresh install has them)
DROP FUNCTION seg_reco.btyd_train(text, date, text, float8, text);
CREATE FUNCTION seg_reco.btyd_train(name text, calibration_end date DEFAULT NULL,
                                    unit text DEFAULT 'week', penalizer float8 DEFAULT 0,
                                    model text DEFAULT 'bgnbd', spend_penalizer float8 DEFAULT NULL,
                                    replace boolean DEFAULT false)
RETURNS seg_reco.btyd_models
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_end date := calibration_end;
    v_spend_pen float8 := coalesce(spend_penalizer, penalizer);
    v_fit seg_reco.bgnbd_model;
    v_gg seg_reco.gammagamma_model;
    v_row seg_reco.btyd_models;
BEGIN
    IF name IS NULL OR unit IS NULL OR penalizer IS NULL OR model IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'name, unit, penalizer, model and replace must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'mbgnbd') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''bgnbd'' or ''mbgnbd''.';
    END IF;
    IF unit NOT IN ('day', 'week') THEN
        RAISE EXCEPTION 'unknown period unit "%"', unit
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ''day'' or ''week''.';
    END IF;
    -- refuse (or with replace, delete) a model of another kind before fitting
    PERFORM seg_reco._model_claim(btyd_train.name, ARRAY['bgnbd', 'mbgnbd'], replace, 'btyd_train');
    IF v_end IS NULL THEN
        SELECT max(t.ts)::date INTO v_end FROM seg_reco.transactions t WHERE t.customer_id IS NOT NULL;
        IF v_end IS NULL THEN
            RAISE EXCEPTION 'seg_reco.transactions holds no customer purchases to train on'
                USING ERRCODE = 'no_data_found';
        END IF;
    END IF;

    CREATE TEMP TABLE IF NOT EXISTS pg_temp.btyd_train_summaries
        (customer_id bigint, frequency bigint, recency float8, t float8, monetary_value float8)
        ON COMMIT DROP;
    TRUNCATE pg_temp.btyd_train_summaries;
    INSERT INTO pg_temp.btyd_train_summaries
    SELECT s.cid, (s.v).frequency, (s.v).recency, (s.v).t, (s.v).monetary_value
      FROM (SELECT t.customer_id AS cid,
                   seg_reco.btyd_summary(t.ts::date, t.amount::float8, v_end, unit) AS v
              FROM seg_reco.transactions t
             WHERE t.customer_id IS NOT NULL AND t.ts < (v_end + 1)::timestamptz
             GROUP BY t.customer_id) s
     WHERE s.v IS NOT NULL;

    IF model = 'bgnbd' THEN
        v_fit := (SELECT seg_reco.bgnbd_fit(s.frequency, s.recency, s.t, penalizer)
                    FROM pg_temp.btyd_train_summaries s);
    ELSE
        v_fit := (SELECT seg_reco.mbgnbd_fit(s.frequency, s.recency, s.t, penalizer)
                    FROM pg_temp.btyd_train_summaries s);
    END IF;
    IF NOT v_fit.converged THEN
        RAISE EXCEPTION 'the % fit of model "%" did not converge', model, name
            USING ERRCODE = 'data_exception',
                  DETAIL = format('%s customers, %s iterations; the model was not stored.',
                                  v_fit.n_customers, v_fit.iterations),
                  HINT = format('Try model => %L, a penalizer (e.g. penalizer => 0.001), or more customers.',
                                CASE model WHEN 'bgnbd' THEN 'mbgnbd' ELSE 'bgnbd' END);
    END IF;
    -- (refresh_value() tells the spend model's failures by their messages,
    -- which start with "the gamma-gamma spend")
    v_gg := (SELECT seg_reco.gammagamma_fit(s.frequency, s.monetary_value, v_spend_pen)
               FROM pg_temp.btyd_train_summaries s
              WHERE s.frequency > 0 AND s.monetary_value > 0);
    IF NOT v_gg.converged THEN
        RAISE EXCEPTION 'the gamma-gamma spend fit of model "%" did not converge', name
            USING ERRCODE = 'data_exception',
                  DETAIL = format('%s repeat customers with positive spend, %s iterations; the model was not stored.',
                                  v_gg.n_customers, v_gg.iterations),
                  HINT = CASE WHEN v_gg.q <= 1
                              THEN 'Train on more repeat customers or with extreme spends removed; a spend penalizer shrinks q towards 0 and does not help here.'
                              ELSE 'Train on more repeat customers, or with a small spend_penalizer (e.g. 0.001) if q stays above 1.' END;
    END IF;
    IF v_gg.q <= 1 THEN
        RAISE EXCEPTION 'the gamma-gamma spend model of "%" has q = % <= 1: its population mean spend is infinite', name, v_gg.q
            USING ERRCODE = 'data_exception',
                  HINT = CASE WHEN v_spend_pen > 0
                              THEN 'A spend penalizer shrinks q towards 0: train with spend_penalizer => 0, on more repeat customers, or with extreme spends removed.'
                              ELSE 'Train on more repeat customers or with extreme spends removed; a penalizer shrinks q towards 0 and does not help here.' END;
    END IF;

    PERFORM seg_reco._model_store(btyd_train.name, btyd_train.model, ARRAY['bgnbd', 'mbgnbd'],
            jsonb_build_object('calibration_end', v_end, 'unit', unit, 'penalizer', penalizer,
                               'spend_penalizer', v_spend_pen),
            jsonb_build_object('log_likelihood', v_fit.log_likelihood, 'iterations', v_fit.iterations,
                               'converged', v_fit.converged, 'n_customers', v_fit.n_customers),
            jsonb_build_object('r', v_fit.r, 'alpha', v_fit.alpha, 'a', v_fit.a, 'b', v_fit.b,
                'spend', jsonb_build_object('p', v_gg.p, 'q', v_gg.q, 'gamma', v_gg.gamma,
                    'log_likelihood', v_gg.log_likelihood, 'iterations', v_gg.iterations,
                    'converged', v_gg.converged, 'n_customers', v_gg.n_customers,
                    'penalizer', v_gg.penalizer)),
            replace, 'btyd_train');
    SELECT * INTO v_row FROM seg_reco.btyd_models b WHERE b.name = btyd_train.name;
    DROP TABLE pg_temp.btyd_train_summaries;
    RETURN v_row;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) IS 'fits a purchase model (bgnbd or mbgnbd, with penalizer) and the Gamma-Gamma spend model (with spend_penalizer, default the same) on summaries of seg_reco.transactions up to calibration_end, and stores them under name in seg_reco.models (shown by the view seg_reco.btyd_models); a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION seg_reco.refresh_value() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_model seg_reco.btyd_models;
    v_configured text := seg_reco.setting('btyd_model') #>> '{}';
    v_unit text := seg_reco.setting('btyd_unit') #>> '{}';
    v_pen float8 := (seg_reco.setting('btyd_penalizer'))::float8;
    v_other text;
    v_try record;
    v_failed jsonb := '[]';
    v_error text;
    v_label text;
BEGIN
    DELETE FROM seg_reco.customer_value;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.customer_features WHERE frequency > 1) THEN
        RETURN jsonb_build_object('skipped', 'no repeat customers');
    END IF;
    v_other := CASE v_configured WHEN 'bgnbd' THEN 'mbgnbd' ELSE 'bgnbd' END;
    BEGIN
        FOR v_try IN
            SELECT c.model, c.penalizer
              FROM (VALUES (1, v_configured, v_pen), (2, v_other, v_pen),
                           (3, v_configured, 0.001::float8), (4, v_other, 0.001::float8)) c(step, model, penalizer)
             WHERE c.step <= 2 OR v_pen < 0.001
             ORDER BY c.step
        LOOP
            BEGIN
                v_model := seg_reco.btyd_train('customer_btyd', NULL, v_unit, v_try.penalizer,
                                               v_try.model, spend_penalizer => v_pen);
                EXIT;
            EXCEPTION WHEN data_exception THEN
                -- this purchase model has no interior optimum here: try the next
                v_model := NULL;
                v_error := SQLERRM;
                v_failed := v_failed || jsonb_build_object('model', v_try.model, 'penalizer', v_try.penalizer,
                                                           'error', SQLERRM);
                -- the spend model is the same in every try: no use going on
                EXIT WHEN SQLERRM LIKE 'the gamma-gamma spend %';
            END;
        END LOOP;
    EXCEPTION WHEN no_data_found OR invalid_parameter_value THEN
        -- too little or degenerate data, or a bad setting: the rest still runs
        RAISE WARNING 'seg_reco.refresh: customer value not computed: %', SQLERRM;
        RETURN jsonb_build_object('skipped', SQLERRM);
    END;
    IF v_model IS NULL THEN
        RAISE WARNING 'seg_reco.refresh: customer value not computed: %', v_error;
        RETURN jsonb_build_object('skipped', v_error, 'not_fitted', v_failed);
    END IF;
    v_label := v_model.kind || CASE WHEN v_model.penalizer > 0
                                    THEN format(' (penalizer %s)', v_model.penalizer) ELSE '' END;
    IF jsonb_array_length(v_failed) > 0 THEN
        RAISE NOTICE 'seg_reco.refresh: customer value from %, as % did not fit', v_label,
            (SELECT string_agg(f ->> 'model' || CASE WHEN (f ->> 'penalizer')::float8 > 0
                                                    THEN format(' (penalizer %s)', f ->> 'penalizer') ELSE '' END,
                               ', ')
               FROM jsonb_array_elements(v_failed) f);
    END IF;
    INSERT INTO seg_reco.customer_value
        (customer_id, p_alive, expected_purchases_90d, expected_spend, clv_12m, at_risk, model)
    SELECT s.customer_id, s.p_alive, s.expected_purchases_90d, s.expected_spend, s.clv_12m, s.at_risk, v_label
      FROM seg_reco.btyd_scores('customer_btyd', (seg_reco.setting('at_risk_p_alive'))::float8) s;
    RETURN jsonb_build_object('model', v_model.kind, 'penalizer', v_model.penalizer,
                              'log_likelihood', round(v_model.log_likelihood::numeric, 1))
           || CASE WHEN jsonb_array_length(v_failed) = 0 THEN '{}'::jsonb
                   ELSE jsonb_build_object('configured_model', v_configured, 'not_fitted', v_failed) END;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.refresh_value() IS 'refresh step: fit and store customer_btyd (the configured purchase model, else the first of the other model and the two with a purchase penalizer of 0.001 that fits), write probability alive, expected purchases, CLV, at-risk and the model used per customer';

-- customer_segments shows the model (value_model): a materialized view
-- cannot gain a column, so it and segment_summary, which reads it, are
-- dropped and created as a fresh install has them (filled from the current
-- tables; grants on them must be given again)
DROP MATERIALIZED VIEW seg_reco.segment_summary;
DROP MATERIALIZED VIEW seg_reco.customer_segments;
CREATE MATERIALIZED VIEW seg_reco.customer_segments AS
SELECT r.customer_id, r.as_of_date, r.first_purchase, r.last_purchase,
       r.recency_days, r.frequency, r.monetary,
       r.r_score, r.f_score, r.m_score, r.rfm_code, r.segment,
       c.cluster, c.cluster_name, c.gmm_component, c.gmm_probability,
       v.p_alive, v.expected_purchases_90d, v.clv_12m, v.at_risk, v.model AS value_model
  FROM seg_reco.rfm_score() r
  LEFT JOIN seg_reco.customer_clusters c ON c.customer_id = r.customer_id
  LEFT JOIN seg_reco.customer_value v ON v.customer_id = r.customer_id;
CREATE UNIQUE INDEX customer_segments_customer_id_idx ON seg_reco.customer_segments (customer_id);
CREATE INDEX customer_segments_segment_idx ON seg_reco.customer_segments (segment);
CREATE INDEX customer_segments_cluster_name_idx ON seg_reco.customer_segments (cluster_name);
COMMENT ON MATERIALIZED VIEW seg_reco.customer_segments IS 'one row per customer: RFM values, scores, code and segment; cluster and its name; mixture probability; probability alive, expected purchases, CLV, at-risk and the purchase model that produced them (refreshed by seg_reco.refresh)';

CREATE MATERIALIZED VIEW seg_reco.segment_summary AS
WITH tagged AS (
    SELECT 'rfm'::text AS kind, s.segment AS label, s.* FROM seg_reco.customer_segments s
    UNION ALL
    SELECT 'cluster', s.cluster_name, s.* FROM seg_reco.customer_segments s WHERE s.cluster_name IS NOT NULL
)
SELECT t.kind, t.label AS segment,
       count(*) AS customers,
       round(100.0 * count(*) / pg_catalog.sum(count(*)) OVER (PARTITION BY t.kind), 2) AS share_pct,
       pg_catalog.sum(t.monetary) AS revenue,
       round(100.0 * pg_catalog.sum(t.monetary)
             / nullif(pg_catalog.sum(pg_catalog.sum(t.monetary)) OVER (PARTITION BY t.kind), 0), 2) AS revenue_share_pct,
       round(avg(t.recency_days), 1) AS mean_recency_days,
       round(avg(t.frequency), 1) AS mean_frequency,
       round(avg(t.monetary), 2) AS mean_monetary,
       round(avg(t.r_score), 2) AS mean_r,
       round(avg(t.f_score), 2) AS mean_f,
       round(avg(t.m_score), 2) AS mean_m,
       round(avg(t.p_alive)::numeric, 3) AS mean_p_alive,
       round(pg_catalog.sum(t.expected_purchases_90d)::numeric, 1) AS expected_purchases_90d,
       round(pg_catalog.sum(t.clv_12m)::numeric, 0) AS expected_value_12m,
       round(100.0 * avg(t.at_risk::int), 1) AS at_risk_pct
  FROM tagged t
 GROUP BY t.kind, t.label;
CREATE UNIQUE INDEX segment_summary_kind_segment_idx ON seg_reco.segment_summary (kind, segment);
COMMENT ON MATERIALIZED VIEW seg_reco.segment_summary IS 'one row per RFM segment (kind rfm) and per customer cluster (kind cluster): customers, share, revenue, mean recency/frequency/monetary, probability alive, expected purchases and 12-month value, at-risk share (refreshed by seg_reco.refresh)';

-- Issue 13, item 2 (frequently bought together): association_rules and
-- frequent_itemsets (FP-growth in C), the pipeline's rules (product_rules,
-- build_rules, four settings), bought_with and basket_complements; refresh()
-- gains the step rules (same signature: replaced in place, its privileges
-- and comment kept).
-- BEGIN association rules
-- association_rules(query, ...) reads any query whose first column is a
-- basket id (smallint, integer, bigint, text, varchar or char) and whose
-- second is a product id (smallint, integer or bigint), in one pass; a row
-- with a NULL in either is skipped, a product twice in a basket counts
-- once.  Frequent itemsets come from FP-growth (Han, Pei & Yin 2000) in C;
-- rules have one item on the right-hand side, as arules' apriori
-- (Hahsler et al.), with its definitions: an itemset is frequent when
-- ceil(min_support x baskets) baskets hold it (and at least min_count, a
-- floor arules does not have: default 1); support of a rule = that of
-- lhs u {rhs}; confidence = count(lhs u {rhs}) / count(lhs) >=
-- min_confidence; min_length/max_length count the items of lhs u {rhs}
-- (arules' minlen 1 and maxlen 10 are the defaults: with min_length 1 a
-- frequent item gives the rule {} => {rhs}); lift = confidence /
-- support(rhs); leverage = support - support(lhs) x support(rhs);
-- conviction = (1 - support(rhs)) / (1 - confidence), NULL when the
-- confidence is 1; coverage = support(lhs); count = baskets holding lhs u
-- {rhs}.  lhs is sorted by product id.  Rows come sorted by the length of
-- lhs u {rhs}, then its product ids, then rhs, the same whatever the order
-- of the query's rows.  More than max_itemsets frequent itemsets (each is
-- held in memory) is an error (54000).  The query runs with search_path
-- pg_catalog, pg_temp (qualify your tables) and the caller's rights.
-- PARALLEL RESTRICTED: the caller's query may read temporary tables.
CREATE FUNCTION seg_reco.association_rules(query text,
                                           min_support float8,
                                           min_confidence float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000)
RETURNS TABLE(lhs bigint[], rhs bigint, support float8, confidence float8, lift float8,
              leverage float8, conviction float8, coverage float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_association_rules'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.association_rules(text, float8, float8, integer, integer, integer, integer) IS 'association rules lhs => {rhs} (one item on the right, as arules'' apriori) with support, confidence, lift, leverage, conviction, coverage and count, from the frequent itemsets (FP-growth) of a query of (basket id, product id)';

CREATE FUNCTION seg_reco.frequent_itemsets(query text,
                                           min_support float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000)
RETURNS TABLE(items bigint[], support float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_frequent_itemsets'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.frequent_itemsets(text, float8, integer, integer, integer, integer) IS 'every itemset held by at least ceil(min_support x baskets) (and min_count) baskets of a query of (basket id, product id), with its support and count (FP-growth)';

-- The rules of the pipeline (written by build_rules, a refresh() step):
-- rules with a non-empty left-hand side from the receipts of
-- seg_reco.transactions (lines with amount > 0, members and non-members).
CREATE TABLE seg_reco.product_rules (
    lhs         bigint[] NOT NULL,
    rhs         bigint NOT NULL,
    support     float8 NOT NULL,
    confidence  float8 NOT NULL,
    lift        float8 NOT NULL,
    leverage    float8 NOT NULL,
    conviction  float8,
    coverage    float8 NOT NULL,
    count       bigint NOT NULL,
    PRIMARY KEY (lhs, rhs)
);
CREATE INDEX product_rules_lhs_first_idx ON seg_reco.product_rules ((lhs[1]));
COMMENT ON TABLE seg_reco.product_rules IS 'association rules lhs => {rhs} among the receipts of seg_reco.transactions (written by build_rules; read by bought_with and basket_complements)';

CREATE TABLE seg_reco.product_rules_info (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    min_support    float8 NOT NULL,
    min_confidence float8 NOT NULL,
    max_length     integer NOT NULL,
    built_at       timestamptz NOT NULL,
    summary        jsonb NOT NULL
);
COMMENT ON TABLE seg_reco.product_rules_info IS 'one row: the thresholds and summary of the last build_rules';

SELECT pg_catalog.pg_extension_config_dump('seg_reco.product_rules', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.product_rules_info', '');

-- rules_min_support 0.0001: on the demo data (134,358 receipts: 14) it
-- gives 2,388 of the 4,964 products a rule of their own; 0.001 gave 339,
-- and held-out receipts were completed 8 times less often (hit rate @10
-- 0.032 against 0.247, bench/assoc.sh).
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('rules_min_support', '0.0001', 'minimum support (share of receipts) of the itemsets behind the association rules of build_rules (raised when they exceed rules_max_itemsets)'),
    ('rules_min_confidence', '0.05', 'minimum confidence of the association rules of build_rules'),
    ('rules_min_count', '10', 'fewest receipts behind an association rule of build_rules, whatever rules_min_support gives (a rule from fewer is noise)'),
    ('rules_max_length', '3', 'most products in an association rule of build_rules, both sides counted (3: up to two on the left)'),
    ('rules_max_itemsets', '1000000', 'most frequent itemsets build_rules holds in memory (about 65 bytes each); above it the support and count are doubled until they fit');

-- build_rules: product_rules from the receipts, thresholds from the
-- settings unless given; the previous rules are replaced in the same
-- transaction (readers keep seeing them until it commits).  An itemset
-- needs min_support and rules_min_count (10) receipts: on a small data set
-- 0.0001 would mean 1 or 2.  When the receipts hold more than
-- rules_max_itemsets frequent itemsets (long baskets of similar products
-- can hold tens of millions), the support and the count are doubled until
-- they fit: the summary names those used (min_support, min_count) and the
-- support asked for (asked_min_support).
CREATE FUNCTION seg_reco.build_rules(min_support float8 DEFAULT NULL,
                                     min_confidence float8 DEFAULT NULL,
                                     max_length integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_t0      timestamptz := clock_timestamp();
    v_asked   float8 := coalesce(min_support, (seg_reco.setting('rules_min_support'))::float8);
    v_supp    float8 := v_asked;
    v_conf    float8 := coalesce(min_confidence, (seg_reco.setting('rules_min_confidence'))::float8);
    v_len     integer := coalesce(max_length, (seg_reco.setting('rules_max_length'))::integer);
    v_count   integer := (seg_reco.setting('rules_min_count'))::integer;
    v_max     integer := (seg_reco.setting('rules_max_itemsets'))::integer;
    v_rows    bigint;
    v_summary jsonb;
BEGIN
    LOCK TABLE seg_reco.product_rules_info IN EXCLUSIVE MODE;
    DELETE FROM seg_reco.product_rules;
    LOOP
        BEGIN
            INSERT INTO seg_reco.product_rules
                (lhs, rhs, support, confidence, lift, leverage, conviction, coverage, count)
            SELECT r.lhs, r.rhs, r.support, r.confidence, r.lift, r.leverage, r.conviction, r.coverage, r.count
              FROM seg_reco.association_rules(
                       'SELECT t.receipt_id, t.product_id FROM seg_reco.transactions t WHERE t.amount > 0',
                       v_supp, v_conf, max_length => greatest(v_len, 2), min_length => 2,
                       min_count => v_count, max_itemsets => v_max) r;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            EXIT;
        EXCEPTION WHEN program_limit_exceeded THEN
            IF v_supp >= 0.5 OR v_count >= 1073741824 THEN
                RAISE;
            END IF;
            RAISE NOTICE 'build_rules: more than % frequent itemsets at support % and count %; trying % and %',
                v_max, v_supp, v_count, least(2 * v_supp, 1), 2 * v_count;
            v_supp := least(2 * v_supp, 1);
            v_count := 2 * v_count;
        END;
    END LOOP;
    v_summary := jsonb_build_object('rules', v_rows, 'min_support', v_supp, 'min_count', v_count,
                                    'min_confidence', v_conf, 'max_length', v_len,
                                    'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3))
                 || CASE WHEN v_supp = v_asked THEN '{}'::jsonb
                         ELSE jsonb_build_object('asked_min_support', v_asked) END;
    INSERT INTO seg_reco.product_rules_info AS i
        (singleton, min_support, min_confidence, max_length, built_at, summary)
    VALUES (true, v_supp, v_conf, v_len, now(), v_summary)
    ON CONFLICT (singleton) DO UPDATE
        SET min_support = excluded.min_support, min_confidence = excluded.min_confidence,
            max_length = excluded.max_length, built_at = excluded.built_at, summary = excluded.summary;
    RETURN v_summary;
END
$fn$;
COMMENT ON FUNCTION seg_reco.build_rules(float8, float8, integer) IS 'replaces product_rules with the association rules (non-empty left-hand side) of the receipts in seg_reco.transactions; thresholds from the settings rules_min_support, rules_min_count, rules_min_confidence, rules_max_length unless given (support and count doubled while the itemsets exceed rules_max_itemsets); returns a summary';
REVOKE EXECUTE ON FUNCTION seg_reco.build_rules(float8, float8, integer) FROM PUBLIC;

-- Serving.  Only rules with lift > 1 are used: a product whose share in
-- the baskets holding the others is no higher than its share overall is
-- not bought "with" them.  They are ranked by confidence (the share of
-- the baskets holding the left-hand side that also hold the product: the
-- chance it goes into this basket), then lift, then product id; lift first
-- would put rare products with a handful of co-occurrences on top, and
-- confidence without lift > 1 can put a best seller (whole milk is in 26%
-- of Groceries' baskets) on the page of a product it is no likelier with.
-- On held-out receipts (bench/assoc.sh) confidence
-- first completed more carts than lift first: demo 0.247 against 0.237,
-- UCI Online Retail 0.207 against 0.195 (hit rate @10).  Errors: rules not
-- built yet (55000), k outside 1..1000 (22023), NULL arguments (22004).

-- bought_with: for a product page, the products most often in the same
-- basket (rules {product_id} => {other}).
CREATE FUNCTION seg_reco.bought_with(product_id bigint,
                                     k integer DEFAULT 10,
                                     only_active boolean DEFAULT true)
RETURNS TABLE(other_product_id bigint, confidence float8, lift float8, support float8,
              count bigint, rank integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF product_id IS NULL OR k IS NULL OR only_active IS NULL THEN
        RAISE EXCEPTION 'product_id, k and only_active must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.product_rules_info) THEN
        RAISE EXCEPTION 'association rules are not built yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CALL seg_reco.refresh(); or SELECT seg_reco.build_rules();';
    END IF;
    RETURN QUERY
    SELECT r.rhs, r.confidence, r.lift, r.support, r.count,
           (row_number() OVER (ORDER BY r.confidence DESC, r.lift DESC, r.rhs))::integer
      FROM seg_reco.product_rules r
     WHERE r.lhs = ARRAY[bought_with.product_id] AND r.lift > 1
       AND (NOT only_active
            OR EXISTS (SELECT 1 FROM seg_reco.products p WHERE p.product_id = r.rhs AND p.active))
     ORDER BY r.confidence DESC, r.lift DESC, r.rhs
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.bought_with(bigint, integer, boolean) IS 'frequently bought together, for a product page: the products of the rules {product_id} => {other} with lift > 1, by confidence, then lift';

-- basket_complements: for a cart, products not in it from the rules whose
-- left-hand side the cart holds; each product by its best rule (highest
-- confidence, then lift, then the longer left-hand side), whose
-- left-hand side is returned as because ("often bought with ...").  NULL
-- elements of the cart are ignored; an empty cart gives no rows; more than
-- 1,000 distinct products is an error (22023: the containment tests grow
-- with the cart).
CREATE FUNCTION seg_reco.basket_complements(product_ids bigint[],
                                            k integer DEFAULT 10,
                                            only_active boolean DEFAULT true)
RETURNS TABLE(product_id bigint, confidence float8, lift float8, support float8,
              because bigint[], rank integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_cart bigint[];
BEGIN
    IF product_ids IS NULL OR k IS NULL OR only_active IS NULL THEN
        RAISE EXCEPTION 'product_ids, k and only_active must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.product_rules_info) THEN
        RAISE EXCEPTION 'association rules are not built yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CALL seg_reco.refresh(); or SELECT seg_reco.build_rules();';
    END IF;
    v_cart := ARRAY(SELECT DISTINCT c FROM unnest(product_ids) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(v_cart) > 1000 THEN
        RAISE EXCEPTION 'a cart holds at most 1000 distinct products, got %', cardinality(v_cart)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the products of one basket.';
    END IF;
    RETURN QUERY
    SELECT b.rhs, b.confidence, b.lift, b.support, b.lhs,
           (row_number() OVER (ORDER BY b.confidence DESC, b.lift DESC, b.rhs))::integer
      FROM (SELECT DISTINCT ON (r.rhs) r.rhs, r.confidence, r.lift, r.support, r.lhs
              FROM seg_reco.product_rules r
             WHERE r.lhs[1] = ANY (v_cart) AND r.lhs <@ v_cart AND r.rhs <> ALL (v_cart)
               AND r.lift > 1
             ORDER BY r.rhs, r.confidence DESC, r.lift DESC, cardinality(r.lhs) DESC, r.lhs) b
     WHERE NOT only_active
        OR EXISTS (SELECT 1 FROM seg_reco.products p WHERE p.product_id = b.rhs AND p.active)
     ORDER BY b.confidence DESC, b.lift DESC, b.rhs
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.basket_complements(bigint[], integer, boolean) IS 'products to complete a cart: those of the rules whose left-hand side the cart holds (not already in it, lift > 1), each by its best rule, by confidence, then lift; because = that rule''s left-hand side';
-- END association rules

CREATE OR REPLACE PROCEDURE seg_reco.refresh()
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_run bigint := nextval('seg_reco.refresh_run_seq');
    v_t0 timestamptz;
    v_rows bigint;
    v_detail jsonb;
BEGIN
    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.customer_features;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_features;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_features', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.refresh_clusters();
    SELECT count(*) INTO v_rows FROM seg_reco.customer_clusters;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'clusters', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.refresh_value();
    SELECT count(*) INTO v_rows FROM seg_reco.customer_value;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_value', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.build_content();
    SELECT count(*) INTO v_rows FROM seg_reco.product_content;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'content', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.build_popularity();
    SELECT count(*) INTO v_rows FROM seg_reco.segment_popularity;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'popularity', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.build_rules();
    SELECT count(*) INTO v_rows FROM seg_reco.product_rules;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'rules', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    v_detail := seg_reco.refresh_als();
    SELECT count(*) INTO v_rows FROM seg_reco.als_customer_factors f WHERE f.model = 'default';
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'als_model', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail);

    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.recommendations;
    SELECT count(*) INTO v_rows FROM seg_reco.recommendations;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'recommendations', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL);

    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.customer_segments;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_segments;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_segments', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL);

    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.segment_summary;
    SELECT count(*) INTO v_rows FROM seg_reco.segment_summary;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'segment_summary', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL);
END;
$fn$;
