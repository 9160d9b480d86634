"""kgif.influence: see docs/architecture.md."""
