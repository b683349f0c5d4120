/*
 * als_train.c
 *      Implicit-feedback alternating least squares (Hu, Koren & Volinsky
 *      2008) with the conjugate-gradient solver of Takacs, Pilaszy & Tikk
 *      (2011) and an exact Cholesky solver.
 *
 * The interaction matrix has customers as rows and products as columns.  A
 * pair's weight r (purchases, views, ... as the source query defines it)
 * becomes a confidence c = 1 + alpha * r and a preference p = 1; every pair
 * not observed has c = 1 and p = 0.  Each half-iteration solves, for every
 * customer u (then every product),
 *
 *     (Y^T Y + reg I + Y^T (C_u - I) Y) x_u = Y^T C_u p_u
 *
 * Y^T Y is shared by all rows and computed once per half-iteration (dsyrk,
 * summed in double).  The CG solver runs cg_steps = 3 steps per row from the
 * previous factors, as the implicit library does, all steps of a row at
 * once so that the row's products' factors stay in L1 cache; the dense part
 * of each matrix-vector product, (Y^T Y + reg I) p, is a plain loop on the
 * d x d matrix (in L1 too), the sparse part a loop over the row's products.
 * Factors are float during training (see below) and stored as float4[].
 * The interaction matrix is held both ways, whole in memory or in blocks in
 * temporary files when it does not fit in maintenance_work_mem
 * (als_blocks.c): the same model either way.  The Cholesky solver forms
 * each row's matrix exactly (dsyrk over the row's products) and solves it
 * in double: slower, the reference the
 * tests compare CG with.
 *
 * Loss per iteration, as implicit's calculate_loss:
 *   [ sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2) ]
 *   / (sum of confidences of observed pairs + unobserved pairs)
 * with every sum in double.  A NaN or infinite loss stops training with an error
 * that says to raise regularization.
 *
 * Factors start uniform in [0, 0.01) from a pg_prng seeded by seed
 * (customers first, then products), so a training run is reproducible.
 * Phases: read the input, build the matrices (als_blocks.c), iterate,
 * save (als_model.c).
 * Also here, at -O3: reading a source's pairs and one customer's exact
 * system (als_train.h), which serving (reco_serve.c) uses to fold in.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "commands/tablespace.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "nodes/params.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "als_blocks.h"
#include "als_model.h"
#include "als_train.h"
#include "guards.h"
#include "linalg.h"
#include "memory.h"
#include "progress.h"
#include "threads.h"

#define ALS_CG_STEPS 3
#define ALS_MAX_FACTORS 1024
#define ALS_MAX_ITERATIONS 1000
#define ALS_NO_KEY PG_INT64_MIN

PG_FUNCTION_INFO_V1(seg_reco_als_train);


static double
elapsed_since(instr_time t0)
{
	instr_time	t;

	INSTR_TIME_SET_CURRENT(t);
	INSTR_TIME_SUBTRACT(t, t0);
	return INSTR_TIME_GET_DOUBLE(t);
}

/* ------------------------------------------------------------------------
 * Reading interactions
 * ------------------------------------------------------------------------ */

typedef struct RawRow
{
	int64		c;
	int64		p;
	int64		key;			/* receipt id, ALS_NO_KEY when NULL */
	double		w;
} RawRow;

/*
 * (customer, product, receipt, weight): a total order on the values, so the
 * sorted array, and the order in which a pair's weights are summed, do not
 * depend on the order the rows arrive in or on how they were sorted.
 */
/* task-safe: see threads.h */
static inline int
raw_cmp(const RawRow *x, const RawRow *y)
{
	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	return 0;
}

/*
 * Sorts with the comparison inlined (PostgreSQL's sort template): three
 * times faster than qsort() through a function pointer on the ~800,000 rows
 * of the reference scale.  The second one, for worker threads, never
 * checks for interrupts.
 */
#define ST_SORT sort_raw_rows
#define ST_ELEMENT_TYPE RawRow
#define ST_COMPARE(a, b) raw_cmp(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* task-safe: see threads.h */
#define ST_SORT sort_raw_rows_worker
#define ST_ELEMENT_TYPE RawRow
#define ST_COMPARE(a, b) raw_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Rows go straight from the executor's slots into a RawRow array through a
 * DestReceiver of our own: no tuple table is materialised (a third of the
 * reading time at the reference scale).
 *
 * Memory is bounded by maintenance_work_mem, not by the row count: the
 * array holds at most half of it (sorting may take as much again), and at
 * most ALS_RUN_MAX_BYTES.  When it
 * is full, it is sorted and written to a temporary file as a run; after the
 * last row the runs are merged (one pass, a read buffer of
 * ALS_RUN_READ_ROWS rows per run) and the pairs folded from the merged
 * stream.  raw_cmp being a total order, the merged stream is the sequence
 * the one in-memory sort gives, so every pair's weights are summed in the
 * same order: the same pairs, to the bit, whatever the setting.
 */
#define ALS_RUN_READ_ROWS 256

/*
 * A run holds at most 64 MB of rows (2 M rows), whatever
 * maintenance_work_mem: sorting runs of that size and merging them is
 * faster than sorting one large array (the 8.4 M rows of 10x the demo data:
 * 1.4 s to read, sort and fold instead of 3.6 s in one 256 MB array), and
 * 162 M rows (200x) make 80 runs to merge.
 */
#define ALS_RUN_MAX_BYTES (INT64CONST(64) * 1024 * 1024)

typedef struct RowRun
{
	BufFile    *file;
	RawRow	   *buf;			/* ALS_RUN_READ_ROWS rows, while merging */
	int			pos;			/* next row in buf */
	int			len;			/* rows in buf */
} RowRun;

typedef struct PairReceiver
{
	DestReceiver pub;
	MemoryContext cxt;
	RawRow	   *rows;
	int64		n;
	int64		cap;
	int64		max_rows;		/* the array's limit */
	RowRun	   *runs;			/* sorted runs written so far */
	int			nruns;
	int			runs_cap;
	bool		selected;		/* startup saw a SELECT */
	bool		progress;		/* report rows read (progress.h) */
	SegRecoPairs *out;
} PairReceiver;

static RawRow *sort_rows(RawRow *rows, int64 n);

/* sort the array, write it to a temporary file as a run, empty it */
static void
spill_run(PairReceiver *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	RowRun	   *run;

	if (r->nruns == 0)
		PrepareTempTablespaces();
	if (r->nruns == r->runs_cap)
	{
		r->runs_cap = Max(16, r->runs_cap * 2);
		r->runs = r->runs == NULL ? palloc(sizeof(RowRun) * r->runs_cap) :
			repalloc(r->runs, sizeof(RowRun) * r->runs_cap);
	}
	r->rows = sort_rows(r->rows, r->n);
	CHECK_FOR_INTERRUPTS();
	run = &r->runs[r->nruns++];
	memset(run, 0, sizeof(*run));
	run->file = BufFileCreateTemp(false);
	BufFileWrite(run->file, r->rows, sizeof(RawRow) * r->n);
	/* sort_rows may have returned an array of n rows: start again at full size */
	if (r->cap != r->max_rows)
	{
		pfree(r->rows);
		r->rows = seg_reco_alloc_huge(sizeof(RawRow) * r->max_rows);
		r->cap = r->max_rows;
	}
	r->n = 0;
	MemoryContextSwitchTo(old);
}

static void
pair_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	((PairReceiver *) self)->selected = (operation == CMD_SELECT);
	if (desc->natts != 4 ||
		TupleDescAttr(desc, 0)->atttypid != INT8OID ||
		TupleDescAttr(desc, 1)->atttypid != INT8OID ||
		TupleDescAttr(desc, 2)->atttypid != FLOAT8OID ||
		TupleDescAttr(desc, 3)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("als source query must return customer_id bigint, product_id bigint, weight float8, receipt_id bigint"),
				 errhint("Pass the query to seg_reco.als_train as source; it adds the casts.")));
}

static bool
pair_receive(TupleTableSlot *slot, DestReceiver *self)
{
	PairReceiver *r = (PairReceiver *) self;
	Datum	   *v;
	bool	   *nulls;
	double		w;

	slot_getallattrs(slot);
	v = slot->tts_values;
	nulls = slot->tts_isnull;
	r->out->rows_read++;
	if ((r->out->rows_read & 65535) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (r->progress)
			seg_reco_progress_update(r->out->rows_read);
	}
	if (nulls[0] || nulls[1])
	{
		r->out->rows_skipped++;
		return true;
	}
	if (nulls[2])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("interaction weight must not be NULL"),
				 errdetail("Customer " INT64_FORMAT ", product " INT64_FORMAT " has a NULL weight.",
						   DatumGetInt64(v[0]), DatumGetInt64(v[1])),
				 errhint("Use coalesce(weight, 0) in the source query, or filter the row out.")));
	w = DatumGetFloat8(v[2]);
	seg_reco_check_finite(w, "interaction weight");
	if (r->n == r->cap)
	{
		if (r->cap >= r->max_rows)
			spill_run(r);
		else
		{
			r->cap = Min(r->cap * 2, r->max_rows);
			r->rows = repalloc_huge(r->rows, sizeof(RawRow) * r->cap);
		}
	}
	r->rows[r->n].c = DatumGetInt64(v[0]);
	r->rows[r->n].p = DatumGetInt64(v[1]);
	r->rows[r->n].key = nulls[3] ? ALS_NO_KEY : DatumGetInt64(v[3]);
	r->rows[r->n].w = w;
	r->n++;
	return true;
}

static void
pair_noop(DestReceiver *self)
{
}

/*
 * Sorting the rows by customer first.  When the customer ids span a range
 * not much larger than the row count (as ids from a sequence do), a counting
 * sort moves every row once into its customer's bucket; the buckets (tens
 * to hundreds of rows) are then sorted on worker threads, in tasks of about
 * ALS_SORT_TASK_ROWS rows and calls of about ALS_SORT_CALL_ROWS rows with
 * CHECK_FOR_INTERRUPTS() between them.  A third of the time of one sort of
 * the whole array, single-threaded, at the reference scale; the same
 * result, raw_cmp being a total order.
 */
#define ALS_SORT_MIN_ROWS 65536
#define ALS_SORT_TASK_ROWS 16384
#define ALS_SORT_CALL_ROWS (1 << 20)

typedef struct BucketSortJob
{
	RawRow	   *rows;
	const int64 *end;			/* end of each bucket (its start: the
								 * previous one's end) */
	const int64 *task_bucket;	/* first bucket of each task, ntasks + 1 */
	int64		task0;			/* first task of the current call */
} BucketSortJob;

/* worker: sort the buckets of one task (no PostgreSQL calls) */
/* task-safe: see threads.h */
static void
bucket_sort_task(void *arg, int64 task, int worker)
{
	BucketSortJob *j = (BucketSortJob *) arg;
	int64		t = j->task0 + task,
				b;

	for (b = j->task_bucket[t]; b < j->task_bucket[t + 1]; b++)
	{
		int64		from = b == 0 ? 0 : j->end[b - 1];

		if (j->end[b] - from > 1)
			sort_raw_rows_worker(j->rows + from, j->end[b] - from);
	}
}

/* sort rows[0 .. n-1] by raw_cmp; returns the sorted array (maybe a new one) */
static RawRow *
sort_rows(RawRow *rows, int64 n)
{
	int64		cmin,
				cmax,
				i,
				b,
				nb,
				ntasks,
				acc,
				c;
	uint64		span;
	int64	   *end,
			   *task_bucket,
			   *call;
	int64		ncalls;
	RawRow	   *out;
	BucketSortJob job;

	if (n < ALS_SORT_MIN_ROWS)
	{
		sort_raw_rows(rows, n);
		return rows;
	}
	cmin = cmax = rows[0].c;
	for (i = 1; i < n; i++)
	{
		if (rows[i].c < cmin)
			cmin = rows[i].c;
		if (rows[i].c > cmax)
			cmax = rows[i].c;
	}
	span = (uint64) cmax - (uint64) cmin;
	if (span >= (uint64) n)
	{
		sort_raw_rows(rows, n);
		return rows;
	}
	nb = (int64) span + 1;

	/* counting sort by customer */
	end = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * nb);
	memset(end, 0, sizeof(int64) * nb);
	for (i = 0; i < n; i++)
		end[rows[i].c - cmin]++;
	for (b = 0, acc = 0; b < nb; b++)
	{
		int64		cnt = end[b];

		end[b] = acc;			/* start, for now */
		acc += cnt;
	}
	CHECK_FOR_INTERRUPTS();
	out = seg_reco_alloc_huge(sizeof(RawRow) * n);
	for (i = 0; i < n; i++)
		out[end[rows[i].c - cmin]++] = rows[i];
	pfree(rows);
	CHECK_FOR_INTERRUPTS();

	/* tasks of whole buckets, calls of whole tasks */
	task_bucket = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (n / ALS_SORT_TASK_ROWS + 2));
	call = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (n / ALS_SORT_TASK_ROWS + 2));
	task_bucket[0] = 0;
	call[0] = 0;
	ntasks = 0;
	ncalls = 0;
	acc = 0;
	for (b = 0; b < nb; b++)
	{
		int64		from = task_bucket[ntasks] == 0 ? 0 : end[task_bucket[ntasks] - 1];

		if (end[b] - from >= ALS_SORT_TASK_ROWS || b == nb - 1)
		{
			task_bucket[++ntasks] = b + 1;
			acc += end[b] - from;
			if (acc >= ALS_SORT_CALL_ROWS || b == nb - 1)
			{
				call[++ncalls] = ntasks;
				acc = 0;
			}
		}
	}
	job.rows = out;
	job.end = end;
	job.task_bucket = task_bucket;
	for (c = 0; c < ncalls; c++)
	{
		CHECK_FOR_INTERRUPTS();
		job.task0 = call[c];
		seg_reco_parallel_for(call[c + 1] - call[c], bucket_sort_task, &job);
	}
	pfree(end);
	pfree(task_bucket);
	pfree(call);
	return out;
}

/*
 * The planner's row estimate for a query, or 0: the buffer for the rows is
 * sized from it, so that it is allocated (and its pages first touched) once
 * instead of growing by doubling, which on millions of rows costs more than
 * reading them.  A wrong estimate only costs a regrow.
 */
static int64
estimated_rows(const char *query)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	CachedPlan *cp;
	double		est = 0.0;
	ListCell   *lc;

	if (plan == NULL)
		return 0;				/* the execution reports the error */
	cp = SPI_plan_get_cached_plan(plan);
	if (cp != NULL)
	{
		foreach(lc, cp->stmt_list)
		{
			PlannedStmt *ps = lfirst_node(PlannedStmt, lc);

			if (ps->commandType == CMD_SELECT && ps->planTree != NULL)
				est = ps->planTree->plan_rows;
		}
		ReleaseCachedPlan(cp, NULL);
	}
	SPI_freeplan(plan);
	/* at most 2^27 rows (4 GB of rows) ahead of time */
	return (int64) Min(Max(est, 0.0), (double) ((int64) 1 << 27));
}

/*
 * Folding sorted rows into pairs, one row at a time: the rows of a pair
 * are summed in the order they come (rows with the same receipt count once;
 * unkeyed rows all count).
 */
typedef struct PairFold
{
	SegRecoPairs *out;
	AlsPairSink *sink;			/* training: pairs go here, not to out's arrays */
	AlsPairList *list;			/* recommend_all: the purchased pairs go here */
	int64		cap;			/* pairs the arrays hold */
	bool		custom_source;
	bool		open;			/* a pair is being summed */
	int64		c;
	int64		p;
	int64		prev_key;		/* key of the pair's previous row */
	double		sum;
	bool		keyed;
} PairFold;

static void
fold_init(PairFold *f, SegRecoPairs *out, AlsPairSink *sink, AlsPairList *list, int64 cap,
		  bool custom_source)
{
	memset(f, 0, sizeof(*f));
	f->out = out;
	f->sink = sink;
	f->list = list;
	f->cap = Max(cap, 1);
	f->custom_source = custom_source;
	if (sink != NULL || list != NULL)
		return;
	out->customer_id = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * f->cap);
	out->product_id = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * f->cap);
	out->weight = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * f->cap);
	out->purchased = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * f->cap);
}

/* end the open pair: keep it, drop it (weight <= 0) or fail (overflow) */
static void
fold_close(PairFold *f)
{
	SegRecoPairs *out = f->out;

	if (!f->open)
		return;
	f->open = false;
	if (f->sum > 0.0 && isfinite(f->sum) && f->sink != NULL)
	{
		als_sink_add(f->sink, f->c, f->p, f->sum);
		out->n++;
	}
	else if (f->sum > 0.0 && isfinite(f->sum) && f->list != NULL)
	{
		if (f->keyed || f->custom_source)
			als_list_add(f->list, f->c, f->p);
		out->n++;
	}
	else if (f->sum > 0.0 && isfinite(f->sum))
	{
		if (out->n == f->cap)
		{
			f->cap *= 2;
			out->customer_id = repalloc_huge(out->customer_id, sizeof(int64) * f->cap);
			out->product_id = repalloc_huge(out->product_id, sizeof(int64) * f->cap);
			out->weight = repalloc_huge(out->weight, sizeof(double) * f->cap);
			out->purchased = repalloc_huge(out->purchased, sizeof(bool) * f->cap);
		}
		out->customer_id[out->n] = f->c;
		out->product_id[out->n] = f->p;
		out->weight[out->n] = f->sum;
		out->purchased[out->n] = f->keyed || f->custom_source;
		out->n++;
	}
	else if (!isfinite(f->sum))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("summed interaction weight of customer " INT64_FORMAT ", product " INT64_FORMAT " overflows",
						f->c, f->p),
				 errhint("Scale the weights down in the source query.")));
	else
		out->pairs_dropped++;
}

static inline void
fold_row(PairFold *f, const RawRow *r)
{
	bool		first = false;

	if (!f->open || r->c != f->c || r->p != f->p)
	{
		fold_close(f);
		f->open = true;
		f->c = r->c;
		f->p = r->p;
		f->sum = 0.0;
		f->keyed = false;
		first = true;
	}
	if (r->key == ALS_NO_KEY)
		f->sum += r->w;
	else
	{
		f->keyed = true;
		if (first || r->key != f->prev_key)
			f->sum += r->w;
	}
	f->prev_key = r->key;
}

/* the next rows of a run into its buffer; false at its end */
static bool
run_fill(RowRun *run)
{
	run->len = (int) (BufFileRead(run->file, run->buf, sizeof(RawRow) * ALS_RUN_READ_ROWS) /
					  sizeof(RawRow));
	run->pos = 0;
	return run->len > 0;
}

static inline const RawRow *
run_head(const RowRun *runs, int i)
{
	return &runs[i].buf[runs[i].pos];
}

/* restore the min-heap heap[0..n-1] (of run numbers, by head row) below slot i */
static void
heap_sift_down(int *heap, int n, int i, const RowRun *runs)
{
	int			v = heap[i];

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && raw_cmp(run_head(runs, heap[c + 1]), run_head(runs, heap[c])) < 0)
			c++;
		if (raw_cmp(run_head(runs, heap[c]), run_head(runs, v)) >= 0)
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = v;
}

/* merge the sorted runs, folding the rows into pairs; closes the runs */
static void
merge_runs(RowRun *runs, int nruns, PairFold *f)
{
	int		   *heap = palloc(sizeof(int) * nruns);
	int			nh = 0,
				i;
	int64		k = 0;

	for (i = 0; i < nruns; i++)
	{
		runs[i].buf = palloc(sizeof(RawRow) * ALS_RUN_READ_ROWS);
		if (BufFileSeek(runs[i].file, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind temporary file of als_train: %m")));
		if (run_fill(&runs[i]))
			heap[nh++] = i;
	}
	/* heapify: sift down every inner node, last first */
	for (i = nh / 2 - 1; i >= 0; i--)
		heap_sift_down(heap, nh, i, runs);
	while (nh > 0)
	{
		RowRun	   *top = &runs[heap[0]];

		if ((++k & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		fold_row(f, &top->buf[top->pos]);
		if (++top->pos == top->len && !run_fill(top))
			heap[0] = heap[--nh];
		if (nh > 1)
			heap_sift_down(heap, nh, 0, runs);
	}
	for (i = 0; i < nruns; i++)
	{
		BufFileClose(runs[i].file);
		pfree(runs[i].buf);
	}
	pfree(heap);
}

/*
 * The plan of one customer's pairs, kept while the query text stays the
 * same (a model's query does not change with its version): serving reads
 * one customer's history at every call, and parsing and planning the
 * model's query each time cost more than reading the rows.  The rows are
 * sorted by every field before they are summed, so the plan's row order
 * does not matter.
 */
static SPIPlanPtr plan_one = NULL;
static char *plan_one_sql = NULL;

static SPIPlanPtr
one_customer_plan(const char *sql)
{
	Oid			types[1] = {INT8OID};

	if (plan_one != NULL && strcmp(plan_one_sql, sql) == 0)
		return plan_one;
	if (plan_one != NULL)
	{
		SPI_freeplan(plan_one);
		plan_one = NULL;
		pfree(plan_one_sql);
		plan_one_sql = NULL;
	}
	plan_one = SPI_prepare(sql, 1, types);
	if (plan_one == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan_one) != 0)
		elog(ERROR, "SPI_keepplan failed");
	plan_one_sql = MemoryContextStrdup(TopMemoryContext, sql);
	return plan_one;
}

/*
 * The rows of query into pairs: of all customers (ids NULL, one_customer
 * false), of one customer (one_customer) or of the customers of the int8[]
 * ids.
 */
static void
read_pairs(const char *query, bool one_customer, int64 customer_id, ArrayType *ids,
		   bool custom_source, SegRecoPairs *out, AlsPairSink *sink, AlsPairList *list)
{
	StringInfoData sql;
	RawRow	   *rows;
	int64		n,
				i,
				npairs = 0;
	PairReceiver recv;
	PairFold	fold;
	SPIExecuteOptions opts;
	ParamListInfo params = NULL;
	int			rc;
	instr_time	t0;

	INSTR_TIME_SET_CURRENT(t0);
	memset(out, 0, sizeof(*out));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT s.customer_id, s.product_id, s.weight, s.receipt_id FROM (%s) s",
					 query);
	if (one_customer || ids != NULL)
	{
		appendStringInfoString(&sql, one_customer ?
							   " WHERE s.customer_id OPERATOR(pg_catalog.=) $1" :
							   " WHERE s.customer_id OPERATOR(pg_catalog.=) ANY ($1)");
		params = makeParamList(1);
		params->params[0].value = one_customer ? Int64GetDatum(customer_id) : PointerGetDatum(ids);
		params->params[0].isnull = false;
		params->params[0].pflags = PARAM_FLAG_CONST;
		params->params[0].ptype = one_customer ? INT8OID : INT8ARRAYOID;
	}
	memset(&recv, 0, sizeof(recv));
	recv.pub.receiveSlot = pair_receive;
	recv.pub.rStartup = pair_startup;
	recv.pub.rShutdown = pair_noop;
	recv.pub.rDestroy = pair_noop;
	recv.pub.mydest = DestNone;
	recv.cxt = CurrentMemoryContext;
	/* reading all rows is a step of the caller's (als_train, recommend_all) */
	recv.progress = !one_customer && ids == NULL;
	/* half of maintenance_work_mem (kB), at most ALS_RUN_MAX_BYTES, at least 1024 rows */
	recv.max_rows = Max((int64) 1024, Min(ALS_RUN_MAX_BYTES, (int64) maintenance_work_mem * 1024 / 2) /
						(int64) sizeof(RawRow));
	recv.cap = one_customer ? 64 : ids != NULL ? 65536 :
		Max(65536, estimated_rows(sql.data) * 1.05 + 1024);
	recv.cap = Min(recv.cap, recv.max_rows);
	recv.rows = seg_reco_alloc_huge(sizeof(RawRow) * recv.cap);
	recv.out = out;
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &recv;
	if (one_customer)
		rc = SPI_execute_plan_extended(one_customer_plan(sql.data), &opts);
	else
		rc = SPI_execute_extended(sql.data, &opts);
	/* SPI returns in its procedure context: come back to the caller's */
	MemoryContextSwitchTo(recv.cxt);
	/* a SELECT into a receiver of ours reports SPI_OK_UTILITY */
	if ((rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY) || !recv.selected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("als source query must be a SELECT"),
				 errhint("Pass a query returning customer_id, product_id, weight.")));
	pfree(sql.data);
	if (recv.progress)
		seg_reco_progress_done(out->rows_read);

	if (recv.nruns > 0)
	{
		/* external: the last rows become a run too, then merge */
		if (recv.n > 0)
			spill_run(&recv);
		pfree(recv.rows);
		elog(DEBUG2, "als: read " INT64_FORMAT " rows into %d sorted runs in %.3f s",
			 out->rows_read, recv.nruns, elapsed_since(t0));
		fold_init(&fold, out, sink, list, 65536, custom_source);
		merge_runs(recv.runs, recv.nruns, &fold);
		fold_close(&fold);
		pfree(recv.runs);
		elog(DEBUG2, "als: merged in %.3f s", elapsed_since(t0));
		return;
	}

	rows = recv.rows;
	n = recv.n;
	elog(DEBUG2, "als: read " INT64_FORMAT " rows in %.3f s", n, elapsed_since(t0));

	CHECK_FOR_INTERRUPTS();
	rows = sort_rows(rows, n);
	CHECK_FOR_INTERRUPTS();
	elog(DEBUG2, "als: sorted in %.3f s", elapsed_since(t0));

	/* count pairs first, then fold */
	for (i = 0; i < n; i++)
		if (i == 0 || rows[i].c != rows[i - 1].c || rows[i].p != rows[i - 1].p)
			npairs++;
	CHECK_FOR_INTERRUPTS();
	fold_init(&fold, out, sink, list, npairs, custom_source);
	for (i = 0; i < n; i++)
	{
		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		fold_row(&fold, &rows[i]);
	}
	fold_close(&fold);
	pfree(rows);
}

void
seg_reco_als_read_pairs(const char *query, bool one_customer, int64 customer_id,
						bool custom_source, SegRecoPairs *out)
{
	read_pairs(query, one_customer, customer_id, NULL, custom_source, out, NULL, NULL);
}

void
seg_reco_als_read_pairs_of(const char *query, ArrayType *ids, bool custom_source,
						   SegRecoPairs *out)
{
	read_pairs(query, false, 0, ids, custom_source, out, NULL, NULL);
}

void
seg_reco_als_read_purchased(const char *query, ArrayType *ids, bool custom_source,
							AlsPairList *list)
{
	SegRecoPairs out;

	read_pairs(query, false, 0, ids, custom_source, &out, NULL, list);
	als_list_rewind(list);
}

void
seg_reco_als_user_system(const double *y, int d, const double *yty_reg,
						 const int32 *idx, const double *w, int n,
						 double alpha, double *a, double *b)
{
	double	   *g = palloc(sizeof(double) * (Size) Max(n, 1) * d);
	int			k,
				j;

	memcpy(a, yty_reg, sizeof(double) * d * d);
	memset(b, 0, sizeof(double) * d);
	for (k = 0; k < n; k++)
	{
		const double *yi = y + (Size) idx[k] * d;
		double		cm1 = alpha * w[k];
		double		s = sqrt(cm1);
		double	   *gk = g + (Size) k * d;

		for (j = 0; j < d; j++)
		{
			gk[j] = s * yi[j];
			b[j] += (1.0 + cm1) * yi[j];
		}
	}
	/* sum_k (c_k - 1) y_k y_k^T as G^T G: matrix-matrix work for BLAS */
	seg_reco_syrk_tn(g, n, d, 1.0, a);
	pfree(g);
}

bool
seg_reco_als_solve_exact(const double *y, int d, const double *yty_reg,
						 const int32 *idx, const double *w, int n, double alpha,
						 double *a, double *x)
{
	seg_reco_als_user_system(y, d, yty_reg, idx, w, n, alpha, a, x);
	if (!seg_reco_cholesky(a, d))
		return false;
	seg_reco_chol_solve(a, d, x);
	return true;
}

/* ------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------ */

/*
 * Training keeps the factors in float, as the implicit library does: the
 * sparse loops below (a dot product and an axpy per observed pair and CG
 * step) move half the bytes and use twice the SIMD lanes of double.  What
 * grows or decides stays double: the Gram matrix Y^T Y (accumulated in
 * double), the CG scalars (step sizes, residual norms) and every sum of the
 * loss.  The stored model is float4[], the factors as trained.
 *
 * The sparse loops are compiled twice on x86-64 with GCC, for the baseline
 * (SSE2) and for AVX with FMA, and the loader picks the one the CPU runs
 * (function multiversioning, as pgvector does for its distances): no
 * -march=native, still 8 floats per instruction where the CPU has them.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__FMA__)
#define ALS_TARGET_CLONES __attribute__((target_clones("default", "fma")))
#else
#define ALS_TARGET_CLONES
#endif

/*
 * The float kernels use GCC's vector extension (8 floats: one AVX register
 * or two SSE2 ones), so that the code the compiler emits does not depend on
 * how it chooses to vectorize plain loops inside the larger CG loop (it
 * interleaved partial sums with shuffles there, at half the speed).
 */
typedef float als_v8 __attribute__((vector_size(32)));
/* the same, at the alignment of float: loads and stores anywhere in an array */
typedef float als_v8u __attribute__((vector_size(32), aligned(4)));

#define LOAD8(p) (*(const als_v8u *) (p))
#define STORE8(p, v) (*(als_v8u *) (p) = (v))
#define HSUM8(v) ((((v)[0] + (v)[1]) + ((v)[2] + (v)[3])) + (((v)[4] + (v)[5]) + ((v)[6] + (v)[7])))

/* dot product in float: two 8-wide partial sums, for two chains of FMAs */
/* task-safe: see threads.h */
static inline __attribute__((always_inline)) float
fdot(const float *a, const float *b, int d)
{
	als_v8		acc0 = {0, 0, 0, 0, 0, 0, 0, 0},
				acc1 = acc0;
	float		s;
	int			j = 0;

	for (; j + 16 <= d; j += 16)
	{
		acc0 += LOAD8(a + j) * LOAD8(b + j);
		acc1 += LOAD8(a + j + 8) * LOAD8(b + j + 8);
	}
	if (j + 8 <= d)
	{
		acc0 += LOAD8(a + j) * LOAD8(b + j);
		j += 8;
	}
	acc0 += acc1;
	s = HSUM8(acc0);
	for (; j < d; j++)
		s += a[j] * b[j];
	return s;
}

/* y += t x */
/* task-safe: see threads.h */
static inline __attribute__((always_inline)) void
faxpy(float t, const float *x, float *y, int d)
{
	int			j = 0;

	for (; j + 8 <= d; j += 8)
		STORE8(y + j, LOAD8(y + j) + t * LOAD8(x + j));
	for (; j < d; j++)
		y[j] += t * x[j];
}

/*
 * out = m v for the symmetric d x d matrix m: for each block of eight
 * outputs, four independent sums over the rows of m (m is in L1 cache).
 */
/* task-safe: see threads.h */
static inline __attribute__((always_inline)) void
fsymv(const float *m, const float *v, int d, float *out)
{
	int			j = 0,
				i;

	for (; j + 8 <= d; j += 8)
	{
		als_v8		a0 = {0, 0, 0, 0, 0, 0, 0, 0},
					a1 = a0,
					a2 = a0,
					a3 = a0;

		for (i = 0; i + 4 <= d; i += 4)
		{
			a0 += v[i] * LOAD8(m + (Size) i * d + j);
			a1 += v[i + 1] * LOAD8(m + (Size) (i + 1) * d + j);
			a2 += v[i + 2] * LOAD8(m + (Size) (i + 2) * d + j);
			a3 += v[i + 3] * LOAD8(m + (Size) (i + 3) * d + j);
		}
		for (; i < d; i++)
			a0 += v[i] * LOAD8(m + (Size) i * d + j);
		STORE8(out + j, (a0 + a1) + (a2 + a3));
	}
	for (; j < d; j++)
		out[j] = fdot(m + (Size) j * d, v, d);	/* m symmetric: row j = column j */
}

static void
nan_error(const char *what, int iteration, double reg, double alpha)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("als training diverged: %s became NaN or infinite in iteration %d", what, iteration),
			 errdetail("regularization = %g, alpha = %g.  Too little regularization for the confidence "
					   "weights makes the least-squares systems ill-conditioned.", reg, alpha),
			 errhint("Raise regularization (for example to 0.1 or 1), lower alpha, or scale the weights down.")));
}

/* Y^T Y + reg I into yty (d x d), summed in double */
static void
gram(const float *y, int64 rows, int d, double reg, double *yty)
{
	int			j;

	memset(yty, 0, sizeof(double) * d * d);
	seg_reco_syrk_tn_f(y, rows, d, 1.0, yty);
	for (j = 0; j < d; j++)
		yty[j * d + j] += reg;
}

/*
 * out = yty + reg I (out may be yty).  With yty from gram(.., 0.0, ..) the
 * same bits as gram(.., reg, ..): the diagonal gets + 0.0, then + reg.
 */
static void
with_reg(const double *yty, int d, double reg, double *out)
{
	int			j;

	if (out != yty)
		memcpy(out, yty, sizeof(double) * d * d);
	for (j = 0; j < d; j++)
		out[j * d + j] += reg;
}

/*
 * CG for rows row0 .. row0 + rows - 1 of x; pure C on arrays (no palloc, no
 * ereport).  Each row runs all its steps at once, so its products' factors
 * (a few kB) stay in L1 cache from the residual to the last step; the dense
 * part (Y^T Y + reg I) p is a matrix-vector product on the d x d matrix
 * yty, in L1 as well.  r, p, ap: scratch of d floats each.
 */
/* task-safe: see threads.h */
ALS_TARGET_CLONES static void
cg_rows(const Csr *m, int64 row0, int rows, const float *y, float *x, int d,
		const float *yty, double alpha, float *r, float *p, float *ap)
{
	int64		u;

	for (u = row0; u < row0 + rows; u++)
	{
		float	   *xu = x + u * d;
		int64		k,
					kend = m->ptr[u + 1] - m->base;
		double		rsold,
					rsnew,
					pap,
					a;
		int			step,
					j;

		/* r = b - A x: -(Y^T Y + reg I) x, then the row's products */
		fsymv(yty, xu, d, r);
		for (j = 0; j < d; j++)
			r[j] = -r[j];
		for (k = m->ptr[u] - m->base; k < kend; k++)
		{
			const float *yi = y + (Size) m->idx[k] * d;
			double		cm1 = alpha * m->w[k];

			faxpy((float) ((1.0 + cm1) - cm1 * fdot(yi, xu, d)), yi, r, d);
		}
		memcpy(p, r, sizeof(float) * d);
		rsold = fdot(r, r, d);
		if (rsold < 1e-20)
			continue;
		for (step = 0; step < ALS_CG_STEPS; step++)
		{
			float		beta;

			fsymv(yty, p, d, ap);
			for (k = m->ptr[u] - m->base; k < kend; k++)
			{
				const float *yi = y + (Size) m->idx[k] * d;

				faxpy((float) (alpha * m->w[k] * fdot(yi, p, d)), yi, ap, d);
			}
			pap = fdot(p, ap, d);
			if (!(pap > 0.0))
				break;			/* a NaN here is caught by the loss check */
			a = rsold / pap;
			faxpy((float) a, p, xu, d);
			faxpy((float) -a, ap, r, d);
			rsnew = fdot(r, r, d);
			if (rsnew < 1e-20)
				break;
			beta = (float) (rsnew / rsold);
			for (j = 0; j < d; j++)
				p[j] = r[j] + beta * p[j];
			rsold = rsnew;
		}
	}
}

/*
 * Per-worker scratch of nfloats each, ALS_SCRATCH_GAP floats apart so that
 * no two workers write to the same cache line.
 */
#define ALS_SCRATCH_GAP 16

static Size
scratch_stride(int nfloats)
{
	return (Size) TYPEALIGN(ALS_SCRATCH_GAP, nfloats) + ALS_SCRATCH_GAP;
}

typedef struct CgJob
{
	const Csr  *m;
	const int64 *start;			/* task row boundaries */
	int64		task0;			/* first task of the current call */
	const float *y;
	float	   *x;
	int			d;
	const float *yty;
	double		alpha;
	float	   *scratch;		/* r, p, ap of each worker */
	Size		stride;
} CgJob;

/* worker: one task of solve_cg (no PostgreSQL calls) */
/* task-safe: see threads.h */
static void
cg_task(void *arg, int64 task, int worker)
{
	CgJob	   *j = (CgJob *) arg;
	int64		t = j->task0 + task;
	float	   *s = j->scratch + (Size) worker * j->stride;

	cg_rows(j->m, j->start[t], (int) (j->start[t + 1] - j->start[t]), j->y, j->x, j->d,
			j->yty, j->alpha, s, s + j->d, s + 2 * j->d);
}

/*
 * The calls of a side, block by block: each block read into memory in
 * turn, the side's calls cut at the blocks' ends.  side_next_call gives the
 * next call's tasks [*lo, *hi), checking for interrupts first; false at the
 * end.  (A cursor rather than a function taking the task function, so that
 * each seg_reco_parallel_for names its task function: threads.h.)
 */
typedef struct SideCursor
{
	AlsSide    *side;
	int			b;				/* current block */
	int64		c;				/* next call */
} SideCursor;

static void
side_cursor_init(SideCursor *cur, AlsSide *side)
{
	cur->side = side;
	cur->b = 0;
	cur->c = 0;
}

static bool
side_next_call(SideCursor *cur, int64 *lo, int64 *hi)
{
	AlsSide    *side = cur->side;
	const int64 *call = side->tasks.call;

	while (cur->b < side->nblocks)
	{
		int64		t0,
					t1;
		int			b = cur->b;

		als_side_block_tasks(side, b, &t0, &t1);
		while (cur->c < side->tasks.ncalls && call[cur->c + 1] <= t0)
			cur->c++;
		if (cur->c >= side->tasks.ncalls || call[cur->c] >= t1)
		{
			cur->b++;
			continue;
		}
		*lo = Max(call[cur->c], t0);
		*hi = Min(call[cur->c + 1], t1);
		/* a call that ends in this block is done; else the rest is in the next block */
		if (call[cur->c + 1] <= t1)
			cur->c++;
		else
			cur->b++;
		CHECK_FOR_INTERRUPTS();
		als_side_load(side, b);
		return true;
	}
	return false;
}

/*
 * Update every row of x by CG given the other side y and yty_reg =
 * Y^T Y + reg I.  Rows are independent (each reads y and writes its own
 * row of x), so the result does not depend on how tasks meet workers.
 */
static void
solve_cg(float *x, AlsSide *side, const float *y, int d, const double *yty_reg, double alpha)
{
	float	   *ytyf = palloc(sizeof(float) * d * d);
	int			nworkers = seg_reco_parallel_workers(side->tasks.ntasks);
	CgJob		job;
	SideCursor	cur;
	int64		lo,
				hi;
	int			j;

	for (j = 0; j < d * d; j++)
		ytyf[j] = (float) yty_reg[j];
	job.m = &side->m;
	job.start = side->tasks.start;
	job.y = y;
	job.x = x;
	job.d = d;
	job.yty = ytyf;
	job.alpha = alpha;
	job.stride = scratch_stride(3 * d);
	job.scratch = palloc(sizeof(float) * job.stride * nworkers);
	side_cursor_init(&cur, side);
	while (side_next_call(&cur, &lo, &hi))
	{
		job.task0 = lo;
		seg_reco_parallel_for(hi - lo, cg_task, &job);
	}
	pfree(ytyf);
	pfree(job.scratch);
}

/* update every row of x given y exactly (Cholesky of each row's system) */
static void
solve_cholesky(float *x, AlsSide *side, const float *y, int64 ny, int d, double reg,
			   double alpha, int iteration)
{
	const Csr  *m = &side->m;
	int			blk;
	double	   *yty = palloc(sizeof(double) * d * d);
	double	   *a = palloc(sizeof(double) * d * d);
	double	   *b = palloc(sizeof(double) * d);
	double	   *yd = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * ny * d);
	int64		u;
	int			j;

	for (u = 0; u < ny * d; u++)
		yd[u] = y[u];
	gram(y, ny, d, reg, yty);
	for (blk = 0; blk < side->nblocks; blk++)
	{
		int64		t0,
					t1;

		als_side_load(side, blk);
		als_side_block_tasks(side, blk, &t0, &t1);
		for (u = side->tasks.start[t0]; u < side->tasks.start[t1]; u++)
		{
			int64		n = m->ptr[u + 1] - m->ptr[u],
						k0 = m->ptr[u] - m->base;

			if ((u & 255) == 0)
				CHECK_FOR_INTERRUPTS();
			if (!seg_reco_als_solve_exact(yd, d, yty, m->idx + k0, m->w + k0, (int) n,
										  alpha, a, b))
				nan_error("a least-squares system (not positive definite)", iteration, reg, alpha);
			for (j = 0; j < d; j++)
				x[u * d + j] = (float) b[j];
		}
	}
	pfree(yty);
	pfree(a);
	pfree(b);
	pfree(yd);
}

/* the sums of implicit's loss, in double */
typedef struct LossSums
{
	double		loss;
	double		total_conf;
	double		xnorm;
} LossSums;

/*
 * Loss terms of rows row0 .. row0 + rows - 1: x_u^T (Y^T Y) x_u (the sum of
 * s^2 over all products), then the observed pairs' corrections.  The
 * per-row products are float (as the factors), every sum is double.  tmp:
 * scratch of d floats.
 */
/* task-safe: see threads.h */
ALS_TARGET_CLONES static void
loss_rows(const Csr *um, int64 row0, int rows, const float *x, const float *y, int d,
		  const float *yty, double alpha, float *tmp, LossSums *sums)
{
	int64		u;

	for (u = row0; u < row0 + rows; u++)
	{
		const float *xu = x + u * d;
		int64		k;

		fsymv(yty, xu, d, tmp);
		sums->loss += fdot(tmp, xu, d);
		sums->xnorm += fdot(xu, xu, d);
		for (k = um->ptr[u] - um->base; k < um->ptr[u + 1] - um->base; k++)
		{
			double		s = fdot(xu, y + (Size) um->idx[k] * d, d);
			double		c = 1.0 + alpha * um->w[k];

			sums->loss += c * (1.0 - s) * (1.0 - s) - s * s;
			sums->total_conf += c;
		}
	}
}

typedef struct LossJob
{
	const Csr  *um;
	const int64 *start;			/* task row boundaries */
	int64		task0;			/* first task of the current call */
	const float *x;
	const float *y;
	int			d;
	const float *yty;
	double		alpha;
	float	   *scratch;		/* tmp of each worker */
	Size		stride;
	LossSums   *sums;			/* one per task */
} LossJob;

/* worker: one task of als_loss (no PostgreSQL calls) */
/* task-safe: see threads.h */
static void
loss_task(void *arg, int64 task, int worker)
{
	LossJob    *j = (LossJob *) arg;
	int64		t = j->task0 + task;

	loss_rows(j->um, j->start[t], (int) (j->start[t + 1] - j->start[t]), j->x, j->y, j->d,
			  j->yty, j->alpha, j->scratch + (Size) worker * j->stride, &j->sums[t]);
}

/*
 * implicit's loss over all customer x product cells, normalised; yty =
 * Y^T Y (without reg).  Each task sums its rows into its own LossSums; they
 * are added up in task order, so the loss is the same bits whatever the
 * thread count.
 */
static double
als_loss(const float *x, AlsSide *side, const float *y, int64 ni,
		 int d, const double *yty, double reg, double alpha)
{
	const Csr  *um = &side->m;
	const RowTasks *tasks = &side->tasks;
	float	   *ytyf = palloc(sizeof(float) * d * d);
	int			nworkers = seg_reco_parallel_workers(tasks->ntasks);
	LossSums	sums = {0, 0, 0};
	LossJob		job;
	SideCursor	cur;
	double		ynorm = 0.0;
	int64		i,
				lo,
				hi;

	for (i = 0; i < (int64) d * d; i++)
		ytyf[i] = (float) yty[i];
	job.um = um;
	job.start = tasks->start;
	job.x = x;
	job.y = y;
	job.d = d;
	job.yty = ytyf;
	job.alpha = alpha;
	job.stride = scratch_stride(d);
	job.scratch = palloc(sizeof(float) * job.stride * nworkers);
	job.sums = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(LossSums) * tasks->ntasks);
	memset(job.sums, 0, sizeof(LossSums) * tasks->ntasks);
	side_cursor_init(&cur, side);
	while (side_next_call(&cur, &lo, &hi))
	{
		job.task0 = lo;
		seg_reco_parallel_for(hi - lo, loss_task, &job);
	}
	for (i = 0; i < tasks->ntasks; i++)
	{
		sums.loss += job.sums[i].loss;
		sums.total_conf += job.sums[i].total_conf;
		sums.xnorm += job.sums[i].xnorm;
	}
	for (i = 0; i < ni; i++)
		ynorm += fdot(y + i * d, y + i * d, d);
	pfree(ytyf);
	pfree(job.scratch);
	pfree(job.sums);
	sums.loss += reg * (sums.xnorm + ynorm);
	return sums.loss / (sums.total_conf + (double) um->rows * (double) ni - (double) um->ptr[um->rows]);
}

static void
append_float(StringInfo s, double v)
{
	char	   *t = float8out_internal(v);

	appendStringInfoString(s, t);
	pfree(t);
}

/* the checks of als_train's arguments; true for the CG solver, false for Cholesky */
static bool
check_train_args(const char *name, int d, double reg, double alpha, int iterations,
				 const char *solver)
{
	bool		use_cg;

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty"),
				 errhint("Use for example 'default'.")));
	if (d < 1 || d > ALS_MAX_FACTORS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("factors must be between 1 and %d, got %d", ALS_MAX_FACTORS, d),
				 errhint("64 is a good start.")));
	seg_reco_check_finite(reg, "regularization");
	if (reg < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("regularization must not be negative, got %g", reg),
				 errhint("Use a small positive value such as 0.01.")));
	seg_reco_check_finite(alpha, "alpha");
	if (alpha <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alpha must be positive, got %g", alpha),
				 errdetail("Confidence is 1 + alpha * weight; alpha scales how much an observed interaction counts."),
				 errhint("Use 1.0 (the default) or a value between 1 and 40.")));
	if (iterations < 1 || iterations > ALS_MAX_ITERATIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("iterations must be between 1 and %d, got %d", ALS_MAX_ITERATIONS, iterations),
				 errhint("15 is usually enough.")));
	if (strcmp(solver, "cg") == 0)
		use_cg = true;
	else if (strcmp(solver, "cholesky") == 0)
		use_cg = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown solver \"%s\"", solver),
				 errhint("Use 'cg' (conjugate gradient, the default) or 'cholesky' (exact).")));
	return use_cg;
}

/* read input: the source query's pairs; an error when there are none */
static void
read_training_pairs(const char *query, bool custom_source, SegRecoPairs *pairs,
					AlsPairSink *sink)
{
	read_pairs(query, false, 0, NULL, custom_source, pairs, sink, NULL);
	if (pairs->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no interactions to train on"),
				 errdetail("The source returned " INT64_FORMAT " rows: " INT64_FORMAT
						   " without a customer or product id, " INT64_FORMAT
						   " pairs with a total weight of zero or less.",
						   pairs->rows_read, pairs->rows_skipped, pairs->pairs_dropped),
				 errhint("Load seg_reco.transactions (or run seg_reco.generate_demo_data()), or check the source query and as_of.")));
}

static void
check_sizes(int d, int64 nu, int64 ni, int64 nnz)
{
	if (ni > INT_MAX / 2 || nnz > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many products or interactions for als_train"),
				 errdetail(INT64_FORMAT " products, " INT64_FORMAT " pairs.", ni, nnz)));
	if (d > nu || d > ni)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("factors (%d) must not exceed the number of customers (" INT64_FORMAT
						") or products (" INT64_FORMAT ")", d, nu, ni),
				 errdetail("With more factors than customers or products the factor matrices are rank-deficient "
						   "and the solves can produce NaN."),
				 errhint("Use factors <= %d.", (int) Min(nu, ni))));
}

/* initial factors, uniform in [0, 0.01): customers first, then products */
static void
initial_factors(MemoryContext work, int64 seed, int64 nu, int64 ni, int d,
				float **x, float **y)
{
	pg_prng_state rng;
	int64		k;

	*x = MemoryContextAllocHuge(work, sizeof(float) * nu * d);
	*y = MemoryContextAllocHuge(work, sizeof(float) * ni * d);
	pg_prng_seed(&rng, (uint64) seed);
	for (k = 0; k < nu * d; k++)
		(*x)[k] = (float) (pg_prng_double(&rng) * 0.01);
	for (k = 0; k < ni * d; k++)
		(*y)[k] = (float) (pg_prng_double(&rng) * 0.01);
}

/*
 * iterate: the alternating solves, customers then products, iterations
 * times; loss[] and secs[] get each iteration's loss and seconds.
 */
static void
iterate(float *x, float *y, AlsSide *um, AlsSide *im, int d, double reg, double alpha,
		int iterations, bool use_cg, const char *name, double *loss, double *secs)
{
	int64		nu = um->m.rows,
				ni = im->m.rows;
	double	   *gy,
			   *greg;
	int			it;

	gy = palloc(sizeof(double) * d * d);
	greg = palloc(sizeof(double) * d * d);
	seg_reco_blas_begin();
	gram(y, ni, d, 0.0, gy);
	for (it = 0; it < iterations; it++)
	{
		instr_time	t0;

		INSTR_TIME_SET_CURRENT(t0);
		if (use_cg)
		{
			with_reg(gy, d, reg, greg);
			solve_cg(x, um, y, d, greg, alpha);
			gram(x, nu, d, 0.0, greg);
			with_reg(greg, d, reg, greg);
			solve_cg(y, im, x, d, greg, alpha);
		}
		else
		{
			solve_cholesky(x, um, y, ni, d, reg, alpha, it + 1);
			solve_cholesky(y, im, x, nu, d, reg, alpha, it + 1);
		}
		/* Y^T Y of the new y: for the loss and the next iteration's solve */
		gram(y, ni, d, 0.0, gy);
		secs[it] = elapsed_since(t0);
		loss[it] = als_loss(x, um, y, ni, d, gy, reg, alpha);
		if (!isfinite(loss[it]))
			nan_error("the factors", it + 1, reg, alpha);
		elog(DEBUG1, "als_train \"%s\": iteration %d, loss %g, %.3f s", name, it + 1, loss[it], secs[it]);
		seg_reco_progress_update(it + 1);
	}
	pfree(gy);
	pfree(greg);
}

/* save: the model's params, a JSON object text */
static char *
params_json(int d, double reg, double alpha, int iterations, int64 seed, bool use_cg,
			bool custom_source, const char *options, const char *query)
{
	StringInfoData params;

	initStringInfo(&params);
	appendStringInfo(&params, "{\"factors\": %d, \"regularization\": ", d);
	append_float(&params, reg);
	appendStringInfoString(&params, ", \"alpha\": ");
	append_float(&params, alpha);
	appendStringInfo(&params, ", \"iterations\": %d, \"seed\": " INT64_FORMAT
					 ", \"solver\": \"%s\", \"cg_steps\": %d, \"custom_source\": %s, \"options\": %s, \"query\": ",
					 iterations, seed, use_cg ? "cg" : "cholesky", ALS_CG_STEPS,
					 custom_source ? "true" : "false", options);
	escape_json(&params, query);
	appendStringInfoChar(&params, '}');
	return params.data;
}

/* save: the model's metrics, a JSON object text */
static char *
metrics_json(int64 nu, int64 ni, const SegRecoPairs *pairs, const AlsSide *um,
			 const AlsSide *im, int iterations, const double *loss, const double *secs,
			 double load_seconds, instr_time t_start)
{
	StringInfoData metrics;
	int			it;

	initStringInfo(&metrics);
	appendStringInfo(&metrics, "{\"customers\": " INT64_FORMAT ", \"products\": " INT64_FORMAT
					 ", \"interactions\": " INT64_FORMAT ", \"rows_read\": " INT64_FORMAT
					 ", \"rows_skipped\": " INT64_FORMAT ", \"pairs_dropped\": " INT64_FORMAT
					 ", \"loss\": [",
					 nu, ni, pairs->n, pairs->rows_read, pairs->rows_skipped, pairs->pairs_dropped);
	for (it = 0; it < iterations; it++)
	{
		if (it > 0)
			appendStringInfoString(&metrics, ", ");
		append_float(&metrics, loss[it]);
	}
	appendStringInfoString(&metrics, "], \"iteration_seconds\": [");
	for (it = 0; it < iterations; it++)
		appendStringInfo(&metrics, "%s%.4f", it > 0 ? ", " : "", secs[it]);
	appendStringInfo(&metrics, "], \"load_seconds\": %.4f, \"train_seconds\": %.4f",
					 load_seconds, elapsed_since(t_start));
	/* the matrix's cut (1, 1: in memory) and what its blocks wrote to temporary files */
	appendStringInfo(&metrics, ", \"matrix_blocks\": [%d, %d], \"temp_bytes\": " INT64_FORMAT "}",
					 um->nblocks, im->nblocks, um->bytes_written + im->bytes_written);
	return metrics.data;
}

/*
 * seg_reco._als_train(name, factors, regularization, alpha, iterations, seed,
 *                     solver, query, custom_source, options) RETURNS bigint
 * Trains and stores the model; returns its version.
 */
Datum
seg_reco_als_train(PG_FUNCTION_ARGS)
{
	char	   *name;
	int			d;
	double		reg,
				alpha;
	int			iterations;
	int64		seed;
	char	   *solver;
	char	   *query;
	bool		custom_source;
	char	   *options;
	bool		use_cg;
	MemoryContext work,
				old;
	SegRecoPairs pairs;
	instr_time	t_start;
	double		load_seconds;
	int64		nu,
				ni,
				k,
				version;
	int64	   *cust_ids;
	int64	   *prod_ids;
	AlsPairSink sink;
	AlsSide		um,
				im;
	float	   *x,
			   *y;
	double	   *loss,
			   *secs,
			   *popularity;
	char	   *params,
			   *metrics;
	int			progress;
	char	   *progress_detail;

	SEG_RECO_ARG_NOT_NULL(0, "name");
	SEG_RECO_ARG_NOT_NULL(1, "factors");
	SEG_RECO_ARG_NOT_NULL(2, "regularization");
	SEG_RECO_ARG_NOT_NULL(3, "alpha");
	SEG_RECO_ARG_NOT_NULL(4, "iterations");
	SEG_RECO_ARG_NOT_NULL(5, "seed");
	SEG_RECO_ARG_NOT_NULL(6, "solver");
	SEG_RECO_ARG_NOT_NULL(7, "source query");
	SEG_RECO_ARG_NOT_NULL(8, "custom_source");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	d = PG_GETARG_INT32(1);
	reg = PG_GETARG_FLOAT8(2);
	alpha = PG_GETARG_FLOAT8(3);
	iterations = PG_GETARG_INT32(4);
	seed = PG_GETARG_INT64(5);
	solver = text_to_cstring(PG_GETARG_TEXT_PP(6));
	query = text_to_cstring(PG_GETARG_TEXT_PP(7));
	custom_source = PG_GETARG_BOOL(8);
	options = PG_ARGISNULL(9) ? pstrdup("{}") :
		DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(9)));
	use_cg = check_train_args(name, d, reg, alpha, iterations, solver);

	INSTR_TIME_SET_CURRENT(t_start);
	progress = seg_reco_progress_begin("als_train", 3);
	progress_detail = psprintf("model %s", name);
	seg_reco_progress_step(progress, "read", -1, "rows", progress_detail);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco als_train",
								 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	old = MemoryContextSwitchTo(work);

	/* read input, build matrices */
	als_sink_init(&sink, (int64) maintenance_work_mem * 1024);
	read_training_pairs(query, custom_source, &pairs, &sink);
	check_sizes(d, sink.nu, als_sink_products(&sink), pairs.n);
	als_build_sides(&sink, d, &um, &im, &cust_ids, &nu, &prod_ids, &ni);
	elog(DEBUG1, "als_train \"%s\": " INT64_FORMAT " pairs in %d + %d blocks, " INT64_FORMAT " bytes to temporary files",
		 name, pairs.n, um.nblocks, im.nblocks, um.bytes_written + im.bytes_written);
	load_seconds = elapsed_since(t_start);

	/* iterate */
	seg_reco_progress_step(progress, "iterations", iterations, "iterations", progress_detail);
	initial_factors(work, seed, nu, ni, d, &x, &y);
	loss = palloc(sizeof(double) * iterations);
	secs = palloc(sizeof(double) * iterations);
	iterate(x, y, &um, &im, d, reg, alpha, iterations, use_cg, name, loss, secs);

	/* save */
	seg_reco_progress_step(progress, "store", -1, NULL, progress_detail);
	popularity = palloc(sizeof(double) * ni);
	for (k = 0; k < ni; k++)
		popularity[k] = (double) (im.m.ptr[k + 1] - im.m.ptr[k]) / (double) nu;
	params = params_json(d, reg, alpha, iterations, seed, use_cg, custom_source, options, query);
	metrics = metrics_json(nu, ni, &pairs, &um, &im, iterations, loss, secs, load_seconds, t_start);
	/* the matrices are done with: free them (and their files) before the factors are saved */
	als_side_free(&um);
	als_side_free(&im);
	version = seg_reco_als_model_save(name, d, nu, cust_ids, x, (int) ni, prod_ids, y, popularity,
									  params, metrics);

	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(work);
	seg_reco_progress_end(progress);
	PG_RETURN_INT64(version);
}
