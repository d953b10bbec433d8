"""Page tests (AppTest) for the Digits page: a collection's drawings by digit, deleting an entry,
renaming and deleting a collection (with a confirmation), export and import, and a bad import."""

from __future__ import annotations

import io
import sqlite3
import zipfile

import numpy as np
import pytest
from conftest import digit_image
from helpers import open_page, unmarked
from streamlit.testing.v1 import AppTest

from mnist_core import preprocess
from mnist_core.config import TrainConfig
from mnist_core.drawings import DrawingStore, StoreError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


PAGE_SIZE = 48  # app_pages/digits.py's thumbnails per page
ALICE, BOB = "session:alice", "session:bob"  # two visitors (lab_ui.visitor_token's fallback form)


def page(visitor: str = ALICE, **state) -> AppTest:
    """The Digits page as `visitor` sees it."""
    return open_page("app_pages/digits.py", state={"_lab_visitor": visitor, **state})


@pytest.fixture
def store(runs_dir) -> DrawingStore:
    s = DrawingStore()
    for d in (1, 1, 1, 4):
        s.add("mine", d, preprocess(np.asarray(digit_image(d))), model="cnn", predicted=7, by=ALICE)
    return s


def markdowns(at) -> str:
    return " | ".join(m.value for m in at.markdown)


def test_no_drawings_yet_says_how_to_keep_them(runs_dir):
    at = page()
    assert any("No drawings kept yet" in i.value for i in at.info)


def test_the_collection_shows_by_digit_and_an_entry_can_be_deleted(store):
    at = page()
    assert at.selectbox(key="dig_collection").value == "mine"
    text = markdowns(at)
    assert "**1** · 3 drawing(s)" in text and "**4** · 1 drawing(s) · fewer than 3" in text
    assert len([b for b in at.button if (b.key or "").startswith("dig_del_")]) == 3  # the 1s: one per thumbnail
    first = store.drawings("mine", 1)[0]
    at.button(key=f"dig_del_{first.id}").click().run()
    at.run()  # the page after its rerun
    assert not at.exception
    assert first.id not in [d.id for d in store.drawings("mine")] and len(store.drawings("mine")) == 3
    assert "**1** · 2 drawing(s)" in markdowns(at)


def test_only_drawn_digits_get_a_line_and_the_missing_ones_share_one(store):
    text = markdowns(page())
    assert "**1** · 3 drawing(s)" in text and "**4** · 1 drawing(s) · fewer than 3" in text
    assert "0 drawing(s)" not in text and "**0**" not in text
    assert text.count("fewer than 3") == 1  # the 4s only: the 1s have three
    assert "Not drawn yet: 0, 2, 3, 5, 6, 7, 8, 9" in text


def test_drawings_kept_as_not_a_digit_show_apart_and_can_be_opened(store):
    from mnist_core.drawings import NOT_A_DIGIT

    star = preprocess(np.asarray(digit_image(8, width=40)))
    store.add("mine", NOT_A_DIGIT, star, model="cnn", predicted=8, by=ALICE)
    at = page()
    assert "**not a digit** · 1 drawing(s)  \n" in markdowns(at)  # no "fewer than 3": any number will do
    control = at.get("button_group")[0]
    assert "not a digit" in str(control.proto)
    at.session_state["dig_digit"] = NOT_A_DIGIT
    at.run()
    assert not at.exception
    assert len([b for b in at.button if (b.key or "").startswith("dig_del_")]) == 1  # its one thumbnail


def test_rename_then_delete_with_a_confirmation(store):
    at = page()
    at.text_input(key="dig_rename_mine").set_value("class 4b")
    at.button(key="dig_rename_go_mine").click().run()
    assert not at.exception and store.collections() == {"class 4b": 4}
    at.run()
    assert at.button(key="dig_delete_class 4b").disabled  # not until it is confirmed
    assert store.collections() == {"class 4b": 4}
    at.checkbox(key="dig_confirm_class 4b").check().run()
    at.button(key="dig_delete_class 4b").click().run()
    assert not at.exception and store.collections() == {}
    assert any("No drawings kept yet" in i.value for i in at.info)


def test_a_bad_import_is_refused_with_its_reason_and_changes_nothing(store):
    at = page()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../escape/3/x.png", b"x")
    at.file_uploader(key="dig_import").set_value(("evil.zip", buf.getvalue(), "application/zip")).run()
    at.button(key="dig_import_go").click().run()
    assert not at.exception
    assert any("Nothing was imported" in e.value and "DIGIT/NAME.png" in unmarked(e.value) for e in at.error)
    assert store.collections() == {"mine": 4}
    at.file_uploader(key="dig_import").set_value(("mine.zip", store.export_zip("mine"), "application/zip")).run()
    at.button(key="dig_import_go").click().run()
    assert any("Imported 4 drawings" in s.value for s in at.success)
    assert store.collections() == {"mine": 8}


def test_fine_tune_names_what_is_missing_then_trains_a_new_model(runs_dir, small_data_dir, tmp_path, monkeypatch):
    import lab_ui
    from mnist_core import checkpoints, training

    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    models = tmp_path / "models"
    training.train(TrainConfig(arch="softmax", max_steps=30), data_root=small_data_dir).save(
        models / "softmax.pt", name="softmax"
    )
    monkeypatch.setenv("MNIST_MODELS_DIR", str(models))
    store = DrawingStore()
    store.add("mine", 2, preprocess(np.asarray(digit_image(2))), by=ALICE)
    at = page()
    assert any("Not yet: too few drawings" in i.value and "draw 2 more 2s" in i.value for i in at.info)
    for k in range(4):
        for d in range(10):
            store.add("mine", d, preprocess(np.asarray(digit_image(d, width=14 + 3 * k))), by=ALICE)
    at.run()
    assert at.selectbox(key="dig_ft_from").value == "softmax"
    at.button(key="dig_ft_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = [j for j in lab_ui.job_runner().jobs() if j.config.collection == "mine"]
    assert job.name == "softmax_mine" and at.session_state["watch"] == job.id
    assert job.wait(120) and job.status == "finished", job.message
    at.run()
    (table,) = at.dataframe
    row = table.value.iloc[0]
    assert row["model"] == "softmax_mine" and row["status"] == "finished"
    for col in ("held out before", "held out after", "MNIST before", "MNIST after"):
        assert 0 <= row[col] <= 1, col
    assert checkpoints.read(models / "softmax.pt")["name"] == "softmax"  # the original is untouched
    lab_ui.job_runner().close()


def test_another_visitor_may_add_but_not_rename_or_delete_a_collection(store, monkeypatch):
    bob = page(BOB)
    assert not [b for b in bob.button if (b.key or "").startswith(("dig_del_", "dig_rename_go", "dig_delete_"))]
    assert any("only they (or the lab's operator) may rename or delete it" in c.value for c in bob.caption)
    with pytest.raises(StoreError, match="another visitor"):
        store.delete_collection("mine", by=BOB)
    with pytest.raises(StoreError, match="another visitor"):
        store.rename("mine", "bobs", by=BOB)
    mine = store.add("mine", 7, preprocess(np.asarray(digit_image(7))), by=BOB)  # a class collection: anyone adds
    bob.run().segmented_control(key="dig_digit").set_value(7).run()
    assert [b.key for b in bob.button if (b.key or "").startswith("dig_del_")] == [f"dig_del_{mine}"]  # his own
    assert store.collections() == {"mine": 5}
    monkeypatch.setenv("MNIST_LAB_OPERATOR_KEY", "sesame")  # the operator may do anything
    op = page(BOB, _lab_operator_key="sesame")
    op.checkbox(key="dig_confirm_mine").check().run()
    op.button(key="dig_delete_mine").click().run()
    assert not op.exception and store.collections() == {}


def test_a_collection_of_twenty_thousand_shows_one_page_of_one_digit(runs_dir):
    s = DrawingStore()
    s.add("big", 3, preprocess(np.asarray(digit_image(3))), by=ALICE)
    with sqlite3.connect(s.path) as conn:  # as a store from before the cap might hold: 20,000 drawings
        row = conn.execute("SELECT collection_id, digit, x28, created FROM drawings").fetchone()
        conn.executemany(
            "INSERT INTO drawings (collection_id, digit, x28, created) VALUES (?, ?, ?, ?)",
            [(row[0], k % 10, row[2], row[3]) for k in range(19_999)],
        )
    at = page()
    assert not at.exception
    thumbs = [b for b in at.button if (b.key or "").startswith("dig_del_")]
    assert len(thumbs) == PAGE_SIZE  # the first page of the 0s, and nothing of the other 18,000
    assert at.number_input(key="dig_page_0").max == -(-2000 // PAGE_SIZE)
