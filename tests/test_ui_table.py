"""ui.table: what Streamlit shows in each cell (the Styler display values the browser draws)."""

from __future__ import annotations


def test_table_blank_cells_show_a_dash_not_streamlits_none():
    """Streamlit ignores an empty display value and prints the raw null as a grey «None»: a blank is «—»."""
    from streamlit.testing.v1 import AppTest

    from tests.test_pages import shown as displayed

    def script():
        from datetime import date
        from decimal import Decimal
        import ui
        ui.table([{"Начало": date(2024, 1, 1), "Окончание": None, "Имя": "Иванов", "Заметка": None,
                   "Сумма, ₽": Decimal("1234.5")},
                  {"Начало": date(2025, 2, 3), "Окончание": date(2025, 12, 31), "Имя": None, "Заметка": "x",
                   "Сумма, ₽": None}], money=["Сумма, ₽"])

    at = AppTest.from_function(script, default_timeout=30)
    at.run()
    assert not at.exception
    shown = displayed(at.dataframe[0])
    assert shown["Окончание"] == ["—", "31.12.2025"]
    assert shown["Имя"] == ["Иванов", "—"] and shown["Заметка"] == ["—", "x"]
    assert shown["Сумма, ₽"][1] == "—" and shown["Начало"] == ["01.01.2024", "03.02.2025"]
    raw = at.dataframe[0].value   # the browser draws a null cell as «None» whatever its display value: none left
    assert raw["Окончание"][0] == "" and raw["Имя"][1] == "" and raw["Заметка"][0] == ""
