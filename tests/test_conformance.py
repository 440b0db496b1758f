"""One conformance suite per kind of integration, run against a fake and every real implementation.

Real counterparts: aiosmtpd on 127.0.0.1 (STARTTLS, login, UTF-8), `openssl cms -verify` for signatures,
real folders for file_drop and local backups.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from integrations.base import (BackupStorage, Channel, Context, IntegrationError, ReportSigner, ReportTransport)
from integrations.signers.cms import CmsSigner
from integrations.transports.file_drop import FileDropTransport
from integrations.storage.local import LocalStorage
from integrations.channels.smsc import SmscChannel
from integrations.channels.smtp import SmtpChannel
from integrations.storage.s3 import S3Storage, SigV4
from integrations.storage.webdav import WebDavStorage
from ledger.vault import Vault
from tests import fakes
from tests.certs import cert_pem, key_pem, make_key, self_signed
from tests.smsc_server import LOGIN as SMSC_LOGIN, PSW as SMSC_PSW, FakeSmsc
from tests.smtp_server import PASSWORD, USER, SmtpServer
from tests.webdav_server import PASSWORD as WEBDAV_PASSWORD
from tests.webdav_server import USER as WEBDAV_USER
from tests.webdav_server import WebDavServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

RUSSIAN = "Уважаемый член СНТ «Рассвет»! Взнос за 2026 год — 12 500,00 ₽. Ёлки у ворот №3."


# -- channels -------------------------------------------------------------------------------------

@pytest.fixture(params=["fake", "smtp-starttls", "smtp-ssl", "smsc"])
def channel(request, db, tmp_path, monkeypatch):
    """(channel, inbox reader, an address it sends to) — the reader returns [(to, subject, text)] of what
    arrived; an SMS carries no subject (None)."""
    ctx = Context(db, actor="test")
    if request.param == "fake":
        ch = fakes.FakeChannel({}, ctx)
        yield ch, ch.received, "ivanov@snt.test"
        return
    if request.param == "smsc":
        monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
        fake = FakeSmsc()
        fake.deliver_after = 3600          # the operator has not reported delivery yet: «accepted» stays
        ch = SmscChannel({"login": SMSC_LOGIN, "psw": SMSC_PSW, "base_url": fake.base_url}, ctx)
        yield ch, lambda: [(phone, None, m["text"]) for (_, phone), m in fake.sent.items()], "79161234567"
        fake.stop()
        return
    mode = request.param.split("-")[1]
    server = SmtpServer(tmp_path, mode)
    ch = SmtpChannel({"host": "127.0.0.1", "port": server.port, "tls": mode, "username": USER, "password": PASSWORD,
                      "sender": "snt@snt.test", "ca_file": str(server.cert), "timeout": 10}, ctx)

    def received():
        out = []
        for m in server.inbox.messages:
            assert m["tls"]
            msg = m["message"]
            out.append((m["to"][0], str(msg["Subject"]), msg.get_content().rstrip("\n")))
        return out
    yield ch, received, "ivanov@snt.test"
    server.stop()


def test_channel_sends_russian_text_and_reports_status(channel):
    ch, received, to = channel
    assert isinstance(ch, Channel)
    delivery = ch.send(to, "Взносы за 2026 год", RUSSIAN)
    assert delivery.status in ("accepted", "delivered") and delivery.message_id
    assert received() == [(to, None if ch.address == "phone" else "Взносы за 2026 год", RUSSIAN)]
    assert ch.status(delivery.message_id).status == delivery.status
    with pytest.raises(IntegrationError):
        ch.status("unknown-id")


def test_channel_rejects_a_bad_address_with_a_clear_error(channel):
    ch, received, _ = channel
    with pytest.raises(IntegrationError):
        ch.send("not-an-address", "Тема", "текст")
    assert received() == []


def test_smtp_wrong_password_is_clear_and_keeps_the_secret(db, tmp_path, caplog):
    caplog.set_level("DEBUG")
    server = SmtpServer(tmp_path, "starttls")
    try:
        ch = SmtpChannel({"host": "127.0.0.1", "port": server.port, "tls": "starttls", "username": USER,
                          "password": "неверный-пароль-123", "sender": "snt@snt.test", "ca_file": str(server.cert)},
                         Context(db))
        with pytest.raises(IntegrationError) as err:
            ch.send("a@snt.test", "Тема", "текст")
        assert "логин или пароль" in str(err.value) and "неверный-пароль-123" not in str(err.value)
        row = db.records("SELECT * FROM audit_log WHERE integration = 'smtp'")[0]
        assert not row["ok"] and row["status"] == "535" and "неверный-пароль-123" not in str(row)
        ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]  # not the server's
        assert "неверный-пароль-123" not in "\n".join(ours)
    finally:
        server.stop()


def test_smtp_without_tls_only_to_loopback_with_the_flag(db, tmp_path, monkeypatch):
    server = SmtpServer(tmp_path, "none")
    settings = {"host": "127.0.0.1", "port": server.port, "tls": "none", "username": USER, "password": PASSWORD,
                "sender": "snt@snt.test"}
    try:
        with pytest.raises(IntegrationError, match="без шифрования"):
            SmtpChannel(settings, Context(db)).send("a@snt.test", "Тема", "текст")
        monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
        SmtpChannel(settings, Context(db)).send("a@snt.test", "Тема", "текст")
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()


def test_smtp_untrusted_certificate_is_refused(db, tmp_path):
    server = SmtpServer(tmp_path, "starttls")
    try:
        ch = SmtpChannel({"host": "127.0.0.1", "port": server.port, "tls": "starttls", "username": USER,
                          "password": PASSWORD, "sender": "snt@snt.test"}, Context(db))  # no ca_file
        with pytest.raises(IntegrationError, match="TLS"):
            ch.send("a@snt.test", "Тема", "текст")
        assert server.inbox.messages == []
    finally:
        server.stop()


# -- signers --------------------------------------------------------------------------------------

def openssl_verify(data: bytes, signature: bytes, cert: str, folder: Path) -> bool:
    (folder / "data.bin").write_bytes(data)
    (folder / "sig.p7s").write_bytes(signature)
    (folder / "ca.pem").write_text(cert)
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(folder / "sig.p7s"),
                             "-content", str(folder / "data.bin"), "-CAfile", str(folder / "ca.pem"),
                             "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    return result.returncode == 0


@pytest.fixture(params=["fake", "cms-rsa", "cms-ec", "cms-ec-password"])
def signer(request, db, tmp_path):
    """(signer, verify(data, signature) -> bool)."""
    ctx = Context(db)
    if request.param == "fake":
        s = fakes.FakeSigner({}, ctx)
        return s, s.verify
    key = make_key("ec" if "ec" in request.param else "rsa")
    cert = cert_pem(self_signed(key, "Председатель СНТ"))
    password = "ключ-пароль" if request.param.endswith("password") else None
    s = CmsSigner({"certificate": cert, "private_key": key_pem(key, password), "key_password": password}, ctx)
    return s, lambda data, sig: openssl_verify(data, sig, cert, tmp_path)


def test_signer_makes_a_detached_signature_that_verifies(signer):
    s, verify = signer
    assert isinstance(s, ReportSigner) and s.signature_extension.startswith(".")
    data = ("Отчёт о взносах\n" + RUSSIAN).encode("utf-8") + bytes(range(256))
    signature = s.sign(data)
    assert data not in signature  # detached: the content is not inside
    assert verify(data, signature)
    assert not verify(data + b"x", signature)


def test_cms_rejects_a_key_that_does_not_match_the_certificate(db):
    cert = cert_pem(self_signed(make_key("rsa")))
    s = CmsSigner({"certificate": cert, "private_key": key_pem(make_key("rsa"))}, Context(db))
    with pytest.raises(IntegrationError, match="не соответствует"):
        s.sign(b"data")
    assert db.scalar("SELECT count(*) FROM audit_log WHERE integration = 'cms' AND NOT ok") == 1


def test_cms_reports_certificate_expiry(db):
    key = make_key("ec")
    s = CmsSigner({"certificate": cert_pem(self_signed(key, days=10)), "private_key": key_pem(key)}, Context(db))
    (what, when), = s.expiries()
    assert "сертификат" in what and 9 <= (when - __import__("datetime").datetime.utcnow()).days <= 10


# -- report transports ----------------------------------------------------------------------------

@pytest.fixture(params=["fake", "file_drop"])
def transport(request, db, tmp_path):
    """(transport, issue_receipt(submission_id, name, data), unpack(submission_id) -> {name: bytes})."""
    if request.param == "fake":
        t = fakes.FakeTransport({}, Context(db))
        return t, t.issue_receipt, lambda sid: {t.store[sid][0]: t.store[sid][1],
                                                 f"{t.store[sid][0]}.sig": t.store[sid][2]}
    t = FileDropTransport({"path": str(tmp_path / "отчёты")}, Context(db))

    def issue(sid, name, data):
        folder = tmp_path / "отчёты" / "receipts" / sid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    def unpack(sid):
        with zipfile.ZipFile(tmp_path / "отчёты" / "outbox" / f"{sid}.zip") as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    return t, issue, unpack


def test_transport_submit_poll_receipts(transport):
    t, issue, unpack = transport
    assert isinstance(t, ReportTransport)
    data, sig = "Реестр членов".encode(), b"\x30\x82signature"
    sub = t.submit("report.xml", data, sig, "report.xml.sig")
    assert sub.status == "packed"
    assert unpack(sub.submission_id) == {"report.xml": data, "report.xml.sig": sig}
    assert t.poll(sub.submission_id).status == "packed"
    assert t.receipts(sub.submission_id) == []
    issue(sub.submission_id, "квитанция.xml", b"<ok/>")
    assert t.poll(sub.submission_id).status == "accepted"
    assert t.receipts(sub.submission_id) == [("квитанция.xml", b"<ok/>")]
    with pytest.raises(IntegrationError):
        t.poll("20990101-000000-deadbeef")


# -- backup storages ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_server():
    """A real S3 API (moto server) on 127.0.0.1; plain http, so the loopback flag is set where it is used."""
    from moto.server import ThreadedMotoServer

    from tests.smtp_server import free_port

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._port}"
    server.stop()


def s3_admin(endpoint: str):
    """boto3 — an independent S3 client — to make buckets and read what our client wrote."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="AKIATEST", aws_secret_access_key="x",
                        region_name="us-east-1")


def cloud_storage(kind: str, db, server=None):
    """A cloud backup storage pointed at its local stand-in (tests/cloud_servers.py)."""
    from integrations.storage.dropbox import DropboxStorage
    from integrations.storage.google_drive import GoogleDriveStorage
    from integrations.storage.yandex_disk import YandexDiskStorage
    from tests import cloud_servers as cs

    if kind == "yandex_disk":
        server = server or cs.YandexDisk()
        return server, YandexDiskStorage({"token": cs.YANDEX_TOKEN, "folder": "app:/coop/копии",
                                          "base_url": server.url}, Context(db))
    if kind == "google_drive":
        server = server or cs.GoogleDrive()
        return server, GoogleDriveStorage({"folder_id": server.folder_id, "client_id": cs.CLIENT_ID,
                                           "client_secret": cs.CLIENT_SECRET, "refresh_token": cs.REFRESH_TOKEN,
                                           "base_url": server.url, "token_url": f"{server.url}/token"}, Context(db))
    server = server or cs.Dropbox()
    return server, DropboxStorage({"folder": "/Coop/Копии", "app_key": cs.CLIENT_ID, "app_secret": cs.CLIENT_SECRET,
                                   "refresh_token": cs.REFRESH_TOKEN, "base_url": server.url,
                                   "content_url": server.url}, Context(db))


CLOUDS = ["yandex_disk", "google_drive", "dropbox"]


@pytest.fixture(params=["fake", "local", "webdav", "s3", *CLOUDS])
def storage(request, db, tmp_path):
    if request.param in CLOUDS:
        request.getfixturevalue("monkeypatch").setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
        server, storage = cloud_storage(request.param, db)
        yield storage
        server.stop()
    elif request.param == "fake":
        yield fakes.FakeStorage({}, Context(db))
    elif request.param == "local":
        yield LocalStorage({"path": str(tmp_path / "копии")}, Context(db))
    elif request.param == "s3":
        endpoint = request.getfixturevalue("moto_server")
        request.getfixturevalue("monkeypatch").setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
        bucket = f"coop-{tmp_path.name[-20:].lower().replace('_', '-')}"
        s3_admin(endpoint).create_bucket(Bucket=bucket)
        yield S3Storage({"endpoint": endpoint, "bucket": bucket, "access_key": "AKIATEST",
                         "secret_key": "secret/Key+1", "region": "us-east-1"}, Context(db))
    else:
        server = WebDavServer(tmp_path)
        (server.root / "копии").mkdir()
        yield WebDavStorage({"url": server.url, "username": WEBDAV_USER, "password": WEBDAV_PASSWORD,
                             "ca_file": str(server.cert)}, Context(db))
        server.stop()


def test_storage_put_get_list_delete(storage):
    assert isinstance(storage, BackupStorage)
    big = bytes(range(256)) * 20_000  # 5 MB, streamed
    assert storage.put("2026/coop-1.duckdb", b"first") == 5
    assert storage.put("2026/coop-2.duckdb", io.BytesIO(big)) == len(big)
    assert storage.put("other.txt", "копия".encode()) == len("копия".encode())
    assert storage.get("2026/coop-2.duckdb") == big
    assert storage.list("2026/") == [("2026/coop-1.duckdb", 5), ("2026/coop-2.duckdb", len(big))]
    storage.put("2026/coop-1.duckdb", b"replaced")
    assert storage.get("2026/coop-1.duckdb") == b"replaced"
    storage.delete("2026/coop-1.duckdb")
    storage.delete("2026/coop-1.duckdb")  # again: not an error
    assert [n for n, _ in storage.list()] == ["2026/coop-2.duckdb", "other.txt"]
    with pytest.raises(IntegrationError):
        storage.get("2026/coop-1.duckdb")
    for bad in ("../escape", "/etc/passwd", "a/../../b"):
        with pytest.raises(IntegrationError):
            storage.put(bad, b"x")


def test_storage_checksum_of_what_it_stored_matches_the_one_computed_while_sending(storage):
    """Where the service keeps a checksum (S3 ETag, Dropbox content_hash, Drive sha256Checksum, Yandex Disk
    sha256), the one computed as the bytes went up equals the one the service reports: the run checks a backup
    without downloading it. Sizes cross the blocks those checksums are made of (S3 parts, Dropbox 4 MiB)."""
    data = (bytes(range(251)) * 140_000)[:34_000_007]   # > 2 S3 parts of 16 MiB, > 8 Dropbox blocks
    storage.put("coop-20260101-000000.tar.zst.age", io.BytesIO(data))
    reported = storage.stored_digest("coop-20260101-000000.tar.zst.age")
    if storage.digest is None:
        assert reported is None
        return
    computed = storage.digest()
    for start in range(0, len(data), 1_000_003):         # pieces that do not line up with the blocks
        computed.update(data[start:start + 1_000_003])
    assert reported == computed.hexdigest()
    other = storage.digest()
    other.update(data[:-1] + b"?")
    assert other.hexdigest() != reported


@pytest.mark.parametrize("kind", CLOUDS)
def test_cloud_upload_cut_mid_way_never_looks_like_a_backup(kind, db, monkeypatch):
    """The connection is cut in the middle of the upload: Drive and Dropbox resume the session from what the
    server reports; Yandex Disk's single PUT fails, leaves no object, and the next put starts clean."""
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server, storage = cloud_storage(kind, db)
    try:
        storage.chunk_size = 512 * 1024
        data = bytes(range(256)) * 8 * 1024 + b"tail"        # 2 MiB and a bit: several chunks
        server.cut_after = 700 * 1024                         # inside the second chunk
        if kind == "yandex_disk":
            with pytest.raises(IntegrationError):
                storage.put("coop-20260101-000000.tar.zst.age", io.BytesIO(data))
            assert storage.list() == []                       # nothing that looks like a backup
            assert storage.put("coop-20260101-000000.tar.zst.age", io.BytesIO(data)) == len(data)
        else:
            assert storage.put("coop-20260101-000000.tar.zst.age", io.BytesIO(data)) == len(data)
        assert server.cuts == 1
        assert storage.get("coop-20260101-000000.tar.zst.age") == data
        assert storage.list() == [("coop-20260101-000000.tar.zst.age", len(data))]
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["google_drive", "dropbox"])
def test_cloud_oauth_refresh_token_renews_access_and_stays_secret(kind, db, monkeypatch):
    from tests import cloud_servers as cs

    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server, storage = cloud_storage(kind, db)
    try:
        storage.put("a.bin", b"1")
        assert server.refreshes == 1                          # the refresh token was traded for an access token
        server.access_tokens = set()                          # the access token expires early
        assert storage.get("a.bin") == b"1"
        assert server.refreshes == 2                          # renewed once after the 401
        log = str(db.fetchall("SELECT * FROM audit_log"))
        assert cs.REFRESH_TOKEN not in log and cs.CLIENT_SECRET not in log
        assert all(t not in log for t in server.access_tokens)
        # a new refresh token (re-authorisation) replaces the cached tokens of the old one
        from integrations import registry

        registry.configure(db, kind, {"refresh_token": "refresh-от-новой-авторизации"})
        assert Vault(db).get(f"oauth/{kind}/token") is None
    finally:
        server.stop()


def test_local_storage_resumes_an_interrupted_put(db, tmp_path):
    tmp_path = tmp_path / "копии"
    tmp_path.mkdir()
    storage = LocalStorage({"path": str(tmp_path)}, Context(db))
    data = bytes(range(256)) * 10_000
    (tmp_path / "big.bin.part").write_bytes(data[:1000])  # what an interrupted copy left

    class Counting(io.BytesIO):
        taken = 0

        def read(self, n=-1):
            chunk = super().read(n)
            Counting.taken += len(chunk)
            return chunk
    assert storage.put("big.bin", Counting(data)) == len(data)
    assert Counting.taken == len(data) - 1000  # only the rest was read
    assert (tmp_path / "big.bin").read_bytes() == data
    assert not (tmp_path / "big.bin.part").exists()
    assert storage.list() == [("big.bin", len(data))]


def test_webdav_audits_calls_wrong_password_and_plain_http(db, tmp_path, monkeypatch):
    server = WebDavServer(tmp_path)
    (server.root / "копии").mkdir()
    try:
        good = WebDavStorage({"url": server.url, "username": WEBDAV_USER, "password": WEBDAV_PASSWORD,
                              "ca_file": str(server.cert)}, Context(db))
        good.put("a/b.bin", b"12345")
        assert (server.root / "копии" / "a" / "b.bin").read_bytes() == b"12345"  # really on the server's disk
        calls = db.records("SELECT operation, host, path, status, bytes FROM audit_log WHERE integration = 'webdav' "
                           "ORDER BY id")
        # the content goes to a temporary .part name, renamed only when complete
        assert [(c["operation"], c["status"]) for c in calls] == [("mkcol", "201"), ("put", "201"), ("move", "201")]
        assert calls[1]["host"] == "127.0.0.1" and calls[1]["path"].endswith("/a/b.bin.part") and calls[1]["bytes"] >= 5
        assert calls[2]["path"].endswith("/a/b.bin.part")
        bad = WebDavStorage({"url": server.url, "username": WEBDAV_USER, "password": "неверный-пароль",
                             "ca_file": str(server.cert)}, Context(db))
        with pytest.raises(IntegrationError, match="401") as err:
            bad.put("c.bin", b"x")
        assert "неверный-пароль" not in str(err.value)
        assert "неверный-пароль" not in str(db.fetchall("SELECT * FROM audit_log"))
        untrusted = WebDavStorage({"url": server.url, "username": WEBDAV_USER, "password": WEBDAV_PASSWORD}, Context(db))
        with pytest.raises(IntegrationError):
            untrusted.get("a/b.bin")
    finally:
        server.stop()
    (tmp_path / "plain").mkdir()
    plain = WebDavServer(tmp_path / "plain", tls=False)
    try:
        settings = {"url": plain.url, "username": WEBDAV_USER, "password": WEBDAV_PASSWORD}
        with pytest.raises(IntegrationError, match="не защищён"):
            WebDavStorage(settings, Context(db)).put("x.bin", b"x")
        monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
        (plain.root / "копии").mkdir()
        assert WebDavStorage(settings, Context(db)).put("x.bin", b"x") == 1
    finally:
        plain.stop()


def test_s3_objects_are_visible_to_an_independent_client(db, moto_server, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    admin = s3_admin(moto_server)
    admin.create_bucket(Bucket="coop-independent")
    s3 = S3Storage({"endpoint": moto_server, "bucket": "coop-independent", "access_key": "AKIATEST",
                    "secret_key": "k", "region": "us-east-1"}, Context(db))
    s3.put("2026/копия 1.duckdb", b"payload")
    assert admin.get_object(Bucket="coop-independent", Key="2026/копия 1.duckdb")["Body"].read() == b"payload"
    admin.put_object(Bucket="coop-independent", Key="2026/их.txt", Body=b"abc")
    assert s3.list("2026/") == [("2026/их.txt", 3), ("2026/копия 1.duckdb", 7)]
    calls = db.records("SELECT operation, status, host FROM audit_log WHERE integration = 's3' ORDER BY id")
    assert [(c["operation"], c["status"]) for c in calls] == [("put", "200"), ("list", "200")]
    assert "k" not in [c["host"] for c in calls]


@pytest.mark.parametrize("method,url,body", [
    ("PUT", "https://storage.yandexcloud.net/coop/2026/%D0%BA%D0%BE%D0%BF%D0%B8%D1%8F%201.duckdb", b"data"),
    ("GET", "https://storage.yandexcloud.net/coop?list-type=2&prefix=2026%2F&continuation-token=a%2Bb", b""),
    ("DELETE", "http://127.0.0.1:9000/coop/x.bin", b""),
])
def test_sigv4_matches_botocore(method, url, body):
    """Our signature equals the one botocore (the AWS SDK) computes for the same request and time."""
    from datetime import datetime, timezone

    import httpx
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = datetime(2026, 3, 1, 12, 30, 0, tzinfo=timezone.utc)
    ours = httpx.Request(method, url, content=body)
    SigV4("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "ru-central1", clock=lambda: when).sign(ours)
    theirs = AWSRequest(method=method, url=url, data=body,
                        headers={"x-amz-date": when.strftime("%Y%m%dT%H%M%SZ"),
                                 "x-amz-content-sha256": ours.headers["x-amz-content-sha256"]})
    import unittest.mock
    with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
        S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "s3",
                    "ru-central1").add_auth(theirs)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
