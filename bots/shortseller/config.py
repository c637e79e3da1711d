"""ShortSeller parameters ; docs/strategies.md#shortseller lists every default."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.strategy import StrategyConfig


class AssetExits(BaseModel):
    """Per-asset exits, in percent of the entry price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stop_loss_pct: Decimal = Field(gt=0)
    take_profit_pct: Decimal = Field(gt=0)
    trailing_distance_pct: Decimal = Field(gt=0)
    trailing_activation_pct: Decimal = Field(gt=0)


def _exits(sl: str, tp: str, dist: str, act: str) -> AssetExits:
    return AssetExits(
        stop_loss_pct=Decimal(sl),
        take_profit_pct=Decimal(tp),
        trailing_distance_pct=Decimal(dist),
        trailing_activation_pct=Decimal(act),
    )


DEFAULT_EXITS = {
    "BTCUSDT": _exits("1.0", "3.0", "1.0", "2.0"),
    "ETHUSDT": _exits("1.5", "4.5", "2.0", "2.0"),
    "SOLUSDT": _exits("1.5", "6.0", "2.0", "3.0"),
}


class ShortSellerConfig(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: list(DEFAULT_EXITS), min_length=1)
    interval: str = "5"
    ema_fast: int = Field(240, ge=2)
    ema_slow: int = Field(600, ge=2)
    margin_pct: Decimal = Field(Decimal(7), gt=0, le=100)
    leverage: Decimal = Field(Decimal(10), gt=0, le=100)
    exits: dict[str, AssetExits] = Field(default_factory=lambda: dict(DEFAULT_EXITS))
    max_hold_hours: Decimal = Field(Decimal(24), gt=0)
    cooldown_minutes: int = Field(60, ge=0)
    max_daily_crosses: int = Field(12, ge=1)
    #: Minutes after 00:00 UTC at which the daily cross counters reset (00:01).
    daily_reset_minute: int = Field(1, ge=0, lt=1440)

    @model_validator(mode="after")
    def _every_symbol_has_exits(self) -> ShortSellerConfig:
        missing = [s for s in self.symbols if s not in self.exits]
        if missing:
            raise ValueError(f"exits: no stop/take-profit/trailing row for {', '.join(missing)}")
        return self
