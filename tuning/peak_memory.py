"""Peak resident memory of this process while a block of code runs."""

import threading

import psutil


class PeakMemory:
    """Samples the process's resident set size (RSS) on a thread; keeps the largest.

    Args:
        interval_s: seconds between samples.

    Example:

    ```python
    with PeakMemory() as memory:
        model.fit(...)
    print(memory.peak_mb)
    ```
    """

    def __init__(self, interval_s=0.05):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)

    def _run(self):
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._sample()
        return False

    @property
    def peak_mb(self):
        """The peak RSS in MiB."""
        return self.peak_bytes / 2**20
