/*
 * threads.c
 *      Worker threads for seg_reco's data-sized loops (see threads.h).
 *
 * A PostgreSQL backend is single-threaded: nothing here touches backend
 * state from a worker thread.  Workers take task numbers from a shared
 * atomic counter until none are left; the calling thread does the same, then
 * joins them.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>

#include "miscadmin.h"
#include "port/atomics.h"

#include "threads.h"

/* upper bound of seg_reco.threads (the GUC's maximum) */
#define MAX_WORKERS 64

typedef struct ParallelJob
{
	pg_atomic_uint64 next;
	int64		ntasks;
	seg_reco_task_fn fn;
	void	   *arg;
} ParallelJob;

typedef struct WorkerStart
{
	ParallelJob *job;
	int			worker;
} WorkerStart;

/* true on any thread (the backend's included) while it runs tasks */
static __thread bool seg_reco_in_parallel = false;

/*
 * SEG_RECO_CHECK_FOR_INTERRUPTS(): an ERROR thrown from a task would leave
 * the other threads running, so on a thread running tasks this does
 * nothing.  Out of line, so that the check of the thread contract
 * (scripts/check_threads.py) sees one call it allows instead of the
 * ProcessInterrupts call CHECK_FOR_INTERRUPTS expands to.
 */
void
seg_reco_check_for_interrupts_off_tasks(void)
{
	if (!seg_reco_in_parallel)
		CHECK_FOR_INTERRUPTS();
}

static void
run_tasks(ParallelJob *job, int worker)
{
	seg_reco_in_parallel = true;
	for (;;)
	{
		uint64		t = pg_atomic_fetch_add_u64(&job->next, 1);

		if (t >= (uint64) job->ntasks)
			break;
		job->fn(job->arg, (int64) t, worker);
	}
	seg_reco_in_parallel = false;
}

static void *
worker_main(void *p)
{
	WorkerStart *ws = (WorkerStart *) p;

	run_tasks(ws->job, ws->worker);
	return NULL;
}

int
seg_reco_parallel_workers(int64 ntasks)
{
	int64		w = Min(seg_reco_threads, seg_reco_max_threads);

	if (w < 1)
		w = 1;
	if (w > MAX_WORKERS)
		w = MAX_WORKERS;
	if (w > ntasks)
		w = ntasks;
	return (int) Max(w, 1);
}

/* the state of tasks started by seg_reco_parallel_begin */
struct SegRecoParallel
{
	ParallelJob job;
	WorkerStart ws[MAX_WORKERS];
	pthread_t	tid[MAX_WORKERS];
	bool		started[MAX_WORKERS];
	int			nworkers;
};

SegRecoParallel *
seg_reco_parallel_begin(int64 ntasks, seg_reco_task_fn fn, void *arg)
{
	SegRecoParallel *p = palloc0(sizeof(SegRecoParallel));
	int			w;

	p->nworkers = seg_reco_parallel_workers(ntasks);
	pg_atomic_init_u64(&p->job.next, 0);
	p->job.ntasks = Max(ntasks, 0);
	p->job.fn = fn;
	p->job.arg = arg;
	if (p->nworkers > 1)
	{
		sigset_t	all,
					old;

		/* the threads inherit a mask that blocks every signal */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (w = 1; w < p->nworkers; w++)
		{
			p->ws[w].job = &p->job;
			p->ws[w].worker = w;
			p->started[w] = (pthread_create(&p->tid[w], NULL, worker_main, &p->ws[w]) == 0);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return p;
}

void
seg_reco_parallel_end(SegRecoParallel *p)
{
	int			w;

	run_tasks(&p->job, 0);
	for (w = 1; w < p->nworkers; w++)
		if (p->started[w])
			pthread_join(p->tid[w], NULL);
	pfree(p);
}

void
seg_reco_parallel_cancel(SegRecoParallel *p)
{
	int			w;

	/* the tasks not yet taken are never run */
	pg_atomic_write_u64(&p->job.next, (uint64) p->job.ntasks);
	for (w = 1; w < p->nworkers; w++)
		if (p->started[w])
			pthread_join(p->tid[w], NULL);
}

void
seg_reco_parallel_for(int64 ntasks, seg_reco_task_fn fn, void *arg)
{
	if (ntasks <= 0)
		return;
	seg_reco_parallel_end(seg_reco_parallel_begin(ntasks, fn, arg));
}
