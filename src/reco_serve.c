/*
 * reco_serve.c
 *      Serving: the SQL entry points of the hybrid recommender, the top-k
 *      for one customer (recommend_for) and for every customer in blocks
 *      (recommend_all), explanations (why_recommended) and similar products
 *      from an ALS model; and what they read of one customer: the history
 *      in the model's source (to fold in a customer without stored factors)
 *      and the purchase occasions (for content and buy-again).
 *
 * The blend of the sources is in reco_blend.c, the choice of the list in
 * reco_select.c (reco.h).  Everything a call reads comes in a handful of
 * saved SQL plans (the weights setting, model and content version checks,
 * the customer's factors and purchases, the latest transaction
 * (as_of.c), the active flag of the pool); the model and the content
 * vectors are cached per backend by als_model.c and tfidf.c, keyed by
 * version, and the products a call ranks (the two merged, with their
 * popularity) by reco_blend.c, keyed by both versions.  recommend_all
 * reads every customer's purchases in one ordered pass and scores als for
 * a block of customers with one dgemm, then blends each customer exactly
 * as recommend_for does, so the two agree.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/params.h"
#include "storage/buffile.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "als_blocks.h"
#include "als_model.h"
#include "als_train.h"
#include "as_of.h"
#include "guards.h"
#include "linalg.h"
#include "progress.h"
#include "reco.h"
#include "tfidf.h"
#include "threads.h"

#define MAX_K 100000

PG_FUNCTION_INFO_V1(seg_reco_recommend_for);
PG_FUNCTION_INFO_V1(seg_reco_why_recommended);
PG_FUNCTION_INFO_V1(seg_reco_similar_products);
PG_FUNCTION_INFO_V1(seg_reco_recommend_all);

static void
check_k(int k, const char *what)
{
	if (k < 1 || k > MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d, got %d", what, MAX_K, k),
				 errhint("Ask for 10 or so.")));
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

/* the customer's system is not positive definite: say what to do */
static void
singular_error(const SegRecoAlsModel *m)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("cannot fold in the customer: the least-squares system of model \"%s\" is singular",
					m->name),
			 errdetail("The model was trained with regularization %g.", m->regularization),
			 errhint("Retrain the model with a positive regularization, for example 0.01.")));
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
		singular_error(m);
}

/* fold-in: x := the customer's factors solved exactly from the history */
static void
fold_in(const SegRecoAlsModel *m, const int32 *idx, const double *w, int n, double *x)
{
	double	   *a = palloc(sizeof(double) * m->d * m->d);

	if (!seg_reco_als_solve_exact(m->y, m->d, m->yty_reg, idx, w, n, m->alpha, a, x))
		singular_error(m);
	pfree(a);
}

static SPIPlanPtr plan_occasions = NULL;
static SPIPlanPtr plan_occasions_all = NULL;

#define OCCASIONS_SQL(filter, order) \
	"SELECT t.customer_id, t.product_id, pg_catalog.date_part('epoch', t.ts)" \
	" FROM seg_reco.transactions t" \
	" WHERE " filter " t.amount OPERATOR(pg_catalog.>) 0" \
	" AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($1)" order

/* task-safe: see threads.h */
static inline int
cmp_occ(const OccRow *x, const OccRow *y)
{
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ts < y->ts ? -1 : (x->ts > y->ts ? 1 : 0);
}

/* sort_occ_rows: the comparison inlined (no interrupt checks: tasks run it) */
#define ST_SORT sort_occ_rows
#define ST_ELEMENT_TYPE OccRow
#define ST_COMPARE(a, b) cmp_occ(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * One customer's purchase lines rows[0..n-1] as occasions: sorted by
 * product and time, lines of a product at the same time (one receipt)
 * counted once.  pid and ts get the result; returns its length.
 */
/* task-safe: see threads.h */
int
seg_reco_tidy_occasions(OccRow *rows, int n, int64 *pid, double *ts)
{
	int			i,
				m = 0;

	sort_occ_rows(rows, n);
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
	bool		keep_nulls;		/* one customer: a NULL reads as 0, as SPI_getbinval's Datum did */
} OccReceiver;

static bool
occ_receive(TupleTableSlot *slot, DestReceiver *self)
{
	OccReceiver *r = (OccReceiver *) self;
	OccAll	   *o;

	slot_getallattrs(slot);
	if (!r->keep_nulls &&
		(slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2]))
		return true;
	if ((r->n & 65535) == 0)
		CHECK_FOR_INTERRUPTS();
	if (r->n == r->cap)
	{
		r->cap *= 2;
		r->rows = repalloc_huge(r->rows, sizeof(OccAll) * r->cap);
	}
	o = &r->rows[r->n++];
	o->cust = slot->tts_isnull[0] ? 0 : DatumGetInt64(slot->tts_values[0]);
	o->pid = slot->tts_isnull[1] ? 0 : DatumGetInt64(slot->tts_values[1]);
	o->ts = slot->tts_isnull[2] ? 0 : DatumGetFloat8(slot->tts_values[2]);
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
 * order through a cursor.  One customer: the same receiver (no portal).
 */
void
seg_reco_read_occasions(bool one, int64 customer_id, ArrayType *only, double end,
			   int64 **cust, OccRow **rows, int64 *n)
{
	Oid			types[2] = {FLOAT8OID, INT8OID};
	OccReceiver recv;
	SPIExecuteOptions opts;
	ParamListInfo params = makeParamList(one || only != NULL ? 2 : 1);
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;
	int64		i;
	bool		copied = false;
	int			guc_level = 0;

	params->params[0].value = Float8GetDatum(end);
	params->params[0].isnull = false;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = FLOAT8OID;
	if (one)
	{
		params->params[1].value = Int64GetDatum(customer_id);
		params->params[1].isnull = false;
		params->params[1].pflags = PARAM_FLAG_CONST;
		params->params[1].ptype = INT8OID;
	}
	else if (only != NULL)
	{
		params->params[1].value = PointerGetDatum(only);
		params->params[1].isnull = false;
		params->params[1].pflags = PARAM_FLAG_CONST;
		params->params[1].ptype = INT8ARRAYOID;
	}
	memset(&recv, 0, sizeof(recv));
	recv.pub.receiveSlot = occ_receive;
	recv.pub.rStartup = occ_startup;
	recv.pub.rShutdown = occ_noop;
	recv.pub.rDestroy = occ_noop;
	recv.pub.mydest = DestNone;
	recv.cap = one ? 256 : 65536;
	recv.keep_nulls = one;
	recv.rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(OccAll) * recv.cap);
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &recv;
	if (one)
	{
		/*
		 * One customer's lines through the (customer_id, ts) index in its
		 * order, not a bitmap scan and a sort: the planner prices each line
		 * as a random page (the table is in time order, not by customer),
		 * but a receipt's lines lie together and the lines come in index
		 * order, so the index scan reads no more pages and skips building
		 * the bitmap and sorting (about 10% of a recommend_for at the demo
		 * scale).  The setting holds for this statement (and its plan,
		 * made in it) only, as in PostgreSQL's own ri_triggers.c.
		 */
		guc_level = NewGUCNestLevel();
		(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	if (only != NULL)
		/* a plan for the customers at hand: few through the index, many by a scan */
		rc = SPI_execute_extended(OCCASIONS_SQL("t.customer_id OPERATOR(pg_catalog.=) ANY ($2) AND", ""),
								  &opts);
	else
		rc = SPI_execute_plan_extended(one ?
									   seg_reco_keep_plan(&plan_occasions,
														  OCCASIONS_SQL("t.customer_id OPERATOR(pg_catalog.=) $2 AND",
																		" ORDER BY t.customer_id, t.ts"),
														  2, types) :
									   seg_reco_keep_plan(&plan_occasions_all,
														  OCCASIONS_SQL("t.customer_id IS NOT NULL AND", ""),
														  1, types),
									   &opts);
	if (rc < 0)
		elog(ERROR, "reading the purchase lines failed");
	MemoryContextSwitchTo(cxt);
	if (one)
		AtEOXact_GUC(true, guc_level);
	*cust = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(recv.n, 1));
	*rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(OccRow) * Max(recv.n, 1));
	if (recv.n > 0 && !one)
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
			copied = true;
		}
		else
			sort_occ_all(recv.rows, recv.n);
	}
	if (!copied)
		for (i = 0; i < recv.n; i++)
		{
			(*cust)[i] = recv.rows[i].cust;
			(*rows)[i].pid = recv.rows[i].pid;
			(*rows)[i].ts = recv.rows[i].ts;
		}
	pfree(recv.rows);
	*n = recv.n;
}

/* ---------------------------------------------------------------- the occasions in blocks */

/*
 * Every customer's purchase lines in blocks of customers, in bounded
 * memory (seg_reco_occ_open, _next, _close): one sequential scan, as
 * seg_reco_read_occasions, into a buffer of at most work_mem
 * (OccAll rows) and a count of the rows per range of customer ids (a
 * histogram of OCC_BUCKETS buckets).  When the buffer never fills, the
 * lines stay in memory and make one block.  Otherwise each full buffer is
 * spilled to a temporary file; after the scan the buckets are cut into
 * ranges of at most a buffer of rows each (a bucket is never split), the
 * spilled rows are dealt into one temporary file per range, and each
 * block is one range read back and sorted by customer.  So memory holds
 * the buffer and one block (about twice work_mem, unless one
 * bucket of ids holds more lines than that), whatever the table's size.
 */
#define OCC_BUCKETS 65536

struct OccStream
{
	DestReceiver pub;
	MemoryContext cxt;
	bool		in_scan;
	/* the ids' range and the rows per bucket */
	int64		cmin;
	int64		cmax;
	uint64		width;			/* ids per bucket */
	int			nbuck;
	int64	   *hist;
	/* the buffer */
	OccAll	   *buf;
	int64		nbuf;
	int64		bufcap;
	int64		cap;			/* the most rows a buffer holds */
	BufFile    *spill;
	int64		nspill;
	/* the blocks */
	int			nparts;
	int			cur;
	BufFile   **part;
	int64	   *part_n;
	int64	   *cust;			/* the current block */
	OccRow	   *rows;
	int64		n;
	int64		outcap;
};

static inline int
occ_bucket(const OccStream *s, int64 c)
{
	uint64		b;

	if (c <= s->cmin)
		return 0;
	if (c >= s->cmax)
		return s->nbuck - 1;
	b = ((uint64) c - (uint64) s->cmin) / s->width;
	return (int) Min(b, (uint64) (s->nbuck - 1));
}

static void
occ_spill_buffer(OccStream *s)
{
	MemoryContext old = MemoryContextSwitchTo(s->cxt);

	if (s->spill == NULL)
		s->spill = BufFileCreateTemp(false);
	BufFileWrite(s->spill, s->buf, sizeof(OccAll) * s->nbuf);
	s->nspill += s->nbuf;
	s->nbuf = 0;
	MemoryContextSwitchTo(old);
}

static bool
occ_stream_receive(TupleTableSlot *slot, DestReceiver *self)
{
	OccStream  *s = (OccStream *) self;
	OccAll	   *o;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2])
		return true;
	if (((s->nbuf + s->nspill) & 65535) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		/* the rows read so far, in the caller's progress step (if any) */
		seg_reco_progress_update(s->nbuf + s->nspill);
	}
	if (s->nbuf == s->bufcap)
	{
		if (s->bufcap < s->cap)
		{
			s->bufcap = Min(s->bufcap * 2, s->cap);
			s->buf = repalloc_huge(s->buf, sizeof(OccAll) * s->bufcap);
		}
		else
			occ_spill_buffer(s);
	}
	o = &s->buf[s->nbuf++];
	o->cust = DatumGetInt64(slot->tts_values[0]);
	o->pid = DatumGetInt64(slot->tts_values[1]);
	o->ts = DatumGetFloat8(slot->tts_values[2]);
	s->hist[occ_bucket(s, o->cust)]++;
	return true;
}

/*
 * s->cust and s->rows := rows[0..n-1] by customer (a counting sort for
 * dense ids, else a sort by customer, time and product); s->n := n.
 */
static void
occ_stream_order(OccStream *s, OccAll *rows, int64 n)
{
	int64		i;

	if (n > s->outcap)
	{
		if (s->cust != NULL)
		{
			pfree(s->cust);
			pfree(s->rows);
		}
		s->outcap = n;
		s->cust = MemoryContextAllocHuge(s->cxt, sizeof(int64) * Max(n, 1));
		s->rows = MemoryContextAllocHuge(s->cxt, sizeof(OccRow) * Max(n, 1));
	}
	s->n = n;
	if (n > 0)
	{
		int64		cmin = rows[0].cust,
					cmax = rows[0].cust;

		for (i = 1; i < n; i++)
		{
			cmin = Min(cmin, rows[i].cust);
			cmax = Max(cmax, rows[i].cust);
		}
		if ((uint64) cmax - (uint64) cmin < (uint64) n * 4)
		{
			/* dense ids: within a customer the rows keep their order (users sort them) */
			int64		nb = cmax - cmin + 1,
						b,
						acc = 0;
			int64	   *start = MemoryContextAllocHuge(s->cxt, sizeof(int64) * (nb + 1));

			memset(start, 0, sizeof(int64) * (nb + 1));
			for (i = 0; i < n; i++)
				start[rows[i].cust - cmin]++;
			for (b = 0; b < nb; b++)
			{
				int64		cnt = start[b];

				start[b] = acc;
				acc += cnt;
			}
			for (i = 0; i < n; i++)
			{
				int64		pos = start[rows[i].cust - cmin]++;

				s->cust[pos] = rows[i].cust;
				s->rows[pos].pid = rows[i].pid;
				s->rows[pos].ts = rows[i].ts;
			}
			pfree(start);
			return;
		}
		sort_occ_all(rows, n);
	}
	for (i = 0; i < n; i++)
	{
		s->cust[i] = rows[i].cust;
		s->rows[i].pid = rows[i].pid;
		s->rows[i].ts = rows[i].ts;
	}
}

/*
 * Opens the stream of the purchase lines before end (epoch seconds) of
 * every customer, or of only (distinct, ascending) when not NULL: the
 * scan happens here.  SPI connected; the stream lives in the current
 * memory context.
 */
OccStream *
seg_reco_occ_open(ArrayType *only, double end)
{
	OccStream  *s = palloc0(sizeof(OccStream));
	SPIExecuteOptions opts;
	ParamListInfo params = makeParamList(only != NULL ? 2 : 1);
	Oid			types[1] = {FLOAT8OID};
	MemoryContext cxt = CurrentMemoryContext;
	uint64		range;
	int			rc,
				b,
				p;
	int64		acc;
	int32	   *part_of;

	s->cxt = cxt;
	s->cap = Max((int64) work_mem * 1024 / (int64) sizeof(OccAll), 1024);
	s->cur = 0;

	/* the ids' range */
	if (only != NULL)
	{
		int			n = ArrayGetNItems(ARR_NDIM(only), ARR_DIMS(only));
		const int64 *ids = (const int64 *) ARR_DATA_PTR(only);

		s->cmin = n > 0 ? ids[0] : 0;
		s->cmax = n > 0 ? ids[n - 1] : 0;
	}
	else
	{
		bool		n1,
					n2;

		if (SPI_execute("SELECT pg_catalog.min(t.customer_id), pg_catalog.max(t.customer_id)"
						" FROM seg_reco.transactions t", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading the range of customer ids failed");
		s->cmin = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1));
		s->cmax = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2));
		if (n1 || n2)
			s->cmin = s->cmax = 0;
		SPI_freetuptable(SPI_tuptable);
		MemoryContextSwitchTo(cxt);
	}
	range = (uint64) s->cmax - (uint64) s->cmin;
	s->nbuck = (int) Min(range + 1, (uint64) OCC_BUCKETS);
	if (range == PG_UINT64_MAX)
		s->nbuck = OCC_BUCKETS;
	s->width = range / (uint64) s->nbuck + 1;
	s->hist = palloc0(sizeof(int64) * s->nbuck);
	s->bufcap = Min(65536, s->cap);
	s->buf = MemoryContextAllocHuge(cxt, sizeof(OccAll) * s->bufcap);

	/* the scan */
	params->params[0].value = Float8GetDatum(end);
	params->params[0].isnull = false;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = FLOAT8OID;
	if (only != NULL)
	{
		params->params[1].value = PointerGetDatum(only);
		params->params[1].isnull = false;
		params->params[1].pflags = PARAM_FLAG_CONST;
		params->params[1].ptype = INT8ARRAYOID;
	}
	s->pub.receiveSlot = occ_stream_receive;
	s->pub.rStartup = occ_startup;
	s->pub.rShutdown = occ_noop;
	s->pub.rDestroy = occ_noop;
	s->pub.mydest = DestNone;
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) s;
	if (only != NULL)
		rc = SPI_execute_extended(OCCASIONS_SQL("t.customer_id OPERATOR(pg_catalog.=) ANY ($2) AND", ""),
								  &opts);
	else
		rc = SPI_execute_plan_extended(seg_reco_keep_plan(&plan_occasions_all,
														  OCCASIONS_SQL("t.customer_id IS NOT NULL AND", ""),
														  1, types),
									   &opts);
	if (rc < 0)
		elog(ERROR, "reading the purchase lines failed");
	MemoryContextSwitchTo(cxt);

	if (s->spill == NULL)
	{
		/* one block, in memory */
		s->nparts = 1;
		occ_stream_order(s, s->buf, s->nbuf);
		pfree(s->buf);
		s->buf = NULL;
		s->cur = -1;			/* _next returns the block in hand */
		return s;
	}

	/* the ranges of buckets, each at most a buffer of rows */
	occ_spill_buffer(s);
	part_of = palloc(sizeof(int32) * s->nbuck);
	s->nparts = 0;
	acc = 0;
	for (b = 0; b < s->nbuck; b++)
	{
		if (s->nparts == 0 || (acc > 0 && acc + s->hist[b] > s->cap))
		{
			s->nparts++;
			acc = 0;
		}
		acc += s->hist[b];
		part_of[b] = s->nparts - 1;
	}
	s->part = palloc(sizeof(BufFile *) * s->nparts);
	s->part_n = palloc0(sizeof(int64) * s->nparts);
	for (p = 0; p < s->nparts; p++)
		s->part[p] = BufFileCreateTemp(false);
	/* deal the spilled rows into the ranges */
	if (BufFileSeek(s->spill, 0, 0, SEEK_SET) != 0)
		elog(ERROR, "rewinding the spilled purchase lines failed");
	for (;;)
	{
		size_t		got;
		int64		i,
					nr;

		CHECK_FOR_INTERRUPTS();
		got = BufFileRead(s->spill, s->buf, sizeof(OccAll) * s->bufcap);
		nr = (int64) (got / sizeof(OccAll));
		if (nr == 0)
			break;
		for (i = 0; i < nr; i++)
		{
			p = part_of[occ_bucket(s, s->buf[i].cust)];
			BufFileWrite(s->part[p], &s->buf[i], sizeof(OccAll));
			s->part_n[p]++;
		}
	}
	BufFileClose(s->spill);
	s->spill = NULL;
	pfree(part_of);
	pfree(s->hist);
	s->hist = NULL;
	return s;
}

/*
 * The next block: *cust (ascending) and *rows, *n of them, valid until the
 * next call; false at the end.  Each customer's lines are all in one block.
 */
bool
seg_reco_occ_next(OccStream *s, int64 **cust, OccRow **rows, int64 *n)
{
	MemoryContext old;
	int64		m;

	if (s->cur == -1)
	{
		/* the one block in memory */
		s->cur = 1;
		*cust = s->cust;
		*rows = s->rows;
		*n = s->n;
		return true;
	}
	if (s->part == NULL || s->cur >= s->nparts)
		return false;
	CHECK_FOR_INTERRUPTS();
	old = MemoryContextSwitchTo(s->cxt);
	m = s->part_n[s->cur];
	if (m > s->bufcap)
	{
		pfree(s->buf);
		s->bufcap = m;
		s->buf = MemoryContextAllocHuge(s->cxt, sizeof(OccAll) * m);
	}
	if (m > 0)
	{
		if (BufFileSeek(s->part[s->cur], 0, 0, SEEK_SET) != 0 ||
			BufFileRead(s->part[s->cur], s->buf, sizeof(OccAll) * m) != sizeof(OccAll) * m)
			elog(ERROR, "reading back the purchase lines failed");
	}
	BufFileClose(s->part[s->cur]);
	s->part[s->cur] = NULL;
	occ_stream_order(s, s->buf, m);
	s->cur++;
	MemoryContextSwitchTo(old);
	*cust = s->cust;
	*rows = s->rows;
	*n = s->n;
	return true;
}

void
seg_reco_occ_close(OccStream *s)
{
	int			p;

	if (s->spill != NULL)
		BufFileClose(s->spill);
	for (p = 0; s->part != NULL && p < s->nparts; p++)
		if (s->part[p] != NULL)
			BufFileClose(s->part[p]);
	if (s->buf != NULL)
		pfree(s->buf);
	if (s->cust != NULL)
	{
		pfree(s->cust);
		pfree(s->rows);
	}
	pfree(s);
}

/* o := the customer's purchase occasions before end */
static void
customer_occasions(int64 customer_id, double end, Occasions *o)
{
	int64	   *cust;
	OccRow	   *rows;
	int64		nn;
	int64	   *opid;
	double	   *ots;
	int64		i;

	seg_reco_read_occasions(true, customer_id, NULL, end, &cust, &rows, &nn);
	/* the receipts (distinct times): the lines come in time order */
	o->n_receipts = 0;
	for (i = 0; i < nn && o->n_receipts >= 0; i++)
	{
		if (isnan(rows[i].ts) || (i > 0 && rows[i].ts < rows[i - 1].ts))
			o->n_receipts = -1;		/* not in order after all: the blend counts them */
		else if (i == 0 || rows[i].ts != rows[i - 1].ts)
			o->n_receipts++;
	}
	opid = palloc(sizeof(int64) * Max(nn, 1));
	ots = palloc(sizeof(double) * Max(nn, 1));
	o->n = seg_reco_tidy_occasions(rows, (int) nn, opid, ots);
	o->pid = opid;
	o->ts = ots;
}

/*
 * The products recommend_for may return (a new array over the universe):
 * its candidates (argument 4) and exclude (argument 10) lists, category,
 * and without include_purchased neither what the customer bought in the
 * model's source (hidx/hbought of customer_history) nor the occasions.
 */
static bool *
recommend_for_allowed(FunctionCallInfo fcinfo, const Universe *u, const SegRecoAlsModel *m,
					  const char *category, bool only_active, bool include_purchased,
					  const int32 *hidx, const bool *hbought, int hn, const Occasions *o)
{
	bool	   *allowed;
	int			i;

	allowed = palloc(sizeof(bool) * u->n);
	memset(allowed, true, sizeof(bool) * u->n);
	if (!PG_ARGISNULL(4))
		seg_reco_apply_id_list(PG_GETARG_ARRAYTYPE_P(4), u, allowed, true, "candidates");
	if (!PG_ARGISNULL(10))
		seg_reco_apply_id_list(PG_GETARG_ARRAYTYPE_P(10), u, allowed, false, "exclude");
	if (category != NULL)
		seg_reco_restrict_to_category(u, category, only_active, allowed);
	if (!include_purchased)
	{
		for (i = 0; i < hn; i++)
			if (hbought[i])
			{
				int			j = universe_index(u, m->product_id[hidx[i]]);

				if (j >= 0)
					allowed[j] = false;
			}
		for (i = 0; i < o->n; i++)
		{
			int			j = universe_index(u, o->pid[i]);

			if (j >= 0)
				allowed[j] = false;
		}
	}
	return allowed;
}

/* recommend_for's rows: out[0..n-1] in order, with disp's score when given */
static void
recommend_for_emit(ReturnSetInfo *rsinfo, const Universe *u, const Blend *b,
				   const double *disp, const int32 *out, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(u->id[out[i]]);
		values[1] = Float8GetDatum(disp ? disp[out[i]] : b->score[out[i]]);
		values[2] = Int32GetDatum(i + 1);
		values[3] = seg_reco_row_sources(b, out[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
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
	const Universe *u;
	Blend		b;
	ProductMeta pm;
	Occasions	o = {0, NULL, NULL, 0};
	NbParams	nbp;
	NbInput		nbi;
	double	   *x,
			   *disp = NULL,
				end = 0;
	char	   *as_of_opt = NULL;
	bool	   *allowed;
	bool		known,
				use_history,
				has_nb = false;
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

	seg_reco_resolve_weights(PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7), include_purchased, &hw, false);
	/* the model's row once: version, as_of and the next-basket parameters */
	m = seg_reco_als_model_get_serving_nb(model, &as_of_opt, &nbp, &has_nb);
	use_history = !m->custom_source;
	if (use_history)
		c = seg_reco_content_get(true);
	u = seg_reco_universe_get(m, c);
	seg_reco_blend_init(&b, u, m, c);
	b.boost = seg_reco_parse_boost(PG_ARGISNULL(11) ? NULL : PG_GETARG_JSONB_P(11), u);
	seg_reco_meta_init(&pm, u->n, false);
	pm.need_cat = max_per_cat > 0;	/* the list needs categories only for the cap */

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
		end = seg_reco_serving_end(!PG_ARGISNULL(12), PG_ARGISNULL(12) ? 0 : PG_GETARG_DATEADT(12), as_of_opt);
		customer_occasions(customer_id, end, &o);
	}
	allowed = recommend_for_allowed(fcinfo, u, m, category, only_active, include_purchased,
									hidx, hbought, hn, &o);
	nbi.params = NULL;
	nbi.n = 0;
	nbi.upcf_n = 0;
	if (use_history && (hw.w[SRC_NB] > 0 || hw.w[SRC_UPCF] > 0) && has_nb)
		seg_reco_nb_fetch_neighbours(model, customer_id, &nbp, &nbi);

	/*
	 * the blend, unless there is nothing to blend (no factors, no receipt);
	 * the cold start also when no source applied (b.fallback: factors from
	 * digital events alone, ALS weighed by the receipts)
	 */
	if (known || o.n > 0)
	{
		b.ts_scratch = palloc(sizeof(double) * Max(o.n, 1));
		b.nb_scratch = palloc(sizeof(double) * Max(o.n, 1));
		b.nb_pid = palloc(sizeof(int64) * Max(o.n, 1));
		seg_reco_blend_customer(&b, u, m, c, &hw, known ? x : NULL, NULL, &o, &nbi, end,
								use_history, include_purchased, allowed);
	}
	if ((!known && o.n == 0) || b.fallback)
	{
		disp = palloc(sizeof(double) * Max(u->n, 1));
		seg_reco_cold_start(&b, u, m, customer_id, use_history, disp);
		for (i = 0; i < u->n; i++)
			if (b.boost && allowed[i])
				b.score[i] += b.boost[i];
	}

	out = palloc(sizeof(int32) * Max(Min(k, u->n), 1));
	n = seg_reco_select_list(u, c, b.score, allowed, Min(k, u->n), only_active && category == NULL,
							 max_per_cat, diversity, &pm, out);

	MemoryContextSwitchTo(old);
	recommend_for_emit(rsinfo, u, &b, disp, out, n);
	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * The association rules behind "often bought with X": the rules {x} =>
 * {product_id} of seg_reco.product_rules with lift > 1 whose x the
 * customer bought in one of their last RULES_RECENT_RECEIPTS receipts
 * before end (lines with amount > 0).  A rule is about one basket, so
 * only the latest receipts count; rules with two products on the left are
 * left out (the reason names one product, as bought_with's page does).
 * Best first (confidence, then lift, then x), at most k.  Index look-ups
 * only: the customer's lines by (customer_id, ts), the lines of those
 * receipts by receipt_id, each rule by the primary key (lhs, rhs).
 */
#define RULES_RECENT_RECEIPTS 3
static SPIPlanPtr plan_rules_why = NULL;
#define RULES_WHY_SQL \
	"WITH recent AS (" \
	" SELECT t.receipt_id FROM seg_reco.transactions t" \
	" WHERE t.customer_id OPERATOR(pg_catalog.=) $1 AND t.amount OPERATOR(pg_catalog.>) 0" \
	" AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($3)" \
	" GROUP BY t.receipt_id" \
	" ORDER BY pg_catalog.max(t.ts) DESC, t.receipt_id DESC LIMIT $5)," \
	" bought AS (" \
	" SELECT DISTINCT t.product_id FROM seg_reco.transactions t" \
	" WHERE t.receipt_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT r.receipt_id FROM recent r))" \
	" AND t.customer_id OPERATOR(pg_catalog.=) $1 AND t.amount OPERATOR(pg_catalog.>) 0" \
	" AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($3))" \
	" SELECT b.product_id, r.confidence, r.lift, p.name" \
	" FROM bought b" \
	" JOIN seg_reco.product_rules r ON r.lhs OPERATOR(pg_catalog.=) ARRAY[b.product_id]" \
	" AND r.rhs OPERATOR(pg_catalog.=) $2" \
	" JOIN seg_reco.products p ON p.product_id OPERATOR(pg_catalog.=) b.product_id" \
	" WHERE r.lift OPERATOR(pg_catalog.>) 1" \
	" ORDER BY r.confidence DESC, r.lift DESC, b.product_id LIMIT $4"

/*
 * Append the rule rows of why_recommended (ranks from *row + 1), in the
 * current (scratch) memory context: the tuplestore copies the rows.
 */
static void
why_rules_emit(ReturnSetInfo *rsinfo, int64 customer_id, int64 product_id, double end,
			   int k, int *row)
{
	Oid			types[5] = {INT8OID, INT8OID, FLOAT8OID, INT4OID, INT4OID};
	Datum		args[5];
	uint64		r;
	int			rc;

	args[0] = Int64GetDatum(customer_id);
	args[1] = Int64GetDatum(product_id);
	args[2] = Float8GetDatum(end);
	args[3] = Int32GetDatum(k);
	args[4] = Int32GetDatum(RULES_RECENT_RECEIPTS);
	rc = SPI_execute_plan(seg_reco_keep_plan(&plan_rules_why, RULES_WHY_SQL, 5, types),
						  args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.product_rules failed: %s", SPI_result_code_string(rc));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		values[5];
		bool		nulls[5] = {false, true, false, false, false};
		bool		isnull;
		int64		x = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		double		conf = DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull));
		double		lift = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		char	   *name = SPI_getvalue(tup, desc, 4);

		values[0] = Int64GetDatum(x);
		values[1] = (Datum) 0;	/* rules are no part of the score */
		values[2] = Int32GetDatum(++(*row));
		values[3] = BoolGetDatum(true);
		values[4] = CStringGetTextDatum(psprintf("often bought with %s (confidence %.2f, lift %.1f)",
												 name ? name : "?", conf, lift));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static SPIPlanPtr plan_season_why = NULL;

/*
 * The season's row of why_recommended: the customer's receipts with the
 * product in the same weeks a year before the coming ones (the window of
 * the source seasonal), "you bought this around this time last year" (or
 * "N times"), contribution the number of receipts; none without one.
 */
static void
why_season_emit(ReturnSetInfo *rsinfo, int64 customer_id, int64 product_id, double end, int *row)
{
	Oid			types[4] = {INT8OID, INT8OID, FLOAT8OID, FLOAT8OID};
	Datum		args[4];
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	bool		isnull;
	int64		n;

	args[0] = Int64GetDatum(customer_id);
	args[1] = Int64GetDatum(product_id);
	args[2] = Float8GetDatum(end - SEASON_YEAR_DAYS * 86400.0);
	args[3] = Float8GetDatum(end - SEASON_YEAR_DAYS * 86400.0 + SEASON_WINDOW_DAYS * 86400.0);
	if (SPI_execute_plan(seg_reco_keep_plan(&plan_season_why,
								   "SELECT pg_catalog.count(DISTINCT t.ts) FROM seg_reco.transactions t"
								   " WHERE t.customer_id OPERATOR(pg_catalog.=) $1"
								   " AND t.product_id OPERATOR(pg_catalog.=) $2"
								   " AND t.amount OPERATOR(pg_catalog.>) 0"
								   " AND t.ts OPERATOR(pg_catalog.>=) pg_catalog.to_timestamp($3)"
								   " AND t.ts OPERATOR(pg_catalog.<) pg_catalog.to_timestamp($4)",
								   4, types),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the season of seg_reco.transactions failed");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (isnull || n <= 0)
		return;
	values[0] = Int64GetDatum(product_id);
	values[1] = Float8GetDatum((double) n);
	values[2] = Int32GetDatum(++(*row));
	values[3] = BoolGetDatum(true);
	values[4] = CStringGetTextDatum(n == 1 ? "you bought this around this time last year" :
									psprintf("you bought this %d times around this time last year", (int) n));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * seg_reco.why_recommended(customer_id bigint, product_id bigint, k int,
 *     model text) RETURNS TABLE(history_product_id bigint,
 *     contribution float8, rank int, purchased boolean)
 *
 * As implicit's explain: with A the customer's system (A x = b,
 * b = sum_i c_i y_i), the score x . y_j = sum_i c_i y_i^T A^{-1} y_j; each
 * product i of the history contributes c_i y_i . (A^{-1} y_j).  The
 * contributions sum to the folded-in score.  Before them (0.2.0, column
 * reason), the next-basket parts of the product's score when the model has
 * a build: the customer's own (alpha x own: "you buy this every N days",
 * N their mean gap between receipts with it, or "you bought this once
 * before")
 * and the neighbours' ((1 - alpha) x neighbours: "customers with baskets
 * like yours buy this", no history product).  Then (0.2.0) the season:
 * the customer's receipts with the product in the same weeks a year before
 * the coming ones ("you bought this around this time last year",
 * contribution the count of receipts).  After them (0.2.0), up to k
 * association rules {x} => {product} of seg_reco.product_rules (lift > 1)
 * whose x is in one of the customer's last three receipts: "often bought
 * with <x's name> (confidence 0.42, lift 3.1)", history product x,
 * contribution NULL (the rules are no source of the score).  Neither for
 * a model on a custom source (its ids need not be seg_reco's).
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
	char	   *as_of_opt = NULL;
	bool		with_reason;
	bool		with_rules;
	double		end = 0;
	bool		nb_has;
	double		own_part,
				nbr_part,
				upcf_part = 0,
				cycle;
	int			n_occ,
				row = 0;
	char		reason[128];

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

	m = seg_reco_als_model_get_serving(model, &as_of_opt);
	/* a database still at 0.1.0 asks for the four columns of then */
	with_reason = rsinfo->setDesc->natts >= 5;
	/* the next-basket model and the rules read seg_reco.transactions */
	with_rules = with_reason && !m->custom_source;
	if (with_rules)
		end = seg_reco_serving_end(false, 0, as_of_opt);
	nb_has = with_rules &&
		seg_reco_nb_explain(model, customer_id, product_id, end,
							&own_part, &nbr_part, &n_occ, &cycle, &upcf_part);
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
	/* the next-basket parts first: the repeat, then the neighbours */
	if (nb_has && own_part > 0)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if (n_occ >= 2 && cycle < 1.5)
			snprintf(reason, sizeof(reason), "you buy this every day");
		else if (n_occ >= 2)
			snprintf(reason, sizeof(reason), "you buy this every %.0f days", cycle);
		else
			snprintf(reason, sizeof(reason), "you bought this once before");
		values[0] = Int64GetDatum(product_id);
		values[1] = Float8GetDatum(own_part);
		values[2] = Int32GetDatum(++row);
		values[3] = BoolGetDatum(true);
		values[4] = CStringGetTextDatum(reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (nb_has && nbr_part > 0)
	{
		Datum		values[5];
		bool		nulls[5] = {true, false, false, false, false};

		values[0] = (Datum) 0;
		values[1] = Float8GetDatum(nbr_part);
		values[2] = Int32GetDatum(++row);
		values[3] = BoolGetDatum(false);
		values[4] = CStringGetTextDatum("customers with baskets like yours buy this");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	if (nb_has && upcf_part > 0)
	{
		Datum		values[5];
		bool		nulls[5] = {true, false, false, false, false};

		values[0] = (Datum) 0;
		values[1] = Float8GetDatum(upcf_part);
		values[2] = Int32GetDatum(++row);
		values[3] = BoolGetDatum(false);
		values[4] = CStringGetTextDatum("customers with baskets like yours buy this lately");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	/* the season: the product's receipts of the same weeks a year before */
	if (with_rules)
	{
		MemoryContextSwitchTo(work);
		why_season_emit(rsinfo, customer_id, product_id, end, &row);
		MemoryContextSwitchTo(old);
	}
	for (i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int64GetDatum(m->product_id[hidx[out[i]]]);
		values[1] = Float8GetDatum(contrib[out[i]]);
		values[2] = Int32GetDatum(++row);
		values[3] = BoolGetDatum(hbought[out[i]]);
		values[4] = CStringGetTextDatum(hbought[out[i]] ? "customers who bought this also buy it" :
										"customers who looked at this also buy it");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	/* last, the association rules from the customer's latest receipts */
	if (with_rules)
	{
		MemoryContextSwitchTo(work);
		why_rules_emit(rsinfo, customer_id, product_id, end, k, &row);
		MemoryContextSwitchTo(old);
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
		/* y_i . y_t from the single-precision rows: seg_reco_dot's bits */
		seg_reco_dot_rows_f(m->yf, m->n_products, m->d, yt, sim);
		for (i = 0; i < m->n_products; i++)
		{
			double		den = tn * m->y_norm[i];

			sim[i] = den > 0.0 ? sim[i] / den : 0.0;
			allowed[i] = true;
		}
		allowed[target] = false;
		out = palloc(sizeof(int32) * Min(k, m->n_products));
		n = seg_reco_top_k_filtered(m, sim, allowed, Min(k, m->n_products - 1), only_active, out);
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
 * recommend_all scores, blends and chooses for the customers of a block on
 * seg_reco.threads threads: each task is a tile of RA_TILE customers, whose
 * ALS scores against every product it computes (seg_reco_score_rows, the
 * bits of recommend_for's) into its worker's rows, then for each customer
 * blends (its own Blend, allowed array and list scratch, and per-worker
 * room for its occasions) and chooses the list
 * (seg_reco_select_list_prepared, every product's facts fetched before).
 * Emitting the rows (SQL values) stays on the backend's thread.  The tasks
 * are plain C on arrays prepared before (threads.h).
 */
#define RA_TILE 16

typedef struct RaJob
{
	const Universe *u;
	const SegRecoAlsModel *m;
	const SegRecoContent *c;
	const HybridWeights *hw;
	ProductMeta *pm;			/* every product fetched */
	int64	   *ids;			/* the block's customers */
	double	   *x;				/* their factors (rows x d) */
	double	   *xn;				/* their ||x|| (rows) */
	const double *panels;		/* the products' (seg_reco_score_panels), unless als_only */
	int			simd;			/* seg_reco_simd_level() */
	int			rows;			/* customers in the block */
	/* ALS alone over every product: float32 screening (seg_reco_als_screen) */
	bool		als_only;
	int			pool_size;		/* seg_reco_select_pool_size of the call */
	float	   *xf;				/* the same as stored (rows x d) */
	const float *panels_f;		/* seg_reco_score_panels_f */
	int64		ldo;			/* floats per row of sf */
	double		ymax;			/* the largest ||y_i|| */
	/*
	 * The products by descending norm (panels_f and yf_sorted in that
	 * order; perm: position -> model index): a customer's products are
	 * scored a stage at a time (the first stage[0] positions, then up to
	 * stage[1], ...), and a stage past which no product can reach the list
	 * or the lowest score (Cauchy-Schwarz: |x . y_i| <= ||x|| ||y_i||) ends
	 * the customer's scoring (ra_screen)
	 */
	const int32 *perm;
	const float *yf_sorted;
	const double *yn_sorted;
	int64		stage[3];
	int			nstage;
	float	   *xg;				/* RA_TILE x d each: the factors of the rows still scoring */
	float	   *og;				/* RA_TILE x ldo each: their scores of a stage */
	int			cap;			/* candidates at most */
	float	   *sf;				/* RA_TILE x ldo each: the tile's float scores */
	int32	   *cand;			/* cap each */
	double	   *exact;			/* cap each */
	double	   *fv;				/* cap each */
	float	   *gmax;			/* SEG_RECO_SCREEN_ROOM(n_products) each */
	int32	   *pool;			/* 256 each */
	bool	   *screened;		/* per slot: the screening decided */
	int8	   *stage_of;		/* per slot: the stage its scoring ended at */
	/* per worker */
	Blend	   *bl;
	bool	   *allowed;		/* u->n each */
	SelectScratch *sc;
	int64	   *occ_pid;		/* occ_max each */
	double	   *occ_ts;
	int			occ_max;
	double	   *als;			/* RA_TILE (als_only: 1) x n_products each: ALS scores */
	int			nw;				/* workers */
	int			occ_need;		/* the most occasions of a customer of the block */
	/* per slot (customer of the block) */
	OccRow	   *occ_rows;		/* the block's own copy of its customers' lines */
	int64		occ_cap;
	int64	   *nb_pid;			/* the block's own copy of its next-basket inputs */
	float	   *nb_score;
	int64		nb_cap;
	int64	   *ofirst;
	int64	   *olast;
	int64	   *hist_pid;		/* the block's own copy of its products bought (include_purchased off) */
	int64		hist_cap;
	int64	   *hfirst;
	int64	   *hlast;
	NbInput    *nbin;			/* the next-basket input of each slot */
	int		   *got;
	bool	   *cold;			/* no source applied: the backend serves the cold start (ra_cold) */
	char	   *label;			/* topn each: 0 the sources of con, 1 cold_start, 2 popularity */
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

/*
 * The screening of one customer's float scores sf over the first scored
 * products by norm (seg_reco_als_screen): 1 with the candidates (model
 * indexes, ascending) in the worker's cand and exact, *nc, and the exact
 * extremes *lo, *hi and the bound *sup over every product; -1 when more
 * products must be scored first (some unscored product could still reach
 * the pool or the lowest score, or the screening of the scored could not
 * decide); 0 when the screening of all of them cannot decide (the plain
 * blend must).
 */
/* task-safe: see threads.h */
static int
ra_screen(RaJob *j, int slot, int worker, const float *sf, int64 scored,
		  int *nc, double *lo, double *hi, double *sup)
{
	const SegRecoAlsModel *m = j->m;
	const double *x = j->x + (Size) slot * m->d;
	int32	   *cand = j->cand + (Size) worker * j->cap;
	double	   *exact = j->exact + (Size) worker * j->cap;
	double		xn = j->xn[slot];
	int			i;

	/* the unscored: |x . y_i| <= ||x|| ||y_i|| <= that of the next by norm, rounded up generously */
	*nc = seg_reco_als_screen(sf, scored, j->pool_size, seg_reco_screen_bound(m->d, xn, j->ymax),
							  scored < m->n_products ? xn * j->yn_sorted[scored] * (1 + 1e-9) + DBL_MIN : -1,
							  j->yf_sorted, m->d, x, cand, exact, j->cap,
							  j->gmax + (Size) worker * SEG_RECO_SCREEN_ROOM(m->n_products), lo, hi, sup);
	if (*nc < 0)
		return scored < m->n_products ? -1 : 0;
	/* positions to model indexes, ascending */
	for (i = 0; i < *nc; i++)
		cand[i] = j->perm[cand[i]];
	seg_reco_sort_candidates(cand, exact, *nc);
	return 1;
}

/*
 * ALS alone over every product, from ra_screen's candidates: the blend at
 * the candidates and the list from the pool; false when the plain blend
 * must decide (see seg_reco_blend_als_pool).
 */
/* task-safe: see threads.h */
static bool
ra_screened(RaJob *j, int slot, int worker, int nc, double lo, double hi, double sup, const Occasions *o)
{
	const Universe *u = j->u;
	int32	   *cand = j->cand + (Size) worker * j->cap;
	double	   *exact = j->exact + (Size) worker * j->cap;
	int32	   *pool = j->pool + (Size) worker * 256;
	int			p = j->pool_size,
				np,
				got,
				i;

	if (!u->als_all)
	{
		/* model indexes to the universe's (both ascend by id) */
		int			r = 0;

		for (i = 0; i < nc; i++)
		{
			while (u->run_a[r] + u->run_len[r] <= cand[i])
				r++;
			cand[i] = u->run_u[r] + (cand[i] - u->run_a[r]);
		}
	}
	np = seg_reco_blend_als_pool(&j->bl[worker], u, j->hw, o, j->use_history, cand, exact, nc,
								 lo, hi, sup, p, pool, j->fv + (Size) worker * j->cap);
	if (np < 0)
		return false;
	got = seg_reco_select_from_given_pool(u, j->c, j->bl[worker].score, pool, np, j->topn,
										  j->only_active, j->max_per_cat, j->diversity, j->pm,
										  j->out + (Size) slot * j->topn, &j->sc[worker]);
	if (got < 0)
		return false;
	j->got[slot] = got;
	return true;
}

/*
 * The occasions of the block's customer slot (into pid and ts: room for
 * occ_max each) and the products its list may hold (allowed: u->n).
 */
/* task-safe: see threads.h */
static void
ra_allowed(const RaJob *j, int slot, Occasions *o, int64 *pid, double *ts, bool *allowed)
{
	const Universe *u = j->u;
	int64		h;
	int			i;

	o->n = seg_reco_tidy_occasions(j->occ_rows + j->ofirst[slot], (int) (j->olast[slot] - j->ofirst[slot]),
								   pid, ts);
	o->pid = pid;
	o->ts = ts;
	o->n_receipts = -1;			/* the blend counts them */
	memset(allowed, true, sizeof(bool) * u->n);
	if (!j->include_purchased)
	{
		for (h = j->hfirst[slot]; h < j->hlast[slot]; h++)
		{
			int			k = universe_index(u, j->hist_pid[h]);

			if (k >= 0)
				allowed[k] = false;
		}
		for (i = 0; i < o->n; i++)
		{
			int			k = universe_index(u, o->pid[i]);

			if (k >= 0)
				allowed[k] = false;
		}
	}
}

/*
 * One customer of the block: blend its ALS scores als (or with ALS alone,
 * its float scores sf first) and choose its list; when no source applies
 * (b->fallback), no list: the backend serves the cold start (ra_cold).
 */
/* task-safe: see threads.h */
static bool
ra_customer(RaJob *j, int slot, int worker, double *als, const float *sf, int64 scored)
{
	const Universe *u = j->u;
	Blend	   *b = &j->bl[worker];
	bool	   *allowed = j->allowed + (Size) worker * Max(u->n, 1);
	int64	   *pid = j->occ_pid + (Size) worker * j->occ_max;
	double	   *ts = j->occ_ts + (Size) worker * j->occ_max;
	int32	   *out = j->out + (Size) slot * j->topn;
	Occasions	o;
	int			i,
				sc = 0,
				nc = 0;
	double		lo = 0,
				hi = 0,
				sup = 0;

	if (sf != NULL)
	{
		sc = ra_screen(j, slot, worker, sf, scored, &nc, &lo, &hi, &sup);
		if (sc < 0)
			return false;		/* score more products first */
	}
	ra_allowed(j, slot, &o, pid, ts, allowed);
	j->cold[slot] = false;
	j->screened[slot] = sc > 0 && ra_screened(j, slot, worker, nc, lo, hi, sup, &o);
	if (!j->screened[slot])
	{
		if (sf != NULL)			/* the exact scores after all (the same bits) */
			seg_reco_dot_rows_f(j->m->yf, j->m->n_products, j->m->d, j->x + (Size) slot * j->m->d, als);
		seg_reco_blend_customer(b, u, j->m, j->c, j->hw, NULL, als, &o, &j->nbin[slot], j->end,
								j->use_history, j->include_purchased, allowed);
		if (b->fallback)
		{
			j->cold[slot] = true;
			j->got[slot] = 0;
			return true;
		}
		j->got[slot] = seg_reco_select_list_prepared(u, j->c, b->score, allowed, j->topn,
													 j->only_active, j->max_per_cat, j->diversity,
													 j->pm, out, &j->sc[worker]);
	}
	for (i = 0; i < j->got[slot]; i++)
	{
		j->label[(Size) slot * j->topn + i] = 0;
		j->score[(Size) slot * j->topn + i] = b->score[out[i]];
		seg_reco_row_contributions(b, out[i], j->con + ((Size) slot * j->topn + i) * (N_SRC + 1));
	}
	return true;
}

/*
 * The backend's room for ra_cold: a blend, an allowed array, the shown
 * scores, occasion room and list scratch of its own (the threads may be
 * scoring the next block meanwhile).
 */
typedef struct RaCold
{
	Blend		b;
	bool	   *allowed;
	double	   *disp;
	int64	   *pid;			/* cap each */
	double	   *ts;
	int			cap;
	SelectScratch sc;
} RaCold;

/*
 * The lists of the block's customers no source applied to (ra_customer
 * left them empty, cold): the cold start recommend_for serves them
 * (seg_reco_cold_start: SPI, so on the backend's thread), labelled by it.
 */
static void
ra_cold(RaJob *j, RaCold *rc)
{
	int			slot,
				i;

	/* the block's longest occasions may outgrow the room (blocks read one by one) */
	if (rc->cap < j->occ_max)
	{
		rc->cap = j->occ_max;
		rc->pid = repalloc(rc->pid, sizeof(int64) * rc->cap);
		rc->ts = repalloc(rc->ts, sizeof(double) * rc->cap);
	}
	for (slot = 0; slot < j->rows; slot++)
	{
		int32	   *out = j->out + (Size) slot * j->topn;
		Occasions	o;

		if (!j->cold[slot])
			continue;
		CHECK_FOR_INTERRUPTS();
		ra_allowed(j, slot, &o, rc->pid, rc->ts, rc->allowed);
		seg_reco_cold_start(&rc->b, j->u, j->m, j->ids[slot], j->use_history, rc->disp);
		j->got[slot] = seg_reco_select_list_prepared(j->u, j->c, rc->b.score, rc->allowed, j->topn,
													 j->only_active, j->max_per_cat, j->diversity,
													 j->pm, out, &rc->sc);
		for (i = 0; i < j->got[slot]; i++)
		{
			j->score[(Size) slot * j->topn + i] = rc->disp[out[i]];
			j->label[(Size) slot * j->topn + i] = rc->b.cold_label[out[i]];
		}
	}
}

/* task-safe: see threads.h */
static void
ra_task(void *arg, int64 t, int worker)
{
	RaJob	   *j = (RaJob *) arg;
	int			first = (int) t * RA_TILE,
				rows = Min(RA_TILE, j->rows - first),
				r;
	int64		np = j->m->n_products;
	double	   *als = j->als + (Size) worker * (j->als_only ? 1 : RA_TILE) * np;

	if (j->als_only)
	{
		int			d = j->m->d,
					pend[RA_TILE],
					npend = rows,
					s,
					k;
		float	   *sf = j->sf + (Size) worker * RA_TILE * j->ldo,
				   *xg = j->xg + (Size) worker * RA_TILE * d,
				   *og = j->og + (Size) worker * RA_TILE * j->ldo;
		int64		from = 0;

		for (r = 0; r < rows; r++)
			pend[r] = r;
		/* the products stage by stage, for the customers not decided yet */
		for (s = 0; s < j->nstage && npend > 0; s++)
		{
			int64		to = j->stage[s];
			const float *pan = j->panels_f + (from / 16) * d * 16;
			int			left = 0;

			if (npend == rows)
				seg_reco_score_rows_f(j->simd, j->xf + (Size) first * d, rows, d, pan, to - from,
									  sf + from, j->ldo);
			else
			{
				for (k = 0; k < npend; k++)
					memcpy(xg + (Size) k * d, j->xf + (Size) (first + pend[k]) * d, sizeof(float) * d);
				seg_reco_score_rows_f(j->simd, xg, npend, d, pan, to - from, og, j->ldo);
				for (k = 0; k < npend; k++)
					memcpy(sf + (Size) pend[k] * j->ldo + from, og + (Size) k * j->ldo,
						   sizeof(float) * (to - from));
			}
			from = to;
			for (k = 0; k < npend; k++)
				if (!ra_customer(j, first + pend[k], worker, als, sf + (Size) pend[k] * j->ldo, to))
					pend[left++] = pend[k];
				else
					j->stage_of[first + pend[k]] = (int8) s;
			npend = left;
		}
		return;
	}
	seg_reco_score_rows(j->simd, j->x + (Size) first * j->m->d, rows, j->m->d, j->panels, np,
						als, np);
	for (r = 0; r < rows; r++)
		(void) ra_customer(j, first + r, worker, als + (Size) r * np, NULL, np);
}

/*
 * The per-worker blends, allowed arrays, list scratch and occasion room of
 * recommend_all, and the per-slot outputs; the job's shared fields (u, m,
 * c, pm, topn) are set before.  occ_cust[0..occ_n-1]: the customers of the
 * occasion rows, in order.
 */
static void ra_block_alloc(RaJob *job, int block);

/* qsort_arg of model indexes by descending ||y_i|| (arg), ties by index */
static int
ra_cmp_norm(const void *a, const void *b, void *arg)
{
	const double *yn = (const double *) arg;
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	if (yn[x] != yn[y])
		return yn[x] > yn[y] ? -1 : 1;
	return x < y ? -1 : (x > y ? 1 : 0);
}

static void
ra_job_alloc(RaJob *job, MemoryContext work, int block)
{
	const Universe *u = job->u;
	int			nw = seg_reco_parallel_workers((block + RA_TILE - 1) / RA_TILE),
				w,
				occ_max = 256;
	Blend	   *bl;
	SelectScratch *scs;

	job->nw = nw;
	bl = palloc(sizeof(Blend) * nw);
	scs = palloc(sizeof(SelectScratch) * nw);
	for (w = 0; w < nw; w++)
	{
		seg_reco_blend_init(&bl[w], u, job->m, job->c);
		bl[w].ts_scratch = palloc(sizeof(double) * occ_max);
		bl[w].nb_scratch = palloc(sizeof(double) * occ_max);
		bl[w].nb_pid = palloc(sizeof(int64) * occ_max);
		seg_reco_select_scratch_init(&scs[w], u, job->pm);
	}
	job->bl = bl;
	job->allowed = MemoryContextAllocHuge(work, sizeof(bool) * nw * Max(u->n, 1));
	job->sc = scs;
	job->occ_pid = MemoryContextAllocHuge(work, sizeof(int64) * nw * occ_max);
	job->occ_ts = MemoryContextAllocHuge(work, sizeof(double) * nw * occ_max);
	job->occ_max = occ_max;
	/* ALS scores: a tile's rows, or with ALS alone one row (when screening cannot decide) */
	job->als = MemoryContextAllocHuge(work, sizeof(double) * nw * (job->als_only ? 1 : RA_TILE) *
									  Max(job->m->n_products, 1));
	if (job->als_only)
	{
		job->ldo = (job->m->n_products + 15) / 16 * 16;
		job->cap = 1024;
		job->sf = (float *) TYPEALIGN(64, MemoryContextAllocHuge(work, sizeof(float) * nw * RA_TILE * job->ldo + 64));
		job->og = (float *) TYPEALIGN(64, MemoryContextAllocHuge(work, sizeof(float) * nw * RA_TILE * job->ldo + 64));
		job->xg = palloc(sizeof(float) * nw * RA_TILE * job->m->d);
		job->cand = palloc(sizeof(int32) * nw * job->cap);
		job->exact = palloc(sizeof(double) * nw * job->cap);
		job->fv = palloc(sizeof(double) * nw * job->cap);
		job->gmax = MemoryContextAllocHuge(work, sizeof(float) * nw * SEG_RECO_SCREEN_ROOM(job->m->n_products));
		job->pool = palloc(sizeof(int32) * nw * 256);
	}
	ra_block_alloc(job, block);
}

/*
 * A block's own arrays (inputs and per-slot outputs), so that two blocks
 * can be in flight: its customers, their factors, occasion and history
 * ranges, next-basket inputs, and lists.
 */
static void
ra_block_alloc(RaJob *job, int block)
{
	int			d = job->m->d;

	job->ids = palloc(sizeof(int64) * block);
	job->occ_cap = (int64) block * 64;
	job->occ_rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(OccRow) * job->occ_cap);
	job->occ_need = 0;
	job->nb_cap = (int64) block * 16;
	job->nb_pid = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * job->nb_cap);
	job->nb_score = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * job->nb_cap);
	job->x = palloc(sizeof(double) * (Size) block * d);
	job->xf = palloc(sizeof(float) * (Size) block * d);
	job->xn = palloc(sizeof(double) * (Size) block);
	job->ofirst = palloc(sizeof(int64) * block);
	job->olast = palloc(sizeof(int64) * block);
	job->hist_cap = job->include_purchased ? 1 : (int64) block * 16;
	job->hist_pid = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * job->hist_cap);
	job->hfirst = palloc(sizeof(int64) * block);
	job->hlast = palloc(sizeof(int64) * block);
	job->nbin = palloc(sizeof(NbInput) * block);
	job->screened = palloc0(sizeof(bool) * block);
	job->stage_of = palloc0(sizeof(int8) * block);
	job->got = palloc(sizeof(int) * block);
	job->cold = palloc0(sizeof(bool) * block);
	job->label = palloc0(sizeof(char) * block * Max(job->topn, 1));
	job->out = palloc(sizeof(int32) * block * Max(job->topn, 1));
	job->score = palloc(sizeof(double) * block * Max(job->topn, 1));
	job->con = palloc(sizeof(double) * block * Max(job->topn, 1) * (N_SRC + 1));
}


/*
 * A read-only cursor over select_from (a per-model, per-customer table,
 * aliased x) for the model's rows, ascending by customer: those of only
 * (customer ids, NULL: every customer), by the primary key (on Citus in
 * the shards that hold them).  recommend_all reads the customers' factors
 * and next-basket rows this way, in step (reading every customer's rows to
 * use a few, the incremental refresh's lists, cost 3.7 s for 525 customers
 * at 10x on Citus).
 */
static Portal
ra_open_by_customer(const char *select_from, const char *model, ArrayType *only)
{
	Oid			t[2] = {TEXTOID, INT8ARRAYOID};
	Datum		v[2];
	char	   *sql = psprintf("%s WHERE x.model OPERATOR(pg_catalog.=) $1%s ORDER BY x.customer_id",
							   select_from,
							   only != NULL ? " AND x.customer_id OPERATOR(pg_catalog.=) ANY ($2)" : "");
	Portal		portal;

	v[0] = CStringGetTextDatum(model);
	v[1] = PointerGetDatum(only);
	portal = SPI_cursor_open_with_args(NULL, sql, only != NULL ? 2 : 1, t, v, NULL, true, 0);
	pfree(sql);
	return portal;
}

/*
 * ids[] and xb, xf (rows x d), xn[] := the customers, factors and factor
 * norms of a fetched block (the norm summed in factor order)
 */
static void
ra_read_factors(SPITupleTable *tt, int rows, int d, int64 *ids, double *xb, float *xf, double *xn)
{
	int			uu;

	for (uu = 0; uu < rows; uu++)
	{
		bool		isnull;
		ArrayType  *a;
		float4	   *f;
		int			j;

		ids[uu] = DatumGetInt64(SPI_getbinval(tt->vals[uu], tt->tupdesc, 1, &isnull));
		a = DatumGetArrayTypeP(SPI_getbinval(tt->vals[uu], tt->tupdesc, 2, &isnull));
		if (isnull || ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_DIMS(a)[0] != d)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored factors of customer " INT64_FORMAT " are malformed", ids[uu]),
					 errhint("Retrain the model with seg_reco.als_train.")));
		f = (float4 *) ARR_DATA_PTR(a);
		memcpy(xf + (Size) uu * d, f, sizeof(float) * d);
		xn[uu] = 0;
		for (j = 0; j < d; j++)
		{
			xb[(Size) uu * d + j] = f[j];
			xn[uu] += xb[(Size) uu * d + j] * xb[(Size) uu * d + j];
		}
		xn[uu] = sqrt(xn[uu]);
	}
	SPI_freetuptable(tt);
}

/*
 * The purchase lines of recommend_all's customers, read in blocks of
 * customers (seg_reco_occ_open): stream NULL when nothing reads them; the
 * block in hand is cust/rows[0..n-1], pos the walk's place in it.
 */
typedef struct RaOcc
{
	OccStream  *stream;
	int64	   *cust;
	OccRow	   *rows;
	int64		n;
	int64		pos;
	bool		done;
} RaOcc;

/*
 * The scratch of the occasions (per worker, shared by the blocks in
 * flight) grown to need; between blocks, no task running.
 */
static void
ra_grow_scratch(RaJob *jobs, int njobs, int need)
{
	RaJob	   *job = &jobs[0];
	MemoryContext cxt;
	int			w,
				occ_max;

	if (need <= job->occ_max)
		return;
	occ_max = Max(need, job->occ_max * 2);
	for (w = 0; w < job->nw; w++)
	{
		pfree(job->bl[w].ts_scratch);
		pfree(job->bl[w].nb_scratch);
		pfree(job->bl[w].nb_pid);
		job->bl[w].ts_scratch = palloc(sizeof(double) * occ_max);
		job->bl[w].nb_scratch = palloc(sizeof(double) * occ_max);
		job->bl[w].nb_pid = palloc(sizeof(int64) * occ_max);
	}
	cxt = GetMemoryChunkContext(job->occ_pid);
	pfree(job->occ_pid);
	pfree(job->occ_ts);
	job->occ_pid = MemoryContextAllocHuge(cxt, sizeof(int64) * job->nw * occ_max);
	job->occ_ts = MemoryContextAllocHuge(cxt, sizeof(double) * job->nw * occ_max);
	job->occ_max = occ_max;
	for (w = 1; w < njobs; w++)
	{
		jobs[w].occ_pid = job->occ_pid;
		jobs[w].occ_ts = job->occ_ts;
		jobs[w].occ_max = occ_max;
	}
}

/*
 * Each customer's occasion rows and history pairs: ids[0..nsb-1] ascending
 * (across the blocks of the call too); the lines are copied from the
 * stream's blocks into the job's own (ofirst/olast: ranges in
 * job->occ_rows, job->occ_need the longest); likewise the products bought
 * from hist (when include_purchased is off; read in order, by customer)
 * into job->hist_pid, ranges hfirst/hlast.
 */
static void
ra_locate(RaJob *job, const int64 *ids, int nsb, RaOcc *occ,
		  AlsPairList *hist, int64 *ofirst, int64 *olast, int64 *hfirst, int64 *hlast)
{
	int			slot;
	int64		used = 0,
				hused = 0;

	job->occ_need = 0;
	for (slot = 0; slot < nsb; slot++)
	{
		int64		id = ids[slot];

		for (;;)
		{
			while (occ->pos < occ->n && occ->cust[occ->pos] < id)
				occ->pos++;
			if (occ->pos < occ->n || occ->done || occ->stream == NULL)
				break;
			/* past the block in hand: the next one */
			occ->pos = 0;
			if (!seg_reco_occ_next(occ->stream, &occ->cust, &occ->rows, &occ->n))
			{
				occ->n = 0;
				occ->done = true;
			}
		}
		ofirst[slot] = used;
		while (occ->pos < occ->n && occ->cust[occ->pos] == id)
		{
			if (used == job->occ_cap)
			{
				job->occ_cap *= 2;
				job->occ_rows = repalloc_huge(job->occ_rows, sizeof(OccRow) * job->occ_cap);
			}
			job->occ_rows[used++] = occ->rows[occ->pos++];
		}
		olast[slot] = used;
		job->occ_need = (int) Max(job->occ_need, olast[slot] - ofirst[slot]);
		hfirst[slot] = hused;
		if (hist->reading)
		{
			int64		c,
						p;

			while (als_list_peek(hist, &c, &p) && c <= id)
			{
				hist->pos++;
				if (c < id)
					continue;
				if (hused == job->hist_cap)
				{
					job->hist_cap *= 2;
					job->hist_pid = repalloc_huge(job->hist_pid, sizeof(int64) * job->hist_cap);
				}
				job->hist_pid[hused++] = p;
			}
		}
		hlast[slot] = hused;
	}
}

/*
 * Every customer's next-basket neighbours, read along (a cursor over
 * seg_reco.nextbasket_neighbours by customer): params NULL without the
 * source (no weight or no build); tt the fetched rows in hand, pos the
 * walk's place in them.
 */
typedef struct RaNb
{
	const NbParams *params;
	Portal		portal;
	MemoryContext tmp;			/* a row's arrays */
	SPITupleTable *tt;
	uint64		n;
	uint64		pos;
	bool		done;
} RaNb;

#define RA_NB_FETCH 1024

/* the customer id of the walk's row in hand (there is one) */
static inline int64
ra_nb_cust(const RaNb *nb, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(nb->tt->vals[nb->pos], nb->tt->tupdesc, 1, isnull));
}

/*
 * Each customer's next-basket input: ids[0..nsb-1] ascending (across the
 * blocks of the call too), the walk advancing through the cursor; a
 * customer without neighbours (or not among those asked for) gets none.
 * The inputs are copied into the job's own arrays (the other block in
 * flight keeps its).  On the backend's thread: the tasks read nbin, never
 * the walk.
 */
static void
ra_locate_nb(RaJob *job, const int64 *ids, int nsb, RaNb *nb, NbInput *nbin)
{
	int			slot;
	int64		used = 0;
	int64	   *off = palloc(sizeof(int64) * Max(nsb, 1));

	for (slot = 0; slot < nsb; slot++)
	{
		int64		id = ids[slot];
		bool		isnull = false;

		nbin[slot].params = nb->params;
		nbin[slot].n = 0;
		nbin[slot].upcf_n = 0;
		off[slot] = used;
		if (nb->params == NULL)
			continue;
		for (;;)
		{
			while (nb->pos < nb->n && (ra_nb_cust(nb, &isnull) < id || isnull))
				nb->pos++;
			if (nb->pos < nb->n || nb->done)
				break;
			if (nb->tt != NULL)
				SPI_freetuptable(nb->tt);
			nb->tt = NULL;
			SPI_cursor_fetch(nb->portal, true, RA_NB_FETCH);
			nb->n = SPI_processed;
			nb->pos = 0;
			if (nb->n == 0)
			{
				SPI_freetuptable(SPI_tuptable);
				nb->done = true;
			}
			else
				nb->tt = SPI_tuptable;
		}
		if (nb->pos < nb->n && ra_nb_cust(nb, &isnull) == id)
		{
			bool		n1,
						n2,
						n3,
						n4;
			Datum		d1 = SPI_getbinval(nb->tt->vals[nb->pos], nb->tt->tupdesc, 2, &n1),
						d2 = SPI_getbinval(nb->tt->vals[nb->pos], nb->tt->tupdesc, 3, &n2),
						d3 = SPI_getbinval(nb->tt->vals[nb->pos], nb->tt->tupdesc, 4, &n3),
						d4 = SPI_getbinval(nb->tt->vals[nb->pos], nb->tt->tupdesc, 5, &n4);

			if (!n1 && !n2)
			{
				NbInput		in;
				MemoryContext old = MemoryContextSwitchTo(nb->tmp);

				seg_reco_nb_arrays(d1, d2, &in);
				if (!n3 && !n4)
					seg_reco_nb_upcf_arrays(d3, d4, &in);
				MemoryContextSwitchTo(old);
				/* the slot's arrays: the TIFU-KNN part, then UP-CF@r's */
				if (used + in.n + in.upcf_n > job->nb_cap)
				{
					job->nb_cap = Max(used + in.n + in.upcf_n, job->nb_cap * 2);
					job->nb_pid = repalloc_huge(job->nb_pid, sizeof(int64) * job->nb_cap);
					job->nb_score = repalloc_huge(job->nb_score, sizeof(float) * job->nb_cap);
				}
				memcpy(job->nb_pid + used, in.pid, sizeof(int64) * in.n);
				memcpy(job->nb_score + used, in.score, sizeof(float) * in.n);
				if (in.upcf_n > 0)
				{
					memcpy(job->nb_pid + used + in.n, in.upcf_pid, sizeof(int64) * in.upcf_n);
					memcpy(job->nb_score + used + in.n, in.upcf_score, sizeof(float) * in.upcf_n);
				}
				nbin[slot].n = in.n;
				nbin[slot].upcf_n = in.upcf_n;
				used += in.n + in.upcf_n;
				MemoryContextReset(nb->tmp);
			}
			nb->pos++;
		}
	}
	for (slot = 0; slot < nsb; slot++)
	{
		nbin[slot].pid = job->nb_pid + off[slot];
		nbin[slot].score = job->nb_score + off[slot];
		nbin[slot].upcf_pid = nbin[slot].pid + nbin[slot].n;
		nbin[slot].upcf_score = nbin[slot].score + nbin[slot].n;
	}
	pfree(off);
}

/*
 * The next block of customers and factors into job (job->rows of them,
 * also returned; 0 at the end), with their occasion and history ranges
 * and next-basket inputs: the block's own, so that the other block in
 * flight keeps its.
 */
static int
ra_fetch(Portal portal, RaJob *job, int block, RaOcc *occ,
		 AlsPairList *hist, RaNb *nb)
{
	CHECK_FOR_INTERRUPTS();
	SPI_cursor_fetch(portal, true, block);
	job->rows = (int) SPI_processed;
	if (job->rows == 0)
		return 0;
	ra_read_factors(SPI_tuptable, job->rows, job->m->d, job->ids, job->x, job->xf, job->xn);
	ra_locate(job, job->ids, job->rows, occ, hist, job->ofirst, job->olast, job->hfirst, job->hlast);
	ra_locate_nb(job, job->ids, job->rows, nb, job->nbin);
	return job->rows;
}

/*
 * The rows of a block's customers ids[0..nsb-1], from the job's outputs.
 * The sources text[] of each distinct key is made once (a row's sources
 * are one of a few lists) in cache (RA_SOURCES_CACHE keys and datums,
 * kept across the blocks of the call).
 */
#define RA_SOURCES_CACHE 16

static void
ra_emit(ReturnSetInfo *rsinfo, const RaJob *job, const int64 *ids, int nsb,
		uint32 *ckey, Datum *cdatum, int *ncache, const Datum *cold_datum)
{
	int			slot;

	for (slot = 0; slot < nsb; slot++)
	{
		int			i;

		for (i = 0; i < job->got[slot]; i++)
		{
			Size		r = (Size) slot * job->topn + i;
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};
			uint32		key;
			int			c;

			values[0] = Int64GetDatum(ids[slot]);
			values[1] = Int64GetDatum(job->u->id[job->out[r]]);
			values[2] = Float8GetDatum(job->score[r]);
			values[3] = Int32GetDatum(i + 1);
			if (job->label[r] != 0)
			{
				values[4] = cold_datum[(int) job->label[r]];
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				continue;
			}
			key = seg_reco_sources_key(job->con + r * (N_SRC + 1));
			for (c = 0; c < *ncache && ckey[c] != key; c++)
				;
			if (c == *ncache)
			{
				Datum		d = seg_reco_sources_datum_key(key);

				if (*ncache == RA_SOURCES_CACHE)
				{
					values[4] = d;	/* full: this row's own */
					c = -1;
				}
				else
				{
					ckey[c] = key;
					cdatum[c] = d;
					(*ncache)++;
				}
			}
			if (c >= 0)
				values[4] = cdatum[c];
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/*
 * seg_reco.recommend_all(model text, n int, include_purchased bool,
 *     only_active bool, weights jsonb, diversity float8,
 *     max_per_category int, as_of date, customer_ids bigint[])
 * RETURNS TABLE(customer_id bigint, product_id bigint, score float8,
 *     rank int, sources text[])
 *
 * The hybrid list of recommend_for for every customer with stored factors,
 * in blocks: the threads score a block of customers against all products
 * (own kernels, two blocks in flight); the purchases of all customers are
 * read in one pass, when a source needs them.  With
 * customer_ids (0.2.0; a 0.1.0 database calls with 8 arguments), only
 * those of them with stored factors, reading only their purchases: each
 * customer's list is computed from that customer's factors and lines
 * alone, so it is the list of the call over all customers.
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
	const Universe *u;
	ProductMeta pm;
	AlsPairList hist;
	RaOcc		occ;
	double		end = 0;
	char	   *as_of_opt = NULL;
	RaJob		job,
				jobs[2];
	SegRecoParallel *volatile running = NULL;
	int			block;
	int64		screened = 0,
				by_stage[3] = {0, 0, 0};
	uint32		ckey[RA_SOURCES_CACHE];
	Datum		cdatum[RA_SOURCES_CACHE];
	int			ncache = 0;
	Portal		portal;
	int			progress;
	int64		scored = 0;
	NbParams	nbp;
	RaNb		nb;
	ArrayType  *only = NULL;	/* customer_ids, distinct and ascending */
	int			n_only = 0;
	RaCold		rc;
	Datum		cold_datum[3];

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
	progress = seg_reco_progress_begin("recommend_all", 2);
	seg_reco_progress_step(progress, "read", -1, "rows", NULL);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco recommend_all",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);
	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
	{
		int64	   *ids = seg_reco_distinct_ids(PG_GETARG_ARRAYTYPE_P(8), "customer_ids", &n_only);

		only = seg_reco_int8_array(ids, n_only);
		pfree(ids);
	}

	seg_reco_resolve_weights(PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4), include_purchased, &hw, true);
	m = seg_reco_als_model_get_serving(model, &as_of_opt);
	use_history = !m->custom_source;
	if (use_history)
		c = seg_reco_content_get(true);
	u = seg_reco_universe_get(m, c);
	seg_reco_meta_init(&pm, u->n, true);
	seg_reco_meta_fetch(&pm, u, NULL, 0);
	topn = Min(topn, u->n);

	memset(&hist, 0, sizeof(hist));
	memset(&nb, 0, sizeof(nb));
	memset(&occ, 0, sizeof(occ));
	if (!include_purchased)
	{
		/* the products bought, by customer: in maintenance_work_mem, else in a file */
		als_list_init(&hist, (int64) maintenance_work_mem * 1024);
		seg_reco_als_read_purchased(m->query, only, m->custom_source, &hist);
		elog(DEBUG1, "recommend_all: " INT64_FORMAT " pairs of products bought, %s",
			 hist.n, hist.file != NULL ? "in a temporary file" : "in memory");
	}
	if (use_history)
	{
		end = seg_reco_serving_end(!PG_ARGISNULL(7), PG_ARGISNULL(7) ? 0 : PG_GETARG_DATEADT(7), as_of_opt);

		/*
		 * The purchase lines (the customers asked for only), unless nothing
		 * reads them: content, buy-again, the season and next-basket (the customer's own
		 * vector) without weight, no history_prior (ALS counts in full
		 * whatever the receipts) and the products bought allowed: the ALS
		 * ranking alone, as implicit's recommend, gives the same lists
		 * without the pass over the transactions.
		 */
		if (hw.w[SRC_CONTENT] > 0 || (include_purchased && (hw.w[SRC_BA] > 0 || hw.w[SRC_SEASON] > 0)) ||
			hw.w[SRC_NB] > 0 || hw.w[SRC_UPCF] > 0 || hw.history_prior > 0 || !include_purchased)
			occ.stream = seg_reco_occ_open(only, end);
		if ((hw.w[SRC_NB] > 0 || hw.w[SRC_UPCF] > 0) && seg_reco_nb_params(model, &nbp))
		{
			nb.params = &nbp;
			nb.tmp = AllocSetContextCreate(work, "seg_reco recommend_all nextbasket row", ALLOCSET_SMALL_SIZES);
			nb.portal = ra_open_by_customer("SELECT x.customer_id, x.product_ids, x.scores,"
											" x.upcf_product_ids, x.upcf_scores"
											" FROM seg_reco.nextbasket_neighbours x",
											model, only);
		}
	}

	/*
	 * Customers per block: one parallel pass each, so large (few waits
	 * for the slowest thread), yet about 2^24 scores (well under a second
	 * between interrupt checks) and bounded output room
	 */
	block = (int) Max(64, Min(4096, Min((1 << 24) / Max(m->n_products, 1),
										(1 << 22) / (Max(topn, 1) * (N_SRC + 3)))));

	job.u = u;
	job.m = m;
	job.c = c;
	job.hw = &hw;
	job.pm = &pm;
	job.topn = topn;
	job.only_active = only_active;
	job.max_per_cat = max_per_cat;
	job.diversity = diversity;
	job.end = end;
	job.use_history = use_history;
	job.include_purchased = include_purchased;
	job.simd = seg_reco_simd_level();

	/*
	 * ALS alone over every product (the others, next-basket included, weigh
	 * nothing, re-buys allowed) and a short list (a pool of at most 256):
	 * the ranking of the ALS scores, screened in float32 and decided exactly
	 * (ra_screened)
	 */
	job.pool_size = seg_reco_select_pool_size(u, topn, only_active, max_per_cat, diversity);
	job.als_only = include_purchased && hw.w[SRC_ALS] > 0 &&
		hw.w[SRC_CONTENT] == 0 && hw.w[SRC_POP] == 0 && hw.w[SRC_BA] == 0 &&
		hw.w[SRC_NB] == 0 && hw.w[SRC_UPCF] == 0 && hw.w[SRC_SEASON] == 0 &&
		job.pool_size <= 256 && job.pool_size < m->n_products;
	job.panels = job.als_only ? NULL : seg_reco_score_panels(m->yf, m->n_products, m->d);
	if (job.als_only)
	{
		int			i;

		int64		n = m->n_products;
		int32	   *perm = palloc(sizeof(int32) * n);
		float	   *ys = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * n * m->d);
		double	   *yn = palloc(sizeof(double) * (n + 1));

		for (i = 0; i < n; i++)
			perm[i] = i;
		qsort_arg(perm, n, sizeof(int32), ra_cmp_norm, m->y_norm);
		for (i = 0; i < n; i++)
		{
			memcpy(ys + (Size) i * m->d, m->yf + (Size) perm[i] * m->d, sizeof(float) * m->d);
			yn[i] = m->y_norm[perm[i]];
		}
		yn[n] = 0;
		job.perm = perm;
		job.yf_sorted = ys;
		job.yn_sorted = yn;
		job.panels_f = seg_reco_score_panels_f(ys, n, m->d);
		job.ymax = n > 0 ? yn[0] : 0;
		/* stages: 3/8 and 3/4 of the products (whole blocks of the screening), then all */
		job.nstage = 0;
		if (n >= 1024)
		{
			job.stage[job.nstage++] = (n * 3 / 8 + 127) / 128 * 128;
			job.stage[job.nstage++] = (n * 3 / 4 + 127) / 128 * 128;
		}
		job.stage[job.nstage++] = n;
	}
	ra_job_alloc(&job, work, block);
	seg_reco_blend_init(&rc.b, u, m, c);
	rc.allowed = palloc(sizeof(bool) * Max(u->n, 1));
	rc.disp = palloc(sizeof(double) * Max(u->n, 1));
	rc.cap = job.occ_max;
	rc.pid = palloc(sizeof(int64) * rc.cap);
	rc.ts = palloc(sizeof(double) * rc.cap);
	seg_reco_select_scratch_init(&rc.sc, u, &pm);
	{
		Datum		el[1];

		el[0] = CStringGetTextDatum("cold_start");
		cold_datum[1] = PointerGetDatum(construct_array(el, 1, TEXTOID, -1, false, TYPALIGN_INT));
		el[0] = CStringGetTextDatum("popularity");
		cold_datum[2] = PointerGetDatum(construct_array(el, 1, TEXTOID, -1, false, TYPALIGN_INT));
		cold_datum[0] = (Datum) 0;
	}
	seg_reco_progress_step(progress, "score", only != NULL ? n_only : m->n_customers, "customers",
						   psprintf("kernels: %s%s", seg_reco_simd_name(job.simd),
									job.als_only ? ", ALS alone: float32 screening, exact" : ""));

	portal = ra_open_by_customer("SELECT x.customer_id, x.factors FROM seg_reco.als_customer_factors x",
								 m->name, only);

	/*
	 * Two blocks in flight: while the threads score, blend and choose for
	 * one, the backend's thread fetches the next one's factors and emits
	 * the previous one's rows (seg_reco_parallel_begin/end); an error
	 * meanwhile stops and joins the threads before it propagates.
	 */
	jobs[0] = job;
	jobs[1] = job;
	ra_block_alloc(&jobs[1], block);
	PG_TRY();
	{
		int			cur = 0;

		if (ra_fetch(portal, &jobs[cur], block, &occ, &hist, &nb) > 0)
		{
			ra_grow_scratch(jobs, 2, jobs[cur].occ_need);
			running = seg_reco_parallel_begin((jobs[cur].rows + RA_TILE - 1) / RA_TILE, ra_task,
											  &jobs[cur]);
		}
		while (running != NULL)
		{
			int			next = ra_fetch(portal, &jobs[1 - cur], block, &occ, &hist, &nb),
						i;

			seg_reco_parallel_end(running);
			running = NULL;
			if (next > 0)
				ra_grow_scratch(jobs, 2, jobs[1 - cur].occ_need);
			for (i = 0; i < jobs[cur].rows; i++)
			{
				screened += jobs[cur].screened[i];
				if (jobs[cur].als_only)
					by_stage[jobs[cur].stage_of[i]]++;
			}
			scored += jobs[cur].rows;
			seg_reco_progress_update(scored);
			if (next > 0)
				running = seg_reco_parallel_begin((next + RA_TILE - 1) / RA_TILE, ra_task,
												  &jobs[1 - cur]);
			ra_cold(&jobs[cur], &rc);
			MemoryContextSwitchTo(old);
			ra_emit(rsinfo, &jobs[cur], jobs[cur].ids, jobs[cur].rows, ckey, cdatum, &ncache, cold_datum);
			MemoryContextSwitchTo(work);
			cur = 1 - cur;
		}
	}
	PG_CATCH();
	{
		if (running != NULL)
			seg_reco_parallel_cancel(running);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_cursor_close(portal);
	if (nb.portal != NULL)
		SPI_cursor_close(nb.portal);
	if (occ.stream != NULL)
		seg_reco_occ_close(occ.stream);
	if (hist.reading)
		als_list_free(&hist);
	elog(DEBUG1, "recommend_all: " INT64_FORMAT " customers, %s kernels, " INT64_FORMAT " decided by float32 screening",
		 scored, seg_reco_simd_name(job.simd), screened);
	if (job.als_only && job.nstage > 1)
		elog(DEBUG1, "recommend_all: products scored, by norm: " INT64_FORMAT " of " INT64_FORMAT " for " INT64_FORMAT
			 " customers, " INT64_FORMAT " for " INT64_FORMAT ", all for " INT64_FORMAT,
			 job.stage[0], job.stage[job.nstage - 1], by_stage[0],
			 job.stage[1], job.nstage > 2 ? by_stage[1] : 0, by_stage[job.nstage - 1]);

	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	seg_reco_progress_end(progress);
	return (Datum) 0;
}
