"""A throwaway CA and a loopback server certificate, as PEM files, for HTTPS e2e runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # trust this (NODE_EXTRA_CA_CERTS, `verify=`)
    cert: Path  # server chain, for `trackyard serve --tls-cert`
    key: Path  # server key, for `--tls-key`

    def serve_args(self) -> tuple[str, ...]:
        return ("--tls-cert", str(self.cert), "--tls-key", str(self.key))


def loopback_tls(directory: Path) -> TlsFiles:
    """Write a fresh CA and a certificate for 127.0.0.1 and localhost into `directory`."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca))
    with files.cert.open("wb") as chain:
        for blob in leaf.cert_chain_pems:
            chain.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(files.key))
    return files
