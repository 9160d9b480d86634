"""Resolving a device string (``--device``) with errors a user can act on."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device, who: str = "device") -> torch.device:
    """Parse ``device`` and check that it exists on this machine.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or a :class:`torch.device`.
        who: prefix of error messages (e.g. ``"train: --device"``).

    Returns:
        The :class:`torch.device`.

    Raises:
        ValueError: an unparsable string, ``cuda`` without a CUDA device (CPU-only torch build
            or no GPU visible), or a CUDA index beyond the visible devices.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{who}: {device!r} is not a device (expected cpu, cuda, cuda:N)"
                         ) from error
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "CPU-only torch build" if torch.version.cuda is None else "none visible"
            raise ValueError(f"{who}: {device!r} asked for, but there is no CUDA device "
                             f"({build}, torch {torch.__version__}); use --device cpu")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{who}: {device!r} asked for, but only {count} CUDA device(s) "
                             f"are visible (cuda:0..cuda:{count - 1})")
    return parsed
