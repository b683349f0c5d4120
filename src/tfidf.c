/*
 * tfidf.c
 *      Content vectors of products and the similarities computed from them:
 *      seg_reco.content_similar and seg_reco.content_scores.
 *
 * The vectors themselves are built in SQL by seg_reco.build_content()
 * (PostgreSQL's text search with the norwegian configuration does the
 * tokenising, stemming and stop words) and stored sparse in
 * seg_reco.product_content: ascending term ids and L2-normalised float4
 * weights per product.  This file reads them into a per-backend cache of
 * the whole catalogue, as compressed rows (CSR) plus an inverted index
 * (term -> products), keyed by seg_reco.content_version.version: the
 * version visible to the current snapshot is read at every call (one
 * single-row table) and the vectors are reloaded only when it differs, so
 * a rebuild, or a rolled-back rebuild, is never served stale.  A new cache
 * entry is built in a transient context and attached under
 * CacheMemoryContext only once complete, so an error while loading leaves
 * nothing half-built behind.
 *
 * One product against all: the inverted index touches only the products
 * sharing a term with it (a few thousand multiply-adds at 5,000 products).
 * A customer profile against all: a dense profile over the vocabulary and
 * one pass over every product's nonzeros.
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
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "als_model.h"
#include "guards.h"
#include "linalg.h"
#include "threads.h"
#include "tfidf.h"

/* a term id beyond this means a damaged product_content, not a vocabulary */
#define CONTENT_MAX_TERM 100000000

static MemoryContext cache_ctx = NULL;
static MemoryContext entry_ctx = NULL;
static SegRecoContent *cache_entry = NULL;

static SPIPlanPtr plan_version = NULL;
static SPIPlanPtr plan_vectors = NULL;
static SPIPlanPtr plan_history = NULL;


static void
malformed_row(int64 product_id, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("content vector of product " INT64_FORMAT " is malformed: %s", product_id, why),
			 errdetail("seg_reco.product_content holds ascending term ids of at least 1 and as many finite weights, without NULLs."),
			 errhint("Run SELECT seg_reco.build_content(); to rebuild the vectors.")));
}

/* a 1-D array without NULLs, of the element type wanted; returns its length */
static int
checked_array(ArrayType *a, Oid elemtype, int64 product_id)
{
	if (ARR_ELEMTYPE(a) != elemtype)
		malformed_row(product_id, "unexpected element type");
	if (ARR_NDIM(a) > 1)
		malformed_row(product_id, "more than one dimension");
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		malformed_row(product_id, "NULL element");
	return ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

/* products by count of nonzeros, most first (ties by index) */
static int
cmp_len_desc(const void *a, const void *b, void *arg)
{
	const SegRecoContent *c = (const SegRecoContent *) arg;
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;
	int64		lx = c->offset[x + 1] - c->offset[x],
				ly = c->offset[y + 1] - c->offset[y];

	if (lx != ly)
		return lx > ly ? -1 : 1;
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* the slices of eight of c's rows (SegRecoContent), in ctx */
static void
build_slices(SegRecoContent *c, MemoryContext ctx)
{
	int32	   *order = palloc(sizeof(int32) * Max(c->n, 1));
	int64		total = 0;
	int			i,
				s;

	for (i = 0; i < c->n; i++)
		order[i] = i;
	qsort_arg(order, c->n, sizeof(int32), cmp_len_desc, c);
	c->n_slices = (c->n + 7) / 8;
	c->sl_product = MemoryContextAlloc(ctx, sizeof(int32) * 8 * Max(c->n_slices, 1));
	c->sl_offset = MemoryContextAlloc(ctx, sizeof(int64) * (c->n_slices + 1));
	for (s = 0; s < c->n_slices; s++)
	{
		int32		first = order[8 * s];

		c->sl_offset[s] = total;
		total += 8 * (c->offset[first + 1] - c->offset[first]);
	}
	c->sl_offset[c->n_slices] = total;
	if ((Size) total > MaxAllocSize / sizeof(int32))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("content vectors hold too many nonzeros (" INT64_FORMAT " in slices)", total)));
	c->sl_term = MemoryContextAllocZero(ctx, sizeof(int32) * (total + 1));
	c->sl_weight = MemoryContextAllocZero(ctx, sizeof(float) * (total + 1));
	for (s = 0; s < c->n_slices; s++)
	{
		int			l;

		CHECK_FOR_INTERRUPTS();
		for (l = 0; l < 8; l++)
		{
			int32		p = 8 * s + l < c->n ? order[8 * s + l] : -1;
			int64		k;

			c->sl_product[8 * s + l] = p;
			if (p < 0)
				continue;
			for (k = 0; k < c->offset[p + 1] - c->offset[p]; k++)
			{
				c->sl_term[c->sl_offset[s] + 8 * k + l] = c->term[c->offset[p] + k];
				c->sl_weight[c->sl_offset[s] + 8 * k + l] = c->weight[c->offset[p] + k];
			}
		}
	}
	pfree(order);
}

/* read every vector of the build into a new entry allocated in ctx */
static SegRecoContent *
load_content(int64 version, MemoryContext ctx)
{
	SegRecoContent *c;
	SPITupleTable *tt;
	uint64		nrows,
				r;
	int64		nnz = 0,
				pos;
	int32		max_term = 0;
	int			t;

	if (SPI_execute_plan(seg_reco_keep_plan(&plan_vectors,
								   "SELECT c.product_id, c.terms, c.weights, c.active"
								   " FROM seg_reco.product_content c ORDER BY c.product_id",
								   0, NULL),
						 NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.product_content failed");
	tt = SPI_tuptable;
	nrows = SPI_processed;
	if (nrows > (uint64) (INT_MAX / 2))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("seg_reco.product_content holds too many products (" UINT64_FORMAT ")", nrows)));

	c = MemoryContextAllocZero(ctx, sizeof(SegRecoContent));
	c->version = version;
	c->n = (int) nrows;
	c->product_id = MemoryContextAlloc(ctx, sizeof(int64) * (nrows + 1));
	c->active = MemoryContextAlloc(ctx, sizeof(bool) * (nrows + 1));
	c->offset = MemoryContextAlloc(ctx, sizeof(int64) * (nrows + 1));

	/* pass 1: ids, lengths and checks */
	for (r = 0; r < nrows; r++)
	{
		HeapTuple	tup = tt->vals[r];
		bool		isnull;
		int64		pid;
		ArrayType  *terms,
				   *weights;
		int			len,
					i;
		int32	   *tv;
		float4	   *wv;

		CHECK_FOR_INTERRUPTS();
		pid = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		if (isnull)
			elog(ERROR, "seg_reco.product_content has a NULL product_id");
		if (r > 0 && pid <= c->product_id[r - 1])
			elog(ERROR, "seg_reco.product_content is not ordered by product_id");
		c->product_id[r] = pid;
		{
			Datum		d = SPI_getbinval(tup, tt->tupdesc, 4, &isnull);

			c->active[r] = isnull ? true : DatumGetBool(d);
		}
		terms = DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
		if (isnull)
			malformed_row(pid, "NULL terms");
		weights = DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
		if (isnull)
			malformed_row(pid, "NULL weights");
		len = checked_array(terms, INT4OID, pid);
		if (checked_array(weights, FLOAT4OID, pid) != len)
			malformed_row(pid, "terms and weights differ in length");
		tv = (int32 *) ARR_DATA_PTR(terms);
		wv = (float4 *) ARR_DATA_PTR(weights);
		for (i = 0; i < len; i++)
		{
			if (tv[i] < 1 || tv[i] > CONTENT_MAX_TERM || (i > 0 && tv[i] <= tv[i - 1]))
				malformed_row(pid, "term ids not ascending or out of range");
			if (isnan(wv[i]) || isinf(wv[i]))
				malformed_row(pid, "weight not finite");
		}
		if (len > 0 && tv[len - 1] > max_term)
			max_term = tv[len - 1];
		c->offset[r] = nnz;
		nnz += len;
	}
	c->offset[nrows] = nnz;
	if ((Size) nnz > MaxAllocSize / sizeof(int32))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("content vectors hold too many nonzeros (" INT64_FORMAT ")", nnz)));
	c->n_terms = max_term + 1;

	/* pass 2: the rows */
	c->term = MemoryContextAlloc(ctx, sizeof(int32) * (nnz + 1));
	c->weight = MemoryContextAlloc(ctx, sizeof(float) * (nnz + 1));
	for (r = 0; r < nrows; r++)
	{
		HeapTuple	tup = tt->vals[r];
		bool		isnull;
		ArrayType  *terms = DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
		ArrayType  *weights = DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
		int64		len = c->offset[r + 1] - c->offset[r];

		CHECK_FOR_INTERRUPTS();
		memcpy(c->term + c->offset[r], ARR_DATA_PTR(terms), sizeof(int32) * len);
		memcpy(c->weight + c->offset[r], ARR_DATA_PTR(weights), sizeof(float) * len);
	}

	/* the inverted index: count, prefix sums, fill in product order */
	c->t_offset = MemoryContextAllocZero(ctx, sizeof(int64) * ((Size) c->n_terms + 1));
	c->t_product = MemoryContextAlloc(ctx, sizeof(int32) * (nnz + 1));
	c->t_weight = MemoryContextAlloc(ctx, sizeof(float) * (nnz + 1));
	for (pos = 0; pos < nnz; pos++)
		c->t_offset[c->term[pos] + 1]++;
	for (t = 0; t < c->n_terms; t++)
		c->t_offset[t + 1] += c->t_offset[t];
	{
		int64	   *fill = palloc(sizeof(int64) * ((Size) c->n_terms + 1));

		memcpy(fill, c->t_offset, sizeof(int64) * ((Size) c->n_terms + 1));
		for (r = 0; r < nrows; r++)
		{
			for (pos = c->offset[r]; pos < c->offset[r + 1]; pos++)
			{
				int64		at = fill[c->term[pos]]++;

				c->t_product[at] = (int32) r;
				c->t_weight[at] = c->weight[pos];
			}
		}
		pfree(fill);
	}
	build_slices(c, ctx);
	return c;
}

const SegRecoContent *
seg_reco_content_get(bool missing_ok)
{
	bool		isnull;
	int64		version;
	MemoryContext ctx;
	SegRecoContent *c;

	if (SPI_execute_plan(seg_reco_keep_plan(&plan_version,
								   "SELECT cv.version FROM seg_reco.content_version cv",
								   0, NULL),
						 NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.content_version failed");
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("content vectors have not been built"),
				 errhint("Run SELECT seg_reco.build_content(); as the extension owner.")));
	}
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (cache_entry != NULL && cache_entry->version == version)
		return cache_entry;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "seg_reco content vectors",
								ALLOCSET_DEFAULT_SIZES);
	c = load_content(version, ctx);
	/* complete: attach it, drop the old one */
	if (cache_ctx == NULL)
		cache_ctx = AllocSetContextCreate(CacheMemoryContext, "seg_reco content cache",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextSetParent(ctx, cache_ctx);
	if (entry_ctx != NULL)
		MemoryContextDelete(entry_ctx);
	entry_ctx = ctx;
	cache_entry = c;
	return c;
}

/* task-safe: see threads.h */
int
seg_reco_content_index(const SegRecoContent *c, int64 product_id)
{
	int			lo = 0,
				hi = c->n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (c->product_id[mid] == product_id)
			return mid;
		if (c->product_id[mid] < product_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* task-safe: see threads.h */
double
seg_reco_content_cosine(const SegRecoContent *c, int i, int j)
{
	int64		a = c->offset[i],
				ae = c->offset[i + 1],
				b = c->offset[j],
				be = c->offset[j + 1];
	double		s = 0;

	while (a < ae && b < be)
	{
		if (c->term[a] == c->term[b])
			s += (double) c->weight[a++] * (double) c->weight[b++];
		else if (c->term[a] < c->term[b])
			a++;
		else
			b++;
	}
	/* float4 weights: a unit vector with itself can exceed 1 by an ulp */
	return Min(s, 1.0);
}

void
seg_reco_content_similarity_row(const SegRecoContent *c, int i, double *scores)
{
	int64		pos,
				q;

	memset(scores, 0, sizeof(double) * c->n);
	for (pos = c->offset[i]; pos < c->offset[i + 1]; pos++)
	{
		int32		t = c->term[pos];
		double		w = c->weight[pos];

		for (q = c->t_offset[t]; q < c->t_offset[t + 1]; q++)
			scores[c->t_product[q]] += w * (double) c->t_weight[q];
	}
	/* float4 weights: identical vectors can exceed 1 by an ulp */
	for (q = 0; q < c->n; q++)
		if (scores[q] > 1.0)
			scores[q] = 1.0;
}

/* task-safe: see threads.h */
bool
seg_reco_content_profile_from(const SegRecoContent *c, int n, const int64 *product_id,
							  const double *ts, double half_life_days,
							  double *profile, bool *purchased)
{
	double		latest = -INFINITY,
				norm = 0;
	int			r,
				t;

	memset(profile, 0, sizeof(double) * c->n_terms);
	if (purchased != NULL)
		memset(purchased, 0, sizeof(bool) * c->n);
	for (r = 0; r < n; r++)
		if (ts[r] > latest)
			latest = ts[r];
	for (r = 0; r < n; r++)
	{
		int			i = seg_reco_content_index(c, product_id[r]);
		double		w;
		int64		pos;

		if ((r & 1023) == 1023)
			SEG_RECO_CHECK_FOR_INTERRUPTS();
		if (i < 0)
			continue;			/* a product newer than the build */
		if (purchased != NULL)
			purchased[i] = true;
		w = isinf(half_life_days) ? 1.0 :
			pow(0.5, (latest - ts[r]) / 86400.0 / half_life_days);
		for (pos = c->offset[i]; pos < c->offset[i + 1]; pos++)
			profile[c->term[pos]] += w * (double) c->weight[pos];
	}
	for (t = 0; t < c->n_terms; t++)
		norm += profile[t] * profile[t];
	if (!(norm > 0))
		return false;
	norm = sqrt(norm);
	for (t = 0; t < c->n_terms; t++)
		profile[t] /= norm;
	return true;
}

bool
seg_reco_content_profile(const SegRecoContent *c, int64 customer_id,
						 TimestampTz end, double half_life_days,
						 double *profile, bool *purchased)
{
	Oid			argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		args[2];
	SPITupleTable *tt;
	uint64		nrows,
				r;
	double	   *ts;
	int64	   *pid;
	bool		ok;

	args[0] = Int64GetDatum(customer_id);
	args[1] = TimestampTzGetDatum(end);
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_history,
								   "SELECT h.product_id, extract(epoch FROM h.ts)::pg_catalog.float8"
								   " FROM (SELECT t.product_id, min(t.ts) AS ts"
								   " FROM seg_reco.transactions t"
								   " WHERE t.customer_id = $1 AND t.amount > 0 AND t.ts < $2"
								   " GROUP BY t.product_id, t.receipt_id) h",
								   2, argtypes),
						 args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the purchases of customer " INT64_FORMAT " failed", customer_id);
	tt = SPI_tuptable;
	nrows = SPI_processed;
	if (nrows == 0)
	{
		memset(profile, 0, sizeof(double) * c->n_terms);
		if (purchased != NULL)
			memset(purchased, 0, sizeof(bool) * c->n);
		return false;
	}

	ts = palloc(sizeof(double) * nrows);
	pid = palloc(sizeof(int64) * nrows);
	for (r = 0; r < nrows; r++)
	{
		bool		isnull;

		pid[r] = DatumGetInt64(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
		ts[r] = DatumGetFloat8(SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
	}
	ok = seg_reco_content_profile_from(c, (int) nrows, pid, ts, half_life_days,
									   profile, purchased);
	pfree(ts);
	pfree(pid);
	return ok;
}

/*
 * Every product's score, eight products at a time (the slices of
 * SegRecoContent): each of eight double lanes is one product's
 * sum, its terms added in ascending order (then the padding's 0 x 0).
 * Contraction is off in every clone, so the bits are those of the plain
 * loop product by product.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SLICE_CLONES __attribute__((target_clones("default", "avx2", "avx512f"), optimize("fp-contract=off")))
#else
#define SLICE_CLONES
#endif

/* two vectors of four (lanes 0-3, 4-7): GCC 12 spilled vectors of eight on AVX2 */
typedef double cs_v4 __attribute__((vector_size(32)));
typedef float cs_f4u __attribute__((vector_size(16), aligned(4)));

/* task-safe: see threads.h */
SLICE_CLONES
static void
score_slices(const SegRecoContent *c, const double *profile, double *scores)
{
	int			s,
				l;

	for (s = 0; s < c->n_slices; s++)
	{
		const int32 *tm = c->sl_term + c->sl_offset[s];
		const float *wt = c->sl_weight + c->sl_offset[s];
		int64		len = (c->sl_offset[s + 1] - c->sl_offset[s]) / 8,
					k;
		cs_v4		acc[2] = {{0}, {0}};

		if ((s & 1023) == 1023)
			SEG_RECO_CHECK_FOR_INTERRUPTS();
		for (k = 0; k < len; k++)
		{
			const int32 *ti = tm + 8 * k;
			cs_v4		p0 = {profile[ti[0]], profile[ti[1]], profile[ti[2]], profile[ti[3]]},
						p1 = {profile[ti[4]], profile[ti[5]], profile[ti[6]], profile[ti[7]]};

			acc[0] += p0 * __builtin_convertvector(*(const cs_f4u *) (wt + 8 * k), cs_v4);
			acc[1] += p1 * __builtin_convertvector(*(const cs_f4u *) (wt + 8 * k + 4), cs_v4);
		}
		for (l = 0; l < 8; l++)
		{
			int32		p = c->sl_product[8 * s + l];

			if (p >= 0)
				scores[p] = acc[l / 4][l % 4];
		}
	}
}

/* task-safe: see threads.h */
void
seg_reco_content_score_all(const SegRecoContent *c, const double *profile, double *scores)
{
	int64		touched = 0,
				pos;
	int			t;

	/*
	 * Each product's score adds its terms' products in ascending term
	 * order, either way below: the same sums, to the bit (a term outside
	 * the profile adds 0, which changes no sum: they start at +0 and the
	 * weights are finite).  Through the inverted index, term by term, only
	 * the profile's terms cost anything, but each adds into a scattered
	 * sum; by the slices, every nonzero costs a multiply-add, eight
	 * products at a time.  The postings of the profile's terms decide: a
	 * customer's purchases typically share terms with half of the
	 * catalogue's nonzeros or more.
	 */
	for (t = 0; t < c->n_terms; t++)
		if (profile[t] != 0)
			touched += c->t_offset[t + 1] - c->t_offset[t];
	if (touched * 4 > c->offset[c->n])
	{
		score_slices(c, profile, scores);
		return;
	}
	memset(scores, 0, sizeof(double) * c->n);
	for (t = 0; t < c->n_terms; t++)
	{
		double		pt = profile[t];

		if (pt == 0)
			continue;
		if ((t & 4095) == 4095)
			SEG_RECO_CHECK_FOR_INTERRUPTS();
		for (pos = c->t_offset[t]; pos < c->t_offset[t + 1]; pos++)
			scores[c->t_product[pos]] += pt * (double) c->t_weight[pos];
	}
}

/* ---------------------------------------------------------------------------
 * SQL entry points
 * ---------------------------------------------------------------------------
 */

static inline void
check_not_null(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
}

static inline void
check_k(int32 k)
{
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, got %d", k)));
}

/* emit the top k of scores[] where allowed[] as (product_id, score, rank) */
static void
emit_topk(ReturnSetInfo *rsinfo, const SegRecoContent *c, const double *scores,
		  const bool *allowed, int32 k)
{
	int			want = Min(k, c->n);
	int32	   *out = palloc(sizeof(int32) * (want + 1));
	int			got = seg_reco_topk(scores, allowed, c->n, want, out),
				r;

	for (r = 0; r < got; r++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(c->product_id[out[r]]);
		values[1] = Float8GetDatum(scores[out[r]]);
		values[2] = Int32GetDatum(r + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * content_similar(product_id bigint, k int, only_active boolean)
 *   RETURNS TABLE(similar_product_id bigint, similarity float8, rank int)
 */
PG_FUNCTION_INFO_V1(seg_reco_content_similar);
Datum
seg_reco_content_similar(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		product_id;
	int32		k;
	bool		only_active;
	MemoryContext work,
				old;
	const SegRecoContent *c;
	double	   *scores;
	bool	   *allowed;
	int			i,
				j;

	check_not_null(fcinfo, 0, "product_id");
	check_not_null(fcinfo, 1, "k");
	check_not_null(fcinfo, 2, "only_active");
	product_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	only_active = PG_GETARG_BOOL(2);
	check_k(k);

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco content_similar",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	c = seg_reco_content_get(false);
	old = MemoryContextSwitchTo(work);
	i = seg_reco_content_index(c, product_id);
	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("product " INT64_FORMAT " has no content vector", product_id),
				 errdetail("seg_reco.product_content has no row for it."),
				 errhint("Run SELECT seg_reco.build_content(); after adding products.")));
	scores = palloc(sizeof(double) * (c->n + 1));
	allowed = palloc(sizeof(bool) * (c->n + 1));
	seg_reco_content_similarity_row(c, i, scores);
	for (j = 0; j < c->n; j++)
		allowed[j] = j != i && scores[j] > 0 && (!only_active || c->active[j]);
	emit_topk(rsinfo, c, scores, allowed, k);
	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * content_scores(customer_id bigint, k int, as_of date, half_life_days float8,
 *                exclude_purchased boolean, only_active boolean)
 *   RETURNS TABLE(product_id bigint, score float8, rank int)
 */
PG_FUNCTION_INFO_V1(seg_reco_content_scores);
Datum
seg_reco_content_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		customer_id;
	int32		k;
	TimestampTz end = DT_NOEND;
	double		half_life;
	bool		exclude_purchased,
				only_active;
	MemoryContext work,
				old;
	const SegRecoContent *c;
	double	   *profile,
			   *scores;
	bool	   *purchased,
			   *allowed;
	int			j;

	check_not_null(fcinfo, 0, "customer_id");
	check_not_null(fcinfo, 1, "k");
	check_not_null(fcinfo, 3, "half_life_days");
	check_not_null(fcinfo, 4, "exclude_purchased");
	check_not_null(fcinfo, 5, "only_active");
	customer_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	half_life = PG_GETARG_FLOAT8(3);
	exclude_purchased = PG_GETARG_BOOL(4);
	only_active = PG_GETARG_BOOL(5);
	check_k(k);
	if (!(half_life > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half_life_days must be positive, got %g", half_life),
				 errhint("Use 'Infinity' for no decay.")));
	if (!PG_ARGISNULL(2))
	{
		DateADT		as_of = PG_GETARG_DATEADT(2);
		int			overflow = 0;

		if (DATE_NOT_FINITE(as_of))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("as_of must be a finite date"),
					 errhint("Use NULL for all purchases.")));
		end = date2timestamptz_opt_overflow(as_of + 1, &overflow);
		if (overflow != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("as_of is out of range for a timestamp")));
	}

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco content_scores",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	c = seg_reco_content_get(false);
	old = MemoryContextSwitchTo(work);
	profile = palloc(sizeof(double) * ((Size) c->n_terms + 1));
	purchased = palloc(sizeof(bool) * (c->n + 1));
	if (seg_reco_content_profile(c, customer_id, end, half_life, profile, purchased))
	{
		MemoryContextSwitchTo(work);	/* SPI calls end in SPI's context */
		scores = palloc(sizeof(double) * (c->n + 1));
		allowed = palloc(sizeof(bool) * (c->n + 1));
		seg_reco_content_score_all(c, profile, scores);
		for (j = 0; j < c->n; j++)
			allowed[j] = scores[j] > 0 && (!only_active || c->active[j]) &&
				(!exclude_purchased || !purchased[j]);
		emit_topk(rsinfo, c, scores, allowed, k);
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}
