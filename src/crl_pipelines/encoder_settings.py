"""What an encoder is made of, as settings (no torch here, so the parameter checks and the scores
that name the stages do not load it): the model a researcher chooses (:class:`ModelSettings`,
``model`` in the parameters), the config that rebuilds a trained encoder (:class:`EncoderConfig`),
and the names of the backbone's stages (:data:`STAGES`). The encoders are in
:mod:`crl_pipelines.models`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from crl_pipelines.parameters import NonNegativeInt, Number, PositiveInt, Settings

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")  # every stage name any backbone has
HeadLayers = Annotated[int, Strict(), Field(ge=1, le=4)]


class ModelSettings(Settings):
    """The encoder a researcher chooses (``model`` in the parameters, or an experiment's own)."""

    arch: Literal["resnet18", "small_cnn"] = "resnet18"
    stem: Literal["guide", "small"] = "small"
    embedding_dim: PositiveInt = 32
    head_layers: HeadLayers = 1
    representation: Literal["projector", "backbone", "all_heads"] = "projector"


class EncoderConfig(ModelSettings):
    """Everything that rebuilds an encoder: the chosen model, plus what the data and the loss
    decide (input channels and statistics, LOOC's extra heads), and the lineage of the trained
    weights. Saved beside the weights."""

    extra_heads: NonNegativeInt = 0
    lineage: dict[str, str] = Field(default_factory=dict)  # what it was made from
    # which epoch's weights these are: keep (last | best), kept_epoch, epochs, best_epoch
    training: dict[str, str | int] = Field(default_factory=dict)
    in_channels: PositiveInt = 1
    input_mean: tuple[Number, ...] = (0.5,)
    input_std: tuple[Number, ...] = (0.5,)

    @model_validator(mode="after")
    def _one_statistic_per_channel(self) -> EncoderConfig:
        for key in ("input_mean", "input_std"):
            if len(getattr(self, key)) != self.in_channels:
                raise ValueError(
                    f"model.{key} needs {self.in_channels} values (one per channel), "
                    f"got {list(getattr(self, key))}"
                )
        return self
