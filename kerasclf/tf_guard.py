"""Keep TensorFlow out of processes that do not use it.

Keras imports TensorFlow whenever it is installed, even on the torch or jax backend: seeding
(`keras.utils.set_random_seed`) and saving (`model.save`) check `tf.available`, which imports
it: seconds of start-up and a second framework's CUDA libraries in a torch process. keras-hub
installs TensorFlow as a dependency, so it usually is installed.

`hide()` marks Keras' lazy TensorFlow module as unavailable unless TensorFlow is the backend or
already imported; `release()` undoes that, for the tfds data source, which needs TensorFlow. Both go
through `backend_fast.keras_tensorflow_hidden`, since the lazy module is Keras' private API.
"""

from __future__ import annotations

import contextlib
import os
import sys

from kerasclf import backend_fast

# TensorFlow's start-up lines (no CUDA driver found, cuInit failed, oneDNN notes) are written by its
# C++ logging to the process's stderr before TF_CPP_MIN_LOG_LEVEL is read; they are hidden unless
# the user asks for all of TensorFlow's lines (TF_CPP_MIN_LOG_LEVEL=0). Other values do not count:
# kerasclf sets 2 and jax, on import, 1, and child processes inherit either.
USER_WANTS_TF_LOGS = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


def hide() -> None:
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        return
    backend_fast.keras_tensorflow_hidden(True)


def release() -> None:
    backend_fast.keras_tensorflow_hidden(False)


class _Blocker:
    """An import hook that makes `import tensorflow` (and tensorflow_text) fail, as if not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "tensorflow_text"):
            raise ImportError(f"{name} is kept out of this process by kerasclf.tf_guard")
        return None


@contextlib.contextmanager
def blocked():
    """Inside the block TensorFlow cannot be imported (unless it already is, or is the backend).

    keras-hub imports TensorFlow at import time and when it resolves a preset path, only to
    offer tf.data and gfile helpers that kerasclf does not use: importing and loading keras-hub
    models in this block keeps a torch process free of it."""
    import keras

    if "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow":
        yield
        return
    hook = _Blocker()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)


@contextlib.contextmanager
def quiet_stderr():
    """Send the process's stderr (file descriptor 2, where C++ logs go) to /dev/null inside the
    block, unless the user asked for TensorFlow's logs. Python exceptions still propagate."""
    if USER_WANTS_TF_LOGS:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_tensorflow():
    """Import TensorFlow and let it look for GPUs (where its start-up lines come from), quietly."""
    with quiet_stderr():
        import tensorflow as tf

        with contextlib.suppress(Exception):  # a broken CUDA set-up is TensorFlow's to report later
            tf.config.list_physical_devices("GPU")
    return tf
