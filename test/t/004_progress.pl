# Progress of long work (issue 12): while generate_demo_data() or refresh()
# runs in one session, another sees in seg_reco.progress which step it is
# on and how far along, before anything commits; the entry goes when the
# call ends, is cancelled or its backend crashes, and a record left by a
# process that is gone is never shown (a pid now used by another process
# included).  The caller gets NOTICE messages when it asks for them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('progress');
$node->init;
# the crash test (5) needs the server to restart after it
$node->append_conf('postgresql.conf', "autovacuum = off\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION seg_reco');

my $worker = $node->background_psql('postgres', on_error_stop => 0);
my $watcher = $node->background_psql('postgres');
my $wpid;
$wpid = worker_sql('SELECT pg_backend_pid()');
my $stat_tmp = $node->data_dir . '/pg_stat_tmp';
my $wfile = "$stat_tmp/seg_reco_progress.$wpid";

# start $sql in the worker session; it runs while the test goes on
sub start_in_worker
{
	my ($sql) = @_;
	$worker->{stderr} = '';
	$worker->query_until(qr/started/, "\\echo started\n$sql;\n\\echo finished\n");
}

# run $sql in the worker session and wait for its result
sub worker_sql
{
	my ($sql) = @_;
	$worker->{stderr} = '';
	return $worker->query_safe($sql);
}

# the worker's row of seg_reco.progress, or undef
sub worker_row
{
	my $out = $watcher->query_safe(qq{
		SELECT p.command, coalesce(p.step, ''), coalesce(p.step_number, 0),
		       coalesce(p.done, -1), coalesce(p.total, -1), coalesce(p.detail, '')
		  FROM seg_reco.progress p WHERE p.pid = $wpid});
	return undef if $out eq '';
	return [ split /\|/, $out, -1 ];
}

# poll until the worker's statement ends (or $until returns true for a
# row); returns the rows seen
sub watch
{
	my ($until) = @_;
	my @seen;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		my $row = worker_row();
		push @seen, $row if defined $row;
		last if defined $row && $until && $until->($row);
		$worker->{run}->pump_nb();
		last if $worker->{stdout} =~ /finished/;
		usleep(20_000);
	}
	return @seen;
}

# wait for the worker's statement to end
sub wait_worker
{
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	until ($worker->{stdout} =~ /finished/ || time() > $deadline)
	{
		$worker->{run}->pump_nb();
		usleep(20_000);
	}
	$worker->{stdout} = '';
}

# 1. generate_demo_data: the steps, and the lines made so far of the total
my $record;
start_in_worker('SELECT count(*) FROM seg_reco.generate_demo_data(customers => 10000, '
	  . 'transactions => 1000000, digital_events => 10000)');
my @seen = watch(
	sub {
		# keep one record as written, for the stale-record tests below
		$record = slurp_file($wfile) if !defined $record && -e $wfile;
		return 0;
	});
ok(scalar(@seen) > 0, 'another session sees generate_demo_data in progress');
is((grep { $_->[0] ne 'generate_demo_data' } @seen), 0, 'every row names the command');
my @steps = map { $_->[2] } @seen;
is_deeply([ sort { $a <=> $b } @steps ], \@steps, 'the step numbers only go up');
my @lines = map { $_->[3] } grep { $_->[1] eq 'transactions' } @seen;
my %distinct = map { $_ => 1 } @lines;
ok(scalar(keys %distinct) >= 2,
	'it sees the lines made so far grow during the step transactions (' . join(' ', sort { $a <=> $b } keys %distinct) . ')');
is_deeply([ sort { $a <=> $b } @lines ], \@lines, 'the count of lines only goes up');
ok(!grep({ $_->[1] eq 'transactions' && ($_->[4] != 1000000 || $_->[3] > 1000000) } @seen),
	'of the 1,000,000 lines asked for');
wait_worker();
is(worker_row(), undef, 'the entry is gone when the call has ended');
ok(!-e $wfile, 'and so is its file');
is($node->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.transactions'), '1000000',
	'the call did its work');

# 2. refresh() with NOTICE messages: its steps, in order
worker_sql('SELECT count(*) FROM seg_reco.generate_demo_data(customers => 2000, transactions => 150000, digital_events => 5000)');
worker_sql('SET seg_reco.progress_messages = on');
start_in_worker('CALL seg_reco.refresh()');
@seen = watch();
my @names = qw(customer_features clusters customer_value content popularity rules als_model
  recommendations customer_segments segment_summary cohorts);
ok(scalar(@seen) > 0, 'another session sees refresh() in progress');
# (step 0 with no name: begun, the first step not yet started)
ok(!grep({ $_->[0] ne 'refresh' || ($_->[2] == 0 ? $_->[1] ne '' : $_->[1] ne $names[ $_->[2] - 1 ]) } @seen),
	'every row names the command and a step under its number');
my %steps_seen = map { $_->[1] => 1 } @seen;
note 'steps seen: ' . join(' ', grep { $steps_seen{$_} } @names);
@steps = map { $_->[2] } @seen;
is_deeply([ sort { $a <=> $b } @steps ], \@steps, 'the steps go in order');
wait_worker();
is(worker_row(), undef, 'the entry is gone when refresh() has ended');
ok(!-e $wfile, 'and so is its file');
like($worker->{stderr}, qr/NOTICE:  refresh: step 1 of 11: customer_features\n/,
	'the caller got a message at the start of the first step');
like($worker->{stderr}, qr/NOTICE:  refresh > als_train: step 2 of 3: iterations \(15 iterations\)\n/,
	'and at the start of the inner command\'s steps');
like($worker->{stderr}, qr/nextbasket_build: step 2 of 3: vectors\n/,
	'the next-basket build reports its vectors apart from the scan of the lines (which counts the rows read)');
like($worker->{stderr}, qr/NOTICE:  refresh: cohorts done\n.*NOTICE:  refresh: done\n/s,
	'and at the end of the last step and of the call');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE peak_memory_bytes > 0) FROM seg_reco.refresh_log
	 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log)}),
	'11', 'each step is logged with the peak memory of the backend');
worker_sql('RESET seg_reco.progress_messages');

# 3. a cancelled call: the entry goes
start_in_worker('SELECT count(*) FROM seg_reco.generate_demo_data(customers => 10000, '
	  . 'transactions => 1000000, digital_events => 10000)');
@seen = watch(sub { $_[0]->[1] eq 'transactions' && $_[0]->[3] > 0 });
ok(scalar(@seen) > 0 && $seen[-1]->[1] eq 'transactions', 'the call is under way');
$watcher->query_safe("SELECT pg_cancel_backend($wpid)");
wait_worker();
like($worker->{stderr}, qr/canceling statement due to user request/, 'the call was cancelled');
is(worker_row(), undef, 'the entry is gone after the cancel');
ok(!-e $wfile, 'and so is its file');

# 4. records left by processes that are gone are never shown
ok(defined $record && length($record) > 16, 'a record was kept from the first call');
# a process that is gone: a session that has ended
my $gone = $node->background_psql('postgres');
my $gone_pid = $gone->query_safe('SELECT pg_backend_pid()');
$gone->quit;
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $gone_pid)")
  or die 'the ended session did not go';
my $gone_file = "$stat_tmp/seg_reco_progress.$gone_pid";
my $forged = $record;
substr($forged, 8, 4) = pack('l<', $gone_pid);
append_to_file($gone_file, $forged);
# a live backend (the watcher) that did not write it: an earlier process
# with the same pid did (its start time is another)
my $watcher_pid = $watcher->query_safe('SELECT pg_backend_pid()');
my $reused_file = "$stat_tmp/seg_reco_progress.$watcher_pid";
$forged = $record;
substr($forged, 8, 4) = pack('l<', $watcher_pid);
# (its start time set apart: the record's own is the first worker's, which
# may fall in the same clock tick as the watcher's, both sessions having
# started together)
substr($forged, 16, 8) = pack('Q<', 1);
append_to_file($reused_file, $forged);
is($watcher->query_safe('SELECT count(*) FROM seg_reco.progress'), '0',
	'neither record is shown');
ok(!-e $gone_file, 'the record of the process that is gone is removed');

# 5. a backend that crashed: its record stays behind, and is not shown
start_in_worker('SELECT count(*) FROM seg_reco.generate_demo_data(customers => 10000, '
	  . 'transactions => 1000000, digital_events => 10000)');
@seen = watch(sub { $_[0]->[1] eq 'transactions' });
ok(scalar(@seen) > 0, 'the call is under way');
$watcher->quit;
kill 'KILL', $wpid;
$worker->{run}->finish;
$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'the server did not come back';
ok(-e $wfile, 'the killed backend left its record');
is($node->safe_psql('postgres', 'SELECT count(*) FROM seg_reco.progress'), '0',
	'it is not shown after the restart');
ok(!-e $wfile, 'and is removed');
unlink $reused_file;

$node->stop;
done_testing();
