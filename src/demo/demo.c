/*
 * demo.c
 *      Deterministic generator of a realistic Norwegian grocery data set:
 *      what it plants, the argument checks and the model every entry point
 *      builds first.
 *
 * seg_reco.generate_demo_data() (plpgsql, in the install script) fills the
 * source tables from five set-returning functions defined in src/demo/
 * (customers.c, catalogue.c, simulation.c, events.c):
 *
 *   seg_reco._demo_customers, _demo_products, _demo_transactions,
 *   _demo_digital_events, _demo_truth
 *
 * All five take the same arguments (customers, products, transactions,
 * digital_events, seed) and rebuild the same internal model from them, so
 * their outputs are consistent with each other.  All randomness comes from
 * pg_prng (xoroshiro128**) seeded from hashes of (seed, purpose, id); there
 * is no dependence on time, locale or call order, so the same arguments give
 * byte-identical rows.
 *
 * One file per phase: calendar.c (days, opening hours, holidays, themes,
 * campaigns), catalogue.c (products), interests.c, customers.c (stores,
 * members, taste profiles), simulation.c (receipts and their lines),
 * events.c (digital events) and spill.c (week buckets in temporary files);
 * demo.h holds the model they share.
 *
 * WHAT IS PLANTED (documented for the README; proportions are targets, the
 * realised shares vary a little with the seed and the scale)
 *
 * Period: 2024-01-01 00:00 to 2025-12-31 23:59 Europe/Oslo (731 days).
 *   Timestamps are Oslo local time converted with the EU DST rule (+01/+02).
 *   Stores open Mon-Fri 07-23, Sat 08-22; Sundays and public holidays
 *   (nyttårsdag, skjærtorsdag, langfredag, påskedag, 2. påskedag, 1. mai,
 *   17. mai, Kristi himmelfart, 2. pinsedag, 1. and 2. juledag) closed except
 *   at 7 of the 60 stores (small "søndagsåpne" stores, 10-21).  Christmas Eve
 *   closes at 14, New Year's Eve at 15, Easter Saturday at 18.  Visits that
 *   would fall on a closed day move to the day before, which makes Saturdays
 *   and days before holidays busier.  Online orders (channel 'online', ~8% of
 *   receipts, ~1.8x bigger baskets) can be placed on any day, 06-24.
 *
 * Stores: 60 stores in 37 municipalities (store_id 1..60); a customer has a
 *   home store in or near their municipality (~75% of visits) and a second
 *   store.  Online orders are attributed to the home store.
 *
 * Customers (ids 1..N), in 54 municipalities of all 15 counties (2024
 *   county list), weighted by population, with a plausible postal code of
 *   the municipality.  Planted shopper types (demo_truth.shopper_type):
 *     weekly_family   28%  big baskets (~14 lines, big shop 20 + top-ups 6),
 *                          big shop on a preferred day (mostly Fri/Sat),
 *                          top-ups Tue-Thu; household 3-6, children >= 1
 *     daily_topup     22%  small baskets (~3 lines), the most visits;
 *                          singles aged 22-50, evenings
 *     occasional_bulk 15%  very large baskets (~22 lines), the fewest visits,
 *                          mostly Saturdays; more household/frozen/dry goods
 *     student         13%  small cheap baskets (~3.5 lines): noodles, frozen
 *                          pizza, energy drinks, snacks; ages 18-26; 55%
 *                          price-sensitive
 *     senior          22%  regular weekday-morning visits (~5.5 lines),
 *                          traditional products (brunost, flatbrød, fisk);
 *                          ages 66-90
 *   Receipts per customer order: daily_topup > student > senior >
 *   weekly_family > occasional_bulk.  At the default scale (811,465 lines
 *   for 10,000 customers, i.e. the chain gets part of each household's
 *   shopping) visit frequencies are proportionally lower than a household's
 *   total grocery trips; when transactions/customers grows, visit rates grow
 *   (and baskets a little: basket scale = clamp(f^0.3, 0.5, 2)).
 *   Tastes (demo_truth.taste), drawn per shopper type:
 *     mainstream ~54%; budget ~20% (prefer First Price/Xtra/Eldorado, 60% of
 *     their free picks, more campaign items); organic ~11% (45% of free picks
 *     organic where available); vegetarian ~7% (meat and fish picks are
 *     rejected 97% of the time, repertoire has none, 70% of picks in ready
 *     meals/frozen are vegetarian); baby ~8% (only families: baby category
 *     ~12% of their lines).  28% of customers own a pet (only they buy
 *     dyremat).
 *   Repeat purchases: each customer has a personal repertoire of 16
 *     favourite products (staples weighted up) with an affinity decreasing by
 *     rank and a re-buy cycle (7 days for staples, 18 otherwise); each visit
 *     includes a favourite with probability affinity * clamp(days since last
 *     bought / cycle, 0.15, 1.5), up to 75% of the basket.
 *   Interests (personal discovery; not in demo_truth): each customer has
 *     1-3 of 17 cuisine/lifestyle interests (30% one, 45% two, 25% three;
 *     ~1.95 on average): taco og tex-mex, asiatisk, italiensk og pasta,
 *     baking, sunt og proteinrikt, kaffe og frokost, fisk og sjømat, grill,
 *     snacks og kos, plantebasert, barnas matpakke, tradisjonsmat, frukt og
 *     salat, rask middag, trening og energi, ost og delikatesse,
 *     storhusholdning.  Each is held by 8-13% of customers, drawn with
 *     weights by shopper type x taste x age, so they depend on them without
 *     following from them: e.g. barnas matpakke ~28% of families (rare
 *     without children), tradisjonsmat ~39% and fisk og sjømat ~23% of
 *     seniors, trening og energi ~28% and snacks og kos ~24% of students,
 *     plantebasert for most vegetarians, fisk og sjømat for none.  An
 *     interest is a list of 13-29 base items (interests[]); its products are
 *     the base products and a seeded 60% of the items' variants, ranked by
 *     their own weight sqrt(popularity) x item factor lognormal(0, 1.2) x
 *     product factor lognormal(0, 1.3), so the top of an interest is not the
 *     top of the chain.  30-45% (uniform per customer) of a customer's free
 *     picks come from their interests (the first interest weighs 1, the
 *     second 0.7, the third 0.5; own-brand/organic preference and the
 *     vegetarian rule as in other picks), and so do ~35% of the non-staple
 *     favourites.  Repertoire drift: 15% of free picks from the interests
 *     become a favourite, replacing one of ranks 9-16, so favourites change
 *     over time.  Half of a customer's theme lines (below) come from their
 *     interests' products of the theme when they have any (tradisjonsmat:
 *     ribbe, pinnekjøtt, kålrot; baking: pepperkaker, marsipan; snacks og
 *     kos: julebrus, påskeegg; grill and taco: their theme items; ...).
 *   Demographic tastes (demo_truth.demographic_tastes, since 0.2.0): three
 *     favourites (in place of those of ranks 1, 2, ... that are not
 *     staples) from each taste the member's
 *     demographics give: "kaffe og brød 60+" (aged 60+), "barnefamilie"
 *     (children at home), "kystfisk" (Vestland, Møre og Romsdal, Nordland,
 *     Troms, Finnmark), "premium" (tier gull or platina), "ung" (under 30);
 *     drawn from the products of a few items sold all through the period,
 *     weighted by popularity (interests.c); vegetarians get only
 *     vegetarian products.  So the demographic cold start's segments
 *     differ (and beat global popularity for customers without history).
 *   Life cycle: ~10% joined_late (member_since 2025-07-01..2025-12-16, no
 *     purchases before); ~8% more joined during 2024-01..2025-06; ~15%
 *     churned (demo_truth.churned_on between 60 days after joining and
 *     2025-06-30, no purchase on or after it); ~8% at_risk (last possible
 *     purchase 90-180 days before 2025-12-31; churned_on NULL).
 *   member_tier follows expected spend (basis < sølv < gull < platina);
 *   ~40% are digitally active (65% under 30, 15% over 65).
 *
 * Products: 14 categories with subcategories, ~200 base items with real
 *   Norwegian brands; further products are variants (other brands, own
 *   brands First Price/Xtra/Eldorado (budget, ~0.7-0.8x price), Jacobs
 *   Utvalgte (premium, 1.35x), Änglamark (organic), "Økologisk" variants,
 *   sizes, flavours, multipacks).  The first products round-robin over the
 *   categories so every category exists even in small catalogues.
 *   Popularity is long-tailed (item weight x brand rank x lognormal(0,0.9)),
 *   staples (melk, brød, egg, bananer, smør, kaffe) far ahead.  ~3% of
 *   non-core products inactive (delisted during the period, sold before
 *   that); ~8% launched during the period (not sold before launched_on).
 *   Prices rise at the Norwegian price windows (1 Feb and 1 Jul) by 0-4.5%
 *   per product; products.unit_price is the price at the end of 2025.
 *   ~1% of descriptions NULL and ~1% empty.
 *
 * Seasonality and themes (per receipt: a themed receipt gets 1-5 lines from
 *   the theme): Christmas (ribbe, pinnekjøtt, julebrus, risengryn,
 *   pepperkaker, marsipan, ...: 25% of receipts Dec 1-14, 55% Dec 15-23);
 *   Easter (påskeegg, Kvikk Lunsj, appelsiner, lammelår: 45% of receipts in
 *   the week before Easter 2024-03-31 / 2025-04-20); summer grilling (pølser,
 *   grillmat, is, lomper: 12% of receipts Jun-Aug, 30% on Fri/Sat, 20%
 *   before 17. mai); Friday taco (lefser, tacosaus, tacokrydder, kjøttdeig,
 *   rømme: 30% of Friday receipts, 10% Saturdays, 4% other days).
 *   Seasonal-only products sell at 2% of their in-season rate outside it.
 *   Half of the theme lines of customers whose interests have products of
 *   the theme come from those (see Interests above).
 *   Customers move one visit into 19-23 December (and with 50% one into the
 *   Easter week) when they shop then.
 * Promotions: each week ~2.5% of products are on campaign (20-40% off:
 *   discount > 0 on every line of a campaign product that week); 5% of free
 *   picks (12% for budget customers) come from the week's campaign list.
 * Returns: ~0.5% of lines (negative quantity and amount, discount 0, a
 *   product from the customer's previous receipt, in a later receipt).
 * Free items: ~0.1% of lines have amount 0 (a free bærepose or campaign
 *   gift: discount = full price).
 * Non-members: 2% of lines are in receipts with customer_id NULL.
 * Quantities: 1-3 mostly (families and bulk shoppers buy more); loose
 *   fruit/vegetables, ribbe and pinnekjøtt sold per kg with 3 decimals.
 *   amount = round(quantity * unit_price - discount, 2).
 * Ids: line_id 1..n and receipt_id 1..m in time order.
 *
 * Digital events (only digitally active customers): ~60% of events are
 *   planted "anticipation" chains: for a random sample of purchase lines, a
 *   view 10 minutes to 6 days before the purchase (minutes before for online
 *   orders), then click (55%) and add_to_cart (45%; 90% for online orders)
 *   of the same product in the same session.  The rest are browsing sessions
 *   in the customer's active period: 80% start with a Norwegian search
 *   ("melk", "taco", "glutenfri brød", "ribbe" in December, ...), 1-4 views
 *   in the searched category/theme or from the customer's taste, clicks (30%
 *   of views), adds to cart (35% of clicks) and removals (30% of adds).
 *   Overall about 51% view, 22% click, 19% add_to_cart, 7% search,
 *   1% remove_from_cart.  App for most younger
 *   customers, web for most older.  event_id 1..n in time order; session_id
 *   numbered by first event.
 *
 * Scale: transactions and digital_events are free arguments, but
 * generate_demo_data defaults them to the reference density (811,465 lines
 * and 50,000 events per 10,000 customers), so that any number of customers
 * gets the same realism: visit rates and baskets follow lines per
 * customer, not the number of customers.
 *
 * Memory: ~130 bytes per customer (SimCust, and 8 bytes of EvCust for the
 * events), ~80 bytes per product, and for the digital events 16 bytes per
 * sampled purchase line (0.6 per event) and 4 per session.  Receipts (20
 * bytes) and events (32 bytes) wait in week buckets of temporary files
 * (spill.c), so only one week of them is in memory at a time; lines are made
 * a chunk of receipts at a time.  _demo_transactions and
 * _demo_digital_events return a row per call, so that generate_demo_data
 * streams them into the tables (select-list calls); the other helpers
 * fill a tuplestore, which spills beyond work_mem.  _demo_transactions
 * keeps its sample of lines for _demo_digital_events with the same
 * arguments in the same transaction (events.c), which then needs no second
 * simulation.
 */
#include "postgres.h"

#include "funcapi.h"

#include "demo.h"

/* ---- limits (keep in sync with generate_demo_data in the install script) */
#define MAX_CUSTOMERS		5000000
#define MIN_PRODUCTS		50
#define MAX_PRODUCTS		1000000
/* receipt numbers (Receipt.seq) and sampled line ids are 32-bit */
#define MAX_TRANSACTIONS	INT64CONST(500000000)
#define MAX_EVENTS			INT64CONST(50000000)

/* ---------------------------------------------------------------------
 * Argument checks and model construction
 * --------------------------------------------------------------------- */
/* the SQL arguments (checked against the limits) into a fresh model */
void
seg_reco_demo_check_args(FunctionCallInfo fcinfo, Model *m)
{
	int64		cust = PG_GETARG_INT32(0);
	int64		prod = PG_GETARG_INT32(1);
	int64		tx = PG_GETARG_INT64(2);
	int64		ev = PG_GETARG_INT64(3);

	if (cust < 1 || cust > MAX_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customers must be between 1 and %d, got " INT64_FORMAT,
						MAX_CUSTOMERS, cust),
				 errhint("Call seg_reco.generate_demo_data(), which documents the limits.")));
	if (prod < MIN_PRODUCTS || prod > MAX_PRODUCTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("products must be between %d and %d, got " INT64_FORMAT,
						MIN_PRODUCTS, MAX_PRODUCTS, prod),
				 errhint("Call seg_reco.generate_demo_data(), which documents the limits.")));
	if (tx < 0 || tx > MAX_TRANSACTIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transactions must be between 0 and " INT64_FORMAT ", got " INT64_FORMAT,
						MAX_TRANSACTIONS, tx),
				 errhint("Call seg_reco.generate_demo_data(), which documents the limits.")));
	if (ev < 0 || ev > MAX_EVENTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digital_events must be between 0 and " INT64_FORMAT ", got " INT64_FORMAT,
						MAX_EVENTS, ev),
				 errhint("Call seg_reco.generate_demo_data(), which documents the limits.")));
	memset(m, 0, sizeof(*m));
	m->ncust = (int32) cust;
	m->nprod = (int32) prod;
	m->ntx = tx;
	m->nev = ev;
	m->seed = PG_GETARG_INT64(4);
}

/*
 * What every entry point builds first: the calendar and the stores, and
 * with catalogue the products, the weekly campaigns and the interests.
 */
void
seg_reco_demo_build_model(Model *m, bool catalogue)
{
	seg_reco_demo_build_calendar(m);
	seg_reco_demo_build_geography(m);
	if (catalogue)
	{
		seg_reco_demo_build_catalogue(m);
		seg_reco_demo_build_campaigns(m);
		seg_reco_demo_build_interests(m);
		seg_reco_demo_build_demo_tastes(m);
	}
}

/* set up materialize mode and a private scratch context */
MemoryContext
seg_reco_demo_begin_srf(FunctionCallInfo fcinfo, int natts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (rsinfo->setDesc->natts != natts)
		elog(ERROR, "return type must have %d columns", natts);
	return AllocSetContextCreate(CurrentMemoryContext, "seg_reco demo data",
								 ALLOCSET_DEFAULT_SIZES);
}

/*
 * The first call of a value-per-call helper (_demo_transactions,
 * _demo_digital_events): its FuncCallContext, and in *desc its row type of
 * natts columns, blessed, in the multi-call context.
 */
FuncCallContext *
seg_reco_demo_begin_value_per_call(FunctionCallInfo fcinfo, int natts,
								   TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FuncCallContext *funcctx;
	MemoryContext old;
	TupleDesc	d;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_ValuePerCall))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	funcctx = SRF_FIRSTCALL_INIT();
	old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	if (get_call_result_type(fcinfo, NULL, &d) != TYPEFUNC_COMPOSITE ||
		d->natts != natts)
		elog(ERROR, "return type must be a row type with %d columns", natts);
	*desc = BlessTupleDesc(d);
	MemoryContextSwitchTo(old);
	return funcctx;
}
