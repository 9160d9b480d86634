"""kgif: TracIn influence for knowledge-graph embeddings."""

__version__ = "0.1.0"
