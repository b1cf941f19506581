"""Local emulators of the ad networks' APIs, real HTTP servers on 127.0.0.1.

The demo, the end-to-end tests and the benchmarks point the real clients at these servers, so
the whole sync loop runs with no credentials and no network. Each network's emulator lives in
its folder (``syncd/destinations/<network>/sandbox/``); this package holds what they share:
the HTTP server (``server``), latency (``latency``) and what the demo and ``syncd sandbox``
ask of each (``emulated``; ``syncd.demo.emulators`` builds every registered network's from
the registry). ``pair.Sandbox`` is the tests' shorthand for the two most of them need, Meta and
Data Manager.

Nothing is imported here: every emulator imports this package's modules, so an
``__init__`` importing emulators back would make a cycle.
"""
