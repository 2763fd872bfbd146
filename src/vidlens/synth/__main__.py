"""``python -m vidlens.synth``: the ``vidlens synth`` command on its own."""

from .cli import synth_command

synth_command()
