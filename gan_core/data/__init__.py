"""Training data: readers for image folders, zip archives and LMDB, the dataset tool that writes
clean zips, and a procedural dataset generator (see each module)."""
from gan_core.data.dataset import ImageDataset, open_dataset
from gan_core.data.images import BrokenImageError, decode_image, transform_image
from gan_core.data.procedural import ProceduralDataset, render_image, write_procedural_zip
from gan_core.data.sources import DatasetError, open_source
from gan_core.data.writer import ConvertReport, DatasetZipWriter, convert_dataset

__all__ = ["ImageDataset", "open_dataset", "BrokenImageError", "decode_image", "transform_image",
           "ProceduralDataset", "render_image", "write_procedural_zip", "DatasetError", "open_source",
           "ConvertReport", "DatasetZipWriter", "convert_dataset"]
