"""The Gradio demo and its API, served on 127.0.0.1 and called with gradio_client and a real browser."""
import os
import shutil
import socket
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasclf
from kerasclf.data.batching import trim
from conftest import FIXTURES, run_cli

POSITIVE = ("A wonderful, moving film. The acting is brilliant, the story is beautiful and the ending is "
            "perfect. One of the best movies I have seen; I loved every minute and would watch it again.")
NEGATIVE = ("Awful. A boring, stupid mess with terrible acting and a pointless plot. The worst film I have seen "
            "in years, a complete waste of time and money. Avoid it.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample_run):
    from kerasclf.demo import build_app

    run = kerasclf.load_run(sample_run)
    app = build_app(run, max_chars=2000)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", run
    app.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


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
    assert words and all(isinstance(w["token"], str) for w in words if isinstance(w, dict)) or words


def test_demo_without_a_run_tells_how_to_make_one(tmp_path):
    res = run_cli("demo", "--runs-dir", str(tmp_path), timeout=120)
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert "no finished run folder" in line and "make train" in line


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_real_browser_types_a_review_and_reads_the_label(server, tmp_path):
    pytest.importorskip("playwright", reason="playwright is a dev dependency")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page()
        page.goto(server[0])
        page.locator("#text-0 textarea").fill(NEGATIVE)
        page.locator("#classify").click()
        label = page.locator("#probabilities")
        label.get_by_text("neg").first.wait_for(timeout=60000)
        page.locator("#note").get_by_text("integrated gradients").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        text = label.inner_text()
        browser.close()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[:2] == ["Class probabilities", "neg"]  # the heading, then the predicted label
    assert (tmp_path / "demo.png").stat().st_size > 10000


def test_the_readme_api_example_runs_against_a_live_server(server):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippet = readme.split("<!-- api -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    lines = [line.replace("http://127.0.0.1:7860/", server[0]) for line in snippet.splitlines()
             if line.strip() and not line.startswith("#")]
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

        enc = (f"{{type: pretrained, preset: {tiny_bert}, pooling: cls, freeze: false}}" if kind == "pretrained" else
               "{type: transformer, embedding_dim: 16, heads: 2, ff_dim: 16, ngram_buckets: 1000}")
        run = kerasclf.load_run(train(kerasclf.load_config(overrides=[
            f"inputs.0.encoder={enc}", "inputs.0.max_length=48", "train.epochs=1", "data.limit=64"]), tmp_path))
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

    scores = attributions.integrated_gradients(run, POSITIVE, target=1, steps=64, specials=True)
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

    threads = [threading.Thread(target=work, args=(api, text)) for api in ("/classify", "/classify_ui")
               for text in (POSITIVE, NEGATIVE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(set(labels)) == ["neg", "pos"] and len(labels) == 12
    assert client.predict(POSITIVE, api_name="/classify") == server[1].predict([POSITIVE])[0]


def test_service_fills_inputs_of_one_column_and_refuses_a_bare_string_for_a_pair(tiny_bert, tmp_path):
    import yaml

    from kerasclf.demo import Service
    from kerasclf.train import train

    cnn = {"type": "cnn", "embedding_dim": 8, "filters": 8, "kernel_sizes": [2]}
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "name": "three", "data": {"source": str(FIXTURES / "pairs.csv"), "test": str(FIXTURES / "pairs_test.csv"),
                                  "validation": 0.25},
        "inputs": [{"name": "a", "column": "first", "max_length": 16, "encoder": cnn},
                   {"name": "b", "column": "first", "max_length": 16, "encoder": cnn},
                   {"name": "pair", "columns": ["first", "second"], "max_length": 32,
                    "encoder": {"type": "pretrained", "preset": str(tiny_bert), "freeze": True}}],
        "head": {"units": [8]}, "train": {"epochs": 1, "batch_size": 8}}))
    service = Service(kerasclf.load_run(train(kerasclf.load_config(cfg_file), tmp_path / "runs")))
    assert service.labels == ["a", "b", "pair: first", "pair: second"]
    item, notes = service.item(["The film was great.", "", "", "It was wonderful."])
    assert item == {"a": "The film was great.", "b": "The film was great.",
                    "pair": ["The film was great.", "It was wonderful."]} and not notes
    missing, why = service.item(["", "", "", "It was wonderful."])  # no box holds column "first"
    assert missing is None and "column 'first'" in why[0]
    none, why = service.item(["", "", "", ""])
    assert none is None and why == ["Type or paste a text to classify."]
    bare, why = service.item_from_api("The film was great.")
    assert bare is None and "reads a pair of texts" in why[0]
    out = service.classify([service.item_from_api({"first": "The film was great.", "second": "Great."})[0]])
    assert out[0]["label"] in ("same", "different")
