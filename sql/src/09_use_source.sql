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

-- Text ids (UCI's StockCode "85123A", InvoiceNo "C536379", a member
-- number "M-0042"): where a source's customer_id, product_id or receipt_id
-- column is text, use_source's view holds seg_reco.internal_id(the text)
-- instead, a bigint every part of seg_reco uses as it would the user's own
-- integer id, and seg_reco.source_ids maps each internal id back to the
-- user's text.  internal_id is a pure function of the text (63 bits of
-- PostgreSQL's hashtextextended, seed 0): the same text is the same id in
-- every relation and at every refresh, with no mapping table to keep in
-- step with the user's tables; use_source refuses a column where two texts
-- would share an id (at a million ids the odds are about 1 in 10^7).  The
-- ids are those of this PostgreSQL major version on this architecture
-- (as hash partitioning's): after moving a database elsewhere, call
-- use_source again and retrain.  Integer id columns are read as before.
-- In C (src/source_ids.c): the views compute it for every line they read.
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

-- use_source(relation, source, columns): replace seg_reco.<relation> by a view
-- over the user's relation.  columns maps seg_reco column -> source column
-- for names that differ; other columns are taken by the same name, and an
-- optional column missing from the source is filled with NULL or its
-- documented default.  A text customer_id, product_id or receipt_id column
-- is read as its internal id (seg_reco.internal_id; seg_reco.source_ids maps
-- it back).  A non-empty built-in table is only replaced with
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

