// SPDX-License-Identifier: GPL-2.0
/*
 * Every phase of every workload, through rb_run_phase(), and the phase
 * sequence of the workloads that have one, through rb_run_sequence(), for
 * one small case per (workload, order, allocator), half of them populated
 * first (rb_work_populate): built with ASan and UBSan by
 * tests/test_workloads.py.  Any BUG/WARN status, descriptor left live,
 * head left set or arena outgrown is a failure; the sanitizers catch the
 * rest (out-of-bounds spte or descriptor access, use after free, leaks).
 * One larger case runs with kernel memory on 2 MiB pages (rb_kmem_huge):
 * its regions must be placed for them, and its accounting return to 0.
 *
 * usage: run_workloads N HEADS SEED
 */
#include <stdio.h>
#include <stdlib.h>

#include "workloads.h"

static const unsigned int lo[] = { 0, 1, 2, 4, 8, 16 };
static const unsigned int hi[] = { 0, 1, 3, 7, 15, 40 };
static const unsigned long long weight[] = { 50, 20, 10, 5, 3, 2 };

static int run_one(int kind, int order, int alloc, unsigned long n,
		   unsigned long heads, unsigned long long seed, int huge)
{
	struct rb_phase_result res, sres[RB_MAX_SEQUENCE];
	int seq[RB_MAX_SEQUENCE], nseq, k;
	struct rb_work *w;
	int phase, ret, fails = 0;

	w = rb_work_create(kind, order, alloc, n, heads, seed, 6, lo, hi,
			   weight);
	if (!w) {
		fprintf(stderr, "create %d/%d/%d failed\n", kind, order, alloc);
		return 1;
	}
	/* the Workload keeps the page size it was created with */
	if (huge)
		rb_kmem_huge(0);
	/* half the cases with their memory populated first, as the worker does */
	if ((huge || (kind + order + alloc) % 2 == 0) && rb_work_populate(w)) {
		fprintf(stderr, "populate %d/%d/%d failed\n", kind, order, alloc);
		rb_work_destroy(w);
		return 1;
	}
	/* asked for 2 MiB pages: the spt and the arena are placed for them */
	if (huge && rb_kmem_huge_bytes() < (4u << 20)) {
		fprintf(stderr, "only %llu bytes placed for 2 MiB pages\n",
			rb_kmem_huge_bytes());
		fails++;
	}
	for (phase = RB_PH_ADD; phase <= RB_PH_NULL; phase++) {
		if (!rb_work_has_phase(w, phase))
			continue;
		ret = rb_run_phase(w, phase, 2, NULL, &res);
		if (ret || res.bad || res.live_after || rb_work_heads_left(w) ||
		    rb_work_arena_grew(w) || res.ops != rb_work_ops(w, phase)) {
			fprintf(stderr,
				"%s: workload %d phase %d order %d alloc %d: ret %d bad %lld live %lld grew %d\n",
				pte_list_layout.name, kind, phase, order, alloc,
				ret, res.bad, res.live_after,
				rb_work_arena_grew(w));
			fails++;
		}
	}
	nseq = rb_work_sequence(w, seq, RB_MAX_SEQUENCE);
	if (nseq > 0) {
		ret = rb_run_sequence(w, 3, NULL, sres, nseq);
		for (k = 0; k < nseq && !ret; k++) {
			if (sres[k].bad || sres[k].live_after || sres[k].loops != 3 ||
			    sres[k].ops != rb_work_ops(w, seq[k]))
				ret = -1;
		}
		if (ret || rb_work_heads_left(w) || rb_work_arena_grew(w)) {
			fprintf(stderr, "%s: workload %d sequence order %d alloc %d: ret %d\n",
				pte_list_layout.name, kind, order, alloc, ret);
			fails++;
		}
	}
	rb_work_destroy(w);
	return fails;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 20;
	unsigned long heads = argc > 2 ? strtoul(argv[2], NULL, 0) : 600;
	unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	int kind, order, alloc, fails = 0, runs = 0;

	for (kind = RB_WL_FORK; kind <= RB_WL_NULL; kind++) {
		for (order = RB_ORDER_FIFO; order <= RB_ORDER_RANDOM; order++) {
			for (alloc = RMAP_ALLOC_BUMP; alloc <= RMAP_ALLOC_LIBC; alloc++) {
				fails += run_one(kind, order, alloc, n, heads, seed, 0);
				runs++;
			}
		}
	}
	/*
	 * 2 MiB of shadow pages and a scattered arena of several MiB, on 2 MiB
	 * pages (run_one resets the setting once the Workload is created)
	 */
	rb_kmem_huge(1);
	fails += run_one(RB_WL_FORK, RB_ORDER_FIFO, RMAP_ALLOC_SCATTER, 16, 16384, seed, 1);
	runs++;
	rb_kmem_huge(0);
	if (rb_kmem_huge_bytes()) {
		fprintf(stderr, "%llu bytes on 2 MiB pages left accounted\n",
			rb_kmem_huge_bytes());
		fails++;
	}
	printf("%s: %d cases, %d failures\n", pte_list_layout.name, runs, fails);
	return fails != 0;
}
