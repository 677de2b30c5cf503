"""The per-company limiter shared through Redis (connectors/limits.py RedisRealmRateLimiter): several
processes on one company together keep its limits (and real QBOClients in three processes get no 429
from the QuickBooks sandbox); a killed holder's slot comes back after its lease; a Redis that does not
answer is an error naming it. Real Redis on 127.0.0.1:6379 (database 15); the
tests skip when none answers."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest
import redis

from ledgerbridge.connectors.errors import TransientError
from ledgerbridge.connectors.limits import (
    LimiterUnavailable,
    RealmLimits,
    RealmRateLimiter,
    RedisRealmRateLimiter,
    limiter_for,
    realm_keys,
)

REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from a Celery broker's 0


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


pytestmark = pytest.mark.skipif(not redis_answers(),
                                reason="Redis: no server answers on 127.0.0.1:6379; the shared-limiter tests are skipped")

# fork: the children inherit this module without importing it by path (and redis-py reconnects after a fork)
fork = multiprocessing.get_context("fork")


@pytest.fixture
def realm():
    """A company of its own, its keys removed afterwards."""
    realm_id = f"test-{uuid.uuid4().hex[:10]}"
    yield realm_id
    redis.Redis.from_url(REDIS_URL).delete(*realm_keys(realm_id))


def shared_limiter(realm_id: str, limits: RealmLimits, window: float, lease: float) -> RedisRealmRateLimiter:
    return RedisRealmRateLimiter(redis.Redis.from_url(REDIS_URL), realm_id, limits, url=REDIS_URL,
                                 window_seconds=window, lease_seconds=lease)


# --- several processes on one company --------------------------------------------------------------

def export_like(realm_id: str, limits: RealmLimits, window: float, requests: int, results) -> None:
    """A process sending `requests` requests, every third a batch request, each taking a little while;
    reports (entered, answered, batch) per request, timed inside the slot (so within the limiter's own)."""
    limiter = shared_limiter(realm_id, limits, window, lease=2.0)
    log = []
    for n in range(requests):
        batch = n % 3 == 0
        with limiter.slot(batch=batch):
            entered = time.time()
            time.sleep(0.01 + 0.02 * (n % 2))
            log.append((entered, time.time(), batch))
    results.put(log)


def peak_in_window(calls: list[tuple[float, float, bool]], window: float) -> int:
    """The most requests counted at once by the limits' rule: at each request's entry, those that entered
    by then and are in flight or were answered within the window (the entering one included)."""
    return max(sum(1 for entered, answered, _ in calls if entered <= t and answered > t - window)
               for t, _, _ in calls)


def peak_concurrency(calls: list[tuple[float, float, bool]]) -> int:
    events = sorted([(entered, 1) for entered, _, _ in calls] + [(answered, -1) for _, answered, _ in calls])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_four_processes_on_one_company_keep_its_limits_together(realm):
    company = RealmLimits(requests_per_minute=12, concurrent_requests=3, batch_requests_per_minute=4)
    window, processes, each = 1.5, 4, 12
    results = fork.Queue()
    workers = [fork.Process(target=export_like, args=(realm, company, window, each, results)) for _ in range(processes)]
    started = time.monotonic()
    for w in workers:
        w.start()
    calls = [call for _ in workers for call in results.get(timeout=60)]
    for w in workers:
        w.join(10)
    elapsed = time.monotonic() - started
    assert all(w.exitcode == 0 for w in workers)
    assert len(calls) == processes * each

    batches = [c for c in calls if c[2]]
    assert peak_concurrency(calls) <= company.concurrent_requests
    assert peak_in_window(calls, window) <= company.requests_per_minute
    assert peak_in_window(batches, window) <= company.batch_requests_per_minute
    # The limits did bite, and together: 48 requests at 12 a window (16 batch requests at 4) take at
    # least 3 windows; four per-process limiters would have let 4 x 12 go in the first.
    assert peak_in_window(calls, window) == company.requests_per_minute
    assert elapsed >= 3 * window


def test_the_in_process_limiter_would_let_four_processes_exceed_the_limits(realm):
    """The same workload under per-process limiters: the reason the shared one exists."""
    company = RealmLimits(requests_per_minute=12, concurrent_requests=3, batch_requests_per_minute=4)
    window, results = 1.5, fork.Queue()

    def per_process(requests: int) -> None:
        limiter = RealmRateLimiter(company, window_seconds=window)
        log = []
        for n in range(requests):
            with limiter.slot(batch=n % 3 == 0):
                entered = time.time()
                time.sleep(0.01)
                log.append((entered, time.time(), n % 3 == 0))
        results.put(log)

    workers = [fork.Process(target=per_process, args=(12,)) for _ in range(4)]
    for w in workers:
        w.start()
    calls = [call for _ in workers for call in results.get(timeout=60)]
    for w in workers:
        w.join(10)
    assert peak_in_window(calls, window) > company.requests_per_minute


# --- real clients against the sandbox, which answers 429 past its limits -------------------------------

def client_process(server_url: str, realm_id: str, refresh_token: str, company: RealmLimits, window: float,
                   requests: int, data_dir: str, results) -> None:
    """A worker as in a task: a QBOClient built through limiter_for (LEDGERBRIDGE_LIMITS_URL inherited),
    its tokens in a ledger of its own; reports the HTTP status of every /v3 answer."""
    from ledgerbridge.connectors.errors import ConnectorError
    from ledgerbridge.connectors.qbo.client import QBOClient
    from ledgerbridge.connectors.tokens import LedgerTokenStore
    from ledgerbridge.ledger import Ledger, migrate

    url = f"sqlite:///{data_dir}/tokens-{os.getpid()}.db"
    migrate(url)
    tokens = LedgerTokenStore(Ledger(url), f"qbo_{realm_id}", realm_id, refresh_token, "test-secret")
    client = QBOClient(server_url, realm_id, "ledgerbridge-test", "test-secret", tokens,
                       token_url=f"{server_url}/oauth2/v1/tokens/bearer", max_attempts=1, limits=company)
    client.limiter.window_seconds = window  # the sandbox's sped-up minute
    statuses = []
    send = client.http.request

    def noting_status(method, url, *args, **kwargs):
        response = send(method, url, *args, **kwargs)
        if "/v3/company/" in url:
            statuses.append(response.status_code)
        return response

    client.http.request = noting_status
    for _ in range(requests):
        try:
            client.preferences()
        except ConnectorError:
            pass  # a 429: its status is noted, and the test says so
    results.put((type(client.limiter).__name__, statuses))


def test_clients_in_three_processes_get_no_429_from_the_sandbox(monkeypatch, tmp_path, realm):
    import requests

    from ledgerbridge.sandbox.qbo import QBOSandbox, serve_in_thread

    speed = 20.0  # the sandbox's minute is 3 s
    origin = time.time()
    company = RealmLimits(requests_per_minute=12, concurrent_requests=2, batch_requests_per_minute=4)
    sandbox = QBOSandbox(clients={"ledgerbridge-test": "test-secret"}, access_token_ttl=int(3600 * speed),
                         clock=lambda: origin + (time.time() - origin) * speed,
                         requests_per_minute=12, concurrent_requests=2, batch_requests_per_minute=4)
    server = serve_in_thread(sandbox)
    monkeypatch.setenv("LEDGERBRIDGE_LIMITS_URL", REDIS_URL)
    try:
        realm_id = str(uuid.uuid4().int)[:15]
        refresh_tokens = [requests.post(f"{server.url}/_sandbox/realms", json={
            "client_id": "ledgerbridge-test", "realm_id": realm_id}, timeout=10).json()["refresh_token"]
            for _ in range(3)]
        results = fork.Queue()
        workers = [fork.Process(target=client_process, args=(server.url, realm_id, token, company, 60 / speed, 10,
                                                             str(tmp_path), results)) for token in refresh_tokens]
        started = time.monotonic()
        for w in workers:
            w.start()
        reports = [results.get(timeout=120) for _ in workers]
        elapsed = time.monotonic() - started
        for w in workers:
            w.join(10)
    finally:
        server.stop()
        redis.Redis.from_url(REDIS_URL).delete(*realm_keys(realm_id))
    assert {kind for kind, _ in reports} == {"RedisRealmRateLimiter"}
    statuses = [status for _, got in reports for status in got]
    assert statuses == [200] * 30  # 30 requests at 12 a window: the limits bit, and the sandbox never said 429
    assert elapsed >= 2 * 60 / speed


# --- a killed holder -----------------------------------------------------------------------------

def hold_forever(realm_id: str, limits: RealmLimits, lease: float, holding) -> None:
    limiter = shared_limiter(realm_id, limits, window=30.0, lease=lease)
    with limiter.slot():
        holding.set()
        time.sleep(3600)


def test_a_killed_holder_frees_its_slot_when_its_lease_ends(realm):
    company = RealmLimits(requests_per_minute=100, concurrent_requests=1, batch_requests_per_minute=10)
    lease = 2.0  # renewed every lease / 3: room for a loaded machine's scheduling delays
    holding = fork.Event()
    holder = fork.Process(target=hold_forever, args=(realm, company, lease, holding))
    holder.start()
    try:
        assert holding.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        in_flight_key = realm_keys(realm)[2]
        # Alive, the holder renews its lease: the slot is still held well past one lease.
        time.sleep(2.5 * lease)
        (held_id, lease_end), = client.zrange(in_flight_key, 0, -1, withscores=True)
        seconds, micros = client.time()
        assert lease_end > seconds + micros / 1e6
        assert f":{holder.pid}:".encode() in held_id  # a person can tell which process holds it
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)

    waiter = shared_limiter(realm, company, window=30.0, lease=lease)
    with waiter.slot() as waited:
        pass
    assert 0 < waited <= lease + 1.5  # the lease's end, plus a loaded machine's wake-up latency
    # The dead request may have reached the company: it now counts in the window, answered when freed.
    assert client.zscore(realm_keys(realm)[0], held_id) is not None


# --- configuration ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_redis_that_does_not_answer_is_a_clear_error_naming_it(monkeypatch, realm):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("LEDGERBRIDGE_LIMITS_URL", url)
    with pytest.raises(LimiterUnavailable) as refused:
        limiter_for(realm, RealmLimits())
    message = str(refused.value)
    assert f"LEDGERBRIDGE_LIMITS_URL=redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in message
    assert "does not answer" in message and "hunter2" not in message
    assert isinstance(refused.value, TransientError)  # nothing was sent: the outbox leaves the rows pending


@pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server binary to start and stop")
def test_redis_going_away_mid_run_stops_sending_with_its_url(realm, tmp_path):
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while not redis_answers_at(client):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)
        limiter = RedisRealmRateLimiter(client, realm, RealmLimits(), url=url)
        with limiter.slot():
            pass
    finally:
        server.terminate()
        server.wait(10)
    with pytest.raises(LimiterUnavailable, match=rf"shared rate limiter at {url} did not answer .*nothing was sent"):
        with limiter.slot():
            pass


def redis_answers_at(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def test_limiter_for_picks_redis_when_configured_else_this_process(monkeypatch, realm):
    monkeypatch.setenv("LEDGERBRIDGE_LIMITS_URL", REDIS_URL)
    shared = limiter_for(realm, RealmLimits(requests_per_minute=7))
    assert isinstance(shared, RedisRealmRateLimiter) and shared.limits.requests_per_minute == 7
    assert limiter_for(realm, RealmLimits(requests_per_minute=9)) is shared and shared.limits.requests_per_minute == 9
    monkeypatch.delenv("LEDGERBRIDGE_LIMITS_URL")
    assert isinstance(limiter_for(realm, RealmLimits()), RealmRateLimiter)
