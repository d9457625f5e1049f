"""Training the repair model: the masked-diffusion objective on the answer slot of repair canvases.

Each step takes a batch of canvases (training/examples.py, item k fixed by
(seed, k)), draws a mask ratio t per example (stratified over the batch, in
[eps, 1]), replaces each answer-slot token by <|mask|> with probability t (at
least one), and minimises cross-entropy on the masked positions (plain mean,
or LLaDA's 1/t weighting with --loss-weight inv_t). AdamW, linear warm-up then
cosine decay, gradient clipping, bf16 autocast on CUDA. Every --eval-every
steps it prints a held-out exact-repair estimate (training/denoise.py);
checkpoints hold everything export needs (config, canvas spec, tokenizer).
--init-from starts a fine-tuning leg from a checkpoint or an exported GGUF
(training/gguf_import.py), on the flags' canvas layout.

    python -m training.train --out runs/repair --device cuda --steps 12000 --batch 256 --workers 14
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from dgcode.repair.canvas import MASK, PAD, V3_SPEC, CanvasSpec, spec_problem
from training.corpus import Corpus
from training.corrupt import KINDS
from training.denoise import evaluate_cases, format_summary, summarize
from training.examples import ExampleStream, heldout_cases
from training.model import ModelConfig, RepairModel, canvas_attention_mask, count_parameters
from training.tokenizer import ByteBPE, count_pretokens, train_bpe


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="run folder: tokenizer.json, last.pt, log.jsonl")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cuda", "cpu"))
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--loss-weight", choices=("plain", "inv_t"), default="plain")
    p.add_argument("--reuse", type=int, default=1,
                   help="use each loaded example this many times per step, with independent masks "
                        "(more signal per example when the data loader is the bottleneck)")
    p.add_argument("--mask-eps", type=float, default=0.05, help="smallest mask ratio")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab", type=int, default=2048, help="tokenizer size when training one")
    p.add_argument("--n-embd", type=int, default=384)
    p.add_argument("--n-layer", type=int, default=8)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-head-kv", type=int, default=2)
    p.add_argument("--n-ff", type=int, default=1024)
    p.add_argument("--canvas", type=int, default=V3_SPEC.canvas, help="training canvas length in tokens")
    p.add_argument("--slot", type=int, default=V3_SPEC.slot, help="the core's broken slot = its answer slot, in bytes")
    p.add_argument("--after-budget", type=int, default=V3_SPEC.after_budget)
    p.add_argument("--lines-before", type=int, default=V3_SPEC.lines_before_error,
                   help="window lines before the reported line (layout version 2: 1)")
    p.add_argument("--lines-after", type=int, default=V3_SPEC.lines_after_error,
                   help="window lines after the reported line (layout version 2: 0)")
    p.add_argument("--reach-before", type=int, default=V3_SPEC.reach_before,
                   help="reach: whole lines before the window's core that the model may also edit (version 3)")
    p.add_argument("--reach-after", type=int, default=V3_SPEC.reach_after, help="reach: lines after the core")
    p.add_argument("--reach-slot", type=int, default=V3_SPEC.reach_slot,
                   help="the reach's bytes (0: no reach; with version 2's window, layout version 2)")
    p.add_argument("--workers", type=int, default=0, help="data-loader processes (0: in the main process)")
    p.add_argument("--max-files", type=int, default=None, help="use only the first N files of each split (smoke)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-per-kind", type=int, default=32, help="held-out cases per error kind")
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of this checkpoint or exported .gguf (same model shape; its "
                        "tokenizer) with a fresh optimizer, step count and schedule: a fine-tuning leg, which may "
                        "move to another canvas layout (RoPE is relative)")
    p.add_argument("--kind-weights", default=None,
                   help="how often each error kind is drawn, e.g. 'missing_bracket=2,missing_colon=0.5' "
                        "(kinds not named weigh 1); uniform if not given")
    p.add_argument("--time-limit", type=float, default=0.0,
                   help="seconds of training (after set-up): the cosine follows elapsed time when that is "
                        "further along than the step count, and the run stops, saves and evaluates at the "
                        "limit (not bit-reproducible)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    return p.parse_args(argv)


class StepBatches:
    """The data loader's batch sampler: step s takes examples [s * batch, (s + 1) * batch), made lazily."""

    def __init__(self, start: int, stop: int, batch: int):
        self.start, self.stop, self.batch = start, stop, batch

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for s in range(self.start, self.stop):
            yield list(range(s * self.batch, (s + 1) * self.batch))


def lr_at(step: int, args: argparse.Namespace, progress: float | None = None) -> float:
    """Linear warm-up over --warmup steps times a cosine from --lr down to --lr x --min-lr-ratio over
    the run's progress (step / --steps, or the elapsed share of --time-limit if that is further)."""
    if progress is None:
        progress = step / max(1, args.steps)
    warm = min(1.0, (step + 1) / max(1, args.warmup))
    floor = args.lr * args.min_lr_ratio
    return warm * (floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def parse_kind_weights(text: str | None) -> list[float] | None:
    """--kind-weights 'kind=w,...' as one weight per corrupt.KINDS entry (1 for kinds not named)."""
    if not text:
        return None
    weights = dict.fromkeys(KINDS, 1.0)
    for item in text.split(","):
        kind, sep, value = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in weights:
            raise SystemExit(f"--kind-weights: {item!r} is not KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        try:
            weights[kind] = float(value)
        except ValueError:
            raise SystemExit(f"--kind-weights: {value!r} for {kind} is not a number") from None
        if weights[kind] < 0:
            raise SystemExit(f"--kind-weights: the weight for {kind} is negative")
    if sum(weights.values()) <= 0:
        raise SystemExit("--kind-weights: all weights are zero")
    return [weights[k] for k in KINDS]


def load_or_train_tokenizer(out: Path, corpus: Corpus, vocab: int) -> ByteBPE:
    path = out / "tokenizer.json"
    if path.exists():
        tok = ByteBPE.load(path)
        print(f"tokenizer: {tok.n_vocab} tokens from {path}")
        return tok
    t0 = time.time()
    tok = train_bpe(count_pretokens(line for f in corpus.files for line in f.lines), vocab)
    tok.save(path)
    print(f"tokenizer: {tok.n_vocab} tokens trained on the train split in {time.time() - t0:.0f}s -> {path}")
    return tok


def mask_answer(tokens: torch.Tensor, answer_start: int, mask_id: int, eps: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy tokens, masked positions in the answer slot, t per example)."""
    b, n = tokens.shape
    slot = n - answer_start
    u = torch.rand((), generator=generator)
    t = eps + (1 - eps) * ((u + torch.arange(b) / b) % 1.0)
    masked = torch.rand((b, slot), generator=generator) < t[:, None]
    none = ~masked.any(-1)
    if none.any():
        pick = torch.randint(slot, (b,), generator=generator)
        masked[none, pick[none]] = True
    masked = masked.to(tokens.device)
    noisy = tokens.clone()
    noisy[:, answer_start:][masked] = mask_id
    return noisy, masked, t.to(tokens.device)


def load_init(path: str, device: torch.device) -> dict:
    """--init-from's checkpoint as a dict with "model", "tokenizer", "spec" and "origin" (what it is); an
    exported .gguf is read back with training/gguf_import.py."""
    if Path(path).suffix != ".gguf":
        init = torch.load(path, map_location=device, weights_only=False)
        return {**init, "origin": f"step {init['step']}"}
    from dgcode.repair.layout import NotARepairModel
    from training.gguf_import import NotImportable, read_gguf_model

    try:
        imported = read_gguf_model(path)
    except (NotARepairModel, NotImportable) as error:
        raise SystemExit(f"--init-from: {error}") from None
    spec = imported.spec
    return {"model": {k: torch.from_numpy(v).to(device) for k, v in imported.state.items()},
            "tokenizer": imported.tokenizer.to_dict(), "spec": asdict(spec), "config": imported.config.to_dict(),
            "origin": f"GGUF, layout version {spec.layout_version}: canvas {spec.canvas}, slot {spec.slot}, "
                      f"window {spec.lines_before_error} line(s) before and {spec.lines_after_error} after, "
                      f"reach slot {spec.reach_slot}"}


def save_checkpoint(path: Path, model: RepairModel, optimizer, step: int, args, spec: CanvasSpec,
                    tok: ByteBPE) -> None:
    raw = getattr(model, "_orig_mod", model)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": raw.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "config": raw.cfg.to_dict(), "spec": asdict(spec), "tokenizer": tok.to_dict(),
                "args": vars(args)}, tmp)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    t0 = time.time()
    train_corpus = Corpus("train", max_files=args.max_files)
    held_corpus = Corpus("heldout", max_files=args.max_files)
    print(f"corpus: {train_corpus.stats()} / {held_corpus.stats()} in {time.time() - t0:.0f}s")
    kind_weights = parse_kind_weights(args.kind_weights)
    spec = CanvasSpec(canvas=args.canvas, slot=args.slot, after_budget=args.after_budget,
                      lines_before_error=args.lines_before, lines_after_error=args.lines_after,
                      reach_before=args.reach_before, reach_after=args.reach_after, reach_slot=args.reach_slot)
    if spec_problem(spec) is not None:
        raise SystemExit(f"the canvas flags do not make a canvas: {spec_problem(spec)}")
    init = load_init(args.init_from, device) if args.init_from else None
    if init is not None and not (out / "tokenizer.json").exists():
        ByteBPE.from_dict(init["tokenizer"]).save(out / "tokenizer.json")
    tok = load_or_train_tokenizer(out, train_corpus, args.vocab)
    if init is not None and init["tokenizer"] != tok.to_dict():
        raise SystemExit(f"--init-from {args.init_from}: its tokenizer differs from {out / 'tokenizer.json'}")
    if init is not None and init["spec"] != asdict(spec):
        print(f"canvas layout: {init['spec']} in {args.init_from}, fine-tuned on {asdict(spec)} "
              f"(layout version {spec.layout_version})")
    cfg = ModelConfig(n_vocab=tok.n_vocab, n_embd=args.n_embd, n_layer=args.n_layer, n_head=args.n_head,
                      n_head_kv=args.n_head_kv, n_ff=args.n_ff, n_ctx=max(1024, args.canvas))
    model = RepairModel(cfg).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    start = 0
    ckpt_path = out / "last.pt"
    if init is not None and not (args.resume and ckpt_path.exists()):
        try:
            model.load_state_dict(init["model"])
        except RuntimeError as error:
            raise SystemExit(f"--init-from {args.init_from}: the model flags do not match its shape ({error})") from None
        print(f"weights from {args.init_from} ({init['origin']})")
    if args.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = ckpt["step"]
        print(f"resumed at step {start}")
    print(f"model: {count_parameters(model) / 1e6:.2f}M parameters, {cfg}")
    step_model = torch.compile(model) if args.compile else model

    stream = ExampleStream(train_corpus, tok, args.seed, spec, kind_weights=kind_weights)
    batches = StepBatches(start, args.steps, args.batch)
    loader = torch.utils.data.DataLoader(stream, batch_sampler=batches, num_workers=args.workers,
                                         pin_memory=device.type == "cuda",
                                         persistent_workers=args.workers > 0,
                                         prefetch_factor=4 if args.workers > 0 else None)
    eval_cases = heldout_cases(held_corpus, args.eval_per_kind, args.seed, KINDS)
    pad_id, mask_id, a = tok.special(PAD), tok.special(MASK), spec.answer_start

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    log = open(out / "log.jsonl", "a", encoding="utf-8")

    def evaluate(step: int) -> None:
        t = time.time()
        with autocast():
            summary = summarize(evaluate_cases(model, eval_cases, tok, spec, device=args.device))
        print(f"step {step}: held-out estimate ({len(eval_cases)} cases, torch, threshold 0.9, "
              f"{time.time() - t:.0f}s)\n{format_summary(summary)}", flush=True)
        log.write(json.dumps({"step": step, "eval": summary}) + "\n")
        log.flush()

    model.train()
    seen, window_start, losses = 0, time.time(), []
    loop_start = time.time()
    step = start - 1

    def progress(step: int) -> float:
        p = step / max(1, args.steps)
        return max(p, (time.time() - loop_start) / args.time_limit) if args.time_limit else p

    for step, (tokens, _loss_mask) in enumerate(loader, start=start):
        tokens = tokens.to(device, non_blocking=True)
        if args.reuse > 1:
            tokens = tokens.repeat(args.reuse, 1)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        noisy, masked, t = mask_answer(tokens, a, mask_id, args.mask_eps, generator)
        attention = canvas_attention_mask(noisy, pad_id, a)
        for group in optimizer.param_groups:
            group["lr"] = lr = lr_at(step, args, progress(step))
        with autocast():
            logits = step_model(noisy, mask=attention, logits_from=a)
        ce = F.cross_entropy(logits.float()[masked], tokens[:, a:][masked], reduction="none")
        if args.loss_weight == "inv_t":
            weights = (1.0 / t)[:, None].expand_as(masked)[masked]
            loss = (ce * weights).sum() / (tokens.shape[0] * spec.answer_length)
        else:
            loss = ce.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.detach())
        seen += tokens.shape[0] // args.reuse
        done = step + 1
        last = done == args.steps or (args.time_limit > 0 and time.time() - loop_start >= args.time_limit)
        if done % args.log_every == 0 or last:
            dt = time.time() - window_start
            record = {"step": done, "loss": float(torch.stack(losses).float().mean()), "lr": lr,
                      "examples_per_s": seen / dt, "s_per_step": dt / max(1, len(losses)),
                      "elapsed_s": time.time() - t0}
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()),
                  flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            seen, window_start, losses = 0, time.time(), []
        if done % args.ckpt_every == 0 or last:
            save_checkpoint(ckpt_path, model, optimizer, done, args, spec, tok)
        if done % args.eval_every == 0 or last:
            evaluate(done)
        if last:
            break
    log.close()
    saved = f"; checkpoint {ckpt_path}" if ckpt_path.exists() else "; no checkpoint (no steps run)"
    print(f"done: step {step + 1}, {time.time() - t0:.0f}s{saved}")


if __name__ == "__main__":
    main()
