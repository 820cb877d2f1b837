"""Customer support: airline reservations, retail refunds and helpdesk escalations.

Planted workflows
-----------------
``support_lookup_reservations``  user → each reservation (map over ``reservations``)
``support_refund_order``         e-mail → user id (plain string) → orders → order → refund
``support_escalate_ticket``      ticket → {customer history, SLA check} (either order) → escalate
"""

from __future__ import annotations

from typing import Any

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import Domain, StepSpec, ToolSpec, WorkflowSpec, bound, const, inp, item, tool_table
from chainmine.miner.generate.values import DIGITS, UPPER, Hashed, choice_arg, number_arg, text_arg

NOT_FOUND = ("NotFoundError", "record not found")


def _display_name(user_id: str) -> str:
    parts = [p for p in user_id.split("_") if p and not p.isdigit()]
    return " ".join(p.capitalize() for p in parts) or user_id


def get_user_details(user_id: str) -> dict[str, Any]:
    """A customer profile with the ids of their reservations.

    Examples
    --------
    >>> sorted(get_user_details("mia_li_3668"))
    ['email', 'membership', 'name', 'reservations', 'user_id']
    """
    text_arg("user_id", user_id, 80)
    h = Hashed("user", user_id)
    local, _, digits = user_id.rpartition("_")
    return {"user_id": user_id, "name": _display_name(user_id),
            "email": f"{local.replace('_', '.')}{digits}@example.com",
            "membership": h.pick(("regular", "silver", "gold")),
            "reservations": [h.code(6, UPPER + DIGITS) for _ in range(h.between(1, 4))]}


def get_reservation_details(reservation_id: str) -> dict[str, Any]:
    """Flight, cabin and status of one reservation.

    Examples
    --------
    >>> get_reservation_details("R8K2PX")["reservation_id"]
    'R8K2PX'
    """
    text_arg("reservation_id", reservation_id, 20)
    h = Hashed("reservation", reservation_id)
    origin = h.pick(pools.AIRPORTS)
    dest = h.pick([a for a in pools.AIRPORTS if a != origin])
    return {"reservation_id": reservation_id, "origin": origin, "destination": dest,
            "flight_number": f"HAT{h.between(100, 999)}", "date": f"2026-{h.between(2, 6):02d}-{h.between(1, 28):02d}",
            "cabin": h.pick(pools.CABINS), "status": h.pick(("confirmed", "confirmed", "confirmed", "checked_in")),
            "passengers": h.between(1, 3), "total_paid": h.money(89, 1400)}


def find_user_id_by_email(email: str) -> str:
    """The customer id registered under ``email`` (a plain string result).

    Examples
    --------
    >>> find_user_id_by_email("mia.li3668@example.com")
    'mia_li_3668'
    """
    text_arg("email", email, 120)
    user_id = pools.email_to_user_id(email)
    if user_id is None:
        raise ValueError(f"no customer with e-mail {email!r}")
    return user_id


def list_user_orders(user_id: str) -> dict[str, Any]:
    """The customer's recent orders, newest first.

    Examples
    --------
    >>> list_user_orders("mia_li_3668")["orders"][0]["order_id"].startswith("#W")
    True
    """
    text_arg("user_id", user_id, 80)
    h = Hashed("orders", user_id)
    orders = [{"order_id": f"#W{h.code(7, DIGITS)}", "status": h.pick(("delivered", "delivered", "shipped", "pending"))}
              for _ in range(h.between(1, 3))]
    return {"user_id": user_id, "orders": orders}


def get_order_details(order_id: str) -> dict[str, Any]:
    """Items, total and payment of one order.

    Examples
    --------
    >>> get_order_details("#W1234567")["total"] > 0
    True
    """
    text_arg("order_id", order_id, 20)
    h = Hashed("order", order_id)
    items = [{"item_id": h.code(10, DIGITS), "name": h.pick(pools.PRODUCTS), "price": h.money(5, 400)}
             for _ in range(h.between(1, 3))]
    return {"order_id": order_id, "status": h.pick(("delivered", "shipped")), "items": items,
            "total": round(sum(i["price"] for i in items), 2),
            "payment_method_id": f"credit_card_{h.code(7, DIGITS)}"}


def issue_refund(order_id: str, amount: float, reason: str) -> dict[str, Any]:
    """Start a refund of ``amount`` for an order.

    Examples
    --------
    >>> issue_refund("#W1234567", 25.0, "customer_request")["status"]
    'pending'
    """
    text_arg("order_id", order_id, 20)
    number_arg("amount", amount, 0.01, 100000)
    choice_arg("reason", reason, ("customer_request", "damaged", "late_delivery", "duplicate"))
    return {"refund_id": f"rf_{Hashed('refund', order_id, amount).code(12)}", "order_id": order_id,
            "amount": amount, "reason": reason, "status": "pending"}


def get_ticket(ticket_id: str) -> dict[str, Any]:
    """A helpdesk ticket with its customer and plan.

    Examples
    --------
    >>> get_ticket("TCK-12345")["customer_id"].startswith("cus_")
    True
    """
    text_arg("ticket_id", ticket_id, 20)
    h = Hashed("ticket", ticket_id)
    return {"ticket_id": ticket_id, "customer_id": h.pick(pools.CUSTOMER_IDS),
            "subject": f"{h.pick(pools.ISSUE_WORDS)} {h.pick(pools.ISSUE_WORDS)} problem",
            "plan": h.pick(("basic", "pro", "enterprise")), "priority": "normal",
            "opened_at": f"2026-01-{h.between(1, 28):02d}T{h.between(0, 23):02d}:{h.between(0, 59):02d}:00Z"}


def get_customer_history(customer_id: str) -> dict[str, Any]:
    """Support history of a customer.

    Examples
    --------
    >>> get_customer_history("cus_abc")["customer_id"]
    'cus_abc'
    """
    text_arg("customer_id", customer_id, 40)
    h = Hashed("history", customer_id)
    return {"customer_id": customer_id, "tickets_last_90d": h.between(0, 12),
            "csat": round(h.between(20, 50) / 10, 1), "lifetime_value": h.money(50, 25000)}


def check_sla_status(ticket_id: str, plan: str) -> dict[str, Any]:
    """Whether a ticket breaches its plan's response-time SLA.

    Examples
    --------
    >>> check_sla_status("TCK-12345", "pro")["plan"]
    'pro'
    """
    text_arg("ticket_id", ticket_id, 20)
    choice_arg("plan", plan, ("basic", "pro", "enterprise"))
    h = Hashed("sla", ticket_id, plan)
    breached = h.below(3) == 0
    return {"ticket_id": ticket_id, "plan": plan, "breached": breached,
            "hours_remaining": 0.0 if breached else round(h.between(1, 480) / 10, 1)}


def escalate_ticket(ticket_id: str, priority: str, queue: str) -> dict[str, Any]:
    """Move a ticket to a higher-tier queue.

    Examples
    --------
    >>> escalate_ticket("TCK-12345", "high", "tier2")["queue"]
    'tier2'
    """
    text_arg("ticket_id", ticket_id, 20)
    choice_arg("priority", priority, ("low", "normal", "high", "urgent"))
    text_arg("queue", queue, 40)
    return {"ticket_id": ticket_id, "escalation_id": f"esc_{Hashed('esc', ticket_id).code(8)}",
            "priority": priority, "queue": queue}


def search_direct_flight(origin: str, destination: str, date: str) -> list[dict[str, Any]]:
    """Direct flights between two airports on a date.

    Examples
    --------
    >>> all(f["origin"] == "SFO" for f in search_direct_flight("SFO", "JFK", "2026-03-01"))
    True
    """
    for name, value in (("origin", origin), ("destination", destination), ("date", date)):
        text_arg(name, value, 12)
    h = Hashed("flights", origin, destination, date)
    return [{"flight_number": f"HAT{h.between(100, 999)}", "origin": origin, "destination": destination,
             "departure": f"{date}T{h.between(5, 22):02d}:{h.pick(('00', '15', '30', '45'))}:00",
             "price": h.money(79, 900), "seats_left": h.between(0, 40)} for _ in range(h.between(0, 4))]


def get_flight_status(flight_number: str, date: str) -> dict[str, Any]:
    """Operational status of a flight.

    Examples
    --------
    >>> get_flight_status("HAT123", "2026-03-01")["flight_number"]
    'HAT123'
    """
    text_arg("flight_number", flight_number, 12)
    text_arg("date", date, 12)
    h = Hashed("status", flight_number, date)
    return {"flight_number": flight_number, "date": date,
            "status": h.pick(("on_time", "on_time", "delayed", "cancelled")), "delay_min": h.pick((0, 0, 15, 45, 90))}


def transfer_to_human_agents(summary: str) -> str:
    """Hand the conversation to a human agent.

    Examples
    --------
    >>> transfer_to_human_agents("customer wants a manager")
    'Transfer successful'
    """
    text_arg("summary", summary, 2000)
    return "Transfer successful"


def _flight_args(r) -> dict[str, Any]:
    origin = r.pick(pools.AIRPORTS)
    return {"origin": origin, "destination": r.pick([a for a in pools.AIRPORTS if a != origin]),
            "date": f"2026-{r.between(2, 6):02d}-{r.between(1, 28):02d}"}


def _email(r) -> str:
    return r.pick(pools.EMAILS)


def _user(r) -> str:
    return r.pick(pools.USER_IDS)


def _ticket(r) -> str:
    return r.pick(pools.TICKET_IDS)


TOOLS = tool_table(
    ToolSpec(get_user_details, lambda r: {"user_id": _user(r)}, median_ms=120, errors=(NOT_FOUND,), weight=1),
    ToolSpec(get_reservation_details, lambda r: {"reservation_id": Hashed("stray", r.u()).code(6, UPPER + DIGITS)},
             median_ms=140, failure_rate=0.005, weight=0.8),
    ToolSpec(find_user_id_by_email, lambda r: {"email": _email(r)}, median_ms=90, errors=(NOT_FOUND,)),
    ToolSpec(list_user_orders, lambda r: {"user_id": _user(r)}, median_ms=160),
    ToolSpec(get_order_details, lambda r: {"order_id": f"#W{r.between(1000000, 9999999)}"}, median_ms=150, weight=1),
    ToolSpec(issue_refund, lambda r: {"order_id": f"#W{r.between(1000000, 9999999)}", "amount": float(r.between(5, 300)),
                                      "reason": "customer_request"}, median_ms=420, weight=0.3),
    ToolSpec(get_ticket, lambda r: {"ticket_id": _ticket(r)}, median_ms=110, weight=1),
    ToolSpec(get_customer_history, lambda r: {"customer_id": r.pick(pools.CUSTOMER_IDS)}, median_ms=260),
    ToolSpec(check_sla_status, lambda r: {"ticket_id": _ticket(r), "plan": r.pick(("basic", "pro", "enterprise"))},
             median_ms=80),
    ToolSpec(escalate_ticket, lambda r: {"ticket_id": _ticket(r), "priority": "normal", "queue": "tier1"},
             median_ms=200, weight=0.5),
    ToolSpec(search_direct_flight, _flight_args, median_ms=900, spread=0.6, failure_rate=0.04, weight=4),
    ToolSpec(get_flight_status, lambda r: {"flight_number": f"HAT{r.between(100, 999)}",
                                           "date": f"2026-{r.between(2, 6):02d}-{r.between(1, 28):02d}"},
             median_ms=300, weight=2),
    ToolSpec(transfer_to_human_agents, lambda r: {"summary": f"customer asks about {r.pick(pools.ISSUE_WORDS)}"},
             median_ms=50, failure_rate=0.0, weight=1.5),
)

WORKFLOWS = (
    WorkflowSpec("support_lookup_reservations", "support", (
        StepSpec("get_user_details", {"user_id": inp("user_id", _user)}),
        StepSpec("get_reservation_details", {"reservation_id": item()}, map_over=(0, "reservations")),
    ), weight=3.0, description="Look up a customer and each of their reservations."),
    WorkflowSpec("support_refund_order", "support", (
        StepSpec("find_user_id_by_email", {"email": inp("email", _email)}),
        StepSpec("list_user_orders", {"user_id": bound(0)}),
        StepSpec("get_order_details", {"order_id": bound(1, "orders[0].order_id")}),
        StepSpec("issue_refund", {"order_id": bound(2, "order_id"), "amount": bound(2, "total"),
                                  "reason": const("customer_request")}),
    ), weight=2.0, description="Find a customer by e-mail and refund their latest order."),
    WorkflowSpec("support_escalate_ticket", "support", (
        StepSpec("get_ticket", {"ticket_id": inp("ticket_id", _ticket)}),
        StepSpec("get_customer_history", {"customer_id": bound(0, "customer_id")}, parallel_group=1),
        StepSpec("check_sla_status", {"ticket_id": inp("ticket_id", _ticket), "plan": bound(0, "plan")},
                 parallel_group=1),
        StepSpec("escalate_ticket", {"ticket_id": inp("ticket_id", _ticket), "priority": const("high"),
                                     "queue": const("tier2")}),
    ), weight=2.0, description="Read a ticket, check the customer's history and the SLA, then escalate."),
)

DOMAIN = Domain("support", ("support-agent", "helpdesk-copilot"), TOOLS, WORKFLOWS, weight=1.2)
