/*
 * als_model.h
 *      Storing ALS models and the per-backend cache of their product factors.
 *
 * A model is a row of seg_reco.models (kind 'als', model->>'version' a number
 * drawn from seg_reco.als_model_version_seq at every training) plus its rows
 * in seg_reco.als_customer_factors and seg_reco.als_product_factors, all
 * written in the training call's transaction.  The cache is keyed by model
 * name and that version, read from the row visible to the current snapshot
 * at every call, so a retrained, replaced or rolled-back model is never
 * served stale.  All functions here run SPI: the caller is connected.
 */
#ifndef SEG_RECO_ALS_MODEL_H
#define SEG_RECO_ALS_MODEL_H

#include "postgres.h"

#include "executor/spi.h"

/* a prepared SPI plan kept for the backend's life, prepared on first use */
extern SPIPlanPtr seg_reco_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes);

typedef struct SegRecoAlsModel
{
	char	   *name;
	int64		version;
	int			d;				/* factors */
	int			n_products;
	int64		n_customers;
	int64	   *product_id;		/* ascending */
	double	   *y;				/* n_products x d */
	float	   *yf;				/* the same in single precision (they are stored as float4) */
	double	   *y_norm;			/* ||y_i|| */
	double	   *yty_reg;		/* Y^T Y + regularization I, d x d */
	double	   *popularity;		/* share of training customers with the product */
	int32	   *pop_order;		/* product indices, most popular first */
	double		alpha;
	double		regularization;
	char	   *query;			/* source query (customer_id, product_id, weight, receipt_id) */
	bool		custom_source;
} SegRecoAlsModel;

/* the cached model of that name (loaded or reloaded as needed); errors if missing */
extern SegRecoAlsModel *seg_reco_als_model_get(const char *name);

/*
 * The same, and *as_of_option := the model's option as_of (params ->
 * 'options' ->> 'as_of', read from the row at every call; NULL without it),
 * palloc'd in the caller's context.
 */
extern SegRecoAlsModel *seg_reco_als_model_get_serving(const char *name, char **as_of_option);

/*
 * The same, and from the same read of the model's row its next-basket
 * parameters: *has_nb false when the model has no next-basket build (nb
 * may be NULL: not read).  recommend_for reads the row once per call.
 */
struct NbParams;
extern SegRecoAlsModel *seg_reco_als_model_get_serving_nb(const char *name, char **as_of_option,
														  struct NbParams *nb, bool *has_nb);

/* x := the stored factors of the customer; false if the model lacks them */
extern bool seg_reco_als_customer_factors(const SegRecoAlsModel *m, int64 customer_id,
										  double *x);

/* index of product_id in m->product_id, or -1 */
extern int	seg_reco_als_product_index(const SegRecoAlsModel *m, int64 product_id);

/*
 * Store a trained model under name, replacing one of that name (kind 'als'
 * only).  params_json and metrics_json are JSON object texts.
 */
extern int64 seg_reco_als_model_save(const char *name, int d,
									 int64 n_customers, const int64 *customer_id, const float *x,
									 int n_products, const int64 *product_id, const float *y,
									 const double *popularity,
									 const char *params_json, const char *metrics_json);

/*
 * Write the factors (x: n x d) of customers customer_id[0..n-1] of model
 * name, inserting or replacing their rows (a statement per 32,768 customers).
 */
extern void seg_reco_als_upsert_customer_factors(const char *name, int d, int64 n,
												 const int64 *customer_id, const double *x);

/* delete the factor rows of those customers of model name; returns the rows deleted */
extern int64 seg_reco_als_delete_customer_factors(const char *name, int64 n,
												  const int64 *customer_id);

#endif							/* SEG_RECO_ALS_MODEL_H */
