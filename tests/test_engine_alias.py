"""Aliased copies: made once in the cache, relabelled header only, renewed when the source changes."""

from __future__ import annotations

import os
import shutil

import gguf
import numpy as np

from dgcode.engine.alias import aliased_copy_path, ensure_aliased_copy
from dgcode.engine.model_file import read_model_info


def _diff_positions(a: bytes, b: bytes) -> np.ndarray:
    x, y = np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8)
    return np.flatnonzero(x != y)


def test_copy_differs_only_in_the_architecture_name(tmp_path, models):
    info = read_model_info(models["dream"])
    seen = []
    copy = ensure_aliased_copy(info, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert copy.parent == tmp_path / "aliased"
    assert seen and seen[-1][0] == seen[-1][1] == info.size_bytes
    original, aliased = info.path.read_bytes(), copy.read_bytes()
    assert len(original) == len(aliased)
    changed = _diff_positions(original, aliased)
    assert 0 < len(changed) < 200 and changed.max() < 20_000  # header bytes only
    reader = gguf.GGUFReader(copy)
    assert reader.fields["general.architecture"].contents() == "qwen2"
    assert not [k for k in reader.fields if k.startswith("dream.")]
    assert reader.fields["qwen2.block_count"].contents() == 2
    assert original == models["dream"].read_bytes()  # the source is untouched
    assert not [p for p in copy.parent.iterdir() if p.name.endswith(".tmp")]


def test_copy_is_reused_and_renewed_when_the_source_changes(tmp_path, models):
    source = tmp_path / "user" / "m.gguf"
    source.parent.mkdir()
    shutil.copy(models["llada"], source)
    cache = tmp_path / "cache"
    first = ensure_aliased_copy(read_model_info(source), cache)
    stamp = first.stat().st_mtime_ns
    assert ensure_aliased_copy(read_model_info(source), cache) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten

    shutil.copy(models["dream"], source)  # the user replaces the file (another model, another arch)
    os.utime(source, ns=(stamp + 10**9, stamp + 10**9))
    info = read_model_info(source)
    second = ensure_aliased_copy(info, cache)
    assert second != first and second == aliased_copy_path(info, cache)
    assert not first.exists()  # the stale copy of the same source was removed
    assert gguf.GGUFReader(second).fields["general.architecture"].contents() == "qwen2"
