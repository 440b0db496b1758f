"""Signing reports: GOST signatures checked by OpenSSL with Debian's GOST engine, RSA ones by `openssl cms
-verify`, our verifier on both; CryptoPro's cryptcp absent and present; the checks before signing; file_drop."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import date
from pathlib import Path

import pytest

from integrations import registry
from ledger import cli
from ledger.errors import InputError, LedgerError
from ledger.reports import boupr, filing
from tests import certs

OPENSSL = shutil.which("openssl")


def gost_engine_works() -> bool:
    if not OPENSSL:
        return False
    return subprocess.run([OPENSSL, "engine", "gost"], capture_output=True).returncode == 0


# CI installs the engine (.ci/run): there its absence is a failure, not a skip.
needs_gost = pytest.mark.skipif(not gost_engine_works() and not os.environ.get("CI"),
                                reason="openssl with the GOST engine (libengine-gost-openssl) is not installed")


def gost_key_and_cert(folder: Path, bits: str) -> tuple[str, str]:
    """A key and a self-signed certificate made by OpenSSL's GOST engine (an implementation independent of ours)."""
    key, cert = folder / f"k{bits}.pem", folder / f"c{bits}.pem"
    subprocess.run([OPENSSL, "genpkey", "-engine", "gost", "-algorithm", f"gost2012_{bits}", "-pkeyopt", "paramset:A",
                    "-out", str(key)], check=True, capture_output=True)
    subprocess.run([OPENSSL, "req", "-engine", "gost", "-new", "-x509", "-key", str(key), "-out", str(cert),
                    "-subj", "/CN=Председатель/O=СНТ Тест", "-utf8", "-days", "30", f"-md_gost12_{bits}"],
                   check=True, capture_output=True)
    return key.read_text(), cert.read_text()


def configure(db, name: str, values: dict) -> None:
    registry.configure(db, name, values)
    registry.set_enabled(db, name, True)


def openssl_verify(data: Path, sig: Path, gost: bool) -> subprocess.CompletedProcess:
    args = [OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig), "-content", str(data),
            "-noverify", "-out", os.devnull]
    return subprocess.run(args[:2] + (["-engine", "gost"] if gost else []) + args[2:], capture_output=True, text=True)


@needs_gost
@pytest.mark.parametrize("bits", ["256", "512"])
def test_gost_signature_verifies_with_openssl_gost_engine(db, tmp_path, bits, capsys):
    key, cert = gost_key_and_cert(tmp_path, bits)
    configure(db, "gost", {"certificate": cert, "private_key": key})
    report = tmp_path / "report.xml"
    report.write_bytes("<?xml version='1.0' encoding='windows-1251'?><a>Отчёт</a>".encode("cp1251"))
    assert cli.main(["report", "sign", str(report), "--signer", "gost"]) == 0
    sig = tmp_path / "report.xml.sig"
    done = openssl_verify(report, sig, gost=True)
    assert done.returncode == 0 and "Verification successful" in done.stderr + done.stdout, done.stderr
    assert cli.main(["report", "verify", str(report), str(sig)]) == 0
    assert "Председатель" in capsys.readouterr().out
    report.write_bytes(report.read_bytes() + b" ")
    assert openssl_verify(report, sig, gost=True).returncode != 0
    assert cli.main(["report", "verify", str(report), str(sig)]) == 1
    assert "файл изменён после подписания" in capsys.readouterr().err


@needs_gost
def test_our_verifier_accepts_a_gost_signature_made_by_openssl(tmp_path):
    key, cert = gost_key_and_cert(tmp_path, "256")
    data = tmp_path / "d.bin"
    data.write_bytes(b"payload" * 50)
    sig = tmp_path / "d.p7s"
    subprocess.run([OPENSSL, "cms", "-engine", "gost", "-sign", "-binary", "-outform", "DER", "-in", str(data),
                    "-signer", str(tmp_path / "c256.pem"), "-inkey", str(tmp_path / "k256.pem"), "-out", str(sig)],
                   check=True, capture_output=True)
    assert "Председатель" in filing.verify(data.read_bytes(), sig.read_bytes())


@needs_gost
def test_gost_key_of_another_certificate_is_refused(db, tmp_path):
    key, _ = gost_key_and_cert(tmp_path, "256")
    other = tmp_path / "other"
    other.mkdir()
    _, cert = gost_key_and_cert(other, "256")
    configure(db, "gost", {"certificate": cert, "private_key": key})
    with pytest.raises(LedgerError, match="не соответствует сертификату"):
        filing.sign_bytes(db, "r.xml", b"x", "gost")


@pytest.mark.skipif(not OPENSSL, reason="openssl is not installed")
def test_rsa_signature_verifies_with_openssl_cms(db, tmp_path):
    key = certs.make_key("rsa")
    configure(db, "cms", {"certificate": certs.cert_pem(certs.self_signed(key, "Бухгалтер")),
                          "private_key": certs.key_pem(key)})
    report = tmp_path / "register.xlsx"
    report.write_bytes(b"PK\x03\x04 not really a workbook")
    path = filing.sign_file(db, report, report.read_bytes(), "cms")
    assert path.name == "register.xlsx.p7s"
    done = openssl_verify(report, path, gost=False)
    assert done.returncode == 0, done.stderr
    assert "Бухгалтер" in filing.verify(report.read_bytes(), path.read_bytes())


def test_cryptopro_absent_is_a_clear_message(db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    configure(db, "cryptopro", {"thumbprint": "ab" * 20})
    report = tmp_path / "r.xml"
    report.write_bytes(b"<a/>")
    assert cli.main(["report", "sign", str(report), "--signer", "cryptopro"]) == 1
    err = capsys.readouterr().err
    assert "КриптоПро CSP не установлен" in err and "Traceback" not in err
    assert not (tmp_path / "r.xml.sig").exists()


def test_cryptopro_runs_cryptcp_as_documented(db, tmp_path, monkeypatch):
    """A stand-in cryptcp that does what the documented `-signf -dir DIR … FILE` does: writes DIR/FILE.sgn."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "cryptcp"
    script.write_text("#!/bin/sh\n"
                      "[ \"$1\" = -signf ] || exit 2\n"
                      "dir=\"$3\"; for last; do :; done\n"
                      "echo \"$@\" > \"$dir/../args\"\n"
                      "printf 'SIG:' > \"$dir/$(basename \"$last\").sgn\"; cat \"$last\" >> \"$dir/$(basename \"$last\").sgn\"\n"
                      "echo '[ErrorCode: 0x00000000]'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    configure(db, "cryptopro", {"thumbprint": "AB CD" + "ab" * 18})
    signature, ext = filing.sign_bytes(db, "r.xml", b"<a/>", "cryptopro")
    assert signature == b"SIG:<a/>" and ext == ".sig"


def test_a_boupr_with_problems_is_not_signed(demo_db, tmp_path, capsys):
    key = certs.make_key("ec")
    configure(demo_db, "cms", {"certificate": certs.cert_pem(certs.self_signed(key)), "private_key": certs.key_pem(key)})
    form = boupr.prefill(demo_db, 2026)
    form.lines["1250"] = [900, 620, 400]
    report, problems = boupr.build(demo_db, 2026, date(2026, 12, 8), form=form)
    assert problems
    path = tmp_path / report.name
    path.write_bytes(report.data)
    assert cli.main(["report", "sign", str(path), "--signer", "cms"]) == 1
    err = capsys.readouterr().err
    assert "подписывать его нельзя" in err and "не равен пассиву" in err
    assert not list(tmp_path.glob("*.p7s"))


def test_file_drop_submission_status_and_receipts(demo_db, tmp_path, capsys):
    key = certs.make_key("ec")
    configure(demo_db, "cms", {"certificate": certs.cert_pem(certs.self_signed(key)), "private_key": certs.key_pem(key)})
    configure(demo_db, "file_drop", {"path": str(tmp_path / "drop")})
    report, problems = boupr.build(demo_db, 2026, date(2026, 12, 8))
    path = tmp_path / report.name
    path.write_bytes(report.data)
    assert cli.main(["report", "sign", str(path), "--signer", "cms"]) == 0
    assert cli.main(["report", "submit", str(path), "--transport", "file_drop"]) == 0
    assert "упакован" in capsys.readouterr().out
    row = filing.submissions(demo_db)[0]
    assert row["signature_name"] == f"{report.name}.p7s"
    receipt_dir = tmp_path / "drop" / "receipts" / row["remote_id"]
    receipt_dir.mkdir(parents=True)
    (receipt_dir / "квитанция.xml").write_bytes(b"<ok/>")
    assert cli.main(["report", "status", str(row["id"])]) == 0
    out = capsys.readouterr().out
    assert "принят" in out and "квитанция: квитанция.xml" in out
    assert [e["status"] for e in filing.events(demo_db, row["id"])] == ["packed", "accepted"]
    assert cli.main(["report", "status", str(row["id"])]) == 0      # asking again adds nothing
    assert len(filing.receipts(demo_db, row["id"])) == 1 and len(filing.events(demo_db, row["id"])) == 2
