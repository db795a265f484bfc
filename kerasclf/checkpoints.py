"""BERT-architecture checkpoints: a keras-hub preset name, an `hf://` id, or a local folder, resolved and
loaded once per process, with the WordPiece tokenizer that goes with them.

    ckpt = load_checkpoint("/path/to/all-MiniLM-L6-v2", "inputs.0.encoder.preset")
    ckpt.backbone, ckpt.vocab_file, ckpt.lowercase, ckpt.fingerprint

keras-hub reads the weights (its own preset format, or Hugging Face's config.json + model.safetensors
+ vocab.txt, converted on load); the vocabulary and lowercasing come from the checkpoint's files.
A checkpoint that cannot be had stops with one line naming the config key (`where`): not set, no such
folder, an unknown preset name (with the closest one), offline, not BERT, no vocabulary.

data/ (the tokenizer of an input) and models/ (the weights of a backbone) both read checkpoints
here; keras-hub, an optional extra, is imported only when a checkpoint is loaded.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasclf import backend_fast, tf_guard
from kerasclf.config import Config, InputConfig
from kerasclf.data.wordpiece import WordPieceTokenizer
from kerasclf.errors import UserError

log = logging.getLogger("kerasclf")


@dataclass
class Checkpoint:
    preset: str
    backbone: keras.Model  # keras-hub's BertBackbone, weights loaded
    vocab_file: Path
    lowercase: bool
    fingerprint: str  # a hash of the weights: part of the feature-cache key

    @property
    def hidden_dim(self) -> int:
        return self.backbone.hidden_dim


_LOADED: dict[str, Checkpoint] = {}


def _keras_hub():
    """keras-hub, imported without TensorFlow (it imports TensorFlow when it can; nothing here needs it)."""
    with tf_guard.blocked():
        import keras_hub

    return keras_hub


def feature_dim(inp: InputConfig) -> int:
    """The size of the feature vector of a pretrained input's backbone."""
    return load_checkpoint(inp.checkpoint, "").hidden_dim


def config_key(inp: InputConfig) -> str:
    """The config key of an input's checkpoint, for errors (load_all(cfg) names the --set path first)."""
    return f"encoder.{'preset' if inp.pretrained else 'init_from'} of input {inp.name!r}"


def _host(preset: str) -> str:
    return "huggingface.co" if preset.startswith("hf://") else "www.kaggle.com"


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _fetch(preset: str, name: str) -> Path | None:
    """A file of the preset, as a local path (downloaded when the preset is remote); None if absent."""
    local = Path(preset).expanduser()
    if local.is_dir():
        return local / name if (local / name).is_file() else None
    try:
        with tf_guard.blocked():
            return Path(backend_fast.preset_file(preset, name))
    except (FileNotFoundError, ValueError, OSError):
        return None


def _check_preset(preset: str, where: str) -> None:
    """Stop with one line when `preset` is not set, not a checkpoint folder, not a known preset, or offline."""
    if not preset:
        raise UserError(
            f"{where}: not set; expected a keras-hub preset name, an hf:// id or a local checkpoint "
            f"folder (e.g. --set {where}=/path/to/folder)"
        )
    local = Path(preset).expanduser()
    if local.exists():
        if not (local.is_dir() and (local / "config.json").is_file()):
            raise UserError(
                f"{where}: {preset} is not a checkpoint folder (expected a folder with config.json, "
                f"model.safetensors and vocab.txt, or a keras-hub preset folder)"
            )
        return
    if "/" in preset.removeprefix("hf://").removeprefix("kaggle://") and "://" not in preset:
        raise UserError(
            f"{where}: no such folder {preset} (expected a checkpoint folder, a keras-hub preset name or an hf:// id)"
        )
    presets = _keras_hub().models.BertBackbone.presets
    if "://" not in preset and preset not in presets:
        close = difflib.get_close_matches(preset, list(presets), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"{where}: {preset!r} is not a keras-hub BERT preset, an hf:// id or a folder{hint}")
    host = _host(preset)
    if not _reachable(host):
        raise UserError(
            f"{where}: could not download {preset!r} ({host} is unreachable: offline?); "
            f"pass a local checkpoint folder instead, e.g. --set {where}=/path/to/folder "
            f"(config.json, model.safetensors, vocab.txt)"
        )


def _tokenizer_files(preset: str, where: str) -> tuple[Path, bool]:
    """(vocabulary file, lowercase) of a BERT checkpoint; stops with one line if it is not BERT."""
    config_file = _fetch(preset, "config.json")
    if config_file is None:
        raise UserError(f"{where}: could not read config.json of {preset!r}")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    kind = config.get("model_type") or config.get("class_name")
    if kind not in ("bert", "BertBackbone"):
        raise UserError(
            f"{where}: {preset!r} is a {kind or 'unknown'} checkpoint; kerasclf's pretrained "
            f"encoder takes the BERT architecture (BERT, MiniLM, ...)"
        )
    vocab = _fetch(preset, "vocab.txt") or _fetch(preset, "assets/tokenizer/vocabulary.txt")
    if vocab is None:
        raise UserError(f"{where}: {preset!r} has no vocab.txt (nor a keras-hub tokenizer vocabulary)")
    for name, key in (("tokenizer_config.json", "do_lower_case"), ("tokenizer.json", "lowercase")):
        f = _fetch(preset, name)
        if f is not None:
            settings = json.loads(f.read_text(encoding="utf-8"))
            settings = settings.get("config", settings)
            if isinstance(settings, dict) and key in settings:
                return vocab, bool(settings[key])
    return vocab, True


def _backbone(preset: str, where: str) -> keras.Model:
    local = Path(preset).expanduser()
    log.info("loading %s", preset)
    try:
        with tf_guard.blocked():
            return _keras_hub().models.BertBackbone.from_preset(str(local) if local.is_dir() else preset)
    except Exception as e:  # keras-hub raises many kinds; one line for the user, the detail in the log
        log.debug("loading %s failed", preset, exc_info=True)
        raise UserError(
            f"{where}: could not load {preset!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None


def load_checkpoint(preset: str, where: str) -> Checkpoint:
    """Load (once per process) the backbone and the tokenizer files of `preset`."""
    if preset in _LOADED:
        return _LOADED[preset]
    _check_preset(preset, where)
    vocab, lowercase = _tokenizer_files(preset, where)
    backbone = _backbone(preset, where)
    digest = hashlib.sha256(preset.encode())
    for w in backbone.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    ckpt = Checkpoint(preset, backbone, vocab, lowercase, digest.hexdigest()[:16])
    _LOADED[preset] = ckpt
    return ckpt


def load_all(cfg: Config) -> None:
    """Load every input's checkpoint now: a bad preset fails before any data is read."""
    for i, inp in enumerate(cfg.inputs):
        if inp.pretrained:
            hub = load_checkpoint(inp.encoder.preset, f"inputs.{i}.encoder.preset").backbone
            if inp.max_length > hub.max_sequence_length:
                raise UserError(
                    f"inputs.{i}.max_length: {inp.max_length} is more than the "
                    f"{hub.max_sequence_length} positions {inp.encoder.preset} was trained with"
                )
        elif inp.checkpoint is not None:
            load_checkpoint(inp.checkpoint, f"inputs.{i}.encoder.init_from")


def tokenizer(inp: InputConfig, where: str = "") -> WordPieceTokenizer:
    """The WordPiece tokenizer of the checkpoint an input starts from, with the input's settings."""
    ckpt = load_checkpoint(inp.checkpoint, where or config_key(inp))
    t = inp.tokenizer
    return WordPieceTokenizer.from_vocab(
        ckpt.vocab_file,
        lowercase=ckpt.lowercase,
        strip_html=t.strip_html,
        max_length=inp.max_length,
        truncation=t.truncation,
        head_tokens=t.head_tokens,
    )
