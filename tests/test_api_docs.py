"""The public API is documented the numpydoc way, with examples that run as doctests
(`--doctest-modules` in pyproject.toml)."""

import inspect

import pytest

import churnlab

RESULT_CONTAINERS = {"LabelResult", "TrainingSet", "TrainResult"}  # attributes, built by functions


def _public():
    return [n for n in churnlab.__all__ if n not in ("__version__", "CDNOW_PROTOCOL")]


@pytest.mark.parametrize("name", _public())
def test_public_names_have_numpydoc_sections(name):
    obj = getattr(churnlab, name)
    doc = inspect.getdoc(obj) or ""
    assert doc, name
    if inspect.isclass(obj) and issubclass(obj, Exception):
        return
    if inspect.isclass(obj):
        assert "Parameters" in doc or "Attributes" in doc, name
        if name not in RESULT_CONTAINERS:
            assert ">>>" in doc, f"{name}: no example"
        return
    params = [p for p in inspect.signature(obj).parameters.values() if p.kind is not p.VAR_KEYWORD]
    if params:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
    if inspect.signature(obj).return_annotation not in (None, "None"):
        assert "Returns\n-------" in doc, f"{name}: no Returns section"
    assert "Examples\n--------" in doc and ">>>" in doc, f"{name}: no example"


def test_the_public_api_is_curated_and_importable():
    assert len(churnlab.__all__) == len(set(churnlab.__all__))
    for name in churnlab.__all__:
        assert getattr(churnlab, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'explain_everything'"):
        churnlab.explain_everything  # noqa: B018
    # a subpackage and a function no longer share a name
    import importlib

    assert inspect.ismodule(importlib.import_module("churnlab.explain")) and callable(churnlab.shap_values)
