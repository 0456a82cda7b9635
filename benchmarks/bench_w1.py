"""W1: N Bayesian neurons x 20 Poisson inputs, exact event-driven, two ways.

Model (the one of ``bench_neuron.py``): r_on = r_off = 2 Hz, q_on, q_off ~ U(5, 30) Hz
(fixed NumPy seed), g0 = 1, float64, 10 sample times per trial.

Modes (each in its own subprocess, so that peak memory is per mode):

* ``today``       the inputs are first sampled as event arrays
                  (:func:`bayesnn.processes.sample_trials`), then integrated
                  (:func:`bayesnn.neuron.simulate_trials`, method "exact");
* ``generative``  :func:`bayesnn.neuron.simulate_generative`: the hidden chain and the
                  inputs are drawn inside the event-driven scan, chunk by chunk.

Configurations (neurons x seconds): 1000 x 10, 1000 x 100, 10000 x 10, and 1 x 86400
(one day; generative only: today's path would hold ~3.5e7 input events, several GiB).

Timing: run = median of ``--repeats`` steady-state calls (``block_until_ready``);
compile = the first call minus the run (today) or a call of the same compiled program on
a 0.01 s run (generative, where ``capacity`` is fixed so the shapes agree). With one
repeat, today's big configurations are timed once and their compile time is left out.
Peak RSS: VmHWM of the subprocess (Python + JAX included; the baseline after import is
printed too). Output rates (spikes per neuron-second) of the two modes must agree
within 5 standard errors (per-trial spread; one-day run: 10 s batch means).

    python benchmarks/bench_w1.py                     # everything (~15 min on 2 cores)
    python benchmarks/bench_w1.py --configs 1000x10   # one configuration
    python benchmarks/bench_w1.py --modes generative --previous old.json  # rerun one mode
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/

SEED = 20261128
N_INPUTS = 20
N_SAMPLES = 10
CHUNK = 256
CONFIGS = ("1000x10", "1000x100", "10000x10", "1x86400")


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024
    return float("nan")


class RunPeak:
    """Peak RSS (MiB) from now on: VmHWM reset (Linux clear_refs) and VmRSS polled every
    2 ms (VmHWM alone can under-report in a multi-threaded process). Started after the
    warm-up call, it leaves XLA's compilation memory out."""

    def __init__(self):
        import threading
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            pass
        self.start = self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss_mib())

    def stop(self) -> float:
        from memory import peak_rss_mib
        self._stop.set()
        self._thread.join()
        return max(self.peak, peak_rss_mib())


def run_mode(mode: str, n: int, duration: float, repeats: int, g0: float = 1.0) -> dict:
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from memory import peak_rss_mib
    from bayesnn.neuron import NeuronParams, simulate_generative, simulate_trials
    from bayesnn.processes import sample_trials

    rng = np.random.default_rng(SEED)
    params = NeuronParams(r_on=2.0, r_off=2.0, q_on=rng.uniform(5.0, 30.0, N_INPUTS),
                          q_off=rng.uniform(5.0, 30.0, N_INPUTS), g0=g0)
    times = np.linspace(duration / N_SAMPLES, duration, N_SAMPLES)
    baseline = _rss_mib()
    out = {"mode": mode, "n": n, "duration": duration, "baseline_mib": baseline}
    many = n if n > 1 else None

    if mode == "today":
        def sample():
            return jax.block_until_ready(sample_trials(params, key=SEED, n_trials=n,
                                                       duration=duration))

        def integrate(trial):
            return jax.block_until_ready(simulate_trials(params, trial.inputs,
                                                         duration=duration,
                                                         sample_times=times))
        first, sampling, integration, meter = None, [], [], None
        if repeats == 1:
            meter = RunPeak()  # no warm-up call: compilation memory included
        for _ in range(max(repeats, 1) + (1 if repeats > 1 else 0)):
            start = time.perf_counter()
            trial = sample()
            middle = time.perf_counter()
            run = integrate(trial)
            end = time.perf_counter()
            if first is None and repeats > 1:
                first = (middle - start, end - middle)
                del run, trial
                meter = RunPeak()
                continue
            sampling.append(middle - start)
            integration.append(end - middle)
            spikes, events = run.spikes, trial.inputs.n_events
            del trial, run
        out["sampling_s"] = statistics.median(sampling)
        out["integration_s"] = statistics.median(integration)
        out["run_s"] = out["sampling_s"] + out["integration_s"]
        out["compile_s"] = (first[0] + first[1] - out["run_s"]) if first else float("nan")
        out["run_peak_mib"] = meter.stop()
        out["run_start_mib"] = meter.start
        out["run_peak_includes_compile"] = first is None
        out["input_events"] = float(np.mean(np.asarray(events)))
    else:
        from bayesnn.neuron.generative import segment_plan
        # the default output slots of this run, fixed so that the warm-up shares its program
        capacity = segment_plan(params, duration, CHUNK)[1]

        def call(length):
            return jax.block_until_ready(simulate_generative(
                params, key=SEED, duration=length, n_trials=many, chunk_events=CHUNK,
                sample_times=np.linspace(length / N_SAMPLES, length, N_SAMPLES),
                capacity=capacity))
        start = time.perf_counter()
        call(0.01)
        out["compile_s"] = time.perf_counter() - start
        meter = RunPeak()
        runs = []
        for _ in range(max(repeats, 1)):
            start = time.perf_counter()
            result = call(duration)
            runs.append(time.perf_counter() - start)
        out["run_s"] = statistics.median(runs)
        out["run_peak_mib"] = meter.stop()
        out["run_start_mib"] = meter.start
        out["run_peak_includes_compile"] = False
        spikes = result.spikes
        out["input_events"] = float(np.mean(np.asarray(result.input_counts).sum(-1)))
    counts = np.asarray(spikes.counts).reshape(-1, spikes.capacity)
    per_trial = counts.sum(-1) / duration
    out["rate_hz"] = float(per_trial.mean())
    if per_trial.size > 1:
        out["rate_se_hz"] = float(per_trial.std(ddof=1) / np.sqrt(per_trial.size))
    else:  # batch means over 10 s blocks
        spike_times = np.asarray(spikes.times).reshape(-1)
        valid = np.isfinite(spike_times)
        blocks = np.bincount((spike_times[valid] // 10.0).astype(int),
                             weights=counts.reshape(-1)[valid],
                             minlength=int(duration // 10))[:int(duration // 10)] / 10.0
        out["rate_se_hz"] = float(blocks.std(ddof=1) / np.sqrt(blocks.size))
    out["peak_mib"] = peak_rss_mib()
    return out


def _spawn(mode: str, config: str, repeats: int, g0: float = 1.0) -> dict:
    n, duration = config.split("x")
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--configs", config,
               "--repeats", str(repeats), "--g0", str(g0)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"mode": mode, "n": int(n), "duration": float(duration),
                "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value, digits=3):
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}g}"


def report(rows: list[dict]) -> list[str]:
    loads = sorted({tuple(round(v, 1) for v in r["load"]) for r in rows if "load" in r})
    lines = [f"load average (1, 5, 15 min) at the start of each run: {loads}; at the end: "
             f"{tuple(round(v, 1) for v in os.getloadavg())} (2 cores)", "",
             "| neurons x s | mode | sampling s | integration s | run s | compile s "
             "| peak RSS MiB: process / run phase (growth in run) | output rate Hz |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        config = f"{row['n']} x {row['duration']:g}"
        if "error" in row:
            lines.append(f"| {config} | {row['mode']} | failed: {row['error']} |||||")
            continue
        sampling = _fmt(row.get("sampling_s"))
        integration = _fmt(row.get("integration_s"))
        if row["mode"] == "generative":
            sampling = integration = "(fused)"
        lines.append(f"| {config} | {row['mode']} | {sampling} | {integration} | "
                     f"{_fmt(row['run_s'])} | {_fmt(row['compile_s'])} | "
                     f"{row['peak_mib']:.0f} / {row['run_peak_mib']:.0f}"
                     f"{'*' if row['run_peak_includes_compile'] else ''} "
                     f"(+{row['run_peak_mib'] - row['run_start_mib']:.0f}) | "
                     f"{row['rate_hz']:.2f} +- {row['rate_se_hz']:.2f} |")
    lines.append("")
    lines.append("process: VmHWM of the subprocess; run phase: peak after the warm-up call "
                 "(* no warm-up: includes compilation), growth: over the RSS at its start; "
                 f"RSS after importing JAX and bayesnn: {rows[0].get('baseline_mib', 0):.0f} MiB")
    by = {(r["mode"], r["n"], r["duration"]): r for r in rows if "error" not in r}
    today_small = by.get(("today", 1000, 10.0))
    for (mode, n, duration), row in sorted(by.items()):
        if mode != "generative":
            continue
        today = by.get(("today", n, duration))
        if today:
            extra = row["run_s"] - today["integration_s"]
            ratio = extra / today["integration_s"]
            lines.append(f"{n} x {duration:g} s: sampling cost in the generative run = run - "
                         f"today's integration = {extra:+.3g} s = {ratio:+.2f} x integration "
                         f"({'PASS' if ratio <= 0.5 else 'FAIL'} <= 0.5); end to end "
                         f"{today['run_s'] / row['run_s']:.2f}x faster; today's sampling alone "
                         f"= {today['sampling_s'] / today['integration_s']:.2f} x integration")
        reference = today or today_small
        if reference:
            z = (row["rate_hz"] - reference["rate_hz"]) / (
                row["rate_se_hz"] ** 2 + reference["rate_se_hz"] ** 2) ** 0.5
            lines.append(f"{n} x {duration:g} s: output rate {row['rate_hz']:.3f} Hz vs today "
                         f"({reference['n']} x {reference['duration']:g} s) "
                         f"{reference['rate_hz']:.3f} Hz: z = {z:+.2f} "
                         f"({'PASS' if abs(z) < 5 else 'FAIL'} |z| < 5)")
    ten_k = by.get(("generative", 10000, 10.0))
    if ten_k:
        lines.append(f"10000 x 10 s generative peak RSS {ten_k['peak_mib']:.0f} MiB "
                     f"(run phase {ten_k['run_peak_mib']:.0f}) "
                     f"({'PASS' if ten_k['peak_mib'] < 2048 else 'FAIL'} < 2 GiB)")
    small, long = by.get(("generative", 1000, 10.0)), by.get(("generative", 1000, 100.0))
    if small and long:
        grow = lambda r: r["run_peak_mib"] - r["run_start_mib"]
        lines.append(f"generative peak RSS 1000 x 100 s / 1000 x 10 s: process "
                     f"{long['peak_mib'] / small['peak_mib']:.2f}, growth in run "
                     f"{grow(long):.0f} vs {grow(small):.0f} MiB (flat in duration but for "
                     "the output spikes kept)")
    day = by.get(("generative", 1, 86400.0))
    if day:
        lines.append(f"1 neuron x 1 day generative: {day['run_s']:.0f} s, "
                     f"{day['input_events']:.3g} input events, peak RSS {day['peak_mib']:.0f} MiB")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS),
                        help="NEURONSxSECONDS, e.g. 1000x10")
    parser.add_argument("--modes", nargs="+", default=["today", "generative"])
    parser.add_argument("--repeats", type=int, default=3,
                        help="steady-state calls per mode (configurations above 1000 x 10 "
                             "use one)")
    parser.add_argument("--today-day", action="store_true",
                        help="also run today's path on the one-day run")
    parser.add_argument("--g0", type=float, default=1.0,
                        help="output spike size: 1 (default) ~68 Hz output, 0.22 ~300 Hz")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="save the rows to this path")
    parser.add_argument("--previous", default=None,
                        help="rows of an earlier --json run: this run's rows replace those "
                             "of the same mode and configuration, the table shows all")
    args = parser.parse_args(argv)
    if args.child:
        n, duration = args.configs[0].split("x")
        print(json.dumps(run_mode(args.child, int(n), float(duration), args.repeats, args.g0)))
        return
    load = os.getloadavg()
    rows = []
    for config in args.configs:
        n, duration = config.split("x")
        repeats = args.repeats if int(n) * float(duration) <= 1e4 else 1
        for mode in args.modes:
            if mode == "today" and float(duration) > 1e4 and not args.today_day:
                continue
            row = _spawn(mode, config, repeats, args.g0)
            row["load"] = load
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    if args.previous:
        with open(args.previous) as handle:
            earlier = json.load(handle)
        fresh = {(r["mode"], r["n"], r["duration"]) for r in rows}
        rows = [r for r in earlier if (r["mode"], r["n"], r["duration"]) not in fresh] + rows
        rows.sort(key=lambda r: (CONFIGS.index(f"{r['n']}x{r['duration']:g}")
                                 if f"{r['n']}x{r['duration']:g}" in CONFIGS else 99,
                                 r["mode"] != "today"))
    print("\n".join(report(rows)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
