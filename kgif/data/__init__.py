"""kgif.data.datasets: see docs/architecture.md."""
