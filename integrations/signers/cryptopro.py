"""Qualified signatures through the CryptoPro CSP command line (`cryptcp`), for certificates on tokens.

The program is found by the `path` setting or on PATH. The certificate is chosen by its SHA-1 thumbprint;
`cryptcp -signf -dir DIR -der -strict -detached -thumbprint THUMB FILE` writes the detached signature
FILE.sgn into DIR (DER).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..base import Field, IntegrationError, ReportSigner


class CryptoProSigner(ReportSigner):
    name = "cryptopro"
    title = "КриптоПро CSP (cryptcp): квалифицированная подпись на токене"
    signature_extension = ".sig"
    fields = (
        Field("thumbprint", "Отпечаток сертификата (SHA-1)", required=True),
        Field("path", "Путь к cryptcp", "path", help="по умолчанию ищется в PATH"),
        Field("pin", "ПИН-код контейнера", secret=True),
    )

    def program(self) -> str:
        configured = self.setting("path")
        found = shutil.which(configured) if configured else shutil.which("cryptcp")
        if not found:
            where = f"по пути «{configured}»" if configured else "в PATH"
            raise IntegrationError(f"Интеграция cryptopro: КриптоПро CSP не установлен — программа cryptcp не найдена "
                                   f"{where}; установите КриптоПро CSP или укажите путь: "
                                   f"coop integrations configure cryptopro path=/opt/cprocsp/bin/amd64/cryptcp")
        return found

    def sign(self, data: bytes) -> bytes:
        with self.audited("sign") as call:
            program = self.program()
            thumbprint = (self.setting("thumbprint") or "").replace(" ", "").lower()
            with tempfile.TemporaryDirectory(prefix="coop-cryptcp-") as tmp:
                source = Path(tmp) / "report.bin"
                source.write_bytes(data)
                out = Path(tmp) / "out"
                out.mkdir()
                args = [program, "-signf", "-dir", str(out), "-der", "-strict", "-detached", "-thumbprint", thumbprint]
                if self.setting("pin"):
                    args += ["-pin", self.setting("pin")]
                try:
                    done = subprocess.run(args + [str(source)], capture_output=True, timeout=120)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise IntegrationError(f"Интеграция cryptopro: cryptcp не запустился ({type(exc).__name__})") from None
                call.status = done.returncode
                result = out / "report.bin.sgn"
                if done.returncode != 0 or not result.exists():
                    tail = done.stdout.decode("utf-8", "replace").strip().splitlines()[-1:] or ["нет вывода"]
                    raise IntegrationError(f"Интеграция cryptopro: cryptcp завершился с кодом {done.returncode}: "
                                           f"{tail[0][:200]}")
                call.nbytes = len(data)
                return result.read_bytes()

    def check(self) -> str:
        return f"cryptcp найден: {self.program()}"
