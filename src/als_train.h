/*
 * als_train.h
 *      Implicit-feedback ALS: the interaction loader and the per-customer
 *      least-squares system, defined with training (als_train.c) and
 *      shared with serving (reco_serve.c).
 *
 * Orientation: "customers" are the rows of the interaction matrix and
 * "products" its columns, everywhere.  Customer factors X are
 * n_customers x factors, product factors Y are n_products x factors, both
 * row-major double; a score is x_u . y_i.
 */
#ifndef SEG_RECO_ALS_TRAIN_H
#define SEG_RECO_ALS_TRAIN_H

#include "postgres.h"

#include "utils/array.h"

#include "als_blocks.h"

/*
 * Interactions of a source query, one entry per (customer, product) pair,
 * sorted by customer then product: duplicate rows summed (rows that carry the
 * same non-NULL receipt_id for a pair count once), pairs whose total weight
 * is not positive dropped.  purchased: at least one row of the pair had a
 * receipt_id or the source has no receipts (custom queries).
 */
typedef struct SegRecoPairs
{
	int64		n;				/* pairs */
	int64	   *customer_id;
	int64	   *product_id;
	double	   *weight;
	bool	   *purchased;
	int64		rows_read;		/* rows the query returned */
	int64		rows_skipped;	/* rows with a NULL customer or product id */
	int64		pairs_dropped;	/* pairs whose summed weight was <= 0 */
} SegRecoPairs;

/*
 * Run query (columns customer_id, product_id, weight, receipt_id) through SPI
 * (the caller is connected) and fold its rows into pairs.  With
 * one_customer, only rows of customer_id are read (the query is wrapped in a
 * filter that PostgreSQL pushes down to the indexes).
 */
extern void seg_reco_als_read_pairs(const char *query, bool one_customer,
									int64 customer_id, bool custom_source,
									SegRecoPairs *out);

/*
 * The same for the customers of ids (an int8[]; the query is wrapped in
 * "WHERE customer_id = ANY (ids)", which PostgreSQL pushes down).
 */
extern void seg_reco_als_read_pairs_of(const char *query, ArrayType *ids, bool custom_source,
									   SegRecoPairs *out);

/*
 * The purchased pairs (receipt lines; every pair of a custom source) of
 * the query's customers, or of ids (an int8[]) when not NULL, into list
 * (initialised by the caller with its budget) in (customer, product)
 * order, rewound for reading: recommend_all's products bought, in memory
 * bounded by the list's budget.
 */
extern void seg_reco_als_read_purchased(const char *query, ArrayType *ids, bool custom_source,
										AlsPairList *list);

/*
 * The normal equations of one customer, exact form (Hu, Koren & Volinsky):
 *   A = Y^T Y + reg I + sum_i (c_i - 1) y_i y_i^T,   b = sum_i c_i y_i
 * with c_i = 1 + alpha * w_i over the customer's products idx[0..n-1].
 * yty_reg holds Y^T Y + reg I (d x d).  A (d x d) and b (d) are written.
 */
extern void seg_reco_als_user_system(const double *y, int d, const double *yty_reg,
									 const int32 *idx, const double *w, int n,
									 double alpha, double *a, double *b);

/*
 * One customer's half-step of the exact (Cholesky) solver: x (d) := the
 * solution of the system above; a: scratch of d x d.  False when the system
 * is not positive definite (too little regularization).  Training's
 * Cholesky half-step, fold-in (als_foldin.c) and serving's fold-in of a
 * customer without stored factors (reco_serve.c) all solve with it.
 */
extern bool seg_reco_als_solve_exact(const double *y, int d, const double *yty_reg,
									 const int32 *idx, const double *w, int n, double alpha,
									 double *a, double *x);

/* the model name serving functions use by default */
#define SEG_RECO_ALS_DEFAULT_MODEL "default"

#endif							/* SEG_RECO_ALS_TRAIN_H */
