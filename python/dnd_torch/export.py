"""Reads and validates a `dnd export-training` folder (see dnd's `TrainingExportManifest` for the layout).

`TrainingExport(folder)` checks the folder against `manifest.json` (every file present with its size, every shard's
tensors as listed, shards covering each dataset's rows in order, the schedule in range; with `full=True` every
SHA-256 too) and gives the trainer what it needs: the chain, the options, the loss weights, dnd's initial weights,
the sample schedule and, per sample, the condition and target rows (read from memory-mapped shards).

`python -m dnd_torch.export OUT` validates an export fully and prints a summary.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
from typing import Dict, List, Sequence, Tuple

import torch

from .normalization import Normalization
from .safetensors_io import SafeTensorsFile, sha256_file

FORMAT = "dnd-training-export"
VERSION = 1
SINGLE_FILES = ("generator.json", "layout.json", "pipeline.json", "init.safetensors", "schedule.safetensors",
                "weights.safetensors", "datasets.safetensors")


class ExportError(ValueError):
    """An export folder that does not match its manifest; the message names the file and the fix."""


class Rows:
    """Rows of one dataset spread over consecutive shards: `gather(indices)` stacks the rows, in order."""

    def __init__(self, parts: Sequence[Tuple[int, torch.Tensor]]):
        self.firsts = [first for first, _ in parts]
        self.tensors = [t for _, t in parts]
        self.count = sum(t.shape[0] for t in self.tensors)

    def gather(self, indices: Sequence[int]) -> torch.Tensor:
        rows = []
        for i in indices:
            p = bisect.bisect_right(self.firsts, i) - 1
            rows.append(self.tensors[p][i - self.firsts[p]])
        return torch.stack(rows)


class TrainingExport:
    def __init__(self, folder: str, full: bool = False):
        self.folder = folder
        path = os.path.join(folder, "manifest.json")
        if not os.path.exists(path):
            raise ExportError(f"{folder}: no manifest.json; the export is incomplete or was interrupted, run `dnd export-training` again (complete shards are kept)")
        with open(path) as f:
            m = json.load(f)
        if m.get("format") != FORMAT or not (1 <= m.get("version", 0) <= VERSION):
            raise ExportError(f"{path}: format {m.get('format')} version {m.get('version')}; dnd_torch reads {FORMAT} versions 1…{VERSION}")
        self.manifest = m
        # Standardized conditions (dnd's `condition = standardized`): the raw states are exported, the statistics here.
        self.normalization = Normalization(folder)
        for name in SINGLE_FILES:
            entry = m["files"].get(name)
            if entry is None:
                raise ExportError(f"{path}: lists no {name}; run `dnd export-training` again")
            self._check_file(name, entry["bytes"], entry["sha256"], full)
        with open(os.path.join(folder, "generator.json")) as f:
            self.config = json.load(f)
        with open(os.path.join(folder, "pipeline.json")) as f:
            self.pipeline = json.load(f)
        self.options = m["training"]
        self.condition_shape = list(m["condition_shape"])   # [N, L, H]
        self.token_shape = list(m["token_shape"])           # [T, r+2, cw+2]
        first, last = self.config["chain"][0], self.config["chain"][-1]
        if first != self.condition_shape or last != self.token_shape:
            raise ExportError(f"{path}: condition {self.condition_shape} and tokens {self.token_shape} disagree with generator.json's chain {first} … {last}")
        n, l, h = self.condition_shape

        shards = {s["file"]: s for s in m["shards"]}
        files: Dict[str, SafeTensorsFile] = {}
        for s in m["shards"]:
            self._check_file(s["file"], s["bytes"], s["sha256"], full)
            f = SafeTensorsFile(os.path.join(folder, s["file"]))
            want = {"prompts": {"hidden": [s["count"], l, h], "pooled": [s["count"], h]},
                    "targets": {"tokens": [s["count"]] + self.token_shape},
                    "weights": {"weights": [self.token_shape[0]]}}[s["kind"]]
            for name, shape in want.items():
                info = f.header.get(name)
                if info is None or info["dtype"] != "F32" or info["shape"] != shape:
                    raise ExportError(f"{f.path}: tensor {name!r} should be F32 {shape}, is {info and (info['dtype'], info['shape'])}; run `dnd export-training` again")
            files[s["file"]] = f

        self.names: List[str] = []
        self.prompts: List[Rows] = []
        self.targets: List[Rows] = []
        for i, d in enumerate(m["datasets"]):
            self.names.append(d["name"])
            for kind, key, total in (("prompts", "prompt_shards", d["prompts"]), ("targets", "target_shards", len(d["checkpoints"]))):
                nxt, parts = 0, []
                for name in d[key]:
                    s = shards.get(name)
                    if s is None or s["kind"] != kind or s["dataset"] != i or s["first"] != nxt:
                        raise ExportError(f"{path}: dataset {d['name']}: shard {name} is not the {kind} of rows {nxt}… of dataset {i}")
                    parts.append((nxt, files[name].tensor("hidden" if kind == "prompts" else "tokens")))
                    nxt += s["count"]
                if nxt != total or total == 0:
                    raise ExportError(f"{path}: dataset {d['name']}: its {kind} shards hold {nxt} rows, expected {total} (at least 1)")
                (self.prompts if kind == "prompts" else self.targets).append(Rows(parts))

        weights = SafeTensorsFile(os.path.join(folder, "weights.safetensors"))
        self.token_weights = weights.tensor("token_weights").clone()           # [T]
        if list(self.token_weights.shape) != [self.token_shape[0]]:
            raise ExportError(f"{folder}/weights.safetensors: token_weights {list(self.token_weights.shape)}, expected [{self.token_shape[0]}]")
        sched = SafeTensorsFile(os.path.join(folder, "schedule.safetensors"))
        steps, batch = self.options["steps"], self.options["batch_size"]
        for name, shape in (("dataset", [steps, batch]), ("checkpoint", [steps, batch]), ("prompts", [steps, batch, n])):
            info = sched.header.get(name)
            if info is None or info["dtype"] != "I32" or info["shape"] != shape:
                raise ExportError(f"{sched.path}: tensor {name!r} should be I32 {shape}; run `dnd export-training` again")
        self.schedule_dataset = sched.tensor("dataset").long()                # [S, B]
        self.schedule_checkpoint = sched.tensor("checkpoint").long()          # [S, B]
        self.schedule_prompts = sched.tensor("prompts").long()                # [S, B, N]
        ds = self.schedule_dataset
        if ds.numel() and (ds.min() < 0 or ds.max() >= len(self.names)):
            raise ExportError(f"{sched.path}: dataset indices beyond the {len(self.names)} datasets")
        k_count = torch.tensor([r.count for r in self.targets])[ds]
        p_count = torch.tensor([r.count for r in self.prompts])[ds]
        if ds.numel() and ((self.schedule_checkpoint < 0) | (self.schedule_checkpoint >= k_count)).any():
            raise ExportError(f"{sched.path}: checkpoint indices beyond their dataset's checkpoints")
        if ds.numel() and ((self.schedule_prompts < 0) | (self.schedule_prompts >= p_count.unsqueeze(-1))).any():
            raise ExportError(f"{sched.path}: prompt indices beyond their dataset's prompts")
        self.init = {k: v.clone() for k, v in SafeTensorsFile(os.path.join(folder, "init.safetensors")).tensors().items()}

    def _check_file(self, name: str, size: int, sha: str, full: bool) -> None:
        p = os.path.join(self.folder, name)
        if not os.path.exists(p):
            raise ExportError(f"{p}: missing; the export is damaged, run `dnd export-training` again")
        if os.path.getsize(p) != size:
            raise ExportError(f"{p}: {os.path.getsize(p)} bytes but the manifest says {size}; the export is damaged, run `dnd export-training` again")
        if full:
            got = sha256_file(p)
            if got != sha:
                raise ExportError(f"{p}: SHA-256 {got[:16]}… differs from the manifest's {sha[:16]}…; the file is damaged, run `dnd export-training` again")

    @property
    def steps(self) -> int:
        return self.options["steps"]

    @property
    def batch_size(self) -> int:
        return self.options["batch_size"]

    def batch(self, step: int, samples: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Conditions `[b, N, L, H]` and targets `[b, T, r+2, cw+2]` of the schedule's samples `samples` of `step`."""
        conds, targets = [], []
        for j in samples:
            d = int(self.schedule_dataset[step, j])
            targets.append(self.targets[d].gather([int(self.schedule_checkpoint[step, j])])[0])
            conds.append(self.prompts[d].gather(self.schedule_prompts[step, j].tolist()))
        return self.normalization.condition(torch.stack(conds)), torch.stack(targets)

    def summary(self) -> str:
        m = self.manifest
        total = sum(f["bytes"] for f in m["files"].values()) + sum(s["bytes"] for s in m["shards"])
        ks = sum(r.count for r in self.targets)
        ps = sum(r.count for r in self.prompts)
        return (f"{self.folder}: {len(self.names)} datasets, {ks} checkpoints, {ps} prompts; tokens {self.token_shape}, "
                f"condition {self.condition_shape}; {self.steps} steps of {self.batch_size}; {len(m['shards'])} shards, "
                f"{total / 2**20:.1f} MiB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dnd_torch.export", description="Validate a `dnd export-training` folder (every SHA-256).")
    ap.add_argument("folder")
    args = ap.parse_args(argv)
    try:
        e = TrainingExport(args.folder, full=True)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(e.summary() + "; valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
