/*
 * reco_blend.c
 *      The hybrid blend: one customer's score per product from four
 *      sources, the explanation of a score (its sources), and the cold
 *      start of a customer without history.
 *
 * The hybrid blends four sources over the products of the ALS model and of
 * the content build (a product never sold can be recommended through
 * content): als (x_u . y_i; a customer without stored factors is folded in
 * from their history in the model's source by reco_serve.c, implicit's
 * recalculate_user),
 * content (cosine of the customer's TF-IDF profile, tfidf.h), popularity
 * (share of the model's training customers) and buy_again (the customer's
 * repeat cycle per product, as seg_reco.buy_again_scores); since 0.2.0 also
 * nextbasket (TIFU-KNN, nbr.c), upcf (UP-CF@r's neighbours: the stored
 * scores of the products new to the customer, nbr.c) and seasonal (the
 * customer's products bought in the same weeks a year before, with
 * re-buys).  Each source is
 * normalised over the products the call may return (als min-max, the
 * others divided by their best) and weighted; als and buy_again are scaled
 * by h / (h + history_prior), h = the customer's receipts, so thin
 * histories lean on content and popularity.  Weights: built-in defaults,
 * then the setting hybrid_weights, then the call's.  No history at all:
 * the demographic cold start (cold_start_recommendations).  The list is
 * then chosen by reco_select.c; the SQL entry points are in reco_serve.c.
 *
 * Per call, every pass over the products counts (recommend_for's target
 * is well under a millisecond): the universe and popularity are cached per
 * model and content version, ALS scores come from the single-precision
 * factors (the stored values, widened exactly), each source is normalised
 * in one pass from where it was scored, buy-again visits only the
 * customer's products, and the weighted sum is one pass.  Every value is
 * the same expression in the same order as in the plain loops, so the
 * same bits.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "als_model.h"
#include "linalg.h"
#include "reco.h"
#include "tfidf.h"

static const char *const src_name[N_SRC] = {"als", "content", "popularity", "buy_again", "nextbasket", "upcf",
"seasonal"};

/*
 * Default weights (as the setting hybrid_weights ships), chosen on the
 * validation windows (the 28 days before the last 30) of the demo data and
 * UCI Online Retail, bench/nextbasket.sh: the normalised score of each
 * source, in [0, 1], times its weight, summed.  With re-buys (include_purchased)
 * buy-again leads, the next-basket source (TIFU-KNN) adds the neighbours'
 * baskets and ALS breaks ties; for products new to the customer ALS leads,
 * with a touch of next basket, unscaled by the history (history_prior 0;
 * chosen again on both windows with the demo data's demographic tastes,
 * bench/weights_grid.sql: content lowered every set on the demo data),
 * and UP-CF@r's neighbours (upcf) at 0.1, the weight that raised both
 * validation windows (README, issue 13).  With re-buys the season (the
 * customer's products of the same weeks a year before) at 0.1: no loss on
 * either validation window, a gain where the coming weeks have a season
 * (README, issue 13).
 * Order: als, content, popularity, buy_again, nextbasket, upcf, seasonal.
 */
static const double default_weights[N_SRC] = {0.1, 0.0, 0.0, 1.0, 0.5, 0.0, 0.1};
static const double default_weights_new[N_SRC] = {1.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.0};
#define DEFAULT_HISTORY_PRIOR 2.0
#define DEFAULT_HISTORY_PRIOR_NEW 0.0
#define CONTENT_HALF_LIFE_DAYS 90.0

/* "als, content, ..., seasonal": the sources' names, for messages */
static char *
source_names(void)
{
	StringInfoData sb;
	int			s;

	initStringInfo(&sb);
	for (s = 0; s < N_SRC; s++)
		appendStringInfo(&sb, "%s%s", s > 0 ? ", " : "", src_name[s]);
	return sb.data;
}

/*
 * The weights of jb (an object; what names it in messages): a weights
 * object is whole, so a source it leaves out weighs 0 (an object written
 * before a source existed keeps its meaning: {"als": 1, "content": 0,
 * "popularity": 0, "buy_again": 0} stays ALS alone when next basket
 * comes); history_prior left out keeps the value before.  notice: say
 * which sources were left out (once per call: recommend_all).
 */
static void
apply_weights(Jsonb *jb, HybridWeights *hw, const char *what, bool notice)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	bool		named[N_SRC] = {false};
	int			s;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what),
				 errhint("For example '{\"als\": 1, \"content\": 0.3, \"popularity\": 0.1, \"buy_again\": 1}'.")));
	for (s = 0; s < N_SRC; s++)
		hw->w[s] = 0;
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
						 errhint("Use %s and history_prior.", source_names())));
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
			{
				hw->w[slot] = x;
				named[slot] = true;
			}
			else
				hw->history_prior = x;
		}
	}
	if (notice)
	{
		StringInfoData missing;

		initStringInfo(&missing);
		for (s = 0; s < N_SRC; s++)
			if (!named[s])
				appendStringInfo(&missing, "%s%s", missing.len > 0 ? ", " : "", src_name[s]);
		if (missing.len > 0)
			ereport(NOTICE,
					(errmsg("%s leaves out %s: weighed 0", what, missing.data),
					 errdetail("A source a weights object leaves out weighs 0."),
					 errhint("Name every source (%s) to silence this.", source_names())));
		pfree(missing.data);
	}
}

static SPIPlanPtr plan_weights = NULL;
static SPIPlanPtr plan_weights_setting = NULL;

/*
 * The weights of one call: the built-in defaults of the mode, replaced by
 * the setting hybrid_weights (its "rebuy" or "new" object: what
 * tune_weights chose on the owner's data), replaced by the call's weights:
 * each object is whole (a source it leaves out weighs 0; history_prior
 * left out keeps the value before).  notice: say which sources an object
 * leaves out.  Negative weights, or all zero, are errors.  The
 * setting is read as seg_reco.setting() reads it, without the call of a
 * PL/pgSQL function; should the key be missing, setting() itself is called
 * for its error.
 */
void
seg_reco_resolve_weights(Jsonb *jb, bool include_purchased, HybridWeights *hw, bool notice)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	double		total = 0;
	int			s;

	memcpy(hw->w, include_purchased ? default_weights : default_weights_new, sizeof(hw->w));
	hw->history_prior = include_purchased ? DEFAULT_HISTORY_PRIOR : DEFAULT_HISTORY_PRIOR_NEW;
	values[0] = CStringGetTextDatum(include_purchased ? "rebuy" : "new");
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_weights,
								   "SELECT coalesce(s.value, d.value) OPERATOR(pg_catalog.->) $1"
								   " FROM seg_reco.setting_defaults d"
								   " LEFT JOIN seg_reco.settings s ON s.key OPERATOR(pg_catalog.=) d.key"
								   " WHERE d.key OPERATOR(pg_catalog.=) 'hybrid_weights'",
								   1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the setting hybrid_weights failed");
	if (SPI_processed == 0 &&
		SPI_execute_plan(seg_reco_keep_plan(&plan_weights_setting,
								   "SELECT seg_reco.setting('hybrid_weights') OPERATOR(pg_catalog.->) $1",
								   1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the setting hybrid_weights failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			apply_weights(DatumGetJsonbP(d), hw,
						  include_purchased ? "the setting hybrid_weights (rebuy)" : "the setting hybrid_weights (new)",
						  notice);
	}
	SPI_freetuptable(SPI_tuptable);
	if (jb != NULL)
		apply_weights(jb, hw, "weights", notice);
	for (s = 0; s < N_SRC; s++)
		total += hw->w[s];
	if (!(total > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("all weights are zero"),
				 errhint("Give at least one of %s a positive weight.", source_names())));
}

/*
 * The loops over every product, in clones per CPU (contraction off, so the
 * same bits everywhere), written so that they vectorise: selects instead of
 * branches, the allowed flags read as bytes.  Each value is the expression
 * of the plain loop; the smallest and largest are exact whatever the order
 * (the sign of a zero among them changes no result below).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BLEND_CLONES __attribute__((target_clones("default", "avx2", "avx512f"), \
									optimize("O3", "fp-contract=off", "no-trapping-math")))
#else
#define BLEND_CLONES
#endif

/*
 * Four doubles a vector: the AVX2 clone keeps them in ymm registers (eight
 * did not fit and GCC 12 split the byte-to-mask conversion into scalar
 * moves and branches: a fifth of recommend_all's hybrid time).
 */
typedef double bl_v4 __attribute__((vector_size(32)));
typedef double bl_v4u __attribute__((vector_size(32), aligned(8)));
typedef int64 bl_l4 __attribute__((vector_size(32)));
typedef uint8 bl_b4u __attribute__((vector_size(4), aligned(1)));
#define BL_SELECT(m, a, b) ((bl_v4) ((((bl_l4) (a)) & (m)) | (((bl_l4) (b)) & ~(m))))

/*
 * *lo, *hi := the smallest and largest src[j] over the allowed j (NaN left
 * out; INFINITY and -INFINITY when there is none).  Eight lanes (j mod 8,
 * two vectors), reduced in lane order: the same bits for any vector width.
 */
/* task-safe: see threads.h */
BLEND_CLONES
static void
allowed_minmax(const double *src, const bool *allowed, int n, double *lo_out, double *hi_out)
{
	const uint8 *al = (const uint8 *) allowed;
	bl_v4		inf = {INFINITY, INFINITY, INFINITY, INFINITY};
	bl_v4		lov[2] = {inf, inf},
				hiv[2] = {-inf, -inf};
	double		lo = INFINITY,
				hi = -INFINITY;
	int			j = 0,
				h,
				l;

	for (; j + 8 <= n; j += 8)
		for (h = 0; h < 2; h++)
		{
			bl_v4		x = *(const bl_v4u *) (src + j + 4 * h);
			bl_l4		ok = __builtin_convertvector(*(const bl_b4u *) (al + j + 4 * h), bl_l4) != 0;
			bl_v4		a = BL_SELECT(ok, x, inf),
						b = BL_SELECT(ok, x, -inf);

			lov[h] = BL_SELECT(a < lov[h], a, lov[h]);
			hiv[h] = BL_SELECT(b > hiv[h], b, hiv[h]);
		}
	for (l = 0; l < 8; l++)
	{
		lo = lov[l / 4][l % 4] < lo ? lov[l / 4][l % 4] : lo;
		hi = hiv[l / 4][l % 4] > hi ? hiv[l / 4][l % 4] : hi;
	}
	for (; j < n; j++)
		if (al[j])
		{
			lo = src[j] < lo ? src[j] : lo;
			hi = src[j] > hi ? src[j] : hi;
		}
	*lo_out = lo;
	*hi_out = hi;
}

/* v := allowed ? Max(src - lo, 0) / (hi - lo) : 0, or all 0 unless hi > lo */
/* task-safe: see threads.h */
BLEND_CLONES
static void
scale_allowed(const double *src, double *v, const bool *allowed, int n, double lo, double hi)
{
	const uint8 *al = (const uint8 *) allowed;
	double		range = hi - lo;
	int			j;

	if (!(hi > lo))
	{
		memset(v, 0, sizeof(double) * n);
		return;
	}
	for (j = 0; j < n; j++)
	{
		double		d = src[j] - lo;
		double		t = (d > 0 ? d : 0) / range;	/* Max(src[j] - lo, 0) / range */

		v[j] = al[j] != 0 ? t : 0;
	}
}

/*
 * v := src normalised over the allowed products (src may be v): min-max
 * (signed), or divided by the largest (min_max false); 0 where not allowed.
 */
/* task-safe: see threads.h */
static void
normalise(const double *src, double *v, const bool *allowed, int n, bool min_max)
{
	double		lo,
				hi;

	allowed_minmax(src, allowed, n, &lo, &hi);
	scale_allowed(src, v, allowed, n, min_max ? lo : 0, hi);
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
	/*
	 * universe_index by a table when the ids span at most four slots a
	 * product (16 bytes each): the look-up runs for every purchase line of
	 * every customer in recommend_all; else by bisection
	 */
	u->dense = NULL;
	u->dense_span = n > 0 ? (uint64) u->id[n - 1] - (uint64) u->id[0] : 0;
	if (n > 0 && u->dense_span < (uint64) n * 4)
	{
		uint64		k;

		u->dense = palloc(sizeof(int32) * (u->dense_span + 1));
		for (k = 0; k <= u->dense_span; k++)
			u->dense[k] = -1;
		for (a = 0; a < n; a++)
			u->dense[(uint64) u->id[a] - (uint64) u->id[0]] = a;
	}
	u->als_all = (n == na);
	u->content_all = (c != NULL && n == nc);
	/* the runs of the model's products, and the products it lacks */
	u->n_runs = 0;
	u->n_missing = 0;
	u->run_u = palloc(sizeof(int32) * (n + 1));
	u->run_a = palloc(sizeof(int32) * (n + 1));
	u->run_len = palloc(sizeof(int32) * (n + 1));
	u->missing = palloc(sizeof(int32) * (n - na + 1));
	for (a = 0; a < n; a++)
	{
		if (u->ai[a] < 0)
			u->missing[u->n_missing++] = a;
		else if (u->n_runs > 0 && u->run_u[u->n_runs - 1] + u->run_len[u->n_runs - 1] == a &&
				 u->run_a[u->n_runs - 1] + u->run_len[u->n_runs - 1] == u->ai[a])
			u->run_len[u->n_runs - 1]++;
		else
		{
			u->run_u[u->n_runs] = a;
			u->run_a[u->n_runs] = u->ai[a];
			u->run_len[u->n_runs] = 1;
			u->n_runs++;
		}
	}
}

/* u->pop_raw and u->pop_all: popularity, and normalised with every product allowed */
static void
universe_popularity(Universe *u, const SegRecoAlsModel *m)
{
	double	   *raw = palloc(sizeof(double) * Max(u->n, 1));
	double	   *v = palloc(sizeof(double) * Max(u->n, 1));
	bool	   *all = palloc(sizeof(bool) * Max(u->n, 1));
	int			j;

	memset(all, true, sizeof(bool) * Max(u->n, 1));
	for (j = 0; j < u->n; j++)
		raw[j] = u->ai[j] >= 0 ? m->popularity[u->ai[j]] : 0;
	normalise(raw, v, all, u->n, false);
	pfree(all);
	u->pop_raw = raw;
	u->pop_all = v;
}

/*
 * The universe of a model and a content build, with its popularity, cached
 * per backend: one entry per model name, keyed by the
 * versions of the model and of the content build (the keys of their own
 * caches, fresh numbers at every training and build), so a retrained model
 * or a rebuilt catalogue is never served an old universe.  An entry is
 * built in a transient context and attached under CacheMemoryContext only
 * once complete.
 */
typedef struct UniverseEntry
{
	struct UniverseEntry *next;
	MemoryContext ctx;
	char	   *model;
	int64		model_version;
	int64		content_version;	/* -1: no content */
	Universe	u;
} UniverseEntry;

static MemoryContext universe_cache_ctx = NULL;
static UniverseEntry *universe_head = NULL;

const Universe *
seg_reco_universe_get(const SegRecoAlsModel *m, const SegRecoContent *c)
{
	int64		cv = c ? c->version : -1;
	UniverseEntry *e;
	MemoryContext ctx,
				old;
	Universe	u;
	char	   *name;

	for (e = universe_head; e != NULL; e = e->next)
		if (strcmp(e->model, m->name) == 0)
			break;
	if (e == NULL || e->model_version != m->version || e->content_version != cv)
	{
		ctx = AllocSetContextCreate(CurrentMemoryContext, "seg_reco universe",
									ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(ctx);
		build_universe(m, c, &u);
		universe_popularity(&u, m);
		name = pstrdup(m->name);
		MemoryContextSwitchTo(old);
		if (universe_cache_ctx == NULL)
			universe_cache_ctx = AllocSetContextCreate(CacheMemoryContext, "seg_reco universe cache",
													   ALLOCSET_SMALL_SIZES);
		MemoryContextSetParent(ctx, universe_cache_ctx);
		if (e != NULL)
			MemoryContextDelete(e->ctx);
		else
		{
			e = MemoryContextAllocZero(universe_cache_ctx, sizeof(UniverseEntry));
			e->next = universe_head;
			universe_head = e;
		}
		e->ctx = ctx;
		e->model = name;
		e->model_version = m->version;
		e->content_version = cv;
		e->u = u;
	}
	return &e->u;
}

void
seg_reco_blend_init(Blend *b, const Universe *u, const SegRecoAlsModel *m, const SegRecoContent *c)
{
	int			s;

	/* written before they are read: a source's scores only when it applies */
	for (s = 0; s < N_SRC; s++)
		b->norm[s] = s == SRC_POP ? NULL : palloc(sizeof(double) * Max(u->n, 1));
	b->pop_scratch = palloc(sizeof(double) * Max(u->n, 1));
	b->score = palloc(sizeof(double) * Max(u->n, 1));
	b->boost = NULL;
	b->profile = c ? palloc(sizeof(double) * Max(c->n_terms, 1)) : NULL;
	b->cscore = c ? palloc(sizeof(double) * Max(c->n, 1)) : NULL;
	b->als = palloc(sizeof(double) * Max(m->n_products, 1));
	b->cold_label = palloc0(Max(u->n, 1));
	b->cold = false;
	b->fallback = false;
	b->ts_scratch = NULL;
	b->nb_scratch = NULL;
	b->nb_pid = NULL;
}

/*
 * Buy-again score of one product from its occasions (as buy_again_scores):
 * n occasions at times ts[0..n-1] (ascending), end = as_of's end.  Each
 * occasion counts 0.5 ^ (its age / BA_HALF_LIFE_DAYS), so the count of
 * receipts with the product leads and recency breaks ties; repeat products
 * whose usual cycle has come round gain up to BA_TIMING_BOOST of that
 * (timing: a bell rising to 1 at the mean cycle mu, with spread
 * max(sd of the gaps, mu / 4, 1 day), halving every mu + spread once
 * overdue).  Chosen on the validation windows of the demo data and UCI
 * Online Retail (bench/nextbasket.sh): the timing alone (0.1.0's score,
 * n / (n + 2) x (0.1 + 0.9 x timing)) ranked below a plain count of
 * receipts on both; half-life and boost (730 days, 5%; 365 days and 10%
 * before 2026-12-05): of the pairs at least that count on both windows
 * (bench/buy_again_grid.sh), the best default hybrid there.
 */
#define BA_HALF_LIFE_DAYS 730.0
#define BA_TIMING_BOOST 0.05

/* task-safe: see threads.h */
static double
buy_again_one(const double *ts, int n, double end)
{
	double		d = (end - ts[n - 1]) / 86400.0;
	double		mu,
				sd = 0,
				spread,
				timing,
				decayed = 0;
	int			i;

	for (i = 0; i < n; i++)
		decayed += pow(0.5, (end - ts[i]) / 86400.0 / BA_HALF_LIFE_DAYS);
	if (n < 2)
		return decayed;
	mu = Max((ts[n - 1] - ts[0]) / 86400.0 / (n - 1), 1.0);
	if (n >= 3)
	{
		double		mean = (ts[n - 1] - ts[0]) / 86400.0 / (n - 1),
					ss = 0;

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
	return decayed * (1.0 + BA_TIMING_BOOST * timing);
}

/* task-safe: see threads.h */
static inline int
cmp_double(const double *x, const double *y)
{
	return *x < *y ? -1 : (*x > *y ? 1 : 0);
}

/* sort_double: the comparison inlined (no interrupt checks: tasks run it) */
#define ST_SORT sort_double
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) cmp_double(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* distinct purchase times: the number of receipts; t: room for o->n doubles */
/* task-safe: see threads.h */
static int
count_receipts(const Occasions *o, double *t)
{
	int			i,
				n = 0;

	if (o->n == 0)
		return 0;
	memcpy(t, o->ts, sizeof(double) * o->n);
	sort_double(t, o->n);
	for (i = 0; i < o->n; i++)
		if (i == 0 || t[i] != t[i - 1])
			n++;
	return n;
}

/* the number of allowed products */
/* task-safe: see threads.h */
BLEND_CLONES
static int
count_allowed(const bool *allowed, int n)
{
	const uint8 *al = (const uint8 *) allowed;
	int			j,
				k = 0;

	for (j = 0; j < n; j++)
		k += al[j] != 0;
	return k;
}

/*
 * The universe index of occasion i's product when i is that product's first
 * occasion (o is sorted by product), else -1: each of the customer's
 * products once
 */
/* task-safe: see threads.h */
static inline int
own_product(const Universe *u, const Occasions *o, int i)
{
	if (i > 0 && o->pid[i] == o->pid[i - 1])
		return -1;
	return universe_index(u, o->pid[i]);
}

/*
 * v at the customer's products (the others are 0) := Max(v - lo, 0) /
 * (hi - lo) where allowed, else 0: normalise()'s values, visiting only the
 * customer's products (hi > lo)
 */
/* task-safe: see threads.h */
static void
scale_own(double *v, const Universe *u, const Occasions *o, const bool *allowed, double lo, double hi)
{
	int			i;

	for (i = 0; i < o->n; i++)
	{
		int			ju = own_product(u, o, i);

		if (ju >= 0)
			v[ju] = allowed[ju] ? Max(v[ju] - lo, 0) / (hi - lo) : 0;
	}
}

/*
 * Buy-again into v (zero but for the customer's products): each product's
 * score from its occasions, divided by the largest over the allowed
 * products, as normalise(): only the customer's products can be nonzero,
 * so only they are visited.  n_allowed: the count of allowed products.
 */
/* task-safe: see threads.h */
static void
blend_buy_again(double *v, const Universe *u, const Occasions *o, double end,
				const bool *allowed, int n_allowed)
{
	double		lo = 0,
				hi = -INFINITY;
	int			i = 0,
				n_bought = 0;

	memset(v, 0, sizeof(double) * u->n);
	while (i < o->n)
	{
		int			e = i;
		int			ju;

		while (e < o->n && o->pid[e] == o->pid[i])
			e++;
		ju = universe_index(u, o->pid[i]);
		if (ju >= 0)
		{
			v[ju] = buy_again_one(o->ts + i, e - i, end);
			if (allowed[ju])
			{
				n_bought++;
				if (v[ju] > hi)
					hi = v[ju];
			}
		}
		i = e;
	}
	/* the allowed products the customer did not buy count as 0 */
	if (n_allowed > n_bought && 0 > hi)
		hi = 0;
	if (!(hi > lo))
	{
		memset(v, 0, sizeof(double) * u->n);
		return;
	}
	scale_own(v, u, o, allowed, lo, hi);
}

/*
 * The next-basket source into v: alpha x the customer's TIFU vector (from
 * the occasions, nbr.c) + (1 - alpha) x the neighbours' mean vector (the
 * build's), divided by the largest over the allowed products.  times, w
 * and pid: room for o->n each.  Returns the customer's baskets (distinct
 * times, as count_receipts).
 */
/* task-safe: see threads.h */
static int
blend_nextbasket(double *v, const Universe *u, const Occasions *o, const NbInput *nb,
				 double *times, double *w, int64 *pid, const bool *allowed)
{
	const NbParams *p = nb->params;
	int			n,
				i,
				nbask;

	memset(v, 0, sizeof(double) * u->n);
	n = seg_reco_tifu_vector(o->pid, o->ts, o->n, p, times, pid, w, &nbask);
	for (i = 0; i < n; i++)
	{
		int			ju = universe_index(u, pid[i]);

		if (ju >= 0)
			v[ju] += p->alpha * w[i];
	}
	for (i = 0; i < nb->n; i++)
	{
		int			ju = universe_index(u, nb->pid[i]);

		if (ju >= 0)
			v[ju] += (1.0 - p->alpha) * (double) nb->score[i];
	}
	normalise(v, v, allowed, u->n, false);
	return nbask;
}

/*
 * UP-CF@r's neighbours into v: the stored scores of the products new to
 * the customer at the build, the customer's products since left out
 * (occasions: a source of new products, whether or not re-buys are
 * allowed), divided by the largest over the allowed products.
 */
/* task-safe: see threads.h */
static void
blend_upcf(double *v, const Universe *u, const Occasions *o, const NbInput *nb, const bool *allowed)
{
	int			i;

	memset(v, 0, sizeof(double) * u->n);
	for (i = 0; i < nb->upcf_n; i++)
	{
		int			ju = universe_index(u, nb->upcf_pid[i]);

		if (ju >= 0)
			v[ju] = (double) nb->upcf_score[i];
	}
	for (i = 0; i < o->n; i++)
	{
		int			ju = own_product(u, o, i);

		if (ju >= 0)
			v[ju] = 0;
	}
	normalise(v, v, allowed, u->n, false);
}

/*
 * The season into v: for each of the customer's products, the receipts
 * holding it in the same weeks a year before the coming ones (times in
 * [end - SEASON_YEAR_DAYS, end - SEASON_YEAR_DAYS + SEASON_WINDOW_DAYS)),
 * divided by the largest over the allowed products; false (v all 0) when
 * no allowed product has one.  Groceries have seasons (Christmas food,
 * Easter, barbecue summer) that a decayed count or the latest baskets
 * forget by the time they come round again.
 */
/* task-safe: see threads.h */
static bool
blend_seasonal(double *v, const Universe *u, const Occasions *o, double end, const bool *allowed)
{
	double		lo = end - SEASON_YEAR_DAYS * 86400.0,
				hi = lo + SEASON_WINDOW_DAYS * 86400.0;
	double		best = 0;
	int			i = 0;

	memset(v, 0, sizeof(double) * u->n);
	while (i < o->n)
	{
		int			e = i,
					ju,
					n = 0;

		/* occasions are distinct receipts per product, sorted by time */
		while (e < o->n && o->pid[e] == o->pid[i])
		{
			n += o->ts[e] >= lo && o->ts[e] < hi;
			e++;
		}
		ju = universe_index(u, o->pid[i]);
		if (ju >= 0 && allowed[ju] && n > 0)
		{
			v[ju] = n;
			best = Max(best, n);
		}
		i = e;
	}
	if (best > 0)
		scale_own(v, u, o, allowed, 0, best);
	return best > 0;
}

/*
 * score[j] := the sum over the na sources of w[s] x v[s][j], in order from
 * +0 (each value the same sum as the plain loops over the sources), plus
 * boost[j] when boost; 0 where not allowed.  One pass.
 */
/* task-safe: see threads.h */
BLEND_CLONES
static void
weighted_sum(double *score, const double *const *v, const double *w, int na,
			 const double *boost, const bool *allowed, int n)
{
	const uint8 *al = (const uint8 *) allowed;
	int			j,
				s;

	if (boost != NULL || na > 4)
	{
		for (j = 0; j < n; j++)
		{
			double		sc = 0;

			for (s = 0; s < na; s++)
				sc += w[s] * v[s][j];
			if (boost != NULL)
				sc += boost[j];
			score[j] = al[j] != 0 ? sc : 0;
		}
		return;
	}
	switch (na)
	{
		case 0:
			memset(score, 0, sizeof(double) * n);
			break;
		case 1:
			for (j = 0; j < n; j++)
			{
				double		sc = 0.0 + w[0] * v[0][j];

				score[j] = al[j] != 0 ? sc : 0;
			}
			break;
		case 2:
			for (j = 0; j < n; j++)
			{
				double		sc = (0.0 + w[0] * v[0][j]) + w[1] * v[1][j];

				score[j] = al[j] != 0 ? sc : 0;
			}
			break;
		case 3:
			for (j = 0; j < n; j++)
			{
				double		sc = ((0.0 + w[0] * v[0][j]) + w[1] * v[1][j]) + w[2] * v[2][j];

				score[j] = al[j] != 0 ? sc : 0;
			}
			break;
		default:
			for (j = 0; j < n; j++)
			{
				double		sc = (((0.0 + w[0] * v[0][j]) + w[1] * v[1][j]) + w[2] * v[2][j]) +
					w[3] * v[3][j];

				score[j] = al[j] != 0 ? sc : 0;
			}
			break;
	}
}

/* b->score := the weighted sum of the sources with a weight (b->w_eff), plus the boost */
/* task-safe: see threads.h */
static void
blend_sum(Blend *b, int n, const bool *allowed)
{
	const double *v[N_SRC];
	double		w[N_SRC];
	int			na = 0,
				s;

	for (s = 0; s < N_SRC; s++)
		if (b->w_eff[s] != 0)
		{
			v[na] = b->norm[s];
			w[na] = b->w_eff[s];
			na++;
		}
	weighted_sum(b->score, v, w, na, b->boost, allowed, n);
}

/*
 * Blend the sources for one customer into b->score over allowed products.
 * x: ALS factors or NULL; als: ALS scores by model index (NULL: computed
 * from x); o: purchase occasions; end: as_of's end (epoch seconds);
 * use_history: the model reads seg_reco.transactions (content and
 * buy-again apply); buy_again: include_purchased.  The caller prepares,
 * with use_history, b->ts_scratch (room for o->n doubles): plain C on
 * prepared arrays, so tasks run it.
 */
/* task-safe: see threads.h */
void
seg_reco_blend_customer(Blend *b, const Universe *u, const SegRecoAlsModel *m, const SegRecoContent *c,
						const HybridWeights *hw, const double *x, const double *als,
						const Occasions *o, const NbInput *nb, double end, bool use_history,
						bool buy_again, const bool *allowed)
{
	double		conf = 1.0,
				total = 0;
	bool		has[N_SRC] = {false, false, true, false, false, false, false};
	int			s,
				j,
				n_allowed = count_allowed(allowed, u->n),
				receipts = o->n_receipts;	/* -1: not counted yet */

	/* collaborative */
	if (x != NULL || als != NULL)
	{
		if (als == NULL && u->als_all)
		{
			seg_reco_dot_rows_f(m->yf, m->n_products, m->d, x, b->als);
			als = b->als;
		}
		if (u->als_all)
			normalise(als, b->norm[SRC_ALS], allowed, u->n, true);
		else
		{
			/*
			 * Products the model does not know score as its lowest over the
			 * allowed ones (0 without any): the model's scores go in by runs,
			 * the others are left out of the smallest and largest (NaN),
			 * then set to that lowest, which joins the range when allowed.
			 */
			double	   *v = b->norm[SRC_ALS];
			double		lo,
						hi,
						low;
			bool		missing_allowed = false;
			int			r;

			/* scored straight into place (x given), or copied */
			for (r = 0; r < u->n_runs; r++)
				if (als == NULL)
					seg_reco_dot_rows_f(m->yf + (Size) u->run_a[r] * m->d, u->run_len[r], m->d, x,
										v + u->run_u[r]);
				else
					memcpy(v + u->run_u[r], als + u->run_a[r], sizeof(double) * u->run_len[r]);
			for (r = 0; r < u->n_missing; r++)
				v[u->missing[r]] = NAN;
			allowed_minmax(v, allowed, u->n, &lo, &hi);
			low = isinf(lo) ? 0 : lo;
			for (r = 0; r < u->n_missing; r++)
			{
				v[u->missing[r]] = low;
				missing_allowed |= allowed[u->missing[r]];
			}
			if (missing_allowed)
			{
				lo = low < lo ? low : lo;
				hi = low > hi ? low : hi;
			}
			scale_allowed(v, v, allowed, u->n, lo, hi);
		}
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
			if (u->content_all)
				normalise(b->cscore, b->norm[SRC_CONTENT], allowed, u->n, false);
			else
			{
				for (j = 0; j < u->n; j++)
					b->norm[SRC_CONTENT][j] = u->ci[j] >= 0 ? b->cscore[u->ci[j]] : 0;
				normalise(b->norm[SRC_CONTENT], b->norm[SRC_CONTENT], allowed, u->n, false);
			}
			has[SRC_CONTENT] = true;
		}
		if (buy_again && hw->w[SRC_BA] > 0)
		{
			blend_buy_again(b->norm[SRC_BA], u, o, end, allowed, n_allowed);
			has[SRC_BA] = true;
		}
		if (buy_again && hw->w[SRC_SEASON] > 0)
			has[SRC_SEASON] = blend_seasonal(b->norm[SRC_SEASON], u, o, end, allowed);
	}
	/* next basket: the customer's own vector needs occasions, the neighbours' part not */
	if (use_history && nb != NULL && nb->params != NULL && hw->w[SRC_NB] > 0 &&
		(o->n > 0 || nb->n > 0))
	{
		/* its baskets are the receipts (distinct times), counted on the way */
		int			baskets = blend_nextbasket(b->norm[SRC_NB], u, o, nb, b->ts_scratch, b->nb_scratch,
											   b->nb_pid, allowed);

		if (receipts < 0)
			receipts = baskets;
		has[SRC_NB] = true;
	}
	/* UP-CF@r's neighbours: the stored scores of the products new to the customer */
	if (use_history && nb != NULL && nb->params != NULL && hw->w[SRC_UPCF] > 0 && nb->upcf_n > 0)
	{
		blend_upcf(b->norm[SRC_UPCF], u, o, nb, allowed);
		has[SRC_UPCF] = true;
	}
	/* ALS and buy-again weigh by the customer's receipts h: h / (h + history_prior) */
	if (use_history)
	{
		int			h = receipts >= 0 ? receipts : count_receipts(o, b->ts_scratch);

		conf = hw->history_prior > 0 ? h / (h + hw->history_prior) : 1.0;
	}
	for (s = 0; s < N_SRC; s++)
	{
		b->w_eff[s] = has[s] ? hw->w[s] : 0;
		if (s == SRC_ALS || s == SRC_BA)
			b->w_eff[s] *= conf;
		total += b->w_eff[s];
	}
	/*
	 * nothing applies (say a member with ALS factors from digital events
	 * but no receipt): popularity here, and the caller serves the stored
	 * cold-start choice (seg_reco_cold_start) instead
	 */
	b->fallback = !(total > 0);
	if (b->fallback)
		b->w_eff[SRC_POP] = 1.0;

	/*
	 * popularity, when it weighs: share of the model's training customers,
	 * normalised once per universe for a customer whose products are all
	 * allowed (read in place: b->norm[SRC_POP] points to it)
	 */
	if (b->w_eff[SRC_POP] != 0)
	{
		if (n_allowed == u->n)
			b->norm[SRC_POP] = u->pop_all;
		else
		{
			b->norm[SRC_POP] = b->pop_scratch;
			normalise(u->pop_raw, b->pop_scratch, allowed, u->n, false);
		}
	}
	blend_sum(b, u->n, allowed);
}

/*
 * The blend of one customer when ALS is the only source with a weight and
 * every product is allowed (recommend_all, from seg_reco_als_screen): the
 * score min-max normalises ALS and weighs it, a non-decreasing function of
 * the ALS score, so the best blended scores are those of the best ALS
 * scores.  cand[0..nc-1] (universe indexes, ascending) with exact ALS
 * scores exact[], lo and hi the exact extremes over the model's products,
 * sup above every other one's ALS score; a product the model lacks scores
 * as lo (so 0), below the p-th, or the plain blend decides.  Writes b->w_eff, and b->norm[SRC_ALS] and b->score
 * at the candidates, each the expression of seg_reco_blend_customer (the
 * same bits); pool[0..p-1] := the p best by score, ties to the lower index,
 * as seg_reco_topk over the whole blend.  Returns p, or -1 when the plain
 * blend must decide: fewer than p candidates, a product outside them that
 * could tie the p-th, every score equal, or popularity alone (no receipt:
 * ALS weighs nothing).  fv: room for nc doubles.
 */
/* task-safe: see threads.h */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
int
seg_reco_blend_als_pool(Blend *b, const Universe *u, const HybridWeights *hw, const Occasions *o,
						bool use_history, const int32 *cand, const double *exact, int nc,
						double lo, double hi, double sup, int p, int32 *pool, double *fv)
{
	double		conf = 1.0,
				range = hi - lo,
				w,
				dd,
				fsup;
	int			i,
				s,
				got;

	if (nc < p || p <= 0 || !(hi > lo))
		return -1;
	if (use_history)
	{
		int			h = o->n_receipts >= 0 ? o->n_receipts : count_receipts(o, b->ts_scratch);

		conf = hw->history_prior > 0 ? h / (h + hw->history_prior) : 1.0;
	}
	for (s = 0; s < N_SRC; s++)
		b->w_eff[s] = s == SRC_POP ? hw->w[s] : 0;
	b->w_eff[SRC_ALS] = hw->w[SRC_ALS] * conf;
	w = b->w_eff[SRC_ALS];
	if (!(w > 0))
		return -1;
	b->boost = NULL;
	b->cold = false;
	b->fallback = false;
	for (i = 0; i < nc; i++)
	{
		double		d = exact[i] - lo;
		double		t = (d > 0 ? d : 0) / range;	/* scale_allowed */

		b->norm[SRC_ALS][cand[i]] = t;
		fv[i] = 0.0 + w * t;	/* weighted_sum, one source */
		b->score[cand[i]] = fv[i];
	}
	got = seg_reco_topk(fv, NULL, nc, p, pool);
	if (got < p)
		return -1;
	/* a product outside the candidates scores at most f(sup): below the p-th */
	dd = sup - lo;
	fsup = 0.0 + w * ((dd > 0 ? dd : 0) / range);
	if (!(fv[pool[p - 1]] > fsup))
		return -1;
	for (i = 0; i < p; i++)
		pool[i] = cand[pool[i]];
	(void) u;
	return p;
}

/* the contributions of the sources (and the boost) to product j's score */
/* task-safe: see threads.h */
void
seg_reco_row_contributions(const Blend *b, int j, double *con)
{
	int			s;

	for (s = 0; s < N_SRC; s++)
		con[s] = b->w_eff[s] > 0 ? b->w_eff[s] * b->norm[s][j] : 0;
	con[N_SRC] = b->boost ? b->boost[j] : 0;
}

/*
 * The sources whose contribution is at least 10% of the total, largest
 * first, as a key: each one's number + 1 in a hexadecimal digit (at most N_SRC + 1 of
 * them: 32 bits), the first
 * the most significant (seg_reco_sources_datum_key makes the text[])
 */
uint32
seg_reco_sources_key(const double *con_in)
{
	double		con[N_SRC + 1];
	uint32		key = 0;
	int			s;
	double		total = 0;

	StaticAssertStmt(N_SRC + 1 < 16 && 4 * (N_SRC + 1) <= 32, "a source number must fit a hexadecimal digit");
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
		key = key * 16 + (uint32) (bi + 1);
		con[bi] = 0;
	}
	return key;
}

/* the text[] of a key of seg_reco_sources_key */
Datum
seg_reco_sources_datum_key(uint32 key)
{
	Datum		el[N_SRC + 1];
	int			digit[N_SRC + 1];
	int			n = 0,
				i;

	for (; key != 0 && n <= N_SRC; key /= 16)
		digit[n++] = (int) (key % 16) - 1;
	for (i = 0; i < n; i++)
	{
		int			s = digit[n - 1 - i];

		el[i] = CStringGetTextDatum(s < N_SRC ? src_name[s] : "boost");
	}
	return PointerGetDatum(construct_array(el, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* text[] of the sources whose contribution is at least 10% of the total, largest first */
Datum
seg_reco_sources_datum(const double *con_in)
{
	return seg_reco_sources_datum_key(seg_reco_sources_key(con_in));
}

/* the sources whose contribution is at least 10% of the row's, largest first */
Datum
seg_reco_row_sources(const Blend *b, int j)
{
	Datum		el[1];
	double		con[N_SRC + 1];

	if (b->cold)
	{
		el[0] = CStringGetTextDatum(b->cold_label[j] == 1 ? "cold_start" : "popularity");
		return PointerGetDatum(construct_array(el, 1, TEXTOID, -1, false, TYPALIGN_INT));
	}
	seg_reco_row_contributions(b, j, con);
	return seg_reco_sources_datum(con);
}

static SPIPlanPtr plan_cold = NULL;
static SPIPlanPtr plan_cold_choice = NULL;

/*
 * Cold start: when build_popularity has run and the model reads
 * seg_reco.transactions, the list it chose on its validation window
 * (popularity_info.cold_start, since 0.2.0): demographic, the customer's
 * list of cold_start_recommendations (sources {cold_start}), or
 * popularity, its global list (NULL customer; sources {popularity}); a
 * database still at 0.1.0 has no choice and gets the demographic list.
 * A customer id absent from seg_reco.customers (an anonymous visitor, a
 * stale id in a dashboard's join) gets the global list, labelled
 * {popularity}: nothing about the customer is known.  The model's
 * popularity fills up.  score orders, disp is shown.
 */
void
seg_reco_cold_start(Blend *b, const Universe *u, const SegRecoAlsModel *m, int64 customer_id,
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
		char		nulls[2] = {' ', ' '};
		uint64		r;
		int			label = 1;
		bool		isnull;
		Datum		choice;

		values[0] = Int64GetDatum(customer_id);
		if (SPI_execute_plan(seg_reco_keep_plan(&plan_cold_choice,
									   "SELECT pg_catalog.to_jsonb(pi) OPERATOR(pg_catalog.->>) 'cold_start',"
									   " EXISTS (SELECT 1 FROM seg_reco.customers c"
									   " WHERE c.customer_id OPERATOR(pg_catalog.=) $1)"
									   " FROM seg_reco.popularity_info pi",
									   1, types),
							 values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading seg_reco.popularity_info failed");
		if (SPI_processed == 0)
			return;
		choice = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if ((!isnull && strcmp(TextDatumGetCString(choice), "popularity") == 0) ||
			!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		{
			nulls[0] = 'n';
			label = 2;
		}
		SPI_freetuptable(SPI_tuptable);
		values[1] = Int32GetDatum(Max(want, 1));
		if (SPI_execute_plan(seg_reco_keep_plan(&plan_cold,
									   "SELECT c.product_id, c.score, c.rank"
									   " FROM seg_reco.cold_start_recommendations($1, $2) c",
									   2, types),
							 values, nulls, true, 0) != SPI_OK_SELECT)
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
			b->cold_label[jj] = label;
		}
		SPI_freetuptable(SPI_tuptable);
	}
}
