"""Health of the integrations and security alerts, computed from the audit log.

Per integration: enabled, last success, last error, calls and error rate over 24 h, latency p50/p95,
next scheduled run. Alerts: repeated failures, a certificate or token near expiry, many failed sign-ins,
an unusually large export of personal data, activity at unusual hours. `notify_admin` sends new alerts
through every enabled channel that has an admin recipient; each alert is sent at most once a day.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ledger import audit
from ledger.db import Database, utcnow

from . import registry

FAILURE_STREAK = 3             # consecutive failed calls of one integration
EXPIRY_DAYS = 30               # warn this long before a certificate or token expires
FAILED_SIGNINS = 5             # failed sign-ins within an hour
EXPORT_FACTOR = 3              # personal-data rows exported by one user in 24 h above this × members …
EXPORT_MIN_ROWS = 1000         # … and above this many rows
NIGHT = (23, 6)                # local hours [23:00, 06:00) count as unusual


@dataclass(frozen=True)
class Alert:
    key: str          # stable identity, for sending each alert once
    level: str        # ошибка | предупреждение
    text: str


def local_offset() -> timezone:
    """The cooperative's time zone (COOP_TIMEZONE, default Europe/Moscow) as of now."""
    try:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(os.environ.get("COOP_TIMEZONE", "Europe/Moscow"))
        return timezone(tz.utcoffset(datetime.now()) or timedelta(0))
    except Exception:  # no tz database: Moscow has been UTC+3 since 2014
        return timezone(timedelta(hours=3))


def integration_stats(db: Database, now: datetime | None = None) -> list[dict]:
    now = now or utcnow()
    since = now - timedelta(hours=24)
    stats = {r["integration"]: r for r in db.records("""
        SELECT integration,
               max(happened_at) FILTER (WHERE ok) AS last_success,
               max(happened_at) FILTER (WHERE NOT ok) AS last_error_at,
               arg_max(error, happened_at) FILTER (WHERE NOT ok) AS last_error,
               count(*) FILTER (WHERE happened_at >= ?) AS calls_24h,
               count(*) FILTER (WHERE happened_at >= ? AND NOT ok) AS errors_24h,
               quantile_cont(duration_ms, 0.5) FILTER (WHERE happened_at >= ?) AS p50_ms,
               quantile_cont(duration_ms, 0.95) FILTER (WHERE happened_at >= ?) AS p95_ms
        FROM audit_log WHERE action = 'external_call' AND integration IS NOT NULL
        GROUP BY integration""", [since, since, since, since])}
    out = []
    for row in registry.overview(db):
        s = stats.get(row["name"], {})
        calls = s.get("calls_24h") or 0
        out.append({**row, "last_success": s.get("last_success"), "last_error_at": s.get("last_error_at"),
                    "last_error": s.get("last_error"), "calls_24h": calls,
                    "error_rate_24h": (s.get("errors_24h") or 0) / calls if calls else None,
                    "p50_ms": s.get("p50_ms"), "p95_ms": s.get("p95_ms")})
    return out


def alerts(db: Database, now: datetime | None = None) -> list[Alert]:
    now = now or utcnow()
    found: list[Alert] = []
    found += _failure_streaks(db)
    found += _expiries(db, now)
    found += _failed_signins(db, now)
    found += _large_exports(db, now)
    found += _night_activity(db, now)
    found += _backups(db, now)
    found += _bank_authorization(db)
    found += _retention(db)
    return found


def _retention(db: Database) -> list[Alert]:
    """Former members the last retention check (kind «task», ledger/personal_data.py) found due for anonymisation,
    until a later check finds nobody."""
    row = db.fetchone("SELECT happened_at, details FROM audit_log WHERE action = 'retention_checked' "
                      "ORDER BY id DESC LIMIT 1")
    due = json.loads(row[1]).get("due", 0) if row and row[1] else 0
    if not due:
        return []
    return [Alert(f"retention:{row[0]:%Y%m%d}", "предупреждение",
                  f"Истёк срок хранения сведений бывших членов: {due}; обезличьте их — «Реестр членов», вкладка "
                  f"«Хранение» (или coop members anonymize)")]


def _backups(db: Database, now: datetime) -> list[Alert]:
    """A backup storage whose last run failed, or whose last good backup is older than its schedule allows."""
    from ledger import backup

    runs = {r["storage"]: r for r in backup.last_runs(db)}
    out = []
    for row in registry.overview(db):
        if row["kind"] != "backup" or not row["enabled"] or not row["interval_minutes"]:
            continue
        run = runs.get(row["name"], {})
        if run.get("last_ok") is False:
            out.append(Alert(f"backup-failed:{row['name']}:{run['last_started']:%Y%m%d}", "ошибка",
                             f"Резервная копия в {row['name']} не сделана: {run.get('last_error') or 'ошибка'}"))
        last = run.get("last_success")
        since = last or db.scalar("SELECT max(happened_at) FROM audit_log WHERE action = 'integration_enabled' "
                                  "AND target = ?", [row["name"]])
        if since is not None and now - since > backup.stale_after(row["interval_minutes"]):
            when = f"последняя успешная — {last:%d.%m.%Y %H:%M} UTC" if last else "успешных копий ещё не было"
            out.append(Alert(f"backup-missed:{row['name']}:{now:%Y%m%d}", "ошибка",
                             f"Резервная копия в {row['name']} просрочена: {when}; проверьте cron "
                             f"(coop integrations run)"))
    return out


def _bank_authorization(db: Database) -> list[Alert]:
    """Bank sources whose last sync was refused because the bank no longer accepts our authorization."""
    rows = db.fetchall("SELECT integration, last_error FROM bank_sync_state WHERE auth_expired ORDER BY integration")
    return [Alert(f"bank_auth:{name}", "ошибка", error or f"Интеграция {name}: авторизация в банке истекла")
            for name, error in rows]


def _failure_streaks(db: Database) -> list[Alert]:
    rows = db.fetchall("""
        WITH ranked AS (
            SELECT integration, ok, error, row_number() OVER (PARTITION BY integration ORDER BY id DESC) AS n
            FROM audit_log WHERE action = 'external_call' AND integration IS NOT NULL)
        SELECT integration, count(*) FILTER (WHERE NOT ok), max(error) FILTER (WHERE n = 1)
        FROM ranked WHERE n <= ? GROUP BY integration HAVING count(*) FILTER (WHERE NOT ok) = ?""",
                       [FAILURE_STREAK, FAILURE_STREAK])
    return [Alert(f"failures:{name}", "ошибка",
                  f"Интеграция {name}: {n} обращений подряд завершились ошибкой (последняя: {error or '—'})")
            for name, n, error in rows]


def _expiries(db: Database, now: datetime) -> list[Alert]:
    out = []
    limit = now + timedelta(days=EXPIRY_DAYS)
    for row in registry.overview(db):
        if not row["enabled"] or row["error"]:
            continue
        try:
            items = registry.build(db, row["name"]).expiries()
        except Exception:  # a broken integration is reported by its failures, not here
            continue
        for what, when in items:
            if when <= limit:
                state = "истёк" if when <= now else "истекает"
                out.append(Alert(f"expiry:{row['name']}:{what}", "предупреждение",
                                 f"Интеграция {row['name']}: {what} — срок {state} {when:%d.%m.%Y}"))
    from ledger.vault import Vault

    vault = Vault(db)
    for slot in vault.names("oauth/"):
        try:
            token = json.loads(vault.get(slot) or "{}")
        except Exception:
            continue
        when = token.get("refresh_expires_at")
        if when and datetime.fromisoformat(when) <= limit:
            name = slot.split("/")[1]
            out.append(Alert(f"expiry:{slot}", "предупреждение",
                             f"Интеграция {name}: срок авторизации истекает {datetime.fromisoformat(when):%d.%m.%Y}; "
                             f"пройдите авторизацию заново"))
    return out


def _failed_signins(db: Database, now: datetime) -> list[Alert]:
    n = db.scalar("SELECT count(*) FROM audit_log WHERE action IN ('signin_failed', 'signin_throttled') "
                  "AND happened_at >= ?",
                  [now - timedelta(hours=1)])
    if n >= FAILED_SIGNINS:
        return [Alert(f"signins:{now:%Y%m%d%H}", "ошибка", f"За последний час {n} неудачных попыток входа")]
    return []


def _large_exports(db: Database, now: datetime) -> list[Alert]:
    members = db.scalar("SELECT count(*) FROM members") or 0
    limit = max(EXPORT_MIN_ROWS, EXPORT_FACTOR * members)
    rows = db.fetchall("""
        SELECT actor, sum(try_cast(json_extract_string(details, '$.rows') AS BIGINT)) AS total
        FROM audit_log WHERE action IN ('export_personal_data', 'personal_data_revealed') AND happened_at >= ?
        GROUP BY actor HAVING total > ?""", [now - timedelta(hours=24), limit])
    return [Alert(f"export:{actor}:{now:%Y%m%d}", "предупреждение",
                  f"Пользователь {actor} за сутки выгрузил или открыл персональные данные {total} раз (строк); "
                  f"обычно не больше {limit}") for actor, total in rows]


def _night_activity(db: Database, now: datetime) -> list[Alert]:
    offset = local_offset()
    rows = db.fetchall("""
        SELECT actor, action, happened_at FROM audit_log
        WHERE happened_at >= ? AND action IN ('signin', 'export_personal_data', 'personal_data_revealed',
                                              'role_changed', 'user_added', 'vault_rotated', 'audit_exported')
        ORDER BY id""", [now - timedelta(hours=24)])
    seen: dict[str, tuple[str, datetime]] = {}
    start, end = NIGHT
    for actor, action, when in rows:
        local = when.replace(tzinfo=timezone.utc).astimezone(offset)
        if local.hour >= start or local.hour < end:
            seen.setdefault(actor or "—", (action, local))
    return [Alert(f"night:{actor}:{when:%Y%m%d}", "предупреждение",
                  f"Действия в нерабочее время: {actor} — {audit.ACTIONS.get(action, action).lower()} в "
                  f"{when:%d.%m %H:%M}") for actor, (action, when) in seen.items()]


def notify_admin(db: Database, current: list[Alert] | None = None, actor: str | None = None) -> int:
    """Send alerts not sent in the last 24 h through each enabled channel with an admin recipient."""
    current = alerts(db) if current is None else current
    recent = {r[0] for r in db.fetchall("SELECT target FROM audit_log WHERE action = 'alert_sent' AND happened_at >= ?",
                                        [utcnow() - timedelta(hours=24)])}
    new = [a for a in current if a.key not in recent]
    if not new:
        return 0
    sent = 0
    for channel in registry.enabled_of_kind(db, "channel", actor):
        recipient = channel.settings.get("admin_recipient")
        if not recipient:
            continue
        text = "Оповещения coop-ledger:\n\n" + "\n".join(f"• {a.text}" for a in new)
        try:
            channel.send(recipient, f"coop-ledger: оповещений {len(new)}", text)
        except Exception:  # audited by the channel; try the next one
            continue
        with db.transaction() as con:
            for a in new:
                audit.log(con, actor, "alert_sent", a.key, channel=channel.name)
        sent = len(new)
        break
    return sent
