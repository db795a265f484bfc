"""kerasclf: text classification with Keras 3, from one YAML config to a run folder.

    import kerasclf
    cfg = kerasclf.load_config("configs/imdb_cnn.yaml")
    data = kerasclf.load_data(cfg)
    model = kerasclf.build_model(cfg, data)
    model.fit(data.train, validation_data=data.validation, epochs=cfg.train.epochs)

Keras runs on PyTorch unless KERAS_BACKEND says otherwise.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

from kerasclf import device, tf_guard  # noqa: E402

device.reuse_cpu_memory()  # glibc's settings, before the first large block
device.flush_denormals()  # before torch starts its threads
device.choose_for_torchrun()  # before Keras picks its device
device.jax_compilation_cache()  # before jax reads its configuration

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own logging, once it reads it
if os.environ["KERAS_BACKEND"] == "tensorflow" and "tensorflow" not in sys.modules:
    tf_guard.import_tensorflow()  # before Keras imports it: its start-up lines hidden
tf_guard.hide()

from kerasclf.config import Config, load_config  # noqa: E402
from kerasclf.data.load import Data, load_data  # noqa: E402
from kerasclf.errors import UserError  # noqa: E402
from kerasclf.models.build import build_model  # noqa: E402
from kerasclf.run import Run, TextModel, load_run, text_model  # noqa: E402

__all__ = [
    "Config",
    "Data",
    "Run",
    "TextModel",
    "UserError",
    "build_model",
    "load_config",
    "load_data",
    "load_run",
    "text_model",
]
__version__ = "0.2.0"
