/*
 * btyd_models.c
 *      Buy-till-you-die models: BG/NBD, MBG/NBD and Gamma-Gamma
 *      likelihoods, their closed forms (P(alive), expected purchases,
 *      expected spend, CLV) and the fitting aggregates.
 *
 * The models are fitted on the per-customer summaries of btyd_summary.c
 * (frequency, recency, t, monetary_value).
 *
 * Models (parameters > 0, fitted in log space):
 *   BG/NBD   Fader, Hardie & Lee (2005), "Counting your customers the easy way"
 *   MBG/NBD  Batislam, Denizel & Filiztekin (2007): a customer may also drop
 *            out right after the first purchase, so one-time buyers do not
 *            get P(alive) = 1
 *   Gamma-Gamma  Fader, Hardie & Lee (2005), "RFM and CLV", on customers with
 *            frequency > 0 and monetary_value > 0
 *
 * The fits minimise the mean negative log-likelihood plus
 * penalizer * (sum of squared parameters), as lifetimes does: Nelder-Mead
 * from a start guess, then BFGS with analytic gradients.  Above
 * BTYD_SUBSAMPLE customers the Nelder-Mead/BFGS stage runs on a seeded
 * random subsample and BFGS finishes on all customers from there, starting
 * from the subsample's inverse Hessian (the objective is a mean, so the two
 * Hessians agree up to sampling noise).  The likelihood groups every term
 * that depends on frequency alone by frequency, so a customer costs two
 * logarithms and one exponential per evaluation.  The summaries are sorted
 * before any of this (btyd_sorted_summaries), so the same customers in any
 * order (another plan, parallel workers, another node) give the same bits.
 * The optimiser is in btyd_optim.c.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "btyd.h"
#include "guards.h"

/* ====================================================================
 * Input checks
 * ==================================================================== */

static inline void
btyd_check_nonneg(double v, const char *what)
{
	seg_reco_check_finite(v, what);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, got %g", what, v)));
}

static inline void
btyd_check_positive(double v, const char *what)
{
	seg_reco_check_finite(v, what);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got %g", what, v),
				 errhint("Model parameters are positive numbers as returned by the fitting functions.")));
}

/* largest frequency the fitting code accepts (tables are indexed by it) */
#define BTYD_MAX_FREQUENCY 1000000

/*
 * One customer summary: frequency a whole number >= 0, 0 <= recency <= t,
 * recency = 0 when frequency = 0.
 */
static void
btyd_check_summary(double x, double tx, double T)
{
	seg_reco_check_finite(x, "frequency");
	seg_reco_check_finite(tx, "recency");
	seg_reco_check_finite(T, "t");
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must not be negative, got %g", x),
				 errdetail("Frequency counts repeat purchase occasions.")));
	if (x != floor(x) || x > BTYD_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a whole number of at most %d, got %g",
						BTYD_MAX_FREQUENCY, x),
				 errhint("Compute summaries with seg_reco.btyd_summary.")));
	if (tx < 0 || T < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency and t must not be negative, got recency %g and t %g", tx, T)));
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must not exceed t, got recency %g and t %g", tx, T),
				 errdetail("Recency is the age at the last purchase, t the age at the end of the calibration period."),
				 errhint("Check that recency and t are in the same unit and measured from the first purchase.")));
	if (x == 0 && tx != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must be 0 when frequency is 0, got %g", tx),
				 errdetail("A customer without repeat purchases has the last purchase at age 0.")));
}

/* ====================================================================
 * Special functions
 * ==================================================================== */

/* digamma for x > 0: recurrence up to 6, then the asymptotic series */
static double
digamma(double x)
{
	double		r = 0.0,
				f;

	while (x < 6.0)
	{
		r -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return r + log(x) - 0.5 / x
		- f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* log|Gamma(x)| and its sign, for any x that is not a pole */
static double
lgamma_signed(double x, int *sign)
{
	int			s = 1;
	double		v = lgamma_r(x, &s);

	*sign = s;
	return v;
}

static void
btyd_hyp2f1_error(double a, double b, double c, double z)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("hypergeometric function 2F1(%g, %g; %g; %g) did not converge", a, b, c, z),
			 errdetail("The expected-purchases formula needs it for a horizon much longer than alpha + t."),
			 errhint("Use a shorter horizon, or fit the model in a coarser unit.")));
}

/* Power series of 2F1(a, b; c; z), |z| < 1, with convergence check. */
static double
hyp2f1_series(double a, double b, double c, double z, int maxterms, bool *ok)
{
	double		term = 1.0,
				sum = 1.0;
	int			n;

	*ok = true;
	for (n = 0; n < maxterms; n++)
	{
		double		ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;

		term *= ratio;
		sum += term;
		if (fabs(term) <= 1e-16 * fabs(sum) && fabs(ratio) < 1.0)
			return sum;
		if (!isfinite(sum))
			break;
		if ((n & 8191) == 8191)
			CHECK_FOR_INTERRUPTS();
	}
	*ok = false;
	return sum;
}

/*
 * exp(logpref) * 2F1(a, b; c; z) for 0 <= z < 1 and c > 0 or c not a
 * non-positive integer.  For z <= 0.9 the power series; above, the linear
 * transformation z -> 1 - z (Abramowitz & Stegun 15.3.6), evaluated with
 * signed log-gamma functions so that large a, b, c (frequent customers) do
 * not overflow.  When c - a - b is within 1e-7 of an integer (where that
 * transformation degenerates) the power series is summed to up to a million
 * terms, and if even that does not converge the call is an error.
 */
static double
hyp2f1_scaled(double a, double b, double c, double z, double logpref)
{
	double		s = c - a - b;
	bool		ok;
	double		v;

	if (z <= 0.9 || fabs(s - rint(s)) < 1e-7)
	{
		v = hyp2f1_series(a, b, c, z, z <= 0.9 ? 10000 : 1000000, &ok);
		if (!ok || !isfinite(v))
			btyd_hyp2f1_error(a, b, c, z);
		return exp(logpref) * v;
	}
	else
	{
		double		w = 1.0 - z;
		double		f1,
					f2,
					l1,
					l2;
		int			s1,
					s2,
					sg;
		double		lg_c,
					t1 = 0.0,
					t2 = 0.0;

		f1 = hyp2f1_series(a, b, a + b - c + 1.0, w, 10000, &ok);
		if (!ok)
			btyd_hyp2f1_error(a, b, c, z);
		f2 = hyp2f1_series(c - a, c - b, s + 1.0, w, 10000, &ok);
		if (!ok)
			btyd_hyp2f1_error(a, b, c, z);

		lg_c = lgamma_signed(c, &sg);
		/* term 1: G(c) G(s) / (G(c-a) G(c-b)) f1; 1/G at a pole is 0 */
		if (!((c - a) <= 0 && c - a == rint(c - a)) && !((c - b) <= 0 && c - b == rint(c - b)))
		{
			int			sa,
						sb,
						ss;
			double		la = lgamma_signed(c - a, &sa);
			double		lb = lgamma_signed(c - b, &sb);
			double		ls = lgamma_signed(s, &ss);

			l1 = lg_c + ls - la - lb;
			s1 = sg * ss * sa * sb;
			t1 = s1 * exp(logpref + l1) * f1;
		}
		/* term 2: w^s G(c) G(-s) / (G(a) G(b)) f2 */
		{
			int			sa,
						sb,
						ss;
			double		la = lgamma_signed(a, &sa);
			double		lb = lgamma_signed(b, &sb);
			double		ls = lgamma_signed(-s, &ss);

			l2 = lg_c + ls - la - lb + s * log(w);
			s2 = sg * ss * sa * sb;
			t2 = s2 * exp(logpref + l2) * f2;
		}
		v = t1 + t2;
		if (!isfinite(v))
			btyd_hyp2f1_error(a, b, c, z);
		return v;
	}
}

/* ====================================================================
 * BG/NBD and MBG/NBD: closed forms
 * ==================================================================== */

static void
btyd_check_bg_params(double r, double alpha, double a, double b)
{
	btyd_check_positive(r, "r");
	btyd_check_positive(alpha, "alpha");
	btyd_check_positive(a, "a");
	btyd_check_positive(b, "b");
}

/*
 * P(alive | x, t_x, T).  BG/NBD: 1 / (1 + [x > 0] a / (b + x - 1)
 * ((alpha + T) / (alpha + t_x))^(r + x)); MBG/NBD: 1 / (1 + a / (b + x)
 * (...)^(r + x)).  Computed in log space.
 */
static double
btyd_p_alive(bool modified, double r, double alpha, double a, double b,
			 double x, double tx, double T)
{
	double		lz;

	if (!modified && x == 0)
		return 1.0;
	lz = log(a) - log(b + x - (modified ? 0.0 : 1.0))
		+ (r + x) * (log(alpha + T) - log(alpha + tx));
	if (isnan(lz))
	{
		/* alpha + T overflowed (huge arguments): the same ratio without it */
		lz = log(a) - log(b + x - (modified ? 0.0 : 1.0))
			+ (r + x) * log1p((T - tx) / (alpha + tx));
		if (isnan(lz))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("probability alive is not defined for frequency %g, recency %g, t %g", x, tx, T),
					 errhint("Check the model parameters and the summaries.")));
	}
	if (lz > 700)
		return 0.0;
	return 1.0 / (1.0 + exp(lz));
}

/*
 * E[Y(t) | x, t_x, T], FHL (2005) eq. 10 and Batislam et al. (2007):
 *   BG:  (a+b+x-1)/(a-1) [1 - q^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] * P(alive)
 *   MBG: (a+b+x)/(a-1)   [1 - q^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] * P(alive)
 * with q = (alpha+T)/(alpha+T+t), z = t/(alpha+T+t).  At a = 1 the
 * removable singularity is bridged by averaging a = 1 -+ 1e-6.
 */
static double
btyd_expected_core(bool modified, double r, double alpha, double a, double b,
				   double x, double T, double t)
{
	double		k = r + x;
	double		z = t / (alpha + T + t);
	double		logq = log(alpha + T) - log(alpha + T + t);
	double		c,
				bb,
				first,
				h;

	if (t == 0)
		return 0.0;
	if (modified)
	{
		c = a + b + x;
		bb = b + x + 1.0;
	}
	else
	{
		c = a + b + x - 1.0;
		bb = b + x;
	}
	first = c / (a - 1.0);
	h = hyp2f1_scaled(k, bb, c, z, k * logq);
	return first * (1.0 - h);
}

static double
btyd_expected_purchases(bool modified, double r, double alpha, double a, double b,
						double x, double tx, double T, double t)
{
	double		e;

	if (fabs(a - 1.0) < 1e-6)
		e = 0.5 * (btyd_expected_core(modified, r, alpha, 1.0 - 1e-6, b, x, T, t) +
				   btyd_expected_core(modified, r, alpha, 1.0 + 1e-6, b, x, T, t));
	else
		e = btyd_expected_core(modified, r, alpha, a, b, x, T, t);
	e *= btyd_p_alive(modified, r, alpha, a, b, x, tx, T);
	if (!isfinite(e))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected purchases are not finite for frequency %g, recency %g, t %g, horizon %g",
						x, tx, T, t),
				 errhint("Check the model parameters.")));
	/* rounding can leave a tiny negative value for a tiny horizon */
	return Max(e, 0.0);
}

/* ---------- SQL: p_alive, expected purchases ---------- */

static void
btyd_args_bg(FunctionCallInfo fcinfo, double *r, double *alpha, double *a, double *b,
			 double *x, double *tx, double *T)
{
	*r = PG_GETARG_FLOAT8(0);
	*alpha = PG_GETARG_FLOAT8(1);
	*a = PG_GETARG_FLOAT8(2);
	*b = PG_GETARG_FLOAT8(3);
	*x = PG_GETARG_FLOAT8(4);
	*tx = PG_GETARG_FLOAT8(5);
	*T = PG_GETARG_FLOAT8(6);
	btyd_check_bg_params(*r, *alpha, *a, *b);
	btyd_check_summary(*x, *tx, *T);
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_p_alive);
Datum
seg_reco_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	PG_RETURN_FLOAT8(btyd_p_alive(false, r, alpha, a, b, x, tx, T));
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_p_alive);
Datum
seg_reco_mbgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	PG_RETURN_FLOAT8(btyd_p_alive(true, r, alpha, a, b, x, tx, T));
}

static double
btyd_horizon_arg(FunctionCallInfo fcinfo, int n)
{
	double		t = PG_GETARG_FLOAT8(n);

	btyd_check_nonneg(t, "horizon");
	return t;
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_expected_purchases);
Datum
seg_reco_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T,
				t;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	t = btyd_horizon_arg(fcinfo, 7);
	PG_RETURN_FLOAT8(btyd_expected_purchases(false, r, alpha, a, b, x, tx, T, t));
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_expected_purchases);
Datum
seg_reco_mbgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T,
				t;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	t = btyd_horizon_arg(fcinfo, 7);
	PG_RETURN_FLOAT8(btyd_expected_purchases(true, r, alpha, a, b, x, tx, T, t));
}

/* ====================================================================
 * Gamma-Gamma: closed forms
 * ==================================================================== */

static void
btyd_check_gg_params(double p, double q, double g)
{
	btyd_check_positive(p, "p");
	btyd_check_positive(q, "q");
	btyd_check_positive(g, "gamma");
}

/*
 * E[Z | x, mean spend m] = (p (gamma + x m)) / (p x + q - 1).  Customers
 * without a repeat purchase (x = 0) or with a non-positive mean spend (the
 * model is fitted without them) get the population mean p gamma / (q - 1).
 * When huge arguments overflow the products, the same value is computed
 * as a weighted mean, m px / (px + q - 1) + gamma p / (px + q - 1), and
 * a result that is still not finite is an error.
 */
static double
btyd_expected_spend(double p, double q, double g, double x, double m)
{
	double		e;

	if (x <= 0 || m <= 0)
	{
		if (q <= 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the gamma-gamma population mean spend is infinite for q = %g", q),
					 errdetail("The population mean p * gamma / (q - 1) needs q > 1; customers without a positive repeat spend get it."),
					 errhint("Refit on more repeat customers or with extreme spends removed; a penalizer shrinks q towards 0 and does not help here.")));
		e = p * g / (q - 1.0);
		if (!isfinite(e))
			e = (p / (q - 1.0)) * g;
	}
	else
	{
		if (p * x + q - 1.0 <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expected spend is undefined for p * frequency + q <= 1"),
					 errhint("Refit the spend model on more repeat customers or with extreme spends removed.")));
		e = p * (g + x * m) / (p * x + q - 1.0);
		if (!isfinite(e))
			e = m / (1.0 + (q - 1.0) / (p * x)) + g / (x + (q - 1.0) / p);
	}
	if (!isfinite(e))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected spend is out of range for p = %g, q = %g, gamma = %g, frequency %g, monetary_value %g",
						p, q, g, x, m),
				 errhint("Check the model parameters and the spend values.")));
	return e;
}

PG_FUNCTION_INFO_V1(seg_reco_gammagamma_expected_spend);
Datum
seg_reco_gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);
	double		q = PG_GETARG_FLOAT8(1);
	double		g = PG_GETARG_FLOAT8(2);
	double		x = PG_GETARG_FLOAT8(3);
	double		m = PG_GETARG_FLOAT8(4);

	btyd_check_gg_params(p, q, g);
	btyd_check_nonneg(x, "frequency");
	seg_reco_check_finite(m, "monetary_value");
	PG_RETURN_FLOAT8(btyd_expected_spend(p, q, g, x, m));
}

/*
 * CLV as lifetimes' customer_lifetime_value: for month i = 1..months,
 * spend * (E[Y(i f)] - E[Y((i-1) f)]) / (1 + d)^i, where f is a month in the
 * model's unit (4.345 weeks or 30 days) and d the monthly discount rate.
 *
 * Arguments: r, alpha, a, b, frequency, recency, t, expected_spend, months,
 * monthly_discount, unit.
 */
static Datum
btyd_clv_common(FunctionCallInfo fcinfo, bool modified)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;
	double		spend = PG_GETARG_FLOAT8(7);
	int32		months = PG_GETARG_INT32(8);
	double		d = PG_GETARG_FLOAT8(9);
	int			unit = seg_reco_btyd_parse_unit(PG_GETARG_TEXT_PP(10));
	double		f = unit == 7 ? 4.345 : 30.0;
	double		prev = 0.0,
				clv = 0.0;
	int32		i;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	seg_reco_check_finite(spend, "expected_spend");
	seg_reco_check_finite(d, "monthly_discount");
	if (months < 0 || months > 1200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be between 0 and 1200, got %d", months)));
	if (d <= -1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monthly_discount must be greater than -1, got %g", d),
				 errhint("Pass a monthly rate such as 0.01 for 1 %% a month.")));
	for (i = 1; i <= months; i++)
	{
		double		e = btyd_expected_purchases(modified, r, alpha, a, b, x, tx, T, i * f);

		clv += spend * (e - prev) / pow(1.0 + d, i);
		prev = e;
	}
	if (!isfinite(clv))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("customer lifetime value is out of range for expected spend %g and monthly discount %g",
						spend, d),
				 errhint("Check the expected spend and the discount rate.")));
	PG_RETURN_FLOAT8(clv);
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_clv);
Datum
seg_reco_bgnbd_clv(PG_FUNCTION_ARGS)
{
	return btyd_clv_common(fcinfo, false);
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_clv);
Datum
seg_reco_mbgnbd_clv(PG_FUNCTION_ARGS)
{
	return btyd_clv_common(fcinfo, true);
}

/* gradient tolerance on the mean negative log-likelihood (log parameters) */
#define BTYD_GTOL 1e-8
/* a fit is reported converged when the final gradient is this small */
#define BTYD_GTOL_ACCEPT 1e-6
/* above this many customers, start on a random subsample */
#define BTYD_SUBSAMPLE 20000
#define BTYD_MAX_ITER 2000
/* ... or when a Newton step promises less than this (btyd_at_noise_floor) */
#define BTYD_DECREMENT_ACCEPT 1e-10
/* BFGS restarts from a finite-difference Hessian when it stalls */
#define BTYD_RESTARTS 3

/* ====================================================================
 * BG/NBD and MBG/NBD likelihood
 * ==================================================================== */

typedef struct BgData
{
	bool		modified;
	double		penalizer;
	int64		n;				/* customers */
	int64		n0;				/* BG: customers with x = 0, only T needed */
	double	   *T0;
	int64		n1;				/* the others (MBG: all customers) */
	int32	   *x1;
	double	   *tx1;
	double	   *T1;
	int32		maxx;
	int64	   *nx;				/* customers per frequency 0..maxx */
	int32		ndistinct;
	int32	   *xs;				/* distinct frequencies present */
	double	   *cx;				/* scratch per frequency: log a - log(b+x-1) */
	double	   *ibx;			/* scratch per frequency: 1 / (b+x-1) */
} BgData;

/* build from arrays; idx selects customers (NULL: all n) */
static BgData *
bg_data_build(bool modified, double penalizer, const double *x, const double *tx,
			  const double *T, const int64 *idx, int64 n)
{
	BgData	   *d = palloc0(sizeof(BgData));
	int64		i,
				k0 = 0,
				k1 = 0;
	int32		v;

	d->modified = modified;
	d->penalizer = penalizer;
	d->n = n;
	d->maxx = 0;
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->maxx = Max(d->maxx, (int32) x[j]);
	}
	d->nx = palloc0(sizeof(int64) * ((Size) d->maxx + 1));
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->nx[(int32) x[j]]++;
	}
	d->n0 = modified ? 0 : d->nx[0];
	d->n1 = n - d->n0;
	d->T0 = palloc_extended(sizeof(double) * (Size) Max(d->n0, 1), MCXT_ALLOC_HUGE);
	d->x1 = palloc_extended(sizeof(int32) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	d->tx1 = palloc_extended(sizeof(double) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	d->T1 = palloc_extended(sizeof(double) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!modified && x[j] == 0)
			d->T0[k0++] = T[j];
		else
		{
			d->x1[k1] = (int32) x[j];
			d->tx1[k1] = tx[j];
			d->T1[k1] = T[j];
			k1++;
		}
	}
	d->xs = palloc(sizeof(int32) * ((Size) d->maxx + 1));
	for (v = 0; v <= d->maxx; v++)
		if (d->nx[v] > 0)
			d->xs[d->ndistinct++] = v;
	d->cx = palloc0(sizeof(double) * ((Size) d->maxx + 1));
	d->ibx = palloc0(sizeof(double) * ((Size) d->maxx + 1));
	return d;
}

/*
 * Mean negative log-likelihood plus penalty, in u = log(r, alpha, a, b).
 *   BG:  LL = lnG(r+x) - lnG(r) + r ln alpha + lnB(a, b+x) - lnB(a, b)
 *             + ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)]
 *   MBG: LL = lnG(r+x) - lnG(r) + r ln alpha + lnB(a, b+x+1) - lnB(a, b)
 *             + ln[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]
 * (lnB(a, b+x) - lnB(a, b) written as lnG(a+b) + lnG(b+x) - lnG(b) -
 * lnG(a+b+x)).  ll_out, when not NULL, receives the total log-likelihood.
 */
static double
bg_objective_ll(BgData *d, const double *u, double *grad, double *ll_out)
{
	double		r = exp(u[0]),
				alpha = exp(u[1]),
				a = exp(u[2]),
				b = exp(u[3]);
	double		off = d->modified ? 1.0 : 0.0;
	double		ll = 0.0,
				gr = 0.0,
				gal = 0.0,
				ga = 0.0,
				gb = 0.0;
	double		lab = lgamma(a + b),
				lr = lgamma(r),
				lb = lgamma(b);
	double		pab = digamma(a + b),
				pr = digamma(r),
				pb = digamma(b);
	double		la = log(a),
				lalpha = log(alpha);
	double		sL = 0.0,
				sI = 0.0,
				sw = 0.0;
	int32		k;
	int64		i;
	const int32 *x1 = d->x1;
	const double *tx1 = d->tx1,
			   *T1 = d->T1,
			   *T0 = d->T0;

	/* terms that depend on the frequency alone */
	for (k = 0; k < d->ndistinct; k++)
	{
		int32		x = d->xs[k];
		double		w = (double) d->nx[x];
		double		p_abx = digamma(a + b + x + off);

		ll += w * (lgamma(r + x) - lr + lab + lgamma(b + x + off) - lb - lgamma(a + b + x + off));
		if (grad)
		{
			gr += w * (digamma(r + x) - pr);
			ga += w * (pab - p_abx);
			gb += w * (pab + digamma(b + x + off) - pb - p_abx);
		}
		if (x > 0 || d->modified)
		{
			d->cx[x] = la - log(b + x - 1.0 + off);
			d->ibx[x] = 1.0 / (b + x - 1.0 + off);
		}
	}
	ll += (double) d->n * r * lalpha;
	gr += (double) d->n * lalpha;
	gal += (double) d->n * r / alpha;

	/* BG customers without repeat purchases: -r ln(alpha + T) */
	for (i = 0; i < d->n0; i++)
	{
		double		s = alpha + T0[i];

		sL += log(s);
		sI += 1.0 / s;
	}
	ll -= r * sL;
	gr -= sL;
	gal -= r * sI;

	/* the rest: log-sum-exp of the two terms */
	for (i = 0; i < d->n1; i++)
	{
		int32		x = x1[i];
		double		kk = r + x;
		double		sT = alpha + T1[i],
					st = alpha + tx1[i];
		double		LT = log(sT),
					Lt = log(st);
		double		A3 = -kk * LT,
					A4 = d->cx[x] - kk * Lt;
		double		e,
					w,
					D;

		if ((i & 262143) == 262143)
			CHECK_FOR_INTERRUPTS();
		if (A3 >= A4)
		{
			e = exp(A4 - A3);
			D = A3 + log1p(e);
			w = e / (1.0 + e);
		}
		else
		{
			e = exp(A3 - A4);
			D = A4 + log1p(e);
			w = 1.0 / (1.0 + e);
		}
		ll += D;
		gr -= (1.0 - w) * LT + w * Lt;
		gal -= kk * ((1.0 - w) / sT + w / st);
		sw += w;
		gb -= w * d->ibx[x];
	}
	ga += sw / a;

	if (ll_out)
		*ll_out = ll;
	if (grad)
	{
		double		n = (double) d->n;

		grad[0] = -gr * r / n + 2.0 * d->penalizer * r * r;
		grad[1] = -gal * alpha / n + 2.0 * d->penalizer * alpha * alpha;
		grad[2] = -ga * a / n + 2.0 * d->penalizer * a * a;
		grad[3] = -gb * b / n + 2.0 * d->penalizer * b * b;
	}
	return -ll / (double) d->n + d->penalizer * (r * r + alpha * alpha + a * a + b * b);
}

static double
bg_objective(void *ctx, const double *u, double *grad)
{
	return bg_objective_ll((BgData *) ctx, u, grad, NULL);
}

/* ====================================================================
 * Gamma-Gamma likelihood
 * ==================================================================== */

typedef struct GgData
{
	double		penalizer;
	int64		n;
	int32	   *x;
	double	   *m;
	int32		maxx;
	int64	   *nx;
	int32		ndistinct;
	int32	   *xs;
	double		s_logm;			/* sum log m */
	double		s_xlogm;		/* sum x log m */
	double		s_xlogx;		/* sum x log x */
} GgData;

static GgData *
gg_data_build(double penalizer, const double *x, const double *m, const int64 *idx, int64 n)
{
	GgData	   *d = palloc0(sizeof(GgData));
	int64		i;
	int32		v;

	d->penalizer = penalizer;
	d->n = n;
	d->x = palloc_extended(sizeof(int32) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);
	d->m = palloc_extended(sizeof(double) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->x[i] = (int32) x[j];
		d->m[i] = m[j];
		d->maxx = Max(d->maxx, d->x[i]);
		d->s_logm += log(m[j]);
		d->s_xlogm += x[j] * log(m[j]);
		d->s_xlogx += x[j] * log(x[j]);
	}
	d->nx = palloc0(sizeof(int64) * ((Size) d->maxx + 1));
	for (i = 0; i < n; i++)
		d->nx[d->x[i]]++;
	d->xs = palloc(sizeof(int32) * ((Size) d->maxx + 1));
	for (v = 0; v <= d->maxx; v++)
		if (d->nx[v] > 0)
			d->xs[d->ndistinct++] = v;
	return d;
}

/*
 * Gamma-Gamma log-likelihood of a customer with x > 0 repeat purchases of
 * mean value m (lifetimes' form):
 *   lnG(px+q) - lnG(px) - lnG(q) + q ln g + (px-1) ln m + px ln x - (px+q) ln(xm+g)
 */
static double
gg_objective_ll(GgData *d, const double *u, double *grad, double *ll_out)
{
	double		p = exp(u[0]),
				q = exp(u[1]),
				g = exp(u[2]);
	double		n = (double) d->n;
	double		ll,
				gp,
				gq,
				gg = 0.0,
				sl = 0.0,
				sxl = 0.0;
	double		lq = lgamma(q),
				pq = digamma(q),
				lg = log(g);
	int32		k;
	int64		i;

	ll = -n * lq + n * q * lg + p * d->s_xlogm - d->s_logm + p * d->s_xlogx;
	gp = d->s_xlogm + d->s_xlogx;
	gq = -n * pq + n * lg;
	for (k = 0; k < d->ndistinct; k++)
	{
		int32		x = d->xs[k];
		double		w = (double) d->nx[x];

		ll += w * (lgamma(p * x + q) - lgamma(p * x));
		if (grad)
		{
			double		dpq = digamma(p * x + q);

			gp += w * x * (dpq - digamma(p * x));
			gq += w * dpq;
		}
	}
	for (i = 0; i < d->n; i++)
	{
		double		x = d->x[i];
		double		s = x * d->m[i] + g;
		double		L = log(s);

		if ((i & 262143) == 262143)
			CHECK_FOR_INTERRUPTS();
		ll -= (p * x + q) * L;
		sl += L;
		sxl += x * L;
		gg -= (p * x + q) / s;
	}
	gp -= sxl;
	gq -= sl;
	gg += n * q / g;
	if (ll_out)
		*ll_out = ll;
	if (grad)
	{
		grad[0] = -gp * p / n + 2.0 * d->penalizer * p * p;
		grad[1] = -gq * q / n + 2.0 * d->penalizer * q * q;
		grad[2] = -gg * g / n + 2.0 * d->penalizer * g * g;
	}
	return -ll / n + d->penalizer * (p * p + q * q + g * g);
}

static double
gg_objective(void *ctx, const double *u, double *grad)
{
	return gg_objective_ll((GgData *) ctx, u, grad, NULL);
}

/* ====================================================================
 * Fitting aggregates
 * ==================================================================== */

typedef enum BtydKind
{
	BTYD_BGNBD,
	BTYD_MBGNBD,
	BTYD_GAMMAGAMMA
} BtydKind;

/* transition state (internal): the summaries, column by column */
typedef struct BtydFitState
{
	int64		n;
	int64		capacity;
	bool		has_penalizer;
	double		penalizer;
	double	   *x;
	double	   *tx;				/* recency (unused by Gamma-Gamma) */
	double	   *T;				/* t, or the mean spend for Gamma-Gamma */
} BtydFitState;

static BtydFitState *
btyd_fit_state_get(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	BtydFitState *st;

	if (!PG_ARGISNULL(0))
		return (BtydFitState *) PG_GETARG_POINTER(0);
	st = MemoryContextAllocZero(aggcontext, sizeof(BtydFitState));
	st->capacity = 1024;
	st->x = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	st->tx = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	st->T = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	return st;
}

static void
btyd_fit_state_push(BtydFitState *st, double x, double tx, double T)
{
	if (st->n == st->capacity)
	{
		Size		sz;

		if (st->capacity >= (int64) (MaxAllocHugeSize / sizeof(double) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many customer summaries to fit one model")));
		st->capacity *= 2;
		sz = sizeof(double) * (Size) st->capacity;
		st->x = repalloc_huge(st->x, sz);
		st->tx = repalloc_huge(st->tx, sz);
		st->T = repalloc_huge(st->T, sz);
	}
	/* + 0.0 turns -0 into +0: equal values have equal bits for the sort */
	st->x[st->n] = x + 0.0;
	st->tx[st->n] = tx + 0.0;
	st->T[st->n] = T + 0.0;
	st->n++;
}

/* one customer summary, for sorting */
typedef struct BtydRow
{
	double		x;
	double		tx;
	double		T;
} BtydRow;

static int
cmp_btyd_row(const void *pa, const void *pb)
{
	const BtydRow *a = (const BtydRow *) pa;
	const BtydRow *b = (const BtydRow *) pb;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->tx != b->tx)
		return a->tx < b->tx ? -1 : 1;
	if (a->T != b->T)
		return a->T < b->T ? -1 : 1;
	return 0;
}

/*
 * The summaries in a fixed order, whatever order the rows arrived in
 * (plans, parallel workers, nodes): sorted by (x, tx, T), a total order on
 * the finite values the transition functions accept, so rows that compare
 * equal are identical.  The sums of the likelihood, the start values and
 * the subsample then do not depend on the row order.  Into x, tx, T (new
 * arrays in the current context; the state itself is not changed, as the
 * final function may run again on it).
 */
static void
btyd_sorted_summaries(const BtydFitState *st, double **x, double **tx, double **T)
{
	int64		n = st->n;
	int64		i;
	BtydRow    *rows = palloc_extended(sizeof(BtydRow) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);
	Size		sz = sizeof(double) * (Size) Max(n, 1);

	for (i = 0; i < n; i++)
	{
		rows[i].x = st->x[i];
		rows[i].tx = st->tx[i];
		rows[i].T = st->T[i];
	}
	qsort(rows, (size_t) n, sizeof(BtydRow), cmp_btyd_row);
	*x = palloc_extended(sz, MCXT_ALLOC_HUGE);
	*tx = palloc_extended(sz, MCXT_ALLOC_HUGE);
	*T = palloc_extended(sz, MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		(*x)[i] = rows[i].x;
		(*tx)[i] = rows[i].tx;
		(*T)[i] = rows[i].T;
	}
	pfree(rows);
}

static void
btyd_fit_penalizer(BtydFitState *st, FunctionCallInfo fcinfo, int argno)
{
	double		pen;

	if (PG_NARGS() <= argno)
		return;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("penalizer must not be NULL"),
				 errhint("Pass 0 for no penalty.")));
	pen = PG_GETARG_FLOAT8(argno);
	btyd_check_nonneg(pen, "penalizer");
	if (st->has_penalizer && st->penalizer != pen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("penalizer must be the same for every row"),
				 errhint("Pass a constant penalizer.")));
	st->has_penalizer = true;
	st->penalizer = pen;
}

/* bgnbd_fit_trans(state, frequency, recency, t [, penalizer]) */
PG_FUNCTION_INFO_V1(seg_reco_bgnbd_fit_trans);
Datum
seg_reco_bgnbd_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydFitState *st;
	double		x,
				tx,
				T;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.bgnbd_fit_trans can only be called as an aggregate transition function")));
	st = btyd_fit_state_get(fcinfo, aggcontext);
	btyd_fit_penalizer(st, fcinfo, 4);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	btyd_check_summary(x, tx, T);
	btyd_fit_state_push(st, x, tx, T);
	PG_RETURN_POINTER(st);
}

/* gammagamma_fit_trans(state, frequency, monetary_value [, penalizer]) */
PG_FUNCTION_INFO_V1(seg_reco_gammagamma_fit_trans);
Datum
seg_reco_gammagamma_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydFitState *st;
	double		x,
				m;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.gammagamma_fit_trans can only be called as an aggregate transition function")));
	st = btyd_fit_state_get(fcinfo, aggcontext);
	btyd_fit_penalizer(st, fcinfo, 3);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_FLOAT8(1);
	m = PG_GETARG_FLOAT8(2);
	seg_reco_check_finite(x, "frequency");
	seg_reco_check_finite(m, "monetary_value");
	if (x < 0 || x != floor(x) || x > BTYD_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a whole number between 0 and %d, got %g",
						BTYD_MAX_FREQUENCY, x)));
	/* the spend model is fitted on repeat customers with positive spend */
	if (x > 0 && m > 0)
		btyd_fit_state_push(st, x, 0.0, m);
	PG_RETURN_POINTER(st);
}

/* draw m indices of 0..n-1 without replacement (seeded, reproducible) */
static int64 *
btyd_subsample(int64 n, int64 m)
{
	int64	   *idx = palloc_extended(sizeof(int64) * (Size) n, MCXT_ALLOC_HUGE);
	pg_prng_state rng;
	int64		i;

	pg_prng_seed(&rng, UINT64CONST(0x5e6e5eed));
	for (i = 0; i < n; i++)
		idx[i] = i;
	/* partial Fisher-Yates: the first m entries are the sample */
	for (i = 0; i < m; i++)
	{
		int64		j = i + (int64) pg_prng_uint64_range(&rng, 0, (uint64) (n - i - 1));
		int64		t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	return idx;
}

/*
 * Whether u is a minimum to the precision of the objective although the
 * gradient is above BTYD_GTOL_ACCEPT: in a long, flat valley (Gamma-Gamma's
 * p and gamma trade off) BFGS stops where the objective no longer
 * decreases, and the gradient along the valley floor can stay near 1e-6.
 * At a minimum the Hessian is positive definite, and the decrease a Newton
 * step still promises, g' H^-1 g / 2, is below BTYD_DECREMENT_ACCEPT (on the
 * mean negative log-likelihood, whose rounding noise is about 1e-11 on real
 * data).  A fit running off to a boundary has no positive definite Hessian
 * or a larger decrement, so it stays not converged.
 */
static bool
btyd_at_noise_floor(BtydOpt *o, const double *u)
{
	double		g[BTYD_MAXP],
				dec = 0.0;
	int			i,
				k;

	if (!seg_reco_btyd_inverse_hessian(o, u))
		return false;
	if (!isfinite(o->fn(o->ctx, u, g)))
		return false;
	for (i = 0; i < o->np; i++)
		for (k = 0; k < o->np; k++)
			dec += g[i] * o->Hinv[i * o->np + k] * g[k];
	return dec >= 0 && 0.5 * dec <= BTYD_DECREMENT_ACCEPT;
}

typedef struct BtydFitResult
{
	double		params[BTYD_MAXP];
	double		ll;
	int			iterations;
	bool		converged;
	bool		diverged;
	double		gmax;
} BtydFitResult;

static void
btyd_run_fit(BtydKind kind, BtydFitState *st, BtydFitResult *res)
{
	int			np = (kind == BTYD_GAMMAGAMMA) ? 3 : 4;
	double		u[BTYD_MAXP];
	double		pen = st->has_penalizer ? st->penalizer : 0.0;
	BtydOpt		opt;
	void	   *full,
			   *sub = NULL;
	int64		n = st->n;
	double		mean_x = 0.0,
				mean_T = 0.0;
	double	   *xs,
			   *txs,
			   *Ts;
	int64		i;
	int			j;

	memset(&opt, 0, sizeof(opt));
	memset(res, 0, sizeof(*res));
	opt.np = np;

	btyd_sorted_summaries(st, &xs, &txs, &Ts);
	for (i = 0; i < n; i++)
	{
		mean_x += xs[i];
		mean_T += Ts[i];
	}
	mean_x /= n;
	mean_T /= n;

	if (kind == BTYD_GAMMAGAMMA)
	{
		opt.fn = gg_objective;
		full = gg_data_build(pen, xs, Ts, NULL, n);
		/* start: p = 1, q = 2, gamma from the mean spend */
		u[0] = 0.0;
		u[1] = log(2.0);
		u[2] = log(Max(mean_T, 1e-6));
	}
	else
	{
		opt.fn = bg_objective;
		full = bg_data_build(kind == BTYD_MBGNBD, pen, xs, txs, Ts, NULL, n);
		/* start: r = 1, alpha from the mean purchase rate, a = b = 1 */
		u[0] = 0.0;
		u[1] = log(Max(mean_T, 1e-3) / (mean_x + 1.0) + 1e-3);
		u[2] = 0.0;
		u[3] = 0.0;
	}

	if (n > BTYD_SUBSAMPLE)
	{
		int64	   *idx = btyd_subsample(n, BTYD_SUBSAMPLE);

		if (kind == BTYD_GAMMAGAMMA)
			sub = gg_data_build(pen, xs, Ts, idx, BTYD_SUBSAMPLE);
		else
			sub = bg_data_build(kind == BTYD_MBGNBD, pen, xs, txs, Ts, idx, BTYD_SUBSAMPLE);
		pfree(idx);
		opt.ctx = sub;
		seg_reco_btyd_nelder_mead(&opt, u, 400);
		seg_reco_btyd_bfgs(&opt, u, BTYD_MAX_ITER, 1e-7, true);
		/* the subsample's Hessian is the full data's up to sampling noise */
		(void) seg_reco_btyd_inverse_hessian(&opt, u);
		opt.diverged = false;
		opt.ctx = full;
		res->gmax = seg_reco_btyd_bfgs(&opt, u, BTYD_MAX_ITER, BTYD_GTOL, false);
	}
	else
	{
		opt.ctx = full;
		seg_reco_btyd_nelder_mead(&opt, u, 400);
		res->gmax = seg_reco_btyd_bfgs(&opt, u, BTYD_MAX_ITER, BTYD_GTOL, true);
	}

	for (j = 0; j < np; j++)
		res->params[j] = exp(u[j]);
	if (kind == BTYD_GAMMAGAMMA)
		gg_objective_ll((GgData *) full, u, NULL, &res->ll);
	else
		bg_objective_ll((BgData *) full, u, NULL, &res->ll);
	res->iterations = opt.iterations;
	res->diverged = opt.diverged;
	res->converged = !opt.diverged && isfinite(res->ll) &&
		(res->gmax <= BTYD_GTOL_ACCEPT || btyd_at_noise_floor(&opt, u));
}

static Datum
btyd_fit_final(FunctionCallInfo fcinfo, BtydKind kind)
{
	BtydFitState *st;
	MemoryContext fitcxt,
				old;
	BtydFitResult res;
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {false};
	int			np = (kind == BTYD_GAMMAGAMMA) ? 3 : 4;
	int			j;
	const char *what = kind == BTYD_BGNBD ? "bg/nbd" :
		kind == BTYD_MBGNBD ? "mbg/nbd" : "gamma-gamma";

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "btyd fit functions must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (PG_ARGISNULL(0) || ((BtydFitState *) PG_GETARG_POINTER(0))->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no customer summaries to fit the %s model on", what),
				 kind == BTYD_GAMMAGAMMA ?
				 errdetail("The spend model is fitted on customers with frequency > 0 and monetary_value > 0.") : 0,
				 errhint("Check the rows passed to the fitting aggregate.")));
	st = (BtydFitState *) PG_GETARG_POINTER(0);

	fitcxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco btyd fit",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitcxt);
	btyd_run_fit(kind, st, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitcxt);

	/*
	 * The hint: a penalizer (on the squared parameters) keeps parameters
	 * that run off to infinity finite, but it pulls the Gamma-Gamma q
	 * towards 0, so it is not suggested when the spend fit ended at q <= 1.
	 */
	if (!res.converged)
		ereport(WARNING,
				(errmsg("the %s fit did not converge", what),
				 res.diverged ?
				 errdetail("A parameter ran off towards 0 or infinity after %d iterations.", res.iterations) :
				 errdetail("The gradient is %g after %d iterations.", res.gmax, res.iterations),
				 kind != BTYD_GAMMAGAMMA ?
				 errhint("Try the other purchase model (bgnbd_fit or mbgnbd_fit), a penalizer (e.g. 0.001), or more customers.") :
				 res.params[1] <= 1.0 ?
				 errhint("Fit on more repeat customers or with extreme spends removed; a penalizer shrinks q towards 0 and does not help here.") :
				 errhint("Fit on more repeat customers, or add a small penalizer (e.g. 0.001) and check that q stays above 1.")));

	for (j = 0; j < np; j++)
		values[j] = Float8GetDatum(res.params[j]);
	values[np] = Float8GetDatum(res.ll);
	values[np + 1] = Int32GetDatum(res.iterations);
	values[np + 2] = BoolGetDatum(res.converged);
	values[np + 3] = Int64GetDatum(st->n);
	values[np + 4] = Float8GetDatum(st->has_penalizer ? st->penalizer : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_fit_final);
Datum
seg_reco_bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_BGNBD);
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_fit_final);
Datum
seg_reco_mbgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_MBGNBD);
}

PG_FUNCTION_INFO_V1(seg_reco_gammagamma_fit_final);
Datum
seg_reco_gammagamma_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_GAMMAGAMMA);
}
