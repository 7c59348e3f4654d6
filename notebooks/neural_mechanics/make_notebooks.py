"""Writes the chapter's notebooks (stored without outputs). Run: .venv/bin/python notebooks/neural_mechanics/make_notebooks.py"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent
CH = "neural_mechanics"


def nb(cells):
    book = nbf.v4.new_notebook()
    book.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}}
    out = []
    for kind, src in cells:
        c = nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
        if kind == "params":
            c.metadata["tags"] = ["parameters"]
        out.append(c)
    book.cells = out
    nbf.validate(book)
    return book


PARAMS = ("params", 'profile = "smoke"\noverrides = {}')
START = ("code", f'from replicate.notebook import start, table\nfrom replicate.results import committed_records, provenance\n'
                 f'from replicate.papers.neural_mechanics import experiment, geometry\n\n'
                 f'params = start("{CH}", profile, overrides)\nds = experiment.load_data(params)')

NB1 = [
    ("md", "# Symmetry and the geometry of gradients and Hessians (Part 1)\n\n"
           "A symmetry of the loss, `L(psi(theta, alpha)) = L(theta)`, forces the gradient to be orthogonal to its "
           "generator and the Hessian to satisfy linear identities. We find the translation, scale and rescale groups "
           "of two VGG-style nets (with and without BatchNorm) and check the identities numerically with "
           "Hessian-vector products, beside control directions that have no symmetry."),
    PARAMS, START,
    ("md", "## The symmetry groups\n\n*translation*: the last layer (feeding the softmax), per input feature the "
           "column of weights over classes, and the bias; *scale*: every convolution followed by BatchNorm, per "
           "filter; *rescale*: every unit between two layers joined by a ReLU (and pooling/flatten) without BN: "
           "`A2` its incoming filter and bias, `A1` its outgoing weights."),
    ("code", 'table(experiment.groups_table(params, ds), "Symmetry groups found by tracing the nets (torch.fx)", profile)'),
    ("code", 'table(experiment.torchvision_groups(), "The same finder on torchvision VGG-11 / VGG-11-BN", profile)'),
    ("md", "## Gradient and Hessian identities\n\nFor an element with generator `v` and sign mask `m` (0 for "
           "translation, 1 on A for scale, +1 on A1 / -1 on A2 for rescale): `<g, v> = 0`, `H v + m g = 0` "
           "(translation `H 1 = 0`, scale `H theta + g = 0`, rescale `H(theta_1 - theta_2) + g_1 - g_2 = 0`) and "
           "`v'Hv + v'(m g) = 0`. Relative residuals in float64 on a fixed batch (BatchNorm in training mode); "
           "the control columns apply the same formulas where there is no symmetry."),
    ("code", 'for net in experiment.NETS:\n'
             '    rec = experiment.geometry_run(params, profile, net, ds)\n'
             '    df = geometry.pd.DataFrame(rec["rows"])\n'
             '    table(geometry.summary(df), f"Max relative residual, {net} net", profile, floatfmt="{:.2e}")'),
    ("code", 'gpu = committed_records("neural_mechanics", "gpu", "geometry")\n'
             'if not gpu:\n'
             '    print("No committed gpu records of this experiment yet (the gpu profile runs on an H100 and its records are committed).")\n'
             'for rec in gpu:\n'
             '    table(geometry.summary(geometry.pd.DataFrame(rec["rows"])), f"Max relative residual, {rec[\'config\'][\'net\']} net",\n'
             '          "gpu", floatfmt="{:.2e}", note=provenance(rec))'),
    ("md", "**Reading the table.** Translation and rescale identities hold to float64 rounding (~1e-16). The "
           "scale identities hold only to ~1e-5..1e-4: BatchNorm divides by `sqrt(var + eps)` with `eps = 1e-5`, "
           "so the loss is scale invariant only up to `eps / var` -- a real, small breaking of the symmetry that "
           "the talk's idealisation ignores. The controls are of order 0.01..1."),
]

NB2 = [
    ("md", "# Gradient flow conserves the symmetry quantities (Part 2)\n\n"
           "Under gradient flow `d theta/dt = -g` (no weight decay, infinitesimal learning rate) the translation "
           "sum `<theta_A, 1>`, the scale norm `|theta_A|^2` and the rescale difference `|theta_A1|^2 - |theta_A2|^2` "
           "are conserved. Full-batch gradient descent is its Euler discretisation; we run it with several learning "
           "rates to the same time `t = eta * steps` and measure the drift of each quantity. The exact discrete law "
           "`X_{k+1} = X_k + eta^2 |g_k|^2` predicts a drift that shrinks about linearly with `eta` (the translation "
           "sum does not move at all)."),
    PARAMS, START,
    ("code", 'recs = experiment.gradient_flow(params, profile, ds)\n'
             'table(experiment.drift_table(recs), f"Drift of the conserved quantities at t = {params.gf_time} (full batch, lambda = 0)", profile,\n'
             '      floatfmt="{:.3e}", note="drift = max_t |X(t) - X(0)| / max_t |X| over the group elements; discrete-law error in the same units")'),
    ("code", 'experiment.plot_drift(recs, profile);'),
    ("code", 'slopes = experiment.drift_slopes(recs)\n'
             'print("log-log slope of drift vs eta over the two smallest learning rates:", {k: round(v, 2) for k, v in slopes.items()})'),
    ("code", 'small = min(params.gf_etas)\n'
             'rec = [r for r in recs if r["config"]["net"] == "plain" and r["config"]["eta"] == small][0]\n'
             'experiment.plot_run(rec, kinds=("rescale",), law="disc", profile=profile);'),
    ("code", 'gpu = committed_records("neural_mechanics", "gpu", "gradient_flow")\n'
             'if gpu:\n'
             '    table(experiment.drift_table(gpu), "Drift (committed gpu records)", "gpu", floatfmt="{:.3e}", note=provenance(gpu[0]))\n'
             '    experiment.plot_drift(gpu, "gpu");\n'
             'else:\n'
             '    print("No committed gpu records of this experiment yet (the gpu profile runs on an H100 and its records are committed).")'),
    ("md", "**Reading the results.** The translation sums move only by float32 rounding. The scale and rescale "
           "quantities drift, and the drift shrinks as `eta` shrinks at fixed `t` -- at small `eta` roughly in "
           "proportion (slope ~1 in the log-log plot), at the largest `eta` faster (larger gradients far from the "
           "flow). The discrete law accounts for the drift exactly (its error is at float precision, or at the "
           "BatchNorm-eps level for scale groups)."),
]

NB3 = [
    ("md", "# Broken conservation: weight decay, momentum, finite learning rates (Parts 3-4 and beyond)\n\n"
           "With weight decay `lambda`, momentum `beta` and a finite learning rate `eta` the quantities are no "
           "longer conserved, but the talk solves their dynamics: `<theta_A, 1>(t) = e^{-lambda t} <theta_A, 1>(0)`, "
           "`|theta_A(t)|^2 = e^{-2 lambda t}|theta_A(0)|^2 + eta int_0^t e^{-2 lambda (t - tau)} |g_A|^2 d tau` "
           "(rescale: the same with the difference of A1 and A2), and with momentum a damped driven oscillator "
           "(under-, critically or over-damped). The gradient-norm integrals are accumulated online, element-wise, "
           "at every optimizer step by a `Tracker` hooked to the optimizer. Beyond the talk we also track the "
           "exact discrete-time law of each quantity (e.g. `|theta_{k+1}|^2 = (1 - eta lambda)^2 |theta_k|^2 + "
           "eta^2 |g_k|^2`; with momentum a two-state recursion driven by `|v_{k+1}|^2`)."),
    PARAMS, START,
    ("code", 'recs = experiment.sgd_runs(params, profile, ds)\nlam_max = max(params.lambdas)\n'
             'pick = lambda net, lam, beta: [r for r in recs if r["config"]["net"] == net and r["config"]["lam"] == lam and r["config"]["beta"] == beta][0]'),
    ("md", "## SGD with weight decay: theory (black dashed) vs empirics (colour), per layer"),
    ("code", 'experiment.plot_run(pick("bn", lam_max, 0.0), profile=profile);'),
    ("code", 'experiment.plot_run(pick("plain", lam_max, 0.0), profile=profile);'),
    ("md", "## SGD with momentum: the damped driven oscillator"),
    ("code", 'for beta in params.betas:\n'
             '    experiment.plot_run(pick("bn", params.momentum_lambda, beta), profile=profile);'),
    ("md", "## Errors\n\nPer run and group kind, the maximum over layers of: max over time of the error norm over a "
           "layer's elements divided by the max norm of the quantity (`theory (continuous)`, `discrete law`, and "
           "`conservation (Part 2)` = the error of predicting no change), and the same errors divided by the max "
           "norm of the quantity's change since step 0 (`theory / change`, `discrete / change`)."),
    ("code", 'table(experiment.error_table(recs, by_group=False), "Max relative error of theory vs empirics per run and kind", profile, floatfmt="{:.2e}")'),
    ("code", 'table(experiment.error_table(recs), "Per layer", profile, floatfmt="{:.2e}")'),
    ("code", 'from replicate import reported\n'
             'measured = {f"{k}/theory": v for k, v in ((k.split("/")[0], v) for k, v in experiment.overall(recs).items() if k.endswith("/theory"))}\n'
             'table(reported.compare("neural_mechanics", measured, profile), "The talk vs ours (max relative error over all runs and layers)", profile, floatfmt="{:.2e}")'),
    ("md", "## Committed gpu records (Fashion-MNIST, VGG-style, one H100)"),
    ("code", 'gpu = committed_records("neural_mechanics", "gpu", "sgd")\n'
             'if gpu:\n'
             '    table(experiment.error_table(gpu, by_group=False), "Max relative error per run and kind (gpu)", "gpu", floatfmt="{:.2e}", note=provenance(gpu[0]))\n'
             '    top = max(r["config"]["lam"] for r in gpu if r["config"]["beta"] == 0)\n'
             '    for r in gpu:\n'
             '        if r["config"]["net"] == "bn" and ((r["config"]["beta"] == 0 and r["config"]["lam"] == top) or r["config"]["beta"] == max(x["config"]["beta"] for x in gpu)):\n'
             '            experiment.plot_run(r, profile="gpu");\n'
             '    if experiment.diverged(gpu):\n'
             '        print("Runs that diverged (non-finite quantities, so no error; net, lambda, beta):", experiment.diverged(gpu))\n'
             'else:\n'
             '    print("No committed gpu records of this experiment yet (the gpu profile runs on an H100 and its records are committed).")'),
    ("md", "## Tracking overhead (`replicate bench neural_mechanics`, GPU)\n\nOne SGD step (momentum 0.9, weight decay) "
           "of the gpu profile's VGG-BN net at batch 256, plain against the same step with every symmetry group "
           "tracked online (the goal: tracking costs at most 5%). Both routes train the same net from the same "
           "initialisation in the same run; their losses after the timed steps are the check."),
    ("code", 'from replicate import bench\n'
             'recs = bench.committed("neural_mechanics")\n'
             'if recs:\n'
             '    table(bench.record_table(recs[0]), "Steps/s, plain vs tracked", "bench", floatfmt="{:.3g}",\n'
             '          note=provenance(recs[0]) + f"; check: {recs[0][\'bench\'].get(\'check\')}")\n'
             'else:\n'
             '    print("No committed bench record yet: run `replicate bench neural_mechanics` on a GPU and commit results/neural_mechanics/bench/.")'),
    ("md", "**Deviations and what the errors mean.** The continuous theory uses the talk's modified flow, whose "
           "left Riemann sum over steps we accumulate online; it misses `O(eta lambda)^2` per step and, with "
           "momentum, the modified-flow approximation of the discrete heavy-ball iteration, so its error grows with "
           "`eta lambda` and `beta`. The discrete law is exact up to float rounding and the BatchNorm `eps` (which "
           "breaks `<theta_A, g_A> = 0` slightly for scale groups). The smoke profile uses digits and larger weight "
           "decays than the talk so that the decay is visible in 300 steps. In the gpu records the net without BatchNorm "
           "diverges with momentum (beta 0.9 and 0.99 at eta 0.1; listed above): the talk's runs use BN nets, and the "
           "plain net's rescale quantities blow up under the heavy-ball step at this learning rate."),
]

for name, cells in [("01_symmetry_geometry", NB1), ("02_gradient_flow", NB2), ("03_broken_conservation", NB3)]:
    nbf.write(nb(cells), HERE / f"{name}.ipynb")
    print("wrote", name)
