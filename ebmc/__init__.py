"""ebmc: a compiler for energy-based models."""

from .api import compile, load
from .errors import EbmcError
from .frontend.check import parse

__all__ = ["EbmcError", "parse", "compile", "load"]
__version__ = "0.1.0"
