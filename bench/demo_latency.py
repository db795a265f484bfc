"""Latency and throughput of the demo's API (issue 6): a run served on 127.0.0.1, called with gradio_client.

    python bench/demo_latency.py --run runs/imdb_cnn-... [--requests 200] [--clients 8]

For one client in a loop: p50 and p95 of /classify (no attributions) and of the UI's endpoint
(/classify_ui: probabilities plus integrated-gradients attributions) over --requests requests,
texts drawn from the run's test split. The client speaks Gradio's HTTP API as curl does (POST the
arguments, read the result's event stream, over one kept-alive connection); gradio_client's p50
is recorded too (it adds its own polling, about 90 ms here). Then --clients HTTP clients at once
on /classify for --seconds: requests per second. The server's queue takes --concurrency at a time.
"""

from __future__ import annotations

import argparse
import csv
import socket
import statistics
import sys
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402
from kerasclf.demo import build_app  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--attribution-requests", type=int, default=50)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--concurrency", type=int, default=2)
    args = p.parse_args()
    from gradio_client import Client

    run = kerasclf.load_run(args.run)
    with open(Path(args.run) / "predictions.csv", newline="", encoding="utf-8") as f:
        texts = [r[run.config.inputs[0].column] for r in csv.DictReader(f)][: max(args.requests, 200)]
    app = build_app(run, concurrency=args.concurrency)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    def call(http, api, text):
        r = http.post(f"{url}gradio_api/call/{api}", json={"data": [text]})
        r.raise_for_status()
        with http.stream("GET", f"{url}gradio_api/call/{api}/{r.json()['event_id']}") as events:
            body = "".join(events.iter_text())
        if "event: complete" not in body:
            raise RuntimeError(f"/{api} failed: {body[:200]}")
        return body

    http = httpx.Client(timeout=120)
    for t in texts[:5]:  # warm-up
        call(http, "classify", t)
        call(http, "classify_ui", t)

    def timed(api, n):
        out = []
        for i in range(n):
            start = time.perf_counter()
            call(http, api, texts[i % len(texts)])
            out.append(1000 * (time.perf_counter() - start))
        return out

    plain = timed("classify", args.requests)
    with_attr = timed("classify_ui", args.attribution_requests)
    client = Client(url, verbose=False)
    by_client = []
    for i in range(50):
        start = time.perf_counter()
        client.predict(texts[i % len(texts)], api_name="/classify")
        by_client.append(1000 * (time.perf_counter() - start))

    done, stop = [0] * args.clients, time.perf_counter() + args.seconds

    def worker(i):
        c = httpx.Client(timeout=120)
        j = i
        while time.perf_counter() < stop:
            call(c, "classify", texts[j % len(texts)])
            done[i] += 1
            j += args.clients

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throughput = sum(done) / (time.perf_counter() - start)
    app.close()
    inp = run.config.inputs[0]
    what = f"{run.config.name}: {inp.encoder.type}" + (f" {Path(inp.encoder.preset).name}" if inp.pretrained else "")
    row = [
        date.today().isoformat(),
        what,
        inp.max_length,
        f"{statistics.median(plain):.1f}",
        f"{percentile(plain, 95):.1f}",
        f"{statistics.median(with_attr):.1f}",
        f"{percentile(with_attr, 95):.1f}",
        f"{statistics.median(by_client):.1f}",
        f"{throughput:.1f} ({args.clients} clients, queue concurrency {args.concurrency})",
        machine(),
        f"`{command()}`",
    ]
    append(
        "Demo API latency on 127.0.0.1 (issue 6)",
        [
            "date",
            "run",
            "max_length",
            "p50 ms (HTTP)",
            "p95 ms (HTTP)",
            "p50 ms with attributions",
            "p95 ms with attributions",
            "p50 ms via gradio_client",
            "requests/s",
            "machine",
            "command",
        ],
        row,
    )
    print(row)


if __name__ == "__main__":
    main()
