"""The paper venue's bookkeeping invariants, recomputed from scratch.

Each check rebuilds a figure from the primary records (ledger entries, orders, fills)
and compares it with what the venue keeps running, so a fast path that forgot a
step shows up here rather than as a slowly drifting balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from core.models import Balances, OrderStatus
from core.money import ZERO
from exchanges.paper.account import Account
from exchanges.paper.orders import FillRecord, OrderRecord


def violations(
    account: Account,
    balances: Balances,
    orders: Iterable[OrderRecord],
    fills: Iterable[FillRecord],
    open_index: Mapping[str, OrderRecord],
) -> list[str]:
    """Return every broken invariant, each as one sentence (empty when all hold).

    - per asset, the ledger's entries sum to its running total, which is the balance's
      total (exact Decimal), and cash no position is margined in is never negative (a
      borrowable asset may be: a negative balance is a spot-margin loan);
    - per asset, the locks the account holds equal what the open orders lock, and no
      closed order locks anything;
    - per order, 0 <= filled <= amount and its fills sum to its filled amount;
    - trade ids are unique; the open-order index lists exactly the open orders.
    """
    problems = account.ledger.verify()
    for asset, balance in balances.assets.items():
        if balance.total != account.ledger.total(asset):
            problems.append(f"{asset}: balance total {balance.total} != ledger sum")
        # Cross margin may carry a negative wallet against unrealized profit; cash of an
        # asset no open position is margined in is never negative.
        if (
            balance.total < 0
            and not account.open_positions(asset)
            and asset not in account.loan_terms
        ):
            problems.append(f"{asset}: negative cash {balance.total}")
    expected_locks: dict[str, Decimal] = {}
    order_list = list(orders)
    for order in order_list:
        if order.locked < 0:
            problems.append(f"order {order.id}: negative lock {order.locked}")
        if order.status is not OrderStatus.OPEN and order.locked:
            problems.append(f"order {order.id} is {order.status} but still locks {order.locked}")
        if order.lock_asset is not None and order.locked:
            expected_locks[order.lock_asset] = (
                expected_locks.get(order.lock_asset, ZERO) + order.locked
            )
        if not ZERO <= order.filled <= order.amount:
            problems.append(f"order {order.id}: filled {order.filled} of {order.amount}")
    for asset in sorted(set(expected_locks) | set(account.locked)):
        held, expected = account.locked.get(asset, ZERO), expected_locks.get(asset, ZERO)
        if held != expected:
            problems.append(f"{asset}: {held} locked but open orders hold {expected}")
    filled: dict[str, Decimal] = {}
    seen: set[str] = set()
    for fill in fills:
        if fill.id in seen:
            problems.append(f"trade id {fill.id} used twice")
        seen.add(fill.id)
        filled[fill.order_id] = filled.get(fill.order_id, ZERO) + fill.amount
    for order in order_list:
        total = filled.get(order.id, ZERO)
        if total != order.filled:
            problems.append(
                f"order {order.id}: fills sum to {total}, the order says {order.filled}"
            )
    open_ids = {o.id for o in order_list if o.status is OrderStatus.OPEN}
    if open_ids != set(open_index):
        problems.append("the open-order index disagrees with the orders' statuses")
    return problems
