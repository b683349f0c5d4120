# seg_reco on Citus 13.0.5 (issue 15): a coordinator and two workers, and a
# plain PostgreSQL node with the same demo data as the reference.  What
# works today, each checked against the single node to the last digit:
# - CREATE EXTENSION seg_reco on the coordinator creates it on the workers;
# - rfm() per customer pushes down into every shard, rfm() over all lines
#   runs in two phases (worker_partial_agg, coord_combine_agg), once in the
#   form the README shows (the aggregate in a subquery, its fields outside);
# - btyd_summary per customer pushes down;
# - kmeans_assign with a model given as a value runs in every shard;
# - seg_reco.distribute() distributes the source tables by customer id
#   (co-located; products a reference table; the non-members' lines apart);
#   then rfm_score gives the same rows, and compute_customer_features keeps
#   its lines on the workers (no intermediate result of the CTE lines) and
#   gives the same features;
# - CALL seg_reco.refresh('full') after distribute() runs end to end, and
#   every output (steps, features, clusters, value, segments, summaries,
#   cohorts, models, content, popularity, rules, ALS factors, the
#   recommendations view, recommend_for of a sample) equals the single
#   node's run; default_as_of counts the non-members' lines on both;
# - distribute() also makes settings, models and the global outputs
#   reference tables and the ALS customer factors and next-basket
#   neighbours co-located with customers, and distributes the serving
#   functions by their customer argument: a single customer's call on the
#   coordinator is delegated to a worker with the single node's rows, per
#   row of a multi-shard query too; a setting changed on the coordinator
#   reaches the workers;
# - distribute() also distributes the per-customer outputs (clusters,
#   customer value, both recommendation slots, the tables behind
#   customer_features and customer_segments) co-located with customers;
#   refresh() writes them into the shards (the clusters assigned there), a
#   worker reads them, and after a second full run (the other slot swapped
#   in) every view still equals the single node's;
# - an incremental refresh (a new day of lines, an amount changed, a line
#   deleted, a digital event added) finds the changed customers by
#   comparing their lines with the stored state in the shards, and gives
#   the single node's outputs (whose triggers captured the same changes);
# - DROP EXTENSION seg_reco CASCADE leaves nothing distributed behind;
# - use_source over a user's distributed table (in a database of its own):
#   the workers get the view too; distribute() over such sources refuses
#   each table that is not yet what it must be (a local products table, a
#   local or not co-located digital events table, an integer customer
#   column), naming the command to run; then co-locates seg_reco's tables
#   with the user's lines, and the full and the incremental refresh and
#   recommend_for give the single node's rows.
# Run by scripts/test-citus.sh, which builds Citus from ../shared/vendor
# first (a failed build fails it); skipped only when Citus is not installed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "Citus is not installed in $pkglibdir (bash scripts/citus.sh build)"
  unless -f "$pkglibdir/citus.so";

my $shards = 8;
my @nodes;
for my $name ('coordinator', 'worker1', 'worker2')
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus'
autovacuum = off
max_connections = 100
citus.shard_count = $shards
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	push @nodes, $node;
}
my ($coord, @workers) = @nodes;
$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('%s', %d)},
	$coord->host, $coord->port));
for my $w (@workers)
{
	$coord->safe_psql('postgres', sprintf(q{SELECT citus_add_node('%s', %d)}, $w->host, $w->port));
}
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'2', 'two active workers');

my $plain = PostgreSQL::Test::Cluster->new('single');
$plain->init;
$plain->append_conf('postgresql.conf', "autovacuum = off\n");
$plain->start;

# 1. the extension
$coord->safe_psql('postgres', 'CREATE EXTENSION seg_reco');
$plain->safe_psql('postgres', 'CREATE EXTENSION seg_reco');
my $ext = q{SELECT extversion || ' ' || (SELECT count(*) FROM pg_proc
                                         WHERE pronamespace = 'seg_reco'::regnamespace)
              FROM pg_extension WHERE extname = 'seg_reco'};
my $want = $coord->safe_psql('postgres', $ext);
like($want, qr/^\d+\.\d+\.\d+ \d+$/, "seg_reco on the coordinator ($want functions)");
is($_->safe_psql('postgres', $ext), $want, 'CREATE EXTENSION seg_reco reached ' . $_->name)
  for @workers;

# 2. the same demo data on the cluster (coordinator's tables, local so far)
# and the single node; the members' lines in public.lines, distributed
for my $n ($coord, $plain)
{
	$n->safe_psql('postgres', q{
		SELECT count(*) FROM seg_reco.generate_demo_data(customers => 2000);
		CREATE TABLE public.lines AS
		SELECT * FROM seg_reco.transactions WHERE customer_id IS NOT NULL;
		ANALYZE;});
}
$coord->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT create_distributed_table('public.lines', 'customer_id');
	SELECT truncate_local_data_after_distributing_table('public.lines');});
is($coord->safe_psql('postgres', 'SELECT count(*) FROM public.lines'),
	$plain->safe_psql('postgres', 'SELECT count(*) FROM public.lines'), 'the same lines on both');

# the digest of a query's rows, in a stable order (database postgres
# unless named)
sub digest
{
	my ($node, $sql, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) || ' ' || md5(string_agg(q::text, ',' ORDER BY q::text)) FROM ($sql) q");
}

sub same_on_both
{
	my ($sql, $what, $db) = @_;
	my $d = digest($plain, $sql, $db);
	like($d, qr/^[1-9]\d* [0-9a-f]{32}$/, "$what: rows on the single node");
	is(digest($coord, $sql, $db), $d, "$what: the same rows on Citus");
}

sub citus_plan
{
	my ($sql) = @_;
	return $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF, VERBOSE) $sql");
}

# 3. RFM per customer: pushed down whole into each shard
my $rfm = q{SELECT customer_id, (r).*
              FROM (SELECT customer_id, seg_reco.rfm(receipt_id, ts, amount::float8) AS r
                      FROM public.lines GROUP BY customer_id) s};
same_on_both($rfm, 'rfm per customer');
my $plan = citus_plan($rfm);
like($plan, qr/Task Count: $shards\b/, 'rfm per customer runs in every shard');
unlike($plan, qr/coord_combine_agg|worker_partial_agg/, 'rfm per customer is not split in two phases');

# RFM over all lines: two phases, the aggregate once
my $rfm_all = q{SELECT (r).*
                  FROM (SELECT seg_reco.rfm(receipt_id, ts, amount::float8) AS r
                          FROM public.lines OFFSET 0) s};
same_on_both($rfm_all, 'rfm over all lines');
$plan = citus_plan($rfm_all);
my $combines = () = $plan =~ /coord_combine_agg\(/g;
my $partials = () = $plan =~ /Query: SELECT pg_catalog\.worker_partial_agg\(/g;
is($combines, 1, 'rfm over all lines: combined once on the coordinator');
is($partials, 1, 'rfm over all lines: one partial aggregate in the workers\' query');

# 4. BTYD summaries per customer
my $btyd = q{SELECT customer_id, (v).*
               FROM (SELECT customer_id,
                            seg_reco.btyd_summary(ts::date, amount::float8, '2025-06-30', 'week') AS v
                       FROM public.lines WHERE ts < '2025-07-01' GROUP BY customer_id) s};
same_on_both($btyd, 'btyd_summary per customer');
$plan = citus_plan($btyd);
like($plan, qr/Task Count: $shards\b/, 'btyd_summary per customer runs in every shard');
unlike($plan, qr/coord_combine_agg/, 'btyd_summary per customer is not split in two phases');

# 5. kmeans_assign with the model as a value: into every shard
for my $n ($coord, $plain)
{
	$n->safe_psql('postgres', q{
		CREATE TABLE public.feat AS
		SELECT customer_id, ARRAY[(r).frequency::float8, (r).monetary::float8, (r).lines::float8] AS f
		  FROM (SELECT customer_id, seg_reco.rfm(receipt_id, ts, amount::float8) AS r
		          FROM public.lines GROUP BY customer_id) s;});
}
$coord->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT create_distributed_table('public.feat', 'customer_id', colocate_with => 'public.lines');});
my $model = $plain->safe_psql('postgres', q{
	SELECT seg_reco.kmeans_train(f, 4, '{"seed": 7, "standardize": true, "log1p": [1, 2, 3]}')
	  FROM public.feat});
(my $lit = $model) =~ s/'/''/g;
my $assign = "SELECT customer_id, seg_reco.kmeans_assign(f, '$lit'::seg_reco.kmeans_model) AS cluster
                FROM public.feat";
same_on_both($assign, 'kmeans_assign with a literal model');
$plan = citus_plan($assign);
like($plan, qr/Task Count: $shards\b/, 'kmeans_assign runs in every shard');
like($plan, qr/Query: SELECT customer_id, seg_reco\.kmeans_assign\(/,
	'kmeans_assign is in the workers\' query');

# 6. seg_reco.distribute(): the source tables distributed by customer id,
# co-located, products a reference table, the non-members' lines (customer_id
# NULL) in nonmember_transactions
my $members = $plain->safe_psql('postgres',
	'SELECT count(*) FROM seg_reco.transactions WHERE customer_id IS NOT NULL');
my $nonmembers = $plain->safe_psql('postgres',
	'SELECT count(*) FROM seg_reco.transactions WHERE customer_id IS NULL');
cmp_ok($nonmembers, '>', 0, 'the demo data have lines of non-members');
# a table with a trigger: refused before anything changes
$coord->safe_psql('postgres', q{
	CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
	CREATE TRIGGER noop AFTER INSERT ON seg_reco.digital_events FOR EACH STATEMENT EXECUTE FUNCTION public.noop();});
my ($ret, $out, $err) = $coord->psql('postgres', 'SELECT * FROM seg_reco.distribute()');
like($err, qr/ERROR:  Citus cannot distribute tables with triggers\nDETAIL:  Triggers: noop on seg_reco\.digital_events\./,
	'distribute() refuses a table with a trigger, naming it');
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'seg_reco.%')
	       || ' ' || (SELECT count(*) FROM seg_reco.transactions WHERE customer_id IS NULL)}),
	"0 $nonmembers", 'and changes nothing');
$coord->safe_psql('postgres', 'DROP TRIGGER noop ON seg_reco.digital_events');

is($coord->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT string_agg(relation || ':' || distribution, ' ') FROM seg_reco.distribute()}),
	'nonmember_transactions:receipt_id products:reference customers:customer_id '
	  . 'transactions:customer_id digital_events:customer_id demo_truth:customer_id '
	  . 'setting_defaults:reference settings:reference models:reference als_product_factors:reference '
	  . 'content_terms:reference product_content:reference content_version:reference '
	  . 'segment_popularity:reference popularity_info:reference product_rules:reference '
	  . 'product_rules_info:reference als_customer_factors:customer_id nextbasket_neighbours:customer_id '
	  . 'customer_clusters:customer_id customer_value:customer_id recommendations_a:customer_id '
	  . 'recommendations_b:customer_id customer_feature_values:customer_id customer_rfm:customer_id '
	  . 'customer_state:customer_id rfm_segments:reference cluster_names:reference ab_experiments:reference '
	  . 'cohort_customer_months:customer_id contact_history:customer_id ab_assignments:customer_id '
	  . 'refresh_state:reference recommendations_active:reference '
	  . 'seg_reco.recommend_for(bigint,integer,boolean,text,bigint[],boolean,text,jsonb,double precision,integer,bigint[],jsonb,date):customer_id '
	  . 'seg_reco.why_recommended(bigint,bigint,integer,text):customer_id '
	  . 'seg_reco.buy_again_scores(bigint,integer,date):customer_id '
	  . 'seg_reco.content_scores(bigint,integer,date,double precision,boolean,boolean):customer_id '
	  . 'seg_reco.cold_start_recommendations(bigint,integer,integer):customer_id',
	'distribute() reports what it did');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(logicalrelid::text || ':' || partmethod::text || ':'
	                  || coalesce(column_to_column_name(logicalrelid, partkey), '-'), ' '
	                  ORDER BY logicalrelid::text COLLATE "C")
	  FROM pg_dist_partition WHERE logicalrelid::text LIKE 'seg_reco.%'}),
	'seg_reco.ab_assignments:h:customer_id seg_reco.ab_experiments:n:- '
	  . 'seg_reco.als_customer_factors:h:customer_id seg_reco.als_product_factors:n:- '
	  . 'seg_reco.cluster_names:n:- seg_reco.cohort_customer_months:h:customer_id '
	  . 'seg_reco.contact_history:h:customer_id '
	  . 'seg_reco.content_terms:n:- seg_reco.content_version:n:- '
	  . 'seg_reco.customer_clusters:h:customer_id seg_reco.customer_feature_values:h:customer_id '
	  . 'seg_reco.customer_rfm:h:customer_id seg_reco.customer_state:h:customer_id '
	  . 'seg_reco.customer_value:h:customer_id '
	  . 'seg_reco.customers:h:customer_id seg_reco.demo_truth:h:customer_id '
	  . 'seg_reco.digital_events:h:customer_id seg_reco.models:n:- '
	  . 'seg_reco.nextbasket_neighbours:h:customer_id seg_reco.nonmember_transactions:h:receipt_id '
	  . 'seg_reco.popularity_info:n:- seg_reco.product_content:n:- seg_reco.product_rules:n:- '
	  . 'seg_reco.product_rules_info:n:- seg_reco.products:n:- '
	  . 'seg_reco.recommendations_a:h:customer_id seg_reco.recommendations_active:n:- '
	  . 'seg_reco.recommendations_b:h:customer_id seg_reco.refresh_state:n:- '
	  . 'seg_reco.rfm_segments:n:- seg_reco.segment_popularity:n:- '
	  . 'seg_reco.setting_defaults:n:- seg_reco.settings:n:- seg_reco.transactions:h:customer_id',
	'customers, transactions, digital events, demo truth, ALS customer factors, next-basket '
	  . 'neighbours, clusters, customer value, the recommendation slots, the tables behind '
	  . 'customer_features and customer_segments, the customer state, the cohorts\' customer months, '
	  . 'the contact history and the A/B assignments by customer id; products, settings, models, '
	  . 'the segment and cluster name maps, the experiments, the pipeline\'s state and the served slot '
	  . 'and the global outputs reference tables');
is($coord->safe_psql('postgres', q{
	SELECT count(DISTINCT colocationid) FROM pg_dist_partition
	 WHERE logicalrelid IN ('seg_reco.customers'::regclass, 'seg_reco.transactions'::regclass,
	                        'seg_reco.digital_events'::regclass, 'seg_reco.demo_truth'::regclass,
	                        'seg_reco.als_customer_factors'::regclass, 'seg_reco.nextbasket_neighbours'::regclass,
	                        'seg_reco.customer_clusters'::regclass, 'seg_reco.customer_value'::regclass,
	                        'seg_reco.recommendations_a'::regclass, 'seg_reco.recommendations_b'::regclass,
	                        'seg_reco.customer_feature_values'::regclass, 'seg_reco.customer_rfm'::regclass,
	                        'seg_reco.customer_state'::regclass, 'seg_reco.cohort_customer_months'::regclass,
	                        'seg_reco.contact_history'::regclass, 'seg_reco.ab_assignments'::regclass)}),
	'1', 'the per-customer tables are co-located, the per-customer outputs, the customer state and the '
	  . 'marketing tables too');
is($workers[0]->safe_psql('postgres',
	'SELECT count(*) FROM seg_reco.transactions WHERE customer_id IS NOT NULL'),
	$members, 'a worker reads every member line through seg_reco.transactions');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.nonmember_transactions'),
	$nonmembers, 'the non-members\' lines are in nonmember_transactions');
is($coord->safe_psql('postgres', q{
	SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'transactions_pkey'}),
	'PRIMARY KEY (customer_id, line_id)', 'the primary key of transactions holds the customer id');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint
	 WHERE contype = 'f' AND conrelid IN ('seg_reco.transactions'::regclass, 'seg_reco.digital_events'::regclass)}),
	'digital_events_customer_id_fkey digital_events_product_id_fkey '
	  . 'transactions_customer_id_fkey transactions_product_id_fkey',
	'the foreign keys are back');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint
	 WHERE contype = 'f' AND confrelid IN ('seg_reco.models'::regclass, 'seg_reco.setting_defaults'::regclass,
	                                        'seg_reco.ab_experiments'::regclass)}),
	'ab_assignments_experiment_fkey als_customer_factors_model_fkey als_product_factors_model_fkey '
	  . 'nextbasket_neighbours_model_fkey settings_key_fkey',
	'the foreign keys to models, setting_defaults and ab_experiments are back');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid
	 WHERE o.classid = 'pg_proc'::regclass AND o.distribution_argument_index = 0
	   AND o.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'seg_reco.customers'::regclass)}),
	'buy_again_scores cold_start_recommendations content_scores recommend_for why_recommended',
	'the serving functions are distributed by their customer argument, co-located with customers');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.distribute()'), '0',
	'a second distribute() does nothing');
# use_source on a table distribute() distributed would drop it and its
# shards: refused, nothing changed
($ret, $out, $err) = $coord->psql('postgres', q{
	CREATE TABLE public.catalogue AS SELECT * FROM seg_reco.products;
	SELECT seg_reco.use_source('products', 'public.catalogue');});
like($err, qr/ERROR:  seg_reco\.products is distributed by Citus \(seg_reco\.distribute\(\)\)/,
	'use_source on a relation distribute() distributed is refused') or diag($err);
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM seg_reco.sources)
	       || ' ' || (SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = 'seg_reco.products'::regclass)}),
	'0 n', 'and products stays a reference table, no source set');
# the incremental refresh's capture triggers were on transactions and
# digital_events (4 each): dropped there and on the workers
my $capture = q{SELECT count(*) FROM pg_trigger WHERE tgfoid = 'seg_reco._capture_changes()'::regprocedure};
is($plain->safe_psql('postgres', $capture), '8', 'a single node has the 8 capture triggers');
is($coord->safe_psql('postgres', $capture) . ' ' . $workers[0]->safe_psql('postgres', $capture), '0 0',
	'distribute() dropped them on the coordinator and the workers');

same_on_both(q{SELECT * FROM seg_reco.rfm_score('2025-12-31')}, 'rfm_score');
my $features = q{SELECT * FROM seg_reco.compute_customer_features('2025-12-31')};
same_on_both($features, 'compute_customer_features');
($ret, $out, $err) = $coord->psql('postgres', qq{
	SET client_min_messages = debug1;
	SELECT count(*) FROM seg_reco.compute_customer_features('2025-12-31');});
is($ret, 0, 'compute_customer_features runs with Citus\'s planning messages');
like($err, qr/CTE lines is going to be inlined/, 'the CTE lines is inlined by Citus');
unlike($err, qr/generating subplan \S+ for CTE lines/,
	'the lines are not gathered into an intermediate result');

# 7. the whole pipeline on Citus after distribute(): CALL seg_reco.refresh('full')
# on the coordinator, and the same outputs as the single node's run
my $refresh = q{SET client_min_messages = warning; CALL seg_reco.refresh('full');};
$plain->safe_psql('postgres', $refresh);
($ret, $out, $err) = $coord->psql('postgres', $refresh);
is($ret, 0, 'CALL seg_reco.refresh(\'full\') runs on the Citus coordinator');
is($err, '', 'without an error') or diag($err);
my $steps = q{SELECT string_agg(step || ':' || row_count, ' ' ORDER BY started_at)
                FROM seg_reco.refresh_log WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)};
my $plain_steps = $plain->safe_psql('postgres', $steps);
like($plain_steps, qr/^customer_features:\d+ .* cohorts:\d+$/, "the single node's steps: $plain_steps");
is($coord->safe_psql('postgres', $steps), $plain_steps, 'every step ran on Citus, with the same row counts');
same_on_both(q{SELECT seg_reco.default_as_of()}, 'default_as_of');
# (but btyd_repeat_spend: on Citus the rows come from the one statement
# over the lines, which leaves it NULL, as a single node's reference rows;
# only an incremental merge reads it; on Citus an incremental run recomputes)
same_on_both(q{SELECT to_jsonb(s) - 'btyd_repeat_spend' FROM seg_reco.customer_state s}, 'customer_state');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.customer_state WHERE btyd_repeat_spend IS NOT NULL'),
	'0', 'customer_state on Citus: the rows of the one statement (btyd_repeat_spend NULL)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.customer_state_check()'), '0',
	'customer_state_check() finds every customer\'s state matching the lines');
same_on_both(q{SELECT * FROM seg_reco.customer_features}, 'customer_features');
same_on_both(q{SELECT * FROM seg_reco.customer_clusters}, 'customer_clusters');
same_on_both(q{SELECT * FROM seg_reco.cluster_names}, 'cluster_names');
same_on_both(q{SELECT * FROM seg_reco.customer_value}, 'customer_value');
same_on_both(q{SELECT * FROM seg_reco.customer_segments}, 'customer_segments');
same_on_both(q{SELECT * FROM seg_reco.segment_summary}, 'segment_summary');
same_on_both(q{SELECT * FROM seg_reco.cohorts}, 'cohorts');
same_on_both(q{SELECT name, kind, params FROM seg_reco.models WHERE name <> 'default'}, 'the cluster and value models');
same_on_both(q{SELECT * FROM seg_reco.product_content}, 'content vectors');
same_on_both(q{SELECT * FROM seg_reco.segment_popularity}, 'segment popularity');
same_on_both(q{SELECT lhs, rhs, support, confidence, lift, count FROM seg_reco.product_rules}, 'association rules');
same_on_both(q{SELECT customer_id, factors FROM seg_reco.als_customer_factors WHERE model = 'default'},
	'ALS customer factors');
same_on_both(q{SELECT product_id, factors FROM seg_reco.als_product_factors WHERE model = 'default'},
	'ALS product factors');
# (on Citus ALS reads its default source summed per customer and product
# in the shards, one row per pair: the same factors)
my $als_query = $coord->safe_psql('postgres', q{SELECT params ->> 'query' FROM seg_reco.models WHERE name = 'default'});
like($als_query, qr/sum\(x\.weight ORDER BY x\.receipt_id NULLS FIRST, x\.weight\)/,
	'on Citus the ALS model was trained on the lines summed per pair');
my $als_plan = citus_plan($als_query);
like($als_plan, qr/Task Count: $shards.*WindowAgg/s, 'summed in each shard') or diag($als_plan);
unlike($als_plan, qr/Distributed Subplan|Merge Step/, 'nothing but the pairs comes to the coordinator') or diag($als_plan);
same_on_both(q{SELECT * FROM seg_reco.recommendations}, 'the recommendations view');
same_on_both(q{SELECT * FROM seg_reco.cluster_profiles}, 'cluster_profiles');
# the per-customer outputs are written into their shards: a worker reads
# them all, the coordinator's own copies are empty
# (the tables behind the views: these views read the coordinator's
# recommendations_active and refresh_state, so they are read there; the
# served slot holds the lists, the other is empty)
my %behind = ('customer_features' => 'customer_feature_values', 'customer_segments' => 'customer_rfm');
for my $t ('customer_clusters', 'customer_value', 'recommendations', 'customer_features', 'customer_segments')
{
	my $rows = $t eq 'recommendations'
	  ? q{SELECT (SELECT count(*) FROM seg_reco.recommendations_a) + (SELECT count(*) FROM seg_reco.recommendations_b)}
	  : 'SELECT count(*) FROM seg_reco.' . ($behind{$t} // $t);
	is($workers[1]->safe_psql('postgres', $rows),
		$plain->safe_psql('postgres', "SELECT count(*) FROM seg_reco.$t"),
		"a worker reads every row of $t");
}
my $in_shards = q{SELECT string_agg(t || ':' || (SELECT coalesce(sum(r.result::bigint), 0)
                                                    FROM run_command_on_shards(t::regclass, 'SELECT count(*) FROM %s') r),
                                     ' ' ORDER BY t COLLATE "C")
                    FROM unnest(ARRAY['seg_reco.customer_clusters', 'seg_reco.customer_value',
                                      'seg_reco.recommendations_a', 'seg_reco.recommendations_b',
                                      'seg_reco.customer_feature_values', 'seg_reco.customer_rfm',
                                      'seg_reco.customer_state']) t};
is($coord->safe_psql('postgres', $in_shards),
	sprintf('seg_reco.customer_clusters:%d seg_reco.customer_feature_values:%d seg_reco.customer_rfm:%d '
	          . 'seg_reco.customer_state:%d '
	          . 'seg_reco.customer_value:%d seg_reco.recommendations_a:0 seg_reco.recommendations_b:%d',
	        map { $plain->safe_psql('postgres', "SELECT count(*) FROM seg_reco.$_") }
	          ('customer_clusters', 'customer_features', 'customer_segments', 'customer_state', 'customer_value',
	           'recommendations')),
	'the clusters, the features, the RFM values, the customer state, the customer values and the served '
	  . 'recommendation slot are in the shards, the idle slot emptied');
is($coord->safe_psql('postgres', q{
	SELECT detail -> 'before_fill' ->> 'emptied', detail -> 'after_swap' ->> 'emptied'
	  FROM seg_reco.refresh_log WHERE step = 'recommendations'}),
	'truncate|truncate', 'refresh() emptied the idle distributed slot with TRUNCATE before and after');
# a second full run: the lists go into the other slot, swapped in
$plain->safe_psql('postgres', $refresh);
($ret, $out, $err) = $coord->psql('postgres', q{SET client_min_messages = debug1; CALL seg_reco.refresh('full');});
is($ret, 0, 'a second CALL seg_reco.refresh(\'full\') on Citus') or diag($err);
# the clusters step assigns every customer in the shard holding it and
# writes the rows there: with refresh_state a reference table its INSERT ...
# SELECT is pushed down whole into the shards (before, it read the
# coordinator's refresh_state and Citus repartitioned the rows from worker
# to worker)
my $repartitioned = () = $err =~ /DEBUG:  performing repartitioned INSERT \.\.\. SELECT/g;
is($repartitioned, 0, 'the clusters are assigned and written in each shard (no repartitioned INSERT ... SELECT)');
same_on_both(q{SELECT slot, generation FROM seg_reco.recommendations_active}, 'the served slot after two runs');
same_on_both(q{SELECT * FROM seg_reco.recommendations}, 'the recommendations view after two runs');
# refresh_state and recommendations_active are reference tables: a worker's
# views read the served slot and the as-of date as the coordinator's do
for my $w (@workers)
{
	is(digest($w, q{SELECT * FROM seg_reco.recommendations}),
		digest($coord, q{SELECT * FROM seg_reco.recommendations}),
		'the recommendations view reads the same on ' . $w->name);
	is($w->safe_psql('postgres', q{SELECT slot || ' ' || generation || ' ' || as_of
	                                 FROM seg_reco.recommendations_active, seg_reco.refresh_state}),
		$coord->safe_psql('postgres', q{SELECT slot || ' ' || generation || ' ' || as_of
		                                 FROM seg_reco.recommendations_active, seg_reco.refresh_state}),
		'the served slot and the as-of date on ' . $w->name);
}
same_on_both(q{SELECT * FROM seg_reco.customer_segments}, 'customer_segments after two runs');
# the RFM values are written in the shards (customers and customer_state
# co-located) and the scores from the thresholds as constants: no row of
# customer_rfm comes back to the coordinator (before: _rfm_from_state()
# ranked every customer there, "Collecting INSERT ... SELECT results on
# coordinator"); the same rows as the single node's
($ret, $out, $err) = $coord->psql('postgres',
	q{SET client_min_messages = debug1; SELECT seg_reco._customer_rfm_update(NULL) ->> 'customers'});
is($ret, 0, 'customer_rfm written again on Citus') or diag($err);
is($out, $plain->safe_psql('postgres', q{SELECT count(*) FROM seg_reco.customer_rfm}),
	'customer_rfm: a row per customer, as on the single node');
unlike($err, qr/Collecting INSERT \.\.\. SELECT results on coordinator|repartitioned/,
	'customer_rfm: values and scores written in the shards');
same_on_both(q{SELECT * FROM seg_reco.customer_segments}, 'customer_segments, customer_rfm written in the shards');
# campaign target lists read customer_segments (distributed tables now),
# the contact history and the served lists: the same lists on Citus
same_on_both(q{SELECT * FROM seg_reco.campaign_targets('{"campaign": "winback", "at_risk": true, "min_clv": 300,
                                                          "control_share": 0.1, "budget_customers": 100,
                                                          "exclude_contacted_days": 30}')},
	'campaign_targets with a budget and a control group');
same_on_both(q{SELECT * FROM seg_reco.campaign_targets('{"campaign": "c", "clusters": ["1", "2"],
                                                          "include_purchased": true, "products": 3}')},
	'campaign_targets by cluster');
# the contact history (distributed, co-located with customers): a target
# list recorded, then a second list that leaves out who was contacted
my $winback = q{seg_reco.campaign_targets('{"campaign": "winback2", "at_risk": true, "control_share": 0.2,
                                             "budget_customers": 60, "as_of": "2025-12-31"}')};
for my $n ($coord, $plain)
{
	$n->safe_psql('postgres', qq{
		SELECT count(*) FROM seg_reco.record_contacts((SELECT array_agg(t) FROM $winback t),
		                                              '2025-12-30 12:00+00');});
}
same_on_both(q{SELECT * FROM seg_reco.contact_history}, 'the contact history of a recorded list');
same_on_both(q{SELECT * FROM seg_reco.campaign_targets('{"campaign": "winback3", "at_risk": true,
                                                          "exclude_contacted_days": 7, "as_of": "2025-12-31"}')},
	'campaign_targets leaving out the customers contacted in the last 7 days');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM seg_reco.campaign_targets('{"campaign": "winback3", "at_risk": true,
	                                                  "exclude_contacted_days": 7, "as_of": "2025-12-31"}') t
	  JOIN seg_reco.contact_history h USING (customer_id)}),
	'0', 'nobody of the recorded list is in the second');
# A/B experiments stratified by the customers' segments and clusters:
# the same assignments (the ids and the cluster passed as values: on Citus
# a subquery over a distributed table in the arguments may send the whole
# call to a worker, where the experiments are not)
my $ab_ids = $plain->safe_psql('postgres',
	'SELECT array_agg(customer_id ORDER BY customer_id) FROM seg_reco.customers WHERE customer_id % 7 = 0');
my $ab_cluster = $plain->safe_psql('postgres', 'SELECT min(cluster_name) FROM seg_reco.customer_clusters');
for my $n ($coord, $plain)
{
	$n->safe_psql('postgres', qq{
		SELECT seg_reco.ab_create_experiment('by_segment', stratify_by => 'segment') IS NOT NULL;
		SELECT seg_reco.ab_create_experiment('by_cluster', stratify_by => 'cluster') IS NOT NULL;
		SELECT count(*) FROM seg_reco.ab_assign_all('by_segment', '$ab_ids'::bigint[]);
		SELECT count(*) FROM seg_reco.ab_assign_all('by_cluster', segment => '$ab_cluster');
		SELECT seg_reco.ab_assign('by_segment', 3), seg_reco.ab_assign('by_cluster', 5);});
}
same_on_both(q{SELECT experiment, customer_id, arm, stratum FROM seg_reco.ab_assignments},
	'A/B assignments stratified by segment and by cluster');
# every view of the extension (but progress, a session's own), on the
# coordinator, equals the single node's: every column but the times of
# the run (trained_at and the like)
my @views = split /\n/, $plain->safe_psql('postgres', q{
	SELECT c.relname || ' ' || string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
	  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE c.relnamespace = 'seg_reco'::regnamespace AND c.relkind IN ('v', 'm') AND c.relname <> 'progress'
	   AND NOT (a.atttypid = 'timestamptz'::regtype AND a.attname LIKE '%\_at')
	 GROUP BY c.relname ORDER BY c.relname});
cmp_ok(scalar(@views), '>=', 8, 'the views: ' . join(', ', map { (split / /)[0] } @views));
for my $v (@views)
{
	my ($name, $cols) = split / /, $v, 2;
	is(digest($coord, "SELECT $cols FROM seg_reco.$name"), digest($plain, "SELECT $cols FROM seg_reco.$name"),
		"view $name: the same rows on Citus after two runs");
}
# 8. an incremental refresh on Citus.  No trigger captures the changes of
# distributed lines (distribute() dropped the capture triggers), so the run
# finds the changed customers by comparing each customer's lines (count,
# checksum) and digital events with the stored state, in the shards, and
# recomputes them from all their lines.  The same changes on the single
# node (captured by its triggers, the new lines merged) give the same
# outputs: a new day of lines for three customers, an amount changed, a
# line deleted, a digital event added.
my $day = $plain->safe_psql('postgres', q{SELECT seg_reco.default_as_of() + 1});
my ($p1, $p2) = split /\n/, $plain->safe_psql('postgres',
	'SELECT product_id FROM seg_reco.products ORDER BY product_id LIMIT 2');
my $line7 = $plain->safe_psql('postgres', 'SELECT min(line_id) FROM seg_reco.transactions WHERE customer_id = 7');
my $line8 = $plain->safe_psql('postgres', 'SELECT max(line_id) FROM seg_reco.transactions WHERE customer_id = 8');
my $new_lines = join ', ', map {
	my ($c, $k) = @$_;
	sprintf("(%d, %d, %d, %s, 1, '%s 10:%02d+00', 1, 10.00, 0, 10.00, 'store')",
		990000000 + 10 * $c + $k, 990000000 + $c, $c, $k ? $p2 : $p1, $day, $k)
} map { my $c = $_; ([$c, 0], [$c, 1]) } (3, 10, 42);
my $changes = qq{
	INSERT INTO seg_reco.transactions
	    (line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, discount, amount, channel)
	VALUES $new_lines;
	UPDATE seg_reco.transactions SET amount = amount + 1 WHERE customer_id = 7 AND line_id = $line7;
	DELETE FROM seg_reco.transactions WHERE customer_id = 8 AND line_id = $line8;
	INSERT INTO seg_reco.digital_events (event_id, customer_id, product_id, event_type, ts, channel)
	VALUES (990000001, 11, $p1, 'add_to_cart', '$day 09:00+00', 'app');};
$plain->safe_psql('postgres', $changes);
$coord->safe_psql('postgres', $changes);
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.customer_state_check()'), '5',
	'customer_state_check() on Citus: the five customers whose lines changed');
my $incremental = q{SET client_min_messages = warning; CALL seg_reco.refresh('incremental');};
$plain->safe_psql('postgres', $incremental);
($ret, $out, $err) = $coord->psql('postgres', $incremental);
is($ret, 0, 'CALL seg_reco.refresh(\'incremental\') on Citus') or diag($err);
is($err, '', 'without an error') or diag($err);
my $kind = q{SELECT kind || ' ' || coalesce(detail ->> 'reason', '-') FROM seg_reco.refresh_log
              WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND step = 'customer_features'};
is($plain->safe_psql('postgres', $kind), 'incremental -', 'the single node ran an incremental refresh');
is($coord->safe_psql('postgres', $kind), 'incremental -', 'so did Citus');
is($coord->safe_psql('postgres', q{SELECT detail ->> 'changes' FROM seg_reco.refresh_log
                                    WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
                                      AND step = 'customer_features'}),
	'compared with the lines (Citus)', 'Citus found the changes by comparing the lines with the state');
my $touched = q{SELECT (detail ->> 'customers_merged')::int + (detail ->> 'customers_recomputed')::int
                  FROM seg_reco.refresh_log WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)
                   AND step = 'customer_features'};
my $plain_touched = $plain->safe_psql('postgres', $touched);
cmp_ok($plain_touched, '>=', 6, "the single node's changed customers: $plain_touched");
is($coord->safe_psql('postgres', $touched), $plain_touched, 'the same number of changed customers on Citus');
is($coord->safe_psql('postgres', $steps), $plain->safe_psql('postgres', $steps),
	'every incremental step ran on Citus, with the same row counts');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.customer_state_check()'), '0',
	'customer_state_check() on Citus after the incremental run: every state matches its lines');
same_on_both(q{SELECT to_jsonb(s) - 'btyd_repeat_spend' FROM seg_reco.customer_state s},
	'customer_state after the incremental run');
same_on_both(q{SELECT customer_id, factors FROM seg_reco.als_customer_factors WHERE model = 'default'},
	'ALS customer factors after the fold-in');
for my $v (@views)
{
	my ($name, $cols) = split / /, $v, 2;
	is(digest($coord, "SELECT $cols FROM seg_reco.$name"), digest($plain, "SELECT $cols FROM seg_reco.$name"),
		"view $name: the same rows on Citus after the incremental run");
}
# recommend_for called on the coordinator: the customers gathered first (a
# MATERIALIZED CTE, as pipeline_recommendations does)
same_on_both(q{WITH c AS MATERIALIZED (SELECT customer_id FROM seg_reco.customers
                                       WHERE customer_id % 97 = 0)
               SELECT c.customer_id, r.* FROM c, seg_reco.recommend_for(c.customer_id, 5) r},
	'recommend_for of a sample of customers');
# per row of a query over the distributed customers: inside the shards'
# queries, on the workers, reading the reference tables' copies there
my $per_row = q{SELECT c.customer_id, r.* FROM seg_reco.customers c, seg_reco.recommend_for(c.customer_id, 5) r
                 WHERE c.customer_id % 97 = 0};
same_on_both($per_row, 'recommend_for per row of a multi-shard query');
like(citus_plan($per_row), qr/Task Count: $shards\b.*Query: SELECT .*seg_reco\.recommend_for\(/s,
	'recommend_for per row runs in every shard');
# kmeans_assign by name per row of a multi-shard query: the model from the
# reference table models, the literal model's clusters
$coord->safe_psql('postgres', "SELECT seg_reco.kmeans_save('feat_model', '$lit'::seg_reco.kmeans_model)");
is(digest($coord, q{SELECT customer_id, seg_reco.kmeans_assign(f, 'feat_model') AS cluster FROM public.feat}),
	digest($plain, $assign), 'kmeans_assign by name per row of a multi-shard query gives the literal model\'s clusters');
is(digest($coord, q{SELECT customer_id, seg_reco.kmeans_assign(f, (SELECT seg_reco.kmeans_load('feat_model')))
                      FROM public.feat}),
	digest($plain, $assign), 'so does the model read once on the coordinator');

# a single customer's call on the coordinator is delegated to the worker
# holding the customer (Citus: "pushing down the function call"), and gives
# the single node's rows: every serving function, a sample of customers
my @sample = split /\n/, $plain->safe_psql('postgres', q{
	SELECT customer_id FROM seg_reco.customers WHERE customer_id % 61 = 0 ORDER BY customer_id LIMIT 12});
($ret, $out, $err) = $coord->psql('postgres', qq{
	SET client_min_messages = debug1;
	SELECT seg_reco.recommend_for($sample[0], 10);});
like($err, qr/DEBUG:  pushing down the function call/, 'SELECT seg_reco.recommend_for(id, 10) is delegated to a worker');
my %calls = (
	'recommend_for'  => 'seg_reco.recommend_for(%d, 10)',
	'why_recommended' => 'seg_reco.why_recommended(%d, %d, 5)',
	'buy_again_scores' => 'seg_reco.buy_again_scores(%d, 5)',
	'content_scores' => 'seg_reco.content_scores(%d, 5)',
	'cold_start_recommendations' => 'seg_reco.cold_start_recommendations(%d, 5)');
for my $fn (sort keys %calls)
{
	my ($same, $pushed) = (0, 0);
	for my $c (@sample)
	{
		# why_recommended: the customer's first product on the single node
		my $call = sprintf($calls{$fn}, $c, $plain->safe_psql('postgres',
			"SELECT product_id FROM seg_reco.recommend_for($c, 1)"));
		my $want = $plain->safe_psql('postgres', "SELECT $call");
		($ret, $out, $err) = $coord->psql('postgres', "SET client_min_messages = debug1; SELECT $call");
		$same++ if $ret == 0 && $out eq $want && $want ne '';
		$pushed++ if $err =~ /pushing down the function call/;
	}
	is("$same $pushed", scalar(@sample) . ' ' . scalar(@sample),
		"$fn: every call of the sample delegated to a worker, the single node's rows");
}

# a setting changed on the coordinator (the reference table settings)
# reaches the workers: a delegated recommend_for blends with the new weights
my $weights = q{INSERT INTO seg_reco.settings (key, value)
                VALUES ('hybrid_weights', '{"new": {"popularity": 1}, "rebuy": {"popularity": 1}}')};
my $before = $coord->safe_psql('postgres', "SELECT seg_reco.recommend_for($sample[0], 10)");
$_->safe_psql('postgres', $weights) for ($coord, $plain);
is($workers[0]->safe_psql('postgres', q{SELECT seg_reco.setting('hybrid_weights')})
	 . ' ' . $workers[1]->safe_psql('postgres', q{SELECT seg_reco.setting('hybrid_weights')}),
	'{"new": {"popularity": 1}, "rebuy": {"popularity": 1}} {"new": {"popularity": 1}, "rebuy": {"popularity": 1}}',
	'a setting changed on the coordinator is read on the workers');
($ret, $out, $err) = $coord->psql('postgres', qq{
	SET client_min_messages = debug1;
	SELECT seg_reco.recommend_for($sample[0], 10);});
like($err, qr/pushing down the function call/, 'recommend_for with the new weights is delegated');
isnt($out, $before, 'and its list changed');
is($out, $plain->safe_psql('postgres', "SELECT seg_reco.recommend_for($sample[0], 10)"),
	'to the single node\'s list with the same setting');
unlike($out, qr/als|content|buy_again|nextbasket|cold_start/, 'every row from popularity alone');
$_->safe_psql('postgres', q{DELETE FROM seg_reco.settings WHERE key = 'hybrid_weights'}) for ($coord, $plain);

# default_as_of (the date every serving call and the pipeline read) is the
# latest line's, members' or not: a non-member's line a day after the last,
# in transactions on the single node and in nonmember_transactions on Citus
my $late = q{(line_id, receipt_id, customer_id, product_id, store_id, ts, quantity, unit_price, amount)
             SELECT 999999999, 999999999, NULL, min(product_id), 1, max(ts) + interval '1 day', 1, 10, 10
               FROM %s};
$plain->safe_psql('postgres', 'INSERT INTO seg_reco.transactions ' . sprintf($late, 'seg_reco.transactions'));
$coord->safe_psql('postgres', 'INSERT INTO seg_reco.nonmember_transactions '
	. sprintf($late, '(SELECT product_id, ts FROM seg_reco.transactions) t'));
is($plain->safe_psql('postgres', 'SELECT seg_reco.default_as_of()'),
	$plain->safe_psql('postgres', "SELECT DATE '$day' + 1"),
	'a non-member\'s line (a day after the members\' new day) moves default_as_of on the single node');
same_on_both(q{SELECT seg_reco.default_as_of()}, 'default_as_of with a non-member\'s line the latest');
# a serving call without as_of on Citus reads up to the as-of date of the
# last refresh() (the reference table refresh_state), not the latest line
# over every shard (7-14 ms a call): until the next refresh, the list a
# single node gives with that date
my $refreshed = $coord->safe_psql('postgres', 'SELECT as_of FROM seg_reco.refresh_state');
is($refreshed, $day, 'the last refresh read up to the members\' new day');
is($coord->safe_psql('postgres', "SELECT seg_reco.recommend_for($sample[0], 10)"),
	$plain->safe_psql('postgres', "SELECT seg_reco.recommend_for($sample[0], 10, as_of => '$refreshed')"),
	'recommend_for without as_of on Citus: the single node\'s list at the last refresh\'s date');
is($coord->safe_psql('postgres', "SELECT seg_reco._serving_as_of()"), $refreshed,
	'_serving_as_of() on Citus: the last refresh\'s date');
is($plain->safe_psql('postgres', "SELECT seg_reco._serving_as_of() = seg_reco.default_as_of()"), 't',
	'_serving_as_of() on a single node: default_as_of()');

# the association rules from a sample of the receipts (rules_max_baskets):
# on Citus the receipts are counted per sample level in the shards and only
# the sample's lines read (before, every line came to the coordinator and
# the reader dropped those outside the sample there); the same sample, so
# the same rules as the single node's
my $sampled = q{
	INSERT INTO seg_reco.settings (key, value) VALUES ('rules_max_baskets', '3000');
	SELECT seg_reco.build_rules() ->> 'baskets';};
my $plain_baskets = $plain->safe_psql('postgres', $sampled);
cmp_ok($plain_baskets, '<=', 3000, "the rules of a sample of $plain_baskets receipts on the single node");
is($coord->safe_psql('postgres', $sampled), $plain_baskets, 'on Citus the same number of receipts mined');
like($coord->safe_psql('postgres', q{SELECT summary ->> 'sample_level_in_shards' FROM seg_reco.product_rules_info}),
	qr/^[1-9]\d*$/, 'on Citus the sample chosen in the shards');
same_on_both(q{SELECT lhs, rhs, support, confidence, lift, count FROM seg_reco.product_rules}, 'the rules of the sample');
$_->safe_psql('postgres', q{DELETE FROM seg_reco.settings WHERE key = 'rules_max_baskets'}) for ($coord, $plain);

# DROP EXTENSION seg_reco CASCADE drops nonmember_transactions with the rest
# (an extension member): a re-created extension distributes new data again,
# its views read on every node
$coord->safe_psql('postgres', q{
	SET client_min_messages = warning;
	DROP EXTENSION seg_reco CASCADE;
	CREATE EXTENSION seg_reco;});
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'seg_reco.%'}),
	'0', 'DROP EXTENSION seg_reco CASCADE leaves no distributed table of seg_reco behind');
($ret, $out, $err) = $coord->psql('postgres', q{
	SET client_min_messages = warning;
	SELECT count(*) FROM seg_reco.generate_demo_data(customers => 200);
	SELECT string_agg(relation || ':' || distribution, ' ') FROM seg_reco.distribute();});
is($err, '', 'distribute() runs again after the extension is re-created') or diag($err);
like($out, qr/^\d+\nnonmember_transactions:receipt_id products:reference /,
	'and distributes nonmember_transactions again');
is($coord->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM seg_reco.nonmember_transactions) > 0
	       AND NOT EXISTS (SELECT 1 FROM seg_reco.transactions WHERE customer_id IS NULL)}),
	't', 'the new non-members\' lines are in nonmember_transactions');
is($_->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.cohorts'), '0',
	'the cohorts view of the re-created extension reads on ' . $_->name) for @workers;

# use_source on Citus (before distribute()): a user's own table,
# distributed by its member column, read through the view use_source
# creates.  Citus creates that view on the workers too, where CREATE
# EXTENSION's empty copy of seg_reco.transactions stood ("is not a view"):
# use_source drops those copies first.  A database of its own on every node.
for my $node (@nodes)
{
	$node->safe_psql('postgres', 'CREATE DATABASE src');
	$node->safe_psql('src', 'CREATE EXTENSION citus');
}
$coord->safe_psql('src', sprintf(q{SELECT citus_set_coordinator_host('%s', %d)}, $coord->host, $coord->port));
$coord->safe_psql('src', sprintf(q{SELECT citus_add_node('%s', %d)}, $_->host, $_->port)) for @workers;
$plain->safe_psql('postgres', 'CREATE DATABASE src');
my $sales = q{
	SET client_min_messages = warning;
	CREATE EXTENSION seg_reco;
	CREATE TABLE public.sales (member_id bigint NOT NULL, line_no bigint, receipt bigint, sku bigint, shop integer,
	                           sold_at timestamptz, qty numeric, price numeric, net numeric);
	CREATE INDEX ON public.sales (member_id, sold_at);
	CREATE INDEX ON public.sales (sold_at);};
my $sales_rows = q{
	INSERT INTO public.sales
	SELECT m, i, i / 3, (i * 7 % 40) + 1, 1,
	       -- members active over a quarter, half, ... of the time, spending more or less
	       timestamptz '2025-01-01 08:00+01' + (i * 37 % 8000) * (m % 4 + 1) / 4 * interval '1 hour',
	       1 + i % 3, 10 + i % 17,
	       ((1 + i % 3) * (10 + i % 17) - CASE WHEN i % 29 = 0 THEN 60 ELSE 0 END) * (1 + m % 5) * (1 + m % 3)
	  FROM generate_series(1, 4000) i, LATERAL (SELECT (i % 97) + 1) x(m);};
$coord->safe_psql('src', $sales . q{ SELECT create_distributed_table('public.sales', 'member_id');} . $sales_rows);
$plain->safe_psql('src', $sales . $sales_rows);
my $use = q{
	SET client_min_messages = warning;
	SELECT seg_reco.use_source('transactions', 'public.sales',
	    '{"customer_id": "member_id", "line_id": "line_no", "receipt_id": "receipt", "product_id": "sku",
	      "store_id": "shop", "ts": "sold_at", "quantity": "qty", "unit_price": "price", "amount": "net"}',
	    discard_data => true);};
($ret, $out, $err) = $coord->psql('src', $use);
is($ret, 0, 'use_source over a distributed table runs on the Citus coordinator') or diag($err);
$plain->safe_psql('src', $use);
is($_->safe_psql('src', q{SELECT relkind FROM pg_class WHERE oid = 'seg_reco.transactions'::regclass}), 'v',
	'and ' . $_->name . ' has the view in place of its empty table') for @workers;
my $src_rfm = q{SELECT md5(string_agg(r::text, ',' ORDER BY r.customer_id)) || ' ' || count(*) FROM seg_reco.rfm_score() r};
my $src_feat = q{SELECT md5(string_agg(f::text, ',' ORDER BY f.customer_id)) || ' ' || count(*)
                   FROM seg_reco.compute_customer_features() f};
is($coord->safe_psql('src', $src_rfm), $plain->safe_psql('src', $src_rfm),
	'rfm_score over the user\'s distributed table: the single node\'s rows');
is($coord->safe_psql('src', $src_feat), $plain->safe_psql('src', $src_feat),
	'compute_customer_features over it: the single node\'s rows');
like($coord->safe_psql('src', $src_rfm), qr/ 97$/, 'of all 97 members');
($ret, $out, $err) = $coord->psql('src', $use);
is($ret, 0, 'a second use_source replaces the view on every node') or diag($err);
is($coord->safe_psql('src', $src_rfm), $plain->safe_psql('src', $src_rfm), 'and reads the same rows');
# distribute() over the sources: the user's tables behind them must already
# be what seg_reco's own would become (checked first, each refusal naming
# the command to run, nothing changed); then seg_reco's per-customer tables
# are co-located with the user's table of lines, and the pipeline and the
# serving functions run over the views as over seg_reco's own tables
my $more = q{
	SET client_min_messages = warning;
	CREATE TABLE public.catalogue (sku bigint PRIMARY KEY, title text NOT NULL, dept text NOT NULL, price numeric(10,2));
	INSERT INTO public.catalogue
	SELECT i, 'Vare ' || i, (ARRAY['Meieri', 'Frukt og grønt', 'Brød', 'Drikke'])[1 + i % 4], 10 + i % 17
	  FROM generate_series(1, 40) i;
	CREATE TABLE public.clicks (member bigint NOT NULL, sku bigint, kind text NOT NULL, at timestamptz NOT NULL);
	INSERT INTO public.clicks
	SELECT (i % 89) + 1, (i * 11 % 40) + 1, CASE WHEN i % 5 = 0 THEN 'add_to_cart' ELSE 'view' END,
	       timestamptz '2025-01-01 09:00+01' + (i * 53 % 8000) * interval '1 hour'
	  FROM generate_series(1, 600) i;
	CREATE TABLE public.clicks_int (member integer NOT NULL, kind text NOT NULL, at timestamptz NOT NULL);
	-- (as few products as factors would be; the BTYD fits with the penalizer)
	INSERT INTO seg_reco.settings (key, value) VALUES ('als_factors', '8'), ('btyd_penalizer', '0.001');
	-- members 98 and 99 have no lines (the cold start)
	INSERT INTO seg_reco.customers (customer_id, member_since) SELECT i, date '2024-01-01' + i FROM generate_series(1, 99) i;};
my $use_more = q{
	SET client_min_messages = warning;
	SELECT seg_reco.use_source('products', 'public.catalogue',
	    '{"product_id": "sku", "name": "title", "category": "dept", "unit_price": "price"}', discard_data => true);
	SELECT seg_reco.use_source('digital_events', 'public.clicks',
	    '{"customer_id": "member", "product_id": "sku", "event_type": "kind", "ts": "at"}', discard_data => true);};
$_->safe_psql('src', $more . $use_more) for ($coord, $plain);
my $distribute = q{SET client_min_messages = warning; SELECT * FROM seg_reco.distribute();};
my $undistributed = q{SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'seg_reco.%'};
($ret, $out, $err) = $coord->psql('src', $distribute);
like($err, qr/ERROR:  public\.clicks, the source of seg_reco\.digital_events, is not distributed by its customer column "member"\nDETAIL:  It is a local table of the coordinator\.\nHINT:  (DROP TRIGGER seg_reco_capture_\w+ ON public\.clicks; ){4}SELECT create_distributed_table\('public\.clicks', 'member', colocate_with => 'public\.sales'\);/,
	'a digital events source that is a local table (with the capture triggers use_source put there): refused, naming the commands') or diag($err);
# the hint's commands, but for the co-location
my ($hint) = $err =~ /HINT:  (.*)$/m;
$hint =~ s/colocate_with => 'public\.sales'/colocate_with => 'none'/;
$coord->safe_psql('src', $hint);
($ret, $out, $err) = $coord->psql('src', $distribute);
like($err, qr/ERROR:  public\.clicks and public\.sales, the sources of seg_reco's customers' rows, are not co-located.*HINT:  SELECT update_distributed_table_colocation\('public\.clicks', colocate_with => 'public\.sales'\);/s,
	'a digital events source distributed but not co-located with the lines: refused, naming the command') or diag($err);
($hint) = $err =~ /HINT:  (.*)$/m;
$coord->safe_psql('src', q{
	SET client_min_messages = warning;
	SELECT seg_reco.use_source('digital_events', 'public.clicks_int', '{"customer_id": "member", "event_type": "kind", "ts": "at"}');});
($ret, $out, $err) = $coord->psql('src', $distribute);
like($err, qr/ERROR:  column "member" of public\.clicks_int, the customer id of seg_reco\.digital_events, is of type integer, not bigint/,
	'a source whose customer column is an integer: refused (Citus co-locates only one type)') or diag($err);
is($coord->safe_psql('src', $undistributed), '0', 'and still nothing was distributed');
$coord->safe_psql('src', $use_more . $hint);
($ret, $out, $err) = $coord->psql('src', $distribute);
like($err, qr/ERROR:  public\.catalogue, the source of seg_reco\.products, is not a Citus reference table.*HINT:  SELECT create_reference_table\('public\.catalogue'\);/s,
	'distribute() over a products source that is a local table: refused, naming the command') or diag($err);
is($coord->safe_psql('src', $undistributed), '0', 'nothing was distributed');
($hint) = $err =~ /HINT:  (.*)$/m;
$coord->safe_psql('src', $hint);
# a source renamed since use_source: its recorded name no longer exists
$coord->safe_psql('src', 'ALTER TABLE public.catalogue RENAME TO catalogue_old');
($ret, $out, $err) = $coord->psql('src', $distribute);
like($err, qr/ERROR:  the source of seg_reco\.products, public\.catalogue, does not exist/,
	'a source table renamed since use_source: refused') or diag($err);
$coord->safe_psql('src', 'ALTER TABLE public.catalogue_old RENAME TO catalogue');
($ret, $out, $err) = $coord->psql('src', $distribute);
is($ret, 0, 'distribute() over the sources once they are Citus tables') or diag($err);
like($out, qr/^transactions\|customer_id\|a view of public\.sales, your distributed table: seg_reco's per-customer tables co-located with it\ndigital_events\|customer_id\|a view of public\.clicks, your distributed table, co-located\nproducts\|reference\|a view of public\.catalogue, your reference table\nnonmember_transactions\|receipt_id\|distributed, empty/,
	'it says what the sources are') or diag($out);
# (use_source over the then local catalogue and clicks made their views
# on the coordinator only: distribute() made them again on every node)
is($_->safe_psql('src', q{SELECT string_agg(relname || ':' || relkind::text, ' ' ORDER BY relname) || ' ' || (SELECT count(*) FROM seg_reco.products)
                            FROM pg_class WHERE relnamespace = 'seg_reco'::regnamespace
                             AND relname IN ('products', 'digital_events', 'transactions')}),
	'digital_events:v products:v transactions:v 40', $_->name . ' has the three views, reading the user\'s tables') for @workers;
is($coord->safe_psql('src', q{
	SELECT count(*) FILTER (WHERE d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'public.sales'::regclass))
	       || ' of ' || count(*)
	  FROM pg_dist_partition d WHERE d.logicalrelid::text LIKE 'seg_reco.%' AND d.partmethod = 'h'
	   AND d.logicalrelid <> 'seg_reco.nonmember_transactions'::regclass}),
	'14 of 14', 'seg_reco\'s per-customer tables are co-located with the user\'s lines');
is($coord->safe_psql('src', q{
	SELECT count(*) FROM pg_dist_object o
	 WHERE o.classid = 'pg_proc'::regclass AND o.distribution_argument_index = 0
	   AND o.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'public.sales'::regclass)}),
	'5', 'and so are the serving functions');

$_->safe_psql('src', $refresh) for ($plain, $coord);
is($coord->safe_psql('src', $steps), $plain->safe_psql('src', $steps),
	'refresh(\'full\') over the sources: every step, with the single node\'s row counts');
same_on_both(q{SELECT * FROM seg_reco.customer_features}, 'sources: customer_features', 'src');
same_on_both(q{SELECT * FROM seg_reco.customer_segments}, 'sources: customer_segments', 'src');
same_on_both(q{SELECT * FROM seg_reco.customer_clusters}, 'sources: customer_clusters', 'src');
same_on_both(q{SELECT * FROM seg_reco.customer_value}, 'sources: customer_value', 'src');
same_on_both(q{SELECT * FROM seg_reco.segment_summary}, 'sources: segment_summary', 'src');
same_on_both(q{SELECT * FROM seg_reco.cohorts}, 'sources: cohorts', 'src');
same_on_both(q{SELECT * FROM seg_reco.segment_popularity}, 'sources: segment popularity', 'src');
same_on_both(q{SELECT * FROM seg_reco.recommendations}, 'sources: the recommendations view', 'src');
my $served = join(' UNION ALL ', map { "SELECT $_ AS c, r.* FROM seg_reco.recommend_for($_, 5) r" } (1, 17, 42, 89, 97, 98));
same_on_both($served, 'sources: recommend_for of six members (one without lines)', 'src');
is($coord->safe_psql('src', q{SELECT count(*) FROM seg_reco.recommend_for(42, 5)}), '5',
	'recommend_for(42) on the coordinator, delegated to the worker holding member 42');
# the incremental refresh over the user's distributed lines: no trigger
# on them, the changed members found by comparing in the shards
my $next_day = q{
	INSERT INTO public.sales
	SELECT member_id, line_no + 100000, receipt + 100000, sku, shop, sold_at + interval '1 day', qty, price, net
	  FROM public.sales WHERE sold_at::date = (SELECT max(sold_at)::date FROM public.sales);
	UPDATE public.sales SET net = net + 1 WHERE line_no = 7;
	SET client_min_messages = warning;
	CALL seg_reco.refresh();};
$_->safe_psql('src', $next_day) for ($plain, $coord);
is($coord->safe_psql('src', q{
	SELECT kind || ' ' || (detail ->> 'changes') FROM seg_reco.refresh_log
	 WHERE step = 'customer_features' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)}),
	'incremental compared with the lines (Citus)', 'a new day: an incremental run, the changes found by comparing');
same_on_both(q{SELECT * FROM seg_reco.customer_features}, 'sources, incremental: customer_features', 'src');
same_on_both(q{SELECT * FROM seg_reco.recommendations}, 'sources, incremental: the recommendations view', 'src');
is($coord->safe_psql('src', 'SELECT count(*) FROM seg_reco.customer_state_check()'), '0',
	'sources, incremental: every member\'s state matches the lines');
($ret, $out, $err) = $coord->psql('src', $use);
like($err, qr/ERROR:  seg_reco\.transactions is distributed by Citus \(seg_reco\.distribute\(\)\)\nDETAIL:  distribute\(\) set seg_reco's tables up for the current source, public\.sales/,
	'use_source after distribute() is refused') or diag($err);
# DROP EXTENSION with a source set takes the views on the workers with it
# (Citus made them there, not as extension members): a new CREATE
# EXTENSION finds the workers clean and gives them their empty tables again
$coord->safe_psql('src', q{
	SET client_min_messages = warning;
	DROP EXTENSION seg_reco CASCADE;
	CREATE EXTENSION seg_reco;});
is($_->safe_psql('src', q{SELECT relkind FROM pg_class WHERE oid = 'seg_reco.transactions'::regclass}), 'r',
	'after DROP EXTENSION and CREATE EXTENSION ' . $_->name . ' has the empty table again') for @workers;
is($coord->safe_psql('src', q{SELECT count(*) FROM seg_reco.sources}), '0', 'and no source is set');
is($coord->safe_psql('src', q{SELECT (SELECT count(*) FROM public.sales) || ' ' || partmethod::text
                                 FROM pg_dist_partition WHERE logicalrelid = 'public.sales'::regclass}),
	$plain->safe_psql('src', q{SELECT count(*) FROM public.sales}) . ' h', 'the user\'s distributed lines are untouched');

$_->stop for (@nodes, $plain);
done_testing();
