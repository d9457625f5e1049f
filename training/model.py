"""The repair model in torch: a Qwen2-shaped transformer with bidirectional attention (llama.cpp's `dream`).

Exactly the computation llama.cpp's qwen2/dream graph does, so the exported
GGUF gives the same logits: token embedding; per layer RMSNorm -> attention
with q/k/v biases (no output bias), NEOX-style RoPE (pairs (i, i + d/2)) and
grouped-query heads -> residual -> RMSNorm -> SwiGLU feed-forward -> residual;
final RMSNorm; output projection (tied to the embedding by default). No
causal mask: which positions see which is given by the caller's mask (see
`canvas_attention_mask`), and logits at position i predict token i (no shift).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    n_vocab: int = 2048
    n_embd: int = 384
    n_layer: int = 8
    n_head: int = 6
    n_head_kv: int = 2
    n_ff: int = 1024
    rope_theta: float = 10000.0
    rms_eps: float = 1e-6
    n_ctx: int = 1024            # context length written to the GGUF (RoPE has no table; any n works)
    tied_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x32 * self.weight.float()).to(x.dtype)


def rope_tables(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (..., n, head_dim) for NEOX rotation, angle_i = pos * theta^(-2i/d)."""
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    angles = positions.to(torch.float64)[..., None] * inv
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, kv = cfg.n_embd, cfg.head_dim * cfg.n_head_kv
        self.q = nn.Linear(d, d, bias=True)
        self.k = nn.Linear(d, kv, bias=True)
        self.v = nn.Linear(d, kv, bias=True)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None):
        b, n, _ = x.shape
        c = self.cfg
        q = self.q(x).view(b, n, c.n_head, c.head_dim).transpose(1, 2)
        k = self.k(x).view(b, n, c.n_head_kv, c.head_dim).transpose(1, 2)
        v = self.v(x).view(b, n, c.n_head_kv, c.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if c.n_head_kv != c.n_head:
            rep = c.n_head // c.n_head_kv
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o(out.transpose(1, 2).reshape(b, n, c.n_embd))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate = nn.Linear(cfg.n_embd, cfg.n_ff, bias=False)
        self.up = nn.Linear(cfg.n_embd, cfg.n_ff, bias=False)
        self.down = nn.Linear(cfg.n_ff, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.ffn = FeedForward(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.ffn(self.ffn_norm(x))


class RepairModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.n_embd % cfg.n_head or cfg.n_head % cfg.n_head_kv or cfg.head_dim % 2:
            raise ValueError("n_embd must divide by n_head, n_head by n_head_kv, and head_dim must be even")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.n_vocab, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.output = None if cfg.tied_embeddings else nn.Linear(cfg.n_embd, cfg.n_vocab, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() == 2:
                scale = (2 * self.cfg.n_layer) ** -0.5 if name.endswith(("o.weight", "down.weight")) else 1.0
                nn.init.normal_(p, 0.0, std * scale)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.ones_(p)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, logits_from: int = 0) -> torch.Tensor:
        """Logits (batch, n - logits_from, n_vocab) for positions logits_from.. .

        `mask`: boolean (batch or 1, 1, n, n), True = query may see key; None = all see all.
        """
        n = tokens.shape[-1]
        if positions is None:
            positions = torch.arange(n, device=tokens.device)
        cos, sin = rope_tables(positions, self.cfg.head_dim, self.cfg.rope_theta)
        if cos.dim() == 3:  # per-example positions: (b, n, d) -> (b, 1, n, d)
            cos, sin = cos[:, None], sin[:, None]
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin, mask)
        x = self.norm(x[:, logits_from:])
        weight = self.embed.weight if self.output is None else self.output.weight
        return x @ weight.to(x.dtype).t()


def canvas_attention_mask(tokens: torch.Tensor, pad_id: int, answer_start: int) -> torch.Tensor:
    """(batch, 1, n, n) boolean visibility for left-padded training canvases.

    Keys that are left padding (the <|pad|> run before the first real token)
    are hidden from every query; prompt positions (< answer_start) see only the
    prompt, answer positions see everything. This is what dgcode's cached
    engine computes: the prompt is prefilled alone, then the answer block
    attends to the cached prompt and to itself.
    """
    b, n = tokens.shape
    real = torch.cumsum(tokens != pad_id, dim=1) > 0  # False only on the leading pads
    idx = torch.arange(n, device=tokens.device)
    block = (idx[None, :] < answer_start) | (idx[:, None] >= answer_start)  # (query, key)
    visible = block[None] & real[:, None, :]
    # a leading-pad query must still see something (its output is never used)
    visible |= torch.eye(n, dtype=torch.bool, device=tokens.device)[None]
    return visible[:, None]
