"""Atomic export files, CSV columns, manifests, and the lineage/asset rules the export uses."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_activecampaign.exports import writer
from airflow_provider_activecampaign.hooks import lineage
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator


def staged(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "staged.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_csv_has_custom_fields_as_named_columns(tmp_path: Path) -> None:
    records = [
        {"id": "1", "title": "A", "fields": {"Lead source": "web", "Products": ["A", "B"]}},
        {"id": "2", "title": "B", "fields": {"Lead source": None, "Products": []}},
    ]
    columns: list[str] = []
    seen: set[str] = set()
    for record in records:
        writer.merge_columns(columns, seen, writer.columns_of(record))
    target = writer.destination(str(tmp_path / "out" / "deals.csv"))
    writer.publish(staged(tmp_path, records), target, fmt="csv", columns=columns)

    rows = list(csv.DictReader((tmp_path / "out" / "deals.csv").open(encoding="utf-8")))
    assert columns == ["id", "title", "fields.Lead source", "fields.Products"]
    assert rows[0] == {"id": "1", "title": "A", "fields.Lead source": "web", "fields.Products": '["A", "B"]'}
    assert rows[1]["fields.Lead source"] == ""


def test_a_failed_write_leaves_neither_a_file_nor_a_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target_file = tmp_path / "out" / "deals.jsonl"
    target_file.parent.mkdir()
    target_file.write_text("yesterday's complete file\n")

    def broken(staged: Path, handle: Any, fmt: str, columns: list[str]) -> None:
        handle.write('{"id": "1"}\n')
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_format", broken)
    with pytest.raises(OSError, match="disk full"):
        writer.publish(
            staged(tmp_path, [{"id": "1"}]), writer.destination(str(target_file)), fmt="jsonl", columns=[]
        )
    assert target_file.read_text() == "yesterday's complete file\n"  # untouched, never half-replaced
    assert sorted(p.name for p in target_file.parent.iterdir()) == ["deals.jsonl"]


def test_the_manifest_sits_beside_the_file(tmp_path: Path) -> None:
    target = writer.destination(str(tmp_path / "deals.jsonl"))
    path = writer.write_manifest(target, {"count": 3, "columns": ["id"]})
    assert str(path).endswith("deals.jsonl.manifest.json")
    assert json.loads((tmp_path / "deals.jsonl.manifest.json").read_text()) == {"columns": ["id"], "count": 3}


def test_activecampaign_asset_uris_are_validated_and_normalised() -> None:
    uri = lineage.resource_uri("https://Acme.API-us1.com/api/3", "deals/12")
    assert uri == "activecampaign://acme.api-us1.com/deals"
    assert (
        lineage.resource_uri("http://127.0.0.1:8765", "dealGroups")
        == "activecampaign://127.0.0.1:8765/dealGroups"
    )
    normalised = lineage.sanitize_uri(urlsplit("activecampaign://ACME.api-us1.com/deals/"))
    assert normalised.geturl() == "activecampaign://acme.api-us1.com/deals"
    # The webhook receiver's assets: one per event type.
    event = lineage.sanitize_uri(urlsplit("activecampaign://ACME.api-us1.com/events/unsubscribe"))
    assert event.geturl() == "activecampaign://acme.api-us1.com/events/unsubscribe"
    for bad in (
        "activecampaign://acme.api-us1.com/events/Un-Subscribe",
        "activecampaign://acme.api-us1.com/events/unsubscribe/7",
        "activecampaign:///deals",
        "activecampaign://acme.api-us1.com/deals/12",
        "activecampaign://a/x?y=1",
    ):
        with pytest.raises(ValueError, match="activecampaign://"):
            lineage.sanitize_uri(urlsplit(bad))


def test_the_export_asset_is_the_output_folder_known_at_parse_time() -> None:
    assert lineage.static_prefix("s3://lake/ac/deals/{{ ds }}.jsonl") == "s3://lake/ac/deals"
    asset = lineage.export_asset("/data/ac/deals/{{ ds }}.jsonl")
    assert asset is not None
    assert asset.uri == "file:///data/ac/deals"
    assert lineage.export_asset("{{ var.value.path }}") is None
    assert lineage.openlineage_pair("s3://lake/ac/deals/x.jsonl") == ("s3://lake", "ac/deals/x.jsonl")
    assert lineage.openlineage_pair("activecampaign://acme.api-us1.com/deals") == (
        "activecampaign://acme.api-us1.com",
        "deals",
    )


def test_the_operator_refuses_unknown_resources_and_impossible_modes_at_parse_time() -> None:
    with pytest.raises(ValueError, match=r"Unknown ActiveCampaign resource 'deal'.*Valid resources: "):
        ActiveCampaignExportOperator(task_id="x", resource="deal", output_path="/tmp/x.jsonl")
    with pytest.raises(ValueError, match="'tags' cannot be exported incrementally"):
        ActiveCampaignExportOperator(
            task_id="x", resource="tags", output_path="/tmp/x.jsonl", mode="incremental"
        )
    with pytest.raises(ValueError, match="Unknown format 'xlsx'"):
        ActiveCampaignExportOperator(task_id="x", resource="deals", output_path="/tmp/x", format="xlsx")
    operator = ActiveCampaignExportOperator(
        task_id="x", resource="deals", output_path="/lake/deals/{{ ds }}.jsonl"
    )
    assert [a.uri for a in operator.outlets] == ["file:///lake/deals"]
    assert operator.read_mode == "api"
    assert ActiveCampaignExportOperator(task_id="y", resource="lists", output_path="/x").read_mode == "full"


class RecordingCollector:
    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.outputs: list[str] = []

    def add_input_asset(self, *, context: Any, uri: str) -> None:
        self.inputs.append(uri)

    def add_output_asset(self, *, context: Any, uri: str) -> None:
        self.outputs.append(uri)


def test_hook_lineage_reports_collections_read_and_files_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.lineage

    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

    collector = RecordingCollector()
    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", lambda: collector)
    hook = ActiveCampaignHook()
    hook.__dict__["settings"] = SimpleNamespace(base_url="https://Acme.api-us1.com")
    hook._collect_lineage("/dealGroups/")
    lineage.collect_hook_lineage(
        hook, inputs=["activecampaign://acme.api-us1.com/deals"], outputs=["file:///x"]
    )
    assert collector.inputs == [
        "activecampaign://acme.api-us1.com/dealGroups",
        "activecampaign://acme.api-us1.com/deals",
    ]
    assert collector.outputs == ["file:///x"]


def test_lineage_problems_never_fail_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk.lineage

    def broken() -> Any:
        raise RuntimeError("no collector")

    monkeypatch.setattr(airflow.sdk.lineage, "get_hook_lineage_collector", broken)
    lineage.collect_hook_lineage(object(), inputs=["activecampaign://a/deals"])  # no exception


def test_the_registered_scheme_normalises_activecampaign_assets() -> None:
    from airflow.sdk import Asset

    assert Asset("activecampaign://ACME.api-us1.com/deals/").uri == "activecampaign://acme.api-us1.com/deals"
    with pytest.raises(ValueError, match="names one collection"):
        Asset("activecampaign://acme.api-us1.com/deals/12")
