"""What reading the server's own bytes costs (issue 30, core/observe/wire.py): a model call through agentchat and the
openai SDK over HTTP to the loopback stub, with the wire tap (the app's client) and without it (the SDK's default
client), streamed and unstreamed, side by side in one run.

    python benchmarks/wire_capture.py [--rounds 20] [--words 2000]

Prints seconds per call (median) and the ratio with/without the tap for each way."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import warnings

from autogen_core.models import UserMessage
from autogen_ext.models.openai import OpenAIChatCompletionClient

from core.observe import wire
from core.observe.spans import TracedChatCompletionClient
from tests.openai_server import OpenAIStub, ReplyFault


async def one_call(stub: OpenAIStub, tapped: bool, streamed: bool) -> float:
    kwargs = {"http_client": wire.http_client()} if tapped else {}
    inner = OpenAIChatCompletionClient(model="gpt-4o-mini", api_key="sk-bench", base_url=stub.base_url, max_retries=0, **kwargs)
    client = TracedChatCompletionClient(inner, "gpt-4o-mini")
    messages = [UserMessage(content="write a long answer", source="user")]
    started = time.perf_counter()
    try:
        if streamed:
            async for _ in client.create_stream(messages):
                pass
        else:
            await client.create(messages)
        return time.perf_counter() - started
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--words", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    answer = " ".join(f"word{i % 50}" for i in range(args.words))
    times: dict[tuple[bool, bool], list[float]] = {(t, s): [] for t in (False, True) for s in (False, True)}
    with OpenAIStub() as stub:
        for _ in range(args.rounds):
            for key in times:  # interleaved: each way meets the same machine load
                stub.add_fault(ReplyFault(path="/chat/completions", content=answer))
                times[key].append(asyncio.run(one_call(stub, *key)))
    for streamed in (True, False):
        plain, tapped = statistics.median(times[(False, streamed)]), statistics.median(times[(True, streamed)])
        way = "streamed  " if streamed else "unstreamed"
        print(f"{way}: without tap {plain * 1000:7.1f} ms, with tap {tapped * 1000:7.1f} ms, ratio {tapped / plain:.3f}")


if __name__ == "__main__":
    main()
