"""The application: the `tf-wsoftmax` command line, the experiment runners, the benchmarks, the demo.

The library (ops, layers, losses, models, training, data, eval, export, theory)
never imports this package (a test checks the import graph).
"""
