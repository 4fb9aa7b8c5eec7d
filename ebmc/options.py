"""The rules of the trainers' settings, in one table that the compiler and the generated code share.

`train cd(lr=0.05, ...)` in a model file and `fit(lr=...)` in a generated module are checked by
the same function, `_check_option`, with the same rule: the numpy backend copies the function's
source and the rules of the model's trainer into the module, and the compiler calls it on the
`train` statement. A setting the model file refuses, `fit` refuses in the same words.

A rule is `(whole, low, low_inclusive, high)`: a whole number or any finite number, at least
`low` (or above it), and below `high` when `high` is not None.
"""

from __future__ import annotations

import numpy as np

RULES = {
    "k": (True, 1, True, None),
    "batch": (True, 1, True, None),
    "epochs": (True, 1, True, None),
    "lr": (False, 0.0, False, None),
    "momentum": (False, 0.0, True, 1.0),
    "weight_decay": (False, 0.0, True, None),
    "beta1": (False, 0.0, True, 1.0),
    "beta2": (False, 0.0, True, 1.0),
    "eps": (False, 0.0, False, None),
    "patience": (True, 0, True, None),
    "nesterov": (True, 0, True, 2),  # 0 or 1 in a model file; fit takes False and True too
}


def rules_for(keys) -> dict:
    """key -> rule for the keys that have one (a plugin's own keys may have none)."""
    return {key: RULES[key] for key in keys if key in RULES}


def _check_option(name, value, rule):
    """value checked against rule (whole, low, low_inclusive, high); returns it as an int or a float.

    Raises TypeError for something that is not a number and ValueError for a number out of range,
    both naming the setting.
    """
    whole, low, low_inclusive, high = rule
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    shown = repr(value.item() if isinstance(value, np.generic) else value)
    shown = shown if len(shown) <= 30 else shown[:12] + "..." + shown[-6:]
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        number = float("inf")
    if whole:
        words = f"a whole number of at least {low}" if low_inclusive else f"a whole number above {low}"
    else:
        words = f"a number of at least {low:g}" if low_inclusive else f"a number greater than {low:g}"
    if high is not None:
        words += f" and less than {high:g}"
    if not np.isfinite(number):
        raise ValueError(f"{name} must be {words}, got {shown}, which is not a finite number")
    fits = number >= low if low_inclusive else number > low
    if not fits or (high is not None and not number < high):
        raise ValueError(f"{name} must be {words}, got {shown}")
    if whole and not number.is_integer():
        raise ValueError(f"{name} must be {words}, got {shown} (a fraction is not rounded)")
    return int(number) if whole else number
