/*
 * nbr.c
 *      The repeat-aware next-basket model: TIFU-KNN (Hu, Ge, Li, Ao, Zhang
 *      and Zhang, "Modeling Personalized Item Frequency Information for
 *      Next-basket Recommendation", SIGIR 2020), written from the paper.
 *
 * A basket is one customer's purchase lines at one time (a receipt).  The
 * customer's T baskets, oldest first, are cut into groups of m consecutive
 * baskets counted from the latest (the oldest group holds the rest, T mod
 * m when that is not 0); G groups.  A group's vector is the mean of its x
 * baskets' binary product vectors, the j-th (of x, oldest first) weighted
 * r_b^(x - j); the customer's vector is the mean of the group vectors, the
 * g-th (of G, oldest first) weighted r_g^(G - g).  So a basket r places
 * from the latest (r = 0 the latest) weighs
 *     r_g^(r div m) x r_b^(r mod m) / x(group) / G.
 * The prediction for customer u: alpha x u's vector + (1 - alpha) x the
 * mean vector of u's k nearest customers (Euclidean distance between the
 * vectors, as the paper's code; u left out; ties to the lower customer id).
 *
 * The build (seg_reco._nextbasket_build) reads the purchase occasions in
 * blocks of customers (seg_reco_occ_open: bounded memory, the lines
 * spilled to temporary files past work_mem), computes each
 * customer's vector (sparse, by product index) and drops the block's
 * lines; memory then holds the vectors: 40 bytes a customer and 20 bytes a
 * product of theirs (about 0.8 KB a customer on the demo data), their
 * entries while they fit in maintenance_work_mem, past it in a temporary
 * file (nb_spill), from which the candidates' rows are read once and each
 * block's rows in turn (nb_neighbours): the same rows either way.  It finds
 * the k nearest customers of every customer in blocks of B customers: the
 * block is laid out by product (an inverted list: the block's customers
 * who bought each product), and for each candidate neighbour, for each of
 * its products, the list's customers get the product of the two weights
 * added to their dot product (on seg_reco.threads threads).  That is the
 * dense product's sum to the last bit (the products a customer did not
 * buy add exact zeros, the others come in the same order) for the density
 * of the vectors (1-5%) of its multiply-adds.  Each row of the B x
 * candidates distances gives its k nearest by seg_reco_topk_set (which,
 * not their rank: a quickselect, O(candidates); the row's sums then run
 * over the neighbours in candidate order), the block's rows (the
 * neighbours' mean vectors, kept to their best products the same way) are
 * computed on the threads too, and stored (NB_STORE_BATCH to an INSERT)
 * before the next block.  Past nextbasket_candidates customers (10,000 by
 * default) the neighbours are searched among a sample of that many (a
 * hash of the id), so the search grows linearly with the customers.  The
 * mean vector of the neighbours is kept to its NB_KEEP best products per
 * customer in seg_reco.nextbasket_neighbours: the top-k of a blend reads
 * no further.
 *
 * The same build also stores a second neighbour source, UP-CF@r
 * (Faggioli, Polato and Aiolli, "Recency Aware Collaborative Filtering for
 * Next Basket Recommendation", UMAP 2020), written from the paper, for the
 * products new to each customer.  A customer v's recent popularity UP@r(v,
 * i) is the share of v's last r baskets (all when r is 0) that held product
 * i.  The similarity of customers u and v is the asymmetric cosine of the
 * sets of products each ever bought, sim(u, v) = |I_u & I_v| / (|I_u|^alpha
 * |I_v|^(1 - alpha)); the score of product i for u is the sum over u's k
 * most similar customers (u left out; ties to the lower customer id) of
 * sim(u, v)^q x UP@r(v, i), q the locality.  The search is the one above
 * with every weight 1 (the dot product of the binary vectors is the size
 * of the intersection, exact in double), among the same candidates.  The
 * products u bought before the build are left out, the others' scores
 * divided by u's best (so in (0, 1]: a locality of 20 would take sim^q
 * below float4's range) and kept to their NB_KEEP best in the row's
 * upcf_product_ids and upcf_scores (NULL when upcf_neighbours is 0: no
 * second search).
 *
 * Everything is ordered by a total order (customers by id, products by id,
 * a customer's occasions by product and time, neighbours by distance and
 * id), so the same rows in any order give the same numbers.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "als_model.h"
#include "as_of.h"
#include "funcapi.h"
#include "utils/date.h"
#include "utils/tuplestore.h"
#include "guards.h"
#include "hash64.h"
#include "linalg.h"
#include "nbr.h"
#include "progress.h"
#include "storage/buffile.h"
#include "reco.h"
#include "threads.h"

PG_FUNCTION_INFO_V1(seg_reco_nextbasket_build);

/* the neighbours' best products kept per customer */
#define NB_KEEP 100
#define NB_MAX_NEIGHBOURS 10000
#define NB_MAX_GROUP 1000
/* past this many customers, neighbours are searched among a sample of this many (the default) */
#define NB_MAX_CANDIDATES 10000
/* the range of the setting nextbasket_candidates */
#define NB_MIN_CANDIDATES_SETTING 100
#define NB_MAX_CANDIDATES_SETTING 10000000
/* the ranges of UP-CF@r's parameters */
#define UPCF_MAX_BASKETS 10000
#define UPCF_MAX_LOCALITY 50

/* qsort_arg of customer indexes by their keys (arg), ties by index */
static int
nb_cmp_key(const void *a, const void *b, void *arg)
{
	const uint64 *key = (const uint64 *) arg;
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	if (key[x] != key[y])
		return key[x] < key[y] ? -1 : 1;
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* task-safe: see threads.h */
static int
nb_cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* times[0..t-1] := the distinct times of ts[0..n-1], ascending; returns t (a basket each) */
/* task-safe: see threads.h */
static int
nb_distinct_times(const double *ts, int n, double *times)
{
	int			t = 0,
				i;

	memcpy(times, ts, sizeof(double) * n);
	qsort(times, n, sizeof(double), nb_cmp_double);
	for (i = 0; i < n; i++)
		if (t == 0 || times[i] != times[t - 1])
			times[t++] = times[i];
	return t;
}

/*
 * The weight of each occasion (w_occ[i]) in the customer's TIFU vector;
 * times: room for n doubles (the distinct times, sorted).  Returns the
 * baskets.
 */
/* task-safe: see threads.h */
static int
tifu_occasion_weights(const double *ts, int n, const NbParams *p, double *times, double *w_occ)
{
	int			t = 0,
				i,
				m = p->group_size,
				g_count,
				last_size;

	if (n == 0)
		return 0;
	t = nb_distinct_times(ts, n, times);
	g_count = (t + m - 1) / m;
	last_size = t - m * (g_count - 1);	/* the oldest group */
	for (i = 0; i < n; i++)
	{
		int			lo = 0,
					hi = t - 1,
					b = 0,
					r,
					g;

		while (lo <= hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (times[mid] == ts[i])
			{
				b = mid;
				break;
			}
			if (times[mid] < ts[i])
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		r = t - 1 - b;
		g = r / m;
		w_occ[i] = pow(p->group_decay, g) * pow(p->within_decay, r % m) /
			(g == g_count - 1 ? last_size : m) / g_count;
	}
	return t;
}

/* task-safe: see threads.h */
int
seg_reco_tifu_vector(const int64 *pid, const double *ts, int n, const NbParams *p,
					 double *times, int64 *out_pid, double *out_w, int *n_baskets)
{
	int			i,
				k = 0;

	/* out_w first holds the weight of each occasion, then the sums in place */
	*n_baskets = tifu_occasion_weights(ts, n, p, times, out_w);
	for (i = 0; i < n; i++)
	{
		if (k > 0 && out_pid[k - 1] == pid[i])
			out_w[k - 1] += out_w[i];
		else
		{
			out_pid[k] = pid[i];
			out_w[k] = out_w[i];
			k++;
		}
	}
	return k;
}

int
seg_reco_upcf_recent_share(const int64 *pid, const double *ts, int n, int baskets, double *times,
						   double *out)
{
	int			t = 0,
				i,
				k = 0,
				last;
	double		cut = -INFINITY;

	if (n == 0)
		return 0;
	t = nb_distinct_times(ts, n, times);
	last = t;
	if (baskets > 0 && t > baskets)
	{
		cut = times[t - baskets];
		last = baskets;
	}
	/* one occasion per product and basket: each counts its basket once */
	for (i = 0; i < n; i++)
	{
		if (i == 0 || pid[i] != pid[i - 1])
			out[k++] = 0;
		if (ts[i] >= cut)
			out[k - 1] += 1.0;
	}
	for (i = 0; i < k; i++)
		out[i] /= last;
	return k;
}

static SPIPlanPtr plan_fetch = NULL;
static SPIPlanPtr plan_params = NULL;

/* p := the parameters in columns first..first + 4 of an SPI row; false when any is NULL */
bool
seg_reco_nb_read_params(HeapTuple tup, TupleDesc td, int first, NbParams *p)
{
	bool		isnull[5];

	p->group_size = DatumGetInt32(SPI_getbinval(tup, td, first, &isnull[0]));
	p->within_decay = DatumGetFloat8(SPI_getbinval(tup, td, first + 1, &isnull[1]));
	p->group_decay = DatumGetFloat8(SPI_getbinval(tup, td, first + 2, &isnull[2]));
	p->neighbours = DatumGetInt32(SPI_getbinval(tup, td, first + 3, &isnull[3]));
	p->alpha = DatumGetFloat8(SPI_getbinval(tup, td, first + 4, &isnull[4]));
	return !(isnull[0] || isnull[1] || isnull[2] || isnull[3] || isnull[4]) && p->group_size >= 1;
}

bool
seg_reco_nb_params(const char *model, NbParams *p)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		ok = false;

	values[0] = CStringGetTextDatum(model);
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_params,
											"SELECT " SEG_RECO_NB_PARAMS_SQL " FROM seg_reco.models m"
											" WHERE m.name OPERATOR(pg_catalog.=) $1",
											1, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the next-basket parameters failed");
	if (SPI_processed == 1)
		ok = seg_reco_nb_read_params(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, p);
	SPI_freetuptable(SPI_tuptable);
	return ok;
}

/* in := the arrays of a (product_ids bigint[], scores float4[]) pair, copied */
static void
nb_arrays(Datum pids, Datum scores, NbInput *in)
{
	ArrayType  *a = DatumGetArrayTypePCopy(pids);
	ArrayType  *s = DatumGetArrayTypePCopy(scores);
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_HASNULL(s) || ARR_ELEMTYPE(a) != INT8OID ||
		ARR_ELEMTYPE(s) != FLOAT4OID || ArrayGetNItems(ARR_NDIM(s), ARR_DIMS(s)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a row of seg_reco.nextbasket_neighbours is malformed"),
				 errdetail("product_ids and scores must be arrays of the same length without NULLs."),
				 errhint("Rebuild it with seg_reco.nextbasket_build(model).")));
	in->n = n;
	in->pid = (const int64 *) ARR_DATA_PTR(a);
	in->score = (const float *) ARR_DATA_PTR(s);
}

/* nb_arrays for recommend_all's walk over the stored rows */
void
seg_reco_nb_arrays(Datum pids, Datum scores, NbInput *in)
{
	in->upcf_n = 0;
	in->upcf_pid = NULL;
	in->upcf_score = NULL;
	nb_arrays(pids, scores, in);
}

/* the same for the UP-CF@r arrays (upcf_product_ids, upcf_scores) */
void
seg_reco_nb_upcf_arrays(Datum pids, Datum scores, NbInput *in)
{
	NbInput		t;

	nb_arrays(pids, scores, &t);
	in->upcf_n = t.n;
	in->upcf_pid = t.pid;
	in->upcf_score = t.score;
}

/*
 * The parameters first (a database still at 0.1.0 has no build, nor the
 * table of neighbours: it is read only when the model has a build).
 */
bool
seg_reco_nb_fetch(const char *model, int64 customer_id, NbParams *p, NbInput *in)
{
	in->params = NULL;
	in->n = 0;
	in->pid = NULL;
	in->score = NULL;
	in->upcf_n = 0;
	in->upcf_pid = NULL;
	in->upcf_score = NULL;
	if (!seg_reco_nb_params(model, p))
		return false;
	seg_reco_nb_fetch_neighbours(model, customer_id, p, in);
	return true;
}

/* the neighbours' part of one customer, with the parameters p already read */
void
seg_reco_nb_fetch_neighbours(const char *model, int64 customer_id, const NbParams *p, NbInput *in)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	in->params = p;
	in->n = 0;
	in->pid = NULL;
	in->score = NULL;
	in->upcf_n = 0;
	in->upcf_pid = NULL;
	in->upcf_score = NULL;
	values[0] = CStringGetTextDatum(model);
	values[1] = Int64GetDatum(customer_id);
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_fetch,
											"SELECT n.product_ids, n.scores, n.upcf_product_ids, n.upcf_scores"
											" FROM seg_reco.nextbasket_neighbours n"
											" WHERE n.model OPERATOR(pg_catalog.=) $1"
											" AND n.customer_id OPERATOR(pg_catalog.=) $2",
											2, types),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the next-basket neighbours failed");
	if (SPI_processed == 1)
	{
		bool		n1,
					n2;
		Datum		d1 = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1),
					d2 = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2);

		if (!n1 && !n2)
			nb_arrays(d1, d2, in);
		d1 = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &n1);
		d2 = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &n2);
		if (!n1 && !n2)
			seg_reco_nb_upcf_arrays(d1, d2, in);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* ---------------------------------------------------------------- the build */

/* every customer's vector, sparse by product index (ascending within a row) */
typedef struct NbMatrix
{
	int64		n_cust;
	int64	   *cust;			/* ascending */
	int64	   *row;			/* n_cust + 1 offsets */
	int32	   *col;
	double	   *val;
	double	   *sq;				/* squared norms */
	double	   *upop;			/* UP@r of each entry (row, col), UP-CF@r's */
	double	   *pa;				/* |I_c|^alpha, UP-CF@r's (c's products ever bought) */
	double	   *pb;				/* |I_c|^(1 - alpha) */
	int			n_prod;
	int64	   *prod;			/* ascending */
} NbMatrix;

/* one block of the neighbour search */
typedef struct NbBlockJob
{
	const NbMatrix *x;
	const int32 *cand;			/* the candidate neighbours (customer indexes, ascending) */
	int			n_cand;
	int64		b0;				/* the block's first customer */
	int			nb;				/* its customers */
	/* the block by product: product p's customers lb[lfirst[p]..lfirst[p+1]-1], weights lw */
	const int32 *lfirst;
	const int32 *lb;
	const double *lw;
	double	   *score;			/* nb x n_cand: minus the squared distance (TIFU-KNN) */
	double	   *score2;			/* nb x n_cand: the asymmetric cosine (UP-CF@r), when both */
	double	   *acc;			/* nb per worker */
	double	   *acc2;			/* nb per worker: the products in common (both) */
	double	   *sel;			/* n_cand per worker: the selection's scratch */
	int			chunk;			/* candidates per task of the product */
	bool		both;			/* also UP-CF@r's similarity, in the same pass */
	int			k;
	int32	   *nbr;			/* nb x k: the neighbours found (candidate positions, then customers) */
	double	   *nbs;			/* nb x k: their scores */
} NbBlockJob;

/*
 * The dot products of a block's customers with the candidates: for each
 * candidate, its products in order, and for each the block's customers
 * who bought it (an inverted list of the block).  Each customer's sum
 * gets the same terms in the same order as a dense product (the products
 * a customer did not buy add exact zeros), so the distances are those of
 * the dense product to the last bit, for about the density of the
 * vectors (1-5%) of its multiply-adds.  With both, the same walk over the
 * lists also counts the products in common (UP-CF@r's binary dot product,
 * exact): the walk, not the adds, is the cost, so the second search
 * comes almost free.
 */
/* task-safe: see threads.h */
static void
nb_product_task(void *arg, int64 task, int worker)
{
	NbBlockJob *j = (NbBlockJob *) arg;
	const NbMatrix *x = j->x;
	double	   *acc = j->acc + (Size) worker * j->nb;
	double	   *acc2 = j->both ? j->acc2 + (Size) worker * j->nb : NULL;
	int			c0 = (int) task * j->chunk,
				c1 = Min(c0 + j->chunk, j->n_cand),
				c;
	int			nb = j->nb,
				b;

	for (c = c0; c < c1; c++)
	{
		int32		v = j->cand[c];
		int64		e;

		for (b = 0; b < nb; b++)
			acc[b] = 0;
		if (acc2)
			for (b = 0; b < nb; b++)
				acc2[b] = 0;
		for (e = x->row[v]; e < x->row[v + 1]; e++)
		{
			int32		pcol = x->col[e],
						i,
						i0 = j->lfirst[pcol],
						i1 = j->lfirst[pcol + 1];
			double		w = x->val[e];

			for (i = i0; i < i1; i++)
				acc[j->lb[i]] += w * j->lw[i];
			/* the list just read, again from cache */
			if (acc2)
				for (i = i0; i < i1; i++)
					acc2[j->lb[i]] += 1.0;
		}
		if (acc2)
			for (b = 0; b < nb; b++)
				j->score2[(Size) b * j->n_cand + c] = acc2[b] / (x->pa[j->b0 + b] * x->pb[v]);
		for (b = 0; b < nb; b++)
			j->score[(Size) b * j->n_cand + c] = -(x->sq[j->b0 + b] + x->sq[v] - 2.0 * acc[b]);
	}
}

/* task-safe: see threads.h */
static void
nb_heap_task(void *arg, int64 task, int worker)
{
	NbBlockJob *j = (NbBlockJob *) arg;
	double	   *s = j->score + (Size) task * j->n_cand;
	int64		self = j->x->cust[j->b0 + task];	/* by id: the candidates ascend by id */
	int32	   *out = j->nbr + (Size) task * j->k;
	int			lo = 0,
				hi = j->n_cand - 1,
				got,
				q;

	/* not one's own neighbour */
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		int64		id = j->x->cust[j->cand[mid]];

		if (id == self)
		{
			s[mid] = -INFINITY;
			break;
		}
		if (id < self)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	/* the set is enough (the rows sum over the neighbours in candidate order) */
	got = seg_reco_topk_set(s, j->n_cand, j->k, out, j->sel + (Size) worker * j->n_cand);
	if (got < 0)
		got = seg_reco_topk(s, NULL, j->n_cand, j->k, out);
	for (q = 0; q < got; q++)
	{
		j->nbs[(Size) task * j->k + q] = s[out[q]];
		out[q] = j->cand[out[q]];
	}
}

/*
 * The rows of a block, computed on the worker threads (nb_row_task): per
 * customer of the block, the kept products of each source (product
 * indexes ascending, NB_KEEP at most) and their scores; the backend's
 * thread turns them into arrays and stores them.
 */
typedef struct NbRowScratch
{
	double	   *acc;			/* n_prod sums, zero between customers */
	bool	   *mark;			/* n_prod: touched */
	bool	   *own;			/* n_prod: the customer's own products (UP-CF@r leaves them out) */
	int32	   *touched;		/* n_prod */
	double	   *tscore;			/* n_prod */
	double	   *sel;			/* n_prod: the selection's scratch */
	int32	   *top;			/* NB_KEEP */
} NbRowScratch;

typedef struct NbRowJob
{
	const NbMatrix *x;
	int64		b0;				/* the block's first customer */
	const int32 *nbr;			/* nb x k: TIFU-KNN's neighbours (customer indexes) */
	int			k;
	const int32 *unbr;			/* nb x uk: UP-CF@r's, by similarity usim */
	const double *usim;
	int			uk;
	double		locality;		/* UP-CF@r's q */
	NbRowScratch *scratch;		/* per worker */
	int32	   *col;			/* nb x 2 x NB_KEEP: the kept products' indexes (TIFU, then UP-CF@r) */
	float4	   *score;			/* nb x 2 x NB_KEEP: their scores */
	int		   *kept;			/* nb x 2: how many; -1: no row (TIFU) or NULL arrays (UP-CF@r) */
} NbRowJob;

/* the store of the neighbours' mean vectors, in batches of NB_STORE_BATCH rows */
#define NB_STORE_BATCH 64

#define NB_STORE_COLS 5			/* per row: customer_id and two pairs of arrays */

typedef struct NbStore
{
	Datum		model;
	SPIPlanPtr	one;			/* one row */
	SPIPlanPtr	batch;			/* NB_STORE_BATCH rows */
	Datum		values[1 + NB_STORE_COLS * NB_STORE_BATCH];
	char		nulls[1 + NB_STORE_COLS * NB_STORE_BATCH];
	int			rows;
	int64		stored;
	Datum	   *ed;				/* NB_KEEP */
	Datum	   *sd;				/* NB_KEEP */
	MemoryContext rowcxt;		/* the arrays of a batch */
} NbStore;

static void
nb_store_flush(NbStore *st)
{
	int			r;

	if (st->rows == NB_STORE_BATCH)
	{
		if (SPI_execute_plan(st->batch, st->values, st->nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "storing the next-basket neighbours failed");
	}
	else
		for (r = 0; r < st->rows; r++)
		{
			Datum		v[1 + NB_STORE_COLS];
			char		nl[1 + NB_STORE_COLS];
			int			q;

			v[0] = st->model;
			nl[0] = ' ';
			for (q = 1; q <= NB_STORE_COLS; q++)
			{
				v[q] = st->values[q + NB_STORE_COLS * r];
				nl[q] = st->nulls[q + NB_STORE_COLS * r];
			}
			if (SPI_execute_plan(st->one, v, nl, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "storing the next-basket neighbours failed");
		}
	st->stored += st->rows;
	st->rows = 0;
	MemoryContextReset(st->rowcxt);
}

static void
nb_store_init(NbStore *st, const char *model)
{
	StringInfoData sql;
	Oid			types[1 + NB_STORE_COLS * NB_STORE_BATCH];
	int			r;

	st->model = CStringGetTextDatum(model);
	st->rows = 0;
	st->stored = 0;
	types[0] = TEXTOID;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "INSERT INTO seg_reco.nextbasket_neighbours"
						   " (model, customer_id, product_ids, scores, upcf_product_ids, upcf_scores) VALUES ");
	for (r = 0; r < NB_STORE_BATCH; r++)
	{
		int			at = 1 + NB_STORE_COLS * r;

		types[at] = INT8OID;
		types[at + 1] = INT8ARRAYOID;
		types[at + 2] = FLOAT4ARRAYOID;
		types[at + 3] = INT8ARRAYOID;
		types[at + 4] = FLOAT4ARRAYOID;
		appendStringInfo(&sql, "%s($1, $%d, $%d, $%d, $%d, $%d)", r > 0 ? ", " : "",
						 at + 1, at + 2, at + 3, at + 4, at + 5);
	}
	st->batch = SPI_prepare(sql.data, 1 + NB_STORE_COLS * NB_STORE_BATCH, types);
	st->one = SPI_prepare("INSERT INTO seg_reco.nextbasket_neighbours"
						  " (model, customer_id, product_ids, scores, upcf_product_ids, upcf_scores)"
						  " VALUES ($1, $2, $3, $4, $5, $6)", 1 + NB_STORE_COLS, types);
	if (st->batch == NULL || st->one == NULL)
		elog(ERROR, "preparing the next-basket insert failed");
	pfree(sql.data);
	st->values[0] = st->model;
	memset(st->nulls, ' ', sizeof(st->nulls));
	st->ed = palloc(sizeof(Datum) * NB_KEEP);
	st->sd = palloc(sizeof(Datum) * NB_KEEP);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco nextbasket rows", ALLOCSET_DEFAULT_SIZES);
}

/* qsort of product indexes */
/* task-safe: see threads.h */
static int
nb_cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * The products touched (s->touched[0..nt-1], their sums in s->acc), each
 * divided by div (the best of them when div is 0), kept to their NB_KEEP
 * best: col[] and score[] := them, ascending by product index; returns
 * how many.  The sums and marks reset.
 */
/* task-safe: see threads.h */
static int
nb_keep(NbRowScratch *s, const NbMatrix *x, int nt, double div, int32 *col, float4 *score)
{
	int			kept = 0,
				q;

	/* the products touched, ascending: read off the marks when they are many */
	if ((int64) nt * 16 >= x->n_prod)
	{
		int32		pcol;

		nt = 0;
		for (pcol = 0; pcol < x->n_prod; pcol++)
			if (s->mark[pcol])
				s->touched[nt++] = pcol;
	}
	else
		qsort(s->touched, nt, sizeof(int32), nb_cmp_int32);
	if (div == 0)
		for (q = 0; q < nt; q++)
			div = Max(div, s->acc[s->touched[q]]);
	if (nt > 0 && div > 0)
	{
		for (q = 0; q < nt; q++)
			s->tscore[q] = s->acc[s->touched[q]] / div;
		/* the set, ascending by place in touched, so by product */
		kept = seg_reco_topk_set(s->tscore, nt, Min(NB_KEEP, nt), s->top, s->sel);
		if (kept < 0)
		{
			kept = seg_reco_topk(s->tscore, NULL, nt, Min(NB_KEEP, nt), s->top);
			qsort(s->top, kept, sizeof(int32), nb_cmp_int32);
		}
		for (q = 0; q < kept; q++)
		{
			col[q] = s->touched[s->top[q]];
			score[q] = (float4) s->tscore[s->top[q]];
		}
	}
	for (q = 0; q < nt; q++)
	{
		s->acc[s->touched[q]] = 0;
		s->mark[s->touched[q]] = false;
	}
	return kept;
}

/*
 * The row of the block's customer task: the mean vector of its TIFU-KNN
 * neighbours, and the UP-CF@r scores of the products new to it from its
 * most similar customers (sim^q x UP@r(v, i)), each kept to its NB_KEEP
 * best products.
 */
/* task-safe: see threads.h */
static void
nb_row_task(void *arg, int64 task, int worker)
{
	NbRowJob   *j = (NbRowJob *) arg;
	const NbMatrix *x = j->x;
	NbRowScratch *s = &j->scratch[worker];
	int64		c = j->b0 + task,
				e;
	const int32 *nbr = j->nbr + (Size) task * j->k;
	int32	   *col = j->col + (Size) task * 2 * NB_KEEP;
	float4	   *score = j->score + (Size) task * 2 * NB_KEEP;
	int		   *kept = j->kept + 2 * task;
	int			nt = 0,
				q;

	for (q = 0; q < j->k; q++)
	{
		int32		v = nbr[q];

		for (e = x->row[v]; e < x->row[v + 1]; e++)
		{
			if (!s->mark[x->col[e]])
			{
				s->mark[x->col[e]] = true;
				s->touched[nt++] = x->col[e];
			}
			s->acc[x->col[e]] += x->val[e];
		}
	}
	kept[0] = kept[1] = -1;
	if (nt == 0)
		return;
	kept[0] = nb_keep(s, x, nt, (double) j->k, col, score);
	if (j->uk == 0)
		return;

	for (e = x->row[c]; e < x->row[c + 1]; e++)
		s->own[x->col[e]] = true;
	nt = 0;
	for (q = 0; q < j->uk; q++)
	{
		int32		v = j->unbr[(Size) task * j->uk + q];
		double		usim = j->usim[(Size) task * j->uk + q];
		double		w = usim > 0 ? pow(usim, j->locality) : 0;

		if (!(w > 0))
			continue;
		for (e = x->row[v]; e < x->row[v + 1]; e++)
		{
			int32		pcol = x->col[e];

			if (s->own[pcol] || !(x->upop[e] > 0))
				continue;
			if (!s->mark[pcol])
			{
				s->mark[pcol] = true;
				s->touched[nt++] = pcol;
			}
			s->acc[pcol] += w * x->upop[e];
		}
	}
	for (e = x->row[c]; e < x->row[c + 1]; e++)
		s->own[x->col[e]] = false;
	kept[1] = nb_keep(s, x, nt, 0, col + NB_KEEP, score + NB_KEEP);
}

/* the arrays of kept products (indexes into x->prod) and scores, in the batch's context */
static void
nb_store_arrays(NbStore *st, const NbMatrix *x, const int32 *col, const float4 *score, int kept,
				Datum *pd, Datum *sd)
{
	MemoryContext old;
	int			q;

	for (q = 0; q < kept; q++)
	{
		st->ed[q] = Int64GetDatum(x->prod[col[q]]);
		st->sd[q] = Float4GetDatum(score[q]);
	}
	old = MemoryContextSwitchTo(st->rowcxt);
	*pd = PointerGetDatum(construct_array(st->ed, kept, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	*sd = PointerGetDatum(construct_array(st->sd, kept, FLOAT4OID, 4, true, TYPALIGN_INT));
	MemoryContextSwitchTo(old);
}

/* the block's rows computed by nb_row_task, stored (a batch at a time) */
static void
nb_store_rows(NbStore *st, const NbRowJob *rj, int nb)
{
	int			b;

	for (b = 0; b < nb; b++)
	{
		const int  *kept = rj->kept + 2 * b;
		const int32 *col = rj->col + (Size) b * 2 * NB_KEEP;
		const float4 *score = rj->score + (Size) b * 2 * NB_KEEP;
		int			at = 1 + NB_STORE_COLS * st->rows;

		if (kept[0] < 0)
			continue;
		st->values[at] = Int64GetDatum(rj->x->cust[rj->b0 + b]);
		nb_store_arrays(st, rj->x, col, score, kept[0], &st->values[at + 1], &st->values[at + 2]);
		if (kept[1] < 0)
		{
			st->values[at + 3] = st->values[at + 4] = (Datum) 0;
			st->nulls[at + 3] = st->nulls[at + 4] = 'n';
		}
		else
		{
			nb_store_arrays(st, rj->x, col + NB_KEEP, score + NB_KEEP, kept[1],
							&st->values[at + 3], &st->values[at + 4]);
			st->nulls[at + 3] = st->nulls[at + 4] = ' ';
		}
		st->rows++;
		if (st->rows == NB_STORE_BATCH)
			nb_store_flush(st);
	}
}

/*
 * The vectors' entries in a temporary file (the build's memory bounded by
 * maintenance_work_mem): entry e of the whole matrix (x->row's positions)
 * is record e of the file.  Written in order as the vectors are made,
 * read back for the candidates (once) and a block of customers at a time.
 */
typedef struct NbEnt
{
	double		val;
	double		upop;
	int32		col;			/* the provisional product index */
} NbEnt;

/* entries [0, n) of x's arrays to the end of the file */
static void
nb_spill(BufFile **file, const NbMatrix *x, int64 n)
{
	NbEnt		buf[1024];
	int64		e0;

	if (*file == NULL)
	{
		PrepareTempTablespaces();
		*file = BufFileCreateTemp(false);
	}
	for (e0 = 0; e0 < n; e0 += lengthof(buf))
	{
		int			m = (int) Min((int64) lengthof(buf), n - e0),
					q;

		CHECK_FOR_INTERRUPTS();
		memset(buf, 0, sizeof(NbEnt) * m);
		for (q = 0; q < m; q++)
		{
			buf[q].val = x->val[e0 + q];
			buf[q].upop = x->upop[e0 + q];
			buf[q].col = x->col[e0 + q];
		}
		BufFileWrite(*file, buf, sizeof(NbEnt) * m);
	}
}

/*
 * entries [e, e + n) of the file into y's arrays from position at, the
 * product indexes made ranks (rank)
 */
static void
nb_load(BufFile *file, int64 e, int64 n, const int32 *rank, NbMatrix *y, int64 at)
{
	NbEnt		buf[1024];
	off_t		pos = (off_t) e * (off_t) sizeof(NbEnt);
	off_t		off;
	int			fileno;
	int64		done;

	if (n <= 0)
		return;
	/* a block, then the bytes into it (a segment of the file holds whole blocks) */
	if (BufFileSeekBlock(file, (long) (pos / BLCKSZ)) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in temporary file of nextbasket_build: %m")));
	BufFileTell(file, &fileno, &off);
	if (BufFileSeek(file, fileno, off + pos % BLCKSZ, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in temporary file of nextbasket_build: %m")));
	for (done = 0; done < n; done += lengthof(buf))
	{
		int			m = (int) Min((int64) lengthof(buf), n - done),
					q;

		if (BufFileRead(file, buf, sizeof(NbEnt) * m) != sizeof(NbEnt) * m)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read temporary file of nextbasket_build: %m")));
		for (q = 0; q < m; q++)
		{
			y->val[at + done + q] = buf[q].val;
			y->upop[at + done + q] = buf[q].upop;
			y->col[at + done + q] = rank[buf[q].col];
		}
	}
}

/* customer v of x as row r of y (its entries to be placed by the caller) */
static inline void
nb_copy_customer(const NbMatrix *x, int64 v, NbMatrix *y, int64 r)
{
	y->cust[r] = x->cust[v];
	y->sq[r] = x->sq[v];
	y->pa[r] = x->pa[v];
	y->pb[r] = x->pb[v];
	y->row[r + 1] = y->row[r] + (x->row[v + 1] - x->row[v]);
}

/*
 * The k nearest customers of every customer, among the candidates
 * cand[0..n_cand-1] (k < n_cand), and the uk most similar by UP-CF@r's
 * asymmetric cosine (uk < n_cand), a block of customers at a time, each
 * block's rows stored as it is done.
 *
 * With efile, x holds the customers and their row starts but not their
 * entries, which are in efile (provisional product indexes, made ranks by
 * rank): the candidates' rows are read once into a compact matrix y, and
 * each block's rows after them; the searches then run on y, with the
 * candidates at rows 0 .. n_cand - 1 and the block after them.  Same
 * blocks, same candidates in the same order, same sums: the same rows as
 * with x whole in memory.
 */
static void
nb_neighbours(const NbMatrix *x, const int32 *cand, int n_cand, int k, int uk, double locality,
			  NbStore *st, BufFile *efile, const int32 *rank)
{
	NbBlockJob	job;
	NbRowJob	rj;
	NbMatrix	y;
	const NbMatrix *bx = x;		/* the matrix the searches read */
	const int32 *bcand = cand;	/* the candidates' rows in it */
	int32	   *ident = NULL;
	int			block = (int) Max(8, Min(256, ((int64) 1 << 22) / Max(n_cand, 1)));
	int			nw = seg_reco_parallel_workers(1024),
				w;
	int32	   *lfirst = palloc(sizeof(int32) * (x->n_prod + 2));
	int32	   *lb;
	double	   *lw;
	double	   *score1;
	int32	   *unbr,
			   *tnbr;
	double	   *usim;
	int64		b0,
				maxnz = 1;

	for (b0 = 0; b0 < x->n_cust; b0 += block)
		maxnz = Max(maxnz, x->row[Min(b0 + block, x->n_cust)] - x->row[b0]);
	lb = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * maxnz);
	lw = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * maxnz);
	if (efile != NULL)
	{
		/* the candidates' rows, once, then room for a block's */
		int64		centries = 0;
		int			j;

		for (j = 0; j < n_cand; j++)
			centries += x->row[cand[j] + 1] - x->row[cand[j]];
		memset(&y, 0, sizeof(y));
		y.n_prod = x->n_prod;
		y.prod = x->prod;
		y.cust = palloc(sizeof(int64) * (n_cand + block));
		y.row = palloc(sizeof(int64) * (n_cand + block + 1));
		y.sq = palloc(sizeof(double) * (n_cand + block));
		y.pa = palloc(sizeof(double) * (n_cand + block));
		y.pb = palloc(sizeof(double) * (n_cand + block));
		y.col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (centries + maxnz));
		y.val = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (centries + maxnz));
		y.upop = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (centries + maxnz));
		y.row[0] = 0;
		ident = palloc(sizeof(int32) * Max(n_cand, 1));
		for (j = 0; j < n_cand; j++)
		{
			if ((j & 255) == 0)
				CHECK_FOR_INTERRUPTS();
			nb_copy_customer(x, cand[j], &y, j);
			nb_load(efile, x->row[cand[j]], x->row[cand[j] + 1] - x->row[cand[j]], rank, &y, y.row[j]);
			ident[j] = j;
		}
		y.n_cust = n_cand;
		bx = &y;
		bcand = ident;
	}
	job.x = bx;
	job.cand = bcand;
	job.n_cand = n_cand;
	job.lfirst = lfirst;
	job.lb = lb;
	job.lw = lw;
	score1 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) block * n_cand);
	job.score = score1;
	job.both = uk > 0;
	job.score2 = job.both ? MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) block * n_cand) : NULL;
	job.acc = palloc(sizeof(double) * block * nw);
	job.acc2 = job.both ? palloc(sizeof(double) * block * nw) : NULL;
	job.sel = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) n_cand * nw);
	job.chunk = Max(64, n_cand / 64);
	tnbr = palloc(sizeof(int32) * (Size) block * k);
	job.nbs = palloc(sizeof(double) * (Size) block * Max(k, uk));
	unbr = palloc(sizeof(int32) * (Size) block * Max(uk, 1));
	usim = palloc(sizeof(double) * (Size) block * Max(uk, 1));
	/* the rows' job: its scratch per worker (the sums and marks zero between customers) */
	rj.x = bx;
	rj.nbr = tnbr;
	rj.k = k;
	rj.unbr = unbr;
	rj.usim = usim;
	rj.uk = uk;
	rj.locality = locality;
	rj.scratch = palloc(sizeof(NbRowScratch) * nw);
	for (w = 0; w < nw; w++)
	{
		rj.scratch[w].acc = palloc0(sizeof(double) * Max(x->n_prod, 1));
		rj.scratch[w].mark = palloc0(sizeof(bool) * Max(x->n_prod, 1));
		rj.scratch[w].own = palloc0(sizeof(bool) * Max(x->n_prod, 1));
		rj.scratch[w].touched = palloc(sizeof(int32) * Max(x->n_prod, 1));
		rj.scratch[w].tscore = palloc(sizeof(double) * Max(x->n_prod, 1));
		rj.scratch[w].sel = palloc(sizeof(double) * Max(x->n_prod, 1));
		rj.scratch[w].top = palloc(sizeof(int32) * NB_KEEP);
	}
	rj.col = palloc(sizeof(int32) * (Size) block * 2 * NB_KEEP);
	rj.score = palloc(sizeof(float4) * (Size) block * 2 * NB_KEEP);
	rj.kept = palloc(sizeof(int) * (Size) block * 2);
	for (b0 = 0; b0 < x->n_cust; b0 += block)
	{
		int			nb = (int) Min(block, x->n_cust - b0),
					b,
					p;
		int64		e,
					lb0 = b0;	/* the block's first row in bx */

		CHECK_FOR_INTERRUPTS();
		if (efile != NULL)
		{
			/* the block's rows after the candidates' */
			for (b = 0; b < nb; b++)
				nb_copy_customer(x, b0 + b, &y, n_cand + b);
			nb_load(efile, x->row[b0], x->row[b0 + nb] - x->row[b0], rank, &y, y.row[n_cand]);
			y.n_cust = n_cand + nb;
			lb0 = n_cand;
		}
		/* the block by product: counts, offsets, then the lists (customers ascending) */
		memset(lfirst, 0, sizeof(int32) * (bx->n_prod + 2));
		for (e = bx->row[lb0]; e < bx->row[lb0 + nb]; e++)
			lfirst[bx->col[e] + 2]++;
		for (p = 2; p < bx->n_prod + 2; p++)
			lfirst[p] += lfirst[p - 1];
		for (b = 0; b < nb; b++)
			for (e = bx->row[lb0 + b]; e < bx->row[lb0 + b + 1]; e++)
			{
				int32		at = lfirst[bx->col[e] + 1]++;

				lb[at] = b;
				lw[at] = bx->val[e];
			}
		job.b0 = lb0;
		job.nb = nb;
		/* both searches' scores in one walk over the lists */
		seg_reco_parallel_for((n_cand + job.chunk - 1) / job.chunk, nb_product_task, &job);
		/* UP-CF@r's neighbours first (into unbr, usim; none when uk is 0), then TIFU-KNN's (job.nbr) */
		if (uk > 0)
		{
			job.score = job.score2;
			job.k = uk;
			job.nbr = unbr;
			seg_reco_parallel_for(nb, nb_heap_task, &job);
			memcpy(usim, job.nbs, sizeof(double) * (Size) nb * uk);
			job.score = score1;
			CHECK_FOR_INTERRUPTS();
		}
		job.k = k;
		job.nbr = tnbr;
		seg_reco_parallel_for(nb, nb_heap_task, &job);
		CHECK_FOR_INTERRUPTS();
		/* the rows on the threads, then stored */
		rj.b0 = lb0;
		seg_reco_parallel_for(nb, nb_row_task, &rj);
		nb_store_rows(st, &rj, nb);
		seg_reco_progress_update(b0 + nb);
	}
	nb_store_flush(st);
	for (w = 0; w < nw; w++)
	{
		pfree(rj.scratch[w].acc);
		pfree(rj.scratch[w].mark);
		pfree(rj.scratch[w].own);
		pfree(rj.scratch[w].touched);
		pfree(rj.scratch[w].tscore);
		pfree(rj.scratch[w].sel);
		pfree(rj.scratch[w].top);
	}
	pfree(rj.scratch);
	pfree(rj.col);
	pfree(rj.score);
	pfree(rj.kept);
	pfree(lfirst);
	pfree(lb);
	pfree(lw);
	pfree(unbr);
	pfree(usim);
	pfree(job.nbs);
	pfree(score1);
	pfree(job.acc);
	pfree(job.sel);
	if (job.both)
	{
		pfree(job.score2);
		pfree(job.acc2);
	}
	pfree(tnbr);
	if (efile != NULL)
	{
		pfree(y.cust);
		pfree(y.row);
		pfree(y.sq);
		pfree(y.pa);
		pfree(y.pb);
		pfree(y.col);
		pfree(y.val);
		pfree(y.upop);
		pfree(ident);
	}
}

/*
 * The candidate neighbours: every customer, or past max_cand (the setting
 * nextbasket_candidates) a sample of that many, chosen by a hash of the
 * customer id (ties by id): the same customers whatever the order of the
 * rows.
 */
static int32 *
nb_candidates(const NbMatrix *x, int max_cand, int *n_cand)
{
	int32	   *cand = palloc(sizeof(int32) * Max(x->n_cust, 1));
	int64		i;

	if (x->n_cust <= max_cand)
	{
		for (i = 0; i < x->n_cust; i++)
			cand[i] = (int32) i;
		*n_cand = (int) x->n_cust;
		return cand;
	}
	{
		uint64	   *key = palloc(sizeof(uint64) * x->n_cust);
		int32	   *ord = palloc(sizeof(int32) * x->n_cust);
		uint64		cut;
		int			n = 0;

		for (i = 0; i < x->n_cust; i++)
		{
			/* splitmix64 of the id */
			key[i] = seg_reco_mix64((uint64) x->cust[i] + SEG_RECO_SPLITMIX_GAMMA);
		}
		for (i = 0; i < x->n_cust; i++)
			ord[i] = (int32) i;
		qsort_arg(ord, x->n_cust, sizeof(int32), nb_cmp_key, key);
		cut = key[ord[max_cand - 1]];
		for (i = 0; i < x->n_cust; i++)
			if (key[i] < cut || (key[i] == cut && n < max_cand))
				cand[n++] = (int32) i;
		*n_cand = n;
		pfree(key);
		pfree(ord);
	}
	return cand;
}

/* qsort_arg of provisional product indexes by their ids (arg) */
static int
nb_cmp_prov(const void *a, const void *b, void *arg)
{
	const int64 *prov = (const int64 *) arg;
	int64		x = prov[*(const int32 *) a],
				y = prov[*(const int32 *) b];

	return x < y ? -1 : (x > y ? 1 : 0);
}

static void
nb_check_params(const NbParams *p)
{
	if (p->group_size < 1 || p->group_size > NB_MAX_GROUP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket group_size must be between 1 and %d, got %d", NB_MAX_GROUP, p->group_size),
				 errhint("Baskets are grouped by this many, counted from the latest; 3 to 7 is usual.")));
	if (!(p->within_decay > 0 && p->within_decay <= 1) || !(p->group_decay > 0 && p->group_decay <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket within_decay and group_decay must be in (0, 1], got %g and %g",
						p->within_decay, p->group_decay),
				 errhint("1 weighs every basket alike; 0.6 to 0.9 favours the recent ones.")));
	if (p->neighbours < 1 || p->neighbours > NB_MAX_NEIGHBOURS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket neighbours must be between 1 and %d, got %d", NB_MAX_NEIGHBOURS,
						p->neighbours),
				 errhint("50 to 300 is usual.")));
	if (!(p->alpha >= 0 && p->alpha <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket alpha must be between 0 and 1, got %g", p->alpha),
				 errhint("alpha weighs the customer's own vector, 1 - alpha the neighbours'.")));
}

static void
upcf_check_params(const UpcfParams *u)
{
	if (u->baskets < 0 || u->baskets > UPCF_MAX_BASKETS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket upcf_baskets must be between 0 and %d, got %d", UPCF_MAX_BASKETS, u->baskets),
				 errdetail("UP-CF@r reads each neighbour's last upcf_baskets baskets; 0 reads them all."),
				 errhint("10 is the default.")));
	if (!(u->alpha >= 0 && u->alpha <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket upcf_alpha must be between 0 and 1, got %g", u->alpha),
				 errhint("The asymmetric cosine divides by |I_u|^alpha |I_v|^(1 - alpha); 0.5 is the plain cosine.")));
	if (!(u->locality > 0 && u->locality <= UPCF_MAX_LOCALITY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket upcf_locality must be above 0 and at most %d, got %g", UPCF_MAX_LOCALITY,
						u->locality),
				 errhint("The similarity is raised to this power; 1 to 10 is usual.")));
	if (u->neighbours < 0 || u->neighbours > NB_MAX_NEIGHBOURS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nextbasket upcf_neighbours must be between 0 and %d, got %d", NB_MAX_NEIGHBOURS,
						u->neighbours),
				 errhint("100 is the default; 0 builds no UP-CF@r scores (the build takes about half the time).")));
}

/*
 * seg_reco._nextbasket_build(model text, as_of timestamptz, group_size int,
 *     within_decay float8, group_decay float8, neighbours int, alpha float8,
 *     candidates int, upcf_baskets int, upcf_alpha float8,
 *     upcf_locality float8, upcf_neighbours int)
 * RETURNS bigint: the customers stored.
 *
 * Replaces the model's rows of seg_reco.nextbasket_neighbours from the
 * purchases before as_of (all when NULL).  The caller (SQL) records the
 * parameters in the model's row.
 */
Datum
seg_reco_nextbasket_build(PG_FUNCTION_ARGS)
{
	char	   *model;
	double		end = INFINITY;
	NbParams	p;
	MemoryContext work,
				old;
	OccStream  *stream;
	int64	   *occ_cust;
	OccRow	   *occ_rows;
	int64		occ_n,
				i,
				first,
				ccap = 1024,
				ecap = 65536,
				scap = 0;
	NbMatrix	x;
	int64	   *pid = NULL;
	double	   *ts = NULL,
			   *times = NULL;
	int32	   *cand,
			   *rank;
	int			k,
				uk,
				n_cand,
				progress;
	UpcfParams	up = {10, 0.5, 2.0, 100};
	HASHCTL		hctl;
	HTAB	   *prod_index;
	int64	   *prov;			/* the products by provisional index (first seen) */
	int			prov_cap = 1024;
	NbStore		st;
	int			max_cand = NB_MAX_CANDIDATES;
	BufFile    *efile = NULL;	/* the entries, once they outgrow the budget */
	int64		ebase = 0;		/* the entry at x.col[0], x.val[0], x.upop[0] */
	int64		budget_ents = Max((int64) 65536, (int64) maintenance_work_mem * 1024 / 20);
	Oid			del_types[1] = {TEXTOID};
	Datum		del_values[1];

	SEG_RECO_ARG_NOT_NULL(0, "model");
	SEG_RECO_ARG_NOT_NULL(2, "group_size");
	SEG_RECO_ARG_NOT_NULL(3, "within_decay");
	SEG_RECO_ARG_NOT_NULL(4, "group_decay");
	SEG_RECO_ARG_NOT_NULL(5, "neighbours");
	SEG_RECO_ARG_NOT_NULL(6, "alpha");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1) && !TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(1)))
		end = (double) PG_GETARG_TIMESTAMPTZ(1) / USECS_PER_SEC +
			(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	p.group_size = PG_GETARG_INT32(2);
	p.within_decay = PG_GETARG_FLOAT8(3);
	p.group_decay = PG_GETARG_FLOAT8(4);
	p.neighbours = PG_GETARG_INT32(5);
	p.alpha = PG_GETARG_FLOAT8(6);
	nb_check_params(&p);
	/* candidates (0.2.0): the setting nextbasket_candidates */
	if (PG_NARGS() > 7)
	{
		SEG_RECO_ARG_NOT_NULL(7, "candidates");
		max_cand = PG_GETARG_INT32(7);
		if (max_cand < NB_MIN_CANDIDATES_SETTING || max_cand > NB_MAX_CANDIDATES_SETTING)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("nextbasket candidates must be between %d and %d, got %d",
							NB_MIN_CANDIDATES_SETTING, NB_MAX_CANDIDATES_SETTING, max_cand),
					 errdetail("Past this many customers, the nearest are searched among a sample of this many."),
					 errhint("10000 (the default) keeps the quality measured on the demo data and UCI Online Retail; fewer are faster.")));
	}
	/* UP-CF@r's parameters (0.2.0): the settings nextbasket_upcf_* */
	if (PG_NARGS() > 11)
	{
		SEG_RECO_ARG_NOT_NULL(8, "upcf_baskets");
		SEG_RECO_ARG_NOT_NULL(9, "upcf_alpha");
		SEG_RECO_ARG_NOT_NULL(10, "upcf_locality");
		SEG_RECO_ARG_NOT_NULL(11, "upcf_neighbours");
		up.baskets = PG_GETARG_INT32(8);
		up.alpha = PG_GETARG_FLOAT8(9);
		up.locality = PG_GETARG_FLOAT8(10);
		up.neighbours = PG_GETARG_INT32(11);
	}
	upcf_check_params(&up);

	progress = seg_reco_progress_begin("nextbasket_build", 3);
	seg_reco_progress_step(progress, "read", -1, "rows", NULL);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco nextbasket_build", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	/*
	 * Each customer's vector, a block of customers at a time (the lines of
	 * a block are dropped once its vectors are made): the products get a
	 * provisional index in the order first seen (customers ascending,
	 * products ascending within, so whatever the order of the rows), made
	 * the rank of the product id at the end.
	 */
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(int64);
	hctl.entrysize = sizeof(int64) + sizeof(int32) * 2;
	hctl.hcxt = work;
	prod_index = hash_create("seg_reco nextbasket products", 8192, &hctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	prov = palloc(sizeof(int64) * prov_cap);
	x.n_prod = 0;
	x.n_cust = 0;
	x.cust = palloc(sizeof(int64) * ccap);
	x.row = palloc(sizeof(int64) * (ccap + 1));
	x.sq = palloc(sizeof(double) * ccap);
	x.pa = palloc(sizeof(double) * ccap);
	x.pb = palloc(sizeof(double) * ccap);
	x.col = MemoryContextAllocHuge(work, sizeof(int32) * ecap);
	x.val = MemoryContextAllocHuge(work, sizeof(double) * ecap);
	x.upop = MemoryContextAllocHuge(work, sizeof(double) * ecap);
	x.row[0] = 0;
	stream = seg_reco_occ_open(NULL, end);
	/* (the scan counted the rows read; then the vectors, customer by customer) */
	seg_reco_progress_step(progress, "vectors", -1, "customers", NULL);
	while (seg_reco_occ_next(stream, &occ_cust, &occ_rows, &occ_n))
	{
		first = 0;
		for (i = 1; i <= occ_n; i++)
		{
			int			n,
						nd,
						nbask,
						r;
			int64		base,
						lbase,
						need,
						c = x.n_cust;

			if (i < occ_n && occ_cust[i] == occ_cust[first])
				continue;
			if ((c & 255) == 0)
			{
				CHECK_FOR_INTERRUPTS();
				seg_reco_progress_update(c);
			}
			if (i - first > scap)
			{
				scap = Max(i - first, scap * 2);
				if (pid != NULL)
				{
					pfree(pid);
					pfree(ts);
					pfree(times);
				}
				pid = MemoryContextAllocHuge(work, sizeof(int64) * scap);
				ts = MemoryContextAllocHuge(work, sizeof(double) * scap);
				times = MemoryContextAllocHuge(work, sizeof(double) * scap);
			}
			if (c == ccap)
			{
				ccap += ccap / 2;
				x.cust = repalloc_huge(x.cust, sizeof(int64) * ccap);
				x.row = repalloc_huge(x.row, sizeof(int64) * (ccap + 1));
				x.sq = repalloc_huge(x.sq, sizeof(double) * ccap);
				x.pa = repalloc_huge(x.pa, sizeof(double) * ccap);
				x.pb = repalloc_huge(x.pb, sizeof(double) * ccap);
			}
			base = x.row[c];
			lbase = base - ebase;
			need = lbase + (i - first);
			if (need > ecap)
			{
				/*
				 * past maintenance_work_mem (20 bytes an entry) the entries
				 * so far go to the file and the arrays start again
				 */
				if (lbase > 0 && Max(need, ecap + ecap / 2) > budget_ents)
				{
					nb_spill(&efile, &x, lbase);
					ebase = base;
					lbase = 0;
					need = i - first;
				}
				if (need > ecap)
				{
					ecap = Max(need, Min(ecap + ecap / 2, budget_ents));
					x.col = repalloc_huge(x.col, sizeof(int32) * ecap);
					x.val = repalloc_huge(x.val, sizeof(double) * ecap);
					x.upop = repalloc_huge(x.upop, sizeof(double) * ecap);
				}
			}
			n = seg_reco_tidy_occasions(occ_rows + first, (int) (i - first), pid, ts);
			/* UP@r first: the TIFU vector compacts pid in place */
			(void) seg_reco_upcf_recent_share(pid, ts, n, up.baskets, times, x.upop + lbase);
			nd = seg_reco_tifu_vector(pid, ts, n, &p, times, pid, x.val + lbase, &nbask);
			x.pa[c] = pow((double) nd, up.alpha);
			x.pb[c] = pow((double) nd, 1.0 - up.alpha);
			x.sq[c] = 0;
			for (r = 0; r < nd; r++)
			{
				bool		found;
				int32	   *ent = (int32 *) ((char *) hash_search(prod_index, &pid[r], HASH_ENTER, &found) +
											 sizeof(int64));

				if (!found)
				{
					if (x.n_prod == prov_cap)
					{
						prov_cap *= 2;
						prov = repalloc(prov, sizeof(int64) * prov_cap);
					}
					prov[x.n_prod] = pid[r];
					ent[0] = x.n_prod++;
				}
				x.col[lbase + r] = ent[0];
				x.sq[c] += x.val[lbase + r] * x.val[lbase + r];
			}
			x.cust[c] = occ_cust[first];
			x.row[c + 1] = base + nd;
			x.n_cust++;
			first = i;
		}
	}
	seg_reco_occ_close(stream);
	hash_destroy(prod_index);
	if (efile != NULL)
	{
		/* the rest to the file too: the searches read it back */
		nb_spill(&efile, &x, x.row[x.n_cust] - ebase);
		pfree(x.col);
		pfree(x.val);
		pfree(x.upop);
		x.col = NULL;
		x.val = NULL;
		x.upop = NULL;
	}
	if (pid != NULL)
	{
		pfree(pid);
		pfree(ts);
		pfree(times);
	}

	/* the products ascending: provisional indexes to ranks */
	{
		int32	   *ord = palloc(sizeof(int32) * Max(x.n_prod, 1));
		int			q;

		for (q = 0; q < x.n_prod; q++)
			ord[q] = q;
		qsort_arg(ord, x.n_prod, sizeof(int32), nb_cmp_prov, prov);
		rank = palloc(sizeof(int32) * Max(x.n_prod, 1));
		x.prod = palloc(sizeof(int64) * Max(x.n_prod, 1));
		for (q = 0; q < x.n_prod; q++)
		{
			rank[ord[q]] = q;
			x.prod[q] = prov[ord[q]];
		}
		/* (in the file they stay provisional, made ranks as they are read) */
		if (efile == NULL)
			for (i = 0; i < x.row[x.n_cust]; i++)
				x.col[i] = rank[x.col[i]];
		pfree(ord);
		pfree(prov);
	}

	/* the neighbours, and the mean vector of each customer's, its best NB_KEEP products stored */
	cand = nb_candidates(&x, max_cand, &n_cand);
	k = (int) Min(p.neighbours, n_cand - 1);
	uk = (int) Min(up.neighbours, n_cand - 1);
	seg_reco_progress_step(progress, "neighbours", x.n_cust, "customers", NULL);
	del_values[0] = CStringGetTextDatum(model);
	if (SPI_execute_with_args("DELETE FROM seg_reco.nextbasket_neighbours n"
							  " WHERE n.model OPERATOR(pg_catalog.=) $1",
							  1, del_types, del_values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting the old next-basket neighbours failed");
	nb_store_init(&st, model);
	if (k > 0)
		nb_neighbours(&x, cand, n_cand, k, uk, up.locality, &st, efile, rank);
	if (efile != NULL)
		BufFileClose(efile);
	pfree(rank);
	SPI_freeplan(st.one);
	SPI_freeplan(st.batch);
	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	seg_reco_progress_end(progress);
	PG_RETURN_INT64(st.stored);
}

/* ---------------------------------------------------------------- one customer's scores */

/*
 * The customer's own TIFU vector from their purchases before end (epoch
 * seconds): the occasions (sorted by product, then time) into *opid and
 * *ots, *n_occ of them; the vector into *vpid and *vw, returns its
 * products.  SPI connected.
 */
static int
nb_own_vector(int64 customer_id, double end, const NbParams *p, int64 **opid, double **ots,
			  int *n_occ, int64 **vpid, double **vw)
{
	int64	   *cust;
	OccRow	   *rows;
	int64		nn;
	double	   *times;
	int			nbask;

	seg_reco_read_occasions(true, customer_id, NULL, end, &cust, &rows, &nn);
	*opid = palloc(sizeof(int64) * Max(nn, 1));
	*ots = palloc(sizeof(double) * Max(nn, 1));
	*vpid = palloc(sizeof(int64) * Max(nn, 1));
	*vw = palloc(sizeof(double) * Max(nn, 1));
	times = palloc(sizeof(double) * Max(nn, 1));
	*n_occ = seg_reco_tidy_occasions(rows, (int) nn, *opid, *ots);
	return seg_reco_tifu_vector(*opid, *ots, *n_occ, p, times, *vpid, *vw, &nbask);
}

PG_FUNCTION_INFO_V1(seg_reco_nextbasket_scores);

/*
 * seg_reco.nextbasket_scores(customer_id bigint, k int, model text,
 *     as_of date) RETURNS TABLE(product_id bigint, score float8,
 *     own float8, neighbours float8, rank int)
 *
 * The raw TIFU-KNN scores of one customer: own = the customer's vector
 * from their purchases as of as_of, neighbours = the stored mean vector of
 * their nearest customers, score = alpha x own + (1 - alpha) x neighbours.
 * No rows for a customer without purchases nor neighbours.
 */
Datum
seg_reco_nextbasket_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		customer_id;
	int			k;
	char	   *model;
	char	   *as_of_opt = NULL;
	MemoryContext work,
				old;
	NbParams	p;
	NbInput		in;
	int64	   *occ_pid,
			   *opid,
			   *upid;
	double	   *occ_ts,
			   *ow,
			   *uown,
			   *unbr,
			   *uscore,
				end;
	int			n_occ,
				nd,
				a = 0,
				b = 0,
				nu = 0,
				got,
				i;
	int32	   *out;

	SEG_RECO_ARG_NOT_NULL(0, "customer_id");
	SEG_RECO_ARG_NOT_NULL(1, "k");
	SEG_RECO_ARG_NOT_NULL(2, "model");
	customer_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (k < 1 || k > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and 100000, got %d", k),
				 errhint("Ask for 10 or so.")));

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco nextbasket_scores", ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	(void) seg_reco_als_model_get_serving(model, &as_of_opt);
	if (!seg_reco_nb_fetch(model, customer_id, &p, &in))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("als model \"%s\" has no next-basket build", model),
				 errdetail("The model was trained on a custom source, or before version 0.2.0."),
				 errhint("Run SELECT seg_reco.nextbasket_build('%s'); or retrain it on the default source.", model)));
	end = seg_reco_serving_end(!PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_DATEADT(3), as_of_opt);
	nd = nb_own_vector(customer_id, end, &p, &occ_pid, &occ_ts, &n_occ, &opid, &ow);

	/* the union of the customer's products and the neighbours', by id */
	upid = palloc(sizeof(int64) * (nd + in.n + 1));
	uown = palloc(sizeof(double) * (nd + in.n + 1));
	unbr = palloc(sizeof(double) * (nd + in.n + 1));
	uscore = palloc(sizeof(double) * (nd + in.n + 1));
	while (a < nd || b < in.n)
	{
		if (b >= in.n || (a < nd && opid[a] < in.pid[b]))
		{
			upid[nu] = opid[a];
			uown[nu] = ow[a++];
			unbr[nu] = 0;
		}
		else if (a >= nd || in.pid[b] < opid[a])
		{
			upid[nu] = in.pid[b];
			uown[nu] = 0;
			unbr[nu] = in.score[b++];
		}
		else
		{
			upid[nu] = opid[a];
			uown[nu] = ow[a++];
			unbr[nu] = in.score[b++];
		}
		uscore[nu] = p.alpha * uown[nu] + (1.0 - p.alpha) * unbr[nu];
		nu++;
	}
	out = palloc(sizeof(int32) * Max(Min(k, nu), 1));
	got = seg_reco_topk(uscore, NULL, nu, Min(k, nu), out);

	MemoryContextSwitchTo(old);
	for (i = 0; i < got; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int64GetDatum(upid[out[i]]);
		values[1] = Float8GetDatum(uscore[out[i]]);
		values[2] = Float8GetDatum(uown[out[i]]);
		values[3] = Float8GetDatum(unbr[out[i]]);
		values[4] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * The next-basket parts of one product's score for one customer, as of end
 * (epoch seconds): *own_part = alpha x own, *nbr_part = (1 - alpha) x
 * neighbours; *n_occ the customer's receipts with the product and
 * *cycle_days their mean gap (0 below two); *upcf_part the stored UP-CF@r
 * score (relative to the customer's best; 0 when not stored, and for a
 * product the customer has bought: UP-CF@r speaks for new products only),
 * from the same row.  False when the model has no build.  SPI connected.
 */
bool
seg_reco_nb_explain(const char *model, int64 customer_id, int64 product_id, double end,
					double *own_part, double *nbr_part, int *n_occ, double *cycle_days,
					double *upcf_part)
{
	NbParams	p;
	NbInput		in;
	int64	   *opid,
			   *vpid;
	double	   *ots,
			   *vw;
	int			n,
				nd,
				i,
				first = -1,
				last = -1;

	*own_part = 0;
	*nbr_part = 0;
	*n_occ = 0;
	*cycle_days = 0;
	*upcf_part = 0;
	if (!seg_reco_nb_fetch(model, customer_id, &p, &in))
		return false;
	for (i = 0; i < in.n; i++)
		if (in.pid[i] == product_id)
			*nbr_part = (1.0 - p.alpha) * in.score[i];
	nd = nb_own_vector(customer_id, end, &p, &opid, &ots, &n, &vpid, &vw);
	for (i = 0; i < n; i++)
		if (opid[i] == product_id)
		{
			if (first < 0)
				first = i;
			last = i;
		}
	if (first >= 0)
	{
		*n_occ = last - first + 1;
		if (*n_occ >= 2)
			*cycle_days = (ots[last] - ots[first]) / 86400.0 / (*n_occ - 1);
	}
	for (i = 0; i < nd; i++)
		if (vpid[i] == product_id)
			*own_part = p.alpha * vw[i];
	if (*n_occ == 0)
		for (i = 0; i < in.upcf_n; i++)
			if (in.upcf_pid[i] == product_id)
				*upcf_part = in.upcf_score[i];
	return true;
}
