/*
 * simulation.c
 *      The demo's purchase simulation and seg_reco._demo_transactions.
 *
 * Each member gets a repertoire of favourites and a plan of visits (days,
 * hours, stores, channel; Christmas and Easter shopping; closed days); the
 * non-members get receipts of their own, all put in week buckets; then
 * every receipt, in time order, is filled with lines (returns, free items,
 * theme lines, favourites due for re-purchase, free choices), handed out
 * one at a time by an iterator.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "demo.h"
#include "progress.h"

PG_FUNCTION_INFO_V1(seg_reco_demo_transactions);

/* mean hour of day of store visits on weekdays / Saturdays, and spread */
static const double type_hour_wd[NTYPE] = {16.8, 17.5, 17.0, 17.5, 10.5};
static const double type_hour_sat[NTYPE] = {12.0, 14.0, 12.0, 15.0, 11.0};
static const double type_hour_sd[NTYPE] = {1.6, 2.2, 2.0, 3.0, 1.2};

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
 * The days of a customer's V visits over their D active days: a family's
 * big shops (weight 1) on the preferred weekday and top-ups (weight 0.3)
 * Tue-Thu; bulk shoppers and seniors at regular intervals (bulk shoppers
 * often on Saturdays, seniors on weekdays); the others at random, some
 * moved to Friday or Saturday.
 */
static void
visit_days(const Customer *c, pg_prng_state *st, Visit *vis, int64 V, int D)
{
	int64		v;

	if (c->type == T_FAMILY)
	{
		int64		nbig = Max(1, (int64) floor(V * 0.6 + 0.5));
		int64		ntop = V - nbig;

		for (v = 0; v < nbig; v++)
		{
			double		t = c->start + (v + 0.5 + 0.12 * rnorm(st)) * D / nbig;
			int			d = clampi((int) floor(t), c->start, c->end);

			vis[v].day = snap_weekday(d, 1 << c->pref_wd, c->start, c->end);
			vis[v].weight = 1.0;
		}
		for (v = 0; v < ntop; v++)
		{
			double		t = c->start + (v + rnd(st)) * D / ntop;
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
				t = c->start + (v + 0.5 + (c->type == T_BULK ? 0.25 : 0.1) * rnorm(st)) * D / V;
			else
				t = c->start + (v + rnd(st)) * D / V;
			d = clampi((int) floor(t), c->start, c->end);
			if (c->type == T_SENIOR)
				d = snap_weekday(d, 0x1f, c->start, c->end);
			else if (c->type == T_BULK && rnd(st) < 0.5)
				d = snap_weekday(d, 0x20, c->start, c->end);
			else if (rnd(st) < 0.2)
				d = snap_weekday(d, 0x30, c->start, c->end);
			vis[v].day = d;
			vis[v].weight = 1.0;
		}
	}
}

/*
 * Christmas and Easter shopping: the visit nearest to 21 December moves into
 * 19-23 December (not for students), and with 50% the visit nearest to the
 * Easter week into it.
 */
static void
holiday_visits(const Model *m, const Customer *c, pg_prng_state *st,
			   Visit *vis, int64 V)
{
	int64		v;
	int			y;

	/* Christmas and Easter shopping */
	for (y = 0; y < 2; y++)
	{
		int			lo = seg_reco_demo_day_index(2024 + y, 12, 19),
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
				vis[best].day = rint_range(st, lo, hi);
				vis[best].weight *= 1.5;
			}
		}
		if (c->start <= e - 6 && c->end >= e - 1 && V >= 3 && rnd(st) < 0.5)
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
				vis[best].day = e + eo[rint_range(st, 0, 3)];
		}
	}
}

/*
 * Channel and store of every visit; a store visit on a day its store is
 * closed goes to a Sunday-open store of the customer or moves to a nearby
 * open day.  Returns the sum of the visits' weights.
 */
static double
visit_places(const Model *m, const Customer *c, pg_prng_state *st,
			 Visit *vis, int64 V)
{
	int64		v;
	double		wsum = 0;

	/* channel, store, closed days */
	for (v = 0; v < V; v++)
	{
		Visit	   *x = &vis[v];

		x->online = rnd(st) < c->online_p;
		x->store = rnd(st) < 0.75 ? c->store1 : c->store2;
		if (x->online)
		{
			x->weight *= 1.8;
			x->store = c->store1;
		}
		else if (m->cal[x->day].closed && !m->store_sunday[x->store])
		{
			if (m->store_sunday[c->store1])
				x->store = c->store1;
			else if (m->store_sunday[c->store2] && rnd(st) < 0.5)
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
		x->weight *= exp(0.3 * rnorm(st));
		wsum += x->weight;
	}
	return wsum;
}

/*
 * Plan the visits of one customer with nlines lines in total, putting their
 * receipt headers into the week buckets.
 */
static void
plan_customer(const Model *m, const Customer *c, int64 cid, int64 nlines,
			  double basket_scale, DemoSpill *rec, uint32 *seq)
{
	pg_prng_state st;
	int64		V,
				v,
				extra;
	Visit	   *vis;
	double		wsum,
				acc = 0;
	int64		given = 0;
	int			D = c->end - c->start + 1;
	double		mean_basket;

	if (nlines <= 0 || D <= 0)
		return;
	seed_stream(&st, m->seed, TAG_VISITS, (uint64) cid);
	mean_basket = c->basket * basket_scale;
	V = (int64) floor(nlines / mean_basket + rnd(&st));
	V = Max(V, 1);
	V = Min(V, nlines);

	vis = palloc_extended(sizeof(Visit) * V, MCXT_ALLOC_HUGE);
	visit_days(c, &st, vis, V, D);
	holiday_visits(m, c, &st, vis, V);
	wsum = visit_places(m, c, &st, vis, V);

	/* distribute the lines: one each, the rest proportional to weight */
	extra = nlines - V;
	for (v = 0; v < V; v++)
	{
		Receipt		r;
		int64		upto;

		acc += vis[v].weight;
		upto = (v == V - 1) ? extra : (int64) floor(extra * acc / wsum + 0.5);
		memset(&r, 0, sizeof(r));
		r.cust = (int32) cid;
		r.nlines = (int32) (1 + upto - given);
		given = upto;
		r.seq = (*seq)++;
		r.day = (uint16) vis[v].day;
		r.store = (uint8) vis[v].store;
		r.online = vis[v].online;
		r.sod = visit_sod(m, &st, c->type, vis[v].day, vis[v].online,
						  m->cal[vis[v].day].closed);
		seg_reco_demo_spill_put(rec, r.day / 7, &r);
	}
	pfree(vis);
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
 * order, handed out one at a time by an iterator (seg_reco_demo_sim_next).
 * --------------------------------------------------------------------- */
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
finish_line(Line *l)
{
	int64		gross = (int64) l->qty * l->price;	/* øre * 1000 */

	l->amount = div1000_round(gross - l->disc * 1000);
}

/*
 * Member cid's state for the simulation: the interests, 16 favourites
 * (half of the draws staples, some from the interests; nothing seasonal;
 * then those of the member's demographic tastes, whose tier is measured
 * against mean_w), flags and active period.
 */
void
seg_reco_demo_build_repertoire(const Model *m, const Customer *c, int64 cid,
							   double mean_w, SimCust *s)
{
	pg_prng_state st,
				ist;
	Profile		pr;
	int			r,
				k;

	seed_stream(&st, m->seed, TAG_REPERTOIRE, (uint64) cid);
	seg_reco_demo_make_profile(&pr, c->type, c->taste, c->pet);
	seg_reco_demo_draw_interests(c, cid, s, &ist, m->seed);
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
					 (p = seg_reco_demo_pick_interest(m, &pr, s, &ist,
													  Max(c->start, 0))) >= 0)
				 /* a favourite from the customer's interests */ ;
			else
				p = seg_reco_demo_pick_general(m, &pr, &st, Max(c->start, 0));
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
	seg_reco_demo_plant_demo_tastes(m, c, cid, seg_reco_demo_tier(c, mean_w), s);
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

/* pass 1: the members' total expected lines (unscaled) */
static double
total_weight(const Model *m)
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
	return W;
}

/*
 * Pass 2: every member's repertoire and visits.  The T_mem member lines are
 * shared out in proportion to the expected lines (W in all), with
 * cumulative rounding so that the budgets add up exactly.
 */
static void
plan_members(const Model *m, SimCust *sc, double W, int64 T_mem,
			 double bscale, DemoSpill *rec, uint32 *seq)
{
	MemoryContext tmpcxt;
	double		cumw = 0;
	int64		prev_alloc = 0;
	int32		cid;
	Customer	c;

	tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco demo plan",
								   ALLOCSET_DEFAULT_SIZES);

	for (cid = 1; cid <= m->ncust; cid++)
	{
		int64		alloc,
					n;
		MemoryContext old;

		if (cid % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
		seg_reco_demo_gen_customer(m, cid, &c);
		cumw += c.w;
		alloc = (cid == m->ncust) ? T_mem : (int64) floor(T_mem * (cumw / W) + 0.5);
		alloc = Min(alloc, T_mem);
		n = alloc - prev_alloc;
		prev_alloc = alloc;
		seg_reco_demo_build_repertoire(m, &c, cid, W / m->ncust, &sc[cid]);
		old = MemoryContextSwitchTo(tmpcxt);
		plan_customer(m, &c, cid, n, bscale, rec, seq);
		MemoryContextSwitchTo(old);
		MemoryContextReset(tmpcxt);
	}
	MemoryContextDelete(tmpcxt);
}

/*
 * The non-member receipts: T_non lines in receipts of 1 + exponential lines
 * (mean 3) on days weighted by weekday; on closed days at a Sunday store.
 */
static void
plan_nonmembers(const Model *m, int64 T_non, DemoSpill *rec, uint32 *seq)
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
		Receipt		r;
		int			k = 1 + (int) floor(-3.0 * log(1.0 - rnd(&st)));
		double		u = rnd(&st) * dc;
		int			lo = 0,
					hi = NDAYS - 1;

		if ((*seq & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (dayw[mid] > u)
				hi = mid;
			else
				lo = mid + 1;
		}
		memset(&r, 0, sizeof(r));
		r.cust = 0;
		r.nlines = (int32) Min((int64) k, left);
		left -= r.nlines;
		r.seq = (*seq)++;
		r.day = lo;
		r.online = 0;
		if (m->cal[lo].closed)
		{
			static const int sun[7] = {5, 13, 21, 29, 37, 45, 53};

			r.store = sun[rint_range(&st, 0, 6)];
		}
		else
			r.store = rint_range(&st, 1, NSTORES);
		r.sod = visit_sod(m, &st, T_DAILY, lo, false, m->cal[lo].closed);
		seg_reco_demo_spill_put(rec, r.day / 7, &r);
	}
}

/*
 * One receipt being filled (pass 3): its lines so far in buf, their
 * products in prod (for the duplicate checks), the number of lines it gets
 * (k), its day, the member's state (NULL for a non-member) and profile,
 * the receipt's random stream st and the member's discovery stream ist.
 */
typedef struct Basket
{
	const Model *m;
	Line	   *buf;
	int32	   *prod;
	int			n,
				k,
				d;
	SimCust    *s;
	Profile		pr;
	pg_prng_state st,
				ist;
} Basket;

/* add a line of product p, qty in thousandths, at the day's shelf price */
static inline void
add_line(Basket *b, int p, int32 qty)
{
	Line	   *l = &b->buf[b->n];

	l->product = p;
	l->qty = qty;
	l->price = b->m->prod[p].price[price_window(b->d)];
	l->disc = 0;
	b->prod[b->n] = p;
	b->n++;
}

/* a return of something from the previous receipt, and a free item */
static void
add_return_and_free_item(Basket *b)
{
	const Model *m = b->m;
	SimCust    *s = b->s;
	pg_prng_state *st = &b->st;

	/* a return of something from the previous receipt */
	if (s && s->last_product >= 0 && rnd(st) < 0.006 * b->k)
	{
		add_line(b, s->last_product, -s->last_qty);
	}
	/* a free item */
	if (b->n < b->k && rnd(st) < 0.001 * b->k)
	{
		int			p = (m->bag >= 0 && rnd(st) < 0.7) ? m->bag :
		seg_reco_demo_pick_general(m, &b->pr, st, b->d);

		add_line(b, p, 1000);
		b->buf[b->n - 1].disc = b->buf[b->n - 1].price;
	}
}

/* up to ntheme lines of the theme (half from the member's interests) */
static void
add_theme_lines(Basket *b, int theme, int ntheme)
{
	const Model *m = b->m;
	SimCust    *s = b->s;
	Profile    *pr = &b->pr;
	int			d = b->d,
				j;

	while (ntheme-- > 0 && b->n < b->k)
	{
		int			p = -1;
		bool		dup = false;

		/* half of a customer's theme lines follow their interests */
		if (s && s->ninterest > 0 && rnd(&b->ist) < theme_personal)
			p = seg_reco_demo_pick_theme_interest(m, pr, s, &b->ist, theme, d);
		if (p < 0)
			p = seg_reco_demo_pick_theme(m, pr, &b->st, theme, d);

		if (p < 0)
			break;
		for (j = 0; j < b->n; j++)
			if (b->prod[j] == p)
				dup = true;
		if (!dup)
		{
			int32		q;

			quantity_for(&m->prod[p], pr->type, &b->st, &q);
			add_line(b, p, q);
		}
	}
}

/* a member's favourites due for re-purchase, up to 75% of the lines left */
static void
add_favourites(Basket *b)
{
	const Model *m = b->m;
	SimCust    *s = b->s;
	int			d = b->d,
				j,
				maxrep;

	maxrep = b->n + (int) ceil((b->k - b->n) * 0.75);
	for (j = 0; j < REP && b->n < maxrep; j++)
	{
		int			p = s->rep[j];
		double		aff = rep_aff_base * pow(0.88, j);
		double		cycle = (m->prod[p].flags & F_STAPLE) ? 7.0 : 18.0;
		double		due = (d - s->last[j]) / cycle;
		int			t;
		bool		dup = false;

		due = due < 0.15 ? 0.15 : due > 1.5 ? 1.5 : due;
		if (rnd(&b->st) >= aff * due || !available(&m->prod[p], d))
			continue;
		for (t = 0; t < b->n; t++)
			if (b->prod[t] == p)
				dup = true;
		s->last[j] = d;
		if (!dup)
		{
			int32		q;

			quantity_for(&m->prod[p], b->pr.type, &b->st, &q);
			add_line(b, p, q);
		}
	}
}

/*
 * The rest of the receipt by free choice: a share from the customer's
 * interests (own stream), some from this week's campaigns, the rest by
 * category.
 */
static void
add_free_choice(Basket *b)
{
	const Model *m = b->m;
	SimCust    *s = b->s;
	Profile    *pr = &b->pr;
	pg_prng_state *st = &b->st;
	int			d = b->d;

	while (b->n < b->k)
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
			if (s && s->ninterest > 0 && rnd(&b->ist) < s->explore &&
				(p = seg_reco_demo_pick_interest(m, pr, s, &b->ist, d)) >= 0)
				from_interest = true;
			else if (m->camp_n[w] > 0 &&
					 rnd(st) < (pr->taste == S_BUDGET ? 0.12 : 0.05))
			{
				p = m->camp_list[w][rint_range(st, 0, m->camp_n[w] - 1)];
				if (!available(&m->prod[p], d) || veg_reject(&m->prod[p], pr, st) ||
					(m->prod[p].cat == C_DYR && !pr->pet) ||
					(m->prod[p].cat == C_BABY && pr->taste != S_BABY))
					p = seg_reco_demo_pick_general(m, pr, st, d);
			}
			else
				p = seg_reco_demo_pick_general(m, pr, st, d);
			for (t = 0; t < b->n; t++)
				if (b->prod[t] == p)
					dup = true;
			if (!dup)
				break;
		}
		quantity_for(&m->prod[p], pr->type, st, &q);
		add_line(b, p, q);
		if (from_interest && rnd(&b->ist) < rep_adopt)
			adopt_favourite(m, s, &b->ist, p, d);
	}
}

/*
 * Shuffle the receipt's lines, give campaign products their discount and
 * number them from line_id + 1; remember the member's first purchase in
 * the receipt (a later receipt may return it).
 */
static void
finish_receipt(Basket *b, const Receipt *r, int64 receipt_id, int64 line_id)
{
	const Model *m = b->m;
	Line	   *buf = b->buf;
	int			n = b->n,
				d = b->d,
				j;

	/* shuffle, price, emit */
	for (j = n - 1; j > 0; j--)
	{
		int			t = rint_range(&b->st, 0, j);
		Line		tmp = buf[j];

		buf[j] = buf[t];
		buf[t] = tmp;
	}
	for (j = 0; j < n; j++)
	{
		Line	   *l = &buf[j];

		l->line_id = line_id + j + 1;
		l->receipt_id = receipt_id;
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
		finish_line(l);
	}
	if (b->s && n > 0)
	{
		for (j = 0; j < n; j++)
			if (buf[j].qty > 0)
			{
				b->s->last_product = buf[j].product;
				b->s->last_qty = buf[j].qty;
				break;
			}
	}
}

/*
 * Pass 3 for one receipt, the receipt_id-th in time order: its r->nlines
 * lines into buf, numbered from line_id + 1 (basket_prod: scratch for as
 * many products).  Reads the model, changes only the member's state.
 */
static void
receipt_lines(const Model *m, SimCust *sc, const Receipt *r, int64 receipt_id,
			  Line *buf, int32 *basket_prod, int64 line_id)
{
	Basket		b;
	int			j,
				theme = TH_NONE,
				ntheme = 0;
	double		u;

	b.m = m;
	b.buf = buf;
	b.prod = basket_prod;
	b.n = 0;
	b.k = r->nlines;
	b.d = r->day;
	b.s = r->cust ? &sc[r->cust] : NULL;
	seed_stream(&b.st, m->seed, TAG_RECEIPT, r->seq);
	if (b.s)
		seg_reco_demo_make_profile(&b.pr, b.s->type, b.s->taste,
								   (b.s->flags & SC_PET) != 0);
	else
		seg_reco_demo_make_profile(&b.pr, T_DAILY, S_MAIN, rnd(&b.st) < 0.2);

	add_return_and_free_item(&b);
	/* a themed receipt */
	u = rnd(&b.st);
	for (j = TH_JUL; j < NTHEME; j++)
	{
		if (u < m->cal[b.d].theme_p[j])
		{
			theme = j;
			break;
		}
		u -= m->cal[b.d].theme_p[j];
	}
	if (theme != TH_NONE)
		ntheme = (b.k - b.n >= 3) ? rint_range(&b.st, 2, 5) : 1;
	if (b.s)
		seed_stream(&b.ist, m->seed, TAG_DISCOVER, r->seq);
	add_theme_lines(&b, theme, ntheme);
	/* favourites due for re-purchase */
	if (b.s)
		add_favourites(&b);
	add_free_choice(&b);
	finish_receipt(&b, r, receipt_id, line_id);
}

/*
 * The simulation as an iterator over the lines in line_id order.
 *
 * seg_reco_demo_sim_begin plans all receipts (members' visits and
 * non-member receipts) into week buckets of temporary files; then
 * seg_reco_demo_sim_next takes the weeks back in order, sorts each week's
 * receipts by time and fills a chunk of receipts at a time with their
 * lines.  With a sample (events.c), the lines also feed it, in order.
 *
 * Memory: the members' state (sizeof(SimCust) each), one week of receipts
 * and one chunk of lines; the receipts wait in temporary files.
 */
#define CHUNK_LINES 65536

struct DemoSim
{
	const Model *m;
	SimCust    *sc;
	EvSample   *sample;
	DemoSpill	rec;
	int			week;			/* the next week to take */
	Receipt    *wk;				/* the current week's receipts, sorted */
	int64		nwk,
				iwk;			/* the next receipt of the week */
	Line	   *out;			/* the current chunk's lines */
	int64		nout,
				iout,			/* the next line to hand out */
				capout;
	int32	   *basket_prod;
	int64		receipt_id,		/* receipts and lines made so far */
				line_id;
	MemoryContext cxt;			/* where all of the above lives */
};

DemoSim *
seg_reco_demo_sim_begin(const Model *m, EvSample *sample)
{
	DemoSim    *sim = palloc0(sizeof(DemoSim));
	double		W,
				f,
				bscale;
	int64		T_non = (int64) floor(m->ntx * 0.02 + 0.5);
	int64		T_mem = m->ntx - T_non;
	uint32		seq = 0;

	sim->m = m;
	sim->sample = sample;
	sim->cxt = CurrentMemoryContext;
	sim->sc = palloc_extended(sizeof(SimCust) * ((Size) m->ncust + 1), MCXT_ALLOC_HUGE);

	/* pass 1: total weight */
	W = total_weight(m);
	if (W <= 0)
	{
		/* no customer can shop: all lines go to non-members */
		T_non = m->ntx;
		T_mem = 0;
		W = 1;
	}
	/*
	 * Lines per member relative to the reference (default) density: the
	 * baskets grow with its 0.3th power (within 0.5 .. 2), the number of
	 * visits with the rest (plan_customer: lines / mean basket).
	 */
	f = (T_mem / (double) m->ncust) / (W / m->ncust);
	bscale = Min(Max(pow(f, 0.3), 0.5), 2.0);

	seg_reco_demo_spill_begin(&sim->rec, NWEEKS, sizeof(Receipt));

	/* pass 2: plan visits, exact line budgets by cumulative rounding */
	plan_members(m, sim->sc, W, T_mem, bscale, &sim->rec, &seq);

	/* non-member receipts */
	plan_nonmembers(m, T_non, &sim->rec, &seq);

	if (sample)
		seg_reco_demo_sample_members(m, sample, sim->sc);
	sim->capout = CHUNK_LINES;
	sim->out = palloc(sizeof(Line) * sim->capout);
	sim->basket_prod = palloc(sizeof(int32) * sim->capout);
	return sim;
}

/*
 * Pass 3 for the next receipts of the week: as many as fit in a chunk
 * (at least one), their lines into sim->out.
 */
static void
next_chunk(DemoSim *sim)
{
	int64		i0 = sim->iwk,
				i1 = i0,
				nlines = 0,
				i;

	while (i1 < sim->nwk &&
		   (i1 == i0 || nlines + sim->wk[i1].nlines <= CHUNK_LINES))
		nlines += sim->wk[i1++].nlines;
	if (nlines > sim->capout)
	{
		sim->capout = nlines;
		sim->out = repalloc_huge(sim->out, sizeof(Line) * sim->capout);
		sim->basket_prod = repalloc_huge(sim->basket_prod, sizeof(int32) * sim->capout);
	}
	sim->nout = 0;
	for (i = i0; i < i1; i++)
	{
		const Receipt *r = &sim->wk[i];

		receipt_lines(sim->m, sim->sc, r, ++sim->receipt_id,
					  sim->out + sim->nout, sim->basket_prod,
					  sim->line_id + sim->nout);
		sim->nout += r->nlines;
	}
	sim->line_id += sim->nout;
	sim->iwk = i1;
	sim->iout = 0;
	if (sim->sample)
		for (i = 0; i < sim->nout; i++)
			seg_reco_demo_sample_line(sim->sample, &sim->out[i]);
}

/* the next line, or NULL after the last */
const Line *
seg_reco_demo_sim_next(DemoSim *sim)
{
	MemoryContext old;

	if (sim->iout < sim->nout)
		return &sim->out[sim->iout++];

	/* a value-per-call caller may be in a per-row context */
	old = MemoryContextSwitchTo(sim->cxt);
	while (sim->iout >= sim->nout)
	{
		if (sim->iwk >= sim->nwk)
		{
			/* the next week with receipts, sorted by time */
			if (sim->wk)
				pfree(sim->wk);
			sim->iwk = 0;
			sim->wk = seg_reco_demo_spill_next(&sim->rec, &sim->week, &sim->nwk,
											   receipt_cmp);
			if (sim->wk == NULL)
			{
				MemoryContextSwitchTo(old);
				return NULL;
			}
		}
		CHECK_FOR_INTERRUPTS();
		next_chunk(sim);
	}
	MemoryContextSwitchTo(old);
	return &sim->out[sim->iout++];
}

/* close the temporary files and free the iterator (also before the end) */
void
seg_reco_demo_sim_end(DemoSim *sim)
{
	seg_reco_demo_spill_end(&sim->rec);
	if (sim->wk)
		pfree(sim->wk);
	pfree(sim->out);
	pfree(sim->basket_prod);
	pfree(sim->sc);
	pfree(sim);
}

/* ---------------------------------------------------------------------
 * seg_reco._demo_transactions
 *
 * Value per call: a row at a time straight from the simulation, so that
 * INSERT ... SELECT (l).* FROM (SELECT _demo_transactions(...) AS l
 * OFFSET 0) s streams the lines into the table with no result set in
 * between (called in FROM, PostgreSQL collects the rows itself).
 * --------------------------------------------------------------------- */
#define TX_QTY_CACHE 6000		/* quantities -6 .. 6 (in thousandths) */

typedef struct TxState
{
	Model	   *m;
	DemoSim    *sim;			/* NULL once done */
	EvSample   *sample;
	TupleDesc	desc;
	Datum		store_txt,
				online_txt;
	ExprContext *econtext;
	MemoryContext cxt;			/* the state's (multi-call) context */
	/*
	 * numerics made once: shelf prices (product x price window: a line's
	 * price is always its product's in the window of its day, add_line)
	 * and quantities; 0: not made yet
	 */
	Datum	   *price_num;
	Datum		qty_num[2 * TX_QTY_CACHE + 1];
	Datum		zero_money;
} TxState;

/* *slot, made first (in the state's context) as the numeric v / 10^scale */
static inline Datum
tx_cached(TxState *st, Datum *slot, int64 v, int scale)
{
	if (*slot == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		*slot = NumericGetDatum(int64_div_fast_to_numeric(v, scale));
		MemoryContextSwitchTo(old);
	}
	return *slot;
}

/* the line's quantity (thousandths) and shelf price (øre) as numerics */
static inline Datum
tx_qty(TxState *st, const Line *l)
{
	if (l->qty < -TX_QTY_CACHE || l->qty > TX_QTY_CACHE)
		return NumericGetDatum(int64_div_fast_to_numeric(l->qty, 3));
	return tx_cached(st, &st->qty_num[l->qty + TX_QTY_CACHE], l->qty, 3);
}

static inline Datum
tx_price(TxState *st, const Line *l)
{
	int			w = price_window(l->day);

	Assert(l->price == st->m->prod[l->product].price[w]);
	return tx_cached(st, &st->price_num[(int64) l->product * 5 + w], l->price, 2);
}

/* the query stopped reading rows: close the simulation's files */
static void
tx_shutdown(Datum arg)
{
	TxState    *st = (TxState *) DatumGetPointer(arg);

	if (st->sim)
		seg_reco_demo_sim_end(st->sim);
	st->sim = NULL;
}

Datum
seg_reco_demo_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FuncCallContext *funcctx;
	TxState    *st;
	const Line *l;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	desc;

		funcctx = seg_reco_demo_begin_value_per_call(fcinfo, 11, &desc);
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		st = palloc0(sizeof(TxState));
		st->desc = desc;
		st->m = palloc(sizeof(Model));
		seg_reco_demo_check_args(fcinfo, st->m);
		seg_reco_demo_build_model(st->m, true);
		st->store_txt = CStringGetTextDatum("store");
		st->online_txt = CStringGetTextDatum("online");
		st->cxt = funcctx->multi_call_memory_ctx;
		st->price_num = palloc_extended(sizeof(Datum) * 5 * (Size) st->m->nprod,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		st->zero_money = money_datum(0);
		/* the digital events' sample of these lines, for _demo_digital_events */
		if (st->m->nev > 0)
			st->sample = seg_reco_demo_sample_begin(st->m, funcctx->multi_call_memory_ctx);
		st->sim = seg_reco_demo_sim_begin(st->m, st->sample);
		st->econtext = rsinfo->econtext;
		RegisterExprContextCallback(st->econtext, tx_shutdown, PointerGetDatum(st));
		funcctx->user_fctx = st;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = funcctx->user_fctx;

	l = seg_reco_demo_sim_next(st->sim);
	if (l != NULL)
	{
		Datum		values[11];
		bool		nulls[11] = {0};

		values[0] = Int64GetDatum(l->line_id);
		values[1] = Int64GetDatum(l->receipt_id);
		if (l->cust)
			values[2] = Int64GetDatum((int64) l->cust);
		else
			nulls[2] = true;
		values[3] = Int64GetDatum((int64) l->product + 1);
		values[4] = Int32GetDatum(l->store);
		values[5] = TimestampTzGetDatum(seg_reco_demo_make_ts(l->day, l->sod));
		values[6] = tx_qty(st, l);
		values[7] = tx_price(st, l);
		values[8] = l->disc == 0 ? st->zero_money : money_datum(l->disc);
		values[9] = money_datum(l->amount);
		values[10] = l->online ? st->online_txt : st->store_txt;
		/* lines made so far: generate_demo_data's step transactions */
		if ((funcctx->call_cntr + 1) % 4096 == 0)
			seg_reco_progress_update((int64) funcctx->call_cntr + 1);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(st->desc, values, nulls)));
	}

	/* done: keep the sample for _demo_digital_events */
	seg_reco_progress_done((int64) funcctx->call_cntr);
	UnregisterExprContextCallback(st->econtext, tx_shutdown, PointerGetDatum(st));
	seg_reco_demo_sim_end(st->sim);
	st->sim = NULL;
	if (st->sample)
		seg_reco_demo_sample_keep(st->m, st->sample);
	SRF_RETURN_DONE(funcctx);
}
