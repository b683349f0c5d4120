/*
 * assoc.h
 *      Frequently bought together: baskets read from a query (assoc.c) and
 *      frequent itemsets mined from them with FP-growth (assoc_fpgrowth.c).
 *
 * Items are dense indices 0..n_items-1 in ascending product id order, so
 * an itemset written as ascending item indices is also in ascending
 * product id order, whatever order the query returned its rows in.
 */
#ifndef SEG_RECO_ASSOC_H
#define SEG_RECO_ASSOC_H

#include "postgres.h"

/* The baskets of a query: sets of items, one basket per distinct basket id. */
typedef struct SegRecoBaskets
{
	int32		n_baskets;
	int32		n_items;		/* distinct products */
	int64	   *product_id;		/* n_items, ascending */
	int32	   *item_count;		/* n_items: baskets holding the item */
	int64	   *offset;			/* n_baskets + 1: basket b holds items[offset[b] .. offset[b+1]) */
	int32	   *items;			/* each basket's items, distinct, in no order */
	int64		rows_read;
	int64		rows_skipped;	/* a NULL basket or product id */
	int64		rows_sampled_out;	/* rows of baskets outside the sample */
	int			sample_level;	/* the sample: baskets whose sample hash is below
								 * 2^(32 - sample_level), a share of about
								 * 2^-sample_level; 0 = every basket */
} SegRecoBaskets;

/*
 * Frequent itemsets: itemset s holds items[start[s] .. start[s] + len[s]),
 * ascending, and lies in count[s] baskets.  Sorted by length, then by the
 * items (so the itemsets of one length are in lexicographic order).
 */
typedef struct SegRecoItemsets
{
	int64		n;
	int64	   *start;
	int32	   *len;
	int32	   *count;
	int32	   *items;
	int32		max_len;
	int64	   *len_first;		/* max_len + 2: the itemsets of length l are len_first[l] .. len_first[l+1]-1 */
} SegRecoItemsets;

/*
 * Reads the baskets of query, which must return two columns: a basket id
 * (smallint, integer, bigint, text, varchar or char) and a product id
 * (smallint, integer or bigint).  Rows with a NULL in either are skipped; a
 * product twice in a basket counts once.  With max_baskets > 0 and more
 * baskets than that, a sample of at most max_baskets of them, chosen by a
 * hash of the basket id (the same ids give the same sample; assoc.c,
 * basket_sample_shrink).  fname names the caller in errors.
 * The caller is connected to SPI; results in CurrentMemoryContext (which
 * must not be SPI's own: SPI_finish frees that).
 */
extern void seg_reco_assoc_read(const char *query, const char *fname, int64 max_baskets,
								SegRecoBaskets *out);

/*
 * Every itemset of at most max_length items held by at least min_count
 * baskets (FP-growth, Han, Pei & Yin 2000).  An error (naming fname) when
 * there are more than max_itemsets.  Results in CurrentMemoryContext.
 */
extern void seg_reco_fpgrowth(const SegRecoBaskets *b, int32 min_count, int32 max_length,
							  int64 max_itemsets, const char *fname, SegRecoItemsets *out);

/* index of the itemset with these len ascending items, or -1 */
extern int64 seg_reco_itemset_find(const SegRecoItemsets *s, const int32 *items, int32 len);

#endif							/* SEG_RECO_ASSOC_H */
