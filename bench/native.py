"""Load a kernel library with ctypes and give it a Python face.

Only trace, tests and check call through here op by op; measured loops run
inside C (one crossing per timing value).
"""

from __future__ import annotations

import ctypes
import functools

from .build import build_library

ALLOC_MODES = {"bump": 0, "slab": 1, "scatter": 2, "libc": 3}
RMAP_STATUS = {0: None, 1: "WARN", 2: "BUG"}

_u64 = ctypes.c_ulonglong
_ul = ctypes.c_ulong


class Kernel:
    """One compiled variant at one EXT."""

    def __init__(self, variant: str, ext: int, cflags: str | None = None):
        self.artifact = build_library(variant, ext, cflags)
        lib = ctypes.CDLL(str(self.artifact.path))
        sig = {
            "rb_variant": (ctypes.c_char_p, []),
            "rb_ext": (ctypes.c_int, []),
            "rb_desc_size": (_ul, []),
            "rb_ctx_new": (ctypes.c_void_p, [ctypes.c_int, _ul, _ul, _u64]),
            "rb_ctx_free": (None, [ctypes.c_void_p]),
            "rb_add": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
            "rb_remove": (ctypes.c_int, [ctypes.c_void_p, _ul, _u64]),
            "rb_walk": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_u64), ctypes.c_int]),
            "rb_count": (ctypes.c_uint, [ctypes.c_void_p, _ul]),
            "rb_head_val": (_ul, [ctypes.c_void_p, _ul]),
            "rb_dump": (ctypes.c_int, [ctypes.c_void_p, _ul, ctypes.POINTER(_ul), ctypes.c_int]),
            "rb_live_descs": (ctypes.c_long, [ctypes.c_void_p]),
            "rb_peak_descs": (ctypes.c_long, [ctypes.c_void_p]),
        }
        for name, (res, args) in sig.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        self.lib = lib
        self.variant = lib.rb_variant().decode()
        self.ext = lib.rb_ext()
        self.desc_size = lib.rb_desc_size()


@functools.lru_cache(maxsize=None)
def load(variant: str, ext: int, cflags: str | None = None) -> Kernel:
    return Kernel(variant, ext, cflags)


class Rmap:
    """A set of rmap heads over one kernel, addressed by head index, with
    sptes given as ids >= 1 (stored as the aligned pointer value id << 3)."""

    def __init__(self, kernel: Kernel, nheads: int, alloc: str = "slab",
                 expected: int = 0, seed: int = 0):
        self.k = kernel
        self.nheads = nheads
        self.ctx = kernel.lib.rb_ctx_new(ALLOC_MODES[alloc], nheads, expected, seed)
        if not self.ctx:
            raise MemoryError("rb_ctx_new failed")

    def close(self) -> None:
        if self.ctx:
            self.k.lib.rb_ctx_free(self.ctx)
            self.ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def add(self, head: int, spte: int) -> int:
        return self.k.lib.rb_add(self.ctx, head, spte << 3)

    def remove(self, head: int, spte: int) -> str | None:
        return RMAP_STATUS[self.k.lib.rb_remove(self.ctx, head, spte << 3)]

    def walk(self, head: int) -> list[int]:
        cap = 64
        while True:
            buf = (_u64 * cap)()
            n = self.k.lib.rb_walk(self.ctx, head, buf, cap)
            if n <= cap:
                return [buf[i] >> 3 for i in range(n)]
            cap = n

    def count(self, head: int) -> int:
        return self.k.lib.rb_count(self.ctx, head)

    def layout(self, head: int) -> dict:
        """The head's slot-exact layout in the form `trace` prints."""
        val = self.k.lib.rb_head_val(self.ctx, head)
        if val == 0:
            return {"head": head, "form": "empty", "descs": []}
        if not val & 1:
            return {"head": head, "form": "single", "single": val >> 3, "descs": []}
        cap = 1 + self.k.ext * 8
        while True:
            buf = (_ul * cap)()
            w = self.k.lib.rb_dump(self.ctx, head, buf, cap)
            if w >= 0:
                break
            cap *= 4
        ext = self.k.ext
        descs = []
        for d in range(buf[0]):
            slots = buf[1 + d * ext: 1 + (d + 1) * ext]
            descs.append([s >> 3 if s else None for s in slots])
        return {"head": head, "form": "many", "descs": descs}

    def live_descs(self) -> int:
        return self.k.lib.rb_live_descs(self.ctx)
