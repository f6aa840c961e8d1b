"""Training StyleGAN2 and StyleGAN3 (T/R) — and, through the same loop and run directory,
StyleGAN1 (progressive growing) and BigGAN / BigGAN-deep (``families.py``): options, losses,
augmentation, the loop and its run directory. ``train(TrainOptions(...))`` runs a session;
``ganscope train`` is its command line."""
from gan_core.train.options import CONFIGS, OptionError, TrainOptions
from gan_core.train.loop import train
from gan_core.train.trainer import Trainer

__all__ = ["CONFIGS", "OptionError", "TrainOptions", "train", "Trainer"]
