# Retraining an ALS model under the same name (the nightly job) replaces
# its factor rows.  The rows of ids no longer in the model used to be
# deleted by an anti-join of the factor table with unnest(ids); while the
# statistics of the rows just written were stale the planner chose a nested
# loop over all ids, and the second training in a row took 36 times as long
# as the first at 10x the demo scale (issue 12).  The delete now goes by
# primary key over the ids found gone by a merge in C: its plan has no join
# whatever the statistics.  auto_explain shows the plans of the statements
# als_train runs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('retrain');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION seg_reco;
	CREATE TABLE inter AS
	SELECT c AS customer_id, (c * 7 + i) % 300 AS product_id, 1.0::float8 AS weight
	  FROM generate_series(1, 3000) c, generate_series(1, 5) i;});

my $train = q{SELECT (seg_reco.als_train('nightly', factors => 4, iterations => 2,
	source => 'SELECT customer_id, product_id, weight FROM public.inter')).kind};
$node->safe_psql('postgres', $train);

# the next night: a tenth of the customers and a few products are gone
$node->safe_psql('postgres', 'DELETE FROM inter WHERE customer_id % 10 = 0 OR product_id < 5');
my $log_offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', qq{
	LOAD 'auto_explain';
	SET auto_explain.log_min_duration = 0;
	SET auto_explain.log_nested_statements = on;
	$train;});
is($ret, 0, 'the retrain under the same name runs');

my $log = substr(slurp_file($node->logfile), $log_offset);
my @deletes = grep { /Delete on als_(customer|product)_factors/ } split /(?=LOG:  duration)/, $log;
is(scalar(@deletes), 2, 'two deletes of factor rows, one per table');
for my $plan (@deletes)
{
	my ($table) = $plan =~ /Delete on (als_\w+_factors)/;
	unlike($plan, qr/Join|Nested Loop/, "the delete from $table joins nothing");
}

is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM seg_reco.als_customer_factors WHERE model = 'nightly'),
	       (SELECT count(DISTINCT customer_id) FROM inter),
	       (SELECT count(*) FROM seg_reco.als_customer_factors f WHERE model = 'nightly'
	           AND NOT EXISTS (SELECT 1 FROM inter i WHERE i.customer_id = f.customer_id)),
	       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'nightly'),
	       (SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'nightly' AND product_id < 5)}),
	'2690|2690|0|295|0', 'the factor rows are exactly those of the retrained model');

$node->stop;
done_testing();
