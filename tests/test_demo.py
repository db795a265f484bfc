"""The Gradio demo and its API, served on 127.0.0.1 and called with gradio_client and a real browser."""
import os
import shutil
import socket
from pathlib import Path

import pytest

import kerasclf
from conftest import run_cli

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
    assert "occlusion" in note


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
        page.locator("#note").get_by_text("occlusion").wait_for(timeout=60000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        text = label.inner_text()
        browser.close()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[:2] == ["Class probabilities", "neg"]  # the heading, then the predicted label
    assert (tmp_path / "demo.png").stat().st_size > 10000
