------------------------------------------------------------------------------
-- 2. Demo data (src/demo/)
------------------------------------------------------------------------------
-- BEGIN demo data
-- The generator lives in src/demo/; the comment atop demo.c documents every
-- planted behaviour.  Five set-returning helpers produce the rows of one
-- relation each from the same arguments; each rebuilds the same internal
-- model from the seed, so their outputs fit together.
--
-- Markings: the helpers are IMMUTABLE because their output is a pure function
-- of their arguments (no table access, no clock, a private seeded PRNG) for a
-- given version of the extension; a later version may generate different
-- rows, so nothing should store results keyed on them.  The planner never
-- constant-folds set-returning functions, so the marking cannot cause a stale
-- result.  PARALLEL SAFE: they touch no shared state.  STRICT: a NULL
-- argument yields no rows (generate_demo_data rejects NULLs before calling
-- them).  They declare their columns with RETURNS TABLE rather than SETOF a
-- table type so that the source tables can later be replaced by views.
-- Like generate_demo_data they are owner-only: their sizes go up to
-- hundreds of millions of rows.  _demo_transactions and
-- _demo_digital_events return a row per call: called in a select list they
-- stream (generate_demo_data inserts them so), in FROM PostgreSQL collects
-- their rows first.

CREATE FUNCTION seg_reco._demo_customers(customers integer, products integer,
        transactions bigint, digital_events bigint, seed bigint)
RETURNS TABLE(customer_id bigint, member_since date, birth_year integer,
              gender text, household_size integer, children integer,
              postal_code text, municipality text, county text,
              member_tier text, email_opt_in boolean)
AS 'MODULE_PATHNAME', 'seg_reco_demo_customers'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000 ROWS 10000;
COMMENT ON FUNCTION seg_reco._demo_customers(integer, integer, bigint, bigint, bigint) IS
'internal: demo customers for generate_demo_data (deterministic for its arguments)';
REVOKE EXECUTE ON FUNCTION seg_reco._demo_customers(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION seg_reco._demo_products(customers integer, products integer,
        transactions bigint, digital_events bigint, seed bigint)
RETURNS TABLE(product_id bigint, name text, brand text, category text,
              subcategory text, description text, unit_price numeric,
              unit text, own_brand boolean, organic boolean,
              vegetarian boolean, active boolean, launched_on date)
AS 'MODULE_PATHNAME', 'seg_reco_demo_products'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 100000 ROWS 5000;
COMMENT ON FUNCTION seg_reco._demo_products(integer, integer, bigint, bigint, bigint) IS
'internal: demo product catalogue for generate_demo_data (deterministic for its arguments)';
REVOKE EXECUTE ON FUNCTION seg_reco._demo_products(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION seg_reco._demo_transactions(customers integer, products integer,
        transactions bigint, digital_events bigint, seed bigint)
RETURNS TABLE(line_id bigint, receipt_id bigint, customer_id bigint,
              product_id bigint, store_id integer, ts timestamptz,
              quantity numeric, unit_price numeric, discount numeric,
              amount numeric, channel text)
AS 'MODULE_PATHNAME', 'seg_reco_demo_transactions'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000000 ROWS 800000;
COMMENT ON FUNCTION seg_reco._demo_transactions(integer, integer, bigint, bigint, bigint) IS
'internal: demo receipt lines for generate_demo_data, in time order (deterministic for its arguments)';
REVOKE EXECUTE ON FUNCTION seg_reco._demo_transactions(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION seg_reco._demo_digital_events(customers integer, products integer,
        transactions bigint, digital_events bigint, seed bigint)
RETURNS TABLE(event_id bigint, customer_id bigint, product_id bigint,
              event_type text, ts timestamptz, channel text,
              session_id bigint, search_text text)
AS 'MODULE_PATHNAME', 'seg_reco_demo_digital_events'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000000 ROWS 50000;
COMMENT ON FUNCTION seg_reco._demo_digital_events(integer, integer, bigint, bigint, bigint) IS
'internal: demo app/web events for generate_demo_data (deterministic for its arguments)';
REVOKE EXECUTE ON FUNCTION seg_reco._demo_digital_events(integer, integer, bigint, bigint, bigint) FROM PUBLIC;

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

-- Limits (also checked in C): customers 1..5,000,000; products 50..1,000,000;
-- transactions 0..500,000,000; digital_events 0..50,000,000.  transactions
-- and digital_events default to the reference density (811,465 lines and
-- 50,000 events per 10,000 customers), so the customers argument alone sets
-- the scale.  Memory: about 130 bytes per customer and 12 bytes per digital
-- event in the generator (receipts and events wait in week buckets of
-- temporary files; the two big helpers stream their rows), plus
-- maintenance_work_mem for the index builds.
CREATE FUNCTION seg_reco.generate_demo_data(
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
REVOKE EXECUTE ON FUNCTION seg_reco.generate_demo_data(integer, integer, bigint, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION seg_reco.generate_demo_data(integer, integer, bigint, bigint, bigint) IS
'replace the contents of the source tables with a deterministic, realistic Norwegian grocery demo data set (2024-2025) and its planted ground truth in demo_truth';
-- END demo data

