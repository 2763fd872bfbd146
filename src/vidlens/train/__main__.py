"""``python -m vidlens.train``: the ``vidlens train`` command on its own."""

from .cli import train_command

train_command()
