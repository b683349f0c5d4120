/*
 * reco_select.c
 *      List selection: which products a call may return (candidates,
 *      exclusions, a category, products bought) and boosts, the facts
 *      needed to choose (active flag, category), and choosing the list from
 *      a pool of the best scores (inactive products skipped, a per-category
 *      cap, maximal marginal relevance with content cosine).
 *
 * Product facts are read from seg_reco.products only for the pool (or once
 * for every product, by recommend_all), so a call reads a handful of rows.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "als_model.h"
#include "guards.h"
#include "linalg.h"
#include "reco.h"
#include "tfidf.h"
#include "threads.h"

static SPIPlanPtr plan_inactive_of = NULL;
#define INACTIVE_OF_SQL \
	"SELECT p.product_id FROM seg_reco.products p " \
	"WHERE p.product_id OPERATOR(pg_catalog.=) ANY ($1) AND NOT p.active"
static SPIPlanPtr plan_category = NULL;

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
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_inactive_of, INACTIVE_OF_SQL, 1, types),
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
int
seg_reco_top_k_filtered(const SegRecoAlsModel *m, const double *scores, bool *allowed, int k,
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

/* ---- product facts for selection ---- */

void
seg_reco_meta_init(ProductMeta *pm, int n, bool known)
{
	pm->all_known = false;
	pm->need_cat = true;
	pm->known = palloc(sizeof(bool) * Max(n, 1));
	memset(pm->known, known, sizeof(bool) * Max(n, 1));
	pm->active = palloc(sizeof(bool) * Max(n, 1));
	memset(pm->active, true, sizeof(bool) * Max(n, 1));
	pm->cat = palloc(sizeof(int32) * Max(n, 1));
	memset(pm->cat, 0xff, sizeof(int32) * Max(n, 1));
	pm->n_cats = 0;
	pm->cap_cats = 16;
	pm->cats = palloc(sizeof(char *) * pm->cap_cats);
}

static int32
meta_cat(ProductMeta *pm, const char *name)
{
	int			i;

	for (i = 0; i < pm->n_cats; i++)
		if (strcmp(pm->cats[i], name) == 0)
			return i;
	if (pm->n_cats == pm->cap_cats)
	{
		pm->cap_cats *= 2;
		pm->cats = repalloc(pm->cats, sizeof(char *) * pm->cap_cats);
	}
	pm->cats[pm->n_cats] = pstrdup(name);
	return pm->n_cats++;
}

static SPIPlanPtr plan_meta_of = NULL;
static SPIPlanPtr plan_meta_all = NULL;

/* active flag and category of the given universe products (all when ids NULL) */
void
seg_reco_meta_fetch(ProductMeta *pm, const Universe *u, const int32 *which, int n)
{
	uint64		r;
	int			rc,
				i;

	if (pm->all_known)
		return;
	if (which != NULL)
	{
		int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
		Oid			types[1] = {INT8ARRAYOID};
		Datum		values[1];
		int			nn = 0;

		for (i = 0; i < n; i++)
			if (!pm->known[which[i]])
				ids[nn++] = u->id[which[i]];
		for (i = 0; i < n; i++)
			pm->known[which[i]] = true;
		if (nn == 0)
			return;
		values[0] = PointerGetDatum(int8_array(ids, nn));
		if (!pm->need_cat)
		{
			/* the active flags alone: only the inactive products come back */
			rc = SPI_execute_plan(seg_reco_keep_plan(&plan_inactive_of, INACTIVE_OF_SQL, 1, types),
								  values, NULL, true, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(rc));
			for (r = 0; r < SPI_processed; r++)
			{
				bool		isnull;
				int64		pid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
				int			j = isnull ? -1 : universe_index(u, pid);

				if (j >= 0)
					pm->active[j] = false;
			}
			SPI_freetuptable(SPI_tuptable);
			return;
		}
		rc = SPI_execute_plan(seg_reco_keep_plan(&plan_meta_of,
										"SELECT p.product_id, p.active, p.category FROM seg_reco.products p "
										"WHERE p.product_id OPERATOR(pg_catalog.=) ANY ($1)",
										1, types),
							  values, NULL, true, 0);
	}
	else
	{
		pm->all_known = true;
		rc = SPI_execute_plan(seg_reco_keep_plan(&plan_meta_all,
										"SELECT p.product_id, p.active, p.category FROM seg_reco.products p",
										0, NULL),
							  NULL, NULL, true, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(rc));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		pid = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		int			j = universe_index(u, pid);
		Datum		a,
					cat;

		if (j < 0)
			continue;
		a = SPI_getbinval(tup, td, 2, &isnull);
		pm->active[j] = isnull ? true : DatumGetBool(a);
		cat = SPI_getbinval(tup, td, 3, &isnull);
		if (!isnull)
			pm->cat[j] = meta_cat(pm, TextDatumGetCString(cat));
	}
	SPI_freetuptable(SPI_tuptable);
}

void
seg_reco_select_scratch_init(SelectScratch *sc, const Universe *u, const ProductMeta *pm)
{
	sc->buf = palloc(sizeof(int32) * Max(u->n, 1));
	sc->maxsim = palloc(sizeof(double) * Max(u->n, 1));
	sc->taken = palloc(sizeof(bool) * Max(u->n, 1));
	sc->per_cat = palloc0(sizeof(int) * (pm->n_cats + 1));
}

/* allowed products, and the first pool of the best scores select_list ranks */
/* task-safe: see threads.h */
static int
select_first_pool(const Universe *u, const bool *allowed, int *k, bool only_active,
				  int max_per_cat, double diversity, int *n_allowed)
{
	int			pool;

	*n_allowed = seg_reco_count_true(allowed, u->n);
	*k = Min(*k, *n_allowed);
	pool = (diversity > 0 || max_per_cat > 0) ? Max(4 * *k, *k + 40) : *k + (only_active ? 16 : 0);
	return Min(pool, *n_allowed);
}

/*
 * Choose up to k of the pool buf[0..np-1] (best score first) into out;
 * returns the count.  pm holds the facts of the pool's products; maxsim and
 * taken: room for np; per_cat: room for pm->n_cats + 1 when max_per_cat > 0.
 */
/* task-safe: see threads.h */
static int
select_from_pool(const Universe *u, const SegRecoContent *c, const double *score,
				 const int32 *buf, int np, int k, bool only_active, int max_per_cat,
				 double diversity, const ProductMeta *pm, int32 *out,
				 double *maxsim, bool *taken, int *per_cat)
{
	int			got = 0,
				i;
	double		best;

	if (max_per_cat > 0)
		memset(per_cat, 0, sizeof(int) * (pm->n_cats + 1));
	best = np > 0 ? score[buf[0]] : 0;
	for (i = 0; i < np; i++)
	{
		maxsim[i] = 0;
		taken[i] = only_active && !pm->active[buf[i]];
	}
	while (got < k)
	{
		int			pick = -1;
		double		pv = -INFINITY;

		for (i = 0; i < np; i++)
		{
			double		v;
			int			cat;

			if (taken[i])
				continue;
			cat = pm->cat[buf[i]];
			if (max_per_cat > 0 && cat >= 0 && per_cat[cat] >= max_per_cat)
				continue;
			if (diversity > 0)
				v = (1 - diversity) * (best > 0 ? score[buf[i]] / best : score[buf[i]])
					- diversity * maxsim[i];
			else
			{
				pick = i;		/* the pool is in score order */
				break;
			}
			if (v > pv)
			{
				pv = v;
				pick = i;
			}
		}
		if (pick < 0)
			break;
		taken[pick] = true;
		out[got++] = buf[pick];
		if (max_per_cat > 0 && pm->cat[buf[pick]] >= 0)
			per_cat[pm->cat[buf[pick]]]++;
		if (diversity > 0 && c != NULL && u->ci[buf[pick]] >= 0)
			for (i = 0; i < np; i++)
				if (!taken[i] && u->ci[buf[i]] >= 0)
				{
					double		cs = seg_reco_content_cosine(c, u->ci[buf[pick]], u->ci[buf[i]]);

					if (cs > maxsim[i])
						maxsim[i] = cs;
				}
	}
	return got;
}

/*
 * Choose up to k products: the best blended scores among allowed, skipping
 * inactive ones (only_active), at most max_per_cat of a category (0: no
 * cap), and with diversity > 0 greedily by maximal marginal relevance:
 * (1 - diversity) x score / best score - diversity x max content cosine to
 * the products already chosen.  Works on a pool of the best scores, widened
 * until k are chosen or none are left; the facts of the pool's products are
 * fetched as needed.  Returns the count; out gets universe indexes in list
 * order.
 */
int
seg_reco_select_list(const Universe *u, const SegRecoContent *c, const double *score, bool *allowed,
					 int k, bool only_active, int max_per_cat, double diversity,
					 ProductMeta *pm, int32 *out)
{
	int			n_allowed,
				pool = select_first_pool(u, allowed, &k, only_active, max_per_cat, diversity,
										 &n_allowed);
	int32	   *buf;
	double	   *maxsim;
	bool	   *taken;
	int		   *per_cat = NULL;
	int			got = 0;

	if (k == 0)
		return 0;
	buf = palloc(sizeof(int32) * Max(u->n, 1));
	maxsim = palloc(sizeof(double) * Max(u->n, 1));
	taken = palloc(sizeof(bool) * Max(u->n, 1));
	for (;;)
	{
		int			np;

		CHECK_FOR_INTERRUPTS();
		np = seg_reco_topk(score, allowed, u->n, pool, buf);
		if (only_active || max_per_cat > 0)
			seg_reco_meta_fetch(pm, u, buf, np);
		if (max_per_cat > 0)
		{
			/* the fetch may have added categories */
			if (per_cat)
				pfree(per_cat);
			per_cat = palloc(sizeof(int) * (pm->n_cats + 1));
		}
		got = select_from_pool(u, c, score, buf, np, k, only_active, max_per_cat, diversity,
							   pm, out, maxsim, taken, per_cat);
		if (got >= k || np < pool || pool >= n_allowed)
			break;
		pool = Min(pool * 2, n_allowed);
	}
	pfree(buf);
	pfree(maxsim);
	pfree(taken);
	if (per_cat)
		pfree(per_cat);
	return got;
}

/*
 * The same choice with the scratch sc (select_scratch_init) and the facts
 * of every product in pm (seg_reco_meta_fetch of all): no PostgreSQL call,
 * so recommend_all's tasks run it.
 */
/* task-safe: see threads.h */
int
seg_reco_select_list_prepared(const Universe *u, const SegRecoContent *c, const double *score,
							  const bool *allowed, int k, bool only_active, int max_per_cat,
							  double diversity, const ProductMeta *pm, int32 *out,
							  SelectScratch *sc)
{
	int			n_allowed,
				pool = select_first_pool(u, allowed, &k, only_active, max_per_cat, diversity,
										 &n_allowed);
	int			got = 0;

	if (k == 0)
		return 0;
	for (;;)
	{
		/* every product allowed: the same choice without reading the flags */
		int			np = seg_reco_topk(score, n_allowed == u->n ? NULL : allowed, u->n, pool,
									   sc->buf);

		got = select_from_pool(u, c, score, sc->buf, np, k, only_active, max_per_cat, diversity,
							   pm, out, sc->maxsim, sc->taken, sc->per_cat);
		if (got >= k || np < pool || pool >= n_allowed)
			break;
		pool = Min(pool * 2, n_allowed);
	}
	return got;
}

int
seg_reco_select_pool_size(const Universe *u, int k, bool only_active, int max_per_cat,
						  double diversity)
{
	k = Min(k, u->n);
	if (k <= 0)
		return 0;
	return Min((diversity > 0 || max_per_cat > 0) ? Max(4 * k, k + 40) : k + (only_active ? 16 : 0),
			   u->n);
}

/*
 * The first round of seg_reco_select_list_prepared, every product allowed,
 * on the pool given (the np = seg_reco_select_pool_size best, in order).
 */
/* task-safe: see threads.h */
int
seg_reco_select_from_given_pool(const Universe *u, const SegRecoContent *c, const double *score,
								const int32 *pool, int np, int k, bool only_active, int max_per_cat,
								double diversity, const ProductMeta *pm, int32 *out,
								SelectScratch *sc)
{
	int			got;

	k = Min(k, u->n);
	if (k <= 0)
		return 0;
	got = select_from_pool(u, c, score, pool, np, k, only_active, max_per_cat, diversity,
						   pm, out, sc->maxsim, sc->taken, sc->per_cat);
	if (got >= k || np >= u->n)
		return got;
	return -1;
}

/* parse boost jsonb: {"product_id": extra weight} onto universe products */
double *
seg_reco_parse_boost(Jsonb *jb, const Universe *u)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	double	   *boost;

	if (jb == NULL)
		return NULL;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("boost must be a JSON object of product ids and weights"),
				 errhint("For example '{\"1234\": 0.5}' adds 0.5 to product 1234's score.")));
	boost = palloc0(sizeof(double) * Max(u->n, 1));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			char	   *end;
			long long	pid;
			double		x;
			int			j;

			errno = 0;
			pid = strtoll(key, &end, 10);
			if (errno != 0 || end == key || *end != '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("boost key \"%s\" is not a product id", key),
						 errhint("Keys are product ids as strings, values are extra weights.")));
			if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("boost of product %s must be a number", key)));
			x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
			seg_reco_check_finite(x, "a boost");
			j = universe_index(u, (int64) pid);
			if (j >= 0)
				boost[j] += x;
		}
	}
	return boost;
}

/* allowed[j] = false for the ids of a bigint[] (keep = false), or only them (keep = true) */
void
seg_reco_apply_id_list(ArrayType *arr, const Universe *u, bool *allowed, bool keep, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int			ne,
				i;
	bool	   *in;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array of product ids", what)));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &ne);
	in = palloc0(sizeof(bool) * Max(u->n, 1));
	for (i = 0; i < ne; i++)
	{
		int			j;

		if (nulls[i])
			continue;
		j = universe_index(u, DatumGetInt64(elems[i]));
		if (j >= 0)
			in[j] = true;
	}
	for (i = 0; i < u->n; i++)
		if (in[i] != keep)
			allowed[i] = false;
	pfree(in);
}

/* allowed[j] &= product j is in category (and active when only_active) */
void
seg_reco_restrict_to_category(const Universe *u, const char *category, bool only_active,
							  bool *allowed)
{
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];
	bool	   *in = palloc0(sizeof(bool) * Max(u->n, 1));
	uint64		r;
	int			j,
				rc;

	values[0] = CStringGetTextDatum(category);
	values[1] = BoolGetDatum(only_active);
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_category,
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

		j = isnull ? -1 : universe_index(u, pid);
		if (j >= 0)
			in[j] = true;
	}
	SPI_freetuptable(SPI_tuptable);
	for (j = 0; j < u->n; j++)
		allowed[j] = allowed[j] && in[j];
	pfree(in);
}
