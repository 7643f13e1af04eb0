"""`normalization.safetensors` of a generator folder or an export (dnd's `TargetNormalization`):

    mean.<PEFT key>                the zoo's mean adapter: residual targets are checkpoint − mean, added back at generation
    shared.<PEFT key>              a matrix every checkpoint holds exactly (lora_A under LoRA-FA): its target is zero and
                                   a generated adapter gets this value, whatever the generator emits for its tokens
    condition.mean, condition.std  [L, H]: standardized conditions are (states − mean) / std
    head.feature_mean [H], head.projection [n, H], head.<PEFT key> [n, rows, cols]
                                   the prompt head (dnd's PromptHead): α = projection · (mean pooled embedding −
                                   feature_mean), and Σᵢ αᵢ·head.<key>ᵢ is added to the matrix of every non-shared key

Absent for a generator of the paper's targets (the checkpoints) and raw conditions.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import torch

from .safetensors_io import SafeTensorsFile

FILE = "normalization.safetensors"


class Normalization:
    def __init__(self, folder: str):
        path = os.path.join(folder, FILE)
        self.mean: Dict[str, torch.Tensor] = {}
        self.shared: Dict[str, torch.Tensor] = {}
        self.cond_mean: Optional[torch.Tensor] = None
        self.cond_std: Optional[torch.Tensor] = None
        self.head_mean: Optional[torch.Tensor] = None
        self.head_projection: Optional[torch.Tensor] = None
        self.head: Dict[str, torch.Tensor] = {}
        self.path = path if os.path.exists(path) else None
        if self.path is None:
            return
        f = SafeTensorsFile(path)
        for name in f.names():
            if name.startswith("mean."):
                self.mean[name[len("mean."):]] = f.tensor(name).float()
            elif name.startswith("shared."):
                self.shared[name[len("shared."):]] = f.tensor(name).float()
            elif name == "head.feature_mean":
                self.head_mean = f.tensor(name).float()
            elif name == "head.projection":
                self.head_projection = f.tensor(name).float()
            elif name.startswith("head."):
                self.head[name[len("head."):]] = f.tensor(name).float()
        if "condition.mean" in set(f.names()):
            self.cond_mean = f.tensor("condition.mean").float()
            self.cond_std = f.tensor("condition.std").float()

    def condition(self, hidden: torch.Tensor) -> torch.Tensor:
        """Prompt states `[…, L, H]` as the generator was trained on them."""
        if self.cond_mean is None:
            return hidden
        return (hidden - self.cond_mean) / self.cond_std

    def head_delta(self, pooled: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The prompt head's matrices for the condition's pooled embeddings `[N, H]` (empty without a head)."""
        if self.head_projection is None:
            return {}
        if pooled is None:
            raise ValueError(f"{self.path} has a prompt head, which needs the prompts' pooled embeddings (`dnd embed` writes them as 'pooled')")
        # In float64, as dnd does: a small ridge's projection has large entries that cancel.
        f = pooled.double().mean(0)
        return self.head_part((self.head_projection.double() @ (f.float().double() - self.head_mean.double())).float())

    def head_part(self, alpha: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Σᵢ αᵢ·head.<key>ᵢ for the head's weights `alpha` `[n]`, per PEFT key."""
        return {k: torch.tensordot(alpha.float(), c, dims=1) for k, c in self.head.items()}

    def adapter(self, tensors: Dict[str, torch.Tensor], pooled: Optional[torch.Tensor] = None,
                delta: Optional[Dict[str, torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """A generated adapter from its decoded tokens: the zoo's mean added back for residual targets, the prompt
        head's part for the condition's pooled embeddings `pooled` `[N, H]` (or `delta`, the head's part already
        computed: `head_part`), a shared matrix's value itself."""
        if not self.mean and not self.shared:
            return tensors
        if delta is None:
            delta = self.head_delta(pooled)
        out = {}
        for k, v in tensors.items():
            if k in self.shared:
                out[k] = self.shared[k].clone()
            elif k in self.mean:
                out[k] = v + self.mean[k] + delta[k] if k in delta else v + self.mean[k]
            else:
                out[k] = v
        return out
