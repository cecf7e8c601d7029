"""The lessons in Chromium: a walk through every shipped lesson and every card, each card's setup reached (the store's
digit, target, revealed layers, selection, neuron, the update, the lab) and its question checked against a number
this test computes on its own from the page's tensors (numpy, never the lesson's expression): a wrong number is
refused with the right direction, the right one to 3 significant figures is accepted, and the page then shows it.
Also: the list remembers progress across a reload, a lesson is used with the keyboard alone, and on a phone.

The learning lesson's last card opens the training lab on the deep sigmoid preset; that lesson's walk takes MNIST
through the mnist_dir fixture, so that it fails in CI rather than skips when the files are missing."""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import page_state
from tests.browser.test_a11y import axe_violations

READY = "() => document.getElementById('lesson').dataset.phase === 'ready'"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def lessons(server_url: str) -> list[dict[str, Any]]:
    return [get_json(f"{server_url}/api/lessons/{x['id']}") for x in get_json(f"{server_url}/api/lessons")]


# ------------------------------------------------------------------------------- reading the page's numbers

TENSOR = "(t) => t && ({shape: t.shape, data: Array.from(t.data)})"


def tensor(page: Page, select: str) -> np.ndarray:
    """A tensor of the page's state, `select` a JS function of the state returning {shape, data}."""
    t = page_state(page, f"(s) => ({TENSOR})(({select})(s))")
    assert t is not None, select
    return np.array(t["data"], dtype=np.float64).reshape(t["shape"])


def out(page: Page, name: str) -> np.ndarray:
    return tensor(page, f"(s) => s.forward.layers[s.model.layers.findIndex((L) => L.name === '{name}')]")


def delta(page: Page, name: str) -> np.ndarray:
    return tensor(page, f"(s) => s.backward.layers.find((L) => L.name === '{name}').delta")


def param(page: Page, name: str, key: str) -> np.ndarray:
    return tensor(page, f"(s) => s.params['{name}'].{key}")


def model_layer(server_url: str, name: str) -> dict[str, Any]:
    return next(L for L in get_json(f"{server_url}/api/model")["layers"] if L["name"] == name)


def conv_input_grad(d: np.ndarray, W: np.ndarray, c: int, y: int, x: int) -> float:
    """∂E/∂x[c, y, x] of a stride-1, unpadded convolution, as a plain loop: every output (f, i, j) whose window
    covers (y, x), through the weight W[f, c, y − i, x − j]."""
    F, _, K, _ = W.shape
    total = 0.0
    for f in range(F):
        for i in range(d.shape[1]):
            for j in range(d.shape[2]):
                if 0 <= y - i < K and 0 <= x - j < K:
                    total += W[f, c, y - i, x - j] * d[f, i, j]
    return total


def expected(lesson: str, k: int, page: Page, server_url: str) -> float:
    """The answer of card k of `lesson`, computed here from the page's tensors and the model, independently of the
    lesson's answer expression."""
    probs = np.array(page_state(page, "(s) => s.forward.probabilities"))
    if lesson == "forward":
        conv1, conv2 = model_layer(server_url, "conv1"), model_layer(server_url, "conv2")
        if k == 0:
            return float(conv1["in_channels"] * conv1["kernel_size"] ** 2)
        if k == 1:
            return (14 + 2 * conv2["padding"] - conv2["kernel_size"]) / conv2["stride"] + 1
        if k == 2:
            row = page_state(page, "(s) => s.lab.rows[0]")
            return (28 + 2 * row["padding"] - row["kernel_size"]) / row["stride"] + 1
        if k == 3:
            return max(0.0, float(out(page, "conv1")[0, 14, 15]))
        if k == 4:
            return float(out(page, "relu1")[1, 14:16, 14:16].max())
        return -math.log(probs[3])
    if lesson == "backward":
        if k == 0:
            return float(probs[3] - 1)
        if k == 1:
            return float(param(page, "dense3", "W")[:, 0] @ delta(page, "dense3"))
        if k == 2:
            window = out(page, "relu2")[15, 6:8, 8:10]
            winner = np.unravel_index(window.argmax(), window.shape)
            return float(delta(page, "pool2")[15, 3, 4]) if winner == (0, 0) else 0.0
        if k == 3:
            return conv_input_grad(delta(page, "conv2"), param(page, "conv2", "W"), 4, 6, 5)
        if k == 4:
            return float(delta(page, "conv2")[1].sum())
        if k == 5:
            return float(delta(page, "dense3")[3] * out(page, "relu4")[0])
        return float(delta(page, "dense3")[3]) * 1e-6
    if k == 0:
        lr = float(page.get_by_test_id("lr").input_value())
        return float(param(page, "dense3", "b")[3] - lr * delta(page, "dense3")[3])
    if k == 1:
        before, after = page_state(page, "(s) => [s.update.loss_before, s.update.loss_after]")
        return float(before - after)
    return 0.25 ** sum(r["type"] == "Sigmoid" for r in page_state(page, "(s) => s.lab.rows"))


# ------------------------------------------------------------------------------- the setup reached


def assert_setup(page: Page, setup: dict[str, Any], names: list[str]) -> None:
    """The page shows what the card's setup says."""
    s = page_state(page, """(s) => ({target: s.target, prediction: s.forward?.prediction, status: s.backward.status,
        revealed: Math.min(s.backward.revealed, s.backward.layers.length), selection: s.selection, neuron: s.neuron,
        lossName: s.backward.lossName, steps: s.update?.steps ?? 0, before: s.update?.prediction_before,
        lab: {open: s.lab.open, preset: s.lab.preset}})""")
    if "digit" in setup:
        # the sample of digit i, which the pretrained network reads as i (before the card's step, if it takes one)
        assert s["before" if setup.get("step") else "prediction"] == setup["digit"]["sample"]
    if "target" in setup:
        assert s["target"] == setup["target"]
    if "loss" in setup:
        assert s["lossName"] == setup["loss"]
    if "revealed" in setup:
        r = setup["revealed"]
        want = r if isinstance(r, int) else len(names) if r == "all" else len(names) - names.index(r)
        assert s["revealed"] == (0 if setup.get("step") else want), (s, setup)
        if want and not setup.get("step"):
            assert s["status"] == "ready"
    if "selection" in setup:
        sel = setup["selection"]
        assert s["selection"]["layer"] == names.index(sel["layer"])
        assert s["selection"]["part"] == sel.get("part", "delta")
        if sel["idx"] == "max":
            d = delta(page, sel["layer"])
            assert s["selection"]["idx"] == list(np.unravel_index(np.abs(d).argmax(), d.shape))
        else:
            assert s["selection"]["idx"] == sel["idx"]
    if "neuron" in setup:
        assert s["neuron"] == {"layer": names.index(setup["neuron"]["layer"]), "idx": setup["neuron"]["idx"]}
        expect(page.get_by_test_id("inspector")).to_be_visible()
    if "lr" in setup:
        assert float(page.get_by_test_id("lr").input_value()) == setup["lr"]
    if setup.get("reset") and not setup.get("step"):
        assert s["steps"] == 0
    if setup.get("step"):
        assert s["steps"] == 1
        expect(page.get_by_test_id("update-summary")).to_contain_text("Step 1 ")
    if setup.get("open") == "update":
        expect(page.locator("#update")).to_be_in_viewport()
    if setup.get("open") == "gradcheck":
        expect(page.locator(".card-gradcheck")).to_be_in_viewport()
    if "lab" in setup:
        assert s["lab"]["open"] and s["lab"]["preset"] == ("" if "edit" in setup["lab"] else setup["lab"]["preset"])
        expect(page.get_by_test_id("lab")).to_be_in_viewport()
        edit = setup["lab"].get("edit")
        if edit:
            row = page.get_by_test_id(f"lab-layer-{edit['layer']}")
            expect(row.get_by_label(f"Layer {edit['layer']} Conv2D {edit['field']}")).to_have_value(str(edit["value"]))
            expect(row.get_by_test_id("lab-error")).to_contain_text(f"stride {edit['value']} does not fit")


def answer_question(page: Page, value: float, sign_first: bool) -> None:
    """A wrong number refused with its direction, then the right one (3 significant figures) accepted and shown."""
    guess, verdict = page.get_by_test_id("lesson-guess"), page.get_by_test_id("lesson-verdict")
    if sign_first and value != 0:
        wrong, kind = -value, "sign"
    else:
        wrong, kind = (3 * value, "higher" if value < 0 else "lower") if value else (1.0, "lower")
    guess.fill(f"{wrong:.6g}")
    page.get_by_test_id("lesson-check").click()
    expect(verdict).to_have_attribute("data-verdict", kind)
    expect(page.get_by_test_id("lesson-answer")).to_be_hidden()
    guess.fill(f"{value:.3g}".replace("-", "\u2212"))  # as a learner may type it, with a true minus
    guess.press("Enter")
    expect(verdict).to_have_attribute("data-verdict", "right")
    expect(verdict).to_have_text("Right, to 3 significant figures.")
    expect(page.get_by_test_id("lesson-answer")).to_be_visible()
    exact = page.get_by_test_id("lesson-exact").inner_text().replace("\u2212", "-")
    assert math.isclose(float(exact), value, rel_tol=1e-5, abs_tol=1e-12), (exact, value)


def walk(page: Page, server_url: str, data: dict[str, Any]) -> None:
    names = [L["name"] for L in get_json(f"{server_url}/api/model")["layers"]]
    page.get_by_test_id("lessons-open").click()
    page.get_by_test_id(f"lesson-item-{data['id']}").click()
    for k, card in enumerate(data["cards"]):
        if k:
            page.get_by_test_id("lesson-next").click()
        expect(page.get_by_test_id("lesson-count")).to_have_text(f"Card {k + 1} of {len(data['cards'])}")
        expect(page.get_by_test_id("lesson-title")).to_have_text(card["title"])
        expect(page.get_by_test_id("lesson-title")).to_be_focused()
        page.wait_for_function(READY, timeout=30_000)
        expect(page.get_by_test_id("lesson-status")).to_be_hidden()  # no note: the page shows all the card asks
        assert_setup(page, card["setup"], names)
        text = page.get_by_test_id("lesson-text").inner_text()
        assert "{" not in text and "…" not in text, text  # every placeholder filled with a number
        answer_question(page, expected(data["id"], k, page, server_url), sign_first=k % 2 == 0)
        page.wait_for_function(READY, timeout=30_000)
        reveal = card.get("reveal")
        if reveal and "revealed" in reveal:
            r = reveal["revealed"]
            assert page_state(page, "(s) => s.backward.revealed") == len(names) - names.index(r)
        if reveal and "selection" in reveal:
            sel = page_state(page, "(s) => s.selection")
            assert sel["idx"] == reveal["selection"]["idx"] and sel["part"] == reveal["selection"]["part"]
        if reveal and reveal.get("step"):
            assert page_state(page, "(s) => s.update.steps") == 1
    expect(page.get_by_test_id("lesson-next")).to_be_disabled()
    if data["id"] == "learning":  # back to the first card after its step: the weights are the pretrained ones again
        for _ in range(len(data["cards"]) - 1):
            page.get_by_test_id("lesson-prev").click()
        expect(page.get_by_test_id("lesson-count")).to_have_text(f"Card 1 of {len(data['cards'])}")
        page.wait_for_function(READY, timeout=30_000)
        assert_setup(page, data["cards"][0]["setup"], names)


@pytest.mark.parametrize("lesson_id", ["forward", "backward", "learning"])
def test_every_card_of_every_lesson_sets_the_page_up_and_checks_its_question(
        lesson_id: str, new_page: Callable[..., Page], server_url: str, request: pytest.FixtureRequest) -> None:
    shipped = lessons(server_url)
    assert [x["id"] for x in shipped] == ["forward", "backward", "learning"]  # this walk covers every one
    data = next(x for x in shipped if x["id"] == lesson_id)
    if any("lab" in c.get("setup", {}) for c in data["cards"]):
        request.getfixturevalue("mnist_dir")  # the lab trains on MNIST: absent, fail in CI (tests/conftest.py)
    page = new_page()
    page.goto(server_url)
    wait_for_prediction(page)
    walk(page, server_url, data)
    page.get_by_test_id("lesson-close").click()
    expect(page.locator("#lesson")).to_be_hidden()
    expect(page.get_by_test_id("lessons-open")).to_be_focused()


def test_progress_is_remembered_when_the_page_is_opened_again(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lessons-open").click()
    page.get_by_test_id("lesson-item-backward").click()
    page.wait_for_function(READY)
    page.get_by_test_id("lesson-show").click()
    expect(page.get_by_test_id("lesson-verdict")).to_have_attribute("data-verdict", "shown")
    page.get_by_test_id("lesson-next").click()
    expect(page.get_by_test_id("lesson-count")).to_have_text("Card 2 of 7")
    page.goto("about:blank")
    page.goto(server_url)  # the page again, without a link's view (a link would open its own card)
    wait_for_prediction(page)
    expect(page.locator("#lesson")).to_be_hidden()
    page.get_by_test_id("lessons-open").click()
    expect(page.get_by_test_id("lesson-item-backward")).to_contain_text("7 cards · 1 answered")
    page.get_by_test_id("lesson-item-backward").click()
    expect(page.get_by_test_id("lesson-count")).to_have_text("Card 2 of 7")  # where the learner left it


def test_a_lesson_with_the_keyboard_alone(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lessons-open").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lesson-item-forward")).to_be_focused()  # the list takes the focus
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("lessons-menu")).to_be_hidden()
    expect(page.get_by_test_id("lessons-open")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("lesson-item-backward")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lesson-title")).to_be_focused()  # the card's title: where a reader starts
    expect(page.locator("#lesson")).to_have_attribute("aria-labelledby", "lesson-name lesson-card-title")
    expect(page.get_by_role("region", name="Backward: the error, layer by layer δ at the output")).to_be_visible()
    page.wait_for_function(READY)
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("lesson-guess")).to_be_focused()
    page.keyboard.type("0.5")
    page.keyboard.press("Enter")
    verdict = page.get_by_test_id("lesson-verdict")
    expect(verdict).to_have_attribute("data-verdict", "sign")
    expect(verdict).to_have_attribute("role", "status")
    # inside the card the page's keys for the backward walk (n, →, r) do not step it
    page.get_by_test_id("lesson-title").focus()
    for key in ("n", "ArrowRight", "r"):
        page.keyboard.press(key)
    assert page_state(page, "(s) => s.backward.revealed") == 1
    page.get_by_test_id("lesson-guess").focus()
    page.keyboard.press("Tab")  # Check
    page.keyboard.press("Tab")  # Show me
    expect(page.get_by_test_id("lesson-show")).to_be_focused()
    page.keyboard.press("Enter")
    expect(verdict).to_have_attribute("data-verdict", "shown")
    page.get_by_test_id("lesson-next").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lesson-count")).to_have_text("Card 2 of 7")
    expect(page.get_by_test_id("lesson-title")).to_be_focused()


def test_a_lesson_on_a_phone(new_page: Callable[..., Page], server_url: str, tmp_path: Path) -> None:
    page = new_page(width=390, height=844, touch=True)
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lessons-open").tap()
    page.get_by_test_id("lesson-item-backward").tap()
    page.wait_for_function(READY)
    card = page.locator("#lesson")
    box = card.bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] <= 0.5 * 844 and box["width"] <= 390
    for testid in ("lesson-title", "lesson-next", "lesson-guess", "lesson-check"):
        expect(page.get_by_test_id(testid)).to_be_in_viewport()
    page.get_by_test_id("lesson-guess").fill(f"{expected('backward', 0, page, server_url):.3g}")
    page.get_by_test_id("lesson-check").tap()
    expect(page.get_by_test_id("lesson-verdict")).to_have_attribute("data-verdict", "right")
    # the card stays at the top while the page scrolls under it, and folds to its header
    page.mouse.wheel(0, 1500)
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("lesson-title")).to_be_in_viewport()
    page.get_by_test_id("lesson-fold").tap()
    expect(page.get_by_test_id("lesson-guess")).to_be_hidden()
    folded = card.bounding_box()
    assert folded is not None and folded["height"] < 140
    page.get_by_test_id("lesson-fold").tap()
    page.get_by_test_id("lesson-next").tap()
    expect(page.get_by_test_id("lesson-count")).to_have_text("Card 2 of 7")


def test_the_deep_sigmoid_card_trains_and_barely_learns(new_page: Callable[..., Page], server_url: str,
                                                        mnist_dir: Path) -> None:
    """What the vanishing-gradient card says holds: its preset, trained as the card says (the lab's settings: one
    epoch of 2,000 images), gets about one test digit in ten right, chance (8.9 % when this was written)."""
    page = new_page()
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lessons-open").click()
    page.get_by_test_id("lesson-item-learning").click()
    page.wait_for_function(READY)
    for _ in range(2):
        page.get_by_test_id("lesson-next").click()
    expect(page.get_by_test_id("lesson-title")).to_have_text("Vanishing gradients with sigmoid")
    page.wait_for_function(READY)
    expect(page.get_by_test_id("lab-preset")).to_have_value("deep_sigmoid")
    expect(page.get_by_test_id("lab-summary")).to_contain_text("ready to train")
    page.get_by_test_id("lab-start").click()
    page.wait_for_function("() => ['done', 'failed', 'stopped'].includes("
                           "document.querySelector('[data-testid=lab-status]')?.dataset.state)", timeout=90_000)
    accuracy = page_state(page, "(s) => s.lab.job.done.test_accuracy")
    assert accuracy < 0.3, accuracy  # about one digit in ten: chance


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_lesson_list_and_card_pass_axe(scheme: str, new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lessons-open").click()
    expect(page.get_by_test_id("lesson-item-forward")).to_be_visible()
    assert axe_violations(page) == [], "with the lesson list open"
    page.get_by_test_id("lesson-item-backward").click()
    page.wait_for_function(READY)
    page.get_by_test_id("lesson-guess").fill("2")
    page.get_by_test_id("lesson-check").click()
    expect(page.get_by_test_id("lesson-verdict")).to_have_attribute("data-verdict", "sign")
    assert axe_violations(page) == [], "with a wrong answer's verdict"
    page.get_by_test_id("lesson-show").click()
    expect(page.get_by_test_id("lesson-answer")).to_be_visible()
    assert axe_violations(page) == [], "with the answer shown"


def test_on_a_network_trained_in_the_lab_a_card_says_so_and_waits(new_page: Callable[..., Page], server_url: str,
                                                                   mnist_dir: Path) -> None:
    """Lessons name the served network's layers: on another, the card says so plainly instead of half-working, and
    once the page is back on the pretrained network it sets itself up."""
    from tests.browser.test_lab import open_lab, train_tiny

    page = open_lab(new_page, server_url)
    train_tiny(page)
    page.get_by_test_id("lab-use").click()
    expect(page.locator("#model-summary")).to_contain_text("A network trained in the lab")
    page.get_by_test_id("lessons-open").click()
    page.get_by_test_id("lesson-item-backward").click()
    expect(page.locator("#lesson")).to_have_attribute("data-phase", "failed")
    expect(page.get_by_test_id("lesson-status")).to_contain_text("written for the pretrained network")
    expect(page.get_by_test_id("lesson-check")).to_be_disabled()
    page.get_by_test_id("lab-back").click()
    page.wait_for_function(READY, timeout=30_000)
    expect(page.get_by_test_id("lesson-status")).to_be_hidden()
    assert page_state(page, "(s) => [s.target, s.backward.revealed]") == [3, 1]
