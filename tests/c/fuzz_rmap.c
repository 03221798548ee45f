// SPDX-License-Identifier: GPL-2.0
/*
 * Random-op fuzz of one pte_list variant, built with ASan and UBSan.
 *
 * A shadow array per head holds the sptes that should be present.  After
 * every op the variant's count must equal the shadow's size and add's
 * return value must keep the variant's own contract; every 64 ops a head's
 * walk must visit exactly the shadow's sptes.  At teardown every spte is
 * removed and no descriptor may be left allocated (the libc allocator mode
 * lets ASan and LeakSanitizer watch each descriptor's lifetime).
 *
 * usage: fuzz_rmap OPS SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmap.h"

#define NHEADS 16
#define MAXLEN 96

struct shadow {
	unsigned long ids[MAXLEN];
	int n;
};

static u64 rng_state;

static u64 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static u64 *to_ptr(unsigned long id)
{
	return (u64 *)(uintptr_t)(id << 3);
}

struct seen {
	unsigned long ids[MAXLEN + 1];
	int n;
};

static void note(u64 *sptep, void *arg)
{
	struct seen *s = arg;

	if (s->n <= MAXLEN)
		s->ids[s->n] = (uintptr_t)sptep >> 3;
	s->n++;
}

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static int fail(long op, const char *what, long got, long want)
{
	fprintf(stderr, "%s: op %ld: %s: got %ld, want %ld\n",
		pte_list_layout.name, op, what, got, want);
	return 1;
}

static int check_walk(struct kvm_rmap_head *head, struct shadow *sh, long op)
{
	struct seen s = { .n = 0 };
	unsigned long want[MAXLEN];

	pte_list_walk(head, note, &s);
	if (s.n != sh->n)
		return fail(op, "walk length", s.n, sh->n);
	memcpy(want, sh->ids, sizeof(unsigned long) * sh->n);
	qsort(want, sh->n, sizeof(*want), cmp_ul);
	qsort(s.ids, s.n, sizeof(*s.ids), cmp_ul);
	for (int i = 0; i < s.n; i++)
		if (s.ids[i] != want[i])
			return fail(op, "walk content", s.ids[i], want[i]);
	return 0;
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 1000000;
	struct kvm_rmap_head heads[NHEADS] = { { 0 } };
	struct shadow sh[NHEADS] = { { { 0 }, 0 } };
	struct rmap_cache *cache;
	unsigned long next_id = 1;
	/* the known deviations of add's return; every other variant is exact */
	const char *name = pte_list_layout.name ? pte_list_layout.name : "";
	int partial = !strcmp(name, "old") || !strcmp(name, "kvm-2021");
	int after = !strcmp(name, "new");
	int exact_before = !partial && !after;
	int lax = !strcmp(name, "new");

	rng_state = (argc > 2 ? strtoull(argv[2], NULL, 0) : 1) | 1;
	cache = rmap_cache_create(RMAP_ALLOC_LIBC, pte_list_desc_size, 0, 1, 0);
	if (!cache)
		return 2;

	for (long op = 0; op < ops; op++) {
		int h = rnd() % NHEADS;
		struct shadow *s = &sh[h];
		/* bias toward growth until long, then toward shrinking */
		int grow = s->n < MAXLEN &&
			   (int)(rnd() % MAXLEN) >= s->n / 2 + (s->n > 60) * 30;
		int r = rnd() % 100;

		if (r < 3) {
			/* remove an spte that is not there */
			int st = pte_list_remove(cache, to_ptr(1ul << 40), &heads[h]);

			if (st != (lax ? RMAP_WARN : RMAP_BUG))
				return fail(op, "status of absent remove", st, lax);
			if (lax && s->n == 1)
				s->n = 0;	/* new's WARN clears a single head */
		} else if (grow) {
			unsigned long id = next_id++;
			int ret = pte_list_add(cache, to_ptr(id), &heads[h]);

			if (exact_before && ret != s->n)
				return fail(op, "add return (count before)", ret, s->n);
			if (after && ret != s->n + (s->n >= 2))
				return fail(op, "add return (new)", ret, s->n + 1);
			if (!exact_before && !after && (ret > s->n || ret < 0))
				return fail(op, "add return bound", ret, s->n);
			s->ids[s->n++] = id;
		} else if (s->n) {
			int k = rnd() % s->n;
			int st = pte_list_remove(cache, to_ptr(s->ids[k]), &heads[h]);

			if (st != RMAP_OK)
				return fail(op, "status of remove", st, 0);
			s->ids[k] = s->ids[--s->n];
		}
		if ((long)pte_list_count(&heads[h]) != s->n)
			return fail(op, "count", pte_list_count(&heads[h]), s->n);
		if ((op & 63) == 0 && check_walk(&heads[h], s, op))
			return 1;
	}

	for (int h = 0; h < NHEADS; h++) {
		if (check_walk(&heads[h], &sh[h], ops))
			return 1;
		while (sh[h].n) {
			if (pte_list_remove(cache, to_ptr(sh[h].ids[--sh[h].n]),
					    &heads[h]) != RMAP_OK)
				return fail(ops, "teardown remove", 1, 0);
		}
		if (heads[h].val)
			return fail(ops, "head not empty at teardown", heads[h].val, 0);
	}
	if (rmap_cache_live(cache))
		return fail(ops, "descriptors still allocated", rmap_cache_live(cache), 0);
	printf("%s EXT %d: %ld ops, %ld descriptors allocated and all freed\n",
	       pte_list_layout.name, PTE_LIST_EXT, ops, rmap_cache_allocs(cache));
	rmap_cache_destroy(cache);
	return 0;
}
