"""Balanced, seeded IMDB subsets written as JSONL files, so that benchmarks (and other frameworks)
read exactly the same reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def imdb_subset(archive: Path, folder: Path, n_train: int, n_test: int, seed: int = 0) -> dict[str, Path]:
    """{'train': path, 'test': path}: n reviews from each split, half of each class, in a seeded order."""
    from kerasclf.data.sources import read_acl_imdb

    folder.mkdir(parents=True, exist_ok=True)
    paths = {s: folder / f"imdb_{s}_{n}_seed{seed}.jsonl" for s, n in (("train", n_train), ("test", n_test))}
    if all(p.is_file() for p in paths.values()):
        return paths
    rows = read_acl_imdb(archive)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        keep = []
        for label in ("neg", "pos"):
            idx = [i for i, r in enumerate(rows[split]) if r["label"] == label]
            keep += [rows[split][i] for i in rng.choice(idx, n // 2, replace=False)]
        keep = [keep[i] for i in rng.permutation(len(keep))]
        with open(paths[split], "w", encoding="utf-8") as f:
            for r in keep:
                f.write(json.dumps({"text": r["text"], "label": r["label"]}) + "\n")
    return paths
