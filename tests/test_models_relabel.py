"""A dream model pulled by dgcode is relabelled in place: one copy on disk, loaded directly, still verifiable.

The local hub, the private Hugging Face home and the registry come from
test_models_pull.py. The engine checks run real llama.cpp on the tiny
synthetic model and compare against the same file run the usual way (through
the engine's relabelled copy in its cache).
"""

from __future__ import annotations

import json
import os
import shutil

import gguf
import numpy as np
import test_models_pull as shared
from huggingface_hub import hf_hub_download

from dgcode.engine import relabel
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.model_file import read_model_info
from dgcode.engine.sampler import SamplerSettings
from dgcode.models import store
from dgcode.models.pull import pull, verify
from dgcode.models.registry import parse_registry

REPO, cache_files = shared.REPO, shared.cache_files
hf_env, hub, data_dir, dream_bytes, cli = shared.hf_env, shared.hub, shared.data_dir, shared.dream_bytes, shared.cli


def dream_entry(**kwargs):
    return parse_registry(shared.registry_text(architecture="dream", **kwargs)).get("tiny-dream")


def changed_positions(a: bytes, b: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8))


def test_a_dream_file_this_pull_downloaded_is_relabelled_in_place_and_leaves_the_hf_cache(
        hub, data_dir, dream_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", dream_bytes)
    result = pull(dream_entry())
    dest = result.path
    assert result.placed_as == "relabelled" and result.sha256 == sha and result.checked_against == "hub"
    # One copy: nothing left in the Hugging Face cache, the store's file has no other link.
    assert [p for p in cache_files(hf_env) if "/blobs/" in p or "/snapshots/" in p] == []
    assert dest.stat().st_nlink == 1 and result.hf_cache_path is None
    # Header bytes only changed, and the header now names the cached twin.
    placed = dest.read_bytes()
    assert len(placed) == len(dream_bytes) and 0 < len(changed_positions(placed, dream_bytes)) < 200
    reader = gguf.GGUFReader(dest)
    assert reader.fields["general.architecture"].contents() == "qwen2"
    assert not [k for k in reader.fields if k.startswith("dream.")]
    # dgcode still knows it for the dream model it is.
    info = read_model_info(dest)
    assert (info.architecture, info.relabelled_as, info.n_layer) == ("dream", "qwen2", 2)
    assert result.info.relabelled_as == "qwen2"
    record = store.read_record(dest)
    assert record["sha256"] == sha and record["placed_as"] == "relabelled" and record["relabelled_as"] == "qwen2"
    assert any("one copy on disk" in note for note in result.notes)
    # verify checks the published sha256 (the relabelled bytes put back).
    report = verify(dest, dream_entry(), "Q8_0")
    assert report.ok, report.problems
    assert report.sha256 == sha == report.expected_sha256
    assert relabel.upstream_sha256(dest, "dream") == sha


def test_the_engine_loads_a_relabelled_file_directly_and_answers_as_the_original(
        hub, data_dir, dream_bytes, tmp_path, monkeypatch):
    hub.add("tiny.Q8_0.gguf", dream_bytes)
    dest = pull(dream_entry()).path
    original = tmp_path / "user" / "tiny.gguf"
    original.parent.mkdir()
    original.write_bytes(dream_bytes)
    cache = tmp_path / "engine-cache"
    settings = SamplerSettings(schedule="block", steps=8, max_tokens=16, sub_block_size=8, temperature=0.0,
                               stop_at_eos=False)
    with Engine(dest, EngineOptions(n_ctx=64, cache_dir=cache, kv_f32=True)) as engine:
        assert engine.aliased_copy is None and engine.cached and not engine.causal_prefill
        described = engine.describe()
        assert described["architecture"] == "dream" and described["relabelled_as"] == "qwen2"
        direct = engine.generate("def f(x):", settings)
    assert not (cache / "aliased").exists()  # no second copy
    with Engine(original, EngineOptions(n_ctx=64, cache_dir=cache, kv_f32=True)) as engine:
        assert engine.aliased_copy is not None and engine.aliased_copy.created
        usual = engine.generate("def f(x):", settings)
    assert direct.tokens == usual.tokens and direct.text == usual.text


def test_a_dream_file_another_tool_downloaded_is_linked_as_published(hub, data_dir, dream_bytes, hf_env):
    sha = hub.add("tiny.Q8_0.gguf", dream_bytes)
    cached = hf_hub_download(REPO, "tiny.Q8_0.gguf", endpoint=hub.url, cache_dir=str(hf_env))
    result = pull(dream_entry())
    assert result.placed_as == "hardlink" and result.from_hf_cache
    assert os.path.samefile(cached, result.path) and result.path.read_bytes() == dream_bytes
    assert read_model_info(result.path).relabelled_as is None
    assert not relabel.record_path(result.path).exists()
    assert any("the first run makes a cached copy relabelled as 'qwen2'" in note for note in result.notes)
    assert verify(result.path, dream_entry(), "Q8_0").sha256 == sha


def test_a_record_that_no_longer_matches_its_file_is_ignored(hub, data_dir, dream_bytes, tmp_path):
    hub.add("tiny.Q8_0.gguf", dream_bytes)
    dest = pull(dream_entry()).path
    # Copied without its record: the file is what its header says (a qwen2 file with a mask token).
    bare = tmp_path / "bare.gguf"
    shutil.copy(dest, bare)
    assert read_model_info(bare).architecture == "qwen2" and read_model_info(bare).relabelled_as is None
    # The record carried along, but the header edited: the record no longer counts.
    shutil.copy(relabel.record_path(dest), relabel.record_path(bare))
    assert read_model_info(bare).relabelled_as == "qwen2"
    data = bytearray(bare.read_bytes())
    offset = json.loads(relabel.record_path(bare).read_text())["offsets"][-1] + 1
    data[offset + 2] ^= 0x01
    bare.write_bytes(bytes(data))
    assert read_model_info(bare).relabelled_as is None
    # A damaged record is ignored too.
    shutil.copy(dest, bare)
    relabel.record_path(bare).write_text("{not json")
    assert read_model_info(bare).relabelled_as is None


def test_removing_a_relabelled_model_frees_its_bytes_and_its_record(hub, data_dir, dream_bytes):
    hub.add("tiny.Q8_0.gguf", dream_bytes)
    dest = pull(dream_entry()).path
    deleted, freed = store.remove(dream_entry())
    assert dest in deleted and relabel.record_path(dest) in deleted
    assert freed >= len(dream_bytes) and not (dest.parent.exists() and any(dest.parent.iterdir()))


def test_force_pulls_again_over_a_relabelled_file(hub, data_dir, dream_bytes):
    hub.add("tiny.Q8_0.gguf", dream_bytes)
    first = pull(dream_entry())
    again = pull(dream_entry(), force=True)
    assert again.placed_as == "relabelled" and again.path == first.path
    assert read_model_info(again.path).relabelled_as == "qwen2"
    assert verify(again.path, dream_entry(), "Q8_0").ok


def test_cli_verify_passes_on_a_relabelled_file(cli, hub, data_dir, dream_bytes):
    sha = hub.add("tiny.Q8_0.gguf", dream_bytes)
    registry = shared.registry_text(architecture="dream")
    pulled = cli("pull", "tiny", registry=registry)
    assert pulled.exit_code == 0, pulled.output
    assert "one copy on disk" in pulled.stderr
    checked = cli("verify", "tiny", "--json", registry=registry)
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] and report["sha256"] == sha and report["architecture"] == "dream"
