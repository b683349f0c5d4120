/*
 * reco.h
 *      What the three files of the hybrid recommender share (internal to
 *      them): the sources and the scratch of a blend (reco_blend.c), the
 *      products a call ranks and how a list is chosen from them
 *      (reco_select.c), both used by the SQL entry points (reco_serve.c).
 *
 * A call ranks a universe of products: the ALS model's and the content
 * build's, merged by id.  Arrays "per universe product" are indexed like
 * Universe.id.
 */
#ifndef SEG_RECO_RECO_H
#define SEG_RECO_RECO_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

#include "als_model.h"
#include "nbr.h"
#include "tfidf.h"

/* the sources a blend weighs */
enum
{
	SRC_ALS = 0,
	SRC_CONTENT,
	SRC_POP,
	SRC_BA,
	SRC_NB,
	SRC_UPCF,					/* UP-CF@r's neighbours, products new to the customer (nbr.c) */
	SRC_SEASON,					/* the customer's products bought a year before the coming weeks */
	N_SRC
};

/*
 * The season (SRC_SEASON): receipts in [end - SEASON_YEAR_DAYS,
 * end - SEASON_YEAR_DAYS + SEASON_WINDOW_DAYS), end = as_of's end
 */
#define SEASON_YEAR_DAYS 365.0
#define SEASON_WINDOW_DAYS 28.0

typedef struct HybridWeights
{
	double		w[N_SRC];
	double		history_prior;	/* receipts at which ALS and buy-again count half */
} HybridWeights;

/* The products a blend ranks: the model's and the content build's, merged */
typedef struct Universe
{
	int			n;
	int64	   *id;				/* ascending */
	int32	   *ai;				/* index in the ALS model or -1 */
	int32	   *ci;				/* index in the content build or -1 */
	bool		als_all;		/* ai[j] == j for every j: the model's products alone */
	bool		content_all;	/* ci[j] == j for every j: the content build's alone */
	int			n_runs;			/* runs of consecutive model products: */
	int32	   *run_u;			/* universe index of the run's first */
	int32	   *run_a;			/* its model index */
	int32	   *run_len;
	int			n_missing;		/* the products the model lacks (ai[j] < 0) */
	int32	   *missing;
	double	   *pop_raw;		/* the model's popularity (0 for products it lacks) */
	double	   *pop_all;		/* normalised over every product */
	int32	   *dense;			/* id - id[0] -> index or -1 (NULL: ids too sparse) */
	uint64		dense_span;		/* id[n - 1] - id[0] */
} Universe;

/* One customer's purchase occasions (distinct receipts per product) */
typedef struct Occasions
{
	int			n;
	const int64 *pid;			/* sorted by product, then time */
	const double *ts;			/* epoch seconds */
	int			n_receipts;		/* distinct times, or -1: the blend counts them */
} Occasions;

/* One purchase line of a customer: product and time (epoch seconds) */
typedef struct OccRow
{
	int64		pid;
	double		ts;
} OccRow;

/* Per-product facts needed to select: active flag and category */
typedef struct ProductMeta
{
	bool	   *known;			/* fetched */
	bool		all_known;		/* every product fetched: seg_reco_meta_fetch does nothing */
	bool		need_cat;		/* fetch categories too (else active flags alone; default true) */
	bool	   *active;
	int32	   *cat;			/* category number, -1 = none */
	int			n_cats;
	char	  **cats;
	int			cap_cats;
} ProductMeta;

/* Scratch and results of one blend, reused across customers */
typedef struct Blend
{
	double	   *norm[N_SRC];	/* normalised source scores, per universe product
								 * (popularity may point to the universe's: read only) */
	double	   *pop_scratch;	/* room for popularity over the allowed products */
	double		w_eff[N_SRC];
	double	   *score;			/* the blended score */
	double	   *boost;			/* extra weight per universe product (or NULL) */
	double	   *profile;		/* content profile (n_terms) */
	double	   *cscore;			/* content scores by content index */
	double	   *als;			/* ALS scores by model index */
	double	   *ts_scratch;		/* room for a customer's occasions: the caller sets it */
	double	   *nb_scratch;		/* as much again, for the next-basket vector (caller) */
	int64	   *nb_pid;			/* as much again (caller) */
	bool		cold;			/* the cold-start list was used */
	bool		fallback;		/* the last blend: no source applied (the caller serves the cold start) */
	char	   *cold_label;		/* per universe product: 1 cold start, 2 popularity */
} Blend;

/* scratch of select_list, one per worker of recommend_all */
typedef struct SelectScratch
{
	int32	   *buf;			/* u->n each */
	double	   *maxsim;
	bool	   *taken;
	int		   *per_cat;		/* n_cats + 1 */
} SelectScratch;

/* index of id among the universe's products, or -1 */
/* task-safe: see threads.h */
static inline int
universe_index(const Universe *u, int64 id)
{
	int			lo = 0,
				hi = u->n - 1;

	/* ids of a dense range (the usual catalogue): one look-up */
	if (u->dense != NULL)
	{
		uint64		off = (uint64) id - (uint64) u->id[0];

		return off <= u->dense_span ? u->dense[off] : -1;
	}

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (u->id[mid] == id)
			return mid;
		if (u->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* ---- reco_blend.c ---- */

/*
 * The weights of one call: the built-in defaults of the mode, replaced by
 * the setting hybrid_weights' object, replaced by jb (the call's weights,
 * or NULL); an object is whole (a source it leaves out weighs 0).
 * notice: a NOTICE names the sources an object leaves out.
 */
extern void seg_reco_resolve_weights(Jsonb *jb, bool include_purchased, HybridWeights *hw,
									 bool notice);

/*
 * The model's products merged with the content build's (c may be NULL), and
 * their popularity: cached per backend, keyed by the versions of both (read
 * only; valid until the next call).
 */
extern const Universe *seg_reco_universe_get(const SegRecoAlsModel *m, const SegRecoContent *c);

extern void seg_reco_blend_init(Blend *b, const Universe *u, const SegRecoAlsModel *m,
								const SegRecoContent *c);

/*
 * Blend the sources for one customer into b->score over allowed products.
 * The caller sets b->ts_scratch (room for o->n doubles) first: plain C on
 * prepared arrays, so recommend_all's tasks run it.  When no source
 * applies (no receipt, ALS weighed by none), b->fallback is set and the
 * score is popularity: the caller serves the cold start instead
 * (seg_reco_cold_start, on the backend's thread).
 */
extern void seg_reco_blend_customer(Blend *b, const Universe *u, const SegRecoAlsModel *m,
									const SegRecoContent *c, const HybridWeights *hw,
									const double *x, const double *als, const Occasions *o,
									const NbInput *nb, double end, bool use_history,
									bool buy_again, const bool *allowed);

/*
 * ALS alone over every product: the blend at the candidates of
 * seg_reco_als_screen and the first p of the list's pool (-1: blend in
 * full instead).  fv: room for nc doubles.  Plain C: tasks run it.
 */
extern int	seg_reco_blend_als_pool(Blend *b, const Universe *u, const HybridWeights *hw,
									const Occasions *o, bool use_history, const int32 *cand,
									const double *exact, int nc, double lo, double hi, double sup,
									int p, int32 *pool, double *fv);

/* a customer without history: the demographic list, then popularity */
extern void seg_reco_cold_start(Blend *b, const Universe *u, const SegRecoAlsModel *m,
								int64 customer_id, bool demographic, double *disp);

/* the contributions of the sources (and the boost) to product j's score: N_SRC + 1 */
extern void seg_reco_row_contributions(const Blend *b, int j, double *con);

/* text[] of the sources whose contribution is at least 10% of the total, largest first */
extern Datum seg_reco_sources_datum(const double *con);

/* the same in two steps: which sources, in order, as a key; its text[] */
extern uint32 seg_reco_sources_key(const double *con);
extern Datum seg_reco_sources_datum_key(uint32 key);

/* the same for universe product j of the last blend (or cold start) */
extern Datum seg_reco_row_sources(const Blend *b, int j);

/* ---- reco_serve.c ---- */

/*
 * Purchase lines (amount > 0) before end (epoch seconds): one customer's,
 * or every member's (one false) grouped by customer, customers ascending.
 * *cust and *rows get n rows.  SPI connected.
 */
extern void seg_reco_read_occasions(bool one, int64 customer_id, ArrayType *only, double end,
									int64 **cust, OccRow **rows, int64 *n);
/* every customer's purchase lines in blocks of customers, in bounded memory (reco_serve.c) */
typedef struct OccStream OccStream;
extern OccStream *seg_reco_occ_open(ArrayType *only, double end);
extern bool seg_reco_occ_next(OccStream *s, int64 **cust, OccRow **rows, int64 *n);
extern void seg_reco_occ_close(OccStream *s);

/*
 * One customer's lines rows[0..n-1] as occasions: sorted by product and
 * time, one per product and time; pid and ts get them, returns the count.
 */
extern int	seg_reco_tidy_occasions(OccRow *rows, int n, int64 *pid, double *ts);

/* ---- reco_select.c ---- */

extern void seg_reco_meta_init(ProductMeta *pm, int n, bool known);

/* active flag and category of the given universe products (all when which is NULL) */
extern void seg_reco_meta_fetch(ProductMeta *pm, const Universe *u, const int32 *which, int n);

extern void seg_reco_select_scratch_init(SelectScratch *sc, const Universe *u, const ProductMeta *pm);

/*
 * Choose up to k products of score among allowed: pool, inactive skipped,
 * per-category cap, maximal marginal relevance.  out gets universe indexes
 * in list order; returns the count.  Fetches the facts of the pool's
 * products as needed.
 */
extern int	seg_reco_select_list(const Universe *u, const SegRecoContent *c, const double *score,
								 bool *allowed, int k, bool only_active, int max_per_cat,
								 double diversity, ProductMeta *pm, int32 *out);

/*
 * The same with scratch sc (seg_reco_select_scratch_init) and the facts of
 * every product already in pm: no PostgreSQL call (recommend_all's tasks).
 */
extern int	seg_reco_select_list_prepared(const Universe *u, const SegRecoContent *c,
										  const double *score, const bool *allowed, int k,
										  bool only_active, int max_per_cat, double diversity,
										  const ProductMeta *pm, int32 *out, SelectScratch *sc);

/*
 * Every product allowed: the size of the first pool seg_reco_select_list_prepared
 * ranks for k; and the choice from that pool given (best first): the count,
 * or -1 when the pool would have to widen (choose with the whole scores).
 */
extern int	seg_reco_select_pool_size(const Universe *u, int k, bool only_active, int max_per_cat,
									  double diversity);
extern int	seg_reco_select_from_given_pool(const Universe *u, const SegRecoContent *c,
											const double *score, const int32 *pool, int np, int k,
											bool only_active, int max_per_cat, double diversity,
											const ProductMeta *pm, int32 *out, SelectScratch *sc);

/* best k model products of scores among allowed, inactive ones skipped when only_active */
extern int	seg_reco_top_k_filtered(const SegRecoAlsModel *m, const double *scores, bool *allowed,
									int k, bool only_active, int32 *out);

/* boost jsonb {"product_id": extra weight} per universe product (NULL for NULL) */
extern double *seg_reco_parse_boost(Jsonb *jb, const Universe *u);

/* allowed[j] = false for the ids of a bigint[] (keep = false), or only them (keep = true) */
extern void seg_reco_apply_id_list(ArrayType *arr, const Universe *u, bool *allowed, bool keep,
								   const char *what);

/* allowed[j] &= product j is in category (and active when only_active) */
extern void seg_reco_restrict_to_category(const Universe *u, const char *category, bool only_active,
										  bool *allowed);

#endif							/* SEG_RECO_RECO_H */
