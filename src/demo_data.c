/*
 * demo_data.c
 *      Deterministic generator of a realistic Norwegian grocery data set.
 *
 * seg_reco.generate_demo_data() (plpgsql, in the install script) fills the
 * source tables from five set-returning functions defined here:
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
 * Memory: ~120 bytes per customer, ~80 bytes per product, 20 bytes per
 * receipt, 32 bytes per digital event, all in a private memory context;
 * result rows stream into the tuplestore (which spills to disk).
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(seg_reco_demo_customers);
PG_FUNCTION_INFO_V1(seg_reco_demo_products);
PG_FUNCTION_INFO_V1(seg_reco_demo_transactions);
PG_FUNCTION_INFO_V1(seg_reco_demo_digital_events);
PG_FUNCTION_INFO_V1(seg_reco_demo_truth);

/* ---- limits (keep in sync with generate_demo_data in the install script) */
#define MAX_CUSTOMERS		5000000
#define MIN_PRODUCTS		50
#define MAX_PRODUCTS		1000000
#define MAX_TRANSACTIONS	INT64CONST(100000000)
#define MAX_EVENTS			INT64CONST(20000000)

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
	TAG_INTEREST, TAG_CUST_INTEREST, TAG_DISCOVER
};

/* ---------------------------------------------------------------------
 * Catalogue of base items
 * --------------------------------------------------------------------- */
enum
{
	C_MEIERI, C_BROD, C_FRUKT, C_KJOTT, C_FISK, C_FRYS, C_DRIKKE, C_SNACKS,
	C_TORR, C_HUS, C_BABY, C_DYR, C_PLEIE, C_FERDIG, NCAT
};

static const char *const cat_name[NCAT] = {
	"meieri", "brød og bakevarer", "frukt og grønt", "kjøtt", "fisk og sjømat",
	"frysevarer", "drikke", "snacks og godteri", "tørrvarer", "husholdning",
	"baby", "dyremat", "personlig pleie", "ferdigmat"
};

/* share of freely chosen lines per category for a mainstream customer */
static const double cat_base_weight[NCAT] = {
	0.16, 0.10, 0.16, 0.10, 0.05, 0.06, 0.10, 0.07, 0.09, 0.04, 0.01, 0.03,
	0.03, 0.04
};

static const char *const cat_phrase[NCAT][3] = {
	{"Oppbevares kjølig.", "Fra norske gårder.", "God kilde til kalsium og protein."},
	{"Bakt hver dag.", "Rik på fiber og fullkorn.", "Passer til frokost og matpakke."},
	{"Fersk og sprø.", "Full av vitaminer.", "Skyll før bruk."},
	{"Norsk kjøtt.", "Oppbevares kjølig, 0-4 °C.", "Stekes gjennom før servering."},
	{"Fra kalde, klare norske farvann.", "Rik på omega-3.", "Oppbevares kjølig."},
	{"Oppbevares fryst, -18 °C.", "Rask middag rett fra fryseren.", "Kan tilberedes i ovn."},
	{"Serveres godt avkjølt.", "Pant på flasken.", "Perfekt til måltidet."},
	{"Perfekt til kosekvelden.", "Til helgekosen.", "Del med venner."},
	{"Lang holdbarhet.", "Et godt basisprodukt i skapet.", "Oppbevares tørt."},
	{"Effektiv i bruk.", "Praktisk i hjemmet.", "Svanemerket."},
	{"Skånsom mot sart babyhud.", "Tilpasset de minste.", "Trygt for barn."},
	{"Komplett fôr med vitaminer.", "Dyrlegeanbefalt.", "Gir sunn pels og gode tenner."},
	{"Parfymefri.", "Dermatologisk testet.", "Til daglig bruk."},
	{"Klar på få minutter.", "Varmes i mikro eller ovn.", "Hjemmelaget smak."}
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

typedef struct BaseItem
{
	int			cat;
	const char *sub;
	const char *name;
	const char *sizes;			/* "1 l|1,75 l*1.6": size and price factor */
	const char *brands;			/* "-" = unbranded */
	const char *flavours;
	double		price;			/* NOK (per kg for F_KG) */
	int			flags;
	double		pop;
	const char *desc;
} BaseItem;

#define ST F_STAPLE
#define VG F_VEG
#define TR F_TRAD
#define SU F_STUDENT
#define JU F_JUL
#define PA F_PASKE
#define GR F_GRILL
#define TA F_TACO
#define OR F_ORG
#define BU F_BUD
#define KG F_KG
#define NB F_NB
#define SE F_SEASON

static const BaseItem base_items[] = {
	/* meieri */
	{C_MEIERI, "melk", "Lettmelk", "1 l|1,75 l*1.6|0,5 l*0.6", "Tine|Q-Meieriene", "", 23.9, ST | VG | OR | BU, 100, "Frisk lettmelk med 0,5 % fett, god til frokost og matlaging."},
	{C_MEIERI, "smør og margarin", "Smør", "500 g|250 g*0.55", "Tine", "Usaltet|Meierismør", 54.9, ST | VG | TR | BU, 45, "Ekte meierismør laget av fløte fra norske kyr."},
	{C_MEIERI, "egg", "Egg", "12 stk|6 stk*0.55|18 stk*1.4", "Prior|Gårdsegg", "", 49.9, ST | VG | OR | BU, 70, "Norske egg fra frittgående høner, perfekt til frokost og baking."},
	{C_MEIERI, "ost", "Norvegia", "1 kg|500 g*0.55", "Tine", "|Lett|Skivet", 119.9, ST | VG | TR | NB, 45, "Mild og smidig norsk hvitost, Norges mest kjøpte ost."},
	{C_MEIERI, "ost", "Gudbrandsdalsost", "500 g|1 kg*1.9", "Tine", "|Lett", 79.9, VG | TR | NB, 30, "Klassisk brunost med karamellisert smak, god på vafler og brødskiva."},
	{C_MEIERI, "fløte og rømme", "Rømme", "300 g", "Tine|Q-Meieriene", "Lett|Seterrømme|Original", 24.9, VG | TA | BU, 25, "Syrnet rømme, perfekt i taco, dressing og til vafler."},
	{C_MEIERI, "yoghurt", "Yoghurt", "4 x 125 g|500 g*1.3", "Tine|Q-Meieriene|Synnøve", "Jordbær|Vanilje|Blåbær|Bringebær|Skogsbær", 32.9, VG | OR | BU, 30, "Kremet yoghurt med bær, god til frokost og mellommåltid."},
	{C_MEIERI, "melk", "Helmelk", "1 l|1,75 l*1.6", "Tine|Q-Meieriene", "", 25.9, VG | TR | OR | BU, 35, "Helmelk med 3,5 % fett og fyldig smak."},
	{C_MEIERI, "melk", "Ekstra lett melk", "1 l", "Tine|Q-Meieriene", "", 23.9, VG | BU, 25, "Ekstra lett melk med 0,1 % fett."},
	{C_MEIERI, "melk", "Havredrikk", "1 l", "Oatly|Tine|Alpro", "|Barista|Sjokolade", 29.9, VG | OR | BU, 12, "Plantebasert drikk laget av svensk havre, et alternativ til melk."},
	{C_MEIERI, "yoghurt", "Gresk yoghurt", "500 g|1 kg*1.8", "Q-Meieriene|Tine", "Naturell|Honning", 34.9, VG | BU, 15, "Tykk og kremet gresk yoghurt med høyt proteininnhold."},
	{C_MEIERI, "yoghurt", "Skyr", "160 g|500 g*2.4", "Q-Meieriene|Tine", "Vanilje|Blåbær|Naturell|Jordbær", 17.9, VG | SU, 15, "Islandsk inspirert skyr, proteinrik og mager."},
	{C_MEIERI, "ost", "Jarlsberg", "700 g|400 g*0.6", "Tine", "|Lett|Skivet", 109.9, VG | TR | NB, 20, "Mild og nøtteaktig ost med store hull."},
	{C_MEIERI, "ost", "Gulost", "1 kg|500 g*0.55", "Synnøve|Tine", "|Lett|Skivet", 109.9, VG | BU, 25, "Hverdagsost til brødskiva og matpakken."},
	{C_MEIERI, "ost", "Revet ost", "300 g|150 g*0.55", "Synnøve|Tine", "Gulost|Pizzaost|Mozzarella", 44.9, VG | TA | BU, 20, "Revet ost som smelter fint, til taco, pizza og gratenger."},
	{C_MEIERI, "ost", "Kremost", "200 g", "Tine|Synnøve", "Naturell|Hvitløk|Paprika", 29.9, VG, 8, "Smørbar kremost til brødskiva og matlaging."},
	{C_MEIERI, "ost", "Rekeost", "250 g", "Kavli", "", 39.9, TR | NB, 12, "Smøreost på tube med smak av reker."},
	{C_MEIERI, "ost", "Fløtemysost", "500 g", "Tine", "", 74.9, VG | TR | NB, 10, "Mild brunost laget av fløte og myse."},
	{C_MEIERI, "smør og margarin", "Bremykt", "500 g|250 g*0.55", "Mills", "|Lett", 39.9, VG | NB, 25, "Smørbart margarin, godt på brødskiva og i stekepanna."},
	{C_MEIERI, "fløte og rømme", "Matfløte", "3 dl|5 dl*1.5", "Tine|Q-Meieriene", "", 19.9, VG | BU, 15, "Matfløte som tåler koking, til sauser og supper."},
	{C_MEIERI, "fløte og rømme", "Kremfløte", "3 dl|5 dl*1.5", "Tine|Q-Meieriene", "", 27.9, VG | BU, 12, "Kremfløte til pisking, dessert og saus."},
	{C_MEIERI, "ost", "Cottage cheese", "400 g", "Tine|Q-Meieriene", "|Mager", 32.9, VG, 8, "Mild og frisk cottage cheese med høyt proteininnhold."},
	{C_MEIERI, "melk", "Sjokomelk", "0,5 l|1 l*1.7", "Tine|Q-Meieriene", "", 21.9, VG | SU, 10, "Kald sjokolademelk til turen og mellommåltidet."},
	/* brød og bakevarer */
	{C_BROD, "brød", "Grovbrød", "750 g", "Bakers|Mesterbakeren", "|Med solsikkekjerner|Ekstra grovt", 39.9, ST | VG | OR | BU, 80, "Saftig grovbrød med mye fullkorn, bakt på norsk mel."},
	{C_BROD, "brød", "Kneippbrød", "750 g", "Bakers|Mesterbakeren", "", 32.9, ST | VG | TR | BU, 45, "Tradisjonelt kneippbrød, en klassiker på norske frokostbord."},
	{C_BROD, "lefser og flatbrød", "Tortillalefser", "8 stk|6 stk*0.8", "Old El Paso|Santa Maria", "|Fullkorn|Store", 29.9, VG | TA | BU, 35, "Myke hvetetortillas til taco, wraps og burritos."},
	{C_BROD, "kaker", "Pepperkaker", "500 g|300 g*0.65", "Annas|Bakers", "", 39.9, VG | JU | SE | BU, 25, "Sprø pepperkaker med kanel og ingefær, en del av norsk jul."},
	{C_BROD, "lefser og flatbrød", "Lomper", "10 stk", "Mors|Bakers", "", 24.9, VG | TR | GR, 20, "Myke potetlomper, best rundt grillpølsa."},
	{C_BROD, "knekkebrød", "Knekkebrød", "520 g|260 g*0.55", "Wasa|Sigdal", "Sport|Rug|Havre|Frokost", 29.9, VG | BU, 30, "Sprø knekkebrød av fullkorn."},
	{C_BROD, "brød", "Loff", "500 g", "Bakers|Mesterbakeren", "", 29.9, VG | BU, 20, "Luftig hvitt brød med sprø skorpe."},
	{C_BROD, "brød", "Havrebrød", "750 g", "Bakers|Mesterbakeren", "", 37.9, VG, 25, "Mykt brød bakt med havre."},
	{C_BROD, "rundstykker og boller", "Rundstykker", "6 stk|10 stk*1.5", "Bakers|Mesterbakeren", "Grove|Lyse", 34.9, VG | BU, 20, "Ferske rundstykker til helgefrokosten."},
	{C_BROD, "rundstykker og boller", "Kanelboller", "4 stk", "Bakers|Mesterbakeren", "", 39.9, VG, 15, "Søte kanelboller bakt med smør og kardemomme."},
	{C_BROD, "lefser og flatbrød", "Flatbrød", "275 g", "Ideal|Mors", "|Tynne", 32.9, VG | TR, 12, "Tynt og sprøtt flatbrød etter gammel oppskrift."},
	{C_BROD, "brød", "Glutenfritt brød", "400 g", "Schär|Semper", "|Grovt", 49.9, VG, 6, "Glutenfritt brød for deg som må unngå gluten."},
	{C_BROD, "kaker", "Julekake", "500 g", "Bakers|Mesterbakeren", "", 49.9, VG | JU | SE | TR, 10, "Julekake med rosiner, sukat og kardemomme."},
	{C_BROD, "rundstykker og boller", "Hamburgerbrød", "4 stk|8 stk*1.6", "Bakers|Mesterbakeren", "", 24.9, VG | GR | BU, 15, "Myke hamburgerbrød med sesamfrø."},
	{C_BROD, "rundstykker og boller", "Pølsebrød", "10 stk", "Bakers|Mesterbakeren", "", 22.9, VG | GR | BU, 15, "Klassiske pølsebrød til grillpølser."},
	{C_BROD, "lefser og flatbrød", "Potetlefser", "10 stk", "Mors|Bakers", "", 39.9, VG | TR, 8, "Myke potetlefser, gode med smør og sukker."},
	{C_BROD, "rundstykker og boller", "Skolebrød", "4 stk", "Bakers|Mesterbakeren", "", 44.9, VG | TR, 8, "Boller med vaniljekrem og kokos."},
	{C_BROD, "brød", "Baguett", "stk", "Bakers|Mesterbakeren", "|Steinovnsbakt", 24.9, VG, 10, "Fransk baguett med sprø skorpe."},
	{C_BROD, "brød", "Polarbrød", "8 stk", "Polarbröd", "", 34.9, VG, 8, "Myke runde brød fra Nord-Sverige."},
	/* frukt og grønt */
	{C_FRUKT, "frukt", "Bananer", "", "-|Bama", "", 24.9, ST | VG | OR | KG, 95, "Modne bananer, et sunt mellommåltid."},
	{C_FRUKT, "frukt", "Appelsiner", "", "-|Bama", "", 29.9, VG | PA | OR | KG, 30, "Saftige appelsiner, rike på C-vitamin. Påskens frukt."},
	{C_FRUKT, "grønnsaker", "Agurk", "stk", "-|Bama", "", 14.9, ST | VG | OR | TA, 55, "Sprø norsk agurk til salat og matpakke."},
	{C_FRUKT, "poteter og rotgrønnsaker", "Poteter", "2 kg|1 kg*0.6", "Bama|Gårdsprodukt", "Mandelpoteter|Kokepoteter|Nypoteter", 34.9, ST | VG | TR | OR | BU, 50, "Norske poteter til middag, koking og ovnsbaking."},
	{C_FRUKT, "frukt", "Epler Røde", "1 kg", "Bama", "", 34.9, VG | OR | BU, 35, "Søte og sprø røde epler."},
	{C_FRUKT, "grønnsaker", "Tomater", "500 g|250 g*0.6", "Bama", "|Cherry|Plomme", 29.9, ST | VG | OR, 45, "Modne tomater med god smak."},
	{C_FRUKT, "salat og urter", "Isbergsalat", "stk", "-|Bama", "", 24.9, VG | TA, 30, "Sprø isbergsalat til taco og salat."},
	{C_FRUKT, "grønnsaker", "Paprika", "stk|3 stk*2.4", "-|Bama", "Rød|Gul|Grønn", 14.9, VG | TA, 30, "Søt og sprø paprika."},
	{C_FRUKT, "frukt", "Klementiner", "", "-|Bama", "", 34.9, VG | JU | KG, 20, "Søte klementiner, julens frukt."},
	{C_FRUKT, "poteter og rotgrønnsaker", "Kålrot", "", "-", "", 24.9, VG | JU | TR | KG, 6, "Norsk kålrot, til kålrotstappe og pinnekjøtt."},
	{C_FRUKT, "poteter og rotgrønnsaker", "Gulrøtter", "1 kg|500 g*0.6", "Bama", "", 24.9, VG | TR | OR | BU, 35, "Søte og sprø norske gulrøtter."},
	{C_FRUKT, "grønnsaker", "Løk", "1 kg", "Bama", "Gul|Rød", 22.9, VG | BU, 30, "Gul løk, basis i nesten all matlaging."},
	{C_FRUKT, "frukt", "Avokado", "2 stk|stk*0.55", "Bama", "", 29.9, VG | TA | OR, 20, "Moden avokado, klar til guacamole."},
	{C_FRUKT, "frukt", "Druer", "500 g", "Bama", "Grønne|Røde", 39.9, VG, 18, "Søte, steinfrie druer."},
	{C_FRUKT, "frukt", "Epler Grønne", "", "-", "", 32.9, VG | KG, 12, "Friske grønne epler med syrlig smak."},
	{C_FRUKT, "frukt", "Pærer", "", "-|Bama", "", 36.9, VG | KG, 10, "Saftige pærer."},
	{C_FRUKT, "frukt", "Sitroner", "3 stk", "Bama", "", 19.9, VG, 10, "Friske sitroner til matlaging og drikke."},
	{C_FRUKT, "grønnsaker", "Brokkoli", "400 g", "Bama", "", 24.9, VG | OR, 20, "Grønn brokkoli, rik på vitaminer."},
	{C_FRUKT, "grønnsaker", "Sjampinjong", "250 g", "Bama", "", 24.9, VG, 12, "Hvite sjampinjonger til saus og pizza."},
	{C_FRUKT, "bær", "Jordbær", "400 g", "Bama", "", 44.9, VG | GR | SE, 15, "Norske jordbær, søte og solmodne."},
	{C_FRUKT, "bær", "Blåbær", "125 g", "Bama", "", 29.9, VG, 10, "Friske blåbær til frokost og dessert."},
	{C_FRUKT, "grønnsaker", "Grillmais", "2 stk", "Bama", "", 29.9, VG | GR, 8, "Søte maiskolber til grillen."},
	{C_FRUKT, "grønnsaker", "Rosenkål", "300 g", "Bama", "", 24.9, VG | JU | SE, 5, "Rosenkål til julemiddagen."},
	{C_FRUKT, "salat og urter", "Babyspinat", "65 g", "Bama", "", 24.9, VG | OR, 10, "Mild babyspinat til salat og smoothie."},
	{C_FRUKT, "grønnsaker", "Hvitløk", "3 stk", "Bama", "", 14.9, VG, 10, "Aromatisk hvitløk."},
	{C_FRUKT, "frukt", "Mango", "stk", "-|Bama", "", 19.9, VG, 8, "Moden mango med søt smak."},
	{C_FRUKT, "salat og urter", "Basilikum", "stk", "Bama", "", 29.9, VG | OR, 5, "Frisk basilikum i potte."},
	/* kjøtt */
	{C_KJOTT, "kjøttdeig og farse", "Kjøttdeig", "400 g|800 g*1.8", "Gilde|Nortura", "|Storfe|Lettere", 54.9, ST | TA | BU, 70, "Kjøttdeig av norsk storfe, perfekt til taco, bolognese og kjøttkaker."},
	{C_KJOTT, "kylling", "Kyllingfilet", "700 g|400 g*0.6", "Prior|Solvinge", "|Naturell|Marinert", 99.9, ST | BU | OR, 55, "Saftig kyllingfilet av norsk kylling."},
	{C_KJOTT, "svin", "Ribbe", "", "-|Gilde|Nortura", "", 99.9, JU | SE | TR | KG, 40, "Norsk svineribbe med sprø svor, julaftens klassiker."},
	{C_KJOTT, "pølser", "Grillpølser", "600 g|1 kg*1.6", "Gilde|Leiv Vidar", "|Ost|Chili", 59.9, GR | BU, 35, "Saftige grillpølser, sommerens favoritt og 17. mai-klassiker."},
	{C_KJOTT, "lam", "Pinnekjøtt", "", "-|Gilde|Fatland", "", 299.9, JU | SE | TR | KG, 25, "Saltet og tørket lammeribbe, dampes på bjørkepinner til jul."},
	{C_KJOTT, "pålegg", "Kokt skinke", "100 g|200 g*1.8", "Gilde|Stabburet", "", 34.9, BU, 30, "Tynne skiver kokt skinke til brødskiva."},
	{C_KJOTT, "pålegg", "Leverpostei", "250 g", "Stabburet", "|Bacon|Original", 24.9, TR | NB | BU, 30, "Klassisk leverpostei, et norsk påleggsfavoritt."},
	{C_KJOTT, "kylling", "Kyllingkjøttdeig", "400 g", "Prior", "", 49.9, TA, 15, "Mager kjøttdeig av kylling til taco og pastaretter."},
	{C_KJOTT, "svin", "Bacon", "2 x 150 g", "Gilde|Nortura", "", 44.9, BU, 20, "Røkt bacon i skiver."},
	{C_KJOTT, "pølser", "Wienerpølser", "600 g", "Gilde|Leiv Vidar", "", 54.9, BU, 20, "Klassiske wienerpølser med mild røyksmak."},
	{C_KJOTT, "storfe", "Grillburger", "4 stk", "Gilde|Nortura", "|Cheddar", 69.9, GR | BU, 18, "Grove burgere av norsk storfekjøtt."},
	{C_KJOTT, "svin", "Svinenakke marinert", "", "-|Gilde", "", 119.9, GR | KG, 10, "Marinert svinenakke, klar for grillen."},
	{C_KJOTT, "kylling", "Kyllingvinger", "1 kg", "Prior", "|Buffalo", 69.9, GR, 10, "Krydrede kyllingvinger til grill og ovn."},
	{C_KJOTT, "storfe", "Entrecôte", "300 g", "Gilde|Nortura", "", 129.9, GR, 8, "Mørmarinert entrecôte av norsk storfe."},
	{C_KJOTT, "svin", "Medisterkaker", "600 g", "Gilde", "", 59.9, JU | SE | TR, 10, "Medisterkaker som hører julemiddagen til."},
	{C_KJOTT, "pålegg", "Servelat", "200 g", "Gilde", "", 29.9, TR | BU, 15, "Mild servelat til matpakka."},
	{C_KJOTT, "pålegg", "Salami", "100 g", "Gilde|Stabburet", "|Pepper", 34.9, BU, 12, "Lufttørket salami i tynne skiver."},
	{C_KJOTT, "lam", "Lammelår", "", "-|Nortura", "", 169.9, PA | TR | KG, 8, "Norsk lammelår til påskemiddagen."},
	{C_KJOTT, "pølser", "Julepølse", "500 g", "Gilde", "", 59.9, JU | SE | TR, 6, "Krydret julepølse."},
	{C_KJOTT, "kjøttdeig og farse", "Karbonadedeig", "400 g", "Gilde|Nortura", "", 59.9, TR, 12, "Mager karbonadedeig av storfe."},
	{C_KJOTT, "pålegg", "Kalkunpålegg", "100 g", "Prior", "", 34.9, 0, 10, "Magert kalkunpålegg."},
	{C_KJOTT, "pålegg", "Fenalår", "", "-|Gilde", "", 249.9, JU | TR | KG, 4, "Tørket og saltet lammelår, skjæres i tynne skiver."},
	{C_KJOTT, "storfe", "Kebabkjøtt", "400 g", "Gilde", "", 49.9, SU, 8, "Krydret kebabkjøtt til pita og kebab."},
	/* fisk og sjømat */
	{C_FISK, "fersk fisk", "Laksefilet", "4 stk|2 stk*0.55", "Lerøy|Salmar", "|Naturell|Marinert", 99.9, ST | BU, 40, "Norsk laks, rik på omega-3, til ovn og stekepanne."},
	{C_FISK, "fiskepålegg", "Makrell i tomat", "170 g", "Stabburet", "", 21.9, TR | NB, 30, "Makrell i tomatsaus, Norges favorittpålegg."},
	{C_FISK, "fiskepålegg", "Kaviar", "185 g", "Mills", "|Mild|Ekstra", 29.9, TR | NB, 25, "Smørbar kaviar av torskerogn, god på egg og brødskiva."},
	{C_FISK, "fersk fisk", "Torskefilet", "400 g", "Lerøy|Findus", "", 79.9, TR | BU, 20, "Hvit og fast torskefilet fra Nord-Norge."},
	{C_FISK, "fiskemat", "Fiskekaker", "600 g", "Lerøy|Lofoten", "", 59.9, TR | BU, 20, "Hjemmelagde fiskekaker av hyse og torsk."},
	{C_FISK, "fiskemat", "Fiskeboller", "800 g", "Lofoten", "", 39.9, TR | BU, 12, "Fiskeboller i lake, servert med hvit saus."},
	{C_FISK, "skalldyr", "Kokte reker", "1 kg|500 g*0.55", "Lerøy", "", 129.9, GR, 12, "Kokte reker med skall, sommerens rekefest."},
	{C_FISK, "fiskepålegg", "Røkelaks", "200 g", "Lerøy", "", 59.9, JU, 12, "Kaldrøkt laks i skiver."},
	{C_FISK, "fiskepålegg", "Sursild", "250 g", "Abba", "|Sennepssild", 34.9, TR | JU, 8, "Marinert sild, god på julebordet."},
	{C_FISK, "fersk fisk", "Lutefisk", "1 kg", "Lerøy", "", 119.9, JU | SE | TR, 5, "Tradisjonell lutefisk til førjulsmiddagen."},
	{C_FISK, "fiskepålegg", "Tunfisk i vann", "185 g", "John West", "", 24.9, BU, 12, "Tunfisk i vann til salat og pasta."},
	{C_FISK, "fiskemat", "Fiskepudding", "400 g", "Lofoten", "", 39.9, TR, 6, "Fiskepudding til stekt middag."},
	{C_FISK, "skalldyr", "Scampi", "400 g", "Lerøy", "", 79.9, 0, 6, "Rå scampi til wok og pasta."},
	/* frysevarer */
	{C_FRYS, "pizza", "Grandiosa", "575 g", "Stabburet", "|Pepperoni|Kebab|Tynn", 54.9, SU | NB, 50, "Norges nasjonalrett, frossen pizza med ost og skinke."},
	{C_FRYS, "fisk", "Fiskepinner", "450 g|900 g*1.8", "Findus", "", 49.9, BU, 20, "Panerte fiskepinner av torsk, barnas favoritt."},
	{C_FRYS, "is", "Vaniljeis", "2 l", "Hennig-Olsen|Diplom-Is", "|Sjokolade|Jordbær", 59.9, VG | GR | BU, 20, "Kremet fløteis, sommerens dessert."},
	{C_FRYS, "pizza", "Big One", "550 g", "Big One", "|Pepperoni|Kebab", 49.9, SU | NB, 20, "Frossen pizza med sprø bunn."},
	{C_FRYS, "grønnsaker", "Wokgrønnsaker", "600 g", "Findus", "|Asiatisk|Meksikansk", 39.9, VG | BU, 15, "Frosne grønnsaker, klar til woken."},
	{C_FRYS, "vegetar", "Vegetarburger", "4 stk", "Anamma|Hälsans Kök", "", 59.9, VG, 10, "Plantebaserte burgere av soya og grønnsaker."},
	{C_FRYS, "vegetar", "Kjøttfri deig", "1 kg|500 g*0.55", "Anamma|Hälsans Kök", "", 79.9, VG | TA, 10, "Vegansk deig av soyaprotein til taco og bolognese."},
	{C_FRYS, "grønnsaker", "Pommes frites", "1 kg", "McCain|Eldorado", "|Steakhouse|Bølgete", 34.9, VG | SU | BU, 18, "Sprø pommes frites til ovn og frityr."},
	{C_FRYS, "is", "Pinne-is", "6 stk", "Diplom-Is|Hennig-Olsen", "Jordbær|Sjokolade|Lakris", 49.9, VG | GR, 12, "Is på pinne til varme sommerdager."},
	{C_FRYS, "grønnsaker", "Erter", "500 g", "Findus", "", 29.9, VG | BU, 10, "Frosne grønne erter."},
	{C_FRYS, "pizza", "Pizza Margherita", "340 g", "Dr. Oetker", "", 44.9, VG | SU, 10, "Steinovnsbakt pizza med tomat og mozzarella."},
	{C_FRYS, "fisk", "Frossen laks", "500 g", "Lerøy|Findus", "", 89.9, BU, 10, "Frosne laksefileter, enkeltpakket."},
	{C_FRYS, "bær", "Frosne blåbær", "500 g", "Findus|Eldorado", "", 49.9, VG, 8, "Frosne blåbær til smoothie og dessert."},
	{C_FRYS, "ferdigretter", "Kyllingnuggets", "600 g", "Prior|Findus", "", 59.9, SU, 10, "Sprøstekte kyllingnuggets."},
	{C_FRYS, "vegetar", "Falafel", "300 g", "Hälsans Kök|Anamma", "", 44.9, VG, 6, "Falafel av kikerter og krydder."},
	/* drikke */
	{C_DRIKKE, "kaffe", "Kaffe filtermalt", "250 g|500 g*1.9", "Friele|Evergood|Ali|Kjeldsberg", "|Mørk|Frokost", 59.9, ST | VG | TR | OR | BU, 60, "Filtermalt kaffe brent i Norge, rund og fyldig smak."},
	{C_DRIKKE, "brus", "Coca-Cola", "1,5 l|0,5 l*0.45|6 x 0,33 l*1.6", "Coca-Cola", "|Zero|Vanilla", 32.9, VG | NB, 45, "Original cola, best servert iskald."},
	{C_DRIKKE, "brus", "Julebrus", "1,5 l|0,5 l*0.45", "Ringnes|Mack|Hansa|Aass", "", 29.9, VG | JU | SE, 35, "Søt og rød julebrus, julens drikk i Norge."},
	{C_DRIKKE, "brus", "Pepsi Max", "1,5 l|0,5 l*0.45", "Pepsi", "|Lime|Mango", 31.9, VG | NB | SU, 35, "Sukkerfri cola med maks smak."},
	{C_DRIKKE, "brus", "Solo", "1,5 l|0,33 l*0.4", "Solo", "|Super", 29.9, VG | NB | TR, 20, "Appelsinbrus siden 1934."},
	{C_DRIKKE, "juice", "Appelsinjuice", "1 l|1,75 l*1.6", "Sunniva|Tropicana", "|Med fruktkjøtt|Uten fruktkjøtt", 34.9, VG | OR | BU, 30, "Juice av solmodne appelsiner."},
	{C_DRIKKE, "energidrikk", "Energidrikk", "0,5 l|0,25 l*0.6", "Red Bull|Monster|Battery", "|Sukkerfri|Mango", 27.9, VG | SU, 25, "Energidrikk med koffein og taurin."},
	{C_DRIKKE, "vann", "Farris", "1,5 l|0,5 l*0.6", "Ringnes", "|Lime|Bris", 24.9, VG | NB, 20, "Naturlig mineralvann fra Larvik."},
	{C_DRIKKE, "saft", "Husholdningssaft", "1 l", "Lerum|Nora", "Solbær|Bringebær|Appelsin", 39.9, VG | TR, 15, "Konsentrert saft, blandes med vann."},
	{C_DRIKKE, "juice", "Eplejuice", "1 l", "Sunniva|Bama", "", 32.9, VG | BU, 12, "Mild eplejuice."},
	{C_DRIKKE, "te", "Te", "20 poser", "Lipton|Twinings|Pickwick", "Earl Grey|Grønn|Frukt|Kamille", 34.9, VG | OR, 10, "Te i poser til kose og frokost."},
	{C_DRIKKE, "øl", "Pilsner", "0,5 l|6 x 0,5 l*5.5", "Ringnes|Hansa|Mack|Aass", "", 34.9, VG | GR, 25, "Lys lager, frisk og tørst-slukkende."},
	{C_DRIKKE, "øl", "Juleøl", "0,5 l", "Ringnes|Mack|Aass|Hansa", "", 39.9, VG | JU | SE, 12, "Mørkt og maltrikt juleøl."},
	{C_DRIKKE, "vann", "Mineralvann", "1,5 l", "Imsdal|Olden|Bonaqua", "|Sitron|Lime", 22.9, VG | BU, 12, "Kullsyret vann fra norske kilder."},
	{C_DRIKKE, "kaffe", "Kaffekapsler", "10 stk", "Evergood|Friele|Starbucks", "Lungo|Espresso", 49.9, VG, 10, "Kaffekapsler til kapselmaskin."},
	{C_DRIKKE, "saft", "Iste", "1,5 l", "Lipton|Nestea", "Fersken|Sitron", 29.9, VG | SU, 8, "Søt iste, kald og forfriskende."},
	/* snacks og godteri */
	{C_SNACKS, "sjokolade", "Melkesjokolade", "200 g|100 g*0.55|60 g*0.35", "Freia", "|Daim|Hel nøtt|Firkløver", 44.9, VG, 35, "Freia Melkesjokolade, et lite stykke Norge."},
	{C_SNACKS, "sjokolade", "Kvikk Lunsj", "47 g|3-pk*2.7", "Freia", "", 19.9, VG | PA | NB, 30, "Sjokoladedekket kjeks, turens og påskens klassiker."},
	{C_SNACKS, "sjokolade", "Påskeegg", "stk|5 stk*4", "Nidar|Freia", "", 39.9, VG | PA | SE, 20, "Påskeegg av papp fylt med godteri."},
	{C_SNACKS, "godteri", "Marsipan", "200 g|50 g*0.3", "Nidar|Freia", "", 49.9, VG | JU | SE, 15, "Mandelmarsipan, julens søteste tradisjon."},
	{C_SNACKS, "potetgull", "Potetgull", "250 g|100 g*0.5", "Maarud|Kims|Sørlandschips", "Salt|Sour Cream|Paprika|Havsalt", 34.9, VG | SU | BU, 35, "Sprø potetgull til helgekosen."},
	{C_SNACKS, "sjokolade", "Smash", "100 g|200 g*1.8", "Nidar", "", 29.9, VG | NB, 15, "Saltede maischips dekket med sjokolade."},
	{C_SNACKS, "godteri", "Seigmenn", "200 g", "Nidar", "", 29.9, SU | NB, 12, "Søte seigmenn i mange farger."},
	{C_SNACKS, "sjokolade", "Stratos", "2 x 22 g|4 x 22 g*1.8", "Nidar", "", 19.9, VG | NB, 10, "Luftig melkesjokolade."},
	{C_SNACKS, "godteri", "Twist", "400 g", "Freia", "", 79.9, VG | NB | JU, 10, "Pose med blandet sjokoladekonfekt."},
	{C_SNACKS, "nøtter", "Nøttemiks", "300 g", "Den Lille Nøttefabrikken|Eldorado", "|Saltet|Usaltet", 49.9, VG, 8, "Blanding av nøtter og mandler."},
	{C_SNACKS, "kjeks", "Ballerina", "190 g", "Göteborgs", "", 29.9, VG | NB, 10, "Kjeks med nougatfyll."},
	{C_SNACKS, "kjeks", "Havrekjeks", "300 g", "Sætre", "", 24.9, VG | TR, 8, "Tradisjonelle havrekjeks."},
	{C_SNACKS, "godteri", "Smågodt", "", "-", "", 119.9, SU | KG, 15, "Løsvekt smågodt, lørdagsgodt for hele familien."},
	{C_SNACKS, "sjokolade", "Troika", "3 x 33 g", "Nidar", "", 24.9, VG | NB, 6, "Sjokolade med bringebærgelé og trøffel."},
	{C_SNACKS, "potetgull", "Popcorn", "90 g", "Maarud|Eldorado", "Salt|Smør", 24.9, VG | SU, 8, "Ferdig poppet popcorn."},
	/* tørrvarer */
	{C_TORR, "frokostblandinger", "Havregryn", "1 kg|500 g*0.6", "Axa|Møllerens", "|Lettkokte|Store", 24.9, ST | VG | TR | OR | BU, 40, "Havregryn av nordisk havre, til grøt og baking."},
	{C_TORR, "taco og tex-mex", "Tacokrydder", "28 g", "Old El Paso|Santa Maria|Toro", "|Mild|Hot", 9.9, VG | TA | BU, 40, "Krydderblanding til fredagstacoen."},
	{C_TORR, "taco og tex-mex", "Tacosaus", "230 g", "Old El Paso|Santa Maria", "Mild|Medium|Hot", 24.9, VG | TA | BU, 35, "Tomatbasert tacosaus."},
	{C_TORR, "pasta og ris", "Risengryn", "1 kg|600 g*0.7", "Toro|Møllerens", "", 29.9, VG | JU | TR | BU, 15, "Grøtris til risengrynsgrøt og riskrem."},
	{C_TORR, "pasta og ris", "Spaghetti", "1 kg|500 g*0.6", "Barilla|Pastella", "|Fullkorn", 29.9, ST | VG | BU | OR, 30, "Italiensk pasta av durumhvete."},
	{C_TORR, "pasta og ris", "Ris", "1 kg", "Uncle Ben's|Toro", "Jasmin|Basmati|Parboiled", 34.9, VG | BU, 20, "Langkornet ris til middag."},
	{C_TORR, "taco og tex-mex", "Tacoskjell", "12 stk", "Old El Paso|Santa Maria", "", 29.9, VG | TA | BU, 15, "Sprø tacoskjell av mais."},
	{C_TORR, "nudler", "Mr. Lee Nudler", "85 g|5-pk*4.5", "Mr. Lee", "Kylling|Biff|Curry|Grønnsak", 12.9, SU | NB, 30, "Hurtignudler klare på tre minutter."},
	{C_TORR, "mel og baking", "Hvetemel", "2 kg|1 kg*0.6", "Møllerens|Regal", "|Sammalt", 26.9, VG | TR | BU, 15, "Hvetemel til brød, boller og kaker."},
	{C_TORR, "mel og baking", "Sukker", "1 kg", "Dansukker", "", 24.9, VG | BU, 12, "Hvitt strøsukker."},
	{C_TORR, "hermetikk", "Hermetiske tomater", "400 g", "Mutti|Eldorado", "Hakkede|Hele|Med hvitløk", 14.9, VG | BU, 20, "Hakkede tomater til sauser og gryter."},
	{C_TORR, "hermetikk", "Mais", "340 g", "Green Giant|Eldorado", "", 19.9, VG | TA | BU, 15, "Søt mais på boks."},
	{C_TORR, "sauser og dressinger", "Ketchup", "1 kg|500 g*0.6", "Idun|Heinz", "|Mindre sukker", 34.9, VG | GR | BU, 20, "Tomatketchup til pølser og pommes frites."},
	{C_TORR, "sauser og dressinger", "Sennep", "490 g", "Idun|Slotts", "|Grov", 24.9, VG | GR, 12, "Mild pølsesennep."},
	{C_TORR, "sauser og dressinger", "Majones", "250 g|500 g*1.8", "Mills", "|Lett", 29.9, VG | NB, 15, "Kremet majones laget med egg."},
	{C_TORR, "sauser og dressinger", "Remulade", "250 g", "Mills", "", 27.9, VG | GR | NB, 10, "Remulade til fisk og pølser."},
	{C_TORR, "syltetøy og pålegg", "Jordbærsyltetøy", "400 g", "Lerum|Nora", "|Lett", 39.9, VG | TR | BU, 15, "Syltetøy av norske jordbær."},
	{C_TORR, "syltetøy og pålegg", "Sjokoladepålegg", "400 g", "Nugatti|Nutella", "", 42.9, VG | SU, 12, "Smørbar nøttekrem med sjokolade."},
	{C_TORR, "syltetøy og pålegg", "Peanøttsmør", "350 g", "Eldorado|Mills", "|Crunchy", 34.9, VG | SU, 8, "Smørbart peanøttsmør."},
	{C_TORR, "frokostblandinger", "Cornflakes", "500 g", "Kellogg's", "", 39.9, VG | BU, 10, "Sprø cornflakes til frokost."},
	{C_TORR, "frokostblandinger", "Müsli", "750 g", "Axa|Synnøve", "Frukt|Nøtter|Sjokolade", 44.9, VG | OR, 12, "Müsli med havre og tørket frukt."},
	{C_TORR, "supper og mikser", "Tomatsuppe", "3 porsjoner", "Toro|Knorr", "", 19.9, VG | TR | BU, 12, "Klassisk tomatsuppe med makaroni."},
	{C_TORR, "supper og mikser", "Kjøttkakemiddag", "mix", "Toro", "", 29.9, TR, 8, "Saus- og krydderblanding til kjøttkaker i brun saus."},
	{C_TORR, "mel og baking", "Tørrgjær", "3 x 11 g", "Idun", "", 14.9, VG | NB, 8, "Tørrgjær til boller og brød."},
	{C_TORR, "oljer og eddik", "Olivenolje", "0,5 l", "Ybarra|Filippo Berio", "|Ekstra virgin", 79.9, VG | OR | BU, 10, "Olivenolje til steking og salat."},
	{C_TORR, "hermetikk", "Kikerter", "400 g", "Eldorado|Go-Tan", "", 16.9, VG, 8, "Kokte kikerter på boks, til hummus og gryter."},
	{C_TORR, "pasta og ris", "Pastasaus", "500 g", "Dolmio|Barilla", "Tomat og basilikum|Arrabbiata", 34.9, VG | SU | BU, 12, "Ferdig pastasaus."},
	{C_TORR, "supper og mikser", "Buljongterninger", "10 stk", "Toro|Knorr", "Kylling|Grønnsak|Oksekjøtt", 22.9, BU, 8, "Buljong til supper og gryter."},
	{C_TORR, "mel og baking", "Kakao", "500 g", "Freia|O'boy", "", 49.9, VG, 6, "Kakaopulver til varm sjokolade og baking."},
	{C_TORR, "frokostblandinger", "Havregrøt", "6 x 55 g", "Axa|Møllerens", "Eple og kanel|Blåbær", 34.9, VG | SU, 6, "Hurtiggrøt i porsjonsposer."},
	/* husholdning */
	{C_HUS, "poser og folie", "Bærepose", "stk", "-", "", 2.9, F_BAG, 45, "Solid handlepose av resirkulert plast."},
	{C_HUS, "papir", "Toalettpapir", "8 ruller|16 ruller*1.8", "Lambi|Serla", "", 69.9, ST | BU, 30, "Mykt og sterkt toalettpapir."},
	{C_HUS, "papir", "Tørkepapir", "4 ruller", "Lambi|Serla", "", 49.9, BU, 20, "Absorberende tørkepapir til kjøkkenet."},
	{C_HUS, "vask og rengjøring", "Oppvaskmiddel", "500 ml", "Zalo|Sun", "|Sitrus|Sensitive", 29.9, BU, 15, "Effektivt oppvaskmiddel som fjerner fett."},
	{C_HUS, "vask og rengjøring", "Oppvaskmaskintabletter", "40 stk", "Finish|Sun|Zalo", "", 99.9, BU, 12, "Alt-i-ett tabletter til oppvaskmaskinen."},
	{C_HUS, "vask og rengjøring", "Tøyvask", "1,5 l", "Omo|Milo|Neutral", "Color|Hvitt|Sensitive", 89.9, BU, 10, "Flytende vaskemiddel til tøy."},
	{C_HUS, "vask og rengjøring", "Grønnsåpe", "750 ml", "Krystal", "", 34.9, TR | NB, 6, "Tradisjonell grønnsåpe til gulv og tre."},
	{C_HUS, "poser og folie", "Fryseposer", "3 l x 40 stk", "Toppits", "", 29.9, BU, 8, "Solide fryseposer med lukking."},
	{C_HUS, "poser og folie", "Aluminiumsfolie", "10 m", "Toppits", "", 34.9, GR, 6, "Folie til grill og ovn."},
	{C_HUS, "lys og batterier", "Kronelys", "10 stk", "-", "", 49.9, JU, 8, "Hvite kronelys til julebordet."},
	{C_HUS, "lys og batterier", "Batterier AA", "4 stk", "Duracell|Varta", "", 59.9, BU, 6, "Alkaliske batterier."},
	{C_HUS, "vask og rengjøring", "Allrengjøring", "750 ml", "Jif|Krystal", "", 39.9, BU, 8, "Rengjøringsmiddel til alle flater."},
	{C_HUS, "lys og batterier", "Engangsgrill", "stk", "-", "", 49.9, GR | SE, 8, "Engangsgrill til parken og stranda."},
	/* baby */
	{C_BABY, "bleier", "Bleier str 4", "44 stk|76 stk*1.6", "Libero|Pampers", "", 149.9, 0, 30, "Myke bleier med god passform, 7-14 kg."},
	{C_BABY, "barnemat", "Barnegrøt", "480 g", "Semper|Nestlé", "Havre|Fullkorn|Bygg", 49.9, VG | OR, 15, "Grøt for de minste fra 6 måneder."},
	{C_BABY, "barnemat", "Middag i glass", "190 g", "Hipp|Semper", "Grønnsaker og kylling|Pasta bolognese|Laks og potet", 24.9, OR, 15, "Ferdig barnemiddag i glass fra 8 måneder."},
	{C_BABY, "barnemat", "Fruktpose", "90 g", "Hipp|Semper|Ella's Kitchen", "Eple og banan|Pære|Mango", 14.9, VG | OR, 12, "Most frukt i klemmepose."},
	{C_BABY, "våtservietter", "Våtservietter", "64 stk|3 x 64 stk*2.5", "Libero|Pampers", "", 29.9, 0, 15, "Milde våtservietter uten parfyme."},
	{C_BABY, "morsmelkerstatning", "Morsmelkerstatning", "800 g", "Nan|Semper", "", 199.9, VG, 6, "Morsmelkerstatning fra fødselen."},
	{C_BABY, "bleier", "Bleier str 2", "58 stk", "Libero|Pampers", "", 149.9, 0, 10, "Bleier til de minste, 3-6 kg."},
	/* dyremat */
	{C_DYR, "katt", "Kattemat tørrfôr", "2 kg|750 g*0.45", "Whiskas|Purina One", "Kylling|Laks", 99.9, 0, 20, "Komplett tørrfôr til voksne katter."},
	{C_DYR, "katt", "Kattemat våtfôr", "12 x 85 g", "Whiskas|Felix|Sheba", "Fisk|Kjøtt", 69.9, 0, 20, "Saftig våtfôr i porsjonsposer."},
	{C_DYR, "hund", "Hundemat tørrfôr", "3 kg|12 kg*3.4", "Labb|Pedigree|Purina", "Voksen|Valp|Senior", 149.9, 0, 18, "Komplett tørrfôr til hund."},
	{C_DYR, "hund", "Hundegodbiter", "180 g", "Dentastix|Pedigree", "", 39.9, 0, 10, "Tyggepinner som gir sunne tenner."},
	{C_DYR, "katt", "Kattesand", "10 l", "-", "", 79.9, 0, 10, "Klumpende kattesand."},
	/* personlig pleie */
	{C_PLEIE, "tannpleie", "Tannkrem", "75 ml", "Solidox|Colgate|Zendium", "|Sensitiv|Hvitere tenner", 34.9, BU, 20, "Tannkrem med fluor som beskytter mot hull."},
	{C_PLEIE, "hårpleie", "Sjampo", "250 ml", "Define|Dove|Head & Shoulders", "|Balsam|Mot flass", 49.9, BU, 15, "Mild sjampo til daglig vask."},
	{C_PLEIE, "hudpleie", "Dusjsåpe", "250 ml", "Lano|Dove|Palmolive", "|Sensitiv", 34.9, BU, 15, "Fuktgivende dusjsåpe."},
	{C_PLEIE, "tannpleie", "Tannbørste", "stk|2-pk*1.8", "Jordan|Colgate", "Myk|Medium", 29.9, BU, 10, "Tannbørste som når langt bak."},
	{C_PLEIE, "hygiene", "Deodorant", "50 ml", "Rexona|Dove|Axe", "", 44.9, 0, 10, "Deodorant som beskytter i 48 timer."},
	{C_PLEIE, "hudpleie", "Håndkrem", "75 ml", "Neutral|Lano", "", 39.9, 0, 6, "Parfymefri håndkrem til tørre hender."},
	{C_PLEIE, "hudpleie", "Solkrem", "200 ml", "Nivea|Piz Buin", "SPF 30|SPF 50", 149.9, GR | SE, 6, "Solkrem med høy beskyttelse."},
	{C_PLEIE, "hygiene", "Bind", "16 stk", "Libresse", "", 39.9, 0, 8, "Tynne bind med god beskyttelse."},
	{C_PLEIE, "hygiene", "Barberhøvel", "4 stk", "Gillette", "", 99.9, 0, 4, "Barberhøvler med fem blader."},
	/* ferdigmat */
	{C_FERDIG, "middagsretter", "Lasagne", "375 g|800 g*1.9", "Fjordland|Toro", "", 49.9, SU | BU, 20, "Lasagne med kjøttsaus og ostesaus, klar på minutter."},
	{C_FERDIG, "middagsretter", "Kjøttkaker i brun saus", "450 g", "Fjordland", "", 59.9, TR, 15, "Hjemmelagde kjøttkaker med brun saus og ertestuing."},
	{C_FERDIG, "grøt og desserter", "Risengrynsgrøt", "800 g", "Fjordland|Tine", "", 39.9, VG | JU | TR, 12, "Ferdig risengrynsgrøt, servert med sukker, kanel og smør."},
	{C_FERDIG, "salater", "Potetsalat", "400 g", "Mills", "", 29.9, VG | GR | NB, 12, "Kremet potetsalat til grillmaten."},
	{C_FERDIG, "vegetar", "Hummus", "200 g", "Mills|Sabra", "|Paprika|Hvitløk", 29.9, VG, 10, "Kremet hummus av kikerter og sesam."},
	{C_FERDIG, "middagsretter", "Fiskegrateng", "400 g", "Fjordland|Findus", "", 54.9, TR, 8, "Fiskegrateng med makaroni og ost."},
	{C_FERDIG, "supper", "Fiskesuppe", "500 g", "Fjordland|Toro", "", 49.9, TR, 8, "Kremet bergensk fiskesuppe."},
	{C_FERDIG, "middagsretter", "Kylling tikka masala", "400 g", "Fjordland|Toro", "", 59.9, SU, 10, "Indisk kyllinggryte med ris."},
	{C_FERDIG, "salater", "Italiensk salat", "200 g", "Mills", "", 24.9, VG | JU | NB, 6, "Italiensk salat med erter og gulrot."},
	{C_FERDIG, "vegetar", "Vegetar lasagne", "375 g", "Fjordland|Hälsans Kök", "", 49.9, VG, 8, "Lasagne med grønnsaker og linser."},
	{C_FERDIG, "middagsretter", "Sushi", "10 biter", "Sushi Point", "", 89.9, SU, 8, "Fersk sushi laget i dag."},
	{C_FERDIG, "middagsretter", "Nudelkopp", "65 g", "Mr. Lee", "Kylling|Grønnsak", 19.9, SU | NB, 10, "Nudler i kopp, bare tilsett vann."},
	{C_FERDIG, "salater", "Pastasalat", "350 g", "Fjordland|Mills", "", 44.9, VG | SU, 6, "Pastasalat med pesto og grønnsaker."},
	{C_FERDIG, "middagsretter", "Pinnekjøtt ferdig", "700 g", "Fjordland", "", 179.9, JU | SE | TR, 5, "Ferdig pinnekjøtt med kålrotstappe, klar til servering."},
};

#define NITEMS ((int) lengthof(base_items))

/* own brands: index -1 .. -5 in Product.brand */
#define NOWN 5
static const char *const own_brand_name[NOWN] = {
	"First Price", "Xtra", "Eldorado", "Jacobs Utvalgte", "Änglamark"
};
static const double own_brand_price[NOWN] = {0.72, 0.70, 0.82, 1.35, 1.15};
static const double own_brand_pop[NOWN] = {0.6, 0.5, 0.5, 0.35, 0.3};
static const char *const own_brand_phrase[NOWN] = {
	"Lav pris hver dag fra First Price.",
	"Xtra gir deg gode basisvarer til lave priser.",
	"Eldorado: god kvalitet til en hyggelig pris.",
	"Jacobs Utvalgte er nøye utvalgt for ekstra god smak.",
	"Änglamark er økologisk og skånsom mot miljøet."
};

static const char *const pack_name[8] = {
	"", "2-pk", "3-pk", "storpakning", "familiepakning", "ny oppskrift", "ekstra god", "original"
};
static const double pack_factor[8] = {1, 1.9, 2.8, 1.8, 1.6, 1.0, 1.1, 1.0};

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

#define NMUNI ((int) lengthof(munis))

/* ---------------------------------------------------------------------
 * Shopper types and tastes
 * --------------------------------------------------------------------- */
enum
{
	T_FAMILY, T_DAILY, T_BULK, T_STUDENT, T_SENIOR, NTYPE
};
static const char *const type_name[NTYPE] = {
	"weekly_family", "daily_topup", "occasional_bulk", "student", "senior"
};
static const double type_share[NTYPE] = {0.28, 0.22, 0.15, 0.13, 0.22};
/* visits per week and mean lines per visit at the reference scale */
static const double type_rate[NTYPE] = {0.072, 0.29, 0.034, 0.19, 0.145};
static const double type_basket[NTYPE] = {14.0, 3.0, 22.0, 3.5, 5.5};
/* mean hour of day of store visits on weekdays / Saturdays, and spread */
static const double type_hour_wd[NTYPE] = {16.8, 17.5, 17.0, 17.5, 10.5};
static const double type_hour_sat[NTYPE] = {12.0, 14.0, 12.0, 15.0, 11.0};
static const double type_hour_sd[NTYPE] = {1.6, 2.2, 2.0, 3.0, 1.2};

enum
{
	S_MAIN, S_VEG, S_BABY, S_ORGANIC, S_BUDGET, NTASTE
};
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

/* ---------------------------------------------------------------------
 * Cuisine and lifestyle interests
 *
 * Each interest is a list of base items; its products are those items'
 * variants (a seeded 60% of them, the base product always), ranked by an
 * interest-specific weight (see build_interests), not by global popularity.
 * A customer has 1-3 interests, drawn with weights
 *   interest_type_w[type] x interest_taste_mult[taste] x an age factor.
 * --------------------------------------------------------------------- */
enum
{
	I_TACO, I_ASIAN, I_ITALIAN, I_BAKING, I_HEALTHY, I_BREAKFAST, I_SEAFOOD,
	I_GRILL, I_SNACKS, I_PLANT, I_LUNCHBOX, I_TRAD, I_FRUIT, I_QUICK,
	I_ENERGY, I_DELI, I_HOUSEHOLD, NINTEREST
};

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

#define MAX_INTERESTS 3
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

	ItemParsed	items[lengthof(base_items)];
	Product    *prod;
	int32		bag;			/* product index of the bærepose, or -1 */
	Sampler		cat_s[NCAT][NFILTER];
	Sampler		staple_s;
	Sampler		theme_s[NTHEME];
	Sampler		int_s[NINTEREST][NIFILTER];
	Sampler		int_theme_s[NINTEREST][NTHEME];	/* interest's theme products */
	int32	   *camp_list[NWEEKS];
	int32		camp_n[NWEEKS];

	Day			cal[NDAYS];
	int32		easter[2];

	int32		store_muni[NSTORES + 1];
	bool		store_sunday[NSTORES + 1];
	int32		muni_first_store[lengthof(munis)];
	double		muni_cum[lengthof(munis)];
} Model;

/* ---------------------------------------------------------------------
 * Random helpers
 * --------------------------------------------------------------------- */
static inline uint64
mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static inline void
seed_stream(pg_prng_state *st, int64 seed, int tag, uint64 id)
{
	uint64		h = mix64((uint64) seed ^ UINT64CONST(0x5eb7ec0de0000000));

	h = mix64(h ^ ((uint64) tag * UINT64CONST(0x9e3779b97f4a7c15)));
	h = mix64(h ^ (id + UINT64CONST(0x632be59bd9b4e019)));
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

static double
rnorm(pg_prng_state *st)
{
	double		u1 = 1.0 - pg_prng_double(st);
	double		u2 = pg_prng_double(st);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int
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
 * Calendar
 * --------------------------------------------------------------------- */
static const int mdays[2][12] = {
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
};

static int
day_index(int year, int month, int mday)
{
	int			d = (year == 2025) ? 366 : 0;
	int			m;

	for (m = 1; m < month; m++)
		d += mdays[year - 2024][m - 1];
	return d + mday - 1;
}

/* UTC offset in hours of Oslo local time on day d at second-of-day sod */
static int
oslo_offset(int d, int sod)
{
	/* DST from the last Sunday of March to the last Sunday of October */
	static const int dst_on[2] = {90, 454};	/* 2024-03-31, 2025-03-30 */
	static const int dst_off[2] = {300, 664};	/* 2024-10-27, 2025-10-26 */
	int			y = d >= 366 ? 1 : 0;

	if (d < dst_on[y] || d > dst_off[y])
		return 1;
	if (d == dst_on[y])
		return sod < 2 * 3600 ? 1 : 2;
	if (d == dst_off[y])
		return sod < 3 * 3600 ? 2 : 1;
	return 2;
}

static TimestampTz
make_ts(int d, int sod)
{
	int64		secs = (int64) (DAY0_PGDATE + d) * 86400 + sod -
		(int64) oslo_offset(d, sod) * 3600;

	return (TimestampTz) (secs * USECS_PER_SEC);
}

static void
build_calendar(Model *m)
{
	int			d,
				y;

	m->easter[0] = day_index(2024, 3, 31);
	m->easter[1] = day_index(2025, 4, 20);

	for (d = 0; d < NDAYS; d++)
	{
		Day		   *c = &m->cal[d];
		int			year = d >= 366 ? 2025 : 2024;
		int			rem = d - (year == 2025 ? 366 : 0);
		int			mo = 0;

		while (rem >= mdays[year - 2024][mo])
			rem -= mdays[year - 2024][mo++];
		c->month = mo + 1;
		c->mday = rem + 1;
		c->wd = d % 7;			/* 2024-01-01 was a Monday */
		c->closed = (c->wd == 6);
		c->open_h = (c->wd == 5) ? 8 : 7;
		c->close_h = (c->wd == 5) ? 22 : 23;
		memset(c->theme_p, 0, sizeof(c->theme_p));
	}

	for (y = 0; y < 2; y++)
	{
		int			year = 2024 + y;
		int			e = m->easter[y];
		int			fixed[5];
		int			i,
					k;

		fixed[0] = day_index(year, 1, 1);
		fixed[1] = day_index(year, 5, 1);
		fixed[2] = day_index(year, 5, 17);
		fixed[3] = day_index(year, 12, 25);
		fixed[4] = day_index(year, 12, 26);
		for (i = 0; i < 5; i++)
			m->cal[fixed[i]].closed = true;
		/* skjærtorsdag, langfredag, påskedag, 2. påskedag, himmelfart, pinse */
		m->cal[e - 3].closed = m->cal[e - 2].closed = true;
		m->cal[e].closed = m->cal[e + 1].closed = true;
		m->cal[e + 39].closed = true;
		m->cal[e + 49].closed = m->cal[e + 50].closed = true;
		m->cal[e - 1].close_h = 18;
		m->cal[day_index(year, 12, 24)].close_h = 14;
		m->cal[day_index(year, 12, 31)].close_h = 15;

		/* Easter theme */
		for (k = e - 14; k <= e + 1; k++)
			m->cal[k].theme_p[TH_PASKE] = (k >= e - 7) ? 0.45f : 0.15f;
		/* Christmas theme */
		for (k = day_index(year, 11, 20); k <= day_index(year, 12, 31); k++)
		{
			int			md = m->cal[k].mday;

			if (m->cal[k].month == 11)
				m->cal[k].theme_p[TH_JUL] = 0.06f;
			else if (md <= 14)
				m->cal[k].theme_p[TH_JUL] = 0.25f;
			else if (md <= 23)
				m->cal[k].theme_p[TH_JUL] = 0.55f;
			else if (md == 24)
				m->cal[k].theme_p[TH_JUL] = 0.40f;
			else
				m->cal[k].theme_p[TH_JUL] = 0.06f;
		}
	}

	for (d = 0; d < NDAYS; d++)
	{
		Day		   *c = &m->cal[d];
		bool		weekend = (c->wd == 4 || c->wd == 5);

		if (c->month >= 6 && c->month <= 8)
			c->theme_p[TH_GRILL] = weekend ? 0.30f : 0.12f;
		else if (c->month == 5 && c->mday >= 10 && c->mday <= 16)
			c->theme_p[TH_GRILL] = 0.20f;
		else if (c->month == 9 && c->mday <= 10)
			c->theme_p[TH_GRILL] = 0.05f;
		c->theme_p[TH_TACO] = (c->wd == 4) ? 0.30f : (c->wd == 5) ? 0.10f : 0.04f;
	}
}

/* ---------------------------------------------------------------------
 * Catalogue
 * --------------------------------------------------------------------- */
static int
split_list(const char *s, char **out, double *factor, int max)
{
	int			n = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return 0;
	while (n < max)
	{
		const char *e = strchr(p, '|');
		int			len = e ? (int) (e - p) : (int) strlen(p);
		char	   *tok = pnstrdup(p, len);
		char	   *star = strchr(tok, '*');

		if (factor)
			factor[n] = 1.0;
		if (star)
		{
			*star = '\0';
			if (factor)
				factor[n] = strtod(star + 1, NULL);
		}
		out[n++] = tok;
		if (!e)
			break;
		p = e + 1;
	}
	return n;
}

static bool
is_own_brand(const char *b, int *which)
{
	int			i;

	for (i = 0; i < NOWN; i++)
		if (strcmp(b, own_brand_name[i]) == 0)
		{
			if (which)
				*which = i;
			return true;
		}
	return false;
}

static const char *
product_brand(const Model *m, const Product *p)
{
	const char *b;

	if (p->brand < 0)
		return own_brand_name[-p->brand - 1];
	b = m->items[p->item].brand[p->brand];
	return strcmp(b, "-") == 0 ? NULL : b;
}

/* round a price in NOK to øre, with the usual ",90" endings above 10 NOK */
static int32
shelf_price(double nok)
{
	if (nok >= 10.0)
		return (int32) (floor(nok + 0.5) * 100) - 10;
	return (int32) floor(nok * 10.0 + 0.5) * 10;
}

static void
build_sampler(Sampler *s, const Model *m, bool (*keep) (const Product *, int), int arg,
			  bool seasonal_factor)
{
	int			i,
				n = 0;
	double		c = 0;

	s->idx = palloc(sizeof(int32) * Max(m->nprod, 1));
	s->cum = palloc(sizeof(double) * Max(m->nprod, 1));
	for (i = 0; i < m->nprod; i++)
	{
		const Product *p = &m->prod[i];

		if (!keep(p, arg))
			continue;
		c += p->pop * ((seasonal_factor && (p->flags & F_SEASON)) ? 0.02 : 1.0);
		s->idx[n] = i;
		s->cum[n] = c;
		n++;
	}
	s->n = n;
}

static bool
keep_cat_filter(const Product *p, int arg)
{
	int			cat = arg / NFILTER,
				f = arg % NFILTER;

	if (p->cat != cat || (p->flags & F_BAG))
		return false;
	switch (f)
	{
		case FL_VEG:
			return (p->flags & F_VEG) != 0;
		case FL_ORG:
			return p->organic;
		case FL_BUD:
			return p->budget;
		case FL_TRAD:
			return (p->flags & F_TRAD) != 0;
		case FL_STUDENT:
			return (p->flags & F_STUDENT) != 0;
		default:
			return true;
	}
}

static bool
keep_flag(const Product *p, int arg)
{
	return (p->flags & arg) != 0;
}

static bool
keep_staple(const Product *p, int arg)
{
	return (p->flags & F_STAPLE) != 0 && p->size == 0;
}

static void
build_catalogue(Model *m)
{
	pg_prng_state st;
	int32	   *order;
	int			nord = 0,
				i,
				c,
				k,
				pos[NCAT];
	uint64	   *keys;
	uint64		kmask;
	int			ksize = 16;
	static const int window_day[4] = {31, 182, 397, 547};

	for (i = 0; i < NITEMS; i++)
	{
		ItemParsed *ip = &m->items[i];
		int			b;

		ip->nsize = split_list(base_items[i].sizes, ip->size, ip->sizef, 8);
		ip->nbrand = split_list(base_items[i].brands, ip->brand, NULL, 8);
		ip->nflav = split_list(base_items[i].flavours, ip->flav, NULL, 8);
		for (b = 0; b < ip->nbrand; b++)
			ip->brand_own[b] = is_own_brand(ip->brand[b], NULL);
	}

	/* round-robin over categories so small catalogues cover them all */
	order = palloc(sizeof(int32) * NITEMS);
	memset(pos, 0, sizeof(pos));
	while (nord < NITEMS)
	{
		for (c = 0; c < NCAT; c++)
		{
			while (pos[c] < NITEMS && base_items[pos[c]].cat != c)
				pos[c]++;
			if (pos[c] < NITEMS)
				order[nord++] = pos[c]++;
		}
	}

	while (ksize < 2 * m->nprod)
		ksize *= 2;
	keys = palloc0(sizeof(uint64) * ksize);
	kmask = ksize - 1;

	m->prod = palloc0(sizeof(Product) * m->nprod);
	m->bag = -1;
	seed_stream(&st, m->seed, TAG_CATALOGUE, 0);

	for (i = 0; i < m->nprod; i++)
	{
		Product    *p = &m->prod[i];
		const BaseItem *bi;
		ItemParsed *ip;
		double		price,
					pop;
		int			tries;
		uint64		key = 0;

		if (i % 1024 == 0)
			CHECK_FOR_INTERRUPTS();

		if (i < NITEMS)
		{
			p->item = order[i];
			ip = &m->items[p->item];
			p->brand = 0;
			key = ((uint64) p->item << 32) | (8 << 24);
		}
		else
		{
			for (tries = 0; tries < 12; tries++)
			{
				double		r;
				uint64		h;

				p->item = rint_range(&st, 0, NITEMS - 1);
				/* popular items get more variants */
				if (rnd(&st) * 100.0 > base_items[p->item].pop + 10.0 ||
					(base_items[p->item].flags & F_BAG))
				{
					tries--;
					continue;
				}
				ip = &m->items[p->item];
				bi = &base_items[p->item];
				r = rnd(&st);
				p->brand = rint_range(&st, 0, ip->nbrand - 1);
				if ((bi->flags & F_BUD) && r >= 0.55)
				{
					if (r < 0.75)
						p->brand = (r < 0.66) ? -1 : -2;
					else if (r < 0.85)
						p->brand = -3;
					else if (r < 0.93)
						p->brand = -4;
					else if (bi->flags & F_ORG)
						p->brand = -5;
				}
				if (p->brand < 0)
				{
					int			b;

					for (b = 0; b < ip->nbrand; b++)
						if (strcmp(ip->brand[b], own_brand_name[-p->brand - 1]) == 0)
							p->brand = b;
				}
				p->size = ip->nsize > 1 ? rint_range(&st, 0, ip->nsize - 1) : 0;
				p->flav = ip->nflav > 1 ? rint_range(&st, 0, ip->nflav - 1) : 0;
				p->organic = (bi->flags & F_ORG) && p->brand != -5 && rnd(&st) < 0.15;
				p->pack = 0;
				if (tries >= 6 && !(bi->flags & F_KG))
					p->pack = (bi->price * (ip->nsize > 0 ? ip->sizef[p->size] : 1.0) <= 60.0) ?
						rint_range(&st, 1, 7) : rint_range(&st, 5, 7);
				key = ((uint64) p->item << 32) | ((uint64) (p->brand + 8) << 24) |
					((uint64) p->size << 16) | ((uint64) p->flav << 8) |
					((uint64) p->organic << 7) | p->pack;
				h = mix64(key) & kmask;
				while (keys[h] != 0 && keys[h] != key + 1)
					h = (h + 1) & kmask;
				if (keys[h] == 0)
					break;
			}
			ip = &m->items[p->item];
		}
		/* remember the key */
		{
			uint64		h = mix64(key) & kmask;

			while (keys[h] != 0 && keys[h] != key + 1)
				h = (h + 1) & kmask;
			keys[h] = key + 1;
		}

		bi = &base_items[p->item];
		p->cat = bi->cat;
		p->flags = bi->flags;
		if (p->brand < 0)
		{
			p->own_brand = true;
			p->budget = (p->brand >= -3);
			if (p->brand == -5)
				p->organic = true;
		}
		else
		{
			int			w;

			p->own_brand = ip->brand_own[p->brand];
			p->budget = p->own_brand && is_own_brand(ip->brand[p->brand], &w) && w <= 2;
		}
		if (p->flags & F_BAG)
			m->bag = i;

		/* price */
		price = bi->price * (ip->nsize > 0 ? ip->sizef[p->size] : 1.0);
		if (p->brand < 0)
			price *= own_brand_price[-p->brand - 1];
		else if (p->brand > 0)
			price *= 0.9 + 0.1 * p->brand;
		if (p->organic)
			price *= 1.3;
		price *= pack_factor[p->pack];
		if (i >= NITEMS)
			price *= exp(0.08 * rnorm(&st));
		{
			int			step = (p->flags & F_BAG) ? 0 : rint_range(&st, 0, 3);
			double		mult = 1.0;

			p->price[0] = shelf_price(price);
			for (k = 0; k < 4; k++)
			{
				mult *= 1.0 + 0.015 * step;
				p->price[k + 1] = step ? shelf_price(price * mult) : p->price[0];
			}
			(void) window_day;
		}

		/* popularity: long tail */
		pop = bi->pop;
		if (p->brand < 0)
			pop *= own_brand_pop[-p->brand - 1];
		else
			pop /= 1.0 + p->brand;
		if (p->organic)
			pop *= 0.4;
		if (p->size > 0)
			pop *= 0.5;
		if (p->pack > 0)
			pop *= 0.2;
		if (i >= NITEMS)
			pop *= 0.35 * exp(0.8 * rnorm(&st));
		p->pop = (float) pop;

		/* life cycle */
		{
			bool		core = (i < NITEMS) &&
				(bi->flags & (F_STAPLE | F_JUL | F_PASKE | F_GRILL | F_TACO | F_BAG));
			double		r = rnd(&st);
			int			before = rint_range(&st, 1, 7000);

			p->launch = -1;
			p->launch_date = DAY0_PGDATE - before;
			p->delist = 32767;
			if (!core && r < 0.03)
				p->delist = rint_range(&st, 200, 700);
			else if (!core && r < 0.11)
			{
				p->launch = rint_range(&st, 60, 650);
				p->launch_date = DAY0_PGDATE + p->launch;
			}
		}
	}

	/* samplers */
	for (c = 0; c < NCAT; c++)
	{
		int			f;

		for (f = 0; f < NFILTER; f++)
			build_sampler(&m->cat_s[c][f], m, keep_cat_filter, c * NFILTER + f, true);
	}
	build_sampler(&m->staple_s, m, keep_staple, 0, false);
	build_sampler(&m->theme_s[TH_JUL], m, keep_flag, F_JUL, false);
	build_sampler(&m->theme_s[TH_PASKE], m, keep_flag, F_PASKE, false);
	build_sampler(&m->theme_s[TH_GRILL], m, keep_flag, F_GRILL, false);
	build_sampler(&m->theme_s[TH_TACO], m, keep_flag, F_TACO, false);

	/* weekly campaigns: ~2.5% of products, 20-40% off */
	for (k = 0; k < NWEEKS; k++)
	{
		int			n = 0;

		m->camp_list[k] = palloc(sizeof(int32) * (m->nprod / 30 + 16));
		for (i = 0; i < m->nprod && n < m->nprod / 30 + 16; i++)
		{
			uint64		h = mix64(mix64((uint64) m->seed + TAG_CAMPAIGN) ^
								  ((uint64) k << 32 | (uint64) i));

			if (h % 1000 < 25 && !(m->prod[i].flags & F_BAG))
				m->camp_list[k][n++] = i;
		}
		m->camp_n[k] = n;
		CHECK_FOR_INTERRUPTS();
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

static void
build_interests(Model *m)
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

			for (i = 0; i < NITEMS; i++)
				if ((int) strlen(base_items[i].name) == len &&
					strncmp(base_items[i].name, a, len) == 0)
					break;
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

static inline int
price_window(int d)
{
	return (d >= 31) + (d >= 182) + (d >= 397) + (d >= 547);
}

/* campaign discount in percent for product i in the week of day d, or 0 */
static inline int
campaign_pct(const Model *m, int i, int d)
{
	uint64		h = mix64(mix64((uint64) m->seed + TAG_CAMPAIGN) ^
						  ((uint64) (d / 7) << 32 | (uint64) i));
	static const int pct[4] = {20, 25, 30, 40};

	if (h % 1000 < 25 && !(m->prod[i].flags & F_BAG))
		return pct[(h >> 20) & 3];
	return 0;
}

static inline bool
available(const Product *p, int d)
{
	return d >= p->launch && d < p->delist;
}

/* ---------------------------------------------------------------------
 * Stores and customers
 * --------------------------------------------------------------------- */
static void
build_geography(Model *m)
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

static void
gen_customer(const Model *m, int64 cid, Customer *c)
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
		c->member_since = rint_range(&st, day_index(2025, 7, 1), day_index(2025, 12, 16));
		c->start = c->member_since;
	}
	else if (u < 0.18)
	{
		c->member_since = rint_range(&st, 0, day_index(2025, 6, 30));
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
		int			last_churn = day_index(2025, 6, 30);
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
typedef struct Profile
{
	uint8		type, taste;
	bool		pet;
	double		cat_cum[NCAT];
} Profile;

static void
make_profile(Profile *pr, int type, int taste, bool pet)
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

static int
pick_general(const Model *m, const Profile *pr, pg_prng_state *st, int d)
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

static int
pick_theme(const Model *m, const Profile *pr, pg_prng_state *st, int theme, int d)
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

/*
 * A product from the customer's interests (the first interest weighs most),
 * with the taste's own-brand / organic preference and the vegetarian, pet
 * and baby rules of pick_general; -1 if none fits after a few tries.
 */
static int
pick_interest(const Model *m, const Profile *pr, const SimCust *s,
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
static int
pick_theme_interest(const Model *m, const Profile *pr, const SimCust *s,
					pg_prng_state *st, int theme, int d)
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
 * Visit planning
 * --------------------------------------------------------------------- */
typedef struct Visit
{
	int32		day;
	double		weight;
	bool		online;
	int32		store;
} Visit;

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* move day to the nearest day (within +-3) whose weekday is in mask */
static int
snap_weekday(int d, int mask, int lo, int hi)
{
	static const int off[7] = {0, -1, 1, -2, 2, -3, 3};
	int			k;

	for (k = 0; k < 7; k++)
	{
		int			x = d + off[k];

		if (x >= lo && x <= hi && (mask & (1 << (x % 7))))
			return x;
	}
	return d;
}

static int
visit_sod(const Model *m, pg_prng_state *st, int type, int d, bool online,
		  bool sunday_store)
{
	const Day  *c = &m->cal[d];
	double		h;
	int			lo,
				hi;

	if (online)
	{
		h = 20.0 + 3.0 * rnorm(st);
		lo = 6;
		hi = 24;
	}
	else
	{
		if (c->closed && sunday_store)
		{
			lo = 10;
			hi = 21;
		}
		else
		{
			lo = c->open_h;
			hi = c->close_h;
		}
		h = (c->wd == 5 || c->closed ? type_hour_sat[type] : type_hour_wd[type]) +
			type_hour_sd[type] * rnorm(st);
	}
	if (h < lo || h >= hi)
		h = lo + rnd(st) * (hi - lo);
	return clampi((int) (h * 3600.0), lo * 3600, hi * 3600 - 1);
}

/*
 * Plan the visits of one customer with nlines lines in total, appending
 * receipt headers.  Returns the number of receipts added.
 */
static int
plan_customer(const Model *m, const Customer *c, int64 cid, int64 nlines,
			  double visit_scale, double basket_scale, Receipt **rec,
			  int64 *nrec, int64 *caprec, uint32 *seq)
{
	pg_prng_state st;
	int64		V,
				v,
				extra;
	Visit	   *vis;
	double		wsum = 0,
				acc = 0;
	int64		given = 0;
	int			D = c->end - c->start + 1,
				y;
	double		mean_basket;

	if (nlines <= 0 || D <= 0)
		return 0;
	seed_stream(&st, m->seed, TAG_VISITS, (uint64) cid);
	mean_basket = c->basket * basket_scale;
	V = (int64) floor(nlines / mean_basket + rnd(&st));
	V = Max(V, 1);
	V = Min(V, nlines);
	(void) visit_scale;

	vis = palloc(sizeof(Visit) * V);
	if (c->type == T_FAMILY)
	{
		int64		nbig = Max(1, (int64) floor(V * 0.6 + 0.5));
		int64		ntop = V - nbig;

		for (v = 0; v < nbig; v++)
		{
			double		t = c->start + (v + 0.5 + 0.12 * rnorm(&st)) * D / nbig;
			int			d = clampi((int) floor(t), c->start, c->end);

			vis[v].day = snap_weekday(d, 1 << c->pref_wd, c->start, c->end);
			vis[v].weight = 1.0;
		}
		for (v = 0; v < ntop; v++)
		{
			double		t = c->start + (v + rnd(&st)) * D / ntop;
			int			d = clampi((int) floor(t), c->start, c->end);

			vis[nbig + v].day = snap_weekday(d, 0x0e, c->start, c->end);
			vis[nbig + v].weight = 0.3;
		}
	}
	else
	{
		for (v = 0; v < V; v++)
		{
			double		t;
			int			d;

			if (c->type == T_BULK || c->type == T_SENIOR)
				t = c->start + (v + 0.5 + (c->type == T_BULK ? 0.25 : 0.1) * rnorm(&st)) * D / V;
			else
				t = c->start + (v + rnd(&st)) * D / V;
			d = clampi((int) floor(t), c->start, c->end);
			if (c->type == T_SENIOR)
				d = snap_weekday(d, 0x1f, c->start, c->end);
			else if (c->type == T_BULK && rnd(&st) < 0.5)
				d = snap_weekday(d, 0x20, c->start, c->end);
			else if (rnd(&st) < 0.2)
				d = snap_weekday(d, 0x30, c->start, c->end);
			vis[v].day = d;
			vis[v].weight = 1.0;
		}
	}

	/* Christmas and Easter shopping */
	for (y = 0; y < 2; y++)
	{
		int			lo = day_index(2024 + y, 12, 19),
					hi = lo + 4,
					e = m->easter[y];
		int64		best = -1;
		int			bestd = 15;

		if (c->type != T_STUDENT && c->start <= lo && c->end >= hi && V >= 2)
		{
			for (v = 0; v < V; v++)
			{
				int			dist = abs(vis[v].day - (lo + 2));

				if (dist < bestd)
				{
					bestd = dist;
					best = v;
				}
			}
			if (best >= 0)
			{
				vis[best].day = rint_range(&st, lo, hi);
				vis[best].weight *= 1.5;
			}
		}
		if (c->start <= e - 6 && c->end >= e - 1 && V >= 3 && rnd(&st) < 0.5)
		{
			static const int eo[4] = {-6, -5, -4, -1};

			best = -1;
			bestd = 15;
			for (v = 0; v < V; v++)
			{
				int			dist = abs(vis[v].day - (e - 4));

				if (dist < bestd)
				{
					bestd = dist;
					best = v;
				}
			}
			if (best >= 0)
				vis[best].day = e + eo[rint_range(&st, 0, 3)];
		}
	}

	/* channel, store, closed days */
	for (v = 0; v < V; v++)
	{
		Visit	   *x = &vis[v];

		x->online = rnd(&st) < c->online_p;
		x->store = rnd(&st) < 0.75 ? c->store1 : c->store2;
		if (x->online)
		{
			x->weight *= 1.8;
			x->store = c->store1;
		}
		else if (m->cal[x->day].closed && !m->store_sunday[x->store])
		{
			if (m->store_sunday[c->store1])
				x->store = c->store1;
			else if (m->store_sunday[c->store2] && rnd(&st) < 0.5)
				x->store = c->store2;
			else
			{
				int			d = x->day,
							k;

				for (k = 1; k <= 4; k++)
				{
					if (d - k >= c->start && !m->cal[d - k].closed)
					{
						x->day = d - k;
						break;
					}
					if (d + k <= c->end && !m->cal[d + k].closed && k >= 2)
					{
						x->day = d + k;
						break;
					}
				}
			}
		}
		x->weight *= exp(0.3 * rnorm(&st));
		wsum += x->weight;
	}

	/* distribute the lines: one each, the rest proportional to weight */
	extra = nlines - V;
	if (*nrec + V > *caprec)
	{
		int64		nc = Max(*caprec * 2, *nrec + V + 1024);

		*rec = repalloc_huge(*rec, sizeof(Receipt) * nc);
		*caprec = nc;
	}
	for (v = 0; v < V; v++)
	{
		Receipt    *r = &(*rec)[(*nrec)++];
		int64		upto;

		acc += vis[v].weight;
		upto = (v == V - 1) ? extra : (int64) floor(extra * acc / wsum + 0.5);
		r->cust = (int32) cid;
		r->nlines = (int32) (1 + upto - given);
		given = upto;
		r->seq = (*seq)++;
		r->day = (uint16) vis[v].day;
		r->store = (uint8) vis[v].store;
		r->online = vis[v].online;
		r->sod = visit_sod(m, &st, c->type, vis[v].day, vis[v].online,
						   m->cal[vis[v].day].closed);
	}
	pfree(vis);
	return (int) V;
}

static int
receipt_cmp(const void *a, const void *b)
{
	const Receipt *x = a,
			   *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->sod != y->sod)
		return x->sod < y->sod ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* ---------------------------------------------------------------------
 * The simulation: plans all receipts, then generates their lines in time
 * order and hands every line to a callback.
 * --------------------------------------------------------------------- */
typedef void (*LineCallback) (void *arg, const Line *line);

static void
quantity_for(const Product *p, int type, pg_prng_state *st, int32 *qty)
{
	double		u = rnd(st);
	bool		big = (type == T_FAMILY || type == T_BULK);

	if (p->flags & F_KG)
	{
		double		kg = (p->cat == C_KJOTT) ? 1.2 + 2.0 * rnd(st) :
			0.9 * exp(0.45 * rnorm(st));

		*qty = clampi((int) (kg * 1000.0), 150, 5000);
		return;
	}
	if (u < (big ? 0.60 : 0.78))
		*qty = 1000;
	else if (u < (big ? 0.85 : 0.94))
		*qty = 2000;
	else if (u < (big ? 0.94 : 0.98))
		*qty = 3000;
	else
		*qty = 1000 * rint_range(st, 4, 6);
}

/* round x / 1000 half away from zero */
static inline int64
div1000_round(int64 x)
{
	return x >= 0 ? (x + 500) / 1000 : -((-x + 500) / 1000);
}

static void
finish_line(const Model *m, Line *l)
{
	int64		gross = (int64) l->qty * l->price;	/* øre * 1000 */

	l->amount = div1000_round(gross - l->disc * 1000);
}

/*
 * The customer's 1-3 interests (own stream), and the share of free picks
 * that come from them.
 */
static void
draw_interests(const Customer *c, int64 cid, SimCust *s, pg_prng_state *st,
			   int64 seed)
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

static void
build_repertoire(const Model *m, const Customer *c, int64 cid, SimCust *s)
{
	pg_prng_state st,
				ist;
	Profile		pr;
	int			r,
				k;

	seed_stream(&st, m->seed, TAG_REPERTOIRE, (uint64) cid);
	make_profile(&pr, c->type, c->taste, c->pet);
	draw_interests(c, cid, s, &ist, m->seed);
	s->type = c->type;
	s->taste = c->taste;
	for (r = 0; r < REP; r++)
	{
		int			p = -1,
					tries;

		for (tries = 0; tries < 10; tries++)
		{
			bool		dup = false;

			if (rnd(&st) < 0.5 && m->staple_s.n > 0)
			{
				p = sampler_pick(&m->staple_s, &st);
				if (veg_reject(&m->prod[p], &pr, &st))
					continue;
			}
			else if (rnd(&ist) < 0.35 &&
					 (p = pick_interest(m, &pr, s, &ist, Max(c->start, 0))) >= 0)
				 /* a favourite from the customer's interests */ ;
			else
				p = pick_general(m, &pr, &st, Max(c->start, 0));
			if (c->taste == S_VEG && (m->prod[p].cat == C_KJOTT || m->prod[p].cat == C_FISK))
				continue;
			if (m->prod[p].flags & F_SEASON)
				continue;
			for (k = 0; k < r; k++)
				if (s->rep[k] == p)
					dup = true;
			if (!dup)
				break;
		}
		s->rep[r] = p;
		s->last[r] = -30000;
	}
	s->last_product = -1;
	s->flags = (c->pet ? SC_PET : 0) | (c->digital ? SC_DIGITAL : 0) | (c->app ? SC_APP : 0);
	s->store1 = c->store1;
	s->start = c->start;
	s->end = c->end;
}

static const double rep_aff_base = 0.85;

/* share of a customer's theme lines from their interests' theme products */
static const double theme_personal = 0.5;

/* chance that a free pick from the interests becomes a favourite */
static const double rep_adopt = 0.15;

/*
 * Repertoire drift: product p (just picked from the customer's interests)
 * replaces one of the less-loved favourites (ranks REP/2 .. REP-1), keeping
 * the repertoire rules (no duplicates, nothing seasonal, no meat or fish for
 * vegetarians).
 */
static void
adopt_favourite(const Model *m, SimCust *s, pg_prng_state *st, int p, int d)
{
	const Product *prod = &m->prod[p];
	int			j;

	if ((prod->flags & F_SEASON) ||
		(s->taste == S_VEG && (prod->cat == C_KJOTT || prod->cat == C_FISK)))
		return;
	for (j = 0; j < REP; j++)
		if (s->rep[j] == p)
			return;
	j = rint_range(st, REP / 2, REP - 1);
	s->rep[j] = p;
	s->last[j] = d;
}

static void
simulate(const Model *m, LineCallback cb, void *cbarg, SimCust **sc_out)
{
	MemoryContext tmpcxt;
	SimCust    *sc;
	Receipt    *rec;
	int64		nrec = 0,
				caprec,
				i,
				line_id = 0;
	uint32		seq = 0;
	double		W = 0,
				cumw = 0,
				f,
				bscale,
				vscale;
	int64		T_non = (int64) floor(m->ntx * 0.02 + 0.5);
	int64		T_mem = m->ntx - T_non,
				prev_alloc = 0;
	int32		cid;
	Customer	c;
	int			bufcap = 64;
	Line	   *buf;
	int32	   *basket_prod;

	sc = palloc_extended(sizeof(SimCust) * ((Size) m->ncust + 1), MCXT_ALLOC_HUGE);
	if (sc_out)
		*sc_out = sc;

	/* pass 1: total weight */
	for (cid = 1; cid <= m->ncust; cid++)
	{
		if (cid % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
		gen_customer(m, cid, &c);
		W += c.w;
	}
	if (W <= 0)
	{
		/* no customer can shop: all lines go to non-members */
		T_non = m->ntx;
		T_mem = 0;
		W = 1;
	}
	/* scale relative to the reference (default) scale */
	f = (T_mem / (double) m->ncust) / (W / m->ncust) * 1.0;
	bscale = Min(Max(pow(f, 0.3), 0.5), 2.0);
	vscale = f / bscale;

	caprec = Max(1024, (int64) (m->ntx / 5));
	rec = palloc_extended(sizeof(Receipt) * caprec, MCXT_ALLOC_HUGE);

	tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco demo plan",
								   ALLOCSET_DEFAULT_SIZES);

	/* pass 2: plan visits, exact line budgets by cumulative rounding */
	for (cid = 1; cid <= m->ncust; cid++)
	{
		int64		alloc,
					n;
		MemoryContext old;

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		gen_customer(m, cid, &c);
		cumw += c.w;
		alloc = (cid == m->ncust) ? T_mem : (int64) floor(T_mem * (cumw / W) + 0.5);
		alloc = Min(alloc, T_mem);
		n = alloc - prev_alloc;
		prev_alloc = alloc;
		build_repertoire(m, &c, cid, &sc[cid]);
		old = MemoryContextSwitchTo(tmpcxt);
		plan_customer(m, &c, cid, n, vscale, bscale, &rec, &nrec, &caprec, &seq);
		MemoryContextSwitchTo(old);
		MemoryContextReset(tmpcxt);
	}
	MemoryContextDelete(tmpcxt);

	/* non-member receipts */
	{
		pg_prng_state st;
		int64		left = T_non;
		double		dayw[NDAYS],
					dc = 0;
		int			d;
		static const double wdw[7] = {0.13, 0.12, 0.13, 0.15, 0.19, 0.22, 0.06};

		seed_stream(&st, m->seed, TAG_NONMEMBER, 0);
		for (d = 0; d < NDAYS; d++)
		{
			dc += m->cal[d].closed ? 0.06 : wdw[m->cal[d].wd];
			dayw[d] = dc;
		}
		while (left > 0)
		{
			Receipt    *r;
			int			k = 1 + (int) floor(-3.0 * log(1.0 - rnd(&st)));
			double		u = rnd(&st) * dc;
			int			lo = 0,
						hi = NDAYS - 1;

			if ((seq & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			while (lo < hi)
			{
				int			mid = (lo + hi) / 2;

				if (dayw[mid] > u)
					hi = mid;
				else
					lo = mid + 1;
			}
			if (nrec + 1 > caprec)
			{
				caprec *= 2;
				rec = repalloc_huge(rec, sizeof(Receipt) * caprec);
			}
			r = &rec[nrec++];
			r->cust = 0;
			r->nlines = (int32) Min((int64) k, left);
			left -= r->nlines;
			r->seq = seq++;
			r->day = lo;
			r->online = 0;
			if (m->cal[lo].closed)
			{
				static const int sun[7] = {5, 13, 21, 29, 37, 45, 53};

				r->store = sun[rint_range(&st, 0, 6)];
			}
			else
				r->store = rint_range(&st, 1, NSTORES);
			r->sod = visit_sod(m, &st, T_DAILY, lo, false, m->cal[lo].closed);
		}
	}

	qsort(rec, nrec, sizeof(Receipt), receipt_cmp);

	/* pass 3: lines */
	buf = palloc(sizeof(Line) * bufcap);
	basket_prod = palloc(sizeof(int32) * bufcap);
	for (i = 0; i < nrec; i++)
	{
		Receipt    *r = &rec[i];
		pg_prng_state st,
					ist;
		Profile		pr;
		SimCust    *s = r->cust ? &sc[r->cust] : NULL;
		int			d = r->day,
					k = r->nlines,
					n = 0,
					j,
					theme = TH_NONE,
					ntheme = 0,
					maxrep;
		double		u;

		if ((i & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		seed_stream(&st, m->seed, TAG_RECEIPT, r->seq);
		if (k > bufcap)
		{
			bufcap = k * 2;
			buf = repalloc_huge(buf, sizeof(Line) * bufcap);
			basket_prod = repalloc_huge(basket_prod, sizeof(int32) * bufcap);
		}
		if (s)
			make_profile(&pr, s->type, s->taste, (s->flags & SC_PET) != 0);
		else
			make_profile(&pr, T_DAILY, S_MAIN, rnd(&st) < 0.2);

#define ADD_LINE(prod_, qty_) do { \
			Line *l_ = &buf[n]; \
			l_->product = (prod_); \
			l_->qty = (qty_); \
			l_->price = m->prod[(prod_)].price[price_window(d)]; \
			l_->disc = 0; \
			basket_prod[n] = (prod_); \
			n++; \
		} while (0)

		/* a return of something from the previous receipt */
		if (s && s->last_product >= 0 && rnd(&st) < 0.006 * k)
		{
			ADD_LINE(s->last_product, -s->last_qty);
		}
		/* a free item */
		if (n < k && rnd(&st) < 0.001 * k)
		{
			int			p = (m->bag >= 0 && rnd(&st) < 0.7) ? m->bag :
			pick_general(m, &pr, &st, d);

			ADD_LINE(p, 1000);
			buf[n - 1].disc = buf[n - 1].price;
		}
		/* a themed receipt */
		u = rnd(&st);
		for (j = TH_JUL; j < NTHEME; j++)
		{
			if (u < m->cal[d].theme_p[j])
			{
				theme = j;
				break;
			}
			u -= m->cal[d].theme_p[j];
		}
		if (theme != TH_NONE)
			ntheme = (k - n >= 3) ? rint_range(&st, 2, 5) : 1;
		if (s)
			seed_stream(&ist, m->seed, TAG_DISCOVER, r->seq);
		while (ntheme-- > 0 && n < k)
		{
			int			p = -1;
			bool		dup = false;

			/* half of a customer's theme lines follow their interests */
			if (s && s->ninterest > 0 && rnd(&ist) < theme_personal)
				p = pick_theme_interest(m, &pr, s, &ist, theme, d);
			if (p < 0)
				p = pick_theme(m, &pr, &st, theme, d);

			if (p < 0)
				break;
			for (j = 0; j < n; j++)
				if (basket_prod[j] == p)
					dup = true;
			if (!dup)
			{
				int32		q;

				quantity_for(&m->prod[p], pr.type, &st, &q);
				ADD_LINE(p, q);
			}
		}
		/* favourites due for re-purchase */
		if (s)
		{
			maxrep = n + (int) ceil((k - n) * 0.75);
			for (j = 0; j < REP && n < maxrep; j++)
			{
				int			p = s->rep[j];
				double		aff = rep_aff_base * pow(0.88, j);
				double		cycle = (m->prod[p].flags & F_STAPLE) ? 7.0 : 18.0;
				double		due = (d - s->last[j]) / cycle;
				int			t;
				bool		dup = false;

				due = due < 0.15 ? 0.15 : due > 1.5 ? 1.5 : due;
				if (rnd(&st) >= aff * due || !available(&m->prod[p], d))
					continue;
				for (t = 0; t < n; t++)
					if (basket_prod[t] == p)
						dup = true;
				s->last[j] = d;
				if (!dup)
				{
					int32		q;

					quantity_for(&m->prod[p], pr.type, &st, &q);
					ADD_LINE(p, q);
				}
			}
		}
		/*
		 * free choice: a share from the customer's interests (own stream),
		 * some from this week's campaigns, the rest by category
		 */
		while (n < k)
		{
			int			p = -1,
						t,
						tries;
			int32		q;
			int			w = d / 7;
			bool		from_interest = false;

			for (tries = 0; tries < 4; tries++)
			{
				bool		dup = false;

				from_interest = false;
				if (s && s->ninterest > 0 && rnd(&ist) < s->explore &&
					(p = pick_interest(m, &pr, s, &ist, d)) >= 0)
					from_interest = true;
				else if (m->camp_n[w] > 0 &&
					rnd(&st) < (pr.taste == S_BUDGET ? 0.12 : 0.05))
				{
					p = m->camp_list[w][rint_range(&st, 0, m->camp_n[w] - 1)];
					if (!available(&m->prod[p], d) || veg_reject(&m->prod[p], &pr, &st) ||
						(m->prod[p].cat == C_DYR && !pr.pet) ||
						(m->prod[p].cat == C_BABY && pr.taste != S_BABY))
						p = pick_general(m, &pr, &st, d);
				}
				else
					p = pick_general(m, &pr, &st, d);
				for (t = 0; t < n; t++)
					if (basket_prod[t] == p)
						dup = true;
				if (!dup)
					break;
			}
			quantity_for(&m->prod[p], pr.type, &st, &q);
			ADD_LINE(p, q);
			if (from_interest && rnd(&ist) < rep_adopt)
				adopt_favourite(m, s, &ist, p, d);
		}
#undef ADD_LINE

		/* shuffle, price, emit */
		for (j = n - 1; j > 0; j--)
		{
			int			t = rint_range(&st, 0, j);
			Line		tmp = buf[j];

			buf[j] = buf[t];
			buf[t] = tmp;
		}
		for (j = 0; j < n; j++)
		{
			Line	   *l = &buf[j];

			l->line_id = ++line_id;
			l->receipt_id = i + 1;
			l->cust = r->cust;
			l->store = r->store;
			l->day = d;
			l->sod = r->sod;
			l->online = r->online != 0;
			if (l->qty > 0 && l->disc == 0)
			{
				int			pct = campaign_pct(m, l->product, d);

				if (pct > 0)
					l->disc = div1000_round((int64) l->qty * l->price * pct / 100);
			}
			finish_line(m, l);
			cb(cbarg, l);
		}
		if (s && n > 0)
		{
			for (j = 0; j < n; j++)
				if (buf[j].qty > 0)
				{
					s->last_product = buf[j].product;
					s->last_qty = buf[j].qty;
					break;
				}
		}
	}
	pfree(buf);
	pfree(basket_prod);
	pfree(rec);
}

/* ---------------------------------------------------------------------
 * Argument checks and model construction
 * --------------------------------------------------------------------- */
static void
check_args(FunctionCallInfo fcinfo, Model *m)
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

static void
build_model(Model *m, bool catalogue)
{
	build_calendar(m);
	build_geography(m);
	if (catalogue)
	{
		build_catalogue(m);
		build_interests(m);
	}
}

/* set up materialize mode and a private scratch context */
static MemoryContext
begin_srf(FunctionCallInfo fcinfo, int natts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (rsinfo->setDesc->natts != natts)
		elog(ERROR, "return type must have %d columns", natts);
	return AllocSetContextCreate(CurrentMemoryContext, "seg_reco demo data",
								 ALLOCSET_DEFAULT_SIZES);
}

static inline Datum
money_datum(int64 ore)
{
	return NumericGetDatum(int64_div_fast_to_numeric(ore, 2));
}

/* ---------------------------------------------------------------------
 * SQL-callable functions
 * --------------------------------------------------------------------- */
static const char *
tier_for(const Customer *c, double mean_w)
{
	double		r = (mean_w > 0 ? c->w / mean_w : 0) * c->tier_noise;

	if (r > 2.2)
		return "platina";
	if (r > 1.3)
		return "gull";
	if (r > 0.7)
		return "sølv";
	return "basis";
}

Datum
seg_reco_demo_customers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				rowcxt,
				old;
	double		W = 0;
	int32		cid;
	Customer	c;

	cxt = begin_srf(fcinfo, 11);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	check_args(fcinfo, m);
	build_model(m, false);
	rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_SMALL_SIZES);

	for (cid = 1; cid <= m->ncust; cid++)
	{
		if (cid % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
		gen_customer(m, cid, &c);
		W += c.w;
	}
	for (cid = 1; cid <= m->ncust; cid++)
	{
		Datum		values[11];
		bool		nulls[11] = {0};
		char		buf[8];
		char		g[2];

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		gen_customer(m, cid, &c);
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
		values[9] = CStringGetTextDatum(tier_for(&c, W / m->ncust));
		values[10] = BoolGetDatum(c.email);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

Datum
seg_reco_demo_truth(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				old;
	int32		cid;
	Customer	c;

	cxt = begin_srf(fcinfo, 6);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	check_args(fcinfo, m);
	build_model(m, false);
	MemoryContextSwitchTo(old);

	for (cid = 1; cid <= m->ncust; cid++)
	{
		Datum		values[6];
		bool		nulls[6] = {0};

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		gen_customer(m, cid, &c);
		values[0] = Int64GetDatum(cid);
		/* text datums point into static strings: copy via cstring_to_text */
		old = MemoryContextSwitchTo(cxt);
		values[1] = CStringGetTextDatum(type_name[c.type]);
		values[2] = CStringGetTextDatum(taste_name[c.taste]);
		values[3] = BoolGetDatum(c.joined_late);
		if (c.churned)
			values[4] = DateADTGetDatum(DAY0_PGDATE + c.churned_on);
		else
			nulls[4] = true;
		values[5] = BoolGetDatum(c.at_risk);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[1]));
		pfree(DatumGetPointer(values[2]));
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

static char *
product_name(const Model *m, const Product *p, StringInfo sb)
{
	const ItemParsed *ip = &m->items[p->item];
	const BaseItem *bi = &base_items[p->item];
	const char *brand = product_brand(m, p);

	resetStringInfo(sb);
	if (brand && !((bi->flags & F_NB) && p->brand >= 0))
		appendStringInfo(sb, "%s ", brand);
	appendStringInfoString(sb, bi->name);
	if (ip->nflav > 0 && ip->flav[p->flav][0] != '\0')
		appendStringInfo(sb, " %s", ip->flav[p->flav]);
	if (p->organic && p->brand != -5)
		appendStringInfoString(sb, " Økologisk");
	if (ip->nsize > 0 && !(bi->flags & F_KG) && strcmp(ip->size[p->size], "stk") != 0)
		appendStringInfo(sb, " %s", ip->size[p->size]);
	if (p->pack > 0)
		appendStringInfo(sb, " %s", pack_name[p->pack]);
	return sb->data;
}

Datum
seg_reco_demo_products(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				rowcxt,
				old;
	int32		i;
	StringInfoData sb,
				db;

	cxt = begin_srf(fcinfo, 13);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	check_args(fcinfo, m);
	build_model(m, true);
	initStringInfo(&sb);
	initStringInfo(&db);
	rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_SMALL_SIZES);

	for (i = 0; i < m->nprod; i++)
	{
		const Product *p = &m->prod[i];
		const BaseItem *bi = &base_items[p->item];
		const ItemParsed *ip = &m->items[p->item];
		const char *brand = product_brand(m, p);
		Datum		values[13];
		bool		nulls[13] = {0};
		pg_prng_state st;
		double		u;

		if (i % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		seed_stream(&st, m->seed, TAG_DESC, (uint64) i);
		MemoryContextSwitchTo(rowcxt);

		values[0] = Int64GetDatum((int64) i + 1);
		values[1] = CStringGetTextDatum(product_name(m, p, &sb));
		if (brand)
			values[2] = CStringGetTextDatum(brand);
		else
			nulls[2] = true;
		values[3] = CStringGetTextDatum(cat_name[p->cat]);
		values[4] = CStringGetTextDatum(bi->sub);

		/* description */
		u = rnd(&st);
		if (u < 0.01)
			nulls[5] = true;
		else
		{
			resetStringInfo(&db);
			if (u >= 0.02)
			{
				appendStringInfoString(&db, bi->desc);
				if (ip->nflav > 1 && ip->flav[p->flav][0] != '\0')
					appendStringInfo(&db, " Smak: %s.", ip->flav[p->flav]);
				if (p->brand < 0)
					appendStringInfo(&db, " %s", own_brand_phrase[-p->brand - 1]);
				if (p->organic && p->brand != -5)
					appendStringInfoString(&db, " Økologisk produsert og Debio-godkjent.");
				if ((bi->flags & F_VEG) && (p->cat == C_FERDIG || p->cat == C_FRYS) &&
					rnd(&st) < 0.7)
					appendStringInfoString(&db, " Egnet for vegetarianere.");
				if ((bi->flags & F_JUL) && rnd(&st) < 0.6)
					appendStringInfoString(&db, " En klassiker i julen.");
				if ((bi->flags & F_GRILL) && rnd(&st) < 0.5)
					appendStringInfoString(&db, " Perfekt til grillen i sommer.");
				if ((bi->flags & F_TACO) && rnd(&st) < 0.5)
					appendStringInfoString(&db, " Perfekt til fredagstaco.");
				if (rnd(&st) < 0.6)
					appendStringInfo(&db, " %s", cat_phrase[p->cat][rint_range(&st, 0, 2)]);
			}
			values[5] = CStringGetTextDatum(db.data);
		}
		values[6] = money_datum(p->price[4]);
		values[7] = CStringGetTextDatum((bi->flags & F_KG) ? "kg" : "stk");
		values[8] = BoolGetDatum(p->own_brand);
		values[9] = BoolGetDatum(p->organic);
		values[10] = BoolGetDatum((bi->flags & F_VEG) != 0);
		values[11] = BoolGetDatum(p->delist >= NDAYS);
		values[12] = DateADTGetDatum(p->launch_date);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

typedef struct TxEmit
{
	ReturnSetInfo *rsinfo;
	MemoryContext rowcxt;
	Datum		store_txt,
				online_txt;
	int64		n;
} TxEmit;

static void
emit_transaction(void *arg, const Line *l)
{
	TxEmit	   *e = arg;
	Datum		values[11];
	bool		nulls[11] = {0};
	MemoryContext old = MemoryContextSwitchTo(e->rowcxt);

	values[0] = Int64GetDatum(l->line_id);
	values[1] = Int64GetDatum(l->receipt_id);
	if (l->cust)
		values[2] = Int64GetDatum((int64) l->cust);
	else
		nulls[2] = true;
	values[3] = Int64GetDatum((int64) l->product + 1);
	values[4] = Int32GetDatum(l->store);
	values[5] = TimestampTzGetDatum(make_ts(l->day, l->sod));
	values[6] = NumericGetDatum(int64_div_fast_to_numeric(l->qty, 3));
	values[7] = money_datum(l->price);
	values[8] = money_datum(l->disc);
	values[9] = money_datum(l->amount);
	values[10] = l->online ? e->online_txt : e->store_txt;
	tuplestore_putvalues(e->rsinfo->setResult, e->rsinfo->setDesc, values, nulls);
	MemoryContextSwitchTo(old);
	if (++e->n % 256 == 0)
		MemoryContextReset(e->rowcxt);
}

Datum
seg_reco_demo_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				old;
	TxEmit		e;

	cxt = begin_srf(fcinfo, 11);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	check_args(fcinfo, m);
	build_model(m, true);
	e.rsinfo = rsinfo;
	e.rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_DEFAULT_SIZES);
	e.store_txt = CStringGetTextDatum("store");
	e.online_txt = CStringGetTextDatum("online");
	e.n = 0;
	simulate(m, emit_transaction, &e, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Digital events
 * --------------------------------------------------------------------- */
enum
{
	E_VIEW, E_CLICK, E_CART, E_UNCART, E_SEARCH
};
static const char *const event_name[5] = {
	"view", "click", "add_to_cart", "remove_from_cart", "search"
};

typedef struct Event
{
	int32		cust;
	int32		product;		/* -1: none */
	int32		day, sod;
	uint32		session;
	uint32		seq;
	uint8		type;
	uint8		app;
	int16		search;			/* -1: none */
} Event;

typedef struct Search
{
	const char *text;
	int			cat;			/* category, or -1 - theme */
} Search;

static const Search searches[] = {
	{"melk", C_MEIERI}, {"lettmelk", C_MEIERI}, {"ost", C_MEIERI}, {"brunost", C_MEIERI},
	{"yoghurt", C_MEIERI}, {"egg", C_MEIERI}, {"smør", C_MEIERI}, {"rømme", C_MEIERI},
	{"brød", C_BROD}, {"grovbrød", C_BROD}, {"glutenfri brød", C_BROD}, {"knekkebrød", C_BROD},
	{"rundstykker", C_BROD}, {"bananer", C_FRUKT}, {"epler", C_FRUKT}, {"tomater", C_FRUKT},
	{"agurk", C_FRUKT}, {"poteter", C_FRUKT}, {"avokado", C_FRUKT}, {"salat", C_FRUKT},
	{"kjøttdeig", C_KJOTT}, {"kyllingfilet", C_KJOTT}, {"pølser", C_KJOTT}, {"bacon", C_KJOTT},
	{"pålegg", C_KJOTT}, {"laks", C_FISK}, {"torsk", C_FISK}, {"fiskekaker", C_FISK},
	{"reker", C_FISK}, {"pizza", C_FRYS}, {"grandiosa", C_FRYS}, {"is", C_FRYS},
	{"fiskepinner", C_FRYS}, {"vegetar", C_FRYS}, {"kaffe", C_DRIKKE}, {"brus", C_DRIKKE},
	{"pepsi max", C_DRIKKE}, {"energidrikk", C_DRIKKE}, {"juice", C_DRIKKE}, {"sjokolade", C_SNACKS},
	{"chips", C_SNACKS}, {"potetgull", C_SNACKS}, {"godteri", C_SNACKS}, {"havregryn", C_TORR},
	{"pasta", C_TORR}, {"ris", C_TORR}, {"nudler", C_TORR}, {"mel", C_TORR},
	{"toalettpapir", C_HUS}, {"oppvaskmiddel", C_HUS}, {"vaskemiddel", C_HUS}, {"bleier", C_BABY},
	{"barnemat", C_BABY}, {"kattemat", C_DYR}, {"hundemat", C_DYR}, {"tannkrem", C_PLEIE},
	{"sjampo", C_PLEIE}, {"lasagne", C_FERDIG}, {"middag", C_FERDIG}, {"taco", -1 - TH_TACO},
	{"tacokrydder", -1 - TH_TACO}, {"lefser", -1 - TH_TACO}, {"ribbe", -1 - TH_JUL},
	{"julebrus", -1 - TH_JUL}, {"pinnekjøtt", -1 - TH_JUL}, {"påskeegg", -1 - TH_PASKE},
	{"appelsiner", -1 - TH_PASKE}, {"grillpølser", -1 - TH_GRILL}, {"grill", -1 - TH_GRILL},
	{"tilbud", -100}, {"økologisk", -101}
};

#define NSEARCH ((int) lengthof(searches))

typedef struct EvState
{
	const Model *m;
	int64		seen;
	int64		cap;
	Line	   *res;			/* reservoir of purchase lines */
	int64		nres;
	pg_prng_state st;
} EvState;

static void
reservoir_line(void *arg, const Line *l)
{
	EvState    *e = arg;

	/* cb is called with lines of any customer; keep digital members' buys */
	if (l->cust == 0 || l->qty <= 0 || e->cap == 0)
		return;
	/* digital flag is checked by the caller's filter below */
	e->seen++;
	if (e->nres < e->cap)
		e->res[e->nres++] = *l;
	else
	{
		int64		j = (int64) pg_prng_uint64_range(&e->st, 0, (uint64) e->seen - 1);

		if (j < e->cap)
			e->res[j] = *l;
	}
}

typedef struct EvFilter
{
	EvState    *ev;
	SimCust   **sc;
} EvFilter;

static void
reservoir_filtered(void *arg, const Line *l)
{
	EvFilter   *f = arg;

	if (l->cust != 0 && ((*f->sc)[l->cust].flags & SC_DIGITAL))
		reservoir_line(f->ev, l);
}

static int
event_cmp(const void *a, const void *b)
{
	const Event *x = a,
			   *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->sod != y->sod)
		return x->sod < y->sod ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* subtract seconds from (day, sod), clamped to the period start */
static void
shift_back(int *day, int *sod, int64 secs)
{
	int64		orig = (int64) *day * 86400 + *sod;
	int64		t = orig - secs;

	/* purchases in the first days: a shorter lag, not before 06:00 */
	if (t < 6 * 3600)
		t = orig > 6 * 3600 ? (orig + 6 * 3600) / 2 : orig;
	*day = (int) (t / 86400);
	*sod = (int) (t % 86400);
}

Datum
seg_reco_demo_digital_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				rowcxt,
				old;
	EvState		ev;
	EvFilter	flt;
	SimCust    *sc = NULL;
	Event	   *evs;
	int64		nev = 0,
				target_ant,
				i,
				k;
	uint32		session = 0,
				seq = 0;
	int32	   *digital;
	int32		ndigital = 0;
	uint32	   *session_map;
	uint32		next_session = 0;
	Datum		type_txt[5],
				app_txt,
				web_txt;

	cxt = begin_srf(fcinfo, 8);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	check_args(fcinfo, m);
	build_model(m, true);

	evs = palloc_extended(sizeof(Event) * Max(m->nev, 1), MCXT_ALLOC_HUGE);
	target_ant = (int64) floor(m->nev * 0.6 + 0.5);

	/* replay the purchases, sampling lines of digitally active customers */
	memset(&ev, 0, sizeof(ev));
	ev.m = m;
	ev.cap = target_ant;
	ev.res = palloc_extended(sizeof(Line) * Max(ev.cap, 1), MCXT_ALLOC_HUGE);
	seed_stream(&ev.st, m->seed, TAG_EVENTS, 0);
	flt.ev = &ev;
	flt.sc = &sc;
	if (m->nev > 0)
		simulate(m, reservoir_filtered, &flt, &sc);

	/* anticipation chains: view (, click) (, add_to_cart) before a purchase */
	for (i = 0; i < ev.nres && nev < target_ant; i++)
	{
		const Line *l = &ev.res[i];
		pg_prng_state st;
		int			day = l->day,
					sod = l->sod;
		int64		lag;
		bool		app;
		int			steps,
					s;
		int			types[3];

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		seed_stream(&st, m->seed, TAG_EVENTS, (uint64) l->line_id);
		if (l->online)
			lag = 60 * rint_range(&st, 2, 60);
		else
			lag = 600 + (int64) (-1.5 * 86400.0 * log(1.0 - rnd(&st)));
		lag = Min(lag, 6 * 86400);
		shift_back(&day, &sod, lag);
		app = (sc[l->cust].flags & SC_APP) ? rnd(&st) < 0.85 : rnd(&st) < 0.2;
		steps = 0;
		types[steps++] = E_VIEW;
		if (rnd(&st) < 0.55)
			types[steps++] = E_CLICK;
		if (rnd(&st) < (l->online ? 0.9 : 0.45))
			types[steps++] = E_CART;
		session++;
		for (s = 0; s < steps && nev < target_ant; s++)
		{
			Event	   *x = &evs[nev++];

			x->cust = l->cust;
			x->product = l->product;
			x->day = day;
			x->sod = sod;
			x->session = session;
			x->seq = seq++;
			x->type = types[s];
			x->app = app;
			x->search = -1;
			/* a minute or a few later */
			{
				int64		t = (int64) day * 86400 + sod + rint_range(&st, 20, 300);

				if (t < (int64) NDAYS * 86400)
				{
					day = (int) (t / 86400);
					sod = (int) (t % 86400);
				}
			}
		}
	}

	/* browsing sessions of digitally active customers */
	digital = palloc(sizeof(int32) * ((Size) m->ncust + 1));
	if (sc == NULL)
	{
		/* no purchases simulated: rebuild the customer flags */
		Customer	c;
		int32		cid;

		sc = palloc_extended(sizeof(SimCust) * ((Size) m->ncust + 1), MCXT_ALLOC_HUGE);
		for (cid = 1; cid <= m->ncust; cid++)
		{
			if (cid % 4096 == 0)
				CHECK_FOR_INTERRUPTS();
			gen_customer(m, cid, &c);
			build_repertoire(m, &c, cid, &sc[cid]);
		}
	}
	for (k = 1; k <= m->ncust; k++)
		if ((sc[k].flags & SC_DIGITAL) && sc[k].end >= sc[k].start)
			digital[ndigital++] = (int32) k;
	if (ndigital == 0)
	{
		for (k = 1; k <= m->ncust; k++)
			if (sc[k].end >= sc[k].start)
				digital[ndigital++] = (int32) k;
	}
	if (ndigital == 0)
		digital[ndigital++] = 1;

	while (nev < m->nev)
	{
		pg_prng_state st;
		int32		cid;
		SimCust    *s;
		Profile		pr;
		int			day,
					sod,
					nviews,
					v,
					cat = -1,
					theme = TH_NONE,
					filter = 0;
		bool		app;
		double		h;

		if ((session & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		session++;
		seed_stream(&st, m->seed, TAG_EVENTS, UINT64CONST(1) << 40 | session);
		cid = digital[rint_range(&st, 0, ndigital - 1)];
		s = &sc[cid];
		make_profile(&pr, s->type, s->taste, (s->flags & SC_PET) != 0);
		day = (s->end >= s->start) ? rint_range(&st, Max(s->start, 0), s->end) :
			rint_range(&st, 0, NDAYS - 1);
		h = 20.0 + 3.0 * rnorm(&st);
		if (h < 6.0 || h >= 24.0)
			h = 6.0 + 18.0 * rnd(&st);
		sod = clampi((int) (h * 3600.0), 6 * 3600, 86399 - 3600);
		app = (s->flags & SC_APP) ? rnd(&st) < 0.85 : rnd(&st) < 0.2;

#define ADD_EVENT(type_, prod_, search_) do { \
			Event *x_ = &evs[nev++]; \
			x_->cust = cid; x_->product = (prod_); x_->day = day; x_->sod = sod; \
			x_->session = session; x_->seq = seq++; x_->type = (type_); \
			x_->app = app; x_->search = (search_); \
			sod = Min(sod + rint_range(&st, 10, 240), 86399); \
		} while (0)

		if (rnd(&st) < 0.8)
		{
			int			q = rint_range(&st, 0, NSEARCH - 1);

			/* seasonal searches in season */
			if (m->cal[day].theme_p[TH_JUL] > 0.2 && rnd(&st) < 0.5)
			{
				int			nj = 0,
							jl[NSEARCH],
							t;

				for (t = 0; t < NSEARCH; t++)
					if (searches[t].cat == -1 - TH_JUL)
						jl[nj++] = t;
				q = jl[rint_range(&st, 0, nj - 1)];
			}
			cat = searches[q].cat;
			if (cat <= -100)
			{
				filter = cat;
				cat = -1;
			}
			else if (cat < 0)
			{
				theme = -1 - cat;
				cat = -1;
			}
			ADD_EVENT(E_SEARCH, -1, q);
		}
		nviews = rint_range(&st, 1, 4);
		for (v = 0; v < nviews && nev < m->nev; v++)
		{
			int			p = -1;

			if (theme != TH_NONE)
				p = pick_theme(m, &pr, &st, theme, day);
			else if (filter == -100 && m->camp_n[day / 7] > 0)
				p = m->camp_list[day / 7][rint_range(&st, 0, m->camp_n[day / 7] - 1)];
			else if (filter == -101)
			{
				int			c2 = rint_range(&st, 0, NCAT - 1);

				p = sampler_pick(&m->cat_s[c2][FL_ORG], &st);
			}
			else if (cat >= 0)
				p = sampler_pick(&m->cat_s[cat][FL_ALL], &st);
			if (p < 0 || !available(&m->prod[p], day))
				p = pick_general(m, &pr, &st, day);
			ADD_EVENT(E_VIEW, p, -1);
			if (nev < m->nev && rnd(&st) < 0.30)
			{
				ADD_EVENT(E_CLICK, p, -1);
				if (nev < m->nev && rnd(&st) < 0.35)
				{
					ADD_EVENT(E_CART, p, -1);
					if (nev < m->nev && rnd(&st) < 0.30)
						ADD_EVENT(E_UNCART, p, -1);
				}
			}
		}
#undef ADD_EVENT
	}

	qsort(evs, nev, sizeof(Event), event_cmp);

	/* sessions numbered by their first event */
	session_map = palloc0(sizeof(uint32) * ((Size) session + 1));
	type_txt[0] = CStringGetTextDatum(event_name[0]);
	type_txt[1] = CStringGetTextDatum(event_name[1]);
	type_txt[2] = CStringGetTextDatum(event_name[2]);
	type_txt[3] = CStringGetTextDatum(event_name[3]);
	type_txt[4] = CStringGetTextDatum(event_name[4]);
	app_txt = CStringGetTextDatum("app");
	web_txt = CStringGetTextDatum("web");
	rowcxt = AllocSetContextCreate(cxt, "row", ALLOCSET_SMALL_SIZES);
	for (i = 0; i < nev; i++)
	{
		const Event *x = &evs[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (session_map[x->session] == 0)
			session_map[x->session] = ++next_session;
		MemoryContextSwitchTo(rowcxt);
		values[0] = Int64GetDatum(i + 1);
		values[1] = Int64GetDatum((int64) x->cust);
		if (x->product >= 0)
			values[2] = Int64GetDatum((int64) x->product + 1);
		else
			nulls[2] = true;
		values[3] = type_txt[x->type];
		values[4] = TimestampTzGetDatum(make_ts(x->day, x->sod));
		values[5] = x->app ? app_txt : web_txt;
		values[6] = Int64GetDatum((int64) session_map[x->session]);
		if (x->search >= 0)
			values[7] = CStringGetTextDatum(searches[x->search].text);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(cxt);
		if ((i & 255) == 255)
			MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
