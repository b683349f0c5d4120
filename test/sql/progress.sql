-- Progress of long work (issue 12): the view seg_reco.progress, the
-- functions commands report their steps with, what the end of a
-- transaction or subtransaction does to them, who may see them, and the
-- NOTICE messages of seg_reco.progress_messages.  Other sessions watching
-- running commands (refresh, generate_demo_data), a cancel and a crashed
-- backend: test/t/004_progress.pl.  refresh()'s messages and the peak
-- memory of its steps: test refresh.
\set VERBOSITY terse
\set SHOW_CONTEXT never

-- the view's columns
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a WHERE a.attrelid = 'seg_reco.progress'::regclass AND a.attnum > 0
 ORDER BY a.attnum;
SELECT count(*) AS in_progress FROM seg_reco.progress;

-- a command with steps, as its own session sees it
BEGIN;
SELECT seg_reco._progress_begin('test_command', 3);
SELECT pid = pg_backend_pid() AS own, command, step, step_number, steps, done, total, unit, percent,
       detail, step_started = started AS not_stepped, updated >= started AS written,
       memory_bytes > 0 AS resident, peak_memory_bytes >= memory_bytes AS peak
  FROM seg_reco.progress;
SELECT seg_reco._progress_step('test_command', 'load', 200, 'rows', 'from the test');
SELECT seg_reco._progress_done('test_command', 50);
SELECT command, step, step_number, steps, done, total, unit, percent, detail,
       step_started >= started AS ordered
  FROM seg_reco.progress;
-- an inner command: its counts are shown, its name and step in detail
SELECT seg_reco._progress_begin('inner_command', 2);
SELECT seg_reco._progress_step('inner_command', 'work', 3, 'iterations');
SELECT seg_reco._progress_done('inner_command', 1);
SELECT command, step, step_number, done, total, unit, percent, detail FROM seg_reco.progress;
-- the outer command's next step ends an inner one left open
SELECT seg_reco._progress_step('test_command', 'store');
SELECT command, step, step_number, done, total, unit, percent, detail FROM seg_reco.progress;
SELECT seg_reco._progress_end('test_command');
SELECT count(*) AS in_progress FROM seg_reco.progress;
COMMIT;

-- a step of a command not begun begins it
BEGIN;
SELECT seg_reco._progress_step('implicit', 'only');
SELECT command, step, step_number, steps FROM seg_reco.progress;
-- the end of the transaction ends a command left open
COMMIT;
SELECT count(*) AS in_progress FROM seg_reco.progress;
-- as does an error
BEGIN;
SELECT seg_reco._progress_begin('failing');
SELECT 1 / 0;
ROLLBACK;
SELECT count(*) AS in_progress FROM seg_reco.progress;

-- a subtransaction rolled back ends the commands begun in it, not the others
BEGIN;
SELECT seg_reco._progress_begin('outer_command', 2);
SELECT seg_reco._progress_step('outer_command', 'one');
SAVEPOINT s;
SELECT seg_reco._progress_begin('inner_command');
SELECT seg_reco._progress_step('inner_command', 'deep', 10, 'rows');
SELECT command, step, detail, done, total FROM seg_reco.progress;
ROLLBACK TO s;
SELECT command, step, detail, done, total FROM seg_reco.progress;
-- one released goes on
SELECT seg_reco._progress_step('outer_command', 'two');
SAVEPOINT r;
SELECT seg_reco._progress_begin('released_command');
RELEASE r;
SELECT command, step, detail FROM seg_reco.progress;
-- and is its parent's from then on: another subtransaction rolled back
-- at the same depth leaves it
SAVEPOINT q;
ROLLBACK TO q;
SELECT command, step, detail FROM seg_reco.progress;
COMMIT;
SELECT count(*) AS in_progress FROM seg_reco.progress;
-- likewise in a PL/pgSQL block with an exception handler (refresh's ALS step)
DO $$
BEGIN
    PERFORM seg_reco._progress_begin('outer_command');
    PERFORM seg_reco._progress_step('outer_command', 'guarded');
    BEGIN
        PERFORM seg_reco._progress_begin('inner_command');
        PERFORM seg_reco._progress_step('inner_command', 'fails');
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        RAISE NOTICE 'after the error: %',
            (SELECT string_agg(p.command || ' ' || p.step || ' ' || coalesce(p.detail, '-'), ', ')
               FROM seg_reco.progress p);
    END;
    PERFORM seg_reco._progress_end('outer_command');
END
$$;
SELECT count(*) AS in_progress FROM seg_reco.progress;

-- a procedure that commits (transaction control) keeps its progress
CREATE PROCEDURE pg_temp.committing() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seg_reco._progress_begin('committing', 2);
    PERFORM seg_reco._progress_step('committing', 'first');
    COMMIT;
    RAISE NOTICE 'after the commit: %', (SELECT p.command || ' ' || p.step FROM seg_reco.progress p);
    PERFORM seg_reco._progress_step('committing', 'second');
    RAISE NOTICE 'next step: %', (SELECT p.step_number || ' of ' || p.steps FROM seg_reco.progress p);
END
$$;
CALL pg_temp.committing();
SELECT count(*) AS in_progress FROM seg_reco.progress;

-- who sees a session's progress: as in pg_stat_activity, its role (and
-- members of it) and pg_read_all_stats, not another role
CREATE ROLE seg_reco_progress_reader;
GRANT USAGE ON SCHEMA seg_reco TO seg_reco_progress_reader;
GRANT SELECT ON seg_reco.progress TO seg_reco_progress_reader;
BEGIN;
SELECT seg_reco._progress_begin('private_command');
SET LOCAL ROLE seg_reco_progress_reader;
SELECT count(*) AS seen_by_another_role FROM seg_reco.progress;
RESET ROLE;
GRANT pg_read_all_stats TO seg_reco_progress_reader;
SET LOCAL ROLE seg_reco_progress_reader;
SELECT count(*) AS seen_with_pg_read_all_stats FROM seg_reco.progress;
RESET ROLE;
ROLLBACK;
REVOKE ALL ON SCHEMA seg_reco FROM seg_reco_progress_reader;
REVOKE ALL ON seg_reco.progress FROM seg_reco_progress_reader;
DROP ROLE seg_reco_progress_reader;

-- messages: each start and end of a step (the times are in DETAIL, not
-- shown here), within a step at most every progress_message_interval
SET seg_reco.progress_messages = on;
SET seg_reco.progress_message_interval = '1h';
BEGIN;
SELECT seg_reco._progress_begin('test_command', 2);
SELECT seg_reco._progress_step('test_command', 'load', 200, 'rows');
SELECT seg_reco._progress_done('test_command', 150);
-- a message within the step once the interval has passed
SET LOCAL seg_reco.progress_message_interval = 1;
SELECT pg_sleep(1.1);
SELECT seg_reco._progress_done('test_command', 160);
SET LOCAL seg_reco.progress_message_interval = '1h';
SELECT seg_reco._progress_done('test_command', 170);
SELECT seg_reco._progress_step('test_command', 'store');
SELECT seg_reco._progress_end('test_command');
COMMIT;
-- als_train reports reading, the iterations and storing
CREATE TEMP TABLE progress_inter AS
SELECT c AS customer_id, (c * 7 + i) % 40 AS product_id, 1.0::float8 AS weight
  FROM generate_series(1, 100) c, generate_series(1, 3) i;
SELECT (seg_reco.als_train('progress_test', factors => 2, iterations => 3,
        source => 'SELECT customer_id, product_id, weight FROM pg_temp.progress_inter')).kind;
-- at least a second between two messages within a step
SET seg_reco.progress_message_interval = 0;
SET seg_reco.progress_message_interval = 1;
SHOW seg_reco.progress_message_interval;
RESET seg_reco.progress_message_interval;
SHOW seg_reco.progress_message_interval;
RESET seg_reco.progress_messages;
DELETE FROM seg_reco.models WHERE name = 'progress_test';

-- bad arguments
SELECT seg_reco._progress_begin(NULL);
SELECT seg_reco._progress_begin('');
SELECT seg_reco._progress_begin('x', 0);
SELECT seg_reco._progress_step('x', NULL);
SELECT seg_reco._progress_step('x', 'y', -1);
SELECT seg_reco._progress_done('x', NULL);
SELECT seg_reco._progress_done('x', -5);
SELECT count(*) AS in_progress FROM seg_reco.progress;
-- a long name is cut, not refused; ending or counting a command not in
-- progress does nothing
BEGIN;
SELECT seg_reco._progress_begin(repeat('ø', 100), 1);
SELECT length(command) AS command_length, left(command, 3) AS command_start FROM seg_reco.progress;
SELECT seg_reco._progress_done('no_such_command', 1), seg_reco._progress_end('no_such_command');
SELECT count(*) AS in_progress FROM seg_reco.progress;
ROLLBACK;
-- commands nest at most eight deep: deeper ones are not shown
BEGIN;
SELECT count(seg_reco._progress_begin('level_' || g)) FROM generate_series(1, 10) g;
SELECT command, detail FROM seg_reco.progress;
ROLLBACK;
