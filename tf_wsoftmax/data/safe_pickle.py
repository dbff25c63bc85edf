"""A restricted unpickler for data files (`.bin` verification sets, CIFAR batches).

A pickle is a program: `pickle.load` calls whatever globals the file names.
The data files this package reads only ever need containers, numbers, byte
strings and NumPy arrays, so `load_data_pickle` builds nothing else:

- globals: only the ones such files use, each replaced by a checked version:
  `_codecs.encode(str, "latin1")` (how protocol 2 stores bytes; every other
  codec is refused), `bytearray` of bytes (never `bytearray(n)`), NumPy's
  `_reconstruct` / `_frombuffer` / `scalar` / `dtype` for arrays and scalars
  of the dtypes the caller allows (never object arrays), and `numpy.ndarray`
  only as the class those receive (it cannot be called);
- memory: every byte those calls build is counted *while* unpickling, and the
  load stops as soon as the total passes a small multiple of the file's size.
  Bytes copied from the file cost at most its size, but a memo reference
  costs a few bytes of file and can feed the same large string to a call
  again and again (each call a new copy), and a codec such as "hex" doubles
  its input at each level of nesting;
- the result is walked once: dicts (where allowed), lists, tuples, byte and
  text strings, numbers, booleans, None, and arrays / scalars of the allowed
  dtypes; anything else is refused.
"""

import codecs
import os
import pickle

import numpy as np

# Bytes the calls of a pickle may build, per byte of the file: an array stored in protocol 2 costs
# twice its size (the latin-1 round trip, then the copy into the array), so 4 leaves a margin.
BYTES_PER_FILE_BYTE = 4
# Added to the budget: small files with a few tiny arrays.
BUDGET_SLACK = 1 << 16
# The deepest nesting of containers a data file holds (a dict of lists is 2).
MAX_DEPTH = 16

_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")


class RestrictedPickleError(pickle.UnpicklingError):
    """A pickle refused by `load_data_pickle` (the message names the file and what it tried)."""


class _NdarrayClass:
    """What `numpy.ndarray` unpickles to: a marker for `_reconstruct`, never an allocation."""

    def __new__(cls, *args, **kwargs):
        raise RestrictedPickleError("refusing to call numpy.ndarray (a data file builds arrays from its data)")


class _CountedArray(np.ndarray):
    """An array whose unpickled state (shape, dtype, data) is checked and counted before it is set."""

    def __setstate__(self, state):
        self._loader.check_array_state(state)
        super().__setstate__(state)


def _dtype_allowed(dtype, allowed):
    return dtype.fields is None and dtype.subdtype is None and (dtype.kind, dtype.itemsize) in allowed


class _Loader(pickle.Unpickler):
    """`pickle.Unpickler` whose globals are the checked, counting functions below."""

    def __init__(self, file, budget, allowed_dtypes):
        super().__init__(file, encoding="bytes")
        self.budget = budget
        self.built = 0
        self.allowed = {(np.dtype(d).kind, np.dtype(d).itemsize) for d in allowed_dtypes}
        self.array_class = type("_CountedArray", (_CountedArray,), {"_loader": self})

    def count(self, nbytes, what):
        """Adds `nbytes` to the bytes built; refuses once the total passes the budget."""
        self.built += int(nbytes)
        if self.built > self.budget:
            raise RestrictedPickleError(
                f"building {what} takes the bytes the pickle builds past {self.budget} "
                f"({BYTES_PER_FILE_BYTE} x the file's size + {BUDGET_SLACK}): a data file holds its data, "
                "it does not multiply it (memo references or codecs amplifying a few bytes)"
            )

    def check_dtype(self, dtype):
        dtype = np.dtype(dtype)
        if not _dtype_allowed(dtype, self.allowed):
            raise RestrictedPickleError(f"refusing NumPy dtype {dtype!r} (allowed: {self._allowed_names()})")
        return dtype

    def _allowed_names(self):
        return ", ".join(sorted(f"{kind}{size}" for kind, size in self.allowed))

    def check_array_state(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise RestrictedPickleError("malformed NumPy array state")
        shape, dtype = state[-4], state[-3]
        if not isinstance(dtype, np.dtype):
            raise RestrictedPickleError("malformed NumPy array state (no dtype)")
        self.count(self._nbytes(shape, self.check_dtype(dtype)), "a NumPy array")

    @staticmethod
    def _nbytes(shape, dtype):
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise RestrictedPickleError(f"malformed NumPy array shape {shape!r}")
        total = dtype.itemsize
        for n in shape:
            total *= n
        return total

    # The globals a data file may name, each checked and counted.

    def _encode(self, text, encoding="utf-8", errors="strict"):
        if isinstance(encoding, bytes):
            encoding = encoding.decode("ascii", "replace")
        try:
            name = codecs.lookup(encoding).name
        except (LookupError, TypeError):
            name = repr(encoding)
        if name != "iso8859-1" or not isinstance(text, str):
            raise RestrictedPickleError(
                f"refusing _codecs.encode with codec {encoding!r} of a {type(text).__name__} (a data file "
                "only needs the latin-1 round trip of protocol-2 bytes)"
            )
        self.count(len(text), "a byte string")
        return text.encode("latin-1")

    def _bytearray(self, *args):
        if len(args) == 1 and isinstance(args[0], bytes):
            data = args[0]
        elif len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1", b"latin-1", b"latin1"):
            data = args[0]
        else:
            raise RestrictedPickleError("refusing builtins.bytearray of a size (a data file holds data only)")
        self.count(len(data), "a bytearray")
        return bytearray(data, "latin-1") if isinstance(data, str) else bytearray(data)

    def _reconstruct(self, subtype, shape, typecode):
        if subtype is not _NdarrayClass:
            raise RestrictedPickleError("refusing numpy _reconstruct of anything but numpy.ndarray")
        self.count(self._nbytes(shape, np.dtype(np.uint8)), "a NumPy array")
        return np.ndarray.__new__(self.array_class, shape, np.uint8)

    def _frombuffer(self, buffer, dtype, shape, order):
        if not isinstance(buffer, (bytes, bytearray)):
            raise RestrictedPickleError("refusing numpy _frombuffer of anything but in-band bytes")
        dtype = self.check_dtype(dtype)
        self.count(self._nbytes(tuple(shape), dtype), "a NumPy array")
        return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)

    def _scalar(self, dtype, data=None):
        dtype = self.check_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise RestrictedPickleError(f"malformed NumPy scalar of dtype {dtype}")
        return np.frombuffer(data, dtype)[0]

    def _dtype(self, name, align=False, copy=False):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        if not isinstance(name, str):
            raise RestrictedPickleError(f"refusing numpy.dtype of a {type(name).__name__}")
        try:
            dtype = np.dtype(name)
        except TypeError:
            raise RestrictedPickleError(f"refusing NumPy dtype {name!r}") from None
        self.check_dtype(dtype)
        return np.dtype(name, bool(align), bool(copy))

    def find_class(self, module, name):
        allowed = {
            ("_codecs", "encode"): self._encode,
            ("builtins", "bytearray"): self._bytearray,
            ("__builtin__", "bytearray"): self._bytearray,
            ("numpy", "ndarray"): _NdarrayClass,
            ("numpy", "dtype"): self._dtype,
        }
        allowed.update({(m, "_reconstruct"): self._reconstruct for m in _NUMPY_MODULES})
        allowed.update({(m, "scalar"): self._scalar for m in _NUMPY_MODULES})
        allowed.update({(m, "_frombuffer"): self._frombuffer for m in _NUMPY_MODULES})
        if (module, name) not in allowed:
            raise RestrictedPickleError(f"refusing to load {module}.{name} (a data file holds data only)")
        return allowed[(module, name)]

    def persistent_load(self, pid):
        raise RestrictedPickleError("refusing a persistent id (a data file holds data only)")


_LEAVES = (bytes, bytearray, str, int, float, bool, type(None))


def _plain(value, loader, allow_dicts, done, depth=0):
    """`value` with every counted array made a plain ndarray; refuses any type a data file does not hold."""
    key = id(value)
    if key in done:
        return done[key]
    if depth > MAX_DEPTH:
        raise RestrictedPickleError(f"containers nested more than {MAX_DEPTH} deep")
    if isinstance(value, _LEAVES):
        result = value
    elif isinstance(value, np.ndarray):
        loader.check_dtype(value.dtype)
        result = value.view(np.ndarray) if isinstance(value, _CountedArray) else value
    elif isinstance(value, np.generic):
        loader.check_dtype(value.dtype)
        result = value
    elif isinstance(value, list):
        done[key] = result = value  # a list may hold itself: record it before its items
        value[:] = [_plain(item, loader, allow_dicts, done, depth + 1) for item in value]
    elif isinstance(value, tuple):
        result = tuple(_plain(item, loader, allow_dicts, done, depth + 1) for item in value)
    elif isinstance(value, dict) and allow_dicts:
        done[key] = result = value
        for k in list(value):
            if not isinstance(k, (bytes, str, int)):
                raise RestrictedPickleError(f"a dict key of type {type(k).__name__}")
            value[k] = _plain(value[k], loader, allow_dicts, done, depth + 1)
    else:
        raise RestrictedPickleError(f"the pickle holds a {type(value).__name__}, which a data file does not")
    done[key] = result
    return result


def load_data_pickle(path, allowed_dtypes, allow_dicts=False):
    """Unpickles a data file, building only plain data, within a memory budget set by its size.

    Python 2 strings load as bytes (`encoding="bytes"`), as every reader of
    InsightFace's and CIFAR's files does.

    Args:
        path: the file.
        allowed_dtypes: NumPy dtypes its arrays and scalars may have (e.g.
            `("uint8", "bool")`); byte order does not matter.
        allow_dicts: whether dicts may appear (CIFAR batches are dicts).

    Returns:
        The unpickled object: containers, byte / text strings, numbers,
        booleans, None, and NumPy arrays / scalars of `allowed_dtypes`.

    Raises:
        FileNotFoundError, OSError: the file cannot be opened.
        RestrictedPickleError: the pickle names a global, a codec or a
            dtype a data file does not need, builds more bytes than
            `BYTES_PER_FILE_BYTE` x its size, or holds another type; the
            message names `path`.
        pickle.UnpicklingError, EOFError, ValueError, ...: not a pickle, or
            a truncated or malformed one (as `pickle.load` raises them).
    """
    with open(path, "rb") as f:
        budget = BYTES_PER_FILE_BYTE * os.fstat(f.fileno()).st_size + BUDGET_SLACK
        loader = _Loader(f, budget, allowed_dtypes)
        try:
            return _plain(loader.load(), loader, allow_dicts, {})
        except RestrictedPickleError as error:
            raise RestrictedPickleError(f"{os.fspath(path)}: {error}") from None
