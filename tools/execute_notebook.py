"""Execute a jupytext notebook source and write the executed ``.ipynb`` beside it.

Usage: ``python tools/execute_notebook.py docs/notebooks/quickstart.py`` (needs jupytext,
nbclient and ipykernel, all in ``kgif[dev]``). The committed ``.ipynb`` must be this output;
``tests/test_notebook.py`` checks that and executes the source again.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import jupytext
import nbclient
import nbformat


def main(source: str) -> Path:
    path = Path(source)
    notebook = jupytext.read(path)
    with tempfile.TemporaryDirectory() as cwd:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": cwd}}).execute()
    target = path.with_suffix(".ipynb")
    nbformat.write(notebook, target)
    return target


if __name__ == "__main__":
    print(main(sys.argv[1]))
