-- The nightly job: pg_cron runs CALL seg_reco.refresh() in the throwaway
-- cluster (cron.database_name = seg_reco).  Scheduled every minute here, so
-- this file waits up to ~75 s for the first run; it cleans up after itself.
-- Not in one transaction: pg_cron must see the job, and the job's writes
-- must be visible here.
SELECT plan(6);

SELECT has_extension('pg_cron');
SELECT ok(current_setting('shared_preload_libraries') ~ 'pg_cron', 'pg_cron is preloaded');

DO $$ BEGIN PERFORM cron.unschedule(jobid) FROM cron.job WHERE jobname = 'seg_reco_test_refresh'; END $$;
CREATE TEMP TABLE before_run AS SELECT coalesce(max(run_id), 0) AS last_run, clock_timestamp() AS t0
  FROM seg_reco.refresh_log;

SELECT isnt((SELECT cron.schedule('seg_reco_test_refresh', '* * * * *', 'CALL seg_reco.refresh()')),
            NULL, 'the refresh job is scheduled');

-- wait for pg_cron to run it
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '80 seconds';
BEGIN
    LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                           WHERE j.jobname = 'seg_reco_test_refresh'
                             AND d.status IN ('succeeded', 'failed'));
        EXIT WHEN clock_timestamp() > deadline;
        PERFORM pg_sleep(1);
    END LOOP;
END;
$$;

SELECT is((SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
            WHERE j.jobname = 'seg_reco_test_refresh' ORDER BY d.start_time LIMIT 1),
          'succeeded', 'pg_cron ran the refresh job successfully');
SELECT ok((SELECT count(*) >= 2 FROM seg_reco.refresh_log l, before_run b
            WHERE l.run_id > b.last_run AND l.started_at >= b.t0),
          'the job''s run is in refresh_log');

SELECT is((SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'seg_reco_test_refresh'),
          true, 'the job is removed again');
DELETE FROM cron.job_run_details WHERE jobid NOT IN (SELECT jobid FROM cron.job);

SELECT * FROM finish();
