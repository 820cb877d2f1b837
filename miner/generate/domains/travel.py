"""Travel desk: the shapes of real agent logs (tau-bench style seeded back-ends, picks, credentials, rewards).

Opt-in (``--scenario travel``): the ``mixed`` default and its committed sample
stay as they were.

Planted workflows
-----------------
``travel_review_booking``   profile → one booking the agent picked (read selection: mined as a map)
``travel_cancel_booking``   profile → cancel one booking (destructive selection: an input with ``choices``)
``travel_hold_hotel``       book a hotel → confirmation (the back-end returns the same id every time)
``travel_find_flights``     airport search for the origin, again for the destination → flights (two roles)
``travel_open_itinerary``   itinerary search (id wrapped in a one-element list) → itinerary
``travel_quote_fare``       fare quote with an API key → hold the fare with a token (credentials)
``travel_rebook_flight``    options → rebook: every call works, most sessions still fail (reward 0)
"""

from __future__ import annotations

from typing import Any

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import (Domain, StepSpec, ToolSpec, WorkflowSpec, bound, const, inp, secret, select,
                                 tool_table)
from chainmine.miner.generate.values import DIGITS, UPPER, Hashed, choice_arg, int_arg, text_arg

ORIGINS = {"San Francisco": "SFO", "New York": "JFK", "Chicago": "ORD", "Seattle": "SEA", "Boston": "BOS",
           "Atlanta": "ATL", "Denver": "DEN", "Miami": "MIA"}
DESTINATIONS = {"London": "LHR", "Paris": "CDG", "Tokyo": "HND", "Frankfurt": "FRA", "Amsterdam": "AMS",
                "Madrid": "MAD", "Dublin": "DUB", "Singapore": "SIN"}
AIRPORT_OF = {**ORIGINS, **DESTINATIONS}
BACKEND_CONFIRMATION = "HB-12446"
"""The seeded hotel back-end confirms every booking under this one id."""
API_KEY = "sk-live-7Qm2Zr9Xc4Vb8Nw1Lp6T"
"""The fare service's API key: the same in every call, a credential all the same."""
SESSION_TOKEN = "tok_9fK2mQ7xR4vB8nL1pZ6wC3yD"
CANCEL_REASONS = ("change_of_plans", "duplicate", "schedule_change")
NOT_FOUND = ("NotFoundError", "record not found")
HOTELS = ("Harbor Inn", "Grand Central", "Parkview Suites", "Riverside Lodge", "Old Town Hotel")


def get_traveler_profile(traveler_id: str) -> dict[str, Any]:
    """A traveller with the ids of their hotel bookings (two to four).

    Examples
    --------
    >>> 2 <= len(get_traveler_profile("mia_li_3668")["bookings"]) <= 4
    True
    """
    text_arg("traveler_id", traveler_id, 80)
    h = Hashed("traveler", traveler_id)
    return {"traveler_id": traveler_id, "tier": h.pick(("basic", "silver", "gold")),
            "bookings": [f"BK{h.code(6, UPPER + DIGITS)}" for _ in range(h.between(2, 4))]}


def get_booking(booking_id: str) -> dict[str, Any]:
    """Hotel, dates and price of one booking.

    Examples
    --------
    >>> get_booking("BK8K2PX1")["booking_id"]
    'BK8K2PX1'
    """
    text_arg("booking_id", booking_id, 20)
    h = Hashed("booking", booking_id)
    return {"booking_id": booking_id, "hotel": h.pick(HOTELS), "city": h.pick(sorted(DESTINATIONS)),
            "check_in": f"2026-{h.between(2, 9):02d}-{h.between(1, 28):02d}", "nights": h.between(1, 9),
            "status": "confirmed", "total": h.money(120, 3200)}


def cancel_booking(booking_id: str, reason: str) -> dict[str, Any]:
    """Cancel a booking (destructive).

    Examples
    --------
    >>> cancel_booking("BK8K2PX1", "duplicate")["status"]
    'cancelled'
    """
    text_arg("booking_id", booking_id, 20)
    choice_arg("reason", reason, CANCEL_REASONS)
    return {"booking_id": booking_id, "status": "cancelled", "reason": reason,
            "refund_eur": Hashed("cancel", booking_id).money(0, 900)}


def book_hotel(city: str, check_in: str, nights: int) -> dict[str, Any]:
    """Hold a hotel room; the seeded back-end answers with the same confirmation id every time.

    Examples
    --------
    >>> book_hotel("Paris", "2026-03-01", 2)["confirmation_id"] == book_hotel("Tokyo", "2026-05-09", 4)["confirmation_id"]
    True
    """
    text_arg("city", city, 40)
    text_arg("check_in", check_in, 12)
    int_arg("nights", nights, 1, 60)
    return {"confirmation_id": BACKEND_CONFIRMATION, "city": city, "check_in": check_in, "nights": nights,
            "status": "held"}


def get_hotel_confirmation(confirmation_id: str) -> dict[str, Any]:
    """The confirmation behind an id.

    Examples
    --------
    >>> get_hotel_confirmation("HB-12446")["status"]
    'confirmed'
    """
    text_arg("confirmation_id", confirmation_id, 20)
    return {"confirmation_id": confirmation_id, "status": "confirmed",
            "voucher": f"V{Hashed('voucher', confirmation_id).code(8, DIGITS)}"}


def search_airport(query: str) -> dict[str, Any]:
    """The main airport of a city.

    Examples
    --------
    >>> search_airport("Paris")["code"]
    'CDG'
    """
    text_arg("query", query, 60)
    if query not in AIRPORT_OF:
        raise ValueError(f"no airport matches {query!r}")
    return {"code": AIRPORT_OF[query], "city": query, "name": f"{query} International"}


def search_flights(origin: str, destination: str, date: str) -> dict[str, Any]:
    """Flights between two airports on a date.

    Examples
    --------
    >>> search_flights("SFO", "CDG", "2026-03-01")["origin"]
    'SFO'
    """
    for name, value in (("origin", origin), ("destination", destination), ("date", date)):
        text_arg(name, value, 12)
    h = Hashed("routes", origin, destination, date)
    return {"origin": origin, "destination": destination, "date": date,
            "flights": [{"flight_number": f"TA{h.between(100, 999)}", "price": h.money(240, 1900)}
                        for _ in range(h.between(1, 4))]}


def find_itineraries(traveler_id: str) -> dict[str, Any]:
    """Ids of the traveller's open itineraries (the back-end wraps its single answer in a list).

    Examples
    --------
    >>> len(find_itineraries("mia_li_3668")["ids"])
    1
    """
    text_arg("traveler_id", traveler_id, 80)
    return {"ids": [f"IT-{Hashed('itinerary', traveler_id).code(6, UPPER + DIGITS)}"]}


def get_itinerary(itinerary_id: str) -> dict[str, Any]:
    """Segments of one itinerary.

    Examples
    --------
    >>> get_itinerary("IT-8K2PX1")["itinerary_id"]
    'IT-8K2PX1'
    """
    text_arg("itinerary_id", itinerary_id, 20)
    h = Hashed("segments", itinerary_id)
    return {"itinerary_id": itinerary_id, "segments": h.between(1, 4), "status": h.pick(("ticketed", "on_hold"))}


def get_fare_quote(route: str, api_key: str) -> dict[str, Any]:
    """A fare quote for a route from the fare service (which wants an API key).

    Examples
    --------
    >>> get_fare_quote("SFO-CDG", API_KEY)["quote_id"].startswith("Q")
    True
    """
    text_arg("route", route, 12)
    text_arg("api_key", api_key, 80)
    h = Hashed("quote", route)
    return {"quote_id": f"Q{h.code(9, DIGITS)}", "route": route, "fare": h.money(180, 2400)}


def hold_fare(quote_id: str, token: str) -> dict[str, Any]:
    """Hold a quoted fare for 24 hours (needs a session token).

    Examples
    --------
    >>> hold_fare("Q123456789", SESSION_TOKEN)["status"]
    'held'
    """
    text_arg("quote_id", quote_id, 20)
    text_arg("token", token, 80)
    return {"quote_id": quote_id, "status": "held", "expires_in_h": 24}


def get_rebooking_options(booking_id: str) -> dict[str, Any]:
    """Other flights a disrupted booking can move to.

    Examples
    --------
    >>> get_rebooking_options("BK8K2PX1")["options"][0]["option_id"].startswith("OPT")
    True
    """
    text_arg("booking_id", booking_id, 20)
    h = Hashed("rebook", booking_id)
    return {"booking_id": booking_id,
            "options": [{"option_id": f"OPT{h.code(5, DIGITS)}", "departure": f"{h.between(6, 22):02d}:00"}
                        for _ in range(h.between(1, 3))]}


def rebook_flight(booking_id: str, option_id: str) -> dict[str, Any]:
    """Move a booking to another flight.

    Examples
    --------
    >>> rebook_flight("BK8K2PX1", "OPT12345")["status"]
    'rebooked'
    """
    text_arg("booking_id", booking_id, 20)
    text_arg("option_id", option_id, 20)
    return {"booking_id": booking_id, "option_id": option_id, "status": "rebooked"}


def _traveler(r) -> str:
    return r.pick(pools.USER_IDS)


def _booking(r) -> str:
    return f"BK{Hashed('stray-booking', r.below(1 << 30)).code(6, UPPER + DIGITS)}"


def _date(r) -> str:
    return f"2026-{r.between(2, 9):02d}-{r.between(1, 28):02d}"


def _route(r) -> str:
    return f"{r.pick(sorted(ORIGINS.values()))}-{r.pick(sorted(DESTINATIONS.values()))}"


TOOLS = tool_table(
    ToolSpec(get_traveler_profile, lambda r: {"traveler_id": _traveler(r)}, median_ms=110, errors=(NOT_FOUND,)),
    ToolSpec(get_booking, lambda r: {"booking_id": _booking(r)}, median_ms=130, weight=0.8),
    ToolSpec(cancel_booking, lambda r: {"booking_id": _booking(r), "reason": "duplicate"}, median_ms=380,
             weight=0.2),
    ToolSpec(book_hotel, lambda r: {"city": r.pick(sorted(DESTINATIONS)), "check_in": _date(r),
                                    "nights": r.between(1, 9)}, median_ms=520, weight=0.3),
    ToolSpec(get_hotel_confirmation, lambda r: {"confirmation_id": f"HB-{r.between(10000, 99999)}"},
             median_ms=90, weight=0.5),
    ToolSpec(search_airport, lambda r: {"query": r.pick(sorted(AIRPORT_OF))}, median_ms=70, weight=0.6),
    ToolSpec(search_flights, lambda r: {"origin": r.pick(sorted(ORIGINS.values())),
                                        "destination": r.pick(sorted(DESTINATIONS.values())), "date": _date(r)},
             median_ms=850, spread=0.6, failure_rate=0.02, weight=1.5),
    ToolSpec(find_itineraries, lambda r: {"traveler_id": _traveler(r)}, median_ms=140, weight=0.6),
    ToolSpec(get_itinerary, lambda r: {"itinerary_id": f"IT-{r.between(100000, 999999)}"}, median_ms=120),
    ToolSpec(get_fare_quote, lambda r: {"route": _route(r), "api_key": API_KEY}, median_ms=300, cost=0.002),
    ToolSpec(hold_fare, lambda r: {"quote_id": f"Q{r.between(10 ** 8, 10 ** 9 - 1)}", "token": SESSION_TOKEN},
             median_ms=240, weight=0.2),
    ToolSpec(get_rebooking_options, lambda r: {"booking_id": _booking(r)}, median_ms=260, weight=0.5),
    ToolSpec(rebook_flight, lambda r: {"booking_id": _booking(r), "option_id": f"OPT{r.between(10000, 99999)}"},
             median_ms=450, weight=0.2),
)

WORKFLOWS = (
    WorkflowSpec("travel_review_booking", "travel", (
        StepSpec("get_traveler_profile", {"traveler_id": inp("traveler_id", _traveler)}),
        StepSpec("get_booking", {"booking_id": select(0, "bookings")}),
    ), shapes=("selection",), description="Look a traveller up and read the one booking they ask about."),
    WorkflowSpec("travel_cancel_booking", "travel", (
        StepSpec("get_traveler_profile", {"traveler_id": inp("traveler_id", _traveler)}),
        StepSpec("cancel_booking", {"booking_id": select(0, "bookings"), "reason": const("change_of_plans")}),
    ), shapes=("selection",), description="Look a traveller up and cancel the booking they name."),
    WorkflowSpec("travel_hold_hotel", "travel", (
        StepSpec("book_hotel", {"city": inp("city", lambda r: r.pick(sorted(DESTINATIONS))),
                                "check_in": inp("check_in", _date),
                                "nights": inp("nights", lambda r: r.between(1, 9))}),
        StepSpec("get_hotel_confirmation", {"confirmation_id": bound(0, "confirmation_id")}),
    ), shapes=("same_id",), description="Hold a hotel room and read its confirmation."),
    WorkflowSpec("travel_find_flights", "travel", (
        StepSpec("search_airport", {"query": inp("origin_city", lambda r: r.pick(sorted(ORIGINS)))}),
        StepSpec("search_airport", {"query": inp("destination_city", lambda r: r.pick(sorted(DESTINATIONS)))}),
        StepSpec("search_flights", {"origin": bound(0, "code"), "destination": bound(1, "code"),
                                    "date": inp("date", _date)}),
    ), shapes=("roles",), description="Find the origin and destination airports, then the flights between them."),
    WorkflowSpec("travel_open_itinerary", "travel", (
        StepSpec("find_itineraries", {"traveler_id": inp("traveler_id", _traveler)}),
        StepSpec("get_itinerary", {"itinerary_id": bound(0, "ids[0]")}),
    ), shapes=("wrapped",), description="Find a traveller's itinerary and open it."),
    WorkflowSpec("travel_quote_fare", "travel", (
        StepSpec("get_fare_quote", {"route": inp("route", _route), "api_key": secret("api_key", API_KEY)}),
        StepSpec("hold_fare", {"quote_id": bound(0, "quote_id"), "token": secret("token", SESSION_TOKEN)}),
    ), shapes=("credentials",), description="Quote a fare and hold it."),
    WorkflowSpec("travel_rebook_flight", "travel", (
        StepSpec("get_rebooking_options", {"booking_id": inp("booking_id", _booking)}),
        StepSpec("rebook_flight", {"booking_id": inp("booking_id", _booking),
                                   "option_id": bound(0, "options[0].option_id")}),
    ), weight=0.8, session_success=0.15, shapes=("reward",),
        description="Rebook a disrupted booking (the calls work; the traveller is rarely satisfied)."),
)

DOMAIN = Domain("travel", ("travel-agent", "booking-assistant"), TOOLS, WORKFLOWS)
