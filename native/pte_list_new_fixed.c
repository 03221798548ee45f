// SPDX-License-Identifier: GPL-2.0
/*
 * pte_list "new-fixed": the 2013 redesign with the review's two
 * behavioural points applied (add returns the count before the add;
 * failures are BUGs that leave the list unchanged).  The code is
 * pte_list_new.c; the differences sit under PTE_LIST_NEW_FIXED there.
 */
#define PTE_LIST_NEW_FIXED 1
#include "pte_list_new.c"
