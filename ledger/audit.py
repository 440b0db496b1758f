"""Append-only audit log: sign-ins, exports of personal data, changes of settings and roles, external calls.

Append-only is enforced three ways: this module is the only writer and offers no update or delete;
a test (tests/test_audit.py) fails if any SQL in the code base updates or deletes audit_log (the one-time
re-keying migration excepted); and the log is a keyed chain whose head is also kept outside the database.

The chain: every entry carries an HMAC-SHA256 (column `hash`) of its id, its content and its predecessor's
MAC (`prev_hash`), under a key derived (HKDF) from the vault's master key. Without the master key nobody can
make a valid MAC, so an edited, inserted or re-chained entry shows, and every entry must carry a valid MAC
(migration 0061 re-keyed the older unkeyed chain once, and logged it). A deleted entry breaks its successor's
link. Two sessions of one process may chain to the same predecessor, so a link only has to point at some
earlier entry; the head's count catches a deleted entry nobody links to.

The head (last id, its MAC, the number of entries) is written after each commit to a small signed (HMAC)
file beside the database, `<database>.audit-head`, atomically (temporary file, fsync, rename), and only if
the new head extends the old one. So deleting the newest entries is found too. Crash window: the process may
die between the commit and the file's rename; the file then lags by that transaction's entries, so `verify`
accepts a head that is a prefix of the chain (its entry present with the same MAC, at least as many entries up
to it) but never a chain shorter than the head. `chain_head(db)` gives the head for backup manifests and
`verify(db, head=...)` checks one from there too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .db import Database, after_commit, path_of, utcnow

# Columns of an external call (integration, operation, host, path, status, duration, bytes, error).
CALL_COLUMNS = ("integration", "operation", "host", "path", "status", "duration_ms", "bytes", "error")
_COLUMNS = ("happened_at", "actor", "action", "target", "ok", "details") + CALL_COLUMNS
HEAD_SUFFIX = ".audit-head"
_head_lock = threading.Lock()

ACTIONS = {
    "signin": "Вход", "signin_failed": "Неудачный вход", "signin_throttled": "Вход временно заблокирован",
    "signout": "Выход", "export_personal_data": "Выгрузка персональных данных",
    "personal_data_revealed": "Показ персональных данных", "external_call": "Обращение к внешнему сервису",
    "settings_changed": "Изменение настроек", "integration_configured": "Настройка интеграции",
    "integration_enabled": "Интеграция включена", "integration_disabled": "Интеграция отключена",
    "user_added": "Пользователь добавлен", "role_changed": "Смена роли", "user_enabled": "Пользователь включён",
    "user_disabled": "Пользователь отключён", "password_changed": "Смена пароля", "vault_rotated": "Смена ключа хранилища",
    "alert_sent": "Оповещение отправлено", "member_added": "Член добавлен", "audit_exported": "Выгрузка журнала",
    "audit_rekeyed": "Журнал переведён на ключевую цепочку",
    "ownership_corrected": "Исправлены даты владения участком",
    "opening_balances_imported": "Загрузка входящих остатков", "opening_balances_replaced": "Замена входящих остатков",
    "backup_key_created": "Создан ключ резервных копий", "backup_forgotten": "Удалены старые резервные копии",
    "report_built": "Отчёт сформирован", "report_form_saved": "Форма отчёта сохранена", "report_signed": "Отчёт подписан",
    "report_submitted": "Отчёт отправлен",
    "match_payments": "Разнесение платежей", "match_confirm": "Платёж разнесён вручную",
    "match_reject": "Платёж отклонён", "match_reopen": "Платёж возвращён на автоматическое разнесение",
    "match_split": "Платёж разделён", "register_imported": "Загрузка реестра",
    "bank_statement_import": "Загрузка выписки", "bank_statement_delete": "Удаление выписки",
    "tariffs_saved": "Изменение взносов", "key_rate_set": "Ключевая ставка", "key_rate_deleted": "Ключевая ставка удалена",
    "accrue": "Начисление", "charge_added": "Разовое начисление", "charge_corrected": "Корректировка начисления",
    "bank_sync": "Синхронизация с банком",
    "notify_rule_saved": "Правило уведомлений сохранено", "notify_planned": "Уведомления запланированы",
    "notify_optout": "Отказ от уведомлений", "notify_optin": "Согласие на уведомления",
    "notify_chat_bound": "Чат мессенджера привязан к члену",
    "column_mapping_saved": "Сопоставление столбцов запомнено",
    "pd_report_made": "Выдана копия сведений о члене (152-ФЗ)", "member_anonymized": "Член обезличен",
    "retention_checked": "Проверка сроков хранения",
    "consent_given": "Согласие на уведомления записано", "consent_withdrawn": "Согласие на уведомления отозвано",
    "consent_imported": "Согласия на уведомления загружены из реестра",
}

# Keys of the details, in words (anything not listed is shown as it is).
DETAIL_WORDS = {
    "role": "роль", "rows": "строк", "what": "что", "client": "адрес", "added": "добавлено", "updated": "обновлено",
    "total": "всего", "auto": "автоматически", "suggested": "предложено", "unmatched": "не разнесено",
    "manual": "вручную", "links": "связей со счетами", "member_id": "член (id)", "statement_id": "выписка №",
    "format": "формат", "same_file": "тот же файл", "keys": "параметры", "codes": "взносы", "old": "было",
    "new": "стало", "amount": "сумма", "contribution": "взнос", "delta": "изменение", "reason": "основание",
    "channel": "канал", "old_key": "старый ключ", "new_key": "новый ключ", "deleted": "удалено", "kept": "оставлено",
    "new_payments": "новых платежей", "already": "уже загружено", "outgoing": "исходящих",
    "member_ids": "члены (id)", "originals_removed": "удалено исходных файлов",
    "texts_scrubbed": "очищено текстов", "due": "к обезличиванию", "reg_nos": "л/с",
    "basis": "основание", "since": "с", "cancelled": "отменено сообщений",
    "given": "согласий", "withdrawn": "отзывов", "reg_no": "л/с",
}
_TARGETS = {"payment": "платёж №", "member": "член №", "statement": "выписка №", "charge": "начисление №"}


def target_label(action: str, target: str | None) -> str:
    """«payment:214» -> «платёж №214»; the cooperative's settings and charges in words; others as they are."""
    if not target:
        return ""
    kind, _, number = target.partition(":")
    if number and kind in _TARGETS:
        return f"{_TARGETS[kind]}{number}"
    if action in ("charge_added", "charge_corrected") and target.isdigit():
        return f"начисление №{target}"
    if target == "cooperative":
        return "настройки кооператива"
    return target


def details_text(details: str | None) -> str:
    """The JSON details as «ключ: значение, …» in words, never raw JSON."""
    if not details:
        return ""
    try:
        data = json.loads(details)
    except ValueError:
        return details
    if not isinstance(data, dict):
        return str(data)

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "да" if v else "нет"
        if isinstance(v, list):
            return ", ".join(map(str, v))
        return "—" if v is None else str(v)

    return "; ".join(f"{DETAIL_WORDS.get(k, k)}: {value(v)}" for k, v in data.items())


def _keys(con, master=None) -> tuple[bytes, bytes]:
    """(chain key, head key): HKDF subkeys of the ledger's master key (checked against the ledger)."""
    from . import vault

    key = master or vault.key_for(con, path_of(con))
    return key.subkey("coop audit chain"), key.subkey("coop audit head")


def _mac(key: bytes, entry_id: int, prev_hash: str | None, row: dict[str, Any]) -> str:
    canonical = json.dumps([entry_id, prev_hash] + [_plain(row.get(c)) for c in _COLUMNS], ensure_ascii=False)
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def _append(con, row: dict[str, Any]) -> None:
    row = {c: row.get(c) for c in _COLUMNS}
    row["happened_at"] = row["happened_at"] or utcnow()
    key, _ = _keys(con)
    entry_id = con.execute("SELECT nextval('audit_id_seq')").fetchone()[0]
    prev = con.execute("SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = prev[0] if prev else None
    cols = ("id",) + _COLUMNS + ("prev_hash", "hash")
    con.execute(f"INSERT INTO audit_log ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [entry_id] + [row[c] for c in _COLUMNS] + [prev_hash, _mac(key, entry_id, prev_hash, row)])
    after_commit(con, advance_head)


def log(con, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry inside the caller's transaction (con is an open DuckDB connection)."""
    _append(con, {"actor": actor, "action": action, "target": target, "ok": ok,
                  "details": json.dumps(details, ensure_ascii=False, default=str) if details else None})


def record(db: Database, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry in a transaction of its own."""
    with db.transaction() as con:
        log(con, actor, action, target, ok, **details)


_SECRET_QUERY = re.compile(r"\?.*$")


def external_call(db: Database, integration: str, operation: str, *, ok: bool, host: str | None = None,
                  path: str | None = None, status: str | int | None = None, duration_ms: int | None = None,
                  nbytes: int | None = None, error: str | None = None, actor: str | None = None,
                  **details: Any) -> None:
    """One call to an external service. The path loses its query string (where tokens hide)."""
    with db.transaction() as con:
        _append(con, {"actor": actor, "action": "external_call", "target": integration, "ok": ok,
                      "details": json.dumps(details, ensure_ascii=False, default=str) if details else None,
                      "integration": integration, "operation": operation, "host": host,
                      "path": _SECRET_QUERY.sub("", path) if path else path,
                      "status": None if status is None else str(status), "duration_ms": duration_ms,
                      "bytes": nbytes, "error": error})


def entries(db: Database, action: str | None = None, limit: int = 1000, *, actor: str | None = None,
            integration: str | None = None, since: datetime | None = None, until: datetime | None = None,
            only_failed: bool = False, text: str = "") -> list[dict]:
    """Entries, newest first, filtered by any of action, actor, integration, time range, failure and text."""
    where, params = [], []
    for column, value in (("action", action), ("actor", actor), ("integration", integration)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("happened_at >= ?")
        params.append(since)
    if until:
        where.append("happened_at < ?")
        params.append(until)
    if only_failed:
        where.append("NOT ok")
    if text.strip():
        where.append("lower(concat_ws(' ', actor, action, target, details, host, path, error)) LIKE ?")
        params.append(f"%{text.strip().lower()}%")
    sql = ("SELECT id, happened_at, actor, action, target, ok, details, " + ", ".join(CALL_COLUMNS) +
           " FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
    params.append(limit)
    return db.records(sql, params)


# -- the chain's head -----------------------------------------------------------------------------

def head_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + HEAD_SUFFIX)


def _head_of(con) -> dict:
    count, last = con.execute("SELECT count(*), max(id) FROM audit_log").fetchone()
    mac = con.execute("SELECT hash FROM audit_log WHERE id = ?", [last]).fetchone()[0] if last is not None else None
    return {"last_id": last, "mac": mac, "count": count}


def chain_head(db: Database) -> dict:
    """The audit chain's head as the ledger holds it now: {"last_id": int | None, "mac": str | None,
    "count": int} (the newest entry's id and MAC, and how many entries there are). Put it in a backup's
    manifest; `verify(db, head=...)` later proves that no entry up to last_id has been removed since."""
    with db.connect() as con:
        return _head_of(con)


def _signature(key: bytes, head: dict) -> str:
    canonical = json.dumps([head.get("last_id"), head.get("mac"), head.get("count")])
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _read_head(path: Path, key: bytes) -> tuple[dict | None, str | None]:
    """(head, None) from the head file, or (None, problem in Russian)."""
    try:
        head = json.loads(path.read_text("utf-8"))
        sig = head.pop("signature")
        valid = isinstance(sig, str) and hmac.compare_digest(sig, _signature(key, head))
    except FileNotFoundError:
        return None, f"нет файла головы журнала {path.name}: удалены последние записи или сам файл"
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        valid = False
    if not valid:
        return None, f"файл головы журнала {path.name} повреждён или подделан (подпись не сходится)"
    return head, None


def _write_head(path: Path, key: bytes, head: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({**head, "signature": _signature(key, head)}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _head_problems(con, head: dict, what: str) -> list[str]:
    """What is wrong with the chain against a head recorded earlier: the head may lag (a prefix), never lead."""
    last, count = head.get("last_id"), head.get("count") or 0
    if last is None:
        return []
    row = con.execute("SELECT hash FROM audit_log WHERE id = ?", [last]).fetchone()
    if row is None:
        return [f"{what}: запись № {last} удалена (а с ней, возможно, и более поздние)"]
    if row[0] != head.get("mac"):
        return [f"{what}: запись № {last} изменена"]
    have = con.execute("SELECT count(*) FROM audit_log WHERE id <= ?", [last]).fetchone()[0]
    if have < count:
        return [f"{what}: до записи № {last} удалено записей: {count - have}"]
    return []


def advance_head(con) -> None:
    """After a commit: write the new head to the file beside the ledger, if it extends the recorded one.
    A head file that is missing (after its first writing), unreadable or not extended by the ledger is left
    as it is: it is the evidence `verify` reports."""
    from .errors import LedgerError

    path = head_path(path_of(con))
    try:
        _, head_key = _keys(con)
    except LedgerError:   # the key changed under a rotation in progress: it seals the head itself
        return
    with _head_lock:
        old, problem = _read_head(path, head_key)
        if problem is not None or _head_problems(con, old, "голова"):
            return
        try:
            _write_head(path, head_key, _head_of(con))
        except OSError:   # the data is committed; the head lags (accepted as a prefix) until the next append
            pass


def seal_head(con, master=None) -> None:
    """Write the head file from the ledger as it is, whatever file is there (the re-keying migration, a key
    rotation, a restore from a backup whose chain has been verified); `master`: the key to sign with."""
    path = head_path(path_of(con))
    _, head_key = _keys(con, master)
    with _head_lock:
        _write_head(path, head_key, _head_of(con))


# -- re-keying the older chain (migration 0061) ------------------------------------------------------

def _legacy_digest(prev_hash: str | None, row: dict[str, Any]) -> str:
    """The unkeyed SHA-256 chain of earlier versions."""
    canonical = json.dumps([prev_hash] + [_plain(row.get(c)) for c in _COLUMNS], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rekey(con) -> dict:
    """Once, at migration: chain every entry (those from before any chain too) with the keyed MAC. The old
    unkeyed chain is checked first and what it showed is logged with the re-keying, so earlier tampering is
    recorded rather than sealed over. The only code that rewrites audit_log columns; runs in the migration's
    transaction."""
    key = _keys(con)[0]   # a lost or wrong master key stops the migration here, before anything is written
    cols = ", ".join(_COLUMNS)
    rows = con.execute(f"SELECT id, {cols}, prev_hash, hash FROM audit_log ORDER BY id").fetchall()
    if not rows:
        return {"entries": 0}
    broken, unchained, seen = [], 0, set()
    for r in rows:
        row, prev_hash, stored = dict(zip(_COLUMNS, r[1:1 + len(_COLUMNS)])), r[-2], r[-1]
        if stored is None:
            unchained += 1
            continue
        if _legacy_digest(prev_hash, row) != stored or not (prev_hash in seen or (prev_hash is None and not seen)):
            broken.append(r[0])
        seen.add(stored)
    _chain(con, rows, key)
    summary = {"entries": len(rows), "unchained_before": unchained, "broken_before": broken[:100]}
    log(con, None, "audit_rekeyed", None, **summary)
    return summary


def _chain(con, rows: list[tuple], key: bytes) -> None:
    """Write a fresh chain over rows (id, columns..., prev_hash, hash) in id order."""
    from .db import update_rows

    prev, chained = None, []
    for r in rows:
        mac = _mac(key, r[0], prev, dict(zip(_COLUMNS, r[1:1 + len(_COLUMNS)])))
        chained.append({"id": r[0], "prev_hash": prev, "hash": mac})
        prev = mac
    update_rows(con, "audit_log", ["id"], chained, ["prev_hash", "hash"])


def rechain(con, old, new) -> int:
    """Vault rotation step (in its transaction): the chain must verify under the old key (entries and head
    file), else the rotation is refused, so that rotating never seals over tampering; then it is re-keyed
    under the new key. Returns the number of entries."""
    from .errors import LedgerError

    verdict = _verdict(con, path_of(con), old)
    if not verdict.ok:
        raise LedgerError(verdict.message() + ". Смена ключа отменена: сначала разберитесь с журналом")
    cols = ", ".join(_COLUMNS)
    rows = con.execute(f"SELECT id, {cols}, prev_hash, hash FROM audit_log ORDER BY id").fetchall()
    _chain(con, rows, _keys(con, new)[0])
    return len(rows)


# -- verification ---------------------------------------------------------------------------------

@dataclass
class Verdict:
    bad: list[int] = field(default_factory=list)         # entries with a wrong or missing MAC or link
    problems: list[str] = field(default_factory=list)    # the head: newest entries deleted, file missing

    @property
    def ok(self) -> bool:
        return not self.bad and not self.problems

    def message(self) -> str:
        parts = []
        if self.bad:
            more = f" и ещё {len(self.bad) - 20}" if len(self.bad) > 20 else ""
            parts.append(f"нарушена цепочка в записях {', '.join(map(str, self.bad[:20]))}{more}")
        return "Журнал изменён в обход приложения: " + "; ".join(parts + self.problems)


def verify(db: Database, head: dict | None = None) -> Verdict:
    """Check every entry's MAC and link, and the chain against its head file (and against `head`, e.g. from a
    backup manifest). Needs the master key."""
    with db.connect() as con:
        verdict = _verdict(con, db.path)
        if head is not None:
            verdict.problems += _head_problems(con, head, "по голове из копии")
    return verdict


def _verdict(con, db_path: Path, master=None) -> Verdict:
    cols = ", ".join(_COLUMNS)
    key, head_key = _keys(con, master)
    rows = con.execute(f"SELECT id, {cols}, prev_hash, hash FROM audit_log ORDER BY id").fetchall()
    verdict = Verdict()
    seen: set[str] = set()
    for r in rows:
        row = dict(zip(_COLUMNS, r[1:1 + len(_COLUMNS)]))
        prev_hash, stored = r[-2], r[-1]
        linked = prev_hash is None or prev_hash in seen   # sessions starting a new log at once all start at None
        valid = stored is not None and hmac.compare_digest(stored, _mac(key, r[0], prev_hash, row))
        if not (valid and linked):
            verdict.bad.append(r[0])
        if stored is not None:
            seen.add(stored)
    recorded, problem = _read_head(head_path(db_path), head_key)
    if problem is not None:
        verdict.problems.append(problem)
    else:
        verdict.problems += _head_problems(con, recorded, "по файлу головы журнала")
    return verdict


def verify_chain(db: Database) -> list[int]:
    """Ids of entries whose MAC does not match their content or whose predecessor is missing or altered
    (see `verify` for the head checks as well). An empty list: no entry was altered."""
    return verify(db).bad


def _export_columns():
    from .spreadsheets import Column

    return [Column("id", "№", "int"), Column("happened_at", "Когда (UTC)", "date"), Column("actor", "Кто"),
            Column("action_label", "Действие"), Column("target", "Объект"), Column("ok_label", "Успешно"),
            Column("integration", "Интеграция"), Column("operation", "Операция"), Column("host", "Сервер"),
            Column("path", "Путь"), Column("status", "Статус"), Column("duration_ms", "Длительность, мс", "int"),
            Column("bytes", "Байт", "int"), Column("error", "Ошибка"), Column("details", "Подробности")]


def export_bytes(rows: list[dict], fmt: str) -> bytes:
    """Entries (as from `entries`) as .xlsx or .csv bytes."""
    import io

    from .spreadsheets import write_csv, xlsx_bytes

    rows = [{**r, "action_label": ACTIONS.get(r["action"], r["action"]), "ok_label": "да" if r["ok"] else "нет",
             "target": target_label(r["action"], r["target"]), "details": details_text(r["details"])} for r in rows]
    if fmt == "xlsx":
        return xlsx_bytes(_export_columns(), rows, sheet_title="Журнал")
    text = io.StringIO()
    write_csv(text, _export_columns(), rows)
    return text.getvalue().encode("utf-8")


def export_log(db: Database, fmt: str, exported_by: str | None = None, **filters: Any) -> tuple[bytes, int]:
    """The (filtered) log as .xlsx or .csv bytes and its row count; the export itself is logged."""
    from .errors import InputError

    if fmt not in ("xlsx", "csv"):
        raise InputError(f"Формат «{fmt}» не поддерживается: только xlsx и csv")
    rows = entries(db, limit=10_000_000, **filters)
    data = export_bytes(rows, fmt)
    record(db, exported_by, "audit_exported", f"журнал.{fmt}", rows=len(rows))
    return data, len(rows)


def export(db: Database, path, exported_by: str | None = None, **filters: Any) -> int:
    """Write the (filtered) log to an .xlsx or .csv file named by path."""
    from pathlib import Path

    from .errors import InputError

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")
    data, n = export_log(db, fmt, exported_by, **filters)
    path.write_bytes(data)
    return n
