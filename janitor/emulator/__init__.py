"""A stateful Docker Hub API emulator with fault injection: what janitor's tests, benchmarks and
demo run against, since the real Hub cannot be reached.

- ``state``: ``HubState``, ``load_seed`` / ``dump_seed`` (the seed format), ``generate_state``
- ``config``: ``EmulatorConfig`` (rate limit, token TTL, answer shapes, clock), ``ManualClock``
- ``faults``: ``Fault``, ``FaultPlan``
- ``app``: ``create_app`` (a Starlette app); ``server``: ``start_emulator`` (uvicorn on a thread)
- ``cli``: the ``emulator`` click group (``janitor emulator serve``)
- ``specs``: the Hub OpenAPI specs as openapi-core objects (needs the test extras)
"""
