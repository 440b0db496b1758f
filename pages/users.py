"""Users of the app (admin only): add, change role, disable, reset password."""

import streamlit as st

from ledger import users
import ui

user = ui.guard("users")
db = ui.db()

st.title("Пользователи")
accounts = ui.attempt(lambda: users.list_users(db)) or []
ui.table([{"Логин": u["login"], "Роль": users.ROLES.get(u["role"], u["role"]),
           "Активен": "да" if u["active"] else "нет", "Создан": u["created_at"],
           "Последний вход": u["last_login_at"]} for u in accounts])

st.subheader("Добавить пользователя")
with st.form("add_user", clear_on_submit=True):
    login = st.text_input("Логин")
    role = st.selectbox("Роль", list(users.ROLES), format_func=users.ROLES.get)
    password = st.text_input("Пароль", type="password")
    if st.form_submit_button("Добавить", type="primary"):
        ui.done(lambda: users.add_user(db, login, password, role, actor=user["login"]),
                f"Пользователь {login.strip()} добавлен ({users.ROLES[role]})", rerun=True)

if accounts:
    st.subheader("Изменить пользователя")
    target = st.selectbox("Пользователь", [u["login"] for u in accounts], key="target_user")
    chosen = next(u for u in accounts if u["login"] == target)
    c1, c2 = st.columns(2)
    new_role = c1.selectbox("Новая роль", list(users.ROLES), index=list(users.ROLES).index(chosen["role"]),
                            format_func=users.ROLES.get, key="new_role")
    if c1.button("Сменить роль", key="change_role"):
        ui.done(lambda: users.set_role(db, target, new_role, actor=user["login"]),
                f"Роль пользователя {target}: {users.ROLES[new_role]}", rerun=True)
    label = "Отключить" if chosen["active"] else "Включить"
    if c2.button(label, key="toggle_active"):
        ui.done(lambda: users.set_active(db, target, not chosen["active"], actor=user["login"]),
                f"Пользователь {target} " + ("отключён" if chosen["active"] else "включён"), rerun=True)
    new_password = c2.text_input("Новый пароль", type="password", key="new_password")
    if c2.button("Сменить пароль", key="change_password"):
        ui.done(lambda: users.set_password(db, target, new_password, actor=user["login"]),
                f"Пароль пользователя {target} изменён")
