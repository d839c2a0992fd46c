"""The data package: `load_data(cfg)` (load.py) gives a run its splits and image spec from IDX files
(idx.py), torchvision arrays or a folder of the user's images (folder.py), as `ImageSplit`s that
batch in a seeded order (split.py)."""
from .idx import CLASS_NAMES, load_split, read_idx, resolve_data_dir
from .load import Data, load_data, load_whole_train, validation_size
from .split import DataError, ImageSpec, ImageSplit, epoch_batches, shuffled_batches

__all__ = ["Data", "DataError", "ImageSpec", "ImageSplit", "load_data", "load_whole_train", "validation_size",
           "load_split", "read_idx", "resolve_data_dir", "shuffled_batches", "epoch_batches", "CLASS_NAMES"]
