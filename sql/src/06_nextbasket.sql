------------------------------------------------------------------------------
-- Next basket: a repeat-aware neighbourhood model, TIFU-KNN (src/nbr.c)
------------------------------------------------------------------------------
-- BEGIN nextbasket
-- TIFU-KNN (Hu et al., SIGIR 2020): a customer's baskets (receipts), the
-- latest first, are cut into groups of group_size; a basket weighs
-- within_decay per later basket of its group, a group group_decay per later
-- group, and the customer's vector is the mean of the groups' mean basket
-- vectors.  The next basket's scores: alpha x the customer's vector + (1 -
-- alpha) x the mean vector of the neighbours nearest customers (Euclidean;
-- past candidates customers, 10,000 by default, among a sample of that many
-- chosen by a hash of the id).
-- nextbasket_build stores the neighbours' part of every customer of an als
-- model (its best 100 products) and records the parameters in the model's
-- row (model -> 'nextbasket'); als_train on the default source runs it, so
-- it always matches the model's data and as_of.  recommend_for and
-- recommend_all compute the customer's own vector from their purchases as
-- of the call and blend it in as the source "nextbasket".
-- The same build stores UP-CF@r (Faggioli et al., UMAP 2020) for products
-- new to each customer: the upcf_neighbours customers most similar by the
-- asymmetric cosine of the products each ever bought, |I_u & I_v| /
-- (|I_u|^upcf_alpha |I_v|^(1 - upcf_alpha)), each weighing its similarity
-- raised to upcf_locality times the share of its last upcf_baskets baskets
-- (0: all) holding the product; the customer's own products left out, the
-- scores divided by the customer's best, the best 100 kept.  The blend's
-- source "upcf" (weight 0.1 for new products by default).

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

-- nextbasket_build(model): (re)builds the next-basket neighbours of an als
-- model on the default source from the settings nextbasket_group_size,
-- nextbasket_within_decay, nextbasket_group_decay, nextbasket_neighbours,
-- nextbasket_alpha, nextbasket_candidates and UP-CF@r's nextbasket_upcf_baskets,
-- nextbasket_upcf_alpha, nextbasket_upcf_locality, nextbasket_upcf_neighbours
-- (or those of params, a JSON object with keys group_size, within_decay,
-- group_decay, neighbours, alpha, candidates, upcf_baskets, upcf_alpha,
-- upcf_locality, upcf_neighbours), with the model's as_of.  Returns the parameters, the customers and the seconds.
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
-- END nextbasket
