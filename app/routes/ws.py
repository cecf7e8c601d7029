"""WS /ws: passes streamed one layer at a time.

Client → server, JSON text frames:
    {"cmd": "forward", "image": "<data URL>", "mode": "run" | "step"}
    {"cmd": "backward", "target": 0-9, "loss": "cross_entropy" | "mse", "mode": ...}
    {"cmd": "step", "lr": 0.01, "momentum": 0.0, "mode": ...}
    {"cmd": "next"}     the next layer of the pass being stepped through
    {"cmd": "run"}      the rest of it
    {"cmd": "reset"}    back to the pretrained weights
Server → client: {"type": "start", "phase", "layers": n, …} then one {"type": "layer", "phase", "index", "name",
"kind", …arrays} per layer (forward: input to output; backward: loss to input; update: each layer with weights), then
{"type": "done", "phase", …results}. Messages with arrays are binary frames (app.encoding.encode_frame), the rest JSON
text. A bad command gets {"type": "error", "code", "message"} and the socket stays usable.

A pass is computed whole, and stored in the session, when its command arrives; `mode: step` only paces delivery. A
client that disconnects mid-pass leaves its session consistent and nothing else behind.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.encoding import encode_frame
from app.errors import AppError
from app.routes.deps import Services, open_session, session_key
from app.schemas import BackwardRequest, StepRequest
from app.services.images import ImageError, decode_data_url, image_to_input
from app.services.sessions import new_session_id

router = APIRouter()
log = logging.getLogger("cnn_visualizer")
COMMANDS = ("forward", "backward", "step", "next", "run", "reset")


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _pass_messages(
    phase: str, layers: list[dict[str, Any]], start: dict[str, Any], done: dict[str, Any]
) -> deque[dict[str, Any]]:
    messages: deque[dict[str, Any]] = deque()
    messages.append({"type": "start", "phase": phase, "layers": len(layers), **start})
    for i, layer in enumerate(layers):
        messages.append({"type": "layer", **layer, "remaining": len(layers) - i - 1})
    messages.append({"type": "done", "phase": phase, **done})
    return messages


class Connection:
    """One socket: its session key and the messages of the pass being delivered."""

    def __init__(self, websocket: WebSocket, svc: Services, key: str) -> None:
        self.ws, self.svc, self.key = websocket, svc, key
        self.pending: deque[dict[str, Any]] = deque()

    async def send(self, message: dict[str, Any]) -> None:
        if any(k in message for k in ("output", "delta", "params", "input", "grads")):
            await self.ws.send_bytes(encode_frame(message))
        else:
            await self.ws.send_text(json.dumps(message))

    async def deliver(self, count: int | None) -> None:
        """Send the next `count` pending messages (all with None). 'start' and 'done' ride along with a layer."""
        sent_layers = 0
        while self.pending and (count is None or sent_layers < count or self.pending[0]["type"] == "done"):
            message = self.pending.popleft()
            await self.send(message)
            if message["type"] == "layer":
                sent_layers += 1
            if message["type"] == "done":
                break

    async def handle(self, raw: str) -> None:
        try:
            command = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: arrays nested past the parser's depth
            raise CommandError("invalid_json", "a command must be a JSON object, e.g. {\"cmd\": \"next\"}") from None
        if not isinstance(command, dict) or command.get("cmd") not in COMMANDS:
            got = command.get("cmd") if isinstance(command, dict) else command
            raise CommandError("unknown_command", f"unknown command {got!r}: use one of {', '.join(COMMANDS)}")
        cmd = command["cmd"]
        if cmd in ("next", "run"):
            if not self.pending:
                raise CommandError("nothing_pending", f"'{cmd}' has nothing to deliver: start a forward, backward "
                                                      "or step first")
            await self.deliver(1 if cmd == "next" else None)
            return
        mode = command.get("mode", "run")
        if mode not in ("run", "step"):
            raise CommandError("invalid_request", f"mode must be 'run' or 'step', got {mode!r}")
        self.pending = await run_in_threadpool(self._compute, cmd, command)
        # In step mode the 'start' message and the first layer go out now; 'next' brings each further layer.
        await self.deliver(1 if mode == "step" else None)

    def _compute(self, cmd: str, command: dict[str, Any]) -> deque[dict[str, Any]]:
        svc = self.svc
        if cmd == "forward":
            image = command.get("image")
            if not isinstance(image, str):
                raise CommandError("invalid_request", "forward needs \"image\": a data URL of the drawing")
            pre = image_to_input(decode_data_url(image, svc.image_limits), svc.image_limits)
            with open_session(svc, self.key) as state:
                f = svc.network.forward(state, pre.input)
                state.preprocess_steps = dict(pre.steps)
            return _pass_messages("forward", f.layers, {"input": f.input},
                                  {"prediction": f.prediction, "probabilities": f.probabilities.tolist()})
        if cmd == "backward":
            back = BackwardRequest.model_validate({k: v for k, v in command.items() if k in ("target", "loss")})
            with open_session(svc, self.key) as state:
                b = svc.network.backward(state, back.target, back.loss)
            return _pass_messages("backward", b.layers, {"target": b.target, "loss_name": b.loss_name},
                                  {"loss": b.loss, "prediction": b.prediction,
                                   "probabilities": b.probabilities.tolist()})
        if cmd == "step":
            step = StepRequest.model_validate({k: v for k, v in command.items() if k in ("lr", "momentum")})
            svc.check_learning_rate(step.lr)
            with open_session(svc, self.key) as state:
                r = svc.network.step(state, step.lr, step.momentum)
                history = list(state.loss_history)
            return _pass_messages("update", r.layers, {"lr": r.lr, "momentum": r.momentum},
                                  {"loss_before": r.loss_before, "loss_after": r.loss_after, "loss_history": history,
                                   "prediction_before": r.prediction_before, "prediction": r.prediction,
                                   "probabilities_before": r.probabilities_before.tolist(),
                                   "probabilities": r.probabilities.tolist(), "steps": r.steps})
        with open_session(svc, self.key) as state:  # reset
            svc.network.reset(state)
        return deque([{"type": "done", "phase": "reset", "message": "the weights are back to the pretrained ones"}])


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    svc: Services = websocket.app.state.services
    await websocket.accept()
    cookie = websocket.cookies.get(svc.settings.cookie_name)
    key = session_key(cookie, websocket.query_params.get("tab")) or new_session_id()
    conn = Connection(websocket, svc, key)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            try:
                if raw is None:
                    raise CommandError("invalid_json", "commands are JSON text frames, e.g. {\"cmd\": \"next\"}")
                await conn.handle(raw)
            except CommandError as e:
                await websocket.send_text(json.dumps({"type": "error", "code": e.code, "message": e.message}))
            except (AppError, ImageError) as e:
                await websocket.send_text(json.dumps({"type": "error", "code": e.code, "message": str(e)}))
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                await websocket.send_text(json.dumps({"type": "error", "code": "invalid_request",
                                                      "message": f"{where}: {first.get('msg')}"}))
            except WebSocketDisconnect:
                raise
            except Exception:  # whatever else a command does, the socket stays open and usable
                log.exception("unexpected error in a WebSocket command")
                await websocket.send_text(json.dumps({"type": "error", "code": "internal_error",
                                                      "message": "something went wrong on the server; it was logged"}))
    except WebSocketDisconnect:
        conn.pending.clear()  # the pass was already stored; only undelivered messages are dropped
