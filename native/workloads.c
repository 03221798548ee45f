// SPDX-License-Identifier: GPL-2.0
/*
 * The measured workloads: fork, walk, churn, guest and null.
 *
 * sptes live in shadow page table pages: page aligned, SPT_ENTRIES 8-byte
 * entries each.  A "child" (a forked guest task, under shadow paging) owns
 * its own run of pages; its spte for guest page h is entry h % 512 of its
 * page h / 512, so child c's spte for head h is simply
 *
 *	spt + c * pages_per_child * SPT_ENTRIES + h
 *
 * and the rmap stores real pointers into spte memory.  The guest workload
 * packs each child's sptes: child c maps only the heads whose chain is
 * longer than c, in increasing head order, in its own pages.
 *
 * Nothing in a measured region allocates outside the descriptor cache or
 * reads anything but the rmap, the spte memory it points to, and (churn,
 * guest) one precomputed sequential array; the null workload shows what
 * the loop itself costs.
 *
 * All random choices come from one seeded generator (splitmix64), in
 * rb_work_create(): the same seed gives the same case, bit for bit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "workloads.h"

#define CACHELINE	64
#define DESC_SLACK	64
#define GUEST_MAX_LEN	(1u << 20)

struct churn_op {
	u64 *remove;
	u64 *add;
	struct kvm_rmap_head *head;
};

/* guest only: the chain-length histogram rows */
struct rb_hist {
	int nb;
	const unsigned int *lo;
	const unsigned int *hi;
	const unsigned long long *weight;
};

/*
 * What one workload kind does, looked up by kind as the kernel looks up
 * its rmap handlers: the phases it has (a bit per enum rb_phase), its
 * set-up, the start state of a phase (untimed), the measured region, and
 * the ops one repetition of a phase performs.
 *
 * sequence: phases that one repetition may run back to back, each its own
 * measured region (rb_run_sequence(), harness.c).  Invariant: each phase
 * of the sequence starts from exactly the state the one before it ends in,
 * and that is the state its own prepare builds (fork, guest: remove starts
 * from every spte added, which is where add ends); the first is prepared,
 * the last undone.  rb_work_sequence() states it to Python, and
 * tests/test_sequence.py checks it for every variant by fingerprint.
 */
struct rb_workload_ops {
	const char *name;
	unsigned int phases;
	int sequence[RB_MAX_SEQUENCE];
	int nsequence;
	int (*init)(struct rb_work *w, const struct rb_hist *hist);
	void (*prepare)(struct rb_work *w, int phase);
	long (*run)(struct rb_work *w, int phase);
	unsigned long (*ops)(const struct rb_work *w);
};

struct rb_work {
	const struct rb_workload_ops *ops;
	int kind;
	int order;
	int alloc;
	unsigned long n;
	unsigned long heads;
	u64 seed;

	struct kvm_rmap_head *rmap;
	u64 *spt;			/* shadow page table pages */
	size_t spt_placed;		/* rb_kmem_alloc()'s *placed for spt */
	int kmem_huge;			/* rb_kmem_huge() when created: spt, arenas */
	size_t spt_entries;		/* all of them, page multiple */
	unsigned long child_stride;	/* entries per child (fork, walk, churn) */
	unsigned long nchildren;
	unsigned int *exit_order;	/* fork, guest */
	unsigned long max_len;		/* longest chain */
	unsigned long sptes;		/* distinct sptes the case uses */

	/* guest: child c maps heads child_heads[first[c] .. first[c + 1]) */
	unsigned int *len;
	unsigned long *child_first;
	unsigned int *child_heads;
	unsigned long *child_spt;	/* entry offset of child c's pages */

	/* churn: the (remove, add) pairs, generated once */
	struct churn_op *churn;
	unsigned long nchurn;

	/* undo's scratch: one head's sptes */
	u64 **scratch;
	/*
	 * The heads the phases can map, which undo drains: undo_heads[0 ..
	 * nundo) (guest: the heads with a chain, most have none), or every
	 * head when undo_heads is NULL.  rb_work_check_empty() looks at all.
	 */
	const unsigned int *undo_heads;
	unsigned long nundo;

	struct rmap_cache *cache;
	size_t expected;		/* descriptors the cache is sized for */
	size_t arena0;
	size_t stride;
	long peak;
	long live_after;
	long heads_left;
	int arena_grew;
	u64 checksum;
};

/* ---- the seeded generator ---- */

struct rb_rng {
	u64 s;
};

static void rb_rng_init(struct rb_rng *r, u64 seed, u64 stream)
{
	r->s = seed * 0x9e3779b97f4a7c15ull ^ (stream << 56 | stream);
}

static u64 rb_rng_next(struct rb_rng *r)
{
	u64 z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, bound), bound > 0 (multiply-shift, bias < 2^-32). */
static u64 rb_rng_below(struct rb_rng *r, u64 bound)
{
	return (u64)(((unsigned __int128)rb_rng_next(r) * bound) >> 64);
}

enum { RNG_EXIT = 1, RNG_CHURN = 2, RNG_GUEST = 3 };

/* ---- case setup (untimed) ---- */

static unsigned long div_round_up(unsigned long x, unsigned long d)
{
	return (x + d - 1) / d;
}

static int alloc_array(void *pp, size_t nmemb, size_t size)
{
	void **p = pp;

	*p = calloc(nmemb ? nmemb : 1, size);
	return *p ? 0 : -ENOMEM;
}

/* Page-aligned spte memory, every entry present and writable. */
static int spt_alloc(struct rb_work *w, size_t entries)
{
	size_t i, bytes;

	if (__builtin_mul_overflow(entries, sizeof(u64), &bytes))
		return -ENOMEM;
	w->spt = rb_kmem_alloc(bytes ? bytes : SPT_PAGE_SIZE, SPT_PAGE_SIZE, w->kmem_huge,
			       &w->spt_placed);
	if (!w->spt)
		return -ENOMEM;
	w->spt_entries = entries;
	for (i = 0; i < entries; i++)
		w->spt[i] = (u64)i << 12 | SPTE_WRITABLE | SPTE_PRESENT;
	return 0;
}

static u64 *child_spte(struct rb_work *w, unsigned long c, unsigned long h)
{
	return w->spt + c * w->child_stride + h;
}

static int exit_order_init(struct rb_work *w)
{
	unsigned long i, j, nc = w->nchildren;
	unsigned int *o;
	struct rb_rng rng;

	if (alloc_array(&w->exit_order, nc, sizeof(*o)))
		return -ENOMEM;
	o = w->exit_order;
	for (i = 0; i < nc; i++)
		o[i] = w->order == RB_ORDER_LIFO ? nc - 1 - i : i;
	if (w->order != RB_ORDER_RANDOM)
		return 0;
	rb_rng_init(&rng, w->seed, RNG_EXIT);
	for (i = nc - 1; i > 0; i--) {
		unsigned int t;

		j = rb_rng_below(&rng, i + 1);
		t = o[i];
		o[i] = o[j];
		o[j] = t;
	}
	return 0;
}

/* Descriptors a chain of len sptes needs at most, in every variant. */
static size_t chain_descs(unsigned long len)
{
	return len < 2 ? 0 : div_round_up(len, PTE_LIST_EXT);
}

static int setup_children(struct rb_work *w, unsigned long nchildren)
{
	size_t entries;

	w->child_stride = div_round_up(w->heads, SPT_ENTRIES) * SPT_ENTRIES;
	w->nchildren = nchildren;
	if (__builtin_mul_overflow(w->child_stride, nchildren, &entries))
		return -ENOMEM;
	w->expected = w->heads * chain_descs(w->max_len) + DESC_SLACK;
	return spt_alloc(w, entries);
}

/*
 * churn: every head starts with children 0..n-1 and has n more spte slots
 * (children n..2n-1) that are absent.  Each pair removes a random present
 * spte of a random head and adds the head's longest-absent slot, so the
 * spte added is never the one just removed.
 */
static int churn_init(struct rb_work *w)
{
	unsigned long n = w->n, h, i, k, q;
	unsigned int *present, *absent, *qpos;
	struct rb_rng rng;
	int ret = -ENOMEM;

	w->nchurn = w->heads * n;
	if (alloc_array(&w->churn, w->nchurn, sizeof(*w->churn)))
		return -ENOMEM;
	present = calloc(w->heads * n, sizeof(*present));
	absent = calloc(w->heads * n, sizeof(*absent));
	qpos = calloc(w->heads, sizeof(*qpos));
	if (!present || !absent || !qpos)
		goto out;
	for (h = 0; h < w->heads; h++) {
		for (i = 0; i < n; i++) {
			present[h * n + i] = i;
			absent[h * n + i] = n + i;
		}
	}
	rb_rng_init(&rng, w->seed, RNG_CHURN);
	for (k = 0; k < w->nchurn; k++) {
		unsigned int gone, fresh;

		h = rb_rng_below(&rng, w->heads);
		i = rb_rng_below(&rng, n);
		q = qpos[h];
		gone = present[h * n + i];
		fresh = absent[h * n + q];
		present[h * n + i] = fresh;
		absent[h * n + q] = gone;
		qpos[h] = (q + 1) % n;
		w->churn[k].remove = child_spte(w, gone, h);
		w->churn[k].add = child_spte(w, fresh, h);
		w->churn[k].head = &w->rmap[h];
	}
	ret = 0;
out:
	free(present);
	free(absent);
	free(qpos);
	return ret;
}

static long pick_bucket(struct rb_rng *rng, int nb, const unsigned long long *weight,
			unsigned long long total)
{
	unsigned long long x = rb_rng_below(rng, total);
	int b;

	for (b = 0; b < nb; b++) {
		if (x < weight[b])
			return b;
		x -= weight[b];
	}
	return nb - 1;
}

/*
 * guest: draw each head's chain length from the histogram (bucket by
 * weight, then uniform in [lo, hi]), then lay out one child per chain
 * position, each with its own packed spte pages.
 */
static int guest_init(struct rb_work *w, int nb, const unsigned int *lo,
		      const unsigned int *hi, const unsigned long long *weight)
{
	unsigned long long total = 0;
	unsigned long h, c, k, off = 0, *fill;
	struct rb_rng rng;
	int b;

	for (b = 0; b < nb; b++) {
		if (lo[b] > hi[b] || hi[b] > GUEST_MAX_LEN ||
		    __builtin_add_overflow(total, weight[b], &total))
			return -EINVAL;
	}
	if (!total)
		return -EINVAL;
	if (alloc_array(&w->len, w->heads, sizeof(*w->len)))
		return -ENOMEM;
	rb_rng_init(&rng, w->seed, RNG_GUEST);
	for (h = 0; h < w->heads; h++) {
		b = pick_bucket(&rng, nb, weight, total);
		w->len[h] = lo[b] + rb_rng_below(&rng, (u64)hi[b] - lo[b] + 1);
		w->sptes += w->len[h];
		if (w->len[h] > w->max_len)
			w->max_len = w->len[h];
		w->expected += chain_descs(w->len[h]);
	}
	w->expected += DESC_SLACK;
	w->nchildren = w->max_len;
	if (alloc_array(&w->child_first, w->nchildren + 1, sizeof(unsigned long)) ||
	    alloc_array(&w->child_spt, w->nchildren + 1, sizeof(unsigned long)) ||
	    alloc_array(&w->child_heads, w->sptes, sizeof(unsigned int)))
		return -ENOMEM;
	/* child c maps the heads longer than c */
	for (h = 0; h < w->heads; h++)
		for (c = 0; c < w->len[h]; c++)
			w->child_first[c + 1]++;
	for (c = 0; c < w->nchildren; c++) {
		unsigned long cnt = w->child_first[c + 1];

		w->child_first[c + 1] = w->child_first[c] + cnt;
		w->child_spt[c] = off;
		off += div_round_up(cnt, SPT_ENTRIES) * SPT_ENTRIES;
	}
	w->child_spt[w->nchildren] = off;
	if (alloc_array(&fill, w->nchildren + 1, sizeof(*fill)))
		return -ENOMEM;
	for (h = 0; h < w->heads; h++) {
		for (c = 0; c < w->len[h]; c++) {
			k = w->child_first[c] + fill[c]++;
			w->child_heads[k] = h;
		}
	}
	free(fill);
	/* child 0 maps every head with a chain: those are all undo drains */
	w->undo_heads = w->child_heads;
	w->nundo = w->nchildren ? w->child_first[1] : 0;
	return spt_alloc(w, off);
}

static const struct rb_workload_ops *workload_ops(int kind);

static int work_check(int kind, int order, int alloc, unsigned long n,
		      unsigned long heads)
{
	if (kind < RB_WL_FORK || kind > RB_WL_NULL)
		return -EINVAL;
	if (order < RB_ORDER_FIFO || order > RB_ORDER_RANDOM)
		return -EINVAL;
	if (alloc < RMAP_ALLOC_BUMP || alloc > RMAP_ALLOC_LIBC)
		return -EINVAL;
	if (!heads || heads > (1ul << 32))
		return -EINVAL;
	if (kind != RB_WL_GUEST && (!n || n > (1ul << 24)))
		return -EINVAL;
	return 0;
}

static int fork_init(struct rb_work *w, const struct rb_hist *hist)
{
	int ret;

	w->max_len = w->n;
	w->sptes = w->heads * w->n;
	ret = setup_children(w, w->n);
	return ret ? ret : exit_order_init(w);
}

static int walk_init(struct rb_work *w, const struct rb_hist *hist)
{
	w->max_len = w->n;
	w->sptes = w->heads * w->n;
	return setup_children(w, w->n);
}

static int churn_setup(struct rb_work *w, const struct rb_hist *hist)
{
	int ret;

	w->max_len = w->n;
	w->sptes = 2 * w->heads * w->n;
	ret = setup_children(w, 2 * w->n);
	/*
	 * The bump allocator never reuses a freed descriptor, and each of the
	 * heads * n adds of a churn phase may take a new one: sized for the
	 * chains alone, the arena grew inside the measured region (page
	 * faults in about one value in five, and a new cache every repetition).
	 */
	if (w->alloc == RMAP_ALLOC_BUMP)
		w->expected += w->heads * w->n;
	return ret ? ret : churn_init(w);
}

static int guest_setup(struct rb_work *w, const struct rb_hist *hist)
{
	int ret;

	if (hist->nb <= 0 || !hist->lo || !hist->hi || !hist->weight)
		return -EINVAL;
	ret = guest_init(w, hist->nb, hist->lo, hist->hi, hist->weight);
	return ret ? ret : exit_order_init(w);
}

static int null_init(struct rb_work *w, const struct rb_hist *hist)
{
	w->max_len = w->n;
	w->sptes = 0;
	return setup_children(w, w->n);
}

static int work_init(struct rb_work *w, const struct rb_hist *hist)
{
	int ret;

	if (alloc_array(&w->rmap, w->heads, sizeof(*w->rmap)))
		return -ENOMEM;
	rb_small_pages(w->rmap, w->heads * sizeof(*w->rmap));
	ret = w->ops->init(w, hist);
	if (ret)
		return ret;
	if (alloc_array(&w->scratch, w->max_len + 1, sizeof(u64 *)))
		return -ENOMEM;
	return 0;
}

struct rb_work *rb_work_create(int workload, int order, int alloc,
			       unsigned long n, unsigned long heads,
			       unsigned long long seed, int nbuckets,
			       const unsigned int *lo, const unsigned int *hi,
			       const unsigned long long *weight)
{
	struct rb_hist hist = { nbuckets, lo, hi, weight };
	struct rb_work *w;
	int ret;

	ret = work_check(workload, order, alloc, n, heads);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	w->kind = workload;
	w->ops = workload_ops(workload);
	w->order = order;
	w->alloc = alloc;
	w->n = workload == RB_WL_GUEST ? 0 : n;
	w->heads = heads;
	w->seed = seed;
	w->kmem_huge = rb_kmem_huge(-1);
	w->stride = (pte_list_desc_size + CACHELINE - 1) / CACHELINE * CACHELINE;
	ret = work_init(w, &hist);
	if (ret) {
		rb_work_destroy(w);
		errno = -ret;
		return NULL;
	}
	return w;
}

void rb_work_destroy(struct rb_work *w)
{
	if (!w)
		return;
	rmap_cache_destroy(w->cache);
	free(w->rmap);
	rb_kmem_free(w->spt, w->spt_placed);
	free(w->exit_order);
	free(w->len);
	free(w->child_first);
	free(w->child_heads);
	free(w->child_spt);
	free(w->churn);
	free(w->scratch);
	free(w);
}

/* ---- the phases ---- */

/*
 * Sensitivity self-check (rmapbench doctor --sensitivity): built with
 * -DRB_INJECT_CHAIN=k, every rmap op of a measured region is followed by a
 * dependent chain of k adds, a known extra cost outside the variant's own
 * code.  Without it, rb_inject() is nothing.
 */
#ifdef RB_INJECT_CHAIN
#define RB_STR2(x) #x
#define RB_STR(x) RB_STR2(x)
static inline void rb_inject(void)
{
	unsigned long x = 0;

	asm volatile(".rept " RB_STR(RB_INJECT_CHAIN) "\n\taddq $1, %0\n\t.endr" : "+r"(x));
}
#else
static inline void rb_inject(void)
{
}
#endif

int rb_inject_chain(void)
{
#ifdef RB_INJECT_CHAIN
	return RB_INJECT_CHAIN;
#else
	return 0;
#endif
}

int rb_work_has_phase(const struct rb_work *w, int phase)
{
	return phase >= 0 && phase < 32 && (w->ops->phases >> phase & 1);
}

/* Children 0..nchildren-1 each map every head, child by child. */
static u64 fork_add(struct rb_work *w, unsigned long nchildren)
{
	struct rmap_cache *cache = w->cache;
	struct kvm_rmap_head *rmap = w->rmap;
	unsigned long c, h, heads = w->heads;
	u64 sum = 0;

	for (c = 0; c < nchildren; c++) {
		u64 *spt = child_spte(w, c, 0);

		for (h = 0; h < heads; h++) {
			sum += pte_list_add(cache, spt + h, &rmap[h]);
			rb_inject();
		}
	}
	return sum;
}

/* Children exit in exit_order[], each dropping its spte from every head. */
static long fork_remove(struct rb_work *w)
{
	struct rmap_cache *cache = w->cache;
	struct kvm_rmap_head *rmap = w->rmap;
	unsigned long i, h, heads = w->heads;
	long bad = 0;

	for (i = 0; i < w->nchildren; i++) {
		u64 *spt = child_spte(w, w->exit_order[i], 0);

		for (h = 0; h < heads; h++) {
			bad += pte_list_remove(cache, spt + h, &rmap[h]) != RMAP_OK;
			rb_inject();
		}
	}
	return bad;
}

static u64 guest_add(struct rb_work *w)
{
	struct rmap_cache *cache = w->cache;
	struct kvm_rmap_head *rmap = w->rmap;
	unsigned long c, k;
	u64 sum = 0;

	for (c = 0; c < w->nchildren; c++) {
		const unsigned int *hv = w->child_heads + w->child_first[c];
		unsigned long cnt = w->child_first[c + 1] - w->child_first[c];
		u64 *spt = w->spt + w->child_spt[c];

		for (k = 0; k < cnt; k++) {
			sum += pte_list_add(cache, spt + k, &rmap[hv[k]]);
			rb_inject();
		}
	}
	return sum;
}

static long guest_remove(struct rb_work *w)
{
	struct rmap_cache *cache = w->cache;
	struct kvm_rmap_head *rmap = w->rmap;
	unsigned long i, k;
	long bad = 0;

	for (i = 0; i < w->nchildren; i++) {
		unsigned long c = w->exit_order[i];
		const unsigned int *hv = w->child_heads + w->child_first[c];
		unsigned long cnt = w->child_first[c + 1] - w->child_first[c];
		u64 *spt = w->spt + w->child_spt[c];

		for (k = 0; k < cnt; k++) {
			bad += pte_list_remove(cache, spt + k, &rmap[hv[k]]) != RMAP_OK;
			rb_inject();
		}
	}
	return bad;
}

struct wp_stat {
	unsigned long visited;
	unsigned long cleared;
};

/* Write-protect one spte, as rmap_write_protect() does per rmap entry. */
static void spte_write_protect(u64 *sptep, void *arg)
{
	struct wp_stat *st = arg;
	u64 spte = *sptep;

	st->visited++;
	rb_inject();
	if (!(spte & SPTE_WRITABLE))
		return;
	*sptep = spte & ~SPTE_WRITABLE;
	st->cleared++;
}

static long walk_write_protect(struct rb_work *w)
{
	struct wp_stat st = { 0, 0 };
	unsigned long h;

	for (h = 0; h < w->heads; h++)
		pte_list_walk(&w->rmap[h], spte_write_protect, &st);
	w->checksum = st.cleared;
	/* a walk that misses or repeats an spte is a bad status */
	return st.visited > w->sptes ? st.visited - w->sptes :
				       w->sptes - st.visited;
}

static long churn_run(struct rb_work *w)
{
	struct rmap_cache *cache = w->cache;
	const struct churn_op *op = w->churn, *end = w->churn + w->nchurn;
	long bad = 0;
	u64 sum = 0;

	for (; op < end; op++) {
		bad += pte_list_remove(cache, op->remove, op->head) != RMAP_OK;
		sum += pte_list_add(cache, op->add, op->head);
		rb_inject();
	}
	w->checksum = sum;
	return bad;
}

static volatile unsigned long rb_sink;

/* fork_add()'s loop and addresses, with no rmap work. */
static long null_run(struct rb_work *w, int phase)
{
	struct kvm_rmap_head *rmap = w->rmap;
	unsigned long c, h, heads = w->heads;

	for (c = 0; c < w->nchildren; c++) {
		u64 *spt = child_spte(w, c, 0);

		for (h = 0; h < heads; h++)
			rb_sink = (unsigned long)(spt + h) ^ (unsigned long)&rmap[h];
	}
	return 0;
}

static void restore_writable(struct rb_work *w)
{
	size_t i;

	for (i = 0; i < w->spt_entries; i++)
		w->spt[i] |= SPTE_WRITABLE;
}

/* fork: remove starts from every head holding n sptes */
static void fork_prepare(struct rb_work *w, int phase)
{
	if (phase == RB_PH_REMOVE)
		fork_add(w, w->nchildren);
}

static long fork_run(struct rb_work *w, int phase)
{
	if (phase == RB_PH_ADD) {
		w->checksum = fork_add(w, w->nchildren);
		return 0;
	}
	return fork_remove(w);
}

static void walk_prepare(struct rb_work *w, int phase)
{
	fork_add(w, w->nchildren);
	restore_writable(w);
}

static long walk_run(struct rb_work *w, int phase)
{
	return walk_write_protect(w);
}

/* churn: every head starts with children 0..n-1 */
static void churn_prepare(struct rb_work *w, int phase)
{
	fork_add(w, w->n);
}

static long churn_phase(struct rb_work *w, int phase)
{
	return churn_run(w);
}

static void guest_prepare(struct rb_work *w, int phase)
{
	if (phase == RB_PH_REMOVE)
		guest_add(w);
}

static long guest_run(struct rb_work *w, int phase)
{
	if (phase == RB_PH_ADD) {
		w->checksum = guest_add(w);
		return 0;
	}
	return guest_remove(w);
}

static void null_prepare(struct rb_work *w, int phase)
{
}

static unsigned long heads_x_n(const struct rb_work *w)
{
	return w->heads * w->n;
}

static unsigned long guest_ops(const struct rb_work *w)
{
	return w->sptes;
}

#define PH(p) (1u << (p))

static const struct rb_workload_ops fork_ops = {
	.name = "fork", .phases = PH(RB_PH_ADD) | PH(RB_PH_REMOVE),
	.sequence = { RB_PH_ADD, RB_PH_REMOVE }, .nsequence = 2,
	.init = fork_init, .prepare = fork_prepare, .run = fork_run, .ops = heads_x_n,
};
static const struct rb_workload_ops walk_ops = {
	.name = "walk", .phases = PH(RB_PH_WALK),
	.init = walk_init, .prepare = walk_prepare, .run = walk_run, .ops = heads_x_n,
};
static const struct rb_workload_ops churn_ops = {
	.name = "churn", .phases = PH(RB_PH_CHURN),
	.init = churn_setup, .prepare = churn_prepare, .run = churn_phase, .ops = heads_x_n,
};
static const struct rb_workload_ops guest_ops_tbl = {
	.name = "guest", .phases = PH(RB_PH_ADD) | PH(RB_PH_REMOVE),
	.sequence = { RB_PH_ADD, RB_PH_REMOVE }, .nsequence = 2,
	.init = guest_setup, .prepare = guest_prepare, .run = guest_run, .ops = guest_ops,
};
static const struct rb_workload_ops null_ops = {
	.name = "null", .phases = PH(RB_PH_NULL),
	.init = null_init, .prepare = null_prepare, .run = null_run, .ops = heads_x_n,
};

static const struct rb_workload_ops *const rb_workload_ops[] = {
	[RB_WL_FORK] = &fork_ops,
	[RB_WL_WALK] = &walk_ops,
	[RB_WL_CHURN] = &churn_ops,
	[RB_WL_GUEST] = &guest_ops_tbl,
	[RB_WL_NULL] = &null_ops,
};

static const struct rb_workload_ops *workload_ops(int kind)
{
	return rb_workload_ops[kind];
}

/* The case's descriptor cache, sized for what its chains need. */
static struct rmap_cache *new_cache(const struct rb_work *w)
{
	return rmap_cache_create(w->alloc, pte_list_desc_size, w->expected, w->seed,
				 w->kmem_huge);
}

/*
 * A new layout's memory, faulted in now: the descriptor arena (created here
 * when no prepare has created it yet; chunk_new() populates it) and the
 * heads.  Otherwise the first repetition after rb_work_create() faults them
 * in a page at a time (fork n = 16 at 8192 heads, scattered, ten arms: that
 * repetition 239 ms, the next ones 68 ms; populated, 66 ms).
 */
int rb_work_populate(struct rb_work *w)
{
	if (!w->cache) {
		w->cache = new_cache(w);
		if (!w->cache)
			return -ENOMEM;
	}
	rb_populate(w->rmap, w->heads * sizeof(*w->rmap));
	return 0;
}

/*
 * Every repetition starts from the same state: the descriptor cache of
 * the last repetition is rewound (same placements, no new arena) when all
 * its objects were freed, else a fresh one is made.
 */
int rb_work_prepare(struct rb_work *w, int phase)
{
	if (!rb_work_has_phase(w, phase))
		return -EINVAL;
	if (rmap_cache_reset(w->cache)) {
		rmap_cache_destroy(w->cache);
		w->cache = new_cache(w);
		if (!w->cache)
			return -ENOMEM;
	}
	w->arena0 = rmap_cache_arena_bytes(w->cache);
	w->checksum = 0;
	w->ops->prepare(w, phase);
	return 0;
}

long rb_work_phase(struct rb_work *w, int phase)
{
	return w->ops->run(w, phase);
}

struct collect {
	u64 **out;
	unsigned long n, cap;
};

static void collect_spte(u64 *sptep, void *arg)
{
	struct collect *c = arg;

	if (c->n < c->cap)
		c->out[c->n] = sptep;
	c->n++;
}

/*
 * Remove whatever head h still maps, in walk order (cheap for every
 * variant: the walk starts where each variant's remove looks first).
 */
static long drain_head(struct rb_work *w, struct kvm_rmap_head *head)
{
	struct collect col = { w->scratch, 0, w->max_len + 1 };
	unsigned long i;
	long bad = 0;

	pte_list_walk(head, collect_spte, &col);
	if (col.n > col.cap)
		return col.n;
	for (i = 0; i < col.n; i++)
		bad += pte_list_remove(w->cache, col.out[i], head) != RMAP_OK;
	return bad;
}

static void undo_head(struct rb_work *w, unsigned long h, long *bad)
{
	if (w->rmap[h].val)
		*bad += drain_head(w, &w->rmap[h]);
	if (w->rmap[h].val) {
		w->heads_left++;
		w->rmap[h].val = 0;
	}
}

int rb_work_undo(struct rb_work *w, int phase)
{
	unsigned long h;
	long bad = 0, live;

	if (!rb_work_has_phase(w, phase) || !w->cache)
		return -EINVAL;
	w->heads_left = 0;
	if (w->undo_heads) {
		for (h = 0; h < w->nundo; h++)
			undo_head(w, w->undo_heads[h], &bad);
	} else {
		for (h = 0; h < w->heads; h++)
			undo_head(w, h, &bad);
	}
	live = rmap_cache_live(w->cache);
	w->live_after = live;
	if (rmap_cache_peak(w->cache) > w->peak)
		w->peak = rmap_cache_peak(w->cache);
	if (rmap_cache_arena_bytes(w->cache) != w->arena0)
		w->arena_grew = 1;
	return bad || live || w->heads_left ? -EIO : 0;
}

/*
 * Every head empty, the ones undo does not drain included: what a
 * repetition loop checks once at its end (a variant that wrote to a head
 * it was not given would show here).  0 or -EIO.
 */
int rb_work_check_empty(struct rb_work *w)
{
	unsigned long h;

	for (h = 0; h < w->heads; h++) {
		if (w->rmap[h].val) {
			w->heads_left++;
			w->rmap[h].val = 0;
		}
	}
	return w->heads_left ? -EIO : 0;
}

int rb_work_sequence(const struct rb_work *w, int *phases, int max)
{
	int k;

	for (k = 0; k < w->ops->nsequence && k < max; k++)
		phases[k] = w->ops->sequence[k];
	return w->ops->nsequence;
}

static void fp_spte(u64 *sptep, void *arg)
{
	u64 *h = arg;

	*h = (*h ^ (u64)(unsigned long)sptep) * 0x100000001b3ull;
}

/*
 * A hash of the rmap as the walks see it: every head's sptes in walk
 * order, and the live descriptors.  Tests compare a phase's start state
 * reached by its prepare with the one the sequence reaches.
 */
unsigned long long rb_work_fingerprint(struct rb_work *w)
{
	u64 h = 0xcbf29ce484222325ull;
	unsigned long i;

	for (i = 0; i < w->heads; i++) {
		h = (h ^ i) * 0x100000001b3ull;
		if (w->rmap[i].val)
			pte_list_walk(&w->rmap[i], fp_spte, &h);
	}
	return h ^ (u64)(w->cache ? rmap_cache_live(w->cache) : 0);
}

/* ---- what a case reports ---- */

unsigned long rb_work_ops(const struct rb_work *w, int phase)
{
	if (!rb_work_has_phase(w, phase))
		return 0;
	return w->ops->ops(w);
}

unsigned long rb_work_sptes(const struct rb_work *w)
{
	return w->sptes;
}

/*
 * Bytes the case touches: the heads, the sptes (8 bytes each), and the
 * descriptors at their peak, at the allocator's stride.  null touches
 * none of them.
 */
unsigned long long rb_work_footprint(const struct rb_work *w)
{
	if (w->kind == RB_WL_NULL)
		return 0;
	return (unsigned long long)w->heads * sizeof(struct kvm_rmap_head) +
	       (unsigned long long)w->sptes * sizeof(u64) +
	       (unsigned long long)w->peak * w->stride;
}

long rb_work_peak_descs(const struct rb_work *w)
{
	return w->peak;
}

long rb_work_live_after_undo(const struct rb_work *w)
{
	return w->live_after;
}

long rb_work_heads_left(const struct rb_work *w)
{
	return w->heads_left;
}

int rb_work_arena_grew(const struct rb_work *w)
{
	return w->arena_grew;
}

unsigned long rb_work_chain_len(const struct rb_work *w, unsigned long head)
{
	if (head >= w->heads)
		return 0;
	if (w->kind == RB_WL_GUEST)
		return w->len[head];
	return w->kind == RB_WL_NULL ? 0 : w->n;
}

/* add phases: sum of add's returns; walk: sptes write-protected. */
unsigned long long rb_work_checksum(const struct rb_work *w)
{
	return w->checksum;
}
