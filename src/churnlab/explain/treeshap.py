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
2. each *new* (tree, pattern) pair (found and numbered by the cache lookup itself, in
   numba) is evaluated once, pairs in parallel, by path-dependent TreeSHAP
   (:mod:`churnlab._kernels`: LightGBM's ``Tree::TreeSHAP`` with the same operations in the
   same order, so the values are bit for bit those of LightGBM's per-tree ``pred_contrib``;
   tested), together with the leaf the pattern ends in,
3. rows add up their patterns' values tree by tree, and their leaf values into the margin
   (in tree order from 0.0, as LightGBM's predictor does: the raw score to the bit).

Results equal ``pred_contrib`` up to floating-point summation order (about 1e-14). Patterns
are cached per model across calls, so scoring chunk after chunk gets cheaper as the cache
fills; the cache is bounded and cleared when it grows past ``_MAX_CACHE_BYTES``. Models this does
not cover (a tree with more than 63 splits, more than one tree per iteration, linear trees)
use ``pred_contrib`` directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import numpy as np
import pandas as pd

_MAX_NODES = 63  # a pattern is an int64 bit set
_MAX_CACHE_BYTES = 256 * 2**20  # bound on the cached values, then the cache starts over
_BLOCK = 8192  # rows per pass: bounds the (trees x rows) work arrays
# LightGBM's kZeroThreshold is the float 1e-35f; values within it are zero to the predictor
_ZERO = float(np.float32(1e-35))
_EMPTY = -1

_kernels = None


def _compile():
    """The numba kernels (:mod:`churnlab._kernels`), imported on first use: numba is imported
    and the kernels compiled (or read from numba's disk cache) only when SHAP values are."""
    global _kernels
    if _kernels is None:
        from churnlab.explain import kernels as k

        _kernels = (k.decisions_kernel, k.codes_kernel, k.lookup_kernel, k.insert_kernel, k.accumulate_kernel, k.pattern_kernel)
    return _kernels


@contextlib.contextmanager
def engine_threads(n: int | None):
    """Run the engine's numba kernels on at most ``n`` threads in the calling thread (numba's
    setting is per thread), e.g. while another thread builds features. ``None``: unchanged."""
    if n is None:
        yield
        return
    try:
        import numba
    except ImportError:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _nodes(tree: dict) -> list[dict]:
    out, stack = [], [tree["tree_structure"]]
    while stack:  # pre-order; the bit order only has to be fixed per tree
        node = stack.pop()
        if "split_index" in node:
            out.append(node)
            stack.append(node["right_child"])
            stack.append(node["left_child"])
    return out


def _children(tree: dict, nodes: list[dict]) -> tuple[int, list[int], list[int], list[float], list[int]]:
    """The tree as arrays over the split nodes of :func:`_nodes`: root, left and right child
    (a split node's position, or ``~leaf`` for a leaf), the leaf values (doubles, as the
    model stores them) and the leaves' training counts."""
    at = {id(nd): j for j, nd in enumerate(nodes)}
    values: list[float] = []
    counts: list[int] = []

    def ref(node: dict) -> int:
        if id(node) in at:
            return at[id(node)]
        values.append(float(node["leaf_value"]))
        counts.append(int(node.get("leaf_count", 0)))
        return ~(len(values) - 1)

    root = ref(tree["tree_structure"])
    left = [ref(nd["left_child"]) for nd in nodes]
    right = [ref(nd["right_child"]) for nd in nodes]
    return root, left, right, values, counts


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
        # the trees as arrays: children, split features and training counts for TreeSHAP,
        # leaf values for the margin
        shapes = [_children(tree, nodes) for tree, nodes in zip(trees, per_tree)]
        L = max(len(sh[3]) for sh in shapes)
        self.root = np.array([sh[0] for sh in shapes], dtype=np.int64)
        self.left = np.zeros((T, M), dtype=np.int64)
        self.right = np.zeros((T, M), dtype=np.int64)
        self.feature = np.zeros((T, M), dtype=np.int64)
        self.icount = np.zeros((T, M), dtype=np.int64)
        self.lcount = np.zeros((T, L), dtype=np.int64)
        self.leaves = np.zeros((T, L))
        for t, (nodes, (_, lc, rc, vals, cnt)) in enumerate(zip(per_tree, shapes)):
            self.left[t, : len(lc)], self.right[t, : len(rc)] = lc, rc
            self.feature[t, : len(nodes)] = [int(nd["split_feature"]) for nd in nodes]
            self.icount[t, : len(nodes)] = [int(nd["internal_count"]) for nd in nodes]
            self.leaves[t, : len(vals)], self.lcount[t, : len(cnt)] = vals, cnt
        K = max([len(u) for u in used] + [1])
        self.tk = np.array([len(u) for u in used], dtype=np.int32)
        self.tfeat = np.zeros((T, K), dtype=np.int32)
        for t, u in enumerate(used):
            self.tfeat[t, : len(u)] = u
        self._dcols = self._decision_columns()
        # LightGBM's own expected value (the last pred_contrib column), the same for every row
        self.base = float(self._lgb_contrib(np.zeros((1, self.n_features)))[0, -1])
        self._reset_cache()

    def kernels_available(self) -> bool:
        """Whether this engine computes (and caches) values itself, rather than calling
        LightGBM's pred_contrib (a model it does not cover, or numba unavailable)."""
        if not self.supported:
            return False
        try:
            _compile()
        except ImportError:
            return False
        return True

    def load_kernels(self) -> None:
        """Compile the numba kernels, or read them from numba's disk cache (about 0.2 s in a
        fresh process), by explaining one row of missing values (its patterns stay cached; the
        values are exact): e.g. on another thread while the first features are built."""
        if self.supported:
            self.contributions_and_margin(np.full((1, self.n_features), np.nan))

    def _lgb_contrib(self, A):
        """LightGBM's own pred_contrib: the expected value, and models the engine does not cover."""
        return self.booster.predict(A, num_iteration=self.num_iteration, pred_contrib=True)

    def _decision_columns(self):
        """The decision columns as arrays for the decisions kernel: feature, how missing values
        go (0 None, 1 NaN, 2 Zero, 3 categorical), default left, categories going left."""
        cols = sorted(self.columns.items(), key=lambda kv: kv[1])
        hows = {"None": 0, "NaN": 1, "Zero": 2, "categorical": 3}
        width = 1 + max([max(extra) for (_, how, extra), _ in cols if how == "categorical" and extra] + [0])
        catmask = np.zeros((len(cols), width), dtype=np.bool_)
        for (_, how, extra), c in cols:
            if how == "categorical":
                catmask[c, [e for e in extra if e >= 0]] = True
        return (
            np.array([f for (f, _, _), _ in cols], dtype=np.int64),
            np.array([hows[how] for (_, how, _), _ in cols], dtype=np.int64),
            np.array([how not in ("categorical", "None") and bool(extra) for (_, how, extra), _ in cols], dtype=np.bool_),
            catmask,
        )

    def _decisions(self, A: np.ndarray) -> np.ndarray:
        """One row per decision column, one column per data row: ``D[col] <= thr`` is the
        split's "goes left" (LightGBM's Tree::Decision)."""
        return _compile()[0](np.ascontiguousarray(A, dtype=np.float64), *self._dcols, _ZERO)

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
        self.leafval = np.zeros(1024)  # the leaf value of each cached (tree, pattern)
        self.n_stored = 0
        self.n_patterns = np.zeros(self.n_trees, dtype=np.int64)

    def fingerprint(self) -> str:
        """A digest of everything a pattern's values depend on (the trees' structure, splits,
        counts and leaf values): cached values are only taken by an engine with the same one."""
        h = hashlib.sha256()
        for a in (self.nnodes, self.col, self.thr, self.root, self.left, self.right, self.feature, self.icount,
                  self.lcount, self.leaves, self.tfeat, self.tk, *self._dcols):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def export_patterns(self) -> dict[str, np.ndarray]:
        """The cached (tree, pattern) values as plain arrays, for :meth:`import_patterns` (e.g.
        from a file saved with the model): each pattern's tree and code, its leaf value, and
        its SHAP values at the tree's own features only (flat)."""
        if not self.supported:
            return {}
        with self._lock:
            trees, slots = np.nonzero(self.keys != _EMPTY)
            ids = self.ids[trees, slots]
            order = np.argsort(ids, kind="stable")  # in the order they were computed
            trees, codes, ids = trees[order], self.keys[trees, slots][order], ids[order]
            own = np.arange(self.store.shape[1]) < self.tk[trees][:, None]
            return {
                "fingerprint": np.array(self.fingerprint()),
                "trees": trees.astype(np.int32),
                "codes": codes,
                "leafval": self.leafval[ids],
                "values": self.store[ids][own],
            }

    def import_patterns(self, data) -> bool:
        """Start the cache from :meth:`export_patterns`'s arrays; False (cache unchanged) if
        they belong to another model or the kernels are unavailable. The values are the very
        bits computed before, so explanations are the same as without them, only sooner."""
        if not self.supported or str(data["fingerprint"][()]) != self.fingerprint():
            return False
        try:
            insert_k = _compile()[3]
        except ImportError:
            return False
        trees = np.asarray(data["trees"], dtype=np.int64)
        codes = np.asarray(data["codes"], dtype=np.int64)
        n, width = len(trees), self.store.shape[1]
        own = np.arange(width) < self.tk[trees][:, None]
        values = np.asarray(data["values"], dtype=np.float64)
        if len(codes) != n or len(data["leafval"]) != n or values.shape != (int(own.sum()),) or (n and trees.max() >= self.n_trees):
            return False
        with self._lock:
            self._reset_cache()
            self.store = np.zeros((max(n, 1024), width))
            self.store[:n][own] = values
            self.leafval = np.zeros(max(n, 1024))
            self.leafval[:n] = data["leafval"]
            self.n_stored = n
            self.n_patterns = np.bincount(trees, minlength=self.n_trees).astype(np.int64)
            self._grow(insert_k)
            insert_k(self.keys, self.ids, trees, codes, np.arange(n, dtype=np.int32), self.shift)
        return True

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
        trees, slots = np.nonzero(old_keys != _EMPTY)
        insert_k(self.keys, self.ids, trees, old_keys[trees, slots], old_ids[trees, slots], self.shift)

    def contributions(self, A: np.ndarray) -> np.ndarray:
        """SHAP values, shape (rows, features + 1), the last column the expected value.

        ``A`` is the float64 matrix the booster predicts from (see :func:`lightgbm_matrix`).
        """
        return self.contributions_and_margin(A)[0]

    def contributions_and_margin(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`contributions` and the raw margin of the same rows from the same pass: the
        cached patterns' leaf values added in tree order, bit-identical to LightGBM's
        ``predict(raw_score=True)``."""
        A = np.ascontiguousarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != self.n_features:
            # the kernels index columns unchecked: a narrower matrix must never reach them
            raise ValueError(f"the model reads {self.n_features} features per row, got an array of shape {A.shape}")
        if len(A) == 0:
            return np.zeros((0, self.n_features + 1)), np.zeros(0)
        kernels = None
        if self.supported:
            try:
                kernels = _compile()
            except ImportError:  # numba missing or unusable here: LightGBM's own pred_contrib
                pass
        if kernels is None:
            margin = self.booster.predict(A, num_iteration=self.num_iteration, raw_score=True)
            return self._lgb_contrib(A), margin
        parts = [self._block(A[s : s + _BLOCK], kernels) for s in range(0, len(A), _BLOCK)]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([c for c, _ in parts]), np.concatenate([m for _, m in parts])

    def _block(self, A: np.ndarray, kernels) -> tuple[np.ndarray, np.ndarray]:
        _, codes_k, lookup_k, insert_k, accumulate_k, pattern_k = kernels
        # Only the cache is shared state: the rows' patterns are found before taking the lock
        # and their values summed after it, so that threads scoring other rows (batch
        # scoring's two threads) wait for each other only while looking up and adding patterns.
        codes = codes_k(self._decisions(A), self.nnodes, self.col, self.thr)
        with self._lock:
            if self.n_stored * self.store.shape[1] * 8 > _MAX_CACHE_BYTES:  # start over (values stay exact)
                self._reset_cache()
            # cached ids, and the new (tree, pattern) pairs found and numbered per tree in numba
            pattern, new_trees, new_codes, n_fresh = lookup_k(codes, self.keys, self.ids, self.shift)
            first_new = self.n_stored + np.cumsum(n_fresh) - n_fresh  # where each tree's new ones go
            if len(new_codes):  # TreeSHAP once for each new pair
                vals, leaf = pattern_k(
                    new_trees, new_codes, self.root, self.left, self.right, self.feature, self.icount, self.lcount,
                    self.leaves, self.tfeat, self.tk, self.n_features, self.store.shape[1],
                )
                new_ids = np.arange(self.n_stored, self.n_stored + len(new_codes), dtype=np.int32)
                self._append(vals, leaf)
                self.n_patterns += n_fresh
                self._grow(insert_k)
                insert_k(self.keys, self.ids, new_trees, new_codes, new_ids, self.shift)
            # the rows these ids point at are written and stay so: later patterns go to rows
            # after them or to new arrays (growth, a reset), never over them
            store, leafval = self.store, self.leafval
        return accumulate_k(pattern, first_new, store, leafval, self.tfeat, self.tk, self.n_features, self.base)

    def _append(self, vals: np.ndarray, leafval: np.ndarray):
        need = self.n_stored + len(vals)
        if need > len(self.store):
            size = max(need, 2 * len(self.store))
            grown = np.zeros((size, self.store.shape[1]))
            grown[: self.n_stored] = self.store[: self.n_stored]
            self.store = grown
            self.leafval = np.concatenate([self.leafval[: self.n_stored], np.zeros(size - self.n_stored)])
        self.store[self.n_stored : need, : vals.shape[1]] = vals
        self.leafval[self.n_stored : need] = leafval
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
