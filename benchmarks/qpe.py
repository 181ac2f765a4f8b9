"""QPE cycle detector speed: template build, 100-window batches on Aer's statevector against the
numpy rfft periodogram (the classical limit, and the exact answer the QPE distribution must equal),
shots two ways, and a naive tutorial loop.

What each row is:
- ``build``: :func:`build_qpe_template` with its cache cleared (in-process, qiskit already
  imported), median of 5 builds.
- ``statevector``: ``phase_spectrum(amps)`` for 100 windows, a real Aer run of the QPE circuits,
  interleaved A B A B with ``np.fft.rfft`` (B); every round both full ``[100, N]`` results are
  checked equal to 1e-9 (B's rfft half-spectrum mirrored to all ``N`` bins).
- ``shots (numpy)``: Aer's exact probabilities, then ``rng.multinomial(4096, p)`` in numpy: a
  sample of the exact result, not a measurement; ``shots (Aer)``: Aer measures the phase register
  4096 times per window itself (``ShotsBackend(sampler="aer")``, one circuit per window).
- ``naive``: the tutorial loop, every window on its own: build the QPE circuit with the state
  preparation decomposed into gates (``StatePreparation``), transpile it with a preset pass
  manager built once (so it does not pay Aer's Target rebuild inside ``transpile(qc, sim)``),
  run 4096 shots, read counts. Timed on all 100 windows (no extrapolation), interleaved with
  ``shots (Aer)``, which computes the same thing; both checked within shot noise of the exact.

Run: ``.venv/bin/python benchmarks/qpe.py`` (~60-90 s on 2 busy cores).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any

import numpy as np
from harness import assert_close, interleave, repeat, verdict

WINDOWS = 100
SHOTS = 4096
RUNS = 5


def _periodogram_rfft(a: np.ndarray) -> np.ndarray:
    """The classical reference: numpy's real FFT, mirrored to the full ``N`` bins."""
    half = np.abs(np.fft.rfft(a, axis=1)) ** 2 / a.shape[1]
    return np.concatenate([half, half[:, -2:0:-1]], axis=1)


def _check_exact(qpe: np.ndarray, ref: np.ndarray) -> None:
    assert_close(qpe, ref, "QPE distribution vs periodogram", rtol=1e-9)


def _tv_bound(exact: np.ndarray, shots: int, delta: float = 1e-6) -> np.ndarray:
    """Total-variation distance a multinomial sample stays within with prob. >= 1 - delta."""
    mean = 0.5 * np.sqrt(exact * (1 - exact) / shots).sum(axis=1)
    return mean + math.sqrt(math.log(1 / delta) / (2 * shots))


def _naive_circuit(row: np.ndarray, n: int) -> Any:
    """A tutorial's QPE of the +1 shift: prepared state, H, mcx ladder, QFT^-1 (with swaps)."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit.circuit.library import QFTGate, StatePreparation

    data, phase = QuantumRegister(n, "d"), QuantumRegister(n, "p")
    creg = ClassicalRegister(n, "c")
    qc = QuantumCircuit(data, phase, creg)
    qc.append(StatePreparation(row), data)
    qc.h(phase)
    for j in range(n):
        sub = list(data[j:])
        for i in range(len(sub) - 1, -1, -1):
            qc.mcx([phase[j], *sub[:i]], sub[i])
    qc.append(QFTGate(n).inverse(), phase)
    qc.measure(phase, creg)
    return qc


def _naive(amps: np.ndarray, n: int, sim: Any, pm: Any) -> np.ndarray:
    out = np.zeros((amps.shape[0], 1 << n))
    for w, row in enumerate(amps):
        counts = sim.run(pm.run(_naive_circuit(row, n)), shots=SHOTS, seed_simulator=w).result()
        for bits, c in counts.get_counts().items():
            out[w, int(bits, 2)] = c / SHOTS
    return out


def main() -> None:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator

    from engine.signals.encoding import encode_windows, encode_windows_numpy
    from engine.signals.qpe import (
        ShotsBackend,
        _build_template,
        batch_qubits,
        build_qpe_template,
        phase_spectrum,
    )

    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (other work shares them)")
    rng = np.random.default_rng(0)
    encode_windows(rng.standard_normal(300), 6)  # JIT load / compile outside the figures
    phase_spectrum(encode_windows(rng.standard_normal(40), 5)[0])  # qiskit + Aer import

    print("\ntemplate build, cache cleared before each (median of 5):")
    builds = {}
    for n in (6, 8, 9):
        g = batch_qubits(n, n, WINDOWS)
        times = []
        for _ in range(5):
            _build_template.cache_clear()
            t0 = time.perf_counter()
            build_qpe_template(n, n, g)
            times.append(time.perf_counter() - t0)
        builds[n] = statistics.median(times)
        print(f"  N={1 << n:>4} (g={g}): {builds[n] * 1e3:.2f} ms")

    print(f"\n{WINDOWS} windows, statevector on Aer (A) vs numpy rfft periodogram (B),")
    print(f"interleaved, median of {RUNS} (3 for N=32, 128); results equal to 1e-9 every round:")
    print(f"{'N':>5} {'G':>3} {'qws ms':>9} {'rfft ms':>8} {'qws/rfft':>9} {'qws cpu ms':>10}")
    sv = {}
    for n in (5, 6, 7, 8):
        size = 1 << n
        amps, meta = encode_windows(rng.standard_normal(size + WINDOWS - 1), n)
        assert meta.all_valid and amps.shape == (WINDOWS, size)
        runs = RUNS if n in (6, 8) else 3
        c0 = time.process_time()
        t = interleave(
            lambda a=amps: phase_spectrum(a),
            lambda a=amps: _periodogram_rfft(a),
            runs,
            check=_check_exact,
        )
        cpu = (time.process_time() - c0) / (runs + 1)  # A's CPU dominates; B is microseconds
        sv[n] = t
        print(
            f"{size:>5} {1 << batch_qubits(n, n, WINDOWS):>3} {t.a_median * 1e3:>9.1f}"
            f" {t.b_median * 1e3:>8.3f} {t.ratio:>8.0f}x {cpu * 1e3:>10.0f}"
        )

    n = 6
    amps, _ = encode_windows(rng.standard_normal(64 + WINDOWS - 1), n)
    exact = phase_spectrum(amps)
    numpy_shots = repeat(lambda: phase_spectrum(amps, "shots", SHOTS, 1), RUNS)
    aer_backend = ShotsBackend(SHOTS, seed=1, sampler="aer")
    sim = AerSimulator()
    pm = generate_preset_pass_manager(optimization_level=1, backend=sim)

    def within_noise(a: np.ndarray, b: np.ndarray) -> None:
        bound = _tv_bound(exact, SHOTS)
        for what, got in (("Aer shots", a), ("naive", b)):
            tv = 0.5 * np.abs(got - exact).sum(axis=1)
            assert (tv <= bound).all(), f"{what}: beyond shot noise ({tv.max():.3f})"

    naive = interleave(
        lambda: aer_backend.probabilities(amps, n),
        lambda: _naive(amps, n, sim, pm),
        2,
        warmup=0,
        check=within_noise,
    )
    print(f"\nN=64, {WINDOWS} windows, {SHOTS} shots each:")
    print(
        f"  shots (numpy multinomial of Aer's exact result): "
        f"{statistics.median(numpy_shots) * 1e3:.1f} ms (median of {RUNS})"
    )
    print(
        f"  shots (Aer measures, qws):                       {naive.a_median * 1e3:.0f} ms"
        f" (median of 2)"
    )
    print(
        f"  naive tutorial loop, cached pass manager:        {naive.b_median * 1e3:.0f} ms"
        f" for all {WINDOWS} windows (median of 2) = {naive.b_median / naive.a_median:.1f}x"
        f" qws Aer shots, {naive.b_median / sv[6].a_median:.0f}x qws statevector"
    )

    # Not interleaved: the numpy reference's BLAS threads keep spinning after each call and
    # starve numba's parallel region on 2 cores (29 ms instead of 0.1 ms), a benchmark artefact.
    series = rng.standard_normal(256 + WINDOWS - 1)
    assert_close(encode_windows(series, 8)[0], encode_windows_numpy(series, 8)[0], rtol=1e-12)
    enc_s = statistics.median(repeat(lambda: encode_windows(series, 8), 101))
    ref_s = statistics.median(repeat(lambda: encode_windows_numpy(series, 8), 101))
    print(
        f"\nencoding {WINDOWS} x 256 (median of 101 each, equal to 1e-12): numba"
        f" {enc_s * 1e3:.3f} ms, numpy reference {ref_s * 1e3:.3f} ms ({ref_s / enc_s:.1f}x)"
    )

    print("\ntargets:")
    for n, label in ((8, "N=256"), (9, "N=512")):
        verdict(
            f"QPE template build {label} (cache cleared)",
            f"{builds[n] * 1e3:.1f} ms",
            "< 500 ms",
            builds[n] < 0.5,
        )
    for n, limit in ((6, 0.1), (8, 0.8)):
        t = sv[n]
        verdict(
            f"QPE statevector {WINDOWS} windows N={1 << n}",
            f"{t.a_median * 1e3:.1f} ms (median of {len(t.a)}; rfft {t.b_median * 1e3:.3f} ms,"
            f" {t.ratio:.0f}x)",
            f"< {limit * 1e3:.0f} ms",
            t.a_median < limit,
        )
    verdict("encoding 100 x 256 (numba)", f"{enc_s * 1e3:.3f} ms", "< 1 ms", enc_s < 1e-3)


if __name__ == "__main__":
    main()
