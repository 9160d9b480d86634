"""Tests for kgif._environment: one environment record, the same keys for every caller."""

from __future__ import annotations

import sys

from kgif._environment import ENVIRONMENT_KEYS, environment

EXPECTED_KEYS = ("command", "device", "gpu", "cuda", "cpu", "cpu_count", "threads", "torch",
                 "python", "platform", "kgif", "git_commit", "captum", "pykeen", "load_average")


def test_keys_are_the_same_with_and_without_a_device():
    assert ENVIRONMENT_KEYS == EXPECTED_KEYS
    assert tuple(environment()) == EXPECTED_KEYS
    assert tuple(environment("cpu", ["-m", "kgif.bench"])) == EXPECTED_KEYS


def test_values_on_cpu():
    env = environment("cpu", ["-m", "kgif", "train", "--dataset", "my data"])
    assert env["command"] == f"{sys.orig_argv[0]} -m kgif train --dataset 'my data'"
    assert env["device"] == "cpu" and env["gpu"] is None and env["cuda"] is None
    assert isinstance(env["threads"], int) and env["threads"] >= 1
    assert environment()["device"] is None


def test_bench_records_the_same_keys():
    from kgif.bench import run_benchmarks

    result = run_benchmarks("smoke", only=[], argv=["-m", "kgif.bench", "--suite", "smoke"])
    assert tuple(result["environment"]) == EXPECTED_KEYS
    assert result["environment"]["command"] == f"{sys.orig_argv[0]} -m kgif.bench --suite smoke"
