"""Google's API discovery document for ``commentanalyzer`` v1alpha1, rooted at this service.

``googleapiclient.discovery.build("commentanalyzer", "v1alpha1",
discoveryServiceUrl="https://<host>/$discovery/rest?version=v1alpha1", developerKey=<key>)``
reads it to build a client; it sends every call to ``rootUrl + servicePath + path``, so
``rootUrl`` names this service (the request's own host, or ``MODERATION_PUBLIC_URL``).
The schemas follow the public document (google-api-go-client,
``commentanalyzer/v1alpha1/commentanalyzer-api.json``, revision 20200301): the names,
types and enums clients build from; the descriptions are ours. There is no ``auth``
section: calls carry a key of this service, never Google credentials.
"""

from __future__ import annotations

from typing import Any

SCORE_TYPES = ["SCORE_TYPE_UNSPECIFIED", "PROBABILITY", "STD_DEV_SCORE", "PERCENTILE", "RAW"]
TEXT_TYPES = ["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": name}


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _object(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"id": name, "type": "object", "description": description, "properties": properties}


SCHEMAS: dict[str, Any] = {
    "AnalyzeCommentRequest": _object(
        "AnalyzeCommentRequest",
        "The comment to score and the attributes to score it for.",
        {
            "comment": _ref("TextEntry"),
            "context": _ref("Context"),
            "requestedAttributes": {
                "type": "object",
                "additionalProperties": _ref("AttributeParameters"),
                "description": "Attribute name -> options; at least one.",
            },
            "spanAnnotations": {"type": "boolean", "description": "Scores per sentence too."},
            "languages": _strings("The comment's languages; detected when absent."),
            "doNotStore": {"type": "boolean", "description": "This endpoint stores nothing."},
            "clientToken": _string("Echoed in the response."),
            "sessionId": _string("Accepted and ignored."),
            "communityId": _string("Accepted and ignored."),
        },
    ),
    "AnalyzeCommentResponse": _object(
        "AnalyzeCommentResponse",
        "Scores per requested attribute.",
        {
            "attributeScores": {
                "type": "object",
                "additionalProperties": _ref("AttributeScores"),
                "description": "Attribute name -> scores.",
            },
            "languages": _strings("The languages the comment was scored in."),
            "detectedLanguages": _strings("The languages identified in the comment."),
            "clientToken": _string("The request's clientToken."),
        },
    ),
    "ArticleAndParentComment": _object(
        "ArticleAndParentComment",
        "The article and the comment replied to.",
        {"article": _ref("TextEntry"), "parentComment": _ref("TextEntry")},
    ),
    "AttributeParameters": _object(
        "AttributeParameters",
        "Options for one attribute.",
        {
            "scoreType": _string("PROBABILITY (or unspecified).", enum=SCORE_TYPES),
            "scoreThreshold": {
                "type": "number",
                "format": "float",
                "description": "Scores below it are left out.",
            },
        },
    ),
    "AttributeScores": _object(
        "AttributeScores",
        "One attribute's scores.",
        {
            "summaryScore": _ref("Score"),
            "spanScores": {"type": "array", "items": _ref("SpanScore"), "description": "Spans."},
        },
    ),
    "Context": _object(
        "Context",
        "Context of the comment; accepted and ignored.",
        {
            "entries": {"type": "array", "items": _ref("TextEntry"), "description": "Texts."},
            "articleAndParentComment": _ref("ArticleAndParentComment"),
        },
    ),
    "Score": _object(
        "Score",
        "A score.",
        {
            "value": {"type": "number", "format": "float", "description": "In [0, 1]."},
            "type": _string("PROBABILITY.", enum=SCORE_TYPES),
        },
    ),
    "SpanScore": _object(
        "SpanScore",
        "A score for a span of the text; offsets in UTF-16 code units, end exclusive.",
        {
            "begin": {"type": "integer", "format": "int32", "description": "First unit."},
            "end": {"type": "integer", "format": "int32", "description": "After the last."},
            "score": _ref("Score"),
        },
    ),
    "SuggestCommentScoreRequest": _object(
        "SuggestCommentScoreRequest",
        "A client's score for a comment: a label this service learns from.",
        {
            "comment": _ref("TextEntry"),
            "context": _ref("Context"),
            "attributeScores": {
                "type": "object",
                "additionalProperties": _ref("AttributeScores"),
                "description": "Attribute name -> the suggested summaryScore.",
            },
            "languages": _strings("The comment's languages."),
            "communityId": _string("The community (Coral: 'Coral:<site URL>')."),
            "clientToken": _string("The client's id of the comment; echoed."),
            "sessionId": _string("Accepted and ignored."),
        },
    ),
    "SuggestCommentScoreResponse": _object(
        "SuggestCommentScoreResponse",
        "The suggestion was stored.",
        {
            "detectedLanguages": _strings("The languages identified in the comment."),
            "requestedLanguages": _strings("The request's languages."),
            "clientToken": _string("The request's clientToken."),
        },
    ),
    "TextEntry": _object(
        "TextEntry",
        "A text: at most 20,480 bytes of UTF-8.",
        {
            "text": _string("The text."),
            "type": _string("PLAIN_TEXT (or unspecified).", enum=TEXT_TYPES),
        },
    ),
}

_QUERY_STRING = {"type": "string", "location": "query"}


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    path = f"v1alpha1/comments:{name}"
    return {
        "id": f"commentanalyzer.comments.{name}",
        "path": path,
        "flatPath": path,
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": request},
        "response": {"$ref": response},
    }


def discovery_document(root_url: str) -> dict[str, Any]:
    """The document, with ``rootUrl`` (ending in ``/``) naming this service."""
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "commentanalyzer:v1alpha1",
        "name": "commentanalyzer",
        "canonicalName": "Comment Analyzer",
        "version": "v1alpha1",
        "revision": "20200301",
        "title": "Perspective Comment Analyzer API (served by the comment moderation service)",
        "description": "Perspective's AnalyzeComment and SuggestCommentScore, on this "
        "service's own classifier (docs/perspective.md).",
        "protocol": "rest",
        "rootUrl": root_url,
        "baseUrl": root_url,
        "servicePath": "",
        "basePath": "",
        "batchPath": "batch",
        "parameters": {
            "key": {**_QUERY_STRING, "description": "A key of this service (role site)."},
            "alt": {
                **_QUERY_STRING,
                "default": "json",
                "enum": ["json"],
                "description": "Data format for the response.",
            },
            "prettyPrint": {
                "type": "boolean",
                "location": "query",
                "default": "true",
                "description": "Accepted and ignored.",
            },
            "fields": {**_QUERY_STRING, "description": "Accepted and ignored."},
            "quotaUser": {**_QUERY_STRING, "description": "Accepted and ignored."},
        },
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method(
                        "analyze",
                        "AnalyzeCommentRequest",
                        "AnalyzeCommentResponse",
                        "Scores the comment for the requested attributes.",
                    ),
                    "suggestscore": _method(
                        "suggestscore",
                        "SuggestCommentScoreRequest",
                        "SuggestCommentScoreResponse",
                        "Stores a suggested score as a label for learning.",
                    ),
                }
            }
        },
        "schemas": SCHEMAS,
    }
