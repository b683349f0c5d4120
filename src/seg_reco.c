/*
 * seg_reco.c
 *      Module magic and _PG_init for the seg_reco extension.
 *
 * Settings live here as GUCs; the prefix "seg_reco" is reserved so that a
 * misspelt setting is reported instead of silently ignored.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "linalg.h"
#include "threads.h"

PG_MODULE_MAGIC;

/*
 * seg_reco.blas_threads: OpenBLAS threads per backend, set before each
 * training call.  Default 1: every backend is its own process, so N
 * concurrent trainings with T threads each run N x T threads on the
 * machine's cores (oversubscription makes OpenBLAS many times slower), and
 * most of the work in k-means and EM around the BLAS calls (argmin,
 * exp/log, accumulation) is single-threaded anyway.  A session that trains
 * alone on an idle server may raise it.
 */
int			seg_reco_blas_threads = 1;

/*
 * seg_reco.threads: threads one call may use for seg_reco's own data-sized
 * loops (k-means passes, ALS solves and loss), the backend's own thread
 * included.  Default 2, the same parallelism PostgreSQL gives one query by
 * default (max_parallel_workers_per_gather = 2); 1 keeps every call on one
 * core.  Results do not depend on it.
 */
int			seg_reco_threads = 2;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("seg_reco.blas_threads",
							"Threads OpenBLAS may use in one backend for seg_reco's training.",
							"Applied at the start of each training call; keep it at 1 when several "
							"sessions train at once.",
							&seg_reco_blas_threads,
							1, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("seg_reco.threads",
							"Threads one seg_reco call may use for its own loops (training and scoring).",
							"The backend's own thread included; results do not depend on it. "
							"1 keeps every call on one core.",
							&seg_reco_threads,
							2, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("seg_reco");
}
