"""The distributed path: ``torchrun --nproc_per_node 2 ... replicate.papers.gudn.train`` on the CPU (gloo), with a
tiny generated corpus and a tiny BERT.

The ranks run ``train.main`` through a small entry script that only watches (which training documents each rank
batches, the tokenizer it batches with, who stores a record) and turns dropout off. Without dropout the design is
comparable: the ranks shard one shuffled permutation (rank r takes every world-th document), so with batch B per
rank a global step sees exactly the documents of the one-process step with batch 2B; every loss is a mean over the
batch, and DDP averages the ranks' gradients, so two processes with B = one process with 2B up to rounding."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENTRY = textwrap.dedent('''
    import hashlib, json, os, sys
    import torch
    from replicate.papers.gudn import data as gdata, experiment, train
    from replicate.results import ResultStore

    LOG, RANK = os.environ["GUDN_TEST_LOG"], int(os.environ.get("RANK", "0"))
    TRAIN = []

    def log(**kw):
        with open(os.path.join(LOG, f"rank{RANK}.jsonl"), "a") as f:
            f.write(json.dumps(kw) + "\\n")

    log(kind="pid", pid=os.getpid())  # for the test to end this process if the run hangs

    _make_encoder = train.make_encoder
    def make_encoder(*a, **kw):  # no dropout: a batch split over two ranks computes what one process computes
        enc = _make_encoder(*a, **kw)
        for m in enc.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        return enc
    train.make_encoder = make_encoder

    if os.environ.get("GUDN_TEST_TOKENIZER"):  # the reference run batches with the 2-process run's tokenizer
        from transformers import BertTokenizerFast
        gdata.tokenizer_for = lambda params, data: BertTokenizerFast.from_pretrained(os.environ["GUDN_TEST_TOKENIZER"])

    _fit = experiment.fit
    def fit(params, data, *a, **kw):
        TRAIN.append(data.train)
        return _fit(params, data, *a, **kw)
    experiment.fit = fit

    _init, _call = train.Batcher.__init__, train.Batcher.__call__
    def init(self, tok, split, *a, **kw):
        _init(self, tok, split, *a, **kw)
        if TRAIN and split is TRAIN[-1]:
            log(kind="tokenizer", sha=hashlib.sha1(json.dumps(sorted(tok.get_vocab().items())).encode()).hexdigest())
            if RANK == 0:
                tok.save_pretrained(os.path.join(LOG, "tokenizer"))
    def call(self, idx, device):
        if TRAIN and self.split is TRAIN[-1]:
            log(kind="batch", idx=[int(i) for i in idx])
        return _call(self, idx, device)
    train.Batcher.__init__, train.Batcher.__call__ = init, call

    _put = ResultStore.put
    def put(self, *a, **kw):
        log(kind="put")
        return _put(self, *a, **kw)
    ResultStore.put = put

    sys.exit(experiment.main(sys.argv[1:]))
''')

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, feature_layers=2,
            max_seq_length=24, max_label_length=8, n_test=16, n_labels=20, n_topics=4, doc_words=20, vocab_size=300,
            dropout=0.0, learning_rate=2e-3, device="cpu", precision="fp32")


def launch(tmp_path, name, nproc, timeout=120, env_extra=None, **params):
    """Run the entry script (under torchrun when nproc > 1); return (returncode, output, log folder, results)."""
    entry = tmp_path / "entry.py"
    entry.write_text(ENTRY)
    logdir, results = tmp_path / name / "log", tmp_path / name / "results"
    logdir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(REPLICATE_RESULTS=str(results), REPLICATE_DATA=str(tmp_path / "data"), REPLICATE_PROGRESS="0",
               REPLICATE_GIT_COMMIT="test", GUDN_TEST_LOG=str(logdir), PYTHONUNBUFFERED="1", **(env_extra or {}))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    args = [str(entry), "--profile", "smoke", "--variant", "gudn"]
    for k, v in {**TINY, **params}.items():
        args += ["-p", f"{k}={v}"]
    output = tmp_path / name / "output.txt"
    with open(output, "w") as f:  # a file, not a pipe: a stray worker cannot keep the test waiting on it
        proc = subprocess.Popen(launcher + args, env=env, cwd=tmp_path, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(proc, logdir)
            pytest.fail(f"{name}: no exit within {timeout} s (a rank waiting in a collective?)\n"
                        f"{output.read_text()[-3000:]}")
    return proc.returncode, output.read_text(), logdir, results


def stop(proc, logdir):
    """End a hung run: torchrun stops its workers on SIGTERM; then kill whatever is left (the launcher's process
    group, and the workers by the pids they logged, since torchrun starts them in sessions of their own)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for rank in range(8):
        for e in read_log(logdir, rank):
            if e["kind"] != "pid":
                continue
            try:  # only a process still running this test's entry script (not a later one with a reused pid)
                if str(logdir.parent.parent / "entry.py").encode() in Path(f"/proc/{e['pid']}/cmdline").read_bytes():
                    os.kill(e["pid"], signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass


def read_log(logdir, rank):
    path = logdir / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def records(results):
    return [json.loads(p.read_text()) for p in sorted(results.glob("gudn/smoke/*.json"))]


def epochs_of(batches, n, world):
    """The batches of one rank, grouped by epoch (ceil(ceil(n / world) / per-rank batch) steps each)."""
    per_rank = -(-n // world)
    out, cur = [], []
    for b in batches:
        cur += b
        if len(cur) == per_rank:
            out.append(cur)
            cur = []
    assert not cur
    return out


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    n, B, epochs = 32, 4, 2
    rc, out, logdir, results = launch(tmp_path, "ddp", 2, n_train=n, per_device_train_batch_size=B, num_train_epochs=epochs)
    assert rc == 0, out[-3000:]
    logs = {r: read_log(logdir, r) for r in (0, 1)}

    # rank 0 alone stores the record, which says it was trained by 2 processes
    assert [e for e in logs[0] if e["kind"] == "put"] and not [e for e in logs[1] if e["kind"] == "put"]
    (rec,) = records(results)
    assert rec["info"]["world_size"] == 2 and rec["config"]["extra"]["world_size"] == 2
    assert set(rec["metrics"]) >= {"P@1", "P@3", "P@5"} and rec["curves"]["epoch"] == [1, 2]

    # both ranks batch with the same tokenizer (the same token ids)
    shas = {r: {e["sha"] for e in logs[r] if e["kind"] == "tokenizer"} for r in (0, 1)}
    assert len(shas[0]) == 1 and shas[0] == shas[1]

    # disjoint shards covering the train split, the same number of steps, a new shuffle each epoch
    batches = {r: [e["idx"] for e in logs[r] if e["kind"] == "batch"] for r in (0, 1)}
    assert len(batches[0]) == len(batches[1]) == epochs * n // (2 * B)
    ep = {r: epochs_of(batches[r], n, 2) for r in (0, 1)}
    for e in range(epochs):
        assert not set(ep[0][e]) & set(ep[1][e]) and sorted(ep[0][e] + ep[1][e]) == list(range(n))
    assert ep[0][0] != ep[0][1]

    # one process, batch 2B, the same tokenizer: the same global batches, so the same training up to rounding
    rc1, out1, logdir1, results1 = launch(tmp_path, "one", 1, n_train=n, per_device_train_batch_size=2 * B, num_train_epochs=epochs,
                                          env_extra={"GUDN_TEST_TOKENIZER": str(logdir / "tokenizer")})
    assert rc1 == 0, out1[-3000:]
    (ref,) = records(results1)
    assert ref["info"]["world_size"] == 1
    one = [e["idx"] for e in read_log(logdir1, 0) if e["kind"] == "batch"]
    two = [sorted(a + b) for a, b in zip(batches[0], batches[1])]
    assert [sorted(b) for b in one] == two
    for k in ("loss_class", "loss_feature", "loss_link"):
        assert rec["curves"][k] == pytest.approx(ref["curves"][k], rel=1e-4), k
    for k, v in ref["metrics"].items():
        assert rec["metrics"][k] == pytest.approx(v, rel=1e-3, abs=1e-3), k


def test_uneven_shards_take_the_same_number_of_steps(tmp_path):
    """33 documents, 2 ranks, batch 4: the shards are padded (as DistributedSampler does) to 17 documents each, so
    both ranks take 5 steps; unpadded, rank 1 (16 documents, 4 steps) left rank 0 waiting in DDP's all-reduce."""
    n = 33
    rc, out, logdir, results = launch(tmp_path, "uneven", 2, timeout=90, n_train=n, per_device_train_batch_size=4, num_train_epochs=1)
    assert rc == 0, out[-3000:]
    batches = {r: [e["idx"] for e in read_log(logdir, r) if e["kind"] == "batch"] for r in (0, 1)}
    assert len(batches[0]) == len(batches[1]) == 5
    seen = {r: [i for b in batches[r] for i in b] for r in (0, 1)}
    assert len(seen[0]) == len(seen[1]) == 17 and set(seen[0] + seen[1]) == set(range(n))
    assert len(records(results)) == 1
