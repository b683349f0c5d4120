/*
 * clustering.c
 *      What the clustering aggregates share (kmeans.c, gmm.c, silhouette.c,
 *      select_k.c): the checks on k, size and feature arrays, the
 *      row-collecting transition function, the training options, feature
 *      preparation, and JSON helpers for the models' text form.
 *
 * The aggregates collect the rows in a compact n x d buffer (internal
 * state, in the aggregate context; memory.c grows it without copying) and
 * train in their final functions, which first sort the rows into an order
 * that depends only on the rows (seg_reco_rows_sort), so that results do
 * not depend on the order rows arrive in.  Feature preparation (stored with
 * each model, applied by assignment) is log1p on chosen columns, then
 * optional z-scores (population std; a constant column keeps scale 1).
 *
 * Rows whose features array is NULL are skipped; a NULL, NaN or infinite
 * element is an error (the caller decides how to repair such rows), and so
 * is a feature beyond +-1e100 after log1p, whose squared distances overflow.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "clustering.h"
#include "guards.h"
#include "hash64.h"
#include "memory.h"

/* ======================================================================
 * Limits, checks, row collection
 * ====================================================================== */

void
seg_reco_check_memory(int64 n, int64 per_row, const char *fname)
{
	if (per_row > 0 && n > SEG_RECO_CLUSTER_MAX_VALUES / per_row)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s input is too large: %lld rows of %lld values", fname,
						(long long) n, (long long) per_row),
				 errdetail("Training holds at most %lld values (rows x features) in memory.",
						   (long long) SEG_RECO_CLUSTER_MAX_VALUES),
				 errhint("Train on a sample, e.g. with TABLESAMPLE or ORDER BY random() LIMIT, and assign the rest.")));
}

void
seg_reco_check_k(int k, int64 n, const char *fname)
{
	if (k < 1 || k > SEG_RECO_CLUSTER_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k must be between 1 and %d, got %d", fname, SEG_RECO_CLUSTER_MAX_K, k),
				 errhint("Ask for at least one cluster.")));
	if ((int64) k > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k = %d is greater than the number of distinct points", fname, k),
				 errdetail("The input has %lld rows.", (long long) n),
				 errhint("Use a smaller k.")));
}

/*
 * The float8 values of a features array, checked: one dimension, no NULL,
 * finite, and d elements when d > 0.
 */
const double *
seg_reco_features_arg(ArrayType *arr, int d, const char *what)
{
	int			nelem = seg_reco_float8_array_len(arr, what);
	const double *v;

	if (nelem == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must not be empty", what)));
	if (nelem > SEG_RECO_CLUSTER_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d elements, more than the limit of %d", what, nelem,
						SEG_RECO_CLUSTER_MAX_DIM)));
	if (d > 0 && nelem != d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s has %d elements, expected %d", what, nelem, d),
				 errdetail("Every row must have as many features as the first row (or the model)."),
				 errhint("Check the query that builds the feature arrays.")));
	seg_reco_check_no_nulls(arr, what);
	v = (const double *) ARR_DATA_PTR(arr);
	seg_reco_check_finite_array(v, nelem, what);
	return v;
}

void
seg_reco_rows_args_differ(SegRecoRows *st, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: %s must be the same in every row", st->fname, what),
			 errdetail("The aggregate computes one result from all its rows, so its parameters cannot change from row to row; "
					   "taking the first row's would make the result depend on the order rows arrive in."),
			 errhint("Pass constants (or one value per GROUP BY group).")));
}

/*
 * The parameters of a row after the first must equal the first row's: the
 * model must not depend on which row came first.  Options are compared as
 * jsonb values (equal objects with keys in another order are equal).
 */
static void
rows_check_same_args(FunctionCallInfo fcinfo, SegRecoRows *st,
					 int nint_args, bool has_options, bool has_label)
{
	int			argi = has_label ? 3 : 2;

	if (nint_args >= 1 && (PG_ARGISNULL(argi) || PG_GETARG_INT32(argi) != st->arg1))
		seg_reco_rows_args_differ(st, psprintf("parameter %d", argi));
	if (nint_args >= 2 && (PG_ARGISNULL(argi + 1) || PG_GETARG_INT32(argi + 1) != st->arg2))
		seg_reco_rows_args_differ(st, psprintf("parameter %d", argi + 1));
	if (has_options)
	{
		bool		isnull = PG_ARGISNULL(argi + nint_args);

		if (isnull != (st->options == NULL))
			seg_reco_rows_args_differ(st, "the options");
		if (!isnull)
		{
			Jsonb	   *jb = PG_GETARG_JSONB_P(argi + nint_args);

			if ((VARSIZE(jb) != VARSIZE(st->options) ||
				 memcmp(jb, st->options, VARSIZE(jb)) != 0) &&
				!DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(jb),
												  JsonbPGetDatum(st->options))))
				seg_reco_rows_args_differ(st, "the options");
		}
	}
}

/*
 * Transition: append one row.  Arguments after the state: features, then
 * nint_args int4 arguments (or, with has_label, the int4 label first), then
 * optionally jsonb options.  Rows with NULL features (or NULL label) are
 * skipped.  The parameters are read from the first row; every later row
 * must have the same (rows_check_same_args).
 */
SegRecoRows *
seg_reco_rows_collect(FunctionCallInfo fcinfo, const char *fname,
					  int nint_args, bool has_options, bool has_label)
{
	MemoryContext aggcxt = seg_reco_agg_context(fcinfo, fname, "transition");
	SegRecoRows *st;
	ArrayType  *arr;
	const double *v;
	int			argi;

	if (PG_ARGISNULL(0))
	{
		st = (SegRecoRows *) MemoryContextAllocZero(aggcxt, sizeof(SegRecoRows));
		st->cxt = aggcxt;
		st->fname = fname;
	}
	else
		st = (SegRecoRows *) PG_GETARG_POINTER(0);

	if (!st->args_set)
	{
		argi = has_label ? 3 : 2;
		if (nint_args >= 1)
		{
			if (PG_ARGISNULL(argi))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s: parameter %d must not be NULL", fname, argi)));
			st->arg1 = PG_GETARG_INT32(argi);
		}
		if (nint_args >= 2)
		{
			if (PG_ARGISNULL(argi + 1))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s: parameter %d must not be NULL", fname, argi + 1)));
			st->arg2 = PG_GETARG_INT32(argi + 1);
		}
		if (has_options && !PG_ARGISNULL(argi + nint_args))
		{
			Jsonb	   *jb = PG_GETARG_JSONB_P(argi + nint_args);

			st->options = (Jsonb *) MemoryContextAlloc(aggcxt, VARSIZE(jb));
			memcpy(st->options, jb, VARSIZE(jb));
		}
		st->args_set = true;
	}
	else
		rows_check_same_args(fcinfo, st, nint_args, has_options, has_label);

	if (PG_ARGISNULL(1) || (has_label && PG_ARGISNULL(2)))
		return st;

	arr = PG_GETARG_ARRAYTYPE_P(1);
	v = seg_reco_features_arg(arr, st->d, "features");
	if (st->d == 0)
		st->d = ARR_DIMS(arr)[0];

	if (st->n == st->cap)
	{
		int64		newcap = st->cap == 0 ? 1024 : st->cap * 2;
		int64		maxrows = SEG_RECO_CLUSTER_MAX_VALUES / st->d;

		if (st->n >= maxrows)
			seg_reco_check_memory(st->n + 1, st->d, fname);
		newcap = Min(newcap, maxrows);
		st->x = seg_reco_grow_buffer(aggcxt, &st->xmap, st->x, sizeof(double) * st->n * st->d,
							sizeof(double) * newcap * st->d);
		if (has_label)
			st->labels = seg_reco_grow_buffer(aggcxt, &st->lmap, st->labels, sizeof(int32) * st->n,
									 sizeof(int32) * newcap);
		st->cap = newcap;
	}
	memcpy(st->x + st->n * st->d, v, sizeof(double) * st->d);
	if (has_label)
		st->labels[st->n] = PG_GETARG_INT32(2);
	st->n++;
	return st;
}

/*
 * The state in a final function: an error outside an aggregate, or when
 * no row had features.
 */
SegRecoRows *
seg_reco_rows_final(FunctionCallInfo fcinfo, const char *fname)
{
	SegRecoRows *st;

	(void) seg_reco_agg_context(fcinfo, fname, "final");
	st = PG_ARGISNULL(0) ? NULL : (SegRecoRows *) PG_GETARG_POINTER(0);
	if (st == NULL || st->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("%s needs at least one row with features", fname),
				 errdetail("The input was empty or every features array was NULL."),
				 errhint("Check the query that feeds the aggregate.")));
	return st;
}

/* ======================================================================
 * A total order on the rows
 * ====================================================================== */

/*
 * The rows are put in an order that depends only on the rows themselves:
 * by a 64-bit hash of their bits (features, then label), ties (identical
 * rows, or the rare collision) broken lexicographically on the features
 * (-0 before +0; NaN never gets here), then on the label.  Rows that
 * compare equal are identical, so the same rows in any order end up in the
 * same order.  The hash makes almost every comparison one of two integers
 * however many features or ties in a column the rows have.
 */
typedef struct SegRecoRowKey
{
	uint64		hash;
	int64		row;
} SegRecoRowKey;

typedef struct RowOrder
{
	const double *x;
	const int32 *labels;		/* or NULL */
	int			d;
} RowOrder;

static inline int
row_cmp_full(const SegRecoRowKey *a, const SegRecoRowKey *b, const RowOrder *o)
{
	const double *ra,
			   *rb;
	int			j;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	ra = o->x + a->row * o->d;
	rb = o->x + b->row * o->d;
	for (j = 0; j < o->d; j++)
	{
		if (ra[j] < rb[j])
			return -1;
		if (ra[j] > rb[j])
			return 1;
		if (unlikely(signbit(ra[j]) != signbit(rb[j])))
			return signbit(ra[j]) ? -1 : 1;
	}
	if (o->labels && o->labels[a->row] != o->labels[b->row])
		return o->labels[a->row] < o->labels[b->row] ? -1 : 1;
	/* identical rows: either order gives the same result */
	return (a->row > b->row) - (a->row < b->row);
}

#define ST_SORT sort_row_keys
#define ST_ELEMENT_TYPE SegRecoRowKey
#define ST_COMPARE(a, b, arg) row_cmp_full(a, b, arg)
#define ST_COMPARE_ARG_TYPE const RowOrder
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The row keys of st in the order above.  The hashes are uniform: the keys
 * go into about n / 4 buckets by their top bits, then each bucket (a few
 * keys) is sorted by comparison.
 */
static SegRecoRowKey *
rows_sorted_keys(const SegRecoRows *st, const RowOrder *o)
{
	int64		n = st->n,
				i,
				nb,
				b;
	int			d = st->d,
				j,
				bits = 1;
	SegRecoRowKey *keys = seg_reco_alloc_huge(sizeof(SegRecoRowKey) * n);
	SegRecoRowKey *sorted = seg_reco_alloc_huge(sizeof(SegRecoRowKey) * n);
	int64	   *start;

	for (i = 0; i < n; i++)
	{
		const uint64 *bits64 = (const uint64 *) (st->x + i * d);
		uint64		h = UINT64CONST(0x9e3779b97f4a7c15);

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		for (j = 0; j < d; j++)
			h = seg_reco_mix64(h ^ bits64[j]);
		if (st->labels)
			h = seg_reco_mix64(h ^ (uint64) (uint32) st->labels[i]);
		keys[i].hash = h;
		keys[i].row = i;
	}

	while (bits < 22 && ((int64) 1 << (bits + 2)) < n)
		bits++;
	nb = (int64) 1 << bits;
	start = seg_reco_alloc_huge(sizeof(int64) * (nb + 1));
	memset(start, 0, sizeof(int64) * (nb + 1));
	for (i = 0; i < n; i++)
		start[(keys[i].hash >> (64 - bits)) + 1]++;
	for (b = 0; b < nb; b++)
		start[b + 1] += start[b];
	for (i = 0; i < n; i++)
		sorted[start[keys[i].hash >> (64 - bits)]++] = keys[i];
	/* start[b] is now the end of bucket b */
	for (b = 0; b < nb; b++)
	{
		int64		b0 = b == 0 ? 0 : start[b - 1];

		if (start[b] - b0 > 1)
			sort_row_keys(sorted + b0, (size_t) (start[b] - b0), o);
	}
	pfree(start);
	pfree(keys);
	return sorted;
}

/* rows up to this size are reordered through a copy, larger ones in place */
#define ROWS_SORT_COPY_MAX ((Size) 256 * 1024 * 1024)

/* position i takes row keys[i].row: through a copy (independent reads) */
static void
rows_permute_copy(SegRecoRows *st, const SegRecoRowKey *keys)
{
	int64		n = st->n,
				i;
	int			d = st->d;
	double	   *copy = seg_reco_alloc_huge(sizeof(double) * n * d);
	int32	   *lcopy = st->labels ? seg_reco_alloc_huge(sizeof(int32) * n) : NULL;

	for (i = 0; i < n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
#ifdef __GNUC__
		if (i + 16 < n)
			__builtin_prefetch(st->x + keys[i + 16].row * d);
#endif
		memcpy(copy + i * d, st->x + keys[i].row * d, sizeof(double) * d);
		if (lcopy)
			lcopy[i] = st->labels[keys[i].row];
	}
	memcpy(st->x, copy, sizeof(double) * n * d);
	pfree(copy);
	if (lcopy)
	{
		memcpy(st->labels, lcopy, sizeof(int32) * n);
		pfree(lcopy);
	}
}

/*
 * The same in place, cycle by cycle (one row of scratch); a position done
 * gets keys[i].row = i.
 */
static void
rows_permute_inplace(SegRecoRows *st, SegRecoRowKey *keys)
{
	int64		n = st->n,
				i;
	int			d = st->d;
	double	   *row = palloc(sizeof(double) * d);

	for (i = 0; i < n; i++)
	{
		int64		cur = i;
		int32		lab = 0;

		if (keys[i].row == i)
			continue;
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(row, st->x + i * d, sizeof(double) * d);
		if (st->labels)
			lab = st->labels[i];
		while (keys[cur].row != i)
		{
			int64		src = keys[cur].row;

			memcpy(st->x + cur * d, st->x + src * d, sizeof(double) * d);
			if (st->labels)
				st->labels[cur] = st->labels[src];
			keys[cur].row = cur;
			cur = src;
		}
		memcpy(st->x + cur * d, row, sizeof(double) * d);
		if (st->labels)
			st->labels[cur] = lab;
		keys[cur].row = cur;
	}
	pfree(row);
}

/*
 * Sort the collected rows (and their labels) into the order above, in
 * place, so that training, seeding and sampling see the same rows in the
 * same order whatever order they arrived in (another plan, a parallel
 * scan, another node).  1 M rows of 8 features take 0.1 to 0.3 s.
 */
void
seg_reco_rows_sort(SegRecoRows *st)
{
	RowOrder	o;
	SegRecoRowKey *keys;

	if (st->n < 2)
		return;
	o.x = st->x;
	o.labels = st->labels;
	o.d = st->d;
	keys = rows_sorted_keys(st, &o);
	if ((Size) st->n * st->d * sizeof(double) <= ROWS_SORT_COPY_MAX)
		rows_permute_copy(st, keys);
	else
		rows_permute_inplace(st, keys);
	pfree(keys);
}

/*
 * Features must stay within +-SEG_RECO_FEATURE_MAX, so that sums of
 * squared distances over every row stay finite (n x d x (2 x 1e100)^2 is
 * far below the largest double).
 */
void
seg_reco_check_feature_range(const double *x, int64 n, int d, const char *fname)
{
	int64		i;
	int			j;

	for (i = 0; i < n; i++)
	{
		const double *r = x + i * d;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		for (j = 0; j < d; j++)
			if (unlikely(fabs(r[j]) > SEG_RECO_FEATURE_MAX))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("%s: feature %d is %g, outside the range of -1e100 to 1e100", fname, j + 1, r[j]),
						 errdetail("Squared distances between such values overflow double precision."),
						 errhint("Rescale the column (e.g. divide it by a power of ten) or ask for log1p on it.")));
	}
}

/*
 * A trained model's numbers must be finite (its text form could not be read
 * back otherwise); the checks on the features make this hold, this states it.
 */
void
seg_reco_check_model_finite(const double *v, Size n, const char *fname)
{
	Size		i;

	for (i = 0; i < n; i++)
		if (unlikely(!isfinite(v[i])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s: the trained model holds a value out of the range of double precision", fname),
					 errhint("Standardize the features or rescale them.")));
}

/* ======================================================================
 * Options
 * ====================================================================== */

/* Parse st->options into opt; kind-specific defaults must be set by the caller. */
void
seg_reco_options_parse(SegRecoRows *st, int kinds, SegRecoOptions *opt)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *key;
	const char *allowed;

	if (kinds & SEG_RECO_OPT_GMM)
		allowed = "n_init, max_iter, tol, seed, standardize, log1p, covariance_type, reg_covar";
	else if (kinds & SEG_RECO_OPT_SELECT)
		allowed = "n_init, max_iter, tol, seed, standardize, log1p, sample_size";
	else
		allowed = "n_init, max_iter, tol, seed, standardize, log1p";

	if (st->options == NULL)
		return;
	it = seg_reco_options_begin(st->options, st->fname, allowed);
	while (seg_reco_options_next(&it, &key, &v))
	{
		if (strcmp(key, "n_init") == 0)
			opt->n_init = (int) seg_reco_opt_int(&v, key, 1, 1000);
		else if (strcmp(key, "max_iter") == 0)
			opt->max_iter = (int) seg_reco_opt_int(&v, key, 1, 100000);
		else if (strcmp(key, "tol") == 0)
			opt->tol = seg_reco_opt_nonneg(&v, key);
		else if (strcmp(key, "seed") == 0)
			opt->seed = seg_reco_opt_int(&v, key, -((int64) 1 << 53), (int64) 1 << 53);
		else if (strcmp(key, "standardize") == 0)
			opt->standardize = seg_reco_opt_bool(&v, key);
		else if (strcmp(key, "log1p") == 0)
		{
			JsonbContainer *c;
			int			i,
						n;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				seg_reco_opt_bad(key, "Expected an array of 1-based column numbers.");
			c = v.val.binary.data;
			n = JsonContainerSize(c);
			opt->log1p = palloc0(sizeof(bool) * st->d);
			for (i = 0; i < n; i++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(c, i);
				int64		col = seg_reco_opt_int(e, key, 1, st->d);

				opt->log1p[col - 1] = true;
			}
			opt->nlog1p = n;
		}
		else if ((kinds & SEG_RECO_OPT_GMM) && strcmp(key, "covariance_type") == 0)
		{
			char	   *s;

			if (v.type != jbvString)
				seg_reco_opt_bad(key, "Expected \"full\" or \"diag\".");
			s = pnstrdup(v.val.string.val, v.val.string.len);
			if (strcmp(s, "full") == 0)
				opt->diag = false;
			else if (strcmp(s, "diag") == 0)
				opt->diag = true;
			else
				seg_reco_opt_bad(key, "Expected \"full\" or \"diag\".");
		}
		else if ((kinds & SEG_RECO_OPT_GMM) && strcmp(key, "reg_covar") == 0)
			opt->reg_covar = seg_reco_opt_nonneg(&v, key);
		else if ((kinds & SEG_RECO_OPT_SELECT) && strcmp(key, "sample_size") == 0)
			opt->sample_size = (int) seg_reco_opt_int(&v, key, 2, 1000000);
		else
			seg_reco_opt_unknown(st->fname, key, allowed);
	}
}

/* ======================================================================
 * Feature preparation
 * ====================================================================== */

static inline double
tf_log1p(double v, int col)
{
	if (unlikely(!(v > -1.0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature %d is %g, but log1p needs values greater than -1", col + 1, v),
				 errhint("Do not ask for log1p on columns that can be -1 or below.")));
	return log1p(v);
}

/* Fit the transform on x and apply it to x in place. */
void
seg_reco_transform_fit(double *x, int64 n, int d, const SegRecoOptions *opt, SegRecoTransform *tf,
					   const char *fname)
{
	int64		i;
	int			j;

	tf->d = d;
	tf->mean = palloc0(sizeof(double) * d);
	tf->scale = palloc(sizeof(double) * d);
	tf->log1p = palloc0(sizeof(double) * d);
	for (j = 0; j < d; j++)
	{
		tf->scale[j] = 1.0;
		if (opt->log1p && opt->log1p[j])
			tf->log1p[j] = 1.0;
	}
	if (opt->nlog1p > 0)
	{
		for (i = 0; i < n; i++)
		{
			double	   *r = x + i * d;

			if ((i & 65535) == 0)
				CHECK_FOR_INTERRUPTS();
			for (j = 0; j < d; j++)
				if (tf->log1p[j] != 0.0)
					r[j] = tf_log1p(r[j], j);
		}
	}
	/* z-scores lie within +-sqrt(n), so the range matters before them */
	seg_reco_check_feature_range(x, n, d, fname);
	if (opt->standardize)
	{
		double	   *ss = palloc0(sizeof(double) * d);

		for (i = 0; i < n; i++)
			for (j = 0; j < d; j++)
				tf->mean[j] += x[i * d + j];
		for (j = 0; j < d; j++)
			tf->mean[j] /= (double) n;
		for (i = 0; i < n; i++)
		{
			if ((i & 65535) == 0)
				CHECK_FOR_INTERRUPTS();
			for (j = 0; j < d; j++)
			{
				double		c = x[i * d + j] - tf->mean[j];

				ss[j] += c * c;
			}
		}
		for (j = 0; j < d; j++)
		{
			double		sd = sqrt(ss[j] / (double) n);

			tf->scale[j] = (sd > 0.0 && isfinite(sd)) ? sd : 1.0;
		}
		for (i = 0; i < n; i++)
			for (j = 0; j < d; j++)
				x[i * d + j] = (x[i * d + j] - tf->mean[j]) / tf->scale[j];
		pfree(ss);
	}
}

void
seg_reco_transform_row(const SegRecoTransform *tf, const double *in, double *out)
{
	int			j;

	for (j = 0; j < tf->d; j++)
	{
		double		v = in[j];

		if (tf->log1p[j] != 0.0)
			v = tf_log1p(v, j);
		out[j] = (v - tf->mean[j]) / tf->scale[j];
		if (unlikely(!isfinite(out[j])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature %d is %g, out of range for the model's feature preparation", j + 1, in[j]),
					 errdetail("Centring and scaling it overflows double precision."),
					 errhint("Filter out or repair rows with such values.")));
	}
}

/* ======================================================================
 * JSON text helpers
 * ====================================================================== */

void
seg_reco_json_double(StringInfo buf, double v)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isnan(v) || isinf(v))
	{
		/* cannot happen for a trained model; keep the text valid JSON */
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, tmp);
	appendStringInfoString(buf, tmp);
}

void
seg_reco_json_doubles(StringInfo buf, const double *v, int n)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < n; i++)
	{
		if (i)
			appendStringInfoString(buf, ", ");
		seg_reco_json_double(buf, v[i]);
	}
	appendStringInfoChar(buf, ']');
}

void
seg_reco_json_log1p(StringInfo buf, const double *log1p, int d)
{
	int			j;
	bool		first = true;

	appendStringInfoChar(buf, '[');
	for (j = 0; j < d; j++)
		if (log1p[j] != 0.0)
		{
			appendStringInfo(buf, first ? "%d" : ", %d", j + 1);
			first = false;
		}
	appendStringInfoChar(buf, ']');
}

void
seg_reco_json_bad(const char *type, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s", type),
			 errdetail("%s", why)));
}

JsonbContainer *
seg_reco_json_parse(const char *str, const char *type)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		seg_reco_json_bad(type, "Expected a JSON object.");
	return &jb->root;
}

static JsonbValue *
json_get(JsonbContainer *c, const char *key, const char *type)
{
	JsonbValue *v = getKeyJsonValueFromContainer(c, key, strlen(key), NULL);

	if (v == NULL)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "Missing key \"%s\".", key);
		seg_reco_json_bad(type, msg);
	}
	return v;
}

static double
json_value_number(JsonbValue *v, const char *key, const char *type)
{
	double		x;

	if (v->type != jbvNumeric)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "\"%s\" must hold numbers.", key);
		seg_reco_json_bad(type, msg);
	}
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (isinf(x))
		seg_reco_json_bad(type, "Numbers must be finite.");
	return x;
}

double
seg_reco_json_number(JsonbContainer *c, const char *key, const char *type)
{
	return json_value_number(json_get(c, key, type), key, type);
}

int
seg_reco_json_int(JsonbContainer *c, const char *key, double lo, double hi, const char *type)
{
	double		v = seg_reco_json_number(c, key, type);

	if (v != floor(v) || v < lo || v > hi)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "\"%s\" must be an integer between %.0f and %.0f.", key, lo, hi);
		seg_reco_json_bad(type, msg);
	}
	return (int) v;
}

bool
seg_reco_json_bool(JsonbContainer *c, const char *key, const char *type)
{
	JsonbValue *v = json_get(c, key, type);

	if (v->type != jbvBool)
		seg_reco_json_bad(type, "Expected true or false.");
	return v->val.boolean;
}

JsonbContainer *
seg_reco_json_object(JsonbContainer *c, const char *key, const char *type)
{
	JsonbValue *v = json_get(c, key, type);

	if (v->type != jbvBinary || JsonContainerIsArray(v->val.binary.data))
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "\"%s\" must be an object.", key);
		seg_reco_json_bad(type, msg);
	}
	return v->val.binary.data;
}

/* n numbers from key: a flat array, or an array of arrays read row by row */
void
seg_reco_json_number_array(JsonbContainer *c, const char *key, double *out, int n, const char *type)
{
	JsonbValue *v = json_get(c, key, type);
	JsonbContainer *a;
	int			i,
				got = 0,
				len;
	char		msg[128];

	snprintf(msg, sizeof(msg), "\"%s\" must be an array of %d numbers.", key, n);
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		seg_reco_json_bad(type, msg);
	a = v->val.binary.data;
	len = JsonContainerSize(a);
	for (i = 0; i < len; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(a, i);

		if (e->type == jbvBinary && JsonContainerIsArray(e->val.binary.data))
		{
			JsonbContainer *row = e->val.binary.data;
			int			m = JsonContainerSize(row),
						j;

			for (j = 0; j < m; j++)
			{
				if (got >= n)
					seg_reco_json_bad(type, msg);
				out[got++] = json_value_number(getIthJsonbValueFromContainer(row, j), key, type);
			}
		}
		else
		{
			if (got >= n)
				seg_reco_json_bad(type, msg);
			out[got++] = json_value_number(e, key, type);
		}
	}
	if (got != n)
		seg_reco_json_bad(type, msg);
}

void
seg_reco_json_read_log1p(JsonbContainer *c, double *log1p, int d, const char *type)
{
	JsonbValue *v = json_get(c, "log1p", type);
	JsonbContainer *a;
	int			i;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		seg_reco_json_bad(type, "\"log1p\" must be an array of column numbers.");
	a = v->val.binary.data;
	memset(log1p, 0, sizeof(double) * d);
	for (i = 0; i < (int) JsonContainerSize(a); i++)
	{
		double		col = json_value_number(getIthJsonbValueFromContainer(a, i), "log1p", type);

		if (col != floor(col) || col < 1 || col > d)
			seg_reco_json_bad(type, "\"log1p\" column numbers must lie between 1 and d.");
		log1p[(int) col - 1] = 1.0;
	}
}
