"""The page's pure helpers (static/js/lib), run in Chromium against numpy and the golden numbers of seed 000.

The browser redoes some arithmetic for the learner (a conv neuron's sum, the gradient a layer passes down before the
next layer arrives, one weight's gradient): here it must agree with the seed's printed numbers and with numpy.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page

from tests.cnn.seed_example import BIAS, BIAS_AFTER_UPDATE, FORWARD_OUTPUT, LEARNING_RATE, PADDING, STRIDE, A, B, W
from tests.cnn.seed_example import W_AFTER_UPDATE as W_AFTER

TENSOR = "(t) => ({shape: t.shape, data: Float64Array.from(t.data)})"


@pytest.fixture
def lib(new_page: Callable[..., Page], server_url: str) -> Callable[..., Any]:
    """lib(js, *args): evaluate `async (m, ...args) => ...` with m = the lib modules, arrays passed as tensors."""
    page = new_page()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # a bare JSON page has no icon link
    page.goto(f"{server_url}/healthz")

    def run(js: str, *args: Any) -> Any:
        wire = [{"shape": list(a.shape), "data": a.ravel().tolist()} if isinstance(a, np.ndarray) else a for a in args]
        return page.evaluate(
            f"""async (args) => {{
                const T = {TENSOR};
                const m = {{}};
                for (const name of ['tensor', 'format', 'mosaic', 'arrange', 'backprop', 'colors', 'scheduler']) {{
                    Object.assign(m, await import(`/static/js/lib/${{name}}.js`));
                }}
                const conv = (a) => (a && a.shape && a.data ? T(a) : a);
                return ({js})(m, ...args.map(conv));
            }}""",
            wire,
        )

    return run


def test_conv_neuron_reproduces_the_seed_forward_output(lib: Callable[..., Any]) -> None:
    out = lib("""(m, x, W, b) => {
        const out = [];
        for (let f = 0; f < 2; f++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++)
            out.push(m.convNeuron(x, W, b, f, i, j, 2, 1).net);
        return out; }""", A, W, BIAS)
    np.testing.assert_array_equal(np.reshape(out, (2, 3, 3)), FORWARD_OUTPUT)


def test_weight_gradients_reproduce_the_seed_update(lib: Callable[..., Any]) -> None:
    dW, db = lib("""(m, x, delta) => {
        const dW = [];
        for (let f = 0; f < 2; f++) for (let c = 0; c < 3; c++) for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++)
            dW.push(m.convWeightGrad(x, delta, f, c, u, v, 2, 1).sum);
        return [dW, [m.mapSum(delta, 0), m.mapSum(delta, 1)]]; }""", A, B)
    np.testing.assert_allclose(W - LEARNING_RATE * np.reshape(dW, W.shape), W_AFTER, rtol=0, atol=1e-12)
    np.testing.assert_allclose(BIAS - LEARNING_RATE * np.array(db), BIAS_AFTER_UPDATE, rtol=0, atol=1e-12)


def _conv_backward_numpy(delta: np.ndarray, w: np.ndarray, in_shape: tuple[int, ...], s: int, p: int) -> np.ndarray:
    """The scatter form of ∂E/∂x, by loops: every δ[f, i, j] goes back through the weights of its window."""
    C, H, Wd = in_shape
    dx = np.zeros((C, H + 2 * p, Wd + 2 * p))
    F, _, KH, KW = w.shape
    for f in range(F):
        for i in range(delta.shape[1]):
            for j in range(delta.shape[2]):
                dx[:, i * s : i * s + KH, j * s : j * s + KW] += delta[f, i, j] * w[f]
    return dx[:, p : p + H, p : p + Wd]


def test_conv_backward_matches_numpy_and_each_cell_sum(lib: Callable[..., Any]) -> None:
    full, cells = lib("""(m, delta, W) => {
        const g = m.convBackward(delta, W, [3, 5, 5], 2, 1);
        const cells = [];
        for (let c = 0; c < 3; c++) for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++)
            cells.push(m.convInputGrad(delta, W, c, y, x, 2, 1).sum);
        return [Array.from(g.data), cells]; }""", B, W)
    expected = _conv_backward_numpy(B, W, (3, 5, 5), STRIDE, PADDING)
    np.testing.assert_allclose(np.reshape(full, (3, 5, 5)), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.reshape(cells, (3, 5, 5)), expected, rtol=0, atol=1e-12)


def test_dense_relu_and_pool_backward_match_numpy(lib: Callable[..., Any]) -> None:
    rng = np.random.default_rng(3)
    delta, w = rng.normal(size=6), rng.normal(size=(6, 4))
    net = rng.normal(size=(2, 3, 3))
    x = rng.permutation(2 * 4 * 4).reshape(2, 4, 4).astype(float)  # distinct: no ties in a window
    win = x.reshape(2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(2, 2, 2, 4)
    arg = win.argmax(-1)
    routing = np.stack([np.arange(2)[:, None] * 2 + arg // 2, np.arange(2)[None, :] * 2 + arg % 2], axis=-1)
    dout = rng.normal(size=(2, 2, 2))
    dense, relu, pool = lib("""(m, delta, W, net, dout, routing) => [
        Array.from(m.denseBackward(delta, W).data),
        Array.from(m.reluBackward(net, net).data),
        Array.from(m.poolBackward(dout, routing, [2, 4, 4]).data)]""", delta, w, net, dout, routing.astype(float))
    np.testing.assert_allclose(dense, w.T @ delta, rtol=1e-12)
    np.testing.assert_allclose(np.reshape(relu, net.shape), net * (net > 0), rtol=1e-12)
    expected = np.zeros((2, 4, 4))
    for c in range(2):
        for i in range(2):
            for j in range(2):
                expected[c, routing[c, i, j, 0], routing[c, i, j, 1]] = dout[c, i, j]
    np.testing.assert_allclose(np.reshape(pool, (2, 4, 4)), expected, rtol=1e-12)


def test_mosaic_cells_map_back_to_their_maps(lib: Callable[..., Any]) -> None:
    result = lib("""(m) => {
        const out = {};
        for (const shape of [[6, 28, 28], [16, 5, 5], [16, 6, 5, 5], [6, 1, 5, 5], [120], [400], [10, 84]]) {
            const a = m.arrange(shape, {fold: shape.length === 1 && shape[0] > 150 ? 25 : undefined});
            const n = shape.reduce((p, q) => p * q, 1);
            let ok = 0, bad = [];
            for (let k = 0; k < n; k++) {
                const idx = m.unravel(k, shape);
                const {y, x} = a.toCell(shape.length === 1 ? [k] : idx);
                const back = m.indexAt(a, y, x);
                const flat = shape.length === 1 ? back[0] : m.ravel(back, shape);
                if (flat === k) ok++; else bad.push(k);
            }
            const z = m.tile(Float64Array.from({length: n}, (_, k) => k), a.grid);
            let cells = 0;
            for (const row of z) for (const v of row) if (v !== null) cells++;
            out[shape.join('x')] = [ok, n, cells, bad.slice(0, 5)];
        }
        return out; }""")
    for key, (ok, n, cells, bad) in result.items():
        assert ok == n, f"{key}: cells that do not map back: {bad}"
        assert cells == n, f"{key}: the mosaic holds {cells} values, not {n}"


@pytest.mark.parametrize(("value", "digits", "text"), [
    (0, 4, "0"), (1.5, 4, "1.5"), (-0.000123456, 4, "−0.0001235"), (-2.5e-9, 4, "−2.5e−9"),
    (123456.7, 6, "123457"), (2.0, 6, "2"), (float("nan"), 4, "—"),
])
def test_numbers_are_formatted_for_people(lib: Callable[..., Any], value: float, digits: int, text: str) -> None:
    assert lib("(m, x, d) => m.fmt(x, d)", value, digits) == text


def test_base64_and_outer_products_decode(lib: Callable[..., Any]) -> None:
    raw = np.array([[1.5, -2.0], [0.25, 3.0]], dtype="<f4")
    b64 = base64.b64encode(raw.tobytes()).decode()
    data, dense = lib("""(m, b64) => {
        const t = m.fromBase64(b64, 'float32', [2, 2]);
        const u = {shape: [2], data: Float32Array.of(1, 2)}, v = {shape: [3], data: Float32Array.of(3, 4, 5)};
        const o = m.outer(u, v, -0.5);
        return [Array.from(t.data), Array.from(o.data)]; }""", b64)
    assert data == raw.ravel().tolist()
    np.testing.assert_array_equal(np.reshape(dense, (2, 3)), -0.5 * np.outer([1, 2], [3, 4, 5]))


def test_latest_only_never_piles_up_requests(lib: Callable[..., Any]) -> None:
    sent, results = lib("""async (m) => {
        const sent = [], results = [];
        const resolvers = [];
        const s = m.latestOnly((p) => { sent.push(p); return new Promise((r) => resolvers.push(() => r(p))); },
            {onResult: (r) => results.push(r), onError: () => {}});
        for (let k = 1; k <= 5; k++) s.request(() => k);   // 1 goes out; 2-5 collapse into the latest, 5
        resolvers.shift()();
        await new Promise((r) => setTimeout(r, 0));
        resolvers.shift()();
        await new Promise((r) => setTimeout(r, 0));
        return [sent, results]; }""")
    assert sent == [1, 5]
    assert results == [1, 5]
