/*
 * progress.h
 *      Progress of long seg_reco work, for other sessions (the view
 *      seg_reco.progress) and for the caller (NOTICE messages), and the peak
 *      memory of each step (progress.c).
 *
 * A command (refresh, generate_demo_data, als_train, evaluate, ...) begins
 * a frame, moves through named steps, reports how much of the current step
 * is done, and ends its frame.  Frames nest: als_train inside refresh's step
 * als_model is an inner frame, shown as the detail of refresh's step.  On
 * an error the frames begun inside the aborted (sub)transaction are ended
 * by the transaction callbacks, so a caller never needs PG_TRY.
 *
 * Only the backend's own thread may call these (never a task of
 * seg_reco_parallel_for: see threads.h); they never raise an error of their
 * own (a record that cannot be written is reported once, as a WARNING).
 */
#ifndef SEG_RECO_PROGRESS_H
#define SEG_RECO_PROGRESS_H

#include "postgres.h"

/* GUCs seg_reco.progress_messages and seg_reco.progress_message_interval (seg_reco.c) */
extern PGDLLIMPORT bool seg_reco_progress_messages;
extern PGDLLIMPORT int seg_reco_progress_message_interval;

/*
 * Begin a frame for command; steps is the number of steps it will go
 * through (-1: not known).  Returns the frame's depth (1 for the outermost),
 * to pass to seg_reco_progress_step and seg_reco_progress_end.
 */
extern int	seg_reco_progress_begin(const char *command, int steps);

/*
 * The frame at depth moves to a new step (ending the previous one); total
 * is the amount of work of the step in units (-1: not known), detail an
 * optional text (NULL: none).  Frames deeper than depth, left open by code
 * that returned early, are ended first.
 */
extern void seg_reco_progress_step(int depth, const char *step, int64 total,
								   const char *unit, const char *detail);

/*
 * done units of the innermost frame's current step are done.  Cheap: the
 * record other sessions read is rewritten at most four times a second,
 * and a NOTICE (seg_reco.progress_messages) sent at most every
 * seg_reco.progress_message_interval.  Without a frame it does nothing.
 */
extern void seg_reco_progress_update(int64 done);

/* The same, written at once: the count at the end of a stretch of work. */
extern void seg_reco_progress_done(int64 done);

/* End the frame at depth (and any deeper one left open). */
extern void seg_reco_progress_end(int depth);

/*
 * The backend's peak resident memory in bytes since the outermost frame's
 * current step began (Linux: VmHWM, reset at each such step), or -1 where
 * that is not available.
 */
extern int64 seg_reco_progress_peak_memory(void);

#endif							/* SEG_RECO_PROGRESS_H */
