"""Keep TensorFlow out of processes that do not use it.

Keras imports TensorFlow whenever it is installed, even on the torch or jax backend: seeding
(`keras.utils.set_random_seed`) and saving (`model.save`) check `tf.available`, which imports
it: seconds of start-up and a second framework's CUDA libraries in a torch process. keras-hub
installs TensorFlow as a dependency, so it usually is installed.

`hide()` marks Keras' lazy TensorFlow module as unavailable unless TensorFlow is the backend or
already imported; `release()` undoes that, for the tfds data source, which needs TensorFlow.
"""
from __future__ import annotations

import sys


def _lazy_tf():
    try:
        from keras.src.utils import module_utils  # Keras' own lazy module, not public API
    except ImportError:
        return None
    return getattr(module_utils, "tensorflow", None)


def hide() -> None:
    import keras

    lazy = _lazy_tf()
    if lazy is None or keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        return
    if getattr(lazy, "_available", None) is None:
        lazy._available = False


def release() -> None:
    lazy = _lazy_tf()
    if lazy is not None and getattr(lazy, "_available", None) is False and lazy.module is None:
        lazy._available = None
