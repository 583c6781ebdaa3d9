"""`Enforcer`: applies the collector's decisions to requests before the application runs.

The adapters call it through `Sensor.gate` (before the app: fail-closed check, client address,
and the authenticated user when it is already known) and `Sensor.gate_login` (on a login route,
once the attempted account has been read from the body). A request it refuses gets a `Block`:
the adapter sends the block's small response instead of calling the app, and the request's event
says why (``event.reason``, ``labels.blocked``, ``labels.decision_id``).

Which action a block's event carries
    an address under a decision: ``authz_fail`` (403) or ``excess_rate_limit_exceeded`` (429);
    a login attempt naming a flagged account: ``authn_login_fail`` (so that detection still counts
    the attempt); a flagged authenticated user: ``authz_fail``; fail-closed with stale decisions:
    ``authz_fail`` with status 503.

With ``enforce=False`` nothing is refused: an event whose address, attempted account or user is
under a decision carries ``labels.decision_id`` and ``labels.blocked = "false"`` (a dry run).
A flagged user known only after the app ran (most session and token schemes) cannot be refused:
their event carries ``labels.flagged = "true"``; flagged accounts are enforced at login.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apiwatch.model import Action
from apiwatch.sensor._block import Block
from apiwatch.sensor._decisions import Active, DecisionCache, steady_time

if TYPE_CHECKING:
    from apiwatch.sensor._config import SensorConfig
    from apiwatch.sensor._context import RequestContext
    from apiwatch.sensor._reporter import SensorStats

__all__ = ["Enforcer"]


class Enforcer:
    """Decisions for one sensor: the cache, its sync thread, and the enforcement options."""

    def __init__(
        self,
        config: SensorConfig,
        stats: SensorStats,
        *,
        clock: Callable[[], float] = steady_time,
        **sync_options: Any,
    ) -> None:
        self.cache = DecisionCache()
        self.stats = stats
        self.enforce = config.enforce
        self.block_status = config.block_status
        self.fail_closed = config.fail_closed and config.enforce  # a dry run never refuses
        self.max_stale = config.decisions_max_stale
        self.clock = clock
        # Imported here: it brings httpx, which a sensor that does not enforce never loads.
        from apiwatch.sensor._decision_sync import DecisionSync  # noqa: PLC0415

        self.sync = DecisionSync(
            config.decisions_url or "",
            api_key=config.decisions_key or "",
            cache=self.cache,
            stats=stats,
            interval=config.decisions_interval,
            ca_file=config.ca_file,
            clock=clock,
            **sync_options,
        )

    def close(self) -> None:
        self.sync.close()

    @property
    def gates_logins(self) -> bool:
        """Whether login bodies must be read before the app (flagged accounts exist)."""
        return self.enforce and self.cache.has_accounts

    def before_app(self, ctx: RequestContext) -> Block | None:
        """The block for this request's address (or stale decisions), or None to let it pass.

        While flagged accounts exist (`gates_logins`), the sensor then names the request's user
        and asks `user`.
        """
        self.sync.ensure_running()
        if self.fail_closed:
            now = self.clock()
            stale = self.sync.stale_for(now)
            if stale > self.max_stale:
                reason = f"blocked: no decision sync for {stale:.0f}s (fail_closed)"
                return self._refuse(ctx, Block(503, Action.AUTHZ_FAIL, reason))
        elif not len(self.cache):
            return None
        else:
            now = self.clock()
        if ctx.source_ip is not None:
            hit = self.cache.ip(ctx.source_ip, now)
            if hit is not None:
                return self._found(ctx, hit, self._address_block(hit, now))
        return None

    def user(self, ctx: RequestContext) -> Block | None:
        """The block for an authenticated user (``ctx.user_name``) whose account is flagged."""
        name = ctx.user_name
        hit = self.cache.account(name, self.clock()) if name else None
        if hit is None:
            return None
        return self._found(ctx, hit, _account_block(hit, Action.AUTHZ_FAIL))

    def login(self, ctx: RequestContext) -> Block | None:
        """The block for a login attempt naming ``ctx.login_user``, if that account is flagged."""
        if not ctx.login_user:
            return None
        now = self.clock()
        hit = self.cache.account(ctx.login_user, now)
        if hit is None:
            return None
        return self._found(ctx, hit, _account_block(hit, Action.AUTHN_LOGIN_FAIL))

    def labels(self, ctx: RequestContext, labels: dict[str, str]) -> None:
        """Add what the request's event says about decisions: blocked, decision_id, flagged."""
        block = ctx.block
        if block is not None:
            labels["blocked"] = "true"
            if block.decision_id is not None:
                labels["decision_id"] = str(block.decision_id)
            if block.flagged:
                labels["flagged"] = "true"
            return
        hit = ctx.decision
        name = ctx.login_user or ctx.user_name
        if name and self.cache.has_accounts:
            flagged = self.cache.account(name, self.clock())
            if flagged is not None:
                labels["flagged"] = "true"
                hit = hit or flagged
        if hit is not None:
            labels["decision_id"] = str(hit.id)
            labels["blocked"] = "false"

    # -- helpers -----------------------------------------------------------------------------

    def _found(self, ctx: RequestContext, hit: Active, block: Block) -> Block | None:
        """Refuse with ``block``; in a dry run (``enforce=False``), only remember the match."""
        if not self.enforce:
            ctx.decision = ctx.decision or hit
            return None
        return self._refuse(ctx, block)

    def _refuse(self, ctx: RequestContext, block: Block) -> Block:
        ctx.block = block
        self.stats.blocked += 1
        return block

    def _address_block(self, hit: Active, now: float) -> Block:
        reason = f"blocked by apiwatch decision {hit.id}"
        if self.block_status == 429:
            retry = max(1, math.ceil(hit.until - now))
            return Block(429, Action.EXCESS_RATE_LIMIT_EXCEEDED, reason, hit.id, retry)
        return Block(403, Action.AUTHZ_FAIL, reason, hit.id)


def _account_block(hit: Active, action: Action) -> Block:
    return Block(403, action, f"blocked by apiwatch decision {hit.id}", hit.id, flagged=True)
