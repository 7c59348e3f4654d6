"""Writes the chapter's notebooks (stored without outputs). Run: .venv/bin/python notebooks/t5_xsum/make_notebooks.py"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
START = 'from replicate.notebook import start, table\nparams = start("t5_xsum", profile, overrides)'


def notebook(title: str, cells: list[tuple[str, str]]):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbf.v4.new_markdown_cell(title))
    p = nbf.v4.new_code_cell('profile = "smoke"\noverrides = {}')
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nb.cells.append(nbf.v4.new_code_cell(START))
    for kind, src in cells:
        nb.cells.append(nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src))
    for c in nb.cells:
        if c.cell_type == "code":
            c.execution_count = None
            c.outputs = []
    nbf.validate(nb)
    return nb


NB1 = notebook("""# Fine-tuning T5 on XSum: the ROUGE table and the baselines

The report fine-tunes t5-small on XSum and gives ROUGE-1/2/L precision, recall and F1 on the test set (its Table 3),
and says the model beats Lead-3, Random-3 and the pre-trained model without fine-tuning. This notebook fine-tunes
under the profile in force, sets our Table 3 beside the report's, shows the effect of the generation cap, the
baselines and a few summaries.""", [
    ("md", "## Data\nUnder `smoke` and `gpu` the articles are generated in XSum's schema (document, summary, id); "
           "under `paper` they are XSum itself, loaded with `datasets` (or a local copy given by `data_dir`)."),
    ("code", "from replicate.papers.t5_xsum import data as D, experiment as E, report as R\n"
             "from replicate.results import committed_records, provenance\n"
             "splits = E.context(params)['splits']\n"
             "table(D.describe_splits(splits), 'Splits used', profile)"),
    ("md", "## Fine-tuning\nAdamW (weight decay 0.01), linear decay, validation ROUGE after each epoch, the best "
           "epoch kept, checkpoints for resuming (section 2.3.2)."),
    ("code", "fin = E.run_finetune(params, profile)\n"
             "print({k: fin['training'][k] for k in ('parameters', 'seconds', 'pad_fraction', 'best_epoch', 'device', 'precision')})\n"
             "R.loss_curve(fin);"),
    ("md", "## Table 3: ROUGE precision, recall and F1 on the test set\n"
           "Generated with the report's effective cap of 20 new tokens (the old `generate()` default: the report's "
           "F1 matches a public run whose mean generated length was 18.8 tokens). Under `smoke` and `gpu` the data "
           "are generated, so the numbers check the machinery and are not comparable with the paper's."),
    ("code", "table(R.table3(fin), 'Table 3, ours beside the report (cap = %d new tokens)' % params.gen_max_new_tokens, profile)"),
    ("code", "table(R.prf(fin), 'ROUGE P/R/F with the 20-token cap and a longer cap', profile,\n"
             "      note='mean reference length: %.1f words' % fin['metrics']['mean_gen_words']['reference'])"),
    ("md", "## Baselines (section 3.3)\nLead-3 and Random-3 as in the report, Lead-1 (XSum's classic baseline), "
           "and the model before fine-tuning (under `smoke`/`gpu` a randomly initialised T5, since no pre-trained "
           "checkpoint can be loaded offline)."),
    ("code", "base = E.run_baselines(params, profile)\ntable(R.baselines_table(base), 'Baselines on the test set (ROUGE)', profile)"),
    ("md", "## Qualitative examples"),
    ("code", "table(R.examples_table(fin), 'Article excerpt, reference and generated summaries', profile)"),
    ("md", "## GPU records\nThe `gpu` profile's records, committed with the project (generated data at XSum's lengths, "
           "a t5-small-sized model)."),
    ("code", "gpu = committed_records('t5_xsum', 'gpu', 'finetune')\n"
             "if not gpu:\n    print('No committed gpu records yet (the lead runs the gpu profile on an H100 and commits them).')\n"
             "for rec in gpu:\n    table(R.table3(rec), 'Table 3 from the GPU run', 'gpu', note=provenance(rec))\n"
             "    table(R.prf(rec), 'ROUGE P/R/F, both caps, GPU run', 'gpu')"),
    ("code", "for rec in committed_records('t5_xsum', 'gpu', 'baselines'):\n"
             "    table(R.baselines_table(rec), 'Baselines, GPU run', 'gpu', note=provenance(rec))"),
])

NB2 = notebook("""# Hyperparameter study: learning rate x batch size

Objective 5 of the report: how the learning rate and the batch size of fine-tuning change the result. Each cell of
the grid (`sweep_lrs` x `sweep_batch_sizes`, both parameters of this notebook) is its own fine-tuning run and result
record, so the sweep can also be run as a papermill sweep, one execution per cell, e.g.
`replicate run t5_xsum -p sweep_lrs=3e-4 -p sweep_batch_sizes=8` (or `experiment.papermill_sweep`); records of
cells already run are re-used.""", [
    ("code", "from replicate.papers.t5_xsum import experiment as E, report as R\n"
             "from replicate.results import committed_records, provenance\n"
             "sweep = E.run_sweep(params, profile)\n"
             "table(R.sweep_table(sweep), 'Validation ROUGE after %d epoch(s) on %d examples' % (params.sweep_epochs, params.sweep_n_train), profile)"),
    ("code", "R.sweep_plot(sweep, profile);"),
    ("md", "The report trains with lr 2e-5 (sections 2.3.2, 3.3) or 3e-4 (Table 1), batch 8 (2.3.2) or 16 (3, 3.3, "
           "Table 1); it reports no sweep result, so there is no paper number to set beside these."),
    ("code", "recs = committed_records('t5_xsum', 'gpu', 'sweep_point')\n"
             "if not recs:\n    print('No committed gpu records yet (the lead runs the gpu profile on an H100 and commits them).')\n"
             "else:\n    rows = [{'lr': r['config']['lr'], 'batch_size': r['config']['batch_size'], **r['metrics'], 'curves': r['curves']} for r in recs]\n"
             "    table(R.sweep_table(rows), 'Sweep, GPU run', 'gpu', note=provenance(recs[0]))\n    R.sweep_plot(rows, 'gpu');"),
])

NB3 = notebook("""# Robustness to noisy inputs, attention, and the speed of fine-tuning

Section 2.3.5 of the report evaluates the model on noisy samples and section 2.3.4 reads its attention weights;
neither gives numbers. Here: ROUGE under character typos, dropped and shuffled sentences at several strengths,
cross-attention maps of generated summaries over their sources, and the most attended source words.""", [
    ("code", "from replicate.papers.t5_xsum import experiment as E, report as R\n"
             "from replicate.results import committed_records, provenance\n"
             "rob = E.run_robustness(params, profile)\n"
             "table(R.robustness_table(rob), 'ROUGE F1 under noisy inputs (%d test documents)' % params.n_robust, profile)"),
    ("code", "R.robustness_plot(rob);"),
    ("md", "## Cross-attention\nAveraged over layers and heads; rows are generated tokens, columns source tokens."),
    ("code", "att = E.run_attention(params, profile)\nR.attention_plot(att);"),
    ("code", "table(R.top_words_table(att), 'Most attended source words (attention mass summed over the summary)', profile)"),
    ("code", "for rec in committed_records('t5_xsum', 'gpu', 'robustness'):\n"
             "    table(R.robustness_table(rec), 'Robustness, GPU run', 'gpu', note=provenance(rec))\n"
             "for rec in committed_records('t5_xsum', 'gpu', 'attention'):\n"
             "    table(R.top_words_table(rec), 'Most attended source words, GPU run', 'gpu', note=provenance(rec))\n"
             "if not committed_records('t5_xsum', 'gpu'):\n    print('No committed gpu records yet (the lead runs the gpu profile on an H100 and commits them).')"),
    ("md", "## Closing note: training speed\n`replicate bench t5_xsum` times Hugging Face's `Seq2SeqTrainer` and this "
           "chapter's loop on the same t5-small-sized model, the same generated data at XSum's lengths and batch 16, "
           "interleaved in one run on one GPU; it also measures test-set generation throughput."),
    ("code", "from replicate.papers.t5_xsum.bench import bench_summary\nbench_summary()"),
])

for name, nb in (("01_finetune_rouge", NB1), ("02_sweep", NB2), ("03_robustness_attention", NB3)):
    nbf.write(nb, HERE / f"{name}.ipynb")
    print("wrote", name)
