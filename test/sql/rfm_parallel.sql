-- The rfm aggregate in parallel plans: Partial Aggregate in EXPLAIN, the
-- same answer as the serial plan, and zero input rows.
SET TimeZone = 'Europe/Oslo';
CREATE TABLE par_lines AS
SELECT g AS line_id, g / 3 AS receipt_id, (g / 3) % 500 AS customer_id,
       timestamptz '2024-01-01' + (g / 3) * interval '7 minutes' AS ts,
       CASE WHEN g % 97 = 0 THEN -(g % 50) ELSE (g % 50) + 0.25 END::numeric(12,2) AS amount
  FROM generate_series(1, 60000) g;
ANALYZE par_lines;

CREATE TEMP TABLE serial_result AS
SELECT customer_id, (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines GROUP BY customer_id;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;

EXPLAIN (COSTS OFF)
SELECT customer_id, seg_reco.rfm(receipt_id, ts, amount) FROM par_lines GROUP BY customer_id;

-- same result as the serial plan, row for row
SELECT count(*) AS customers,
       (SELECT count(*) FROM (
            (SELECT * FROM serial_result
             EXCEPT ALL
             SELECT customer_id, (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines GROUP BY customer_id)
            UNION ALL
            (SELECT customer_id, (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines GROUP BY customer_id
             EXCEPT ALL
             SELECT * FROM serial_result)) d) AS differing_rows
  FROM serial_result;

-- one aggregate over everything: Partial Aggregate under Gather
EXPLAIN (COSTS OFF)
SELECT seg_reco.rfm(receipt_id, ts, amount) FROM par_lines;
SELECT (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines;
SET max_parallel_workers_per_gather = 0;
SELECT (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines;
SET max_parallel_workers_per_gather = 2;

-- zero input rows in a parallel plan
EXPLAIN (COSTS OFF)
SELECT seg_reco.rfm(receipt_id, ts, amount) FROM par_lines WHERE customer_id < 0;
SELECT (seg_reco.rfm(receipt_id, ts, amount)).* FROM par_lines WHERE customer_id < 0;
SELECT count(*) FROM (SELECT customer_id, seg_reco.rfm(receipt_id, ts, amount)
                        FROM par_lines WHERE customer_id < 0 GROUP BY customer_id) x;

-- partial states as text, as a distributed planner ships them between nodes
SELECT (seg_reco.rfm_merge(st::text::seg_reco.rfm_state)).frequency = (SELECT sum(frequency) FROM serial_result) AS same_frequency
  FROM (SELECT customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount) AS st
          FROM par_lines GROUP BY customer_id) per_customer;

-- amounts of cents that binary floating point cannot hold exactly: the
-- parallel plan gives the same states (text) and the same monetary values
-- as the serial plan and as shuffled and reversed input (issue 11, item 4)
CREATE TABLE par_cents AS
SELECT g / 3 AS receipt_id, (g / 3) % 500 AS customer_id,
       timestamptz '2024-01-01' + (g / 3) * interval '7 minutes' AS ts,
       ((g * 7919) % 100000 - 3000) / 100.0::float8 AS amount
  FROM generate_series(1, 60000) g;
ANALYZE par_cents;
EXPLAIN (COSTS OFF)
SELECT customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount) FROM par_cents GROUP BY customer_id;
CREATE TEMP TABLE cents_parallel AS
SELECT customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount)::text AS st,
       (seg_reco.rfm(receipt_id, ts, amount)).monetary
  FROM par_cents GROUP BY customer_id;
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.44);
SELECT o.ord, count(*) AS customers, count(*) FILTER (WHERE o.st = p.st) AS same_state,
       count(*) FILTER (WHERE o.monetary = p.monetary) AS same_monetary
  FROM (SELECT 'serial' AS ord, customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount)::text AS st,
               (seg_reco.rfm(receipt_id, ts, amount)).monetary
          FROM par_cents GROUP BY customer_id
        UNION ALL
        SELECT 'shuffled', customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount ORDER BY random())::text,
               (seg_reco.rfm(receipt_id, ts, amount ORDER BY random())).monetary
          FROM par_cents GROUP BY customer_id
        UNION ALL
        SELECT 'reversed', customer_id, seg_reco.rfm_state_agg(receipt_id, ts, amount ORDER BY ts DESC, amount DESC)::text,
               (seg_reco.rfm(receipt_id, ts, amount ORDER BY ts DESC, amount DESC)).monetary
          FROM par_cents GROUP BY customer_id) o
  JOIN cents_parallel p USING (customer_id)
 GROUP BY o.ord ORDER BY o.ord;
DROP TABLE par_cents;
DROP TABLE par_lines;
