/*
 * recommend.c
 *      Serving: the hybrid top-k for one customer (recommend_for) and for
 *      every customer in blocks (recommend_all), explanations and similar
 *      products from an ALS model.
 *
 * The hybrid blends four sources over the products of the ALS model and of
 * the content build (a product never sold can be recommended through
 * content): als (x_u . y_i; a customer without stored factors is folded in
 * from their history in the model's source, implicit's recalculate_user),
 * content (cosine of the customer's TF-IDF profile, tfidf.h), popularity
 * (share of the model's training customers) and buy_again (the customer's
 * repeat cycle per product, as seg_reco.buy_again_scores).  Each source is
 * normalised over the products the call may return (als min-max, the
 * others divided by their best) and weighted; als and buy_again are scaled
 * by h / (h + history_prior), h = the customer's receipts, so thin
 * histories lean on content and popularity.  Weights: built-in defaults,
 * then the setting hybrid_weights, then the call's.  No history at all:
 * the demographic cold start (cold_start_recommendations).  Then the list
 * is chosen from a pool of the best scores: inactive products skipped,
 * a per-category cap, maximal marginal relevance with content cosine.
 *
 * Everything a call reads comes in a handful of SQL statements (model and
 * content version checks, the customer's factors and purchases, the active
 * flag and category of the pool); the model and the content vectors are
 * cached per backend by model_store.c and tfidf.c, keyed by version.
 * recommend_all reads every customer's purchases in one ordered pass and
 * scores als for a block of customers with one dgemm, then blends each
 * customer exactly as recommend_for does, so the two agree.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/params.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "als.h"
#include "guards.h"
#include "linalg.h"
#include "model_store.h"
#include "threads.h"
#include "tfidf.h"

#define MAX_K 100000

PG_FUNCTION_INFO_V1(seg_reco_recommend_for);
PG_FUNCTION_INFO_V1(seg_reco_why_recommended);
PG_FUNCTION_INFO_V1(seg_reco_similar_products);
PG_FUNCTION_INFO_V1(seg_reco_recommend_all);

static SPIPlanPtr plan_inactive_of = NULL;
static SPIPlanPtr plan_category = NULL;



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
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_inactive_of,
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

/* ---------------------------------------------------------------------------
 * The hybrid blend
 * ---------------------------------------------------------------------------
 */

enum
{
	SRC_ALS = 0,
	SRC_CONTENT,
	SRC_POP,
	SRC_BA,
	N_SRC
};

static const char *const src_name[N_SRC] = {"als", "content", "popularity", "buy_again"};

/*
 * Default weights, chosen on a validation split of the demo data (train
 * before 8 weeks ahead of the end, validate on weeks -8..-4; see
 * bench/hybrid.sh): the normalised score of each source, in [0, 1], times
 * its weight, summed.  With re-buys (include_purchased) buy-again and ALS
 * lead; for products new to the customer (buy-again cannot apply) the
 * validation favoured popularity with a little ALS and no content.
 */
static const double default_weights[N_SRC] = {1.0, 0.3, 0.1, 1.0};
static const double default_weights_new[N_SRC] = {0.2, 0.0, 1.0, 0.0};
#define DEFAULT_HISTORY_PRIOR 2.0
#define CONTENT_HALF_LIFE_DAYS 90.0

typedef struct HybridWeights
{
	double		w[N_SRC];
	double		history_prior;	/* receipts at which ALS and buy-again count half */
} HybridWeights;

/* The products a blend ranks: the model's and the content build's, merged */
typedef struct Universe
{
	int			n;
	int64	   *id;				/* ascending */
	int32	   *ai;				/* index in the ALS model or -1 */
	int32	   *ci;				/* index in the content build or -1 */
} Universe;

/* One customer's purchase occasions (distinct receipts per product) */
typedef struct Occasions
{
	int			n;
	const int64 *pid;			/* sorted by product, then time */
	const double *ts;			/* epoch seconds */
} Occasions;

/* Per-product facts needed to select: active flag and category */
typedef struct ProductMeta
{
	bool	   *known;			/* fetched */
	bool		all_known;		/* every product fetched: meta_fetch does nothing */
	bool	   *active;
	int32	   *cat;			/* category number, -1 = none */
	int			n_cats;
	char	  **cats;
	int			cap_cats;
} ProductMeta;

/* Scratch and results of one blend, reused across customers */
typedef struct Blend
{
	double	   *norm[N_SRC];	/* normalised source scores, per universe product */
	double		w_eff[N_SRC];
	double	   *score;			/* the blended score */
	double	   *boost;			/* extra weight per universe product (or NULL) */
	double	   *profile;		/* content profile (n_terms) */
	double	   *cscore;			/* content scores by content index */
	double	   *als;			/* ALS scores by model index */
	double	   *pop_all;		/* normalised popularity over all products (or NULL) */
	double	   *ts_scratch;		/* recommend_all's tasks: room for a customer's occasions */
	bool		cold;			/* the cold-start list was used */
	char	   *cold_label;		/* per universe product: 1 cold start, 2 popularity */
} Blend;

/* set the weights named in jb (an object); what names it in errors */
static void
apply_weights(Jsonb *jb, HybridWeights *hw, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			s;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what),
				 errhint("For example '{\"als\": 1, \"content\": 0.3, \"popularity\": 0.1, \"buy_again\": 1}'.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			double		x;
			int			slot = -1;

			for (s = 0; s < N_SRC; s++)
				if (strcmp(key, src_name[s]) == 0)
					slot = s;
			if (slot < 0 && strcmp(key, "history_prior") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown weight \"%s\" in %s", key, what),
						 errhint("Use als, content, popularity, buy_again and history_prior.")));
			if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("weight \"%s\" in %s must be a number", key, what)));
			x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
			if (!(x >= 0) || isinf(x))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("weight \"%s\" in %s must be a finite number not below 0, got %g", key, what, x),
						 errhint("Use 0 to leave a source out.")));
			if (slot >= 0)
				hw->w[slot] = x;
			else
				hw->history_prior = x;
		}
	}
}

static SPIPlanPtr plan_weights = NULL;

/*
 * The weights of one call: the built-in defaults of the mode, then the
 * setting hybrid_weights (its "rebuy" or "new" object: what tune_weights
 * chose on the owner's data), then the call's weights; keys left out keep
 * the value before.  Negative weights, or all four zero, are errors.
 */
static void
resolve_weights(Jsonb *jb, bool include_purchased, HybridWeights *hw)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	double		total = 0;
	int			s;

	memcpy(hw->w, include_purchased ? default_weights : default_weights_new, sizeof(hw->w));
	hw->history_prior = DEFAULT_HISTORY_PRIOR;
	values[0] = CStringGetTextDatum(include_purchased ? "rebuy" : "new");
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_weights,
								   "SELECT seg_reco.setting('hybrid_weights') OPERATOR(pg_catalog.->) $1",
								   1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the setting hybrid_weights failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			apply_weights(DatumGetJsonbP(d), hw, "the setting hybrid_weights");
	}
	SPI_freetuptable(SPI_tuptable);
	if (jb != NULL)
		apply_weights(jb, hw, "weights");
	for (s = 0; s < N_SRC; s++)
		total += hw->w[s];
	if (!(total > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("all weights are zero"),
				 errhint("Give at least one of als, content, popularity, buy_again a positive weight.")));
}

static int
universe_index(const Universe *u, int64 id)
{
	int			lo = 0,
				hi = u->n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (u->id[mid] == id)
			return mid;
		if (u->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* the model's products, merged with the content build's (c may be NULL) */
static void
build_universe(const SegRecoAlsModel *m, const SegRecoContent *c, Universe *u)
{
	int			na = m->n_products,
				nc = c ? c->n : 0,
				a = 0,
				b = 0,
				n = 0;

	u->id = palloc(sizeof(int64) * (na + nc + 1));
	u->ai = palloc(sizeof(int32) * (na + nc + 1));
	u->ci = palloc(sizeof(int32) * (na + nc + 1));
	while (a < na || b < nc)
	{
		if (b >= nc || (a < na && m->product_id[a] < c->product_id[b]))
		{
			u->id[n] = m->product_id[a];
			u->ai[n] = a++;
			u->ci[n] = -1;
		}
		else if (a >= na || c->product_id[b] < m->product_id[a])
		{
			u->id[n] = c->product_id[b];
			u->ai[n] = -1;
			u->ci[n] = b++;
		}
		else
		{
			u->id[n] = m->product_id[a];
			u->ai[n] = a++;
			u->ci[n] = b++;
		}
		n++;
	}
	u->n = n;
}

static void
blend_init(Blend *b, const Universe *u, const SegRecoAlsModel *m, const SegRecoContent *c)
{
	int			s;

	for (s = 0; s < N_SRC; s++)
		b->norm[s] = palloc0(sizeof(double) * Max(u->n, 1));
	b->score = palloc0(sizeof(double) * Max(u->n, 1));
	b->boost = NULL;
	b->profile = c ? palloc(sizeof(double) * Max(c->n_terms, 1)) : NULL;
	b->cscore = c ? palloc(sizeof(double) * Max(c->n, 1)) : NULL;
	b->als = palloc(sizeof(double) * Max(m->n_products, 1));
	b->cold_label = palloc0(Max(u->n, 1));
	b->cold = false;
	b->pop_all = NULL;
	b->ts_scratch = NULL;
}

/*
 * Buy-again score of one product from its occasions (as buy_again_scores):
 * n occasions at times ts[0..n-1] (ascending), end = as_of's end.
 */
static double
buy_again_one(const double *ts, int n, double end)
{
	double		d = (end - ts[n - 1]) / 86400.0;
	double		mu,
				sd = 0,
				spread,
				timing;

	if (n < 2)
		return (1.0 / 3) * 0.1 * pow(0.5, d / 365);
	mu = Max((ts[n - 1] - ts[0]) / 86400.0 / (n - 1), 1.0);
	if (n >= 3)
	{
		double		mean = (ts[n - 1] - ts[0]) / 86400.0 / (n - 1),
					ss = 0;
		int			i;

		for (i = 1; i < n; i++)
		{
			double		g = (ts[i] - ts[i - 1]) / 86400.0 - mean;

			ss += g * g;
		}
		sd = sqrt(ss / (n - 2));
	}
	spread = Max(Max(sd, mu / 4), 1.0);
	if (d <= mu)
		timing = exp(-0.5 * pow((d - mu) / spread, 2));
	else
		timing = pow(0.5, (d - mu) / (mu + spread));
	return (double) n / (n + 2) * (0.1 + 0.9 * timing);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* distinct purchase times: the number of receipts */
static int
count_receipts(const Occasions *o, double *scratch)
{
	double	   *t;
	int			i,
				n = 0;

	if (o->n == 0)
		return 0;
	/* scratch (o->n doubles) when called from a task: no palloc there */
	t = scratch ? scratch : palloc(sizeof(double) * o->n);
	memcpy(t, o->ts, sizeof(double) * o->n);
	qsort(t, o->n, sizeof(double), cmp_double);
	for (i = 0; i < o->n; i++)
		if (i == 0 || t[i] != t[i - 1])
			n++;
	if (t != scratch)
		pfree(t);
	return n;
}

/* normalise raw[] over allowed products: min-max (signed) or divide by max */
static void
normalise(double *v, const bool *allowed, int n, bool min_max)
{
	double		lo = INFINITY,
				hi = -INFINITY;
	int			j;

	for (j = 0; j < n; j++)
		if (allowed[j])
		{
			if (v[j] < lo)
				lo = v[j];
			if (v[j] > hi)
				hi = v[j];
		}
	if (!min_max)
		lo = 0;
	if (!(hi > lo))
	{
		memset(v, 0, sizeof(double) * n);
		return;
	}
	for (j = 0; j < n; j++)
		v[j] = allowed[j] ? Max(v[j] - lo, 0) / (hi - lo) : 0;
}

/* normalised popularity with every product allowed (the same for all customers) */
static double *
popularity_all(const Universe *u, const SegRecoAlsModel *m)
{
	double	   *v = palloc(sizeof(double) * Max(u->n, 1));
	bool	   *all = palloc(sizeof(bool) * Max(u->n, 1));
	int			j;

	memset(all, true, sizeof(bool) * u->n);
	for (j = 0; j < u->n; j++)
		v[j] = u->ai[j] >= 0 ? m->popularity[u->ai[j]] : 0;
	normalise(v, all, u->n, false);
	pfree(all);
	return v;
}

/*
 * Blend the sources for one customer into b->score over allowed products.
 * x: ALS factors or NULL; als: ALS scores by model index (NULL: computed
 * from x); o: purchase occasions; end: as_of's end (epoch seconds);
 * use_history: the model reads seg_reco.transactions (content and
 * buy-again apply); buy_again: include_purchased.
 */
static void
blend_customer(Blend *b, const Universe *u, const SegRecoAlsModel *m, const SegRecoContent *c,
			   const HybridWeights *hw, const double *x, const double *als,
			   const Occasions *o, double end, bool use_history, bool buy_again,
			   const bool *allowed)
{
	double		conf = 1.0,
				total = 0;
	bool		has[N_SRC] = {false, false, true, false};
	int			s,
				j;

	if (use_history)
	{
		int			h = count_receipts(o, b->ts_scratch);

		conf = hw->history_prior > 0 ? h / (h + hw->history_prior) : 1.0;
	}
	/* collaborative */
	if (x != NULL || als != NULL)
	{
		if (als == NULL)
		{
			for (j = 0; j < m->n_products; j++)
				b->als[j] = seg_reco_dot(x, m->y + (Size) j * m->d, m->d);
			als = b->als;
		}
		{
			double	   *v = b->norm[SRC_ALS];
			double		lo = INFINITY;

			/* products the model does not know score as its lowest */
			for (j = 0; j < u->n; j++)
			{
				int			a = u->ai[j];

				v[j] = a >= 0 ? als[a] : INFINITY;
				if (a >= 0 && allowed[j] && v[j] < lo)
					lo = v[j];
			}
			if (isinf(lo))
				lo = 0;
			for (j = 0; j < u->n; j++)
				if (u->ai[j] < 0)
					v[j] = lo;
		}
		normalise(b->norm[SRC_ALS], allowed, u->n, true);
		has[SRC_ALS] = true;
	}
	/* content and buy-again, from the purchases */
	if (use_history && o->n > 0)
	{
		if (c != NULL && hw->w[SRC_CONTENT] > 0 &&
			seg_reco_content_profile_from(c, o->n, o->pid, o->ts, CONTENT_HALF_LIFE_DAYS,
										  b->profile, NULL))
		{
			seg_reco_content_score_all(c, b->profile, b->cscore);
			for (j = 0; j < u->n; j++)
				b->norm[SRC_CONTENT][j] = u->ci[j] >= 0 ? b->cscore[u->ci[j]] : 0;
			normalise(b->norm[SRC_CONTENT], allowed, u->n, false);
			has[SRC_CONTENT] = true;
		}
		if (buy_again && hw->w[SRC_BA] > 0)
		{
			int			i = 0;

			memset(b->norm[SRC_BA], 0, sizeof(double) * u->n);

			while (i < o->n)
			{
				int			e = i;
				int			ju;

				while (e < o->n && o->pid[e] == o->pid[i])
					e++;
				ju = universe_index(u, o->pid[i]);
				if (ju >= 0)
					b->norm[SRC_BA][ju] = buy_again_one(o->ts + i, e - i, end);
				i = e;
			}
			normalise(b->norm[SRC_BA], allowed, u->n, false);
			has[SRC_BA] = true;
		}
	}
	/* popularity: share of the model's training customers (the same for every
	 * customer whose products are all allowed: computed once) */
	{
		bool		all = true;

		for (j = 0; j < u->n && all; j++)
			all = allowed[j];
		if (all)
		{
			/* recommend_all's tasks get it precomputed (no palloc there) */
			if (b->pop_all == NULL)
				b->pop_all = popularity_all(u, m);
			memcpy(b->norm[SRC_POP], b->pop_all, sizeof(double) * u->n);
		}
		else
		{
			for (j = 0; j < u->n; j++)
				b->norm[SRC_POP][j] = u->ai[j] >= 0 ? m->popularity[u->ai[j]] : 0;
			normalise(b->norm[SRC_POP], allowed, u->n, false);
		}
	}

	for (s = 0; s < N_SRC; s++)
	{
		b->w_eff[s] = has[s] ? hw->w[s] : 0;
		if (s == SRC_ALS || s == SRC_BA)
			b->w_eff[s] *= conf;
		total += b->w_eff[s];
	}
	if (!(total > 0))
		b->w_eff[SRC_POP] = 1.0;	/* nothing else applies: popularity */
	memset(b->score, 0, sizeof(double) * u->n);
	for (s = 0; s < N_SRC; s++)
	{
		const double *v = b->norm[s];
		double		w = b->w_eff[s];

		if (w == 0)
			continue;
		for (j = 0; j < u->n; j++)
			b->score[j] += w * v[j];
	}
	if (b->boost)
		for (j = 0; j < u->n; j++)
			b->score[j] += b->boost[j];
	for (j = 0; j < u->n; j++)
		if (!allowed[j])
			b->score[j] = 0;
}

/* ---- product facts for selection ---- */

static void
meta_init(ProductMeta *pm, int n, bool known)
{
	pm->all_known = false;
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
static void
meta_fetch(ProductMeta *pm, const Universe *u, const int32 *which, int n)
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

/*
 * Choose up to k products: the best blended scores among allowed, skipping
 * inactive ones (only_active), at most max_per_cat of a category (0: no
 * cap), and with diversity > 0 greedily by maximal marginal relevance:
 * (1 - diversity) x score / best score - diversity x max content cosine to
 * the products already chosen.  Works on a pool of the best scores, widened
 * until k are chosen or none are left.  Returns the count; out gets
 * universe indexes in list order.
 */
typedef struct SelectScratch
{
	int32	   *buf;			/* u->n each */
	double	   *maxsim;
	bool	   *taken;
	int		   *per_cat;		/* n_cats + 1 */
} SelectScratch;

static void
select_scratch_init(SelectScratch *sc, const Universe *u, const ProductMeta *pm)
{
	sc->buf = palloc(sizeof(int32) * Max(u->n, 1));
	sc->maxsim = palloc(sizeof(double) * Max(u->n, 1));
	sc->taken = palloc(sizeof(bool) * Max(u->n, 1));
	sc->per_cat = palloc0(sizeof(int) * (pm->n_cats + 1));
}

/*
 * With sc (scratch from select_scratch_init, after every product's metadata
 * was fetched) select_list makes no PostgreSQL call, so tasks may run it.
 */
static int
select_list(const Universe *u, const SegRecoContent *c, const double *score, bool *allowed,
			int k, bool only_active, int max_per_cat, double diversity,
			ProductMeta *pm, int32 *out, SelectScratch *sc)
{
	int			n_allowed = 0,
				pool,
				j;
	int32	   *buf = sc ? sc->buf : palloc(sizeof(int32) * Max(u->n, 1));
	double	   *maxsim = sc ? sc->maxsim : palloc(sizeof(double) * Max(u->n, 1));
	bool	   *taken = sc ? sc->taken : palloc(sizeof(bool) * Max(u->n, 1));
	int		   *per_cat = NULL;
	int			got = 0;

	for (j = 0; j < u->n; j++)
		n_allowed += allowed[j];
	k = Min(k, n_allowed);
	if (k == 0)
		return 0;
	pool = (diversity > 0 || max_per_cat > 0) ? Max(4 * k, k + 40) : k + (only_active ? 16 : 0);
	pool = Min(pool, n_allowed);
	for (;;)
	{
		int			np,
					i;
		double		best;

		SEG_RECO_CHECK_FOR_INTERRUPTS();
		np = seg_reco_topk(score, allowed, u->n, pool, buf);
		if (only_active || max_per_cat > 0)
			meta_fetch(pm, u, buf, np);
		got = 0;
		if (max_per_cat > 0)
		{
			if (sc)
			{
				per_cat = sc->per_cat;
				memset(per_cat, 0, sizeof(int) * (pm->n_cats + 1));
			}
			else
			{
				if (per_cat)
					pfree(per_cat);
				per_cat = palloc0(sizeof(int) * (pm->n_cats + 1));
			}
		}
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
					pick = i;	/* the pool is in score order */
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
		if (got >= k || np < pool || pool >= n_allowed)
			break;
		pool = Min(pool * 2, n_allowed);
	}
	if (sc == NULL)
	{
		pfree(buf);
		pfree(maxsim);
		pfree(taken);
	}
	return got;
}

/* the sources whose contribution is at least 10% of the row's, largest first */
/* the contributions of the sources (and the boost) to product j's score */
static void
row_contributions(const Blend *b, int j, double *con)
{
	int			s;

	for (s = 0; s < N_SRC; s++)
		con[s] = b->w_eff[s] > 0 ? b->w_eff[s] * b->norm[s][j] : 0;
	con[N_SRC] = b->boost ? b->boost[j] : 0;
}

/* text[] of the sources whose contribution is at least 10% of the total, largest first */
static Datum
sources_datum(const double *con_in)
{
	Datum		el[N_SRC + 1];
	double		con[N_SRC + 1];
	const char *nm[N_SRC + 1];
	int			n = 0,
				s;
	double		total = 0;

	for (s = 0; s < N_SRC; s++)
		nm[s] = src_name[s];
	nm[N_SRC] = "boost";
	memcpy(con, con_in, sizeof(con));
	for (s = 0; s <= N_SRC; s++)
		if (con[s] > 0)
			total += con[s];
	for (;;)
	{
		int			bi = -1;

		for (s = 0; s <= N_SRC; s++)
			if (con[s] > 0 && con[s] >= 0.1 * total && (bi < 0 || con[s] > con[bi]))
				bi = s;
		if (bi < 0)
			break;
		el[n++] = CStringGetTextDatum(nm[bi]);
		con[bi] = 0;
	}
	return PointerGetDatum(construct_array(el, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* the sources whose contribution is at least 10% of the row's, largest first */
static Datum
row_sources(const Blend *b, int j)
{
	Datum		el[1];
	double		con[N_SRC + 1];

	if (b->cold)
	{
		el[0] = CStringGetTextDatum(b->cold_label[j] == 1 ? "cold_start" : "popularity");
		return PointerGetDatum(construct_array(el, 1, TEXTOID, -1, false, TYPALIGN_INT));
	}
	row_contributions(b, j, con);
	return sources_datum(con);
}

/* parse boost jsonb: {"product_id": extra weight} onto universe products */
static double *
parse_boost(Jsonb *jb, const Universe *u)
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

static SPIPlanPtr plan_end = NULL;
static SPIPlanPtr plan_occasions = NULL;
static SPIPlanPtr plan_occasions_all = NULL;
static SPIPlanPtr plan_cold = NULL;

/*
 * The end of the history to read, epoch seconds: the end of as_of; without
 * it the model's own as_of option (a model trained on the past serves the
 * past), else the end of the latest transaction's day.
 */
static double
as_of_end(bool has_as_of, DateADT as_of, const char *model)
{
	Oid			types[2] = {DATEOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	bool		isnull;
	double		end;

	values[0] = DateADTGetDatum(as_of);
	values[1] = CStringGetTextDatum(model);
	if (!has_as_of)
		nulls[0] = 'n';
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_end,
								   "SELECT extract(epoch FROM coalesce(($1 OPERATOR(pg_catalog.+) 1)::pg_catalog.timestamptz,"
								   " (SELECT (m.params OPERATOR(pg_catalog.->) 'options' OPERATOR(pg_catalog.->>) 'as_of')::pg_catalog.timestamptz"
								   " FROM seg_reco.models m WHERE m.name OPERATOR(pg_catalog.=) $2),"
								   " (coalesce(seg_reco.default_as_of(), CURRENT_DATE) OPERATOR(pg_catalog.+) 1)::pg_catalog.timestamptz))::pg_catalog.float8",
								   2, types),
						 values, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "computing the end of as_of failed");
	end = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return end;
}

#define OCCASIONS_SQL(filter, order) \
	"SELECT t.customer_id, t.product_id, pg_catalog.date_part('epoch', t.ts)" \
	" FROM seg_reco.transactions t" \
	" WHERE " filter " t.amount OPERATOR(pg_catalog.>) 0" \
	" AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($1)" order

typedef struct OccRow
{
	int64		pid;
	double		ts;
} OccRow;

static int
cmp_occ(const void *a, const void *b)
{
	const OccRow *x = (const OccRow *) a,
			   *y = (const OccRow *) b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ts < y->ts ? -1 : (x->ts > y->ts ? 1 : 0);
}

/*
 * One customer's purchase lines rows[0..n-1] as occasions: sorted by
 * product and time, lines of a product at the same time (one receipt)
 * counted once.  pid and ts get the result; returns its length.
 */
static int
tidy_occasions(OccRow *rows, int n, int64 *pid, double *ts)
{
	int			i,
				m = 0;

	qsort(rows, n, sizeof(OccRow), cmp_occ);
	for (i = 0; i < n; i++)
	{
		if (m > 0 && pid[m - 1] == rows[i].pid && ts[m - 1] == rows[i].ts)
			continue;
		pid[m] = rows[i].pid;
		ts[m] = rows[i].ts;
		m++;
	}
	return m;
}

/* every customer's purchase lines, read by a receiver of ours */
typedef struct OccAll
{
	int64		cust;
	int64		pid;
	double		ts;
} OccAll;

/* (customer, time, product): a total order, so ties never depend on the scan */
static inline int
occ_all_cmp(const OccAll *x, const OccAll *y)
{
	if (x->cust != y->cust)
		return x->cust < y->cust ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return 0;
}

#define ST_SORT sort_occ_all
#define ST_ELEMENT_TYPE OccAll
#define ST_COMPARE(a, b) occ_all_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#define ST_CHECK_FOR_INTERRUPTS
#include "lib/sort_template.h"

typedef struct OccReceiver
{
	DestReceiver pub;
	OccAll	   *rows;
	int64		n;
	int64		cap;
} OccReceiver;

static bool
occ_receive(TupleTableSlot *slot, DestReceiver *self)
{
	OccReceiver *r = (OccReceiver *) self;
	OccAll	   *o;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2])
		return true;
	if ((r->n & 65535) == 0)
		CHECK_FOR_INTERRUPTS();
	if (r->n == r->cap)
	{
		r->cap *= 2;
		r->rows = repalloc_huge(r->rows, sizeof(OccAll) * r->cap);
	}
	o = &r->rows[r->n++];
	o->cust = DatumGetInt64(slot->tts_values[0]);
	o->pid = DatumGetInt64(slot->tts_values[1]);
	o->ts = DatumGetFloat8(slot->tts_values[2]);
	return true;
}

static void
occ_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
occ_noop(DestReceiver *self)
{
}

/*
 * Purchase lines (one customer, or all when one is false), by customer (and
 * time).  All customers: one sequential scan into a receiver and a sort in
 * memory, several times faster than reading the (customer, ts) index in
 * order through a cursor.
 */
static void
read_occasions(bool one, int64 customer_id, double end,
			   int64 **cust, OccRow **rows, int64 *n)
{
	Oid			types[2] = {FLOAT8OID, INT8OID};
	Datum		values[2];
	int64		cap = 1024,
				got = 0;
	Portal		portal;

	values[0] = Float8GetDatum(end);
	values[1] = Int64GetDatum(customer_id);
	if (!one)
	{
		OccReceiver recv;
		SPIExecuteOptions opts;
		ParamListInfo params = makeParamList(1);
		int64		i;

		params->params[0].value = values[0];
		params->params[0].isnull = false;
		params->params[0].pflags = PARAM_FLAG_CONST;
		params->params[0].ptype = FLOAT8OID;
		memset(&recv, 0, sizeof(recv));
		recv.pub.receiveSlot = occ_receive;
		recv.pub.rStartup = occ_startup;
		recv.pub.rShutdown = occ_noop;
		recv.pub.rDestroy = occ_noop;
		recv.pub.mydest = DestNone;
		recv.cap = 65536;
		recv.rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(OccAll) * recv.cap);
		memset(&opts, 0, sizeof(opts));
		opts.params = params;
		opts.read_only = true;
		opts.dest = (DestReceiver *) &recv;
		if (SPI_execute_plan_extended(seg_reco_keep_plan(&plan_occasions_all,
														 OCCASIONS_SQL("t.customer_id IS NOT NULL AND", ""),
														 1, types),
									  &opts) < 0)
			elog(ERROR, "reading the purchase lines failed");
		*cust = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(recv.n, 1));
		*rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(OccRow) * Max(recv.n, 1));
		if (recv.n > 0)
		{
			int64		cmin = recv.rows[0].cust,
						cmax = recv.rows[0].cust;

			for (i = 1; i < recv.n; i++)
			{
				cmin = Min(cmin, recv.rows[i].cust);
				cmax = Max(cmax, recv.rows[i].cust);
			}
			if ((uint64) cmax - (uint64) cmin < (uint64) recv.n * 4)
			{
				/*
				 * Dense ids: a counting sort by customer.  Within a customer
				 * the rows keep the scan's order; every user of them sorts
				 * them by product and time (tidy_occasions).
				 */
				int64		nb = cmax - cmin + 1,
							b,
							acc = 0;
				int64	   *start = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (nb + 1));

				memset(start, 0, sizeof(int64) * (nb + 1));
				for (i = 0; i < recv.n; i++)
					start[recv.rows[i].cust - cmin]++;
				for (b = 0; b < nb; b++)
				{
					int64		cnt = start[b];

					start[b] = acc;
					acc += cnt;
				}
				for (i = 0; i < recv.n; i++)
				{
					int64		pos = start[recv.rows[i].cust - cmin]++;

					(*cust)[pos] = recv.rows[i].cust;
					(*rows)[pos].pid = recv.rows[i].pid;
					(*rows)[pos].ts = recv.rows[i].ts;
				}
				pfree(start);
			}
			else
			{
				sort_occ_all(recv.rows, recv.n);
				for (i = 0; i < recv.n; i++)
				{
					(*cust)[i] = recv.rows[i].cust;
					(*rows)[i].pid = recv.rows[i].pid;
					(*rows)[i].ts = recv.rows[i].ts;
				}
			}
		}
		pfree(recv.rows);
		*n = recv.n;
		return;
	}
	*cust = palloc(sizeof(int64) * cap);
	*rows = palloc(sizeof(OccRow) * cap);
	portal = SPI_cursor_open(NULL, seg_reco_keep_plan(&plan_occasions,
													  OCCASIONS_SQL("t.customer_id OPERATOR(pg_catalog.=) $2 AND",
																	" ORDER BY t.customer_id, t.ts"),
													  2, types),
							 values, NULL, true);
	for (;;)
	{
		uint64		r;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (got + (int64) SPI_processed > cap)
		{
			while (got + (int64) SPI_processed > cap)
				cap *= 2;
			*cust = repalloc_huge(*cust, sizeof(int64) * cap);
			*rows = repalloc_huge(*rows, sizeof(OccRow) * cap);
		}
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;

			(*cust)[got] = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			(*rows)[got].pid = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			(*rows)[got].ts = DatumGetFloat8(SPI_getbinval(tup, td, 3, &isnull));
			got++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	*n = got;
}

/*
 * Cold start: the demographic list of cold_start_recommendations (when
 * build_popularity has run and the model reads seg_reco.transactions),
 * then the model's popularity.  score orders, disp is shown.
 */
static void
cold_start(Blend *b, const Universe *u, const SegRecoAlsModel *m, int64 customer_id,
		   bool demographic, double *disp)
{
	int			j,
				want = Min(u->n, 200);

	b->cold = true;
	for (j = 0; j < u->n; j++)
	{
		b->score[j] = u->ai[j] >= 0 ? m->popularity[u->ai[j]] : 0;
		disp[j] = b->score[j];
		b->cold_label[j] = 2;
	}
	if (demographic)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		values[2];
		uint64		r;

		if (SPI_execute("SELECT 1 FROM seg_reco.popularity_info", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading seg_reco.popularity_info failed");
		if (SPI_processed == 0)
			return;
		values[0] = Int64GetDatum(customer_id);
		values[1] = Int32GetDatum(Max(want, 1));
		if (SPI_execute_plan(seg_reco_keep_plan(&plan_cold,
									   "SELECT c.product_id, c.score, c.rank"
									   " FROM seg_reco.cold_start_recommendations($1, $2) c",
									   2, types),
							 values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading the cold-start list failed");
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int			jj = universe_index(u, DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull)));
			int			rank = DatumGetInt32(SPI_getbinval(tup, td, 3, &isnull));

			if (jj < 0)
				continue;
			disp[jj] = DatumGetFloat8(SPI_getbinval(tup, td, 2, &isnull));
			b->score[jj] = 2.0 - (double) rank / (want + 1);
			b->cold_label[jj] = 1;
		}
		SPI_freetuptable(SPI_tuptable);
	}
}

/* allowed[j] = false for the ids of a bigint[] (keep = false), or only them (keep = true) */
static void
apply_id_list(ArrayType *arr, const Universe *u, bool *allowed, bool keep, const char *what)
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
static void
restrict_to_category(const Universe *u, const char *category, bool only_active,
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

static void
check_diversity(double diversity, int max_per_cat, bool cap_null)
{
	if (!(diversity >= 0 && diversity <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("diversity must be between 0 and 1, got %g", diversity),
				 errhint("0 ranks by score alone; 0.3 or so trades a little score for variety.")));
	if (!cap_null && max_per_cat < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_per_category must be at least 1, got %d", max_per_cat),
				 errhint("Pass NULL for no cap.")));
}

/*
 * seg_reco.recommend_for(customer_id bigint, k int, include_purchased bool,
 *     category text, candidates bigint[], only_active bool, model text,
 *     weights jsonb, diversity float8, max_per_category int,
 *     exclude bigint[], boost jsonb, as_of date)
 * RETURNS TABLE(product_id bigint, score float8, rank int, sources text[])
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
	char	   *model;
	double		diversity;
	int			max_per_cat = 0;
	HybridWeights hw;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	const SegRecoContent *c = NULL;
	Universe	u;
	Blend		b;
	ProductMeta pm;
	Occasions	o = {0, NULL, NULL};
	double	   *x,
			   *disp = NULL,
				end = 0;
	bool	   *allowed;
	bool		known,
				use_history;
	int32	   *hidx = NULL;
	double	   *hw_ = NULL;
	bool	   *hbought = NULL;
	int			hn = 0,
				n,
				i;
	int32	   *out;

	SEG_RECO_ARG_NOT_NULL(0, "customer_id");
	SEG_RECO_ARG_NOT_NULL(1, "k");
	SEG_RECO_ARG_NOT_NULL(2, "include_purchased");
	SEG_RECO_ARG_NOT_NULL(5, "only_active");
	SEG_RECO_ARG_NOT_NULL(6, "model");
	SEG_RECO_ARG_NOT_NULL(8, "diversity");
	customer_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	include_purchased = PG_GETARG_BOOL(2);
	if (!PG_ARGISNULL(3))
		category = text_to_cstring(PG_GETARG_TEXT_PP(3));
	only_active = PG_GETARG_BOOL(5);
	model = text_to_cstring(PG_GETARG_TEXT_PP(6));
	diversity = PG_GETARG_FLOAT8(8);
	if (!PG_ARGISNULL(9))
		max_per_cat = PG_GETARG_INT32(9);
	check_k(k, "k");
	check_diversity(diversity, max_per_cat, PG_ARGISNULL(9));

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco recommend_for",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	resolve_weights(PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7), include_purchased, &hw);
	m = seg_reco_als_model_get(model);
	use_history = !m->custom_source;
	if (use_history)
		c = seg_reco_content_get(true);
	build_universe(m, c, &u);
	blend_init(&b, &u, m, c);
	b.boost = parse_boost(PG_ARGISNULL(11) ? NULL : PG_GETARG_JSONB_P(11), &u);
	meta_init(&pm, u.n, false);

	x = palloc(sizeof(double) * m->d);
	known = seg_reco_als_customer_factors(m, customer_id, x);
	if (!known || !include_purchased)
		hn = customer_history(m, customer_id, &hidx, &hw_, &hbought);
	if (!known && hn > 0)
	{
		fold_in(m, hidx, hw_, hn, x);
		known = true;
	}
	if (use_history)
	{
		int64	   *cust;
		OccRow	   *rows;
		int64		nn;
		int64	   *opid;
		double	   *ots;

		end = as_of_end(!PG_ARGISNULL(12), PG_ARGISNULL(12) ? 0 : PG_GETARG_DATEADT(12), m->name);
		read_occasions(true, customer_id, end, &cust, &rows, &nn);
		opid = palloc(sizeof(int64) * Max(nn, 1));
		ots = palloc(sizeof(double) * Max(nn, 1));
		o.n = tidy_occasions(rows, (int) nn, opid, ots);
		o.pid = opid;
		o.ts = ots;
	}

	allowed = palloc(sizeof(bool) * u.n);
	memset(allowed, true, sizeof(bool) * u.n);
	if (!PG_ARGISNULL(4))
		apply_id_list(PG_GETARG_ARRAYTYPE_P(4), &u, allowed, true, "candidates");
	if (!PG_ARGISNULL(10))
		apply_id_list(PG_GETARG_ARRAYTYPE_P(10), &u, allowed, false, "exclude");
	if (category != NULL)
		restrict_to_category(&u, category, only_active, allowed);
	if (!include_purchased)
	{
		for (i = 0; i < hn; i++)
			if (hbought[i])
			{
				int			j = universe_index(&u, m->product_id[hidx[i]]);

				if (j >= 0)
					allowed[j] = false;
			}
		for (i = 0; i < o.n; i++)
		{
			int			j = universe_index(&u, o.pid[i]);

			if (j >= 0)
				allowed[j] = false;
		}
	}

	if (!known && o.n == 0)
	{
		disp = palloc(sizeof(double) * Max(u.n, 1));
		cold_start(&b, &u, m, customer_id, use_history, disp);
		for (i = 0; i < u.n; i++)
			if (b.boost && allowed[i])
				b.score[i] += b.boost[i];
	}
	else
		blend_customer(&b, &u, m, c, &hw, known ? x : NULL, NULL, &o, end,
					   use_history, include_purchased, allowed);

	out = palloc(sizeof(int32) * Max(Min(k, u.n), 1));
	n = select_list(&u, c, b.score, allowed, Min(k, u.n), only_active && category == NULL,
					max_per_cat, diversity, &pm, out, NULL);

	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(u.id[out[i]]);
		values[1] = Float8GetDatum(disp ? disp[out[i]] : b.score[out[i]]);
		values[2] = Int32GetDatum(i + 1);
		values[3] = row_sources(&b, out[i]);
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

	SEG_RECO_ARG_NOT_NULL(0, "customer_id");
	SEG_RECO_ARG_NOT_NULL(1, "product_id");
	SEG_RECO_ARG_NOT_NULL(2, "k");
	SEG_RECO_ARG_NOT_NULL(3, "model");
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

	SEG_RECO_ARG_NOT_NULL(0, "product_id");
	SEG_RECO_ARG_NOT_NULL(1, "k");
	SEG_RECO_ARG_NOT_NULL(2, "only_active");
	SEG_RECO_ARG_NOT_NULL(3, "model");
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
 * recommend_all blends the customers of a sub-block on seg_reco.threads
 * threads: each task is one customer, with its own Blend and allowed
 * array, and per-worker room for its occasions; choosing and emitting the
 * list (which reads product metadata and builds SQL values) stays on the
 * backend's thread.  The blend is plain C on arrays prepared before.
 */
#define RA_SUB_BLOCK 64

typedef struct RaJob
{
	const Universe *u;
	const SegRecoAlsModel *m;
	const SegRecoContent *c;
	const HybridWeights *hw;
	ProductMeta *pm;			/* every product fetched */
	const double *s;			/* ALS scores of the block's customers */
	int			base;			/* the sub-block's first customer in the block */
	/* per worker */
	Blend	   *bl;
	bool	   *allowed;		/* u->n each */
	SelectScratch *sc;
	int64	   *occ_pid;		/* occ_max each */
	double	   *occ_ts;
	int			occ_max;
	/* per slot (customer of the sub-block) */
	OccRow	   *occ_rows;
	const int64 *ofirst;
	const int64 *olast;
	const SegRecoPairs *hist;
	const int64 *hfirst;
	const int64 *hlast;
	int		   *got;
	int32	   *out;			/* topn each: universe indexes */
	double	   *score;			/* topn each */
	double	   *con;			/* topn x (N_SRC + 1) each */
	/* the call's options */
	int			topn;
	bool		only_active;
	int			max_per_cat;
	double		diversity;
	double		end;
	bool		use_history;
	bool		include_purchased;
} RaJob;

static void
ra_task(void *arg, int64 t, int worker)
{
	RaJob	   *j = (RaJob *) arg;
	const Universe *u = j->u;
	int			slot = (int) t;
	Blend	   *b = &j->bl[worker];
	bool	   *allowed = j->allowed + (Size) worker * Max(u->n, 1);
	int64	   *pid = j->occ_pid + (Size) worker * j->occ_max;
	double	   *ts = j->occ_ts + (Size) worker * j->occ_max;
	int32	   *out = j->out + (Size) slot * j->topn;
	Occasions	o;
	int64		h;
	int			i;

	o.n = tidy_occasions(j->occ_rows + j->ofirst[slot], (int) (j->olast[slot] - j->ofirst[slot]),
						 pid, ts);
	o.pid = pid;
	o.ts = ts;
	memset(allowed, true, sizeof(bool) * u->n);
	if (!j->include_purchased)
	{
		for (h = j->hfirst[slot]; h < j->hlast[slot]; h++)
		{
			int			k;

			if (!j->hist->purchased[h])
				continue;
			k = universe_index(u, j->hist->product_id[h]);
			if (k >= 0)
				allowed[k] = false;
		}
		for (i = 0; i < o.n; i++)
		{
			int			k = universe_index(u, o.pid[i]);

			if (k >= 0)
				allowed[k] = false;
		}
	}
	blend_customer(b, u, j->m, j->c, j->hw, NULL,
				   j->s + (Size) (j->base + slot) * j->m->n_products, &o, j->end,
				   j->use_history, j->include_purchased, allowed);
	j->got[slot] = select_list(u, j->c, b->score, allowed, j->topn, j->only_active,
							   j->max_per_cat, j->diversity, j->pm, out, &j->sc[worker]);
	for (i = 0; i < j->got[slot]; i++)
	{
		j->score[(Size) slot * j->topn + i] = b->score[out[i]];
		row_contributions(b, out[i], j->con + ((Size) slot * j->topn + i) * (N_SRC + 1));
	}
}

/*
 * seg_reco.recommend_all(model text, n int, include_purchased bool,
 *     only_active bool, weights jsonb, diversity float8,
 *     max_per_category int, as_of date)
 * RETURNS TABLE(customer_id bigint, product_id bigint, score float8,
 *     rank int, sources text[])
 *
 * The hybrid list of recommend_for for every customer with stored factors,
 * in blocks: one dgemm scores a block of customers against all products;
 * the purchases of all customers are read in one ordered pass.
 */
Datum
seg_reco_recommend_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model;
	int			topn;
	bool		include_purchased,
				only_active,
				use_history;
	double		diversity;
	int			max_per_cat = 0;
	HybridWeights hw;
	MemoryContext work,
				old;
	SegRecoAlsModel *m;
	const SegRecoContent *c = NULL;
	Universe	u;
	Blend	   *bl;
	SelectScratch *scs;
	ProductMeta pm;
	SegRecoPairs hist;
	int64		hpos = 0,
				opos = 0,
				occ_n = 0;
	int64	   *occ_cust = NULL;
	OccRow	   *occ_rows = NULL;
	int			occ_max;
	double		end = 0;
	int64		ofirst[RA_SUB_BLOCK],
				olast[RA_SUB_BLOCK],
				hfirst[RA_SUB_BLOCK],
				hlast[RA_SUB_BLOCK];
	RaJob		job;
	int			block;
	double	   *xb,
			   *s;
	int64	   *ids;
	Portal		portal;
	Oid			t1[1] = {TEXTOID};
	Datum		v1[1];

	SEG_RECO_ARG_NOT_NULL(0, "model");
	SEG_RECO_ARG_NOT_NULL(1, "n");
	SEG_RECO_ARG_NOT_NULL(2, "include_purchased");
	SEG_RECO_ARG_NOT_NULL(3, "only_active");
	SEG_RECO_ARG_NOT_NULL(5, "diversity");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	topn = PG_GETARG_INT32(1);
	include_purchased = PG_GETARG_BOOL(2);
	only_active = PG_GETARG_BOOL(3);
	diversity = PG_GETARG_FLOAT8(5);
	if (!PG_ARGISNULL(6))
		max_per_cat = PG_GETARG_INT32(6);
	check_k(topn, "n");
	check_diversity(diversity, max_per_cat, PG_ARGISNULL(6));

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco recommend_all",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	resolve_weights(PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4), include_purchased, &hw);
	m = seg_reco_als_model_get(model);
	use_history = !m->custom_source;
	if (use_history)
		c = seg_reco_content_get(true);
	build_universe(m, c, &u);
	meta_init(&pm, u.n, true);
	meta_fetch(&pm, &u, NULL, 0);
	topn = Min(topn, u.n);

	memset(&hist, 0, sizeof(hist));
	if (!include_purchased)
		seg_reco_als_read_pairs(m->query, false, 0, m->custom_source, &hist);
	if (use_history)
	{
		end = as_of_end(!PG_ARGISNULL(7), PG_ARGISNULL(7) ? 0 : PG_GETARG_DATEADT(7), m->name);
		read_occasions(false, 0, end, &occ_cust, &occ_rows, &occ_n);
	}

	block = (int) Max(64, Min(1024, (1 << 20) / m->n_products));
	xb = palloc(sizeof(double) * (Size) block * m->d);
	s = MemoryContextAllocHuge(work, sizeof(double) * (Size) block * m->n_products);
	ids = palloc(sizeof(int64) * block);

	/* per-worker blends, allowed arrays, list scratch and occasion room */
	{
		int64		i,
					first = 0;
		int			nw = seg_reco_parallel_workers(RA_SUB_BLOCK),
					w;
		double	   *pop_all = popularity_all(&u, m);

		occ_max = 1;
		for (i = 1; i <= occ_n; i++)
			if (i == occ_n || occ_cust[i] != occ_cust[first])
			{
				occ_max = (int) Max(occ_max, i - first);
				first = i;
			}
		bl = palloc(sizeof(Blend) * nw);
		scs = palloc(sizeof(SelectScratch) * nw);
		for (w = 0; w < nw; w++)
		{
			blend_init(&bl[w], &u, m, c);
			bl[w].pop_all = pop_all;
			bl[w].ts_scratch = palloc(sizeof(double) * occ_max);
			select_scratch_init(&scs[w], &u, &pm);
		}
		job.u = &u;
		job.m = m;
		job.c = c;
		job.hw = &hw;
		job.pm = &pm;
		job.bl = bl;
		job.allowed = MemoryContextAllocHuge(work, sizeof(bool) * nw * Max(u.n, 1));
		job.sc = scs;
		job.occ_pid = MemoryContextAllocHuge(work, sizeof(int64) * nw * occ_max);
		job.occ_ts = MemoryContextAllocHuge(work, sizeof(double) * nw * occ_max);
		job.occ_max = occ_max;
		job.occ_rows = occ_rows;
		job.ofirst = ofirst;
		job.olast = olast;
		job.hist = &hist;
		job.hfirst = hfirst;
		job.hlast = hlast;
		job.got = palloc(sizeof(int) * RA_SUB_BLOCK);
		job.out = palloc(sizeof(int32) * RA_SUB_BLOCK * Max(topn, 1));
		job.score = palloc(sizeof(double) * RA_SUB_BLOCK * Max(topn, 1));
		job.con = palloc(sizeof(double) * RA_SUB_BLOCK * Max(topn, 1) * (N_SRC + 1));
		job.topn = topn;
		job.only_active = only_active;
		job.max_per_cat = max_per_cat;
		job.diversity = diversity;
		job.end = end;
		job.use_history = use_history;
		job.include_purchased = include_purchased;
	}
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
					uu,
					sb;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, block);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		rows = (int) SPI_processed;
		for (uu = 0; uu < rows; uu++)
		{
			bool		isnull;
			ArrayType  *a;
			float4	   *f;
			int			j;

			ids[uu] = DatumGetInt64(SPI_getbinval(tt->vals[uu], tt->tupdesc, 1, &isnull));
			a = DatumGetArrayTypeP(SPI_getbinval(tt->vals[uu], tt->tupdesc, 2, &isnull));
			if (isnull || ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_DIMS(a)[0] != m->d)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored factors of customer " INT64_FORMAT " are malformed", ids[uu]),
						 errhint("Retrain the model with seg_reco.als_train.")));
			f = (float4 *) ARR_DATA_PTR(a);
			for (j = 0; j < m->d; j++)
				xb[(Size) uu * m->d + j] = f[j];
		}
		SPI_freetuptable(tt);

		seg_reco_gemm(false, true, rows, m->n_products, m->d, 1.0, xb, m->d, m->y, m->d,
					  0.0, s, m->n_products);

		for (sb = 0; sb < rows; sb += RA_SUB_BLOCK)
		{
			int			nsb = Min(RA_SUB_BLOCK, rows - sb),
						slot;

			CHECK_FOR_INTERRUPTS();
			/* each customer's occasion rows and history pairs */
			for (slot = 0; slot < nsb; slot++)
			{
				int64		id = ids[sb + slot];

				while (opos < occ_n && occ_cust[opos] < id)
					opos++;
				ofirst[slot] = opos;
				while (opos < occ_n && occ_cust[opos] == id)
					opos++;
				olast[slot] = opos;
				while (hpos < hist.n && hist.customer_id[hpos] < id)
					hpos++;
				hfirst[slot] = hpos;
				while (hpos < hist.n && hist.customer_id[hpos] == id)
					hpos++;
				hlast[slot] = hpos;
			}
			job.s = s;
			job.base = sb;
			seg_reco_parallel_for(nsb, ra_task, &job);

			MemoryContextSwitchTo(old);
			for (slot = 0; slot < nsb; slot++)
			{
				int			i;

				for (i = 0; i < job.got[slot]; i++)
				{
					Size		r = (Size) slot * topn + i;
					Datum		values[5];
					bool		nulls[5] = {false, false, false, false, false};

					values[0] = Int64GetDatum(ids[sb + slot]);
					values[1] = Int64GetDatum(u.id[job.out[r]]);
					values[2] = Float8GetDatum(job.score[r]);
					values[3] = Int32GetDatum(i + 1);
					values[4] = sources_datum(job.con + r * (N_SRC + 1));
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				}
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
