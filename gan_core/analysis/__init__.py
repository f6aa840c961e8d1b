"""Inspection tools: band-limited image operators, equivariance metrics, power spectra.

* ``gan_core.analysis.transforms``   translate / rotate / untransform (Alias-Free GAN App. E)
* ``gan_core.analysis.equivariance`` EQ-T, EQ-T_frac, EQ-R (pooled PSNR) and per-sample maps
* ``gan_core.analysis.spectrum``     average power spectra, per-image log spectra, radial profiles
"""
from __future__ import annotations
