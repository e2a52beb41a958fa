import io

import pytest
from django.core.management import CommandError, call_command

from rooms.models import Chain, Hotel

HEADER = "external_ref,name,chain,address,city,country_code,latitude,longitude\n"
ROWS = (
    "H1,Harbour Inn Riverside,Harbour Inns,1 River Road,Portland,US,45.52,-122.68\n"
    "H2,Harbour Inn Airport,Harbour Inns,9 Airport Way,Portland,us,45.59,-122.59\n"
    'H3,"Hotel Lumière, Gare",,"3 rue X, 2e",Lyon,FR,45.76,4.86\n'
)


def write_csv(tmp_path, text, name="hotels.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(path):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_hotels", path, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_hotels_and_creates_chains_by_name(db, tmp_path):
    out, err = run(write_csv(tmp_path, HEADER + ROWS))
    assert "created: 3, updated: 0, unchanged: 0" in out
    assert "3/3" in err  # the tqdm progress bar
    assert Chain.objects.get().name == "Harbour Inns"
    assert Chain.objects.get().hotels.count() == 2
    lyon = Hotel.objects.get(external_ref="H3")
    assert (lyon.name, lyon.chain, lyon.address) == ("Hotel Lumière, Gare", None, "3 rue X, 2e")
    assert Hotel.objects.get(external_ref="H2").country_code == "US"


def test_reimport_is_idempotent_and_updates_changed_rows(db, tmp_path):
    path = write_csv(tmp_path, HEADER + ROWS)
    run(path)
    ids = dict(Hotel.objects.values_list("external_ref", "id"))
    out, _ = run(path)
    assert "created: 0, updated: 0, unchanged: 3" in out
    changed = ROWS.replace("Harbour Inn Airport,Harbour Inns", "Airport Lodge,Lodge Co")
    out, _ = run(write_csv(tmp_path, HEADER + changed, "v2.csv"))
    assert "created: 0, updated: 1, unchanged: 2" in out
    assert dict(Hotel.objects.values_list("external_ref", "id")) == ids
    airport = Hotel.objects.get(external_ref="H2")
    assert (airport.name, airport.chain.name) == ("Airport Lodge", "Lodge Co")
    assert Hotel.objects.count() == 3


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        ("H9,Bad Lat,,,Oslo,NO,95,10.7", "latitude"),
        ("H9,Bad Number,,,Oslo,NO,north,10.7", "'north' is not a number"),
        ("H9,NaN,,,Oslo,NO,nan,10.7", "is not a number"),
        ("H9,Bad Country,,,Oslo,Norway,59.9,10.7", "country_code"),
        (",No Ref,,,Oslo,NO,59.9,10.7", "external_ref is empty"),
        ("H9,,,,Oslo,NO,59.9,10.7", "name"),
        ("H1,Dup,,,Oslo,NO,59.9,10.7", "already appears on line 2"),
        ("H9,Extra,,,Oslo,NO,59.9,10.7,oops", "more fields"),
    ],
)
def test_bad_row_names_line_and_reason_and_changes_nothing(db, tmp_path, bad_row, reason):
    run(write_csv(tmp_path, HEADER + "H1,Old Name,,,Portland,US,45.5,-122.6\n", "old.csv"))
    # The bad row is line 4, after two good rows that would update H1 and create H2.
    text = HEADER + ROWS.splitlines(keepends=True)[0] + "H2,New,New Chain,,X,US,1,1\n"
    with pytest.raises(CommandError) as excinfo:
        run(write_csv(tmp_path, text + bad_row + "\n"))
    message = str(excinfo.value)
    assert "line 4" in message and reason in message
    assert "nothing was imported" in message
    # Rolled back: H1 keeps its old name, H2 and the new chain do not exist.
    assert list(Hotel.objects.values_list("external_ref", "name")) == [("H1", "Old Name")]
    assert not Chain.objects.exists()


def test_missing_column_is_reported(db, tmp_path):
    with pytest.raises(CommandError, match="line 1: missing column.*longitude"):
        run(write_csv(tmp_path, "external_ref,name,chain,address,city,country_code,latitude\n"))


def test_missing_file_is_reported(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "nope.csv"))
