"""Time the word tokenizer on the 25,000 IMDB training reviews: learn the vocabulary, then encode.

    python bench/tokenize_speed.py --config configs/imdb_cnn.yaml

Reading the archive is not counted; learning the vocabulary and encoding to max_length are.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402
from kerasclf.data.sources import read_acl_imdb  # noqa: E402
from kerasclf.data.tokenize import WordTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb import IMDB  # noqa: E402
from results import append, command, machine  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/imdb_cnn.yaml")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    cfg = kerasclf.load_config(args.config)
    inp = cfg.inputs[0]
    texts = [r["text"] for r in read_acl_imdb(IMDB)["train"]]
    best = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tok = WordTokenizer.fit(texts, inp.tokenizer, inp.max_length)
        t1 = time.perf_counter()
        ids = tok.encode(texts)
        t2 = time.perf_counter()
        if best is None or t2 - t0 < best[0] + best[1]:
            best = (t1 - t0, t2 - t1)
    n_tokens = int((ids != 0).sum())
    append(
        "Word tokenizer, 25,000 IMDB training reviews (issue 2)",
        ["date", "config", "max_length", "vocabulary s", "encode s", "total s", "tokens kept", "machine", "command"],
        [
            date.today().isoformat(),
            cfg.name,
            inp.max_length,
            f"{best[0]:.2f}",
            f"{best[1]:.2f}",
            f"{sum(best):.2f}",
            n_tokens,
            machine(),
            f"`{command()}` (best of {args.repeat})",
        ],
    )
    print(f"vocabulary {best[0]:.2f} s, encode {best[1]:.2f} s, total {sum(best):.2f} s for {len(texts)} reviews")


if __name__ == "__main__":
    main()
