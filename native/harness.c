// SPDX-License-Identifier: GPL-2.0
/*
 * The harness: the measured region, its counters and the repetition loop.
 * The workloads (workloads.c) are what it runs.
 *
 * One repetition of a phase is
 *
 *	rb_work_prepare()				untimed
 *	evidence_begin(): rusage, CPU, thread CPU time
 *	  counters on, CLOCK_MONOTONIC t0
 *	    rb_work_phase()				the measured region
 *	  CLOCK_MONOTONIC t1, counters off
 *	evidence_end(): thread CPU time, CPU, rusage
 *	rb_work_undo()					untimed
 *
 * The thread CPU time window encloses the wall window, so for an
 * undisturbed region cpu_ns >= ns (the difference is the counter ioctls);
 * wall time beyond CPU time is time the thread was not running.  The
 * evidence (involuntary and voluntary context switches, page faults, the
 * CPU at both ends) comes from getrusage(RUSAGE_THREAD) and sched_getcpu(),
 * which need no perf permission; it is read outside the wall window so it
 * costs the region nothing.  Python decides from it whether a value was
 * disturbed (docs/measurement.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "counters.h"
#include "workloads.h"

static unsigned long long ts_ns(const struct timespec *ts)
{
	return (unsigned long long)ts->tv_sec * 1000000000ull + ts->tv_nsec;
}

struct evidence {
	struct rusage ru;
	struct timespec cpu;
	int on_cpu;
};

static void evidence_begin(struct evidence *e)
{
	getrusage(RUSAGE_THREAD, &e->ru);
	e->on_cpu = sched_getcpu();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &e->cpu);
}

static void evidence_end(const struct evidence *b, struct rb_phase_result *res)
{
	struct evidence e;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &e.cpu);
	e.on_cpu = sched_getcpu();
	getrusage(RUSAGE_THREAD, &e.ru);
	res->cpu_ns += ts_ns(&e.cpu) - ts_ns(&b->cpu);
	res->nivcsw += e.ru.ru_nivcsw - b->ru.ru_nivcsw;
	res->nvcsw += e.ru.ru_nvcsw - b->ru.ru_nvcsw;
	res->minflt += e.ru.ru_minflt - b->ru.ru_minflt;
	res->majflt += e.ru.ru_majflt - b->ru.ru_majflt;
	res->migrations += e.on_cpu != b->on_cpu;
	res->cpu = e.on_cpu;
}

/*
 * RESET zeroes the counts but not time_enabled/time_running, so the
 * group's times at the start are read (untimed) and subtracted at the end.
 */
/*
 * The bracket of one measured region.  rb_run_phase() and rb_run_empty()
 * both use exactly this pair, so the empty region's cost is the cost that
 * every phase value carries (nanoBench-style subtraction relies on it).
 */
static inline void region_enter(struct evidence *ev, struct rb_counters *cg,
				struct timespec *t0)
{
	evidence_begin(ev);
	if (cg)
		rb_counters_enable(cg);
	clock_gettime(CLOCK_MONOTONIC, t0);
}

static inline void region_exit(struct evidence *ev, struct rb_counters *cg,
			       const struct timespec *t0,
			       struct rb_phase_result *res)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cg)
		rb_counters_disable(cg);
	evidence_end(ev, res);
	res->ns += ts_ns(&t1) - ts_ns(t0);
}

static int counters_start(struct rb_counters *cg, unsigned long long *base,
			  unsigned long long *en0, unsigned long long *run0)
{
	if (cg && (rb_counters_reset(cg) || rb_counters_read(cg, base, en0, run0)))
		return -errno;
	return 0;
}

/*
 * Read the group and add what it counted since (base, en0, run0) to res:
 * once at the end of rb_run_phase() (res zeroed: the sum over its regions),
 * once per region in rb_run_sequence() (each phase its own regions).
 */
static int counters_finish(struct rb_counters *cg, const unsigned long long *base,
			   unsigned long long en0, unsigned long long run0,
			   struct rb_phase_result *res)
{
	unsigned long long now[RB_MAX_EVENTS], en, run;
	int k;

	if (!cg)
		return 0;
	res->nvalues = rb_counters_nevents(cg);
	if (rb_counters_read(cg, now, &en, &run))
		return -errno;
	for (k = 0; k < res->nvalues; k++)
		res->values[k] += now[k] - base[k];
	res->time_enabled += en - en0;
	res->time_running += run - run0;
	res->counters_ok = 1;
	return 0;
}

/*
 * Run `loops` repetitions of one phase.  The group is reset once here,
 * enabled and disabled around each measured region, and read at the end,
 * so its counts (and its enabled/running times) are sums over the
 * measured regions alone; so are ns and the evidence.
 */
int rb_run_phase(struct rb_work *w, int phase, unsigned long loops,
		 struct rb_counters *cg, struct rb_phase_result *res)
{
	unsigned long long base[RB_MAX_EVENTS], en0 = 0, run0 = 0;
	struct timespec t0;
	struct evidence ev;
	unsigned long i;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!rb_work_has_phase(w, phase) || !loops)
		return -EINVAL;
	ret = counters_start(cg, base, &en0, &run0);
	if (ret)
		return ret;
	for (i = 0; i < loops; i++) {
		ret = rb_work_prepare(w, phase);
		if (ret)
			return ret;
		region_enter(&ev, cg, &t0);
		res->bad += rb_work_phase(w, phase);
		region_exit(&ev, cg, &t0, res);
		ret = rb_work_undo(w, phase);
		if (ret)
			return ret;
	}
	ret = rb_work_check_empty(w);
	if (ret)
		return ret;
	res->loops = loops;
	res->ops = rb_work_ops(w, phase);
	res->footprint = rb_work_footprint(w);
	res->peak_descs = rb_work_peak_descs(w);
	res->live_after = rb_work_live_after_undo(w);
	return counters_finish(cg, base, en0, run0, res);
}

/*
 * Run `loops` repetitions of the workload's phase sequence (fork, guest:
 * add, then remove): one prepare, then every phase of the sequence as its
 * own measured region, back to back, then one undo.  The sequence's
 * invariant (workloads.c) makes each region start from the state its own
 * prepare would build, so res[k] measures what rb_run_phase() of phase k
 * measures, at a fraction of the untimed work: no undo after add, no
 * second add before remove.  res[0 .. nres) get the phases in sequence
 * order (rb_work_sequence()); nres must be the sequence's length.
 *
 * Counters: reset once, read (untimed, outside the wall window) on both
 * sides of each region, and each region's difference summed into its own
 * phase; so each result's counts, like its ns and evidence, are sums over
 * its own regions alone.
 */
int rb_run_sequence(struct rb_work *w, unsigned long loops,
		    struct rb_counters *cg, struct rb_phase_result *res,
		    int nres)
{
	unsigned long long a[RB_MAX_EVENTS], en_a = 0, run_a = 0;
	int seq[RB_MAX_SEQUENCE], nseq, k, ret;
	struct timespec t0;
	struct evidence ev;
	unsigned long i;

	nseq = rb_work_sequence(w, seq, RB_MAX_SEQUENCE);
	if (nseq < 1 || nseq != nres || !loops)
		return -EINVAL;
	memset(res, 0, nres * sizeof(*res));
	if (cg && rb_counters_reset(cg))
		return -errno;
	for (i = 0; i < loops; i++) {
		ret = rb_work_prepare(w, seq[0]);
		if (ret)
			return ret;
		for (k = 0; k < nseq; k++) {
			if (cg && rb_counters_read(cg, a, &en_a, &run_a))
				return -errno;
			region_enter(&ev, cg, &t0);
			res[k].bad += rb_work_phase(w, seq[k]);
			region_exit(&ev, cg, &t0, &res[k]);
			ret = counters_finish(cg, a, en_a, run_a, &res[k]);
			if (ret)
				return ret;
		}
		ret = rb_work_undo(w, seq[nseq - 1]);
		if (ret)
			return ret;
	}
	ret = rb_work_check_empty(w);
	if (ret)
		return ret;
	for (k = 0; k < nseq; k++) {
		res[k].loops = loops;
		res[k].ops = rb_work_ops(w, seq[k]);
		res[k].footprint = rb_work_footprint(w);
		res[k].peak_descs = rb_work_peak_descs(w);
		res[k].live_after = rb_work_live_after_undo(w);
	}
	return 0;
}

/*
 * The fixed cost of one repetition, nanoBench-style: `loops` empty
 * regions bracketed exactly as rb_run_phase() brackets a phase (counters
 * on, two clock reads, counters off).  ns is what the clock reads cost
 * inside the wall window; the counts are what the enable/disable ioctls
 * add to each value.  ops is 1.
 */
int rb_run_empty(unsigned long loops, struct rb_counters *cg,
		 struct rb_phase_result *res)
{
	unsigned long long base[RB_MAX_EVENTS], en0 = 0, run0 = 0;
	struct timespec t0;
	struct evidence ev;
	unsigned long i;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!loops)
		return -EINVAL;
	ret = counters_start(cg, base, &en0, &run0);
	if (ret)
		return ret;
	for (i = 0; i < loops; i++) {
		region_enter(&ev, cg, &t0);
		asm volatile("" ::: "memory");
		region_exit(&ev, cg, &t0, res);
	}
	res->loops = loops;
	res->ops = 1;
	return counters_finish(cg, base, en0, run0, res);
}
