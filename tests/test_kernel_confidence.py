"""The C fused-confidence kernel agrees with numpy's reference `propose`, and falls back to it cleanly.

Tolerances (docs/kernels.md): tokens exactly; the chosen token's probability
within 2e-6 relative, the margin within 2e-6 absolute; minus the entropy within
2e-5 of an exact float64 computation, and within that plus vocab x 1e-10 of
numpy's reference, which adds 1e-10 inside its log.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dgcode.engine import confidence_kernel as ck
from dgcode.engine import unmasking as um
from dgcode.engine.engine import Engine, EngineOptions
from dgcode.engine.unmasking import SamplerSettings

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "kernels" / "cpu" / "confidence.c"
FLAGS = ["-O3", "-std=c11", "-pthread", "-ffp-contract=fast", "-fno-trapping-math", "-fvisibility=hidden",
         "-fPIC", "-shared"]  # setup.py's


@pytest.fixture(scope="session")
def built_library(tmp_path_factory) -> Path | None:
    """The installed library, else one compiled here from kernels/cpu (None: no library, no compiler)."""
    ck.reset(quiet=True)
    installed = ck.library_path()
    if installed is not None and installed.is_file():
        return installed
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    out = tmp_path_factory.mktemp("kernel") / "confidence.so"
    subprocess.run([compiler, *FLAGS, "-o", str(out), str(SOURCE), "-lm"], check=True)
    return out


@pytest.fixture
def kernel(built_library, monkeypatch):
    if built_library is None:
        pytest.skip("no C confidence kernel: the library is not built and no C compiler (cc/gcc/clang) is here")
    monkeypatch.setenv(ck.ENV_LIBRARY, str(built_library))
    monkeypatch.delenv(ck.ENV_BACKEND, raising=False)
    ck.reset(quiet=True)
    assert ck.status().backend == "c", ck.status().reason
    yield ck
    ck.reset()


@pytest.fixture
def numpy_only(monkeypatch):
    """After the test, forget whatever kernel state it left (the environment is restored by monkeypatch)."""
    yield monkeypatch
    ck.reset()


def _exact(logits: np.ndarray, temperature: float = 0.0) -> dict:
    """Straightforward float64 softmax facts, the ground truth for probabilities and entropy."""
    y = (logits / np.float32(temperature) if temperature > 0 else logits).astype(np.float64)  # float32 y, as both
    p = np.exp(y - y.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        negent = np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    top2 = np.sort(p, axis=-1)[:, -2:] if p.shape[-1] > 1 else np.repeat(p, 2, axis=-1)
    return {"p": p, "p1": top2[:, -1], "p2": top2[:, -2], "negent": negent}


def _random_logits(rng, rows, vocab, kind):
    x = (rng.standard_normal((rows, vocab)) * 4).astype(np.float32)
    if kind == "ties":  # few distinct values: the max is tied in most rows
        x = np.round(x / 4).astype(np.float32)
    elif kind == "neginf":
        x[rng.random((rows, vocab)) < 0.3] = -np.inf
        x[:, vocab // 2] = -np.inf  # the mask column, as the sampler sets it
    elif kind == "peaked":
        x[np.arange(rows), rng.integers(0, vocab, rows)] += 30
    return x


CASES = [(1, 1, "normal"), (4, 1, "normal"), (1, 7, "normal"), (33, 512, "normal"), (33, 512, "ties"),
         (12, 20000, "ties"),  # ties for the max across the kernel's 2048-entry blocks
         (17, 1000, "neginf"), (9, 4099, "peaked"), (1, 151936, "normal"), (33, 151936, "neginf")]


@pytest.mark.parametrize("rows,vocab,kind", CASES)
@pytest.mark.parametrize("algorithm", ["confidence", "margin", "entropy"])
def test_greedy_agrees_with_numpy(kernel, rows, vocab, kind, algorithm):
    rng = np.random.default_rng(rows * 7919 + vocab)
    x = _random_logits(rng, rows, vocab, kind)
    settings = SamplerSettings(algorithm=algorithm, schedule="block", steps=8)
    ref = um.propose_numpy(x, settings, np.random.default_rng(0))
    got = ck.propose(x, settings, np.random.default_rng(0))
    assert got.tokens.dtype == np.int64 and got.probability.dtype == got.score.dtype == np.float32
    assert got.tokens.tolist() == ref.tokens.tolist()
    assert got.tokens.tolist() == np.argmax(x, axis=-1).tolist()  # first index of the max, ties included
    np.testing.assert_allclose(got.probability, ref.probability, rtol=2e-6, atol=0)
    if algorithm == "entropy":
        exact = _exact(x)["negent"]
        np.testing.assert_allclose(got.score, exact, rtol=0, atol=2e-5)
        np.testing.assert_allclose(got.score, ref.score, rtol=0, atol=2e-5 + vocab * 1e-10)
    else:
        np.testing.assert_allclose(got.score, ref.score, rtol=0, atol=2e-6)


def test_outputs_against_float64_and_ties(kernel):
    rng = np.random.default_rng(5)
    x = _random_logits(rng, 64, 3000, "ties")
    out = ck.fused(x)
    exact = _exact(x)
    np.testing.assert_allclose(out.p1, exact["p1"], rtol=2e-6)
    np.testing.assert_allclose(out.p2, exact["p2"], rtol=2e-6)
    tied = (x == x.max(axis=-1, keepdims=True)).sum(axis=-1) > 1
    assert tied.any() and (out.p1[tied] == out.p2[tied]).all()  # a tied max: margin exactly 0
    assert ((out.p1 - out.p2)[~tied] > 0).all()


def test_single_column_rows_and_all_masked_rows(kernel):
    one = ck.fused(np.array([[3.5], [-1.0]], dtype=np.float32))
    assert one.token.tolist() == [0, 0] and one.p1.tolist() == [1.0, 1.0] and one.p2.tolist() == [1.0, 1.0]
    assert np.abs(one.negent).max() < 1e-7
    x = np.full((3, 50), -np.inf, dtype=np.float32)
    x[1, 7] = 2.0
    settings = SamplerSettings(algorithm="margin", schedule="block", steps=8)
    with np.errstate(invalid="ignore"):
        ref = um.propose_numpy(x, settings, np.random.default_rng(0))
    got = ck.propose(x, settings, np.random.default_rng(0))
    assert got.tokens.tolist() == ref.tokens.tolist() == [0, 7, 0]
    np.testing.assert_array_equal(got.probability, ref.probability)  # NaN where numpy's softmax is NaN
    np.testing.assert_array_equal(got.score, ref.score)


def test_temperature_probabilities_are_those_of_the_scaled_logits(kernel):
    rng = np.random.default_rng(8)
    x = _random_logits(rng, 20, 5000, "normal")
    out = ck.fused(x, temperature=0.7, draws=rng.random(20))
    exact = _exact(x, 0.7)
    np.testing.assert_allclose(out.p1, exact["p1"], rtol=2e-6)
    np.testing.assert_allclose(out.prob, exact["p"][np.arange(20), out.token], rtol=2e-6)
    np.testing.assert_allclose(out.negent, exact["negent"], atol=2e-5)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.7])
@pytest.mark.parametrize("kind", ["normal", "peaked", "neginf"])
def test_seeded_sampling_gives_numpy_tokens(kernel, temperature, kind):
    rng = np.random.default_rng(int(temperature * 10))
    x = _random_logits(rng, 300, 2000, kind)
    for algorithm in ("confidence", "random"):
        settings = SamplerSettings(temperature=temperature, algorithm=algorithm, schedule="block", steps=8,
                                   seed=3)
        ref_rng, got_rng = np.random.default_rng(3), np.random.default_rng(3)
        ref = um.propose_numpy(x, settings, ref_rng)
        got = ck.propose(x, settings, got_rng)
        assert got.tokens.tolist() == ref.tokens.tolist()
        np.testing.assert_allclose(got.probability, ref.probability, rtol=2e-6)
        if algorithm == "random":
            np.testing.assert_array_equal(got.score, ref.score)
        assert ref_rng.random() == got_rng.random()  # both consumed the generator identically
        if kind == "neginf":
            assert not (x[np.arange(len(x)), got.tokens] == -np.inf).any()  # never an excluded token


def test_seeded_sampling_on_the_large_vocabulary(kernel):
    rng = np.random.default_rng(21)
    x = _random_logits(rng, 33, 151936, "normal")
    x[:, 151665] = -np.inf  # a mask token id, as in Dream's vocabulary
    settings = SamplerSettings(temperature=0.8, seed=7)
    for seed in range(3):
        ref = um.propose_numpy(x, settings, np.random.default_rng(seed))
        got = ck.propose(x, settings, np.random.default_rng(seed))
        assert got.tokens.tolist() == ref.tokens.tolist()


def test_sampling_inverts_the_exact_cdf(kernel):
    """Draws placed just either side of CDF steps land on the tokens a float64 inverse CDF gives."""
    rng = np.random.default_rng(2)
    x = _random_logits(rng, 1, 300, "normal")
    p = _exact(x)["p"][0]
    cdf = np.cumsum(p)
    ks = rng.choice(np.flatnonzero(p[1:] > 1e-4) + 1, 40)  # steps wide enough for float32 probabilities
    draws = np.concatenate([cdf[ks - 1] + 0.05 * p[ks], cdf[ks] - 0.05 * p[ks]])
    out = ck.fused(np.repeat(x, len(draws), axis=0), temperature=1.0, draws=draws)
    assert out.token.tolist() == np.concatenate([ks, ks]).tolist()


def test_threads_do_not_change_results(kernel):
    rng = np.random.default_rng(4)
    x = _random_logits(rng, 37, 70000, "neginf")
    draws = rng.random(37)
    first = ck.fused(x, 0.9, draws, threads=1)
    for threads in (2, 3, 8, 64):
        again = ck.fused(x, 0.9, draws, threads=threads)
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_baseline_clone_agrees_with_the_installed_build(kernel, tmp_path):
    """The x86-64 baseline build (what a CPU without AVX2 runs) picks the same tokens as the dispatched clone."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build the baseline variant")
    out = tmp_path / "baseline.so"
    subprocess.run([compiler, *FLAGS, "-DDGC_NO_CLONES", "-o", str(out), str(SOURCE), "-lm"], check=True)
    baseline = ck.CKernel(out, 2)
    assert baseline.isa == "baseline"
    rng = np.random.default_rng(6)
    for kind in ("normal", "ties", "neginf", "peaked"):
        x = _random_logits(rng, 40, 9000, kind)
        draws = rng.random(40)
        for temperature, d in ((0.0, None), (0.9, draws)):
            a, b = ck.fused(x, temperature, d), baseline.run(x, temperature, d)
            assert a.token.tolist() == b.token.tolist() and a.top1.tolist() == b.top1.tolist()
            for u, v in zip(a[1:], b[1:]):
                np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_propose_dispatches_every_setting_to_the_kernel(kernel, monkeypatch):
    calls = []
    real = ck.propose
    monkeypatch.setattr(ck, "propose", lambda *a: calls.append(1) or real(*a))
    x = _random_logits(np.random.default_rng(0), 5, 100, "normal")
    rng = np.random.default_rng(0)
    um.propose(x, SamplerSettings(), rng)
    um.propose(x, SamplerSettings(temperature=0.5), rng)
    um.propose(x, SamplerSettings(temperature=0.5, top_k=100), rng)  # top-k >= vocab filters nothing
    um.propose(x, SamplerSettings(temperature=0.5, top_k=10), rng)
    um.propose(x, SamplerSettings(temperature=0.5, top_p=0.9), rng)
    um.propose(x, SamplerSettings(temperature=0.5, top_k=10, top_p=0.9, algorithm="margin"), rng)
    assert len(calls) == 6
    assert not ck.supports(SamplerSettings(), 2**31)  # top-p's candidates hold 32-bit indices


def _clear_of_the_nucleus_edge(x: np.ndarray, temperature: float, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Rows where no entry of probability > 1e-6 has a float64 mass-before within 2e-7 of top_p. Both sides'
    rounding (numpy's float32 softmax, the kernel's float32 exp) can move the nucleus edge only past entries
    that close to it (measured: up to 1.4e-7), and in these rows that moves no probability past the tolerance."""
    if top_p >= 1.0:
        return np.ones(len(x), bool)
    y = (x / np.float32(temperature) if temperature > 0 else x).astype(np.float64)
    if 0 < top_k < x.shape[-1]:
        y = np.where(y < np.sort(y, axis=-1)[:, [-top_k]], -np.inf, y)
    p = np.exp(y - y.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p = -np.sort(-p, axis=-1)
    before = np.cumsum(p, axis=-1) - p
    return ~((np.abs(before - np.float32(top_p)) < 2e-7) & (p > 1e-6)).any(axis=-1)


FILTERS = [dict(top_k=1), dict(top_k=7), dict(top_k=300), dict(top_k=5000),  # 5000: quickselect, not the heap
           dict(top_p=0.5), dict(top_p=0.9), dict(top_p=0.99),
           dict(top_k=40, top_p=0.8)]


@pytest.mark.parametrize("rows,vocab,kind", [(33, 512, "normal"), (17, 1000, "neginf"), (9, 4099, "peaked"),
                                             (12, 20000, "ties"), (5, 151936, "normal")])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_top_k_and_top_p_agree_with_numpy(kernel, rows, vocab, kind, filters):
    """Greedy and seeded sampling with each filter: numpy's tokens, probabilities and scores."""
    if kind == "ties" and "top_p" in filters:
        pytest.skip("numpy's argsort orders tied logits arbitrarily at the nucleus edge (the kernel: lower index)")
    rng = np.random.default_rng(vocab + rows)
    x = _random_logits(rng, rows, vocab, kind)
    for temperature, algorithm in ((0.0, "confidence"), (0.0, "margin"), (0.0, "entropy"), (0.8, "confidence"),
                                   (1.3, "random")):
        settings = SamplerSettings(temperature=temperature, algorithm=algorithm, schedule="block", steps=8, seed=1,
                                   **filters)
        ref_rng, got_rng = np.random.default_rng(5), np.random.default_rng(5)
        ref = um.propose_numpy(x, settings, ref_rng)
        got = ck.propose(x, settings, got_rng)
        clear = _clear_of_the_nucleus_edge(x, temperature, **filters)
        assert clear.sum() >= len(x) // 2, "too many rows at the nucleus edge to test"
        assert got.tokens[clear].tolist() == ref.tokens[clear].tolist(), (temperature, algorithm)
        np.testing.assert_allclose(got.probability[clear], ref.probability[clear], rtol=2e-6)
        if algorithm == "margin":
            np.testing.assert_allclose(got.score[clear], ref.score[clear], atol=2e-6)
        elif algorithm == "entropy":
            np.testing.assert_allclose(got.score[clear], ref.score[clear], atol=2e-5 + vocab * 1e-10)
        assert ref_rng.random() == got_rng.random()


def test_top_p_keeps_the_smallest_set_reaching_the_mass(kernel):
    """Probabilities 0.5, 0.3, 0.15, 0.05 (shuffled): top-p 0.75 keeps the first two, renormalised."""
    p = np.array([0.15, 0.5, 0.05, 0.3])
    x = np.log(p).astype(np.float32)[None, :]
    draws = np.array([0.1, 0.6, 0.64, 0.999])
    out = ck.fused(np.repeat(x, 4, axis=0), temperature=1.0, draws=draws, top_p=0.75)
    assert out.top1.tolist() == [1] * 4
    np.testing.assert_allclose(out.p1, 0.5 / 0.8, rtol=1e-5)
    np.testing.assert_allclose(out.p2, 0.3 / 0.8, rtol=1e-5)
    assert out.token.tolist() == [1, 1, 3, 3]  # the cdf over {1: 0.625, 3: 0.375}; never 0 or 2
    wider = ck.fused(x, top_p=0.85)  # 0.5 + 0.3 = 0.8 < 0.85: the third (0.15) is needed too
    np.testing.assert_allclose(wider.p1, 0.5 / 0.95, rtol=1e-5)


def test_filters_on_ties_keep_the_kth_value_and_lower_indices_first(kernel):
    x = np.array([[1.0, 3.0, 2.0, 2.0, 0.0]], dtype=np.float32)
    top_k = ck.fused(x, top_k=2)  # the 2nd largest is 2.0: both 2.0s stay
    e = np.exp([3.0, 2.0, 2.0])
    np.testing.assert_allclose(top_k.p1, e[0] / e.sum(), rtol=1e-5)
    np.testing.assert_allclose(top_k.negent, (e / e.sum() * np.log(e / e.sum())).sum(), atol=1e-5)
    flat = np.zeros((1, 4), np.float32)  # four ties at 0.25: mass before the third is 0.5 <= 0.5, the fourth's 0.75
    out = ck.fused(np.repeat(flat, 3, axis=0), temperature=1.0, draws=np.array([0.2, 0.5, 0.99]), top_p=0.5)
    np.testing.assert_allclose(out.p1, 1 / 3, rtol=1e-6)
    assert out.token.tolist() == [0, 1, 2]  # tokens 0, 1 and 2 kept, in index order; never 3


@pytest.mark.parametrize("bad", [dict(top_k=-1), dict(top_p=0.0), dict(top_p=1.5), dict(top_p=float("nan"))])
def test_bad_filters_are_refused_by_the_library(kernel, bad):
    x = np.zeros((2, 8), np.float32)
    with pytest.raises(RuntimeError, match="failed"):
        ck.fused(x, **bad)


def test_seeded_top_p_sampling_on_the_large_vocabulary(kernel):
    rng = np.random.default_rng(23)
    x = _random_logits(rng, 33, 151936, "normal")
    x[:, 151665] = -np.inf
    for seed, extra in ((0, dict(top_p=0.9)), (1, dict(top_p=0.95, top_k=2000)), (2, dict(top_k=50))):
        settings = SamplerSettings(temperature=0.8, seed=seed, **extra)
        ref = um.propose_numpy(x, settings, np.random.default_rng(seed))
        got = ck.propose(x, settings, np.random.default_rng(seed))
        clear = _clear_of_the_nucleus_edge(x, 0.8, **extra)
        assert clear.sum() >= len(x) // 2, "too many rows at the nucleus edge to test"
        assert got.tokens[clear].tolist() == ref.tokens[clear].tolist(), extra
        np.testing.assert_allclose(got.probability[clear], ref.probability[clear], rtol=2e-6)


def _numpy_path_taken(monkeypatch) -> list:
    used = []
    real = um.propose_numpy
    monkeypatch.setattr(um, "propose_numpy", lambda *a: used.append(1) or real(*a))
    monkeypatch.setattr(ck, "propose", lambda *a: pytest.fail("the C kernel was used"))
    return used


def test_env_var_forces_numpy_with_one_notice(numpy_only, capsys, built_library):
    numpy_only.setenv(ck.ENV_BACKEND, "numpy")
    numpy_only.delenv(ck.ENV_QUIET, raising=False)
    ck.reset()
    used = _numpy_path_taken(numpy_only)
    x = _random_logits(np.random.default_rng(0), 3, 40, "normal")
    a = um.propose(x, SamplerSettings(), np.random.default_rng(0))
    um.propose(x, SamplerSettings(), np.random.default_rng(0))
    assert len(used) == 2 and a.tokens.tolist() == np.argmax(x, axis=-1).tolist()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "confidence kernel: numpy" in err and "DGCODE_KERNELS=numpy" in err
    assert ck.status().describe() == "numpy (DGCODE_KERNELS=numpy)"


@pytest.mark.parametrize("what", ["missing", "not a library"])
def test_unusable_library_falls_back_to_numpy(numpy_only, capsys, tmp_path, what):
    path = tmp_path / "confidence.so"
    if what == "not a library":
        path.write_text("not an ELF file")
    numpy_only.setenv(ck.ENV_LIBRARY, str(path))
    numpy_only.delenv(ck.ENV_BACKEND, raising=False)
    numpy_only.delenv(ck.ENV_QUIET, raising=False)
    ck.reset()
    used = _numpy_path_taken(numpy_only)
    x = _random_logits(np.random.default_rng(1), 4, 64, "normal")
    for _ in range(3):
        got = um.propose(x, SamplerSettings(temperature=0.7), np.random.default_rng(0))
    assert len(used) == 3 and got.tokens.shape == (4,)
    err = capsys.readouterr().err
    assert err.count("dgcode: confidence kernel: numpy") == 1 and str(path) in err
    assert ck.status().backend == "numpy" and ("does not exist" if what == "missing" else "did not load") \
        in ck.status().reason
    with pytest.raises(RuntimeError, match="not available"):
        ck.fused(x)


def test_quiet_fallback_prints_nothing(numpy_only, capsys, tmp_path):
    numpy_only.setenv(ck.ENV_LIBRARY, str(tmp_path / "none.so"))
    numpy_only.setenv(ck.ENV_QUIET, "1")
    ck.reset()
    um.propose(np.zeros((2, 5), np.float32), SamplerSettings(), np.random.default_rng(0))
    assert capsys.readouterr().err == ""


ENGINE_SETTINGS = [
    dict(),  # the default: confidence threshold 0.9
    dict(algorithm="margin", threshold=0.05),
    dict(schedule="block", steps=16, algorithm="entropy"),
    dict(schedule="block", steps=16, temperature=0.8, seed=11),
    dict(schedule="block", steps=16, algorithm="random", temperature=1.2, seed=5),
    dict(schedule="timestep", steps=16, algorithm="origin", temperature=0.6, seed=2),
    dict(schedule="block", steps=16, algorithm="margin", alg_temp=0.5, temperature=0.5, seed=9),
    dict(schedule="block", steps=16, temperature=0.9, top_p=0.9, seed=4),
    dict(schedule="block", steps=16, temperature=0.7, top_k=20, seed=6),
]


@pytest.mark.parametrize("arch", ["dream", "llada"])
def test_engine_commits_what_the_numpy_path_commits(kernel, models, monkeypatch, arch):
    """Real llama.cpp steps on a tiny GGUF: the C kernel and numpy choose the same tokens at every step."""
    calls = []
    real = ck.propose
    monkeypatch.setattr(ck, "propose", lambda *a: calls.append(1) or real(*a))
    with Engine(models[arch], EngineOptions(n_ctx=160)) as engine:
        for extra in ENGINE_SETTINGS:
            settings = SamplerSettings(max_tokens=48, sub_block_size=16, canvas_size=48, stop_at_eos=False,
                                       **extra)
            monkeypatch.delenv(ck.ENV_BACKEND, raising=False)
            ck.reset(quiet=True)
            before = len(calls)
            fast = engine.generate("def add(a, b):", settings)
            assert len(calls) - before == fast.steps, extra  # every step went through the C kernel
            monkeypatch.setenv(ck.ENV_BACKEND, "numpy")
            ck.reset(quiet=True)
            slow = engine.generate("def add(a, b):", settings)
            assert len(calls) - before == fast.steps
            assert (fast.tokens, fast.steps) == (slow.tokens, slow.steps), extra


def test_the_engine_childs_fallback_notice_reaches_the_front_end(models, monkeypatch, tmp_path):
    """The engine runs in a child whose stderr is llama.cpp's log: the notice comes back through ``say``."""
    from dgcode.engine.worker import EngineClient
    from dgcode.workflows.model_engine import ModelEngine

    monkeypatch.setenv(ck.ENV_LIBRARY, str(tmp_path / "no-such-confidence.so"))
    monkeypatch.delenv(ck.ENV_BACKEND, raising=False)
    monkeypatch.delenv(ck.ENV_QUIET, raising=False)
    said: list[str] = []
    engine = ModelEngine(EngineClient(models["dream"]), said.append)
    try:
        engine.start()
        notices = [line for line in said if "confidence kernel" in line]
        assert notices == [f"confidence kernel: numpy, the C kernel library {tmp_path / 'no-such-confidence.so'} "
                           "does not exist"], said
    finally:
        engine.close()
    monkeypatch.setenv(ck.ENV_QUIET, "1")
    said.clear()
    engine = ModelEngine(EngineClient(models["dream"]), said.append)
    try:
        engine.start()
        assert not [line for line in said if "confidence kernel" in line], said
    finally:
        engine.close()
