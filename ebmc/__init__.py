"""ebmc: a compiler for energy-based models."""

from .errors import EbmcError

__all__ = ["EbmcError", "parse", "compile", "load"]
__version__ = "0.1.0"
