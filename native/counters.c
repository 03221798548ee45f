// SPDX-License-Identifier: GPL-2.0
/*
 * perf_event_open counter group for the measured process.
 *
 * Attributes of every event (rb_counters_fill_attr() builds them, and
 * `rmapbench events` prints exactly what it built):
 *   pid 0, cpu -1		this thread, wherever it runs (it is pinned)
 *   type, config, config1, config2	as resolved by bench/events.py
 *   disabled			leader only: members follow the leader
 *   exclude_kernel, exclude_hv	both set ("user only", perf's :u) or both clear
 *   exclude_guest		set, as perf sets it by default
 *   read_format		GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID
 *
 * So a hardware event is opened exactly as `perf stat -e EVENT:u` opens it
 * and a software event as `perf stat -e EVENT` does (tests/test_perf_attr.py
 * compares the two field by field).
 *
 * exclude_kernel.  The measured code is user space only, and with
 * kernel.perf_event_paranoid = 2 (the common default) an unprivileged
 * process may only open events with exclude_kernel set: anything else is
 * EACCES.  So hardware, hw-cache and raw events always use
 * exclude_kernel = 1, which also keeps the ioctl()s that switch the group
 * on and off out of the counts.  Software events are different: their
 * counts are made in the kernel on the task's behalf.  They are opened
 * with exclude_kernel = 0 first.  If that is refused (EACCES/EPERM), the
 * ones that count the same either way (task-clock, cpu-clock, and the
 * page faults, which are recorded with the faulting user registers) are
 * opened again with exclude_kernel = 1; rb_counters_exclude_kernel() says
 * which.  context-switches and cpu-migrations are recorded with kernel
 * registers: with exclude_kernel = 1 they read 0 however often the task
 * switches (measured), so they are not retried and keep their EACCES.
 *
 * Fake reads (tests only).  rb_counters_set_fake_reads() makes
 * rb_counters_read() return given (value, time_enabled, time_running)
 * triples, one set per call and round again, instead of reading the group
 * (a phase reads twice, at its start and its end, so [start, end] gives
 * every phase the same counts): this is how the
 * multiplexing arithmetic (scaling by enabled/running, the recorded ratio,
 * running == 0) is tested on hosts whose software events are never
 * multiplexed.  The harness sees the fake exactly where it would see a
 * real read.
 *
 * The group is reset once per rb_run_phase(), enabled just before each
 * measured region and disabled right after it, and read once at the end.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "counters.h"

struct rb_counters {
	int n;
	int nopen;
	int leader;			/* fd, or -1 when nothing opened */
	int fd[RB_MAX_EVENTS];		/* -1 for an event that did not open */
	int err[RB_MAX_EVENTS];
	int exclude_kernel[RB_MAX_EVENTS];
	unsigned long long id[RB_MAX_EVENTS];
	/* fake reads: nfake sets of n values + enabled + running; next_fake
	 * is the one the next read returns (they go round) */
	int nfake, next_fake;
	unsigned long long *fake;
	/* perf stat's control FIFOs (--control fifo:CTL,ACK), or -1 */
	int ctl_fd, ack_fd;
};

#define RB_READ_FORMAT (PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | \
			PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID)

static int sys_perf_event_open(struct perf_event_attr *attr, int group_fd)
{
	return syscall(__NR_perf_event_open, attr, 0, -1, group_fd,
		       PERF_FLAG_FD_CLOEXEC);
}

void rb_counters_fill_attr(struct perf_event_attr *attr, unsigned int type,
			   unsigned long long config, unsigned long long config1,
			   unsigned long long config2, int leader, int user_only)
{
	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	attr->type = type;
	attr->config = config;
	attr->config1 = config1;
	attr->config2 = config2;
	attr->disabled = !!leader;
	attr->exclude_kernel = !!user_only;
	attr->exclude_hv = !!user_only;
	attr->exclude_guest = 1;
	attr->read_format = RB_READ_FORMAT;
}

unsigned int rb_counters_sizeof_attr(void)
{
	return sizeof(struct perf_event_attr);
}

static int open_one(unsigned int type, unsigned long long config,
		    unsigned long long config1, unsigned long long config2,
		    int group_fd, int exclude_kernel)
{
	struct perf_event_attr attr;

	rb_counters_fill_attr(&attr, type, config, config1, config2,
			      group_fd < 0, exclude_kernel);
	return sys_perf_event_open(&attr, group_fd);
}

/* Software events whose counts do not depend on exclude_kernel. */
static int sw_user_countable(unsigned int type, unsigned long long config)
{
	if (type != PERF_TYPE_SOFTWARE)
		return 0;
	switch (config) {
	case PERF_COUNT_SW_CPU_CLOCK:
	case PERF_COUNT_SW_TASK_CLOCK:
	case PERF_COUNT_SW_PAGE_FAULTS:
	case PERF_COUNT_SW_PAGE_FAULTS_MIN:
	case PERF_COUNT_SW_PAGE_FAULTS_MAJ:
		return 1;
	}
	return 0;
}

/* Open event i into the group; record its fd or its errno. */
static void counters_add(struct rb_counters *cg, int i, unsigned int type,
			 unsigned long long config, unsigned long long config1,
			 unsigned long long config2)
{
	int excl = type != PERF_TYPE_SOFTWARE;
	int fd;

	fd = open_one(type, config, config1, config2, cg->leader, excl);
	if (fd < 0 && !excl && (errno == EACCES || errno == EPERM) &&
	    sw_user_countable(type, config)) {
		excl = 1;
		fd = open_one(type, config, config1, config2, cg->leader, excl);
	}
	cg->exclude_kernel[i] = excl;
	if (fd < 0) {
		cg->err[i] = errno ? errno : EINVAL;
		return;
	}
	if (ioctl(fd, PERF_EVENT_IOC_ID, &cg->id[i]) < 0) {
		cg->err[i] = errno;
		close(fd);
		return;
	}
	cg->fd[i] = fd;
	if (cg->leader < 0)
		cg->leader = fd;
	cg->nopen++;
}

struct rb_counters *rb_counters_open(int n, const unsigned int *type,
				     const unsigned long long *config)
{
	return rb_counters_open_ext(n, type, config, NULL, NULL);
}

struct rb_counters *rb_counters_open_ext(int n, const unsigned int *type,
					 const unsigned long long *config,
					 const unsigned long long *config1,
					 const unsigned long long *config2)
{
	struct rb_counters *cg;
	int i;

	if (n < 0 || n > RB_MAX_EVENTS) {
		errno = EINVAL;
		return NULL;
	}
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return NULL;
	cg->n = n;
	cg->leader = -1;
	cg->ctl_fd = cg->ack_fd = -1;
	for (i = 0; i < RB_MAX_EVENTS; i++)
		cg->fd[i] = -1;
	for (i = 0; i < n; i++)
		counters_add(cg, i, type[i], config[i],
			     config1 ? config1[i] : 0, config2 ? config2[i] : 0);
	return cg;
}

void rb_counters_close(struct rb_counters *cg)
{
	int i;

	if (!cg)
		return;
	/* members first, the leader last */
	for (i = cg->n - 1; i >= 0; i--)
		if (cg->fd[i] >= 0)
			close(cg->fd[i]);
	free(cg->fake);
	free(cg);
}

int rb_counters_nevents(const struct rb_counters *cg)
{
	return cg->n;
}

int rb_counters_nopen(const struct rb_counters *cg)
{
	return cg->nopen;
}

int rb_counters_errno(const struct rb_counters *cg, int i)
{
	return i >= 0 && i < cg->n ? cg->err[i] : EINVAL;
}

int rb_counters_exclude_kernel(const struct rb_counters *cg, int i)
{
	return i >= 0 && i < cg->n ? cg->exclude_kernel[i] : 0;
}

static int leader_ioctl(struct rb_counters *cg, unsigned long req,
			unsigned long flags)
{
	if (cg->leader < 0)
		return 0;
	return ioctl(cg->leader, req, flags) < 0 ? -1 : 0;
}

/*
 * perf stat as a second counter of the same regions (`run --crosscheck
 * perf-stat`): perf stat --delay=-1 --control fifo:CTL,ACK -t TID starts
 * disabled; enable sends it "enable" and waits for its "ack" before the
 * group is switched on, disable switches the group off before sending
 * "disable", so perf's window encloses the group's by the two ioctls and
 * the FIFO round trips.
 */
void rb_counters_set_control(struct rb_counters *cg, int ctl_fd, int ack_fd)
{
	cg->ctl_fd = ctl_fd;
	cg->ack_fd = ack_fd;
}

static int perf_control(struct rb_counters *cg, const char *cmd)
{
	char ack[16];
	size_t len = strlen(cmd);
	ssize_t got;

	if (cg->ctl_fd < 0)
		return 0;
	if (write(cg->ctl_fd, cmd, len) != (ssize_t)len)
		return -1;
	got = read(cg->ack_fd, ack, sizeof(ack));
	if (got < 3 || memcmp(ack, "ack", 3)) {
		if (got >= 0)
			errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Every member's count is zeroed, not the leader's alone. */
int rb_counters_reset(struct rb_counters *cg)
{
	return leader_ioctl(cg, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP);
}

/*
 * Members are opened enabled and count only while their leader is on, so
 * switching the leader alone switches the group.  A group-wide DISABLE
 * (PERF_IOC_FLAG_GROUP) would turn the members off too, and a group-wide
 * ENABLE was seen not to turn them on again (Linux 6.18, software events:
 * every member read 0 from the second measured region on).
 */
int rb_counters_enable(struct rb_counters *cg)
{
	if (perf_control(cg, "enable\n"))
		return -1;
	return leader_ioctl(cg, PERF_EVENT_IOC_ENABLE, 0);
}

int rb_counters_disable(struct rb_counters *cg)
{
	int ret = leader_ioctl(cg, PERF_EVENT_IOC_DISABLE, 0);

	if (perf_control(cg, "disable\n"))
		return -1;
	return ret;
}

/*
 * Fake reads: sets[k * (n + 2) + j] is value j of read k (j < n), then
 * time_enabled and time_running; after the last set the first comes again.
 * nsets 0 switches back to real reads.
 * Values of events that did not open stay 0, as in a real read.
 */
int rb_counters_set_fake_reads(struct rb_counters *cg, int nsets,
			       const unsigned long long *sets)
{
	size_t sz = (size_t)nsets * (cg->n + 2) * sizeof(*sets);

	if (nsets < 0)
		return -EINVAL;
	free(cg->fake);
	cg->fake = NULL;
	cg->nfake = cg->next_fake = 0;
	if (!nsets)
		return 0;
	cg->fake = malloc(sz);
	if (!cg->fake)
		return -ENOMEM;
	memcpy(cg->fake, sets, sz);
	cg->nfake = nsets;
	return 0;
}

static int fake_read(struct rb_counters *cg, unsigned long long *values,
		     unsigned long long *enabled, unsigned long long *running)
{
	const unsigned long long *set;
	int k = cg->next_fake, i;

	cg->next_fake = (k + 1) % cg->nfake;
	set = cg->fake + (size_t)k * (cg->n + 2);
	for (i = 0; i < cg->n; i++)
		values[i] = cg->fd[i] >= 0 ? set[i] : 0;
	*enabled = set[cg->n];
	*running = set[cg->n + 1];
	return 0;
}

int rb_counters_read(struct rb_counters *cg, unsigned long long *values,
		     unsigned long long *enabled, unsigned long long *running)
{
	/* nr, time_enabled, time_running, then { value, id } per member */
	unsigned long long buf[3 + 2 * RB_MAX_EVENTS];
	unsigned long long k;
	ssize_t want = (3 + 2 * cg->nopen) * sizeof(buf[0]), got;
	int i;

	memset(values, 0, cg->n * sizeof(*values));
	*enabled = *running = 0;
	if (cg->nfake)
		return fake_read(cg, values, enabled, running);
	if (cg->leader < 0)
		return 0;
	got = read(cg->leader, buf, sizeof(buf));
	if (got != want) {
		if (got >= 0)
			errno = EIO;
		return -1;
	}
	*enabled = buf[1];
	*running = buf[2];
	for (k = 0; k < buf[0]; k++) {
		for (i = 0; i < cg->n; i++) {
			if (cg->fd[i] >= 0 && cg->id[i] == buf[4 + 2 * k])
				values[i] = buf[3 + 2 * k];
		}
	}
	return 0;
}

long rb_touch_pages(struct rb_counters *cg, long npages, int enable,
		    unsigned long long *values, unsigned long long *enabled,
		    unsigned long long *running)
{
	long page = sysconf(_SC_PAGESIZE), i;
	volatile char *p;

	p = mmap(NULL, npages * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* no transparent huge page may turn K faults into one */
	madvise((void *)p, npages * page, MADV_NOHUGEPAGE);
	if (rb_counters_reset(cg))
		goto fail;
	if (enable && rb_counters_enable(cg))
		goto fail;
	for (i = 0; i < npages; i++)
		p[i * page] = 1;
	if (enable && rb_counters_disable(cg))
		goto fail;
	if (rb_counters_read(cg, values, enabled, running))
		goto fail;
	munmap((void *)p, npages * page);
	return npages;
fail:
	i = -errno;
	munmap((void *)p, npages * page);
	return i;
}
