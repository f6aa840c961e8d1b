"""The model library: every family behind the uniform generator interface (base.py)."""
from gan_core.models.base import GeneratorBase, capture_layers, NOISE_MODES
