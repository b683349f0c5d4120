/*
 * assoc.c
 *      Frequently bought together: association_rules() and
 *      frequent_itemsets() over any query of (basket id, product id).
 *
 * The query is read in one pass through a receiver of ours (no result set
 * is materialised): basket ids and product ids are mapped to dense numbers
 * in hash tables as rows arrive, so a row costs 8 bytes (in a buffer of
 * memory.h, grown without copying).  Above max_baskets baskets (an argument,
 * NULL: all) only a sample of them is kept as rows arrive, chosen by a hash
 * of the basket id (basket_sample_shrink), so that memory and mining time
 * stay those of max_baskets baskets.  The baskets are then sets of items
 * (a product twice in a basket counts once), the frequent itemsets come
 * from FP-growth (assoc_fpgrowth.c), and the rules X => {y} are formed
 * from them as arules' apriori forms them (Hahsler, Gruen & Hornik 2005;
 * Borgelt's implementation):
 *   - an itemset is frequent when at least ceil(min_support x baskets)
 *     baskets hold it (0.001 x 9,835 baskets: 10), and at least min_count
 *     (default 1: arules has no such floor);
 *   - a rule has one item on its right-hand side; its support is that of
 *     X u {y}, its confidence count(X u {y}) / count(X), kept when
 *     confidence >= min_confidence (to 1e-12, as arules);
 *   - min_length/max_length count the items of X u {y}; with min_length 1
 *     a frequent single item gives the rule {} => {y} (confidence = its
 *     support);
 *   - lift = confidence / support(y), leverage = support - support(X) x
 *     support(y), conviction = (1 - support(y)) / (1 - confidence) (NULL
 *     when confidence is 1: no finite value), coverage = support(X).
 * Results do not depend on the order of the query's rows: items are
 * numbered in product id order, ties between equally frequent items go to
 * the lower product id, counts are exact, and rows come out sorted by the
 * length of X u {y}, then its product ids, then y.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "portability/instr_time.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "assoc.h"
#include "guards.h"
#include "hash64.h"
#include "memory.h"

/* int64 id -> dense number */
typedef struct IdEntry
{
	int64		key;
	int32		index;
	char		status;
} IdEntry;

#define SH_PREFIX idmap
#define SH_ELEMENT_TYPE IdEntry
#define SH_KEY_TYPE int64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) (k) ^ murmurhash32((uint32) ((uint64) (k) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* text id -> dense number */
typedef struct StrEntry
{
	char	   *key;
	uint32		hash;
	int32		index;
	char		status;
} StrEntry;

#define SH_PREFIX strmap
#define SH_ELEMENT_TYPE StrEntry
#define SH_KEY_TYPE char *
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b) (strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* a row read: dense basket and product numbers */
typedef struct BasketPair
{
	int32		basket;
	int32		item;
} BasketPair;

typedef struct BasketReceiver
{
	DestReceiver pub;
	const char *fname;
	MemoryContext cxt;			/* the reading's: deleted once the baskets are built */
	MemoryContext rowcxt;		/* text ids, reset every 1024 rows */
	int			statements;
	bool		selected;
	Oid			basket_type;
	Oid			product_type;
	bool		text_basket;
	idmap_hash *basket_int;
	int64		last_basket;	/* the previous row's basket id (integer ... */
	const char *last_text;		/* ... or text, in cxt) ... */
	int			last_text_len;
	int32		last_b;			/* ... and its number, -1 (none) or -2 (not sampled) */
	strmap_hash *basket_text;
	idmap_hash *product;
	int32		n_baskets;
	int32		n_items;
	int64	   *product_id;		/* by dense number */
	int64		product_cap;
	BasketPair *pairs;			/* a growing buffer (memory.h) */
	void	   *pairs_map;
	int64		n,
				cap;
	int64		rows_read;
	int64		rows_skipped;
	/* the basket sample (max_baskets > 0): see basket_sample() */
	int64		max_baskets;	/* 0: every basket */
	int			level;			/* baskets kept: sample hash < 2^(32 - level) */
	uint32	   *basket_hash;	/* by dense number: the sample hash */
	int64	   *basket_key;		/* by dense number: the integer id, or ... */
	char	  **basket_str;		/* ... the text id (in cxt) */
	int64		basket_cap;
	int64		rows_sampled_out;	/* rows of baskets outside the sample */
	char	   *last_buf;		/* the previous row's text id */
	int			last_cap;
} BasketReceiver;

/*
 * The sample hash of a basket id, independent of simplehash's: splitmix64's
 * finaliser of an integer id, hash_bytes_extended of a text id; the high 32
 * bits.  The same id always gets the same hash, whatever the row order.
 */
static inline uint32
sample_hash_int(int64 key)
{
	return (uint32) (seg_reco_mix64((uint64) key + SEG_RECO_SPLITMIX_GAMMA) >> 32);
}

static inline uint32
sample_hash_text(const char *s, int len)
{
	return (uint32) (hash_bytes_extended((const unsigned char *) s, len, UINT64CONST(0x5345475245434f)) >> 32);
}

/* is a basket of this sample hash in the sample at level? */
static inline bool
sample_keeps(uint32 h, int level)
{
	return level == 0 || (h >> (32 - level)) == 0;
}

/*
 * _basket_sample_level(basket_id bigint) RETURNS integer: the highest
 * level at which the sample keeps the basket (the leading zero bits of its
 * sample hash, 0-32).  build_rules counts the baskets per level where the
 * lines are (Citus's shards) and reads only those of the level the reader
 * would choose, so that the lines outside the sample do not travel.
 */
PG_FUNCTION_INFO_V1(seg_reco_basket_sample_level);
Datum
seg_reco_basket_sample_level(PG_FUNCTION_ARGS)
{
	uint32		h = sample_hash_int(PG_GETARG_INT64(0));

	PG_RETURN_INT32(h == 0 ? 32 : 31 - pg_leftmost_one_pos32(h));
}

static int64
int_datum(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

static bool
is_int_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID;
}

static void
basket_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	BasketReceiver *r = (BasketReceiver *) self;
	Oid			bt,
				pt;

	r->statements++;
	r->selected = (operation == CMD_SELECT);
	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s query must return two columns, a basket id and a product id, not %d",
						r->fname, desc->natts),
				 errhint("For example: SELECT receipt_id, product_id FROM my_schema.receipt_lines")));
	bt = getBaseType(TupleDescAttr(desc, 0)->atttypid);
	pt = getBaseType(TupleDescAttr(desc, 1)->atttypid);
	if (!is_int_type(bt) && bt != TEXTOID && bt != VARCHAROID && bt != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s query's first column (the basket id) must be an integer or text, not %s",
						r->fname, format_type_be(TupleDescAttr(desc, 0)->atttypid)),
				 errhint("Cast it in the query, for example basket::bigint or basket::text.")));
	if (!is_int_type(pt))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s query's second column (the product id) must be an integer, not %s",
						r->fname, format_type_be(TupleDescAttr(desc, 1)->atttypid)),
				 errhint("Map product codes or names to integer ids in the query, for example dense_rank() OVER (ORDER BY code).")));
	r->basket_type = bt;
	r->product_type = pt;
	r->text_basket = !is_int_type(bt);
}

/*
 * The sample of baskets when there are more than max_baskets: the baskets
 * whose sample hash is below 2^(32 - level), for the smallest level that
 * leaves at most max_baskets.  Each time the baskets kept exceed
 * max_baskets, level goes up and the baskets (and their rows) now outside
 * the sample are dropped.  Which baskets end up in the sample depends only
 * on the set of basket ids, never on the order of the rows: a basket is
 * dropped only when the baskets below its level's bound are more than
 * max_baskets, and those only grow as rows arrive.  So the memory held is
 * about that of max_baskets baskets, whatever the query returns.
 */
static void
basket_sample_shrink(BasketReceiver *r)
{
	int32	   *newnum;
	int32		b,
				kept;
	int64		i,
				w = 0;

	do
	{
		r->level++;
		kept = 0;
		for (b = 0; b < r->n_baskets; b++)
			if (sample_keeps(r->basket_hash[b], r->level))
				kept++;
	} while (kept > r->max_baskets && r->level < 32);

	newnum = palloc(sizeof(int32) * Max(r->n_baskets, 1));
	kept = 0;
	for (b = 0; b < r->n_baskets; b++)
	{
		if (sample_keeps(r->basket_hash[b], r->level))
		{
			newnum[b] = kept;
			r->basket_hash[kept] = r->basket_hash[b];
			r->basket_key[kept] = r->basket_key[b];
			r->basket_str[kept] = r->basket_str[b];
			kept++;
		}
		else
		{
			newnum[b] = -1;
			if (r->basket_str[b] != NULL)
				pfree(r->basket_str[b]);
		}
	}
	/* the id maps again, with the baskets kept */
	if (r->text_basket)
	{
		strmap_destroy(r->basket_text);
		r->basket_text = strmap_create(r->cxt, Max(2 * kept, 1024), NULL);
		for (b = 0; b < kept; b++)
		{
			bool		found;
			StrEntry   *e = strmap_insert(r->basket_text, r->basket_str[b], &found);

			e->key = r->basket_str[b];
			e->index = b;
		}
	}
	else
	{
		idmap_destroy(r->basket_int);
		r->basket_int = idmap_create(r->cxt, Max(2 * kept, 1024), NULL);
		for (b = 0; b < kept; b++)
		{
			bool		found;

			idmap_insert(r->basket_int, r->basket_key[b], &found)->index = b;
		}
	}
	/* the rows of the baskets kept */
	for (i = 0; i < r->n; i++)
	{
		int32		nb = newnum[r->pairs[i].basket];

		if ((i & 1048575) == 1048575)
			CHECK_FOR_INTERRUPTS();
		if (nb >= 0)
		{
			r->pairs[w].basket = nb;
			r->pairs[w].item = r->pairs[i].item;
			w++;
		}
		else
			r->rows_sampled_out++;
	}
	r->n = w;
	if (r->last_b >= 0)
		r->last_b = newnum[r->last_b] >= 0 ? newnum[r->last_b] : -2;
	r->n_baskets = kept;
	pfree(newnum);
}

/*
 * A new basket (its number is n_baskets) with sample hash h and id key
 * or str: its number, or -2 when the sample drops it at once.
 */
static int32
basket_added(BasketReceiver *r, uint32 h, int64 key, char *str)
{
	int32		b = r->n_baskets++;

	if (r->max_baskets <= 0)
		return b;
	if (b == r->basket_cap)
	{
		r->basket_cap *= 2;
		r->basket_hash = repalloc_huge(r->basket_hash, sizeof(uint32) * r->basket_cap);
		r->basket_key = repalloc_huge(r->basket_key, sizeof(int64) * r->basket_cap);
		r->basket_str = repalloc_huge(r->basket_str, sizeof(char *) * r->basket_cap);
	}
	r->basket_hash[b] = h;
	r->basket_key[b] = key;
	r->basket_str[b] = str;
	if (r->n_baskets > r->max_baskets)
	{
		r->last_b = b;
		basket_sample_shrink(r);
		b = r->last_b;
	}
	return b;
}

static bool
basket_receive(TupleTableSlot *slot, DestReceiver *self)
{
	BasketReceiver *r = (BasketReceiver *) self;
	Datum	   *v;
	bool	   *nulls;
	int32		b,
				item;
	int64		pid;
	bool		found;

	slot_getallattrs(slot);
	v = slot->tts_values;
	nulls = slot->tts_isnull;
	r->rows_read++;
	if ((r->rows_read & 65535) == 0)
		CHECK_FOR_INTERRUPTS();
	if (nulls[0] || nulls[1])
	{
		r->rows_skipped++;
		return true;
	}

	if (r->text_basket)
	{
		MemoryContext old = MemoryContextSwitchTo(r->rowcxt);
		text	   *t = DatumGetTextPP(v[0]);
		int			len = VARSIZE_ANY_EXHDR(t);

		/* as below: the previous row's basket compared first */
		if (r->last_b != -1 && len == r->last_text_len &&
			memcmp(VARDATA_ANY(t), r->last_text, len) == 0)
			b = r->last_b;
		else
		{
			char	   *s = text_to_cstring(t);
			StrEntry   *e = r->max_baskets > 0 ? strmap_lookup(r->basket_text, s) : NULL;

			if (e != NULL)
				b = e->index;
			else
			{
				uint32		h = r->max_baskets > 0 ? sample_hash_text(s, len) : 0;

				if (!sample_keeps(h, r->level))
					b = -2;
				else
				{
					e = strmap_insert(r->basket_text, s, &found);
					if (!found)
					{
						if (r->n_baskets == PG_INT32_MAX)
							goto too_many;
						e->key = MemoryContextStrdup(r->cxt, s);
						e->index = r->n_baskets;
						b = basket_added(r, h, 0, e->key);
					}
					else
						b = e->index;
				}
			}
			/* the id of the previous row, kept or not */
			if (len + 1 > r->last_cap)
			{
				r->last_cap = Max(2 * r->last_cap, len + 1);
				r->last_buf = MemoryContextAlloc(r->cxt, r->last_cap);
			}
			memcpy(r->last_buf, s, len);
			r->last_text = r->last_buf;
			r->last_text_len = len;
			r->last_b = b;
		}
		MemoryContextSwitchTo(old);
		if ((r->rows_read & 1023) == 0)
			MemoryContextReset(r->rowcxt);
	}
	else
	{
		int64		key = int_datum(v[0], r->basket_type);

		/* a basket's lines mostly come together: no look-up for those */
		if (r->last_b != -1 && key == r->last_basket)
			b = r->last_b;
		else if (r->max_baskets > 0)
		{
			IdEntry    *e = idmap_lookup(r->basket_int, key);

			if (e != NULL)
				b = e->index;
			else
			{
				uint32		h = sample_hash_int(key);

				if (!sample_keeps(h, r->level))
					b = -2;
				else
				{
					if (r->n_baskets == PG_INT32_MAX)
						goto too_many;
					e = idmap_insert(r->basket_int, key, &found);
					e->index = r->n_baskets;
					b = basket_added(r, h, key, NULL);
				}
			}
			r->last_basket = key;
			r->last_b = b;
		}
		else
		{
			IdEntry    *e = idmap_insert(r->basket_int, key, &found);

			if (!found)
			{
				if (r->n_baskets == PG_INT32_MAX)
					goto too_many;
				e->index = r->n_baskets++;
			}
			b = e->index;
			r->last_basket = key;
			r->last_b = b;
		}
	}
	/* a basket outside the sample */
	if (b == -2)
	{
		r->rows_sampled_out++;
		return true;
	}

	pid = int_datum(v[1], r->product_type);
	{
		IdEntry    *e = idmap_insert(r->product, pid, &found);

		if (!found)
		{
			if (r->n_items == PG_INT32_MAX)
				goto too_many;
			if (r->n_items == r->product_cap)
			{
				r->product_cap *= 2;
				r->product_id = repalloc_huge(r->product_id, sizeof(int64) * r->product_cap);
			}
			r->product_id[r->n_items] = pid;
			e->index = r->n_items++;
		}
		item = e->index;
	}

	if (r->n == r->cap)
	{
		r->pairs = seg_reco_grow_buffer(r->cxt, &r->pairs_map, r->pairs,
										sizeof(BasketPair) * r->n, sizeof(BasketPair) * r->cap * 2);
		r->cap *= 2;
	}
	r->pairs[r->n].basket = b;
	r->pairs[r->n].item = item;
	r->n++;
	return true;

too_many:
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s reads at most %d baskets and %d products", r->fname, PG_INT32_MAX, PG_INT32_MAX),
			 errhint("Mine a sample of the baskets, or a shorter period.")));
	return false;
}

static void
basket_noop(DestReceiver *self)
{
}

typedef struct ProductSort
{
	const int64 *product_id;
} ProductSort;

static int
product_cmp(const void *a, const void *b, void *arg)
{
	const int64 *p = ((const ProductSort *) arg)->product_id;
	int64		x = p[*(const int32 *) a];
	int64		y = p[*(const int32 *) b];

	return (x > y) - (x < y);
}

/* the query text without trailing blanks and semicolons; an error when empty */
static char *
query_body(text *query, const char *fname)
{
	char	   *q = text_to_cstring(query);
	size_t		len = strlen(q);

	while (len > 0 && (q[len - 1] == ';' || isspace((unsigned char) q[len - 1])))
		q[--len] = '\0';
	while (*q != '\0' && isspace((unsigned char) *q))
		q++;
	if (*q == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s query must not be empty", fname),
				 errhint("Pass a query returning basket id and product id, for example 'SELECT receipt_id, product_id FROM seg_reco.transactions'.")));
	return q;
}

void
seg_reco_assoc_read(const char *query, const char *fname, int64 max_baskets, SegRecoBaskets *out)
{
	BasketReceiver r;
	MemoryContext cxt = CurrentMemoryContext;
	StringInfoData sql;
	SPIExecuteOptions opts;
	int			rc;
	int32	   *order,
			   *newidx,
			   *mark;
	int64		i,
				write;
	int32		bi;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = basket_receive;
	r.pub.rStartup = basket_startup;
	r.pub.rShutdown = basket_noop;
	r.pub.rDestroy = basket_noop;
	r.pub.mydest = DestNone;
	r.fname = fname;
	r.cxt = AllocSetContextCreate(cxt, "seg_reco baskets read", ALLOCSET_DEFAULT_SIZES);
	r.rowcxt = AllocSetContextCreate(r.cxt, "seg_reco baskets row", ALLOCSET_SMALL_SIZES);
	r.basket_int = idmap_create(r.cxt, 1024, NULL);
	r.last_b = -1;
	r.basket_text = strmap_create(r.cxt, 1024, NULL);
	r.product = idmap_create(r.cxt, 1024, NULL);
	r.product_cap = 1024;
	r.product_id = MemoryContextAllocHuge(r.cxt, sizeof(int64) * r.product_cap);
	r.cap = 65536;
	r.pairs = seg_reco_grow_buffer(r.cxt, &r.pairs_map, NULL, 0, sizeof(BasketPair) * r.cap);
	r.max_baskets = Max(max_baskets, 0);
	if (r.max_baskets > 0)
	{
		r.basket_cap = 1024;
		r.basket_hash = MemoryContextAllocHuge(r.cxt, sizeof(uint32) * r.basket_cap);
		r.basket_key = MemoryContextAllocHuge(r.cxt, sizeof(int64) * r.basket_cap);
		r.basket_str = MemoryContextAllocHuge(r.cxt, sizeof(char *) * r.basket_cap);
	}

	/* a subquery: one statement, and nothing but a query */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM (%s\n) seg_reco_baskets", query);
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	rc = SPI_execute_extended(sql.data, &opts);
	if ((rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY) || !r.selected || r.statements != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s query must be a single SELECT", fname),
				 errhint("Pass a query returning basket id and product id.")));
	/* SPI returns in its own context, freed by SPI_finish: back to ours */
	MemoryContextSwitchTo(cxt);
	pfree(sql.data);

	/* items numbered in product id order */
	order = seg_reco_alloc_huge(sizeof(int32) * Max(r.n_items, 1));
	for (i = 0; i < r.n_items; i++)
		order[i] = (int32) i;
	{
		ProductSort ps = {r.product_id};

		qsort_arg(order, r.n_items, sizeof(int32), product_cmp, &ps);
	}
	newidx = seg_reco_alloc_huge(sizeof(int32) * Max(r.n_items, 1));
	out->product_id = seg_reco_alloc_huge(sizeof(int64) * Max(r.n_items, 1));
	for (i = 0; i < r.n_items; i++)
	{
		newidx[order[i]] = (int32) i;
		out->product_id[i] = r.product_id[order[i]];
	}
	pfree(order);

	/* baskets: counting sort of the pairs, then each basket's items once */
	out->n_baskets = r.n_baskets;
	out->n_items = r.n_items;
	out->rows_read = r.rows_read;
	out->rows_skipped = r.rows_skipped;
	out->rows_sampled_out = r.rows_sampled_out;
	out->sample_level = r.level;
	out->offset = seg_reco_alloc_huge(sizeof(int64) * ((Size) r.n_baskets + 1));
	memset(out->offset, 0, sizeof(int64) * ((Size) r.n_baskets + 1));
	for (i = 0; i < r.n; i++)
		out->offset[r.pairs[i].basket + 1]++;
	for (bi = 0; bi < r.n_baskets; bi++)
		out->offset[bi + 1] += out->offset[bi];
	CHECK_FOR_INTERRUPTS();
	out->items = seg_reco_alloc_huge(sizeof(int32) * Max(r.n, 1));
	{
		int64	   *fill = seg_reco_alloc_huge(sizeof(int64) * r.n_baskets);

		memcpy(fill, out->offset, sizeof(int64) * r.n_baskets);
		for (i = 0; i < r.n; i++)
		{
			if ((i & 1048575) == 1048575)
				CHECK_FOR_INTERRUPTS();
			out->items[fill[r.pairs[i].basket]++] = newidx[r.pairs[i].item];
		}
		pfree(fill);
	}
	/* the rows, the id maps and the text ids */
	MemoryContextDelete(r.cxt);
	pfree(newidx);

	out->item_count = seg_reco_alloc_huge(sizeof(int32) * Max(r.n_items, 1));
	memset(out->item_count, 0, sizeof(int32) * Max(r.n_items, 1));
	mark = seg_reco_alloc_huge(sizeof(int32) * Max(r.n_items, 1));
	for (i = 0; i < r.n_items; i++)
		mark[i] = -1;
	write = 0;
	for (bi = 0; bi < r.n_baskets; bi++)
	{
		int64		from = out->offset[bi],
					to = out->offset[bi + 1],
					pos;

		if ((bi & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		out->offset[bi] = write;
		for (pos = from; pos < to; pos++)
		{
			int32		it = out->items[pos];

			if (mark[it] != bi)
			{
				mark[it] = bi;
				out->items[write++] = it;
				out->item_count[it]++;
			}
		}
	}
	out->offset[r.n_baskets] = write;
	pfree(mark);
}

/* arguments shared by association_rules and frequent_itemsets */
typedef struct AssocArgs
{
	char	   *query;
	double		min_support;
	double		min_confidence;
	int32		max_length;
	int32		min_length;
	int32		min_count;
	int64		max_itemsets;
	int64		max_baskets;	/* 0: every basket */
} AssocArgs;

static void
check_fraction(double v, const char *what, bool zero_ok)
{
	seg_reco_check_finite(v, what);
	if (v > 1.0 || v < 0.0 || (!zero_ok && v == 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be in %s1], got %g", what, zero_ok ? "[0, " : "(0, ", v),
				 zero_ok ? errhint("%s is a share of the baskets holding the left-hand side, for example 0.5.", what)
				 : errhint("%s is a share of the baskets, for example 0.001.", what)));
}

static void
check_lengths(const AssocArgs *a)
{
	if (a->max_length < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_length must be at least 1, got %d", a->max_length),
				 errhint("max_length counts the items of an itemset (of a rule: both sides); arules' default is 10.")));
	if (a->min_length < 1 || a->min_length > a->max_length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_length must be between 1 and max_length (%d), got %d",
						a->max_length, a->min_length),
				 errhint("min_length 2 leaves out single items (and rules with an empty left-hand side).")));
	if (a->min_count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_count must be at least 1, got %d", a->min_count),
				 errhint("min_count is a number of baskets an itemset must be in, besides min_support.")));
	if (a->max_itemsets < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_itemsets must be at least 1, got " INT64_FORMAT, a->max_itemsets)));
}

/*
 * baskets holding a frequent itemset: ceil(min_support x baskets), as
 * arules, and at least min_count
 */
static int32
min_count_of(const AssocArgs *a, int32 n_baskets)
{
	/* the 1e-9 absorbs a product like 0.07 x 100 that lands just above an integer */
	double		c = ceil(a->min_support * (double) n_baskets - 1e-9);

	return (int32) Max((double) a->min_count, Min(c, (double) PG_INT32_MAX));
}

static Datum
ids_array(const SegRecoBaskets *b, const int32 *items, int32 len, int32 skip)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(len, 1));
	int32		k,
				n = 0;

	for (k = 0; k < len; k++)
		if (k != skip)
			d[n++] = Int64GetDatum(b->product_id[items[k]]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/* reads and mines; work is the caller's scratch context (current) */
static void
assoc_mine(const AssocArgs *a, const char *fname, SegRecoBaskets *b, SegRecoItemsets *s)
{
	MemoryContext cxt = CurrentMemoryContext;
	instr_time	t0,
				t1;
	int32		min_count;

	INSTR_TIME_SET_CURRENT(t0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the baskets outlive SPI_finish, which frees SPI's own context */
	MemoryContextSwitchTo(cxt);
	seg_reco_assoc_read(a->query, fname, a->max_baskets, b);
	SPI_finish();
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	elog(DEBUG1, "%s: " INT64_FORMAT " rows (" INT64_FORMAT " skipped, " INT64_FORMAT " outside the sample), %d baskets (sample share 2^-%d), %d products in %.3f s",
		 fname, b->rows_read, b->rows_skipped, b->rows_sampled_out, b->n_baskets, b->sample_level,
		 b->n_items, INSTR_TIME_GET_DOUBLE(t1));
	if (b->n_baskets == 0)
	{
		memset(s, 0, sizeof(*s));
		return;
	}
	min_count = min_count_of(a, b->n_baskets);
	seg_reco_fpgrowth(b, min_count, a->max_length, a->max_itemsets, fname, s);
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	elog(DEBUG1, "%s: " INT64_FORMAT " frequent itemsets (minimum count %d) after %.3f s",
		 fname, s->n, min_count, INSTR_TIME_GET_DOUBLE(t1));
}

static void
read_common_args(FunctionCallInfo fcinfo, AssocArgs *a, int first_length_arg, const char *fname)
{
	SEG_RECO_ARG_NOT_NULL(0, "query");
	SEG_RECO_ARG_NOT_NULL(1, "min_support");
	SEG_RECO_ARG_NOT_NULL(first_length_arg, "max_length");
	SEG_RECO_ARG_NOT_NULL(first_length_arg + 1, "min_length");
	SEG_RECO_ARG_NOT_NULL(first_length_arg + 2, "min_count");
	SEG_RECO_ARG_NOT_NULL(first_length_arg + 3, "max_itemsets");
	a->min_support = PG_GETARG_FLOAT8(1);
	a->max_length = PG_GETARG_INT32(first_length_arg);
	a->min_length = PG_GETARG_INT32(first_length_arg + 1);
	a->min_count = PG_GETARG_INT32(first_length_arg + 2);
	a->max_itemsets = PG_GETARG_INT32(first_length_arg + 3);
	check_fraction(a->min_support, "min_support", false);
	check_lengths(a);
	/* max_baskets: since 0.2.0's max_baskets argument; NULL = every basket */
	a->max_baskets = 0;
	if (PG_NARGS() > first_length_arg + 4 && !PG_ARGISNULL(first_length_arg + 4))
	{
		int32		mb = PG_GETARG_INT32(first_length_arg + 4);

		if (mb < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_baskets must be at least 1, got %d", mb),
					 errdetail("max_baskets is the most baskets mined; above it a sample of them is mined."),
					 errhint("Pass NULL to mine every basket.")));
		a->max_baskets = mb;
	}
	a->query = query_body(PG_GETARG_TEXT_PP(0), fname);
}

/*
 * association_rules(query text, min_support float8, min_confidence float8,
 *                   max_length int, min_length int, min_count int,
 *                   max_itemsets int)
 * RETURNS TABLE(lhs bigint[], rhs bigint, support, confidence, lift,
 *               leverage, conviction, coverage float8, count bigint)
 */
PG_FUNCTION_INFO_V1(seg_reco_association_rules);
Datum
seg_reco_association_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AssocArgs	a;
	MemoryContext work,
				rowcxt,
				old;
	SegRecoBaskets b;
	SegRecoItemsets s;
	int64		i;
	int32	   *buf;
	double		n;

	SEG_RECO_ARG_NOT_NULL(2, "min_confidence");
	read_common_args(fcinfo, &a, 3, "association_rules");
	a.min_confidence = PG_GETARG_FLOAT8(2);
	check_fraction(a.min_confidence, "min_confidence", true);

	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco association_rules",
								 ALLOCSET_DEFAULT_SIZES);
	rowcxt = AllocSetContextCreate(work, "seg_reco association_rules row", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(work);
	assoc_mine(&a, "association_rules", &b, &s);
	n = (double) b.n_baskets;
	buf = palloc(sizeof(int32) * Max(s.max_len, 1));

	for (i = 0; i < s.n; i++)
	{
		const int32 *items = s.items + s.start[i];
		int32		len = s.len[i],
					cs = s.count[i],
					j,
					k;

		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (len < a.min_length)
			continue;
		for (j = 0; j < len; j++)
		{
			int32		y = items[j],
						cx,
						cy = b.item_count[y];
			double		conf,
						py = (double) cy / n;
			Datum		values[9];
			bool		nulls[9] = {false};

			if (len == 1)
				cx = b.n_baskets;
			else
			{
				int64		x;

				for (k = 0; k < len - 1; k++)
					buf[k] = items[k < j ? k : k + 1];
				x = seg_reco_itemset_find(&s, buf, len - 1);
				if (x < 0)
					elog(ERROR, "association_rules: a subset of a frequent itemset is missing");
				cx = s.count[x];
			}
			conf = (double) cs / (double) cx;
			if (conf < a.min_confidence - 1e-12)
				continue;
			MemoryContextReset(rowcxt);
			MemoryContextSwitchTo(rowcxt);
			values[0] = ids_array(&b, items, len, j);
			values[1] = Int64GetDatum(b.product_id[y]);
			values[2] = Float8GetDatum((double) cs / n);
			values[3] = Float8GetDatum(conf);
			values[4] = Float8GetDatum(conf * n / (double) cy);
			values[5] = Float8GetDatum((double) cs / n - ((double) cx / n) * py);
			if (cs == cx)
				nulls[6] = true;
			else
				values[6] = Float8GetDatum((1.0 - py) / (1.0 - conf));
			values[7] = Float8GetDatum((double) cx / n);
			values[8] = Int64GetDatum((int64) cs);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			MemoryContextSwitchTo(work);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;
}

/*
 * frequent_itemsets(query text, min_support float8, max_length int,
 *                   min_length int, min_count int, max_itemsets int)
 * RETURNS TABLE(items bigint[], support float8, count bigint)
 */
PG_FUNCTION_INFO_V1(seg_reco_frequent_itemsets);
Datum
seg_reco_frequent_itemsets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AssocArgs	a;
	MemoryContext work,
				rowcxt,
				old;
	SegRecoBaskets b;
	SegRecoItemsets s;
	int64		i;

	read_common_args(fcinfo, &a, 2, "frequent_itemsets");
	InitMaterializedSRF(fcinfo, 0);
	work = AllocSetContextCreate(CurrentMemoryContext, "seg_reco frequent_itemsets",
								 ALLOCSET_DEFAULT_SIZES);
	rowcxt = AllocSetContextCreate(work, "seg_reco frequent_itemsets row", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(work);
	assoc_mine(&a, "frequent_itemsets", &b, &s);

	for (i = 0; i < s.n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};

		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (s.len[i] < a.min_length)
			continue;
		MemoryContextReset(rowcxt);
		MemoryContextSwitchTo(rowcxt);
		values[0] = ids_array(&b, s.items + s.start[i], s.len[i], -1);
		values[1] = Float8GetDatum((double) s.count[i] / (double) b.n_baskets);
		values[2] = Int64GetDatum((int64) s.count[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(work);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return (Datum) 0;
}
