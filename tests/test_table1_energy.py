"""Compute energies pinned to NeuroTrainer Table 1's arithmetic (pimjax.hw.table1_energy).

Table 1 (15 nm FinFET, "operating 2.5GHz"): Float 32 5.37 mW, Fixed 32/16 2.27 mW, Fixed 32/16
SR 5.79 mW, Fixed 32/16 SR LO 3.78 mW per MAC. Sec. 3.3.2: the MAC operates "two pairs of 16bit
operands or 2) a pair of 32bit operands". Energy per product = mW x 1e-3 W / 2.5e9 cycles/s /
products per cycle; the MAC includes its accumulate, so no add is charged on top.
"""

from __future__ import annotations

import pytest

from pimjax import hw
from pimjax.cost import system_cost
from pimjax.nn import training_hardware
from pimjax.system import Mapping


def _pj(mw: float, products_per_cycle: int) -> float:
    """NeuroTrainer Table 1 power (mW) at 2.5 GHz -> pJ per product."""
    return mw * 1e-3 / 2.5e9 / products_per_cycle * 1e12


FLOAT32, FIXED, FIXED_SR, FIXED_SR_LO = 5.37, 2.27, 5.79, 3.78  # Table 1, mW

# (precision, phase) -> pJ per product
TRAINING_CASES = {
    ("neurotrainer", "ff"): _pj(FIXED, 2),  # Table 4: FF 16-bit, nearest: 0.454 pJ
    ("neurotrainer", "bp"): _pj(FIXED_SR, 1),  # BP 32-bit, stochastic rounding: 2.316 pJ
    ("neurotrainer", "up"): _pj(FIXED_SR, 1),
    ("neurotrainer_sr_lo", "ff"): _pj(FIXED, 2),
    ("neurotrainer_sr_lo", "bp"): _pj(FIXED_SR_LO, 1),  # SR LO, Fig. 11: 1.512 pJ
    ("neurotrainer_sr_lo", "up"): _pj(FIXED_SR_LO, 1),
    ("fixed32_nearest", "bp"): _pj(FIXED, 1),  # 32-bit without SR: 0.908 pJ
    ("fixed32_nearest", "up"): _pj(FIXED, 1),
    ("fixed16", "ff"): _pj(FIXED, 2),
    ("fixed16", "bp"): _pj(FIXED, 2),
    ("fixed16", "up"): _pj(FIXED, 2),
    ("fp32", "ff"): _pj(FLOAT32, 1),  # Float 32: 2.148 pJ
    ("fp32", "bp"): _pj(FLOAT32, 1),
    ("bf16", "up"): _pj(FLOAT32, 1),  # pimjax assumption: no narrower float MAC in Table 1
}


def test_table1_arithmetic():
    assert _pj(FIXED, 2) == pytest.approx(0.454, rel=1e-12)
    assert _pj(FIXED, 1) == pytest.approx(0.908, rel=1e-12)
    assert _pj(FIXED_SR, 1) == pytest.approx(2.316, rel=1e-12)
    assert _pj(FIXED_SR_LO, 1) == pytest.approx(1.512, rel=1e-12)
    assert _pj(FLOAT32, 1) == pytest.approx(2.148, rel=1e-12)
    assert hw.TABLE1_CLOCK_GHZ == 2.5
    assert hw.TABLE1_MAC_MW == {"float32": FLOAT32, "fixed": FIXED, "fixed_sr": FIXED_SR, "fixed_sr_lo": FIXED_SR_LO}


@pytest.mark.parametrize("precision,phase", sorted(TRAINING_CASES))
def test_training_hardware_phase_energy_follows_table1(precision, phase):
    e = getattr(training_hardware(precision), phase).system.energy
    assert e.mac_pj == pytest.approx(TRAINING_CASES[(precision, phase)], rel=1e-12)
    assert e.add_pj == 0.0  # the MAC's power includes the accumulate
    # the other constants stay the documented pimjax assumptions
    d = hw.EnergyConfig()
    assert (e.register_pj_per_bit, e.icn_pj_per_bit_hop, e.aggregation_add_pj) == (
        d.register_pj_per_bit, d.icn_pj_per_bit_hop, d.aggregation_add_pj)


def test_training_phase_records_charge_the_phase_energy():
    # the same (M, K, N) in FF (16-bit) and BP (32-bit SR) of the default precision: the
    # compute energy is macs x the phase's Table 1 energy, nothing for the adds
    t = training_hardware("neurotrainer", rows=4, width=8, num_slices=2)
    m, k, n = 4, 20, 6
    for phase, want in (("ff", _pj(FIXED, 2)), ("bp", _pj(FIXED_SR, 1))):
        cfg = getattr(t, phase).system
        mp = Mapping.even(k=k, n=n, num_slices=2, width=8, rows=4)
        d = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, cfg).to_dict()
        assert d["macs"] == m * k * n and d["additions"] > 0
        assert d["energy_compute_pj"] == pytest.approx(m * k * n * want, rel=1e-12)


@pytest.mark.parametrize("preset,want", [
    ("neurotrainer_module_ff", _pj(FIXED, 2)),
    ("neurotrainer_module_bp", _pj(FIXED_SR, 1)),
    ("slices_hmc2", _pj(FIXED, 2)),  # pimjax stand-in for the 16-bit multiplier array
    ("slices_hbm_2.5x", _pj(FIXED, 2)),
])
def test_system_presets_energy_follows_table1(preset, want):
    e = hw.presets.get(preset).energy
    assert e.mac_pj == pytest.approx(want, rel=1e-12) and e.add_pj == 0.0


@pytest.mark.parametrize("preset,design,per_cycle,want", [
    ("neurotrainer_ff", "fixed", 2, _pj(FIXED, 2)),
    ("neurotrainer_bp", "fixed_sr", 1, _pj(FIXED_SR, 1)),
    ("neurotrainer_bp_sr_lo", "fixed_sr_lo", 1, _pj(FIXED_SR_LO, 1)),
    ("memory_slices", "fixed", 2, _pj(FIXED, 2)),
    ("memory_slices_fp32", "float32", 1, _pj(FLOAT32, 1)),
])
def test_table1_energy_of_array_presets(preset, design, per_cycle, want):
    arr = hw.presets.get(preset)
    assert hw.table1_design(arr) == (design, per_cycle)
    assert hw.table1_energy(arr).mac_pj == pytest.approx(want, rel=1e-12)
    assert hw.table1_energy(arr, register_pj_per_bit=0.0).register_pj_per_bit == 0.0


def test_table1_design_rejects_a_system():
    with pytest.raises(TypeError, match="ArrayConfig"):
        hw.table1_design(hw.presets.get("slices_hmc2"))
