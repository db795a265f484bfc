"""Train a config on the full IMDB set (../shared/data) and record the numbers in bench/RESULTS.md.

    python bench/imdb.py --config configs/imdb_cnn.yaml
    python bench/imdb.py --config configs/imdb_rnn.yaml --set train.epochs=3
    python bench/imdb.py --config configs/imdb_cnn.yaml --seeds 1 2 3   # one row per seed, then their mean
    python bench/imdb.py --config configs/imdb_combined_ngrams.yaml --drop bow  # a drop-one ablation: the rest, fused

Records validation and test accuracy, test macro F1, epochs, seconds per epoch, tokenization seconds, peak
memory (max resident set size of this process) and the saved model's size, with the date, machine and command.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402
from kerasclf.cli import setup_logging  # noqa: E402
from kerasclf.config import from_dict  # noqa: E402
from kerasclf.train import train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

# every row from issue 18 on: validation beside test accuracy (choices are made on validation) and the
# model's size (earlier sections, one per issue, keep their own columns)
SECTION = "IMDB, full 25k train / 25k test: accuracy against its cost (issue 18 on)"
IMDB = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aclImdb_labeled.tar.gz"


def settings(cfg) -> str:
    """The settings that tell one row from another: length, encoder, schedule."""
    parts = []
    for inp in cfg.inputs:
        enc = {
            k: (Path(v).name if k in ("preset", "init_from") and v else v)
            for k, v in vars(inp.encoder).items()
            if k != "type"
        }
        parts.append(
            f"{inp.name}: {inp.encoder.type} {enc}, max_length {inp.max_length}, vocab {inp.tokenizer.max_tokens}"
        )
    t = cfg.train
    extra = "".join(
        [
            f", mixup {t.mixup_alpha}" if t.mixup_alpha else "",
            f", ema {t.ema}" if t.ema else "",
            f", validation {cfg.data.validation}",
            f", seed {t.seed}",
            # the head's training-only losses and ModDrop, where set
            *(
                f", head.{k} {getattr(cfg.head, k)}"
                for k in ("path_loss", "input_loss", "input_dropout")
                if getattr(cfg.head, k)
            ),
        ]
    )
    parts.append(f"lr {t.learning_rate} {t.schedule}, batch {t.batch_size}, epochs {t.epochs}{extra}")
    return "; ".join(parts).replace("|", "/")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", action="append", required=True)
    p.add_argument("--set", action="append", default=[], dest="overrides")
    p.add_argument("--source", default=str(IMDB))
    p.add_argument("--output-dir", default=str(Path(__file__).parent / "out"))
    p.add_argument("--seeds", type=int, nargs="+", help="train once per seed (train.seed), a row each")
    p.add_argument("--drop", action="append", default=[], help="leave out this input (by name); repeatable")
    args = p.parse_args()
    setup_logging()
    accuracies = [one_run(args, [f"train.seed={s}"] if s is not None else []) for s in (args.seeds or [None])]
    if len(accuracies) > 1:
        mean = sum(accuracies) / len(accuracies)
        print(
            f"seeds {args.seeds}: test accuracy mean {100 * mean:.2f}%, min {100 * min(accuracies):.2f}%, "
            f"max {100 * max(accuracies):.2f}%"
        )


def without_inputs(cfg, names: list[str]):
    """The config with the named inputs left out and the rest as they were (head and training included),
    named `<name>-no_<input>`: a drop-one ablation of a fused config."""
    missing = set(names) - {i.name for i in cfg.inputs}
    if missing:
        sys.exit(f"error: --drop {sorted(missing)}: no such input in {[i.name for i in cfg.inputs]}")
    tree = cfg.to_dict()
    tree["inputs"] = [i for i in tree["inputs"] if i["name"] not in names]
    tree["name"] = cfg.name + "".join(f"-no_{n}" for n in names)
    return from_dict(tree)


def one_run(args, seed_override: list[str]) -> float:
    cfg = kerasclf.load_config(*args.config, overrides=[f"data.source={args.source}", *args.overrides, *seed_override])
    if args.drop:
        cfg = without_inputs(cfg, args.drop)
    run_dir = train(cfg, args.output_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # with --seeds: the peak of all runs so far
    model_mb = (run_dir / "model.keras").stat().st_size / 2**20
    row = [
        date.today().isoformat(),
        cfg.name,
        settings(cfg),
        f"{100 * m['validation']['accuracy']:.2f}%",
        f"{100 * m['test']['accuracy']:.2f}%",
        f"{m['test']['f1_macro']:.4f}",
        f"{m['epochs_run']} (best {m['best_epoch']})",
        f"{m['seconds_per_epoch']:.1f}",
        f"{m['tokenize_seconds']:.1f}",
        f"{peak_gib:.2f}",
        f"{model_mb:.1f}",
        machine(),
        f"`{command()}`",
    ]
    if any(i.encoder.type == "pretrained" for i in cfg.inputs):
        row[2] += f"; cached features: {', '.join(m.get('cached_features') or []) or 'none'}"
    columns = ["date", "config", "settings", "validation accuracy", "test accuracy", "test F1 macro", "epochs",
               "s/epoch", "tokenize s", "peak RSS GiB", "model MB", "machine", "command"]  # fmt: skip
    append(SECTION, columns, row)
    print(
        json.dumps(
            {
                "run": str(run_dir),
                "test": {k: m["test"][k] for k in ("accuracy", "f1_macro")},
                "seconds_per_epoch": m["seconds_per_epoch"],
            }
        )
    )
    return m["test"]["accuracy"]


if __name__ == "__main__":
    main()
