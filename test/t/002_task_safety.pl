# Worker threads call no PostgreSQL function (src/threads.h).  The top-k
# selection of recommend_all runs on worker threads and once checked for
# interrupts every 2^20 products: with a catalogue that large and an
# interrupt pending (here a statement timeout), a worker thread ran the
# interrupt handler and threw an ERROR on a thread PostgreSQL knows nothing
# of, which takes the whole server down.  Now the statement is cancelled
# cleanly by the backend's own thread and the session goes on.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('task_safety');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_workers_per_gather = 0\nshared_buffers = 256MB\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION seg_reco');

# 2^20 + 4,096 products, each bought by one of 600 customers
my $products = 1048576 + 4096;
$node->safe_psql('postgres', qq{
	CREATE TABLE big_inter AS
	SELECT (p % 600) + 1 AS customer_id, p::bigint AS product_id, 1.0::float8 AS weight
	  FROM generate_series(1, $products) p;
	SELECT (seg_reco.als_train('big', factors => 4, iterations => 2,
	                           source => 'SELECT customer_id, product_id, weight FROM public.big_inter')).kind;});
is($node->safe_psql('postgres', q{SELECT count(*) FROM seg_reco.als_product_factors WHERE model = 'big'}),
	$products, 'a model over more than 2^20 products');

# the path itself, to the end, on two threads
is($node->safe_psql('postgres', q{
	SET seg_reco.threads = 2;
	SELECT count(*) FROM seg_reco.recommend_all('big', 3, only_active => false)
	 WHERE customer_id <= 20}),
	'60', 'recommend_all over 2^20+ products on two threads');

# statement timeouts while the workers select over 2^20+ products: clean
# cancels, and the server still up.  Where a timeout lands is up to the
# clock, so several land at different points of the call; four threads make
# a worker thread, rather than the backend's own, the likely one to meet the
# pending interrupt first.
for my $ms (300, 450, 600, 750, 900, 1050)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres', qq{
		SET seg_reco.threads = 4;
		SET statement_timeout = '${ms}ms';
		SELECT count(*) FROM seg_reco.recommend_all('big', 3, only_active => false);});
	like($stderr, qr/canceling statement due to statement timeout/,
		"a timeout after $ms ms cancels recommend_all cleanly");
}
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated/, 'no backend crashed');

$node->stop;
done_testing();
