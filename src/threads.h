/*
 * threads.h
 *      Worker threads for seg_reco's data-sized loops, and the contract of
 *      what their tasks may call.
 *
 * seg_reco_parallel_for(ntasks, fn, arg) runs fn(arg, task, worker) for
 * every task in [0, ntasks) on up to seg_reco.threads threads, the calling
 * backend's thread included, and returns when all tasks are done.
 *
 * The contract.  Nothing in PostgreSQL is thread-safe, so fn, and every
 * function it reaches, runs plain C on the arrays the caller prepared:
 *   - no memory management: no palloc/palloc0/pfree/repalloc, no
 *     MemoryContext* call or switch, no malloc; the caller allocates all,
 *     per-worker scratch indexed by worker (0 ..
 *     seg_reco_parallel_workers(ntasks) - 1);
 *   - no errors: no elog/ereport/errmsg, no PG_TRY; a failure is written to
 *     the caller's arrays and reported by the caller after
 *     seg_reco_parallel_for returns;
 *   - no CHECK_FOR_INTERRUPTS(): SEG_RECO_CHECK_FOR_INTERRUPTS() (below) is
 *     the allowed form, a no-op on task threads;
 *   - no SPI, no catalog, syscache, relcache or buffer access, no fmgr call
 *     or Datum detoasting, no PostgreSQL global variable;
 *   - no OpenBLAS/LAPACK (cblas_*, openblas_*, dpotrf_): linalg's BLAS
 *     wrappers run on the backend's thread only;
 *   - no seg_reco_parallel_for, and no call through a function pointer (the
 *     check cannot follow it: dispatch with a switch of direct calls).
 * The C library, libm and pg_qsort (qsort) are fine.  Results must not
 * depend on which worker ran a task: write per-task partial results and
 * reduce them in task order afterwards, so that the same input gives the
 * same bits whatever seg_reco.threads is.
 *
 * The allowed set: the task entry points (marked *: the fn of each
 * seg_reco_parallel_for or seg_reco_parallel_begin call) and every function
 * they reach, by file.  Each carries the comment "task-safe: see threads.h"
 * at its definition.
 * scripts/check_threads.py, a test of scripts/test.sh, computes this set
 * from the call graph and fails when a function in it breaks the rules
 * above, or when this list or those comments disagree with the code.
 *   als_train.c: bucket_sort_task*, cg_task*, loss_task*, cg_rows, faxpy,
 *       fdot, fsymv, loss_rows, raw_cmp, sort_raw_rows_worker
 *       (lib/sort_template.h)
 *   kmeans.c: km_pass_task*, km_rows_task*, centre_task, colsum_task,
 *       exact_sqdist, final_task, first_block, inertia_task, km_block,
 *       km_centre_rows, km_nearest_exact, lloyd_block, pot_block, pot_col
 *   linalg.c: fr_finish, seg_reco_count_true, seg_reco_dot_rows_f,
 *       seg_reco_sqdist_small, seg_reco_sqdist_small_pad, seg_reco_topk,
 *       seg_reco_topk_set, topk_select_value,
 *       sqdist_fixed, topk_offer, topk_sift_down,
 *       topk_threshold, topk_worse
 *   linalg_score.c: score_rows_avx2, score_rows_avx512, score_rows_f_avx2,
 *       score_rows_f_avx512, score_rows_f_generic, score_rows_generic,
 *       screen_low_bit, screen_mask, screen_visit,
 *       seg_reco_als_screen, seg_reco_score_rows, seg_reco_score_rows_f,
 *       seg_reco_screen_bound
 *   nbr.c: nb_heap_task*, nb_product_task*, nb_row_task*, nb_cmp_double, nb_distinct_times,
 *       nb_cmp_int32, nb_keep, seg_reco_tifu_vector, tifu_occasion_weights
 *   linalg.h: seg_reco_heap_offer, seg_reco_sort_candidates
 *   reco.h: universe_index
 *   reco_blend.c: allowed_minmax, blend_buy_again, blend_nextbasket, blend_seasonal,
 *       blend_sum, blend_upcf, buy_again_one, cmp_double, count_allowed,
 *       count_receipts, normalise, own_product, scale_own,
 *       scale_allowed, seg_reco_blend_als_pool, seg_reco_blend_customer,
 *       seg_reco_row_contributions, sort_double (lib/sort_template.h),
 *       weighted_sum
 *   reco_select.c: seg_reco_select_from_given_pool,
 *       seg_reco_select_list_prepared, select_first_pool, select_from_pool
 *   reco_serve.c: ra_task*, cmp_occ, ra_customer, ra_allowed, ra_screen, ra_screened,
 *       seg_reco_tidy_occasions, sort_occ_rows (lib/sort_template.h)
 *   tfidf.c: score_slices, seg_reco_content_cosine, seg_reco_content_index,
 *       seg_reco_content_profile_from, seg_reco_content_score_all
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
 * The same in two halves, so that the backend's thread can do other work
 * (SPI, tuplestores: anything but these tasks' arrays) while the other
 * threads run tasks: seg_reco_parallel_begin(ntasks, fn, arg) starts them
 * and returns at once; seg_reco_parallel_end(p) runs the tasks left on
 * the calling thread (as worker 0) and joins the threads.  Between the
 * two, an ERROR must not leave the threads running: the caller catches it
 * (PG_TRY), calls seg_reco_parallel_cancel(p) (tasks not yet started are
 * skipped, the threads joined) and rethrows.  scripts/check_threads.py
 * takes the fn of seg_reco_parallel_begin as a task entry point too.
 */
typedef struct SegRecoParallel SegRecoParallel;

extern SegRecoParallel *seg_reco_parallel_begin(int64 ntasks, seg_reco_task_fn fn, void *arg);
extern void seg_reco_parallel_end(SegRecoParallel *p);
extern void seg_reco_parallel_cancel(SegRecoParallel *p);

/*
 * Task code checks for interrupts with SEG_RECO_CHECK_FOR_INTERRUPTS(): an
 * out-of-line CHECK_FOR_INTERRUPTS() that does nothing on a thread running
 * tasks (the backend's included, while it does), since an ERROR thrown from
 * a task would leave the other threads running.  Helpers shared between
 * tasks and ordinary backend code use it; a plain CHECK_FOR_INTERRUPTS()
 * breaks the contract.
 */
extern void seg_reco_check_for_interrupts_off_tasks(void);

#define SEG_RECO_CHECK_FOR_INTERRUPTS() seg_reco_check_for_interrupts_off_tasks()

#endif							/* SEG_RECO_THREADS_H */
