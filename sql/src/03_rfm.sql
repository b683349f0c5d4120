------------------------------------------------------------------------------
-- 3. RFM (src/rfm.c)
------------------------------------------------------------------------------

CREATE TYPE seg_reco.rfm_state;

CREATE FUNCTION seg_reco.rfm_state_in(cstring) RETURNS seg_reco.rfm_state
    AS 'MODULE_PATHNAME', 'seg_reco_rfm_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION seg_reco.rfm_state_out(seg_reco.rfm_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'seg_reco_rfm_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE seg_reco.rfm_state (
    INPUT = seg_reco.rfm_state_in,
    OUTPUT = seg_reco.rfm_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE seg_reco.rfm_state IS 'partial state of the seg_reco.rfm aggregate: line counts, net amount, purchase span and the distinct receipt ids (text form travels between nodes)';

CREATE TYPE seg_reco.rfm_values AS (
    frequency       bigint,
    monetary        numeric,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    lines           bigint,
    return_lines    bigint
);
COMMENT ON TYPE seg_reco.rfm_values IS 'result of seg_reco.rfm: distinct purchase receipts, net amount, first and last purchase, line counts';

CREATE FUNCTION seg_reco.rfm_trans(seg_reco.rfm_state, bigint, timestamptz, float8)
    RETURNS seg_reco.rfm_state
    AS 'MODULE_PATHNAME', 'seg_reco_rfm_trans'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION seg_reco.rfm_combine(seg_reco.rfm_state, seg_reco.rfm_state)
    RETURNS seg_reco.rfm_state
    AS 'MODULE_PATHNAME', 'seg_reco_rfm_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION seg_reco.rfm_final(seg_reco.rfm_state)
    RETURNS seg_reco.rfm_values
    AS 'MODULE_PATHNAME', 'seg_reco_rfm_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION seg_reco.rfm_final(seg_reco.rfm_state) IS 'RFM values of a (partial) rfm state';

CREATE AGGREGATE seg_reco.rfm(receipt_id bigint, ts timestamptz, amount float8) (
    SFUNC = seg_reco.rfm_trans,
    STYPE = seg_reco.rfm_state,
    COMBINEFUNC = seg_reco.rfm_combine,
    FINALFUNC = seg_reco.rfm_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.rfm(bigint, timestamptz, float8) IS 'per-customer RFM over receipt lines: distinct purchase receipts, net amount (returns negative), first/last purchase';

-- The same transition without the final function: a state value that can
-- be stored, shipped as text and merged later with seg_reco.rfm_merge.
CREATE AGGREGATE seg_reco.rfm_state_agg(receipt_id bigint, ts timestamptz, amount float8) (
    SFUNC = seg_reco.rfm_trans,
    STYPE = seg_reco.rfm_state,
    COMBINEFUNC = seg_reco.rfm_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.rfm_state_agg(bigint, timestamptz, float8) IS 'RFM partial state over receipt lines (merge with seg_reco.rfm_merge, read with seg_reco.rfm_final)';

CREATE AGGREGATE seg_reco.rfm_merge(seg_reco.rfm_state) (
    SFUNC = seg_reco.rfm_combine,
    STYPE = seg_reco.rfm_state,
    COMBINEFUNC = seg_reco.rfm_combine,
    FINALFUNC = seg_reco.rfm_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE seg_reco.rfm_merge(seg_reco.rfm_state) IS 'merges RFM partial states into RFM values';

-- The segment map: the first row (lowest priority number) whose score
-- ranges hold a customer's R, F and M scores names the segment.
CREATE TABLE seg_reco.rfm_segments (
    priority    integer PRIMARY KEY,
    segment     text NOT NULL,
    r_min       integer NOT NULL CHECK (r_min BETWEEN 1 AND 5),
    r_max       integer NOT NULL CHECK (r_max BETWEEN 1 AND 5),
    f_min       integer NOT NULL CHECK (f_min BETWEEN 1 AND 5),
    f_max       integer NOT NULL CHECK (f_max BETWEEN 1 AND 5),
    m_min       integer NOT NULL CHECK (m_min BETWEEN 1 AND 5),
    m_max       integer NOT NULL CHECK (m_max BETWEEN 1 AND 5),
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    CHECK (r_min <= r_max AND f_min <= f_max AND m_min <= m_max)
);
COMMENT ON TABLE seg_reco.rfm_segments IS 'RFM segment map (editable): first matching row by priority names the segment; unmatched codes are ''Others''';

INSERT INTO seg_reco.rfm_segments
    (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max, description, builtin) VALUES
    (10,  'Champions',           4, 5, 4, 5, 4, 5, 'Bought recently, buy often and spend the most', true),
    (20,  'Loyal Customers',     3, 5, 3, 5, 1, 5, 'Buy regularly and fairly recently', true),
    (30,  'New Customers',       5, 5, 1, 1, 1, 5, 'Bought most recently, but not often', true),
    (40,  'Promising',           3, 4, 1, 1, 1, 5, 'Recent shoppers with a single purchase', true),
    (50,  'Potential Loyalists', 4, 5, 2, 2, 1, 5, 'Recent customers with a few purchases', true),
    (60,  'Need Attention',      3, 3, 2, 2, 1, 5, 'Middling recency and frequency: may slip away', true),
    (70,  'Can''t Lose Them',    1, 1, 4, 5, 4, 5, 'Used to buy often and spend much, long ago', true),
    (80,  'At Risk',             1, 2, 3, 5, 1, 5, 'Bought often, but not for a long time', true),
    (90,  'About to Sleep',      2, 2, 1, 2, 1, 5, 'Below average recency and frequency', true),
    (100, 'Hibernating',         1, 1, 2, 2, 1, 5, 'Last purchase long ago, few purchases', true),
    (110, 'Lost',                1, 1, 1, 1, 1, 5, 'Lowest recency and frequency', true);

-- The segment map applied to every RFM code: for each of the 125 (R, F, M)
-- scores, the segment of the first row of seg_reco.rfm_segments (lowest
-- priority number) whose ranges hold all three, else 'Others'.  rfm_score()
-- and the pipeline's customer_segments name segments through it.
CREATE FUNCTION seg_reco.rfm_segment_codes()
RETURNS TABLE (r_score integer, f_score integer, m_score integer, rfm_code text, segment text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT rr, ff, mm, rr::text || ff::text || mm::text,
           coalesce((SELECT s.segment FROM seg_reco.rfm_segments s
                      WHERE rr BETWEEN s.r_min AND s.r_max
                        AND ff BETWEEN s.f_min AND s.f_max
                        AND mm BETWEEN s.m_min AND s.m_max
                      ORDER BY s.priority LIMIT 1), 'Others')
      FROM generate_series(1, 5) rr, generate_series(1, 5) ff, generate_series(1, 5) mm
     ORDER BY rr, ff, mm
$fn$;
COMMENT ON FUNCTION seg_reco.rfm_segment_codes() IS 'the segment of each of the 125 RFM codes under seg_reco.rfm_segments (first matching row by priority, else Others): what rfm_score() and customer_segments name';

-- Per-customer RFM as of a date over seg_reco.transactions.
--   recency_days  as_of - date of last purchase (days, in the session time zone)
--   frequency     distinct receipts with a purchase line, up to as_of
--   monetary      net NOK (returns subtract), up to as_of
-- Scores 1-5 are quintiles of the customers with at least one purchase:
-- score = 1 + floor(5 * (rank - 1) / n), rank() ascending by goodness, so
-- tied values share a score and 5 is best (the most recent score 5).
-- Customers without a purchase up to as_of get NULL scores and the segment
-- 'No Purchases'.  Lines after as_of are ignored.
CREATE FUNCTION seg_reco.rfm_score(as_of date DEFAULT NULL)
RETURNS TABLE (
    customer_id     bigint,
    as_of_date      date,
    first_purchase  timestamptz,
    last_purchase   timestamptz,
    recency_days    integer,
    frequency       bigint,
    monetary        numeric,
    r_score         integer,
    f_score         integer,
    m_score         integer,
    rfm_code        text,
    segment         text
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_as_of date := coalesce(as_of, seg_reco.default_as_of());
BEGIN

    RETURN QUERY
    WITH agg AS (
        SELECT t.customer_id AS cid,
               seg_reco.rfm(t.receipt_id, t.ts, t.amount::float8) AS v
          FROM seg_reco.transactions t
         WHERE t.customer_id IS NOT NULL
           AND t.ts < (v_as_of + 1)::timestamptz
         GROUP BY t.customer_id
    ), vals AS (
        SELECT coalesce(c.customer_id, a.cid) AS cid,
               (a.v).first_purchase AS first_p,
               (a.v).last_purchase AS last_p,
               coalesce((a.v).frequency, 0) AS freq,
               coalesce((a.v).monetary, 0.00) AS money
          FROM seg_reco.customers c
          FULL JOIN agg a ON a.cid = c.customer_id
    ), recency AS (
        SELECT v.*, (v_as_of - (v.last_p)::date) AS rec
          FROM vals v
    ), scored AS (
        SELECT r.*,
               1 + (5 * (rank() OVER (ORDER BY r.rec DESC) - 1)
                    / count(*) OVER ())::integer AS rs,
               1 + (5 * (rank() OVER (ORDER BY r.freq) - 1)
                    / count(*) OVER ())::integer AS fs,
               1 + (5 * (rank() OVER (ORDER BY r.money) - 1)
                    / count(*) OVER ())::integer AS ms
          FROM recency r
         WHERE r.freq > 0
    ), codes AS (
        SELECT c.r_score AS r, c.f_score AS f, c.m_score AS m, c.segment AS seg
          FROM seg_reco.rfm_segment_codes() c
    )
    SELECT r.cid, v_as_of, r.first_p, r.last_p, r.rec, r.freq, r.money,
           s.rs, s.fs, s.ms,
           CASE WHEN s.cid IS NULL THEN NULL ELSE s.rs::text || s.fs::text || s.ms::text END,
           coalesce(k.seg, 'No Purchases')
      FROM recency r
      LEFT JOIN scored s ON s.cid = r.cid
      LEFT JOIN codes k ON k.r = s.rs AND k.f = s.fs AND k.m = s.ms
     ORDER BY r.cid;
END;
$fn$;
COMMENT ON FUNCTION seg_reco.rfm_score(date) IS 'per-customer recency, frequency, monetary, 1-5 quintile scores, RFM code and named segment as of a date (default: date of the latest transaction)';

