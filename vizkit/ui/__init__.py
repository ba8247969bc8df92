"""ipywidgets panels, one per notebook: they call vizkit's functions and render PNGs."""

from .activations import ActivationsPanel
from .filters import FiltersPanel
from .training import TrainingReplayPanel

__all__ = ["ActivationsPanel", "FiltersPanel", "TrainingReplayPanel"]
