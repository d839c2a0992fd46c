from .callback import EvolutionAssets, assets_folder
from .projection import project

__all__ = ["EvolutionAssets", "assets_folder", "project"]
