"""The names of a model's inputs: what data/ produces, models/ consumes and features.py caches.

An input named `review` gives the model one or two arrays:

    review            token ids, int32 (texts, length)           every input
    review__segments  segment ids, int32 (texts, length)         a pretrained input (0: first text, 1: second)

and a model with pretrained inputs has a sub-model `core` that reads, instead of the backbone's
ids, `review__features`: the backbone's feature vector (float32 (texts, hidden)), which
features.py caches for frozen backbones.
"""

from __future__ import annotations

COMPANION = "__"  # joins an input's name and the name of a second array of the same input
SEGMENTS = COMPANION + "segments"
FEATURES = COMPANION + "features"


def segments(name: str) -> str:
    """The key of input `name`'s segment ids."""
    return name + SEGMENTS


def features(name: str) -> str:
    """The key of input `name`'s backbone features (the `core` sub-model's input)."""
    return name + FEATURES


def base(key: str) -> str:
    """The input a key belongs to: `review__segments` -> `review`."""
    return key.split(COMPANION)[0]


def is_companion(key: str) -> bool:
    """Whether `key` is a second array of an input (segments, features) rather than its token ids."""
    return COMPANION in key
