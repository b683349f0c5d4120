/*
 * tfidf.h
 *      Content vectors of products (TF-IDF, built in SQL by
 *      seg_reco.build_content) and the similarities computed from them.
 *
 * The vectors live in seg_reco.product_content; each backend caches all of
 * them, keyed by the version in seg_reco.content_version visible to the
 * current snapshot, so a rebuilt or rolled-back build is never served
 * stale.  Vectors are L2-normalised (or empty), so a cosine is a dot
 * product.  Functions that read tables run SPI: the caller is connected.
 */
#ifndef SEG_RECO_TFIDF_H
#define SEG_RECO_TFIDF_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef struct SegRecoContent
{
	int64		version;
	int			n;				/* products */
	int			n_terms;		/* largest term id + 1 (term ids start at 1) */
	int64	   *product_id;		/* ascending */
	bool	   *active;			/* as of the build */
	int64	   *offset;			/* n + 1: product i owns [offset[i], offset[i+1]) */
	int32	   *term;			/* term ids, ascending within a product */
	float	   *weight;
	/* inverted index: term t is held by postings [t_offset[t], t_offset[t+1]) */
	int64	   *t_offset;		/* n_terms + 1 */
	int32	   *t_product;		/* product indices, ascending within a term */
	float	   *t_weight;
	/*
	 * The rows again in slices of eight products, to score every product
	 * eight at a time: the products ordered by their count of nonzeros
	 * (most first); slice s holds products sl_product[8s .. 8s + 7] (-1:
	 * none) and, from sl_offset[s], their k-th nonzeros side by side at
	 * 8k .. 8k + 7, padded with term 0 (in no profile) and weight 0.
	 */
	int			n_slices;
	int32	   *sl_product;		/* 8 x n_slices */
	int64	   *sl_offset;		/* n_slices + 1 */
	int32	   *sl_term;
	float	   *sl_weight;
} SegRecoContent;

/*
 * The cached vectors of the current build; NULL when build_content has not
 * run, unless missing_ok is false (then an error with a hint).  The result
 * stays valid until the next call (which may reload and free it).
 */
extern const SegRecoContent *seg_reco_content_get(bool missing_ok);

/* index of product_id in c->product_id, or -1 */
extern int	seg_reco_content_index(const SegRecoContent *c, int64 product_id);

/* cosine of products i and j (0 when either vector is empty) */
extern double seg_reco_content_cosine(const SegRecoContent *c, int i, int j);

/* scores[j] = cosine(product i, product j) for every product j (scores[i] = 1 or 0) */
extern void seg_reco_content_similarity_row(const SegRecoContent *c, int i, double *scores);

/*
 * The customer's content profile: the normalised sum of the vectors of the
 * products bought (amount > 0, each receipt once) with ts before end
 * (DT_NOEND: everything), weighted by 0.5 ^ (age / half_life_days), age
 * counted back from the customer's latest purchase (half_life_days may be
 * +Infinity: no decay).  profile has c->n_terms entries; purchased (may be
 * NULL) has c->n entries and is set for the products bought.  Returns false
 * when the profile is empty (no purchases, or only products without text).
 */
extern bool seg_reco_content_profile(const SegRecoContent *c, int64 customer_id,
									 TimestampTz end, double half_life_days,
									 double *profile, bool *purchased);

/*
 * The same profile from a purchase list the caller has read: product ids
 * and purchase times (epoch seconds), one entry per purchase occasion.
 * Runs no SQL.
 */
extern bool seg_reco_content_profile_from(const SegRecoContent *c, int n,
										  const int64 *product_id, const double *ts,
										  double half_life_days,
										  double *profile, bool *purchased);

/* scores[j] = profile . vector j for every product (profile: c->n_terms entries) */
extern void seg_reco_content_score_all(const SegRecoContent *c, const double *profile,
									   double *scores);

#endif							/* SEG_RECO_TFIDF_H */
