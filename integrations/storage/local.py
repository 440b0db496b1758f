"""Backups in a local (or mounted) folder (BackupStorage). Writes go to <name>.part and are renamed when
complete, so a copy is never half-written; an interrupted put resumes from the .part file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from ..base import CHUNK, RETENTION_FIELDS, BackupStorage, Field, IntegrationError


def write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


class LocalStorage(BackupStorage):
    name = "local"
    title = "Папка на диске"
    resumable = True
    fields = (Field("path", "Папка для копий", "folder", required=True),) + RETENTION_FIELDS

    @property
    def root(self) -> Path:
        return Path(self.setting("path")).expanduser()

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*self.object_parts(name))

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        target = self._path(name)
        tmp = target.with_name(target.name + ".part")
        with self.audited("put", path=name) as call:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(source, (bytes, bytearray)):
                    write_atomic(target, bytes(source))
                    size = len(source)
                else:
                    size = self._put_stream(tmp, source)
                    os.replace(tmp, target)
            except OSError as exc:
                raise IntegrationError(f"Интеграция local: не удалось записать {name} ({exc.strerror})") from None
            call.nbytes = size
        return size

    def _put_stream(self, tmp: Path, source: BinaryIO) -> int:
        """Copy a stream; if a .part of an interrupted copy exists and the stream can seek, continue it."""
        offset = tmp.stat().st_size if tmp.exists() else 0
        seekable = getattr(source, "seekable", lambda: False)()
        if offset and seekable:
            source.seek(offset)
            mode = "ab"
        else:
            offset, mode = 0, "wb"
        size = offset
        with open(tmp, mode) as fh:
            while chunk := source.read(CHUNK):
                fh.write(chunk)
                size += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        return size

    def download(self, name: str, sink: BinaryIO) -> int:
        path = self._path(name)
        with self.audited("get", path=name) as call:
            if not path.is_file():
                raise IntegrationError(f"Интеграция local: копии {name} нет")
            size = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    sink.write(chunk)
                    size += len(chunk)
            call.nbytes = size
        return size

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        if not self.root.is_dir():
            return []
        out = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.endswith(".part"):
                rel = path.relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    out.append((rel, path.stat().st_size))
        return sorted(out)

    def delete(self, name: str) -> None:
        path = self._path(name)
        with self.audited("delete", path=name):
            path.unlink(missing_ok=True)

    def check(self) -> str:
        with self.audited("check", path=str(self.root)):
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / ".coop-write-test"
                probe.write_bytes(b"ok")
                probe.unlink()
            except OSError as exc:
                raise IntegrationError(f"Интеграция local: папка {self.root} недоступна ({exc.strerror})") from None
        return f"папка {self.root} доступна для записи"
