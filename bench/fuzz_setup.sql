-- bench/fuzz.sh: the scratch database's fixture, run once as superuser in
-- seg_reco_fuzz after the demo data and refresh().  Idempotent.
--   * fuzz_analyst: a login role with what README "Access for analysts"
--     grants (USAGE on the schema, SELECT on its tables and views)
--   * small models the bad-input matrix passes by default (3 features, so
--     that hostile models and feature vectors are short)
--   * schema fuzz: a copy of the customers table for use_source, and a
--     table of seg_reco-typed values so that sqlsmith (--exclude-catalog
--     reads only non-catalog tables) builds expressions over those types
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fuzz_analyst') THEN
        CREATE ROLE fuzz_analyst LOGIN;
    END IF;
END $$;
GRANT USAGE ON SCHEMA seg_reco TO fuzz_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA seg_reco TO fuzz_analyst;

SELECT seg_reco.kmeans_save('fuzz_km3',
           seg_reco.kmeans_train(ARRAY[g, (g * 7) % 5, 1.5 * g]::float8[], 2)) IS NOT NULL AS km
  FROM generate_series(1, 10) g;
SELECT seg_reco.gmm_save('fuzz_gmm3',
           seg_reco.gmm_train(ARRAY[g, (g * 7) % 5, 1.5 * g]::float8[], 2)) IS NOT NULL AS gmm
  FROM generate_series(1, 10) g;

DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;
CREATE TABLE fuzz.customers_copy AS SELECT * FROM seg_reco.customers;
CREATE TABLE fuzz.typed AS
SELECT c.customer_id,
       (SELECT seg_reco.rfm_state_agg(t.receipt_id, t.ts, t.amount::float8)
          FROM seg_reco.transactions t WHERE t.customer_id = c.customer_id) AS rfm_state,
       (SELECT seg_reco.btyd_summary_state_agg(t.ts::date, t.amount::float8, date '2025-12-31', 'week')
          FROM seg_reco.transactions t WHERE t.customer_id = c.customer_id) AS btyd_state,
       seg_reco.kmeans_load('fuzz_km3') AS kmeans_model,
       seg_reco.gmm_load('fuzz_gmm3') AS gmm_model,
       ARRAY[c.customer_id % 7, c.customer_id % 3, 1.5]::float8[] AS features,
       ARRAY(SELECT p FROM generate_series(1, (c.customer_id % 5)::int) p)::bigint[] AS products,
       jsonb_build_object('seed', c.customer_id, 'n_init', 1) AS options,
       (c.customer_id % 2 = 0) AS flag,
       date '2025-12-31' - (c.customer_id % 400)::int AS day
  FROM seg_reco.customers c
 WHERE c.customer_id <= 20;
INSERT INTO fuzz.typed (customer_id, rfm_state, btyd_state, kmeans_model, gmm_model, features, products, options)
VALUES (0, '0,0,0,0,-,-:{}', 'week,8800,0:{}', NULL, NULL, '{}', '{}', '{}'),
       (-1, NULL, NULL, NULL, NULL, '{NaN,Infinity,-Infinity}', '{999999999,-1}', '[]');
GRANT USAGE ON SCHEMA fuzz TO fuzz_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA fuzz TO fuzz_analyst;
ANALYZE fuzz.typed;
