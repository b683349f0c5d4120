------------------------------------------------------------------------------
-- Lifetime value and churn: BG/NBD, MBG/NBD, Gamma-Gamma (src/btyd_*.c)
------------------------------------------------------------------------------
-- BEGIN btyd
-- Summaries, fitting aggregates, closed forms, stored models and scores.
-- Definitions (Fader & Hardie; the lifetimes library): a purchase occasion
-- is a day with a line of amount >= 0 (a day's lines are one occasion);
-- frequency = occasions after the first up to the calibration end;
-- recency = days from the first to the last occasion / unit; t = days from
-- the first occasion to the calibration end / unit; monetary_value = net
-- amount after the first occasion's day / frequency (0 when frequency = 0);
-- unit 'day' = 1 day, 'week' = 7 days (fractional weeks).

CREATE TYPE seg_reco.btyd_summary_state;

CREATE FUNCTION seg_reco.btyd_summary_state_in(cstring) RETURNS seg_reco.btyd_summary_state
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_state_in(cstring) IS 'text input of seg_reco.btyd_summary_state';

CREATE FUNCTION seg_reco.btyd_summary_state_out(seg_reco.btyd_summary_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_state_out(seg_reco.btyd_summary_state) IS 'text output of seg_reco.btyd_summary_state';

CREATE TYPE seg_reco.btyd_summary_state (
    INPUT = seg_reco.btyd_summary_state_in,
    OUTPUT = seg_reco.btyd_summary_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE seg_reco.btyd_summary_state IS 'partial state of seg_reco.btyd_summary: unit, calibration end, line count and the net amount of each distinct day (text: unit,calibration_end,lines:{day:amount,day!amount,...}, days since 2000-01-01, "!" = returns only)';

CREATE TYPE seg_reco.btyd_summary_values AS (
    frequency       bigint,
    recency         float8,
    t               float8,
    monetary_value  float8,
    first_purchase  date,
    last_purchase   date
);
COMMENT ON TYPE seg_reco.btyd_summary_values IS 'result of seg_reco.btyd_summary: repeat purchase occasions, age at the last and at the calibration end (in the unit), mean repeat spend, first and last occasion';

CREATE FUNCTION seg_reco.btyd_summary_trans(seg_reco.btyd_summary_state, date, float8, date)
    RETURNS seg_reco.btyd_summary_state
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_trans(seg_reco.btyd_summary_state, date, float8, date) IS 'transition function of seg_reco.btyd_summary (unit week)';

CREATE FUNCTION seg_reco.btyd_summary_trans(seg_reco.btyd_summary_state, date, float8, date, text)
    RETURNS seg_reco.btyd_summary_state
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_trans(seg_reco.btyd_summary_state, date, float8, date, text) IS 'transition function of seg_reco.btyd_summary';

CREATE FUNCTION seg_reco.btyd_summary_combine(seg_reco.btyd_summary_state, seg_reco.btyd_summary_state)
    RETURNS seg_reco.btyd_summary_state
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_combine(seg_reco.btyd_summary_state, seg_reco.btyd_summary_state) IS 'combine function of seg_reco.btyd_summary';

CREATE FUNCTION seg_reco.btyd_summary_final(seg_reco.btyd_summary_state)
    RETURNS seg_reco.btyd_summary_values
    AS 'MODULE_PATHNAME', 'seg_reco_btyd_summary_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.btyd_summary_final(seg_reco.btyd_summary_state) IS 'BTYD summary of a (partial) btyd_summary state; NULL when there is no purchase up to the calibration end';

CREATE AGGREGATE seg_reco.btyd_summary(purchase_date date, amount float8, calibration_end date, unit text) (
    SFUNC = seg_reco.btyd_summary_trans,
    STYPE = seg_reco.btyd_summary_state,
    COMBINEFUNC = seg_reco.btyd_summary_combine,
    FINALFUNC = seg_reco.btyd_summary_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.btyd_summary(date, float8, date, text) IS 'per-customer BTYD summary (frequency, recency, t, monetary_value) over purchase lines up to calibration_end, in unit ''day'' or ''week''';

CREATE AGGREGATE seg_reco.btyd_summary(purchase_date date, amount float8, calibration_end date) (
    SFUNC = seg_reco.btyd_summary_trans,
    STYPE = seg_reco.btyd_summary_state,
    COMBINEFUNC = seg_reco.btyd_summary_combine,
    FINALFUNC = seg_reco.btyd_summary_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.btyd_summary(date, float8, date) IS 'per-customer BTYD summary in weeks over purchase lines up to calibration_end';

CREATE AGGREGATE seg_reco.btyd_summary_state_agg(purchase_date date, amount float8, calibration_end date, unit text) (
    SFUNC = seg_reco.btyd_summary_trans,
    STYPE = seg_reco.btyd_summary_state,
    COMBINEFUNC = seg_reco.btyd_summary_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.btyd_summary_state_agg(date, float8, date, text) IS 'BTYD summary partial state (merge with seg_reco.btyd_summary_merge, read with seg_reco.btyd_summary_final)';

CREATE AGGREGATE seg_reco.btyd_summary_merge(seg_reco.btyd_summary_state) (
    SFUNC = seg_reco.btyd_summary_combine,
    STYPE = seg_reco.btyd_summary_state,
    COMBINEFUNC = seg_reco.btyd_summary_combine,
    FINALFUNC = seg_reco.btyd_summary_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.btyd_summary_merge(seg_reco.btyd_summary_state) IS 'merges BTYD summary partial states into a summary';

-- Fitting: aggregates over summaries.  The penalizer (default 0) adds
-- penalizer * (sum of squared parameters) to the mean negative
-- log-likelihood, as in lifetimes.  A fit that does not converge returns
-- converged = false with a WARNING.
CREATE TYPE seg_reco.bgnbd_model AS (
    r               float8,
    alpha           float8,
    a               float8,
    b               float8,
    log_likelihood  float8,
    iterations      integer,
    converged       boolean,
    n_customers     bigint,
    penalizer       float8
);
COMMENT ON TYPE seg_reco.bgnbd_model IS 'a fitted BG/NBD or MBG/NBD model: parameters, log-likelihood (without penalty), optimiser iterations, convergence, customers, penalizer';

CREATE TYPE seg_reco.gammagamma_model AS (
    p               float8,
    q               float8,
    gamma           float8,
    log_likelihood  float8,
    iterations      integer,
    converged       boolean,
    n_customers     bigint,
    penalizer       float8
);
COMMENT ON TYPE seg_reco.gammagamma_model IS 'a fitted Gamma-Gamma spend model: parameters, log-likelihood, iterations, convergence, customers used, penalizer';

CREATE FUNCTION seg_reco.bgnbd_fit_trans(internal, float8, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_fit_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_fit_trans(internal, float8, float8, float8) IS 'transition function of the BG/NBD and MBG/NBD fitting aggregates';
CREATE FUNCTION seg_reco.bgnbd_fit_trans(internal, float8, float8, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_fit_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_fit_trans(internal, float8, float8, float8, float8) IS 'transition function of the BG/NBD and MBG/NBD fitting aggregates, with penalizer';
CREATE FUNCTION seg_reco.bgnbd_fit_final(internal) RETURNS seg_reco.bgnbd_model
    AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_fit_final(internal) IS 'final function of seg_reco.bgnbd_fit: runs the optimiser';
CREATE FUNCTION seg_reco.mbgnbd_fit_final(internal) RETURNS seg_reco.bgnbd_model
    AS 'MODULE_PATHNAME', 'seg_reco_mbgnbd_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.mbgnbd_fit_final(internal) IS 'final function of seg_reco.mbgnbd_fit: runs the optimiser';
CREATE FUNCTION seg_reco.gammagamma_fit_trans(internal, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'seg_reco_gammagamma_fit_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gammagamma_fit_trans(internal, float8, float8) IS 'transition function of seg_reco.gammagamma_fit';
CREATE FUNCTION seg_reco.gammagamma_fit_trans(internal, float8, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'seg_reco_gammagamma_fit_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gammagamma_fit_trans(internal, float8, float8, float8) IS 'transition function of seg_reco.gammagamma_fit, with penalizer';
CREATE FUNCTION seg_reco.gammagamma_fit_final(internal) RETURNS seg_reco.gammagamma_model
    AS 'MODULE_PATHNAME', 'seg_reco_gammagamma_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gammagamma_fit_final(internal) IS 'final function of seg_reco.gammagamma_fit: runs the optimiser';

CREATE AGGREGATE seg_reco.bgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = seg_reco.bgnbd_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.bgnbd_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.bgnbd_fit(float8, float8, float8) IS 'fits BG/NBD (Fader, Hardie & Lee 2005) by maximum likelihood to customer summaries';
CREATE AGGREGATE seg_reco.bgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = seg_reco.bgnbd_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.bgnbd_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.bgnbd_fit(float8, float8, float8, float8) IS 'fits BG/NBD by penalised maximum likelihood to customer summaries';
CREATE AGGREGATE seg_reco.mbgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = seg_reco.bgnbd_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.mbgnbd_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.mbgnbd_fit(float8, float8, float8) IS 'fits MBG/NBD (Batislam et al. 2007) by maximum likelihood to customer summaries';
CREATE AGGREGATE seg_reco.mbgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = seg_reco.bgnbd_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.mbgnbd_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.mbgnbd_fit(float8, float8, float8, float8) IS 'fits MBG/NBD by penalised maximum likelihood to customer summaries';
CREATE AGGREGATE seg_reco.gammagamma_fit(frequency float8, monetary_value float8) (
    SFUNC = seg_reco.gammagamma_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.gammagamma_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.gammagamma_fit(float8, float8) IS 'fits the Gamma-Gamma spend model on rows with frequency > 0 and monetary_value > 0 (others are skipped)';
CREATE AGGREGATE seg_reco.gammagamma_fit(frequency float8, monetary_value float8, penalizer float8) (
    SFUNC = seg_reco.gammagamma_fit_trans, STYPE = internal,
    FINALFUNC = seg_reco.gammagamma_fit_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE seg_reco.gammagamma_fit(float8, float8, float8) IS 'fits the Gamma-Gamma spend model with a penalizer on rows with frequency > 0 and monetary_value > 0';

-- Closed forms, from the parameters.
CREATE FUNCTION seg_reco.bgnbd_p_alive(r float8, alpha float8, a float8, b float8,
                                       frequency float8, recency float8, t float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_p_alive'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_p_alive(float8, float8, float8, float8, float8, float8, float8) IS 'BG/NBD probability that a customer is alive at t (1 for frequency 0, a property of the model)';
CREATE FUNCTION seg_reco.mbgnbd_p_alive(r float8, alpha float8, a float8, b float8,
                                        frequency float8, recency float8, t float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_mbgnbd_p_alive'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.mbgnbd_p_alive(float8, float8, float8, float8, float8, float8, float8) IS 'MBG/NBD probability that a customer is alive at t';
CREATE FUNCTION seg_reco.bgnbd_expected_purchases(r float8, alpha float8, a float8, b float8,
        frequency float8, recency float8, t float8, horizon float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_expected_purchases'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_expected_purchases(float8, float8, float8, float8, float8, float8, float8, float8) IS 'BG/NBD expected purchases in the next horizon periods given frequency, recency and t (FHL 2005 eq. 10)';
CREATE FUNCTION seg_reco.mbgnbd_expected_purchases(r float8, alpha float8, a float8, b float8,
        frequency float8, recency float8, t float8, horizon float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_mbgnbd_expected_purchases'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.mbgnbd_expected_purchases(float8, float8, float8, float8, float8, float8, float8, float8) IS 'MBG/NBD expected purchases in the next horizon periods given frequency, recency and t';
CREATE FUNCTION seg_reco.gammagamma_expected_spend(p float8, q float8, gamma float8,
        frequency float8, monetary_value float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_gammagamma_expected_spend'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.gammagamma_expected_spend(float8, float8, float8, float8, float8) IS 'Gamma-Gamma expected mean spend per purchase; the population mean p*gamma/(q-1) for frequency 0 or monetary_value <= 0';
CREATE FUNCTION seg_reco.bgnbd_clv(r float8, alpha float8, a float8, b float8,
        frequency float8, recency float8, t float8, expected_spend float8,
        months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, unit text DEFAULT 'week')
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_bgnbd_clv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.bgnbd_clv(float8, float8, float8, float8, float8, float8, float8, float8, integer, float8, text) IS 'customer lifetime value over months with a monthly discount rate from BG/NBD expected purchases and an expected spend (lifetimes method)';
CREATE FUNCTION seg_reco.mbgnbd_clv(r float8, alpha float8, a float8, b float8,
        frequency float8, recency float8, t float8, expected_spend float8,
        months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, unit text DEFAULT 'week')
    RETURNS float8 AS 'MODULE_PATHNAME', 'seg_reco_mbgnbd_clv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.mbgnbd_clv(float8, float8, float8, float8, float8, float8, float8, float8, integer, float8, text) IS 'customer lifetime value over months with a monthly discount rate from MBG/NBD expected purchases and an expected spend';

-- Stored models live in the model registry seg_reco.models (kind bgnbd or
-- mbgnbd): the fitted parameters in model (r, alpha, a, b and the Gamma-Gamma
-- spend model in model->'spend'), the training options in params, the fit
-- in metrics.  This view shows them in columns.
CREATE VIEW seg_reco.btyd_models AS
SELECT m.name, m.kind, m.model AS params,
       (m.metrics ->> 'log_likelihood')::float8 AS log_likelihood,
       (m.metrics ->> 'iterations')::integer AS iterations,
       (m.metrics ->> 'converged')::boolean AS converged,
       (m.metrics ->> 'n_customers')::bigint AS n_customers,
       (m.params ->> 'calibration_end')::date AS calibration_end,
       m.params ->> 'unit' AS unit,
       (m.params ->> 'penalizer')::float8 AS penalizer,
       m.trained_at
  FROM seg_reco.models m
 WHERE m.kind IN ('bgnbd', 'mbgnbd');
COMMENT ON VIEW seg_reco.btyd_models IS 'fitted lifetime-value models in seg_reco.models: purchase model parameters (r, alpha, a, b) and the Gamma-Gamma spend model (params->''spend'': p, q, gamma, ...), written by seg_reco.btyd_train';

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

-- a stored model, or an error naming the unknown model
CREATE FUNCTION seg_reco._btyd_model(model text)
RETURNS seg_reco.btyd_models
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_row seg_reco.btyd_models;
BEGIN
    SELECT * INTO v_row FROM seg_reco.btyd_models m WHERE m.name = model;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'btyd model "%" does not exist', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'Train it with seg_reco.btyd_train, or list seg_reco.btyd_models.';
    END IF;
    RETURN v_row;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._btyd_model(text) IS 'internal: the stored btyd model of that name, or an error';

CREATE FUNCTION seg_reco.p_alive(model text, frequency float8, recency float8, t float8)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE m.kind
           WHEN 'bgnbd' THEN seg_reco.bgnbd_p_alive((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t)
           ELSE seg_reco.mbgnbd_p_alive((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t) END
      FROM seg_reco._btyd_model(model) m
$fn$;
COMMENT ON FUNCTION seg_reco.p_alive(text, float8, float8, float8) IS 'probability alive at t from a stored btyd model (summaries in the model''s unit)';

CREATE FUNCTION seg_reco.expected_purchases(model text, frequency float8, recency float8, t float8,
                                            horizon float8)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE m.kind
           WHEN 'bgnbd' THEN seg_reco.bgnbd_expected_purchases((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t, horizon)
           ELSE seg_reco.mbgnbd_expected_purchases((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t, horizon) END
      FROM seg_reco._btyd_model(model) m
$fn$;
COMMENT ON FUNCTION seg_reco.expected_purchases(text, float8, float8, float8, float8) IS 'expected purchases in the next horizon periods (the model''s unit) from a stored btyd model';

CREATE FUNCTION seg_reco.expected_spend(model text, frequency float8, monetary_value float8)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT seg_reco.gammagamma_expected_spend((m.params#>>'{spend,p}')::float8,
               (m.params#>>'{spend,q}')::float8, (m.params#>>'{spend,gamma}')::float8,
               frequency, monetary_value)
      FROM seg_reco._btyd_model(model) m
$fn$;
COMMENT ON FUNCTION seg_reco.expected_spend(text, float8, float8) IS 'Gamma-Gamma expected mean spend per purchase from a stored btyd model';

CREATE FUNCTION seg_reco.clv(model text, frequency float8, recency float8, t float8,
                             monetary_value float8, months integer DEFAULT 12,
                             monthly_discount float8 DEFAULT 0.01)
RETURNS float8
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE m.kind
           WHEN 'bgnbd' THEN seg_reco.bgnbd_clv((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t,
                seg_reco.gammagamma_expected_spend((m.params#>>'{spend,p}')::float8,
                    (m.params#>>'{spend,q}')::float8, (m.params#>>'{spend,gamma}')::float8,
                    frequency, monetary_value), months, monthly_discount, m.unit)
           ELSE seg_reco.mbgnbd_clv((m.params->>'r')::float8, (m.params->>'alpha')::float8,
                (m.params->>'a')::float8, (m.params->>'b')::float8, frequency, recency, t,
                seg_reco.gammagamma_expected_spend((m.params#>>'{spend,p}')::float8,
                    (m.params#>>'{spend,q}')::float8, (m.params#>>'{spend,gamma}')::float8,
                    frequency, monetary_value), months, monthly_discount, m.unit) END
      FROM seg_reco._btyd_model(model) m
$fn$;
COMMENT ON FUNCTION seg_reco.clv(text, float8, float8, float8, float8, integer, float8) IS 'customer lifetime value over months (monthly discount rate) from a stored btyd model: expected purchases times Gamma-Gamma expected spend';

-- btyd_scores: one row per customer with a purchase up to the model's
-- calibration end, scored at that date.  at_risk: frequency >= 1 (a repeat
-- customer, whose buying rate the model has seen) and p_alive below
-- at_risk_p_alive (default 0.5: the model thinks the customer more likely
-- gone than still buying).  One-time buyers are never at risk under BG/NBD
-- (their P(alive) is 1 by construction); MBG/NBD scores them, but the flag
-- still requires a repeat purchase.
CREATE FUNCTION seg_reco.btyd_scores(model text, at_risk_p_alive float8 DEFAULT 0.5,
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
    IF monthly_discount IS NULL THEN
        RAISE EXCEPTION 'monthly_discount must not be NULL' USING ERRCODE = 'null_value_not_allowed';
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
        SELECT x.cid, (x.v).frequency AS f, (x.v).recency AS rec, (x.v).t AS tt,
               (x.v).monetary_value AS mv
          FROM (SELECT tr.customer_id AS cid,
                       seg_reco.btyd_summary(tr.ts::date, tr.amount::float8, m.calibration_end, m.unit) AS v
                  FROM seg_reco.transactions tr
                 WHERE tr.customer_id IS NOT NULL
                   AND tr.ts < (m.calibration_end + 1)::timestamptz
                 GROUP BY tr.customer_id) x
         WHERE x.v IS NOT NULL
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
COMMENT ON FUNCTION seg_reco.btyd_scores(text, float8, float8) IS 'per-customer P(alive), expected purchases in 90 days, expected spend, 12-month CLV and at-risk flag (repeat customer with p_alive < at_risk_p_alive) from a stored btyd model, at its calibration end';
-- END btyd

