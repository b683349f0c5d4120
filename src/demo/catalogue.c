/*
 * catalogue.c
 *      The demo's product catalogue and seg_reco._demo_products.
 *
 * About 230 base items with real Norwegian brands; the further products are
 * variants of them (other brands, own brands, organic, sizes, flavours,
 * packs) with prices per price window, a long-tailed popularity and a life
 * cycle (launched, delisted), and the weighted samplers the simulation
 * picks products from.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/tuplestore.h"

#include "demo.h"

PG_FUNCTION_INFO_V1(seg_reco_demo_products);

/* ---------------------------------------------------------------------
 * Categories and base items
 * --------------------------------------------------------------------- */
static const char *const cat_name[NCAT] = {
	"meieri", "brød og bakevarer", "frukt og grønt", "kjøtt", "fisk og sjømat",
	"frysevarer", "drikke", "snacks og godteri", "tørrvarer", "husholdning",
	"baby", "dyremat", "personlig pleie", "ferdigmat"
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

StaticAssertDecl(lengthof(base_items) == NITEMS, "NITEMS in demo.h counts base_items");

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
 * Building the catalogue
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

/* parse the "|"-separated sizes, brands and flavours of every base item */
static void
parse_items(Model *m)
{
	int			i;

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
}

/* the base items in the order they become the first products */
static int32 *
item_order(void)
{
	int32	   *order;
	int			nord = 0,
				c,
				pos[NCAT];

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
	return order;
}

/*
 * Draw a variant of a base item into p (item, brand, size, flavour, organic,
 * pack), drawing again while the combination is already among the keys
 * (up to 12 times; popular items get more variants).  Returns its key.
 */
static uint64
draw_variant(const Model *m, pg_prng_state *st, Product *p,
			 const uint64 *keys, uint64 kmask)
{
	const BaseItem *bi;
	const ItemParsed *ip;
	int			tries;
	uint64		key = 0;

	for (tries = 0; tries < 12; tries++)
	{
		double		r;
		uint64		h;

		p->item = rint_range(st, 0, NITEMS - 1);
		/* popular items get more variants */
		if (rnd(st) * 100.0 > base_items[p->item].pop + 10.0 ||
			(base_items[p->item].flags & F_BAG))
		{
			tries--;
			continue;
		}
		ip = &m->items[p->item];
		bi = &base_items[p->item];
		r = rnd(st);
		p->brand = rint_range(st, 0, ip->nbrand - 1);
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
		p->size = ip->nsize > 1 ? rint_range(st, 0, ip->nsize - 1) : 0;
		p->flav = ip->nflav > 1 ? rint_range(st, 0, ip->nflav - 1) : 0;
		p->organic = (bi->flags & F_ORG) && p->brand != -5 && rnd(st) < 0.15;
		p->pack = 0;
		if (tries >= 6 && !(bi->flags & F_KG))
			p->pack = (bi->price * (ip->nsize > 0 ? ip->sizef[p->size] : 1.0) <= 60.0) ?
				rint_range(st, 1, 7) : rint_range(st, 5, 7);
		key = ((uint64) p->item << 32) | ((uint64) (p->brand + 8) << 24) |
			((uint64) p->size << 16) | ((uint64) p->flav << 8) |
			((uint64) p->organic << 7) | p->pack;
		h = seg_reco_mix64(key) & kmask;
		while (keys[h] != 0 && keys[h] != key + 1)
			h = (h + 1) & kmask;
		if (keys[h] == 0)
			break;
	}
	return key;
}

/* category, flags, own brand and budget of product i; notes the bærepose */
static void
product_kind(Model *m, Product *p, int i)
{
	const BaseItem *bi = &base_items[p->item];
	const ItemParsed *ip = &m->items[p->item];

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
}

/* the shelf prices of product i in the five price windows */
static void
product_prices(Product *p, const BaseItem *bi, const ItemParsed *ip, int i,
			   pg_prng_state *st)
{
	double		price;
	int			k;
	static const int window_day[4] = {31, 182, 397, 547};

	price = bi->price * (ip->nsize > 0 ? ip->sizef[p->size] : 1.0);
	if (p->brand < 0)
		price *= own_brand_price[-p->brand - 1];
	else if (p->brand > 0)
		price *= 0.9 + 0.1 * p->brand;
	if (p->organic)
		price *= 1.3;
	price *= pack_factor[p->pack];
	if (i >= NITEMS)
		price *= exp(0.08 * rnorm(st));
	{
		int			step = (p->flags & F_BAG) ? 0 : rint_range(st, 0, 3);
		double		mult = 1.0;

		p->price[0] = shelf_price(price);
		for (k = 0; k < 4; k++)
		{
			mult *= 1.0 + 0.015 * step;
			p->price[k + 1] = step ? shelf_price(price * mult) : p->price[0];
		}
		(void) window_day;
	}
}

/* popularity (a long tail) and life cycle (launch, delisting) of product i */
static void
product_popularity_life(Product *p, const BaseItem *bi, int i, pg_prng_state *st)
{
	double		pop;

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
		pop *= 0.35 * exp(0.8 * rnorm(st));
	p->pop = (float) pop;

	/* life cycle */
	{
		bool		core = (i < NITEMS) &&
			(bi->flags & (F_STAPLE | F_JUL | F_PASKE | F_GRILL | F_TACO | F_BAG));
		double		r = rnd(st);
		int			before = rint_range(st, 1, 7000);

		p->launch = -1;
		p->launch_date = DAY0_PGDATE - before;
		p->delist = 32767;
		if (!core && r < 0.03)
			p->delist = rint_range(st, 200, 700);
		else if (!core && r < 0.11)
		{
			p->launch = rint_range(st, 60, 650);
			p->launch_date = DAY0_PGDATE + p->launch;
		}
	}
}

/*
 * The products: first the base items (round-robin over the categories),
 * then distinct variants of them, each with prices, popularity and life
 * cycle; then the samplers the simulation picks from.
 */
void
seg_reco_demo_build_catalogue(Model *m)
{
	pg_prng_state st;
	int32	   *order;
	int			i,
				c;
	uint64	   *keys;
	uint64		kmask;
	int			ksize = 16;

	parse_items(m);
	order = item_order();

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
		uint64		key = 0;

		if (i % 1024 == 0)
			CHECK_FOR_INTERRUPTS();

		if (i < NITEMS)
		{
			p->item = order[i];
			p->brand = 0;
			key = ((uint64) p->item << 32) | (8 << 24);
		}
		else
			key = draw_variant(m, &st, p, keys, kmask);
		/* remember the key */
		{
			uint64		h = seg_reco_mix64(key) & kmask;

			while (keys[h] != 0 && keys[h] != key + 1)
				h = (h + 1) & kmask;
			keys[h] = key + 1;
		}

		bi = &base_items[p->item];
		product_kind(m, p, i);
		product_prices(p, bi, &m->items[p->item], i, &st);
		product_popularity_life(p, bi, i, &st);
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
}

/* index of the base item with this name (len bytes), NITEMS if none */
int
seg_reco_demo_item_index(const char *name, int len)
{
	int			i;

	for (i = 0; i < NITEMS; i++)
		if ((int) strlen(base_items[i].name) == len &&
			strncmp(base_items[i].name, name, len) == 0)
			break;
	return i;
}

/* ---------------------------------------------------------------------
 * seg_reco._demo_products
 * --------------------------------------------------------------------- */
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

	cxt = seg_reco_demo_begin_srf(fcinfo, 13);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	seg_reco_demo_check_args(fcinfo, m);
	seg_reco_demo_build_model(m, true);
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
