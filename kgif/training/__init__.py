"""kgif.training: see docs/architecture.md."""
