------------------------------------------------------------------------------
-- 6. pg_dump: user data in the source and configuration tables is dumped
------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('seg_reco.customers', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.products', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.transactions', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.nonmember_transactions', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.digital_events', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.demo_truth', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.rfm_segments', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.sources', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.refresh_log', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.refresh_run_seq', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.settings', '');
SELECT pg_catalog.pg_extension_config_dump('seg_reco.cluster_names', 'WHERE NOT builtin');
