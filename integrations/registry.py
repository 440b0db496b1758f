"""Finding integrations (entry-point group `coop.integrations`) and keeping their state in the database.

Enabled flag and non-secret settings are rows of the table `integrations`; secret settings are vault
entries named `integration/<name>/<key>`. A plug-in that fails to load is reported, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from typing import Any

from ledger import audit
from ledger.db import Database, utcnow
from ledger.errors import InputError, LedgerError
from ledger.vault import Vault, mask_secret

from .base import INTERFACES, KINDS, PLANNED, Context, Integration, IntegrationError

GROUP = "coop.integrations"
MAX_INTERVAL_MINUTES = 366 * 24 * 60
_extra: dict[str, type[Integration]] = {}


@dataclass
class Broken:
    name: str
    error: str


BACKUP_INTERVAL = 24 * 60    # minutes: a backup storage, once enabled, runs daily by default


def register(cls: type[Integration]) -> type[Integration]:
    """Add a class in this process (tests, embedding); installed plug-ins use the entry-point group."""
    _extra[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _extra.pop(name, None)


def discover() -> tuple[dict[str, type[Integration]], list[Broken]]:
    """Every loadable integration class by name, and the entry points that failed to load."""
    found: dict[str, type[Integration]] = {}
    broken: list[Broken] = []
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Integration)) or cls.kind not in INTERFACES \
                    or not issubclass(cls, INTERFACES[cls.kind]):
                raise TypeError("не является интеграцией известного вида")
            if getattr(cls, "name", None) != ep.name:
                raise TypeError(f"имя класса «{getattr(cls, 'name', None)}» не совпадает с именем точки входа")
        except Exception as exc:  # a broken plug-in must not take the app down
            broken.append(Broken(ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        found[ep.name] = cls
    found.update(_extra)
    return dict(sorted(found.items())), broken


def integration_class(name: str) -> type[Integration]:
    found, broken = discover()
    if name in found:
        return found[name]
    bad = next((b for b in broken if b.name == name), None)
    if bad:
        raise InputError(f"Интеграция «{name}» не загружается: {bad.error}")
    planned = [n for names in PLANNED.values() for n in names]
    if name in planned:
        raise InputError(f"Интеграция «{name}» пока не реализована; доступны: {', '.join(found)}")
    raise InputError(f"Интеграция «{name}» неизвестна; доступны: {', '.join(found)}")


def _row(db: Database, name: str) -> dict | None:
    rows = db.records("SELECT * FROM integrations WHERE name = ?", [name])
    return rows[0] if rows else None


def _secret_name(name: str, key: str) -> str:
    return f"integration/{name}/{key}"


def stored_settings(db: Database, name: str) -> dict[str, Any]:
    row = _row(db, name)
    return json.loads(row["settings"]) if row and row["settings"] else {}


def load_settings(db: Database, cls: type[Integration], vault: Vault | None = None) -> dict[str, Any]:
    """Non-secret settings plus decrypted secrets (only for building the integration, never for showing)."""
    values = stored_settings(db, cls.name)
    secret_fields = [f for f in cls.fields if f.secret]
    if secret_fields:
        vault = vault or Vault(db)
        for f in secret_fields:
            value = vault.get(_secret_name(cls.name, f.key))
            if value is not None:
                values[f.key] = value
    return values


def parse_settings(cls: type[Integration], values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values checked against the integration's schema: (parsed values, Russian problems naming each field)."""
    known = {f.key: f for f in cls.fields}
    parsed: dict[str, Any] = {}
    problems = []
    for key, value in values.items():
        f = known.get(key)
        if f is None:
            problems.append(f"{cls.name}: параметр «{key}» неизвестен; допустимы: {', '.join(known)}")
            continue
        try:
            parsed[key] = f.parse(value)
        except ValueError as exc:
            problems.append(f"{cls.name}, параметр «{f.label}» ({key}): {exc}")
    return parsed, problems


def configure(db: Database, name: str, values: dict[str, Any], actor: str | None = None) -> list[str]:
    """Validate and store settings (secrets into the vault), all or nothing; returns the keys changed.

    An empty value removes the setting. The audit entry names the keys, never the values.
    """
    cls = integration_class(name)
    known = {f.key: f for f in cls.fields}
    parsed, problems = parse_settings(cls, values)
    if problems:
        raise InputError(problems)
    vault = Vault(db)
    if any(known[k].secret for k in parsed):
        vault.key  # noqa: B018  (fail on a bad master key before writing anything)
    row = _row(db, name)
    plain = json.loads(row["settings"]) if row and row["settings"] else {}
    for key, value in parsed.items():
        if not known[key].secret:
            if value is None:
                plain.pop(key, None)
            else:
                plain[key] = value
    with db.transaction() as con:
        for key, value in parsed.items():
            if known[key].secret:
                if value is None:
                    vault.delete(_secret_name(name, key), con=con)
                else:
                    vault.put(_secret_name(name, key), str(value), actor=actor, con=con)
        if "refresh_token" in parsed:   # a new authorisation: tokens cached from the old one are dropped
            vault.delete(f"oauth/{name}/token", con=con)
        _upsert(con, name, settings=json.dumps(plain, ensure_ascii=False), actor=actor)
        audit.log(con, actor, "integration_configured", name, keys=sorted(parsed))
    return sorted(parsed)


def _upsert(con, name: str, actor: str | None, **columns: Any) -> None:
    exists = con.execute("SELECT 1 FROM integrations WHERE name = ?", [name]).fetchone()
    if exists:
        sets = ", ".join(f"{c} = ?" for c in columns)
        con.execute(f"UPDATE integrations SET {sets}, updated_at = ?, updated_by = ? WHERE name = ?",
                    list(columns.values()) + [utcnow(), actor, name])
    else:
        cols = ["name", *columns, "updated_at", "updated_by"]
        con.execute(f"INSERT INTO integrations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [name, *columns.values(), utcnow(), actor])


def set_enabled(db: Database, name: str, enabled: bool, actor: str | None = None) -> None:
    cls = integration_class(name)
    if enabled:
        missing = cls.missing_requirements()
        if missing:
            raise InputError(f"Интеграции «{name}» нужны пакеты: {', '.join(missing)}")
        settings = load_settings(db, cls)
        unset = [f for f in cls.fields if f.required and settings.get(f.key) in (None, "")]
        if unset:
            raise InputError([f"{name}: не задан параметр «{f.label}» ({f.key})" for f in unset])
    with db.transaction() as con:
        _upsert(con, name, actor=actor, enabled=enabled)
        audit.log(con, actor, "integration_enabled" if enabled else "integration_disabled", name)
        if enabled and cls.kind == "backup":   # backups run daily unless the admin chose otherwise
            con.execute("UPDATE integrations SET interval_minutes = ? WHERE name = ? AND interval_minutes IS NULL",
                        [BACKUP_INTERVAL, name])


def set_schedule(db: Database, name: str, minutes: int | None, actor: str | None = None) -> None:
    integration_class(name)
    if minutes is not None and minutes < 1:
        raise InputError("Интервал запуска должен быть не меньше 1 минуты")
    if minutes is not None and minutes > MAX_INTERVAL_MINUTES:
        raise InputError(f"Интервал запуска {minutes} мин — больше года; допустимо от 1 до "
                         f"{MAX_INTERVAL_MINUTES} минут")
    with db.transaction() as con:
        _upsert(con, name, actor=actor, interval_minutes=minutes)
        audit.log(con, actor, "integration_configured", name, keys=["interval_minutes"])


def overview(db: Database) -> list[dict]:
    """One row per known integration: name, kind, title, enabled, schedule, missing requirements, errors."""
    found, broken = discover()
    rows = {r["name"]: r for r in db.records("SELECT * FROM integrations")}
    out = []
    for name, cls in found.items():
        row = rows.get(name, {})
        out.append({"name": name, "kind": cls.kind, "kind_label": KINDS[cls.kind], "title": cls.title,
                    "enabled": bool(row.get("enabled")), "interval_minutes": row.get("interval_minutes"),
                    "last_run_at": row.get("last_run_at"), "next_run_at": next_run(row),
                    "missing": cls.missing_requirements(), "error": None})
    for b in broken:
        out.append({"name": b.name, "kind": None, "kind_label": "—", "title": "не загружается", "enabled": False,
                    "interval_minutes": None, "last_run_at": None, "next_run_at": None, "missing": [], "error": b.error})
    return out


def next_run(row: dict) -> datetime | None:
    if not row.get("enabled") or not row.get("interval_minutes"):
        return None
    last = row.get("last_run_at")
    return (last + timedelta(minutes=row["interval_minutes"])) if last else utcnow()


def show(db: Database, name: str) -> list[tuple[str, str, str]]:
    """(key, label, shown value) of every setting; secrets masked."""
    cls = integration_class(name)
    plain = stored_settings(db, name)
    vault_names = set(Vault(db).names(f"integration/{name}/"))
    out = []
    for f in cls.fields:
        if f.secret:
            shown = mask_secret("x" if _secret_name(name, f.key) in vault_names else None)
        else:
            value = plain.get(f.key)
            if value is not None:
                shown = str(value)
            else:
                shown = "не задан" if f.default is None else f"{f.default} (по умолчанию)"
        out.append((f.key, f.label, shown))
    return out


def check(db: Database, name: str, actor: str | None = None) -> str:
    """Run the integration's harmless check; whatever goes wrong comes back as an IntegrationError."""
    try:
        return build(db, name, actor, require_enabled=False).check()
    except LedgerError:
        raise
    except Exception as exc:  # a plug-in's own bug must not reach the page as a traceback
        raise IntegrationError(f"Интеграция {name}: проверка не удалась ({type(exc).__name__})") from None


def is_enabled(db: Database, name: str) -> bool:
    return bool(db.scalar("SELECT enabled FROM integrations WHERE name = ?", [name]))


def build(db: Database, name: str, actor: str | None = None, require_enabled: bool = True) -> Integration:
    """An integration ready to use, with its settings and secrets."""
    cls = integration_class(name)
    if require_enabled and not is_enabled(db, name):
        raise IntegrationError(f"Интеграция «{name}» отключена; включите: coop integrations enable {name}")
    missing = cls.missing_requirements()
    if missing:
        raise IntegrationError(f"Интеграции «{name}» нужны пакеты: {', '.join(missing)}")
    settings = load_settings(db, cls)
    # Settings stored before the schema had its bounds are checked again: a bad one is named, never used.
    _, problems = parse_settings(cls, {k: v for k, v in settings.items() if k in {f.key for f in cls.fields}})
    if problems:
        raise IntegrationError("; ".join(problems) + f" — исправьте: coop integrations configure {name} КЛЮЧ=ЗНАЧЕНИЕ")
    return cls(settings, Context(db, actor))


def enabled_of_kind(db: Database, kind: str, actor: str | None = None) -> list[Integration]:
    """Enabled integrations of a kind that can be built; one that cannot is skipped (and audited)."""
    found, _ = discover()
    out = []
    for name in [r[0] for r in db.fetchall("SELECT name FROM integrations WHERE enabled ORDER BY name")]:
        cls = found.get(name)
        if cls is None or cls.kind != kind:
            continue
        try:
            out.append(build(db, name, actor))
        except Exception as exc:  # a failing integration never breaks its callers
            audit.external_call(db, name, "build", ok=False, error=f"{type(exc).__name__}: {exc}"[:300], actor=actor)
    return out


def mark_run(db: Database, name: str) -> None:
    with db.transaction() as con:
        con.execute("UPDATE integrations SET last_run_at = ? WHERE name = ?", [utcnow(), name])


def run(db: Database, name: str, actor: str | None = None) -> str:
    """One scheduled run: a bank source syncs its statements, a channel plans and sends notifications; other kinds
    check their settings."""
    integration = build(db, name, actor)
    if integration.kind == "bank" and hasattr(integration, "sync_payments"):   # a bank API (banks/api.py)
        result = f"{name}: {integration.sync_payments().summary()}"
    elif integration.kind == "bank":
        outcomes = integration.sync()
        result = f"{name}: файлов обработано {len(outcomes)}, с ошибками {sum(not o.ok for o in outcomes)}"
    elif integration.kind == "backup":
        from ledger import backup

        try:
            result = f"{name}: копия {backup.run(db, integration, actor)} сохранена"
        except Exception:
            from . import monitoring

            monitoring.notify_admin(db, actor=actor)   # the failed backup reaches the admin now, not tomorrow
            raise
    elif integration.kind == "channel":
        from . import notify
        result = notify.run_channel(db, name, actor)
    elif integration.kind == "task":
        result = f"{name}: {integration.run_task()}"
    else:
        result = f"{name}: {integration.check()}"
    mark_run(db, name)
    return result


def run_due(db: Database, actor: str | None = None) -> list[str]:
    """Run every enabled integration whose scheduled time has come (for cron: coop integrations run)."""
    now = utcnow()
    results = []
    for row in db.records("SELECT * FROM integrations WHERE enabled AND interval_minutes IS NOT NULL ORDER BY name"):
        when = next_run(row)
        if when is None or (row.get("last_run_at") and when > now):
            continue
        try:
            results.append(run(db, row["name"], actor))
        except Exception as exc:  # one failing integration does not stop the others
            results.append(f"{row['name']}: ошибка: {exc}")
    return results
