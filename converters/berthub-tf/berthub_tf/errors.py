"""Errors of the TF converter: berthub's own error types, narrowed so callers can tell them apart."""

from berthub.errors import BerthubError, ConfigError, NotFoundError, WeightsError


class MissingFileError(NotFoundError):
    """A checkpoint, config or vocabulary file that conversion needs does not exist or is incomplete."""


class CheckpointFormatError(WeightsError):
    """A checkpoint file is corrupt, or uses a feature or dtype the chosen reader does not support."""


class UnsupportedFeatureError(CheckpointFormatError):
    """The checkpoint is valid but uses something the TensorFlow-free reader does not decode."""


class UnknownVariablesError(WeightsError):
    """The checkpoint holds variables that map to nothing in berthub; the message lists every one."""


class ShapeMismatchError(ConfigError):
    """bert_config.json disagrees with the shapes or the presence of the checkpoint's variables."""


class OutputExistsError(BerthubError, FileExistsError):
    """The output path is taken; nothing was written."""


class TensorFlowMissingError(BerthubError):
    """An operation needs TensorFlow and it is not installed."""


__all__ = [
    "CheckpointFormatError",
    "MissingFileError",
    "OutputExistsError",
    "ShapeMismatchError",
    "TensorFlowMissingError",
    "UnknownVariablesError",
    "UnsupportedFeatureError",
]
