"""Tests of the 3D Causal ShuffleNet chapter: models, streaming, the UCF101 loader, metrics, profiles, bench."""
import numpy as np
import pytest
import torch

from replicate.config import UsageError
from replicate.papers.causal_shufflenet import data as D
from replicate.papers.causal_shufflenet import experiment as E_exp
from replicate.papers.causal_shufflenet import train as E
from replicate.papers.causal_shufflenet.model import (CausalShuffleNet, MobileNet3D, ShuffleNet3D, build, channel_shuffle,
                                                      count_flops_e3d, count_macs, stream, subclips_of, table2_counts)
from replicate.papers.causal_shufflenet.profiles import CHAPTER

SMALL = dict(blocks=(1, 1, 1))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as the chapter's cpu_threads=1 default: on a small shared machine more threads are slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------------ models
def test_parameter_counts_match_the_reference_figures():
    c101 = {r["key"]: r["params"] for r in table2_counts(101)}
    c600 = {r["key"]: r["params"] for r in table2_counts(600)}
    assert c101["causal_code"] == 613_661  # the authors' configuration
    assert c101["shufflenet_0.5x"] == 305_753 and c101["shufflenet_1.0x"] == 1_041_965
    assert round(c600["shufflenet_0.5x"] / 1e6, 2) == 0.55
    assert round(c600["shufflenet_1.0x"] / 1e6, 2) == 1.52
    assert round(c600["mobilenet_1.0x"] / 1e6, 2) == 3.91
    assert round(c101["causal_paper"] / 1e6, 2) == 0.61


@pytest.mark.parametrize("mode", ["paper", "code"])
def test_causal_shapes_and_buffer(mode):
    m = CausalShuffleNet(7, buffer_mode=mode, **SMALL).eval()
    x = torch.randn(2, 3, 16, 48, 48)
    logits, state = m(x)
    assert logits.shape == (2, 7)
    assert state.slow.shape[2] == 1 and state.fast.shape[2] == 1  # b = 1 frame per path
    assert m.forward_clip(torch.randn(2, 3, 48, 48, 48)).shape == (3, 2, 7)
    stem = 12 if mode == "paper" else 24
    assert m.slow.conv1[0].out_channels == stem


def test_baseline_shapes():
    x = torch.randn(1, 3, 16, 48, 48)
    assert ShuffleNet3D(5, 0.5, blocks=(1, 1, 1))(x).shape == (1, 5)
    assert MobileNet3D(5, 0.5)(x).shape == (1, 5)
    with pytest.raises(ValueError):
        build("resnet", 5)


def test_channel_shuffle_is_a_transpose_of_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


# ------------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("mode", ["paper", "code"])
def test_causality_later_frames_do_not_change_earlier_outputs(mode):
    torch.manual_seed(0)
    m = CausalShuffleNet(4, buffer_mode=mode, **SMALL).eval()
    v = torch.randn(1, 3, 48, 40, 40)
    w = v.clone()
    w[:, :, 32:] = torch.randn_like(w[:, :, 32:])  # change the third subclip only
    a = stream(m, subclips_of(v), keep_all=True)
    b = stream(m, subclips_of(w), keep_all=True)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.allclose(a[2], b[2])
    # and the buffer really carries information forward: changing subclip 1 changes subclip 2's output
    u = v.clone(); u[:, :, :16] = 0
    c = stream(m, subclips_of(u), keep_all=True)
    assert not torch.allclose(a[1], c[1])
    # the streamed prediction equals the clip-wise forward
    assert torch.allclose(m.forward_clip(v)[-1], a[-1], atol=1e-5)


def test_streaming_memory_is_flat():
    """Streaming holds one subclip at a time: every input subclip is freed before the one after next arrives, and
    the carried state never grows (a loop that kept the inputs, or a buffer that grew, fails here)."""
    import weakref

    m = CausalShuffleNet(4, **SMALL).eval()
    refs, sizes, alive_when_yielding = [], [], []

    def gen(n):
        for i in range(n):
            alive_when_yielding.append(sum(r() is not None for r in refs))
            x = torch.randn(1, 3, 16, 40, 40)
            refs.append(weakref.ref(x))
            yield x

    stream(m, gen(6))
    assert max(alive_when_yielding) <= 1, f"subclips still held while streaming: {alive_when_yielding}"
    state = None
    with torch.no_grad():
        for x in gen(3):
            _, state = m(x, state)
            sizes.append(state.nbytes())
    assert len(set(sizes)) == 1  # the carried state never grows
    # and the bookkeeping above can see a leak: a stream that keeps its inputs is caught
    kept, refs[:], alive_when_yielding[:] = [], [], []
    for x in gen(4):
        kept.append(x)
    assert max(alive_when_yielding) == 3


def test_memory_vs_length_table_runs():
    from replicate.papers.causal_shufflenet.streaming import memory_vs_length

    rows = memory_vs_length(CausalShuffleNet(4, **SMALL), (1, 2), (1, 3, 16, 40, 40))
    assert [r["subclips"] for r in rows] == [1, 2] and all(r["streamed peak (MiB)"] > 0 for r in rows)
    assert rows[0]["buffer carried (KiB)"] == rows[1]["buffer carried (KiB)"] > 0


# ------------------------------------------------------------------------------------------------ data
def _fixture(tmp_path, write_videos=True):
    root = tmp_path / "ucf"
    cache = D.FrameCache(tmp_path / "cache")
    D.generate_ucf_layout(root, num_classes=3, videos_per_class=6, size=48, T=16, seed=1,
                          write_videos=write_videos, cache=cache, clips_per_group=2)
    return root, cache


def test_generated_set_is_in_the_official_layout_and_decodes(tmp_path):
    root, cache = _fixture(tmp_path)
    lists = root / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_text().splitlines()[0] == "1 Expand"
    first = (lists / "trainlist01.txt").read_text().splitlines()[0]
    assert first.endswith(" 1") and first.startswith("Expand/v_Expand_g")
    assert all(len(l.split()) == 1 for l in (lists / "testlist01.txt").read_text().splitlines())
    split = D.read_split(root, 1)
    assert split.classes == ("Expand", "Contract", "Fall")
    assert len(split.train) + len(split.test) == 18 and all(("_g01_" in r) for r, _ in split.test)
    rel = split.train[0][0]
    assert (root / "UCF-101" / rel).is_file()
    frames = D.decode_video(root / "UCF-101" / rel)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (48, 48, 3) and 32 <= len(frames) < 64
    cache.fill(root, [r for r, _ in split.train])
    assert cache.has(rel) and np.array_equal(cache.get(rel), frames)


def test_contract_is_expand_played_backwards():
    a = D.render_video(0, 20, 32, np.random.default_rng(3))
    b = D.render_video(1, 20, 32, np.random.default_rng(3))
    # same draws except noise; the shape masks coincide frame for frame in reverse
    assert np.abs(a[::-1].astype(int) - b.astype(int)).mean() < np.abs(a.astype(int) - b.astype(int)).mean()


def test_read_split_handles_ucf101_case_quirk_and_checks_labels(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    (lists / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
                                           "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\n")
    (lists / "testlist01.txt").write_text("HandstandPushups/v_HandStandPushups_g01_c01.avi\n")
    s = D.read_split(tmp_path)
    assert s.train[1][1] == 1 and s.test == (("HandstandPushups/v_HandStandPushups_g01_c01.avi", 1),)
    (lists / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\n")
    with pytest.raises(ValueError):
        D.read_split(tmp_path)


def test_train_val_split_is_80_20_stratified_and_disjoint():
    entries = [(f"c{c}/v{i}.avi", c) for c in range(3) for i in range(10)]
    tr, va = D.train_val_split(entries, 0.2, seed=0)
    assert len(va) == 6 and len(tr) == 24 and not set(tr) & set(va)
    assert sorted(l for _, l in va) == [0, 0, 1, 1, 2, 2]


def test_clips_crops_and_missing_data(tmp_path):
    root, cache = _fixture(tmp_path, write_videos=False)
    split = D.read_split(root)
    ds = D.TrainClips(cache, split.train, 32, 40)
    x, y = ds[0]
    assert x.shape == (3, 32, 40, 40) and x.dtype == torch.uint8  # floats are made on the device
    # the uint8 resize stays within a grey level or two of resizing floats
    frames = torch.from_numpy(np.array(cache.get(split.train[0][0])[:8]))
    ref = torch.nn.functional.interpolate(frames.permute(0, 3, 1, 2).float(), size=(40, 40), mode="bilinear",
                                          align_corners=False, antialias=True).permute(1, 0, 2, 3)
    assert (D._resize(frames, 40).float() - ref).abs().max() <= 2.0
    v = D.test_video(cache, split.test[0][0], 40, 16)
    assert v.shape[1] % 16 == 0 and v.shape[2:] == (40, 40)
    z = D.normalise(x[None], *D.frame_stats(cache, [r for r, _ in split.train]))
    assert abs(float(z.mean())) < 0.5
    from replicate.data import DataMissing, require
    with pytest.raises(DataMissing):
        require("ucf101", tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------ metrics
def test_topk_and_confusion_against_sklearn():
    from sklearn.metrics import confusion_matrix, top_k_accuracy_score

    rng = np.random.default_rng(0)
    scores = rng.random((200, 7))
    labels = rng.integers(0, 7, 200)
    for k in (1, 3, 5):
        assert E.topk_accuracy(scores, labels, k) == pytest.approx(
            top_k_accuracy_score(labels, scores, k=k, labels=range(7)))
    pred = scores.argmax(1)
    cm = E.confusion(labels, pred, 7)
    assert np.array_equal(cm, confusion_matrix(labels, pred, labels=range(7)))
    pc = E.per_class_accuracy(cm)
    assert pc[2] == pytest.approx(((pred == 2) & (labels == 2)).sum() / (labels == 2).sum())
    pairs = E.confused_pairs(cm, [str(i) for i in range(7)], top=1)
    off = cm - np.diag(np.diag(cm))
    assert pairs[0]["count"] == off.max()


def test_training_loss_decreases():
    torch.manual_seed(0)
    m = CausalShuffleNet(2, **SMALL)
    x = torch.randn(4, 3, 32, 40, 40)
    y = torch.tensor([0, 1, 0, 1])
    x[y == 1] += 0.5
    opt = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = E.train_loss("causal", E.TrainForward("causal", m, 16), x, y, 16)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------------------------------------ profiles
def test_profiles_resolve_and_bad_values_raise():
    for name in ("smoke", "gpu", "paper"):
        p = CHAPTER.resolve(name)
        assert p.seed == 0 and p.device == "auto"
    assert CHAPTER.resolve("paper").size == 112 and CHAPTER.resolve("paper").dataset_name == "ucf101"
    with pytest.raises(UsageError, match="valid choices"):
        CHAPTER.resolve("smoke", {"buffer_mode": "future"})
    with pytest.raises(UsageError):
        CHAPTER.resolve("smoke", {"size": 32})
    with pytest.raises(UsageError):
        CHAPTER.resolve("smoke", {"nonsense": 1})


def test_bench_quick_runs():
    from replicate.bench import measure
    from replicate.papers.causal_shufflenet.bench import routes

    r = measure(routes(quick=True))
    assert set(r["throughput"]) >= {"shufflenet_0.5x train eager", "causal train channels_last (buffer carried)",
                                    "causal streaming inference eager"}
    assert all(v > 0 for v in r["throughput"].values())
    c = r["check"]
    assert c["causal per-subclip latency, batch 1, eager fp32 (ms)"] > 0
    assert 0.0 <= c["GPU idle share (waiting for data)"] < 1.0
    assert c["aten ops per causal streamed subclip"]["convolutions"] == 100  # 2 paths x (stem, buffer conv, 16 x 3)


# ------------------------------------------------------------------------------------------------ training runs
TINY = dict(num_classes=2, videos_per_class=6, video_size=40, size=40, num_train_epochs=3,
            per_device_train_batch_size=4, per_device_eval_batch_size=4, write_videos=False, device="cpu",
            validate_every=2)


def test_training_resumes_from_a_checkpoint(tmp_path):
    from replicate.train import Checkpointer

    p = CHAPTER.resolve("smoke", TINY)
    vs = D.prepare(p)
    ck = Checkpointer(tmp_path / "ck.pt")
    assert E.fit("causal", p, vs, ck, stop_after=1) is None  # interrupted after epoch 1
    saved = torch.load(ck.path, weights_only=False)
    assert saved["epoch"] == 1 and saved["curves"]["epoch"] == [1]
    resumed = E.fit("causal", p, vs, ck)
    full = E.fit("causal", p, vs, None)
    assert resumed["curves"]["epoch"] == [1, 2, 3] and resumed["sizes"]["val"] > 0
    assert resumed["curves"]["val_acc"][0] is None and resumed["curves"]["val_acc"][1] is not None  # every 2nd
    assert resumed["curves"]["train_loss"] == pytest.approx(full["curves"]["train_loss"], rel=1e-4)
    assert resumed["metrics"]["top1"] == full["metrics"]["top1"]
    assert np.array_equal(resumed["confusion"], full["confusion"])
    from replicate.papers.causal_shufflenet import report
    report.plot_curves({"causal": resumed}, "smoke")  # a curve with unvalidated epochs still plots


KILL_SCRIPT = """
import json, os
from replicate import chapters
from replicate.train import Checkpointer
from replicate.papers.causal_shufflenet import data as D, train as T
p = chapters.get("causal_shufflenet").resolve("smoke", {TINY!r})
out = T.fit("baseline", p, D.prepare(p), Checkpointer(os.environ["CHECKPOINT"]))
print(json.dumps({{"loss": out["curves"]["train_loss"], "top1": out["metrics"]["top1"],
                  "top1_mean": out["metrics"]["top1_mean"], "confusion": out["confusion"]}}))
"""


def test_kill_mid_training_and_resume_gives_the_uninterrupted_numbers(tmp_path, monkeypatch):
    """SIGKILL a training run once its first checkpoint exists, run it again: it resumes (replicate.train.resume)
    and ends with the numbers of a run that was never interrupted."""
    from tests.resume import kill_and_resume

    tiny = {**TINY, "num_train_epochs": 4, "validate_every": 1}
    straight, resumed = kill_and_resume(KILL_SCRIPT.format(TINY=tiny), tmp_path,
                                        env={"REPLICATE_DATA": str(tmp_path / "data")})
    assert len(straight["loss"]) == 4
    assert resumed["loss"] == pytest.approx(straight["loss"], rel=1e-5)
    assert resumed["top1"] == straight["top1"] and resumed["confusion"] == straight["confusion"]


def test_baseline_is_scored_both_ways_and_reports_the_protocol(tmp_path):
    p = CHAPTER.resolve("smoke", {**TINY, "num_train_epochs": 1})
    out = E.fit("baseline", p, D.prepare(p))
    m = out["metrics"]
    assert out["scoring"] == "centre" and m["top1"] == m["top1_centre"] and "top1_mean" in m


# ------------------------------------------------------------------------------------------------ counts
def test_efficient3dcnns_counter_reproduces_both_published_tables():
    """The Efficient-3DCNNs counter (hooks on modules: conv multiply-adds, BN, ReLU modules, pooling, linear)
    on our 600-class baselines: the corrected 2021 version gives that table's 78 / 199 / 241 MFLOPs; the 2019
    version (strided output sizes divided by the stride again) the 125 / 137 the paper printed for 1.0x / MobileNet
    (0.5x: 40.5 against the printed 42)."""
    got = {}
    for name in ("shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x"):
        with torch.device("meta"):
            m = build(name, 600)
        got[name] = {v: count_flops_e3d(m, version=v) / 1e6 for v in ("2019", "2021")}
    assert [round(got[k]["2021"]) for k in got] == [78, 199, 241]
    assert round(got["shufflenet_1.0x"]["2019"]) == 125 and round(got["mobilenet_1.0x"]["2019"]) == 137
    assert 40 < got["shufflenet_0.5x"]["2019"] < 41
    with torch.device("meta"):
        m = build("shufflenet_0.5x", 600)
    assert count_flops_e3d(m) > count_macs(m)  # counts more than multiply-adds
    with pytest.raises(ValueError):
        count_flops_e3d(m, version="2020")


def test_counter_counts_what_it_says_on_a_tiny_net():
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 4, 3, stride=(1, 2, 2), padding=1, bias=False),
                              torch.nn.BatchNorm3d(4), torch.nn.ReLU(), torch.nn.MaxPool3d(3, 2, 1))
    x = (1, 2, 4, 8, 8)
    conv = 256 * (27 * 2)  # 4 channels x (4, 4, 4) outputs, 27 x 2 multiply-adds each
    conv19 = 4 * (4 * 2 * 2) * (27 * 2)  # the 2019 counter divides the strided H, W by the stride again
    bn, relu = 2 * 256, 256  # 2 per input element, 1 per input element
    pool = (3 - 1) * 4 * (2 * 2 * 2)  # (kernel_size 3 as stored - 1) per output element
    assert count_flops_e3d(net, x, "2021") == conv + bn + relu + pool
    assert count_flops_e3d(net, x, "2019") == conv19 + bn + relu + pool


def test_table2_and_like_for_like_counts():
    from replicate.papers.causal_shufflenet import report

    c = report.reference_counts()
    assert round(c["mflops/shufflenet_0.5x"]) == 78 and round(c["mflops2019/mobilenet_1.0x"]) == 137
    assert c["like101/params/causal"] == pytest.approx(0.613661) and c["like101/params/shufflenet_0.5x"] == pytest.approx(0.305753)
    assert 1.9 < c["like101/ratio/params"] < 2.1 and c["like101/ratio/macs"] > 1.2
    t = report.table2()
    assert {"MMACs (101 cl.)", "Efficient-3DCNNs 2021 table", "paper (2019 table)"} <= set(t.columns)
    assert len(report.like_for_like(None)) == 5 and c["like101/ratio_paper/macs"] > 2


# ------------------------------------------------------------------------------------------------ broken videos
def test_truncated_video_is_named_and_never_cached(tmp_path):
    """A real .avi cut to 40 % of its bytes: PyAV decodes part of it without complaint; ours compares with the
    frame count the container declares, raises one line naming the file, and caches nothing."""
    frames = D.render_video(0, 50, 48, np.random.default_rng(0))
    root = tmp_path / "ucf"
    good, bad = root / "UCF-101" / "A" / "v_A_g01_c01.avi", root / "UCF-101" / "A" / "v_A_g01_c02.avi"
    D.write_avi(good, frames)
    blob = good.read_bytes()
    bad.write_bytes(blob[: int(0.4 * len(blob))])
    assert len(D.decode_video(good)) == 50
    with pytest.raises(D.BrokenVideo, match=r"v_A_g01_c02\.avi: decoded \d+ of the 50 frames"):
        D.decode_video(bad)
    cache = D.FrameCache(tmp_path / "cache")
    with pytest.raises(D.BrokenVideo):
        cache.fill(root, ["A/v_A_g01_c02.avi"])
    assert not cache.has("A/v_A_g01_c02.avi")
    with pytest.warns(UserWarning, match="v_A_g01_c02"):
        got = cache.fill(root, ["A/v_A_g01_c01.avi", "A/v_A_g01_c02.avi"], on_broken="skip")
    assert got["broken"] == ["A/v_A_g01_c02.avi"] and got["decoded"] == 1
    assert cache.has("A/v_A_g01_c01.avi") and not cache.has("A/v_A_g01_c02.avi")
    # decoding in worker processes: the same frames, the same refusal
    par = D.FrameCache(tmp_path / "cache2")
    with pytest.raises(D.BrokenVideo, match="v_A_g01_c02"):
        par.fill(root, ["A/v_A_g01_c01.avi", "A/v_A_g01_c02.avi"], workers=2)
    assert np.array_equal(par.get("A/v_A_g01_c01.avi"), cache.get("A/v_A_g01_c01.avi"))
    assert not par.has("A/v_A_g01_c02.avi")


# ------------------------------------------------------------------------------------------------ streaming step
@pytest.mark.parametrize("mode", ["paper", "code"])
def test_static_step_equals_the_stream(mode):
    """The fixed-buffer step that a CUDA graph captures computes what ``stream`` computes, buffer carried."""
    from replicate.papers.causal_shufflenet.streaming import StaticStep

    torch.manual_seed(0)
    m = CausalShuffleNet(4, buffer_mode=mode, **SMALL).eval()
    xs = [torch.randn(1, 3, 16, 40, 40) for _ in range(3)]
    step = StaticStep(m, (1, 3, 16, 40, 40), "cpu", graph=False)
    got = [step(x).clone() for x in xs]
    want = stream(m, iter(xs), keep_all=True)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-5)
    step.reset()
    assert torch.allclose(step(xs[0]), want[0], atol=1e-5)
    with pytest.raises(ValueError):
        StaticStep(m, (1, 3, 16, 40, 40), "cpu", graph=True)


def test_preflight_names_missing_ucf101(tmp_path):
    from replicate.papers.causal_shufflenet.profiles import preflight

    assert preflight(CHAPTER.resolve("smoke")) == []
    lines = preflight(CHAPTER.resolve("paper", {"data_dir": str(tmp_path / "nothing")}))
    assert len(lines) == 1 and "UCF101" in lines[0]


def test_generated_data_without_pyav(monkeypatch):
    """The gpu profile (write_videos=False) must not need PyAV on the GPU machine."""
    import sys

    monkeypatch.setitem(sys.modules, "av", None)  # any `import av` now raises ImportError
    with pytest.raises(ImportError):
        import av  # noqa: F401
    p = CHAPTER.resolve("gpu", {**TINY, "seed": 3})
    assert p.write_videos is False
    vs = D.prepare(p)
    assert len(vs.train) and len(vs.test) and vs.decode["decoded"] == 0
    assert D.test_video(vs.cache, vs.test[0][0], p.size, p.T).shape[2:] == (40, 40)


def test_resume_check_record(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLICATE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPLICATE_DATA", str(tmp_path / "data"))
    p = CHAPTER.resolve("smoke", {**TINY, "num_train_epochs": 1})
    rec = E_exp.run_resume(p, "smoke")
    m = rec["metrics"]
    assert rec["config"]["params"]["num_train_epochs"] == 3  # the check's own small run
    assert m["max_train_loss_diff"] < 1e-5 and m["top1_straight"] == m["top1_resumed"] and m["same_confusion"]
    assert rec["curves"]["resumed"]["epoch"] == [1, 2, 3]


def test_bench_compiled_routes_trace_on_the_cpu():
    """The torch.compile routes (dynamo's trace, backend "eager" on the CPU): they failed on the H200 with
    "TypeError: CausalShuffleNet does not support len()", from ``net or model`` on a compiled module (bool() falls
    back to OptimizedModule.__len__, which raises for a module that is not a container)."""
    from replicate.papers.causal_shufflenet.bench import routes

    b = routes(quick=True, compile_backend="eager")
    assert "torch.compile failed" not in b.notes
    for name in ("shufflenet_0.5x train compiled", "causal train compiled (buffer carried)"):
        loss = b.routes[name]()
        assert torch.isfinite(loss)
