-- The one-pass customer state (issue 12, scale): every column of
-- seg_reco.customer_state equals a straightforward reference query over
-- the lines (written independently of the pass: one aggregate per column,
-- per customer), after a full run, after an update of some customers, and
-- when seg_reco.state_memory is so small that the customers are split
-- into many passes.
BEGIN;
SELECT plan(22);
SET LOCAL client_min_messages = warning;

CREATE TEMP TABLE asof AS SELECT max(t.ts)::date AS d FROM seg_reco.transactions t;

CREATE TEMP VIEW ref AS
WITH l AS (
    SELECT t.*, p.product_id IS NOT NULL AS known, coalesce(p.own_brand, false) AS own,
           coalesce(p.organic, false) AS org, p.category AS cat,
           (coalesce(t.discount > 0, false)::int + 2 * coalesce(t.channel = 'online', false)::int)::bigint AS flags
      FROM seg_reco.transactions t
      LEFT JOIN seg_reco.products p ON p.product_id = t.product_id
     WHERE t.customer_id IS NOT NULL AND t.ts IS NOT NULL
), fr AS (    -- receipts with a line of amount > 0 of a known product
    SELECT l.customer_id, l.receipt_id, min(l.ts) AS f_ts, bool_or(l.channel = 'online') AS online
      FROM l WHERE l.amount > 0 AND l.known
     GROUP BY l.customer_id, l.receipt_id
), frc AS (
    SELECT fr.customer_id, count(*) AS receipts, min(fr.f_ts) AS f_first, max(fr.f_ts) AS f_last,
           count(*) FILTER (WHERE fr.online) AS online,
           count(*) FILTER (WHERE extract(isodow FROM fr.f_ts) <= 5 AND extract(hour FROM fr.f_ts) < 12) AS morning
      FROM fr GROUP BY fr.customer_id
), pr AS (    -- receipts with a line of amount > 0
    SELECT l.customer_id, count(DISTINCT l.receipt_id) AS n
      FROM l WHERE l.amount > 0 GROUP BY l.customer_id
), days AS (  -- BTYD: a day's net amount; a purchase day has a line of amount >= 0
    SELECT l.customer_id, l.ts::date AS d, sum(l.amount) AS amt, bool_or(l.amount >= 0) AS purchase
      FROM l, asof WHERE l.ts::date <= asof.d AND l.amount IS NOT NULL
     GROUP BY l.customer_id, l.ts::date
), bf AS (
    SELECT days.customer_id, min(days.d) FILTER (WHERE days.purchase) AS first_d,
           max(days.d) FILTER (WHERE days.purchase) AS last_d,
           count(*) FILTER (WHERE days.purchase) AS n
      FROM days GROUP BY days.customer_id
), b AS (
    SELECT bf.customer_id, bf.n - 1 AS freq, (bf.last_d - bf.first_d)::float8 AS rec, bf.first_d,
           CASE WHEN bf.n > 1
                THEN (SELECT sum(d2.amt) FROM days d2 WHERE d2.customer_id = bf.customer_id AND d2.d > bf.first_d)::float8 / (bf.n - 1)
                ELSE 0 END AS mv
      FROM bf WHERE bf.first_d IS NOT NULL
), c AS (
    SELECT l.customer_id, count(*) AS lines,
           -- (the line's ids, its time in microseconds since 1970, its
           -- amount, whether discounted and whether online)
           bit_xor(hashint8extended(l.line_id, l.receipt_id # l.product_id
                                    # hashint8extended((extract(epoch FROM l.ts) * 1000000)::bigint,
                                                       coalesce(hash_numeric_extended(l.amount, l.flags), l.flags))))
               AS checksum,
           max(l.ts) AS last_line_ts, coalesce(sum(l.amount), 0.00) AS net_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.receipt_id IS NOT NULL), 0.00) AS purchase_amount,
           min(l.ts) FILTER (WHERE l.amount > 0) AS first_purchase,
           max(l.ts) FILTER (WHERE l.amount > 0) AS last_purchase,
           count(*) FILTER (WHERE l.amount > 0 AND l.known) AS receipt_lines,
           sum(l.amount) FILTER (WHERE l.amount > 0 AND l.known) AS receipt_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.own), 0) AS own_brand_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.org), 0) AS organic_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.known AND l.discount > 0), 0) AS promo_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.cat IN ('kjøtt', 'fisk og sjømat')), 0) AS meat_fish_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.cat = 'frukt og grønt'), 0) AS fresh_amount,
           coalesce(sum(l.amount) FILTER (WHERE l.amount > 0 AND l.cat = 'baby'), 0) AS baby_amount
      FROM l GROUP BY l.customer_id
)
SELECT c.customer_id, c.lines, c.checksum, c.last_line_ts, c.net_amount, coalesce(pr.n, 0) AS purchase_receipts,
       c.purchase_amount, c.first_purchase, c.last_purchase,
       b.freq AS btyd_frequency, b.rec AS btyd_recency_days, b.first_d AS btyd_first, b.mv AS btyd_monetary_value,
       coalesce(frc.receipts, 0) AS receipts, frc.f_first AS first_receipt_ts, frc.f_last AS last_receipt_ts,
       c.receipt_lines, c.receipt_amount, coalesce(frc.online, 0) AS online_receipts,
       coalesce(frc.morning, 0) AS morning_receipts,
       c.own_brand_amount, c.organic_amount, c.promo_amount, c.meat_fish_amount, c.fresh_amount, c.baby_amount
  FROM c
  LEFT JOIN pr ON pr.customer_id = c.customer_id
  LEFT JOIN frc ON frc.customer_id = c.customer_id
  LEFT JOIN b ON b.customer_id = c.customer_id;

-- the stored rows' line columns, as text (so that display scales count too)
CREATE TEMP VIEW got AS
SELECT s.customer_id, s.lines, s.checksum, s.last_line_ts, s.net_amount, s.purchase_receipts,
       s.purchase_amount, s.first_purchase, s.last_purchase,
       s.btyd_frequency, s.btyd_recency_days, s.btyd_first, s.btyd_monetary_value,
       s.receipts, s.first_receipt_ts, s.last_receipt_ts, s.receipt_lines, s.receipt_amount,
       s.online_receipts, s.morning_receipts, s.own_brand_amount, s.organic_amount, s.promo_amount,
       s.meat_fish_amount, s.fresh_amount, s.baby_amount
  FROM seg_reco.customer_state s;

CREATE TEMP TABLE ref_rows AS SELECT r.customer_id, r::text AS row FROM ref r;
-- BTYD: the exact net amount of the days after the first purchase day
-- (what an incremental run adds new days to)
CREATE TEMP TABLE ref_spend AS
WITH days AS (
    SELECT t.customer_id, t.ts::date AS d, sum(t.amount) AS amt, bool_or(t.amount >= 0) AS purchase
      FROM seg_reco.transactions t, asof
     WHERE t.customer_id IS NOT NULL AND t.ts::date <= asof.d AND t.amount IS NOT NULL
     GROUP BY 1, 2
), f AS (
    SELECT days.customer_id, min(days.d) FILTER (WHERE days.purchase) AS first_d FROM days GROUP BY 1
)
SELECT f.customer_id, coalesce((SELECT sum(d.amt) FROM days d WHERE d.customer_id = f.customer_id AND d.d > f.first_d), 0) AS spend
  FROM f WHERE f.first_d IS NOT NULL;

CALL seg_reco.refresh('full');
SELECT is((SELECT count(*) FROM seg_reco.customer_state), (SELECT count(*) FROM ref_rows),
          'a full run writes a row for every customer with a line');
SELECT is((SELECT count(*) FROM ref_rows r FULL JOIN got g ON g.customer_id = r.customer_id
            WHERE r.row IS DISTINCT FROM g::text), 0::bigint,
          'every column of every row equals the reference query (text forms: display scales too)');
SELECT is((SELECT count(*) FROM seg_reco.customer_state s FULL JOIN ref_spend r ON r.customer_id = s.customer_id
            WHERE s.btyd_repeat_spend IS DISTINCT FROM r.spend), 0::bigint,
          'the BTYD repeat spend of every customer is the exact sum of the days after the first purchase day');

-- the digital events columns: as the reference statement counts them
SELECT is((SELECT count(*) FROM seg_reco.customer_state s
             LEFT JOIN (SELECT e.customer_id, count(*) AS n, max(e.ts) AS last_ts
                          FROM seg_reco.digital_events e, asof
                         WHERE e.ts < (asof.d + 1)::timestamptz GROUP BY e.customer_id) e
                    ON e.customer_id = s.customer_id
            WHERE s.digital_events <> coalesce(e.n, 0) OR s.digital_last_ts IS DISTINCT FROM e.last_ts),
          0::bigint, 'digital events counted up to the as-of date');

-- some customers again (the incremental path): the same rows
CREATE TEMP TABLE some_ids AS
SELECT array_agg(s.customer_id) AS ids
  FROM (SELECT s.customer_id FROM seg_reco.customer_state s ORDER BY md5(s.customer_id::text) LIMIT 40) s;
CREATE TEMP TABLE before_rows AS SELECT s.customer_id, s::text AS row FROM seg_reco.customer_state s;
SELECT is(seg_reco._customer_state_update((SELECT d FROM asof), (SELECT ids FROM some_ids)), 40::bigint,
          'the update of 40 customers writes 40 rows');
SELECT is((SELECT count(*) FROM before_rows b FULL JOIN seg_reco.customer_state s ON s.customer_id = b.customer_id
            WHERE b.row IS DISTINCT FROM s::text), 0::bigint,
          'and they equal the full run''s');

-- the merge of an incremental refresh (after: each customer's last line):
-- no line is new, so every stored row comes back as it is; and the lines
-- are read per customer through the customer index whatever the planner
-- would prefer (before the LATERAL ... OFFSET 0, with nested loops
-- expensive it scanned every line: at 10x, 1,759 customers took 2.1 s)
CREATE TEMP TABLE merge_args AS
SELECT array_agg(s.customer_id ORDER BY s.customer_id) AS ids, array_agg(s.last_line_ts ORDER BY s.customer_id) AS after
  FROM seg_reco.customer_state s WHERE s.customer_id = ANY ((SELECT ids FROM some_ids)::bigint[]);
CREATE TEMP TABLE scans1 AS
SELECT pg_stat_get_xact_numscans('seg_reco.transactions'::regclass) AS n,
       pg_stat_get_xact_tuples_returned('seg_reco.transactions_customer_ts_idx'::regclass) AS entries;
SET LOCAL enable_nestloop = off;
SET LOCAL max_parallel_workers_per_gather = 0;  -- (workers' reads are not in this backend's counts)
CREATE TEMP TABLE merged AS
SELECT * FROM seg_reco._customer_state_lines((SELECT d FROM asof), (SELECT ids FROM merge_args), (SELECT after FROM merge_args));
RESET enable_nestloop;
RESET max_parallel_workers_per_gather;
SELECT is(array[pg_stat_get_xact_numscans('seg_reco.transactions'::regclass) - (SELECT n FROM scans1),
                pg_stat_get_xact_tuples_returned('seg_reco.transactions_customer_ts_idx'::regclass) - (SELECT entries FROM scans1)],
          array[0, 0]::bigint[],
          'the merge reads the new lines (here none) by a range of the customer index each, not by scanning the table or the index');
SELECT is((SELECT count(*) FROM merged m JOIN seg_reco.customer_state s USING (customer_id)
            WHERE (m.lines, m.checksum, m.last_line_ts, m.net_amount::text, m.purchase_receipts, m.btyd_frequency,
                   m.btyd_recency_days, m.btyd_monetary_value, m.btyd_repeat_spend, m.receipts, m.first_receipt_ts,
                   m.receipt_amount::text, m.morning_receipts, m.baby_amount::text)
                  IS NOT DISTINCT FROM
                  (s.lines, s.checksum, s.last_line_ts, s.net_amount::text, s.purchase_receipts, s.btyd_frequency,
                   s.btyd_recency_days, s.btyd_monetary_value, s.btyd_repeat_spend, s.receipts, s.first_receipt_ts,
                   s.receipt_amount::text, s.morning_receipts, s.baby_amount::text)),
          40::bigint, 'a merge without new lines gives back the 40 stored rows');
SELECT is((SELECT count(*) FROM merged WHERE cohort_months IS NOT NULL OR cohort_bought IS NOT NULL OR cohort_revenue IS NOT NULL),
          0::bigint, 'a merge gives no cohort months (the cohorts step reads the merged customers'' new lines itself)');
SELECT throws_ok($$SELECT * FROM seg_reco._customer_state_lines(current_date, ARRAY[1, 2]::bigint[], ARRAY[now()])$$,
                 '22023', 'customer_ids and after must be one-dimensional arrays of the same length without NULLs',
                 'a merge with arrays of different lengths is an error');
SELECT throws_ok($$SELECT seg_reco._customer_state_update(current_date, NULL, ARRAY[now()])$$,
                 '22004', 'a merge needs customer_ids', 'a merge of every customer is an error');

-- a memory budget far below the states: passes split when they outgrow
-- it (40 customers start in one pass); the same rows
SET LOCAL seg_reco.state_memory = '64kB';
SELECT is(seg_reco._customer_state_update((SELECT d FROM asof), (SELECT ids FROM some_ids)), 40::bigint,
          'with seg_reco.state_memory = 64kB the 40 customers are written');
SELECT is((SELECT count(*) FROM before_rows b FULL JOIN seg_reco.customer_state s ON s.customer_id = b.customer_id
            WHERE b.row IS DISTINCT FROM s::text), 0::bigint,
          'and they equal the full run''s');
-- every customer in more passes (the first split guessed from the table's size)
SET LOCAL seg_reco.state_memory = '2MB';
SELECT is(seg_reco._customer_state_update((SELECT d FROM asof)), (SELECT count(*) FROM ref_rows),
          'with seg_reco.state_memory = 2MB every customer is written');
SELECT is((SELECT count(*) FROM ref_rows r FULL JOIN got g ON g.customer_id = r.customer_id
            WHERE r.row IS DISTINCT FROM g::text), 0::bigint,
          'and every row equals the reference query');
-- the lines are read once whatever the budget: the parts beyond the first
-- wait in temporary files (before, each of the 16 parts scanned the table)
CREATE TEMP TABLE scans0 AS SELECT pg_stat_get_xact_numscans('seg_reco.transactions'::regclass) AS n;
SELECT is((SELECT count(*) FROM seg_reco._customer_state_lines((SELECT d FROM asof))), (SELECT count(*) FROM ref_rows),
          'with seg_reco.state_memory = 2MB the pass returns every customer');
SELECT is(pg_stat_get_xact_numscans('seg_reco.transactions'::regclass) - (SELECT n FROM scans0), 1::bigint,
          'and scans the lines once');
-- a budget so small that parts are split again and again (from their
-- files, and the first by scanning again): the same rows
SET LOCAL seg_reco.state_memory = '64kB';
SELECT is((SELECT count(*) FROM (SELECT c.customer_id, c.lines, c.checksum, c.last_line_ts, c.net_amount,
                                        c.purchase_receipts, c.purchase_amount, c.first_purchase, c.last_purchase,
                                        c.btyd_frequency, c.btyd_recency_days, c.btyd_first, c.btyd_monetary_value,
                                        c.receipts, c.first_receipt_ts, c.last_receipt_ts, c.receipt_lines,
                                        c.receipt_amount, c.online_receipts, c.morning_receipts, c.own_brand_amount,
                                        c.organic_amount, c.promo_amount, c.meat_fish_amount, c.fresh_amount,
                                        c.baby_amount
                                   FROM seg_reco._customer_state_lines((SELECT d FROM asof)) c) c
             FULL JOIN ref_rows r ON r.customer_id = c.customer_id
            WHERE r.row IS DISTINCT FROM c::text), 0::bigint,
          'with seg_reco.state_memory = 64kB every row of the pass equals the reference query');
-- the cohorts' customer months of the pass (a full refresh's cohorts step
-- reads them instead of the lines), through the same splits: the rows of
-- the statement over the lines, amounts to their scale
CREATE TEMP TABLE pass_months AS
SELECT c.customer_id, u.month, u.bought, u.revenue::text AS revenue
  FROM seg_reco._customer_state_lines((SELECT d FROM asof)) c
 CROSS JOIN LATERAL unnest(c.cohort_months, c.cohort_bought, c.cohort_revenue) AS u(month, bought, revenue);
CREATE TEMP TABLE line_months AS
SELECT m.customer_id, m.month, m.bought, m.revenue::text AS revenue
  FROM seg_reco._cohort_months(((SELECT d FROM asof) + 1)::timestamptz) m;
SELECT is((SELECT count(*) FROM ((TABLE pass_months EXCEPT ALL TABLE line_months)
                                 UNION ALL (TABLE line_months EXCEPT ALL TABLE pass_months)) x), 0::bigint,
          'with seg_reco.state_memory = 64kB the cohort months of the pass equal the statement over the lines');
SELECT cmp_ok((SELECT count(*) FROM line_months), '>', 2 * (SELECT count(*) FROM ref_rows),
              'more than two months a customer (the comparison is not of one row each)');
RESET seg_reco.state_memory;
-- below its minimum the budget is refused (a bad input)
SELECT throws_ok($$SET LOCAL seg_reco.state_memory = '32kB'$$, '22023', NULL,
                 'seg_reco.state_memory below 64kB is refused');

-- a NaN amount: the error of the reference statement
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT max(t.line_id) + 1, 987654321, min(t.customer_id), min(t.product_id), min(t.store_id), max(t.ts), 1, 0, 'NaN'
  FROM seg_reco.transactions t;
SELECT throws_ok($$SELECT seg_reco._customer_state_update((SELECT d FROM asof))$$, '22000',
                 'amount must be a finite number, got NaN', 'a NaN amount is an error');
DELETE FROM seg_reco.transactions t WHERE t.receipt_id = 987654321;

SELECT * FROM finish();
ROLLBACK;
