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
				       expected, seed);
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
