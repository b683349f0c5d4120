/*
 * clustering.h
 *      What the clustering aggregates (kmeans.c, gmm.c, silhouette.c,
 *      select_k.c) share, from clustering.c: the row-collecting aggregate
 *      state, training options, feature preparation, checks and small JSON
 *      helpers for the models' text form.  k-means itself, which GMM and
 *      the choice of k build on, is in kmeans.h.
 */
#ifndef SEG_RECO_CLUSTERING_H
#define SEG_RECO_CLUSTERING_H

#include "postgres.h"

#include "memory.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/*
 * Memory limit: the training data (N x d doubles) may hold at most this many
 * values (2^27 = 134,217,728, i.e. 1 GiB); training keeps at most about
 * two more N-long vectors (k-means) or N x k responsibilities (mixtures).
 */
#define SEG_RECO_CLUSTER_MAX_VALUES ((int64) 1 << 27)
#define SEG_RECO_CLUSTER_MAX_DIM 1000
#define SEG_RECO_CLUSTER_MAX_K 10000
/* training features (after log1p) must lie within +-this */
#define SEG_RECO_FEATURE_MAX 1e100

/* rows collected by the training aggregates (internal state) */
typedef struct SegRecoRows
{
	MemoryContext cxt;			/* aggregate context holding x, labels */
	int			d;				/* features per row; 0 until the first row */
	int64		n;				/* rows collected */
	int64		cap;			/* rows allocated */
	double	   *x;				/* n x d, row-major */
	int32	   *labels;			/* silhouette only: cluster label per row */
	void	   *xmap;			/* mapping behind x once large (memory.c) */
	void	   *lmap;			/* same for labels */
	int32		arg1;			/* k, or k_min, or sample size */
	int32		arg2;			/* k_max */
	int64		arg3;			/* seed (silhouette) */
	Jsonb	   *options;		/* copy in cxt, or NULL */
	bool		args_set;
	const char *fname;			/* for messages */
} SegRecoRows;

/* options, parsed from the jsonb argument */
#define SEG_RECO_OPT_KMEANS		0x01
#define SEG_RECO_OPT_GMM		0x02
#define SEG_RECO_OPT_SELECT		0x04

typedef struct SegRecoOptions
{
	int			n_init;
	int			max_iter;
	double		tol;
	int64		seed;
	bool		standardize;
	bool	   *log1p;			/* per column (d), or NULL */
	int			nlog1p;
	bool		diag;			/* GMM covariance type */
	double		reg_covar;
	int			sample_size;	/* k selection: silhouette sample */
} SegRecoOptions;

/* feature preparation: x -> (log1p?(x) - mean) / scale, per column */
typedef struct SegRecoTransform
{
	int			d;
	double	   *mean;
	double	   *scale;
	double	   *log1p;			/* 1.0 where log1p applies, else 0.0 */
} SegRecoTransform;

extern SegRecoRows *seg_reco_rows_collect(FunctionCallInfo fcinfo, const char *fname,
										  int nint_args, bool has_options, bool has_label);
extern SegRecoRows *seg_reco_rows_final(FunctionCallInfo fcinfo, const char *fname);
extern void seg_reco_rows_sort(SegRecoRows *st);
extern void seg_reco_check_feature_range(const double *x, int64 n, int d, const char *fname);
extern void seg_reco_check_model_finite(const double *v, Size n, const char *fname);
extern void seg_reco_options_parse(SegRecoRows *st, int kinds, SegRecoOptions *opt);
extern void seg_reco_transform_fit(double *x, int64 n, int d, const SegRecoOptions *opt,
								   SegRecoTransform *tf, const char *fname);
extern void seg_reco_transform_row(const SegRecoTransform *tf, const double *in, double *out);
extern void seg_reco_check_k(int k, int64 n, const char *fname);
extern void seg_reco_check_memory(int64 n, int64 per_row, const char *fname);
extern const double *seg_reco_features_arg(ArrayType *arr, int d, const char *what);

/* JSON text helpers */
extern void seg_reco_json_double(StringInfo buf, double v);
extern void seg_reco_json_doubles(StringInfo buf, const double *v, int n);
extern JsonbContainer *seg_reco_json_parse(const char *str, const char *type);
extern double seg_reco_json_number(JsonbContainer *c, const char *key, const char *type);
extern int	seg_reco_json_int(JsonbContainer *c, const char *key, double lo, double hi,
							  const char *type);
extern bool seg_reco_json_bool(JsonbContainer *c, const char *key, const char *type);
extern void seg_reco_json_number_array(JsonbContainer *c, const char *key, double *out,
									   int n, const char *type);
extern JsonbContainer *seg_reco_json_object(JsonbContainer *c, const char *key, const char *type);
extern void seg_reco_json_bad(const char *type, const char *why) pg_attribute_noreturn();

/* model log1p column list in the text form: [1, 3] (1-based) */
extern void seg_reco_json_log1p(StringInfo buf, const double *log1p, int d);
extern void seg_reco_json_read_log1p(JsonbContainer *c, double *log1p, int d, const char *type);

/* error: a parameter of the aggregate differs between rows */
extern void seg_reco_rows_args_differ(SegRecoRows *st, const char *what) pg_attribute_noreturn();

#endif							/* SEG_RECO_CLUSTERING_H */
