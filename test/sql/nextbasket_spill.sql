-- The next-basket build within maintenance_work_mem (issue 12): past it
-- (20 bytes a vector entry; 1MB: 65,536 entries at least) the customers'
-- vectors go to a temporary file as they are made; the candidates' rows
-- are read back once and each block's rows in turn.  The rows stored must
-- equal, to the bit, those of the build in memory, with every customer a
-- candidate and with a sample of 500.
\i test/sql/include/hand_made_sources.sql
SET work_mem = '1GB';  -- the purchase lines stay in memory: only the vectors spill
-- 3,000 customers, 10 receipts of 4 lines each over 200 products: about 35
-- products a customer, 100,000 entries
INSERT INTO seg_reco.products (product_id, name, category, subcategory, unit_price, active)
SELECT p, 'vare ' || p, 'kat', 'kat', 10, true FROM generate_series(1, 200) p;
INSERT INTO seg_reco.customers (customer_id, member_since, birth_year, household_size, county, member_tier)
SELECT c, '2024-01-01', 1980, 2, 'Oslo', 'basis' FROM generate_series(1, 3000) c;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
SELECT (c * 10 + r) * 4 + q, c * 10 + r, c, 1 + (c * 7 + r * 13 + q * 29 + (c % 11) * q * r) % 200, 1,
       '2025-01-01 10:00+00'::timestamptz + (r * 7 + c % 5) * interval '1 day', 1, 10, 10
  FROM generate_series(1, 3000) c, generate_series(0, 9) r, generate_series(0, 3) q;
SELECT count(DISTINCT (customer_id, product_id)) AS entries FROM seg_reco.transactions;
SELECT m.name FROM seg_reco.als_train('spill', factors => 2, regularization => 0.1, iterations => 2) m;
CREATE TEMP TABLE nb_mem (candidates text, customer_id bigint, product_ids bigint[], scores float4[],
                          upcf_product_ids bigint[], upcf_scores float4[]);
SELECT b ->> 'customers' AS customers, b ->> 'candidates' AS candidates
  FROM seg_reco.nextbasket_build('spill') b;
INSERT INTO nb_mem SELECT 'all', n.customer_id, n.product_ids, n.scores, n.upcf_product_ids, n.upcf_scores
  FROM seg_reco.nextbasket_neighbours n WHERE n.model = 'spill';
SELECT b ->> 'customers' AS customers, b ->> 'candidates' AS candidates
  FROM seg_reco.nextbasket_build('spill', '{"candidates": 500}') b;
INSERT INTO nb_mem SELECT '500', n.customer_id, n.product_ids, n.scores, n.upcf_product_ids, n.upcf_scores
  FROM seg_reco.nextbasket_neighbours n WHERE n.model = 'spill';
-- with 1MB the vectors go to a temporary file: a limit of 64kB on
-- temporary files stops the build (in memory it writes none)
SET maintenance_work_mem = '1MB';
SET temp_file_limit = '64kB';
SELECT b ->> 'customers' FROM seg_reco.nextbasket_build('spill') b;
RESET temp_file_limit;
-- and without the limit, the same rows as in memory
CREATE TEMP TABLE nb_spilled (LIKE nb_mem);
SELECT b ->> 'customers' AS customers FROM seg_reco.nextbasket_build('spill') b;
INSERT INTO nb_spilled SELECT 'all', n.customer_id, n.product_ids, n.scores, n.upcf_product_ids, n.upcf_scores
  FROM seg_reco.nextbasket_neighbours n WHERE n.model = 'spill';
SELECT b ->> 'customers' AS customers FROM seg_reco.nextbasket_build('spill', '{"candidates": 500}') b;
INSERT INTO nb_spilled SELECT '500', n.customer_id, n.product_ids, n.scores, n.upcf_product_ids, n.upcf_scores
  FROM seg_reco.nextbasket_neighbours n WHERE n.model = 'spill';
SELECT coalesce(m.candidates, s.candidates) AS candidates, count(*) AS customers,
       count(*) FILTER (WHERE m.product_ids = s.product_ids AND m.scores = s.scores
                          AND m.upcf_product_ids IS NOT DISTINCT FROM s.upcf_product_ids
                          AND m.upcf_scores IS NOT DISTINCT FROM s.upcf_scores) AS same_rows
  FROM nb_mem m FULL JOIN nb_spilled s USING (candidates, customer_id)
 GROUP BY 1 ORDER BY 1;
RESET maintenance_work_mem;
ROLLBACK;
