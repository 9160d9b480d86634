"""kgif.studies: see docs/architecture.md."""
