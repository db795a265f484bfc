"""Progress bars on what a person waits for, as Keras draws them: animated on a terminal, and on a
file or a pipe one plain line when the work is done (no carriage returns or ANSI codes in logs)."""

from __future__ import annotations

import sys


def verbose() -> int:
    """Keras' `verbose` for fit/predict/Progbar: 1 (animated) on a terminal, 2 (a line at the end) elsewhere."""
    return 1 if sys.stdout.isatty() else 2


def bar(total: int, unit: str = "text"):
    import keras

    return keras.utils.Progbar(total, unit_name=unit, verbose=verbose())
