/*
 * money.h
 *      Exact sums of amounts (money.c), for the aggregates whose states add
 *      up amounts (rfm.c, btyd_summary.c): the same lines in any order, or
 *      partial states merged in any order, give the same bits.
 *
 * An amount is held in fixed point, as a whole number of 10^-18 units in a
 * 128-bit integer, and sums are integer sums (associative, so the order of
 * the lines and of the merges does not matter).  A float8 amount is taken
 * at the value of its shortest decimal form (what float8out prints: 12.45
 * is 12.45, not the binary fraction nearest to it), rounded to 18
 * decimals.  Amounts and sums must stay below 10^20 in absolute value
 * (SEG_RECO_MONEY_LIMIT); beyond, an error with SQLSTATE 22003.
 */
#ifndef SEG_RECO_MONEY_H
#define SEG_RECO_MONEY_H

#include "postgres.h"

#ifndef HAVE_INT128
#error "seg_reco needs a compiler with a 128-bit integer type"
#endif

/* value * 10^-18; 8-byte aligned (c.h), so it may live in a varlena */
typedef int128 SegRecoMoney;

#define SEG_RECO_MONEY_DIGITS 18
/* amounts and sums must be below this in absolute value */
#define SEG_RECO_MONEY_LIMIT 1e20

/* an amount; what names it in the error when it is out of range */
extern SegRecoMoney seg_reco_money_from_float8(double x, const char *what);

/* *acc += v; an error when the sum leaves the range */
extern void seg_reco_money_add(SegRecoMoney *acc, SegRecoMoney v, const char *what);

/* the float8 nearest to the amount */
extern double seg_reco_money_to_float8(SegRecoMoney v);

/* exact decimal text, without trailing zeros ("12.45", "-4", "0") */
extern char *seg_reco_money_out(SegRecoMoney v);

/*
 * Reads a decimal number (sign, digits, point, exponent: also the float8
 * text of older states) at *p, rounded to 18 decimals; advances *p.  False
 * on bad syntax or a value out of range.
 */
extern bool seg_reco_money_parse(const char **p, SegRecoMoney *out);

/*
 * Reads an integer at *p in the exact form the text output of the states
 * that hold amounts (rfm_state, btyd_summary_state) writes their counts,
 * ids and days in: digits, maybe after a "-" (no blanks, no "+"); advances
 * *p.  False on bad syntax or a value outside int64.
 */
extern bool seg_reco_int64_parse(const char **p, int64 *out);

#endif							/* SEG_RECO_MONEY_H */
