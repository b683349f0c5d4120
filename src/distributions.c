/*
 * distributions.c
 *      Normal, Student t and chi-square distribution functions for the A/B
 *      tests (abtest.c), and their SQL wrappers.
 *
 * Student t:  P(|T| >= t) = I_x(df/2, 1/2) with x = df / (df + t^2), the
 *             regularized incomplete beta function, evaluated by its
 *             continued fraction (modified Lentz) on the side of
 *             x = (a + 1) / (a + b + 2) where it converges, and by the
 *             symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other.  The
 *             prefactor x^a (1-x)^b / (a B(a, b)) is formed in logs; log
 *             B(a, b) uses the Stirling-series correction of log Gamma for
 *             arguments >= 10, so that it keeps its digits for large df
 *             (lgamma(a) + lgamma(b) - lgamma(a + b) loses about
 *             log10(a) digits to cancellation).  Beyond df = 1e7, where the
 *             continued fraction itself loses digits to rounding, the
 *             expansion of the t around the normal in 1/df (second order).
 * t quantile: Newton steps on log P(T > x) against log x, kept inside a
 *             bracket (bisection in log x when a step leaves it), to a
 *             relative change below 1e-15; df = 1 and df = 2 in closed form.
 * normal:     the C library's erfc; the quantile from Abramowitz & Stegun
 *             26.2.23 (error < 4.5e-4) refined by Halley steps on erfc.
 * chi-square: P(X > x) = Q(df/2, x/2), the regularized upper incomplete
 *             gamma function: its series below x = a + 1, its continued
 *             fraction above.
 *
 * All of these are checked against scipy 1.10 (scipy.special and
 * scipy.stats, whose t and chi-square functions are Cephes's) in
 * test/sql/ab_stats.sql, with values written by test/ab_reference.py: the
 * largest difference over the test grid is about 1e-14.
 *
 * The functions here call no PostgreSQL function but elog on cannot-happen
 * (a continued fraction that does not converge), so they run on the
 * backend thread only.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"

#include "distributions.h"

#define LN_SQRT_2PI		0.918938533204672741780329736406	/* log(sqrt(2 pi)) */
#define SQRT_2PI		2.50662827463100050241576528481
#define CF_TINY			1e-300
#define CF_EPS			1e-15
#define CF_MAXIT		1000000
/*
 * Above T_LARGE_DF degrees of freedom the continued fraction of I_x(df/2,
 * 1/2) loses digits to rounding (about df * 1.5e-18 absolute: 1.5e-11 at
 * 1e7, 4e-9 at 3e9), and the expansion of the t around the normal in 1/df
 * to the second order (integrating the expansion of the density term by
 * term),
 *   P(T > t) = P(Z > t) + pdf_Z(t) [(t^3 + t) / (4 df)
 *              + (3 t^7 - 7 t^5 - 5 t^3 - 3 t) / (96 df^2)] + O(df^-3),
 * is good to about 1e-14 instead, for t^2 < T_LARGE_T2 and wherever
 * t^4 / df < 4e-5 (the next term's share of the tail, about (t^4 /
 * (4 df))^3 / 6, is then below 1e-15).  Elsewhere (large t, moderate df)
 * the fraction converges in few steps and keeps the tail's relative
 * accuracy, which the expansion loses there and quantiles need.  Above
 * T_NORMAL_DF the expansion everywhere (what it misses in the far tail is
 * below the smallest double), and the quantile is the normal's.
 */
#define T_LARGE_T2		40.0
/* the incomplete gamma function's series and fraction take O(sqrt(df)) steps */
#define CHI2_MAX_DF		1e7
#define T_LARGE_DF		1e5
#define T_NORMAL_DF		1e12

/* ======================================================================
 * Log gamma and log beta
 * ====================================================================== */

/*
 * lgamma(x) - ((x - 1/2) log x - x + log sqrt(2 pi)) for x >= 10: the
 * Stirling series to the x^-15 term (the next term is below 3e-17 at 10).
 */
static double
lgamma_correction(double x)
{
	double		x2 = 1.0 / (x * x);

	return (1.0 / 12.0 + x2 * (-1.0 / 360.0 + x2 * (1.0 / 1260.0 + x2 * (-1.0 / 1680.0
			+ x2 * (1.0 / 1188.0 + x2 * (-691.0 / 360360.0 + x2 * (1.0 / 156.0
			+ x2 * (-3617.0 / 122400.0)))))))) / x;
}

/* log B(a, b) for a, b > 0 */
static double
log_beta(double a, double b)
{
	double		p = Min(a, b);
	double		q = Max(a, b);

	if (p >= 10.0)
	{
		double		corr = lgamma_correction(p) + lgamma_correction(q) - lgamma_correction(p + q);

		return -0.5 * log(q) + LN_SQRT_2PI + corr + (p - 0.5) * log(p / (p + q))
			+ q * log1p(-p / (p + q));
	}
	if (q >= 10.0)
	{
		double		corr = lgamma_correction(q) - lgamma_correction(p + q);

		return lgamma(p) + corr + p - p * log(p + q) + (q - 0.5) * log1p(-p / (p + q));
	}
	return lgamma(p) + lgamma(q) - lgamma(p + q);
}

/* ======================================================================
 * Regularized incomplete beta
 * ====================================================================== */

/* the continued fraction of I_x(a, b) (converges for x < (a+1)/(a+b+2)) */
static double
beta_cf(double a, double b, double x)
{
	double		qab = a + b;
	double		qap = a + 1.0;
	double		qam = a - 1.0;
	double		c = 1.0;
	double		d = 1.0 - qab * x / qap;
	double		h;
	int			m;

	if (fabs(d) < CF_TINY)
		d = CF_TINY;
	d = 1.0 / d;
	h = d;
	for (m = 1; m <= CF_MAXIT; m++)
	{
		double		dm = (double) m;
		double		m2 = 2.0 * dm;
		double		aa;
		double		del;

		aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < CF_TINY)
			d = CF_TINY;
		c = 1.0 + aa / c;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < CF_TINY)
			d = CF_TINY;
		c = 1.0 + aa / c;
		if (fabs(c) < CF_TINY)
			c = CF_TINY;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < CF_EPS)
			return h;
	}
	elog(ERROR, "incomplete beta continued fraction did not converge (a %g, b %g, x %g)", a, b, x);
	return 0.0;					/* keep compiler quiet */
}

/*
 * I_x(a, b) with y = 1 - x, lx = log x and ly = log y given by the caller
 * (each computed where it is accurate; x may underflow to 0 where lx is
 * still finite).
 */
static double
incbeta_logs(double a, double b, double x, double y, double lx, double ly)
{
	double		lbeta;

	if (lx == -INFINITY)
		return 0.0;
	if (ly == -INFINITY)
		return 1.0;
	lbeta = log_beta(a, b);
	if (x < (a + 1.0) / (a + b + 2.0))
		return exp(a * lx + b * ly - lbeta) / a * beta_cf(a, b, x);
	return 1.0 - exp(b * ly + a * lx - lbeta) / b * beta_cf(b, a, y);
}

double
seg_reco_incbeta(double a, double b, double x, double y)
{
	if (x <= 0.0)
		return 0.0;
	if (y <= 0.0)
		return 1.0;
	return incbeta_logs(a, b, x, y, x < 0.5 ? log(x) : log1p(-y), y < 0.5 ? log(y) : log1p(-x));
}

/*
 * log(1 + r) and log(r / (1 + r)) for r = t^2 / df > 0, also where r
 * overflows (lr = log r is then used)
 */
static void
t_logs(double at, double df, double *l1r, double *lr_1r)
{
	double		lr = 2.0 * log(at) - log(df);

	if (lr < 700.0)
	{
		double		r = (at / df) * at;

		*l1r = log1p(r);
		*lr_1r = log(r) - *l1r;
	}
	else
	{
		*l1r = lr + log1p(exp(-lr));
		*lr_1r = -log1p(exp(-lr));
	}
}

/*
 * P(|T| >= |t|) for T ~ t(df): I_x(df/2, 1/2), x = df / (df + t^2), with
 * r = t^2 / df: x = 1 / (1 + r), 1 - x = r / (1 + r).
 */
static double
t_tail2(double t, double df)
{
	double		at = fabs(t);
	double		l1r;
	double		lr_1r;

	if (at == 0.0)
		return 1.0;
	if (isinf(at))
		return 0.0;
	if (df > T_NORMAL_DF || (df > T_LARGE_DF && (at * at < T_LARGE_T2 || (at * at) * (at * at) < 4e-5 * df)))
	{
		double		t2 = at * at;
		double		pdf = seg_reco_normal_pdf(at);
		double		first = (t2 * at + at) / 4.0;
		double		second = at * (((3.0 * t2 - 7.0) * t2 - 5.0) * t2 - 3.0) / 96.0;

		if (pdf == 0.0)
			return 2.0 * seg_reco_normal_sf(at);
		return 2.0 * (seg_reco_normal_sf(at) + pdf * (first + second / df) / df);
	}
	t_logs(at, df, &l1r, &lr_1r);
	return incbeta_logs(0.5 * df, 0.5, exp(-l1r), exp(lr_1r), -l1r, lr_1r);
}

/* ======================================================================
 * Normal
 * ====================================================================== */

double
seg_reco_normal_cdf(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

double
seg_reco_normal_sf(double x)
{
	return 0.5 * erfc(x / M_SQRT2);
}

double
seg_reco_normal_pdf(double x)
{
	return exp(-0.5 * x * x) / SQRT_2PI;
}

/* the x > 0 with P(Z > x) = q, 0 < q < 0.5 */
static double
normal_upper_quantile(double q)
{
	double		s = sqrt(-2.0 * log(q));
	double		x;
	int			i;

	/* Abramowitz & Stegun 26.2.23 */
	x = s - (2.515517 + s * (0.802853 + s * 0.010328))
		/ (1.0 + s * (1.432788 + s * (0.189269 + s * 0.001308)));
	for (i = 0; i < 8; i++)
	{
		/* Halley on f(x) = sf(x) - q: f' = -pdf, f'' = x pdf */
		double		e = (seg_reco_normal_sf(x) - q) / seg_reco_normal_pdf(x);
		double		step = e / (1.0 - 0.5 * x * e);

		x += step;
		if (fabs(step) <= 1e-16 * Max(1.0, x))
			break;
	}
	return x;
}

double
seg_reco_normal_quantile(double p)
{
	if (p == 0.5)
		return 0.0;
	if (p < 0.5)
		return -normal_upper_quantile(p);
	return normal_upper_quantile(1.0 - p);
}

/* ======================================================================
 * Student t
 * ====================================================================== */

double
seg_reco_t_cdf(double t, double df)
{
	double		tail;

	if (isinf(df))
		return seg_reco_normal_cdf(t);
	if (t == 0.0)
		return 0.5;
	tail = 0.5 * t_tail2(t, df);
	return t < 0.0 ? tail : 1.0 - tail;
}

double
seg_reco_t_two_sided(double t, double df)
{
	if (isinf(df))
		return 2.0 * seg_reco_normal_sf(fabs(t));
	return t_tail2(t, df);
}

/* log of the density of t(df) at x > 0 */
static double
t_log_pdf(double x, double df)
{
	double		l1r;
	double		lr_1r;

	if (x == 0.0)
		return -0.5 * log(df) - log_beta(0.5 * df, 0.5);
	t_logs(x, df, &l1r, &lr_1r);
	return -0.5 * (df + 1.0) * l1r - 0.5 * log(df) - log_beta(0.5 * df, 0.5);
}

/*
 * the x > 0 with P(T > x) = q, 0 < q < 0.5; Infinity when it is beyond the
 * range of double (tiny q with df well below 1)
 */
static double
t_upper_quantile(double q, double df)
{
	double		z;
	double		x;
	double		lo = 0.0;
	double		hi = INFINITY;
	double		lq = log(q);
	int			i;

	if (df == 1.0)
		return 1.0 / tan(M_PI * q);
	if (df == 2.0)
		return (1.0 - 2.0 * q) / sqrt(2.0 * q * (1.0 - q));

	/* start: Cornish-Fisher from the normal quantile */
	z = normal_upper_quantile(q);
	x = z + (z * z * z + z) / (4.0 * df)
		+ (5.0 * pow(z, 5) + 16.0 * z * z * z + 3.0 * z) / (96.0 * df * df);
	if (!(x > 0.0) || isinf(x))
		x = z;

	for (i = 0; i < 2000; i++)
	{
		double		s = 0.5 * t_tail2(x, df);
		double		next = NAN;

		if (s > q)
			lo = x;
		else if (s < q)
			hi = x;
		else
			return x;
		if (s > 0.0)
		{
			/*
			 * Newton on g(u) = log sf(e^u) - log q, g'(u) = -x pdf(x) /
			 * sf(x), in logs
			 */
			double		ls = log(s);
			double		step = (ls - lq) * exp(ls - log(x) - t_log_pdf(x, df));

			if (!isnan(step) && step < 700.0)
				next = x * exp(step);
		}
		if (!(next > lo && next < hi))
		{
			/* the step left the bracket: widen it, or bisect it in log x */
			if (isinf(hi))
			{
				if (x > 1e300)
					return INFINITY;
				next = x * 1e3;
				if (isinf(next))
					next = 1.7e308;
			}
			else if (lo > 0.0)
				next = exp(0.5 * (log(lo) + log(hi)));
			else
				next = 0.5 * hi;
		}
		if (fabs(next - x) <= 1e-15 * x || (!isinf(hi) && hi - lo <= 1e-15 * hi))
			return next;
		x = next;
	}
	elog(ERROR, "t quantile did not converge (q %g, df %g)", q, df);
	return 0.0;					/* keep compiler quiet */
}

double
seg_reco_t_quantile(double p, double df)
{
	if (isinf(df) || df > T_NORMAL_DF)
		return seg_reco_normal_quantile(p);
	if (p == 0.5)
		return 0.0;
	if (p < 0.5)
		return -t_upper_quantile(p, df);
	return t_upper_quantile(1.0 - p, df);
}

/* ======================================================================
 * Chi-square
 * ====================================================================== */

/* Q(a, x), the regularized upper incomplete gamma function */
static double
gamma_q(double a, double x)
{
	double		front;
	int			n;

	if (x <= 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	front = exp(-x + a * log(x) - lgamma(a));
	if (x < a + 1.0)
	{
		double		ap = a;
		double		del = 1.0 / a;
		double		sum = del;

		for (n = 1; n <= CF_MAXIT; n++)
		{
			ap += 1.0;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-17)
				return 1.0 - front * sum;
		}
	}
	else
	{
		double		b = x + 1.0 - a;
		double		c = 1.0 / CF_TINY;
		double		d = 1.0 / b;
		double		h = d;

		for (n = 1; n <= CF_MAXIT; n++)
		{
			double		an = -n * (n - a);
			double		del;

			b += 2.0;
			d = an * d + b;
			if (fabs(d) < CF_TINY)
				d = CF_TINY;
			c = b + an / c;
			if (fabs(c) < CF_TINY)
				c = CF_TINY;
			d = 1.0 / d;
			del = d * c;
			h *= del;
			if (fabs(del - 1.0) < CF_EPS)
				return front * h;
		}
	}
	elog(ERROR, "incomplete gamma function did not converge (a %g, x %g)", a, x);
	return 0.0;					/* keep compiler quiet */
}

double
seg_reco_chi2_sf(double x, double df)
{
	return gamma_q(0.5 * df, 0.5 * x);
}

/* ======================================================================
 * SQL wrappers
 * ====================================================================== */

static void
check_df(double df)
{
	if (!(df > 0.0) || isnan(df))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be greater than 0, got %g", df),
				 errhint("Pass a positive number (Infinity is allowed for the t distribution).")));
}

static void
check_probability(double p)
{
	if (!(p > 0.0 && p < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probability must be between 0 and 1 (exclusive), got %g", p),
				 errhint("Quantiles exist for 0 < p < 1.")));
}

static void
check_not_nan(double x, const char *what)
{
	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NaN", what)));
}

PG_FUNCTION_INFO_V1(seg_reco_normal_cdf_sql);
Datum
seg_reco_normal_cdf_sql(PG_FUNCTION_ARGS)
{
	double		x = PG_GETARG_FLOAT8(0);

	check_not_nan(x, "x");
	PG_RETURN_FLOAT8(seg_reco_normal_cdf(x));
}

PG_FUNCTION_INFO_V1(seg_reco_normal_quantile_sql);
Datum
seg_reco_normal_quantile_sql(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);

	check_probability(p);
	PG_RETURN_FLOAT8(seg_reco_normal_quantile(p));
}

PG_FUNCTION_INFO_V1(seg_reco_t_cdf_sql);
Datum
seg_reco_t_cdf_sql(PG_FUNCTION_ARGS)
{
	double		t = PG_GETARG_FLOAT8(0);
	double		df = PG_GETARG_FLOAT8(1);

	check_not_nan(t, "t");
	check_df(df);
	PG_RETURN_FLOAT8(seg_reco_t_cdf(t, df));
}

PG_FUNCTION_INFO_V1(seg_reco_t_quantile_sql);
Datum
seg_reco_t_quantile_sql(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);
	double		df = PG_GETARG_FLOAT8(1);

	double		q;

	check_probability(p);
	check_df(df);
	q = seg_reco_t_quantile(p, df);
	if (isinf(q))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the t quantile of %g with %g degrees of freedom is beyond the range of float8", p, df)));
	PG_RETURN_FLOAT8(q);
}

PG_FUNCTION_INFO_V1(seg_reco_chi2_sf_sql);
Datum
seg_reco_chi2_sf_sql(PG_FUNCTION_ARGS)
{
	double		x = PG_GETARG_FLOAT8(0);
	double		df = PG_GETARG_FLOAT8(1);

	check_not_nan(x, "x");
	check_df(df);
	if (df > CHI2_MAX_DF)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the chi-square distribution takes at most %g degrees of freedom, got %g", CHI2_MAX_DF, df)));
	PG_RETURN_FLOAT8(seg_reco_chi2_sf(x, df));
}
