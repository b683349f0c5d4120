/* seg_reco 0.1.0 -> 0.2.0 (ALTER EXTENSION seg_reco UPDATE TO '0.2.0') */
\echo Use "ALTER EXTENSION seg_reco UPDATE TO '0.2.0'" to load this file. \quit

-- Review: the segment map of the 125 RFM codes written once (rfm_segment_codes),
-- used by rfm_score(), _rfm_from_state() and _customer_rfm_update(); created
-- first, as this script fills the customer tables through them
-- The segment map applied to every RFM code: for each of the 125 (R, F, M)
-- scores, the segment of the first row of seg_reco.rfm_segments (lowest
-- priority number) whose ranges hold all three, else 'Others'.  rfm_score()
-- and the pipeline's customer_segments name segments through it.
CREATE FUNCTION seg_reco.rfm_segment_codes()
RETURNS TABLE (r_score integer, f_score integer, m_score integer, rfm_code text, segment text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT rr, ff, mm, rr::text || ff::text || mm::text,
           coalesce((SELECT s.segment FROM seg_reco.rfm_segments s
                      WHERE rr BETWEEN s.r_min AND s.r_max
                        AND ff BETWEEN s.f_min AND s.f_max
                        AND mm BETWEEN s.m_min AND s.m_max
                      ORDER BY s.priority LIMIT 1), 'Others')
      FROM generate_series(1, 5) rr, generate_series(1, 5) ff, generate_series(1, 5) mm
     ORDER BY rr, ff, mm
$fn$;
COMMENT ON FUNCTION seg_reco.rfm_segment_codes() IS 'the segment of each of the 125 RFM codes under seg_reco.rfm_segments (first matching row by priority, else Others): what rfm_score() and customer_segments name';

-- Issue 11 (hardening).  Functions whose body changed are replaced in place
-- (same signature: privileges, comments and dependent objects are kept).

-- the demo generator's helpers are owner-only, like generate_demo_data
REVOKE EXECUTE ON FUNCTION seg_reco._demo_customers(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_products(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_transactions(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_digital_events(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION seg_reco._demo_truth(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

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
BEGIN
    RETURN seg_reco._btyd_train(name, calibration_end, unit, penalizer, model, spend_penalizer, replace, false);
END;
$fn$;
COMMENT ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) IS 'fits a purchase model (bgnbd or mbgnbd, with penalizer) and the Gamma-Gamma spend model (with spend_penalizer, default the same) on summaries of seg_reco.transactions up to calibration_end, and stores them under name in seg_reco.models (shown by the view seg_reco.btyd_models); a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) FROM PUBLIC;

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

-- Issue 12, progress on long work: refresh(), generate_demo_data(),
-- als_train(), evaluate(), tune_weights() and recommend_all() report their
-- steps (the view seg_reco.progress, NOTICE messages with
-- seg_reco.progress_messages), and refresh_log gains each step's peak
-- memory (a new last column: a fresh install has it last too)
ALTER TABLE seg_reco.refresh_log ADD COLUMN peak_memory_bytes bigint;
COMMENT ON TABLE seg_reco.refresh_log IS 'one row per step of each seg_reco.refresh() run, with its duration and the backend''s peak resident memory in the step';
COMMENT ON COLUMN seg_reco.refresh_log.peak_memory_bytes IS 'peak resident memory of the backend during the step, in bytes (Linux VmHWM, reset at the step''s start; NULL where not available)';

CREATE FUNCTION seg_reco._progress_begin(command text, steps integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_begin_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_begin(text, integer) IS
'internal: the session begins reporting the progress of command, which has steps steps (NULL: not known)';

CREATE FUNCTION seg_reco._progress_step(command text, step text, total bigint DEFAULT NULL,
                                        unit text DEFAULT NULL, detail text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_step_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_step(text, text, bigint, text, text) IS
'internal: command (the innermost in progress of that name) moves to step, of total units (NULL: not known); at a step of the outermost command the peak memory is reset';

CREATE FUNCTION seg_reco._progress_done(command text, done bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_done_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_done(text, bigint) IS
'internal: done units of the current step of command are done';

CREATE FUNCTION seg_reco._progress_end(command text)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_end_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_end(text) IS
'internal: command (the innermost in progress of that name) ends; the session''s record is removed when no command is left';

CREATE FUNCTION seg_reco._progress_peak_memory()
RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_progress_peak_memory_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_peak_memory() IS
'internal: peak resident memory in bytes of this backend since the current step of the outermost command in progress began (Linux VmHWM; NULL where not known)';

CREATE FUNCTION seg_reco._progress_entries()
RETURNS TABLE (pid integer, command text, started timestamptz, step text, step_number integer,
               steps integer, step_started timestamptz, done bigint, total bigint, unit text,
               percent float8, detail text, updated timestamptz, memory_bytes bigint,
               peak_memory_bytes bigint)
AS 'MODULE_PATHNAME', 'seg_reco_progress_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 10;
COMMENT ON FUNCTION seg_reco._progress_entries() IS
'internal: the progress records of live backends the caller may see (seg_reco.progress reads it)';

CREATE VIEW seg_reco.progress AS
SELECT e.pid, e.command, e.started, e.step, e.step_number, e.steps, e.step_started,
       e.done, e.total, e.unit, e.percent, e.detail, e.updated, e.memory_bytes, e.peak_memory_bytes
  FROM seg_reco._progress_entries() e
 ORDER BY e.started, e.pid;
COMMENT ON VIEW seg_reco.progress IS 'long seg_reco work in progress in other sessions, seen at once: command, its current step (number of steps), since when, units done of total and percent, the inner command and step (detail), the backend''s resident and peak memory in the step; visible to the roles that see the session in pg_stat_activity';

-- the commands that report their steps: bodies replaced in place
CREATE OR REPLACE FUNCTION seg_reco.refresh_clusters() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_n bigint;
    v_opts jsonb;
    v_select jsonb;
    v_k integer;
    v_kmin integer := (seg_reco.setting('cluster_k_min'))::integer;
    v_kmax integer := (seg_reco.setting('cluster_k_max'))::integer;
    v_pair record;
    v_km seg_reco.kmeans_model;
    v_gm seg_reco.gmm_model;
    v_cols text[];
    v_aggs text;
    v_vals text;
    v_g text;
    v_names text[];
    -- on Citus (seg_reco.distribute()) customer_clusters and the features
    -- are distributed: the assignment runs in the shards
    v_citus boolean := seg_reco._citus_distributed('seg_reco.customer_clusters')
                       AND seg_reco._citus_distributed('seg_reco.customer_feature_values');
BEGIN
    PERFORM seg_reco._progress_begin('clusters', 5);
    PERFORM seg_reco._progress_step('clusters', 'select_k');
    DELETE FROM seg_reco.customer_clusters;
    CREATE TEMP TABLE _seg_reco_cluster_rows ON COMMIT DROP AS
    SELECT f.customer_id, seg_reco.cluster_feature_vector(f) AS v FROM seg_reco.customer_features f;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n < 2 THEN
        DROP TABLE _seg_reco_cluster_rows;
        PERFORM seg_reco._progress_end('clusters');
        RETURN jsonb_build_object('skipped', 'fewer than 2 customers with purchases');
    END IF;
    SELECT count(*) INTO v_n FROM (SELECT DISTINCT r.v FROM _seg_reco_cluster_rows r) d;
    IF v_n <= 2 THEN
        DROP TABLE _seg_reco_cluster_rows;
        PERFORM seg_reco._progress_end('clusters');
        RETURN jsonb_build_object('skipped', 'fewer than 3 distinct customers');
    END IF;
    -- never more clusters than distinct customers allow
    v_kmax := least(v_kmax, (v_n - 1)::integer);
    v_kmin := least(v_kmin, v_kmax);
    v_opts := jsonb_build_object('standardize', true, 'log1p', jsonb_build_array(1, 2, 3, 4, 5),
                                 'seed', seg_reco.setting('cluster_seed'));
    IF v_kmin >= v_kmax THEN
        v_k := v_kmin;
        v_select := jsonb_build_object('chosen_k', v_k, 'rule', 'only one k allowed');
    ELSE
        SELECT seg_reco.kmeans_select_k(r.v, v_kmin, v_kmax, v_opts)
          INTO v_select FROM _seg_reco_cluster_rows r;
        v_k := (v_select ->> 'chosen_k')::integer;
    END IF;

    PERFORM seg_reco._progress_step('clusters', 'kmeans', detail => format('k = %s', v_k));
    SELECT seg_reco.kmeans_train(r.v, v_k, v_opts) INTO v_km FROM _seg_reco_cluster_rows r;
    PERFORM seg_reco.kmeans_save('customer_kmeans', v_km);
    PERFORM seg_reco._progress_step('clusters', 'gmm', detail => format('k = %s', v_k));
    -- (the options in a variable: an aggregate's arguments are evaluated
    -- per row, and setting() read the settings 100,000 times at 10x; on
    -- Citus, a reference table, each read a query: 12.8 s instead of 0.5)
    v_opts := v_opts || jsonb_build_object('covariance_type', seg_reco.setting('gmm_covariance'), 'n_init', 1);
    SELECT seg_reco.gmm_train(r.v, v_k, v_opts) INTO v_gm FROM _seg_reco_cluster_rows r;
    PERFORM seg_reco.gmm_save('customer_gmm', v_gm);

    PERFORM seg_reco._progress_step('clusters', 'assign');
    -- OFFSET 0: each function once per customer (not once per reference).
    -- On Citus the assignment is written in the shards, below, once the
    -- names are known.
    IF NOT v_citus THEN
    CREATE TEMP TABLE _seg_reco_assigned ON COMMIT DROP AS
    SELECT a.customer_id, (a.km).cluster AS cluster, (a.km).distance AS distance, a.comp, a.p[a.comp] AS prob
      FROM (SELECT r.customer_id,
                   seg_reco.kmeans_assign_distance(r.v, v_km) AS km,
                   seg_reco.gmm_assign(r.v, v_gm) AS comp,
                   seg_reco.gmm_proba(r.v, v_gm) AS p
              FROM _seg_reco_cluster_rows r OFFSET 0) a;
    END IF;
    DROP TABLE _seg_reco_cluster_rows;

    -- name the clusters from their profiles: per cluster and over all
    -- customers, the mean (and the population standard deviation) of each
    -- customer_features column a name weighs
    PERFORM seg_reco._progress_step('clusters', 'names');
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = 'seg_reco.customer_features'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> 'customer_id'
       AND a.attname IN (SELECT w.key FROM seg_reco.cluster_names n, jsonb_each(n.weights) w);
    CREATE TEMP TABLE _seg_reco_names (cluster integer PRIMARY KEY, name text NOT NULL) ON COMMIT DROP;
    IF v_cols IS NOT NULL THEN
        SELECT string_agg(format('avg(f.%1$I::float8) AS a%2$s, stddev_pop(f.%1$I::float8) AS s%2$s', c, i), ', '),
               string_agg(format('(%L, g.a%s, g.s%s)', c, i, i), ', ')
          INTO v_aggs, v_vals
          FROM unnest(v_cols) WITH ORDINALITY u(c, i);
        IF v_citus THEN
            -- Citus runs no GROUPING SETS over distributed tables: the
            -- clusters (each customer's assigned in the shards with the
            -- model as a value, $1) and all customers apart
            v_g := format($q$
            SELECT f.cluster, 0 AS whole, %1$s
              FROM (SELECT f.*, seg_reco.kmeans_assign(seg_reco.cluster_feature_vector(f), $1) AS cluster
                      FROM seg_reco.customer_features f) f
             GROUP BY f.cluster
            UNION ALL
            SELECT NULL, 1, %1$s
              FROM seg_reco.customer_features f$q$, v_aggs);
        ELSE
            v_g := format($q$
            SELECT c.cluster, grouping(c.cluster) AS whole, %s
              FROM seg_reco.customer_features f
              JOIN _seg_reco_assigned c USING (customer_id)
             GROUP BY GROUPING SETS ((c.cluster), ())$q$, v_aggs);
        END IF;
        EXECUTE format($q$
        CREATE TEMP TABLE _seg_reco_profile ON COMMIT DROP AS
        WITH g AS (%s
        ), long AS (
            SELECT g.cluster, g.whole, u.col, u.mu, u.sd
              FROM g CROSS JOIN LATERAL (VALUES %s) u(col, mu, sd)
        ), z AS (
            SELECT l.cluster, l.col, coalesce((l.mu - p.mu) / nullif(p.sd, 0), 0) AS z
              FROM long l JOIN long p ON p.col = l.col AND p.whole = 1
             WHERE l.whole = 0
        )
        SELECT z.cluster, n.name, sum(z.z * w.value::text::float8) AS score
          FROM z JOIN seg_reco.cluster_names n ON true
          JOIN jsonb_each(n.weights) w ON w.key = z.col
         GROUP BY z.cluster, n.name$q$, v_g, v_vals) USING v_km;
        LOOP
            SELECT p.cluster, p.name INTO v_pair
              FROM _seg_reco_profile p
             ORDER BY p.score DESC, p.cluster, p.name LIMIT 1;
            EXIT WHEN NOT FOUND;
            INSERT INTO _seg_reco_names VALUES (v_pair.cluster, v_pair.name);
            DELETE FROM _seg_reco_profile p WHERE p.cluster = v_pair.cluster OR p.name = v_pair.name;
        END LOOP;
        DROP TABLE _seg_reco_profile;
    END IF;
    IF v_citus THEN
        -- a distributed INSERT ... SELECT: every customer assigned in the
        -- shard that holds it, the models and the names as values
        v_names := ARRAY(SELECT n.name FROM generate_series(1, v_k) i
                           LEFT JOIN _seg_reco_names n ON n.cluster = i ORDER BY i);
        INSERT INTO seg_reco.customer_clusters (customer_id, cluster, cluster_name, distance, gmm_component, gmm_probability)
        SELECT r.customer_id, km.cluster, coalesce(v_names[km.cluster], 'Cluster ' || km.cluster), km.distance,
               gc.comp, gp.p[gc.comp]
          FROM (SELECT f.customer_id, seg_reco.cluster_feature_vector(f) AS v FROM seg_reco.customer_features f) r
         CROSS JOIN LATERAL seg_reco.kmeans_assign_distance(r.v, v_km) km
         CROSS JOIN LATERAL seg_reco.gmm_assign(r.v, v_gm) gc(comp)
         CROSS JOIN LATERAL seg_reco.gmm_proba(r.v, v_gm) gp(p);
        DROP TABLE _seg_reco_names;
    ELSE
    INSERT INTO seg_reco.customer_clusters (customer_id, cluster, cluster_name, distance, gmm_component, gmm_probability)
    SELECT a.customer_id, a.cluster, coalesce(n.name, 'Cluster ' || a.cluster), a.distance, a.comp, a.prob
      FROM _seg_reco_assigned a LEFT JOIN _seg_reco_names n ON n.cluster = a.cluster;
    DROP TABLE _seg_reco_assigned, _seg_reco_names;
    END IF;
    PERFORM seg_reco._progress_end('clusters');
    RETURN jsonb_build_object('k', v_k, 'rule', v_select -> 'rule');
END;
$fn$;
-- Issue 14 (marketing analytics), A/B tests: experiments, assignment, results, the demo
-- campaign; new objects, the same text as sql/src/13_ab_tests.sql
------------------------------------------------------------------------------
-- 13. A/B tests: experiments, deterministic assignment, results (src/abtest.c,
--     src/distributions.c), and a planted demo campaign
------------------------------------------------------------------------------
-- BEGIN A/B tests
-- Who may do what: the owner creates experiments, assigns customers and
-- plants the demo campaign (these write tables, and assignment is for ever);
-- an analyst with the README's GRANTs reads ab_experiments and
-- ab_assignments and calls ab_results, ab_roi and every statistic.  To let
-- an application role assign customers at serving time, grant it EXECUTE
-- on ab_assign and SELECT, INSERT on ab_assignments.

CREATE TABLE seg_reco.ab_experiments (
    experiment          text PRIMARY KEY CHECK (btrim(experiment) <> ''),
    arms                text[] NOT NULL,
    weights             float8[] NOT NULL,
    control_arm         text NOT NULL,
    holdout             float8 NOT NULL DEFAULT 0 CHECK (holdout >= 0 AND holdout < 1),
    stratify_by         text CHECK (stratify_by IN ('segment', 'cluster')),
    salt                text NOT NULL CHECK (salt <> ''),
    promoted_products   bigint[],
    starts_at           timestamptz,
    ends_at             timestamptz,
    status              text NOT NULL DEFAULT 'running' CHECK (status IN ('planned', 'running', 'stopped')),
    description         text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT ab_experiments_one_weight_per_arm
        CHECK (pg_catalog.cardinality(arms) >= 1 AND pg_catalog.cardinality(arms) = pg_catalog.cardinality(weights)),
    CONSTRAINT ab_experiments_control_is_an_arm CHECK (control_arm = ANY (arms)),
    CONSTRAINT ab_experiments_window CHECK (ends_at > starts_at)
);
COMMENT ON TABLE seg_reco.ab_experiments IS 'A/B experiments: arms and their weights, holdout share, stratification, the salt of the assignment hash, promoted products, window and status (create with ab_create_experiment)';

CREATE TABLE seg_reco.ab_assignments (
    experiment      text NOT NULL REFERENCES seg_reco.ab_experiments (experiment) ON DELETE CASCADE,
    customer_id     bigint NOT NULL,
    arm             text NOT NULL,
    stratum         text,
    assigned_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (experiment, customer_id)
);
COMMENT ON TABLE seg_reco.ab_assignments IS 'each customer''s arm in each experiment (''holdout'' for the holdout group), written once by ab_assign or ab_assign_all and never changed';

-- no foreign key to customers: generate_demo_data and use_source replace them
CREATE TABLE seg_reco.demo_campaign_truth (
    experiment          text NOT NULL,
    customer_id         bigint NOT NULL,
    arm                 text NOT NULL,
    responded           boolean NOT NULL,
    planted_revenue     numeric(12,2) NOT NULL,
    planted_receipt_id  bigint,
    organic_purchase    boolean NOT NULL,
    organic_promoted    boolean NOT NULL,
    PRIMARY KEY (experiment, customer_id)
);
COMMENT ON TABLE seg_reco.demo_campaign_truth IS 'the effect planted by generate_demo_campaign, one row per target customer: arm, whether the customer responded, the revenue planted (0 in control), and whether the customer bought anything / a promoted product in the window without it';

-- Distribution functions (src/distributions.c)
CREATE FUNCTION seg_reco.normal_cdf(x float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_normal_cdf_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.normal_cdf(float8) IS 'standard normal distribution function P(Z <= x)';
CREATE FUNCTION seg_reco.normal_quantile(p float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_normal_quantile_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.normal_quantile(float8) IS 'standard normal quantile: the x with P(Z <= x) = p, 0 < p < 1';
CREATE FUNCTION seg_reco.student_t_cdf(t float8, df float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_t_cdf_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.student_t_cdf(float8, float8) IS 'Student t distribution function P(T <= t) with df > 0 degrees of freedom (any real df; Infinity is the normal)';
CREATE FUNCTION seg_reco.student_t_quantile(p float8, df float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_t_quantile_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.student_t_quantile(float8, float8) IS 'Student t quantile: the t with P(T <= t) = p, 0 < p < 1, df > 0';
CREATE FUNCTION seg_reco.chi2_sf(x float8, df float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_chi2_sf_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.chi2_sf(float8, float8) IS 'chi-square upper tail P(X > x) with df > 0 degrees of freedom';

-- Assignment hash and arm mapping (src/abtest.c)
CREATE FUNCTION seg_reco.ab_hash(salt text, customer_id bigint) RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_ab_hash'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_hash(text, bigint) IS 'the assignment hash: a number in [0, 1) from SipHash-2-4 keyed with SHA-256(salt) over the customer id (8 bytes little-endian), the same on every platform';
CREATE FUNCTION seg_reco._ab_siphash(key bytea, message bytea) RETURNS bigint
    AS 'MODULE_PATHNAME', 'seg_reco_ab_siphash'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._ab_siphash(bytea, bytea) IS 'internal: SipHash-2-4 of message with a 16-byte key (as a signed bigint), for the published test vectors';
CREATE FUNCTION seg_reco._ab_arm_index(u float8, holdout float8, weights float8[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'seg_reco_ab_arm_index'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._ab_arm_index(float8, float8, float8[]) IS 'internal: the arm (1-based; 0 = holdout) of a position u in [0, 1) under a design';
CREATE FUNCTION seg_reco._ab_check_design(weights float8[], holdout float8) RETURNS boolean
    AS 'MODULE_PATHNAME', 'seg_reco_ab_check_design'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._ab_check_design(float8[], float8) IS 'internal: true for valid arm weights and holdout share, else a clear error';

-- Tests (src/abtest.c)
CREATE FUNCTION seg_reco.ab_ztest(x_control bigint, n_control bigint, x_treatment bigint, n_treatment bigint,
        alpha float8 DEFAULT 0.05,
        OUT p_control float8, OUT p_treatment float8, OUT difference float8,
        OUT ci_low float8, OUT ci_high float8, OUT relative_uplift float8,
        OUT relative_ci_low float8, OUT relative_ci_high float8,
        OUT z float8, OUT df float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'seg_reco_ab_ztest'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_ztest(bigint, bigint, bigint, bigint, float8) IS 'two-proportion z-test of conversions (pooled z, Wald interval of the difference, delta-method interval of the relative uplift)';
CREATE FUNCTION seg_reco.ab_welch(n_control bigint, mean_control float8, sd_control float8,
        n_treatment bigint, mean_treatment float8, sd_treatment float8, alpha float8 DEFAULT 0.05,
        OUT difference float8, OUT ci_low float8, OUT ci_high float8, OUT relative_uplift float8,
        OUT relative_ci_low float8, OUT relative_ci_high float8,
        OUT t float8, OUT df float8, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'seg_reco_ab_welch'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_welch(bigint, float8, float8, bigint, float8, float8, float8) IS 'Welch''s t-test of two means from each arm''s size, mean and standard deviation (Welch-Satterthwaite degrees of freedom)';
CREATE FUNCTION seg_reco.ab_compare(control float8[], treatment float8[], method text DEFAULT 'welch',
        alpha float8 DEFAULT 0.05, control_pre float8[] DEFAULT NULL, treatment_pre float8[] DEFAULT NULL,
        resamples integer DEFAULT 2000, seed bigint DEFAULT 1,
        OUT n_control bigint, OUT mean_control float8, OUT sd_control float8,
        OUT n_treatment bigint, OUT mean_treatment float8, OUT sd_treatment float8,
        OUT difference float8, OUT ci_low float8, OUT ci_high float8, OUT relative_uplift float8,
        OUT relative_ci_low float8, OUT relative_ci_high float8,
        OUT statistic float8, OUT df float8, OUT p_value float8,
        OUT theta float8, OUT variance_reduction float8)
    AS 'MODULE_PATHNAME', 'seg_reco_ab_compare'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_compare(float8[], float8[], text, float8, float8[], float8[], integer, bigint) IS 'treatment against control from per-customer values: method ztest (0/1 values), welch or bootstrap (seeded percentile intervals); with pre-period values, CUPED';
CREATE FUNCTION seg_reco.ab_srm(observed bigint[], shares float8[],
        OUT chi2 float8, OUT df integer, OUT p_value float8)
    AS 'MODULE_PATHNAME', 'seg_reco_ab_srm'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_srm(bigint[], float8[]) IS 'sample-ratio-mismatch check: chi-square goodness of fit of the customers per group against the planned shares';

-- Planning (src/abtest.c)
CREATE FUNCTION seg_reco.ab_sample_size(metric text, baseline float8, mde float8,
        alpha float8 DEFAULT 0.05, power float8 DEFAULT 0.8, sd float8 DEFAULT NULL, ratio float8 DEFAULT 1,
        OUT n_control bigint, OUT n_treatment bigint, OUT n_total bigint,
        OUT n_control_exact float8, OUT n_treatment_exact float8)
    AS 'MODULE_PATHNAME', 'seg_reco_ab_sample_size'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_sample_size(text, float8, float8, float8, float8, float8, float8) IS 'customers per arm to detect an absolute difference mde with two-sided alpha and the given power: metric ''proportion'' (baseline rate) or ''mean'' (sd per customer); ratio = treatment per control';
CREATE FUNCTION seg_reco.ab_power(metric text, baseline float8, mde float8, n_control bigint,
        n_treatment bigint DEFAULT NULL, alpha float8 DEFAULT 0.05, sd float8 DEFAULT NULL)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_ab_power'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_power(text, float8, float8, bigint, bigint, float8, float8) IS 'power of the two-sided test to detect a difference mde with these arm sizes (n_treatment defaults to n_control)';
CREATE FUNCTION seg_reco.ab_mde(metric text, baseline float8, n_control bigint,
        n_treatment bigint DEFAULT NULL, alpha float8 DEFAULT 0.05, power float8 DEFAULT 0.8, sd float8 DEFAULT NULL)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_ab_mde'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.ab_mde(text, float8, bigint, bigint, float8, float8, float8) IS 'minimum detectable (absolute, upward) difference with these arm sizes, alpha and power';

-- Experiments
CREATE FUNCTION seg_reco.ab_create_experiment(experiment text,
        arms text[] DEFAULT '{control,treatment}', weights float8[] DEFAULT NULL,
        holdout float8 DEFAULT 0, stratify_by text DEFAULT NULL, salt text DEFAULT NULL,
        promoted_products bigint[] DEFAULT NULL, starts_at timestamptz DEFAULT NULL,
        ends_at timestamptz DEFAULT NULL, control_arm text DEFAULT NULL,
        description text DEFAULT NULL, status text DEFAULT 'running')
RETURNS seg_reco.ab_experiments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    v_row seg_reco.ab_experiments;
    v_n integer;
    v_weights float8[] := weights;
BEGIN
    IF experiment IS NULL OR arms IS NULL OR holdout IS NULL OR status IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN experiment IS NULL THEN 'experiment' WHEN arms IS NULL THEN 'arms'
                   WHEN holdout IS NULL THEN 'holdout' ELSE 'status' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Omit an argument to use its default.';
    END IF;
    IF btrim(experiment) = '' THEN
        RAISE EXCEPTION 'the experiment needs a name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_ndims(arms) > 1 THEN
        RAISE EXCEPTION 'arms must be a one-dimensional array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_n := coalesce(cardinality(arms), 0);
    IF v_n = 0 THEN
        RAISE EXCEPTION 'an experiment needs at least one arm'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The array of arms is empty.',
                  HINT = 'Give the arms, e.g. arms => ''{control,treatment}''.';
    END IF;
    IF array_position(arms, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'arm names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(arms) a WHERE btrim(a) = '') THEN
        RAISE EXCEPTION 'arm names must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT count(DISTINCT a) FROM unnest(arms) a) <> v_n THEN
        RAISE EXCEPTION 'arm names must be unique, got %', arms USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF 'holdout' = ANY (arms) THEN
        RAISE EXCEPTION 'the arm name "holdout" is reserved'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Customers of the holdout share are assigned the arm ''holdout''.',
                  HINT = 'Use the holdout argument for a holdout group, or call the arm something else.';
    END IF;
    IF v_weights IS NULL THEN
        -- equal weights, the last one taking the rounding
        v_weights := array_fill(1.0::float8 / v_n, ARRAY[v_n]);
        v_weights[v_n] := 1.0::float8 - (1.0::float8 / v_n) * (v_n - 1);
    END IF;
    IF array_ndims(v_weights) > 1 OR coalesce(cardinality(v_weights), 0) <> v_n THEN
        RAISE EXCEPTION 'there must be one weight per arm, got % weights for % arms',
              coalesce(cardinality(v_weights), 0), v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM seg_reco._ab_check_design(v_weights, holdout);
    IF stratify_by IS NOT NULL AND stratify_by NOT IN ('segment', 'cluster') THEN
        RAISE EXCEPTION 'unknown stratification "%"', stratify_by
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'stratify_by is ''segment'' (RFM segment), ''cluster'' (cluster name) or NULL; ab_assign_all also takes strata of your own.';
    END IF;
    IF salt IS NOT NULL AND salt = '' THEN
        RAISE EXCEPTION 'the salt must not be empty' USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Omit it to use the experiment''s name.';
    END IF;
    IF promoted_products IS NOT NULL AND array_position(promoted_products, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'promoted_products must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF starts_at IS NOT NULL AND ends_at IS NOT NULL AND ends_at <= starts_at THEN
        RAISE EXCEPTION 'ends_at (%) must be after starts_at (%)', ends_at, starts_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF control_arm IS NOT NULL AND NOT control_arm = ANY (arms) THEN
        RAISE EXCEPTION 'the control arm "%" is not one of the arms %', control_arm, arms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status NOT IN ('planned', 'running', 'stopped') THEN
        RAISE EXCEPTION 'unknown status "%"', status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Statuses: planned, running, stopped.';
    END IF;
    IF EXISTS (SELECT 1 FROM seg_reco.ab_experiments e WHERE e.experiment = ab_create_experiment.experiment) THEN
        RAISE EXCEPTION 'experiment "%" already exists', experiment
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Choose another name; an experiment''s design never changes once customers are assigned.';
    END IF;
    INSERT INTO seg_reco.ab_experiments AS e
        (experiment, arms, weights, control_arm, holdout, stratify_by, salt, promoted_products,
         starts_at, ends_at, status, description)
    VALUES (experiment, arms, v_weights, coalesce(control_arm, arms[1]), holdout, stratify_by,
            coalesce(salt, experiment), promoted_products, starts_at, ends_at, status, description)
    RETURNING e.* INTO v_row;
    RETURN v_row;
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.ab_create_experiment(text, text[], float8[], float8, text, text, bigint[], timestamptz, timestamptz, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.ab_create_experiment(text, text[], float8[], float8, text, text, bigint[], timestamptz, timestamptz, text, text, text) IS 'create an experiment: arms and weights (equal by default; they must sum to 1), holdout share taken first, stratification, salt of the assignment hash (default: the name), promoted products, window, control arm (default: the first), status';

-- the experiment's row, or a clear error
CREATE FUNCTION seg_reco._ab_experiment(experiment text) RETURNS seg_reco.ab_experiments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_row seg_reco.ab_experiments;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT e.* INTO v_row FROM seg_reco.ab_experiments e WHERE e.experiment = _ab_experiment.experiment;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" does not exist', experiment
            USING ERRCODE = 'undefined_object',
                  HINT = 'The experiments are in seg_reco.ab_experiments; create one with seg_reco.ab_create_experiment().';
    END IF;
    RETURN v_row;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._ab_experiment(text) IS 'internal: an experiment''s row, or an error naming it';

CREATE FUNCTION seg_reco.ab_set_status(experiment text, status text) RETURNS seg_reco.ab_experiments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    v_row seg_reco.ab_experiments := seg_reco._ab_experiment(experiment);
BEGIN
    IF status IS NULL OR status NOT IN ('planned', 'running', 'stopped') THEN
        RAISE EXCEPTION 'unknown status "%"', status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Statuses: planned, running, stopped.';
    END IF;
    UPDATE seg_reco.ab_experiments e SET status = ab_set_status.status
     WHERE e.experiment = v_row.experiment
    RETURNING e.* INTO v_row;
    RETURN v_row;
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.ab_set_status(text, text) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.ab_set_status(text, text) IS 'set an experiment''s status: planned, running, or stopped (a stopped experiment assigns no new customers)';

-- the stratum of one customer under an experiment's stratify_by.
-- PL/pgSQL, not SQL: on Citus customer_segments reads distributed tables,
-- and Citus cannot plan a query with the parameters of a SQL function
-- ("could not create distributed plan").
CREATE FUNCTION seg_reco._ab_stratum(stratify_by text, customer_id bigint) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_stratum text;
BEGIN
    IF stratify_by IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT CASE stratify_by WHEN 'segment' THEN s.segment WHEN 'cluster' THEN s.cluster_name END
      INTO v_stratum
      FROM seg_reco.customer_segments s
     WHERE s.customer_id = _ab_stratum.customer_id;
    RETURN v_stratum;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._ab_stratum(text, bigint) IS 'internal: a customer''s RFM segment or cluster name (NULL when not stratified or unknown)';

CREATE FUNCTION seg_reco.ab_assign(experiment text, customer_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    v_exp seg_reco.ab_experiments;
    v_arm text;
    v_idx integer;
BEGIN
    IF experiment IS NULL OR customer_id IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN experiment IS NULL THEN 'experiment' ELSE 'customer_id' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.arm INTO v_arm FROM seg_reco.ab_assignments a
     WHERE a.experiment = ab_assign.experiment AND a.customer_id = ab_assign.customer_id;
    IF FOUND THEN
        RETURN v_arm;
    END IF;
    v_exp := seg_reco._ab_experiment(experiment);
    IF v_exp.status = 'stopped' THEN
        RAISE EXCEPTION 'experiment "%" is stopped', experiment
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A stopped experiment assigns no new customers.',
                  HINT = 'Use seg_reco.ab_set_status(experiment, ''running'') to assign again.';
    END IF;
    v_idx := seg_reco._ab_arm_index(seg_reco.ab_hash(v_exp.salt, customer_id), v_exp.holdout, v_exp.weights);
    v_arm := CASE WHEN v_idx = 0 THEN 'holdout' ELSE v_exp.arms[v_idx] END;
    INSERT INTO seg_reco.ab_assignments (experiment, customer_id, arm, stratum)
    VALUES (v_exp.experiment, customer_id, v_arm, seg_reco._ab_stratum(v_exp.stratify_by, customer_id))
    ON CONFLICT DO NOTHING;
    -- a concurrent call may have assigned the customer first: its arm stands
    SELECT a.arm INTO v_arm FROM seg_reco.ab_assignments a
     WHERE a.experiment = v_exp.experiment AND a.customer_id = ab_assign.customer_id;
    RETURN v_arm;
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.ab_assign(text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.ab_assign(text, bigint) IS 'the customer''s arm in the experiment: the stored one, else the arm of ab_hash(salt, customer_id) under the weights and holdout, stored for good';

CREATE FUNCTION seg_reco.ab_assign_all(experiment text, customer_ids bigint[] DEFAULT NULL,
        strata text[] DEFAULT NULL, segment text DEFAULT NULL)
RETURNS TABLE(arm text, customers bigint, newly_assigned bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_exp seg_reco.ab_experiments := seg_reco._ab_experiment(ab_assign_all.experiment);
    v_mode text;
BEGIN
    IF (customer_ids IS NULL) = (segment IS NULL) THEN
        RAISE EXCEPTION 'give either customer_ids or segment'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'customer_ids => ARRAY[...] assigns those customers; segment => ''At Risk'' the customers of an RFM segment or cluster.';
    END IF;
    IF segment IS NOT NULL THEN
        IF strata IS NOT NULL THEN
            RAISE EXCEPTION 'strata go with customer_ids, not with a segment'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT array_agg(s.customer_id ORDER BY s.customer_id) INTO customer_ids
          FROM seg_reco.customer_segments s
         WHERE s.segment = ab_assign_all.segment OR s.cluster_name = ab_assign_all.segment;
        IF customer_ids IS NULL THEN
            RAISE EXCEPTION 'no customer is in segment or cluster "%"', segment
                USING ERRCODE = 'no_data_found',
                      HINT = 'The segments are in seg_reco.segment_summary (run seg_reco.refresh() first).';
        END IF;
    END IF;
    IF array_position(customer_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'customer_ids must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF strata IS NOT NULL AND coalesce(cardinality(strata), 0) <> coalesce(cardinality(customer_ids), 0) THEN
        RAISE EXCEPTION 'strata must have one element per customer, got % for % customers',
              coalesce(cardinality(strata), 0), coalesce(cardinality(customer_ids), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_exp.status = 'stopped' THEN
        RAISE EXCEPTION 'experiment "%" is stopped', v_exp.experiment
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A stopped experiment assigns no new customers.',
                  HINT = 'Use seg_reco.ab_set_status(experiment, ''running'') to assign again.';
    END IF;
    v_mode := CASE WHEN strata IS NOT NULL THEN 'given'
                   WHEN v_exp.stratify_by IS NOT NULL THEN v_exp.stratify_by END;

    -- New customers only.  Without strata each gets the arm of its own hash
    -- (as ab_assign).  With strata, the new customers of each stratum are
    -- ranked by their hash and the rank r of m, shifted by the stratum's own
    -- offset o in [0, 1), gives the position (r + o) / m: every arm gets
    -- its share of each stratum to within one customer, and each customer
    -- still lands in each arm with the planned probability.
    -- (segs, MATERIALIZED: the customers' segments read first; on Citus
    -- customer_segments reads distributed tables, which Citus does not join
    -- to the ids of an array on the outer side of a LEFT JOIN; assigned,
    -- MATERIALIZED: the customers' arms so far, read first, as Citus runs no
    -- lookup of the distributed ab_assignments correlated to a CTE's rows)
    RETURN QUERY
    WITH segs AS MATERIALIZED (
        SELECT s.customer_id, s.segment, s.cluster_name
          FROM seg_reco.customer_segments s
         WHERE v_mode IN ('segment', 'cluster') AND s.customer_id = ANY (customer_ids)
    ), input AS (
        SELECT DISTINCT ON (c.id) c.id AS customer_id,
               CASE v_mode WHEN 'given' THEN strata[c.ord]
                           WHEN 'segment' THEN s.segment
                           WHEN 'cluster' THEN s.cluster_name END AS stratum
          FROM unnest(customer_ids) WITH ORDINALITY AS c(id, ord)
          LEFT JOIN segs s ON s.customer_id = c.id
         ORDER BY c.id, c.ord
    ), assigned AS MATERIALIZED (
        SELECT a.customer_id, a.arm
          FROM seg_reco.ab_assignments a
         WHERE a.experiment = v_exp.experiment AND a.customer_id = ANY (customer_ids)
    ), known AS (
        SELECT a.arm
          FROM input i
          JOIN assigned a ON a.customer_id = i.customer_id
    ), fresh AS (
        SELECT i.customer_id, i.stratum, seg_reco.ab_hash(v_exp.salt, i.customer_id) AS u
          FROM input i
         WHERE NOT EXISTS (SELECT 1 FROM assigned a WHERE a.customer_id = i.customer_id)
    ), ranked AS (
        SELECT f.customer_id, f.stratum, f.u,
               row_number() OVER w - 1 AS r, count(*) OVER (PARTITION BY f.stratum) AS m
          FROM fresh f
        WINDOW w AS (PARTITION BY f.stratum ORDER BY f.u, f.customer_id)
    ), placed AS (
        SELECT r.customer_id, r.stratum,
               seg_reco._ab_arm_index(
                   CASE WHEN v_mode IS NULL THEN r.u
                        ELSE (r.r + seg_reco.ab_hash('stratum:' || coalesce(r.stratum, '') || ':' || v_exp.salt, 0)) / r.m
                   END, v_exp.holdout, v_exp.weights) AS idx
          FROM ranked r
    ), inserted AS (
        INSERT INTO seg_reco.ab_assignments (experiment, customer_id, arm, stratum)
        SELECT v_exp.experiment, p.customer_id,
               CASE WHEN p.idx = 0 THEN 'holdout' ELSE v_exp.arms[p.idx] END, p.stratum
          FROM placed p
        ON CONFLICT DO NOTHING
        RETURNING arm
    ), counts AS (
        SELECT k.arm, 0 AS is_new FROM known k
        UNION ALL
        SELECT n.arm, 1 FROM inserted n
    )
    SELECT c.arm, count(*), sum(c.is_new)::bigint
      FROM counts c
     GROUP BY c.arm
     ORDER BY coalesce(array_position(v_exp.arms, c.arm), cardinality(v_exp.arms) + 1);
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.ab_assign_all(text, bigint[], text[], text) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.ab_assign_all(text, bigint[], text[], text) IS 'assign many customers at once, given by id or as an RFM segment or cluster (those already assigned keep their arm); balanced within each stratum when strata are given or the experiment is stratified; customers per arm';


-- Results.  Per assigned customer, over [window_start, window_end):
--   conversion           1 if the customer bought anything (a receipt with a
--                        line of positive amount), else 0
--   promoted_conversion  1 if the customer bought a promoted product
--   revenue              net amount (returns subtracted), 0 without lines
--   basket_size          net amount per receipt, for customers with a receipt
--                        only (a conditional metric: read it with conversion)
-- and for CUPED the net amount of the pre_days before window_start.
CREATE FUNCTION seg_reco.ab_results(experiment text, metric text DEFAULT 'conversion',
        window_start timestamptz DEFAULT NULL, window_end timestamptz DEFAULT NULL,
        options jsonb DEFAULT '{}')
RETURNS TABLE(arm text, is_control boolean, assigned bigint, planned_share float8, observed_share float8,
              n bigint, mean float8, sd float8, difference float8, ci_low float8, ci_high float8,
              relative_uplift float8, relative_ci_low float8, relative_ci_high float8,
              statistic float8, df float8, p_value float8, method text,
              cuped_theta float8, variance_reduction float8, srm_chi2 float8, srm_p_value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_exp seg_reco.ab_experiments := seg_reco._ab_experiment(ab_results.experiment);
    v_metric text := ab_results.metric;
    v_opts jsonb := ab_results.options;
    v_start timestamptz := coalesce(ab_results.window_start, v_exp.starts_at);
    v_end timestamptz := coalesce(ab_results.window_end, v_exp.ends_at);
    v_key text;
    v_val jsonb;
    v_alpha float8 := 0.05;
    v_method text := 'auto';
    v_resamples integer := 2000;
    v_seed bigint := 1;
    v_cuped boolean := false;
    v_pre_days integer;
    v_pre_start timestamptz;
    v_test text;
    v_groups text[];
    v_shares float8[];
    v_counts bigint[];
    v_all bigint;
    v_total bigint;
    v_srm record;
    v_row record;
    v_ctrl record;
    v_cmp record;
BEGIN
    IF v_metric IS NULL OR v_opts IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN v_metric IS NULL THEN 'metric' ELSE 'options' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Omit it to use its default.';
    END IF;
    IF v_metric NOT IN ('conversion', 'promoted_conversion', 'revenue', 'basket_size') THEN
        RAISE EXCEPTION 'unknown metric "%"', v_metric
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Metrics: conversion, promoted_conversion, revenue, basket_size.';
    END IF;
    IF jsonb_typeof(v_opts) <> 'object' THEN
        RAISE EXCEPTION 'ab_results: options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Known options: alpha, method, resamples, seed, cuped, pre_days.';
    END IF;
    FOR v_key, v_val IN SELECT o.key, o.value FROM jsonb_each(v_opts) o LOOP
        IF v_key = 'alpha' AND jsonb_typeof(v_val) = 'number' THEN
            v_alpha := (v_val #>> '{}')::float8;
        ELSIF v_key = 'method' AND jsonb_typeof(v_val) = 'string'
              AND v_val #>> '{}' IN ('auto', 'ztest', 'welch', 'bootstrap') THEN
            v_method := v_val #>> '{}';
        ELSIF v_key = 'resamples' AND jsonb_typeof(v_val) = 'number'
              AND (v_val #>> '{}')::numeric BETWEEN 10 AND 100000
              AND (v_val #>> '{}')::numeric = trunc((v_val #>> '{}')::numeric) THEN
            v_resamples := (v_val #>> '{}')::integer;
        ELSIF v_key = 'seed' AND jsonb_typeof(v_val) = 'number'
              AND (v_val #>> '{}')::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
              AND (v_val #>> '{}')::numeric = trunc((v_val #>> '{}')::numeric) THEN
            v_seed := (v_val #>> '{}')::bigint;
        ELSIF v_key = 'cuped' AND jsonb_typeof(v_val) = 'boolean' THEN
            v_cuped := (v_val #>> '{}')::boolean;
        ELSIF v_key = 'pre_days' AND jsonb_typeof(v_val) = 'number'
              AND (v_val #>> '{}')::numeric BETWEEN 1 AND 3660
              AND (v_val #>> '{}')::numeric = trunc((v_val #>> '{}')::numeric) THEN
            v_pre_days := (v_val #>> '{}')::integer;
        ELSIF v_key IN ('alpha', 'method', 'resamples', 'seed', 'cuped', 'pre_days') THEN
            RAISE EXCEPTION 'invalid value for option "%": %', v_key, v_val
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = CASE v_key WHEN 'alpha' THEN 'Expected a number between 0 and 1.'
                                          WHEN 'method' THEN 'Expected "auto", "ztest", "welch" or "bootstrap".'
                                          WHEN 'resamples' THEN 'Expected an integer between 10 and 100000.'
                                          WHEN 'seed' THEN 'Expected an integer.'
                                          WHEN 'cuped' THEN 'Expected true or false.'
                                          ELSE 'Expected an integer between 1 and 3660.' END;
        ELSE
            RAISE EXCEPTION 'ab_results: unknown option "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Known options: alpha, method, resamples, seed, cuped, pre_days.';
        END IF;
    END LOOP;
    IF NOT (v_alpha > 0 AND v_alpha < 1) THEN
        RAISE EXCEPTION 'alpha must be between 0 and 1 (exclusive), got %', v_alpha
            USING ERRCODE = 'invalid_parameter_value', HINT = '0.05 gives 95% confidence intervals.';
    END IF;
    IF v_start IS NULL OR v_end IS NULL THEN
        RAISE EXCEPTION 'the window of experiment "%" is not known', v_exp.experiment
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass window_start and window_end, or create the experiment with starts_at and ends_at.';
    END IF;
    IF v_end <= v_start THEN
        RAISE EXCEPTION 'window_end (%) must be after window_start (%)', v_end, v_start
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_metric = 'promoted_conversion' AND coalesce(cardinality(v_exp.promoted_products), 0) = 0 THEN
        RAISE EXCEPTION 'experiment "%" has no promoted products', v_exp.experiment
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set seg_reco.ab_experiments.promoted_products, or use metric ''conversion''.';
    END IF;
    v_test := CASE WHEN v_method <> 'auto' THEN v_method
                   WHEN v_metric IN ('conversion', 'promoted_conversion') AND NOT v_cuped THEN 'ztest'
                   ELSE 'welch' END;
    v_pre_days := coalesce(v_pre_days, ceil(extract(epoch FROM v_end - v_start) / 86400)::integer);
    v_pre_start := v_start - make_interval(days => v_pre_days);

    -- groups: the arms in the design's order, then the holdout
    v_groups := v_exp.arms || CASE WHEN v_exp.holdout > 0 THEN ARRAY['holdout'] ELSE ARRAY[]::text[] END;
    SELECT array_agg(u.w * (1 - v_exp.holdout) ORDER BY u.o) INTO v_shares
      FROM unnest(v_exp.weights) WITH ORDINALITY u(w, o);
    IF v_exp.holdout > 0 THEN
        v_shares := v_shares || v_exp.holdout;
    END IF;
    SELECT array_agg(coalesce(c.k, 0) ORDER BY g.o) INTO v_counts
      FROM unnest(v_groups) WITH ORDINALITY g(arm, o)
      LEFT JOIN (SELECT a.arm, count(*) AS k FROM seg_reco.ab_assignments a
                  WHERE a.experiment = v_exp.experiment GROUP BY a.arm) c ON c.arm = g.arm;
    SELECT count(*) INTO v_all FROM seg_reco.ab_assignments a WHERE a.experiment = v_exp.experiment;
    SELECT sum(x) INTO v_total FROM unnest(v_counts) x;
    IF v_all = 0 THEN
        RAISE EXCEPTION 'experiment "%" has no assigned customers', v_exp.experiment
            USING ERRCODE = 'no_data_found', HINT = 'Assign customers with seg_reco.ab_assign_all() or ab_assign().';
    END IF;
    IF v_all <> v_total THEN
        RAISE EXCEPTION 'experiment "%" has % customers in arms that are not in its design %', v_exp.experiment,
              v_all - v_total, v_groups
            USING ERRCODE = 'data_exception',
                  DETAIL = 'The arms or the holdout of seg_reco.ab_experiments were changed after customers were assigned.',
                  HINT = 'Restore the arms; a design must not change once customers are assigned.';
    END IF;
    IF cardinality(v_groups) >= 2 THEN
        SELECT * INTO v_srm FROM seg_reco.ab_srm(v_counts, v_shares);
    END IF;

    FOR v_row IN
        WITH a AS (
            SELECT s.customer_id, s.arm FROM seg_reco.ab_assignments s WHERE s.experiment = v_exp.experiment
        ), w AS (
            SELECT t.customer_id, sum(t.amount) AS revenue,
                   count(DISTINCT t.receipt_id) FILTER (WHERE t.amount > 0) AS receipts,
                   bool_or(t.amount > 0 AND t.product_id = ANY (v_exp.promoted_products)) AS promoted
              FROM seg_reco.transactions t
             WHERE t.customer_id IN (SELECT a.customer_id FROM a) AND t.ts >= v_start AND t.ts < v_end
             GROUP BY t.customer_id
        ), p AS (
            SELECT t.customer_id, sum(t.amount) AS spend
              FROM seg_reco.transactions t
             WHERE v_cuped AND t.customer_id IN (SELECT a.customer_id FROM a)
               AND t.ts >= v_pre_start AND t.ts < v_start
             GROUP BY t.customer_id
        ), m AS (
            SELECT a.arm, a.customer_id,
                   CASE v_metric
                        WHEN 'conversion' THEN (coalesce(w.receipts, 0) > 0)::integer::float8
                        WHEN 'promoted_conversion' THEN coalesce(w.promoted, false)::integer::float8
                        WHEN 'revenue' THEN coalesce(w.revenue, 0)::float8
                        ELSE CASE WHEN w.receipts > 0 THEN (w.revenue / w.receipts)::float8 END
                   END AS y,
                   coalesce(p.spend, 0)::float8 AS x
              FROM a LEFT JOIN w ON w.customer_id = a.customer_id LEFT JOIN p ON p.customer_id = a.customer_id
        )
        SELECT g.arm, g.o, count(m.customer_id) AS assigned, count(m.y) AS n,
               avg(m.y ORDER BY m.customer_id) AS mean, stddev_samp(m.y ORDER BY m.customer_id) AS sd,
               array_agg(m.y ORDER BY m.customer_id) FILTER (WHERE m.y IS NOT NULL) AS ys,
               array_agg(m.x ORDER BY m.customer_id) FILTER (WHERE m.y IS NOT NULL) AS xs
          FROM unnest(v_groups) WITH ORDINALITY g(arm, o)
          LEFT JOIN m ON m.arm = g.arm
         GROUP BY g.arm, g.o
         ORDER BY g.arm = v_exp.control_arm DESC, g.o
    LOOP
        arm := v_row.arm;
        is_control := v_row.arm = v_exp.control_arm;
        assigned := v_row.assigned;
        planned_share := v_shares[v_row.o];
        observed_share := v_row.assigned::float8 / v_total;
        n := v_row.n;
        mean := v_row.mean;
        sd := v_row.sd;
        difference := NULL; ci_low := NULL; ci_high := NULL;
        relative_uplift := NULL; relative_ci_low := NULL; relative_ci_high := NULL;
        statistic := NULL; df := NULL; p_value := NULL; method := NULL;
        cuped_theta := NULL; variance_reduction := NULL;
        srm_chi2 := v_srm.chi2;
        srm_p_value := v_srm.p_value;
        IF is_control THEN
            v_ctrl := v_row;
        ELSIF v_ctrl.n >= 1 AND v_row.n >= 1 THEN
            SELECT * INTO v_cmp
              FROM seg_reco.ab_compare(v_ctrl.ys, v_row.ys, v_test, v_alpha,
                                       CASE WHEN v_cuped THEN v_ctrl.xs END,
                                       CASE WHEN v_cuped THEN v_row.xs END, v_resamples, v_seed) c;
            difference := v_cmp.difference;
            ci_low := v_cmp.ci_low;
            ci_high := v_cmp.ci_high;
            relative_uplift := v_cmp.relative_uplift;
            relative_ci_low := v_cmp.relative_ci_low;
            relative_ci_high := v_cmp.relative_ci_high;
            statistic := v_cmp.statistic;
            df := v_cmp.df;
            p_value := v_cmp.p_value;
            method := v_test || CASE WHEN v_cuped THEN ' + CUPED' ELSE '' END;
            cuped_theta := v_cmp.theta;
            variance_reduction := v_cmp.variance_reduction;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.ab_results(text, text, timestamptz, timestamptz, jsonb) IS 'per arm of an experiment: customers, planned and observed share, n, mean and sd of the metric (conversion, promoted_conversion, revenue, basket_size) in the window, and against control the difference, relative uplift, their confidence intervals and the p-value (z-test, Welch or bootstrap; options alpha, method, resamples, seed, cuped, pre_days), with the sample-ratio-mismatch check';

CREATE FUNCTION seg_reco.ab_roi(experiment text, cost_per_contact float8, margin float8 DEFAULT 1,
        window_start timestamptz DEFAULT NULL, window_end timestamptz DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS TABLE(arm text, contacts bigint, revenue_uplift_per_customer float8, ci_low float8, ci_high float8,
              incremental_revenue float8, incremental_revenue_low float8, incremental_revenue_high float8,
              cost float8, net_value float8, net_value_low float8, net_value_high float8, roi float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
    IF cost_per_contact IS NULL OR margin IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN cost_per_contact IS NULL THEN 'cost_per_contact' ELSE 'margin' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (cost_per_contact >= 0 AND cost_per_contact < 'Infinity') THEN
        RAISE EXCEPTION 'cost_per_contact must be a finite number >= 0, got %', cost_per_contact
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (margin > 0 AND margin <= 1) THEN
        RAISE EXCEPTION 'margin must be in (0, 1], got %', margin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The share of incremental revenue that is profit; 1 counts revenue.';
    END IF;
    RETURN QUERY
    SELECT r.arm, r.assigned, r.difference, r.ci_low, r.ci_high,
           r.difference * r.assigned, r.ci_low * r.assigned, r.ci_high * r.assigned,
           cost_per_contact * r.assigned,
           margin * r.difference * r.assigned - cost_per_contact * r.assigned,
           margin * r.ci_low * r.assigned - cost_per_contact * r.assigned,
           margin * r.ci_high * r.assigned - cost_per_contact * r.assigned,
           CASE WHEN cost_per_contact > 0
                THEN (margin * r.difference * r.assigned - cost_per_contact * r.assigned) / (cost_per_contact * r.assigned) END
      FROM seg_reco.ab_results(experiment, 'revenue', window_start, window_end, options) r
     WHERE NOT r.is_control AND r.arm <> 'holdout';
END;
$fn$;
COMMENT ON FUNCTION seg_reco.ab_roi(text, float8, float8, timestamptz, timestamptz, jsonb) IS 'return on a campaign per treated arm: contacts, revenue uplift per customer (ab_results revenue) and in total with its interval, cost (cost_per_contact per contact), net value (margin x incremental revenue - cost) and ROI (net value / cost)';

-- The demo's past campaign.  generate_demo_data stays as it is (its output
-- is fixed); this plants, on top of it, a coffee promotion with a known
-- effect: target group, the customers who bought in the 13 weeks before
-- starts_on; half of them, balanced within quartiles of their spend in
-- those weeks, treated (experiment arms control/treatment, salt
-- '<experiment>:<seed>'); a response_rate share of the treated (chosen by
-- the hash) buy one extra receipt in the window: 1-3 lines of coffee
-- (subcategory kaffe), 1-2 each, at discount off, in their usual store on a
-- day other than Sunday, 09:00-20:00 Europe/Oslo.  Planted lines and
-- receipts have ids from 8e15 (8e15 + customer_id * 10 + line, 8e15 +
-- customer_id), which generate_demo_data never uses; a new call removes
-- them, the truth and the previous demo experiment first.  The truth per
-- target customer is in demo_campaign_truth.  Owner only.
CREATE FUNCTION seg_reco.generate_demo_campaign(experiment text DEFAULT 'demo_coffee_2025',
        starts_on date DEFAULT '2025-10-06', days integer DEFAULT 28,
        response_rate float8 DEFAULT 0.25, discount float8 DEFAULT 0.2, seed bigint DEFAULT 42)
RETURNS TABLE(arm text, customers bigint, responders bigint, lines_added bigint,
              planted_revenue numeric, planted_revenue_per_customer numeric)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_exp text := generate_demo_campaign.experiment;
    v_start timestamptz;
    v_end timestamptz;
    v_lookback timestamptz;
    v_promoted bigint[];
    v_ids bigint[];
    v_strata text[];
    v_kind "char";
    v_rel text;
BEGIN
    IF v_exp IS NULL OR starts_on IS NULL OR days IS NULL OR response_rate IS NULL
       OR discount IS NULL OR seed IS NULL THEN
        RAISE EXCEPTION 'generate_demo_campaign arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Omit an argument to use its default.';
    END IF;
    IF days < 1 OR days > 366 THEN
        RAISE EXCEPTION 'days must be between 1 and 366, got %', days USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (response_rate >= 0 AND response_rate <= 1) THEN
        RAISE EXCEPTION 'response_rate must be between 0 and 1, got %', response_rate
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (discount >= 0 AND discount < 1) THEN
        RAISE EXCEPTION 'discount must be at least 0 and less than 1, got %', discount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- like generate_demo_data: only into the extension's own tables
    FOREACH v_rel IN ARRAY ARRAY['customers', 'products', 'transactions'] LOOP
        SELECT c.relkind INTO v_kind
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = 'seg_reco' AND c.relname = v_rel;
        IF v_kind IS DISTINCT FROM 'r' THEN
            RAISE EXCEPTION 'seg_reco.% is not an ordinary table', v_rel
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'generate_demo_campaign() plants demo rows only into the tables created by the extension.',
                      HINT = 'Use a separate database for the demo.';
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM seg_reco.ab_experiments e WHERE e.experiment = v_exp)
       AND NOT EXISTS (SELECT 1 FROM seg_reco.demo_campaign_truth d WHERE d.experiment = v_exp) THEN
        RAISE EXCEPTION 'experiment "%" already exists and is not a demo campaign', v_exp
            USING ERRCODE = 'duplicate_object', HINT = 'Choose another name for the demo campaign.';
    END IF;

    v_start := starts_on::timestamp AT TIME ZONE 'Europe/Oslo';
    v_end := (starts_on + days)::timestamp AT TIME ZONE 'Europe/Oslo';
    v_lookback := (starts_on - 91)::timestamp AT TIME ZONE 'Europe/Oslo';

    -- the previous demo campaign goes first
    DELETE FROM seg_reco.transactions t WHERE t.line_id >= 8000000000000000;
    DELETE FROM seg_reco.ab_experiments e
     WHERE e.experiment IN (SELECT d.experiment FROM seg_reco.demo_campaign_truth d);
    DELETE FROM seg_reco.demo_campaign_truth;

    SELECT array_agg(p.product_id ORDER BY p.product_id) INTO v_promoted
      FROM seg_reco.products p
     WHERE p.subcategory = 'kaffe' AND p.active AND (p.launched_on IS NULL OR p.launched_on <= starts_on);
    IF v_promoted IS NULL THEN
        RAISE EXCEPTION 'the demo data has no coffee to promote'
            USING ERRCODE = 'no_data_found', HINT = 'Generate demo data with more products (seg_reco.generate_demo_data()).';
    END IF;
    SELECT array_agg(s.customer_id ORDER BY s.customer_id), array_agg('spend q' || s.q ORDER BY s.customer_id)
      INTO v_ids, v_strata
      FROM (SELECT t.customer_id, ntile(4) OVER (ORDER BY sum(t.amount), t.customer_id) AS q
              FROM seg_reco.transactions t
             WHERE t.customer_id IS NOT NULL AND t.ts >= v_lookback AND t.ts < v_start
             GROUP BY t.customer_id
            HAVING count(*) FILTER (WHERE t.amount > 0) > 0) s;
    IF v_ids IS NULL THEN
        RAISE EXCEPTION 'no customer bought in the 13 weeks before %', starts_on
            USING ERRCODE = 'no_data_found',
                  HINT = 'Generate demo data first (seg_reco.generate_demo_data()), or choose a start inside its period.';
    END IF;

    PERFORM seg_reco.ab_create_experiment(v_exp, '{control,treatment}', '{0.5,0.5}', 0, NULL,
            v_exp || ':' || seed, v_promoted, v_start, v_end, 'control',
            format('demo: coffee promotion to the customers who bought in the 13 weeks before %s, half of them '
                   'treated; %s of the treated respond with an extra coffee receipt at %s off (planted by '
                   'generate_demo_campaign, truth in demo_campaign_truth)', starts_on, response_rate, discount),
            'running');
    PERFORM seg_reco.ab_assign_all(v_exp, v_ids, v_strata);

    INSERT INTO seg_reco.demo_campaign_truth
        (experiment, customer_id, arm, responded, planted_revenue, organic_purchase, organic_promoted)
    SELECT a.experiment, a.customer_id, a.arm,
           a.arm = 'treatment' AND seg_reco.ab_hash('demo-response:' || seed, a.customer_id) < response_rate,
           0,
           EXISTS (SELECT 1 FROM seg_reco.transactions t
                    WHERE t.customer_id = a.customer_id AND t.ts >= v_start AND t.ts < v_end AND t.amount > 0),
           EXISTS (SELECT 1 FROM seg_reco.transactions t
                    WHERE t.customer_id = a.customer_id AND t.ts >= v_start AND t.ts < v_end AND t.amount > 0
                      AND t.product_id = ANY (v_promoted))
      FROM seg_reco.ab_assignments a
     WHERE a.experiment = v_exp;

    WITH resp AS (
        SELECT d.customer_id,
               (SELECT mode() WITHIN GROUP (ORDER BY t.store_id) FROM seg_reco.transactions t
                 WHERE t.customer_id = d.customer_id AND t.ts >= v_lookback AND t.ts < v_start) AS store_id,
               starts_on + floor(seg_reco.ab_hash('demo-day:' || seed, d.customer_id) * days)::integer AS day,
               floor(seg_reco.ab_hash('demo-minute:' || seed, d.customer_id) * 660)::integer AS minute,
               1 + floor(seg_reco.ab_hash('demo-lines:' || seed, d.customer_id) * 3)::integer AS n_lines
          FROM seg_reco.demo_campaign_truth d
         WHERE d.experiment = v_exp AND d.responded
    ), shifted AS (
        -- shops are closed on Sundays: the Saturday before (the Monday after on the first day)
        SELECT r.customer_id, r.store_id, r.minute, r.n_lines,
               CASE WHEN extract(isodow FROM r.day) <> 7 THEN r.day
                    WHEN r.day > starts_on THEN r.day - 1 ELSE r.day + 1 END AS day
          FROM resp r
    ), lines AS (
        SELECT x.customer_id, x.store_id, j.j,
               (x.day + make_interval(mins => 540 + x.minute)) AT TIME ZONE 'Europe/Oslo' AS ts,
               v_promoted[1 + floor(seg_reco.ab_hash('demo-product:' || seed || ':' || j.j, x.customer_id)
                                    * cardinality(v_promoted))::integer] AS product_id,
               (1 + floor(seg_reco.ab_hash('demo-quantity:' || seed || ':' || j.j, x.customer_id) * 2))::numeric AS quantity
          FROM shifted x, generate_series(1, x.n_lines) AS j(j)
    )
    INSERT INTO seg_reco.transactions
        (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, discount, amount, channel)
    SELECT 8000000000000000 + l.customer_id * 10 + l.j, 8000000000000000 + l.customer_id, l.customer_id,
           l.product_id, l.store_id, l.ts, l.quantity, p.unit_price,
           round(l.quantity * p.unit_price * discount::numeric, 2),
           l.quantity * p.unit_price - round(l.quantity * p.unit_price * discount::numeric, 2), 'store'
      FROM lines l JOIN seg_reco.products p ON p.product_id = l.product_id;

    UPDATE seg_reco.demo_campaign_truth d
       SET planted_revenue = s.revenue, planted_receipt_id = s.receipt_id
      FROM (SELECT t.customer_id, t.receipt_id, sum(t.amount) AS revenue
              FROM seg_reco.transactions t WHERE t.line_id >= 8000000000000000
             GROUP BY t.customer_id, t.receipt_id) s
     WHERE d.experiment = v_exp AND d.customer_id = s.customer_id;
    PERFORM seg_reco.ab_set_status(v_exp, 'stopped');

    RETURN QUERY
    SELECT d.arm, count(*), count(*) FILTER (WHERE d.responded),
           coalesce(sum(l.k), 0)::bigint, sum(d.planted_revenue), round(avg(d.planted_revenue), 2)
      FROM seg_reco.demo_campaign_truth d
      LEFT JOIN (SELECT t.customer_id, count(*) AS k FROM seg_reco.transactions t
                  WHERE t.line_id >= 8000000000000000 GROUP BY t.customer_id) l ON l.customer_id = d.customer_id
     WHERE d.experiment = v_exp
     GROUP BY d.arm
     ORDER BY d.arm;
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.generate_demo_campaign(text, date, integer, float8, float8, bigint) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.generate_demo_campaign(text, date, integer, float8, float8, bigint) IS 'plant a past coffee campaign with a known effect on the demo data: half the recent buyers treated (balanced by spend quartile), a response_rate share of them buying extra coffee in the window; truth in demo_campaign_truth';

SELECT pg_catalog.pg_extension_config_dump('seg_reco.ab_experiments', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.ab_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.demo_campaign_truth', '');
-- END A/B tests

-- Issue 12 (scale), recommendations for millions of customers:
-- the materialized view seg_reco.recommendations (refreshed CONCURRENTLY, a
-- diff of every row) becomes a view of the same name and columns over two
-- slot tables and a pointer to the served one; refresh() fills the idle slot
-- and swaps.  The slot served after the update (a) is filled from the old
-- materialized view, so the lists keep being served.  Grants on
-- seg_reco.recommendations must be given again; views of the user's own
-- over it must be dropped before the update.
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('recommendations_lock_timeout_ms', '100', 'longest wait (ms) of each of refresh()''s attempts (at most 5, 1 s apart) to lock the idle recommendations slot for TRUNCATE; readers of seg_reco.recommendations that arrive meanwhile wait at most this long; 0 = never TRUNCATE: the slot is emptied with DELETE in the refresh transaction (say, when hot standbys serve the view)');

CREATE TABLE seg_reco.recommendations_a (
    customer_id bigint NOT NULL,
    rank        integer NOT NULL,
    product_id  bigint NOT NULL,
    score       float8,
    source      text,
    sources     text[]
);
CREATE UNIQUE INDEX recommendations_a_customer_rank_idx ON seg_reco.recommendations_a (customer_id, rank);
CREATE INDEX recommendations_a_product_idx ON seg_reco.recommendations_a (product_id);
COMMENT ON TABLE seg_reco.recommendations_a IS 'slot a of seg_reco.recommendations, served while seg_reco.recommendations_active.slot = ''a'' (written by seg_reco.refresh; read the view)';
CREATE TABLE seg_reco.recommendations_b (
    customer_id bigint NOT NULL,
    rank        integer NOT NULL,
    product_id  bigint NOT NULL,
    score       float8,
    source      text,
    sources     text[]
);
CREATE UNIQUE INDEX recommendations_b_customer_rank_idx ON seg_reco.recommendations_b (customer_id, rank);
CREATE INDEX recommendations_b_product_idx ON seg_reco.recommendations_b (product_id);
COMMENT ON TABLE seg_reco.recommendations_b IS 'slot b of seg_reco.recommendations, served while seg_reco.recommendations_active.slot = ''b'' (written by seg_reco.refresh; read the view)';

CREATE TABLE seg_reco.recommendations_active (
    one_row     boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    slot        text NOT NULL CHECK (slot IN ('a', 'b')),
    generation  bigint NOT NULL,
    swapped_at  timestamptz
);
INSERT INTO seg_reco.recommendations_active (slot, generation) VALUES ('a', 0);
COMMENT ON TABLE seg_reco.recommendations_active IS 'the slot seg_reco.recommendations serves (a or b), the number of swaps so far (generation) and the time of the last swap (one row; changed by seg_reco.refresh)';

INSERT INTO seg_reco.recommendations_a (customer_id, rank, product_id, score, source, sources)
SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources FROM seg_reco.recommendations r;
ANALYZE seg_reco.recommendations_a;
DROP MATERIALIZED VIEW seg_reco.recommendations;

CREATE VIEW seg_reco.recommendations AS
SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
  FROM seg_reco.recommendations_a r
 WHERE (SELECT s.slot FROM seg_reco.recommendations_active s) = 'a'
UNION ALL
SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
  FROM seg_reco.recommendations_b r
 WHERE (SELECT s.slot FROM seg_reco.recommendations_active s) = 'b';
COMMENT ON VIEW seg_reco.recommendations IS 'top-N recommended products for every customer from the hybrid blend (written by seg_reco.refresh into the idle slot and swapped in at its commit: readers never wait for it and never see a mix of old and new lists): rank 1 is best; source = the largest contributing source (als, content, popularity, buy_again, boost, cold_start), sources = all contributing';

CREATE FUNCTION seg_reco._recommendations_empty_idle(run_id bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_ms integer := (seg_reco.setting('recommendations_lock_timeout_ms'))::integer;
    v_lock_timeout text := current_setting('lock_timeout');
    v_slot text;
    v_rel regclass;
    v_indexes text[];
    v_index text;
    v_swap xid;
    v_attempt integer := 0;
    v_reason text;
    v_result jsonb;
BEGIN
    IF v_ms IS NULL OR v_ms < 0 OR v_ms > 60000 THEN
        RAISE EXCEPTION 'setting recommendations_lock_timeout_ms is out of range: %', v_ms
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is the wait in milliseconds for each attempt to empty the idle recommendations slot, from 0 to 60000.',
                  HINT = 'Change or delete its row in seg_reco.settings.';
    END IF;
    -- one change of the slots at a time (readers take no lock that conflicts)
    LOCK TABLE seg_reco.recommendations_active IN SHARE ROW EXCLUSIVE MODE;
    SELECT CASE a.slot WHEN 'a' THEN 'b' ELSE 'a' END, a.xmin INTO v_slot, v_swap
      FROM seg_reco.recommendations_active a;
    v_rel := format('seg_reco.recommendations_%s', v_slot)::regclass;
    SELECT array_agg(i.oid::regclass::text ORDER BY i.oid::regclass::text) INTO v_indexes
      FROM pg_class i
     WHERE i.oid IN (to_regclass(format('seg_reco.recommendations_%s_customer_rank_idx', v_slot)),
                     to_regclass(format('seg_reco.recommendations_%s_product_idx', v_slot)));
    -- (_relation_size: on Citus a distributed slot's rows are in its shards)
    IF seg_reco._relation_size(v_rel) = 0 AND v_indexes IS NULL THEN
        v_result := jsonb_build_object('slot', v_slot, 'emptied', 'already empty');
    ELSIF v_ms = 0 THEN
        v_result := jsonb_build_object('slot', v_slot, 'emptied', 'no',
                                       'reason', 'recommendations_lock_timeout_ms is 0');
    ELSE
        PERFORM set_config('lock_timeout', v_ms || 'ms', true);
        LOOP
            v_attempt := v_attempt + 1;
            PERFORM pg_stat_clear_snapshot();
            IF EXISTS (SELECT 1 FROM pg_stat_activity s
                        WHERE s.pid <> pg_backend_pid()
                          AND (s.datname = current_database() OR s.datid IS NULL)
                          AND s.backend_type IS DISTINCT FROM 'autovacuum worker'
                          AND (age(s.backend_xmin) >= age(v_swap)
                               OR s.query = '<insufficient privilege>')) THEN
                v_reason := 'a session holds a snapshot from before the last swap';
            ELSE
                BEGIN
                    EXECUTE format('TRUNCATE %s', v_rel);
                    -- one index per statement: Citus drops no more than one
                    -- index of a distributed table at a time
                    FOREACH v_index IN ARRAY coalesce(v_indexes, '{}') LOOP
                        EXECUTE 'DROP INDEX ' || v_index;
                    END LOOP;
                    v_result := jsonb_build_object('slot', v_slot, 'emptied', 'truncate', 'attempts', v_attempt);
                EXCEPTION WHEN lock_not_available THEN
                    v_reason := format('readers held the slot longer than %s ms', v_ms);
                END;
            END IF;
            EXIT WHEN v_result IS NOT NULL;
            IF v_attempt = 5 THEN
                v_result := jsonb_build_object('slot', v_slot, 'emptied', 'no', 'attempts', v_attempt,
                                               'reason', v_reason);
                EXIT;
            END IF;
            PERFORM pg_sleep(1);
        END LOOP;
        PERFORM set_config('lock_timeout', v_lock_timeout, true);
    END IF;
    IF _recommendations_empty_idle.run_id IS NOT NULL THEN
        UPDATE seg_reco.refresh_log l
           SET detail = coalesce(l.detail, '{}') || jsonb_build_object('after_swap', v_result)
         WHERE l.run_id = _recommendations_empty_idle.run_id AND l.step = 'recommendations';
    END IF;
    RETURN v_result;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._recommendations_empty_idle(bigint) IS 'refresh() helper: empties the idle recommendations slot with TRUNCATE, and drops its indexes, when no reader can be hurt (each attempt waits at most recommendations_lock_timeout_ms; no snapshot from before the last swap); the caller commits right after';
REVOKE EXECUTE ON FUNCTION seg_reco._recommendations_empty_idle(bigint) FROM PUBLIC;

-- Whether the calling procedure may COMMIT: called by CALL outside a
-- transaction block and a function, and not in an exception block.
CREATE FUNCTION seg_reco._can_commit() RETURNS boolean
AS 'MODULE_PATHNAME', 'seg_reco_can_commit'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._can_commit() IS 'refresh() helper: true when the calling procedure can end its transaction (CALL outside a transaction block, a function and an exception block)';
REVOKE EXECUTE ON FUNCTION seg_reco._can_commit() FROM PUBLIC;

-- The steps of refresh(), in one transaction: the whole pipeline, left to
-- right, one logged step at a time: features -> clusters -> customer value
-- -> content vectors -> segment popularity -> association rules -> ALS model
-- -> recommendations -> customer_segments -> segment_summary -> cohorts.  Materialized views are
-- refreshed CONCURRENTLY and the recommendations written into the idle
-- slot, so dashboards keep reading meanwhile; if a step fails, everything
-- rolls back and the views keep their contents.  idle_before: what
-- _recommendations_empty_idle did before (NULL: refresh() could not run it);
-- run: the run's id, for the caller; mode: refresh()'s (see _refresh_plan).
-- A full run reads every line once (the customer_features step writes
-- seg_reco.customer_state) and trains every model.  An incremental run
-- recomputes the state of the customers that changed, from their own
-- lines, and then everything that moves with the date from the states
-- (features, RFM, cluster assignment and BTYD scores of every customer,
-- with the stored models); content, popularity, rules and the ALS model
-- are kept; the views are refreshed.  refresh_log.kind says which ran.
-- jit is off: compiling the big refresh and diff queries cost more than it
-- saved in every step (the whole pipeline 10% faster on the demo data; the
-- recommendations view's concurrent refresh 0.3-0.8 s faster in a new session).
-- Each step is reported as it starts (seg_reco.progress, and NOTICE messages
-- with seg_reco.progress_messages) and logged with the backend's peak
-- resident memory in it (peak_memory_bytes).
CREATE PROCEDURE seg_reco._refresh_steps(idle_before jsonb, INOUT run bigint, mode text DEFAULT NULL)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_run bigint := nextval('seg_reco.refresh_run_seq');
    v_t0 timestamptz;
    v_rows bigint;
    v_detail jsonb;
    v_plan jsonb;
    v_kind text;
    v_full boolean;
    v_changed bigint[];
BEGIN
    run := v_run;
    -- one run at a time (readers of the state take no conflicting lock)
    LOCK TABLE seg_reco.refresh_state IN SHARE ROW EXCLUSIVE MODE;
    v_plan := seg_reco._refresh_plan(mode);
    v_kind := v_plan ->> 'kind';
    v_full := v_kind = 'full';
    PERFORM seg_reco._progress_begin('refresh', 11);
    PERFORM seg_reco._progress_step('refresh', 'customer_features');
    v_t0 := clock_timestamp();
    v_detail := v_plan || seg_reco._customer_state_refresh(v_full);
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.customer_features;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_features;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_features', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'clusters');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_clusters();
    ELSE
        v_detail := seg_reco._refresh_clusters_stored();
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_clusters;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'clusters', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'customer_value');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_value();
    ELSE
        v_detail := seg_reco._refresh_value_stored();
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_value;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_value', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'content');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_content();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.product_content;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'content', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'popularity');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_popularity();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.segment_popularity;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'popularity', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'rules');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_rules();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.product_rules;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'rules', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    -- The ALS model and the lists.  A full run trains the model and
    -- rebuilds every list.  An incremental run folds the customers whose
    -- lines changed (v_changed, sorted; also in pg_temp.seg_reco_changed)
    -- into the stored model against its fixed product factors, and
    -- rebuilds their lists only, copying the others' served lists, as long
    -- as every other input of those lists (model version, content,
    -- popularity, settings, catalogue) is what their last full rebuild
    -- used; otherwise everyone's.  The copied lists keep the buy-again
    -- timing of the date they were computed at (recommendations_active.
    -- inputs, as_of), until the next full run.
    IF NOT v_full THEN
        v_changed := ARRAY(SELECT c.customer_id FROM pg_temp.seg_reco_changed c ORDER BY c.customer_id);
    END IF;
    PERFORM seg_reco._progress_step('refresh', 'als_model');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_als();
    ELSE
        v_detail := jsonb_build_object('models', 'kept', 'fold_in', seg_reco.als_fold_in('default', v_changed));
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.als_customer_factors f WHERE f.model = 'default';
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'als_model', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'recommendations');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_recommendations();
    ELSE
        IF (SELECT a.inputs - 'as_of' FROM seg_reco.recommendations_active a)
           = seg_reco._recommendations_inputs() - 'as_of' THEN
            v_detail := seg_reco.refresh_recommendations(v_changed)
                        || jsonb_build_object('lists', 'changed customers');
        ELSE
            v_detail := seg_reco.refresh_recommendations()
                        || jsonb_build_object('lists', 'all',
                                              'reason', 'inputs changed since the last full rebuild');
        END IF;
    END IF;
    v_rows := (v_detail ->> 'rows')::bigint;
    v_detail := (v_detail - 'rows')
                || jsonb_build_object('before_fill',
                                      coalesce(idle_before,
                                               jsonb_build_object('emptied', 'no', 'reason',
                                                                  'refresh() ran in a transaction block or a function')));
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'recommendations', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'customer_segments');
    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.customer_segments;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_segments;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_segments', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'segment_summary');
    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.segment_summary;
    SELECT count(*) INTO v_rows FROM seg_reco.segment_summary;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'segment_summary', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'cohorts');
    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.cohorts;
    SELECT count(*) INTO v_rows FROM seg_reco.cohorts;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'cohorts', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL,
         seg_reco._progress_peak_memory(), v_kind);

    IF v_full THEN
        -- the models an incremental run may keep: all trained in this run
        UPDATE seg_reco.refresh_state
           SET last_full_run = v_run, last_full_at = now(), model_settings = seg_reco._model_settings(),
               models_complete = NOT EXISTS (SELECT 1 FROM seg_reco.refresh_log l
                                              WHERE l.run_id = v_run
                                                AND l.step IN ('clusters', 'customer_value', 'als_model')
                                                AND (l.detail ? 'skipped' OR l.row_count = 0));
    END IF;
    PERFORM seg_reco._progress_end('refresh');
END;
$fn$;
COMMENT ON PROCEDURE seg_reco._refresh_steps(jsonb, bigint, text) IS 'refresh() helper: the steps of the pipeline in one transaction (full or incremental, see _refresh_plan), each logged in seg_reco.refresh_log';
REVOKE EXECUTE ON PROCEDURE seg_reco._refresh_steps(jsonb, bigint, text) FROM PUBLIC;





-- Issue 14 (marketing): cohorts and campaign targeting.
-- New objects as in sql/src/12_marketing.sql; refresh() gains the step
-- cohorts (same signature: replaced in place).

-- Retention by acquisition cohort.  A customer's cohort is the period (the
-- month, or the ISO week starting Monday, in the session time zone) of
-- their first purchase (a line with amount > 0) up to as_of; customers
-- without one belong to no cohort.  For each cohort and each period from
-- the cohort's own (period_number 0) to the one holding as_of, every
-- period listed even when nobody bought in it:
--   active_customers   members with a purchase line in the period
--   retention          active_customers / cohort_size (1 in period 0)
--   revenue            net amount of the members' lines in the period
--                      (returns subtract)
--   revenue_per_member revenue / cohort_size, rounded to 0.01 NOK
--   cumulative_revenue_per_member  revenue of periods 0..n / cohort_size
--   complete           false for the period holding as_of when it ends after it
-- Lines after as_of are ignored.  split_by splits every cohort by a
-- customer attribute: 'channel' (of the first purchase: store or online),
-- 'age_band' (age at as_of in ten-year bands from birth_year), or the name of
-- a column of seg_reco.customers, seg_reco.customer_segments or
-- seg_reco.demo_truth, looked up in that order ('customer_segments.at_risk'
-- names the relation).  Segment, cluster and value columns hold the values
-- of the last refresh(), not those at as_of.  since: only cohorts from the
-- period holding that date on (first purchases are still read from the
-- start, so earlier buyers never enter a later cohort).
--
-- Markings: STABLE (reads tables, default as_of from them); PARALLEL SAFE
-- (reads only; the split column is checked against the catalogue and quoted).
CREATE FUNCTION seg_reco.cohort_retention(period text DEFAULT 'month',
                                          as_of date DEFAULT NULL,
                                          split_by text DEFAULT NULL,
                                          since date DEFAULT NULL)
RETURNS TABLE (
    cohort                          date,
    split_value                     text,
    period_number                   integer,
    period_start                    date,
    complete                        boolean,
    cohort_size                     bigint,
    active_customers                bigint,
    retention                       float8,
    revenue                         numeric,
    revenue_per_member              numeric,
    cumulative_revenue_per_member   numeric
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date;
    v_step interval;
    v_last date;
    v_since date := '-infinity';
    v_split text := 'NULL::text';
    v_join text := '';
    v_rel text;
    v_col text;
    v_alias text;
    v_type regtype;
    v_found boolean := false;
    v_try record;
BEGIN
    IF period IS NULL OR period NOT IN ('month', 'week') THEN
        RAISE EXCEPTION 'unknown cohort period "%"', coalesce(period, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''month'' or ''week''.';
    END IF;
    v_as_of := coalesce(as_of, seg_reco.default_as_of());
    IF v_as_of IS NULL THEN
        RETURN;                         -- no transactions: no cohorts
    END IF;
    IF since IS NOT NULL THEN
        IF since > v_as_of THEN
            RAISE EXCEPTION 'since (%) is after as_of (%)', since, v_as_of
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'No cohort can start after the as-of date.',
                      HINT = 'Pass an earlier since, or a later as_of.';
        END IF;
        v_since := date_trunc(period, since::timestamp)::date;
    END IF;
    v_step := CASE period WHEN 'month' THEN interval '1 month' ELSE interval '7 days' END;
    v_last := date_trunc(period, v_as_of::timestamp)::date;

    IF split_by IS NOT NULL THEN
        IF split_by = 'channel' THEN
            v_split := '(SELECT t.channel FROM seg_reco.transactions t'
                       ' WHERE t.customer_id = f.cid AND t.amount > 0 AND t.ts < $1'
                       ' ORDER BY t.ts, t.line_id LIMIT 1)';
        ELSIF split_by = 'age_band' THEN
            v_split := format('CASE WHEN c.birth_year IS NULL THEN NULL'
                              ' WHEN %1$s - c.birth_year < 20 THEN ''under 20'''
                              ' WHEN %1$s - c.birth_year >= 80 THEN ''80+'''
                              ' ELSE ((%1$s - c.birth_year) / 10 * 10)::text || ''-'''
                              '      || ((%1$s - c.birth_year) / 10 * 10 + 9)::text END',
                              extract(year FROM v_as_of)::integer);
            v_join := ' LEFT JOIN seg_reco.customers c ON c.customer_id = f.cid';
        ELSE
            IF split_by LIKE '%.%' THEN
                v_rel := split_part(split_by, '.', 1);
                v_col := substr(split_by, length(v_rel) + 2);
                IF v_rel NOT IN ('customers', 'customer_segments', 'demo_truth') THEN
                    RAISE EXCEPTION 'split_by relation "%" is not one of customers, customer_segments, demo_truth', v_rel
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'Name a column, or qualify it with customers., customer_segments. or demo_truth.';
                END IF;
            ELSE
                v_col := split_by;
            END IF;
            FOR v_try IN
                SELECT r.rel, r.alias
                  FROM (VALUES (1, 'customers', 'c'), (2, 'customer_segments', 's'),
                               (3, 'demo_truth', 'd')) r(ord, rel, alias)
                 WHERE v_rel IS NULL OR r.rel = v_rel
                 ORDER BY r.ord
            LOOP
                SELECT a.atttypid::regtype INTO v_type
                  FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = pg_catalog.to_regclass('seg_reco.' || v_try.rel)
                   AND a.attname = v_col AND a.attnum > 0 AND NOT a.attisdropped;
                IF FOUND THEN
                    v_found := true;
                    v_alias := v_try.alias;
                    v_rel := v_try.rel;
                    EXIT;
                END IF;
            END LOOP;
            IF NOT v_found THEN
                RAISE EXCEPTION 'unknown split_by "%"', split_by
                    USING ERRCODE = 'undefined_column',
                          DETAIL = 'split_by is ''channel'', ''age_band'' or a column of seg_reco.customers, seg_reco.customer_segments or seg_reco.demo_truth.',
                          HINT = 'For example split_by => ''segment'', ''cluster_name'', ''member_tier'', ''gender'', ''county'' or ''channel''.';
            END IF;
            IF v_col = 'customer_id' THEN
                RAISE EXCEPTION 'cannot split cohorts by customer_id'
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Split by an attribute that customers share, such as segment or county.';
            END IF;
            IF v_type IN ('float4'::regtype, 'float8'::regtype, 'numeric'::regtype,
                          'timestamptz'::regtype, 'timestamp'::regtype) THEN
                RAISE EXCEPTION 'split_by column "%" of seg_reco.% is continuous (%)', v_col, v_rel, v_type
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'Each distinct value would be a group of its own.',
                          HINT = 'Split by a categorical column, or group the values in a view of your own.';
            END IF;
            v_split := format('%s.%I::text', v_alias, v_col);
            v_join := format(' LEFT JOIN seg_reco.%I %s ON %s.customer_id = f.cid', v_rel, v_alias, v_alias);
        END IF;
    END IF;

    RETURN QUERY EXECUTE format($q$
    WITH per AS (
        SELECT t.customer_id AS cid, date_trunc(%1$L, t.ts)::date AS p,
               bool_or(t.amount > 0) AS bought, sum(t.amount) AS revenue
          FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.ts < $1
         GROUP BY 1, 2
    ), firsts AS (
        SELECT per.cid, min(per.p) FILTER (WHERE per.bought) AS cohort
          FROM per GROUP BY per.cid
    ), members AS (
        SELECT f.cid, f.cohort, %2$s AS split
          FROM firsts f%3$s
         WHERE f.cohort IS NOT NULL AND f.cohort >= $2
    ), sizes AS (
        SELECT m.cohort, m.split, count(*) AS n FROM members m GROUP BY 1, 2
    ), activity AS (
        SELECT m.cohort, m.split, per.p,
               count(*) FILTER (WHERE per.bought) AS active, sum(per.revenue) AS revenue
          FROM members m JOIN per ON per.cid = m.cid AND per.p >= m.cohort
         GROUP BY 1, 2, 3
    ), grid AS (
        SELECT s.cohort, s.split, s.n, g.p::date AS p, (g.k - 1)::integer AS k
          FROM sizes s,
               generate_series(s.cohort::timestamp, $3::timestamp, $4) WITH ORDINALITY g(p, k)
    )
    SELECT g.cohort, g.split, g.k, g.p,
           (g.p + $4)::date - 1 <= $5,
           g.n, coalesce(a.active, 0), coalesce(a.active, 0)::float8 / g.n,
           coalesce(a.revenue, 0), round(coalesce(a.revenue, 0) / g.n, 2),
           round(sum(coalesce(a.revenue, 0)) OVER (PARTITION BY g.cohort, g.split ORDER BY g.p) / g.n, 2)
      FROM grid g
      LEFT JOIN activity a
        ON a.cohort = g.cohort AND a.p = g.p AND a.split IS NOT DISTINCT FROM g.split
     ORDER BY g.cohort, g.split NULLS FIRST, g.p
    $q$, period, v_split, v_join)
    USING (v_as_of + 1)::timestamptz, v_since, v_last, v_step, v_as_of;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.cohort_retention(text, date, text, date) IS 'retention by acquisition cohort (month or week of the first purchase): per cohort and later period the members still buying, their share, revenue per original member and its running total, up to as_of; optionally split by acquisition channel, age band or a column of customers, customer_segments or demo_truth';

-- The monthly cohort table of the pipeline (refreshed by refresh()).
CREATE MATERIALIZED VIEW seg_reco.cohorts AS
SELECT r.cohort, r.period_number, r.period_start, r.complete, r.cohort_size, r.active_customers,
       r.retention, r.revenue, r.revenue_per_member, r.cumulative_revenue_per_member
  FROM seg_reco.cohort_retention('month') r;
CREATE UNIQUE INDEX cohorts_cohort_period_idx ON seg_reco.cohorts (cohort, period_number);
COMMENT ON MATERIALIZED VIEW seg_reco.cohorts IS 'monthly acquisition cohorts up to the latest transaction: members, members still buying and their share, revenue and cumulative revenue per original member, per month since the first purchase (cohort_retention(''month''); refreshed by seg_reco.refresh)';

-- Contacts made (and control-group members held out) by campaigns: what
-- frequency caps and exclusions read across campaigns.  control = true:
-- the customer was drawn into the campaign's control group and was NOT
-- contacted (channel is the one the campaign used); such rows never count as
-- contacts.  No foreign key to customers: seg_reco.customers may be a view
-- (use_source); record_contacts checks the ids.
CREATE TABLE seg_reco.contact_history (
    campaign        text NOT NULL CHECK (campaign <> ''),
    customer_id     bigint NOT NULL,
    contacted_at    timestamptz NOT NULL,
    channel         text NOT NULL CHECK (channel <> ''),
    control         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (campaign, customer_id, contacted_at)
);
CREATE INDEX contact_history_customer_idx ON seg_reco.contact_history (customer_id, contacted_at);
COMMENT ON TABLE seg_reco.contact_history IS 'one row per customer contacted by a campaign (control = true: held out in its control group, not contacted); read by campaign_targets for frequency caps and exclusions, written by record_contacts';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.contact_history', '');

-- One row of a target list (campaign_targets) and the input of record_contacts.
CREATE TYPE seg_reco.campaign_target AS (
    campaign            text,
    channel             text,
    customer_id         bigint,
    rank                integer,
    control             boolean,
    expected_value      float8,
    cumulative_value    float8,
    p_alive             float8,
    at_risk             boolean,
    segment             text,
    cluster_name        text,
    products            bigint[],
    product_names       text[],
    reason              text
);
COMMENT ON TYPE seg_reco.campaign_target IS 'a row of a campaign target list: campaign, channel, customer, rank by expected value, control-group flag, expected (12-month CLV) and cumulative value of the targets, p_alive, at-risk flag, RFM segment, cluster, recommended products and why the customer was chosen';

-- campaign_targets(definition): the target list of a campaign, best
-- expected value first.  definition is a JSON object; every key but
-- campaign is optional (unknown keys are errors):
--   campaign                name of the campaign (required)
--   channel                 'email' (default) or any other name
--   segments                RFM segment names (any of them)
--   clusters                cluster names or numbers (any of them)
--   min_clv                 12-month CLV at least this (NOK)
--   p_alive_min, p_alive_max  probability alive in this range
--   at_risk                 true: only at-risk customers; false: none
--   require_opt_in          only customers with email_opt_in (default
--                           true for the channel 'email', else false)
--   exclude_contacted_days  no contact by any campaign in this many days
--   max_contacts, max_contacts_days  frequency cap: fewer than max_contacts
--                           contacts by any campaign in max_contacts_days
--                           (default 30) days
--   exclude_campaigns       nobody contacted or held out by these campaigns
--   exclude_controls_days   nobody held out in another campaign's control
--                           group in this many days (default 90; 0: off)
--   exclude_customers_in    a table or view with a customer_id column
--                           (e.g. the control arm of an experiment)
--   recontact               false (default): nobody this campaign already
--                           contacted or held out
--   control_share           share of the chosen customers held out as
--                           control (0 <= share < 1, default 0): fixed per
--                           campaign and customer by a hash, so reruns
--                           hold out the same customers
--   budget_customers        at most this many contacted customers
--   budget_value            stop once the contacted customers' expected
--                           value reaches this (NOK)
--   products                recommended products per customer (0-50, default 3)
--   exclude_products, exclude_categories  never recommend these
--   include_purchased       true (default): products bought before may be
--                           recommended (re-buys); false: only new ones
--   as_of                   the moment contact windows count back from
--                           (default now())
-- Criteria combine with AND; a list matches any of its values.  Values are
-- those of seg_reco.customer_segments (the last refresh()); expected_value
-- = clv_12m (0 without one).  Controls do not count against the budget and
-- get no products.  Products: the customer's seg_reco.recommendations in
-- rank order without the exclusions (and without inactive products), then
-- recommend_for with the same exclusions when fewer remain (nothing more
-- when the recommendation model 'default' does not exist).
--
-- Markings: STABLE (reads tables; as_of defaults to now(), fixed within a
-- transaction).  PARALLEL RESTRICTED: exclude_customers_in may name a
-- temporary table, which parallel workers cannot read.
CREATE FUNCTION seg_reco.campaign_targets(definition jsonb)
RETURNS SETOF seg_reco.campaign_target
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_keys constant text[] := ARRAY['campaign', 'channel', 'segments', 'clusters', 'min_clv',
        'p_alive_min', 'p_alive_max', 'at_risk', 'require_opt_in', 'exclude_contacted_days',
        'max_contacts', 'max_contacts_days', 'exclude_campaigns', 'exclude_controls_days',
        'exclude_customers_in', 'recontact', 'control_share', 'budget_customers', 'budget_value',
        'products', 'exclude_products', 'exclude_categories', 'include_purchased', 'as_of'];
    v_key text;
    v_campaign text;
    v_channel text;
    v_segments text[];
    v_clusters text[];
    v_cluster_nums integer[];
    v_known_clusters text[];
    v_min_clv float8;
    v_pmin float8;
    v_pmax float8;
    v_at_risk boolean;
    v_opt_in boolean;
    v_cooldown integer;
    v_max_contacts integer;
    v_max_days integer;
    v_excl_campaigns text[];
    v_controls_days integer;
    v_excl_rel regclass;
    v_recontact boolean;
    v_share float8;
    v_budget_n bigint;
    v_budget_v float8;
    v_n integer;
    v_excl_products bigint[];
    v_excl_categories text[];
    v_incl boolean;
    v_as_of timestamptz;
    v_model boolean;
    v_bad text;
    v_excl_sql text := '';
BEGIN
    IF definition IS NULL THEN
        RAISE EXCEPTION 'campaign definition must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a JSON object such as ''{"campaign": "winback", "at_risk": true}''.';
    END IF;
    IF jsonb_typeof(definition) <> 'object' THEN
        RAISE EXCEPTION 'campaign definition must be a JSON object, got %', jsonb_typeof(definition)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a JSON object such as ''{"campaign": "winback", "at_risk": true}''.';
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(definition) k WHERE k <> ALL (v_keys) ORDER BY k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown campaign definition key "%"', v_key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Known keys: ' || array_to_string(v_keys, ', ') || '.';
    END IF;
    -- every key present must have the right JSON type (null is "not given")
    SELECT k INTO v_key FROM jsonb_each(definition) e(k, v)
     WHERE jsonb_typeof(v) <> 'null' AND NOT (
           (k IN ('campaign', 'channel', 'exclude_customers_in', 'as_of') AND jsonb_typeof(v) = 'string')
        OR (k IN ('segments', 'clusters', 'exclude_campaigns', 'exclude_categories', 'exclude_products')
            AND jsonb_typeof(v) IN ('array', 'string', 'number'))
        OR (k IN ('at_risk', 'require_opt_in', 'recontact', 'include_purchased') AND jsonb_typeof(v) = 'boolean')
        OR (k NOT IN ('campaign', 'channel', 'exclude_customers_in', 'as_of', 'segments', 'clusters',
                      'exclude_campaigns', 'exclude_categories', 'exclude_products', 'at_risk',
                      'require_opt_in', 'recontact', 'include_purchased') AND jsonb_typeof(v) = 'number'))
     ORDER BY k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'campaign definition key "%" has the wrong type (%)', v_key, jsonb_typeof(definition -> v_key)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'campaign, channel, exclude_customers_in and as_of are strings; segments, clusters, exclude_campaigns, exclude_categories and exclude_products are lists; at_risk, require_opt_in, recontact and include_purchased are true or false; the rest are numbers.';
    END IF;

    v_campaign := definition ->> 'campaign';
    IF v_campaign IS NULL OR btrim(v_campaign) = '' THEN
        RAISE EXCEPTION 'campaign definition has no campaign name'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Add "campaign": "<name>"; contacts are recorded under it.';
    END IF;
    v_channel := coalesce(definition ->> 'channel', 'email');
    IF btrim(v_channel) = '' THEN
        RAISE EXCEPTION 'campaign channel must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- lists: a JSON array, or one value on its own
    v_segments := (SELECT array_agg(x ORDER BY o) FROM jsonb_array_elements_text(
                       CASE jsonb_typeof(definition -> 'segments') WHEN 'array' THEN definition -> 'segments'
                            ELSE jsonb_build_array(definition -> 'segments') END) WITH ORDINALITY u(x, o)
                    WHERE definition ? 'segments' AND jsonb_typeof(definition -> 'segments') <> 'null');
    v_clusters := (SELECT array_agg(x ORDER BY o) FROM jsonb_array_elements_text(
                       CASE jsonb_typeof(definition -> 'clusters') WHEN 'array' THEN definition -> 'clusters'
                            ELSE jsonb_build_array(definition -> 'clusters') END) WITH ORDINALITY u(x, o)
                    WHERE definition ? 'clusters' AND jsonb_typeof(definition -> 'clusters') <> 'null');
    v_excl_campaigns := (SELECT array_agg(x) FROM jsonb_array_elements_text(
                       CASE jsonb_typeof(definition -> 'exclude_campaigns') WHEN 'array' THEN definition -> 'exclude_campaigns'
                            ELSE jsonb_build_array(definition -> 'exclude_campaigns') END) x
                    WHERE definition ? 'exclude_campaigns' AND jsonb_typeof(definition -> 'exclude_campaigns') <> 'null');
    v_excl_categories := (SELECT array_agg(x) FROM jsonb_array_elements_text(
                       CASE jsonb_typeof(definition -> 'exclude_categories') WHEN 'array' THEN definition -> 'exclude_categories'
                            ELSE jsonb_build_array(definition -> 'exclude_categories') END) x
                    WHERE definition ? 'exclude_categories' AND jsonb_typeof(definition -> 'exclude_categories') <> 'null');
    IF definition ? 'exclude_products' AND jsonb_typeof(definition -> 'exclude_products') <> 'null' THEN
        SELECT x INTO v_bad FROM jsonb_array_elements(
                   CASE jsonb_typeof(definition -> 'exclude_products') WHEN 'array' THEN definition -> 'exclude_products'
                        ELSE jsonb_build_array(definition -> 'exclude_products') END) x
         WHERE jsonb_typeof(x) <> 'number' OR x::text !~ '^-?[0-9]+$' LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'exclude_products must list product ids, got %', v_bad
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_excl_products := (SELECT array_agg(x::text::bigint) FROM jsonb_array_elements(
                   CASE jsonb_typeof(definition -> 'exclude_products') WHEN 'array' THEN definition -> 'exclude_products'
                        ELSE jsonb_build_array(definition -> 'exclude_products') END) x);
    END IF;
    IF array_position(v_segments, NULL) IS NOT NULL OR array_position(v_clusters, NULL) IS NOT NULL
       OR array_position(v_excl_campaigns, NULL) IS NOT NULL OR array_position(v_excl_categories, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'campaign definition lists must not hold null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    -- numbers and their ranges
    v_min_clv := (definition ->> 'min_clv')::float8;
    IF v_min_clv < 0 THEN
        RAISE EXCEPTION 'min_clv must not be negative, got %', v_min_clv
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_pmin := (definition ->> 'p_alive_min')::float8;
    v_pmax := (definition ->> 'p_alive_max')::float8;
    IF v_pmin NOT BETWEEN 0 AND 1 OR v_pmax NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'p_alive_min and p_alive_max must be between 0 and 1, got % and %',
                        coalesce(v_pmin::text, 'none'), coalesce(v_pmax::text, 'none')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_pmin > v_pmax THEN
        RAISE EXCEPTION 'p_alive range is inverted: p_alive_min % > p_alive_max %', v_pmin, v_pmax
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'p_alive_min is the lower bound, p_alive_max the upper one.';
    END IF;
    IF (definition ->> 'budget_customers')::numeric < 1 OR (definition ->> 'budget_value')::numeric <= 0 THEN
        RAISE EXCEPTION 'budget must be positive, got %',
                        CASE WHEN (definition ->> 'budget_customers')::numeric < 1
                             THEN 'budget_customers ' || (definition ->> 'budget_customers')
                             ELSE 'budget_value ' || (definition ->> 'budget_value') END
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'budget_customers is a number of customers (at least 1), budget_value an expected value in NOK (above 0).',
                  HINT = 'Leave the budget out for no limit.';
    END IF;
    FOREACH v_key IN ARRAY ARRAY['exclude_contacted_days', 'max_contacts', 'max_contacts_days',
                                 'exclude_controls_days', 'budget_customers', 'products'] LOOP
        IF jsonb_typeof(definition -> v_key) = 'number'
           AND ((definition -> v_key)::text !~ '^[0-9]+$' OR (definition ->> v_key)::numeric > 2147483647) THEN
            RAISE EXCEPTION '% must be a whole number between 0 and 2147483647, got %', v_key, definition -> v_key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    v_cooldown := (definition ->> 'exclude_contacted_days')::integer;
    v_max_contacts := (definition ->> 'max_contacts')::integer;
    v_max_days := coalesce((definition ->> 'max_contacts_days')::integer, 30);
    IF v_max_contacts < 1 OR v_max_days < 1 THEN
        RAISE EXCEPTION 'max_contacts and max_contacts_days must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'To exclude everybody contacted lately, use exclude_contacted_days.';
    END IF;
    v_controls_days := coalesce((definition ->> 'exclude_controls_days')::integer, 90);
    v_share := coalesce((definition ->> 'control_share')::float8, 0);
    IF NOT (v_share >= 0 AND v_share < 1) THEN
        RAISE EXCEPTION 'control_share must be at least 0 and below 1, got %', v_share
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_budget_n := (definition ->> 'budget_customers')::bigint;
    v_budget_v := (definition ->> 'budget_value')::float8;
    v_n := coalesce((definition ->> 'products')::integer, 3);
    IF v_n > 50 THEN
        RAISE EXCEPTION 'products must be between 0 and 50, got %', v_n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_at_risk := (definition ->> 'at_risk')::boolean;
    v_opt_in := coalesce((definition ->> 'require_opt_in')::boolean, v_channel = 'email');
    v_recontact := coalesce((definition ->> 'recontact')::boolean, false);
    v_incl := coalesce((definition ->> 'include_purchased')::boolean, true);
    BEGIN
        v_as_of := coalesce((definition ->> 'as_of')::timestamptz, now());
    EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR invalid_parameter_value THEN
        RAISE EXCEPTION 'as_of must be a timestamp, got "%"', definition ->> 'as_of'
            USING ERRCODE = 'invalid_parameter_value';
    END;
    IF v_as_of IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'as_of must be finite' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- names must exist: a misspelt segment would silently select nobody
    IF NOT EXISTS (SELECT 1 FROM seg_reco.customer_segments) THEN
        RAISE EXCEPTION 'seg_reco.customer_segments is empty'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Targets are chosen from the segments, clusters and values of the last refresh.',
                  HINT = 'Run CALL seg_reco.refresh() first.';
    END IF;
    SELECT x INTO v_bad FROM unnest(v_segments) x
     WHERE x NOT IN ('Others', 'No Purchases')
       AND NOT EXISTS (SELECT 1 FROM seg_reco.rfm_segments r WHERE r.segment = x) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown segment "%"', v_bad
            USING ERRCODE = 'undefined_object',
                  HINT = 'Segments: ' || (SELECT string_agg(DISTINCT r.segment, ', ') FROM seg_reco.rfm_segments r)
                         || ', Others, No Purchases.';
    END IF;
    -- the known names and numbers first: on Citus (customer_clusters
    -- distributed) a correlated subquery beside unnest() is refused
    IF coalesce(cardinality(v_clusters), 0) > 0 THEN
        v_known_clusters := ARRAY(SELECT DISTINCT c.cluster_name FROM seg_reco.customer_clusters c)
                            || ARRAY(SELECT DISTINCT c.cluster::text FROM seg_reco.customer_clusters c);
    END IF;
    SELECT x INTO v_bad FROM unnest(v_clusters) x
     WHERE x IS NULL OR x <> ALL (v_known_clusters) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown cluster "%"', v_bad
            USING ERRCODE = 'undefined_object',
                  HINT = coalesce('Clusters of the last refresh: '
                                  || (SELECT string_agg(DISTINCT c.cluster_name, ', ') FROM seg_reco.customer_clusters c) || '.',
                                  'The last refresh made no clusters.');
    END IF;
    v_cluster_nums := (SELECT array_agg(x::integer) FROM unnest(v_clusters) x WHERE x ~ '^[0-9]{1,9}$');
    IF (v_min_clv IS NOT NULL OR v_pmin IS NOT NULL OR v_pmax IS NOT NULL OR v_at_risk IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM seg_reco.customer_value) THEN
        RAISE EXCEPTION 'no customer has a lifetime value'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'min_clv, p_alive_min, p_alive_max and at_risk need the customer_value step of refresh(), which was skipped (see seg_reco.refresh_log).',
                  HINT = 'Refresh with more purchase history, or leave those criteria out.';
    END IF;
    IF definition ? 'exclude_customers_in' AND jsonb_typeof(definition -> 'exclude_customers_in') <> 'null' THEN
        BEGIN
            v_excl_rel := (definition ->> 'exclude_customers_in')::regclass;
        EXCEPTION WHEN undefined_table OR invalid_name OR invalid_schema_name OR syntax_error THEN
            RAISE EXCEPTION 'exclude_customers_in: relation "%" does not exist', definition ->> 'exclude_customers_in'
                USING ERRCODE = 'undefined_table',
                      HINT = 'Qualify the name with its schema (public.my_controls; pg_temp.x for a temporary table).';
        END;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = v_excl_rel AND a.attname = 'customer_id'
                          AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'exclude_customers_in: relation % has no column customer_id', v_excl_rel
                USING ERRCODE = 'undefined_column';
        END IF;
        v_excl_sql := format(' AND NOT EXISTS (SELECT 1 FROM %s x WHERE x.customer_id = s.customer_id)', v_excl_rel);
    END IF;
    -- products of excluded categories join the excluded ids
    IF v_excl_categories IS NOT NULL THEN
        v_excl_products := coalesce(v_excl_products, '{}')
            || ARRAY(SELECT p.product_id FROM seg_reco.products p WHERE p.category = ANY (v_excl_categories));
    END IF;
    v_excl_products := coalesce(v_excl_products, '{}');
    v_model := EXISTS (SELECT 1 FROM seg_reco.models m WHERE m.name = 'default' AND m.kind = 'als');

    -- The customers' segment rows are chosen first (segs, MATERIALIZED):
    -- on Citus customer_segments reads distributed tables (distribute()),
    -- and the contact history and the recommendations are then looked up
    -- per chosen customer on the coordinator, over intermediate results
    -- (Citus refuses those correlated lookups beside distributed tables).
    -- The contact history (distributed too) is summed per chosen customer
    -- first (contacts, MATERIALIZED: a grouped query each shard runs), then
    -- joined to them.
    RETURN QUERY EXECUTE format($q$
    WITH segs AS MATERIALIZED (
        SELECT s.customer_id, s.segment, s.cluster_name, s.p_alive, s.clv_12m, s.at_risk
          FROM seg_reco.customer_segments s
          LEFT JOIN seg_reco.customers c ON c.customer_id = s.customer_id
         WHERE ($3::text[] IS NULL OR s.segment = ANY ($3))
           AND ($4::text[] IS NULL OR s.cluster_name = ANY ($4) OR s.cluster = ANY ($5))
           AND ($6::float8 IS NULL OR s.clv_12m >= $6)
           AND ($7::float8 IS NULL OR s.p_alive >= $7)
           AND ($8::float8 IS NULL OR s.p_alive <= $8)
           AND ($9::boolean IS NULL OR s.at_risk = $9)
           AND (NOT $10 OR c.email_opt_in)
    ), contacts AS MATERIALIZED (
        -- what the rules read of the chosen customers' contact history, one
        -- row per customer with history (only when a rule reads it)
        SELECT h.customer_id,
               bool_or(NOT h.control AND h.contacted_at > $2 - make_interval(days => $11)
                       AND h.contacted_at <= $2) AS contacted_lately,
               count(*) FILTER (WHERE NOT h.control AND h.contacted_at > $2 - make_interval(days => $13)
                                  AND h.contacted_at <= $2) AS contacts_in_window,
               bool_or(h.campaign = ANY ($14)) AS in_excluded_campaign,
               bool_or(h.control AND h.campaign <> $1 AND h.contacted_at > $2 - make_interval(days => $15)
                       AND h.contacted_at <= $2) AS held_out_elsewhere,
               bool_or(h.campaign = $1) AS in_this_campaign
          FROM seg_reco.contact_history h
         WHERE ($11::integer IS NOT NULL OR $12::integer IS NOT NULL OR $14::text[] IS NOT NULL
                OR $15 <> 0 OR NOT $16)
           AND h.customer_id IN (SELECT s.customer_id FROM segs s)
         GROUP BY h.customer_id
    ), eligible AS (
        SELECT s.customer_id, s.segment, s.cluster_name, s.p_alive, s.clv_12m, s.at_risk,
               coalesce(s.clv_12m, 0) AS ev,
               ('x' || substr(encode(sha256(convert_to($1 || ':' || s.customer_id::text, 'UTF8')), 'hex'), 1, 13))::bit(52)::bigint
                   / 4503599627370496.0 < $19 AS ctl
          FROM segs s
          LEFT JOIN contacts k ON k.customer_id = s.customer_id
         WHERE ($11::integer IS NULL OR NOT coalesce(k.contacted_lately, false))
           AND ($12::integer IS NULL OR coalesce(k.contacts_in_window, 0) < $12)
           AND ($14::text[] IS NULL OR NOT coalesce(k.in_excluded_campaign, false))
           AND ($15 = 0 OR NOT coalesce(k.held_out_elsewhere, false))
           AND ($16 OR NOT coalesce(k.in_this_campaign, false))%s
    ), ordered AS (
        SELECT e.*, row_number() OVER (ORDER BY e.ev DESC, e.customer_id)::integer AS rk,
               count(*) OVER () AS n_eligible
          FROM eligible e
    ), budgeted AS (
        SELECT o.*,
               count(*) FILTER (WHERE NOT o.ctl) OVER w AS t_upto,
               coalesce(sum(o.ev) FILTER (WHERE NOT o.ctl) OVER w, 0) AS v_upto
          FROM ordered o
        WINDOW w AS (ORDER BY o.rk ROWS UNBOUNDED PRECEDING)
    ), within AS (
        SELECT b.*
          FROM budgeted b
         WHERE ($17::bigint IS NULL OR b.t_upto - (NOT b.ctl)::integer < $17)
           AND ($18::float8 IS NULL OR b.v_upto - CASE WHEN b.ctl THEN 0 ELSE b.ev END < $18)
    ), recs AS MATERIALIZED (
        -- the served lists of the contacted customers, without the
        -- excluded products (and those bought before, unless asked for)
        SELECT r.customer_id, r.product_id, r.rank
          FROM seg_reco.recommendations r
          JOIN seg_reco.products p ON p.product_id = r.product_id
         WHERE $20 > 0 AND r.customer_id IN (SELECT w.customer_id FROM within w WHERE NOT w.ctl)
           AND p.active AND r.product_id <> ALL ($21)
           AND ($22 OR NOT EXISTS (SELECT 1 FROM seg_reco.transactions t
                                    WHERE t.customer_id = r.customer_id AND t.product_id = r.product_id))
    ), chosen AS (
        SELECT w.*,
               CASE WHEN NOT w.ctl AND $20 > 0 THEN
                   coalesce((SELECT array_agg(x.product_id ORDER BY x.rank)
                               FROM (SELECT r.product_id, r.rank FROM recs r
                                      WHERE r.customer_id = w.customer_id
                                      ORDER BY r.rank LIMIT $20) x), '{}')
               END AS vids
          FROM within w
    ), listed AS (
        SELECT ch.*,
               CASE WHEN ch.ctl OR $20 = 0 THEN NULL
                    WHEN cardinality(ch.vids) >= $20 OR NOT $23 THEN ch.vids
                    ELSE ch.vids || coalesce((SELECT array_agg(rf.product_id ORDER BY rf.rank)
                                                FROM seg_reco.recommend_for(ch.customer_id, $20 - cardinality(ch.vids),
                                                                            include_purchased => $22,
                                                                            exclude => $21 || ch.vids) rf), '{}')
               END AS pids
          FROM chosen ch
    )
    SELECT $1, $24, l.customer_id, l.rk, l.ctl, l.ev::float8,
           CASE WHEN l.ctl THEN NULL ELSE l.v_upto::float8 END,
           l.p_alive, l.at_risk, l.segment, l.cluster_name, l.pids,
           CASE WHEN l.pids IS NULL THEN NULL
                ELSE ARRAY(SELECT p.name FROM unnest(l.pids) WITH ORDINALITY u(id, o)
                             JOIN seg_reco.products p ON p.product_id = u.id ORDER BY u.o) END,
           concat_ws('; ',
               CASE WHEN l.ctl THEN format('held out in the control group (%%s%%%% of those chosen, fixed per campaign): not to be contacted',
                                           round(($19 * 100)::numeric, 1)) END,
               CASE WHEN $3::text[] IS NOT NULL THEN format('RFM segment %%s', l.segment) END,
               CASE WHEN $4::text[] IS NOT NULL THEN format('cluster %%s', l.cluster_name) END,
               CASE WHEN $9 THEN format('at risk (p_alive %%s)', round(l.p_alive::numeric, 2))
                    WHEN NOT $9 THEN 'not at risk' END,
               CASE WHEN $7::float8 IS NOT NULL OR $8::float8 IS NOT NULL
                    THEN format('p_alive %%s in [%%s, %%s]', round(l.p_alive::numeric, 2),
                                coalesce($7, 0), coalesce($8, 1)) END,
               CASE WHEN $6::float8 IS NOT NULL THEN format('12-month CLV %%s NOK >= %%s', round(l.clv_12m::numeric), $6) END,
               CASE WHEN $10 THEN 'email opt-in' END,
               CASE WHEN $11::integer IS NOT NULL THEN format('no contact in %%s days', $11) END,
               format('rank %%s of %%s by expected value (%%s NOK)', l.rk, l.n_eligible, round(l.ev::numeric)))
      FROM listed l
     ORDER BY l.rk
    $q$, v_excl_sql)
    USING v_campaign, v_as_of, v_segments, v_clusters, v_cluster_nums, v_min_clv, v_pmin, v_pmax,
          v_at_risk, v_opt_in, v_cooldown, v_max_contacts, v_max_days, v_excl_campaigns,
          v_controls_days, v_recontact, v_budget_n, v_budget_v, v_share, v_n, v_excl_products,
          v_incl, v_model, v_channel;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.campaign_targets(jsonb) IS 'the target list of a campaign definition (segments, clusters, minimum CLV, p_alive range, at-risk flag, opt-in, contact and control-group exclusions, frequency cap, control share, budget in customers or expected value): each customer''s expected value, recommended products without the excluded ones, and why they were chosen, best expected value first';

-- record_contacts(targets): writes a target list (or any rows of type
-- campaign_target) into contact_history: contacted rows and control-group
-- rows (control = true, not contacted) alike, at contacted_at.  A row
-- already recorded (same campaign, customer and time) is skipped, so
-- running it twice records once.  Returns per campaign of the list the
-- contacted and held-out rows added.
CREATE FUNCTION seg_reco.record_contacts(targets seg_reco.campaign_target[],
                                         contacted_at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (campaign text, contacted bigint, held_out bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_bad record;
    v_ids bigint[];
BEGIN
    IF targets IS NULL OR record_contacts.contacted_at IS NULL THEN
        RAISE EXCEPTION 'targets and contacted_at must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass array_agg(t) over the rows of seg_reco.campaign_targets(...) t.';
    END IF;
    IF record_contacts.contacted_at IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'contacted_at must be finite' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT t.* INTO v_bad FROM unnest(targets) t
     WHERE t.campaign IS NULL OR btrim(t.campaign) = '' OR t.channel IS NULL OR btrim(t.channel) = ''
        OR t.customer_id IS NULL OR t.control IS NULL
     LIMIT 1;
    IF FOUND OR array_position(targets, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'every target needs a campaign, a channel, a customer_id and a control flag'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = CASE WHEN v_bad IS NULL THEN 'The list holds a NULL row.'
                                ELSE format('The row of customer %s lacks one.', coalesce(v_bad.customer_id::text, 'NULL')) END;
    END IF;
    SELECT t.campaign, t.customer_id INTO v_bad FROM unnest(targets) t
     GROUP BY t.campaign, t.customer_id HAVING count(DISTINCT t.control) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'customer % is both contacted and held out in campaign "%"', v_bad.customer_id, v_bad.campaign
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- (the known ids gathered first: on Citus customers is distributed, and
    -- Citus runs no lookup of it correlated to the rows of unnest)
    v_ids := ARRAY(SELECT t.customer_id FROM unnest(targets) t);
    SELECT t.customer_id INTO v_bad FROM unnest(targets) t
     WHERE t.customer_id NOT IN (SELECT c.customer_id FROM seg_reco.customers c WHERE c.customer_id = ANY (v_ids))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', v_bad.customer_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'Contacts are recorded only for customers of seg_reco.customers.';
    END IF;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO seg_reco.contact_history AS h (campaign, customer_id, contacted_at, channel, control)
        SELECT DISTINCT ON (t.campaign, t.customer_id) t.campaign, t.customer_id,
               record_contacts.contacted_at, t.channel, t.control
          FROM unnest(targets) t
         ORDER BY t.campaign, t.customer_id
        ON CONFLICT DO NOTHING
        RETURNING h.campaign, h.control
    )
    SELECT c.campaign, count(i.campaign) FILTER (WHERE NOT i.control), count(i.campaign) FILTER (WHERE i.control)
      FROM (SELECT DISTINCT t.campaign FROM unnest(targets) t) c
      LEFT JOIN ins i ON i.campaign = c.campaign
     GROUP BY c.campaign ORDER BY c.campaign;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.record_contacts(seg_reco.campaign_target[], timestamptz) IS 'records a campaign target list in seg_reco.contact_history (contacted customers and control-group members) at contacted_at; rows already recorded are skipped';
REVOKE EXECUTE ON FUNCTION seg_reco.record_contacts(seg_reco.campaign_target[], timestamptz) FROM PUBLIC;


DROP PROCEDURE seg_reco.refresh();
-- refresh(mode): the pipeline (_refresh_steps) in one transaction; called by
-- CALL outside a transaction block (as pg_cron does), it also empties the
-- idle recommendations slot with TRUNCATE in a short transaction before
-- (the lists of two runs ago) and after (the lists just retired), where
-- readers wait at most recommendations_lock_timeout_ms.  mode: 'auto',
-- 'incremental' or 'full' (NULL, the default: the setting refresh_mode,
-- itself 'auto' by default).  It has no SET clauses (a procedure with them
-- cannot COMMIT), so it names every object with its schema; the steps pin
-- search_path and jit.
CREATE PROCEDURE seg_reco.refresh(mode text DEFAULT NULL)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run bigint;
    v_before jsonb;
BEGIN
    -- (after the run, the one-row tables that every view of the outputs
    -- joins, refresh_state and recommendations_active, are analysed: never
    -- analysed, the planner guessed 637 rows for each, so it took a view of
    -- 100,000 customers for 64 million rows and compiled each query with
    -- JIT, on Citus each shard's query on the workers, where refresh()'s
    -- jit = off does not reach.  On Citus only in a transaction of its own:
    -- ANALYZE then reaches every placement.)
    IF NOT seg_reco._can_commit() THEN
        CALL seg_reco._refresh_steps(NULL, v_run, mode);
        IF NOT seg_reco._citus_distributed('seg_reco.refresh_state') THEN
            ANALYZE seg_reco.refresh_state, seg_reco.recommendations_active;
        END IF;
        RETURN;
    END IF;
    v_before := seg_reco._recommendations_empty_idle(NULL);
    COMMIT;
    CALL seg_reco._refresh_steps(v_before, v_run, mode);
    COMMIT;
    PERFORM seg_reco._recommendations_empty_idle(v_run);
    COMMIT;
    ANALYZE seg_reco.refresh_state, seg_reco.recommendations_active;
END;
$fn$;
COMMENT ON PROCEDURE seg_reco.refresh(text) IS 'runs the pipeline in one transaction: full (every line read once, every model trained) or incremental (the changed customers'' state recomputed, everything that moves with the date rescored with the stored models); mode auto, incremental or full (default: the setting refresh_mode); refreshes the materialized views concurrently, swaps in the new recommendations and logs each step and the kind of run in seg_reco.refresh_log (the step in progress: seg_reco.progress)';
REVOKE EXECUTE ON PROCEDURE seg_reco.refresh(text) FROM PUBLIC;

-- default_as_of() reads the latest line off a timestamp or date column of
-- the user's table behind seg_reco.transactions (through its index), not
-- through the view's cast to timestamptz (every line, at every recommend_for)
-- (issue 11 item 9)
-- default_as_of() in C (src/as_of.c), the same answer and errors: it runs at
-- every recommend_for without as_of (issue 12, recommend_for latency)
CREATE OR REPLACE FUNCTION seg_reco.default_as_of() RETURNS date
AS 'MODULE_PATHNAME', 'seg_reco_default_as_of'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;

-- The date a serving call without as_of reads up to: default_as_of(), or
-- on Citus (after distribute() and a refresh()) the as-of date of the last
-- refresh(), read from the reference table refresh_state: the latest line
-- of distributed tables is a query over every shard (7-14 ms a call on the
-- test cluster, more than the rest of recommend_for).  recommend_for and
-- the other serving functions in C read the same (src/as_of.c).
CREATE FUNCTION seg_reco._serving_as_of() RETURNS date
AS 'MODULE_PATHNAME', 'seg_reco_serving_as_of'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._serving_as_of() IS 'internal: the date serving calls without as_of read up to (default_as_of(); on Citus the as-of date of the last refresh())';

-- recommend_for drops the inactive products among its best scores at every
-- call: this index answers for the few inactive ones, in one small page
-- (issue 12, recommend_for latency)
CREATE INDEX products_inactive_idx ON seg_reco.products (product_id) WHERE NOT active;

-- Issue 12, demo data at any scale: generate_demo_data's transactions and
-- digital_events default to NULL, the reference density for the customers
-- asked for (811,465 lines and 50,000 events per 10,000 customers); up to
-- 500,000,000 lines and 50,000,000 events; the helpers' rows stream into
-- the tables (select-list calls) and the two big tables' primary keys are
-- built after the load
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
    v_maxb_j  jsonb := seg_reco.setting('rules_max_baskets');
    v_maxb    integer;
    v_baskets float8;
    v_rows    bigint;
    v_summary jsonb;
    v_lines   text;
    v_level   integer;
BEGIN
    IF jsonb_typeof(v_maxb_j) IS DISTINCT FROM 'number' OR (v_maxb_j::numeric) <> trunc(v_maxb_j::numeric)
       OR (v_maxb_j::numeric) NOT BETWEEN 0 AND 2147483647 THEN
        RAISE EXCEPTION 'setting rules_max_baskets must be a whole number from 0 to 2147483647, got %', v_maxb_j
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is the most receipts build_rules mines; 0 mines all.',
                  HINT = 'Delete the override (DELETE FROM seg_reco.settings WHERE key = ''rules_max_baskets'') for the default 500000.';
    END IF;
    v_maxb := nullif((v_maxb_j::numeric)::integer, 0);
    -- On Citus the reader would receive every line on the coordinator and
    -- drop those outside its sample there: the receipts are counted per
    -- sample level in the shards first (a member's receipt is whole in its
    -- customer's shard, a non-member's in its receipt's), the level the
    -- reader would choose taken from the counts (the lowest that keeps at
    -- most max_baskets receipts), and only the lines of the sample read;
    -- the reader then keeps them all, the same sample as on one node (a
    -- receipt id shared by two customers counts twice here: a smaller
    -- sample).
    IF v_maxb IS NOT NULL AND seg_reco._citus_distributed('seg_reco.transactions') THEN
        EXECUTE format($q$
            SELECT coalesce(max(k.lv) + 1, 0)
              FROM (SELECT h.lv, sum(h.n) OVER (ORDER BY h.lv DESC) AS kept
                      FROM (SELECT b.lv, count(*) AS n
                              FROM (SELECT seg_reco._basket_sample_level(t.receipt_id) AS lv
                                      FROM seg_reco.transactions t WHERE t.amount > 0
                                     GROUP BY t.customer_id, t.receipt_id
                                    UNION ALL
                                    SELECT seg_reco._basket_sample_level(n.receipt_id)
                                      FROM seg_reco.nonmember_transactions n WHERE n.amount > 0
                                     GROUP BY n.receipt_id) b
                             GROUP BY b.lv) h) k
             WHERE k.kept > %s$q$, v_maxb)
           INTO v_level;
        v_level := least(v_level, 32);
    END IF;
    -- the receipts' lines; on Citus the non-members' lines are in
    -- nonmember_transactions (seg_reco.distribute(); empty on one node):
    -- their receipts count as well
    v_lines := format('SELECT t.receipt_id, t.product_id FROM seg_reco.transactions t WHERE t.amount > 0%1$s'
                      ' UNION ALL SELECT n.receipt_id, n.product_id FROM seg_reco.nonmember_transactions n'
                      ' WHERE n.amount > 0%2$s',
                      CASE WHEN v_level > 0 THEN format(' AND seg_reco._basket_sample_level(t.receipt_id) >= %s', v_level) ELSE '' END,
                      CASE WHEN v_level > 0 THEN format(' AND seg_reco._basket_sample_level(n.receipt_id) >= %s', v_level) ELSE '' END);
    LOCK TABLE seg_reco.product_rules_info IN EXCLUSIVE MODE;
    DELETE FROM seg_reco.product_rules;
    LOOP
        BEGIN
            INSERT INTO seg_reco.product_rules
                (lhs, rhs, support, confidence, lift, leverage, conviction, coverage, count)
            SELECT r.lhs, r.rhs, r.support, r.confidence, r.lift, r.leverage, r.conviction, r.coverage, r.count
              FROM seg_reco.association_rules(
                       v_lines,
                       v_supp, v_conf, max_length => greatest(v_len, 2), min_length => 2,
                       min_count => v_count, max_itemsets => v_max, max_baskets => v_maxb) r;
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
    -- the receipts mined: count / support of any rule (when there is one)
    SELECT round(max(r.count / r.support)) INTO v_baskets FROM seg_reco.product_rules r;
    v_summary := jsonb_build_object('rules', v_rows, 'min_support', v_supp, 'min_count', v_count,
                                    'min_confidence', v_conf, 'max_length', v_len,
                                    'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3))
                 || CASE WHEN v_supp = v_asked THEN '{}'::jsonb
                         ELSE jsonb_build_object('asked_min_support', v_asked) END
                 || CASE WHEN v_maxb IS NULL THEN '{}'::jsonb
                         ELSE jsonb_build_object('max_baskets', v_maxb, 'baskets', v_baskets::bigint) END
                 || CASE WHEN v_level IS NULL THEN '{}'::jsonb
                         ELSE jsonb_build_object('sample_level_in_shards', v_level) END;
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

-- Issue 14 (campaign targeting with A/B tests): a recorded campaign with a
-- control group becomes an experiment that ab_results and ab_roi read.
-- A campaign run with campaign_targets' control_share and recorded with
-- record_contacts is an experiment already: its control group was drawn at
-- random (a hash of campaign and customer) before anyone was contacted.
-- This turns it into one that ab_results and ab_roi read: arms control
-- (the held-out rows of contact_history) and treatment (the contacted),
-- planned weights {control_share, 1 - control_share} for the sample-ratio
-- check, each customer's arm stored from the history (assigned_at: the
-- first contact), status 'stopped' (nobody else is ever assigned), window
-- from the first contact to ends_at.  control_share is the one the target
-- list was made with (the history keeps who was held out, not the share).
CREATE FUNCTION seg_reco.ab_experiment_from_campaign(campaign text, control_share float8,
        experiment text DEFAULT NULL, promoted_products bigint[] DEFAULT NULL,
        ends_at timestamptz DEFAULT NULL, description text DEFAULT NULL)
RETURNS seg_reco.ab_experiments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_variable
DECLARE
    v_name text := coalesce(experiment, campaign);
    v_first timestamptz;
    v_control bigint;
    v_treated bigint;
    v_row seg_reco.ab_experiments;
BEGIN
    IF campaign IS NULL OR control_share IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN campaign IS NULL THEN 'campaign' ELSE 'control_share' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'control_share is the share the target list held out (campaign_targets'' control_share).';
    END IF;
    IF NOT (control_share > 0 AND control_share < 1) THEN
        RAISE EXCEPTION 'control_share must be above 0 and below 1, got %', control_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the control_share the campaign''s target list was made with.';
    END IF;
    SELECT min(h.contacted_at), count(DISTINCT h.customer_id) FILTER (WHERE h.control),
           count(DISTINCT h.customer_id) FILTER (WHERE NOT h.control)
      INTO v_first, v_control, v_treated
      FROM seg_reco.contact_history h
     WHERE h.campaign = ab_experiment_from_campaign.campaign;
    IF v_first IS NULL THEN
        RAISE EXCEPTION 'campaign "%" has no contacts in seg_reco.contact_history', campaign
            USING ERRCODE = 'no_data_found',
                  HINT = 'Record the target list with seg_reco.record_contacts() first.';
    END IF;
    IF v_control = 0 OR v_treated = 0 THEN
        RAISE EXCEPTION 'campaign "%" has no % group', campaign,
              CASE WHEN v_control = 0 THEN 'control' ELSE 'contacted' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('contact_history holds %s held-out and %s contacted customers of the campaign.',
                                  v_control, v_treated),
                  HINT = 'An uplift needs both: make the target list with a control_share above 0.';
    END IF;
    IF ends_at IS NOT NULL AND ends_at <= v_first THEN
        RAISE EXCEPTION 'ends_at (%) must be after the campaign''s first contact (%)', ends_at, v_first
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF promoted_products IS NOT NULL AND array_position(promoted_products, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'promoted_products must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT 1 FROM seg_reco.ab_experiments e WHERE e.experiment = v_name) THEN
        RAISE EXCEPTION 'experiment "%" already exists', v_name
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Give another name with experiment => ''...''.';
    END IF;
    INSERT INTO seg_reco.ab_experiments AS e
        (experiment, arms, weights, control_arm, holdout, stratify_by, salt, promoted_products,
         starts_at, ends_at, status, description)
    VALUES (v_name, '{control,treatment}', ARRAY[control_share, 1 - control_share], 'control', 0, NULL,
            'campaign:' || campaign, promoted_products, v_first, ends_at, 'stopped',
            coalesce(description, format('campaign %s: control group held out by campaign_targets (control_share %s), from contact_history',
                                         campaign, control_share)))
    RETURNING e.* INTO v_row;
    INSERT INTO seg_reco.ab_assignments (experiment, customer_id, arm, stratum, assigned_at)
    SELECT v_name, h.customer_id, CASE WHEN bool_or(h.control) THEN 'control' ELSE 'treatment' END,
           NULL, min(h.contacted_at)
      FROM seg_reco.contact_history h
     WHERE h.campaign = ab_experiment_from_campaign.campaign
     GROUP BY h.customer_id;
    RETURN v_row;
END;
$fn$;
REVOKE EXECUTE ON FUNCTION seg_reco.ab_experiment_from_campaign(text, float8, text, bigint[], timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.ab_experiment_from_campaign(text, float8, text, bigint[], timestamptz, text) IS 'the experiment of a recorded campaign whose target list held out a control group: arms control and treatment from contact_history, planned weights from control_share, window from the first contact; read it with ab_results and ab_roi';

-- Content in the catalogue's language (issue 13, item 3): build_content
-- gains text_config (the text search configuration; default the setting
-- content_text_config), bigram_weight and attribute_weights (the settings
-- content_bigram_weight and content_attribute_weights); content_terms
-- gains kind; content_features lists a product's features.
-- (the column added without a default, then filled: a default given to
-- ADD COLUMN would stay behind as a "missing value" a fresh install lacks)
ALTER TABLE seg_reco.content_terms ADD COLUMN kind text;
UPDATE seg_reco.content_terms SET kind = 'word';
ALTER TABLE seg_reco.content_terms
    ALTER COLUMN kind SET DEFAULT 'word',
    ALTER COLUMN kind SET NOT NULL,
    ADD CONSTRAINT content_terms_kind_check CHECK (kind IN ('word', 'bigram', 'attribute'));
COMMENT ON TABLE seg_reco.content_terms IS 'vocabulary of the content vectors: one row per feature (a lexeme, a bigram of two lexemes, or a product attribute such as category:meieri), with its document frequency and smoothed idf ln((1+n)/(1+df))+1 (written by build_content)';
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('content_text_config', '"norwegian"', 'text search configuration of build_content (any regconfig: "english" for an English catalogue)'),
    ('content_bigram_weight', '3', 'weight of a bigram (two adjacent lexemes) against a single lexeme in build_content; 0 = no bigrams (3: chosen on the validation windows of the demo data and UCI Online Retail)'),
    ('content_attribute_weights', '{"category": 0.5, "subcategory": 0.5, "brand": 0.5, "own_brand": 0.25, "organic": 0.25, "vegetarian": 0.25}', 'weight of each product attribute as a feature of build_content (category, subcategory, brand: their value; own_brand, organic, vegetarian: when true); 0 = left out');
DROP FUNCTION seg_reco.build_content(float8, float8, float8, float8, float8, boolean);
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

-- Text ids in use_source (issue 13, item 3): a text customer_id,
-- product_id or receipt_id column of a source is read as
-- seg_reco.internal_id(text); seg_reco.source_ids maps the ids back.
CREATE FUNCTION seg_reco.internal_id(source_id text) RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_internal_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.internal_id(text) IS 'the bigint seg_reco uses for a text id of the user''s data (customer, product, receipt) read through use_source: 63 bits of hashtextextended(source_id, 0)';

-- The user's text ids behind the internal ids: kind customer, product or
-- receipt; one row per distinct text of each text id column of the current
-- sources (use_source rewrites the view; empty while every id is an
-- integer).  Join it to any result for the user's ids, for example
-- recommend_for(...) r JOIN seg_reco.source_ids i ON i.kind = 'product' AND
-- i.id = r.product_id.
CREATE VIEW seg_reco.source_ids AS
SELECT NULL::text AS kind, NULL::bigint AS id, NULL::text AS source_id WHERE false;
COMMENT ON VIEW seg_reco.source_ids IS 'the user''s text ids (customer, product, receipt) behind seg_reco''s internal ids (seg_reco.internal_id), for every text id column of the sources set by use_source';

-- Issue 13, item 1 (a repeat-aware next-basket model): TIFU-KNN as the
-- hybrid's source "nextbasket" (the table of neighbours, its build, run by
-- als_train on the default source, nextbasket_scores, tune_nextbasket, the
-- settings nextbasket_*, evaluate's recommender nextbasket); why_recommended
-- gains the column reason and explains the next-basket parts; buy-again
-- scores receipts decayed with a 365-day half-life, raised by up to 10% when
-- the usual cycle has come round.
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('nextbasket_group_size', '3', 'TIFU-KNN next-basket model (built by als_train): baskets per group, counted from the latest'),
    ('nextbasket_within_decay', '1.0', 'TIFU-KNN: weight of a basket per later basket of its group, in (0, 1]'),
    ('nextbasket_group_decay', '0.6', 'TIFU-KNN: weight of a group of baskets per later group, in (0, 1]'),
    ('nextbasket_neighbours', '50', 'TIFU-KNN: nearest customers whose mean vector is blended in'),
    ('nextbasket_alpha', '0.5', 'TIFU-KNN: weight of the customer''s own vector (1 - alpha: the neighbours'')');
UPDATE seg_reco.setting_defaults SET value = '{"rebuy": {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5}, "new": {"als": 1, "content": 0.05, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "history_prior": 0}}',
    description = 'default weights of the hybrid blend (recommend_for, recommend_all, the recommendations view): "rebuy" with re-buys, "new" for products new to the customer; shipped values chosen on the validation windows of the demo data and UCI Online Retail, seg_reco.tune_weights() chooses them on yours'
 WHERE key = 'hybrid_weights';

CREATE TABLE seg_reco.nextbasket_neighbours (
    model       text NOT NULL REFERENCES seg_reco.models (name) ON DELETE CASCADE ON UPDATE CASCADE,
    customer_id bigint NOT NULL,
    product_ids bigint[] NOT NULL,
    scores      float4[] NOT NULL,
    upcf_product_ids bigint[],
    upcf_scores float4[],
    PRIMARY KEY (model, customer_id)
)
-- a row (at most 100 products per pair of arrays) fits a page: stored as
-- it is, not compressed (pglz took an eighth of the build for a third of the size)
WITH (toast_tuple_target = 8160);
COMMENT ON TABLE seg_reco.nextbasket_neighbours IS 'per als model and customer, the best products of the mean TIFU-KNN vector of the customer''s nearest customers (product_ids ascending, scores alike), and the best UP-CF@r scores of the products new to the customer (upcf_product_ids ascending, upcf_scores alike, divided by the customer''s best), written by seg_reco.nextbasket_build';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.nextbasket_neighbours', '');

CREATE FUNCTION seg_reco._nextbasket_build(model text, as_of timestamptz, group_size integer,
                                           within_decay float8, group_decay float8,
                                           neighbours integer, alpha float8)
RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_nextbasket_build'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._nextbasket_build(text, timestamptz, integer, float8, float8, integer, float8) IS 'internal: computes every customer''s TIFU-KNN vector from the purchases before as_of, finds each one''s nearest customers and stores the neighbours'' mean vector; returns the customers stored';
REVOKE EXECUTE ON FUNCTION seg_reco._nextbasket_build(text, timestamptz, integer, float8, float8, integer, float8) FROM PUBLIC;

-- nextbasket_build(model): (re)builds the next-basket neighbours of an als
-- model on the default source from the settings nextbasket_group_size,
-- nextbasket_within_decay, nextbasket_group_decay, nextbasket_neighbours
-- and nextbasket_alpha (or those of params, a JSON object with keys
-- group_size, within_decay, group_decay, neighbours, alpha), with the
-- model's as_of.  Returns the parameters, the customers and the seconds.
CREATE FUNCTION seg_reco.nextbasket_build(model text DEFAULT 'default', params jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_kind   text;
    v_custom boolean;
    v_as_of  timestamptz;
    v_key    text;
    v_p      jsonb;
    v_n      bigint;
    v_t0     timestamptz := clock_timestamp();
BEGIN
    IF model IS NULL OR params IS NULL THEN
        RAISE EXCEPTION 'model and params must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"neighbours": 100, "alpha": 0.7}''.';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(params) LOOP
        IF v_key NOT IN ('group_size', 'within_decay', 'group_decay', 'neighbours', 'alpha', 'candidates',
                         'upcf_baskets', 'upcf_alpha', 'upcf_locality', 'upcf_neighbours') THEN
            RAISE EXCEPTION 'unknown nextbasket parameter "%"', v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use group_size, within_decay, group_decay, neighbours, alpha, candidates, upcf_baskets, upcf_alpha, upcf_locality, upcf_neighbours.';
        END IF;
        IF jsonb_typeof(params -> v_key) <> 'number' THEN
            RAISE EXCEPTION 'nextbasket parameter "%" must be a number', v_key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    SELECT m.kind, coalesce((m.params ->> 'custom_source')::boolean, false),
           (m.params -> 'options' ->> 'as_of')::timestamptz
      INTO v_kind, v_custom, v_as_of
      FROM seg_reco.models m WHERE m.name = nextbasket_build.model;
    IF v_kind IS NULL THEN
        RAISE EXCEPTION 'als model "%" does not exist', model
            USING ERRCODE = 'undefined_object',
                  HINT = format('Train it with: SELECT seg_reco.als_train(%L);', model);
    END IF;
    IF v_kind <> 'als' THEN
        RAISE EXCEPTION 'model "%" is a % model, not als', model, v_kind
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF v_custom THEN
        RAISE EXCEPTION 'als model "%" was trained on a custom source', model
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The next-basket model reads the receipts in seg_reco.transactions, which a custom source need not match.',
                  HINT = 'Train the model on the default source.';
    END IF;
    v_p := jsonb_build_object(
        'group_size', coalesce(params -> 'group_size', seg_reco.setting('nextbasket_group_size')),
        'within_decay', coalesce(params -> 'within_decay', seg_reco.setting('nextbasket_within_decay')),
        'group_decay', coalesce(params -> 'group_decay', seg_reco.setting('nextbasket_group_decay')),
        'neighbours', coalesce(params -> 'neighbours', seg_reco.setting('nextbasket_neighbours')),
        'alpha', coalesce(params -> 'alpha', seg_reco.setting('nextbasket_alpha')),
        'candidates', coalesce(params -> 'candidates', seg_reco.setting('nextbasket_candidates')),
        'upcf_baskets', coalesce(params -> 'upcf_baskets', seg_reco.setting('nextbasket_upcf_baskets')),
        'upcf_alpha', coalesce(params -> 'upcf_alpha', seg_reco.setting('nextbasket_upcf_alpha')),
        'upcf_locality', coalesce(params -> 'upcf_locality', seg_reco.setting('nextbasket_upcf_locality')),
        'upcf_neighbours', coalesce(params -> 'upcf_neighbours', seg_reco.setting('nextbasket_upcf_neighbours')));
    FOR v_key IN SELECT k FROM unnest(ARRAY['candidates', 'upcf_baskets', 'upcf_alpha', 'upcf_locality',
                                            'upcf_neighbours']) k LOOP
        IF jsonb_typeof(v_p -> v_key) IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'setting nextbasket_% must be a number, got %', v_key, v_p -> v_key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('UPDATE seg_reco.settings SET value = %L WHERE key = %L;',
                                    (SELECT d.value #>> '{}' FROM seg_reco.setting_defaults d
                                      WHERE d.key = 'nextbasket_' || v_key), 'nextbasket_' || v_key);
        END IF;
    END LOOP;
    v_n := seg_reco._nextbasket_build(model, v_as_of, (v_p ->> 'group_size')::integer,
                                      (v_p ->> 'within_decay')::float8, (v_p ->> 'group_decay')::float8,
                                      (v_p ->> 'neighbours')::integer, (v_p ->> 'alpha')::float8,
                                      (v_p ->> 'candidates')::integer, (v_p ->> 'upcf_baskets')::integer,
                                      (v_p ->> 'upcf_alpha')::float8, (v_p ->> 'upcf_locality')::float8,
                                      (v_p ->> 'upcf_neighbours')::integer);
    v_p := v_p || jsonb_build_object('customers', v_n,
                                     'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3));
    UPDATE seg_reco.models m SET model = m.model || jsonb_build_object('nextbasket', v_p)
     WHERE m.name = nextbasket_build.model;
    RETURN v_p;
END
$fn$;
COMMENT ON FUNCTION seg_reco.nextbasket_build(text, jsonb) IS 'builds the TIFU-KNN next-basket neighbours of an als model (the settings nextbasket_*, or params) from its purchases as of the model''s as_of; als_train runs it on the default source';
REVOKE EXECUTE ON FUNCTION seg_reco.nextbasket_build(text, jsonb) FROM PUBLIC;
-- nextbasket_scores(customer_id, k, model, as_of): the raw scores of one
-- customer, best first: own (the customer's vector from the purchases as of
-- as_of, default the model's as_of or the latest transaction's day),
-- neighbours (the stored mean vector of the nearest customers) and score =
-- alpha x own + (1 - alpha) x neighbours.  No rows for a customer with
-- neither (unknown, or no purchases).  A model without a build is an error.
CREATE FUNCTION seg_reco.nextbasket_scores(customer_id bigint,
                                           k integer DEFAULT 10,
                                           model text DEFAULT 'default',
                                           as_of date DEFAULT NULL)
RETURNS TABLE(product_id bigint, score float8, own float8, neighbours float8, rank integer)
AS 'MODULE_PATHNAME', 'seg_reco_nextbasket_scores'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.nextbasket_scores(bigint, integer, text, date) IS 'the TIFU-KNN next-basket scores of one customer: alpha x the customer''s own time-decayed basket vector + (1 - alpha) x the mean vector of the nearest customers';


DROP FUNCTION seg_reco.why_recommended(bigint, bigint, integer, text);
CREATE FUNCTION seg_reco.why_recommended(customer_id bigint, product_id bigint,
                                         k integer DEFAULT 5,
                                         model text DEFAULT 'default')
RETURNS TABLE(history_product_id bigint, contribution float8, rank integer, purchased boolean,
              reason text)
AS 'MODULE_PATHNAME', 'seg_reco_why_recommended'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.why_recommended(bigint, bigint, integer, text) IS 'why a product is recommended: its next-basket parts (the customer''s own repeat, the neighbours'') with a reason, then the products in the customer''s history that contribute most to its als score (those contributions sum to the folded-in score), then the association rules {x} => {product} (lift > 1) whose x is in the customer''s last three receipts (''often bought with x'', contribution NULL)';

CREATE OR REPLACE FUNCTION seg_reco.buy_again_scores(customer_id bigint,
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


CREATE OR REPLACE FUNCTION seg_reco.tune_weights(split_date date, config jsonb DEFAULT '{}')
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

-- Review: use_source reads a text id column through seg_reco._text_id_arg
-- (one place for the view, the index advice and seg_reco.source_ids)
-- The argument of seg_reco.internal_id for a source column of text ids: the
-- column's quoted name, cast to text unless it is text; NULL when its type
-- is not a string type (an integer id, read as it is).  use_source's view,
-- its index advice and seg_reco.source_ids all read a text id so.
CREATE FUNCTION seg_reco._text_id_arg(column_name text, column_type regtype) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT pg_catalog.quote_ident(column_name)
       || CASE WHEN column_type = 'pg_catalog.text'::pg_catalog.regtype THEN '' ELSE '::text' END
  FROM pg_catalog.pg_type t WHERE t.oid = column_type AND t.typcategory = 'S'
$fn$;
COMMENT ON FUNCTION seg_reco._text_id_arg(text, regtype) IS 'internal: the argument of internal_id() for a source column of text ids (NULL for a column of another type)';

COMMENT ON FUNCTION seg_reco.use_source(text, regclass, jsonb, boolean) IS 'replace a source relation (customers, products, transactions, digital_events) by a view over your own table, mapping column names; text customer, product and receipt ids are read as seg_reco.internal_id (mapped back by seg_reco.source_ids)';

-- Review: recommend_for's comment names the next-basket source; evaluate checks
-- its option als and builds the next-basket neighbours once, when read;
-- tune_nextbasket refuses config nextbasket (it would override every candidate)
COMMENT ON FUNCTION seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date) IS 'top-k products for a customer: a blend of als, content, popularity, buy-again and next-basket (TIFU-KNN) scores (weights per call), with diversity (MMR), a per-category cap, exclusions and boosts; folded in when new since training; demographic cold start without history; re-buys included by default';

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


-- Review: generate_demo_data reads the keys and indexes it drops and re-adds
-- with one catalog query each (the ADD and DROP texts together).
CREATE OR REPLACE FUNCTION seg_reco.generate_demo_data(
        customers integer DEFAULT 10000,
        products integer DEFAULT 5000,
        transactions bigint DEFAULT NULL,
        digital_events bigint DEFAULT NULL,
        seed bigint DEFAULT 42)
RETURNS TABLE(relation text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rel   text;
    v_kind  "char";
    v_n     bigint;
    v_tx    bigint := transactions;
    v_ev    bigint := digital_events;
    v_fk    text[] := ARRAY[]::text[];
    v_key   text[];
    v_idx   text[];
    v_drop  text[];
    v_args  text;
BEGIN
    IF customers IS NULL OR products IS NULL OR seed IS NULL THEN
        RAISE EXCEPTION 'generate_demo_data arguments customers, products and seed must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Omit an argument to use its default.';
    END IF;
    IF customers < 1 OR customers > 5000000 THEN
        RAISE EXCEPTION 'customers must be between 1 and 5000000, got %', customers
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF products < 50 OR products > 1000000 THEN
        RAISE EXCEPTION 'products must be between 50 and 1000000, got %', products
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At least 50 products are needed so that every category and the seasonal items exist.';
    END IF;
    -- NULL: the reference density (the defaults' 811,465 lines and 50,000
    -- events per 10,000 customers)
    v_tx := COALESCE(v_tx, (customers::bigint * 811465 + 5000) / 10000);
    v_ev := COALESCE(v_ev, customers::bigint * 5);
    IF v_tx < 0 OR v_tx > 500000000 THEN
        RAISE EXCEPTION 'transactions must be between 0 and 500000000, got %', v_tx
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_ev < 0 OR v_ev > 50000000 THEN
        RAISE EXCEPTION 'digital_events must be between 0 and 50000000, got %', v_ev
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM seg_reco._progress_begin('generate_demo_data', 9);
    PERFORM seg_reco._progress_step('generate_demo_data', 'prepare');
    -- the demo writes only into the extension's own tables, never into
    -- views a user may have put in their place
    FOREACH v_rel IN ARRAY ARRAY['customers', 'products', 'transactions',
                                 'digital_events', 'demo_truth'] LOOP
        SELECT c.relkind INTO v_kind
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'seg_reco' AND c.relname = v_rel;
        IF v_kind IS NULL THEN
            RAISE EXCEPTION 'relation seg_reco.% does not exist', v_rel
                USING ERRCODE = 'undefined_table';
        ELSIF v_kind <> 'r' THEN
            RAISE EXCEPTION 'seg_reco.% is not an ordinary table', v_rel
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'generate_demo_data() loads demo rows only into the tables created by the extension.',
                      HINT = 'Use a separate database for the demo, or restore the original tables.';
        END IF;
    END LOOP;

    TRUNCATE seg_reco.transactions, seg_reco.digital_events, seg_reco.demo_truth,
             seg_reco.customers, seg_reco.products;

    -- foreign keys are dropped for the load and re-added (and so validated)
    -- afterwards, with the names PostgreSQL gives them by default
    FOREACH v_rel IN ARRAY ARRAY['transactions_customer_id_fkey',
                                 'transactions_product_id_fkey',
                                 'digital_events_customer_id_fkey',
                                 'digital_events_product_id_fkey'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                    WHERE conname = v_rel
                      AND conrelid IN ('seg_reco.transactions'::pg_catalog.regclass,
                                       'seg_reco.digital_events'::pg_catalog.regclass)) THEN
            EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I DROP CONSTRAINT %I',
                                      CASE WHEN v_rel LIKE 'transactions%' THEN 'transactions'
                                           ELSE 'digital_events' END, v_rel);
            v_fk := v_fk || v_rel;
        END IF;
    END LOOP;

    -- so are the primary keys (and unique constraints) of the two big
    -- tables that no foreign key needs: built once from the loaded rows
    -- (a sort of rows already in order) instead of one insertion per row
    SELECT pg_catalog.array_agg(pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I ',
                                                  k.conrelid::pg_catalog.regclass, k.conname)
                                || pg_catalog.pg_get_constraintdef(k.oid) ORDER BY k.oid),
           pg_catalog.array_agg(pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I',
                                                  k.conrelid::pg_catalog.regclass, k.conname))
      INTO v_key, v_drop
      FROM pg_catalog.pg_constraint k
     WHERE k.conrelid IN ('seg_reco.transactions'::pg_catalog.regclass,
                          'seg_reco.digital_events'::pg_catalog.regclass)
       AND k.contype IN ('p', 'u')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                        WHERE f.contype = 'f' AND f.conindid = k.conindid);
    FOREACH v_rel IN ARRAY COALESCE(v_drop, ARRAY[]::text[]) LOOP
        EXECUTE v_rel;
    END LOOP;

    -- secondary indexes (not those behind constraints) are dropped for the
    -- load and rebuilt from their saved definitions: much faster than
    -- maintaining them row by row
    SELECT pg_catalog.array_agg(pg_catalog.pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid),
           pg_catalog.array_agg(pg_catalog.format('DROP INDEX %s', i.indexrelid::pg_catalog.regclass))
      INTO v_idx, v_drop
      FROM pg_catalog.pg_index i
     WHERE i.indrelid IN ('seg_reco.transactions'::pg_catalog.regclass,
                          'seg_reco.digital_events'::pg_catalog.regclass)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                        WHERE k.conindid = i.indexrelid);
    FOREACH v_rel IN ARRAY COALESCE(v_drop, ARRAY[]::text[]) LOOP
        EXECUTE v_rel;
    END LOOP;

    PERFORM seg_reco._progress_step('generate_demo_data', 'customers');
    INSERT INTO seg_reco.customers
    SELECT * FROM seg_reco._demo_customers(customers, products, v_tx, v_ev, seed);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    relation := 'customers'; rows := v_n; RETURN NEXT;

    PERFORM seg_reco._progress_step('generate_demo_data', 'products');
    INSERT INTO seg_reco.products
    SELECT * FROM seg_reco._demo_products(customers, products, v_tx, v_ev, seed);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    relation := 'products'; rows := v_n; RETURN NEXT;

    -- the generator counts the lines as it makes them; called in the select
    -- list, _demo_transactions streams its rows into the table (in FROM they
    -- would be collected first); it keeps the sample of lines the digital
    -- events are made from for _demo_digital_events, right after it in this
    -- transaction
    PERFORM seg_reco._progress_step('generate_demo_data', 'transactions', v_tx, 'lines',
                                    'lines generated and inserted');
    INSERT INTO seg_reco.transactions
    SELECT (l).* FROM (SELECT seg_reco._demo_transactions(customers, products, v_tx, v_ev, seed) AS l
                        OFFSET 0) s;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    relation := 'transactions'; rows := v_n; RETURN NEXT;

    PERFORM seg_reco._progress_step('generate_demo_data', 'digital_events');
    INSERT INTO seg_reco.digital_events
    SELECT (e).* FROM (SELECT seg_reco._demo_digital_events(customers, products, v_tx, v_ev, seed) AS e
                        OFFSET 0) s;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    relation := 'digital_events'; rows := v_n; RETURN NEXT;

    PERFORM seg_reco._progress_step('generate_demo_data', 'demo_truth');
    INSERT INTO seg_reco.demo_truth
    SELECT * FROM seg_reco._demo_truth(customers, products, v_tx, v_ev, seed);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    relation := 'demo_truth'; rows := v_n; RETURN NEXT;

    PERFORM seg_reco._progress_step('generate_demo_data', 'indexes');
    FOREACH v_rel IN ARRAY COALESCE(v_key, ARRAY[]::text[]) LOOP
        EXECUTE v_rel;
    END LOOP;

    FOREACH v_rel IN ARRAY COALESCE(v_idx, ARRAY[]::text[]) LOOP
        EXECUTE v_rel;
    END LOOP;

    PERFORM seg_reco._progress_step('generate_demo_data', 'foreign_keys');
    FOREACH v_rel IN ARRAY v_fk LOOP
        v_args := CASE WHEN v_rel LIKE '%customer_id%'
                       THEN 'customer_id) REFERENCES seg_reco.customers (customer_id)'
                       ELSE 'product_id) REFERENCES seg_reco.products (product_id)' END;
        EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I ADD CONSTRAINT %I FOREIGN KEY (',
                                  CASE WHEN v_rel LIKE 'transactions%' THEN 'transactions'
                                       ELSE 'digital_events' END, v_rel) || v_args;
    END LOOP;

    PERFORM seg_reco._progress_step('generate_demo_data', 'analyze');
    ANALYZE seg_reco.customers, seg_reco.products, seg_reco.transactions,
            seg_reco.digital_events, seg_reco.demo_truth;
    PERFORM seg_reco._progress_end('generate_demo_data');
    RETURN;
END
$fn$;

-- Issue 12 items "One pass over the transactions per refresh" and
-- "Incremental nightly refresh": seg_reco.customer_state (one row per
-- customer, from one pass over the lines), change capture into
-- seg_reco.dirty_customers, refresh(mode) with refresh_mode and
-- full_retrain_days, refresh_log.kind; customer_features and
-- customer_segments derived from the state, as in sql/src/10_customer_state.sql
-- and sql/src/10_pipeline.sql.
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('refresh_mode', '"auto"', 'what CALL seg_reco.refresh() runs: "auto" (incremental, with a full run when one is needed or the last is full_retrain_days old), "incremental" (full only when needed) or "full" (always)'),
    ('full_retrain_days', '7', 'in refresh_mode "auto", a full run (every model retrained) when the last full run is at least this many days old (0: every run is full)');

-- Behaviour of each customer with at least one purchase up to as_of.
-- Amounts are summed exactly (numeric) and turned into float8 at the end:
-- the same lines in any order give the same numbers, whatever the plan
-- (parallel workers, one node or many), and so does the per-customer state
-- refresh() derives customer_features from.  The lines CTE is read twice
-- (receipts, shares) and inlined (NOT MATERIALIZED): materialised, every
-- line was written to a tuplestore first, and on Citus shipped to the
-- coordinator and back, 46 times as slow (issue 15).
CREATE OR REPLACE FUNCTION seg_reco.compute_customer_features(as_of date DEFAULT NULL)
RETURNS TABLE (
    customer_id         bigint,
    recency_days        integer,
    tenure_days         integer,
    frequency           bigint,
    monetary            numeric,
    basket_nok          float8,
    basket_lines        float8,
    days_between_visits float8,
    online_share        float8,
    weekday_morning_share float8,
    own_brand_share     float8,
    organic_share       float8,
    promo_share         float8,
    meat_fish_share     float8,
    fresh_share         float8,
    baby_share          float8,
    digital_events      bigint,
    add_to_cart_events  bigint
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := coalesce(as_of, seg_reco.default_as_of());
    v_end timestamptz := (v_as_of + 1)::timestamptz;
    v_receipt bigint;
BEGIN
    SELECT t.receipt_id INTO v_receipt FROM seg_reco.transactions t
     WHERE t.amount = 'NaN'::numeric AND t.ts < v_end LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'amount must be a finite number, got NaN'
            USING ERRCODE = 'data_exception',
                  DETAIL = format('Receipt %s has a line with amount NaN.', v_receipt),
                  HINT = 'Filter out or repair rows with NaN or infinite values.';
    END IF;
    RETURN QUERY
    WITH lines AS NOT MATERIALIZED (
        SELECT t.customer_id AS cid, t.receipt_id, t.ts, t.amount::numeric AS amount, t.discount,
               t.channel, p.category, p.own_brand, p.organic
          FROM seg_reco.transactions t
          JOIN seg_reco.products p ON p.product_id = t.product_id
         WHERE t.customer_id IS NOT NULL AND t.amount > 0 AND t.ts < v_end
    ), receipts AS (
        SELECT l.cid, l.receipt_id, min(l.ts) AS ts, sum(l.amount) AS nok, count(*) AS nlines,
               bool_or(l.channel = 'online') AS online
          FROM lines l GROUP BY l.cid, l.receipt_id
    ), per_receipt AS (
        SELECT r.cid, count(*) AS receipts, avg(r.nok)::float8 AS basket_nok, avg(r.nlines)::float8 AS basket_lines,
               extract(epoch FROM max(r.ts) - min(r.ts))::float8 / 86400.0
                   / greatest(count(*) - 1, 1) AS days_between,
               avg(r.online::int)::float8 AS online_share,
               avg((extract(isodow FROM r.ts) <= 5 AND extract(hour FROM r.ts) < 12)::int)::float8 AS morning,
               v_as_of - max(r.ts)::date AS recency,
               v_as_of - min(r.ts)::date AS tenure
          FROM receipts r GROUP BY r.cid
    ), shares AS (
        SELECT l.cid,
               coalesce(sum(l.amount) FILTER (WHERE l.own_brand), 0)::float8 / sum(l.amount)::float8 AS own_brand,
               coalesce(sum(l.amount) FILTER (WHERE l.organic), 0)::float8 / sum(l.amount)::float8 AS organic,
               coalesce(sum(l.amount) FILTER (WHERE l.discount > 0), 0)::float8 / sum(l.amount)::float8 AS promo,
               coalesce(sum(l.amount) FILTER (WHERE l.category IN ('kjøtt', 'fisk og sjømat')), 0)::float8 / sum(l.amount)::float8 AS meat_fish,
               coalesce(sum(l.amount) FILTER (WHERE l.category = 'frukt og grønt'), 0)::float8 / sum(l.amount)::float8 AS fresh,
               coalesce(sum(l.amount) FILTER (WHERE l.category = 'baby'), 0)::float8 / sum(l.amount)::float8 AS baby
          FROM lines l GROUP BY l.cid
    ), net AS (
        SELECT t.customer_id AS cid, sum(t.amount) AS monetary
          FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.ts < v_end
         GROUP BY t.customer_id
    ), digital AS (
        SELECT e.customer_id AS cid, count(*) AS events,
               count(*) FILTER (WHERE e.event_type = 'add_to_cart') AS carts
          FROM seg_reco.digital_events e
         WHERE e.ts < v_end
         GROUP BY e.customer_id
    )
    SELECT r.cid, r.recency, r.tenure, r.receipts, n.monetary, r.basket_nok, r.basket_lines,
           r.days_between, r.online_share, r.morning, s.own_brand, s.organic, s.promo,
           s.meat_fish, s.fresh, s.baby, coalesce(d.events, 0), coalesce(d.carts, 0)
      FROM per_receipt r
      JOIN shares s ON s.cid = r.cid
      JOIN net n ON n.cid = r.cid
      LEFT JOIN digital d ON d.cid = r.cid
     ORDER BY r.cid;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.compute_customer_features(date) IS 'per-customer behaviour as of a date: RFM, basket value and size, days between visits, channel, weekday-morning, own-brand, organic, promotion, meat/fish, fresh and baby shares, digital engagement';

-- _btyd_train (btyd_train's body): summaries of seg_reco.transactions up to
-- calibration_end (default: the date of the latest line), or with
-- from_state those of seg_reco.customer_state (refresh(): the same
-- summaries without reading the lines again), purchase model and spend model,
-- stored under name (replacing a bgnbd or mbgnbd model of that name; a
-- model of another kind only with replace => true).  penalizer applies
-- to the purchase model, spend_penalizer to the spend model (NULL: the
-- same as penalizer); a penalizer pulls the spend model's q towards 0.
CREATE FUNCTION seg_reco._btyd_train(name text, calibration_end date, unit text, penalizer float8,
                                     model text, spend_penalizer float8, replace boolean,
                                     from_state boolean)
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
    IF name IS NULL OR unit IS NULL OR penalizer IS NULL OR model IS NULL OR replace IS NULL OR from_state IS NULL THEN
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
    PERFORM seg_reco._model_claim(_btyd_train.name, ARRAY['bgnbd', 'mbgnbd'], replace, 'btyd_train');
    IF v_end IS NULL AND from_state THEN
        v_end := (SELECT m.member_as_of FROM seg_reco.refresh_state m);
        IF v_end IS NULL THEN
            RAISE EXCEPTION 'seg_reco.transactions holds no customer purchases to train on'
                USING ERRCODE = 'no_data_found';
        END IF;
    ELSIF v_end IS NULL THEN
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
    IF from_state THEN
        INSERT INTO pg_temp.btyd_train_summaries
        SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary_value
          FROM seg_reco._btyd_summaries_from_state(v_end, unit) s;
    ELSE
        INSERT INTO pg_temp.btyd_train_summaries
        SELECT s.cid, (s.v).frequency, (s.v).recency, (s.v).t, (s.v).monetary_value
          FROM (SELECT t.customer_id AS cid,
                       seg_reco.btyd_summary(t.ts::date, t.amount::float8, v_end, unit) AS v
                  FROM seg_reco.transactions t
                 WHERE t.customer_id IS NOT NULL AND t.ts < (v_end + 1)::timestamptz
                 GROUP BY t.customer_id) s
         WHERE s.v IS NOT NULL;
    END IF;

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

    PERFORM seg_reco._model_store(_btyd_train.name, _btyd_train.model, ARRAY['bgnbd', 'mbgnbd'],
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
    SELECT * INTO v_row FROM seg_reco.btyd_models b WHERE b.name = _btyd_train.name;
    DROP TABLE pg_temp.btyd_train_summaries;
    RETURN v_row;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._btyd_train(text, date, text, float8, text, float8, boolean, boolean) IS 'btyd_train''s body: summaries of seg_reco.transactions, or (from_state) of seg_reco.customer_state at its member as-of date, then the fits, stored under name';
REVOKE EXECUTE ON FUNCTION seg_reco._btyd_train(text, date, text, float8, text, float8, boolean, boolean) FROM PUBLIC;

-- btyd_train: summaries of seg_reco.transactions up to calibration_end
-- (default: the date of the latest line), purchase model and spend model,
-- stored under name (see _btyd_train).
COMMENT ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) IS 'fits a purchase model (bgnbd or mbgnbd, with penalizer) and the Gamma-Gamma spend model (with spend_penalizer, default the same) on summaries of seg_reco.transactions up to calibration_end, and stores them under name in seg_reco.models (shown by the view seg_reco.btyd_models); a model of another kind under that name is an error unless replace';
REVOKE EXECUTE ON FUNCTION seg_reco.btyd_train(text, date, text, float8, text, float8, boolean) FROM PUBLIC;

------------------------------------------------------------------------------
-- Per-customer state: one pass over the transactions, and change capture
-- (issue 12)
------------------------------------------------------------------------------
-- refresh() reads the transactions once: one pass grouped by receipt, then
-- by customer (joined with products), writes one row per customer with a
-- line into seg_reco.customer_state.  The features (customer_features), the
-- RFM values (customer_segments) and the BTYD summaries (customer_value) are
-- then derived from these rows, in O(customers).  No value in a row depends
-- on the as-of date as long as no line is dated after it (and none is: the
-- as-of date is the latest line's): what moves with the date (recency,
-- tenure, the BTYD age t, the digital events up to the as-of date) is
-- computed when the rows are read.  Sums are exact (numeric, and the
-- fixed-point BTYD state), so a row does not depend on the order the lines
-- are read in: recomputing a customer's row from the customer's own lines
-- (an incremental refresh) gives the same row as the full pass.
CREATE TABLE seg_reco.customer_state (
    customer_id         bigint PRIMARY KEY,
    lines               bigint NOT NULL,
    checksum            bigint NOT NULL,
    last_line_ts        timestamptz NOT NULL,
    net_amount          numeric NOT NULL,
    purchase_receipts   bigint NOT NULL,
    purchase_amount     numeric NOT NULL,
    first_purchase      timestamptz,
    last_purchase       timestamptz,
    btyd_frequency      bigint,
    btyd_recency_days   float8,
    btyd_first          date,
    btyd_monetary_value float8,
    receipts            bigint NOT NULL,
    first_receipt_ts    timestamptz,
    last_receipt_ts     timestamptz,
    receipt_lines       bigint NOT NULL,
    receipt_amount      numeric,
    online_receipts     bigint NOT NULL,
    morning_receipts    bigint NOT NULL,
    own_brand_amount    numeric NOT NULL,
    organic_amount      numeric NOT NULL,
    promo_amount        numeric NOT NULL,
    meat_fish_amount    numeric NOT NULL,
    fresh_amount        numeric NOT NULL,
    baby_amount         numeric NOT NULL,
    digital_events      bigint NOT NULL,
    add_to_cart_events  bigint NOT NULL,
    digital_last_ts     timestamptz,
    digital_next_ts     timestamptz,
    btyd_repeat_spend   numeric
);
COMMENT ON TABLE seg_reco.customer_state IS 'one row per customer with a line: the partial sums refresh() derives features, RFM values and BTYD summaries from (written by refresh(): all rows in a full run, the changed customers'' rows in an incremental one)';
COMMENT ON COLUMN seg_reco.customer_state.lines IS 'the customer''s lines (with a time stamp)';
COMMENT ON COLUMN seg_reco.customer_state.checksum IS 'order-independent checksum of the customer''s lines (XOR of seg_reco._line_checksum: a hash of line, receipt and product ids, time, amount, discounted, online): seg_reco.customer_state_check() and, on Citus, the incremental refresh compare it with the lines';

-- A line's share of customer_state.checksum: a hash of what the pipeline
-- reads of the line (the C pass computes the same with the same code), so
-- a line added, removed or changed in any of these changes the XOR of its
-- customer's lines.  NULL when an id or the time is NULL.
CREATE FUNCTION seg_reco._line_checksum(line_id bigint, receipt_id bigint, product_id bigint, ts timestamptz,
                                        amount numeric, promo boolean, online boolean)
RETURNS bigint
LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'seg_reco_line_checksum';
COMMENT ON FUNCTION seg_reco._line_checksum(bigint, bigint, bigint, timestamptz, numeric, boolean, boolean) IS 'internal: a line''s share of seg_reco.customer_state.checksum (a hash of line, receipt and product ids, time, amount, discounted, online; XORed over the customer''s lines)';
COMMENT ON COLUMN seg_reco.customer_state.net_amount IS 'net amount of every line (features: monetary)';
COMMENT ON COLUMN seg_reco.customer_state.purchase_receipts IS 'RFM: receipts with a line of amount > 0 (frequency); purchase_amount: net amount of the lines with a receipt (monetary); first/last_purchase: first and last line of amount > 0';
COMMENT ON COLUMN seg_reco.customer_state.btyd_frequency IS 'BTYD summary in days (btyd_summary): repeat purchase days, days from the first to the last (btyd_recency_days), the first purchase day and the mean repeat spend; NULL without a purchase day';
COMMENT ON COLUMN seg_reco.customer_state.receipts IS 'features: receipts with a line of amount > 0 of a known product (frequency); first/last_receipt_ts: earliest and latest of their times (a receipt''s time is its first line''s); receipt_lines, receipt_amount: their lines and amount; online_receipts, morning_receipts: those online and on weekday mornings; the *_amount columns: their amount in each product group';
COMMENT ON COLUMN seg_reco.customer_state.btyd_repeat_spend IS 'BTYD: the exact net amount of the days after the first purchase day (btyd_monetary_value x btyd_frequency, exactly), what an incremental run adds new days to; NULL without a purchase day, and in rows of the reference statement (those customers are recomputed from all their lines)';
COMMENT ON COLUMN seg_reco.customer_state.digital_events IS 'digital events up to the as-of date (add_to_cart_events: of type add_to_cart); digital_last_ts: the latest of them; digital_next_ts: the first event after the as-of date (the customer is recomputed when the as-of date passes it)';
COMMENT ON COLUMN seg_reco.customer_state.net_amount IS 'net amount of every line (features: monetary)';
COMMENT ON COLUMN seg_reco.customer_state.purchase_receipts IS 'RFM: receipts with a line of amount > 0 (frequency); purchase_amount: net amount of the lines with a receipt (monetary); first/last_purchase: first and last line of amount > 0';
COMMENT ON COLUMN seg_reco.customer_state.btyd_frequency IS 'BTYD summary in days (btyd_summary): repeat purchase days, days from the first to the last (btyd_recency_days), the first purchase day and the mean repeat spend; NULL without a purchase day';
COMMENT ON COLUMN seg_reco.customer_state.receipts IS 'features: receipts with a line of amount > 0 of a known product (frequency); first/last_receipt_ts: earliest and latest of their times (a receipt''s time is its first line''s); receipt_lines, receipt_amount: their lines and amount; online_receipts, morning_receipts: those online and on weekday mornings; the *_amount columns: their amount in each product group';
COMMENT ON COLUMN seg_reco.customer_state.btyd_repeat_spend IS 'BTYD: the exact net amount of the days after the first purchase day (btyd_monetary_value x btyd_frequency, exactly), what an incremental run adds new days to; NULL without a purchase day, and in rows of the reference statement (those customers are recomputed from all their lines)';
COMMENT ON COLUMN seg_reco.customer_state.digital_events IS 'digital events up to the as-of date (add_to_cart_events: of type add_to_cart); digital_last_ts: the latest of them; digital_next_ts: the first event after the as-of date (the customer is recomputed when the as-of date passes it)';

-- What customer_state was computed at, and the last full run.  One row
-- (written by refresh(); none before the first run).
CREATE TABLE seg_reco.refresh_state (
    one_row         boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    as_of           date,
    member_as_of    date,
    time_zone       text,
    state_at        timestamptz,
    last_full_run   bigint,
    last_full_at    timestamptz,
    models_complete boolean,
    model_settings  jsonb
);
COMMENT ON TABLE seg_reco.refresh_state IS 'as-of date (as_of: the latest line; member_as_of: the latest member line, the BTYD calibration end) and time zone of seg_reco.customer_state, and the last full run of refresh(): whether it trained every model and the settings it trained them with';

-- Change capture.  Statement triggers on the transactions and the digital
-- events (seg_reco's tables, or the user's tables behind use_source) add
-- the customer ids each statement touched (old and new rows); a row with a
-- NULL customer_id asks for a full recomputation (TRUNCATE, use_source),
-- reason says why.  Append-only, no index: concurrent writers never wait
-- for one another here; refresh() takes the rows it sees and deletes them.
CREATE TABLE seg_reco.dirty_customers (
    customer_id bigint,
    reason      text,
    since       timestamptz
);
COMMENT ON TABLE seg_reco.dirty_customers IS 'customers whose lines or digital events changed since refresh() last read them (added by the capture triggers, consumed by refresh()); customer_id NULL: every customer (reason says why)';
COMMENT ON COLUMN seg_reco.dirty_customers.since IS 'lines inserted: the earliest time among them (infinity: none with a time, or a change of digital events only), so refresh() can merge the new lines into the stored state; NULL: lines updated or deleted (the customer is recomputed from all lines)';

-- The product attributes the features read, as customer_state last saw
-- them (bits: 1 own brand, 2 organic, 4 meat or fish, 8 fruit and
-- vegetables, 16 baby): an incremental run recomputes the customers with
-- lines of a product whose bits changed (or that appeared or went).
CREATE TABLE seg_reco.customer_state_products (
    product_id  bigint PRIMARY KEY,
    flags       integer NOT NULL
);
COMMENT ON TABLE seg_reco.customer_state_products IS 'product attributes customer_state was computed with (bits: 1 own brand, 2 organic, 4 meat/fish, 8 fruit and vegetables, 16 baby)';

-- pg_dump keeps the state with the lines it was computed from (and the
-- marks not yet consumed): a restored database goes on incrementally, and
-- its customer_features and customer_segments are restored filled
SELECT pg_catalog.pg_extension_config_dump('seg_reco.customer_state', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.refresh_state', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.dirty_customers', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.customer_state_products', '');

-- The bits of a product (see customer_state_products).
CREATE FUNCTION seg_reco._product_flags(own_brand boolean, organic boolean, category text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN own_brand THEN 1 ELSE 0 END + CASE WHEN organic THEN 2 ELSE 0 END
       + CASE WHEN category IN ('kjøtt', 'fisk og sjømat') THEN 4 ELSE 0 END
       + CASE WHEN category = 'frukt og grønt' THEN 8 ELSE 0 END
       + CASE WHEN category = 'baby' THEN 16 ELSE 0 END;
COMMENT ON FUNCTION seg_reco._product_flags(boolean, boolean, text) IS 'internal: the product attributes customer features read, as bits (1 own brand, 2 organic, 4 meat/fish, 8 fruit and vegetables, 16 baby)';

-- issue 12 (scale), the one-pass customer state: _customer_state_lines (C,
-- src/customer_state.c) computes customer_state's line columns in one scan
-- in memory bounded by seg_reco.state_memory; _customer_state_update uses it
-- (its statement stays for Citus and for what the pass does not take).
CREATE FUNCTION seg_reco._customer_state_lines(as_of date, customer_ids bigint[] DEFAULT NULL,
                                               after timestamptz[] DEFAULT NULL)
RETURNS TABLE (
    customer_id         bigint,
    lines               bigint,
    checksum            bigint,
    last_line_ts        timestamptz,
    net_amount          numeric,
    purchase_receipts   bigint,
    purchase_amount     numeric,
    first_purchase      timestamptz,
    last_purchase       timestamptz,
    btyd_frequency      bigint,
    btyd_recency_days   float8,
    btyd_first          date,
    btyd_monetary_value float8,
    receipts            bigint,
    first_receipt_ts    timestamptz,
    last_receipt_ts     timestamptz,
    receipt_lines       bigint,
    receipt_amount      numeric,
    online_receipts     bigint,
    morning_receipts    bigint,
    own_brand_amount    numeric,
    organic_amount      numeric,
    promo_amount        numeric,
    meat_fish_amount    numeric,
    fresh_amount        numeric,
    baby_amount         numeric,
    btyd_repeat_spend   numeric,
    cohort_months       date[],
    cohort_bought       boolean[],
    cohort_revenue      numeric[]
)
AS 'MODULE_PATHNAME', 'seg_reco_customer_state_lines'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 10000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._customer_state_lines(date, bigint[], timestamptz[]) IS 'internal: customer_state''s line columns of these customers (NULL: every customer) in one pass over the lines, memory bounded by seg_reco.state_memory, and each customer''s cohort months (month, bought, net amount) as arrays; with after: each stored row merged with the customer''s lines after after[i] (an incremental refresh reads only the new lines; no cohort months)';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_state_lines(date, bigint[], timestamptz[]) FROM PUBLIC;

-- Writes the customer_state rows of the given customers (NULL: of every
-- customer, replacing all rows) from their lines, as of a date that no
-- line is after.  One statement: the lines (of those customers: through
-- the customer index) grouped by receipt, then by customer.  The BTYD part
-- is the btyd_summary state of each receipt merged per customer (exact:
-- the state sums in fixed point), in days.  A NaN amount is an error, as
-- in compute_customer_features.  Returns the rows written.  The lines'
-- columns come from the one pass in C (_customer_state_lines: the same
-- values, without the two spilling hash aggregations of the statement);
-- the statement itself runs on Citus (where it is pushed down to the
-- workers) and for what the pass does not take.  With after (beside
-- customer_ids; an incremental refresh): each stored row merged with the
-- customer's lines dated after after[i] (_customer_state_lines with after;
-- the caller vouches that this is exact, see _customer_state_refresh);
-- feature_not_supported from the merge reaches the caller, which then
-- recomputes those customers from all their lines.  cohort_months (every
-- customer, through the pass; a full refresh): also the cohorts' customer
-- months (cohort_customer_months replaced; pg_temp._seg_reco_cohort_months
-- says for which as-of date, and how many, for _cohorts_update).
CREATE FUNCTION seg_reco._customer_state_update(as_of date, customer_ids bigint[] DEFAULT NULL,
                                                after timestamptz[] DEFAULT NULL,
                                                cohort_months boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_end timestamptz := (as_of + 1)::timestamptz;
    v_lines text := '';
    v_events text := '';
    v_source text := 'seg_reco._customer_state_lines($1, $3)';
    v_rows bigint;
    v_months text := '';
    v_months_count text := 'NULL::bigint';
    v_months_rows bigint;
    v_customer bigint;
    v_receipt bigint;
    v_done boolean := false;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF after IS NOT NULL THEN
        -- a merge: the merged rows first (they are made from the stored
        -- ones); what the pass does not take is the caller's to handle
        IF customer_ids IS NULL THEN
            RAISE EXCEPTION 'a merge needs customer_ids' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        CREATE TEMP TABLE _seg_reco_state_merged ON COMMIT DROP AS
        SELECT * FROM seg_reco._customer_state_lines(as_of, customer_ids, after);
        v_source := 'pg_temp._seg_reco_state_merged';
    END IF;
    IF customer_ids IS NULL THEN
        TRUNCATE seg_reco.customer_state;
    ELSE
        DELETE FROM seg_reco.customer_state s WHERE s.customer_id = ANY (customer_ids);
        v_lines := ' AND t.customer_id = ANY ($3)';
        v_events := ' AND e.customer_id = ANY ($3)';
    END IF;
    -- the digital events of the customers at the as-of date's end ($2), the
    -- same in both statements below
    v_events := format($d$
        SELECT e.customer_id AS cid,
               count(*) FILTER (WHERE e.ts < $2) AS events,
               count(*) FILTER (WHERE e.ts < $2 AND e.event_type = 'add_to_cart') AS carts,
               max(e.ts) FILTER (WHERE e.ts < $2) AS last_ts,
               min(e.ts) FILTER (WHERE e.ts >= $2) AS next_ts
          FROM seg_reco.digital_events e
         WHERE e.customer_id IS NOT NULL%s
         GROUP BY e.customer_id$d$, v_events);
    IF after IS NOT NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension x WHERE x.extname = 'citus') THEN
        BEGIN
            IF cohort_months AND customer_ids IS NULL THEN
                -- every customer: the pass gives the cohorts' customer
                -- months too, written here in the order of their primary
                -- key (_cohorts_update then reads no line again; a full
                -- refresh's cohorts step, 0.2.0)
                TRUNCATE seg_reco.cohort_customer_months;
                v_months := $m$,
            m AS (
                INSERT INTO seg_reco.cohort_customer_months (customer_id, month, bought, revenue)
                SELECT c.customer_id, u.month, u.bought, u.revenue
                  FROM c CROSS JOIN LATERAL unnest(c.cohort_months, c.cohort_bought, c.cohort_revenue)
                       AS u(month, bought, revenue)
                 ORDER BY 1, 2
                RETURNING 1
            )$m$;
                v_months_count := '(SELECT count(*) FROM m)';
            END IF;
            EXECUTE format($q$
            WITH c AS (SELECT * FROM %s)%s,
            d AS (%s), s AS (
                INSERT INTO seg_reco.customer_state
                SELECT c.customer_id, c.lines, c.checksum, c.last_line_ts, c.net_amount,
                       c.purchase_receipts, c.purchase_amount, c.first_purchase, c.last_purchase,
                       c.btyd_frequency, c.btyd_recency_days, c.btyd_first, c.btyd_monetary_value,
                       c.receipts, c.first_receipt_ts, c.last_receipt_ts, c.receipt_lines, c.receipt_amount,
                       c.online_receipts, c.morning_receipts, c.own_brand_amount, c.organic_amount,
                       c.promo_amount, c.meat_fish_amount, c.fresh_amount, c.baby_amount,
                       coalesce(d.events, 0), coalesce(d.carts, 0), d.last_ts, d.next_ts, c.btyd_repeat_spend
                  FROM c LEFT JOIN d ON d.cid = c.customer_id
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM s), %s
            $q$, v_source, v_months, v_events, v_months_count) INTO v_rows, v_months_rows USING as_of, v_end, customer_ids;
            IF v_months_rows IS NOT NULL THEN
                -- for _cohorts_update: the months are those of this as-of date
                CREATE TEMP TABLE IF NOT EXISTS _seg_reco_cohort_months (as_of date NOT NULL, customer_months bigint NOT NULL)
                    ON COMMIT DROP;
                DELETE FROM pg_temp._seg_reco_cohort_months;
                INSERT INTO pg_temp._seg_reco_cohort_months VALUES (as_of, v_months_rows);
            END IF;
            v_done := true;
        EXCEPTION WHEN feature_not_supported THEN
            v_done := false;
        END;
    END IF;
    IF NOT v_done THEN
    EXECUTE format($q$
    INSERT INTO seg_reco.customer_state
    WITH r AS (
        SELECT t.customer_id AS cid, t.receipt_id,
               count(*) AS n_lines,
               bit_xor(seg_reco._line_checksum(t.line_id, t.receipt_id, t.product_id, t.ts, t.amount,
                                               t.discount > 0, t.channel = 'online')) AS cks,
               max(t.ts) AS last_ts,
               sum(t.amount) AS net,
               min(t.ts) FILTER (WHERE t.amount > 0) AS p_first,
               max(t.ts) FILTER (WHERE t.amount > 0) AS p_last,
               seg_reco.btyd_summary_state_agg(t.ts::date, nullif(t.amount, 'NaN')::float8, $1, 'day') AS btyd,
               min(t.ts) FILTER (WHERE t.amount > 0 AND p.product_id IS NOT NULL) AS f_ts,
               count(*) FILTER (WHERE t.amount > 0 AND p.product_id IS NOT NULL) AS f_lines,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.product_id IS NOT NULL) AS f_amount,
               bool_or(t.channel = 'online') FILTER (WHERE t.amount > 0 AND p.product_id IS NOT NULL) AS f_online,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.own_brand) AS f_own,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.organic) AS f_organic,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.product_id IS NOT NULL AND t.discount > 0) AS f_promo,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.category IN ('kjøtt', 'fisk og sjømat')) AS f_meat,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.category = 'frukt og grønt') AS f_fresh,
               sum(t.amount) FILTER (WHERE t.amount > 0 AND p.category = 'baby') AS f_baby
          FROM seg_reco.transactions t
          LEFT JOIN seg_reco.products p ON p.product_id = t.product_id
         WHERE t.customer_id IS NOT NULL AND t.ts IS NOT NULL%s
         GROUP BY t.customer_id, t.receipt_id
    ), c AS (
        SELECT r.cid, sum(r.n_lines) AS n_lines, bit_xor(r.cks) AS cks, max(r.last_ts) AS last_ts,
               coalesce(sum(r.net), 0.00) AS net,
               count(r.p_first) FILTER (WHERE r.receipt_id IS NOT NULL) AS p_receipts,
               coalesce(sum(r.net) FILTER (WHERE r.receipt_id IS NOT NULL), 0.00) AS p_amount,
               min(r.p_first) FILTER (WHERE r.receipt_id IS NOT NULL) AS p_first,
               max(r.p_last) FILTER (WHERE r.receipt_id IS NOT NULL) AS p_last,
               seg_reco.btyd_summary_merge(r.btyd) AS b,
               count(r.f_ts) AS receipts, min(r.f_ts) AS f_first, max(r.f_ts) AS f_last,
               coalesce(sum(r.f_lines), 0) AS f_lines, sum(r.f_amount) AS f_amount,
               count(*) FILTER (WHERE r.f_online) AS f_online,
               count(*) FILTER (WHERE extract(isodow FROM r.f_ts) <= 5 AND extract(hour FROM r.f_ts) < 12) AS f_morning,
               coalesce(sum(r.f_own), 0) AS f_own, coalesce(sum(r.f_organic), 0) AS f_organic,
               coalesce(sum(r.f_promo), 0) AS f_promo, coalesce(sum(r.f_meat), 0) AS f_meat,
               coalesce(sum(r.f_fresh), 0) AS f_fresh, coalesce(sum(r.f_baby), 0) AS f_baby
          FROM r GROUP BY r.cid
    ), d AS (%s)
    SELECT c.cid, c.n_lines, c.cks, c.last_ts, c.net, c.p_receipts, c.p_amount, c.p_first, c.p_last,
           (c.b).frequency, (c.b).recency, (c.b).first_purchase, (c.b).monetary_value,
           c.receipts, c.f_first, c.f_last, c.f_lines, c.f_amount, c.f_online, c.f_morning,
           c.f_own, c.f_organic, c.f_promo, c.f_meat, c.f_fresh, c.f_baby,
           coalesce(d.events, 0), coalesce(d.carts, 0), d.last_ts, d.next_ts
      FROM c LEFT JOIN d ON d.cid = c.cid
    $q$, v_lines, v_events) USING as_of, v_end, customer_ids;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    END IF;

    -- a NaN amount makes the customer's net amount NaN
    SELECT s.customer_id INTO v_customer FROM seg_reco.customer_state s
     WHERE s.net_amount = 'NaN'::numeric AND (customer_ids IS NULL OR s.customer_id = ANY (customer_ids))
     LIMIT 1;
    IF FOUND THEN
        SELECT t.receipt_id INTO v_receipt FROM seg_reco.transactions t
         WHERE t.customer_id = v_customer AND t.amount = 'NaN'::numeric LIMIT 1;
        RAISE EXCEPTION 'amount must be a finite number, got NaN'
            USING ERRCODE = 'data_exception',
                  DETAIL = format('Receipt %s has a line with amount NaN.', v_receipt),
                  HINT = 'Filter out or repair rows with NaN or infinite values.';
    END IF;
    IF customer_ids IS NULL THEN
        TRUNCATE seg_reco.customer_state_products;
        INSERT INTO seg_reco.customer_state_products (product_id, flags)
        SELECT p.product_id, min(seg_reco._product_flags(p.own_brand, p.organic, p.category))
          FROM seg_reco.products p WHERE p.product_id IS NOT NULL GROUP BY p.product_id;
    END IF;
    IF after IS NOT NULL THEN
        DROP TABLE pg_temp._seg_reco_state_merged;
    END IF;
    RETURN v_rows;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._customer_state_update(date, bigint[], timestamptz[], boolean) IS 'refresh() helper: writes the customer_state rows of these customers (NULL: every customer, and with cohort_months from the one pass in C also the cohorts'' customer months, noted in pg_temp._seg_reco_cohort_months) from their lines as of a date (one pass: lines grouped by receipt, then by customer); with after: each stored row merged with the customer''s lines after after[i] (only the new lines are read)';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_state_update(date, bigint[], timestamptz[], boolean) FROM PUBLIC;

-- The capture trigger function (statement level, transition tables old_rows
-- and new_rows).  It runs with its owner's rights (SECURITY DEFINER): every
-- role allowed to write the source tables must have its changes recorded,
-- without being given write access to seg_reco's bookkeeping; it only
-- appends the customer ids of the rows the statement changed.  Argument:
-- the customer id column of a user's table (none: customer_id).
CREATE FUNCTION seg_reco._capture_changes() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_col text := 'customer_id';
    v_id text := '%1$s.%2$I::bigint';
    v_since text;
    v_lines boolean;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO seg_reco.dirty_customers (customer_id, reason)
        VALUES (NULL, format('%s was truncated', TG_RELID::regclass));
        RETURN NULL;
    END IF;
    IF TG_NARGS = 0 THEN
        v_lines := TG_TABLE_NAME = 'transactions';
        v_since := CASE WHEN v_lines THEN 'ts' END;
    ELSE
        v_col := TG_ARGV[0];
        -- the id as the view over the user's table reads it
        IF TG_NARGS > 1 AND TG_ARGV[1] = 'text' THEN
            v_id := 'seg_reco.internal_id(%1$s.%2$I::text)';
        END IF;
        v_lines := TG_NARGS < 3 OR TG_ARGV[2] <> '';
        v_since := CASE WHEN TG_NARGS > 2 AND TG_ARGV[2] <> '' THEN TG_ARGV[2] END;
    END IF;
    -- since: on the digital events infinity (they are read again whatever
    -- changed); lines inserted: their earliest time (infinity when none
    -- has one); lines updated or deleted: NULL (the customer is recomputed)
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO seg_reco.dirty_customers (customer_id, since)
                        SELECT %1$s, %2$s FROM new_rows n WHERE n.%3$I IS NOT NULL GROUP BY 1',
                       format(v_id, 'n', v_col),
                       CASE WHEN NOT v_lines THEN '''infinity''::timestamptz'
                            WHEN v_since IS NULL THEN 'NULL::timestamptz'
                            ELSE format('coalesce(min(n.%I::timestamptz), ''infinity'')', v_since) END,
                       v_col);
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('INSERT INTO seg_reco.dirty_customers (customer_id, since)
                        SELECT DISTINCT %1$s, %2$s::timestamptz FROM old_rows o WHERE o.%3$I IS NOT NULL',
                       format(v_id, 'o', v_col), CASE WHEN v_lines THEN 'NULL' ELSE '''infinity''' END, v_col);
    ELSE
        EXECUTE format('INSERT INTO seg_reco.dirty_customers (customer_id, since)
                        SELECT x.id, %1$s::timestamptz
                          FROM (SELECT %2$s AS id FROM new_rows n WHERE n.%4$I IS NOT NULL
                                UNION
                                SELECT %3$s FROM old_rows o WHERE o.%4$I IS NOT NULL) x',
                       CASE WHEN v_lines THEN 'NULL' ELSE '''infinity''' END,
                       format(v_id, 'n', v_col), format(v_id, 'o', v_col), v_col);
    END IF;
    RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._capture_changes() IS 'capture trigger of the transactions and digital events (statement level): records the customers a statement touched in seg_reco.dirty_customers, with the earliest time of inserted lines (TRUNCATE: all of them)';
REVOKE EXECUTE ON FUNCTION seg_reco._capture_changes() FROM PUBLIC;

-- the capture triggers: on seg_reco's own tables as in a fresh install; on
-- a user's table behind use_source when it is a plain table (otherwise
-- refresh() runs full, as it says in refresh_log)
-- Installs the capture triggers on a table (a user's table behind
-- use_source; column: its customer id column) and enables them always.
-- Returns NULL, or why it could not (not a plain table, no privilege).
CREATE FUNCTION seg_reco._capture_install(target regclass, customer_column text, ts_column text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_kind "char";
    v_op text;
    v_args text;
BEGIN
    SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = target;
    IF v_kind IS DISTINCT FROM 'r' THEN
        RETURN format('%s is not a plain table: its changes cannot be captured', target);
    END IF;
    IF seg_reco._citus_distributed(target) THEN
        RETURN format('%s is a Citus distributed table, which takes no triggers', target);
    END IF;
    SELECT format('%L, %L, %L', customer_column,
                  CASE WHEN seg_reco._text_id_arg(customer_column, a.atttypid) IS NULL THEN 'int' ELSE 'text' END,
                  coalesce(ts_column, ''))
      INTO v_args
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = target AND a.attname = customer_column AND a.attnum > 0 AND NOT a.attisdropped;
    BEGIN
        FOREACH v_op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                        WHERE g.tgrelid = target AND g.tgname = 'seg_reco_capture_' || v_op) THEN
                EXECUTE format('DROP TRIGGER %I ON %s', 'seg_reco_capture_' || v_op, target);
            END IF;
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes(%s)',
                           'seg_reco_capture_' || v_op, upper(v_op), target,
                           CASE v_op WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                                     WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                                     WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
                                     ELSE '' END,
                           coalesce(v_args, format('%L, %L, %L', customer_column, 'int', coalesce(ts_column, ''))));
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', target, 'seg_reco_capture_' || v_op);
        END LOOP;
    EXCEPTION WHEN insufficient_privilege THEN
        RETURN format('no privilege to create triggers on %s: %s', target, SQLERRM);
    END;
    RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._capture_install(regclass, text, text) IS 'use_source helper: puts the capture triggers on a user''s table (NULL), or says why it cannot';
REVOKE EXECUTE ON FUNCTION seg_reco._capture_install(regclass, text, text) FROM PUBLIC;

DO $upgrade$
DECLARE
    v_rel text;
    v_source regclass;
BEGIN
    FOREACH v_rel IN ARRAY ARRAY['transactions', 'digital_events'] LOOP
        IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('seg_reco.' || v_rel)) = 'r' THEN
            EXECUTE pg_catalog.format('CREATE TRIGGER seg_reco_capture_insert AFTER INSERT ON seg_reco.%I
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes()', v_rel);
            EXECUTE pg_catalog.format('CREATE TRIGGER seg_reco_capture_update AFTER UPDATE ON seg_reco.%I
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes()', v_rel);
            EXECUTE pg_catalog.format('CREATE TRIGGER seg_reco_capture_delete AFTER DELETE ON seg_reco.%I
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes()', v_rel);
            EXECUTE pg_catalog.format('CREATE TRIGGER seg_reco_capture_truncate AFTER TRUNCATE ON seg_reco.%I
                FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes()', v_rel);
            EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I ENABLE ALWAYS TRIGGER seg_reco_capture_insert', v_rel);
            EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I ENABLE ALWAYS TRIGGER seg_reco_capture_update', v_rel);
            EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I ENABLE ALWAYS TRIGGER seg_reco_capture_delete', v_rel);
            EXECUTE pg_catalog.format('ALTER TABLE seg_reco.%I ENABLE ALWAYS TRIGGER seg_reco_capture_truncate', v_rel);
        ELSE
            SELECT pg_catalog.to_regclass(s.source) INTO v_source FROM seg_reco.sources s WHERE s.relation = v_rel;
            IF v_source IS NOT NULL THEN
                PERFORM seg_reco._capture_install(v_source,
                            coalesce((SELECT s.columns ->> 'customer_id' FROM seg_reco.sources s WHERE s.relation = v_rel),
                                     'customer_id'),
                            CASE WHEN v_rel = 'transactions'
                                 THEN coalesce((SELECT s.columns ->> 'ts' FROM seg_reco.sources s WHERE s.relation = v_rel), 'ts') END);
            END IF;
        END IF;
    END LOOP;
END;
$upgrade$;

-- NULL when every change of the transactions and digital events reaches
-- seg_reco.dirty_customers (all four capture triggers on the table behind
-- each, none disabled), else why not.
CREATE FUNCTION seg_reco._capture_status() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rel text;
    v_target regclass;
    v_kind "char";
BEGIN
    -- on Citus (seg_reco.distribute()) no trigger can capture the changes
    -- of the distributed lines: the incremental run finds the changed
    -- customers by comparing their lines with their stored state instead
    -- (_customer_state_changed)
    IF seg_reco._citus_distributed('seg_reco.transactions')
       AND seg_reco._citus_distributed('seg_reco.digital_events') THEN
        RETURN NULL;
    END IF;
    FOREACH v_rel IN ARRAY ARRAY['transactions', 'digital_events'] LOOP
        v_target := to_regclass(format('seg_reco.%I', v_rel));
        SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = v_target;
        IF v_kind = 'v' THEN
            v_target := (SELECT to_regclass(s.source) FROM seg_reco.sources s WHERE s.relation = v_rel);
        END IF;
        IF v_target IS NULL THEN
            RETURN format('the relation behind seg_reco.%s was not found', v_rel);
        END IF;
        IF (SELECT count(*) FROM pg_catalog.pg_trigger g
             WHERE g.tgrelid = v_target AND g.tgenabled <> 'D'
               AND g.tgfoid = 'seg_reco._capture_changes()'::regprocedure) < 4 THEN
            RETURN format('the changes of %s are not captured (%s)', v_target,
                          CASE WHEN v_kind = 'v' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = v_target) <> 'r'
                               THEN 'it is not a plain table'
                               ELSE 'its capture triggers are missing or disabled' END);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._capture_status() IS 'refresh() helper: NULL when the changes of the transactions and digital events are captured, else why not';
REVOKE EXECUTE ON FUNCTION seg_reco._capture_status() FROM PUBLIC;

-- The customers whose lines or digital events no longer give their stored
-- state, found by comparing (every line and event is read, each customer's
-- in the shard that holds it on Citus): a different line count or checksum
-- (seg_reco._line_checksum: any line added, removed or changed in what the
-- pipeline reads), lines but no row or a row but no lines, or digital
-- events that give other counts or times at v_end (the new as-of date's
-- end: also those the date has passed).  The incremental refresh on Citus
-- (where no trigger captures the changes of distributed tables) recomputes
-- these customers from all their lines.
CREATE FUNCTION seg_reco._customer_state_changed(v_end timestamptz)
RETURNS TABLE (customer_id bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    -- (PL/pgSQL: Citus plans no SQL function with parameters over
    -- distributed tables; the subqueries are grouped by the customer id,
    -- so Citus runs the whole query in the shards)
    -- the lines: customer_state_check()'s comparison
    RETURN QUERY
    SELECT c.customer_id FROM seg_reco.customer_state_check() c
    UNION
    SELECT s.customer_id
      FROM seg_reco.customer_state s
      LEFT JOIN (SELECT e.customer_id,
                        count(*) FILTER (WHERE e.ts < v_end) AS events,
                        count(*) FILTER (WHERE e.ts < v_end AND e.event_type = 'add_to_cart') AS carts,
                        max(e.ts) FILTER (WHERE e.ts < v_end) AS last_ts,
                        min(e.ts) FILTER (WHERE e.ts >= v_end) AS next_ts
                   FROM seg_reco.digital_events e
                  WHERE e.customer_id IS NOT NULL
                  GROUP BY e.customer_id) d ON d.customer_id = s.customer_id
     WHERE (s.digital_events, s.add_to_cart_events, s.digital_last_ts, s.digital_next_ts)
           IS DISTINCT FROM (coalesce(d.events, 0), coalesce(d.carts, 0), d.last_ts, d.next_ts);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._customer_state_changed(timestamptz) IS 'refresh() helper: the customers whose lines (count, checksum) or digital events (counts, times at the given end) differ from their stored customer_state row, or who have lines and no row or a row and no lines';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_state_changed(timestamptz) FROM PUBLIC;

-- Brings customer_state up to date.  full: every row from one pass over
-- all lines.  Otherwise the rows of the customers that changed since the
-- last run: those recorded by the capture triggers, those with lines of a
-- product whose attributes changed, and those whose digital events cross
-- the new as-of date; each from the customer's own lines.  Returns what it
-- did; the changed customers are left in pg_temp.seg_reco_changed for the
-- steps after (ALS fold-in and the partial recommendations).
CREATE FUNCTION seg_reco._customer_state_refresh(full_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := seg_reco.default_as_of();
    v_end timestamptz;
    v_marks bigint;
    v_products bigint[];
    v_ids bigint[];
    v_mids bigint[];
    v_after timestamptz[];
    v_rows bigint;
    v_lines_before numeric;
    v_lines_merged numeric := 0;
    v_merge_note text;
    v_member_as_of date;
    v_state_at timestamptz;
    v_t0 timestamptz := clock_timestamp();
    v_result jsonb;
    v_compared boolean := false;
BEGIN
    IF to_regclass('pg_temp.seg_reco_changed') IS NOT NULL THEN
        DROP TABLE pg_temp.seg_reco_changed;
    END IF;
    CREATE TEMP TABLE seg_reco_changed (customer_id bigint PRIMARY KEY, merge_after timestamptz) ON COMMIT DROP;
    -- the marks this run consumes (those committed later stay for the
    -- next); merge_after holds the earliest new line's time for now (NULL:
    -- a line updated or deleted)
    WITH d AS (DELETE FROM seg_reco.dirty_customers RETURNING customer_id, since),
         i AS (INSERT INTO pg_temp.seg_reco_changed (customer_id, merge_after)
               SELECT d.customer_id, CASE WHEN bool_and(d.since IS NOT NULL) THEN min(d.since) END
                 FROM d WHERE d.customer_id IS NOT NULL AND NOT full_run
                GROUP BY d.customer_id)
    SELECT count(*) INTO v_marks FROM d;
    IF v_as_of IS NULL THEN
        -- no lines: no customer state
        TRUNCATE seg_reco.customer_state;
        TRUNCATE pg_temp.seg_reco_changed;
        v_rows := 0;
        v_result := jsonb_build_object('customers_recomputed', 0);
    ELSIF full_run THEN
        v_rows := seg_reco._customer_state_update(v_as_of, NULL, cohort_months => true);
        v_result := jsonb_build_object('customers_recomputed', v_rows);
    ELSE
        v_end := (v_as_of + 1)::timestamptz;
        -- products whose attributes changed, appeared or went: their
        -- customers from all lines
        SELECT array_agg(coalesce(c.product_id, o.product_id)) INTO v_products
          FROM (SELECT p.product_id, min(seg_reco._product_flags(p.own_brand, p.organic, p.category)) AS flags
                  FROM seg_reco.products p WHERE p.product_id IS NOT NULL GROUP BY p.product_id) c
          FULL JOIN seg_reco.customer_state_products o ON o.product_id = c.product_id
         WHERE c.flags IS DISTINCT FROM o.flags;
        IF v_products IS NOT NULL THEN
            INSERT INTO pg_temp.seg_reco_changed AS c (customer_id, merge_after)
            SELECT DISTINCT t.customer_id, NULL::timestamptz FROM seg_reco.transactions t
             WHERE t.product_id = ANY (v_products) AND t.customer_id IS NOT NULL
            ON CONFLICT (customer_id) DO UPDATE SET merge_after = NULL;
            DELETE FROM seg_reco.customer_state_products o WHERE o.product_id = ANY (v_products);
            INSERT INTO seg_reco.customer_state_products (product_id, flags)
            SELECT p.product_id, min(seg_reco._product_flags(p.own_brand, p.organic, p.category))
              FROM seg_reco.products p WHERE p.product_id = ANY (v_products) GROUP BY p.product_id;
        END IF;
        IF seg_reco._citus_distributed('seg_reco.transactions') THEN
            -- on Citus no trigger marked the customers whose lines changed:
            -- those whose lines or events differ from their state, compared
            -- in the shards (also those whose events the new as-of date
            -- takes in or leaves out), recomputed from all their lines
            v_compared := true;
            INSERT INTO pg_temp.seg_reco_changed (customer_id, merge_after)
            SELECT x.customer_id, NULL::timestamptz FROM seg_reco._customer_state_changed(v_end) x
            ON CONFLICT (customer_id) DO NOTHING;
            UPDATE pg_temp.seg_reco_changed c SET merge_after = NULL;
        ELSE
            -- digital events that the new as-of date takes in or leaves out
            INSERT INTO pg_temp.seg_reco_changed (customer_id, merge_after)
            SELECT s.customer_id, 'infinity' FROM seg_reco.customer_state s
             WHERE s.digital_next_ts < v_end OR s.digital_last_ts >= v_end
            ON CONFLICT DO NOTHING;
        END IF;
        ANALYZE pg_temp.seg_reco_changed;
        -- which can merge: new lines all on a later day than the stored
        -- ones (merge_after: the stored row's last line), a stored row of
        -- the one pass (with its repeat spend); no stored row: every line
        -- is new
        IF NOT v_compared THEN
            UPDATE pg_temp.seg_reco_changed c
               SET merge_after = CASE WHEN x.stored IS NULL THEN '-infinity'
                                      WHEN c.merge_after::date > x.last_line_ts::date
                                           AND (x.btyd_first IS NULL OR x.btyd_repeat_spend IS NOT NULL)
                                      THEN x.last_line_ts END
              FROM (SELECT y.customer_id, s.customer_id AS stored, s.last_line_ts, s.btyd_first, s.btyd_repeat_spend
                      FROM pg_temp.seg_reco_changed y
                      LEFT JOIN seg_reco.customer_state s ON s.customer_id = y.customer_id
                     WHERE y.merge_after IS NOT NULL) x
             WHERE x.customer_id = c.customer_id;
            -- ... and no new line in a receipt of an old line (nor without a
            -- receipt: those lines count as one receipt).  The new lines of
            -- each customer by an index range scan (a LATERAL subquery with
            -- OFFSET 0 is never flattened into a join the planner could trade
            -- for a scan of every line), each receipt by the receipt index.
            UPDATE pg_temp.seg_reco_changed c SET merge_after = NULL
              FROM (SELECT DISTINCT x.customer_id
                      FROM pg_temp.seg_reco_changed x
                     CROSS JOIN LATERAL (SELECT n.receipt_id FROM seg_reco.transactions n
                                          WHERE n.customer_id = x.customer_id AND n.ts > x.merge_after
                                         OFFSET 0) n
                     WHERE x.merge_after > '-infinity'
                       AND (n.receipt_id IS NULL
                            OR EXISTS (SELECT 1 FROM seg_reco.transactions o
                                        WHERE o.receipt_id = n.receipt_id AND o.customer_id = x.customer_id
                                          AND o.ts <= x.merge_after))) b
             WHERE b.customer_id = c.customer_id;
        END IF;
        SELECT array_agg(c.customer_id ORDER BY c.customer_id), array_agg(c.merge_after ORDER BY c.customer_id)
          INTO v_mids, v_after
          FROM pg_temp.seg_reco_changed c WHERE c.merge_after IS NOT NULL;
        v_rows := 0;
        IF v_mids IS NOT NULL THEN
            SELECT coalesce(sum(s.lines), 0) INTO v_lines_before
              FROM seg_reco.customer_state s WHERE s.customer_id = ANY (v_mids);
            BEGIN
                v_rows := seg_reco._customer_state_update(v_as_of, v_mids, v_after);
                SELECT coalesce(sum(s.lines), 0) - v_lines_before INTO v_lines_merged
                  FROM seg_reco.customer_state s WHERE s.customer_id = ANY (v_mids);
            EXCEPTION WHEN feature_not_supported THEN
                -- values the merge does not take: from all lines
                GET STACKED DIAGNOSTICS v_merge_note = MESSAGE_TEXT;
                UPDATE pg_temp.seg_reco_changed c SET merge_after = NULL;
                v_mids := NULL;
            END;
        END IF;
        SELECT array_agg(c.customer_id ORDER BY c.customer_id) INTO v_ids
          FROM pg_temp.seg_reco_changed c WHERE c.merge_after IS NULL;
        IF v_ids IS NOT NULL THEN
            v_rows := v_rows + seg_reco._customer_state_update(v_as_of, v_ids);
        END IF;
        v_result := jsonb_build_object('customers_merged', coalesce(cardinality(v_mids), 0),
                                       'lines_merged', v_lines_merged,
                                       'customers_recomputed', coalesce(cardinality(v_ids), 0),
                                       'state_rows_written', v_rows, 'changed_products', coalesce(cardinality(v_products), 0))
                    || CASE WHEN v_merge_note IS NULL THEN '{}'::jsonb
                            ELSE jsonb_build_object('merge_not_taken', v_merge_note) END
                    || CASE WHEN v_compared THEN jsonb_build_object('changes', 'compared with the lines (Citus)')
                            ELSE '{}'::jsonb END;
    END IF;
    ANALYZE pg_temp.seg_reco_changed;
    -- (read first: Citus plans no subquery inside an INSERT's VALUES, and
    -- no volatile function in a write of a reference table, which
    -- refresh_state is after distribute())
    v_member_as_of := (SELECT max(s.last_line_ts) FROM seg_reco.customer_state s)::date;
    v_state_at := clock_timestamp();
    INSERT INTO seg_reco.refresh_state AS r (one_row, as_of, member_as_of, time_zone, state_at)
    VALUES (true, v_as_of, v_member_as_of, current_setting('TimeZone'), v_state_at)
    ON CONFLICT (one_row) DO UPDATE
       SET as_of = excluded.as_of, member_as_of = excluded.member_as_of,
           time_zone = excluded.time_zone, state_at = excluded.state_at;
    RETURN v_result || jsonb_build_object('as_of', v_as_of, 'capture_marks', v_marks,
                                          'state_ms', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1));
END;
$fn$;
COMMENT ON FUNCTION seg_reco._customer_state_refresh(boolean) IS 'refresh() helper: brings seg_reco.customer_state up to date (full: from all lines; otherwise the customers that changed since the last run: new lines merged into the stored rows where that is exact, else from all their lines)';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_state_refresh(boolean) FROM PUBLIC;

-- customer_features derived from customer_state at its as-of date, with
-- the arithmetic of compute_customer_features (the same numbers).
CREATE FUNCTION seg_reco._customer_features_from_state()
RETURNS TABLE (
    customer_id         bigint,
    recency_days        integer,
    tenure_days         integer,
    frequency           bigint,
    monetary            numeric,
    basket_nok          float8,
    basket_lines        float8,
    days_between_visits float8,
    online_share        float8,
    weekday_morning_share float8,
    own_brand_share     float8,
    organic_share       float8,
    promo_share         float8,
    meat_fish_share     float8,
    fresh_share         float8,
    baby_share          float8,
    digital_events      bigint,
    add_to_cart_events  bigint
)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT s.customer_id, m.as_of - s.last_receipt_ts::date, m.as_of - s.first_receipt_ts::date,
           s.receipts, s.net_amount,
           (s.receipt_amount / s.receipts)::float8,
           (s.receipt_lines::numeric / s.receipts)::float8,
           extract(epoch FROM s.last_receipt_ts - s.first_receipt_ts)::float8 / 86400.0
               / greatest(s.receipts - 1, 1),
           (s.online_receipts::numeric / s.receipts)::float8,
           (s.morning_receipts::numeric / s.receipts)::float8,
           s.own_brand_amount::float8 / s.receipt_amount::float8,
           s.organic_amount::float8 / s.receipt_amount::float8,
           s.promo_amount::float8 / s.receipt_amount::float8,
           s.meat_fish_amount::float8 / s.receipt_amount::float8,
           s.fresh_amount::float8 / s.receipt_amount::float8,
           s.baby_amount::float8 / s.receipt_amount::float8,
           s.digital_events, s.add_to_cart_events
      FROM seg_reco.customer_state s
      JOIN seg_reco.refresh_state m ON m.as_of IS NOT NULL
     WHERE s.receipts > 0
     ORDER BY s.customer_id
$fn$;
COMMENT ON FUNCTION seg_reco._customer_features_from_state() IS 'the rows of customer_features, from seg_reco.customer_state at its as-of date (equal to compute_customer_features() at that date when the state is up to date)';

-- RFM of every customer derived from customer_state at its as-of date:
-- rfm_score()'s columns, scores and segments.
CREATE FUNCTION seg_reco._rfm_from_state()
RETURNS TABLE (
    customer_id     bigint,
    as_of_date      date,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    recency_days    integer,
    frequency       bigint,
    monetary        numeric,
    r_score         integer,
    f_score         integer,
    m_score         integer,
    rfm_code        text,
    segment         text
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := (SELECT m.as_of FROM seg_reco.refresh_state m);
BEGIN
    IF v_as_of IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH vals AS (
        SELECT coalesce(c.customer_id, a.customer_id) AS cid,
               a.first_purchase AS first_p,
               a.last_purchase AS last_p,
               coalesce(a.purchase_receipts, 0) AS freq,
               coalesce(a.purchase_amount, 0.00) AS money
          FROM seg_reco.customers c
          FULL JOIN seg_reco.customer_state a ON a.customer_id = c.customer_id
    ), recency AS (
        SELECT v.*, (v_as_of - (v.last_p)::date) AS rec
          FROM vals v
    ), scored AS (
        SELECT r.*,
               1 + (5 * (rank() OVER (ORDER BY r.rec DESC) - 1)
                    / count(*) OVER ())::integer AS rs,
               1 + (5 * (rank() OVER (ORDER BY r.freq) - 1)
                    / count(*) OVER ())::integer AS fs,
               1 + (5 * (rank() OVER (ORDER BY r.money) - 1)
                    / count(*) OVER ())::integer AS ms
          FROM recency r
         WHERE r.freq > 0
    ), codes AS (
        SELECT c.r_score AS r, c.f_score AS f, c.m_score AS m, c.segment AS seg
          FROM seg_reco.rfm_segment_codes() c
    )
    SELECT r.cid, v_as_of, r.first_p, r.last_p, r.rec, r.freq, r.money,
           s.rs, s.fs, s.ms,
           CASE WHEN s.cid IS NULL THEN NULL ELSE s.rs::text || s.fs::text || s.ms::text END,
           coalesce(k.seg, 'No Purchases')
      FROM recency r
      LEFT JOIN scored s ON s.cid = r.cid
      LEFT JOIN codes k ON k.r = s.rs AND k.f = s.fs AND k.m = s.ms
     ORDER BY r.cid;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._rfm_from_state() IS 'rfm_score()''s rows derived from seg_reco.customer_state at its as-of date (equal to rfm_score() at that date when the state is up to date)';

-- BTYD summaries of every customer with a purchase day, from customer_state,
-- at a calibration end no line is after, in a unit ('day' or 'week'):
-- btyd_summary()'s values.
CREATE FUNCTION seg_reco._btyd_summaries_from_state(calibration_end date, unit text)
RETURNS TABLE (customer_id bigint, frequency bigint, recency float8, t float8, monetary_value float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_days float8 := CASE unit WHEN 'day' THEN 1 WHEN 'week' THEN 7 END;
BEGIN
    -- PL/pgSQL, not SQL: Citus plans no SQL function with parameters over
    -- a distributed table (customer_state is one after distribute())
    IF v_days IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.customer_id, s.btyd_frequency,
           s.btyd_recency_days / v_days,
           (calibration_end - s.btyd_first)::float8 / v_days,
           s.btyd_monetary_value
      FROM seg_reco.customer_state s
     WHERE s.btyd_first IS NOT NULL AND s.btyd_first <= calibration_end
     ORDER BY s.customer_id;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._btyd_summaries_from_state(date, text) IS 'BTYD summaries (frequency, recency, t, monetary_value) of every customer with a purchase day, from seg_reco.customer_state at a calibration end, in unit day or week';

-- btyd_scores() of a stored model, from customer_state at a calibration end
-- (the model's own, or a later one: an incremental run scores every
-- customer at the new date with the model fitted before).
CREATE FUNCTION seg_reco._btyd_scores_from_state(model text, calibration_end date,
                                                 at_risk_p_alive float8 DEFAULT 0.5,
                                                 monthly_discount float8 DEFAULT 0.01)
RETURNS TABLE (
    customer_id             bigint,
    frequency               bigint,
    recency                 float8,
    t                       float8,
    monetary_value          float8,
    p_alive                 float8,
    expected_purchases_90d  float8,
    expected_spend          float8,
    clv_12m                 float8,
    at_risk                 boolean
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    m seg_reco.btyd_models;
    v_r float8; v_alpha float8; v_a float8; v_b float8;
    v_p float8; v_q float8; v_g float8;
    v_mod boolean;
    v_90 float8;
BEGIN
    IF at_risk_p_alive IS NULL OR NOT (at_risk_p_alive BETWEEN 0 AND 1) THEN
        RAISE EXCEPTION 'at_risk_p_alive must be between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF monthly_discount IS NULL OR calibration_end IS NULL THEN
        RAISE EXCEPTION 'monthly_discount and calibration_end must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    m := seg_reco._btyd_model(model);
    v_r := (m.params->>'r')::float8; v_alpha := (m.params->>'alpha')::float8;
    v_a := (m.params->>'a')::float8; v_b := (m.params->>'b')::float8;
    v_p := (m.params#>>'{spend,p}')::float8; v_q := (m.params#>>'{spend,q}')::float8;
    v_g := (m.params#>>'{spend,gamma}')::float8;
    v_mod := m.kind = 'mbgnbd';
    v_90 := CASE m.unit WHEN 'day' THEN 90.0 ELSE 90.0 / 7 END;

    RETURN QUERY
    WITH s AS (
        SELECT x.customer_id AS cid, x.frequency AS f, x.recency AS rec, x.t AS tt, x.monetary_value AS mv
          FROM seg_reco._btyd_summaries_from_state(calibration_end, m.unit) x
    ), sc AS (
        SELECT s.*,
               CASE WHEN v_mod THEN seg_reco.mbgnbd_p_alive(v_r, v_alpha, v_a, v_b, s.f, s.rec, s.tt)
                    ELSE seg_reco.bgnbd_p_alive(v_r, v_alpha, v_a, v_b, s.f, s.rec, s.tt) END AS pa,
               CASE WHEN v_mod THEN seg_reco.mbgnbd_expected_purchases(v_r, v_alpha, v_a, v_b, s.f, s.rec, s.tt, v_90)
                    ELSE seg_reco.bgnbd_expected_purchases(v_r, v_alpha, v_a, v_b, s.f, s.rec, s.tt, v_90) END AS e90,
               seg_reco.gammagamma_expected_spend(v_p, v_q, v_g, s.f, s.mv) AS es
          FROM s
    )
    SELECT sc.cid, sc.f, sc.rec, sc.tt, sc.mv, sc.pa, sc.e90, sc.es,
           CASE WHEN v_mod THEN seg_reco.mbgnbd_clv(v_r, v_alpha, v_a, v_b, sc.f, sc.rec, sc.tt, sc.es, 12, monthly_discount, m.unit)
                ELSE seg_reco.bgnbd_clv(v_r, v_alpha, v_a, v_b, sc.f, sc.rec, sc.tt, sc.es, 12, monthly_discount, m.unit) END,
           sc.f >= 1 AND sc.pa < at_risk_p_alive
      FROM sc
     ORDER BY sc.cid;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._btyd_scores_from_state(text, date, float8, float8) IS 'btyd_scores() of a stored model with the summaries of seg_reco.customer_state at a calibration end';

-- Compares customer_state with the lines (every line is read): the
-- customers whose stored line count or checksum differ from their lines,
-- or who have lines but no row (or a row but no lines).  Empty when
-- nothing escaped the capture (say, a write while the triggers were
-- disabled); otherwise run CALL seg_reco.refresh('full').
CREATE FUNCTION seg_reco.customer_state_check()
RETURNS TABLE (customer_id bigint, stored_lines bigint, lines bigint, checksum_matches boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH l AS (
        SELECT t.customer_id, count(*) AS n,
               bit_xor(seg_reco._line_checksum(t.line_id, t.receipt_id, t.product_id, t.ts, t.amount,
                                               t.discount > 0, t.channel = 'online')) AS cks
          FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.ts IS NOT NULL
         GROUP BY t.customer_id
    )
    SELECT coalesce(s.customer_id, l.customer_id), s.lines, l.n, s.checksum IS NOT DISTINCT FROM l.cks
      FROM seg_reco.customer_state s
      FULL JOIN l ON l.customer_id = s.customer_id
     WHERE s.lines IS DISTINCT FROM l.n OR s.checksum IS DISTINCT FROM l.cks
     ORDER BY 1
$fn$;
COMMENT ON FUNCTION seg_reco.customer_state_check() IS 'customers whose stored state (line count, checksum) does not match their lines: empty when every change was captured';
REVOKE EXECUTE ON FUNCTION seg_reco.customer_state_check() FROM PUBLIC;

-- use_source('transactions', ...) says when the user's table has no index
-- for one customer's lines or for the latest line (issue 11 item 9)
-- use_source(relation, source, columns): replace seg_reco.<relation> by a view
-- over the user's relation.  columns maps seg_reco column -> source column
-- for names that differ; other columns are taken by the same name, and an
-- optional column missing from the source is filled with NULL or its
-- documented default.  A non-empty built-in table is only replaced with
-- discard_data => true.  For transactions and digital_events it puts the
-- capture triggers of the incremental refresh on the user's table (a plain
-- table; otherwise every refresh() is full, with a NOTICE now).
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
    v_text_ids text[] := '{}';
    v_id_expr text;
    v_cust_expr text;
    v_src record;
    v_ids text := '';
    v_old regclass;
    v_propagate text;
    v_capture text;
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
        v_id_expr := CASE WHEN v_col.column_name IN ('customer_id', 'product_id', 'receipt_id')
                          THEN seg_reco._text_id_arg(v_src_col, v_src_type) END;
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
        ELSIF v_id_expr IS NOT NULL THEN
            -- a text id: its internal id (the text itself in seg_reco.source_ids)
            v_select := v_select || format('%sseg_reco.internal_id(s.%s) AS %I',
                                           CASE WHEN v_select = '' THEN '' ELSE ', ' END, v_id_expr,
                                           v_col.column_name);
            v_text_ids := v_text_ids || v_src_col;
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

    -- text ids: no two texts of a column may share an internal id
    FOREACH v_src_col IN ARRAY v_text_ids LOOP
        EXECUTE format('SELECT count(DISTINCT s.%1$I::text) - count(DISTINCT seg_reco.internal_id(s.%1$I::text)) FROM %2$s s',
                       v_src_col, source) INTO v_rows;
        IF v_rows > 0 THEN
            RAISE EXCEPTION 'two values of column "%" of % map to the same internal id', v_src_col, source
                USING ERRCODE = 'program_limit_exceeded',
                      DETAIL = 'seg_reco.internal_id() hashes text ids to 63 bits; these two collide.',
                      HINT = 'Number the ids yourself (a view over your table with an integer id) and point use_source at that view.';
        END IF;
    END LOOP;

    -- replace the current relation
    v_target := to_regclass(format('seg_reco.%I', relation));
    -- after distribute() (customer_state is distributed by it): a table
    -- would be dropped with its shards, and a source's table was checked
    -- (the per-customer tables co-located with the lines' table)
    IF v_target IS NOT NULL AND seg_reco._citus_distributed('seg_reco.customer_state') THEN
        RAISE EXCEPTION 'seg_reco.% is distributed by Citus (seg_reco.distribute())', relation
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = coalesce((SELECT format('distribute() set seg_reco''s tables up for the current source, %s (the per-customer ones co-located with the customers'' lines).', s.source)
                                       FROM seg_reco.sources s WHERE s.relation = use_source.relation),
                                    'use_source would drop the distributed table and its shards.'),
                  HINT = 'Set the sources before distribute(): DROP EXTENSION seg_reco CASCADE, CREATE EXTENSION seg_reco, use_source, then distribute().';
    END IF;
    IF v_target IS NOT NULL THEN
        SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = v_target;
        IF v_kind = 'r' THEN
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM seg_reco.%I LIMIT 1) x', relation) INTO v_rows;
            IF v_rows > 0 AND NOT discard_data THEN
                RAISE EXCEPTION 'seg_reco.% holds data that replacing it by a view would discard', relation
                    USING ERRCODE = 'object_in_use',
                          HINT = 'Pass discard_data => true to drop the built-in table and its rows.';
            END IF;
        END IF;
    END IF;
    -- On a Citus coordinator, over a distributed or reference table, the
    -- workers hold CREATE EXTENSION's copies of the relation (where Citus
    -- would create the view too and meet them: "is not a view"): the same
    -- view replaces them there, as a member of
    -- the extension (so that DROP EXTENSION takes it; Citus propagates no
    -- ALTER EXTENSION ... ADD), on the workers' own connections (outside
    -- this transaction: if it fails after, use_source again repairs it);
    -- here the view is then made without Citus's propagation.
    IF seg_reco._citus_distributed(source) THEN
        EXECUTE 'SELECT count(*) FROM pg_catalog.citus_get_active_worker_nodes()' INTO v_rows;
        IF v_rows > 0 THEN
            EXECUTE format($w$SELECT string_agg(r.result, '; ') FILTER (WHERE NOT r.success)
                                FROM pg_catalog.run_command_on_workers(%L) r$w$,
                           format($c$DO $d$ DECLARE k "char"; BEGIN
                                     SET LOCAL citus.enable_ddl_propagation = off;
                                     SELECT c.relkind INTO k FROM pg_catalog.pg_class c
                                      WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('seg_reco.%1$I');
                                     IF k IS NOT NULL AND EXISTS (
                                         SELECT 1 FROM pg_catalog.pg_depend d
                                          WHERE d.objid OPERATOR(pg_catalog.=) 'seg_reco.%1$I'::pg_catalog.regclass
                                            AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                                            AND d.deptype OPERATOR(pg_catalog.=) 'e') THEN
                                         IF k OPERATOR(pg_catalog.=) 'r' THEN
                                             ALTER EXTENSION seg_reco DROP TABLE seg_reco.%1$I;
                                         ELSE
                                             ALTER EXTENSION seg_reco DROP VIEW seg_reco.%1$I;
                                         END IF;
                                     END IF;
                                     IF k OPERATOR(pg_catalog.=) 'r' THEN
                                         DROP TABLE seg_reco.%1$I CASCADE;
                                     ELSIF k IS NOT NULL THEN
                                         DROP VIEW seg_reco.%1$I;
                                     END IF;
                                     CREATE VIEW seg_reco.%1$I AS SELECT %2$s FROM %3$s s;
                                     ALTER EXTENSION seg_reco ADD VIEW seg_reco.%1$I;
                                  END $d$$c$, relation, v_select, source))
                INTO v_key;
            IF v_key IS NOT NULL THEN
                RAISE EXCEPTION 'could not replace the Citus workers'' copies of seg_reco.%', relation
                    USING ERRCODE = 'object_in_use', DETAIL = v_key;
            END IF;
            v_propagate := pg_catalog.current_setting('citus.enable_ddl_propagation');
            PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
        END IF;
    END IF;
    IF v_target IS NOT NULL THEN
        IF v_kind = 'r' THEN
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
    IF v_propagate IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', v_propagate, true);
    END IF;

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
        v_cust_expr := coalesce('seg_reco.internal_id(' || seg_reco._text_id_arg(v_cust, v_cust_type) || ')',
                                format('(%s::bigint)', quote_ident(v_cust)));
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname IN ('btree', 'hash')
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = source AND i.indpred IS NULL
               AND CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN a.attname = v_cust
                        ELSE i.indkey[0] = 0
                             AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true) = v_cust_expr
                   END) THEN
            RAISE NOTICE 'no index of % leads with %: every recommend_for will read all its lines', source,
                         CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                              ELSE v_cust_expr END
                USING HINT = format('CREATE INDEX ON %s (%s, %I)', source,
                                    CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                                         ELSE v_cust_expr END, v_ts);
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

    -- change capture (incremental refresh): the capture triggers move to
    -- the user's table; on anything but a plain table changes cannot be
    -- captured, and refresh() runs full.  Either way the next run is full.
    IF relation IN ('transactions', 'digital_events') THEN
        v_old := (SELECT to_regclass(s.source) FROM seg_reco.sources s WHERE s.relation = use_source.relation);
        IF v_old IS NOT NULL AND v_old <> source THEN
            FOREACH v_key IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
                IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                            WHERE g.tgrelid = v_old AND g.tgname = 'seg_reco_capture_' || v_key) THEN
                    EXECUTE format('DROP TRIGGER %I ON %s', 'seg_reco_capture_' || v_key, v_old);
                END IF;
            END LOOP;
        END IF;
        v_capture := seg_reco._capture_install(source, coalesce(columns ->> 'customer_id', 'customer_id'),
                                               CASE WHEN relation = 'transactions' THEN coalesce(columns ->> 'ts', 'ts') END);
        IF v_capture IS NOT NULL THEN
            RAISE NOTICE 'the changes of % are not captured: every refresh() will be full', source
                USING DETAIL = v_capture || '.',
                      HINT = 'Point use_source at a plain table (the triggers need the privilege TRIGGER on it) for incremental refreshes.';
        END IF;
    END IF;
    INSERT INTO seg_reco.dirty_customers (customer_id, reason)
    VALUES (NULL, format('seg_reco.%s now reads from %s (use_source)', relation, source));

    INSERT INTO seg_reco.sources AS s (relation, source, columns)
    VALUES (use_source.relation, source::text, use_source.columns)
    ON CONFLICT ON CONSTRAINT sources_pkey
    DO UPDATE SET source = excluded.source, columns = excluded.columns, defined_at = pg_catalog.now();

    -- seg_reco.source_ids: the text ids of every source, this one included
    FOR v_src IN SELECT so.relation, so.source, so.columns FROM seg_reco.sources so ORDER BY so.relation LOOP
        FOR v_key IN SELECT sc.column_name FROM seg_reco.source_columns sc
                      WHERE sc.relation = v_src.relation
                        AND sc.column_name IN ('customer_id', 'product_id', 'receipt_id')
                      ORDER BY sc.position LOOP
            v_src_col := coalesce(v_src.columns ->> v_key, v_key);
            SELECT a.atttypid INTO v_src_type FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = v_src.source::regclass AND a.attname = v_src_col
               AND a.attnum > 0 AND NOT a.attisdropped;
            v_id_expr := seg_reco._text_id_arg(v_src_col, v_src_type);
            IF v_id_expr IS NOT NULL THEN
                v_ids := v_ids || format('%sSELECT %L::text, seg_reco.internal_id(s.%s), s.%s FROM %s s WHERE s.%I IS NOT NULL',
                                         CASE WHEN v_ids = '' THEN '' ELSE ' UNION ' END,
                                         pg_catalog.replace(v_key, '_id', ''), v_id_expr, v_id_expr,
                                         v_src.source, v_src_col);
            END IF;
        END LOOP;
    END LOOP;
    EXECUTE 'CREATE OR REPLACE VIEW seg_reco.source_ids (kind, id, source_id) AS '
            || CASE WHEN v_ids = '' THEN 'SELECT NULL::text, NULL::bigint, NULL::text WHERE false' ELSE v_ids END;

    RETURN format('seg_reco.%s now reads from %s', relation, source);
END;
$fn$;
COMMENT ON FUNCTION seg_reco.use_source(text, regclass, jsonb, boolean) IS 'replace a source relation (customers, products, transactions, digital_events) by a view over your own table, mapping column names; text customer, product and receipt ids are read as seg_reco.internal_id (mapped back by seg_reco.source_ids)';
REVOKE EXECUTE ON FUNCTION seg_reco.use_source(text, regclass, jsonb, boolean) FROM PUBLIC;

-- refresh step: fit and store the purchase and spend models, score customers.
-- When the configured purchase model (setting btyd_model) has no interior
-- optimum on the data (its fit does not converge), the values come from the
-- first model that fits, in this order: the configured model, the other
-- one (bgnbd/mbgnbd), then the same two with a purchase-model penalizer of
-- 0.001 (when btyd_penalizer is smaller; the spend model keeps
-- btyd_penalizer, as a penalizer pulls its q towards 0).  The summaries are
-- those of seg_reco.customer_state (the customer_features step writes it)
-- at the date of the latest member line.  customer_value.model
-- and the log name the model used and the ones that did not fit.  A spend
-- model that does not fit, too few customers or a bad setting skip the step.
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
                v_model := seg_reco._btyd_train('customer_btyd', NULL, v_unit, v_try.penalizer,
                                                v_try.model, v_pen, false, true);
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
      FROM seg_reco._btyd_scores_from_state('customer_btyd', v_model.calibration_end,
                                            (seg_reco.setting('at_risk_p_alive'))::float8) s;
    RETURN jsonb_build_object('model', v_model.kind, 'penalizer', v_model.penalizer,
                              'log_likelihood', round(v_model.log_likelihood::numeric, 1))
           || CASE WHEN jsonb_array_length(v_failed) = 0 THEN '{}'::jsonb
                   ELSE jsonb_build_object('configured_model', v_configured, 'not_fitted', v_failed) END;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.refresh_value() IS 'refresh step: fit and store customer_btyd (the configured purchase model, else the first of the other model and the two with a purchase penalizer of 0.001 that fits), write probability alive, expected purchases, CLV, at-risk and the model used per customer';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_value() FROM PUBLIC;

-- customer_features and customer_segments read the state now: the views
-- that depend on them go and come back as they were, filled from the state
-- of the lines at the update (one pass over them)
DROP VIEW seg_reco.cluster_profiles;
DROP FUNCTION seg_reco.cluster_feature_vector(seg_reco.customer_features);
DROP MATERIALIZED VIEW seg_reco.segment_summary;
DROP MATERIALIZED VIEW seg_reco.customer_segments;
DROP MATERIALIZED VIEW seg_reco.customer_features;
DO $upgrade$
DECLARE
    v_as_of date := seg_reco.default_as_of();
BEGIN
    IF v_as_of IS NOT NULL THEN
        PERFORM seg_reco._customer_state_update(v_as_of, NULL);
        INSERT INTO seg_reco.refresh_state (one_row, as_of, member_as_of, time_zone, state_at)
        VALUES (true, v_as_of, (SELECT max(s.last_line_ts) FROM seg_reco.customer_state s)::date,
                pg_catalog.current_setting('TimeZone'), pg_catalog.clock_timestamp());
    END IF;
END;
$upgrade$;
CREATE MATERIALIZED VIEW seg_reco.customer_features AS
SELECT * FROM seg_reco._customer_features_from_state();
CREATE UNIQUE INDEX customer_features_customer_id_idx ON seg_reco.customer_features (customer_id);
COMMENT ON MATERIALIZED VIEW seg_reco.customer_features IS 'customer feature table of the pipeline: compute_customer_features() at the date of the latest line, derived from seg_reco.customer_state (refreshed by seg_reco.refresh)';

-- The feature vector the customer clusters are trained on, in this order;
-- log1p is applied to the first five (skewed days, counts and money), then
-- every column is standardised (the transform is stored with the models).
-- Recency is in twice, so it weighs double: whether a customer is still
-- active is the first thing a segment must tell (with single weight the
-- lapsed customers spread over the behaviour clusters).
CREATE FUNCTION seg_reco.cluster_feature_vector(f seg_reco.customer_features)
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY[f.recency_days, f.recency_days, f.frequency, f.basket_nok, f.basket_lines,
             f.weekday_morning_share, f.own_brand_share, f.organic_share,
             f.meat_fish_share, f.baby_share]::float8[];
COMMENT ON FUNCTION seg_reco.cluster_feature_vector(seg_reco.customer_features) IS 'the features customer clusters are trained on: recency (twice), frequency, basket NOK, basket lines (log1p), weekday-morning, own-brand, organic, meat/fish and baby shares';

CREATE MATERIALIZED VIEW seg_reco.customer_segments AS
SELECT r.customer_id, r.as_of_date, r.first_purchase, r.last_purchase,
       r.recency_days, r.frequency, r.monetary,
       r.r_score, r.f_score, r.m_score, r.rfm_code, r.segment,
       c.cluster, c.cluster_name, c.gmm_component, c.gmm_probability,
       v.p_alive, v.expected_purchases_90d, v.clv_12m, v.at_risk, v.model AS value_model
  FROM seg_reco._rfm_from_state() r
  LEFT JOIN seg_reco.customer_clusters c ON c.customer_id = r.customer_id
  LEFT JOIN seg_reco.customer_value v ON v.customer_id = r.customer_id;
CREATE UNIQUE INDEX customer_segments_customer_id_idx ON seg_reco.customer_segments (customer_id);
CREATE INDEX customer_segments_segment_idx ON seg_reco.customer_segments (segment);
CREATE INDEX customer_segments_cluster_name_idx ON seg_reco.customer_segments (cluster_name);
COMMENT ON MATERIALIZED VIEW seg_reco.customer_segments IS 'one row per customer: RFM values, scores, code and segment; cluster and its name; mixture probability; probability alive, expected purchases, CLV, at-risk and the purchase model that produced them (refreshed by seg_reco.refresh)';

-- One row per RFM segment (kind 'rfm') and per customer cluster (kind 'cluster').
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

-- The profile of each customer cluster in the units analysts know.
CREATE VIEW seg_reco.cluster_profiles AS
SELECT c.cluster, c.cluster_name, count(*) AS customers,
       round(avg(f.recency_days), 0) AS recency_days,
       round(avg(f.frequency), 1) AS frequency,
       round(avg(f.monetary), 0) AS monetary,
       round(avg(f.basket_nok)::numeric, 0) AS basket_nok,
       round(avg(f.basket_lines)::numeric, 1) AS basket_lines,
       round(avg(f.weekday_morning_share)::numeric, 2) AS weekday_morning_share,
       round(avg(f.own_brand_share)::numeric, 2) AS own_brand_share,
       round(avg(f.organic_share)::numeric, 2) AS organic_share,
       round(avg(f.meat_fish_share)::numeric, 2) AS meat_fish_share,
       round(avg(f.baby_share)::numeric, 3) AS baby_share,
       round(avg(c.gmm_probability)::numeric, 2) AS mean_gmm_probability
  FROM seg_reco.customer_clusters c
  JOIN seg_reco.customer_features f USING (customer_id)
 GROUP BY c.cluster, c.cluster_name;
COMMENT ON VIEW seg_reco.cluster_profiles IS 'mean behaviour of each customer cluster';

ALTER TABLE seg_reco.refresh_log ADD COLUMN kind text;
COMMENT ON COLUMN seg_reco.refresh_log.kind IS 'the kind of run: full (every line read, every model trained) or incremental (the changed customers recomputed, the models kept); NULL for runs before 0.2.0';

-- The settings a full run trains the models with: a change of any of them
-- makes the next run full (refresh_mode, full_retrain_days and
-- recommendations_lock_timeout_ms change no model).
CREATE FUNCTION seg_reco._model_settings() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT jsonb_object_agg(d.key, coalesce(s.value, d.value) ORDER BY d.key)
      FROM seg_reco.setting_defaults d
      LEFT JOIN seg_reco.settings s ON s.key = d.key
     WHERE d.key NOT IN ('refresh_mode', 'full_retrain_days', 'recommendations_lock_timeout_ms')
$fn$;
COMMENT ON FUNCTION seg_reco._model_settings() IS 'refresh() helper: the settings the models are trained with (a change makes the next run full)';
REVOKE EXECUTE ON FUNCTION seg_reco._model_settings() FROM PUBLIC;

-- Which kind of run refresh() does: {"kind": "full" | "incremental",
-- "reason": why, "mode": the mode asked for}.  mode: the argument of
-- refresh(), NULL for the setting refresh_mode.  "full" always runs full.
-- "auto" and "incremental" run incremental unless a full run is needed:
-- no full run yet, a TRUNCATE or use_source since, another TimeZone than
-- the state's, changes that cannot be captured (a view over something else
-- than a plain table, capture triggers disabled), a model of the last full
-- run missing or not trained then, settings changed since; "auto" also
-- when the last full run is full_retrain_days old.
CREATE FUNCTION seg_reco._refresh_plan(mode text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_mode text := mode;
    v_setting jsonb;
    v_days jsonb := seg_reco.setting('full_retrain_days');
    v_state seg_reco.refresh_state;
    v_reason text;
BEGIN
    IF v_mode IS NULL THEN
        v_setting := seg_reco.setting('refresh_mode');
        v_mode := CASE WHEN jsonb_typeof(v_setting) = 'string' THEN v_setting #>> '{}' END;
        IF v_mode IS NULL OR v_mode NOT IN ('auto', 'incremental', 'full') THEN
            RAISE EXCEPTION 'setting refresh_mode must be "auto", "incremental" or "full", got %', v_setting
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'It chooses what CALL seg_reco.refresh() runs.',
                      HINT = 'Change or delete its row in seg_reco.settings.';
        END IF;
    ELSIF v_mode NOT IN ('auto', 'incremental', 'full') THEN
        RAISE EXCEPTION 'unknown refresh mode "%"', v_mode
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''auto'', ''incremental'' or ''full'' (NULL: the setting refresh_mode).';
    END IF;
    IF jsonb_typeof(v_days) IS DISTINCT FROM 'number' OR (v_days #>> '{}')::numeric NOT BETWEEN 0 AND 3650
       OR (v_days #>> '{}')::numeric <> trunc((v_days #>> '{}')::numeric) THEN
        RAISE EXCEPTION 'setting full_retrain_days must be a whole number of days from 0 to 3650, got %', v_days
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'In refresh_mode "auto" a run is full when the last full run is at least this many days old.',
                  HINT = 'Change or delete its row in seg_reco.settings.';
    END IF;
    IF v_mode = 'full' THEN
        RETURN jsonb_build_object('kind', 'full', 'mode', v_mode,
                                  'reason', CASE WHEN mode IS NULL THEN 'setting refresh_mode is "full"' ELSE 'asked for' END);
    END IF;
    SELECT * INTO v_state FROM seg_reco.refresh_state;
    IF v_state.last_full_run IS NULL OR v_state.as_of IS NULL THEN
        v_reason := 'no full run yet';
    END IF;
    IF v_reason IS NULL THEN
        SELECT coalesce(d.reason, 'every customer is marked') INTO v_reason
          FROM seg_reco.dirty_customers d WHERE d.customer_id IS NULL LIMIT 1;
    END IF;
    IF v_reason IS NULL AND v_state.time_zone IS DISTINCT FROM current_setting('TimeZone') THEN
        v_reason := format('TimeZone is %s, the customer state was computed in %s',
                           current_setting('TimeZone'), v_state.time_zone);
    END IF;
    IF v_reason IS NULL THEN
        v_reason := seg_reco._capture_status();
    END IF;
    IF v_reason IS NULL AND NOT v_state.models_complete THEN
        v_reason := 'the last full run did not train every model';
    END IF;
    IF v_reason IS NULL AND (SELECT count(*) FROM seg_reco.models m
                              WHERE (m.name, m.kind) IN (('customer_kmeans', 'kmeans'), ('customer_gmm', 'gmm'),
                                                         ('customer_btyd', 'bgnbd'), ('customer_btyd', 'mbgnbd'),
                                                         ('default', 'als'))) < 4 THEN
        v_reason := 'a model of the last full run is missing';
    END IF;
    IF v_reason IS NULL AND v_state.model_settings IS DISTINCT FROM seg_reco._model_settings() THEN
        v_reason := 'settings changed since the last full run';
    END IF;
    IF v_reason IS NULL AND v_mode = 'auto'
       AND now() - v_state.last_full_at >= (v_days #>> '{}')::integer * interval '1 day' THEN
        v_reason := format('the last full run is at least %s days old (full_retrain_days)', v_days);
    END IF;
    RETURN jsonb_build_object('kind', CASE WHEN v_reason IS NULL THEN 'incremental' ELSE 'full' END,
                              'mode', v_mode)
           || CASE WHEN v_reason IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('reason', v_reason) END;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._refresh_plan(text) IS 'refresh() helper: whether this run is full or incremental, and why (mode: auto, incremental, full; NULL: the setting refresh_mode)';
REVOKE EXECUTE ON FUNCTION seg_reco._refresh_plan(text) FROM PUBLIC;

-- incremental refresh step clusters: every customer assigned with the
-- stored customer_kmeans and customer_gmm (recency moves every day), each
-- cluster keeping the name the last run gave it.
CREATE FUNCTION seg_reco._refresh_clusters_stored() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_km seg_reco.kmeans_model := seg_reco.kmeans_load('customer_kmeans');
    v_gm seg_reco.gmm_model := seg_reco.gmm_load('customer_gmm');
BEGIN
    CREATE TEMP TABLE _seg_reco_names ON COMMIT DROP AS
    SELECT DISTINCT c.cluster, c.cluster_name FROM seg_reco.customer_clusters c;
    DELETE FROM seg_reco.customer_clusters;
    INSERT INTO seg_reco.customer_clusters (customer_id, cluster, cluster_name, distance, gmm_component, gmm_probability)
    SELECT f.customer_id, (f.a).cluster,
           coalesce((SELECT n.cluster_name FROM _seg_reco_names n WHERE n.cluster = (f.a).cluster),
                    'Cluster ' || (f.a).cluster),
           (f.a).distance,
           (SELECT i FROM unnest(f.p) WITH ORDINALITY u(v, i) ORDER BY v DESC, i LIMIT 1)::integer,
           (SELECT max(v) FROM unnest(f.p) v)
      FROM (SELECT c.customer_id,
                   seg_reco.kmeans_assign_distance(seg_reco.cluster_feature_vector(c), v_km) AS a,
                   seg_reco.gmm_proba(seg_reco.cluster_feature_vector(c), v_gm) AS p
              FROM seg_reco.customer_features c) f;
    DROP TABLE _seg_reco_names;
    RETURN jsonb_build_object('models', 'kept', 'k', (SELECT count(DISTINCT c.cluster) FROM seg_reco.customer_clusters c));
END;
$fn$;
COMMENT ON FUNCTION seg_reco._refresh_clusters_stored() IS 'incremental refresh step: assigns every customer with the stored customer_kmeans and customer_gmm, keeping the cluster names';
REVOKE EXECUTE ON FUNCTION seg_reco._refresh_clusters_stored() FROM PUBLIC;

-- incremental refresh step customer_value: every customer scored with the
-- stored customer_btyd fit, at the date of the latest member line (the
-- age t of every customer moves every day).
CREATE FUNCTION seg_reco._refresh_value_stored() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_model seg_reco.btyd_models := seg_reco._btyd_model('customer_btyd');
    v_end date := (SELECT m.member_as_of FROM seg_reco.refresh_state m);
    v_label text;
BEGIN
    DELETE FROM seg_reco.customer_value;
    v_label := v_model.kind || CASE WHEN v_model.penalizer > 0
                                    THEN format(' (penalizer %s)', v_model.penalizer) ELSE '' END;
    INSERT INTO seg_reco.customer_value
        (customer_id, p_alive, expected_purchases_90d, expected_spend, clv_12m, at_risk, model)
    SELECT s.customer_id, s.p_alive, s.expected_purchases_90d, s.expected_spend, s.clv_12m, s.at_risk, v_label
      FROM seg_reco._btyd_scores_from_state('customer_btyd', v_end,
                                            (seg_reco.setting('at_risk_p_alive'))::float8) s;
    RETURN jsonb_build_object('model', v_model.kind, 'penalizer', v_model.penalizer, 'models', 'kept',
                              'fitted_to', v_model.calibration_end, 'scored_at', v_end);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._refresh_value_stored() IS 'incremental refresh step: scores every customer with the stored customer_btyd fit at the date of the latest member line';
REVOKE EXECUTE ON FUNCTION seg_reco._refresh_value_stored() FROM PUBLIC;


-- issue 12, incremental nightly refresh: ALS fold-in (als_fold_in) and the
-- partial rebuild of the recommendations (refresh_recommendations(bigint[]),
-- recommend_all and pipeline_recommendations restricted to customer_ids,
-- recommendations_active.inputs)
DROP FUNCTION seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date);
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
COMMENT ON FUNCTION seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date, bigint[]) IS 'the hybrid top-n of recommend_for for every customer of an als model (or those of customer_ids), als scored in blocks with BLAS, purchases read in one pass (for the recommendations view)';

CREATE FUNCTION seg_reco.als_fold_in(model text, customer_ids bigint[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'seg_reco_als_fold_in'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.als_fold_in(text, bigint[]) IS 'solves the given customers'' factors again from their current interactions against the als model''s fixed product factors and writes them in place (new customers added, customers without interactions removed); returns the counts';
REVOKE EXECUTE ON FUNCTION seg_reco.als_fold_in(text, bigint[]) FROM PUBLIC;

DROP FUNCTION seg_reco.pipeline_recommendations();
CREATE FUNCTION seg_reco.pipeline_recommendations(customer_ids bigint[] DEFAULT NULL)
RETURNS TABLE (customer_id bigint, product_id bigint, score float8, rank integer, source text,
               sources text[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_n integer := (seg_reco.setting('recommendations_per_customer'))::integer;
    v_div float8 := (seg_reco.setting('recommendations_diversity'))::float8;
    v_cap integer := (seg_reco.setting('recommendations_max_per_category') #>> '{}')::integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM seg_reco.models m WHERE m.name = 'default' AND m.kind = 'als') THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT r.customer_id, r.product_id, r.score, r.rank, coalesce(r.sources[1], 'als'), r.sources
      FROM seg_reco.recommend_all('default', v_n, diversity => v_div,
                                  max_per_category => v_cap, customer_ids => customer_ids) r;
    -- customer_ids: through the primary key, not a scan of every customer.
    -- The customers the model does not know are chosen first (MATERIALIZED):
    -- on Citus seg_reco.customers and als_customer_factors are distributed
    -- (co-located: the choice runs in the shards), and recommend_for then
    -- runs on the coordinator over the intermediate result.
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT c.customer_id
          FROM seg_reco.customers c
         WHERE (pipeline_recommendations.customer_ids IS NULL
                OR c.customer_id IN (SELECT DISTINCT i.id FROM unnest(pipeline_recommendations.customer_ids) i(id)))
           AND NOT EXISTS (SELECT 1 FROM seg_reco.als_customer_factors f
                            WHERE f.model = 'default' AND f.customer_id = c.customer_id))
    SELECT c.customer_id, r.product_id, r.score, r.rank, coalesce(r.sources[1], 'popularity'), r.sources
      FROM c
      CROSS JOIN LATERAL seg_reco.recommend_for(c.customer_id, v_n, diversity => v_div,
                                                max_per_category => v_cap) r;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.pipeline_recommendations(bigint[]) IS 'top-N products per customer (or per customer of customer_ids) from the hybrid blend with the default ALS model (recommend_all), recommend_for (fold-in or demographic cold start) for customers the model does not know';

ALTER TABLE seg_reco.recommendations_active ADD COLUMN inputs jsonb;
COMMENT ON TABLE seg_reco.recommendations_active IS 'the slot seg_reco.recommendations serves (a or b), the number of swaps so far (generation), the time of the last swap and the global inputs of the last full rebuild of the lists (_recommendations_inputs(); a partial rebuild keeps them) (one row; changed by seg_reco.refresh)';
COMMENT ON COLUMN seg_reco.recommendations_active.inputs IS 'what every served list was computed with at the last full rebuild (model version, content version, popularity build, settings, catalogue, as_of); a partial rebuild keeps it and reports what changed since';

CREATE FUNCTION seg_reco._recommendations_inputs() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT jsonb_build_object(
    'als_model', (SELECT m.model -> 'version' FROM seg_reco.models m
                   WHERE m.name = 'default' AND m.kind = 'als'),
    'content', (SELECT to_jsonb(c.version) FROM seg_reco.content_version c),
    'popularity', (SELECT to_jsonb(p.built_at) FROM seg_reco.popularity_info p),
    'settings', (SELECT jsonb_object_agg(k, seg_reco.setting(k))
                   FROM unnest(ARRAY['hybrid_weights', 'recommendations_per_customer',
                                     'recommendations_diversity', 'recommendations_max_per_category']) k),
    'catalogue', (SELECT md5(string_agg(p.product_id::text || ' ' || p.active::text || ' ' || p.category,
                                        ',' ORDER BY p.product_id))
                    FROM seg_reco.products p),
    'as_of', coalesce((SELECT m.params -> 'options' -> 'as_of' FROM seg_reco.models m
                        WHERE m.name = 'default' AND m.kind = 'als'),
                      to_jsonb(seg_reco.default_as_of())))
$fn$;
COMMENT ON FUNCTION seg_reco._recommendations_inputs() IS 'refresh helper: the global inputs of the recommendation lists (model and content versions, popularity build, settings, catalogue, as_of), stored with a full rebuild and compared by a partial one';
REVOKE EXECUTE ON FUNCTION seg_reco._recommendations_inputs() FROM PUBLIC;

CREATE FUNCTION seg_reco._recommendations_fill(customer_ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_served text;
    v_slot text;
    v_rel regclass;
    v_generation bigint;
    v_deleted bigint := 0;
    v_rows bigint;
    v_built integer := 0;
    v_ids bigint[];
    v_inputs jsonb := seg_reco._recommendations_inputs();
    v_full_inputs jsonb;
    v_partial boolean := customer_ids IS NOT NULL;
    v_result jsonb;
    v_at timestamptz;
BEGIN
    -- one change of the slots at a time (readers take no lock that conflicts)
    LOCK TABLE seg_reco.recommendations_active IN SHARE ROW EXCLUSIVE MODE;
    SELECT a.slot, CASE a.slot WHEN 'a' THEN 'b' ELSE 'a' END, a.generation + 1, a.inputs
      INTO v_served, v_slot, v_generation, v_full_inputs
      FROM seg_reco.recommendations_active a;
    IF v_partial THEN
        v_ids := ARRAY(SELECT DISTINCT u.id FROM unnest(customer_ids) u(id) ORDER BY u.id);
        -- nothing served yet: a full fill
        v_partial := v_generation > 1;
    END IF;
    IF v_partial THEN
        -- in the served slot: readers see the old rows until the commit
        v_slot := v_served;
        v_rel := format('seg_reco.recommendations_%s', v_slot)::regclass;
        EXECUTE format('DELETE FROM %s r WHERE r.customer_id = ANY ($1)', v_rel) USING v_ids;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
        EXECUTE format('INSERT INTO %s (customer_id, rank, product_id, score, source, sources)
                        SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
                          FROM seg_reco.pipeline_recommendations($1) r', v_rel)
            USING v_ids;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        -- (the time as a value: after distribute() this is a reference
        -- table, whose writes Citus runs without volatile functions)
        v_at := clock_timestamp();
        UPDATE seg_reco.recommendations_active SET generation = v_generation, swapped_at = v_at;
        RETURN jsonb_build_object('rows', v_rows, 'slot', v_slot, 'generation', v_generation,
                                  'deleted_rows', v_deleted, 'indexes_built', 0,
            'kind', 'partial', 'customers', cardinality(v_ids), 'computed_rows', v_rows,
            -- what differs from the inputs of the last full rebuild (as_of apart)
            'inputs_changed', CASE WHEN v_full_inputs IS NULL THEN '["unknown"]'::jsonb
                                   ELSE coalesce((SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(v_inputs) k
                                                   WHERE k <> 'as_of' AND v_inputs -> k IS DISTINCT FROM v_full_inputs -> k),
                                                 '[]'::jsonb) END,
            'as_of', v_inputs -> 'as_of', 'as_of_full', v_full_inputs -> 'as_of');
    END IF;
    v_rel := format('seg_reco.recommendations_%s', v_slot)::regclass;
    -- (nothing to delete when a TRUNCATE emptied it; no size test: on Citus
    -- the size of a distributed slot cannot be asked in this transaction)
    EXECUTE format('DELETE FROM %s', v_rel);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    EXECUTE format('INSERT INTO %s (customer_id, rank, product_id, score, source, sources)
                    SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
                      FROM seg_reco.pipeline_recommendations(NULL) r', v_rel);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF to_regclass(format('seg_reco.recommendations_%s_customer_rank_idx', v_slot)) IS NULL THEN
        EXECUTE format('CREATE UNIQUE INDEX recommendations_%s_customer_rank_idx ON %s (customer_id, rank)', v_slot, v_rel);
        v_built := v_built + 1;
    END IF;
    IF to_regclass(format('seg_reco.recommendations_%s_product_idx', v_slot)) IS NULL THEN
        EXECUTE format('CREATE INDEX recommendations_%s_product_idx ON %s (product_id)', v_slot, v_rel);
        v_built := v_built + 1;
    END IF;
    EXECUTE format('ANALYZE %s', v_rel);
    v_at := clock_timestamp();
    UPDATE seg_reco.recommendations_active
       SET slot = v_slot, generation = v_generation, swapped_at = v_at, inputs = v_inputs;
    v_result := jsonb_build_object('rows', v_rows, 'slot', v_slot, 'generation', v_generation,
                                   'deleted_rows', v_deleted, 'indexes_built', v_built);
    IF customer_ids IS NULL THEN
        RETURN v_result;
    END IF;
    RETURN v_result || jsonb_build_object(
        'kind', 'full', 'customers', cardinality(v_ids), 'computed_rows', v_rows,
        'inputs_changed', '[]'::jsonb, 'as_of', v_inputs -> 'as_of', 'as_of_full', v_inputs -> 'as_of');
END;
$fn$;
COMMENT ON FUNCTION seg_reco._recommendations_fill(bigint[]) IS 'refresh helper: fills the idle recommendations slot with everyone''s lists and swaps it in, or (customer_ids) replaces those customers'' lists in the served slot';
REVOKE EXECUTE ON FUNCTION seg_reco._recommendations_fill(bigint[]) FROM PUBLIC;

-- refresh step: the lists of pipeline_recommendations() for everyone
-- written into the idle slot of seg_reco.recommendations and swapped in
-- (_recommendations_fill); the inputs they were computed with are kept in
-- recommendations_active.inputs.
CREATE FUNCTION seg_reco.refresh_recommendations() RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT seg_reco._recommendations_fill(NULL)
$fn$;
COMMENT ON FUNCTION seg_reco.refresh_recommendations() IS 'refresh step: writes the lists of pipeline_recommendations() into the idle slot of the recommendations view and swaps it in (served from the commit of the caller''s transaction)';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_recommendations() FROM PUBLIC;

CREATE FUNCTION seg_reco.refresh_recommendations(customer_ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF customer_ids IS NULL THEN
        RAISE EXCEPTION 'customer_ids must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the customers whose lists to recompute (''{}'' for none), or call seg_reco.refresh_recommendations() for everyone.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(customer_ids) u(id) WHERE u.id IS NULL) THEN
        RAISE EXCEPTION 'customer_ids must not contain NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Filter the NULLs out, for example with array_remove(ids, NULL).';
    END IF;
    RETURN seg_reco._recommendations_fill(customer_ids);
END;
$fn$;
COMMENT ON FUNCTION seg_reco.refresh_recommendations(bigint[]) IS 'partial rebuild: fresh lists for the given customers and the served lists of all others, written into the idle slot of the recommendations view and swapped in; reports what changed since the last full rebuild';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_recommendations(bigint[]) FROM PUBLIC;

-- Issue 15: seg_reco.distribute(), as in sql/src/15_citus.sql.
-- distribute(): on the coordinator of a Citus cluster, distribute the
-- source tables by customer id, co-located with seg_reco.customers, and make
-- products a reference table.  This first step covers the sources
-- (customers, transactions, digital_events, demo_truth, products); the
-- models, factors and per-customer outputs follow (README, Scale-out on
-- Citus).  What Citus requires and a single node does not:
-- - no NULL in a distribution column: the non-members' lines (customer_id
--   NULL) move to seg_reco.nonmember_transactions, distributed by
--   receipt_id (a receipt stays whole); the per-customer steps never read
--   them;
-- - every primary key contains the distribution column: transactions
--   (customer_id, line_id), digital_events (customer_id, event_id);
-- - foreign keys to a distributed table only from a co-located one, on
--   the customer id: they are dropped before and re-created after.
-- Tables with triggers are refused, naming them (Citus distributes none).
-- Sources set by use_source stay views over the user's tables, which must
-- already be Citus tables as seg_reco's own would become (checked first);
-- the per-customer tables are then co-located with the user's lines.
-- Each table already distributed is left as it is, so a second call does
-- nothing.  Without Citus it is an error and changes nothing: a single node
-- keeps its keys and behaviour.  The workers' own (empty) copies of the
-- extension's tables serve Citus as the tables' shells.
CREATE FUNCTION seg_reco.distribute()
RETURNS TABLE (relation text, distribution text, action text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_n bigint;
    v_t record;
    v_fk record;
    v_fks text[] := '{}';
    v_def text;
    v_worker_ddl text[] := '{}';
    v_ok boolean;
    v_msg text;
    v_src record;
    v_type regtype;
    v_method text;
    v_colocation integer;
    v_dist text;
    v_anchor text := 'seg_reco.customers';
    v_coloc integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION 'seg_reco.distribute() needs Citus'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The extension citus is not created in this database.',
                  HINT = 'Run it on the coordinator of a Citus cluster (CREATE EXTENSION citus, then the workers with citus_add_node); on a single node seg_reco needs no distribution.';
    END IF;
    EXECUTE 'SELECT count(*) FROM pg_catalog.citus_get_active_worker_nodes()' INTO v_n;
    IF v_n = 0 THEN
        RAISE EXCEPTION 'the Citus cluster has no active worker'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'pg_catalog.citus_get_active_worker_nodes() returns no row.',
                  HINT = 'Add the workers first: SELECT citus_add_node(host, port) on the coordinator.';
    END IF;
    -- foreign keys to a reference table: Citus then needs one connection
    -- per node for the whole transaction
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    -- sources set by use_source (views over your tables): the tables
    -- behind them must already be what seg_reco's own would become, checked
    -- before anything changes: the lines, digital events and customers
    -- distributed by the column their customer_id reads, a bigint (the
    -- view then hands Citus that very column; through a cast or a text
    -- id's internal_id() Citus sees no distribution column, and it
    -- co-locates only columns of one type), all co-located; products a
    -- reference table.  The views stay; seg_reco's per-customer tables are
    -- co-located with the first of those tables (v_anchor), and so are the
    -- serving functions.
    FOR v_src IN
        SELECT s.relation, s.source, pg_catalog.to_regclass(s.source) AS src,
               coalesce(s.columns ->> x.id_column, x.id_column) AS col
          FROM seg_reco.sources s
         CROSS JOIN LATERAL (SELECT CASE WHEN s.relation = 'products' THEN 'product_id' ELSE 'customer_id' END) x(id_column)
         ORDER BY pg_catalog.array_position(ARRAY['transactions', 'digital_events', 'customers', 'products'], s.relation)
    LOOP
        IF v_src.src IS NULL THEN
            RAISE EXCEPTION 'the source of seg_reco.%, %, does not exist', v_src.relation, v_src.source
                USING ERRCODE = 'undefined_table',
                      HINT = 'Point use_source at an existing table first.';
        END IF;
        v_method := NULL; v_colocation := NULL; v_dist := NULL;
        EXECUTE 'SELECT d.partmethod::text, d.colocationid, pg_catalog.column_to_column_name(d.logicalrelid, d.partkey)
                   FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1'
           INTO v_method, v_colocation, v_dist USING v_src.src;
        IF v_src.relation = 'products' THEN
            IF v_method IS DISTINCT FROM 'n' THEN
                RAISE EXCEPTION '%, the source of seg_reco.products, is not a Citus reference table', v_src.src
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Every node reads the products beside the lines of its shards.',
                          HINT = CASE WHEN v_method IS NULL THEN format('SELECT create_reference_table(%L);', v_src.src::text)
                                      ELSE format('SELECT undistribute_table(%L); SELECT create_reference_table(%L);',
                                                  v_src.src::text, v_src.src::text) END;
            END IF;
            CONTINUE;
        END IF;
        SELECT a.atttypid INTO v_type FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_src.src AND a.attname = v_src.col AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_type IS DISTINCT FROM 'pg_catalog.int8'::regtype THEN
            RAISE EXCEPTION 'column "%" of %, the customer id of seg_reco.%, is of type %, not bigint',
                            v_src.col, v_src.src, v_src.relation, v_type
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'seg_reco''s per-customer tables are co-located with it by their bigint customer_id: Citus co-locates only columns of one type, and sees no distribution column through a cast or a text id''s internal_id().',
                      HINT = 'Give the table a bigint customer column to distribute by (for text ids: seg_reco.internal_id(your id)), and point use_source at it.';
        END IF;
        IF v_method IS DISTINCT FROM 'h' OR v_dist IS DISTINCT FROM v_src.col THEN
            RAISE EXCEPTION '%, the source of seg_reco.%, is not distributed by its customer column "%"',
                            v_src.src, v_src.relation, v_src.col
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN v_method IS NULL THEN 'It is a local table of the coordinator.'
                                    WHEN v_method = 'h' THEN format('It is distributed by "%s".', v_dist)
                                    ELSE 'It is a reference table.' END,
                      -- (Citus distributes no table with triggers: seg_reco's
                      -- capture triggers, put there by use_source, go first)
                      HINT = coalesce((SELECT pg_catalog.string_agg(format('DROP TRIGGER %I ON %s; ', g.tgname, v_src.src), '' ORDER BY g.tgname)
                                         FROM pg_catalog.pg_trigger g
                                        WHERE g.tgrelid = v_src.src AND g.tgfoid = 'seg_reco._capture_changes()'::pg_catalog.regprocedure), '')
                             || CASE WHEN v_method = 'h'
                                  THEN format('SELECT alter_distributed_table(%L, distribution_column => %L%s);',
                                              v_src.src::text, v_src.col,
                                              CASE WHEN v_coloc IS NOT NULL THEN format(', colocate_with => %L', v_anchor) ELSE '' END)
                                  ELSE CASE WHEN v_method IS NULL THEN '' ELSE format('SELECT undistribute_table(%L); ', v_src.src::text) END
                                       || format('SELECT create_distributed_table(%L, %L%s);', v_src.src::text, v_src.col,
                                                 CASE WHEN v_coloc IS NOT NULL THEN format(', colocate_with => %L', v_anchor) ELSE '' END) END;
        END IF;
        IF v_coloc IS NULL THEN
            v_anchor := v_src.src::text;
            v_coloc := v_colocation;
        ELSIF v_colocation <> v_coloc THEN
            RAISE EXCEPTION '% and %, the sources of seg_reco''s customers'' rows, are not co-located', v_src.src, v_anchor
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'A customer''s lines, digital events and record must be in shards on one node.',
                      HINT = format('SELECT update_distributed_table_colocation(%L, colocate_with => %L);', v_src.src::text, v_anchor);
        END IF;
    END LOOP;

    -- the tables of this step: what they become
    CREATE TEMP TABLE IF NOT EXISTS distribute_plan
        (ord integer, rel text, dist text, pkey text) ON COMMIT DROP;
    TRUNCATE distribute_plan;
    INSERT INTO distribute_plan VALUES
        (1, 'products', 'reference', NULL),
        (2, 'customers', 'customer_id', NULL),
        (3, 'transactions', 'customer_id', 'customer_id, line_id'),
        (4, 'digital_events', 'customer_id', 'customer_id, event_id'),
        (5, 'demo_truth', 'customer_id', NULL),
        -- what the serving functions read, so that a call delegated to the
        -- worker holding the customer finds it there: the global tables
        -- (settings, models, product factors, content vectors, popularity,
        -- rules) as reference tables, the customer's own rows (factors,
        -- next-basket neighbours) co-located with customers
        (6, 'setting_defaults', 'reference', NULL),
        (7, 'settings', 'reference', NULL),
        (8, 'models', 'reference', NULL),
        (9, 'als_product_factors', 'reference', NULL),
        (10, 'content_terms', 'reference', NULL),
        (11, 'product_content', 'reference', NULL),
        (12, 'content_version', 'reference', NULL),
        (13, 'segment_popularity', 'reference', NULL),
        (14, 'popularity_info', 'reference', NULL),
        (15, 'product_rules', 'reference', NULL),
        (16, 'product_rules_info', 'reference', NULL),
        (17, 'als_customer_factors', 'customer_id', NULL),
        (18, 'nextbasket_neighbours', 'customer_id', NULL),
        -- the per-customer outputs refresh() writes, co-located with
        -- customers: the clusters, the customer value, both recommendation
        -- slots (the view recommendations reads the one
        -- recommendations_active, a coordinator table, names) and the tables
        -- behind the views customer_features and customer_segments
        (19, 'customer_clusters', 'customer_id', NULL),
        (20, 'customer_value', 'customer_id', NULL),
        (21, 'recommendations_a', 'customer_id', NULL),
        (22, 'recommendations_b', 'customer_id', NULL),
        (23, 'customer_feature_values', 'customer_id', NULL),
        (24, 'customer_rfm', 'customer_id', NULL),
        -- the per-customer partial sums the features, RFM values and
        -- customer value are derived from: written and read in the shards
        (25, 'customer_state', 'customer_id', NULL),
        -- the editable maps the per-customer steps read (RFM segments, the
        -- clusters' names) and the experiments, as reference tables; the
        -- per-customer months of the cohorts, the contact history and the
        -- A/B assignments co-located with customers (the cohort cells, a
        -- small summary, stay on the coordinator)
        (26, 'rfm_segments', 'reference', NULL),
        (27, 'cluster_names', 'reference', NULL),
        (28, 'ab_experiments', 'reference', NULL),
        (29, 'cohort_customer_months', 'customer_id', NULL),
        (30, 'contact_history', 'customer_id', NULL),
        (31, 'ab_assignments', 'customer_id', NULL),
        -- the state of the pipeline the views join (the as-of date, the
        -- served recommendations slot): a copy on every node, so that a
        -- view reads the same on a worker and a step's per-customer
        -- statement runs whole in the shards
        (32, 'refresh_state', 'reference', NULL),
        (33, 'recommendations_active', 'reference', NULL);
    -- (the sources' views stay views)
    DELETE FROM distribute_plan p WHERE p.rel IN (SELECT s.relation FROM seg_reco.sources s);
    DELETE FROM distribute_plan p
     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'seg_reco' AND c.relname = p.rel
                      AND c.oid IN (SELECT d.logicalrelid FROM pg_catalog.pg_dist_partition d));
    -- the tables (none left on a second call)
    <<tables>>
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM distribute_plan) THEN
            EXIT tables;
        END IF;

        -- Citus distributes no table with triggers (and knows no transition
        -- tables): say which, before anything changes
        SELECT string_agg(format('%s on seg_reco.%s', t.tgname, c.relname), ', ' ORDER BY c.relname, t.tgname)
          INTO v_msg
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND n.nspname = 'seg_reco'
           AND c.relname IN (SELECT p.rel FROM distribute_plan p)
           AND t.tgfoid <> 'seg_reco._capture_changes()'::pg_catalog.regprocedure;
        IF v_msg IS NOT NULL THEN
            RAISE EXCEPTION 'Citus cannot distribute tables with triggers'
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('Triggers: %s.', v_msg),
                      HINT = 'Drop the triggers first (changes on a distributed table cannot be captured by triggers with transition tables), then call seg_reco.distribute() again.';
        END IF;

        -- seg_reco's own capture triggers (the incremental refresh) cannot stay
        -- on a distributed table: dropped here and on the workers; refresh()
        -- then runs full every time (refresh_log's reason says why)
        FOR v_t IN
            SELECT c.relname, t.tgname
              FROM pg_catalog.pg_trigger t
              JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'seg_reco' AND c.relname IN (SELECT p.rel FROM distribute_plan p)
               AND t.tgfoid = 'seg_reco._capture_changes()'::pg_catalog.regprocedure
             ORDER BY c.relname, t.tgname
        LOOP
            EXECUTE format('DROP TRIGGER %I ON seg_reco.%I', v_t.tgname, v_t.relname);
            v_worker_ddl := v_worker_ddl || format('DROP TRIGGER IF EXISTS %I ON seg_reco.%I', v_t.tgname, v_t.relname);
        END LOOP;

        -- foreign keys from or to a table of this step: dropped now, re-created
        -- when every table is in place
        FOR v_fk IN
            SELECT c.conname, c.conrelid::regclass AS rel, pg_catalog.pg_get_constraintdef(c.oid) AS def
              FROM pg_catalog.pg_constraint c
             WHERE c.contype = 'f' AND c.connamespace = 'seg_reco'::regnamespace
               AND (c.conrelid IN (SELECT format('seg_reco.%I', p.rel)::regclass FROM distribute_plan p)
                    OR c.confrelid IN (SELECT format('seg_reco.%I', p.rel)::regclass FROM distribute_plan p))
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_fk.rel, v_fk.conname);
            v_worker_ddl := v_worker_ddl || format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', v_fk.rel, v_fk.conname);
            v_fks := v_fks || format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_fk.rel, v_fk.conname, v_fk.def);
        END LOOP;

        -- the sources, as they are; their views made again, so that each
        -- worker has the same view (use_source over a table not yet Citus's
        -- left the workers' copies of the relation as they were)
        -- (quietly: use_source's NOTICEs were given when it was called)
        v_msg := pg_catalog.current_setting('client_min_messages');
        PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
        FOR v_src IN
            SELECT s.relation, s.source, s.columns FROM seg_reco.sources s
             ORDER BY pg_catalog.array_position(ARRAY['transactions', 'digital_events', 'customers', 'products'], s.relation)
        LOOP
            PERFORM seg_reco.use_source(v_src.relation, v_src.source::regclass, v_src.columns);
            relation := v_src.relation;
            distribution := CASE WHEN v_src.relation = 'products' THEN 'reference' ELSE 'customer_id' END;
            action := format('a view of %s, your %s', v_src.source,
                             CASE WHEN v_src.relation = 'products' THEN 'reference table'
                                  WHEN v_src.source::regclass::text = v_anchor
                                  THEN 'distributed table: seg_reco''s per-customer tables co-located with it'
                                  ELSE 'distributed table, co-located' END);
            RETURN NEXT;
        END LOOP;
        PERFORM pg_catalog.set_config('client_min_messages', v_msg, true);

        -- the non-members' lines (none in a source distributed by customer:
        -- Citus keeps no NULL in a distribution column)
        IF NOT seg_reco._citus_distributed('seg_reco.nonmember_transactions') THEN
            v_n := 0;
            IF EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions') THEN
                -- (an extension member, empty until now: dropped with the extension)
                WITH moved AS (DELETE FROM seg_reco.transactions t WHERE t.customer_id IS NULL RETURNING t.*)
                INSERT INTO seg_reco.nonmember_transactions
                    (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price,
                     discount, amount, channel)
                SELECT m.line_id, m.receipt_id, m.customer_id, m.product_id, m.store_id, m.ts, m.quantity,
                       m.unit_price, m.discount, m.amount, m.channel
                  FROM moved m;
                GET DIAGNOSTICS v_n = ROW_COUNT;
            END IF;
            EXECUTE $q$SELECT pg_catalog.create_distributed_table('seg_reco.nonmember_transactions', 'receipt_id',
                                                                   colocate_with => 'none')$q$;
            EXECUTE $q$SELECT pg_catalog.truncate_local_data_after_distributing_table('seg_reco.nonmember_transactions')$q$;
            relation := 'nonmember_transactions'; distribution := 'receipt_id';
            action := CASE WHEN EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions')
                           THEN format('distributed; %s lines of non-members moved from transactions', v_n)
                           ELSE 'distributed, empty (the source of the lines holds members'' lines only)' END;
            RETURN NEXT;
            IF EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions') THEN
                ALTER TABLE seg_reco.transactions ALTER COLUMN customer_id SET NOT NULL;
            END IF;
        END IF;

        -- the workers' copies of the tables become the shells of the
        -- distributed tables: the same keys as here (they are empty, and local
        -- tables of the workers until now)
        FOR v_t IN SELECT * FROM distribute_plan p WHERE p.pkey IS NOT NULL ORDER BY p.ord LOOP
            v_def := format('ALTER TABLE seg_reco.%I DROP CONSTRAINT %I, ADD PRIMARY KEY (%s)',
                            v_t.rel, v_t.rel || '_pkey', v_t.pkey);
            EXECUTE v_def;
            v_worker_ddl := v_worker_ddl || v_def;
        END LOOP;
        FOREACH v_def IN ARRAY v_worker_ddl LOOP
            EXECUTE 'SELECT bool_and(w.success), string_agg(w.result, ''; '') FILTER (WHERE NOT w.success)
                       FROM pg_catalog.run_command_on_workers($1) w'
               INTO v_ok, v_msg USING v_def;
            IF NOT v_ok THEN
                RAISE EXCEPTION 'a worker refused: %', v_def
                    USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_msg,
                          HINT = 'Check the worker''s copy of the table (CREATE EXTENSION seg_reco there at the same version).';
            END IF;
        END LOOP;

        FOR v_t IN SELECT * FROM distribute_plan p ORDER BY p.ord LOOP
            IF v_t.dist = 'reference' THEN
                EXECUTE format('SELECT pg_catalog.create_reference_table(%L)', 'seg_reco.' || v_t.rel);
            ELSIF v_t.rel = 'customers' AND v_coloc IS NULL THEN
                EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L)', 'seg_reco.' || v_t.rel, v_t.dist);
            ELSE
                EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                               'seg_reco.' || v_t.rel, v_t.dist, v_anchor);
            END IF;
            -- the coordinator's own copy of the rows, now in the shards
            EXECUTE format('SELECT pg_catalog.truncate_local_data_after_distributing_table(%L)', 'seg_reco.' || v_t.rel);
            relation := v_t.rel; distribution := v_t.dist;
            action := CASE WHEN v_t.dist = 'reference' THEN 'reference table'
                           WHEN v_coloc IS NULL THEN 'distributed, co-located with customers'
                           ELSE format('distributed, co-located with %s', v_anchor) END
                      || CASE WHEN v_t.pkey IS NOT NULL THEN format('; primary key (%s)', v_t.pkey) ELSE '' END;
            RETURN NEXT;
        END LOOP;

        FOREACH v_def IN ARRAY v_fks LOOP
            EXECUTE v_def;
        END LOOP;
    END tables;

    -- the serving functions, distributed by their customer argument: a
    -- call for one customer on the coordinator (SELECT
    -- seg_reco.recommend_for(42)) runs on the worker holding the customer
    FOR v_t IN
        SELECT f.sig::regprocedure AS fn
          FROM unnest(ARRAY['seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)',
                            'seg_reco.why_recommended(bigint, bigint, integer, text)',
                            'seg_reco.buy_again_scores(bigint, integer, date)',
                            'seg_reco.content_scores(bigint, integer, date, float8, boolean, boolean)',
                            'seg_reco.cold_start_recommendations(bigint, integer, integer)']) WITH ORDINALITY f(sig, ord)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o
                            WHERE o.classid = 'pg_catalog.pg_proc'::regclass AND o.objid = f.sig::regprocedure
                              AND o.distribution_argument_index IS NOT NULL)
         ORDER BY f.ord
    LOOP
        EXECUTE format('SELECT pg_catalog.create_distributed_function(%L, %L, colocate_with => %L)',
                       v_t.fn::text, 'customer_id', v_anchor);
        relation := v_t.fn::text; distribution := 'customer_id';
        action := CASE WHEN v_coloc IS NULL THEN 'function distributed, co-located with customers'
                       ELSE format('function distributed, co-located with %s', v_anchor) END;
        RETURN NEXT;
    END LOOP;
    -- Per row of a query over a distributed table these run inside the
    -- query of a shard, on a worker, where Citus refuses the queries they
    -- make (cannot execute a distributed query from a query on a shard)
    -- unless citus.allow_nested_distributed_execution is on.  What they read
    -- is safe to read there: reference tables (read from the node's own
    -- copy), the customer's own rows (in the co-located shard, on the same
    -- node) and default_as_of()'s latest line (committed lines of every
    -- shard); they write nothing.  So it is on for them alone, not for a
    -- role (set again at every call: an upgrade that replaces a function
    -- resets it).
    FOREACH v_msg IN ARRAY ARRAY['seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)',
                                 'seg_reco.why_recommended(bigint, bigint, integer, text)',
                                 'seg_reco.buy_again_scores(bigint, integer, date)',
                                 'seg_reco.content_scores(bigint, integer, date, float8, boolean, boolean)',
                                 'seg_reco.cold_start_recommendations(bigint, integer, integer)',
                                 'seg_reco.kmeans_assign(float8[], text)'] LOOP
        v_def := format('ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on',
                        v_msg::regprocedure::text);
        EXECUTE v_def;
        -- (Citus passes it on to the workers for the distributed functions
        -- only, and refuses it there: kmeans_assign is not one)
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o
                               WHERE o.classid = 'pg_catalog.pg_proc'::regclass
                                 AND o.objid = v_msg::regprocedure
                                 AND o.distribution_argument_index IS NOT NULL);
        EXECUTE 'SELECT bool_and(w.success), string_agg(w.result, ''; '') FILTER (WHERE NOT w.success)
                   FROM pg_catalog.run_command_on_workers($1) w'
           INTO v_ok, v_msg USING v_def;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'a worker refused: %', v_def
                USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_msg,
                      HINT = 'Check the worker''s copy of the function (CREATE EXTENSION seg_reco there at the same version).';
        END IF;
    END LOOP;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.distribute() IS 'on a Citus coordinator: distributes the per-customer tables by customer id (co-located: sources, ALS customer factors, next-basket neighbours, clusters, customer value, recommendation slots, the tables behind customer_features and customer_segments, the customer state, the cohorts'' customer months, the contact history, the A/B assignments), products, settings, models, the segment and cluster name maps, the experiments, the pipeline''s state, the served recommendations slot and the global outputs as reference tables, non-members'' lines into nonmember_transactions, and the serving functions by their customer argument; over sources set by use_source it checks your tables (lines, digital events, customers distributed by their bigint customer column and co-located, products a reference table) and co-locates seg_reco''s tables with your lines';
REVOKE EXECUTE ON FUNCTION seg_reco.distribute() FROM PUBLIC;
-- END issue 15
-- issue 12: recommend_all at least as fast as implicit's batch recommend
-- (seg_reco's own SIMD score kernels, the setting seg_reco.simd; merged after
-- recommend_all gained customer_ids, so its comment is on the new signature)
COMMENT ON FUNCTION seg_reco.recommend_all(text, integer, boolean, boolean, jsonb, float8, integer, date, bigint[]) IS 'the hybrid top-n of recommend_for for every customer of an als model (or those of customer_ids; the same lists and score bits), als scored by seg_reco''s own SIMD kernels (seg_reco.simd), purchases read in one pass when a source needs them (for the recommendations view)';

CREATE FUNCTION seg_reco.simd_info(OUT setting text, OUT cpu text, OUT used text)
AS 'MODULE_PATHNAME', 'seg_reco_simd_info'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.simd_info() IS 'the instruction set of the kernels chosen at run time (recommend_all''s scores): the setting seg_reco.simd, the best this CPU supports, and the one used';


-- issue 13 item 4: cold start that earns its place (demographic tastes
-- planted in the demo data, demo_truth.demographic_tastes; build_popularity
-- chooses demographic or popularity for customers without history on a
-- validation window, popularity_info.cold_start, setting cold_start_source;
-- evaluate's cold_start mode shows the global list and what the blend serves)
-- (added without a default, filled, then given it: a default in ADD COLUMN
-- would stay behind as a "missing value" a fresh install lacks)
ALTER TABLE seg_reco.demo_truth ADD COLUMN demographic_tastes text[];
UPDATE seg_reco.demo_truth SET demographic_tastes = '{}';
ALTER TABLE seg_reco.demo_truth
    ALTER COLUMN demographic_tastes SET DEFAULT '{}',
    ALTER COLUMN demographic_tastes SET NOT NULL;
COMMENT ON COLUMN seg_reco.demo_truth.demographic_tastes IS 'planted tastes that follow from the customer''s demographics (kaffe og brød 60+, barnefamilie, kystfisk, premium, ung): three favourites from each';
DROP FUNCTION seg_reco._demo_truth(integer, integer, bigint, bigint, bigint);
CREATE FUNCTION seg_reco._demo_truth(customers integer, products integer,
        transactions bigint, digital_events bigint, seed bigint)
RETURNS TABLE(customer_id bigint, shopper_type text, taste text,
              joined_late boolean, churned_on date, at_risk boolean,
              demographic_tastes text[])
AS 'MODULE_PATHNAME', 'seg_reco_demo_truth'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000 ROWS 10000;
COMMENT ON FUNCTION seg_reco._demo_truth(integer, integer, bigint, bigint, bigint) IS
'internal: behaviour planted in the demo customers (deterministic for its arguments)';
REVOKE EXECUTE ON FUNCTION seg_reco._demo_truth(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
ALTER TABLE seg_reco.popularity_info ADD COLUMN cold_start text CHECK (cold_start IN ('demographic', 'popularity'));
UPDATE seg_reco.popularity_info SET cold_start = 'demographic';
ALTER TABLE seg_reco.popularity_info
    ALTER COLUMN cold_start SET DEFAULT 'demographic',
    ALTER COLUMN cold_start SET NOT NULL;
COMMENT ON TABLE seg_reco.popularity_info IS 'one row: the window (as_of, days), top_n and summary of the last build_popularity, and what the blend serves customers without history (cold_start)';
COMMENT ON COLUMN seg_reco.popularity_info.cold_start IS 'what recommend_for serves a customer without history: demographic (cold_start_recommendations) or popularity (the global list); chosen by build_popularity on the validation window (setting cold_start_source "auto"; the figures are in summary -> cold_start) or set by that setting';
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('cold_start_source', '"auto"', 'what recommend_for serves a customer without history: "auto" (build_popularity chooses demographic or popularity on the 28 days up to its as_of: demographic only when its NDCG@10 for the customers first seen there is at least 5% above popularity''s), "demographic" or "popularity"');

CREATE OR REPLACE FUNCTION seg_reco.build_popularity(as_of date DEFAULT NULL,
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

-- issue 12, the incremental refresh in O(changed customers):
-- customer_features, customer_segments and cohorts become views over
-- tables that refresh() writes per changed customer (filled here from the
-- state of the lines at the update); the clusters of the changed customers
-- only; the partial rebuild of the lists in place in the served slot
DROP VIEW seg_reco.cluster_profiles;
DROP FUNCTION seg_reco.cluster_feature_vector(seg_reco.customer_features);
DROP MATERIALIZED VIEW seg_reco.segment_summary;
DROP MATERIALIZED VIEW seg_reco.customer_segments;
DROP MATERIALIZED VIEW seg_reco.customer_features;
DROP MATERIALIZED VIEW seg_reco.cohorts;
DROP FUNCTION seg_reco._refresh_clusters_stored();
-- customer_features (0.2.0: a view over a table, written per changed
-- customer).  The table holds what does not move with the as-of date (the
-- dates of the first and last receipt instead of recency and tenure); the
-- view adds the as-of date of seg_reco.refresh_state, so an incremental
-- refresh writes the rows of the changed customers only and every row
-- still shows recency and tenure at the new date.
CREATE TABLE seg_reco.customer_feature_values (
    customer_id         bigint PRIMARY KEY,
    last_receipt_date   date NOT NULL,
    first_receipt_date  date NOT NULL,
    frequency           bigint,
    monetary            numeric,
    basket_nok          float8,
    basket_lines        float8,
    days_between_visits float8,
    online_share        float8,
    weekday_morning_share float8,
    own_brand_share     float8,
    organic_share       float8,
    promo_share         float8,
    meat_fish_share     float8,
    fresh_share         float8,
    baby_share          float8,
    digital_events      bigint,
    add_to_cart_events  bigint
);
COMMENT ON TABLE seg_reco.customer_feature_values IS 'the rows of seg_reco.customer_features without the as-of date: the dates of the first and last receipt instead of recency and tenure (written by seg_reco.refresh: every row in a full run, the changed customers'' in an incremental one; read the view)';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.customer_feature_values', '');

CREATE VIEW seg_reco.customer_features AS
SELECT v.customer_id, m.as_of - v.last_receipt_date AS recency_days, m.as_of - v.first_receipt_date AS tenure_days,
       v.frequency, v.monetary, v.basket_nok, v.basket_lines, v.days_between_visits, v.online_share,
       v.weekday_morning_share, v.own_brand_share, v.organic_share, v.promo_share, v.meat_fish_share,
       v.fresh_share, v.baby_share, v.digital_events, v.add_to_cart_events
  FROM seg_reco.customer_feature_values v
  JOIN seg_reco.refresh_state m ON m.as_of IS NOT NULL;
COMMENT ON VIEW seg_reco.customer_features IS 'customer feature table of the pipeline: compute_customer_features() at the date of the latest line, derived from seg_reco.customer_state (written by seg_reco.refresh into seg_reco.customer_feature_values; recency and tenure at the as-of date of seg_reco.refresh_state)';

-- Writes the customer_feature_values rows of the given customers (NULL:
-- every row) from seg_reco.customer_state, with the arithmetic of
-- _customer_features_from_state (the same numbers).  Returns the rows
-- written.
CREATE FUNCTION seg_reco._customer_features_update(customer_ids bigint[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_rows bigint;
BEGIN
    IF customer_ids IS NULL THEN
        -- DELETE, not TRUNCATE: readers of the view go on reading meanwhile
        DELETE FROM seg_reco.customer_feature_values;
    ELSE
        DELETE FROM seg_reco.customer_feature_values v WHERE v.customer_id = ANY (customer_ids);
    END IF;
    INSERT INTO seg_reco.customer_feature_values
    SELECT s.customer_id, s.last_receipt_ts::date, s.first_receipt_ts::date,
           s.receipts, s.net_amount,
           (s.receipt_amount / s.receipts)::float8,
           (s.receipt_lines::numeric / s.receipts)::float8,
           extract(epoch FROM s.last_receipt_ts - s.first_receipt_ts)::float8 / 86400.0
               / greatest(s.receipts - 1, 1),
           (s.online_receipts::numeric / s.receipts)::float8,
           (s.morning_receipts::numeric / s.receipts)::float8,
           s.own_brand_amount::float8 / s.receipt_amount::float8,
           s.organic_amount::float8 / s.receipt_amount::float8,
           s.promo_amount::float8 / s.receipt_amount::float8,
           s.meat_fish_amount::float8 / s.receipt_amount::float8,
           s.fresh_amount::float8 / s.receipt_amount::float8,
           s.baby_amount::float8 / s.receipt_amount::float8,
           s.digital_events, s.add_to_cart_events
      FROM seg_reco.customer_state s
     WHERE s.receipts > 0 AND (customer_ids IS NULL OR s.customer_id = ANY (customer_ids));
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF customer_ids IS NULL THEN
        -- statistics for the next incremental run's lookups by customer
        -- (without them, = ANY of a thousand ids is planned as a full scan)
        ANALYZE seg_reco.customer_feature_values;
    END IF;
    RETURN v_rows;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._customer_features_update(bigint[]) IS 'refresh() helper: writes the customer_feature_values rows of these customers (NULL: every customer) from seg_reco.customer_state';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_features_update(bigint[]) FROM PUBLIC;

-- The feature vector the customer clusters are trained on, in this order;
-- log1p is applied to the first five (skewed days, counts and money), then
-- every column is standardised (the transform is stored with the models).
-- Recency is in twice, so it weighs double: whether a customer is still
-- active is the first thing a segment must tell (with single weight the
-- lapsed customers spread over the behaviour clusters).
CREATE FUNCTION seg_reco.cluster_feature_vector(f seg_reco.customer_features)
RETURNS float8[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN ARRAY[f.recency_days, f.recency_days, f.frequency, f.basket_nok, f.basket_lines,
             f.weekday_morning_share, f.own_brand_share, f.organic_share,
             f.meat_fish_share, f.baby_share]::float8[];
COMMENT ON FUNCTION seg_reco.cluster_feature_vector(seg_reco.customer_features) IS 'the features customer clusters are trained on: recency (twice), frequency, basket NOK, basket lines (log1p), weekday-morning, own-brand, organic, meat/fish and baby shares';

-- customer_segments (0.2.0: a view over a table, written per changed
-- customer).  seg_reco.customer_rfm holds each customer's RFM values and
-- scores (the date of the last purchase instead of recency); the view adds
-- the as-of date and the cluster and value of each customer.  The scores
-- are quintiles of ranks over every customer with a purchase:
-- score = 1 + floor(5 * (customers ranked before) / customers), so a
-- customer's score depends on the others' values only through four
-- thresholds per measure (the values at the quintile positions).  An
-- incremental run writes the values of the changed customers, computes the
-- thresholds again (one pass over the table) and rewrites the scores of the
-- rows whose score or segment moved (the changed customers, and the few
-- whose value lies between a threshold's old and new place): the same rows
-- as a full computation.
CREATE TABLE seg_reco.customer_rfm (
    customer_id         bigint PRIMARY KEY,
    first_purchase      timestamptz,
    last_purchase       timestamptz,
    last_purchase_date  date,
    frequency           bigint NOT NULL,
    monetary            numeric NOT NULL,
    r_score             integer,
    f_score             integer,
    m_score             integer,
    rfm_code            text,
    segment             text
);
CREATE INDEX customer_rfm_segment_idx ON seg_reco.customer_rfm (segment);
CREATE INDEX customer_clusters_cluster_name_idx ON seg_reco.customer_clusters (cluster_name);
COMMENT ON TABLE seg_reco.customer_rfm IS 'RFM values, scores, code and segment of every customer (rfm_score() at the as-of date of seg_reco.refresh_state, with the date of the last purchase instead of recency), written by seg_reco.refresh (every row in a full run, the changed ones in an incremental one); read seg_reco.customer_segments';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.customer_rfm', '');

CREATE VIEW seg_reco.customer_segments AS
SELECT r.customer_id, m.as_of AS as_of_date, r.first_purchase, r.last_purchase,
       m.as_of - r.last_purchase_date AS recency_days, r.frequency, r.monetary,
       r.r_score, r.f_score, r.m_score, r.rfm_code, r.segment,
       c.cluster, c.cluster_name, c.gmm_component, c.gmm_probability,
       v.p_alive, v.expected_purchases_90d, v.clv_12m, v.at_risk, v.model AS value_model
  FROM seg_reco.customer_rfm r
  JOIN seg_reco.refresh_state m ON m.as_of IS NOT NULL
  LEFT JOIN seg_reco.customer_clusters c ON c.customer_id = r.customer_id
  LEFT JOIN seg_reco.customer_value v ON v.customer_id = r.customer_id;
COMMENT ON VIEW seg_reco.customer_segments IS 'one row per customer: RFM values, scores, code and segment; cluster and its name; mixture probability; probability alive, expected purchases, CLV, at-risk and the purchase model that produced them (written by seg_reco.refresh into seg_reco.customer_rfm, customer_clusters and customer_value)';

-- Issue 15: whether a table is distributed by Citus (a distributed or
-- reference table); false on a single node.  Created before the customer
-- tables' helpers, which ask it (the upgrade fills customer_rfm below).  The pipeline's steps choose by it how
-- they write their per-customer outputs.
CREATE FUNCTION seg_reco._citus_distributed(rel regclass) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_found boolean;
    v_source regclass;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    -- a source relation that use_source made a view: the user's table behind it
    SELECT pg_catalog.to_regclass(s.source) INTO v_source
      FROM seg_reco.sources s
      JOIN pg_catalog.pg_class c ON c.relname OPERATOR(pg_catalog.=) s.relation
                                AND c.relnamespace OPERATOR(pg_catalog.=) 'seg_reco'::pg_catalog.regnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) rel AND c.relkind OPERATOR(pg_catalog.=) 'v';
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d
                             WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1)'
       INTO v_found USING coalesce(v_source, rel);
    RETURN v_found;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._citus_distributed(regclass) IS 'refresh() helper: whether a table is a Citus distributed or reference table, or a source view over one (false on a single node)';
REVOKE EXECUTE ON FUNCTION seg_reco._citus_distributed(regclass) FROM PUBLIC;

-- The RFM scores, code and segment of every row of seg_reco.customer_rfm
-- from its values, written where they moved (returns n, the buying rows,
-- and written, the rows updated).  The thresholds: the values at
-- positions ceil(k n / 5) (k = 1..4, from 1) in each measure's order
-- (recency: the last purchase date, oldest first); a score is 1 + the
-- thresholds the value is strictly past, which is 1 + floor(5 (rank - 1) /
-- n) of rfm_score().  One UPDATE, the thresholds and the 125 codes'
-- segments its constants: on Citus it runs in the shards (customer_rfm
-- joined to itself on the customer id); only percentile_disc gathers the
-- three measures of the buying rows.
CREATE FUNCTION seg_reco._rfm_rescore(OUT n bigint, OUT written bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_fr float8[];
    v_r date[];
    v_f bigint[];
    v_m numeric[];
    v_codes text[];
BEGIN
    SELECT count(*) INTO n FROM seg_reco.customer_rfm r WHERE r.frequency > 0;
    IF n > 0 THEN
        v_fr := ARRAY(SELECT ((ceil(k * n / 5.0) - 0.5) / n)::float8 FROM generate_series(1, 4) k ORDER BY k);
        SELECT percentile_disc(v_fr) WITHIN GROUP (ORDER BY r.last_purchase_date),
               percentile_disc(v_fr) WITHIN GROUP (ORDER BY r.frequency),
               percentile_disc(v_fr) WITHIN GROUP (ORDER BY r.monetary)
          INTO v_r, v_f, v_m
          FROM seg_reco.customer_rfm r WHERE r.frequency > 0;
    END IF;
    v_codes := ARRAY(SELECT c.segment FROM seg_reco.rfm_segment_codes() c ORDER BY c.r_score, c.f_score, c.m_score);
    -- the thresholds strictly below a value, as width_bucket (those at or
    -- below its operand): dates and counts against the thresholds + 1,
    -- amounts negated against the negated thresholds (ascending): 4 - those
    -- at or above the amount
    v_r := ARRAY(SELECT d + 1 FROM unnest(v_r) d ORDER BY 1);
    v_f := ARRAY(SELECT f + 1 FROM unnest(v_f) f ORDER BY 1);
    v_m := ARRAY(SELECT -m FROM unnest(v_m) m ORDER BY 1);
    UPDATE seg_reco.customer_rfm t
       SET r_score = s.rs, f_score = s.fs, m_score = s.ms,
           rfm_code = s.rs::text || s.fs::text || s.ms::text,
           segment = s.seg
      FROM (SELECT q.customer_id, q.rs, q.fs, q.ms,
                   coalesce(v_codes[(q.rs - 1) * 25 + (q.fs - 1) * 5 + q.ms], 'No Purchases') AS seg
              FROM (SELECT r.customer_id,
                           CASE WHEN r.frequency > 0 THEN 1 + pg_catalog.width_bucket(r.last_purchase_date, v_r) END AS rs,
                           CASE WHEN r.frequency > 0 THEN 1 + pg_catalog.width_bucket(r.frequency, v_f) END AS fs,
                           CASE WHEN r.frequency > 0 THEN 5 - pg_catalog.width_bucket(-r.monetary, v_m) END AS ms
                      FROM seg_reco.customer_rfm r) q) s
     WHERE s.customer_id = t.customer_id
       AND (t.r_score, t.f_score, t.m_score, t.segment) IS DISTINCT FROM (s.rs, s.fs, s.ms, s.seg);
    GET DIAGNOSTICS written = ROW_COUNT;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._rfm_rescore() IS 'refresh() helper: the RFM scores, code and segment of seg_reco.customer_rfm from its values, written where they moved (see _customer_rfm_update)';
REVOKE EXECUTE ON FUNCTION seg_reco._rfm_rescore() FROM PUBLIC;

-- Writes seg_reco.customer_rfm: with customer_ids NULL every row from
-- _rfm_from_state(); otherwise the values of those customers (and of
-- members without a row, and rows of customers gone from both
-- seg_reco.customers and the state), then the scores of every row whose
-- score or segment moved (see customer_rfm).  No as-of date in the state:
-- no rows.
CREATE FUNCTION seg_reco._customer_rfm_update(customer_ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := (SELECT m.as_of FROM seg_reco.refresh_state m);
    v_ids bigint[];
    v_rows bigint;
    v_n bigint;
    v_written bigint;
BEGIN
    IF v_as_of IS NOT NULL AND customer_ids IS NULL AND seg_reco._citus_distributed('seg_reco.customer_rfm') THEN
        -- Citus: the values of every customer written in the shard that
        -- holds it (customers and customer_state co-located: the joins run
        -- in each shard), then the scores in the shards (_rfm_rescore);
        -- _rfm_from_state() ranks over all customers on the coordinator, so
        -- its rows came back there to be written
        DELETE FROM seg_reco.customer_rfm;
        -- (the members, then the state's other customers: a FULL JOIN's
        -- coalesce of the two ids is no distribution column to Citus, which
        -- then repartitions the rows)
        INSERT INTO seg_reco.customer_rfm (customer_id, first_purchase, last_purchase, last_purchase_date,
                                           frequency, monetary, segment)
        SELECT c.customer_id, a.first_purchase, a.last_purchase, a.last_purchase::date,
               coalesce(a.purchase_receipts, 0), coalesce(a.purchase_amount, 0.00), 'No Purchases'
          FROM seg_reco.customers c
          LEFT JOIN seg_reco.customer_state a ON a.customer_id = c.customer_id;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        INSERT INTO seg_reco.customer_rfm (customer_id, first_purchase, last_purchase, last_purchase_date,
                                           frequency, monetary, segment)
        SELECT a.customer_id, a.first_purchase, a.last_purchase, a.last_purchase::date,
               coalesce(a.purchase_receipts, 0), coalesce(a.purchase_amount, 0.00), 'No Purchases'
          FROM seg_reco.customer_state a
         WHERE NOT EXISTS (SELECT 1 FROM seg_reco.customers c WHERE c.customer_id = a.customer_id);
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_rows := v_rows + v_n;
        PERFORM seg_reco._rfm_rescore();
        ANALYZE seg_reco.customer_rfm;
        RETURN jsonb_build_object('customers', v_rows);
    END IF;
    IF v_as_of IS NULL OR customer_ids IS NULL THEN
        DELETE FROM seg_reco.customer_rfm;
        INSERT INTO seg_reco.customer_rfm
        SELECT r.customer_id, r.first_purchase, r.last_purchase, r.last_purchase::date, r.frequency, r.monetary,
               r.r_score, r.f_score, r.m_score, r.rfm_code, r.segment
          FROM seg_reco._rfm_from_state() r
         WHERE r.customer_id IS NOT NULL;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        ANALYZE seg_reco.customer_rfm;
        RETURN jsonb_build_object('customers', v_rows);
    END IF;
    -- the customers whose values may have moved: the given ones, members
    -- without a row, rows of customers neither members nor with lines
    v_ids := ARRAY(
        SELECT DISTINCT u.id
          FROM (SELECT i.id FROM unnest(customer_ids) i(id)
                UNION ALL
                SELECT c.customer_id FROM seg_reco.customers c
                 WHERE c.customer_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM seg_reco.customer_rfm r WHERE r.customer_id = c.customer_id)
                UNION ALL
                SELECT r.customer_id FROM seg_reco.customer_rfm r
                 WHERE NOT EXISTS (SELECT 1 FROM seg_reco.customers c WHERE c.customer_id = r.customer_id)
                   AND NOT EXISTS (SELECT 1 FROM seg_reco.customer_state s WHERE s.customer_id = r.customer_id)) u
         WHERE u.id IS NOT NULL
         ORDER BY u.id);
    DELETE FROM seg_reco.customer_rfm r WHERE r.customer_id = ANY (v_ids);
    INSERT INTO seg_reco.customer_rfm (customer_id, first_purchase, last_purchase, last_purchase_date, frequency, monetary)
    SELECT coalesce(c.customer_id, a.customer_id), a.first_purchase, a.last_purchase, a.last_purchase::date,
           coalesce(a.purchase_receipts, 0), coalesce(a.purchase_amount, 0.00)
      FROM (SELECT c.customer_id FROM seg_reco.customers c WHERE c.customer_id = ANY (v_ids)) c
      FULL JOIN (SELECT s.* FROM seg_reco.customer_state s WHERE s.customer_id = ANY (v_ids)) a
        ON a.customer_id = c.customer_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    SELECT r.n, r.written INTO v_n, v_written FROM seg_reco._rfm_rescore() r;
    RETURN jsonb_build_object('customers', v_n, 'values_written', v_rows, 'scores_written', v_written);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._customer_rfm_update(bigint[]) IS 'refresh() helper: writes seg_reco.customer_rfm (NULL: every row; else the values of these customers and every score that moved)';
REVOKE EXECUTE ON FUNCTION seg_reco._customer_rfm_update(bigint[]) FROM PUBLIC;

-- The monthly cohort table of the pipeline (0.2.0: a view over tables
-- refresh() keeps per customer).  seg_reco.cohort_customer_months holds
-- each customer's months (in the time zone of the state): whether the
-- customer bought (a line with amount > 0) and the net amount;
-- seg_reco.cohort_cells the sums per (cohort month, activity month) over
-- the members of the cohort (a customer's cohort: the first month bought
-- in), from the cohort month on.  An incremental run takes the changed
-- customers' old months out of the cells, reads their lines again (through
-- the customer index) and adds their new months: late, corrected and
-- deleted lines, and a cohort that moves, come out right, in O(changed
-- customers).  The view adds the grid of months up to the as-of date:
-- cohort_retention('month')'s rows.
CREATE TABLE seg_reco.cohort_customer_months (
    customer_id bigint NOT NULL,
    month       date NOT NULL,
    bought      boolean,
    revenue     numeric,
    PRIMARY KEY (customer_id, month)
);
COMMENT ON TABLE seg_reco.cohort_customer_months IS 'per customer and month with a line: whether the customer bought (a line with amount > 0) and the net amount (written by seg_reco.refresh; the cohorts view reads seg_reco.cohort_cells)';
CREATE TABLE seg_reco.cohort_cells (
    cohort      date NOT NULL,
    month       date NOT NULL,
    active      bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (cohort, month)
);
COMMENT ON TABLE seg_reco.cohort_cells IS 'per cohort month and later month: the members who bought in it (active; in the cohort month itself: the cohort''s size) and their net amount (written by seg_reco.refresh; read the cohorts view)';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.cohort_customer_months', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.cohort_cells', '');

CREATE VIEW seg_reco.cohorts AS
WITH sizes AS (
    SELECT c.cohort, c.active AS n FROM seg_reco.cohort_cells c WHERE c.month = c.cohort AND c.active > 0
), grid AS (
    SELECT s.cohort, s.n, g.p::date AS p, (g.k - 1)::integer AS k, m.as_of
      FROM sizes s
      JOIN seg_reco.refresh_state m ON m.as_of IS NOT NULL,
           pg_catalog.generate_series(s.cohort::timestamp, pg_catalog.date_trunc('month', m.as_of::timestamp),
                                      interval '1 month') WITH ORDINALITY g(p, k)
)
SELECT g.cohort, g.k AS period_number, g.p AS period_start,
       (g.p + interval '1 month')::date - 1 <= g.as_of AS complete,
       g.n AS cohort_size, coalesce(a.active, 0) AS active_customers,
       coalesce(a.active, 0)::float8 / g.n AS retention,
       coalesce(a.revenue, 0) AS revenue,
       round(coalesce(a.revenue, 0) / g.n, 2) AS revenue_per_member,
       round(pg_catalog.sum(coalesce(a.revenue, 0)) OVER (PARTITION BY g.cohort ORDER BY g.p) / g.n, 2)
           AS cumulative_revenue_per_member
  FROM grid g
  LEFT JOIN seg_reco.cohort_cells a ON a.cohort = g.cohort AND a.month = g.p
 ORDER BY g.cohort, g.p;
COMMENT ON VIEW seg_reco.cohorts IS 'monthly acquisition cohorts up to the latest transaction: members, members still buying and their share, revenue and cumulative revenue per original member, per month since the first purchase (cohort_retention(''month''), from seg_reco.cohort_cells, written by seg_reco.refresh)';

-- Every member's months with a line before v_end (the full run of
-- _cohorts_update): a RETURN QUERY, which PostgreSQL plans in parallel.
CREATE FUNCTION seg_reco._cohort_months(v_end timestamptz)
RETURNS TABLE (customer_id bigint, month date, bought boolean, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    SELECT t.customer_id, date_trunc('month', t.ts)::date, bool_or(t.amount > 0), sum(t.amount)
      FROM seg_reco.transactions t
     WHERE t.customer_id IS NOT NULL AND t.ts < v_end
     GROUP BY 1, 2;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._cohort_months(timestamptz) IS 'refresh() helper: per member and month with a line before the given time, whether the member bought and the net amount (read by a parallel plan)';
REVOKE EXECUTE ON FUNCTION seg_reco._cohort_months(timestamptz) FROM PUBLIC;

-- Writes the cohort tables: with customer_ids NULL from every line (one
-- pass; in a full refresh the customer state pass wrote the months already,
-- noted in pg_temp._seg_reco_cohort_months with its as-of date, and only the
-- cells are made); otherwise the months of those customers read again and
-- the cells corrected by the difference (see cohorts).  Lines after the as-of date
-- of seg_reco.refresh_state are left out (there are none: it is the latest
-- line's); none: no cohorts.
CREATE FUNCTION seg_reco._cohorts_update(customer_ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := (SELECT m.as_of FROM seg_reco.refresh_state m);
    v_end timestamptz := (v_as_of + 1)::timestamptz;
    v_rows bigint;
    v_cells bigint;
    v_ids bigint[];
    v_mids bigint[];
    v_after timestamptz[];
    v_merged bigint := 0;
    v_from text := 'the lines';
BEGIN
    IF v_as_of IS NULL OR customer_ids IS NULL THEN
        -- the months the customer state pass wrote at this as-of date
        -- (_customer_state_update, the full refresh's first step), if it did
        IF to_regclass('pg_temp._seg_reco_cohort_months') IS NOT NULL THEN
            SELECT k.customer_months INTO v_rows FROM pg_temp._seg_reco_cohort_months k WHERE k.as_of = v_as_of;
            DROP TABLE pg_temp._seg_reco_cohort_months;
        END IF;
        IF v_rows IS NULL THEN
            -- nobody reads the months but refresh(), which runs alone
            TRUNCATE seg_reco.cohort_customer_months;
        END IF;
        DELETE FROM seg_reco.cohort_cells;
        IF v_as_of IS NULL THEN
            RETURN jsonb_build_object('customers', 0);
        END IF;
        -- in the order of the primary key: its index grows at its right
        -- edge (in random order, at 2 M members, every insert read and
        -- dirtied a random page of an index larger than memory)
        -- read by a parallel plan (RETURN QUERY in _cohort_months: an
        -- INSERT ... SELECT never is in PostgreSQL 15; a quarter off the step);
        -- on Citus the INSERT ... SELECT runs in the shards instead
        IF v_rows IS NOT NULL THEN
            v_from := 'the customer state pass';
        ELSIF seg_reco._citus_distributed('seg_reco.cohort_customer_months') THEN
            INSERT INTO seg_reco.cohort_customer_months (customer_id, month, bought, revenue)
            SELECT t.customer_id, date_trunc('month', t.ts)::date, bool_or(t.amount > 0), sum(t.amount)
              FROM seg_reco.transactions t
             WHERE t.customer_id IS NOT NULL AND t.ts < v_end
             GROUP BY 1, 2
             ORDER BY 1, 2;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
        ELSE
            INSERT INTO seg_reco.cohort_customer_months (customer_id, month, bought, revenue)
            SELECT m.customer_id, m.month, m.bought, m.revenue
              FROM seg_reco._cohort_months(v_end) m
             ORDER BY 1, 2;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
        END IF;
        INSERT INTO seg_reco.cohort_cells (cohort, month, active, revenue)
        SELECT x.cohort, x.month, count(*) FILTER (WHERE x.bought), coalesce(sum(x.revenue), 0)
          FROM (SELECT m.month, m.bought, m.revenue,
                       min(m.month) FILTER (WHERE m.bought) OVER (PARTITION BY m.customer_id) AS cohort
                  FROM seg_reco.cohort_customer_months m) x
         WHERE x.cohort IS NOT NULL AND x.month >= x.cohort
         GROUP BY 1, 2;
        GET DIAGNOSTICS v_cells = ROW_COUNT;
        -- statistics for the next incremental run's lookups by customer
        ANALYZE seg_reco.cohort_customer_months, seg_reco.cohort_cells;
        RETURN jsonb_build_object('customer_months', v_rows, 'customer_months_from', v_from, 'cells', v_cells);
    END IF;
    -- the difference: minus the customers' months as they were, plus as they are
    CREATE TEMP TABLE _seg_reco_cohort_delta ON COMMIT DROP AS
    SELECT x.cohort, x.month, -count(*) FILTER (WHERE x.bought) AS active, -coalesce(sum(x.revenue), 0) AS revenue
      FROM (SELECT m.month, m.bought, m.revenue,
                   min(m.month) FILTER (WHERE m.bought) OVER (PARTITION BY m.customer_id) AS cohort
              FROM seg_reco.cohort_customer_months m WHERE m.customer_id = ANY (customer_ids)) x
     WHERE x.cohort IS NOT NULL AND x.month >= x.cohort
     GROUP BY 1, 2;
    -- the customers whose new lines the state step merged (refresh():
    -- pg_temp.seg_reco_changed.merge_after) add the months of those lines
    -- only; the others' months are read again from all their lines
    IF to_regclass('pg_temp.seg_reco_changed') IS NOT NULL THEN
        SELECT array_agg(c.customer_id ORDER BY c.customer_id), array_agg(c.merge_after ORDER BY c.customer_id)
          INTO v_mids, v_after
          FROM pg_temp.seg_reco_changed c
         WHERE c.merge_after IS NOT NULL AND c.customer_id = ANY (customer_ids);
    END IF;
    v_ids := CASE WHEN v_mids IS NULL THEN customer_ids
                  ELSE ARRAY(SELECT u.id FROM unnest(customer_ids) u(id) WHERE u.id <> ALL (v_mids)) END;
    DELETE FROM seg_reco.cohort_customer_months m WHERE m.customer_id = ANY (v_ids);
    INSERT INTO seg_reco.cohort_customer_months (customer_id, month, bought, revenue)
    SELECT t.customer_id, date_trunc('month', t.ts)::date, bool_or(t.amount > 0), sum(t.amount)
      FROM seg_reco.transactions t
     WHERE t.customer_id = ANY (v_ids) AND t.ts < v_end
     GROUP BY 1, 2;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_mids IS NOT NULL THEN
        -- bool_or and sum over old and new lines (NULL: no line with an
        -- amount); the new lines by an index range scan per customer
        -- (OFFSET 0: never flattened into a scan of every line)
        INSERT INTO seg_reco.cohort_customer_months AS m (customer_id, month, bought, revenue)
        SELECT t.customer_id, date_trunc('month', t.ts)::date, bool_or(t.amount > 0), sum(t.amount)
          FROM unnest(v_mids, v_after) u(cid, after)
         CROSS JOIN LATERAL (SELECT t.customer_id, t.ts, t.amount FROM seg_reco.transactions t
                              WHERE t.customer_id = u.cid AND t.ts > u.after AND t.ts < v_end
                             OFFSET 0) t
         GROUP BY 1, 2
        ON CONFLICT (customer_id, month) DO UPDATE
           SET bought = CASE WHEN m.bought IS NULL THEN excluded.bought
                             WHEN excluded.bought IS NULL THEN m.bought
                             ELSE m.bought OR excluded.bought END,
               revenue = CASE WHEN m.revenue IS NULL THEN excluded.revenue
                              WHEN excluded.revenue IS NULL THEN m.revenue
                              ELSE m.revenue + excluded.revenue END;
        GET DIAGNOSTICS v_merged = ROW_COUNT;
    END IF;
    INSERT INTO _seg_reco_cohort_delta
    SELECT x.cohort, x.month, count(*) FILTER (WHERE x.bought), coalesce(sum(x.revenue), 0)
      FROM (SELECT m.month, m.bought, m.revenue,
                   min(m.month) FILTER (WHERE m.bought) OVER (PARTITION BY m.customer_id) AS cohort
              FROM seg_reco.cohort_customer_months m WHERE m.customer_id = ANY (customer_ids)) x
     WHERE x.cohort IS NOT NULL AND x.month >= x.cohort
     GROUP BY 1, 2;
    INSERT INTO seg_reco.cohort_cells AS c (cohort, month, active, revenue)
    SELECT d.cohort, d.month, sum(d.active), sum(d.revenue)
      FROM _seg_reco_cohort_delta d GROUP BY 1, 2
    ON CONFLICT (cohort, month) DO UPDATE
       SET active = c.active + excluded.active, revenue = c.revenue + excluded.revenue;
    GET DIAGNOSTICS v_cells = ROW_COUNT;
    DROP TABLE _seg_reco_cohort_delta;
    -- cells left empty, and the cells of cohorts left without members
    DELETE FROM seg_reco.cohort_cells c
     WHERE (c.active = 0 AND c.revenue = 0)
        OR NOT EXISTS (SELECT 1 FROM seg_reco.cohort_cells s
                        WHERE s.cohort = c.cohort AND s.month = c.cohort AND s.active > 0);
    RETURN jsonb_build_object('customers', cardinality(customer_ids), 'customers_merged', coalesce(cardinality(v_mids), 0),
                              'customer_months', v_rows, 'customer_months_merged', v_merged, 'cells_changed', v_cells);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._cohorts_update(bigint[]) IS 'refresh() helper: writes the cohort tables behind seg_reco.cohorts (NULL: from every line, or from the months the customer state pass of a full refresh wrote; else the months of these customers again and the cells corrected by the difference)';
REVOKE EXECUTE ON FUNCTION seg_reco._cohorts_update(bigint[]) FROM PUBLIC;

DO $upgrade$
BEGIN
    PERFORM seg_reco._customer_features_update(NULL);
    PERFORM seg_reco._customer_rfm_update(NULL);
    PERFORM seg_reco._cohorts_update(NULL);
END;
$upgrade$;
-- One row per RFM segment (kind 'rfm') and per customer cluster (kind 'cluster').
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

-- The profile of each customer cluster in the units analysts know.
CREATE VIEW seg_reco.cluster_profiles AS
SELECT c.cluster, c.cluster_name, count(*) AS customers,
       round(avg(f.recency_days), 0) AS recency_days,
       round(avg(f.frequency), 1) AS frequency,
       round(avg(f.monetary), 0) AS monetary,
       round(avg(f.basket_nok)::numeric, 0) AS basket_nok,
       round(avg(f.basket_lines)::numeric, 1) AS basket_lines,
       round(avg(f.weekday_morning_share)::numeric, 2) AS weekday_morning_share,
       round(avg(f.own_brand_share)::numeric, 2) AS own_brand_share,
       round(avg(f.organic_share)::numeric, 2) AS organic_share,
       round(avg(f.meat_fish_share)::numeric, 2) AS meat_fish_share,
       round(avg(f.baby_share)::numeric, 3) AS baby_share,
       round(avg(c.gmm_probability)::numeric, 2) AS mean_gmm_probability
  FROM seg_reco.customer_clusters c
  JOIN seg_reco.customer_features f USING (customer_id)
 GROUP BY c.cluster, c.cluster_name;
COMMENT ON VIEW seg_reco.cluster_profiles IS 'mean behaviour of each customer cluster';

-- incremental refresh step clusters: the customers whose features moved
-- (customer_ids: the changed customers of the run) assigned with the stored
-- customer_kmeans and customer_gmm, each cluster keeping the name the last
-- run gave it; the others keep the assignment of the run that last
-- changed them (recency moves every day: a lapsing customer is moved by the
-- next full run, every full_retrain_days in mode auto).  O(changed
-- customers): the names are looked up per cluster.
CREATE FUNCTION seg_reco._refresh_clusters_stored(customer_ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_km seg_reco.kmeans_model := seg_reco.kmeans_load('customer_kmeans');
    v_gm seg_reco.gmm_model := seg_reco.gmm_load('customer_gmm');
    v_k integer := ((v_km::text)::jsonb ->> 'k')::integer;
    v_names text[];
    v_name text;
    v_rows bigint;
BEGIN
    -- the name of each cluster: that of any customer in it (all share it),
    -- one cluster at a time (Citus runs no subquery correlated to the rows
    -- of generate_series, nor parses a query in an assignment to an array
    -- element)
    FOR i IN 1 .. v_k LOOP
        SELECT c.cluster_name INTO v_name FROM seg_reco.customer_clusters c WHERE c.cluster = i LIMIT 1;
        v_names[i] := v_name;
    END LOOP;
    DELETE FROM seg_reco.customer_clusters c WHERE c.customer_id = ANY (customer_ids);
    -- the changed customers' vectors first, then assigned as the full run
    -- does (gmm_assign, its component's probability); gathered into a
    -- temporary table because on Citus, in an INSERT ... SELECT with this
    -- filter, the view's row reached the shards with the columns not named
    -- as NULLs (a whole-row reference)
    CREATE TEMP TABLE _seg_reco_vectors ON COMMIT DROP AS
    SELECT f.customer_id, seg_reco.cluster_feature_vector(f) AS v
      FROM seg_reco.customer_features f WHERE f.customer_id = ANY (customer_ids);
    INSERT INTO seg_reco.customer_clusters (customer_id, cluster, cluster_name, distance, gmm_component, gmm_probability)
    SELECT r.customer_id, km.cluster, coalesce(v_names[km.cluster], 'Cluster ' || km.cluster), km.distance,
           gc.comp, gp.p[gc.comp]
      FROM _seg_reco_vectors r
     CROSS JOIN LATERAL seg_reco.kmeans_assign_distance(r.v, v_km) km
     CROSS JOIN LATERAL seg_reco.gmm_assign(r.v, v_gm) gc(comp)
     CROSS JOIN LATERAL seg_reco.gmm_proba(r.v, v_gm) gp(p);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    DROP TABLE _seg_reco_vectors;
    RETURN jsonb_build_object('models', 'kept', 'k', v_k, 'assigned', v_rows);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._refresh_clusters_stored(bigint[]) IS 'incremental refresh step: assigns the given customers with the stored customer_kmeans and customer_gmm, keeping the cluster names';
REVOKE EXECUTE ON FUNCTION seg_reco._refresh_clusters_stored(bigint[]) FROM PUBLIC;

-- Writes the lists.  customer_ids NULL (full): the lists of
-- pipeline_recommendations() for everyone written into the idle slot, which
-- is emptied first with DELETE unless a TRUNCATE did it, its indexes built
-- if the TRUNCATE dropped them, the slot analysed, and the pointer swapped
-- to it.  CREATE INDEX locks out writers only (SHARE): readers go on
-- reading the served slot.  Otherwise (partial, 0.2.0): in the served slot,
-- the rows of those customers deleted and their fresh lists inserted, and
-- the generation counted up (full while nothing has been served yet):
-- O(those customers), nothing copied, no index built.  Either way readers
-- keep reading the old lists, without waiting, until the caller's
-- transaction commits, and then see all the new ones; when it rolls back
-- the old lists stay served.
COMMENT ON FUNCTION seg_reco._recommendations_fill(bigint[]) IS 'refresh helper: fills the idle recommendations slot with everyone''s lists and swaps it in, or (customer_ids) replaces those customers'' lists in the served slot';
REVOKE EXECUTE ON FUNCTION seg_reco._recommendations_fill(bigint[]) FROM PUBLIC;

COMMENT ON FUNCTION seg_reco.refresh_recommendations(bigint[]) IS 'partial rebuild: fresh lists for the given customers in place of theirs in the served slot of the recommendations view (the others'' lists untouched); reports what changed since the last full rebuild';

-- The steps of refresh(), in one transaction: the whole pipeline, left to
-- right, one logged step at a time: features -> clusters -> customer value
-- -> content vectors -> segment popularity -> association rules -> ALS model
-- -> recommendations -> customer_segments -> segment_summary -> cohorts.
-- Tables are written with DELETE and INSERT, segment_summary refreshed
-- CONCURRENTLY and the full run's recommendations written into the idle
-- slot, so dashboards keep reading meanwhile; if a step fails, everything
-- rolls back and the relations keep their contents.  idle_before: what
-- _recommendations_empty_idle did before (NULL: refresh() could not run it);
-- run: the run's id, for the caller; mode: refresh()'s (see _refresh_plan).
-- A full run reads every line once (the customer_features step writes
-- seg_reco.customer_state) and trains every model.  An incremental run
-- recomputes the state of the customers that changed (v_changed), from
-- their own lines, and then their rows only (0.2.0): features, cluster
-- assignment with the stored models, ALS fold-in and lists, RFM values (the
-- scores of the others move only where a quintile threshold moved past
-- them) and cohort months; the BTYD scores of every customer move with the
-- date (the stored fit); recency and tenure are computed when read;
-- content, popularity, rules and the models are kept.  refresh_log.kind
-- says which ran.
-- jit is off: compiling the big refresh and diff queries cost more than it
-- saved in every step (the whole pipeline 10% faster on the demo data; the
-- recommendations view's concurrent refresh 0.3-0.8 s faster in a new session).
-- Each step is reported as it starts (seg_reco.progress, and NOTICE messages
-- with seg_reco.progress_messages) and logged with the backend's peak
-- resident memory in it (peak_memory_bytes).
CREATE OR REPLACE PROCEDURE seg_reco._refresh_steps(idle_before jsonb, INOUT run bigint, mode text DEFAULT NULL)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_run bigint := nextval('seg_reco.refresh_run_seq');
    v_t0 timestamptz;
    v_rows bigint;
    v_detail jsonb;
    v_plan jsonb;
    v_kind text;
    v_full boolean;
    v_changed bigint[];
    v_complete boolean;
    v_settings jsonb;
BEGIN
    run := v_run;
    -- on Citus (seg_reco.distribute()) the steps write reference tables
    -- that distributed tables have foreign keys to: one connection per node
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    -- one run at a time (readers of the state take no conflicting lock)
    LOCK TABLE seg_reco.refresh_state IN SHARE ROW EXCLUSIVE MODE;
    v_plan := seg_reco._refresh_plan(mode);
    v_kind := v_plan ->> 'kind';
    v_full := v_kind = 'full';
    PERFORM seg_reco._progress_begin('refresh', 11);
    PERFORM seg_reco._progress_step('refresh', 'customer_features');
    v_t0 := clock_timestamp();
    v_detail := v_plan || seg_reco._customer_state_refresh(v_full);
    IF NOT v_full THEN
        v_changed := ARRAY(SELECT c.customer_id FROM pg_temp.seg_reco_changed c ORDER BY c.customer_id);
    END IF;
    IF v_full THEN
        -- statistics for the next incremental run's lookups by customer
        ANALYZE seg_reco.customer_state;
    END IF;
    v_detail := v_detail || jsonb_build_object('features_written', seg_reco._customer_features_update(v_changed));
    SELECT count(*) INTO v_rows FROM seg_reco.customer_feature_values;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_features', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'clusters');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_clusters();
        ANALYZE seg_reco.customer_clusters;
    ELSE
        v_detail := seg_reco._refresh_clusters_stored(v_changed);
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_clusters;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'clusters', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'customer_value');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_value();
    ELSE
        v_detail := seg_reco._refresh_value_stored();
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.customer_value;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_value', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'content');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_content();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.product_content;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'content', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'popularity');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_popularity();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.segment_popularity;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'popularity', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'rules');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.build_rules();
    ELSE
        v_detail := jsonb_build_object('models', 'kept');
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.product_rules;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'rules', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    -- The ALS model and the lists.  A full run trains the model and
    -- rebuilds every list.  An incremental run folds the customers whose
    -- lines changed (v_changed, sorted; also in pg_temp.seg_reco_changed)
    -- into the stored model against its fixed product factors, and
    -- replaces their lists only, in the served slot, as long as every other
    -- input of the lists (model version, content, popularity, settings,
    -- catalogue) is what their last full rebuild used; otherwise everyone's.
    -- The other lists keep the buy-again timing of the date they were
    -- computed at (recommendations_active.inputs, as_of), until the next
    -- full run.
    PERFORM seg_reco._progress_step('refresh', 'als_model');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_als();
        ANALYZE seg_reco.als_customer_factors;
    ELSE
        v_detail := jsonb_build_object('models', 'kept', 'fold_in', seg_reco.als_fold_in('default', v_changed));
    END IF;
    SELECT count(*) INTO v_rows FROM seg_reco.als_customer_factors f WHERE f.model = 'default';
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'als_model', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'recommendations');
    v_t0 := clock_timestamp();
    IF v_full THEN
        v_detail := seg_reco.refresh_recommendations();
    ELSE
        IF (SELECT a.inputs - 'as_of' FROM seg_reco.recommendations_active a)
           = seg_reco._recommendations_inputs() - 'as_of' THEN
            v_detail := seg_reco.refresh_recommendations(v_changed)
                        || jsonb_build_object('lists', 'changed customers');
        ELSE
            v_detail := seg_reco.refresh_recommendations()
                        || jsonb_build_object('lists', 'all',
                                              'reason', 'inputs changed since the last full rebuild');
        END IF;
    END IF;
    v_rows := (v_detail ->> 'rows')::bigint;
    v_detail := (v_detail - 'rows')
                || jsonb_build_object('before_fill',
                                      coalesce(idle_before,
                                               jsonb_build_object('emptied', 'no', 'reason',
                                                                  'refresh() ran in a transaction block or a function')));
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'recommendations', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'customer_segments');
    v_t0 := clock_timestamp();
    v_detail := seg_reco._customer_rfm_update(v_changed);
    SELECT count(*) INTO v_rows FROM seg_reco.customer_rfm;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'customer_segments', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'segment_summary');
    v_t0 := clock_timestamp();
    REFRESH MATERIALIZED VIEW CONCURRENTLY seg_reco.segment_summary;
    SELECT count(*) INTO v_rows FROM seg_reco.segment_summary;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'segment_summary', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, NULL,
         seg_reco._progress_peak_memory(), v_kind);

    PERFORM seg_reco._progress_step('refresh', 'cohorts');
    v_t0 := clock_timestamp();
    v_detail := seg_reco._cohorts_update(v_changed);
    SELECT count(*) INTO v_rows FROM seg_reco.cohorts;
    INSERT INTO seg_reco.refresh_log VALUES
        (v_run, 'cohorts', v_t0, clock_timestamp(),
         round(extract(epoch FROM clock_timestamp() - v_t0)::numeric * 1000, 1), v_rows, v_detail,
         seg_reco._progress_peak_memory(), v_kind);

    IF v_full THEN
        -- the models an incremental run may keep: all trained in this run
        -- (read first: after distribute() refresh_state is a reference
        -- table, whose UPDATE Citus runs with values, not subqueries)
        v_complete := NOT EXISTS (SELECT 1 FROM seg_reco.refresh_log l
                                   WHERE l.run_id = v_run
                                     AND l.step IN ('clusters', 'customer_value', 'als_model')
                                     AND (l.detail ? 'skipped' OR l.row_count = 0));
        v_settings := seg_reco._model_settings();
        UPDATE seg_reco.refresh_state
           SET last_full_run = v_run, last_full_at = now(), model_settings = v_settings,
               models_complete = v_complete;
    END IF;
    PERFORM seg_reco._progress_end('refresh');
END;
$fn$;
COMMENT ON PROCEDURE seg_reco._refresh_steps(jsonb, bigint, text) IS 'refresh() helper: the steps of the pipeline in one transaction (full or incremental, see _refresh_plan), each logged in seg_reco.refresh_log';
REVOKE EXECUTE ON PROCEDURE seg_reco._refresh_steps(jsonb, bigint, text) FROM PUBLIC;


-- Issue 13 review (weights objects are whole): evaluate() says which sources a
-- config weights object leaves out (they weigh 0).

-- Issue 13 review (new-product weights re-chosen on the validation windows of
-- the current demo data and UCI Online Retail: ALS 1, next basket 0.05), and
-- tune_weights() scores that set too.
UPDATE seg_reco.setting_defaults SET value = '{"rebuy": {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5}, "new": {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "history_prior": 0}}'
 WHERE key = 'hybrid_weights';

-- Issue 12, item 3 (rules at scale): association_rules and frequent_itemsets
-- get max_baskets (a hash sample of the baskets above it); build_rules mines
-- at most the setting rules_max_baskets (default 500,000) receipts.
DROP FUNCTION seg_reco.association_rules(text, float8, float8, integer, integer, integer, integer);
CREATE FUNCTION seg_reco.association_rules(query text,
                                           min_support float8,
                                           min_confidence float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000,
                                           max_baskets integer DEFAULT NULL)
RETURNS TABLE(lhs bigint[], rhs bigint, support float8, confidence float8, lift float8,
              leverage float8, conviction float8, coverage float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_association_rules'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.association_rules(text, float8, float8, integer, integer, integer, integer, integer) IS 'association rules lhs => {rhs} (one item on the right, as arules'' apriori) with support, confidence, lift, leverage, conviction, coverage and count, from the frequent itemsets (FP-growth) of a query of (basket id, product id); above max_baskets baskets, of a hash sample of at most that many';
DROP FUNCTION seg_reco.frequent_itemsets(text, float8, integer, integer, integer, integer);
CREATE FUNCTION seg_reco.frequent_itemsets(query text,
                                           min_support float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000,
                                           max_baskets integer DEFAULT NULL)
RETURNS TABLE(items bigint[], support float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_frequent_itemsets'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.frequent_itemsets(text, float8, integer, integer, integer, integer, integer) IS 'every itemset held by at least ceil(min_support x baskets) (and min_count) baskets of a query of (basket id, product id), with its support and count (FP-growth); above max_baskets baskets, of a hash sample of at most that many';

-- The highest sample level at which association_rules' hash sample keeps a
-- basket (the leading zero bits of its sample hash): build_rules on Citus
-- counts the receipts per level in the shards and reads only the sample.
CREATE FUNCTION seg_reco._basket_sample_level(basket_id bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'seg_reco_basket_sample_level'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._basket_sample_level(bigint) IS 'internal: the highest level at which the hash sample of association_rules (max_baskets) keeps a basket of this id (0-32)';
REVOKE EXECUTE ON FUNCTION seg_reco._basket_sample_level(bigint) FROM PUBLIC;
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('rules_max_baskets', '500000', 'most receipts build_rules mines (0: all); above it the rules come from a hash sample of at most that many receipts, which bounds the step''s memory and time');

-- Issue 12, item 1 (clusters at scale): refresh_clusters computes the
-- feature vectors once, calls each model once per customer and profiles
-- the clusters per cluster instead of per customer and column.

-- issue 12 (scale), the next-basket build at scale: the candidate sample as the setting
-- nextbasket_candidates (an argument of _nextbasket_build, read by nextbasket_build)
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('nextbasket_candidates', '10000', 'TIFU-KNN: past this many customers, the nearest are searched among a sample of this many (chosen by a hash of the id); the build''s time grows with customers x candidates');
DROP FUNCTION seg_reco._nextbasket_build(text, timestamptz, integer, float8, float8, integer, float8);
CREATE FUNCTION seg_reco._nextbasket_build(model text, as_of timestamptz, group_size integer,
                                           within_decay float8, group_decay float8,
                                           neighbours integer, alpha float8,
                                           candidates integer DEFAULT 10000,
                                           upcf_baskets integer DEFAULT 10,
                                           upcf_alpha float8 DEFAULT 0.5,
                                           upcf_locality float8 DEFAULT 2,
                                           upcf_neighbours integer DEFAULT 100)
RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_nextbasket_build'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco._nextbasket_build(text, timestamptz, integer, float8, float8, integer, float8, integer, integer, float8, float8, integer) IS 'internal: computes every customer''s TIFU-KNN vector from the purchases before as_of, finds each one''s nearest customers (among a sample of candidates of them) and stores the neighbours'' mean vector, and the UP-CF@r scores of the products new to each customer; returns the customers stored';
REVOKE EXECUTE ON FUNCTION seg_reco._nextbasket_build(text, timestamptz, integer, float8, float8, integer, float8, integer, integer, float8, float8, integer) FROM PUBLIC;

-- rfm_score() names segments through rfm_segment_codes() (created at the top)
CREATE OR REPLACE FUNCTION seg_reco.rfm_score(as_of date DEFAULT NULL)
RETURNS TABLE (
    customer_id     bigint,
    as_of_date      date,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    recency_days    integer,
    frequency       bigint,
    monetary        numeric,
    r_score         integer,
    f_score         integer,
    m_score         integer,
    rfm_code        text,
    segment         text
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := coalesce(as_of, seg_reco.default_as_of());
BEGIN

    RETURN QUERY
    WITH agg AS (
        SELECT t.customer_id AS cid,
               seg_reco.rfm(t.receipt_id, t.ts, t.amount::float8) AS v
          FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL
           AND t.ts < (v_as_of + 1)::timestamptz
         GROUP BY t.customer_id
    ), vals AS (
        SELECT coalesce(c.customer_id, a.cid) AS cid,
               (a.v).first_purchase AS first_p,
               (a.v).last_purchase AS last_p,
               coalesce((a.v).frequency, 0) AS freq,
               coalesce((a.v).monetary, 0.00) AS money
          FROM seg_reco.customers c
          FULL JOIN agg a ON a.cid = c.customer_id
    ), recency AS (
        SELECT v.*, (v_as_of - (v.last_p)::date) AS rec
          FROM vals v
    ), scored AS (
        SELECT r.*,
               1 + (5 * (rank() OVER (ORDER BY r.rec DESC) - 1)
                    / count(*) OVER ())::integer AS rs,
               1 + (5 * (rank() OVER (ORDER BY r.freq) - 1)
                    / count(*) OVER ())::integer AS fs,
               1 + (5 * (rank() OVER (ORDER BY r.money) - 1)
                    / count(*) OVER ())::integer AS ms
          FROM recency r
         WHERE r.freq > 0
    ), codes AS (
        SELECT c.r_score AS r, c.f_score AS f, c.m_score AS m, c.segment AS seg
          FROM seg_reco.rfm_segment_codes() c
    )
    SELECT r.cid, v_as_of, r.first_p, r.last_p, r.rec, r.freq, r.money,
           s.rs, s.fs, s.ms,
           CASE WHEN s.cid IS NULL THEN NULL ELSE s.rs::text || s.fs::text || s.ms::text END,
           coalesce(k.seg, 'No Purchases')
      FROM recency r
      LEFT JOIN scored s ON s.cid = r.cid
      LEFT JOIN codes k ON k.r = s.rs AND k.f = s.fs AND k.m = s.ms
     ORDER BY r.cid;
END;
$fn$;

-- issue 12 (popularity in one pass): segment popularity of both windows
-- (validation, served) from one read of the lines, in C
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


-- Issue 15, item 1: seg_reco.nonmember_transactions created by the extension (an
-- extension member, dropped with it; pg_dump dumps its rows), only moved into
-- and distributed by distribute().
-- On Citus the non-members' lines (customer_id NULL) cannot stay in
-- transactions (distributed by customer id): seg_reco.distribute() moves
-- them here and distributes this table by receipt_id.  On a single node it
-- stays empty (the non-members' lines are in transactions); default_as_of
-- and build_rules read it as well.
CREATE TABLE seg_reco.nonmember_transactions (
    line_id         bigint NOT NULL,
    receipt_id      bigint NOT NULL,
    customer_id     bigint CHECK (customer_id IS NULL),
    product_id      bigint NOT NULL,
    store_id        integer NOT NULL,
    ts              timestamptz NOT NULL,
    quantity        numeric(10,3) NOT NULL,
    unit_price      numeric(10,2) NOT NULL,
    discount        numeric(10,2) NOT NULL DEFAULT 0,
    amount          numeric(12,2) NOT NULL,
    channel         text NOT NULL DEFAULT 'store' CHECK (channel IN ('store', 'online')),
    PRIMARY KEY (receipt_id, line_id)
);
COMMENT ON TABLE seg_reco.nonmember_transactions IS 'receipt lines of non-members on Citus, moved out of seg_reco.transactions by seg_reco.distribute() (the same columns; empty on a single node)';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.nonmember_transactions', '');

-- Issue 15, item 2: the serving functions delegated to the worker that owns the
-- customer (distribute() moves what they read); build_content writes its terms
-- and vectors from temporary tables; pipeline_recommendations chooses the
-- customers the model does not know in one query; refresh on Citus writes
-- with one connection per node.  (Those functions and _refresh_steps are
-- defined once above, at their final text, as is distribute()'s comment.)


-- The size of a table's rows in bytes: pg_relation_size, or on Citus for
-- a distributed or reference table the size of its shards
-- (citus_relation_size; the coordinator's own copy of such a table is
-- empty).  refresh() asks it whether the idle recommendations slot is
-- empty, in a short transaction of its own (Citus refuses its size
-- functions in a transaction that wrote several shards).
CREATE FUNCTION seg_reco._relation_size(rel regclass) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_size bigint;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT pg_catalog.citus_relation_size(d.logicalrelid)
                   FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1'
           INTO v_size USING rel;
        IF v_size IS NOT NULL THEN
            RETURN v_size;
        END IF;
    END IF;
    RETURN pg_catalog.pg_relation_size(rel);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._relation_size(regclass) IS 'refresh() helper: bytes of a table''s rows (pg_relation_size; on Citus, of a distributed or reference table''s shards)';
REVOKE EXECUTE ON FUNCTION seg_reco._relation_size(regclass) FROM PUBLIC;

-- Issue 13, part 1 (UP-CF@r's neighbours): the next-basket build also stores,
-- per customer, the UP-CF@r scores of the products new to the customer
-- (nextbasket_neighbours.upcf_product_ids, upcf_scores; the table and
-- _nextbasket_build, new in 0.2.0, are defined above at their final text),
-- from the settings nextbasket_upcf_*; the blend's source "upcf" weighs 0.1
-- for new products by default.
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('nextbasket_upcf_baskets', '10', 'UP-CF@r (built with the next-basket model): a neighbour''s popularity is the share of its last this many baskets holding the product (0: all its baskets)'),
    ('nextbasket_upcf_alpha', '0.5', 'UP-CF@r: asymmetry of the cosine between two customers'' products ever bought, |I_u & I_v| / (|I_u|^alpha |I_v|^(1 - alpha)), in [0, 1]'),
    ('nextbasket_upcf_locality', '2', 'UP-CF@r: the similarity is raised to this power (q), in (0, 50]'),
    ('nextbasket_upcf_neighbours', '100', 'UP-CF@r: the most similar customers whose recent baskets are summed (k)');
UPDATE seg_reco.setting_defaults SET value = '{"rebuy": {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5, "upcf": 0, "seasonal": 0.1}, "new": {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "upcf": 0.1, "seasonal": 0, "history_prior": 0}}'
 WHERE key = 'hybrid_weights';

-- popular_products reads up to _serving_as_of() (on Citus the last refresh()'s
-- date: the latest line over every shard cost 7-14 ms a call; issue 15)
CREATE OR REPLACE FUNCTION seg_reco.popular_products(k integer DEFAULT 10,
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
