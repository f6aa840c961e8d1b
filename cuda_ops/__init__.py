"""Low-level GAN ops: upfirdn2d, bias_act, filtered_lrelu and low-pass filter design.

Each op has a plain-PyTorch reference (the definition, any device, differentiable to any
order) and dispatches on ``impl='auto'|'ref'|'cuda'``; see ``cuda_ops._dispatch``.
This package imports only torch and numpy.
"""
from cuda_ops.bias_act import ACTIVATIONS, activation_gain, bias_act, bias_act_ref
from cuda_ops.filter_design import design_lowpass_filter
from cuda_ops.filtered_lrelu import filtered_lrelu, filtered_lrelu_ref
from cuda_ops.upfirdn2d import (downsample2d, filter2d, filter_size, parse_padding, parse_scaling,
                                setup_filter, upfirdn2d, upfirdn2d_direct, upfirdn2d_ref, upsample2d)

__all__ = [
    "ACTIVATIONS", "activation_gain", "bias_act", "bias_act_ref", "design_lowpass_filter",
    "filtered_lrelu", "filtered_lrelu_ref", "downsample2d", "filter2d", "filter_size",
    "parse_padding", "parse_scaling", "setup_filter", "upfirdn2d", "upfirdn2d_direct",
    "upfirdn2d_ref", "upsample2d",
]
