"""Versioning: git, DVC, data sets and remotes: everything that records, moves or restores a version.

It owns how the project talks to DVC (`dvc_seam`), bringing your own data (`data_add`, with the checks of `datasets` and
`input_limits`), remotes, push and pull (`remotes`), travelling between versions (`checkout`), the integrity of
cached objects (`integrity`, `data_status`), outputs that cannot destroy (`output_paths`), the merge
drivers' registration (`merge_setup`) and all-or-nothing changes to the workspace (`journal`). Git itself is asked
through `hooks.git`, the one module of git plumbing, which the hooks share.
"""
