/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: one perf_event_open group, opened by the measured process on
 * itself (pid 0, any CPU), enabled only around measured regions.
 * See counters.c for the attributes chosen and why.
 */
#ifndef RMAPBENCH_COUNTERS_H
#define RMAPBENCH_COUNTERS_H

#define RB_MAX_EVENTS 32

struct rb_counters;

/*
 * Open events type[i]/config[i], i < n (n <= RB_MAX_EVENTS).  The first
 * that opens leads the group; an event that fails stays out of it, with
 * its errno kept (rb_counters_errno()).  NULL only when out of memory or
 * n is out of range (errno set); a group where nothing opened is valid.
 */
struct rb_counters *rb_counters_open(int n, const unsigned int *type,
				     const unsigned long long *config);
/* The same with config1/config2 per event (NULL: all 0). */
struct rb_counters *rb_counters_open_ext(int n, const unsigned int *type,
					 const unsigned long long *config,
					 const unsigned long long *config1,
					 const unsigned long long *config2);
void rb_counters_close(struct rb_counters *cg);

/*
 * The perf_event_attr rb_counters_open() opens for one event: leader says
 * whether it leads the group (disabled), user_only sets exclude_kernel and
 * exclude_hv.  Exported so `rmapbench events` prints exactly this.
 */
struct perf_event_attr;
void rb_counters_fill_attr(struct perf_event_attr *attr, unsigned int type,
			   unsigned long long config, unsigned long long config1,
			   unsigned long long config2, int leader, int user_only);
unsigned int rb_counters_sizeof_attr(void);

/*
 * Tests: rb_counters_read() returns these reads instead of the group's,
 * one set per call, going round: nsets sets of nevents values, then
 * time_enabled, time_running.  nsets 0: real reads again.  0 or -errno.
 */
int rb_counters_set_fake_reads(struct rb_counters *cg, int nsets,
			       const unsigned long long *sets);

int rb_counters_nevents(const struct rb_counters *cg);
int rb_counters_nopen(const struct rb_counters *cg);
/* 0 when event i is in the group, else the errno of its open. */
int rb_counters_errno(const struct rb_counters *cg, int i);
/* 1 when event i counts user space only (attr.exclude_kernel). */
int rb_counters_exclude_kernel(const struct rb_counters *cg, int i);

/*
 * perf stat's control and ack FIFOs (-1, -1: none): enable and disable then
 * also switch perf stat on and off, around the group's own switch.
 */
void rb_counters_set_control(struct rb_counters *cg, int ctl_fd, int ack_fd);

/*
 * The whole group at once: reset zeroes every member (PERF_IOC_FLAG_GROUP);
 * enable and disable switch the leader, which the members follow.
 * 0, or -1 and errno.
 */
int rb_counters_reset(struct rb_counters *cg);
int rb_counters_enable(struct rb_counters *cg);
int rb_counters_disable(struct rb_counters *cg);
/*
 * values[i] for every requested event i (0 for one that did not open:
 * the caller must look at rb_counters_errno(), never report that 0).
 * Also the group's time enabled and running, in ns.
 */
int rb_counters_read(struct rb_counters *cg, unsigned long long *values,
		     unsigned long long *enabled, unsigned long long *running);

/* Test hook: first-touch npages fresh pages, counted when enable is set. */
long rb_touch_pages(struct rb_counters *cg, long npages, int enable,
		    unsigned long long *values, unsigned long long *enabled,
		    unsigned long long *running);

#endif
