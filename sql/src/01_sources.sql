
-- Objects are created in schema seg_reco (the control file pins it).  Every
-- function that runs SQL pins its search_path; every name is qualified.

------------------------------------------------------------------------------
-- 1. Source relations
------------------------------------------------------------------------------

CREATE TABLE seg_reco.customers (
    customer_id     bigint PRIMARY KEY,
    member_since    date NOT NULL,
    birth_year      integer CHECK (birth_year BETWEEN 1900 AND 2100),
    gender          text CHECK (gender IN ('F', 'M', 'U')),
    household_size  integer CHECK (household_size >= 1),
    children        integer CHECK (children >= 0),
    postal_code     text,
    municipality    text,
    county          text,
    member_tier     text NOT NULL DEFAULT 'basis'
                    CHECK (member_tier IN ('basis', 'sølv', 'gull', 'platina')),
    email_opt_in    boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE seg_reco.customers IS 'loyalty-programme members (one row per customer)';

CREATE TABLE seg_reco.products (
    product_id      bigint PRIMARY KEY,
    name            text NOT NULL,
    brand           text,
    category        text NOT NULL,
    subcategory     text,
    description     text,
    unit_price      numeric(10,2) NOT NULL CHECK (unit_price >= 0),
    unit            text NOT NULL DEFAULT 'stk',
    own_brand       boolean NOT NULL DEFAULT false,
    organic         boolean NOT NULL DEFAULT false,
    vegetarian      boolean NOT NULL DEFAULT false,
    active          boolean NOT NULL DEFAULT true,
    launched_on     date
);
COMMENT ON TABLE seg_reco.products IS 'product catalogue, prices in NOK';
-- recommend_for drops the inactive products among its best scores at every
-- call: this index answers for the few inactive ones, in one small page
CREATE INDEX products_inactive_idx ON seg_reco.products (product_id) WHERE NOT active;

CREATE TABLE seg_reco.transactions (
    line_id         bigint PRIMARY KEY,
    receipt_id      bigint NOT NULL,
    customer_id     bigint REFERENCES seg_reco.customers (customer_id),
    product_id      bigint NOT NULL REFERENCES seg_reco.products (product_id),
    store_id        integer NOT NULL,
    ts              timestamptz NOT NULL,
    quantity        numeric(10,3) NOT NULL,
    unit_price      numeric(10,2) NOT NULL,
    discount        numeric(10,2) NOT NULL DEFAULT 0,
    amount          numeric(12,2) NOT NULL,
    channel         text NOT NULL DEFAULT 'store' CHECK (channel IN ('store', 'online'))
);
COMMENT ON TABLE seg_reco.transactions IS 'receipt lines: amount is the net NOK paid (quantity * unit_price - discount), negative for returns; customer_id is NULL for non-members';
CREATE INDEX transactions_customer_ts_idx ON seg_reco.transactions (customer_id, ts);
CREATE INDEX transactions_product_idx ON seg_reco.transactions (product_id);
CREATE INDEX transactions_receipt_idx ON seg_reco.transactions (receipt_id);
CREATE INDEX transactions_ts_idx ON seg_reco.transactions (ts);

-- On Citus the non-members' lines (customer_id NULL) cannot stay in
-- transactions (distributed by customer id): seg_reco.distribute() moves
-- them here and distributes this table by receipt_id.  On a single node it
-- stays empty (the non-members' lines are in transactions); default_as_of
-- and build_rules read it as well.
CREATE TABLE seg_reco.nonmember_transactions (
    line_id         bigint NOT NULL,
    receipt_id      bigint NOT NULL,
    customer_id     bigint CHECK (customer_id IS NULL),
    product_id      bigint NOT NULL,
    store_id        integer NOT NULL,
    ts              timestamptz NOT NULL,
    quantity        numeric(10,3) NOT NULL,
    unit_price      numeric(10,2) NOT NULL,
    discount        numeric(10,2) NOT NULL DEFAULT 0,
    amount          numeric(12,2) NOT NULL,
    channel         text NOT NULL DEFAULT 'store' CHECK (channel IN ('store', 'online')),
    PRIMARY KEY (receipt_id, line_id)
);
COMMENT ON TABLE seg_reco.nonmember_transactions IS 'receipt lines of non-members on Citus, moved out of seg_reco.transactions by seg_reco.distribute() (the same columns; empty on a single node)';

CREATE TABLE seg_reco.digital_events (
    event_id        bigint PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES seg_reco.customers (customer_id),
    product_id      bigint REFERENCES seg_reco.products (product_id),
    event_type      text NOT NULL
                    CHECK (event_type IN ('view', 'click', 'add_to_cart', 'remove_from_cart', 'search')),
    ts              timestamptz NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('app', 'web')),
    session_id      bigint,
    search_text     text
);
COMMENT ON TABLE seg_reco.digital_events IS 'app and web behaviour of members: product views, clicks, add-to-cart, searches';
CREATE INDEX digital_events_customer_ts_idx ON seg_reco.digital_events (customer_id, ts);
CREATE INDEX digital_events_product_idx ON seg_reco.digital_events (product_id);

-- Ground truth planted by the demo generator (not part of a real data set):
-- lets the report and the tests check that the analysis recovers it.
CREATE TABLE seg_reco.demo_truth (
    customer_id     bigint PRIMARY KEY,
    shopper_type    text NOT NULL,
    taste           text NOT NULL,
    joined_late     boolean NOT NULL,
    churned_on      date,
    at_risk         boolean NOT NULL,
    demographic_tastes text[] NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE seg_reco.demo_truth IS 'behaviour planted by generate_demo_data, one row per demo customer';
COMMENT ON COLUMN seg_reco.demo_truth.demographic_tastes IS 'planted tastes that follow from the customer''s demographics (kaffe og brød 60+, barnefamilie, kystfisk, premium, ung): three favourites from each';

