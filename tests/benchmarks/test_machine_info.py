"""benchmarks/machine_info.py: the machine record and which precisions a benchmark skips."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

EMULATING = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2 avx512f\n"
NATIVE = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n"


@pytest.fixture
def machine_info() -> ModuleType:
    spec = importlib.util.spec_from_file_location("machine_info", ROOT / "benchmarks" / "machine_info.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_emulating_cpu_skips_bf16_by_default_with_a_reason(machine_info: ModuleType,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine_info, "_cpuinfo", lambda: EMULATING)
    record = machine_info.machine()
    assert record["cpu"] == "AMD EPYC 7B13"
    assert record["bf16_native"] is False and record["bf16_flags"] == []
    run, skipped = machine_info.precision_plan(["fp32", "bf16"], explicit=False)
    assert run == ["fp32"]
    assert set(skipped) == {"bf16"}
    assert "AMD EPYC 7B13 has no native bf16" in skipped["bf16"] and "explicitly" in skipped["bf16"]
    # Named on the command line: it runs, emulated or not; a GPU never skips.
    assert machine_info.precision_plan(["fp32", "bf16"], explicit=True) == (["fp32", "bf16"], {})
    assert machine_info.precision_plan(["bfloat16"], explicit=False, device="cuda") == (["bfloat16"], {})


def test_native_cpu_runs_bf16(machine_info: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine_info, "_cpuinfo", lambda: NATIVE)
    record = machine_info.machine()
    assert record["bf16_native"] is True and record["bf16_flags"] == ["amx_bf16"]
    assert machine_info.precision_plan(["fp32", "bf16"], explicit=False) == (["fp32", "bf16"], {})


def test_every_benchmark_records_the_machine() -> None:
    """Each script that measures something puts machine() in its JSON (method_efficacy
    records ``cpu`` itself; reward_signal only reads a stored run)."""
    # helpers of another script (gpu_cases, memory_*) write no JSON of their own
    exempt = {"machine_info.py", "method_efficacy.py", "efficacy_store.py", "efficacy_arms.py", "reward_signal.py", "gpu_cases.py",
              "memory_meter.py", "memory_probes.py"}
    missing = [p.name for p in sorted((ROOT / "benchmarks").glob("*.py"))
               if p.name not in exempt and '"machine": machine()' not in p.read_text()]
    assert missing == [], f"benchmarks whose JSON does not record the machine: {missing}"
