------------------------------------------------------------------------------
-- Clustering: k-means, Gaussian mixtures, silhouette, choosing k (src/clustering.c, kmeans.c, gmm.c, silhouette.c, select_k.c)
------------------------------------------------------------------------------
-- BEGIN clustering
-- Three aggregates collect float8[] feature rows (internal state, so they
-- do not run in parallel) and train in their final function; the models
-- are real types whose text form is JSON.  Rows whose features array is
-- NULL are skipped; a NULL, NaN or infinite element is an error.  Training
-- holds at most 2^27 values (rows x features) and fails past that with
-- SQLSTATE 54000.  Clusters are numbered 1..k.  Options (jsonb): n_init,
-- max_iter, tol, seed, standardize (z-scores), log1p (1-based columns);
-- gmm_train also covariance_type ('full' or 'diag') and reg_covar.  The
-- collected rows are put in an order of their own before training or
-- sampling, so results do not depend on the order rows arrive in; features
-- beyond +-1e100 (after log1p) fail with SQLSTATE 22003.

-- Stored models of every kind (kmeans, gmm; later als), replaced atomically
-- by name.  model holds the model's JSON text form.
CREATE TABLE seg_reco.models (
    name        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
    params      jsonb NOT NULL DEFAULT '{}',
    metrics     jsonb NOT NULL DEFAULT '{}',
    trained_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    model       jsonb NOT NULL
);
COMMENT ON TABLE seg_reco.models IS 'trained models by name: kind (kmeans, gmm, ...), training parameters, quality metrics, time, and the model in its JSON text form';
SELECT pg_catalog.pg_extension_config_dump('seg_reco.models', '');

-- A name holds one model.  Storing under a name held by a model of another
-- kind is refused unless the caller passes replace => true; then the other
-- model goes first, with its dependent rows (an als model's factor rows go
-- by ON DELETE CASCADE).  A model of the same kind is replaced in place
-- (retraining under the same name).  kinds: the kinds the caller stores
-- and may replace without asking (btyd_train: bgnbd and mbgnbd).  The row
-- stays locked until the end of the transaction.
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

-- Store a model (the row of seg_reco.models) under model_name, claimed as above.
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

-- k-means --------------------------------------------------------------------

CREATE TYPE seg_reco.kmeans_model;

CREATE FUNCTION seg_reco.kmeans_model_in(cstring) RETURNS seg_reco.kmeans_model
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_model_in(cstring) IS 'input function of seg_reco.kmeans_model (JSON text)';

CREATE FUNCTION seg_reco.kmeans_model_out(seg_reco.kmeans_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_model_out(seg_reco.kmeans_model) IS 'output function of seg_reco.kmeans_model (JSON text)';

CREATE TYPE seg_reco.kmeans_model (
    INPUT = seg_reco.kmeans_model_in,
    OUTPUT = seg_reco.kmeans_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE seg_reco.kmeans_model IS 'a trained k-means model: k, d, centroids, inertia, iterations, cluster sizes, training parameters and the feature preparation (text form: JSON)';

CREATE CAST (seg_reco.kmeans_model AS jsonb) WITH INOUT;
COMMENT ON CAST (seg_reco.kmeans_model AS jsonb) IS 'the model''s JSON text form as jsonb';
CREATE CAST (jsonb AS seg_reco.kmeans_model) WITH INOUT;
COMMENT ON CAST (jsonb AS seg_reco.kmeans_model) IS 'a k-means model from its JSON form (validated)';

CREATE FUNCTION seg_reco.kmeans_trans(internal, float8[], integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_trans(internal, float8[], integer) IS 'transition function of seg_reco.kmeans_train: collects rows';

CREATE FUNCTION seg_reco.kmeans_trans(internal, float8[], integer, jsonb)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_trans(internal, float8[], integer, jsonb) IS 'transition function of seg_reco.kmeans_train with options: collects rows';

CREATE FUNCTION seg_reco.kmeans_final(internal)
    RETURNS seg_reco.kmeans_model
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_final(internal) IS 'final function of seg_reco.kmeans_train: trains the model';

CREATE AGGREGATE seg_reco.kmeans_train(features float8[], k integer) (
    SFUNC = seg_reco.kmeans_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.kmeans_train(float8[], integer) IS 'k-means (k-means++ seeding, 3 restarts, max_iter 300, tol 1e-4, seed 0, no scaling) over rows of features';

CREATE AGGREGATE seg_reco.kmeans_train(features float8[], k integer, options jsonb) (
    SFUNC = seg_reco.kmeans_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.kmeans_train(float8[], integer, jsonb) IS 'k-means over rows of features; options: n_init, max_iter, tol, seed, standardize, log1p';

CREATE FUNCTION seg_reco.kmeans_assign(features float8[], model seg_reco.kmeans_model)
    RETURNS integer
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_assign'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_assign(float8[], seg_reco.kmeans_model) IS 'the cluster (1..k) of the nearest centroid, after the model''s feature preparation';

CREATE TYPE seg_reco.kmeans_assignment AS (
    cluster     integer,
    distance    float8
);
COMMENT ON TYPE seg_reco.kmeans_assignment IS 'a cluster (1..k) and the Euclidean distance to its centroid in the model''s prepared feature space';

CREATE FUNCTION seg_reco.kmeans_assign_distance(features float8[], model seg_reco.kmeans_model)
    RETURNS seg_reco.kmeans_assignment
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_assign_distance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_assign_distance(float8[], seg_reco.kmeans_model) IS 'the nearest cluster and the distance to its centroid (prepared feature space)';

CREATE FUNCTION seg_reco.kmeans_silhouette(features float8[], model seg_reco.kmeans_model)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_silhouette'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_silhouette(float8[], seg_reco.kmeans_model) IS 'simplified silhouette of one row: (b - a) / max(a, b) with a, b the distances to the nearest and second-nearest centroid';

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

CREATE FUNCTION seg_reco._model_load(name text, want_kind text)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind  text;
    v_model jsonb;
BEGIN
    SELECT m.kind, m.model INTO v_kind, v_model FROM seg_reco.models m WHERE m.name = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" does not exist', $1
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'No row of seg_reco.models has this name.',
                  HINT = 'List the stored models with: SELECT name, kind FROM seg_reco.models.';
    END IF;
    IF v_kind <> $2 THEN
        RAISE EXCEPTION 'model "%" is a % model, not %', $1, v_kind, $2
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Use the functions of that kind of model.';
    END IF;
    RETURN v_model;
END
$$;
COMMENT ON FUNCTION seg_reco._model_load(text, text) IS 'the stored model of that name and kind (error if missing or of another kind)';

CREATE FUNCTION seg_reco.kmeans_load(name text)
    RETURNS seg_reco.kmeans_model
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$ SELECT seg_reco._model_load($1, 'kmeans')::text::seg_reco.kmeans_model $$;
COMMENT ON FUNCTION seg_reco.kmeans_load(text) IS 'the k-means model stored under this name';

CREATE FUNCTION seg_reco.kmeans_assign(features float8[], model_name text)
    RETURNS integer
    AS 'MODULE_PATHNAME', 'seg_reco_kmeans_assign_by_name'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.kmeans_assign(float8[], text) IS 'the cluster (1..k) under the stored k-means model of that name (read once per query)';

-- Gaussian mixtures ----------------------------------------------------------

CREATE TYPE seg_reco.gmm_model;

CREATE FUNCTION seg_reco.gmm_model_in(cstring) RETURNS seg_reco.gmm_model
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_model_in(cstring) IS 'input function of seg_reco.gmm_model (JSON text)';

CREATE FUNCTION seg_reco.gmm_model_out(seg_reco.gmm_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_model_out(seg_reco.gmm_model) IS 'output function of seg_reco.gmm_model (JSON text)';

CREATE TYPE seg_reco.gmm_model (
    INPUT = seg_reco.gmm_model_in,
    OUTPUT = seg_reco.gmm_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE seg_reco.gmm_model IS 'a trained Gaussian mixture: weights, means, full or diagonal covariances, mean log-likelihood, BIC, AIC, training parameters and feature preparation (text form: JSON)';

CREATE CAST (seg_reco.gmm_model AS jsonb) WITH INOUT;
COMMENT ON CAST (seg_reco.gmm_model AS jsonb) IS 'the model''s JSON text form as jsonb';
CREATE CAST (jsonb AS seg_reco.gmm_model) WITH INOUT;
COMMENT ON CAST (jsonb AS seg_reco.gmm_model) IS 'a Gaussian mixture from its JSON form (validated)';

CREATE FUNCTION seg_reco.gmm_trans(internal, float8[], integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_trans(internal, float8[], integer) IS 'transition function of seg_reco.gmm_train: collects rows';

CREATE FUNCTION seg_reco.gmm_trans(internal, float8[], integer, jsonb)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_trans(internal, float8[], integer, jsonb) IS 'transition function of seg_reco.gmm_train with options: collects rows';

CREATE FUNCTION seg_reco.gmm_final(internal)
    RETURNS seg_reco.gmm_model
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_final(internal) IS 'final function of seg_reco.gmm_train: runs EM';

CREATE AGGREGATE seg_reco.gmm_train(features float8[], k integer) (
    SFUNC = seg_reco.gmm_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.gmm_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.gmm_train(float8[], integer) IS 'Gaussian mixture by EM (full covariance, reg_covar 1e-6, 1 k-means initialisation, max_iter 100, tol 1e-3, seed 0)';

CREATE AGGREGATE seg_reco.gmm_train(features float8[], k integer, options jsonb) (
    SFUNC = seg_reco.gmm_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.gmm_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.gmm_train(float8[], integer, jsonb) IS 'Gaussian mixture by EM; options: covariance_type, reg_covar, n_init, max_iter, tol, seed, standardize, log1p';

CREATE FUNCTION seg_reco.gmm_assign(features float8[], model seg_reco.gmm_model)
    RETURNS integer
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_assign'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_assign(float8[], seg_reco.gmm_model) IS 'the most probable mixture component (1..k)';

CREATE FUNCTION seg_reco.gmm_proba(features float8[], model seg_reco.gmm_model)
    RETURNS float8[]
    AS 'MODULE_PATHNAME', 'seg_reco_gmm_proba'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gmm_proba(float8[], seg_reco.gmm_model) IS 'posterior probabilities of the k mixture components (sum 1)';

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

CREATE FUNCTION seg_reco.gmm_load(name text)
    RETURNS seg_reco.gmm_model
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$ SELECT seg_reco._model_load($1, 'gmm')::text::seg_reco.gmm_model $$;
COMMENT ON FUNCTION seg_reco.gmm_load(text) IS 'the Gaussian mixture stored under this name';

-- Validation -----------------------------------------------------------------

CREATE FUNCTION seg_reco.silhouette_trans(internal, float8[], integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_silhouette_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.silhouette_trans(internal, float8[], integer) IS 'transition function of seg_reco.silhouette: collects rows and labels';

CREATE FUNCTION seg_reco.silhouette_trans(internal, float8[], integer, integer, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_silhouette_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.silhouette_trans(internal, float8[], integer, integer, bigint) IS 'transition function of the sampled seg_reco.silhouette: collects rows and labels';

CREATE FUNCTION seg_reco.silhouette_final(internal)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'seg_reco_silhouette_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.silhouette_final(internal) IS 'final function of seg_reco.silhouette';

CREATE AGGREGATE seg_reco.silhouette(features float8[], cluster integer) (
    SFUNC = seg_reco.silhouette_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.silhouette_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.silhouette(float8[], integer) IS 'exact mean silhouette (Euclidean) of the rows under their cluster labels; O(n^2)';

CREATE AGGREGATE seg_reco.silhouette(features float8[], cluster integer, sample_size integer, seed bigint) (
    SFUNC = seg_reco.silhouette_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.silhouette_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.silhouette(float8[], integer, integer, bigint) IS 'exact mean silhouette on a seeded random sample of sample_size rows';

CREATE FUNCTION seg_reco.select_k_trans(internal, float8[], integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_select_k_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.select_k_trans(internal, float8[], integer, integer) IS 'transition function of seg_reco.kmeans_select_k: collects rows';

CREATE FUNCTION seg_reco.select_k_trans(internal, float8[], integer, integer, jsonb)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'seg_reco_select_k_trans'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.select_k_trans(internal, float8[], integer, integer, jsonb) IS 'transition function of seg_reco.kmeans_select_k with options: collects rows';

CREATE FUNCTION seg_reco.select_k_final(internal)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'seg_reco_select_k_final'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.select_k_final(internal) IS 'final function of seg_reco.kmeans_select_k';

CREATE AGGREGATE seg_reco.kmeans_select_k(features float8[], k_min integer, k_max integer) (
    SFUNC = seg_reco.select_k_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.select_k_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.kmeans_select_k(float8[], integer, integer) IS 'k-means for each k in [k_min, k_max]: inertia, silhouette (sample of 5000) and BIC per k, and the k with the highest silhouette (jsonb)';

CREATE AGGREGATE seg_reco.kmeans_select_k(features float8[], k_min integer, k_max integer, options jsonb) (
    SFUNC = seg_reco.select_k_trans,
    STYPE = internal,
    FINALFUNC = seg_reco.select_k_final,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE seg_reco.kmeans_select_k(float8[], integer, integer, jsonb) IS 'choosing k with options: n_init, max_iter, tol, seed, standardize, log1p, sample_size';
-- END clustering

