"""kgif.model.conve: see docs/architecture.md."""
