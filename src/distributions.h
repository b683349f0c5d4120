/*
 * distributions.h
 *      Distribution functions of the A/B-test statistics (distributions.c):
 *      normal, Student t and chi-square, to about 1e-14 (checked against
 *      scipy in test/sql/ab_stats.sql).
 *
 * Plain C on doubles; no PostgreSQL calls but elog for cannot-happen.
 * Arguments are checked by the SQL entry points, not here: the functions
 * below expect df > 0, 0 < p < 1 and finite x unless said otherwise.
 */
#ifndef SEG_RECO_DISTRIBUTIONS_H
#define SEG_RECO_DISTRIBUTIONS_H

/* standard normal: P(Z <= x), P(Z > x), density, quantile */
extern double seg_reco_normal_cdf(double x);
extern double seg_reco_normal_sf(double x);
extern double seg_reco_normal_pdf(double x);
extern double seg_reco_normal_quantile(double p);

/*
 * Student t with df degrees of freedom (any real df > 0; df = +Infinity is
 * the normal): P(T <= t), the two-sided tail P(|T| >= |t|), and the
 * quantile.
 */
extern double seg_reco_t_cdf(double t, double df);
extern double seg_reco_t_two_sided(double t, double df);
extern double seg_reco_t_quantile(double p, double df);

/* chi-square with df > 0 degrees of freedom: P(X > x) */
extern double seg_reco_chi2_sf(double x, double df);

/* regularized incomplete beta I_x(a, b), y = 1 - x given separately */
extern double seg_reco_incbeta(double a, double b, double x, double y);

#endif							/* SEG_RECO_DISTRIBUTIONS_H */
