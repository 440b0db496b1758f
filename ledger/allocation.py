"""Set-wise allocation of members' payments to charges: the rules of accruals.py, vectorised over all members.

A member's money is one *stream* when all his payments carry the same designation (none, or one contribution
he has charges of; money designated to a contribution he has no charges of pays nothing and is left out).
For such a member the rules reduce to running totals. Order the member's charges of the stream by due date
(ties by contribution code and id) and his payments by day and id; let M_j be the money paid through payment
j, C(t) the charges fallen due by day t, Pen_j the penalties paid through payment j. Then

* the principal paid through payment j is min(M_j − Pen_j, C(day_j)), and an advance pays a charge on its
  due date: payment j pays charge k the overlap of [M_{j-1} − Pen_{j-1}, M_j − Pen_j) and the charge's
  slice [C_start, C_end) of the running total of charges, applied on max(payment day, due date);
* a charge is paid off by the first payment j with M_j − Pen_j ≥ C_end (on its due date if that is later);
  its penalty comes from the days it was partly unpaid (the overlaps above);
* penalties are paid only from a payment's surplus over the fallen principal, oldest charge first, so
  Pen_j = max(0, running max over j' ≤ j of min(M_j' − C(day_j'), TP_j')), TP_j being the penalties of
  the charges paid off through payment j; payment j pays charge k the overlap of [Pen_{j-1}, Pen_j) with
  the charge's slice of the running total of penalties.

Pen depends on the penalties, which depend on Pen: it is found by iteration from Pen = 0. Each round is
exact up to at least one more payment of every member (a round only reads Pen of earlier payments), and a
member whose Pen comes out unchanged is final. Members that take more than MAX_ROUNDS rounds, and members
whose money is several streams (designated and undesignated payments mixed), go through the day-by-day
reference loop (accruals._allocate_member), which the property tests compare this with.

Charges of one member, contribution, plot, period and due date are netted when one of them is negative
(a correction, «сторно»): the group is one charge under its smallest id, of the net amount (never below
zero).
"""

from __future__ import annotations

from datetime import date

import numpy as np

MAX_ROUNDS = 40
_EPOCH = date(1970, 1, 1).toordinal()


def charges_sql(con) -> str:
    """The charges as allocation and debts read them: charges_effective, with a group of charges of one member,
    contribution, plot, period and due date netted under its smallest id when one of them is negative."""
    has_negative = con.execute("SELECT count(*) FROM charges_effective WHERE amount < 0").fetchone()[0]
    if not has_negative:
        return "charges_effective"
    return f"""(
        SELECT min(id) AS id, member_id, contribution, plot_id, period_start, period_end, due_date,
               greatest(sum(amount), 0)::DECIMAL(18,2) AS amount, sum(original_amount)::DECIMAL(18,2) AS original_amount,
               arg_min(kind, id) AS kind, arg_min(basis_note, id) AS basis_note, arg_min(reason, id) AS reason
        FROM (SELECT *, CASE WHEN bool_or(amount < 0) OVER (PARTITION BY member_id, contribution, plot_id,
                                      period_start, period_end, due_date) THEN 0 ELSE id END AS _grp
              FROM charges_effective)
        GROUP BY member_id, contribution, plot_id, period_start, period_end, due_date, _grp)"""


# -- small vectorised helpers (arrays sorted by group) ------------------------------------------

def _firsts(groups: np.ndarray) -> np.ndarray:
    """True where a new group starts."""
    flag = np.ones(len(groups), dtype=bool)
    if len(groups) > 1:
        flag[1:] = groups[1:] != groups[:-1]
    return flag


def _group_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.nonzero(first)[0]
    if len(starts):
        total -= np.repeat(total[starts] - values[starts], np.diff(np.append(starts, len(values))))
    return total


def _group_shift(values: np.ndarray, first: np.ndarray, fill) -> np.ndarray:
    """The previous element within the group (fill for the first)."""
    out = np.empty_like(values)
    if len(values):
        out[1:] = values[:-1]
        out[first] = fill
    return out


def _spans(nm: int, *pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per rank 0..nm-1, 1 + the largest value given as (rank sorted, values): each rank gets its own range
    [base, base + span) of one global axis."""
    span = np.ones(nm, dtype=np.int64)
    for rank, values in pairs:
        if len(rank):
            starts = np.nonzero(_firsts(rank))[0]
            r = rank[starts]
            span[r] = np.maximum(span[r], np.maximum.reduceat(values, starts) + 1)
    return span


def _expand(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows i with ranges first[i]..last[i] (inclusive, maybe empty): (row index, range element) pairs."""
    n = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(first)), n)
    offsets = np.cumsum(n) - n
    return rows, first[rows] + (np.arange(len(rows)) - offsets[rows])


# -- one round for a set of single-stream members -----------------------------------------------

class _Round:
    """Everything computed from a guess of Pen for the members in the arrays (ranked 0..n-1)."""

    def __init__(self, c: dict, p: dict, pen: np.ndarray, penalty_of) -> None:
        nm = int(max(c["rank"].max(initial=-1), p["rank"].max(initial=-1))) + 1
        c_first, p_first = _firsts(c["rank"]), _firsts(p["rank"])
        ce = _group_cumsum(c["kop"], c_first)
        cs = ce - c["kop"]
        m = _group_cumsum(p["kop"], p_first)
        # charges fallen due by each payment day (charges fall before that day's payments)
        c_key, p_key = (c["rank"] << 22) | c["due"], (p["rank"] << 22) | p["day"]
        c_run = np.concatenate(([0], np.cumsum(c["kop"])))
        ranks = np.arange(nm)
        c_start = np.searchsorted(c["rank"], ranks, "left")
        fallen = c_run[np.searchsorted(c_key, p_key, "right")] - c_run[c_start[p["rank"]]]
        # member totals give each member a disjoint range of one global axis, so one searchsorted serves all
        span = _spans(nm, (c["rank"], ce), (p["rank"], m))
        base = np.cumsum(span) - span
        e = np.maximum.accumulate(base[p["rank"]] + m - pen)   # money left for principal, never decreasing
        self.pen = pen = base[p["rank"]] + m - e
        es = _group_shift(e, p_first, 0)
        es[p_first] = base[p["rank"][p_first]]
        ceg, csg = base[c["rank"]] + ce, base[c["rank"]] + cs
        # the payment that pays each charge off, and the payments paying it
        n_p = len(e)
        j_star = np.searchsorted(e, ceg, "left")
        p_rank_ext = np.append(p["rank"], -1)
        paid_off = (p_rank_ext[j_star] == c["rank"]) & (c["kop"] > 0)
        p_day_ext = np.append(p["day"], 0)
        payoff = np.where(c["kop"] == 0, c["due"], np.where(paid_off, np.maximum(c["due"], p_day_ext[j_star]), -1))
        j_last = np.where(paid_off, j_star, (np.searchsorted(p["rank"], ranks, "right") - 1)[c["rank"]])
        j_first = np.searchsorted(e, csg, "right")
        j_last = np.where(c["kop"] > 0, np.minimum(j_last, n_p - 1), -1)
        k, j = _expand(j_first, j_last)
        amount = np.minimum(ceg[k], e[j]) - np.maximum(csg[k], es[j])
        keep = amount > 0
        self.k, self.j, self.amount = k[keep], j[keep], amount[keep]
        self.day = np.maximum(c["due"][self.k], p["day"][self.j])
        # penalties of the charges paid off: from the days each was partly unpaid
        penalty = np.zeros(len(c["kop"]), dtype=np.int64)
        late = paid_off & (payoff > c["due"] + c["first"])   # some day of delay with a penalty went unpaid
        sel = late[self.k]
        if sel.any():
            kk, dd, aa = self.k[sel], self.day[sel], self.amount[sel]
            first = _firsts(kk)
            due = c["due"][kk]
            a = np.maximum(due + 1, _group_shift(dd, first, 0))
            u = c["kop"][kk] - (_group_cumsum(aa, first) - aa)
            # only pieces after days of delay with a penalty (every late charge keeps its last one)
            keep = dd > due + c["first"][kk]
            kk, due, a, b, u = kk[keep], due[keep], a[keep], dd[keep] - 1, u[keep]
            numer = penalty_of(c["code"][kk], due, a, b, u)
            starts = np.nonzero(_firsts(kk))[0]
            penalty[kk[starts]] = c["q_round"](c["code"][kk[starts]], np.add.reduceat(numer, starts))
        self.payoff, self.penalty = payoff, penalty
        # penalties of the charges paid off through each payment, and the new guess of Pen
        tp = np.zeros(n_p, dtype=np.int64)
        has = paid_off & (penalty > 0)
        np.add.at(tp, j_star[has], penalty[has])
        tp = _group_cumsum(tp, p_first)
        wanted = np.maximum(0, np.minimum(m - fallen, tp))
        pspan = _spans(nm, (p["rank"], wanted))
        pbase = np.cumsum(pspan) - pspan
        self.new_pen = np.maximum.accumulate(pbase[p["rank"]] + wanted) - pbase[p["rank"]]
        self.c, self.p, self.p_first = c, p, p_first
        self.has_penalty_paid = has

    def penalty_pieces(self) -> tuple[np.ndarray, ...]:
        """(charge index, payment index, amount) of penalties paid, and the settled day of each charge."""
        c, p, pen = self.c, self.p, self.pen
        has = self.has_penalty_paid
        ci = np.nonzero(has)[0]
        settled = np.where(self.penalty == 0, self.payoff, -1)
        if not len(ci):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, settled
        rank = c["rank"][ci]
        cpe = _group_cumsum(self.penalty[ci], _firsts(rank))
        nm = int(max(c["rank"].max(initial=-1), p["rank"].max(initial=-1))) + 1
        span = _spans(nm, (rank, cpe), (p["rank"], pen))
        base = np.cumsum(span) - span
        cpeg = base[rank] + cpe
        cpsg = cpeg - self.penalty[ci]
        peg = base[p["rank"]] + pen
        psg = _group_shift(peg, self.p_first, 0)
        psg[self.p_first] = base[p["rank"][self.p_first]]
        jp = np.nonzero(peg > psg)[0]
        j_idx, t = _expand(np.searchsorted(cpeg, psg[jp], "right"), np.searchsorted(cpsg, peg[jp], "left") - 1)
        j, kc = jp[j_idx], t
        amount = np.minimum(cpeg[kc], peg[j]) - np.maximum(cpsg[kc], psg[j])
        keep = amount > 0
        j_settle = np.searchsorted(peg, cpeg, "left")
        ok = np.append(p["rank"], -1)[j_settle] == rank
        settled[ci[ok]] = p["day"][j_settle[ok]]
        return ci[kc[keep]], j[keep], amount[keep], settled


def _streams(c_member, c_code, p_member, p_code):
    """Per payment: whether it takes part (money designated to a contribution the member has no charges of
    pays nothing); per member of those payments: his designation (-1: none); and the members whose taking-part
    payments are not all of one designation."""
    width = int(max(c_code.max(initial=0), p_code.max(initial=0))) + 2
    c_keys = np.unique(c_member * width + c_code + 1)
    active = (p_code < 0) | np.isin(p_member * width + p_code + 1, c_keys)
    m, x = p_member[active], p_code[active]
    first = _firsts(m)
    mixed = np.unique(m[~first & (x != _group_shift(x, first, 0))])
    return active, m[first], x[first], mixed


def allocate(con, scheds: dict, reference_member, max_rounds: int = MAX_ROUNDS) -> tuple:
    """The allocation of the members in temp table _stale: columns of allocations and charge_state rows
    (days as ordinals, -1 for none; money in kopecks), and the members that went through reference_member,
    the day-by-day loop (accruals._allocate_member): those with several streams of money, or more than
    max_rounds rounds (0: all of them); and the members' fingerprints (an Arrow table; None when charges were
    netted)."""
    from .accruals import ORDINAL_SQL, designated_payments_sql, penalties_vectorised, _literal

    codes = list(scheds)
    code_list = "[" + ", ".join(_literal(x) for x in codes) + "]" if codes else "[]::VARCHAR[]"
    source = charges_sql(con)
    # hashes as accruals._member_fingerprints_sql takes them (of the rows as they are, so not when netted)
    ch = con.execute(f"""
        SELECT c.member_id, c.id, coalesce(list_position({code_list}, c.contribution), 0) - 1 AS code,
               {ORDINAL_SQL.format(col='c.due_date')} AS due, CAST(c.amount * 100 AS BIGINT) AS kop,
               hash(c.id, c.contribution, c.due_date, c.amount) AS h
        FROM {source} c SEMI JOIN _stale s ON s.member_id = c.member_id
        ORDER BY c.member_id, c.due_date, c.contribution, c.id""").fetchnumpy()
    py = con.execute(f"""
        SELECT mp.member_id, mp.payment_id, {ORDINAL_SQL.format(col='mp.paid_on')} AS day,
               CAST(mp.amount * 100 AS BIGINT) AS kop,
               coalesce(list_position({code_list}, mp.designated), 0) - 1 AS code,
               hash(mp.payment_id, mp.amount, mp.paid_on, mp.designated, 'p') AS h
        FROM ({designated_payments_sql(con)}) mp SEMI JOIN _stale s ON s.member_id = mp.member_id
        ORDER BY mp.member_id, mp.paid_on, mp.payment_id""").fetchnumpy()
    c_member, c_id, c_code, c_due, c_kop = (np.asarray(ch[k], dtype=np.int64) for k in ("member_id", "id", "code", "due", "kop"))
    fingerprints = None if source != "charges_effective" else _fingerprints(c_member, np.asarray(ch["h"]),
                                                                             np.asarray(py["member_id"]), np.asarray(py["h"]))
    positive = np.asarray(py["kop"]) > 0   # refunds are not allocated
    p_member, p_id, p_day, p_kop, p_code = (np.asarray(py[k], dtype=np.int64)[positive]
                                            for k in ("member_id", "payment_id", "day", "kop", "code"))
    first_day = np.array([scheds[x].first for x in codes] + [10**9], dtype=np.int64)  # of delay with a penalty
    q = np.array([scheds[x].q for x in codes] + [1], dtype=np.int64)

    def penalty_of(code, due, a, b, u):
        return penalties_vectorised(scheds, code, due, a, b, u)

    def q_round(code, numer):
        return (2 * numer + q[code]) // (2 * q[code])

    active, s_member, s_code, mixed = _streams(c_member, c_code, p_member, p_code)
    # each single-stream member's charges of his stream (all, or the contribution his money designates)
    members = np.union1d(c_member, p_member)
    stream = np.full(len(members), -1, dtype=np.int64)
    stream[np.searchsorted(members, s_member)] = s_code
    c_stream = stream[np.searchsorted(members, c_member)]
    demand = (c_stream < 0) | (c_stream == c_code)
    out = {k: [] for k in ("member_id", "charge_id", "payment_id", "amount", "applied_on", "kind")}
    state = {k: [] for k in ("charge_id", "member_id", "paid_off_on", "final_penalty", "settled_on")}

    def emit_state(idx, paid_off, penalty, settled):
        state["charge_id"].append(c_id[idx])
        state["member_id"].append(c_member[idx])
        state["paid_off_on"].append(paid_off)
        state["final_penalty"].append(np.where(paid_off >= 0, penalty, -1))
        state["settled_on"].append(settled)

    def emit(ci, pj, amount, day, kind):
        out["member_id"].append(c_member[ci])
        out["charge_id"].append(c_id[ci])
        out["payment_id"].append(p_id[pj])
        out["amount"].append(amount)
        out["applied_on"].append(day)
        out["kind"].append(np.full(len(ci), kind == "penalty"))

    todo = np.setdiff1d(members, mixed)
    pen = None
    for _ in range(max_rounds):
        if not len(todo):
            break
        ci = np.nonzero(demand & np.isin(c_member, todo))[0]
        pj = np.nonzero(active & np.isin(p_member, todo))[0]
        c = {"rank": np.searchsorted(todo, c_member[ci]), "due": c_due[ci], "kop": c_kop[ci], "code": c_code[ci],
             "first": first_day[c_code[ci]], "q_round": q_round}
        p = {"rank": np.searchsorted(todo, p_member[pj]), "day": p_day[pj], "kop": p_kop[pj]}
        if pen is None:
            pen = np.zeros(len(pj), dtype=np.int64)
        r = _Round(c, p, pen, penalty_of)
        unsettled = np.zeros(len(todo), dtype=bool)
        unsettled[p["rank"][r.new_pen != r.pen]] = True
        done_c, done_p = ~unsettled[c["rank"]], ~unsettled[p["rank"]]
        pk, pp, pamount, settled = r.penalty_pieces()
        emit_state(ci[done_c], r.payoff[done_c], r.penalty[done_c], settled[done_c])
        sel = done_c[r.k]
        emit(ci[r.k[sel]], pj[r.j[sel]], r.amount[sel], r.day[sel], "principal")
        sel = done_c[pk]
        emit(ci[pk[sel]], pj[pp[sel]], pamount[sel], p["day"][pp[sel]], "penalty")
        todo, pen = todo[unsettled], r.new_pen[~done_p]
    # several streams of money, or too many rounds: the day-by-day loop
    slow = np.union1d(mixed, todo)
    # charges outside a single-stream member's stream are never paid (zero ones are paid off when due)
    idle = np.nonzero(~demand & ~np.isin(c_member, slow))[0]
    zero = c_kop[idle] == 0
    emit_state(idle, np.where(zero, c_due[idle], -1), np.zeros(len(idle), dtype=np.int64),
               np.where(zero, c_due[idle], -1))
    if len(slow):
        names = codes + [None]   # a contribution without a tariff: no penalty, no designated money
        o: list[list] = [[], [], [], [], [], []]
        st: list[list] = [[], [], [], [], []]
        for member in slow.tolist():
            c0, c1 = np.searchsorted(c_member, [member, member + 1])
            p0, p1 = np.searchsorted(p_member, [member, member + 1])
            charges = [(int(c_id[i]), names[c_code[i]], int(c_due[i]), int(c_kop[i])) for i in range(c0, c1)]
            payments = [(int(p_id[i]), int(p_day[i]), int(p_kop[i]), names[p_code[i]]) for i in range(p0, p1)]
            reference_member(member, charges, payments, scheds, o, st)
        for key, values in zip(out, o):
            out[key].append(np.array([-1 if v is None else v for v in values] if key != "kind" else
                                     [v == "penalty" for v in values], dtype=bool if key == "kind" else np.int64))
        for key, values in zip(state, st):
            state[key].append(np.array([-1 if v is None else v for v in values], dtype=np.int64))
    return ({k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in out.items()},
            {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in state.items()}, slow, fingerprints)


def _fingerprints(c_member, c_hash, p_member, p_hash):
    """Per member the xor of the hashes of his charges and payments (bit_xor in SQL), as an Arrow table."""
    import pyarrow as pa

    members = np.union1d(c_member, p_member).astype(np.int64)
    fp = np.zeros(len(members), dtype=np.uint64)
    for member, h in ((c_member, c_hash), (p_member, p_hash)):
        if len(member):
            starts = np.nonzero(_firsts(member))[0]
            fp[np.searchsorted(members, member[starts])] ^= np.bitwise_xor.reduceat(h.astype(np.uint64), starts)
    return pa.table({"member_id": pa.array(members, pa.int64()), "fp": pa.array(fp, pa.uint64())})


def to_arrow(out: dict, state: dict):
    """The arrays of allocate() as Arrow tables in the column order of allocations and charge_state."""
    import pyarrow as pa

    def day(values):
        values = np.asarray(values, dtype=np.int64)
        return pa.array(values - _EPOCH, pa.int32(), mask=values < 0).cast(pa.date32())

    def money(values, none=False):
        """Kopecks as DECIMAL(18,2) without arithmetic: a decimal128 is the integer of its smallest unit."""
        values = np.asarray(values, dtype=np.int64)
        mask = values < 0 if none else np.zeros(len(values), dtype=bool)
        words = np.empty((len(values), 2), dtype=np.int64)
        words[:, 0] = np.where(mask, 0, values)
        words[:, 1] = words[:, 0] >> 63
        validity = pa.array(~mask).buffers()[1] if none else None
        return pa.Array.from_buffers(pa.decimal128(18, 2), len(values), [validity, pa.py_buffer(words)],
                                     null_count=int(mask.sum()))

    alloc = pa.table({
        "member_id": pa.array(out["member_id"], pa.int64()), "charge_id": pa.array(out["charge_id"], pa.int64()),
        "payment_id": pa.array(out["payment_id"], pa.int64()), "amount": money(out["amount"]),
        "applied_on": day(out["applied_on"]),
        "kind": pa.DictionaryArray.from_arrays(np.asarray(out["kind"], dtype=np.int8), ["principal", "penalty"])})
    st = pa.table({
        "charge_id": pa.array(state["charge_id"], pa.int64()), "member_id": pa.array(state["member_id"], pa.int64()),
        "paid_off_on": day(state["paid_off_on"]), "final_penalty": money(state["final_penalty"], none=True),
        "settled_on": day(state["settled_on"])})
    return alloc, st
