"""Studies built on the core and the methods: what a method is worth and what to do next.

``scoring`` (the one scoring engine: methods on held-out points of curves, the calibration
table), ``backtest`` (leave-future-out on a table or many curves), ``curves`` (the public real
curves), ``validate`` (synthetic validation, the scaling paper's section 2.3), ``design`` (which
size to measure next, section 2.4), ``decompose`` (the three-component gain, eq. 10-13),
and ``reproduce`` (every result behind the paper's figures). Each imports ``scalefit.core`` and ``scalefit.methods``, never the report or the CLI.
"""
