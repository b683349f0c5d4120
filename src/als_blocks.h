/*
 * als_blocks.h
 *      ALS training's interaction matrix, both ways (customers x products
 *      and its transpose), whole in memory or cut into blocks kept in
 *      temporary files: training's memory is bounded by
 *      maintenance_work_mem, not by the number of pairs (als_blocks.c).
 */
#ifndef SEG_RECO_ALS_BLOCKS_H
#define SEG_RECO_ALS_BLOCKS_H

#include "postgres.h"

#include "storage/buffile.h"

/*
 * One side of the matrix in compressed rows.  ptr holds every row's start
 * (rows + 1 positions over the whole side); idx and w hold the entries of
 * the loaded block only, entry k at idx[k - base] and w[k - base].  When
 * the side is whole in memory, base is 0 and idx, w hold every entry.
 */
typedef struct Csr
{
	int64		rows;
	int64	   *ptr;			/* rows + 1 */
	int64		base;			/* position of idx[0], w[0] */
	int32	   *idx;			/* column indexes */
	double	   *w;				/* weights r (confidence - 1 = alpha r) */
} Csr;

/*
 * One side cut into tasks for seg_reco_parallel_for: runs of consecutive
 * rows, at most ALS_BLOCK rows and about ALS_TASK_PAIRS observed pairs each
 * (a row with more pairs is a task of its own), so that the workers share
 * the rows evenly even where a few rows (popular products) hold most
 * pairs.  The tasks are grouped into calls of about ALS_CALL_WORK units of
 * work, (pairs + rows * d / 2) * d, the sparse and the dense part of CG:
 * ~0.1 s single-threaded at d = 64, so that CHECK_FOR_INTERRUPTS() between
 * calls stops training quickly at any scale (als_blocks.c).  The cut
 * depends on the data and d only, never on seg_reco.threads or
 * maintenance_work_mem: per-task results reduced in task order are the
 * same bits whatever the thread count and whether the side is in blocks.
 */
typedef struct RowTasks
{
	int64		ntasks;
	int64	   *start;			/* ntasks + 1 row boundaries */
	int64		ncalls;
	int64	   *call;			/* ncalls + 1 task boundaries */
} RowTasks;

/*
 * A side: its rows, tasks, and blocks (runs of whole tasks).  With one
 * block the entries stay in memory; with more, each block is written to
 * file (its idx, then its w) and als_side_load reads it into the buffers.
 */
typedef struct AlsSide
{
	Csr			m;
	RowTasks	tasks;
	int			nblocks;
	int64	   *block;			/* nblocks + 1 task boundaries */
	BufFile    *file;			/* NULL with one block */
	int		   *block_fileno;	/* where each block starts in file */
	off_t	   *block_offset;
	int			loaded;			/* the block in m.idx, m.w; -1 none */
	int64		cap;			/* entries the buffers hold */
	int64		bytes_written;
} AlsSide;

/*
 * The pairs as they come out of the fold, in (customer, product) order:
 * each customer's id and pair count, each product's pair count, and the
 * pairs' (product id, weight), in memory while they fit in the budget,
 * then in a temporary file.
 */
typedef struct AlsPairSink
{
	int64		n;				/* pairs */
	int64		budget;			/* bytes: maintenance_work_mem */
	/* customers */
	int64		nu;
	int64		cu_cap;
	int64	   *cust_ids;
	int64	   *cust_pairs;
	/* products: id -> pair count (als_blocks.c's hash table) */
	struct prodtab_hash *products;
	/* pairs */
	int64		len;			/* pairs in the arrays */
	int64		cap;
	int64		max_mem;		/* pairs the arrays may hold */
	int64	   *prod;
	double	   *w;
	BufFile    *file;			/* all pairs, once they outgrew max_mem */
} AlsPairSink;

/*
 * A list of (customer id, product id) in the order added (recommend_all:
 * the products each customer bought, by customer), in memory while 16
 * bytes an entry fit in the budget, then in a temporary file; read back
 * once, in order, a chunk of at most the budget at a time.
 */
typedef struct AlsPairList
{
	int64		n;				/* entries added */
	int64		max_mem;		/* entries the arrays may hold */
	int64		cap;
	int64		len;			/* entries in the arrays */
	int64		pos;			/* reading: the next in the arrays */
	int64		unread;			/* reading: entries still in the file */
	int64	   *c;
	int64	   *p;
	BufFile    *file;
	bool		reading;
} AlsPairList;

extern void als_list_init(AlsPairList *l, int64 budget);
extern void als_list_add(AlsPairList *l, int64 customer_id, int64 product_id);
extern void als_list_rewind(AlsPairList *l);
extern bool als_list_peek(AlsPairList *l, int64 *customer_id, int64 *product_id);
extern void als_list_free(AlsPairList *l);

extern void als_sink_init(AlsPairSink *s, int64 budget);
extern void als_sink_add(AlsPairSink *s, int64 customer_id, int64 product_id, double w);

/*
 * The matrix both ways from the sink's pairs (which it consumes): um
 * customers x products, im products x customers, with their tasks for
 * factors d.  *cust_ids (nu) and *prod_ids (ni, ascending) name the rows
 * of each side.  Whole in memory when the pairs never left it (24 bytes a
 * pair); otherwise in blocks of about budget / 2 bytes each.
 */
extern void als_build_sides(AlsPairSink *s, int d, AlsSide *um, AlsSide *im,
							int64 **cust_ids, int64 *nu, int64 **prod_ids, int64 *ni);

/* the number of distinct products so far (the size checks run before building) */
extern int64 als_sink_products(const AlsPairSink *s);

/* block b of side into m.idx, m.w (a no-op when it is there already) */
extern void als_side_load(AlsSide *s, int b);

/* the tasks of block b: [*t0, *t1) */
static inline void
als_side_block_tasks(const AlsSide *s, int b, int64 *t0, int64 *t1)
{
	*t0 = s->block[b];
	*t1 = s->block[b + 1];
}

extern void als_side_free(AlsSide *s);

#endif							/* SEG_RECO_ALS_BLOCKS_H */
