"""Neural Mechanics (Kunin, Sagastuy-Brena, Ganguli, Yamins, Tanaka): symmetry and broken conservation laws
in deep learning dynamics.

Modules: ``profiles`` (parameters, no torch), ``data`` (digits / Fashion-MNIST / Tiny ImageNet), ``model``
(VGG-style nets), ``symmetry`` (finding translation / scale / rescale groups and their quantities),
``geometry`` (gradient and Hessian identities, Part 1), ``theory`` (continuous and discrete laws, Parts 2-4),
``tracker`` (online integrals hooked to the optimizer), ``experiment`` (the runs behind the notebooks),
``bench`` (tracking overhead).
"""
