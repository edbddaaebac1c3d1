"""Training on the emulated hardware (``pimjax train``).

* :func:`train` / :class:`TrainConfig`: the training loop (progress, metrics, checkpoints,
  exact resume) over a :class:`Task`.
* Tasks (:func:`make_task`): what data a model sees and how its loss and metrics are formed.
"""

from pimjax.apps.train._config import EVENTS, OPTIMIZERS, RUNTIME_FIELDS, TrainConfig, hardware_label, run_config
from pimjax.apps.train._loop import Prepared, evaluate, load_resident, make_steps, prepare, train, update_events
from pimjax.apps.train._tasks import (CNN_NAMES, TRANSFORMER_NAMES, TRANSLATOR_NAMES, ClassificationTask, SequenceTask,
                                      Task, TranslationTask, make_task)

__all__ = ["CNN_NAMES", "EVENTS", "OPTIMIZERS", "RUNTIME_FIELDS", "TRANSLATOR_NAMES", "ClassificationTask", "Prepared",
           "SequenceTask", "TRANSFORMER_NAMES", "Task", "TrainConfig", "TranslationTask", "evaluate", "hardware_label", "load_resident", "make_steps",
           "make_task", "prepare", "run_config", "train", "update_events"]
