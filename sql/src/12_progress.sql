------------------------------------------------------------------------------
-- 7. Progress of long work (src/progress.c)
------------------------------------------------------------------------------
-- BEGIN progress
-- refresh(), generate_demo_data(), als_train(), evaluate(), tune_weights()
-- and recommend_all() report which step they are on, since when and how
-- much of it is done.  Another session sees it at once in the view
-- seg_reco.progress (not when the work commits): each backend writes its
-- record to a small file of its own in the data directory
-- (pg_stat_tmp/seg_reco_progress.<pid>), removed when the work ends, fails
-- or is cancelled; records of backends that are gone are never shown.  The
-- caller can ask for the same progress as NOTICE messages with the setting
-- seg_reco.progress_messages.  The _progress_* functions below are how the
-- PL/pgSQL commands report; they touch only the calling session's record.

CREATE FUNCTION seg_reco._progress_begin(command text, steps integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_begin_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_begin(text, integer) IS
'internal: the session begins reporting the progress of command, which has steps steps (NULL: not known)';

CREATE FUNCTION seg_reco._progress_step(command text, step text, total bigint DEFAULT NULL,
                                        unit text DEFAULT NULL, detail text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_step_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_step(text, text, bigint, text, text) IS
'internal: command (the innermost in progress of that name) moves to step, of total units (NULL: not known); at a step of the outermost command the peak memory is reset';

CREATE FUNCTION seg_reco._progress_done(command text, done bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_done_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_done(text, bigint) IS
'internal: done units of the current step of command are done';

CREATE FUNCTION seg_reco._progress_end(command text)
RETURNS void
AS 'MODULE_PATHNAME', 'seg_reco_progress_end_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_end(text) IS
'internal: command (the innermost in progress of that name) ends; the session''s record is removed when no command is left';

CREATE FUNCTION seg_reco._progress_peak_memory()
RETURNS bigint
AS 'MODULE_PATHNAME', 'seg_reco_progress_peak_memory_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION seg_reco._progress_peak_memory() IS
'internal: peak resident memory in bytes of this backend since the current step of the outermost command in progress began (Linux VmHWM; NULL where not known)';

CREATE FUNCTION seg_reco._progress_entries()
RETURNS TABLE (pid integer, command text, started timestamptz, step text, step_number integer,
               steps integer, step_started timestamptz, done bigint, total bigint, unit text,
               percent float8, detail text, updated timestamptz, memory_bytes bigint,
               peak_memory_bytes bigint)
AS 'MODULE_PATHNAME', 'seg_reco_progress_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 10;
COMMENT ON FUNCTION seg_reco._progress_entries() IS
'internal: the progress records of live backends the caller may see (seg_reco.progress reads it)';

CREATE VIEW seg_reco.progress AS
SELECT e.pid, e.command, e.started, e.step, e.step_number, e.steps, e.step_started,
       e.done, e.total, e.unit, e.percent, e.detail, e.updated, e.memory_bytes, e.peak_memory_bytes
  FROM seg_reco._progress_entries() e
 ORDER BY e.started, e.pid;
COMMENT ON VIEW seg_reco.progress IS 'long seg_reco work in progress in other sessions, seen at once: command, its current step (number of steps), since when, units done of total and percent, the inner command and step (detail), the backend''s resident and peak memory in the step; visible to the roles that see the session in pg_stat_activity';
-- END progress
