"""What the hub server remembers between requests: one LRU cache bounded by the bytes it holds.

Every cache of the server (commit trees, commit headers, where a repo id's folder is, parsed cards
and configs, rendered cards, safetensors summaries) is one `BoundedCache` per storage, sized by
`berthub serve --cache-size`. Its bound is in bytes, not in number of keys: a commit of 20,000 files
weighs ~7 MiB and a tiny one a few hundred bytes, so a count of entries bounds nothing. Keys are
canonical (a repo's folder as created, a blob's path), never a spelling from the URL: `Acme/Pub` and
`acme/pub` share one entry. Whatever anonymous clients ask, the cache holds at most its budget; a
value alone bigger than a quarter of it is computed for the request and not kept.

Code added to the server (accounts, Xet, object storage, inference) keeps what it remembers here too,
under its own key prefix: `storage.cache.remember(("kind", canonical key), compute, weigh)`.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_CACHE_SIZE = 256 * 1024**2
_MISSING = object()


class BoundedCache:
    """A thread-safe LRU map whose values together weigh at most `max_bytes` (the caller weighs each)."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_SIZE) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """What the values held now weigh together."""
        return self._bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            found = self._entries.get(key, _MISSING)
            if found is _MISSING:
                return default
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: T, size: int) -> T:
        """Keep `value` as weighing `size` bytes, evicting the least recently used; returns `value`."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size <= self.max_bytes // 4:
                self._entries[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    self._bytes -= self._entries.popitem(last=False)[1][1]
        return value

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    def remember(self, key: Hashable, compute: Callable[[], T], weigh: Callable[[T], int]) -> T:
        """The value kept under `key`, else `compute()` kept as weighing `weigh(value)` bytes.

        `compute` runs outside the lock: two threads missing at once may both compute (the values of
        a key are equal), but no thread waits for another's slow computation.
        """
        found = self.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = compute()
        return self.put(key, value, weigh(value))


def approximate_size(value: Any) -> int:
    """Bytes `value` occupies with everything it holds (dicts, lists, tuples, sets, strings, numbers),
    each object counted once; for parsed JSON/YAML, whose size and depth the hub already bounds."""
    seen: set[int] = set()
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return total
