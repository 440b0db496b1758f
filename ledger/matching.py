"""Payment matching: whose payment is it, how sure, and why.

How it works
- The register is turned into key tables: register number (л/с), current plots, INN, payer accounts and
  INNs learned from earlier decisions, and name keys ("иванова|мария|петровна", "иванова|м|п", ...).
- Each payment is read once (ledger.purpose): the numbers, names and markers it contains become keys.
- Payments and members meet only through joins on those keys (pandas merges), never in a Python loop
  over payments x members. What a payment says is then weighed per payment over its few candidates.
- Precision first: `auto` only when every identifying mention of the payment agrees on one member (the
  purpose's mentions outweigh the payer's: people pay for relatives), the payer is not an organisation and
  the purpose is not non-member income.
- `suggested` proposes one member: the best candidate leads the second by at least MARGIN. Ties
  (namesakes, co-owners, a family account, two members in one purpose, л/с-vs-plot conflicts) are
  `unmatched` with no member and the tied candidates listed, for a person to pick with one click.
- Sure matches and accountant decisions teach payer links (account / INN -> member); links learned in a
  run serve the other payments of the same run (a second pass over the payments they concern).
- Manual decisions (status `manual`) are never touched by `match_payments`.
"""

from __future__ import annotations

import gc
import json
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from . import audit, fields
from .db import Database, insert_columns, insert_rows, utcnow
from .errors import InputError, LedgerError
from .purpose import NameVocab, PaymentReader, Reading, fold, person_account, plot_key, reg_key, split_name
from .spreadsheets import Column, write_table
from .statements import ROUBLES

STATUSES = {"auto": "Автоматически", "suggested": "Предложено", "unmatched": "Не разнесено", "manual": "Вручную"}
MACHINE = "matcher"
AUTO_MIN = 0.8

# signal -> (weight, Russian description); names: weight by kind, lower with a typo.
WEIGHTS = {"ls": 0.92, "plot": 0.85, "inn": 0.95, "account": 0.9, "full": 0.88, "sii": 0.8, "fpi": 0.75,
           "sf": 0.55, "si": 0.4, "s": 0.3, "family": 0.6}
SHARED_FACTOR = 0.6          # a key several members share (co-owners, namesakes, a family account)
FUZZY_FACTOR = 0.95
STRONG = frozenset({"ls", "plot", "inn", "account", "full", "fpi"})   # identifying mentions (and sii, no typo)
NAME_KINDS = ("full", "sii", "fpi", "sf", "si", "s")
NAME_TEXT = {"full": "ФИО", "sii": "фамилия и инициалы", "fpi": "имя, отчество и первая буква фамилии",
             "sf": "фамилия и имя", "si": "фамилия и инициал", "s": "только фамилия"}
MARGIN = 0.1              # `suggested` only when the best candidate leads the second by this much
MAX_SURNAME_ONLY = 3        # a bare surname is a candidate key only when at most this many members have it
MAX_SURNAME_FIRST = 6


def member_inns(con) -> pd.DataFrame:
    """(member_id, inn) of members with an INN. The one place that reads members.inn (stored encrypted)."""
    from .members import member_inns as decrypted_member_inns

    return decrypted_member_inns(con)


# -- the register as key tables -----------------------------------------------------------------

@dataclass
class Register:
    reg: pd.DataFrame          # value, member_id
    plots: pd.DataFrame        # value, member_id
    inns: pd.DataFrame         # value, member_id
    links: pd.DataFrame        # kind, value, member_id (learned payer links, not blocked)
    blocked: set[tuple]        # (kind, value, member_id) the accountant rejected
    names: pd.DataFrame        # kind, value, member_id
    vocab: NameVocab
    plot_set: set[str]
    reg_no: dict[int, str]
    full_name: dict[int, str]
    inn_of: dict[int, str]
    family: dict[int, list[int]] = field(default_factory=dict)


_NON_WORD = re.compile(r"\W+")
_FEMININE_END = re.compile(r"(а|ая)$")     # a surname's family stem: Иванова -> Иванов


def load_register(con) -> Register:
    members = con.execute("SELECT id, reg_no, full_name, address FROM members").df()
    plots = con.execute(
        "SELECT p.number, o.member_id FROM plot_owners o JOIN plots p ON p.id = o.plot_id WHERE o.owned_to IS NULL"
    ).df()
    inns = member_inns(con)
    links = con.execute("SELECT kind, value, member_id, blocked FROM payer_links").df()
    blocked = set(zip(*[links[links["blocked"]][c].tolist() for c in ("kind", "value", "member_id")]))
    links = links[~links["blocked"]][["kind", "value", "member_id"]]
    vocab = NameVocab()
    name_rows: list[tuple[str, str, int]] = []
    family_key: dict[int, tuple] = {}
    for mid, full_name, address in zip(members["id"].tolist(), members["full_name"].tolist(),
                                       members["address"].tolist()):
        s, f, p = split_name(full_name)
        vocab.add(s, f, p)
        rows = [("s", s)]
        if f:
            rows += [("sf", f"{s}|{f}"), ("si", f"{s}|{f[0]}")]
        if f and p:
            rows += [("full", f"{s}|{f}|{p}"), ("sii", f"{s}|{f[0]}|{p[0]}"), ("fpi", f"{f}|{p}|{s[0]}")]
        name_rows += [(k, v, mid) for k, v in rows]
        if address:
            family_key[mid] = (fold(_NON_WORD.sub(" ", address)).strip(), _FEMININE_END.sub("", s))
    names = pd.DataFrame(name_rows, columns=["kind", "value", "member_id"]).drop_duplicates()
    counts = names.groupby(["kind", "value"])["member_id"].transform("size")
    names = names[~(((names["kind"] == "s") & (counts > MAX_SURNAME_ONLY)) |
                    (names["kind"].isin(["sf", "si"]) & (counts > MAX_SURNAME_FIRST)))]
    by_address: dict[str, list[int]] = defaultdict(list)
    for mid, key in family_key.items():
        by_address[key[0]].append(mid)
    # Relatives: members at the same address (at most a household), those with the same surname first.
    family = {mid: sorted((o for o in by_address[key[0]] if o != mid),
                          key=lambda o: (family_key[o][1] != key[1], o))
              for mid, key in family_key.items() if len(by_address[key[0]]) <= 8}
    reg = pd.DataFrame({"value": [reg_key(r) for r in members["reg_no"].tolist()], "member_id": members["id"]})
    plot_keys = [plot_key(n) for n in plots["number"].tolist()]
    return Register(
        reg=reg,
        plots=pd.DataFrame({"value": plot_keys, "member_id": plots["member_id"]}).drop_duplicates(),
        inns=inns.rename(columns={"inn": "value"})[["value", "member_id"]],
        links=links,
        blocked=blocked,
        names=names,
        vocab=vocab,
        plot_set=set(plot_keys),
        reg_no=dict(zip(members["id"].tolist(), members["reg_no"].tolist())),
        full_name=dict(zip(members["id"].tolist(), members["full_name"].tolist())),
        inn_of=dict(zip(inns["member_id"].tolist(), inns["inn"].tolist())),
        family={k: v for k, v in family.items() if v},
    )


# -- evidence -----------------------------------------------------------------------------------

def _mentions(payments: pd.DataFrame, readings: list[Reading]) -> pd.DataFrame:
    """One row per key a payment mentions: pidx (position in the run), signal, side, value, mention, fuzzy."""
    rows: list[tuple] = []
    for pidx, r, inn, account in zip(range(len(readings)), readings, payments["payer_inn"].tolist(),
                                     payments["payer_account"].tolist()):
        for v in r.register_numbers:
            rows.append((pidx, "ls", "purpose", v, f"ls:{v}", False))
        for v in r.plots:
            rows.append((pidx, "plot", "purpose", v, f"plot:{v}", False))
        if r.payer_kind == "person":
            if inn and len(inn) == 12:
                rows.append((pidx, "inn", "payer", inn, f"inn:{inn}", False))
            if person_account(account):
                rows.append((pidx, "account", "payer", account, f"account:{account}", False))
        for v in r.inns:
            if v != inn:
                rows.append((pidx, "inn", "payer", v, f"inn:{v}", False))
        for side, kind, key, fuzzy, pos in r.names:
            rows.append((pidx, kind, side, key, f"name:{side}:{pos}", fuzzy))
    return pd.DataFrame(rows, columns=["pidx", "signal", "side", "value", "mention", "fuzzy"])


def _evidence(mentions: pd.DataFrame, reg: Register, links: pd.DataFrame) -> pd.DataFrame:
    """Mentions joined to members by key: pidx, member_id, signal, side, value, mention, fuzzy."""
    parts = []

    def join(found: pd.DataFrame, keys: pd.DataFrame, on) -> None:
        if len(found) and len(keys):   # an empty register's key tables have no text dtype to merge on
            parts.append(found.merge(keys, on=on))

    tables = {"ls": reg.reg, "plot": reg.plots}
    for signal, table in tables.items():
        join(mentions[mentions["signal"] == signal], table, "value")
    inn_keys = pd.concat([reg.inns, links[links["kind"] == "inn"][["value", "member_id"]]]).drop_duplicates()
    join(mentions[mentions["signal"] == "inn"], inn_keys, "value")
    acc = links[links["kind"] == "account"][["value", "member_id"]].drop_duplicates()
    join(mentions[mentions["signal"] == "account"], acc, "value")
    names = mentions[mentions["signal"].isin(NAME_KINDS)]
    join(names, reg.names.rename(columns={"kind": "signal"}), ["signal", "value"])
    ev = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=list(mentions.columns) + ["member_id"])
    return ev.sort_values(["pidx"], kind="stable")


@dataclass(slots=True)
class Decision:
    status: str
    member_id: int | None
    confidence: float
    reason: str
    candidates: str          # JSON [{member_id, confidence, reason}], best first
    learn: bool = False      # a sure match whose payer account / INN may be remembered


@lru_cache(maxsize=100_000)
def _describe(signal: str, side: str, value: str, fuzzy: bool, shared: bool) -> str:
    if signal == "ls":
        text = f"л/с {value} в назначении"
    elif signal == "plot":
        text = f"участок {value} в назначении" + (" (совладельцы)" if shared else "")
    elif signal == "inn":
        text = "ИНН плательщика" + (" (у нескольких членов)" if shared else "")
    elif signal == "account":
        text = "счёт плательщика уже платил за этого члена" + (" (и за других)" if shared else "")
    elif signal == "family":
        text = "родственник плательщика (тот же адрес)"
    else:
        where = "плательщика" if side == "payer" else "в назначении"
        text = f"{NAME_TEXT[signal]} {where} совпадает" + (" (с опечаткой)" if fuzzy else "") + \
            (" (тёзки)" if shared else "")
    return text


def _score(entries: dict[str, tuple]) -> float:
    """A member's score: the weights of its entries (weight, ...) combined as independent chances."""
    rest = 1.0
    for e in entries.values():
        rest *= 1.0 - e[0]
    return 1.0 - rest


def _settle(sets: list[set[int]]) -> tuple[str, set[int]]:
    if not sets:
        return "none", set()
    inter = set.intersection(*sets)
    if len(inter) == 1:
        return "one", inter
    if not inter:
        return "conflict", set().union(*sets)
    return "many", inter


def _decide(rows: list[tuple], reading: Reading, reg: Register) -> Decision:
    """Weigh one payment's evidence rows (member_id, signal, side, value, mention, fuzzy)."""
    sizes: dict[str, set[int]] = {}
    for row in rows:
        sizes.setdefault(row[4], set()).add(row[0])
    per_member: dict[int, dict[str, tuple]] = {}
    ident: dict[tuple[str, str], set[int]] = {}
    weak_purpose_members: set[int] = set()
    for member_id, signal, side, value, mention, fuzzy in rows:
        shared = len(sizes[mention]) > 1
        w = WEIGHTS[signal]
        if shared:
            w *= SHARED_FACTOR
        if fuzzy:
            w = min(w * FUZZY_FACTOR, WEIGHTS["sf"]) if signal == "sii" else w * FUZZY_FACTOR
        key = signal + side
        mine = per_member.setdefault(member_id, {})
        if key not in mine or w > mine[key][0]:
            mine[key] = (w, signal, side, value, fuzzy, shared)
        if signal in STRONG or (signal == "sii" and not fuzzy):
            where = side if signal in NAME_KINDS or signal in ("ls", "plot") else "payer"
            ident.setdefault((where, mention), set()).add(member_id)
        elif side == "purpose" and signal in NAME_KINDS:
            weak_purpose_members.add(member_id)
    scores = {m: _score(v) for m, v in per_member.items()}

    purpose_sets = [m for (side, _), m in ident.items() if side == "purpose"]
    payer_sets = [m for (side, _), m in ident.items() if side == "payer"]
    p_state, p_members = _settle(purpose_sets)
    q_state, q_members = _settle(payer_sets)
    chosen: int | None = None
    note = ""
    split_needed = False        # the purpose's own identifying mentions disagree: never one member proposed
    lead: set[int] = set()
    via_payer = False
    if p_state == "one":
        chosen = next(iter(p_members))
    elif p_state == "many":
        if q_state == "one" and q_members <= p_members:
            chosen = next(iter(q_members))
        else:
            # namesakes or co-owners named in the purpose: they come first (the purpose outweighs the payer);
            # equal among themselves, they make a tie below
            lead = p_members
    elif p_state == "conflict":
        kinds = {m.split(":")[0] for (side, m) in ident if side == "purpose"}
        if kinds == {"plot"} or kinds == {"name"}:
            note = "в назначении несколько членов или участков, нужно разделить"
        else:
            note = "конфликт — л/с, участок или ФИО в назначении указывают на разных членов"
        split_needed = True
    elif q_state == "one":
        chosen = next(iter(q_members))
        via_payer = True
        if weak_purpose_members and chosen not in weak_purpose_members:
            note = "в назначении упомянут другой человек"
            chosen = None
        elif reading.relative:
            note = "платят за родственника"
            relatives = reg.family.get(chosen, [])
            for rank, rel in enumerate(relatives):
                per_member.setdefault(rel, {})["familypayer"] = (WEIGHTS["family"] - 0.05 * rank, "family", "payer",
                                                                 "", False, False)
                scores[rel] = _score(per_member[rel])
            if relatives:
                per_member[chosen] = {k: (e[0] * 0.2,) + e[1:] for k, e in per_member[chosen].items()}
                scores[chosen] = _score(per_member[chosen])
            chosen = None
    elif q_state == "many":
        note = ""
    elif q_state == "conflict":
        note = "ИНН, счёт или ФИО плательщика указывают на разных членов"

    def reason_of(mid: int) -> str:
        entries = sorted(per_member[mid].values(), key=itemgetter(0), reverse=True)   # stable: ties keep order
        return "; ".join(_describe(*e[1:]) for e in entries)

    ranked = sorted(per_member, key=lambda m: (m not in lead, -scores[m], m))[:3]
    if chosen is not None and chosen not in ranked[:1]:
        ranked = [chosen] + [m for m in ranked if m != chosen][:2]
    reasons = [reason_of(m) for m in ranked]
    candidates = _candidates_json(ranked, scores, reasons)
    blockers = []
    if reading.payer_kind == "org":
        blockers.append("плательщик — организация")
    if reading.non_member:
        blockers.append("назначение похоже на доход не от членов (возврат, проценты, субсидия)")
    if chosen is not None and not blockers and scores[chosen] >= AUTO_MIN:
        reason = reasons[0]
        if not via_payer and any(m for m in payer_sets if chosen not in m):
            reason += "; платил другой человек"
        return Decision("auto", int(chosen), round(scores[chosen], 4), reason, candidates,
                        learn=reading.payer_kind == "person")
    if not ranked or (reading.payer_kind == "org" and p_state == "none") or (
            reading.non_member and p_state == "none" and q_state == "none"):
        reason = "; ".join(blockers) or "в платеже нет л/с, участка, ИНН или ФИО члена"
        return Decision("unmatched", None, 0.0, reason, candidates)
    top = ranked[0]
    tied = [m for m in ranked[1:] if scores[top] - scores[m] < MARGIN or (m in lead and top in lead)]
    if tied or split_needed:
        # "suggested" proposes one member; when the evidence fits several about equally, nobody is proposed
        # and the tied candidates wait for a person (one click in the review queue).
        what = note or "подходят несколько членов: " + _tie_kind([per_member[m] for m in [top] + tied])
        reason = "; ".join([what + " — выберите вручную"] + blockers)
        return Decision("unmatched", None, 0.0, reason, candidates)
    total = sum(scores[m] for m in ranked) or 1.0
    conf = min(0.79, scores[top] * scores[top] / total)
    reason = "; ".join([x for x in [note] + blockers if x] + reasons[:1])
    return Decision("suggested", int(top), round(conf, 4), reason, candidates)


def _candidates_json(ranked: list[int], scores: dict[int, float], reasons: list[str]) -> str:
    """[{member_id, confidence, reason}] as JSON, built directly (json.dumps per payment is a hot spot)."""
    text = "".join(reasons)
    if '"' in text or "\\" in text:
        return json.dumps([{"member_id": int(m), "confidence": round(scores[m], 4), "reason": r}
                           for m, r in zip(ranked, reasons)], ensure_ascii=False)
    return "[" + ", ".join(f'{{"member_id": {int(m)}, "confidence": {round(scores[m], 4)!r}, "reason": "{r}"}}'
                           for m, r in zip(ranked, reasons)) + "]"


def _tie_kind(entries: list[dict[str, tuple]]) -> str:
    """What the tied candidates share, in words: namesakes, co-owners, one payer account, relatives."""
    shared = {e[1] for mine in entries for e in mine.values() if e[5]}
    if "full" in shared:
        return "полные тёзки"
    if shared & set(NAME_KINDS):
        return "тёзки (совпадает только часть ФИО)"
    if "plot" in shared:
        return "совладельцы участка"
    if shared & {"account", "inn"}:
        return "с этого счёта или ИНН платили за нескольких членов"
    if any("familypayer" in mine for mine in entries):
        return "родственники плательщика"
    return "доводы за них равны"


def _decide_all(mentions: pd.DataFrame, readings: list[Reading], reg: Register,
                links: pd.DataFrame) -> dict[int, Decision]:
    """Decisions of all payments, by position in the run."""
    ev = _evidence(mentions, reg, links)
    decided = _decide_single(ev, readings)
    ev = ev[~ev["pidx"].isin(decided.keys())]
    by_payment: dict[int, list[tuple]] = defaultdict(list)
    rows = zip(*[ev[c].tolist() for c in ("member_id", "signal", "side", "value", "mention", "fuzzy")])
    for pidx, row in zip(ev["pidx"].tolist(), rows):
        by_payment[pidx].append(row)
    return {pidx: decided[pidx] if pidx in decided else _decide(by_payment.get(pidx, []), readings[pidx], reg)
            for pidx in range(len(readings))}


def _decide_single(ev: pd.DataFrame, readings: list[Reading]) -> dict[int, Decision]:
    """The common case weighed column-wise: every mention of the payment points to one and the same member,
    the payer is a person or a bank agent, no relative, no non-member income. Gives exactly what `_decide`
    gives for such payments (auto when an identifying mention is there and the score reaches AUTO_MIN,
    else suggested), without a Python pass per evidence row."""
    if ev.empty:
        return {}
    plain = np.array([not r.relative and not r.non_member and r.payer_kind != "org" for r in readings])
    learn = np.array([r.payer_kind == "person" for r in readings])
    pidx = ev["pidx"].to_numpy()
    single = ev.groupby("pidx", sort=False)["member_id"].transform("nunique").to_numpy() == 1
    f = ev[single & plain[pidx]].reset_index(drop=True)
    if f.empty:
        return {}
    signal = f["signal"].to_numpy(dtype=object)
    fuzzy = f["fuzzy"].to_numpy(dtype=bool)
    w = f["signal"].map(WEIGHTS).to_numpy(dtype=float)
    w = np.where(fuzzy, np.where(signal == "sii", np.minimum(w * FUZZY_FACTOR, WEIGHTS["sf"]), w * FUZZY_FACTOR), w)
    f["w"] = w
    f["row"] = np.arange(len(f))
    f["key"] = f["signal"] + f["side"]
    f["ident"] = f["signal"].isin(STRONG) | ((f["signal"] == "sii") & ~f["fuzzy"].astype(bool))
    # per payment and key: the strongest row (the first of equals), ordered by weight, then first appearance
    f["first"] = f.groupby(["pidx", "key"], sort=False)["row"].transform("min")
    best = f.sort_values(["pidx", "key", "w", "row"], ascending=[True, True, False, True]) \
        .drop_duplicates(["pidx", "key"]).sort_values(["pidx", "w", "first"], ascending=[True, False, True])
    ident = set(f.loc[f["ident"], "pidx"].tolist())
    out = {}
    rows = zip(best["pidx"].tolist(), best["member_id"].tolist(), best["w"].tolist(), best["signal"].tolist(),
               best["side"].tolist(), best["value"].tolist(), best["fuzzy"].tolist())
    for p, group in groupby(rows, key=itemgetter(0)):
        group = list(group)
        m = group[0][1]
        rest = 1.0
        for g in group:
            rest *= 1.0 - g[2]
        score = 1.0 - rest
        reason = "; ".join(_describe(g[3], g[4], g[5], bool(g[6]), False) for g in group)
        candidates = _candidates_json([m], {m: score}, [reason])
        if p in ident and score >= AUTO_MIN:
            out[p] = Decision("auto", int(m), round(score, 4), reason, candidates, learn=bool(learn[p]))
        else:
            out[p] = Decision("suggested", int(m), round(min(0.79, score * score / score), 4), reason, candidates)
    return out


# -- running the matcher ------------------------------------------------------------------------

_PAYMENT_COLUMNS = "p.id, p.doc_date, p.payer_name, p.payer_inn, p.payer_account, p.purpose"
# Payments in another currency (a currency account's statement) are kept but never matched, allocated or owed.
_ROUBLES = ROUBLES.replace("currency", "p.currency")


def _undecided(con, payment_ids: list[int] | None) -> pd.DataFrame:
    where = f"p.direction = 'in' AND {_ROUBLES} AND (m.status IS NULL OR m.status <> 'manual')"
    if payment_ids is not None:
        con.register("_wanted", pd.DataFrame({"id": pd.Series(list(payment_ids), dtype="int64")}))
        where += " AND p.id IN (SELECT id FROM _wanted)"
    payments = con.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments p LEFT JOIN matches m ON m.payment_id = p.id "
        f"WHERE {where} ORDER BY p.doc_date, p.id").df()
    for col in ("payer_name", "payer_inn", "payer_account", "purpose"):
        payments[col] = payments[col].astype(object).where(payments[col].notna(), None)
    return payments


def _read_and_decide(payments: pd.DataFrame, reg: Register, links: pd.DataFrame,
                     reader: PaymentReader | None = None) -> dict[int, Decision]:
    """Read the payments and decide them with these payer links; decisions by position in `payments`."""
    reader = reader or PaymentReader(reg.vocab, reg.plot_set)
    readings = reader.read_all(list(zip(payments["payer_name"].tolist(), payments["payer_inn"].tolist(),
                                        payments["purpose"].tolist())))
    return _decide_all(_mentions(payments, readings), readings, reg, links)


PARALLEL_MIN = 20_000   # payments; fewer are decided in one process (a helper would cost more than it saves)


def _helper_processes() -> int:
    """How many processes share the first pass: 2 where a forked helper is possible (Linux, 2+ cores)."""
    import multiprocessing
    import os

    wanted = os.environ.get("COOP_MATCH_PROCESSES")
    if wanted is not None:
        return max(1, int(wanted)) if wanted.isdigit() else 1
    return 2 if (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods() else 1


def _first_pass(payments: pd.DataFrame, reg: Register, reader: PaymentReader) -> dict[int, Decision]:
    """Decisions with the links known before this run. Reading is Python per distinct text, so a big run is
    split in two: a forked helper takes the first half (it shares the register by copy-on-write and sends
    back only its decisions) while this process takes the second. A payment's decision depends only on the
    payment and the register, so the result is the same as in one process; if the helper fails, this
    process decides its half too. `reader` ends up knowing the words of both halves (for the second pass)."""
    n = len(payments)
    if n < PARALLEL_MIN or _helper_processes() < 2:
        return _read_and_decide(payments, reg, reg.links, reader)
    import multiprocessing

    half = n // 2
    first = payments.iloc[:half].reset_index(drop=True)
    second = payments.iloc[half:].reset_index(drop=True)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    helper = ctx.Process(target=_helper_run, args=(send, first, reg), daemon=True, name="coop-match-helper")
    helper.start()
    send.close()
    try:
        mine = _read_and_decide(second, reg, reg.links, reader)
        try:
            theirs = receive.recv()
        except (EOFError, OSError):
            theirs = None
    finally:
        receive.close()
        helper.join(timeout=60)
        if helper.is_alive():
            helper.kill()
    if isinstance(theirs, list) and len(theirs) == len(_DECISION_FIELDS) + 2:
        reader.names.cache.update(theirs.pop())   # the words it read, as tokens: no second morphology pass
        theirs = {i: Decision(*fields) for i, *fields in zip(*theirs)}
    else:   # the helper died or failed: decide its half here
        theirs = _read_and_decide(first, reg, reg.links, reader)
    theirs.update((half + i, d) for i, d in mine.items())
    return theirs


_DECISION_FIELDS = ("status", "member_id", "confidence", "reason", "candidates", "learn")


def _helper_run(send, payments: pd.DataFrame, reg: Register) -> None:
    """In the forked helper: decide, send the decisions back as columns (pickled ten times faster than
    objects) and the words read, or None on any failure."""
    try:
        reader = PaymentReader(reg.vocab, reg.plot_set)
        decided = _read_and_decide(payments, reg, reg.links, reader)
        result = [list(decided)] + [[getattr(d, f) for d in decided.values()] for f in _DECISION_FIELDS] + \
            [reader.names.cache]
    except BaseException:   # the parent decides this half itself
        result = None
    send.send(result)
    send.close()


def _decide_run(payments: pd.DataFrame, reg: Register) -> tuple[dict[int, Decision], pd.DataFrame]:
    """Decisions for every payment (by position) and the payer links they teach."""
    reader = PaymentReader(reg.vocab, reg.plot_set)
    decisions = _first_pass(payments, reg, reader)
    # Links learned from this run's sure matches serve its other payments too: those paid from a
    # learned account or INN are read and decided again with them.
    new_links = _learned_links(payments, decisions, reg)
    if len(new_links):
        links = pd.concat([reg.links, new_links[["kind", "value", "member_id"]]]).drop_duplicates()
        touched = set(new_links["value"])
        again = [i for i, (inn, acc) in enumerate(zip(payments["payer_inn"].tolist(),
                                                     payments["payer_account"].tolist()))
                 if decisions[i].status != "auto" and (inn in touched or acc in touched)]
        if again:
            redone = _read_and_decide(payments.iloc[again].reset_index(drop=True), reg, links, reader)
            decisions.update((again[j], d) for j, d in redone.items())
            new_links = _learned_links(payments, decisions, reg)
    return decisions, new_links


@contextmanager
def _collector_paused():
    """A run makes millions of small objects (payments, readings, tokens, evidence rows, decisions) that live
    until it is written; the cyclic garbage collector would walk them over and over (a quarter of the CPU
    time on a big run). They hold no reference cycles: reference counting frees them, the collector resumes
    after. Process-wide: a concurrent run only finds it already paused (whoever paused it resumes it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_collector_paused()
def match_payments(db: Database, actor: str | None = None, payment_ids: list[int] | None = None) -> dict[str, int]:
    """Decide every incoming payment no person has decided yet (or only `payment_ids`).

    The payments are read and weighed without holding the database; the decisions are written in one
    transaction, which keeps any decision a person made meanwhile. Returns counts: total, auto,
    suggested, unmatched, manual (decided by people, left as they are), links (payer links learned).
    """
    with db.connect() as con:
        payments = _undecided(con, payment_ids)
        reg = load_register(con) if len(payments) else None
    summary = {"total": len(payments), "auto": 0, "suggested": 0, "unmatched": 0, "manual": 0, "links": 0}
    new_links = pd.DataFrame(columns=["kind", "value", "member_id", "payment_id"])
    decisions: dict[int, Decision] = {}
    if len(payments):
        decisions, new_links = _decide_run(payments, reg)
    ids = payments["id"].tolist()
    now = utcnow()
    with db.transaction() as con:
        con.register("_decided", pd.DataFrame({"payment_id": pd.Series(ids, dtype="int64")}))
        decided_meanwhile = {r[0] for r in con.execute(
            "SELECT payment_id FROM matches WHERE status = 'manual' AND payment_id IN "
            "(SELECT payment_id FROM _decided)").fetchall()}
        con.execute("DELETE FROM matches WHERE status <> 'manual' AND payment_id IN (SELECT payment_id FROM _decided)")
        con.unregister("_decided")
        kept = [(int(ids[i]), d) for i, d in decisions.items() if ids[i] not in decided_meanwhile]
        insert_columns(con, "matches", {
            "payment_id": [pid for pid, _ in kept], "status": [d.status for _, d in kept],
            "member_id": [d.member_id for _, d in kept], "confidence": [d.confidence for _, d in kept],
            "reason": [d.reason for _, d in kept], "candidates": [d.candidates for _, d in kept],
            "decided_by": [MACHINE] * len(kept), "decided_at": [now] * len(kept)})
        if len(new_links):
            summary["links"] = _store_links(con, new_links, "auto", actor)
        for _, d in kept:
            summary[d.status] += 1
        summary["total"] = len(kept)
        summary["manual"] = con.execute("SELECT count(*) FROM matches WHERE status = 'manual'").fetchone()[0]
        audit.log(con, actor, "match_payments", None, **summary)
    return summary


def _learned_links(payments: pd.DataFrame, decisions: dict[int, Decision], reg: Register) -> pd.DataFrame:
    """(kind, value, member_id, payment_id) from sure matches of people's accounts and INNs."""
    rows = []
    ids, inns, accounts = payments["id"].tolist(), payments["payer_inn"].tolist(), payments["payer_account"].tolist()
    for i, d in decisions.items():
        if d.status != "auto" or not d.learn:
            continue
        if person_account(accounts[i]) and ("account", accounts[i], d.member_id) not in reg.blocked:
            rows.append(("account", accounts[i], d.member_id, ids[i]))
        if inns[i] and len(inns[i]) == 12 and reg.inn_of.get(d.member_id) != inns[i] and \
                ("inn", inns[i], d.member_id) not in reg.blocked:
            rows.append(("inn", inns[i], d.member_id, ids[i]))
    frame = pd.DataFrame(rows, columns=["kind", "value", "member_id", "payment_id"])
    return frame.drop_duplicates(["kind", "value", "member_id"])


def _store_links(con, links: pd.DataFrame, source: str, actor: str | None) -> int:
    """Insert links not known yet (blocked ones stay blocked); returns how many were added."""
    con.register("_links", links)
    try:
        fresh = con.execute(
            "SELECT l.kind, l.value, l.member_id, l.payment_id FROM _links l LEFT JOIN payer_links k "
            "ON k.kind = l.kind AND k.value = l.value AND k.member_id = l.member_id WHERE k.kind IS NULL").df()
    finally:
        con.unregister("_links")
    n = len(fresh)
    insert_columns(con, "payer_links", {
        "kind": fresh["kind"].tolist(), "value": fresh["value"].tolist(), "member_id": fresh["member_id"].tolist(),
        "source": [source] * n, "payment_id": [None if pd.isna(p) else int(p) for p in fresh["payment_id"].tolist()],
        "blocked": [False] * n, "created_at": [utcnow()] * n, "created_by": [actor] * n})
    return n


# -- accountant decisions -----------------------------------------------------------------------

def _payment(con, payment_id: int) -> dict:
    cur = con.execute("SELECT p.id, p.amount, p.direction, p.payer_name, p.payer_inn, p.payer_account, "
                      "m.status, m.member_id, coalesce(p.currency, 'RUB') AS currency "
                      "FROM payments p LEFT JOIN matches m ON m.payment_id = p.id "
                      "WHERE p.id = ?", [payment_id])
    row = cur.fetchone()
    if row is None:
        raise InputError(f"Платёж {payment_id} не найден")
    rec = dict(zip([d[0] for d in cur.description], row))
    if rec["direction"] != "in":
        raise InputError(f"Платёж {payment_id} — списание, его не разносят по членам")
    if rec["currency"] != "RUB":
        raise InputError(f"Платёж {payment_id} — в валюте {rec['currency']}, валютные платежи не разносят по членам")
    return rec


def _member(con, member_id: int) -> tuple[int, str]:
    row = con.execute("SELECT id, reg_no FROM members WHERE id = ?", [member_id]).fetchone()
    if row is None:
        raise InputError(f"Член с кодом {member_id} не найден")
    return row


def _set_manual(con, payment_id: int, member_id: int | None, confidence: float, reason: str, actor: str) -> None:
    now = utcnow()
    updated = con.execute(
        "UPDATE matches SET status = 'manual', member_id = ?, confidence = ?, reason = ?, decided_by = ?, "
        "decided_at = ? WHERE payment_id = ? RETURNING payment_id",
        [member_id, confidence, reason, actor, now, payment_id]).fetchall()
    if not updated:
        con.execute("INSERT INTO matches (payment_id, status, member_id, confidence, reason, candidates, decided_by, "
                    "decided_at) VALUES (?, 'manual', ?, ?, ?, '[]', ?, ?)",
                    [payment_id, member_id, confidence, reason, actor, now])


def _log_decision(con, payment_id: int, action: str, member_id: int | None, actor: str, before: dict,
                  **details: Any) -> None:
    details = {"before_status": before.get("status"), "before_member": before.get("member_id"), **details}
    con.execute("INSERT INTO match_decisions (payment_id, action, member_id, details, decided_by, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [payment_id, action, member_id, json.dumps(details, ensure_ascii=False, default=str), actor, utcnow()])
    audit.log(con, actor, f"match_{action}", f"payment:{payment_id}", member_id=member_id)


def _teach(con, pay: dict, member_ids: list[int], actor: str) -> None:
    """An accountant's decision links the payer's own account / INN to the member(s); undoes a block."""
    from .purpose import read_payer

    if read_payer(pay["payer_name"], pay["payer_inn"]).kind != "person":
        return
    keys = []
    if person_account(pay["payer_account"]):
        keys.append(("account", pay["payer_account"]))
    if pay["payer_inn"] and len(pay["payer_inn"]) == 12:
        keys.append(("inn", pay["payer_inn"]))
    for kind, value in keys:
        for mid in member_ids:
            con.execute("DELETE FROM payer_links WHERE kind = ? AND value = ? AND member_id = ?", [kind, value, mid])
            con.execute("INSERT INTO payer_links VALUES (?, ?, ?, 'manual', ?, FALSE, ?, ?)",
                        [kind, value, mid, pay["id"], utcnow(), actor])


def confirm(db: Database, payment_id: int, member_id: int, actor: str) -> None:
    """The accountant says whose payment it is (the suggested member or another one)."""
    with db.transaction() as con:
        _confirm(con, payment_id, member_id, actor)


def _confirm(con, payment_id: int, member_id: int, actor: str) -> None:
    pay = _payment(con, payment_id)
    _, reg_no = _member(con, member_id)
    con.execute("DELETE FROM match_splits WHERE payment_id = ?", [payment_id])
    other = pay["member_id"] is not None and pay["member_id"] != member_id
    _set_manual(con, payment_id, member_id, 1.0,
                f"л/с {reg_no}: " + ("выбран другой член бухгалтером" if other else "подтверждено бухгалтером"), actor)
    _teach(con, pay, [member_id], actor)
    _log_decision(con, payment_id, "confirm", member_id, actor, pay)


def confirm_many(db: Database, payment_ids: list[int], actor: str) -> int:
    """Bulk confirm: each payment to the member the matcher proposed; one transaction. Returns the count."""
    with db.transaction() as con:
        count = 0
        for pid in payment_ids:
            pay = _payment(con, pid)
            if pay["status"] == "manual":
                continue
            if pay["member_id"] is None:
                raise InputError(f"Платёж {pid}: нет предложенного члена — выберите члена вручную")
            _confirm(con, pid, int(pay["member_id"]), actor)
            count += 1
    return count


def reject(db: Database, payment_id: int, actor: str, note: str | None = None) -> None:
    """Not a member's payment (or not the proposed member's): decided as nobody's; the payer link is blocked."""
    with db.transaction() as con:
        pay = _payment(con, payment_id)
        con.execute("DELETE FROM match_splits WHERE payment_id = ?", [payment_id])
        _set_manual(con, payment_id, None, 0.0, "отклонено бухгалтером" + (f": {note}" if note else ""), actor)
        if pay["member_id"] is not None:
            for kind, value in (("account", pay["payer_account"]), ("inn", pay["payer_inn"])):
                if value:
                    con.execute("DELETE FROM payer_links WHERE kind = ? AND value = ? AND member_id = ?",
                                [kind, value, pay["member_id"]])
                    con.execute("INSERT INTO payer_links VALUES (?, ?, ?, 'manual', ?, TRUE, ?, ?)",
                                [kind, value, pay["member_id"], payment_id, utcnow(), actor])
        _log_decision(con, payment_id, "reject", None, actor, pay, note=note)


def split(db: Database, payment_id: int, parts: list[tuple[int, Any]], actor: str) -> None:
    """Divide one payment among members; the amounts must add up to the payment exactly."""
    with db.transaction() as con:
        pay = _payment(con, payment_id)
        problems = []
        amounts: list[tuple[int, str, Decimal]] = []
        for i, (member_id, amount) in enumerate(parts, start=1):
            try:
                value = fields.money(amount)
            except ValueError as exc:
                problems.append(f"Часть {i}: {exc}")
                continue
            if value <= 0:
                problems.append(f"Часть {i}: сумма должна быть больше нуля")
            row = con.execute("SELECT reg_no FROM members WHERE id = ?", [member_id]).fetchone()
            if row is None:
                problems.append(f"Часть {i}: член с кодом {member_id} не найден")
                continue
            amounts.append((int(member_id), row[0], value))
        if len(parts) < 2:
            problems.append("Для разделения нужны хотя бы два члена")
        if len({m for m, _, _ in amounts}) != len(amounts):
            problems.append("Один член указан дважды")
        total = sum((a for _, _, a in amounts), Decimal("0"))
        if not problems and total != pay["amount"]:
            problems.append(f"Сумма частей {total:.2f} не равна сумме платежа {pay['amount']:.2f}")
        if problems:
            raise InputError(problems, f"платёж {payment_id}")
        con.execute("DELETE FROM match_splits WHERE payment_id = ?", [payment_id])
        insert_rows(con, "match_splits", [{"payment_id": payment_id, "member_id": m, "amount": a}
                                          for m, _, a in amounts])
        text = "; ".join(f"л/с {r} — {a:.2f}" for _, r, a in amounts)
        _set_manual(con, payment_id, None, 1.0, f"разделён бухгалтером: {text}", actor)
        _teach(con, pay, [m for m, _, _ in amounts], actor)
        _log_decision(con, payment_id, "split", None, actor, pay,
                      parts=[{"member_id": m, "amount": f"{a:.2f}"} for m, _, a in amounts])


def reopen(db: Database, payment_id: int, actor: str) -> None:
    """Undo a person's decision: the payment goes back to the matcher and is decided again."""
    with db.transaction() as con:
        pay = _payment(con, payment_id)
        con.execute("DELETE FROM match_splits WHERE payment_id = ?", [payment_id])
        con.execute("DELETE FROM matches WHERE payment_id = ?", [payment_id])
        _log_decision(con, payment_id, "reopen", None, actor, pay)
    match_payments(db, actor, [payment_id])


# -- reading ------------------------------------------------------------------------------------

def counters(db: Database) -> dict[str, int]:
    """Incoming payments by status; 'new' are those the matcher has not seen yet."""
    rows = db.fetchall("SELECT coalesce(m.status, 'new'), count(*) FROM payments p "
                       f"LEFT JOIN matches m ON m.payment_id = p.id WHERE p.direction = 'in' AND {_ROUBLES} GROUP BY 1")
    result = {k: 0 for k in ("auto", "suggested", "unmatched", "manual", "new")}
    result.update({k: v for k, v in rows})
    return result


def review_queue(db: Database, statuses: Iterable[str] = ("suggested", "unmatched"), search: str = "",
                 limit: int = 500) -> list[dict]:
    """Payments waiting for a person: suggested first, then unmatched (those with tied candidates before
    those with none); newest first within each.

    Each row has the payment, the decision and `candidates` with reg_no and full_name of each member.
    """
    statuses = [s for s in statuses if s in STATUSES]
    if not statuses:
        return []
    sql = ("SELECT p.id AS payment_id, p.doc_date, p.doc_number, p.amount, p.payer_name, p.payer_account, "
           "p.purpose, m.status, m.member_id, m.confidence, m.reason, m.candidates "
           f"FROM payments p JOIN matches m ON m.payment_id = p.id WHERE p.direction = 'in' AND {_ROUBLES} AND m.status IN "
           f"({', '.join('?' for _ in statuses)})")
    params: list[Any] = list(statuses)
    if search.strip():
        sql += " AND (lower(p.payer_name) LIKE ? OR lower(p.purpose) LIKE ? OR p.doc_number = ?)"
        like = f"%{search.strip().lower()}%"
        params += [like, like, search.strip()]
    sql += " ORDER BY CASE m.status WHEN 'suggested' THEN 0 WHEN 'unmatched' THEN 1 ELSE 2 END, " \
           "coalesce(m.candidates, '[]') = '[]', p.doc_date DESC, p.id DESC LIMIT ?"
    params.append(limit)
    rows = db.records(sql, params)
    ids = {c["member_id"] for r in rows for c in json.loads(r["candidates"] or "[]")}
    names = {}
    if ids:
        names = {r[0]: (r[1], r[2]) for r in db.fetchall(
            f"SELECT id, reg_no, full_name FROM members WHERE id IN ({', '.join(str(int(i)) for i in ids)})")}
    for r in rows:
        cands = json.loads(r["candidates"] or "[]")
        for c in cands:
            c["reg_no"], c["full_name"] = names.get(c["member_id"], ("?", "?"))
        r["candidates"] = cands
    return rows


def decisions_log(db: Database, payment_id: int) -> list[dict]:
    return db.records("SELECT action, member_id, details, decided_by, decided_at FROM match_decisions "
                      "WHERE payment_id = ? ORDER BY id", [payment_id])


EXPORT_COLUMNS = [Column("doc_number", "doc_number"), Column("doc_date", "doc_date"),
                  Column("amount", "amount", "money"), Column("payer", "payer", width=40),
                  Column("purpose", "purpose", width=60), Column("member_id", "member_id"),
                  Column("status", "status"), Column("confidence", "confidence"), Column("reason", "reason", width=60)]


def export_rows(db: Database) -> list[dict]:
    rows = db.records(
        "SELECT p.doc_number, p.doc_date, p.amount, p.payer_name AS payer, p.purpose, m.status, m.confidence, "
        "m.reason, mem.reg_no, (SELECT string_agg(x.reg_no, '; ' ORDER BY x.reg_no) FROM match_splits s "
        "  JOIN members x ON x.id = s.member_id WHERE s.payment_id = p.id AND m.status = 'manual') AS split_regs "
        "FROM payments p LEFT JOIN matches m ON m.payment_id = p.id LEFT JOIN members mem ON mem.id = m.member_id "
        f"WHERE p.direction = 'in' AND {_ROUBLES} ORDER BY p.doc_date, p.id")
    for r in rows:
        r["doc_date"] = r["doc_date"].isoformat() if r["doc_date"] else None
        r["member_id"] = r.pop("reg_no") or r.pop("split_regs") or None
        r.pop("split_regs", None)
        r["confidence"] = f"{r['confidence']:.4f}" if r["confidence"] is not None else None
    return rows


def export_matches(db: Database, path: str | Path, actor: str | None = None) -> int:
    """One row per incoming payment, whatever its status (.csv or .xlsx); the export is logged (payer names)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")
    rows = export_rows(db)
    try:
        write_table(path, EXPORT_COLUMNS, rows, sheet_title="Разнесение", csv_header="key")
    except OSError as exc:
        raise LedgerError(f"{path}: не удалось записать файл ({exc.strerror})") from None
    audit.record(db, actor, "export_personal_data", str(path.name), what="matches", rows=len(rows))
    return len(rows)
