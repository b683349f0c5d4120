# The recommendations view under a refresh (issue 12): seg_reco.recommendations
# is a view over two slot tables and a pointer to the served one; refresh()
# fills the idle slot and swaps the pointer in its transaction, and empties
# the idle slot with TRUNCATE in short transactions of its own, before the
# fill and after the swap.  Readers must never wait longer than the lock
# timeout (recommendations_lock_timeout_ms), never see a mix of old and new
# lists, and never see an emptied slot:
#  1. a reader that keeps both slots locked (an open transaction that read
#     the view): every TRUNCATE attempt gives up after the timeout, the
#     refresh falls back to DELETE and completes; other readers, probing
#     all along, wait at most about the timeout, and each sees the lists of
#     one generation only (each generation has its own list length);
#  2. a REPEATABLE READ reader whose snapshot predates the swap: after the
#     swap it still reads the retired slot, so that slot is not truncated
#     (TRUNCATE is not MVCC-safe: the reader would find it empty).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $timeout_ms = 300;

my $node = PostgreSQL::Test::Cluster->new('reco_swap');
$node->init;
# no autovacuum: its locks on the slots would make the attempts' outcomes vary
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;
$node->safe_psql('postgres', qq{
	SET client_min_messages = warning;
	CREATE EXTENSION seg_reco;
	SELECT count(*) FROM seg_reco.generate_demo_data(customers => 400, products => 150,
	    transactions => 40000, digital_events => 4000, seed => 11);
	INSERT INTO seg_reco.settings VALUES ('recommendations_lock_timeout_ms', '$timeout_ms');});
my $customers = $node->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.customers');

# each generation's lists have a length of their own: a reader that saw
# lists of two lengths would have seen a mix
sub set_length
{
	my ($n) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO seg_reco.settings VALUES ('recommendations_per_customer', '$n')
		    ON CONFLICT (key) DO UPDATE SET value = excluded.value});
}

# what one statement sees: the pointer's generation, the shortest and
# longest list, the customers listed
my $lists_sql = q{
	SELECT g.generation || ' ' || min(x.n) || ' ' || max(x.n) || ' ' || count(*)
	  FROM (SELECT customer_id, count(*) AS n FROM seg_reco.recommendations GROUP BY customer_id) x,
	       seg_reco.recommendations_active g
	 GROUP BY g.generation};

sub last_log
{
	my ($path) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT detail #>> '{$path}' FROM seg_reco.refresh_log
		 WHERE step = 'recommendations' AND run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)});
}

# generation 1 (3 products each) in one slot; generation 2 (4 each) in the
# other, with the retired slot left full (timeout 0: no TRUNCATE)
set_length(3);
$node->safe_psql('postgres', 'SET client_min_messages = warning; CALL seg_reco.refresh()');
$node->safe_psql('postgres', q{INSERT INTO seg_reco.settings VALUES ('recommendations_lock_timeout_ms', '0')
	ON CONFLICT (key) DO UPDATE SET value = excluded.value});
set_length(4);
$node->safe_psql('postgres', 'SET client_min_messages = warning; CALL seg_reco.refresh()');
$node->safe_psql('postgres', qq{UPDATE seg_reco.settings SET value = '$timeout_ms'
	WHERE key = 'recommendations_lock_timeout_ms'});
is($node->safe_psql('postgres', $lists_sql), "2 4 4 $customers", 'generation 2 is served: 4 products for every customer');
is(last_log('after_swap,emptied'), 'no', 'the retired slot was left full (timeout 0)');
ok($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM seg_reco.recommendations_a) > 0
	AND (SELECT count(*) FROM seg_reco.recommendations_b) > 0}) eq 't', 'both slots hold lists');

# 1. a dashboard's open transaction that read the view keeps ACCESS SHARE
# on both slots (no snapshot: READ COMMITTED, idle in transaction)
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
is($holder->query_safe("SELECT count(*) FROM seg_reco.recommendations"), 4 * $customers,
	'the holder read the view');

set_length(5);
my ($out, $err) = ('', '');
my $t_start = time;
my $refresh = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', 'SET client_min_messages = warning', '-c', 'CALL seg_reco.refresh()' ],
	'>', \$out, '2>', \$err);

# readers probe the view (and recommend_for) while the refresh runs
my $probe = $node->background_psql('postgres');
my $customer = $node->safe_psql('postgres', 'SELECT min(customer_id) FROM seg_reco.customers');
my ($probes, $max_wait, $mixed, %seen) = (0, 0, 0);
my $deadline = time + 180;
while ($refresh->pumpable && time < $deadline)
{
	$refresh->pump_nb;
	for my $sql ($lists_sql,
		"SELECT count(*) FROM seg_reco.recommendations WHERE customer_id = $customer",
		"SELECT count(*) FROM seg_reco.recommend_for($customer, 5)")
	{
		my $t0 = time;
		my $res = $probe->query_safe($sql);
		my $wait = time - $t0;
		$max_wait = $wait if $wait > $max_wait;
		$probes++;
		next unless $sql eq $lists_sql;
		my ($generation, $min, $max, $listed) = split / /, $res;
		$mixed++ if $min != $max || $listed != $customers || $min != $generation + 2;
		$seen{$generation} = 1;
	}
}
my $finished = $refresh->finish;
my $t_refresh = time - $t_start;
ok($finished, 'refresh() completes while a reader holds both slots') or diag($err);
diag(sprintf('%d probes during %.1f s; longest %.0f ms (lock timeout %d ms)',
	$probes, $t_refresh, 1000 * $max_wait, $timeout_ms));
ok($probes >= 20, "readers probed all along ($probes probes)");
cmp_ok(1000 * $max_wait, '<', $timeout_ms + 700, 'no reader waited much longer than the lock timeout');
is($mixed, 0, 'every probe saw the complete lists of one generation');
ok(exists $seen{2} && exists $seen{3}, 'the probes saw generation 2, then 3');
is($node->safe_psql('postgres', $lists_sql), "3 5 5 $customers", 'generation 3 (5 products each) is served');
is(last_log('before_fill,emptied'), 'no', 'before the fill: TRUNCATE gave up');
like(last_log('before_fill,reason'), qr/readers held the slot longer than $timeout_ms ms/, 'because readers held the slot');
is(last_log('before_fill,attempts'), '5', 'after 5 attempts');
is(last_log('deleted_rows'), 3 * $customers, 'the fill emptied the idle slot with DELETE (generation 1)');
is(last_log('after_swap,emptied'), 'no', 'after the swap: the retired slot is still locked by the holder');

# the holder's transaction is read committed: its next statement sees the new lists
is($holder->query_safe("SELECT count(*) FROM seg_reco.recommendations"), 5 * $customers,
	'the holder\'s next statement sees generation 3');
$holder->query_safe('COMMIT');
$holder->quit;

# 2. a REPEATABLE READ reader whose snapshot predates the next swap, and that
# has not read the view yet (so it holds no lock a TRUNCATE would wait for)
my $old = $node->background_psql('postgres');
$old->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old->query_safe('SELECT 1');
set_length(6);
$node->safe_psql('postgres', 'SET client_min_messages = warning; CALL seg_reco.refresh()');
is($node->safe_psql('postgres', $lists_sql), "4 6 6 $customers", 'generation 4 (6 products each) is served');
is(last_log('before_fill,emptied'), 'truncate', 'before the fill: the idle slot (generation 2) truncated at once');
is(last_log('after_swap,emptied'), 'no', 'after the swap: the retired slot is left alone');
is(last_log('after_swap,reason'), 'a session holds a snapshot from before the last swap',
	'because a snapshot from before the swap still reads it');
is($old->query_safe($lists_sql), "3 5 5 $customers",
	'the old snapshot reads generation 3, complete, not an emptied slot');
$old->query_safe('COMMIT');
$old->quit;

# with no such reader left, the next refresh empties both ways with TRUNCATE
set_length(3);
$node->safe_psql('postgres', 'SET client_min_messages = warning; CALL seg_reco.refresh()');
is($node->safe_psql('postgres', $lists_sql), "5 3 3 $customers", 'generation 5 is served');
is(last_log('before_fill,emptied') . ' ' . last_log('deleted_rows') . ' ' . last_log('after_swap,emptied'),
	'truncate 0 truncate', 'with no reader in the way: TRUNCATE before and after, no DELETE');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT * FROM seg_reco.recommendations_a UNION ALL SELECT * FROM seg_reco.recommendations_b) s}),
	3 * $customers, 'only the served slot holds rows');

# 3. the partial rebuild (refresh_recommendations(customer_ids)) swaps the
# same way: while a reader holds both slots and others probe, it completes;
# each probe sees either generation 5 (3 products for everyone) or
# generation 6 (4 for the 100 given customers, 3 for the others), never a mix
my $some = '(SELECT array_agg(customer_id) FROM (SELECT customer_id FROM seg_reco.customers ORDER BY customer_id LIMIT 100) c)';
my $partial_sql = qq{
	SELECT g.generation || ' ' || coalesce(string_agg(DISTINCT x.given || ':' || x.n, ','), '')
	  FROM (SELECT r.customer_id IN (SELECT customer_id FROM seg_reco.customers ORDER BY customer_id LIMIT 100) AS given,
	               count(*) AS n
	          FROM seg_reco.recommendations r GROUP BY r.customer_id) x,
	       seg_reco.recommendations_active g
	 GROUP BY g.generation};
$holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
is($holder->query_safe("SELECT count(*) FROM seg_reco.recommendations"), 3 * $customers,
	'a reader holds both slots');
set_length(4);
($out, $err) = ('', '');
$refresh = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	  '-c', 'SET client_min_messages = warning',
	  '-c', "SELECT seg_reco.refresh_recommendations($some) ->> 'kind'" ],
	'>', \$out, '2>', \$err);
my ($pprobes, $pmax, $pbad, %pseen) = (0, 0, 0);
$deadline = time + 120;
while ($refresh->pumpable && time < $deadline)
{
	$refresh->pump_nb;
	my $t0 = time;
	my $res = $probe->query_safe($partial_sql);
	my $wait = time - $t0;
	$pmax = $wait if $wait > $pmax;
	$pprobes++;
	my ($generation, $lengths) = split / /, $res;
	$pseen{$generation} = 1;
	$pbad++ unless ($generation == 5 && $lengths eq 'false:3,true:3')
	  || ($generation == 6 && $lengths eq 'false:3,true:4');
}
ok($refresh->finish, 'the partial rebuild completes while a reader holds both slots') or diag($err);
like($out, qr/^partial$/m, 'it was a partial rebuild');
diag(sprintf('%d probes during the partial rebuild; longest %.0f ms', $pprobes, 1000 * $pmax));
is($pbad, 0, 'every probe saw one generation: all old lists, or the new ones of the given customers and the old of the others');
cmp_ok(1000 * $pmax, '<', $timeout_ms + 700, 'no reader waited much longer than the lock timeout');
is($node->safe_psql('postgres', $partial_sql), '6 false:3,true:4', 'generation 6: new lists for the given customers only');
$holder->query_safe('COMMIT');
$holder->quit;

$probe->quit;
$node->stop;
done_testing();
