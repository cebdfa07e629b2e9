"""Where training and embedding run: ``auto`` is CUDA when present, else the CPU.

Its own module, so the stages that only embed do not depend on the training code. torch is
imported where a device is made, not with the module: the settings that name a device
(``training.device``, ``embed.device``) load without it.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from crl_pipelines.errors import UserError

if TYPE_CHECKING:
    import torch


def _device_name(name: str) -> str:
    """``auto``, or a device string torch understands (``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    if name != "auto":
        import torch

        try:
            torch.device(name)
        except RuntimeError:
            raise ValueError(
                "should be 'auto' or a torch device such as 'cpu' or 'cuda:0'"
            ) from None
    return name


class DeviceError(UserError, ValueError):
    """The device a setting names is not on this machine."""


DeviceName = Annotated[str, AfterValidator(_device_name)]
"""The type of a ``device`` parameter."""


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else the CPU; anything else is passed to torch."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a torch device: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} is set (training.device or embed.device), but torch "
            f"{torch.__version__} sees no CUDA device on {socket.gethostname()}; set it to "
            "'auto' (CUDA where there is one, else the CPU) or 'cpu'"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise DeviceError(
            f"device {name!r} is set, but this machine has {torch.cuda.device_count()} CUDA "
            "device(s); use 'cuda' or 'auto'"
        )
    return device


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether to run the forward pass under bf16 autocast."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")
