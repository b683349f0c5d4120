-- use_source: point seg_reco at the user's own tables through views.
-- Runs last: it replaces the built-in tables.
SET TimeZone = 'Europe/Oslo';
\set SHOW_CONTEXT never
CREATE SCHEMA shop;
CREATE TABLE shop.members (member_no bigint PRIMARY KEY, joined date, fylke text);
CREATE TABLE shop.items (sku bigint PRIMARY KEY, title text, dept text, price numeric);
CREATE TABLE shop.sales (sale_id bigint, basket bigint, member_no integer, sku bigint,
                         sold_at timestamptz, qty numeric, net_nok numeric(12,2), till text);
INSERT INTO shop.members VALUES (1, '2024-01-01', 'Oslo'), (2, '2024-02-01', 'Vestland');
INSERT INTO shop.items VALUES (10, 'Brunost', 'meieri', 89.90), (11, 'Lefser', 'brød og bakevarer', 32.50);
INSERT INTO shop.sales VALUES
  (1, 100, 1, 10, '2025-03-01 10:00', 1, 89.90, 'k1'),
  (2, 100, 1, 11, '2025-03-01 10:00', 2, 65.00, 'k1'),
  (3, 101, 1, 10, '2025-03-20 17:00', 1, 89.90, 'k2'),
  (4, 102, 2, 11, '2025-03-25 12:00', 1, 32.50, 'k1'),
  (5, 103, 2, 11, '2025-03-26 12:00', -1, -32.50, 'k1'),
  (6, 104, 3, 10, '2025-03-26 15:00', 1, 89.90, 'k2');   -- member 3 is unknown to shop.members

-- bad calls: each a clear error, and nothing changes
SELECT seg_reco.use_source('receipts', 'shop.sales');
SELECT seg_reco.use_source('transactions', NULL);
SELECT seg_reco.use_source('transactions', 'shop.nonexistent');
SELECT seg_reco.use_source('transactions', 'shop.sales', '["ts"]');
SELECT seg_reco.use_source('transactions', 'shop.sales', '{"when": "sold_at"}');
SELECT seg_reco.use_source('transactions', 'shop.sales', '{"ts": 5}');
-- a required column the source lacks, named
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at"}');
-- a mapped column that does not exist
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net"}');
-- an incompatible type, named
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "till", "amount": "net_nok"}');
-- the built-in table still holds the earlier tests' rows: not discarded silently
SELECT count(*) > 0 AS has_rows FROM seg_reco.transactions;
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "quantity": "qty", "amount": "net_nok"}');
SELECT count(*) > 0 AS still_has_rows FROM seg_reco.transactions;

-- the real thing
SELECT seg_reco.use_source('customers', 'shop.members',
       '{"customer_id": "member_no", "member_since": "joined", "county": "fylke"}', discard_data => true);
SELECT seg_reco.use_source('products', 'shop.items',
       '{"product_id": "sku", "name": "title", "category": "dept", "unit_price": "price"}', discard_data => true);
-- (shop.sales has no index yet: use_source says what every recommend_for will read)
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "quantity": "qty", "amount": "net_nok"}',
       discard_data => true);
SELECT c.relname, c.relkind FROM pg_class c
 WHERE c.relnamespace = 'seg_reco'::regnamespace
   AND c.relname IN ('customers', 'products', 'transactions', 'digital_events') ORDER BY 1;
-- same columns and types as the built-in table
SELECT string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'seg_reco.transactions'::regclass AND attnum > 0;
SELECT * FROM seg_reco.transactions ORDER BY line_id;
SELECT customer_id, member_since, county, member_tier FROM seg_reco.customers ORDER BY 1;
SELECT relation, source, columns ->> 'ts' AS ts_from FROM seg_reco.sources ORDER BY 1;

-- everything downstream keeps working
SELECT customer_id, as_of_date, recency_days, frequency, monetary, rfm_code, segment
  FROM seg_reco.rfm_score() ORDER BY 1;
-- two customers are too few for a purchase model: refresh() warns and goes on
SET client_min_messages = error;
CALL seg_reco.refresh();
RESET client_min_messages;
SELECT customer_id, frequency, monetary, segment FROM seg_reco.customer_segments ORDER BY 1;

-- pointing again replaces the view; the demo generator refuses views
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
SELECT count(*), sum(quantity) FROM seg_reco.transactions;
SELECT * FROM seg_reco.generate_demo_data(customers => 10, products => 50, transactions => 10, digital_events => 0);
-- the extension still owns the view (it goes with DROP EXTENSION)
SELECT count(*) FROM pg_depend d
 WHERE d.classid = 'pg_class'::regclass AND d.objid = 'seg_reco.transactions'::regclass
   AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';

-- A time column of type timestamp: the view casts it to timestamptz, which
-- no index on the column can serve, yet every path of recommend_for still
-- reads the user's table through its indexes.  default_as_of() reads the
-- latest line off the column itself (one entry of the index on it; before,
-- a scan of every line at every recommend_for); a customer's history reads
-- the (customer, time) index by customer.  The scans are counted within a
-- transaction (pg_stat_xact_user_tables, before and after the call).
CREATE TABLE shop.sales_local (sale_id bigint, basket bigint, member_no bigint, sku bigint,
                               sold_at timestamp, net_nok numeric(12,2));
INSERT INTO shop.sales_local SELECT sale_id, basket, member_no, sku, sold_at, net_nok FROM shop.sales;
-- and a year of older lines of other members
INSERT INTO shop.sales_local
SELECT 1000 + g, 1000 + g / 2, 100 + g % 500, 10 + g % 2, timestamp '2024-01-01' + g * interval '50 minutes', 10
  FROM generate_series(1, 10000) g;
CREATE INDEX sales_local_member_sold_idx ON shop.sales_local (member_no, sold_at);
CREATE INDEX sales_local_sold_idx ON shop.sales_local (sold_at);
ANALYZE shop.sales_local;
SELECT seg_reco.use_source('transactions', 'shop.sales_local',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
SELECT format_type(atttypid, atttypmod) AS ts_type
  FROM pg_attribute WHERE attrelid = 'seg_reco.transactions'::regclass AND attname = 'ts';
-- the latest line through the view: every line is read
EXPLAIN (COSTS OFF) SELECT max(t.ts) FROM seg_reco.transactions t;
-- what default_as_of() runs instead: one index entry
EXPLAIN (COSTS OFF) SELECT max(s.sold_at)::timestamptz FROM shop.sales_local s;
BEGIN;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables
 WHERE relid = 'shop.sales_local'::regclass \gset
SELECT seg_reco.default_as_of();
SELECT seq_scan - :seq0 AS seq_scans, idx_scan - :idx0 AS index_scans
  FROM pg_stat_xact_user_tables WHERE relid = 'shop.sales_local'::regclass;
COMMIT;
-- the history queries of recommend_for (src/reco_serve.c, src/tfidf.c)
PREPARE occasions(float8, bigint) AS
SELECT t.customer_id, t.product_id, pg_catalog.date_part('epoch', t.ts)
  FROM seg_reco.transactions t
 WHERE t.customer_id OPERATOR(pg_catalog.=) $2 AND t.amount OPERATOR(pg_catalog.>) 0
   AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($1)
 ORDER BY t.customer_id, t.ts;
EXPLAIN (COSTS OFF) EXECUTE occasions(1767225600, 1);
PREPARE history(bigint, timestamptz) AS
SELECT h.product_id, extract(epoch FROM h.ts)::pg_catalog.float8
  FROM (SELECT t.product_id, min(t.ts) AS ts
          FROM seg_reco.transactions t
         WHERE t.customer_id = $1 AND t.amount > 0 AND t.ts < $2
         GROUP BY t.product_id, t.receipt_id) h;
EXPLAIN (COSTS OFF) EXECUTE history(1, '2026-01-01');
DEALLOCATE occasions;
DEALLOCATE history;
-- and recommend_for itself, end to end: no scan of every line
SELECT name, kind FROM seg_reco.als_train('local', factors => 1, iterations => 2,
       options => '{"view_weight": 0, "click_weight": 0, "add_to_cart_weight": 0}');
SELECT count(*) FROM seg_reco.recommend_for(2, 2, model => 'local');   -- prepares its plans
BEGIN;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables
 WHERE relid = 'shop.sales_local'::regclass \gset
SELECT product_id, rank FROM seg_reco.recommend_for(1, 2, model => 'local') ORDER BY rank;
SELECT seq_scan - :seq0 AS seq_scans, idx_scan - :idx0 > 0 AS index_scans
  FROM pg_stat_xact_user_tables WHERE relid = 'shop.sales_local'::regclass;
COMMIT;
-- one customer's history (why_recommended) is read through a plan kept for
-- the model's query: a new view behind seg_reco.transactions replans it
-- (member 150 has lines in shop.sales_local only)
SELECT count(*) AS history_lines FROM seg_reco.why_recommended(150, 10, 100, model => 'local')
 WHERE reason LIKE 'customers who %';
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
SELECT count(*) AS history_lines FROM seg_reco.why_recommended(150, 10, 100, model => 'local')
 WHERE reason LIKE 'customers who %';
SELECT seg_reco.use_source('transactions', 'shop.sales_local',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
SELECT count(*) AS history_lines FROM seg_reco.why_recommended(150, 10, 100, model => 'local')
 WHERE reason LIKE 'customers who %';
DELETE FROM seg_reco.models WHERE name = 'local';
-- a timestamptz column: the same date, read through its index too.
-- shop.sales has the indexes now: no notices (its integer member_no is
-- cast to bigint in the view, which only an index on the cast can serve)
CREATE INDEX sales_member_sold_idx ON shop.sales ((member_no::bigint), sold_at);
CREATE INDEX sales_sold_idx ON shop.sales (sold_at);
SELECT seg_reco.use_source('transactions', 'shop.sales',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
ALTER TABLE shop.sales_local ALTER sold_at TYPE timestamptz;
ANALYZE shop.sales_local;
SELECT seg_reco.use_source('transactions', 'shop.sales_local',
       '{"line_id": "sale_id", "receipt_id": "basket", "customer_id": "member_no", "product_id": "sku", "ts": "sold_at", "amount": "net_nok"}');
EXPLAIN (COSTS OFF) SELECT max(t.ts) FROM seg_reco.transactions t;
BEGIN;
SELECT seq_scan AS seq0, idx_scan AS idx0 FROM pg_stat_xact_user_tables
 WHERE relid = 'shop.sales_local'::regclass \gset
SELECT seg_reco.default_as_of();
SELECT seq_scan - :seq0 AS seq_scans, idx_scan - :idx0 AS index_scans
  FROM pg_stat_xact_user_tables WHERE relid = 'shop.sales_local'::regclass;
COMMIT;

-- Text ids (UCI Online Retail's StockCode "85123A", InvoiceNo "C536379", a
-- member number "M-17850"): read as seg_reco.internal_id(text), mapped back
-- by seg_reco.source_ids.  While every id is an integer the map is empty.
SELECT count(*) AS text_ids FROM seg_reco.source_ids;
SELECT seg_reco.internal_id('85123A') AS stock_code_85123a, seg_reco.internal_id('85123A') > 0 AS positive,
       seg_reco.internal_id('85123a') <> seg_reco.internal_id('85123A') AS case_matters,
       seg_reco.internal_id(NULL) AS of_null;
CREATE SCHEMA uci;
CREATE TABLE uci.members (customer text PRIMARY KEY, joined date);
CREATE TABLE uci.items (stock_code text PRIMARY KEY, description text);
CREATE TABLE uci.lines (invoice_no varchar(10), stock_code text, customer text,
                        invoice_date timestamptz, price numeric);
INSERT INTO uci.members VALUES ('M-17850', '2010-01-01'), ('M-13047', '2010-01-01');
INSERT INTO uci.items VALUES ('85123A', 'WHITE HANGING HEART T-LIGHT HOLDER'),
  ('71053', 'WHITE METAL LANTERN'), ('84406B', 'CREAM CUPID HEARTS COAT HANGER'),
  ('22752', 'SET 7 BABUSHKA NESTING BOXES');
INSERT INTO uci.lines VALUES
  ('536365', '85123A', 'M-17850', '2010-12-01 08:26+00', 2.55),
  ('536365', '71053', 'M-17850', '2010-12-01 08:26+00', 3.39),
  ('536366', '84406B', 'M-13047', '2010-12-02 09:00+00', 2.75),
  ('C536379', '85123A', 'M-13047', '2010-12-03 09:00+00', -2.55);
CREATE INDEX ON uci.lines (seg_reco.internal_id(customer), invoice_date);
CREATE INDEX ON uci.lines (invoice_date);
SELECT seg_reco.use_source('customers', 'uci.members', '{"customer_id": "customer", "member_since": "joined"}');
SELECT seg_reco.use_source('products', 'uci.items',
       '{"product_id": "stock_code", "name": "description", "category": "description"}');
-- (the index on internal_id(customer) serves recommend_for: no notice)
SELECT seg_reco.use_source('transactions', 'uci.lines',
       '{"receipt_id": "invoice_no", "product_id": "stock_code", "customer_id": "customer", "ts": "invoice_date", "amount": "price"}');
-- the capture triggers on uci.lines read the text customer id as the view
-- does: a new line and its deletion mark the internal id of "M-13047" (the
-- insert failed before: the trigger cast the text to bigint); the insert
-- with the time of the line (read from invoice_date, as the view reads it),
-- the deletion without (that customer is recomputed)
DELETE FROM seg_reco.dirty_customers;
INSERT INTO uci.lines VALUES ('536400', '71053', 'M-13047', '2010-12-04 10:00+00', 3.39);
DELETE FROM uci.lines WHERE invoice_no = '536400';
SELECT count(*) AS marks, bool_and(customer_id = seg_reco.internal_id('M-13047')) AS internal_id_of_m13047,
       array_agg(since::text ORDER BY since NULLS LAST) AS since
  FROM seg_reco.dirty_customers;
-- the views hold internal ids, of the same types as the built-in tables
SELECT string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'seg_reco.transactions'::regclass AND attnum BETWEEN 1 AND 4;
SELECT i.source_id AS invoice, c.source_id AS customer, p.source_id AS stock_code, t.amount,
       t.product_id = seg_reco.internal_id(p.source_id) AS same_id
  FROM seg_reco.transactions t
  JOIN seg_reco.source_ids i ON i.kind = 'receipt' AND i.id = t.receipt_id
  JOIN seg_reco.source_ids c ON c.kind = 'customer' AND c.id = t.customer_id
  JOIN seg_reco.source_ids p ON p.kind = 'product' AND p.id = t.product_id
 ORDER BY t.ts, 3;
SELECT kind, count(*) FROM seg_reco.source_ids GROUP BY kind ORDER BY kind;
-- one customer's lines, by the customer's text id, through the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM seg_reco.transactions t WHERE t.customer_id = seg_reco.internal_id('M-17850');
RESET enable_seqscan;
-- results in the user's ids: content neighbours of "85123A", and a
-- customer's content recommendations, asked for by the customer's text id
SELECT seg_reco.build_content(text_config => 'english') ->> 'products' AS products;
SELECT p.source_id AS stock_code, round(s.similarity::numeric, 4) AS similarity
  FROM seg_reco.content_similar(seg_reco.internal_id('85123A')) s
  JOIN seg_reco.source_ids p ON p.kind = 'product' AND p.id = s.similar_product_id
 ORDER BY s.rank;
SELECT p.source_id AS stock_code, r.rank
  FROM seg_reco.content_scores(seg_reco.internal_id('M-17850'), 2, exclude_purchased => true) r
  JOIN seg_reco.source_ids p ON p.kind = 'product' AND p.id = r.product_id
 ORDER BY r.rank;
-- back to integer products: uci.items' stock codes leave the map, except
-- those uci.lines (still the transactions) holds
SELECT seg_reco.use_source('products', 'shop.items',
       '{"product_id": "sku", "name": "title", "category": "dept", "unit_price": "price"}');
SELECT kind, count(*) FROM seg_reco.source_ids GROUP BY kind ORDER BY kind;
-- text in a column that is not an id is still refused
CREATE TABLE uci.bad_lines (invoice_no text, stock_code text, customer text, invoice_date text, price numeric);
SELECT seg_reco.use_source('transactions', 'uci.bad_lines',
       '{"receipt_id": "invoice_no", "product_id": "stock_code", "customer_id": "customer", "ts": "invoice_date", "amount": "price"}');
-- a text customer id without an index on its internal id: the notice and
-- its hint name the expression to index (a varchar column cast to text);
-- with that index, no notice
CREATE TABLE uci.lines_unindexed (invoice_no text, stock_code text, customer varchar(12),
                                  invoice_date timestamptz, price numeric);
CREATE INDEX ON uci.lines_unindexed (invoice_date);
SELECT seg_reco.use_source('transactions', 'uci.lines_unindexed',
       '{"receipt_id": "invoice_no", "product_id": "stock_code", "customer_id": "customer", "ts": "invoice_date", "amount": "price"}');
CREATE INDEX ON uci.lines_unindexed (seg_reco.internal_id(customer::text), invoice_date);
SELECT seg_reco.use_source('transactions', 'uci.lines_unindexed',
       '{"receipt_id": "invoice_no", "product_id": "stock_code", "customer_id": "customer", "ts": "invoice_date", "amount": "price"}');
SELECT pg_get_viewdef('seg_reco.transactions'::regclass) ~ 'internal_id\(\(s.customer\)::text\)' AS customer_read_as_text;
-- distribute() (issue 15) needs Citus: on a single node an error that says
-- so, and nothing changes
SELECT * FROM seg_reco.distribute();
SELECT count(*) AS citus_extensions FROM pg_extension WHERE extname = 'citus';
