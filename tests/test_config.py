import re

import pytest
import yaml

from kerasclf.config import ENCODER_CONFIGS, CNNConfig, InputConfig, RNNConfig, load_config, save_config
from kerasclf.errors import UserError
from kerasclf.validation import ENCODER_VALIDATORS


def write(tmp_path, name, tree):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(tree))
    return p


def test_default_config_loads_with_defaults():
    cfg = load_config()
    assert cfg.data.source == "sample"
    assert isinstance(cfg.inputs[0].encoder, CNNConfig)
    assert cfg.train.early_stopping.monitor == "val_accuracy"


def test_unknown_key_names_the_key_and_the_closest_valid_one(tmp_path):
    p = write(tmp_path, "c.yaml", {"train": {"epoch": 3}})
    with pytest.raises(UserError, match=r"train\.epoch: unknown key; did you mean 'epochs'\?"):
        load_config(p)


def test_a_mistake_in_a_file_names_the_file_and_the_key(tmp_path):
    good = write(tmp_path, "a.yaml", {"train": {"epochs": 2}})
    bad = write(tmp_path, "b.yaml", {"train": {"learning_rat": 0.1}})
    with pytest.raises(
        UserError, match=rf"^{re.escape(str(bad))}: train\.learning_rat: unknown key; did you mean 'learning_rate'\?$"
    ):
        load_config(good, bad)
    with pytest.raises(UserError, match=r"^train\.epoch: unknown key"):  # a --set path has no file
        load_config(good, overrides=["train.epoch=3"])


def test_a_missing_text_column_is_named_by_its_set_path():
    from kerasclf.data.sources import load_raw

    with pytest.raises(UserError, match=r"^inputs\.1\.column: column 'body' is not in the train rows"):
        load_raw(load_config(overrides=["inputs=[{name: a, column: text}, {name: b, column: body}]"]))


def test_unknown_key_inside_an_encoder(tmp_path):
    p = write(tmp_path, "c.yaml", {"inputs": [{"name": "a", "encoder": {"type": "rnn", "unit": 8}}]})
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.unit: unknown key; did you mean 'units'\?"):
        load_config(p)


def test_wrong_type_names_the_path_and_the_expected_type(tmp_path):
    p = write(tmp_path, "c.yaml", {"train": {"batch_size": "big"}})
    with pytest.raises(UserError, match=r"train\.batch_size: expected int, got 'big'"):
        load_config(p)
    p = write(tmp_path, "d.yaml", {"inputs": [{"encoder": {"type": "rnn", "cell": "transformer"}}]})
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.cell: expected one of rnn, lstm, gru"):
        load_config(p)


def test_unknown_encoder_type_suggests_one():
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.type: unknown encoder 'cnnn'.*did you mean 'cnn'"):
        load_config(overrides=["inputs.0.encoder.type=cnnn"])


def test_set_overrides_are_typed_by_yaml_and_index_lists():
    cfg = load_config(
        overrides=[
            "inputs.0.max_length=64",
            "train.learning_rate=3e-4",
            "head.units=[16, 8]",
            "inputs.0.encoder={type: rnn, cell: gru}",
        ]
    )
    assert cfg.inputs[0].max_length == 64
    assert cfg.train.learning_rate == pytest.approx(3e-4)
    assert cfg.head.units == [16, 8]
    assert isinstance(cfg.inputs[0].encoder, RNNConfig) and cfg.inputs[0].encoder.cell == "gru"


def test_set_with_a_bad_index_or_form():
    with pytest.raises(UserError, match=r"inputs\.3.*index below 1"):
        load_config(overrides=["inputs.3.max_length=64"])
    with pytest.raises(UserError, match="expected key.path=value"):
        load_config(overrides=["train.epochs"])


def test_several_configs_merge_later_wins_and_inputs_concatenate(tmp_path):
    a = write(
        tmp_path,
        "a.yaml",
        {
            "name": "a",
            "inputs": [{"name": "words", "encoder": {"type": "cnn"}}],
            "train": {"epochs": 3, "batch_size": 16},
        },
    )
    b = write(
        tmp_path,
        "b.yaml",
        {"name": "b", "inputs": [{"name": "seq", "encoder": {"type": "rnn"}}], "train": {"epochs": 5}},
    )
    cfg = load_config(a, b)
    assert cfg.name == "b"
    assert [i.name for i in cfg.inputs] == ["words", "seq"]
    assert (cfg.train.epochs, cfg.train.batch_size) == (5, 16)


def test_duplicate_input_names_and_bad_max_length(tmp_path):
    a = write(tmp_path, "a.yaml", {"inputs": [{"name": "text"}]})
    with pytest.raises(UserError, match=r"inputs\.1\.name: duplicate input name 'text'"):
        load_config(a, a)
    with pytest.raises(UserError, match=r"inputs\.0\.max_length: expected an integer >= 1, got 0"):
        load_config(overrides=["inputs.0.max_length=0"])
    with pytest.raises(
        UserError, match=r"inputs\.0\.encoder\.embedding_dropout: expected a share in \[0, 1\), got 1\.5"
    ):
        load_config(overrides=["inputs.0.encoder.embedding_dropout=1.5"])
    with pytest.raises(UserError, match=r"inputs\.0\.tokenizer\.head_tokens: expected 0\.\.64 \(max_length\), got 65"):
        load_config(
            overrides=[
                "inputs.0.max_length=64",
                "inputs.0.tokenizer.truncation=head_tail",
                "inputs.0.tokenizer.head_tokens=65",
            ]
        )


def test_bad_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("train: [unclosed\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        load_config(p)
    with pytest.raises(UserError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_saved_config_reloads_equal(tmp_path):
    cfg = load_config(overrides=["inputs.0.encoder={type: rnn, cell: gru, layers: 2}", "train.schedule=cosine"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


def test_repo_configs_are_valid():
    from pathlib import Path

    for path in sorted((Path(__file__).parent.parent / "configs").glob("*.yaml")):
        load_config(path)


def test_unknown_early_stopping_metric_and_set_into_a_value():
    with pytest.raises(UserError, match=r"train\.early_stopping\.monitor: unknown metric 'val_acc'.*did you mean"):
        load_config(overrides=["train.early_stopping.monitor=val_acc"])
    with pytest.raises(UserError, match=r"--set train\.epochs\.x: 'train\.epochs' is a single value"):
        load_config(overrides=["train.epochs.x=1"])


def test_shipped_single_input_configs_merge_into_one_model():
    from pathlib import Path

    configs = [
        p
        for p in sorted((Path(__file__).parent.parent / "configs").glob("imdb_*.yaml"))
        if len(load_config(p).inputs) == 1
    ]  # imdb_combined_ngrams.yaml is itself such a merge
    cfg = load_config(*configs)
    assert len(cfg.inputs) == len(configs)


def test_transformer_layers_zero_is_the_pooled_embeddings_except_with_cls():
    assert load_config(overrides=["inputs.0.encoder={type: transformer, layers: 0}"]).inputs[0].encoder.layers == 0
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.layers: 0 blocks never let \[CLS\] read the text"):
        load_config(overrides=["inputs.0.encoder={type: transformer, layers: 0, pooling: cls}"])
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.layers: expected an integer >= 1, got 0"):
        load_config(overrides=["inputs.0.encoder={type: rnn, layers: 0}"])
    with pytest.raises(
        UserError, match=r"inputs\.0\.encoder\.layers: with init_from the blocks come from the checkpoint"
    ):
        load_config(overrides=["inputs.0.encoder={type: longformer, layers: 0, init_from: /some/bert}"])
    # no blocks, no heads: the embedding size need not divide by them
    assert load_config(overrides=["inputs.0.encoder={type: transformer, layers: 0, embedding_dim: 10}"])


def test_bigram_buckets_is_no_longer_read_as_ngram_buckets():
    """The key's name before ngram_order came; its alias is gone, so it is an unknown key like any other."""
    with pytest.raises(
        UserError, match=r"^inputs\.0\.encoder\.bigram_buckets: unknown key; did you mean 'ngram_buckets'\?$"
    ):
        load_config(overrides=["inputs.0.encoder={type: transformer, bigram_buckets: 64}"])


def test_every_encoder_type_has_a_validator_that_passes_its_defaults():
    assert set(ENCODER_VALIDATORS) == set(ENCODER_CONFIGS)
    for kind, schema in ENCODER_CONFIGS.items():
        ENCODER_VALIDATORS[kind](InputConfig(encoder=schema()), "inputs.0")  # the defaults are valid
        assert load_config(overrides=[f"inputs.0.encoder={{type: {kind}}}"]).inputs[0].encoder == schema()


@pytest.mark.parametrize(
    ("encoder", "message"),
    [
        ("{type: cnn, kernel_sizes: []}", r"encoder\.kernel_sizes: expected a non-empty list"),
        ("{type: cnn, ngram_buckets: 1000}", r"encoder\.ngram_buckets: n-gram rows are added to one-hot windows"),
        (
            "{type: cnn, one_hot: true, kernel_sizes: [1, 4], ngram_buckets: 1000}",
            r"encoder\.ngram_buckets: only windows of 2 or 3 words read a hashed n-gram; expected kernel_sizes with "
            r"2 or 3, got \[1, 4\]$",
        ),
        ("{type: cnn, one_hot: true, ngram_buckets: 1}", r"encoder\.ngram_buckets: expected 0 \(off\) or 2\.\."),
        ("{type: cnn, ngram_vocab: 1000}", r"encoder\.ngram_vocab: n-gram rows are added to one-hot windows"),
        (
            "{type: cnn, one_hot: true, ngram_vocab: 1000, ngram_buckets: 1000}",
            r"encoder\.ngram_vocab: counted n-gram rows replace hashed ones; expected ngram_buckets 0 beside it, "
            r"got 1000$",
        ),
        (
            "{type: cnn, one_hot: true, kernel_sizes: [4], ngram_vocab: 1000}",
            r"encoder\.ngram_vocab: only windows of 2 or 3 words read an n-gram; expected kernel_sizes with 2 or 3",
        ),
        (
            "{type: cnn, one_hot: true, ngram_vocab: 300000}",  # 300,000 x 10,000 words: over int32
            r"encoder\.ngram_vocab: expected 0 \(off\) or 1\.\.214748 n-grams \(triples are keyed in int32\), "
            r"got 300000$",
        ),
        ("{type: rnn, units: 0}", r"encoder\.units: expected an integer >= 1, got 0"),
        ("{type: transformer, embedding_dim: 10, heads: 4}", r"encoder\.heads: embedding_dim 10 must be a multiple"),
        ("{type: local_transformer, window_size: 3}", r"encoder\.window_size: expected an integer >= 2 \(even"),
        ("{type: local_transformer, heads: 0}", r"encoder\.heads: expected an integer >= 1, got 0"),
        ("{type: longformer, attention_window: 3}", r"encoder\.attention_window: expected an even integer >= 2"),
        ("{type: longformer, global_tokens: [-1]}", r"encoder\.global_tokens: expected positions >= 0"),
    ],
)
def test_each_encoder_type_is_checked_by_its_own_validator(encoder, message):
    with pytest.raises(UserError, match=rf"^inputs\.0\.{message}"):
        load_config(overrides=[f"inputs.0.encoder={encoder}"])
