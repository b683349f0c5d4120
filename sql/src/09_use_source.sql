------------------------------------------------------------------------------
-- 4. Pointing seg_reco at the user's own tables
------------------------------------------------------------------------------

-- The columns each source relation must offer, read off the built-in tables
-- above so the two can never disagree.  required: the pipeline cannot work
-- without it; otherwise fill_with is used when the user's table lacks it.
CREATE TABLE seg_reco.source_columns (
    relation    text NOT NULL,
    position    integer NOT NULL,
    column_name text NOT NULL,
    data_type   text NOT NULL,
    required    boolean NOT NULL,
    fill_with   text,
    PRIMARY KEY (relation, column_name)
);
COMMENT ON TABLE seg_reco.source_columns IS 'columns of the four source relations, their types, and what fills an optional column a user source lacks';

INSERT INTO seg_reco.source_columns (relation, position, column_name, data_type, required, fill_with)
SELECT c.relname, a.attnum, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), false, NULL
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'seg_reco'::regnamespace
   AND c.relname IN ('customers', 'products', 'transactions', 'digital_events')
   AND a.attnum > 0 AND NOT a.attisdropped;

UPDATE seg_reco.source_columns SET required = true
 WHERE (relation, column_name) IN (
    ('customers', 'customer_id'),
    ('products', 'product_id'), ('products', 'name'), ('products', 'category'),
    ('transactions', 'receipt_id'), ('transactions', 'customer_id'),
    ('transactions', 'product_id'), ('transactions', 'ts'), ('transactions', 'amount'),
    ('digital_events', 'customer_id'), ('digital_events', 'event_type'), ('digital_events', 'ts'));

UPDATE seg_reco.source_columns SET fill_with = v.fill
  FROM (VALUES ('products', 'unit_price', '0'), ('products', 'unit', '''stk'''),
               ('products', 'own_brand', 'false'), ('products', 'organic', 'false'),
               ('products', 'vegetarian', 'false'), ('products', 'active', 'true'),
               ('customers', 'member_tier', '''basis'''), ('customers', 'email_opt_in', 'false'),
               ('transactions', 'quantity', '1'), ('transactions', 'discount', '0'),
               ('transactions', 'channel', '''store'''), ('digital_events', 'channel', '''web'''))
       AS v(rel, col, fill)
 WHERE relation = v.rel AND column_name = v.col;

-- What each source relation currently is: NULL source = the built-in table.
CREATE TABLE seg_reco.sources (
    relation    text PRIMARY KEY
                CHECK (relation IN ('customers', 'products', 'transactions', 'digital_events')),
    source      text NOT NULL,
    columns     jsonb NOT NULL DEFAULT '{}',
    defined_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE seg_reco.sources IS 'user relations standing in for the built-in source tables (set by seg_reco.use_source)';

-- use_source(relation, source, columns): replace seg_reco.<relation> by a view
-- over the user's relation.  columns maps seg_reco column -> source column
-- for names that differ; other columns are taken by the same name, and an
-- optional column missing from the source is filled with NULL or its
-- documented default.  A non-empty built-in table is only replaced with
-- discard_data => true.  For transactions and digital_events it puts the
-- capture triggers of the incremental refresh on the user's table (a plain
-- table; otherwise every refresh() is full, with a NOTICE now).
CREATE FUNCTION seg_reco.use_source(relation text, source regclass,
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
    v_old regclass;
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

    -- replace the current relation
    v_target := to_regclass(format('seg_reco.%I', relation));
    IF v_target IS NOT NULL THEN
        SELECT c.relkind INTO v_kind FROM pg_catalog.pg_class c WHERE c.oid = v_target;
        IF v_kind = 'r' THEN
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM seg_reco.%I LIMIT 1) x', relation) INTO v_rows;
            IF v_rows > 0 AND NOT discard_data THEN
                RAISE EXCEPTION 'seg_reco.% holds data that replacing it by a view would discard', relation
                    USING ERRCODE = 'object_in_use',
                          HINT = 'Pass discard_data => true to drop the built-in table and its rows.';
            END IF;
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
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
              JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname IN ('btree', 'hash')
              LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = source AND i.indpred IS NULL
               AND CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN a.attname = v_cust
                        ELSE i.indkey[0] = 0
                             AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true) = format('(%s::bigint)', quote_ident(v_cust))
                   END) THEN
            RAISE NOTICE 'no index of % leads with %: every recommend_for will read all its lines', source,
                         CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                              ELSE format('(%I::bigint)', v_cust) END
                USING HINT = format('CREATE INDEX ON %s (%s, %I)', source,
                                    CASE WHEN v_cust_type = 'pg_catalog.int8'::regtype THEN quote_ident(v_cust)
                                         ELSE format('(%I::bigint)', v_cust) END, v_ts);
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
        v_capture := seg_reco._capture_install(source, coalesce(columns ->> 'customer_id', 'customer_id'));
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

    RETURN format('seg_reco.%s now reads from %s', relation, source);
END;
$fn$;
COMMENT ON FUNCTION seg_reco.use_source(text, regclass, jsonb, boolean) IS 'replace a source relation (customers, products, transactions, digital_events) by a view over your own table, mapping column names';
REVOKE EXECUTE ON FUNCTION seg_reco.use_source(text, regclass, jsonb, boolean) FROM PUBLIC;

