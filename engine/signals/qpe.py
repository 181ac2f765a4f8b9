"""Quantum phase estimation of the cyclic shift: the power spectrum of encoded windows on Aer.

**Circuit.** Data qubits ``0..n-1`` hold the window (value ``a[x]`` on basis state ``|x>``,
qubit 0 = least significant bit, qiskit's little-endian order). Phase qubits ``n..n+m-1``
start in ``|+>``; phase qubit ``j`` controls ``U^(2^j)`` where ``U|x> = |x + 1 mod N>``.
Textbook QPE starts the phase register in ``|0>^m`` and applies ``H`` to each phase qubit; here
the state preparation does that layer: each circuit begins with one Aer-native
``set_statevector`` of the product state ``|+>^m ⊗ |window>`` over all its qubits (which is
``H^m ⊗ I`` applied to ``|0>^m ⊗ |window>``, exactly), and the gates start at the controlled
increments. Everything after the preparation — every controlled ``U^(2^j)`` and the inverse QFT
— runs as gates on Aer (tests: template on ``|+>^m ⊗ |ψ>`` equals textbook QPE on
``|0>^m ⊗ |ψ>``).
``U^(2^j)`` is an increment of the sub-register ``d[j:]`` (adding ``2^j`` leaves the low ``j``
bits alone), built as a ladder of multi-controlled X gates — no dense ``2^n x 2^n`` matrix.
Then ``QFTGate(m).inverse()`` (swaps included) on the phase register, so the register read as
an integer (first phase qubit least significant) is the phase estimate ``y``.

**Sign convention.** The Fourier mode ``|f_k> = N^-1/2 Σ_x e^{+2πikx/N}|x>`` has
``U|f_k> = e^{-2πik/N}|f_k>`` and overlap ``<f_k|a> = X_k / √N`` with ``X = numpy.fft.fft(a)``
(numpy's ``e^{-2πikx/N}`` convention). So the register reads ``y = (N - k) mod N`` with
probability ``|X_k|^2 / N``, i.e. ``P(y) = |X_{-y}|^2 / N``. Encoded windows are real, so
``|X_{-y}| = |X_y|`` and ``P(y) = |fft(a)[y]|^2 / N``: the periodogram, checkable to 1e-9.

**m != n.** With ``m > n`` phase qubits the controls ``j >= n`` add ``2^j ≡ 0 mod N`` (they do
nothing) and every eigenphase ``k/N`` is exact on the finer grid: ``P(y)`` is the ``n``-bit
periodogram placed on bins ``y = k·2^(m-n)``, zero elsewhere. With ``m < n`` the grid is
coarser than the spectrum: each mode ``k`` spreads over nearby ``y`` with the usual QPE (Fejér)
kernel ``|Σ_t e^{2πi t (y/2^m - k/N)}|^2 / 4^m`` (:func:`qpe_reference` computes it). Either
way bin ``y`` means frequency ``y / 2^m`` cycles per bar, i.e. period ``2^m / y`` bars.
Reading cycles off the distribution (fold, pick the peaks, fit their phase) is
:mod:`engine.signals.cycle_model`, one model for every caller.

**Speed.** The template is built once per ``(n, m, g)`` from Aer-native instructions only (``h``,
``mcx``, ``cp``, ``diagonal``, ``save_probabilities``), so it is never transpiled: a build takes
milliseconds at any ``n`` (transpiling cost 2-20 s at N = 256-512 and moved the QFT's swaps into
the layout at level 2). The inverse QFT leaves out its final swaps (the readout lists the phase
qubits reversed instead) and applies its controlled phases as ``m - 1`` diagonals, one between each
pair of Hadamards: Aer spends a pass over the state per gate, so that is ``2m - 1`` passes instead
of ``m(m+1)/2 + m/2``, and the phases are placed so the diagonals stay small (see
:func:`_phase_slots`).
Aer costs ~1 ms per circuit to convert and start, so windows are batched ``G = 2^g`` to a
circuit with a window-index register (qubits above the phase register) holding a uniform
superposition over the batch: 16 qubits a circuit, and at least two windows a circuit while
the QPE itself is 16 qubits or fewer (see ``_TARGET_QUBITS``). One ``sim.run`` executes all
circuits, both cores across circuits (``max_parallel_experiments=0``, each circuit
single-threaded, gate fusion off: see :func:`aer_simulator`). The full-width
``set_statevector`` (window index ⊗ ``|+>^m`` ⊗ window) replaces ``initialize`` of data +
window-index qubits followed by ``m`` Hadamards: Aer's ``initialize`` of a subset resets those
qubits first, so that was ``2 + m`` passes over the state where loading it is one copy (at
N = 256: ~2.5 ms of Aer time a window less, ~20%). The state goes to Aer as a list of Python
complex built by repetition (see :func:`_prepared_state`), which is what keeps shipping
``2^m`` times more amplitudes cheap. Each circuit shares the template's instruction objects
(no per-window copies).

**Backends.** ``statevector`` returns Aer's exact probabilities. ``shots`` runs the same Aer
circuits and then draws ``shots`` measurements per window from those probabilities with
``numpy.random.Generator.multinomial`` — the same distribution as measuring the phase register
``shots`` times, at < 1 ms instead of ~4 ms per window; ``ShotsBackend(sampler="aer")`` measures
in Aer itself (one circuit per window). :class:`Backend` is the seam for a hardware plugin
(e.g. qiskit-ibm-runtime SamplerV2); none ships here because none has been run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

_NORM_ATOL = 1e-9
# Total qubits per batched circuit the batch size aims for, and up to which a circuit takes at
# least two windows. Measured with 100 windows, n = m = 5..8, on 2 cores (full-width
# set_statevector preparation): 16 qubits best at N = 64-128 (0.9-1.3x faster than 15 or 18);
# at N = 256 two windows a circuit (17 qubits) beat one by 1.1-1.25x: each circuit's fixed cost
# (~1 ms converting the ~60 template instructions, ~1 ms Aer start) outweighs leaving L2.
_TARGET_QUBITS = 16
_PAIR_UP_TO_QUBITS = 16
_MAX_BATCH_QUBITS = 6
_MAX_RUN_AMPLITUDES = 1 << 23


class QpeError(ValueError):
    """Amplitudes or arguments the phase estimation cannot take."""


@dataclass(frozen=True, slots=True)
class QpeTemplate:
    """The QPE circuit after its state preparation, ready for Aer as built.

    Qubits: data ``0..n-1``, phase ``n..n+m-1``, window index ``n+m..n+m+g-1``. It starts at the
    controlled increments: the preparation puts the phase register in ``|+>^m``. The circuit
    ends with ``save_probabilities`` over phase (reversed: see :func:`_qpe_circuit`) and
    window-index qubits, so the phase estimate is the low ``m`` bits of the outcome.
    """

    n: int
    m: int
    g: int
    circuit: Any  # qiskit.QuantumCircuit of Aer-native instructions

    @property
    def num_qubits(self) -> int:
        return self.n + self.m + self.g


def _phase_slots(m: int) -> dict[int, list[tuple[int, int]]]:
    """Where the inverse QFT's ``m(m-1)/2`` controlled phases go: ``{t: [(j, k), ...]}``.

    In the relabelled register the phase between qubits ``j > k`` must come after ``H`` on ``k``
    and before ``H`` on ``j``: in any slot ``t`` with ``k <= t < j`` (slot ``t`` follows the
    ``H`` on qubit ``t``). Every slot holds at least the pair ``(t + 1, t)``, so there are
    ``m - 1`` diagonals however the pairs are placed, but Aer's cost of a diagonal grows with
    its qubits (measured: ~1.7x from 2 to 8 qubits). Placing all pairs that straddle the middle
    of a range in its middle slot, then recursing into both halves, gives slots of 8, 4, 4, 2,
    2, 2, 2 qubits at ``m = 8`` instead of 2..8 one after another (a local search over all
    placements found nothing cheaper): the inverse QFT ~14% cheaper on Aer, the whole run at
    N = 256 ~11% less CPU."""
    slots: dict[int, list[tuple[int, int]]] = {}

    def place(lo: int, hi: int) -> None:
        if hi <= lo:
            return
        mid = (lo + hi - 1) // 2
        slots[mid] = [(j, k) for k in range(lo, mid + 1) for j in range(mid + 1, hi + 1)]
        place(lo, mid)
        place(mid + 1, hi)

    place(0, m - 1)
    return slots


def _slot_gate(pairs: list[tuple[int, int]]) -> tuple[Any, list[int]]:
    """The controlled phases ``cp(-π/2^(j-k), j, k)`` of ``pairs`` as one Aer-native gate and
    the (relabelled) qubits it acts on: a ``cp`` for a single pair (cheaper on Aer than a
    2-qubit diagonal), else one ``diagonal`` — one pass over the state instead of one per
    ``cp`` (measured: 8 ``cp`` cost 5x one 8-qubit diagonal)."""
    from qiskit.circuit.library import CPhaseGate, DiagonalGate

    if len(pairs) == 1:
        j, k = pairs[0]
        return CPhaseGate(-np.pi / (1 << (j - k))), [j, k]
    qubits = sorted({q for pair in pairs for q in pair})
    pos = {q: i for i, q in enumerate(qubits)}
    x = np.arange(1 << len(qubits))
    turns = np.zeros(x.size)
    for j, k in pairs:
        turns += ((x >> pos[j]) & 1) * ((x >> pos[k]) & 1) / (1 << (j - k))
    return DiagonalGate(np.exp(-1j * np.pi * turns).tolist()), qubits


def _qpe_circuit(n: int, m: int, g: int) -> tuple[Any, list[int]]:
    """QPE after its Hadamard layer (no state preparation, no save) and the phase qubits in
    readout order.

    It expects the phase register in ``|+>^m`` (the preparation loads it: see
    :func:`_prepared_state`), so it starts at the controlled increments. The inverse QFT is built
    without its final swaps: they only reverse the register, so the readout lists the phase
    qubits reversed instead (the circuit is the textbook ``QFTGate(m).inverse()`` followed by
    those swaps; see tests). Every gate is Aer-native (``mcx``, ``cp``, ``diagonal``, ``h``), so
    the circuit runs without transpiling.
    """
    from qiskit import QuantumCircuit, QuantumRegister

    data = QuantumRegister(n, "data")
    phase = QuantumRegister(m, "phase")
    regs = [data, phase] + ([QuantumRegister(g, "window")] if g else [])
    qc = QuantumCircuit(*regs, name=f"qpe_shift_n{n}_m{m}")
    for j in range(min(m, n)):
        sub = list(data[j:])
        for i in range(len(sub) - 1, -1, -1):
            qc.mcx([phase[j], *sub[:i]], sub[i])
    # QFT^-1 = C^-1 . S (S the bit reversal); C^-1 on the reversed register needs no swaps
    rev = [phase[m - 1 - i] for i in range(m)]
    slots = _phase_slots(m)
    for t in range(m):
        qc.h(rev[t])
        if t in slots:
            gate, qubits = _slot_gate(slots[t])
            qc.append(gate, [rev[q] for q in qubits])
    return qc, [n + m - 1 - i for i in range(m)]


@lru_cache(maxsize=1)
def aer_simulator() -> Any:
    """The one AerSimulator every run uses: statevector, circuits in parallel across the cores,
    each circuit's gates single-threaded (a 2^16-amplitude state is too small to split: the
    OpenMP hand-offs per gate cost more than they save). Gate fusion off: it merges the cheap
    many-control ``mcx`` and the diagonals into dense 3-5 qubit unitaries, 20-25% slower here."""
    from qiskit_aer import AerSimulator

    return AerSimulator(
        method="statevector",
        max_parallel_experiments=0,
        statevector_parallel_threshold=30,
        fusion_enable=False,
    )


_template_lock = threading.Lock()


def build_qpe_template(n: int, m: int | None = None, g: int = 0) -> QpeTemplate:
    """The QPE template for ``n`` data, ``m`` phase (default ``n``) and ``g`` window-index
    qubits. Cached per ``(n, m, g)``; a build takes milliseconds (no transpiling)."""
    m = n if m is None else m
    for name, v, lo, hi in (("n", n, 1, 12), ("m", m, 1, 12), ("g", g, 0, 10)):
        if not isinstance(v, int | np.integer) or not lo <= v <= hi:
            raise QpeError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    with _template_lock:
        return _build_template(int(n), int(m), int(g))


@lru_cache(maxsize=64)
def _build_template(n: int, m: int, g: int) -> QpeTemplate:
    import qiskit_aer.library  # noqa: F401  (registers save_probabilities on QuantumCircuit)

    qc, readout = _qpe_circuit(n, m, g)
    qc.save_probabilities([*readout, *range(n + m, n + m + g)])
    return QpeTemplate(n, m, g, qc)


def batch_qubits(n: int, m: int, windows: int) -> int:
    """How many window-index qubits a batched circuit gets (``G = 2^g`` windows each)."""
    floor = 1 if n + m <= _PAIR_UP_TO_QUBITS else 0
    g = max(floor, min(_MAX_BATCH_QUBITS, _TARGET_QUBITS - n - m))
    while g > 0 and (1 << (g - 1)) >= windows:
        g -= 1
    return g


def _check_amplitudes(amplitudes: Any) -> np.ndarray:
    a = np.asarray(amplitudes)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] == 0:
        raise QpeError(f"amplitudes must be [k, N] with k >= 1, got shape {a.shape}")
    size = a.shape[1]
    if size < 2 or size & (size - 1):
        raise QpeError(f"window length must be a power of two >= 2, got {size}")
    if np.iscomplexobj(a) or not np.isfinite(a).all():
        raise QpeError("amplitudes must be real and finite (encode windows first)")
    norms = np.linalg.norm(a, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > _NORM_ATOL)
    if bad.size:
        raise QpeError(
            f"window {int(bad[0])} is not L2-normalised (norm {norms[bad[0]]:.6g}); "
            "drop the windows encode_windows marked invalid"
        )
    return np.ascontiguousarray(a, dtype=np.float64)


def _prepared_state(rows: np.ndarray, m: int, per: int) -> list[complex]:
    """The full initial state ``|window index> ⊗ |+>^m ⊗ |row>``, flattened little-endian, for
    ``rows[count, N]`` (already unit norm) in a batch of ``per`` slots (``count <= per``; the
    index is uniform over the ``count`` filled slots, the rest are zero).

    With data qubits lowest and the phase register next, amplitude ``(w, y, x)`` is
    ``row_w[x] / sqrt(count · 2^m)`` for every ``y``: each row's ``N`` values repeated ``2^m``
    times. Built as Python lists by repetition (references, not new objects), it costs
    ~0.05 ms a window where ``ndarray.tolist()`` of the ``2^(n+m)`` amplitudes costs ~1.7 ms.
    """
    count, size = rows.shape
    reps = 1 << m
    scaled = rows.astype(np.complex128) / np.sqrt(count * reps)
    state: list[complex] = []
    for row in scaled.tolist():
        for _ in range(reps):
            state += row  # one copy of the references (``row * reps`` then ``+=`` made two)
    state += [0j] * ((per - count) * size * reps)
    return state


def _set_statevector(state: list[complex]) -> Any:
    """Aer's native ``set_statevector`` of all the circuit's qubits, from a list of complex.

    Aer loads a full-width state as given (``initialize`` of a subset first resets those qubits:
    two more passes over the state). ``QuantumCircuit.set_statevector`` re-validates through
    ``Statevector.is_valid``, and Aer converts a list of Python complex ~6x faster than an
    ndarray (0.5 against 2.9 ms at 2^16 amplitudes); rows were checked in
    :func:`_check_amplitudes`, so the instruction is made directly (same name and params).
    """
    from qiskit.circuit import Instruction

    inst = Instruction("set_statevector", len(state).bit_length() - 1, 0, [])
    inst._params = [state]
    return inst


def _with_preparation(tpl: QpeTemplate, prep: Any, qubits: list[int], name: str) -> Any:
    """``prep`` on ``qubits`` followed by the template's instructions, shared, not copied
    (``QuantumCircuit.copy`` deep-copies every ``mcx`` and diagonal: ~4 ms a circuit; Aer only
    reads them)."""
    from qiskit.circuit import CircuitInstruction

    src = tpl.circuit
    qc = src.copy_empty_like(name=name)
    qc._append(CircuitInstruction(prep, tuple(qc.qubits[i] for i in qubits)))
    for inst in src.data:
        qc._append(inst)
    return qc


def _batched_circuits(a: np.ndarray, m: int) -> tuple[list[Any], list[int], QpeTemplate]:
    k, size = a.shape
    n = size.bit_length() - 1
    g = batch_qubits(n, m, k)
    tpl = build_qpe_template(n, m, g)
    per = 1 << g
    everything = list(range(tpl.num_qubits))
    rows = a / np.linalg.norm(a, axis=1, keepdims=True)  # exact to 1e-16 for the 1e-10 check
    circuits, counts = [], []
    for s in range(0, k, per):
        block = rows[s : s + per]
        prep = _set_statevector(_prepared_state(block, m, per))
        circuits.append(_with_preparation(tpl, prep, everything, f"qpe_windows_{s}"))
        counts.append(block.shape[0])
    return circuits, counts, tpl


def run_exact(amplitudes: np.ndarray, m: int) -> np.ndarray:
    """Exact phase-register probabilities ``[k, 2^m]`` from one Aer run of batched circuits.

    Memory bound: one run holds at most ``_MAX_RUN_AMPLITUDES`` amplitudes of initial state
    (128 MiB); more windows than that (2,048 at N = 64, 128 at N = 256) take several runs.
    """
    k, size = amplitudes.shape
    per_run = max(1, _MAX_RUN_AMPLITUDES // (size << m))
    return np.concatenate([_run_once(amplitudes[s : s + per_run], m) for s in range(0, k, per_run)])


def _run_once(amplitudes: np.ndarray, m: int) -> np.ndarray:
    circuits, counts, tpl = _batched_circuits(amplitudes, m)
    result = aer_simulator().run(circuits, shots=1).result()
    if not result.success:
        raise QpeError(f"Aer run failed: {result.status}")
    rows = []
    for i, count in enumerate(counts):
        p = np.asarray(result.data(i)["probabilities"], dtype=np.float64)
        rows.append(p.reshape(1 << tpl.g, 1 << m)[:count] * count)
    return np.concatenate(rows)


@runtime_checkable
class Backend(Protocol):
    """Runs the QPE circuits for encoded windows and returns phase-register distributions.

    ``probabilities(amplitudes[k, N], m) -> probs[k, 2^m]``, each row summing to 1. A hardware
    plugin implements this with measured counts (rows = counts / shots).
    """

    name: str

    def probabilities(self, amplitudes: np.ndarray, m: int) -> np.ndarray: ...


class StatevectorBackend:
    """Exact probabilities from Aer's statevector simulator."""

    name = "statevector"

    def probabilities(self, amplitudes: np.ndarray, m: int) -> np.ndarray:
        return run_exact(amplitudes, m)


class ShotsBackend:
    """``shots`` measurements of the phase register per window, like hardware would give.

    ``sampler="numpy"`` (default) samples the exact Aer distribution with a seeded multinomial;
    ``sampler="aer"`` appends measurements and lets Aer sample (one circuit per window, slower).
    """

    name = "shots"

    def __init__(self, shots: int = 4096, seed: int | None = None, sampler: str = "numpy"):
        if not isinstance(shots, int | np.integer) or shots < 1:
            raise QpeError(f"shots must be a positive integer, got {shots!r}")
        if sampler not in ("numpy", "aer"):
            raise QpeError(f"sampler must be 'numpy' or 'aer', got {sampler!r}")
        self.shots = int(shots)
        self.seed = seed
        self.sampler = sampler

    def probabilities(self, amplitudes: np.ndarray, m: int) -> np.ndarray:
        if self.sampler == "aer":
            return self._aer_counts(amplitudes, m)
        exact = run_exact(amplitudes, m)
        exact = np.clip(exact, 0.0, None)
        exact /= exact.sum(axis=1, keepdims=True)
        rng = np.random.default_rng(self.seed)
        return rng.multinomial(self.shots, exact) / self.shots

    def _aer_counts(self, amplitudes: np.ndarray, m: int) -> np.ndarray:
        from qiskit import ClassicalRegister

        k, size = amplitudes.shape
        n = size.bit_length() - 1
        base, readout = _qpe_circuit(n, m, 0)
        creg = ClassicalRegister(m, "c")
        base.add_register(creg)
        base.measure(readout, creg)  # clbit i = bit i of the phase estimate
        tpl = QpeTemplate(n, m, 0, base)
        circuits = []
        for row in amplitudes:
            # set_statevector, not initialize: initialize's reset would make Aer simulate
            # every shot separately instead of sampling the final state
            prep = _set_statevector(_prepared_state(row[None, :], m, 1))
            circuits.append(_with_preparation(tpl, prep, list(range(n + m)), "qpe_shots"))
        result = aer_simulator().run(circuits, shots=self.shots, seed_simulator=self.seed).result()
        out = np.zeros((k, 1 << m))
        for i in range(k):
            for bits, c in result.get_counts(i).items():
                out[i, int(bits.replace(" ", ""), 2)] = c
        return out / self.shots


BACKENDS = ("statevector", "shots")


def get_backend(backend: str | Backend, shots: int = 4096, seed: int | None = None) -> Backend:
    """A backend by name (``statevector`` | ``shots``) or the given :class:`Backend` object."""
    if isinstance(backend, str):
        if backend == "statevector":
            return StatevectorBackend()
        if backend == "shots":
            return ShotsBackend(shots, seed)
        raise QpeError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if isinstance(backend, Backend):
        return backend
    raise QpeError(f"not a backend: {backend!r}")


def phase_spectrum(
    amplitudes: Any,
    backend: str | Backend = "statevector",
    shots: int = 4096,
    seed: int | None = None,
    m: int | None = None,
) -> np.ndarray:
    """Phase-register distributions ``probs[k, 2^m]`` for encoded windows ``amplitudes[k, N]``.

    ``m`` defaults to ``n = log2(N)``; see the module docstring for ``m != n``. All windows go
    through one Aer run. ``shots``/``seed`` matter for ``backend="shots"`` only.
    """
    a = _check_amplitudes(amplitudes)
    n = a.shape[1].bit_length() - 1
    m = n if m is None else m
    if not isinstance(m, int | np.integer) or not 1 <= m <= 12:
        raise QpeError(f"m must be an integer in 1..12, got {m!r}")
    return get_backend(backend, shots, seed).probabilities(a, int(m))


def qpe_reference(amplitudes: Any, m: int | None = None) -> np.ndarray:
    """Classical reference of what QPE must return: ``|fft|^2/N`` mapped through the QPE kernel
    (for ``m == n`` exactly the periodogram). For tests and for users who want to check."""
    a = np.atleast_2d(np.asarray(amplitudes, dtype=np.float64))
    size = a.shape[1]
    m = size.bit_length() - 1 if m is None else m
    power = np.abs(np.fft.fft(a, axis=1)) ** 2 / size
    y = np.arange(1 << m)
    # the register reads (N - k) mod N for mode k; fold it through the m-qubit kernel
    theta = (-np.arange(size) / size)[None, :] - (y / (1 << m))[:, None]
    t = np.arange(1 << m)
    kernel = np.abs(np.exp(2j * np.pi * theta[..., None] * t).sum(axis=-1)) ** 2 / 4.0**m
    return power @ kernel.T


def fold_spectrum(probs: npt.ArrayLike) -> np.ndarray:
    """``F[y] = P(y) + P(M - y)`` for ``y = 0..M/2`` (``F[0] = P(0)``, ``F[M/2] = P(M/2)``)."""
    p = np.asarray(probs, dtype=np.float64)
    size = p.shape[-1]
    half = size // 2
    folded = p[..., : half + 1].copy()
    folded[..., 1:half] += p[..., size - 1 : half : -1]
    return folded
