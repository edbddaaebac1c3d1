"""AMD multi-PIM paper: Table 1 presets, the analytic data/model-parallel model, Fig. 10/11 scripts."""

from __future__ import annotations

import csv
import importlib.util
import json
import pathlib

import pytest

from pimjax import cost, hw
from pimjax.cost import (
    ConvLayer,
    FCLayer,
    PoolLayer,
    data_parallel_memory,
    data_parallel_time,
    execution_time,
    host_time,
    memory_per_pim,
    model_parallel_memory,
    model_parallel_time,
)
from pimjax.hw import HostConfig, NodeConfig, PIMConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
REL = 1e-12

# AMD paper Table 1: name -> (CUs, engine MHz, total DRAM BW GB/s, DRAM BW/stack GB/s, stacks).
TABLE1 = {
    "Host_4_160": (32, 1300, 160, 40, 4),
    "Host_4_320": (32, 1300, 320, 80, 4),
    "Host_4_640": (32, 1300, 640, 160, 4),
    "Host_8_320": (64, 1300, 320, 40, 8),
    "Host_8_640": (64, 1300, 640, 80, 8),
    "Host_8_1280": (64, 1300, 1280, 160, 8),
    "4PIM": (64, 650, 1280, 320, 4),
    "8PIM": (128, 650, 2560, 320, 8),
}


# --------------------------------------------------------------------------- presets


def test_presets_registered():
    assert set(TABLE1) <= set(hw.presets.names())
    assert hw.HOST_PRESETS == tuple(list(TABLE1)[:6])
    assert hw.NODE_PRESETS == ("4PIM", "8PIM")
    a, b = hw.presets.get("4PIM"), hw.presets.get("4PIM")
    assert a == b and a is not b


@pytest.mark.parametrize("name", list(TABLE1)[:6])
def test_host_presets_equal_table1(name):
    cus, mhz, total, per_stack, stacks = TABLE1[name]
    h = hw.presets.get(name)
    assert isinstance(h, HostConfig)
    assert h.name == name
    assert (h.compute_units, h.frequency_mhz, h.bandwidth_gbps, h.bandwidth_per_stack_gbps, h.num_stacks) == (
        cus, mhz, total, per_stack, stacks)
    # Sec. 6.1: host peak FLOPS = aggregate peak of the PIMs (N x 650 GFLOPS).
    assert h.peak_gflops == stacks * 650
    # Sec. 6.1: host bandwidth per stack is 1/2, 1/4 or 1/8 of the 320 GB/s in-stack bandwidth.
    assert 320 / h.bandwidth_per_stack_gbps in (2, 4, 8)


@pytest.mark.parametrize("name", ["4PIM", "8PIM"])
def test_node_presets_equal_table1(name):
    cus, mhz, total, per_stack, stacks = TABLE1[name]
    n = hw.presets.get(name)
    assert isinstance(n, NodeConfig)
    assert n.num_pims == stacks
    assert n.num_pims * n.pim.compute_units == cus
    assert n.pim.frequency_mhz == mhz
    assert n.total_pim_bandwidth_gbps == total
    assert n.pim.bandwidth_gbps == per_stack
    assert n.pim.peak_gflops == 650  # Sec. 6.1
    assert n.pim.capacity_gib == 4  # Sec. 3: 4 GB per stack
    assert n.pim.capacity_bytes == 4 * 2**30
    assert n.pim.remote_bandwidth_fraction == 1 / 8  # Sec. 3
    assert n.pim.remote_bandwidth_gbps == 40  # Sec. 6.4: "configured at 40 GB/s"
    assert n.host.peak_gflops == n.total_pim_gflops  # Sec. 6.1
    assert n.host_bandwidth_fraction == 1 / 2  # Sec. 3 baseline host (HMC-like), pimjax choice
    assert n.host.name == f"Host_{stacks}_{stacks * 160}"


# --------------------------------------------------------------------------- hand-computed model

# A tiny node: 2 PIMs of 1 GFLOPS and 2 GB/s (remote 1/8 -> 0.25 GB/s); host 4 GFLOPS and 2 GB/s
# in total, i.e. 1 GB/s per stack.
PIM = PIMConfig(peak_gflops=1.0, bandwidth_gbps=2.0, capacity_gib=1.0, frequency_mhz=100.0,
                remote_bandwidth_fraction=1 / 8)
HOST = HostConfig(peak_gflops=4.0, bandwidth_gbps=2.0, frequency_mhz=100.0, num_stacks=2)
NODE = NodeConfig(host=HOST, num_pims=2, pim=PIM, name="tiny")
FC = FCLayer(batch=4, in_features=8, out_features=16)  # e = 4 bytes


def test_fc_host_hand_computed():
    t = host_time(FC, HOST)
    # FLOPs = 2 B K M = 2*4*8*16 = 1024 -> 1024 / 4e9 = 256 ns
    assert t.flops == 1024
    assert t.compute_s == pytest.approx(256e-9, rel=REL)
    # bytes = 4 (B K + K M + B M) = 4 (32 + 128 + 64) = 896 -> 896 / 2e9 = 448 ns
    assert t.traffic_bytes == 896
    assert t.memory_s == pytest.approx(448e-9, rel=REL)
    assert t.bound == "memory"
    assert t.total_s == pytest.approx(448e-9, rel=REL)
    assert t.reduction_s == t.copy_back_s == 0.0
    assert host_time(FC, NODE) == t  # a node means its host


def test_fc_data_parallel_hand_computed():
    t = data_parallel_time(FC, NODE)
    # b = 4 / 2 = 2 per PIM: FLOPs = 2*2*8*16 = 512 -> 512 / 1e9 = 512 ns
    assert t.flops == 512
    assert t.compute_s == pytest.approx(512e-9, rel=REL)
    # bytes = 4 (2*8 + 8*16 + 2*16) = 4 * 176 = 704 -> 704 / 2e9 = 352 ns
    assert t.traffic_bytes == 704
    assert t.memory_s == pytest.approx(352e-9, rel=REL)
    # forward pass: no sync (Sec. 5.1)
    assert t.reduction_s == t.copy_back_s == 0.0
    assert t.total_s == pytest.approx(512e-9, rel=REL)
    assert t.bound == "compute"


def test_fc_model_parallel_hand_computed():
    t = model_parallel_time(FC, NODE)
    # k = 8 / 2 = 4 input features per PIM: FLOPs = 2*4*4*16 = 512 -> 512 ns
    assert t.flops == 512
    assert t.compute_s == pytest.approx(512e-9, rel=REL)
    # bytes = 4 (B k + k M + B M) = 4 (16 + 64 + 64) = 576 -> 576 / 2e9 = 288 ns
    assert t.traffic_bytes == 576
    assert t.memory_s == pytest.approx(288e-9, rel=REL)
    # R = 4 * B * M = 256 bytes. Reduction: max((N-1) B M / P_host, 2 R / BW_per_stack)
    #   = max(64 / 4e9 = 16 ns, 512 / 1e9 = 512 ns) = 512 ns
    assert t.reduction_s == pytest.approx(512e-9, rel=REL)
    # copy-back: R / (BW_pim / 8) = 256 / 0.25e9 = 1024 ns
    assert t.copy_back_s == pytest.approx(1024e-9, rel=REL)
    # total = 512 + 512 + 1024 = 2048 ns
    assert t.total_s == pytest.approx(2048e-9, rel=REL)
    assert t.sync_s == pytest.approx(1536e-9, rel=REL)


def test_fc_memory_per_pim_hand_computed():
    d = data_parallel_memory(FC, 2)
    # inputs 4*2*8 = 64, weights 4*8*16 = 512, outputs 4*2*16 = 128 -> 704
    assert d.as_dict() == dict(inputs_bytes=64, weights_bytes=512, outputs_bytes=128, partial_sums_bytes=0,
                               workspace_bytes=0, total_bytes=704)
    m = model_parallel_memory(FC, 2)
    # inputs 4*4*4 = 64, weights 4*4*16 = 256, partial sums 4*4*16 = 256, result 256 -> 832
    assert m.as_dict() == dict(inputs_bytes=64, weights_bytes=256, outputs_bytes=256, partial_sums_bytes=256,
                               workspace_bytes=0, total_bytes=832)
    assert memory_per_pim(FC, 2, "data") == d and memory_per_pim(FC, 2, "model") == m
    assert m.fits(832) and not m.fits(831)


def test_uneven_split_uses_largest_partition():
    fc = FCLayer(batch=5, in_features=9, out_features=16)
    # 3 PIMs: ceil(5/3) = 2 images, ceil(9/3) = 3 features
    assert data_parallel_memory(fc, 3).inputs_bytes == 4 * 2 * 9
    assert model_parallel_memory(fc, 3).weights_bytes == 4 * 3 * 16


def test_conv_and_pool_hand_computed():
    conv = ConvLayer(batch=2, channels=3, height=4, width=4, filters=2, filter_size=3)
    # same padding: Ho = Wo = 4; FLOPs = 2 * (2*2*4*4) * 3 * 9 = 3456
    assert conv.flops == 3456
    # input 2*3*16 = 96, weights 2*3*9 = 54, output 2*2*16 = 64, im2col 2*16*27 = 864
    # traffic = 4 (96 + 2*864 + 54 + 64) = 7768
    assert conv.traffic_bytes == 7768
    assert conv.replace(lowering="direct").traffic_bytes == 4 * (96 + 54 + 64)
    assert conv.replace(padding="valid").out_height == 2
    pool = PoolLayer(batch=2, channels=3, height=4, width=4, filter_size=2)
    # stride = k = 2: Ho = Wo = 2, outputs 2*3*4 = 24; FLOPs = 24 * (4 - 1) = 72
    assert pool.flops == 72
    assert pool.traffic_bytes == 4 * (96 + 24)
    node = NodeConfig(host=HOST, num_pims=2, pim=PIM)
    # data parallel pool: one image per PIM, 240 bytes / 2e9 = 120 ns (36 FLOP / 1e9 = 36 ns)
    assert data_parallel_time(pool, node).total_s == pytest.approx(120e-9, rel=REL)
    # model-parallel conv: filters split, no sync; weights 4 * 1*3*9 = 108 bytes per PIM
    tm = model_parallel_time(conv, node)
    assert tm.reduction_s == tm.copy_back_s == 0.0
    assert tm.flops == conv.flops / 2
    assert model_parallel_memory(conv, 2).weights_bytes == 108
    assert data_parallel_memory(conv, 2).workspace_bytes == 4 * 16 * 27
    with pytest.raises(ValueError, match="PoolLayer"):
        model_parallel_time(pool, node)
    with pytest.raises(ValueError, match="PoolLayer"):
        model_parallel_memory(pool, 2)


# --------------------------------------------------------------------------- paper-level properties


def test_model_parallel_memory_shrinks_data_keeps_full_weights():
    fc = FCLayer(batch=128, in_features=4096, out_features=4096)
    full = 4 * 4096 * 4096
    for n in (1, 2, 4, 8):
        assert data_parallel_memory(fc, n).weights_bytes == full
        assert model_parallel_memory(fc, n).weights_bytes == full // n
    totals = [model_parallel_memory(fc, n).total_bytes for n in (2, 4, 8)]
    assert totals[0] > totals[1] > totals[2]
    for n in (4, 8):
        assert data_parallel_memory(fc, n).total_bytes > model_parallel_memory(fc, n).total_bytes
        assert data_parallel_memory(fc, n).fits(hw.presets.get("4PIM").pim.capacity_bytes)


def test_copy_back_uses_one_eighth_remote_bandwidth():
    fc = FCLayer(batch=128, in_features=4096, out_features=4096)
    node = hw.presets.get("4PIM")
    r = 4 * 128 * 4096
    t = model_parallel_time(fc, node)
    assert t.copy_back_s == pytest.approx(r / 40e9, rel=REL)  # 320 GB/s / 8 = 40 GB/s
    # serialized: the 3 other PIMs share PIM0's 40 GB/s
    assert model_parallel_time(fc, node, copy_back="serialized").copy_back_s == pytest.approx(3 * r / 40e9, rel=REL)
    # the fraction drives it: 1/4 halves the copy-back time
    quarter = node.replace(pim=node.pim.replace(remote_bandwidth_fraction=1 / 4))
    assert model_parallel_time(fc, quarter).copy_back_s == pytest.approx(r / 80e9, rel=REL)
    # reduction: PIM0's stack link carries its partial sum and the result at 160 GB/s
    assert t.reduction_s == pytest.approx(2 * r / 160e9, rel=REL)
    # one PIM: nothing to reduce or copy
    one = NodeConfig(host=node.host.replace(num_stacks=1), num_pims=1, pim=node.pim)
    t1 = model_parallel_time(fc, one)
    assert t1.reduction_s == t1.copy_back_s == 0.0


def test_execution_time_dispatch():
    fc = FCLayer(batch=256, in_features=4096, out_features=4096)
    node = hw.presets.get("8PIM")
    assert execution_time(fc, node, "data") == data_parallel_time(fc, node)
    assert execution_time(fc, node, "model", copy_back="serialized") == model_parallel_time(
        fc, node, copy_back="serialized")
    assert execution_time(fc, hw.presets.get("Host_8_320"), "host") == host_time(fc, hw.presets.get("Host_8_320"))
    assert cost.SCHEMES == ("host", "data", "model")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "build, exc, field",
    [
        (lambda: PIM.replace(peak_gflops=0), ValueError, "PIMConfig.peak_gflops"),
        (lambda: PIM.replace(bandwidth_gbps=-1.0), ValueError, "PIMConfig.bandwidth_gbps"),
        (lambda: PIM.replace(remote_bandwidth_fraction=1.5), ValueError, "PIMConfig.remote_bandwidth_fraction"),
        (lambda: PIM.replace(capacity_gib="4"), TypeError, "PIMConfig.capacity_gib"),
        (lambda: PIM.replace(compute_units=True), TypeError, "PIMConfig.compute_units"),
        (lambda: HOST.replace(num_stacks=0), ValueError, "HostConfig.num_stacks"),
        (lambda: HOST.replace(frequency_mhz=float("nan")), TypeError, "HostConfig.frequency_mhz"),
        (lambda: NodeConfig(host=HOST, num_pims=4, pim=PIM), ValueError, "NodeConfig.num_pims"),
        (lambda: NodeConfig(host=PIM, num_pims=2, pim=PIM), TypeError, "NodeConfig.host"),
        (lambda: FCLayer(batch=0, in_features=1, out_features=1), ValueError, "FCLayer.batch"),
        (lambda: FCLayer(batch=1, in_features=1.5, out_features=1), TypeError, "FCLayer.in_features"),
        (lambda: ConvLayer(batch=1, channels=1, height=4, width=4, filters=1, filter_size=3, padding="full"),
         ValueError, "ConvLayer.padding"),
        (lambda: ConvLayer(batch=1, channels=1, height=2, width=2, filters=1, filter_size=3, padding="valid"),
         ValueError, "ConvLayer.filter_size"),
        (lambda: PoolLayer(batch=1, channels=1, height=4, width=4, filter_size=2, stride=0), ValueError,
         "PoolLayer.stride"),
        (lambda: model_parallel_time(FC, NODE, copy_back="broadcast"), ValueError, "copy_back"),
        (lambda: execution_time(FC, NODE, "pipeline"), ValueError, "scheme"),
        (lambda: data_parallel_memory(FC, 0), ValueError, "num_pims"),
        (lambda: data_parallel_time(FC, HOST), TypeError, "node"),
    ],
)
def test_validation_names_field(build, exc, field):
    with pytest.raises(exc, match=field):
        build()


# --------------------------------------------------------------------------- scripts


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_repro_fig11_tiny(tmp_path, capsys):
    summary = _load("repro_amd_fig11").main(
        ["--out", str(tmp_path), "--layer", "64", "--layer-sizes", "32", "64", "--batches", "4", "8",
         "--pims", "2", "4"])
    csv_path, png_path = tmp_path / "fig11_memory_per_pim.csv", tmp_path / "fig11_memory_per_pim.png"
    assert csv_path.stat().st_size > 0 and png_path.stat().st_size > 0
    rows = _rows(csv_path)
    # 2 layer sizes x 2 schemes x 2 PIM counts x 2 batches x 5 metrics
    assert len(rows) == 80 == summary["rows"]
    row = next(r for r in rows if r["layer"] == "64" and r["scheme"] == "data" and r["num_pims"] == "4"
               and r["batch"] == "8" and r["metric"] == "weights_bytes")
    assert int(row["value"]) == 4 * 64 * 64
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["figure"] == "amd_fig11"


def test_repro_fig10_tiny(tmp_path, capsys):
    summary = _load("repro_amd_fig10").main(
        ["--out", str(tmp_path), "--layer", "64", "--batches", "4", "8", "--crossover-limit", "16"])
    csv_path, png_path = tmp_path / "fig10_fc_time.csv", tmp_path / "fig10_fc_time.png"
    assert csv_path.stat().st_size > 0 and png_path.stat().st_size > 0
    rows = _rows(csv_path)
    # 2 variants x 10 configs (6 hosts, 4PIM/8PIM x data/model) x 2 batches x 7 metrics
    assert len(rows) == 280 == summary["rows"]
    assert {r["config"] for r in rows} == set(TABLE1) - {"4PIM", "8PIM"} | {
        "4PIM_data", "4PIM_model", "8PIM_data", "8PIM_model"}
    base = [r for r in rows if r["config"] == "Host_4_160" and r["batch"] == "4" and r["metric"] == "normalized_total"]
    assert [float(r["value"]) for r in base] == [1.0, 1.0]
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["figure"] == "amd_fig10"
