"""Receiving by a deadline (trackyard/http/deadline.py): what `asyncio.timeout_at`
around `await receive()` does, for messages there already and for those that
make the read wait."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.types import Message

from trackyard.http.deadline import receive_by

MESSAGE: Message = {"type": "http.request", "body": b"data=x", "more_body": False}


def in_loop_time(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def ready() -> Message:
    return MESSAGE


async def after(seconds: float) -> Message:
    await asyncio.sleep(seconds)
    return MESSAGE


def test_a_message_that_is_there_is_taken() -> None:
    async def main() -> Message:
        return await receive_by(ready, in_loop_time(1))

    assert asyncio.run(main()) == MESSAGE


def test_a_message_that_comes_in_time_is_taken() -> None:
    async def main() -> Message:
        async def several_waits() -> Message:
            for _ in range(3):
                await asyncio.sleep(0)  # a bare yield to the loop
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.05, future.set_result, MESSAGE)
            return await future

        return await receive_by(several_waits, in_loop_time(1))

    assert asyncio.run(main()) == MESSAGE


def test_a_message_that_does_not_come_times_out_at_the_deadline() -> None:
    async def main() -> None:
        await receive_by(lambda: after(60), in_loop_time(0.2))

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert 0.2 <= time.monotonic() - started < 1


def test_the_deadline_is_for_all_the_messages_together() -> None:
    # A body trickling in, each part well within the allowance, is still cut off.
    async def main() -> int:
        deadline, received = in_loop_time(0.3), 0
        while True:
            await receive_by(lambda: after(0.1), deadline)
            received += 1

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert 0.3 <= time.monotonic() - started < 0.8


def test_a_cancellation_from_elsewhere_stays_one_and_ends_the_read() -> None:
    ended = []

    async def receive() -> Message:
        try:
            return await after(60)
        finally:
            ended.append(True)

    async def main() -> None:
        reading = asyncio.create_task(receive_by(receive, in_loop_time(60)))
        await asyncio.sleep(0.05)
        reading.cancel()
        await reading

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert ended == [True]


@pytest.mark.parametrize("wait", [0, 0.05])
def test_an_error_of_the_read_is_passed_on(wait: float) -> None:
    async def broken() -> Message:
        if wait:
            await asyncio.sleep(wait)
        raise ConnectionResetError("gone")

    async def main() -> None:
        await receive_by(broken, in_loop_time(1))

    with pytest.raises(ConnectionResetError):
        asyncio.run(main())


def test_what_the_read_waits_on_fails_with_is_the_reads_to_handle() -> None:
    # uvicorn's receive() answers a lost connection with a message, not an error.
    async def receive() -> Message:
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, future.set_exception, ConnectionResetError())
        try:
            return await future
        except ConnectionResetError:
            return {"type": "http.disconnect"}

    async def main() -> Message:
        return await receive_by(receive, in_loop_time(1))

    assert asyncio.run(main()) == {"type": "http.disconnect"}
