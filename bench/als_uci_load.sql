-- Load UCI Online Retail (psql variable csv: path of online_retail.csv.gz)
-- into the seg_reco source tables of the current database (a separate
-- database from the demo: the shared file is read, never copied into the
-- repository).  StockCodes become dense product ids; invoices starting with
-- C are returns (negative amounts, not counted by ALS); rows without a
-- CustomerID are non-member lines; non-positive prices are dropped.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE raw (invoice text, stock_code text, description text, quantity numeric,
                       invoice_date timestamp, unit_price numeric, customer_id numeric, country text);
\set cmd 'gzip -dc ' :csv
COPY raw FROM PROGRAM :'cmd' WITH (FORMAT csv, HEADER true);
TRUNCATE seg_reco.transactions, seg_reco.digital_events, seg_reco.demo_truth, seg_reco.customers, seg_reco.products;
CREATE TEMP TABLE prod AS
SELECT row_number() OVER (ORDER BY stock_code) AS product_id, stock_code,
       coalesce(max(description), stock_code) AS name
  FROM raw WHERE unit_price > 0 GROUP BY stock_code;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
SELECT product_id, name, 'retail', 0 FROM prod;
INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT customer_id::bigint, min(invoice_date)::date FROM raw
 WHERE customer_id IS NOT NULL GROUP BY 1;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT row_number() OVER (), ltrim(r.invoice, 'CA')::bigint, r.customer_id::bigint, p.product_id, 1,
       r.invoice_date AT TIME ZONE 'UTC', r.quantity, r.unit_price, round(r.quantity * r.unit_price, 2)
  FROM raw r JOIN prod p USING (stock_code)
 WHERE r.unit_price > 0 AND abs(r.quantity) < 1000000;
ANALYZE seg_reco.transactions;
SELECT (SELECT count(*) FROM seg_reco.customers) AS customers, (SELECT count(*) FROM seg_reco.products) AS products,
       (SELECT count(*) FROM seg_reco.transactions) AS lines;
