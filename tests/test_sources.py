import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from kerasclf.config import load_config
from kerasclf.data.sources import load_raw, read_table
from kerasclf.errors import UserError

WORDS = ["wonderful film loved", "great acting moving", "brilliant funny warm", "best film this year"]


def cfg_for(source, *more):
    return load_config(overrides=[f"data.source={source}", *more])


def test_sample_is_balanced_with_a_test_part():
    raw = load_raw(load_config())
    assert raw.class_names == ["neg", "pos"]
    assert len(raw.train) + len(raw.validation) == 1500 and len(raw.test) == 500
    assert np.bincount(raw.test.labels).tolist() == [250, 250]
    # the validation split is carved per class, seeded
    assert np.bincount(raw.validation.labels).tolist() == [75, 75]
    again = load_raw(load_config())
    assert again.validation.columns["text"] == raw.validation.columns["text"]


@pytest.mark.parametrize("name", ["bom.csv", "crlf.csv", "empty_lines.csv", "html.csv", "not_utf8.csv"])
def test_messy_csv_files_read_cleanly(name):
    rows = read_table(FIXTURES / name)
    assert len(rows) == 8
    assert list(rows[0]) == ["text", "label"]  # no BOM glued to the first header
    assert {r["label"] for r in rows} == {"pos", "neg"}
    assert all(not r["text"].endswith("\r") and not r["label"].endswith("\r") for r in rows)


def test_non_utf8_byte_is_replaced_and_reported(caplog):
    rows = read_table(FIXTURES / "not_utf8.csv")
    assert rows[0]["text"].startswith("A wonderful caf\ufffd film")
    assert "1 byte(s) are not UTF-8" in caplog.text


def test_tsv_quotes_are_text():
    rows = read_table(FIXTURES / "quotes.tsv")
    assert rows[0]["text"] == 'He said "wow" and left happy'
    assert rows[1]["text"] == '"Quoted" opening and a great end'
    assert rows[6]["text"] == '"Awful"'


def test_jsonl_with_int_labels_blank_line_and_unicode_line_separator():
    cfg = cfg_for(
        FIXTURES / "reviews.jsonl", "data.class_names=[negative, positive]", "data.validation=0.25", "data.test=0.25"
    )
    raw = load_raw(cfg)
    assert raw.class_names == ["negative", "positive"]
    texts = raw.train.columns["text"] + raw.validation.columns["text"] + raw.test.columns["text"]
    assert len(texts) == 8 and any("\u2028" in t for t in texts)


def test_csv_with_a_test_file_and_string_labels(caplog):
    cfg = cfg_for(FIXTURES / "bom.csv", f"data.test={FIXTURES / 'crlf.csv'}", "data.validation=0.25")
    raw = load_raw(cfg)
    assert raw.class_names == ["neg", "pos"]
    assert len(raw.test) == 8 and len(raw.train) == 6 and len(raw.validation) == 2


def test_two_text_columns():
    cfg = load_config(
        overrides=[
            f"data.source={FIXTURES / 'two_columns.csv'}",
            "data.validation=0.25",
            "inputs=[{name: t, column: title}, {name: b, column: body}]",
        ]
    )
    raw = load_raw(cfg)
    assert set(raw.train.columns) == {"title", "body"}


def test_label_column_absent_is_a_user_error():
    with pytest.raises(
        UserError, match=r"data.label_column: column 'sentiment' is not in the train rows.*it has: text, label"
    ):
        load_raw(cfg_for(FIXTURES / "bom.csv", "data.label_column=sentiment"))


def test_text_column_absent_is_a_user_error():
    with pytest.raises(UserError, match=r"column 'review' is not in the train rows"):
        load_raw(cfg_for(FIXTURES / "bom.csv", "inputs.0.column=review"))


def test_single_class_in_train_is_a_user_error():
    with pytest.raises(UserError, match="single class"):
        load_raw(cfg_for(FIXTURES / "single_class.csv"))


def test_empty_text_rows_stop_unless_dropped():
    with pytest.raises(UserError, match=r"row 4 of the train split .* has an empty 'text'"):
        load_raw(cfg_for(FIXTURES / "empty_text.csv"))
    raw = load_raw(
        cfg_for(FIXTURES / "empty_text.csv", "data.drop_empty=true", "data.validation=0.25", "data.test=0.25")
    )
    assert len(raw.train) + len(raw.validation) + len(raw.test) == 8


def test_missing_file_and_unknown_source():
    with pytest.raises(UserError, match="no such file or folder"):
        load_raw(cfg_for("nowhere/reviews.csv"))
    with pytest.raises(UserError, match="unknown kind of source"):
        load_raw(cfg_for(FIXTURES.parent / "conftest.py"))


def _acl_files():
    files = {}
    for split in ("train", "test"):
        for label, words in (
            ("pos", WORDS),
            ("neg", ["dull boring mess", "terrible silly plot", "awful worst", "two hours back"]),
        ):
            for i, w in enumerate(words):
                files[f"aclImdb/{split}/{label}/{i}_{7 if label == 'pos' else 2}.txt"] = (
                    f"{w}<br /><br />{split}".encode()
                )
    files["aclImdb/train/unsup/0_0.txt"] = b"no label here"
    files["aclImdb/README"] = b"readme"
    return files


def test_acl_imdb_folder_and_tar_gz_read_the_same(tmp_path):
    files = _acl_files()
    for name, data in files.items():
        (tmp_path / "dir" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "dir" / name).write_bytes(data)
    tar_path = tmp_path / "aclImdb_small.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    from_dir = load_raw(cfg_for(tmp_path / "dir" / "aclImdb", "data.validation=0.25"))
    from_tar = load_raw(cfg_for(tar_path, "data.validation=0.25"))
    assert from_dir.class_names == from_tar.class_names == ["neg", "pos"]  # unsup left out
    assert len(from_dir.test) == 8 and len(from_dir.train) == 6
    assert from_dir.train.columns == from_tar.train.columns
    assert (from_dir.test.labels == from_tar.test.labels).all()


def test_acl_imdb_reads_in_id_order_and_carve_last_takes_each_class_tail(tmp_path):
    # ids out of text order and of string order (10 > 9): the tail is the highest ids of each class
    for split in ("train", "test"):
        for label, texts in (
            ("pos", ["zz great", "aa fine", "mm good", "bb best"]),
            ("neg", ["yy bad", "cc dull", "nn poor", "dd worst"]),
        ):
            for i, t in zip((10, 2, 9, 1), texts):
                p = tmp_path / "aclImdb" / split / label / f"{i}_5.txt"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(t)
    raw = load_raw(cfg_for(tmp_path / "aclImdb", "data.validation=0.25", "data.carve=last"))
    assert sorted(raw.validation.columns["text"]) == ["yy bad", "zz great"]  # id 10 of each class
    assert raw.train.columns["text"] == ["dd worst", "cc dull", "nn poor", "bb best", "aa fine", "mm good"]
    assert raw.test.columns["text"][:4] == ["dd worst", "cc dull", "nn poor", "yy bad"]  # neg by id: 1, 2, 9, 10
    seeded = load_raw(cfg_for(tmp_path / "aclImdb", "data.validation=0.25", "train.seed=3"))
    assert len(seeded.validation) == 2 and np.bincount(seeded.validation.labels).tolist() == [1, 1]


def test_carve_last_on_a_file_carves_test_then_validation_from_each_class_tail(tmp_path):
    rows = [f"{w} {n},{label}" for n in range(10) for w, label in (("good", "pos"), ("bad", "neg"))]
    p = _write(tmp_path, "t.csv", "text,label\n" + "\n".join(rows) + "\n")
    raw = load_raw(cfg_for(p, "data.test=0.2", "data.validation=0.25", "data.carve=last"))
    assert raw.test.columns["text"] == ["good 8", "bad 8", "good 9", "bad 9"]
    assert raw.validation.columns["text"] == ["good 6", "bad 6", "good 7", "bad 7"]
    assert len(raw.train) == 12 and raw.train.columns["text"][-2:] == ["good 5", "bad 5"]


def test_carve_must_be_random_or_last():
    with pytest.raises(UserError, match="data.carve: expected one of random, last, got 'tail'"):
        load_config(overrides=["data.carve=tail"])


def test_tfds_source_through_tfds_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        raw = load_raw(cfg_for("tfds:imdb_reviews"))
    assert raw.class_names == ["neg", "pos"]
    assert len(raw.test) == 12 and len(raw.train) >= 6  # mock data answers every split name it is asked for
    assert all(isinstance(t, str) for t in raw.train.columns["text"])


def test_tfds_glue_uses_validation_as_test_when_test_has_no_labels():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE):
        # mock_data gives random labels, -1 included only by chance; what matters is the column mapping
        raw = load_raw(cfg_for("tfds:glue/sst2", "inputs.0.column=sentence", "data.validation=0.3"))
    assert raw.class_names == ["negative", "positive"]
    assert all(isinstance(t, str) for t in raw.test.columns["sentence"])


def test_tfds_unknown_dataset_is_a_user_error():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(UserError, match="tfds:no_such_dataset_xyz could not be loaded"):
        load_raw(cfg_for("tfds:no_such_dataset_xyz"))


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_integer_labels_with_spaces_and_not_starting_at_zero(tmp_path):
    body = "".join(f"review {i} is {'good' if i % 2 else 'bad'}, {1 + i % 2}\n" for i in range(12))
    p = _write(tmp_path, "stars.csv", "text,label\n" + body.replace(", ", ", "))
    raw = load_raw(cfg_for(p, "data.validation=0.25", "data.test=0.25"))
    assert raw.class_names == ["1", "2"]  # no empty class "0"
    assert set(raw.train.labels.tolist()) == {0, 1}


def test_a_test_label_the_train_split_lacks_is_a_user_error(tmp_path):
    train = _write(tmp_path, "train.csv", "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(8)))
    test = _write(tmp_path, "test.csv", "text,label\na,0\nb,2\n")
    with pytest.raises(UserError, match=r"row 2 of the test split has label '2'"):
        load_raw(cfg_for(train, f"data.test={test}", "data.validation=0.25"))


MRPC = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mrpc_train.tsv"


@pytest.mark.skipif(not MRPC.exists(), reason="../shared/data/mrpc_train.tsv (the data we are given) is not here")
def test_mrpc_config_reads_glue_train_tsv_as_shipped():
    # a BOM before 'Quality', bare quotes inside fields, '#1 String' columns: configs/mrpc_minilm.yaml as is
    cfg = load_config(Path(__file__).parent.parent / "configs" / "mrpc_minilm.yaml", overrides=[f"data.source={MRPC}"])
    raw = load_raw(cfg)
    assert raw.class_names == ["0", "1"]
    assert len(raw.train) + len(raw.validation) + len(raw.test) == 3667  # GLUE's train: 3,667 pairs
    labels = np.concatenate([raw.train.labels, raw.validation.labels, raw.test.labels])
    assert int(labels.sum()) == 2473  # paraphrases (67%)
    first = raw.train.columns["#1 String"] + raw.validation.columns["#1 String"] + raw.test.columns["#1 String"]
    assert any('" the witness "' in t for t in first)  # quotes are text in a GLUE TSV
