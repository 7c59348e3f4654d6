"""Writes the GUDN chapter's notebooks (stored without outputs). Run: .venv/bin/python notebooks/gudn/make_notebooks.py"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
START = 'from replicate.notebook import start, table\nparams = start("gudn", profile, overrides)'


def nb(title, cells):
    n = nbf.v4.new_notebook()
    n.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                  "language_info": {"name": "python"}}
    n.cells = [nbf.v4.new_markdown_cell(title),
               nbf.v4.new_code_cell('profile = "smoke"\noverrides = {}', metadata={"tags": ["parameters"]}),
               nbf.v4.new_code_cell(START)]
    for c in cells:
        n.cells.append(nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c))
    for c in n.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nbf.validate(n)
    return n


NB = {
    "01_data": nb("# GUDN 1: the data\n\nExtreme multi-label data in the LightXML/AttentionXML layout: raw texts, "
                  "label **names** per text, a label vocabulary; labels as a sparse matrix. The `smoke` and `gpu` "
                  "profiles use a generated corpus in that same layout whose label names are words of the texts.", [
        "from replicate.papers.gudn import experiment as E\ndata, tok = E.prepare(params)\n"
        "print(f'{data.name}: Y_train is a {type(data.train.Y).__name__} of shape {data.train.Y.shape}, '\n"
        "      f'{data.train.Y.nnz} non-zeros; tokenizer vocabulary {len(tok)}')",
        "md:The columns of the paper's Table 1 for the data set in use, beside the paper's row for the data set it "
        "stands for (for the generated corpus: Eurlex-4K, the set with the most natural-language label names).",
        "table(E.table1(data, params), 'Table 1: data set statistics', profile, floatfmt='{:.2f}')",
        "md:What the two sides of GUDN see in training: the text, and the gold label names joined into one text.",
        "table(E.examples(data), 'Training documents and their label text', profile)",
        "import numpy as np, matplotlib.pyplot as plt\nfrom replicate.plots import profile_title\n"
        "freq = np.sort(np.asarray(data.train.Y.sum(0)).ravel())[::-1]\n"
        "fig, ax = plt.subplots(); ax.plot(np.arange(1, len(freq) + 1), freq); ax.set_xscale('log'); ax.set_yscale('log')\n"
        "ax.set_xlabel('label rank'); ax.set_ylabel('training documents'); profile_title(ax, 'Label frequencies', profile)",
    ]),
    "02_guide": nb("# GUDN 2: does the guide network help?\n\nFive trainings of the same BERT: plain BERT (L_class), "
                   "+ feature guide (GUD-F, L_feature), + link guide (GUD-L, L_link), GUDN (all three), and GUDN "
                   "with one-hot label vectors instead of raw label names. Test time uses the text alone.", [
        "from replicate.papers.gudn import experiment as E\nrecords = E.run_all(params, profile)",
        "md:## Table 2: P@k beside the paper and the baselines it reports",
        "table(E.table2(records, params, profile), 'Table 2: P@k (%)', profile, floatfmt='{:.2f}',\n"
        "      note='Our column is measured on the data set of the profile; the paper columns are its Table 2.')",
        "md:## Table 3: ablation",
        "table(E.table3(records, params, profile), 'Table 3: ablation, P@k (%)', profile, floatfmt='{:.2f}')",
        "md:## Table 4: raw label names vs one-hot label vectors (gain in P@k over plain BERT)",
        "table(E.table4(records, params, profile), 'Table 4: gain over BERT (points)', profile, floatfmt='{:+.2f}')",
        "md:## Figure 3: feature loss per epoch",
        "E.figure3(records, profile);",
        "E.training_curves(records, profile);",
        "md:## Extras: nDCG@k and propensity-scored PSP@k (not in the paper)",
        "table(E.extras(records, profile), 'P@k, nDCG@k, PSP@k (%)', profile, floatfmt='{:.2f}')",
        "md:## The committed GPU runs (profile `gpu`)",
        "gpu = E.gpu_records()\nif not gpu:\n    print('No committed gpu records yet: run `replicate run gudn --profile gpu` on a GPU and commit results/gudn/gpu/.')\n"
        "else:\n    from replicate.results import provenance\n    gp = E.chapter_params('gpu')\n"
        "    print('; '.join(sorted({provenance(r) for r in gpu.values()})))\n"
        "    table(E.table3(gpu, gp, 'gpu'), 'Table 3 on the GPU: ablation, P@k (%)', 'gpu', floatfmt='{:.2f}')\n"
        "    table(E.table4(gpu, gp, 'gpu'), 'Table 4 on the GPU: gain over BERT (points)', 'gpu', floatfmt='{:+.2f}')\n"
        "    E.figure3(gpu, 'gpu');",
    ]),
    "03_speed": nb("# GUDN 3: training speed\n\n`replicate bench gudn` times one training step (all three losses, "
                   "batch 8, length 512, BERT-base size) of the authors' route (fp32, eager attention, label text "
                   "padded to 512, plain AdamW) against ours (bf16, SDPA, label text padded to its own length, "
                   "fused AdamW) in the same run, with both routes' loss on one batch as a check.", [
        "from replicate import bench\nfrom replicate.results import provenance\n\nrecs = bench.committed('gudn')\nif recs:\n"
        "    table(bench.record_table(recs[0]), 'Bench: GUDN training throughput (goal: ours >= 3x the reference)', 'bench',\n"
        "          floatfmt='{:.3g}', note=provenance(recs[0]) + f\"; loss of each route on one batch: {recs[0]['bench'].get('check')}\")\nelse:\n"
        "    print('No committed GPU bench records yet: run `replicate bench gudn` on a GPU and commit results/gudn/bench/.')",
        "md:Below, the harness at tiny shapes on this machine's CPU (`--quick`): it checks the machinery, not the speed.",
        "from replicate import bench\nr = bench.run('gudn', quick=True, store=False)\nprint(bench.format_result('gudn', r))",
    ]),
}

if __name__ == "__main__":
    for name, n in NB.items():
        nbf.write(n, HERE / f"{name}.ipynb")
        print("wrote", HERE / f"{name}.ipynb")
