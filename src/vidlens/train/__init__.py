"""Video-text training: contrastive fine-tuning of open_clip models on clips and captions
(frame encoder + mean / temporal-transformer pooling), used to build ``vidlens-tiny``."""

from __future__ import annotations
