/*
 * progress.c
 *      Progress of long seg_reco work for other sessions and for the
 *      caller, and the peak memory of each step (see progress.h).
 *
 * Where the record lives.  Another session must see a step at once, not
 * when the working transaction commits, so the record cannot be a table
 * row.  PostgreSQL's own progress reporting (pgstat_progress_*, the
 * pg_stat_progress_* views) takes only the built-in command types (VACUUM,
 * ANALYZE, CLUSTER, CREATE INDEX, BASE BACKUP, COPY) and 20 integers, and
 * the steps of refresh() run some of those commands themselves; shared
 * memory of our own needs shared_preload_libraries, which seg_reco does not
 * require.  So each backend keeps its frames in local memory and writes
 * them as one small fixed-size record to a file of its own,
 * pg_stat_tmp/seg_reco_progress.<pid> in the data directory: written to
 * <file>.tmp and renamed over it (a reader sees the old record or the new
 * one, never half of one), at every step change and at most four times a
 * second in between, and removed when the outermost frame ends, when the
 * transaction ends (commit or abort: an error, a cancel) and when the
 * backend exits.
 *
 * Reading (seg_reco._progress_entries, the view seg_reco.progress): every
 * record whose process is a live backend (in the proc array) with the same
 * start time (Linux: /proc/<pid>/stat; so a crashed backend's file is not
 * taken for a later process that got its pid), shown to the roles that
 * may see that backend's activity in pg_stat_activity (the same role, a
 * member of it, or pg_read_all_stats).  Files of processes that are gone
 * (a backend killed without cleanup, a server crash) are removed by the
 * reader: a backend is in the proc array before it can write a record and
 * removes its record before it leaves the array.
 *
 * Peak memory: at each step of the outermost frame the backend's
 * high-water mark of resident memory is reset (Linux: "5" written to
 * /proc/self/clear_refs) and read at the end of the step (VmHWM in
 * /proc/self/status).  It counts the process's private memory and the
 * pages of shared buffers and files it touched, not its parallel workers.
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "guards.h"
#include "progress.h"

#define PROGRESS_MAX_DEPTH		8
#define PROGRESS_NAME_LEN		64
#define PROGRESS_UNIT_LEN		32
#define PROGRESS_DETAIL_LEN		256
#define PROGRESS_RECORD_DETAIL_LEN 512
/* at most four writes a second between step changes */
#define PROGRESS_WRITE_USECS	INT64CONST(250000)
#define PROGRESS_MAGIC			0x53525031	/* "SRP1" */
#define PROGRESS_FILE_PREFIX	"seg_reco_progress."

/* one command in progress (a frame); -1 = not known */
typedef struct ProgressFrame
{
	char		command[PROGRESS_NAME_LEN];
	int			nest_level;		/* transaction nesting level at its begin */
	TimestampTz started;
	int			steps;
	int			step_number;	/* 0 before the first step */
	char		step[PROGRESS_NAME_LEN];
	TimestampTz step_started;
	int64		done;
	int64		total;
	char		unit[PROGRESS_UNIT_LEN];
	char		detail[PROGRESS_DETAIL_LEN];
} ProgressFrame;

/* the file's contents: what other sessions read */
typedef struct ProgressRecord
{
	uint32		magic;
	uint32		size;
	int32		pid;
	int32		encoding;		/* of the strings: the writer's database */
	uint64		proc_start;		/* process start (Linux clock ticks), 0 = not known */
	TimestampTz started;
	TimestampTz step_started;
	TimestampTz updated;
	int32		step_number;
	int32		steps;
	int64		done;
	int64		total;
	int32		peak_valid;
	char		command[PROGRESS_NAME_LEN];
	char		step[PROGRESS_NAME_LEN];
	char		unit[PROGRESS_UNIT_LEN];
	char		detail[PROGRESS_RECORD_DETAIL_LEN];
} ProgressRecord;

static ProgressFrame frames[PROGRESS_MAX_DEPTH];
static int	nframes = 0;
static bool callbacks_registered = false;
static bool record_exists = false;	/* our file may exist */
static bool write_warned = false;
static TimestampTz last_write = 0;
static TimestampTz last_message = 0;
static bool peak_valid = false;
static uint64 my_proc_start = 0;
static bool my_proc_start_known = false;

/* ---------------------------------------------------------------------
 * /proc: process start time, resident memory
 * --------------------------------------------------------------------- */

/* start time of process pid in clock ticks since boot (field 22 of /proc/<pid>/stat), 0 if unknown */
static uint64
proc_start_time(int pid)
{
#ifdef __linux__
	char		path[64];
	char		buf[1024];
	int			fd;
	ssize_t		n;
	char	   *p;
	int			field;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name (field 2) is in parentheses and may hold anything */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	/* fields 3 .. 22, separated by single spaces */
	for (field = 2; field < 22; field++)
	{
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
#else
	return 0;
#endif
}

/*
 * VmRSS and VmHWM of process pid (0: this one) in bytes; -1 where not
 * known.
 */
static void
proc_memory(int pid, int64 *rss, int64 *hwm)
{
	*rss = -1;
	*hwm = -1;
#ifdef __linux__
	{
		char		path[64];
		char		buf[4096];
		int			fd;
		ssize_t		n;
		char	   *p;

		if (pid == 0)
			snprintf(path, sizeof(path), "/proc/self/status");
		else
			snprintf(path, sizeof(path), "/proc/%d/status", pid);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = '\0';
		if ((p = strstr(buf, "\nVmRSS:")) != NULL)
			*rss = (int64) strtoll(p + 7, NULL, 10) * 1024;
		if ((p = strstr(buf, "\nVmHWM:")) != NULL)
			*hwm = (int64) strtoll(p + 7, NULL, 10) * 1024;
	}
#endif
}

/* reset this process's high-water mark of resident memory; false if not possible */
static bool
peak_reset(void)
{
#ifdef __linux__
	int			fd = open("/proc/self/clear_refs", O_WRONLY);
	bool		ok;

	if (fd < 0)
		return false;
	ok = (write(fd, "5", 1) == 1);
	close(fd);
	return ok;
#else
	return false;
#endif
}

int64
seg_reco_progress_peak_memory(void)
{
	int64		rss,
				hwm;

	if (!peak_valid)
		return -1;
	proc_memory(0, &rss, &hwm);
	return hwm;
}

/* ---------------------------------------------------------------------
 * The record file
 * --------------------------------------------------------------------- */

static void
record_path(char *path, int pid, bool tmp)
{
	snprintf(path, MAXPGPATH, "%s/%s%d%s", PG_STAT_TMP_DIR, PROGRESS_FILE_PREFIX, pid,
			 tmp ? ".tmp" : "");
}

/* copy src into dst[size], cut at a character boundary */
static void
copy_text(char *dst, const char *src, int size)
{
	int			len = src ? strlen(src) : 0;

	if (len >= size)
		len = pg_mbcliplen(src, len, size - 1);
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* append src to dst[size] (holding a string), cut at a character boundary */
static void
append_text(char *dst, const char *src, int size)
{
	int			used = strlen(dst);

	if (used < size - 1)
		copy_text(dst + used, src, size - used);
}

/* the innermost frame with a step (its counts are the ones shown), or -1 */
static int
counted_frame(void)
{
	int			i;

	for (i = nframes - 1; i >= 0; i--)
		if (frames[i].step[0] != '\0')
			return i;
	return nframes - 1;
}

static void
build_record(ProgressRecord *rec, TimestampTz now)
{
	const ProgressFrame *top = &frames[0];
	int			c = counted_frame();
	int			i;

	memset(rec, 0, sizeof(*rec));
	rec->magic = PROGRESS_MAGIC;
	rec->size = sizeof(ProgressRecord);
	rec->pid = MyProcPid;
	rec->encoding = GetDatabaseEncoding();
	rec->proc_start = my_proc_start;
	rec->started = top->started;
	rec->step_started = top->step_number > 0 ? top->step_started : top->started;
	rec->updated = now;
	rec->step_number = top->step_number;
	rec->steps = top->steps;
	rec->done = frames[c].done;
	rec->total = frames[c].total;
	rec->peak_valid = peak_valid;
	copy_text(rec->command, top->command, sizeof(rec->command));
	copy_text(rec->step, top->step, sizeof(rec->step));
	copy_text(rec->unit, frames[c].unit, sizeof(rec->unit));
	/* the inner frames, "als_train: iterations", then the detail text */
	for (i = 1; i < nframes; i++)
	{
		if (i > 1)
			append_text(rec->detail, " > ", sizeof(rec->detail));
		append_text(rec->detail, frames[i].command, sizeof(rec->detail));
		if (frames[i].step[0] != '\0')
		{
			append_text(rec->detail, ": ", sizeof(rec->detail));
			append_text(rec->detail, frames[i].step, sizeof(rec->detail));
		}
	}
	if (frames[c].detail[0] != '\0')
	{
		if (rec->detail[0] != '\0')
			append_text(rec->detail, "; ", sizeof(rec->detail));
		append_text(rec->detail, frames[c].detail, sizeof(rec->detail));
	}
}

/* write the record (temporary file, then rename); never an ERROR */
static void
write_record(TimestampTz now)
{
	ProgressRecord rec;
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	int			fd;
	int			save_errno;

	if (nframes == 0)
		return;
	if (!my_proc_start_known)
	{
		my_proc_start = proc_start_time(MyProcPid);
		my_proc_start_known = true;
	}
	build_record(&rec, now);
	record_path(path, MyProcPid, false);
	record_path(tmp, MyProcPid, true);
	last_write = now;
	record_exists = true;
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd >= 0)
	{
		bool		ok = (write(fd, &rec, sizeof(rec)) == sizeof(rec));

		save_errno = errno;
		if (CloseTransientFile(fd) == 0 && ok && rename(tmp, path) == 0)
			return;
		if (!ok)
			errno = save_errno ? save_errno : ENOSPC;
	}
	save_errno = errno;
	(void) unlink(tmp);
	if (!write_warned)
	{
		write_warned = true;
		errno = save_errno;
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write seg_reco progress file \"%s\": %m", path),
				 errdetail("Other sessions will not see the progress of this session in seg_reco.progress."),
				 errhint("Check that the server can write to the directory %s in its data directory.",
						 PG_STAT_TMP_DIR)));
	}
}

static void
remove_record(void)
{
	char		path[MAXPGPATH];

	if (!record_exists)
		return;
	record_path(path, MyProcPid, false);
	(void) unlink(path);
	record_path(path, MyProcPid, true);
	(void) unlink(path);
	record_exists = false;
}

/* ---------------------------------------------------------------------
 * Messages (seg_reco.progress_messages)
 * --------------------------------------------------------------------- */

/* "refresh > als_train": the commands of frames 0 .. k */
static void
chain(StringInfo s, int k)
{
	int			i;

	for (i = 0; i <= k; i++)
	{
		if (i > 0)
			appendStringInfoString(s, " > ");
		appendStringInfoString(s, frames[i].command);
	}
}

/* " (15 iterations)" */
static void
amount(StringInfo s, int64 n, const char *unit)
{
	appendStringInfo(s, " (" INT64_FORMAT "%s%s)", n, unit[0] ? " " : "", unit);
}

static void
message_step_start(int k, TimestampTz now)
{
	const ProgressFrame *f = &frames[k];
	StringInfoData s;

	if (!seg_reco_progress_messages)
		return;
	initStringInfo(&s);
	chain(&s, k);
	if (f->steps > 0)
		appendStringInfo(&s, ": step %d of %d: %s", f->step_number, f->steps, f->step);
	else
		appendStringInfo(&s, ": step %d: %s", f->step_number, f->step);
	if (f->total >= 0)
		amount(&s, f->total, f->unit);
	ereport(NOTICE, (errmsg_internal("%s", s.data)));
	pfree(s.data);
	last_message = now;
}

static void
message_step_end(int k, TimestampTz now)
{
	const ProgressFrame *f = &frames[k];
	StringInfoData s;
	int64		peak;
	double		secs = (double) (now - f->step_started) / USECS_PER_SEC;

	if (!seg_reco_progress_messages || f->step[0] == '\0')
		return;
	/* the peak is the outermost command's step's */
	peak = k == 0 ? seg_reco_progress_peak_memory() : -1;
	initStringInfo(&s);
	chain(&s, k);
	appendStringInfo(&s, ": %s done", f->step);
	if (f->done >= 0)
		amount(&s, f->done, f->unit);
	if (peak >= 0)
		ereport(NOTICE,
				(errmsg_internal("%s", s.data),
				 errdetail_internal("%.3f s, peak memory %.1f MB", secs, peak / 1048576.0)));
	else
		ereport(NOTICE,
				(errmsg_internal("%s", s.data),
				 errdetail_internal("%.3f s", secs)));
	pfree(s.data);
	last_message = now;
}

/* what the innermost counted step has done so far */
static void
message_progress(TimestampTz now)
{
	int			k = counted_frame();
	const ProgressFrame *f = &frames[k];
	StringInfoData s;

	if (f->done < 0 || f->step[0] == '\0')
		return;
	initStringInfo(&s);
	chain(&s, k);
	appendStringInfo(&s, ": %s: " INT64_FORMAT, f->step, f->done);
	if (f->total > 0)
		appendStringInfo(&s, " of " INT64_FORMAT "%s%s (%d%%)", f->total, f->unit[0] ? " " : "",
						 f->unit, (int) Min(100, (double) f->done * 100.0 / f->total));
	else if (f->unit[0])
		appendStringInfo(&s, " %s", f->unit);
	ereport(NOTICE,
			(errmsg_internal("%s", s.data),
			 errdetail_internal("%.3f s into the step",
								(double) (now - f->step_started) / USECS_PER_SEC)));
	pfree(s.data);
	last_message = now;
}

/* ---------------------------------------------------------------------
 * Cleanup at transaction end and exit
 * --------------------------------------------------------------------- */

static void
progress_reset(void)
{
	nframes = 0;
	peak_valid = false;
	remove_record();
}

static void
progress_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* a procedure that commits (transaction control) goes on with its frames */
			if (nframes > 0 && SPI_inside_nonatomic_context())
				return;
			progress_reset();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			progress_reset();
			break;
		default:
			break;
	}
}

/*
 * An aborted subtransaction ends the frames begun inside it; those of one
 * that commits (is released) belong to its parent from then on.
 */
static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level;
	int			keep;
	int			i;

	if (nframes == 0)
		return;
	level = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < nframes; i++)
			if (frames[i].nest_level >= level)
				frames[i].nest_level = level - 1;
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	keep = nframes;
	while (keep > 0 && frames[keep - 1].nest_level >= level)
		keep--;
	if (keep == nframes)
		return;
	nframes = keep;
	if (nframes == 0)
		progress_reset();
	else
		write_record(GetCurrentTimestamp());
}

static void
progress_exit(int code, Datum arg)
{
	remove_record();
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(progress_xact_callback, NULL);
	RegisterSubXactCallback(progress_subxact_callback, NULL);
	before_shmem_exit(progress_exit, (Datum) 0);
	callbacks_registered = true;
}

/* ---------------------------------------------------------------------
 * The C interface (progress.h)
 * --------------------------------------------------------------------- */

int
seg_reco_progress_begin(const char *command, int steps)
{
	ProgressFrame *f;
	TimestampTz now;

	register_callbacks();
	if (nframes >= PROGRESS_MAX_DEPTH)
		return 0;
	now = GetCurrentTimestamp();
	f = &frames[nframes++];
	memset(f, 0, sizeof(*f));
	copy_text(f->command, command, sizeof(f->command));
	f->nest_level = GetCurrentTransactionNestLevel();
	f->started = now;
	f->step_started = now;
	f->steps = steps > 0 ? steps : -1;
	f->done = -1;
	f->total = -1;
	if (nframes == 1)
		peak_valid = peak_reset();
	write_record(now);
	return nframes;
}

void
seg_reco_progress_step(int depth, const char *step, int64 total, const char *unit,
					   const char *detail)
{
	ProgressFrame *f;
	TimestampTz now;

	if (depth < 1 || depth > nframes)
		return;
	/* frames left open by code that returned early */
	nframes = depth;
	f = &frames[depth - 1];
	now = GetCurrentTimestamp();
	if (f->step[0] != '\0')
		message_step_end(depth - 1, now);
	copy_text(f->step, step, sizeof(f->step));
	f->step_number++;
	f->step_started = now;
	f->total = total >= 0 ? total : -1;
	f->done = total >= 0 ? 0 : -1;
	copy_text(f->unit, unit, sizeof(f->unit));
	copy_text(f->detail, detail, sizeof(f->detail));
	if (depth == 1)
		peak_valid = peak_reset();
	message_step_start(depth - 1, now);
	write_record(now);
}

/* done units of the frame at depth; the record and messages throttled */
static void
set_done(int depth, int64 done, bool now_or_later)
{
	TimestampTz now;
	ProgressFrame *f = &frames[depth - 1];

	f->done = done;
	now = GetCurrentTimestamp();
	/* the last count of a step is written at once: the step may go on a while */
	if (!now_or_later || now - last_write >= PROGRESS_WRITE_USECS ||
		(f->total >= 0 && done >= f->total))
		write_record(now);
	if (seg_reco_progress_messages &&
		now - last_message >= (int64) seg_reco_progress_message_interval * USECS_PER_SEC)
		message_progress(now);
}

void
seg_reco_progress_update(int64 done)
{
	if (nframes == 0)
		return;
	set_done(nframes, done, true);
}

void
seg_reco_progress_done(int64 done)
{
	if (nframes == 0)
		return;
	set_done(nframes, done, false);
}

void
seg_reco_progress_end(int depth)
{
	TimestampTz now;

	if (depth < 1 || depth > nframes)
		return;
	nframes = depth;
	now = GetCurrentTimestamp();
	message_step_end(depth - 1, now);
	if (depth == 1 && seg_reco_progress_messages)
		ereport(NOTICE,
				(errmsg_internal("%s: done", frames[0].command),
				 errdetail_internal("%.3f s", (double) (now - frames[0].started) / USECS_PER_SEC)));
	nframes = depth - 1;
	if (nframes == 0)
	{
		peak_valid = false;
		remove_record();
	}
	else
		write_record(now);
}

/* ---------------------------------------------------------------------
 * SQL interface: PL/pgSQL commands report their steps
 * --------------------------------------------------------------------- */

/* the depth of the innermost frame of command, 0 if none */
static int
find_frame(const char *command)
{
	char		name[PROGRESS_NAME_LEN];
	int			i;

	copy_text(name, command, sizeof(name));
	for (i = nframes - 1; i >= 0; i--)
		if (strcmp(frames[i].command, name) == 0)
			return i + 1;
	return 0;
}

static char *
name_arg(FunctionCallInfo fcinfo, int i, const char *what)
{
	char	   *s;

	SEG_RECO_ARG_NOT_NULL(i, what);
	s = text_to_cstring(PG_GETARG_TEXT_PP(i));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what),
				 errhint("Name the %s.", what)));
	return s;
}

/* seg_reco._progress_begin(command text, steps integer DEFAULT NULL) */
PG_FUNCTION_INFO_V1(seg_reco_progress_begin_sql);
Datum
seg_reco_progress_begin_sql(PG_FUNCTION_ARGS)
{
	char	   *command = name_arg(fcinfo, 0, "command");
	int			steps = -1;

	if (!PG_ARGISNULL(1))
	{
		steps = PG_GETARG_INT32(1);
		if (steps < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("steps must be at least 1, got %d", steps),
					 errhint("Pass NULL when the number of steps is not known.")));
	}
	seg_reco_progress_begin(command, steps);
	PG_RETURN_VOID();
}

/*
 * seg_reco._progress_step(command text, step text, total bigint DEFAULT
 * NULL, unit text DEFAULT NULL, detail text DEFAULT NULL): the innermost
 * frame of command (begun here if there is none) moves to step.
 */
PG_FUNCTION_INFO_V1(seg_reco_progress_step_sql);
Datum
seg_reco_progress_step_sql(PG_FUNCTION_ARGS)
{
	char	   *command = name_arg(fcinfo, 0, "command");
	char	   *step = name_arg(fcinfo, 1, "step");
	int64		total = -1;
	char	   *unit = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *detail = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	int			depth;

	if (!PG_ARGISNULL(2))
	{
		total = PG_GETARG_INT64(2);
		if (total < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("total must not be negative, got " INT64_FORMAT, total),
					 errhint("Pass NULL when the amount of work is not known.")));
	}
	depth = find_frame(command);
	if (depth == 0)
		depth = seg_reco_progress_begin(command, -1);
	seg_reco_progress_step(depth, step, total, unit, detail);
	PG_RETURN_VOID();
}

/* seg_reco._progress_done(command text, done bigint): done units of command's current step */
PG_FUNCTION_INFO_V1(seg_reco_progress_done_sql);
Datum
seg_reco_progress_done_sql(PG_FUNCTION_ARGS)
{
	char	   *command = name_arg(fcinfo, 0, "command");
	int64		done;
	int			depth;

	SEG_RECO_ARG_NOT_NULL(1, "done");
	done = PG_GETARG_INT64(1);
	if (done < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("done must not be negative, got " INT64_FORMAT, done)));
	depth = find_frame(command);
	if (depth > 0)
		set_done(depth, done, false);
	PG_RETURN_VOID();
}

/* seg_reco._progress_end(command text): ends the innermost frame of command */
PG_FUNCTION_INFO_V1(seg_reco_progress_end_sql);
Datum
seg_reco_progress_end_sql(PG_FUNCTION_ARGS)
{
	char	   *command = name_arg(fcinfo, 0, "command");

	seg_reco_progress_end(find_frame(command));
	PG_RETURN_VOID();
}

/*
 * seg_reco._progress_peak_memory() RETURNS bigint: the peak resident
 * memory of this backend since the outermost frame's current step began,
 * NULL where not known.
 */
PG_FUNCTION_INFO_V1(seg_reco_progress_peak_memory_sql);
Datum
seg_reco_progress_peak_memory_sql(PG_FUNCTION_ARGS)
{
	int64		peak = seg_reco_progress_peak_memory();

	if (peak < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(peak);
}

/* ---------------------------------------------------------------------
 * seg_reco._progress_entries(): the live records (the view seg_reco.progress)
 * --------------------------------------------------------------------- */

/* a record's string as text of this database; bytes of another encoding as '?' */
static Datum
record_text(char *s, int size, int encoding)
{
	int			len;

	s[size - 1] = '\0';
	len = strlen(s);
	if (encoding != GetDatabaseEncoding() || !pg_verifymbstr(s, len, true))
	{
		int			i;

		for (i = 0; i < len; i++)
			if ((unsigned char) s[i] >= 0x80)
				s[i] = '?';
	}
	return PointerGetDatum(cstring_to_text_with_len(s, len));
}

static bool
read_record(const char *path, ProgressRecord *rec)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	ssize_t		n;

	if (fd < 0)
		return false;
	n = read(fd, rec, sizeof(*rec));
	CloseTransientFile(fd);
	return n == sizeof(*rec) && rec->magic == PROGRESS_MAGIC && rec->size == sizeof(*rec);
}

/* a record of process pid may be shown to the current user: as in pg_stat_activity */
static bool
may_see(PGPROC *proc)
{
	Oid			role = proc->roleId;

	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
		(OidIsValid(role) && has_privs_of_role(GetUserId(), role));
}

#define PROGRESS_COLS 15

PG_FUNCTION_INFO_V1(seg_reco_progress_entries);
Datum
seg_reco_progress_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DIR		   *dir;
	struct dirent *de;
	size_t		plen = strlen(PROGRESS_FILE_PREFIX);

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != PROGRESS_COLS)
		elog(ERROR, "return type must have %d columns", PROGRESS_COLS);
	dir = AllocateDir(PG_STAT_TMP_DIR);
	while ((de = ReadDirExtended(dir, PG_STAT_TMP_DIR, DEBUG1)) != NULL)
	{
		ProgressRecord rec;
		char		path[MAXPGPATH];
		char	   *end;
		long		pid;
		bool		tmp;
		PGPROC	   *proc;
		Datum		values[PROGRESS_COLS];
		bool		nulls[PROGRESS_COLS] = {0};
		int64		rss,
					hwm;

		CHECK_FOR_INTERRUPTS();
		if (strncmp(de->d_name, PROGRESS_FILE_PREFIX, plen) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + plen, &end, 10);
		if (errno != 0 || end == de->d_name + plen || pid <= 0 || pid > INT_MAX)
			continue;
		tmp = strcmp(end, ".tmp") == 0;
		if (!tmp && *end != '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%s", PG_STAT_TMP_DIR, de->d_name);
		proc = BackendPidGetProc((int) pid);
		if (proc == NULL)
		{
			/* its process is gone without removing it (a crash): remove it */
			(void) unlink(path);
			continue;
		}
		if (tmp || !read_record(path, &rec) || rec.pid != pid)
			continue;
		/* a file left by an earlier process with the same pid */
		if (rec.proc_start != 0 && proc_start_time((int) pid) != rec.proc_start)
			continue;
		if (!may_see(proc))
			continue;

		values[0] = Int32GetDatum(rec.pid);
		values[1] = record_text(rec.command, sizeof(rec.command), rec.encoding);
		values[2] = TimestampTzGetDatum(rec.started);
		if (rec.step_number > 0)
		{
			values[3] = record_text(rec.step, sizeof(rec.step), rec.encoding);
			values[4] = Int32GetDatum(rec.step_number);
		}
		else
			nulls[3] = nulls[4] = true;
		values[5] = Int32GetDatum(rec.steps);
		nulls[5] = rec.steps < 1;
		values[6] = TimestampTzGetDatum(rec.step_started);
		values[7] = Int64GetDatum(rec.done);
		nulls[7] = rec.done < 0;
		values[8] = Int64GetDatum(rec.total);
		nulls[8] = rec.total < 0;
		rec.unit[sizeof(rec.unit) - 1] = '\0';
		if (rec.unit[0] != '\0')
			values[9] = record_text(rec.unit, sizeof(rec.unit), rec.encoding);
		else
			nulls[9] = true;
		if (rec.done >= 0 && rec.total > 0)
			values[10] = Float8GetDatum(Min(100.0, floor(1000.0 * rec.done / rec.total) / 10.0));
		else
			nulls[10] = true;
		rec.detail[sizeof(rec.detail) - 1] = '\0';
		if (rec.detail[0] != '\0')
			values[11] = record_text(rec.detail, sizeof(rec.detail), rec.encoding);
		else
			nulls[11] = true;
		values[12] = TimestampTzGetDatum(rec.updated);
		proc_memory((int) pid, &rss, &hwm);
		values[13] = Int64GetDatum(rss);
		nulls[13] = rss < 0;
		values[14] = Int64GetDatum(hwm);
		nulls[14] = hwm < 0 || !rec.peak_valid;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (dir)
		FreeDir(dir);
	return (Datum) 0;
}
