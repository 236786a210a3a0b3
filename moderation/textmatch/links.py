"""Link finding: :func:`find_links` finds URLs, hosts and e-mail addresses in comments.

Comments with links are held for review, so this errs towards finding links,
including disguised ones (look-alike letters, spelled or bracketed dots), while
leaving ordinary prose with a dot in it ("the war.It was", "3.5 million") alone;
:func:`find_links` says exactly what counts.
"""

from __future__ import annotations

import re
import unicodedata

from moderation.textmatch.normalization import (
    LOOKALIKES,
    WORD,
    WORD_CHAR,
    delete_invisible,
    translate_non_ascii,
)

__all__ = ["find_links"]

# find_links returns slices of its input, so its mapping must keep positions: it is
# strictly one character to one. It is the normaliser's look-alike table plus the
# ideographic full stops, which browsers treat as dots in host names.
_LINK_MAPPING: dict[int, str | None] = {ord(char): latin for char, latin in LOOKALIKES.items()}
_LINK_MAPPING.update({0x3002: ".", 0xFF61: "."})
_LINK_TABLE: dict[int, str | None] = str.maketrans(_LINK_MAPPING)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# TLDs that are not common words: a bare "name.tld" is a link.
_STRONG_TLDS = _words(
    """
    com net org edu gov mil int info biz io co ly tv cc ws fm gl gd su uk eu us
    de fr nl es pt ch at se dk fi pl cz sk hu ro bg gr ru ua by kz cn jp kr tw hk sg
    my th vn ph au nz ca mx br ar cl pe ve za ng ke eg ma tr il ir pk bd lk ie lu li
    xyz top icu tk ml ga cf gq buzz wang vip bid loan men date review stream trade
    mobi asia tel travel museum aero coop jobs onion
    """
)
# TLDs that are everyday words ("the war.it was", "fine.so what"): a bare name with
# one of these is a link only with a path or port, a known second level
# ("bbc.co.in"), an e-mail user, or as a well-known short host.
_WEAK_TLDS = _words(
    """
    it in is me to be by do no so go am as an hi id ai la
    app dev pro blog news live shop store site online space website page link click
    fun win one art life world today cool club tech name
    """
)
_SECOND_LEVELS = frozenset({"co", "com", "org", "net", "gov", "edu", "ac", "ltd", "plc"})
_SHORT_HOSTS = frozenset(
    {"youtu.be", "t.me", "wa.me", "fb.me", "redd.it", "dlvr.it", "lnkd.in", "amzn.to",
     "instagr.am", "msft.it"}
)  # fmt: skip
# A spelled "dot" is also ordinary English ("the dot com bubble").
_DOT_STOPWORDS = _words(
    """
    the a an this that these those his her their our my your its of in on at to for
    from by with and or but was is are be been first early late old big new no any
    every some
    """
)
_DOT_COM_PHRASES = re.compile(r"\s+(?:bubble|boom|bust|era|crash|compan|startup|mania|days)", re.I)

_DOT = r"(?:\.|[ \t]+\.[ \t]+|\s*[\[({<]\s*(?:\.|dot)\s*[\])}>]\s*|\s+dot\s+)"
_SPELLED_DOT = re.compile(r"\sdot\s", re.I)
_LABEL = r"[^\W_][\w-]*+"
_TAIL = r"(?::\d{1,5}(?![\w]))?(?:[/?#][^\s<>\"]*)?"
_LINK = re.compile(
    rf"""
    (?<![\w@/+-])
    (?:
        (?P<url>(?:https?|ftps?|sftp|hxxps?)://[^\s<>"]+)
      | (?P<www>www\d{{0,3}}{_DOT}(?:{_LABEL}{_DOT})*{_LABEL}{_TAIL})
      | (?P<bare>
            (?P<user>[\w.+-]++@)?
            (?:{_LABEL}{_DOT})*
            (?P<sld>{_LABEL}){_DOT}
            (?P<tld>(?-i:[a-z]{{2,}}+|[A-Z]{{2,}}+))(?!{WORD_CHAR})
            (?P<tail>{_TAIL})
        )
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Every link form contains one of these: a dot followed by a letter or digit, a
# spaced or bracketed dot, "@", "://" or a spelled "dot". They all begin with a
# literal, which lets the regex engine skip straight to them; the link pattern
# is then tried only from the start of the word in front of each (see
# _link_start), instead of at every position of the comment.
_LINK_CANDIDATE = re.compile(
    r"\.(?:(?=[^\W_])|(?<=[ \t]\.)(?=[ \t])|(?=\s*[\])}>]))"
    r"|@(?<=[\w+-]@)|://(?<=[^\W_]://)"
    r"|d(?i:ot)(?<=[\s\[({<]...)(?![^\W_])"
    r"|D(?i:ot)(?<=[\s\[({<]...)(?![^\W_])"
)
_BEFORE_DOT = " \t\r\n[({<"
_HOST_CHAIN = re.compile(rf"(?:{_LABEL}{_DOT})*+", re.IGNORECASE)
_TRAILING_PUNCT = ".,;:!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _trim(link: str) -> str:
    # Sentence punctuation after a link is not part of it; a closing bracket is,
    # when the link opened it (Wikipedia's "Foo_(bar)").
    while link:
        last = link[-1]
        unbalanced = last in _CLOSERS and link.count(last) > link.count(_CLOSERS[last])
        if last in _TRAILING_PUNCT or unbalanced:
            link = link[:-1]
        else:
            break
    return link


def _spelled_dot_in_prose(match: re.Match[str]) -> bool:
    """True for "the dot com bubble": a spelled "dot" that is English, not a link."""
    bare = match.group("bare")
    if not _SPELLED_DOT.search(bare):
        return False
    first = WORD.match(bare)
    return (
        first is None
        or first.group().lower() in _DOT_STOPWORDS
        or _DOT_COM_PHRASES.match(match.string, match.end()) is not None
    )


def _host_is_link(match: re.Match[str]) -> bool:
    tld = match.group("tld").lower()
    if tld in _STRONG_TLDS:
        return True
    if tld not in _WEAK_TLDS:
        return False
    sld = match.group("sld").lower()
    return bool(
        match.group("user")
        or _trim(match.group("tail"))
        or sld in _SECOND_LEVELS
        or f"{sld}.{tld}" in _SHORT_HOSTS
    )


def _link_start(text: str, candidate: int) -> int:
    start = candidate
    while start > 0 and text[start - 1] in _BEFORE_DOT:
        start -= 1
    # Not back over dots: the first dot of a host or of an e-mail user name is
    # itself the first candidate, so the word before it is where the link starts.
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_+-"):
        start -= 1
    while start < candidate and not text[start].isalnum():
        start += 1
    return start


def find_links(text: str) -> list[str]:
    """Return the links in ``text``, in order, as substrings of its cleaned form.

    The cleaned form is ``text`` after NFKC with invisible format characters
    removed; matching additionally folds look-alike letters, so "ехаmple.соm" in
    Cyrillic is found. Found are: ``http(s)``/``ftp``/``sftp`` URLs (also defanged
    ``hxxp``); ``www.`` hosts with any TLD; bare domains with a known TLD
    ("example.com", "bit.ly/x", "news.co.uk"); e-mail addresses (deliberately: an
    address is contact/spam the same way a link is); and all of these with the dot
    written as ``[.]``, ``(.)``, ``[dot]``, `` dot `` or `` . ``.

    Not links: a TLD in mixed case ("the war.It was" is a sentence); a TLD that is
    also an everyday word ("it", "in", "me", "news"...) unless a path or port
    follows, it sits under a second level such as ``co``, it is part of an e-mail
    address, or the host is a well-known short host ("youtu.be"); a spelled "dot"
    after a stop word ("the dot com bubble").
    """
    cleaned = delete_invisible(unicodedata.normalize("NFKC", text))
    # Same length as cleaned (the map is one-to-one), so spans carry over.
    mapped = translate_non_ascii(cleaned, _LINK_TABLE)
    found: list[str] = []
    position = 0
    while (candidate := _LINK_CANDIDATE.search(mapped, position)) is not None:
        position = candidate.end()
        start = _link_start(mapped, candidate.start())
        if start == candidate.start():
            continue  # nothing in front of the dot, "@" or "://" to be a host or scheme
        match = _LINK.match(mapped, start)
        if match is None:
            # Every later dot of this host would fail the same way (the pattern can
            # skip leading labels itself); retrying from each made "a.a.a.a..."
            # quadratic.
            chain = _HOST_CHAIN.match(mapped, start)
            position = max(position, chain.end() if chain is not None else 0)
            continue
        if match.group("bare") is not None:
            if _spelled_dot_in_prose(match):
                continue  # the next word may still start a link
            if not _host_is_link(match):
                position = max(position, match.end())
                continue
        link = _trim(cleaned[match.start() : match.end()])
        if link:
            found.append(link)
        position = max(position, match.end())
    return found
