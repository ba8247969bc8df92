"""ipywidgets panels, one per notebook: they call vizkit's functions and render PNGs."""

from .activations import ActivationsPanel
from .adversarial import AdversarialPanel
from .dream import DeepDreamPanel
from .embedding import EmbeddingPanel
from .filters import FiltersPanel
from .neighbours import NeighboursPanel
from .optimize import ClassModelPanel, FilterPanel, InversionPanel
from .patches import FieldPanel, PatchesPanel
from .projections import ProjectionPanel, TopProjectionsPanel
from .saliency import OcclusionPanel, SaliencyPanel
from .style import StylePanel, TexturePanel
from .training import TrainingReplayPanel

__all__ = ["ActivationsPanel", "TrainingReplayPanel", "FiltersPanel", "NeighboursPanel", "EmbeddingPanel",
           "FieldPanel", "PatchesPanel", "ProjectionPanel", "TopProjectionsPanel", "OcclusionPanel", "SaliencyPanel",
           "InversionPanel", "FilterPanel", "ClassModelPanel", "AdversarialPanel", "DeepDreamPanel", "TexturePanel",
           "StylePanel"]
