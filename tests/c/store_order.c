// SPDX-License-Identifier: GPL-2.0
/*
 * A walker between every two stores of a remove: the store order of a
 * variant's pte_list_remove observed on the machine, not on the source.
 *
 * The head and every descriptor live in one arena that is read-only while
 * the remove runs.  Each store the remove makes into it faults (SIGSEGV):
 * the handler notes where it went, makes the arena writable and sets the
 * trap flag, so the store executes and the CPU stops right after it
 * (SIGTRAP).  There the arena is read-only again and a complete
 * pte_list_walk() runs on the state the stores so far have left.  Every
 * spte that was in the list and is not the one being removed must be
 * visited by that walk; the removed one may or may not be.
 *
 * This is the state a lockless walker sees when it runs between two of the
 * writer's stores (stores taken in program order, as x86 makes them
 * visible).  A variant that lowers a count before the slot it hides is
 * refilled, or clears a slot before its entry is copied, fails here.
 *
 * usage: store_order MAXLEN   (every list length 1..MAXLEN, every spte of
 * it removed in turn).  Prints one line per miss and a summary; exit 1 on
 * a miss, 2 on a setup error.  x86-64 Linux only (the trap flag).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "rmap.h"

#define ARENA_BYTES	(256 * 1024)
#define MAX_SPTES	512
#define EFLAGS_TF	0x100

static unsigned char *arena;
static size_t arena_used;

/* The allocator the variant calls: a bump allocator inside the arena. */
void *mmu_alloc_pte_list_desc(struct rmap_cache *cache)
{
	size_t sz = (pte_list_desc_size + 63) & ~(size_t)63;
	void *p;

	(void)cache;
	if (arena_used + sz > ARENA_BYTES) {
		fprintf(stderr, "store_order: arena full\n");
		exit(2);
	}
	p = arena + arena_used;
	arena_used += sz;
	return p;
}

void mmu_free_pte_list_desc(struct rmap_cache *cache, void *desc)
{
	(void)cache;
	(void)desc;	/* never reused: a walker may still read it */
}

static struct kvm_rmap_head *head;
static int list_len, removing;
static int seen[MAX_SPTES + 1];
static long stores, walks, misses;
static long store_off;		/* where the last store went, from the arena */
static int store_no;		/* stores so far in this remove */

static u64 *to_ptr(int id)
{
	return (u64 *)(uintptr_t)((unsigned long)id << 4);
}

static void visit(u64 *spte, void *arg)
{
	unsigned long id = (unsigned long)(uintptr_t)spte >> 4;

	(void)arg;
	if (id >= 1 && id <= MAX_SPTES)
		seen[id]++;
}

static void walk_and_check(void)
{
	int id;

	memset(seen, 0, sizeof(seen));
	pte_list_walk(head, visit, NULL);
	walks++;
	for (id = 1; id <= list_len; id++) {
		if (id == removing || seen[id])
			continue;
		misses++;
		printf("miss: list 1..%d, remove %d: after store %d (arena offset %ld) "
		       "a walk does not visit spte %d\n", list_len, removing, store_no,
		       store_off, id);
	}
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	unsigned char *a = si->si_addr;

	(void)sig;
	if (a < arena || a >= arena + ARENA_BYTES) {
		static const char msg[] = "store_order: fault outside the arena\n";

		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(2);
		_exit(2);
	}
	store_off = (long)(a - arena);
	mprotect(arena, ARENA_BYTES, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= EFLAGS_TF;
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] &= ~(long long)EFLAGS_TF;
	stores++;
	store_no++;
	mprotect(arena, ARENA_BYTES, PROT_READ);
	walk_and_check();
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int maxlen, n, k, id;
	long removes = 0;

	if (argc != 2 || (maxlen = atoi(argv[1])) < 1 || maxlen > MAX_SPTES) {
		fprintf(stderr, "usage: store_order MAXLEN (1..%d)\n", MAX_SPTES);
		return 2;
	}
	arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED) {
		perror("store_order: mmap");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, NULL);

	for (n = 1; n <= maxlen; n++) {
		for (k = 1; k <= n; k++) {
			memset(arena, 0, ARENA_BYTES);
			head = (struct kvm_rmap_head *)arena;
			arena_used = 64;
			for (id = 1; id <= n; id++)
				pte_list_add(NULL, to_ptr(id), head);
			list_len = n;
			removing = k;
			store_no = 0;
			walk_and_check();	/* the list as built */
			mprotect(arena, ARENA_BYTES, PROT_READ);
			if (pte_list_remove(NULL, to_ptr(k), head) != RMAP_OK) {
				mprotect(arena, ARENA_BYTES, PROT_READ | PROT_WRITE);
				fprintf(stderr, "store_order: remove %d of 1..%d failed\n", k, n);
				return 2;
			}
			mprotect(arena, ARENA_BYTES, PROT_READ | PROT_WRITE);
			if (store_no == 0) {
				fprintf(stderr, "store_order: remove %d of 1..%d made no store "
					"the arena saw\n", k, n);
				return 2;
			}
			removes++;
		}
	}
	printf("variant %s ext %d: %ld removes, %ld stores, %ld walks, %ld misses\n",
	       pte_list_layout.name, PTE_LIST_EXT, removes, stores, walks, misses);
	return misses ? 1 : 0;
}
