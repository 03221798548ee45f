// SPDX-License-Identifier: GPL-2.0
/*
 * The library interface Python loads with ctypes (rmapbench trace, tests,
 * check).  One call per op is fine here: nothing in this file is on a
 * measured path.  Measured loops live in workloads.c and run entirely in C.
 *
 * sptes are passed as raw pointer values.  trace uses id << 3, which is
 * 8-byte aligned like a real spte pointer and is never dereferenced: the
 * rmap only stores, compares and visits pointers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>

#include "rmap.h"

struct rb_ctx {
	struct rmap_cache *cache;
	struct kvm_rmap_head *heads;
	unsigned long nheads;
};

/* The declared name, or NULL: the suite then names it after its file. */
const char *rb_variant(void)
{
	return pte_list_layout.name;
}

int rb_ext(void)
{
	return PTE_LIST_EXT;
}

unsigned long rb_desc_size(void)
{
	return pte_list_desc_size;
}

struct rb_ctx *rb_ctx_new(int alloc_mode, unsigned long nheads,
			  unsigned long expected, unsigned long long seed)
{
	struct rb_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->heads = calloc(nheads ? nheads : 1, sizeof(*ctx->heads));
	ctx->cache = rmap_cache_create(alloc_mode, pte_list_desc_size,
				       expected, seed, 0);
	if (!ctx->heads || !ctx->cache) {
		free(ctx->heads);
		rmap_cache_destroy(ctx->cache);
		free(ctx);
		return NULL;
	}
	ctx->nheads = nheads;
	return ctx;
}

void rb_ctx_free(struct rb_ctx *ctx)
{
	if (!ctx)
		return;
	rmap_cache_destroy(ctx->cache);
	free(ctx->heads);
	free(ctx);
}

int rb_add(struct rb_ctx *ctx, unsigned long head, unsigned long long spte)
{
	return pte_list_add(ctx->cache, (u64 *)(uintptr_t)spte,
			    &ctx->heads[head]);
}

int rb_remove(struct rb_ctx *ctx, unsigned long head, unsigned long long spte)
{
	return pte_list_remove(ctx->cache, (u64 *)(uintptr_t)spte,
			       &ctx->heads[head]);
}

struct collect {
	unsigned long long *out;
	int cap;
	int n;
};

static void collect_spte(u64 *sptep, void *arg)
{
	struct collect *c = arg;

	if (c->n < c->cap)
		c->out[c->n] = (uintptr_t)sptep;
	c->n++;
}

/* Fills out[] in walk order; returns the number visited (may exceed cap). */
int rb_walk(struct rb_ctx *ctx, unsigned long head,
	    unsigned long long *out, int cap)
{
	struct collect c = { out, cap, 0 };

	pte_list_walk(&ctx->heads[head], collect_spte, &c);
	return c.n;
}

unsigned int rb_count(struct rb_ctx *ctx, unsigned long head)
{
	return pte_list_count(&ctx->heads[head]);
}

unsigned long rb_head_val(struct rb_ctx *ctx, unsigned long head)
{
	return ctx->heads[head].val;
}

#define desc_word(desc, f) \
	(*(unsigned long *)((char *)(desc) + pte_list_layout.f.off))

/*
 * The slot dump, for every variant alike: the descriptors from the head by
 * the declared `more`, each one's PTE_LIST_EXT slots as stored.
 */
int pte_list_dump(struct kvm_rmap_head *rmap_head, unsigned long *out, int cap)
{
	const unsigned long *slots;
	char *desc;
	int n = 0, w = 1, i;

	if (cap < 1)
		return -ENOSPC;
	for (desc = rmap_head_desc(rmap_head); desc;
	     desc = (char *)desc_word(desc, more), n++) {
		if (w + PTE_LIST_EXT > cap)
			return -ENOSPC;
		slots = (const unsigned long *)(desc + pte_list_layout.sptes.off);
		for (i = 0; i < PTE_LIST_EXT; i++)
			out[w++] = slots[i];
	}
	out[0] = n;
	return w;
}

/* See pte_list_dump(); only valid for a head in the "many" form. */
int rb_dump(struct rb_ctx *ctx, unsigned long head, unsigned long *out, int cap)
{
	return pte_list_dump(&ctx->heads[head], out, cap);
}

long rb_live_descs(struct rb_ctx *ctx)
{
	return rmap_cache_live(ctx->cache);
}

long rb_peak_descs(struct rb_ctx *ctx)
{
	return rmap_cache_peak(ctx->cache);
}

/*
 * check's race explorer (bench/race.py) applies writer ops through here:
 * one call rebuilds a head and its descriptors from a flat state, runs one
 * pte_list_add() or pte_list_remove() of the variant on it, and writes the
 * state back flat.  Descriptors are written and read through the declared
 * layout only (sptes, more, count, tail), so it needs nothing per variant.
 * The context must use RMAP_ALLOC_TRACK: every call rewinds it, and its
 * log says which descriptors the op allocated and freed.  A freed
 * descriptor keeps its contents (a walker holding it reads them).
 *
 * A state, in and out, as words:
 *   head kind (0 empty, 1 single, 2 many), head value (the spte for a
 *   single head, the first descriptor's index for many; else 0), the
 *   number of descriptors D, then per descriptor, index 0 to D-1:
 *   live (0 or 1), more (an index, or -1), count, tail, PTE_LIST_EXT slots.
 * Descriptors the op allocates get the next indices in allocation order.
 * out[0] is the op's return value, the state follows from out[1].
 *
 * Returns the words written, -EINVAL for a malformed state or op,
 * -ENOSPC when out is too small or the op allocated too much, -EDEADLK
 * when the op left KVM_RMAP_LOCKED set in the head.
 *
 * rb_state_apply_stop() is the same with the op stopped right after its
 * stop_at-th store through RMAP_STORE() (only in check's build of the
 * variant, RMAP_CHECK_STORES; stop_at 0: never stopped): the state is
 * then the one a walker sees between that store and the next, out[0] is
 * 0, and KVM_RMAP_LOCKED may be set.  info[] (RB_STORE_INFO words, may be
 * NULL) says what happened:
 *   info[0]  stores made (all of the op's when it ran to its end)
 *   info[1]  1 if the op was stopped, 0 if it ran to its end
 *   info[2]  1 if the head has KVM_RMAP_LOCKED set
 *   info[3]  the stopping store's word: RB_STORE_HEAD, _SLOT, _MORE,
 *            _COUNT, _TAIL, or _OTHER (anywhere else)
 *   info[4]  its descriptor's index (-1 for the head or elsewhere)
 *   info[5]  its slot index (for _SLOT)
 *   info[6]  the value it stored, as stored
 *   info[7]  for a head or `more` value pointing at a descriptor, that
 *            descriptor's index; else -1
 * A stopped op is simply abandoned (longjmp from the store hook): the
 * next call rewinds the allocator and rebuilds everything.
 */
#define STATE_DESC_WORDS (4 + PTE_LIST_EXT)
#define STATE_MAX_DESCS 64

static void desc_set(char *desc, struct pte_list_field f, long long v)
{
	if (f.off < 0)
		return;
	if (f.size == 8)
		*(u64 *)(desc + f.off) = v;
	else if (f.size == 4)
		*(u32 *)(desc + f.off) = v;
}

static long long desc_get(const char *desc, struct pte_list_field f)
{
	if (f.off < 0)
		return 0;
	if (f.size == 8)
		return *(const u64 *)(desc + f.off);
	if (f.size == 4)
		return *(const u32 *)(desc + f.off);
	return 0;
}

static int desc_index(char *const *descs, int n, unsigned long p)
{
	int k;

	for (k = 0; k < n; k++)
		if ((unsigned long)descs[k] == p)
			return k;
	return -1;
}

enum {
	RB_STORE_HEAD = 0,
	RB_STORE_SLOT = 1,
	RB_STORE_MORE = 2,
	RB_STORE_COUNT = 3,
	RB_STORE_TAIL = 4,
	RB_STORE_OTHER = 5,
};
#define RB_STORE_INFO 8

/* The store hook's state: one writer op at a time (check is one thread). */
static jmp_buf store_stop;
static long store_n, store_stop_at;
static const volatile void *store_addr;
static unsigned int store_size;

/* Called after every RMAP_STORE() in check's build (rmap.h). */
void rmap_check_store(const volatile void *p, unsigned int size)
{
	if (++store_n != store_stop_at)
		return;
	store_addr = p;
	store_size = size;
	longjmp(store_stop, 1);
}

static int field_has(struct pte_list_field f, long off)
{
	return f.off >= 0 && off >= f.off && off < f.off + f.size;
}

/* Where the stopping store went, and what it stored (info[3..7]). */
static void store_where(char *const *descs, int nd, struct kvm_rmap_head *head,
			long long *info)
{
	const struct pte_list_layout *l = &pte_list_layout;
	const volatile char *a = store_addr;
	unsigned long v = 0;
	long off;
	int k;

	if (store_size == 8)
		v = *(const volatile u64 *)a;
	else if (store_size == 4)
		v = *(const volatile u32 *)a;
	info[3] = RB_STORE_OTHER;
	info[4] = -1;
	info[5] = 0;
	info[6] = v;
	info[7] = -1;
	if (a == (const volatile char *)&head->val) {
		info[3] = RB_STORE_HEAD;
		if (v & KVM_RMAP_MANY)
			info[7] = desc_index(descs, nd, v & ~(KVM_RMAP_MANY | KVM_RMAP_LOCKED));
		return;
	}
	for (k = 0; k < nd; k++) {
		off = a - (const volatile char *)descs[k];
		if (off < 0 || off >= l->desc_size)
			continue;
		info[4] = k;
		if (field_has(l->sptes, off)) {
			info[3] = RB_STORE_SLOT;
			info[5] = (off - l->sptes.off) / sizeof(u64 *);
		} else if (field_has(l->more, off)) {
			info[3] = RB_STORE_MORE;
			info[7] = v ? desc_index(descs, nd, v) : -1;
		} else if (field_has(l->count, off)) {
			info[3] = RB_STORE_COUNT;
		} else if (field_has(l->tail, off)) {
			info[3] = RB_STORE_TAIL;
		}
		return;
	}
}


long rb_state_apply_stop(struct rb_ctx *ctx, const long long *in, long nin,
			 int op, unsigned long long spte, long stop_at,
			 long long *out, long cap, long long *info)
{
	const struct pte_list_layout *l = &pte_list_layout;
	char *descs[STATE_MAX_DESCS];
	int live[STATE_MAX_DESCS];
	unsigned long log[STATE_MAX_DESCS * 2];
	struct kvm_rmap_head *head = &ctx->heads[0];
	long long kind, hval, nd, more;
	int k, i, n, nlog;
	long w;
	const long long *d;
	volatile int ret = 0;
	int stopped;

	if (nin < 3 || (op != 0 && op != 1))
		return -EINVAL;
	kind = in[0];
	hval = in[1];
	nd = in[2];
	if (nd < 0 || nd > STATE_MAX_DESCS || nin != 3 + nd * STATE_DESC_WORDS)
		return -EINVAL;
	if (rmap_cache_rewind(ctx->cache))
		return -EINVAL;
	for (k = 0; k < nd; k++)
		descs[k] = mmu_alloc_pte_list_desc(ctx->cache);
	for (k = 0; k < nd; k++) {
		d = in + 3 + k * STATE_DESC_WORDS;
		more = d[1];
		if (more < -1 || more >= nd)
			return -EINVAL;
		live[k] = !!d[0];
		*(char **)(descs[k] + l->more.off) = more < 0 ? NULL : descs[more];
		desc_set(descs[k], l->count, d[2]);
		desc_set(descs[k], l->tail, d[3]);
		for (i = 0; i < PTE_LIST_EXT; i++)
			((unsigned long *)(descs[k] + l->sptes.off))[i] = d[4 + i];
	}
	if (kind == 0)
		head->val = 0;
	else if (kind == 1 && hval && !(hval & 3))
		head->val = hval;
	else if (kind == 2 && hval >= 0 && hval < nd)
		head->val = (unsigned long)descs[hval] | KVM_RMAP_MANY;
	else
		return -EINVAL;
	/* the restore's own allocations are not the op's */
	nlog = rmap_cache_track_log(ctx->cache, log, STATE_MAX_DESCS * 2);

	store_n = 0;
	store_stop_at = stop_at > 0 ? stop_at : -1;
	stopped = 0;
	if (setjmp(store_stop))
		stopped = 1;
	else if (op == 0)
		ret = pte_list_add(ctx->cache, (u64 *)(uintptr_t)spte, head);
	else
		ret = pte_list_remove(ctx->cache, (u64 *)(uintptr_t)spte, head);
	store_stop_at = 0;

	n = rmap_cache_track_log(ctx->cache, log, STATE_MAX_DESCS * 2);
	if (n > STATE_MAX_DESCS * 2)
		return -ENOSPC;
	for (i = nlog; i < n; i++) {
		if (log[i] & 1) {
			k = desc_index(descs, nd, log[i] & ~1ul);
			if (k < 0)
				return -EINVAL;	/* freed what it never had */
			live[k] = 0;
		} else {
			if (nd == STATE_MAX_DESCS)
				return -ENOSPC;
			descs[nd] = (char *)log[i];
			live[nd++] = 1;
		}
	}
	if (!stopped && (head->val & KVM_RMAP_LOCKED))
		return -EDEADLK;
	if (cap < 4 + nd * STATE_DESC_WORDS)
		return -ENOSPC;
	if (info) {
		info[0] = store_n;
		info[1] = !!stopped;
		info[2] = !!(head->val & KVM_RMAP_LOCKED);
		if (stopped)
			store_where(descs, nd, head, info);
	}
	out[0] = stopped ? 0 : ret;
	if (!(head->val & ~KVM_RMAP_LOCKED)) {
		out[1] = 0;
		out[2] = 0;
	} else if (!(head->val & KVM_RMAP_MANY)) {
		out[1] = 1;
		out[2] = head->val & ~KVM_RMAP_LOCKED;
	} else {
		out[1] = 2;
		out[2] = desc_index(descs, nd, (unsigned long)rmap_head_desc(head));
		if (out[2] < 0)
			return -EINVAL;
	}
	out[3] = nd;
	w = 4;
	for (k = 0; k < nd; k++) {
		char *m = *(char **)(descs[k] + l->more.off);

		out[w++] = live[k];
		out[w++] = m ? desc_index(descs, nd, (unsigned long)m) : -1;
		if (m && out[w - 1] < 0)
			return -EINVAL;
		out[w++] = desc_get(descs[k], l->count);
		out[w++] = desc_get(descs[k], l->tail);
		for (i = 0; i < PTE_LIST_EXT; i++)
			out[w++] = ((unsigned long *)(descs[k] + l->sptes.off))[i];
	}
	return w;
}

long rb_state_apply(struct rb_ctx *ctx, const long long *in, long nin,
		    int op, unsigned long long spte, long long *out, long cap)
{
	return rb_state_apply_stop(ctx, in, nin, op, spte, 0, out, cap, NULL);
}
