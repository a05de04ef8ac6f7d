"""Dispatch of the fake CRM: registers route tables, wraps handlers (faults, auth, error answers).

:meth:`Router.install_routes` registers the ``ROUTES`` of each class in ``route_families``, in
that order, on the server; :meth:`Router._endpoint` is the one wrapper every CRM call runs through,
so per-call behaviour (latency, in-flight counting, limits) belongs there.
"""

from __future__ import annotations

from collections.abc import Callable

from .._server.messages import FakeRequest, FakeResponse, zoho_error
from .faults import FaultPlan, fault_response
from .request import CRMRequests
from .util import CRMContext as _Ctx
from .util import CRMFault, iso


class Router(CRMRequests):
    """Registers route families on the server and wraps each handler."""

    #: Classes whose ``ROUTES`` are registered, in this order (the server tries routes in order).
    route_families: tuple[type[CRMRequests], ...] = ()

    def install_routes(self) -> None:
        """Register every CRM route on the fake server (specific paths before generic ones)."""
        for family in self.route_families:
            for route in family.ROUTES:
                handler = getattr(self, route.handler)
                self.fake.route(
                    route.method, route.pattern, self._endpoint(route.name, handler), route.name
                )

    def _endpoint(
        self, name: str, handler: Callable[[_Ctx], FakeResponse]
    ) -> Callable[[FakeRequest], FakeResponse]:
        def run(request: FakeRequest) -> FakeResponse:
            plan = self._take_fault(name, request.path_params.get("module"))
            if plan is not None and not plan.after_write:
                return fault_response(plan)
            ctx: _Ctx | None = None
            try:
                ctx = self._authenticate(request, name)
                response = handler(ctx)
            except CRMFault as fault:
                response = zoho_error(
                    fault.status, fault.code, fault.message, fault.details, fault.headers
                )
            if plan is not None:
                response = fault_response(plan)
            if (
                ctx is not None
                and ctx.token_expires_at is not None
                and self.options.access_token_reset_header
            ):
                response.headers.setdefault(
                    "X-Accesstoken-Reset", iso(ctx.token_expires_at, self.tz)
                )
            return response

        run.__name__ = f"crm_{handler.__name__.lstrip('_')}"
        return run

    def _take_fault(self, endpoint: str, module: str | None) -> FaultPlan | None:
        return self._faults.take(
            lambda plan: (
                plan.endpoint in (None, endpoint) and (plan.module is None or plan.module == module)
            )
        )
