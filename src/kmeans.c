/*
 * kmeans.c
 *      k-means clustering: seeding, Lloyd iterations, the training
 *      aggregate, the model type and its text form, and assignment.  Row
 *      collection, options and feature preparation are shared with the
 *      other clustering aggregates (clustering.c).
 *
 * seg_reco.kmeans_train(features float8[], k int [, options jsonb]) collects
 * the rows in a compact n x d buffer (internal state, in the aggregate
 * context) and trains in the final function:
 *
 *   - the rows are put in an order of their own (clustering.c), so that
 *     the same rows in any order give the same model;
 *   - feature preparation (clustering.c; stored with the model, applied by
 *     assignment): log1p on chosen columns, then optional z-scores
 *     (population std; a constant column keeps scale 1);
 *   - k-means++ seeding, the greedy variant scikit-learn uses: 2 + ln(k)
 *     candidates per centre, the one that lowers the potential most wins;
 *   - Lloyd iterations with squared distances from dgemm in blocks
 *     (linalg.c), empty clusters moved to the points farthest from their
 *     centres, stop when labels no longer change or the total squared
 *     centre shift is at most tol x the mean feature variance;
 *   - n_init restarts (default 3) from one seeded pg_prng stream; the run
 *     with the lowest inertia wins;
 *   - the final model in the original coordinates: centroids the means of
 *     the best run's clusters, sizes and inertia from the rows' nearest
 *     centroids by exact distances, as kmeans_assign finds them.
 *
 * Rows whose features array is NULL are skipped; a NULL, NaN or infinite
 * element is an error (the caller decides how to repair such rows).
 * Clusters are numbered 1..k in SQL.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "citus.h"
#include "clustering.h"
#include "guards.h"
#include "kmeans.h"
#include "linalg.h"
#include "memory.h"
#include "threads.h"

/* ======================================================================
 * Passes over the points
 * ====================================================================== */

/*
 * Every pass over the points runs in tasks of KM_TASK_ROWS rows, on up to
 * seg_reco.threads threads (threads.h) when the distances come from the
 * small kernel (k <= SEG_RECO_SMALL_K), else on the backend's thread with
 * dgemm.  Sums are kept per task and added in task order, so a model does
 * not depend on the number of threads.  Between calls of at most
 * KM_TASKS_PER_CALL tasks the backend checks for interrupts.
 */
#define KM_TASK_ROWS		16384
#define KM_TASKS_PER_CALL	64

static inline int64
km_ntasks(int64 n)
{
	return (n + KM_TASK_ROWS - 1) / KM_TASK_ROWS;
}

/*
 * What a pass does with each block of distances, and what each row task of
 * km_rows computes: chosen by a switch (km_block, km_rows_task), not through
 * function pointers, so that the tasks reach every function by a direct call
 * (the thread contract's check follows only those, threads.h).  The block
 * functions get the block's rows centred (xc) beside their distances.
 */
typedef enum KmBlockKind
{
	KM_FIRST,					/* first_block: FirstArg */
	KM_POT,						/* pot_block: PotArg */
	KM_LLOYD					/* lloyd_block, then lloyd_after: LloydArg */
} KmBlockKind;

typedef enum KmRowsKind
{
	KM_COLSUM,					/* colsum_task: PrepArg */
	KM_CENTRE,					/* centre_task: PrepArg */
	KM_INERTIA,					/* inertia_task: InertiaArg */
	KM_FINAL					/* final_task: FinalArg */
} KmRowsKind;

static void first_block(void *arg, int64 task, int64 row0, int rows, const double *xc,
						const double *dist);
static void pot_block(void *arg, int64 task, int64 row0, int rows, const double *xc,
					  const double *dist);
static void lloyd_block(void *arg, int64 task, int64 row0, int rows, const double *xc,
						const double *dist);
static void lloyd_after(void *arg, int64 task0, int64 m);
static void colsum_task(void *arg, int64 task, int worker);
static void centre_task(void *arg, int64 task, int worker);
static void inertia_task(void *arg, int64 task, int worker);
static void final_task(void *arg, int64 task, int worker);

/*
 * The points are centred (x less the column means) for the accuracy of the
 * distance form |x|^2 - 2 x.c + |c|^2, on the fly: the rows themselves stay
 * as given, so the final pass in the original coordinates sees exactly the
 * values kmeans_assign sees.
 */
/* task-safe: see threads.h */
static inline void
km_centre_rows(const double *x, const double *mean, int64 row0, int rows, int d, double *out)
{
	const double *r = x + row0 * d;
	int			i,
				j;

	for (i = 0; i < rows; i++)
		for (j = 0; j < d; j++)
			out[(Size) i * d + j] = r[(Size) i * d + j] - mean[j];
}

typedef struct KmPass
{
	const double *x;			/* the rows as given */
	const double *mean;			/* subtracted on the fly */
	const double *xnorm;		/* squared norms of the centred rows */
	int64		n;
	int			d;
	int			k;
	const double *c;			/* k x d (dgemm) */
	double	   *ct;				/* d x pad (small kernel) */
	const double *cnorm;
	int			block;
	double	   *scratch;		/* per worker: block x k */
	double	   *xcs;			/* per worker: block x d, the centred rows */
	int64		task0;
	KmBlockKind kind;
	void	   *arg;
} KmPass;

/* the pass's work on one block of rows of a task, given their distances */
/* task-safe: see threads.h */
static void
km_block(const KmPass *p, int64 task, int64 row0, int rows, const double *xc,
		 const double *dist)
{
	switch (p->kind)
	{
		case KM_FIRST:
			first_block(p->arg, task, row0, rows, xc, dist);
			break;
		case KM_POT:
			pot_block(p->arg, task, row0, rows, xc, dist);
			break;
		case KM_LLOYD:
			lloyd_block(p->arg, task, row0, rows, xc, dist);
			break;
	}
}

/* one task of a pass with the small kernel (k <= SEG_RECO_SMALL_K) */
/* task-safe: see threads.h */
static void
km_pass_task(void *a, int64 t, int worker)
{
	KmPass	   *p = (KmPass *) a;
	int64		task = p->task0 + t;
	int64		r0 = task * KM_TASK_ROWS,
				rend = Min(r0 + KM_TASK_ROWS, p->n),
				row0;
	double	   *dist = p->scratch + (Size) worker * p->block * p->k;
	double	   *xc = p->xcs + (Size) worker * p->block * p->d;

	for (row0 = r0; row0 < rend; row0 += p->block)
	{
		int			rows = (int) Min((int64) p->block, rend - row0);

		km_centre_rows(p->x, p->mean, row0, rows, p->d, xc);
		seg_reco_sqdist_small(xc, p->xnorm + row0, rows, p->d,
							  p->ct, p->cnorm, p->k, dist);
		km_block(p, task, row0, rows, xc, dist);
	}
}

/* the same task with distances from dgemm: on the backend's thread only */
static void
km_pass_gemm(KmPass *p, int64 t)
{
	int64		task = p->task0 + t;
	int64		r0 = task * KM_TASK_ROWS,
				rend = Min(r0 + KM_TASK_ROWS, p->n),
				row0;
	double	   *dist = p->scratch;
	double	   *xc = p->xcs;

	for (row0 = r0; row0 < rend; row0 += p->block)
	{
		int			rows = (int) Min((int64) p->block, rend - row0);
		int			i,
					j;

		CHECK_FOR_INTERRUPTS();

		km_centre_rows(p->x, p->mean, row0, rows, p->d, xc);
		seg_reco_gemm(false, true, rows, p->k, p->d, -2.0, xc, p->d,
					  p->c, p->d, 0.0, dist, p->k);
		for (i = 0; i < rows; i++)
		{
			double	   *r = dist + (Size) i * p->k;
			double		xn = p->xnorm[row0 + i];

			for (j = 0; j < p->k; j++)
			{
				double		v = r[j] + xn + p->cnorm[j];

				r[j] = v > 0.0 ? v : 0.0;
			}
		}
		km_block(p, task, row0, rows, xc, dist);
	}
}

/*
 * squared distances of all n points (x less mean) to the k centres c,
 * block by block
 */
static void
km_pass(const double *x, const double *mean, const double *xnorm, int64 n, int d,
		const double *c, const double *cnorm, int k, KmBlockKind kind, void *arg)
{
	KmPass		p;
	int64		ntasks = km_ntasks(n),
				t0;
	bool		small = (k <= SEG_RECO_SMALL_K);
	int			workers = small ? seg_reco_parallel_workers(Min(ntasks, KM_TASKS_PER_CALL)) : 1;
	int			i,
				j;
	int64		per_call;

	/* calls of about 2e8 multiply-adds (a tenth of a second), >= 1 task a thread */
	per_call = (int64) (2e8 / ((double) KM_TASK_ROWS * k * d));
	per_call = Max(per_call, (int64) seg_reco_parallel_workers(ntasks));
	per_call = Min(per_call, (int64) KM_TASKS_PER_CALL);

	p.x = x;
	p.mean = mean;
	p.xnorm = xnorm;
	p.n = n;
	p.d = d;
	p.k = k;
	p.c = c;
	p.cnorm = cnorm;
	/* blocks of distances and of centred rows of at most 32768 values */
	p.block = Min(seg_reco_block_rows(Max(k, d)), KM_TASK_ROWS);
	p.ct = NULL;
	if (small)
	{
		int			kp = seg_reco_sqdist_small_pad(k);

		p.ct = palloc0(sizeof(double) * (Size) kp * d);
		for (i = 0; i < k; i++)
			for (j = 0; j < d; j++)
				p.ct[(Size) j * kp + i] = c[(Size) i * d + j];
	}
	p.scratch = palloc(sizeof(double) * (Size) workers * p.block * k);
	p.xcs = palloc(sizeof(double) * (Size) workers * p.block * d);
	p.kind = kind;
	p.arg = arg;
	for (t0 = 0; t0 < ntasks; t0 += per_call)
	{
		int64		m = Min(per_call, ntasks - t0);

		CHECK_FOR_INTERRUPTS();
		p.task0 = t0;
		if (small)
			seg_reco_parallel_for(m, km_pass_task, &p);
		else
		{
			int64		t;

			for (t = 0; t < m; t++)
				km_pass_gemm(&p, t);
		}
		/* on the backend's thread, for tasks t0 .. t0 + m - 1 */
		if (kind == KM_LLOYD)
			lloyd_after(arg, t0, m);
	}
	if (p.ct)
		pfree(p.ct);
	pfree(p.scratch);
	pfree(p.xcs);
}

/* the task of the given kind over the row tasks of n rows, on the threads */
typedef struct KmRowsCall
{
	KmRowsKind	kind;
	void	   *arg;
	int64		task0;
} KmRowsCall;

/* task-safe: see threads.h */
static void
km_rows_task(void *a, int64 t, int worker)
{
	KmRowsCall *c = (KmRowsCall *) a;
	int64		task = c->task0 + t;

	switch (c->kind)
	{
		case KM_COLSUM:
			colsum_task(c->arg, task, worker);
			break;
		case KM_CENTRE:
			centre_task(c->arg, task, worker);
			break;
		case KM_INERTIA:
			inertia_task(c->arg, task, worker);
			break;
		case KM_FINAL:
			final_task(c->arg, task, worker);
			break;
	}
}

static void
km_rows(int64 n, KmRowsKind kind, void *arg)
{
	int64		ntasks = km_ntasks(n),
				t0;

	for (t0 = 0; t0 < ntasks; t0 += KM_TASKS_PER_CALL)
	{
		KmRowsCall	c;

		CHECK_FOR_INTERRUPTS();
		c.kind = kind;
		c.arg = arg;
		c.task0 = t0;
		seg_reco_parallel_for(Min((int64) KM_TASKS_PER_CALL, ntasks - t0), km_rows_task, &c);
	}
}

/*
 * Preparation of the points, per task: column sums; squared norms of the
 * centred points.
 */
typedef struct PrepArg
{
	const double *x;
	int64		n;
	int			d;
	const double *mean;
	double	   *xnorm;
	double	   *tsum;			/* per task: d column sums, or 1 norm sum */
} PrepArg;

/* task-safe: see threads.h */
static void
colsum_task(void *arg, int64 task, int worker)
{
	PrepArg    *a = (PrepArg *) arg;
	int64		iend = Min(a->n, (task + 1) * KM_TASK_ROWS),
				i;
	double	   *s = a->tsum + task * a->d;
	int			j;

	for (j = 0; j < a->d; j++)
		s[j] = 0.0;
	for (i = task * KM_TASK_ROWS; i < iend; i++)
		for (j = 0; j < a->d; j++)
			s[j] += a->x[i * a->d + j];
}

/* task-safe: see threads.h */
static void
centre_task(void *arg, int64 task, int worker)
{
	PrepArg    *a = (PrepArg *) arg;
	int64		iend = Min(a->n, (task + 1) * KM_TASK_ROWS),
				i;
	double		total = 0.0;
	int			j;

	for (i = task * KM_TASK_ROWS; i < iend; i++)
	{
		const double *r = a->x + i * a->d;
		double		s = 0.0;

		for (j = 0; j < a->d; j++)
		{
			double		c = r[j] - a->mean[j];

			s += c * c;
		}
		a->xnorm[i] = s;
		total += s;
	}
	a->tsum[task] = total;
}

/* ---- seeding ---- */

/* first centre: closest = its distance; per-task sums */
typedef struct FirstArg
{
	double	   *closest;
	double	   *tsum;
} FirstArg;

/* task-safe: see threads.h */
static void
first_block(void *arg, int64 task, int64 row0, int rows, const double *xc, const double *dist)
{
	FirstArg   *a = (FirstArg *) arg;
	double		s = a->tsum[task];
	int			i;

	for (i = 0; i < rows; i++)
	{
		a->closest[row0 + i] = dist[i];
		s += dist[i];
	}
	a->tsum[task] = s;
}

/* candidates: min(closest, distance to each) into their own columns */
typedef struct PotArg
{
	const double *closest;
	double	   *cols;			/* (ntrials + 1) columns of n */
	int64		n;
	int			ncand;
	int			ci;				/* the column closest is */
	double	   *tpot;			/* ntasks x ncand */
} PotArg;

/* task-safe: see threads.h */
static inline int
pot_col(int t, int ci)
{
	return t < ci ? t : t + 1;
}

/* task-safe: see threads.h */
static void
pot_block(void *arg, int64 task, int64 row0, int rows, const double *xc, const double *dist)
{
	PotArg	   *a = (PotArg *) arg;
	const double *closest = a->closest + row0;
	int			ncand = a->ncand;
	int			i,
				t;

	for (t = 0; t < ncand; t++)
	{
		double	   *out = a->cols + (Size) pot_col(t, a->ci) * a->n + row0;
		double		pot = a->tpot[task * ncand + t];

		for (i = 0; i < rows; i++)
		{
			double		c = closest[i];
			double		r = dist[(Size) i * ncand + t];
			double		m = Min(c, r);

			out[i] = m;
			pot += m;
		}
		a->tpot[task * ncand + t] = pot;
	}
}

/* task-safe: see threads.h */
static double
exact_sqdist(const double *a, const double *b, int d)
{
	double		s = 0.0;
	int			j;

	for (j = 0; j < d; j++)
	{
		double		t = a[j] - b[j];

		s += t * t;
	}
	return s;
}

static void
error_distinct(int k, int found)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("k = %d is greater than the number of distinct points (%d)", k, found),
			 errhint("Use a smaller k.")));
}

/*
 * Index i with the running sum of closest[0..i] >= r first (numpy's
 * searchsorted, side left), found through the per-task sums.
 */
static int64
km_sample(const double *closest, const double *tsum, int64 n, double r)
{
	int64		ntasks = km_ntasks(n),
				t,
				i,
				iend;
	double		acc = 0.0;

	for (t = 0; t < ntasks; t++)
	{
		if (acc + tsum[t] >= r)
			break;
		acc += tsum[t];
	}
	if (t == ntasks)
		return n - 1;
	iend = Min(n, (t + 1) * KM_TASK_ROWS);
	for (i = t * KM_TASK_ROWS; i < iend; i++)
	{
		acc += closest[i];
		if (acc >= r)
			return i;
	}
	return iend - 1;
}

/*
 * Greedy k-means++ (scikit-learn's _kmeans_plusplus): centres into centers.
 * cols: (2 + ln k + 1) x n scratch; on return *closest_out points to the
 * column holding each point's squared distance to its nearest centre.
 */
static void
kmeans_pp(const double *x, const double *mean, const double *xnorm, double sumx, int64 n,
		  int d, int k, pg_prng_state *rng, double *centers, double *cols)
{
	int			ntrials = 2 + (int) log((double) k);
	int64		ntasks = km_ntasks(n);
	int64	   *cand = palloc(sizeof(int64) * ntrials);
	double	   *cpts = palloc(sizeof(double) * (Size) ntrials * d);
	double	   *cnorm = palloc(sizeof(double) * ntrials);
	double	   *pots = palloc(sizeof(double) * ntrials);
	double	   *tsum = palloc0(sizeof(double) * ntasks);
	double	   *tpot = palloc(sizeof(double) * ntasks * ntrials);
	double	   *xc = palloc(sizeof(double) * d);
	int64		first,
				i,
				task;
	int			c,
				t,
				ci = 0;
	FirstArg	fa;

	first = (int64) pg_prng_uint64_range(rng, 0, (uint64) (n - 1));
	km_centre_rows(x, mean, first, 1, d, centers);
	cnorm[0] = xnorm[first];
	fa.closest = cols;
	fa.tsum = tsum;
	km_pass(x, mean, xnorm, n, d, centers, cnorm, 1, KM_FIRST, &fa);

	for (c = 1; c < k; c++)
	{
		PotArg		pa;
		double	   *closest = cols + (Size) ci * n;
		double		pot = 0.0;
		int			best;

		for (task = 0; task < ntasks; task++)
			pot += tsum[task];
		/* rounding in the dot-product form can hide duplicates: check exactly */
		if (pot <= 1e-12 * (sumx + 1.0))
		{
			pot = 0.0;
			for (task = 0; task < ntasks; task++)
			{
				int64		iend = Min(n, (task + 1) * KM_TASK_ROWS);

				CHECK_FOR_INTERRUPTS();
				tsum[task] = 0.0;
				for (i = task * KM_TASK_ROWS; i < iend; i++)
				{
					double		m = DBL_MAX;
					int			cc;

					km_centre_rows(x, mean, i, 1, d, xc);
					for (cc = 0; cc < c; cc++)
						m = Min(m, exact_sqdist(xc, centers + (Size) cc * d, d));
					closest[i] = m;
					tsum[task] += m;
				}
				pot += tsum[task];
			}
			if (pot == 0.0)
				error_distinct(k, c);
		}
		for (t = 0; t < ntrials; t++)
		{
			double		r = pg_prng_double(rng) * pot;

			cand[t] = km_sample(closest, tsum, n, r);
			km_centre_rows(x, mean, cand[t], 1, d, cpts + (Size) t * d);
			cnorm[t] = xnorm[cand[t]];
		}
		memset(tpot, 0, sizeof(double) * ntasks * ntrials);
		pa.closest = closest;
		pa.cols = cols;
		pa.n = n;
		pa.ncand = ntrials;
		pa.ci = ci;
		pa.tpot = tpot;
		km_pass(x, mean, xnorm, n, d, cpts, cnorm, ntrials, KM_POT, &pa);
		for (t = 0; t < ntrials; t++)
		{
			pots[t] = 0.0;
			for (task = 0; task < ntasks; task++)
				pots[t] += tpot[task * ntrials + t];
		}
		best = 0;
		for (t = 1; t < ntrials; t++)
			if (pots[t] < pots[best])
				best = t;
		memcpy(centers + (Size) c * d, cpts + (Size) best * d, sizeof(double) * d);
		/* the chosen candidate's column is the new closest */
		ci = pot_col(best, ci);
		for (task = 0; task < ntasks; task++)
			tsum[task] = tpot[task * ntrials + best];
	}
	pfree(cand);
	pfree(cpts);
	pfree(cnorm);
	pfree(pots);
	pfree(tsum);
	pfree(tpot);
	pfree(xc);
}

/* ---- Lloyd ---- */

typedef struct LloydArg
{
	int			d;
	int			k;
	int32	   *labels;
	double	   *mind;
	bool		with_sums;
	bool		parallel;		/* per-task slots, else slot 0 */
	int64		task0;
	double	   *psums;			/* slots x k x d */
	int64	   *pcounts;		/* slots x k */
	bool	   *pchanged;		/* slots */
	double	   *sums;			/* k x d totals */
	int64	   *counts;
	bool		changed;
} LloydArg;

/* task-safe: see threads.h */
static void
lloyd_block(void *arg, int64 task, int64 row0, int rows, const double *xc, const double *dist)
{
	LloydArg   *a = (LloydArg *) arg;
	int			k = a->k,
				d = a->d;
	int64		slot = a->parallel ? task - a->task0 : 0;
	double	   *sums = a->psums + (Size) slot * k * d;
	int64	   *counts = a->pcounts + (Size) slot * k;
	bool		changed = a->pchanged[slot];
	int			i,
				j;

	for (i = 0; i < rows; i++)
	{
		const double *r = dist + (Size) i * k;
		int64		row = row0 + i;
		double		bv = r[0];
		int			best = 0;

		for (j = 1; j < k; j++)
			if (r[j] < bv)
			{
				bv = r[j];
				best = j;
			}
		changed |= (a->labels[row] != best);
		a->labels[row] = best;
		a->mind[row] = bv;
		if (a->with_sums)
		{
			const double *xr = xc + (Size) i * d;
			double	   *sc = sums + (Size) best * d;

			counts[best]++;
			for (j = 0; j < d; j++)
				sc[j] += xr[j];
		}
	}
	a->pchanged[slot] = changed;
}

/* after each call: add the slots to the totals in task order, clear them */
static void
lloyd_after(void *arg, int64 task0, int64 m)
{
	LloydArg   *a = (LloydArg *) arg;
	int64		nslots = a->parallel ? m : 1,
				s;
	int			kd = a->k * a->d,
				j;

	for (s = 0; s < nslots; s++)
	{
		a->changed |= a->pchanged[s];
		a->pchanged[s] = false;
		if (!a->with_sums)
			continue;
		for (j = 0; j < kd; j++)
			a->sums[j] += a->psums[s * kd + j];
		for (j = 0; j < a->k; j++)
			a->counts[j] += a->pcounts[s * a->k + j];
		memset(a->psums + s * kd, 0, sizeof(double) * kd);
		memset(a->pcounts + s * a->k, 0, sizeof(int64) * a->k);
	}
	a->task0 = task0 + m;
}

/*
 * One assignment pass.  labels hold the previous assignment on entry;
 * returns whether any label changed.  With sums NULL only labels and mind
 * are set.
 */
static bool
lloyd_pass(const double *x, const double *mean, const double *xnorm, int64 n, int d, int k,
		   const double *centers, const double *cnorm, int32 *labels,
		   double *mind, double *sums, int64 *counts, LloydArg *a)
{
	a->d = d;
	a->k = k;
	a->labels = labels;
	a->mind = mind;
	a->with_sums = (sums != NULL);
	a->parallel = (k <= SEG_RECO_SMALL_K);
	a->task0 = 0;
	a->sums = sums;
	a->counts = counts;
	a->changed = false;
	km_pass(x, mean, xnorm, n, d, centers, cnorm, k, KM_LLOYD, a);
	return a->changed;
}

/* per-task exact squared distances of x less mean to the assigned centres */
typedef struct InertiaArg
{
	const double *x;
	const double *mean;
	const double *centers;
	const int32 *labels;
	int64		n;
	int			d;
	double	   *tin;			/* per task */
} InertiaArg;

/* task-safe: see threads.h */
static void
inertia_task(void *arg, int64 task, int worker)
{
	InertiaArg *a = (InertiaArg *) arg;
	int64		iend = Min(a->n, (task + 1) * KM_TASK_ROWS),
				i;
	double		s = 0.0;
	int			j;

	for (i = task * KM_TASK_ROWS; i < iend; i++)
	{
		const double *r = a->x + i * a->d;
		const double *c = a->centers + (Size) a->labels[i] * a->d;

		for (j = 0; j < a->d; j++)
		{
			double		t = (r[j] - a->mean[j]) - c[j];

			s += t * t;
		}
	}
	a->tin[task] = s;
}

static double
km_inertia(const double *x, const double *mean, const double *centers, const int32 *labels,
		   int64 n, int d)
{
	InertiaArg	a;
	int64		ntasks = km_ntasks(n),
				t;
	double		inertia = 0.0;

	a.x = x;
	a.mean = mean;
	a.centers = centers;
	a.labels = labels;
	a.n = n;
	a.d = d;
	a.tin = palloc(sizeof(double) * ntasks);
	km_rows(n, KM_INERTIA, &a);
	for (t = 0; t < ntasks; t++)
		inertia += a.tin[t];
	pfree(a.tin);
	return inertia;
}

/* one Lloyd run from the seeded centers; returns inertia */
static double
kmeans_lloyd(const double *x, const double *mean, const double *xnorm, int64 n, int d, int k,
			 int max_iter, double tol_abs, double *centers, int32 *labels,
			 double *mind, int64 *counts, int *iterations)
{
	double	   *sums = palloc(sizeof(double) * (Size) k * d);
	double	   *xc = palloc(sizeof(double) * d);
	double	   *cnorm = palloc(sizeof(double) * k);
	int64		nslots = (k <= SEG_RECO_SMALL_K) ? Min(km_ntasks(n), KM_TASKS_PER_CALL) : 1;
	LloydArg	la;
	bool		strict = false;
	int			it;
	int64		i;
	double		inertia;

	la.psums = palloc0(sizeof(double) * (Size) nslots * k * d);
	la.pcounts = palloc0(sizeof(int64) * (Size) nslots * k);
	la.pchanged = palloc0(sizeof(bool) * nslots);
	for (i = 0; i < n; i++)
		labels[i] = -1;

	*iterations = 0;
	for (it = 0; it < max_iter; it++)
	{
		double		shift = 0.0;
		bool		changed;
		int			c,
					j;

		seg_reco_row_sqnorms(centers, k, d, cnorm);
		memset(sums, 0, sizeof(double) * (Size) k * d);
		memset(counts, 0, sizeof(int64) * k);
		changed = lloyd_pass(x, mean, xnorm, n, d, k, centers, cnorm, labels, mind,
							 sums, counts, &la);

		/* empty clusters take the points farthest from their centres */
		for (c = 0; c < k; c++)
		{
			int64		far = -1;
			double		fv = -1.0;
			int			old;

			if (counts[c] > 0)
				continue;
			for (i = 0; i < n; i++)
				if (mind[i] > fv)
				{
					fv = mind[i];
					far = i;
				}
			if (far < 0)
				break;
			old = labels[far];
			mind[far] = -1.0;	/* not picked twice */
			km_centre_rows(x, mean, far, 1, d, xc);
			for (j = 0; j < d; j++)
			{
				sums[(Size) old * d + j] -= xc[j];
				sums[(Size) c * d + j] = xc[j];
			}
			counts[old]--;
			counts[c] = 1;
		}

		for (c = 0; c < k; c++)
		{
			double	   *cc = centers + (Size) c * d;

			if (counts[c] == 0)
				continue;
			for (j = 0; j < d; j++)
			{
				double		nv = sums[(Size) c * d + j] / (double) counts[c];
				double		t = nv - cc[j];

				shift += t * t;
				cc[j] = nv;
			}
		}
		*iterations = it + 1;
		if (!changed)
		{
			strict = true;
			break;
		}
		if (shift <= tol_abs)
			break;
	}
	if (!strict)
	{
		/* labels that match the final centres */
		seg_reco_row_sqnorms(centers, k, d, cnorm);
		(void) lloyd_pass(x, mean, xnorm, n, d, k, centers, cnorm, labels, mind,
						  NULL, NULL, &la);
	}
	memset(counts, 0, sizeof(int64) * k);
	for (i = 0; i < n; i++)
		counts[labels[i]]++;
	inertia = km_inertia(x, mean, centers, labels, n, d);
	pfree(sums);
	pfree(xc);
	pfree(cnorm);
	pfree(la.psums);
	pfree(la.pcounts);
	pfree(la.pchanged);
	return inertia;
}

/*
 * The nearest centre (first of equals) of one row by exact squared
 * distances, and that distance: the one computation both the final pass of
 * training and kmeans_assign use, so that they agree on every row.
 */
/* task-safe: see threads.h */
static inline int
km_nearest_exact(const double *row, const double *centers, int k, int d, double *dist2)
{
	double		bv = DBL_MAX;
	int			c,
				best = 0;

	for (c = 0; c < k; c++)
	{
		double		s = exact_sqdist(row, centers + (Size) c * d, d);

		if (s < bv)
		{
			bv = s;
			best = c;
		}
	}
	*dist2 = bv;
	return best;
}

/* the final assignment in the original coordinates, per task */
typedef struct FinalArg
{
	const double *x;
	const double *centers;
	int32	   *labels;
	int64		n;
	int			d;
	int			k;
	double	   *tin;			/* per task: inertia */
} FinalArg;

/* task-safe: see threads.h */
static void
final_task(void *arg, int64 task, int worker)
{
	FinalArg   *a = (FinalArg *) arg;
	int64		iend = Min(a->n, (task + 1) * KM_TASK_ROWS),
				i;
	double		s = 0.0;

	for (i = task * KM_TASK_ROWS; i < iend; i++)
	{
		double		dist2;

		a->labels[i] = km_nearest_exact(a->x + i * a->d, a->centers, a->k, a->d, &dist2);
		s += dist2;
	}
	a->tin[task] = s;
}

/*
 * k-means with n_init restarts.  x is not modified: the distances are
 * computed on the points less their mean (for the accuracy of the dgemm
 * distance form), the final model in the original coordinates.  tol is
 * relative to the mean feature variance (scikit-learn's convention).
 */
void
seg_reco_kmeans_fit(const double *x, int64 n, int d, int k, int n_init, int max_iter,
					double tol, pg_prng_state *rng, SegRecoKMeansResult *res)
{
	double	   *mean = palloc0(sizeof(double) * d);
	double	   *xnorm,
			   *cols,
			   *centers;
	int32	   *labels,
			   *best_labels;
	int64	   *counts;
	double		meanvar = 0.0,
				sumx = 0.0,
				tol_abs;
	int64		i,
				t,
				ntasks;
	int			j,
				run;
	PrepArg		prep;

	seg_reco_check_k(k, n, "k-means");
	seg_reco_blas_begin();

	/* the column means and centred squared norms (per-task sums, added in task order) */
	ntasks = km_ntasks(n);
	xnorm = seg_reco_alloc_huge(sizeof(double) * n);
	prep.x = x;
	prep.n = n;
	prep.d = d;
	prep.mean = mean;
	prep.xnorm = xnorm;
	prep.tsum = seg_reco_alloc_huge(sizeof(double) * ntasks * d);
	km_rows(n, KM_COLSUM, &prep);
	for (t = 0; t < ntasks; t++)
		for (j = 0; j < d; j++)
			mean[j] += prep.tsum[t * d + j];
	for (j = 0; j < d; j++)
		mean[j] /= (double) n;
	km_rows(n, KM_CENTRE, &prep);
	for (t = 0; t < ntasks; t++)
		sumx += prep.tsum[t];
	pfree(prep.tsum);
	meanvar = sumx / ((double) n * d);
	tol_abs = tol * meanvar;

	labels = seg_reco_alloc_huge(sizeof(int32) * n);
	centers = palloc(sizeof(double) * (Size) k * d);
	counts = palloc(sizeof(int64) * k);
	/* seeding: the nearest-centre distances and one column per candidate */
	cols = seg_reco_alloc_huge(sizeof(double) * (Size) (3 + (int) log((double) k)) * n);

	res->centers = palloc(sizeof(double) * (Size) k * d);
	res->sizes = palloc(sizeof(int64) * k);
	res->inertia = -1.0;
	res->iterations = 0;
	best_labels = res->labels ? res->labels : seg_reco_alloc_huge(sizeof(int32) * n);

	for (run = 0; run < n_init; run++)
	{
		double		inertia;
		int			iters;

		kmeans_pp(x, mean, xnorm, sumx, n, d, k, rng, centers, cols);
		/* cols are free again: Lloyd keeps the per-row distances in one */
		inertia = kmeans_lloyd(x, mean, xnorm, n, d, k, max_iter, tol_abs, centers,
							   labels, cols, counts, &iters);
		if (res->inertia < 0.0 || inertia < res->inertia)
		{
			res->inertia = inertia;
			res->iterations = iters;
			memcpy(res->centers, centers, sizeof(double) * (Size) k * d);
			memcpy(best_labels, labels, sizeof(int32) * n);
		}
	}

	/*
	 * The final model, in the original coordinates: the centroids are the
	 * means of the best run's clusters (one more Lloyd update, free of the
	 * centring round-off); then every row goes to its nearest centroid by
	 * exact distances, as kmeans_assign computes them, and the labels,
	 * sizes and inertia are those of this assignment.  So the model is
	 * consistent with itself: its sizes are what kmeans_assign gives with
	 * its centroids on the same rows.
	 */
	{
		double	   *sums = palloc0(sizeof(double) * (Size) k * d);
		FinalArg	fa;

		memset(res->sizes, 0, sizeof(int64) * k);
		for (i = 0; i < n; i++)
		{
			int32		c = best_labels[i];

			if ((i & 65535) == 0)
				CHECK_FOR_INTERRUPTS();
			res->sizes[c]++;
			for (j = 0; j < d; j++)
				sums[(Size) c * d + j] += x[i * d + j];
		}
		for (i = 0; i < k; i++)
		{
			if (res->sizes[i] > 0)
				for (j = 0; j < d; j++)
					res->centers[i * d + j] = sums[i * d + j] / (double) res->sizes[i];
			else
				for (j = 0; j < d; j++)
					res->centers[i * d + j] += mean[j];
		}
		pfree(sums);

		fa.x = x;
		fa.centers = res->centers;
		fa.labels = best_labels;
		fa.n = n;
		fa.d = d;
		fa.k = k;
		fa.tin = palloc(sizeof(double) * ntasks);
		km_rows(n, KM_FINAL, &fa);
		res->inertia = 0.0;
		for (t = 0; t < ntasks; t++)
			res->inertia += fa.tin[t];
		pfree(fa.tin);
		memset(res->sizes, 0, sizeof(int64) * k);
		for (i = 0; i < n; i++)
			res->sizes[best_labels[i]]++;
	}
	if (best_labels != res->labels)
		pfree(best_labels);

	pfree(xnorm);
	pfree(cols);
	pfree(labels);
	pfree(centers);
	pfree(counts);
	pfree(mean);
}

/* ======================================================================
 * The model type
 * ====================================================================== */

#define KMEANS_MODEL_TYPE "seg_reco.kmeans_model"

typedef struct KMeansModel
{
	int32		vl_len_;
	int32		version;
	int32		k;
	int32		d;
	int32		iterations;
	int32		n_init;
	int32		max_iter;
	int32		standardize;
	int64		n;
	int64		seed;
	double		inertia;
	double		tol;
	/* centroids k*d | sizes k | mean d | scale d | log1p d */
	double		values[FLEXIBLE_ARRAY_MEMBER];
} KMeansModel;

#define KM_CENTROIDS(m)	((m)->values)
#define KM_SIZES(m)		((m)->values + (Size) (m)->k * (m)->d)
#define KM_MEAN(m)		(KM_SIZES(m) + (m)->k)
#define KM_SCALE(m)		(KM_MEAN(m) + (m)->d)
#define KM_LOG1P(m)		(KM_SCALE(m) + (m)->d)

static KMeansModel *
km_alloc(int k, int d)
{
	Size		nvals = (Size) k * d + k + 3 * (Size) d;
	Size		sz = offsetof(KMeansModel, values) + sizeof(double) * nvals;
	KMeansModel *m;

	if (sz > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("k-means model with k = %d and %d features is too large", k, d)));
	m = palloc0(sz);
	SET_VARSIZE(m, sz);
	m->version = 1;
	m->k = k;
	m->d = d;
	return m;
}

static void
km_validate(const KMeansModel *m)
{
	Size		expect;

	if (m->version != 1 || m->k < 1 || m->k > SEG_RECO_CLUSTER_MAX_K ||
		m->d < 1 || m->d > SEG_RECO_CLUSTER_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid seg_reco.kmeans_model value")));
	expect = offsetof(KMeansModel, values) +
		sizeof(double) * ((Size) m->k * m->d + m->k + 3 * (Size) m->d);
	if (VARSIZE(m) != expect)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid seg_reco.kmeans_model value"),
				 errdetail("Size %u, expected %zu.", (unsigned) VARSIZE(m), expect)));
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_model_out);
Datum
seg_reco_kmeans_model_out(PG_FUNCTION_ARGS)
{
	KMeansModel *m = (KMeansModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int			c;

	km_validate(m);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"kmeans\", \"version\": 1, \"k\": %d, \"d\": %d, \"n\": %lld, \"inertia\": ",
					 m->k, m->d, (long long) m->n);
	seg_reco_json_double(&buf, m->inertia);
	appendStringInfo(&buf, ", \"iterations\": %d, \"params\": {\"n_init\": %d, \"max_iter\": %d, \"tol\": ",
					 m->iterations, m->n_init, m->max_iter);
	seg_reco_json_double(&buf, m->tol);
	appendStringInfo(&buf, ", \"seed\": %lld, \"standardize\": %s, \"log1p\": ",
					 (long long) m->seed, m->standardize ? "true" : "false");
	seg_reco_json_log1p(&buf, KM_LOG1P(m), m->d);
	appendStringInfoString(&buf, "}, \"sizes\": ");
	seg_reco_json_doubles(&buf, KM_SIZES(m), m->k);
	appendStringInfoString(&buf, ", \"centroids\": [");
	for (c = 0; c < m->k; c++)
	{
		if (c)
			appendStringInfoString(&buf, ", ");
		seg_reco_json_doubles(&buf, KM_CENTROIDS(m) + (Size) c * m->d, m->d);
	}
	appendStringInfoString(&buf, "], \"transform\": {\"mean\": ");
	seg_reco_json_doubles(&buf, KM_MEAN(m), m->d);
	appendStringInfoString(&buf, ", \"scale\": ");
	seg_reco_json_doubles(&buf, KM_SCALE(m), m->d);
	appendStringInfoString(&buf, "}}");
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_model_in);
Datum
seg_reco_kmeans_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *T = KMEANS_MODEL_TYPE;
	JsonbContainer *root = seg_reco_json_parse(str, T);
	JsonbContainer *params,
			   *tf;
	KMeansModel *m;
	int			k,
				d,
				j;
	double		v;

	k = seg_reco_json_int(root, "k", 1, SEG_RECO_CLUSTER_MAX_K, T);
	d = seg_reco_json_int(root, "d", 1, SEG_RECO_CLUSTER_MAX_DIM, T);
	m = km_alloc(k, d);
	v = seg_reco_json_number(root, "n", T);
	if (v != floor(v) || v < k || v > 9.0e15)
		seg_reco_json_bad(T, "\"n\" must be an integer of at least k.");
	m->n = (int64) v;
	m->inertia = seg_reco_json_number(root, "inertia", T);
	if (m->inertia < 0)
		seg_reco_json_bad(T, "\"inertia\" must not be negative.");
	m->iterations = seg_reco_json_int(root, "iterations", 0, INT_MAX, T);
	params = seg_reco_json_object(root, "params", T);
	m->n_init = seg_reco_json_int(params, "n_init", 1, INT_MAX, T);
	m->max_iter = seg_reco_json_int(params, "max_iter", 1, INT_MAX, T);
	m->tol = seg_reco_json_number(params, "tol", T);
	m->seed = (int64) seg_reco_json_number(params, "seed", T);
	m->standardize = seg_reco_json_bool(params, "standardize", T) ? 1 : 0;
	seg_reco_json_read_log1p(params, KM_LOG1P(m), d, T);
	seg_reco_json_number_array(root, "sizes", KM_SIZES(m), k, T);
	seg_reco_json_number_array(root, "centroids", KM_CENTROIDS(m), k * d, T);
	tf = seg_reco_json_object(root, "transform", T);
	seg_reco_json_number_array(tf, "mean", KM_MEAN(m), d, T);
	seg_reco_json_number_array(tf, "scale", KM_SCALE(m), d, T);
	for (j = 0; j < d; j++)
		if (!(KM_SCALE(m)[j] > 0.0))
			seg_reco_json_bad(T, "\"scale\" values must be positive.");
	PG_RETURN_POINTER(m);
}

/* ======================================================================
 * Training aggregate
 * ====================================================================== */

PG_FUNCTION_INFO_V1(seg_reco_kmeans_trans);
Datum
seg_reco_kmeans_trans(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(seg_reco_rows_collect(fcinfo, "kmeans_train", 1, PG_NARGS() > 3, false));
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_final);
Datum
seg_reco_kmeans_final(PG_FUNCTION_ARGS)
{
	SegRecoRows *st;
	SegRecoOptions opt;
	SegRecoTransform tf;
	SegRecoKMeansResult res;
	MemoryContext work,
				old;
	pg_prng_state rng;
	KMeansModel *m;
	int			k,
				c;

	st = seg_reco_rows_final(fcinfo, "kmeans_train");
	k = st->arg1;

	memset(&opt, 0, sizeof(opt));
	opt.n_init = 3;
	opt.max_iter = 300;
	opt.tol = 1e-4;
	opt.seed = 0;
	opt.standardize = false;
	seg_reco_options_parse(st, SEG_RECO_OPT_KMEANS, &opt);
	seg_reco_check_k(k, st->n, "kmeans_train");

	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco kmeans_train", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	/*
	 * FINALFUNC_MODIFY = READ_WRITE: the rows are sorted (the same rows in
	 * any order give the same model) and transformed in place
	 */
	seg_reco_rows_sort(st);
	seg_reco_transform_fit(st->x, st->n, st->d, &opt, &tf, "kmeans_train");
	seg_reco_prng_seed(&rng, opt.seed);
	memset(&res, 0, sizeof(res));
	seg_reco_kmeans_fit(st->x, st->n, st->d, k, opt.n_init, opt.max_iter, opt.tol, &rng, &res);
	MemoryContextSwitchTo(old);

	m = km_alloc(k, st->d);
	m->n = st->n;
	m->inertia = res.inertia;
	m->iterations = res.iterations;
	m->n_init = opt.n_init;
	m->max_iter = opt.max_iter;
	m->tol = opt.tol;
	m->seed = opt.seed;
	m->standardize = opt.standardize ? 1 : 0;
	memcpy(KM_CENTROIDS(m), res.centers, sizeof(double) * (Size) k * st->d);
	for (c = 0; c < k; c++)
		KM_SIZES(m)[c] = (double) res.sizes[c];
	memcpy(KM_MEAN(m), tf.mean, sizeof(double) * st->d);
	memcpy(KM_SCALE(m), tf.scale, sizeof(double) * st->d);
	memcpy(KM_LOG1P(m), tf.log1p, sizeof(double) * st->d);
	seg_reco_check_model_finite(&m->inertia, 1, "kmeans_train");
	seg_reco_check_model_finite(m->values, (Size) k * st->d + k + 3 * (Size) st->d, "kmeans_train");
	MemoryContextDelete(work);
	PG_RETURN_POINTER(m);
}

/* ======================================================================
 * Assignment
 * ====================================================================== */

typedef struct KMeansCache
{
	char	   *key;			/* raw datum bytes, or the model name */
	Size		keylen;
	int			k;
	int			d;
	double	   *centroids;
	double	   *row;
	double	   *dists;			/* k */
	SegRecoTransform tf;
	TupleDesc	tupdesc;
} KMeansCache;

static void
km_cache_fill(KMeansCache *cache, KMeansModel *m)
{
	int			d = m->d;

	km_validate(m);
	cache->k = m->k;
	cache->d = d;
	cache->centroids = palloc(sizeof(double) * (Size) m->k * d);
	memcpy(cache->centroids, KM_CENTROIDS(m), sizeof(double) * (Size) m->k * d);
	cache->row = palloc(sizeof(double) * d);
	cache->dists = palloc(sizeof(double) * m->k);
	cache->tf.d = d;
	cache->tf.mean = palloc(sizeof(double) * d);
	cache->tf.scale = palloc(sizeof(double) * d);
	cache->tf.log1p = palloc(sizeof(double) * d);
	memcpy(cache->tf.mean, KM_MEAN(m), sizeof(double) * d);
	memcpy(cache->tf.scale, KM_SCALE(m), sizeof(double) * d);
	memcpy(cache->tf.log1p, KM_LOG1P(m), sizeof(double) * d);
}

/* the cached model for this call site; the key is the raw (maybe toasted) datum */
static KMeansCache *
km_cache_by_value(FunctionCallInfo fcinfo, Datum model)
{
	KMeansCache *cache = (KMeansCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(model);
	Size		len = VARSIZE_ANY(raw);
	MemoryContext old;

	if (cache && cache->keylen == len && memcmp(cache->key, raw, len) == 0)
		return cache;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache = palloc0(sizeof(KMeansCache));
	cache->key = palloc(len);
	memcpy(cache->key, raw, len);
	cache->keylen = len;
	km_cache_fill(cache, (KMeansModel *) PG_DETOAST_DATUM(model));
	MemoryContextSwitchTo(old);
	/* the previous cache entry is left to the query's memory context */
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/* model by name through seg_reco.kmeans_load (STABLE: cached per call site) */
static KMeansCache *
km_cache_by_name(FunctionCallInfo fcinfo, text *name)
{
	KMeansCache *cache = (KMeansCache *) fcinfo->flinfo->fn_extra;
	Size		len = VARSIZE_ANY_EXHDR(name);
	MemoryContext old;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	int			ret;

	if (cache && cache->keylen == len && memcmp(cache->key, VARDATA_ANY(name), len) == 0)
		return cache;

	values[0] = PointerGetDatum(name);
	SPI_connect();
	/* on a Citus worker, per row of a shard's query: say how to write it */
	if (seg_reco_on_citus_worker())
	{
		ret = SPI_execute_with_args("SELECT 1 FROM seg_reco.models m WHERE m.name OPERATOR(pg_catalog.=) $1",
									1, argtypes, values, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 0)
			seg_reco_citus_model_missing("kmeans", text_to_cstring(name));
	}
	ret = SPI_execute_with_args("SELECT seg_reco.kmeans_load($1)", 1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "seg_reco.kmeans_load returned no row");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "seg_reco.kmeans_load returned NULL");
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache = palloc0(sizeof(KMeansCache));
	cache->key = palloc(Max(len, 1));
	memcpy(cache->key, VARDATA_ANY(name), len);
	cache->keylen = len;
	km_cache_fill(cache, (KMeansModel *) PG_DETOAST_DATUM(d));
	MemoryContextSwitchTo(old);
	SPI_finish();
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/* |a - b|^2 with a and b divided by 2^e first */
static double
km_scaled_sqdist(const double *a, const double *b, int d, int e)
{
	double		s = 0.0;
	int			j;

	for (j = 0; j < d; j++)
	{
		double		t = ldexp(a[j], -e) - ldexp(b[j], -e);

		s += t * t;
	}
	return s;
}

/* the exponent e of 2^e > every |v|, over n values */
static int
km_scale_exponent(const double *v, Size n, int e)
{
	Size		i;

	for (i = 0; i < n; i++)
	{
		int			ei;

		(void) frexp(v[i], &ei);
		e = Max(e, ei);
	}
	return e;
}

/*
 * Squared distances of a prepared row to the k centroids into out.  When
 * one overflows (a row far outside the training data, e.g. 1e300), they are
 * computed on the row and centroids divided by 2^e, which keeps their
 * ratios: the true squared distances are out x 4^e.  Returns e (0 when
 * nothing overflowed).
 */
static int
km_row_sqdists(const double *row, const double *centroids, int k, int d, double *out)
{
	bool		overflow = false;
	int			c,
				e;

	for (c = 0; c < k; c++)
	{
		out[c] = exact_sqdist(row, centroids + (Size) c * d, d);
		if (!(out[c] < DBL_MAX))
			overflow = true;
	}
	if (!overflow)
		return 0;
	e = km_scale_exponent(centroids, (Size) k * d, km_scale_exponent(row, d, 0));
	for (c = 0; c < k; c++)
		out[c] = km_scaled_sqdist(row, centroids + (Size) c * d, d, e);
	return e;
}

/*
 * Nearest centroid (0-based) of a features array, and the Euclidean
 * distance to it (infinite only when it exceeds the largest double).  The
 * same computation as the final pass of training, so that kmeans_assign
 * gives the stored sizes on the training rows.
 */
static int
km_nearest(KMeansCache *cache, ArrayType *arr, double *dist)
{
	const double *v = seg_reco_features_arg(arr, cache->d, "features");
	int			k = cache->k,
				d = cache->d,
				best,
				c,
				j,
				e;
	double		dist2,
				bdot = 0.0,
				bnorm = 0.0;
	const double *cb;

	seg_reco_transform_row(&cache->tf, v, cache->row);
	best = km_nearest_exact(cache->row, cache->centroids, k, d, &dist2);
	if (dist2 < DBL_MAX)
	{
		*dist = sqrt(dist2);
		return best;
	}

	/*
	 * Every distance overflowed: the row is so far out (|x| > 1e154) that
	 * |x - c|^2 = |x|^2 - 2 x.c + |c|^2 is decided by x.c, then by |c|^2:
	 * compare those with the row divided by 2^e.
	 */
	e = km_scale_exponent(cache->row, d, 0);
	for (c = 0; c < k; c++)
	{
		const double *cc = cache->centroids + (Size) c * d;
		double		dot = 0.0,
					norm = 0.0;

		for (j = 0; j < d; j++)
		{
			dot += ldexp(cache->row[j], -e) * cc[j];
			norm += cc[j] * cc[j];
		}
		if (c == 0 || dot > bdot || (dot == bdot && norm < bnorm))
		{
			best = c;
			bdot = dot;
			bnorm = norm;
		}
	}
	cb = cache->centroids + (Size) best * d;
	e = km_scale_exponent(cb, d, e);
	*dist = ldexp(sqrt(km_scaled_sqdist(cache->row, cb, d, e)), e);
	return best;
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_assign);
Datum
seg_reco_kmeans_assign(PG_FUNCTION_ARGS)
{
	KMeansCache *cache = km_cache_by_value(fcinfo, PG_GETARG_DATUM(1));
	double		dist;

	PG_RETURN_INT32(km_nearest(cache, PG_GETARG_ARRAYTYPE_P(0), &dist) + 1);
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_assign_by_name);
Datum
seg_reco_kmeans_assign_by_name(PG_FUNCTION_ARGS)
{
	KMeansCache *cache = km_cache_by_name(fcinfo, PG_GETARG_TEXT_PP(1));
	double		dist;

	PG_RETURN_INT32(km_nearest(cache, PG_GETARG_ARRAYTYPE_P(0), &dist) + 1);
}

PG_FUNCTION_INFO_V1(seg_reco_kmeans_assign_distance);
Datum
seg_reco_kmeans_assign_distance(PG_FUNCTION_ARGS)
{
	KMeansCache *cache = km_cache_by_value(fcinfo, PG_GETARG_DATUM(1));
	double		dist;
	int			c = km_nearest(cache, PG_GETARG_ARRAYTYPE_P(0), &dist);
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (isinf(dist))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the distance of the row to its nearest centroid is out of the range of double precision"),
				 errhint("Filter out or repair rows with such values.")));

	if (cache->tupdesc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		TupleDesc	td;

		if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "kmeans_assign_distance must return a composite type");
		cache->tupdesc = BlessTupleDesc(CreateTupleDescCopy(td));
		MemoryContextSwitchTo(old);
	}
	values[0] = Int32GetDatum(c + 1);
	values[1] = Float8GetDatum(dist);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(cache->tupdesc, values, nulls)));
}

/*
 * Simplified silhouette of one row: a = distance to its own (nearest)
 * centroid, b = distance to the second nearest; (b - a) / max(a, b).
 * 0 when k = 1 or both distances are 0.
 */
PG_FUNCTION_INFO_V1(seg_reco_kmeans_silhouette);
Datum
seg_reco_kmeans_silhouette(PG_FUNCTION_ARGS)
{
	KMeansCache *cache = km_cache_by_value(fcinfo, PG_GETARG_DATUM(1));
	const double *v = seg_reco_features_arg(PG_GETARG_ARRAYTYPE_P(0), cache->d, "features");
	double		a = DBL_MAX,
				b = DBL_MAX;
	int			c;

	if (cache->k < 2)
		PG_RETURN_FLOAT8(0.0);
	seg_reco_transform_row(&cache->tf, v, cache->row);
	/* scaled alike when one overflows: the ratio below does not change */
	(void) km_row_sqdists(cache->row, cache->centroids, cache->k, cache->d, cache->dists);
	for (c = 0; c < cache->k; c++)
	{
		double		s = cache->dists[c];

		if (s < a)
		{
			b = a;
			a = s;
		}
		else if (s < b)
			b = s;
	}
	a = sqrt(a);
	b = sqrt(b);
	PG_RETURN_FLOAT8(Max(a, b) > 0.0 ? (b - a) / Max(a, b) : 0.0);
}
