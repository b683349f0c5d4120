/*
 * silhouette.c
 *      Cluster validation: the exact mean silhouette (the aggregate, and
 *      the computation select_k.c uses to choose k).
 *
 * seg_reco.silhouette(features float8[], cluster int [, sample_size int,
 * seed bigint]) is the mean over rows of s = (b - a) / max(a, b), a the
 * mean Euclidean distance to the other members of the row's cluster, b the
 * smallest mean distance to another cluster's members (s = 0 for a row
 * alone in its cluster), as scikit-learn's silhouette_score.  All pairwise
 * distances are computed in blocks with dgemm (O(n^2 d)); with sample_size
 * the score is computed on a seeded random sample of rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "clustering.h"
#include "guards.h"
#include "linalg.h"
#include "silhouette.h"

typedef struct SilArg
{
	const int32 *lab;			/* dense labels 0..K-1 */
	int			K;
	int64		col0;			/* first row of the column block */
	double	   *sums;			/* n x K */
} SilArg;

typedef struct SilArg2
{
	SilArg		base;
	int			cb;
} SilArg2;

static void
sil_block2(int64 row0, int rows, const double *dist, void *arg)
{
	SilArg2    *a = (SilArg2 *) arg;
	int			cb = a->cb,
				K = a->base.K;
	int			i,
				j;

	for (i = 0; i < rows; i++)
	{
		int64		row = row0 + i;
		double	   *s = a->base.sums + row * K;
		const double *r = dist + (Size) i * cb;

		for (j = 0; j < cb; j++)
		{
			int64		col = a->base.col0 + j;

			if (col != row)
				s[a->base.lab[col]] += sqrt(r[j]);
		}
	}
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * Exact mean silhouette of the n rows of x (n x d) with labels (any
 * integers).  x is centred in place (harmless to callers).
 */
double
seg_reco_silhouette_exact(double *x, int64 n, int d, const int32 *labels)
{
	int32	   *sorted = seg_reco_alloc_huge(sizeof(int32) * n);
	int32	   *lab = seg_reco_alloc_huge(sizeof(int32) * n);
	int32	   *distinct;
	int64	   *cnt;
	double	   *xnorm,
			   *sums,
			   *mean;
	int			K = 0,
				cb;
	int64		i,
				col0;
	int			j;
	double		total = 0.0;
	SilArg2		sa;

	memcpy(sorted, labels, sizeof(int32) * n);
	qsort(sorted, n, sizeof(int32), cmp_int32);
	for (i = 0; i < n; i++)
		if (i == 0 || sorted[i] != sorted[i - 1])
			sorted[K++] = sorted[i];
	distinct = sorted;
	if (K < 2 || K > n - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("silhouette needs between 2 and n - 1 clusters, got %d clusters for %lld rows",
						K, (long long) n),
				 errhint("The silhouette is undefined for one cluster or one row per cluster.")));
	seg_reco_check_memory(n, K, "silhouette");
	for (i = 0; i < n; i++)
	{
		int32	   *p = bsearch(&labels[i], distinct, K, sizeof(int32), cmp_int32);

		lab[i] = (int32) (p - distinct);
	}
	cnt = palloc0(sizeof(int64) * K);
	for (i = 0; i < n; i++)
		cnt[lab[i]]++;

	mean = palloc0(sizeof(double) * d);
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			mean[j] += x[i * d + j];
	for (j = 0; j < d; j++)
		mean[j] /= (double) n;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] -= mean[j];

	xnorm = seg_reco_alloc_huge(sizeof(double) * n);
	sums = seg_reco_alloc_huge(sizeof(double) * n * K);
	memset(sums, 0, sizeof(double) * n * K);
	seg_reco_row_sqnorms(x, n, d, xnorm);
	seg_reco_blas_begin();

	cb = 256;
	sa.base.lab = lab;
	sa.base.K = K;
	sa.base.sums = sums;
	for (col0 = 0; col0 < n; col0 += cb)
	{
		int			c = (int) Min((int64) cb, n - col0);

		sa.base.col0 = col0;
		sa.cb = c;
		seg_reco_sqdist_foreach(x, xnorm, n, x + col0 * d, xnorm + col0, c, d, sil_block2, &sa);
	}

	for (i = 0; i < n; i++)
	{
		int			own = lab[i];
		double		a,
					b = DBL_MAX,
					s;

		if (cnt[own] <= 1)
			continue;			/* s = 0 */
		a = sums[i * K + own] / (double) (cnt[own] - 1);
		for (j = 0; j < K; j++)
			if (j != own)
				b = Min(b, sums[i * K + j] / (double) cnt[j]);
		s = Max(a, b) > 0.0 ? (b - a) / Max(a, b) : 0.0;
		total += s;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] += mean[j];
	return total / (double) n;
}

PG_FUNCTION_INFO_V1(seg_reco_silhouette_trans);
Datum
seg_reco_silhouette_trans(PG_FUNCTION_ARGS)
{
	bool		first = PG_ARGISNULL(0);	/* the group's first row */
	SegRecoRows *st = seg_reco_rows_collect(fcinfo, "silhouette", PG_NARGS() > 3 ? 1 : 0, false, true);

	if (PG_NARGS() > 4)
	{
		/* the seed: NULL is 0 (the default); the same in every row */
		int64		seed = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);

		if (first)
			st->arg3 = seed;
		else if (seed != st->arg3)
			seg_reco_rows_args_differ(st, "the seed");
	}
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(seg_reco_silhouette_final);
Datum
seg_reco_silhouette_final(PG_FUNCTION_ARGS)
{
	SegRecoRows *st;
	MemoryContext work,
				old;
	double		result;

	(void) seg_reco_agg_context(fcinfo, "silhouette", "final");
	st = PG_ARGISNULL(0) ? NULL : (SegRecoRows *) PG_GETARG_POINTER(0);
	if (st == NULL || st->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("silhouette needs at least one row with features and a cluster"),
				 errhint("Check the query that feeds the aggregate.")));
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco silhouette", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	/* the same rows in any order give the same sample and the same sums */
	seg_reco_rows_sort(st);
	seg_reco_check_feature_range(st->x, st->n, st->d, "silhouette");
	if (st->args_set && st->arg1 != 0 && (int64) st->arg1 < st->n)
	{
		pg_prng_state rng;
		int64		m = st->arg1,
					i;
		int64	   *idx;
		double	   *xs;
		int32	   *ls;

		if (st->arg1 < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("silhouette sample_size must be at least 2, got %d", st->arg1)));
		seg_reco_prng_seed(&rng, st->arg3);
		idx = seg_reco_sample_indices(st->n, m, &rng);
		xs = seg_reco_alloc_huge(sizeof(double) * m * st->d);
		ls = seg_reco_alloc_huge(sizeof(int32) * m);
		for (i = 0; i < m; i++)
		{
			memcpy(xs + i * st->d, st->x + idx[i] * st->d, sizeof(double) * st->d);
			ls[i] = st->labels[idx[i]];
		}
		result = seg_reco_silhouette_exact(xs, m, st->d, ls);
	}
	else
	{
		if (st->arg1 < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("silhouette sample_size must be at least 2, got %d", st->arg1)));
		result = seg_reco_silhouette_exact(st->x, st->n, st->d, st->labels);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	PG_RETURN_FLOAT8(result);
}
