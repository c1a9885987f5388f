"""Where a client reads on: the URLs responses carry (next pages, where to poll a deployment).
Relative to the API's host, as the `Location` header may be (RFC 9110)."""

from urllib.parse import quote, urlencode

from scenario_migration.api.resolver import API_PREFIX
from scenario_migration.domain.lifecycle import PlanView
from scenario_migration.domain.plan import MapPage, PlanSummaryView, WarningsPage


def plan_url(plan_id: str, *parts: str) -> str:
    return "/".join([f"{API_PREFIX}/migration-plans/{quote(plan_id, safe='')}", *parts])


def deployment_status_url(plan_id: str) -> str:
    return plan_url(plan_id, "deployment-status")


def _next(plan_id: str, resource: str, token: str | None, limit: int | None = None) -> str | None:
    """The next page's URL (it keeps the page size asked for)."""
    if token is None:
        return None
    query = {"next_token": token, **({"limit": limit} if limit is not None else {})}
    return f"{plan_url(plan_id, resource)}?{urlencode(query)}"


def map_page(plan_id: str, page: MapPage, limit: int | None = None) -> MapPage:
    return page.model_copy(update={"next": _next(plan_id, "transformation-map", page.next_token, limit)})


def warnings_page(page: WarningsPage, limit: int | None = None) -> WarningsPage:
    return page.model_copy(update={"next": _next(page.plan_id, "warnings", page.next_token, limit)})


def plan_summary(plan_id: str, summary: PlanSummaryView) -> PlanSummaryView:
    return summary.model_copy(
        update={"warnings_next": _next(plan_id, "warnings", summary.warnings_next_token)}
    )


def plan(view: PlanView) -> PlanView:
    """The plan with the links to the rest of its map and of its warnings."""
    return view.model_copy(
        update={
            "summary": plan_summary(view.id, view.summary),
            "transformation_map": map_page(view.id, view.transformation_map),
        }
    )
