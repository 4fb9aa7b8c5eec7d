"""What every generated model shares, as real code: the numpy backend copies these classes into
each module it writes, so they are linted and tested here and read there.

`_Model` is what every kind of model shares, written once: construction, params and their inits,
argument checks, batching, save and load. `_EnergyModel` adds what energy models share (unit types,
conditions, masks, exact log Z, AIS); `_Network` (network_base.py) what networks share. The classes
read only the tables a model class defines (`variables`, `param_dims`, `param_inits`, `param_attrs`,
`option_rules`, and `unit_types` for energy models) and the model's own methods (`_free_energy`,
`_grad_sums`, ...). They hold no name of any model: the model's names are dict keys here, never Python
names. Every check runs before any state changes, and raises TypeError (a value of the wrong kind) or
ValueError (a wrong value) that names the argument.

`_check_option` (ebmc/options.py) and `_check_memory` are copied beside them into every module.
"""

from __future__ import annotations

import os

import numpy as np

from ...options import _check_option


def _check_memory(name, size, what):
    """ValueError naming the argument when `size` bytes of arrays are more than the machine's memory."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): 2**48 bytes is beyond any machine
        memory = 2**48
    if size > memory:
        raise ValueError(f"{name}: {what} take {size:.3g} bytes, more than this machine's memory ({memory:.3g})")


class _Model:
    """The parts every model shares: construction, params, checks, batching, save and load."""

    def __init__(self, *, seed=None, dtype="float64", **dims):
        """A model with freshly initialised params.

        seed: None, a whole number >= 0 or a numpy Generator, for numpy's default_rng (initial
        params, sampling, shuffling): the same seed and the same calls give the same numbers.
        dtype: 'float32' or 'float64'.
        dims: sizes overriding the file's `dim` values (whole numbers >= 1).
        """
        sizes = self._check_dims(dims)
        try:
            kind = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
        if kind not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if isinstance(seed, (bool, np.bool_)) or not (
            seed is None or isinstance(seed, (int, np.integer, np.random.Generator, np.random.SeedSequence))
        ):
            raise TypeError(f"seed must be None, a whole number or a numpy Generator, got {type(seed).__name__}")
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"seed must be at least 0, got {seed}")
        entries = sum(
            int(np.prod([sizes[d] if isinstance(d, str) else d for d in s])) for s in self.param_dims.values()
        )
        _check_memory("dims", entries * kind.itemsize, "params")
        self.dims = sizes
        self.dtype = kind
        self.rng = np.random.default_rng(seed)
        self.params = {name: self._initial(name) for name in self.param_dims}

    def _check_dims(self, dims):
        """The file's dims with the given ones in their place, each a whole number >= 1."""
        unknown = sorted(set(dims) - set(self.dim_defaults))
        if unknown:
            raise TypeError(f"unknown dims {unknown}; this model has {sorted(self.dim_defaults)}")
        sizes = dict(self.dim_defaults)
        for key, value in dims.items():
            sizes[key] = _check_option(key, value, (True, 1, True, None))
        return sizes

    # ------------------------------------------------------------ params
    def _initial(self, name):
        """The initial value of param `name`, by its init (param_inits) and attributes (param_attrs)."""
        kind, *args = self.param_inits[name]
        shape = self._shape(self.param_dims[name])
        values = np.asarray(getattr(self, "_init_" + kind)(shape, *args), dtype=np.float64)
        if "symmetric" in self.param_attrs[name]:
            values = self._symmetric(values)
        if "zero_diagonal" in self.param_attrs[name]:
            np.fill_diagonal(values, 0.0)
        return self._fits_dtype(f"param {name}", values)

    def _fits_dtype(self, what, values):
        """values (float64) in the model's dtype; ValueError where they do not fit in it."""
        top = np.finfo(self.dtype).max
        if values.size and not np.all(np.abs(values) <= top):
            largest = float(np.max(np.abs(values)))
            raise ValueError(
                f"{what}: values up to {largest:g} do not fit in {self.dtype} (at most {top:g}); "
                "choose a smaller init or dtype='float64'"
            )
        return values.astype(self.dtype)

    @staticmethod
    def _init_const(shape, value):
        return np.full(shape, value)

    def _init_normal(self, shape, mean, std):
        return self.rng.normal(mean, std, size=shape)

    def _init_uniform(self, shape, low, high):
        return self.rng.uniform(low, high, size=shape)

    def _init_glorot(self, shape):
        """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
        fan_in, fan_out = (shape[0], shape[-1]) if shape else (1, 1)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return self.rng.uniform(-limit, limit, size=shape)

    def _init_he(self, shape):
        """Normal with std sqrt(2 / fan_in) (He et al., 2015)."""
        fan_in = shape[0] if shape else 1
        return self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)

    @staticmethod
    def _symmetric(w):
        """(w + w.T) / 2: the nearest symmetric matrix."""
        return 0.5 * (w + w.T)

    def _shape(self, dims):
        """A declared shape with its dim names replaced by their sizes."""
        return tuple(self.dims[d] if isinstance(d, str) else d for d in dims)

    # ------------------------------------------------------------ arguments
    def _array(self, name, value):
        """value as an ndarray of the model's dtype; TypeError when it does not hold numbers."""
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected an array of numbers, got {type(value).__name__} ({exc})") from None
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected an array of numbers, got an array of {array.dtype}")
        return array.astype(self.dtype, copy=False)

    def _batches(self, arrays, check_values=True):
        """The arrays as batches (axis 0 = sample), checked, and whether they were single samples.

        An array with the declared shape is one sample; with one more leading axis, a batch.
        Every array of one call must be the same: single samples, or batches of the same size.
        """
        out, single, size = [], None, None
        for name, value in arrays.items():
            x = self._array(name, value)
            shape = self._shape(self.variables[name][1])
            if x.shape == shape:
                is_single, x = True, x[None]
            elif x.shape[1:] == shape:
                is_single = False
            else:
                raise ValueError(f"{name}: expected shape {shape} (one sample) or (rows, *{shape}), got {x.shape}")
            if single is not None and is_single != single:
                raise ValueError(f"{name}: pass either single samples or batches to one call, not both")
            if size is not None and x.shape[0] != size:
                raise ValueError(f"{name}: {x.shape[0]} rows, but the other arrays have {size}")
            if check_values:
                self._check_values(name, x)
            out.append(x)
            single, size = is_single, x.shape[0]
        return out, single

    def _check_finite(self, name, x, where=None):
        """ValueError naming `name` unless the entries of x (those where `where` is True) are finite
        numbers; returns those entries."""
        values = x if where is None else x[where]
        finite = np.isfinite(values)
        if not finite.all():
            place = self._place(x, where, ~finite)
            raise ValueError(f"{name}: every value must be a finite number; found {values[~finite][0]} at {place}")
        return values

    @staticmethod
    def _place(x, where, bad):
        """Where the first True of `bad` (over x, or over x[where]) lies in x: 'row 0, column 3'."""
        index = np.argwhere(bad)[0] if where is None else np.argwhere(where)[np.argmax(bad)]
        if len(index) == 1:
            return f"row {index[0]}"
        if len(index) == 2:
            return f"row {index[0]}, column {index[1]}"
        return f"row {index[0]}, entry {tuple(int(i) for i in index[1:])}"

    @staticmethod
    def _unbatch(result, single):
        """Drop the batch axis again when the caller passed single samples (in every value of a dict)."""
        if not single:
            return result
        if isinstance(result, dict):
            return {name: value[0] for name, value in result.items()}
        return result[0]

    def _call(self, method, /, **arrays):
        """method(*batches) on the checked keyword arrays, unbatched as they came."""
        batches, single = self._batches(arrays)
        return self._unbatch(method(*batches), single)

    def _named(self, value, names, what, words):
        """value as dict name -> array for the model's `names` (its `words`, e.g. "visible groups"):
        a dict with exactly those keys, or an array where there is one name."""
        if not isinstance(value, dict):
            if len(names) == 1:
                return {names[0]: value}
            listing = ", ".join(names)
            raise TypeError(f"{what}: this model has {len(names)} {words} ({listing}); pass a dict name -> array")
        missing = [name for name in names if name not in value]
        unknown = sorted(str(key) for key in value if key not in names)
        if missing or unknown:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else []
            )
            raise ValueError(f"{what}: the keys must be the {words} {', '.join(names)}; {'; '.join(parts)}")
        return {name: value[name] for name in names}

    def _mean_gradient(self, **arrays):
        """dict param -> mean over the samples of the gradient of the energy or loss (from the batch
        sums of _grad_sums)."""
        batches, _ = self._batches(arrays)
        count = batches[0].shape[0]
        if count == 0:
            raise ValueError(f"{next(iter(arrays))}: no rows: the mean gradient of no samples is undefined")
        return {name: np.asarray(total / count, dtype=self.dtype) for name, total in self._grad_sums(*batches).items()}

    def _check_training(self, before, metrics, epoch, lr):
        """After an epoch of fit: where a param or a metric is no longer a finite number, put the
        params back as they were before the epoch and raise ValueError."""
        finite = all(np.isfinite(p).all() for p in self.params.values())
        if finite and all(np.isfinite(value) for value in metrics.values()):
            return
        for name, p in before.items():
            self.params[name][...] = p
        raise ValueError(
            f"fit: in epoch {epoch} the params or the metrics stopped being finite numbers (is lr={lr:g} "
            "too large?); the params are as they were before that epoch"
        )

    def _settings(self, **values):
        """The settings checked by the rules of the model's trainer (option_rules), in the order given."""
        return tuple(
            _check_option(key, value, self.option_rules[key]) if key in self.option_rules else value
            for key, value in values.items()
        )

    @staticmethod
    def _count(name, value):
        """A whole number >= 1 (a count of samples or sweeps)."""
        return _check_option(name, value, (True, 1, True, None))

    @staticmethod
    def _flag(name, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
        return bool(value)

    # ------------------------------------------------------------ files
    @staticmethod
    def _npz_name(path, what):
        """The file name save and load use: path, with '.npz' added when it does not end so."""
        try:
            name = os.fspath(path)
        except TypeError:
            raise TypeError(f"{what} must be a file name (str or os.PathLike), got {type(path).__name__}") from None
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        if not name or os.path.isdir(name):
            raise ValueError(f"{what} must name a file, but {name!r} is {'empty' if not name else 'a directory'}")
        return name if name.endswith(".npz") else name + ".npz"

    def save(self, path):
        """Write the dims and params to the .npz file `path` ('.npz' is added to a name without it).

        The file is written whole or not at all: into a temporary file beside it, then renamed.
        Returns the name of the file written.
        """
        target = self._npz_name(path, "path")
        arrays = {f"param.{k}": v for k, v in self.params.items()}
        arrays.update({f"dim.{k}": np.asarray(v) for k, v in self.dims.items()})
        folder, base = os.path.split(target)
        temporary = os.path.join(folder, f".{base}.{os.getpid()}.tmp")
        try:
            with open(temporary, "xb") as f:
                np.savez(f, **arrays)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        return target

    def load(self, path, resize=False):
        """Read the dims and params that save wrote; returns self.

        All or nothing: every name, shape and value is checked before anything changes, and on any
        error the model is as it was. A file saved with other dims is refused unless resize=True,
        which takes the file's dims.
        """
        target = self._npz_name(path, "path")
        resize = self._flag("resize", resize)
        with open(target, "rb") as file:
            if file.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):  # an archive; an empty one: no params, no dims
                raise ValueError(f"{target}: not a file written by save (an .npz archive of dims and params)")
            file.seek(0)
            try:  # numpy reads the open file, so that a damaged archive cannot leave it open
                with np.load(file, allow_pickle=False) as f:
                    contents = {key: f[key] for key in f.files}
            except Exception as exc:  # a damaged archive: zipfile, numpy and OS errors of every kind
                raise ValueError(f"{target}: not a readable .npz file written by save ({exc})") from None
        expected = {f"param.{k}" for k in self.param_dims} | {f"dim.{k}" for k in self.dim_defaults}
        if set(contents) != expected:
            missing, unknown = sorted(expected - set(contents)), sorted(set(contents) - expected)
            raise ValueError(
                f"{target}: does not hold this model's dims and params"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        dims = {}
        for key in self.dim_defaults:
            value = contents[f"dim.{key}"]
            if value.shape != () or value.dtype.kind not in "iu" or int(value) < 1:
                raise ValueError(f"{target}: dim {key} must be a whole number >= 1, got {value!r}")
            dims[key] = int(value)
        if dims != self.dims and not resize:
            other = ", ".join(f"{k}={dims[k]}" for k in dims if dims[k] != self.dims[k])
            mine = ", ".join(f"{k}={self.dims[k]}" for k in dims if dims[k] != self.dims[k])
            raise ValueError(
                f"{target}: saved with {other}, but this model has {mine}; pass resize=True to take the file's dims"
            )
        params = {}
        for name, spec in self.param_dims.items():
            value = contents[f"param.{name}"]
            shape = tuple(dims[d] if isinstance(d, str) else d for d in spec)
            if value.dtype.kind not in "iuf" or value.shape != shape:
                raise ValueError(f"{target}: param {name} must be {shape} numbers, got {value.shape} of {value.dtype}")
            value = value.astype(np.float64)
            if not np.isfinite(value).all():
                raise ValueError(f"{target}: param {name} holds values that are not finite numbers")
            if "symmetric" in self.param_attrs[name] and not np.allclose(value, value.T, rtol=1e-6, atol=1e-12):
                raise ValueError(f"{target}: param {name} must be symmetric")
            if "zero_diagonal" in self.param_attrs[name] and np.any(np.diagonal(value) != 0):
                raise ValueError(f"{target}: param {name} must have a zero diagonal")
            params[name] = self._fits_dtype(f"{target}: param {name}", value)
        self.dims, self.params = dims, params
        return self


class _EnergyModel(_Model):
    """The parts every energy model shares: unit types, conditions, masks, exact log Z and AIS."""

    # ------------------------------------------------------------ arguments
    def _check_values(self, name, x, where=None):
        """ValueError unless the entries of x (those where `where` is True) are finite numbers in the
        support of the unit type of `name`, in its encoding."""
        values = self._check_finite(name, x, where)
        rule = self.unit_types.get(self.variables[name][2])
        if rule is None or not values.size:
            return
        low, high = rule["support"]
        top, bottom = float(values.max()), float(values.min())
        if top > high or bottom < low:
            outside = (values > high) | (values < low)
            found = float(values[outside][0])
            hint = (rule["above"] if found > high else rule["below"]).format(top=top, bottom=bottom, half=top / 2)
            place = self._place(x, where, outside)
            raise ValueError(f"{name}: {rule['words']}; found {found:g} at {place}; {hint}")
        if rule.get("onehot") and x.ndim > 1:
            sums = x.sum(axis=-1) if where is None else np.where(where, x, 0.0).sum(axis=-1)
            observed = None if where is None else where.any(axis=-1)
            wrong = ~np.isclose(sums, 1.0, rtol=0.0, atol=1e-6)
            if observed is not None:
                wrong &= observed
            if wrong.any():
                place = self._place(sums, None, wrong)
                raise ValueError(
                    f"{name}: {rule['words']}; the entries along the last axis sum to "
                    f"{float(sums[tuple(np.argwhere(wrong)[0])]):g} at {place}; {rule['above']}"
                )
        if rule["refuse"] is not None:
            refused, why = rule["refuse"]
            if np.any(values == refused[0]) and np.isin(values, refused).all():
                raise ValueError(f"{name}: {why}")

    def _conditions(self, arrays, rows):
        """The checked conditions (`input`s) as batches of `rows` rows: an array of one sample's
        shape is the same for every row."""
        out = []
        for name, value in arrays.items():
            x = self._array(name, value)
            shape = self._shape(self.variables[name][1])
            if x.shape == shape:
                x = np.broadcast_to(x, (rows,) + shape)
            elif x.shape != (rows,) + shape:
                raise ValueError(
                    f"{name}: expected shape {shape} (one sample, for every row) or {(rows,) + shape}, got {x.shape}"
                )
            self._check_values(name, x)
            out.append(x)
        return out

    @staticmethod
    def _at_conditions(weight, given):
        """weight(*states) with the conditions `given` (one row each) repeated for every state."""
        return lambda *states: weight(*states, *(np.broadcast_to(x, (len(states[0]),) + x.shape[1:]) for x in given))

    def _visible_groups(self):
        return [name for name, (role, _, _) in self.variables.items() if role == "visible"]

    def _per_group(self, value, what):
        """value as dict visible group -> array: a dict already, or the array of the only visible group."""
        return self._named(value, self._visible_groups(), what, "visible groups")

    def _mask(self, name, mask, shape):
        """A boolean array of the given batch shape from a mask of that shape, or of one sample's shape
        (the same for every row); booleans, or numbers that are 0 or 1."""
        m = np.asarray(mask)
        if m.dtype != bool:
            if m.dtype.kind not in "biuf":
                raise TypeError(f"{name}: expected booleans (or 0 and 1), got an array of {m.dtype}")
            ok = (m == 0) | (m == 1)
            if not ok.all():
                index = tuple(int(i) for i in np.argwhere(~ok)[0])
                raise ValueError(f"{name}: expected booleans (or 0 and 1); found {m[index]} at index {index}")
            m = m != 0
        if m.shape == tuple(shape[1:]):
            return np.broadcast_to(m, shape)
        if m.shape != tuple(shape):
            raise ValueError(
                f"{name}: expected shape {tuple(shape)} (like the data) or {tuple(shape[1:])} "
                f"(one sample's, for every row), got {m.shape}"
            )
        return m

    def _masked_batches(self, values, mask, what, required=False):
        """The visible groups of `values` as checked batches, their boolean masks (None without a
        mask, where one is not required), and whether they were single samples. Only the observed
        entries are checked: the others may hold anything, a NaN included."""
        if mask is None and required:
            raise TypeError("mask: expected booleans (or 0 and 1), got None")
        arrays = self._per_group(values, what)
        batches, single = self._batches(arrays, check_values=False)
        given = None if mask is None else self._per_group(mask, "mask")
        masks = {}
        for name, x in zip(arrays, batches, strict=True):
            label = "mask" if len(arrays) == 1 else f"mask[{name!r}]"
            rule = self.unit_types.get(self.variables[name][2], {})
            if given is None:
                masks[name] = None
            elif rule.get("onehot"):  # one entry per one-hot unit: the shape without the last axis
                unit_mask = self._mask(label, given[name], x.shape[:-1])
                masks[name] = np.broadcast_to(unit_mask[..., None], x.shape)
            else:
                masks[name] = self._mask(label, given[name], x.shape)
            self._check_values(name, x, masks[name])
        return dict(zip(arrays, batches, strict=True)), masks, single

    def _training_data(self, data, mask):
        """fit's data as dict visible group -> contiguous rows, with unobserved units set to 0, and
        the masks as arrays of the dtype (None without a mask)."""
        arrays, masks, _ = self._masked_batches(data, mask, "data")
        if not next(iter(arrays.values())).shape[0]:
            raise ValueError("data: no rows to train on")
        if mask is None:
            return {name: np.ascontiguousarray(x) for name, x in arrays.items()}, None
        observed = {name: np.ascontiguousarray(np.where(masks[name], x, 0.0)) for name, x in arrays.items()}
        return observed, {name: m.astype(self.dtype) for name, m in masks.items()}

    def _samples(self, name, value):
        """A count of samples >= 1 whose states fit in memory (one row of every group each)."""
        count = self._count(name, value)
        units = sum(int(np.prod(self._shape(dims))) for _, dims, _ in self.variables.values())
        _check_memory(name, count * units * self.dtype.itemsize, f"{count} samples of every group")
        return count

    @staticmethod
    def _check_precision(name, precision):
        """A quadratic group's precision d2E/dX2 must be positive for exp(-E) to have a finite integral."""
        if not np.all(precision > 0):
            smallest = np.min(precision) if np.size(precision) else float("nan")
            raise ValueError(
                f"the params give the units of {name} a curvature d2E/d{name}2 that is not positive "
                f"(its smallest entry is {smallest:g}): the distribution has no finite normaliser"
            )

    @staticmethod
    def _check_monitor(value):
        """fit's `monitor`: a whole number >= 0 (every how many epochs the metrics are computed)."""
        return _check_option("monitor", value, (True, 0, True, None))

    # ------------------------------------------------------------ log Z
    def _enumerate(self, options):
        """log sum over all states of exp(-weight(state)), for the first of `options` with the fewest
        states: (weight, groups), each group (dims, values, one-hot); the states of a discrete unit
        are its values, those of a one-hot unit (the last axis) its categories. In chunks of 2**14
        states, with a running log-sum-exp."""
        plans = []
        for weight, groups in options:
            radices, count = [], 1
            for dims, values, onehot in groups:
                shape = self._shape(dims)
                units = int(np.prod(shape[:-1] if onehot else shape))
                k = shape[-1] if onehot else len(values)
                radices += [k] * units
                count *= k**units
            plans.append((count, weight, groups, radices))
        count, weight, groups, radices = min(plans, key=lambda plan: plan[0])
        if count > 2**20:
            raise ValueError(
                f"log_partition: exact enumeration of {count:.3g} states is more than the {2**20} it allows "
                "(20 binary units); estimate log Z with annealed importance sampling (AIS)"
            )
        places = np.cumprod([1] + radices[:-1]).astype(np.int64)
        total = -np.inf
        for start in range(0, count, 2**14):
            codes = np.arange(start, min(count, start + 2**14), dtype=np.int64)
            digits = (codes[:, None] // places) % np.asarray(radices, dtype=np.int64)
            parts, offset = [], 0
            for dims, values, onehot in groups:
                shape = self._shape(dims)
                units = int(np.prod(shape[:-1] if onehot else shape))
                chosen = digits[:, offset : offset + units]
                if onehot:
                    parts.append(np.eye(shape[-1], dtype=self.dtype)[chosen].reshape((-1,) + shape))
                else:
                    parts.append(np.asarray(values, dtype=self.dtype)[chosen].reshape((-1,) + shape))
                offset += units
            terms = -weight(*parts)
            top = max(total, float(terms.max()))
            total = top + np.log(np.exp(total - top) + np.exp(terms - top).sum())
        return float(total)

    @staticmethod
    def _colouring(coupling):
        """Classes of units that do not interact (H_jk = 0 for every two units of a class), by a greedy
        colouring of the units in their order: the units of a class are independent given the others,
        so a sweep may draw them at once. Where every unit interacts with every other, one class each."""
        size = coupling.shape[0]
        linked = coupling != 0
        np.fill_diagonal(linked, False)
        if linked.sum() == size * (size - 1):
            return [np.array([j]) for j in range(size)]
        colour = np.full(size, -1)
        for j in range(size):
            used = set(colour[linked[j]].tolist())
            colour[j] = next(c for c in range(size) if c not in used)
        return [np.flatnonzero(colour == c) for c in range(colour.max() + 1)]

    def _log_prob(self, arrays, conditions, method, runs, betas, base_data):
        """log_prob's work, given its arrays and conditions as dicts name -> array (apart from the
        names of the model, which its arguments bear)."""
        method = self._method(method, runs, betas, base_data)
        free = self._call(self._free_energy, **arrays, **conditions)
        if method == "exact":
            return -free - self.log_partition(**conditions)
        log_z, error = self.log_partition("ais", runs=runs, betas=betas, base_data=base_data, **conditions)
        return -free - log_z, error

    @staticmethod
    def _no_exact_log_z():
        """The error of log_partition(method='exact') where the model has no exact log Z."""
        return ValueError(
            "log_partition: this model has no exact log Z (its units are not discrete, or what is "
            "continuous does not sum out); estimate it with method='ais'"
        )

    # ------------------------------------------------------------ annealed importance sampling
    @staticmethod
    def _method(method, runs, betas, base_data):
        """The estimator of log Z asked for, 'exact' or 'ais', with the AIS settings checked."""
        if method not in ("exact", "ais"):
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        _check_option("runs", runs, (True, 1, True, None))
        _check_option("betas", betas, (True, 2, True, None))
        return method

    def _ais_data(self, base_data):
        """dict visible group -> checked batch of base_data (or None for each, without it)."""
        names = self._visible_groups()
        if base_data is None:
            return dict.fromkeys(names)
        arrays, masks, _ = self._masked_batches(base_data, None, "base_data")
        if not next(iter(arrays.values())).shape[0]:
            raise ValueError("base_data: no rows to take the base model's marginals from")
        return arrays

    def _base_field(self, name, data):
        """The (field, precision) of independent units of group `name` for the base model of AIS:
        the marginals of `data` where given (the log-odds of bernoulli and of spin units, the log
        frequencies of one-hot ones, mean / variance and 1 / variance for gaussian ones), else
        uniform units (zero field; unit precision for gaussian units)."""
        family = self.unit_types[self.variables[name][2]]["family"]
        shape = self._shape(self.variables[name][1])
        zero = np.zeros(shape, dtype=self.dtype)
        if family == "gaussian":
            if data is None:
                return zero, np.ones(shape, dtype=self.dtype)
            variance = np.maximum(data.var(axis=0), 1e-3)
            return (data.mean(axis=0) / variance).astype(self.dtype), (1.0 / variance).astype(self.dtype)
        if data is None or family == "values":
            return zero, zero
        mean = data.mean(axis=0)
        if family == "bernoulli":
            mean = np.clip(mean, 1e-3, 1 - 1e-3)
            return np.log(mean / (1 - mean)).astype(self.dtype), zero
        if family == "spin":
            return np.arctanh(np.clip(mean, -1 + 2e-3, 1 - 2e-3)).astype(self.dtype), zero
        if family == "categorical":
            share = np.clip(mean, 1e-3, None)
            return np.log(share / share.sum(axis=-1, keepdims=True)).astype(self.dtype), zero
        return zero, zero

    @staticmethod
    def _base_energy(state, base):
        """E0(x) = sum over the groups of -field . x + precision . x**2 / 2, one value per chain."""
        total = 0.0
        for name, x in state.items():
            field, precision = base[name]
            axes = tuple(range(1, x.ndim))
            total = total + (0.5 * precision * x * x - field * x).sum(axis=axes)
        return total

    def _ais_conditional(self, conditions, runs, betas, base_data):
        """log Z by AIS at each row of the conditions (dict name -> one sample or a batch):
        (estimates, standard errors), arrays with a value per row (numbers for one sample)."""
        batches, single = self._batches(conditions)
        rows = batches[0].shape[0]
        out = np.empty((2, rows))
        for row in range(rows):
            given = tuple(np.broadcast_to(x[row], (runs,) + x.shape[1:]) for x in batches)
            out[:, row] = self._ais(runs, betas, base_data, given)
        return (float(out[0, 0]), float(out[1, 0])) if single else (out[0], out[1])

    def _ais(self, runs, betas, base_data, conditions):
        """log Z by annealed importance sampling: (estimate, standard error).

        From the base model p0 (independent units, log Z0 known) to the model along the inverse
        temperatures beta_k = k / (betas - 1): each of `runs` chains starts at a draw of p0, adds
        -(beta_k - beta_(k-1)) * (E - E0) at its state to its log weight, then moves by one Gibbs
        sweep at beta_k. log Z = log Z0 + log mean(weights); its standard error is that of the
        mean weight over the mean weight (the delta method)."""
        base = self._ais_base(base_data)
        log_z0 = self._ais_log_z0(base)
        state = self._ais_start(base, runs)
        constants = self._ais_constants()
        schedule = np.linspace(0.0, 1.0, betas)
        log_w = np.zeros(runs)
        with np.errstate(over="ignore"):
            for k in range(1, betas):
                log_w -= (schedule[k] - schedule[k - 1]) * self._ais_gap(state, base, conditions)
                if k < betas - 1:
                    state = self._ais_step(state, schedule[k], base, constants, conditions)
        top = log_w.max()
        weights = np.exp(log_w - top)
        mean = weights.mean()
        error = float(weights.std(ddof=1) / (mean * np.sqrt(runs))) if runs > 1 else float("inf")
        return float(log_z0 + top + np.log(mean)), error
