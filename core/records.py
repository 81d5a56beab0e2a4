"""What a conversation holds, as the store keeps it (docs/ARCHITECTURE.md, "Tracing contract"): transcript
entries and picture-lineage entries. Typed, because they cross every layer (turn, store, pages, lineage),
and `TypedDict`s, because they are stored as JSON and old files must still load as they are."""

from __future__ import annotations

from typing import Literal, TypedDict

Role = Literal["user", "assistant", "tool", "notice"]


class _EntryRequired(TypedDict):
    role: Role
    name: str  # "user", an agent's name, "app" for notices
    text: str


class TurnUsage(TypedDict, total=False):
    """What one turn used, kept on its last transcript line: the chat shows it under the turn."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int  # of the input tokens, read from the provider's prompt cache (billed at its cache rate)
    reasoning_tokens: int  # of the output tokens
    unknown_calls: int  # model calls whose server reported no usage: the tokens above leave them out
    cost_usd: float | None  # pictures included; None when a model used has no price or a call's tokens are unknown
    models: list[str]  # the chat models that answered, then the picture model (if any)
    pictures: int
    picture_note: str  # how the pictures were priced when MLflow's catalog did not know (core.costs.picture_price)
    seconds: float
    trace_id: str | None


class TranscriptEntry(_EntryRequired, total=False):
    """One line of the chat. `turn` and `step` place it; the rest say what kind of line it is."""

    turn: int
    step: int
    image_id: str  # a picture the line shows (artifact images/<id>.png)
    note: str  # the image agent's remark (e.g. it kept the previous prompt)
    why: str  # why this speaker was chosen (Weather: a rule, or the model)
    asks_user: bool  # the team handed over to the user and waits
    tool: str  # role "tool": the function's name
    is_error: bool  # role "tool": the call failed
    usage: TurnUsage  # on a turn's last line: tokens, cost, models, time and trace of the turn


class ImageLookupEntry(TypedDict, total=False):
    """One picture's place in the lineage (`image_lookup.json`, keyed by image id)."""

    prompt: str
    index: int
    turn: int
    parent: str | None
    critique: str | None
    trace_id: str | None
    model: str
    size: str
    quality: str
    cost_usd: float | None
    artifact_path: str | None
    # since issue 30: the server's tokens for a gpt-image picture (contract.IMAGE_USAGE's counts), "tokens" when its
    # price is those tokens at MLflow's catalog rates (absent: our per-picture price), and what the catalog did not know
    usage: dict[str, int]
    priced_from: str
    price_note: str


ImageLookup = dict[str, ImageLookupEntry]
