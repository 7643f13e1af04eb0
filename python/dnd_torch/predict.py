"""The adapter a generator folder predicts for a prompt file, computed with PyTorch:

    dnd embed --input prompts.jsonl --length L --out E.safetensors     # the prompts' token states (dnd's encoder)
    python -m dnd_torch.predict --generator GEN_DIR --embeddings E.safetensors --out ADAPTER_DIR [--seed S]

The N prompts are chosen exactly as `dnd generate --seed S` and every daemon job choose them, and a prompt head reads
the same up to `--head-prompts` prompts, so the adapter is the one `dnd generate` writes for the same file and
generator (up to float rounding).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import dnd_torch  # noqa: F401
import torch

from . import generator_folder, tokens
from .normalization import Normalization
from .safetensors_io import SafeTensorsFile
from .seeded_rng import DEFAULT_HEAD_PROMPTS, head_prompts, select_prompts


def predict(folder: str, hidden: torch.Tensor, seed: int = 0, pooled: Optional[torch.Tensor] = None,
            sentences: Optional[torch.Tensor] = None, head_limit: int = DEFAULT_HEAD_PROMPTS) -> dict:
    """PEFT tensors for prompt states `hidden` `[P, L, H]`, pooled embeddings `pooled` `[P, H]` and mean sentence
    embeddings `sentences` `[P, H]` (every prompt of a file, in file order; a generator with a prompt head reads
    `pooled` of up to `head_limit` distinct prompts, one whose head is of sentences `sentences` too)."""
    model, config, _ = generator_folder.load(folder)
    n, l, h = config["prompts"], config["length"], config["hidden"]
    if list(hidden.shape[1:]) != [l, h]:
        raise ValueError(f"prompt states {list(hidden.shape)} but the generator takes [P, {l}, {h}]; run `dnd embed --length {l}`")
    chosen = select_prompts(hidden.shape[0], n, seed)
    norm = Normalization(folder)
    with torch.no_grad():
        out = model(norm.condition(hidden[chosen].unsqueeze(0).float()))[0]   # (T, r+2, cw+2)
    read = head_prompts(hidden.shape[0], head_limit, seed)
    pick = lambda t: None if t is None else t[read]  # noqa: E731
    return norm.adapter(tokens.detokenize(out, config), pick(pooled), sentences=pick(sentences))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dnd_torch.predict", description=__doc__.split("\n\n")[0])
    ap.add_argument("--generator", required=True, help="a generator folder (dnd_torch.train's --out, or a root's state/generator)")
    ap.add_argument("--embeddings", required=True, help="`dnd embed --length L` output: hidden [P, L, H], pooled and sentences [P, H]")
    ap.add_argument("--out", required=True, help="the adapter folder to write")
    ap.add_argument("--seed", type=int, default=0, help="the seed `dnd generate` would get (default 0, as the daemon)")
    ap.add_argument("--head-prompts", type=int, default=DEFAULT_HEAD_PROMPTS,
                    help=f"at most this many distinct prompts feed a prompt head, as `dnd generate --head-prompts` (default {DEFAULT_HEAD_PROMPTS})")
    args = ap.parse_args(argv)
    emb = SafeTensorsFile(args.embeddings)
    hidden = emb.tensor("hidden")
    names = set(emb.names())
    pooled = emb.tensor("pooled") if "pooled" in names else None
    sentences = emb.tensor("sentences") if "sentences" in names else None
    _, config, pipeline = generator_folder.load(args.generator)
    adapter = predict(args.generator, hidden, args.seed, pooled, sentences, args.head_prompts)
    tokens.write_adapter(adapter, config, bool(pipeline.get("use_rslora", False)), args.out)
    print(f"wrote {args.out}: {len(adapter) // 2} LoRA pairs, rank {config['rank']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
