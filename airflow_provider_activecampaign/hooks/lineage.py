"""What the provider tells Airflow it read and wrote: asset URIs, hook lineage, OpenLineage datasets.

An ActiveCampaign collection is the asset ``activecampaign://<account host>/<collection>``, the
collection named as the v3 API names it (``contacts``, ``deals``, ``dealGroups``, ``ecomOrders``),
so the same URI comes out of the export operator, the hook and any DAG that declares it.
``get_provider_info()`` registers the scheme (``asset-uris``) with :func:`sanitize_uri`
(normaliser and validator), :func:`create_asset` (factory) and :func:`convert_asset_to_openlineage`.

Lineage never fails a task and never costs a request: everything here works on values the task
already has; the OpenLineage classes are imported only when asked for (the provider does not
depend on ``apache-airflow-providers-openlineage``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from airflow.sdk import Asset

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset as OpenLineageDataset

SCHEME = "activecampaign"
_COLLECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: ``events/<type>``: what the webhook receiver records (``events/unsubscribe``, ``events/deal_update``).
_EVENT_STREAM = re.compile(r"^events/[a-z][a-z0-9_]*$")
log = logging.getLogger(__name__)


def account_host(base_url: str) -> str:
    """``https://Acme.api-us1.com/api/3`` -> ``acme.api-us1.com`` (the port kept if there is one)."""
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def collection_of(endpoint: str) -> str:
    """``deals/12?x=1`` -> ``deals``: the collection an endpoint reads or writes."""
    return endpoint.strip("/").split("/")[0].split("?")[0]


def resource_uri(base_url: str, collection: str) -> str:
    """``activecampaign://acme.api-us1.com/deals``: the one builder of the provider's asset URIs.

    The hook (what it read and wrote), the export operator and the webhook receiver all build their
    URIs here, so the same collection is the same asset wherever it comes from.
    """
    return f"{SCHEME}://{account_host(base_url)}/{collection_of(collection)}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Validate and normalise an ``activecampaign://`` URI (Airflow calls this for every such asset).

    The host is the account's API host, lower-cased; the path is one collection name, or
    ``events/<type>`` for the events the webhook receiver records. Anything else (no host, another
    nested path, a query) is refused, so a typo does not create a second asset.
    """
    if not uri.netloc:
        raise ValueError(
            "An activecampaign:// asset URI needs the account's API host: "
            "activecampaign://<account>.api-us1.com/<collection>"
        )
    collection = uri.path.strip("/")
    if not (_COLLECTION.match(collection) or _EVENT_STREAM.match(collection)):
        raise ValueError(
            "An activecampaign:// asset URI names one collection (e.g. /deals) or one event type "
            f"(e.g. /events/unsubscribe), not {uri.path!r}."
        )
    if uri.query:
        raise ValueError("An activecampaign:// asset URI takes no query string.")
    return uri._replace(netloc=uri.netloc.lower(), path=f"/{collection}", query="", fragment="")


def create_asset(*, host: str, collection: str, extra: Mapping[str, Any] | None = None) -> Asset:
    """The asset of one collection of one account (the ``asset-uris`` factory)."""
    return Asset(uri=resource_uri(host, collection), extra=dict(extra or {}))


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> OpenLineageDataset:
    """``activecampaign://host/deals`` -> OpenLineage namespace ``activecampaign://host``, name ``deals``."""
    from airflow.providers.common.compat.openlineage.facet import Dataset as OpenLineageDataset

    parts = urlsplit(asset.uri)
    return OpenLineageDataset(namespace=f"{SCHEME}://{parts.netloc}", name=parts.path.strip("/"))


def file_uri(path: Any) -> str:
    """An asset URI for a written file or folder: ``s3://b/k`` as is, local paths as ``file:///abs``."""
    text = str(path)
    if "://" in text:
        return text.rstrip("/")
    return "file://" + str(Path(text).expanduser().absolute()).rstrip("/")


def static_prefix(path_template: str) -> str:
    """The part of a (templated) output path known at parse time: up to the folder of the first ``{{``."""
    text = str(path_template)
    cut = text.find("{{")
    if cut < 0:
        return text
    head = text[:cut]
    return head[: head.rfind("/")] if "/" in head else head


def export_asset(output_path: Any) -> Asset | None:
    """The asset an export declares as its outlet: its output folder (or file, if not templated)."""
    prefix = static_prefix(str(output_path))
    if not prefix or prefix in ("/", "file://"):
        return None
    return Asset(uri=file_uri(prefix))


def collect_hook_lineage(hook: Any, *, inputs: list[str] = (), outputs: list[str] = ()) -> None:  # type: ignore[assignment]
    """Report what ``hook`` read and wrote to Airflow's hook-lineage collector (no-op without a reader)."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        for uri in inputs:
            collector.add_input_asset(context=hook, uri=uri)
        for uri in outputs:
            collector.add_output_asset(context=hook, uri=uri)
    except Exception as error:  # lineage must never fail the data
        log.debug("Hook lineage not recorded: %s", error)


def openlineage_datasets(pairs: list[tuple[str, str]]) -> list[Any]:
    """OpenLineage datasets from ``(namespace, name)`` pairs, or ``[]`` if OpenLineage is not installed."""
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset as OpenLineageDataset
    except ImportError:
        return []
    return [OpenLineageDataset(namespace=namespace, name=name) for namespace, name in pairs]


def openlineage_pair(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("s3://bucket", "a/b")``; ``file:///x/y`` -> ``("file", "/x/y")``."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return ("file", parts.path)
    if parts.scheme == SCHEME:
        return (f"{SCHEME}://{parts.netloc}", parts.path.strip("/"))
    return (f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))
