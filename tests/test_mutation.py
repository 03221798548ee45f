"""The C-vs-model test is not vacuous: a kernel that differs by one slot
from its variant's definition is caught by the same property test."""

import subprocess

from hypothesis import HealthCheck, find, settings

from bench.build import NATIVE_DIR
from model import Model
from bench.native import Kernel, Rmap
from bench.trace import replay
from strategies import op_sequences


def _typed(lib):
    import ctypes
    from bench.native import _u64, _ul
    sig = {
        "rb_variant": (ctypes.c_char_p, []), "rb_ext": (ctypes.c_int, []),
        "rb_ctx_new": (ctypes.c_void_p, [ctypes.c_int, _ul, _ul, _u64]),
        "rb_ctx_free": (None, [ctypes.c_void_p]),
        "rb_add": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
        "rb_remove": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
        "rb_walk": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_u64), ctypes.c_int]),
        "rb_count": (ctypes.c_uint, [ctypes.c_void_p, _ul]),
        "rb_head_val": (_ul, [ctypes.c_void_p, _ul]),
        "rb_dump": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_ul), ctypes.c_int]),
        "rb_live_descs": (ctypes.c_long, [ctypes.c_void_p]),
    }
    for name, (res, args) in sig.items():
        getattr(lib, name).restype = res
        getattr(lib, name).argtypes = args
    from bench.native import name_tables
    return {"lib": lib, "variant": lib.rb_variant().decode(), "ext": lib.rb_ext(),
            "ids": name_tables(lib)}


def _mutant(tmp_path, fname, old, new, ext):
    src = (NATIVE_DIR / fname).read_text()
    assert src.count(old) == 1, old
    (tmp_path / fname).write_text(src.replace(old, new))
    so = tmp_path / "mutant.so"
    srcs = [tmp_path / fname, NATIVE_DIR / "alloc.c", NATIVE_DIR / "api.c",
            NATIVE_DIR / "iface.c"]
    proc = subprocess.run(["cc", "-O2", "-fPIC", "-shared", f"-DPTE_LIST_EXT={ext}",
                           f"-I{NATIVE_DIR}", *map(str, srcs), "-o", str(so)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    k = Kernel.__new__(Kernel)
    k.__dict__.update(_typed(__import__("ctypes").CDLL(str(so))))
    return k


def _differs(kernel, variant, ext, ops):
    with Rmap(kernel, 3, expected=len(ops)) as r:
        got = replay(r, ops)
    return got != replay(Model(variant, ext), ops)


def _find_difference(kernel, variant, ext):
    return find(op_sequences(max_ops=60), lambda ops: _differs(kernel, variant, ext, ops),
                settings=settings(max_examples=2000, deadline=None, database=None,
                                  suppress_health_check=list(HealthCheck)))


def test_one_stale_slot_is_caught(tmp_path):
    # old: leave the moved-from slot uncleared (a one-slot difference)
    k = _mutant(tmp_path, "pte_list_old.c", "\tRMAP_STORE(desc->sptes[j], NULL);\n\tif (j != 0)",
                "\tif (j != i) desc->sptes[j] = desc->sptes[j];\n"
                "\telse RMAP_STORE(desc->sptes[j], NULL);\n\tif (j != 0)", 3)
    ops = _find_difference(k, "old", 3)
    assert any(op[0] == "remove" for op in ops)


def test_same_desc_move_instead_of_first_desc_is_caught(tmp_path):
    # kvm-2023 filling the hole from its own descriptor's last entry differs
    # from the model only in which slot ends up where
    k = _mutant(tmp_path, "pte_list_kvm2023.c",
                "struct pte_list_desc *head_desc = rmap_head_desc(rmap_head);",
                "struct pte_list_desc *head_desc = desc->spte_count > 1 ? desc : rmap_head_desc(rmap_head);", 3)
    ops = _find_difference(k, "kvm-2023", 3)
    assert ops


def test_return_value_off_by_one_is_caught(tmp_path):
    k = _mutant(tmp_path, "pte_list_kvm2021.c", "\tcount += desc->spte_count;\n",
                "\tcount += desc->spte_count + (desc->spte_count == 1);\n", 3)
    assert _find_difference(k, "kvm-2021", 3)


def test_new_warn_keeping_the_single_head_is_caught(tmp_path):
    # new must clear a single-pointer head when asked to remove another spte
    # (DESIGN section 3: "warns *and clears the head*"); a kernel that only
    # warns differs in the head's final form alone
    k = _mutant(tmp_path, "pte_list_new.c",
                "\t\t\tRMAP_STORE(rmap_head->val, 0);\t/* WARN, and the head is lost */\n",
                "\n", 3)
    ops = _find_difference(k, "new", 3)
    assert any(op[0] == "remove" for op in ops)


def test_kvm2023_wrong_tail_count_is_caught(tmp_path):
    # a tail count one short once the list passes two descriptors at EXT 3:
    # visible only through add's return and count
    k = _mutant(tmp_path, "pte_list_kvm2023.c", "RMAP_STORE(new_desc->tail_count, count);",
                "RMAP_STORE(new_desc->tail_count, count - (count > 6));", 3)
    assert _find_difference(k, "kvm-2023", 3)
