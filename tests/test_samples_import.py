"""``ven samples import``: the seeds' asset CSVs; bad rows skipped and reported; bad files change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HEADER = "title,address,longitude,latitude\n"
BARS = HEADER + (
    "Café Noir,\"Vestergade 5, 7400 Herning\",8.9738,56.1393\n"
    ",\"Østergade 1, 7400 Herning\",8.97,56.14\n"                 # line 3: missing title
    "Bodega,\"Algade 2, 9000 Aalborg\",east,57.05\n"              # line 4: unparsable longitude
    "Pub 42,\"Nørregade 1, 1165 København K\",12.57,55.68\n"
    "Nowhere Bar,Somewhere without postcode,10.0,56.0\n"          # line 6: no town
    "High Bar,\"Torvet 1, 8000 Aarhus C\",10.21,156.2\n"          # line 7: latitude out of range
    "\"Multi\nLine Bar\",\"Torvet 2, 4800 Nykøbing F\",11.87,54.77\n"
)
CHARGERS = HEADER + "Ladestation Vest,\"Industrivej 3, 6000 Kolding\",9.47,55.49\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_imports_good_rows_and_reports_bad_ones(ven, store, tmp_path):
    bars = write(tmp_path, "bars-in-denmark.csv", BARS)
    chargers = write(tmp_path, "chargingstations-in-denmark.csv", CHARGERS)
    result = ven("samples", "import", str(bars), str(chargers), "--seed", "4")
    assert result.exit_code == 0, result.stderr
    assert "Imported 4 resources in 4 VENs" in result.out
    for line, reason in [(3, "missing title"), (4, "unparsable longitude 'east'"),
                         (6, "no town after a 4-digit postcode"), (7, "latitude '156.2' is out of range")]:
        assert f"{bars} line {line}: {reason}" in result.err
    resources = {r.resource_name: r for r in store.list_resources()}
    assert set(resources) == {"Café Noir", "Pub 42", "Multi Line Bar", "Ladestation Vest"}
    assert resources["Café Noir"].ven == "Herning" and resources["Pub 42"].ven == "København"
    assert resources["Multi Line Bar"].ven == "Nykøbing F"
    assert resources["Café Noir"].resource_type == "DSR" and resources["Café Noir"].resource_sub_type == "bar"
    assert resources["Café Noir"].location == {"longitude": 8.9738, "latitude": 56.1393}
    assert resources["Café Noir"].address == "Vestergade 5, 7400 Herning"
    assert resources["Café Noir"].capacities["MAX_POWER_CONSUMPTION"] == 25.0
    charger = resources["Ladestation Vest"]
    assert charger.resource_type == "EV" and charger.resource_sub_type == "charging_station"
    assert charger.capacities["MAX_POWER_CONSUMPTION"] == 22.0 and charger.capacities["STORAGE_MAX_KWH"] == 100.0
    assert all(r.meter_point_id.startswith("707057500") and len(r.meter_point_id) == 18 for r in resources.values())


def test_json_report_lists_every_file_and_skipped_row(ven, store, tmp_path):
    bars = write(tmp_path, "bars-in-denmark.csv", BARS)
    result = ven("samples", "import", str(bars), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 3 and report["skipped"] == 4
    [entry] = report["files"]
    assert entry["file"] == str(bars) and entry["sub_type"] == "bar" and entry["rows"] == 7
    assert [s["line"] for s in entry["skipped"]] == [3, 4, 6, 7]


def test_semicolons_bom_and_decimal_commas_are_read(ven, store, tmp_path):
    text = "\ufefftitle;address;longitude;latitude\nBageriet;Torvet 1, 8800 Viborg;9,402;56,453\n"
    path = write(tmp_path, "bakeries-in-denmark.csv", text)
    result = ven("samples", "import", str(path))
    assert result.exit_code == 0, result.stderr
    [bakery] = store.list_resources()
    assert bakery.ven == "Viborg" and bakery.location == {"longitude": 9.402, "latitude": 56.453}


BAD_FILES = {
    "missing": (None, "does not exist"),
    "directory": ("dir", "is a directory, not a CSV file"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "is not a CSV file"),
    "latin1": ("title,address,longitude,latitude\nK\xf8kken,x,1,2\n".encode("latin-1"), "is not a CSV file"),
    "columns": ("name,address,lon,lat\nA,\"Torvet 1, 7400 Herning\",1,2\n",
                "lacks the column(s) title, longitude, latitude"),
    "empty": ("", "is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_an_unusable_file_changes_nothing(ven, store, tmp_path, case):
    content, message = BAD_FILES[case]
    good = write(tmp_path, "bars-in-denmark.csv", BARS)
    bad = tmp_path / "hotels-in-denmark.csv"
    if content == "dir":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = ven("samples", "import", str(good), str(bad))
    assert result.exit_code == 2
    assert f"The asset file {bad} {message}" in result.err
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert store.count_resources() == 0


def test_a_file_without_a_sub_type_in_its_name_changes_nothing(ven, store, tmp_path):
    good = write(tmp_path, "bars-in-denmark.csv", BARS)
    bad = write(tmp_path, "windmills.csv", HEADER)
    result = ven("samples", "import", str(good), str(bad))
    assert result.exit_code == 2
    assert f"The asset file {bad} does not name a sub-type" in result.err and "swimmingpools" in result.err
    assert store.count_resources() == 0


def test_the_same_file_twice_changes_nothing(ven, store, tmp_path):
    good = write(tmp_path, "bars-in-denmark.csv", BARS)
    result = ven("samples", "import", str(good), str(good))
    assert result.exit_code == 2 and "is named twice" in result.err
    assert store.count_resources() == 0


def test_sub_type_names_in_the_file_name_are_forgiving(ven, store, tmp_path):
    path = write(tmp_path, "Swimming_Pools-in-Denmark.csv",
                 HEADER + "Bad,\"Svømmehalsvej 1, 7100 Vejle\",9.53,55.71\n")
    assert ven("samples", "import", str(path)).exit_code == 0
    [pool] = store.list_resources()
    assert pool.resource_sub_type == "swimming_pool" and pool.capacities["MAX_POWER_CONSUMPTION"] == 50.0


def test_import_refuses_a_populated_store_without_append(ven, store, tmp_path):
    bars = write(tmp_path, "bars-in-denmark.csv", BARS)
    assert ven("samples", "import", str(bars)).exit_code == 0
    before = store.resource_ids()
    refused = ven("samples", "import", str(write(tmp_path, "chargingstations-in-denmark.csv", CHARGERS)))
    assert refused.exit_code == 2 and "The store already holds 3 resources; pass --append" in refused.err
    assert store.resource_ids() == before
    added = ven("samples", "import", str(tmp_path / "chargingstations-in-denmark.csv"), "--append")
    assert added.exit_code == 0 and store.count_resources() == 4
