/*
 * demo.h
 *      The demo generator's shared model (internal to src/demo/).
 *
 * The types every phase of the generator works on (Model, Product,
 * Customer, SimCust, Receipt, Line, ...), the seeded random streams, small
 * inline helpers, and the functions one phase calls in another.  What the
 * generator plants is documented at the top of demo.c.
 */
#ifndef SEG_RECO_DEMO_H
#define SEG_RECO_DEMO_H

#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/buffile.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "hash64.h"

#define NDAYS			731		/* 2024-01-01 .. 2025-12-31 */
#define DAY0_PGDATE		8766	/* 2024-01-01 as days since 2000-01-01 */
#define NSTORES			60
#define REP				16		/* repertoire size */
#define NWEEKS			((NDAYS + 6) / 7)

/* hash tags for independent random streams */
enum
{
	TAG_CATALOGUE = 1, TAG_CUSTOMER, TAG_VISITS, TAG_REPERTOIRE, TAG_RECEIPT,
	TAG_NONMEMBER, TAG_CAMPAIGN, TAG_EVENTS, TAG_DESC,
	/* added later: new streams, so that the ones above stay as they were */
	TAG_INTEREST, TAG_CUST_INTEREST, TAG_DISCOVER, TAG_DEMOTASTE
};

/* ---------------------------------------------------------------------
 * Product categories and item flags
 * --------------------------------------------------------------------- */
enum
{
	C_MEIERI, C_BROD, C_FRUKT, C_KJOTT, C_FISK, C_FRYS, C_DRIKKE, C_SNACKS,
	C_TORR, C_HUS, C_BABY, C_DYR, C_PLEIE, C_FERDIG, NCAT
};

#define F_STAPLE	0x0001
#define F_VEG		0x0002
#define F_TRAD		0x0004
#define F_STUDENT	0x0008
#define F_JUL		0x0010
#define F_PASKE		0x0020
#define F_GRILL		0x0040
#define F_TACO		0x0080
#define F_ORG		0x0100		/* organic variants exist */
#define F_BUD		0x0200		/* own-brand variants exist */
#define F_KG		0x0400		/* sold loose per kg */
#define F_NB		0x0800		/* product name without the brand */
#define F_SEASON	0x1000		/* sells (almost) only in its season */
#define F_BAG		0x2000		/* the bærepose */

/* table sizes, checked where the tables are (catalogue.c, customers.c) */
#define NITEMS			229		/* base_items */
#define NMUNI			54		/* munis */

/* ---------------------------------------------------------------------
 * Shopper types, tastes and interests
 * --------------------------------------------------------------------- */
enum
{
	T_FAMILY, T_DAILY, T_BULK, T_STUDENT, T_SENIOR, NTYPE
};
enum
{
	S_MAIN, S_VEG, S_BABY, S_ORGANIC, S_BUDGET, NTASTE
};
/* cuisine and lifestyle interests (interests.c) */
enum
{
	I_TACO, I_ASIAN, I_ITALIAN, I_BAKING, I_HEALTHY, I_BREAKFAST, I_SEAFOOD,
	I_GRILL, I_SNACKS, I_PLANT, I_LUNCHBOX, I_TRAD, I_FRUIT, I_QUICK,
	I_ENERGY, I_DELI, I_HOUSEHOLD, NINTEREST
};

#define MAX_INTERESTS 3

/* tastes planted by demographics (interests.c; demo_truth.demographic_tastes) */
enum
{
	D_COFFEE_BREAD, D_CHILDREN, D_COAST_FISH, D_PREMIUM, D_YOUNG, NDEMOTASTE
};
/* member tiers, lowest first (customers.c) */
enum
{
	TIER_BASIS, TIER_SOLV, TIER_GULL, TIER_PLATINA, NTIER
};
/* sampler filters inside an interest */
enum
{
	IF_ALL, IF_ORG, IF_BUD, NIFILTER
};

/* ---------------------------------------------------------------------
 * Internal model
 * --------------------------------------------------------------------- */
typedef struct Product
{
	int32		item;
	int8		brand;			/* >= 0: item brand list; < 0: own brand */
	uint8		size;
	uint8		flav;
	uint8		pack;
	bool		organic;
	bool		own_brand;
	bool		budget;			/* First Price / Xtra / Eldorado */
	uint8		cat;
	int32		flags;			/* item flags */
	int16		launch;			/* first day sold (may be < 0) */
	int16		delist;			/* first day no longer sold (NDAYS+ = never) */
	float		pop;			/* in-season popularity */
	int32		price[5];		/* øre, per price window */
	int32		launch_date;	/* launched_on as days since 2000-01-01 */
} Product;

typedef struct ItemParsed
{
	int			nsize, nbrand, nflav;
	char	   *size[8];
	double		sizef[8];
	char	   *brand[8];
	bool		brand_own[8];
	char	   *flav[8];
} ItemParsed;

/* a weighted sampling table over product indexes */
typedef struct Sampler
{
	int			n;
	int32	   *idx;
	double	   *cum;
} Sampler;

enum
{
	FL_ALL, FL_VEG, FL_ORG, FL_BUD, FL_TRAD, FL_STUDENT, NFILTER
};
enum
{
	TH_NONE, TH_JUL, TH_PASKE, TH_GRILL, TH_TACO, NTHEME
};

typedef struct Day
{
	uint8		wd;				/* 0 = Monday */
	uint8		month, mday;
	bool		closed;			/* Sunday or public holiday */
	uint8		open_h, close_h;	/* normal stores */
	float		theme_p[NTHEME];
} Day;

typedef struct Customer
{
	/* planted truth */
	uint8		type, taste;
	bool		joined_late, at_risk, churned;
	int32		churned_on;		/* day index */
	/* attributes */
	int32		member_since;	/* day index (negative: before 2024) */
	int32		birth_year;
	char		gender;
	int32		household, children;
	int32		muni, postal;
	bool		email, digital, app, pet;
	double		tier_noise;
	/* behaviour */
	int32		start, end;		/* active day range (end < start: none) */
	int32		store1, store2;
	int32		pref_wd;
	double		rate, basket, online_p;
	double		w;				/* expected lines, unscaled */
} Customer;

/* compact per-customer state kept for the whole simulation */
typedef struct SimCust
{
	int32		rep[REP];
	int16		last[REP];
	int32		last_product;
	int32		last_qty;
	uint8		type, taste, flags;
	uint8		store1;
	int16		start, end;
	uint8		ninterest;
	uint8		interest[MAX_INTERESTS];
	float		explore;		/* share of free picks from the interests */
} SimCust;

#define SC_PET		1
#define SC_DIGITAL	2
#define SC_APP		4
#define SC_ANYREC	8

typedef struct Receipt
{
	int32		cust;			/* 0 = non-member */
	int32		nlines;
	uint32		seq;
	int32		sod;			/* second of day, local time */
	uint16		day;
	uint8		store;
	uint8		online;
} Receipt;

typedef struct Line
{
	int64		line_id, receipt_id;
	int32		cust;
	int32		product;		/* index, 0-based */
	int32		store;
	int32		day, sod;
	int32		qty;			/* thousandths */
	int64		price, disc, amount;	/* øre */
	bool		online;
} Line;

typedef struct Model
{
	int32		ncust, nprod;
	int64		ntx, nev;
	int64		seed;

	ItemParsed	items[NITEMS];
	Product    *prod;
	int32		bag;			/* product index of the bærepose, or -1 */
	Sampler		cat_s[NCAT][NFILTER];
	Sampler		staple_s;
	Sampler		theme_s[NTHEME];
	Sampler		int_s[NINTEREST][NIFILTER];
	Sampler		int_theme_s[NINTEREST][NTHEME];	/* interest's theme products */
	Sampler		demo_s[NDEMOTASTE];	/* products of the demographic tastes */
	int32	   *camp_list[NWEEKS];
	int32		camp_n[NWEEKS];

	Day			cal[NDAYS];
	int32		easter[2];

	int32		store_muni[NSTORES + 1];
	bool		store_sunday[NSTORES + 1];
	int32		muni_first_store[NMUNI];
	double		muni_cum[NMUNI];
} Model;

/* what products are picked by: shopper type, taste, pet, category weights */
typedef struct Profile
{
	uint8		type, taste;
	bool		pet;
	double		cat_cum[NCAT];
} Profile;

/* the simulation, an iterator over the receipt lines (simulation.c) */
typedef struct DemoSim DemoSim;

/* records in week buckets of temporary files (spill.c) */
typedef struct DemoSpill
{
	int			nbuckets;
	Size		elemsize;
	BufFile   **files;			/* NULL: bucket not used */
	int64	   *count;
	MemoryContext cxt;			/* where the files' state lives */
} DemoSpill;

/*
 * A purchase line kept as a candidate for an anticipation chain, in 16
 * bytes: line ids fit in 32 bits (at most 500,000,000 lines), and so does
 * the moment, day * 86400 + second of day, with the online flag on top.
 */
typedef struct SampleLine
{
	uint32		line_id;
	int32		cust;
	int32		product;
	uint32		when;
} SampleLine;

#define SAMPLE_ONLINE	((uint32) 0x80000000)

/* what the digital events need of a member (fixed for the simulation) */
typedef struct EvCust
{
	uint8		type, taste, flags;
	int16		start, end;
} EvCust;

/*
 * The simulation's by-product the digital events are made from: a uniform
 * sample (reservoir) of the purchase lines of digitally active members and
 * every member's EvCust (events.c).
 */
typedef struct EvSample
{
	int64		seen;			/* candidate lines seen */
	int64		cap;			/* reservoir size */
	int64		nres;
	SampleLine *res;
	EvCust	   *cust;			/* [ncust + 1]; NULL until the plan is made */
	pg_prng_state st;
	MemoryContext cxt;			/* holds res and cust */
} EvSample;

/* ---------------------------------------------------------------------
 * Random helpers (seg_reco_mix64: hash64.h)
 * --------------------------------------------------------------------- */
static inline void
seed_stream(pg_prng_state *st, int64 seed, int tag, uint64 id)
{
	uint64		h = seg_reco_mix64((uint64) seed ^ UINT64CONST(0x5eb7ec0de0000000));

	h = seg_reco_mix64(h ^ ((uint64) tag * UINT64CONST(0x9e3779b97f4a7c15)));
	h = seg_reco_mix64(h ^ (id + UINT64CONST(0x632be59bd9b4e019)));
	pg_prng_seed(st, h);
}

static inline double
rnd(pg_prng_state *st)
{
	return pg_prng_double(st);
}

/* integer in [lo, hi] */
static inline int
rint_range(pg_prng_state *st, int lo, int hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int) pg_prng_uint64_range(st, 0, (uint64) (hi - lo));
}

static inline double
rnorm(pg_prng_state *st)
{
	double		u1 = 1.0 - pg_prng_double(st);
	double		u2 = pg_prng_double(st);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static inline int
pick_weighted(pg_prng_state *st, const double *w, int n)
{
	double		tot = 0,
				u;
	int			i;

	for (i = 0; i < n; i++)
		tot += w[i];
	u = rnd(st) * tot;
	for (i = 0; i < n - 1; i++)
	{
		if (u < w[i])
			return i;
		u -= w[i];
	}
	return n - 1;
}

static inline int
sampler_pick(const Sampler *s, pg_prng_state *st)
{
	double		u;
	int			lo = 0,
				hi;

	if (s->n == 0)
		return -1;
	u = rnd(st) * s->cum[s->n - 1];
	hi = s->n - 1;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (s->cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return s->idx[lo];
}

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */
static inline int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* price window (0-4) of day d: prices rise on 1 February and 1 July */
static inline int
price_window(int d)
{
	return (d >= 31) + (d >= 182) + (d >= 397) + (d >= 547);
}

/* campaign discount in percent for product i in the week of day d, or 0 */
static inline int
campaign_pct(const Model *m, int i, int d)
{
	uint64		h = seg_reco_mix64(seg_reco_mix64((uint64) m->seed + TAG_CAMPAIGN) ^
						  ((uint64) (d / 7) << 32 | (uint64) i));
	static const int pct[4] = {20, 25, 30, 40};

	if (h % 1000 < 25 && !(m->prod[i].flags & F_BAG))
		return pct[(h >> 20) & 3];
	return 0;
}

/* is product p sold on day d (launched, not yet delisted)? */
static inline bool
available(const Product *p, int d)
{
	return d >= p->launch && d < p->delist;
}

/* a vegetarian's (random) refusal of a product that is not vegetarian */
static inline bool
veg_reject(const Product *p, const Profile *pr, pg_prng_state *st)
{
	if (pr->taste != S_VEG || (p->flags & F_VEG))
		return false;
	if (p->cat == C_KJOTT || p->cat == C_FISK || p->cat == C_FERDIG ||
		p->cat == C_FRYS || p->cat == C_BABY)
		return rnd(st) < 0.97;
	return false;
}

/* øre as numeric NOK */
static inline Datum
money_datum(int64 ore)
{
	return NumericGetDatum(int64_div_fast_to_numeric(ore, 2));
}

/* ---------------------------------------------------------------------
 * Between the phases
 * --------------------------------------------------------------------- */
/* calendar.c */
extern int	seg_reco_demo_day_index(int year, int month, int mday);
extern TimestampTz seg_reco_demo_make_ts(int d, int sod);
extern void seg_reco_demo_build_calendar(Model *m);
extern void seg_reco_demo_build_campaigns(Model *m);

/* catalogue.c */
extern void seg_reco_demo_build_catalogue(Model *m);
extern int	seg_reco_demo_item_index(const char *name, int len);

/* interests.c */
extern void seg_reco_demo_build_interests(Model *m);
extern void seg_reco_demo_draw_interests(const Customer *c, int64 cid,
										 SimCust *s, pg_prng_state *st,
										 int64 seed);
extern int	seg_reco_demo_pick_interest(const Model *m, const Profile *pr,
										const SimCust *s, pg_prng_state *st,
										int d);
extern int	seg_reco_demo_pick_theme_interest(const Model *m, const Profile *pr,
											  const SimCust *s,
											  pg_prng_state *st, int theme,
											  int d);
extern void seg_reco_demo_build_demo_tastes(Model *m);
extern uint32 seg_reco_demo_demo_tastes(const Customer *c, int tier);
extern const char *seg_reco_demo_demo_taste_name(int k);
extern void seg_reco_demo_plant_demo_tastes(const Model *m, const Customer *c,
											int64 cid, int tier, SimCust *s);

/* customers.c */
extern void seg_reco_demo_build_geography(Model *m);
extern void seg_reco_demo_gen_customer(const Model *m, int64 cid, Customer *c);
extern void seg_reco_demo_make_profile(Profile *pr, int type, int taste,
									   bool pet);
extern int	seg_reco_demo_pick_general(const Model *m, const Profile *pr,
									   pg_prng_state *st, int d);
extern int	seg_reco_demo_pick_theme(const Model *m, const Profile *pr,
									 pg_prng_state *st, int theme, int d);
extern const char *seg_reco_demo_county(int muni);
extern double seg_reco_demo_mean_weight(const Model *m);
extern int	seg_reco_demo_tier(const Customer *c, double mean_w);

/* simulation.c */
extern void seg_reco_demo_build_repertoire(const Model *m, const Customer *c,
										   int64 cid, double mean_w,
										   SimCust *s);
extern DemoSim *seg_reco_demo_sim_begin(const Model *m, EvSample *sample);
extern const Line *seg_reco_demo_sim_next(DemoSim *sim);
extern void seg_reco_demo_sim_end(DemoSim *sim);

/* events.c */
extern EvSample *seg_reco_demo_sample_begin(const Model *m,
											MemoryContext parent);
extern void seg_reco_demo_sample_members(const Model *m, EvSample *ev,
										 const SimCust *sc);
extern void seg_reco_demo_sample_line(EvSample *ev, const Line *l);
extern void seg_reco_demo_sample_keep(const Model *m, EvSample *ev);

/* spill.c */
extern void seg_reco_demo_spill_begin(DemoSpill *s, int nbuckets,
									  Size elemsize);
extern void seg_reco_demo_spill_put(DemoSpill *s, int bucket,
									const void *elem);
extern void *seg_reco_demo_spill_take(DemoSpill *s, int bucket, int64 *n);
extern void *seg_reco_demo_spill_next(DemoSpill *s, int *bucket, int64 *n,
									  int (*cmp) (const void *, const void *));
extern void seg_reco_demo_spill_end(DemoSpill *s);

/* demo.c */
extern void seg_reco_demo_check_args(FunctionCallInfo fcinfo, Model *m);
extern void seg_reco_demo_build_model(Model *m, bool catalogue);
extern MemoryContext seg_reco_demo_begin_srf(FunctionCallInfo fcinfo,
											 int natts);
extern FuncCallContext *seg_reco_demo_begin_value_per_call(FunctionCallInfo fcinfo,
														   int natts,
														   TupleDesc *desc);

#endif							/* SEG_RECO_DEMO_H */
