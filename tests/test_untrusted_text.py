"""Text from statements and registers is shown as plain text: a purpose or a name holding Markdown makes no
link, image, bold or colour on any page (AppTest: every Markdown-bearing element rendered by a CommonMark
parser; Chromium: the real page's DOM)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from markdown_it import MarkdownIt

from ledger import debts, matching, members, users
from ledger.db import insert_rows, utcnow
from tests.browser import chromium_page, sign_in, streamlit_server
from tests.test_pages import page_test

PLANT = "Иванов **bold** [link](https://example.org) ![](https://example.org/x.png) :red[x] $x^2$"
_md = MarkdownIt("commonmark")


def markdown_sources(at) -> list[str]:
    """Every string Streamlit renders as Markdown on this run."""
    out = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "success", "info", "warning", "error"):
        out += [str(e.value) for e in at.get(kind)]
    out += [c.label for c in at.checkbox] + [b.label for b in at.button]
    for table in at.get("table"):
        out += [str(v) for v in table.value.to_numpy().ravel()]
    return out


def assert_plain(sources: list[str]) -> None:
    shown = "\n".join(sources)
    assert "bold" in shown  # the planted text is on the page at all
    for source in sources:
        html = _md.render(source)
        assert "example.org" not in re.sub(r"<[^>]*>", "", html) or "<a " not in html, source
        assert not re.search(r"<a [^>]*example\.org", html), source
        assert "<img" not in html, source
        assert "<strong>bold</strong>" not in html and "<em>" not in html, source
        assert not re.search(r"(?<!\\):red\[", source), source   # Streamlit's colour directive
        assert not re.search(r"(?<!\\)\$x", source), source       # Streamlit's formulas


@pytest.fixture
def planted(demo_db):
    """The top debtor renamed to Markdown, and a payment of theirs with Markdown in purpose and payer."""
    top = debts.by_member(debts.dashboard(demo_db, date.today()).rows)[0]
    member = members.get_member(demo_db, top["member_id"])
    members.update_member(demo_db, member["id"], {**{k: member[k] for k in ("reg_no", "status")},
                                                   "full_name": PLANT}, actor="test")
    with demo_db.transaction() as con:
        pid = insert_rows(con, "payments", [{
            "fingerprint": 2**62 + 12345, "doc_date": date(2025, 3, 10), "doc_number": "[9](https://example.org)",
            "amount": Decimal("1500.00"), "direction": "in", "payer_name": PLANT, "purpose":
            f"{PLANT} л/с {member['reg_no']}", "created_at": utcnow()}], returning="id")[0][0]
    matching.match_payments(demo_db, payment_ids=[pid])
    return {"member_id": member["id"], "reg_no": member["reg_no"], "payment_id": pid}


def test_pages_show_planted_markdown_as_text(demo_db, planted):
    at = page_test("pages/matching.py").run()
    at.multiselect(key="queue_statuses").set_value(list(matching.STATUSES)).run()
    at.text_input(key="queue_search").set_value("bold").run()
    at.selectbox(key="queue_payment").set_value(planted["payment_id"]).run()
    assert not at.exception
    assert_plain(markdown_sources(at))

    at = page_test("pages/dashboard.py", "admin").run()
    at.selectbox(key="drill_member").set_value(planted["member_id"]).run()
    assert not at.exception
    assert_plain(markdown_sources(at))

    at = page_test("pages/accruals.py").run()
    at.text_input(key="manual_reg_no").set_value(planted["reg_no"]).run()
    assert not at.exception
    assert_plain(markdown_sources(at))

    at = page_test("pages/members.py").run()
    at.selectbox(key="card_member").set_value(planted["member_id"]).run()
    assert not at.exception
    assert_plain(markdown_sources(at))


@pytest.mark.browser
def test_chromium_shows_planted_markdown_as_text(demo_db, planted, db_path):
    users.add_user(demo_db, "olga", "пароль-бухгалтера", "accountant")
    with streamlit_server(db_path) as url, chromium_page() as page:
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Начисления").click()
        page.get_by_role("tab", name="Ручные начисления").click()
        page.get_by_label("Номер л/с члена").fill(planted["reg_no"])
        page.keyboard.press("Enter")
        page.get_by_text("**bold**", exact=False).first.wait_for()
        assert page.locator("a[href*='example.org']").count() == 0
        assert page.locator("img[src*='example.org']").count() == 0
        assert page.locator("strong, b, em").evaluate_all(
            "els => els.filter(e => e.textContent.trim() === 'bold').length") == 0
        assert page.locator(".stMarkdownColoredText, .stMarkdownColoredBackground, .katex").count() == 0  # :red[x], $x^2$
        assert not [u for u in requested if "example.org" in u]
