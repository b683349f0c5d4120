/*
 * customers.c
 *      The demo's stores and members, and seg_reco._demo_customers and
 *      seg_reco._demo_truth.
 *
 * 60 stores in 37 municipalities; each member's planted shopper type and
 * taste, demographics, home stores and life cycle (joined late, churned, at
 * risk), all from the member's own random stream; and the taste profiles
 * products are picked by.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/tuplestore.h"

#include "demo.h"

PG_FUNCTION_INFO_V1(seg_reco_demo_customers);
PG_FUNCTION_INFO_V1(seg_reco_demo_truth);

/* ---------------------------------------------------------------------
 * Geography and stores
 * --------------------------------------------------------------------- */
typedef struct Muni
{
	const char *name;
	const char *county;
	int			pop;			/* thousands */
	int			plo, phi;		/* postal code range */
	int			stores;
} Muni;

static const Muni munis[] = {
	{"Oslo", "Oslo", 709, 150, 1295, 10},
	{"Bergen", "Vestland", 291, 5003, 5268, 5},
	{"Trondheim", "Trøndelag", 214, 7010, 7099, 4},
	{"Stavanger", "Rogaland", 146, 4001, 4099, 3},
	{"Bærum", "Akershus", 130, 1300, 1369, 2},
	{"Kristiansand", "Agder", 116, 4601, 4699, 2},
	{"Drammen", "Buskerud", 103, 3001, 3048, 2},
	{"Asker", "Akershus", 98, 1370, 1397, 1},
	{"Lillestrøm", "Akershus", 90, 2000, 2027, 1},
	{"Fredrikstad", "Østfold", 84, 1601, 1640, 2},
	{"Sandnes", "Rogaland", 83, 4301, 4329, 1},
	{"Tromsø", "Troms", 78, 9008, 9020, 2},
	{"Ålesund", "Møre og Romsdal", 67, 6002, 6030, 1},
	{"Sandefjord", "Vestfold", 65, 3201, 3239, 1},
	{"Nordre Follo", "Akershus", 62, 1400, 1420, 1},
	{"Sarpsborg", "Østfold", 59, 1701, 1747, 1},
	{"Tønsberg", "Vestfold", 58, 3101, 3128, 1},
	{"Skien", "Telemark", 55, 3701, 3735, 1},
	{"Bodø", "Nordland", 53, 8001, 8050, 1},
	{"Moss", "Østfold", 51, 1501, 1540, 1},
	{"Lørenskog", "Akershus", 48, 1470, 1479, 1},
	{"Larvik", "Vestfold", 48, 3251, 3296, 1},
	{"Indre Østfold", "Østfold", 46, 1850, 1880, 0},
	{"Arendal", "Agder", 45, 4801, 4849, 1},
	{"Karmøy", "Rogaland", 43, 4250, 4299, 1},
	{"Ullensaker", "Akershus", 42, 2050, 2070, 1},
	{"Øygarden", "Vestland", 39, 5331, 5382, 0},
	{"Haugesund", "Rogaland", 38, 5501, 5538, 1},
	{"Porsgrunn", "Telemark", 37, 3901, 3949, 1},
	{"Ringsaker", "Innlandet", 35, 2380, 2390, 0},
	{"Hamar", "Innlandet", 32, 2301, 2326, 1},
	{"Molde", "Møre og Romsdal", 32, 6401, 6419, 1},
	{"Halden", "Østfold", 31, 1751, 1792, 1},
	{"Ringerike", "Buskerud", 31, 3501, 3531, 0},
	{"Askøy", "Vestland", 30, 5300, 5321, 0},
	{"Gjøvik", "Innlandet", 30, 2801, 2837, 1},
	{"Lillehammer", "Innlandet", 29, 2601, 2636, 1},
	{"Kongsberg", "Buskerud", 28, 3601, 3617, 1},
	{"Horten", "Vestfold", 28, 3181, 3194, 0},
	{"Rana", "Nordland", 26, 8601, 8626, 1},
	{"Harstad", "Troms", 25, 9401, 9419, 1},
	{"Stjørdal", "Trøndelag", 25, 7500, 7529, 0},
	{"Kristiansund", "Møre og Romsdal", 24, 6501, 6518, 0},
	{"Steinkjer", "Trøndelag", 24, 7701, 7739, 1},
	{"Grimstad", "Agder", 24, 4876, 4887, 0},
	{"Sunnfjord", "Vestland", 22, 6800, 6826, 0},
	{"Narvik", "Nordland", 22, 8501, 8523, 0},
	{"Alta", "Finnmark", 21, 9501, 9519, 1},
	{"Elverum", "Innlandet", 21, 2401, 2418, 0},
	{"Stord", "Vestland", 19, 5401, 5417, 0},
	{"Kongsvinger", "Innlandet", 18, 2208, 2226, 0},
	{"Notodden", "Telemark", 13, 3670, 3679, 0},
	{"Hammerfest", "Finnmark", 11, 9600, 9616, 0},
	{"Vadsø", "Finnmark", 6, 9800, 9815, 0},
};
StaticAssertDecl(lengthof(munis) == NMUNI, "NMUNI in demo.h counts munis");

/* ---------------------------------------------------------------------
 * Shopper types and tastes
 * --------------------------------------------------------------------- */
static const char *const type_name[NTYPE] = {
	"weekly_family", "daily_topup", "occasional_bulk", "student", "senior"
};
static const double type_share[NTYPE] = {0.28, 0.22, 0.15, 0.13, 0.22};
/* visits per week and mean lines per visit at the reference scale */
static const double type_rate[NTYPE] = {0.072, 0.29, 0.034, 0.19, 0.145};
static const double type_basket[NTYPE] = {14.0, 3.0, 22.0, 3.5, 5.5};

static const char *const taste_name[NTASTE] = {
	"mainstream", "vegetarian", "baby", "organic", "budget"
};
static const double taste_prob[NTYPE][NTASTE] = {
	{0.38, 0.05, 0.30, 0.15, 0.12},
	{0.64, 0.12, 0.00, 0.12, 0.12},
	{0.62, 0.05, 0.00, 0.08, 0.25},
	{0.27, 0.15, 0.00, 0.03, 0.55},
	{0.73, 0.02, 0.00, 0.10, 0.15},
};

/* category multipliers by shopper type */
static const double type_cat_mult[NTYPE][NCAT] = {
	/* meieri brød frukt kjøtt fisk frys drikke snacks tørr hus baby dyr pleie ferdig */
	{1.0, 1.0, 1.1, 1.2, 1.0, 1.1, 1.0, 1.1, 1.0, 1.3, 1, 1, 1.0, 0.8},
	{1.0, 1.2, 1.0, 0.9, 0.8, 0.9, 1.2, 1.0, 0.8, 0.7, 1, 1, 0.9, 1.6},
	{0.9, 0.8, 0.9, 1.1, 0.9, 1.3, 1.1, 1.0, 1.3, 1.5, 1, 1, 1.2, 0.8},
	{0.8, 0.9, 0.6, 0.7, 0.4, 1.8, 1.5, 1.8, 1.0, 0.6, 1, 1, 0.8, 2.0},
	{1.2, 1.3, 1.0, 1.0, 1.8, 0.7, 0.9, 0.6, 1.0, 1.0, 1, 1, 1.0, 0.8},
};

/* share of freely chosen lines per category for a mainstream customer */
static const double cat_base_weight[NCAT] = {
	0.16, 0.10, 0.16, 0.10, 0.05, 0.06, 0.10, 0.07, 0.09, 0.04, 0.01, 0.03,
	0.03, 0.04
};

/* ---------------------------------------------------------------------
 * Stores and customers
 * --------------------------------------------------------------------- */
/* stores per municipality, and the municipalities' population weights */
void
seg_reco_demo_build_geography(Model *m)
{
	int			i,
				s = 1,
				k;
	double		c = 0;

	for (i = 0; i < NMUNI; i++)
	{
		m->muni_first_store[i] = munis[i].stores ? s : 0;
		for (k = 0; k < munis[i].stores; k++)
		{
			m->store_muni[s] = i;
			m->store_sunday[s] = (s % 8 == 5);
			s++;
		}
		c += munis[i].pop;
		m->muni_cum[i] = c;
	}
	Assert(s == NSTORES + 1);
}

/* a store in the municipality, else in the county, else any */
static int
pick_store(const Model *m, pg_prng_state *st, int muni, bool same_muni)
{
	int			cand[NSTORES],
				n = 0,
				s;

	if (same_muni && munis[muni].stores > 0)
		return m->muni_first_store[muni] + rint_range(st, 0, munis[muni].stores - 1);
	for (s = 1; s <= NSTORES; s++)
		if (strcmp(munis[m->store_muni[s]].county, munis[muni].county) == 0)
			cand[n++] = s;
	if (n == 0)
		return rint_range(st, 1, NSTORES);
	return cand[rint_range(st, 0, n - 1)];
}

/*
 * Member cid from its own random stream: planted type and taste, home
 * stores, demographics, digital habits, life cycle and expected behaviour.
 */
void
seg_reco_demo_gen_customer(const Model *m, int64 cid, Customer *c)
{
	pg_prng_state st;
	double		u,
				age;
	int			i;
	static const double wd_pref[6] = {0.10, 0.08, 0.10, 0.15, 0.27, 0.30};

	seed_stream(&st, m->seed, TAG_CUSTOMER, (uint64) cid);
	memset(c, 0, sizeof(*c));

	c->type = pick_weighted(&st, type_share, NTYPE);
	c->taste = pick_weighted(&st, taste_prob[c->type], NTASTE);

	/* geography */
	u = rnd(&st) * m->muni_cum[NMUNI - 1];
	for (i = 0; i < NMUNI - 1 && m->muni_cum[i] <= u; i++)
		;
	c->muni = i;
	c->postal = rint_range(&st, munis[i].plo, munis[i].phi);
	c->store1 = pick_store(m, &st, i, rnd(&st) < 0.85);
	c->store2 = pick_store(m, &st, i, rnd(&st) < 0.5);

	/* demographics consistent with the shopper type */
	switch (c->type)
	{
		case T_FAMILY:
			age = rint_range(&st, 27, 50);
			c->household = rint_range(&st, 3, 6);
			c->children = c->household - (rnd(&st) < 0.15 ? 1 : 2);
			break;
		case T_DAILY:
			age = rint_range(&st, 22, 50);
			c->household = rnd(&st) < 0.8 ? 1 : 2;
			c->children = 0;
			break;
		case T_BULK:
			age = rint_range(&st, 30, 70);
			c->household = rint_range(&st, 2, 4);
			c->children = Max(0, c->household - 2);
			break;
		case T_STUDENT:
			age = rint_range(&st, 18, 26);
			u = rnd(&st);
			c->household = u < 0.6 ? 1 : u < 0.9 ? 2 : 3;
			c->children = 0;
			break;
		default:
			age = rint_range(&st, 66, 90);
			c->household = rnd(&st) < 0.45 ? 1 : 2;
			c->children = 0;
			break;
	}
	c->birth_year = 2025 - (int) age;
	u = rnd(&st);
	c->gender = u < 0.50 ? 'F' : u < 0.96 ? 'M' : 'U';
	c->digital = rnd(&st) < (age < 30 ? 0.65 : age < 45 ? 0.50 : age < 65 ? 0.35 : 0.15);
	c->app = rnd(&st) < (age < 45 ? 0.75 : 0.40);
	c->email = rnd(&st) < (c->digital ? 0.55 : 0.30);
	c->pet = rnd(&st) < 0.28;
	c->pref_wd = pick_weighted(&st, wd_pref, 6);
	if (c->digital)
	{
		static const double op[NTYPE] = {0.33, 0.11, 0.30, 0.10, 0.09};

		c->online_p = op[c->type];
	}
	else
		c->online_p = 0.03;

	/* life cycle */
	u = rnd(&st);
	if (u < 0.10)
	{
		c->joined_late = true;
		c->member_since = rint_range(&st, seg_reco_demo_day_index(2025, 7, 1),
									  seg_reco_demo_day_index(2025, 12, 16));
		c->start = c->member_since;
	}
	else if (u < 0.18)
	{
		c->member_since = rint_range(&st, 0, seg_reco_demo_day_index(2025, 6, 30));
		c->start = c->member_since;
	}
	else
	{
		c->member_since = -1 - (int) floor(5843.0 * pow(rnd(&st), 1.5));
		c->start = 0;
	}
	c->end = NDAYS - 1;
	c->churned_on = -1;
	u = rnd(&st);
	if (!c->joined_late)
	{
		int			last_churn = seg_reco_demo_day_index(2025, 6, 30);
		int			first_churn = Max(c->start + 60, 40);

		if (u < 0.15 / 0.90 && first_churn <= last_churn)
		{
			c->churned = true;
			c->churned_on = rint_range(&st, first_churn, last_churn);
			c->end = c->churned_on - 1;
		}
		else if (u >= 0.15 / 0.90 && u < 0.23 / 0.90)
		{
			int			e = NDAYS - 1 - rint_range(&st, 90, 180);

			if (e >= c->start + 30)
			{
				c->at_risk = true;
				c->end = e;
			}
		}
	}

	/* expected behaviour */
	c->rate = type_rate[c->type] * exp(0.4 * rnorm(&st) - 0.08);
	c->basket = type_basket[c->type] * exp(0.25 * rnorm(&st) - 0.03);
	c->tier_noise = exp(0.25 * rnorm(&st));
	if (c->end >= c->start)
		c->w = c->rate * (c->end - c->start + 1) / 7.0 * c->basket;
}

/* ---------------------------------------------------------------------
 * Picking products
 * --------------------------------------------------------------------- */
/* the category weights of a shopper type and taste (pet owners buy dyremat) */
void
seg_reco_demo_make_profile(Profile *pr, int type, int taste, bool pet)
{
	int			c;
	double		cum = 0;

	pr->type = type;
	pr->taste = taste;
	pr->pet = pet;
	for (c = 0; c < NCAT; c++)
	{
		double		w = cat_base_weight[c] * type_cat_mult[type][c];

		if (c == C_BABY)
			w = (taste == S_BABY) ? 0.12 : 0.002;
		if (c == C_DYR && !pet)
			w = 0;
		if (taste == S_VEG && (c == C_KJOTT || c == C_FISK))
			w *= 0.02;
		if (taste == S_VEG && c == C_FRUKT)
			w *= 1.5;
		if (taste == S_ORGANIC && c == C_FRUKT)
			w *= 1.2;
		cum += w;
		pr->cat_cum[c] = cum;
	}
}

/*
 * A product by the profile's category weights, often through the taste's
 * or type's filter (vegetarian, organic, budget, traditional, student);
 * available on day d unless 8 tries found none.
 */
int
seg_reco_demo_pick_general(const Model *m, const Profile *pr,
						   pg_prng_state *st, int d)
{
	int			tries,
				p = -1;

	for (tries = 0; tries < 8; tries++)
	{
		double		u = rnd(st) * pr->cat_cum[NCAT - 1];
		int			c,
					f = FL_ALL;
		double		r = rnd(st);

		for (c = 0; c < NCAT - 1 && pr->cat_cum[c] <= u; c++)
			;
		if (pr->taste == S_VEG && r < 0.7)
			f = FL_VEG;
		else if (pr->taste == S_ORGANIC && r < 0.45)
			f = FL_ORG;
		else if (pr->taste == S_BUDGET && r < 0.6)
			f = FL_BUD;
		else if (pr->type == T_SENIOR && r < 0.4)
			f = FL_TRAD;
		else if (pr->type == T_STUDENT && r < 0.4)
			f = FL_STUDENT;
		if (m->cat_s[c][f].n == 0)
			f = FL_ALL;
		p = sampler_pick(&m->cat_s[c][f], st);
		if (p < 0)
			continue;
		if (!available(&m->prod[p], d) || veg_reject(&m->prod[p], pr, st))
			continue;
		return p;
	}
	return p >= 0 ? p : 0;
}

/* a product of the theme available on day d that fits the profile, or -1 */
int
seg_reco_demo_pick_theme(const Model *m, const Profile *pr, pg_prng_state *st,
						 int theme, int d)
{
	int			tries;

	for (tries = 0; tries < 6; tries++)
	{
		int			p = sampler_pick(&m->theme_s[theme], st);

		if (p < 0)
			return -1;
		if (!available(&m->prod[p], d))
			continue;
		if (pr->taste == S_VEG && !(m->prod[p].flags & F_VEG))
			continue;
		if (m->prod[p].cat == C_DYR && !pr->pet)
			continue;
		return p;
	}
	return -1;
}

/* ---------------------------------------------------------------------
 * seg_reco._demo_customers and seg_reco._demo_truth
 * --------------------------------------------------------------------- */
static const char *const tier_name[NTIER] = {"basis", "sølv", "gull", "platina"};

/* member tier (TIER_*) from expected spend against the mean (mean_w) */
int
seg_reco_demo_tier(const Customer *c, double mean_w)
{
	double		r = (mean_w > 0 ? c->w / mean_w : 0) * c->tier_noise;

	if (r > 2.2)
		return TIER_PLATINA;
	if (r > 1.3)
		return TIER_GULL;
	if (r > 0.7)
		return TIER_SOLV;
	return TIER_BASIS;
}

/* the members' mean expected lines (unscaled): the tiers' yardstick */
double
seg_reco_demo_mean_weight(const Model *m)
{
	double		W = 0;
	int32		cid;
	Customer	c;

	for (cid = 1; cid <= m->ncust; cid++)
	{
		if (cid % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
		seg_reco_demo_gen_customer(m, cid, &c);
		W += c.w;
	}
	return W / m->ncust;
}

/* the county of municipality muni */
const char *
seg_reco_demo_county(int muni)
{
	return munis[muni].county;
}

Datum
seg_reco_demo_customers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				rowcxt,
				old;
	double		mean_w;
	int32		cid;
	Customer	c;

	cxt = seg_reco_demo_begin_srf(fcinfo, 11);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	seg_reco_demo_check_args(fcinfo, m);
	seg_reco_demo_build_model(m, false);
	rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_SMALL_SIZES);

	mean_w = seg_reco_demo_mean_weight(m);
	for (cid = 1; cid <= m->ncust; cid++)
	{
		Datum		values[11];
		bool		nulls[11] = {0};
		char		buf[8];
		char		g[2];

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		seg_reco_demo_gen_customer(m, cid, &c);
		MemoryContextSwitchTo(rowcxt);
		snprintf(buf, sizeof(buf), "%04d", c.postal);
		g[0] = c.gender;
		g[1] = '\0';
		values[0] = Int64GetDatum(cid);
		values[1] = DateADTGetDatum(DAY0_PGDATE + c.member_since);
		values[2] = Int32GetDatum(c.birth_year);
		values[3] = CStringGetTextDatum(g);
		values[4] = Int32GetDatum(c.household);
		values[5] = Int32GetDatum(c.children);
		values[6] = CStringGetTextDatum(buf);
		values[7] = CStringGetTextDatum(munis[c.muni].name);
		values[8] = CStringGetTextDatum(munis[c.muni].county);
		values[9] = CStringGetTextDatum(tier_name[seg_reco_demo_tier(&c, mean_w)]);
		values[10] = BoolGetDatum(c.email);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/*
 * The planted truth per member.  Since 0.2.0 a seventh column,
 * demographic_tastes (text[]); a database still at 0.1.0 asks for the
 * first six.
 */
Datum
seg_reco_demo_truth(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				rowcxt,
				old;
	int32		cid;
	int			natts;
	double		mean_w = 0;
	Customer	c;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	natts = rsinfo->setDesc->natts;
	if (natts != 6 && natts != 7)
		elog(ERROR, "return type must have 6 or 7 columns");
	cxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco demo data",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	seg_reco_demo_check_args(fcinfo, m);
	seg_reco_demo_build_model(m, false);
	if (natts == 7)
		mean_w = seg_reco_demo_mean_weight(m);
	rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(old);

	for (cid = 1; cid <= m->ncust; cid++)
	{
		Datum		values[7];
		bool		nulls[7] = {0};
		Datum		tastes[NDEMOTASTE];
		int			nt = 0,
					k;

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		seg_reco_demo_gen_customer(m, cid, &c);
		values[0] = Int64GetDatum(cid);
		old = MemoryContextSwitchTo(rowcxt);
		values[1] = CStringGetTextDatum(type_name[c.type]);
		values[2] = CStringGetTextDatum(taste_name[c.taste]);
		values[3] = BoolGetDatum(c.joined_late);
		if (c.churned)
			values[4] = DateADTGetDatum(DAY0_PGDATE + c.churned_on);
		else
			nulls[4] = true;
		values[5] = BoolGetDatum(c.at_risk);
		if (natts == 7)
		{
			uint32		mask = seg_reco_demo_demo_tastes(&c, seg_reco_demo_tier(&c, mean_w));

			for (k = 0; k < NDEMOTASTE; k++)
				if (mask & ((uint32) 1 << k))
					tastes[nt++] = CStringGetTextDatum(seg_reco_demo_demo_taste_name(k));
			values[6] = PointerGetDatum(construct_array(tastes, nt, TEXTOID, -1, false,
														TYPALIGN_INT));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
