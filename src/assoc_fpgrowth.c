/*
 * assoc_fpgrowth.c
 *      Frequent itemsets with FP-growth (Han, Pei & Yin, SIGMOD 2000).
 *
 * The baskets, each reduced to its frequent items written as ranks (rank 0
 * = the most frequent item; ties by product id), go into an FP-tree: a
 * prefix tree of the rank sequences whose nodes count the baskets sharing
 * the prefix, with a chain through the nodes of each item.  An item x of a
 * tree is frequent with the tree's suffix; the paths above x's nodes,
 * weighted by their counts and reduced to the items still frequent among
 * them, form x's conditional tree, mined the same way with x added to the
 * suffix, down to max_length items.  A conditional tree that is a single
 * path yields every combination of its nodes at once (count = that of the
 * deepest node chosen).  One item short of max_length, x's paths are only
 * counted: its conditional tree could give nothing but its items, each with
 * the count it has there, so none is built (with max_length 2, pairs, no
 * tree is built but the first).
 *
 * Trees are built by sorting their paths lexicographically: a path then
 * shares with the tree exactly its common prefix with the path before it,
 * so no child lists are searched, and the tree (node order, item chains)
 * is the same whatever order the baskets came in.  Counts are exact
 * integers, so the itemsets found and their counts are too.
 *
 * Memory: the tree has at most one node per frequent item occurrence; a
 * conditional tree lives in a context of its depth, reset for the next
 * item; the itemsets found are bounded by max_itemsets.  Runs on the
 * backend's thread (interrupts checked in every data-sized loop).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "assoc.h"

/*
 * A node's fields side by side: the walks up the tree and along an item's
 * chain read several of them per node, in no order the cache can predict.
 */
typedef struct FPNode
{
	int32		item;			/* local item of the node */
	int32		count;
	int32		parent;			/* -1: a child of the root */
	int32		next;			/* next node of the same item, or -1 */
} FPNode;

typedef struct FPTree
{
	int32		nitems;			/* local items 0..nitems-1, ascending ranks */
	int32	   *global;			/* local item -> rank */
	int32	   *support;		/* baskets holding the local item */
	int32	   *head;			/* first node of the local item, or -1 */
	int32		nnodes;
	FPNode	   *node;
} FPTree;

/* weighted item sequences (ascending local items), the input of a tree */
typedef struct PathSet
{
	int32		n;
	int64	   *start;
	int32	   *len;
	int32	   *weight;
	int32	   *items;
	int32		max_len;
} PathSet;

typedef struct Miner
{
	int32		min_count;
	int32		max_length;
	int64		max_itemsets;
	const char *fname;
	const int32 *rank_item;		/* rank -> item index */
	int32	   *suffix;			/* ranks of the current itemset */
	int32	   *cnt;			/* cond_counts' counts (one per frequent item), used until the next call */
	MemoryContext parent_cxt;
	MemoryContext *level_cxt;	/* a conditional tree built at depth d lives in level_cxt[d] */
	/* the itemsets found (in the caller's context) */
	int64		n,
				cap;
	int64	   *start;
	int32	   *len;
	int32	   *count;
	int32	   *items;
	int64		items_used,
				items_cap;
} Miner;

/* paths in lexicographic order of their items, ties by index */
static inline int
path_cmp(int32 pa, int32 pb, const PathSet *ps)
{
	const int32 *x = ps->items + ps->start[pa];
	const int32 *y = ps->items + ps->start[pb];
	int32		la = ps->len[pa],
				lb = ps->len[pb],
				l = Min(la, lb),
				k;

	for (k = 0; k < l; k++)
		if (x[k] != y[k])
			return x[k] < y[k] ? -1 : 1;
	if (la != lb)
		return la < lb ? -1 : 1;
	return (pa > pb) - (pa < pb);
}

/* PostgreSQL's sort template, the comparisons inlined */
#define ST_SORT sort_paths
#define ST_ELEMENT_TYPE int32
#define ST_COMPARE(a, b, arg) path_cmp(*(a), *(b), arg)
#define ST_COMPARE_ARG_TYPE const PathSet
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT sort_int32
#define ST_ELEMENT_TYPE int32
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The FP-tree of a path set, in CurrentMemoryContext; support[i]: the
 * weight of the paths holding local item i (known to the caller).
 */
static FPTree *
fp_build(const PathSet *ps, int32 nitems, int32 *global, int32 *support)
{
	FPTree	   *t = palloc(sizeof(FPTree));
	int32	   *order,
			   *tail,
			   *stack;
	int64		total = 0;
	const int32 *prev = NULL;
	int32		prev_len = 0,
				i,
				o,
				d;

	for (i = 0; i < ps->n; i++)
		total += ps->len[i];
	if (total > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many frequent item occurrences for one FP-tree: " INT64_FORMAT, total),
				 errhint("Raise min_support, or split the baskets into smaller queries.")));
	t->nitems = nitems;
	t->global = global;
	t->support = support;
	t->head = palloc(sizeof(int32) * Max(nitems, 1));
	tail = palloc(sizeof(int32) * Max(nitems, 1));
	for (i = 0; i < nitems; i++)
		t->head[i] = tail[i] = -1;
	t->nnodes = 0;
	t->node = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(FPNode) * Max(total, 1));
	order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(ps->n, 1));
	for (i = 0; i < ps->n; i++)
		order[i] = i;
	sort_paths(order, ps->n, ps);
	CHECK_FOR_INTERRUPTS();
	stack = palloc(sizeof(int32) * Max(ps->max_len, 1));

	for (o = 0; o < ps->n; o++)
	{
		int32		p = order[o];
		const int32 *its = ps->items + ps->start[p];
		int32		len = ps->len[p],
					w = ps->weight[p],
					lim = Min(len, prev_len),
					lcp = 0;

		if ((o & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		while (lcp < lim && its[lcp] == prev[lcp])
			lcp++;
		for (d = 0; d < lcp; d++)
			t->node[stack[d]].count += w;
		for (d = lcp; d < len; d++)
		{
			int32		nd = t->nnodes++;
			int32		it = its[d];

			t->node[nd].item = it;
			t->node[nd].count = w;
			t->node[nd].parent = d == 0 ? -1 : stack[d - 1];
			t->node[nd].next = -1;
			if (tail[it] >= 0)
				t->node[tail[it]].next = nd;
			else
				t->head[it] = nd;
			tail[it] = nd;
			stack[d] = nd;
		}
		prev = its;
		prev_len = len;
	}
	pfree(order);
	pfree(tail);
	pfree(stack);
	return t;
}

/* records an itemset given by ranks (any order) */
static void
emit(Miner *m, const int32 *ranks, int32 len, int32 count)
{
	int32	   *dst;
	int32		i;

	if (m->n >= m->max_itemsets)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s found more than " INT64_FORMAT " frequent itemsets", m->fname, m->max_itemsets),
				 errdetail("Each frequent itemset is kept in memory until the rules are formed."),
				 errhint("Raise min_support, lower max_length, or raise max_itemsets.")));
	if (m->n == m->cap)
	{
		m->cap *= 2;
		m->start = repalloc_huge(m->start, sizeof(int64) * m->cap);
		m->len = repalloc_huge(m->len, sizeof(int32) * m->cap);
		m->count = repalloc_huge(m->count, sizeof(int32) * m->cap);
	}
	if (m->items_used + len > m->items_cap)
	{
		m->items_cap = Max(m->items_cap * 2, m->items_used + len);
		m->items = repalloc_huge(m->items, sizeof(int32) * m->items_cap);
	}
	dst = m->items + m->items_used;
	for (i = 0; i < len; i++)
		dst[i] = m->rank_item[ranks[i]];
	sort_int32(dst, len);
	m->start[m->n] = m->items_used;
	m->len[m->n] = len;
	m->count[m->n] = count;
	m->items_used += len;
	m->n++;
	if ((m->n & 8191) == 0)
		CHECK_FOR_INTERRUPTS();
}

/*
 * The conditional pattern base of x in t, counted: cnt[y] (y < x, zeroed
 * here) = baskets holding y with x, i.e. y's support in x's conditional
 * tree.  Returns the item occurrences on the paths above x's nodes; *npaths
 * gets the number of x's nodes.
 */
static int64
cond_counts(const FPTree *t, int32 x, int32 *cnt, int32 *npaths)
{
	const FPNode *node = t->node;
	int64		total = 0;
	int32		n,
				p;

	memset(cnt, 0, sizeof(int32) * x);
	*npaths = 0;
	for (n = t->head[x]; n >= 0; n = node[n].next)
	{
		int32		w = node[n].count;

		CHECK_FOR_INTERRUPTS();
		(*npaths)++;
		for (p = node[n].parent; p >= 0; p = node[p].parent)
		{
			cnt[node[p].item] += w;
			total++;
		}
	}
	return total;
}

/*
 * x's conditional tree in t (CurrentMemoryContext), or NULL when no item
 * is frequent together with x.
 */
static FPTree *
conditional(Miner *m, const FPTree *t, int32 x)
{
	int32	   *cnt = m->cnt;
	int32	   *local = palloc(sizeof(int32) * x);
	int32	   *global,
			   *support;
	int32		nloc = 0,
				npaths,
				y,
				n,
				p;
	int64		total;
	PathSet		ps;

	total = cond_counts(t, x, cnt, &npaths);
	for (y = 0; y < x; y++)
		local[y] = cnt[y] >= m->min_count ? nloc++ : -1;
	if (nloc == 0)
		return NULL;
	global = palloc(sizeof(int32) * nloc);
	support = palloc(sizeof(int32) * nloc);
	for (y = 0; y < x; y++)
		if (local[y] >= 0)
		{
			global[local[y]] = t->global[y];
			support[local[y]] = cnt[y];
		}

	ps.n = 0;
	ps.max_len = 0;
	ps.start = palloc(sizeof(int64) * npaths);
	ps.len = palloc(sizeof(int32) * npaths);
	ps.weight = palloc(sizeof(int32) * npaths);
	ps.items = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(total, 1));
	total = 0;
	for (n = t->head[x]; n >= 0; n = t->node[n].next)
	{
		int32	   *dst = ps.items + total;
		int32		len = 0,
					i;

		CHECK_FOR_INTERRUPTS();
		/* upwards the items descend: written backwards, then reversed */
		for (p = t->node[n].parent; p >= 0; p = t->node[p].parent)
			if (local[t->node[p].item] >= 0)
				dst[len++] = local[t->node[p].item];
		if (len == 0)
			continue;
		for (i = 0; i < len / 2; i++)
		{
			int32		tmp = dst[i];

			dst[i] = dst[len - 1 - i];
			dst[len - 1 - i] = tmp;
		}
		ps.start[ps.n] = total;
		ps.len[ps.n] = len;
		ps.weight[ps.n] = t->node[n].count;
		ps.n++;
		ps.max_len = Max(ps.max_len, len);
		total += len;
	}
	pfree(local);
	return fp_build(&ps, nloc, global, support);
}

/* one chain of nodes from the root: node k's parent is node k - 1 */
static bool
single_path(const FPTree *t)
{
	int32		k;

	for (k = 1; k < t->nnodes; k++)
		if (t->node[k].parent != k - 1)
			return false;
	return true;
}

/* every combination of the path's nodes from node from on, after suffix[0..depth) */
static void
enum_path(Miner *m, const FPTree *t, int32 from, int32 depth)
{
	int32		k;

	check_stack_depth();
	for (k = from; k < t->nnodes; k++)
	{
		m->suffix[depth] = t->global[t->node[k].item];
		emit(m, m->suffix, depth + 1, t->node[k].count);
		if (depth + 1 < m->max_length)
			enum_path(m, t, k + 1, depth + 1);
	}
}

static void
mine(Miner *m, const FPTree *t, int32 depth)
{
	int32		x;

	check_stack_depth();
	for (x = t->nitems - 1; x >= 0; x--)
	{
		MemoryContext old;
		FPTree	   *cond;

		CHECK_FOR_INTERRUPTS();
		m->suffix[depth] = t->global[x];
		emit(m, m->suffix, depth + 1, t->support[x]);
		if (depth + 1 >= m->max_length || x == 0)
			continue;
		if (depth + 2 == m->max_length)
		{
			/*
			 * x's conditional tree could only give its items, one each,
			 * with their supports: the counts are those, no tree needed
			 */
			int32		y,
						npaths;

			cond_counts(t, x, m->cnt, &npaths);
			for (y = x - 1; y >= 0; y--)
				if (m->cnt[y] >= m->min_count)
				{
					m->suffix[depth + 1] = t->global[y];
					emit(m, m->suffix, depth + 2, m->cnt[y]);
				}
			continue;
		}
		if (m->level_cxt[depth] == NULL)
			m->level_cxt[depth] = AllocSetContextCreate(m->parent_cxt, "seg_reco fpgrowth level",
														ALLOCSET_DEFAULT_SIZES);
		else
			MemoryContextReset(m->level_cxt[depth]);
		old = MemoryContextSwitchTo(m->level_cxt[depth]);
		cond = conditional(m, t, x);
		if (cond != NULL)
		{
			if (single_path(cond))
				enum_path(m, cond, 0, depth + 1);
			else
				mine(m, cond, depth + 1);
		}
		MemoryContextSwitchTo(old);
	}
}

/* itemsets in order of length, then items */
static int
itemset_cmp(const void *a, const void *b, void *arg)
{
	const Miner *m = (const Miner *) arg;
	int64		sa = *(const int64 *) a;
	int64		sb = *(const int64 *) b;
	int32		la = m->len[sa],
				lb = m->len[sb],
				k;
	const int32 *x = m->items + m->start[sa];
	const int32 *y = m->items + m->start[sb];

	if (la != lb)
		return la < lb ? -1 : 1;
	for (k = 0; k < la; k++)
		if (x[k] != y[k])
			return x[k] < y[k] ? -1 : 1;
	return 0;
}

typedef struct RankSort
{
	const int32 *count;
} RankSort;

/* more baskets first; ties by item index (= product id) */
static int
rank_cmp(const void *a, const void *b, void *arg)
{
	const RankSort *r = (const RankSort *) arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (r->count[x] != r->count[y])
		return r->count[x] > r->count[y] ? -1 : 1;
	return (x > y) - (x < y);
}

void
seg_reco_fpgrowth(const SegRecoBaskets *b, int32 min_count, int32 max_length,
				  int64 max_itemsets, const char *fname, SegRecoItemsets *out)
{
	MemoryContext outcxt = CurrentMemoryContext;
	MemoryContext work,
				old;
	int32	   *freq,
			   *rank_of,
			   *identity,
			   *support;
	int32		nf = 0,
				i,
				r,
				longest = 0;
	int64		bi,
				total = 0,
				s,
				pos;
	int64	   *order;
	PathSet		ps;
	FPTree	   *tree;
	Miner		m;
	RankSort	rs;

	memset(out, 0, sizeof(*out));
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco fpgrowth", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	/* the frequent items, ranked */
	freq = palloc(sizeof(int32) * Max(b->n_items, 1));
	for (i = 0; i < b->n_items; i++)
		if (b->item_count[i] >= min_count)
			freq[nf++] = i;
	rs.count = b->item_count;
	qsort_arg(freq, nf, sizeof(int32), rank_cmp, &rs);
	rank_of = palloc(sizeof(int32) * Max(b->n_items, 1));
	for (i = 0; i < b->n_items; i++)
		rank_of[i] = -1;
	for (r = 0; r < nf; r++)
		rank_of[freq[r]] = r;
	identity = palloc(sizeof(int32) * Max(nf, 1));
	support = palloc(sizeof(int32) * Max(nf, 1));
	for (r = 0; r < nf; r++)
	{
		identity[r] = r;
		support[r] = b->item_count[freq[r]];
	}

	/* each basket as its frequent items' ascending ranks (at most its items) */
	ps.n = 0;
	ps.start = MemoryContextAllocHuge(work, sizeof(int64) * Max(b->n_baskets, 1));
	ps.len = MemoryContextAllocHuge(work, sizeof(int32) * Max(b->n_baskets, 1));
	ps.weight = MemoryContextAllocHuge(work, sizeof(int32) * Max(b->n_baskets, 1));
	ps.items = MemoryContextAllocHuge(work, sizeof(int32) * Max(b->offset[b->n_baskets], 1));
	for (bi = 0; bi < b->n_baskets; bi++)
	{
		int32	   *dst = ps.items + total;
		int32		len = 0;

		if ((bi & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		for (pos = b->offset[bi]; pos < b->offset[bi + 1]; pos++)
			if (rank_of[b->items[pos]] >= 0)
				dst[len++] = rank_of[b->items[pos]];
		if (len == 0)
			continue;
		sort_int32(dst, len);
		ps.start[ps.n] = total;
		ps.len[ps.n] = len;
		ps.weight[ps.n] = 1;
		ps.n++;
		total += len;
		longest = Max(longest, len);
	}
	ps.max_len = longest;
	tree = fp_build(&ps, nf, identity, support);
	pfree(ps.start);
	pfree(ps.len);
	pfree(ps.weight);
	pfree(ps.items);

	/* mine */
	memset(&m, 0, sizeof(m));
	m.min_count = min_count;
	m.max_length = Min(max_length, Max(longest, 1));
	m.max_itemsets = max_itemsets;
	m.fname = fname;
	m.rank_item = freq;
	m.suffix = palloc(sizeof(int32) * m.max_length);
	m.cnt = palloc(sizeof(int32) * Max(nf, 1));
	m.parent_cxt = work;
	m.level_cxt = palloc0(sizeof(MemoryContext) * m.max_length);
	m.cap = 1024;
	m.start = MemoryContextAllocHuge(outcxt, sizeof(int64) * m.cap);
	m.len = MemoryContextAllocHuge(outcxt, sizeof(int32) * m.cap);
	m.count = MemoryContextAllocHuge(outcxt, sizeof(int32) * m.cap);
	m.items_cap = 4096;
	m.items = MemoryContextAllocHuge(outcxt, sizeof(int32) * m.items_cap);
	mine(&m, tree, 0);

	/* sorted by length, then items */
	MemoryContextSwitchTo(outcxt);
	order = MemoryContextAllocHuge(work, sizeof(int64) * Max(m.n, 1));
	for (s = 0; s < m.n; s++)
		order[s] = s;
	qsort_arg(order, m.n, sizeof(int64), itemset_cmp, &m);
	CHECK_FOR_INTERRUPTS();
	out->n = m.n;
	out->start = MemoryContextAllocHuge(outcxt, sizeof(int64) * Max(m.n, 1));
	out->len = MemoryContextAllocHuge(outcxt, sizeof(int32) * Max(m.n, 1));
	out->count = MemoryContextAllocHuge(outcxt, sizeof(int32) * Max(m.n, 1));
	out->items = MemoryContextAllocHuge(outcxt, sizeof(int32) * Max(m.items_used, 1));
	out->max_len = 0;
	pos = 0;
	for (s = 0; s < m.n; s++)
	{
		int64		o = order[s];

		if ((s & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		out->start[s] = pos;
		out->len[s] = m.len[o];
		out->count[s] = m.count[o];
		memcpy(out->items + pos, m.items + m.start[o], sizeof(int32) * m.len[o]);
		pos += m.len[o];
		out->max_len = Max(out->max_len, m.len[o]);
	}
	out->len_first = palloc0(sizeof(int64) * (out->max_len + 2));
	for (i = 0; i <= out->max_len + 1; i++)
		out->len_first[i] = m.n;
	for (s = m.n - 1; s >= 0; s--)
		out->len_first[out->len[s]] = s;
	/* lengths without itemsets (0, and none between) start where the next does */
	for (i = out->max_len; i >= 0; i--)
		if (out->len_first[i] > out->len_first[i + 1])
			out->len_first[i] = out->len_first[i + 1];
	pfree(m.start);
	pfree(m.len);
	pfree(m.count);
	pfree(m.items);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
}

int64
seg_reco_itemset_find(const SegRecoItemsets *s, const int32 *items, int32 len)
{
	int64		lo,
				hi;

	if (len < 1 || len > s->max_len)
		return -1;
	lo = s->len_first[len];
	hi = s->len_first[len + 1] - 1;
	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		const int32 *x = s->items + s->start[mid];
		int			c = 0;
		int32		k;

		for (k = 0; k < len; k++)
			if (x[k] != items[k])
			{
				c = x[k] < items[k] ? -1 : 1;
				break;
			}
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}
