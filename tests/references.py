"""Plain numpy references that more than one test compares a layer against."""

import numpy as np


def reference_rotary(x, positions, max_wavelength):
    """Rotary embedding of `x [B, T, N, Dh]` at `positions [B, T]`, rotating the two halves of each head."""
    half = x.shape[-1] // 2
    inverse_frequency = max_wavelength ** (-np.arange(half) / half)
    angles = positions[..., None, None].astype(np.float64) * inverse_frequency  # [B, T, 1, Dh/2]
    first, second = x[..., :half], x[..., half:]
    return np.concatenate(
        [
            first * np.cos(angles) - second * np.sin(angles),
            second * np.cos(angles) + first * np.sin(angles),
        ],
        axis=-1,
    )
