/*
 * money.c
 *      Exact sums of amounts: fixed point with 18 decimals in a 128-bit
 *      integer (see money.h).
 *
 * Integer addition is associative, so an aggregate that sums amounts this
 * way gives the same bits for the same lines in any order and for partial
 * states merged in any order (parallel plans, Citus, stored states), which
 * a float8 sum, even a compensated one, does not.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/shortest_dec.h"

#include "guards.h"
#include "money.h"

#define POW10_16 ((int128) INT64CONST(10000000000000000))
#define POW10_19 ((int128) UINT64CONST(10000000000000000000))
/* sums stay below 10^38 units = 10^20 in absolute value */
#define MONEY_MAX (POW10_19 * POW10_19 - 1)

/* digits kept from a decimal text: 38 whole units, one to round on, slack */
#define MONEY_MAX_DIGITS 64

static void
money_out_of_range(const char *what, const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s is out of range: %s", what, value),
			 errdetail("Amounts are added up exactly, to 18 decimals; an amount and a sum of amounts must be below 1e20 in absolute value."),
			 errhint("Filter out or repair rows with extreme amounts.")));
}

bool
seg_reco_int64_parse(const char **pp, int64 *out)
{
	const char *p = *pp;
	char	   *end;
	long long	v;

	if (!isdigit((unsigned char) *p) &&
		!(*p == '-' && isdigit((unsigned char) p[1])))
		return false;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno == ERANGE)
		return false;
	*pp = end;
	*out = (int64) v;
	return true;
}

bool
seg_reco_money_parse(const char **pp, SegRecoMoney *out)
{
	const char *p = *pp;
	bool		neg = false,
				any = false;
	char		digits[MONEY_MAX_DIGITS];
	int			nd = 0,
				exp10 = 0,
				keep,
				i;
	int128		units = 0;

	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');
	for (; isdigit((unsigned char) *p); p++)
	{
		any = true;
		if (nd == 0 && *p == '0')
			continue;
		if (nd < MONEY_MAX_DIGITS)
			digits[nd++] = *p;
		else
			exp10++;			/* a whole digit past the buffer: too large anyway */
	}
	if (*p == '.')
	{
		for (p++; isdigit((unsigned char) *p); p++)
		{
			any = true;
			if (nd == 0 && *p == '0')
				exp10--;
			else if (nd < MONEY_MAX_DIGITS)
			{
				digits[nd++] = *p;
				exp10--;
			}
			/* else: far past the 18th decimal and the rounding digit */
		}
	}
	if (!any)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		bool		eneg = false;
		int			e = 0;

		p++;
		if (*p == '+' || *p == '-')
			eneg = (*p++ == '-');
		if (!isdigit((unsigned char) *p))
			return false;
		for (; isdigit((unsigned char) *p); p++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		exp10 += eneg ? -e : e;
	}
	*pp = p;

	/* value = digits * 10^exp10; units = value * 10^18, rounded half away from 0 */
	keep = nd + exp10 + SEG_RECO_MONEY_DIGITS;
	if (nd == 0 || keep < 0)
		units = 0;
	else if (keep == 0)
		units = digits[0] >= '5' ? 1 : 0;
	else
	{
		if (keep > 38)
			return false;
		for (i = 0; i < keep; i++)
			units = units * 10 + (i < nd ? digits[i] - '0' : 0);
		if (keep < nd && digits[keep] >= '5')
			units++;
		if (units > MONEY_MAX)
			return false;
	}
	*out = neg ? -units : units;
	return true;
}

SegRecoMoney
seg_reco_money_from_float8(double x, const char *what)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	const char *p = buf;
	SegRecoMoney v;

	seg_reco_check_finite(x, what);
	if (fabs(x) >= SEG_RECO_MONEY_LIMIT)
	{
		snprintf(buf, sizeof(buf), "%g", x);
		money_out_of_range(what, buf);
	}
	/* whole cents (the usual case), when no other 2-decimal number rounds to x */
	if (fabs(x) < 17592186044416.0)	/* 2^44 */
	{
		double		c = rint(x * 100.0);

		if (c / 100.0 == x)
			return (int128) (int64) c * POW10_16;
	}
	/* else the shortest decimal that reads back as x */
	double_to_shortest_decimal_buf(x, buf);
	if (!seg_reco_money_parse(&p, &v) || *p != '\0')
		elog(ERROR, "cannot read the shortest decimal form \"%s\" of a float8", buf);
	return v;
}

void
seg_reco_money_add(SegRecoMoney *acc, SegRecoMoney v, const char *what)
{
	if ((v > 0 && *acc > MONEY_MAX - v) || (v < 0 && *acc < -MONEY_MAX - v))
		money_out_of_range(what, "its absolute value reaches 1e20");
	*acc += v;
}

/* exact decimal of v into buf (at least 64 bytes); returns buf */
static char *
money_format(SegRecoMoney v, char *buf)
{
	uint128		u = v < 0 ? -(uint128) v : (uint128) v;
	char		d[48];
	int			n = 0,
				lo = 0,
				i;
	char	   *o = buf;

	do
	{
		d[n++] = '0' + (int) (u % 10);
		u /= 10;
	} while (u != 0);
	while (n <= SEG_RECO_MONEY_DIGITS)
		d[n++] = '0';
	while (lo < SEG_RECO_MONEY_DIGITS && d[lo] == '0')
		lo++;
	if (v < 0)
		*o++ = '-';
	for (i = n - 1; i >= SEG_RECO_MONEY_DIGITS; i--)
		*o++ = d[i];
	if (lo < SEG_RECO_MONEY_DIGITS)
	{
		*o++ = '.';
		for (i = SEG_RECO_MONEY_DIGITS - 1; i >= lo; i--)
			*o++ = d[i];
	}
	*o = '\0';
	return buf;
}

char *
seg_reco_money_out(SegRecoMoney v)
{
	char		buf[64];

	return pstrdup(money_format(v, buf));
}

double
seg_reco_money_to_float8(SegRecoMoney v)
{
	char		buf[64];

	/* whole cents: both operands exact, so the quotient is correctly rounded */
	if (v % POW10_16 == 0)
	{
		int128		c = v / POW10_16;

		if (c > -(((int128) 1) << 53) && c < (((int128) 1) << 53))
			return (double) (int64) c / 100.0;
	}
	/* else strtod of the exact decimal, also correctly rounded */
	return strtod(money_format(v, buf), NULL);
}
