"""What crosses the wire for class mode over HTTP: the requests and answers of /api/class…, every field described
(they become the API docs at /docs). The socket's messages are described in app.routes.classroom."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CreateClassRequest(BaseModel):
    pin: str | None = Field(default=None, max_length=100, description="An optional teacher PIN, 4 to 8 digits: with "
                            "it the teacher screen can be reopened on another device. Stored hashed.")
    title: str | None = Field(default=None, max_length=200, description="What the students see, e.g. 'Year 11 CS' "
                              "(1 to 80 characters).")


class ClassLimits(BaseModel):
    students: int = Field(description="The most students the class may have.")
    drawings_per_second: float = Field(description="How many drawings a student's socket may send a second.")
    message_bytes: int = Field(description="The largest message a socket may send.")


class CreateClassResponse(BaseModel):
    code: str = Field(description="The class code students type: 6 characters, no 0/O/1/I/L.")
    teacher_token: str = Field(description="The teacher's key for WS /ws/class/{code}?token=…; keep it secret.")
    expires_in: int = Field(description="Seconds the class lives without activity; every join, drawing and teacher "
                            "message starts the count again.")
    limits: ClassLimits = Field(description="The class's bounds.")
    join_url: str = Field(description="The page a student opens to join, with the code filled in.")


class TeacherRequest(BaseModel):
    pin: str = Field(max_length=100, description="The class's teacher PIN.")


class TeacherTokenResponse(BaseModel):
    teacher_token: str = Field(description="A teacher's key for this class's socket, for this device.")


class JoinRequest(BaseModel):
    name: str = Field(max_length=200, description="The display name the student types (1 to 30 characters, no "
                      "control characters); the only personal data kept, and only as long as the class.")
    token: str | None = Field(default=None, max_length=200, description="The token from an earlier join of this "
                              "class: the same student comes back, with the same tile and last drawing.")


class StudentOut(BaseModel):
    id: str = Field(description="The student's id in this class.")
    name: str = Field(description="The display name, trimmed, as the teacher's wall shows it.")


class ClassOut(BaseModel):
    code: str = Field(description="The class code.")
    title: str | None = Field(description="The title the teacher gave the class, or null.")
    pin: dict[str, Any] | None = Field(description="The drawing the teacher pinned to every screen, {student, name, "
                                       "image, prediction}, or null.")
    lesson: dict[str, Any] | None = Field(description="The lesson card the teacher pushed, {id, card}, or null.")
    expires_in: int = Field(description="Seconds the class lives without activity.")


class LastDrawing(BaseModel):
    image: str = Field(description="The 28×28 input, 784 bytes (uint8, white ink on black) in base64.")
    prediction: int | None = Field(description="The digit the network read in it, 0-9.")
    probabilities: list[float] | None = Field(description="The network's ten probabilities for it.")


class JoinResponse(BaseModel):
    student: StudentOut = Field(description="Who joined: the same id when coming back with a token.")
    token: str = Field(description="The student's key for WS /ws/class/{code}?token=… and for joining again.")
    class_: ClassOut = Field(alias="class", serialization_alias="class", description="The class as it is now: what "
                             "the teacher pinned and the lesson card pushed, so a late joiner sees them too.")
    last: LastDrawing | None = Field(description="The student's last drawing when coming back, else null.")
    limits: ClassLimits = Field(description="The class's bounds.")
