"""The matching page under AppTest: counters, queue, one-click confirm, another member, split, bulk, reject."""

from __future__ import annotations

from decimal import Decimal

from ledger import matching
from tests.test_matching import coop, pay  # noqa: F401  (fixture and helper)
from tests.test_pages import page_test, texts


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def button(at, label_start: str):
    return next(b for b in at.button if b.label.startswith(label_start))


def test_counters_and_queue_order(db, coop):  # noqa: F811
    pay(db, "л/с 12", day=1)
    namesake = pay(db, "Взнос", payer="Кузнецова Анна Павловна", day=2)
    pay(db, "Перевод", payer="Морозов И.О.", day=3)
    at = page_test("pages/matching.py").run()
    assert not at.exception
    assert metrics(at)["Новые"] == "3"
    button(at, "Разнести новые").click().run()
    assert not at.exception
    got = metrics(at)
    assert (got["Автоматически"], got["Предложено"], got["Не разнесено"]) == ("1", "0", "2")
    table = at.dataframe[0].value
    assert list(table["Статус"]) == ["Не разнесено", "Не разнесено"]
    assert table["Причина"][0] == "подходят несколько членов: полные тёзки — выберите вручную"
    assert table["Кандидат"][0].startswith("несколько: ")
    assert "л/с 7 — Кузнецова Анна Павловна" in table["Кандидат"][0]
    assert "л/с 8 — Кузнецова Анна Павловна" in table["Кандидат"][0]
    assert table["Кандидат"][1] == "—"
    assert db.scalar("SELECT status FROM matches WHERE payment_id = ?", [namesake]) == "unmatched"


def test_one_click_confirm_of_a_candidate(db, coop):  # noqa: F811
    pid = pay(db, "Взнос", payer="Кузнецова Анна Павловна")
    matching.match_payments(db)
    at = page_test("pages/matching.py").run()
    at.selectbox(key="queue_payment").set_value(pid).run()
    assert "Кузнецова Анна Павловна" in texts(at)
    # a tie of full namesakes: nobody proposed, both offered with one-click confirm
    assert {b.key for b in at.button if b.key and b.key.startswith(f"confirm_{pid}_")} == \
        {f"confirm_{pid}_{coop['7']}", f"confirm_{pid}_{coop['8']}"}
    at.button(key=f"confirm_{pid}_{coop['8']}").click().run()
    assert not at.exception
    assert db.fetchone("SELECT status, member_id, decided_by FROM matches WHERE payment_id = ?", [pid]) == \
        ("manual", coop["8"], "test-accountant")


def test_member_search_and_another_member(db, coop):  # noqa: F811
    pid = pay(db, "Перевод", payer="Морозов И.О.")
    matching.match_payments(db)
    at = page_test("pages/matching.py").run()
    at.selectbox(key="queue_payment").set_value(pid).run()
    at.text_input(key="member_search").set_value("Сидоров").run()
    at.selectbox(key="member_pick").set_value(coop["1234"]).run()
    at.button(key="confirm_other").click().run()
    assert not at.exception
    assert db.fetchone("SELECT status, member_id FROM matches WHERE payment_id = ?", [pid]) == ("manual", coop["1234"])


def test_split_dialog(db, coop):  # noqa: F811
    pid = pay(db, "Взносы уч. 45, 3-15", amount="5000.00")
    matching.match_payments(db)
    at = page_test("pages/matching.py").run()
    at.selectbox(key="queue_payment").set_value(pid).run()
    at.text_input(key="split_reg_0").set_value("1")
    at.text_input(key="split_amount_0").set_value("3000")
    at.text_input(key="split_reg_1").set_value("12")
    at.text_input(key="split_amount_1").set_value("1000")
    button(at, "Разделить").click().run()
    assert "не равна сумме платежа" in texts(at)
    assert db.scalar("SELECT count(*) FROM match_splits") == 0
    at.text_input(key="split_amount_1").set_value("2000")
    button(at, "Разделить").click().run()
    assert not at.exception
    assert sorted(db.fetchall("SELECT member_id, amount FROM match_splits")) == \
        sorted([(coop["1"], Decimal("3000.00")), (coop["12"], Decimal("2000.00"))])


def test_bulk_confirm_of_the_filtered_set_and_reject(db, coop):  # noqa: F811
    a = pay(db, "Членский взнос за жену", payer="Иванов Иван Иванович", day=1)
    b = pay(db, "взнос за участок 20", payer="Морозов И.О.", day=2)
    c = pay(db, "Перевод", payer="Морозов И.О.", day=3)
    matching.match_payments(db)
    at = page_test("pages/matching.py").run()
    at.text_input(key="queue_search").set_value("иванов").run()
    button(at, "Подтвердить предложенных").click().run()
    assert not at.exception
    assert db.fetchone("SELECT status, member_id FROM matches WHERE payment_id = ?", [a]) == ("manual", coop["1"])
    assert db.scalar("SELECT status FROM matches WHERE payment_id = ?", [b]) == "unmatched"
    at.text_input(key="queue_search").set_value("").run()
    at.selectbox(key="queue_payment").set_value(c).run()
    at.text_input(key="reject_note").set_value("ошибочный перевод").run()
    at.button(key="reject").click().run()
    assert db.fetchone("SELECT status, member_id, reason FROM matches WHERE payment_id = ?", [c]) == \
        ("manual", None, "отклонено бухгалтером: ошибочный перевод")


def test_progress_messages_and_the_key_columns_first(db, coop):  # noqa: F811
    pid = pay(db, "Взнос", payer="Кузнецова Анна Павловна")
    steps = []
    matching.match_payments(db, progress=lambda f, t: steps.append(f))
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    pay(db, "л/с 12", day=2)
    at = page_test("pages/matching.py").run()
    button(at, "Разнести новые").click().run()
    assert not at.exception
    assert "Разобрано 2: автоматически 1" in texts(at)
    table = at.dataframe[0].value
    assert list(table.columns)[:4] == ["Дата", "Сумма", "Кандидат", "Причина"]
    at.selectbox(key="queue_payment").set_value(pid).run()
    at.button(key=f"confirm_{pid}_{coop['8']}").click().run()
    assert "разнесён на л/с 8" in texts(at)
