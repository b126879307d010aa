"""Exact LightGBM TreeSHAP values, computed once per distinct decision pattern.

Path-dependent TreeSHAP (what ``pred_contrib=True`` computes) values a row through
``f_x(S)``: the tree's expected output when the features in ``S`` follow the row's branch and
the others are averaged by training cover. That depends on the row only through the direction
it takes at each split node, so one tree's SHAP values are a function of the row's *decision
pattern* (one bit per split node). A 15-leaf tree has at most 2**14 patterns and customers
realise far fewer (about 1,400 per tree for 200k customers in the benchmark), so

1. every row's pattern per tree is computed (numba, one pass; the same comparisons as
   LightGBM's ``Tree::Decision`` including missing values, zero handling and categorical
   bitsets),
2. LightGBM's own TreeSHAP evaluates each *new* pattern once, on a representative row, one
   tree at a time (``start_iteration=t, num_iteration=1``),
3. rows add up their patterns' values tree by tree.

Results equal ``pred_contrib`` up to floating-point summation order (about 1e-14). Patterns
are cached per model across calls, so scoring chunk after chunk gets cheaper as the cache
fills; the cache is bounded and cleared when it grows past ``_MAX_CACHE_BYTES``. Models this does
not cover (a tree with more than 63 splits, more than one tree per iteration, linear trees)
use ``pred_contrib`` directly.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

_MAX_NODES = 63  # a pattern is an int64 bit set
_MAX_CACHE_BYTES = 256 * 2**20  # bound on the cached values, then the cache starts over
_BLOCK = 8_192  # rows per pass: bounds the (trees x rows) work arrays
# LightGBM's kZeroThreshold is the float 1e-35f; values within it are zero to the predictor
_ZERO = float(np.float32(1e-35))
_EMPTY = -1

_kernels = None


def _compile():
    """Build the numba kernels on first use (numba import and compilation are lazy).

    Compiled code is cached on disk when numba finds a writable cache location; where it
    finds none (a read-only install and home), the kernels are compiled in memory instead.
    """
    global _kernels
    if _kernels is None:
        try:
            _kernels = _build_kernels(cache=True)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            _kernels = _build_kernels(cache=False)
    return _kernels


def _build_kernels(cache: bool):
    from numba import njit, prange

    # Layouts are tree-major / column-major so that the inner loops run over rows.
    @njit(parallel=True, cache=cache)
    def codes_kernel(D, nnodes, col, thr):
        T, n = nnodes.shape[0], D.shape[1]
        out = np.zeros((T, n), dtype=np.int64)
        for t in prange(T):
            for j in range(nnodes[t]):
                c, th, sh = col[t, j], thr[t, j], np.int64(j)
                for i in range(n):
                    out[t, i] |= np.int64(D[c, i] <= th) << sh
        return out

    @njit(inline="always")
    def slot_of(code, shift):  # Fibonacci hashing of the 64-bit pattern
        return np.int64((np.uint64(code) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(shift))

    @njit(parallel=True, cache=cache)
    def lookup_kernel(codes, keys, ids, shift):
        T, n = codes.shape
        mask = np.int64(keys.shape[1] - 1)
        out = np.empty((T, n), dtype=np.int32)
        for t in prange(T):
            for i in range(n):
                c = codes[t, i]
                s = slot_of(c, shift)
                r = -1
                while True:
                    k = keys[t, s]
                    if k == c:
                        r = ids[t, s]
                        break
                    if k == -1:
                        break
                    s = (s + 1) & mask
                out[t, i] = r
        return out

    @njit(cache=cache)
    def insert_kernel(keys, ids, t, new_codes, new_ids, shift):
        mask = np.int64(keys.shape[1] - 1)
        for q in range(new_codes.shape[0]):
            c = new_codes[q]
            s = slot_of(c, shift)
            while keys[t, s] != -1 and keys[t, s] != c:
                s = (s + 1) & mask
            keys[t, s] = c
            ids[t, s] = new_ids[q]

    @njit(parallel=True, cache=cache)
    def accumulate_kernel(pattern, store, tfeat, tk, n_features, base):
        # trees are added in order for every (row, feature): the result does not depend on
        # how rows are split into blocks or threads
        T, n = pattern.shape
        out = np.zeros((n, n_features + 1))
        step = 256
        for b in prange((n + step - 1) // step):
            lo, hi = b * step, min(n, b * step + step)
            for t in range(T):  # one tree's cached values at a time stay in cache
                k = tk[t]
                for i in range(lo, hi):
                    p = pattern[t, i]
                    for j in range(k):
                        out[i, tfeat[t, j]] += store[p, j]
            for i in range(lo, hi):
                out[i, n_features] = base
        return out

    return codes_kernel, lookup_kernel, insert_kernel, accumulate_kernel


def _nodes(tree: dict) -> list[dict]:
    out, stack = [], [tree["tree_structure"]]
    while stack:  # pre-order; the bit order only has to be fixed per tree
        node = stack.pop()
        if "split_index" in node:
            out.append(node)
            stack.append(node["right_child"])
            stack.append(node["left_child"])
    return out


# How a numeric split treats missing values, as a rewrite of the column so that every split
# becomes ``value <= threshold`` (LightGBM's Tree::NumericalDecision): missing_type None reads
# NaN as 0; NaN sends NaN the default way; Zero sends NaN and 0 the default way. The default
# way is encoded as -inf (left) or +inf (right); thresholds are finite.
def _rewrite(values: np.ndarray, missing_type: str, default_left: bool) -> np.ndarray:
    nan = np.isnan(values)
    if missing_type == "None":
        return np.where(nan, 0.0, values)
    default = -np.inf if default_left else np.inf
    if missing_type == "NaN":
        return np.where(nan, default, values)
    return np.where(nan | (values == 0.0), default, values)  # "Zero"


class PatternTreeSHAP:
    """Exact TreeSHAP for a LightGBM booster, cached by decision pattern (see module doc).

    Parameters
    ----------
    booster : lightgbm.Booster
    num_iteration : int or None
        Trees to use, as for ``Booster.predict``.
    """

    def __init__(self, booster, num_iteration: int | None = None):
        self.booster = booster
        self.num_iteration = num_iteration
        self._lock = threading.Lock()
        dump = booster.dump_model(num_iteration=num_iteration)
        self.n_features = int(dump["max_feature_idx"]) + 1
        trees = dump["tree_info"]
        self.n_trees = len(trees)
        per_tree = [_nodes(t) for t in trees]
        linear = "is_linear=1" in booster.model_to_string(num_iteration=num_iteration)
        self.supported = (
            int(dump.get("num_tree_per_iteration", 1)) == 1
            and not linear
            and all(len(nodes) <= _MAX_NODES for nodes in per_tree)
        )
        if not self.supported:
            return
        T, M = self.n_trees, max([len(n) for n in per_tree] + [1])
        self.nnodes = np.array([len(n) for n in per_tree], dtype=np.int32)
        self.col = np.zeros((T, M), dtype=np.int32)
        self.thr = np.zeros((T, M))
        # decision columns: (feature, missing_type, default_left) for numeric splits,
        # (feature, categories going left) for categorical ones
        self.columns: dict[tuple, int] = {}
        used: list[np.ndarray] = []
        for t, nodes in enumerate(per_tree):
            for j, nd in enumerate(nodes):
                f = int(nd["split_feature"])
                if nd["decision_type"] == "==":
                    key = (f, "categorical", tuple(sorted(int(c) for c in str(nd["threshold"]).split("||"))))
                    self.thr[t, j] = 0.5  # the column holds 0 for "goes left", 1 otherwise
                else:
                    mt = nd["missing_type"]
                    key = (f, mt, bool(nd["default_left"]) if mt != "None" else False)
                    self.thr[t, j] = float(nd["threshold"])
                self.col[t, j] = self.columns.setdefault(key, len(self.columns))
            used.append(np.unique([int(nd["split_feature"]) for nd in nodes]).astype(np.int32))
        K = max([len(u) for u in used] + [1])
        self.tk = np.array([len(u) for u in used], dtype=np.int32)
        self.tfeat = np.zeros((T, K), dtype=np.int32)
        for t, u in enumerate(used):
            self.tfeat[t, : len(u)] = u
        # LightGBM's own expected value (the last pred_contrib column), the same for every row
        self.base = float(self._lgb_contrib(np.zeros((1, self.n_features)))[0, -1])
        self._reset_cache()

    def _lgb_contrib(self, A, tree: int | None = None):
        if tree is None:
            return self.booster.predict(A, num_iteration=self.num_iteration, pred_contrib=True)
        return self.booster.predict(A, start_iteration=tree, num_iteration=1, pred_contrib=True)

    def _decisions(self, A: np.ndarray) -> np.ndarray:
        """One row per decision column, one column per data row: ``D[col] <= thr`` is the
        split's "goes left" (LightGBM's Tree::Decision)."""
        # the predictor reads |v| <= kZeroThreshold as an absent (zero) value
        A = np.where(np.abs(A) <= _ZERO, 0.0, A)
        D = np.empty((len(self.columns), len(A)))
        for (f, how, extra), c in self.columns.items():
            v = A[:, f]
            if how == "categorical":
                # Tree::CategoricalDecision: int cast; NaN, negative, unknown go right
                ok = np.isfinite(v) & (v > -1.0) & (v < 2.0**31)
                left = np.zeros(len(v), dtype=bool)
                left[ok] = np.isin(np.trunc(v[ok]).astype(np.int64), extra)
                D[c] = np.where(left, 0.0, 1.0)
            else:
                D[c] = _rewrite(v, how, extra)
        return D

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _reset_cache(self, capacity: int = 1024):
        self.shift = 64 - int(np.log2(capacity))
        self.keys = np.full((self.n_trees, capacity), _EMPTY, dtype=np.int64)
        self.ids = np.zeros((self.n_trees, capacity), dtype=np.int32)
        self.store = np.zeros((1024, self.tfeat.shape[1]))
        self.n_stored = 0
        self.n_patterns = np.zeros(self.n_trees, dtype=np.int64)

    @property
    def cached_patterns(self) -> int:
        """Distinct (tree, decision pattern) pairs whose SHAP values are cached."""
        return int(self.n_stored) if self.supported else 0

    def _grow(self, insert_k):
        """Double the hash tables until each tree's load stays at most one half."""
        cap = self.keys.shape[1]
        while 2 * int(self.n_patterns.max()) > cap:
            cap *= 2
        if cap == self.keys.shape[1]:
            return
        old_keys, old_ids = self.keys, self.ids
        self.shift = 64 - int(np.log2(cap))
        self.keys = np.full((self.n_trees, cap), _EMPTY, dtype=np.int64)
        self.ids = np.zeros((self.n_trees, cap), dtype=np.int32)
        for t in range(self.n_trees):
            filled = old_keys[t] != _EMPTY
            insert_k(self.keys, self.ids, t, old_keys[t][filled], old_ids[t][filled], self.shift)

    def contributions(self, A: np.ndarray) -> np.ndarray:
        """SHAP values, shape (rows, features + 1), the last column the expected value.

        ``A`` is the float64 matrix the booster predicts from (see :func:`lightgbm_matrix`).
        """
        A = np.ascontiguousarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != self.n_features:
            # the kernels index columns unchecked: a narrower matrix must never reach them
            raise ValueError(f"the model reads {self.n_features} features per row, got an array of shape {A.shape}")
        if not self.supported:
            return self._lgb_contrib(A)
        if len(A) == 0:
            return np.zeros((0, self.n_features + 1))
        try:
            kernels = _compile()
        except ImportError:  # numba missing or unusable here: LightGBM's own pred_contrib
            return self._lgb_contrib(A)
        with self._lock:  # the cache is shared state
            parts = [self._block(A[s : s + _BLOCK], kernels) for s in range(0, len(A), _BLOCK)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _block(self, A: np.ndarray, kernels) -> np.ndarray:
        codes_k, lookup_k, insert_k, accumulate_k = kernels
        if self.n_stored * self.store.shape[1] * 8 > _MAX_CACHE_BYTES:  # start over (values stay exact)
            self._reset_cache()
        codes = codes_k(self._decisions(A), self.nnodes, self.col, self.thr)
        pattern = lookup_k(codes, self.keys, self.ids, self.shift)
        miss_trees, miss_rows = np.nonzero(pattern < 0)  # tree-major: grouped by tree
        if len(miss_rows):
            bounds = np.flatnonzero(np.diff(miss_trees)) + 1
            for start, rows in zip(np.concatenate(([0], bounds)), np.split(miss_rows, bounds)):
                # this tree's new patterns: LightGBM's TreeSHAP once each, on a representative row
                t = int(miss_trees[start])
                uniq, first, inverse = np.unique(codes[t, rows], return_index=True, return_inverse=True)
                vals = self._lgb_contrib(A[rows[first]], tree=t)[:, self.tfeat[t, : self.tk[t]]]
                new_ids = np.arange(self.n_stored, self.n_stored + len(uniq), dtype=np.int32)
                self._append(vals)
                self.n_patterns[t] += len(uniq)
                self._grow(insert_k)
                insert_k(self.keys, self.ids, t, uniq, new_ids, self.shift)
                pattern[t, rows] = new_ids[inverse]
        return accumulate_k(pattern, self.store, self.tfeat, self.tk, self.n_features, self.base)

    def _append(self, vals: np.ndarray):
        need = self.n_stored + len(vals)
        if need > len(self.store):
            grown = np.zeros((max(need, 2 * len(self.store)), self.store.shape[1]))
            grown[: self.n_stored] = self.store[: self.n_stored]
            self.store = grown
        self.store[self.n_stored : need, : vals.shape[1]] = vals
        self.n_stored = need


def lightgbm_matrix(X: pd.DataFrame) -> np.ndarray:
    """The float64 matrix LightGBM's predictor sees for a prepared frame: categorical columns
    as their category codes with missing as NaN, everything else as float64."""
    out = np.empty(X.shape, dtype=np.float64)
    for j, col in enumerate(X.columns):
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out
