/*
 * spill.c
 *      Week buckets in temporary files: how the demo generator puts its
 *      receipts and digital events in time order in bounded memory.
 *
 * The simulation plans every member's visits at once (each from the
 * member's own random stream), but must hand out the receipts in time
 * order; the digital events likewise.  Instead of sorting one array of all
 * of them, each record goes to the bucket of its week (a temporary file,
 * created when its first record arrives), and the caller then takes the
 * buckets back one at a time, in week order, each sorted in memory
 * (seg_reco_demo_spill_next): since a week bucket holds every record of its
 * days, the concatenation is the full sort.  Memory: one BLCKSZ buffer per bucket in use plus the
 * largest bucket while it is taken; disk: the records themselves.
 */
#include "postgres.h"

#include "storage/buffile.h"

#include "demo.h"

void
seg_reco_demo_spill_begin(DemoSpill *s, int nbuckets, Size elemsize)
{
	s->nbuckets = nbuckets;
	s->elemsize = elemsize;
	s->files = palloc0(sizeof(BufFile *) * nbuckets);
	s->count = palloc0(sizeof(int64) * nbuckets);
	s->cxt = CurrentMemoryContext;
}

void
seg_reco_demo_spill_put(DemoSpill *s, int bucket, const void *elem)
{
	Assert(bucket >= 0 && bucket < s->nbuckets);
	if (s->files[bucket] == NULL)
	{
		/* the file's state lives as long as the buckets */
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		s->files[bucket] = BufFileCreateTemp(false);
		MemoryContextSwitchTo(old);
	}
	BufFileWrite(s->files[bucket], (void *) elem, s->elemsize);
	s->count[bucket]++;
}

/*
 * The records of one bucket, in the order they were put, as an array
 * palloc'd in the current memory context (NULL when empty); *n gets their
 * number.  The bucket's file is closed (and deleted).
 */
void *
seg_reco_demo_spill_take(DemoSpill *s, int bucket, int64 *n)
{
	BufFile    *f = s->files[bucket];
	char	   *out;
	Size		bytes;

	*n = s->count[bucket];
	if (f == NULL || *n == 0)
		return NULL;
	bytes = (Size) *n * s->elemsize;
	out = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	if (BufFileSeek(f, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind a temporary file of the demo generator")));
	if (BufFileRead(f, out, bytes) != bytes)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read a temporary file of the demo generator")));
	BufFileClose(f);
	s->files[bucket] = NULL;
	s->count[bucket] = 0;
	return out;
}

/*
 * The next bucket with records from *bucket on, sorted by cmp, as
 * seg_reco_demo_spill_take returns it; *bucket moves past it.  NULL (and
 * *n = 0) when no bucket is left.
 */
void *
seg_reco_demo_spill_next(DemoSpill *s, int *bucket, int64 *n,
						 int (*cmp) (const void *, const void *))
{
	void	   *out = NULL;

	*n = 0;
	while (out == NULL && *bucket < s->nbuckets)
		out = seg_reco_demo_spill_take(s, (*bucket)++, n);
	if (out != NULL)
		qsort(out, *n, s->elemsize, cmp);
	return out;
}

/* close (and delete) the files of buckets not taken */
void
seg_reco_demo_spill_end(DemoSpill *s)
{
	int			b;

	for (b = 0; b < s->nbuckets; b++)
		if (s->files[b] != NULL)
		{
			BufFileClose(s->files[b]);
			s->files[b] = NULL;
		}
}
