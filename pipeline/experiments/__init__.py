"""Experiments: running the pipeline and comparing what it produced.

It owns runs (`reproduce` for `mlops repro`/`status`, `runs` for `mlops exp`, `settings` for `key=value`
settings read through the schema, sweep grids and the comparison table, `warm_stages` for stages forked from a
warm process, `dvc_outcomes` for what DVC did to each stage and the DVC advice it drops), the gate (`gate`),
honest comparisons of two models (`compare`), the HTML report (`report`) and the offline page `dvc plots show`
fills (`plots_page`). The commands of `pipeline.cli` call one function here each and print its typed result.
Metric definitions live in `pipeline.metrics`.
"""
