/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rmapbench: what the library states about itself, for the Python side
 * (bench/native.py) and the sim driver.  Python builds its id maps and
 * ctypes mirrors from these exports and refuses a library whose interface
 * version it does not know.
 */
#ifndef RMAPBENCH_IFACE_H
#define RMAPBENCH_IFACE_H

/*
 * Bump on any change Python must follow: an exported function's signature,
 * struct rb_phase_result, the layout words of rb_layout(), the flat state
 * of rb_state_apply(), the enums behind the name tables.
 */
#define RB_IFACE_VERSION 4

extern const char *const rb_workload_names[];
extern const char *const rb_phase_names[];
extern const char *const rb_order_names[];
extern const char *const rb_alloc_names[];
extern const int rb_workload_count, rb_phase_count, rb_order_count,
	rb_alloc_count;

int rb_iface_version(void);

#endif
