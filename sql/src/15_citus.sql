
------------------------------------------------------------------------------
-- Scale-out on Citus (issue 15, in progress)
------------------------------------------------------------------------------

-- Whether a table is distributed by Citus (a distributed or reference
-- table); false on a single node.  The pipeline's steps choose by it how
-- they write their per-customer outputs.  A source relation that
-- use_source made a view is looked through: it is distributed when the
-- user's table behind it is.
CREATE FUNCTION seg_reco._citus_distributed(rel regclass) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_found boolean;
    v_source regclass;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    -- a source relation that use_source made a view: the user's table behind it
    SELECT pg_catalog.to_regclass(s.source) INTO v_source
      FROM seg_reco.sources s
      JOIN pg_catalog.pg_class c ON c.relname OPERATOR(pg_catalog.=) s.relation
                                AND c.relnamespace OPERATOR(pg_catalog.=) 'seg_reco'::pg_catalog.regnamespace
     WHERE c.oid OPERATOR(pg_catalog.=) rel AND c.relkind OPERATOR(pg_catalog.=) 'v';
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d
                             WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1)'
       INTO v_found USING coalesce(v_source, rel);
    RETURN v_found;
END;
$fn$;
COMMENT ON FUNCTION seg_reco._citus_distributed(regclass) IS 'refresh() helper: whether a table is a Citus distributed or reference table, or a source view over one (false on a single node)';
REVOKE EXECUTE ON FUNCTION seg_reco._citus_distributed(regclass) FROM PUBLIC;

-- The size of a table's rows in bytes: pg_relation_size, or on Citus for
-- a distributed or reference table the size of its shards
-- (citus_relation_size; the coordinator's own copy of such a table is
-- empty).  refresh() asks it whether the idle recommendations slot is
-- empty, in a short transaction of its own (Citus refuses its size
-- functions in a transaction that wrote several shards).
CREATE FUNCTION seg_reco._relation_size(rel regclass) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_size bigint;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT pg_catalog.citus_relation_size(d.logicalrelid)
                   FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1'
           INTO v_size USING rel;
        IF v_size IS NOT NULL THEN
            RETURN v_size;
        END IF;
    END IF;
    RETURN pg_catalog.pg_relation_size(rel);
END;
$fn$;
COMMENT ON FUNCTION seg_reco._relation_size(regclass) IS 'refresh() helper: bytes of a table''s rows (pg_relation_size; on Citus, of a distributed or reference table''s shards)';
REVOKE EXECUTE ON FUNCTION seg_reco._relation_size(regclass) FROM PUBLIC;

-- distribute(): on the coordinator of a Citus cluster, distribute the
-- source tables by customer id, co-located with seg_reco.customers, and make
-- products a reference table; then what the serving functions read
-- (settings, models, factors, content, popularity, rules as reference
-- tables, the customer factors and next-basket neighbours co-located) and
-- the per-customer outputs refresh() writes (clusters, customer value, the
-- recommendation slots, the tables behind customer_features and
-- customer_segments, and customer_state, the partial sums they are derived
-- from, co-located).  What Citus requires and a single node does not:
-- - no NULL in a distribution column: the non-members' lines (customer_id
--   NULL) move to seg_reco.nonmember_transactions (created empty by the
--   extension, so dropped with it), distributed by receipt_id (a receipt
--   stays whole); the per-customer steps never read them;
-- - every primary key contains the distribution column: transactions
--   (customer_id, line_id), digital_events (customer_id, event_id);
-- - foreign keys to a distributed table only from a co-located one, on
--   the customer id: they are dropped before and re-created after.
-- Tables with triggers are refused, naming them (Citus distributes none),
-- but for seg_reco's capture triggers, which are dropped: on Citus an
-- incremental refresh() finds the changed customers by comparing their
-- lines with their stored state (_customer_state_changed).
-- Sources set by use_source stay views over the user's tables, which must
-- already be Citus tables as seg_reco's own would become (checked first);
-- the per-customer tables are then co-located with the user's lines.
-- Each table already distributed is left as it is, so a second call does
-- nothing.  Without Citus it is an error and changes nothing: a single node
-- keeps its keys and behaviour.  The workers' own (empty) copies of the
-- extension's tables serve Citus as the tables' shells.
CREATE FUNCTION seg_reco.distribute()
RETURNS TABLE (relation text, distribution text, action text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_n bigint;
    v_t record;
    v_fk record;
    v_fks text[] := '{}';
    v_def text;
    v_worker_ddl text[] := '{}';
    v_ok boolean;
    v_msg text;
    v_src record;
    v_type regtype;
    v_method text;
    v_colocation integer;
    v_dist text;
    v_anchor text := 'seg_reco.customers';
    v_coloc integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION 'seg_reco.distribute() needs Citus'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The extension citus is not created in this database.',
                  HINT = 'Run it on the coordinator of a Citus cluster (CREATE EXTENSION citus, then the workers with citus_add_node); on a single node seg_reco needs no distribution.';
    END IF;
    EXECUTE 'SELECT count(*) FROM pg_catalog.citus_get_active_worker_nodes()' INTO v_n;
    IF v_n = 0 THEN
        RAISE EXCEPTION 'the Citus cluster has no active worker'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'pg_catalog.citus_get_active_worker_nodes() returns no row.',
                  HINT = 'Add the workers first: SELECT citus_add_node(host, port) on the coordinator.';
    END IF;
    -- foreign keys to a reference table: Citus then needs one connection
    -- per node for the whole transaction
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    -- sources set by use_source (views over your tables): the tables
    -- behind them must already be what seg_reco's own would become, checked
    -- before anything changes: the lines, digital events and customers
    -- distributed by the column their customer_id reads, a bigint (the
    -- view then hands Citus that very column; through a cast or a text
    -- id's internal_id() Citus sees no distribution column, and it
    -- co-locates only columns of one type), all co-located; products a
    -- reference table.  The views stay; seg_reco's per-customer tables are
    -- co-located with the first of those tables (v_anchor), and so are the
    -- serving functions.
    FOR v_src IN
        SELECT s.relation, s.source, pg_catalog.to_regclass(s.source) AS src,
               coalesce(s.columns ->> x.id_column, x.id_column) AS col
          FROM seg_reco.sources s
         CROSS JOIN LATERAL (SELECT CASE WHEN s.relation = 'products' THEN 'product_id' ELSE 'customer_id' END) x(id_column)
         ORDER BY pg_catalog.array_position(ARRAY['transactions', 'digital_events', 'customers', 'products'], s.relation)
    LOOP
        IF v_src.src IS NULL THEN
            RAISE EXCEPTION 'the source of seg_reco.%, %, does not exist', v_src.relation, v_src.source
                USING ERRCODE = 'undefined_table',
                      HINT = 'Point use_source at an existing table first.';
        END IF;
        v_method := NULL; v_colocation := NULL; v_dist := NULL;
        EXECUTE 'SELECT d.partmethod::text, d.colocationid, pg_catalog.column_to_column_name(d.logicalrelid, d.partkey)
                   FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1'
           INTO v_method, v_colocation, v_dist USING v_src.src;
        IF v_src.relation = 'products' THEN
            IF v_method IS DISTINCT FROM 'n' THEN
                RAISE EXCEPTION '%, the source of seg_reco.products, is not a Citus reference table', v_src.src
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'Every node reads the products beside the lines of its shards.',
                          HINT = CASE WHEN v_method IS NULL THEN format('SELECT create_reference_table(%L);', v_src.src::text)
                                      ELSE format('SELECT undistribute_table(%L); SELECT create_reference_table(%L);',
                                                  v_src.src::text, v_src.src::text) END;
            END IF;
            CONTINUE;
        END IF;
        SELECT a.atttypid INTO v_type FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_src.src AND a.attname = v_src.col AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_type IS DISTINCT FROM 'pg_catalog.int8'::regtype THEN
            RAISE EXCEPTION 'column "%" of %, the customer id of seg_reco.%, is of type %, not bigint',
                            v_src.col, v_src.src, v_src.relation, v_type
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'seg_reco''s per-customer tables are co-located with it by their bigint customer_id: Citus co-locates only columns of one type, and sees no distribution column through a cast or a text id''s internal_id().',
                      HINT = 'Give the table a bigint customer column to distribute by (for text ids: seg_reco.internal_id(your id)), and point use_source at it.';
        END IF;
        IF v_method IS DISTINCT FROM 'h' OR v_dist IS DISTINCT FROM v_src.col THEN
            RAISE EXCEPTION '%, the source of seg_reco.%, is not distributed by its customer column "%"',
                            v_src.src, v_src.relation, v_src.col
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN v_method IS NULL THEN 'It is a local table of the coordinator.'
                                    WHEN v_method = 'h' THEN format('It is distributed by "%s".', v_dist)
                                    ELSE 'It is a reference table.' END,
                      -- (Citus distributes no table with triggers: seg_reco's
                      -- capture triggers, put there by use_source, go first)
                      HINT = coalesce((SELECT pg_catalog.string_agg(format('DROP TRIGGER %I ON %s; ', g.tgname, v_src.src), '' ORDER BY g.tgname)
                                         FROM pg_catalog.pg_trigger g
                                        WHERE g.tgrelid = v_src.src AND g.tgfoid = 'seg_reco._capture_changes()'::pg_catalog.regprocedure), '')
                             || CASE WHEN v_method = 'h'
                                  THEN format('SELECT alter_distributed_table(%L, distribution_column => %L%s);',
                                              v_src.src::text, v_src.col,
                                              CASE WHEN v_coloc IS NOT NULL THEN format(', colocate_with => %L', v_anchor) ELSE '' END)
                                  ELSE CASE WHEN v_method IS NULL THEN '' ELSE format('SELECT undistribute_table(%L); ', v_src.src::text) END
                                       || format('SELECT create_distributed_table(%L, %L%s);', v_src.src::text, v_src.col,
                                                 CASE WHEN v_coloc IS NOT NULL THEN format(', colocate_with => %L', v_anchor) ELSE '' END) END;
        END IF;
        IF v_coloc IS NULL THEN
            v_anchor := v_src.src::text;
            v_coloc := v_colocation;
        ELSIF v_colocation <> v_coloc THEN
            RAISE EXCEPTION '% and %, the sources of seg_reco''s customers'' rows, are not co-located', v_src.src, v_anchor
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'A customer''s lines, digital events and record must be in shards on one node.',
                      HINT = format('SELECT update_distributed_table_colocation(%L, colocate_with => %L);', v_src.src::text, v_anchor);
        END IF;
    END LOOP;

    -- the tables of this step: what they become
    CREATE TEMP TABLE IF NOT EXISTS distribute_plan
        (ord integer, rel text, dist text, pkey text) ON COMMIT DROP;
    TRUNCATE distribute_plan;
    INSERT INTO distribute_plan VALUES
        (1, 'products', 'reference', NULL),
        (2, 'customers', 'customer_id', NULL),
        (3, 'transactions', 'customer_id', 'customer_id, line_id'),
        (4, 'digital_events', 'customer_id', 'customer_id, event_id'),
        (5, 'demo_truth', 'customer_id', NULL),
        -- what the serving functions read, so that a call delegated to the
        -- worker holding the customer finds it there: the global tables
        -- (settings, models, product factors, content vectors, popularity,
        -- rules) as reference tables, the customer's own rows (factors,
        -- next-basket neighbours) co-located with customers
        (6, 'setting_defaults', 'reference', NULL),
        (7, 'settings', 'reference', NULL),
        (8, 'models', 'reference', NULL),
        (9, 'als_product_factors', 'reference', NULL),
        (10, 'content_terms', 'reference', NULL),
        (11, 'product_content', 'reference', NULL),
        (12, 'content_version', 'reference', NULL),
        (13, 'segment_popularity', 'reference', NULL),
        (14, 'popularity_info', 'reference', NULL),
        (15, 'product_rules', 'reference', NULL),
        (16, 'product_rules_info', 'reference', NULL),
        (17, 'als_customer_factors', 'customer_id', NULL),
        (18, 'nextbasket_neighbours', 'customer_id', NULL),
        -- the per-customer outputs refresh() writes, co-located with
        -- customers: the clusters, the customer value, both recommendation
        -- slots (the view recommendations reads the one
        -- recommendations_active, a coordinator table, names) and the tables
        -- behind the views customer_features and customer_segments
        (19, 'customer_clusters', 'customer_id', NULL),
        (20, 'customer_value', 'customer_id', NULL),
        (21, 'recommendations_a', 'customer_id', NULL),
        (22, 'recommendations_b', 'customer_id', NULL),
        (23, 'customer_feature_values', 'customer_id', NULL),
        (24, 'customer_rfm', 'customer_id', NULL),
        -- the per-customer partial sums the features, RFM values and
        -- customer value are derived from: written and read in the shards
        (25, 'customer_state', 'customer_id', NULL),
        -- the editable maps the per-customer steps read (RFM segments, the
        -- clusters' names) and the experiments, as reference tables; the
        -- per-customer months of the cohorts, the contact history and the
        -- A/B assignments co-located with customers (the cohort cells, a
        -- small summary, stay on the coordinator)
        (26, 'rfm_segments', 'reference', NULL),
        (27, 'cluster_names', 'reference', NULL),
        (28, 'ab_experiments', 'reference', NULL),
        (29, 'cohort_customer_months', 'customer_id', NULL),
        (30, 'contact_history', 'customer_id', NULL),
        (31, 'ab_assignments', 'customer_id', NULL),
        -- the state of the pipeline the views join (the as-of date, the
        -- served recommendations slot): a copy on every node, so that a
        -- view reads the same on a worker and a step's per-customer
        -- statement runs whole in the shards
        (32, 'refresh_state', 'reference', NULL),
        (33, 'recommendations_active', 'reference', NULL);
    -- (the sources' views stay views)
    DELETE FROM distribute_plan p WHERE p.rel IN (SELECT s.relation FROM seg_reco.sources s);
    DELETE FROM distribute_plan p
     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'seg_reco' AND c.relname = p.rel
                      AND c.oid IN (SELECT d.logicalrelid FROM pg_catalog.pg_dist_partition d));
    -- the tables (none left on a second call)
    <<tables>>
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM distribute_plan) THEN
            EXIT tables;
        END IF;

        -- Citus distributes no table with triggers (and knows no transition
        -- tables): say which, before anything changes
        SELECT string_agg(format('%s on seg_reco.%s', t.tgname, c.relname), ', ' ORDER BY c.relname, t.tgname)
          INTO v_msg
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND n.nspname = 'seg_reco'
           AND c.relname IN (SELECT p.rel FROM distribute_plan p)
           AND t.tgfoid <> 'seg_reco._capture_changes()'::pg_catalog.regprocedure;
        IF v_msg IS NOT NULL THEN
            RAISE EXCEPTION 'Citus cannot distribute tables with triggers'
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('Triggers: %s.', v_msg),
                      HINT = 'Drop the triggers first (changes on a distributed table cannot be captured by triggers with transition tables), then call seg_reco.distribute() again.';
        END IF;

        -- seg_reco's own capture triggers (the incremental refresh) cannot stay
        -- on a distributed table: dropped here and on the workers; refresh()
        -- then runs full every time (refresh_log's reason says why)
        FOR v_t IN
            SELECT c.relname, t.tgname
              FROM pg_catalog.pg_trigger t
              JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'seg_reco' AND c.relname IN (SELECT p.rel FROM distribute_plan p)
               AND t.tgfoid = 'seg_reco._capture_changes()'::pg_catalog.regprocedure
             ORDER BY c.relname, t.tgname
        LOOP
            EXECUTE format('DROP TRIGGER %I ON seg_reco.%I', v_t.tgname, v_t.relname);
            v_worker_ddl := v_worker_ddl || format('DROP TRIGGER IF EXISTS %I ON seg_reco.%I', v_t.tgname, v_t.relname);
        END LOOP;

        -- foreign keys from or to a table of this step: dropped now, re-created
        -- when every table is in place
        FOR v_fk IN
            SELECT c.conname, c.conrelid::regclass AS rel, pg_catalog.pg_get_constraintdef(c.oid) AS def
              FROM pg_catalog.pg_constraint c
             WHERE c.contype = 'f' AND c.connamespace = 'seg_reco'::regnamespace
               AND (c.conrelid IN (SELECT format('seg_reco.%I', p.rel)::regclass FROM distribute_plan p)
                    OR c.confrelid IN (SELECT format('seg_reco.%I', p.rel)::regclass FROM distribute_plan p))
             ORDER BY c.conrelid::regclass::text, c.conname
        LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_fk.rel, v_fk.conname);
            v_worker_ddl := v_worker_ddl || format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', v_fk.rel, v_fk.conname);
            v_fks := v_fks || format('ALTER TABLE %s ADD CONSTRAINT %I %s', v_fk.rel, v_fk.conname, v_fk.def);
        END LOOP;

        -- the sources, as they are; their views made again, so that each
        -- worker has the same view (use_source over a table not yet Citus's
        -- left the workers' copies of the relation as they were)
        -- (quietly: use_source's NOTICEs were given when it was called)
        v_msg := pg_catalog.current_setting('client_min_messages');
        PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
        FOR v_src IN
            SELECT s.relation, s.source, s.columns FROM seg_reco.sources s
             ORDER BY pg_catalog.array_position(ARRAY['transactions', 'digital_events', 'customers', 'products'], s.relation)
        LOOP
            PERFORM seg_reco.use_source(v_src.relation, v_src.source::regclass, v_src.columns);
            relation := v_src.relation;
            distribution := CASE WHEN v_src.relation = 'products' THEN 'reference' ELSE 'customer_id' END;
            action := format('a view of %s, your %s', v_src.source,
                             CASE WHEN v_src.relation = 'products' THEN 'reference table'
                                  WHEN v_src.source::regclass::text = v_anchor
                                  THEN 'distributed table: seg_reco''s per-customer tables co-located with it'
                                  ELSE 'distributed table, co-located' END);
            RETURN NEXT;
        END LOOP;
        PERFORM pg_catalog.set_config('client_min_messages', v_msg, true);

        -- the non-members' lines (none in a source distributed by customer:
        -- Citus keeps no NULL in a distribution column)
        IF NOT seg_reco._citus_distributed('seg_reco.nonmember_transactions') THEN
            v_n := 0;
            IF EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions') THEN
                -- (an extension member, empty until now: dropped with the extension)
                WITH moved AS (DELETE FROM seg_reco.transactions t WHERE t.customer_id IS NULL RETURNING t.*)
                INSERT INTO seg_reco.nonmember_transactions
                    (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price,
                     discount, amount, channel)
                SELECT m.line_id, m.receipt_id, m.customer_id, m.product_id, m.store_id, m.ts, m.quantity,
                       m.unit_price, m.discount, m.amount, m.channel
                  FROM moved m;
                GET DIAGNOSTICS v_n = ROW_COUNT;
            END IF;
            EXECUTE $q$SELECT pg_catalog.create_distributed_table('seg_reco.nonmember_transactions', 'receipt_id',
                                                                   colocate_with => 'none')$q$;
            EXECUTE $q$SELECT pg_catalog.truncate_local_data_after_distributing_table('seg_reco.nonmember_transactions')$q$;
            relation := 'nonmember_transactions'; distribution := 'receipt_id';
            action := CASE WHEN EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions')
                           THEN format('distributed; %s lines of non-members moved from transactions', v_n)
                           ELSE 'distributed, empty (the source of the lines holds members'' lines only)' END;
            RETURN NEXT;
            IF EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions') THEN
                ALTER TABLE seg_reco.transactions ALTER COLUMN customer_id SET NOT NULL;
            END IF;
        END IF;

        -- the workers' copies of the tables become the shells of the
        -- distributed tables: the same keys as here (they are empty, and local
        -- tables of the workers until now)
        FOR v_t IN SELECT * FROM distribute_plan p WHERE p.pkey IS NOT NULL ORDER BY p.ord LOOP
            v_def := format('ALTER TABLE seg_reco.%I DROP CONSTRAINT %I, ADD PRIMARY KEY (%s)',
                            v_t.rel, v_t.rel || '_pkey', v_t.pkey);
            EXECUTE v_def;
            v_worker_ddl := v_worker_ddl || v_def;
        END LOOP;
        FOREACH v_def IN ARRAY v_worker_ddl LOOP
            EXECUTE 'SELECT bool_and(w.success), string_agg(w.result, ''; '') FILTER (WHERE NOT w.success)
                       FROM pg_catalog.run_command_on_workers($1) w'
               INTO v_ok, v_msg USING v_def;
            IF NOT v_ok THEN
                RAISE EXCEPTION 'a worker refused: %', v_def
                    USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_msg,
                          HINT = 'Check the worker''s copy of the table (CREATE EXTENSION seg_reco there at the same version).';
            END IF;
        END LOOP;

        FOR v_t IN SELECT * FROM distribute_plan p ORDER BY p.ord LOOP
            IF v_t.dist = 'reference' THEN
                EXECUTE format('SELECT pg_catalog.create_reference_table(%L)', 'seg_reco.' || v_t.rel);
            ELSIF v_t.rel = 'customers' AND v_coloc IS NULL THEN
                EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L)', 'seg_reco.' || v_t.rel, v_t.dist);
            ELSE
                EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                               'seg_reco.' || v_t.rel, v_t.dist, v_anchor);
            END IF;
            -- the coordinator's own copy of the rows, now in the shards
            EXECUTE format('SELECT pg_catalog.truncate_local_data_after_distributing_table(%L)', 'seg_reco.' || v_t.rel);
            relation := v_t.rel; distribution := v_t.dist;
            action := CASE WHEN v_t.dist = 'reference' THEN 'reference table'
                           WHEN v_coloc IS NULL THEN 'distributed, co-located with customers'
                           ELSE format('distributed, co-located with %s', v_anchor) END
                      || CASE WHEN v_t.pkey IS NOT NULL THEN format('; primary key (%s)', v_t.pkey) ELSE '' END;
            RETURN NEXT;
        END LOOP;

        FOREACH v_def IN ARRAY v_fks LOOP
            EXECUTE v_def;
        END LOOP;
    END tables;

    -- the serving functions, distributed by their customer argument: a
    -- call for one customer on the coordinator (SELECT
    -- seg_reco.recommend_for(42)) runs on the worker holding the customer
    FOR v_t IN
        SELECT f.sig::regprocedure AS fn
          FROM unnest(ARRAY['seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)',
                            'seg_reco.why_recommended(bigint, bigint, integer, text)',
                            'seg_reco.buy_again_scores(bigint, integer, date)',
                            'seg_reco.content_scores(bigint, integer, date, float8, boolean, boolean)',
                            'seg_reco.cold_start_recommendations(bigint, integer, integer)']) WITH ORDINALITY f(sig, ord)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o
                            WHERE o.classid = 'pg_catalog.pg_proc'::regclass AND o.objid = f.sig::regprocedure
                              AND o.distribution_argument_index IS NOT NULL)
         ORDER BY f.ord
    LOOP
        EXECUTE format('SELECT pg_catalog.create_distributed_function(%L, %L, colocate_with => %L)',
                       v_t.fn::text, 'customer_id', v_anchor);
        relation := v_t.fn::text; distribution := 'customer_id';
        action := CASE WHEN v_coloc IS NULL THEN 'function distributed, co-located with customers'
                       ELSE format('function distributed, co-located with %s', v_anchor) END;
        RETURN NEXT;
    END LOOP;
    -- Per row of a query over a distributed table these run inside the
    -- query of a shard, on a worker, where Citus refuses the queries they
    -- make (cannot execute a distributed query from a query on a shard)
    -- unless citus.allow_nested_distributed_execution is on.  What they read
    -- is safe to read there: reference tables (read from the node's own
    -- copy), the customer's own rows (in the co-located shard, on the same
    -- node) and default_as_of()'s latest line (committed lines of every
    -- shard); they write nothing.  So it is on for them alone, not for a
    -- role (set again at every call: an upgrade that replaces a function
    -- resets it).
    FOREACH v_msg IN ARRAY ARRAY['seg_reco.recommend_for(bigint, integer, boolean, text, bigint[], boolean, text, jsonb, float8, integer, bigint[], jsonb, date)',
                                 'seg_reco.why_recommended(bigint, bigint, integer, text)',
                                 'seg_reco.buy_again_scores(bigint, integer, date)',
                                 'seg_reco.content_scores(bigint, integer, date, float8, boolean, boolean)',
                                 'seg_reco.cold_start_recommendations(bigint, integer, integer)',
                                 'seg_reco.kmeans_assign(float8[], text)'] LOOP
        v_def := format('ALTER FUNCTION %s SET citus.allow_nested_distributed_execution = on',
                        v_msg::regprocedure::text);
        EXECUTE v_def;
        -- (Citus passes it on to the workers for the distributed functions
        -- only, and refuses it there: kmeans_assign is not one)
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_dist_object o
                               WHERE o.classid = 'pg_catalog.pg_proc'::regclass
                                 AND o.objid = v_msg::regprocedure
                                 AND o.distribution_argument_index IS NOT NULL);
        EXECUTE 'SELECT bool_and(w.success), string_agg(w.result, ''; '') FILTER (WHERE NOT w.success)
                   FROM pg_catalog.run_command_on_workers($1) w'
           INTO v_ok, v_msg USING v_def;
        IF NOT v_ok THEN
            RAISE EXCEPTION 'a worker refused: %', v_def
                USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = v_msg,
                      HINT = 'Check the worker''s copy of the function (CREATE EXTENSION seg_reco there at the same version).';
        END IF;
    END LOOP;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.distribute() IS 'on a Citus coordinator: distributes the per-customer tables by customer id (co-located: sources, ALS customer factors, next-basket neighbours, clusters, customer value, recommendation slots, the tables behind customer_features and customer_segments, the customer state, the cohorts'' customer months, the contact history, the A/B assignments), products, settings, models, the segment and cluster name maps, the experiments, the pipeline''s state, the served recommendations slot and the global outputs as reference tables, non-members'' lines into nonmember_transactions, and the serving functions by their customer argument; over sources set by use_source it checks your tables (lines, digital events, customers distributed by their bigint customer column and co-located, products a reference table) and co-locates seg_reco''s tables with your lines';
REVOKE EXECUTE ON FUNCTION seg_reco.distribute() FROM PUBLIC;
