/*
 * recommend.c
 *      Serving an ALS model: top-k for one customer (with fold-in and a
 *      popularity fallback), explanations, similar products, and top-n for
 *      every customer in blocks.
 *
 * All functions read the model through the per-backend cache of
 * model_store.c (product factors, Y^T Y + reg I, popularity order), which
 * checks the model's version on every call.
 *
 * recommend_for: a customer with stored factors is scored with them.  A
 * customer without factors (new since training) whose history in the
 * model's source holds products the model knows is folded in: their factors
 * are solved exactly from that history with the model's product factors,
 * the same system training solves (implicit's recalculate_user).  Anyone
 * else gets the most popular products (share of training customers who
 * bought them), with the same filters.  Scores are x_u . y_i.
 *
 * Filters: candidates (only these products), category (products of that
 * category in seg_reco.products), include_purchased => false (drop products
 * the customer bought in the model's source), only_active (drop products
 * marked inactive in seg_reco.products; products missing from it are kept).
 * Activity is checked for the best few only, widening until k survive, so a
 * call costs a handful of index lookups rather than a catalogue scan.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "als.h"
#include "guards.h"
#include "linalg.h"
#include "model_store.h"

#define MAX_K 100000

PG_FUNCTION_INFO_V1(seg_reco_recommend_for);
PG_FUNCTION_INFO_V1(seg_reco_why_recommended);
PG_FUNCTION_INFO_V1(seg_reco_similar_products);
PG_FUNCTION_INFO_V1(seg_reco_recommend_all);

static SPIPlanPtr plan_inactive_of = NULL;
static SPIPlanPtr plan_category = NULL;
static SPIPlanPtr plan_inactive_all = NULL;

static SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

#define ARG_NOT_NULL(i, what) \
	do { \
		if (PG_ARGISNULL(i)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be NULL", what), \
					 errhint("Omit the argument to use its default."))); \
	} while (0)

static void
check_k(int k, const char *what)
{
	if (k < 1 || k > MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d, got %d", what, MAX_K, k),
				 errhint("Ask for 10 or so.")));
}

static ArrayType *
int8_array(const int64 *v, int n)
{
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * (Size) n;
	ArrayType  *a = (ArrayType *) palloc0(bytes);

	SET_VARSIZE(a, bytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = INT8OID;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	if (n > 0)
		memcpy(ARR_DATA_PTR(a), v, sizeof(int64) * (Size) n);
	return a;
}

/*
 * The customer's history in the model's source, as product indexes of the
 * model (products the model does not know are left out).  Returns the count.
 */
static int
customer_history(const SegRecoAlsModel *m, int64 customer_id,
				 int32 **idx, double **w, bool **purchased)
{
	SegRecoPairs pairs;
	int64		k;
	int			n = 0;

	seg_reco_als_read_pairs(m->query, true, customer_id, m->custom_source, &pairs);
	*idx = palloc(sizeof(int32) * Max(pairs.n, 1));
	*w = palloc(sizeof(double) * Max(pairs.n, 1));
	*purchased = palloc(sizeof(bool) * Max(pairs.n, 1));
	for (k = 0; k < pairs.n; k++)
	{
		int			j = seg_reco_als_product_index(m, pairs.product_id[k]);

		if (j < 0)
			continue;
		(*idx)[n] = j;
		(*w)[n] = pairs.weight[k];
		(*purchased)[n] = pairs.purchased[k];
		n++;
	}
	return n;
}

/*
 * Cholesky factor L of the customer's system and b, from a history.
 * Errors (with the remedy) when the system is not positive definite.
 */
static void
customer_system(const SegRecoAlsModel *m, const int32 *idx, const double *w, int n,
				double *a, double *b)
{
	seg_reco_als_user_system(m->y, m->d, m->yty_reg, idx, w, n, m->alpha, a, b);
	if (!seg_reco_cholesky(a, m->d))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot fold in the customer: the least-squares system of model \"%s\" is singular",
						m->name),
				 errdetail("The model was trained with regularization %g.", m->regularization),
				 errhint("Retrain the model with a positive regularization, for example 0.01.")));
}

/* fold-in: x := the customer's factors solved exactly from the history */
static void
fold_in(const SegRecoAlsModel *m, const int32 *idx, const double *w, int n, double *x)
{
	double	   *a = palloc(sizeof(double) * m->d * m->d);

	customer_system(m, idx, w, n, a, x);
	seg_reco_chol_solve(a, m->d, x);
	pfree(a);
}

/*
 * Drop from allowed[] the products among ids[0..n-1] (indexes into the
 * model) that seg_reco.products marks inactive.  Returns how many it dropped.
 */
static int
drop_inactive(const SegRecoAlsModel *m, const int32 *cand, int n, bool *allowed)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	int			i,
				dropped = 0;
	uint64		r;
	int			rc;

	for (i = 0; i < n; i++)
		ids[i] = m->product_id[cand[i]];
	values[0] = PointerGetDatum(int8_array(ids, n));
	rc = SPI_execute_plan(keep_plan(&plan_inactive_of,
									"SELECT p.product_id FROM seg_reco.products p "
									"WHERE p.product_id OPERATOR(pg_catalog.=) ANY ($1) AND NOT p.active",
									1, types),
						  values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(rc));
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		pid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int			j = isnull ? -1 : seg_reco_als_product_index(m, pid);

		if (j >= 0 && allowed[j])
		{
			allowed[j] = false;
			dropped++;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(ids);
	pfree(DatumGetPointer(values[0]));
	return dropped;
}

/*
 * Best k of scores among allowed products, skipping inactive ones when
 * only_active: checks the best k + 16, then twice as many, ... until k
 * active ones are found or none are left.  out gets up to k indexes.
 */
static int
top_k_filtered(const SegRecoAlsModel *m, const double *scores, bool *allowed, int k,
			   bool only_active, int32 *out)
{
	int			want = k;
	int32	   *buf;
	int			got;

	if (!only_active)
		return seg_reco_topk(scores, allowed, m->n_products, k, out);
	want = Min(k + 16, m->n_products);
	buf = palloc(sizeof(int32) * m->n_products);
	for (;;)
	{
		int			dropped;

		CHECK_FOR_INTERRUPTS();
		got = seg_reco_topk(scores, allowed, m->n_products, want, buf);
		dropped = drop_inactive(m, buf, got, allowed);
		if (got - dropped >= k || got < want)
			break;
		want = Min(want * 2, m->n_products);
	}
	/* the survivors, in order */
	{
		int			i,
					n = 0;

		for (i = 0; i < got && n < k; i++)
			if (allowed[buf[i]])
				out[n++] = buf[i];
		pfree(buf);
		return n;
	}
}

/* allowed[j] &= product j is in category (and active when only_active) */
static void
restrict_to_category(const SegRecoAlsModel *m, const char *category, bool only_active,
					 bool *allowed)
{
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];
	bool	   *in = palloc0(sizeof(bool) * m->n_products);
	uint64		r;
	int			j,
				rc;

	values[0] = CStringGetTextDatum(category);
	values[1] = BoolGetDatum(only_active);
	rc = SPI_execute_plan(keep_plan(&plan_category,
									"SELECT p.product_id FROM seg_reco.products p "
									"WHERE p.category OPERATOR(pg_catalog.=) $1 AND (p.active OR NOT $2)",
									2, types),
						  values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(rc));
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		pid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));

		j = isnull ? -1 : seg_reco_als_product_index(m, pid);
		if (j >= 0)
			in[j] = true;
	}
	SPI_freetuptable(SPI_tuptable);
	for (j = 0; j < m->n_products; j++)
		allowed[j] = allowed[j] && in[j];
	pfree(in);
}

/* scores[j] = x . y_j for allowed products */
static void
score_all(const SegRecoAlsModel *m, const double *x, const bool *allowed, double *scores)
{
	int			j;

	for (j = 0; j < m->n_products; j++)
		scores[j] = allowed[j] ? seg_reco_dot(x, m->y + (Size) j * m->d, m->d) : 0.0;
}

/*
 * seg_reco.recommend_for(customer_id bigint, k int, include_purchased bool,
 *     category text, candidates bigint[], only_active bool, model text)
 * RETURNS TABLE(product_id bigint, score float8, rank int)
 */
Datum
seg_reco_recommend_for(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		customer_id;
	int			k;
	bool		include_purchased,
				only_active;
	char	   *category = NULL;
	ArrayType  *candidates = NULL;
	char	   *model;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	double	   *x,
			   *scores;
	bool	   *allowed;
	bool		known,
				popular = false;
	int32	   *hidx = NULL;
	double	   *hw = NULL;
	bool	   *hbought = NULL;
	int			hn = 0,
				n,
				i;
	int32	   *out;

	ARG_NOT_NULL(0, "customer_id");
	ARG_NOT_NULL(1, "k");
	ARG_NOT_NULL(2, "include_purchased");
	ARG_NOT_NULL(5, "only_active");
	ARG_NOT_NULL(6, "model");
	customer_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	include_purchased = PG_GETARG_BOOL(2);
	if (!PG_ARGISNULL(3))
		category = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
		candidates = PG_GETARG_ARRAYTYPE_P(4);
	only_active = PG_GETARG_BOOL(5);
	model = text_to_cstring(PG_GETARG_TEXT_PP(6));
	check_k(k, "k");

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco recommend_for",
								 ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	m = seg_reco_als_model_get(model);
	x = palloc(sizeof(double) * m->d);
	known = seg_reco_als_customer_factors(m, customer_id, x);
	if (!known || !include_purchased)
		hn = customer_history(m, customer_id, &hidx, &hw, &hbought);
	if (!known)
	{
		if (hn > 0)
			fold_in(m, hidx, hw, hn, x);
		else
			popular = true;
	}

	allowed = palloc(sizeof(bool) * m->n_products);
	memset(allowed, candidates == NULL, sizeof(bool) * m->n_products);
	if (candidates != NULL)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			ne;

		if (ARR_NDIM(candidates) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("candidates must be a one-dimensional array of product ids")));
		deconstruct_array(candidates, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &nulls, &ne);
		for (i = 0; i < ne; i++)
		{
			int			j;

			if (nulls[i])
				continue;
			j = seg_reco_als_product_index(m, DatumGetInt64(elems[i]));
			if (j >= 0)
				allowed[j] = true;
		}
	}
	if (category != NULL)
		restrict_to_category(m, category, only_active, allowed);
	if (!include_purchased)
		for (i = 0; i < hn; i++)
			if (hbought[i])
				allowed[hidx[i]] = false;

	if (popular)
		scores = m->popularity;
	else
	{
		scores = palloc(sizeof(double) * m->n_products);
		score_all(m, x, allowed, scores);
	}
	out = palloc(sizeof(int32) * k);
	n = top_k_filtered(m, scores, allowed, Min(k, m->n_products),
					   only_active && category == NULL, out);

	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(m->product_id[out[i]]);
		values[1] = Float8GetDatum(scores[out[i]]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * seg_reco.why_recommended(customer_id bigint, product_id bigint, k int,
 *     model text) RETURNS TABLE(history_product_id bigint,
 *     contribution float8, rank int, purchased boolean)
 *
 * As implicit's explain: with A the customer's system (A x = b,
 * b = sum_i c_i y_i), the score x . y_j = sum_i c_i y_i^T A^{-1} y_j; each
 * product i of the history contributes c_i y_i . (A^{-1} y_j).  The
 * contributions sum to the folded-in score.
 */
Datum
seg_reco_why_recommended(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		customer_id,
				product_id;
	int			k;
	char	   *model;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	int32	   *hidx;
	double	   *hw;
	bool	   *hbought;
	int			hn,
				target,
				i,
				n = 0;
	double	   *contrib = NULL;
	int32	   *out = NULL;

	ARG_NOT_NULL(0, "customer_id");
	ARG_NOT_NULL(1, "product_id");
	ARG_NOT_NULL(2, "k");
	ARG_NOT_NULL(3, "model");
	customer_id = PG_GETARG_INT64(0);
	product_id = PG_GETARG_INT64(1);
	k = PG_GETARG_INT32(2);
	model = text_to_cstring(PG_GETARG_TEXT_PP(3));
	check_k(k, "k");

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco why_recommended",
								 ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	m = seg_reco_als_model_get(model);
	target = seg_reco_als_product_index(m, product_id);
	hn = customer_history(m, customer_id, &hidx, &hw, &hbought);
	if (target >= 0 && hn > 0)
	{
		double	   *a = palloc(sizeof(double) * m->d * m->d);
		double	   *b = palloc(sizeof(double) * m->d);
		double	   *v = palloc(sizeof(double) * m->d);
		bool	   *all = palloc(sizeof(bool) * hn);

		customer_system(m, hidx, hw, hn, a, b);
		memcpy(v, m->y + (Size) target * m->d, sizeof(double) * m->d);
		seg_reco_chol_solve(a, m->d, v);
		contrib = palloc(sizeof(double) * hn);
		for (i = 0; i < hn; i++)
		{
			contrib[i] = (1.0 + m->alpha * hw[i]) *
				seg_reco_dot(m->y + (Size) hidx[i] * m->d, v, m->d);
			all[i] = true;
		}
		out = palloc(sizeof(int32) * Min(k, hn));
		n = seg_reco_topk(contrib, all, hn, Min(k, hn), out);
	}

	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(m->product_id[hidx[out[i]]]);
		values[1] = Float8GetDatum(contrib[out[i]]);
		values[2] = Int32GetDatum(i + 1);
		values[3] = BoolGetDatum(hbought[out[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * seg_reco.similar_products(product_id bigint, k int, only_active bool,
 *     model text) RETURNS TABLE(similar_product_id bigint, similarity float8,
 *     rank int)
 * Cosine similarity of product factors; the product itself is left out.
 */
Datum
seg_reco_similar_products(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		product_id;
	int			k;
	bool		only_active;
	char	   *model;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	int			target,
				i,
				n = 0;
	double	   *sim = NULL;
	int32	   *out = NULL;

	ARG_NOT_NULL(0, "product_id");
	ARG_NOT_NULL(1, "k");
	ARG_NOT_NULL(2, "only_active");
	ARG_NOT_NULL(3, "model");
	product_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	only_active = PG_GETARG_BOOL(2);
	model = text_to_cstring(PG_GETARG_TEXT_PP(3));
	check_k(k, "k");

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco similar_products",
								 ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	m = seg_reco_als_model_get(model);
	target = seg_reco_als_product_index(m, product_id);
	if (target >= 0)
	{
		const double *yt = m->y + (Size) target * m->d;
		double		tn = m->y_norm[target];
		bool	   *allowed = palloc(sizeof(bool) * m->n_products);

		sim = palloc(sizeof(double) * m->n_products);
		for (i = 0; i < m->n_products; i++)
		{
			double		den = tn * m->y_norm[i];

			sim[i] = den > 0.0 ? seg_reco_dot(yt, m->y + (Size) i * m->d, m->d) / den : 0.0;
			allowed[i] = true;
		}
		allowed[target] = false;
		out = palloc(sizeof(int32) * Min(k, m->n_products));
		n = top_k_filtered(m, sim, allowed, Min(k, m->n_products - 1), only_active, out);
	}

	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(m->product_id[out[i]]);
		values[1] = Float8GetDatum(sim[out[i]]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * seg_reco.recommend_all(model text, n int, include_purchased bool,
 *     only_active bool) RETURNS TABLE(customer_id bigint, product_id bigint,
 *     score float8, rank int)
 *
 * Every customer with stored factors, in blocks: one dgemm scores a block
 * of customers against all products, a heap per row keeps the best n.
 */
Datum
seg_reco_recommend_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model;
	int			topn;
	bool		include_purchased,
				only_active;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	bool	   *active,
			   *allowed;
	SegRecoPairs hist;
	int64		hpos = 0;
	int			block;
	double	   *xb,
			   *s;
	int64	   *ids;
	int32	   *out;
	Portal		portal;
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1];

	ARG_NOT_NULL(0, "model");
	ARG_NOT_NULL(1, "n");
	ARG_NOT_NULL(2, "include_purchased");
	ARG_NOT_NULL(3, "only_active");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	topn = PG_GETARG_INT32(1);
	include_purchased = PG_GETARG_BOOL(2);
	only_active = PG_GETARG_BOOL(3);
	check_k(topn, "n");

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco recommend_all",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	m = seg_reco_als_model_get(model);
	topn = Min(topn, m->n_products);
	active = palloc(sizeof(bool) * m->n_products);
	memset(active, true, sizeof(bool) * m->n_products);
	if (only_active)
	{
		int			rc = SPI_execute_plan(keep_plan(&plan_inactive_all,
													"SELECT p.product_id FROM seg_reco.products p WHERE NOT p.active",
													0, NULL),
										  NULL, NULL, true, 0);
		uint64		r;

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(rc));
		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		pid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			int			j = isnull ? -1 : seg_reco_als_product_index(m, pid);

			if (j >= 0)
				active[j] = false;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	memset(&hist, 0, sizeof(hist));
	if (!include_purchased)
		seg_reco_als_read_pairs(m->query, false, 0, m->custom_source, &hist);

	block = (int) Max(64, Min(1024, (1 << 20) / m->n_products));
	xb = palloc(sizeof(double) * (Size) block * m->d);
	s = MemoryContextAllocHuge(work, sizeof(double) * (Size) block * m->n_products);
	ids = palloc(sizeof(int64) * block);
	out = palloc(sizeof(int32) * topn);
	allowed = palloc(sizeof(bool) * m->n_products);
	seg_reco_blas_begin();

	v1[0] = CStringGetTextDatum(m->name);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT c.customer_id, c.factors FROM seg_reco.als_customer_factors c "
									   "WHERE c.model OPERATOR(pg_catalog.=) $1 ORDER BY c.customer_id",
									   1, t1, v1, NULL, true, 0);
	for (;;)
	{
		SPITupleTable *tt;
		int			rows,
					u;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, block);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		rows = (int) SPI_processed;
		for (u = 0; u < rows; u++)
		{
			bool		isnull;
			ArrayType  *a;
			float4	   *f;
			int			j;

			ids[u] = DatumGetInt64(SPI_getbinval(tt->vals[u], tt->tupdesc, 1, &isnull));
			a = DatumGetArrayTypeP(SPI_getbinval(tt->vals[u], tt->tupdesc, 2, &isnull));
			if (isnull || ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_DIMS(a)[0] != m->d)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored factors of customer " INT64_FORMAT " are malformed", ids[u]),
						 errhint("Retrain the model with seg_reco.als_train.")));
			f = (float4 *) ARR_DATA_PTR(a);
			for (j = 0; j < m->d; j++)
				xb[(Size) u * m->d + j] = f[j];
		}
		SPI_freetuptable(tt);

		seg_reco_gemm(false, true, rows, m->n_products, m->d, 1.0, xb, m->d, m->y, m->d,
					  0.0, s, m->n_products);

		for (u = 0; u < rows; u++)
		{
			int			got,
						i;

			memcpy(allowed, active, sizeof(bool) * m->n_products);
			if (!include_purchased)
			{
				while (hpos < hist.n && hist.customer_id[hpos] < ids[u])
					hpos++;
				for (; hpos < hist.n && hist.customer_id[hpos] == ids[u]; hpos++)
				{
					int			j;

					if (!hist.purchased[hpos])
						continue;
					j = seg_reco_als_product_index(m, hist.product_id[hpos]);
					if (j >= 0)
						allowed[j] = false;
				}
			}
			got = seg_reco_topk(s + (Size) u * m->n_products, allowed, m->n_products, topn, out);
			MemoryContextSwitchTo(old);
			for (i = 0; i < got; i++)
			{
				Datum		values[4];
				bool		nulls[4] = {false, false, false, false};

				values[0] = Int64GetDatum(ids[u]);
				values[1] = Int64GetDatum(m->product_id[out[i]]);
				values[2] = Float8GetDatum(s[(Size) u * m->n_products + out[i]]);
				values[3] = Int32GetDatum(i + 1);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
			MemoryContextSwitchTo(work);
		}
	}
	SPI_cursor_close(portal);

	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}
