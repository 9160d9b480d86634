"""kgif.explanation: see docs/architecture.md."""
