"""Fixed pools of realistic entities (people, repos, services, topics, products).

The pools are built once from a fixed seed, so every log and every demo run
talks about the same customers, repositories and products. Workflow inputs
and stray-call arguments are drawn from them.
"""

from __future__ import annotations

import numpy as np

_RNG = np.random.default_rng(20260105)

FIRST = ("mia", "liam", "olivia", "noah", "emma", "ava", "lucas", "sofia", "ethan", "yusuf", "amelia",
         "mei", "raj", "chen", "fatima", "omar", "lena", "ivan", "aisha", "diego", "nora", "hiro",
         "sara", "leo", "zoe", "arjun", "maya", "jonas", "elena", "kofi")
LAST = ("li", "smith", "garcia", "kim", "patel", "nguyen", "muller", "rossi", "silva", "khan", "novak",
        "ito", "brown", "lopez", "wang", "ahmed", "jensen", "costa", "sato", "okafor")
CITIES = ("Berlin", "Lisbon", "Tokyo", "Toronto", "Nairobi", "Austin", "Seoul", "Madrid", "Oslo", "Lima")
AIRPORTS = ("SFO", "JFK", "LAX", "ORD", "SEA", "BOS", "ATL", "DFW", "MIA", "DEN", "EWR", "PHX")
CABINS = ("economy", "premium_economy", "business")
SERVICES = ("payments-api", "checkout-web", "search-indexer", "auth-service", "billing-worker",
            "notifications", "inventory-api", "recommendations", "gateway", "reporting")
ORGS = ("acme", "globex", "initech", "umbrella", "hooli")
TOPICS = ("retrieval augmented generation", "protein folding", "graph neural networks", "diffusion models",
          "federated learning", "causal inference", "speech recognition", "reinforcement learning from human feedback",
          "time series forecasting", "code generation", "mixture of experts", "contrastive learning",
          "battery degradation", "carbon capture", "quantum error correction", "anomaly detection",
          "tabular deep learning", "knowledge distillation", "neural radiance fields", "sparse attention")
WORDS = ("scalable", "robust", "efficient", "adaptive", "learning", "model", "data", "analysis", "method",
         "approach", "evaluation", "benchmark", "system", "network", "training", "inference", "survey",
         "framework", "large", "sparse", "dense", "causal", "latent", "structured", "towards", "via")
PRODUCTS = ("wireless mouse", "mechanical keyboard", "usb-c hub", "noise cancelling headphones", "standing desk",
            "monitor arm", "webcam", "laptop stand", "desk lamp", "ergonomic chair", "portable ssd",
            "smart speaker", "fitness tracker", "water bottle", "backpack", "espresso grinder")
DATASETS = ("titanic", "iris", "wine_quality", "housing_prices", "credit_default", "air_quality", "bike_sharing",
            "customer_churn", "energy_use", "flight_delays")
COLUMNS = ("age", "fare", "price", "income", "score", "duration", "temperature", "humidity", "count", "amount",
           "rating", "distance", "weight", "height", "latency", "revenue")
LABELS = ("bug", "enhancement", "documentation", "good first issue", "performance", "security", "flaky-test")
ISSUE_WORDS = ("crash", "timeout", "login", "cache", "migration", "memory", "leak", "retry", "webhook",
               "pagination", "race", "condition", "flaky", "deploy", "config", "error", "handler", "upgrade")
CHANNELS = ("#general", "#eng", "#support", "#releases", "#ops", "#random")
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "CHF")
LANGUAGES = ("de", "fr", "es", "ja", "pt", "it")
WAREHOUSES = ("WH-EAST", "WH-WEST", "WH-CENTRAL")


def _people(n: int) -> tuple[str, ...]:
    first = _RNG.integers(0, len(FIRST), n)
    last = _RNG.integers(0, len(LAST), n)
    num = _RNG.integers(1000, 9999, n)
    seen: dict[str, None] = {}
    for f, l, k in zip(first, last, num):
        seen.setdefault(f"{FIRST[f]}_{LAST[l]}_{k}", None)
    return tuple(seen)


USER_IDS = _people(600)
"""Customer ids like ``mia_li_3668`` (support and the demo)."""
EMAILS = tuple(f"{u.rsplit('_', 1)[0].replace('_', '.')}{u.rsplit('_', 1)[1]}@example.com" for u in USER_IDS)
"""One e-mail per customer: ``mia.li3668@example.com``."""
OPERATORS = tuple(f"{FIRST[i % len(FIRST)]}.{LAST[(i * 7) % len(LAST)]}" for i in range(48))
"""The people on whose behalf agents act (the ``user`` field)."""
REPOS = tuple(f"{ORGS[i % len(ORGS)]}/{SERVICES[(i * 3) % len(SERVICES)]}" for i in range(30))
TICKET_IDS = tuple(f"TCK-{k}" for k in _RNG.integers(10000, 99999, 800))
INCIDENT_IDS = tuple(f"PD{k}" for k in _RNG.integers(100000, 999999, 400))
CUSTOMER_IDS = tuple(f"cus_{''.join(_RNG.choice(list('abcdefghjkmnpqrstuvwxyz0123456789'), 10))}" for _ in range(500))
SKUS = tuple(f"SKU-{k}" for k in _RNG.integers(10000, 99999, 300))
CART_IDS = tuple(f"cart_{k}" for k in _RNG.integers(100000, 999999, 2000))
VERSIONS = tuple(f"1.{minor}.{patch}" for minor in range(4, 16) for patch in range(0, 10))
QUERIES = tuple(f"{topic} {extra}".strip() for topic in TOPICS
                for extra in ("", "survey", "benchmark", "2025", "limitations", "open source"))
DATASET_NAMES = tuple(f"{d}{v}" for d in DATASETS for v in ("", "_v2", "_2024", "_clean", "_sample"))
PRODUCT_QUERIES = tuple(f"{p} {extra}".strip() for p in PRODUCTS for extra in ("", "cheap", "best", "black"))


def email_to_user_id(email: str) -> str | None:
    """The customer id behind an ``example.com`` e-mail, or ``None``.

    Examples
    --------
    >>> email_to_user_id("mia.li3668@example.com")
    'mia_li_3668'
    """
    local, _, domain = email.partition("@")
    name, digits = local.rstrip("0123456789"), local[len(local.rstrip("0123456789")):]
    if not domain or not digits or not name:
        return None
    return f"{name.replace('.', '_')}_{digits}"
