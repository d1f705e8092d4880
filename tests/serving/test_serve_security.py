"""`sqlfeast serve` as a process: tokens from the environment or a file, `--no-auth` only on
loopback and said at start, HTTPS with the certificate and key passed to uvicorn."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.clirun import sqlfeast
from tests.conftest import copy_example

from .conftest import Served, setup_project

READ_TOKEN = "serve-read-token-0123456789"
WRITE_TOKEN = "serve-write-token-0123456789"
BODY = {"features": ["customer_profile:current_balance"], "entities": {"customer_id": [2001]}}


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Path:
    """The example project on its SQLite online store, applied and materialized."""
    root = copy_example(tmp_path_factory.mktemp("serve_security") / "demo")
    setup_project(root)
    return root


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the cryptography package."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def start_line(served: Served) -> dict:
    return [e for e in served.access_log() if e.get("event") == "serving"][-1]  # the log is appended to


def test_serve_without_tokens_or_no_auth_refuses_to_start(applied):
    result = sqlfeast("serve", cwd=applied, env={"SQLFEAST_READ_TOKENS": None, "SQLFEAST_WRITE_TOKENS": None})
    assert result.exit_code == 1, str(result)
    assert "no tokens for the feature server: set $SQLFEAST_READ_TOKENS and/or $SQLFEAST_WRITE_TOKENS" in result.screen
    assert "--no-auth" in result.screen and "Traceback" not in result.raw


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-auth", "--host", "0.0.0.0"], "--no-auth is allowed only on a loopback address, not --host 0.0.0.0"),
        (["--ssl-certfile", "cert.pem"], "--ssl-certfile and --ssl-keyfile go together"),
        (["--ssl-certfile", "nope.pem", "--ssl-keyfile", "nope.key"], "cannot read nope.pem: no such file"),
        (["--ssl-certfile", "profiles.yml", "--ssl-keyfile", "profiles.yml"], "cannot load the TLS certificate"),
        (["--max-clock-skew", "-1"], "--max-clock-skew must be 0 or a number of seconds"),
    ],
)
def test_bad_security_options_are_one_message(applied, args, message):
    result = sqlfeast("serve", *args, cwd=applied, env={"SQLFEAST_READ_TOKENS": READ_TOKEN})
    assert result.exit_code == 2, str(result)
    assert message in result.screen, str(result)
    assert "Traceback" not in result.raw


def test_no_auth_on_loopback_is_said_at_start(applied):
    served = Served(applied, "--registry-refresh", "0").start()
    try:
        assert start_line(served)["auth"] == "off"
        assert "warning: authentication is OFF (--no-auth)" in served.log_path.read_text()
        assert httpx.post(served.url + "/get-online-features", json=BODY, timeout=30).status_code == 200
    finally:
        served.stop()


def test_tokens_from_the_environment(applied):
    env = {"SQLFEAST_READ_TOKENS": READ_TOKEN, "SQLFEAST_WRITE_TOKENS": WRITE_TOKEN}
    served = Served(applied, "--registry-refresh", "0", no_auth=False, env=env).start()
    try:
        assert start_line(served)["auth"] == "bearer tokens: read, write"
        url = served.url + "/get-online-features"
        assert httpx.post(url, json=BODY, timeout=30).status_code == 401
        r = httpx.post(url, json=BODY, headers={"authorization": f"Bearer {READ_TOKEN}"}, timeout=30)
        assert r.status_code == 200 and r.json()["results"][1]["statuses"] == ["PRESENT"]
        push = {"push_source_name": "driver_stats_push", "df": {"driver_id": []}}
        r = httpx.post(served.url + "/push", json=push, headers={"authorization": f"Bearer {READ_TOKEN}"}, timeout=30)
        assert r.status_code == 403
    finally:
        served.stop()


def test_tokens_from_a_file_and_https(applied, tmp_path):
    cert, key = self_signed(tmp_path)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"read {READ_TOKEN}\n")
    tokens.chmod(0o600)
    served = Served(
        applied,
        "--registry-refresh",
        "0",
        "--tokens-file",
        str(tokens),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
        no_auth=False,
        env={"SQLFEAST_READ_TOKENS": None, "SQLFEAST_WRITE_TOKENS": None},
    ).start()
    try:
        assert served.url.startswith("https://")
        line = start_line(served)
        assert (line["tls"], line["auth"]) == (True, "bearer tokens: read")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=30) as https:
            r = https.post(
                served.url + "/get-online-features", json=BODY, headers={"authorization": f"Bearer {READ_TOKEN}"}
            )
            assert r.status_code == 200, r.text
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on that port
            httpx.post(served.url.replace("https://", "http://") + "/health", timeout=10)
    finally:
        served.stop()


def test_a_readable_tokens_file_is_refused(applied, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"write {WRITE_TOKEN}\n")
    tokens.chmod(0o644)
    result = sqlfeast("serve", "--tokens-file", str(tokens), cwd=applied)
    assert result.exit_code == 1, str(result)
    assert f"{tokens}: the tokens file may be read by other users (mode 644) (chmod 600 {tokens})" in result.screen
    assert json.dumps(WRITE_TOKEN) not in result.raw and WRITE_TOKEN not in result.raw


def test_no_token_in_the_worker_configuration(applied):
    """Workers read the tokens themselves: the JSON handed to them names only the file."""
    env = {"SQLFEAST_WRITE_TOKENS": WRITE_TOKEN}
    served = Served(applied, "--registry-refresh", "0", "--workers", "2", no_auth=False, env=env).start()
    try:
        pids = {served.proc.pid}
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(served.proc.pid)], capture_output=True, text=True)
        pids |= {int(p) for p in out.stdout.split()}
        for pid in pids:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            config = [e for e in environ if e.startswith(b"SQLFEAST_SERVE_CONFIG=")]
            assert all(WRITE_TOKEN.encode() not in c for c in config)
        r = httpx.post(
            served.url + "/get-online-features",
            json=BODY,
            headers={"authorization": f"Bearer {WRITE_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 200
    finally:
        served.stop()
