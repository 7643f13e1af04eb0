"""Screen prompt-head variants on a `dnd demo` root in minutes instead of a full demo and bench:

    python -m dnd_torch.head_screen --root .demo --out /tmp/screen --variants whole,both,whole*1.3

For every held-out dataset of the root's suite it builds *head-only* adapters (the zoo's mean adapter plus the prompt
head's part for the daemon's own choice of test prompts; the decoder's tokens left out, which measured equal to the
full adapter on SmolLM2, README "The generator on a real model") and scores them with `dnd eval` on the dataset's test
split, next to the base. A variant is FEATURE[@WEIGHT][~RIDGE][^SCALE][*STRENGTH]:

    whole      a ridge head on the mean pooled embedding of the prompts (dnd's head_feature `prompts`)
    sentences  a ridge head on the mean over prompts of the mean embedding of each sentence of a prompt
    both       a ridge head on the two features concatenated (dnd's head_feature `sentences`, the default)
    match      kernel ridge on a sentence-matching kernel, K(A, B) = Σ w_a·w_b·exp((cos(a, b) − 1)/TAU) over the
               sentences a of one prompt set and b of another (each prompt weighs 1, shared among its sentences)
    mix        the kernels of `both` and `match` added, each divided by its trace on the zoo
    WEIGHT     for `both`: the sentence half's weight in the head's kernel (its values times √WEIGHT; default 1);
               for `match` and `mix`: TAU (default 0.2)
    RIDGE      the relative ridge λ of a refitted head (default: the generator's `head_ridge`)
    SCALE      the head's part scaled by this factor (its weights α times SCALE, the zoo's mean as it is; default 1)
    STRENGTH   ΔW scaled by this factor (every non-shared lora_B multiplied by it; default 1)

`--seed S` and `--head-prompts N` pick the prompts the head reads as `dnd generate --seed S --head-prompts N` does
(default 64, the daemon's: every prompt of a 40-record test split; `--head-prompts 8` is the decoder's own 8, what
dnd's head read before it read more of a job's file).
`--leave-one-out` scores the zoo's own datasets instead, each with the head and the zoo's mean fitted on the other
zoo datasets (the decoder's tokens, trained on all of them, left out as always): a choice of variant validated there
does not tune on the held-out datasets.
The generator's own head is used for the variant of its feature (`whole` or `both`); the others are refitted with
the generator's ridge (`head_ridge` in pipeline.json) on each zoo dataset's training prompts
(`demo/data/<name>.train.jsonl`, the first `max_prompts_per_dataset`). It is a research tool for choosing what to
build into `dnd train`; dnd never runs it. Embeddings, and the sentence split, come from `dnd embed` (cached under
OUT/embeddings).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import dnd_torch  # noqa: F401
import torch

from . import generator_folder
from .normalization import Normalization, mean_row
from .safetensors_io import SafeTensorsFile, save
from .seeded_rng import DEFAULT_HEAD_PROMPTS, head_prompts

FEATURES = ("whole", "sentences", "both")
KERNELS = ("match", "mix")
# Unicode's White_Space property, as dnd's PromptHead.sentences reads it.
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(map(chr, range(0x2000, 0x200B)))


def run(cmd: List[str]) -> None:
    """Runs a dnd command; its stderr in the error when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ValueError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")


def parse_variant(v: str) -> Tuple[str, float, float, float, Optional[float]]:
    """FEATURE[@WEIGHT][~RIDGE][^SCALE][*STRENGTH] → (feature, strength, weight, scale, ridge or None)."""
    head, _, strength = v.partition("*")
    head, _, scale = head.partition("^")
    head, tilde, ridge = head.partition("~")
    feature, at, weight = head.partition("@")
    if feature not in FEATURES + KERNELS:
        raise ValueError(f"variant '{v}': the feature must be one of {', '.join(FEATURES + KERNELS)} (optionally @WEIGHT for both, @TAU for match and mix, ~RIDGE, ^SCALE, *STRENGTH)")
    if at and feature not in ("both",) + KERNELS:
        raise ValueError(f"variant '{v}': only both takes a sentence weight (@WEIGHT), and match and mix a TAU")
    if feature in KERNELS and not weight:
        weight = "0.2"
    values = []
    for name, text in (("strength", strength), ("weight", weight), ("scale", scale), ("ridge", ridge)):
        try:
            x = float(text) if text else 1.0
        except ValueError:
            x = float("nan")
        if not (x > 0 and x < float("inf")):
            raise ValueError(f"variant '{v}': the {name} must be a positive number")
        values.append(x)
    return feature, values[0], values[1], values[2], values[3] if tilde else None


def weighted(feature: str, weight: float, f: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The variant's feature: `both` with its sentence half times √weight, the others as they are."""
    if feature != "both" or weight == 1.0:
        return f[feature]
    return torch.cat([f["whole"], weight ** 0.5 * f["sentences"]])


def split_sentences(prompt: str) -> List[str]:
    """dnd's PromptHead.sentences: the trimmed text split after `.`, `?` or `!` followed by white space."""
    text = prompt.strip("".join(WHITE_SPACE))
    out, start, i = [], 0, 0
    while i < len(text):
        if i > 0 and text[i - 1] in "?!." and text[i] in WHITE_SPACE:
            j = i
            while j < len(text) and text[j] in WHITE_SPACE:
                j += 1
            out.append(text[start:i])
            start = i = j
        else:
            i += 1
    if start < len(text):
        out.append(text[start:])
    return out or [text]


def sentence_set(embedder: "Embedder", prompts: Sequence[str], name: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The unit-length embeddings `[m, H]` of the distinct sentences of `prompts` and their weights `[m]` (each prompt
    weighs 1/len(prompts), shared evenly among its sentences): the set the `match` kernel compares."""
    weights: Dict[str, float] = {}
    for p in prompts:
        parts = split_sentences(p)
        for t in parts:
            weights[t] = weights.get(t, 0.0) + 1.0 / len(parts) / len(prompts)
    pooled, _ = embedder.embed(list(weights), name)
    return pooled / pooled.norm(dim=1, keepdim=True), torch.tensor(list(weights.values()), dtype=torch.float64)


def match_kernel(a: Tuple[torch.Tensor, torch.Tensor], b: Tuple[torch.Tensor, torch.Tensor], tau: float) -> float:
    """Σ w_a·w_b·exp((cos(a, b) − 1)/τ) over two sentence sets."""
    return (a[1] @ torch.exp((a[0] @ b[0].T - 1) / tau) @ b[1]).item()


def centre(gram: torch.Tensor) -> torch.Tensor:
    """A Gram matrix `[n, n]` of centred points: C·K·C with C = I − 1/n."""
    c = torch.eye(gram.shape[0], dtype=torch.float64) - 1.0 / gram.shape[0]
    return c @ gram @ c


def kernel_weights(gram: torch.Tensor, k: torch.Tensor, ridge: float) -> torch.Tensor:
    """Kernel ridge in the dual, centred: α = (Kc + λ·tr(Kc)/n·I)⁻¹·k̃ for the zoo's Gram `[n, n]` and a condition's
    kernel values `k` `[n]`; with K = X·Xᵀ and k = X·f it is dnd's PromptHead (P·(f − X̄))."""
    n = gram.shape[0]
    kc = centre(gram)
    centred = k - k.mean() - gram.mean(1) + gram.mean()
    return torch.linalg.solve(kc + ridge * kc.trace() / n * torch.eye(n, dtype=torch.float64), centred)


def ridge_projection(features: torch.Tensor, ridge: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """dnd's PromptHead fit: features `[n, F]` → (mean `[F]`, P `[n, F]`), P = (K + λ·tr(K)/n·I)⁻¹·Xc, K = Xc·Xcᵀ."""
    x = features.double()
    mean = x.mean(0)
    xc = x - mean
    k = xc @ xc.T
    n = k.shape[0]
    return mean, torch.linalg.solve(k + ridge * k.trace() / n * torch.eye(n, dtype=k.dtype), xc)


def head_adapter(norm: Normalization, alpha: torch.Tensor, strength: float = 1.0) -> Dict[str, torch.Tensor]:
    """PEFT tensors of the head-only adapter: the zoo's mean plus Σᵢ αᵢ·head.<key>ᵢ for every non-shared matrix, a
    shared matrix's value itself; every non-shared lora_B times `strength` (ΔW = s·B·A scales by it)."""
    zeros = {k: torch.zeros_like(v) for k, v in {**norm.mean, **norm.shared}.items()}   # no decoder tokens
    out = norm.adapter(zeros, delta=norm.head_part(alpha))
    return {k: v * strength if k.endswith("lora_B.weight") and k not in norm.shared else v for k, v in out.items()}


class Embedder:
    """Pooled and mean sentence embeddings of lines of text through `dnd embed`, cached by name."""

    def __init__(self, dnd: str, folder: str):
        self.dnd, self.folder = dnd, folder
        os.makedirs(folder, exist_ok=True)

    def embed(self, lines: Sequence[str], name: str) -> Tuple[torch.Tensor, torch.Tensor]:
        out = os.path.join(self.folder, name + ".safetensors")
        if not os.path.exists(out):
            records = os.path.join(self.folder, name + ".jsonl")   # JSON lines keep a prompt's text exact
            with open(records, "w", encoding="utf-8") as f:
                f.write("".join(json.dumps({"prompt": line}) + "\n" for line in lines))
            run([self.dnd, "embed", "--input", records, "--out", out])
        f = SafeTensorsFile(out)
        return f.tensor("pooled").double(), f.tensor("sentences").double()


def features(embedder: Embedder, prompts: Sequence[str], name: str) -> Dict[str, torch.Tensor]:
    """The three features of a set of prompts (`[F]` each)."""
    pooled, sentences = embedder.embed(prompts, name)
    whole, sent = mean_row(pooled).double(), mean_row(sentences).double()
    return {"whole": whole, "sentences": sent, "both": torch.cat([whole, sent])}


def read_prompts(path: str) -> List[str]:
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    out = []
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: not a JSON record ({e})") from None
            if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
                raise ValueError(f"{path}:{number}: no string 'prompt'")
            out.append(record["prompt"])
    return out


def left_out_weights(alpha: torch.Tensor, i: int, scale: float) -> torch.Tensor:
    """Weights over all n zoo datasets for a head fitted without dataset i (`alpha` `[n − 1]`, the others in order):
    the left-out zoo's mean is the zoo's plus Ȳ₋ᵢ = −Yᵢ/(n − 1) (the residuals Y sum to zero), and its head adds
    scale·Σⱼ αⱼ·(Yⱼ − Ȳ₋ᵢ), so Yᵢ gets (scale·Σα − 1)/(n − 1)."""
    n = alpha.numel() + 1
    a = scale * alpha.double()
    return torch.cat([a[:i], torch.tensor([(a.sum().item() - 1) / (n - 1)], dtype=torch.float64), a[i:]])


def screen(root: str, out: str, variants: List[str], dnd: str, seed: int = 0, head_limit: int = DEFAULT_HEAD_PROMPTS,
           leave_one_out: bool = False) -> Dict[str, Dict[str, float]]:
    """Accuracy per held-out dataset and variant (plus 'base'); writes the adapters and dnd eval's JSON under `out`.
    The head's feature is read from the test prompts a daemon job's head reads (`head_prompts` with `head_limit`
    and `seed`). With `leave_one_out` the datasets scored are the zoo's own, each with a head (and
    zoo mean) fitted on the other zoo datasets: a validation that does not touch the held-out datasets."""
    gen = os.path.join(root, "state", "generator")
    norm = Normalization(gen)
    if norm.head_projection is None:
        raise ValueError(f"{gen}: the generator has no prompt head (trained with --head none); nothing to screen")
    config, pipeline = generator_folder.read_config(gen)
    with open(os.path.join(root, "demo", "settings.json")) as f:
        settings = json.load(f)
    train = pipeline.get("train") or {}
    ridge, cap = float(train.get("head_ridge", 1e-3)), int(train.get("max_prompts_per_dataset", 512))
    names = config["trained_on"]
    held = [f"{p['task']}-{p['format']}" for p in settings["plan"] if p["role"] != "train"]
    data = os.path.join(root, "demo", "data")
    embedder = Embedder(dnd, os.path.join(out, "embeddings"))
    # (feature, strength, weight, scale, ridge) with the variant's ridge or the generator's.
    parsed = [(f, s, w, g, ridge if r is None else r) for f, s, w, g, r in map(parse_variant, variants)]
    own = ("whole" if norm.head_feature == "prompts" else "both", 1.0, ridge)
    heads: Dict[Tuple[str, float, float], Tuple[torch.Tensor, torch.Tensor]] = {own: (norm.head_mean.double(), norm.head_projection.double())}
    zoo: List[Dict[str, torch.Tensor]] = []
    zoo_sets: List[Tuple[torch.Tensor, torch.Tensor]] = []
    if leave_one_out or any((f, w, r) != own for f, _, w, _, r in parsed):
        zoo_prompts = [read_prompts(os.path.join(data, f"{n}.train.jsonl"))[:cap] for n in names]
        zoo = [features(embedder, p, "train-" + n) for p, n in zip(zoo_prompts, names)]
        if any(f in KERNELS for f, *_ in parsed):
            zoo_sets = [sentence_set(embedder, p, "train-sentences-" + n) for p, n in zip(zoo_prompts, names)]
        for f, _, w, _, r in parsed:
            if f in FEATURES and (f, w, r) not in heads:
                heads[(f, w, r)] = ridge_projection(torch.stack([weighted(f, w, z) for z in zoo]), r)

    def linear(f: str, w: float, job: Dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([weighted(f, w, z) for z in zoo]) @ weighted(f, w, job)

    def matching(tau: float, job: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.tensor([match_kernel(job, z, tau) for z in zoo_sets], dtype=torch.float64)

    # The zoo's Gram per kernel variant (and per feature variant for the leave-one-out refits); `mix` divides each
    # kernel by its centred trace on the whole zoo.
    grams: Dict[Tuple[str, float], torch.Tensor] = {}
    mix_scale: Dict[float, Tuple[float, float]] = {}
    for f, _, w, _, _ in parsed:
        if (f, w) in grams or not (leave_one_out or f in KERNELS):
            continue
        if f in FEATURES:
            grams[(f, w)] = torch.stack([linear(f, w, z) for z in zoo])
            continue
        gm = torch.stack([matching(w, z) for z in zoo_sets])
        if f == "mix":
            gl = torch.stack([linear("both", 1.0, z) for z in zoo])
            mix_scale[w] = (1 / centre(gl).trace().item(), 1 / centre(gm).trace().item())
            gm = gl * mix_scale[w][0] + gm * mix_scale[w][1]
        grams[(f, w)] = gm

    def kernel_values(f: str, w: float, job: Dict[str, torch.Tensor], job_set: Optional[Tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        if f in FEATURES:
            return linear(f, w, job)
        km = matching(w, job_set)
        return km if f == "match" else linear("both", 1.0, job) * mix_scale[w][0] + km * mix_scale[w][1]

    zoo_folder = os.path.join(root, "checkpoints", names[0])
    steps = sorted((c for c in os.listdir(zoo_folder) if re.fullmatch(r"checkpoint-\d+", c)), key=lambda c: int(c.split("-")[1]))
    if not steps:
        raise ValueError(f"{zoo_folder}: no checkpoint-<step> folder to take adapter_config.json from; rerun `dnd demo`")
    example = os.path.join(zoo_folder, steps[-1], "adapter_config.json")
    results: Dict[str, Dict[str, float]] = {}
    for h in (names if leave_one_out else held):
        test = os.path.join(data, f"{h}.test.jsonl")
        prompts = read_prompts(test)
        chosen = [prompts[i] for i in head_prompts(len(prompts), head_limit, seed)]
        job = f"test-{h}-head{head_limit}-seed{seed}"
        feats = features(embedder, chosen, job)
        job_set = sentence_set(embedder, chosen, job + "-sentences") if zoo_sets else None
        adapters = []
        for v, (f, s, w, g, r) in zip(variants, parsed):
            if leave_one_out:
                i = names.index(h)
                keep = [j for j in range(len(names)) if j != i]
                k = kernel_values(f, w, feats, job_set)
                alpha = left_out_weights(kernel_weights(grams[(f, w)][keep][:, keep], k[keep], r), i, g)
            elif f in KERNELS:
                alpha = g * kernel_weights(grams[(f, w)], kernel_values(f, w, feats, job_set), r)
            else:
                mean, projection = heads[(f, w, r)]
                alpha = g * (projection @ (weighted(f, w, feats) - mean))
            folder = os.path.join(out, h, v.replace("*", "x").replace("@", "w").replace("^", "g").replace("~", "r"))
            os.makedirs(folder, exist_ok=True)
            shutil.copy(example, os.path.join(folder, "adapter_config.json"))
            save(head_adapter(norm, alpha, s), os.path.join(folder, "adapter_model.safetensors"))
            adapters += ["--adapter", folder]
        table = os.path.join(out, h, "eval.json")
        run([dnd, "eval", "--base", os.path.join(root, "base"), "--data", test, "--json", table] + adapters)
        with open(table) as f:
            rows = json.load(f)["rows"]
        results[h] = {"base": rows[0]["accuracy"]}
        results[h].update({v: r["accuracy"] for v, r in zip(variants, rows[1:])})
        print(h, " ".join(f"{k} {100 * a:.1f}%" for k, a in results[h].items()), flush=True)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dnd_torch.head_screen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="a root built by `dnd demo` (or one of its demo/seeds/seed-K)")
    ap.add_argument("--out", required=True, help="where the adapters, embeddings and tables go")
    ap.add_argument("--variants", default="whole", help="comma-separated FEATURE[@WEIGHT][~RIDGE][^SCALE][*STRENGTH] (see above)")
    ap.add_argument("--dnd", default=os.path.join(".build", "release", "dnd"), help="the dnd binary")
    ap.add_argument("--seed", type=int, default=0, help="prompt choice seed (the daemon's is 0)")
    ap.add_argument("--head-prompts", type=int, default=DEFAULT_HEAD_PROMPTS,
                    help=f"at most this many distinct test prompts feed the head, as the daemon's (default {DEFAULT_HEAD_PROMPTS})")
    ap.add_argument("--leave-one-out", action="store_true",
                    help="score the zoo's own datasets, each with a head and mean fitted on the other zoo datasets")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    try:
        for v in variants:
            parse_variant(v)
        results = screen(args.root, args.out, variants, args.dnd, args.seed, args.head_prompts, args.leave_one_out)
    except (ValueError, OSError) as e:
        print(f"head_screen: {e}", file=sys.stderr)
        return 1
    columns = ["base"] + variants
    print("mean", " ".join(f"{c} {100 * sum(r[c] for r in results.values()) / len(results):.1f}%" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
