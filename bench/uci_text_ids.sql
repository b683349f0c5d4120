-- UCI Online Retail read as it is, text ids and all, through use_source
-- (psql variable csv: path of online_retail.csv.gz): StockCode ("85123A")
-- and InvoiceNo ("C536379") stay text; seg_reco reads them as
-- seg_reco.internal_id() and seg_reco.source_ids maps them back.  The
-- same filters as bench/als_uci_load.sql (positive prices, |quantity| below
-- a million); rows without a CustomerID are non-member lines.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS uci;
DROP TABLE IF EXISTS uci.lines, uci.items, uci.members;
CREATE TABLE uci.lines (invoice_no text, stock_code text, description text, quantity numeric,
                        invoice_date timestamp, unit_price numeric, customer_id numeric, country text);
\set cmd 'gzip -dc ' :csv
COPY uci.lines FROM PROGRAM :'cmd' WITH (FORMAT csv, HEADER true);
DELETE FROM uci.lines WHERE NOT (unit_price > 0 AND abs(quantity) < 1000000);
ALTER TABLE uci.lines ADD COLUMN line_no bigserial, ADD COLUMN amount numeric;
UPDATE uci.lines SET amount = round(quantity * unit_price, 2);
CREATE TABLE uci.items AS
SELECT stock_code, coalesce(max(description), stock_code) AS description, 'retail'::text AS category
  FROM uci.lines GROUP BY stock_code;
CREATE TABLE uci.members AS
SELECT customer_id, min(invoice_date)::date AS member_since FROM uci.lines
 WHERE customer_id IS NOT NULL GROUP BY 1;
CREATE INDEX ON uci.lines ((customer_id::bigint), invoice_date);
CREATE INDEX ON uci.lines (invoice_date);
ANALYZE uci.lines;
SELECT seg_reco.use_source('customers', 'uci.members', discard_data => true);
SELECT seg_reco.use_source('products', 'uci.items',
       '{"product_id": "stock_code", "name": "description"}', discard_data => true);
SELECT seg_reco.use_source('transactions', 'uci.lines',
       '{"line_id": "line_no", "receipt_id": "invoice_no", "product_id": "stock_code", "ts": "invoice_date"}',
       discard_data => true);
SELECT kind, count(*) AS ids FROM seg_reco.source_ids GROUP BY kind ORDER BY kind;
