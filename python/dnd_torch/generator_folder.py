"""Writes and reads a dnd generator folder: what `dnd install-generator`, `dnd generate` and `dnd serve` load.

```
generator.safetensors   blocks.<i>.* (F32; metadata format dnd-generator, version 1)
generator.json          the export's generator.json plus `training` (how it was trained)
pipeline.json           the export's pipeline.json plus `identity` (gen- + 16 hex of SHA-256 of the weights) and `trained_at`
datasets.safetensors    mean.<dataset> [H], copied from the export
normalization.safetensors  the mean adapter and condition statistics, copied from the export when it has them
```
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Dict, Tuple

import torch

from . import safetensors_io
from .model import HyperConvGenerator


def write(folder: str, state: Dict[str, torch.Tensor], config: dict, pipeline: dict, datasets_file: str, training: dict,
          trained_at: str) -> str:
    """Writes the folder into a temporary sibling and renames it into place (an existing folder is replaced);
    returns the identity."""
    parent = os.path.dirname(os.path.abspath(folder)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(folder)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    weights = {n: t.detach().to("cpu", torch.float32).contiguous() for n, t in state.items()}
    sha = safetensors_io.save(weights, os.path.join(tmp, "generator.safetensors"),
                              metadata={"format": "dnd-generator", "version": str(config.get("format", 1))})
    identity = "gen-" + sha[:16]
    cfg = dict(config)
    cfg["training"] = training
    meta = dict(pipeline)
    meta["identity"] = identity
    meta["trained_at"] = trained_at
    for name, obj in (("generator.json", cfg), ("pipeline.json", meta)):
        with open(os.path.join(tmp, name), "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
    shutil.copyfile(datasets_file, os.path.join(tmp, "datasets.safetensors"))
    norm = os.path.join(os.path.dirname(datasets_file), "normalization.safetensors")
    if os.path.exists(norm):
        shutil.copyfile(norm, os.path.join(tmp, "normalization.safetensors"))
    safetensors_io.fsync_dir(tmp)
    if os.path.exists(folder):
        old = os.path.join(parent, f".{os.path.basename(folder)}.old-{os.getpid()}")
        os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, folder)
    safetensors_io.fsync_dir(parent)
    return identity


def read_config(folder: str) -> Tuple[dict, dict]:
    """A generator folder's generator.json and pipeline.json."""
    with open(os.path.join(folder, "generator.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "pipeline.json")) as f:
        pipeline = json.load(f)
    return config, pipeline


def load(folder: str) -> Tuple[HyperConvGenerator, dict, dict]:
    """The generator of a folder (as a module), its generator.json and its pipeline.json."""
    config, pipeline = read_config(folder)
    model = HyperConvGenerator(config["chain"], config.get("kernel", 3))
    path = os.path.join(folder, "generator.safetensors")
    model.load_dnd_state(safetensors_io.SafeTensorsFile(path).tensors(), path)
    return model, config, pipeline
