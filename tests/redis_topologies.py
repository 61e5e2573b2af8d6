"""Real Redis topologies for connection tests: Sentinel, Cluster, TLS (all throwaway).

Every server runs on a free port of 127.0.0.1, in its own temp dir, and is killed by
``stop()``; nothing here touches a Redis it did not start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from devsupport.devserver import (
    RedisServerUnavailable,
    find_redis_server,
    free_port,
    stop_process,
)

SERVICE = "mymaster"

#: Cluster set-up and the tests use Redis 7 commands (CLUSTER ADDSLOTSRANGE)
CLUSTER_VERSION = (7, 0)


def redis_server_for(*, min_version: tuple[int, ...] = (), tls: bool = False) -> str:
    """A redis-server binary that has what the test needs, else the test is skipped
    with the reason (failed under CI, which installs one: .ci/run)."""
    try:
        return find_redis_server(min_version=min_version, tls=tls)
    except RedisServerUnavailable as missing:
        if os.environ.get("CI"):
            pytest.fail(str(missing))
        pytest.skip(str(missing))


def redis_cli_beside(server: str) -> str:
    """The redis-cli of the same installation as ``server`` (else the one on PATH)."""
    beside = Path(server).with_name("redis-cli")
    return str(beside) if beside.exists() else shutil.which("redis-cli") or "redis-cli"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; seconds it took (AssertionError after ``timeout``)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Proc:
    """One redis-server (or sentinel) process: config text in, killed on stop."""

    config: str
    port: int = 0
    tls: dict[str, object] | None = None  # ssl kwargs a client needs to ping it
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="redbeat-topo-"))
    process: subprocess.Popen[bytes] | None = None
    sentinel: bool = False
    min_version: tuple[int, ...] = ()

    def start(self, timeout: float = 10.0) -> Proc:
        conf = Path(self.workdir, "redis.conf")
        base = (
            f'bind 127.0.0.1\ndir {self.workdir}\ndaemonize no\nsave ""\n'
            f"logfile {self.workdir}/redis.log\n"
        )
        port_line = "" if self.tls else f"port {self.port}\n"
        conf.write_text(base + port_line + self.config)
        binary = redis_server_for(min_version=self.min_version, tls=bool(self.tls))
        args = [binary, str(conf)]
        if self.sentinel:
            args.append("--sentinel")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, timeout, f"redis on port {self.port} ({self.log_tail()})")
        return self

    def client(self, **kwargs: object) -> redis.Redis:
        extra = dict(self.tls or {})
        extra.update(kwargs)
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True, **extra
        )

    def ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"redis exited: {self.log_tail()}")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return True  # up, and asking for a password
        except redis.ResponseError as exc:
            return "NOAUTH" in str(exc)
        finally:
            client.close()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return Path(self.workdir, "redis.log").read_text()[-400:]
        return ""

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def plain(config: str = "") -> Proc:
    return Proc(config, port=free_port()).start()


# --------------------------------------------------------------------------- sentinel


@dataclass
class SentinelSetup:
    master: Proc
    replica: Proc
    sentinels: list[Proc]

    @property
    def sentinel_hosts(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def url(self, db: int = 0, password: str = "") -> str:
        auth = f":{password}@" if password else ""
        return f"redis-sentinel://{auth}{self.sentinel_hosts}/{db}?service_name={SERVICE}"

    def master_port(self) -> int:
        client = self.sentinels[0].client()
        try:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])
        finally:
            client.close()

    def nodes(self) -> list[Proc]:
        return [self.master, self.replica]

    def stop(self) -> None:
        for proc in [*self.sentinels, self.master, self.replica]:
            proc.stop()


def start_sentinel(password: str = "") -> SentinelSetup:
    """1 master, 1 replica, 3 sentinels (quorum 2, down after 1 s, fast failover)."""
    auth = f"requirepass {password}\nmasterauth {password}\n" if password else ""
    master = Proc(auth, port=free_port()).start()
    replica_port = free_port()
    replica = Proc(
        auth + f"replicaof 127.0.0.1 {master.port}\nreplica-priority 100\n", port=replica_port
    ).start()
    procs = [master, replica]
    try:
        wait_until(
            lambda: (
                replica.client(password=password or None).info("replication")["master_link_status"]
                == "up"
            ),
            15,
            "replica sync",
        )
        sentinels = []
        for _ in range(3):
            config = (
                f"sentinel monitor {SERVICE} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 3000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
                + (f"sentinel auth-pass {SERVICE} {password}\n" if password else "")
            )
            proc = Proc(config, port=free_port(), sentinel=True).start()
            procs.append(proc)
            sentinels.append(proc)
        setup = SentinelSetup(master, replica, sentinels)

        def all_know_the_replica() -> bool:
            for s in sentinels:
                c = s.client()
                try:
                    info = c.sentinel_master(SERVICE)
                    if int(info.get("num-other-sentinels", 0)) < 2 or not c.sentinel_slaves(
                        SERVICE
                    ):
                        return False
                finally:
                    c.close()
            return True

        wait_until(all_know_the_replica, 20, "sentinels to discover each other")
        return setup
    except BaseException:
        for proc in procs:
            proc.stop()
        raise


# --------------------------------------------------------------------------- cluster


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is a valid port too."""
    while True:
        port = free_port()
        if port <= 55535:
            return port


@dataclass
class ClusterSetup:
    nodes: list[Proc]

    def url(self, password: str = "") -> str:
        auth = f":{password}@" if password else ""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return f"redis-cluster://{auth}{hosts}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(size: int = 3) -> ClusterSetup:
    """``size`` masters, no replicas, all 16384 slots assigned and agreed."""
    nodes: list[Proc] = []
    try:
        for _ in range(size):
            nodes.append(
                Proc(
                    "cluster-enabled yes\ncluster-config-file nodes.conf\n"
                    "cluster-node-timeout 2000\n",
                    port=cluster_port(),
                    min_version=CLUSTER_VERSION,
                ).start()
            )
        subprocess.run(
            [
                redis_cli_beside(redis_server_for(min_version=CLUSTER_VERSION)),
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )

        def ready() -> bool:
            for node in nodes:
                c = node.client()
                try:
                    if c.cluster("info")["cluster_state"] != "ok":
                        return False
                finally:
                    c.close()
            return True

        wait_until(ready, 20, "cluster state ok")
        return ClusterSetup(nodes)
    except BaseException:
        for node in nodes:
            node.stop()
        raise


# --------------------------------------------------------------------------- TLS


@dataclass
class TlsFiles:
    dir: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that did not sign the server's certificate


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


#: Extensions of a proper CA and of its leaves: Python 3.13 verifies strictly
#: (VERIFY_X509_STRICT), which refuses a CA without keyUsage and a leaf without an
#: authority key identifier.
CA_EXTENSIONS = """\
[req]
distinguished_name = dn
x509_extensions = ca
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""
LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_tls_files() -> TlsFiles:
    """A throwaway CA, a server cert for 127.0.0.1/localhost and a client cert."""
    workdir = tempfile.mkdtemp(prefix="redbeat-tls-")
    Path(workdir, "ca.cnf").write_text(CA_EXTENSIONS)
    Path(workdir, "leaf.ext").write_text(LEAF_EXTENSIONS)
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-config", "ca.cnf", "-subj", f"/CN=redbeat-sync test {ca}",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
            cwd=workdir,
        )  # fmt: skip
    for who in ("server", "client"):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-config", "ca.cnf", "-subj", f"/CN={who}",
            "-keyout", f"{who}.key", "-out", f"{who}.csr", cwd=workdir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", f"{who}.pem",
            cwd=workdir,
        )  # fmt: skip
    p = lambda name: os.path.join(workdir, name)  # noqa: E731
    return TlsFiles(
        workdir,
        p("ca.pem"),
        p("server.pem"),
        p("server.key"),
        p("client.pem"),
        p("client.key"),
        p("other-ca.pem"),
    )


def start_tls(files: TlsFiles, *, auth_clients: str = "optional") -> Proc:
    """A server with a TLS port only (``port 0``)."""
    port = free_port()
    config = (
        f"port 0\ntls-port {port}\ntls-cert-file {files.server_cert}\n"
        f"tls-key-file {files.server_key}\ntls-ca-cert-file {files.ca}\n"
        f"tls-auth-clients {auth_clients}\n"
    )
    tls: dict[str, object] = {
        "ssl": True,
        "ssl_ca_certs": files.ca,
        "ssl_certfile": files.client_cert,
        "ssl_keyfile": files.client_key,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    return Proc(config, port=port, tls=tls).start()


# --------------------------------------------------------------------------- CLI


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def all(self) -> str:
        return self.stdout + self.stderr


def cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run ``redbeat-sync ARGS`` in-process; tracebacks are test failures."""
    from click.testing import CliRunner

    from redbeat_sync.cli import main

    clean = {"REDBEAT_SYNC_REDIS_URL": None, "REDBEAT_SYNC_KEY_PREFIX": None, "NO_COLOR": "1"}
    result = CliRunner().invoke(main, list(args), env={**clean, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


SPEC_YAML = """\
version: 1
entries:
  conn-every-second:
    task: tests.beat_app.record
    schedule: {every: 1s}
    args: [conn-every-second]
  conn-hourly:
    task: tests.beat_app.record
    schedule: {cron: "0 * * * *"}
  conn-daily:
    task: tests.beat_app.record
    schedule: {every: 1d}
"""
SPEC_NAMES = ("conn-every-second", "conn-hourly", "conn-daily")


def write_spec(directory: Path, text: str = SPEC_YAML) -> str:
    path = Path(directory, "schedules.yaml")
    path.write_text(text)
    return str(path)


def plan_apply_show(url: str, spec: str, *, prefix: str = "redbeat:") -> list[CliResult]:
    """plan (changes) -> apply -> plan (no changes) -> show: every result, asserted."""
    common = ["--redis-url", url, "--key-prefix", prefix]
    first = cli("plan", spec, "--detailed-exitcode", *common)
    assert first.code == 2, first.all
    applied = cli("apply", spec, "--auto-approve", *common)
    assert applied.code == 0, applied.all
    assert "Apply complete!" in applied.stdout
    again = cli("plan", spec, "--detailed-exitcode", *common)
    assert again.code == 0, again.all
    shown = cli("show", "--format", "json", *common)
    assert shown.code == 0, shown.all
    for name in SPEC_NAMES:
        assert name in shown.stdout
    return [first, applied, again, shown]
