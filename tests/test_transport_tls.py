"""TLS: the transport verifies the VTN's certificate, trusting a custom CA bundle from vtn.verify_tls."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from venclient.errors import SettingsError
from venclient.vtn_errors import VtnUnreachable
from fixtures.vtn import make_config
from venclient.plugins.local_vtn import LocalVtnServer, VtnState
from venclient.plugins.openadr_http import HttpVtnTransport

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=venclient test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=folder)
    return folder


@pytest.fixture
def tls_vtn(certificates):
    server = LocalVtnServer(VtnState(), tls_cert=certificates / "server.pem", tls_key=certificates / "server.key")
    server.start()
    yield server
    server.stop()


async def test_custom_ca_bundle_is_trusted(tls_vtn, certificates):
    assert tls_vtn.url.startswith("https://127.0.0.1:")
    async with HttpVtnTransport(make_config(tls_vtn.url, verify_tls=str(certificates / "ca.pem"))) as vtn:
        assert await vtn.list_programs() == []


async def test_unknown_ca_is_refused_in_one_sentence(tls_vtn):
    async with HttpVtnTransport(make_config(tls_vtn.url, retries=0)) as vtn:
        with pytest.raises(VtnUnreachable) as caught:
            await vtn.list_programs()
    message = str(caught.value)
    assert message == (f"Cannot reach the VTN at {tls_vtn.url}: its TLS certificate is not trusted (unable to get "
                       "local issuer certificate); set vtn.verify_tls to the CA bundle that signed it.")


async def test_verification_can_be_switched_off(tls_vtn):
    async with HttpVtnTransport(make_config(tls_vtn.url, verify_tls=False)) as vtn:
        assert await vtn.list_programs() == []


def test_missing_ca_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="vtn.verify_tls points at .*missing.pem, which is not a readable"):
        HttpVtnTransport(make_config("https://127.0.0.1:1/openadr3/3.0.1", verify_tls=str(tmp_path / "missing.pem")))
