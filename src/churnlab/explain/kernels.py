"""The TreeSHAP engine's numba kernels (see :mod:`churnlab.explain.treeshap`).

Imported on first use only, so that numba is imported and the kernels compiled (or read from
numba's disk cache) only when SHAP values are asked for. Kernels live at module level, not in
a closure, so that numba can cache them on disk: a fresh process then loads them instead of
compiling them again.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _jit(**options):
    """``njit(nogil=True)`` with an on-disk cache where numba finds a writable place for one
    (else, e.g. a read-only install and home, compiled in memory on each run)."""

    def wrap(func):
        try:
            return njit(cache=True, nogil=True, **options)(func)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(nogil=True, **options)(func)

    return wrap


# Layouts are tree-major / column-major so that the inner loops run over rows.
@_jit(parallel=True)
def decisions_kernel(A, feat, how, default_left, catmask, zero):
    # One row per decision column: ``D[c, i] <= threshold`` is "goes left" (LightGBM's
    # Tree::Decision). ``how``: 0 missing type None (NaN read as 0), 1 NaN, 2 Zero (NaN and 0
    # go the default way, encoded as -inf for left and +inf for right), 3 categorical (0.0
    # where the category goes left, else 1.0; NaN, negative and unknown codes go right).
    n, C = A.shape[0], feat.shape[0]
    D = np.empty((C, n))
    for c in prange(C):
        f, h = feat[c], how[c]
        default = -np.inf if default_left[c] else np.inf
        for i in range(n):
            v = A[i, f]
            if abs(v) <= zero:  # the predictor reads |v| <= kZeroThreshold as zero
                v = 0.0
            if h == 3:
                left = False
                if np.isfinite(v) and v > -1.0 and v < 2.0**31:
                    k = np.int64(np.trunc(v))
                    left = k < catmask.shape[1] and catmask[c, k]
                D[c, i] = 0.0 if left else 1.0
            elif np.isnan(v):
                D[c, i] = 0.0 if h == 0 else default
            elif h == 2 and v == 0.0:
                D[c, i] = default
            else:
                D[c, i] = v
    return D


@_jit(parallel=True)
def codes_kernel(D, nnodes, col, thr):
    T, n = nnodes.shape[0], D.shape[1]
    out = np.zeros((T, n), dtype=np.int64)
    for t in prange(T):
        for j in range(nnodes[t]):
            c, th, sh = col[t, j], thr[t, j], np.int64(j)
            for i in range(n):
                out[t, i] |= np.int64(D[c, i] <= th) << sh
    return out


@_jit(inline="always")
def slot_of(code, shift):  # Fibonacci hashing of the 64-bit pattern
    return np.int64((np.uint64(code) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(shift))


@_jit(parallel=True)
def lookup_kernel(codes, keys, ids, shift):
    # Each row's cached pattern id per tree, or for a pattern not cached yet -2 - its rank
    # among the tree's new patterns, numbered in order of first appearance (the same rows get
    # the same numbers). Also returns the new (tree, pattern) pairs, tree by tree, and how
    # many each tree has.
    T, n = codes.shape
    mask = np.int64(keys.shape[1] - 1)
    out = np.empty((T, n), dtype=np.int32)
    misses = np.zeros(T, dtype=np.int64)
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
            misses[t] += r < 0
    start = np.cumsum(misses) - misses
    fresh = np.empty(misses.sum(), dtype=np.int64)
    n_fresh = np.zeros(T, dtype=np.int64)
    for t in prange(T):
        if misses[t] == 0:
            continue
        cap = 16  # the misses' distinct patterns, in a table of their own at load <= 1/2
        while cap < 2 * misses[t]:
            cap *= 2
        seen = np.full(cap, -1, dtype=np.int64)
        rank = np.empty(cap, dtype=np.int32)
        local_shift, local_mask = np.int64(64 - int(np.log2(cap))), np.int64(cap - 1)
        for i in range(n):
            if out[t, i] != -1:
                continue
            c = codes[t, i]
            u = slot_of(c, local_shift)
            while seen[u] != -1 and seen[u] != c:
                u = (u + 1) & local_mask
            if seen[u] == -1:
                seen[u] = c
                rank[u] = n_fresh[t]
                fresh[start[t] + n_fresh[t]] = c
                n_fresh[t] += 1
            out[t, i] = -2 - rank[u]
    new_trees = np.empty(n_fresh.sum(), dtype=np.int64)
    new_codes = np.empty(n_fresh.sum(), dtype=np.int64)
    q = 0
    for t in range(T):
        for j in range(n_fresh[t]):
            new_trees[q], new_codes[q] = t, fresh[start[t] + j]
            q += 1
    return out, new_trees, new_codes, n_fresh


@_jit()
def insert_kernel(keys, ids, trees, new_codes, new_ids, shift):
    mask = np.int64(keys.shape[1] - 1)
    for q in range(new_codes.shape[0]):
        t, c = trees[q], new_codes[q]
        s = slot_of(c, shift)
        while keys[t, s] != -1 and keys[t, s] != c:
            s = (s + 1) & mask
        keys[t, s] = c
        ids[t, s] = new_ids[q]


@_jit(parallel=True)
def accumulate_kernel(pattern, first_new, store, leafval, tfeat, tk, n_features, base):
    # A pattern new to this call (-2 - rank) is stored at first_new[tree] + rank. Trees are added in order for every (row, feature): the result does not depend on
    # how rows are split into blocks or threads. The margin adds leaf values in tree order
    # from 0.0, as LightGBM's GBDT::PredictRaw does, so it is bit-identical to raw_score.
    T, n = pattern.shape
    out = np.zeros((n, n_features + 1))
    margin = np.zeros(n)
    step = 256
    for b in prange((n + step - 1) // step):
        lo, hi = b * step, min(n, b * step + step)
        for t in range(T):  # one tree's cached values at a time stay in cache
            k = tk[t]
            for i in range(lo, hi):
                p = np.int64(pattern[t, i])
                if p < 0:
                    p = first_new[t] - 2 - p
                margin[i] += leafval[p]
                for j in range(k):
                    out[i, tfeat[t, j]] += store[p, j]
        for i in range(lo, hi):
            out[i, n_features] = base
    return out, margin


# Path-dependent TreeSHAP (Lundberg et al. 2018, Algorithm 2) for one tree and one decision
# pattern, with the arithmetic written as LightGBM's Tree::TreeSHAP writes it (same
# operations in the same order), so a pattern's values are LightGBM's pred_contrib values
# for any row with that pattern. A path is four arrays (feature, zero fraction, one
# fraction, weight) with the segment of each recursion level starting at ``b``.
@_jit(inline="always")
def extend_path(fi, zf, of, pw, b, d, zero, one, feature):
    fi[b + d], zf[b + d], of[b + d] = feature, zero, one
    pw[b + d] = 1.0 if d == 0 else 0.0
    for i in range(d - 1, -1, -1):
        pw[b + i + 1] += one * pw[b + i] * (i + 1) / float(d + 1)
        pw[b + i] = zero * pw[b + i] * (d - i) / float(d + 1)


@_jit(inline="always")
def unwind_path(fi, zf, of, pw, b, d, k):
    one, zero = of[b + k], zf[b + k]
    carry = pw[b + d]
    for i in range(d - 1, -1, -1):
        if one != 0:
            kept = pw[b + i]
            pw[b + i] = carry * (d + 1) / ((i + 1) * one)
            carry = kept - pw[b + i] * zero * (d - i) / float(d + 1)
        else:
            pw[b + i] = (pw[b + i] * (d + 1)) / (zero * (d - i))
    for i in range(k, d):
        fi[b + i], zf[b + i], of[b + i] = fi[b + i + 1], zf[b + i + 1], of[b + i + 1]


@_jit(inline="always")
def unwound_sum(zf, of, pw, b, d, k):
    one, zero = of[b + k], zf[b + k]
    carry = pw[b + d]
    total = 0.0
    for i in range(d - 1, -1, -1):
        if one != 0:
            part = carry * (d + 1) / ((i + 1) * one)
            total += part
            carry = pw[b + i] - part * zero * ((d - i) / float(d + 1))
        else:
            total += (pw[b + i] / zero) / ((d - i) / float(d + 1))
    return total


@_jit(inline="always")
def tree_shap(code, t, left, right, feature, icount, lcount, leaves, phi, fi, zf, of, pw, stack, fracs):
    # Tree::TreeSHAP's recursion with an explicit stack; a frame is (node, depth, parent
    # segment, feature) plus its (zero, one) fractions. The hot child is pushed last so it
    # runs first, as in the recursion; a subtree never writes below its parent's segment,
    # so the cold child still finds the parent's path as it was.
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = 0, 0, 0, -1
    fracs[0, 0], fracs[0, 1] = 1.0, 1.0
    top = 1
    while top > 0:
        top -= 1
        node, d, parent, pfeature = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        b = parent + d
        for q in range(d):  # this level's copy of the parent's path
            fi[b + q], zf[b + q], of[b + q], pw[b + q] = fi[parent + q], zf[parent + q], of[parent + q], pw[parent + q]
        extend_path(fi, zf, of, pw, b, d, fracs[top, 0], fracs[top, 1], pfeature)
        if node < 0:
            for i in range(1, d + 1):
                w = unwound_sum(zf, of, pw, b, d, i)
                phi[fi[b + i]] += w * (of[b + i] - zf[b + i]) * leaves[t, ~node]
            continue
        goes_left = (code >> np.int64(node)) & np.int64(1)
        hot = left[t, node] if goes_left else right[t, node]
        cold = right[t, node] if goes_left else left[t, node]
        w = float(icount[t, node])
        hot_zero = (icount[t, hot] if hot >= 0 else lcount[t, ~hot]) / w
        cold_zero = (icount[t, cold] if cold >= 0 else lcount[t, ~cold]) / w
        in_zero, in_one = 1.0, 1.0
        f = feature[t, node]
        k = 0
        while k <= d and fi[b + k] != f:  # split on this feature before: undo it, redo it here
            k += 1
        if k != d + 1:
            in_zero, in_one = zf[b + k], of[b + k]
            unwind_path(fi, zf, of, pw, b, d, k)
            d -= 1
        stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = cold, d + 1, b, f
        fracs[top, 0], fracs[top, 1] = cold_zero * in_zero, 0.0
        stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2], stack[top + 1, 3] = hot, d + 1, b, f
        fracs[top + 1, 0], fracs[top + 1, 1] = hot_zero * in_zero, in_one
        top += 2


@_jit(parallel=True)
def pattern_kernel(trees, codes, root, left, right, feature, icount, lcount, leaves, tfeat, tk, n_features, width):
    # SHAP values (at the tree's tfeat slots) and leaf value of each (tree, pattern); pairs
    # are independent, so blocks of them run in parallel, each with its own work arrays
    n = trees.shape[0]
    vals = np.zeros((n, width))
    leaf = np.empty(n)
    m = left.shape[1]
    size = (m + 2) * (m + 3) // 2  # the path segments of every level
    step = 64
    for b in prange((n + step - 1) // step):
        phi = np.zeros(n_features)
        fi = np.empty(size, dtype=np.int64)
        zf, of, pw = np.empty(size), np.empty(size), np.empty(size)
        stack = np.empty((2 * m + 4, 4), dtype=np.int64)
        fracs = np.empty((2 * m + 4, 2))
        for q in range(b * step, min(n, b * step + step)):
            t, code = trees[q], codes[q]
            node = root[t]
            while node >= 0:  # bit j of a pattern is "goes left at node j"
                node = left[t, node] if (code >> np.int64(node)) & np.int64(1) else right[t, node]
            leaf[q] = leaves[t, ~node]
            if root[t] >= 0:  # a one-leaf tree contributes nothing
                tree_shap(code, t, left, right, feature, icount, lcount, leaves, phi, fi, zf, of, pw, stack, fracs)
                for j in range(tk[t]):
                    vals[q, j] = phi[tfeat[t, j]]
                    phi[tfeat[t, j]] = 0.0
    return vals, leaf
