"""Tests of the 3D Causal ShuffleNet chapter: models, streaming, the UCF101 loader, metrics, profiles, bench."""
import numpy as np
import pytest
import torch

from replicate.config import UsageError
from replicate.papers.causal_shufflenet import data as D
from replicate.papers.causal_shufflenet import experiment as E
from replicate.papers.causal_shufflenet.model import (CausalShuffleNet, MobileNet3D, ShuffleNet3D, build, channel_shuffle, stream, subclips_of,
                                                      table2_counts)
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
    assert x.shape == (3, 32, 40, 40) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
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
        loss = E.train_loss("causal", m, x, y, 16)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------------------------------------ profiles
def test_profiles_resolve_and_bad_values_raise():
    for name in ("smoke", "gpu", "paper"):
        p = CHAPTER.resolve(name)
        assert p.seed == 0 and p.device == "auto"
    assert CHAPTER.resolve("paper").size == 112 and CHAPTER.resolve("paper").dataset == "ucf101"
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
    assert set(r["throughput"]) >= {"shufflenet_0.5x train", "causal streaming inference"}
    assert all(v > 0 for v in r["throughput"].values())
    assert r["check"]["causal per-subclip latency, batch 1 (ms)"] > 0


# ------------------------------------------------------------------------------------------------ training runs
TINY = dict(num_classes=2, videos_per_class=6, video_size=40, size=40, epochs=3, batch_size=4, write_videos=False,
            device="cpu", validate_every=2)


def test_training_resumes_from_a_checkpoint(tmp_path):
    p = CHAPTER.resolve("smoke", TINY)
    vs = D.prepare(p)
    ck = tmp_path / "ck.pt"
    assert E.train("causal", p, vs, ck, stop_after=1) is None  # interrupted after epoch 1
    saved = torch.load(ck, weights_only=False)
    assert saved["epoch"] == 1 and saved["curves"]["epoch"] == [1]
    resumed = E.train("causal", p, vs, ck)
    assert not ck.exists()  # cleared once the run is complete
    full = E.train("causal", p, vs, None)
    assert resumed["curves"]["epoch"] == [1, 2, 3] and resumed["sizes"]["val"] > 0
    assert resumed["curves"]["val_acc"][0] is None and resumed["curves"]["val_acc"][1] is not None  # every 2nd
    assert resumed["curves"]["train_loss"] == pytest.approx(full["curves"]["train_loss"], rel=1e-4)
    assert resumed["metrics"]["top1"] == full["metrics"]["top1"]
    assert np.array_equal(resumed["confusion"], full["confusion"])
    from replicate.papers.causal_shufflenet import report
    report.plot_curves({"causal": resumed}, "smoke")  # a curve with unvalidated epochs still plots


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
