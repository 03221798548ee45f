"""The C fuzz program under ASan and UBSan: 10^6 random ops per variant,
every descriptor freed at teardown (LeakSanitizer watches too)."""

import subprocess

import pytest

from bench.build import NATIVE_DIR, ROOT, build_program
from bench.variants import VARIANTS, default_ext

SAN_FLAGS = "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
FUZZ = ROOT / "tests" / "c" / "fuzz_rmap.c"


def _fuzz(variant, ext, ops, seed):
    art = build_program("fuzz_rmap", [NATIVE_DIR / "alloc.c", FUZZ], variant, ext,
                        cflags=SAN_FLAGS)
    return subprocess.run([str(art.path), str(ops), str(seed)], capture_output=True,
                          text=True, timeout=600,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                               "UBSAN_OPTIONS": "print_stacktrace=1"})


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fuzz_million_ops_under_asan_ubsan(variant):
    proc = _fuzz(variant, default_ext(variant), 1_000_000, 0x5eed)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout
    assert "all freed" in proc.stdout
    assert "runtime error" not in proc.stderr   # UBSan findings


@pytest.mark.parametrize("variant", ["old", "kvm-2023", "kvm-2023-lf"])
def test_fuzz_other_ext(variant):
    proc = _fuzz(variant, 2 if variant == "old" else 5, 200_000, 11)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout


def test_sanitizer_build_really_catches_a_use_after_free(tmp_path):
    """The harness is not vacuous: a kernel that touches a freed descriptor
    is stopped by ASan."""
    src = (NATIVE_DIR / "pte_list_kvm2021.c").read_text()
    bad = src.replace("\tmmu_free_pte_list_desc(cache, desc);\n}",
                      "\tmmu_free_pte_list_desc(cache, desc);\n\tdesc->spte_count = 7;\n}")
    assert bad != src
    path = tmp_path / "pte_list_kvm2021.c"
    path.write_text(bad)
    exe = tmp_path / "fuzz_bad"
    cc = subprocess.run(["cc", *SAN_FLAGS.split(), "-DPTE_LIST_EXT=14", f"-I{NATIVE_DIR}",
                         str(path), str(NATIVE_DIR / "alloc.c"), str(FUZZ), "-o", str(exe)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    proc = subprocess.run([str(exe), "100000", "3"], capture_output=True, text=True,
                          env={"ASAN_OPTIONS": "detect_leaks=1"})
    assert proc.returncode != 0
    assert "heap-use-after-free" in proc.stderr
