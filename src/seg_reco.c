/*
 * seg_reco.c
 *      Module magic and _PG_init for the seg_reco extension.
 *
 * Settings live here as GUCs; the prefix "seg_reco" is reserved so that a
 * misspelt setting is reported instead of silently ignored.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "linalg.h"
#include "progress.h"
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

/*
 * seg_reco.max_threads: the server's ceiling on both settings above, for
 * every session.  Only the server's configuration (postgresql.conf, ALTER
 * SYSTEM; reloaded with pg_reload_conf) sets it, so a role that may SET
 * seg_reco.threads cannot take more of the machine than the administrator
 * allows.  Checked when a session sets a thread count, and applied again
 * at use (a lowered ceiling also caps sessions that set theirs before).
 */
int			seg_reco_max_threads = 4;

/*
 * seg_reco.progress_messages: a NOTICE at each start and end of a step of
 * long seg_reco work (refresh, generate_demo_data, als_train, evaluate,
 * tune_weights, recommend_all), and within a step at most every
 * seg_reco.progress_message_interval seconds.  Off by default: the same
 * progress is always visible to other sessions in seg_reco.progress.
 */
bool		seg_reco_progress_messages = false;
int			seg_reco_progress_message_interval = 10;

/*
 * seg_reco.state_memory: the memory one pass of refresh()'s per-customer
 * state (customer_state.c) may hold its states in; beyond, its customers
 * are split in two by a hash of their ids and read in two passes.
 */
int			seg_reco_state_memory = 524288;

void		_PG_init(void);

/*
 * Refuse a thread count over seg_reco.max_threads when a session or role
 * sets it (SET, ALTER ROLE/DATABASE ... SET, PGOPTIONS); values from the
 * server's own configuration pass, and are capped at use.
 */
static bool
check_thread_count(int *newval, void **extra, GucSource source)
{
	if (source >= PGC_S_DATABASE && *newval > seg_reco_max_threads)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("thread count %d is over seg_reco.max_threads (%d)",
						 *newval, seg_reco_max_threads);
		GUC_check_errdetail("seg_reco.max_threads caps the threads of every session.");
		GUC_check_errhint("Ask the administrator to raise seg_reco.max_threads in postgresql.conf "
						  "(or with ALTER SYSTEM), then reload.");
		return false;
	}
	return true;
}

/*
 * seg_reco.simd: the instruction set of the kernels that choose by the CPU
 * at run time (linalg_score.c): auto (the best the CPU supports), or a
 * level to use at most, to compare them (every level gives the same bits).
 */
int			seg_reco_simd = SEG_RECO_SIMD_AUTO;

static const struct config_enum_entry simd_options[] = {
	{"auto", SEG_RECO_SIMD_AUTO, false},
	{"avx512f", SEG_RECO_SIMD_AVX512, false},
	{"avx2", SEG_RECO_SIMD_AVX2, false},
	{"generic", SEG_RECO_SIMD_GENERIC, false},
	{NULL, 0, false}
};

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
							check_thread_count, NULL, NULL);
	DefineCustomIntVariable("seg_reco.threads",
							"Threads one seg_reco call may use for its own loops (training and scoring).",
							"The backend's own thread included; results do not depend on it. "
							"1 keeps every call on one core.",
							&seg_reco_threads,
							2, 1, 64,
							PGC_USERSET, 0,
							check_thread_count, NULL, NULL);
	DefineCustomIntVariable("seg_reco.max_threads",
							"Most threads any session may use for seg_reco.threads and seg_reco.blas_threads.",
							"Set in the server's configuration; sessions cannot raise it.",
							&seg_reco_max_threads,
							4, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("seg_reco.progress_messages",
							 "Sends a NOTICE as long seg_reco work (refresh, generate_demo_data, "
							 "als_train, evaluate, tune_weights, recommend_all) goes through its steps.",
							 "At each start and end of a step, and within a step at most every "
							 "seg_reco.progress_message_interval.",
							 &seg_reco_progress_messages,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("seg_reco.progress_message_interval",
							"Least time between two progress messages within a step.",
							"Applies when seg_reco.progress_messages is on.",
							&seg_reco_progress_message_interval,
							10, 1, 86400,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("seg_reco.simd",
							 "Instruction set of seg_reco's run-time chosen kernels (recommend_all's scores).",
							 "auto uses the best the CPU supports (seg_reco.simd_info() shows it); "
							 "avx512f, avx2 or generic use at most that one. Results are the same bits "
							 "at every level.",
							 &seg_reco_simd,
							 SEG_RECO_SIMD_AUTO, simd_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("seg_reco.state_memory",
							"Memory for the per-customer states of one pass over the lines (refresh's customer state).",
							"When the states outgrow it, the customers are split by a hash of their ids and "
							"read in more passes. Results do not depend on it.",
							&seg_reco_state_memory,
							524288, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("seg_reco");
}
