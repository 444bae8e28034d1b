"""Export any ActiveCampaign resource to a file per window: the warehouse's landing zone.

The resources and their rules live in :mod:`airflow_provider_activecampaign.exports` (registry,
windows, the paged read, atomic writes); see ``docs/operators/export.md``.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.export import ContactExporter
from airflow_provider_activecampaign.exports import parquet
from airflow_provider_activecampaign.exports.deletes import IdSet, IdState, append_tombstones, gone
from airflow_provider_activecampaign.exports.registry import Incremental, Resource, get_resource
from airflow_provider_activecampaign.exports.runner import ResourceExporter
from airflow_provider_activecampaign.exports.windows import (
    NoWindowError,
    Window,
    as_utc,
    resolve_window,
    window_of,
)
from airflow_provider_activecampaign.exports.writer import (
    FORMATS,
    destination,
    merge_columns,
    publish,
    read_staged,
    write_manifest,
)
from airflow_provider_activecampaign.hooks.lineage import (
    collect_hook_lineage,
    export_asset,
    file_uri,
    openlineage_datasets,
    openlineage_pair,
    resource_uri,
)
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator

#: ``mode``: ``auto`` = the API's date filter where it has one, a full snapshot otherwise;
#: ``incremental`` = a window always (cut locally when the API cannot filter); ``full`` = everything.
MODES = ("auto", "incremental", "full")


def bounded_repr(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut with its length stated (a templated value could be anything)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def read_mode(resource: Resource, mode: str) -> str:
    """The runner's read mode for a resource and the operator's ``mode`` (raises if impossible)."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}.")
    if mode == "full":
        return "full"
    if resource.incremental is Incremental.API:
        return "api"
    if mode == "incremental":
        if resource.incremental is Incremental.LOCAL:
            return "local"
        raise ValueError(
            f"{resource.name!r} cannot be exported incrementally: its records have no update time. "
            "Use mode='full' (or 'auto')."
        )
    return "full"


class ActiveCampaignExportOperator(ActiveCampaignBaseOperator):
    """Write one resource's records of a window (or all of them) to a JSON Lines or CSV file, with a manifest.

    ``resource`` is one of the registry's names (``deals``, ``accounts``, ``ecom_orders`` …; an
    unknown name fails when the DAG is parsed, listing the valid ones). Where the API filters by
    update date (contacts, deals) a run reads its data interval with a day of overlap and keeps
    exactly the records updated in ``[start, end)``; other resources are read in full (``mode="auto"``),
    or read in full and cut to the window on their own update time (``mode="incremental"``).
    Custom fields come as ``fields: {name: value}`` (CSV columns ``fields.<name>``). The file
    appears whole or not at all; ``<file>.manifest.json`` beside it holds the count, window and
    columns, and the outlet's asset event carries the same in its ``extra``.

    :param resource: What to export (see ``docs/operators/export.md``).
    :param output_path: File to write (any ``ObjectStoragePath`` URI or local path). (templated)
    :param format: ``jsonl`` (default), ``csv`` or ``parquet`` (typed columns; needs the ``[parquet]``
        extra, pyarrow).
    :param mode: ``auto``, ``incremental`` or ``full`` (see :data:`MODES`).
    :param updated_after: Window start (default: the data interval's start). (templated)
    :param updated_before: Window end (default: the data interval's end). (templated)
    :param use_data_interval: Take missing bounds from the run's data interval.
    :param api_params: Extra query parameters of the collection, e.g. ``{"filters[group]": "2"}``. (templated)
    :param parallel_reads: Pages read at once (the account's rate limit holds for the total).
    :param timezone: Time zone of the API's timestamps that carry no offset.
    :param capture_deletes: Also report the records deleted since the previous run, as tombstones
        (``{"id": ..., "_deleted": true, "_deleted_at": ...}``) appended to the output and counted in
        the manifest's ``deleted``. Ids are reconciled with the previous run's: free in ``full`` mode,
        one request per 100 records otherwise. The first run is the baseline (no tombstones).
    :param deletes_state_path: Where the ids of the previous run are kept (any ``ObjectStoragePath``).
        Default: ``.<resource>.ids`` in the output file's folder. (templated)
    :param outlets: Assets this task produces. Default: the output path's folder (the path up to
        its first template), so ``schedule=[Asset("file:///data/ac/deals")]`` follows every file.

    Returns ``{"path", "manifest", "resource", "count", "window", "mode", "columns", "filter_ignored"}``.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "output_path",
        "updated_after",
        "updated_before",
        "api_params",
        "deletes_state_path",
    )

    def __init__(
        self,
        *,
        resource: str,
        output_path: str,
        format: str = "jsonl",
        mode: str = "auto",
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        use_data_interval: bool = True,
        api_params: Mapping[str, Any] | None = None,
        parallel_reads: int = 4,
        timezone: str = "UTC",
        capture_deletes: bool = False,
        deletes_state_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        spec = get_resource(resource)  # unknown names fail at DAG parse, listing the valid ones
        if format not in FORMATS:
            raise ValueError(f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.")
        if format == "parquet" and not parquet.available():
            raise ValueError(
                "format='parquet' needs pyarrow, which is not installed on this machine: "
                "pip install 'airflow-provider-activecampaign[parquet]'."
            )
        self.read_mode = read_mode(spec, mode)
        if parallel_reads < 1:
            raise ValueError("parallel_reads must be at least 1.")
        if "outlets" not in kwargs:
            asset = export_asset(output_path)
            if asset is not None:
                kwargs["outlets"] = [asset]
        super().__init__(**kwargs)
        self.resource = spec.name
        self.output_path = output_path
        self.format = format
        self.mode = mode
        self.updated_after = updated_after
        self.updated_before = updated_before
        self.use_data_interval = use_data_interval
        self.api_params = api_params
        self.parallel_reads = parallel_reads
        self.timezone = timezone
        self.capture_deletes = capture_deletes
        self.deletes_state_path = deletes_state_path
        self._lineage: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])

    def _checked_parameters(self) -> dict[str, Any]:
        """The templated parameters, checked before any request; a mistake names its parameter."""
        params = self.api_params or {}
        if not isinstance(params, Mapping):
            raise AirflowFailException(
                f"api_params must be a mapping of query parameter to value, e.g. "
                f'{{"filters[group]": "2"}}; got {type(params).__name__} {bounded_repr(params)}.'
            )
        for key, value in params.items():
            if not isinstance(value, str | int | float | bool):
                raise AirflowFailException(
                    f"api_params[{key!r}] must be a string or number; got {type(value).__name__} "
                    f"{bounded_repr(value)}."
                )
        try:
            pendulum.timezone(str(self.timezone))
        except Exception:
            raise AirflowFailException(
                f"timezone={bounded_repr(self.timezone)} is not an IANA time zone name "
                "(e.g. 'UTC', 'America/Chicago'): the account's zone, for timestamps without an offset."
            ) from None
        for name in ("updated_after", "updated_before"):
            value = getattr(self, name)
            if isinstance(value, str) and value.strip():
                try:
                    as_utc(value, str(self.timezone))
                except (ValueError, TypeError):
                    raise AirflowFailException(
                        f"{name}={bounded_repr(value)} is not a date or datetime: pass ISO 8601 "
                        "('2024-03-01', '2024-03-01T00:00:00+00:00') or a datetime, or leave it "
                        "empty to use the run's data interval."
                    ) from None
        return dict(params)

    def _window(self, context: Context) -> Window:
        try:
            after, before = resolve_window(
                context,
                updated_after=self.updated_after,
                updated_before=self.updated_before,
                use_data_interval=self.use_data_interval,
                log=self.log,
            )
        except NoWindowError as error:
            if self.read_mode == "full":
                return Window(None, None)
            raise AirflowFailException(str(error)) from None
        try:
            return window_of(after, before)
        except ValueError as error:
            raise AirflowFailException(str(error)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        spec = get_resource(self.resource)
        api_params = self._checked_parameters()
        window = self._window(context)
        target = destination(str(self.output_path))
        hook = self.hook
        self.log.info(
            "Exporting %s (%s read) updated in [%s, %s) to %s.",
            spec.name,
            self.read_mode,
            window.start or "the beginning",
            window.end or "now",
            target,
        )
        exporter = ResourceExporter(
            hook,
            spec,
            window=window,
            mode=self.read_mode,
            params=api_params,
            parallel=self.parallel_reads,
            timezone=self.timezone,
            logger=self.log,
            contact_exporter=ContactExporter,
        )
        started = time.monotonic()
        deletes: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="ac-export-") as folder:
            staged = Path(folder) / "records.jsonl"
            stats = exporter.run(staged)
            with contextlib.ExitStack() as cleanup:
                current: IdSet | None = None
                if self.capture_deletes:
                    current = cleanup.enter_context(IdSet(Path(folder) / "ids.sqlite"))
                    deletes = self._add_tombstones(spec, exporter, staged, target, current, stats.columns)
                time_columns = [name for name in (spec.updated_field, spec.created_field) if name]
                column_types = publish(
                    staged, target, fmt=self.format, columns=stats.columns, time_columns=time_columns
                )
                if current is not None:
                    # Only after the output is published: a failure in between reports them again.
                    IdState(deletes["state"]).write(iter(current))
        elapsed = time.monotonic() - started
        window_dict = window.as_dict() if self.read_mode != "full" else Window(None, None).as_dict()
        manifest = {
            "resource": spec.name,
            "endpoint": spec.endpoint,
            "path": str(target),
            "format": self.format,
            "count": stats.count,
            "window": window_dict,
            "mode": self.read_mode,
            "api_filter": stats.api_filter,
            "filter_ignored": stats.filter_ignored,
            "records_read": stats.read,
            "duplicates_dropped": stats.duplicates,
            "unparseable_dates": stats.unparseable_dates,
            "columns": stats.columns,
            **({"column_types": column_types} if column_types else {}),
            "seconds": round(elapsed, 3),
            **({"deleted": deletes["deleted"], "deletes": deletes} if deletes else {}),
        }
        manifest_at = write_manifest(target, manifest)
        self.log.info(
            "Exported %d %s to %s in %.1f s (%.0f records/s); manifest %s.",
            stats.count,
            spec.name,
            target,
            elapsed,
            stats.count / max(elapsed, 1e-9),
            manifest_at,
        )
        source = resource_uri(hook.base_url, spec.endpoint.replace("/{parent}", ""))
        written = file_uri(target)
        collect_hook_lineage(hook, inputs=[source], outputs=[written])
        self._lineage = ([openlineage_pair(source)], [openlineage_pair(written)])
        extra: dict[str, Any] = {
            "resource": spec.name,
            "path": str(target),
            "count": stats.count,
            "window_start": window_dict["start"],
            "window_end": window_dict["end"],
            "mode": self.read_mode,
            "source": source,
        }
        outlet_events = context.get("outlet_events")
        if outlet_events is not None:
            for outlet in self.outlets or []:
                try:
                    outlet_events[outlet].extra.update(extra)
                except (KeyError, TypeError, AttributeError) as error:
                    self.log.debug("No asset event for %s: %s", outlet, error)
        return {
            "path": str(target),
            "manifest": str(manifest_at),
            "resource": spec.name,
            "count": stats.count,
            "window": window_dict,
            "mode": self.read_mode,
            "columns": stats.columns,
            "filter_ignored": stats.filter_ignored,
            **({"deleted": deletes["deleted"]} if deletes else {}),
        }

    def _add_tombstones(
        self,
        spec: Resource,
        exporter: ResourceExporter,
        staged: Path,
        target: ObjectStoragePath,
        current: IdSet,
        columns: list[str],
    ) -> dict[str, Any]:
        """Reconcile ids with the previous run's and append a tombstone per id that is gone."""
        state = IdState(self.deletes_state_path or target.parent / f".{spec.name}.ids")
        if self.read_mode == "full":
            current.add_all(str(record.get(spec.id_field)) for record in read_staged(staged))
        else:
            current.add_all(exporter.current_ids())
        baseline = not state.exists()
        detected_at = datetime.now(UTC).isoformat(timespec="seconds")
        deleted = append_tombstones(
            staged, gone(state.read(), current), id_field=spec.id_field, detected_at=detected_at
        )
        if deleted:
            merge_columns(columns, set(columns), ("_deleted", "_deleted_at"))
            self.log.info(
                "%d %s were deleted since the previous run: written as tombstones.", deleted, spec.name
            )
        elif baseline:
            self.log.info(
                "No ids from a previous run at %s: this run is the baseline for deletes.", state.path
            )
        return {"deleted": deleted, "ids_now": len(current), "baseline": baseline, "state": str(state.path)}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the collection read and the file written (no request is made for this)."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        inputs, outputs = self._lineage
        return OperatorLineage(inputs=openlineage_datasets(inputs), outputs=openlineage_datasets(outputs))
