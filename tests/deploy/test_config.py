"""compose.yaml and deploy/nginx.conf: the compose file gives podman-compose three services, two app replicas and
their settings, nginx accepts its config, and real traffic goes through
Debian's nginx, running the repository's config, to two app processes on 127.0.0.1.

Debian 12's podman-compose (1.0) has no `config` command, so the compose file is checked by what `--dry-run up`
would run: one `podman run` line per container, printed without running anything. The nginx tests run a copy of
deploy/nginx.conf whose only changes are the `listen` line (127.0.0.1 and free ports, one with TLS) and the upstream's
`server` line (the test's app processes). A missing tool fails the test in CI (CI=true) and skips it elsewhere."""

from __future__ import annotations

import base64
import os
import re
import selectors
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import pytest
import redis
import yaml

from app.config import Settings
from app.limits import forward_body_bytes
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
HOST = "127.0.0.1"  # these tests never talk to any other address
SECRET = "a-test-secret-of-more-than-sixteen-characters"
LISTEN = "        listen 80;\n"
UPSTREAM = "        server app:8000 max_fails=3 fail_timeout=10s;\n"


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if path is None:
        message = f"{name} is not installed (apt-get install {name}); it is needed to check compose.yaml and nginx.conf"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def compose_dry_run(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CNN_")} | env
    return subprocess.run([tool("podman-compose"), "-p", "cnnviz", "--dry-run", "-f", str(COMPOSE), "up", "--no-build",
                           "-d"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def containers(dry_run: str) -> dict[str, list[list[str]]]:
    """The `podman run` command lines of a dry run, by compose service."""
    out: dict[str, list[list[str]]] = {}
    for line in dry_run.splitlines():
        if line.startswith("podman run "):
            args = shlex.split(line)
            service = next(a.split("=", 1)[1] for a in args if a.startswith("com.docker.compose.service="))
            out.setdefault(service, []).append(args)
    return out


def env_of(args: list[str]) -> dict[str, str | None]:
    """A container's -e options; None for `-e NAME`, which takes NAME's value from the caller's environment if set."""
    pairs = [args[i + 1].partition("=") for i, a in enumerate(args) if a == "-e"]
    return {name: value if eq else None for name, eq, value in pairs}


def test_compose_runs_redis_two_app_replicas_sharing_settings_and_nginx() -> None:
    run = compose_dry_run()  # no variable needed: the replicas share a cookie key through Redis
    assert run.returncode == 0, run.stdout + run.stderr
    services = containers(run.stdout)
    assert sorted(services) == ["app", "nginx", "redis", "train-worker"]
    assert [len(services[s]) for s in ("redis", "app", "train-worker", "nginx")] == [1, 2, 1, 1]
    for app in services["app"]:
        # CNN_SESSION_SECRET passed on from the caller's environment when set there (`-e NAME`), else left unset
        assert env_of(app) == {"CNN_SESSION_STORE": "redis://redis:6379/0", "CNN_SESSION_SECRET": None,
                               "CNN_TRUST_PROXY_HEADERS": "true", "CNN_DATA_DIR": "/data/mnist"}
        assert "cnnviz_mnist:/data/mnist:ro" in app  # the test set, for the lab's misclassified digits
    (worker,) = services["train-worker"]
    assert env_of(worker) == {"CNN_SESSION_STORE": "redis://redis:6379/0", "CNN_DATA_DIR": "/data/mnist"}
    assert "cnnviz_mnist:/data/mnist" in worker
    assert worker[-1] == "cnn-train-worker"  # podman-compose prints the command unquoted; the file has it whole:
    assert yaml.safe_load(COMPOSE.read_text())["services"]["train-worker"]["command"] == [
        "sh", "-c", "cnn-data download --data /data/mnist && exec cnn-train-worker"]
    assert all("-p" not in app for app in services["app"]), "the replicas publish no port: nginx is the only way in"
    nginx = services["nginx"][0]
    assert f"{NGINX_CONF}:/etc/nginx/nginx.conf:ro" in nginx
    assert nginx[nginx.index("-p") + 1] == "8080:80"

    spec = yaml.safe_load(COMPOSE.read_text())
    assert spec["services"]["app"]["build"] == "."
    assert spec["services"]["app"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert spec["services"]["nginx"]["depends_on"] == {"app": {"condition": "service_healthy"}}


def test_compose_takes_the_number_of_replicas_from_cnn_replicas() -> None:
    run = compose_dry_run(CNN_REPLICAS="3")
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(containers(run.stdout)["app"]) == 3


def test_an_empty_setting_means_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `docker compose` passes for a variable the operator left empty: the default, not a refusal."""
    monkeypatch.setenv("CNN_SESSION_SECRET", "")
    monkeypatch.setenv("CNN_SESSION_IDLE_SECONDS", "")
    assert Settings().session_secret is None
    assert Settings().session_idle_seconds == Settings.model_fields["session_idle_seconds"].default
    monkeypatch.setenv("CNN_SESSION_SECRET", SECRET)
    assert Settings().session_secret == SECRET


def test_nginx_takes_the_bodies_the_app_takes() -> None:
    """client_max_body_size is POST /api/forward's limit at the default CNN_MAX_UPLOAD_BYTES, byte for byte."""
    sizes = re.findall(r"^\s*client_max_body_size (\d+);", NGINX_CONF.read_text(), re.MULTILINE)
    assert sizes == [str(forward_body_bytes(Settings.model_fields["max_upload_bytes"].default))]


def nginx_conf(listen: str, upstreams: list[str]) -> str:
    """deploy/nginx.conf with its `listen` and upstream `server` lines replaced (each must be there exactly once)."""
    text = NGINX_CONF.read_text()
    assert text.count(LISTEN) == 1 and text.count(UPSTREAM) == 1, "the lines the tests replace have changed"
    servers = "".join(f"        server {u};\n" for u in upstreams)
    return text.replace(LISTEN, listen).replace(UPSTREAM, servers)


def prefix_dir() -> Path:
    """nginx's prefix (pid, temporary files), readable by all: nginx's workers run as nobody when root starts it."""
    prefix = Path(tempfile.mkdtemp(prefix="cnn-nginx-"))
    prefix.chmod(0o755)
    return prefix


def nginx_cmd(prefix: Path, *args: str) -> list[str]:
    return [tool("nginx"), "-e", "stderr", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-g", f"daemon off; pid {prefix}/nginx.pid;", *args]


def test_nginx_accepts_the_config() -> None:
    prefix = prefix_dir()
    try:
        (prefix / "nginx.conf").write_text(nginx_conf(f"        listen {HOST}:{free_port()};\n", [f"{HOST}:9"]))
        run = subprocess.run(nginx_cmd(prefix, "-t"), capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        assert "test is successful" in run.stderr
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


class Process:
    """A subprocess whose output goes to a temporary file, shown when something fails; stopped by stop()."""

    def __init__(self, cmd: list[str], **env: str) -> None:
        self.log: IO[str] = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def wait_healthy(url: str, procs: list[Process], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=2.0, trust_env=False) as c:
        while True:
            dead = [p for p in procs if p.proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer /healthz:\n" + "\n---\n".join(p.output()[-3000:] for p in procs))
            try:
                if c.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)


class Deployment:
    def __init__(self, url: str, tls_url: str, apps: list[Process]) -> None:
        self.url, self.tls_url, self.apps = url, tls_url, apps


@pytest.fixture
def deployment(redis_server: RedisServer) -> Iterator[Deployment]:
    """compose.yaml's topology on 127.0.0.1: Redis (the tests' own), two app processes sharing their sessions there
    (as compose runs them, with their access logs, and no CNN_SESSION_SECRET: they share one through Redis), and
    nginx in front, with HTTP and TLS."""
    openssl = tool("openssl")
    store = f"{redis_server.url}/2"
    with redis.Redis.from_url(store) as r:
        r.flushdb()
    prefix = prefix_dir()
    procs: list[Process] = []
    try:
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(Process([sys.executable, "-m", "uvicorn", "app.main:app", "--host", HOST, "--port", str(port),
                                  "--no-server-header", "--no-proxy-headers"],
                                 CNN_TRUST_PROXY_HEADERS="true", CNN_SESSION_STORE=store))
        for port, proc in zip(ports, procs, strict=True):
            wait_healthy(f"http://{HOST}:{port}", [proc])

        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
                        "-keyout", str(prefix / "key.pem"), "-out", str(prefix / "cert.pem")],
                       check=True, capture_output=True, timeout=60)
        http, https = free_port(), free_port()
        listen = (f"        listen {HOST}:{http};\n        listen {HOST}:{https} ssl;\n"
                  f"        ssl_certificate {prefix}/cert.pem;\n        ssl_certificate_key {prefix}/key.pem;\n")
        (prefix / "nginx.conf").write_text(nginx_conf(listen, [f"{HOST}:{p}" for p in ports]))
        front = Process(nginx_cmd(prefix))
        procs.append(front)
        wait_healthy(f"http://{HOST}:{http}", [front], timeout=20)
        yield Deployment(f"http://{HOST}:{http}", f"https://{HOST}:{https}", procs[:2])
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.mark.slow
def test_traffic_through_nginx_reaches_both_replicas(deployment: Deployment) -> None:
    with httpx.Client(base_url=deployment.url, timeout=10.0, trust_env=False) as client:
        for _ in range(6):
            assert client.get("/healthz").status_code == 200
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert client.get("/static/js/main.js").status_code == 200
        assert "server" not in page.headers or "nginx/" not in page.headers["server"]  # server_tokens off
    # least_conn among idle replicas takes turns: both served some of the health checks (their access logs).
    served = [app.output().count('"GET /healthz HTTP/1.1" 200') for app in deployment.apps]
    assert all(n >= 2 for n in served), served


@pytest.mark.slow
def test_nginx_refuses_a_body_over_the_apps_largest_and_passes_one_at_it(deployment: Deployment) -> None:
    limit = forward_body_bytes(Settings.model_fields["max_upload_bytes"].default)
    head = b'{"image": "data:image/png;base64,'
    with httpx.Client(base_url=deployment.url, timeout=30.0, trust_env=False) as client:
        over = client.post("/api/forward", content=head + b"A" * (limit + 1 - len(head)),
                           headers={"Content-Type": "application/json"})
        assert over.status_code == 413
        assert "text/html" in over.headers["content-type"]  # nginx's own page: the app never saw it
        at = client.post("/api/forward", content=head + b"A" * (limit - len(head) - 2) + b'"}',
                         headers={"Content-Type": "application/json"})
    assert at.headers["content-type"] == "application/json", at.text  # the app's answer, whatever it says
    assert at.json()["code"]


@pytest.mark.slow
def test_the_app_sees_the_browsers_scheme_and_host_from_nginx_and_never_the_clients_own(
        deployment: Deployment) -> None:
    """A redirect (/healthz/ -> /healthz) is built from the scheme and host the app believes: https and the TLS port
    through nginx's TLS listener; http through the plain one, whatever X-Forwarded-Proto the client sent."""
    with httpx.Client(base_url=deployment.tls_url, timeout=10.0, trust_env=False, verify=False) as client:
        r = client.get("/healthz/")
    assert r.status_code == 307 and r.headers["location"] == f"{deployment.tls_url}/healthz"
    with httpx.Client(base_url=deployment.url, timeout=10.0, trust_env=False) as client:
        r = client.get("/healthz/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert r.status_code == 307 and r.headers["location"] == f"{deployment.url}/healthz"


class IdleClients:
    """`count` connections that each send half a request (a request line and one header, never the blank line that
    ends the headers) and then nothing, as slowloris does; any the server closes is opened again at once, so that
    `count` stay open for as long as this runs. Counts the ones the server closed and how long each had lived."""

    PARTIAL = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    def __init__(self, host: str, port: int, count: int) -> None:
        self.address = (host, port)
        self.lifetimes: list[float] = []  # seconds from open to the server's close, of each one closed
        self._open: dict[socket.socket, float] = {}
        self._selector = selectors.DefaultSelector()
        for _ in range(count):
            self._connect()

    def _connect(self) -> None:
        sock = socket.create_connection(self.address, timeout=5)
        sock.sendall(self.PARTIAL)
        sock.setblocking(False)
        self._open[sock] = time.monotonic()
        self._selector.register(sock, selectors.EVENT_READ)

    def hold(self, seconds: float) -> None:
        """Keep them open for `seconds`: a socket the server answers or closes is replaced by a new one."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for key, _ in self._selector.select(timeout=min(left, 0.5)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except OSError:  # reset: nginx's reset_timedout_connection
                    data = b""
                if not data or data.startswith(b"HTTP/"):
                    self.lifetimes.append(time.monotonic() - self._open.pop(sock))
                    self._selector.unregister(sock)
                    sock.close()
                    self._connect()

    @property
    def open(self) -> int:
        return len(self._open)

    def close(self) -> None:
        for sock in self._open:
            self._selector.unregister(sock)
            sock.close()
        self._open.clear()
        self._selector.close()


@pytest.mark.slow
def test_nginx_holds_1000_idle_half_requests_for_20_s_while_a_learners_cycles_complete(
        deployment: Deployment) -> None:
    """1,000 connections hold half a request each for 20 s (reopened as nginx closes them) while a learner, through
    the same nginx, cycles forward → backward → step on sessions the two app processes share through Redis. nginx
    keeps the half requests to itself (the apps never see them) and closes each after client_header_timeout (10 s)."""
    host, port = deployment.url.removeprefix("http://").split(":")
    idle = IdleClients(host, int(port), 1000)
    done = threading.Event()
    cycles: list[float] = []
    failures: list[str] = []

    def learner() -> None:
        image = {"input": {"shape": [28, 28], "dtype": "float32", "data": base64.b64encode(
            (np.eye(28, dtype="<f4")).tobytes()).decode()}}
        with httpx.Client(base_url=deployment.url, timeout=10.0, trust_env=False, headers={"X-Tab-Id": "t"}) as c:
            c.get("/")
            while not done.is_set():
                start = time.monotonic()
                for path, body in (("/api/forward", image), ("/api/backward", {"target": 1}),
                                   ("/api/step", {"lr": 0.01})):
                    r = c.post(path, json=body)
                    if r.status_code != 200:
                        failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                cycles.append(time.monotonic() - start)
                time.sleep(0.1)

    thread = threading.Thread(target=learner)
    thread.start()
    try:
        idle.hold(20.0)
        assert idle.open == 1000
    finally:
        done.set()
        thread.join(timeout=30)
        idle.close()
    assert not failures, failures[:3]
    assert len(cycles) >= 20, f"only {len(cycles)} cycles in 20 s"
    assert max(cycles) < 3.0, f"the slowest cycle took {max(cycles):.2f} s"
    # nginx closed the first thousand after its header timeout, not before (nor never).
    assert len(idle.lifetimes) >= 1000
    assert 9.0 < sorted(idle.lifetimes)[len(idle.lifetimes) // 2] < 12.0
    # The apps saw the learner's requests (both of them: least_conn), and no half request ever reached them.
    seen = [app.output() for app in deployment.apps]
    assert all('"POST /api/' in log for log in seen), "both replicas served the learner"
    assert sum(log.count('"GET / HTTP/1.1"') for log in seen) == 1  # the learner's page; none of the idle ones
