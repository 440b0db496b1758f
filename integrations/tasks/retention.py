"""The retention check (152-ФЗ, 402-ФЗ ст. 29): former members whose documents need no longer be kept and who owe
nothing, listed for the admin to anonymise. Scheduled like any integration:
`coop integrations enable retention`, `coop integrations schedule retention --every 1440`, cron runs
`coop integrations run`; monitoring raises an alert while someone is due."""

from __future__ import annotations

from ledger import personal_data

from ..base import ScheduledTask


class RetentionCheck(ScheduledTask):
    name = "retention"
    title = "Сроки хранения сведений бывших членов"

    def run_task(self) -> str:
        due = personal_data.check_retention(self.ctx.db, self.ctx.actor)
        if not due:
            return "обезличивать некого"
        shown = ", ".join(r["reg_no"] for r in due[:20]) + (" и др." if len(due) > 20 else "")
        return f"к обезличиванию {len(due)} (л/с {shown}): страница «Реестр членов», вкладка «Хранение»"
