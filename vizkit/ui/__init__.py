"""ipywidgets panels, one per notebook: they call vizkit's functions and render PNGs."""

from .activations import ActivationsPanel

__all__ = ["ActivationsPanel"]
