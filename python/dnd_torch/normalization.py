"""`normalization.safetensors` of a generator folder or an export (dnd's `TargetNormalization`):

    mean.<PEFT key>                the zoo's mean adapter: residual targets are checkpoint − mean, added back at generation
    shared.<PEFT key>              a matrix every checkpoint holds exactly (lora_A under LoRA-FA): its target is zero and
                                   a generated adapter gets this value, whatever the generator emits for its tokens
    condition.mean, condition.std  [L, H]: standardized conditions are (states − mean) / std
    head.feature_mean [F], head.projection [n, F], head.<PEFT key> [n, rows, cols]
                                   the prompt head (dnd's PromptHead): α = projection · (feature − feature_mean), and
                                   Σᵢ αᵢ·head.<key>ᵢ is added to the matrix of every non-shared key. The feature is
                                   named by the file's metadata `head_feature`: `prompts` (absent in older files), the
                                   mean pooled embedding [H]; `sentences`, that followed by the mean of the prompts'
                                   mean sentence embeddings [2H] (`dnd embed` writes them as 'sentences')

Absent for a generator of the paper's targets (the checkpoints) and raw conditions.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import torch

from .safetensors_io import SafeTensorsFile

FILE = "normalization.safetensors"
HEAD_FEATURES = ("prompts", "sentences")


def mean_row(t: torch.Tensor) -> torch.Tensor:
    """The mean of the rows of `t` `[N, H]`, summed in float64 and rounded to float32, as dnd's PromptHead.feature."""
    return t.double().mean(0).float()


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
        self.head_feature = "prompts"
        self.path = path if os.path.exists(path) else None
        if self.path is None:
            return
        f = SafeTensorsFile(path)
        self.head_feature = f.metadata.get("head_feature", "prompts")
        if self.head_feature not in HEAD_FEATURES:
            raise ValueError(f"{path}: the prompt head's feature '{self.head_feature}' is not one of {', '.join(HEAD_FEATURES)}")
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

    def feature(self, pooled: Optional[torch.Tensor], sentences: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The head's feature of a condition: from its prompts' pooled embeddings `[N, H]` and, for a head of
        `sentences`, their mean sentence embeddings `[N, H]` (means in float64, rounded to float32 as dnd does)."""
        if pooled is None:
            raise ValueError(f"{self.path} has a prompt head, which needs the prompts' pooled embeddings (`dnd embed` writes them as 'pooled')")
        f = mean_row(pooled)
        if self.head_feature == "sentences":
            if sentences is None:
                raise ValueError(f"{self.path} has a prompt head of sentences, which needs the prompts' mean sentence embeddings (`dnd embed` writes them as 'sentences')")
            f = torch.cat([f, mean_row(sentences)])
        return f

    def head_delta(self, pooled: Optional[torch.Tensor], sentences: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """The prompt head's matrices for the condition's pooled embeddings `[N, H]` (and mean sentence embeddings
        `[N, H]` for a head of sentences); empty without a head."""
        if self.head_projection is None:
            return {}
        # In float64, as dnd does: a small ridge's projection has large entries that cancel.
        f = self.feature(pooled, sentences)
        return self.head_part((self.head_projection.double() @ (f.double() - self.head_mean.double())).float())

    def head_part(self, alpha: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Σᵢ αᵢ·head.<key>ᵢ for the head's weights `alpha` `[n]`, per PEFT key."""
        return {k: torch.tensordot(alpha.float(), c, dims=1) for k, c in self.head.items()}

    def adapter(self, tensors: Dict[str, torch.Tensor], pooled: Optional[torch.Tensor] = None,
                delta: Optional[Dict[str, torch.Tensor]] = None, sentences: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """A generated adapter from its decoded tokens: the zoo's mean added back for residual targets, the prompt
        head's part for the condition's pooled embeddings `pooled` `[N, H]` (or `delta`, the head's part already
        computed: `head_part`), a shared matrix's value itself."""
        if not self.mean and not self.shared:
            return tensors
        if delta is None:
            delta = self.head_delta(pooled, sentences)
        out = {}
        for k, v in tensors.items():
            if k in self.shared:
                out[k] = self.shared[k].clone()
            elif k in self.mean:
                out[k] = v + self.mean[k] + delta[k] if k in delta else v + self.mean[k]
            else:
                out[k] = v
        return out
