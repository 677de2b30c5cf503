"""Client-side throttling per company (a QuickBooks realm, a Xero tenant), so that the system's limits
are met before it answers 429. Shared by the QuickBooks Online and Xero clients.

QuickBooks allows per realm 500 requests a minute, 10 at a time, and a number of batch requests a
minute (40 in its sandbox, 120 in production since 2025-10-31). Windows slide over one minute. A
request is entered in the window when its answer arrives, which is never before QuickBooks counted
it, so a window that has room here has room there too; requests still in flight count as well.

Two backends keep these limits, with the same interface (`slot(batch)`, `waited_seconds`, `limits`):
- `RedisRealmRateLimiter`, when `LEDGERBRIDGE_LIMITS_URL` names a Redis (settings.limits_url()): the
  windows and the requests in flight live in Redis, changed only by atomic Lua scripts, so every task,
  process and machine of a company counts against the same limits. A request in flight holds a lease
  that its process renews; a process that dies stops renewing, and its lease ends (LEASE_SECONDS)
  and enters the window, so a killed worker never keeps a slot.
- `RealmRateLimiter`, when it is unset: the limits are kept per process, shared by every client of a
  company in that process only; tasks of the same company in other processes are not counted (the
  connector kind's Airflow pool bounds them, see docs/operations.md).
`limiter_for` picks the backend. A configured Redis that does not answer is an error naming it, never a
silent fall back to per-process limits, which would let N workers send N times the company's limits.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ledgerbridge import settings
from ledgerbridge.connectors.errors import TransientError

if TYPE_CHECKING:
    import redis  # imported when a Redis is configured: a task without one does not pay for it

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class RealmLimits:
    requests_per_minute: int = 500
    concurrent_requests: int = 10
    batch_requests_per_minute: int = 40


class RealmRateLimiter:
    """The limits of one company, kept in this process's memory (see the module's docstring)."""

    def __init__(self, limits: RealmLimits = RealmLimits(), clock: Callable[[], float] = time.monotonic,
                 window_seconds: float = WINDOW_SECONDS):
        self.limits = limits
        self.clock = clock
        self.window_seconds = window_seconds  # shorter only in tests and benches
        self._condition = threading.Condition()
        self._requests: deque[float] = deque()
        self._batches: deque[float] = deque()
        self._in_flight = 0
        self._batches_in_flight = 0
        self.waited_seconds = 0.0

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[float]:
        """Wait until one more request (a batch request if `batch`) fits every limit, then hold it;
        gives the seconds waited."""
        waited = self._enter(batch)
        try:
            yield waited
        finally:
            self._leave(batch)

    def _enter(self, batch: bool) -> float:
        started = self.clock()
        with self._condition:
            while True:
                wait = self._wait_needed(batch)
                if wait <= 0:
                    break
                self._condition.wait(timeout=wait)
            self._in_flight += 1
            self._batches_in_flight += batch
            waited = self.clock() - started
            self.waited_seconds += waited
            return waited

    def _wait_needed(self, batch: bool) -> float:
        """Seconds until a slot may free up; 0 when the request may go now."""
        now = self.clock()
        for window in (self._requests, self._batches):
            while window and window[0] <= now - self.window_seconds:
                window.popleft()
        waits = []
        if self._in_flight >= self.limits.concurrent_requests:
            waits.append(self.window_seconds)  # woken by _leave
        if len(self._requests) + self._in_flight >= self.limits.requests_per_minute:
            waits.append(self._until_expiry(self._requests, now))
        if batch and len(self._batches) + self._batches_in_flight >= self.limits.batch_requests_per_minute:
            waits.append(self._until_expiry(self._batches, now))
        return max(waits, default=0.0)

    def _until_expiry(self, window: deque[float], now: float) -> float:
        # Empty window: the slots are held by requests in flight; their end wakes us.
        return window[0] + self.window_seconds - now + 0.001 if window else self.window_seconds

    def _leave(self, batch: bool) -> None:
        with self._condition:
            now = self.clock()
            self._in_flight -= 1
            self._batches_in_flight -= batch
            self._requests.append(now)
            if batch:
                self._batches.append(now)
            self._condition.notify_all()


# --- shared across processes and machines: Redis ----------------------------------------------------

KEY_PREFIX = "ledgerbridge:limits"
LEASE_SECONDS = 30.0  # a request in flight holds its slot this long unless its process renews the lease
MAX_SLEEP_SECONDS = 2.0  # the longest a waiter sleeps before looking again (a lease may have run out)
FREED_TOKENS_KEPT = 64  # wake-ups left for waiters that are not there (bounds the rounds they cost later)

# Times are Redis's own clock (TIME), so that machines whose clocks differ share one window.
# KEYS: 1 requests answered (zset, score = when), 2 batch requests answered, 3 leases of the requests in
# flight (zset, score = lease end), 4 the batch requests among them (set-like zset), 5 the wake-up list.
_COMMON_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function keep(window, lease)
  local ms = math.ceil((window + lease) * 1000) + 1000
  for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ms) end
end
"""

_ACQUIRE_LUA = _COMMON_LUA + """
local window, lease = tonumber(ARGV[1]), tonumber(ARGV[7])
local per_minute, concurrent, batch_per_minute = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local batch = ARGV[5] == '1'
-- A lease that ran out is a holder that died (the living renew theirs). Its request may have reached the
-- system: it enters the windows as answered now.
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(dead) do
  redis.call('ZADD', KEYS[1], now, id)
  if redis.call('ZREM', KEYS[4], id) == 1 then redis.call('ZADD', KEYS[2], now, id) end
end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)

local function first_lease_end()
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then return tonumber(first[2]) - now end
  return window
end
local function until_room(key)
  -- the oldest answer leaves the window; with none, the slots are held by requests in flight
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if oldest[2] then return tonumber(oldest[2]) + window - now + 0.001 end
  return first_lease_end()
end

local in_flight = redis.call('ZCARD', KEYS[3])
local wait, bound = 0, ''
if in_flight >= concurrent then
  wait, bound = first_lease_end(), 'concurrency'
end
if redis.call('ZCARD', KEYS[1]) + in_flight >= per_minute then
  local w = until_room(KEYS[1])
  if w > wait then wait, bound = w, 'requests' end
end
if batch and redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[4]) >= batch_per_minute then
  local w = until_room(KEYS[2])
  if w > wait then wait, bound = w, 'batch requests' end
end
if bound ~= '' then
  return {0, tostring(wait), bound}
end
redis.call('ZADD', KEYS[3], now + lease, ARGV[6])
if batch then redis.call('ZADD', KEYS[4], now, ARGV[6]) end
keep(window, lease)
return {1, '0', ''}
"""

# ARGV: 1 lease id, 2 window, 3 lease, 4 batch, 5 wake-ups kept. The request's answer came: it enters the windows now
# (even if its lease was taken for dead meanwhile: then it moves to now, later, which is safe).
_RELEASE_LUA = _COMMON_LUA + """
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZADD', KEYS[2], now, ARGV[1])
end
redis.call('RPUSH', KEYS[5], '1')
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[5]), -1)
keep(tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
"""

# ARGV: 1 window, 2 lease, then the lease ids this process still holds. The keys' expiry moves too: a
# request may stay in flight longer than window + lease with no other request to the company.
_RENEW_LUA = _COMMON_LUA + """
local renewed = 0
for i = 3, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[3], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[i])
end
keep(tonumber(ARGV[1]), tonumber(ARGV[2]))
return renewed
"""


class LimiterUnavailable(TransientError):
    """The shared limiter's Redis did not answer: nothing was sent (safe to retry later)."""


def redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def realm_keys(realm_id: str) -> list[str]:
    """The Redis keys of a company's limits. The realm in braces is a Redis Cluster hash tag: all five
    land on one node, which a script touching them all needs."""
    base = f"{KEY_PREFIX}:{{{realm_id}}}"
    return [f"{base}:requests", f"{base}:batch_requests", f"{base}:in_flight", f"{base}:batch_in_flight",
            f"{base}:freed"]


class RedisRealmRateLimiter:
    """The limits of one company, kept in Redis for every process and machine (see the module's
    docstring). Same interface as RealmRateLimiter."""

    def __init__(self, client: redis.Redis, realm_id: str, limits: RealmLimits = RealmLimits(), *, url: str = "",
                 window_seconds: float = WINDOW_SECONDS, lease_seconds: float = LEASE_SECONDS):
        self.redis = client
        self.realm_id = realm_id
        self.limits = limits
        self.url = redacted(url) if url else "Redis"
        self.window_seconds = window_seconds  # shorter only in tests and benches
        self.lease_seconds = lease_seconds
        self.keys = realm_keys(realm_id)
        self.waited_seconds = 0.0
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._renew = client.register_script(_RENEW_LUA)
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._ids = itertools.count()
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renewer_pid: int | None = None

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[float]:
        """Wait until one more request (a batch request if `batch`) fits every limit of the company, for
        all processes together, then hold it; gives the seconds waited."""
        lease_id, waited = self._enter(batch)
        try:
            yield waited
        finally:
            self._leave(lease_id, batch)

    def _enter(self, batch: bool) -> tuple[str, float]:
        import redis

        self._ensure_renewer()
        # who holds the slot, readable in Redis by a person: host:pid:<this limiter>:n
        lease_id = f"{self._holder}:{next(self._ids)}"
        started = time.monotonic()
        limits = self.limits
        while True:
            try:
                admitted, wait, bound = self._acquire(keys=self.keys, args=[
                    self.window_seconds, limits.requests_per_minute, limits.concurrent_requests,
                    limits.batch_requests_per_minute, int(batch), lease_id, self.lease_seconds])
                if int(admitted):
                    with self._lock:
                        self._held.add(lease_id)
                    break
                wait = min(max(float(wait), 0.001), MAX_SLEEP_SECONDS)
                if (bound.decode() if isinstance(bound, bytes) else bound) == "concurrency":
                    # woken by the next release, in any process; a dead holder's lease ends by itself
                    self.redis.blpop([self.keys[4]], timeout=wait)
                else:
                    time.sleep(wait)  # until the oldest answer leaves the window
            except redis.RedisError as exc:
                raise LimiterUnavailable(
                    f"the shared rate limiter at {self.url} did not answer ({exc}): nothing was sent to company "
                    f"{self.realm_id}; sending stops rather than exceed its limits. Check that Redis is up, or "
                    f"unset LEDGERBRIDGE_LIMITS_URL to keep the limits per process") from exc
        waited = time.monotonic() - started
        with self._lock:
            self.waited_seconds += waited
        return lease_id, waited

    def _leave(self, lease_id: str, batch: bool) -> None:
        import redis

        with self._lock:
            self._held.discard(lease_id)
        try:
            self._release(keys=self.keys, args=[lease_id, self.window_seconds, self.lease_seconds, int(batch),
                                                FREED_TOKENS_KEPT])
        except redis.RedisError as exc:
            # The request was sent: never turn its outcome into an error here. The lease runs out within
            # lease_seconds and then enters the window (the acquire script counts it as answered then).
            log.warning("shared rate limiter at %s: could not record the answer of a request to company %s (%s); "
                        "its slot is freed when its lease ends, within %.0f s", self.url, self.realm_id, exc,
                        self.lease_seconds)

    def _ensure_renewer(self) -> None:
        """One daemon thread per limiter and process renews the leases of its requests in flight (a
        forked process starts its own: threads do not survive a fork)."""
        pid = os.getpid()
        if self._renewer_pid == pid:
            return
        with self._lock:
            if self._renewer_pid == pid:
                return
            if self._renewer_pid is not None:  # forked: the parent's leases are not ours
                self._held = set()
                self._holder = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
            self._renewer_pid = pid
        threading.Thread(target=self._renew_leases, name=f"limits-renew-{self.realm_id}", daemon=True).start()

    def _renew_leases(self) -> None:
        import redis

        pid = os.getpid()
        while self._renewer_pid == pid:
            time.sleep(self.lease_seconds / 3)
            with self._lock:
                held = list(self._held)
            if not held:
                continue
            try:
                self._renew(keys=self.keys, args=[self.window_seconds, self.lease_seconds, *held])
            except redis.RedisError as exc:
                log.warning("shared rate limiter at %s: could not renew %d lease(s) of company %s (%s); "
                            "if Redis stays away they run out within %.0f s", self.url, len(held), self.realm_id,
                            exc, self.lease_seconds)


# --- the limiter of a company -------------------------------------------------------------------------

Limiter = RealmRateLimiter | RedisRealmRateLimiter

_LIMITERS: dict[tuple[str | None, str], Limiter] = {}
_LIMITERS_LOCK = threading.Lock()
_REDIS: dict[str, redis.Redis] = {}
_SAID_PER_PROCESS = False


def shared_redis(url: str) -> redis.Redis:
    """One client (connection pool) per Redis URL and process, checked to answer: a configured Redis that
    does not answer is an error naming it, never a fall back to per-process limits."""
    import redis

    client = _REDIS.get(url)
    if client is None:
        # a waiter blocks up to MAX_SLEEP_SECONDS in BLPOP: the socket must wait longer than that
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=MAX_SLEEP_SECONDS + 10,
                                      health_check_interval=30)
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            client.close()
            raise LimiterUnavailable(
                f"LEDGERBRIDGE_LIMITS_URL={redacted(url)}: the Redis that keeps the companies' rate limits does not "
                f"answer ({exc}). Nothing was sent. Start it, fix the URL, or unset the variable to keep the "
                f"limits per process (then N workers of one company may send N times its limits)") from exc
        _REDIS[url] = client
    return client


def limiter_for(realm_id: str, limits: RealmLimits) -> Limiter:
    """The limiter of a company (a realm; `xero:<tenant>`): in Redis for every process when
    LEDGERBRIDGE_LIMITS_URL is set, else this process's own. QuickBooks counts per realm, so every
    client of a realm shares one, with the limits of the latest connection built for it."""
    global _SAID_PER_PROCESS
    url = settings.limits_url()
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((url, realm_id))
        if limiter is None:
            if url:
                limiter = RedisRealmRateLimiter(shared_redis(url), realm_id, limits, url=url)
                log.info("rate limits of company %s shared through %s (keys %s:{%s}:*)", realm_id, redacted(url),
                         KEY_PREFIX, realm_id)
            else:
                limiter = RealmRateLimiter(limits)
                if not _SAID_PER_PROCESS:
                    _SAID_PER_PROCESS = True
                    log.info("rate limits are kept per process (LEDGERBRIDGE_LIMITS_URL is not set): tasks of the "
                             "same company in other processes are not counted; set it to a Redis URL to share them")
            _LIMITERS[(url, realm_id)] = limiter
        limiter.limits = limits
        return limiter
