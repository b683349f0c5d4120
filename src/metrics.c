/*
 * metrics.c
 *      Ranking metrics on arrays of product ids, and intra-list diversity.
 *
 * recommended is a ranked list: only its first k entries count, and a
 * product repeated in it counts at its first position only (a later copy
 * is a miss).  relevant is a set (duplicates ignored).  With hits the
 * relevant products among the first k and R = |relevant|:
 *
 *   precision@k = hits / k
 *   recall@k    = hits / R
 *   ndcg@k      = sum over hit ranks i of 1 / log2(i + 1), divided by the
 *                 same sum over ranks 1 .. min(k, R) (binary relevance)
 *   AP@k        = sum over hit ranks i of precision@i, divided by min(k, R)
 *   hit@k       = 1 if hits > 0 else 0
 *
 * R = 0 gives NULL for recall, ndcg and AP (avg() then skips the customer)
 * and 0 for precision and hit.  NULL elements are an error; k < 1 is an
 * error.  Sums are in double.
 *
 * intra_list_diversity reads the content vectors through tfidf.h.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "tfidf.h"

typedef struct RankedHits
{
	int			k;				/* the k asked for */
	int			n_relevant;		/* distinct relevant products */
	int			hits;
	int			n_hit_ranks;
	int		   *hit_ranks;		/* 1-based ranks of hits, ascending */
} RankedHits;

typedef struct RankItem
{
	int64		id;
	int			pos;
} RankItem;

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static int
cmp_rank_item(const void *a, const void *b)
{
	const RankItem *x = a;
	const RankItem *y = b;

	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* the elements of a bigint[] (any dimensions); NULL elements are an error */
static int64 *
int8_elements(ArrayType *a, const char *what, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *out;
	int			i;

	if (ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a bigint array", what)));
	deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	out = palloc(sizeof(int64) * (*n + 1));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL elements", what),
					 errhint("Remove the NULLs, e.g. with array_remove(%s, NULL).", what)));
		out[i] = DatumGetInt64(elems[i]);
	}
	return out;
}

static RankedHits
ranked_hits(FunctionCallInfo fcinfo)
{
	ArrayType  *rec_a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *rel_a = PG_GETARG_ARRAYTYPE_P(1);
	int32		k = PG_GETARG_INT32(2);
	RankedHits	h;
	int64	   *rec,
			   *rel;
	int			n_rec,
				n_rel,
				m,
				i,
				out;
	RankItem   *items;
	bool	   *is_hit;

	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, got %d", k)));
	rec = int8_elements(rec_a, "recommended", &n_rec);
	rel = int8_elements(rel_a, "relevant", &n_rel);

	/* relevant: sorted, distinct */
	qsort(rel, n_rel, sizeof(int64), cmp_int64);
	for (i = 0, out = 0; i < n_rel; i++)
		if (out == 0 || rel[out - 1] != rel[i])
			rel[out++] = rel[i];
	n_rel = out;

	memset(&h, 0, sizeof(h));
	h.k = k;
	h.n_relevant = n_rel;
	m = Min(n_rec, k);
	h.hit_ranks = palloc(sizeof(int) * (m + 1));
	if (m == 0 || n_rel == 0)
		return h;

	/* first occurrences among the first m: sort (id, position) */
	items = palloc(sizeof(RankItem) * m);
	for (i = 0; i < m; i++)
	{
		items[i].id = rec[i];
		items[i].pos = i;
	}
	qsort(items, m, sizeof(RankItem), cmp_rank_item);
	is_hit = palloc0(sizeof(bool) * m);
	for (i = 0; i < m; i++)
	{
		if (i > 0 && items[i].id == items[i - 1].id)
			continue;			/* a repeat: counted at its first position */
		if (bsearch(&items[i].id, rel, n_rel, sizeof(int64), cmp_int64) != NULL)
			is_hit[items[i].pos] = true;
	}
	for (i = 0; i < m; i++)
		if (is_hit[i])
			h.hit_ranks[h.n_hit_ranks++] = i + 1;
	h.hits = h.n_hit_ranks;
	return h;
}

PG_FUNCTION_INFO_V1(seg_reco_precision_at_k);
Datum
seg_reco_precision_at_k(PG_FUNCTION_ARGS)
{
	RankedHits	h = ranked_hits(fcinfo);

	PG_RETURN_FLOAT8((double) h.hits / (double) h.k);
}

PG_FUNCTION_INFO_V1(seg_reco_recall_at_k);
Datum
seg_reco_recall_at_k(PG_FUNCTION_ARGS)
{
	RankedHits	h = ranked_hits(fcinfo);

	if (h.n_relevant == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) h.hits / (double) h.n_relevant);
}

PG_FUNCTION_INFO_V1(seg_reco_ndcg_at_k);
Datum
seg_reco_ndcg_at_k(PG_FUNCTION_ARGS)
{
	RankedHits	h = ranked_hits(fcinfo);
	double		dcg = 0,
				idcg = 0;
	int			i,
				ideal;

	if (h.n_relevant == 0)
		PG_RETURN_NULL();
	for (i = 0; i < h.n_hit_ranks; i++)
		dcg += 1.0 / log2((double) h.hit_ranks[i] + 1.0);
	ideal = Min(h.k, h.n_relevant);
	for (i = 1; i <= ideal; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		idcg += 1.0 / log2((double) i + 1.0);
	}
	PG_RETURN_FLOAT8(dcg / idcg);
}

PG_FUNCTION_INFO_V1(seg_reco_average_precision_at_k);
Datum
seg_reco_average_precision_at_k(PG_FUNCTION_ARGS)
{
	RankedHits	h = ranked_hits(fcinfo);
	double		sum = 0;
	int			i;

	if (h.n_relevant == 0)
		PG_RETURN_NULL();
	/* the (i+1)-th hit at rank r: precision@r = (i + 1) / r */
	for (i = 0; i < h.n_hit_ranks; i++)
		sum += (double) (i + 1) / (double) h.hit_ranks[i];
	PG_RETURN_FLOAT8(sum / (double) Min(h.k, h.n_relevant));
}

PG_FUNCTION_INFO_V1(seg_reco_hit_at_k);
Datum
seg_reco_hit_at_k(PG_FUNCTION_ARGS)
{
	RankedHits	h = ranked_hits(fcinfo);

	PG_RETURN_FLOAT8(h.hits > 0 ? 1.0 : 0.0);
}

/*
 * intra_list_diversity(products bigint[]): 1 - mean cosine over the pairs
 * of listed products that have a content vector; NULL elements and
 * products without a row in product_content are skipped; NULL when fewer
 * than two remain.
 */
#define INTRA_LIST_MAX 10000

PG_FUNCTION_INFO_V1(seg_reco_intra_list_diversity);
Datum
seg_reco_intra_list_diversity(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				m = 0,
				i,
				j;
	int		   *idx;
	const SegRecoContent *c;
	double		sum = 0,
				pairs;

	if (ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("products must be a bigint array")));
	deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	/* the pairs grow with the square of the list: a list, not a catalogue */
	if (n > INTRA_LIST_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("intra_list_diversity takes at most %d products, got %d", INTRA_LIST_MAX, n),
				 errdetail("It compares every pair of the list's products."),
				 errhint("Pass one recommendation list (recommend_for's k is at most 1000).")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	c = seg_reco_content_get(false);
	SPI_finish();				/* the cache outlives the connection */

	idx = palloc(sizeof(int) * (n + 1));
	for (i = 0; i < n; i++)
	{
		int			x;

		if (nulls[i])
			continue;
		x = seg_reco_content_index(c, DatumGetInt64(elems[i]));
		if (x >= 0)
			idx[m++] = x;
	}
	if (m < 2)
		PG_RETURN_NULL();
	for (i = 0; i < m; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (j = i + 1; j < m; j++)
			sum += seg_reco_content_cosine(c, idx[i], idx[j]);
	}
	pairs = (double) m * (double) (m - 1) / 2.0;
	PG_RETURN_FLOAT8(1.0 - sum / pairs);
}
