/*
 * btyd_summary.c
 *      Buy-till-you-die per-customer summaries: the btyd_summary aggregate,
 *      its state type (text I/O), transition, combine and final functions,
 *      and the period unit.
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
 * with days as integer days since 2000-01-01 (within PostgreSQL's date
 * range), ":" for a day holding a purchase and "!" for a day holding only
 * returns, amounts as exact decimals.
 *
 * Amounts are summed exactly (fixed point, money.c), so the same lines in
 * any order, and partial states merged in any order (parallel plans), give
 * the same bits.  The binary state of seg_reco 0.1.0 (float8 amounts, and
 * the capacity, >= 0, as its first field) is converted when read; the
 * current layout starts with the negative marker BTYD_STATE_V2.
 *
 * The models fitted on these summaries are in btyd_models.c.
 */
#include "postgres.h"

#include "common/int.h"

#include <limits.h>
#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "btyd.h"
#include "guards.h"
#include "money.h"

/* ====================================================================
 * Period unit
 * ==================================================================== */

/* 'day' -> 1, 'week' -> 7 (also the CLV's unit argument, btyd_models.c) */
int
seg_reco_btyd_parse_unit(text *unit_txt)
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
	SegRecoMoney amount;		/* net amount of the day's lines, exact */
} BtydDay;

typedef struct BtydSumState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		version;		/* BTYD_STATE_V2 */
	int32		capacity;		/* room in days[] */
	int32		ndays;			/* entries used */
	int32		nsorted;		/* days[0 .. nsorted-1] sorted and unique */
	int32		unit;			/* 1 (day) or 7 (week) */
	int32		cal_end;		/* DateADT, inclusive */
	int32		pad;
	int64		lines;			/* lines up to the calibration end */
	BtydDay		days[FLEXIBLE_ARRAY_MEMBER];
} BtydSumState;

#define BTYD_STATE_V2 (-2)

/* the binary state of seg_reco 0.1.0 */
typedef struct BtydDayV1
{
	int32		day;
	int32		purchase;
	double		amount;
} BtydDayV1;

typedef struct BtydSumStateV1
{
	int32		vl_len_;
	int32		capacity;		/* >= 0: tells it from the current layout */
	int32		ndays;
	int32		nsorted;
	int32		unit;
	int32		cal_end;
	int64		lines;
	BtydDayV1	days[FLEXIBLE_ARRAY_MEMBER];
} BtydSumStateV1;

#define BTYD_INITIAL_CAPACITY 8
#define BTYD_MAX_DAYS ((int32) ((MaxAllocSize - offsetof(BtydSumState, days)) / sizeof(BtydDay) / 2))

#define PG_GETARG_BTYD_STATE(n) btyd_state_get(PG_GETARG_DATUM(n))

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
	st->version = BTYD_STATE_V2;
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
			seg_reco_money_add(&st->days[out - 1].amount, st->days[i].amount,
							   "net amount of a day");
			st->days[out - 1].purchase |= st->days[i].purchase;
		}
		else
			st->days[out++] = st->days[i];
	}
	st->ndays = st->nsorted = out;
}

static void
btyd_malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("malformed seg_reco.btyd_summary_state")));
}

/*
 * A state argument: detoasted, its header checked (in constant time: the
 * transition function reads one per row), and a state of seg_reco 0.1.0
 * converted to the current layout.
 */
static BtydSumState *
btyd_state_get(Datum d)
{
	struct varlena *v = PG_DETOAST_DATUM(d);
	Size		sz = VARSIZE(v);
	BtydSumState *st;

	if (sz >= offsetof(BtydSumState, days) && ((BtydSumState *) v)->version == BTYD_STATE_V2)
	{
		st = (BtydSumState *) v;
		if (st->ndays < 0 || st->nsorted < 0 || st->nsorted > st->ndays ||
			st->capacity < st->ndays ||
			sz < offsetof(BtydSumState, days) + sizeof(BtydDay) * (Size) st->capacity ||
			(st->unit != 1 && st->unit != 7) || !IS_VALID_DATE(st->cal_end))
			btyd_malformed();
		return st;
	}
	if (sz >= offsetof(BtydSumStateV1, days) && ((BtydSumStateV1 *) v)->capacity >= 0)
	{
		BtydSumStateV1 *old = (BtydSumStateV1 *) v;
		int32		i;

		if (old->ndays < 0 || old->nsorted < 0 || old->nsorted > old->ndays ||
			old->capacity < old->ndays ||
			sz < offsetof(BtydSumStateV1, days) + sizeof(BtydDayV1) * (Size) old->capacity ||
			(old->unit != 1 && old->unit != 7) || !IS_VALID_DATE(old->cal_end))
			btyd_malformed();
		st = btyd_state_alloc(Max(old->ndays, 1));
		st->ndays = old->ndays;
		st->nsorted = old->nsorted;
		st->unit = old->unit;
		st->cal_end = old->cal_end;
		st->lines = old->lines;
		for (i = 0; i < old->ndays; i++)
		{
			if (!IS_VALID_DATE(old->days[i].day))
				btyd_malformed();
			st->days[i].day = old->days[i].day;
			st->days[i].purchase = old->days[i].purchase;
			st->days[i].amount = seg_reco_money_from_float8(old->days[i].amount,
															"amount of a stored btyd summary state");
		}
		return st;
	}
	btyd_malformed();
	return NULL;				/* keep compiler quiet */
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
	SegRecoMoney money;
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
			unit = seg_reco_btyd_parse_unit(PG_GETARG_TEXT_PP(4));
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
	money = seg_reco_money_from_float8(amount, "amount");
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
		seg_reco_money_add(&st->days[st->ndays - 1].amount, money, "net amount of a day");
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
	st->days[st->ndays].amount = money;
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
		st = btyd_state_copy(b, b->ndays);
		btyd_state_compact(st);
		PG_RETURN_POINTER(st);
	}
	a = PG_GETARG_BTYD_STATE(0);
	b = PG_GETARG_BTYD_STATE(1);
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
	if (pg_add_s64_overflow(st->lines, b->lines, &st->lines))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("seg_reco.btyd_summary line count out of range"),
				 errdetail("The merged states hold more than %lld lines.", (long long) PG_INT64_MAX)));
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
	SegRecoMoney spend = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "seg_reco.btyd_summary_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	st = PG_GETARG_BTYD_STATE(0);
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
		seg_reco_money_add(&spend, st->days[i].amount, "net amount");
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
	values[3] = Float8GetDatum(freq > 0 ? seg_reco_money_to_float8(spend) / (double) freq : 0.0);
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

/* an integer, in the exact form the output function writes */
static int64
btyd_parse_int(const char *str, char **p, const char *what)
{
	const char *q = *p;
	int64		v;

	if (!seg_reco_int64_parse(&q, &v))
		btyd_bad_input(str, what);
	*p = (char *) q;
	return v;
}

/* a day of the text form: days since 2000-01-01, within the date range */
static int32
btyd_parse_day(const char *str, char **p, const char *what)
{
	int64		day = btyd_parse_int(str, p, what);

	if (day < INT_MIN || day > INT_MAX || !IS_VALID_DATE((int32) day))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range in seg_reco.btyd_summary_state: day %lld", (long long) day),
				 errdetail("Days count from 2000-01-01 and must lie within the range of type date (4714-11-24 BC to 5874897-12-31)."),
				 errhint("Pass a state made by seg_reco.btyd_summary_state_agg.")));
	return (int32) day;
}

PG_FUNCTION_INFO_V1(seg_reco_btyd_summary_state_in);
Datum
seg_reco_btyd_summary_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	BtydSumState *st;
	int			unit;
	int32		cal_end;
	int64		lines;
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
	cal_end = btyd_parse_day(str, &p, "Bad calibration end.");
	if (*p++ != ',')
		btyd_bad_input(str, "Expected \",\".");
	lines = btyd_parse_int(str, &p, "Bad line count.");
	if (lines < 0)
		btyd_bad_input(str, "Negative line count.");
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
	st->cal_end = cal_end;
	st->lines = lines;
	while (*p != '}')
	{
		int32		day = btyd_parse_day(str, &p, "Bad day.");
		int			purchase;
		SegRecoMoney amount;
		const char *q2;

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
		q2 = p;
		if (!seg_reco_money_parse(&q2, &amount))
			btyd_bad_input(str, "Amounts must be decimal numbers below 1e20 in absolute value.");
		p = (char *) q2;
		if (day > cal_end || (st->ndays > 0 && st->days[st->ndays - 1].day >= day))
			btyd_bad_input(str, "Days must be strictly increasing and not after the calibration end.");
		if (st->ndays >= st->capacity)
			btyd_bad_input(str, "Too many days.");
		st->days[st->ndays].day = day;
		st->days[st->ndays].purchase = purchase;
		st->days[st->ndays].amount = amount;
		st->ndays++;
		if (*p == ',')
		{
			if (p[1] == '}')
				btyd_bad_input(str, "A comma must be followed by another day.");
			p++;
		}
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
						 seg_reco_money_out(st->days[i].amount));
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}
