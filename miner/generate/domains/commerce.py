"""Commerce: shopping, order tracking and restocking.

Planted workflows
-----------------
``commerce_checkout``       search products → top product → add to cart → checkout
``commerce_order_status``   customer → latest order (``orders[0].order_id``) → track its shipment
``commerce_restock``        stock check → purchase order; suppliers reject about half the orders,
                            so this chain is frequent but *unreliable*
"""

from __future__ import annotations

from typing import Any

from chainmine.miner.generate import pools
from chainmine.miner.generate.spec import Domain, StepSpec, ToolSpec, WorkflowSpec, bound, const, inp, tool_table
from chainmine.miner.generate.values import DIGITS, UPPER, Hashed, choice_arg, int_arg, text_arg

_CARRIERS = ("UPS", "FedEx", "DHL", "USPS")


def _product_name(sku: str) -> str:
    return Hashed("name", sku).pick(pools.PRODUCTS)


_SKUS_BY_PRODUCT: dict[str, list[str]] = {}
for _sku in pools.SKUS:
    _SKUS_BY_PRODUCT.setdefault(_product_name(_sku), []).append(_sku)


def _price(sku: str) -> float:
    return Hashed("price", sku).money(4, 650)


def search_products(query: str) -> list[dict[str, Any]]:
    """Products matching ``query``, best match first.

    Examples
    --------
    >>> search_products("webcam")[0]["sku"].startswith("SKU-")
    True
    """
    text_arg("query", query, 200)
    h = Hashed("search", query)
    matching = [skus for product, skus in _SKUS_BY_PRODUCT.items() if product in query.lower()]
    candidates = matching[0] if matching else pools.SKUS
    skus = [h.pick(candidates) for _ in range(h.between(2, 5))]
    return [{"sku": s, "name": _product_name(s), "price": _price(s), "in_stock": h.below(5) > 0}
            for s in dict.fromkeys(skus)]


def get_product(sku: str) -> dict[str, Any]:
    """Full product record.

    Examples
    --------
    >>> get_product("SKU-12345")["sku"]
    'SKU-12345'
    """
    text_arg("sku", sku, 30)
    h = Hashed("product", sku)
    return {"sku": sku, "name": _product_name(sku), "price": _price(sku),
            "stock": h.between(10, 500), "rating": round(h.between(30, 50) / 10, 1),
            "variants": sorted({h.pick(("black", "white", "grey", "blue")) for _ in range(h.between(1, 3))})}


def add_to_cart(cart_id: str, sku: str, quantity: int) -> dict[str, Any]:
    """Add ``quantity`` units of a product to a cart.

    Examples
    --------
    >>> add_to_cart("cart_1", "SKU-12345", 2)["quantity"]
    2
    """
    text_arg("cart_id", cart_id, 40)
    text_arg("sku", sku, 30)
    int_arg("quantity", quantity, 1, 99)
    return {"cart_id": cart_id, "sku": sku, "quantity": quantity, "line_total": round(_price(sku) * quantity, 2)}


def checkout(cart_id: str, payment_method: str) -> dict[str, Any]:
    """Place the order for a cart.

    Examples
    --------
    >>> checkout("cart_1", "card_on_file")["status"]
    'placed'
    """
    text_arg("cart_id", cart_id, 40)
    choice_arg("payment_method", payment_method, ("card_on_file", "paypal", "gift_card"))
    h = Hashed("checkout", cart_id)
    return {"order_id": f"ORD-{h.code(8, UPPER + DIGITS)}", "cart_id": cart_id, "status": "placed",
            "total": h.money(10, 900), "payment_method": payment_method}


def get_customer(customer_id: str) -> dict[str, Any]:
    """A customer with their orders, newest first.

    Examples
    --------
    >>> get_customer("cus_abc")["orders"][0]["order_id"].startswith("ORD-")
    True
    """
    text_arg("customer_id", customer_id, 40)
    h = Hashed("customer", customer_id)
    first, last = h.pick(pools.FIRST), h.pick(pools.LAST)
    return {"customer_id": customer_id, "name": f"{first.capitalize()} {last.capitalize()}",
            "email": f"{first}.{last}@example.com",
            "orders": [{"order_id": f"ORD-{h.code(8, UPPER + DIGITS)}", "status": h.pick(("shipped", "delivered"))}
                       for _ in range(h.between(1, 3))]}


def get_order(order_id: str) -> dict[str, Any]:
    """One order with its carrier and tracking number.

    Examples
    --------
    >>> get_order("ORD-ABCD1234")["carrier"] in _CARRIERS
    True
    """
    text_arg("order_id", order_id, 30)
    h = Hashed("order", order_id)
    return {"order_id": order_id, "status": "shipped", "carrier": h.pick(_CARRIERS),
            "tracking_number": f"1Z{h.code(16, UPPER + DIGITS)}", "items": h.between(1, 4), "total": h.money(10, 900)}


def track_shipment(tracking_number: str, carrier: str) -> dict[str, Any]:
    """Where a parcel is.

    Examples
    --------
    >>> track_shipment("1ZABC", "UPS")["carrier"]
    'UPS'
    """
    text_arg("tracking_number", tracking_number, 40)
    choice_arg("carrier", carrier, _CARRIERS)
    h = Hashed("track", tracking_number)
    return {"tracking_number": tracking_number, "carrier": carrier,
            "status": h.pick(("in_transit", "out_for_delivery", "delivered")),
            "eta": f"2026-{h.between(1, 6):02d}-{h.between(1, 28):02d}", "last_location": h.pick(pools.CITIES)}


def inventory_check(sku: str, warehouse: str) -> dict[str, Any]:
    """Units on hand in a warehouse and the reorder quantity.

    Examples
    --------
    >>> inventory_check("SKU-12345", "WH-EAST")["reorder_qty"] >= 50
    True
    """
    text_arg("sku", sku, 30)
    choice_arg("warehouse", warehouse, pools.WAREHOUSES)
    h = Hashed("inventory", sku, warehouse)
    return {"sku": sku, "warehouse": warehouse, "on_hand": h.between(0, 40), "reorder_qty": h.between(50, 500)}


def supplier_create_po(sku: str, quantity: int) -> dict[str, Any]:
    """Send a purchase order to the supplier.

    Examples
    --------
    >>> supplier_create_po("SKU-12345", 100)["status"]
    'submitted'
    """
    text_arg("sku", sku, 30)
    int_arg("quantity", quantity, 1, 100000)
    return {"po_id": f"PO-{Hashed('po', sku, quantity).code(8, DIGITS)}", "sku": sku, "quantity": quantity,
            "status": "submitted"}


def get_shipping_rates(destination_zip: str, weight_kg: float) -> list[dict[str, Any]]:
    """Carrier quotes for a parcel.

    Examples
    --------
    >>> len(get_shipping_rates("10115", 1.5)) == 3
    True
    """
    text_arg("destination_zip", destination_zip, 12)
    h = Hashed("rates", destination_zip, weight_kg)
    return [{"carrier": c, "price": h.money(4, 40), "days": h.between(1, 6)} for c in _CARRIERS[:3]]


def apply_coupon(cart_id: str, code: str) -> dict[str, Any]:
    """Apply a coupon code to a cart.

    Examples
    --------
    >>> apply_coupon("cart_1", "SAVE10")["applied"]
    True
    """
    text_arg("cart_id", cart_id, 40)
    text_arg("code", code, 30)
    return {"cart_id": cart_id, "code": code, "applied": True, "discount": Hashed("coupon", code).pick((5, 10, 15))}


def _customer(r) -> str:
    return r.pick(pools.CUSTOMER_IDS)


def _order_id(r) -> str:
    return f"ORD-{r.between(10**7, 10**8)}"


TOOLS = tool_table(
    ToolSpec(search_products, lambda r: {"query": r.pick(pools.PRODUCT_QUERIES)}, median_ms=480, weight=1.5),
    ToolSpec(get_product, lambda r: {"sku": r.pick(pools.SKUS)}, median_ms=160, weight=1),
    ToolSpec(add_to_cart, lambda r: {"cart_id": r.pick(pools.CART_IDS), "sku": r.pick(pools.SKUS), "quantity": 1},
             median_ms=210, weight=1),
    ToolSpec(checkout, lambda r: {"cart_id": r.pick(pools.CART_IDS), "payment_method": "paypal"}, median_ms=1300,
             failure_rate=0.01, errors=(("PaymentError", "card declined"),), weight=0.3),
    ToolSpec(get_customer, lambda r: {"customer_id": _customer(r)}, median_ms=140, weight=1),
    ToolSpec(get_order, lambda r: {"order_id": _order_id(r)}, median_ms=150, weight=1),
    ToolSpec(track_shipment, lambda r: {"tracking_number": f"1Z{r.between(10**9, 10**10)}", "carrier": r.pick(_CARRIERS)},
             median_ms=650, cost=0.0005, weight=1),
    ToolSpec(inventory_check, lambda r: {"sku": r.pick(pools.SKUS), "warehouse": r.pick(pools.WAREHOUSES)},
             median_ms=190, weight=1),
    ToolSpec(supplier_create_po, lambda r: {"sku": r.pick(pools.SKUS), "quantity": r.pick((100, 200, 500))},
             median_ms=1600, failure_rate=0.5, weight=0.2,
             errors=(("SupplierError", "supplier rejected order: minimum quantity not met"),
                     ("SupplierError", "supplier API unavailable"), ("ValidationError", "unknown supplier for sku"))),
    ToolSpec(get_shipping_rates, lambda r: {"destination_zip": f"{r.between(10000, 99999)}",
                                            "weight_kg": r.pick((0.5, 1.0, 2.5, 7.0))}, median_ms=520, weight=2),
    ToolSpec(apply_coupon, lambda r: {"cart_id": r.pick(pools.CART_IDS), "code": r.pick(("SAVE10", "WELCOME", "VIP20"))},
             median_ms=120, failure_rate=0.1, errors=(("CouponError", "coupon expired"),), weight=1.5),
)

WORKFLOWS = (
    WorkflowSpec("commerce_checkout", "commerce", (
        StepSpec("search_products", {"query": inp("query", lambda r: r.pick(pools.PRODUCT_QUERIES))}),
        StepSpec("get_product", {"sku": bound(0, "[0].sku")}),
        StepSpec("add_to_cart", {"cart_id": inp("cart_id", lambda r: r.pick(pools.CART_IDS)), "sku": bound(1, "sku"),
                                 "quantity": inp("quantity", lambda r: r.pick((1, 1, 1, 2, 2, 3, 4)))}),
        StepSpec("checkout", {"cart_id": inp("cart_id", lambda r: r.pick(pools.CART_IDS)),
                              "payment_method": const("card_on_file")}),
    ), weight=2.5, description="Find a product, add it to a cart and check out."),
    WorkflowSpec("commerce_order_status", "commerce", (
        StepSpec("get_customer", {"customer_id": inp("customer_id", _customer)}),
        StepSpec("get_order", {"order_id": bound(0, "orders[0].order_id")}),
        StepSpec("track_shipment", {"tracking_number": bound(1, "tracking_number"), "carrier": bound(1, "carrier")}),
    ), weight=3.0, description="Find a customer's latest order and track its shipment."),
    WorkflowSpec("commerce_restock", "commerce", (
        StepSpec("inventory_check", {"sku": inp("sku", lambda r: r.pick(pools.SKUS)), "warehouse": const("WH-EAST")}),
        StepSpec("supplier_create_po", {"sku": inp("sku", lambda r: r.pick(pools.SKUS)),
                                        "quantity": bound(0, "reorder_qty")}),
    ), weight=3.0, reliable=False, description="Check stock of a product and order more from the supplier."),
)

DOMAIN = Domain("commerce", ("shop-assistant", "order-bot"), TOOLS, WORKFLOWS, weight=1.0)
