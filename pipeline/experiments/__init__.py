"""Experiments: running the pipeline and comparing what it produced.

It owns runs (`settings` for `key=value` settings and sweep grids, `warm_stages` for stages forked from a warm
process, `dvc_outcomes` for what DVC did to each stage), honest comparisons of two models (`compare`), the HTML
report (`report`) and the offline page `dvc plots show` fills (`plots_page`). Metric definitions live in
`pipeline.metrics`.
"""
