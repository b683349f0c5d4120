------------------------------------------------------------------------------
-- 5. The pipeline: features, segments, views and the refresh job
------------------------------------------------------------------------------

-- Pipeline settings.  The defaults ship in seg_reco.setting_defaults (owned
-- by the extension); seg_reco.settings holds only the owner's overrides, so
-- pg_dump keeps them and CREATE EXTENSION never clashes with them.
CREATE TABLE seg_reco.setting_defaults (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE seg_reco.setting_defaults IS 'default values of the refresh() pipeline settings (override them in seg_reco.settings)';
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('cluster_k_min', '6', 'smallest number of customer clusters refresh() tries'),
    ('cluster_k_max', '10', 'largest number of customer clusters refresh() tries'),
    ('cluster_seed', '1', 'seed of the k-means and mixture training in refresh()'),
    ('gmm_covariance', '"diag"', 'covariance type of the customer Gaussian mixture: "full" or "diag"'),
    ('btyd_model', '"mbgnbd"', 'purchase model of refresh(): "mbgnbd" (one-time buyers can be inactive) or "bgnbd"'),
    ('btyd_unit', '"week"', 'time unit of the purchase model: "week" or "day"'),
    ('btyd_penalizer', '0', 'L2 penalizer of the purchase and spend model fits (a penalizer shrinks the spend model''s q towards 0)'),
    ('at_risk_p_alive', '0.5', 'a repeat customer whose probability alive is below this is flagged at risk'),
    ('als_factors', '64', 'latent factors of the ALS model refresh() trains'),
    ('als_iterations', '15', 'ALS iterations in refresh()'),
    ('als_regularization', '0.01', 'ALS regularization in refresh()'),
    ('als_alpha', '1.0', 'ALS confidence scale in refresh(): confidence = 1 + alpha * weight'),
    ('recommendations_per_customer', '10', 'length of each customer''s list in seg_reco.recommendations'),
    ('hybrid_weights', '{"rebuy": {"als": 0.1, "content": 0, "popularity": 0, "buy_again": 1, "nextbasket": 0.5, "upcf": 0, "seasonal": 0.1}, "new": {"als": 1, "content": 0, "popularity": 0, "buy_again": 0, "nextbasket": 0.05, "upcf": 0.1, "seasonal": 0, "history_prior": 0}}', 'default weights of the hybrid blend (recommend_for, recommend_all, the recommendations view): "rebuy" with re-buys, "new" for products new to the customer; shipped values chosen on the validation windows of the demo data and UCI Online Retail, seg_reco.tune_weights() chooses them on yours'),
    ('recommendations_diversity', '0', 'MMR diversity (0..1) of the lists in seg_reco.recommendations (0: the plain blend already meets the coverage and diversity targets on the demo data; 0.3 raises intra-list diversity from 0.90 to 0.96 for about 1% of NDCG)'),
    ('recommendations_max_per_category', 'null', 'at most this many products of one category per list in seg_reco.recommendations (null = no cap)'),
    ('recommendations_lock_timeout_ms', '100', 'longest wait (ms) of each of refresh()''s attempts (at most 5, 1 s apart) to lock the idle recommendations slot for TRUNCATE; readers of seg_reco.recommendations that arrive meanwhile wait at most this long; 0 = never TRUNCATE: the slot is emptied with DELETE in the refresh transaction (say, when hot standbys serve the view)'),
    ('nextbasket_group_size', '3', 'TIFU-KNN next-basket model (built by als_train): baskets per group, counted from the latest'),
    ('nextbasket_within_decay', '1.0', 'TIFU-KNN: weight of a basket per later basket of its group, in (0, 1]'),
    ('nextbasket_group_decay', '0.6', 'TIFU-KNN: weight of a group of baskets per later group, in (0, 1]'),
    ('nextbasket_neighbours', '50', 'TIFU-KNN: nearest customers whose mean vector is blended in'),
    ('nextbasket_alpha', '0.5', 'TIFU-KNN: weight of the customer''s own vector (1 - alpha: the neighbours'')'),
    ('nextbasket_candidates', '10000', 'TIFU-KNN: past this many customers, the nearest are searched among a sample of this many (chosen by a hash of the id); the build''s time grows with customers x candidates'),
    ('nextbasket_upcf_baskets', '10', 'UP-CF@r (built with the next-basket model): a neighbour''s popularity is the share of its last this many baskets holding the product (0: all its baskets)'),
    ('nextbasket_upcf_alpha', '0.5', 'UP-CF@r: asymmetry of the cosine between two customers'' products ever bought, |I_u & I_v| / (|I_u|^alpha |I_v|^(1 - alpha)), in [0, 1]'),
    ('nextbasket_upcf_locality', '2', 'UP-CF@r: the similarity is raised to this power (q), in (0, 50]'),
    ('nextbasket_upcf_neighbours', '100', 'UP-CF@r: the most similar customers whose recent baskets are summed (k)'),
    ('refresh_mode', '"auto"', 'what CALL seg_reco.refresh() runs: "auto" (incremental, with a full run when one is needed or the last is full_retrain_days old), "incremental" (full only when needed) or "full" (always)'),
    ('full_retrain_days', '7', 'in refresh_mode "auto", a full run (every model retrained) when the last full run is at least this many days old (0: every run is full)');

-- the content vectors (build_content, issue 13)
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('content_text_config', '"norwegian"', 'text search configuration of build_content (any regconfig: "english" for an English catalogue)'),
    ('content_bigram_weight', '3', 'weight of a bigram (two adjacent lexemes) against a single lexeme in build_content; 0 = no bigrams (3: chosen on the validation windows of the demo data and UCI Online Retail)'),
    ('content_attribute_weights', '{"category": 0.5, "subcategory": 0.5, "brand": 0.5, "own_brand": 0.25, "organic": 0.25, "vegetarian": 0.25}', 'weight of each product attribute as a feature of build_content (category, subcategory, brand: their value; own_brand, organic, vegetarian: when true); 0 = left out');

-- the cold start the blend serves (build_popularity, issue 13 item 4)
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('cold_start_source', '"auto"', 'what recommend_for serves a customer without history: "auto" (build_popularity chooses demographic or popularity on the 28 days up to its as_of: demographic only when its NDCG@10 for the customers first seen there is at least 5% above popularity''s), "demographic" or "popularity"');

CREATE TABLE seg_reco.settings (
    key         text PRIMARY KEY REFERENCES seg_reco.setting_defaults (key),
    value       jsonb NOT NULL
);
COMMENT ON TABLE seg_reco.settings IS 'the owner''s overrides of pipeline settings (keys and defaults in seg_reco.setting_defaults)';

-- seg_reco.setting(key): the override, else the default; an unknown key is an error.
CREATE FUNCTION seg_reco.setting(key text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v jsonb;
BEGIN
    SELECT coalesce(s.value, d.value) INTO v
      FROM seg_reco.setting_defaults d
      LEFT JOIN seg_reco.settings s ON s.key = d.key
     WHERE d.key = setting.key;
    IF v IS NULL THEN
        RAISE EXCEPTION 'unknown seg_reco setting "%"', key
            USING ERRCODE = 'undefined_object',
                  HINT = 'The settings are listed in seg_reco.setting_defaults.';
    END IF;
    RETURN v;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.setting(text) IS 'value of a pipeline setting: the override in seg_reco.settings, else the default';

-- The pipeline's as-of date: the date of the latest transaction.  When
-- seg_reco.transactions is a view (use_source) over a table whose time
-- column is timestamp or date, the view casts it to timestamptz, and max()
-- over the cast cannot use an index on the column: it would read every
-- line, at every recommend_for.  The latest line is then read off the
-- column itself (an index on it answers at once; the casts keep the order,
-- so the cast of its max is the max of the casts), by a caller who may
-- read that column (the view reads it with its owner's rights; no
-- SECURITY DEFINER here: others read through the view, at its speed).
-- Lines more than a day ahead are an error.  In C (src/as_of.c): every
-- recommend_for without as_of reads it; as PL/pgSQL (a catalog join and a
-- dynamic EXECUTE planned at every call) it took about 60 us a call on the
-- demo data, in C about 25 us, and recommend_for calls the C directly.
CREATE FUNCTION seg_reco.default_as_of() RETURNS date
AS 'MODULE_PATHNAME', 'seg_reco_default_as_of'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.default_as_of() IS 'date of the latest transaction (error if lines are dated in the future)';

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

-- Behaviour of each customer with at least one purchase up to as_of.
-- Amounts are summed exactly (numeric) and turned into float8 at the end:
-- the same lines in any order give the same numbers, whatever the plan
-- (parallel workers, one node or many), and so does the per-customer state
-- refresh() derives customer_features from.  The lines CTE is read twice
-- (receipts, shares) and inlined (NOT MATERIALIZED): materialised, every
-- line was written to a tuplestore first, and on Citus shipped to the
-- coordinator and back, 46 times as slow (issue 15).
CREATE FUNCTION seg_reco.compute_customer_features(as_of date DEFAULT NULL)
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

-- Business names of clusters.  Each cluster's profile is the z-score of its
-- mean of every customer_features column against all customers; a name's
-- score is the sum of weight x z over its columns.  Names are handed out
-- greedily, best (cluster, name) score first, each name once, so names are
-- unique and follow the profiles (not the cluster numbers).
CREATE TABLE seg_reco.cluster_names (
    name        text PRIMARY KEY,
    weights     jsonb NOT NULL,
    description text,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE seg_reco.cluster_names IS 'business names for customer clusters and the profile (weights on z-scores of customer_features columns) each name fits';
INSERT INTO seg_reco.cluster_names (name, weights, description, builtin) VALUES
    ('VIP Champions', '{"monetary": 1, "frequency": 0.5, "recency_days": -0.5}', 'spend the most, often and recently', true),
    ('At-Risk', '{"recency_days": 1.2, "frequency": -0.2}', 'last purchase long ago', true),
    ('Recent Customers', '{"tenure_days": -1.2}', 'joined lately', true),
    ('Loyal Families', '{"basket_lines": 0.6, "basket_nok": 0.4, "recency_days": -0.6}', 'large baskets, shopping regularly', true),
    ('Occasional Big Baskets', '{"basket_lines": 0.7, "frequency": -0.7, "days_between_visits": 0.3}', 'rare but large stock-up trips', true),
    ('Daily Top-Up', '{"frequency": 0.7, "basket_lines": -0.7}', 'small baskets, almost every day', true),
    ('Weekday Morning Regulars', '{"weekday_morning_share": 1.2}', 'shop on weekday mornings (often seniors)', true),
    ('Organic-Minded', '{"organic_share": 1.2}', 'buy organic', true),
    ('Young Families', '{"baby_share": 1.2}', 'buy baby products', true),
    ('Budget Own-Brand', '{"own_brand_share": 1, "promo_share": 0.3}', 'buy own brands and promotions', true),
    ('Vegetarian-Leaning', '{"meat_fish_share": -1.2}', 'buy little meat or fish', true),
    ('Online Shoppers', '{"online_share": 1.2}', 'order online', true),
    ('Occasional Shoppers', '{"frequency": -0.5, "monetary": -0.5}', 'few, small purchases', true);

-- Pipeline output: the cluster of each customer (written by refresh()).
CREATE TABLE seg_reco.customer_clusters (
    customer_id     bigint PRIMARY KEY,
    cluster         integer NOT NULL,
    cluster_name    text NOT NULL,
    distance        float8 NOT NULL,
    gmm_component   integer NOT NULL,
    gmm_probability float8 NOT NULL
);
COMMENT ON TABLE seg_reco.customer_clusters IS 'k-means cluster, its business name and the most likely Gaussian-mixture component of each customer (written by seg_reco.refresh)';

-- Pipeline output: BTYD values of each customer (written by refresh()),
-- and the purchase model that produced them ('mbgnbd', 'bgnbd', with
-- ' (penalizer 0.001)' when it was penalised; see refresh_value()).
CREATE TABLE seg_reco.customer_value (
    customer_id             bigint PRIMARY KEY,
    p_alive                 float8 NOT NULL,
    expected_purchases_90d  float8 NOT NULL,
    expected_spend          float8 NOT NULL,
    clv_12m                 float8 NOT NULL,
    at_risk                 boolean NOT NULL,
    model                   text
);
COMMENT ON TABLE seg_reco.customer_value IS 'probability alive, expected purchases in 90 days, 12-month CLV and at-risk flag of each customer, and the purchase model that produced them (written by seg_reco.refresh)';

-- refresh step: choose k, train k-means and a Gaussian mixture on
-- customer_features, store both models, assign and name the clusters.
-- The feature vectors are computed once, into a temporary table every
-- phase reads (cluster_feature_vector is a SQL function called per row:
-- about a second per 100,000 customers each time); the assignment calls
-- each model once per customer (gmm_assign picks the component of highest
-- probability, the first on ties); the names' profiles are aggregated per
-- cluster in one pass over the columns the names weigh, not unpivoted per
-- customer (issue 12: half the time at 100,000 customers, the same
-- clusters, names and probabilities).
CREATE FUNCTION seg_reco.refresh_clusters() RETURNS jsonb
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
COMMENT ON FUNCTION seg_reco.refresh_clusters() IS 'refresh step: choose k, train and store customer_kmeans and customer_gmm, assign and name the customer clusters';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_clusters() FROM PUBLIC;

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
CREATE FUNCTION seg_reco.refresh_value() RETURNS jsonb
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

-- refresh step: train the collaborative-filtering model 'default'.  When
-- it cannot be trained, the previous 'default' model (and its factors) is
-- removed: it describes data that are no longer there, and the
-- recommendations view must not serve it (the view is then empty).
CREATE FUNCTION seg_reco.refresh_als() RETURNS jsonb
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
COMMENT ON FUNCTION seg_reco.refresh_als() IS 'refresh step: train and store the ALS model named default';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_als() FROM PUBLIC;

-- Top-N products for every customer: the hybrid blend of recommend_for
-- with the 'default' ALS model (recommend_all, in BLAS blocks; weights from
-- the setting hybrid_weights, diversity and category cap from the settings), and for customers the
-- model does not know the same function one by one (fold-in from later
-- history, or the demographic cold start).  Empty while there is no model.
-- source: the largest contributing source of the row (als, content,
-- popularity, buy_again, boost, cold_start); sources: all of them.
-- customer_ids (0.2.0): the rows of those customers only (NULL: all).
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

-- The recommendations dashboards read: a view over two tables of the same
-- shape, the slots a and b, showing the one named in the one-row table
-- seg_reco.recommendations_active (a one-time filter in each branch skips
-- the other slot; a lookup by customer goes through the served slot's
-- index).  refresh() writes the next lists into the idle slot and swaps
-- the pointer in the same transaction (seg_reco.refresh_recommendations):
-- readers never wait for the fill, and see either all the old lists or
-- all the new ones, never a mix.  The idle slot is emptied with TRUNCATE in
-- short transactions of their own (seg_reco._recommendations_empty_idle),
-- which also drop its two indexes: the fill builds them over the new rows,
-- in a third of the time it takes to keep them up to date row by row.  So
-- only the served slot is sure to be indexed (a unique index, not a
-- primary key: adding that back would lock out the readers).
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
    swapped_at  timestamptz,
    inputs      jsonb
);
INSERT INTO seg_reco.recommendations_active (slot, generation) VALUES ('a', 0);
COMMENT ON TABLE seg_reco.recommendations_active IS 'the slot seg_reco.recommendations serves (a or b), the number of swaps so far (generation), the time of the last swap and the global inputs of the last full rebuild of the lists (_recommendations_inputs(); a partial rebuild keeps them) (one row; changed by seg_reco.refresh)';
COMMENT ON COLUMN seg_reco.recommendations_active.inputs IS 'what every served list was computed with at the last full rebuild (model version, content version, popularity build, settings, catalogue, as_of); a partial rebuild keeps it and reports what changed since';

CREATE VIEW seg_reco.recommendations AS
SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
  FROM seg_reco.recommendations_a r
 WHERE (SELECT s.slot FROM seg_reco.recommendations_active s) = 'a'
UNION ALL
SELECT r.customer_id, r.rank, r.product_id, r.score, r.source, r.sources
  FROM seg_reco.recommendations_b r
 WHERE (SELECT s.slot FROM seg_reco.recommendations_active s) = 'b';
COMMENT ON VIEW seg_reco.recommendations IS 'top-N recommended products for every customer from the hybrid blend (written by seg_reco.refresh into the idle slot and swapped in at its commit: readers never wait for it and never see a mix of old and new lists): rank 1 is best; source = the largest contributing source (als, content, popularity, buy_again, boost, cold_start), sources = all contributing';

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
-- _rfm_from_state() (on Citus: every row's values, then _rfm_rescore());
-- otherwise the values of those customers (and of members without a row,
-- and rows of customers gone from both seg_reco.customers and the state),
-- then _rfm_rescore(): the scores of every row whose score or segment
-- moved (see customer_rfm).  No as-of date in the state: no rows.
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

CREATE TABLE seg_reco.refresh_log (
    run_id      bigint NOT NULL,
    step        text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    duration_ms numeric NOT NULL,
    row_count   bigint,
    detail      jsonb,
    peak_memory_bytes bigint,
    kind        text,
    PRIMARY KEY (run_id, step)
);
COMMENT ON TABLE seg_reco.refresh_log IS 'one row per step of each seg_reco.refresh() run, with its duration and the backend''s peak resident memory in the step';
COMMENT ON COLUMN seg_reco.refresh_log.peak_memory_bytes IS 'peak resident memory of the backend during the step, in bytes (Linux VmHWM, reset at the step''s start; NULL where not available)';
COMMENT ON COLUMN seg_reco.refresh_log.kind IS 'the kind of run: full (every line read, every model trained) or incremental (the changed customers recomputed, the models kept); NULL for runs before 0.2.0';
CREATE SEQUENCE seg_reco.refresh_run_seq;

-- Empties the idle recommendations slot with TRUNCATE, in the caller's
-- transaction, which must commit right after: refresh() calls it in short
-- transactions of their own, before the pipeline and after the swap.
-- Every reader of seg_reco.recommendations locks both slots (ACCESS SHARE,
-- at planning), and TRUNCATE needs ACCESS EXCLUSIVE: while it waits,
-- readers that arrive queue behind it.  So each attempt waits at most
-- recommendations_lock_timeout_ms, at most 5 attempts 1 s apart; then the
-- slot is left as it is and the next fill empties it with DELETE (in the
-- refresh transaction: no lock that readers wait for).  With the TRUNCATE
-- go the slot's two indexes (the fill builds them again).  TRUNCATE is not
-- MVCC-safe: a snapshot taken before the last swap still reads the idle
-- slot as the served one, and would find it empty; while a session of this
-- database (or a standby's feedback) holds a snapshot as old as the swap's
-- transaction (backend_xmin at or before it; sessions of other roles that
-- the caller cannot see count too), the slot is left alone as well.  When
-- run_id is given, the result is added to that run's log line of the
-- recommendations step (after_swap).
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

-- The global inputs of the recommendation lists: the lists of customers
-- whose own data did not change are the same as long as these are (the
-- default model's version, which a fold-in keeps; the content build; the
-- segment popularity build; the settings of the lists; the catalogue's
-- active flags and categories), except for as_of, the day the history and
-- the buy-again timing are computed as of (default_as_of(): the latest
-- transaction's day, so it moves with every day of new lines).
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

-- The partial rebuild (0.2.0, the incremental refresh): fresh lists for the
-- customers of customer_ids (recommend_all restricted to them; recommend_for
-- with fold-in or cold start for those the model does not know; no rows
-- for those who are neither in the model nor in seg_reco.customers) in
-- place of theirs in the served slot, in the caller's transaction: readers
-- never wait and never see a mix; the others' lists are not touched (the
-- work is that of those customers).  Equal to a full rebuild when nothing
-- else changed since the served lists were computed; what did change since
-- the last full rebuild is in the result: inputs_changed (model, content,
-- popularity, settings, catalogue: a full rebuild is due) and as_of against
-- as_of_full (the buy-again timing of the other lists is that of
-- as_of_full).  An empty array changes nothing; NULL, or a NULL element, is
-- an error.
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
COMMENT ON FUNCTION seg_reco.refresh_recommendations(bigint[]) IS 'partial rebuild: fresh lists for the given customers in place of theirs in the served slot of the recommendations view (the others'' lists untouched); reports what changed since the last full rebuild';
REVOKE EXECUTE ON FUNCTION seg_reco.refresh_recommendations(bigint[]) FROM PUBLIC;

-- Whether the calling procedure may COMMIT: called by CALL outside a
-- transaction block and a function, and not in an exception block.
CREATE FUNCTION seg_reco._can_commit() RETURNS boolean
AS 'MODULE_PATHNAME', 'seg_reco_can_commit'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._can_commit() IS 'refresh() helper: true when the calling procedure can end its transaction (CALL outside a transaction block, a function and an exception block)';
REVOKE EXECUTE ON FUNCTION seg_reco._can_commit() FROM PUBLIC;

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
