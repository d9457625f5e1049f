"""dgcode's GPU kernels (kernels/cuda, kernels/metal; docs/kernels-gpu.md).

(a) The numpy references in kernels/reference/ agree with straightforward
    computations: numpy softmax / argmax / entropy / an inverse-CDF count for
    fused confidence; the one-shot softmax(QK^T/sqrt(d))V with the GQA head
    mapping for block attention, K candidates sharing a prefix included.
(b) Every .cu compiles with nvcc for sm_80 and sm_90 (skipped only where nvcc
    is absent), into a temp dir; the harness links.
(c) The harness's C++ CPU references, which the GPU run is graded against,
    agree with the numpy references (runs on the CPU: `harness --cpu-ref`).
(d) The real kernel sources, compiled with g++ against kernels/cuda/emu/ (a CPU
    emulation of the CUDA features they use: fibers for threads, barriers,
    warp shuffles), pass every harness check (`--checks-only`): their logic
    runs here, though not on a GPU. With a CUDA device, the harness's GPU
    checks pass (skipped without one).
(e) The Metal sources declare the same kernel entry points as the CUDA ones.

Tolerances: references against the one-shot formulas 1e-12 (both float64);
the C++ CPU references against numpy 1e-6 relative (the C++ writes float32);
the GPU against the C++ references as stated in kernels/cuda/harness.cu.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CUDA_DIR = ROOT / "kernels" / "cuda"
METAL_DIR = ROOT / "kernels" / "metal"
CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
KERNEL_SOURCES = [CUDA_DIR / "fused_confidence.cu", CUDA_DIR / "block_attention.cu"]
GENCODE = ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]
NVCC = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if Path(p).exists()), None)


def _load(name: str):
    path = ROOT / "kernels" / "reference" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"dgc_reference_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fc = _load("fused_confidence")
ba = _load("block_attention")


# ---------------------------------------------------------------- (a) fused confidence reference

def _softmax(y: np.ndarray) -> np.ndarray:
    z = np.exp(y.astype(np.float64) - y.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def test_confidence_reference_matches_numpy_softmax_argmax_entropy():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((12, 5000)) * rng.uniform(0.5, 8, (12, 1))).astype(np.float32)
    for temperature in (0.0, 0.7, 1.0, 2.5):
        y = logits / np.float32(temperature) if temperature > 0 else logits
        p = _softmax(y)
        got = fc.fused_confidence(logits, temperature)
        np.testing.assert_array_equal(got["top1"], np.argmax(y, axis=1))
        np.testing.assert_array_equal(got["token"], got["top1"])
        srt = np.sort(p, axis=1)
        np.testing.assert_allclose(got["p1"], srt[:, -1], rtol=1e-12)
        np.testing.assert_allclose(got["p2"], srt[:, -2], rtol=1e-12)
        np.testing.assert_allclose(got["neg_entropy"], (p * np.log(p)).sum(axis=1), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["prob"], got["p1"])


def test_confidence_ties_lowest_index_and_runner_up_equals_top():
    logits = np.zeros((3, 10), np.float32)
    logits[0, [3, 7]] = 5.0          # tie for the max
    logits[1, :] = 1.0               # everything ties
    logits[2, [9, 2]] = [4.0, 4.0]   # the index written first is not the one that wins
    got = fc.fused_confidence(logits)
    assert got["top1"].tolist() == [3, 0, 2]
    np.testing.assert_allclose(got["p2"], got["p1"])
    np.testing.assert_allclose(got["p1"][1], 0.1)


def test_confidence_temperature_division_can_create_ties_and_argmax_follows_y():
    # Two logits one ulp apart that the f32 division by 3 maps to the same value: y's first index wins.
    a = np.float32(1.0)
    b = np.nextafter(a, np.float32(2.0))
    logits = np.array([[a, b]], np.float32)
    y = logits / np.float32(3.0)
    got = fc.fused_confidence(logits, 3.0)
    assert got["top1"][0] == int(np.argmax(y[0]))
    if y[0, 0] == y[0, 1]:
        assert got["top1"][0] == 0


def test_confidence_neg_inf_excluded_and_empty_rows():
    logits = np.full((4, 8), -np.inf, np.float32)
    logits[0, [1, 4]] = [2.0, 1.0]
    logits[1, 5] = 100.0             # the excluded id is the row's max
    logits[1, 6] = 0.0
    logits[3, 5] = 3.0               # only the excluded id is finite: nothing can be chosen
    got = fc.fused_confidence(logits, 1.0, draws=np.zeros(4), excluded=5)
    assert got["top1"].tolist() == [1, 6, -1, -1]
    assert got["token"].tolist() == [1, 6, -1, -1]
    p = _softmax(np.array([2.0, 1.0]))
    np.testing.assert_allclose([got["p1"][0], got["p2"][0]], p, rtol=1e-12)
    np.testing.assert_allclose(got["neg_entropy"][0], (p * np.log(p)).sum(), rtol=1e-12)
    assert got["p1"][1] == 1.0 and got["p2"][1] == 0.0 and got["neg_entropy"][1] == 0.0
    for name in ("p1", "p2", "neg_entropy", "prob"):
        assert np.isnan(got[name][2]) and np.isnan(got[name][3])


def test_confidence_sampling_is_dgcodes_inverse_cdf_count():
    # dgcode's numpy path: token = number of CDF entries below the draw (float64 CDF).
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((64, 3000)) * 3).astype(np.float32)
    logits[:, 11] = -np.inf
    draws = np.random.default_rng(42).random(64)
    got = fc.fused_confidence(logits, 0.8, draws=draws)
    probs = _softmax(logits / np.float32(0.8))
    expected = np.minimum((np.cumsum(probs, axis=1) < draws[:, None]).sum(axis=1), 2999)
    np.testing.assert_array_equal(got["token"], expected)
    np.testing.assert_allclose(got["prob"], probs[np.arange(64), expected], rtol=1e-12)
    # Same seed, same tokens.
    again = fc.fused_confidence(logits, 0.8, draws=np.random.default_rng(42).random(64))
    np.testing.assert_array_equal(again["token"], got["token"])


def test_confidence_sampling_never_draws_zero_mass_and_follows_the_distribution():
    with np.errstate(divide="ignore"):
        logits = np.log(np.array([[0.0, 0.1, 0.0, 0.2, 0.3, 0.4, 0.0]], np.float64)).astype(np.float32)
    n = 20000
    draws = np.concatenate([[0.0, np.nextafter(1.0, 0.0)], np.random.default_rng(3).random(n - 2)])
    tokens = np.array([fc.fused_confidence(logits, 1.0, draws=draws[i:i + 1], excluded=3)["token"][0]
                       for i in range(0, 200)])
    batch = fc.fused_confidence(np.repeat(logits, n, axis=0), 1.0, draws=draws, excluded=3)["token"]
    np.testing.assert_array_equal(batch[:200], tokens)
    assert set(batch.tolist()) <= {1, 4, 5}       # zero mass (0, 2, 6) and the excluded id 3 never
    assert batch[0] == 1 and batch[1] == 5          # draw 0: first token with mass; draw ~1: the last
    p = np.array([0.1, 0.3, 0.4]) / 0.8
    freq = np.array([(batch == t).mean() for t in (1, 4, 5)])
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n))


def test_confidence_row_records_roundtrip():
    rec = np.zeros(2, fc.ROW_DTYPE)
    rec["top1"] = [3, -1]
    rec["p1"] = [0.5, np.nan]
    assert fc.ROW_DTYPE.itemsize == 24
    got = fc.from_rows(np.frombuffer(rec.tobytes(), np.uint8))
    assert got["top1"].tolist() == [3, -1] and got["p1"][0] == 0.5


# ---------------------------------------------------------------- (a) block attention reference

def _explicit_attention(q, kp, vp, kb, vb, scale):
    """softmax(scale * Q K^T) V per candidate and query head, keys = prefix then that candidate's block."""
    n_cand, n_q, n_head, d = q.shape
    n_kv_head = kp.shape[1]
    out = np.zeros((n_cand, n_q, n_head, d))
    for c in range(n_cand):
        for h in range(n_head):
            kvh = h // (n_head // n_kv_head)
            keys = np.concatenate([kp[:, kvh], kb[c, :, kvh]]).astype(np.float64)
            vals = np.concatenate([vp[:, kvh], vb[c, :, kvh]]).astype(np.float64)
            scores = scale * q[c, :, h].astype(np.float64) @ keys.T
            w = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[c, :, h] = (w / w.sum(axis=1, keepdims=True)) @ vals
    return out


def _attn_inputs(n_cand, n_q, n_prefix, n_head, n_kv_head, d, seed=0, q_scale=1.0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_cand, n_q, n_head, d)) * q_scale
    kp = rng.standard_normal((n_prefix, n_kv_head, d))
    vp = rng.standard_normal((n_prefix, n_kv_head, d))
    kb = rng.standard_normal((n_cand, n_q, n_kv_head, d))
    vb = rng.standard_normal((n_cand, n_q, n_kv_head, d))
    return q, kp, vp, kb, vb


@pytest.mark.parametrize("shape", [(1, 1, 0, 1, 1, 8), (1, 7, 40, 4, 2, 16), (3, 5, 70, 14, 2, 64),
                                   (2, 33, 100, 28, 4, 32)])
@pytest.mark.parametrize("q_scale", [1.0, 6.0])
def test_block_attention_reference_matches_explicit_softmax(shape, q_scale):
    q, kp, vp, kb, vb = _attn_inputs(*shape, seed=sum(shape), q_scale=q_scale)
    scale = 1.0 / np.sqrt(shape[-1])
    got = ba.block_attention(q, kp, vp, kb, vb, scale, tile=32)
    np.testing.assert_allclose(got, _explicit_attention(q, kp, vp, kb, vb, scale), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ba.block_attention(q, kp, vp, kb, vb, scale, tile=7), got, rtol=1e-10, atol=1e-12)


def test_block_attention_candidates_share_the_prefix_and_see_only_their_own_block():
    q, kp, vp, kb, vb = _attn_inputs(4, 6, 50, 8, 2, 16, seed=5)
    both = ba.block_attention(q, kp, vp, kb, vb)
    for c in range(4):
        alone = ba.block_attention(q[c:c + 1], kp, vp, kb[c:c + 1], vb[c:c + 1])
        np.testing.assert_allclose(both[c:c + 1], alone, rtol=1e-12, atol=1e-14)
    # Another candidate's block changes nothing for candidate 0.
    kb2, vb2 = kb.copy(), vb.copy()
    kb2[1:] += 1.0
    vb2[1:] -= 2.0
    np.testing.assert_allclose(ba.block_attention(q, kp, vp, kb2, vb2)[0], both[0], rtol=1e-12, atol=1e-14)


def test_block_attention_has_no_mask_inside_the_block():
    # Changing the block's LAST key/value changes the FIRST query's output: no causal mask.
    q, kp, vp, kb, vb = _attn_inputs(1, 8, 10, 4, 4, 16, seed=9)
    before = ba.block_attention(q, kp, vp, kb, vb)
    vb2 = vb.copy()
    vb2[0, -1] += 5.0
    after = ba.block_attention(q, kp, vp, kb, vb2)
    assert np.abs(after[0, 0] - before[0, 0]).max() > 1e-3


def test_block_attention_gqa_heads_in_a_group_share_kv():
    # Query heads 0..G-1 use kv head 0: identical queries in those heads give identical outputs.
    q, kp, vp, kb, vb = _attn_inputs(1, 4, 9, 6, 2, 8, seed=11)
    q[:, :, 1] = q[:, :, 0]
    q[:, :, 3] = q[:, :, 0]        # head 3 is in the second group: a different kv head
    out = ba.block_attention(q, kp, vp, kb, vb)
    np.testing.assert_allclose(out[:, :, 1], out[:, :, 0], rtol=1e-12)
    assert np.abs(out[:, :, 3] - out[:, :, 0]).max() > 1e-3


def test_bf16_helpers_roundtrip():
    x = np.array([1.0, -2.5, 3.140625, 1e-3, 65504.0], np.float32)
    back = ba.bf16_to_float(ba.float_to_bf16(x))
    np.testing.assert_allclose(back, x, rtol=2 ** -8)
    assert ba.bf16_to_float(ba.float_to_bf16(np.float32(1.0 + 2 ** -9)))[()] == 1.0  # ties to even


# ---------------------------------------------------------------- (b) nvcc compiles

def _nvcc(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([NVCC, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each .cu compiled once for sm_80 and sm_90 (one nvcc call, two gencodes), then the harness linked."""
    if NVCC is None:
        pytest.skip("nvcc not found: the CUDA sources cannot be compiled on this machine")
    out = tmp_path_factory.mktemp("cuda_build")
    objects = {src.name: out / (src.stem + ".o") for src in CU_FILES}
    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine is shared: two at a time at most
        results = dict(zip(CU_FILES, pool.map(
            lambda src: _nvcc(["-O3", "-std=c++17", "-Xptxas", "-v", *GENCODE, "-c", str(src), "-o", str(objects[src.name])]),
            CU_FILES)))
    link = None
    if all(r.returncode == 0 for r in results.values()):
        link = _nvcc([*GENCODE, *(str(o) for o in objects.values()), "-o", str(out / "harness")])
    return {"dir": out, "results": results, "link": link, "harness": out / "harness"}


def test_cuda_sources_present():
    assert {p.name for p in CU_FILES} >= {"fused_confidence.cu", "block_attention.cu", "harness.cu"}


@pytest.mark.parametrize("name", ["fused_confidence.cu", "block_attention.cu", "harness.cu"])
def test_cu_compiles_for_sm80_and_sm90(built, name):
    result = built["results"][CUDA_DIR / name]
    assert result.returncode == 0, result.stderr[-4000:]
    assert "warning" not in result.stderr.lower(), result.stderr[-4000:]
    # ptxas -v names every entry function it compiles and for which architecture.
    compiled = set(re.findall(r"Compiling entry function '(\w+)' for '(sm_\d+)'", result.stderr))
    if name != "harness.cu":
        expected = {n for n in _cuda_entry_points() if n in (CUDA_DIR / name).read_text()}
        assert expected, name
        assert compiled == {(n, sm) for n in expected for sm in ("sm_80", "sm_90")}, sorted(compiled)


def test_harness_links(built):
    assert built["link"] is not None and built["link"].returncode == 0, built["link"] and built["link"].stderr
    assert built["harness"].exists()


# ---------------------------------------------------------------- (c) C++ CPU references == numpy references

@pytest.fixture(scope="module")
def cpu_ref(built):
    if built["link"] is None or built["link"].returncode != 0:
        pytest.fail("the harness did not link")
    out = built["dir"] / "cpu_ref"
    out.mkdir(exist_ok=True)
    run = subprocess.run([str(built["harness"]), "--cpu-ref", str(out)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    meta = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return out, meta


def test_harness_cpu_confidence_reference_agrees_with_numpy(cpu_ref):
    out, meta = cpu_ref
    cases = [m for m in meta if m["kernel"] == "fused_confidence"]
    assert len(cases) == 2
    for m in cases:
        assert m["row_bytes"] == fc.ROW_DTYPE.itemsize
        rows, vocab, p = m["rows"], m["vocab"], out / m["prefix"]
        logits = np.fromfile(f"{p}_logits.f32", np.float32).reshape(rows, vocab)
        draws = np.fromfile(f"{p}_draws.f64", np.float64)
        assert np.isneginf(logits[2]).all()                     # the planted rows are there
        for mode, d in (("greedy", None), ("sampled", draws)):
            cpp = fc.from_rows(np.fromfile(f"{p}_{mode}.bin", np.uint8))
            ref = fc.fused_confidence(logits, m["temperature"], draws=d, excluded=m["excluded"])
            np.testing.assert_array_equal(cpp["top1"], ref["top1"], err_msg=f"{m['prefix']} {mode}")
            np.testing.assert_array_equal(cpp["token"], ref["token"], err_msg=f"{m['prefix']} {mode}")
            assert (cpp["token"] != m["excluded"]).all()
            for name in ("p1", "p2", "neg_entropy", "prob"):
                np.testing.assert_allclose(cpp[name], ref[name], rtol=1e-6, atol=1e-7,
                                           err_msg=f"{m['prefix']} {mode} {name}")


def test_harness_cpu_attention_reference_agrees_with_numpy(cpu_ref):
    out, meta = cpu_ref
    cases = [m for m in meta if m["kernel"] == "block_attention"]
    assert {m["prefix"] for m in cases} == {"attn_f16", "attn_bf16"}
    for m in cases:
        p = out / m["prefix"]
        c, nq, npf, nh, nkv, d = (m[k] for k in ("n_cand", "n_q", "n_prefix", "n_head", "n_kv_head", "head_dim"))

        def load(part, shape, p=p, m=m):
            bits = np.fromfile(f"{p}_{part}.u16", np.uint16)
            vals = bits.view(np.float16).astype(np.float64) if m["prefix"] == "attn_f16" else ba.bf16_to_float(bits)
            return np.asarray(vals, np.float64).reshape(shape)

        q = load("q", (c, nq, nh, d))
        kp, vp = load("kp", (npf, nkv, d)), load("vp", (npf, nkv, d))
        kb, vb = load("kb", (c, nq, nkv, d)), load("vb", (c, nq, nkv, d))
        cpp = np.fromfile(f"{p}_out.f32", np.float32).reshape(c, nq, nh, d)
        ref = ba.block_attention(q, kp, vp, kb, vb, m["scale"])
        np.testing.assert_allclose(cpp, ref, rtol=1e-6, atol=1e-6, err_msg=m["prefix"])
        np.testing.assert_allclose(cpp, _explicit_attention(q, kp, vp, kb, vb, m["scale"]), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- (d) under the CPU emulation, and on a GPU

GXX = shutil.which("g++")


@pytest.fixture(scope="module")
def emulated_harness(tmp_path_factory):
    if GXX is None:
        pytest.skip("g++ not found: the CPU emulation cannot be built")
    out = tmp_path_factory.mktemp("cuda_emu") / "emu_harness"
    build = subprocess.run([GXX, "-std=c++17", "-O2", "-U_FORTIFY_SOURCE", "-DDGC_CPU_EMULATION",
                            "-I", str(CUDA_DIR / "emu"), "-x", "c++", *(str(p) for p in CU_FILES), "-o", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    assert "warning" not in build.stderr.lower(), build.stderr[-4000:]
    return out


def test_kernels_pass_the_harness_checks_under_the_cpu_emulation(emulated_harness):
    run = subprocess.run([str(emulated_harness), "--checks-only"], capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines and lines[0]["kind"] == "device" and "emulation" in lines[0]["name"]
    checks = [x for x in lines if x["kind"] == "check"]
    failed = [x for x in checks if not x["pass"]]
    assert not failed, failed[:5]
    # Every kernel family and the paths that matter ran: small and large blocks, one refinement level and
    # three, f16 and bf16 attention, GQA, several candidates.
    conf = {(x["dtype"], x["vocab"], x["sampling"]) for x in checks if x["kernel"] == "fused_confidence"}
    assert {(d, v, s) for d in ("f32", "f16") for v in (1, 20, 33, 1000, 32001, 151936) for s in (False, True)} <= conf
    attn = [x for x in checks if x["kernel"] == "block_attention"]
    assert {x["dtype"] for x in attn} == {"f16", "bf16"} and {x["head_dim"] for x in attn} == {64, 128}
    assert any(x["n_cand"] > 1 and x["n_head"] > x["n_kv_head"] for x in attn)
    assert lines[-1] == {"kind": "summary", "all_checks_pass": True} and run.returncode == 0


def test_the_emulation_catches_a_broken_kernel(emulated_harness, tmp_path):
    """An honest emulation fails a wrong kernel: the block scan's off-by-one and a skipped softmax rescale."""
    if GXX is None:
        pytest.skip("g++ not found")
    fc_src = (CUDA_DIR / "fused_confidence.cu").read_text()
    ba_src = (CUDA_DIR / "block_attention.cu").read_text()
    scan, rescale = "if (lane >= o) pre += t;", "o[rr][c].x *= corr; o[rr][c].y *= corr;"
    assert scan in fc_src and rescale in ba_src
    (tmp_path / "fused_confidence.cu").write_text(fc_src.replace(scan, "if (lane > o) pre += t;"))
    (tmp_path / "block_attention.cu").write_text(ba_src.replace(rescale, ""))
    exe = tmp_path / "broken"
    build = subprocess.run([GXX, "-std=c++17", "-O2", "-U_FORTIFY_SOURCE", "-DDGC_CPU_EMULATION",
                            "-I", str(CUDA_DIR / "emu"), "-I", str(CUDA_DIR), "-x", "c++",
                            str(CUDA_DIR / "harness.cu"), str(tmp_path / "fused_confidence.cu"),
                            str(tmp_path / "block_attention.cu"), "-o", str(exe)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    run = subprocess.run([str(exe), "--checks-only", "--quick"], capture_output=True, text=True, timeout=600)
    failed = {json.loads(line)["kernel"] for line in run.stdout.splitlines()
              if line.startswith("{") and '"pass":false' in line}
    assert failed == {"fused_confidence", "block_attention"} and run.returncode == 1


# ---------------------------------------------------------------- on a GPU

def _cuda_device_present() -> bool:
    try:
        import torch  # noqa: F401  (optional)

        if torch.cuda.is_available():
            return True
    except Exception:
        pass
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


@pytest.mark.skipif(not _cuda_device_present(), reason="no CUDA device on this machine (nvidia-smi / torch)")
def test_harness_gpu_checks_pass(built):
    assert built["link"] is not None and built["link"].returncode == 0
    run = subprocess.run([str(built["harness"]), "--quick"], capture_output=True, text=True,
                         timeout=int(os.environ.get("DGC_HARNESS_TIMEOUT", "540")))
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    checks = [x for x in lines if x["kind"] == "check"]
    failed = [x for x in checks if not x["pass"]]
    assert checks and not failed, failed[:5] or run.stdout[-4000:] + run.stderr[-2000:]
    assert {x["kernel"] for x in checks} == {"fused_confidence", "block_attention"}
    assert lines[-1] == {"kind": "summary", "all_checks_pass": True}
    assert run.returncode == 0


# ---------------------------------------------------------------- (e) Metal mirrors CUDA

def _cuda_entry_points() -> set[str]:
    names = set()
    for src in KERNEL_SOURCES:
        text = src.read_text()
        names |= set(re.findall(r'extern "C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(dgc_\w+)', text))
        names |= set(re.findall(r"^__global__\s+void\s+__launch_bounds__\([^)]*\)\s*\n(dgc_\w+)\(", text, re.M))
        names |= set(re.findall(r"^DGC_BA_KERNEL\((dgc_\w+),", text, re.M))
    return names


def _metal_entry_points() -> set[str]:
    names = set()
    for src in METAL_DIR.glob("*.metal"):
        text = src.read_text()
        names |= set(re.findall(r"^kernel\s+void\s+(dgc_\w+)\(", text, re.M))
        names |= set(re.findall(r'\[\[host_name\("(\w+)"\)\]\]', text))
    return names


def test_metal_sources_declare_the_cuda_entry_points():
    cuda = _cuda_entry_points()
    assert {"dgc_fused_confidence_f32", "dgc_fused_confidence_f16", "dgc_block_attention_f16_d128_r2",
            "dgc_block_attention_bf16_d64_r4"} <= cuda, cuda
    assert {p.name for p in METAL_DIR.glob("*.metal")} == {"fused_confidence.metal", "block_attention.metal"}
    assert _metal_entry_points() == cuda


@pytest.mark.parametrize("vocab", [1, 20, 32, 33, 1000, 32001, 151936])
@pytest.mark.parametrize("n_warps", [8, 32])
def test_kernel_search_order_draws_the_reference_token(vocab, n_warps):
    """The kernels' hierarchical inverse-CDF search (mirrored in float32) lands on the reference's token, except
    where the draw is within 1e-5 of a CDF boundary (float32 sums over the slices)."""
    rng = np.random.default_rng(vocab + n_warps)
    rows = 6 if vocab > 50000 else 40
    logits = (rng.standard_normal((rows, vocab)) * rng.uniform(0.5, 6, (rows, 1))).astype(np.float32)
    if vocab > 4:
        logits[1, ::2] = -np.inf                     # holes
        logits[2, :] = -np.inf
        logits[2, vocab - 1] = 0.0                    # only the last entry has mass
    draws = rng.random(rows)
    draws[0], draws[3 % rows] = 0.0, np.nextafter(1.0, 0.0)
    excluded = vocab // 3 if vocab > 1 else -1
    ref = fc.fused_confidence(logits, 1.0, draws=draws, excluded=excluded)
    y = fc.scaled_logits(logits, 1.0, excluded)
    near = 0
    for r in range(rows):
        tok = fc.hierarchical_inverse_cdf(y[r], draws[r], n_warps=n_warps)
        assert tok != excluded and y[r, tok] > -np.inf
        if tok != ref["token"][r]:
            e = np.exp(y[r].astype(np.float64) - y[r].max())
            cdf = np.cumsum(e) / e.sum()
            lo = cdf[tok - 1] if tok > 0 else 0.0
            assert lo - 1e-5 <= draws[r] <= cdf[tok] + 1e-5, (r, tok, ref["token"][r])
            near += 1
    assert near <= 1  # boundary cases are rare; more would mean a slicing bug, not rounding


# ---------------------------------------------------------------- kernels/bench_gpu.sh

BENCH = ROOT / "kernels" / "bench_gpu.sh"
FAKE_SMI = """#!/bin/sh
case "$*" in
  *-L*) echo "GPU 0: Fake H200 (UUID: GPU-fake)";;
  *name,driver*noheader*) echo "Fake H200, 0.0, 1 MiB, 1 MHz, 9.0";;
  *compute_cap*noheader*) echo "9.0";;
  *query-gpu*) echo "name, driver_version, memory.total [MiB], clocks.max.sm [MHz], compute_cap";
               echo "Fake H200, 0.0, 1 MiB, 1 MHz, 9.0";;
  *) echo "fake nvidia-smi";;
esac
"""


def test_bench_script_parses():
    assert subprocess.run(["bash", "-n", str(BENCH)], capture_output=True).returncode == 0


def test_bench_script_refuses_a_machine_without_nvidia_smi(tmp_path):
    if shutil.which("nvidia-smi", path="/usr/bin:/bin"):
        pytest.skip("this machine has nvidia-smi in /usr/bin")
    run = subprocess.run(["bash", str(BENCH)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path), "HOME": str(tmp_path)})
    assert run.returncode == 2
    assert "nvidia-smi not found" in (tmp_path / "summary.txt").read_text()


@pytest.mark.skipif(_cuda_device_present(), reason="a real GPU is here: test_harness_gpu_checks_pass covers it")
def test_bench_script_builds_runs_and_reports_without_a_device(tmp_path):
    """With a fake nvidia-smi the script builds the harness for sm_90, runs it (no device: exit 2, said so), writes
    the summary, and skips phase 2 because this llama-cpp-python has no CUDA build."""
    if NVCC is None:
        pytest.skip("nvcc not found")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text(FAKE_SMI)
    (fake / "nvidia-smi").chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{fake}:{Path(NVCC).parent}:{os.environ.get('PATH', '')}", "OUT": str(out),
           "DGC_PYTEST": "0"}  # the script's own run of this file would recurse
    run = subprocess.run(["bash", str(BENCH)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    summary = (out / "summary.txt").read_text()
    assert run.returncode == 2, summary + run.stderr
    assert "card: Fake H200, 0.0, 1 MiB, 1 MHz, 9.0" in summary
    assert "building the harness for sm_90" in summary
    assert "harness exit status: 2" in summary
    assert json.loads((out / "harness.jsonl").read_text().splitlines()[0]) == {"kind": "error",
                                                                              "error": "no CUDA device"}
    assert "kernel tests skipped" in summary
    assert "phase 2 skipped" in summary
    assert {p.name for p in out.iterdir()} <= {"summary.txt", "harness.jsonl", "logs.txt", "pytest.txt",
                                               "e2e-c.json", "e2e-numpy.json"}  # the device tool returns 8 files
