"""What every generated network shares, as real code: the numpy backend copies this class into each
module that holds a network (as `_Network`, the base of the network classes, beside `_Model`).

The data checks (real, binary and onehot data), the predictions, the validation of fit's data and
the training loop that every network trainer shares are written here once. A network class holds
the tables it reads (`variables`, `inputs`, `targets`, `outputs`, `pairs`, `loss_reads`,
`forward_reads`, and `_Model`'s) and the model's own methods, emitted from its graphs:
`_forward` (the outputs), `_score` (the per-sample losses and the outputs paired with a target)
and `_backward` (one training step's forward and reverse pass: the sum of the losses over the
batch, the paired outputs and sum over the batch of dloss/dtheta); its trainer adds `fit` and the
update of the params. Like `_Model`, it holds no name of any model.
"""

from __future__ import annotations

import time

import numpy as np

from ...options import _check_option
from .base import _Model


class _Network(_Model):
    """The parts every network shares: data checks, predictions, fit's data and training loop."""

    chunk_rows = 4096  # rows of validation data scored at once

    # ------------------------------------------------------------ arguments
    def _check_values(self, name, x, where=None):
        """ValueError unless x holds finite numbers of the data type of `name`: any for real data,
        0 and 1 for binary data, and for onehot data 0 and 1 with exactly one 1 along the last axis."""
        self._check_finite(name, x, where)
        kind = self.variables[name][2]
        if kind not in ("binary", "onehot") or not x.size:
            return
        bad = (x != 0) & (x != 1)
        if bad.any():
            hint = (
                "one-hot encode class labels, e.g. np.eye(classes)[labels]"
                if kind == "onehot"
                else "declare the data real for values in between (probabilities)"
            )
            raise ValueError(
                f"{name}: {kind} data take the values 0 and 1; found {x[bad][0]:g} at "
                f"{self._place(x, None, bad)}; {hint}"
            )
        if kind == "onehot":  # entries 0 and 1: a product with ones counts them exactly (and fast)
            ones = (x.reshape(-1, x.shape[-1]) @ np.ones(x.shape[-1], dtype=x.dtype)).reshape(x.shape[:-1])
            wrong = ones != 1
            if np.any(wrong):
                raise ValueError(
                    f"{name}: onehot data have exactly one 1 along the last axis; found "
                    f"{int(ones[tuple(np.argwhere(wrong)[0])])} at {self._place(ones, None, wrong)}; "
                    "one-hot encode class labels, e.g. np.eye(classes)[labels]"
                )

    @staticmethod
    def _labels(onehot):
        """The class index of each row of checked onehot data (where its 1 is): a product with
        0, 1, 2, ..., exact for 0/1 entries with one 1 a row."""
        classes = np.arange(onehot.shape[-1], dtype=onehot.dtype)
        return (onehot.reshape(-1, classes.size) @ classes).astype(np.int64).reshape(onehot.shape[:-1])

    def _switch(self, name, value):
        """A setting that is on or off: True or False, or 0 or 1 as a model file writes it."""
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        return bool(_check_option(name, value, (True, 0, True, 2)))

    def _grad_sums(self, *batches):
        """sum over the batch of dloss/dtheta for every trained param (one pass of _backward)."""
        return self._backward(*batches, 1.0)[2]

    def _loss(self, *batches):
        """The per-sample losses (see _score)."""
        return self._score(*batches)[0]

    def _predictions(self, outputs):
        """The outputs, each one paired with a onehot target as its class indices (the argmax along
        the last axis); an array where the network has one output, else a dict name -> array."""
        found = {name: np.argmax(value, axis=-1) if self._classes(name) else value for name, value in outputs.items()}
        return found[self.outputs[0]] if len(found) == 1 else found

    def _classes(self, output):
        """Whether the output is scored against a onehot target (its values stand for classes)."""
        target = self.pairs.get(output)
        return target is not None and self.variables[target][2] == "onehot"

    def _accuracy_keys(self):
        """output -> the history key of its accuracy, for the outputs paired with a onehot target."""
        paired = [name for name in self.outputs if self._classes(name)]
        return {name: "accuracy" if len(paired) == 1 else f"accuracy_{name}" for name in paired}

    # ------------------------------------------------------------ fit
    def _data(self, inputs, targets, what):
        """fit's inputs and targets (arrays, or dicts name -> array) as checked contiguous batches in
        the order _backward takes them, their row count, and the class indices of each output paired
        with a onehot target."""
        given = {
            **self._named(inputs, list(self.inputs), f"{what}inputs", "inputs"),
            **self._named(targets, list(self.targets), f"{what}targets", "targets"),
        }
        try:
            batches, _ = self._batches({name: given[name] for name in self.loss_reads})
        except (TypeError, ValueError) as exc:
            if not what:
                raise
            raise type(exc)(f"{what}{exc}") from None
        rows = batches[0].shape[0]
        if not rows:
            raise ValueError(f"{what}inputs: no rows to {'train on' if not what else 'score'}")
        arrays = dict(zip(self.loss_reads, batches, strict=True))
        labels = {name: self._labels(arrays[self.pairs[name]]) for name in self._accuracy_keys()}
        return [np.ascontiguousarray(x) for x in batches], rows, labels

    def _fit_data(self, inputs, targets, validation, verbose, callback):
        """Everything fit is given, checked before anything changes: (training data, validation data
        or None), each as _data returns it."""
        self._flag("verbose", verbose)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
        data = self._data(inputs, targets, "")
        if validation is None:
            return data, None
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(
                f"validation must be None or a pair (inputs, targets), got {type(validation).__name__}"
                + (f" of {len(validation)}" if isinstance(validation, (tuple, list)) else "")
            )
        return data, self._data(validation[0], validation[1], "validation ")

    def _evaluate(self, data):
        """The mean loss of checked data (as _data returns it) and the accuracy of each output paired
        with a onehot target, scored in chunks of chunk_rows rows."""
        arrays, rows, labels = data
        total, hits = 0.0, dict.fromkeys(labels, 0)
        for low in range(0, rows, self.chunk_rows):
            chunk = slice(low, low + self.chunk_rows)
            losses, outputs = self._score(*(x[chunk] for x in arrays))
            total += float(np.sum(losses))
            for name, classes in labels.items():
                hits[name] += int(np.count_nonzero(np.argmax(outputs[name], axis=-1) == classes[chunk]))
        keys = self._accuracy_keys()
        return total / rows, {keys[name]: hits[name] / classes.size for name, classes in labels.items()}

    def _train(self, data, validation, batch, epochs, patience, verbose, callback, scale, update, lr):
        """The training loop of every network trainer: for each epoch the rows in a new random order
        (from self.rng), for each mini-batch of B rows one _backward pass, its gradients multiplied
        by scale(B) (the trainer's factor, lr / B for sgd), and update(sums) of the params.

        Returns the history: one record per epoch with `epoch`, `loss` (the mean loss over the epoch's
        batches, each at the params it was computed with), `accuracy` for an output paired with a
        onehot target (the share of rows of the epoch's batches whose argmax is the target's class),
        `val_loss` and `val_accuracy` on the validation data where given (at the params after the
        epoch), and `seconds`. patience >= 1 stops training once the validation loss (the training
        loss without validation data) has not improved for that many epochs, and puts back the params
        of the best epoch; 0 trains every epoch. callback(model, record) returning False stops too.
        """
        arrays, rows, labels = data
        keys = self._accuracy_keys()
        predicted = {name: np.empty_like(classes) for name, classes in labels.items()}  # in the epoch's order
        history = []
        best, best_loss, waited = None, np.inf, 0
        constrained = [name for name in self.trained if set(self.param_attrs[name]) & {"symmetric", "zero_diagonal"}]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a divergence is found below, and undone
            for epoch in range(epochs):
                start = time.perf_counter()
                before = {name: p.copy() for name, p in self.params.items()}
                order = self.rng.permutation(rows)
                total = 0.0
                for low in range(0, rows, batch):
                    chosen = order[low : low + batch]
                    loss, outputs, sums = self._backward(*(x[chosen] for x in arrays), scale(chosen.shape[0]))
                    total += float(loss)
                    for name, classes in predicted.items():
                        classes[low : low + batch] = outputs[name].argmax(axis=-1)
                    update(sums)
                    for name in constrained:  # symmetric and zero_diagonal are kept true through training
                        param = self.params[name]
                        if "symmetric" in self.param_attrs[name]:
                            param[...] = self._symmetric(param)
                        if "zero_diagonal" in self.param_attrs[name]:
                            np.fill_diagonal(param, 0.0)
                record = {"epoch": epoch + 1, "loss": total / rows}
                for name, classes in predicted.items():
                    record[keys[name]] = np.count_nonzero(classes == labels[name][order]) / classes.size
                if validation is not None:
                    loss, accuracy = self._evaluate(validation)
                    record["val_loss"] = loss
                    record.update({f"val_{key}": value for key, value in accuracy.items()})
                metrics = {key: value for key, value in record.items() if key != "epoch"}
                self._check_training(before, metrics, epoch + 1, lr)
                record["seconds"] = time.perf_counter() - start
                history.append(record)
                if verbose:
                    shown = "  ".join(f"{key} {value:.5g}" for key, value in metrics.items())
                    print(f"epoch {record['epoch']:4d}  {shown}  {record['seconds']:.2f} s")
                if callback is not None and callback(self, record) is False:
                    break
                watched = record["val_loss" if validation is not None else "loss"]
                if watched < best_loss:
                    best_loss, waited = watched, 0
                    if patience:
                        best = {name: p.copy() for name, p in self.params.items()}
                else:
                    waited += 1
                if patience and waited >= patience:
                    for name, p in best.items():
                        self.params[name][...] = p
                    break
        return history
