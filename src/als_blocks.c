/*
 * als_blocks.c
 *      ALS training's interaction matrix in bounded memory.
 *
 * The fold of the source's rows (als_train.c) hands its pairs, in
 * (customer, product) order, to a sink: it keeps each customer's id and
 * pair count, each product's pair count (a hash table) and the pairs'
 * (product id, weight), in memory while 24 bytes a pair (what the matrix
 * both ways takes) fit in maintenance_work_mem, in a temporary file once
 * they do not.
 *
 * The matrix is then built both ways: customers x products (um) and
 * products x customers (im), each side cut into tasks (RowTasks) and the
 * tasks into blocks.  When the pairs stayed in memory each side is one
 * block, in memory, as before.  Otherwise each block holds about
 * maintenance_work_mem / 2 bytes of entries and lives in a temporary file;
 * training reads one block at a time (a half-iteration reads its side
 * once, sequentially, mostly from the page cache).  Building im takes one
 * pass over um's blocks per block of im.
 *
 * What training computes does not depend on the cut: every row's solve
 * reads the same entries in the same order, and the per-task sums of the
 * loss are the same tasks, added in task order.  So a model trained in
 * blocks equals, to the bit, the one trained in memory (test als.sql).
 *
 * What remains in memory whatever the budget: per customer its id, row
 * start and factors (8 + 8 + 4 d bytes), per product the same, and a task
 * boundary per ~256 rows.
 */
#include "postgres.h"

#include "commands/tablespace.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "als_blocks.h"
#include "hash64.h"
#include "memory.h"

#define ALS_BLOCK 256
#define ALS_TASK_PAIRS 8192
#define ALS_CALL_WORK (INT64CONST(1) << 26)

/* bytes a pair takes in the matrix both ways: an int32 index and a double weight each way */
#define ALS_PAIR_BYTES 24
/* pairs a file is read or written through at a time */
#define ALS_IO_PAIRS 8192

typedef struct ProdEntry
{
	int64		id;
	int64		count;
	int32		rank;
	char		status;
} ProdEntry;

#define SH_PREFIX prodtab
#define SH_ELEMENT_TYPE ProdEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) ((uint32) seg_reco_mix64((uint64) (key)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct PairRec
{
	int64		p;
	double		w;
} PairRec;

static void
file_read(BufFile *file, void *ptr, size_t size)
{
	if (size > 0 && BufFileRead(file, ptr, size) != size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read temporary file: %m")));
}

static void
file_rewind(BufFile *file)
{
	if (BufFileSeek(file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind temporary file: %m")));
}

/* ---- the pair list ---- */

typedef struct ListRec
{
	int64		c;
	int64		p;
} ListRec;

void
als_list_init(AlsPairList *l, int64 budget)
{
	memset(l, 0, sizeof(*l));
	l->max_mem = Max((int64) 1024, budget / (int64) sizeof(ListRec));
	l->cap = Min((int64) 65536, l->max_mem);
	l->c = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * l->cap);
	l->p = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * l->cap);
}

/* the arrays' entries to the end of the file */
static void
list_flush(AlsPairList *l)
{
	ListRec    *rec;
	int64		i,
				j;

	if (l->file == NULL)
	{
		PrepareTempTablespaces();
		l->file = BufFileCreateTemp(false);
	}
	rec = palloc(sizeof(ListRec) * ALS_IO_PAIRS);
	for (i = 0; i < l->len; i += ALS_IO_PAIRS)
	{
		int64		n = Min((int64) ALS_IO_PAIRS, l->len - i);

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < n; j++)
		{
			rec[j].c = l->c[i + j];
			rec[j].p = l->p[i + j];
		}
		BufFileWrite(l->file, rec, sizeof(ListRec) * n);
	}
	pfree(rec);
	l->unread += l->len;
	l->len = 0;
}

void
als_list_add(AlsPairList *l, int64 customer_id, int64 product_id)
{
	Assert(!l->reading);
	if (l->len == l->cap)
	{
		if (l->cap < l->max_mem)
		{
			l->cap = Min(l->cap * 2, l->max_mem);
			l->c = repalloc_huge(l->c, sizeof(int64) * l->cap);
			l->p = repalloc_huge(l->p, sizeof(int64) * l->cap);
		}
		else
			list_flush(l);
	}
	l->c[l->len] = customer_id;
	l->p[l->len] = product_id;
	l->len++;
	l->n++;
}

/* after the last add: read from the first entry */
void
als_list_rewind(AlsPairList *l)
{
	Assert(!l->reading);
	l->reading = true;
	l->pos = 0;
	if (l->file == NULL)
		return;
	/* all of them in the file, then chunks back into the arrays */
	list_flush(l);
	file_rewind(l->file);
}

/*
 * The next entry (false past the last), left in place: the next call
 * gives it again until the caller takes it (l->pos++).
 */
bool
als_list_peek(AlsPairList *l, int64 *customer_id, int64 *product_id)
{
	Assert(l->reading);
	if (l->pos == l->len)
	{
		ListRec    *rec;
		int64		n,
					i,
					j;

		if (l->file == NULL || l->unread == 0)
			return false;
		/* the next chunk */
		n = Min(l->cap, l->unread);
		rec = palloc(sizeof(ListRec) * ALS_IO_PAIRS);
		for (i = 0; i < n; i += ALS_IO_PAIRS)
		{
			int64		k = Min((int64) ALS_IO_PAIRS, n - i);

			CHECK_FOR_INTERRUPTS();
			file_read(l->file, rec, sizeof(ListRec) * k);
			for (j = 0; j < k; j++)
			{
				l->c[i + j] = rec[j].c;
				l->p[i + j] = rec[j].p;
			}
		}
		pfree(rec);
		l->unread -= n;
		l->len = n;
		l->pos = 0;
	}
	*customer_id = l->c[l->pos];
	*product_id = l->p[l->pos];
	return true;
}

void
als_list_free(AlsPairList *l)
{
	if (l->file != NULL)
		BufFileClose(l->file);
	if (l->c != NULL)
		pfree(l->c);
	if (l->p != NULL)
		pfree(l->p);
	memset(l, 0, sizeof(*l));
}

/* ---- the sink ---- */

void
als_sink_init(AlsPairSink *s, int64 budget)
{
	memset(s, 0, sizeof(*s));
	s->budget = budget;
	s->cu_cap = 1024;
	s->cust_ids = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * s->cu_cap);
	s->cust_pairs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * s->cu_cap);
	s->products = prodtab_create(CurrentMemoryContext, 1024, NULL);
	s->max_mem = Max((int64) 1024, budget / ALS_PAIR_BYTES);
	s->cap = Min((int64) 65536, s->max_mem);
	s->prod = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * s->cap);
	s->w = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * s->cap);
}

/* the arrays' pairs to the end of the file, as PairRec records */
static void
sink_flush(AlsPairSink *s)
{
	PairRec    *rec;
	int64		i,
				j;

	if (s->file == NULL)
	{
		PrepareTempTablespaces();
		s->file = BufFileCreateTemp(false);
	}
	rec = palloc(sizeof(PairRec) * ALS_IO_PAIRS);
	for (i = 0; i < s->len; i += ALS_IO_PAIRS)
	{
		int64		n = Min((int64) ALS_IO_PAIRS, s->len - i);

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < n; j++)
		{
			rec[j].p = s->prod[i + j];
			rec[j].w = s->w[i + j];
		}
		BufFileWrite(s->file, rec, sizeof(PairRec) * n);
	}
	pfree(rec);
	s->len = 0;
}

void
als_sink_add(AlsPairSink *s, int64 customer_id, int64 product_id, double w)
{
	ProdEntry  *e;
	bool		found;

	if (s->nu == 0 || s->cust_ids[s->nu - 1] != customer_id)
	{
		if (s->nu == s->cu_cap)
		{
			s->cu_cap *= 2;
			s->cust_ids = repalloc_huge(s->cust_ids, sizeof(int64) * s->cu_cap);
			s->cust_pairs = repalloc_huge(s->cust_pairs, sizeof(int64) * s->cu_cap);
		}
		s->cust_ids[s->nu] = customer_id;
		s->cust_pairs[s->nu] = 0;
		s->nu++;
	}
	s->cust_pairs[s->nu - 1]++;
	e = prodtab_insert(s->products, product_id, &found);
	if (!found)
		e->count = 0;
	e->count++;
	if (s->len == s->cap)
	{
		if (s->cap < s->max_mem)
		{
			s->cap = Min(s->cap * 2, s->max_mem);
			s->prod = repalloc_huge(s->prod, sizeof(int64) * s->cap);
			s->w = repalloc_huge(s->w, sizeof(double) * s->cap);
		}
		else
			sink_flush(s);
	}
	s->prod[s->len] = product_id;
	s->w[s->len] = w;
	s->len++;
	s->n++;
}

int64
als_sink_products(const AlsPairSink *s)
{
	return (int64) s->products->members;
}

/* ---- tasks and blocks ---- */

static void
row_tasks(const Csr *m, int d, RowTasks *t)
{
	int64		u,
				row0 = 0,
				n = 0,
				work = 0,
				k;

	t->start = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (m->rows + 1));
	t->start[0] = 0;
	for (u = 0; u < m->rows; u++)
	{
		if (u > row0 &&
			(u - row0 == ALS_BLOCK || m->ptr[u + 1] - m->ptr[row0] > ALS_TASK_PAIRS))
		{
			t->start[++n] = u;
			row0 = u;
		}
	}
	t->start[++n] = m->rows;
	t->ntasks = n;

	t->call = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (n + 1));
	t->call[0] = 0;
	t->ncalls = 0;
	for (k = 0; k < n; k++)
	{
		int64		rows = t->start[k + 1] - t->start[k];
		int64		pairs = m->ptr[t->start[k + 1]] - m->ptr[t->start[k]];

		work += (pairs + rows * d / 2) * d;
		if (work >= ALS_CALL_WORK || k == n - 1)
		{
			t->call[++t->ncalls] = k + 1;
			work = 0;
		}
	}
}

/* the entries of tasks [t0, t1) */
static inline int64
task_entries(const AlsSide *s, int64 t0, int64 t1)
{
	return s->m.ptr[s->tasks.start[t1]] - s->m.ptr[s->tasks.start[t0]];
}

/*
 * rows, ptr and tasks of a side; blocks of at most block_bytes of entries
 * (at least one task each), or one block when block_bytes is 0; buffers
 * for the largest block.
 */
static void
side_init(AlsSide *s, int64 rows, int64 *ptr, int d, int64 block_bytes)
{
	int64		t,
				t0 = 0;
	int			nb = 0;

	memset(s, 0, sizeof(*s));
	s->m.rows = rows;
	s->m.ptr = ptr;
	s->loaded = -1;
	row_tasks(&s->m, d, &s->tasks);
	s->block = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (s->tasks.ntasks + 1));
	s->block[0] = 0;
	for (t = 1; t <= s->tasks.ntasks; t++)
	{
		if (t == s->tasks.ntasks ||
			(block_bytes > 0 && t > t0 &&
			 task_entries(s, t0, t + 1) * (int64) (sizeof(int32) + sizeof(double)) > block_bytes))
		{
			s->block[++nb] = t;
			t0 = t;
		}
	}
	s->nblocks = nb;
	for (nb = 0; nb < s->nblocks; nb++)
		s->cap = Max(s->cap, task_entries(s, s->block[nb], s->block[nb + 1]));
	s->block_fileno = palloc0(sizeof(int) * s->nblocks);
	s->block_offset = palloc0(sizeof(off_t) * s->nblocks);
}

/* the first entry of block b */
static inline int64
block_base(const AlsSide *s, int b)
{
	return s->m.ptr[s->tasks.start[s->block[b]]];
}

static void
side_buffers(AlsSide *s)
{
	s->m.idx = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(s->cap, 1));
	s->m.w = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(s->cap, 1));
}

/* block b is in the buffers: keep it there (one block) or write it out */
static void
side_block_done(AlsSide *s, int b)
{
	int64		n = task_entries(s, s->block[b], s->block[b + 1]);

	s->loaded = b;
	s->m.base = block_base(s, b);
	if (s->nblocks == 1)
		return;
	if (s->file == NULL)
	{
		PrepareTempTablespaces();
		s->file = BufFileCreateTemp(false);
	}
	BufFileTell(s->file, &s->block_fileno[b], &s->block_offset[b]);
	BufFileWrite(s->file, s->m.idx, sizeof(int32) * n);
	BufFileWrite(s->file, s->m.w, sizeof(double) * n);
	s->bytes_written += (int64) (sizeof(int32) + sizeof(double)) * n;
}

void
als_side_load(AlsSide *s, int b)
{
	int64		n;

	if (s->loaded == b)
		return;
	Assert(s->file != NULL);
	CHECK_FOR_INTERRUPTS();
	n = task_entries(s, s->block[b], s->block[b + 1]);
	if (BufFileSeek(s->file, s->block_fileno[b], s->block_offset[b], SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in temporary file of als_train: %m")));
	file_read(s->file, s->m.idx, sizeof(int32) * n);
	file_read(s->file, s->m.w, sizeof(double) * n);
	s->loaded = b;
	s->m.base = block_base(s, b);
}

void
als_side_free(AlsSide *s)
{
	if (s->file != NULL)
		BufFileClose(s->file);
	pfree(s->m.ptr);
	pfree(s->m.idx);
	pfree(s->m.w);
	pfree(s->tasks.start);
	pfree(s->tasks.call);
	pfree(s->block);
	pfree(s->block_fileno);
	pfree(s->block_offset);
	memset(s, 0, sizeof(*s));
}

/* ---- building ---- */

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Product ids ascending, each one's rank in the hash table, im's row
 * starts; *table: rank by id - *pmin when the ids span at most a few times
 * their count (faster than the hash table), else NULL.
 */
static int64 *
rank_products(AlsPairSink *s, int64 **im_ptr, int32 **table, int64 *pmin)
{
	int64		ni = als_sink_products(s);
	int64	   *ids = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(ni, 1));
	int64	   *ptr = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (ni + 1));
	prodtab_iterator it;
	ProdEntry  *e;
	int64		k = 0;

	prodtab_start_iterate(s->products, &it);
	while ((e = prodtab_iterate(s->products, &it)) != NULL)
		ids[k++] = e->id;
	qsort(ids, ni, sizeof(int64), cmp_int64);
	ptr[0] = 0;
	for (k = 0; k < ni; k++)
	{
		e = prodtab_lookup(s->products, ids[k]);
		e->rank = (int32) k;	/* ni <= INT_MAX / 2: checked by the caller */
		ptr[k + 1] = ptr[k] + e->count;
	}
	*table = NULL;
	*pmin = ni > 0 ? ids[0] : 0;
	if (ni > 0 && (uint64) ids[ni - 1] - (uint64) ids[0] < (uint64) (4 * ni + 65536))
	{
		int64		span = (int64) ((uint64) ids[ni - 1] - (uint64) ids[0]) + 1;

		*table = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * span);
		for (k = 0; k < ni; k++)
			(*table)[ids[k] - *pmin] = (int32) k;
	}
	*im_ptr = ptr;
	return ids;
}

static inline int32
product_rank(AlsPairSink *s, const int32 *table, int64 pmin, int64 id)
{
	return table != NULL ? table[id - pmin] : prodtab_lookup(s->products, id)->rank;
}

void
als_build_sides(AlsPairSink *s, int d, AlsSide *um, AlsSide *im,
				int64 **cust_ids, int64 *nu, int64 **prod_ids, int64 *ni)
{
	bool		in_memory = (s->file == NULL);
	int64		block_bytes = in_memory ? 0 : Max(s->budget / 2, (int64) 65536);
	int64	   *uptr,
			   *iptr,
			   *fill;
	int32	   *table;
	int64		pmin,
				u,
				k;
	int			b,
				ib;

	/* customers' row starts */
	*nu = s->nu;
	*cust_ids = s->cust_ids;
	uptr = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (s->nu + 1));
	uptr[0] = 0;
	for (u = 0; u < s->nu; u++)
		uptr[u + 1] = uptr[u] + s->cust_pairs[u];
	pfree(s->cust_pairs);
	s->cust_pairs = NULL;
	*prod_ids = rank_products(s, &iptr, &table, &pmin);
	*ni = als_sink_products(s);

	/* um: the pairs in order, product ids to ranks */
	side_init(um, *nu, uptr, d, block_bytes);
	if (in_memory)
	{
		um->cap = s->len;
		um->m.idx = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(s->len, 1));
		for (k = 0; k < s->len; k++)
		{
			if ((k & 1048575) == 0)
				CHECK_FOR_INTERRUPTS();
			um->m.idx[k] = product_rank(s, table, pmin, s->prod[k]);
		}
		um->m.w = s->w;
		pfree(s->prod);
		side_block_done(um, 0);
	}
	else
	{
		PairRec    *rec = palloc(sizeof(PairRec) * ALS_IO_PAIRS);
		int64		have = 0,
					pos = 0;

		sink_flush(s);
		pfree(s->prod);
		pfree(s->w);
		file_rewind(s->file);
		side_buffers(um);
		for (b = 0; b < um->nblocks; b++)
		{
			int64		n = task_entries(um, um->block[b], um->block[b + 1]);

			for (k = 0; k < n; k++)
			{
				if (pos == have)
				{
					CHECK_FOR_INTERRUPTS();
					have = Min((int64) ALS_IO_PAIRS, s->n - (block_base(um, b) + k));
					file_read(s->file, rec, sizeof(PairRec) * have);
					pos = 0;
				}
				um->m.idx[k] = product_rank(s, table, pmin, rec[pos].p);
				um->m.w[k] = rec[pos].w;
				pos++;
			}
			side_block_done(um, b);
		}
		pfree(rec);
		BufFileClose(s->file);
	}
	s->prod = NULL;
	s->w = NULL;
	s->file = NULL;
	if (table != NULL)
		pfree(table);
	prodtab_destroy(s->products);
	s->products = NULL;

	/*
	 * im: for each of its blocks, one pass over um's blocks placing the
	 * entries of the block's products (a counting sort; within a product
	 * the customers come in order)
	 */
	side_init(im, *ni, iptr, d, block_bytes);
	side_buffers(im);
	fill = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(*ni, 1));
	for (ib = 0; ib < im->nblocks; ib++)
	{
		int64		i0 = im->tasks.start[im->block[ib]],
					i1 = im->tasks.start[im->block[ib + 1]],
					base = block_base(im, ib);

		for (k = i0; k < i1; k++)
			fill[k] = iptr[k] - base;
		for (b = 0; b < um->nblocks; b++)
		{
			int64		r0 = um->tasks.start[um->block[b]],
						r1 = um->tasks.start[um->block[b + 1]];

			als_side_load(um, b);
			for (u = r0; u < r1; u++)
			{
				if ((u & 65535) == 0)
					CHECK_FOR_INTERRUPTS();
				for (k = uptr[u]; k < uptr[u + 1]; k++)
				{
					int32		i = um->m.idx[k - um->m.base];

					if (i >= i0 && i < i1)
					{
						int64		p = fill[i]++;

						im->m.idx[p] = (int32) u;
						im->m.w[p] = um->m.w[k - um->m.base];
					}
				}
			}
		}
		side_block_done(im, ib);
	}
	pfree(fill);
}
