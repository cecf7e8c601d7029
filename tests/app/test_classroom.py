"""Class mode in one process with the in-memory store: classes started, joined and rejoined over HTTP; drawings,
pins, lesson cards and the end over real WebSockets (TestClient's); every refusal with its plain words; the bounds
(students, classes, message rates and sizes, PIN tries) and expiry."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.classroom import keys
from app.classroom.hub import OUTBOX_MESSAGES, Outbox
from tests.app.ws_helpers import receive_raw

Message = dict[str, Any]
IMAGE = base64.b64encode(bytes(range(256)) * 3 + bytes(16)).decode()  # 784 bytes
PROBABILITIES = [0.01] * 7 + [0.91, 0.0, 0.02]


def drawing(prediction: int = 7, image: str = IMAGE) -> Message:
    return {"type": "drawing", "image": image, "prediction": prediction, "probabilities": PROBABILITIES}


def start(client: TestClient, **body: Any) -> Message:
    r = client.post("/api/class", json=body)
    assert r.status_code == 201, r.text
    answer: Message = r.json()
    return answer


def join(client: TestClient, code: str, name: str = "Ana", token: str | None = None) -> Message:
    r = client.post(f"/api/class/{code}/join", json={"name": name, **({"token": token} if token else {})})
    assert r.status_code == 200, r.text
    answer: Message = r.json()
    return answer


def refused(response: Any, status: int, code: str, *words: str) -> Message:
    assert response.status_code == status, response.text
    body: Message = response.json()
    assert body["code"] == code, body
    assert all(w in body["detail"] for w in words), body
    return body


def receive(ws: WebSocketTestSession, timeout: float = 5.0) -> Message:
    raw = receive_raw(ws, timeout)
    assert raw["type"] == "websocket.send", f"the server closed the socket: {raw}"
    message: Message = json.loads(raw["text"])
    return message


def until(ws: WebSocketTestSession, kind: str, check: Callable[[Message], bool] = lambda m: True) -> Message:
    """The next message of `kind` that passes `check`, skipping others (online flags, echoes)."""
    for _ in range(50):
        message = receive(ws)
        if message["type"] == kind and check(message):
            return message
    pytest.fail(f"no {kind} message came")


def closed(ws: WebSocketTestSession) -> int:
    raw = receive_raw(ws)
    assert raw["type"] == "websocket.close", raw
    return int(raw["code"])


@contextmanager
def socket(client: TestClient, code: str, token: str) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect(f"/ws/class/{code}?token={token}") as ws:
        yield ws


@pytest.fixture
def classroom(client: TestClient) -> Message:
    return start(client, title="Year 11 CS", pin="1234")


# ------------------------------------------------------------------------------------------ start and join


def test_a_class_has_a_short_unambiguous_code_and_a_hashed_pin(client: TestClient) -> None:
    answers = [start(client, pin="2468", title="  Year 11 CS ") for _ in range(5)]
    for answer in answers:
        assert len(answer["code"]) == 6 and set(answer["code"]) <= set(keys.ALPHABET)
        assert not set(answer["code"]) & set("0O1IL")
        assert answer["join_url"] == f"/?class={answer['code']}"
        assert answer["expires_in"] == 4 * 3600 and answer["limits"]["students"] == 60
    assert len({a["code"] for a in answers}) == 5
    rooms = client.app.state.services.classes.store._rooms  # type: ignore[attr-defined]
    record = rooms[answers[0]["code"]].record
    assert record.title == "Year 11 CS" and "2468" not in record.pin_hash and keys.pin_matches(record.pin_hash, "2468")


@pytest.mark.parametrize(("body", "words"), [
    ({"pin": "12"}, "4 to 8 digits"), ({"pin": "12345678901"}, "4 to 8 digits"), ({"pin": "12a4"}, "4 to 8 digits"),
    ({"title": " "}, "title must be 1 to 80 characters"), ({"title": "a\u202eb"}, "not control characters")])
def test_a_bad_pin_or_title_is_refused_in_words(client: TestClient, body: Message, words: str) -> None:
    refused(client.post("/api/class", json=body), 422, "invalid_request", words)


def test_join_gives_the_student_the_class_state_and_a_token(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    answer = join(client, code.lower(), name="  Ana ")  # a code typed in lower case works too
    assert answer["student"]["name"] == "Ana" and answer["student"]["id"].startswith("s")
    assert answer["class"] == {"code": code, "title": "Year 11 CS", "pin": None, "lesson": None,
                               "expires_in": answer["class"]["expires_in"]}
    assert answer["last"] is None and answer["token"]


@pytest.mark.parametrize(("name", "words"), [
    ("", "1 to 30 characters"), ("   ", "1 to 30 characters"), ("x" * 31, "1 to 30 characters long, got 31"),
    ("An\na", "not control characters"), ("Ana\x00", "not control characters")])
def test_a_bad_name_is_refused_in_words(client: TestClient, classroom: Message, name: str, words: str) -> None:
    refused(client.post(f"/api/class/{classroom['code']}/join", json={"name": name}), 422, "invalid_request", words)


@pytest.mark.parametrize("code", ["ABCDEF", "K7QX2", "K7QX2M0", "!!!!!!", "O0O0O0"])
def test_an_unknown_code_is_404_and_says_to_check_it(client: TestClient, code: str) -> None:
    r = client.post(f"/api/class/{code}/join", json={"name": "Ana"})
    refused(r, 404, "class_not_found", "no class with this code", "check the code with your teacher")


def test_a_student_who_rejoins_comes_back_to_the_same_place(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    first = join(client, code)
    with socket(client, code, first["token"]) as ws:
        assert receive(ws)["type"] == "welcome"
        ws.send_text(json.dumps(drawing(3)))
        ws.send_text(json.dumps({"type": "ping"}))
        assert until(ws, "pong")
    again = join(client, code, token=first["token"])
    assert again["student"] == first["student"]
    assert again["last"] == {"image": IMAGE, "prediction": 3, "probabilities": PROBABILITIES}
    with socket(client, code, again["token"]) as ws:
        welcome = receive(ws)
        assert welcome["type"] == "welcome" and welcome["last"]["prediction"] == 3
    with socket(client, code, classroom["teacher_token"]) as teacher:
        roster = receive(teacher)
        assert [t["id"] for t in roster["students"]] == [first["student"]["id"]]  # one tile, not two
    other = start(client)
    stranger = join(client, other["code"], token=first["token"])  # another class's token: a new student there
    assert stranger["student"]["id"] != first["student"]["id"] and stranger["last"] is None


# ---------------------------------------------------------------------------------------------- live


def test_a_drawing_reaches_the_teachers_wall(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana = join(client, code, "Ana")
    with socket(client, code, classroom["teacher_token"]) as teacher:
        roster = receive(teacher)
        assert roster["type"] == "roster" and roster["class"]["title"] == "Year 11 CS"
        assert [(t["name"], t["online"], t["image"]) for t in roster["students"]] == [("Ana", False, None)]
        with socket(client, code, ana["token"]) as student:
            welcome = receive(student)
            assert welcome["student"] == ana["student"] and welcome["class"]["code"] == code
            online = until(teacher, "tile")
            assert online["student"]["online"] is True and online["student"]["image"] is None
            student.send_text(json.dumps(drawing(7)))
            tile = until(teacher, "tile", lambda m: m["student"]["image"] is not None)["student"]
            assert tile["id"] == ana["student"]["id"] and tile["name"] == "Ana"
            assert (tile["image"], tile["prediction"], tile["probabilities"]) == (IMAGE, 7, PROBABILITIES)
            assert abs(tile["updated"] - time.time()) < 5
            bo = join(client, code, "Bo")
            assert until(teacher, "tile")["student"]["id"] == bo["student"]["id"]  # a new tile as soon as one joins
        offline = until(teacher, "tile", lambda m: m["student"]["id"] == ana["student"]["id"])
        assert offline["student"]["online"] is False and offline["student"]["prediction"] == 7


def test_a_pin_and_a_lesson_reach_every_student_and_late_joiners(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana, bo = join(client, code, "Ana"), join(client, code, "Bo")
    with socket(client, code, classroom["teacher_token"]) as teacher, socket(client, code, ana["token"]) as a, \
            socket(client, code, bo["token"]) as b:
        receive(teacher), receive(a), receive(b)
        a.send_text(json.dumps(drawing(4)))
        until(teacher, "tile", lambda m: m["student"]["prediction"] == 4)
        teacher.send_text(json.dumps({"type": "pin", "student": ana["student"]["id"]}))
        teacher.send_text(json.dumps({"type": "lesson", "id": "2-backward", "card": 3}))
        for ws in (a, b):
            pin = until(ws, "pin")
            assert pin == {"type": "pin", "student": ana["student"]["id"], "name": "Ana", "image": IMAGE,
                           "prediction": 4}
            assert until(ws, "lesson") == {"type": "lesson", "id": "2-backward", "card": 3}
        late = join(client, code, "Cy")
        assert late["class"]["pin"]["name"] == "Ana" and late["class"]["lesson"] == {"id": "2-backward", "card": 3}
        with socket(client, code, late["token"]) as c:
            welcome = receive(c)
            assert welcome["class"]["pin"]["image"] == IMAGE and welcome["class"]["lesson"]["card"] == 3
        with socket(client, code, ana["token"]) as again:  # a reconnecting student too
            assert receive(again)["class"]["pin"]["student"] == ana["student"]["id"]
        teacher.send_text(json.dumps({"type": "unpin"}))
        teacher.send_text(json.dumps({"type": "lesson", "lesson": None}))
        for ws in (a, b):
            assert until(ws, "unpin") == {"type": "unpin"}
            assert until(ws, "lesson")["id"] is None
    assert join(client, code, "Di")["class"]["pin"] is None


def test_a_teacher_message_that_cannot_be_done_says_why(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana = join(client, code)
    with socket(client, code, classroom["teacher_token"]) as teacher:
        receive(teacher)
        cases = [({"type": "pin", "student": "s000000000000"}, "unknown_student", "no student with that id"),
                 ({"type": "pin", "student": ana["student"]["id"]}, "no_drawing", "Ana has not drawn anything yet"),
                 ({"type": "pin"}, "invalid_message", '"student"'),
                 ({"type": "lesson", "id": "../etc", "card": 1}, "invalid_lesson", "id must name a lesson"),
                 ({"type": "lesson", "id": "a", "card": -1}, "invalid_lesson", "card must be a whole number"),
                 ({"type": "drawing"}, "unknown_type", "a teacher sends pin, unpin, lesson, end or ping"),
                 ([1, 2], "invalid_message", "JSON object"), ("{", "invalid_json", "JSON object")]
        for message, code_, words in cases:
            teacher.send_text(message if isinstance(message, str) else json.dumps(message))
            error = until(teacher, "error")
            assert error["code"] == code_ and words in error["detail"], (message, error)
        teacher.send_text(json.dumps({"type": "ping"}))
        assert until(teacher, "pong")  # still open


def test_a_bad_drawing_gets_an_error_and_the_socket_stays_open(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana = join(client, code)
    short = base64.b64encode(bytes(783)).decode()
    cases = [(drawing(image=short), "784 bytes (28×28), got 783"), (drawing(image="%%%"), "not valid base64"),
             (drawing(10), "from 0 to 9"), ({**drawing(), "prediction": True}, "from 0 to 9"),
             ({**drawing(), "probabilities": [0.1] * 9}, "10 numbers"),
             ({**drawing(), "probabilities": [2.0] + [0.0] * 9}, "10 numbers, each from 0 to 1"),
             ({**drawing(), "probabilities": [0.5] * 10}, "sum to 1"),
             ({"type": "drawing", "image": None, "prediction": 3}, "empty drawing"),
             ({"type": "pin", "student": "x"}, "a student sends drawing or ping")]
    with socket(client, code, ana["token"]) as ws:
        receive(ws)
        for message, words in cases:
            time.sleep(0.21)  # within the rate
            ws.send_text(json.dumps(message))
            error = until(ws, "error")
            assert words in error["detail"], (message, error)
        ws.send_text(json.dumps({"type": "drawing", "image": None, "prediction": None, "probabilities": None}))
        ws.send_text(json.dumps({"type": "ping"}))
        assert until(ws, "pong")


def test_the_end_reaches_everyone_and_the_class_is_gone(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana = join(client, code)
    with socket(client, code, classroom["teacher_token"]) as teacher, socket(client, code, ana["token"]) as a:
        receive(teacher), receive(a)
        teacher.send_text(json.dumps({"type": "end"}))
        for ws in (a, teacher):
            ended = until(ws, "ended")
            assert ended["reason"] == "ended" and "the teacher ended the class" in ended["detail"]
            assert closed(ws) == 1000
    refused(client.post(f"/api/class/{code}/join", json={"name": "Bo"}), 404, "class_not_found", "ended or expired")
    with socket(client, code, ana["token"]) as ws:
        assert receive(ws)["code"] == "class_not_found"
        assert closed(ws) == 4404
    assert client.get(f"/class/{code}/teach").status_code == 404


def test_a_token_the_class_did_not_issue_closes_the_socket(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    for token in ("", "nonsense", "t123.abc", start(client)["teacher_token"]):
        with socket(client, code, token) as ws:
            error = receive(ws)
            assert error["code"] == "invalid_token" and "join the class again" in error["detail"]
            assert closed(ws) == 4403


# ---------------------------------------------------------------------------------------- the teacher


def test_the_teacher_page_is_served_for_a_class_only(client: TestClient, classroom: Message) -> None:
    page = client.get(f"/class/{classroom['code']}/teach")
    assert page.status_code == 200 and classroom["code"] in page.text
    missing = client.get("/class/ZZZZZZ/teach")
    assert missing.status_code == 404 and "check the code with your teacher" in missing.text
    assert "<" not in missing.text.split("<p>")[1].split("</p>")[0]


def test_the_pin_reopens_the_teacher_screen_and_wrong_ones_are_limited(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    r = client.post(f"/api/class/{code}/teacher", json={"pin": "1234"})
    assert r.status_code == 200, r.text
    with socket(client, code, r.json()["teacher_token"]) as teacher:
        assert receive(teacher)["type"] == "roster"
    for _ in range(keys.PIN_TRIES):
        refused(client.post(f"/api/class/{code}/teacher", json={"pin": "9999"}), 403, "wrong_pin",
                "not this class's teacher PIN")
    locked = client.post(f"/api/class/{code}/teacher", json={"pin": "1234"})  # even the right one, for a while
    refused(locked, 429, "too_many_tries", "too many wrong PINs", "try again in")
    assert 0 < int(locked.headers["Retry-After"]) <= keys.PIN_WINDOW_SECONDS
    no_pin = start(client)["code"]
    refused(client.post(f"/api/class/{no_pin}/teacher", json={"pin": "1234"}), 409, "no_pin", "without a teacher PIN")
    refused(client.post("/api/class/ZZZZZZ/teacher", json={"pin": "1234"}), 404, "class_not_found")


# ---------------------------------------------------------------------------------------------- bounds


def test_a_full_class_refuses_one_more_but_lets_its_own_back(make_client: Callable[..., TestClient]) -> None:
    client = make_client(class_max_students=2)
    code = start(client)["code"]
    first, _ = join(client, code, "Ana"), join(client, code, "Bo")
    refused(client.post(f"/api/class/{code}/join", json={"name": "Cy"}), 409, "class_full", "already has 2 students")
    assert join(client, code, "Ana", token=first["token"])["student"] == first["student"]


def test_too_many_classes_is_503_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(class_max_classes=2)
    start(client), start(client)
    r = client.post("/api/class", json={})
    refused(r, 503, "overloaded", "already holds 2 classes", "try again later")
    assert int(r.headers["Retry-After"]) > 0


def test_a_flood_of_drawings_is_dropped_and_told_slow_down_once(client: TestClient, classroom: Message) -> None:
    code = classroom["code"]
    ana = join(client, code)
    with socket(client, code, classroom["teacher_token"]) as teacher, socket(client, code, ana["token"]) as ws:
        receive(teacher), receive(ws)
        for i in range(40):
            ws.send_text(json.dumps(drawing(i % 10)))
        ws.send_text(json.dumps({"type": "ping"}))  # dropped too: still over the rate
        time.sleep(1.0)
        ws.send_text(json.dumps({"type": "ping"}))
        messages = [receive(ws)]
        while messages[-1]["type"] != "pong":
            messages.append(receive(ws))
        errors = [m for m in messages if m["type"] == "error"]
        assert [e["code"] for e in errors] == ["slow_down"] and "send fewer" in errors[0]["detail"]
        teacher.send_text(json.dumps({"type": "ping"}))
        seen = []
        while (m := receive(teacher))["type"] != "pong":
            seen.append(m)
        drawn = [m["student"]["prediction"] for m in seen if m["type"] == "tile" and m["student"]["image"]]
        assert drawn[:5] == [0, 1, 2, 3, 4] and len(drawn) <= 15  # the burst passed, most of the rest was dropped


def test_a_teachers_flood_is_dropped_too(client: TestClient, classroom: Message) -> None:
    with socket(client, classroom["code"], classroom["teacher_token"]) as teacher:
        receive(teacher)
        for _ in range(60):
            teacher.send_text(json.dumps({"type": "lesson", "id": "flood", "card": 1}))
        time.sleep(0.5)
        teacher.send_text(json.dumps({"type": "ping"}))
        seen = [receive(teacher)]
        while seen[-1]["type"] != "pong":
            seen.append(receive(teacher))
    assert [m["code"] for m in seen if m["type"] == "error"] == ["slow_down"]
    assert 20 <= sum(m["type"] == "lesson" for m in seen) <= 25  # the burst, and what the rate refilled


def test_a_script_filling_a_class_is_slowed_down(client: TestClient, classroom: Message) -> None:
    answers = [client.post(f"/api/class/{classroom['code']}/join", json={"name": f"bot {i}"}) for i in range(30)]
    statuses = [r.status_code for r in answers]
    assert statuses[:20] == [200] * 20 and statuses[-1] == 429, statuses
    refused(answers[-1], 429, "too_many_tries", "too many students are joining this class at once")
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_message_over_8_kb_is_refused(client: TestClient, classroom: Message) -> None:
    ana = join(client, classroom["code"])
    with socket(client, classroom["code"], ana["token"]) as ws:
        receive(ws)
        ws.send_text(json.dumps({**drawing(), "padding": "x" * 8200}))
        error = until(ws, "error")
        assert error["code"] == "too_large" and "8192 bytes at most" in error["detail"]
        ws.send_bytes(b"\x00" * 100)
        assert until(ws, "error")["code"] == "invalid_json"
        time.sleep(0.5)
        ws.send_text(json.dumps({"type": "ping"}))
        assert until(ws, "pong")


def test_a_slow_socket_holds_one_tile_per_student_and_a_bounded_queue() -> None:
    outbox = Outbox()
    for i in range(1000):
        outbox.put({"type": "tile", "student": {"id": f"s{i % 3}", "prediction": i % 10}})
    assert len(outbox.tiles) == 3 and outbox.tiles["s0"]["student"]["prediction"] == 9
    for _ in range(OUTBOX_MESSAGES + 10):
        outbox.put({"type": "pin"})
    assert len(outbox.queue) == OUTBOX_MESSAGES and outbox.overflowed


def test_guessing_codes_is_limited(client: TestClient) -> None:
    statuses = [client.post("/api/class/ZZZZZZ/join", json={"name": "x"}).status_code for _ in range(40)]
    assert statuses[:20] == [404] * 20 and statuses[-1] == 429
    last = client.post("/api/class/ZZZZZZ/join", json={"name": "x"})
    refused(last, 429, "too_many_tries", "class codes that do not exist")
    assert last.headers["Retry-After"].isdigit()


# ---------------------------------------------------------------------------------------------- expiry


def test_a_class_expires_after_its_time_to_live_without_activity(make_client: Callable[..., TestClient]) -> None:
    client = make_client(class_ttl_seconds=1)
    active, idle = start(client)["code"], start(client)["code"]
    ana = join(client, active)
    with socket(client, active, ana["token"]) as ws:
        receive(ws)
        for _ in range(3):  # activity keeps a class alive past its time to live
            time.sleep(0.5)
            ws.send_text(json.dumps(drawing()))
        refused(client.post(f"/api/class/{idle}/join", json={"name": "Bo"}), 404, "class_not_found")
        ended = until(ws, "ended")  # a second of nothing, then the sweep tells the socket
        assert ended["reason"] == "expired" and "expired" in ended["detail"]
    refused(client.post(f"/api/class/{active}/join", json={"name": "Bo"}), 404, "class_not_found")


def test_every_field_on_the_wire_is_described(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    names = ["CreateClassRequest", "CreateClassResponse", "ClassLimits", "TeacherRequest", "TeacherTokenResponse",
             "JoinRequest", "JoinResponse", "StudentOut", "ClassOut", "LastDrawing"]
    schemas = spec["components"]["schemas"]
    missing = [f"{name}.{field}" for name in names for field, prop in schemas[name]["properties"].items()
               if not prop.get("description")]
    assert missing == []
    assert "class" in schemas["JoinResponse"]["properties"]
    for path in ("/api/class", "/api/class/{code}/teacher", "/api/class/{code}/join"):
        assert {"403", "404", "409", "422", "429", "503"} <= set(spec["paths"][path]["post"]["responses"])
