"""Progress bars that honour tqdm's environment settings (``TQDM_DISABLE=1``, ...).

tqdm (>= 4.66) reads ``TQDM_<PARAMETER>`` environment variables as the defaults of its
parameters; a value passed explicitly beats them, so a bar created with ``disable=False``
ignores ``TQDM_DISABLE=1``. :func:`progress` passes ``disable=True`` only when the caller turned
the bar off and leaves it out otherwise. It is plain :class:`tqdm.tqdm`, not ``tqdm.auto``:
the latter warns "IProgress not found" when imported in a Jupyter kernel without ipywidgets,
and its text bar works in notebooks, terminals and log files alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from tqdm import tqdm

__all__ = ["progress"]


def progress(iterable: Iterable, show: bool = True, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``; ``show=False`` turns the bar off (``disable=True``).

    Args:
        iterable: what to iterate over.
        show: False: no bar whatever the environment says; True: a bar unless tqdm's
            environment settings (``TQDM_DISABLE``) turn it off.
        **kwargs: other tqdm parameters (``desc``, ``unit``, ``leave``); never ``disable``.
    """
    if not show:
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)
