"""Read a data source into train/validation/test splits of raw text columns and integer labels.

Sources (the `data.source` key):
    sample                 the IMDB sample shipped inside the package (1,500 train, 500 test)
    tfds:NAME              a tensorflow-datasets dataset (imdb_reviews, glue/sst2, ...)
    DIR or FILE.tar.gz     the aclImdb layout: <split>/<class>/*.txt, classes from folder names
    FILE.csv/.tsv/.jsonl   rows with text column(s) and a label column; test from `data.test`
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasclf.config import Config
from kerasclf.data import labels as multilabel
from kerasclf.errors import UserError

log = logging.getLogger("kerasclf")
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample"
FILE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".csv.gz", ".tsv.gz", ".jsonl.gz")


@dataclass
class Split:
    """One split: a list of texts per column, and integer labels."""

    columns: dict[str, list[str]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> Split:
        index = np.asarray(index, dtype=np.int64)
        return Split({c: [v[i] for i in index] for c, v in self.columns.items()}, self.labels[index])


@dataclass
class RawData:
    train: Split
    validation: Split
    test: Split
    class_names: list[str]


# ---------------------------------------------------------------- reading files
def decode(data: bytes, where: str) -> str:
    """UTF-8 with or without a byte-order mark; bytes that are not UTF-8 are replaced and counted."""
    text = data.decode("utf-8-sig", errors="replace")
    if "\ufffd" not in text:  # the common case: one decode, nothing to count
        return text
    bad = text.count("\ufffd") - data.decode("utf-8-sig", errors="ignore").count("\ufffd")
    if bad:
        log.warning("%s: %d byte(s) are not UTF-8 and were replaced by U+FFFD", where, bad)
    return text


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_table(path: Path) -> list[dict]:
    """Rows of a .csv, .tsv or .jsonl file (optionally gzipped) as dicts. Blank lines are skipped."""
    name = path.name.removesuffix(".gz")
    text = decode(_read_bytes(path), str(path))
    if name.endswith(".jsonl"):
        rows = []
        # split on \n only: str.splitlines() would also split inside strings at U+2028, U+0085, ...
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}: line {n} is not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}: line {n} is not a JSON object")
            rows.append(row)
        return rows
    # TSV is read as written by most tools (GLUE, spreadsheets): tabs separate, quotes are text.
    tsv = name.endswith(".tsv")
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter="\t" if tsv else ",",
        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
    )
    try:
        lines = [r for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as e:
        raise UserError(f"{path}: line {reader.line_num} cannot be parsed ({e})") from None
    if not lines:
        raise UserError(f"{path}: the file has no rows (expected a header line and data rows)")
    header = [h.strip() for h in lines[0]]
    rows = []
    for n, r in enumerate(lines[1:], 2):
        if len(r) != len(header):
            raise UserError(f"{path}: row {n} has {len(r)} fields, the header has {len(header)}")
        rows.append(dict(zip(header, r)))
    return rows


def read_acl_imdb(path: Path) -> dict[str, list[dict]]:
    """{split: [{"text", "label"}]} from an aclImdb folder or tar(.gz) (the `unsup` folder is left out)."""
    out: dict[str, list[dict]] = {}

    def add(parts: list[str], data: bytes, where: str):
        # parts ends in <split>/<class>/<file>.txt
        if len(parts) >= 3 and parts[-1].endswith(".txt") and parts[-3] in ("train", "test") and parts[-2] != "unsup":
            row = {"text": decode(data, where), "label": parts[-2], "id": _id_key(parts[-1])}
            out.setdefault(parts[-3], []).append(row)

    if path.is_dir():
        for f in sorted(path.rglob("*.txt")):
            add(list(f.relative_to(path).parts), f.read_bytes(), str(f))
    else:
        try:
            with tarfile.open(path, "r:*") as tar:
                for m in tar:
                    if m.isfile():
                        add(m.name.split("/"), tar.extractfile(m).read(), f"{path}:{m.name}")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise UserError(f"data.source: {path} is not a readable tar archive ({e})") from None
    if "train" not in out:
        raise UserError(f"data.source: {path} has no train/<class>/*.txt files (expected the aclImdb layout)")
    for split in out.values():  # upstream's order (by class, then numeric id), whatever the file system's
        split.sort(key=lambda r: (r["label"], r.pop("id")))
    return out


def _id_key(name: str) -> tuple:
    """aclImdb's `<id>_<stars>.txt` sorts by its numeric id (10 after 9); other names after, by name."""
    head = name.split("_", 1)[0]
    return (0, int(head), name) if head.isdigit() else (1, 0, name)


def read_tfds(name: str, cfg: Config) -> dict[str, list[dict]]:
    """Splits of a tensorflow-datasets dataset; TensorFlow is imported here only, kept off the GPU."""
    from kerasclf import tf_guard

    tf_guard.release()
    try:
        tf = tf_guard.import_tensorflow()
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError(f"data.source: tfds:{name} needs tensorflow-datasets (pip install 'kerasclf[tfds]')") from None
    with contextlib.suppress(RuntimeError, ValueError):
        tf.config.set_visible_devices([], "GPU")
    try:
        builder = tfds.builder(name)
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001 - tfds raises many kinds; all mean "could not get it"
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UserError(
            f"data.source: tfds:{name} could not be loaded or downloaded (offline? {first}); "
            "prepare it once online or point data.source at local files"
        ) from None
    features = builder.info.features  # a tfds FeaturesDict: `in` and [] but no .get
    label_feature = features[cfg.data.label_column] if cfg.data.label_column in features else None  # noqa: SIM401
    names = list(getattr(label_feature, "names", []) or [])
    out = {}
    available = list(builder.info.splits) or ["train", "validation", "test"]  # (tfds mock data lists none)
    for split in (s for s in ("train", "validation", "test") if s in available):
        rows = []
        for ex in tfds.as_numpy(builder.as_dataset(split=split)):
            row = {k: (v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v) for k, v in ex.items()}
            lab = row.get(cfg.data.label_column)
            if lab is not None and names and int(lab) >= 0:
                row[cfg.data.label_column] = names[int(lab)]
            rows.append(row)
        out[split] = rows
    # GLUE-style test splits carry label -1: use the validation split as test instead
    if "test" in out and all(
        np.ndim(r.get(cfg.data.label_column, -1)) == 0 and r.get(cfg.data.label_column) == -1 for r in out["test"][:100]
    ):
        log.info("tfds:%s: the test split has no labels; using its validation split as test", name)
        out["test"] = out.pop("validation", [])
    return out


# ---------------------------------------------------------------- rows -> splits
def _resolve(source: str) -> Path:
    p = Path(source).expanduser()
    if not p.exists():
        raise UserError(
            f"data.source: {source}: no such file or folder "
            "(expected sample, tfds:NAME, an aclImdb folder or .tar.gz, or a .csv/.tsv/.jsonl file)"
        )
    return p


def read_source(cfg: Config) -> dict[str, list[dict]]:
    """{split name: rows} for the configured source, before labels are mapped or splits carved."""
    src = cfg.data.source
    if src == "sample":
        return {s: read_table(SAMPLE_DIR / f"imdb_{s}.jsonl.gz") for s in ("train", "test")}
    if src.startswith("tfds:"):
        return read_tfds(src[5:], cfg)
    path = _resolve(src)
    name = path.name.lower()
    if path.is_dir() or name.endswith((".tar.gz", ".tgz", ".tar")):
        return read_acl_imdb(path)
    if name.endswith(FILE_SUFFIXES):
        out = {"train": read_table(path)}
        for key in ("test", "validation"):
            other = getattr(cfg.data, key)
            if isinstance(other, str):
                p = Path(other).expanduser()
                if not p.is_file():
                    raise UserError(f"data.{key}: {other}: no such file (expected a file like data.source)")
                out[key] = read_table(p)
        return out
    raise UserError(
        f"data.source: {src}: unknown kind of source "
        "(expected sample, tfds:NAME, an aclImdb folder or .tar.gz, or a .csv/.tsv/.jsonl file)"
    )


def _label_key(value) -> str:
    """The text a label is matched by: ints and numeric strings alike ('1', ' 1', 1 -> '1')."""
    if isinstance(value, (bool, float)) or value is None:
        return str(value).strip()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return str(int(text)) if text.lstrip("-").isdigit() else text


def _label_mapping(rows_by_split: dict[str, list[dict]], cfg: Config) -> tuple[dict, list[str]]:
    """{label key: class index} and the class names, from the train split.

    Integer labels keep their numeric order; labels 0..n-1 are the class indices themselves (and
    `data.class_names` names them), any other integers (star ratings 1-5, say) are classes named
    by their value. Text labels are sorted, or ordered as `data.class_names` lists them.
    """
    key = cfg.data.label_column
    train = rows_by_split["train"]
    if key not in train[0]:
        have = ", ".join(map(str, train[0].keys()))
        raise UserError(
            f"data.label_column: column {key!r} is not in the train rows of {cfg.data.source} (it has: {have})"
        )
    keys = sorted({_label_key(r.get(key)) for r in train})
    if all(k.lstrip("-").isdigit() for k in keys):
        values = sorted(int(k) for k in keys)
        if values == list(range(len(values))) and cfg.data.class_names:
            if len(cfg.data.class_names) != len(values):
                raise UserError(
                    f"data.class_names: {len(cfg.data.class_names)} names given, "
                    f"the train split has {len(values)} classes (labels 0..{len(values) - 1})"
                )
            return {str(v): v for v in values}, list(cfg.data.class_names)
        return {str(v): i for i, v in enumerate(values)}, [str(v) for v in values]
    if cfg.data.class_names:
        unknown = set(keys) - set(cfg.data.class_names)
        if unknown:
            raise UserError(f"data.class_names: labels {sorted(unknown)[:5]} are not among {cfg.data.class_names}")
        keys = list(cfg.data.class_names)
    return {k: i for i, k in enumerate(keys)}, keys


def _column_key(cfg: Config, column: str) -> str:
    """The --set path of the key that names `column` (inputs.0.column, or inputs.1.columns.0)."""
    for i, inp in enumerate(cfg.inputs):
        if inp.columns and column in inp.columns:
            return f"inputs.{i}.columns.{inp.columns.index(column)}"
        if not inp.columns and inp.column == column:
            return f"inputs.{i}.column"
    return "inputs"


def _to_split(rows: list[dict], split: str, columns: list[str], mapping: dict | list, cfg: Config) -> Split:
    """The split's texts and labels: `mapping` is {label key: class} (multiclass) or the class names (multilabel)."""
    key = cfg.data.label_column
    source = cfg.data.source
    keep_cols: dict[str, list[str]] = {c: [] for c in columns}
    labels, kept = [], []
    dropped = 0
    label_keys = cfg.data.label_columns or [key]
    for n, row in enumerate(rows, 1):
        for c in [*label_keys, *columns]:
            if c not in row:
                have = ", ".join(map(str, row.keys()))
                what = (
                    ("data.label_columns" if cfg.data.label_columns else "data.label_column")
                    if c in label_keys
                    else _column_key(cfg, c)
                )
                raise UserError(f"{what}: column {c!r} is not in the {split} rows of {source} (it has: {have})")
        texts = [("" if row[c] is None else str(row[c])) for c in columns]
        if any(not t.strip() for t in texts):
            if cfg.data.drop_empty:
                dropped += 1
                continue
            c = columns[[not t.strip() for t in texts].index(True)]
            raise UserError(
                f"data.source: row {n} of the {split} split of {source} has an empty {c!r} "
                "(remove it, or set data.drop_empty: true)"
            )
        for c, t in zip(columns, texts):
            keep_cols[c].append(t)
        if isinstance(mapping, list):  # multilabel: the targets of the kept rows, below
            kept.append(row)
            continue
        label = row[key]
        lookup = _label_key(label)
        if lookup not in mapping:
            raise UserError(
                f"data.label_column: row {n} of the {split} split has label {label!r}, "
                f"which the train split does not have (train classes: {sorted(map(str, mapping))})"
            )
        labels.append(mapping[lookup])
    if dropped:
        log.warning("%s split: dropped %d row(s) with empty text (data.drop_empty)", split, dropped)
    if isinstance(mapping, list):
        return Split(keep_cols, multilabel.targets(kept, mapping, cfg, split))
    return Split(keep_cols, np.asarray(labels, dtype=np.int32))


def carve(split: Split, fraction: float, seed: int, how: str = "random") -> tuple[Split, Split]:
    """(rest, carved) with about `fraction` of each class carved out (multilabel: of the rows): at random,
    seeded (how="random"), or the last rows in source order (how="last")."""
    rng = np.random.default_rng(seed)

    def pick(idx: np.ndarray) -> np.ndarray:
        n = max(1, int(round(len(idx) * fraction)))
        return idx[-n:] if how == "last" else rng.permutation(idx)[:n]

    if split.labels.ndim == 2:
        carved = pick(np.arange(len(split)))
    else:
        carved = np.concatenate([pick(np.flatnonzero(split.labels == c)) for c in np.unique(split.labels)])
    mask = np.zeros(len(split), bool)
    mask[carved] = True
    return split.take(np.flatnonzero(~mask)), split.take(np.flatnonzero(mask))


def load_raw(cfg: Config) -> RawData:
    """Read, label and split the configured source into train, validation and test."""
    rows = read_source(cfg)
    if not rows.get("train"):
        raise UserError(f"data.source: {cfg.data.source} has no training rows")
    columns = list(dict.fromkeys(c for inp in cfg.inputs for c in inp.text_columns))
    if cfg.task == "multilabel":
        names = multilabel.class_names(rows["train"], cfg, cfg.data.source)
        mapping = names
    else:
        mapping, names = _label_mapping(rows, cfg)
    splits = {
        s: _to_split(r, s, columns, mapping, cfg) for s, r in rows.items() if s in ("train", "validation", "test")
    }
    train = splits["train"]
    seed = cfg.train.seed
    if cfg.data.limit:
        keep = np.random.default_rng(seed).permutation(len(train))[: cfg.data.limit]
        train = train.take(np.sort(keep))
    if cfg.task == "multilabel":
        multilabel.check_train(train.labels, names)
    elif len(np.unique(train.labels)) < 2:
        only = names[int(train.labels[0])] if len(train) else "none"
        raise UserError(
            f"data.label_column: the train split has a single class ({only!r}); "
            "expected at least two classes to learn from"
        )
    test = splits.get("test")
    if test is None:
        fraction = cfg.data.test if isinstance(cfg.data.test, float) else 0.1
        log.info("no test split in %s: carving %.0f%% of train as test", cfg.data.source, 100 * fraction)
        train, test = carve(train, fraction, seed + 1, cfg.data.carve)
    validation = splits.get("validation")
    if validation is None:
        fraction = cfg.data.validation if isinstance(cfg.data.validation, float) else 0.1
        train, validation = carve(train, fraction, seed, cfg.data.carve)
    return RawData(train, validation, test, names)
