"""The hyper-convolutional decoder of DESIGN.md ("Hyper-convolutional decoder (exact)"), in PyTorch.

Letters: B batch, (Ni, Hi, Wi) a block's input shape, (No, Ho, Wo) its output shape, k the odd kernel. At the
generator's input N = prompts, H = L (prompt tokens), W = the encoder's hidden size; at its output N = T (weight
tokens), H = r + 2, W = cw + 2. Parameter names and shapes are dnd's (`blocks.<i>.norm.weight` …), so a state dict
moves between `generator.safetensors` and this module without renaming.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence

import torch
from torch import nn

PARAMETER_NAMES = ("norm.weight", "norm.bias", "w_first.weight", "h_second.weight", "h_first.weight",
                   "w_second.weight", "bias", "channel.weight", "channel.bias")


class HyperConvBlock(nn.Module):
    """`x [B, Ni, Hi, Wi] → [B, No, Ho, Wo]`: LayerNorm over (H, W), two factorised branches, channel conv."""

    def __init__(self, input: Sequence[int], output: Sequence[int], kernel: int):
        super().__init__()
        (ni, hi, wi), (no, ho, wo), k = input, output, kernel
        if k < 1 or k % 2 == 0:
            raise ValueError(f"kernel {k} must be odd and positive")
        self.input, self.output, self.kernel = tuple(input), tuple(output), k
        p = k // 2
        self.norm = nn.LayerNorm((hi, wi), eps=1e-5)                        # weight, bias (Hi, Wi)
        self.w_first = nn.Conv2d(wi, wo, k, padding=p, bias=False)          # (Wo, Wi, k, k): W as channels over (N, H)
        self.h_second = nn.Conv2d(hi, ho, k, padding=p, bias=False)         # (Ho, Hi, k, k): H as channels over (N, W)
        self.h_first = nn.Conv2d(hi, ho, k, padding=p, bias=False)          # (Ho, Hi, k, k)
        self.w_second = nn.Conv2d(wi, wo, k, padding=p, bias=False)         # (Wo, Wi, k, k)
        self.bias = nn.Parameter(torch.zeros(ho, wo))                        # (Ho, Wo)
        self.channel = nn.Conv2d(ni, no, k, padding=p, bias=True)           # (No, Ni, k, k), (No)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)                                                     # (B, Ni, Hi, Wi)
        # Branch 1: W first (spatial (N, H)), then H (spatial (N, W)).
        a = self.w_first(y.permute(0, 3, 1, 2))                              # (B, Wo, Ni, Hi)
        p1 = self.h_second(a.permute(0, 3, 2, 1)).permute(0, 2, 1, 3)        # (B, Hi, Ni, Wo) → (B, Ho, Ni, Wo) → (B, Ni, Ho, Wo)
        # Branch 2: H first (spatial (N, W)), then W (spatial (N, H)).
        c = self.h_first(y.permute(0, 2, 1, 3))                              # (B, Ho, Ni, Wi)
        p2 = self.w_second(c.permute(0, 3, 2, 1)).permute(0, 2, 3, 1)        # (B, Wi, Ni, Ho) → (B, Wo, Ni, Ho) → (B, Ni, Ho, Wo)
        q = (p1 + torch.tanh(p2) + self.bias) / 3                            # (B, Ni, Ho, Wo)
        return self.channel(q)                                               # (B, No, Ho, Wo)


class HyperConvGenerator(nn.Module):
    """The cascaded decoder: condition `[B, N, L, H]` → weight tokens `[B, T, r+2, cw+2]` along `chain`."""

    def __init__(self, chain: Sequence[Sequence[int]], kernel: int):
        super().__init__()
        if len(chain) < 2 or any(len(s) != 3 for s in chain):
            raise ValueError(f"chain needs at least two [N, H, W] shapes, got {chain}")
        self.chain = [list(s) for s in chain]
        self.kernel = kernel
        self.blocks = nn.ModuleList(HyperConvBlock(chain[i], chain[i + 1], kernel) for i in range(len(chain) - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x

    @torch.no_grad()
    def reset_parameters_like_dnd(self, generator: torch.Generator) -> None:
        """dnd's initialisation scheme (not its random stream): convolutions normal with std 1/√(fan-in), fan-in
        `C·k·k`; LayerNorm weights 1; every bias 0. dnd's own draw comes with the export (init.safetensors)."""
        for name, p in self.named_parameters():
            leaf = name.split(".", 2)[2]
            if leaf == "norm.weight":
                p.fill_(1)
            elif leaf in ("norm.bias", "bias", "channel.bias"):
                p.zero_()
            else:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.normal_(0, 1 / math.sqrt(fan_in), generator=generator)

    def expected_shapes(self) -> Dict[str, List[int]]:
        return {n: list(p.shape) for n, p in self.named_parameters()}

    def load_dnd_state(self, tensors: Dict[str, torch.Tensor], source: str) -> None:
        """Loads dnd-named tensors (every parameter, nothing else, matching shapes); errors name the source and tensor."""
        want = self.expected_shapes()
        for name, shape in sorted(want.items()):
            if name not in tensors:
                raise ValueError(f"{source}: missing tensor {name} {shape}; the weights do not belong to this chain")
            if list(tensors[name].shape) != shape:
                raise ValueError(f"{source}: tensor {name} has shape {list(tensors[name].shape)} but the chain needs {shape}")
        stray = sorted(set(tensors) - set(want))
        if stray:
            raise ValueError(f"{source}: unexpected tensor {stray[0]}; a generator holds only blocks.<i>.{{{', '.join(PARAMETER_NAMES)}}}")
        self.load_state_dict({n: t.to(torch.float32) for n, t in tensors.items()}, strict=True)


def chain_from_parameters(tensors: Dict[str, torch.Tensor]) -> List[List[int]]:
    """The `[[N, H, W]]` chain a set of `blocks.<i>.*` tensors describes (as `dnd debug hyperconv` reads it)."""
    count = 1 + max(int(n.split(".")[1]) for n in tensors)
    chain: List[List[int]] = []
    for i in range(count):
        norm, channel, w_first, h_second = (tensors[f"blocks.{i}.{n}"].shape for n in
                                            ("norm.weight", "channel.weight", "w_first.weight", "h_second.weight"))
        if i == 0:
            chain.append([channel[1], norm[0], norm[1]])
        chain.append([channel[0], h_second[0], w_first[0]])
    return chain


def weighted_mse(y_hat: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """DESIGN's objective `mean(w_t · (ŷ − y)²)` over every element of `[B, T, …]`, one weight per token (axis 1)."""
    d = (y_hat.float() - target.float()) ** 2
    w = weights.float().view(1, -1, *([1] * (d.dim() - 2)))
    return (d * w).mean()
