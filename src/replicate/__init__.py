"""replicate: executable, reproducible replications of five machine-learning papers."""
__version__ = "0.1.0"
