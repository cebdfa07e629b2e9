"""Which augmentations run, with what settings: the ``augment:`` parameter block, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)

from crl_pipelines.augment.base import AUGMENTATIONS
from crl_pipelines.parameters import ParameterError, Settings, parse


def _named(value: Any) -> Any:
    """An augmentation named without settings (``crop:`` or ``crop: {}``) runs with defaults."""
    return {} if value is None else value


class _AugmentBlock(Settings):
    @model_serializer(mode="wrap")
    def _named_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dump only the named augmentations: read back, a ``None`` would mean the defaults."""
        return {name: value for name, value in handler(self).items() if value is not None}


def augment_settings_model() -> type[Settings]:
    """The model of the ``augment:`` block built from the registry: one field per augmentation,
    ``None`` (the default) when it is not named; it dumps to what :meth:`AugmentConfig.from_params`
    reads back. It needs no channel count, so it cannot check colour against the images;
    :meth:`AugmentConfig.from_params` does."""
    fields: dict[str, Any] = {
        name: (Annotated[augmentation.Settings | None, BeforeValidator(_named)], None)
        for name, augmentation in AUGMENTATIONS.items()
    }
    return create_model("AugmentSettings", __base__=_AugmentBlock, **fields)


AugmentSettings = augment_settings_model()
"""The ``augment:`` block, for typed specifications that embed it."""


def default_params(channels: int) -> dict[str, dict[str, Any]]:
    """The policy used when no augmentations are configured, each with its default settings.

    SimCLR's list adapted to small images: crop (scale 0.6..1), brightness/contrast (0.6..1.4,
    p 0.8) and blur (σ 0.1..1 px, p 0.5) always; for 3-channel images also flip (p 0.5) and colour
    jitter (SimCLR's strength 1: saturation 0.2..1.8, hue ±0.2, p 0.8); otherwise (grayscale
    digits) rotation ±15° instead of flip, since a mirrored digit is not the same digit.
    """
    if channels == 3:
        names = ("crop", "flip", "brightness_contrast", "color_jitter", "blur")
    else:
        names = ("crop", "rotation", "brightness_contrast", "blur")
    return {name: {} for name in names}


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations run on ``channels`` channels: ``settings`` holds each enabled one's
    validated settings, in application (registry) order; ``channels`` counts the augmentable
    channels, not the protected (RandBits) ones."""

    channels: int = 1
    settings: Mapping[str, Settings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.channels, bool) or not isinstance(self.channels, int):
            raise ValueError(f"augment channels must be an int, got {self.channels!r}")
        if self.channels < 1:
            raise ValueError(f"augment channels must be at least 1, got {self.channels}")
        unknown = [name for name in self.settings if name not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; known: {list(AUGMENTATIONS)}")
        ordered = {name: self.settings[name] for name in AUGMENTATIONS if name in self.settings}
        object.__setattr__(self, "settings", ordered)
        for name, settings in ordered.items():
            _check_usable(name, settings, self.channels)

    @property
    def enabled(self) -> tuple[str, ...]:
        """The augmentations that run, in application order."""
        return tuple(self.settings)

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any] | BaseModel | None, channels: int
    ) -> AugmentConfig:
        """Build from ``{augmentation: {parameter: value}}`` (or an :data:`AugmentSettings`).

        An augmentation runs iff it is named; its unnamed parameters take the defaults (``{}`` or
        ``None`` as its value = all defaults). ``params=None`` means :func:`default_params`;
        ``params={}`` means no augmentation. ``channels``: image channels, protected ones excluded.
        Errors are :class:`~crl_pipelines.parameters.ParameterError` naming ``augment.<name>...``.
        """
        if params is None:
            params = default_params(channels)
        elif isinstance(params, BaseModel):
            params = params.model_dump()
        block = parse(augment_settings_model(), params, "augment")
        named = {name: getattr(block, name) for name in block.model_fields_set}
        return cls(channels=channels, settings=named)

    def to_params(self) -> dict[str, dict[str, Any]]:
        """The plain-data form (lists for ranges) that :meth:`from_params` reads back."""
        return {
            name: {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in settings.model_dump().items()
            }
            for name, settings in self.settings.items()
        }


def _check_usable(name: str, settings: Settings, channels: int) -> None:
    """``settings`` is the augmentation's model, and the images have the channels it needs."""
    augmentation = AUGMENTATIONS[name]
    if not isinstance(settings, augmentation.Settings):
        raise ValueError(
            f"augmentation {name!r} needs a {augmentation.Settings.__name__}, got {settings!r}"
        )
    if augmentation.channels not in (None, channels):
        raise ParameterError(
            f"parameter `augment.{name}` needs {augmentation.channels}-channel images, but these "
            f"have {channels} channel(s); remove {name!r} from `augment`"
        )
