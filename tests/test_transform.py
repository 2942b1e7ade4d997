"""The data layer: round trips, the published layout, the mode mixtures against a
reference, change-of-variables terms, images, and every input error."""

from __future__ import annotations

import copy
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from hybridgen import _serialization
from hybridgen._column_summary import ColumnSummary, TableSummary
from hybridgen.exceptions import (
    DataValidationError,
    HybridgenError,
    InvalidParameterError,
    NotFittedError,
    UnseenCategoryWarning,
)
from hybridgen.transform import (
    ColumnSpec,
    ImageTransformer,
    Span,
    TabularTransformer,
    fit_mode_mixtures,
    make_transformer,
)

from .conftest import adult_path, requires_adult

NUMERIC = ["identity", "standard", "mode"]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def assert_same_data(original: pd.DataFrame, back: pd.DataFrame) -> None:
    """Same labels, dtypes and missing pattern; categories exactly, integers exactly,
    floats within float tolerance."""
    assert list(back.columns) == list(original.columns)
    assert back.dtypes.equals(original.dtypes), (back.dtypes, original.dtypes)
    for name in original.columns:
        a, b = original[name], back[name]
        missing = a.isna().to_numpy()
        np.testing.assert_array_equal(b.isna().to_numpy(), missing, err_msg=str(name))
        if pd.api.types.is_float_dtype(a.dtype):
            np.testing.assert_allclose(
                b.to_numpy()[~missing], a.to_numpy()[~missing], rtol=1e-9, atol=1e-6
            )
        else:
            assert b[~missing].tolist() == a[~missing].tolist(), name


def observed_mask(draw, n: int) -> np.ndarray:
    """A missing mask with at least the first row observed."""
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    mask[0] = False
    return mask


@st.composite
def mixed_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    rows = {"min_size": n, "max_size": n}
    floats = np.array(
        draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), **rows))
    )
    floats[observed_mask(draw, n)] = np.nan
    nullable = np.array(draw(st.lists(st.integers(-50, 50), **rows)), dtype=object)
    nullable[observed_mask(draw, n)] = None
    city = np.array(draw(st.lists(st.sampled_from(["a", "b", "c d", "é"]), **rows)), dtype=object)
    city[observed_mask(draw, n)] = None
    size = draw(st.lists(st.sampled_from(["x", "y", "z"]), **rows))
    return pd.DataFrame(
        {
            "float": floats,
            "int": np.array(draw(st.lists(st.integers(-(10**6), 10**6), **rows)), dtype=np.int64),
            "nullable": pd.array(nullable, dtype="Int64"),
            "flag": np.array(draw(st.lists(st.booleans(), **rows))),
            "city": pd.Series(city, dtype="str"),
            "size": pd.Categorical(
                size, categories=["z", "x", "y", "w"], ordered=draw(st.booleans())
            ),
        }
    )


# ---------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("numeric", NUMERIC)
@settings(max_examples=40, deadline=None)
@given(df=mixed_frames())
def test_round_trip_property(numeric, df):
    t = TabularTransformer(numeric=numeric).fit(df)
    Z = t.transform(df)
    assert Z.dtype == np.float64 and Z.shape == (len(df), t.n_encoded_)
    assert_same_data(df, t.inverse_transform(Z))


@pytest.mark.parametrize("numeric", NUMERIC)
def test_round_trip_of_the_shared_frame(numeric, mixed_frame):
    t = TabularTransformer(numeric=numeric).fit(mixed_frame)
    assert_same_data(mixed_frame, t.inverse_transform(t.transform(mixed_frame)))


@pytest.mark.parametrize("numeric", NUMERIC)
def test_array_round_trip(numeric, rng):
    X = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1]
    X[::7, 1] = np.nan
    t = TabularTransformer(numeric=numeric).fit(X)
    back = t.inverse_transform(t.transform(X))
    assert isinstance(back, np.ndarray) and back.dtype == np.float64 and back.shape == X.shape
    np.testing.assert_allclose(back, X, rtol=1e-9, atol=1e-12)
    assert t.input_kind_ == "array" and t.feature_names_in_ is None
    assert [c.name for c in t.columns_] == [0, 1, 2]


def test_object_array_of_numbers_and_lists_are_accepted():
    X = np.array([[1, 2.5], [3, 4.0]], dtype=object)
    t = TabularTransformer().fit(X)
    np.testing.assert_array_equal(t.transform([[1, 2.5], [3, 4.0]]), [[1, 2.5], [3, 4.0]])


def test_dtypes_are_restored(rng):
    n = 40
    df = pd.DataFrame(
        {
            "f32": rng.normal(size=n).astype(np.float32),
            "u8": rng.integers(0, 200, n).astype(np.uint8),
            "nullable_bool": pd.array([True, None, False, True] * 10, dtype="boolean"),
            "obj_str": np.array(["p", "q"] * 20, dtype=object),
            "obj_num": np.array([1.5, 2, None, 3] * 10, dtype=object),
            "Float": pd.array([0.5, None] * 20, dtype="Float64"),
        }
    )
    t = TabularTransformer(numeric="standard").fit(df)
    assert [c.kind for c in t.columns_] == [
        "float",
        "integer",
        "boolean",
        "categorical",
        "float",
        "float",
    ]
    back = t.inverse_transform(t.transform(df))
    assert back.dtypes.equals(df.dtypes)
    pd.testing.assert_frame_equal(
        back.drop(columns=["f32", "obj_num", "Float"]), df.drop(columns=["f32", "obj_num", "Float"])
    )


def test_column_kinds_override(rng):
    df = pd.DataFrame({"code": rng.choice([3, 7, 9], 30), "flag": rng.integers(0, 2, 30)})
    t = TabularTransformer(column_kinds={"code": "categorical", "flag": "boolean"}).fit(df)
    assert t.columns_[0].kind == "categorical" and t.columns_[0].categories == (3, 7, 9)
    assert t.columns_[1].kind == "boolean"
    assert [s.kind for s in t.layout_] == ["categorical", "categorical"]
    pd.testing.assert_frame_equal(t.inverse_transform(t.transform(df)), df)


def test_inverse_of_model_output_argmax_round_and_clip():
    df = pd.DataFrame(
        {"n": [0, 5, 10], "c": pd.Series(["a", "b", None], dtype="str"), "x": [0.0, np.nan, 1.0]}
    )
    t = TabularTransformer().fit(df)
    assert [s.kind for s in t.layout_] == ["continuous", "categorical", "continuous", "missing"]
    Z = np.array(
        [
            [-3.4, 0.2, 0.7, 0.1, 7.5, 0.2],
            [4.6, 0.6, 0.3, 0.1, -9.0, 0.9],
            [99.0, 0.1, 0.2, 0.3, 0.5, 0.4],
        ]
    )
    back = t.inverse_transform(Z)
    assert back["n"].tolist() == [0, 5, 10]  # rounded, then clipped to [0, 10]
    assert back["c"].tolist()[:2] == ["b", "a"] and pd.isna(back["c"][2])
    assert back["x"].tolist()[0] == 7.5 and np.isnan(back["x"][1]) and back["x"][2] == 0.5
    assert back.dtypes.equals(df.dtypes)


@requires_adult
def test_adult_round_trip_with_modes():
    df = pd.read_csv(adult_path())
    t = TabularTransformer(numeric="mode").fit(df)
    back = t.inverse_transform(t.transform(df))
    pd.testing.assert_frame_equal(back, df)
    widths = {s.column: s.width for s in t.layout_ if s.kind == "mode"}
    assert set(widths) == set(df.select_dtypes("number").columns)
    assert all(1 <= w <= 10 for w in widths.values())


# ---------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("numeric", NUMERIC)
def test_layout_is_contiguous_and_as_specified(numeric, mixed_frame):
    t = TabularTransformer(numeric=numeric).fit(mixed_frame)
    assert sum(s.width for s in t.layout_) == t.n_encoded_
    assert [s.start for s in t.layout_] == list(np.cumsum([0] + [s.width for s in t.layout_])[:-1])
    by_column = {}
    for span in t.layout_:
        by_column.setdefault(span.column, []).append((span.kind, span.activation))
    value = (
        [("continuous", "tanh"), ("mode", "softmax")]
        if numeric == "mode"
        else [("continuous", "linear")]
    )
    assert by_column["age"] == value
    assert by_column["income"] == value + [("missing", "sigmoid")]
    assert by_column["member"] == [("categorical", "softmax")]
    spans = {s.column: s for s in t.layout_ if s.kind == "categorical"}
    assert spans["city"].width == 3 + 1  # north/south/east + missing
    assert spans["size"].width == 3
    assert [c.name for c in t.columns_] == list(mixed_frame.columns)
    assert list(by_column) == list(mixed_frame.columns)


def test_column_specs(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    specs = {c.name: c for c in t.columns_}
    assert specs["age"] == ColumnSpec(
        "age",
        "integer",
        "int64",
        minimum=float(mixed_frame["age"].min()),
        maximum=float(mixed_frame["age"].max()),
    )
    assert specs["city"].categories == ("east", "north", "south") and specs["city"].has_missing
    assert specs["city"].dtype == "str"
    assert specs["city"].missing_rate == pytest.approx(mixed_frame["city"].isna().mean())
    assert specs["size"].categories == ("S", "M", "L") and specs["size"].dtype == "category"
    assert specs["member"].kind == "boolean" and specs["member"].categories == (False, True)
    np.testing.assert_array_equal(t.feature_names_in_, np.array(list(mixed_frame), dtype=object))
    assert t.feature_names_in_.dtype == object and t.n_features_in_ == 5


def test_encoding_values(mixed_frame):
    t = TabularTransformer(numeric="standard").fit(mixed_frame)
    Z = t.transform(mixed_frame)
    span = {(s.column, s.kind): s.start for s in t.layout_}
    income = mixed_frame["income"]
    observed = income.notna().to_numpy()
    expected = (income - income.mean()) / income.std(ddof=0)
    np.testing.assert_allclose(Z[observed, span["income", "continuous"]], expected[observed])
    assert (Z[~observed, span["income", "continuous"]] == 0).all()
    np.testing.assert_array_equal(Z[:, span["income", "missing"]], ~observed)
    city = t.layout_[[s.column for s in t.layout_].index("city")]
    block = Z[:, city.start : city.start + city.width]
    assert (block.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(block[:, -1], mixed_frame["city"].isna())
    identity = TabularTransformer().fit(mixed_frame)
    Zi = identity.transform(mixed_frame)
    filled = Zi[~observed, span["income", "continuous"]]
    np.testing.assert_allclose(filled, income.mean(), rtol=1e-14)


def test_mode_encoding_values():
    x = np.concatenate([np.zeros(50), np.linspace(10, 11, 50)])
    t = TabularTransformer(numeric="mode", max_modes=3).fit(x[:, None])
    params = t.numeric_params_[0]
    assert set(params) == {"weights", "means", "stds"}
    assert params["weights"].sum() == pytest.approx(1.0) and (params["weights"] >= 0.005).all()
    Z = t.transform(x[:, None])
    modes = Z[:, 1:].argmax(axis=1)
    assert (Z[:, 1:].sum(axis=1) == 1).all()
    m, s = params["means"][modes], params["stds"][modes]
    np.testing.assert_allclose(Z[:, 0], (x - m) / (4 * s))


# ---------------------------------------------------------------------------------------
# mode mixtures
# ---------------------------------------------------------------------------------------
def test_mode_mixture_matches_sklearn_on_two_clusters(rng):
    x = np.concatenate([rng.normal(-2.0, 0.5, 600), rng.normal(3.0, 1.0, 400)])
    weights, means, stds = fit_mode_mixtures(x[:, None], 2, n_iter=500, tol=1e-10)
    ref = SkGaussianMixture(2, tol=1e-10, max_iter=1000, random_state=0).fit(x[:, None])
    order = np.argsort(ref.means_[:, 0])
    np.testing.assert_allclose(means[0], ref.means_[order, 0], atol=1e-3)
    np.testing.assert_allclose(weights[0], ref.weights_[order], atol=1e-3)
    np.testing.assert_allclose(stds[0], np.sqrt(ref.covariances_[order, 0, 0]), atol=1e-3)


def test_mode_mixtures_of_several_columns_equal_one_at_a_time(rng):
    n = 500
    values = np.column_stack(
        [
            rng.normal(size=n),
            np.where(rng.random(n) < 0.7, 0.0, rng.exponential(100.0, n)),  # spike at 0
            rng.integers(0, 3, n).astype(float),  # 3 distinct values
            rng.gamma(2.0, 5.0, n),
        ]
    )
    values[rng.random(n) < 0.1, 3] = np.nan
    together = fit_mode_mixtures(values, 5)
    for j in range(values.shape[1]):
        alone = fit_mode_mixtures(values[:, [j]], 5)
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_allclose(a[j], b[0], rtol=1e-10, atol=1e-12)
    weights, means, stds = together
    assert weights.shape == (4, 5)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights[2] > 0).sum() <= 3
    assert np.isfinite(stds).all() and (stds > 0).all()
    # the spike keeps a finite width: the floor, 1e-3 of the column's std
    spike = np.argmin(np.abs(means[1]) + (weights[1] == 0))
    assert stds[1, spike] == pytest.approx(1e-3 * values[:, 1].std())


def test_mode_mixture_is_deterministic_and_handles_constants():
    values = np.column_stack([np.full(20, 7.0), np.arange(20.0)])
    first, second = fit_mode_mixtures(values, 4), fit_mode_mixtures(values, 4)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    weights, means, stds = first
    assert weights[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert means[0, 0] == 7.0 and 0 < stds[0, 0] <= 1e-3


def test_duplicate_modes_on_a_spike_are_merged():
    x = np.concatenate([np.zeros(900), np.linspace(1.0, 100.0, 100)])
    weights, means, _ = fit_mode_mixtures(x[:, None], 10)
    at_zero = (weights[0] > 0) & (np.abs(means[0]) < 1e-6)
    assert at_zero.sum() == 1
    assert weights[0][at_zero][0] == pytest.approx(0.9, abs=1e-3)


# ---------------------------------------------------------------------------------------
# change of variables
# ---------------------------------------------------------------------------------------
def test_standard_log_abs_det_jacobian_closed_form(mixed_frame):
    t = TabularTransformer(numeric="standard").fit(mixed_frame)
    Z = t.transform(mixed_frame)
    std_age = mixed_frame["age"].std(ddof=0)
    std_income = mixed_frame["income"].std(ddof=0)
    observed = mixed_frame["income"].notna().to_numpy()
    expected = -np.log(std_age) - np.log(std_income) * observed
    np.testing.assert_allclose(t.log_abs_det_jacobian(Z), expected)


def test_identity_and_mode_log_abs_det_jacobian(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    np.testing.assert_array_equal(t.log_abs_det_jacobian(t.transform(mixed_frame)), 0.0)
    m = TabularTransformer(numeric="mode").fit(mixed_frame)
    with pytest.raises(HybridgenError, match="numeric='mode'") as info:
        m.log_abs_det_jacobian(m.transform(mixed_frame))
    assert isinstance(info.value, NotImplementedError)


# ---------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 5, 4), (7, 3, 5, 4)])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_image_round_trip(shape, dtype, rng):
    if dtype == "uint8":
        X = rng.integers(0, 256, shape).astype(np.uint8)
    else:
        X = rng.random(shape).astype(dtype)
    t = make_transformer(X, numeric="mode", max_modes=3)
    assert isinstance(t, ImageTransformer)
    t.fit(X)
    D = int(np.prod(shape[1:]))
    assert t.image_shape_ == ((1, *shape[1:]) if len(shape) == 3 else shape[1:])
    assert t.channel_axis_ == (len(shape) == 4) and t.n_features_in_ == D == t.n_encoded_
    assert t.layout_ == (Span("pixels", "pixel", D, "sigmoid", 0),)
    assert t.columns_ == () and t.feature_names_in_ is None and t.input_kind_ == "image"
    Z = t.transform(X)
    assert Z.dtype == np.float64 and Z.shape == (7, D) and Z.min() >= 0 and Z.max() <= 1
    back = t.inverse_transform(Z)
    assert back.dtype == X.dtype and back.shape == X.shape
    if dtype == "uint8":
        np.testing.assert_array_equal(back, X)
        np.testing.assert_allclose(t.log_abs_det_jacobian(Z), -D * math.log(255))
    else:
        np.testing.assert_allclose(back, X, rtol=1e-6)
        np.testing.assert_array_equal(t.log_abs_det_jacobian(Z), 0.0)


def test_image_inverse_clips():
    t = ImageTransformer().fit(np.zeros((2, 2, 2), dtype=np.uint8))
    back = t.inverse_transform(np.array([[-0.5, 0.5, 1.5, 1.0]]))
    np.testing.assert_array_equal(back, [[[0, 128], [255, 255]]])


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((4, 3, 3), dtype=np.int64), "got dtype int64"),
        (np.full((4, 3, 3), 2.0), r"\[0, 1\]; got values in \[2, 2\]"),
        (np.full((4, 3, 3), np.nan), "1?36 NaN or infinite"),
        (np.array([[["a"]]]), "got dtype <U1"),
        (np.zeros((2, 2)), r"got shape \(2, 2\)"),
        ([[[0.5]]], "got a list"),
        (np.zeros((0, 3, 3)), r"0 sample\(s\)"),
    ],
)
def test_image_errors(X, match):
    with pytest.raises(DataValidationError, match=match):
        ImageTransformer().fit(X)


def test_image_shape_mismatch():
    t = ImageTransformer().fit(np.zeros((3, 4, 4), dtype=np.uint8))
    with pytest.raises(DataValidationError, match=r"\(5, 4\).*VAE.*\(4, 4\)"):
        t.transform(np.zeros((3, 5, 4), dtype=np.uint8), owner="VAE")


def test_make_transformer_dispatch(mixed_frame):
    t = make_transformer(mixed_frame, numeric="standard", max_modes=3)
    assert isinstance(t, TabularTransformer) and t.numeric == "standard" and t.max_modes == 3
    assert isinstance(make_transformer(np.zeros((3, 2))), TabularTransformer)
    assert isinstance(make_transformer([[[0.0]]]), TabularTransformer)


# ---------------------------------------------------------------------------------------
# errors and warnings
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("X", "message"),
    [
        (
            np.empty((0, 3)),
            "Found array with 0 sample(s) (shape=(0, 3)) while a minimum of 1 is required.",
        ),
        (
            np.empty((12, 0)),
            "Found array with 0 feature(s) (shape=(12, 0)) while a minimum of 1 is required.",
        ),
        (
            pd.DataFrame({"a": [], "b": [], "c": []}),
            "Found array with 0 sample(s) (shape=(0, 3)) while a minimum of 1 is required.",
        ),
        (np.array([[1 + 2j]]), "Complex data not supported"),
        (
            np.array([[{"foo": "bar"}, 1.0]], dtype=object),
            "float() argument must be a string or a real number, not 'dict'",
        ),
        (np.array([[1.0, "a"]], dtype=object), "could not convert string to float: 'a'"),
        (np.zeros(3), "Expected a 2-D array"),
        ([[[1.0]]], "Expected a 2-D array"),
        (np.array([[1.0, np.inf], [2.0, -np.inf]]), "Column 1 contains 2 infinite value(s)"),
    ],
)
def test_fit_data_errors(X, message):
    with pytest.raises(DataValidationError, match=re.escape(message)):
        TabularTransformer().fit(X)


def test_errors_are_value_and_type_errors():
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(\d*, 0\)\) while a minimum"):
        TabularTransformer().fit(np.empty((12, 0)))
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        TabularTransformer().fit(np.array([[{"foo": "bar"}]], dtype=object))
    with pytest.raises(DataValidationError, match="Reshape your data"):
        TabularTransformer().fit(np.zeros((2, 2))).transform(np.zeros(2))
    with pytest.raises(DataValidationError, match="Sparse data"):
        from scipy import sparse

        TabularTransformer().fit(sparse.csr_matrix(np.eye(3)))


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pd.Series([np.nan, np.nan, np.nan]), "Column 'bad' has no observed value"),
        (pd.Series([None, None, None], dtype="str"), "Column 'bad' has no observed value"),
        (pd.Series([1.0, np.inf, 2.0]), "Column 'bad' contains 1 infinite value(s)"),
        (
            pd.Series(["a", 1, 2.5], dtype=object),
            "Column 'bad' mixes values of types ['float', 'int', 'str']",
        ),
        (pd.Series([{"a": 1}, {}, None], dtype=object), "Column 'bad' mixes values of types"),
        (pd.Series(pd.to_datetime(["2020-01-01"] * 3)), "Column 'bad' has dtype datetime64"),
    ],
)
def test_fit_column_errors_name_the_column(column, message):
    df = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": column})
    with pytest.raises(DataValidationError, match=re.escape(message)):
        TabularTransformer().fit(df)


def test_duplicated_columns_are_refused():
    df = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(DataValidationError, match="duplicated column names"):
        TabularTransformer().fit(df)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"numeric": "minmax"},
            "The 'numeric' parameter of TabularTransformer must be a str "
            "among ['identity', 'mode', 'standard']. Got 'minmax' instead.",
        ),
        (
            {"max_modes": 0},
            "The 'max_modes' parameter of TabularTransformer must be an int in "
            "the range [1, inf). Got 0 instead.",
        ),
        ({"column_kinds": ["a"]}, "The 'column_kinds' parameter"),
        ({"column_kinds": {"nope": "float"}}, "names column 'nope', which is not in X"),
        ({"column_kinds": {"age": "date"}}, "maps column 'age' to 'date'"),
    ],
)
def test_invalid_parameters(params, message, mixed_frame):
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        TabularTransformer(**params).fit(mixed_frame)


def test_declared_kind_that_does_not_fit_the_values(mixed_frame):
    with pytest.raises(DataValidationError, match="Column 'city' must hold numbers"):
        TabularTransformer(column_kinds={"city": "float"}).fit(mixed_frame)
    with pytest.raises(DataValidationError, match="Column 'age' is declared 'boolean'"):
        TabularTransformer(column_kinds={"age": "boolean"}).fit(mixed_frame)


def test_not_fitted():
    for t in (TabularTransformer(), ImageTransformer()):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            t.transform(np.zeros((2, 2)))
        with pytest.raises(NotFittedError):
            t.inverse_transform(np.zeros((2, 2)))


def test_wrong_number_of_features_for_arrays(rng):
    t = TabularTransformer().fit(rng.normal(size=(10, 4)))
    with pytest.raises(
        DataValidationError,
        match=re.escape("X has 3 features, but GaussianMixture is expecting 4 features as input."),
    ):
        t.transform(rng.normal(size=(10, 3)), owner="GaussianMixture")
    with pytest.raises(DataValidationError, match="TabularTransformer is expecting 4"):
        t.transform(rng.normal(size=(10, 3)))


def _message(*parts: str) -> str:
    return re.escape(
        "The feature names should match those that were passed during fit.\n" + "".join(parts)
    )


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            ["age", "income", "member", "city", "size", "a"],
            _message("Feature names unseen at fit time:\n- a\n"),
        ),
        (
            ["age", "income", "member", "city"],
            _message("Feature names seen at fit time, yet now missing:\n- size\n"),
        ),
        (
            ["age", "income", "member", "city", "b"],
            _message(
                "Feature names unseen at fit time:\n- b\n",
                "Feature names seen at fit time, yet now missing:\n- size\n",
            ),
        ),
        (
            ["income", "age", "member", "city", "size"],
            _message("Feature names must be in the same order as they were in fit.\n"),
        ),
    ],
)
def test_feature_names_must_match(columns, expected, mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    X = mixed_frame.assign(a=1.0, b=2.0)[columns]
    with pytest.raises(DataValidationError, match=f"^{expected}$"):
        t.transform(X)


def test_feature_name_messages_are_sklearns(mixed_frame):
    """Same text as scikit-learn's own check for an estimator fitted on the same frame."""
    from sklearn.preprocessing import FunctionTransformer

    numeric = mixed_frame[["age", "income"]].fillna(0.0)
    reference = FunctionTransformer(validate=True).fit(numeric)
    t = TabularTransformer().fit(numeric)
    for columns in (["income", "age"], ["age"], ["age", "zz", "income"]):
        X = numeric.assign(zz=0.0)[columns]
        with pytest.raises(ValueError) as ours:
            t.transform(X)
        with pytest.raises(ValueError) as theirs:
            reference.transform(X)
        assert str(ours.value) == str(theirs.value)


def test_array_for_a_numeric_frame_warns(mixed_frame):
    numeric = mixed_frame[["age", "income"]]
    t = TabularTransformer().fit(numeric)
    with pytest.warns(
        UserWarning,
        match="X does not have valid feature names, but VAE was fitted with feature names",
    ):
        Z = t.transform(numeric.to_numpy(), owner="VAE")
    np.testing.assert_array_equal(Z, t.transform(numeric))


def test_array_for_a_frame_with_categories_is_refused(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    with pytest.raises(DataValidationError, match=r"categorical or boolean columns.*DataFrame"):
        t.transform(np.zeros((3, 5)))


def test_frame_for_an_array_warns(rng):
    X = rng.normal(size=(10, 2))
    t = TabularTransformer().fit(X)
    with pytest.warns(
        UserWarning,
        match="X has feature names, but TabularTransformer was fitted without feature names",
    ):
        Z = t.transform(pd.DataFrame(X, columns=["a", "b"]))
    np.testing.assert_array_equal(Z, t.transform(X))


def test_unseen_category_warns_and_gives_zero_span(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    new = mixed_frame.head(4).copy()
    new["size"] = pd.Categorical(["XL", "S", "XXL", "M"])
    with pytest.warns(UnseenCategoryWarning, match=r"column 'size' has 2 value\(s\).*'XL', 'XXL'"):
        Z = t.transform(new)
    span = next(s for s in t.layout_ if s.column == "size")
    np.testing.assert_array_equal(
        Z[:, span.start : span.start + span.width].sum(axis=1), [0, 1, 0, 1]
    )


def test_missing_where_none_was_seen(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    new = mixed_frame.head(3).copy()
    new["size"] = pd.Categorical([None, "S", "M"], categories=["S", "M", "L"])
    with pytest.warns(UnseenCategoryWarning, match=r"column 'size' has 1 value\(s\).*missing"):
        Z = t.transform(new)
    span = next(s for s in t.layout_ if s.column == "size")
    assert Z[0, span.start : span.start + span.width].sum() == 0
    new = mixed_frame.head(3).astype({"age": "float64"})
    new.loc[0, "age"] = np.nan
    with pytest.raises(DataValidationError, match="Column 'age' has 1 missing value.*GMM"):
        t.transform(new, owner="GMM")


def test_transform_time_column_errors(mixed_frame):
    t = TabularTransformer().fit(mixed_frame)
    with pytest.raises(DataValidationError, match="Column 'income' contains 1 infinite"):
        t.transform(mixed_frame.head(3).assign(income=[1.0, np.inf, 2.0]))
    with pytest.raises(DataValidationError, match="Column 'age' must hold numbers"):
        t.transform(mixed_frame.head(3).assign(age=["x", "y", "z"]))
    with pytest.raises(DataValidationError, match=re.escape("shape (n_samples, 12)")):
        t.inverse_transform(np.zeros((2, 3)))


def test_callers_data_is_never_modified(mixed_frame, rng):
    before = copy.deepcopy(mixed_frame)
    for numeric in NUMERIC:
        t = TabularTransformer(numeric=numeric).fit(mixed_frame)
        t.inverse_transform(t.transform(mixed_frame))
    pd.testing.assert_frame_equal(mixed_frame, before)
    X = rng.normal(size=(20, 2))
    X[0, 0] = np.nan
    X_before = X.copy()
    t = TabularTransformer(numeric="standard").fit(X)
    t.inverse_transform(t.transform(X))
    np.testing.assert_array_equal(X, X_before)


def test_non_str_labels_give_no_feature_names(rng):
    df = pd.DataFrame(rng.normal(size=(5, 2)))
    t = TabularTransformer().fit(df)
    assert t.feature_names_in_ is None and t.input_kind_ == "frame"
    back = t.inverse_transform(t.transform(df))
    pd.testing.assert_frame_equal(back, df, check_column_type=False)


# ---------------------------------------------------------------------------------------
# fitted state: plain data only, so base.py can save it
# ---------------------------------------------------------------------------------------
def _plain(value) -> bool:
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf" or all(isinstance(v, str) for v in value.tolist())
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, ColumnSpec | Span | ColumnSummary | TableSummary):
        return all(_plain(v) for v in vars(value).values())
    return False


@pytest.mark.parametrize("numeric", NUMERIC)
def test_fitted_state_is_plain_data_and_survives_serialization(numeric, mixed_frame):
    t = TabularTransformer(numeric=numeric).fit(mixed_frame)
    assert all(_plain(v) for v in vars(t).values()), {k: type(v) for k, v in vars(t).items()}
    arrays: dict[str, np.ndarray] = {}
    tree = _serialization.encode(t, arrays)
    twin = _serialization.decode(tree, {k: np.array(v) for k, v in arrays.items()})
    Z = t.transform(mixed_frame)
    np.testing.assert_array_equal(twin.transform(mixed_frame), Z)
    pd.testing.assert_frame_equal(twin.inverse_transform(Z), t.inverse_transform(Z))
    assert twin.layout_ == t.layout_ and twin.columns_ == t.columns_
    assert twin.summary_.columns == t.summary_.columns
