/*
 * interests.c
 *      Cuisine and lifestyle interests of the demo's customers.
 *
 * Each interest is a list of base items; its products are those items'
 * variants (a seeded 60% of them, the base product always), ranked by an
 * interest-specific weight (see seg_reco_demo_build_interests), not by
 * global popularity.  A customer has 1-3 interests, drawn with weights
 *   type_w[type] x taste_mult[taste] x an age factor,
 * and picks part of their free choices, favourites and theme lines from
 * them.
 *
 * Demographic tastes (since 0.2.0; demo_truth.demographic_tastes): a few
 * product lists whose favourites follow a member's age, household, county
 * and tier, so that the segments of the demographic cold start differ; see
 * seg_reco_demo_plant_demo_tastes.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "demo.h"

typedef struct Interest
{
	const char *name;
	const char *items;			/* base item names, "|"-separated */
	double		type_w[NTYPE];	/* by shopper type (order of type_name) */
	double		taste_mult[NTASTE]; /* by taste (order of taste_name) */
} Interest;

static const Interest interests[NINTEREST] = {
	{"taco og tex-mex",
		"Tortillalefser|Tacokrydder|Tacosaus|Tacoskjell|Rømme|Revet ost|Kjøttdeig|"
		"Kyllingkjøttdeig|Kjøttfri deig|Avokado|Isbergsalat|Paprika|Mais|Løk|Pepsi Max",
	{1.6, 1.0, 1.2, 1.3, 0.3}, {1, 0.6, 1.2, 0.9, 1.1}},
	{"asiatisk",
		"Mr. Lee Nudler|Nudelkopp|Wokgrønnsaker|Ris|Kylling tikka masala|Sushi|Scampi|"
		"Kyllingfilet|Hvitløk|Mango|Paprika|Kyllingvinger|Te",
	{0.8, 1.4, 0.7, 1.5, 0.3}, {1, 1.3, 0.8, 1.1, 0.9}},
	{"italiensk og pasta",
		"Spaghetti|Pastasaus|Hermetiske tomater|Olivenolje|Basilikum|Lasagne|Vegetar lasagne|"
		"Pizza Margherita|Revet ost|Sjampinjong|Hvitløk|Baguett|Salami|Pastasalat|Bacon|Matfløte|Tomater",
	{1.1, 1.3, 1.0, 1.3, 0.5}, {1, 1.3, 1.0, 1.1, 1.0}},
	{"baking",
		"Hvetemel|Sukker|Tørrgjær|Kakao|Smør|Egg|Kremfløte|Melkesjokolade|Havregryn|Frosne blåbær|"
		"Jordbærsyltetøy|Helmelk|Kanelboller|Sitroner|Pepperkaker|Julekake|Marsipan|Risengryn",
	{1.4, 0.5, 1.2, 0.4, 1.3}, {1, 1.0, 1.3, 1.2, 0.9}},
	{"sunt og proteinrikt",
		"Skyr|Gresk yoghurt|Cottage cheese|Kyllingfilet|Kalkunpålegg|Babyspinat|Brokkoli|Havregryn|"
		"Müsli|Nøttemiks|Peanøttsmør|Laksefilet|Mineralvann|Blåbær|Egg|Knekkebrød|Ekstra lett melk",
	{0.8, 1.5, 0.7, 1.1, 0.5}, {1, 1.3, 0.8, 2.0, 0.6}},
	{"kaffe og frokost",
		"Kaffe filtermalt|Kaffekapsler|Te|Rundstykker|Polarbrød|Müsli|Cornflakes|Havregrøt|"
		"Appelsinjuice|Yoghurt|Jordbærsyltetøy|Sjokoladepålegg|Kremost|Gudbrandsdalsost|Jarlsberg|Baguett|Julekake|Klementiner|Appelsiner",
	{0.8, 1.0, 1.0, 0.6, 1.6}, {1, 1.0, 0.8, 1.0, 1.0}},
	{"fisk og sjømat",
		"Laksefilet|Torskefilet|Kokte reker|Scampi|Røkelaks|Kaviar|Makrell i tomat|Rekeost|Fiskekaker|"
		"Fiskeboller|Fiskesuppe|Fiskegrateng|Frossen laks|Sitroner|Tunfisk i vann|Remulade|Sursild|Lutefisk",
	{0.9, 0.7, 1.0, 0.3, 1.7}, {1, 0.0, 0.8, 1.2, 0.7}},
	{"grill",
		"Grillpølser|Grillburger|Svinenakke marinert|Kyllingvinger|Entrecôte|Hamburgerbrød|Pølsebrød|"
		"Lomper|Grillmais|Engangsgrill|Ketchup|Sennep|Potetsalat|Pilsner|Aluminiumsfolie|Vegetarburger",
	{1.3, 0.8, 1.3, 0.7, 0.5}, {1, 0.15, 0.9, 0.8, 1.1}},
	{"snacks og kos",
		"Potetgull|Popcorn|Smågodt|Seigmenn|Twist|Smash|Coca-Cola|Pepsi Max|Solo|Nøttemiks|Troika|"
		"Stratos|Grandiosa|Melkesjokolade|Iste|Julebrus|Marsipan|Påskeegg|Kvikk Lunsj",
	{1.0, 1.0, 1.1, 1.8, 0.4}, {1, 0.8, 0.8, 0.5, 1.4}},
	{"plantebasert",
		"Havredrikk|Vegetarburger|Kjøttfri deig|Falafel|Hummus|Vegetar lasagne|Kikerter|Babyspinat|"
		"Brokkoli|Avokado|Peanøttsmør|Wokgrønnsaker|Olivenolje|Hvitløk|Rosenkål|Kålrot",
	{0.5, 1.0, 0.4, 0.9, 0.2}, {1, 8.0, 0.7, 2.0, 0.6}},
	{"barnas matpakke",
		"Sjokomelk|Leverpostei|Kokt skinke|Servelat|Norvegia|Gulost|Kneippbrød|Grovbrød|Fiskepinner|"
		"Kyllingnuggets|Bananer|Epler Røde|Yoghurt|Ballerina|Havrekjeks|Pinne-is|Husholdningssaft|"
		"Sjokoladepålegg|Pommes frites|Klementiner|Kvikk Lunsj|Pepperkaker",
	{2.2, 0.1, 0.6, 0.1, 0.1}, {1, 0.8, 1.8, 1.0, 1.0}},
	{"tradisjonsmat",
		"Kjøttkaker i brun saus|Kjøttkakemiddag|Fiskeboller|Fiskepudding|Fiskekaker|Poteter|Gulrøtter|"
		"Flatbrød|Potetlefser|Sursild|Fløtemysost|Gudbrandsdalsost|Risengrynsgrøt|Karbonadedeig|"
		"Makrell i tomat|Erter|Skolebrød|Fenalår|Husholdningssaft|Ribbe|Pinnekjøtt|Medisterkaker|"
		"Julepølse|Kålrot|Lutefisk|Risengryn|Pinnekjøtt ferdig|Lammelår|Julekake",
	{0.6, 0.3, 0.9, 0.2, 2.2}, {1, 0.3, 0.6, 0.8, 1.0}},
	{"frukt og salat",
		"Druer|Mango|Pærer|Epler Grønne|Blåbær|Jordbær|Babyspinat|Tomater|Agurk|Brokkoli|Avokado|"
		"Paprika|Sitroner|Isbergsalat|Basilikum|Epler Røde|Klementiner|Appelsiner|Rosenkål",
	{1.0, 1.0, 0.8, 0.5, 1.1}, {1, 2.0, 1.0, 2.0, 0.7}},
	{"rask middag",
		"Lasagne|Kylling tikka masala|Sushi|Pastasalat|Nudelkopp|Grandiosa|Big One|Pizza Margherita|"
		"Kyllingnuggets|Pommes frites|Potetsalat|Fiskegrateng|Fiskesuppe|Tomatsuppe|Italiensk salat|Pinnekjøtt ferdig",
	{0.7, 1.6, 0.6, 1.6, 0.6}, {1, 0.7, 0.8, 0.6, 1.3}},
	{"trening og energi",
		"Energidrikk|Skyr|Iste|Mineralvann|Farris|Nøttemiks|Kebabkjøtt|Pepsi Max|Bananer|"
		"Kyllingfilet|Cottage cheese|Peanøttsmør|Havregrøt",
	{0.3, 1.0, 0.3, 1.8, 0.1}, {1, 1.0, 0.5, 0.6, 1.0}},
	{"ost og delikatesse",
		"Jarlsberg|Kremost|Salami|Fenalår|Olivenolje|Baguett|Druer|Entrecôte|Røkelaks|Kokte reker|"
		"Kremfløte|Havrekjeks|Knekkebrød|Pærer|Pilsner|Juleøl",
	{0.8, 1.0, 1.0, 0.4, 1.0}, {1, 1.2, 0.8, 1.2, 0.5}},
	{"storhusholdning",
		"Toalettpapir|Tørkepapir|Oppvaskmiddel|Oppvaskmaskintabletter|Tøyvask|Grønnsåpe|Allrengjøring|"
		"Fryseposer|Aluminiumsfolie|Kronelys|Batterier AA|Tannkrem|Sjampo|Dusjsåpe",
	{0.9, 0.3, 1.6, 0.3, 0.7}, {1, 1.0, 1.2, 0.9, 1.4}},
};

/*
 * A sampler over the products with weight w > 0 that have one of the flags
 * in need_flags (0: any) and pass the interest filter f.
 */
static void
build_weighted_sampler(Sampler *s, const Model *m, const double *w,
					   int need_flags, int f)
{
	int			pass,
				i;
	double		c = 0;

	s->n = 0;
	for (pass = 0; pass < 2; pass++)
	{
		int			n = 0;

		for (i = 0; i < m->nprod; i++)
		{
			const Product *p = &m->prod[i];

			if (w[i] <= 0 || (need_flags && !(p->flags & need_flags)) ||
				(f == IF_ORG && !p->organic) || (f == IF_BUD && !p->budget))
				continue;
			if (pass == 1)
			{
				c += w[i];
				s->idx[n] = i;
				s->cum[n] = c;
			}
			n++;
		}
		if (pass == 0)
		{
			s->idx = palloc(sizeof(int32) * Max(n, 1));
			s->cum = palloc(sizeof(double) * Max(n, 1));
		}
		s->n = n;
	}
}

/*
 * The products of each interest and their interest-specific ranking.  An
 * interest holds the base product of each of its items and a seeded 60% of
 * the items' variants; its weight is sqrt(popularity) x an item factor
 * lognormal(0, 1.2) x a product factor lognormal(0, 1.3) (x 0.02 out of
 * season, except in the per-theme samplers), so the order inside an
 * interest differs from the global one: the square root flattens the
 * staples' lead and the two factors decide which items and which variants
 * the interest's shoppers favour.
 */
void
seg_reco_demo_build_interests(Model *m)
{
	static const int theme_flag[NTHEME] = {0, F_JUL, F_PASKE, F_GRILL, F_TACO};
	uint32	   *mask = palloc0(sizeof(uint32) * NITEMS);
	double	   *iw = palloc(sizeof(double) * NITEMS);
	double	   *w = palloc(sizeof(double) * Max(m->nprod, 1));
	int			k,
				i,
				f;

	StaticAssertStmt(lengthof(interests) == NINTEREST && NINTEREST <= 32,
					 "one entry per interest; interest masks are 32 bits");
	for (k = 0; k < NINTEREST; k++)
	{
		const char *a = interests[k].items;

		while (*a)
		{
			const char *b = strchr(a, '|');
			int			len = b ? (int) (b - a) : (int) strlen(a);

			i = seg_reco_demo_item_index(a, len);
			if (i == NITEMS)
				elog(ERROR, "demo interest \"%s\" names an unknown item \"%.*s\"",
					 interests[k].name, len, a);
			mask[i] |= (uint32) 1 << k;
			a += len + (b ? 1 : 0);
		}
	}

	for (k = 0; k < NINTEREST; k++)
	{
		pg_prng_state st;

		CHECK_FOR_INTERRUPTS();
		seed_stream(&st, m->seed, TAG_INTEREST, (uint64) k);
		for (i = 0; i < NITEMS; i++)
			iw[i] = exp(1.2 * rnorm(&st));
		for (i = 0; i < m->nprod; i++)
		{
			const Product *p = &m->prod[i];

			w[i] = 0;
			if (!(mask[p->item] & ((uint32) 1 << k)) || (p->flags & F_BAG))
				continue;
			if (i >= NITEMS && rnd(&st) >= 0.6)
				continue;
			w[i] = sqrt(p->pop) * iw[p->item] * exp(1.3 * rnorm(&st));
		}
		/* the interest's take on each theme: its products of the theme */
		for (f = TH_JUL; f < NTHEME; f++)
			build_weighted_sampler(&m->int_theme_s[k][f], m, w, theme_flag[f], IF_ALL);
		/* elsewhere seasonal products sell at 2% out of season, as in cat_s */
		for (i = 0; i < m->nprod; i++)
			if (m->prod[i].flags & F_SEASON)
				w[i] *= 0.02;
		for (f = 0; f < NIFILTER; f++)
			build_weighted_sampler(&m->int_s[k][f], m, w, 0, f);
	}
	pfree(mask);
	pfree(iw);
	pfree(w);
}

/*
 * The customer's 1-3 interests (own stream), and the share of free picks
 * that come from them.
 */
void
seg_reco_demo_draw_interests(const Customer *c, int64 cid, SimCust *s,
							 pg_prng_state *st, int64 seed)
{
	double		w[NINTEREST],
				u;
	int			age = 2025 - c->birth_year,
				n,
				k;

	seed_stream(st, seed, TAG_CUST_INTEREST, (uint64) cid);
	for (k = 0; k < NINTEREST; k++)
	{
		w[k] = interests[k].type_w[c->type] * interests[k].taste_mult[c->taste];
		if (k == I_LUNCHBOX && c->children == 0)
			w[k] *= 0.2;
		if ((k == I_ASIAN || k == I_ENERGY) && age < 30)
			w[k] *= 1.4;
		else if ((k == I_ASIAN || k == I_ENERGY) && age >= 60)
			w[k] *= 0.5;
		else if (k == I_TRAD && age >= 60)
			w[k] *= 1.4;
	}
	u = rnd(st);
	n = u < 0.30 ? 1 : u < 0.75 ? 2 : 3;
	s->ninterest = 0;
	while (s->ninterest < n)
	{
		k = pick_weighted(st, w, NINTEREST);
		if (w[k] <= 0)
			break;
		s->interest[s->ninterest++] = (uint8) k;
		w[k] = 0;
	}
	s->explore = (float) (0.30 + 0.15 * rnd(st));
}

/*
 * A product from the customer's interests (the first interest weighs most),
 * with the taste's own-brand / organic preference and the vegetarian, pet
 * and baby rules of seg_reco_demo_pick_general; -1 if none fits after a few tries.
 */
int
seg_reco_demo_pick_interest(const Model *m, const Profile *pr, const SimCust *s,
							pg_prng_state *st, int d)
{
	static const double iw[MAX_INTERESTS] = {1.0, 0.7, 0.5};
	int			tries;

	if (s->ninterest == 0)
		return -1;
	for (tries = 0; tries < 6; tries++)
	{
		int			k = s->interest[pick_weighted(st, iw, s->ninterest)],
					f = IF_ALL,
					p;
		double		r = rnd(st);
		const Product *prod;

		if (pr->taste == S_BUDGET && r < 0.6)
			f = IF_BUD;
		else if (pr->taste == S_ORGANIC && r < 0.45)
			f = IF_ORG;
		if (m->int_s[k][f].n == 0)
			f = IF_ALL;
		p = sampler_pick(&m->int_s[k][f], st);
		if (p < 0)
			continue;
		prod = &m->prod[p];
		if (!available(prod, d) || veg_reject(prod, pr, st) ||
			(prod->cat == C_DYR && !pr->pet) ||
			(prod->cat == C_BABY && pr->taste != S_BABY))
			continue;
		return p;
	}
	return -1;
}

/*
 * A theme product from the customer's own interests (e.g. pinnekjøtt and
 * kålrot for tradisjonsmat at Christmas, julebrus and marsipan for snacks og
 * kos), -1 if none of the customer's interests has products of the theme.
 */
int
seg_reco_demo_pick_theme_interest(const Model *m, const Profile *pr,
								  const SimCust *s, pg_prng_state *st,
								  int theme, int d)
{
	static const double iw[MAX_INTERESTS] = {1.0, 0.7, 0.5};
	double		w[MAX_INTERESTS];
	int			j,
				tries,
				have = 0;

	for (j = 0; j < s->ninterest; j++)
	{
		w[j] = m->int_theme_s[s->interest[j]][theme].n > 0 ? iw[j] : 0;
		have += w[j] > 0;
	}
	if (have == 0)
		return -1;
	for (tries = 0; tries < 6; tries++)
	{
		int			p = sampler_pick(&m->int_theme_s[s->interest[pick_weighted(st, w, s->ninterest)]][theme], st);

		if (p < 0 || !available(&m->prod[p], d))
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
 * Demographic tastes
 * --------------------------------------------------------------------- */
typedef struct DemoTaste
{
	const char *name;			/* in demo_truth.demographic_tastes */
	const char *items;			/* base item names, "|"-separated */
} DemoTaste;

static const DemoTaste demo_tastes[NDEMOTASTE] = {
	/* members aged 60 and over: filter coffee and traditional bread */
	{"kaffe og brød 60+", "Kaffe filtermalt|Kneippbrød|Flatbrød|Fløtemysost|Havrekjeks|Te"},
	/* households with children: the children's breakfast, lunch box and treats */
	{"barnefamilie", "Fiskepinner|Sjokoladepålegg|Leverpostei|Sjokomelk|Pinne-is|Fruktpose"},
	/* the coast from Vestland to Finnmark: fish for dinner and on bread */
	{"kystfisk", "Torskefilet|Fiskekaker|Fiskeboller|Fiskepudding|Makrell i tomat|Sursild"},
	/* gull and platina members: capsule coffee, olive oil, grapes, avocado, a good steak */
	{"premium", "Kaffekapsler|Olivenolje|Druer|Avokado|Kremost|Entrecôte"},
	/* members under 30: energy drinks, noodles, nuggets and kebab */
	{"ung", "Energidrikk|Nudelkopp|Mr. Lee Nudler|Kyllingnuggets|Kebabkjøtt|Iste"},
};

/* favourites a member gets from each of their demographic tastes */
#define DEMO_FAVOURITES 3

const char *
seg_reco_demo_demo_taste_name(int k)
{
	return demo_tastes[k].name;
}

/*
 * The products of each demographic taste: every product of its items that
 * is sold all through the two years, weighted by popularity (the items'
 * leading brands weigh most).
 */
void
seg_reco_demo_build_demo_tastes(Model *m)
{
	double	   *w = palloc(sizeof(double) * Max(m->nprod, 1));
	bool	   *in = palloc(sizeof(bool) * NITEMS);
	int			k,
				i;

	for (k = 0; k < NDEMOTASTE; k++)
	{
		const char *a = demo_tastes[k].items;

		memset(in, 0, sizeof(bool) * NITEMS);
		while (*a)
		{
			const char *b = strchr(a, '|');
			int			len = b ? (int) (b - a) : (int) strlen(a);

			i = seg_reco_demo_item_index(a, len);
			if (i == NITEMS)
				elog(ERROR, "demo taste \"%s\" names an unknown item \"%.*s\"",
					 demo_tastes[k].name, len, a);
			in[i] = true;
			a += len + (b ? 1 : 0);
		}
		for (i = 0; i < m->nprod; i++)
		{
			const Product *p = &m->prod[i];

			w[i] = (in[p->item] && p->launch <= 0 && p->delist >= NDAYS &&
					!(p->flags & F_SEASON)) ? (double) p->pop : 0;
		}
		build_weighted_sampler(&m->demo_s[k], m, w, 0, IF_ALL);
	}
	pfree(w);
	pfree(in);
}

/* which demographic tastes member c (of tier TIER_*) has: a bit mask */
uint32
seg_reco_demo_demo_tastes(const Customer *c, int tier)
{
	static const char *const coast[] = {
		"Vestland", "Møre og Romsdal", "Nordland", "Troms", "Finnmark"
	};
	const char *county = seg_reco_demo_county(c->muni);
	int			age = 2025 - c->birth_year,
				j;
	uint32		mask = 0;

	if (age >= 60)
		mask |= 1 << D_COFFEE_BREAD;
	if (c->children > 0)
		mask |= 1 << D_CHILDREN;
	if (c->taste != S_VEG)
		for (j = 0; j < (int) lengthof(coast); j++)
			if (strcmp(county, coast[j]) == 0)
				mask |= 1 << D_COAST_FISH;
	if (tier >= TIER_GULL && c->taste != S_VEG)
		mask |= 1 << D_PREMIUM;
	if (age < 30)
		mask |= 1 << D_YOUNG;
	return mask;
}

/*
 * Member cid's favourites from their demographic tastes (own stream):
 * DEMO_FAVOURITES of each, replacing the favourites of ranks 1, 2, 3, ...
 * that are not staples (the first favourite and the staples stay, so milk,
 * bread and bananas keep their place in every basket), so they are
 * re-bought like other favourites, from the first visit on.
 */
void
seg_reco_demo_plant_demo_tastes(const Model *m, const Customer *c, int64 cid,
								int tier, SimCust *s)
{
	uint32		mask = seg_reco_demo_demo_tastes(c, tier);
	pg_prng_state st;
	int			k,
				slot = 1;

	if (mask == 0)
		return;
	seed_stream(&st, m->seed, TAG_DEMOTASTE, (uint64) cid);
	for (k = 0; k < NDEMOTASTE; k++)
	{
		int			f;

		if (!(mask & ((uint32) 1 << k)) || m->demo_s[k].n == 0)
			continue;
		for (f = 0; f < DEMO_FAVOURITES; f++)
		{
			int			p = -1,
						tries,
						j;

			while (slot < REP && (m->prod[s->rep[slot]].flags & F_STAPLE))
				slot++;
			if (slot >= REP)
				return;
			for (tries = 0; tries < 8; tries++)
			{
				bool		dup = false;

				p = sampler_pick(&m->demo_s[k], &st);
				if (c->taste == S_VEG && !(m->prod[p].flags & F_VEG))
					dup = true;
				for (j = 0; j < REP; j++)
					if (s->rep[j] == p)
						dup = true;
				if (!dup)
					break;
				p = -1;
			}
			if (p < 0)
				continue;
			s->rep[slot++] = p;
		}
	}
}
