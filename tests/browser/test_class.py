"""Class mode in real browsers (issue 15): a teacher and three students, each in a browser context of their own (own
storage, own cookie: four people). Students draw and the teacher's wall shows each drawing, its predicted digit and
the counts per digit; the teacher pins a student's digit and every student's page runs it; a lesson card pushed
reaches every student; a student who reloads comes back to the same class, tile and pin, or to their own drawing;
ending the class tells everyone. Drawings go at most 4 a second, the latest last; a student may draw over a pin and
bring it back; axe-core finds nothing serious on either screen. Error paths say what happened in plain words: an
unknown code, an empty name, a wrong PIN, a class without one, a class lost with its server.

This file runs on one process with the in-memory class store (the `server_url` fixture); test_class_redis.py runs
the same scenario (run_class) on two uvicorn workers and a second replica sharing a real Redis.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from playwright.sync_api import Locator, Page, expect

from benchmarks.server import Server
from tests.browser.conftest import ConsoleLog, free_port, wait_for_prediction
from tests.browser.helpers import draw_digit, page_state, plot_traces, prediction, wait_for_stroke_forward
from tests.browser.test_a11y import axe_violations

STUDENTS = (("Ana", 3), ("Ben", 7), ("Chloe", 1))
PIN = "2468"
INPUT_BYTES = """(s) => s.forward && s.forward.input.data.length === 784
    ? Array.from(s.forward.input.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)) : null"""


# ---- what a person does -----------------------------------------------------------------------------------------
def start_class(page: Page, url: str, pin: str = "", title: str = "") -> str:
    """On the visualizer: Teach a class → (PIN, title) → Start; the teacher's screen opens. Returns the code."""
    page.goto(url)
    wait_for_prediction(page)
    page.get_by_test_id("class-teach-open").click()
    dialog = page.get_by_test_id("teach-dialog")
    expect(dialog).to_be_visible()
    if title:
        dialog.get_by_label("Title (optional)").fill(title)
    if pin:
        dialog.get_by_label("Teacher PIN (optional)").fill(pin)
    dialog.get_by_test_id("teach-dialog-submit").click()
    page.wait_for_url(re.compile(r"/class/[A-Z0-9]+/teach$"))
    expect(page.get_by_test_id("teach-status")).to_have_text("live")
    code = (page.get_by_test_id("teach-code").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z0-9]{4,10}", code), code
    return code


def join_class(page: Page, url: str, code: str, name: str) -> None:
    """Open the class's link (/?class=CODE): the form comes with the code; type the name and join."""
    page.goto(f"{url}/?class={code}")
    dialog = page.get_by_test_id("join-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Class code")).to_have_value(code)
    expect(dialog.get_by_label("Your name, as the class will see it")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    assert_in_class(page, code, name)
    wait_for_prediction(page)


def assert_in_class(page: Page, code: str, name: str, timeout: float = 10_000) -> None:
    expect(page.get_by_test_id("class-code")).to_have_text(code, timeout=timeout)
    expect(page.get_by_test_id("class-name")).to_have_text(name)
    expect(page.get_by_test_id("class-status")).to_have_text("connected", timeout=timeout)


def tile(teacher: Page, name: str) -> Locator:
    return teacher.get_by_test_id("tile").filter(
        has=teacher.locator(".tile-name", has_text=re.compile(f"^{re.escape(name)}$")))


def tile_bytes(teacher: Page, name: str) -> list[int]:
    """The drawing a tile shows, back as the wire's bytes (the tile paints 255 − byte, ink on paper)."""
    return list(tile(teacher, name).locator("canvas").evaluate(
        "(c) => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0),"
        " (v) => 255 - v)"))


def input_bytes(page: Page) -> list[int] | None:
    """What the page's network reads now, as the wire's bytes (28×28, 255 = ink)."""
    value = page_state(page, INPUT_BYTES)
    return None if value is None else list(value)


def wait_for_input(page: Page, expected: Sequence[int], timeout: float = 15.0) -> None:
    """Wait until the page's forward input is `expected` (784 bytes)."""
    until(lambda: input_bytes(page) == list(expected), "the page reading the expected digit", timeout)


def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `check` until it holds, else fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.1)


def counts(teacher: Page) -> list[int]:
    return [int(teacher.get_by_test_id(f"count-{k}").text_content() or "-1") for k in range(10)]


def expect_counts(teacher: Page, expected: dict[int, int]) -> None:
    want = [expected.get(k, 0) for k in range(10)]
    teacher.wait_for_function(
        "(want) => want.every((n, k) => document.querySelector(`[data-testid=count-${k}]`)?.textContent === String(n))",
        arg=want)
    assert counts(teacher) == want


def lessons_current(page: Page) -> Any:
    """The lesson card the page's lesson player has open (main.js exports it), or None."""
    return page.evaluate(
        """async () => { const m = await import(document.querySelector('script[type=module]').src);
                         return m.lessons && m.lessons.current ? m.lessons.current() : null; }""")


# ---- the scenario, shared with test_class_redis.py ----------------------------------------------------------------
def run_class(new_page: Callable[..., Page], teacher_url: str, student_urls: Sequence[str],
              full_at: str | None = None) -> None:
    """A teacher and three students (student i on student_urls[i]): draw, wall and counts, pin, lesson card, reload,
    unpin, reload to one's own drawing, end. full_at: the class takes 3 students, and a fourth, there, is told so."""
    teacher = new_page()
    code = start_class(teacher, teacher_url, pin=PIN, title="Backprop, period 3")
    expect(teacher.get_by_test_id("teach-title")).to_have_text("Backprop, period 3")
    expect(teacher.get_by_test_id("join-link")).to_have_text(re.compile(rf"/\?class={code}$"))
    expect(teacher.get_by_test_id("wall-empty")).to_be_visible()

    students: dict[str, Page] = {}
    for (name, _), url in zip(STUDENTS, student_urls, strict=True):
        page = new_page()
        join_class(page, url, code, name)
        students[name] = page
        expect(tile(teacher, name)).to_have_count(1)
        expect(teacher.get_by_test_id("teach-announce")).to_have_text(f"{name} joined.")
    expect(teacher.get_by_test_id("tile")).to_have_count(3)
    expect(teacher.get_by_test_id("teach-count")).to_have_text(re.compile(r"^3 students of \d+, 3 online$"))
    if full_at:
        late = new_page()
        late.goto(f"{full_at}/?class={code}")
        late.get_by_label("Your name, as the class will see it").fill("Dev")
        late.keyboard.press("Enter")
        expect(late.get_by_test_id("join-dialog-error")).to_have_text(
            "This class is full: it already has 3 students, the most a class may have")
        expect(teacher.get_by_test_id("tile")).to_have_count(3)

    # Each draws: the wall shows their drawing (the very bytes their network read) and the digit it was read as.
    drawn: dict[str, list[int]] = {}
    for name, digit in STUDENTS:
        page = students[name]
        draw_digit(page, digit)
        wait_for_stroke_forward(page)
        assert prediction(page) == digit
        drawn[name] = input_bytes(page) or []
        expect(tile(teacher, name)).to_have_attribute("data-prediction", str(digit))
        expect(tile(teacher, name).get_by_test_id("tile-prediction")).to_have_text(str(digit))
        until(lambda name=name: tile_bytes(teacher, name) == drawn[name], f"{name}'s drawing on the wall")
    expect_counts(teacher, {3: 1, 7: 1, 1: 1})
    teacher.wait_for_function(
        "() => { const gd = document.querySelector('.counts-plot'); return !!gd && gd.data"
        " && gd.data[0].y.reduce((a, b) => a + b, 0) === 3; }")
    bars = plot_traces(teacher.locator(".teach-counts"))
    assert bars[0]["type"] == "bar" and bars[0]["y"] == counts(teacher)

    # The teacher pins Ana's digit: every page runs it, with a notice; it does not become anybody's drawing.
    tile(teacher, "Ana").get_by_test_id("tile-pin").click()
    expect(tile(teacher, "Ana")).to_have_attribute("data-pinned", "true")
    expect(teacher.get_by_test_id("pinned-status")).to_have_text("Every screen shows Ana’s digit.")
    for name, page in students.items():
        notice = page.get_by_test_id("class-pin-notice")
        expect(notice).to_be_visible()
        expect(page.get_by_test_id("class-pin-text")).to_have_text(
            "Your teacher pinned your digit to every screen." if name == "Ana"
            else "Your teacher pinned Ana’s digit to every screen.")
        wait_for_input(page, drawn["Ana"])
        expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "3")
    teacher.wait_for_timeout(800)  # a pin sent back as Ben's or Chloe's drawing would have reached the wall by now
    expect_counts(teacher, {3: 1, 7: 1, 1: 1})
    assert tile_bytes(teacher, "Ben") == drawn["Ben"]

    # A lesson card pushed reaches every student; the pinned digit stays on their pads (the card speaks of it).
    lesson = push_lesson(teacher, students)
    for page in students.values():
        wait_for_input(page, drawn["Ana"])

    # The teacher's screen reloads: the same wall, and what every screen shows, from the server.
    teacher.reload()
    expect(teacher.get_by_test_id("teach-status")).to_have_text("live")
    expect(teacher.get_by_test_id("tile")).to_have_count(3)
    expect(tile(teacher, "Ana")).to_have_attribute("data-pinned", "true")
    expect(teacher.get_by_test_id("lesson-status")).to_contain_text(f"card {lesson['card'] + 1} of")
    expect_counts(teacher, {3: 1, 7: 1, 1: 1})

    # Ben reloads: the same class, the same tile (no new one), the pinned digit again.
    ben = students["Ben"]
    ben_id = tile(teacher, "Ben").get_attribute("data-student")
    ben.reload()
    assert_in_class(ben, code, "Ben")
    expect(ben.get_by_test_id("class-pin-notice")).to_be_visible()
    until(lambda: lessons_current(ben) == lesson, "the lesson card opening again")
    wait_for_input(ben, drawn["Ana"])
    expect(teacher.get_by_test_id("tile")).to_have_count(3)
    assert tile(teacher, "Ben").get_attribute("data-student") == ben_id
    expect(tile(teacher, "Ben")).to_have_attribute("data-online", "true")

    # Unpin: control returns, each student's own drawing comes back.
    teacher.get_by_test_id("unpin").click()
    expect(tile(teacher, "Ana")).to_have_attribute("data-pinned", "false")
    for name, digit in STUDENTS:
        page = students[name]
        expect(page.get_by_test_id("class-pin-notice")).to_be_hidden()
        wait_for_input(page, drawn[name])
        expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(digit))

    # The teacher clears the lesson card: it closes everywhere.
    teacher.get_by_test_id("push-clear").click()
    expect(teacher.get_by_test_id("lesson-status")).to_have_text("")
    for page in students.values():
        expect(page.get_by_test_id("class-lesson-notice")).to_be_hidden()
        until(lambda page=page: lessons_current(page) is None, "the lesson card closing")

    # Chloe reloads with nothing pinned: her own last drawing, not the page's sample digit, is back on her pad.
    chloe = students["Chloe"]
    chloe.reload()
    assert_in_class(chloe, code, "Chloe")
    wait_for_input(chloe, drawn["Chloe"])
    expect(chloe.get_by_test_id("prediction")).to_have_attribute("data-value", "1")
    expect_counts(teacher, {3: 1, 7: 1, 1: 1})

    # A student who leaves goes from the wall; ending the class tells everyone, in words.
    students["Chloe"].get_by_test_id("class-leave").click()
    expect(students["Chloe"].get_by_test_id("class-bar")).to_be_hidden()
    teacher.once("dialog", lambda d: d.accept())
    teacher.get_by_test_id("end-class").click()
    expect(teacher.get_by_test_id("teach-status")).to_have_text("ended")
    expect(teacher.get_by_test_id("teach-message")).to_contain_text("This class has ended")
    for name in ("Ana", "Ben"):
        page = students[name]
        expect(page.get_by_test_id("class-message-text")).to_have_text(
            "Your teacher ended the class. Your page keeps working on its own.")
        expect(page.get_by_test_id("class-code")).to_be_hidden()
        page.reload()  # nothing remembered: no rejoin
        wait_for_prediction(page)
        expect(page.get_by_test_id("class-code")).to_be_hidden()
        expect(page.get_by_test_id("join-dialog")).to_be_hidden()


def push_lesson(teacher: Page, students: dict[str, Page]) -> dict[str, Any]:
    """Push the first lesson's second card (or its first): every student's page says so and opens it. Returns the
    card as the lesson player reports it ({id, card})."""
    options = teacher.get_by_test_id("push-lesson").locator("option")
    assert options.count() > 0, "the server lists no lessons (GET /api/lessons): nothing to push"
    lesson_id = options.first.get_attribute("value")
    cards = teacher.get_by_test_id("push-card").locator("option").count()
    card = 1 if cards > 1 else 0
    teacher.get_by_test_id("push-card").select_option(str(card))
    teacher.get_by_test_id("push-lesson-button").click()
    expect(teacher.get_by_test_id("lesson-status")).to_contain_text(f"card {card + 1} of")
    for page in students.values():
        expect(page.get_by_test_id("class-lesson-notice")).to_contain_text(f"card {card + 1} of the lesson")
        until(lambda page=page: lessons_current(page) == {"id": lesson_id, "card": card}, "the lesson card opening")
    return {"id": lesson_id, "card": card}


def test_a_teacher_and_three_students(new_page: Callable[..., Page], server_url: str) -> None:
    run_class(new_page, server_url, [server_url] * 3)


def test_drawings_go_at_most_4_a_second_and_a_student_may_draw_over_a_pin(
        new_page: Callable[..., Page], server_url: str) -> None:
    teacher = new_page()
    code = start_class(teacher, server_url)
    ana, ben = new_page(), new_page()
    join_class(ana, server_url, code, "Ana")
    join_class(ben, server_url, code, "Ben")
    # The ten sample digits, one every 60 ms: forwards come faster than 4 a second, the wall gets the latest of them
    # at most every 0.25 s. The page's own clock times what its socket sends.
    ana.evaluate("""async () => {
        const { store } = await import(document.querySelector('script[type=module]').src);
        window.forwards = 0;
        window.drawings = [];
        store.subscribe((s, prev) => { if (s.forward && s.forward !== prev.forward) window.forwards += 1; });
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
          const m = JSON.parse(data);
          if (m.type === 'drawing') window.drawings.push([performance.now(), m.prediction]);
          return send.call(this, data);
        };
        for (let k = 0; k < 10; k++) {
          document.querySelector(`[data-testid=sample-${k}]`).click();
          await new Promise((r) => setTimeout(r, 60));
        } }""")
    expect(ana.get_by_test_id("prediction")).to_have_attribute("data-value", "9")
    expect(tile(teacher, "Ana")).to_have_attribute("data-prediction", "9")
    ana.wait_for_timeout(600)
    drawings, forwards = ana.evaluate("[window.drawings, window.forwards]")
    assert drawings[-1][1] == 9, "the latest drawing is sent last"
    gaps = [b[0] - a[0] for a, b in zip(drawings, drawings[1:], strict=False)]
    assert all(g >= 249 for g in gaps), f"drawings {gaps} ms apart: at most 4 a second (250 ms)"
    assert len(drawings) < forwards, f"{len(drawings)} drawings for {forwards} forwards: coalesced"

    # Ben's 7 pinned; Ana draws her own 3 over it: it is hers again (sent), and she can bring the pin back.
    draw_digit(ben, 7)
    wait_for_stroke_forward(ben)
    expect(tile(teacher, "Ben")).to_have_attribute("data-prediction", "7")
    tile(teacher, "Ben").get_by_test_id("tile-pin").click()
    pinned = input_bytes(ben) or []
    wait_for_input(ana, pinned)
    expect(ana.get_by_test_id("class-pin-show")).to_be_hidden()
    draw_digit(ana, 3)
    wait_for_stroke_forward(ana)
    expect(ana.get_by_test_id("class-pin-show")).to_be_visible()
    expect(tile(teacher, "Ana")).to_have_attribute("data-prediction", "3")
    # axe-core: no serious or critical violation on either screen as it is now (tiles, one of them offline, the
    # chart, a pin; the banner and its notice)
    cy = new_page()
    join_class(cy, server_url, code, "Cy")
    cy.close()
    expect(tile(teacher, "Cy")).to_have_attribute("data-online", "false")
    expect(tile(teacher, "Cy")).to_contain_text("offline")
    assert axe_violations(teacher) == [], "the teacher's screen"
    assert axe_violations(ana) == [], "a student's page in a class, a pin drawn over"
    ana.get_by_test_id("class-pin-show").click()
    wait_for_input(ana, pinned)
    expect(ana.get_by_test_id("class-pin-show")).to_be_hidden()
    ana.wait_for_timeout(600)
    expect(tile(teacher, "Ana")).to_have_attribute("data-prediction", "3")
    assert tile_bytes(teacher, "Ben") == pinned


def test_a_class_lost_with_its_server_is_said_in_words(new_page: Callable[..., Page], console: ConsoleLog) -> None:
    """The in-memory store forgets its classes when the server restarts: the student's screen reconnects, learns the
    class is gone and says so, and the page goes on working; a reload does not try again."""
    console.allow(r"WebSocket connection to .* failed")
    console.allow(r"Failed to load resource")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Server(port)
    try:
        server.wait_healthy()
        teacher = new_page()
        code = start_class(teacher, url)
        student = new_page()
        join_class(student, url, code, "Ana")
        server.stop()
        expect(student.get_by_test_id("class-status")).to_have_text("connection lost, reconnecting…")
        server = Server(port)
        server.wait_healthy()
        expect(student.get_by_test_id("class-message-text")).to_have_text(
            f"Class {code} has ended or expired. Your page keeps working on its own.", timeout=20_000)
        expect(student.get_by_test_id("class-code")).to_be_hidden()
        expect(teacher.get_by_test_id("teach-message")).to_have_text("This class has ended or expired.",
                                                                     timeout=20_000)
        draw_digit(student, 7)
        wait_for_stroke_forward(student)
        assert prediction(student) == 7
        student.reload()
        wait_for_prediction(student)
        expect(student.get_by_test_id("class-bar")).to_be_hidden()
    finally:
        server.stop()


# ---- error paths -----------------------------------------------------------------------------------------------
def test_an_unknown_code_and_an_empty_name_are_said_in_words(new_page: Callable[..., Page], server_url: str,
                                                             console: ConsoleLog) -> None:
    console.allow(r"status of 404")
    page = new_page()
    page.goto(f"{server_url}/?class=zz9zz9")
    dialog = page.get_by_test_id("join-dialog")
    expect(dialog.get_by_label("Class code")).to_have_value("ZZ9ZZ9")
    assert axe_violations(page) == [], "the join form"
    dialog.get_by_test_id("join-dialog-submit").click()
    expect(page.get_by_test_id("join-dialog-error")).to_have_text(
        "Type a name, so your teacher knows whose drawing is whose.")
    expect(dialog.get_by_label("Your name, as the class will see it")).to_be_focused()
    page.keyboard.type("Dana")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("join-dialog-error")).to_have_text(
        "There is no class ZZ9ZZ9: check the code, or the class may have ended.")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("class-code")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('cnn-visualizer-class')") is None


def test_the_teacher_screen_opens_elsewhere_with_the_pin_only(new_page: Callable[..., Page], server_url: str,
                                                              console: ConsoleLog) -> None:
    console.allow(r"status of 403")
    console.allow(r"status of 409")
    teacher = new_page()
    code = start_class(teacher, server_url, pin=PIN)
    other = new_page()  # another device: no teacher token in its storage
    other.goto(f"{server_url}/class/{code}/teach")
    expect(other.get_by_test_id("teach-pin-form")).to_be_visible()
    expect(other.get_by_test_id("wall")).to_be_hidden()
    other.get_by_label("Teacher PIN").fill("1111")
    other.get_by_test_id("teach-pin-submit").click()
    expect(other.get_by_test_id("teach-pin-error")).to_have_text("That is not this class's teacher PIN")
    other.get_by_label("Teacher PIN").fill(PIN)
    other.get_by_test_id("teach-pin-submit").click()
    expect(other.get_by_test_id("teach-status")).to_have_text("live")
    expect(other.get_by_test_id("teach-pin-form")).to_be_hidden()
    other.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    other.get_by_test_id("copy-join-link").click()
    expect(other.get_by_test_id("copy-status")).to_have_text("Copied.")
    assert other.evaluate("navigator.clipboard.readText()") == f"{server_url}/?class={code}"

    # The visualizer's Teach a class lists the classes this browser teaches, to go back to.
    other.goto(server_url)
    wait_for_prediction(other)
    other.get_by_test_id("class-teach-open").click()
    back = other.get_by_test_id("teach-running").get_by_role("link", name=code)
    expect(back).to_have_attribute("href", f"/class/{code}/teach")
    back.click()
    expect(other.get_by_test_id("teach-status")).to_have_text("live")

    # Without a PIN the screen stays in the browser that started the class, and says why.
    plain = start_class(new_page(), server_url)
    third = new_page()
    third.goto(f"{server_url}/class/{plain}/teach")
    third.get_by_label("Teacher PIN").fill("1234")
    third.get_by_test_id("teach-pin-submit").click()
    expect(third.get_by_test_id("teach-pin-error")).to_contain_text("started without a teacher PIN")
