"""A real Prometheus (Debian's) on loopback for the cluster tests, scraping the exporters of the pods."""

import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import yaml


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prometheus:
    """prometheus on loopback, scraping (address, labels) targets every `interval` seconds (the scrape timeout one
    second less, at least one); stopped by its own PID."""

    def __init__(self, directory, targets, rule_file, interval=1):
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "%ds" % interval, "scrape_timeout": "%ds" % max(1, interval - 1),
                       "evaluation_interval": "1s"},
            "rule_files": [str(rule_file)],
            "scrape_configs": [{"job_name": "redis", "static_configs": [
                {"targets": [address], "labels": labels} for address, labels in targets]}],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(directory / "prometheus.log", "w")
        self.process = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus", "--config.file", str(directory / "prometheus.yml"),
             "--storage.tsdb.path", str(directory / "data"), "--web.listen-address", "127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)

    def get(self, path, **params):
        url = "http://127.0.0.1:%d%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)

    def wait_for(self, what, condition, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError("timed out waiting for %s; prometheus log: %s"
                             % (what, pathlib.Path(self.log.name).read_text()[-1500:]))

    def failing_queries(self, exprs):
        """The expressions (with the answer) that do not evaluate."""
        answers = [(expr, self.query(expr)) for expr in exprs]
        return [(expr, answer) for expr, answer in answers if answer["status"] != "success"]

    def evaluated_rules(self):
        """Every rule as Prometheus reports it, once each has been evaluated at least once."""
        def all_rules():
            return [r for g in self.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        self.wait_for("one rule evaluation",
                      lambda: all(r.get("lastEvaluation", "").startswith("20") for r in all_rules()))
        return all_rules()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
