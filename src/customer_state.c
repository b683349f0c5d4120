/*
 * customer_state.c
 *      The one pass behind seg_reco.customer_state (issue 12): every
 *      customer's partial sums from the customer's lines, read once, in
 *      memory bounded by seg_reco.state_memory.
 *
 * seg_reco._customer_state_lines(as_of, customer_ids) returns the columns
 * of seg_reco.customer_state but the digital events with the values of the
 * reference statement in sql/src/10_customer_state.sql (lines grouped by
 * receipt, then by customer), bit for bit, and the exact BTYD repeat spend
 * the statement does not give:
 *   - the lines (of the given customers, or all) are read once, in the
 *     table's order, through an SPI cursor; the products (id -> attribute
 *     bits) are read before into a hash;
 *   - per customer a state in a hash (counts, first/last times, sums);
 *     per (customer, receipt) a small sub-state only for receipts with a
 *     line of amount > 0 (a receipt counts once whatever the order of its
 *     lines); per (customer, day) the net amount of the day for the BTYD
 *     summary (btyd_summary.c's definitions);
 *   - per (customer, month) on or before as_of (not in a merge): whether
 *     bought and the net amount, the rows of the cohorts' customer months
 *     (seg_reco._cohort_months's statement, bit for bit), returned as three
 *     arrays per customer sorted by month, so the full refresh's cohorts
 *     step need not read the lines again;
 *   - sums of amounts are exact: a numeric is read into a whole number of
 *     10^-18 (money.h) and the sum is written back as a numeric with the
 *     largest display scale of its terms (what sum(numeric) gives).
 * Memory: the customers are split in parts by a hash of their ids, as many
 * as the table's size suggests (about 56 bytes of state a line, against
 * seg_reco.state_memory).  One scan of the lines keeps part 0's states in
 * memory and writes the other parts' lines to a temporary file each
 * (CS_REC_SIZE bytes a line); then each file is read into its part's states.
 * A part whose states outgrow the budget is split in two by the next bit
 * of the hash (part 0 by scanning again with four times the parts; a file by
 * writing its lines into two).  So the lines are read once, and time grows
 * linearly with them whatever the budget (before 0.2.0's release the pass
 * read the whole table once per part: quadratic at scale).
 *
 * The merge of an incremental refresh (a third argument, after[], beside
 * customer_ids): the stored customer_state rows of the customers are read
 * into a hash, the lines of each customer dated after after[i] go through
 * the same pass, and each customer's state of its new lines is combined
 * with its stored one (cs_merge); customers without a new line keep their
 * stored row.  Only the new lines are read (an index range scan per
 * customer).
 *
 * What this pass does not take (ERRCODE_FEATURE_NOT_SUPPORTED, and the
 * caller runs the reference statement instead): an amount with more than
 * 18 decimals or of 10^20 or more, a sum beyond the range of the fixed
 * point, an infinite amount or time, a product id listed twice among the
 * products.  A NaN amount is the reference statement's error.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "storage/buffile.h"

#include "money.h"
#include "hash64.h"

/* seg_reco.state_memory, kB (seg_reco.c) */
extern int	seg_reco_state_memory;


/* ---------- products: id -> bits ---------- */
#define CSP_KNOWN	1
#define CSP_OWN		2
#define CSP_ORGANIC	4
#define CSP_MEAT	8
#define CSP_FRESH	16
#define CSP_BABY	32

typedef struct CsProduct
{
	int64		id;
	char		status;
	uint8		flags;
} CsProduct;

#define SH_PREFIX csprod
#define SH_ELEMENT_TYPE CsProduct
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) ((uint32) seg_reco_mix64((uint64) (key)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- sums of amounts ---------- */
typedef struct CsSum
{
	SegRecoMoney v;				/* value * 10^18 */
	int16		dscale;			/* largest display scale of the terms */
	bool		any;			/* a term was added (else the sum is NULL) */
} CsSum;

/* ---------- per customer ---------- */
typedef struct CsCust
{
	int64		id;
	char		status;
	bool		has_cks;
	bool		has_last;
	bool		has_p;			/* a purchase line (amount > 0) with a receipt */
	int64		lines;
	int64		cks;
	TimestampTz last_ts;
	TimestampTz p_first;
	TimestampTz p_last;
	int64		p_receipts;
	int64		receipts;
	TimestampTz f_first;
	TimestampTz f_last;
	int64		f_lines;
	int64		f_online;
	int64		f_morning;
	CsSum		net;
	CsSum		p_amount;
	CsSum		f_amount;
	CsSum		own;
	CsSum		organic;
	CsSum		promo;
	CsSum		meat;
	CsSum		fresh;
	CsSum		baby;
	/* BTYD: purchase days */
	int32		b_first;
	int32		b_last;
	int64		b_days;
	SegRecoMoney b_spend;
	SegRecoMoney b_all;			/* merge: every day's amount (the new lines' days) */
	bool		merged;			/* merge: an old state already emitted with the new lines */
	/* cohorts: the customer's months, sorted, in cs_emit's array */
	int32		m_start;
	int32		m_count;
} CsCust;

#define SH_PREFIX cscust
#define SH_ELEMENT_TYPE CsCust
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, key) ((uint32) seg_reco_mix64((uint64) (key)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- per (customer, receipt) with a line of amount > 0 ---------- */
typedef struct CsReceiptKey
{
	int64		cust;
	int64		receipt;		/* 0 when NULL (rnull) */
	bool		rnull;
} CsReceiptKey;

typedef struct CsReceipt
{
	CsReceiptKey key;
	char		status;
	bool		pos;			/* a line of amount > 0 */
	bool		has_f;			/* a line of amount > 0 of a known product */
	bool		online;			/* one of those online */
	TimestampTz f_first;		/* the first of those */
} CsReceipt;

#define SH_PREFIX csrec
#define SH_ELEMENT_TYPE CsReceipt
#define SH_KEY_TYPE CsReceiptKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) seg_reco_mix64((uint64) (k).cust * SEG_RECO_SPLITMIX_GAMMA ^ (uint64) (k).receipt ^ ((uint64) (k).rnull << 63)))
#define SH_EQUAL(tb, a, b) ((a).cust == (b).cust && (a).receipt == (b).receipt && (a).rnull == (b).rnull)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- per (customer, day): BTYD ---------- */
typedef struct CsDayKey
{
	int64		cust;
	int32		day;
} CsDayKey;

typedef struct CsDay
{
	CsDayKey	key;
	char		status;
	bool		purchase;
	SegRecoMoney amount;
} CsDay;

#define SH_PREFIX csday
#define SH_ELEMENT_TYPE CsDay
#define SH_KEY_TYPE CsDayKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) seg_reco_mix64((uint64) (k).cust * SEG_RECO_SPLITMIX_GAMMA ^ (uint64) (uint32) (k).day))
#define SH_EQUAL(tb, a, b) ((a).cust == (b).cust && (a).day == (b).day)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- per (customer, month): the cohorts' customer months ---------- */
typedef struct CsMonthKey
{
	int64		cust;
	int32		month;			/* the first day of the month */
} CsMonthKey;

typedef struct CsMonth
{
	CsMonthKey	key;
	char		status;
	int8		bought;			/* bool_or(amount > 0): -1 NULL (no amount yet), 0, 1 */
	CsSum		revenue;		/* sum(amount) */
} CsMonth;

#define SH_PREFIX csmonth
#define SH_ELEMENT_TYPE CsMonth
#define SH_KEY_TYPE CsMonthKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) seg_reco_mix64((uint64) (k).cust * SEG_RECO_SPLITMIX_GAMMA ^ (uint64) (uint32) (k).month))
#define SH_EQUAL(tb, a, b) ((a).cust == (b).cust && (a).month == (b).month)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define CS_NCOLS 30
#define CS_BATCH 10000

static void
cs_unsupported(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the one-pass customer state does not take %s", what),
			 errdetail("The reference statement computes these rows instead."),
			 errhint("This error is caught by seg_reco._customer_state_update.")));
}

static const int128 cs_pow10[] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	(int128) 1000000000, (int128) 10000000000LL, (int128) 100000000000LL,
	(int128) 1000000000000LL, (int128) 10000000000000LL, (int128) 100000000000000LL,
	(int128) 1000000000000000LL, (int128) 10000000000000000LL,
	(int128) 100000000000000000LL, (int128) 1000000000000000000LL,
	(int128) 1000000000000000000LL * 10, (int128) 1000000000000000000LL * 100,
	(int128) 1000000000000000000LL * 1000, (int128) 1000000000000000000LL * 10000,
	(int128) 1000000000000000000LL * 100000, (int128) 1000000000000000000LL * 1000000,
	(int128) 1000000000000000000LL * 10000000, (int128) 1000000000000000000LL * 100000000,
	(int128) 1000000000000000000LL * 1000000000, (int128) 1000000000000000000LL * 10000000000LL,
	(int128) 1000000000000000000LL * 100000000000LL, (int128) 1000000000000000000LL * 1000000000000LL,
	(int128) 1000000000000000000LL * 10000000000000LL, (int128) 1000000000000000000LL * 100000000000000LL,
	(int128) 1000000000000000000LL * 1000000000000000LL,
	(int128) 1000000000000000000LL * 10000000000000000LL,
	(int128) 1000000000000000000LL * 100000000000000000LL,
	(int128) 1000000000000000000LL * 1000000000000000000LL
};

/*
 * A numeric read from its stored form (the on-disk format, which
 * pg_upgrade keeps across major versions): value * 10^18 and display
 * scale.  Returns 1 for a finite value, 0 for NaN, -1 for an infinity;
 * a value the fixed point cannot hold is cs_unsupported.
 */
#define CS_NUM_SIGN_MASK	0xC000
#define CS_NUM_NEG			0x4000
#define CS_NUM_SHORT		0x8000
#define CS_NUM_SPECIAL		0xC000
#define CS_NUM_NAN			0xC000
#define CS_NUM_SHORT_SIGN	0x2000
#define CS_NUM_SHORT_DSCALE	0x1F80
#define CS_NUM_SHORT_WSIGN	0x0040
#define CS_NUM_SHORT_WEIGHT	0x003F
#define CS_NUM_DSCALE_MASK	0x3FFF

static int
cs_numeric_read(Datum d, SegRecoMoney *out, int16 *dscale)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);
	const char *p;
	Size		len;
	uint16		h;
	int			weight,
				ndigits,
				i;
	bool		neg;
	int128		acc = 0;

	if (VARATT_IS_EXTENDED(v))
		v = pg_detoast_datum_packed(v);
	p = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	if (len < sizeof(uint16))
		elog(ERROR, "malformed numeric");
	memcpy(&h, p, sizeof(uint16));
	if ((h & CS_NUM_SIGN_MASK) == CS_NUM_SPECIAL)
		return h == CS_NUM_NAN ? 0 : -1;
	if ((h & CS_NUM_SIGN_MASK) == CS_NUM_SHORT)
	{
		neg = (h & CS_NUM_SHORT_SIGN) != 0;
		*dscale = (h & CS_NUM_SHORT_DSCALE) >> 7;
		weight = (h & CS_NUM_SHORT_WSIGN) ? (int) (h & CS_NUM_SHORT_WEIGHT) - 64 : (int) (h & CS_NUM_SHORT_WEIGHT);
		p += sizeof(uint16);
		ndigits = (int) ((len - sizeof(uint16)) / sizeof(int16));
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			elog(ERROR, "malformed numeric");
		neg = (h & CS_NUM_SIGN_MASK) == CS_NUM_NEG;
		*dscale = h & CS_NUM_DSCALE_MASK;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		p += 2 * sizeof(uint16);
		ndigits = (int) ((len - 2 * sizeof(uint16)) / sizeof(int16));
	}
	if (*dscale > SEG_RECO_MONEY_DIGITS || (ndigits > 0 && weight >= 5))
		cs_unsupported("an amount with more than 18 decimals or of 10^20 or more");
	for (i = 0; i < ndigits; i++)
	{
		int16		dig;
		int			e = 4 * (weight - i) + SEG_RECO_MONEY_DIGITS;

		memcpy(&dig, p + i * sizeof(int16), sizeof(int16));
		if (dig == 0)
			continue;
		if (e >= 0)
			acc += (int128) dig * cs_pow10[e];
		else if (e == -2 && dig % 100 == 0)
			acc += dig / 100;
		else
			cs_unsupported("an amount with more than 18 decimals");
	}
	*out = neg ? -acc : acc;
	return 1;
}

static inline void
cs_sum_add(CsSum *s, SegRecoMoney v, int16 dscale)
{
	if (__builtin_add_overflow(s->v, v, &s->v))
		cs_unsupported("a sum of amounts of 10^20 or more");
	if (dscale > s->dscale)
		s->dscale = dscale;
	s->any = true;
}

/* a sum as numeric (its display scale), or NULL; else_scale >= 0: 0 at that scale when NULL */
static Datum
cs_sum_datum(const CsSum *s, int else_scale, bool *isnull)
{
	char		buf[96];
	char	   *txt;
	int			dscale = s->dscale;
	int			n,
				dot;
	SegRecoMoney v = s->v;

	*isnull = false;
	if (!s->any)
	{
		if (else_scale < 0)
		{
			*isnull = true;
			return (Datum) 0;
		}
		v = 0;
		dscale = else_scale;
	}
	txt = seg_reco_money_out(v);
	n = strlcpy(buf, txt, sizeof(buf) - 24);
	pfree(txt);
	dot = -1;
	for (int i = 0; i < n; i++)
		if (buf[i] == '.')
			dot = i;
	if (dscale > 0)
	{
		int			have = dot < 0 ? 0 : n - dot - 1;

		if (dot < 0)
			buf[n++] = '.';
		while (have < dscale)
		{
			buf[n++] = '0';
			have++;
		}
	}
	buf[n] = '\0';
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/*
 * One line as the pass needs it: what the tuple gives, checked, with the
 * product's flags looked up and the line's share of the checksum made.
 * Lines of customers not held in memory wait in temporary files in this
 * form (CS_REC_SIZE bytes, packed).
 */
#define CSL_RNULL	1			/* no receipt */
#define CSL_CKS		2			/* cks holds the line's share of the checksum */
#define CSL_AMOUNT	4			/* amount and dscale hold the amount */
#define CSL_PROMO	8			/* discount > 0 */
#define CSL_ONLINE	16			/* channel online */

typedef struct CsLine
{
	int64		cid;
	int64		receipt;
	int64		cks;
	TimestampTz ts;
	SegRecoMoney amount;
	int16		dscale;
	uint8		flags;
	uint8		pf;				/* the product's CSP_ flags (0: none or unknown) */
} CsLine;

#define CS_REC_SIZE (4 * sizeof(int64) + sizeof(SegRecoMoney) + sizeof(int16) + 2)
#define CS_FILE_CHUNK 2048		/* records read or written at a time */

static void
cs_line_pack(const CsLine *l, char *p)
{
	memcpy(p, &l->cid, sizeof(int64));
	p += sizeof(int64);
	memcpy(p, &l->receipt, sizeof(int64));
	p += sizeof(int64);
	memcpy(p, &l->cks, sizeof(int64));
	p += sizeof(int64);
	memcpy(p, &l->ts, sizeof(TimestampTz));
	p += sizeof(TimestampTz);
	memcpy(p, &l->amount, sizeof(SegRecoMoney));
	p += sizeof(SegRecoMoney);
	memcpy(p, &l->dscale, sizeof(int16));
	p += sizeof(int16);
	p[0] = (char) l->flags;
	p[1] = (char) l->pf;
}

static void
cs_line_unpack(const char *p, CsLine *l)
{
	memcpy(&l->cid, p, sizeof(int64));
	p += sizeof(int64);
	memcpy(&l->receipt, p, sizeof(int64));
	p += sizeof(int64);
	memcpy(&l->cks, p, sizeof(int64));
	p += sizeof(int64);
	memcpy(&l->ts, p, sizeof(TimestampTz));
	p += sizeof(TimestampTz);
	memcpy(&l->amount, p, sizeof(SegRecoMoney));
	p += sizeof(SegRecoMoney);
	memcpy(&l->dscale, p, sizeof(int16));
	p += sizeof(int16);
	l->flags = (uint8) p[0];
	l->pf = (uint8) p[1];
}

/* which part of the customers a customer belongs to: cs_part(id) & mask */
static inline uint32
cs_part(int64 cid)
{
	return (uint32) (seg_reco_mix64((uint64) cid ^ UINT64CONST(0x5DEECE66D)) >> 20);
}

typedef struct CsRun
{
	DateADT		as_of;
	Datum		ids;			/* bigint[] or 0 */
	Datum		after;			/* merge: timestamptz[] beside ids, or 0 */
	cscust_hash *olds;			/* merge: the stored states of the customers */
	csprod_hash *products;
	Tuplestorestate *out;
	TupleDesc	tupdesc;
	Size		budget;
	Size		peak;			/* the most the states of one part held */
	int			scans;			/* scans of the lines (also those dropped) */
	int			parts;			/* parts whose states were made (also those dropped) */
	int64		spilled;		/* lines written to temporary files */
	MemoryContext passctx;		/* the states of one part */
	MemoryContext filectx;		/* the temporary files */
	/* the last time converted to a day, the last day to a month */
	TimestampTz day_ts;
	DateADT		day;
	bool		day_valid;
	DateADT		month_day;
	DateADT		month;
	bool		month_valid;
} CsRun;

/* the states of the customers of one part */
typedef struct CsStates
{
	cscust_hash *custs;
	csrec_hash *recs;
	csday_hash *days;
	csmonth_hash *months;		/* NULL in a merge */
	/*
	 * the month entry of the last line (a receipt's lines come together):
	 * valid until a new entry is inserted, which may move every entry
	 */
	CsMonth    *last_month;
} CsStates;

static DateADT
cs_day(CsRun *run, TimestampTz ts)
{
	if (!run->day_valid || run->day_ts != ts)
	{
		run->day = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(ts)));
		run->day_ts = ts;
		run->day_valid = true;
	}
	return run->day;
}

/* the first day of a day's month */
static DateADT
cs_month(CsRun *run, DateADT day)
{
	if (!run->month_valid || run->month_day != day)
	{
		int			y,
					m,
					d;

		j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		run->month = date2j(y, m, 1) - POSTGRES_EPOCH_JDATE;
		run->month_day = day;
		run->month_valid = true;
	}
	return run->month;
}

static bool
cs_weekday_morning(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	int			dow;

	if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, NULL) != 0)
		cs_unsupported("a time out of range");
	dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
	return dow >= 1 && dow <= 5 && tm.tm_hour < 12;
}

/*
 * The amount as the BTYD summary adds it: the float8 of the numeric
 * (numeric_float8 reads the numeric's text with float8in; the exact value's
 * text reads into the same double).  An amount of at most 15 digits reads
 * back the same.
 */
static SegRecoMoney
cs_day_amount(SegRecoMoney amount, int16 dscale)
{
	char	   *txt;
	double		d;

	if (amount > -cs_pow10[33 - dscale] && amount < cs_pow10[33 - dscale])
		return amount;
	txt = seg_reco_money_out(amount);
	d = DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(txt)));
	pfree(txt);
	return seg_reco_money_from_float8(d, "amount");
}

/*
 * A line's share of its customer's checksum (XOR over the lines, so any
 * order gives the same): a hash of everything of the line the pipeline
 * reads -- line, receipt and product ids, time, amount, whether
 * discounted, whether online -- so a line changed in any of these, added
 * or removed changes the sum.  NULL ids: no share.  The pass and
 * seg_reco._line_checksum (the SQL statements: the reference rows, Citus,
 * customer_state_check) both call this one.
 */
static int64
cs_line_checksum(int64 line_id, int64 receipt, int64 product, TimestampTz ts,
				 Datum amount, bool has_amount, bool promo, bool online)
{
	int64		h = (promo ? 1 : 0) | (online ? 2 : 0);

	if (has_amount)
	{
		/*
		 * hash_numeric_extended detoasts its argument: a tuple's short
		 * (one-byte header) numeric would be copied into a palloc'd chunk at
		 * every line, in the pass's context.  Such a value is given a
		 * four-byte header on the stack instead; anything else is detoasted
		 * here and freed.
		 */
		struct varlena *v = (struct varlena *) DatumGetPointer(amount);
		union
		{
			int32		align;
			char		data[128];
		}			buf;
		struct varlena *plain = v;

		if (VARATT_IS_SHORT(v) && VARSIZE_SHORT(v) - VARHDRSZ_SHORT + VARHDRSZ <= sizeof(buf))
		{
			plain = (struct varlena *) buf.data;
			SET_VARSIZE(plain, VARSIZE_SHORT(v) - VARHDRSZ_SHORT + VARHDRSZ);
			memcpy(VARDATA(plain), VARDATA_SHORT(v), VARSIZE_SHORT(v) - VARHDRSZ_SHORT);
		}
		else if (VARATT_IS_EXTENDED(v))
			plain = pg_detoast_datum(v);
		h = DatumGetInt64(DirectFunctionCall2(hash_numeric_extended, PointerGetDatum(plain), Int64GetDatum(h)));
		if (plain != v && (char *) plain != buf.data)
			pfree(plain);
	}
	/* the time as microseconds since 1970 (whatever the time zone) */
	h = DatumGetInt64(DirectFunctionCall2(hashint8extended,
										  Int64GetDatum(TIMESTAMP_NOT_FINITE(ts) ? ts
														: ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY),
										  Int64GetDatum(h)));
	return DatumGetInt64(DirectFunctionCall2(hashint8extended, Int64GetDatum(line_id),
											 Int64GetDatum(receipt ^ product ^ h)));
}

PG_FUNCTION_INFO_V1(seg_reco_line_checksum);

/*
 * seg_reco._line_checksum(line_id, receipt_id, product_id, ts, amount,
 * promo, online): cs_line_checksum for SQL; NULL when an id or the time is
 * NULL (the pass gives such a line no share either).
 */
Datum
seg_reco_line_checksum(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	PG_RETURN_INT64(cs_line_checksum(PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_INT64(2),
									 PG_GETARG_TIMESTAMPTZ(3), PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4),
									 !PG_ARGISNULL(4), !PG_ARGISNULL(5) && PG_GETARG_BOOL(5),
									 !PG_ARGISNULL(6) && PG_GETARG_BOOL(6)));
}

/* the line of a tuple of the pass's query, checked */
static void
cs_line_read(CsRun *run, HeapTuple tup, TupleDesc desc, CsLine *l)
{
	Datum		v[8];
	bool		isnull[8];

	heap_deform_tuple(tup, desc, v, isnull);
	memset(l, 0, sizeof(CsLine));
	l->cid = DatumGetInt64(v[0]);
	l->ts = DatumGetTimestampTz(v[4]);
	if (TIMESTAMP_NOT_FINITE(l->ts))
		cs_unsupported("an infinite time");
	if (isnull[1])
		l->flags |= CSL_RNULL;
	else
		l->receipt = DatumGetInt64(v[1]);
	if (!isnull[1] && !isnull[2] && !isnull[3])
	{
		l->cks = cs_line_checksum(DatumGetInt64(v[2]), DatumGetInt64(v[1]), DatumGetInt64(v[3]), l->ts,
								  v[5], !isnull[5], !isnull[6] && DatumGetBool(v[6]),
								  !isnull[7] && DatumGetBool(v[7]));
		l->flags |= CSL_CKS;
	}
	if (!isnull[5])
	{
		int			k = cs_numeric_read(v[5], &l->amount, &l->dscale);

		if (k == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("amount must be a finite number, got NaN"),
					 isnull[1] ? 0 : errdetail("Receipt %lld has a line with amount NaN.",
											   (long long) DatumGetInt64(v[1])),
					 errhint("Filter out or repair rows with NaN or infinite values.")));
		if (k < 0)
			cs_unsupported("an infinite amount");
		l->flags |= CSL_AMOUNT;
	}
	if (!isnull[3])
	{
		CsProduct  *p = csprod_lookup(run->products, DatumGetInt64(v[3]));

		if (p)
			l->pf = p->flags;
	}
	if (!isnull[6] && DatumGetBool(v[6]))
		l->flags |= CSL_PROMO;
	if (!isnull[7] && DatumGetBool(v[7]))
		l->flags |= CSL_ONLINE;
}

static void
cs_states_init(CsRun *run, CsStates *st)
{
	st->custs = cscust_create(run->passctx, 64, NULL);
	st->recs = csrec_create(run->passctx, 256, NULL);
	st->days = csday_create(run->passctx, 256, NULL);
	/* the cohorts' months: not in a merge (its callers read them from all lines) */
	st->months = run->after ? NULL : csmonth_create(run->passctx, 256, NULL);
	st->last_month = NULL;
}

/* a line into its customer's state (in run->passctx) */
static void
cs_add_line(CsRun *run, CsStates *st, const CsLine *l)
{
	CsCust	   *c;
	CsReceipt  *r;
	CsDay	   *dd;
	bool		found;
	bool		has_amount = (l->flags & CSL_AMOUNT) != 0;
	bool		rnull = (l->flags & CSL_RNULL) != 0;

	c = cscust_insert(st->custs, l->cid, &found);
	if (!found)
	{
		int64		id = c->id;
		char		stt = c->status;

		memset(c, 0, sizeof(CsCust));
		c->id = id;
		c->status = stt;
	}
	c->lines++;
	if (l->flags & CSL_CKS)
	{
		c->cks ^= l->cks;
		c->has_cks = true;
	}
	if (!c->has_last || l->ts > c->last_ts)
		c->last_ts = l->ts;
	c->has_last = true;

	/*
	 * cohorts: the line's month (date_trunc('month', ts)::date) if on or
	 * before as_of, whether bought (bool_or(amount > 0)) and the net amount
	 * (sum(amount)), as _cohort_months's statement gives them
	 */
	if (st->months)
	{
		DateADT		day = cs_day(run, l->ts);

		if (day <= run->as_of)
		{
			CsMonthKey	mk;
			CsMonth    *m = st->last_month;

			memset(&mk, 0, sizeof(mk));
			mk.cust = l->cid;
			mk.month = cs_month(run, day);
			if (m == NULL || m->key.cust != mk.cust || m->key.month != mk.month)
			{
				m = csmonth_insert(st->months, mk, &found);
				if (!found)
				{
					m->bought = -1;
					memset(&m->revenue, 0, sizeof(CsSum));
				}
				st->last_month = m;
			}
			if (has_amount)
			{
				cs_sum_add(&m->revenue, l->amount, l->dscale);
				if (l->amount > 0)
					m->bought = 1;
				else if (m->bought < 0)
					m->bought = 0;
			}
		}
	}

	if (has_amount)
	{
		DateADT		day;

		cs_sum_add(&c->net, l->amount, l->dscale);
		if (!rnull)
			cs_sum_add(&c->p_amount, l->amount, l->dscale);
		/* BTYD: the day's net amount, as the float8 of the amount */
		day = cs_day(run, l->ts);
		if (day <= run->as_of)
		{
			CsDayKey	dk = {l->cid, day};

			dd = csday_insert(st->days, dk, &found);
			if (!found)
			{
				dd->purchase = false;
				dd->amount = 0;
			}
			seg_reco_money_add(&dd->amount, cs_day_amount(l->amount, l->dscale), "net amount of a day");
			dd->purchase |= (l->amount >= 0);
		}
	}
	if (has_amount && l->amount > 0)
	{
		CsReceiptKey rk;

		rk.cust = l->cid;
		rk.rnull = rnull;
		rk.receipt = rnull ? 0 : l->receipt;
		r = csrec_insert(st->recs, rk, &found);
		if (!found)
		{
			r->pos = false;
			r->has_f = false;
			r->online = false;
			r->f_first = 0;
		}
		if (!rnull)
		{
			r->pos = true;
			if (!c->has_p || l->ts < c->p_first)
				c->p_first = l->ts;
			if (!c->has_p || l->ts > c->p_last)
				c->p_last = l->ts;
			c->has_p = true;
		}
		if (l->pf & CSP_KNOWN)
		{
			if (!r->has_f || l->ts < r->f_first)
				r->f_first = l->ts;
			r->has_f = true;
			if (l->flags & CSL_ONLINE)
				r->online = true;
			c->f_lines++;
			cs_sum_add(&c->f_amount, l->amount, l->dscale);
			if (l->pf & CSP_OWN)
				cs_sum_add(&c->own, l->amount, l->dscale);
			if (l->pf & CSP_ORGANIC)
				cs_sum_add(&c->organic, l->amount, l->dscale);
			if (l->flags & CSL_PROMO)
				cs_sum_add(&c->promo, l->amount, l->dscale);
			if (l->pf & CSP_MEAT)
				cs_sum_add(&c->meat, l->amount, l->dscale);
			if (l->pf & CSP_FRESH)
				cs_sum_add(&c->fresh, l->amount, l->dscale);
			if (l->pf & CSP_BABY)
				cs_sum_add(&c->baby, l->amount, l->dscale);
		}
	}
}

/*
 * Whether the states of a part outgrew the budget (a part of one customer
 * is never split); notes the peak
 */
static bool
cs_outgrown(CsRun *run, const CsStates *st, bool may_split)
{
	Size		used = MemoryContextMemAllocated(run->passctx, true);

	if (used > run->peak)
		run->peak = used;
	return may_split && used > run->budget && st->custs->members > 1;
}

/* a sum of the stored state into the new lines' sum */
static void
cs_sum_merge(CsSum *s, const CsSum *o)
{
	if (!o->any)
		return;
	if (!s->any)
	{
		*s = *o;
		return;
	}
	cs_sum_add(s, o->v, o->dscale);
}

/*
 * The merge (seg_reco._customer_state_lines with after): c, the state of a customer's
 * new lines, combined with o, the stored state of the lines before them.
 * The caller guarantees what makes it exact: every new line is on a later
 * day than every old line, and no receipt has lines on both sides, so the
 * receipts and purchase days of the two sides are disjoint and add up, and
 * every new day comes after the old first purchase day.
 */
static void
cs_merge(CsCust *c, const CsCust *o)
{
	c->lines += o->lines;
	if (o->has_cks)
	{
		c->cks = c->has_cks ? (c->cks ^ o->cks) : o->cks;
		c->has_cks = true;
	}
	if (o->has_last && (!c->has_last || o->last_ts > c->last_ts))
	{
		c->last_ts = o->last_ts;
		c->has_last = true;
	}
	cs_sum_merge(&c->net, &o->net);
	cs_sum_merge(&c->p_amount, &o->p_amount);
	if (o->has_p)
	{
		if (!c->has_p || o->p_first < c->p_first)
			c->p_first = o->p_first;
		if (!c->has_p || o->p_last > c->p_last)
			c->p_last = o->p_last;
		c->has_p = true;
	}
	c->p_receipts += o->p_receipts;
	if (o->receipts > 0)
	{
		if (c->receipts == 0 || o->f_first < c->f_first)
			c->f_first = o->f_first;
		if (c->receipts == 0 || o->f_last > c->f_last)
			c->f_last = o->f_last;
		c->receipts += o->receipts;
	}
	c->f_lines += o->f_lines;
	c->f_online += o->f_online;
	c->f_morning += o->f_morning;
	cs_sum_merge(&c->f_amount, &o->f_amount);
	cs_sum_merge(&c->own, &o->own);
	cs_sum_merge(&c->organic, &o->organic);
	cs_sum_merge(&c->promo, &o->promo);
	cs_sum_merge(&c->meat, &o->meat);
	cs_sum_merge(&c->fresh, &o->fresh);
	cs_sum_merge(&c->baby, &o->baby);
	/* BTYD: every new day is after the old first purchase day */
	if (o->b_days > 0)
	{
		SegRecoMoney spend = o->b_spend;

		seg_reco_money_add(&spend, c->b_all, "net amount");
		c->b_spend = spend;
		if (c->b_days == 0)
			c->b_last = o->b_last;
		c->b_first = o->b_first;
		c->b_days += o->b_days;
	}
}

/* a customer's months (cohort_months, cohort_bought, cohort_revenue) into val[27..29] */
static void
cs_month_arrays(const CsCust *c, CsMonth **months, Datum *val, bool *nul)
{
	int			n = c->m_count;
	Datum	   *md = palloc(sizeof(Datum) * n);
	Datum	   *bd = palloc(sizeof(Datum) * n);
	Datum	   *rd = palloc(sizeof(Datum) * n);
	bool	   *bn = palloc(sizeof(bool) * n);
	bool	   *rn = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		const CsMonth *m = months[c->m_start + i];

		md[i] = DateADTGetDatum(m->key.month);
		bd[i] = BoolGetDatum(m->bought > 0);
		bn[i] = m->bought < 0;
		rd[i] = cs_sum_datum(&m->revenue, -1, &rn[i]);
	}
	val[27] = PointerGetDatum(construct_md_array(md, NULL, 1, dims, lbs, DATEOID, sizeof(DateADT), true, TYPALIGN_INT));
	val[28] = PointerGetDatum(construct_md_array(bd, bn, 1, dims, lbs, BOOLOID, 1, true, TYPALIGN_CHAR));
	val[29] = PointerGetDatum(construct_md_array(rd, rn, 1, dims, lbs, NUMERICOID, -1, false, TYPALIGN_INT));
	nul[27] = nul[28] = nul[29] = false;
	for (int i = 0; i < n; i++)
		if (!rn[i])
			pfree(DatumGetPointer(rd[i]));
	pfree(md);
	pfree(bd);
	pfree(rd);
	pfree(bn);
	pfree(rn);
}

/*
 * a customer's row, appended to the tuplestore; months: the part's months
 * sorted by customer and month (NULL: the month columns NULL, as in a merge)
 */
static void
cs_put_row(CsRun *run, const CsCust *c, CsMonth **months)
{
	Datum		val[CS_NCOLS];
	bool		nul[CS_NCOLS];
	int64		freq;

	memset(nul, 0, sizeof(nul));
	val[0] = Int64GetDatum(c->id);
	val[1] = Int64GetDatum(c->lines);
	val[2] = Int64GetDatum(c->cks);
	nul[2] = !c->has_cks;
	val[3] = TimestampTzGetDatum(c->last_ts);
	val[4] = cs_sum_datum(&c->net, 2, &nul[4]);
	val[5] = Int64GetDatum(c->p_receipts);
	val[6] = cs_sum_datum(&c->p_amount, 2, &nul[6]);
	val[7] = TimestampTzGetDatum(c->p_first);
	nul[7] = !c->has_p;
	val[8] = TimestampTzGetDatum(c->p_last);
	nul[8] = !c->has_p;
	if (c->b_days > 0)
	{
		CsSum		spend = {c->b_spend, 0, true};

		freq = c->b_days - 1;
		val[9] = Int64GetDatum(freq);
		val[10] = Float8GetDatum((double) (c->b_last - c->b_first));
		val[11] = DateADTGetDatum(c->b_first);
		val[12] = Float8GetDatum(freq > 0 ? seg_reco_money_to_float8(c->b_spend) / (double) freq : 0.0);
		val[26] = cs_sum_datum(&spend, 0, &nul[26]);
	}
	else
		nul[9] = nul[10] = nul[11] = nul[12] = nul[26] = true;
	val[13] = Int64GetDatum(c->receipts);
	val[14] = TimestampTzGetDatum(c->f_first);
	nul[14] = c->receipts == 0;
	val[15] = TimestampTzGetDatum(c->f_last);
	nul[15] = c->receipts == 0;
	val[16] = Int64GetDatum(c->f_lines);
	val[17] = cs_sum_datum(&c->f_amount, -1, &nul[17]);
	val[18] = Int64GetDatum(c->f_online);
	val[19] = Int64GetDatum(c->f_morning);
	val[20] = cs_sum_datum(&c->own, 0, &nul[20]);
	val[21] = cs_sum_datum(&c->organic, 0, &nul[21]);
	val[22] = cs_sum_datum(&c->promo, 0, &nul[22]);
	val[23] = cs_sum_datum(&c->meat, 0, &nul[23]);
	val[24] = cs_sum_datum(&c->fresh, 0, &nul[24]);
	val[25] = cs_sum_datum(&c->baby, 0, &nul[25]);
	nul[27] = nul[28] = nul[29] = true;
	if (months != NULL && c->m_count > 0)
		cs_month_arrays(c, months, val, nul);
	tuplestore_putvalues(run->out, run->tupdesc, val, nul);
	for (int k = 0; k < CS_NCOLS; k++)
		if (!nul[k] && (k == 4 || k == 6 || k >= 17) && k != 18 && k != 19)
			pfree(DatumGetPointer(val[k]));
}

/* the customers' rows of a part, appended to the tuplestore; then the states are freed */
static void
cs_emit(CsRun *run, CsStates *st)
{
	cscust_iterator ci;
	csrec_iterator ri;
	csday_iterator di;
	CsCust	   *c;
	CsReceipt  *r;
	CsDay	   *dd;
	CsMonth   **months = NULL;

	/* receipts into their customers */
	csrec_start_iterate(st->recs, &ri);
	while ((r = csrec_iterate(st->recs, &ri)) != NULL)
	{
		c = cscust_lookup(st->custs, r->key.cust);
		if (r->pos)
			c->p_receipts++;
		if (r->has_f)
		{
			if (c->receipts == 0 || r->f_first < c->f_first)
				c->f_first = r->f_first;
			if (c->receipts == 0 || r->f_first > c->f_last)
				c->f_last = r->f_first;
			c->receipts++;
			if (r->online)
				c->f_online++;
			if (cs_weekday_morning(r->f_first))
				c->f_morning++;
		}
	}
	/* BTYD: the first and last purchase days, then the spend after the first */
	csday_start_iterate(st->days, &di);
	while ((dd = csday_iterate(st->days, &di)) != NULL)
	{
		if (!dd->purchase)
			continue;
		c = cscust_lookup(st->custs, dd->key.cust);
		if (c->b_days == 0 || dd->key.day < c->b_first)
			c->b_first = dd->key.day;
		if (c->b_days == 0 || dd->key.day > c->b_last)
			c->b_last = dd->key.day;
		c->b_days++;
	}
	csday_start_iterate(st->days, &di);
	while ((dd = csday_iterate(st->days, &di)) != NULL)
	{
		c = cscust_lookup(st->custs, dd->key.cust);
		if (c->b_days > 0 && dd->key.day > c->b_first)
			seg_reco_money_add(&c->b_spend, dd->amount, "net amount");
		if (run->olds)
			seg_reco_money_add(&c->b_all, dd->amount, "net amount");
	}

	/*
	 * cohorts: the months grouped by customer (counted, then placed: no
	 * sort of them all), each customer's few sorted by month
	 */
	if (st->months)
	{
		csmonth_iterator mi;
		CsMonth    *m;
		int32		pos = 0;

		months = MemoryContextAlloc(run->passctx, sizeof(CsMonth *) * Max(st->months->members, 1));
		csmonth_start_iterate(st->months, &mi);
		while ((m = csmonth_iterate(st->months, &mi)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			cscust_lookup(st->custs, m->key.cust)->m_count++;
		}
		cscust_start_iterate(st->custs, &ci);
		while ((c = cscust_iterate(st->custs, &ci)) != NULL)
		{
			c->m_start = pos;
			pos += c->m_count;
			c->m_count = 0;
		}
		csmonth_start_iterate(st->months, &mi);
		while ((m = csmonth_iterate(st->months, &mi)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			c = cscust_lookup(st->custs, m->key.cust);
			months[c->m_start + c->m_count++] = m;
		}
		cscust_start_iterate(st->custs, &ci);
		while ((c = cscust_iterate(st->custs, &ci)) != NULL)
		{
			CsMonth   **r = months + c->m_start;

			CHECK_FOR_INTERRUPTS();
			for (int32 i = 1; i < c->m_count; i++)
			{
				CsMonth    *x = r[i];
				int32		j = i;

				for (; j > 0 && r[j - 1]->key.month > x->key.month; j--)
					r[j] = r[j - 1];
				r[j] = x;
			}
		}
	}

	/* the rows (a merge: each with the customer's stored state) */
	cscust_start_iterate(st->custs, &ci);
	while ((c = cscust_iterate(st->custs, &ci)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (run->olds)
		{
			CsCust	   *o = cscust_lookup(run->olds, c->id);

			if (o)
			{
				cs_merge(c, o);
				o->merged = true;
			}
		}
		cs_put_row(run, c, months);
	}
	MemoryContextReset(run->passctx);
}

/* a part of the customers waiting in a temporary file: cs_part(id) & mask = value */
typedef struct CsFilePart
{
	BufFile    *file;
	uint32		mask;
	uint32		value;
	int64		lines;
} CsFilePart;

typedef struct CsSpill
{
	CsFilePart *q;				/* parts still to do */
	int			n;
	int			cap;
	char	   *buf;			/* CS_FILE_CHUNK records */
} CsSpill;

static void
cs_spill_push(CsRun *run, CsSpill *sp, BufFile *file, uint32 mask, uint32 value, int64 lines)
{
	if (sp->n == sp->cap)
	{
		sp->cap *= 2;
		sp->q = repalloc(sp->q, sizeof(CsFilePart) * sp->cap);
	}
	sp->q[sp->n].file = file;
	sp->q[sp->n].mask = mask;
	sp->q[sp->n].value = value;
	sp->q[sp->n].lines = lines;
	sp->n++;
}

/*
 * The scan of the lines: the customers of part 0 (cs_part(id) & mask = 0)
 * into states, the lines of the other parts into a temporary file each
 * (pushed on sp).  False (nothing written, no file kept) when part 0's
 * states outgrew the budget and may be split; then its rows otherwise.
 */
static bool
cs_scan(CsRun *run, uint32 mask, bool may_split, CsSpill *sp)
{
	StringInfoData q;
	Datum		args[2];
	Oid			argtypes[2];
	int			nargs = 0;
	SPIPlanPtr	plan;
	Portal		portal;
	CsStates	st;
	BufFile   **files = NULL;
	int64	   *counts = NULL;
	int64		rows = 0;
	bool		fits = true;
	MemoryContext old;

	old = MemoryContextSwitchTo(run->passctx);
	cs_states_init(run, &st);
	MemoryContextSwitchTo(old);
	if (mask > 0)
	{
		files = MemoryContextAllocZero(run->filectx, sizeof(BufFile *) * (mask + 1));
		counts = MemoryContextAllocZero(run->filectx, sizeof(int64) * (mask + 1));
	}

	initStringInfo(&q);
	appendStringInfoString(&q,
						   "SELECT t.customer_id, t.receipt_id, t.line_id, t.product_id, t.ts, t.amount, "
						   "t.discount OPERATOR(pg_catalog.>) 0, t.channel OPERATOR(pg_catalog.=) 'online' "
						   "FROM seg_reco.transactions t "
						   "WHERE t.customer_id IS NOT NULL AND t.ts IS NOT NULL");
	if (run->after)
	{
		/* a merge: each customer's lines after its stored state's last */
		argtypes[0] = INT8ARRAYOID;
		args[0] = run->ids;
		argtypes[1] = TIMESTAMPTZARRAYOID;
		args[1] = run->after;
		nargs = 2;
		resetStringInfo(&q);
		/*
		 * one index range scan per customer: the LATERAL subquery with
		 * OFFSET 0 is never flattened, so the planner cannot trade it for
		 * a scan of every line (it guesses a third of a customer's lines
		 * are new, and at 35,000 customers a hash join looks cheaper)
		 */
		appendStringInfoString(&q,
							   "SELECT t.customer_id, t.receipt_id, t.line_id, t.product_id, t.ts, t.amount, "
							   "t.discount OPERATOR(pg_catalog.>) 0, t.channel OPERATOR(pg_catalog.=) 'online' "
							   "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(cid, after) "
							   "CROSS JOIN LATERAL (SELECT t.* FROM seg_reco.transactions t "
							   "WHERE t.customer_id OPERATOR(pg_catalog.=) u.cid "
							   "AND t.ts OPERATOR(pg_catalog.>) u.after OFFSET 0) t");
	}
	else if (run->ids)
	{
		argtypes[nargs] = INT8ARRAYOID;
		args[nargs] = run->ids;
		appendStringInfo(&q, " AND t.customer_id OPERATOR(pg_catalog.=) ANY ($%d)", ++nargs);
	}
	plan = SPI_prepare(q.data, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	run->scans++;
	run->parts++;

	for (;;)
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, CS_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		old = MemoryContextSwitchTo(run->passctx);
		for (uint64 i = 0; i < n; i++)
		{
			CsLine		l;
			uint32		part;

			cs_line_read(run, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &l);
			part = cs_part(l.cid) & mask;
			if (part == 0)
				cs_add_line(run, &st, &l);
			else
			{
				char		rec[CS_REC_SIZE];

				if (files[part] == NULL)
				{
					MemoryContextSwitchTo(run->filectx);
					files[part] = BufFileCreateTemp(false);
					MemoryContextSwitchTo(run->passctx);
				}
				cs_line_pack(&l, rec);
				BufFileWrite(files[part], rec, CS_REC_SIZE);
				counts[part]++;
			}
		}
		MemoryContextSwitchTo(old);
		rows += n;
		SPI_freetuptable(SPI_tuptable);
		if (cs_outgrown(run, &st, may_split))
		{
			fits = false;
			break;
		}
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	pfree(q.data);
	if (!fits)
	{
		for (uint32 p = 1; p <= mask; p++)
			if (files[p])
				BufFileClose(files[p]);
		MemoryContextReset(run->passctx);
		MemoryContextReset(run->filectx);
		return false;
	}
	for (uint32 p = 1; p <= mask; p++)
		if (files[p])
		{
			cs_spill_push(run, sp, files[p], mask, p, counts[p]);
			run->spilled += counts[p];
		}
	elog(DEBUG1, "customer state scan (parts of mask %u): %lld lines, %d customers in part 0",
		 mask, (long long) rows, (int) st.custs->members);
	cs_emit(run, &st);
	return true;
}

/* the records of a temporary file, CS_FILE_CHUNK at a time: how many were read */
static int
cs_file_read(BufFile *file, char *buf)
{
	size_t		got = BufFileRead(file, buf, (size_t) CS_REC_SIZE * CS_FILE_CHUNK);

	if (got % CS_REC_SIZE != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the customer state's temporary file: read only %zu bytes", got)));
	return (int) (got / CS_REC_SIZE);
}

/*
 * A part waiting in a file into states and rows; when its states outgrow
 * the budget, it is split instead in two files by the next bit of the
 * customers' parts, pushed on sp.  The file is closed either way.
 */
static void
cs_do_file(CsRun *run, CsFilePart fp, CsSpill *sp)
{
	CsStates	st;
	bool		may_split = fp.mask < 0x7FFFF;
	bool		fits = true;
	MemoryContext old;
	int			n;

	if (BufFileSeek(fp.file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind the customer state's temporary file")));
	old = MemoryContextSwitchTo(run->passctx);
	cs_states_init(run, &st);
	run->parts++;
	while ((n = cs_file_read(fp.file, sp->buf)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			CsLine		l;

			cs_line_unpack(sp->buf + (Size) i * CS_REC_SIZE, &l);
			cs_add_line(run, &st, &l);
		}
		if (cs_outgrown(run, &st, may_split))
		{
			fits = false;
			break;
		}
	}
	MemoryContextSwitchTo(old);
	if (fits)
	{
		BufFileClose(fp.file);
		cs_emit(run, &st);
		return;
	}

	/* split: the part's lines into two files by the next bit */
	MemoryContextReset(run->passctx);
	{
		uint32		mask2 = fp.mask * 2 + 1;
		BufFile    *half[2];
		int64		cnt[2] = {0, 0};

		old = MemoryContextSwitchTo(run->filectx);
		half[0] = BufFileCreateTemp(false);
		half[1] = BufFileCreateTemp(false);
		MemoryContextSwitchTo(old);
		if (BufFileSeek(fp.file, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind the customer state's temporary file")));
		while ((n = cs_file_read(fp.file, sp->buf)) > 0)
		{
			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < n; i++)
			{
				const char *rec = sp->buf + (Size) i * CS_REC_SIZE;
				int64		cid;
				int			h;

				memcpy(&cid, rec, sizeof(int64));
				h = (cs_part(cid) & mask2) == fp.value ? 0 : 1;
				BufFileWrite(half[h], (void *) rec, CS_REC_SIZE);
				cnt[h]++;
			}
		}
		BufFileClose(fp.file);
		run->spilled += cnt[0] + cnt[1];
		cs_spill_push(run, sp, half[0], mask2, fp.value, cnt[0]);
		cs_spill_push(run, sp, half[1], mask2, fp.value | (fp.mask + 1), cnt[1]);
	}
}

static void
cs_load_products(CsRun *run, MemoryContext mcxt)
{
	int			ret;

	ret = SPI_execute("SELECT p.product_id, "
					  "coalesce(p.own_brand, false), coalesce(p.organic, false), "
					  "coalesce(p.category OPERATOR(pg_catalog.=) ANY ('{kjøtt,fisk og sjømat}'::text[]), false), "
					  "coalesce(p.category OPERATOR(pg_catalog.=) 'frukt og grønt', false), "
					  "coalesce(p.category OPERATOR(pg_catalog.=) 'baby', false) "
					  "FROM seg_reco.products p WHERE p.product_id IS NOT NULL", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.products failed: %s", SPI_result_code_string(ret));
	run->products = csprod_create(mcxt, Max(SPI_processed, 16), NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		v[6];
		bool		isnull[6];
		bool		found;
		CsProduct  *p;
		uint8		f = CSP_KNOWN;

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, isnull);
		p = csprod_insert(run->products, DatumGetInt64(v[0]), &found);
		if (found)
			cs_unsupported("a product id listed twice among the products");
		if (DatumGetBool(v[1]))
			f |= CSP_OWN;
		if (DatumGetBool(v[2]))
			f |= CSP_ORGANIC;
		if (DatumGetBool(v[3]))
			f |= CSP_MEAT;
		if (DatumGetBool(v[4]))
			f |= CSP_FRESH;
		if (DatumGetBool(v[5]))
			f |= CSP_BABY;
		p->flags = f;
	}
	SPI_freetuptable(SPI_tuptable);
}

/* a stored sum into a CsSum (NULL: no term) */
static void
cs_sum_read(Datum d, bool isnull, CsSum *s)
{
	memset(s, 0, sizeof(CsSum));
	if (isnull)
		return;
	if (cs_numeric_read(d, &s->v, &s->dscale) != 1)
		cs_unsupported("a stored state that is not finite");
	s->any = true;
}

/*
 * The merge's old states: the stored customer_state rows of run->ids, in a
 * hash (in mcxt) as the pass would have left them after their lines.
 */
static void
cs_load_olds(CsRun *run, MemoryContext mcxt)
{
	Datum		args[1] = {run->ids};
	Oid			argtypes[1] = {INT8ARRAYOID};
	int			ret;

	ret = SPI_execute_with_args("SELECT s.customer_id, s.lines, s.checksum, s.last_line_ts, s.net_amount, "
								"s.purchase_receipts, s.purchase_amount, s.first_purchase, s.last_purchase, "
								"s.btyd_frequency, s.btyd_recency_days, s.btyd_first, s.btyd_repeat_spend, "
								"s.receipts, s.first_receipt_ts, s.last_receipt_ts, s.receipt_lines, "
								"s.receipt_amount, s.online_receipts, s.morning_receipts, s.own_brand_amount, "
								"s.organic_amount, s.promo_amount, s.meat_fish_amount, s.fresh_amount, s.baby_amount "
								"FROM seg_reco.customer_state s "
								"WHERE s.customer_id OPERATOR(pg_catalog.=) ANY ($1)",
								1, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading seg_reco.customer_state failed: %s", SPI_result_code_string(ret));
	run->olds = cscust_create(mcxt, Max(SPI_processed, 16), NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		v[26];
		bool		n[26];
		bool		found;
		CsCust	   *c;
		int64		id;
		char		stt;

		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, n);
		c = cscust_insert(run->olds, DatumGetInt64(v[0]), &found);
		id = c->id;
		stt = c->status;
		memset(c, 0, sizeof(CsCust));
		c->id = id;
		c->status = stt;
		c->lines = DatumGetInt64(v[1]);
		c->has_cks = !n[2];
		c->cks = n[2] ? 0 : DatumGetInt64(v[2]);
		c->has_last = !n[3];
		c->last_ts = n[3] ? 0 : DatumGetTimestampTz(v[3]);
		cs_sum_read(v[4], n[4], &c->net);
		c->p_receipts = DatumGetInt64(v[5]);
		cs_sum_read(v[6], n[6], &c->p_amount);
		c->has_p = !n[7] && !n[8];
		if (c->has_p)
		{
			c->p_first = DatumGetTimestampTz(v[7]);
			c->p_last = DatumGetTimestampTz(v[8]);
		}
		if (!n[9])
		{
			double		rec = DatumGetFloat8(v[10]);

			/* the reference statement's rows have no repeat spend: no merge */
			if (n[10] || n[11] || n[12] || rec != floor(rec) || rec < 0 || rec > 1e7)
				cs_unsupported("a stored BTYD state without its repeat spend");
			c->b_days = DatumGetInt64(v[9]) + 1;
			c->b_first = DatumGetDateADT(v[11]);
			c->b_last = c->b_first + (int32) rec;
			{
				int16		ds;

				if (cs_numeric_read(v[12], &c->b_spend, &ds) != 1)
					cs_unsupported("a stored state that is not finite");
			}
		}
		c->receipts = DatumGetInt64(v[13]);
		if (c->receipts > 0)
		{
			if (n[14] || n[15])
				cs_unsupported("a stored state without its receipt times");
			c->f_first = DatumGetTimestampTz(v[14]);
			c->f_last = DatumGetTimestampTz(v[15]);
		}
		c->f_lines = DatumGetInt64(v[16]);
		cs_sum_read(v[17], n[17], &c->f_amount);
		c->f_online = DatumGetInt64(v[18]);
		c->f_morning = DatumGetInt64(v[19]);
		cs_sum_read(v[20], n[20], &c->own);
		cs_sum_read(v[21], n[21], &c->organic);
		cs_sum_read(v[22], n[22], &c->promo);
		cs_sum_read(v[23], n[23], &c->meat);
		cs_sum_read(v[24], n[24], &c->fresh);
		cs_sum_read(v[25], n[25], &c->baby);
	}
	SPI_freetuptable(SPI_tuptable);
}

static Datum
cs_main(FunctionCallInfo fcinfo, bool merge)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query,
				scratch,
				old;
	CsRun		run;
	CsSpill		sp;
	uint32		mask = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL"),
				 errhint("Pass the date of the latest line.")));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	memset(&run, 0, sizeof(run));
	run.as_of = PG_GETARG_DATEADT(0);
	if (DATE_NOT_FINITE(run.as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite date")));
	run.ids = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (merge)
	{
		ArrayType  *ids;
		ArrayType  *after;

		if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("customer_ids and after must not be NULL")));
		ids = PG_GETARG_ARRAYTYPE_P(1);
		after = PG_GETARG_ARRAYTYPE_P(2);
		if (ARR_NDIM(ids) > 1 || ARR_NDIM(after) > 1 ||
			ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) != ArrayGetNItems(ARR_NDIM(after), ARR_DIMS(after)) ||
			array_contains_nulls(ids) || array_contains_nulls(after))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("customer_ids and after must be one-dimensional arrays of the same length without NULLs")));
		run.ids = PointerGetDatum(ids);
		run.after = PointerGetDatum(after);
	}
	run.budget = (Size) seg_reco_state_memory * 1024;

	per_query = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(per_query);
	if (get_call_result_type(fcinfo, NULL, &run.tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	run.tupdesc = CreateTupleDescCopy(run.tupdesc);
	run.out = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);

	scratch = AllocSetContextCreate(CurrentMemoryContext, "customer state", ALLOCSET_DEFAULT_SIZES);
	run.passctx = AllocSetContextCreate(scratch, "customer state pass", ALLOCSET_DEFAULT_SIZES);
	run.filectx = AllocSetContextCreate(scratch, "customer state files", ALLOCSET_DEFAULT_SIZES);
	sp.n = 0;
	sp.cap = 64;
	sp.q = MemoryContextAlloc(scratch, sizeof(CsFilePart) * sp.cap);
	sp.buf = MemoryContextAlloc(scratch, (Size) CS_REC_SIZE * CS_FILE_CHUNK);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cs_load_products(&run, scratch);
	if (merge)
		cs_load_olds(&run, scratch);

	/*
	 * the first split: from the table's size (about 48 bytes of state a
	 * line on the demo data, 33 of them before the cohort months; 56
	 * leaves room)
	 */
	if (run.ids == (Datum) 0)
	{
		int			ret = SPI_execute("SELECT greatest(c.reltuples, 0)::float8 FROM pg_catalog.pg_class c "
									  "WHERE c.oid OPERATOR(pg_catalog.=) 'seg_reco.transactions'::pg_catalog.regclass",
									  true, 1);

		if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			double		lines = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

			while (!isnull && lines * 56.0 / (double) (mask + 1) > (double) run.budget && mask < 0xFF)
				mask = mask * 2 + 1;
		}
	}

	/*
	 * The scan: part 0 in memory, the other parts into temporary files; a
	 * part 0 that outgrows the budget is scanned again with four times the
	 * parts.  Then each file, split in two while its states outgrow it.
	 */
	for (;;)
	{
		if (cs_scan(&run, mask, mask < 0xFFFF, &sp))
			break;
		/* the guess was short: four times the parts (fewer scans again) */
		mask = Min(mask * 4 + 3, 0xFFFF);
	}
	while (sp.n > 0)
	{
		CsFilePart	fp = sp.q[--sp.n];

		cs_do_file(&run, fp, &sp);
	}
	/* a merge: the customers without new lines keep their stored state */
	if (run.olds)
	{
		cscust_iterator ci;
		CsCust	   *c;

		cscust_start_iterate(run.olds, &ci);
		while ((c = cscust_iterate(run.olds, &ci)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			if (!c->merged)
				cs_put_row(&run, c, NULL);
		}
	}
	SPI_finish();
	MemoryContextDelete(scratch);
	elog(DEBUG1, "customer state: %d scans of the lines, %d parts, %lld lines through temporary files, at most %zu kB of states in one part (seg_reco.state_memory %d kB)",
		 run.scans, run.parts, (long long) run.spilled, run.peak / 1024, seg_reco_state_memory);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = run.out;
	rsinfo->setDesc = run.tupdesc;
	return (Datum) 0;
}

/*
 * seg_reco._customer_state_lines(as_of date, customer_ids bigint[] DEFAULT NULL,
 *                                after timestamptz[] DEFAULT NULL)
 * after NULL: the customers' rows from all their lines; else each
 * customer's stored row merged with its lines dated after after[i] (see
 * cs_merge for what the caller guarantees)
 */
PG_FUNCTION_INFO_V1(seg_reco_customer_state_lines);
Datum
seg_reco_customer_state_lines(PG_FUNCTION_ARGS)
{
	return cs_main(fcinfo, PG_NARGS() > 2 && !PG_ARGISNULL(2));
}
