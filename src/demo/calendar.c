/*
 * calendar.c
 *      The demo's two years (2024-2025): weekdays, opening hours, public
 *      holidays, the seasonal themes of each day, Oslo local time, and the
 *      weekly campaigns.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "demo.h"

static const int mdays[2][12] = {
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
};

/* day index (0 = 2024-01-01) of a date in 2024 or 2025 */
int
seg_reco_demo_day_index(int year, int month, int mday)
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

/* the timestamptz of Oslo local time sod (seconds) on day d */
TimestampTz
seg_reco_demo_make_ts(int d, int sod)
{
	int64		secs = (int64) (DAY0_PGDATE + d) * 86400 + sod -
		(int64) oslo_offset(d, sod) * 3600;

	return (TimestampTz) (secs * USECS_PER_SEC);
}

/*
 * Every day's weekday, opening hours, closing (Sundays and public holidays)
 * and the probabilities of the seasonal themes (Easter, Christmas, grill,
 * Friday taco).
 */
void
seg_reco_demo_build_calendar(Model *m)
{
	int			d,
				y;

	m->easter[0] = seg_reco_demo_day_index(2024, 3, 31);
	m->easter[1] = seg_reco_demo_day_index(2025, 4, 20);

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

		fixed[0] = seg_reco_demo_day_index(year, 1, 1);
		fixed[1] = seg_reco_demo_day_index(year, 5, 1);
		fixed[2] = seg_reco_demo_day_index(year, 5, 17);
		fixed[3] = seg_reco_demo_day_index(year, 12, 25);
		fixed[4] = seg_reco_demo_day_index(year, 12, 26);
		for (i = 0; i < 5; i++)
			m->cal[fixed[i]].closed = true;
		/* skjærtorsdag, langfredag, påskedag, 2. påskedag, himmelfart, pinse */
		m->cal[e - 3].closed = m->cal[e - 2].closed = true;
		m->cal[e].closed = m->cal[e + 1].closed = true;
		m->cal[e + 39].closed = true;
		m->cal[e + 49].closed = m->cal[e + 50].closed = true;
		m->cal[e - 1].close_h = 18;
		m->cal[seg_reco_demo_day_index(year, 12, 24)].close_h = 14;
		m->cal[seg_reco_demo_day_index(year, 12, 31)].close_h = 15;

		/* Easter theme */
		for (k = e - 14; k <= e + 1; k++)
			m->cal[k].theme_p[TH_PASKE] = (k >= e - 7) ? 0.45f : 0.15f;
		/* Christmas theme */
		for (k = seg_reco_demo_day_index(year, 11, 20);
			 k <= seg_reco_demo_day_index(year, 12, 31); k++)
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

/*
 * The campaign list of every week: ~2.5% of products, 20-40% off (the same
 * hash as campaign_pct in demo.h, which gives the discount).
 */
void
seg_reco_demo_build_campaigns(Model *m)
{
	int			i,
				k;

	/* weekly campaigns: ~2.5% of products, 20-40% off */
	for (k = 0; k < NWEEKS; k++)
	{
		int			n = 0;

		m->camp_list[k] = palloc(sizeof(int32) * (m->nprod / 30 + 16));
		for (i = 0; i < m->nprod && n < m->nprod / 30 + 16; i++)
		{
			uint64		h = seg_reco_mix64(seg_reco_mix64((uint64) m->seed + TAG_CAMPAIGN) ^
								  ((uint64) k << 32 | (uint64) i));

			if (h % 1000 < 25 && !(m->prod[i].flags & F_BAG))
				m->camp_list[k][n++] = i;
		}
		m->camp_n[k] = n;
		CHECK_FOR_INTERRUPTS();
	}
}
