/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: the measured workloads (DESIGN.md section 5, internals.md
 * sections 1 and 2).
 *
 * A struct rb_work holds one case: its rmap heads, the shadow page table
 * pages the sptes live in, and whatever the phases need precomputed.  Each
 * phase is run as
 *
 *	rb_work_prepare(w, phase);	untimed: build the phase's start state
 *	rb_work_phase(w, phase);	the measured region, nothing else
 *	rb_work_undo(w, phase);		untimed: back to empty, all freed
 *
 * and rb_run_phase() (harness.c) loops that with the clock and the counter
 * group switched on around rb_work_phase() alone.
 *
 * Every repetition starts from the same state: prepare creates a fresh
 * descriptor cache (same mode, size and seed; the last one rewound when
 * undo left it empty, so placements repeat), undo removes every spte and
 * checks that no descriptor is left live.
 */
#ifndef RMAPBENCH_WORKLOADS_H
#define RMAPBENCH_WORKLOADS_H

#include "counters.h"
#include "rmap.h"

enum rb_workload_kind {
	RB_WL_FORK = 0,
	RB_WL_WALK = 1,
	RB_WL_CHURN = 2,
	RB_WL_GUEST = 3,
	RB_WL_NULL = 4,
};

enum rb_phase {
	RB_PH_ADD = 0,
	RB_PH_REMOVE = 1,
	RB_PH_WALK = 2,
	RB_PH_CHURN = 3,
	RB_PH_NULL = 4,
};

enum rb_order {
	RB_ORDER_FIFO = 0,
	RB_ORDER_LIFO = 1,
	RB_ORDER_RANDOM = 2,
};

/* sptes in one shadow page table page, and the bits walk touches */
#define SPT_ENTRIES		512
#define SPT_PAGE_SIZE		(SPT_ENTRIES * sizeof(u64))
#define SPTE_PRESENT		(1ull << 0)
#define SPTE_WRITABLE		(1ull << 1)

struct rb_work;

/*
 * Create a case.  buckets (guest only): nbuckets rows of chain-length
 * histogram, lo[i]..hi[i] inclusive with weight[i].  Returns NULL with
 * errno set: EINVAL for a bad parameter, ENOMEM when out of memory.
 */
struct rb_work *rb_work_create(int workload, int order, int alloc,
			       unsigned long n, unsigned long heads,
			       unsigned long long seed, int nbuckets,
			       const unsigned int *lo, const unsigned int *hi,
			       const unsigned long long *weight);
void rb_work_destroy(struct rb_work *w);

/* Is phase one of w's phases? */
int rb_work_has_phase(const struct rb_work *w, int phase);
/*
 * The page size of the kernel memory (shadow pages, descriptor arenas) of
 * the Workloads this library creates after the call, each keeping it for
 * its whole life: 1 for 2 MiB pages where the host's THP allows (madvise),
 * 0 for 4 KiB pages (the default), -1 to leave it; returns the setting
 * before the call.
 */
int rb_kmem_huge(int on);
/* Bytes of this library's live kernel memory placed for 2 MiB pages. */
unsigned long long rb_kmem_huge_bytes(void);
/* Fault in the arena and the heads now, untimed: 0 or -ENOMEM. */
int rb_work_populate(struct rb_work *w);
/* 0, or -errno (-EINVAL for a phase the workload does not have). */
int rb_work_prepare(struct rb_work *w, int phase);
/* The measured region.  Returns the BUG/WARN statuses it saw. */
long rb_work_phase(struct rb_work *w, int phase);
/* 0, or -EIO when a descriptor or head was left behind. */
int rb_work_undo(struct rb_work *w, int phase);
/* 0, or -EIO when any head (drained by undo or not) still maps something. */
int rb_work_check_empty(struct rb_work *w);

/* Most phases one repetition of rb_run_sequence() runs. */
#define RB_MAX_SEQUENCE 4
/*
 * The workload's phase sequence (workloads.c states its invariant): its
 * length, 0 when it has none; the first `max` phases go to phases[].
 */
int rb_work_sequence(const struct rb_work *w, int *phases, int max);
/* A hash of the rmap (every head's sptes in walk order, live descriptors). */
unsigned long long rb_work_fingerprint(struct rb_work *w);

unsigned long rb_work_ops(const struct rb_work *w, int phase);
unsigned long rb_work_sptes(const struct rb_work *w);
unsigned long long rb_work_footprint(const struct rb_work *w);
long rb_work_peak_descs(const struct rb_work *w);
long rb_work_live_after_undo(const struct rb_work *w);
long rb_work_heads_left(const struct rb_work *w);
int rb_work_arena_grew(const struct rb_work *w);
unsigned long rb_work_chain_len(const struct rb_work *w, unsigned long head);
unsigned long long rb_work_checksum(const struct rb_work *w);

struct rb_phase_result {
	unsigned long long ns;		/* summed over the measured regions */
	unsigned long long ops;		/* per repetition */
	unsigned long long loops;
	unsigned long long footprint;
	long long peak_descs;
	long long bad;			/* BUG/WARN statuses, all repetitions */
	long long live_after;		/* descriptors left after the last undo */
	unsigned long long time_enabled;
	unsigned long long time_running;
	int nvalues;			/* events requested (opened or not) */
	int counters_ok;		/* the group was read */
	unsigned long long values[RB_MAX_EVENTS];	/* request order */
	/* evidence of the regions (harness.c), summed over the repetitions */
	unsigned long long cpu_ns;	/* thread CPU time, window enclosing each region */
	long long nivcsw;		/* involuntary context switches */
	long long nvcsw;		/* voluntary context switches */
	long long minflt;		/* page faults */
	long long majflt;
	int migrations;			/* regions that ended on another CPU */
	int cpu;			/* the CPU the last region ended on */
};

/* harness.c: the measured region and the repetition loop */
int rb_run_phase(struct rb_work *w, int phase, unsigned long loops,
		 struct rb_counters *cg, struct rb_phase_result *res);
int rb_run_empty(unsigned long loops, struct rb_counters *cg,
		 struct rb_phase_result *res);
int rb_run_sequence(struct rb_work *w, unsigned long loops,
		    struct rb_counters *cg, struct rb_phase_result *res,
		    int nres);
/* k of -DRB_INJECT_CHAIN=k (0 when not built with it) */
int rb_inject_chain(void);

#endif
