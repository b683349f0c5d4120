/*
 * btyd.h
 *      Declarations shared by the buy-till-you-die files: the period unit
 *      (btyd_summary.c, also read by the CLV in btyd_models.c) and the
 *      optimiser (btyd_optim.c, run by the fitting aggregates in
 *      btyd_models.c).
 *
 * The optimiser minimises an objective over at most BTYD_MAXP parameters
 * in log space; the caller supplies the objective and its analytic
 * gradient.
 */
#ifndef SEG_RECO_BTYD_H
#define SEG_RECO_BTYD_H

#include "postgres.h"

/* 'day' -> 1, 'week' -> 7; any other unit is an error */
extern int	seg_reco_btyd_parse_unit(text *unit_txt);

#define BTYD_MAXP 4

/* objective: returns f(u) and, when grad != NULL, its gradient */
typedef double (*BtydObjective) (void *ctx, const double *u, double *grad);

typedef struct BtydOpt
{
	int			np;
	BtydObjective fn;
	void	   *ctx;
	int			iterations;		/* Nelder-Mead and BFGS iterations, summed */
	bool		diverged;		/* a log-parameter left [-BTYD_ULIM, BTYD_ULIM]
								 * (btyd_optim.c) */
	double		Hinv[BTYD_MAXP * BTYD_MAXP];	/* last BFGS inverse Hessian */
} BtydOpt;

/* Nelder-Mead from u (simplex steps 0.5), at most maxiter iterations; u <- best vertex */
extern void seg_reco_btyd_nelder_mead(BtydOpt *o, double *u, int maxiter);

/*
 * BFGS on u with backtracking (Armijo) line search.  o->Hinv on entry is
 * the starting inverse Hessian (identity when init_identity).  Returns the
 * final max |gradient|.
 */
extern double seg_reco_btyd_bfgs(BtydOpt *o, double *u, int maxiter, double gtol,
								 bool init_identity);

/*
 * Inverse of the Hessian at u by central differences of the analytic
 * gradient, into o->Hinv.  False (Hinv untouched) when it is not positive
 * definite.
 */
extern bool seg_reco_btyd_inverse_hessian(BtydOpt *o, const double *u);

#endif							/* SEG_RECO_BTYD_H */
