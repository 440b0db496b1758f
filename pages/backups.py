"""Backups (admin): the backup key, versions in each storage with their last verification, run, verify, restore."""

from pathlib import Path

import streamlit as st

from integrations import registry
from ledger import backup
import ui

user = ui.guard("backups")
db = ui.db()

st.title("Резервные копии")

if not ui.attempt(lambda: backup.is_initialised(db)):
    st.info("Копии шифруются ключом, который открывается только парольной фразой. Задайте её один раз и храните "
            "отдельно от сервера: без неё копии не открыть, а сервер сам прочитать их не может.")
    with st.form("init"):
        first = st.text_input("Парольная фраза", type="password", key="phrase1")
        second = st.text_input("Ещё раз", type="password", key="phrase2")
        if st.form_submit_button("Создать ключ", type="primary"):
            if first != second:
                st.error("Фразы не совпадают")
            elif ui.done(lambda: backup.init_keys(db, first, actor=user["login"]), "Ключ создан"):
                st.rerun()
    st.stop()

rows = [r for r in ui.attempt(lambda: registry.overview(db)) or [] if r["kind"] == "backup"]
configured = [r["name"] for r in rows if r["enabled"]]
if not configured:
    st.info("Нет включённого хранилища копий: настройте и включите local, webdav, s3 или другое на странице "
            "«Интеграции».")
    st.stop()
name = st.selectbox("Хранилище", configured, key="storage",
                    format_func=lambda n: f"{n} — {next(r['title'] for r in rows if r['name'] == n)}")
storage = ui.attempt(lambda: registry.build(db, name, user["login"]))
if storage is None:
    st.stop()
if flash := st.session_state.pop("backup_flash", None):
    st.success(flash)


def progress_bar(estimate: int):
    bar = st.progress(0.0, text="подготовка")

    def update(done: int, what: str) -> None:
        bar.progress(min(0.99, done / estimate) if estimate else 0.0, text=f"{what}: {backup.human_size(done)}")
    return bar, update


live_size = sum(p.stat().st_size for p in [db.path] + [f for _, f in backup.kept_files(db)] if p.exists())
if st.button("Сделать копию сейчас", key="run", type="primary"):
    bar, update = progress_bar(live_size)
    made = ui.attempt(lambda: backup.run(db, storage, actor=user["login"], progress=update))
    bar.empty()
    if made:
        st.session_state["backup_flash"] = f"Копия {made} сохранена"
        st.rerun()

found = ui.attempt(lambda: backup.versions(db, storage)) or []
ui.table([{"ID": v.name, "Дата (UTC)": v.taken_at, "Размер": backup.human_size(v.size),
           "Проверена (UTC)": v.verified_at or "нет", "Ошибка проверки": v.verify_error or ""} for v in found])
last = {r["storage"]: r for r in ui.attempt(lambda: backup.last_runs(db)) or []}.get(name)
if last and last["last_ok"] is False:
    st.error(ui.plain(f"Последний запуск не удался: {last['last_error']}"))
st.caption("По расписанию копии делает `coop integrations run` из cron (по умолчанию раз в сутки); "
           "правила хранения — параметры keep_* хранилища.")
if not found:
    st.stop()

chosen = st.selectbox("Копия", [v.name for v in found], key="version")
phrase = st.text_input("Парольная фраза копий", type="password", key="phrase",
                       help="нужна для проверки и восстановления; не сохраняется")
c1, c2 = st.columns(2)
if c1.button("Проверить копию", key="verify"):
    bar, update = progress_bar(live_size)
    verified = ui.attempt(lambda: backup.verify(db, storage, chosen, phrase, progress=update))
    bar.empty()
    if verified:
        st.session_state["backup_flash"] = (f"Копия {chosen} проверена: расшифрована, контрольные суммы сошлись, "
                                            f"база открывается")
        st.rerun()

st.subheader("Восстановление")
default_target = db.path.parent / f"restored-{chosen.removesuffix('.tar.zst.age')}" / db.path.name
target = Path(st.text_input("Куда восстановить (новый файл базы)", str(default_target), key="target"))
replace = False
if target.exists():
    st.warning(ui.plain(f"Файл {target} уже существует" + (" — это рабочая база" if target.resolve() == db.path.resolve()
                                                           else "") + ". Прежний файл будет сохранён рядом."))
    replace = st.checkbox("Да, заменить", key="replace")
if st.button("Восстановить", key="restore"):
    if target.exists() and not replace:
        st.error("Подтвердите замену существующего файла")
    else:
        bar, update = progress_bar(live_size)
        manifest = ui.attempt(lambda: backup.restore(storage, chosen, target, phrase, db=db, overwrite=replace,
                                                     progress=update))
        bar.empty()
        if manifest:
            st.success(ui.plain(f"Восстановлено в {target}; запустите приложение с COOP_DB={target}"))
