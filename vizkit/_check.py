"""Argument checks shared by the package: a bad value gets a ValueError / TypeError naming the argument, what
it got, what was expected and, where there is one, the fix — never a traceback from deep inside torch or numpy.
(Checks that need a net, a layer or a class live beside them: nets.check_net, hooks.resolve,
hooks.resolve_layers, hooks.resolve_target.)"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence, Sized

import numpy as np
import torch


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """value as an int in [low, high]; bools, floats (even 3.0) and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be an integer in {_interval(low, high)}; got {v}")
    return v


def number(value, name: str, low: float | None = None, high: float | None = None,
           open_low: bool = False, open_high: bool = False) -> float:
    """value as a finite float in the interval (closed unless open_low / open_high); bools refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (low is not None and (v < low or (open_low and v == low)))
    bad = bad or (high is not None and (v > high or (open_high and v == high)))
    if bad:
        span = _interval(low, high, open_low, open_high)
        raise ValueError(f"{name} must be a finite number in {span}; got {value!r}")
    return v


def pair(value, name: str, low: int = 1) -> tuple[int, int]:
    """An int, or an (h, w) pair of ints (list, tuple, array, tensor), each >= low -> (h, w)."""
    if hasattr(value, "tolist") and not isinstance(value, (int, np.integer)):  # arrays and tensors
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or an (h, w) pair of integers; got {value!r}")
        h, w = (integer(v, f"{name}[{i}]", low) for i, v in enumerate(value))
        return h, w
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer or an (h, w) pair of integers; got {value!r} "
                        f"({type(value).__name__})")
    v = integer(value, name, low)
    return v, v


def length(obj: object) -> int | None:
    """len(obj), or None where obj has none (no __len__, or one that raises TypeError)."""
    if isinstance(obj, Sized):
        with contextlib.suppress(TypeError):
            return len(obj)
    return None


def choice(value, name: str, options: Sequence):
    """value if it is one of options (compared with ==), else a ValueError listing them."""
    try:
        ok = any(value == o and type(value) is type(o) or value is o for o in options)
    except (TypeError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def layer_list(layers, name: str = "layers") -> list[str]:
    """A layer name or a non-empty list / tuple of them -> list of str."""
    if isinstance(layers, str):
        return [layers]
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError(f"{name} must be a layer name (str) or a non-empty list of them; got {layers!r}")
    bad = [v for v in layers if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{name} must hold layer names (str); got {bad[0]!r} ({type(bad[0]).__name__})")
    return list(layers)


def finite(x: torch.Tensor, what: str) -> torch.Tensor:
    """x if it holds no NaN or infinite value."""
    if x.is_floating_point() and x.numel():
        low, high = torch.aminmax(x)   # a NaN or an infinity reaches an extreme: one pass, no mask (12x faster)
        if not bool(torch.isfinite(low) & torch.isfinite(high)):
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"{what} contains {bad} NaN or infinite value(s)")
    return x


def pixels(x: torch.Tensor, what: str, tolerance: float = 1e-5) -> torch.Tensor:
    """x if it is a floating-point tensor of finite pixel values in [0, 1] (the dataset convention)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a tensor of [0, 1] pixels; got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{what} must be floating-point pixels in [0, 1]; got dtype {x.dtype} "
                         f"(for uint8 images in 0..255 use x.float() / 255)")
    finite(x, what)
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -tolerance or hi > 1 + tolerance:
            hint = " (it looks like 0..255: divide by 255)" if hi > 1.5 and lo >= 0 else \
                " (it looks normalised: give raw [0, 1] pixels)" if lo < 0 else ""
            raise ValueError(f"{what} must hold pixels in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]{hint}")
    return x


def shown(value: object) -> str:
    """A value as an error message names it: short ones in full, others by their type."""
    if value is None or isinstance(value, (bool, int, float, str)) and len(repr(value)) <= 60:
        return f"{value!r} ({type(value).__name__})"
    return f"a {type(value).__name__}"


def _interval(low, high, open_low=False, open_high=False) -> str:
    left = "(" if open_low or low is None else "["
    right = ")" if open_high or high is None else "]"
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
