"""Atelier: teachable, tested ComfyUI lessons on a university's Slurm cluster.

The package is a library first: modules raise `AtelierError` and never print;
`atelier.cli` is the only place that talks to the terminal.
"""

__version__ = "0.1.0"
