"""engine/signals/qpe.py: QPE on Aer equals the periodogram, shots stay within shot noise, the
circuit really runs, and the cycles the cycle model reads off it are the true ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.quantum_info import Operator, Statevector
from qiskit_aer import AerSimulator

from engine.signals.cycle_model import dominant_cycles
from engine.signals.encoding import encode_windows, log_returns
from engine.signals.qpe import (
    Backend,
    QpeError,
    ShotsBackend,
    StatevectorBackend,
    batch_qubits,
    build_qpe_template,
    phase_spectrum,
    qpe_reference,
)

rng_st = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s))


def _series(rng: np.random.Generator, kind: str, length: int) -> np.ndarray:
    t = np.arange(length)
    if kind == "random":
        return rng.standard_normal(length)
    if kind == "sines":
        waves = [
            rng.uniform(0.2, 1) * np.sin(2 * np.pi * t / rng.uniform(2.5, 40) + rng.uniform(0, 7))
            for _ in range(3)
        ]
        return np.sum(waves, axis=0) + 0.1 * rng.standard_normal(length)
    # real-looking: log-returns of a price with volatility clusters and a weak cycle
    u = np.arange(length + 1)
    vol = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.1, length + 1)))
    steps = vol * rng.standard_normal(length + 1) + 0.002 * np.sin(2 * np.pi * u / 13)
    return log_returns(100 * np.exp(np.cumsum(steps)))


def _periodogram(a: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.fft(a, axis=-1)) ** 2 / a.shape[-1]


@settings(max_examples=20, deadline=None)
@given(
    rng=rng_st,
    n=st.integers(3, 8),
    windows=st.integers(1, 6),
    kind=st.sampled_from(["random", "sines", "real"]),
    taper=st.sampled_from(["hann", None]),
)
def test_statevector_spectrum_equals_periodogram(rng, n, windows, kind, taper) -> None:
    size = 1 << n
    amps, meta = encode_windows(_series(rng, kind, size + 3 * (windows - 1)), n, 3, True, taper)
    assert meta.all_valid and amps.shape == (windows, size)
    probs = phase_spectrum(amps)
    assert probs.shape == (windows, size)
    assert np.abs(probs - _periodogram(amps)).max() <= 1e-9


@pytest.mark.parametrize(("n", "windows"), [(5, 37), (6, 37), (8, 9)])
def test_batches_split_over_several_circuits_keep_every_window(n, windows, monkeypatch) -> None:
    """Batches of G = 2^g windows per circuit, the last one partial: rows stay in order."""
    calls: list[int] = []
    original = AerSimulator._execute_circuits

    def counting(self, aer_circuits, noise_model, config):  # type: ignore[no-untyped-def]
        calls.append(len(aer_circuits))
        return original(self, aer_circuits, noise_model, config)

    monkeypatch.setattr(AerSimulator, "_execute_circuits", counting)
    rng = np.random.default_rng(n)
    amps, _ = encode_windows(rng.standard_normal(windows + (1 << n) - 1), n)
    probs = phase_spectrum(amps)
    g = batch_qubits(n, n, windows)
    assert calls == [math.ceil(windows / 2**g)], "all windows in one Aer execution"
    assert np.abs(probs - _periodogram(amps)).max() <= 1e-9


def test_the_circuit_is_really_run_on_aer(monkeypatch) -> None:
    """Counts Aer executions: one per call, however many windows, shots or exact."""
    executions: list[int] = []
    original = AerSimulator._execute_circuits

    def counting(self, aer_circuits, noise_model, config):  # type: ignore[no-untyped-def]
        executions.append(len(aer_circuits))
        return original(self, aer_circuits, noise_model, config)

    monkeypatch.setattr(AerSimulator, "_execute_circuits", counting)
    amps, _ = encode_windows(np.random.default_rng(5).standard_normal(64 + 99), 6)
    phase_spectrum(amps)
    phase_spectrum(amps[:1])
    ShotsBackend(1000, seed=1).probabilities(amps[:3], 6)
    assert len(executions) == 3
    assert executions[0] == math.ceil(100 / 2 ** batch_qubits(6, 6, 100))
    assert executions[1] == executions[2] == 1


def _readout_reversal(m: int, size: int) -> np.ndarray:
    """The permutation that reverses the phase register's bits (identity on the data)."""
    phases = 1 << m
    rev = [int(format(y, f"0{m}b")[::-1], 2) for y in range(phases)]
    return np.kron(np.eye(phases)[rev], np.eye(size))


def _textbook_qpe(n: int, m: int) -> np.ndarray:
    """H^m, controlled-U^(2^j) for U|x> = |x+1 mod N>, then QFT^-1 with its swaps."""
    size, phases = 1 << n, 1 << m
    signs = [[(-1) ** (a & b).bit_count() for b in range(phases)] for a in range(phases)]
    hadamards = np.kron(np.array(signs) / math.sqrt(phases), np.eye(size))
    shift = np.roll(np.eye(size), 1, axis=0)
    controlled = np.zeros((size * phases, size * phases))
    for y in range(phases):
        block = slice(y * size, (y + 1) * size)
        controlled[block, block] = np.linalg.matrix_power(shift, y)  # Σ_j y_j 2^j = y
    w = np.exp(-2j * np.pi / phases)
    iqft = np.array([[w ** (a * b) for b in range(phases)] for a in range(phases)])
    iqft /= math.sqrt(phases)
    return np.kron(iqft, np.eye(size)) @ controlled @ hadamards


def _without_save(circuit):  # type: ignore[no-untyped-def]
    bare = circuit.copy()
    bare.data = [i for i in bare.data if i.operation.name != "save_probabilities"]
    return bare


@pytest.mark.parametrize(("n", "m"), [(3, 3), (2, 4), (4, 2), (3, 5), (5, 3), (1, 2)])
def test_template_on_plus_states_is_textbook_qpe_on_zeros(n, m) -> None:
    """The template starts after QPE's Hadamard layer (the preparation loads ``|+>^m``): on
    ``|+>^m ⊗ |psi>`` it gives what textbook QPE (H^m, controlled-U^(2^j), QFT^-1 with swaps)
    gives on ``|0>^m ⊗ |psi>`` — up to the QFT's final swaps, which it leaves out and undoes by
    reading the phase qubits reversed. Checked on random complex states and as operators."""
    tpl = build_qpe_template(n, m)
    assert tpl is build_qpe_template(n, m), "cached per (n, m, g)"
    ops = tpl.circuit.count_ops()
    assert ops["save_probabilities"] == 1
    assert "unitary" not in ops and "initialize" not in ops and "state_preparation" not in ops
    assert "swap" not in ops and "set_statevector" not in ops
    ladder = min(m, n) * (2 * n - min(m, n) + 1) // 2  # Σ_j (n - j) controlled X gates
    assert ops.get("mcx", 0) + ops.get("ccx", 0) + ops.get("cx", 0) == ladder
    # the inverse QFT only: one cp or diagonal between each pair of Hadamards
    assert ops["h"] == m and ops.get("diagonal", 0) + ops.get("cp", 0) == m - 1
    assert tpl.circuit.data[0].operation.name != "h", "no Hadamard layer: the preparation's"

    circuit = _without_save(tpl.circuit)
    size, phases = 1 << n, 1 << m
    textbook = _readout_reversal(m, size) @ _textbook_qpe(n, m)
    zeros = np.eye(phases)[0]
    plus = np.full(phases, phases**-0.5)
    rng = np.random.default_rng(n * 16 + m)
    for _ in range(3):
        psi = rng.standard_normal(size) + 1j * rng.standard_normal(size)
        psi /= np.linalg.norm(psi)
        got = Statevector(np.kron(plus, psi)).evolve(circuit)
        np.testing.assert_allclose(got.data, textbook @ np.kron(zeros, psi), atol=1e-12)
    # as operators: template = textbook QPE with its H^m undone (H^2 = I)
    h_m = np.kron(_kron_power(np.array([[1, 1], [1, -1]]) / math.sqrt(2), m), np.eye(size))
    assert Operator(circuit).equiv(Operator(textbook @ h_m))
    # ... and the saved qubits undo the reversal: first (least significant) = last phase qubit
    save = [i for i in tpl.circuit.data if i.operation.name == "save_probabilities"]
    assert [tpl.circuit.find_bit(q).index for q in save[0].qubits] == list(range(n + m))[::-1][:m]


def _kron_power(matrix: np.ndarray, times: int) -> np.ndarray:
    out = np.eye(1)
    for _ in range(times):
        out = np.kron(out, matrix)
    return out


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8, 11])
def test_phase_slots_place_every_controlled_phase_once_between_its_hadamards(m) -> None:
    """Each pair (j, k), j > k, in exactly one slot t with k <= t < j (after H on k, before H on
    j); one slot between each pair of Hadamards; at m = 8 the diagonals are 8, 4, 4 and 2 qubits."""
    from engine.signals.qpe import _phase_slots

    slots = _phase_slots(m)
    placed = [pair for pairs in slots.values() for pair in pairs]
    assert sorted(placed) == sorted((j, k) for j in range(m) for k in range(j))
    assert all(k <= t < j for t, pairs in slots.items() for j, k in pairs)
    assert sorted(slots) == list(range(m - 1))
    if m == 8:
        sizes = [len({q for pair in slots[t] for q in pair}) for t in range(7)]
        assert sizes == [2, 4, 2, 8, 2, 4, 2]


def test_slot_gates_equal_the_controlled_phase_cascade() -> None:
    """Each slot's gate (cp or diagonal) is the product of the cp gates it replaces, and the
    slotted inverse QFT equals the textbook one (cp cascade per qubit, then H)."""
    from qiskit import QuantumCircuit

    from engine.signals.qpe import _phase_slots, _slot_gate

    for m in range(2, 7):
        for pairs in _phase_slots(m).values():
            gate, qubits = _slot_gate(pairs)
            cascade = QuantumCircuit(m)
            for j, k in pairs:
                cascade.cp(-math.pi / 2 ** (j - k), j, k)
            slot = QuantumCircuit(m)
            slot.append(gate, qubits)
            assert Operator(slot).equiv(Operator(cascade))
        slotted = QuantumCircuit(m)
        slots = _phase_slots(m)
        for t in range(m):
            slotted.h(t)
            if t in slots:
                gate, qubits = _slot_gate(slots[t])
                slotted.append(gate, qubits)
        textbook = QuantumCircuit(m)
        for j in range(m):
            for k in range(j - 1, -1, -1):
                textbook.cp(-math.pi / 2 ** (j - k), j, k)
            textbook.h(j)
        assert Operator(slotted).equiv(Operator(textbook))


def test_template_runs_on_aer_without_transpiling() -> None:
    """Only Aer-native instructions: the template is not transpiled, and Aer runs it as built."""
    sim = AerSimulator()
    tpl = build_qpe_template(6, 6, 2)
    native = set(sim.configuration().basis_gates) | {"save_probabilities"}
    assert set(tpl.circuit.count_ops()) <= native
    assert tpl.circuit.layout is None


def test_template_keeps_qubit_order() -> None:
    tpl = build_qpe_template(5, 5, 2)
    assert tpl.num_qubits == 12 and tpl.circuit.num_qubits == 12
    save = [i for i in tpl.circuit.data if i.operation.name == "save_probabilities"]
    assert [tpl.circuit.find_bit(q).index for q in save[0].qubits] == [9, 8, 7, 6, 5, 10, 11]
    assert tpl.circuit.layout is None


def test_batched_circuits_share_the_template_instructions() -> None:
    """Each window's circuit is its preparation plus the template's instructions, in order."""
    from engine.signals.qpe import _batched_circuits

    amps, _ = encode_windows(np.random.default_rng(3).standard_normal(256 + 2), 8)
    circuits, counts, tpl = _batched_circuits(amps, 8)
    assert counts == [2, 1] and tpl.g == 1, "two windows a circuit at 16 qubits"
    for qc in circuits:
        assert qc.num_qubits == tpl.num_qubits
        assert [i.operation for i in qc.data[1:]] == [i.operation for i in tpl.circuit.data]
        assert [i.qubits for i in qc.data[1:]] == [i.qubits for i in tpl.circuit.data]
    assert np.abs(phase_spectrum(amps) - _periodogram(amps)).max() <= 1e-9


@pytest.mark.parametrize("m", [3, 4, 5, 7, 8])
def test_other_phase_register_sizes_follow_the_qpe_kernel(m) -> None:
    amps, _ = encode_windows(_series(np.random.default_rng(m), "sines", 64 + 2), 6, step=2)
    probs = phase_spectrum(amps, m=m)
    assert probs.shape == (2, 1 << m)
    assert np.abs(probs - qpe_reference(amps, m)).max() <= 1e-9
    if m > 6:  # finer grid: the n-bit periodogram on every 2^(m-n)-th bin, zero elsewhere
        spread = 1 << (m - 6)
        assert np.abs(probs[:, ::spread] - _periodogram(amps)).max() <= 1e-9
        mask = np.ones(1 << m, bool)
        mask[::spread] = False
        assert np.abs(probs[:, mask]).max() <= 1e-9


def test_reference_with_m_equal_n_is_the_periodogram() -> None:
    amps, _ = encode_windows(np.random.default_rng(9).standard_normal(32), 5)
    assert np.abs(qpe_reference(amps) - _periodogram(amps)).max() <= 1e-12


def _tv_bound(exact: np.ndarray, shots: int, delta: float = 1e-6) -> np.ndarray:
    """E[TV] <= ½ Σ sqrt(p(1-p)/S) (Jensen), and TV moves by <= 1/S per shot, so by
    McDiarmid TV exceeds that plus sqrt(ln(1/δ) / (2S)) with probability <= δ per window."""
    mean_bound = 0.5 * np.sqrt(exact * (1 - exact) / shots).sum(axis=1)
    return mean_bound + math.sqrt(math.log(1 / delta) / (2 * shots))


@pytest.mark.parametrize("sampler", ["numpy", "aer"])
def test_shots_stay_within_shot_noise_and_are_seeded(sampler) -> None:
    rng = np.random.default_rng(11)
    amps, _ = encode_windows(_series(rng, "real", 64 + 4), 6, step=2)
    exact = phase_spectrum(amps)
    backend = ShotsBackend(4096, seed=42, sampler=sampler)
    sampled = phase_spectrum(amps, backend)
    assert sampled.shape == exact.shape
    np.testing.assert_allclose(sampled.sum(axis=1), 1.0)
    assert np.all(sampled * 4096 == np.round(sampled * 4096)), "counts / shots"
    tv = 0.5 * np.abs(sampled - exact).sum(axis=1)
    assert (tv <= _tv_bound(exact, 4096)).all(), (tv, _tv_bound(exact, 4096))
    assert (tv > 0).all(), "sampled, not exact"
    again = phase_spectrum(amps, ShotsBackend(4096, seed=42, sampler=sampler))
    np.testing.assert_array_equal(sampled, again)
    other = phase_spectrum(amps, ShotsBackend(4096, seed=43, sampler=sampler))
    assert not np.array_equal(sampled, other)


def test_shots_by_name_use_shots_and_seed() -> None:
    amps, _ = encode_windows(np.random.default_rng(2).standard_normal(32), 5)
    a = phase_spectrum(amps, "shots", shots=100, seed=7)
    assert np.all(a * 100 == np.round(a * 100))
    np.testing.assert_array_equal(a, phase_spectrum(amps, "shots", shots=100, seed=7))


def _sum_of_sines(periods, amplitudes, size, rng, noise=0.15) -> np.ndarray:
    t = np.arange(size)
    x = sum(
        a * np.sin(2 * np.pi * t / p + rng.uniform(0, 2 * np.pi))
        for p, a in zip(periods, amplitudes, strict=True)
    )
    return x + noise * rng.standard_normal(size)


@settings(max_examples=12, deadline=None)
@given(rng=rng_st, n=st.integers(5, 7), data=st.data())
def test_known_periods_that_divide_n_are_found_exactly(rng, n, data) -> None:
    size = 1 << n
    bins = data.draw(st.lists(st.integers(2, size // 4), min_size=2, max_size=2, unique=True))
    bins = sorted(bins)
    if bins[1] - bins[0] < 3:  # the Hann taper widens each peak to 3 bins
        bins[1] = bins[0] + 3
    periods = [size / k for k in bins]
    amps, _ = encode_windows(_sum_of_sines(periods, [1.0, 0.6], size, rng), n)
    (cycles,) = dominant_cycles(phase_spectrum(amps)[0], top=2)
    assert [c.period_bars for c in cycles] == periods
    assert [c.k for c in cycles] == bins
    assert cycles[0].strength > cycles[1].strength > 0.1


@pytest.mark.parametrize(("period", "nearest_k"), [(21.0, 3), (9.3, 7), (12.2, 5), (5.1, 13)])
def test_period_off_the_grid_lands_on_the_nearest_bin(period, nearest_k) -> None:
    rng = np.random.default_rng(int(period * 10))
    amps, _ = encode_windows(_sum_of_sines([period], [1.0], 64, rng, noise=0.05), 6)
    ((top,),) = dominant_cycles(phase_spectrum(amps)[0], top=1)
    assert top.k == nearest_k == round(64 / period)
    assert top.period_bars == 64 / nearest_k


class _RecordingBackend:
    """A real backend (it runs Aer) that remembers what it was given: the plugin seam in use."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def probabilities(self, amplitudes: np.ndarray, m: int) -> np.ndarray:
        self.seen.append((amplitudes.shape[0], m))
        return StatevectorBackend().probabilities(amplitudes, m)


def test_backend_seam_accepts_plugins_and_rejects_unknown_names() -> None:
    amps, _ = encode_windows(np.random.default_rng(4).standard_normal(20), 4)
    plugin = _RecordingBackend()
    assert isinstance(plugin, Backend)
    probs = phase_spectrum(amps, plugin)
    assert plugin.seen == [(5, 4)]
    assert np.abs(probs - _periodogram(amps)).max() <= 1e-9
    with pytest.raises(QpeError, match="unknown backend"):
        phase_spectrum(amps, "ibm_hardware")
    with pytest.raises(QpeError, match="not a backend"):
        phase_spectrum(amps, object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amplitudes", "message"),
    [
        (np.ones((2, 8)), "not L2-normalised"),
        (np.zeros((1, 8)), "not L2-normalised"),
        (np.ones((1, 6)) / math.sqrt(6), "power of two"),
        (np.full((1, 4), np.nan), "real and finite"),
        (np.zeros((0, 8)), "k >= 1"),
    ],
)
def test_bad_amplitudes_raise(amplitudes, message) -> None:
    with pytest.raises(QpeError, match=message):
        phase_spectrum(amplitudes)


def test_very_large_batches_split_into_bounded_runs(monkeypatch) -> None:
    """Beyond the memory bound the windows go through several Aer runs, rows in order."""
    import engine.signals.qpe as qpe

    executions: list[int] = []
    original = AerSimulator._execute_circuits

    def counting(self, aer_circuits, noise_model, config):  # type: ignore[no-untyped-def]
        executions.append(len(aer_circuits))
        return original(self, aer_circuits, noise_model, config)

    monkeypatch.setattr(AerSimulator, "_execute_circuits", counting)
    monkeypatch.setattr(qpe, "_MAX_RUN_AMPLITUDES", 10 * 32 * 32)  # 10 windows of N=32, m=5
    amps, _ = encode_windows(np.random.default_rng(8).standard_normal(32 + 24), 5)
    probs = phase_spectrum(amps)
    assert len(executions) == 3  # 25 windows: 10 + 10 + 5
    assert np.abs(probs - _periodogram(amps)).max() <= 1e-9


@pytest.mark.parametrize(("n", "windows"), [(6, 7), (4, 21), (8, 1)])
def test_state_preparation_is_one_set_statevector_of_index_plus_and_window(n, windows) -> None:
    """Each circuit loads ``|window index> ⊗ |+>^m ⊗ |window>`` over all its qubits in one
    Aer-native ``set_statevector`` (the textbook H layer on ``|0>^m``), then the template."""
    from engine.signals.qpe import _batched_circuits

    size = 1 << n
    amps, _ = encode_windows(np.random.default_rng(12).standard_normal(size + windows - 1), n)
    circuits, counts, tpl = _batched_circuits(amps, n)
    assert sum(counts) == windows and len(circuits) == math.ceil(windows / 2**tpl.g)
    plus = np.full(1 << n, 2 ** (-n / 2))
    start = 0
    for qc, count in zip(circuits, counts, strict=True):
        first, *rest = qc.data
        assert first.operation.name == "set_statevector"
        assert [qc.find_bit(q).index for q in first.qubits] == list(range(tpl.num_qubits))
        (loaded,) = first.operation.params
        index = np.zeros(1 << tpl.g)
        index[:count] = count**-0.5
        expected = sum(
            np.kron(np.eye(1 << tpl.g)[w] * index[w], np.kron(plus, amps[start + w]))
            for w in range(count)
        )
        np.testing.assert_allclose(np.asarray(loaded), expected, atol=1e-15)
        assert [i.operation.name for i in rest] == [i.operation.name for i in tpl.circuit.data]
        start += count
    assert tpl.g == batch_qubits(n, n, windows)
