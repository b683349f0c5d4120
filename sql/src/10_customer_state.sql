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
-- reason says why.  An INSERT also records the earliest time of the
-- customer's new lines (since): refresh() merges lines that all come after
-- the customer's stored state into it instead of reading the customer's
-- whole history again; an UPDATE or DELETE records no time (that customer
-- is recomputed from all lines).  Append-only, no index: concurrent writers never wait
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

-- The one pass (src/customer_state.c): the columns of customer_state but
-- the digital events, of the given customers (NULL: every customer with a
-- line), with the values of the reference statement in
-- _customer_state_update (and btyd_repeat_spend, which it has not), from
-- one read of the lines with the states in a hash, in memory bounded by
-- seg_reco.state_memory (beyond it, lines wait in temporary files, each
-- file a hash partition of the customers).  With after (beside
-- customer_ids): the merge of an incremental refresh, each customer's
-- stored row combined with the customer's lines dated after after[i]
-- (only those are read, through the customer index).  Exact when every
-- such line is on a later day than the customer's stored lines and no
-- receipt has lines on both sides (_customer_state_refresh checks both;
-- customers it cannot vouch for are recomputed from all their lines); a
-- customer without a stored row gets the row of its lines after after[i].
-- Raises feature_not_supported for what it does not take (amounts of more
-- than 18 decimals or of 10^20 or more, infinite amounts or times, a
-- product id listed twice; in a merge also a stored row of the reference
-- statement, without btyd_repeat_spend); the caller then runs the
-- reference statement.
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
-- appends the customer ids of the rows the statement changed, with the
-- earliest time of the inserted lines (see dirty_customers.since).
-- Arguments on a user's table (use_source): its customer id column, 'text'
-- when it holds text ids (read as seg_reco.internal_id, as use_source's
-- view reads them) or 'int', and its time column ('' on the digital
-- events; the time is read as timestamptz, as the view reads it).  On
-- seg_reco's own tables none: customer_id, and ts on the transactions.
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

CREATE TRIGGER seg_reco_capture_insert AFTER INSERT ON seg_reco.transactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_update AFTER UPDATE ON seg_reco.transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_delete AFTER DELETE ON seg_reco.transactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_truncate AFTER TRUNCATE ON seg_reco.transactions
    FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_insert AFTER INSERT ON seg_reco.digital_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_update AFTER UPDATE ON seg_reco.digital_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_delete AFTER DELETE ON seg_reco.digital_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
CREATE TRIGGER seg_reco_capture_truncate AFTER TRUNCATE ON seg_reco.digital_events
    FOR EACH STATEMENT EXECUTE FUNCTION seg_reco._capture_changes();
-- they fire in replica sessions too (logical replication's apply workers)
ALTER TABLE seg_reco.transactions ENABLE ALWAYS TRIGGER seg_reco_capture_insert;
ALTER TABLE seg_reco.transactions ENABLE ALWAYS TRIGGER seg_reco_capture_update;
ALTER TABLE seg_reco.transactions ENABLE ALWAYS TRIGGER seg_reco_capture_delete;
ALTER TABLE seg_reco.transactions ENABLE ALWAYS TRIGGER seg_reco_capture_truncate;
ALTER TABLE seg_reco.digital_events ENABLE ALWAYS TRIGGER seg_reco_capture_insert;
ALTER TABLE seg_reco.digital_events ENABLE ALWAYS TRIGGER seg_reco_capture_update;
ALTER TABLE seg_reco.digital_events ENABLE ALWAYS TRIGGER seg_reco_capture_delete;
ALTER TABLE seg_reco.digital_events ENABLE ALWAYS TRIGGER seg_reco_capture_truncate;

-- Installs the capture triggers on a table (a user's table behind
-- use_source; customer_column: its customer id column; ts_column: the time
-- of its lines, NULL for the digital events) and enables them always.
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
-- the new as-of date.  A customer whose changes are only lines inserted,
-- all on a later day than the customer's stored lines, none in a receipt
-- of those (checked through the receipt index), has the new lines merged
-- into the stored row: only they are read.  The others (lines updated,
-- deleted, late or added to an old receipt; product attributes changed;
-- a row of the reference statement) are recomputed from all their lines.
-- Returns what it did; the changed customers are left in
-- pg_temp.seg_reco_changed for the steps after (ALS fold-in, the partial
-- recommendations, the cohorts), with merge_after: the time after which
-- their lines are new (NULL: recomputed from all lines).
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
