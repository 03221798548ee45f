// SPDX-License-Identifier: GPL-2.0
/*
 * The interface the library states (iface.h): version, struct sizes, the
 * name tables of the enums in workloads.h and rmap.h, and the variant's
 * declared descriptor layout (PTE_LIST_DECLARE in rmap.h).
 */
#include <errno.h>

#include "iface.h"
#include "workloads.h"

const char *const rb_workload_names[] = {
	[RB_WL_FORK] = "fork", [RB_WL_WALK] = "walk", [RB_WL_CHURN] = "churn",
	[RB_WL_GUEST] = "guest", [RB_WL_NULL] = "null",
};
const char *const rb_phase_names[] = {
	[RB_PH_ADD] = "add", [RB_PH_REMOVE] = "remove", [RB_PH_WALK] = "walk",
	[RB_PH_CHURN] = "churn", [RB_PH_NULL] = "null",
};
const char *const rb_order_names[] = {
	[RB_ORDER_FIFO] = "fifo", [RB_ORDER_LIFO] = "lifo",
	[RB_ORDER_RANDOM] = "random",
};
/* every allocator mode; the workloads accept bump, slab and scatter */
const char *const rb_alloc_names[] = {
	[RMAP_ALLOC_BUMP] = "bump", [RMAP_ALLOC_SLAB] = "slab",
	[RMAP_ALLOC_SCATTER] = "scatter", [RMAP_ALLOC_LIBC] = "libc",
	[RMAP_ALLOC_TRACK] = "track",
};

#define ARRAY_SIZE(a) ((int)(sizeof(a) / sizeof((a)[0])))

const int rb_workload_count = ARRAY_SIZE(rb_workload_names);
const int rb_phase_count = ARRAY_SIZE(rb_phase_names);
const int rb_order_count = ARRAY_SIZE(rb_order_names);
const int rb_alloc_count = ARRAY_SIZE(rb_alloc_names);

int rb_iface_version(void)
{
	return RB_IFACE_VERSION;
}

/* Name tables by kind: 0 workloads, 1 phases, 2 orders, 3 alloc modes. */
const char *rb_iface_name(int table, int id)
{
	static const char *const *const tables[] = {
		rb_workload_names, rb_phase_names, rb_order_names, rb_alloc_names,
	};
	const int *counts[] = {
		&rb_workload_count, &rb_phase_count, &rb_order_count,
		&rb_alloc_count,
	};

	if (table < 0 || table >= ARRAY_SIZE(tables) || id < 0 ||
	    id >= *counts[table])
		return NULL;
	return tables[table][id];
}

/* sizeof the structs Python mirrors with ctypes */
unsigned long rb_sizeof_phase_result(void)
{
	return sizeof(struct rb_phase_result);
}

int rb_max_events(void)
{
	return RB_MAX_EVENTS;
}

/*
 * The declared layout as words: ext, desc_size, then offset and size of
 * sptes, more, count and tail (offset -1 for none), walk kind, flags.
 * Returns the number of words, or -ENOSPC.
 */
#define RB_LAYOUT_WORDS 12

int rb_layout(long *out, int cap)
{
	const struct pte_list_layout *l = &pte_list_layout;

	if (cap < RB_LAYOUT_WORDS)
		return -ENOSPC;
	out[0] = l->ext;
	out[1] = l->desc_size;
	out[2] = l->sptes.off;
	out[3] = l->sptes.size;
	out[4] = l->more.off;
	out[5] = l->more.size;
	out[6] = l->count.off;
	out[7] = l->count.size;
	out[8] = l->tail.off;
	out[9] = l->tail.size;
	out[10] = l->walk;
	out[11] = l->flags;
	return RB_LAYOUT_WORDS;
}
