"""DESIGN's weight tokenization, inverse direction: weight tokens `[T, r+2, cw+2]` → PEFT `lora_A`/`lora_B`.

The layout comes from a generator's config (layers × module shapes, rank, chunk width), as in dnd's
`GeneratorBundle.layout()`: layer by layer, modules in dnd's order, per module the chunks of `lora_A` `[r, in]` then
of `lora_B`ᵀ `[r, out]`. Statistics are decoded in float64, as dnd does.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Tuple

import torch

from . import safetensors_io

MODULE_ORDER = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "gate_proj", "down_proj")
PARENT = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
          "up_proj": "mlp", "gate_proj": "mlp", "down_proj": "mlp"}


def peft_key(layer: int, module: str, matrix: str) -> str:
    return f"base_model.model.model.layers.{layer}.{PARENT[module]}.{module}.lora_{matrix}.weight"


def layout(config: dict) -> List[Tuple[int, str, int, int]]:
    """Sites `(layer, module, in, out)` in token order, from generator.json's `layers` and `module_shapes`."""
    shapes = {m["name"]: (m["in_features"], m["out_features"]) for m in config["module_shapes"]}
    unknown = sorted(set(shapes) - set(MODULE_ORDER))
    if unknown:
        raise ValueError(f"generator.json names unknown module {unknown[0]!r}")
    return [(l, m, *shapes[m]) for l in range(config["layers"]) for m in MODULE_ORDER if m in shapes]


def decode_chunk(tok: torch.Tensor, r: int, w: int, cw: int) -> torch.Tensor:
    """One token `[r+2, cw+2]` → its chunk `[r, w]` (float64): M and S are the means of their copies."""
    t = tok.double()
    border = t[r:r + 2].reshape(2, cw + 2)
    m_sum = border[:, 0::2].sum() + t[:r, cw].sum()
    s_sum = border[:, 1::2].sum() + t[:r, cw + 1].sum()
    n_m = 2 * len(range(0, cw + 2, 2)) + r
    n_s = 2 * len(range(1, cw + 2, 2)) + r
    m = m_sum / n_m / 8
    s = torch.clamp((torch.exp(s_sum / n_s - 1.6) - 0.1) / 0.9, min=0)
    return t[:r, :w] * s + m


def detokenize(tokens: torch.Tensor, config: dict) -> Dict[str, torch.Tensor]:
    """Tokens `[T, r+2, cw+2]` → PEFT tensors (float32): `lora_A` `[r, in]`, `lora_B` `[out, r]` per site."""
    r, cw = config["rank"], config["chunk_width"]
    sites = layout(config)
    expected = sum((i + cw - 1) // cw + (o + cw - 1) // cw for _, _, i, o in sites)
    if list(tokens.shape) != [expected, r + 2, cw + 2]:
        raise ValueError(f"tokens {list(tokens.shape)} but the generator's layout needs [{expected}, {r + 2}, {cw + 2}]")
    if not torch.isfinite(tokens).all():
        raise ValueError("tokens hold NaN or infinite values")
    out: Dict[str, torch.Tensor] = {}
    t = 0
    for layer, module, fin, fout in sites:
        mats = []
        for width in (fin, fout):
            m = torch.zeros(r, width, dtype=torch.float64)
            for start in range(0, width, cw):
                w = min(cw, width - start)
                m[:, start:start + w] = decode_chunk(tokens[t], r, w, cw)
                t += 1
            mats.append(m.float())
        out[peft_key(layer, module, "A")] = mats[0].contiguous()            # [r, in]
        out[peft_key(layer, module, "B")] = mats[1].t().contiguous()        # [out, r]
    return out


def write_adapter(tensors: Dict[str, torch.Tensor], config: dict, use_rslora: bool, folder: str) -> None:
    """A PEFT adapter folder (adapter_config.json + adapter_model.safetensors) with dnd's config fields."""
    os.makedirs(folder, exist_ok=True)
    modules = [m for m in MODULE_ORDER if any(m == s["name"] for s in config["module_shapes"])]
    cfg = {"peft_type": "LORA", "r": config["rank"], "lora_alpha": config["lora_alpha"], "target_modules": modules,
           "use_rslora": use_rslora, "base_model_name_or_path": config.get("base_model"), "task_type": "CAUSAL_LM",
           "bias": "none", "lora_dropout": 0.0, "fan_in_fan_out": False, "inference_mode": True}
    safetensors_io.save(tensors, os.path.join(folder, "adapter_model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
