// SPDX-License-Identifier: GPL-2.0
/*
 * sim_driver: the workloads under callgrind's cache simulator.
 *
 * usage: valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
 *		sim_driver CASEFILE
 *
 * CASEFILE has one line per (case, phase):
 *
 *	<tag> <workload> <phase> <order> <alloc> <n> <heads> <seed> [hist=H]
 *
 * with workload fork|walk|churn|guest|null, phase add|remove|walk|churn|
 * null, order fifo|lifo|random, alloc bump|slab|scatter|libc.  The guest
 * workload takes its chain-length histogram as H = lo:hi:weight[,...].
 * Blank lines and lines starting with '#' are skipped.
 *
 * For each line: create the case, prepare the phase (collection off),
 * zero callgrind's counters, switch collection on around the phase alone,
 * dump the counters under the tag, undo, and print
 *
 *	<tag> ops=<ops> footprint=<bytes> peak_descs=<n> bad=<n>
 *
 * Collection is off, but instrumentation (and so the simulated caches)
 * stays on during prepare and undo: the measured region starts with the
 * caches as prepare left them, as on real hardware.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/callgrind.h>

#include "iface.h"
#include "workloads.h"

#define MAX_BUCKETS 64
#define LINE_MAX_LEN 4096

#define lookup(kind, s) __lookup(rb_##kind##_names, rb_##kind##_count, s)

static int __lookup(const char *const *table, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (table[i] && !strcmp(table[i], s))
			return i;
	return -1;
}

struct sim_case {
	char tag[256];
	int workload, phase, order, alloc;
	unsigned long n, heads;
	unsigned long long seed;
	int nb;
	unsigned int lo[MAX_BUCKETS], hi[MAX_BUCKETS];
	unsigned long long weight[MAX_BUCKETS];
};

static int parse_hist(struct sim_case *sc, char *s)
{
	char *tok, *save;

	sc->nb = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (sc->nb == MAX_BUCKETS)
			return -1;
		if (sscanf(tok, "%u:%u:%llu", &sc->lo[sc->nb], &sc->hi[sc->nb],
			   &sc->weight[sc->nb]) != 3)
			return -1;
		sc->nb++;
	}
	return sc->nb ? 0 : -1;
}

static int parse_line(struct sim_case *sc, char *line)
{
	char wl[32], ph[32], ord[32], al[32], hist[LINE_MAX_LEN];
	int got;

	memset(sc, 0, sizeof(*sc));
	hist[0] = 0;
	got = sscanf(line, "%255s %31s %31s %31s %31s %lu %lu %llu %4095s",
		     sc->tag, wl, ph, ord, al, &sc->n, &sc->heads, &sc->seed,
		     hist);
	if (got < 8)
		return -1;
	sc->workload = lookup(workload, wl);
	sc->phase = lookup(phase, ph);
	sc->order = lookup(order, ord);
	sc->alloc = lookup(alloc, al);
	if (sc->workload < 0 || sc->phase < 0 || sc->order < 0 || sc->alloc < 0)
		return -1;
	if (got == 9) {
		if (strncmp(hist, "hist=", 5) || parse_hist(sc, hist + 5))
			return -1;
	}
	return 0;
}

/* 0, 1 when the case failed, 2 when it is not a valid case */
static int run_case(const struct sim_case *sc)
{
	struct rb_work *w;
	long bad;
	int ret;

	w = rb_work_create(sc->workload, sc->order, sc->alloc, sc->n,
			   sc->heads, sc->seed, sc->nb, sc->lo, sc->hi,
			   sc->weight);
	if (!w) {
		fprintf(stderr, "%s: cannot create case: %s\n", sc->tag,
			strerror(errno));
		return 1;
	}
	if (!rb_work_has_phase(w, sc->phase)) {
		fprintf(stderr, "%s: workload %s has no phase %s\n", sc->tag,
			rb_workload_names[sc->workload],
			rb_phase_names[sc->phase]);
		rb_work_destroy(w);
		return 2;
	}
	ret = rb_work_prepare(w, sc->phase);
	if (ret) {
		fprintf(stderr, "%s: prepare: %s\n", sc->tag, strerror(-ret));
		goto out;
	}

	CALLGRIND_ZERO_STATS;
	CALLGRIND_TOGGLE_COLLECT;
	bad = rb_work_phase(w, sc->phase);
	CALLGRIND_TOGGLE_COLLECT;
	CALLGRIND_DUMP_STATS_AT(sc->tag);

	ret = rb_work_undo(w, sc->phase);
	if (!ret)
		ret = rb_work_check_empty(w);
	if (ret) {
		fprintf(stderr, "%s: undo left %ld descriptors, %ld heads\n",
			sc->tag, rb_work_live_after_undo(w),
			rb_work_heads_left(w));
		goto out;
	}
	printf("%s ops=%lu footprint=%llu peak_descs=%ld bad=%ld\n", sc->tag,
	       rb_work_ops(w, sc->phase), rb_work_footprint(w),
	       rb_work_peak_descs(w), bad);
	fflush(stdout);
out:
	rb_work_destroy(w);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	static char line[LINE_MAX_LEN];
	struct sim_case sc;
	FILE *f;
	int lineno = 0, ret = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CASEFILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p == '\n' || *p == '#' || !*p)
			continue;
		if (parse_line(&sc, p)) {
			fprintf(stderr, "%s:%d: bad case line\n", argv[1], lineno);
			ret = 2;
			break;
		}
		ret = run_case(&sc);
		if (ret)
			break;
	}
	fclose(f);
	return ret;
}
