"""A clock the test moves by hand (``clock.now += 5``), for the caches, memos and throttles that
take a ``clock`` callable (``time.monotonic`` in production)."""


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now
