------------------------------------------------------------------------------
-- 7. Marketing: cohorts and campaign targeting (since 0.2.0)
------------------------------------------------------------------------------

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

-- The monthly cohort table of the pipeline (0.2.0: a view over tables
-- refresh() keeps per customer).  seg_reco.cohort_customer_months holds
-- each customer's months (in the time zone of the state): whether the
-- customer bought (a line with amount > 0) and the net amount;
-- seg_reco.cohort_cells the sums per (cohort month, activity month) over
-- the members of the cohort (a customer's cohort: the first month bought
-- in), from the cohort month on.  An incremental run takes the changed
-- customers' old months out of the cells and adds their new months: for a
-- customer whose new lines the state step merged, the stored months with
-- the months of the new lines added (only they are read); for the others
-- the months of all their lines, read again (through the customer index):
-- late, corrected and deleted lines, and a cohort that moves, come out
-- right, in O(changed customers).  The view adds the grid of months up to the as-of date:
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
