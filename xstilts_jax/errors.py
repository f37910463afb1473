"""Errors that reach a user as one line (the CLI prints them without a traceback)."""


class XstiltsError(Exception):
  """Base: a problem with the user's input, data or configuration."""


class DataError(XstiltsError):
  """A data file or row is malformed, missing or inconsistent."""


class ConfigError(XstiltsError):
  """A configuration key or value is wrong."""


class ModelError(XstiltsError):
  """A checkpoint cannot be loaded or does not match what was asked."""
