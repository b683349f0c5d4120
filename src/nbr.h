/*
 * nbr.h
 *      The repeat-aware next-basket model (TIFU-KNN, Hu et al., SIGIR 2020):
 *      a customer's time-decayed personal item frequency over groups of
 *      baskets, blended with the mean vector of the k nearest customers
 *      (nbr.c).
 *
 * The build (seg_reco._nextbasket_build, run by als_train on the default
 * source) stores, per customer, the top products of the mean vector of
 * their k nearest customers in seg_reco.nextbasket_neighbours; serving
 * computes the customer's own vector from their purchase occasions as of
 * the call and blends the two: alpha x own + (1 - alpha) x neighbours.
 */
#ifndef SEG_RECO_NBR_H
#define SEG_RECO_NBR_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

/* the parameters of a build, kept in the model's row (model -> 'nextbasket') */
typedef struct NbParams
{
	int			group_size;		/* m: baskets per group, counted from the latest */
	double		within_decay;	/* r_b: weight of a basket per later basket of its group */
	double		group_decay;	/* r_g: weight of a group per later group */
	int			neighbours;		/* k */
	double		alpha;			/* weight of the customer's own vector */
} NbParams;

/*
 * The parameters of the UP-CF@r part of a build (Faggioli, Polato and
 * Aiolli, UMAP 2020), kept in the model's row too (model -> 'nextbasket'
 * -> upcf_*)
 */
typedef struct UpcfParams
{
	int			baskets;		/* r: the last r baskets of a neighbour (0: all) */
	double		alpha;			/* asymmetry of the cosine, in [0, 1] */
	double		locality;		/* q: the similarity raised to this power */
	int			neighbours;		/* k */
} UpcfParams;

/*
 * What the blend gets for one customer (params NULL: the source does not
 * apply).  upcf: the stored UP-CF@r scores of the products new to the
 * customer at the build (upcf_n 0 without them).
 */
typedef struct NbInput
{
	const NbParams *params;
	int			n;				/* the neighbours' products */
	const int64 *pid;			/* ascending */
	const float *score;			/* the neighbours' mean vector */
	int			upcf_n;			/* the UP-CF@r products */
	const int64 *upcf_pid;		/* ascending */
	const float *upcf_score;	/* relative to the customer's best (1) */
} NbInput;

/*
 * The customer's own TIFU vector from occasions (pid[0..n-1], ts[0..n-1],
 * sorted by product then time, one per product and basket): out_w[r] for
 * the r-th distinct product (in pid order; out_pid gets it).  times:
 * room for n doubles.  Returns the distinct products; *n_baskets gets the
 * baskets (distinct times).
 */
extern int	seg_reco_tifu_vector(const int64 *pid, const double *ts, int n, const NbParams *p,
								 double *times, int64 *out_pid, double *out_w, int *n_baskets);

/*
 * The neighbours' part of one customer of model (from
 * seg_reco.nextbasket_neighbours) and the model's parameters; false when
 * the model has no next-basket build.  SPI connected.
 */
extern bool seg_reco_nb_fetch(const char *model, int64 customer_id, NbParams *p, NbInput *in);

/*
 * in := the arrays of a stored row (product_ids, scores), copied into the
 * current memory context (recommend_all's walk over the stored rows)
 */
extern void seg_reco_nb_arrays(Datum pids, Datum scores, NbInput *in);

/* in's UP-CF@r part := the arrays (upcf_product_ids, upcf_scores) of a stored row, copied */
extern void seg_reco_nb_upcf_arrays(Datum pids, Datum scores, NbInput *in);

/*
 * UP@r, the recent popularity of UP-CF@r, of one customer's occasions
 * (pid[0..n-1], ts[0..n-1], sorted by product then time, one per product
 * and basket): out[r] for the r-th distinct product, the share of the
 * customer's last r baskets (all when baskets is 0) that held it.
 * times: room for n doubles.  Returns the distinct products.
 */
extern int	seg_reco_upcf_recent_share(const int64 *pid, const double *ts, int n, int baskets,
									   double *times, double *out);

/*
 * The neighbours' part of one customer of model, the parameters p read
 * before (seg_reco_als_model_get_serving_nb): in->params = p.  SPI connected.
 */
extern void seg_reco_nb_fetch_neighbours(const char *model, int64 customer_id, const NbParams *p,
										 NbInput *in);

/* the parameters as columns of a query over seg_reco.models m (five) */
#define SEG_RECO_NB_PARAMS_SQL \
	"(m.model OPERATOR(pg_catalog.->) 'nextbasket' OPERATOR(pg_catalog.->>) 'group_size')::pg_catalog.int4," \
	" (m.model OPERATOR(pg_catalog.->) 'nextbasket' OPERATOR(pg_catalog.->>) 'within_decay')::pg_catalog.float8," \
	" (m.model OPERATOR(pg_catalog.->) 'nextbasket' OPERATOR(pg_catalog.->>) 'group_decay')::pg_catalog.float8," \
	" (m.model OPERATOR(pg_catalog.->) 'nextbasket' OPERATOR(pg_catalog.->>) 'neighbours')::pg_catalog.int4," \
	" (m.model OPERATOR(pg_catalog.->) 'nextbasket' OPERATOR(pg_catalog.->>) 'alpha')::pg_catalog.float8"

/* p := the parameters in columns first..first + 4 of an SPI row; false when any is NULL */
extern bool seg_reco_nb_read_params(HeapTuple tup, TupleDesc td, int first, NbParams *p);

/* the model's parameters only; false without a build.  SPI connected. */
extern bool seg_reco_nb_params(const char *model, NbParams *p);

/*
 * The next-basket parts of one product's score (alpha x own, (1 - alpha) x
 * neighbours), the customer's receipts with it and their mean gap in days
 * (0 below two), as of end, and the stored UP-CF@r score (relative to the
 * customer's best, 1; 0 when not stored or the customer has bought the
 * product), all from one read of the customer's row; false without a
 * build.  SPI connected.
 */
extern bool seg_reco_nb_explain(const char *model, int64 customer_id, int64 product_id, double end,
								double *own_part, double *nbr_part, int *n_occ, double *cycle_days,
								double *upcf_part);

#endif							/* SEG_RECO_NBR_H */
