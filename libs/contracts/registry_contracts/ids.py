"""Identifiers chosen by the client, so that retries and replays carry the same id."""

import os
import threading
import time
import uuid

_MAX_SEQUENCE = 0xFFF
_RAND_B = (1 << 62) - 1
_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_event_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): time-ordered, so ids of events sort by creation and index well in
    PostgreSQL. Within one millisecond the 12 bits after the version count up (RFC 9562 §6.2,
    method 1), so ids of one process stay in creation order; only past 4,096 ids in one
    millisecond does the timestamp run ahead of the clock (a generator that bumps it on every
    repeat drifts into the future under steady load). The last 62 bits are random, from the
    operating system."""
    global _last_ms, _sequence
    now_ms = time.time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            _last_ms, _sequence = now_ms, 0
        elif _sequence < _MAX_SEQUENCE:
            _sequence += 1
        else:
            _last_ms, _sequence = _last_ms + 1, 0
        ms, sequence = _last_ms, _sequence
    random_b = int.from_bytes(os.urandom(8), "big") & _RAND_B
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (sequence << 64) | (0b10 << 62) | random_b)
