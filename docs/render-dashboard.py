#!/usr/bin/python3
"""Renders every panel of grafana/dashboards/pg-supervisor.json to docs/dashboard.png
from real data: a Prometheus scraping a supervisor that runs the example tasks
fed by the example producer for two minutes. Grafana is not packaged for
Debian, so the same PromQL is plotted with matplotlib.

Needs: Debian's prometheus and python3-matplotlib, a built package (npm ci),
and a PostgreSQL (DATABASE_URL, default the local service).
    /usr/bin/python3 docs/render-dashboard.py
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
MINUTES = float(os.environ.get("RENDER_MINUTES", "2"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query_range(port, expr, start, end):
    url = f"http://127.0.0.1:{port}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": expr, "start": start, "end": end, "step": "2s"})
    with urllib.request.urlopen(url) as response:
        return json.load(response)["data"]["result"]


def resolve(expr):
    return expr.replace("$queue", ".*").replace("$task", ".*").replace("$__rate_interval", "20s")


def legend(fmt, metric):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt) or "value"


def main():
    dashboard = json.load(open(os.path.join(ROOT, "grafana/dashboards/pg-supervisor.json")))
    workdir = tempfile.mkdtemp(prefix="pg-supervisor-render-")
    metrics_port, prom_port = free_port(), free_port()
    schema = f"render_{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "SUPERVISOR_SCHEMA": schema}
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"global: {{scrape_interval: 2s}}\nscrape_configs:\n  - job_name: pg-supervisor\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n")
    procs = [subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
                               f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(["node", "dist/cli.js", "--tasks", "examples/tasks.js", "--threads", "2",
                                       "--concurrency", "4", "--metrics-port", str(metrics_port), "--log-level", "warn"],
                                      cwd=ROOT, env=env))
        time.sleep(3)
        procs.append(subprocess.Popen(["node", "examples/producer.js"], cwd=ROOT, env={**env, "JOBS_PER_SECOND": "40"}))
        start = time.time()
        time.sleep(MINUTES * 60)
        end = time.time()
        panels = dashboard["panels"]
        cols = 4
        rows = (len(panels) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 5, rows * 3.2))
        for ax, panel in zip(axes.flat, panels):
            ax.set_title(panel["title"], fontsize=10)
            for target in panel["targets"]:
                for series in query_range(prom_port, resolve(target["expr"]), start, end):
                    xs = [float(t) - start for t, _ in series["values"]]
                    ys = [float(v) for _, v in series["values"]]
                    ax.plot(xs, ys, label=legend(target.get("legendFormat", ""), series["metric"]), linewidth=1.2)
            if panel["type"] == "stat":
                lines = ax.get_lines()
                last = lines[0].get_ydata()[-1] if lines else float("nan")
                ax.text(0.5, 0.5, f"{last:.3g}", transform=ax.transAxes, ha="center", va="center", fontsize=22, alpha=0.8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("seconds", fontsize=7)
            if len(ax.get_lines()) > 1:
                ax.legend(fontsize=6, loc="upper left")
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"pg-supervisor dashboard: {MINUTES:g} minutes of examples/tasks.js under examples/producer.js", fontsize=12)
        fig.tight_layout()
        out = os.path.join(ROOT, "docs", "dashboard.png")
        fig.savefig(out, dpi=80)
        print(f"wrote {out}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", DATABASE_URL, "-qc", f"drop schema if exists {schema} cascade"], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
