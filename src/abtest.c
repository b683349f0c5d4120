/*
 * abtest.c
 *      A/B tests: deterministic assignment by a keyed hash, the tests of a
 *      difference between two arms (two-proportion z-test, Welch's t-test,
 *      a seeded percentile bootstrap), CUPED, the sample-ratio-mismatch
 *      check and sample sizes.  The SQL side (experiments, assignments,
 *      ab_results over the transactions) is sql/src/13_ab_tests.sql.
 *
 * Assignment.  ab_hash(salt, customer_id) is SipHash-2-4 (Aumasson &
 * Bernstein 2012) keyed with the first 16 bytes of SHA-256(salt) (the
 * salt's bytes in the database encoding; the key words little-endian, as
 * SipHash reads them), over the customer id as 8 bytes little-endian (two's
 * complement); the top 53 bits of the 64-bit result, times 2^-53, are a
 * number u in [0, 1).  Every byte order is fixed here, so the same salt and
 * id give the same u on every platform and PostgreSQL version (hashtext()
 * and hash_any_extended() promise neither).  _ab_arm_index(u, holdout,
 * weights) maps u to an arm: 0 (the holdout) when u < holdout, else the
 * first arm i with v < w_1 + ... + w_i, v = (u - holdout) / (1 - holdout).
 *
 * Tests of treatment against control (diff = mean_t - mean_c; CI at level
 * 1 - alpha, two-sided):
 *   z-test     (conversions) z = diff / sqrt(p (1 - p) (1/n_c + 1/n_t)),
 *              p the pooled proportion; p-value 2 P(Z > |z|); CI from the
 *              unpooled standard error sqrt(p_c (1 - p_c) / n_c + p_t (1 -
 *              p_t) / n_t) and the normal quantile (Wald).
 *   Welch      t = diff / se, se^2 = s_c^2 / n_c + s_t^2 / n_t, df by
 *              Welch-Satterthwaite se^4 / ((s_c^2/n_c)^2 / (n_c - 1) +
 *              (s_t^2/n_t)^2 / (n_t - 1)); p-value from the t distribution
 *              (distributions.c); CI diff +- t_{1-alpha/2, df} se.
 *   relative   uplift diff / mean_c, its CI by the delta method,
 *              var = v_t / m_c^2 + m_t^2 v_c / m_c^4 (v the variance of each
 *              arm's mean), with the critical value of the difference's CI;
 *              NULL when mean_c = 0.
 *   bootstrap  B resamples (with replacement, n_c from control then n_t
 *              from treatment, indices from pg_prng_uint64_range seeded
 *              with the seed), the difference of means and its ratio to the
 *              resampled control mean each time; percentile CI with linear
 *              interpolation between order statistics (numpy's default);
 *              p-value min(1, 2 (min(#(d <= 0), #(d >= 0)) + 1) / (B + 1))
 *              (the Monte Carlo p-value, never 0: Davison & Hinkley 1997).
 *   CUPED      (Deng et al. 2013) with each customer's pre-period value x:
 *              theta = cov(y, x) / var(x) over both arms pooled, y' = y -
 *              theta (x - mean x), the test on y'; variance reduction 1 -
 *              var(y') / var(y) (= corr(x, y)^2).
 *   SRM        chi-square goodness of fit of the arms' counts against the
 *              planned shares, k - 1 degrees of freedom.
 * Sample sizes (normal approximation, two-sided alpha, unpooled
 * variances): n_c = (z_{1-alpha/2} + z_power)^2 (p1 (1 - p1) + p2 (1 -
 * p2) / k) / mde^2 for proportions (p2 = p1 + mde), (z + z)^2 sd^2 (1 +
 * 1/k) / mde^2 for means, n_t = k n_c; power = P(Z > d/se - z_{1-alpha/2})
 * + P(Z > d/se + z_{1-alpha/2}).
 *
 * Every number here is checked against scipy/numpy in test/sql/ab_stats.sql
 * (values written by test/ab_reference.py, which also implements SipHash
 * and PostgreSQL's PRNG to reproduce assignments and bootstrap draws).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/pg_prng.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "distributions.h"
#include "guards.h"

#define AB_MAX_ARMS			100
#define AB_WEIGHT_TOLERANCE	1e-9
#define AB_MAX_RESAMPLES	100000

/* ======================================================================
 * Keyed hash
 * ====================================================================== */

#define ROTL64(x, b)	(uint64) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND \
	do { \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
	} while (0)

static uint64
read_le64(const uint8 *p)
{
	uint64		v = 0;
	int			i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* SipHash-2-4 of len bytes with the key k0, k1 */
static uint64
siphash24(uint64 k0, uint64 k1, const uint8 *m, size_t len)
{
	uint64		v0 = UINT64CONST(0x736f6d6570736575) ^ k0;
	uint64		v1 = UINT64CONST(0x646f72616e646f6d) ^ k1;
	uint64		v2 = UINT64CONST(0x6c7967656e657261) ^ k0;
	uint64		v3 = UINT64CONST(0x7465646279746573) ^ k1;
	uint64		b = ((uint64) len) << 56;
	size_t		nblocks = len / 8;
	size_t		i;

	for (i = 0; i < nblocks; i++)
	{
		uint64		mi = read_le64(m + 8 * i);

		v3 ^= mi;
		SIPROUND;
		SIPROUND;
		v0 ^= mi;
	}
	for (i = 0; i < len % 8; i++)
		b |= ((uint64) m[8 * nblocks + i]) << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* the SipHash key of a salt: the first 16 bytes of its SHA-256 */
typedef struct AbKeyCache
{
	int			salt_len;
	char	   *salt;
	uint64		k0,
				k1;
} AbKeyCache;

static void
salt_key(const char *salt, int len, uint64 *k0, uint64 *k1)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) salt, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *why = pg_cryptohash_error(ctx);

		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-256 of the salt: %s", why);
	}
	pg_cryptohash_free(ctx);
	*k0 = read_le64(digest);
	*k1 = read_le64(digest + 8);
}

PG_FUNCTION_INFO_V1(seg_reco_ab_hash);
Datum
seg_reco_ab_hash(PG_FUNCTION_ARGS)
{
	text	   *salt = PG_GETARG_TEXT_PP(0);
	int64		id = PG_GETARG_INT64(1);
	const char *s = VARDATA_ANY(salt);
	int			len = VARSIZE_ANY_EXHDR(salt);
	AbKeyCache *cache = (AbKeyCache *) fcinfo->flinfo->fn_extra;
	uint8		msg[8];
	uint64		h;
	int			i;

	/* the key of the last salt is kept across calls (bulk assignment) */
	if (cache == NULL || cache->salt_len != len || memcmp(cache->salt, s, len) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (cache == NULL)
			cache = palloc0(sizeof(AbKeyCache));
		else if (cache->salt)
			pfree(cache->salt);
		cache->salt = palloc(len + 1);
		memcpy(cache->salt, s, len);
		cache->salt_len = len;
		MemoryContextSwitchTo(old);
		salt_key(s, len, &cache->k0, &cache->k1);
		fcinfo->flinfo->fn_extra = cache;
	}
	for (i = 0; i < 8; i++)
		msg[i] = (uint8) (((uint64) id) >> (8 * i));
	h = siphash24(cache->k0, cache->k1, msg, 8);
	PG_RETURN_FLOAT8(ldexp((double) (h >> 11), -53));
}

/* SipHash-2-4 itself, for its published test vectors */
PG_FUNCTION_INFO_V1(seg_reco_ab_siphash);
Datum
seg_reco_ab_siphash(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);

	if (VARSIZE_ANY_EXHDR(key) != 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a SipHash key has 16 bytes, got %d", (int) VARSIZE_ANY_EXHDR(key))));
	PG_RETURN_INT64((int64) siphash24(read_le64((const uint8 *) VARDATA_ANY(key)),
									  read_le64((const uint8 *) VARDATA_ANY(key) + 8),
									  (const uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg)));
}

/* ======================================================================
 * Experiment design: arm weights and holdout share
 * ====================================================================== */

/* the weights of a design, checked; returns their number */
static int
design_weights(ArrayType *arr, double holdout, double **weights)
{
	int			n = seg_reco_float8_array_len(arr, "weights");
	double	   *w;
	double		sum = 0.0;
	int			i;

	seg_reco_check_no_nulls(arr, "weights");
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an experiment needs at least one arm"),
				 errdetail("The arms and their weights are empty."),
				 errhint("Give the arms and their weights, e.g. arms => '{control,treatment}', weights => '{0.5,0.5}'.")));
	if (n > AB_MAX_ARMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an experiment has at most %d arms, got %d", AB_MAX_ARMS, n)));
	w = (double *) ARR_DATA_PTR(arr);
	for (i = 0; i < n; i++)
	{
		if (isnan(w[i]) || isinf(w[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the weight of arm %d is %s", i + 1,
							isnan(w[i]) ? "NaN" : (w[i] > 0 ? "Infinity" : "-Infinity")),
					 errhint("Weights are finite shares between 0 and 1 that sum to 1.")));
		if (!(w[i] > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the weight of arm %d must be positive, got %g", i + 1, w[i]),
					 errhint("Drop an arm rather than give it weight 0.")));
		sum += w[i];
	}
	if (fabs(sum - 1.0) > AB_WEIGHT_TOLERANCE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the weights must sum to 1, got %.12g", sum),
				 errdetail("The weights share out the customers who are not in the holdout."),
				 errhint("Divide each weight by their sum.")));
	if (isnan(holdout) || holdout < 0.0 || holdout >= 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the holdout share must be at least 0 and less than 1, got %g", holdout),
				 errhint("0 means no holdout group.")));
	*weights = w;
	return n;
}

/* 0 for the holdout, else the 1-based arm of a number u in [0, 1) */
static int
arm_index(double u, double holdout, const double *w, int n)
{
	double		v;
	double		cum = 0.0;
	int			i;

	if (u < holdout)
		return 0;
	v = (u - holdout) / (1.0 - holdout);
	for (i = 0; i < n; i++)
	{
		cum += w[i];
		if (v < cum)
			return i + 1;
	}
	return n;					/* rounding of the sum just below 1 */
}

PG_FUNCTION_INFO_V1(seg_reco_ab_arm_index);
Datum
seg_reco_ab_arm_index(PG_FUNCTION_ARGS)
{
	double		u = PG_GETARG_FLOAT8(0);
	double		holdout = PG_GETARG_FLOAT8(1);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	double	   *w;
	int			n = design_weights(arr, holdout, &w);

	if (isnan(u) || u < 0.0 || u >= 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the position must be at least 0 and less than 1, got %g", u)));
	PG_RETURN_INT32(arm_index(u, holdout, w, n));
}

PG_FUNCTION_INFO_V1(seg_reco_ab_check_design);
Datum
seg_reco_ab_check_design(PG_FUNCTION_ARGS)
{
	double	   *w;

	(void) design_weights(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_FLOAT8(1), &w);
	PG_RETURN_BOOL(true);
}

/* ======================================================================
 * Tests of a difference
 * ====================================================================== */

typedef struct AbEffect
{
	double		diff;
	bool		has_ci;
	double		ci_low,
				ci_high;
	bool		has_rel;
	double		rel,
				rel_low,
				rel_high;
	bool		has_stat;
	double		stat;
	bool		has_df;
	double		df;
	bool		has_p;
	double		p;
} AbEffect;

static void
too_large(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("the values are too large for the test"),
			 errdetail("A sum, square or ratio of them is beyond the range of float8."),
			 errhint("Scale the values down (e.g. to thousands).")));
}

static void
check_alpha(double alpha)
{
	if (!(alpha > 0.0 && alpha < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alpha must be between 0 and 1 (exclusive), got %g", alpha),
				 errhint("0.05 gives 95%% confidence intervals.")));
}

/*
 * relative uplift (m_t - m_c) / m_c and its delta-method interval; v_c,
 * v_t the variances of the two means, crit the critical value
 */
static void
relative_uplift(double mc, double vc, double mt, double vt, double crit, AbEffect *e)
{
	double		se;

	e->has_rel = false;
	if (mc == 0.0)
		return;
	e->rel = (mt - mc) / mc;
	se = sqrt(vt / (mc * mc) + (mt * mt) * vc / ((mc * mc) * (mc * mc)));
	if (isnan(se) || isinf(se) || isnan(e->rel) || isinf(e->rel))
		return;
	e->has_rel = true;
	e->rel_low = e->rel - crit * se;
	e->rel_high = e->rel + crit * se;
}

static void
ztest(double xc, double nc, double xt, double nt, double alpha, AbEffect *e)
{
	double		pc = xc / nc;
	double		pt = xt / nt;
	double		pool = (xc + xt) / (nc + nt);
	double		se0 = sqrt(pool * (1.0 - pool) * (1.0 / nc + 1.0 / nt));
	double		vc = pc * (1.0 - pc) / nc;
	double		vt = pt * (1.0 - pt) / nt;
	double		se1 = sqrt(vc + vt);
	double		crit = seg_reco_normal_quantile(1.0 - alpha / 2.0);

	memset(e, 0, sizeof(*e));
	e->diff = pt - pc;
	e->has_ci = true;
	e->ci_low = e->diff - crit * se1;
	e->ci_high = e->diff + crit * se1;
	e->has_stat = e->has_p = true;
	if (se0 > 0.0)
	{
		e->stat = e->diff / se0;
		e->p = 2.0 * seg_reco_normal_sf(fabs(e->stat));
	}
	else
	{
		/* every customer converted, or none did, in both arms */
		e->stat = 0.0;
		e->p = 1.0;
	}
	relative_uplift(pc, vc, pt, vt, crit, e);
}

/* Welch's test from each arm's size, mean and variance (n >= 2) */
static void
welch(double nc, double mc, double varc, double nt, double mt, double vart, double alpha,
	  AbEffect *e)
{
	double		vc = varc / nc;
	double		vt = vart / nt;
	double		se = sqrt(vc + vt);

	memset(e, 0, sizeof(*e));
	e->diff = mt - mc;
	e->has_ci = e->has_p = true;
	if (!isfinite(se) || !isfinite(e->diff))
		too_large();
	if (se > 0.0)
	{
		double		df = (vc + vt) * (vc + vt) / (vc * vc / (nc - 1.0) + vt * vt / (nt - 1.0));
		double		crit;

		if (!(df >= 1.0) || isinf(df))
			too_large();
		crit = seg_reco_t_quantile(1.0 - alpha / 2.0, df);

		e->has_stat = e->has_df = true;
		e->stat = e->diff / se;
		e->df = df;
		e->p = seg_reco_t_two_sided(e->stat, df);
		e->ci_low = e->diff - crit * se;
		e->ci_high = e->diff + crit * se;
		relative_uplift(mc, vc, mt, vt, crit, e);
	}
	else
	{
		/* both arms constant: the difference is exact */
		e->p = (e->diff == 0.0) ? 1.0 : 0.0;
		e->ci_low = e->ci_high = e->diff;
		relative_uplift(mc, 0.0, mt, 0.0, 0.0, e);
	}
}

/* mean and sample variance (two passes) */
static void
mean_var(const double *y, int n, double *mean, double *var)
{
	double		s = 0.0;
	double		ss = 0.0;
	int			i;

	for (i = 0; i < n; i++)
		s += y[i];
	*mean = s / n;
	for (i = 0; i < n; i++)
		ss += (y[i] - *mean) * (y[i] - *mean);
	*var = (n > 1) ? ss / (n - 1) : 0.0;
}

/* numpy's default quantile of sorted values: linear between order statistics */
static double
sorted_quantile(const double *s, int n, double q)
{
	double		h = (n - 1) * q;
	int			lo = (int) floor(h);
	double		frac = h - lo;

	if (lo >= n - 1)
		return s[n - 1];
	return s[lo] + frac * (s[lo + 1] - s[lo]);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* percentile bootstrap of the difference of means and of the relative uplift */
static void
bootstrap(const double *yc, int nc, const double *yt, int nt, int resamples, int64 seed,
		  double alpha, AbEffect *e)
{
	pg_prng_state rng;
	double	   *d = palloc(sizeof(double) * resamples);
	double	   *r = palloc(sizeof(double) * resamples);
	int			nrel = 0;
	int64		below = 0;
	int64		above = 0;
	double		mc,
				mt,
				var;
	int			b,
				i;

	mean_var(yc, nc, &mc, &var);
	mean_var(yt, nt, &mt, &var);
	memset(e, 0, sizeof(*e));
	e->diff = mt - mc;
	seg_reco_prng_seed(&rng, seed);
	for (b = 0; b < resamples; b++)
	{
		double		sc = 0.0;
		double		st = 0.0;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < nc; i++)
			sc += yc[pg_prng_uint64_range(&rng, 0, (uint64) (nc - 1))];
		for (i = 0; i < nt; i++)
			st += yt[pg_prng_uint64_range(&rng, 0, (uint64) (nt - 1))];
		sc /= nc;
		st /= nt;
		d[b] = st - sc;
		if (d[b] <= 0.0)
			below++;
		if (d[b] >= 0.0)
			above++;
		if (sc != 0.0)
			r[nrel++] = (st - sc) / sc;
	}
	qsort(d, resamples, sizeof(double), cmp_double);
	e->has_ci = true;
	e->ci_low = sorted_quantile(d, resamples, alpha / 2.0);
	e->ci_high = sorted_quantile(d, resamples, 1.0 - alpha / 2.0);
	e->has_p = true;
	e->p = Min(1.0, 2.0 * (double) (Min(below, above) + 1) / (resamples + 1));
	/* the relative uplift only when no resampled control mean was 0 */
	if (mc != 0.0 && nrel == resamples)
	{
		qsort(r, resamples, sizeof(double), cmp_double);
		e->has_rel = true;
		e->rel = (mt - mc) / mc;
		e->rel_low = sorted_quantile(r, resamples, alpha / 2.0);
		e->rel_high = sorted_quantile(r, resamples, 1.0 - alpha / 2.0);
	}
	pfree(d);
	pfree(r);
}

/*
 * CUPED: y' = y - theta (x - mean x), theta = cov(y, x) / var(x), both over
 * the two arms pooled; the adjusted values replace yc and yt in place.
 */
static void
cuped(double *yc, const double *xc, int nc, double *yt, const double *xt, int nt,
	  double *theta, double *reduction)
{
	int			n = nc + nt;
	double		sy = 0.0,
				sx = 0.0,
				my,
				mx,
				sxx = 0.0,
				sxy = 0.0,
				syy = 0.0,
				sa = 0.0,
				saa = 0.0,
				ma;
	int			i;

	for (i = 0; i < nc; i++)
	{
		sy += yc[i];
		sx += xc[i];
	}
	for (i = 0; i < nt; i++)
	{
		sy += yt[i];
		sx += xt[i];
	}
	my = sy / n;
	mx = sx / n;
	for (i = 0; i < nc; i++)
	{
		sxx += (xc[i] - mx) * (xc[i] - mx);
		sxy += (xc[i] - mx) * (yc[i] - my);
		syy += (yc[i] - my) * (yc[i] - my);
	}
	for (i = 0; i < nt; i++)
	{
		sxx += (xt[i] - mx) * (xt[i] - mx);
		sxy += (xt[i] - mx) * (yt[i] - my);
		syy += (yt[i] - my) * (yt[i] - my);
	}
	*theta = (sxx > 0.0) ? sxy / sxx : 0.0;
	for (i = 0; i < nc; i++)
		yc[i] -= *theta * (xc[i] - mx);
	for (i = 0; i < nt; i++)
		yt[i] -= *theta * (xt[i] - mx);
	for (i = 0; i < nc; i++)
		sa += yc[i];
	for (i = 0; i < nt; i++)
		sa += yt[i];
	ma = sa / n;
	for (i = 0; i < nc; i++)
		saa += (yc[i] - ma) * (yc[i] - ma);
	for (i = 0; i < nt; i++)
		saa += (yt[i] - ma) * (yt[i] - ma);
	*reduction = (syy > 0.0) ? 1.0 - saa / syy : 0.0;
}

/* a float8[] argument as a palloc'd copy; its length in *n */
static double *
float8_values(ArrayType *arr, const char *what, int *n)
{
	double	   *v;

	*n = seg_reco_float8_array_len(arr, what);
	seg_reco_check_no_nulls(arr, what);
	v = palloc(sizeof(double) * Max(*n, 1));
	if (*n > 0)
		memcpy(v, ARR_DATA_PTR(arr), sizeof(double) * *n);
	seg_reco_check_finite_array(v, *n, what);
	return v;
}

/* every number of a result must be finite: sums or squares may overflow */
static void
check_finite_result(const Datum *values, const bool *nulls, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!nulls[i] && !isfinite(DatumGetFloat8(values[i])))
			too_large();
	}
}

static Datum
effect_tuple(FunctionCallInfo fcinfo, const AbEffect *e, int first, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[first] = Float8GetDatum(e->diff);
	values[first + 1] = Float8GetDatum(e->ci_low);
	values[first + 2] = Float8GetDatum(e->ci_high);
	nulls[first + 1] = nulls[first + 2] = !e->has_ci;
	values[first + 3] = Float8GetDatum(e->rel);
	values[first + 4] = Float8GetDatum(e->rel_low);
	values[first + 5] = Float8GetDatum(e->rel_high);
	nulls[first + 3] = nulls[first + 4] = nulls[first + 5] = !e->has_rel;
	values[first + 6] = Float8GetDatum(e->stat);
	nulls[first + 6] = !e->has_stat;
	values[first + 7] = Float8GetDatum(e->df);
	nulls[first + 7] = !e->has_df;
	values[first + 8] = Float8GetDatum(e->p);
	nulls[first + 8] = !e->has_p;
	check_finite_result(values + first, nulls + first, 9);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * ab_ztest(x_control, n_control, x_treatment, n_treatment, alpha) ->
 * (p_control, p_treatment, difference, ci_low, ci_high, relative_uplift,
 *  relative_ci_low, relative_ci_high, z, df (NULL), p_value)
 */
PG_FUNCTION_INFO_V1(seg_reco_ab_ztest);
Datum
seg_reco_ab_ztest(PG_FUNCTION_ARGS)
{
	int64		xc = PG_GETARG_INT64(0);
	int64		nc = PG_GETARG_INT64(1);
	int64		xt = PG_GETARG_INT64(2);
	int64		nt = PG_GETARG_INT64(3);
	double		alpha = PG_GETARG_FLOAT8(4);
	AbEffect	e;
	Datum		values[11];
	bool		nulls[11] = {0};

	if (nc < 1 || nt < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each arm needs at least one customer, got %lld and %lld",
						(long long) nc, (long long) nt)));
	if (xc < 0 || xc > nc || xt < 0 || xt > nt)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversions must be between 0 and the arm's customers"),
				 errdetail("Got %lld of %lld in control and %lld of %lld in treatment.",
						   (long long) xc, (long long) nc, (long long) xt, (long long) nt)));
	check_alpha(alpha);
	ztest((double) xc, (double) nc, (double) xt, (double) nt, alpha, &e);
	values[0] = Float8GetDatum((double) xc / nc);
	values[1] = Float8GetDatum((double) xt / nt);
	PG_RETURN_DATUM(effect_tuple(fcinfo, &e, 2, values, nulls));
}

/*
 * ab_welch(n_control, mean_control, sd_control, n_treatment, mean_treatment,
 * sd_treatment, alpha) -> (difference, ci_low, ci_high, relative_uplift,
 * relative_ci_low, relative_ci_high, t, df, p_value)
 */
PG_FUNCTION_INFO_V1(seg_reco_ab_welch);
Datum
seg_reco_ab_welch(PG_FUNCTION_ARGS)
{
	int64		nc = PG_GETARG_INT64(0);
	double		mc = PG_GETARG_FLOAT8(1);
	double		sc = PG_GETARG_FLOAT8(2);
	int64		nt = PG_GETARG_INT64(3);
	double		mt = PG_GETARG_FLOAT8(4);
	double		st = PG_GETARG_FLOAT8(5);
	double		alpha = PG_GETARG_FLOAT8(6);
	AbEffect	e;
	Datum		values[9];
	bool		nulls[9] = {0};

	if (nc < 2 || nt < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Welch's test needs at least two customers in each arm, got %lld and %lld",
						(long long) nc, (long long) nt)));
	seg_reco_check_finite(mc, "mean_control");
	seg_reco_check_finite(mt, "mean_treatment");
	seg_reco_check_finite(sc, "sd_control");
	seg_reco_check_finite(st, "sd_treatment");
	if (sc < 0.0 || st < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("standard deviations must not be negative")));
	check_alpha(alpha);
	welch((double) nc, mc, sc * sc, (double) nt, mt, st * st, alpha, &e);
	PG_RETURN_DATUM(effect_tuple(fcinfo, &e, 0, values, nulls));
}

/*
 * ab_compare(control float8[], treatment float8[], method text, alpha,
 * control_pre float8[], treatment_pre float8[], resamples, seed) ->
 * (n_control, mean_control, sd_control, n_treatment, mean_treatment,
 *  sd_treatment, difference, ci_low, ci_high, relative_uplift,
 *  relative_ci_low, relative_ci_high, statistic, df, p_value, theta,
 *  variance_reduction)
 * Not STRICT: the pre-period arrays may be NULL (no CUPED).
 */
PG_FUNCTION_INFO_V1(seg_reco_ab_compare);
Datum
seg_reco_ab_compare(PG_FUNCTION_ARGS)
{
	const char *method;
	double		alpha;
	int			resamples;
	int64		seed;
	int			nc,
				nt;
	double	   *yc,
			   *yt;
	double		mc,
				mt,
				varc,
				vart,
				theta = 0.0,
				reduction = 0.0;
	bool		use_cuped;
	AbEffect	e;
	Datum		values[17];
	bool		nulls[17] = {0};
	MemoryContext work,
				old;
	Datum		result;
	int			i;

	SEG_RECO_ARG_NOT_NULL(0, "control");
	SEG_RECO_ARG_NOT_NULL(1, "treatment");
	SEG_RECO_ARG_NOT_NULL(2, "method");
	SEG_RECO_ARG_NOT_NULL(3, "alpha");
	SEG_RECO_ARG_NOT_NULL(6, "resamples");
	SEG_RECO_ARG_NOT_NULL(7, "seed");
	if (PG_ARGISNULL(4) != PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("control_pre and treatment_pre must both be given or both be NULL"),
				 errhint("CUPED needs the pre-period value of every customer of both arms.")));
	method = text_to_cstring(PG_GETARG_TEXT_PP(2));
	alpha = PG_GETARG_FLOAT8(3);
	resamples = PG_GETARG_INT32(6);
	seed = PG_GETARG_INT64(7);
	use_cuped = !PG_ARGISNULL(4);
	check_alpha(alpha);
	if (strcmp(method, "ztest") != 0 && strcmp(method, "welch") != 0 && strcmp(method, "bootstrap") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown method \"%s\"", method),
				 errhint("Methods: ztest (conversions), welch, bootstrap.")));
	if (strcmp(method, "bootstrap") == 0 && (resamples < 10 || resamples > AB_MAX_RESAMPLES))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resamples must be between 10 and %d, got %d", AB_MAX_RESAMPLES, resamples)));
	if (use_cuped && strcmp(method, "ztest") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("CUPED needs method welch or bootstrap"),
				 errdetail("Adjusted conversions are no longer 0 or 1."),
				 errhint("Use method => 'welch'.")));

	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco ab_compare", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	yc = float8_values(PG_GETARG_ARRAYTYPE_P(0), "control", &nc);
	yt = float8_values(PG_GETARG_ARRAYTYPE_P(1), "treatment", &nt);
	if (nc == 0 || nt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each arm needs at least one value, got %d and %d", nc, nt)));

	mean_var(yc, nc, &mc, &varc);
	mean_var(yt, nt, &mt, &vart);
	values[0] = Int64GetDatum(nc);
	values[1] = Float8GetDatum(mc);
	values[2] = Float8GetDatum(sqrt(varc));
	nulls[2] = nc < 2;
	values[3] = Int64GetDatum(nt);
	values[4] = Float8GetDatum(mt);
	values[5] = Float8GetDatum(sqrt(vart));
	nulls[5] = nt < 2;

	if (strcmp(method, "ztest") == 0)
	{
		double		xc = 0.0,
					xt = 0.0;

		for (i = 0; i < nc; i++)
		{
			if (yc[i] != 0.0 && yc[i] != 1.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the z-test needs values 0 or 1, control element %d is %g", i + 1, yc[i]),
						 errhint("Use method => 'welch' for other values.")));
			xc += yc[i];
		}
		for (i = 0; i < nt; i++)
		{
			if (yt[i] != 0.0 && yt[i] != 1.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the z-test needs values 0 or 1, treatment element %d is %g", i + 1, yt[i]),
						 errhint("Use method => 'welch' for other values.")));
			xt += yt[i];
		}
		ztest(xc, nc, xt, nt, alpha, &e);
	}
	else
	{
		if (use_cuped)
		{
			int			npc,
						npt;
			double	   *xc = float8_values(PG_GETARG_ARRAYTYPE_P(4), "control_pre", &npc);
			double	   *xt = float8_values(PG_GETARG_ARRAYTYPE_P(5), "treatment_pre", &npt);

			if (npc != nc || npt != nt)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("the pre-period arrays must match the arms, got %d and %d values for %d and %d customers",
								npc, npt, nc, nt)));
			cuped(yc, xc, nc, yt, xt, nt, &theta, &reduction);
		}
		if (strcmp(method, "welch") == 0)
		{
			double		ac,
						at,
						vc2,
						vt2;

			mean_var(yc, nc, &ac, &vc2);
			mean_var(yt, nt, &at, &vt2);
			if (nc < 2 || nt < 2)
			{
				/* no variance in an arm of one: the difference alone */
				memset(&e, 0, sizeof(e));
				e.diff = at - ac;
			}
			else
				welch(nc, ac, vc2, nt, at, vt2, alpha, &e);
		}
		else
			bootstrap(yc, nc, yt, nt, resamples, seed, alpha, &e);
	}
	MemoryContextSwitchTo(old);
	values[15] = Float8GetDatum(theta);
	values[16] = Float8GetDatum(reduction);
	nulls[15] = nulls[16] = !use_cuped;
	check_finite_result(values + 1, nulls + 1, 2);
	check_finite_result(values + 4, nulls + 4, 2);
	check_finite_result(values + 15, nulls + 15, 2);
	result = effect_tuple(fcinfo, &e, 6, values, nulls);
	MemoryContextDelete(work);
	PG_RETURN_DATUM(result);
}

/* ======================================================================
 * Sample-ratio mismatch
 * ====================================================================== */

/* ab_srm(observed bigint[], shares float8[]) -> (chi2, df, p_value) */
PG_FUNCTION_INFO_V1(seg_reco_ab_srm);
Datum
seg_reco_ab_srm(PG_FUNCTION_ARGS)
{
	ArrayType  *obs_arr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *share_arr = PG_GETARG_ARRAYTYPE_P(1);
	int			k = seg_reco_float8_array_len(share_arr, "shares");
	int			ko;
	int64	   *obs;
	double	   *share;
	double		total = 0.0,
				sum = 0.0,
				chi2 = 0.0;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {0};
	int			i;

	if (ARR_ELEMTYPE(obs_arr) != INT8OID || ARR_NDIM(obs_arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("observed must be a one-dimensional bigint[] array")));
	ko = ARR_NDIM(obs_arr) == 0 ? 0 : ARR_DIMS(obs_arr)[0];
	seg_reco_check_no_nulls(obs_arr, "observed");
	seg_reco_check_no_nulls(share_arr, "shares");
	if (ko != k || k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed and shares must have the same number of arms, at least 2, got %d and %d", ko, k)));
	if (k > AB_MAX_ARMS + 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d groups, got %d", AB_MAX_ARMS + 1, k)));
	obs = (int64 *) ARR_DATA_PTR(obs_arr);
	share = (double *) ARR_DATA_PTR(share_arr);
	for (i = 0; i < k; i++)
	{
		if (obs[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("observed counts must not be negative, element %d is %lld", i + 1, (long long) obs[i])));
		if (isnan(share[i]) || isinf(share[i]) || !(share[i] > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("planned shares must be positive and finite, element %d is %g", i + 1, share[i])));
		total += (double) obs[i];
		sum += share[i];
	}
	if (fabs(sum - 1.0) > AB_WEIGHT_TOLERANCE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the planned shares must sum to 1, got %.12g", sum),
				 errhint("Divide each share by their sum.")));
	if (total == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no customers observed"),
				 errhint("The check needs at least one assigned customer.")));
	for (i = 0; i < k; i++)
	{
		double		expected = total * share[i];
		double		dev = (double) obs[i] - expected;

		chi2 += dev * dev / expected;
	}
	if (!isfinite(chi2))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the chi-square statistic is beyond the range of float8"),
				 errdetail("A planned share is too small for the counts.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Float8GetDatum(chi2);
	values[1] = Int32GetDatum(k - 1);
	values[2] = Float8GetDatum(seg_reco_chi2_sf(chi2, (double) (k - 1)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* ======================================================================
 * Planning: sample size, minimum detectable effect, power
 * ====================================================================== */

typedef enum
{
	AB_PROPORTION,
	AB_MEAN
} AbMetricKind;

static AbMetricKind
planning_kind(FunctionCallInfo fcinfo)
{
	char	   *kind;

	SEG_RECO_ARG_NOT_NULL(0, "metric");
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(kind, "proportion") == 0)
		return AB_PROPORTION;
	if (strcmp(kind, "mean") == 0)
		return AB_MEAN;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown metric kind \"%s\"", kind),
			 errhint("Use 'proportion' (conversion rates) or 'mean' (revenue, basket size).")));
	return AB_MEAN;				/* keep compiler quiet */
}

/* the baseline proportion, or the standard deviation of a mean metric */
static double
planning_spread(FunctionCallInfo fcinfo, AbMetricKind kind, int baseline_arg, int sd_arg)
{
	double		v;

	if (kind == AB_PROPORTION)
	{
		if (PG_ARGISNULL(baseline_arg))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("baseline must not be NULL for a proportion"),
					 errhint("Give the control arm's expected conversion rate, e.g. 0.1.")));
		v = PG_GETARG_FLOAT8(baseline_arg);
		if (!(v > 0.0 && v < 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("baseline must be a proportion between 0 and 1 (exclusive), got %g", v)));
		return v;
	}
	if (PG_ARGISNULL(sd_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sd must not be NULL for a mean"),
				 errhint("Give the metric's standard deviation per customer (e.g. from a past period).")));
	v = PG_GETARG_FLOAT8(sd_arg);
	if (!(v > 0.0) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sd must be a positive finite number, got %g", v)));
	return v;
}

static double
planning_probability(FunctionCallInfo fcinfo, int arg, const char *what)
{
	double		v;

	SEG_RECO_ARG_NOT_NULL(arg, what);
	v = PG_GETARG_FLOAT8(arg);
	if (!(v > 0.0 && v < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1 (exclusive), got %g", what, v)));
	return v;
}

static double
planning_mde(FunctionCallInfo fcinfo, AbMetricKind kind, double p1, int arg)
{
	double		mde;

	SEG_RECO_ARG_NOT_NULL(arg, "mde");
	mde = PG_GETARG_FLOAT8(arg);
	if (mde == 0.0 || isnan(mde) || isinf(mde))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mde must be a finite non-zero difference, got %g", mde),
				 errhint("The minimum detectable effect is an absolute difference (0.01 = one percentage point).")));
	if (kind == AB_PROPORTION && !(p1 + mde > 0.0 && p1 + mde < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("baseline + mde must be a proportion between 0 and 1, got %g", p1 + mde)));
	return mde;
}

static int64
planning_n(FunctionCallInfo fcinfo, int arg, const char *what)
{
	int64		n;

	SEG_RECO_ARG_NOT_NULL(arg, what);
	n = PG_GETARG_INT64(arg);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 2, got %lld", what, (long long) n)));
	return n;
}

/* variance of one customer's value in each arm */
static void
unit_variances(AbMetricKind kind, double spread, double mde, double *vc, double *vt)
{
	if (kind == AB_PROPORTION)
	{
		double		p2 = spread + mde;

		*vc = spread * (1.0 - spread);
		*vt = p2 * (1.0 - p2);
	}
	else
		*vc = *vt = spread * spread;
}

/*
 * ab_sample_size(metric, baseline, mde, alpha, power, sd, ratio) ->
 * (n_control, n_treatment, n_total, n_control_exact, n_treatment_exact)
 */
PG_FUNCTION_INFO_V1(seg_reco_ab_sample_size);
Datum
seg_reco_ab_sample_size(PG_FUNCTION_ARGS)
{
	AbMetricKind kind = planning_kind(fcinfo);
	double		spread = planning_spread(fcinfo, kind, 1, 5);
	double		mde = planning_mde(fcinfo, kind, spread, 2);
	double		alpha = planning_probability(fcinfo, 3, "alpha");
	double		power = planning_probability(fcinfo, 4, "power");
	double		ratio;
	double		vc,
				vt,
				z,
				nc,
				nt;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {0};

	SEG_RECO_ARG_NOT_NULL(6, "ratio");
	ratio = PG_GETARG_FLOAT8(6);
	if (!(ratio > 0.0) || isinf(ratio))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ratio (treatment customers per control customer) must be positive and finite, got %g", ratio)));
	unit_variances(kind, spread, mde, &vc, &vt);
	z = seg_reco_normal_quantile(1.0 - alpha / 2.0) + seg_reco_normal_quantile(power);
	nc = z * z * (vc + vt / ratio) / (mde * mde);
	nt = ratio * nc;
	if (!(nc < 1e15 && nt < 1e15))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the sample size is beyond 1e15 customers"),
				 errhint("Plan for a larger effect.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum((int64) ceil(nc));
	values[1] = Int64GetDatum((int64) ceil(nt));
	values[2] = Int64GetDatum((int64) ceil(nc) + (int64) ceil(nt));
	values[3] = Float8GetDatum(nc);
	values[4] = Float8GetDatum(nt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* ab_power(metric, baseline, mde, n_control, n_treatment, alpha, sd) */
PG_FUNCTION_INFO_V1(seg_reco_ab_power);
Datum
seg_reco_ab_power(PG_FUNCTION_ARGS)
{
	AbMetricKind kind = planning_kind(fcinfo);
	double		spread = planning_spread(fcinfo, kind, 1, 6);
	double		mde = planning_mde(fcinfo, kind, spread, 2);
	int64		nc = planning_n(fcinfo, 3, "n_control");
	int64		nt = PG_ARGISNULL(4) ? nc : planning_n(fcinfo, 4, "n_treatment");
	double		alpha = planning_probability(fcinfo, 5, "alpha");
	double		vc,
				vt,
				se,
				z,
				d;

	unit_variances(kind, spread, mde, &vc, &vt);
	se = sqrt(vc / nc + vt / nt);
	z = seg_reco_normal_quantile(1.0 - alpha / 2.0);
	d = fabs(mde) / se;
	PG_RETURN_FLOAT8(seg_reco_normal_sf(z - d) + seg_reco_normal_sf(z + d));
}

/*
 * ab_mde(metric, baseline, n_control, n_treatment, alpha, power, sd): the
 * smallest positive difference the sample-size formula gives these sizes
 * for; for a proportion the root of mde = z sqrt(p1 (1 - p1) / n_c + (p1 +
 * mde) (1 - p1 - mde) / n_t) in (0, 1 - p1), by bisection to the last bit.
 */
PG_FUNCTION_INFO_V1(seg_reco_ab_mde);
Datum
seg_reco_ab_mde(PG_FUNCTION_ARGS)
{
	AbMetricKind kind = planning_kind(fcinfo);
	double		spread = planning_spread(fcinfo, kind, 1, 6);
	int64		nc = planning_n(fcinfo, 2, "n_control");
	int64		nt = PG_ARGISNULL(3) ? nc : planning_n(fcinfo, 3, "n_treatment");
	double		alpha = planning_probability(fcinfo, 4, "alpha");
	double		power = planning_probability(fcinfo, 5, "power");
	double		z = seg_reco_normal_quantile(1.0 - alpha / 2.0) + seg_reco_normal_quantile(power);
	double		lo,
				hi;
	int			i;

	if (kind == AB_MEAN)
		PG_RETURN_FLOAT8(z * spread * sqrt(1.0 / nc + 1.0 / nt));

	/* g(d) = d - z sqrt(...) is negative near 0; it must turn positive below 1 - p1 */
	lo = 0.0;
	hi = 1.0 - spread;
	if (hi - z * sqrt(spread * (1.0 - spread) / nc) <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no effect up to a conversion rate of 1 is detectable with these sizes"),
				 errhint("Plan for more customers.")));
	for (i = 0; i < 200; i++)
	{
		double		mid = 0.5 * (lo + hi);
		double		p2 = spread + mid;
		double		g = mid - z * sqrt(spread * (1.0 - spread) / nc + p2 * (1.0 - p2) / nt);

		if (mid <= lo || mid >= hi)
			break;
		if (g < 0.0)
			lo = mid;
		else
			hi = mid;
	}
	PG_RETURN_FLOAT8(hi);
}
