"""Reports packed for manual upload (ReportTransport): the file and its signature in one zip in a folder.

submit() writes <folder>/outbox/<submission id>.zip. The accountant uploads it to the regulator's portal and
saves the receipts (квитанции) the portal gives into <folder>/receipts/<submission id>/; poll() then says
"accepted" and receipts() returns them.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from datetime import datetime
from pathlib import Path

from ..base import Field, IntegrationError, ReportTransport, Submission
from ..storage.local import write_atomic

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$")


class FileDropTransport(ReportTransport):
    name = "file_drop"
    title = "Файл для ручной загрузки на портал"
    fields = (Field("path", "Папка для пакетов", "folder", required=True),)

    @property
    def folder(self) -> Path:
        return Path(self.setting("path")).expanduser()

    def _check_id(self, submission_id: str) -> str:
        if not _ID.match(submission_id):
            raise IntegrationError(f"Интеграция file_drop: неверный номер отправки «{submission_id}»")
        return submission_id

    def submit(self, name: str, data: bytes, signature: bytes | None, signature_name: str | None = None) -> Submission:
        base = Path(name).name
        if not base or base != name:
            raise IntegrationError(f"Интеграция file_drop: имя отчёта «{name}» не должно содержать папок")
        submission_id = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(base, data)
            if signature is not None:
                zf.writestr(signature_name or f"{base}.sig", signature)
        target = self.folder / "outbox" / f"{submission_id}.zip"
        with self.audited("submit", path=str(target)) as call:
            try:
                write_atomic(target, buf.getvalue())
            except OSError as exc:
                raise IntegrationError(f"Интеграция file_drop: не удалось записать {target} ({exc.strerror})") from None
            call.nbytes = len(buf.getvalue())
        return Submission(submission_id, "packed", f"пакет {target}: загрузите его на портал")

    def poll(self, submission_id: str) -> Submission:
        self._check_id(submission_id)
        if not (self.folder / "outbox" / f"{submission_id}.zip").exists():
            raise IntegrationError(f"Интеграция file_drop: отправки {submission_id} нет")
        if self.receipts(submission_id):
            return Submission(submission_id, "accepted", "квитанции получены")
        return Submission(submission_id, "packed", "ждёт ручной загрузки на портал")

    def receipts(self, submission_id: str) -> list[tuple[str, bytes]]:
        folder = self.folder / "receipts" / self._check_id(submission_id)
        if not folder.is_dir():
            return []
        return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]

    def check(self) -> str:
        with self.audited("check", path=str(self.folder)):
            try:
                (self.folder / "outbox").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IntegrationError(f"Интеграция file_drop: папка {self.folder} недоступна ({exc.strerror})") from None
        return f"папка {self.folder} доступна"
