"""The helper functions that the op table's numpy rules call (`ctx.helper(name)` -> `_name`).

Each entry is the source text of one function: the numpy backend copies the
ones a module uses into it, and `ir/evaluate.py` executes them, so the numbers
in tests and in generated code come from one definition.
"""

import numpy as np

HELPERS = {
    "sigmoid": '''
def _sigmoid(x):
    """1 / (1 + exp(-x)), never overflowing, computed the way that is fast for the dtype: in float32 as
    0.5 * (1 + tanh(x / 2)), in float64 as 1 / (1 + exp(-x)) with exp's argument at most 700."""
    x = np.asarray(x)
    if x.dtype == np.float32:
        t = np.multiply(x, np.float32(0.5), out=np.empty_like(x))
        np.tanh(t, out=t)
        t *= 0.5
        t += 0.5
        return t
    t = np.negative(x, out=np.empty_like(x, dtype=np.result_type(x, 1.0)))
    np.minimum(t, 700.0, out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)
''',
    "sigmoid_inplace": '''
def _sigmoid_inplace(x):
    """sigmoid(x) written over x, an array nobody else needs (see _sigmoid)."""
    if x.dtype == np.float32:
        x *= 0.5
        np.tanh(x, out=x)
        x *= 0.5
        x += 0.5
        return x
    np.negative(x, out=x)
    np.minimum(x, 700.0, out=x)
    np.exp(x, out=x)
    x += 1.0
    return np.reciprocal(x, out=x)
''',
    "softplus": '''
def _softplus(x):
    """log(1 + exp(x)) without overflow: log(exp(0) + exp(x))."""
    return np.logaddexp(0.0, x)
''',
    "logsumexp": '''
def _logsumexp(x, axis=None):
    """log(sum(exp(x))) over `axis`, shifted by the maximum so that nothing overflows."""
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
''',
    "softmax": '''
def _softmax(x):
    """exp(x) / sum(exp(x)) along the last axis, shifted by the maximum."""
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e
''',
    "log_softmax": '''
def _log_softmax(x):
    """log(softmax(x)) along the last axis: x - max - log(sum(exp(x - max))), never log(0)."""
    t = x - x.max(axis=-1, keepdims=True)
    t -= np.log(np.exp(t).sum(axis=-1, keepdims=True))
    return t
''',
    "bce_logits": '''
def _bce_logits(z, t):
    """softplus(z) - t * z: the binary cross-entropy of sigmoid(z) against t, finite for any z."""
    return np.logaddexp(0.0, z) - t * z
''',
    "logistic_noise": '''
def _logistic_noise(rng, shape, dtype):
    """log(u / (1 - u)) for u uniform on (0, 1): x is b rather than a with probability sigmoid(d)
    exactly where this noise falls below d, so a sweep draws all its noise at once."""
    u = rng.random(shape, dtype=dtype)
    np.maximum(u, np.finfo(dtype).tiny, out=u)
    return np.log(u) - np.log1p(-u)
''',
    "sample_bernoulli": '''
def _sample_bernoulli(rng, p):
    """x ~ Bernoulli(p) elementwise: 1 where a uniform draw falls below p, else 0."""
    u = rng.random(p.shape, dtype=p.dtype)
    np.less(u, p, out=u)
    return u
''',
    "sample_spin": '''
def _sample_spin(rng, m):
    """x in {-1, +1} with mean m elementwise: +1 with probability (1 + m) / 2."""
    u = rng.random(m.shape, dtype=m.dtype)
    np.less(u, 0.5 * (1.0 + m), out=u)
    u *= 2.0
    u -= 1.0
    return u
''',
    "logsumexp_last": '''
def _logsumexp_last(x):
    """log(sum(exp(x))) along the last axis (kept, of size 1), shifted by the maximum."""
    top = np.max(x, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.log(np.sum(np.exp(x - top), axis=-1, keepdims=True)) + top
''',
    "values_moment": '''
def _values_moment(f, p, values, k):
    """For units taking `values` with weights exp(f s - p s**2 / 2): log Z (k = 0), else E[s**k].
    The log-weights are shifted by their maximum, so that nothing overflows."""
    f, p = np.broadcast_arrays(np.asarray(f), np.asarray(p))
    logits = np.stack([f * s - 0.5 * p * s * s for s in values])
    top = logits.max(axis=0)
    weights = np.exp(logits - top)
    total = weights.sum(axis=0)
    if k == 0:
        return np.log(total) + top
    return sum(w * s**k for w, s in zip(weights, values)) / total
''',
    "sample_values": '''
def _sample_values(rng, f, p, values):
    """x with each unit drawn from `values` with weights exp(f s - p s**2 / 2), elementwise."""
    f, p = np.broadcast_arrays(np.asarray(f), np.asarray(p))
    logits = np.stack([f * s - 0.5 * p * s * s for s in values])
    weights = np.exp(logits - logits.max(axis=0))
    cumulative = np.cumsum(weights, axis=0)
    u = rng.random(f.shape, dtype=f.dtype) * cumulative[-1]
    index = (u[None] >= cumulative[:-1]).sum(axis=0)
    return np.asarray(values, dtype=f.dtype)[index]
''',
    "sample_gaussian": '''
def _sample_gaussian(rng, mean, precision):
    """x ~ N(mean, 1 / precision) elementwise."""
    noise = rng.standard_normal(np.shape(mean), dtype=mean.dtype)
    noise /= np.sqrt(precision)
    noise += mean
    return noise
''',
    "sample_categorical": '''
def _sample_categorical(rng, p):
    """One-hot draws along the last axis, with the probabilities p (rows summing to 1)."""
    cumulative = np.cumsum(p, axis=-1)
    u = rng.random(p.shape[:-1] + (1,), dtype=p.dtype) * cumulative[..., -1:]
    index = np.minimum((u >= cumulative).sum(axis=-1), p.shape[-1] - 1)
    return (np.arange(p.shape[-1]) == index[..., None]).astype(p.dtype)
''',
}


# helpers that call others: a module that holds one holds those too
NEEDS: dict[str, tuple[str, ...]] = {}


def with_needs(names) -> set:
    """The helpers `names` and every helper they call."""
    out, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name not in out:
            out.add(name)
            stack.extend(NEEDS.get(name, ()))
    return out


def load(names=None) -> dict:
    """name -> function, for evaluating graphs in this process."""
    namespace = {"np": np}
    for name in HELPERS if names is None else names:
        exec(HELPERS[name], namespace)  # our own source text above, never user input
    return {name: namespace["_" + name] for name in (HELPERS if names is None else names)}
