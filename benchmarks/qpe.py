"""QPE cycle detector speed: template build, 100-window batches (statevector and 4096 shots)
against the numpy FFT periodogram (the classical limit) and the naive tutorial way (build +
transpile + run one circuit per window, ``initialize`` decomposed into gates), and encoding.

Run: ``.venv/bin/python benchmarks/qpe.py``. Figures are medians of repeated runs on this
machine; the naive way is timed on a few windows and extrapolated per window (it says so).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

WINDOWS = 100
SHOTS = 4096
NAIVE_WINDOWS = 6


def _median_s(fn: Callable[[], Any], repeats: int) -> float:
    return _median_wall_cpu_s(fn, repeats)[0]


def _median_wall_cpu_s(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all threads, Aer's included):
    CPU time stays meaningful when other work shares the cores."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def _naive_per_window_s(amps: np.ndarray, n: int) -> tuple[float, float]:
    """A tutorial's loop: per window build the QPE circuit with the state preparation decomposed
    into gates, transpile it, run 4096 shots, read counts. ``StatePreparation`` is used rather
    than ``initialize``: initialize's leading resets make Aer simulate every shot separately
    (~20 s per window at N=64), which would flatter the ratio. Returns (seconds per window,
    max error of its counts against the exact periodogram: a check that it computes the same).
    """
    from qiskit import ClassicalRegister, QuantumCircuit, transpile
    from qiskit.circuit.library import StatePreparation
    from qiskit_aer import AerSimulator

    from engine.signals.qpe import _qpe_circuit

    sim = AerSimulator()
    size, m = 1 << n, n
    worst = 0.0
    t = time.perf_counter()
    for row in amps:
        prep = QuantumCircuit(n)
        prep.append(StatePreparation(row), range(n))
        prep = transpile(prep, basis_gates=["u", "cx"], optimization_level=1)
        qc = QuantumCircuit(n + m)
        qc.compose(prep, range(n), inplace=True)
        qc.compose(_qpe_circuit(n, m, 0), inplace=True)
        creg = ClassicalRegister(m)
        qc.add_register(creg)
        qc.measure(range(n, n + m), creg)
        counts = sim.run(transpile(qc, sim), shots=SHOTS, seed_simulator=1).result().get_counts()
        p = np.zeros(size)
        for bits, c in counts.items():
            p[int(bits, 2)] = c / SHOTS
        worst = max(worst, float(np.abs(p - np.abs(np.fft.fft(row)) ** 2 / size).max()))
    return (time.perf_counter() - t) / len(amps), worst


def main() -> None:
    from engine.signals.encoding import encode_windows, encode_windows_numpy
    from engine.signals.qpe import _build_template, batch_qubits, build_qpe_template, phase_spectrum

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (other work shares them)")
    rng = np.random.default_rng(0)
    encode_windows(rng.standard_normal(300), 6)  # JIT load / compile outside the figures
    phase_spectrum(encode_windows(rng.standard_normal(40), 5)[0])  # qiskit + Aer import

    header = (
        f"{'n=m':>3} {'N':>4} {'tpl ms':>7} {'G':>3} {'sv ms':>8} {'sv cpu':>7} {'shots ms':>9}"
        f" {'fft ms':>7}"
        f" {'naive ms/win':>12} {'naive x100 ms':>13} {'naive/sv':>9} {'naive/shots':>11}"
        f" {'sv/fft':>8} {'max|sv-fft|':>11}"
    )
    print(f"\n{WINDOWS} windows per batch; shots = {SHOTS}; naive = {NAIVE_WINDOWS} windows timed,")
    print("extrapolated x100 from the per-window mean (build + transpile + run each window,")
    print("state preparation decomposed into u/cx gates, 4096 shots). sv cpu = CPU ms of the")
    print("statevector batch summed over threads (2 cores: on an idle machine wall is cpu/2..cpu).")
    print(header)
    figures = {}
    for n in (5, 6, 7, 8):
        size = 1 << n
        amps, meta = encode_windows(rng.standard_normal(size + WINDOWS - 1), n)
        assert meta.all_valid and amps.shape == (WINDOWS, size)
        g = batch_qubits(n, n, WINDOWS)
        _build_template.cache_clear()
        t = time.perf_counter()
        build_qpe_template(n, n, g)
        tpl_s = time.perf_counter() - t
        phase_spectrum(amps)
        repeats = 7 if n <= 6 else 3
        sv_s, sv_cpu = _median_wall_cpu_s(lambda a=amps: phase_spectrum(a), repeats)
        shots_s = _median_s(lambda a=amps: phase_spectrum(a, "shots", SHOTS, 1), repeats)
        fft_s = _median_s(lambda a=amps: np.abs(np.fft.fft(a, axis=1)) ** 2 / a.shape[1], 200)
        err = float(np.abs(phase_spectrum(amps) - np.abs(np.fft.fft(amps)) ** 2 / size).max())
        naive_s, naive_err = _naive_per_window_s(amps[:NAIVE_WINDOWS], n)
        naive_batch = naive_s * WINDOWS
        figures[n] = (sv_s, naive_batch, sv_cpu)
        print(
            f"{n:>3} {size:>4} {tpl_s * 1e3:>7.1f} {1 << g:>3} {sv_s * 1e3:>8.1f}"
            f" {sv_cpu * 1e3:>7.1f} {shots_s * 1e3:>9.1f} {fft_s * 1e3:>7.3f}"
            f" {naive_s * 1e3:>12.1f} {naive_batch * 1e3:>13.0f} {naive_batch / sv_s:>8.0f}x"
            f" {naive_batch / shots_s:>10.0f}x {sv_s / fft_s:>7.0f}x {err:>11.1e}"
        )
        assert naive_err < 0.1, f"naive counts disagree with the periodogram ({naive_err})"

    series = rng.standard_normal(256 + WINDOWS - 1)
    encode_windows(series, 8)
    enc_s = _median_s(lambda: encode_windows(series, 8), 300)
    ref_s = _median_s(lambda: encode_windows_numpy(series, 8), 100)
    print(
        f"\nencoding {WINDOWS} x 256 (after warm-up): numba {enc_s * 1e3:.3f} ms,"
        f" numpy reference {ref_s * 1e3:.3f} ms ({ref_s / enc_s:.1f}x)"
    )
    sv64, naive64 = figures[6][:2]
    print("\ntargets:")
    print(
        f"  100 windows N=64 statevector < 150 ms: {sv64 * 1e3:.1f} ms wall"
        f" ({figures[6][2] * 1e3:.0f} ms CPU over both cores)",
        _ok(sv64 < 0.15),
    )
    print(f"  >= 50x faster than naive at N=64: {naive64 / sv64:.0f}x", _ok(naive64 / sv64 >= 50))
    print(f"  encoding 100 x 256 < 1 ms: {enc_s * 1e3:.3f} ms", _ok(enc_s < 1e-3))


def _ok(flag: bool) -> str:
    return "OK" if flag else "MISSED"


if __name__ == "__main__":
    main()
