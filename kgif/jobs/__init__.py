"""kgif.jobs: see docs/architecture.md."""
