/*
 * select_k.c
 *      Choosing k for k-means: seg_reco.kmeans_select_k(features, k_min,
 *      k_max [, options]) trains k-means for every k in the range and picks
 *      the k with the highest exact silhouette on a seeded sample of the
 *      rows (default 5000); the BIC of each solution is reported beside it.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "clustering.h"
#include "guards.h"
#include "kmeans.h"
#include "silhouette.h"

#define SILHOUETTE_DEFAULT_SAMPLE 5000

PG_FUNCTION_INFO_V1(seg_reco_select_k_trans);
Datum
seg_reco_select_k_trans(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(seg_reco_rows_collect(fcinfo, "kmeans_select_k", 2, PG_NARGS() > 4, false));
}

/*
 * BIC of a k-means solution read as a mixture of spherical Gaussians with
 * one shared variance (the X-means criterion of Pelleg and Moore).
 */
static double
kmeans_bic(double inertia, const int64 *sizes, int k, int64 n, int d)
{
	double		nd = (double) n * d;
	double		var = inertia / Max((double) (n - k) * d, 1.0);
	double		ll = 0.0;
	double		p = (double) k * d + 1 + (k - 1);
	int			c;

	if (var <= 0.0)
		var = DBL_MIN;
	for (c = 0; c < k; c++)
		if (sizes[c] > 0)
			ll += sizes[c] * log((double) sizes[c] / (double) n);
	ll += -0.5 * nd * log(2.0 * M_PI * var) - inertia / (2.0 * var);
	return -2.0 * ll + p * log((double) n);
}

PG_FUNCTION_INFO_V1(seg_reco_select_k_final);
Datum
seg_reco_select_k_final(PG_FUNCTION_ARGS)
{
	SegRecoRows *st;
	SegRecoOptions opt;
	SegRecoTransform tf;
	MemoryContext work,
				old;
	pg_prng_state rng,
				srng;
	StringInfoData buf;
	int			kmin,
				kmax,
				k,
				best_k = 0;
	int64		m,
				i;
	int64	   *idx = NULL;
	double	   *xs;
	int32	   *ls;
	double		best_s = -DBL_MAX;
	Datum		result;

	(void) seg_reco_agg_context(fcinfo, "kmeans_select_k", "final");
	st = PG_ARGISNULL(0) ? NULL : (SegRecoRows *) PG_GETARG_POINTER(0);
	if (st == NULL || st->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("kmeans_select_k needs at least one row with features"),
				 errhint("Check the query that feeds the aggregate.")));
	kmin = st->arg1;
	kmax = st->arg2;
	if (kmin < 2 || kmax < kmin || kmax > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_select_k: need 2 <= k_min <= k_max <= 100, got %d and %d", kmin, kmax),
				 errhint("The silhouette is undefined for k = 1.")));
	memset(&opt, 0, sizeof(opt));
	opt.n_init = 3;
	opt.max_iter = 300;
	opt.tol = 1e-4;
	opt.sample_size = SILHOUETTE_DEFAULT_SAMPLE;
	seg_reco_options_parse(st, SEG_RECO_OPT_SELECT, &opt);
	seg_reco_check_k(kmax, st->n, "kmeans_select_k");

	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco kmeans_select_k", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	/* the same rows in any order give the same models and sample */
	seg_reco_rows_sort(st);
	seg_reco_transform_fit(st->x, st->n, st->d, &opt, &tf, "kmeans_select_k");
	seg_reco_prng_seed(&rng, opt.seed);
	pg_prng_seed(&srng, (uint64) opt.seed ^ UINT64CONST(0x9E3779B97F4A7C15));
	m = Min((int64) opt.sample_size, st->n);
	if (m < st->n)
		idx = seg_reco_sample_indices(st->n, m, &srng);
	xs = seg_reco_alloc_huge(sizeof(double) * m * st->d);
	ls = seg_reco_alloc_huge(sizeof(int32) * m);
	for (i = 0; i < m; i++)
		memcpy(xs + i * st->d, st->x + (idx ? idx[i] : i) * st->d, sizeof(double) * st->d);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "[");
	for (k = kmin; k <= kmax; k++)
	{
		SegRecoKMeansResult res;
		double		s,
					bic;

		memset(&res, 0, sizeof(res));
		res.labels = seg_reco_alloc_huge(sizeof(int32) * st->n);
		seg_reco_kmeans_fit(st->x, st->n, st->d, k, opt.n_init, opt.max_iter, opt.tol, &rng, &res);
		for (i = 0; i < m; i++)
			ls[i] = res.labels[idx ? idx[i] : i];
		s = seg_reco_silhouette_exact(xs, m, st->d, ls);
		bic = kmeans_bic(res.inertia, res.sizes, k, st->n, st->d);
		if (s > best_s)
		{
			best_s = s;
			best_k = k;
		}
		appendStringInfo(&buf, "%s{\"k\": %d, \"inertia\": ", k == kmin ? "" : ", ", k);
		seg_reco_json_double(&buf, res.inertia);
		appendStringInfoString(&buf, ", \"silhouette\": ");
		seg_reco_json_double(&buf, s);
		appendStringInfoString(&buf, ", \"bic\": ");
		seg_reco_json_double(&buf, bic);
		appendStringInfoChar(&buf, '}');
		pfree(res.labels);
	}
	appendStringInfoString(&buf, "]");
	MemoryContextSwitchTo(old);
	{
		StringInfoData out;

		initStringInfo(&out);
		appendStringInfo(&out, "{\"chosen_k\": %d, \"rule\": \"highest mean silhouette (exact, on %lld of %lld rows); ties go to the smaller k\", \"candidates\": %s}",
						 best_k, (long long) m, (long long) st->n, buf.data);
		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
	}
	MemoryContextDelete(work);
	PG_RETURN_DATUM(result);
}
