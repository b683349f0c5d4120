/*
 * threads.h
 *      Worker threads for seg_reco's data-sized loops.
 *
 * seg_reco_parallel_for(ntasks, fn, arg) runs fn(arg, task, worker) for
 * every task in [0, ntasks) on up to seg_reco.threads threads, the calling
 * backend's thread included, and returns when all tasks are done.
 *
 * The rules for fn, which may run on a thread PostgreSQL knows nothing of:
 *   - no PostgreSQL call at all: no palloc/pfree, no elog/ereport, no
 *     CHECK_FOR_INTERRUPTS, no catalog or buffer access, no OpenBLAS call;
 *   - only the arrays the caller prepared; per-worker scratch is indexed by
 *     worker (0 .. seg_reco_parallel_workers(ntasks) - 1);
 *   - failures are written to the caller's arrays and reported by the caller
 *     after seg_reco_parallel_for returns.
 * Results must not depend on which worker ran a task: write per-task
 * partial results and reduce them in task order afterwards, so that the
 * same input gives the same bits whatever seg_reco.threads is.
 *
 * Threads are started per call with every signal blocked (signals stay
 * with the backend's own thread) and joined before returning, so nothing
 * outlives the call and an ERROR raised by the caller afterwards leaves no
 * thread behind.  Callers split long work into calls of well under a second
 * and call CHECK_FOR_INTERRUPTS() between them.  When a thread cannot be
 * started, the calling thread does the remaining tasks itself.
 */
#ifndef SEG_RECO_THREADS_H
#define SEG_RECO_THREADS_H

#include "postgres.h"

#include "miscadmin.h"

/* GUC seg_reco.threads, defined in seg_reco.c */
extern PGDLLIMPORT int seg_reco_threads;
/* GUC seg_reco.max_threads, the server's ceiling on the thread settings */
extern PGDLLIMPORT int seg_reco_max_threads;

typedef void (*seg_reco_task_fn) (void *arg, int64 task, int worker);

/* workers seg_reco_parallel_for will use for ntasks tasks (>= 1) */
extern int	seg_reco_parallel_workers(int64 ntasks);

extern void seg_reco_parallel_for(int64 ntasks, seg_reco_task_fn fn, void *arg);

/*
 * True on any thread (the backend's included) while it runs tasks of
 * seg_reco_parallel_for.  Helpers shared between task code and ordinary
 * backend code check for interrupts with SEG_RECO_CHECK_FOR_INTERRUPTS(),
 * which does nothing then (an ERROR thrown from a task would leave the
 * other threads running).
 */
extern __thread bool seg_reco_in_parallel;

#define SEG_RECO_CHECK_FOR_INTERRUPTS() \
	do { \
		if (!seg_reco_in_parallel) \
			CHECK_FOR_INTERRUPTS(); \
	} while (0)

#endif							/* SEG_RECO_THREADS_H */
