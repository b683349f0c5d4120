/*
 * events.c
 *      seg_reco._demo_digital_events: app and web events of the demo's
 *      digitally active members.
 *
 * Planted anticipation chains (view, click, add_to_cart of a product some
 * time before a sampled purchase of it) and browsing sessions (a search,
 * views in its category or theme, clicks, adds to and removals from the
 * cart), numbered in time order.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "demo.h"

PG_FUNCTION_INFO_V1(seg_reco_demo_digital_events);

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

/* the events made so far, and the session and event counters */
typedef struct EvOut
{
	Event	   *evs;
	int64		nev;
	uint32		session;		/* sessions started so far */
	uint32		seq;
} EvOut;

/*
 * Anticipation chains (up to target_ant events): for each sampled purchase
 * line, a view some time before the purchase (minutes before an online
 * order), then maybe a click and an add_to_cart of the same product, a
 * minute or a few apart, in one session.
 */
static void
anticipation_chains(const Model *m, const EvState *ev, const SimCust *sc,
					EvOut *o, int64 target_ant)
{
	int64		i;

	for (i = 0; i < ev->nres && o->nev < target_ant; i++)
	{
		const Line *l = &ev->res[i];
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
		o->session++;
		for (s = 0; s < steps && o->nev < target_ant; s++)
		{
			Event	   *x = &o->evs[o->nev++];

			x->cust = l->cust;
			x->product = l->product;
			x->day = day;
			x->sod = sod;
			x->session = o->session;
			x->seq = o->seq++;
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
}

/*
 * The customers browsing sessions are drawn from: the digitally active
 * members with an active period (if none, every member with one; if none,
 * customer 1).  Rebuilds the members' state in *scp when no purchases were
 * simulated.  Sets *ndigital to their number.
 */
static int32 *
browsing_customers(const Model *m, SimCust **scp, int32 *ndigital)
{
	int32	   *digital;
	SimCust    *sc = *scp;
	int64		k;

	*ndigital = 0;
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
			seg_reco_demo_gen_customer(m, cid, &c);
			seg_reco_demo_build_repertoire(m, &c, cid, &sc[cid]);
		}
		*scp = sc;
	}
	for (k = 1; k <= m->ncust; k++)
		if ((sc[k].flags & SC_DIGITAL) && sc[k].end >= sc[k].start)
			digital[(*ndigital)++] = (int32) k;
	if (*ndigital == 0)
	{
		for (k = 1; k <= m->ncust; k++)
			if (sc[k].end >= sc[k].start)
				digital[(*ndigital)++] = (int32) k;
	}
	if (*ndigital == 0)
		digital[(*ndigital)++] = 1;
	return digital;
}

/*
 * One browsing session of a customer drawn from digital[]: 80% start with
 * a search (a Christmas one in December), then 1-4 views in the searched
 * category or theme (or from the customer's taste), each maybe followed by
 * a click, an add_to_cart and a remove_from_cart.  Stops at m->nev events.
 */
static void
browsing_session(const Model *m, const SimCust *sc, const int32 *digital,
				 int32 ndigital, EvOut *o)
{
	pg_prng_state st;
	int32		cid;
	const SimCust *s;
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

	if ((o->session & 255) == 0)
		CHECK_FOR_INTERRUPTS();
	o->session++;
	seed_stream(&st, m->seed, TAG_EVENTS, UINT64CONST(1) << 40 | o->session);
	cid = digital[rint_range(&st, 0, ndigital - 1)];
	s = &sc[cid];
	seg_reco_demo_make_profile(&pr, s->type, s->taste, (s->flags & SC_PET) != 0);
	day = (s->end >= s->start) ? rint_range(&st, Max(s->start, 0), s->end) :
		rint_range(&st, 0, NDAYS - 1);
	h = 20.0 + 3.0 * rnorm(&st);
	if (h < 6.0 || h >= 24.0)
		h = 6.0 + 18.0 * rnd(&st);
	sod = clampi((int) (h * 3600.0), 6 * 3600, 86399 - 3600);
	app = (s->flags & SC_APP) ? rnd(&st) < 0.85 : rnd(&st) < 0.2;

#define ADD_EVENT(type_, prod_, search_) do { \
		Event *x_ = &o->evs[o->nev++]; \
		x_->cust = cid; x_->product = (prod_); x_->day = day; x_->sod = sod; \
		x_->session = o->session; x_->seq = o->seq++; x_->type = (type_); \
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
	for (v = 0; v < nviews && o->nev < m->nev; v++)
	{
		int			p = -1;

		if (theme != TH_NONE)
			p = seg_reco_demo_pick_theme(m, &pr, &st, theme, day);
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
			p = seg_reco_demo_pick_general(m, &pr, &st, day);
		ADD_EVENT(E_VIEW, p, -1);
		if (o->nev < m->nev && rnd(&st) < 0.30)
		{
			ADD_EVENT(E_CLICK, p, -1);
			if (o->nev < m->nev && rnd(&st) < 0.35)
			{
				ADD_EVENT(E_CART, p, -1);
				if (o->nev < m->nev && rnd(&st) < 0.30)
					ADD_EVENT(E_UNCART, p, -1);
			}
		}
	}
#undef ADD_EVENT
}

/*
 * The events (sorted) as result rows: event_id in time order, sessions
 * numbered by their first event.  Runs in cxt; nsession sessions.
 */
static void
emit_events(ReturnSetInfo *rsinfo, MemoryContext cxt, const Event *evs,
			int64 nev, uint32 nsession)
{
	MemoryContext rowcxt;
	uint32	   *session_map;
	uint32		next_session = 0;
	Datum		type_txt[5],
				app_txt,
				web_txt;
	int64		i;

	/* sessions numbered by their first event */
	session_map = palloc0(sizeof(uint32) * ((Size) nsession + 1));
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
		values[4] = TimestampTzGetDatum(seg_reco_demo_make_ts(x->day, x->sod));
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
}

Datum
seg_reco_demo_digital_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Model	   *m;
	MemoryContext cxt,
				old;
	EvState		ev;
	EvFilter	flt;
	SimCust    *sc = NULL;
	EvOut		o;
	int64		target_ant;
	int32	   *digital;
	int32		ndigital;

	cxt = seg_reco_demo_begin_srf(fcinfo, 8);
	old = MemoryContextSwitchTo(cxt);
	m = palloc(sizeof(Model));
	seg_reco_demo_check_args(fcinfo, m);
	seg_reco_demo_build_model(m, true);

	o.evs = palloc_extended(sizeof(Event) * Max(m->nev, 1), MCXT_ALLOC_HUGE);
	o.nev = 0;
	o.session = 0;
	o.seq = 0;
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
		seg_reco_demo_simulate(m, reservoir_filtered, &flt, &sc);

	/* anticipation chains: view (, click) (, add_to_cart) before a purchase */
	anticipation_chains(m, &ev, sc, &o, target_ant);

	/* browsing sessions of digitally active customers */
	digital = browsing_customers(m, &sc, &ndigital);
	while (o.nev < m->nev)
		browsing_session(m, sc, digital, ndigital, &o);

	qsort(o.evs, o.nev, sizeof(Event), event_cmp);
	emit_events(rsinfo, cxt, o.evs, o.nev, o.session);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
