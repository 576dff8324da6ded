"""Schemathesis hooks for charte, loaded through SCHEMATHESIS_HOOKS by tests/schemathesis.rs.

Only one hook, and it changes no check: it keeps schema-conforming submissions from being refused
for a reason that has nothing to do with their content.
"""

import hashlib
import json

import schemathesis
from schemathesis import GenerationMode


@schemathesis.hook("map_case").apply_to(method="POST", path="/v1/messages")
def idempotency_key_per_body(context, case):
    """Makes a generated Idempotency-Key specific to the body it is sent with (positive cases only).

    Generated keys are short and repeat ("0", "A", …), and the server rightly refuses a key reused
    with a different body (422, as the Idempotency-Key draft says). Left alone, that rule swallows
    most of the stateful phase's submissions. Suffixing the key with a digest of the body keeps the
    key schema-conforming (ASCII, at most 200 characters), keeps replays of the same case
    identical (same key, same body: the server answers 200 with the same message, as documented),
    and leaves the reuse rule to the integration tests (tests/api/). Negative cases are untouched.
    """
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE or not case.headers:
        return case
    key = case.headers.get("Idempotency-Key")
    if not isinstance(key, str) or not key.strip():
        return case
    digest = hashlib.sha256(json.dumps(case.body, sort_keys=True, default=str).encode()).hexdigest()[:16]
    case.headers["Idempotency-Key"] = f"{key.strip()[:150]}-{digest}"
    return case
