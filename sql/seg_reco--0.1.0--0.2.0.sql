/* seg_reco 0.1.0 -> 0.2.0 (ALTER EXTENSION seg_reco UPDATE TO '0.2.0') */
\echo Use "ALTER EXTENSION seg_reco UPDATE TO '0.2.0'" to load this file. \quit
