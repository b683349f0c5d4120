# Upgrade path: for every shipped version V of seg_reco (a script
# seg_reco--V.sql installed beside the current one), a database created at V,
# given data and models, served by the current module while still at V, and
# then brought to the current version with ALTER EXTENSION UPDATE must hold
# exactly the objects of a fresh CREATE EXTENSION of the current version,
# and keep its users' data, settings and models.
#
# The schemas are compared as pg_dump --schema-only --binary-upgrade prints
# them (that mode lists every member object of an extension, with its
# definition, owner, privileges and comment), less the lines that carry
# object ids.  Rows the extension ships (tables that are members but not
# configuration tables, and the builtin rows of configuration tables with a
# filter) must be equal too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "timezone = 'Europe/Oslo'\nmax_parallel_workers_per_gather = 0\n");
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'seg_reco'");
my @old = split /\n/, $node->safe_psql('postgres',
	"SELECT version FROM pg_available_extension_versions
	  WHERE name = 'seg_reco' AND version <> '$current'
	  ORDER BY string_to_array(version, '.')::int[]");
ok($current ne '', "current version is $current");
ok(scalar(@old) >= 1, 'at least one earlier version ships: ' . join(', ', @old));

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION seg_reco');

# the schema of one database as pg_dump sees it, without object ids
sub schema_of
{
	my ($db) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run(
		[ 'pg_dump', '--schema-only', '--binary-upgrade', '--no-sync',
		  '-d', $node->connstr($db) ],
		'>', \$out, '2>', \$err);
	die "pg_dump $db failed: $err" unless $ok;
	# the transaction ids a table was frozen at
	$out =~ s/UPDATE pg_catalog\.pg_class\nSET relfrozenxid = '\d+', relminmxid = '\d+'\nWHERE oid = [^\n]*;\n//g;
	my @keep;
	for my $line (split /\n/, $out)
	{
		next if $line =~ /binary_upgrade_set_next_/;
		next if $line =~ /^\\(un)?restrict /;
		next if $line =~ /^--/ || $line eq '';
		# sequences' positions are data, not schema
		next if $line =~ /^SELECT pg_catalog\.setval\(/;
		# the configuration tables are listed by oid: compared by name below
		$line =~ s/(binary_upgrade_create_empty_extension\('seg_reco', 'seg_reco', \w+, '[^']*'), .*/$1, ...);/;
		push @keep, $line;
	}
	return join("\n", @keep) . "\n";
}

# configuration tables with their filters, by name
my $config_sql = q{
	SELECT c::regclass || ' ' || cond
	  FROM pg_extension, unnest(extconfig, extcondition) u(c, cond)
	 WHERE extname = 'seg_reco' ORDER BY 1};

# the rows the extension itself ships: the rows of the member tables that
# are not configuration tables (those a fresh install fills: the others hold
# the pipeline's output), and the rows of filtered configuration tables that
# the filter leaves out
sub shipped_rows
{
	my ($db, $only) = @_;
	my @tables = split /\n/, $node->safe_psql($db, q{
		SELECT format('%s|%s', c.oid::regclass,
		              coalesce((SELECT cond FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(t, cond)
		                         WHERE e.extname = 'seg_reco' AND u.t = c.oid), '-'))
		  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'seg_reco')
		   AND c.relkind = 'r'
		 ORDER BY 1});
	my $all = '';
	for my $t (@tables)
	{
		my ($name, $cond) = split /\|/, $t, 2;
		next if defined $only && !exists $only->{$name};
		my $sql;
		if ($cond eq '-') { $sql = "SELECT x::text FROM $name x ORDER BY 1"; }
		elsif ($cond eq '') { next; }
		else { $sql = "SELECT x::text FROM (TABLE $name EXCEPT SELECT * FROM $name $cond) x ORDER BY 1"; }
		$all .= "== $name\n" . $node->safe_psql($db, $sql) . "\n";
	}
	return $all;
}

# fingerprints of the users' data: every configuration table, over the
# columns it has at the old version (so a later version may add columns)
sub fingerprint_queries
{
	my ($db) = @_;
	return split /\n/, $node->safe_psql($db, q{
		SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(r, E''\n'' ORDER BY r)), ''-'') FROM (SELECT ROW(%s)::text AS r FROM %s %s) s',
		              c.oid::regclass,
		              (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
		                 FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped),
		              c.oid::regclass, u.cond)
		  FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(t, cond)
		  JOIN pg_class c ON c.oid = u.t
		 WHERE e.extname = 'seg_reco' AND c.relkind = 'r'
		 ORDER BY c.oid::regclass::text});
}

sub fingerprints
{
	my ($db, @queries) = @_;
	return join("\n", map { $node->safe_psql($db, $_) } @queries) . "\n";
}

# is() for long texts: on a difference, show a unified diff, not both texts
sub same_text
{
	my ($got, $want, $name) = @_;
	return pass($name) if $got eq $want;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	PostgreSQL::Test::Utils::append_to_file("$dir/want", $want);
	PostgreSQL::Test::Utils::append_to_file("$dir/got", $got);
	my ($out, $err);
	IPC::Run::run([ 'diff', '-u', "$dir/want", "$dir/got" ], '>', \$out, '2>', \$err);
	diag("--- fresh install\n+++ updated\n" . substr($out, 0, 20000));
	return fail($name);
}

my $fresh_schema = schema_of('fresh');
my $fresh_config = $node->safe_psql('fresh', $config_sql);
my $fresh_rows = shipped_rows('fresh');
# the tables a fresh install ships rows in
my %shipping = map { $_ => 1 } ($fresh_rows =~ /^== (\S+)\n(?!\n|==|\z)/mg);
$fresh_rows = shipped_rows('fresh', \%shipping);
ok(scalar(keys %shipping) >= 3, 'a fresh install ships rows in ' . join(', ', sort keys %shipping));
like($fresh_schema, qr/CREATE FUNCTION seg_reco\.recommend_for/, 'the fresh schema dump lists extension members');

for my $v (@old)
{
	my $db = 'from_' . ($v =~ s/\./_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION seg_reco VERSION '$v'");
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'"),
		$v, "$v: installed");

	# data, settings and models, made by the current module at the old SQL
	# version (the module must serve a database not yet updated)
	$node->safe_psql($db, q{
		SET client_min_messages = warning;
		SELECT count(*) FROM seg_reco.generate_demo_data(customers => 400, products => 150,
		    transactions => 40000, digital_events => 4000, seed => 11);
		INSERT INTO seg_reco.settings (key, value) VALUES ('recommendations_per_customer', '5');
		INSERT INTO seg_reco.rfm_segments (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max, builtin)
		VALUES (0, 'Upgrade test', 5, 5, 5, 5, 5, 5, false);
		CALL seg_reco.refresh();
		SELECT seg_reco.kmeans_save('upgrade_km',
		    (SELECT seg_reco.kmeans_train(ARRAY[recency_days::float8, frequency::float8], 3, '{"seed": 3}')
		       FROM seg_reco.rfm_score() WHERE frequency > 0));});
	my $served = $node->safe_psql($db, q{
		SELECT (SELECT count(*) FROM seg_reco.customer_segments) > 0,
		       (SELECT count(*) FROM seg_reco.recommendations) > 0,
		       (SELECT count(*) FROM seg_reco.recommend_for((SELECT min(customer_id) FROM seg_reco.transactions), 5)) = 5,
		       (SELECT count(*) FROM seg_reco.models) >= 3,
		       (SELECT count(*) FROM seg_reco.refresh_log
		         WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND row_count > 0) = 9});
	is($served, 't|t|t|t|t', "$v: the current module runs the pipeline and serves at the old SQL version");

	my @queries = fingerprint_queries($db);
	my $before = fingerprints($db, @queries);
	my $reco_sql = q{SELECT count(*) || ' ' || md5(string_agg(r::text, ',' ORDER BY r.customer_id, r.rank))
		FROM seg_reco.recommendations r};
	my $reco_before = $node->safe_psql($db, $reco_sql);

	$node->safe_psql($db, 'ALTER EXTENSION seg_reco UPDATE');
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'seg_reco'"),
		$current, "$v: updated to $current");

	same_text(schema_of($db), $fresh_schema, "$v -> $current: the same objects as a fresh install");
	is($node->safe_psql($db, $config_sql), $fresh_config, "$v -> $current: the same configuration tables and filters");
	same_text(shipped_rows($db, \%shipping), $fresh_rows, "$v -> $current: the same rows shipped by the extension");
	same_text(fingerprints($db, @queries), $before, "$v -> $current: users' data, settings and models kept");
	is($node->safe_psql($db, $reco_sql), $reco_before,
		"$v -> $current: the recommendations view kept its rows");

	# and the updated database runs the pipeline again (0.2.0 adds the steps rules and cohorts: 11 steps)
	$node->safe_psql($db, 'SET client_min_messages = warning; CALL seg_reco.refresh()');
	is($node->safe_psql($db, q{
		SELECT count(*) = 11 FROM seg_reco.refresh_log
		 WHERE run_id = (SELECT max(run_id) FROM seg_reco.refresh_log) AND row_count > 0}),
		't', "$v -> $current: refresh() runs after the update");
}

$node->stop;
done_testing();
