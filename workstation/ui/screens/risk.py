"""The risk screen: VaR/CVaR and the stress tables of the open positions, and shocks to try.

The screen computes nothing of its own: the app hands it ``compute(shocks, propagate)`` (built
from the runtime's store, positions and marks in the account currency:
:func:`workstation.trading.stress_report.risk_view`, whose reading and arithmetic run in a
thread), awaited in a worker; the screen lays the answer out with the report's own cells, the
ones ``qws risk`` prints. Enter in the shock box, the propagate switch (ctrl+b) and ctrl+r
compute again; a shock spec that cannot be read is shown in one line, the tables kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Input, Label, Static

if TYPE_CHECKING:
    from workstation.trading.stress_report import RiskView, Scenario

RiskSource = Callable[[str, bool], Awaitable["RiskView"]]
"""(shock spec as typed, propagate) -> what the screen shows; raises with a user's message."""

EXAMPLE = "BTC/USDT=-30%, BTC=-20%, crypto=-10%, EURUSD=+2%"


class RiskScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="risk.close"),
        Binding("ctrl+r", "compute", "Recompute", id="risk.compute"),
        Binding("ctrl+b", "toggle_propagate", "Propagate", id="risk.propagate"),
    ]

    def __init__(self, compute: RiskSource, shocks: str = "", propagate: bool = False) -> None:
        super().__init__(id="risk")
        self.source = compute
        self._shocks = shocks
        self._propagate = propagate
        self.view: RiskView | None = None
        """The last answer shown."""
        self.answers = 0
        """Computations finished (shown or refused): what a test waits on."""
        self.error = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="risk-body"):
            with Horizontal(id="risk-form"):
                yield Label("Shocks", id="risk-shocks-label")
                yield Input(self._shocks, placeholder=EXAMPLE, compact=True, id="risk-shocks")
                yield Checkbox(
                    "Propagate by correlation", self._propagate, compact=True, id="risk-propagate"
                )
            yield Static("computing…", id="risk-status", markup=False)
            yield Static("", id="risk-var", markup=False)
            yield Static("Shock: none (type one above, Enter)", id="risk-shock-title", markup=False)
            yield DataTable(id="risk-shock", cursor_type="row")
            yield Static("Historical scenarios", id="risk-history-title", markup=False)
            yield DataTable(id="risk-history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.action_compute()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_propagate(self) -> None:
        box = self.query_one("#risk-propagate", Checkbox)
        box.value = not box.value  # its Changed message computes again

    @on(Checkbox.Changed, "#risk-propagate")
    def _propagate_changed(self) -> None:
        self.action_compute()

    @on(Input.Submitted, "#risk-shocks")
    def _shocks_entered(self) -> None:
        self.action_compute()

    def action_compute(self) -> None:
        shocks = self.query_one("#risk-shocks", Input).value
        propagate = self.query_one("#risk-propagate", Checkbox).value
        self.compute(shocks, propagate)

    @work(exclusive=True, group="risk")
    async def compute(self, shocks: str, propagate: bool) -> None:
        status = self.query_one("#risk-status", Static)
        status.update("computing…")
        try:
            view = await self.source(shocks, propagate)
        except Exception as exc:  # the source's refusal (a bad shock, no broker yet) is one line
            self.error = str(exc) or type(exc).__name__
            status.update(self.error)
            status.add_class("-error")
            return
        finally:
            self.answers += 1
        self.error = ""
        status.remove_class("-error")
        self.view = view
        self.show(view, shocks, propagate)

    def show(self, view: RiskView, shocks: str, propagate: bool) -> None:
        from workstation.trading.stress_report import note_lines, var_lines

        stress = view.stress
        held = len(stress.holdings) + len(stress.unvalued)
        if not held:
            self.query_one("#risk-status", Static).update("no open positions: nothing at risk")
        else:
            spec = shocks.strip() or "none"
            self.query_one("#risk-status", Static).update(
                f"{held} open position(s), marks in {view.ccy} · shocks: {spec}"
                f" · propagation {'on' if propagate else 'off'}"
            )
        lines = var_lines(view.var, view.ccy) if view.var is not None else []
        if view.var is not None and view.var.missing:
            lines.append(f"VaR leaves out (no mark or bars): {', '.join(view.var.missing)}")
        lines += note_lines(stress)
        self.query_one("#risk-var", Static).update("\n".join(lines))
        self._fill_shock(view)
        self._fill_history(view)

    def _fill_shock(self, view: RiskView) -> None:
        from workstation.trading.stress_report import headers, scenario_rows

        table = self.query_one("#risk-shock", DataTable)
        table.clear(columns=True)
        title = self.query_one("#risk-shock-title", Static)
        scenario = view.stress.shock
        if scenario is None:
            title.update("Shock: none (type one above, Enter)")
            return
        title.update(scenario.title + (f" ({scenario.detail})" if scenario.detail else ""))
        table.add_columns(*headers(view.ccy))
        for cells in scenario_rows(scenario):
            table.add_row(*cells, key=f"shock:{cells[0]}")

    def _fill_history(self, view: RiskView) -> None:
        from workstation.trading.stress_report import headers, scenario_rows

        table = self.query_one("#risk-history", DataTable)
        table.clear(columns=True)
        table.add_columns("scenario", *headers(view.ccy))
        historical: list[Scenario] = [s for s in view.stress.scenarios if s.kind != "shock"]
        for scenario in historical:
            if scenario.kind == "window" and not scenario.moved:
                basis = "not covered by any position's history"
                table.add_row(scenario.title, *[""] * 5, basis, key=f"{scenario.title}:")
                continue
            for i, cells in enumerate(scenario_rows(scenario)):
                name = scenario.title if i == 0 else ""
                table.add_row(name, *cells, key=f"{scenario.title}:{cells[0]}")
