"""Latency and throughput of the demo's API (issue 6): a run served on 127.0.0.1, called with gradio_client.

    python bench/demo_latency.py --run runs/imdb_cnn-... [--requests 200] [--clients 8]

For one client in a loop: p50 and p95 of /classify (no attributions) and of the UI's endpoint
(/classify_ui: probabilities plus occlusion attributions) over --requests requests, texts drawn
from the run's test predictions. Then --clients clients at once on /classify for --seconds:
requests per second. The server's queue takes --concurrency requests at a time.
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
    client = Client(url, verbose=False)
    for t in texts[:5]:  # warm-up
        client.predict(t, api_name="/classify")

    def timed(api, n):
        out = []
        for i in range(n):
            start = time.perf_counter()
            client.predict(texts[i % len(texts)], api_name=api)
            out.append(1000 * (time.perf_counter() - start))
        return out

    plain = timed("/classify", args.requests)
    with_attr = timed("/classify_ui", args.attribution_requests)

    done, stop = [0] * args.clients, time.perf_counter() + args.seconds

    def worker(i):
        c = Client(url, verbose=False)
        j = i
        while time.perf_counter() < stop:
            c.predict(texts[j % len(texts)], api_name="/classify")
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
    what = f"{run.config.name}: {inp.encoder.type}" + (f" {Path(inp.encoder.preset).name}" if inp.encoder.type == "pretrained" else "")
    row = [date.today().isoformat(), what, inp.max_length, f"{statistics.median(plain):.1f}",
           f"{percentile(plain, 95):.1f}", f"{statistics.median(with_attr):.1f}", f"{percentile(with_attr, 95):.1f}",
           f"{throughput:.1f} ({args.clients} clients, queue concurrency {args.concurrency})",
           machine(), f"`{command()}`"]
    append("Demo API latency through gradio_client on 127.0.0.1 (issue 6)",
           ["date", "run", "max_length", "p50 ms", "p95 ms", "p50 ms with attributions",
            "p95 ms with attributions", "requests/s", "machine", "command"], row)
    print(row)


if __name__ == "__main__":
    main()
