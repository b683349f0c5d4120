-- The inputs of bench/content_tfidf_ref.py, for the customers seg_reco.evaluate()
-- samples (sample_size 2000, seed 42: the same md5 order) among those who
-- bought in the test window [split, split + days).  psql variables: split
-- (date), days (test window), dir (output directory, written by psql).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE ref_cust AS
SELECT c.customer_id
  FROM (SELECT DISTINCT t.customer_id FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL AND t.amount > 0
           AND t.ts >= :'split'::date::timestamptz AND t.ts < (:'split'::date + :days)::timestamptz) c
 ORDER BY md5(c.customer_id::text || ':' || 42::bigint::text), c.customer_id
 LIMIT 2000;
-- a product's text: its name and description, as one document
\set f :dir '/products.csv'
\o :f
COPY (SELECT p.product_id, p.active, concat_ws(' ', p.name, p.description)
        FROM seg_reco.products p ORDER BY 1) TO STDOUT WITH (FORMAT csv);
\set f :dir '/history.csv'
\o :f
COPY (SELECT t.customer_id, t.product_id, t.receipt_id, extract(epoch FROM t.ts)
        FROM seg_reco.transactions t JOIN ref_cust USING (customer_id)
       WHERE t.amount > 0 AND t.ts < :'split'::date::timestamptz) TO STDOUT WITH (FORMAT csv);
\set f :dir '/eval.csv'
\o :f
COPY (SELECT t.customer_id, string_agg(DISTINCT t.product_id::text, ' ')
        FROM seg_reco.transactions t JOIN ref_cust USING (customer_id)
       WHERE t.amount > 0 AND t.ts >= :'split'::date::timestamptz
         AND t.ts < (:'split'::date + :days)::timestamptz
       GROUP BY t.customer_id) TO STDOUT WITH (FORMAT csv);
\o
