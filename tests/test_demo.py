"""The Gradio demo and its API, served on 127.0.0.1 and called with gradio_client and a real browser."""

import csv
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import FIXTURES, QUICK, free_port, run_cli

import kerasclf
from kerasclf.data.batching import trim

POSITIVE = (
    "A wonderful, moving film. The acting is brilliant, the story is beautiful and the ending is "
    "perfect. One of the best movies I have seen; I loved every minute and would watch it again."
)
NEGATIVE = (
    "Awful. A boring, stupid mess with terrible acting and a pointless plot. The worst film I have seen "
    "in years, a complete waste of time and money. Avoid it."
)


def serve(run_dir: Path, max_chars: int = 2000):
    """The demo of `run_dir` served on 127.0.0.1: yields (its URL, the loaded run), then closes it."""
    from kerasclf.demo import build_app

    run = kerasclf.load_run(run_dir)
    app = build_app(run, max_chars=max_chars)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", run
    app.close()


@pytest.fixture(scope="module")
def server(sample_run):
    yield from serve(sample_run)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


@pytest.fixture(scope="module")
def onehot_run(tmp_path_factory) -> Path:
    """A tiny one-hot CNN (one epoch on 64 reviews) that reads 512 tokens: more words than the page shows."""
    from kerasclf.train import train

    return train(
        kerasclf.load_config(
            overrides=QUICK
            + ["inputs.0.encoder.one_hot=true", "inputs.0.max_length=512", "train.epochs=1", "data.limit=64"]
        ),
        tmp_path_factory.mktemp("onehot"),
    )


@pytest.fixture(scope="module")
def long_server(onehot_run):
    """The demo of `onehot_run`, taking texts of up to 200,000 characters."""
    for url, _ in serve(onehot_run, max_chars=200_000):
        yield url


def page_config(url: str) -> dict:
    """The served page's config: its components (props: label, elem_id, value, samples) and layout."""
    import httpx

    return httpx.get(url + "config", timeout=60).json()


def component(cfg: dict, elem_id: str) -> dict:
    return next(c for c in cfg["components"] if c["props"].get("elem_id") == elem_id)


def layout_order(node: dict) -> list[int]:
    """Component ids in the order the page lays them out (depth first)."""
    return [node["id"], *(i for child in node.get("children", []) for i in layout_order(child))]


def long_text(run_dir: Path, chars: int = 100_000) -> str:
    """Reviews of the run's test split, one after another, to `chars` characters."""
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as f:
        reviews = [row["text"] for row in csv.DictReader(f)]
    text = ""
    while len(text) < chars:
        text += " ".join(reviews) + " "
    return text[:chars]


def weighted(words: list) -> list:
    """The chips with a weight (not the "…" of left-out words, nor an input's heading)."""
    return [w for w in words if w["class_or_confidence"] is not None]


def test_classify_endpoint_labels_a_positive_and_a_negative_review(client, server):
    run = server[1]
    pos = client.predict(POSITIVE, api_name="/classify")
    neg = client.predict(NEGATIVE, api_name="/classify")
    assert pos["label"] == "pos" and neg["label"] == "neg"
    assert set(pos["probabilities"]) == {"neg", "pos"}
    assert abs(sum(pos["probabilities"].values()) - 1) < 1e-4
    assert pos == run.predict([POSITIVE])[0]  # the same code path as kerasclf.predict


def test_batch_endpoint(client):
    out = client.predict([POSITIVE, NEGATIVE, ""], api_name="/classify_batch")
    assert [r["label"] for r in out] == ["pos", "neg", None]
    assert "message" in out[2]


def test_empty_and_over_long_input(client):
    empty = client.predict("   ", api_name="/classify")
    assert empty["label"] is None and "Type or paste" in empty["message"]
    long = client.predict(POSITIVE + " filler" * 1000, api_name="/classify")
    assert long["label"] in ("pos", "neg") and "cut to its first 2,000 characters" in long["note"]
    probs, words, note = client.predict(POSITIVE, api_name="/classify_ui")
    assert probs["label"] == "pos"
    assert "integrated gradients" in note
    assert words and all(isinstance(w["token"], str) for w in words)
    # a short text shows every word it has a weight for, nothing left out, no "Showing the 100"
    assert len(weighted(words)) == len(words) <= 100 and "Showing the" not in note
    cut_probs, _, cut_note = client.predict(POSITIVE + " filler" * 1000, api_name="/classify_ui")
    assert cut_probs["label"] in ("pos", "neg")
    assert cut_note.index("cut to its first 2,000 characters") < cut_note.index("Word weights by")


def test_demo_without_a_run_tells_how_to_make_one(tmp_path):
    res = run_cli("demo", "--runs-dir", str(tmp_path), timeout=120)
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "no finished run folder" in line and "make train" in line


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
RED, PURPLE = "rgba(239, 68, 60", "rgba(128, 90, 213"  # HighlightedText's colours for weights above and below 0


def hue(colour: str) -> str | None:
    """ "red", "purple", or None (no colour, or a weight of 0) for a chip's CSS background colour
    (a browser writes rgba(r, g, b, 1) as rgb(r, g, b))."""
    import re

    numbers = re.findall(r"[\d.]+", colour)
    if len(numbers) < 3 or (len(numbers) == 4 and float(numbers[3]) == 0):
        return None
    return {"239,68,60": "red", "128,90,213": "purple"}.get(",".join(numbers[:3]), colour)


@needs_browser
def test_a_real_browser_types_a_review_and_reads_the_label(server, tmp_path):
    pytest.importorskip("playwright", reason="playwright is a dev dependency")
    from playwright.sync_api import sync_playwright

    from kerasclf.service import Service

    wrong = Service(server[1], max_chars=2000).examples()["wrong"][0][0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page()
        page.goto(server[0])
        box_label = page.locator("#text-0").inner_text().strip()
        page.locator("#text-0 textarea").fill(NEGATIVE)
        page.locator("#classify").click()
        label = page.locator("#probabilities")
        label.get_by_text("neg").first.wait_for(timeout=60000)
        page.locator("#note").get_by_text("integrated gradients").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        text = label.inner_text()
        headings = page.locator("#examples-right").inner_text() + page.locator("#examples-wrong").inner_text()
        page.locator("#examples-wrong button").first.click()  # an example still fills the box
        page.wait_for_function("t => document.querySelector('#text-0 textarea').value === t", arg=wrong, timeout=60000)
        browser.close()
    assert box_label.splitlines()[0] == "text"  # the column the box reads, not the input's name "review"
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[:2] == ["Class probabilities", "neg"]  # the heading, then the predicted label
    assert "The model got these right" in headings and "The model got these wrong" in headings
    assert (tmp_path / "demo.png").stat().st_size > 10000


@needs_browser
def test_a_real_browser_sees_the_notes_first_the_caption_s_colours_and_every_word_on_request(
    long_server, onehot_run, tmp_path
):
    pytest.importorskip("playwright", reason="playwright is a dev dependency")
    from gradio_client import Client
    from playwright.sync_api import sync_playwright

    text = long_text(onehot_run)
    _, top, _ = Client(long_server, verbose=False).predict(text, api_name="/classify_ui")
    chips = "document.querySelectorAll('#words .score-token').length"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(long_server)
        page.locator("#show-all input").check()  # ticked before classifying: every word
        page.locator("#text-0 textarea").fill(text)
        page.locator("#classify").click()
        page.wait_for_function(f"{chips} >= 512", timeout=60000)
        every, every_note = page.locator("#words .score-token").count(), page.locator("#note").inner_text()
        page.locator("#show-all input").uncheck()  # and back to the strongest words
        page.wait_for_function(f"{chips} === {len(top)}", timeout=60000)
        page.locator("#note").get_by_text("Showing the 100 words").wait_for(timeout=60000)
        tops = [page.locator(f"#{e}").bounding_box()["y"] for e in ("note", "probabilities", "show-all", "words")]
        colours = page.eval_on_selector_all("#words .score-token", "els => els.map(e => e.style.backgroundColor)")
        page.screenshot(path=str(tmp_path / "long.png"), full_page=True)
        browser.close()
    assert every == 512 and "Showing the" not in every_note and "Word weights by" in every_note
    assert tops == sorted(tops)  # the notes, the probabilities, the checkbox, then the words
    hues = [hue(c) for c in colours]  # red where the weight is above 0, purple below, as the caption says
    assert hues == [
        None if not w["class_or_confidence"] else "red" if w["class_or_confidence"] > 0 else "purple" for w in top
    ]
    assert {"red", "purple"} <= set(hues)


def test_the_readme_api_example_runs_against_a_live_server(server):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippet = readme.split("<!-- api -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    lines = [
        line.replace("http://127.0.0.1:7860/", server[0])
        for line in snippet.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    results = []
    code = "\n".join(f"results.append({line})" if line.startswith("client.predict") else line for line in lines)
    exec(code, {"results": results})
    one, batch = results
    assert one["label"] in ("neg", "pos") and len(batch) == 2


@pytest.mark.parametrize("kind", ["cnn", "pretrained", "transformer_bigrams"])
def test_integrated_gradients_add_up_to_the_logit_gap(kind, sample_run, tiny_bert, tmp_path):
    if kind == "cnn":
        run = kerasclf.load_run(sample_run)
    else:
        from kerasclf.train import train

        enc = (
            f"{{type: pretrained, preset: {tiny_bert}, pooling: cls, freeze: false}}"
            if kind == "pretrained"
            else "{type: transformer, embedding_dim: 16, heads: 2, ff_dim: 16, ngram_buckets: 1000}"
        )
        run = kerasclf.load_run(
            train(
                kerasclf.load_config(
                    overrides=[f"inputs.0.encoder={enc}", "inputs.0.max_length=48", "train.epochs=1", "data.limit=64"]
                    + ["train.precision=float32"]  # completeness to float32's (auto: bfloat16 on some CPUs)
                ),
                tmp_path,
            )
        )
    import torch

    from kerasclf import attributions

    # the baseline is the same for any two texts of one length: every word-dependent vector is scaled
    # (a text's bigram vectors too), only positions and segments stay
    x = trim(run.encode(["the film was good .", "the film was bad ."]))
    real = (x["review"] != 0).sum(axis=1)
    assert real[0] == real[1] and (x["review"][0] != x["review"][1]).any()  # same length, other words
    layers = {"review": attributions.embedding_layer(run.model, "review")}
    with attributions._scaled_embeddings(layers, torch.zeros(2)):
        base = keras.ops.convert_to_numpy(run.model(x, training=False))
    np.testing.assert_allclose(base[0], base[1], atol=1e-5)

    # 64 midpoints missed the gap by 7% (0.0071 of 0.104) on the weights of one dropout stream; 512 meet it
    scores = attributions.integrated_gradients(run, POSITIVE, target=1, steps=512, specials=True)
    total = sum(s for pairs in scores.values() for _, s in pairs)
    gap = attributions.baseline_gap(run, POSITIVE, target=1)
    assert abs(total - gap) <= 0.02 * abs(gap) + 1e-4  # completeness (Sundararajan et al. 2017)
    tokens = [t for t, _ in attributions.integrated_gradients(run, POSITIVE, target=1)["review"]]
    assert "wonderful" in tokens and "[CLS]" not in tokens


def test_concurrent_requests_with_attributions_do_not_interfere(client, server):
    import threading

    errors, labels = [], []

    def work(api, text):
        try:
            from gradio_client import Client

            c = Client(server[0], verbose=False)
            for _ in range(3):
                out = c.predict(text, api_name=api)
                labels.append(out["label"] if api == "/classify" else out[0]["label"])
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [
        threading.Thread(target=work, args=(api, text))
        for api in ("/classify", "/classify_ui")
        for text in (POSITIVE, NEGATIVE)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(set(labels)) == ["neg", "pos"] and len(labels) == 12
    assert client.predict(POSITIVE, api_name="/classify") == server[1].predict([POSITIVE])[0]


def test_one_box_per_column_however_many_inputs_read_it(tiny_bert, tmp_path):
    """Two inputs and a pair input read column "first": the page shows one box for it (and one for
    "second"), and its text reaches every input that reads it, on the page, the API and in the examples."""
    import yaml

    from kerasclf.service import Service
    from kerasclf.train import train

    cnn = {"type": "cnn", "embedding_dim": 8, "filters": 8, "kernel_sizes": [2]}
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "name": "three",
                "data": {
                    "source": str(FIXTURES / "pairs.csv"),
                    "test": str(FIXTURES / "pairs_test.csv"),
                    "validation": 0.25,
                },
                "inputs": [
                    {"name": "a", "column": "first", "max_length": 16, "encoder": cnn},
                    {"name": "b", "column": "first", "max_length": 16, "encoder": cnn},
                    {
                        "name": "pair",
                        "columns": ["first", "second"],
                        "max_length": 32,
                        "encoder": {"type": "pretrained", "preset": str(tiny_bert), "freeze": True},
                    },
                ],
                "head": {"units": [8]},
                "train": {"epochs": 1, "batch_size": 8},
            }
        )
    )
    run_dir = train(kerasclf.load_config(cfg_file), tmp_path / "runs")
    service = Service(kerasclf.load_run(run_dir))
    assert service.labels == ["first", "second"]
    item, notes = service.item(["The film was great.", "It was wonderful."])
    assert (
        item
        == {
            "a": "The film was great.",
            "b": "The film was great.",
            "pair": ["The film was great.", "It was wonderful."],
        }
        and not notes
    )
    missing, why = service.item(["", "It was wonderful."])
    assert missing is None and why == ["Give a text for 'first'."]
    none, why = service.item(["", ""])
    assert none is None and why == ["Type or paste a text to classify."]
    bare, why = service.item_from_api("The film was great.")
    assert bare is None and "reads a pair of texts" in why[0]
    great, pair = "The film was great.", ["The film was great.", "Great."]
    by_name, _ = service.item_from_api({"a": great, "pair": pair})  # input b reads a's column
    assert by_name == {"a": great, "b": great, "pair": pair}
    # inputs that share a column may still be given texts of their own, as Run.predict and predict --text take them
    own = {"a": "The film was great.", "b": "Dull and far too long.", "pair": pair}
    assert service.item_from_api(own) == (own, [])
    assert service.classify([own]) == service.run.predict([own])
    long, notes = service.item_from_api({**own, "b": "word " * 2000})
    assert len(long["b"]) == service.max_chars and long["a"] == own["a"]
    assert notes == ["b: the text was cut to its first 5,000 characters (of 9,999)."]  # b's own text, not a's
    assert service.item_from_api({**own, "b": ""}) == (None, ["Give a text for input 'b'."])
    empty, why = service.item_from_api({"a": " ", "b": "", "pair": ["", " "]})
    assert empty is None and why == ["Type or paste a text to classify."]
    out = service.classify([service.item_from_api({"first": "The film was great.", "second": "Great."})[0]])
    assert out[0]["label"] in ("same", "different")
    # occlusion removes a word from the column, so from every input that reads it: one span list per box
    spans = service.occlusion(item, 0)
    assert list(spans) == ["first", "second"] and "".join(w for w, _ in spans["first"]) == "The film was great."

    for url, _ in serve(run_dir):
        page = page_config(url)
        boxes = [c["props"]["label"] for c in page["components"] if str(c["props"].get("elem_id")).startswith("text-")]
        assert boxes == ["first", "second"]
        examples = [c for c in page["components"] if str(c["props"].get("elem_id")).startswith("examples-")]
        samples = [s for c in examples for s in c["props"]["samples"]]
        assert samples and all(len(s) == 2 and all(s) for s in samples)


def test_boxes_are_labelled_with_the_column_they_read(server):
    from kerasclf.service import box_labels

    assert component(page_config(server[0]), "text-0")["props"]["label"] == "text"  # input "review" reads "text"
    two_columns = kerasclf.load_config(overrides=["inputs=[{name: t, column: title}, {name: b, column: body}]"]).inputs
    one_column = kerasclf.load_config(
        overrides=["inputs=[{name: cnn, column: text}, {name: rnn, column: text, encoder: {type: rnn}}]"]
    ).inputs
    assert box_labels(two_columns) == ["title", "body"]
    assert box_labels(one_column) == ["text"]  # one box, read by both inputs


def test_notes_come_above_the_results_and_the_examples_say_right_or_wrong(server):
    cfg, run = page_config(server[0]), server[1]
    order = layout_order(cfg["layout"])
    places = [order.index(component(cfg, e)["id"]) for e in ("note", "probabilities", "show-all", "words")]
    assert places == sorted(places)
    with open(run.path / "predictions.csv", newline="", encoding="utf-8") as f:
        correct = {row["text"][:2000]: row["correct"] for row in csv.DictReader(f)}
    for key, flag in (("right", "1"), ("wrong", "0")):
        examples = component(cfg, f"examples-{key}")["props"]
        assert examples["label"].startswith(f"The model got these {key}")
        assert examples["samples"] and all(correct[sample[0]] == flag for sample in examples["samples"])


def test_the_facts_name_only_the_settings_the_encoder_uses(server, onehot_run):
    from kerasclf.service import Service, encoder_details

    onehot = Service(kerasclf.load_run(onehot_run)).facts()
    line = next(line for line in onehot.splitlines() if line.startswith("- input"))
    assert "one_hot True" in line and "kernel_sizes [3, 5]" in line and "filters 16" in line
    assert "embedding_dim" not in onehot  # a one-hot CNN has no embeddings
    dense = component(page_config(server[0]), "facts")["props"]["value"]
    assert "embedding_dim 16, kernel_sizes [3, 5], filters 16" in dense and "one_hot" not in dense
    no_blocks = kerasclf.load_config(overrides=["inputs.0.encoder={type: transformer, layers: 0}"])
    assert encoder_details(no_blocks.inputs[0].encoder) == "embedding_dim 128, layers 0"  # no heads to use
    ngrams = kerasclf.load_config(overrides=["inputs.0.encoder={type: cnn, one_hot: true, ngram_buckets: 1000}"])
    assert encoder_details(ngrams.inputs[0].encoder) == (
        "one_hot True, kernel_sizes [3, 4, 5], filters 128, ngram_buckets 1000"
    )
    counted = kerasclf.load_config(overrides=["inputs.0.encoder={type: cnn, one_hot: true, ngram_vocab: 1000}"])
    assert encoder_details(counted.inputs[0].encoder).endswith("filters 128, ngram_vocab 1000")


def test_a_long_text_shows_its_100_strongest_words_in_text_order(long_server, onehot_run):
    from gradio_client import Client

    from kerasclf.demo import render
    from kerasclf.service import Service

    text = long_text(onehot_run)
    assert len(text) == 100_000
    view = Service(kerasclf.load_run(onehot_run), max_chars=200_000).view([text])
    (top, note), (every, every_note) = render(view), render(view, show_all=True)
    assert len(every) == 512  # every token the model read (max_length 512), each with its weight
    keep = sorted(sorted(range(len(every)), key=lambda i: -abs(every[i][1]))[:100])
    expected, last = [], -1
    for i in keep:  # in text order, one "…" for each run of words left out
        expected += [("… ", None)] * (i > last + 1) + [every[i]]
        last = i
    expected += [("… ", None)] * (last < len(every) - 1)
    assert top == expected and len([w for _, w in top if w is not None]) == 100
    # the notes: the cut to max_length, what is shown, then how the weights were made
    assert "Showing the 100 words of largest weight (of 512)" in note
    assert note.index("cut to 512 tokens") < note.index("Showing the 100") < note.index("Word weights by")
    assert "Showing the" not in every_note and "Word weights by" in every_note
    # the server's /classify_ui shows the same words, and its note too
    _, served, served_note = Client(long_server, verbose=False).predict(text, api_name="/classify_ui")
    assert [w["token"] for w in served] == [t for t, _ in top] and len(weighted(served)) == 100
    assert served_note.index("Showing the 100") < served_note.index("Word weights by")


def test_the_caption_names_the_method_why_and_gradio_s_colours(client):
    import gradio

    _, _, note = client.predict(POSITIVE, api_name="/classify_ui")
    assert "Word weights by integrated gradients (on the token embeddings, since the torch backend" in note
    assert "red pushed towards **pos**, purple against it" in note
    # the colours the installed Gradio's HighlightedText gives weights (its frontend's code)
    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    code = "".join(t for t in (p.read_text(errors="ignore") for p in assets.glob("*.js")) if "score-token" in t)
    assert f"{PURPLE}, ${{-" in code and f"{RED}, ${{" in code


def test_a_text_with_no_words_gets_a_message_and_no_weights(client, server):
    run = server[1]
    for text in ("!!! ... ?", "<br /><p></p>"):
        expected = run.predict([text])[0]
        assert expected["label"] is None and expected["probabilities"] == {}  # Run.predict's own check
        assert client.predict(text, api_name="/classify") == expected
        probs, words, note = client.predict(text, api_name="/classify_ui")
        assert not probs and words == [] and expected["message"].lower() in note.lower()
        assert "Word weights" not in note
        batch = client.predict([POSITIVE, text], api_name="/classify_batch")
        assert batch[0]["label"] == "pos" and batch[1] == expected


@pytest.fixture(scope="module")
def multilabel_server(multilabel_run):
    yield from serve(multilabel_run)


def test_a_multilabel_run_s_api_returns_every_label_over_its_threshold(multilabel_server):
    from gradio_client import Client

    url, run = multilabel_server
    client = Client(url, verbose=False)
    text = "Adore love darling cherish."
    result = client.predict(text, api_name="/classify")
    assert result == run.predict([text])[0]  # the API answers what predict does (decision.json's rule)
    assert "love" in result["labels"] and result["label"] == result["labels"][0]
    assert set(result["probabilities"]) == set(run.class_names)
    batch = client.predict([text, "The thread today."], api_name="/classify_batch")
    assert batch[0] == result and batch[1]["labels"] == run.predict(["The thread today."])[0]["labels"]


@needs_browser
def test_a_real_browser_sees_a_multilabel_run_s_chosen_labels(multilabel_server, tmp_path):
    pytest.importorskip("playwright", reason="playwright is a dev dependency")
    from playwright.sync_api import sync_playwright

    url, run = multilabel_server
    text = "Adore love darling cherish."
    expected = run.predict([text])[0]["labels"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page()
        page.goto(url)
        page.locator("#text-0 textarea").fill(text)
        page.locator("#classify").click()
        note = page.locator("#note")
        note.get_by_text("Chosen labels").wait_for(timeout=60000)
        page.locator("#note").get_by_text("Word weights by").wait_for(timeout=60000)
        label, note = page.locator("#probabilities").inner_text(), note.inner_text()
        browser.close()
    assert f"Chosen labels (each over its own threshold, tuned on validation): {', '.join(expected)}." in note
    lines = [line for line in label.splitlines() if line.strip()]
    assert lines[0].startswith("The 4 most probable labels")
    assert lines[1] == expected[0]  # the most probable label heads the list
    assert all(c in label for c in run.class_names)
