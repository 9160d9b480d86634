"""kgif.evaluation: see docs/architecture.md."""
