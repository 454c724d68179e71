"""The model registry, in the DVC ecosystem's format: the model is the `artifacts:` entry of `dvc.yaml` whose path is
`models/model.skops`, and its versions and stages are GTO's git tags, so `gto show`, `dvc artifacts get` and DVC
Studio see what `mlops deploy` did:

    lending-risk@v1.2.0      version v1.2.0 is that commit's model (registration)
    lending-risk#prod#7      stage prod assigned to the version at that commit (the 7th stage event)
    lending-risk#prod!#8     stage prod unassigned from it (a rollback)

The champion is the version whose prod assignment is the most recent still active; the earlier active ones are the
history a rollback returns to. Tags are read with one `git for-each-ref` (cheap enough for a running server to poll)
and written through GTO's API, so their format is GTO's own.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hooks import git
from hooks.pipeline_state import DVC_YAML, artifacts, read_worktree
from pipeline import paths
from pipeline.errors import UserError
from pipeline.versioning.journal import uninterruptible

PROD = "prod"
FIRST_VERSION = "v1.0.0"
# A reference: name@v1.2.0, name@latest, name#prod, or name@prod (the shorthand `mlops` also accepts).
REFERENCE = re.compile(r"^(?P<name>[a-zA-Z0-9][a-zA-Z0-9_/-]*[a-zA-Z0-9])(?P<sep>[@#])(?P<what>[a-zA-Z0-9._+-]+)$")
SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
VERSION_LIKE = re.compile(r"^v\d[\d.]*$")  # v999, v1.0: meant as a version, though not a full one


@dataclass(frozen=True)
class Event:
    """One GTO tag of the model artifact."""

    tag: str
    commit: str
    version: str | None  # set on registrations
    stage: str | None  # set on stage (un)assignments
    cancel: bool  # a deregistration or an unassignment
    counter: int  # GTO's event counter (stage tags); 0 for registrations
    seconds: int = 0  # the tag's time


def model_artifact() -> str:
    """The name `dvc.yaml` gives the model artifact (the artifact whose path is the trained model)."""
    for name, spec in artifacts(read_worktree()).items():
        if (spec or {}).get("path") == paths.MODEL and (spec or {}).get("type") == "model":
            return name
    raise UserError(
        f"{DVC_YAML} declares no artifact of type model with path {paths.MODEL}",
        hint="add one under `artifacts:` (see the project's dvc.yaml)",
    )


def read_events(name: str) -> list[Event]:
    """The artifact's GTO tags, oldest first: by the tags' time, as GTO orders them (a `gto assign --simple` tag
    has no counter), then by GTO's counter within the same second."""
    from gto.constants import tag_re

    events = []
    fields = ("refname:strip=2", "*objectname", "creatordate:unix", "*objecttype")
    for tag, commit, seconds, kind in git.refs("refs/tags/", *fields):
        match = tag_re.match(tag)
        if not match or match["artifact"] != name or match["deprecated"] or match["created"]:
            continue
        if not commit:  # a lightweight tag (`git tag NAME`), which GTO ignores: it reads annotated tags only
            continue
        if kind != "commit":  # GTO fails on it with a traceback, whatever it is asked
            raise UserError(
                f"the registry's tag {tag} is on {git.OBJECT_IN_WORDS.get(kind, kind)}, not a commit: GTO cannot "
                "read the registry with it",
                hint=f"delete it (`git tag -d {tag}`); `mlops deploy promote REV` registers a version of a commit",
            )
        counter = int(match["counter"]) if match["counter"] else 0
        cancel = bool(match["cancel"])
        events.append(Event(tag, commit, match["version"], match["stage"], cancel, counter, int(seconds)))
    return sorted(events, key=lambda e: (e.seconds, e.counter))


def registered_versions(events: list[Event]) -> dict[str, str]:
    """version -> commit, for versions registered and not deregistered."""
    versions: dict[str, str] = {}
    for event in events:
        if event.version and not event.cancel:
            versions[event.version] = event.commit
        elif event.version:
            versions.pop(event.version, None)
    return versions


def version_at(events: list[Event], commit: str) -> str | None:
    return next((v for v, c in registered_versions(events).items() if c == commit), None)


def in_stage(events: list[Event], stage: str = PROD) -> list[str]:
    """The commits with `stage` active, most recently assigned first: the first is current, the rest its history.
    `events` are in their order (`read_events`). A deregistered version (`gto deprecate NAME VERSION`) is in no
    stage, as for GTO."""
    active: list[str] = []  # least recently assigned first
    for event in events:
        if event.stage != stage:
            continue
        if event.commit in active:
            active.remove(event.commit)
        if not event.cancel:
            active.append(event.commit)
    registered = set(registered_versions(events).values())
    deregistered = {event.commit for event in events if event.version} - registered
    return [commit for commit in active[::-1] if commit not in deregistered]


def _semver(version: str) -> tuple[int, int, int] | None:
    match = SEMVER.match(version)
    return tuple(map(int, match.groups())) if match else None


def next_version(versions: list[str]) -> str:
    """v1.0.0 for the first version, then the next minor version of the highest."""
    numbers = [number for v in versions if (number := _semver(v))]
    if not numbers:
        return FIRST_VERSION
    major, minor, _ = max(numbers)
    return f"v{major}.{minor + 1}.0"


def champion_commit() -> str | None:
    """The commit whose model is in prod, or None before the first promotion (or without a model artifact)."""
    try:
        name = model_artifact()
    except UserError:  # a project that declares no artifact serves its workspace's model, as before a promotion
        return None
    current = in_stage(read_events(name))
    return current[0] if current else None


def resolve(reference: str | None) -> str | None:
    """A registry reference (`lending-risk@prod`, `lending-risk#prod`, `lending-risk@v1.2.0`, `lending-risk@latest`)
    as the commit it names; anything else (a commit, branch, tag, None) is returned as it is."""
    match = REFERENCE.match(reference or "")
    if not match:
        return reference
    name = model_artifact()
    if match["name"] != name:
        _refuse_unknown_artifact(reference, match, name)
        return reference
    events = read_events(name)
    what = match["what"]
    versions = registered_versions(events)
    if VERSION_LIKE.match(what):
        if what not in versions:
            known = ", ".join(sorted(versions)) or "none yet"
            raise UserError(f"{reference}: no version {what} of {name} (versions: {known})", hint="see `gto show`")
        return versions[what]
    if what in ("latest", "greatest") and match["sep"] == "@":
        if not versions:
            raise UserError(f"{reference}: {name} has no version yet", hint="`mlops deploy promote REV` registers one")
        return versions[_highest(list(versions))]
    current = in_stage(events, what)
    if not current:
        raise UserError(f"{reference}: no version of {name} is in stage {what}", hint="see `gto show`")
    return current[0]


def _refuse_unknown_artifact(reference: str, match: re.Match[str], model: str) -> None:
    """Refuse `reference`, a registry reference to an artifact that is not the model's, unless git knows it by that
    name (a tag `other@prod`): as a revision it would only be "no such revision", naming no artifact."""
    if git.object_type(reference) is not None:
        return
    declared = ", ".join(artifacts(read_worktree()))
    raise UserError(
        f"{reference}: {DVC_YAML} declares no model artifact {match['name']!r} (its artifacts: {declared})",
        hint=f"name the model artifact: {model}{match['sep']}{match['what']}",
    )


def commit_named(rev: str) -> str | None:
    """The full commit id `rev` (a revision or a registry reference) names, or None. A registry reference gives the
    commit its GTO tag points to, a full id git listed: git's plumbing checks it is a commit, and no branch or tag
    name is read. A revision as typed goes through `dvc_seam.resolve_commit`, which refuses an ambiguous name, and is
    refused when an experiment of that name is another commit."""
    return _reference_or(rev, _revision_commit)


def against_commit(against: str) -> str:
    """The full commit id `--against` names: a registry reference as `commit_named` reads it (`lending-risk@prod`,
    as `--model` takes it), else a revision or an experiment's name as `dvc_seam.against_commit` reads it."""
    from pipeline.versioning import dvc_seam

    return _reference_or(against, dvc_seam.against_commit)


def _reference_or(rev: str, revision_commit: Callable[[str], str | None]) -> str | None:
    """The commit of registry reference `rev`, else `revision_commit(rev)`."""
    pinned = resolve(rev)
    return git.resolve_commit(pinned) if pinned != rev else revision_commit(rev)


def _revision_commit(rev: str) -> str | None:
    from pipeline.versioning import dvc_seam

    commit = dvc_seam.resolve_commit(rev)
    if commit is not None:
        dvc_seam.refuse_experiment_namesake(rev, commit)
    return commit


def commit_of(rev: str) -> str:
    """The commit `rev` (a revision or a registry reference) names, or a refusal naming `rev` as typed."""
    commit = commit_named(rev)
    if commit is None:
        raise UserError(
            f"{rev!r} is not a commit, tag, branch or registry reference here",
            hint="see `git log --oneline` and `gto show`",
        )
    return commit


def named(typed: str, commit: str, champion: bool = False) -> str:
    """How a message names the model at `commit` that the user chose as `typed`: `revision 'v1'` as typed, a
    registry reference with its commit (`lending-risk@v1.2.0 (commit 0123456789ab)`), or, when nothing was chosen
    (`champion`: the model in stage prod), `the champion lending-risk@v1.2.0 (commit 0123456789ab)`."""
    if champion:
        return f"the champion {describe(commit)}"
    return f"revision {typed!r}" if resolve(typed) == typed else f"{typed} (commit {commit[:12]})"


def read_output(rev: str, path: str, typed: str | None = None, champion: bool = False) -> tuple[bytes, str, str]:
    """(bytes, md5 recorded in dvc.lock, commit) of the DVC output `path` at `rev` (a revision or a registry
    reference), read without a checkout. A refusal names it as the user did (`typed`, where `rev` is the commit it
    was pinned to; `champion` when the user chose nothing: `named`), and its hint pulls it by that name where
    `mlops data pull --rev` takes it, else by its commit."""
    from pipeline.versioning import dvc_seam

    commit = commit_of(rev)
    typed = typed or rev

    def shown() -> str:  # only for a refusal: naming reads the registry's tags
        return named(typed, commit, champion)

    def pull_rev() -> str:
        by_name = not champion and resolve(typed) == typed and typed != commit  # a full commit id: its short form
        return typed if by_name else commit[:12]

    data, expected = dvc_seam.read_output_at(commit, path, shown_as=shown, pull_rev=pull_rev)
    return data, expected, commit


def version_of_same_model(commit: str) -> str | None:
    """The commit of the registered version whose model is the same bytes as `commit`'s (its `dvc.lock` records the
    same md5; the highest such version), when `commit` itself is not registered: promoting `commit` assigns the stage
    to that version rather than registering the same model again. None when there is none."""
    events = read_events(model_artifact())
    if version_at(events, commit) is not None:
        return None
    version = _version_of_same_bytes(events, commit)
    return registered_versions(events)[version] if version else None


def _version_of_same_bytes(events: list[Event], commit: str) -> str | None:
    """The highest registered version whose `dvc.lock` records the model md5 that `commit`'s records, or None."""
    from pipeline.versioning import dvc_seam

    md5 = dvc_seam.recorded_md5_at(commit, paths.MODEL, missing_ok=True)
    if md5 is None:
        return None
    versions = registered_versions(events)
    same = [
        version for version, at in versions.items() if dvc_seam.recorded_md5_at(at, paths.MODEL, missing_ok=True) == md5
    ]
    return _highest(same) if same else None


def _highest(versions: list[str]) -> str:
    return max(versions, key=lambda v: _semver(v) or (-1, -1, -1))


def describe(commit: str | None) -> str:
    """`lending-risk@v1.2.0 (commit 0123456789ab)` for a registered commit, else the short commit id."""
    if commit is None:
        return "the workspace's model"
    try:
        name = model_artifact()
    except UserError:
        return commit[:12]
    version = version_at(read_events(name), commit)
    return f"{name}@{version} (commit {commit[:12]})" if version else f"commit {commit[:12]}"


# --- writing: promotion and rollback ---------------------------------------------------------------------------


def require_tagger() -> None:
    """Refuse, before any tag, when GTO could not sign one: it writes annotated tags through pygit2, whose tagger is
    git's user.name and user.email, or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL (never guessed from the host, as
    git may), and which refuses a GIT_COMMITTER_DATE."""
    import os

    from pipeline.versioning.dvc_seam import IDENTITY_HINT

    configured = all(git.config_value(key) for key in ("user.name", "user.email"))
    if not configured and not all(os.environ.get(f"GIT_COMMITTER_{part}") for part in ("NAME", "EMAIL")):
        raise UserError(
            "git's config has no user.name and user.email to sign the registry's tags with (GTO takes them from "
            "there, or from GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL); no tag written",
            hint=IDENTITY_HINT,
        )
    if os.environ.get("GIT_COMMITTER_DATE"):
        raise UserError(
            "GIT_COMMITTER_DATE is set, and GTO dates the registry's tags now (it refuses another date); no tag "
            "written",
            hint="unset GIT_COMMITTER_DATE, then run it again",
        )


def _register(name: str, commit: str, message: str) -> str:
    """The version of `commit`'s model: the version at `commit`, else the version of the same bytes at another
    commit (one model is never two versions), else one registered now."""
    import gto.api

    events = read_events(name)
    version = version_at(events, commit) or _version_of_same_bytes(events, commit)
    if version is None:
        version = next_version([event.version for event in events if event.version])  # a deregistered one too
        gto.api.register(".", name, commit, version=version, message=message)
    return version


def _after_the_last_stage_tag(name: str) -> None:
    """GTO orders stage events by their tags' time, in whole seconds: a second event in the same second as the
    last one would tie with it, so wait for the next second (only promote and rollback pay this, at most 1 s)."""
    last = max((e.seconds for e in read_events(name) if e.stage), default=0)
    while time.time() < last + 1:
        time.sleep(0.05)


def _assign(name: str, version: str, message: str) -> None:
    import gto.api

    _after_the_last_stage_tag(name)
    gto.api.assign(".", name, PROD, version=version, message=message, force=True)


@contextlib.contextmanager
def _one_switch_at_a_time(name: str, expected: list[str | None], action: str) -> Iterator[None]:
    """Hold the registry's lock (shared by this repository's worktrees) and refuse unless stage prod still holds
    `expected` (champion first): a promotion gated against a champion that another promotion or rollback replaced
    meanwhile would otherwise overrule it, judged against a model no longer serving."""
    import fcntl

    common = Path(git.git("rev-parse", "--git-common-dir").decode().strip())
    with open(common / "mlops-registry.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        current = in_stage(read_events(name))
        now = [*current, None, None][: len(expected)]
        if now != expected:
            raise UserError(
                f"the champion changed while this {action} was being prepared: it is now {describe(now[0])}, "
                f"was {describe(expected[0])}; no tag written",
                hint=f"run the same command again: the {action} is then judged against the champion as it is now",
            )
        yield


def promote(commit: str, served_before: str | None, reason: str, champion: str | None = None) -> str:
    """Register `commit`'s model and assign it prod; the new version. On the first promotion, the model served
    before it (`served_before`, a commit) is registered and assigned first, so it can be rolled back to. Refused
    when the champion is no longer `champion` (None: none yet), the one the promotion was judged against."""
    name = model_artifact()
    with _one_switch_at_a_time(name, [champion], "promotion"), uninterruptible():  # never half the tags
        first = not in_stage(read_events(name))
        _require_registrable(name, [commit, served_before] if first and served_before else [commit])
        before = None
        if first and served_before and served_before != commit:
            before = _register(name, served_before, "the model served before the first promotion")
            _assign(name, before, "served before the first promotion")
        version = _register(name, commit, reason)
        if version != before:  # the same bytes: that version is in prod already
            _assign(name, version, reason)
    return version


def _require_registrable(name: str, commits: list[str]) -> None:
    """Refuse, before any tag, to register a commit whose version was deregistered (`gto deprecate NAME VERSION`):
    GTO registers no other version at that commit, nor that one again (its tag remains)."""
    events = read_events(name)
    for commit in commits:
        if version_at(events, commit) or _version_of_same_bytes(events, commit):
            continue
        gone = [event.version for event in events if event.version and event.commit == commit]
        if gone:
            raise UserError(
                f"cannot register commit {commit[:12]}: it was {name}@{gone[-1]}, deregistered, and GTO registers no "
                "version at that commit again; no tag written",
                hint="promote a new commit of it (`git commit --allow-empty -m re-release`, then "
                "`mlops deploy promote HEAD`)",
            )
    _require_free_version_tags(name, events, commits)


def _require_free_version_tags(name: str, events: list[Event], commits: list[str]) -> None:
    """Refuse, before any tag, when the version tag a registration would write exists already as a tag GTO does not
    read as a version (a lightweight `git tag lending-risk@v1.2.0`): GTO's register failed on it with a traceback,
    after the first promotion's tags for the model served before were written."""
    versions = [event.version for event in events if event.version]
    for commit in dict.fromkeys(commits):
        if version_at(events, commit) or _version_of_same_bytes(events, commit):
            continue
        versions.append(next_version(versions))
        tag = f"{name}@{versions[-1]}"
        if git.ref_exists(f"refs/tags/{tag}"):
            raise UserError(
                f"cannot register {tag}: a tag of that name exists already, and GTO does not read it as a version "
                "(a lightweight tag?); no tag written",
                hint=f"see it with `git show --no-patch {tag}`; if it is a stray, `git tag -d {tag}` and promote again",
            )


def rollback_pair() -> tuple[str, str]:
    """(the champion's commit, the previous champion's commit): what a rollback would switch from and to."""
    name = model_artifact()
    events = read_events(name)
    current = in_stage(events)
    if len(current) < 2:
        raise UserError(
            f"there is no earlier champion of {name} to roll back to", hint=f"see `gto show {name}` and `gto history`"
        )
    unversioned = [commit for commit in current[:2] if version_at(events, commit) is None]
    if unversioned:  # GTO (un)assigns a stage to a version only
        shown = ("commits " if len(unversioned) > 1 else "commit ") + " and ".join(c[:12] for c in unversioned)
        registers = " && ".join(f"gto register {name} {commit}" for commit in unversioned)
        raise UserError(
            f"cannot roll back: stage prod of {name} is assigned to {shown} with no version tag (deleted by hand?); "
            "no tag written",
            hint=f"register again: `{registers}`, then `mlops deploy rollback`",
        )
    return current[0], current[1]


def rollback(champion: str, previous: str) -> None:
    """Unassign prod from `champion` and assign it again to `previous` (commits, as `rollback_pair` gives them)."""
    import gto.api

    name = model_artifact()
    events = read_events(name)
    message = f"rollback from {version_at(events, champion)}"
    with _one_switch_at_a_time(name, [champion, previous], "rollback"), uninterruptible():  # never half-way
        _after_the_last_stage_tag(name)
        gto.api.unassign(".", name, stage=PROD, version=version_at(events, champion), message=message)
        _assign(name, version_at(events, previous), message)
