"""`normalization.safetensors` of a generator folder or an export (dnd's `TargetNormalization`):

    mean.<PEFT key>                the zoo's mean adapter: residual targets are checkpoint − mean, added back at generation
    shared.<PEFT key>              a matrix every checkpoint holds exactly (lora_A under LoRA-FA): its target is zero and
                                   a generated adapter gets this value, whatever the generator emits for its tokens
    condition.mean, condition.std  [L, H]: standardized conditions are (states − mean) / std

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
        self.path = path if os.path.exists(path) else None
        if self.path is None:
            return
        f = SafeTensorsFile(path)
        for name in f.names():
            if name.startswith("mean."):
                self.mean[name[len("mean."):]] = f.tensor(name).float()
            elif name.startswith("shared."):
                self.shared[name[len("shared."):]] = f.tensor(name).float()
        if "condition.mean" in set(f.names()):
            self.cond_mean = f.tensor("condition.mean").float()
            self.cond_std = f.tensor("condition.std").float()

    def condition(self, hidden: torch.Tensor) -> torch.Tensor:
        """Prompt states `[…, L, H]` as the generator was trained on them."""
        if self.cond_mean is None:
            return hidden
        return (hidden - self.cond_mean) / self.cond_std

    def adapter(self, tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """A generated adapter from its decoded tokens (the zoo's mean added back for residual targets)."""
        if not self.mean and not self.shared:
            return tensors
        return {k: self.shared[k].clone() if k in self.shared else (v + self.mean[k]) if k in self.mean else v
                for k, v in tensors.items()}
