
------------------------------------------------------------------------------
-- Scale-out on Citus (issue 15, in progress)
------------------------------------------------------------------------------

-- distribute(): on the coordinator of a Citus cluster, distribute the
-- source tables by customer id, co-located with seg_reco.customers, and make
-- products a reference table.  This first step covers the sources
-- (customers, transactions, digital_events, demo_truth, products); the
-- models, factors and per-customer outputs follow (README, Scale-out on
-- Citus).  What Citus requires and a single node does not:
-- - no NULL in a distribution column: the non-members' lines (customer_id
--   NULL) move to seg_reco.nonmember_transactions, distributed by
--   receipt_id (a receipt stays whole); the per-customer steps never read
--   them;
-- - every primary key contains the distribution column: transactions
--   (customer_id, line_id), digital_events (customer_id, event_id);
-- - foreign keys to a distributed table only from a co-located one, on
--   the customer id: they are dropped before and re-created after.
-- Tables with triggers are refused, naming them (Citus distributes none),
-- but for seg_reco's capture triggers, which are dropped: on Citus every
-- refresh() is full.
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
    IF EXISTS (SELECT 1 FROM seg_reco.sources) THEN
        RAISE EXCEPTION 'seg_reco.distribute() does not yet handle sources set by use_source'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('Sources read from your relations: %s.',
                                  (SELECT string_agg(s.relation, ', ' ORDER BY s.relation) FROM seg_reco.sources s)),
                  HINT = 'Load the data into seg_reco''s own tables, or distribute your tables by customer id yourself.';
    END IF;

    -- the tables of this step: what they become
    CREATE TEMP TABLE IF NOT EXISTS distribute_plan
        (ord integer, rel text, dist text, pkey text) ON COMMIT DROP;
    TRUNCATE distribute_plan;
    INSERT INTO distribute_plan VALUES
        (1, 'products', 'reference', NULL),
        (2, 'customers', 'customer_id', NULL),
        (3, 'transactions', 'customer_id', 'customer_id, line_id'),
        (4, 'digital_events', 'customer_id', 'customer_id, event_id'),
        (5, 'demo_truth', 'customer_id', NULL);
    DELETE FROM distribute_plan p
     WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'seg_reco' AND c.relname = p.rel
                      AND c.oid IN (SELECT d.logicalrelid FROM pg_catalog.pg_dist_partition d));
    IF NOT EXISTS (SELECT 1 FROM distribute_plan) THEN
        RETURN;
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

    -- the non-members' lines
    IF EXISTS (SELECT 1 FROM distribute_plan p WHERE p.rel = 'transactions') THEN
        CREATE TABLE seg_reco.nonmember_transactions
            (LIKE seg_reco.transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
        ALTER TABLE seg_reco.nonmember_transactions ADD PRIMARY KEY (receipt_id, line_id);
        COMMENT ON TABLE seg_reco.nonmember_transactions IS
            'receipt lines of non-members (customer_id NULL), moved out of seg_reco.transactions by seg_reco.distribute()';
        WITH moved AS (DELETE FROM seg_reco.transactions t WHERE t.customer_id IS NULL RETURNING t.*)
        INSERT INTO seg_reco.nonmember_transactions SELECT * FROM moved;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        EXECUTE $q$SELECT pg_catalog.create_distributed_table('seg_reco.nonmember_transactions', 'receipt_id',
                                                               colocate_with => 'none')$q$;
        relation := 'nonmember_transactions'; distribution := 'receipt_id';
        action := format('created; %s lines of non-members moved from transactions', v_n);
        RETURN NEXT;
        ALTER TABLE seg_reco.transactions ALTER COLUMN customer_id SET NOT NULL;
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
        ELSIF v_t.rel = 'customers' THEN
            EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L)', 'seg_reco.' || v_t.rel, v_t.dist);
        ELSE
            EXECUTE format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                           'seg_reco.' || v_t.rel, v_t.dist, 'seg_reco.customers');
        END IF;
        -- the coordinator's own copy of the rows, now in the shards
        EXECUTE format('SELECT pg_catalog.truncate_local_data_after_distributing_table(%L)', 'seg_reco.' || v_t.rel);
        relation := v_t.rel; distribution := v_t.dist;
        action := CASE WHEN v_t.dist = 'reference' THEN 'reference table'
                       ELSE 'distributed, co-located with customers' END
                  || CASE WHEN v_t.pkey IS NOT NULL THEN format('; primary key (%s)', v_t.pkey) ELSE '' END;
        RETURN NEXT;
    END LOOP;

    FOREACH v_def IN ARRAY v_fks LOOP
        EXECUTE v_def;
    END LOOP;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.distribute() IS 'on a Citus coordinator: distributes the source tables by customer id (co-located), products as a reference table, non-members'' lines into nonmember_transactions (in progress: the models and outputs follow)';
REVOKE EXECUTE ON FUNCTION seg_reco.distribute() FROM PUBLIC;
