"""The export's on-disk spool: the newest copy of each record once, in id order, with its values."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_activecampaign.exports.deletes import IdSet
from airflow_provider_activecampaign.exports.spool import RecordSpool


def test_a_record_read_twice_is_kept_once_newest_copy_wins(tmp_path: Path) -> None:
    with RecordSpool(tmp_path / "s.spool") as spool:
        assert spool.put("7", 10.0, {"id": "7", "title": "old"}) is False
        assert spool.put("7", 20.0, {"id": "7", "title": "new"}) is True
        assert spool.put("7", 15.0, {"id": "7", "title": "stale"}) is True  # older: ignored
        assert spool.count() == 1
        [[(record, values)]] = list(spool.pages(100))
    assert record == {"id": "7", "title": "new"}
    assert values == {}


def test_records_come_back_in_id_order_numbers_first_with_their_values(tmp_path: Path) -> None:
    with RecordSpool(tmp_path / "s.spool") as spool:
        for ident in ("10", "b", "9", "a", "100"):
            spool.put(ident, 0.0, {"id": ident})
        spool.set_value("9", "Plan", "gold")
        spool.set_value("9", "Seats", ["a", "b"])
        spool.set_value("100", "Plan", None)
        assert list(spool.ids()) == ["9", "10", "100", "a", "b"]
        pages = list(spool.pages(2))
    assert [[record["id"] for record, _ in page] for page in pages] == [["9", "10"], ["100", "a"], ["b"]]
    assert pages[0][0][1] == {"Plan": "gold", "Seats": ["a", "b"]}
    assert pages[1][0][1] == {"Plan": None}


def test_closing_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    spool = RecordSpool(path)
    spool.put("1", 0.0, {"id": "1"})
    assert path.exists()
    spool.close()
    assert not path.exists()


def test_an_id_set_is_scratch_space_too_gone_when_its_block_ends(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    with IdSet(path) as ids:
        ids.add_all(["10", "9", "x", "9"])
        assert list(ids) == ["9", "10", "x"]  # the export's id order, once each
        assert path.exists()
    assert not path.exists()
