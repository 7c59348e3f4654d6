"""Writes this chapter's notebooks (without outputs). Run: .venv/bin/python notebooks/causal_shufflenet/_make.py"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
HEAD = ['profile = "smoke"\noverrides = {}']


def nb(name, title, cells):
    n = nbf.v4.new_notebook()
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    c = [nbf.v4.new_markdown_cell(title), nbf.v4.new_code_cell(HEAD[0], metadata={"tags": ["parameters"]}),
         nbf.v4.new_code_cell('from replicate.notebook import start, table\nparams = start("causal_shufflenet", profile, overrides)')]
    for kind, src in cells:
        c.append(nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src))
    n.cells = c
    nbf.validate(n)
    nbf.write(n, HERE / f"{name}.ipynb")


GPU_NOTE = '''from replicate.results import committed_records, provenance
gpu = {r["experiment"]: r for r in committed_records("causal_shufflenet", "gpu")}
if not gpu:
    print("No committed GPU records yet (results/causal_shufflenet/gpu/ is empty): the lead runs the gpu profile on an H100.")
'''

nb("01_model_and_table2", """# 3D Causal ShuffleNet: the model and Table 2

The dual-path causal shuffle network (slow path: 1 of every alpha = 2 frames, fast path: every frame; a first 3D
conv, a stream buffer of b = 1 frame, shuffle-conv layers with g = 3, one FC layer) and the baselines of the paper's
Table 2, with parameters and multiply-adds **counted by code** at 16x112x112. These counts do not depend on the
profile (the models are built on PyTorch's meta device, so nothing is computed).""", [
    ("code", "from replicate.papers.causal_shufflenet import report\nt2 = report.table2()\ntable(t2, 'Table 2: parameters, multiply-adds (16x112x112) and the paper\\'s accuracies', profile,\n      note='params and MFLOPs are counted here; accuracies are the paper\\'s reported numbers')"),
    ("md", """**Reading the table.** The parameter counts match: 305,753 / 1,041,965 for 3D-ShuffleNetV1 0.5x / 1.0x with
101 classes and 0.55M / 1.52M / 3.91M with the 600-class head of Efficient-3DCNNs; the authors' configuration of the
causal model has 613,661 parameters (the paper: 0.61M). Our multiply-add counts (convolutions and linear layers,
`FlopCounterMode` / 2) are higher than the Efficient-3DCNNs column (e.g. 72 vs 42 MFLOPs for ShuffleNetV1 0.5x):
that table was made with another counting tool whose conventions we could not reproduce from the papers; we show
both rather than tune ours. The paper's buffer reading (12-wide first conv, buffer after it, fast path at full
frame rate) costs about 1.8x the multiply-adds of the authors' code (which downsamples the fast path in time)."""),
    ("md", """The counts against the figures the paper reports (the baselines with Efficient-3DCNNs' 600-class head, the
causal model in the authors' configuration with 101 classes, 16x112x112) are kept as a small result record
(`counts`), which the replication scoreboard reads."""),
    ("code", "from replicate.papers.causal_shufflenet import experiment\nfrom replicate.results import provenance\ncounts = experiment.counts(profile)\nprint(provenance(counts))\ntable(report.counts_vs_reported(counts), 'Counts against the reported figures', 'paper (counted, no training needed)')"),
])

nb("02_train_and_confusion", """# Training, accuracy and the confusion matrix

The causal model and the 3D-ShuffleNetV1 0.5x baseline trained as in the paper (SGD, momentum 0.9,
ReduceLROnPlateau /10 after 10 epochs without improvement) on the data of the profile: under `smoke` and `gpu` a
generated set of moving-shape videos written in UCF101's layout (real `.avi` files under `smoke`), whose classes come
in **mirrored pairs** (the same motion played backwards); under `paper` UCF101 split 1.""", [
    ("code", "from replicate.papers.causal_shufflenet import experiment, report\nrecords = {k: experiment.run(k, params, profile) for k in experiment.KINDS}"),
    ("code", "table(report.accuracy_table(records, profile), 'Top-1 / top-5 on the test split beside the paper (UCF101: 70.12 / 91.51)', profile,\n      note='the generated set is not UCF101: the numbers are shown, not judged')"),
    ("code", "report.plot_curves(records, profile);"),
    ("code", "report.plot_confusion(records['causal'], profile);"),
    ("code", "table(report.per_class(records['causal']), 'Per-class test accuracy of the causal model', profile)"),
    ("code", "table(report.confused_pairs(records['causal']), 'Most-confused pairs (causal model; the paper names Yoyo-Nunchucks, Archery-Bench Press / Playing Sitar, Pizza Tossing-Soccer Juggling on UCF101)', profile)"),
    ("code", "table(report.mirrored_table(records), 'Share of a mirrored pair\\'s videos predicted as its mirror (lower is better)', profile)"),
    ("code", "table(report.timing_table(records), 'Where training time went: waiting for data vs training steps', profile)"),
    ("md", "## The committed GPU run (profile `gpu`)"),
    ("code", GPU_NOTE + '''else:
    g = {k: gpu[f"train-{k}"] for k in experiment.KINDS if f"train-{k}" in gpu}
    for r in g.values():
        print(provenance(r))
    table(report.accuracy_table(g, "gpu"), "Top-1 / top-5, committed GPU records", "gpu")
    report.plot_confusion(g["causal"], "gpu")
    table(report.confused_pairs(g["causal"]), "Most-confused pairs, GPU run", "gpu")
    table(report.mirrored_table(g), "Mirrored pairs, GPU run (lower is better)", "gpu")
    table(report.timing_table(g), "Data wait vs steps, GPU run", "gpu")'''),
])

nb("03_streaming", """# Streaming: causality, flat memory, latency

A video of any length runs subclip by subclip (T = 16) with only the buffer carried; the prediction after the last
subclip is the video's. Here: the outputs of earlier subclips do not change when later frames change, and memory does
not grow with the video's length, while holding the whole video does.""", [
    ("code", "import pandas as pd\nfrom replicate.papers.causal_shufflenet import streaming\nrec = streaming.run(params, profile)\nprint('max |change| of the logits after each subclip when subclips 3.. are replaced:', rec['causality_gaps'])\ntable(pd.DataFrame(rec['memory']), 'Peak memory against video length (batch 1)', profile,\n      note=f\"{rec['size']}x{rec['size']} frames; on CPU the peak resident set of the process, on GPU the allocator's peak\")"),
    ("code", "print(f\"per-subclip latency (batch 1, {rec['size']}x{rec['size']}): {rec['metrics']['subclip_latency_ms']:.1f} ms\")"),
    ("md", "## Committed GPU records: streaming and `replicate bench causal_shufflenet`"),
    ("code", GPU_NOTE + '''else:
    if "streaming" in gpu:
        print(provenance(gpu["streaming"]))
        table(pd.DataFrame(gpu["streaming"]["memory"]), "Peak memory against video length, GPU", "gpu")
from replicate import bench
recs = bench.committed("causal_shufflenet")
if not recs:
    print("No committed bench record yet (results/causal_shufflenet/bench/).")
else:
    table(bench.record_table(recs[0]), "Bench: training and streaming clips/s against 3D-ShuffleNetV1 0.5x", "bench",
          note=provenance(recs[0]) + f"; peak memory and latency: {recs[0]['bench'].get('check')}")'''),
])
