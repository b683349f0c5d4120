/*
 * btyd_optim.c
 *      The optimiser of the buy-till-you-die fits: Nelder-Mead, then BFGS
 *      with analytic gradients and a backtracking line search, and the
 *      inverse Hessian by central differences.
 *
 * The objective (btyd_models.c: the mean negative log-likelihood plus
 * penalizer * (sum of squared parameters), as lifetimes does) is a function
 * of the log-parameters u; a point where some |u| is far beyond BTYD_ULIM
 * evaluates to +Infinity, and a fit whose parameters leave
 * [-BTYD_ULIM, BTYD_ULIM] is reported as diverged.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "btyd.h"

/* parameters must stay within exp(+-18) (1.5e-8 .. 6.6e7): beyond, the fit diverges */
#define BTYD_ULIM 18.0

/* the arrays here hold at most BTYD_MAXP parameters */
static inline void
btyd_check_np(const BtydOpt *o)
{
	if (o->np < 1 || o->np > BTYD_MAXP)
		elog(ERROR, "btyd optimiser: %d parameters, expected 1 to %d", o->np, BTYD_MAXP);
}

static double
btyd_eval(BtydOpt *o, const double *u, double *grad)
{
	int			j;

	for (j = 0; j < o->np; j++)
		if (!(fabs(u[j]) <= BTYD_ULIM + 5.0))
			return INFINITY;
	return o->fn(o->ctx, u, grad);
}

/* ---------- Nelder-Mead ---------- */

/* from u (simplex steps of 0.5); u <- the best vertex when it is finite */
void
seg_reco_btyd_nelder_mead(BtydOpt *o, double *u, int maxiter)
{
	int			np = o->np;
	double		s[BTYD_MAXP + 1][BTYD_MAXP];
	double		fs[BTYD_MAXP + 1];
	double		c[BTYD_MAXP],
				xr[BTYD_MAXP],
				xe[BTYD_MAXP];
	int			i,
				j,
				it;

	btyd_check_np(o);
	for (i = 0; i <= np; i++)
	{
		for (j = 0; j < np; j++)
			s[i][j] = u[j] + (i == j + 1 ? 0.5 : 0.0);
		fs[i] = btyd_eval(o, s[i], NULL);
	}
	for (it = 0; it < maxiter; it++)
	{
		int			hi = 0,
					lo = 0,
					nh = 0;
		double		fr;

		CHECK_FOR_INTERRUPTS();
		for (i = 1; i <= np; i++)
		{
			if (fs[i] > fs[hi])
				hi = i;
			if (fs[i] < fs[lo])
				lo = i;
		}
		nh = (hi == 0) ? 1 : 0;
		for (i = 0; i <= np; i++)
			if (i != hi && fs[i] > fs[nh])
				nh = i;
		if (fabs(fs[hi] - fs[lo]) <= 1e-10 * (fabs(fs[lo]) + 1e-10))
			break;
		for (j = 0; j < np; j++)
		{
			c[j] = 0.0;
			for (i = 0; i <= np; i++)
				if (i != hi)
					c[j] += s[i][j];
			c[j] /= np;
			xr[j] = c[j] + (c[j] - s[hi][j]);
		}
		fr = btyd_eval(o, xr, NULL);
		if (fr < fs[lo])
		{
			double		fe;

			for (j = 0; j < np; j++)
				xe[j] = c[j] + 2.0 * (xr[j] - c[j]);
			fe = btyd_eval(o, xe, NULL);
			if (fe < fr)
			{
				memcpy(s[hi], xe, sizeof(double) * np);
				fs[hi] = fe;
			}
			else
			{
				memcpy(s[hi], xr, sizeof(double) * np);
				fs[hi] = fr;
			}
		}
		else if (fr < fs[nh])
		{
			memcpy(s[hi], xr, sizeof(double) * np);
			fs[hi] = fr;
		}
		else
		{
			double		fc;
			bool		outside = fr < fs[hi];

			for (j = 0; j < np; j++)
				xe[j] = outside ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (s[hi][j] - c[j]);
			fc = btyd_eval(o, xe, NULL);
			if (fc < (outside ? fr : fs[hi]))
			{
				memcpy(s[hi], xe, sizeof(double) * np);
				fs[hi] = fc;
			}
			else
			{
				/* shrink towards the best vertex */
				for (i = 0; i <= np; i++)
				{
					if (i == lo)
						continue;
					for (j = 0; j < np; j++)
						s[i][j] = s[lo][j] + 0.5 * (s[i][j] - s[lo][j]);
					fs[i] = btyd_eval(o, s[i], NULL);
				}
			}
		}
	}
	o->iterations += it;
	{
		int			lo = 0;

		for (i = 1; i <= np; i++)
			if (fs[i] < fs[lo])
				lo = i;
		if (isfinite(fs[lo]))
			memcpy(u, s[lo], sizeof(double) * np);
	}
}

/* ---------- BFGS, in steps ---------- */

static void
bfgs_set_identity(double *H, int np)
{
	int			i,
				j;

	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
			H[i * np + j] = (i == j) ? 1.0 : 0.0;
}

static double
bfgs_max_abs(const double *g, int np)
{
	double		gmax = 0.0;
	int			i;

	for (i = 0; i < np; i++)
		gmax = Max(gmax, fabs(g[i]));
	return gmax;
}

/* o->diverged when a log-parameter left [-BTYD_ULIM, BTYD_ULIM] */
static void
bfgs_check_diverged(BtydOpt *o, const double *u)
{
	int			j;

	for (j = 0; j < o->np; j++)
		if (fabs(u[j]) > BTYD_ULIM)
		{
			o->diverged = true;
			break;
		}
}

/*
 * Search direction d = -H g; returns the slope g.d.  When d is not a
 * descent direction, restart from steepest descent (H = I, and its first
 * update is scaled again).
 */
static double
bfgs_direction(double *H, int np, const double *g, double *d, bool *scale_first)
{
	double		gd = 0.0;
	int			i,
				j;

	for (i = 0; i < np; i++)
	{
		d[i] = 0.0;
		for (j = 0; j < np; j++)
			d[i] -= H[i * np + j] * g[j];
		gd += d[i] * g[i];
	}
	if (!(gd < 0))
	{
		/* not a descent direction: restart from steepest descent */
		bfgs_set_identity(H, np);
		for (i = 0; i < np; i++)
			d[i] = -g[i];
		gd = 0.0;
		for (i = 0; i < np; i++)
			gd -= g[i] * g[i];
		*scale_first = true;
	}
	return gd;
}

/*
 * Backtracking (Armijo) line search from u (value f) along d (slope gd):
 * un, gn and *fn receive the accepted point.  False when no step was
 * accepted.
 */
static bool
bfgs_line_search(BtydOpt *o, const double *u, const double *d, double f, double gd,
				 double *un, double *gn, double *fn)
{
	int			np = o->np;
	double		step = 1.0,
				dmax = 0.0;
	int			i,
				ls;

	for (i = 0; i < np; i++)
		dmax = Max(dmax, fabs(d[i]));
	if (dmax > 2.0)
		step = 2.0 / dmax;		/* at most a factor e^2 per step */

	for (ls = 0; ls < 30; ls++)
	{
		for (i = 0; i < np; i++)
			un[i] = u[i] + step * d[i];
		*fn = btyd_eval(o, un, gn);
		/* Armijo, with slack for the rounding noise of a sum over many customers */
		if (isfinite(*fn) && *fn <= f + 1e-4 * step * gd + 8.0 * DBL_EPSILON * fabs(f))
			return true;
		step *= 0.5;
		/* a tiny step in a quasi-Newton direction: we are at the noise floor */
		if (step < 1e-3)
			break;
	}
	return false;
}

/*
 * The BFGS update of the inverse Hessian H from the step u -> un and the
 * gradient change g -> gn (skipped when the curvature s.y is not positive);
 * the first update after a start from the identity rescales H first.
 */
static void
bfgs_update(double *H, int np, const double *u, const double *un,
			const double *g, const double *gn, bool *scale_first)
{
	double		sv[BTYD_MAXP],
				yv[BTYD_MAXP],
				Hy[BTYD_MAXP];
	double		sy,
				yHy;
	int			i,
				j;

	sy = 0.0;
	for (i = 0; i < np; i++)
	{
		sv[i] = un[i] - u[i];
		yv[i] = gn[i] - g[i];
		sy += sv[i] * yv[i];
	}
	if (sy > 1e-300)
	{
		if (*scale_first)
		{
			double		yy = 0.0;

			for (i = 0; i < np; i++)
				yy += yv[i] * yv[i];
			for (i = 0; i < np; i++)
				for (j = 0; j < np; j++)
					H[i * np + j] = (i == j) ? sy / yy : 0.0;
			*scale_first = false;
		}
		yHy = 0.0;
		for (i = 0; i < np; i++)
		{
			Hy[i] = 0.0;
			for (j = 0; j < np; j++)
				Hy[i] += H[i * np + j] * yv[j];
			yHy += yv[i] * Hy[i];
		}
		for (i = 0; i < np; i++)
			for (j = 0; j < np; j++)
				H[i * np + j] += ((sy + yHy) * sv[i] * sv[j]) / (sy * sy)
					- (Hy[i] * sv[j] + sv[i] * Hy[j]) / sy;
	}
}

/*
 * BFGS on u with backtracking (Armijo) line search.  Hinv on entry is the
 * starting inverse Hessian (identity when init_identity).  Returns the
 * final max |gradient|.
 */
double
seg_reco_btyd_bfgs(BtydOpt *o, double *u, int maxiter, double gtol, bool init_identity)
{
	int			np = o->np;
	double	   *H = o->Hinv;
	double		g[BTYD_MAXP],
				gn[BTYD_MAXP],
				d[BTYD_MAXP],
				un[BTYD_MAXP];
	double		f,
				fn = 0.0,
				gmax = INFINITY;
	int			it;
	bool		scale_first = init_identity;
	int			stalled = 0;

	btyd_check_np(o);
	if (init_identity)
		bfgs_set_identity(H, np);
	f = btyd_eval(o, u, g);
	if (!isfinite(f))
		return INFINITY;
	for (it = 0; it < maxiter; it++)
	{
		double		gd;

		CHECK_FOR_INTERRUPTS();
		gmax = bfgs_max_abs(g, np);
		if (gmax <= gtol)
			break;
		bfgs_check_diverged(o, u);
		if (o->diverged)
			break;

		gd = bfgs_direction(H, np, g, d, &scale_first);
		if (!bfgs_line_search(o, u, d, f, gd, un, gn, &fn))
			break;				/* no progress possible at this precision */
		/* the objective stopped decreasing: we are at its rounding level */
		if (fn >= f - 4.0 * DBL_EPSILON * fabs(f))
		{
			if (++stalled >= 3)
			{
				memcpy(u, un, sizeof(double) * np);
				memcpy(g, gn, sizeof(double) * np);
				f = fn;
				it++;
				break;
			}
		}
		else
			stalled = 0;

		bfgs_update(H, np, u, un, g, gn, &scale_first);
		memcpy(u, un, sizeof(double) * np);
		memcpy(g, gn, sizeof(double) * np);
		f = fn;
	}
	o->iterations += it;
	gmax = bfgs_max_abs(g, np);
	bfgs_check_diverged(o, u);
	return gmax;
}

/*
 * Inverse of the Hessian at u by central differences of the analytic
 * gradient, into o->Hinv.  False (Hinv untouched) when it is not positive
 * definite.
 */
bool
seg_reco_btyd_inverse_hessian(BtydOpt *o, const double *u)
{
	int			np = o->np;
	double		Hm[BTYD_MAXP][2 * BTYD_MAXP];
	double		up[BTYD_MAXP],
				gp[BTYD_MAXP],
				gm[BTYD_MAXP];
	const double h = 1e-4;
	int			i,
				j,
				k;

	btyd_check_np(o);
	for (j = 0; j < np; j++)
	{
		memcpy(up, u, sizeof(double) * np);
		up[j] = u[j] + h;
		if (!isfinite(btyd_eval(o, up, gp)))
			return false;
		up[j] = u[j] - h;
		if (!isfinite(btyd_eval(o, up, gm)))
			return false;
		for (i = 0; i < np; i++)
			Hm[i][j] = (gp[i] - gm[i]) / (2.0 * h);
	}
	/* symmetrise, append the identity, Gauss-Jordan without pivoting (PD) */
	for (i = 0; i < np; i++)
		for (j = 0; j < i; j++)
			Hm[i][j] = Hm[j][i] = 0.5 * (Hm[i][j] + Hm[j][i]);
	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
			Hm[i][np + j] = (i == j) ? 1.0 : 0.0;
	for (k = 0; k < np; k++)
	{
		double		piv = Hm[k][k];

		if (!(piv > 0) || !isfinite(piv))
			return false;
		for (j = 0; j < 2 * np; j++)
			Hm[k][j] /= piv;
		for (i = 0; i < np; i++)
		{
			double		f = Hm[i][k];

			if (i == k)
				continue;
			for (j = 0; j < 2 * np; j++)
				Hm[i][j] -= f * Hm[k][j];
		}
	}
	for (i = 0; i < np; i++)
	{
		if (!(Hm[i][np + i] > 0))
			return false;
		for (j = 0; j < np; j++)
			o->Hinv[i * np + j] = Hm[i][np + j];
	}
	return true;
}

