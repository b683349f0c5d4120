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
