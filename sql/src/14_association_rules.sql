------------------------------------------------------------------------------
-- Frequently bought together: association rules (src/assoc.c, assoc_fpgrowth.c)
------------------------------------------------------------------------------
-- BEGIN association rules
-- association_rules(query, ...) reads any query whose first column is a
-- basket id (smallint, integer, bigint, text, varchar or char) and whose
-- second is a product id (smallint, integer or bigint), in one pass; a row
-- with a NULL in either is skipped, a product twice in a basket counts
-- once.  Frequent itemsets come from FP-growth (Han, Pei & Yin 2000) in C;
-- rules have one item on the right-hand side, as arules' apriori
-- (Hahsler et al.), with its definitions: an itemset is frequent when
-- ceil(min_support x baskets) baskets hold it (and at least min_count, a
-- floor arules does not have: default 1); support of a rule = that of
-- lhs u {rhs}; confidence = count(lhs u {rhs}) / count(lhs) >=
-- min_confidence; min_length/max_length count the items of lhs u {rhs}
-- (arules' minlen 1 and maxlen 10 are the defaults: with min_length 1 a
-- frequent item gives the rule {} => {rhs}); lift = confidence /
-- support(rhs); leverage = support - support(lhs) x support(rhs);
-- conviction = (1 - support(rhs)) / (1 - confidence), NULL when the
-- confidence is 1; coverage = support(lhs); count = baskets holding lhs u
-- {rhs}.  lhs is sorted by product id.  Rows come sorted by the length of
-- lhs u {rhs}, then its product ids, then rhs, the same whatever the order
-- of the query's rows.  More than max_itemsets frequent itemsets (each is
-- held in memory) is an error (54000).  max_baskets (default NULL: every
-- basket) bounds the memory and time at scale: when the query holds more
-- baskets, the rules come from a sample of them, those whose hash of the
-- basket id falls below 2^-j of the hash range for the smallest j leaving
-- at most max_baskets (so about max_baskets / 2 to max_baskets baskets;
-- the same basket ids give the same sample, whatever the order of the
-- rows); support, confidence, counts and min_support are then those of the
-- sample.  The query runs with search_path
-- pg_catalog, pg_temp (qualify your tables) and the caller's rights.
-- PARALLEL RESTRICTED: the caller's query may read temporary tables.
CREATE FUNCTION seg_reco.association_rules(query text,
                                           min_support float8,
                                           min_confidence float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000,
                                           max_baskets integer DEFAULT NULL)
RETURNS TABLE(lhs bigint[], rhs bigint, support float8, confidence float8, lift float8,
              leverage float8, conviction float8, coverage float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_association_rules'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.association_rules(text, float8, float8, integer, integer, integer, integer, integer) IS 'association rules lhs => {rhs} (one item on the right, as arules'' apriori) with support, confidence, lift, leverage, conviction, coverage and count, from the frequent itemsets (FP-growth) of a query of (basket id, product id); above max_baskets baskets, of a hash sample of at most that many';

CREATE FUNCTION seg_reco.frequent_itemsets(query text,
                                           min_support float8,
                                           max_length integer DEFAULT 10,
                                           min_length integer DEFAULT 1,
                                           min_count integer DEFAULT 1,
                                           max_itemsets integer DEFAULT 1000000,
                                           max_baskets integer DEFAULT NULL)
RETURNS TABLE(items bigint[], support float8, count bigint)
AS 'MODULE_PATHNAME', 'seg_reco_frequent_itemsets'
LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 1000
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION seg_reco.frequent_itemsets(text, float8, integer, integer, integer, integer, integer) IS 'every itemset held by at least ceil(min_support x baskets) (and min_count) baskets of a query of (basket id, product id), with its support and count (FP-growth); above max_baskets baskets, of a hash sample of at most that many';

-- The highest sample level at which association_rules' hash sample keeps a
-- basket (the leading zero bits of its sample hash): build_rules on Citus
-- counts the receipts per level in the shards and reads only the sample.
CREATE FUNCTION seg_reco._basket_sample_level(basket_id bigint) RETURNS integer
AS 'MODULE_PATHNAME', 'seg_reco_basket_sample_level'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco._basket_sample_level(bigint) IS 'internal: the highest level at which the hash sample of association_rules (max_baskets) keeps a basket of this id (0-32)';
REVOKE EXECUTE ON FUNCTION seg_reco._basket_sample_level(bigint) FROM PUBLIC;

-- The rules of the pipeline (written by build_rules, a refresh() step):
-- rules with a non-empty left-hand side from the receipts of
-- seg_reco.transactions (lines with amount > 0, members and non-members;
-- on Citus also those of seg_reco.nonmember_transactions).
CREATE TABLE seg_reco.product_rules (
    lhs         bigint[] NOT NULL,
    rhs         bigint NOT NULL,
    support     float8 NOT NULL,
    confidence  float8 NOT NULL,
    lift        float8 NOT NULL,
    leverage    float8 NOT NULL,
    conviction  float8,
    coverage    float8 NOT NULL,
    count       bigint NOT NULL,
    PRIMARY KEY (lhs, rhs)
);
CREATE INDEX product_rules_lhs_first_idx ON seg_reco.product_rules ((lhs[1]));
COMMENT ON TABLE seg_reco.product_rules IS 'association rules lhs => {rhs} among the receipts of seg_reco.transactions (written by build_rules; read by bought_with and basket_complements)';

CREATE TABLE seg_reco.product_rules_info (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    min_support    float8 NOT NULL,
    min_confidence float8 NOT NULL,
    max_length     integer NOT NULL,
    built_at       timestamptz NOT NULL,
    summary        jsonb NOT NULL
);
COMMENT ON TABLE seg_reco.product_rules_info IS 'one row: the thresholds and summary of the last build_rules';

SELECT pg_catalog.pg_extension_config_dump('seg_reco.product_rules', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.product_rules_info', '');

-- rules_min_support 0.0001: on the demo data (134,358 receipts: 14) it
-- gives 2,388 of the 4,964 products a rule of their own; 0.001 gave 339,
-- and held-out receipts were completed 8 times less often (hit rate @10
-- 0.032 against 0.247, bench/assoc.sh).
INSERT INTO seg_reco.setting_defaults (key, value, description) VALUES
    ('rules_min_support', '0.0001', 'minimum support (share of receipts) of the itemsets behind the association rules of build_rules (raised when they exceed rules_max_itemsets)'),
    ('rules_min_confidence', '0.05', 'minimum confidence of the association rules of build_rules'),
    ('rules_min_count', '10', 'fewest receipts behind an association rule of build_rules, whatever rules_min_support gives (a rule from fewer is noise)'),
    ('rules_max_length', '3', 'most products in an association rule of build_rules, both sides counted (3: up to two on the left)'),
    ('rules_max_itemsets', '1000000', 'most frequent itemsets build_rules holds in memory (about 65 bytes each); above it the support and count are doubled until they fit'),
    ('rules_max_baskets', '500000', 'most receipts build_rules mines (0: all); above it the rules come from a hash sample of at most that many receipts, which bounds the step''s memory and time');

-- build_rules: product_rules from the receipts, thresholds from the
-- settings unless given; the previous rules are replaced in the same
-- transaction (readers keep seeing them until it commits).  An itemset
-- needs min_support and rules_min_count (10) receipts: on a small data set
-- 0.0001 would mean 1 or 2.  When the receipts hold more than
-- rules_max_itemsets frequent itemsets (long baskets of similar products
-- can hold tens of millions), the support and the count are doubled until
-- they fit: the summary names those used (min_support, min_count) and the
-- support asked for (asked_min_support).  More receipts than
-- rules_max_baskets (default 500,000; 0: all) are mined as a hash sample
-- of at most that many (association_rules' max_baskets): at 100x the demo's
-- scale (13.4 M receipts) a thirty-second, so the step's memory and time
-- stay those of about 420,000 receipts; the summary names max_baskets and the
-- receipts mined (baskets; NULL without rules).
CREATE FUNCTION seg_reco.build_rules(min_support float8 DEFAULT NULL,
                                     min_confidence float8 DEFAULT NULL,
                                     max_length integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_t0      timestamptz := clock_timestamp();
    v_asked   float8 := coalesce(min_support, (seg_reco.setting('rules_min_support'))::float8);
    v_supp    float8 := v_asked;
    v_conf    float8 := coalesce(min_confidence, (seg_reco.setting('rules_min_confidence'))::float8);
    v_len     integer := coalesce(max_length, (seg_reco.setting('rules_max_length'))::integer);
    v_count   integer := (seg_reco.setting('rules_min_count'))::integer;
    v_max     integer := (seg_reco.setting('rules_max_itemsets'))::integer;
    v_maxb_j  jsonb := seg_reco.setting('rules_max_baskets');
    v_maxb    integer;
    v_baskets float8;
    v_rows    bigint;
    v_summary jsonb;
    v_lines   text;
    v_level   integer;
BEGIN
    IF jsonb_typeof(v_maxb_j) IS DISTINCT FROM 'number' OR (v_maxb_j::numeric) <> trunc(v_maxb_j::numeric)
       OR (v_maxb_j::numeric) NOT BETWEEN 0 AND 2147483647 THEN
        RAISE EXCEPTION 'setting rules_max_baskets must be a whole number from 0 to 2147483647, got %', v_maxb_j
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It is the most receipts build_rules mines; 0 mines all.',
                  HINT = 'Delete the override (DELETE FROM seg_reco.settings WHERE key = ''rules_max_baskets'') for the default 500000.';
    END IF;
    v_maxb := nullif((v_maxb_j::numeric)::integer, 0);
    -- On Citus the reader would receive every line on the coordinator and
    -- drop those outside its sample there: the receipts are counted per
    -- sample level in the shards first (a member's receipt is whole in its
    -- customer's shard, a non-member's in its receipt's), the level the
    -- reader would choose taken from the counts (the lowest that keeps at
    -- most max_baskets receipts), and only the lines of the sample read;
    -- the reader then keeps them all, the same sample as on one node (a
    -- receipt id shared by two customers counts twice here: a smaller
    -- sample).
    IF v_maxb IS NOT NULL AND seg_reco._citus_distributed('seg_reco.transactions') THEN
        EXECUTE format($q$
            SELECT coalesce(max(k.lv) + 1, 0)
              FROM (SELECT h.lv, sum(h.n) OVER (ORDER BY h.lv DESC) AS kept
                      FROM (SELECT b.lv, count(*) AS n
                              FROM (SELECT seg_reco._basket_sample_level(t.receipt_id) AS lv
                                      FROM seg_reco.transactions t WHERE t.amount > 0
                                     GROUP BY t.customer_id, t.receipt_id
                                    UNION ALL
                                    SELECT seg_reco._basket_sample_level(n.receipt_id)
                                      FROM seg_reco.nonmember_transactions n WHERE n.amount > 0
                                     GROUP BY n.receipt_id) b
                             GROUP BY b.lv) h) k
             WHERE k.kept > %s$q$, v_maxb)
           INTO v_level;
        v_level := least(v_level, 32);
    END IF;
    -- the receipts' lines; on Citus the non-members' lines are in
    -- nonmember_transactions (seg_reco.distribute(); empty on one node):
    -- their receipts count as well
    v_lines := format('SELECT t.receipt_id, t.product_id FROM seg_reco.transactions t WHERE t.amount > 0%1$s'
                      ' UNION ALL SELECT n.receipt_id, n.product_id FROM seg_reco.nonmember_transactions n'
                      ' WHERE n.amount > 0%2$s',
                      CASE WHEN v_level > 0 THEN format(' AND seg_reco._basket_sample_level(t.receipt_id) >= %s', v_level) ELSE '' END,
                      CASE WHEN v_level > 0 THEN format(' AND seg_reco._basket_sample_level(n.receipt_id) >= %s', v_level) ELSE '' END);
    LOCK TABLE seg_reco.product_rules_info IN EXCLUSIVE MODE;
    DELETE FROM seg_reco.product_rules;
    LOOP
        BEGIN
            INSERT INTO seg_reco.product_rules
                (lhs, rhs, support, confidence, lift, leverage, conviction, coverage, count)
            SELECT r.lhs, r.rhs, r.support, r.confidence, r.lift, r.leverage, r.conviction, r.coverage, r.count
              FROM seg_reco.association_rules(
                       v_lines,
                       v_supp, v_conf, max_length => greatest(v_len, 2), min_length => 2,
                       min_count => v_count, max_itemsets => v_max, max_baskets => v_maxb) r;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            EXIT;
        EXCEPTION WHEN program_limit_exceeded THEN
            IF v_supp >= 0.5 OR v_count >= 1073741824 THEN
                RAISE;
            END IF;
            RAISE NOTICE 'build_rules: more than % frequent itemsets at support % and count %; trying % and %',
                v_max, v_supp, v_count, least(2 * v_supp, 1), 2 * v_count;
            v_supp := least(2 * v_supp, 1);
            v_count := 2 * v_count;
        END;
    END LOOP;
    -- the receipts mined: count / support of any rule (when there is one)
    SELECT round(max(r.count / r.support)) INTO v_baskets FROM seg_reco.product_rules r;
    v_summary := jsonb_build_object('rules', v_rows, 'min_support', v_supp, 'min_count', v_count,
                                    'min_confidence', v_conf, 'max_length', v_len,
                                    'seconds', round(extract(epoch FROM clock_timestamp() - v_t0)::numeric, 3))
                 || CASE WHEN v_supp = v_asked THEN '{}'::jsonb
                         ELSE jsonb_build_object('asked_min_support', v_asked) END
                 || CASE WHEN v_maxb IS NULL THEN '{}'::jsonb
                         ELSE jsonb_build_object('max_baskets', v_maxb, 'baskets', v_baskets::bigint) END
                 || CASE WHEN v_level IS NULL THEN '{}'::jsonb
                         ELSE jsonb_build_object('sample_level_in_shards', v_level) END;
    INSERT INTO seg_reco.product_rules_info AS i
        (singleton, min_support, min_confidence, max_length, built_at, summary)
    VALUES (true, v_supp, v_conf, v_len, now(), v_summary)
    ON CONFLICT (singleton) DO UPDATE
        SET min_support = excluded.min_support, min_confidence = excluded.min_confidence,
            max_length = excluded.max_length, built_at = excluded.built_at, summary = excluded.summary;
    RETURN v_summary;
END
$fn$;
COMMENT ON FUNCTION seg_reco.build_rules(float8, float8, integer) IS 'replaces product_rules with the association rules (non-empty left-hand side) of the receipts in seg_reco.transactions; thresholds from the settings rules_min_support, rules_min_count, rules_min_confidence, rules_max_length unless given (support and count doubled while the itemsets exceed rules_max_itemsets); returns a summary';
REVOKE EXECUTE ON FUNCTION seg_reco.build_rules(float8, float8, integer) FROM PUBLIC;

-- Serving.  Only rules with lift > 1 are used: a product whose share in
-- the baskets holding the others is no higher than its share overall is
-- not bought "with" them.  They are ranked by confidence (the share of
-- the baskets holding the left-hand side that also hold the product: the
-- chance it goes into this basket), then lift, then product id; lift first
-- would put rare products with a handful of co-occurrences on top, and
-- confidence without lift > 1 can put a best seller (whole milk is in 26%
-- of Groceries' baskets) on the page of a product it is no likelier with.
-- On held-out receipts (bench/assoc.sh) confidence
-- first completed more carts than lift first: demo 0.247 against 0.237,
-- UCI Online Retail 0.207 against 0.195 (hit rate @10).  Errors: rules not
-- built yet (55000), k outside 1..1000 (22023), NULL arguments (22004).

-- bought_with: for a product page, the products most often in the same
-- basket (rules {product_id} => {other}).
CREATE FUNCTION seg_reco.bought_with(product_id bigint,
                                     k integer DEFAULT 10,
                                     only_active boolean DEFAULT true)
RETURNS TABLE(other_product_id bigint, confidence float8, lift float8, support float8,
              count bigint, rank integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF product_id IS NULL OR k IS NULL OR only_active IS NULL THEN
        RAISE EXCEPTION 'product_id, k and only_active must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.product_rules_info) THEN
        RAISE EXCEPTION 'association rules are not built yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CALL seg_reco.refresh(); or SELECT seg_reco.build_rules();';
    END IF;
    RETURN QUERY
    SELECT r.rhs, r.confidence, r.lift, r.support, r.count,
           (row_number() OVER (ORDER BY r.confidence DESC, r.lift DESC, r.rhs))::integer
      FROM seg_reco.product_rules r
     WHERE r.lhs = ARRAY[bought_with.product_id] AND r.lift > 1
       AND (NOT only_active
            OR EXISTS (SELECT 1 FROM seg_reco.products p WHERE p.product_id = r.rhs AND p.active))
     ORDER BY r.confidence DESC, r.lift DESC, r.rhs
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.bought_with(bigint, integer, boolean) IS 'frequently bought together, for a product page: the products of the rules {product_id} => {other} with lift > 1, by confidence, then lift';

-- basket_complements: for a cart, products not in it from the rules whose
-- left-hand side the cart holds; each product by its best rule (highest
-- confidence, then lift, then the longer left-hand side), whose
-- left-hand side is returned as because ("often bought with ...").  NULL
-- elements of the cart are ignored; an empty cart gives no rows; more than
-- 1,000 distinct products is an error (22023: the containment tests grow
-- with the cart).
CREATE FUNCTION seg_reco.basket_complements(product_ids bigint[],
                                            k integer DEFAULT 10,
                                            only_active boolean DEFAULT true)
RETURNS TABLE(product_id bigint, confidence float8, lift float8, support float8,
              because bigint[], rank integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_cart bigint[];
BEGIN
    IF product_ids IS NULL OR k IS NULL OR only_active IS NULL THEN
        RAISE EXCEPTION 'product_ids, k and only_active must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, got %', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM seg_reco.product_rules_info) THEN
        RAISE EXCEPTION 'association rules are not built yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CALL seg_reco.refresh(); or SELECT seg_reco.build_rules();';
    END IF;
    v_cart := ARRAY(SELECT DISTINCT c FROM unnest(product_ids) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(v_cart) > 1000 THEN
        RAISE EXCEPTION 'a cart holds at most 1000 distinct products, got %', cardinality(v_cart)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the products of one basket.';
    END IF;
    RETURN QUERY
    SELECT b.rhs, b.confidence, b.lift, b.support, b.lhs,
           (row_number() OVER (ORDER BY b.confidence DESC, b.lift DESC, b.rhs))::integer
      FROM (SELECT DISTINCT ON (r.rhs) r.rhs, r.confidence, r.lift, r.support, r.lhs
              FROM seg_reco.product_rules r
             WHERE r.lhs[1] = ANY (v_cart) AND r.lhs <@ v_cart AND r.rhs <> ALL (v_cart)
               AND r.lift > 1
             ORDER BY r.rhs, r.confidence DESC, r.lift DESC, cardinality(r.lhs) DESC, r.lhs) b
     WHERE NOT only_active
        OR EXISTS (SELECT 1 FROM seg_reco.products p WHERE p.product_id = b.rhs AND p.active)
     ORDER BY b.confidence DESC, b.lift DESC, b.rhs
     LIMIT k;
END
$fn$;
COMMENT ON FUNCTION seg_reco.basket_complements(bigint[], integer, boolean) IS 'products to complete a cart: those of the rules whose left-hand side the cart holds (not already in it, lift > 1), each by its best rule, by confidence, then lift; because = that rule''s left-hand side';
-- END association rules
