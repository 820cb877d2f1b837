"""General-purpose tools every agent calls now and then, and a long tail of rare ones.

None of these take part in planted workflows: they are the stray calls between
and inside workflow occurrences. The rare tools are built from one table so
the tail can be long (each is still a real, deterministic demo tool).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import RATE_LIMIT, TIMEOUT, UNAVAILABLE, ToolSpec, tool_table
from chainmine.miner.generate.values import HEX, Hashed, choice_arg, number_arg, text_arg


def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city.

    Examples
    --------
    >>> get_weather("Oslo")["city"]
    'Oslo'
    """
    text_arg("city", city, 100)
    h = Hashed("weather", city)
    return {"city": city, "temp_c": h.between(-15, 38), "conditions": h.pick(("sunny", "cloudy", "rain", "snow", "fog"))}


def get_current_time(timezone: str) -> str:
    """The current time in a timezone, as ISO text (fixed per timezone so results are reproducible).

    Examples
    --------
    >>> get_current_time("UTC")[:4]
    '2026'
    """
    text_arg("timezone", timezone, 60)
    h = Hashed("time", timezone)
    return f"2026-01-{h.between(5, 28):02d}T{h.between(0, 23):02d}:{h.between(0, 59):02d}:00"


def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict[str, Any]:
    """Convert an amount between currencies.

    Examples
    --------
    >>> convert_currency(10, "USD", "USD")["amount"]
    10.0
    """
    number_arg("amount", amount, 0, 1e12)
    choice_arg("from_currency", from_currency, pools.CURRENCIES)
    choice_arg("to_currency", to_currency, pools.CURRENCIES)
    rate = 1.0 if from_currency == to_currency else Hashed("fx", from_currency, to_currency).between(50, 20000) / 1000
    return {"amount": round(amount * rate, 2), "currency": to_currency, "rate": rate}


def translate_text(text: str, target_language: str) -> str:
    """Translate text (a plain string result).

    Examples
    --------
    >>> translate_text("hello", "de")
    '[de] hello'
    """
    text_arg("text", text, 20000)
    choice_arg("target_language", target_language, pools.LANGUAGES)
    return f"[{target_language}] {text}"


def send_email(to: str, subject: str) -> dict[str, Any]:
    """Send an e-mail.

    Examples
    --------
    >>> send_email("a@example.com", "hi")["status"]
    'sent'
    """
    text_arg("to", to, 200)
    if "@" not in to:
        raise ValueError(f"to must be an e-mail address, got {to!r}")
    text_arg("subject", subject, 300)
    return {"message_id": f"<{Hashed('mail', to, subject).code(16, HEX)}@mail.example.com>", "status": "sent"}


def slack_send_message(channel: str, text: str) -> dict[str, Any]:
    """Post a Slack message.

    Examples
    --------
    >>> slack_send_message("#eng", "deploy done")["ok"]
    True
    """
    text_arg("channel", channel, 80)
    text_arg("text", text, 4000)
    return {"ok": True, "channel": channel, "ts": f"17{Hashed('slack', channel, text).between(10**8, 10**9 - 1)}.000100"}


def read_file(path: str) -> str:
    """Contents of a workspace file (a plain string result).

    Examples
    --------
    >>> read_file("README.md").startswith("# ")
    True
    """
    text_arg("path", path, 500)
    return f"# {path}\n{Hashed('file', path).words(pools.WORDS, 5, 12)}\n"


def list_directory(path: str) -> list[str]:
    """Names in a workspace directory.

    Examples
    --------
    >>> isinstance(list_directory("src"), list)
    True
    """
    text_arg("path", path, 500)
    h = Hashed("dir", path)
    return sorted({f"{h.pick(pools.WORDS)}.{h.pick(('py', 'md', 'json', 'yaml'))}" for _ in range(h.between(1, 6))})


def _rare_tool(name: str, params: tuple[str, ...], kind: str) -> Callable[..., Any]:
    """Build a rare tool taking string ``params`` whose result shape depends on ``kind``."""

    def tool(**kwargs: Any) -> Any:
        missing = [p for p in params if p not in kwargs]
        extra = [k for k in kwargs if k not in params]
        if missing or extra:
            raise TypeError(f"{name}() takes {', '.join(params) or 'no arguments'}; "
                            f"missing {missing or '-'}, unexpected {extra or '-'}")
        for p in params:
            text_arg(p, kwargs[p], 500)
        h = Hashed(name, *(kwargs[p] for p in params))
        ref = f"{name.split('_')[0]}_{h.code(8, HEX)}"
        if kind == "list":
            return [{"id": f"{ref}{i}", "name": h.words(pools.WORDS, 1, 3)} for i in range(h.between(0, 3))]
        if kind == "text":
            return h.words(pools.WORDS, 3, 10)
        return {"id": ref, "ok": True, **{p: kwargs[p] for p in params}}

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = f"Rare demo tool ``{name}`` ({kind} result)."
    tool.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str) for p in params])
    return tool


# (name, string parameters, result kind); weights fall off with position (a long tail)
_RARE = (
    ("jira_create_ticket", ("project", "summary"), "object"), ("jira_search", ("jql",), "list"),
    ("notion_search", ("query",), "list"), ("google_drive_search", ("query",), "list"),
    ("confluence_get_page", ("page_id",), "text"), ("hubspot_get_contact", ("email",), "object"),
    ("stripe_list_charges", ("customer",), "list"), ("sentry_get_issue", ("issue_id",), "object"),
    ("zendesk_get_macro", ("macro_id",), "text"), ("calendar_create_event", ("title", "date"), "object"),
    ("calendar_list_events", ("date",), "list"), ("s3_list_objects", ("bucket",), "list"),
    ("s3_get_object", ("bucket", "key"), "text"), ("sql_query", ("query",), "list"),
    ("twilio_send_sms", ("to", "body"), "object"), ("linear_create_issue", ("team", "title"), "object"),
    ("figma_get_file", ("file_key",), "object"), ("airtable_list_records", ("base", "table"), "list"),
    ("dns_lookup", ("hostname",), "text"), ("whois_lookup", ("domain",), "text"),
    ("pdf_extract_text", ("url",), "text"), ("image_caption", ("url",), "text"),
    ("geocode_address", ("address",), "object"), ("timezone_for_city", ("city",), "text"),
    ("shopify_get_theme", ("theme_id",), "object"), ("okta_get_user", ("login",), "object"),
    ("vault_read_secret", ("path",), "object"), ("terraform_plan", ("workspace",), "text"),
    ("grafana_get_dashboard", ("uid",), "object"), ("mailchimp_list_campaigns", ("status",), "list"),
)


def _rare_specs() -> list[ToolSpec]:
    specs = []
    for rank, (name, params, kind) in enumerate(_RARE):
        fn = _rare_tool(name, params, kind)

        def sample(r, params=params, name=name) -> dict[str, Any]:
            return {p: f"{p}-{r.between(1, 400)}" for p in params}

        specs.append(ToolSpec(fn, sample, name=name, median_ms=300 + 40 * rank, failure_rate=0.05,
                              errors=(TIMEOUT, UNAVAILABLE), weight=0.6 / (rank + 1)))
    return specs


TOOLS = tool_table(
    ToolSpec(get_weather, lambda r: {"city": r.pick(pools.CITIES)}, median_ms=250, failure_rate=0.02, weight=1.5),
    ToolSpec(get_current_time, lambda r: {"timezone": r.pick(pools.TIMEZONES)}, median_ms=20, failure_rate=0.0,
             weight=1.5),
    ToolSpec(convert_currency, lambda r: {"amount": float(r.between(1, 2000)), "from_currency": r.pick(pools.CURRENCIES),
                                          "to_currency": r.pick(pools.CURRENCIES)}, median_ms=180, weight=1),
    ToolSpec(translate_text, lambda r: {"text": " ".join(r.pick(pools.WORDS) for _ in range(6)),
                                        "target_language": r.pick(pools.LANGUAGES)}, median_ms=600, cost=0.0008,
             weight=0.8),
    ToolSpec(send_email, lambda r: {"to": r.pick(pools.EMAILS), "subject": f"Re: {r.pick(pools.ISSUE_WORDS)}"},
             median_ms=450, failure_rate=0.02, errors=(UNAVAILABLE,), weight=1),
    ToolSpec(slack_send_message, lambda r: {"channel": r.pick(pools.CHANNELS),
                                            "text": f"{r.pick(pools.ISSUE_WORDS)} update"},
             median_ms=300, errors=(RATE_LIMIT,), weight=2),
    ToolSpec(read_file, lambda r: {"path": f"{r.pick(pools.WORDS)}/{r.pick(pools.WORDS)}.md"}, median_ms=15,
             failure_rate=0.03, errors=(("FileNotFoundError", "no such file or directory"),), weight=1.5),
    ToolSpec(list_directory, lambda r: {"path": r.pick(("src", "docs", "tests", "."))}, median_ms=12,
             failure_rate=0.0, weight=1),
    *_rare_specs(),
)
