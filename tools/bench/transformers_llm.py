#!/usr/bin/env python3
"""The reference side of `dnd bench llm --peer`: transformers (and PEFT for LoRA) on the same model and shapes.

Prints progress on stderr and one JSON line of rates (tokens/s) on stdout. Loads a Hugging Face folder or a GGUF
file (transformers dequantizes it to float32). Not used by dnd at run time.
"""
import argparse, json, os, sys, time


def best(repeats, fn):
    fn()
    t = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter(); fn(); t = min(t, time.perf_counter() - t0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--decode-batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(a.threads)
    path = a.model
    if path.endswith(".gguf"):
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path) or ".", gguf_file=os.path.basename(path), torch_dtype=torch.float32)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(5)
    half = a.seq_len // 2
    ids = torch.randint(0, vocab, (a.batch, a.seq_len), generator=g)
    tokens = a.batch * a.seq_len
    rates = {}

    def score(m):
        with torch.no_grad():
            out = m(input_ids=ids, logits_to_keep=a.seq_len - half)
            torch.log_softmax(out.logits, dim=-1)
    t = best(a.repeats, lambda: score(model))
    rates["score_tokens_per_s"] = tokens / t
    print(f"score: {tokens / t:.0f} tokens/s", file=sys.stderr)
    if a.rank > 0:
        from peft import LoraConfig, get_peft_model
        lora = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=2 * a.rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], lora_dropout=0.0))
        t = best(a.repeats, lambda: score(lora))
        rates["score_lora_tokens_per_s"] = tokens / t
        labels = ids.clone(); labels[:, :half] = -100
        lora.train()

        def step():
            lora.zero_grad(set_to_none=True)
            out = lora(input_ids=ids, labels=labels)
            out.loss.backward()
        t = best(a.repeats, step)
        rates["train_tokens_per_s"] = tokens / t
        print(f"train LoRA r{a.rank}: {tokens / t:.0f} tokens/s", file=sys.stderr)
        model = lora.unload()
        model.eval()
    if a.decode_tokens > 0:
        with torch.no_grad():
            p = ids[:1, :half]
            t0 = time.perf_counter()
            out = model.generate(p, max_new_tokens=a.decode_tokens, min_new_tokens=a.decode_tokens, do_sample=False)
            t = time.perf_counter() - t0
            rates["decode_tokens_per_s"] = (out.shape[1] - half) / t
            pb = ids[torch.arange(a.decode_batch) % a.batch, :half]
            t0 = time.perf_counter()
            out = model.generate(pb, max_new_tokens=a.decode_tokens, min_new_tokens=a.decode_tokens, do_sample=False)
            t = time.perf_counter() - t0
            rates["decode_batched_tokens_per_s"] = a.decode_batch * (out.shape[1] - half) / t
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
