"""The model registry: the packaged file loads and every entry is usable; broken files say which entry and key.

Also name resolution (case, aliases, NAME:QUANT) and turning a model setting
(a path or a registry name) into a pulled file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dgcode.engine.errors import ModelFileError
from dgcode.engine.unmasking import SamplerSettings
from dgcode.models.registry import RegistryError, load_registry, parse_registry
from dgcode.models.store import ModelNotDownloadedError, local_path, resolve_model

GOOD = """
schema = 1

[models.alpha-7b]
display_name = "Alpha 7B"
aliases = ["alpha", "Alpha-Model"]
upstream = "org/Alpha-7B"
repo = "someone/Alpha-7B-GGUF"
architecture = "dream"
mask_token_id = 151666
shift_logits = true
default_quant = "Q4_K_M"
files.Q4_K_M = { file = "Alpha-7B.Q4_K_M.gguf" }
files.Q8_0 = { file = "Alpha-7B.Q8_0.gguf" }

[models.alpha-7b.sampler]
schedule = "timestep"
algorithm = "entropy"
temperature = 0.2
tokens_per_step = 2
from_card = ["temperature"]

[models.beta]
upstream = "org/Beta"
architecture = "qwen2"
mask_token_id = 151665
shift_logits = true

[models.beta.sampler]
schedule = "threshold"
algorithm = "confidence"
threshold = 0.9
sub_block = 8
"""


def test_the_packaged_registry_loads_and_every_sampler_suits_the_engine():
    registry = load_registry()
    assert len(registry) >= 8
    for name in ("dream-coder-7b-instruct", "diffucoder-7b-cpgrpo", "diffucoder-7b-instruct", "dream-7b-instruct",
                 "llada-8b-instruct", "llada-moe-7b-instruct", "fast-dllm-v2-7b", "rnd1-base"):
        assert registry.find(name) is not None, name
    for entry in registry:
        assert entry.mask_token_id is not None and entry.card.startswith("https://"), entry.name
        assert entry.verified or entry.note, f"{entry.name}: an unverified entry must say why in its note"
        if entry.pullable:
            assert entry.default_quant in entry.files, entry.name
        for max_tokens in (1, 100, 256, 1000):
            kwargs = entry.sampler.settings_kwargs(max_tokens)
            canvas = -(-max_tokens // entry.sampler.sub_block) * entry.sampler.sub_block
            SamplerSettings(**kwargs, canvas_size=canvas).validate()
    fast = registry.get("Fast_dLLM_v2_7B")
    assert (fast.architecture, fast.mask_token_id, fast.pullable) == ("qwen2", 151665, False)
    llada = registry.get("llada")
    assert (llada.mask_token_id, llada.shift_logits, llada.sampler.sub_block) == (126336, False, 32)
    assert {"temperature", "sub_block"} <= set(llada.sampler.from_card)


def test_names_resolve_case_insensitively_through_aliases_and_quant_suffixes():
    registry = parse_registry(GOOD)
    assert registry.get("ALPHA-7B").name == "alpha-7b"
    assert registry.get("alpha-model").name == "alpha-7b"
    assert registry.get("  Alpha ").name == "alpha-7b"
    entry, quant = registry.parse_spec("alpha:q8_0")
    assert (entry.name, quant) == ("alpha-7b", "Q8_0")
    assert registry.parse_spec("beta") == (registry.get("beta"), None)
    assert registry.get("alpha").file_for().file == "Alpha-7B.Q4_K_M.gguf"
    with pytest.raises(RegistryError, match="unknown model 'alpah'; did you mean alpha"):
        registry.get("alpah")
    with pytest.raises(RegistryError, match="alpha-7b has no Q2_K file; available: Q4_K_M, Q8_0"):
        registry.parse_spec("alpha:Q2_K")
    with pytest.raises(RegistryError, match="beta: no GGUF repository is known"):
        registry.get("beta").file_for()


def test_settings_kwargs_turn_tokens_per_step_into_steps():
    alpha = parse_registry(GOOD).get("alpha")
    kwargs = alpha.sampler.settings_kwargs(max_tokens=256)
    assert (kwargs["schedule"], kwargs["steps"], kwargs["temperature"], kwargs["sub_block_size"]) == (
        "timestep", 128, 0.2, 32)
    assert alpha.sampler.settings_kwargs(max_tokens=10)["steps"] == 5
    beta = parse_registry(GOOD).get("beta").sampler.settings_kwargs(max_tokens=64)
    assert "steps" not in beta and beta["threshold"] == 0.9


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize("text,message", [
    (edit("mask_token_id = 151666", 'mask_token_id = "x"'),
     "[models.alpha-7b] mask_token_id must be a whole number >= 0, got 'x'"),
    (edit("shift_logits = true\ndefault_quant", "default_quant"),
     "[models.alpha-7b] is missing the key shift_logits (true or false)"),
    (edit('architecture = "dream"', 'architecture = "gpt2"'),
     "[models.alpha-7b] architecture must be one of dream, llada, llada-moe, rnd1, qwen2, qwen3, llama, got 'gpt2'"),
    (edit("upstream = \"org/Alpha-7B\"", "upstream = \"org/Alpha-7B\"\nlicence = \"mit\""),
     "[models.alpha-7b] unknown key licence; did you mean license?"),
    (edit('default_quant = "Q4_K_M"', 'default_quant = "Q5_K_M"'),
     "[models.alpha-7b] default_quant must be one of Q4_K_M, Q8_0, got 'Q5_K_M'"),
    (edit('files.Q8_0 = { file = "Alpha-7B.Q8_0.gguf" }', 'files.Q8_0 = { file = "Alpha-7B.Q8_0.bin" }'),
     "[models.alpha-7b] files.Q8_0.file must be a relative .gguf file name, got 'Alpha-7B.Q8_0.bin'"),
    (edit('files.Q8_0 = { file = "Alpha-7B.Q8_0.gguf" }', 'files.Q8_0 = { file = "A.gguf", sha256 = "abc" }'),
     "[models.alpha-7b] files.Q8_0.sha256 must be 64 lower-case hex digits, got 'abc'"),
    (edit("mask_token_id = 151665\n", ""),
     "[models.beta] a model stored as 'qwen2' needs mask_token_id"),
    (edit('aliases = ["alpha", "Alpha-Model"]', 'aliases = ["alpha", "BETA"]'),
     "[models.alpha-7b] alias 'BETA' is already used by beta"),
    (edit('algorithm = "confidence"', 'algorithm = "entropy"'),
     "[models.beta] sampler settings are not usable: the threshold schedule works with the confidence or margin"),
    (edit('schedule = "timestep"', 'schedule = "diagonal"'),
     "[models.alpha-7b] sampler.schedule must be one of threshold, block, timestep, got 'diagonal'"),
    (edit('from_card = ["temperature"]', 'from_card = ["top_p"]'),
     "[models.alpha-7b] sampler.from_card must be a list of keys set in this sampler table, got 'top_p'"),
    (edit('repo = "someone/Alpha-7B-GGUF"\n', ""),
     "[models.alpha-7b] lists files but no repo to download them from"),
    (edit("[models.beta.sampler]", "[models.beta.sampling]"),
     "[models.beta] unknown key sampling; did you mean sampler?"),
    ("[models.x]\nupstream = ", "not valid TOML"),
    ("schema = 2\n" + GOOD.replace("schema = 1\n", ""), "schema 2 is not supported"),
])
def test_a_broken_registry_names_the_entry_and_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(RegistryError) as failure:
        load_registry(path)
    assert str(failure.value).startswith(str(path.resolve()) + ": ")
    assert message in str(failure.value)


def test_dgcode_registry_replaces_the_packaged_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("DGCODE_REGISTRY", str(path))
    assert [entry.name for entry in load_registry()] == ["alpha-7b", "beta"]
    path.write_text(GOOD.replace("Alpha 7B", "Alpha Seven"))  # an edited file is read again
    assert load_registry().get("alpha").display_name == "Alpha Seven"
    monkeypatch.setenv("DGCODE_REGISTRY", str(tmp_path / "missing.toml"))
    with pytest.raises(RegistryError, match="cannot read the model registry .*missing.toml"):
        load_registry()


# --- resolving a model setting -----------------------------------------------------------------------


@pytest.fixture
def pulled(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DGCODE_DATA_DIR", str(tmp_path / "data"))
    registry = parse_registry(GOOD)

    def place(name: str, quant: str) -> Path:
        path = local_path(registry.get(name), quant)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"GGUF")
        return path

    return registry, place


def test_a_path_is_returned_as_is(pulled, tmp_path: Path):
    registry, _ = pulled
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert resolve_model(own, registry).path == own and resolve_model(own, registry).entry is None
    missing = resolve_model(str(tmp_path / "nowhere.gguf"), registry)
    assert missing.path == tmp_path / "nowhere.gguf" and missing.entry is None


def test_a_registry_name_resolves_to_its_pulled_file(pulled):
    registry, place = pulled
    with pytest.raises(ModelNotDownloadedError, match=re.escape(
            "model 'alpha-7b' is not downloaded: run `dgcode models pull alpha-7b`")):
        resolve_model("alpha", registry)
    assert issubclass(ModelNotDownloadedError, ModelFileError)
    q8 = place("alpha", "Q8_0")
    resolved = resolve_model("Alpha", registry)  # the default Q4_K_M is missing: the pulled Q8_0 is used
    assert (resolved.path, resolved.entry.name, resolved.quant) == (q8, "alpha-7b", "Q8_0")
    q4 = place("alpha", "Q4_K_M")
    assert resolve_model("alpha", registry).path == q4  # the default wins once pulled
    assert resolve_model("alpha:q8_0", registry).path == q8
    with pytest.raises(ModelNotDownloadedError, match="run `dgcode models pull alpha-7b --quant Q8_0`"):
        q8.unlink()
        resolve_model("alpha:Q8_0", registry)
    # A name that config.py made absolute (relative to its file's folder) is still recognised.
    assert resolve_model(Path("/home/someone/.config/dgcode/alpha"), registry).path == q4
    # A path inside the store knows its entry.
    assert resolve_model(q4, registry).entry.name == "alpha-7b"


def test_the_mask_token_comes_from_the_registry_only_for_ar_stored_models(pulled):
    registry, place = pulled
    place("alpha", "Q4_K_M")
    assert resolve_model("alpha", registry).mask_token_id is None  # a dream header carries its own
    with pytest.raises(ModelNotDownloadedError, match="'beta' has no downloadable GGUF"):
        resolve_model("beta", registry)
