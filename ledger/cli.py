"""The `coop` command line: everything that runs unattended (cron, scheduled jobs).

Errors meant for the user are printed as one Russian line per problem on stderr with exit code 1 (2 for
an option that does not fit, such as a column mapping naming no column of the file); never a traceback (set COOP_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional

import typer

try:  # recent typer vendors click and raises its own exception classes
    from typer._click import core as cli_core, decorators as cli_decorators, exceptions as cli_errors, \
        formatting as cli_formatting
except ImportError:  # pragma: no cover - older typer on top of click
    from click import core as cli_core, decorators as cli_decorators, exceptions as cli_errors, \
        formatting as cli_formatting

from . import column_maps, cooperative, fields, formats, opening, statements, tariffs, users, vault


def _lazy(name: str):
    """A ledger module loaded on its first use (importlib's LazyLoader): these pull in numpy and pandas (≈ 80 MB),
    which commands such as the nightly `coop backup run` never need."""
    import importlib.util

    full = f"{__package__}.{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.find_spec(full)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    setattr(sys.modules[__package__], name, module)
    return module


accruals, debts, demo, matching, members = (_lazy(n) for n in ("accruals", "debts", "demo", "matching", "members"))
from .db import Database, default_path
from .errors import InputError, LedgerError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="coop-ledger: учёт членов и взносов кооператива.")
members_app = typer.Typer(no_args_is_help=True, help="Реестр членов.")
users_app = typer.Typer(no_args_is_help=True, help="Пользователи приложения.")
app.add_typer(members_app, name="members")
app.add_typer(users_app, name="users")
bank_app = typer.Typer(no_args_is_help=True, help="Банковские выписки.")
app.add_typer(bank_app, name="bank")
matches_app = typer.Typer(no_args_is_help=True, help="Разнесение платежей по членам.")
app.add_typer(matches_app, name="matches")
tariffs_app = typer.Typer(no_args_is_help=True, help="Взносы (тарифы) и ключевая ставка.")
app.add_typer(tariffs_app, name="tariffs")
integrations_app = typer.Typer(no_args_is_help=True, help="Интеграции: банки, каналы, подпись, отчётность, копии.")
vault_app = typer.Typer(no_args_is_help=True, help="Хранилище секретов.")
audit_app = typer.Typer(no_args_is_help=True, help="Журнал действий.")
monitoring_app = typer.Typer(no_args_is_help=True, help="Мониторинг интеграций и оповещения.")
app.add_typer(integrations_app, name="integrations")
app.add_typer(vault_app, name="vault")
app.add_typer(audit_app, name="audit")
app.add_typer(monitoring_app, name="monitoring")
balances_app = typer.Typer(no_args_is_help=True, help="Входящие остатки (переход с 1С или Excel).")
app.add_typer(balances_app, name="balances")
cooperative_app = typer.Typer(no_args_is_help=True, help="Реквизиты кооператива (как на странице «Кооператив»).")
app.add_typer(cooperative_app, name="cooperative")
report_app = typer.Typer(no_args_is_help=True, help="Отчёты: ФНС, реестр членов, должники, суд, Сбербанк; подпись и отправка.")
report_build_app = typer.Typer(no_args_is_help=True, help="Сформировать отчёт.")
report_app.add_typer(report_build_app, name="build")
app.add_typer(report_app, name="report")
backup_app = typer.Typer(no_args_is_help=True, help="Зашифрованные резервные копии.")
app.add_typer(backup_app, name="backup")
notify_app = typer.Typer(no_args_is_help=True, help="Уведомления членам: напоминания о долге, «платёж получен».")
app.add_typer(notify_app, name="notify")


def db_of(ctx: typer.Context, create: bool = False) -> Database:
    """The ledger of this command, once its file is there and its master key is known to fit (a mistyped path,
    a lost or wrong key stop every command before it reads or writes anything). Only `create` (coop init)
    may start a new file."""
    obj = ctx.find_root().obj
    if not obj.get("key_checked"):
        if not create:
            obj["db"].require_file()
        vault.check_key(obj["db"])
        obj["key_checked"] = True
    return obj["db"]


def actor() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'system'}"


def say(text: str) -> None:
    typer.echo(text)


def read_input_file(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: файл не найден")
    if path.is_dir():
        raise InputError(f"{path}: это папка, а не файл")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: не удалось прочитать файл ({exc.strerror})") from None


@app.callback()
def root(ctx: typer.Context,
         db: Optional[Path] = typer.Option(None, "--db", envvar="COOP_DB", help="Файл базы (по умолчанию data/coop.duckdb).")):
    ctx.obj = {"db": Database(db or default_path())}


@app.command("init")
def init(ctx: typer.Context, demo_data: bool = typer.Option(False, "--demo", help="Заполнить демо-кооперативом.")):
    """Создать базу (или обновить её схему)."""
    db = db_of(ctx, create=True)
    versions = db.schema_versions()
    say(f"База {db.path}: схема версии {max(versions)}")
    statements.remove_stale_originals(db)
    sealed = members.seal_plaintext(db)
    if sealed:
        say(f"Персональные данные {sealed} членов зашифрованы")
    if demo_data:
        n = demo.create_demo(db)
        say(f"Демо-кооператив: {n} членов" if n else "В базе уже есть члены: демо-данные не добавлены")


@members_app.command("import")
def members_import(ctx: typer.Context, file: Path = typer.Argument(..., help=".xlsx или .csv"),
                   as_of: Optional[str] = typer.Option(None, "--as-of", help="С какой даты действуют изменения "
                                                       "(по умолчанию сегодня); даты в файле важнее"),
                   numbering: str = typer.Option("plot", "--numbering",
                                                 help="Если в файле нет л/с: plot — номер л/с по наименьшему номеру "
                                                      "участка (помещения) члена, sequential — по порядку после "
                                                      "наибольшего"),
                   mapping: list[str] = typer.Option([], "--map", help="Что в столбце: \"Заголовок=поле\" (поле — "
                                                     "код или название: ФИО, full_name; пусто — не загружать); "
                                                     "запоминается для файлов с такими же заголовками")):
    """Загрузить реестр членов (всё или ничего; повторная загрузка ничего не меняет)."""
    effective = option_date(as_of, "--as-of") if as_of is not None else None
    explicit = column_maps.resolve(mapping, members.REGISTER_SYNONYMS, members.REGISTER_LABELS)
    result = members.import_register(db_of(ctx), read_input_file(file), file.name, actor=actor(), as_of=effective,
                                     numbering=numbering, mapping=explicit)
    if result.remembered:
        say(f"Применено сохранённое сопоставление столбцов: {result.remembered}")
    for w in result.warnings:
        say(f"Предупреждение: {w}")
    say(f"{file.name}: {result.summary()}")
    if result.consents:
        say(f"Согласий на уведомления записано: {result.consents}")
    if result.not_in_file:
        say(f"В файле нет {result.not_in_file} членов из базы: они не изменены")


@members_app.command("consent")
def members_consent(ctx: typer.Context, reg_no: str = typer.Argument(..., help="Номер л/с члена"),
                    channel: Optional[str] = typer.Option(None, "--channel", help="email, sms, telegram или max"),
                    yes: bool = typer.Option(False, "--yes", help="дал согласие"),
                    no: bool = typer.Option(False, "--no", help="отозвал согласие"),
                    basis: Optional[str] = typer.Option(None, "--basis", help="Основание: № и дата заявления, слова члена"),
                    kind: str = typer.Option("other", "--kind", help="form — подписанное заявление, other — другое"),
                    on: Optional[str] = typer.Option(None, "--date", help="Дата согласия или отзыва (если известна)")):
    """Согласие члена на уведомления по каналу (без --yes/--no — показать согласия)."""
    from . import consent

    if yes and no:     # one flag would silently win over the other: a withdrawal recorded as a consent or back
        raise InputError("Укажите что-то одно: --yes (согласие дано) или --no (отозвано)")
    granted = True if yes else False if no else None
    db = db_of(ctx)
    found = members.find_by_reg_no(db, reg_no)
    if found is None:
        raise InputError(f"Член с л/с {reg_no} не найден")
    if granted is None:
        if channel or basis:
            raise InputError("Укажите --yes (согласие дано) или --no (отозвано)")
        for c in consent.current(db, found["id"]):
            since = formats.day(c["since"]) if c["since"] else "—"
            say(f"{c['channel']}\t{'да' if c['granted'] else 'нет'}\tс {since}\t{c['basis']}")
        return
    if not channel:
        raise InputError("Укажите канал: --channel email, sms, telegram или max")
    if not (basis or "").strip():
        raise InputError("Укажите основание: --basis «заявление № … от …» или слова члена")
    if kind not in ("form", "other"):
        raise InputError(f"--kind {kind}: допустимы form (заявление) и other (другое)")
    day = option_date(on, "--date") if on else None
    changed = consent.record(db, found["id"], channel, granted, kind, basis, day, actor=actor())
    name = consent.CHANNELS[consent.channel_of(channel)]
    if not changed:
        say(f"л/с {reg_no}, {name}: уже {'есть согласие' if granted else 'нет согласия'} — ничего не изменено")
    else:
        say(f"л/с {reg_no}, {name}: согласие {'записано' if granted else 'отозвано'}")


@members_app.command("export")
def members_export(ctx: typer.Context, file: Path = typer.Argument(..., help=".xlsx или .csv")):
    """Выгрузить реестр членов."""
    n = members.export_register(db_of(ctx), file, actor=actor())
    say(f"{file}: выгружено {n} членов")


@members_app.command("pd-report")
def members_pd_report(ctx: typer.Context, reg_no: str = typer.Argument(..., help="номер л/с"),
                      out: Path = typer.Option(..., "--out", help="файл .pdf или .json")):
    """Копия всех сведений о члене для ответа на его запрос (152-ФЗ ст. 14); выдача записывается в журнал."""
    from . import personal_data

    if out.suffix.lower() not in (".pdf", ".json"):
        typer.echo(f"Ошибка: {out.name}: копия сведений выгружается только в .pdf или .json", err=True)
        raise typer.Exit(2)
    report = personal_data.write_pd_report(db_of(ctx), reg_no, out, actor=actor())
    rows = sum(len(s["rows"]) for s in report["sections"])
    say(f"{out}: сведения о л/с {report['member']['reg_no']} — разделов {len(report['sections'])}, записей {rows}")


@members_app.command("retention")
def members_retention(ctx: typer.Context):
    """Бывшие члены, чей срок хранения документов истёк и кто ничего не должен: их можно обезличить."""
    from . import personal_data

    db = db_of(ctx)
    due = personal_data.check_retention(db, actor=actor())
    if not due:
        say(f"Обезличивать некого (срок хранения — {personal_data.retention_years(db)} лет после года последнего "
            f"документа)")
        return
    say("Л/с\tСтатус\tДата выхода\tПоследний документ\tХранить до")
    for r in due:
        say(f"{r['reg_no']}\t{r['status_label']}\t{formats.day(r['exit_date'])}\t{formats.day(r['last_document'])}\t"
            f"{formats.day(r['keep_until'])}")
    say(f"К обезличиванию: {len(due)}; команда: coop members anonymize Л/С --reason ОСНОВАНИЕ")


@members_app.command("anonymize")
def members_anonymize(ctx: typer.Context, reg_no: str = typer.Argument(..., help="номер л/с"),
                      reason: str = typer.Option(..., "--reason", help="основание (без ФИО и контактов)")):
    """Обезличить бывшего члена: ФИО, контакты, ИНН, адрес и заметки заменяются псевдонимом, деньги остаются."""
    from . import personal_data

    result = personal_data.anonymize(db_of(ctx), reg_no, reason, actor=actor())
    if result["already"]:
        say(f"Л/с {result['reg_no']} уже обезличен {formats.moment(result['already'])} (UTC); файл базы переписан заново")
        return
    say(f"Л/с {result['reg_no']} обезличен: теперь «{result['pseudonym']}»; удалено исходных файлов выписок: "
        f"{result['originals_removed']}")
    if result["audit_entries_with_old_values"]:
        say(f"Предупреждение: в журнале действий записей с его прежними данными: "
            f"{result['audit_entries_with_old_values']} (журнал не изменяется)")


@users_app.command("add")
def users_add(ctx: typer.Context, login: str = typer.Argument(...),
              role: str = typer.Option(..., "--role", help="admin | accountant | board")):
    """Добавить пользователя; пароль спрашивается или читается из stdin."""
    if role not in users.ROLES:
        raise InputError(f"Роль «{role}» неизвестна; допустимы: {', '.join(users.ROLES)}")
    if sys.stdin is not None and not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Пароль", hide_input=True, confirmation_prompt="Повторите пароль")
    users.add_user(db_of(ctx), login, password, role, actor=actor())
    say(f"Пользователь {login} добавлен ({users.ROLES[role]})")


@users_app.command("list")
def users_list(ctx: typer.Context):
    """Список пользователей."""
    for u in users.list_users(db_of(ctx)):
        state = "" if u["active"] else " (отключён)"
        say(f"{u['login']}\t{users.ROLES.get(u['role'], u['role'])}{state}")


def file_line(file: Path, problems: list[str]) -> str:
    """The problems of one file as one line: «a.txt, строка 5: …; строка 9: …» (the file named once)."""
    prefixes = (f"{file}: ", f"{file.name}: ", f"{file}, ", f"{file.name}, ")
    parts = []
    for text in problems:
        bare = next((text[len(p):] for p in prefixes if text.startswith(p)), None)
        parts.append(text if not parts and bare is not None else bare if bare is not None else text)
    line = "; ".join(parts)
    return line if line.startswith(prefixes) else f"{file.name}: {line}"


@bank_app.command("import")
def bank_import(ctx: typer.Context, files: list[Path] = typer.Argument(..., help="Выписки: 1С (kl_to_1c.txt), .xlsx, "
                                                                                 ".xls, .csv, camt.053, MT940"),
                allow_currency: bool = typer.Option(False, "--allow-currency",
                                                    help="Загружать выписки валютных счетов (их платежи не разносятся "
                                                         "по членам и не входят в долги).")):
    """Загрузить выписки. Сначала проверяются все файлы: если хоть один с ошибкой, не загружается ничего."""
    db = db_of(ctx)
    problems: dict[int, list[str]] = {}
    parsed = []
    known = statements.known_accounts(db)
    for k, file in enumerate(files):
        try:
            data = read_input_file(file)
            statement = statements.parse(db, data, file.name, allow_currency=allow_currency, known=known)
            parsed.append((file, data, statement))
            known = known or statements.statement_accounts(statement)   # the first file gives a new cooperative its own
        except InputError as exc:
            problems[k] = exc.problems
    if problems:   # one line per file: its problems, or why a good one was not loaded either
        raise InputError([file_line(file, problems[k]) if k in problems else
                          f"{file.name}: ошибок нет, но не загружен: сначала исправьте "
                          f"{'файл' if len(problems) == 1 else 'файлы'} с ошибками (загружаются все или ни один)"
                          for k, file in enumerate(files) if k in problems or len(files) > 1])
    for file, data, statement in parsed:
        result = statements.import_statement(db, data, file.name, actor=actor(), parsed=statement,
                                             allow_currency=allow_currency)
        if result.notice():
            say(result.notice())
        for w in result.warnings:
            say(f"Предупреждение: {w}")
        period = (f", {result.period_from:%d.%m.%Y}–{result.period_to:%d.%m.%Y}"
                  if result.period_from and result.period_to else "")
        say(f"{file.name} ({result.format_label}{period}): {result.summary()}")


@bank_app.command("list")
def bank_list(ctx: typer.Context):
    """Загруженные выписки."""
    rows = statements.list_statements(db_of(ctx))
    if not rows:
        say("Выписок нет")
    for r in rows:
        period = f"{r['period_from']:%d.%m.%Y}–{r['period_to']:%d.%m.%Y}" if r["period_from"] and r["period_to"] else "—"
        accounts = r["accounts"] or r["our_account"] or "—"
        currency = f"\tвалюта {', '.join(r['foreign'])} (не разносится)" if r["foreign"] else ""
        amount = (lambda v: f"{formats.money(v)} {', '.join(r['foreign'])}") if r["foreign"] else formats.rub
        say(f"{r['id']}\t{r['file_name']}\t{r['format_label']}\tсчёт {accounts}\t{period}\t"
            f"поступления {r['docs_in']} на {amount(r['total_in'])}\tсписания {r['docs_out']} на "
            f"{amount(r['total_out'])}{currency}")


@bank_app.command("delete")
def bank_delete(ctx: typer.Context, statement_id: int = typer.Argument(..., help="Номер выписки из coop bank list"),
                yes: bool = typer.Option(False, "--yes", help="Без вопроса")):
    """Удалить выписку и её платежи (кроме тех, что есть и в другой загруженной выписке)."""
    if not yes and not typer.confirm(f"Удалить выписку № {statement_id} и её платежи?"):
        raise typer.Abort()
    result = statements.delete_statement(db_of(ctx), statement_id, actor=actor())
    say(f"Выписка № {statement_id} удалена: платежей удалено {result['deleted']}, "
        f"оставлено (есть в другой выписке) {result['kept']}")
@bank_app.command("sync")
def bank_sync(ctx: typer.Context,
              source: Optional[str] = typer.Option(None, "--source", help="Одна интеграция банка (по умолчанию все "
                                                                          "включённые, что получают выписки по API)"),
              since: Optional[str] = typer.Option(None, "--since", help="С какой даты читать (ГГГГ-ММ-ДД); по умолчанию "
                                                                        "с последней загруженной с окном перекрытия")):
    """Загрузить выписки прямо из банка (API) и разнести новые платежи."""
    from integrations.banks import api

    db = db_of(ctx)
    start = option_date(since, "--since") if since else None
    results = api.sync_sources(db, source, start, actor())   # none configured: an error (exit 1, as a disabled one)
    failed = False
    for name, result, error in results:
        if error:
            failed = True
            typer.echo(f"{name}: ошибка: {error}", err=True)
            continue
        matched = (f"; разнесено автоматически {result.matched.get('auto', 0)}, предложено {result.matched.get('suggested', 0)}"
                   if result.matched else "")
        say(f"{name} ({result.start:%d.%m.%Y}–{result.end:%d.%m.%Y}): {result.summary()}{matched}")
    return 1 if failed else 0


@bank_app.command("login")
def bank_login(ctx: typer.Context, name: str = typer.Argument(..., help="Интеграция банка, например open_banking"),
               redirect_uri: str = typer.Option(..., "--redirect-uri", help="Адрес возврата, зарегистрированный в банке"),
               code: Optional[str] = typer.Option(None, "--code", help="Код из адреса возврата после согласия")):
    """Авторизация в банке по OAuth 2.0: без --code печатает адрес страницы согласия, с --code сохраняет токены."""
    import secrets as _secrets

    from integrations import registry
    from integrations.banks.api import ApiBankSource

    db = db_of(ctx)
    source = registry.build(db, name, actor(), require_enabled=False)
    if not isinstance(source, ApiBankSource):
        raise InputError(f"Интеграция «{name}» не получает выписки из банка по API")
    if not code:
        say("Откройте в браузере и дайте согласие, затем повторите команду с --code из адреса возврата:")
        say(source.login_url(redirect_uri, _secrets.token_urlsafe(16)))
        return 0
    with source.client() as client:
        client.exchange_code(code, redirect_uri)
    with db.transaction() as con:
        con.execute("UPDATE bank_sync_state SET auth_expired = FALSE WHERE integration = ?", [name])
    say(f"{name}: авторизация в банке сохранена")
    return 0


@cooperative_app.command("show")
def cooperative_show(ctx: typer.Context):
    """Показать реквизиты кооператива."""
    values = cooperative.get_settings(db_of(ctx))
    for key, (label, _) in cooperative.SETTINGS.items():
        say(f"{key}\t{label}\t{values.get(key) or '—'}")


@cooperative_app.command("set")
def cooperative_set(ctx: typer.Context, pairs: list[str] = typer.Argument(..., metavar="КЛЮЧ=ЗНАЧЕНИЕ...",
                                                                          help="Например: name=\"СНТ Рассвет\" "
                                                                               "inn=5007012345 bank_accounts=A,B")):
    """Изменить реквизиты: те же поля и проверки, что на странице «Кооператив» (пустое значение очищает поле)."""
    values, problems = {}, []
    keys = ", ".join(cooperative.SETTINGS)
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq:
            problems.append(f"«{pair}»: ожидается КЛЮЧ=ЗНАЧЕНИЕ; ключи: {keys}")
        elif key not in cooperative.SETTINGS:
            problems.append(f"Поле «{key}» неизвестно; допустимы: {keys}")
        else:
            values[key] = value
    if problems:
        raise InputError(problems)
    saved = cooperative.save_settings(db_of(ctx), values, actor=actor())
    say("Сохранено: " + "; ".join(f"{cooperative.SETTINGS[k][0]} = {saved[k] or '—'}" for k in values))


@app.command("match")
def match(ctx: typer.Context):
    """Разнести платежи: решить каждый входящий платёж, который ещё не решил человек."""
    s = matching.match_payments(db_of(ctx), actor=actor())
    say(f"Платежей разобрано: {s['total']}: автоматически {s['auto']}, предложено {s['suggested']}, "
        f"не разнесено {s['unmatched']}; решений бухгалтера не тронуто: {s['manual']}; "
        f"запомнено счетов плательщиков: {s['links']}")


@matches_app.command("export")
def matches_export(ctx: typer.Context, file: Path = typer.Argument(..., help=".xlsx или .csv")):
    """Выгрузить разнесение: строка на каждый входящий платёж."""
    n = matching.export_matches(db_of(ctx), file, actor=actor())
    say(f"{file}: выгружено {n} платежей")


def option_date(value: str, option: str):
    try:
        return fields.parse_date(value)
    except ValueError as exc:
        raise InputError(f"Параметр {option}: {exc}") from None  # exc already names the expected format


@tariffs_app.command("load")
def tariffs_load(ctx: typer.Context, file: Path = typer.Argument(..., help="Файл тарифов .toml")):
    """Загрузить взносы из файла TOML (всё или ничего; взносы с тем же кодом заменяются)."""
    added, changed = tariffs.load_tariffs(db_of(ctx), read_input_file(file), file.name, actor=actor())
    say(f"{file.name}: новых взносов {added}, изменено {changed}")


@tariffs_app.command("list")
def tariffs_list(ctx: typer.Context):
    """Список взносов."""
    for c in tariffs.contributions(db_of(ctx)):
        rate = formats.rub(c.rate, 2 if c.rate == round(c.rate, 2) else 4)   # «300,00 ₽», «0,1234 ₽»
        say(f"{c.code}\t{c.name}\t{rate} {tariffs.BASES[c.basis]}\t"
            f"{tariffs.PERIODS.get(c.period or '', 'разовый')}\tпеня: {tariffs.PENALTY_KINDS[c.penalty.kind]}")


@tariffs_app.command("key-rate")
def tariffs_key_rate(ctx: typer.Context,
                     valid_from: Optional[str] = typer.Argument(None, help="С какой даты действует ставка"),
                     rate: Optional[str] = typer.Argument(None, help="Ставка, % годовых, например 16.5")):
    """Показать историю ключевой ставки или добавить (изменить) ставку с даты."""
    db = db_of(ctx)
    if valid_from is not None:
        if rate is None:
            raise InputError("Укажите ставку: coop tariffs key-rate ДАТА СТАВКА")
        tariffs.set_key_rate(db, option_date(valid_from, "ДАТА"), rate, actor=actor())
    for r in tariffs.key_rates(db):
        say(f"{r['valid_from']:%d.%m.%Y}\t{r['rate']} %")


@app.command("accrue")
def accrue(ctx: typer.Context, through: str = typer.Option(..., "--through", help="Начислить всё со сроком до этой даты"),
           dry_run: bool = typer.Option(False, "--dry-run", help="Только показать, что будет начислено и пересчитано")):
    """Начислить взносы со сроком оплаты по дату включительно и пересчитать уже начисленные периоды, если
    изменились реестр или тарифы (повторный запуск ничего не добавляет)."""
    result = accruals.accrue(db_of(ctx), option_date(through, "--through"), actor=actor(), dry_run=dry_run)
    for line in result.lines:
        period = (f"{line['period_start']:%d.%m.%Y}" if line["period_start"] == line["period_end"]
                  else f"{line['period_start']:%d.%m.%Y}–{line['period_end']:%d.%m.%Y}")
        plot = f", участок {line['plot']}" if line["plot"] else ""
        say(f"л/с {line['reg_no']}\t{line['contribution']} за {period}{plot}\t"
            f"{'+' if line['delta'] > 0 else ''}{accruals.fmt_money(line['delta'])} ₽\t{line['reason']}")
    if result.corrections > len(result.lines):
        say(f"… и ещё {result.corrections - len(result.lines)} исправлений")
    say(("Предварительно (ничего не записано): " if dry_run else "") + result.summary())


@balances_app.command("import")
def balances_import(ctx: typer.Context, file: Path = typer.Argument(..., help="ОСВ 1С по счёту 76/86 или таблица .xlsx/.csv"),
                    as_of: str = typer.Option(..., "--as-of", help="На какую дату остатки (день после конца периода ОСВ)"),
                    mapping: list[str] = typer.Option([], "--map", help="Соответствие взноса тарифу: \"Название=код\"")):
    """Загрузить входящие остатки: долг и аванс по членам и взносам на дату (всё или ничего)."""
    result = opening.import_balances(db_of(ctx), read_input_file(file), file.name, option_date(as_of, "--as-of"),
                                     opening.parse_mapping(mapping), actor=actor())
    say(result.summary())


@app.command("debts")
def debts_report(ctx: typer.Context, as_of: str = typer.Option(..., "--as-of", help="На какую дату"),
                 out: Path = typer.Option(..., "--out", help="Файл .csv или .xlsx")):
    """Долги по членам и взносам на дату (основной долг, пени)."""
    n = debts.export_debts(db_of(ctx), option_date(as_of, "--as-of"), out, actor=actor())
    say(f"{out}: {n} строк")


@app.command("statement")
def statement(ctx: typer.Context, member_id: str = typer.Argument(..., help="Номер л/с члена"),
              date_from: str = typer.Option(..., "--from", help="Начало периода"),
              date_to: str = typer.Option(..., "--to", help="Конец периода"),
              out: Path = typer.Option(..., "--out", help="Файл .xlsx или .pdf")):
    """Акт сверки с членом за период."""
    s = debts.write_statement(db_of(ctx), member_id, option_date(date_from, "--from"), option_date(date_to, "--to"),
                              out, actor=actor())
    say(f"{out}: сальдо на начало {formats.rub(s.opening)}, на конец {formats.rub(s.closing)}")


# -- integrations, vault, audit, monitoring --------------------------------------------------------

@integrations_app.command("list")
def integrations_list(ctx: typer.Context):
    """Все интеграции: вид, включена ли, расписание."""
    from integrations import registry

    for row in registry.overview(db_of(ctx)):
        if row["error"]:
            say(f"{row['name']}\t—\tне загружается: {row['error']}")
            continue
        state = "включена" if row["enabled"] else "отключена"
        extra = f"\tкаждые {row['interval_minutes']} мин" if row["interval_minutes"] else ""
        missing = f"\tнужны пакеты: {', '.join(row['missing'])}" if row["missing"] else ""
        say(f"{row['name']}\t{row['kind_label']}\t{row['title']}\t{state}{extra}{missing}")


@integrations_app.command("enable")
def integrations_enable(ctx: typer.Context, name: str = typer.Argument(...)):
    """Включить интеграцию (все обязательные параметры должны быть заданы)."""
    from integrations import registry

    registry.set_enabled(db_of(ctx), name, True, actor=actor())
    say(f"{name}: включена")


@integrations_app.command("disable")
def integrations_disable(ctx: typer.Context, name: str = typer.Argument(...)):
    """Отключить интеграцию (настройки сохраняются)."""
    from integrations import registry

    registry.set_enabled(db_of(ctx), name, False, actor=actor())
    say(f"{name}: отключена")


@integrations_app.command("configure")
def integrations_configure(ctx: typer.Context, name: str = typer.Argument(...),
                           pairs: list[str] = typer.Argument(..., metavar="КЛЮЧ=ЗНАЧЕНИЕ…",
                                                             help="секрет: KEY=@- (значение читается из stdin)")):
    """Задать параметры; пустое значение (KEY=) удаляет параметр."""
    from integrations import registry

    cls = registry.integration_class(name)
    secret_keys = {f.key for f in cls.fields if f.secret}
    values: dict[str, str] = {}
    problems = []
    from_stdin = [p.partition("=")[0] for p in pairs if p.partition("=")[2] == "@-"]
    if len(from_stdin) > 1:
        raise InputError(f"Из stdin можно прочитать только один параметр, а указаны: {', '.join(from_stdin)}")
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            problems.append(f"«{pair.split('=')[0]}»: нужно КЛЮЧ=ЗНАЧЕНИЕ")
            continue
        if value == "@-":
            value = sys.stdin.read() if sys.stdin is not None else ""
            field = next((f for f in cls.fields if f.key == key), None)
            if field is None or field.type != "pem":
                value = value.rstrip("\r\n")
        elif key in secret_keys and value:
            problems.append(f"{name}: секрет «{key}» нельзя передавать в командной строке; укажите {key}=@- "
                            f"и подайте значение на stdin")
            continue
        values[key] = value
    if problems:
        raise InputError(problems)
    changed = registry.configure(db_of(ctx), name, values, actor=actor())
    say(f"{name}: сохранено ({', '.join(changed)})")


@integrations_app.command("show")
def integrations_show(ctx: typer.Context, name: str = typer.Argument(...)):
    """Параметры интеграции; секреты скрыты."""
    from integrations import registry

    db = db_of(ctx)
    say(f"{name}: {'включена' if registry.is_enabled(db, name) else 'отключена'}")
    for key, label, shown in registry.show(db, name):
        say(f"{key}\t{shown}\t# {label}")


@integrations_app.command("schedule")
def integrations_schedule(ctx: typer.Context, name: str = typer.Argument(...),
                          every: Optional[int] = typer.Option(None, "--every", help="интервал в минутах; без него — снять")):
    """Запускать интеграцию по расписанию (командой coop integrations run из cron)."""
    from integrations import registry

    registry.set_schedule(db_of(ctx), name, every, actor=actor())
    say(f"{name}: " + (f"каждые {every} мин" if every else "без расписания"))


@integrations_app.command("check")
def integrations_check(ctx: typer.Context, name: str = typer.Argument(...)):
    """Проверить настройки интеграции безвредным обращением к сервису."""
    from integrations import registry

    say(f"{name}: {registry.check(db_of(ctx), name, actor())}")


@integrations_app.command("run")
def integrations_run(ctx: typer.Context, name: Optional[str] = typer.Argument(None, help="без имени — все, чей срок настал")):
    """Выполнить интеграцию (банк — загрузить новые выписки); для cron."""
    from integrations import registry

    db = db_of(ctx)
    results = [registry.run(db, name, actor())] if name else registry.run_due(db, actor())
    for line in results:
        say(line)
    if not results:
        say("Нечего запускать")
    return 1 if any(": ошибка:" in line for line in results) else 0


@vault_app.command("rotate")
def vault_rotate(ctx: typer.Context):
    """Перешифровать все секреты и персональные данные новым мастер-ключом."""
    from . import vault

    done = vault.rotate(db_of(ctx), actor=actor())
    say("Мастер-ключ заменён; перешифровано: " + ", ".join(f"{k} {v}" for k, v in done.items()))
    if os.environ.get(vault.ENV_KEY):
        say(f"Теперь задайте {vault.ENV_KEY} равным прежнему {vault.ENV_NEW_KEY}")


@audit_app.command("export")
def audit_export(ctx: typer.Context, file: Path = typer.Argument(..., help=".xlsx или .csv")):
    """Выгрузить журнал действий."""
    from . import audit

    n = audit.export(db_of(ctx), file, exported_by=actor())
    say(f"{file}: выгружено {n} записей")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context):
    """Проверить, что записи журнала не изменялись и не удалялись."""
    from . import audit

    verdict = audit.verify(db_of(ctx))
    if not verdict.ok:
        raise LedgerError(verdict.message())
    head = audit.chain_head(db_of(ctx))
    say(f"Журнал цел: записей {head['count']}, последняя № {head['last_id'] or '—'}")


@monitoring_app.command("alerts")
def monitoring_alerts(ctx: typer.Context, send: bool = typer.Option(False, "--send",
                                                                     help="отправить новые оповещения администратору")):
    """Текущие оповещения; с --send — разослать их через включённый канал."""
    from integrations import monitoring

    db = db_of(ctx)
    alerts = monitoring.alerts(db)
    for a in alerts:
        say(f"{a.level}\t{a.text}")
    if not alerts:
        say("Оповещений нет")
    if send:
        say(f"Отправлено оповещений: {monitoring.notify_admin(db, alerts, actor())}")


# -- reports ---------------------------------------------------------------------------------------

def _suffix(out: Path, allowed: tuple[str, ...]) -> str:
    suffix = out.suffix.lower()
    if suffix not in allowed:
        raise InputError(f"{out.name}: этот отчёт выгружается в {', '.join(allowed)}")
    return suffix[1:]


@report_build_app.command("boupr")
def report_build_boupr(ctx: typer.Context, year: int = typer.Option(..., "--year", help="Отчётный год"),
                       out: Path = typer.Option(..., "--out", help="Папка для файла"),
                       day: Optional[str] = typer.Option(None, "--date", help="Дата документа (по умолчанию сегодня)")):
    """Упрощённая бухгалтерская отчётность НКО (КНД 0710096, NO_BOUPR 5.04) для ФНС и ГИРБО."""
    from .reports import boupr, write_files

    when = option_date(day, "--date") if day else None
    report, problems = boupr.build(db_of(ctx), year, when, actor=actor())
    path = write_files([report], out)[0]
    say(f"{path}")
    for p in problems:
        say(f"Проверка: {p}")
    if problems:
        raise InputError(f"Отчёт не прошёл проверку ({len(problems)}): исправьте форму; подписывать его нельзя")


@report_build_app.command("register")
def report_build_register(ctx: typer.Context, out: Path = typer.Option(..., "--out", help="Файл .xlsx или .pdf")):
    """Реестр членов (217-ФЗ ст. 15)."""
    from .reports import members_register, write_file

    fmt = _suffix(out, (".xlsx", ".pdf"))
    report = members_register.build(db_of(ctx), fmt, personal=True, actor=actor())
    write_file(report, out, (".xlsx", ".pdf"))
    say(f"{out}: реестр членов")


@report_build_app.command("debtors")
def report_build_debtors(ctx: typer.Context, as_of: str = typer.Option(..., "--as-of", help="На какую дату"),
                         out: Path = typer.Option(..., "--out", help="Файл .xlsx, .csv или .pdf")):
    """Должники на дату: основной долг, пени, просрочка."""
    from .reports import debtors, write_file

    fmt = _suffix(out, debtors.FORMATS)
    report = debtors.build(db_of(ctx), option_date(as_of, "--as-of"), fmt, personal=True, actor=actor())
    write_file(report, out, debtors.FORMATS)
    say(f"{out}: должники")


@report_build_app.command("court")
def report_build_court(ctx: typer.Context, reg_no: str = typer.Argument(..., help="Номер л/с члена"),
                       as_of: str = typer.Option(..., "--as-of", help="На какую дату"),
                       out: Path = typer.Option(..., "--out", help="Папка для пакета")):
    """Пакет для суда: расчёт долга и пени, акт сверки, заявление о вынесении судебного приказа."""
    from .reports import court, write_files

    package = court.build(db_of(ctx), reg_no, option_date(as_of, "--as-of"), actor=actor())
    for path in write_files(package.files, out):
        say(f"{path}")
    say(f"Долг {accruals.fmt_money(package.claim.principal)} ₽, пени {accruals.fmt_money(package.claim.penalty)} ₽, "
        f"госпошлина {accruals.fmt_money(package.claim.fee)} ₽")


@report_build_app.command("sber-registry")
def report_build_sber(ctx: typer.Context, as_of: str = typer.Option(..., "--as-of", help="На какую дату"),
                      out: Path = typer.Option(..., "--out", help="Файл (или папка: имя по правилу Сбербанка)"),
                      number: int = typer.Option(1, "--number", help="Порядковый номер реестра в месяце")):
    """Реестр задолженностей для «платежей по реестру» Сбербанка."""
    from .reports import sber_registry, write_file, write_files

    report = sber_registry.build(db_of(ctx), option_date(as_of, "--as-of"), number, actor=actor())
    path = write_files([report], out)[0] if out.is_dir() else write_file(report, out, (".txt", ".csv"))
    if path.name != report.name:
        say(f"Внимание: Сбербанк ждёт имя файла {report.name}")
    say(f"{path}: строк {len(report.data.splitlines())}")


@report_app.command("sign")
def report_sign(ctx: typer.Context, file: Path = typer.Argument(..., help="Файл отчёта"),
                signer: str = typer.Option(..., "--signer", help="cms | gost | cryptopro")):
    """Подписать отчёт (отсоединённая подпись рядом с файлом); отчёт ФНС перед этим проверяется."""
    from .reports import filing

    path = filing.sign_file(db_of(ctx), file, read_input_file(file), signer, actor=actor())
    say(f"{path}: подпись {signer}")


@report_app.command("verify")
def report_verify(ctx: typer.Context, file: Path = typer.Argument(..., help="Файл отчёта"),
                  sig: Path = typer.Argument(..., help="Файл подписи")):
    """Проверить отсоединённую подпись отчёта."""
    from .reports import filing

    result = filing.verify(read_input_file(file), read_input_file(sig))
    say(f"{file.name}: подпись верна; {result}")


@report_app.command("submit")
def report_submit(ctx: typer.Context, file: Path = typer.Argument(..., help="Файл отчёта (подпись — рядом)"),
                  transport: str = typer.Option(..., "--transport", help="file_drop | kontur")):
    """Отправить отчёт с подписью; номер отправки — для coop report status."""
    from .reports import filing

    row = filing.submit_file(db_of(ctx), file, transport, actor=actor())
    say(f"Отправка {row['id']}: {filing.STATUSES.get(row['status'], row['status'])}"
        f"{'; ' + row['detail'] if row['detail'] else ''}")


@report_app.command("status")
def report_status(ctx: typer.Context, submission_id: int = typer.Argument(..., help="Номер отправки")):
    """Статус отправки (запрашивается у оператора), история и квитанции."""
    from .reports import filing

    db = db_of(ctx)
    row = filing.refresh(db, submission_id, actor=actor())
    say(f"Отправка {row['id']} ({row['file_name']}, {row['transport']}): "
        f"{filing.STATUSES.get(row['status'], row['status'])}{'; ' + row['detail'] if row['detail'] else ''}")
    for e in filing.events(db, submission_id):
        when = e["happened_at"] or e["recorded_at"]
        say(f"{when:%d.%m.%Y %H:%M}\t{filing.STATUSES.get(e['status'], e['status'])}\t{e['detail'] or ''}")
    for r in filing.receipts(db, submission_id):
        say(f"квитанция: {r['name']} ({r['received_at']:%d.%m.%Y %H:%M})")
# -- backups --------------------------------------------------------------------------------------

def _backup_storage(db: Database, name: str):
    from integrations import registry

    storages = [n for n, cls in registry.discover()[0].items() if cls.kind == "backup"]
    if name not in storages:
        raise InputError(f"«{name}» — не хранилище резервных копий; хранилища: {', '.join(storages)}")
    return registry.build(db, name, actor(), require_enabled=False)


def _read_passphrase(prompt: str) -> str:
    """The passphrase from COOP_BACKUP_PASSPHRASE, else the first line of stdin (asked for on a terminal)."""
    from . import backup

    if backup.env_passphrase():
        return backup.env_passphrase()
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _progress(done: int, what: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{what}: {done / 1e6:,.1f} МБ   ".replace(",", " "))


@backup_app.command("init")
def backup_init(ctx: typer.Context):
    """Создать ключ копий; парольная фраза — со stdin (один раз, запомните её)."""
    from . import backup

    db = db_of(ctx)
    if backup.is_initialised(db):
        raise backup.BackupError("Ключ резервных копий уже создан; прежние копии открываются прежней парольной фразой")
    phrase = sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None and not sys.stdin.isatty() else \
        __import__("getpass").getpass("Парольная фраза копий: ")
    recipient = backup.init_keys(db, phrase, actor=actor())
    say(f"Ключ создан; открытый ключ: {recipient}")
    say("Храните парольную фразу отдельно от сервера: без неё копии не открыть")


@backup_app.command("run")
def backup_run(ctx: typer.Context, to: str = typer.Option(..., "--to", help="хранилище (local, webdav, s3, …)")):
    """Сделать копию, проверить её и удалить лишние по правилам хранения."""
    from . import backup

    db = db_of(ctx)
    meter = backup.Meter()
    name = backup.run(db, _backup_storage(db, to), actor=actor(), progress=_progress, meter=meter)
    say(f"{to}: копия {name} сохранена")
    say(f"Время: {meter.summary()}")


@backup_app.command("list")
def backup_list(ctx: typer.Context, to: str = typer.Option(..., "--to", help="хранилище")):
    """Копии в хранилище: ID, дата, размер, когда проверена."""
    from integrations.monitoring import local_offset

    from . import backup

    db = db_of(ctx)
    tz = local_offset()

    def local(when) -> str:
        return when.replace(tzinfo=__import__("datetime").timezone.utc).astimezone(tz).strftime("%d.%m.%Y %H:%M")
    found = backup.versions(db, _backup_storage(db, to))
    say("ID\tДата\tРазмер\tПроверена")
    for v in found:
        say(f"{v.name}\t{local(v.taken_at)}\t{backup.human_size(v.size)}\t"
            f"{local(v.verified_at) if v.verified_at else 'нет'}")


@backup_app.command("verify")
def backup_verify(ctx: typer.Context, to: str = typer.Option(..., "--to", help="хранилище"),
                  backup_id: Optional[str] = typer.Argument(None, metavar="[ID]", help="без ID — последняя копия")):
    """Скачать, расшифровать, сверить контрольные суммы и открыть базу копии (парольная фраза: stdin или
    COOP_BACKUP_PASSPHRASE)."""
    from . import backup

    db = db_of(ctx)
    storage = _backup_storage(db, to)
    meter = backup.Meter()
    name = backup.verify(db, storage, backup_id, _read_passphrase("Парольная фраза копий: "), progress=_progress,
                         meter=meter)
    say(f"{to}: копия {name} проверена, всё сходится")
    say(f"Время: {meter.summary()}")


@backup_app.command("restore")
def backup_restore(ctx: typer.Context, source: str = typer.Option(..., "--from", help="хранилище"),
                   backup_id: str = typer.Argument(..., metavar="ID"),
                   to: Path = typer.Option(..., "--to", help="файл новой базы"),
                   force: bool = typer.Option(False, "--force", help="заменить существующий файл (прежний сохраняется "
                                                                     "рядом)")):
    """Восстановить копию в новый файл базы (рядом — исходные файлы и мастер-ключ)."""
    from . import backup

    db = db_of(ctx)
    storage = _backup_storage(db, source)
    meter = backup.Meter()
    manifest = backup.restore(storage, backup_id, to, _read_passphrase("Парольная фраза копий: "), db=db,
                              overwrite=force, progress=_progress, meter=meter)
    say(f"{to}: восстановлено из {backup_id} (схема {manifest.get('schema_version')}, "
        f"частей {len(manifest['parts'])})")
    say(f"Время: {meter.summary()}")
    say(f"Запуск с восстановленной базой: coop --db {to} … или COOP_DB={to}")


@backup_app.command("forget")
def backup_forget(ctx: typer.Context, to: str = typer.Option(..., "--to", help="хранилище"),
                  dry_run: bool = typer.Option(False, "--dry-run", help="только показать, что будет удалено")):
    """Удалить копии сверх правил хранения (keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly)."""
    from . import backup

    db = db_of(ctx)
    gone = backup.forget(db, _backup_storage(db, to), actor=actor(), dry_run=dry_run)
    for name in gone:
        say(f"{'будет удалена' if dry_run else 'удалена'}\t{name}")
    if not gone:
        say("Удалять нечего")
# -- notifications --------------------------------------------------------------------------------

@notify_app.command("plan")
def notify_plan(ctx: typer.Context):
    """Поставить в очередь сообщения, которых требуют включённые правила (повторный запуск ничего не добавит)."""
    from integrations import notify as sender
    from ledger import notify as notify_words

    result = sender.plan(db_of(ctx), actor=actor())
    say(f"{result.planned} сообщений")   # the line issue #14 spells: other tools read it
    if result.no_channels:
        say(f"Внимание: {notify_words.NO_CHANNELS}")
    for channel, n in sorted(result.by_channel.items()):
        say(f"{channel}\t{n}")
    if result.no_address:
        say(f"Без адреса (ни один канал правила не доходит): {result.no_address}")
    if result.capped:
        say(f"Пропущено по лимиту в месяц: {result.capped}")
    for channel, n in sorted(result.no_consent.items()):
        say(f"Нет согласия на канал {channel} (пропущено членов): {n}")


@notify_app.command("send")
def notify_send(ctx: typer.Context, dry_run: bool = typer.Option(False, "--dry-run", help="только показать, что уйдёт")):
    """Отправить сообщения из очереди, каждое один раз."""
    from integrations import notify as sender

    result = sender.send(db_of(ctx), dry_run=dry_run, actor=actor())
    say(result.summary())
    return 1 if result.failed or result.unknown else 0


@notify_app.command("status")
def notify_status(ctx: typer.Context):
    """Спросить SMS-сервисы о доставке отправленных сообщений и записать итог в журнал (по расписанию — с каналом)."""
    from integrations import notify as sender

    result = sender.poll_statuses(db_of(ctx), actor=actor())
    say(result.summary())
    return 1 if result.errors else 0


@notify_app.command("log")
def notify_log(ctx: typer.Context, out: Path = typer.Option(..., "--out", help=".xlsx или .csv")):
    """Выгрузить журнал уведомлений."""
    from . import notify

    n = notify.export_log(db_of(ctx), out, actor=actor())
    say(f"{out}: выгружено {n} записей")


@notify_app.command("receipts")
def notify_receipts(ctx: typer.Context, out: Path = typer.Option(..., "--out", help="PDF"),
                    member: Optional[str] = typer.Option(None, "--member", help="л/с; без него — все члены"),
                    as_of: Optional[str] = typer.Option(None, "--as-of", help="долг на дату (по умолчанию сегодня)")):
    """Квитанции на оплату с QR-кодом (ГОСТ Р 56042-2014), по одной на страницу."""
    from datetime import date as date_

    from . import payqr

    db = db_of(ctx)
    if out.suffix.lower() != ".pdf":
        raise InputError(f"{out.name}: квитанции выгружаются в .pdf")
    if member:
        found = members.find_by_reg_no(db, member)
        if found is None:
            raise InputError(f"Член с л/с {member} не найден")
        ids = [found["id"]]
    else:
        ids = [r[0] for r in db.fetchall("SELECT id FROM members WHERE status = 'member' ORDER BY id")]
    day = option_date(as_of, "--as-of") if as_of else date_.today()
    out.write_bytes(payqr.receipts_pdf(db, ids, day, actor=actor()))
    say(f"{out}: квитанций {len(ids)}")


# -- Click's own words, in Russian -----------------------------------------------------------------
# typer vendors click without its translations: the section titles and marks of --help are module constants of
# typer.rich_utils (the place typer documents for restyling help), "Usage:" is the default prefix of click's
# HelpFormatter (Context.formatter_class is click's hook for that) and the --help option's text is fixed in
# click's help_option; usage errors are reworded by usage_message below. tests/test_cli.py checks no English
# is left, so an upgrade of typer that moves any of these fails there.

class _RussianHelpFormatter(cli_formatting.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("[OPTIONS]", "[ПАРАМЕТРЫ]").replace("COMMAND [ARGS]...", "КОМАНДА [АРГУМЕНТЫ]...")
        # this typer writes an argument without a metavar as «{file}», which reads like an unfilled template
        args = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), args)
        super().write_usage(prog, args, "Вызов: " if prefix is None else prefix)


def _russian_help_option(names):
    add = _click_help_option(names)

    def russian(command):
        command = add(command)
        command.params[-1].help = "Показать эту справку и выйти."
        return command
    return russian


def _speak_russian() -> None:
    from typer import rich_utils

    rich_utils.ARGUMENTS_PANEL_TITLE = "Аргументы"
    rich_utils.OPTIONS_PANEL_TITLE = "Параметры"
    rich_utils.COMMANDS_PANEL_TITLE = "Команды"
    rich_utils.ERRORS_PANEL_TITLE = "Ошибка"
    rich_utils.REQUIRED_LONG_STRING = "[обязательный]"
    rich_utils.DEFAULT_STRING = "[по умолчанию: {}]"
    rich_utils.ENVVAR_STRING = "[переменная окружения: {}]"
    rich_utils.DEPRECATED_STRING = "(устарело) "
    rich_utils.ABORTED_TEXT = "Прервано."
    rich_utils.RICH_HELP = "Справка: [blue]{command_path} {help_option}[/]"
    rich_utils.highlighter.highlights = [h.replace("Usage: ", "Вызов: ") for h in rich_utils.highlighter.highlights]
    cli_core.Context.formatter_class = _RussianHelpFormatter
    cli_decorators.help_option = _russian_help_option


_click_help_option = cli_decorators.help_option
_speak_russian()

_EXPECTED = {int: "целое число", float: "число", bool: "да или нет", Path: "путь к файлу"}


def _param_label(param) -> str:
    opts = [o for o in getattr(param, "opts", None) or [] if o.startswith("-")]
    if opts:
        return "/".join(opts)
    return (getattr(param, "metavar", None) or param.name or "?").upper()


def usage_message(exc: cli_errors.UsageError) -> str:
    """A Russian line for click's usage errors (which click words in English)."""
    command = exc.ctx.command_path if exc.ctx else "coop"
    hint = f"; справка: {command} --help"
    if isinstance(exc, cli_errors.MissingParameter) and exc.param is not None:
        return f"не указан параметр {_param_label(exc.param)}{hint}"
    if isinstance(exc, cli_errors.NoSuchOption):
        return f"неизвестный параметр {exc.option_name}{hint}"
    if isinstance(exc, cli_errors.BadParameter):
        name = _param_label(exc.param) if exc.param is not None else "параметра"
        errors = getattr(exc.__cause__, "errors", None)
        given = errors()[0].get("input") if callable(errors) and errors() else None
        annotation = getattr(getattr(exc.param, "type_descriptor", None), "annotation", None)
        expected = _EXPECTED.get(annotation)
        value = f" «{given}»" if given is not None else ""
        return f"неверное значение {name}{value}" + (f": ожидается {expected}" if expected else "") + hint
    text = exc.format_message()
    if isinstance(exc, cli_errors.BadOptionUsage) and "requires" in text:
        return f"у параметра {exc.option_name} не указано значение{hint}"
    if isinstance(exc, cli_errors.BadOptionUsage) and "does not take a value" in text:
        return f"параметр {exc.option_name} указывается без значения{hint}"
    if text.startswith("No such command"):
        return f"нет такой команды: {text.split(' ', 3)[-1].strip('.')}{hint}"
    if text.startswith("Got unexpected extra argument"):
        return f"лишние аргументы{hint}"
    if text.startswith("Missing command"):
        return f"не указана команда{hint}"
    return f"неверный вызов команды{hint}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `coop` script; returns the exit code."""
    try:
        with warnings.catch_warnings():
            if not os.environ.get("COOP_DEBUG"):
                # Libraries' warnings (openpyxl, pandas) are for developers: the user sees our messages only.
                warnings.simplefilter("ignore")
            result = app(args=argv, prog_name="coop", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except LedgerError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"Ошибка: {line}", err=True)
        if getattr(exc, "hint", None):
            typer.echo(f"Подсказка: {exc.hint}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Прервано", err=True)
        return 1
    except cli_errors.NoArgsIsHelpError:   # `coop members`: its help is printed, as for `coop` alone
        return 0
    except cli_errors.UsageError as exc:
        typer.echo(f"Ошибка: {usage_message(exc)}", err=True)
        return exc.exit_code
    except cli_errors.ClickException as exc:
        typer.echo(f"Ошибка: {exc.format_message()}", err=True)
        return exc.exit_code
    except Exception as exc:  # a bug: the user gets one line, the developer the traceback on demand
        if os.environ.get("COOP_DEBUG"):
            traceback.print_exc()
        typer.echo(f"Внутренняя ошибка ({type(exc).__name__}); запустите с COOP_DEBUG=1 для подробностей", err=True)
        return 70


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
