/*
 * gmm.c
 *      Gaussian mixtures by EM: the training aggregate, the model type,
 *      hard and soft assignment.
 *
 * seg_reco.gmm_train(features float8[], k int [, options jsonb]) follows
 * scikit-learn's GaussianMixture: k-means initialisation (one k-means++ run
 * per restart), full or diagonal covariances with reg_covar (default 1e-6)
 * added to the diagonal, EM until the change of the mean log-likelihood
 * lower bound is below tol (default 1e-3) or max_iter (default 100), n_init
 * restarts (default 1) keeping the best lower bound.  Log densities use the
 * "precision Cholesky" factor P = L^{-T} of each covariance L L^T, so one
 * dgemm per block gives (x - mu) P for every component at once.
 *
 * The data are centred internally (and the means moved back), which keeps
 * the dgemm forms accurate for features far from zero.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "clustering.h"
#include "guards.h"
#include "kmeans.h"
#include "linalg.h"

#define GMM_MODEL_TYPE "seg_reco.gmm_model"
#define LOG_2PI 1.8378770664093454836

typedef struct GmmModel
{
	int32		vl_len_;
	int32		version;
	int32		k;
	int32		d;
	int32		diag;
	int32		iterations;
	int32		n_init;
	int32		max_iter;
	int32		converged;
	int32		standardize;
	int64		n;
	int64		seed;
	double		reg_covar;
	double		tol;
	double		mean_loglik;	/* mean log-likelihood per row (score) */
	double		lower_bound;
	/* weights k | means k*d | covariances k*d*d (full) or k*d | mean d | scale d | log1p d */
	double		values[FLEXIBLE_ARRAY_MEMBER];
} GmmModel;

#define GM_COVLEN(m)	((m)->diag ? (Size) (m)->d : (Size) (m)->d * (m)->d)
#define GM_WEIGHTS(m)	((m)->values)
#define GM_MEANS(m)		(GM_WEIGHTS(m) + (m)->k)
#define GM_COVS(m)		(GM_MEANS(m) + (Size) (m)->k * (m)->d)
#define GM_TMEAN(m)		(GM_COVS(m) + (Size) (m)->k * GM_COVLEN(m))
#define GM_TSCALE(m)	(GM_TMEAN(m) + (m)->d)
#define GM_TLOG1P(m)	(GM_TSCALE(m) + (m)->d)

static Size
gm_size(int k, int d, bool diag)
{
	Size		cov = diag ? (Size) d : (Size) d * d;

	return offsetof(GmmModel, values) + sizeof(double) * ((Size) k + (Size) k * d + (Size) k * cov + 3 * (Size) d);
}

static GmmModel *
gm_alloc(int k, int d, bool diag)
{
	Size		sz = gm_size(k, d, diag);
	GmmModel   *m;

	if (sz > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Gaussian mixture with k = %d and %d features is too large", k, d)));
	m = palloc0(sz);
	SET_VARSIZE(m, sz);
	m->version = 1;
	m->k = k;
	m->d = d;
	m->diag = diag ? 1 : 0;
	return m;
}

static void
gm_validate(const GmmModel *m)
{
	if (m->version != 1 || m->k < 1 || m->k > SEG_RECO_CLUSTER_MAX_K ||
		m->d < 1 || m->d > SEG_RECO_CLUSTER_MAX_DIM || (m->diag != 0 && m->diag != 1) ||
		VARSIZE(m) != gm_size(m->k, m->d, m->diag))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid seg_reco.gmm_model value")));
}

static double
gm_nparams(const GmmModel *m)
{
	double		k = m->k,
				d = m->d;
	double		cov = m->diag ? k * d : k * d * (d + 1) / 2.0;

	return cov + k * d + k - 1;
}

/* ----------------------------------------------------------------------
 * Prepared components: what the log densities need
 * ---------------------------------------------------------------------- */

typedef struct GmmPrepared
{
	int			k;
	int			d;
	bool		diag;
	double	   *pall;			/* full: d x (k*d), P_j in columns j*d.. */
	double	   *mup;			/* full: k x d, mu_j P_j */
	double	   *prec;			/* diag: k x d, 1/var */
	double	   *means;			/* k x d */
	double	   *logconst;		/* k: log w_j + log det P_j - d/2 log 2pi */
} GmmPrepared;

static void
gm_chol_error(int j, double reg)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("covariance of mixture component %d is not positive definite", j + 1),
			 errdetail("The component has collapsed onto too few distinct points (reg_covar = %g).", reg),
			 errhint("Increase reg_covar, use fewer components, or standardize the features.")));
}

/* covs: k x d x d (full) or k x d (diag); weights and means as given */
static void
gm_prepare(GmmPrepared *gp, int k, int d, bool diag, const double *weights,
		   const double *means, const double *covs, double reg_for_msg)
{
	int			j,
				r,
				c;

	gp->k = k;
	gp->d = d;
	gp->diag = diag;
	gp->means = (double *) means;
	gp->logconst = palloc(sizeof(double) * k);
	if (diag)
	{
		gp->prec = palloc(sizeof(double) * (Size) k * d);
		for (j = 0; j < k; j++)
		{
			double		ld = 0.0;

			for (r = 0; r < d; r++)
			{
				double		v = covs[(Size) j * d + r];

				if (!(v > 0.0))
					gm_chol_error(j, reg_for_msg);
				gp->prec[(Size) j * d + r] = 1.0 / v;
				ld += -0.5 * log(v);
			}
			gp->logconst[j] = log(weights[j]) + ld - 0.5 * d * LOG_2PI;
		}
		return;
	}
	gp->pall = palloc(sizeof(double) * (Size) d * k * d);
	gp->mup = palloc(sizeof(double) * (Size) k * d);
	{
		double	   *l = palloc(sizeof(double) * (Size) d * d);
		double	   *p = palloc(sizeof(double) * (Size) d * d);

		for (j = 0; j < k; j++)
		{
			memcpy(l, covs + (Size) j * d * d, sizeof(double) * (Size) d * d);
			if (!seg_reco_cholesky(l, d))
				gm_chol_error(j, reg_for_msg);
			seg_reco_chol_precision_factor(l, d, p);
			for (r = 0; r < d; r++)
				for (c = 0; c < d; c++)
					gp->pall[(Size) r * k * d + (Size) j * d + c] = p[r * d + c];
			for (c = 0; c < d; c++)
			{
				double		s = 0.0;

				for (r = 0; r < d; r++)
					s += means[(Size) j * d + r] * p[r * d + c];
				gp->mup[(Size) j * d + c] = s;
			}
			gp->logconst[j] = log(weights[j]) - 0.5 * seg_reco_chol_logdet(l, d) - 0.5 * d * LOG_2PI;
		}
		pfree(l);
		pfree(p);
	}
}

/* rows of block x (b x d) -> weighted log densities out (b x k); y scratch b x k*d */
static void
gm_logprob_block(const GmmPrepared *gp, const double *x, int b, double *y, double *out)
{
	int			k = gp->k,
				d = gp->d;
	int			i,
				j,
				c;

	if (gp->diag)
	{
		for (i = 0; i < b; i++)
			for (j = 0; j < k; j++)
			{
				const double *mu = gp->means + (Size) j * d;
				const double *pr = gp->prec + (Size) j * d;
				double		s = 0.0;

				for (c = 0; c < d; c++)
				{
					double		t = x[(Size) i * d + c] - mu[c];

					s += t * t * pr[c];
				}
				out[(Size) i * k + j] = gp->logconst[j] - 0.5 * s;
			}
		return;
	}
	seg_reco_gemm(false, false, b, (int64) k * d, d, 1.0, x, d, gp->pall, (int64) k * d, 0.0, y, (int64) k * d);
	for (i = 0; i < b; i++)
	{
		const double *yr = y + (Size) i * k * d;

		for (j = 0; j < k; j++)
		{
			const double *mp = gp->mup + (Size) j * d;
			const double *yj = yr + (Size) j * d;
			double		s = 0.0;

			for (c = 0; c < d; c++)
			{
				double		t = yj[c] - mp[c];

				s += t * t;
			}
			out[(Size) i * k + j] = gp->logconst[j] - 0.5 * s;
		}
	}
}

/* in place: row of weighted log densities -> responsibilities; returns logsumexp */
static double
gm_normalise_row(double *r, int k)
{
	double		mx = r[0],
				s = 0.0,
				lse;
	int			j;

	for (j = 1; j < k; j++)
		if (r[j] > mx)
			mx = r[j];
	for (j = 0; j < k; j++)
		s += exp(r[j] - mx);
	lse = mx + log(s);
	for (j = 0; j < k; j++)
		r[j] = exp(r[j] - lse);
	return lse;
}

static int
gm_block_rows(int k, int d)
{
	int64		b = (int64) 1048576 / ((int64) k * d + k);

	return (int) Max(64, Min(b, 4096));
}

/* E-step over all rows: resp (n x k) filled, returns mean log-likelihood */
static double
gm_estep(const GmmPrepared *gp, const double *x, int64 n, double *resp, double *y)
{
	int			k = gp->k,
				d = gp->d;
	int			b = gm_block_rows(k, d);
	int64		row0;
	double		total = 0.0;

	for (row0 = 0; row0 < n; row0 += b)
	{
		int			rows = (int) Min((int64) b, n - row0);
		double	   *out = resp + row0 * k;
		int			i;

		CHECK_FOR_INTERRUPTS();
		gm_logprob_block(gp, x + row0 * d, rows, y, out);
		for (i = 0; i < rows; i++)
		{
			double		lse = gm_normalise_row(out + (Size) i * k, k);

			if (unlikely(!isfinite(lse)))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the density of a row under the Gaussian mixture is out of the range of double precision"),
						 errdetail("Its log-density is %g under every component.", lse),
						 errhint("Standardize the features, or increase reg_covar.")));
			total += lse;
		}
	}
	total /= (double) n;
	if (unlikely(!isfinite(total)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the log-likelihood of the Gaussian mixture is out of the range of double precision"),
				 errhint("Standardize the features, or increase reg_covar.")));
	return total;
}

/* M-step: weights, means, covariances from resp */
static void
gm_mstep(const double *x, int64 n, int d, int k, bool diag, double reg, const double *resp,
		 double *weights, double *means, double *covs, double *scratch)
{
	int			b = gm_block_rows(k, d);
	double	   *nk = palloc0(sizeof(double) * k);
	int64		row0,
				i;
	int			j,
				c;
	double		wsum = 0.0;
	Size		covlen = diag ? (Size) d : (Size) d * d;

	memset(means, 0, sizeof(double) * (Size) k * d);
	memset(covs, 0, sizeof(double) * (Size) k * covlen);
	for (row0 = 0; row0 < n; row0 += b)
	{
		int			rows = (int) Min((int64) b, n - row0);

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < rows; i++)
			for (j = 0; j < k; j++)
				nk[j] += resp[(row0 + i) * k + j];
		/* means += resp_block^T x_block */
		seg_reco_gemm(true, false, k, d, rows, 1.0, resp + row0 * k, k, x + row0 * d, d, 1.0, means, d);
	}
	for (j = 0; j < k; j++)
	{
		nk[j] += 10.0 * DBL_EPSILON;
		for (c = 0; c < d; c++)
			means[(Size) j * d + c] /= nk[j];
	}
	for (row0 = 0; row0 < n; row0 += b)
	{
		int			rows = (int) Min((int64) b, n - row0);

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < k; j++)
		{
			const double *mu = means + (Size) j * d;

			if (diag)
			{
				double	   *cv = covs + (Size) j * d;

				for (i = 0; i < rows; i++)
				{
					double		r = resp[(row0 + i) * k + j];
					const double *xr = x + (row0 + i) * d;

					for (c = 0; c < d; c++)
					{
						double		t = xr[c] - mu[c];

						cv[c] += r * t * t;
					}
				}
			}
			else
			{
				for (i = 0; i < rows; i++)
				{
					double		sr = sqrt(resp[(row0 + i) * k + j]);
					const double *xr = x + (row0 + i) * d;
					double	   *w = scratch + i * d;

					for (c = 0; c < d; c++)
						w[c] = sr * (xr[c] - mu[c]);
				}
				seg_reco_syrk_tn(scratch, rows, d, 1.0, covs + (Size) j * d * d);
			}
		}
	}
	for (j = 0; j < k; j++)
	{
		double	   *cv = covs + (Size) j * covlen;

		for (c = 0; c < (int) covlen; c++)
			cv[c] /= nk[j];
		for (c = 0; c < d; c++)
			cv[diag ? c : c * d + c] += reg;
		wsum += nk[j];
	}
	for (j = 0; j < k; j++)
		weights[j] = nk[j] / wsum;
	pfree(nk);
}

/* ----------------------------------------------------------------------
 * Training aggregate
 * ---------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(seg_reco_gmm_trans);
Datum
seg_reco_gmm_trans(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(seg_reco_rows_collect(fcinfo, "gmm_train", 1, PG_NARGS() > 3, false));
}

/* the working arrays of the EM runs, and the best run so far */
typedef struct GmmFit
{
	double	   *x;				/* n x d, centred */
	int64		n;
	int			d;
	int			k;
	const SegRecoOptions *opt;
	Size		covlen;
	double	   *resp;			/* n x k */
	double	   *y;				/* block scratch */
	double	   *weights;
	double	   *means;
	double	   *covs;
	double	   *best_w;
	double	   *best_m;
	double	   *best_c;
	double		best_lb;
	int			best_iter;
	bool		best_conv;
} GmmFit;

/* centre x in place; returns the column means (moved back at the end) */
static double *
gm_centre(double *x, int64 n, int d)
{
	double	   *gmean = palloc0(sizeof(double) * d);
	int64		i;
	int			j;

	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			gmean[j] += x[i * d + j];
	for (j = 0; j < d; j++)
		gmean[j] /= (double) n;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] -= gmean[j];
	return gmean;
}

/*
 * One EM run from a k-means start (one k-means++ run, hard
 * responsibilities) in its own memory context under work; the run is kept
 * in f's best slots if it is the first or has a higher lower bound.
 */
static void
gm_run(GmmFit *f, int run, pg_prng_state *rng, MemoryContext work)
{
	const SegRecoOptions *opt = f->opt;
	double	   *x = f->x;
	int64		n = f->n,
				i;
	int			d = f->d,
				k = f->k;
	SegRecoKMeansResult km;
	GmmPrepared gp;
	double		lb = -DBL_MAX;
	int			it,
				iters = 0;
	bool		conv = false;
	MemoryContext runcxt = AllocSetContextCreate(work, "gmm run", ALLOCSET_DEFAULT_SIZES);
	MemoryContext prev = MemoryContextSwitchTo(runcxt);

	/* k-means initialisation: one k-means++ run, hard responsibilities */
	memset(&km, 0, sizeof(km));
	km.labels = seg_reco_alloc_huge(sizeof(int32) * n);
	seg_reco_kmeans_fit(x, n, d, k, 1, 300, 1e-4, rng, &km);
	memset(f->resp, 0, sizeof(double) * n * k);
	for (i = 0; i < n; i++)
		f->resp[i * k + km.labels[i]] = 1.0;
	gm_mstep(x, n, d, k, opt->diag, opt->reg_covar, f->resp, f->weights, f->means, f->covs, f->y);

	for (it = 1; it <= opt->max_iter; it++)
	{
		double		prev_lb = lb;
		MemoryContext itcxt = AllocSetContextCreate(runcxt, "gmm iteration", ALLOCSET_SMALL_SIZES);
		MemoryContext p2 = MemoryContextSwitchTo(itcxt);

		gm_prepare(&gp, k, d, opt->diag, f->weights, f->means, f->covs, opt->reg_covar);
		lb = gm_estep(&gp, x, n, f->resp, f->y);
		MemoryContextSwitchTo(p2);
		MemoryContextDelete(itcxt);
		gm_mstep(x, n, d, k, opt->diag, opt->reg_covar, f->resp, f->weights, f->means, f->covs, f->y);
		iters = it;
		if (prev_lb != -DBL_MAX && fabs(lb - prev_lb) < opt->tol)
		{
			conv = true;
			break;
		}
	}
	if (run == 0 || lb > f->best_lb)
	{
		f->best_lb = lb;
		f->best_iter = iters;
		f->best_conv = conv;
		memcpy(f->best_w, f->weights, sizeof(double) * k);
		memcpy(f->best_m, f->means, sizeof(double) * (Size) k * d);
		memcpy(f->best_c, f->covs, sizeof(double) * (Size) k * f->covlen);
	}
	MemoryContextSwitchTo(prev);
	MemoryContextDelete(runcxt);
}

/* the model's parameters, the best run and the feature preparation into m */
static void
gm_fill_model(GmmModel *m, const GmmFit *f, const SegRecoOptions *opt, const SegRecoTransform *tf)
{
	int			k = f->k,
				d = f->d;

	m->n = f->n;
	m->seed = opt->seed;
	m->iterations = f->best_iter;
	m->converged = f->best_conv ? 1 : 0;
	m->n_init = opt->n_init;
	m->max_iter = opt->max_iter;
	m->tol = opt->tol;
	m->reg_covar = opt->reg_covar;
	m->lower_bound = f->best_lb;
	m->standardize = opt->standardize ? 1 : 0;
	memcpy(GM_WEIGHTS(m), f->best_w, sizeof(double) * k);
	memcpy(GM_MEANS(m), f->best_m, sizeof(double) * (Size) k * d);
	memcpy(GM_COVS(m), f->best_c, sizeof(double) * (Size) k * f->covlen);
	memcpy(GM_TMEAN(m), tf->mean, sizeof(double) * d);
	memcpy(GM_TSCALE(m), tf->scale, sizeof(double) * d);
	memcpy(GM_TLOG1P(m), tf->log1p, sizeof(double) * d);
}

PG_FUNCTION_INFO_V1(seg_reco_gmm_final);
Datum
seg_reco_gmm_final(PG_FUNCTION_ARGS)
{
	SegRecoRows *st;
	SegRecoOptions opt;
	SegRecoTransform tf;
	MemoryContext work,
				old;
	pg_prng_state rng;
	GmmModel   *m;
	GmmFit		f;
	int			k,
				d,
				run,
				j;
	int64		n,
				i;
	double	   *x,
			   *gmean;
	double		mean_loglik;
	GmmPrepared gp;

	st = seg_reco_rows_final(fcinfo, "gmm_train");
	k = st->arg1;
	d = st->d;
	n = st->n;
	x = st->x;

	memset(&opt, 0, sizeof(opt));
	opt.n_init = 1;
	opt.max_iter = 100;
	opt.tol = 1e-3;
	opt.reg_covar = 1e-6;
	opt.diag = false;
	seg_reco_options_parse(st, SEG_RECO_OPT_GMM, &opt);
	seg_reco_check_k(k, n, "gmm_train");
	seg_reco_check_memory(n, (int64) d + k, "gmm_train");

	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco gmm_train", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	seg_reco_blas_begin();
	/* the same rows in any order give the same model */
	seg_reco_rows_sort(st);
	seg_reco_transform_fit(x, n, d, &opt, &tf, "gmm_train");
	seg_reco_prng_seed(&rng, opt.seed);

	/* centre the data; the means move back at the end */
	gmean = gm_centre(x, n, d);

	f.x = x;
	f.n = n;
	f.d = d;
	f.k = k;
	f.opt = &opt;
	f.covlen = opt.diag ? (Size) d : (Size) d * d;
	f.resp = seg_reco_alloc_huge(sizeof(double) * n * k);
	f.y = palloc(sizeof(double) * (Size) gm_block_rows(k, d) * Max((Size) k * d, (Size) d));
	f.weights = palloc(sizeof(double) * k);
	f.means = palloc(sizeof(double) * (Size) k * d);
	f.covs = palloc(sizeof(double) * (Size) k * f.covlen);
	f.best_w = palloc(sizeof(double) * k);
	f.best_m = palloc(sizeof(double) * (Size) k * d);
	f.best_c = palloc(sizeof(double) * (Size) k * f.covlen);
	f.best_lb = -DBL_MAX;
	f.best_iter = 0;
	f.best_conv = false;

	for (run = 0; run < opt.n_init; run++)
		gm_run(&f, run, &rng, work);

	/* the final mean log-likelihood under the kept parameters */
	gm_prepare(&gp, k, d, opt.diag, f.best_w, f.best_m, f.best_c, opt.reg_covar);
	mean_loglik = gm_estep(&gp, x, n, f.resp, f.y);
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] += gmean[j];
	for (i = 0; i < k; i++)
		for (j = 0; j < d; j++)
			f.best_m[i * d + j] += gmean[j];

	MemoryContextSwitchTo(old);
	/* the result outlives work */
	m = gm_alloc(k, d, opt.diag);
	m->mean_loglik = mean_loglik;
	gm_fill_model(m, &f, &opt, &tf);
	seg_reco_check_model_finite(&m->mean_loglik, 1, "gmm_train");
	seg_reco_check_model_finite(&m->lower_bound, 1, "gmm_train");
	seg_reco_check_model_finite(GM_WEIGHTS(m), (gm_size(k, d, opt.diag) - offsetof(GmmModel, values)) / sizeof(double),
								"gmm_train");
	MemoryContextDelete(work);
	PG_RETURN_POINTER(m);
}

/* ----------------------------------------------------------------------
 * Text I/O
 * ---------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(seg_reco_gmm_model_out);
Datum
seg_reco_gmm_model_out(PG_FUNCTION_ARGS)
{
	GmmModel   *m = (GmmModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;
	double		ll,
				np;
	int			j,
				r;

	gm_validate(m);
	initStringInfo(&buf);
	ll = m->mean_loglik * (double) m->n;
	np = gm_nparams(m);
	appendStringInfo(&buf, "{\"kind\": \"gmm\", \"version\": 1, \"k\": %d, \"d\": %d, \"n\": %lld, \"covariance_type\": \"%s\", \"log_likelihood\": ",
					 m->k, m->d, (long long) m->n, m->diag ? "diag" : "full");
	seg_reco_json_double(&buf, m->mean_loglik);
	appendStringInfoString(&buf, ", \"bic\": ");
	seg_reco_json_double(&buf, -2.0 * ll + np * log((double) m->n));
	appendStringInfoString(&buf, ", \"aic\": ");
	seg_reco_json_double(&buf, -2.0 * ll + 2.0 * np);
	appendStringInfoString(&buf, ", \"lower_bound\": ");
	seg_reco_json_double(&buf, m->lower_bound);
	appendStringInfo(&buf, ", \"iterations\": %d, \"converged\": %s, \"params\": {\"n_init\": %d, \"max_iter\": %d, \"tol\": ",
					 m->iterations, m->converged ? "true" : "false", m->n_init, m->max_iter);
	seg_reco_json_double(&buf, m->tol);
	appendStringInfoString(&buf, ", \"reg_covar\": ");
	seg_reco_json_double(&buf, m->reg_covar);
	appendStringInfo(&buf, ", \"seed\": %lld, \"standardize\": %s, \"log1p\": ",
					 (long long) m->seed, m->standardize ? "true" : "false");
	seg_reco_json_log1p(&buf, GM_TLOG1P(m), m->d);
	appendStringInfoString(&buf, "}, \"weights\": ");
	seg_reco_json_doubles(&buf, GM_WEIGHTS(m), m->k);
	appendStringInfoString(&buf, ", \"means\": [");
	for (j = 0; j < m->k; j++)
	{
		if (j)
			appendStringInfoString(&buf, ", ");
		seg_reco_json_doubles(&buf, GM_MEANS(m) + (Size) j * m->d, m->d);
	}
	appendStringInfoString(&buf, "], \"covariances\": [");
	for (j = 0; j < m->k; j++)
	{
		const double *cv = GM_COVS(m) + (Size) j * GM_COVLEN(m);

		if (j)
			appendStringInfoString(&buf, ", ");
		if (m->diag)
			seg_reco_json_doubles(&buf, cv, m->d);
		else
		{
			appendStringInfoChar(&buf, '[');
			for (r = 0; r < m->d; r++)
			{
				if (r)
					appendStringInfoString(&buf, ", ");
				seg_reco_json_doubles(&buf, cv + (Size) r * m->d, m->d);
			}
			appendStringInfoChar(&buf, ']');
		}
	}
	appendStringInfoString(&buf, "], \"transform\": {\"mean\": ");
	seg_reco_json_doubles(&buf, GM_TMEAN(m), m->d);
	appendStringInfoString(&buf, ", \"scale\": ");
	seg_reco_json_doubles(&buf, GM_TSCALE(m), m->d);
	appendStringInfoString(&buf, "}}");
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(seg_reco_gmm_model_in);
Datum
seg_reco_gmm_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *T = GMM_MODEL_TYPE;
	JsonbContainer *root = seg_reco_json_parse(str, T);
	JsonbContainer *params,
			   *tf;
	JsonbValue *ct;
	GmmModel   *m;
	int			k,
				d,
				j;
	bool		diag = false;
	double		v;
	GmmPrepared gp;

	k = seg_reco_json_int(root, "k", 1, SEG_RECO_CLUSTER_MAX_K, T);
	d = seg_reco_json_int(root, "d", 1, SEG_RECO_CLUSTER_MAX_DIM, T);
	ct = getKeyJsonValueFromContainer(root, "covariance_type", strlen("covariance_type"), NULL);
	if (ct == NULL || ct->type != jbvString)
		seg_reco_json_bad(T, "\"covariance_type\" must be \"full\" or \"diag\".");
	if (ct->val.string.len == 4 && strncmp(ct->val.string.val, "full", 4) == 0)
		diag = false;
	else if (ct->val.string.len == 4 && strncmp(ct->val.string.val, "diag", 4) == 0)
		diag = true;
	else
		seg_reco_json_bad(T, "\"covariance_type\" must be \"full\" or \"diag\".");
	m = gm_alloc(k, d, diag);
	v = seg_reco_json_number(root, "n", T);
	if (v != floor(v) || v < k || v > 9.0e15)
		seg_reco_json_bad(T, "\"n\" must be an integer of at least k.");
	m->n = (int64) v;
	m->mean_loglik = seg_reco_json_number(root, "log_likelihood", T);
	m->lower_bound = seg_reco_json_number(root, "lower_bound", T);
	m->iterations = seg_reco_json_int(root, "iterations", 0, INT_MAX, T);
	m->converged = seg_reco_json_bool(root, "converged", T) ? 1 : 0;
	params = seg_reco_json_object(root, "params", T);
	m->n_init = seg_reco_json_int(params, "n_init", 1, INT_MAX, T);
	m->max_iter = seg_reco_json_int(params, "max_iter", 1, INT_MAX, T);
	m->tol = seg_reco_json_number(params, "tol", T);
	m->reg_covar = seg_reco_json_number(params, "reg_covar", T);
	m->seed = (int64) seg_reco_json_number(params, "seed", T);
	m->standardize = seg_reco_json_bool(params, "standardize", T) ? 1 : 0;
	seg_reco_json_read_log1p(params, GM_TLOG1P(m), d, T);
	seg_reco_json_number_array(root, "weights", GM_WEIGHTS(m), k, T);
	seg_reco_json_number_array(root, "means", GM_MEANS(m), k * d, T);
	if (diag)
		seg_reco_json_number_array(root, "covariances", GM_COVS(m), k * d, T);
	else
	{
		/* an array of k matrices: read each row-array through the helper */
		JsonbValue *cv = getKeyJsonValueFromContainer(root, "covariances", strlen("covariances"), NULL);
		JsonbContainer *a;
		int			got = 0;

		if (cv == NULL || cv->type != jbvBinary || !JsonContainerIsArray(cv->val.binary.data) ||
			(int) JsonContainerSize(cv->val.binary.data) != k)
			seg_reco_json_bad(T, "\"covariances\" must hold k matrices of d x d numbers.");
		a = cv->val.binary.data;
		for (j = 0; j < k; j++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(a, j);
			JsonbContainer *mat;
			int			r,
						c;

			if (e->type != jbvBinary || !JsonContainerIsArray(e->val.binary.data) ||
				(int) JsonContainerSize(e->val.binary.data) != d)
				seg_reco_json_bad(T, "\"covariances\" must hold k matrices of d x d numbers.");
			mat = e->val.binary.data;
			for (r = 0; r < d; r++)
			{
				JsonbValue *row = getIthJsonbValueFromContainer(mat, r);

				if (row->type != jbvBinary || !JsonContainerIsArray(row->val.binary.data) ||
					(int) JsonContainerSize(row->val.binary.data) != d)
					seg_reco_json_bad(T, "\"covariances\" must hold k matrices of d x d numbers.");
				for (c = 0; c < d; c++)
				{
					JsonbValue *x = getIthJsonbValueFromContainer(row->val.binary.data, c);

					if (x->type != jbvNumeric)
						seg_reco_json_bad(T, "\"covariances\" must hold numbers.");
					GM_COVS(m)[got++] = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
																		   NumericGetDatum(x->val.numeric)));
				}
			}
		}
	}
	tf = seg_reco_json_object(root, "transform", T);
	seg_reco_json_number_array(tf, "mean", GM_TMEAN(m), d, T);
	seg_reco_json_number_array(tf, "scale", GM_TSCALE(m), d, T);
	for (j = 0; j < d; j++)
		if (!(GM_TSCALE(m)[j] > 0.0))
			seg_reco_json_bad(T, "\"scale\" values must be positive.");
	for (j = 0; j < k; j++)
		if (!(GM_WEIGHTS(m)[j] > 0.0) || GM_WEIGHTS(m)[j] > 1.0)
			seg_reco_json_bad(T, "\"weights\" must lie in (0, 1].");
	/* covariances must factorise */
	gm_prepare(&gp, k, d, diag, GM_WEIGHTS(m), GM_MEANS(m), GM_COVS(m), m->reg_covar);
	PG_RETURN_POINTER(m);
}

/* ----------------------------------------------------------------------
 * Assignment
 * ---------------------------------------------------------------------- */

typedef struct GmmCache
{
	char	   *key;
	Size		keylen;
	GmmPrepared gp;
	SegRecoTransform tf;
	double	   *row;
	double	   *y;
	double	   *lp;
} GmmCache;

static GmmCache *
gm_cache(FunctionCallInfo fcinfo, Datum model)
{
	GmmCache   *cache = (GmmCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(model);
	Size		len = VARSIZE_ANY(raw);
	MemoryContext old;
	GmmModel   *m;
	int			d;

	if (cache && cache->keylen == len && memcmp(cache->key, raw, len) == 0)
		return cache;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache = palloc0(sizeof(GmmCache));
	cache->key = palloc(len);
	memcpy(cache->key, raw, len);
	cache->keylen = len;
	m = (GmmModel *) PG_DETOAST_DATUM_COPY(model);
	gm_validate(m);
	d = m->d;
	gm_prepare(&cache->gp, m->k, d, m->diag, GM_WEIGHTS(m), GM_MEANS(m), GM_COVS(m), m->reg_covar);
	cache->tf.d = d;
	cache->tf.mean = GM_TMEAN(m);
	cache->tf.scale = GM_TSCALE(m);
	cache->tf.log1p = GM_TLOG1P(m);
	cache->row = palloc(sizeof(double) * d);
	cache->y = palloc(sizeof(double) * (Size) m->k * d);
	cache->lp = palloc(sizeof(double) * m->k);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/*
 * The responsibilities (into lp) of a row so far from every component that
 * its squared Mahalanobis distances overflow (e.g. features of 1e300 under
 * a model of ordinary values).  With u the row divided by S = 2^e, the
 * distance to component j is S^2 A_j - 2 S B_j + C_j (A_j = |u|^2 and
 * B_j = u.mu_j under the component's precision, C_j = |mu_j|^2 under it).
 * S is then so large that the components compare by A, then by B: the
 * posterior's limit gives the components with the least A and, among them,
 * the greatest B all the probability, shared by weight x exp(-C / 2) x
 * the precision's determinant (the rest of the density), the others 0.
 */
static void
gm_row_far(const GmmPrepared *gp, const double *row, double *lp)
{
	int			k = gp->k,
				d = gp->d,
				j,
				c,
				r,
				e = 0;
	double	   *a = palloc(sizeof(double) * k * 3),
			   *b = a + k,
			   *cc = b + k,
			   *u = palloc(sizeof(double) * d);
	double		amin = DBL_MAX,
				bmax = -DBL_MAX;

	for (c = 0; c < d; c++)
	{
		int			ec;

		(void) frexp(row[c], &ec);
		e = Max(e, ec);
	}
	for (c = 0; c < d; c++)
		u[c] = ldexp(row[c], -e);
	for (j = 0; j < k; j++)
	{
		a[j] = b[j] = cc[j] = 0.0;
		if (gp->diag)
		{
			const double *mu = gp->means + (Size) j * d;
			const double *pr = gp->prec + (Size) j * d;

			for (c = 0; c < d; c++)
			{
				a[j] += u[c] * u[c] * pr[c];
				b[j] += u[c] * mu[c] * pr[c];
				cc[j] += mu[c] * mu[c] * pr[c];
			}
		}
		else
		{
			for (c = 0; c < d; c++)
			{
				double		y = 0.0,
							mp = gp->mup[(Size) j * d + c];

				for (r = 0; r < d; r++)
					y += u[r] * gp->pall[(Size) r * k * d + (Size) j * d + c];
				a[j] += y * y;
				b[j] += y * mp;
				cc[j] += mp * mp;
			}
		}
		if (!isfinite(a[j]) || !isfinite(b[j]) || !isfinite(cc[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the row is too far from every mixture component for double precision"),
					 errhint("Filter out or repair rows with such values.")));
		amin = Min(amin, a[j]);
	}
	for (j = 0; j < k; j++)
		if (a[j] == amin)
			bmax = Max(bmax, b[j]);
	for (j = 0; j < k; j++)
		lp[j] = (a[j] == amin && b[j] == bmax) ? gp->logconst[j] - 0.5 * cc[j] : -INFINITY;
	pfree(a);
	pfree(u);
}

/*
 * Responsibilities of one row into cache->lp; rows whose distances to every
 * component overflow through gm_row_far.  Plain loops, no BLAS call per row.
 */
static void
gm_row_proba(FunctionCallInfo fcinfo)
{
	GmmCache   *cache = gm_cache(fcinfo, PG_GETARG_DATUM(1));
	const double *v = seg_reco_features_arg(PG_GETARG_ARRAYTYPE_P(0), cache->gp.d, "features");
	GmmPrepared *gp = &cache->gp;
	int			k = gp->k,
				d = gp->d,
				j,
				c,
				r;
	bool		ok = false;

	seg_reco_transform_row(&cache->tf, v, cache->row);
	if (gp->diag)
		gm_logprob_block(gp, cache->row, 1, NULL, cache->lp);
	else
	{
		for (j = 0; j < k; j++)
		{
			double		s = 0.0;

			for (c = 0; c < d; c++)
			{
				double		t = -gp->mup[(Size) j * d + c];

				for (r = 0; r < d; r++)
					t += cache->row[r] * gp->pall[(Size) r * k * d + (Size) j * d + c];
				s += t * t;
			}
			cache->lp[j] = gp->logconst[j] - 0.5 * s;
		}
	}
	/* usable when no log density is NaN and one is finite */
	for (j = 0; j < k; j++)
	{
		if (isnan(cache->lp[j]))
		{
			ok = false;
			break;
		}
		if (isfinite(cache->lp[j]))
			ok = true;
	}
	if (!ok)
		gm_row_far(gp, cache->row, cache->lp);
	gm_normalise_row(cache->lp, k);
}

PG_FUNCTION_INFO_V1(seg_reco_gmm_assign);
Datum
seg_reco_gmm_assign(PG_FUNCTION_ARGS)
{
	GmmCache   *cache;
	int			j,
				best = 0;

	gm_row_proba(fcinfo);
	cache = (GmmCache *) fcinfo->flinfo->fn_extra;
	for (j = 1; j < cache->gp.k; j++)
		if (cache->lp[j] > cache->lp[best])
			best = j;
	PG_RETURN_INT32(best + 1);
}

PG_FUNCTION_INFO_V1(seg_reco_gmm_proba);
Datum
seg_reco_gmm_proba(PG_FUNCTION_ARGS)
{
	GmmCache   *cache;
	Datum	   *elems;
	int			j;

	gm_row_proba(fcinfo);
	cache = (GmmCache *) fcinfo->flinfo->fn_extra;
	elems = palloc(sizeof(Datum) * cache->gp.k);
	for (j = 0; j < cache->gp.k; j++)
		elems[j] = Float8GetDatum(cache->lp[j]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, cache->gp.k, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
