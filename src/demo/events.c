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

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

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

/* ---------------------------------------------------------------------
 * The sample of purchase lines the anticipation chains are made from
 * --------------------------------------------------------------------- */
/* an empty sample for m's events, in a new context under parent */
EvSample *
seg_reco_demo_sample_begin(const Model *m, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent,
											  "seg_reco demo event sample",
											  ALLOCSET_DEFAULT_SIZES);
	EvSample   *ev = MemoryContextAllocZero(cxt, sizeof(EvSample));

	ev->cxt = cxt;
	ev->cap = (int64) floor(m->nev * 0.6 + 0.5);
	ev->res = MemoryContextAllocExtended(cxt, sizeof(SampleLine) * Max(ev->cap, 1),
										 MCXT_ALLOC_HUGE);
	seed_stream(&ev->st, m->seed, TAG_EVENTS, 0);
	return ev;
}

/* the members' fixed attributes the events need, once their plan is made */
void
seg_reco_demo_sample_members(const Model *m, EvSample *ev, const SimCust *sc)
{
	int32		k;

	ev->cust = MemoryContextAllocExtended(ev->cxt,
										  sizeof(EvCust) * ((Size) m->ncust + 1),
										  MCXT_ALLOC_HUGE);
	memset(&ev->cust[0], 0, sizeof(EvCust));
	for (k = 1; k <= m->ncust; k++)
	{
		EvCust	   *e = &ev->cust[k];

		if ((k & 65535) == 0)
			CHECK_FOR_INTERRUPTS();

		e->type = sc[k].type;
		e->taste = sc[k].taste;
		e->flags = sc[k].flags;
		e->start = sc[k].start;
		e->end = sc[k].end;
	}
}

/*
 * Reservoir sampling (uniform, one stream) of the purchases (not returns)
 * of digitally active members, in line order.
 */
void
seg_reco_demo_sample_line(EvSample *ev, const Line *l)
{
	SampleLine *x;

	if (l->cust == 0 || !(ev->cust[l->cust].flags & SC_DIGITAL) ||
		l->qty <= 0 || ev->cap == 0)
		return;
	ev->seen++;
	if (ev->nres < ev->cap)
		x = &ev->res[ev->nres++];
	else
	{
		int64		j = (int64) pg_prng_uint64_range(&ev->st, 0, (uint64) ev->seen - 1);

		if (j >= ev->cap)
			return;
		x = &ev->res[j];
	}
	x->line_id = (uint32) l->line_id;
	x->cust = l->cust;
	x->product = l->product;
	x->when = (uint32) (l->day * 86400 + l->sod) | (l->online ? SAMPLE_ONLINE : 0);
}

/*
 * The sample _demo_transactions drew, kept (in TopTransactionContext) for
 * _demo_digital_events with the same arguments in the same transaction:
 * generate_demo_data calls one right after the other, and the events then
 * need no second simulation.  Any other call simulates again; the sample
 * is a pure function of the arguments, so the rows are the same either
 * way.  Keyed by all five arguments, taken (and so used) once, and
 * forgotten when the transaction ends, commit or abort, with its memory.
 */
static struct
{
	EvSample   *ev;				/* NULL: none */
	int32		ncust,
				nprod;
	int64		ntx,
				nev,
				seed;
}			kept;
static bool kept_callback = false;

/* the transaction ends: its memory goes, and the kept sample with it */
static void
forget_kept_sample(XactEvent event, void *arg)
{
	kept.ev = NULL;
}

void
seg_reco_demo_sample_keep(const Model *m, EvSample *ev)
{
	if (!kept_callback)
	{
		RegisterXactCallback(forget_kept_sample, NULL);
		kept_callback = true;
	}
	if (kept.ev != NULL)
		MemoryContextDelete(kept.ev->cxt);
	MemoryContextSetParent(ev->cxt, TopTransactionContext);
	kept.ev = ev;
	kept.ncust = m->ncust;
	kept.nprod = m->nprod;
	kept.ntx = m->ntx;
	kept.nev = m->nev;
	kept.seed = m->seed;
}

/* the kept sample for m (now owned by the current context), or NULL */
static EvSample *
sample_take(const Model *m)
{
	EvSample   *ev = kept.ev;

	kept.ev = NULL;
	if (ev == NULL)
		return NULL;
	if (kept.ncust != m->ncust || kept.nprod != m->nprod ||
		kept.ntx != m->ntx || kept.nev != m->nev || kept.seed != m->seed)
	{
		MemoryContextDelete(ev->cxt);
		return NULL;
	}
	MemoryContextSetParent(ev->cxt, CurrentMemoryContext);
	return ev;
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

/* the events made so far (in week buckets), and the session and event counters */
typedef struct EvOut
{
	DemoSpill	evs;
	int64		nev;
	uint32		session;		/* sessions started so far */
	uint32		seq;
} EvOut;

static inline void
add_event(EvOut *o, const Event *x)
{
	seg_reco_demo_spill_put(&o->evs, x->day / 7, x);
	o->nev++;
}

/*
 * Anticipation chains (up to target_ant events): for each sampled purchase
 * line, a view some time before the purchase (minutes before an online
 * order), then maybe a click and an add_to_cart of the same product, a
 * minute or a few apart, in one session.
 */
static void
anticipation_chains(const Model *m, const EvSample *ev, EvOut *o,
					int64 target_ant)
{
	int64		i;

	for (i = 0; i < ev->nres && o->nev < target_ant; i++)
	{
		const SampleLine *l = &ev->res[i];
		pg_prng_state st;
		uint32		when = l->when & ~SAMPLE_ONLINE;
		bool		online = (l->when & SAMPLE_ONLINE) != 0;
		int			day = (int) (when / 86400),
					sod = (int) (when % 86400);
		int64		lag;
		bool		app;
		int			steps,
					s;
		int			types[3];

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		seed_stream(&st, m->seed, TAG_EVENTS, (uint64) l->line_id);
		if (online)
			lag = 60 * rint_range(&st, 2, 60);
		else
			lag = 600 + (int64) (-1.5 * 86400.0 * log(1.0 - rnd(&st)));
		lag = Min(lag, 6 * 86400);
		shift_back(&day, &sod, lag);
		app = (ev->cust[l->cust].flags & SC_APP) ? rnd(&st) < 0.85 : rnd(&st) < 0.2;
		steps = 0;
		types[steps++] = E_VIEW;
		if (rnd(&st) < 0.55)
			types[steps++] = E_CLICK;
		if (rnd(&st) < (online ? 0.9 : 0.45))
			types[steps++] = E_CART;
		o->session++;
		for (s = 0; s < steps && o->nev < target_ant; s++)
		{
			Event		x;

			memset(&x, 0, sizeof(x));
			x.cust = l->cust;
			x.product = l->product;
			x.day = day;
			x.sod = sod;
			x.session = o->session;
			x.seq = o->seq++;
			x.type = types[s];
			x.app = app;
			x.search = -1;
			add_event(o, &x);
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
 * customer 1).  Sets *ndigital to their number.
 */
static int32 *
browsing_customers(const Model *m, const EvCust *cust, int32 *ndigital)
{
	int32	   *digital;
	int64		k;

	*ndigital = 0;
	digital = palloc_extended(sizeof(int32) * ((Size) m->ncust + 1), MCXT_ALLOC_HUGE);
	for (k = 1; k <= m->ncust; k++)
	{
		if ((k & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if ((cust[k].flags & SC_DIGITAL) && cust[k].end >= cust[k].start)
			digital[(*ndigital)++] = (int32) k;
	}
	if (*ndigital == 0)
	{
		for (k = 1; k <= m->ncust; k++)
			if (cust[k].end >= cust[k].start)
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
browsing_session(const Model *m, const EvCust *cust, const int32 *digital,
				 int32 ndigital, EvOut *o)
{
	pg_prng_state st;
	int32		cid;
	const EvCust *s;
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
	s = &cust[cid];
	seg_reco_demo_make_profile(&pr, s->type, s->taste, (s->flags & SC_PET) != 0);
	day = (s->end >= s->start) ? rint_range(&st, Max(s->start, 0), s->end) :
		rint_range(&st, 0, NDAYS - 1);
	h = 20.0 + 3.0 * rnorm(&st);
	if (h < 6.0 || h >= 24.0)
		h = 6.0 + 18.0 * rnd(&st);
	sod = clampi((int) (h * 3600.0), 6 * 3600, 86399 - 3600);
	app = (s->flags & SC_APP) ? rnd(&st) < 0.85 : rnd(&st) < 0.2;

#define ADD_EVENT(type_, prod_, search_) do { \
		Event x_; \
		memset(&x_, 0, sizeof(x_)); \
		x_.cust = cid; x_.product = (prod_); x_.day = day; x_.sod = sod; \
		x_.session = o->session; x_.seq = o->seq++; x_.type = (type_); \
		x_.app = app; x_.search = (search_); \
		add_event(o, &x_); \
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
 * seg_reco._demo_digital_events, value per call like _demo_transactions:
 * the first call makes every event into the week buckets; then each call
 * returns the next event, a week at a time sorted by time, with event_id in
 * time order and sessions numbered by their first event.
 */
typedef struct EvState
{
	EvOut		o;
	bool		open;			/* the buckets' files are open */
	int			week;			/* the next week to take */
	Event	   *evs;			/* the current week's events, sorted */
	int64		n,
				i;
	int64		id;				/* events returned so far */
	uint32	   *session_map;	/* session -> its number, 0: not seen */
	uint32		next_session;
	TupleDesc	desc;
	Datum		type_txt[5],
				app_txt,
				web_txt;
	MemoryContext cxt;
	ExprContext *econtext;
} EvState;

/* the query stopped reading rows: close the buckets' files */
static void
ev_shutdown(Datum arg)
{
	EvState    *st = (EvState *) DatumGetPointer(arg);

	if (st->open)
		seg_reco_demo_spill_end(&st->o.evs);
	st->open = false;
}

/* make all the events of m into st's week buckets */
static void
make_events(const Model *m, EvState *st)
{
	EvSample   *ev;
	int64		target_ant = (int64) floor(m->nev * 0.6 + 0.5);
	int32	   *digital;
	int32		ndigital;

	seg_reco_demo_spill_begin(&st->o.evs, NWEEKS, sizeof(Event));
	st->open = true;
	st->o.nev = 0;
	st->o.session = 0;
	st->o.seq = 0;

	/*
	 * The purchases' sample of lines of digitally active customers: the one
	 * _demo_transactions just drew, or from a simulation of our own.
	 */
	ev = sample_take(m);
	if (ev == NULL)
	{
		DemoSim    *sim;

		ev = seg_reco_demo_sample_begin(m, CurrentMemoryContext);
		sim = seg_reco_demo_sim_begin(m, ev);
		while (seg_reco_demo_sim_next(sim) != NULL)
			;
		seg_reco_demo_sim_end(sim);
	}

	/* anticipation chains: view (, click) (, add_to_cart) before a purchase */
	anticipation_chains(m, ev, &st->o, target_ant);

	/* browsing sessions of digitally active customers */
	digital = browsing_customers(m, ev->cust, &ndigital);
	while (st->o.nev < m->nev)
		browsing_session(m, ev->cust, digital, ndigital, &st->o);
	MemoryContextDelete(ev->cxt);
	pfree(digital);

	/* sessions numbered by their first event */
	st->session_map = palloc_extended(sizeof(uint32) * ((Size) st->o.session + 1),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* the next event, or NULL after the last */
static const Event *
next_event(EvState *st)
{
	if (st->i >= st->n)
	{
		/* the next week with events, sorted by time */
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		if (st->evs)
			pfree(st->evs);
		st->i = 0;
		st->evs = seg_reco_demo_spill_next(&st->o.evs, &st->week, &st->n,
										   event_cmp);
		MemoryContextSwitchTo(old);
		if (st->evs == NULL)
			return NULL;
	}
	return &st->evs[st->i++];
}

Datum
seg_reco_demo_digital_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FuncCallContext *funcctx;
	EvState    *st;
	const Event *x;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old,
					work;
		TupleDesc	desc;
		Model	   *m;
		int			t;

		funcctx = seg_reco_demo_begin_value_per_call(fcinfo, 8, &desc);
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		st = palloc0(sizeof(EvState));
		st->desc = desc;
		st->cxt = funcctx->multi_call_memory_ctx;
		for (t = 0; t < 5; t++)
			st->type_txt[t] = CStringGetTextDatum(event_name[t]);
		st->app_txt = CStringGetTextDatum("app");
		st->web_txt = CStringGetTextDatum("web");
		/* the model goes with work once the events are made; the buckets stay */
		work = AllocSetContextCreate(st->cxt, "seg_reco demo events",
									 ALLOCSET_DEFAULT_SIZES);
		m = MemoryContextAlloc(work, sizeof(Model));
		seg_reco_demo_check_args(fcinfo, m);
		if (m->nev > 0)
		{
			MemoryContextSwitchTo(work);
			seg_reco_demo_build_model(m, true);
			MemoryContextSwitchTo(st->cxt);
			st->econtext = rsinfo->econtext;
			RegisterExprContextCallback(st->econtext, ev_shutdown, PointerGetDatum(st));
			make_events(m, st);
		}
		MemoryContextDelete(work);
		funcctx->user_fctx = st;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = funcctx->user_fctx;

	x = st->open ? next_event(st) : NULL;
	if (x != NULL)
	{
		Datum		values[8];
		bool		nulls[8] = {0};

		if ((st->id & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (st->session_map[x->session] == 0)
			st->session_map[x->session] = ++st->next_session;
		values[0] = Int64GetDatum(++st->id);
		values[1] = Int64GetDatum((int64) x->cust);
		if (x->product >= 0)
			values[2] = Int64GetDatum((int64) x->product + 1);
		else
			nulls[2] = true;
		values[3] = st->type_txt[x->type];
		values[4] = TimestampTzGetDatum(seg_reco_demo_make_ts(x->day, x->sod));
		values[5] = x->app ? st->app_txt : st->web_txt;
		values[6] = Int64GetDatum((int64) st->session_map[x->session]);
		if (x->search >= 0)
			values[7] = CStringGetTextDatum(searches[x->search].text);
		else
			nulls[7] = true;
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(st->desc, values, nulls)));
	}
	if (st->open)
	{
		UnregisterExprContextCallback(st->econtext, ev_shutdown, PointerGetDatum(st));
		seg_reco_demo_spill_end(&st->o.evs);
		st->open = false;
	}
	SRF_RETURN_DONE(funcctx);
}
