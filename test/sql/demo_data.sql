--
-- demo_data: the Norwegian grocery demo-data generator
--
SET extra_float_digits = 0;
SET TimeZone = 'Europe/Oslo';
SET DateStyle = 'ISO, YMD';
\set SHOW_CONTEXT never

-- a small data set: exact row counts
SELECT * FROM seg_reco.generate_demo_data(customers => 300, products => 200,
    transactions => 20000, digital_events => 2000, seed => 7);

SELECT (SELECT count(*) FROM seg_reco.customers) AS customers,
       (SELECT count(*) FROM seg_reco.products) AS products,
       (SELECT count(*) FROM seg_reco.transactions) AS transactions,
       (SELECT count(*) FROM seg_reco.digital_events) AS digital_events,
       (SELECT count(*) FROM seg_reco.demo_truth) AS demo_truth;

-- determinism: a second run gives byte-identical tables
CREATE TEMP TABLE fp1 AS
SELECT (SELECT md5(string_agg(c::text, '|' ORDER BY customer_id)) FROM seg_reco.customers c) AS cu,
       (SELECT md5(string_agg(p::text, '|' ORDER BY product_id)) FROM seg_reco.products p) AS pr,
       (SELECT md5(string_agg(t::text, '|' ORDER BY line_id)) FROM seg_reco.transactions t) AS tx,
       (SELECT md5(string_agg(e::text, '|' ORDER BY event_id)) FROM seg_reco.digital_events e) AS ev,
       (SELECT md5(string_agg(d::text, '|' ORDER BY customer_id)) FROM seg_reco.demo_truth d) AS tr;
SELECT relation, rows FROM seg_reco.generate_demo_data(300, 200, 20000, 2000, 7);
CREATE TEMP TABLE fp2 AS
SELECT (SELECT md5(string_agg(c::text, '|' ORDER BY customer_id)) FROM seg_reco.customers c) AS cu,
       (SELECT md5(string_agg(p::text, '|' ORDER BY product_id)) FROM seg_reco.products p) AS pr,
       (SELECT md5(string_agg(t::text, '|' ORDER BY line_id)) FROM seg_reco.transactions t) AS tx,
       (SELECT md5(string_agg(e::text, '|' ORDER BY event_id)) FROM seg_reco.digital_events e) AS ev,
       (SELECT md5(string_agg(d::text, '|' ORDER BY customer_id)) FROM seg_reco.demo_truth d) AS tr;
SELECT fp1.cu = fp2.cu AS same_customers, fp1.pr = fp2.pr AS same_products,
       fp1.tx = fp2.tx AS same_transactions, fp1.ev = fp2.ev AS same_events,
       fp1.tr = fp2.tr AS same_truth
  FROM fp1, fp2;
-- the helpers agree with the tables, and another seed gives other data
SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY line_id))
          FROM seg_reco._demo_transactions(300, 200, 20000, 2000, 7) t) = fp1.tx AS helper_matches,
       (SELECT md5(string_agg(t::text, '|' ORDER BY line_id))
          FROM seg_reco._demo_transactions(300, 200, 20000, 2000, 8) t) <> fp1.tx AS other_seed_differs
  FROM fp1;
-- the digital events are the same whether _demo_digital_events simulates
-- the purchases itself (alone) or takes the sample of lines
-- _demo_transactions kept (right after it, as in generate_demo_data)
SELECT (SELECT md5(string_agg(e::text, '|' ORDER BY event_id))
          FROM seg_reco._demo_digital_events(300, 200, 20000, 2000, 7) e) = fp1.ev AS events_alone_match
  FROM fp1;
BEGIN;
SELECT count(*) FROM seg_reco._demo_transactions(300, 200, 20000, 2000, 7);
SELECT md5(string_agg(e::text, '|' ORDER BY event_id)) = (SELECT ev FROM fp1) AS events_after_lines_match
  FROM seg_reco._demo_digital_events(300, 200, 20000, 2000, 7) e;
-- a kept sample serves only the same arguments
SELECT count(*) FROM seg_reco._demo_transactions(300, 200, 20000, 2000, 8);
SELECT md5(string_agg(e::text, '|' ORDER BY event_id)) = (SELECT ev FROM fp1) AS events_other_sample_match
  FROM seg_reco._demo_digital_events(300, 200, 20000, 2000, 7) e;
COMMIT;
-- a sample kept in a transaction that rolls back goes with it
BEGIN;
SELECT count(*) FROM seg_reco._demo_transactions(300, 200, 20000, 2000, 7);
ROLLBACK;
SELECT md5(string_agg(e::text, '|' ORDER BY event_id)) = (SELECT ev FROM fp1) AS events_after_rollback_match
  FROM seg_reco._demo_digital_events(300, 200, 20000, 2000, 7) e;
-- called in a select list the helpers stream their rows; a query that
-- stops early leaves no temporary file behind (a leak would warn at commit)
SELECT count(*) FROM (SELECT seg_reco._demo_transactions(300, 200, 20000, 2000, 7) LIMIT 3) s;
SELECT count(*) FROM (SELECT seg_reco._demo_digital_events(300, 200, 20000, 2000, 7) LIMIT 3) s;
SELECT (l).line_id, (l).receipt_id, (l).ts
  FROM (SELECT seg_reco._demo_transactions(300, 200, 20000, 2000, 7) AS l OFFSET 0) s LIMIT 3;
-- keys, indexes and foreign keys dropped for the load are all back
SELECT conrelid::regclass AS rel, conname, contype
  FROM pg_constraint
 WHERE conrelid IN ('seg_reco.transactions'::regclass, 'seg_reco.digital_events'::regclass)
 ORDER BY conrelid::regclass::text, conname;
SELECT indrelid::regclass AS rel, indexrelid::regclass AS index, indisprimary
  FROM pg_index
 WHERE indrelid IN ('seg_reco.transactions'::regclass, 'seg_reco.digital_events'::regclass)
 ORDER BY indrelid::regclass::text, indexrelid::regclass::text;

-- period, ids and arithmetic
SELECT min(ts) >= '2024-01-01 00:00' AND max(ts) < '2026-01-01 00:00' AS in_period,
       min(ts)::date AS first_day, max(ts)::date AS last_day,
       min(line_id) = 1 AND max(line_id) = count(*) AS line_ids_dense,
       bool_and(amount = round(quantity * unit_price - discount, 2)) AS amount_formula,
       bool_and(unit_price >= 0 AND discount >= 0) AS prices_nonnegative
  FROM seg_reco.transactions;
SELECT bool_and(ts >= prev_ts) AS lines_in_time_order,
       bool_and(receipt_id >= prev_receipt) AS receipts_in_time_order
  FROM (SELECT ts, receipt_id,
               lag(ts, 1, '-infinity') OVER (ORDER BY line_id) AS prev_ts,
               lag(receipt_id, 1, 0) OVER (ORDER BY line_id) AS prev_receipt
          FROM seg_reco.transactions) s;
SELECT count(*) = count(DISTINCT (receipt_id)) AS one_customer_per_receipt
  FROM (SELECT DISTINCT receipt_id, customer_id, store_id, ts, channel
          FROM seg_reco.transactions) r;
-- store hours in Oslo time: 07-23 on weekdays, Sundays only in a few stores
SELECT min(extract(hour FROM ts)) AS first_hour, max(extract(hour FROM ts)) AS last_hour,
       count(DISTINCT store_id) FILTER (WHERE extract(isodow FROM ts) = 7) <= 7 AS few_sunday_stores
  FROM seg_reco.transactions WHERE channel = 'store';
SELECT round(avg((extract(isodow FROM ts) IN (5, 6))::int), 2) > 0.35 AS busy_fri_sat
  FROM (SELECT DISTINCT receipt_id, ts FROM seg_reco.transactions) r;

-- every category exists and is sold
SELECT p.category, count(DISTINCT p.product_id) > 0 AS in_catalogue,
       count(t.line_id) > 0 AS sold
  FROM seg_reco.products p LEFT JOIN seg_reco.transactions t USING (product_id)
 GROUP BY p.category ORDER BY p.category;

-- shares in plausible bands
SELECT avg((quantity < 0)::int) BETWEEN 0.003 AND 0.008 AS returns_share_ok,
       avg((customer_id IS NULL)::int) BETWEEN 0.015 AND 0.025 AS non_member_share_ok,
       avg((amount = 0)::int) BETWEEN 0.0002 AND 0.003 AS free_share_ok,
       avg((discount > 0)::int) BETWEEN 0.01 AND 0.10 AS campaign_share_ok
  FROM seg_reco.transactions;
SELECT avg((channel = 'online')::int) BETWEEN 0.04 AND 0.13 AS online_receipts_ok
  FROM (SELECT DISTINCT receipt_id, channel FROM seg_reco.transactions) r;
-- returns: negative amounts, a product the customer bought earlier
SELECT bool_and(r.amount < 0) AS returns_negative,
       bool_and(EXISTS (SELECT 1 FROM seg_reco.transactions b
                         WHERE b.customer_id = r.customer_id AND b.product_id = r.product_id
                           AND b.quantity > 0 AND b.receipt_id < r.receipt_id)) AS returns_bought_before
  FROM seg_reco.transactions r WHERE r.quantity < 0;

-- planted shopper types: receipts per customer
SELECT shopper_type, count(*) > 0 AS present
  FROM seg_reco.demo_truth GROUP BY 1 ORDER BY 1;
WITH r AS (
    SELECT d.shopper_type, count(DISTINCT t.receipt_id)::numeric / count(DISTINCT d.customer_id) AS rpc
      FROM seg_reco.demo_truth d LEFT JOIN seg_reco.transactions t USING (customer_id)
     GROUP BY 1)
SELECT (SELECT rpc FROM r WHERE shopper_type = 'daily_topup') >
       (SELECT rpc FROM r WHERE shopper_type = 'weekly_family') AS daily_gt_family,
       (SELECT rpc FROM r WHERE shopper_type = 'weekly_family') >
       (SELECT rpc FROM r WHERE shopper_type = 'occasional_bulk') AS family_gt_occasional;
-- vegetarians hardly buy meat
SELECT avg((p.category = 'kjøtt')::int) FILTER (WHERE d.taste = 'vegetarian') <
       0.2 * avg((p.category = 'kjøtt')::int) FILTER (WHERE d.taste <> 'vegetarian') AS veg_meat_far_below
  FROM seg_reco.transactions t JOIN seg_reco.demo_truth d USING (customer_id)
  JOIN seg_reco.products p USING (product_id);
-- Christmas: ribbe and julebrus sell in December
SELECT round(avg((extract(month FROM t.ts) = 12)::int), 1) >= 0.7 AS christmas_items_in_december
  FROM seg_reco.transactions t JOIN seg_reco.products p USING (product_id)
 WHERE p.name ~ '(Ribbe|Julebrus)';
-- life cycle: at risk, churned and late joiners
SELECT bool_and(last < date '2025-12-31' - 89) AS at_risk_quiet_90_days
  FROM seg_reco.demo_truth d
  JOIN (SELECT customer_id, max(ts)::date AS last FROM seg_reco.transactions GROUP BY 1) l USING (customer_id)
 WHERE d.at_risk;
SELECT bool_and(l.last < d.churned_on) AS churned_stop
  FROM seg_reco.demo_truth d
  JOIN (SELECT customer_id, max(ts)::date AS last FROM seg_reco.transactions GROUP BY 1) l USING (customer_id)
 WHERE d.churned_on IS NOT NULL;
SELECT bool_and(l.first >= c.member_since) AS late_joiners_start_late
  FROM seg_reco.demo_truth d JOIN seg_reco.customers c USING (customer_id)
  JOIN (SELECT customer_id, min(ts)::date AS first FROM seg_reco.transactions GROUP BY 1) l USING (customer_id)
 WHERE d.joined_late;

-- digital events
SELECT min(event_id) = 1 AND max(event_id) = count(*) AS event_ids_dense,
       count(*) FILTER (WHERE event_type = 'view') > count(*) FILTER (WHERE event_type = 'click')
       AND count(*) FILTER (WHERE event_type = 'click') > count(*) FILTER (WHERE event_type = 'add_to_cart')
           AS funnel_order,
       bool_and((event_type = 'search') = (product_id IS NULL AND search_text IS NOT NULL)) AS searches_have_text,
       min(ts) >= '2024-01-01' AND max(ts) < '2026-01-01' AS in_period
  FROM seg_reco.digital_events;

-- bad arguments
SELECT * FROM seg_reco.generate_demo_data(customers => 0);
SELECT * FROM seg_reco.generate_demo_data(customers => -5);
SELECT * FROM seg_reco.generate_demo_data(products => 10);
SELECT * FROM seg_reco.generate_demo_data(transactions => -1);
SELECT * FROM seg_reco.generate_demo_data(digital_events => -1);
SELECT * FROM seg_reco.generate_demo_data(seed => NULL);
SELECT * FROM seg_reco.generate_demo_data(customers => 6000000);
SELECT * FROM seg_reco.generate_demo_data(customers => 10, transactions => 500000001);
SELECT * FROM seg_reco.generate_demo_data(customers => 10, digital_events => 50000001);
-- the default transactions and digital_events scale with customers
-- (811,465 lines and 50,000 events per 10,000 customers); a NULL for
-- either asks for the same
SELECT * FROM seg_reco.generate_demo_data(customers => 40, products => 50, seed => 3);
SELECT relation, rows FROM seg_reco.generate_demo_data(40, 50, NULL, NULL, 3);
SELECT count(*) AS transactions, count(DISTINCT customer_id) > 30 AS most_customers_shop
  FROM seg_reco.transactions;
SELECT count(*) FROM seg_reco._demo_transactions(10, 50, 500000001, 0, 1);
SELECT count(*) FROM seg_reco._demo_digital_events(10, 50, 0, 50000001, 1);
-- the helpers check their arguments too, and are STRICT
SELECT count(*) FROM seg_reco._demo_transactions(0, 200, 100, 0, 1);
SELECT count(*) FROM seg_reco._demo_products(10, 20, 100, 0, 1);
SELECT count(*) FROM seg_reco._demo_customers(10, 200, 100, 0, NULL);
-- the source relations must be the extension's own tables
BEGIN;
ALTER TABLE seg_reco.demo_truth RENAME TO demo_truth_saved;
CREATE VIEW seg_reco.demo_truth AS SELECT * FROM seg_reco.demo_truth_saved;
SELECT * FROM seg_reco.generate_demo_data(10, 50, 100, 10, 1);
ROLLBACK;
-- an edge case: no transactions and no events
SELECT * FROM seg_reco.generate_demo_data(5, 50, 0, 0, 1);
