"""People and places in a query: enrolled names (any case, aliases, typos) and unknown names.

`build_known` turns the library's people and places into a PhraseMatcher; `read_known`,
`read_typos` and `read_unknown` are parser steps that claim names in a `Parse`;
`assign_roles` reads "and / or / without / only" around them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rapidfuzz.distance import OSA

from assistant.query.lexicon import Engine, Lexicon
from assistant.query.state import PERSON, PLACE, Known, Mention, Parse
from index.settings import Settings

DETERMINERS = {"a", "an", "the", "my", "your", "his", "her", "our", "their", "this", "that"}
DETERMINERS |= {"these", "those", "some", "any", "every", "each"}
# Parts of a name that find nobody on their own: "van" in "Anna van Dijk".
NAME_PARTICLES = {"van", "von", "der", "den", "del", "della", "des", "los", "las", "bin", "ibn"}
NOT_NAME_POS = {"VERB", "AUX", "ADJ", "ADV", "ADP", "DET", "PRON", "CCONJ", "SCONJ", "PART"}
NOT_NAME_ENTS = {"GPE", "LOC", "FAC", "DATE", "TIME", "EVENT", "LANGUAGE", "MONEY"}
NOT_NAME_ENTS |= {"QUANTITY", "PERCENT", "CARDINAL", "ORDINAL"}
TYPO_NOT_NAME_ENTS = NOT_NAME_ENTS - {"GPE", "LOC", "FAC"}


def wordlike(word: str) -> bool:
    """Letters, perhaps with an apostrophe or hyphen inside ("O'Brien", "Mary-Jane")."""
    return word[:1].isalpha() and all(ch.isalpha() or ch in "'-." for ch in word)


def capitalise(name: str) -> str:
    """A name typed in lower case, as it is written: "angelina" -> "Angelina", "o'brien" too."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"(?<=[-' ])", name))


def _aliases(
    people: Mapping[str, Sequence[str]], places: Sequence[str]
) -> dict[str, list[tuple[str, str]]]:
    """lower-case alias -> [(kind, canonical)], canonical names before aliases."""
    table: dict[str, list[tuple[str, str]]] = {}
    for name in people:
        table.setdefault(name.lower(), []).append((PERSON, name))
    for name, aliases in people.items():
        for alias in aliases:
            entry = (PERSON, name)
            if entry not in table.setdefault(alias.lower(), []):
                table[alias.lower()].append(entry)
    # "Alice" or "Martin" finds "Alice Martin"; a part two people share ("Jones") finds
    # both, and the assistant asks which one.
    parts: dict[str, list[str]] = {}
    for name in people:
        words = name.split()
        if len(words) > 1:
            for part in words:
                if len(part) >= 3 and part.lower() not in NAME_PARTICLES:
                    parts.setdefault(part.lower(), []).append(name)
    for part, names in parts.items():
        if part not in table:
            table[part] = [(PERSON, n) for n in dict.fromkeys(names)]
    for place in places:
        table.setdefault(place.lower(), []).append((PLACE, place))
    return table


def build_known(
    engine: Engine, people: Mapping[str, Sequence[str]], places: Sequence[str]
) -> Known:
    """The PhraseMatcher of people (name -> aliases) and places; cheap, spaCy is not reloaded."""
    from spacy.matcher import PhraseMatcher

    matcher = PhraseMatcher(engine.nlp.vocab, attr="LOWER")
    table = _aliases(people, places)
    keys = list(table)
    for key, doc in zip(keys, engine.nlp.tokenizer.pipe(keys), strict=True):
        matcher.add(key, [doc])
    # single-token person aliases, for typo tolerance and "alices" possessives
    people_keys = [k for k, v in table.items() if any(e[0] == PERSON for e in v)]
    singles = {k: table[k] for k in people_keys if " " not in k}
    parts = (
        frozenset(part for name in people if " " in name for part in name.lower().split())
        - {name.lower() for name in people}
        - {a.lower() for al in people.values() for a in al}
    )
    return Known(matcher, table, singles, frozenset(people_keys), parts)


def read_known(st: Parse, engine: Engine) -> tuple[list[Mention], list[str]]:
    """Enrolled people and the library's places, by name or alias, in any case."""
    matcher, table, singles = st.known.matcher, st.known.table, st.known.singles
    doc, lex = st.doc, engine.lex
    spans = sorted(
        ((s, e, engine.nlp.vocab.strings[k]) for k, s, e in matcher(doc)),
        key=lambda m: (-(m[1] - m[0]), m[0]),
    )
    mentions: list[Mention] = []
    places: list[tuple[int, str]] = []
    taken = [False] * len(doc)
    for s, e, key in spans:
        if any(taken[s:e]) or not st.free(s, e):
            continue
        entries = table[key]
        kind, name = _person_or_place(st, lex, s, entries)
        if not _is_name_here(st, lex, s, e, kind, engine.statistical):
            continue
        if kind == PERSON and key in st.known.parts and _beside_other_name(st, lex, s, e):
            continue  # "Jennifer Smith" is not Alexandra Smith: someone else's full name
        taken[s:e] = [True] * (e - s)
        if kind == PERSON:
            st.claim(s, e, "person")
            _claim_possessive(st, lex, e)
            choices = tuple(dict.fromkeys(n for k, n in entries if k == PERSON))
            if len(choices) > 1:  # "Jones": Carol Jones or Dave Jones? The assistant asks.
                mentions.append(Mention(s, e, None, doc[s:e].text, choices=choices))
            else:
                mentions.append(Mention(s, e, name, doc[s:e].text))
        else:
            st.claim(s, e, "place")
            st.absorb_before(s, lex.place_join)
            places.append((s, name))
    # "alices birthday": a possessive written without the apostrophe
    for i, tok in enumerate(doc):
        word = st.tokens[i]
        stem = word[:-1]
        if st.claims[i] is None and word.endswith("s") and stem in singles and len(stem) >= 3:
            # never for plurals of words: "roses", "bills", "summers"
            words_too = {word, stem, tok.lemma_.lower()} & (
                lex.english | lex.name_words | lex.all_words
            )
            if not words_too and _is_name_here(st, lex, i, i + 1, PERSON, engine.statistical):
                st.claim(i, i + 1, "person")
                mentions.append(Mention(i, i + 1, singles[stem][0][1], tok.text))
    return mentions, [name for _, name in sorted(places)]


def _beside_other_name(st: Parse, lex: Lexicon, s: int, e: int) -> bool:
    """Whether a capitalised unknown word stands right before or after doc[s:e]."""
    doc = st.doc
    for k in (s - 1, e):
        if not (0 <= k < len(doc) and st.claims[k] is None):
            continue
        tok = doc[k]
        named = tok.is_title and tok.is_alpha and st.tokens[k] not in st.known.table
        if named and not _in_dictionary(tok, lex):
            return True
    return False


def _person_or_place(st: Parse, lex: Lexicon, s: int, entries: list[tuple[str, str]]):
    """For a word that names both a person and a place: "in Georgia" is the place."""
    kinds = {kind for kind, _ in entries}
    if len(kinds) > 1:
        want = PLACE if lex.place_join.before(st.tokens, s) else PERSON
        return next(e for e in entries if e[0] == want)
    return entries[0]


def _claim_possessive(st: Parse, lex: Lexicon, e: int) -> None:
    if e < len(st.tokens) and st.tokens[e] in lex.possessive and st.claims[e] is None:
        st.claim(e, e + 1, "join")


def _is_name_here(st: Parse, lex: Lexicon, s: int, e: int, kind: str, tagged: bool) -> bool:
    """Whether a known name that is also a word ("rose", "nice") is meant as the name here."""
    doc, tokens = st.doc, st.tokens
    word = tokens[s]
    common = word in lex.english or word in lex.name_words or word in lex.months
    common = common or word in lex.seasons or word in lex.all_words
    if e - s > 1 or not common or (kind == PERSON and word in lex.self_words):
        return True  # someone enrolled as "me" is meant wherever the user says "me"
    tok = doc[s]
    prev = doc[s - 1] if s > 0 else None
    # "no Bob", "either May": these stand before names; "a rose", "red rose" do not
    named_before = kind == PERSON and (
        lex.person_none.before(tokens, s)
        or lex.person_any.before(tokens, s)
        or lex.only_before.before(tokens, s)
    )
    modified = prev is not None and (
        prev.lower_ in DETERMINERS or prev.pos_ in ("ADJ", "NUM", "DET")
    )
    if modified and not named_before:
        return False
    if e < len(doc) and tokens[e] in lex.possessive:
        return True  # "rose's birthday"
    before_noun = e < len(doc) and doc[e].pos_ == "NOUN" and tokens[e] not in lex.all_words
    if kind == PERSON:
        if before_noun:
            return False  # "rose garden", "bill payment": the word modifies a noun
        joined = lex.person_join.before(tokens, s) or lex.person_any.before(tokens, s)
        joined = joined or lex.person_none.before(tokens, s) or lex.only_before.before(tokens, s)
    else:
        joined = lex.place_join.before(tokens, s) and not before_noun  # not "in nice weather"
    if joined or prev is not None and prev.lower_ in (",", "&"):
        return True  # "with rose", "or may", "in nice"
    if tok.is_title:  # "Rose in the garden", but not "May I see ..."
        return s != st.first_content() or tokens[e : e + 1] not in (["i"], ["we"], ["you"])
    if tagged and tok.pos_ in NOT_NAME_POS:
        return False  # "i hope", "may be", "nice view"
    if kind == PLACE and word in lex.modifiers:
        return False  # "nice sunset": a lower-case adjective is not the town of Nice
    return (
        prev is None or s == st.first_content() or st.claims[s - 1] in ("person", "place", "filler")
    )


def read_typos(st: Parse, engine: Engine, settings: Settings) -> list[Mention]:
    """Enrolled names misspelled by a letter or two ("Alcie"), never ordinary words."""
    singles = st.known.singles
    lex, cfg = engine.lex, settings
    found = []
    for i, tok in enumerate(st.doc):
        word = st.tokens[i]
        if st.claims[i] is not None or not tok.is_alpha or len(word) < cfg.name_typo_min_len - 1:
            continue
        if word in lex.english or tok.lemma_.lower() in lex.english or word in lex.all_words:
            continue
        # the model's GPE on a word no dictionary holds is a guess ("Haringtn"), not a place
        if tok.is_stop or word in lex.name_words or tok.ent_type_ in TYPO_NOT_NAME_ENTS:
            continue
        best: dict[str, int] = {}
        for alias, entries in singles.items():
            if len(alias) < cfg.name_typo_min_len:
                continue
            limit = 2 if len(alias) >= cfg.name_typo2_min_len else 1
            d = OSA.distance(word, alias, score_cutoff=limit)
            if d <= limit:
                for kind, name in entries:
                    if kind == PERSON:
                        best[name] = min(d, best.get(name, d))
        if not best:
            continue
        top = min(best.values())
        winners = [n for n, d in best.items() if d == top]
        if len(winners) == 1 and _is_name_here(st, lex, i, i + 1, PERSON, False):
            # "Alexandr Smith": the rest of a full name goes with its misspelt first name
            rest = tuple(winners[0].lower().split()[1:])
            end = (
                i + 1 + len(rest)
                if rest and tuple(st.tokens[i + 1 : i + 1 + len(rest)]) == rest
                else i + 1
            )
            st.claim(i, end, "person")
            _claim_possessive(st, lex, end)
            found.append(Mention(i, end, winners[0], st.doc[i:end].text))
    return found


def close_names(
    word: str, people: Mapping[str, Sequence[str]], similarity: float = 0.6
) -> list[str]:
    """Known people whose name, a part of it or an alias is close to `word`: "did you mean?".

    Looser than the typo reading (`read_typos`), which must be sure; this only asks.
    """
    low = " ".join(word.lower().split())
    scored: dict[str, float] = {}
    for name, aliases in people.items():
        forms = {name.lower(), *(a.lower() for a in aliases)}
        forms |= {part.lower() for part in name.split() if len(part) >= 3}
        score = max(OSA.normalized_similarity(low, form) for form in forms)
        if score >= similarity:
            scored[name] = score
    return sorted(scored, key=lambda n: (-scored[n], n))


def read_unknown(st: Parse, engine: Engine) -> list[Mention]:
    """Names of people nobody has been given: the assistant will ask who they are."""
    if not engine.statistical:
        return []
    doc, lex = st.doc, engine.lex
    found: list[Mention] = []
    for ent in doc.ents:
        if ent.label_ == "PERSON":
            _maybe_unknown(st, lex, ent.start, ent.end, found)
    # When Every Word Is Capitalised, capitals say nothing about names; "Find Carol" is
    # too short to be written that way on purpose.
    alpha = [t for t in doc if t.is_alpha]
    if len(alpha) < 3 or any(t.is_lower for t in alpha[1:]):
        _read_capitalised(st, lex, found)
        _read_chained(st, lex, found)
    _read_lower_case(st, lex, found)
    return found


def _read_capitalised(st: Parse, lex: Lexicon, found: list[Mention]) -> None:
    """A capitalised word no dictionary knows, standing where a name stands ("of Angelina").

    The small model misses many names ("Find Carol at the park") and calls unfamiliar ones
    places or common nouns ("photos of Angelina" is NOUN and GPE to it), so its tags only
    help here; the word's position and the dictionary decide.
    """
    doc, tokens = st.doc, st.tokens
    initial = next((k for k, t in enumerate(doc) if not t.is_punct), 0)
    i = 0
    while i < len(doc):
        tok = doc[i]
        if not (st.claims[i] is None and tok.is_title and _name_like(tok, lex)):
            i += 1
            continue
        j = i + 1
        while (
            j < len(doc)
            and j - i < 3
            and st.claims[j] is None
            and doc[j].is_title
            and _name_like(doc[j], lex)
        ):
            j += 1
        owns = j < len(doc) and tokens[j] in lex.possessive
        unfamiliar = not any(_in_dictionary(t, lex) for t in doc[i:j])
        if i == initial:
            # a capitalised first word is only a capital ("Beach photos"), unless it owns
            # something ("Carol's wedding") or an unknown word opens "... at the beach"
            slot = owns or (unfamiliar and j < len(doc) and tokens[j] in lex.name_then)
        else:
            # after "of", "with", "and", "or", "without", "only", "show me", a name, a comma
            slot = owns or _after_person_word(st, lex, i)
            slot = slot or st.claims[i - 1] in ("person", "filler", "only")
            slot = slot or tokens[i - 1] in (",", "&")
        labels = {t.ent_type_ for t in doc[i:j]} & NOT_NAME_ENTS
        if unfamiliar:
            # a word no dictionary holds is no famous place: the model's GPE is a guess
            labels -= {"GPE", "LOC", "FAC"}
        if slot and not labels:
            _maybe_unknown(st, lex, i, j, found)
        i = j


def _read_chained(st: Parse, lex: Lexicon, found: list[Mention]) -> None:
    """A capitalised word joined by "and", "or" or a comma to a name is one: "Kit and Rose"."""
    doc, tokens = st.doc, st.tokens
    chain = ("and", "or", "nor", "&", ",")

    def joined(i: int, step: int) -> bool:
        k = i + 2 * step
        return (
            0 <= k < len(doc)
            and tokens[i + step] in chain
            and st.claims[i + step] is None
            and st.claims[k] == "person"
        )

    grew = True
    while grew:  # each pass may name the next word of "Kit, Rose and Ann"
        grew = False
        for i, tok in enumerate(doc):
            if st.claims[i] is not None or not tok.is_title or not tok.is_alpha:
                continue
            # a sentence's first capital says nothing, unless the model calls it a name
            before = joined(i, 1) and (i > 0 or tok.pos_ == "PROPN")
            if not (joined(i, -1) or before):
                continue
            nxt = doc[i + 1] if i + 1 < len(doc) else None
            if nxt is not None and nxt.pos_ == "NOUN" and nxt.lower_ not in lex.all_words:
                continue  # "Alice and Rose Garden": the word modifies a noun
            if tok.ent_type_ in NOT_NAME_ENTS:
                continue
            before_count = len(found)
            _maybe_unknown(st, lex, i, i + 1, found)
            grew = grew or len(found) > before_count


def _read_lower_case(st: Parse, lex: Lexicon, found: list[Mention]) -> None:
    """A lower-case word no dictionary knows, right after "of"/"with": "photos of angelina".

    Only where the person word itself follows what the parser already read ("photos of",
    "Alice and"), not in "a cup of matcha"; abbreviations without a vowel ("bbq", "nyc")
    and tokens that modify a following noun stay description.
    """
    doc, tokens = st.doc, st.tokens
    for i, tok in enumerate(doc):
        word = tokens[i]
        if st.claims[i] is not None or not tok.is_lower or not tok.is_alpha or tok.is_stop:
            continue
        if len(word) < 3 or not set(word) & set("aeiou") or _in_dictionary(tok, lex):
            continue
        if not _after_person_word(st, lex, i, settled=True):
            continue
        nxt = doc[i + 1] if i + 1 < len(doc) else None
        if nxt is not None and nxt.pos_ in ("NOUN", "PROPN") and nxt.lower_ not in lex.all_words:
            continue
        if word in lex.name_words or tok.ent_type_ in NOT_NAME_ENTS - {"GPE", "LOC", "FAC"}:
            continue
        before_count = len(found)
        _maybe_unknown(st, lex, i, i + 1, found, lower_ok=True)
        if len(found) > before_count:
            found[-1].text = capitalise(found[-1].text)


def _after_person_word(st: Parse, lex: Lexicon, i: int, settled: bool = False) -> bool:
    """Whether a word that stands before people ("of", "with", "or", "only") precedes `i`.

    With `settled`, the person word must itself open the query or follow a token
    another step has read ("photos of", "Alice and"): "a cup of" is no such place.
    """
    for phrases in (lex.person_join, lex.person_any, lex.person_none, lex.only_before):
        n = phrases.before(st.tokens, i)
        if n and (not settled or i - n == 0 or st.claims[i - n - 1] is not None):
            return True
    return False


def _in_dictionary(tok, lex: Lexicon) -> bool:
    """Whether the token is an English word, in any inflection ("Dogs", "Sunsets")."""
    word = tok.lower_
    forms = {word, tok.lemma_.lower()}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    return bool(forms & lex.english) or word in lex.all_words


def _name_like(tok, lex: Lexicon) -> bool:
    """A proper noun to the model, or a word no dictionary holds ("Angelina")."""
    return tok.pos_ == "PROPN" or (wordlike(tok.text) and not _in_dictionary(tok, lex))


def _maybe_unknown(
    st: Parse, lex: Lexicon, s: int, e: int, found: list, lower_ok: bool = False
) -> None:
    """Record doc[s:e] as an unknown name when it still looks like one once trimmed."""
    doc = st.doc
    while s < e and (
        st.claims[s] is not None or not (lower_ok or doc[s].is_title) or doc[s].is_stop
    ):
        s += 1
    while e > s and (st.claims[e - 1] is not None or doc[e - 1].is_punct):
        e -= 1
    if s >= e or not st.free(s, e):
        return
    tokens = st.tokens[s:e]
    if " ".join(tokens) in st.known.table:
        return  # a known name, read as an ordinary word here ("no rose")
    if " ".join(tokens) in lex.not_names or any(w in lex.not_names for w in tokens):
        return
    if any(w in lex.place_words or w in lex.months or w in lex.seasons for w in tokens):
        return
    if any(w in lex.all_words or not wordlike(w) for w in tokens):
        return
    st.claim(s, e, "person")
    _claim_possessive(st, lex, e)
    found.append(Mention(s, e, None, doc[s:e].text))


def assign_roles(st: Parse, lex: Lexicon, mentions: list[Mention]) -> bool:
    """Read "and / or / without / only" around each name; claim those tokens. True if only."""
    tokens = st.tokens
    chain = {"and", "or", "nor", ",", "&", "and/or"}
    only = False
    runs = []
    for m in mentions:
        run, k = [], m.start
        while True:
            for kind, phrases in (
                ("none", lex.person_none),
                ("only", lex.only_before),
                ("any", lex.person_any),
                ("join", lex.person_join),
            ):
                n = phrases.before(tokens, k)
                if n and all(c in (None, "filler") for c in st.claims[k - n : k]):
                    run.append((kind, tokens[k - n : k]))
                    k -= n
                    break
            else:
                if k > 0 and tokens[k - 1] == "," and st.claims[k - 1] is None:
                    run.append(("join", [","]))
                    k -= 1
                    continue
                break
        runs.append((k, run))
    prev: Mention | None = None
    for idx, (m, (k, run)) in enumerate(zip(mentions, runs, strict=True)):
        kinds = {kind for kind, _ in run}
        only_chain = all(w in chain for _, ws in run for w in ws)
        after_prev = prev is not None and all(c is not None for c in st.claims[prev.end : k])
        if "none" in kinds or (run and only_chain and after_prev and prev.role == "none"):
            m.role = "none"
        elif "any" in kinds or any(w == "or" for _, ws in run for w in ws):
            m.role = "any"
            if prev is not None and after_prev and prev.role == "all":
                prev.role = "any"  # "Alice or Bob": the first name is optional too
        only = only or "only" in kinds
        for kk in range(k, m.start):
            if st.claims[kk] is None:
                st.claims[kk] = "join"
        # "Alice alone", "Alice and Bob only"
        end = m.end + (m.end < len(tokens) and st.claims[m.end] == "join")
        n = lex.only_after.at(tokens, end)
        nxt_is_name = idx + 1 < len(mentions) and mentions[idx + 1].start == end + n
        if n and st.free(end, end + n) and not nxt_is_name:
            st.claim(end, end + n, "only")
            only = True
        prev = m
    return only
