"""The build cache: reuse, rebuild on flag or source change, recorded metadata."""

import json
import shutil

import bench.build as build
from bench.native import Kernel


def test_cache_reuse_and_flag_change(tmp_path, monkeypatch):
    monkeypatch.setenv("RMAPBENCH_BUILD_DIR", str(tmp_path))
    a = build.build_library("old", 3)
    mtime = a.path.stat().st_mtime_ns
    b = build.build_library("old", 3)
    assert b.path == a.path and b.path.stat().st_mtime_ns == mtime   # cached
    c = build.build_library("old", 3, cflags="-O1")
    assert c.path != a.path and c.path.exists()
    meta = json.loads(c.path.with_suffix(".so.json").read_text())
    assert meta["cflags"] == "-O1" and meta["variant"] == "old" and meta["ext"] == 3
    assert meta["compiler_version"] and "-DPTE_LIST_EXT=3" in meta["command"]
    assert build.build_library("old", 4).path != a.path


def test_rebuild_on_source_change(tmp_path, monkeypatch):
    native = tmp_path / "native"
    shutil.copytree(build.NATIVE_DIR, native)
    monkeypatch.setattr(build, "NATIVE_DIR", native)
    monkeypatch.setenv("RMAPBENCH_BUILD_DIR", str(tmp_path / "out"))
    a = build.build_library("kvm-2023", 14)
    (native / "alloc.c").write_text((native / "alloc.c").read_text() + "\n/* touched */\n")
    b = build.build_library("kvm-2023", 14)
    assert a.path != b.path and b.path.exists()


def test_any_ext_from_2_to_64_builds_and_reports_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("RMAPBENCH_BUILD_DIR", str(tmp_path))
    for v, ext in [("old", 2), ("new", 64), ("kvm-2021", 7), ("kvm-2023", 64)]:
        k = Kernel(v, ext)
        assert (k.variant, k.ext) == (v, ext)
    # kvm-2021 at EXT 14 is 128 bytes: more, count, 14 slots
    assert Kernel("kvm-2021", 14).desc_size == 128
    assert Kernel("kvm-2023", 14).desc_size == 128
    assert Kernel("old", 3).desc_size == 32
