"""Learning from moderators, end to end: a site's own line, taught by its decisions.

The issue's scenario: moderators reject readers calling other readers paid trolls and
bots, naming the rule, and approve near misses against it; an admin asks to learn and
PUTs the proposal. Then unseen accusations are no longer published, unseen near misses
still are, and the reasons cite the learned examples. The classifier is ``linear`` (it
publishes all of these), so whatever holds them is the examples, on the real encoder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from classifiers.encoder import SentenceEncoder
from moderation.domain.examples import Vectors
from moderation.domain.guidelines import MAX_EXAMPLES, MAX_EXAMPLES_IN_ALL
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from tests.conftest import Service, ServiceFactory

RULE = {
    "id": "no-accusing-readers",
    "category": "insult",
    "title": "No accusing other readers of being paid trolls or bots",
    "guideline": "4",
}

# Written for this test; none of them is in the training or evaluation data.
ACCUSATIONS = [
    "You're obviously a paid troll, nobody writes this much pro-government drivel for free.",
    "Another bot account spreading Kremlin talking points. Reported.",
    "How much are they paying you per comment, comrade?",
    "@Dennis_W this account is three weeks old and only posts about Ukraine. Troll farm much?",
    "Classic shill. Same script as the other five accounts in this thread.",
    "Are you being paid by the ministry or do you do this for fun? Either way you're a bot.",
    "Nice try, Olgino. Your English gives you away.",
    "This is a bot. Zero history, posts every 3 minutes, copy-paste replies.",
    "Sock puppet alert. Marcus_77 and Steve_B are obviously the same paid troll.",
    "Go back to your troll factory and collect your 50 roubles.",
    "Funny how every article about the election attracts the same paid accounts. Hi, troll.",
    "Is this comment section just bots talking to bots now? You certainly are one.",
]
NEAR_MISSES = [
    "The article on the troll farm in St Petersburg was excellent reporting.",
    "I think you're wrong about the sanctions, and here is why: exports rose 12% last year.",
    "Bots really did amplify the hashtag, according to the researchers quoted here.",
    "Please can the moderators look at the wave of new accounts? Something odd is going on.",
    "I disagree strongly with your reading of the ceasefire terms.",
    "Paid advertising on social media should be labelled, full stop.",
    "Troll is a strong word, but the minister's comments were designed to provoke.",
    "My uncle worked in a call centre that wrote product reviews for money. Grim job.",
    "The report says 40% of the accounts were automated. That's staggering.",
    "You make a fair point about the budget, even if I don't share your conclusion.",
    "Russian disinformation campaigns are well documented; the EU has a whole unit on it.",
    "I used to think everyone online was a bot until I met some of you at the town meeting.",
]
UNSEEN_ACCUSATIONS = [
    "Your comments read like they were written by a state propaganda office. Who pays you?",
    "Bot. Blocked. Next.",
    "Say hello to your handlers at the internet research agency.",
    "Every reply from this account is the same talking point. You're a troll, plain and simple.",
    "I bet you get a bonus for every comment defending the regime.",
    "Fake account. Created yesterday, already 40 comments defending the invasion.",
    "Stop pretending to be a concerned citizen, we all know you're a paid shill.",
    "Which troll farm do you work for, the Russian or the Chinese one?",
    "You are a propaganda bot and the mods should ban you.",
    "Nobody normal posts like this. Paid troll, 100%.",
]
UNSEEN_NEAR_MISSES = [
    "The investigation into the bot network is long overdue.",
    "I think your argument ignores the refugee numbers from last winter.",
    "Troll farms are a real problem and this newspaper should cover them more.",
    "Good piece. The graphic about automated accounts was really clear.",
    "I disagree, but thanks for laying out the figures so clearly.",
    "The government should publish who paid for those online ads.",
    "My daughter studies disinformation at university; she says this is textbook.",
    "Not every anonymous account is a bot, some of us just value privacy.",
    "The minister was trolling the opposition with that speech, frankly.",
    "Could the paper explain how it checks whether commenters are real?",
]


async def _add_rule(service: Service) -> None:
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    # Only what the moderators teach here: the default rules' own examples set aside.
    for rule in current["rules"]:
        rule["examples"], rule["counterexamples"] = [], []
    current["rules"].append(RULE)
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
    assert status == 200, body


async def _post(service: Service, prefix: str, texts: list[str]) -> list[dict[str, Any]]:
    posted = []
    for n, text in enumerate(texts):
        status, body = await service.post_comment(id=f"{prefix}-{n}", text=text)
        assert status == 201, body
        posted.append(body)
    return posted


async def test_moderators_teach_a_rule_that_then_holds_unseen_comments(
    make_service: ServiceFactory, encoder: SentenceEncoder
) -> None:
    service = await make_service(embedder_instance=encoder)
    await _add_rule(service)
    for comment in await _post(service, "acc", ACCUSATIONS):
        assert comment["status"] == "approved"  # linear publishes them all
        status, body = await service.call(
            "POST",
            f"/v1/comments/{comment['id']}/decision",
            role="moderator",
            json={"action": "reject", "rule": RULE["id"]},
        )
        assert status == 200, body
        assert body["decision"]["reasons"][0]["rule"] == RULE["id"]
        assert RULE["title"] in body["decision"]["message"]
    for comment in await _post(service, "miss", NEAR_MISSES):
        status, _ = await service.call(
            "POST",
            f"/v1/comments/{comment['id']}/decision",
            role="moderator",
            json={"action": "approve", "rule": RULE["id"]},
        )
        assert status == 200

    status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    assert status == 200, proposal
    learned = {(item["label"], item["text"]) for item in proposal["learned"]}
    assert {label for label, _ in learned} == {"violates", "allowed"}
    assert all(item["rule"] == RULE["id"] for item in proposal["learned"])
    rule = next(r for r in proposal["guidelines"]["rules"] if r["id"] == RULE["id"])
    assert set(rule["examples"]) <= set(ACCUSATIONS) and len(rule["examples"]) >= 8
    assert set(rule["counterexamples"]) <= set(NEAR_MISSES)
    # The backtest re-decides the stored comments with their stored embeddings: the
    # accusations the moderators rejected would now be held, not published.
    assert proposal["backtest"]["matrix"]["approve"]["hold"] >= 8, proposal["backtest"]
    # Nothing changed yet.
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert not next(r for r in current["rules"] if r["id"] == RULE["id"]).get("examples")

    status, body = await service.call(
        "PUT", "/v1/guidelines", role="admin", json=proposal["guidelines"]
    )
    assert status == 200, body

    accused = await _post(service, "new-acc", UNSEEN_ACCUSATIONS)
    held = [c for c in accused if c["status"] != "approved"]
    assert len(held) >= 8, [c["text"] for c in accused if c["status"] == "approved"]
    for comment in held:
        reason = next(r for r in comment["decision"]["reasons"] if r["code"] == "example")
        assert reason["rule"] == RULE["id"]
        assert "example" not in reason  # another reader's words: for moderators only
        status, seen = await service.call("GET", f"/v1/comments/{comment['id']}", role="moderator")
        example = next(r for r in seen["decision"]["reasons"] if r["code"] == "example")
        assert example["example"] in ACCUSATIONS
        message = comment["decision"]["message"]
        assert "guideline 4" in message  # cites the guideline, quotes no one
        assert example["example"] not in message and comment["text"] not in message
    misses = await _post(service, "new-miss", UNSEEN_NEAR_MISSES)
    published = [c for c in misses if c["status"] == "approved"]
    assert len(published) >= 8, [c["text"] for c in misses if c["status"] != "approved"]

    # Asked again, learning proposes nothing new: what it learned is in force.
    status, again = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    assert status == 200 and again["learned"] == []


async def test_an_unknown_rule_is_a_422_and_decides_nothing(service: Service) -> None:
    status, comment = await service.post_comment(text="Fine words about the harbour.")
    assert status == 201
    status, body = await service.call(
        "POST",
        f"/v1/comments/{comment['id']}/decision",
        role="moderator",
        json={"action": "reject", "rule": "no-such-rule"},
    )
    assert status == 422 and body["error"]["code"] == "unknown_rule"
    status, after = await service.call("GET", f"/v1/comments/{comment['id']}", role="moderator")
    assert after["status"] == "approved" and len(after["history"]) == 1


async def test_learning_without_an_encoder_proposes_nothing_verbatim(service: Service) -> None:
    status, comment = await service.post_comment(text="You are a paid troll.")
    await service.call(
        "POST",
        f"/v1/comments/{comment['id']}/decision",
        role="moderator",
        json={"action": "reject", "rule": "no-personal-insults"},
    )
    status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    assert status == 200 and proposal["learned"] == [] and proposal["labels"] == 1


async def test_a_deleted_comment_leaves_every_learned_example(
    make_service: ServiceFactory, encoder: SentenceEncoder
) -> None:
    service = await make_service(embedder_instance=encoder)
    await _add_rule(service)
    for comment in await _post(service, "acc", ACCUSATIONS[:6]):
        await service.call(
            "POST",
            f"/v1/comments/{comment['id']}/decision",
            role="moderator",
            json={"action": "reject", "rule": RULE["id"]},
        )
    status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    learned = proposal["learned"][0]
    await service.call("PUT", "/v1/guidelines", role="admin", json=proposal["guidelines"])
    # A new comment held by the learned examples quotes its nearest one to moderators.
    status, held = await service.post_comment(id="echo", text=learned["text"])
    assert held["status"] != "approved"

    status, _ = await service.call("DELETE", f"/v1/comments/{learned['comment_id']}")
    assert status == 200

    status, versions = await service.call("GET", "/v1/guidelines/versions", role="admin")
    for version in versions["items"]:
        status, document = await service.call(
            "GET", f"/v1/guidelines/versions/{version['version']}", role="admin"
        )
        for rule in document["rules"]:
            assert learned["text"] not in (*rule["examples"], *rule["counterexamples"])
    assert versions["items"][-1]["note"] == "removed a deleted comment from the examples"
    status, seen = await service.call("GET", "/v1/comments/echo", role="moderator")
    quoted = [r.get("example") for d in seen["history"] for r in d["reasons"]]
    assert learned["text"] not in quoted


async def test_perspective_feedback_teaches_like_moderators(
    make_service: ServiceFactory, encoder: SentenceEncoder
) -> None:
    """Coral's moderators decide in Coral; its ``suggestscore`` calls are the labels."""
    service = await make_service(embedder_instance=encoder)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    for rule in current["rules"]:
        rule["examples"], rule["counterexamples"] = [], []
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
    assert status == 200, body
    for n, (texts, value) in enumerate(((ACCUSATIONS, 1), (NEAR_MISSES, 0))):
        for m, text in enumerate(texts):
            async with service.client.post(
                "/v1alpha1/comments:suggestscore",
                params={"key": service.keys["site"]},
                json={
                    "comment": {"text": text},
                    "attributeScores": {"TOXICITY": {"summaryScore": {"value": value}}},
                    "languages": ["en"],
                    "communityId": "Coral:https://news.example/",
                    "clientToken": f"comment:{n}-{m}",
                },
            ) as response:
                assert response.status == 200, await response.text()

    status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    assert status == 200, proposal
    # No moderator decided anything here: the 24 labels are the feedback, on TOXICITY.
    assert proposal["labels"] == len(ACCUSATIONS) + len(NEAR_MISSES)
    learned = proposal["learned"]
    assert {item["rule"] for item in learned} == {"keep-it-civil"}
    violates = [item for item in learned if item["label"] == "violates"]
    assert len(violates) >= 8 and {item["text"] for item in violates} <= set(ACCUSATIONS)
    assert all(item["comment_id"].startswith("comment:0-") for item in violates)
    allowed = {item["text"] for item in learned if item["label"] == "allowed"}
    assert allowed and allowed <= set(NEAR_MISSES)

    status, body = await service.call(
        "PUT", "/v1/guidelines", role="admin", json=proposal["guidelines"]
    )
    assert status == 200, body
    accused = await _post(service, "new-acc", UNSEEN_ACCUSATIONS)
    held = [c for c in accused if c["status"] != "approved"]
    assert len(held) >= 7, [c["text"] for c in accused if c["status"] == "approved"]
    misses = await _post(service, "new-miss", UNSEEN_NEAR_MISSES)
    assert sum(c["status"] == "approved" for c in misses) >= 8


# -- the proposal is a document PUT accepts, learned only from the caller's website ------


class HashEmbedder:
    """Stands in for the sentence encoder where only the proposal's validity is tested:
    each text (its words, case aside) gets its own random unit vector, so no two texts
    are near duplicates and a document of thousands of examples compiles at once."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = []
        for text in texts:
            seed = hashlib.sha256(" ".join(text.split()).casefold().encode()).digest()
            row = np.random.default_rng(int.from_bytes(seed[:8])).standard_normal(256)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 256)


def _api_id(comment: dict[str, Any]) -> str:
    return str(comment["id"])


async def _decide(
    service: Service, comment_id: str, action: str, rule: str, role: str = "moderator"
) -> None:
    status, body = await service.call(
        "POST",
        f"/v1/comments/{comment_id}/decision",
        role=role,
        json={"action": action, "rule": rule},
    )
    assert status == 200, body


async def _put(service: Service, document: dict[str, Any]) -> dict[str, Any]:
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=document)
    assert status == 200, body
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    return dict(current)


def _added(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(rule, label, text) of each text ``after`` has beyond ``before``, rule by rule."""
    old = {rule["id"]: rule for rule in before["rules"]}
    found = []
    for rule in after["rules"]:
        for field, label in (("examples", "violates"), ("counterexamples", "allowed")):
            known = old[rule["id"]].get(field, [])
            assert rule.get(field, [])[: len(known)] == known  # learning only appends
            found += [(rule["id"], label, text) for text in rule.get(field, [])[len(known) :]]
    return found


async def _learn_and_put(service: Service) -> list[dict[str, Any]]:
    """Learn, check ``learned`` is exactly what the proposal adds, and PUT the proposal
    as it came: the contract's "nothing changes until an admin PUTs the proposal"."""
    status, before = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
    assert status == 200, proposal
    learned = proposal["learned"]
    assert sorted(_added(before, proposal["guidelines"])) == sorted(
        (item["rule"], item["label"], item["text"]) for item in learned
    )
    after = await _put(service, proposal["guidelines"])
    assert after["version"] == before["version"] + 1
    return list(learned)


async def _without_examples(service: Service, *extra: dict[str, Any]) -> dict[str, Any]:
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    for rule in current["rules"]:
        rule["examples"], rule["counterexamples"] = [], []
    current["rules"].extend(extra)
    return await _put(service, current)


async def test_a_counterexample_needs_examples_beside_it(make_service: ServiceFactory) -> None:
    """An approval naming a rule that has no examples (four of the seven shipped rules)
    teaches nothing alone; beside an example learned in the same proposal, it does."""
    service = await make_service(embedder_instance=HashEmbedder())
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    bare = [r["id"] for r in current["rules"] if not r["examples"]]
    assert "keep-it-civil" in bare and "no-obscenity" in bare
    for rule, verdicts in (
        ("keep-it-civil", ["approve"]),
        ("no-obscenity", ["reject", "approve"]),
    ):
        for n, action in enumerate(verdicts):
            status, comment = await service.post_comment(
                id=f"{rule}-{n}", text=f"A comment for {rule}, number {n}, judged {action}."
            )
            assert status == 201, comment
            await _decide(service, _api_id(comment), action, rule)

    learned = await _learn_and_put(service)
    assert sorted((item["rule"], item["label"]) for item in learned) == [
        ("no-obscenity", "allowed"),
        ("no-obscenity", "violates"),
    ]


async def test_texts_no_rule_may_carry_are_not_proposed(make_service: ServiceFactory) -> None:
    """A comment longer than an example may be (not cut: a cut comment is not what the
    moderator judged), and a blank suggestscore text, are skipped."""
    service = await make_service(embedder_instance=HashEmbedder())
    await _without_examples(service, RULE)
    long_text = "You are a paid troll and everyone here knows it. " * 60
    assert 2000 < len(long_text) <= 20_000
    for n, text in enumerate((long_text, ACCUSATIONS[0])):
        status, comment = await service.post_comment(id=f"acc-{n}", text=text)
        assert status == 201, comment
        await _decide(service, _api_id(comment), "reject", RULE["id"])
    async with service.client.post(
        "/v1alpha1/comments:suggestscore",
        params={"key": service.keys["site"]},
        json={
            "comment": {"text": " \n\t "},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "clientToken": "blank",
        },
    ) as response:
        assert response.status == 200, await response.text()

    learned = await _learn_and_put(service)
    assert [(item["text"], item["comment_id"]) for item in learned] == [(ACCUSATIONS[0], "acc-1")]


async def test_a_text_labelled_both_ways_is_proposed_neither_way(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(embedder_instance=HashEmbedder())
    await _without_examples(service, RULE)
    contested = "Honestly, some of the accounts in this thread look like bots to me."
    for comment_id, text, action in (
        ("first", contested, "reject"),
        ("second", f"  {contested.upper()}  ", "approve"),  # the same words
        ("clear", ACCUSATIONS[1], "reject"),
    ):
        status, comment = await service.post_comment(id=comment_id, text=text)
        assert status == 201, comment
        await _decide(service, comment_id, action, RULE["id"])

    learned = await _learn_and_put(service)
    assert [(item["label"], item["comment_id"]) for item in learned] == [("violates", "clear")]


async def test_learning_stops_at_a_rules_cap(make_service: ServiceFactory) -> None:
    service = await make_service(embedder_instance=HashEmbedder())
    full = MAX_EXAMPLES - 1
    crowded = RULE | {"examples": [f"Known accusation number {n}." for n in range(full)]}
    await _without_examples(service, crowded)
    for n, text in enumerate(ACCUSATIONS[:3]):
        status, comment = await service.post_comment(id=f"acc-{n}", text=text)
        assert status == 201, comment
        await _decide(service, _api_id(comment), "reject", RULE["id"])

    learned = await _learn_and_put(service)
    assert len(learned) == 1
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    rule = next(r for r in current["rules"] if r["id"] == RULE["id"])
    assert len(rule["examples"]) == MAX_EXAMPLES


async def test_learning_stops_at_the_documents_cap(make_service: ServiceFactory) -> None:
    service = await make_service(embedder_instance=HashEmbedder())
    rules: list[dict[str, Any]] = [
        {
            "id": f"filled-{n}",
            "category": "insult",
            "title": f"Filled rule {n}",
            "guideline": "4",
            "examples": [f"Filler example {n}-{m}." for m in range(MAX_EXAMPLES)],
        }
        for n in range(MAX_EXAMPLES_IN_ALL // MAX_EXAMPLES)
    ]
    rules[-1]["examples"].pop()  # room for one more in all
    await _without_examples(service, *rules, RULE)
    for n, text in enumerate(ACCUSATIONS[:3]):
        status, comment = await service.post_comment(id=f"acc-{n}", text=text)
        assert status == 201, comment
        await _decide(service, _api_id(comment), "reject", RULE["id"])

    learned = await _learn_and_put(service)
    assert len(learned) == 1 and learned[0]["rule"] == RULE["id"]


async def test_erasing_a_rules_last_example_keeps_the_document_valid(
    make_service: ServiceFactory,
) -> None:
    """The rule's counterexamples leave with its last example, so what GET returns can
    still be PUT as it is."""
    service = await make_service(embedder_instance=HashEmbedder())
    await _without_examples(service, RULE)
    for comment_id, text, action in (
        ("accusation", ACCUSATIONS[2], "reject"),
        ("near-miss", NEAR_MISSES[0], "approve"),
    ):
        status, comment = await service.post_comment(id=comment_id, text=text)
        assert status == 201, comment
        await _decide(service, comment_id, action, RULE["id"])
    learned = await _learn_and_put(service)
    assert len(learned) == 2

    status, _ = await service.call("DELETE", "/v1/comments/accusation")
    assert status == 200
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    rule = next(r for r in current["rules"] if r["id"] == RULE["id"])
    assert (rule["examples"], rule["counterexamples"]) == ([], [])
    status, body = await service.call("PUT", "/v1/guidelines", role="admin", json=current)
    assert status == 200, body


async def test_each_website_learns_from_its_own_comments_only(
    make_service: ServiceFactory,
) -> None:
    """Guidelines are shared; comments are not. An admin of website a is shown what a's
    moderators (and a's Perspective suggestions) teach, by a's ids, and no text or id of
    b's or of the default scope's in what is learned; the backtest inside learn shows
    a's texts only."""
    service = await make_service(embedder_instance=HashEmbedder())
    await _without_examples(service, RULE)
    database = service.client.app[DATABASE]
    texts = {"a": ACCUSATIONS[3], "b": ACCUSATIONS[4], None: ACCUSATIONS[5]}
    suggested = {"a": ACCUSATIONS[6], "b": ACCUSATIONS[7], None: ACCUSATIONS[8]}
    admins: dict[str | None, Service] = {}
    for scope, text in texts.items():
        keys = {
            role.name: (await Keys(database).create(f"{scope}-{role.name}", role, scope=scope))
            for role in Role
        }
        assert all(key.key.scope == scope for key in keys.values())
        scoped = Service(client=service.client, keys={k: v.secret for k, v in keys.items()})
        admins[scope] = scoped
        # The same API id in every scope: each website's own "c-1".
        status, comment = await scoped.post_comment(id="c-1", text=text)
        assert status == 201, comment
        await _decide(scoped, "c-1", "reject", RULE["id"])
        async with service.client.post(
            "/v1alpha1/comments:suggestscore",
            params={"key": scoped.keys["site"]},
            json={
                "comment": {"text": suggested[scope]},
                "attributeScores": {"INSULT": {"summaryScore": {"value": 1}}},
                "clientToken": "token-1",
                "communityId": f"site-{scope}",
            },
        ) as response:
            assert response.status == 200, await response.text()

    for scope, admin in admins.items():
        status, proposal = await admin.call("POST", "/v1/guidelines/learn", role="admin", json={})
        assert status == 200, proposal
        assert sorted((i["text"], i["comment_id"]) for i in proposal["learned"]) == sorted(
            [(texts[scope], "c-1"), (suggested[scope], "token-1")]
        )
        shown = json.dumps(proposal)
        others = [t for s in texts if s != scope for t in (texts[s], suggested[s])]
        assert not [text for text in others if json.dumps(text)[1:-1] in shown]
        samples = proposal["backtest"]["samples"]
        assert any(s.get("text") == texts[scope] for s in samples), samples


async def test_what_an_admin_left_out_is_not_offered_again(make_service: ServiceFactory) -> None:
    """The contract's "since the last learning": a learn call offers the moderators'
    labels; until the guidelines are saved it offers them again; once an admin saves
    (adopting some, leaving the rest out), only labels new since then are offered."""
    service = await make_service(embedder_instance=HashEmbedder())
    await _without_examples(service, RULE)
    for n, text in enumerate(ACCUSATIONS[:3]):
        status, comment = await service.post_comment(id=f"acc-{n}", text=text)
        assert status == 201, comment
        await _decide(service, f"acc-{n}", "reject", RULE["id"])

    async def learned() -> tuple[set[str], dict[str, Any]]:
        status, proposal = await service.call("POST", "/v1/guidelines/learn", role="admin", json={})
        assert status == 200, proposal
        return {item["text"] for item in proposal["learned"]}, proposal["guidelines"]

    first, proposal = await learned()
    assert first == set(ACCUSATIONS[:3])
    again, _ = await learned()
    assert again == first  # nothing saved yet: offered again
    # The admin adopts one and leaves two out.
    rule = next(r for r in proposal["rules"] if r["id"] == RULE["id"])
    rule["examples"] = [ACCUSATIONS[0]]
    await _put(service, proposal)
    after, _ = await learned()
    assert after == set()
    status, comment = await service.post_comment(id="acc-new", text=ACCUSATIONS[3])
    assert status == 201, comment
    await _decide(service, "acc-new", "reject", RULE["id"])
    latest, _ = await learned()
    assert latest == {ACCUSATIONS[3]}
