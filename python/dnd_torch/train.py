"""Trains dnd's generator on a `dnd export-training` folder with PyTorch, data-parallel under torchrun.

    torchrun --nproc_per_node=N -m dnd_torch.train --export OUT --out GEN_DIR [--work DIR] [--bf16]

What `dnd train` does, step for step: dnd's initial weights (init.safetensors), the export's sample schedule (step s
holds the B samples dnd train draws at step s: a dataset, one of its checkpoints, N fresh prompts of it), DESIGN's
weighted MSE with the exported per-token weights, Gaussian noise on conditions and targets, AdamW with decoupled
weight decay, linear warmup then cosine decay, global gradient-norm clipping. Each of the W processes takes B/W
samples of every step; DDP averages the gradients (gloo on CPU, nccl on GPUs). Noise is drawn per sample (seeded by
seed, step and sample), so a run gives the same result on any number of processes, and resumes on any number.

Checkpoints (weights, AdamW moments, step) go to WORK/checkpoints every K steps and at the end; a rerun with the same
export and options resumes from the newest. The result is a generator folder dnd loads unchanged:
`dnd install-generator GEN_DIR --root ROOT`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

import dnd_torch  # noqa: F401  (quietens torch's numpy warning)
import torch
import torch.distributed as dist

from . import generator_folder
from .export import ExportError, TrainingExport
from .model import HyperConvGenerator, weighted_mse


def lr_at(step: int, peak: float, warmup: int, total: int, min_factor: float) -> float:
    """dnd's `LRSchedule.rate(at:)`: linear warmup from 0, then cosine decay to `min_factor · peak` (0-based step)."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    p = min(1.0, (step - warmup) / span)
    return peak * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * p)))


def sample_seed(seed: int, step: int, sample: int) -> int:
    """Seed of the noise of one sample of one step (independent of how samples are spread over processes)."""
    return int.from_bytes(hashlib.sha256(f"dnd-noise:{seed}:{step}:{sample}".encode()).digest()[:8], "little") >> 1


def global_norm(named: List[tuple]) -> float:
    """L2 norm of every gradient, summed in float64 in parameter-name order (as dnd's `AdamW.globalNorm`)."""
    total = torch.zeros((), dtype=torch.float64, device=named[0][1].device)
    for _, p in sorted(named, key=lambda x: x[0]):
        if p.grad is not None:
            total += p.grad.double().pow(2).sum()
    return float(total.sqrt())


class Options:
    """The run's options: the export's `training` block, overridden by the command line."""

    KEYS = ("steps", "learning_rate", "warmup_steps", "min_learning_rate_factor", "weight_decay", "clip_norm",
            "condition_noise", "target_noise", "seed", "checkpoint_every", "keep_checkpoints")

    def __init__(self, export: TrainingExport, args: argparse.Namespace):
        o = dict(export.options)
        for k in self.KEYS:
            v = getattr(args, k, None)
            if v is not None:
                o[k] = v
        self.values = o
        self.steps = int(o["steps"])
        self.batch_size = int(o["batch_size"])
        if not 1 <= self.steps <= export.steps:
            raise SystemExit(f"error: --steps {self.steps}: the export's schedule holds {export.steps} steps; "
                             f"run `dnd export-training` again with --steps {self.steps} (complete shards are kept)")

    def __getattr__(self, k):
        try:
            return self.__dict__["values"][k]
        except KeyError:
            raise AttributeError(k) from None

    def key(self, export: TrainingExport) -> str:
        """What a checkpoint must have been made with to be resumed: the export's content and these options."""
        parts = [export.manifest["files"][n]["sha256"] for n in sorted(export.manifest["files"])]
        parts += [s["sha256"] for s in export.manifest["shards"]]
        parts.append(json.dumps(self.values, sort_keys=True))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class Checkpoints:
    """`WORK/checkpoints/step-<n>.pt`: weights, AdamW state, step, elapsed seconds, recent losses, the run key."""

    def __init__(self, work: str, keep: int):
        self.folder = os.path.join(work, "checkpoints")
        self.keep = keep

    def save(self, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, elapsed: float,
             recent: List[float], key: str) -> None:
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"step-{step:08d}.pt")
        tmp = path + f".tmp-{os.getpid()}"
        torch.save({"step": step, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer": optimizer.state_dict(), "elapsed": elapsed, "recent": recent, "key": key}, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        for old in self.names()[:-self.keep]:
            os.remove(os.path.join(self.folder, old))

    def names(self) -> List[str]:
        if not os.path.isdir(self.folder):
            return []
        return sorted(n for n in os.listdir(self.folder) if n.startswith("step-") and n.endswith(".pt"))

    def newest(self, key: str) -> Optional[dict]:
        """The newest checkpoint made with `key`, or None."""
        for name in reversed(self.names()):
            try:
                c = torch.load(os.path.join(self.folder, name), map_location="cpu", weights_only=False)
            except Exception as e:  # a damaged file: fall back to an older one
                print(f"warning: {name}: unreadable ({e}); trying an older checkpoint", file=sys.stderr)
                continue
            if c.get("key") == key:
                return c
            print(f"warning: {os.path.join(self.folder, name)} was made with another export or other options; not resumed",
                  file=sys.stderr)
            return None
        return None


class LossLog:
    """One JSON line per step, as dnd's loss.jsonl: step, loss, lr, grad_norm, elapsed."""

    def __init__(self, path: str, resume_step: int):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        kept = []
        if resume_step > 0 and os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        if json.loads(line)["step"] <= resume_step:
                            kept.append(line)
                    except (ValueError, KeyError):
                        pass
        with open(path, "w") as f:
            f.writelines(kept)

    def append(self, step: int, loss: float, lr: float, norm: float, elapsed: float) -> None:
        with open(self.path, "a") as f:
            f.write('{"step":%d,"loss":%.9g,"lr":%.9g,"grad_norm":%.9g,"elapsed":%.3f}\n' % (step, loss, lr, norm, elapsed))


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="torchrun --nproc_per_node=N -m dnd_torch.train",
                                 description="Train dnd's generator on a `dnd export-training` folder (DDP under torchrun).")
    ap.add_argument("--export", required=True, help="the folder `dnd export-training ROOT OUT` wrote")
    ap.add_argument("--out", required=True, help="the generator folder to write (replaced atomically)")
    ap.add_argument("--work", help="checkpoints and loss log (default: OUT.work)")
    ap.add_argument("--loss-log", help="the loss log (default: WORK/loss.jsonl)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="cuda when available (auto), else cpu")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for the decoder (GPUs); the loss and optimizer stay float32")
    ap.add_argument("--threads", type=int, help="torch threads per process on CPU (default: cores / processes on this node)")
    ap.add_argument("--init", choices=("dnd", "torch"), default="dnd",
                    help="dnd: the export's init.safetensors (what dnd train starts from); torch: dnd's scheme, torch's random draw")
    ap.add_argument("--verify", action="store_true", help="check every SHA-256 of the export before training")
    ap.add_argument("--log-every", type=float, default=5, help="seconds between progress lines")
    ap.add_argument("--stop-after", type=int, help="stop after this many steps of this session, with a checkpoint (a rerun resumes): for time-boxed jobs")
    g = ap.add_argument_group("options (default: the export's training options)")
    g.add_argument("--steps", type=int)
    g.add_argument("--lr", dest="learning_rate", type=float)
    g.add_argument("--warmup-steps", type=int)
    g.add_argument("--min-lr-factor", dest="min_learning_rate_factor", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--clip-norm", type=float)
    g.add_argument("--condition-noise", type=float)
    g.add_argument("--target-noise", type=float)
    g.add_argument("--seed", type=int, help="seed of the noise and of --init torch (the sample order is the export's)")
    g.add_argument("--checkpoint-every", type=int, help="a checkpoint every K steps (0: only at the end)")
    g.add_argument("--keep-checkpoints", type=int)
    return ap.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // local_world))
    if world > 1:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    lead = rank == 0

    def say(msg: str) -> None:
        if lead:
            print(msg, file=sys.stderr, flush=True)

    try:
        export = TrainingExport(args.export, full=args.verify)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    opts = Options(export, args)
    if opts.batch_size % world != 0:
        print(f"error: the batch of {opts.batch_size} samples does not split over {world} processes; "
              f"export with a --batch that {world} divides, or run another number of processes", file=sys.stderr)
        return 1
    local = opts.batch_size // world
    mine = range(rank * local, (rank + 1) * local)
    work = args.work or (args.out.rstrip("/") + ".work")
    key = opts.key(export)

    config = export.config
    model = HyperConvGenerator(config["chain"], config["kernel"])
    if args.init == "dnd":
        model.load_dnd_state(export.init, os.path.join(args.export, "init.safetensors"))
    else:
        model.reset_parameters_like_dnd(torch.Generator().manual_seed(int(opts.seed)))
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=opts.weight_decay)
    checkpoints = Checkpoints(work, int(opts.keep_checkpoints))
    start, elapsed, recent = 0, 0.0, []
    resumed = checkpoints.newest(key)
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        start, elapsed, recent = resumed["step"], resumed["elapsed"], list(resumed["recent"])
        say(f"resumed at step {start} from {checkpoints.folder}")
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) if world > 1 else model
    weights = export.token_weights.to(device)
    log = LossLog(args.loss_log or os.path.join(work, "loss.jsonl"), start) if lead else None
    named = list(model.named_parameters())
    params = sum(p.numel() for _, p in named)
    say(f"training {params} parameters, chain {config['chain']}, on {world} process(es) ({device.type}"
        f"{', bf16 autocast' if args.bf16 else ''}), {local} of {opts.batch_size} samples each, steps {start + 1}…{opts.steps}")

    wall0, last_print, loss_value, final_loss, done = time.time(), 0.0, float("nan"), float("nan"), start
    for step in range(start, opts.steps):
        t0 = time.time()
        cond, target = export.batch(step, mine)                                  # (b, N, L, H), (b, T, r+2, cw+2)
        for i, j in enumerate(mine):
            g = torch.Generator().manual_seed(sample_seed(int(opts.seed), step, j))
            if opts.condition_noise > 0:
                cond[i] += opts.condition_noise * torch.randn(cond[i].shape, generator=g)
            if opts.target_noise > 0:
                target[i] += opts.target_noise * torch.randn(target[i].shape, generator=g)
        cond = cond.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        lr = lr_at(step, opts.learning_rate, int(opts.warmup_steps), opts.steps, opts.min_learning_rate_factor)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
            y = ddp(cond)
        loss = weighted_mse(y.float(), target, weights)                          # this process's share of the batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()                                                          # DDP: gradients averaged over processes
        reported = loss.detach().clone()
        if world > 1:
            dist.all_reduce(reported)
            reported /= world
        loss_value = float(reported)
        if not math.isfinite(loss_value):
            print(f"error: training diverged at step {step + 1}: the loss is {loss_value}; lower --lr or check the export", file=sys.stderr)
            return 1
        norm = global_norm(named)
        if not math.isfinite(norm):
            print(f"error: training diverged at step {step + 1}: the gradient norm is {norm}; lower --lr", file=sys.stderr)
            return 1
        if norm > opts.clip_norm:
            for _, p in named:
                if p.grad is not None:
                    p.grad.mul_(opts.clip_norm / norm)
        optimizer.step()
        elapsed += time.time() - t0
        recent = (recent + [loss_value])[-20:]
        final_loss = loss_value
        done = step + 1
        if log is not None:
            log.append(done, loss_value, lr, norm, elapsed)
        if lead and (time.time() - last_print >= args.log_every or done == opts.steps):
            last_print = time.time()
            say(f"step {done}/{opts.steps} loss {loss_value:.6f} lr {lr:.3e} grad_norm {norm:.4f} ({elapsed:.1f} s)")
        every = int(opts.checkpoint_every)
        stopping = args.stop_after is not None and done - start >= args.stop_after and done < opts.steps
        if lead and ((every > 0 and done % every == 0) or done == opts.steps or stopping):
            checkpoints.save(done, model, optimizer, elapsed, recent, key)
        if stopping:
            break
    session = time.time() - wall0
    ran = done - start if opts.steps > start else 0
    if world > 1:
        dist.barrier()
    if lead and done < opts.steps:
        say(f"stopped after step {done} of {opts.steps} ({ran} steps in {session:.1f} s); rerun the same command to resume")
    elif lead:
        finished = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        if ran == 0:
            c = checkpoints.newest(key)
            final_loss = c["recent"][-1] if c and c["recent"] else float("nan")
        training = {"steps": opts.steps, "batch_size": opts.batch_size, "learning_rate": opts.learning_rate,
                    "seed": int(opts.seed), "final_loss": final_loss,
                    "recent_loss": sum(recent) / len(recent) if recent else float("nan"), "seconds": elapsed,
                    "finished_at": finished}
        identity = generator_folder.write(args.out, model.state_dict(), config, export.pipeline,
                                          os.path.join(args.export, "datasets.safetensors"), training, finished)
        rate = ran / session if session > 0 else float("nan")
        say(f"trained generator {identity}: {opts.steps} steps, final loss {final_loss:.6f}, {ran} steps in {session:.1f} s "
            f"({rate:.2f} steps/s on {world} process(es)); wrote {args.out}")
        say(f"install it: dnd install-generator {args.out} --root ROOT")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
