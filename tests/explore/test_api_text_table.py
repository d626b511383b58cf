"""The explorer's API on a text run and on a table run: sentences shown as sentences, rows as
{column: value} objects, each equal to what vaekit's own recipes make of the same code, and the
user's own sentence or row encoded as the model reads it."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from starlette.testclient import TestClient

from explore_helpers import tree_hashes
from vaekit.explore import create_app


@pytest.fixture(scope="module")
def text_client(text_run):
    return TestClient(create_app(text_run, limit=50))


@pytest.fixture(scope="module")
def table_client(table_run):
    return TestClient(create_app(table_run, limit=80))


def _state(client):
    return next(iter(client.app.state.explorers.values()))


# ----------------------------------------------------------------------------- text


def test_a_text_run_decodes_codes_to_the_greedy_sentences(text_client):
    state = _state(text_client)
    info = text_client.get("/api/info").json()
    assert info["kind"] == "text" and info["latent_dim"] == 4 and info["columns"] is None
    z = torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.0, -2.0, 1.0, -1.0]])
    got = text_client.post("/api/decode", json={"z": z.tolist()}).json()["outputs"]
    with torch.no_grad():
        ids, lengths = state.model.decode(z).greedy()  # the likeliest word at each step, computed here
    assert got == state.run.codec.decode(ids, lengths)
    assert all(isinstance(s, str) for s in got)


def test_a_text_point_shows_the_sentence_and_its_reconstruction(text_client):
    from vaekit.sample.text import reconstruct_text

    state = _state(text_client)
    p = text_client.get("/api/point/4").json()
    ((sentence, recon),) = reconstruct_text(state.run, state.x[4:5])
    assert (p["input"], p["reconstruction"]) == (sentence, recon)
    assert p["input"] == state.run.codec.decode(state.x[4:5])[0]


def test_text_samples_and_interpolations_are_sentences(text_client):
    from vaekit.sample.text import interpolate_text, sample_text

    state = _state(text_client)
    got = text_client.post("/api/sample", json={"n": 4, "temperature": 0.8, "seed": 5}).json()["outputs"]
    assert got == sample_text(state.run, 4, 0.8, 5)
    line = text_client.post("/api/interpolate", json={"a": 1, "b": 2, "steps": 4}).json()["outputs"]
    assert line == interpolate_text(state.run, state.x[1:2], state.x[2:3], 4)[0]


def test_a_typed_sentence_is_encoded_with_the_runs_vocabulary(text_client):
    state = _state(text_client)
    out = text_client.post("/api/encode", json={"sentence": "the cat sees the zebra"}).json()
    ids = state.run.codec.encode(["the cat sees the zebra"]).ids
    assert out["input"] == state.run.codec.decode(ids)[0] and "<unk>" in out["input"]  # 'zebra' is no word of the run
    with torch.no_grad():
        assert out["code"] == pytest.approx(state.model.encode(ids).mu[0].tolist(), abs=1e-5)
    for body, words in (({"sentence": ""}, "non-empty"), ({"sentence": 3}, "non-empty"),
                        ({"sentence": "a\nb"}, "one sentence"), ({"sentence": "x" * 20_000}, "at most"),
                        ({"image": "abc"}, "send {\"sentence\""), ({"sentence": "a", "row": {}}, "no field 'row'")):
        r = text_client.post("/api/encode", json=body)
        assert r.status_code == 400 and words in r.json()["error"], r.text


def test_a_very_long_sentence_is_cut_as_the_model_reads_it(text_client):
    state = _state(text_client)
    words = " ".join(["the cat"] * 40)
    out = text_client.post("/api/encode", json={"sentence": words}).json()
    assert len(out["input"].split()) < 40 and words.startswith(out["input"])
    assert len(state.run.codec.encode([out["input"]]).ids[0]) <= state.run.codec.max_length


# ----------------------------------------------------------------------------- table


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in df.to_dict("records")]


def test_a_table_run_decodes_codes_to_rows_of_its_columns(table_client):
    state = _state(table_client)
    info = table_client.get("/api/info").json()
    assert info["kind"] == "table"
    assert [c["name"] for c in info["columns"]] == ["age", "income", "city", "owner", "children"]  # 'id' is left out
    city = next(c for c in info["columns"] if c["name"] == "city")
    assert city == {"name": "city", "kind": "categorical", "values": ["Lyon", "Nice", "Paris"]}
    z = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.5, -1.0, 0.5, 2.0]])
    got = table_client.post("/api/decode", json={"z": z.tolist()}).json()["outputs"]
    with torch.no_grad():
        want = _records(state.run.codec.decode(state.model.decode(z).mean))
    assert list(got[0]) == ["age", "income", "city", "owner", "children"]
    _close(got, want)


def _close(got: list[dict], want: list[dict]) -> None:
    """Rows equal cell by cell (floats to their last bits: JSON carries them exactly)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for k in g:
            assert g[k] == (pytest.approx(w[k], rel=1e-12) if isinstance(w[k], float) else w[k]), (k, g, w)


def test_a_table_point_shows_its_row_with_missing_cells_as_null(table_client):
    state = _state(table_client)
    missing = (state.mask == 0).any(1).nonzero().flatten()
    assert len(missing), "the tiny table has missing cells"
    i = int(missing[0])
    p = table_client.get(f"/api/point/{i}").json()
    want = _records(state.run.codec.decode(state.x[i:i + 1]))[0]
    for block in state.run.codec.layout:
        if not bool(state.mask[i, block.start:block.start + block.width].all()):
            want[block.name] = None
    _close([p["input"]], [want])
    assert None in p["input"].values() and None not in p["reconstruction"].values()


def test_table_samples_are_the_synthesized_rows(table_client):
    from vaekit.sample.rows import synthesize

    state = _state(table_client)
    got = table_client.post("/api/sample", json={"n": 6, "seed": 2, "temperature": 0.9}).json()["outputs"]
    _close(got, _records(synthesize(state.run, 6, seed=2, temperature=0.9)))
    line = table_client.post("/api/interpolate", json={"a": 0, "b": 3, "steps": 3}).json()["outputs"]
    assert len(line) == 3 and all(set(r) == set(got[0]) for r in line)


def test_a_row_is_encoded_with_left_out_columns_as_missing_cells(table_client):
    state = _state(table_client)
    out = table_client.post("/api/encode", json={"row": {"age": 30, "city": "Paris", "owner": True}}).json()
    assert out["input"] == {"age": 30, "income": None, "city": "Paris", "owner": True, "children": None}
    frame = pd.DataFrame({"age": [30], "income": [None], "city": ["Paris"], "owner": [True], "children": [None]})
    x, _ = state.run.codec.encode(frame)
    with torch.no_grad():
        assert out["code"] == pytest.approx(state.model.encode(x).mu[0].tolist(), abs=1e-5)
    for row, words in (({"city": "Berlin"}, "'Berlin', not seen in training"), ({"cty": "Paris"}, "did you mean 'city'"),
                       ({"age": [1]}, "must be a number"), ({"age": "old"}, "'age' is integer but row 1 holds 'old'"),
                       ({"age": True}, "holds numbers (integer), not true"), ({"income": 1e300}, "size at most"),
                       ({"children": 7}, "'7', not seen in training")):
        r = table_client.post("/api/encode", json={"row": row})
        assert r.status_code == 400 and words in r.json()["error"], r.text
    r = table_client.post("/api/encode", json={"row": []})
    assert r.status_code == 400 and "object" in r.json()["error"]


def test_text_and_table_runs_are_left_as_they_were(text_run, table_run, text_client, table_client):
    before = {run: tree_hashes(run) for run in (text_run, table_run)}
    for client, body in ((text_client, {"sentence": "a dog likes some bread"}), (table_client, {"row": {"age": 40}})):
        assert client.post("/api/encode", json=body).status_code == 200
        assert client.post("/api/sample", json={"n": 3}).status_code == 200
        assert client.get("/api/point/0").status_code == 200
    assert {run: tree_hashes(run) for run in (text_run, table_run)} == before


def test_a_table_conditioned_on_its_label_column_decodes_rows_of_the_chosen_class(tmp_path):
    import warnings

    import vaekit
    from table_helpers import make_table

    make_table(n=200, missing=0.0).to_csv(tmp_path / "people.csv", index=False)
    config = vaekit.parse_config({
        "data": {"name": "table", "path": str(tmp_path / "people.csv"), "label_column": "city"},
        "model": {"name": "cvae", "latent_dim": 3, "encoder": {"name": "mlp", "hidden": [16]},
                  "decoder": {"name": "mlp", "hidden": [16]}},
        "train": {"epochs": 1, "batch_size": 64, "report": False, "sample_grid": 0, "progress": False}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id column is left out
        run = vaekit.train(config, tmp_path / "by-city", log=lambda msg: None)
    client = TestClient(create_app(run, limit=30))
    info = client.get("/api/info").json()
    assert info["conditional"] and info["classes"] == ["Lyon", "Nice", "Paris"]
    assert info["columns"][-1] == {"name": "city", "kind": "categorical", "values": ["Lyon", "Nice", "Paris"]}
    z = [0.4, -0.3, 1.2]
    (row,) = client.post("/api/decode", json={"z": z, "class": 1}).json()["outputs"]
    with torch.no_grad():
        x = run.model.decode(torch.tensor([z]), torch.tensor([1])).mean
    _close([row], _records(run.codec.decode(x, y=torch.tensor([1]))))
    assert row["city"] == "Nice"
    assert {r["city"] for r in client.post("/api/sample", json={"n": 5, "class": 2}).json()["outputs"]} == {"Paris"}
    encoded = client.post("/api/encode", json={"row": {"age": 30, "city": "Lyon"}}).json()
    assert encoded["label"] == 0 and encoded["input"]["city"] == "Lyon"
    r = client.post("/api/encode", json={"row": {"age": 30}})
    assert r.status_code == 400 and "label column 'city'" in r.json()["error"]
