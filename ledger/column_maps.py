"""Column mappings: which field an unrecognised column of an imported file holds, remembered per header set.

A mapping is {normalised header: field key, or "" for a column not loaded}. It is given on the upload page
(a select box per column) or in the CLI (`--map "Заголовок=поле"`, the field by key or Russian name), applied
by spreadsheets.find_header, and remembered in `column_mappings` keyed by the file's normalised header set
(spreadsheets.header_key), so the next file with the same headers needs none.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

from . import audit
from .db import Database, utcnow
from .spreadsheets import Header, MappingError, normalize_header, parse_pairs

SKIP = ""            # the field of a column not loaded
SKIP_LABEL = "не загружать"


def resolve(pairs: Iterable[str], synonyms: dict[str, Sequence[str]], labels: dict[str, str]) -> dict[str, str]:
    """`--map "Заголовок=поле"` options as a mapping; поле is a field key, its Russian name or a header spelling
    of it; empty or «не загружать» skips the column. An unknown field is refused with the fields there are."""
    result = {}
    for header, written in parse_pairs(pairs, "--map", "Заголовок=поле").items():
        fld = field_of(written, synonyms, labels)
        if fld is None:
            names = ", ".join(labels[f] for f in synonyms if f in labels)   # unlabelled ones (row_no) not offered
            raise MappingError(f"--map «{written}»: такого поля нет; поля: {names}, или «{SKIP_LABEL}»")
        result[header] = fld
    return result


def field_of(text: str, synonyms: dict[str, Sequence[str]], labels: dict[str, str]) -> str | None:
    """The field a user names: its key, its Russian name, or one of its header spellings (None: unknown)."""
    if text.strip() in synonyms:
        return text.strip()
    norm = normalize_header(text)
    if norm in ("", normalize_header(SKIP_LABEL)):
        return SKIP
    for fld in synonyms:
        if norm in (normalize_header(fld), normalize_header(labels.get(fld, ""))):
            return fld
    return next((fld for fld, names in synonyms.items() if norm in {normalize_header(n) for n in names}), None)


def load(db: Database, kind: str) -> dict[str, dict[str, str]]:
    """Remembered mappings of this kind of file: {header set: mapping}."""
    return {key: json.loads(mapping) for key, mapping in
            db.fetchall("SELECT headers, mapping FROM column_mappings WHERE kind = ?", [kind])}


def save(con, kind: str, header: Header, actor: str | None) -> None:
    """Remember the mapping a file was loaded with for its header set (inside the import's transaction);
    a file loaded with no mapping forgets the one remembered for its headers."""
    if header.mapping == header.remembered or not header.key:
        return
    con.execute("DELETE FROM column_mappings WHERE kind = ? AND headers = ?", [kind, header.key])
    if header.mapping:
        con.execute("INSERT INTO column_mappings VALUES (?, ?, ?, ?, ?)",
                    [kind, header.key, json.dumps(header.mapping, ensure_ascii=False), utcnow(), actor])
    audit.log(con, actor, "column_mapping_saved", kind, headers=header.key, mapping=header.mapping)


def describe(header: Header, mapping: dict[str, str], labels: dict[str, str]) -> str:
    """«Владелец» → ФИО, «Комментарий» → не загружать: a mapping as the user wrote the headers."""
    written = {normalize_header(t): t for _, t in reversed(header.cells)}
    order = list(dict.fromkeys(normalize_header(t) for _, t in header.cells))
    pairs = sorted(mapping.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return ", ".join(f"«{written.get(h, h)}» → {labels.get(f, f) if f else SKIP_LABEL}" for h, f in pairs)


def choices(header: Header, synonyms: dict[str, Sequence[str]]) -> list[tuple[str, str, str]]:
    """The columns of a header row a user may map: those the synonyms do not know and those a mapping moved,
    as (normalised header, header as written, current field or "")."""
    known = {normalize_header(n) for names in synonyms.values() for n in names}
    result, seen = [], set()
    for _, text in header.cells:
        norm = normalize_header(text)
        if norm in seen or (norm in known and norm not in header.mapping):
            continue
        seen.add(norm)
        result.append((norm, text, header.mapping.get(norm, SKIP)))
    return result
