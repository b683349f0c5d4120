-- Fixture of the tests on hand-made data: session settings, and empty
-- source tables in a transaction that the test rolls back at its end.
-- Read with \i test/sql/include/... (pg_regress gives psql the test on its
-- standard input, so \ir has no folder to be relative to; psql runs in the
-- repository root).
SET extra_float_digits = 0;
SET client_min_messages = warning;
SET timezone = 'UTC';
-- errors in the test must not end the transaction that holds the fixture
\set ON_ERROR_ROLLBACK on
BEGIN;
TRUNCATE seg_reco.transactions, seg_reco.digital_events, seg_reco.demo_truth,
         seg_reco.customers, seg_reco.products;
