------------------------------------------------------------------------------
-- Hybrid recommendations: evaluation and weight tuning (evaluate, tune_weights, evaluation_runs)
------------------------------------------------------------------------------
-- BEGIN hybrid
-- (The hybrid blend itself is recommend_for / recommend_all, section als.)
-- evaluate(split_date, k, config, name) replays the past: it trains a
-- private ALS model on the interactions before split_date (name
-- _seg_reco_eval_<pid>, deleted at the end, so the user's models are never
-- touched), rebuilds segment popularity as of the day before the split
-- (the user's segment popularity is put back at the end), and compares each
-- recommender's top k with what customers bought from split_date on
-- (config test_days, default all later days):
--   mode 'all'        every product the customer bought in the test window
--   mode 'new'        only products the customer had not bought before
--   mode 'cold_start' customers with no purchase before the split
-- Recommenders (config recommenders, default all): popularity (the model's
-- popularity, same list for everyone minus known products in mode new),
-- buy_again (buy_again_scores as of the split; mode all only), nextbasket
-- (recommend_for with the next-basket source alone; config nextbasket, an
-- object of nextbasket_build's params, rebuilds it with those), als,
-- content, hybrid (recommend_for with only that source, or the blend with
-- config weights, diversity, max_per_category) and cold_start
-- (cold_start_recommendations, the demographic list, cold-start customers;
-- for them popularity is the global list and hybrid what the blend serves:
-- the list build_popularity chose, since 0.2.0).  Customers: a seeded sample (config sample_size 2000, seed
-- 42) of those who bought in the test window; a customer counts in a mode
-- only when that mode's relevant set is not empty.  Metrics are means over
-- customers; coverage = distinct recommended products / active products;
-- diversity = mean intra_list_diversity; novelty = mean novelty (with the
-- split's popularity).  Each row is stored in seg_reco.evaluation_runs.

CREATE SEQUENCE seg_reco.evaluation_run_seq;
COMMENT ON SEQUENCE seg_reco.evaluation_run_seq IS 'run ids of seg_reco.evaluate()';

CREATE TABLE seg_reco.evaluation_runs (
    run_id          bigint NOT NULL,
    name            text,
    split_date      date NOT NULL,
    k               integer NOT NULL CHECK (k >= 1),
    config          jsonb NOT NULL,
    recommender     text NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('all', 'new', 'cold_start')),
    customers       integer NOT NULL,
    precision_at_k  float8,
    recall_at_k     float8,
    ndcg_at_k       float8,
    map_at_k        float8,
    hit_rate        float8,
    coverage        float8,
    diversity       float8,
    novelty         float8,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (run_id, recommender, mode)
);
COMMENT ON TABLE seg_reco.evaluation_runs IS 'one row per recommender and mode of each seg_reco.evaluate() run: its split, k, configuration and ranking metrics, to compare runs over time';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.evaluation_runs', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.evaluation_run_seq', '');

CREATE FUNCTION seg_reco.evaluate(split_date date,
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
    v_recs    text[] := ARRAY['popularity', 'buy_again', 'nextbasket', 'als', 'content', 'hybrid', 'cold_start'];
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
                         'diversity', 'max_per_category', 'min_segment_size', 'nextbasket') THEN
            RAISE EXCEPTION 'unknown evaluate option "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use recommenders, sample_size, seed, test_days, als, weights, diversity, max_per_category, min_segment_size, nextbasket.';
        END IF;
    END LOOP;
    IF config ? 'recommenders' THEN
        v_recs := ARRAY(SELECT jsonb_array_elements_text(config -> 'recommenders'));
        IF EXISTS (SELECT 1 FROM unnest(v_recs) r
                    WHERE r NOT IN ('popularity', 'buy_again', 'nextbasket', 'als', 'content', 'hybrid', 'cold_start'))
           OR cardinality(v_recs) = 0 THEN
            RAISE EXCEPTION 'recommenders must be a list of popularity, buy_again, nextbasket, als, content, hybrid, cold_start'
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
    IF jsonb_typeof(v_als) <> 'object' THEN
        RAISE EXCEPTION 'evaluate option als must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"als": {"factors": 32, "iterations": 10}}''.';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(v_als) LOOP
        IF v_key NOT IN ('factors', 'regularization', 'alpha', 'iterations') THEN
            RAISE EXCEPTION 'unknown evaluate als option "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use factors, regularization, alpha, iterations.';
        END IF;
    END LOOP;

    -- a weights object is whole: a source it leaves out weighs 0 (say so)
    IF jsonb_typeof(v_w) = 'object'
       AND NOT v_w ?& ARRAY['als', 'content', 'popularity', 'buy_again', 'nextbasket', 'upcf', 'seasonal'] THEN
        RAISE NOTICE 'weights leave out %: weighed 0',
                     (SELECT string_agg(s.s, ', ') FROM unnest(ARRAY['als', 'content', 'popularity', 'buy_again', 'nextbasket', 'upcf', 'seasonal']) s(s)
                       WHERE NOT v_w ? s.s)
            USING DETAIL = 'A source a weights object leaves out weighs 0.',
                  HINT = 'Name every source (als, content, popularity, buy_again, nextbasket, upcf, seasonal) to silence this.';
    END IF;

    -- the past: a private model and the split's popularity
    PERFORM seg_reco._progress_begin('evaluate', 4 + cardinality(v_recs));
    PERFORM seg_reco._progress_step('evaluate', 'train_als');
    -- as als_train on the default source (seed 42, solver cg), but the
    -- next-basket neighbours (most of als_train's time on the demo data)
    -- are built once, with config nextbasket, and only when read: by the
    -- recommenders nextbasket and hybrid
    PERFORM seg_reco._model_claim(v_model, ARRAY['als'], false, 'evaluate');
    PERFORM seg_reco._als_train(v_model, coalesce((v_als ->> 'factors')::integer, 64),
                                coalesce((v_als ->> 'regularization')::float8, 0.01),
                                coalesce((v_als ->> 'alpha')::float8, 1.0),
                                coalesce((v_als ->> 'iterations')::integer, 15), 42, 'cg',
                                seg_reco.als_source_query(jsonb_build_object('as_of', split_date)), false,
                                jsonb_build_object('as_of', split_date));
    IF config ? 'nextbasket' OR v_recs && ARRAY['nextbasket', 'hybrid'] THEN
        PERFORM seg_reco.nextbasket_build(v_model, coalesce(config -> 'nextbasket', '{}'));
    END IF;
    CREATE TEMP TABLE _eval_saved_pop ON COMMIT DROP AS SELECT * FROM seg_reco.segment_popularity;
    CREATE TEMP TABLE _eval_saved_info ON COMMIT DROP AS SELECT * FROM seg_reco.popularity_info;
    PERFORM seg_reco._progress_step('evaluate', 'split_popularity');
    PERFORM seg_reco.build_popularity(as_of => split_date - 1);

    -- the customers and what they bought before and after the split
    PERFORM seg_reco._progress_step('evaluate', 'sample_customers');
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
        PERFORM seg_reco._progress_step('evaluate', 'lists_' || v_r);
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
            WHEN 'popularity' THEN '{"als": 0, "content": 0, "popularity": 1, "buy_again": 0, "nextbasket": 0}'::jsonb
            WHEN 'nextbasket' THEN '{"als": 0, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1}'::jsonb
            WHEN 'als' THEN '{"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}'::jsonb
            WHEN 'content' THEN '{"als": 0, "content": 1, "popularity": 0, "buy_again": 0, "nextbasket": 0}'::jsonb
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
        -- cold-start customers: popularity = the global list of the split's
        -- segment popularity; hybrid = what the blend serves them (the list
        -- build_popularity chose on the 28 days before the split)
        IF v_r = 'popularity' THEN
            INSERT INTO _eval_lists
            SELECT 'popularity', 'cold_start', r.customer_id, r.rel_all,
                   ARRAY(SELECT cs.product_id FROM seg_reco.cold_start_recommendations(NULL, k) cs
                          ORDER BY cs.rank)
              FROM _eval_rel r WHERE NOT r.warm;
        ELSIF v_r = 'hybrid' THEN
            INSERT INTO _eval_lists
            SELECT 'hybrid', 'cold_start', r.customer_id, r.rel_all,
                   ARRAY(SELECT f.product_id
                           FROM seg_reco.recommend_for(r.customer_id, k, model => v_model, weights => v_weights,
                                                       diversity => v_div, max_per_category => v_cap,
                                                       as_of => split_date - 1) f
                          ORDER BY f.rank)
              FROM _eval_rel r WHERE NOT r.warm;
        END IF;
    END LOOP;

    PERFORM seg_reco._progress_step('evaluate', 'metrics');
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
     ORDER BY e.mode, array_position(ARRAY['popularity', 'buy_again', 'nextbasket', 'als', 'content', 'hybrid', 'cold_start'],
                                     e.recommender);
    PERFORM seg_reco._progress_end('evaluate');
END
$fn$;
COMMENT ON FUNCTION seg_reco.evaluate(date, integer, jsonb, text) IS 'trains temporary models on the data before split_date and reports precision, recall, NDCG, MAP, hit rate, coverage, diversity and novelty at k of popularity, buy-again, next basket, ALS, content, the hybrid and the cold start on what customers bought from split_date on (all products, new products, cold-start customers); stores the run in evaluation_runs';
REVOKE EXECUTE ON FUNCTION seg_reco.evaluate(date, integer, jsonb, text) FROM PUBLIC;
-- tune_weights(split_date, config): chooses the default weights of the
-- blend on a validation split of the owner's data.  Each candidate weight
-- set (config candidates, a JSON array of weight objects; default twelve
-- sets from buy-again and next-basket heavy to ALS alone) is scored by evaluate()
-- (hybrid only; config sample_size, seed, test_days, als and k pass
-- through, test_days default 28) on the days from split_date on; the best
-- NDCG@k with re-buys becomes hybrid_weights' "rebuy" object and the best
-- on new products its "new" object (in seg_reco.settings).  Use a split
-- before your test window: the test must not choose the weights.  Rows:
-- each candidate and mode with its NDCG, chosen marks the winners.
CREATE FUNCTION seg_reco.tune_weights(split_date date, config jsonb DEFAULT '{}')
RETURNS TABLE(mode text, weights jsonb, ndcg_at_k float8, chosen boolean)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_cands jsonb := coalesce(config -> 'candidates', '[
        {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5, "seasonal": 0.1},
        {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5},
        {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 1},
        {"als": 0.05, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.1},
        {"als": 0.3, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 1},
        {"als": 1, "content": 0.3, "popularity": 0.1, "buy_again": 1, "nextbasket": 0},
        {"als": 0.5, "content": 0, "popularity": 1, "buy_again": 1, "nextbasket": 0},
        {"als": 1, "content": 0.05, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "history_prior": 0},
        {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "history_prior": 0},
        {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "upcf": 0.1, "history_prior": 0},
        {"als": 1, "content": 0.1, "popularity": 0.1, "buy_again": 0, "nextbasket": 0},
        {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0}]'::jsonb);
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
                  HINT = 'For example [{"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5}].';
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
    PERFORM seg_reco._progress_begin('tune_weights', jsonb_array_length(v_cands));
    FOR v_c IN SELECT e FROM jsonb_array_elements(v_cands) e LOOP
        PERFORM seg_reco._progress_step('tune_weights', 'candidate', detail => v_c::text);
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
    PERFORM seg_reco._progress_end('tune_weights');
END
$fn$;
COMMENT ON FUNCTION seg_reco.tune_weights(date, jsonb) IS 'scores candidate hybrid weights with evaluate() on a validation split and stores the best (re-buys and new products) as the setting hybrid_weights';
REVOKE EXECUTE ON FUNCTION seg_reco.tune_weights(date, jsonb) FROM PUBLIC;

-- tune_nextbasket(split_date, config): chooses the parameters of the
-- next-basket model on a validation split of the owner's data: TIFU-KNN's
-- (config source "nextbasket", the default) or UP-CF@r's (source "upcf").
-- Each candidate (config candidates, a JSON array of objects; TIFU-KNN's
-- keys group_size, within_decay, group_decay, neighbours, alpha, default
-- twelve sets; UP-CF@r's upcf_baskets, upcf_alpha, upcf_locality,
-- upcf_neighbours, default nine sets; keys left out keep the current
-- setting) is written to the settings nextbasket_* and scored by evaluate()
-- (TIFU-KNN: the recommender nextbasket alone, mode all; UP-CF@r: the
-- blend with the source upcf alone, mode new, as it serves the products
-- new to a customer; config sample_size, seed, test_days (default 28) and
-- k pass through; the private als model is trained small, config als
-- {"factors": 8, "iterations": 2}, as the next-basket scores do not use
-- it); the best NDCG@k stays in the settings, the others are put back.
-- Use a split before your test window.  Rows: each candidate with its
-- NDCG, chosen marks the winner.  Rebuild the served model's neighbours
-- afterwards (refresh(), or seg_reco.nextbasket_build('default')).
CREATE FUNCTION seg_reco.tune_nextbasket(split_date date, config jsonb DEFAULT '{}')
RETURNS TABLE(params jsonb, ndcg_at_k float8, chosen boolean)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_cands jsonb := coalesce(config -> 'candidates', '[
        {"group_size": 3, "within_decay": 1, "group_decay": 0.6, "neighbours": 50, "alpha": 0.5},
        {"group_size": 3, "within_decay": 1, "group_decay": 0.6, "neighbours": 100, "alpha": 0.7},
        {"group_size": 3, "within_decay": 1, "group_decay": 0.6, "neighbours": 300, "alpha": 0.9},
        {"group_size": 3, "within_decay": 1, "group_decay": 0.8, "neighbours": 50, "alpha": 0.5},
        {"group_size": 3, "within_decay": 1, "group_decay": 0.8, "neighbours": 100, "alpha": 0.7},
        {"group_size": 3, "within_decay": 1, "group_decay": 0.8, "neighbours": 300, "alpha": 0.9},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.6, "neighbours": 50, "alpha": 0.5},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.6, "neighbours": 100, "alpha": 0.7},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.6, "neighbours": 300, "alpha": 0.9},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.8, "neighbours": 50, "alpha": 0.5},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.8, "neighbours": 100, "alpha": 0.7},
        {"group_size": 7, "within_decay": 0.9, "group_decay": 0.8, "neighbours": 300, "alpha": 0.9}]'::jsonb);
    v_k     integer := coalesce((config ->> 'k')::integer, 10);
    v_source text := coalesce(config ->> 'source', 'nextbasket');
    v_keys  text[] := ARRAY['group_size', 'within_decay', 'group_decay', 'neighbours', 'alpha'];
    v_mode  text := 'all';
    v_rec   text := 'nextbasket';
    v_eval  jsonb;
    v_c     jsonb;
    v_key   text;
    v_saved jsonb;
    v_best  jsonb;
BEGIN
    IF split_date IS NULL OR config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION 'split_date must not be NULL and config must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_source NOT IN ('nextbasket', 'upcf') OR jsonb_typeof(config -> 'source') <> 'string' THEN
        RAISE EXCEPTION 'source must be "nextbasket" or "upcf", got %', config -> 'source'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '"nextbasket" tunes TIFU-KNN (the default), "upcf" the UP-CF@r neighbours.';
    END IF;
    IF v_source = 'upcf' THEN
        v_keys := ARRAY['upcf_baskets', 'upcf_alpha', 'upcf_locality', 'upcf_neighbours'];
        v_mode := 'new';
        v_rec := 'hybrid';
        -- the default grid: r 5, 10, all (0) x q 1, 2, 5, in that order
        v_cands := coalesce(config -> 'candidates',
            (SELECT jsonb_agg(jsonb_build_object('upcf_baskets', r.v, 'upcf_alpha', 0.5,
                                                 'upcf_locality', q.v, 'upcf_neighbours', 100)
                              ORDER BY r.i, q.i)
               FROM unnest(ARRAY[5, 10, 0]) WITH ORDINALITY r(v, i),
                    unnest(ARRAY[1, 2, 5]) WITH ORDINALITY q(v, i)));
    END IF;
    IF jsonb_typeof(v_cands) <> 'array' OR jsonb_array_length(v_cands) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_cands) e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'candidates must be a non-empty JSON array of parameter objects'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example [{"group_size": 3, "group_decay": 0.6, "neighbours": 50, "alpha": 0.5}].';
    END IF;
    IF config ? 'nextbasket' THEN
        RAISE EXCEPTION 'tune_nextbasket takes the parameters from candidates, not from nextbasket'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"candidates": [{"neighbours": 50}, {"neighbours": 100}]}''.';
    END IF;
    FOR v_key IN SELECT DISTINCT jsonb_object_keys(e) FROM jsonb_array_elements(v_cands) e LOOP
        IF v_key <> ALL (v_keys) THEN
            RAISE EXCEPTION 'unknown % parameter "%"', v_source, v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Use %s%s.', array_to_string(v_keys, ', '),
                                    CASE v_source WHEN 'nextbasket' THEN ' (or source "upcf" for upcf_*)'
                                                  ELSE ' (or source "nextbasket" for TIFU-KNN''s)' END);
        END IF;
    END LOOP;
    IF config ? 'recommenders' OR config ? 'weights' THEN
        RAISE EXCEPTION 'tune_nextbasket chooses the recommender and weights of its source itself'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave out recommenders and weights; source says what is tuned.';
    END IF;
    v_eval := (config - 'candidates' - 'k' - 'source') || jsonb_build_object('recommenders', jsonb_build_array(v_rec));
    IF v_source = 'upcf' THEN
        -- the blend with the source upcf alone
        v_eval := v_eval || '{"weights": {"als": 0, "content": 0, "popularity": 0, "buy_again": 0,
                                          "nextbasket": 0, "upcf": 1, "history_prior": 0}}';
    END IF;
    IF NOT v_eval ? 'test_days' THEN
        v_eval := v_eval || '{"test_days": 28}';
    END IF;
    IF NOT v_eval ? 'als' THEN
        v_eval := v_eval || '{"als": {"factors": 8, "iterations": 2}}';
    END IF;
    -- the owner's overrides, to put back all but the winner
    SELECT coalesce(jsonb_object_agg(s.key, s.value), '{}') INTO v_saved
      FROM seg_reco.settings s WHERE s.key = ANY (SELECT 'nextbasket_' || x FROM unnest(v_keys) x);
    CREATE TEMP TABLE _tune_nb (params jsonb, ndcg float8, i int) ON COMMIT DROP;
    PERFORM seg_reco._progress_begin('tune_nextbasket', jsonb_array_length(v_cands));
    FOR v_c IN SELECT e FROM jsonb_array_elements(v_cands) e LOOP
        PERFORM seg_reco._progress_step('tune_nextbasket', 'candidate', detail => v_c::text);
        DELETE FROM seg_reco.settings s WHERE s.key = ANY (SELECT 'nextbasket_' || x FROM unnest(v_keys) x);
        INSERT INTO seg_reco.settings (key, value)
        SELECT 'nextbasket_' || x, coalesce(v_c -> x, v_saved -> ('nextbasket_' || x))
          FROM unnest(v_keys) x WHERE coalesce(v_c -> x, v_saved -> ('nextbasket_' || x)) IS NOT NULL;
        INSERT INTO _tune_nb
        SELECT (SELECT jsonb_object_agg(x, seg_reco.setting('nextbasket_' || x)) FROM unnest(v_keys) x),
               e.ndcg_at_k, (SELECT count(*) FROM _tune_nb)::int
          FROM seg_reco.evaluate(split_date, v_k, v_eval, 'tune_nextbasket') e
         WHERE e.recommender = v_rec AND e.mode = v_mode;
    END LOOP;
    SELECT t.params INTO v_best FROM _tune_nb t WHERE t.ndcg IS NOT NULL ORDER BY t.ndcg DESC, t.i LIMIT 1;
    DELETE FROM seg_reco.settings s WHERE s.key = ANY (SELECT 'nextbasket_' || x FROM unnest(v_keys) x);
    IF v_best IS NULL THEN
        INSERT INTO seg_reco.settings (key, value) SELECT e.key, e.value FROM jsonb_each(v_saved) e;
        RAISE EXCEPTION 'no customer with history bought anything in the validation window from %', split_date
            USING ERRCODE = 'no_data_found',
                  HINT = 'Choose an earlier split_date or a longer test_days.';
    END IF;
    INSERT INTO seg_reco.settings (key, value)
    SELECT 'nextbasket_' || x, v_best -> x FROM unnest(v_keys) x;
    RETURN QUERY
    SELECT t.params, t.ndcg, t.params = v_best FROM _tune_nb t ORDER BY t.ndcg DESC NULLS LAST, t.i;
    DROP TABLE _tune_nb;
    PERFORM seg_reco._progress_end('tune_nextbasket');
END
$fn$;
COMMENT ON FUNCTION seg_reco.tune_nextbasket(date, jsonb) IS 'scores candidate TIFU-KNN parameters (the next-basket source alone; config source "upcf": UP-CF@r''s, the upcf source alone on new products) with evaluate() on a validation split and stores the best as the settings nextbasket_*';
REVOKE EXECUTE ON FUNCTION seg_reco.tune_nextbasket(date, jsonb) FROM PUBLIC;
-- END hybrid

