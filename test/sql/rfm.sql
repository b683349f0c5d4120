-- RFM on a small hand-made data set whose scores are worked out by hand
-- (see the comment table below), the rfm aggregate ad hoc, its state type,
-- the segment map, and every bad input.
SET TimeZone = 'Europe/Oslo';
SET extra_float_digits = 0;
\set SHOW_CONTEXT never
-- empty tables: no rows, no error
SELECT count(*) FROM seg_reco.rfm_score();
SELECT count(*) FROM seg_reco.rfm_score('2025-01-31');

INSERT INTO seg_reco.customers (customer_id, member_since)
SELECT g, date '2023-01-01' FROM generate_series(1, 12) g;
INSERT INTO seg_reco.products (product_id, name, category, unit_price)
VALUES (1, 'Tine Lettmelk 1 l', 'meieri', 23.90), (2, 'Kneippbrød', 'brød og bakevarer', 39.90);

-- customer: last purchase (days before 2025-01-31), receipts, net NOK
--   c1   2025-01-30 (1)    10  5000     c6   2024-12-01 (61)   3   600
--   c2   2025-01-29 (2)     8  3000     c7   2024-11-01 (91)   2  2000
--   c3   2025-01-20 (11)    6  3600     c8   2024-10-01 (122)  2   400
--   c4   2025-01-10 (21)    5  1000     c9   2024-06-01 (244)  1   150
--   c5   2024-12-31 (31)    4   800     c10  2024-01-15 (382)  1   100
-- Scores with n = 10: score = 1 + floor((rank - 1) / 2), ties share a rank:
--   R (older = worse): c10 1, c9 1, c8 2, c7 2, c6 3, c5 3, c4 4, c3 4, c2 5, c1 5
--   F: c9,c10 1 (tied), c7,c8 2 (tied), c6 3, c5 3, c4 4, c3 4, c2 5, c1 5
--   M: c10 1, c9 1, c8 2, c6 2, c5 3, c4 3, c7 4, c2 4, c3 5, c1 5
-- c11 never bought; c12 only returned goods.
CREATE TEMP TABLE plan (cid int, last_day date, receipts int, total numeric);
INSERT INTO plan VALUES
  (1, '2025-01-30', 10, 5000), (2, '2025-01-29', 8, 3000), (3, '2025-01-20', 6, 3600),
  (4, '2025-01-10', 5, 1050), (5, '2024-12-31', 4, 800), (6, '2024-12-01', 3, 600),
  (7, '2024-11-01', 2, 2000), (8, '2024-10-01', 2, 400), (9, '2024-06-01', 1, 150),
  (10, '2024-01-15', 1, 100);
-- each receipt: two lines splitting the receipt total; receipts 10 days apart
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
SELECT row_number() OVER (ORDER BY p.cid, r, l), p.cid * 100 + r, p.cid, l, 1,
       (p.last_day - (r - 1) * 10)::timestamptz + interval '12 hours',
       1, p.total / p.receipts / 2, p.total / p.receipts / 2
  FROM plan p, generate_series(1, p.receipts) r, generate_series(1, 2) l;
-- c4 returns goods worth 50 (net 1000); c5 gets a free item; c12 only returns;
-- a non-member line; c1 buys after the as-of date
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount) VALUES
  (1001, 9001, 4, 1, 1, '2025-01-15 10:00', -2, 25, -50),
  (1002, 9002, 5, 2, 1, '2025-01-05 10:00', 1, 0, 0),
  (1003, 9003, 12, 1, 1, '2024-12-15 10:00', -1, 30, -30),
  (1004, 9004, NULL, 1, 1, '2025-01-31 09:00', 1, 23.90, 23.90),
  (1005, 9005, 1, 1, 1, '2025-02-10 10:00', 1, 100, 100);

SELECT customer_id, as_of_date, recency_days, frequency, monetary,
       r_score, f_score, m_score, rfm_code, segment
  FROM seg_reco.rfm_score('2025-01-31') ORDER BY customer_id;

-- the default as-of date is the date of the latest line (2025-02-10), not now()
SELECT as_of_date, recency_days, frequency, monetary
  FROM seg_reco.rfm_score() WHERE customer_id = 1;

-- an as-of date before every purchase: nobody has bought yet
SELECT count(*) AS customers, count(r_score) AS scored, min(segment), max(segment)
  FROM seg_reco.rfm_score('2020-01-01');

-- the aggregate on any query: NULL lines are skipped, lines of a receipt
-- count once, returns subtract, zero lines count only as lines
SELECT (seg_reco.rfm(receipt_id, ts, amount)).*
  FROM (VALUES (1::bigint, timestamptz '2025-01-01 10:00', 10.5::float8),
               (1, '2025-01-01 10:00', 4.5),
               (2, '2025-01-03 10:00', 20),
               (3, '2025-01-04 10:00', -5),
               (4, '2025-01-05 10:00', 0),
               (NULL, '2025-01-06 10:00', 99),
               (5, NULL, 99),
               (6, '2025-01-06 10:00', NULL)) v(receipt_id, ts, amount);

-- zero rows: a defined, empty result
SELECT (seg_reco.rfm(receipt_id, ts, amount)).*
  FROM seg_reco.transactions WHERE false;

-- many receipts per customer (growing state), interleaved and repeated
SELECT (v).frequency, (v).lines, (v).monetary
  FROM (SELECT seg_reco.rfm(g % 5000, timestamptz '2025-01-01' + g * interval '1 minute', 1)
          FROM generate_series(1, 20000) g) s(v);

-- the state type: text form, round trip, merging partial states
SELECT seg_reco.rfm_state_agg(receipt_id, ts, amount::float8)::text
  FROM seg_reco.transactions WHERE customer_id = 9;
SELECT seg_reco.rfm_state_agg(receipt_id, ts, amount::float8)::text
  FROM seg_reco.transactions WHERE customer_id = 12;
SELECT (seg_reco.rfm_final(seg_reco.rfm_state_agg(receipt_id, ts, amount::float8)::text::seg_reco.rfm_state)).*
  FROM seg_reco.transactions WHERE customer_id = 4;
SELECT (seg_reco.rfm_merge(st)).*
  FROM (SELECT seg_reco.rfm_state_agg(receipt_id, ts, amount::float8) AS st
          FROM seg_reco.transactions WHERE customer_id = 4 GROUP BY line_id % 3) parts;
SELECT (seg_reco.rfm_merge(st)).* FROM (SELECT NULL::seg_reco.rfm_state AS st) x;

-- the segment map covers every one of the 125 codes (rfm_segment_codes:
-- one row per code, in code order)
SELECT segment, count(*) AS codes FROM seg_reco.rfm_segment_codes() GROUP BY 1 ORDER BY 1;
SELECT count(*) AS code_rows, count(DISTINCT rfm_code) AS codes, min(rfm_code), max(rfm_code),
       bool_and(rfm_code = r_score::text || f_score::text || m_score::text) AS code_is_rfm
  FROM seg_reco.rfm_segment_codes();
SELECT rfm_code, segment FROM seg_reco.rfm_segment_codes()
 WHERE rfm_code IN ('555', '511', '111', '215', '335', '323') ORDER BY rfm_code;

-- an analyst's own segment rule takes precedence by priority
INSERT INTO seg_reco.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES (5, 'Top Spenders', 1, 5, 1, 5, 5, 5);
SELECT customer_id, rfm_code, segment FROM seg_reco.rfm_score('2025-01-31')
 WHERE customer_id IN (1, 3) ORDER BY 1;
SELECT count(*) FILTER (WHERE segment = 'Top Spenders') AS top_spender_codes,
       count(*) FILTER (WHERE m_score = 5 AND segment <> 'Top Spenders') AS m5_elsewhere
  FROM seg_reco.rfm_segment_codes();
DELETE FROM seg_reco.rfm_segments WHERE priority = 5;

-- bad input: each is a clear error
SELECT seg_reco.rfm(1, now(), 'NaN'::float8);
SELECT seg_reco.rfm(1, now(), 'Infinity'::float8);
SELECT seg_reco.rfm(1, 'infinity'::timestamptz, 1);
SELECT seg_reco.rfm_trans(NULL, 1, now(), 1);
SELECT seg_reco.rfm_combine(NULL, NULL);
SELECT 'garbage'::seg_reco.rfm_state;
SELECT '1,0,1,0,5,3:{7}'::seg_reco.rfm_state;
SELECT '2,0,1,0,5,9:{7,7}'::seg_reco.rfm_state;
SELECT '1,0,NaN,0,5,9:{7}'::seg_reco.rfm_state;
SELECT '1,0,1,0,-,-:{7}'::seg_reco.rfm_state;
SELECT '1,0,1,0,5,9:{7}x'::seg_reco.rfm_state;
SELECT '-1,0,1,0,-,-:{}'::seg_reco.rfm_state;
-- the text form is exact, as rfm_state_out writes it: a trailing comma in
-- the receipts, a blank or a plus sign before a number are errors
SELECT '2,0,1,0,5,9:{7,}'::seg_reco.rfm_state;
SELECT ' 1,0,1,0,5,9:{7}'::seg_reco.rfm_state;
SELECT '1,0,1,0,5,9:{ 7}'::seg_reco.rfm_state;
SELECT '1,0,1,0,+5,9:{7}'::seg_reco.rfm_state;
SELECT '1,0,1,0,5,9:{7}'::seg_reco.rfm_state::text;
SELECT (seg_reco.rfm_final('0,0,0,0,-,-:{}'::seg_reco.rfm_state)).*;
-- amounts near 1e308 (monetary was NaN) and sums beyond 1e20: an error
-- (22003), as the net amount is summed exactly (issue 11, item 6)
SELECT (seg_reco.rfm(1, now(), 1e308)).*;
\echo :LAST_ERROR_SQLSTATE
SELECT (seg_reco.rfm(1, now(), x)).* FROM (VALUES (9e19::float8), (9e19)) v(x);
\echo :LAST_ERROR_SQLSTATE
SELECT (seg_reco.rfm(1, now(), x)).monetary FROM (VALUES (9e19::float8), (9e19), (-9e19)) v(x);
SELECT '1,0,1e20,0,5,9:{7}'::seg_reco.rfm_state;
BEGIN;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (2001, 9101, 2, 1, 1, '2025-01-20 10:00', 1, 0, 'NaN');
SELECT count(*) FROM seg_reco.rfm_score('2025-01-31');
ROLLBACK;
BEGIN;
INSERT INTO seg_reco.transactions (line_id, receipt_id, customer_id, product_id, store_id, ts,
                                   quantity, unit_price, amount)
VALUES (2002, 9102, 2, 1, 1, '2099-01-01 10:00', 1, 10, 10);
SAVEPOINT future;
SELECT count(*) FROM seg_reco.rfm_score();
ROLLBACK TO SAVEPOINT future;
-- an explicit as-of date ignores the future line
SELECT frequency FROM seg_reco.rfm_score('2025-01-31') WHERE customer_id = 2;
ROLLBACK;
-- nothing was lost
SELECT count(*), sum(amount) FROM seg_reco.transactions;

-- Row order (issue 11, item 4): the net amount is an exact sum, so lines in
-- any order give the same state (a float8 sum, even Kahan-compensated,
-- differs in the last bits), and its text holds the exact decimal (with
-- compensation 0); 2.675 is taken as the decimal it reads as, rounding to 2.68
SELECT seg_reco.rfm_state_agg(r, ts, amount ORDER BY amount)::text AS ascending,
       seg_reco.rfm_state_agg(r, ts, amount ORDER BY amount DESC)::text AS descending,
       (seg_reco.rfm(r, ts, amount ORDER BY amount DESC)).monetary
  FROM (VALUES (1::bigint, timestamptz '2025-01-01 10:00', 0.1::float8), (2, '2025-01-02 10:00', 0.2),
               (3, '2025-01-03 10:00', 0.3), (4, '2025-01-04 10:00', 1e15), (5, '2025-01-05 10:00', 2.675))
       v(r, ts, amount);
SELECT setseed(0.33);
SELECT count(DISTINCT st) AS distinct_states, min(st) = max(st) AS same
  FROM (SELECT seg_reco.rfm_state_agg(g, timestamptz '2025-01-01' + g * interval '1 hour', amount ORDER BY random())::text AS st
          FROM (SELECT g, ((g * 7919) % 100000 - 3000) / 100.0::float8 AS amount FROM generate_series(1, 2000) g) l,
               generate_series(1, 5) rep
         GROUP BY rep
        UNION ALL
        SELECT seg_reco.rfm_state_agg(g, timestamptz '2025-01-01' + g * interval '1 hour', amount ORDER BY g DESC)::text
          FROM (SELECT g, ((g * 7919) % 100000 - 3000) / 100.0::float8 AS amount FROM generate_series(1, 2000) g) l) s;

-- a state of seg_reco 0.1.0 (a float8 sum and its Kahan compensation), as
-- a table may hold it, is read into the exact sum: 10.5 - 0.25 = 10.25
BEGIN;
CREATE TYPE pg_temp.raw_state;
CREATE FUNCTION pg_temp.raw_state_in(cstring) RETURNS pg_temp.raw_state
    AS 'byteain' LANGUAGE internal IMMUTABLE STRICT;
CREATE FUNCTION pg_temp.raw_state_out(pg_temp.raw_state) RETURNS cstring
    AS 'byteaout' LANGUAGE internal IMMUTABLE STRICT;
CREATE TYPE pg_temp.raw_state (INPUT = pg_temp.raw_state_in, OUTPUT = pg_temp.raw_state_out,
                               INTERNALLENGTH = VARIABLE, ALIGNMENT = double);
CREATE CAST (pg_temp.raw_state AS seg_reco.rfm_state) WITHOUT FUNCTION;
CREATE FUNCTION pg_temp.le(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
RETURN (SELECT string_agg(substr(b, i, 1), ''::bytea ORDER BY i DESC) FROM generate_series(1, length(b)) i);
-- capacity 2, nsorted 2, nids 2, lines 3, return lines 1, monetary 10.5,
-- compensation 0.25, first and last purchase, receipts 7 and 9
CREATE TEMP TABLE old_state AS
SELECT (pg_temp.le(int4send(2)) || pg_temp.le(int4send(2)) || pg_temp.le(int4send(2))
        || pg_temp.le(int8send(3)) || pg_temp.le(int8send(1))
        || pg_temp.le(float8send(10.5)) || pg_temp.le(float8send(0.25))
        || pg_temp.le(int8send(788918400000000)) || pg_temp.le(int8send(789004800000000))
        || pg_temp.le(int8send(7)) || pg_temp.le(int8send(9))
       )::text::pg_temp.raw_state::seg_reco.rfm_state AS st;
SELECT st::text, (seg_reco.rfm_final(st)).* FROM old_state;
SELECT (seg_reco.rfm_merge(s)).*
  FROM (SELECT st AS s FROM old_state UNION ALL SELECT '1,0,4.75,0,788918400000000,788918400000000:{8}') u;
ROLLBACK;
