"""dnd_torch: train dnd's hyper-convolutional generator with PyTorch DDP on a `dnd export-training` folder."""

import warnings

# torch warns at import when numpy is absent; dnd_torch never needs numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

__version__ = "0.1.0"
