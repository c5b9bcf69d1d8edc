"""The one training engine used by every stage (DASH search and retrain, ASHA trials, AutoFT, compare,
pretrain): per-run generators (:mod:`.rng`), the lr schedule family (:mod:`.schedule`), the epoch loop
and evaluation (:mod:`.loop`), training precision (:mod:`.precision`; with the conv path, a run option of every
command's config: :mod:`.numerics`),
multi-epoch fitting with validation selection (:mod:`.fit`) and exact-resume
checkpoints (:mod:`.checkpoint`).
"""
from .checkpoint import load_run, read_run, save_run
from .fit import FitResult, fit, task_validator
from .optim import sgd
from .precision import PRECISIONS
from .loop import (IGNORE_INDEX, OnDevice, Run, device_of, epoch_batches, evaluate, mean_iou, plain_loss, predict,
                   relative_l2, steps_per_epoch, task_loss, train_epoch, val_score)
from .rng import RunRNG, bind_noise, derive_seed, global_rng_lock, seeded_init
from .schedule import CONSTANT, Schedule, cosine

__all__ = ["CONSTANT", "IGNORE_INDEX", "PRECISIONS", "FitResult", "OnDevice", "Run", "RunRNG", "Schedule", "bind_noise",
           "cosine", "derive_seed",
           "device_of", "epoch_batches", "evaluate", "fit", "global_rng_lock", "load_run", "mean_iou", "plain_loss",
           "predict", "read_run", "relative_l2", "save_run",
           "seeded_init", "sgd", "steps_per_epoch", "task_loss", "task_validator", "train_epoch", "val_score"]
