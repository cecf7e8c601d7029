"""WS /ws: the REST passes, streamed one layer at a time.

Client → server, JSON text frames:
    {"cmd": "forward", "image": "<data URL>" | "input": <array>, "mode": "run" | "step"}
    {"cmd": "backward", "target": 0-9, "loss": "cross_entropy" | "mse", "mode": ...}
    {"cmd": "step", "lr": 0.01, "momentum": 0.0, "target": 0-9, "loss": ..., "mode": ...}
    {"cmd": "next"}     the next layer of the pass being stepped through
    {"cmd": "run"}      the rest of it
    {"cmd": "reset"}    back to the pretrained weights
Server → client, for every pass: {"type": "start", "phase", "layers": n, …every field of the REST answer but its
layers}, then one {"type": "layer", "remaining", …the layer's fields} per layer (forward: input to output; backward:
loss to input; update: each layer with weights), then {"type": "done", "phase"}. Messages with arrays are binary
frames (app.encoding.Frame), the rest JSON text. A bad command gets {"type": "error", "code", "message"} and the
socket stays usable.

Each pass is the REST route's service call, computed whole and stored in the session when its command arrives;
`mode: step` only paces delivery. A client that disconnects mid-pass leaves its session consistent.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError

from app.encoding import Frame
from app.errors import AppError, InvalidRequest, TooLarge
from app.limits import forward_body_bytes
from app.routes.deps import session_key
from app.schemas import BackwardRequest, ForwardRequest, StepRequest
from app.services.container import Services
from app.services.images import decode_data_url, image_to_input
from app.services.network import ForwardInput
from app.services.sessions import SessionState

router = APIRouter()
log = logging.getLogger("cnn_visualizer")
COMMANDS = ("forward", "backward", "step", "next", "run", "reset")
PHASES = {"forward": "forward", "backward": "backward", "step": "update", "reset": "reset"}


class CommandError(AppError):
    """A command the socket cannot take (not JSON, unknown, nothing to deliver); the socket stays open."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Message:
    """One server message: fixed fields, plus the fields of a response model (less `exclude`) when there is one."""

    head: dict[str, Any]
    body: BaseModel | None = None
    exclude: set[str] | None = None

    @property
    def kind(self) -> str:
        return str(self.head["type"])

    def encode(self) -> str | bytes:
        frame = Frame()
        fields = self.body.model_dump(mode="json", exclude=self.exclude, context={"frame": frame}) if self.body else {}
        header = {**self.head, **fields}
        return frame.to_bytes(header) if frame.chunks else json.dumps(header)


def pass_messages(phase: str, answer: BaseModel) -> deque[Message]:
    """A REST answer split for the socket: start (the answer but its layers), each layer, done."""
    layers: list[BaseModel] = getattr(answer, "layers", [])
    messages = deque([Message({"type": "start", "phase": phase, "layers": len(layers)}, answer, {"layers"})])
    for i, layer in enumerate(layers):
        messages.append(Message({"type": "layer", "remaining": len(layers) - i - 1}, layer))
    messages.append(Message({"type": "done", "phase": phase}))
    return messages


def _fields(command: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {k: v for k, v in command.items() if k in model.model_fields}


class Connection:
    """One socket: its session key and the messages of the pass being delivered."""

    def __init__(self, websocket: WebSocket, svc: Services, key: str, lost_if_new: bool) -> None:
        self.ws, self.svc, self.key, self.lost_if_new = websocket, svc, key, lost_if_new
        self.pending: deque[Message] = deque()

    async def send(self, message: Message) -> None:
        data = message.encode()
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_text(data)

    async def deliver(self, count: int | None) -> None:
        """Send the next `count` pending layers (all with None). 'start' and 'done' ride along with a layer."""
        sent_layers = 0
        while self.pending and (count is None or sent_layers < count or self.pending[0].kind == "done"):
            message = self.pending.popleft()
            await self.send(message)
            if message.kind == "layer":
                sent_layers += 1
            if message.kind == "done":
                break

    async def handle(self, raw: str) -> None:
        try:
            command = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: arrays nested past the parser's depth
            raise CommandError("a command must be a JSON object, e.g. {\"cmd\": \"next\"}", "invalid_json") from None
        if not isinstance(command, dict) or command.get("cmd") not in COMMANDS:
            got = command.get("cmd") if isinstance(command, dict) else command
            raise CommandError(f"unknown command {got!r}: use one of {', '.join(COMMANDS)}", "unknown_command")
        cmd = command["cmd"]
        if cmd in ("next", "run"):
            if not self.pending:
                raise CommandError(f"'{cmd}' has nothing to deliver: start a forward, backward or step first",
                                   "nothing_pending")
            await self.deliver(1 if cmd == "next" else None)
            return
        mode = command.get("mode", "run")
        if mode not in ("run", "step"):
            raise InvalidRequest(f"mode must be 'run' or 'step', got {mode!r}")
        if cmd == "forward" and command.get("image") is not None:  # decoding an image: through the engine's gate
            call = await self.svc.gate.run(self._call, cmd, command)
        else:  # parsing a command is cheap: on the event loop, as the pass is
            call = self._call(cmd, command)
        async with self.svc.session(self.key, self.lost_if_new) as state:
            answer = call(state)  # on the event loop, as the REST routes run passes (see app.routes.api)
        self.pending = pass_messages(PHASES[cmd], answer)
        # In step mode the 'start' message and the first layer go out now; 'next' brings each further layer.
        await self.deliver(1 if mode == "step" else None)

    def _call(self, cmd: str, command: dict[str, Any]) -> Callable[[SessionState], BaseModel]:
        """The network service call a command stands for, its request parsed (and an image preprocessed) first."""
        net = self.svc.network
        if cmd == "forward":
            body = ForwardRequest.model_validate(_fields(command, ForwardRequest))
            if body.input is not None:
                new = ForwardInput(body.input, steps=None)  # checked by the forward, for the session's model
            elif isinstance(body.image, str):
                # Made for a digit model; the forward makes it again if the session runs another (ForwardInput.data).
                data = decode_data_url(body.image, self.svc.image_limits)
                pre = image_to_input(data, self.svc.image_limits)
                new = ForwardInput(pre.input, steps=pre.steps, data=data, limits=self.svc.image_limits,
                                   warnings=tuple(pre.warnings))
            else:
                raise InvalidRequest("forward needs \"image\", a data URL of the drawing, or \"input\", an array")
            return lambda state: net.forward(state, new)
        if cmd == "backward":
            back = BackwardRequest.model_validate(_fields(command, BackwardRequest))
            return lambda state: net.backward(state, back)
        if cmd == "step":
            step = StepRequest.model_validate(_fields(command, StepRequest))
            return lambda state: net.step(state, step)
        return net.reset


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    svc: Services = websocket.app.state.services
    await websocket.accept()
    cookie = websocket.cookies.get(svc.settings.cookie_name)
    # A socket without a cookie the server issued works on a session of its own, for as long as it is open.
    issued = svc.ids.verify(cookie)
    key = session_key(cookie, websocket.query_params.get("tab")) if issued else None
    conn = Connection(websocket, svc, key or svc.ids.issue(), lost_if_new=issued)
    max_command_bytes = forward_body_bytes(svc.settings.max_upload_bytes)

    async def error(code: str, message: str) -> None:
        await websocket.send_text(json.dumps({"type": "error", "code": code, "message": message}))

    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            try:
                if raw is None:
                    raise CommandError("commands are JSON text frames, e.g. {\"cmd\": \"next\"}", "invalid_json")
                if (size := len(raw.encode())) > max_command_bytes:
                    # uvicorn closes the socket on a message over ws_max_size (the same bound, set in app.main);
                    # another server may not, so the command is refused here too and the socket stays usable.
                    raise TooLarge("The command", size, max_command_bytes,
                                   advice="The largest command is a forward with the image as a data URL.")
                await conn.handle(raw)
            except AppError as e:
                await error(e.code, e.message)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                await error("invalid_request", f"{where}: {first.get('msg')}")
            except WebSocketDisconnect:
                raise
            except Exception:  # whatever else a command does, the socket stays open and usable
                log.exception("unexpected error in a WebSocket command")
                await error("internal_error", "something went wrong on the server; it was logged")
    except WebSocketDisconnect:
        conn.pending.clear()  # the pass was already stored; only undelivered messages are dropped
