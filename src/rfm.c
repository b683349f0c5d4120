/*
 * rfm.c
 *      The RFM aggregate: recency, frequency and monetary value per customer.
 *
 * seg_reco.rfm(receipt_id bigint, ts timestamptz, amount float8) folds the
 * receipt lines of one customer into a state of type seg_reco.rfm_state and
 * returns a seg_reco.rfm_values row:
 *
 *   frequency       distinct receipts holding at least one line with amount > 0
 *   monetary        net amount: purchases plus returns (negative amounts)
 *   first_purchase  earliest ts of a line with amount > 0
 *   last_purchase   latest ts of a line with amount > 0
 *   lines           lines seen (NULL receipt, ts or amount: skipped)
 *   return_lines    lines with amount < 0
 *
 * Zero-amount lines (free items) count as lines and nothing else.  A NaN or
 * infinite amount is an error, and so is an amount or a net amount of 1e20
 * or more in absolute value (money.h).  The net amount is an exact sum
 * (fixed point, money.c): the same lines in any order, and partial states
 * merged in any order, give the same state and the same monetary value.
 *
 * The state is a varlena of our own (not "internal"), with text I/O, so the
 * aggregate runs in parallel plans and in two-phase distributed plans
 * (Citus ships partial states as text).  It keeps the distinct receipt ids
 * of the customer: a sorted, de-duplicated prefix followed by a short
 * unsorted tail that is merged in when the buffer fills.  Consecutive lines
 * of one receipt (the usual physical order) are de-duplicated on arrival.
 *
 * Text form:  lines,return_lines,monetary,compensation,first,last:{id,id,...}
 * with first/last as microseconds since 2000-01-01 UTC (or "-" when there is
 * no purchase), monetary as an exact decimal and compensation 0 (states of
 * seg_reco 0.1.0 summed in float8 with Kahan compensation: their net
 * amount, monetary - compensation, is read into the exact sum).
 *
 * The binary state of 0.1.0 (which users may have stored in tables) had a
 * float8 sum and its compensation where the exact sum is now, and its first
 * field was the capacity (>= 0).  The current layout starts with the
 * negative marker RFM_STATE_V2; rfm_state_get() converts an old state.
 */
#include "postgres.h"

#include "common/int.h"

#include <limits.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "guards.h"
#include "money.h"

typedef struct RfmState
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		version;		/* RFM_STATE_V2 */
	int32		capacity;		/* room for ids in receipts[] */
	int32		nsorted;		/* receipts[0 .. nsorted-1] sorted, unique */
	int32		nids;			/* ids used, sorted prefix plus tail */
	int32		pad;
	int64		lines;
	int64		return_lines;
	SegRecoMoney monetary;		/* exact net amount */
	TimestampTz first_purchase; /* DT_NOEND when there is no purchase */
	TimestampTz last_purchase;	/* DT_NOBEGIN when there is no purchase */
	int64		receipts[FLEXIBLE_ARRAY_MEMBER];
} RfmState;

#define RFM_STATE_V2 (-2)

/* the binary state of seg_reco 0.1.0 */
typedef struct RfmStateV1
{
	int32		vl_len_;
	int32		capacity;		/* >= 0: tells it from the current layout */
	int32		nsorted;
	int32		nids;
	int64		lines;
	int64		return_lines;
	double		monetary;		/* Kahan-compensated running sum */
	double		compensation;
	TimestampTz first_purchase;
	TimestampTz last_purchase;
	int64		receipts[FLEXIBLE_ARRAY_MEMBER];
} RfmStateV1;

#define RFM_INITIAL_CAPACITY 16
/* keep a state well below the 1 GB varlena limit */
#define RFM_MAX_IDS ((int32) ((MaxAllocSize - offsetof(RfmState, receipts)) / sizeof(int64) / 2))

#define PG_GETARG_RFM_STATE(n) rfm_state_get(PG_GETARG_DATUM(n))

static RfmState *
rfm_state_alloc(int32 capacity)
{
	RfmState   *st;
	Size		sz;

	if (capacity > RFM_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm state cannot hold more than %d distinct receipts for one customer",
						RFM_MAX_IDS)));
	sz = offsetof(RfmState, receipts) + sizeof(int64) * (Size) capacity;
	st = (RfmState *) palloc0(sz);
	SET_VARSIZE(st, sz);
	st->version = RFM_STATE_V2;
	st->capacity = capacity;
	st->first_purchase = DT_NOEND;
	st->last_purchase = DT_NOBEGIN;
	return st;
}

static RfmState *
rfm_state_copy(const RfmState *src, int32 capacity)
{
	RfmState   *st = rfm_state_alloc(Max(capacity, src->nids));

	st->nsorted = src->nsorted;
	st->nids = src->nids;
	st->lines = src->lines;
	st->return_lines = src->return_lines;
	st->monetary = src->monetary;
	st->first_purchase = src->first_purchase;
	st->last_purchase = src->last_purchase;
	memcpy(st->receipts, src->receipts, sizeof(int64) * (Size) src->nids);
	return st;
}

static void
rfm_malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("malformed seg_reco.rfm_state")));
}

/*
 * A state argument: detoasted, checked, and a state of seg_reco 0.1.0
 * converted to the current layout (its net amount read into the exact sum).
 */
static RfmState *
rfm_state_get(Datum d)
{
	struct varlena *v = PG_DETOAST_DATUM(d);
	Size		sz = VARSIZE(v);
	RfmState   *st;

	if (sz >= offsetof(RfmState, receipts) && ((RfmState *) v)->version == RFM_STATE_V2)
	{
		st = (RfmState *) v;
		if (st->capacity < 0 || st->nids < 0 || st->nids > st->capacity ||
			st->nsorted < 0 || st->nsorted > st->nids ||
			sz < offsetof(RfmState, receipts) + sizeof(int64) * (Size) st->capacity)
			rfm_malformed();
		return st;
	}
	if (sz >= offsetof(RfmStateV1, receipts) && ((RfmStateV1 *) v)->capacity >= 0)
	{
		RfmStateV1 *old = (RfmStateV1 *) v;
		SegRecoMoney comp;

		if (old->nids < 0 || old->nids > old->capacity ||
			old->nsorted < 0 || old->nsorted > old->nids ||
			sz < offsetof(RfmStateV1, receipts) + sizeof(int64) * (Size) old->capacity)
			rfm_malformed();
		st = rfm_state_alloc(Max(old->nids, 1));
		st->nsorted = old->nsorted;
		st->nids = old->nids;
		st->lines = old->lines;
		st->return_lines = old->return_lines;
		st->monetary = seg_reco_money_from_float8(old->monetary, "net amount of a stored rfm state");
		comp = seg_reco_money_from_float8(old->compensation, "net amount of a stored rfm state");
		seg_reco_money_add(&st->monetary, -comp, "net amount of a stored rfm state");
		st->first_purchase = old->first_purchase;
		st->last_purchase = old->last_purchase;
		memcpy(st->receipts, old->receipts, sizeof(int64) * (Size) old->nids);
		return st;
	}
	rfm_malformed();
	return NULL;				/* keep compiler quiet */
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Merge the unsorted tail into the sorted prefix, dropping duplicates. */
static void
rfm_state_compact(RfmState *st)
{
	int32		n = st->nids;
	int32		i,
				out;

	if (st->nsorted == n)
		return;
	/* sorting everything is O(n log n) and keeps this simple and correct */
	qsort(st->receipts, n, sizeof(int64), cmp_int64);
	out = 0;
	for (i = 0; i < n; i++)
	{
		if (out == 0 || st->receipts[out - 1] != st->receipts[i])
			st->receipts[out++] = st->receipts[i];
	}
	st->nids = out;
	st->nsorted = out;
}

/*
 * rfm_trans(state, receipt_id, ts, amount): not STRICT, so that it can
 * create the first state and skip lines with NULLs itself.
 */
PG_FUNCTION_INFO_V1(seg_reco_rfm_trans);
Datum
seg_reco_rfm_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmState   *st;
	int64		receipt;
	TimestampTz ts;
	double		amount;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.rfm_trans can only be called as an aggregate transition function")));

	if (PG_ARGISNULL(0))
		st = rfm_state_alloc(RFM_INITIAL_CAPACITY);
	else
		st = PG_GETARG_RFM_STATE(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);

	receipt = PG_GETARG_INT64(1);
	ts = PG_GETARG_TIMESTAMPTZ(2);
	amount = PG_GETARG_FLOAT8(3);
	seg_reco_check_finite(amount, "amount");
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("receipt %lld has an infinite timestamp", (long long) receipt)));

	st->lines++;
	seg_reco_money_add(&st->monetary, seg_reco_money_from_float8(amount, "amount"),
					   "net amount");
	if (amount < 0)
		st->return_lines++;
	else if (amount > 0)
	{
		if (ts < st->first_purchase)
			st->first_purchase = ts;
		if (ts > st->last_purchase)
			st->last_purchase = ts;
		/* lines of one receipt usually arrive together */
		if (st->nids == 0 || st->receipts[st->nids - 1] != receipt)
		{
			if (st->nids == st->capacity)
			{
				rfm_state_compact(st);
				/*
				 * Grow when the buffer is more than half full of distinct
				 * ids.  The state returned is new: the executor copies it
				 * into the aggregate context and frees the old one.
				 */
				if (st->nids >= st->capacity / 2)
					st = rfm_state_copy(st, Max(st->capacity * 2, RFM_INITIAL_CAPACITY));
			}
			st->receipts[st->nids++] = receipt;
		}
	}
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(seg_reco_rfm_combine);
Datum
seg_reco_rfm_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RfmState   *a,
			   *b,
			   *st;
	int32		i,
				j,
				n;
	int64		total;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("seg_reco.rfm_combine can only be called as an aggregate combine function")));

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(0))
	{
		/* copy: the right-hand state may live in a short-lived context */
		b = PG_GETARG_RFM_STATE(1);
		st = rfm_state_copy(b, b->nids);
		rfm_state_compact(st);
		PG_RETURN_POINTER(st);
	}

	a = rfm_state_copy(PG_GETARG_RFM_STATE(0), 0);
	b = rfm_state_copy(PG_GETARG_RFM_STATE(1), 0);
	rfm_state_compact(a);
	rfm_state_compact(b);

	total = (int64) a->nids + b->nids;
	if (total > RFM_MAX_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm state cannot hold more than %d distinct receipts for one customer",
						RFM_MAX_IDS)));
	st = rfm_state_alloc(Max((int32) total, RFM_INITIAL_CAPACITY));
	i = j = n = 0;
	while (i < a->nids || j < b->nids)
	{
		int64		v;

		if (j >= b->nids || (i < a->nids && a->receipts[i] < b->receipts[j]))
			v = a->receipts[i++];
		else if (i >= a->nids || b->receipts[j] < a->receipts[i])
			v = b->receipts[j++];
		else
		{
			v = a->receipts[i++];
			j++;
		}
		st->receipts[n++] = v;
	}
	st->nids = st->nsorted = n;
	if (pg_add_s64_overflow(a->lines, b->lines, &st->lines) ||
		pg_add_s64_overflow(a->return_lines, b->return_lines, &st->return_lines))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("seg_reco.rfm line count out of range"),
				 errdetail("The merged states hold more than %lld lines.", (long long) PG_INT64_MAX)));
	st->monetary = a->monetary;
	seg_reco_money_add(&st->monetary, b->monetary, "net amount");
	st->first_purchase = Min(a->first_purchase, b->first_purchase);
	st->last_purchase = Max(a->last_purchase, b->last_purchase);
	PG_RETURN_POINTER(st);
}

/*
 * Final function: seg_reco.rfm_values.  Also callable directly on a state
 * (e.g. one read back from text), so it validates nothing it does not need.
 */
PG_FUNCTION_INFO_V1(seg_reco_rfm_final);
Datum
seg_reco_rfm_final(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	bool		has_purchase;
	char	   *money;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "seg_reco.rfm_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (PG_ARGISNULL(0))
	{
		/* zero input rows: a customer with nothing */
		st = rfm_state_alloc(0);
	}
	else
	{
		/* work on a copy: the final function may run again on the state */
		st = rfm_state_copy(PG_GETARG_RFM_STATE(0), 0);
		rfm_state_compact(st);
	}
	has_purchase = st->nids > 0;

	values[0] = Int64GetDatum((int64) st->nids);
	/* the exact net amount, rounded half away from zero to 0.01 */
	money = seg_reco_money_out(st->monetary);
	values[1] = DirectFunctionCall2(numeric_round,
									DirectFunctionCall3(numeric_in, CStringGetDatum(money),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)),
									Int32GetDatum(2));
	values[2] = TimestampTzGetDatum(st->first_purchase);
	values[3] = TimestampTzGetDatum(st->last_purchase);
	nulls[2] = nulls[3] = !has_purchase;
	values[4] = Int64GetDatum(st->lines);
	values[5] = Int64GetDatum(st->return_lines);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------- text I/O of the state ---------- */

static void
rfm_bad_input(const char *str, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type seg_reco.rfm_state: \"%s\"", str),
			 errdetail("%s", why)));
}

/* an integer, in the exact form the output function writes */
static int64
rfm_parse_int64(const char *str, char **p, const char *what)
{
	const char *q = *p;
	int64		v;

	if (!seg_reco_int64_parse(&q, &v))
		rfm_bad_input(str, what);
	*p = (char *) q;
	return v;
}

static void
rfm_expect(const char *str, char **p, char c)
{
	if (**p != c)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "Expected \"%c\".", c);
		rfm_bad_input(str, msg);
	}
	(*p)++;
}

/* a decimal amount: exact, finite, below 1e20 in absolute value */
static void
rfm_parse_money(const char *str, char **p, SegRecoMoney *out)
{
	const char *q = *p;

	if (!seg_reco_money_parse(&q, out))
		rfm_bad_input(str, "Monetary value and compensation must be decimal numbers below 1e20 in absolute value.");
	*p = (char *) q;
}

PG_FUNCTION_INFO_V1(seg_reco_rfm_state_in);
Datum
seg_reco_rfm_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	RfmState   *st;
	int64		lines,
				return_lines;
	SegRecoMoney monetary,
				compensation;
	TimestampTz first,
				last;
	bool		has_purchase;
	int32		capacity;
	const char *q;

	lines = rfm_parse_int64(str, &p, "Bad line count.");
	rfm_expect(str, &p, ',');
	return_lines = rfm_parse_int64(str, &p, "Bad return-line count.");
	rfm_expect(str, &p, ',');
	rfm_parse_money(str, &p, &monetary);
	rfm_expect(str, &p, ',');
	rfm_parse_money(str, &p, &compensation);
	rfm_expect(str, &p, ',');
	/* "-,-" is "no purchase"; a negative timestamp (before 2000) is a number */
	has_purchase = !(p[0] == '-' && p[1] == ',');
	if (has_purchase)
	{
		first = rfm_parse_int64(str, &p, "Bad first purchase.");
		rfm_expect(str, &p, ',');
		last = rfm_parse_int64(str, &p, "Bad last purchase.");
	}
	else
	{
		p++;
		rfm_expect(str, &p, ',');
		rfm_expect(str, &p, '-');
		first = DT_NOEND;
		last = DT_NOBEGIN;
	}
	rfm_expect(str, &p, ':');
	rfm_expect(str, &p, '{');

	if (lines < 0 || return_lines < 0 || return_lines > lines)
		rfm_bad_input(str, "Line counts must be non-negative and returns at most all lines.");
	if (has_purchase && (first > last || TIMESTAMP_NOT_FINITE(first) || TIMESTAMP_NOT_FINITE(last) ||
						 !IS_VALID_TIMESTAMP(first) || !IS_VALID_TIMESTAMP(last)))
		rfm_bad_input(str, "First and last purchase must be valid and in order.");

	/* count the ids to size the state */
	capacity = 0;
	for (q = p; *q && *q != '}'; q++)
		if (*q == ',')
			capacity++;
	if (*p != '}')
		capacity++;
	st = rfm_state_alloc(Max(capacity, RFM_INITIAL_CAPACITY));
	st->lines = lines;
	st->return_lines = return_lines;
	/* a state of 0.1.0: the net amount is monetary - compensation */
	st->monetary = monetary;
	seg_reco_money_add(&st->monetary, -compensation, "net amount");
	st->first_purchase = first;
	st->last_purchase = last;

	while (*p != '}')
	{
		int64		id = rfm_parse_int64(str, &p, "Bad receipt id.");

		if (st->nids > 0 && st->receipts[st->nids - 1] >= id)
			rfm_bad_input(str, "Receipt ids must be strictly increasing.");
		if (st->nids >= st->capacity)
			rfm_bad_input(str, "Too many receipt ids.");
		st->receipts[st->nids++] = id;
		if (*p == ',')
		{
			if (p[1] == '}')
				rfm_bad_input(str, "A comma must be followed by another receipt id.");
			p++;
		}
		else if (*p != '}')
			rfm_bad_input(str, "Expected \",\" or \"}\".");
	}
	p++;
	if (*p != '\0')
		rfm_bad_input(str, "Junk after \"}\".");
	if ((st->nids > 0) != has_purchase)
		rfm_bad_input(str, "Receipts and purchase dates must be given together.");
	if (st->nids > lines)
		rfm_bad_input(str, "More receipts than lines.");
	st->nsorted = st->nids;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(seg_reco_rfm_state_out);
Datum
seg_reco_rfm_state_out(PG_FUNCTION_ARGS)
{
	RfmState   *st = rfm_state_copy(PG_GETARG_RFM_STATE(0), 0);
	StringInfoData buf;
	int32		i;

	rfm_state_compact(st);
	initStringInfo(&buf);
	/* the sum is exact: compensation 0 */
	appendStringInfo(&buf, "%lld,%lld,%s,0,", (long long) st->lines,
					 (long long) st->return_lines, seg_reco_money_out(st->monetary));
	if (st->nids > 0)
		appendStringInfo(&buf, "%lld,%lld", (long long) st->first_purchase,
						 (long long) st->last_purchase);
	else
		appendStringInfoString(&buf, "-,-");
	appendStringInfoString(&buf, ":{");
	for (i = 0; i < st->nids; i++)
	{
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		appendStringInfo(&buf, i ? ",%lld" : "%lld", (long long) st->receipts[i]);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}
