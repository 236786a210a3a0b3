"""Backtesting and threshold suggestions (moderation.backtest)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from moderation.backtest import Case, backtest, decide_many, suggest
from moderation.domain.engine import Context, Policy, compile_policy, decide
from moderation.domain.guidelines import Guidelines, Override, Rule, RuleOverride
from moderation.domain.models import Action, ArticleMode, AuthorStatus
from moderation.http.guidelines_document import GuidelinesDocument, load_toml
from moderation.textmatch import prefilter

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, H, R = Action.approve, Action.hold, Action.reject


def policy_from(document: dict[str, Any], version: int = 1) -> Policy:
    return compile_policy(GuidelinesDocument.model_validate(document).to_domain(version))


def case(
    comment_id: str,
    scores: dict[str, float] | None,
    decided: Action,
    moderator: Action | None = None,
    *,
    text: str | None = "fine",
    classifier: str = "detoxify:unbiased",
    tags: frozenset[str] = frozenset(),
    mode: ArticleMode = ArticleMode.auto,
    author: AuthorStatus = AuthorStatus.active,
) -> Case:
    return Case(
        comment_id=comment_id,
        text=text,
        scores=scores,
        classifier=classifier,
        article_tags=tags,
        article_mode=mode,
        author_status=author,
        decided=decided,
        moderator=moderator,
        created_at=T0,
    )


SMALL = {
    "rules": [
        {
            "id": "no-threats",
            "category": "threat",
            "title": "No threats",
            "guideline": "3",
            "hold_at": 0.5,
            "reject_at": 0.8,
        }
    ],
    "banned_terms": ["badword"],
    "suspect_terms": ["vermin"],
    "hold_links": True,
    "overrides": [{"article_tags": ["war"], "rules": [{"id": "no-threats", "hold_at": 0.7}]}],
}


# ------------------------------------------------------------------- hand-computed example


def small_cases() -> list[Case]:
    return [
        # id, scores, stored decision, moderator decision; then the proposed decision
        # (threat: hold at 0.5, reject at 0.8)
        case("c1", {"threat": 0.1}, A, A),  # approve
        case("c2", {"threat": 0.6}, A, R),  # hold
        case("c3", {"threat": 0.9}, H, R),  # reject
        case("c4", {"threat": 0.85}, R, A),  # reject
        case("c5", {"threat": 0.6}, H, tags=frozenset({"war"})),  # approve (war: hold at 0.7)
        case("c6", None, A, A),  # hold: classifier unavailable
        case("c7", {"threat": 0.0}, A, R, text="you badword"),  # reject: banned term
        case("c8", {"threat": 0.2}, H, A, text=None),  # approve: deleted, no term check
    ]


def test_hand_computed_example() -> None:
    result = backtest(policy_from(SMALL), small_cases(), samples=3).to_json()
    assert result["total"] == 8
    # stored -> proposed: c1 A->A, c2 A->H, c3 H->R, c4 R->R, c5 H->A, c6 A->H, c7 A->R, c8 H->A
    assert result["matrix"] == {
        "approve": {"approve": 1, "hold": 2, "reject": 1},
        "hold": {"approve": 2, "hold": 0, "reject": 1},
        "reject": {"approve": 0, "hold": 0, "reject": 1},
    }
    assert result["changed"] == 6  # all but c1 and c4
    assert len(result["samples"]) == 3
    # Round-robin over kinds of change: approve->reject (c7) first, then the next kinds
    # that occur in the order approve->hold (c2), hold->approve (c5).
    assert [(s["comment_id"], s["from"], s["to"]) for s in result["samples"]] == [
        ("c7", "approve", "reject"),
        ("c2", "approve", "hold"),
        ("c5", "hold", "approve"),
    ]
    assert result["samples"][0]["reasons"][0]["code"] == "banned_term"
    assert result["samples"][1]["reasons"][0]["rule"] == "no-threats"
    assert result["samples"][1]["scores"] == {"threat": 0.6}

    moderators = result["moderators"]
    # Moderated: c1 A, c2 R, c3 R, c4 A, c6 A, c7 R, c8 A  -> 7 cases, 3 rejects, 4 approves.
    assert moderators["evidence"] == 7
    proposed = moderators["proposed"]
    # Proposed on those: c1 A, c2 H, c3 R, c4 R, c6 H, c7 R, c8 A.
    # auto_reject: proposed rejects c3, c4, c7; moderators rejected c3, c7 -> precision 2/3;
    # moderators rejected c2, c3, c7 -> recall 2/3.
    assert proposed["auto_reject"]["precision"] == pytest.approx(2 / 3)
    assert proposed["auto_reject"]["recall"] == pytest.approx(2 / 3)
    # auto_approve: proposed approves c1, c8, both approved -> precision 1;
    # moderators approved c1, c4, c6, c8 -> recall 2/4.
    assert proposed["auto_approve"]["precision"] == 1.0
    assert proposed["auto_approve"]["recall"] == 0.5
    # Decided automatically: c1, c3, c4, c7, c8; agree: c1, c3, c7, c8 -> 4/5; held: c2, c6.
    assert proposed["agreement"] == pytest.approx(4 / 5)
    assert proposed["held"] == 2
    stored = moderators["stored"]
    # Stored on those: c1 A, c2 A, c3 H, c4 R, c6 A, c7 A, c8 H.
    # auto_reject: c4 only, moderator approved -> precision 0/1, recall 0/3.
    assert stored["auto_reject"]["precision"] == 0.0
    assert stored["auto_reject"]["recall"] == 0.0
    # auto_approve: c1, c2, c6, c7; approved: c1, c6 -> precision 2/4; recall 2/4.
    assert stored["auto_approve"]["precision"] == 0.5
    assert stored["auto_approve"]["recall"] == 0.5
    # Automatic: c1, c2, c4, c6, c7; agree: c1, c6 -> 2/5; held: c3, c8.
    assert stored["agreement"] == pytest.approx(2 / 5)
    assert stored["held"] == 2
    assert "current" not in result
    json.dumps(result)  # serialisable as it is


def test_current_policy_matrix() -> None:
    earlier = json.loads(json.dumps(SMALL))
    earlier["rules"][0]["hold_at"] = 0.65
    earlier["rules"][0]["reject_at"] = 0.85
    result = backtest(policy_from(SMALL), small_cases(), current=policy_from(earlier)).to_json()
    # Current (hold 0.65, reject 0.85) -> proposed (hold 0.5, reject 0.8): only c2 (0.6)
    # changes, approve -> hold. c4 (0.85) is rejected by both; c5 (war: hold 0.7) by neither.
    assert result["current"]["matrix"] == {
        "approve": {"approve": 3, "hold": 1, "reject": 0},
        "hold": {"approve": 0, "hold": 1, "reject": 0},
        "reject": {"approve": 0, "hold": 0, "reject": 3},
    }
    assert result["current"]["changed"] == 1
    # Current on the moderated cases: c1 A, c2 A, c3 R, c4 R, c6 H, c7 R, c8 A; the
    # moderators: A, R, R, A, A, R, A -> automatic 6, agreeing c1, c3, c7, c8.
    current = result["moderators"]["current"]
    assert current["held"] == 1
    assert current["agreement"] == pytest.approx(4 / 6)
    # The stored -> proposed comparison is unchanged by passing current.
    assert result["changed"] == 6


def test_empty_input() -> None:
    result = backtest(policy_from(SMALL), [], current=policy_from(SMALL)).to_json()
    assert result["total"] == 0
    assert result["changed"] == 0
    assert result["samples"] == []
    assert result["matrix"]["approve"] == {"approve": 0, "hold": 0, "reject": 0}
    assert result["moderators"]["evidence"] == 0
    for side in ("proposed", "stored", "current"):
        stats = result["moderators"][side]
        assert stats["auto_reject"] == {
            "decided": 0,
            "correct": 0,
            "precision": None,
            "recall": None,
        }
        assert stats["agreement"] is None
    assert suggest([], classifier="linear") == []


def test_deleted_text_skips_term_and_link_checks() -> None:
    policy = policy_from(SMALL)
    cases = [
        case("gone", {"threat": 0.1}, R, text=None),
        case("kept", {"threat": 0.1}, R, text="badword at example.com"),
        case("empty", {"threat": 0.1}, R, text=""),
    ]
    assert decide_many(policy, cases) == [A, R, A]
    result = backtest(policy, cases).to_json()
    assert result["matrix"]["reject"] == {"approve": 2, "hold": 0, "reject": 1}


def test_classifier_unavailable_holds_unless_something_rejects() -> None:
    policy = policy_from(SMALL)
    cases = [
        case("u1", None, A),
        case("u2", None, A, text="badword"),
        case("u3", None, A, author=AuthorStatus.banned),
        case("u4", None, R, mode=ArticleMode.premoderate),
    ]
    assert decide_many(policy, cases) == [H, R, R, H]
    result = backtest(policy, cases).to_json()
    assert result["matrix"]["approve"] == {"approve": 0, "hold": 1, "reject": 2}
    sample = next(s for s in result["samples"] if s["comment_id"] == "u1")
    assert sample["scores"] is None
    assert [r["code"] for r in sample["reasons"]] == ["classifier_unavailable"]


def test_samples_are_capped_and_spread() -> None:
    policy = policy_from(SMALL)
    cases = [case(f"h{i}", {"threat": 0.95}, A) for i in range(50)]
    cases += [case(f"a{i}", {"threat": 0.6}, A) for i in range(50)]
    result = backtest(policy, cases, samples=4).to_json()
    assert result["changed"] == 100
    kinds = [(s["from"], s["to"]) for s in result["samples"]]
    assert kinds == [("approve", "reject"), ("approve", "hold")] * 2
    assert backtest(policy, cases, samples=0).to_json()["samples"] == []


# ---------------------------------------------------------------- equivalence with decide

PROSE = (
    "the war was terrible and the soldiers were shot while retreating "
    "I think this article is good but the government lied again about the army "
    "what the hell damn crap news report says civilians "
)
WORDS = PROSE.split()
TERM_VARIANTS = [
    "vermin",
    "VERMIN",
    "v3rm1n",
    "veeeermin",
    "v e r m i n",
    "v.e.r.m.i.n",
    "ver\u200bmin",
    "\u0455cum",  # Cyrillic look-alike
    "scum!",
    "$cum",
    "sсum",
    "scums",
    "subhuman",
    "sub-human",
    "white power",
    "#whitepower",
    "white!power",
    "wh1te p0wer",
    "badword",
    "b@dw0rd",
    "baadword",
    "baaadword",
    "1488",
    "14 88",
    "i1488",
    "gook",
    "goooook",
    "gok",
    "kike",
    "k1ke",
    "kikes",
    "fäggot",
    "ﬀaggot",
    "ｆａｇｇｏｔ",
    "rétard",
    "lynch",
    "LYNCHING",
    "\u00e9xterminate",
    "a$$",
    "ass",
    "asssss",
    "as",
    "whore",
    "wh0re",
    "w-h-o-r-e",
]
LINK_VARIANTS = [
    "example.com",
    "Example.COM",
    "www.test.it",
    "WWW.x.y",
    "wWw123.x9",
    "www1.1",
    "http://a",
    "hxxps://x.y/z",
    "bit.ly/x",
    "news.co.uk",
    "the war.It was",
    "fine.so what",
    "war.it",
    "war.it/path",
    "3.5 million",
    "U.S. army",
    "e.g. this",
    "mail me: john@mail.com",
    "foo [dot] com",
    "foo (.) org",
    "foo dot com",
    "the dot com bubble",
    "foo . com",
    "foo\t.\tnet",
    "youtu.be",
    "ехаmple.соm",  # Cyrillic
    "example\uff0ecom",
    "x\u3002com",
    "ex\u200bample.com",
    "ftp://files",
    "anecdote.",
    "end.Next",
    "end.NEXT",
    "(see.it)",
    "[.]",
    "a.b",
    "www",
    "x.io",
    "x. io",
    "\u201cexample.com\u201d",
    "x.c\u0301om",
    "\u4e2d\u6587.com",
    "\u0436.org",
    "foo(\u3000.\u3000)com",
    "foo\u00a0dot\u00a0com",
    "w\u0131w.x",
    "\u03bfk.com",  # Greek omicron
    "caf\u00e9.fr",
    "x\u2014y.net",
]
FILLERS = ["!", "?", ".", ",", "...", " - ", "\n", "\x00", "“quoted”", "😀", "3", "45s", "_", "@"]
TAGS = ["war", "war crimes", "conflict", "military", "sports", "politics", "culture"]
CLASSIFIERS = ["linear", "detoxify:unbiased", "detoxify:original", "detoxify", "custom"]
ALL_CATEGORIES = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
]


def random_text(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return ""
    pieces: list[str] = []
    for _ in range(rng.randint(1, 14)):
        kind = rng.random()
        if kind < 0.8:
            pieces.append(rng.choice(WORDS))
        elif kind < 0.86:
            pieces.append(rng.choice(TERM_VARIANTS))
        elif kind < 0.92:
            pieces.append(rng.choice(LINK_VARIANTS))
        else:
            pieces.append(rng.choice(FILLERS))
    joiner = rng.choice([" ", " ", " ", "", "\n", "."])
    return joiner.join(pieces)


def random_scores(rng: random.Random, classifier: str) -> dict[str, float] | None:
    if rng.random() < 0.08:
        return None
    if classifier == "linear":
        return {"toxicity": rng.choice([rng.random(), 0.9, 0.97, 1.0])}
    chosen = [c for c in ALL_CATEGORIES if rng.random() < 0.6]
    # Mostly low, as real scores are, with exact threshold values now and then.
    return {c: rng.choice([rng.random() ** 6] * 6 + [rng.random(), 0.5, 0.85]) for c in chosen}


def random_case(rng: random.Random, index: int) -> Case:
    classifier = rng.choice(CLASSIFIERS)
    return Case(
        comment_id=f"c{index}",
        text=random_text(rng),
        scores=random_scores(rng, classifier),
        classifier=classifier,
        article_tags=frozenset(rng.sample(TAGS, rng.randint(0, 2))),
        article_mode=rng.choice(
            [ArticleMode.auto] * 6 + [ArticleMode.premoderate, ArticleMode.closed]
        ),
        author_status=rng.choice(
            [AuthorStatus.active] * 8 + [AuthorStatus.premoderated, AuthorStatus.banned]
        ),
        decided=rng.choice([A, H, R]),
        moderator=rng.choice([None, None, A, R]),
        created_at=T0 + timedelta(seconds=index),
    )


def random_policy(rng: random.Random) -> Policy:
    document = load_toml(ROOT / "guidelines" / "default.toml").to_json()
    for rule in document["rules"]:
        hold = rng.choice([None, round(rng.uniform(0.3, 1.0), 2)])
        reject = rng.choice([None, round(rng.uniform(hold or 0.0, 1.0), 2)])
        rule["hold_at"], rule["reject_at"] = hold, reject
        if rng.random() < 0.4:
            rule["classifiers"] = {
                rng.choice(["linear", "detoxify", "detoxify:unbiased"]): {
                    "hold_at": rng.choice([None, 0.3, 0.6]),
                    **({"reject_at": rng.choice([None, 0.95])} if rng.random() < 0.5 else {}),
                }
            }
    document["overrides"] = [
        {
            "article_tags": rng.sample(TAGS, rng.randint(1, 3)),
            "rules": [
                {"id": r["id"], "hold_at": rng.choice([None, 0.1, 0.6])}
                for r in rng.sample(document["rules"], 2)
            ],
        }
        for _ in range(rng.randint(0, 3))
    ]
    document["hold_links"] = rng.random() < 0.8
    document["banned_terms"] = rng.sample(["badword", "gook", "kike", "white power", "1488"], 3)
    document["suspect_terms"] = rng.sample(
        ["vermin", "scum", "subhuman", "exterminate", "lynch", "whore", "a$$", "retard", "fag"],
        4,
    )
    try:
        return policy_from(document)
    except ValueError:  # hold above reject after an override: draw another one
        return random_policy(rng)


def engine_action(policy: Policy, item: Case) -> Action:
    context = Context(item.article_mode, item.article_tags, item.author_status)
    return decide(policy, item.text or "", item.scores, item.classifier, context).action


@pytest.mark.parametrize("seed", range(6))
def test_same_actions_as_the_engine(seed: int) -> None:
    rng = random.Random(seed)
    policy = random_policy(rng)
    cases = [random_case(rng, i) for i in range(700)]
    fast = decide_many(policy, cases)
    slow = [engine_action(policy, item) for item in cases]
    mismatches = [
        (c.text, c.scores, c.classifier, f, s)
        for c, f, s in zip(cases, fast, slow, strict=True)
        if f != s
    ]
    assert not mismatches[:5]
    # The aggregate agrees too.
    result = backtest(policy, cases).to_json()
    for source in (A, H, R):
        for target in (A, H, R):
            expected = sum(
                1 for c, s in zip(cases, slow, strict=True) if c.decided is source and s is target
            )
            assert result["matrix"][source.value][target.value] == expected


def test_chunked_text_checks_give_the_same_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(42)
    policy = random_policy(rng)
    cases = [random_case(rng, i) for i in range(300)]
    monkeypatch.setattr(prefilter, "_CHUNK", 7)  # many chunks, a short last one
    assert decide_many(policy, cases) == [engine_action(policy, c) for c in cases]


def test_same_actions_as_the_engine_on_default_guidelines() -> None:
    rng = random.Random(99)
    policy = compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(1))
    cases = [random_case(rng, i) for i in range(1500)]
    assert decide_many(policy, cases) == [engine_action(policy, c) for c in cases]


def test_duplicate_rule_ids_and_overrides_match_the_engine() -> None:
    # Validation refuses duplicate ids, but the engine still defines what they mean.
    rules = (
        Rule("x", "threat", "Threats", "3", 0.5, 0.9),
        Rule("x", "insult", "Insults", "4", 0.6, None),
    )
    guidelines = Guidelines(
        rules=rules,
        overrides=(Override(article_tags=("war",), rules=(RuleOverride(id="x", hold_at=0.1),)),),
    )
    policy = compile_policy(guidelines)
    rng = random.Random(3)
    cases = [
        case(
            f"d{i}",
            {"threat": rng.random(), "insult": rng.random()},
            A,
            tags=frozenset(rng.sample(["war", "sports"], rng.randint(0, 1))),
        )
        for i in range(300)
    ]
    assert decide_many(policy, cases) == [engine_action(policy, c) for c in cases]


def test_many_terms_fall_back_to_the_matcher_for_every_text() -> None:
    terms = [f"word{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(100)]
    policy = compile_policy(Guidelines(rules=(), suspect_terms=tuple(terms), hold_links=False))
    cases = [case(f"t{i}", None, A, text=f"some wordb{chr(97 + i % 26)} here") for i in range(40)]
    cases += [case("plain", None, A, text="nothing to see"), case("none", None, A, text=None)]
    scored = [replace(c, scores={}) for c in cases]
    assert decide_many(policy, scored) == [H] * 40 + [A, A]


# ----------------------------------------------------------------------------- suggest


def moderated_history(rng: random.Random, n: int) -> list[Case]:
    """Moderators reject everything with threat >= 0.7 and approve everything below."""
    cases = []
    for i in range(n):
        threat = rng.random()
        cases.append(
            case(
                f"m{i}",
                {"threat": threat, "insult": rng.random()},
                H,
                R if threat >= 0.7 else A,
            )
        )
    return cases


def test_suggestion_finds_the_moderators_line() -> None:
    rng = random.Random(7)
    history = moderated_history(rng, 2000)
    history += [case("other", {"threat": 0.99}, H, A, classifier="linear")]  # other classifier
    history += [case("unmoderated", {"threat": 0.0}, H)]
    suggestions = {s.category: s for s in suggest(history, classifier="detoxify:unbiased")}
    assert list(suggestions) == ["threat", "insult"]  # the contract's order
    threat = suggestions["threat"]
    assert threat.evidence == 2000
    assert threat.reject_at is not None and threat.hold_at is not None
    assert threat.reject_at == pytest.approx(0.7, abs=0.02)
    assert threat.reject_at <= 0.7  # lowest threshold that still keeps 95%
    assert threat.reject_precision is not None and threat.reject_precision >= 0.95
    assert threat.hold_at == pytest.approx(0.7, abs=0.02)
    assert threat.hold_at <= threat.reject_at
    assert threat.approve_precision is not None and threat.approve_precision >= 0.95
    assert "moderators rejected" in threat.explanation
    # insult is noise: ~30% rejected everywhere, so nothing reaches 95%.
    insult = suggestions["insult"]
    assert insult.reject_at is None and insult.hold_at is None
    assert insult.reject_precision is None
    json.dumps([s.to_json() for s in suggestions.values()])


def test_suggestion_is_exact_on_a_clean_split() -> None:
    history = [case(f"r{i}", {"threat": 0.7 + i / 100}, H, R) for i in range(25)]
    history += [case(f"a{i}", {"threat": i / 100}, H, A) for i in range(25)]
    (threat,) = suggest(history, classifier="detoxify:unbiased", target_precision=1.0)
    assert threat.reject_at == 0.7
    assert threat.reject_evidence == 25
    assert threat.reject_precision == 1.0
    # Below 0.7 everything was approved; 0.7 itself is the highest such threshold
    # that is not above reject_at.
    assert threat.hold_at == 0.7
    assert threat.approve_evidence == 25


def test_insufficient_evidence_gives_none() -> None:
    history = [case(f"r{i}", {"threat": 0.9}, H, R) for i in range(5)]
    history += [case(f"a{i}", {"threat": 0.1}, H, A) for i in range(5)]
    (threat,) = suggest(history, classifier="detoxify:unbiased", min_evidence=20)
    assert threat.reject_at is None and threat.hold_at is None
    assert threat.evidence == 10 and threat.rejected == 5
    assert "no reject threshold" in threat.explanation
    # Enough evidence once the bar is lowered.
    (threat,) = suggest(history, classifier="detoxify:unbiased", min_evidence=5)
    # reject_at: all 5 at 0.9 were rejected. hold_at: the 5 below 0.9 were approved,
    # and a hold may sit at the reject threshold but not above it.
    assert (threat.reject_at, threat.hold_at) == (0.9, 0.9)
    assert (threat.reject_evidence, threat.approve_evidence) == (5, 5)
