"""gonogo: a terminal console for go/no-go decisions on progressive rollouts."""

__version__ = "0.1.0"
