/*
 * btyd.c
 *      Buy-till-you-die models: per-customer summaries, BG/NBD, MBG/NBD,
 *      Gamma-Gamma, the optimiser, P(alive), expected purchases and CLV.
 *
 * Summaries (Fader & Hardie; the definitions of the lifetimes library):
 *   a purchase occasion is a day with at least one line of amount >= 0
 *   (lines of one day are one occasion);
 *   frequency       repeat occasions: occasions after the first, up to the
 *                   calibration end (inclusive)
 *   recency         age at the last occasion: days from first to last / unit
 *   t               age at the calibration end: days from first / unit
 *   monetary_value  net amount of every line after the first occasion's day,
 *                   up to the calibration end, divided by frequency (0 when
 *                   frequency = 0)
 * unit is 1 day or 7 days ("week": fractional weeks, days / 7).  Lines dated
 * after the calibration end, and lines before the first occasion, are
 * ignored.
 *
 * The summary aggregate's state is a varlena of our own with text I/O (like
 * seg_reco.rfm_state): the calibration end, the unit, the line count and one
 * (day, net amount, purchase flag) entry per distinct day, sorted on output.
 * Text form:  unit,calibration_end,lines:{day:amount,day!amount,...}
 * with days as integer days since 2000-01-01, ":" for a day holding a
 * purchase and "!" for a day holding only returns.
 *
 * Models (parameters > 0, fitted in log space):
 *   BG/NBD   Fader, Hardie & Lee (2005), "Counting your customers the easy way"
 *   MBG/NBD  Batislam, Denizel & Filiztekin (2007): a customer may also drop
 *            out right after the first purchase, so one-time buyers do not
 *            get P(alive) = 1
 *   Gamma-Gamma  Fader, Hardie & Lee (2005), "RFM and CLV", on customers with
 *            frequency > 0 and monetary_value > 0
 *
 * The optimiser minimises the mean negative log-likelihood plus
 * penalizer * (sum of squared parameters), as lifetimes does: Nelder-Mead
 * from a start guess, then BFGS with analytic gradients.  Above
 * BTYD_SUBSAMPLE customers the Nelder-Mead/BFGS stage runs on a seeded
 * random subsample and BFGS finishes on all customers from there, starting
 * from the subsample's inverse Hessian (the objective is a mean, so the two
 * Hessians agree up to sampling noise).  The likelihood groups every term
 * that depends on frequency alone by frequency, so a customer costs two
 * logarithms and one exponential per evaluation.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "guards.h"

/* ====================================================================
 * Input checks
 * ==================================================================== */

static inline void
btyd_check_nonneg(double v, const char *what)
{
	seg_reco_check_finite(v, what);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, got %g", what, v)));
}

static inline void
btyd_check_positive(double v, const char *what)
{
	seg_reco_check_finite(v, what);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got %g", what, v),
				 errhint("Model parameters are positive numbers as returned by the fitting functions.")));
}

/* largest frequency the fitting code accepts (tables are indexed by it) */
#define BTYD_MAX_FREQUENCY 1000000

/*
 * One customer summary: frequency a whole number >= 0, 0 <= recency <= t,
 * recency = 0 when frequency = 0.
 */
static void
btyd_check_summary(double x, double tx, double T)
{
	seg_reco_check_finite(x, "frequency");
	seg_reco_check_finite(tx, "recency");
	seg_reco_check_finite(T, "t");
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must not be negative, got %g", x),
				 errdetail("Frequency counts repeat purchase occasions.")));
	if (x != floor(x) || x > BTYD_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a whole number of at most %d, got %g",
						BTYD_MAX_FREQUENCY, x),
				 errhint("Compute summaries with seg_reco.btyd_summary.")));
	if (tx < 0 || T < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency and t must not be negative, got recency %g and t %g", tx, T)));
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must not exceed t, got recency %g and t %g", tx, T),
				 errdetail("Recency is the age at the last purchase, t the age at the end of the calibration period."),
				 errhint("Check that recency and t are in the same unit and measured from the first purchase.")));
	if (x == 0 && tx != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must be 0 when frequency is 0, got %g", tx),
				 errdetail("A customer without repeat purchases has the last purchase at age 0.")));
}

static int
btyd_parse_unit(text *unit_txt)
{
	char	   *s = text_to_cstring(unit_txt);

	if (strcmp(s, "day") == 0)
		return 1;
	if (strcmp(s, "week") == 0)
		return 7;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown period unit \"%s\"", s),
			 errhint("Use 'day' or 'week'.")));
	return 0;					/* keep compiler quiet */
}

/* ====================================================================
 * Summary aggregate state
 * ==================================================================== */

typedef struct BtydDay
{
	int32		day;			/* DateADT */
	int32		purchase;		/* 1: the day holds a line with amount >= 0 */
	double		amount;			/* net amount of the day's lines */
} BtydDay;

typedef struct BtydSumState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		capacity;		/* room in days[] */
	int32		ndays;			/* entries used */
	int32		nsorted;		/* days[0 .. nsorted-1] sorted and unique */
	int32		unit;			/* 1 (day) or 7 (week) */
	int32		cal_end;		/* DateADT, inclusive */
	int64		lines;			/* lines up to the calibration end */
	BtydDay		days[FLEXIBLE_ARRAY_MEMBER];
} BtydSumState;

#define BTYD_INITIAL_CAPACITY 8
#define BTYD_MAX_DAYS ((int32) ((MaxAllocSize - offsetof(BtydSumState, days)) / sizeof(BtydDay) / 2))

#define PG_GETARG_BTYD_STATE(n) ((BtydSumState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(n)))

static BtydSumState *
btyd_state_alloc(int32 capacity)
{
	BtydSumState *st;
	Size		sz;

	if (capacity > BTYD_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("btyd summary state cannot hold more than %d distinct days for one customer",
						BTYD_MAX_DAYS)));
	sz = offsetof(BtydSumState, days) + sizeof(BtydDay) * (Size) capacity;
	st = (BtydSumState *) palloc0(sz);
	SET_VARSIZE(st, sz);
	st->capacity = capacity;
	return st;
}

static BtydSumState *
btyd_state_copy(const BtydSumState *src, int32 capacity)
{
	BtydSumState *st = btyd_state_alloc(Max(capacity, src->ndays));

	st->ndays = src->ndays;
	st->nsorted = src->nsorted;
	st->unit = src->unit;
	st->cal_end = src->cal_end;
	st->lines = src->lines;
	memcpy(st->days, src->days, sizeof(BtydDay) * (Size) src->ndays);
	return st;
}

static int
cmp_btyd_day(const void *a, const void *b)
{
	int32		x = ((const BtydDay *) a)->day;
	int32		y = ((const BtydDay *) b)->day;

	return (x > y) - (x < y);
}

/* sort days[] and merge entries of the same day */
static void
btyd_state_compact(BtydSumState *st)
{
	int32		i,
				out;

	if (st->nsorted == st->ndays)
		return;
	qsort(st->days, st->ndays, sizeof(BtydDay), cmp_btyd_day);
	out = 0;
	for (i = 0; i < st->ndays; i++)
	{
		if (out > 0 && st->days[out - 1].day == st->days[i].day)
		{
			st->days[out - 1].amount += st->days[i].amount;
			st->days[out - 1].purchase |= st->days[i].purchase;
		}
		else
			st->days[out++] = st->days[i];
	}
	st->ndays = st->nsorted = out;
}

static void
btyd_check_state(const BtydSumState *st)
{
	if (VARSIZE(st) < offsetof(BtydSumState, days) ||
		st->ndays < 0 || st->nsorted < 0 || st->nsorted > st->ndays ||
		st->capacity < st->ndays ||
		VARSIZE(st) < offsetof(BtydSumState, days) + sizeof(BtydDay) * (Size) st->capacity ||
		(st->unit != 1 && st->unit != 7))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("malformed seg_reco.btyd_summary_state")));
}

/*
 * btyd_summary_trans(state, purchase_date, amount, calibration_end [, unit]):
 * not STRICT, so that it creates the first state and skips NULL lines.
 */
PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_trans);
Datum
seg_reco_btyd_summary_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydSumState *st;
	DateADT		day,
				cal_end;
	double		amount;
	int			unit = 7;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.btyd_summary_trans can only be called as an aggregate transition function")));

	if (PG_ARGISNULL(3) || (PG_NARGS() > 4 && PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("calibration_end and unit must not be NULL"),
				 errhint("Pass the last day of the calibration period and 'day' or 'week'.")));
	cal_end = PG_GETARG_DATEADT(3);
	if (DATE_NOT_FINITE(cal_end))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("calibration_end must be a finite date")));

	if (PG_ARGISNULL(0))
	{
		if (PG_NARGS() > 4)
			unit = btyd_parse_unit(PG_GETARG_TEXT_PP(4));
		st = btyd_state_alloc(BTYD_INITIAL_CAPACITY);
		st->unit = unit;
		st->cal_end = cal_end;
	}
	else
	{
		st = PG_GETARG_BTYD_STATE(0);
		if (st->cal_end != cal_end)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calibration_end must be the same for every row of a group"),
					 errhint("Pass a constant calibration end date.")));
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	day = PG_GETARG_DATEADT(1);
	amount = PG_GETARG_FLOAT8(2);
	seg_reco_check_finite(amount, "amount");
	if (DATE_NOT_FINITE(day))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("purchase date must be finite")));
	if (day > cal_end)
		PG_RETURN_POINTER(st);

	st->lines++;
	/* lines of one day usually arrive together */
	if (st->ndays > 0 && st->days[st->ndays - 1].day == day)
	{
		st->days[st->ndays - 1].amount += amount;
		st->days[st->ndays - 1].purchase |= (amount >= 0);
		if (st->ndays == 1)
			st->nsorted = 1;
		PG_RETURN_POINTER(st);
	}
	if (st->ndays == st->capacity)
	{
		btyd_state_compact(st);
		if (st->ndays >= st->capacity / 2)
			st = btyd_state_copy(st, Max(st->capacity * 2, BTYD_INITIAL_CAPACITY));
	}
	st->days[st->ndays].day = day;
	st->days[st->ndays].purchase = (amount >= 0);
	st->days[st->ndays].amount = amount;
	/* appending in date order keeps the array sorted */
	if (st->nsorted == st->ndays &&
		(st->ndays == 0 || st->days[st->ndays - 1].day < day))
		st->nsorted++;
	st->ndays++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_combine);
Datum
seg_reco_btyd_summary_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydSumState *a,
			   *b,
			   *st;
	int64		total;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.btyd_summary_combine can only be called as an aggregate combine function")));

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(0))
	{
		b = PG_GETARG_BTYD_STATE(1);
		btyd_check_state(b);
		st = btyd_state_copy(b, b->ndays);
		btyd_state_compact(st);
		PG_RETURN_POINTER(st);
	}
	a = PG_GETARG_BTYD_STATE(0);
	b = PG_GETARG_BTYD_STATE(1);
	btyd_check_state(a);
	btyd_check_state(b);
	if (a->cal_end != b->cal_end || a->unit != b->unit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine btyd summary states with different calibration ends or units")));
	total = (int64) a->ndays + b->ndays;
	if (total > BTYD_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("btyd summary state cannot hold more than %d distinct days for one customer",
						BTYD_MAX_DAYS)));
	st = btyd_state_copy(a, Max((int32) total, BTYD_INITIAL_CAPACITY));
	memcpy(st->days + st->ndays, b->days, sizeof(BtydDay) * (Size) b->ndays);
	st->ndays += b->ndays;
	st->nsorted = 0;
	st->lines += b->lines;
	btyd_state_compact(st);
	PG_RETURN_POINTER(st);
}

/*
 * Final function: a seg_reco.btyd_summary_values row, or NULL when the
 * customer has no purchase occasion up to the calibration end.
 */
PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_final);
Datum
seg_reco_btyd_summary_final(PG_FUNCTION_ARGS)
{
	BtydSumState *st;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	int32		i,
				first = -1,
				last = -1;
	int64		freq = 0;
	double		spend = 0.0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "seg_reco.btyd_summary_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	st = PG_GETARG_BTYD_STATE(0);
	btyd_check_state(st);
	/* work on a copy: the final function may run again on the state */
	st = btyd_state_copy(st, 0);
	btyd_state_compact(st);

	for (i = 0; i < st->ndays; i++)
	{
		if (first < 0)
		{
			if (st->days[i].purchase)
				first = last = i;
			continue;
		}
		spend += st->days[i].amount;
		if (st->days[i].purchase)
		{
			freq++;
			last = i;
		}
	}
	if (first < 0)
		PG_RETURN_NULL();

	values[0] = Int64GetDatum(freq);
	values[1] = Float8GetDatum((double) (st->days[last].day - st->days[first].day) / st->unit);
	values[2] = Float8GetDatum((double) (st->cal_end - st->days[first].day) / st->unit);
	values[3] = Float8GetDatum(freq > 0 ? spend / (double) freq : 0.0);
	values[4] = DateADTGetDatum(st->days[first].day);
	values[5] = DateADTGetDatum(st->days[last].day);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------- text I/O of the summary state ---------- */

static void
btyd_bad_input(const char *str, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type seg_reco.btyd_summary_state: \"%s\"", str),
			 errdetail("%s", why)));
}

static int64
btyd_parse_int(const char *str, char **p, const char *what)
{
	long long	v;
	char	   *end;

	errno = 0;
	v = strtoll(*p, &end, 10);
	if (end == *p || errno == ERANGE)
		btyd_bad_input(str, what);
	*p = end;
	return (int64) v;
}

PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_state_in);
Datum
seg_reco_btyd_summary_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	char	   *end;
	BtydSumState *st;
	int			unit;
	int64		cal_end,
				lines;
	int32		capacity = 0;
	const char *q;

	if (strncmp(p, "day,", 4) == 0)
	{
		unit = 1;
		p += 4;
	}
	else if (strncmp(p, "week,", 5) == 0)
	{
		unit = 7;
		p += 5;
	}
	else
	{
		btyd_bad_input(str, "Expected \"day,\" or \"week,\".");
		unit = 0;				/* keep compiler quiet */
	}
	cal_end = btyd_parse_int(str, &p, "Bad calibration end.");
	if (cal_end < -2451545 || cal_end > 100000000)
		btyd_bad_input(str, "Calibration end out of range.");
	if (*p++ != ',')
		btyd_bad_input(str, "Expected \",\".");
	lines = btyd_parse_int(str, &p, "Bad line count.");
	if (*p++ != ':' || *p++ != '{')
		btyd_bad_input(str, "Expected \":{\".");
	for (q = p; *q && *q != '}'; q++)
		if (*q == ',')
			capacity++;
	if (*p != '}')
		capacity++;
	if (lines < capacity)
		btyd_bad_input(str, "Fewer lines than days.");
	st = btyd_state_alloc(Max(capacity, BTYD_INITIAL_CAPACITY));
	st->unit = unit;
	st->cal_end = (int32) cal_end;
	st->lines = lines;
	while (*p != '}')
	{
		int64		day = btyd_parse_int(str, &p, "Bad day.");
		int			purchase;
		double		amount;

		if (*p == ':')
			purchase = 1;
		else if (*p == '!')
			purchase = 0;
		else
		{
			btyd_bad_input(str, "Expected \":\" or \"!\" after a day.");
			purchase = 0;		/* keep compiler quiet */
		}
		p++;
		amount = float8in_internal(p, &end, "seg_reco.btyd_summary_state", str);
		p = end;
		if (isnan(amount) || isinf(amount))
			btyd_bad_input(str, "Amounts must be finite.");
		if (day > cal_end || (st->ndays > 0 && st->days[st->ndays - 1].day >= day))
			btyd_bad_input(str, "Days must be strictly increasing and not after the calibration end.");
		if (st->ndays >= st->capacity)
			btyd_bad_input(str, "Too many days.");
		st->days[st->ndays].day = (int32) day;
		st->days[st->ndays].purchase = purchase;
		st->days[st->ndays].amount = amount;
		st->ndays++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			btyd_bad_input(str, "Expected \",\" or \"}\".");
	}
	p++;
	if (*p != '\0')
		btyd_bad_input(str, "Junk after \"}\".");
	st->nsorted = st->ndays;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_state_out);
Datum
seg_reco_btyd_summary_state_out(PG_FUNCTION_ARGS)
{
	BtydSumState *st = PG_GETARG_BTYD_STATE(0);
	StringInfoData buf;
	int32		i;

	btyd_check_state(st);
	st = btyd_state_copy(st, 0);
	btyd_state_compact(st);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s,%d,%lld:{", st->unit == 1 ? "day" : "week",
					 st->cal_end, (long long) st->lines);
	for (i = 0; i < st->ndays; i++)
	{
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		appendStringInfo(&buf, "%s%d%c%s", i ? "," : "", st->days[i].day,
						 st->days[i].purchase ? ':' : '!',
						 float8out_internal(st->days[i].amount));
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

/* ====================================================================
 * Special functions
 * ==================================================================== */

/* digamma for x > 0: recurrence up to 6, then the asymptotic series */
static double
digamma(double x)
{
	double		r = 0.0,
				f;

	while (x < 6.0)
	{
		r -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	return r + log(x) - 0.5 / x
		- f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* log|Gamma(x)| and its sign, for any x that is not a pole */
static double
lgamma_signed(double x, int *sign)
{
	int			s = 1;
	double		v = lgamma_r(x, &s);

	*sign = s;
	return v;
}

static void
btyd_hyp2f1_error(double a, double b, double c, double z)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("hypergeometric function 2F1(%g, %g; %g; %g) did not converge", a, b, c, z),
			 errdetail("The expected-purchases formula needs it for a horizon much longer than alpha + t."),
			 errhint("Use a shorter horizon, or fit the model in a coarser unit.")));
}

/* Power series of 2F1(a, b; c; z), |z| < 1, with convergence check. */
static double
hyp2f1_series(double a, double b, double c, double z, int maxterms, bool *ok)
{
	double		term = 1.0,
				sum = 1.0;
	int			n;

	*ok = true;
	for (n = 0; n < maxterms; n++)
	{
		double		ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;

		term *= ratio;
		sum += term;
		if (fabs(term) <= 1e-16 * fabs(sum) && fabs(ratio) < 1.0)
			return sum;
		if (!isfinite(sum))
			break;
		if ((n & 8191) == 8191)
			CHECK_FOR_INTERRUPTS();
	}
	*ok = false;
	return sum;
}

/*
 * exp(logpref) * 2F1(a, b; c; z) for 0 <= z < 1 and c > 0 or c not a
 * non-positive integer.  For z <= 0.9 the power series; above, the linear
 * transformation z -> 1 - z (Abramowitz & Stegun 15.3.6), evaluated with
 * signed log-gamma functions so that large a, b, c (frequent customers) do
 * not overflow.  When c - a - b is within 1e-7 of an integer (where that
 * transformation degenerates) the power series is summed to up to a million
 * terms, and if even that does not converge the call is an error.
 */
static double
hyp2f1_scaled(double a, double b, double c, double z, double logpref)
{
	double		s = c - a - b;
	bool		ok;
	double		v;

	if (z <= 0.9 || fabs(s - rint(s)) < 1e-7)
	{
		v = hyp2f1_series(a, b, c, z, z <= 0.9 ? 10000 : 1000000, &ok);
		if (!ok || !isfinite(v))
			btyd_hyp2f1_error(a, b, c, z);
		return exp(logpref) * v;
	}
	else
	{
		double		w = 1.0 - z;
		double		f1,
					f2,
					l1,
					l2;
		int			s1,
					s2,
					sg;
		double		lg_c,
					t1 = 0.0,
					t2 = 0.0;

		f1 = hyp2f1_series(a, b, a + b - c + 1.0, w, 10000, &ok);
		if (!ok)
			btyd_hyp2f1_error(a, b, c, z);
		f2 = hyp2f1_series(c - a, c - b, s + 1.0, w, 10000, &ok);
		if (!ok)
			btyd_hyp2f1_error(a, b, c, z);

		lg_c = lgamma_signed(c, &sg);
		/* term 1: G(c) G(s) / (G(c-a) G(c-b)) f1; 1/G at a pole is 0 */
		if (!((c - a) <= 0 && c - a == rint(c - a)) && !((c - b) <= 0 && c - b == rint(c - b)))
		{
			int			sa,
						sb,
						ss;
			double		la = lgamma_signed(c - a, &sa);
			double		lb = lgamma_signed(c - b, &sb);
			double		ls = lgamma_signed(s, &ss);

			l1 = lg_c + ls - la - lb;
			s1 = sg * ss * sa * sb;
			t1 = s1 * exp(logpref + l1) * f1;
		}
		/* term 2: w^s G(c) G(-s) / (G(a) G(b)) f2 */
		{
			int			sa,
						sb,
						ss;
			double		la = lgamma_signed(a, &sa);
			double		lb = lgamma_signed(b, &sb);
			double		ls = lgamma_signed(-s, &ss);

			l2 = lg_c + ls - la - lb + s * log(w);
			s2 = sg * ss * sa * sb;
			t2 = s2 * exp(logpref + l2) * f2;
		}
		v = t1 + t2;
		if (!isfinite(v))
			btyd_hyp2f1_error(a, b, c, z);
		return v;
	}
}

/* ====================================================================
 * BG/NBD and MBG/NBD: closed forms
 * ==================================================================== */

static void
btyd_check_bg_params(double r, double alpha, double a, double b)
{
	btyd_check_positive(r, "r");
	btyd_check_positive(alpha, "alpha");
	btyd_check_positive(a, "a");
	btyd_check_positive(b, "b");
}

/*
 * P(alive | x, t_x, T).  BG/NBD: 1 / (1 + [x > 0] a / (b + x - 1)
 * ((alpha + T) / (alpha + t_x))^(r + x)); MBG/NBD: 1 / (1 + a / (b + x)
 * (...)^(r + x)).  Computed in log space.
 */
static double
btyd_p_alive(bool modified, double r, double alpha, double a, double b,
			 double x, double tx, double T)
{
	double		lz;

	if (!modified && x == 0)
		return 1.0;
	lz = log(a) - log(b + x - (modified ? 0.0 : 1.0))
		+ (r + x) * (log(alpha + T) - log(alpha + tx));
	if (lz > 700)
		return 0.0;
	return 1.0 / (1.0 + exp(lz));
}

/*
 * E[Y(t) | x, t_x, T], FHL (2005) eq. 10 and Batislam et al. (2007):
 *   BG:  (a+b+x-1)/(a-1) [1 - q^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] * P(alive)
 *   MBG: (a+b+x)/(a-1)   [1 - q^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] * P(alive)
 * with q = (alpha+T)/(alpha+T+t), z = t/(alpha+T+t).  At a = 1 the
 * removable singularity is bridged by averaging a = 1 -+ 1e-6.
 */
static double
btyd_expected_core(bool modified, double r, double alpha, double a, double b,
				   double x, double T, double t)
{
	double		k = r + x;
	double		z = t / (alpha + T + t);
	double		logq = log(alpha + T) - log(alpha + T + t);
	double		c,
				bb,
				first,
				h;

	if (t == 0)
		return 0.0;
	if (modified)
	{
		c = a + b + x;
		bb = b + x + 1.0;
	}
	else
	{
		c = a + b + x - 1.0;
		bb = b + x;
	}
	first = c / (a - 1.0);
	h = hyp2f1_scaled(k, bb, c, z, k * logq);
	return first * (1.0 - h);
}

static double
btyd_expected_purchases(bool modified, double r, double alpha, double a, double b,
						double x, double tx, double T, double t)
{
	double		e;

	if (fabs(a - 1.0) < 1e-6)
		e = 0.5 * (btyd_expected_core(modified, r, alpha, 1.0 - 1e-6, b, x, T, t) +
				   btyd_expected_core(modified, r, alpha, 1.0 + 1e-6, b, x, T, t));
	else
		e = btyd_expected_core(modified, r, alpha, a, b, x, T, t);
	e *= btyd_p_alive(modified, r, alpha, a, b, x, tx, T);
	if (!isfinite(e))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected purchases are not finite for frequency %g, recency %g, t %g, horizon %g",
						x, tx, T, t),
				 errhint("Check the model parameters.")));
	/* rounding can leave a tiny negative value for a tiny horizon */
	return Max(e, 0.0);
}

/* ---------- SQL: p_alive, expected purchases ---------- */

static void
btyd_args_bg(FunctionCallInfo fcinfo, double *r, double *alpha, double *a, double *b,
			 double *x, double *tx, double *T)
{
	*r = PG_GETARG_FLOAT8(0);
	*alpha = PG_GETARG_FLOAT8(1);
	*a = PG_GETARG_FLOAT8(2);
	*b = PG_GETARG_FLOAT8(3);
	*x = PG_GETARG_FLOAT8(4);
	*tx = PG_GETARG_FLOAT8(5);
	*T = PG_GETARG_FLOAT8(6);
	btyd_check_bg_params(*r, *alpha, *a, *b);
	btyd_check_summary(*x, *tx, *T);
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_p_alive);
Datum
seg_reco_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	PG_RETURN_FLOAT8(btyd_p_alive(false, r, alpha, a, b, x, tx, T));
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_p_alive);
Datum
seg_reco_mbgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	PG_RETURN_FLOAT8(btyd_p_alive(true, r, alpha, a, b, x, tx, T));
}

static double
btyd_horizon_arg(FunctionCallInfo fcinfo, int n)
{
	double		t = PG_GETARG_FLOAT8(n);

	btyd_check_nonneg(t, "horizon");
	return t;
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_expected_purchases);
Datum
seg_reco_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T,
				t;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	t = btyd_horizon_arg(fcinfo, 7);
	PG_RETURN_FLOAT8(btyd_expected_purchases(false, r, alpha, a, b, x, tx, T, t));
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_expected_purchases);
Datum
seg_reco_mbgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T,
				t;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	t = btyd_horizon_arg(fcinfo, 7);
	PG_RETURN_FLOAT8(btyd_expected_purchases(true, r, alpha, a, b, x, tx, T, t));
}

/* ====================================================================
 * Gamma-Gamma: closed forms
 * ==================================================================== */

static void
btyd_check_gg_params(double p, double q, double g)
{
	btyd_check_positive(p, "p");
	btyd_check_positive(q, "q");
	btyd_check_positive(g, "gamma");
}

/*
 * E[Z | x, mean spend m] = (p (gamma + x m)) / (p x + q - 1).  Customers
 * without a repeat purchase (x = 0) or with a non-positive mean spend (the
 * model is fitted without them) get the population mean p gamma / (q - 1).
 */
static double
btyd_expected_spend(double p, double q, double g, double x, double m)
{
	if (x <= 0 || m <= 0)
	{
		if (q <= 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the gamma-gamma population mean spend is infinite for q = %g", q),
					 errdetail("The population mean p * gamma / (q - 1) needs q > 1; customers without a positive repeat spend get it."),
					 errhint("Refit on more repeat customers or with extreme spends removed; a penalizer shrinks q towards 0 and does not help here.")));
		return p * g / (q - 1.0);
	}
	if (p * x + q - 1.0 <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected spend is undefined for p * frequency + q <= 1"),
				 errhint("Refit the spend model on more repeat customers or with extreme spends removed.")));
	return p * (g + x * m) / (p * x + q - 1.0);
}

PG_FUNCTION_INFO_V1(seg_reco_gammagamma_expected_spend);
Datum
seg_reco_gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);
	double		q = PG_GETARG_FLOAT8(1);
	double		g = PG_GETARG_FLOAT8(2);
	double		x = PG_GETARG_FLOAT8(3);
	double		m = PG_GETARG_FLOAT8(4);

	btyd_check_gg_params(p, q, g);
	btyd_check_nonneg(x, "frequency");
	seg_reco_check_finite(m, "monetary_value");
	PG_RETURN_FLOAT8(btyd_expected_spend(p, q, g, x, m));
}

/*
 * CLV as lifetimes' customer_lifetime_value: for month i = 1..months,
 * spend * (E[Y(i f)] - E[Y((i-1) f)]) / (1 + d)^i, where f is a month in the
 * model's unit (4.345 weeks or 30 days) and d the monthly discount rate.
 *
 * Arguments: r, alpha, a, b, frequency, recency, t, expected_spend, months,
 * monthly_discount, unit.
 */
static Datum
btyd_clv_common(FunctionCallInfo fcinfo, bool modified)
{
	double		r,
				alpha,
				a,
				b,
				x,
				tx,
				T;
	double		spend = PG_GETARG_FLOAT8(7);
	int32		months = PG_GETARG_INT32(8);
	double		d = PG_GETARG_FLOAT8(9);
	int			unit = btyd_parse_unit(PG_GETARG_TEXT_PP(10));
	double		f = unit == 7 ? 4.345 : 30.0;
	double		prev = 0.0,
				clv = 0.0;
	int32		i;

	btyd_args_bg(fcinfo, &r, &alpha, &a, &b, &x, &tx, &T);
	seg_reco_check_finite(spend, "expected_spend");
	seg_reco_check_finite(d, "monthly_discount");
	if (months < 0 || months > 1200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be between 0 and 1200, got %d", months)));
	if (d <= -1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monthly_discount must be greater than -1, got %g", d),
				 errhint("Pass a monthly rate such as 0.01 for 1 %% a month.")));
	for (i = 1; i <= months; i++)
	{
		double		e = btyd_expected_purchases(modified, r, alpha, a, b, x, tx, T, i * f);

		clv += spend * (e - prev) / pow(1.0 + d, i);
		prev = e;
	}
	PG_RETURN_FLOAT8(clv);
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_clv);
Datum
seg_reco_bgnbd_clv(PG_FUNCTION_ARGS)
{
	return btyd_clv_common(fcinfo, false);
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_clv);
Datum
seg_reco_mbgnbd_clv(PG_FUNCTION_ARGS)
{
	return btyd_clv_common(fcinfo, true);
}

/* ====================================================================
 * Optimiser: Nelder-Mead, then BFGS with analytic gradients
 * ==================================================================== */

#define BTYD_MAXP 4

/* objective: returns f(u) and, when grad != NULL, its gradient */
typedef double (*BtydObjective) (void *ctx, const double *u, double *grad);

typedef struct BtydOpt
{
	int			np;
	BtydObjective fn;
	void	   *ctx;
	int			iterations;		/* Nelder-Mead and BFGS iterations, summed */
	bool		diverged;		/* a log-parameter left [-BTYD_ULIM, BTYD_ULIM] */
	double		Hinv[BTYD_MAXP * BTYD_MAXP];	/* last BFGS inverse Hessian */
} BtydOpt;

/* parameters must stay within exp(+-18) (1.5e-8 .. 6.6e7): beyond, the fit diverges */
#define BTYD_ULIM 18.0

static double
btyd_eval(BtydOpt *o, const double *u, double *grad)
{
	int			j;

	for (j = 0; j < o->np; j++)
		if (!(fabs(u[j]) <= BTYD_ULIM + 5.0))
			return INFINITY;
	return o->fn(o->ctx, u, grad);
}

static void
btyd_nelder_mead(BtydOpt *o, double *u, int maxiter)
{
	int			np = o->np;
	double		s[BTYD_MAXP + 1][BTYD_MAXP];
	double		fs[BTYD_MAXP + 1];
	double		c[BTYD_MAXP],
				xr[BTYD_MAXP],
				xe[BTYD_MAXP];
	int			i,
				j,
				it;

	for (i = 0; i <= np; i++)
	{
		for (j = 0; j < np; j++)
			s[i][j] = u[j] + (i == j + 1 ? 0.5 : 0.0);
		fs[i] = btyd_eval(o, s[i], NULL);
	}
	for (it = 0; it < maxiter; it++)
	{
		int			hi = 0,
					lo = 0,
					nh = 0;
		double		fr;

		CHECK_FOR_INTERRUPTS();
		for (i = 1; i <= np; i++)
		{
			if (fs[i] > fs[hi])
				hi = i;
			if (fs[i] < fs[lo])
				lo = i;
		}
		nh = (hi == 0) ? 1 : 0;
		for (i = 0; i <= np; i++)
			if (i != hi && fs[i] > fs[nh])
				nh = i;
		if (fabs(fs[hi] - fs[lo]) <= 1e-10 * (fabs(fs[lo]) + 1e-10))
			break;
		for (j = 0; j < np; j++)
		{
			c[j] = 0.0;
			for (i = 0; i <= np; i++)
				if (i != hi)
					c[j] += s[i][j];
			c[j] /= np;
			xr[j] = c[j] + (c[j] - s[hi][j]);
		}
		fr = btyd_eval(o, xr, NULL);
		if (fr < fs[lo])
		{
			double		fe;

			for (j = 0; j < np; j++)
				xe[j] = c[j] + 2.0 * (xr[j] - c[j]);
			fe = btyd_eval(o, xe, NULL);
			if (fe < fr)
			{
				memcpy(s[hi], xe, sizeof(double) * np);
				fs[hi] = fe;
			}
			else
			{
				memcpy(s[hi], xr, sizeof(double) * np);
				fs[hi] = fr;
			}
		}
		else if (fr < fs[nh])
		{
			memcpy(s[hi], xr, sizeof(double) * np);
			fs[hi] = fr;
		}
		else
		{
			double		fc;
			bool		outside = fr < fs[hi];

			for (j = 0; j < np; j++)
				xe[j] = outside ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (s[hi][j] - c[j]);
			fc = btyd_eval(o, xe, NULL);
			if (fc < (outside ? fr : fs[hi]))
			{
				memcpy(s[hi], xe, sizeof(double) * np);
				fs[hi] = fc;
			}
			else
			{
				/* shrink towards the best vertex */
				for (i = 0; i <= np; i++)
				{
					if (i == lo)
						continue;
					for (j = 0; j < np; j++)
						s[i][j] = s[lo][j] + 0.5 * (s[i][j] - s[lo][j]);
					fs[i] = btyd_eval(o, s[i], NULL);
				}
			}
		}
	}
	o->iterations += it;
	{
		int			lo = 0;

		for (i = 1; i <= np; i++)
			if (fs[i] < fs[lo])
				lo = i;
		if (isfinite(fs[lo]))
			memcpy(u, s[lo], sizeof(double) * np);
	}
}

/*
 * BFGS on u with backtracking (Armijo) line search.  Hinv on entry is the
 * starting inverse Hessian (identity when init_identity).  Returns the
 * final max |gradient|.
 */
static double
btyd_bfgs(BtydOpt *o, double *u, int maxiter, double gtol, bool init_identity)
{
	int			np = o->np;
	double	   *H = o->Hinv;
	double		g[BTYD_MAXP],
				gn[BTYD_MAXP],
				d[BTYD_MAXP],
				un[BTYD_MAXP],
				sv[BTYD_MAXP],
				yv[BTYD_MAXP],
				Hy[BTYD_MAXP];
	double		f,
				fn = 0.0,
				gmax = INFINITY;
	int			i,
				j,
				it;
	bool		scale_first = init_identity;
	int			stalled = 0;

	if (init_identity)
		for (i = 0; i < np; i++)
			for (j = 0; j < np; j++)
				H[i * np + j] = (i == j) ? 1.0 : 0.0;
	f = btyd_eval(o, u, g);
	if (!isfinite(f))
		return INFINITY;
	for (it = 0; it < maxiter; it++)
	{
		double		gd = 0.0,
					step = 1.0,
					dmax = 0.0,
					sy,
					yHy;
		bool		accepted = false;
		int			ls;

		CHECK_FOR_INTERRUPTS();
		gmax = 0.0;
		for (i = 0; i < np; i++)
			gmax = Max(gmax, fabs(g[i]));
		if (gmax <= gtol)
			break;
		for (j = 0; j < np; j++)
			if (fabs(u[j]) > BTYD_ULIM)
			{
				o->diverged = true;
				break;
			}
		if (o->diverged)
			break;

		for (i = 0; i < np; i++)
		{
			d[i] = 0.0;
			for (j = 0; j < np; j++)
				d[i] -= H[i * np + j] * g[j];
			gd += d[i] * g[i];
		}
		if (!(gd < 0))
		{
			/* not a descent direction: restart from steepest descent */
			for (i = 0; i < np; i++)
			{
				for (j = 0; j < np; j++)
					H[i * np + j] = (i == j) ? 1.0 : 0.0;
				d[i] = -g[i];
			}
			gd = 0.0;
			for (i = 0; i < np; i++)
				gd -= g[i] * g[i];
			scale_first = true;
		}
		for (i = 0; i < np; i++)
			dmax = Max(dmax, fabs(d[i]));
		if (dmax > 2.0)
			step = 2.0 / dmax;	/* at most a factor e^2 per step */

		for (ls = 0; ls < 30; ls++)
		{
			for (i = 0; i < np; i++)
				un[i] = u[i] + step * d[i];
			fn = btyd_eval(o, un, gn);
			/* Armijo, with slack for the rounding noise of a sum over many customers */
			if (isfinite(fn) && fn <= f + 1e-4 * step * gd + 8.0 * DBL_EPSILON * fabs(f))
			{
				accepted = true;
				break;
			}
			step *= 0.5;
			/* a tiny step in a quasi-Newton direction: we are at the noise floor */
			if (step < 1e-3)
				break;
		}
		if (!accepted)
			break;				/* no progress possible at this precision */
		/* the objective stopped decreasing: we are at its rounding level */
		if (fn >= f - 4.0 * DBL_EPSILON * fabs(f))
		{
			if (++stalled >= 3)
			{
				memcpy(u, un, sizeof(double) * np);
				memcpy(g, gn, sizeof(double) * np);
				f = fn;
				it++;
				break;
			}
		}
		else
			stalled = 0;

		sy = 0.0;
		for (i = 0; i < np; i++)
		{
			sv[i] = un[i] - u[i];
			yv[i] = gn[i] - g[i];
			sy += sv[i] * yv[i];
		}
		if (sy > 1e-300)
		{
			if (scale_first)
			{
				double		yy = 0.0;

				for (i = 0; i < np; i++)
					yy += yv[i] * yv[i];
				for (i = 0; i < np; i++)
					for (j = 0; j < np; j++)
						H[i * np + j] = (i == j) ? sy / yy : 0.0;
				scale_first = false;
			}
			yHy = 0.0;
			for (i = 0; i < np; i++)
			{
				Hy[i] = 0.0;
				for (j = 0; j < np; j++)
					Hy[i] += H[i * np + j] * yv[j];
				yHy += yv[i] * Hy[i];
			}
			for (i = 0; i < np; i++)
				for (j = 0; j < np; j++)
					H[i * np + j] += ((sy + yHy) * sv[i] * sv[j]) / (sy * sy)
						- (Hy[i] * sv[j] + sv[i] * Hy[j]) / sy;
		}
		memcpy(u, un, sizeof(double) * np);
		memcpy(g, gn, sizeof(double) * np);
		f = fn;
	}
	o->iterations += it;
	gmax = 0.0;
	for (i = 0; i < np; i++)
		gmax = Max(gmax, fabs(g[i]));
	for (j = 0; j < np; j++)
		if (fabs(u[j]) > BTYD_ULIM)
			o->diverged = true;
	return gmax;
}

/*
 * Inverse of the Hessian at u by central differences of the analytic
 * gradient, into o->Hinv.  False (Hinv untouched) when it is not positive
 * definite.
 */
static bool
btyd_inverse_hessian(BtydOpt *o, const double *u)
{
	int			np = o->np;
	double		Hm[BTYD_MAXP][2 * BTYD_MAXP];
	double		up[BTYD_MAXP],
				gp[BTYD_MAXP],
				gm[BTYD_MAXP];
	const double h = 1e-4;
	int			i,
				j,
				k;

	for (j = 0; j < np; j++)
	{
		memcpy(up, u, sizeof(double) * np);
		up[j] = u[j] + h;
		if (!isfinite(btyd_eval(o, up, gp)))
			return false;
		up[j] = u[j] - h;
		if (!isfinite(btyd_eval(o, up, gm)))
			return false;
		for (i = 0; i < np; i++)
			Hm[i][j] = (gp[i] - gm[i]) / (2.0 * h);
	}
	/* symmetrise, append the identity, Gauss-Jordan without pivoting (PD) */
	for (i = 0; i < np; i++)
		for (j = 0; j < i; j++)
			Hm[i][j] = Hm[j][i] = 0.5 * (Hm[i][j] + Hm[j][i]);
	for (i = 0; i < np; i++)
		for (j = 0; j < np; j++)
			Hm[i][np + j] = (i == j) ? 1.0 : 0.0;
	for (k = 0; k < np; k++)
	{
		double		piv = Hm[k][k];

		if (!(piv > 0) || !isfinite(piv))
			return false;
		for (j = 0; j < 2 * np; j++)
			Hm[k][j] /= piv;
		for (i = 0; i < np; i++)
		{
			double		f = Hm[i][k];

			if (i == k)
				continue;
			for (j = 0; j < 2 * np; j++)
				Hm[i][j] -= f * Hm[k][j];
		}
	}
	for (i = 0; i < np; i++)
	{
		if (!(Hm[i][np + i] > 0))
			return false;
		for (j = 0; j < np; j++)
			o->Hinv[i * np + j] = Hm[i][np + j];
	}
	return true;
}

/* gradient tolerance on the mean negative log-likelihood (log parameters) */
#define BTYD_GTOL 1e-8
/* a fit is reported converged when the final gradient is this small */
#define BTYD_GTOL_ACCEPT 1e-6
/* above this many customers, start on a random subsample */
#define BTYD_SUBSAMPLE 20000
#define BTYD_MAX_ITER 2000

/* ====================================================================
 * BG/NBD and MBG/NBD likelihood
 * ==================================================================== */

typedef struct BgData
{
	bool		modified;
	double		penalizer;
	int64		n;				/* customers */
	int64		n0;				/* BG: customers with x = 0, only T needed */
	double	   *T0;
	int64		n1;				/* the others (MBG: all customers) */
	int32	   *x1;
	double	   *tx1;
	double	   *T1;
	int32		maxx;
	int64	   *nx;				/* customers per frequency 0..maxx */
	int32		ndistinct;
	int32	   *xs;				/* distinct frequencies present */
	double	   *cx;				/* scratch per frequency: log a - log(b+x-1) */
	double	   *ibx;			/* scratch per frequency: 1 / (b+x-1) */
} BgData;

/* build from arrays; idx selects customers (NULL: all n) */
static BgData *
bg_data_build(bool modified, double penalizer, const double *x, const double *tx,
			  const double *T, const int64 *idx, int64 n)
{
	BgData	   *d = palloc0(sizeof(BgData));
	int64		i,
				k0 = 0,
				k1 = 0;
	int32		v;

	d->modified = modified;
	d->penalizer = penalizer;
	d->n = n;
	d->maxx = 0;
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->maxx = Max(d->maxx, (int32) x[j]);
	}
	d->nx = palloc0(sizeof(int64) * ((Size) d->maxx + 1));
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->nx[(int32) x[j]]++;
	}
	d->n0 = modified ? 0 : d->nx[0];
	d->n1 = n - d->n0;
	d->T0 = palloc_extended(sizeof(double) * (Size) Max(d->n0, 1), MCXT_ALLOC_HUGE);
	d->x1 = palloc_extended(sizeof(int32) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	d->tx1 = palloc_extended(sizeof(double) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	d->T1 = palloc_extended(sizeof(double) * (Size) Max(d->n1, 1), MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!modified && x[j] == 0)
			d->T0[k0++] = T[j];
		else
		{
			d->x1[k1] = (int32) x[j];
			d->tx1[k1] = tx[j];
			d->T1[k1] = T[j];
			k1++;
		}
	}
	d->xs = palloc(sizeof(int32) * ((Size) d->maxx + 1));
	for (v = 0; v <= d->maxx; v++)
		if (d->nx[v] > 0)
			d->xs[d->ndistinct++] = v;
	d->cx = palloc0(sizeof(double) * ((Size) d->maxx + 1));
	d->ibx = palloc0(sizeof(double) * ((Size) d->maxx + 1));
	return d;
}

/*
 * Mean negative log-likelihood plus penalty, in u = log(r, alpha, a, b).
 *   BG:  LL = lnG(r+x) - lnG(r) + r ln alpha + lnB(a, b+x) - lnB(a, b)
 *             + ln[(alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x)]
 *   MBG: LL = lnG(r+x) - lnG(r) + r ln alpha + lnB(a, b+x+1) - lnB(a, b)
 *             + ln[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]
 * (lnB(a, b+x) - lnB(a, b) written as lnG(a+b) + lnG(b+x) - lnG(b) -
 * lnG(a+b+x)).  ll_out, when not NULL, receives the total log-likelihood.
 */
static double
bg_objective_ll(BgData *d, const double *u, double *grad, double *ll_out)
{
	double		r = exp(u[0]),
				alpha = exp(u[1]),
				a = exp(u[2]),
				b = exp(u[3]);
	double		off = d->modified ? 1.0 : 0.0;
	double		ll = 0.0,
				gr = 0.0,
				gal = 0.0,
				ga = 0.0,
				gb = 0.0;
	double		lab = lgamma(a + b),
				lr = lgamma(r),
				lb = lgamma(b);
	double		pab = digamma(a + b),
				pr = digamma(r),
				pb = digamma(b);
	double		la = log(a),
				lalpha = log(alpha);
	double		sL = 0.0,
				sI = 0.0,
				sw = 0.0;
	int32		k;
	int64		i;
	const int32 *x1 = d->x1;
	const double *tx1 = d->tx1,
			   *T1 = d->T1,
			   *T0 = d->T0;

	/* terms that depend on the frequency alone */
	for (k = 0; k < d->ndistinct; k++)
	{
		int32		x = d->xs[k];
		double		w = (double) d->nx[x];
		double		p_abx = digamma(a + b + x + off);

		ll += w * (lgamma(r + x) - lr + lab + lgamma(b + x + off) - lb - lgamma(a + b + x + off));
		if (grad)
		{
			gr += w * (digamma(r + x) - pr);
			ga += w * (pab - p_abx);
			gb += w * (pab + digamma(b + x + off) - pb - p_abx);
		}
		if (x > 0 || d->modified)
		{
			d->cx[x] = la - log(b + x - 1.0 + off);
			d->ibx[x] = 1.0 / (b + x - 1.0 + off);
		}
	}
	ll += (double) d->n * r * lalpha;
	gr += (double) d->n * lalpha;
	gal += (double) d->n * r / alpha;

	/* BG customers without repeat purchases: -r ln(alpha + T) */
	for (i = 0; i < d->n0; i++)
	{
		double		s = alpha + T0[i];

		sL += log(s);
		sI += 1.0 / s;
	}
	ll -= r * sL;
	gr -= sL;
	gal -= r * sI;

	/* the rest: log-sum-exp of the two terms */
	for (i = 0; i < d->n1; i++)
	{
		int32		x = x1[i];
		double		kk = r + x;
		double		sT = alpha + T1[i],
					st = alpha + tx1[i];
		double		LT = log(sT),
					Lt = log(st);
		double		A3 = -kk * LT,
					A4 = d->cx[x] - kk * Lt;
		double		e,
					w,
					D;

		if ((i & 262143) == 262143)
			CHECK_FOR_INTERRUPTS();
		if (A3 >= A4)
		{
			e = exp(A4 - A3);
			D = A3 + log1p(e);
			w = e / (1.0 + e);
		}
		else
		{
			e = exp(A3 - A4);
			D = A4 + log1p(e);
			w = 1.0 / (1.0 + e);
		}
		ll += D;
		gr -= (1.0 - w) * LT + w * Lt;
		gal -= kk * ((1.0 - w) / sT + w / st);
		sw += w;
		gb -= w * d->ibx[x];
	}
	ga += sw / a;

	if (ll_out)
		*ll_out = ll;
	if (grad)
	{
		double		n = (double) d->n;

		grad[0] = -gr * r / n + 2.0 * d->penalizer * r * r;
		grad[1] = -gal * alpha / n + 2.0 * d->penalizer * alpha * alpha;
		grad[2] = -ga * a / n + 2.0 * d->penalizer * a * a;
		grad[3] = -gb * b / n + 2.0 * d->penalizer * b * b;
	}
	return -ll / (double) d->n + d->penalizer * (r * r + alpha * alpha + a * a + b * b);
}

static double
bg_objective(void *ctx, const double *u, double *grad)
{
	return bg_objective_ll((BgData *) ctx, u, grad, NULL);
}

/* ====================================================================
 * Gamma-Gamma likelihood
 * ==================================================================== */

typedef struct GgData
{
	double		penalizer;
	int64		n;
	int32	   *x;
	double	   *m;
	int32		maxx;
	int64	   *nx;
	int32		ndistinct;
	int32	   *xs;
	double		s_logm;			/* sum log m */
	double		s_xlogm;		/* sum x log m */
	double		s_xlogx;		/* sum x log x */
} GgData;

static GgData *
gg_data_build(double penalizer, const double *x, const double *m, const int64 *idx, int64 n)
{
	GgData	   *d = palloc0(sizeof(GgData));
	int64		i;
	int32		v;

	d->penalizer = penalizer;
	d->n = n;
	d->x = palloc_extended(sizeof(int32) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);
	d->m = palloc_extended(sizeof(double) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		int64		j = idx ? idx[i] : i;

		d->x[i] = (int32) x[j];
		d->m[i] = m[j];
		d->maxx = Max(d->maxx, d->x[i]);
		d->s_logm += log(m[j]);
		d->s_xlogm += x[j] * log(m[j]);
		d->s_xlogx += x[j] * log(x[j]);
	}
	d->nx = palloc0(sizeof(int64) * ((Size) d->maxx + 1));
	for (i = 0; i < n; i++)
		d->nx[d->x[i]]++;
	d->xs = palloc(sizeof(int32) * ((Size) d->maxx + 1));
	for (v = 0; v <= d->maxx; v++)
		if (d->nx[v] > 0)
			d->xs[d->ndistinct++] = v;
	return d;
}

/*
 * Gamma-Gamma log-likelihood of a customer with x > 0 repeat purchases of
 * mean value m (lifetimes' form):
 *   lnG(px+q) - lnG(px) - lnG(q) + q ln g + (px-1) ln m + px ln x - (px+q) ln(xm+g)
 */
static double
gg_objective_ll(GgData *d, const double *u, double *grad, double *ll_out)
{
	double		p = exp(u[0]),
				q = exp(u[1]),
				g = exp(u[2]);
	double		n = (double) d->n;
	double		ll,
				gp,
				gq,
				gg = 0.0,
				sl = 0.0,
				sxl = 0.0;
	double		lq = lgamma(q),
				pq = digamma(q),
				lg = log(g);
	int32		k;
	int64		i;

	ll = -n * lq + n * q * lg + p * d->s_xlogm - d->s_logm + p * d->s_xlogx;
	gp = d->s_xlogm + d->s_xlogx;
	gq = -n * pq + n * lg;
	for (k = 0; k < d->ndistinct; k++)
	{
		int32		x = d->xs[k];
		double		w = (double) d->nx[x];

		ll += w * (lgamma(p * x + q) - lgamma(p * x));
		if (grad)
		{
			double		dpq = digamma(p * x + q);

			gp += w * x * (dpq - digamma(p * x));
			gq += w * dpq;
		}
	}
	for (i = 0; i < d->n; i++)
	{
		double		x = d->x[i];
		double		s = x * d->m[i] + g;
		double		L = log(s);

		if ((i & 262143) == 262143)
			CHECK_FOR_INTERRUPTS();
		ll -= (p * x + q) * L;
		sl += L;
		sxl += x * L;
		gg -= (p * x + q) / s;
	}
	gp -= sxl;
	gq -= sl;
	gg += n * q / g;
	if (ll_out)
		*ll_out = ll;
	if (grad)
	{
		grad[0] = -gp * p / n + 2.0 * d->penalizer * p * p;
		grad[1] = -gq * q / n + 2.0 * d->penalizer * q * q;
		grad[2] = -gg * g / n + 2.0 * d->penalizer * g * g;
	}
	return -ll / n + d->penalizer * (p * p + q * q + g * g);
}

static double
gg_objective(void *ctx, const double *u, double *grad)
{
	return gg_objective_ll((GgData *) ctx, u, grad, NULL);
}

/* ====================================================================
 * Fitting aggregates
 * ==================================================================== */

typedef enum BtydKind
{
	BTYD_BGNBD,
	BTYD_MBGNBD,
	BTYD_GAMMAGAMMA
} BtydKind;

/* transition state (internal): the summaries, column by column */
typedef struct BtydFitState
{
	int64		n;
	int64		capacity;
	bool		has_penalizer;
	double		penalizer;
	double	   *x;
	double	   *tx;				/* recency (unused by Gamma-Gamma) */
	double	   *T;				/* t, or the mean spend for Gamma-Gamma */
} BtydFitState;

static BtydFitState *
btyd_fit_state_get(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	BtydFitState *st;

	if (!PG_ARGISNULL(0))
		return (BtydFitState *) PG_GETARG_POINTER(0);
	st = MemoryContextAllocZero(aggcontext, sizeof(BtydFitState));
	st->capacity = 1024;
	st->x = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	st->tx = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	st->T = MemoryContextAlloc(aggcontext, sizeof(double) * st->capacity);
	return st;
}

static void
btyd_fit_state_push(BtydFitState *st, double x, double tx, double T)
{
	if (st->n == st->capacity)
	{
		Size		sz;

		if (st->capacity >= (int64) (MaxAllocHugeSize / sizeof(double) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many customer summaries to fit one model")));
		st->capacity *= 2;
		sz = sizeof(double) * (Size) st->capacity;
		st->x = repalloc_huge(st->x, sz);
		st->tx = repalloc_huge(st->tx, sz);
		st->T = repalloc_huge(st->T, sz);
	}
	st->x[st->n] = x;
	st->tx[st->n] = tx;
	st->T[st->n] = T;
	st->n++;
}

static void
btyd_fit_penalizer(BtydFitState *st, FunctionCallInfo fcinfo, int argno)
{
	double		pen;

	if (PG_NARGS() <= argno)
		return;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("penalizer must not be NULL"),
				 errhint("Pass 0 for no penalty.")));
	pen = PG_GETARG_FLOAT8(argno);
	btyd_check_nonneg(pen, "penalizer");
	if (st->has_penalizer && st->penalizer != pen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("penalizer must be the same for every row"),
				 errhint("Pass a constant penalizer.")));
	st->has_penalizer = true;
	st->penalizer = pen;
}

/* bgnbd_fit_trans(state, frequency, recency, t [, penalizer]) */
PG_FUNCTION_INFO_V1(seg_reco_bgnbd_fit_trans);
Datum
seg_reco_bgnbd_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydFitState *st;
	double		x,
				tx,
				T;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.bgnbd_fit_trans can only be called as an aggregate transition function")));
	st = btyd_fit_state_get(fcinfo, aggcontext);
	btyd_fit_penalizer(st, fcinfo, 4);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	btyd_check_summary(x, tx, T);
	btyd_fit_state_push(st, x, tx, T);
	PG_RETURN_POINTER(st);
}

/* gammagamma_fit_trans(state, frequency, monetary_value [, penalizer]) */
PG_FUNCTION_INFO_V1(seg_reco_gammagamma_fit_trans);
Datum
seg_reco_gammagamma_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	BtydFitState *st;
	double		x,
				m;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.gammagamma_fit_trans can only be called as an aggregate transition function")));
	st = btyd_fit_state_get(fcinfo, aggcontext);
	btyd_fit_penalizer(st, fcinfo, 3);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	x = PG_GETARG_FLOAT8(1);
	m = PG_GETARG_FLOAT8(2);
	seg_reco_check_finite(x, "frequency");
	seg_reco_check_finite(m, "monetary_value");
	if (x < 0 || x != floor(x) || x > BTYD_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a whole number between 0 and %d, got %g",
						BTYD_MAX_FREQUENCY, x)));
	/* the spend model is fitted on repeat customers with positive spend */
	if (x > 0 && m > 0)
		btyd_fit_state_push(st, x, 0.0, m);
	PG_RETURN_POINTER(st);
}

/* draw m indices of 0..n-1 without replacement (seeded, reproducible) */
static int64 *
btyd_subsample(int64 n, int64 m)
{
	int64	   *idx = palloc_extended(sizeof(int64) * (Size) n, MCXT_ALLOC_HUGE);
	pg_prng_state rng;
	int64		i;

	pg_prng_seed(&rng, UINT64CONST(0x5e6e5eed));
	for (i = 0; i < n; i++)
		idx[i] = i;
	/* partial Fisher-Yates: the first m entries are the sample */
	for (i = 0; i < m; i++)
	{
		int64		j = i + (int64) pg_prng_uint64_range(&rng, 0, (uint64) (n - i - 1));
		int64		t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
	}
	return idx;
}

typedef struct BtydFitResult
{
	double		params[BTYD_MAXP];
	double		ll;
	int			iterations;
	bool		converged;
	bool		diverged;
	double		gmax;
} BtydFitResult;

static void
btyd_run_fit(BtydKind kind, BtydFitState *st, BtydFitResult *res)
{
	int			np = (kind == BTYD_GAMMAGAMMA) ? 3 : 4;
	double		u[BTYD_MAXP];
	double		pen = st->has_penalizer ? st->penalizer : 0.0;
	BtydOpt		opt;
	void	   *full,
			   *sub = NULL;
	int64		n = st->n;
	double		mean_x = 0.0,
				mean_T = 0.0;
	int64		i;
	int			j;

	memset(&opt, 0, sizeof(opt));
	memset(res, 0, sizeof(*res));
	opt.np = np;

	for (i = 0; i < n; i++)
	{
		mean_x += st->x[i];
		mean_T += st->T[i];
	}
	mean_x /= n;
	mean_T /= n;

	if (kind == BTYD_GAMMAGAMMA)
	{
		opt.fn = gg_objective;
		full = gg_data_build(pen, st->x, st->T, NULL, n);
		/* start: p = 1, q = 2, gamma from the mean spend */
		u[0] = 0.0;
		u[1] = log(2.0);
		u[2] = log(Max(mean_T, 1e-6));
	}
	else
	{
		opt.fn = bg_objective;
		full = bg_data_build(kind == BTYD_MBGNBD, pen, st->x, st->tx, st->T, NULL, n);
		/* start: r = 1, alpha from the mean purchase rate, a = b = 1 */
		u[0] = 0.0;
		u[1] = log(Max(mean_T, 1e-3) / (mean_x + 1.0) + 1e-3);
		u[2] = 0.0;
		u[3] = 0.0;
	}

	if (n > BTYD_SUBSAMPLE)
	{
		int64	   *idx = btyd_subsample(n, BTYD_SUBSAMPLE);

		if (kind == BTYD_GAMMAGAMMA)
			sub = gg_data_build(pen, st->x, st->T, idx, BTYD_SUBSAMPLE);
		else
			sub = bg_data_build(kind == BTYD_MBGNBD, pen, st->x, st->tx, st->T, idx, BTYD_SUBSAMPLE);
		pfree(idx);
		opt.ctx = sub;
		btyd_nelder_mead(&opt, u, 400);
		btyd_bfgs(&opt, u, BTYD_MAX_ITER, 1e-7, true);
		/* the subsample's Hessian is the full data's up to sampling noise */
		(void) btyd_inverse_hessian(&opt, u);
		opt.diverged = false;
		opt.ctx = full;
		res->gmax = btyd_bfgs(&opt, u, BTYD_MAX_ITER, BTYD_GTOL, false);
	}
	else
	{
		opt.ctx = full;
		btyd_nelder_mead(&opt, u, 400);
		res->gmax = btyd_bfgs(&opt, u, BTYD_MAX_ITER, BTYD_GTOL, true);
	}

	for (j = 0; j < np; j++)
		res->params[j] = exp(u[j]);
	if (kind == BTYD_GAMMAGAMMA)
		gg_objective_ll((GgData *) full, u, NULL, &res->ll);
	else
		bg_objective_ll((BgData *) full, u, NULL, &res->ll);
	res->iterations = opt.iterations;
	res->diverged = opt.diverged;
	res->converged = !opt.diverged && res->gmax <= BTYD_GTOL_ACCEPT && isfinite(res->ll);
}

static Datum
btyd_fit_final(FunctionCallInfo fcinfo, BtydKind kind)
{
	BtydFitState *st;
	MemoryContext fitcxt,
				old;
	BtydFitResult res;
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {false};
	int			np = (kind == BTYD_GAMMAGAMMA) ? 3 : 4;
	int			j;
	const char *what = kind == BTYD_BGNBD ? "bg/nbd" :
		kind == BTYD_MBGNBD ? "mbg/nbd" : "gamma-gamma";

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "btyd fit functions must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (PG_ARGISNULL(0) || ((BtydFitState *) PG_GETARG_POINTER(0))->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no customer summaries to fit the %s model on", what),
				 kind == BTYD_GAMMAGAMMA ?
				 errdetail("The spend model is fitted on customers with frequency > 0 and monetary_value > 0.") : 0,
				 errhint("Check the rows passed to the fitting aggregate.")));
	st = (BtydFitState *) PG_GETARG_POINTER(0);

	fitcxt = AllocSetContextCreate(CurrentMemoryContext, "seg_reco btyd fit",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitcxt);
	btyd_run_fit(kind, st, &res);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(fitcxt);

	if (!res.converged)
		ereport(WARNING,
				(errmsg("the %s fit did not converge", what),
				 res.diverged ?
				 errdetail("A parameter ran off towards 0 or infinity after %d iterations.", res.iterations) :
				 errdetail("The gradient is %g after %d iterations.", res.gmax, res.iterations),
				 errhint("Add a penalizer (e.g. 0.001), or fit on more customers.")));

	for (j = 0; j < np; j++)
		values[j] = Float8GetDatum(res.params[j]);
	values[np] = Float8GetDatum(res.ll);
	values[np + 1] = Int32GetDatum(res.iterations);
	values[np + 2] = BoolGetDatum(res.converged);
	values[np + 3] = Int64GetDatum(st->n);
	values[np + 4] = Float8GetDatum(st->has_penalizer ? st->penalizer : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(seg_reco_bgnbd_fit_final);
Datum
seg_reco_bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_BGNBD);
}

PG_FUNCTION_INFO_V1(seg_reco_mbgnbd_fit_final);
Datum
seg_reco_mbgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_MBGNBD);
}

PG_FUNCTION_INFO_V1(seg_reco_gammagamma_fit_final);
Datum
seg_reco_gammagamma_fit_final(PG_FUNCTION_ARGS)
{
	return btyd_fit_final(fcinfo, BTYD_GAMMAGAMMA);
}
