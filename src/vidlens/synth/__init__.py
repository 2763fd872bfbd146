"""A synthetic video world with exact ground truth (objects, actions, times) for training and
measuring vidlens models: :mod:`.world` samples scenes, :mod:`.render` draws and encodes them,
:mod:`.annotations` writes captions and labels in the community's formats."""

from __future__ import annotations
