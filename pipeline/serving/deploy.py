"""Deploying: which model is the champion. A revision is promoted only when it passes the gate against the current
champion, both scored on the test loans neither trained on; a rollback returns to the previous champion. The
record is the registry's (`registry`: GTO tags), so a running `mlops serve` follows every switch."""

from __future__ import annotations

import contextlib
import shlex
from dataclasses import dataclass

from hooks import git
from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments.compare import Comparison, compare_revisions, splits_at, table_lines
from pipeline.experiments.settings import SUBSET_KEY, flat_params, full_data_settings
from pipeline.params import load_params
from pipeline.serving import registry
from pipeline.serving.app import load_served_model
from pipeline.versioning import dvc_seam
from pipeline.versioning.journal import final_step


@dataclass(frozen=True)
class Promotion:
    """A promotion judged by the gate: promoted only when `passed`."""

    rev: str  # as the user named it
    commit: str
    champion_before: str  # the commit compared against: the champion, else HEAD before the first promotion
    comparison: Comparison | None  # None: the first promotion, of HEAD itself (nothing else to compare with)
    table: list[str]  # the key metrics of both models side by side (empty with too few loans to compare)
    verdict: str  # the gate's sentence
    passed: bool | None  # None: too few unseen loans to tell
    described: str  # the promoted revision as the registry names it (after the promotion)
    model_md5: str
    recorded_for_rollback: str | None  # the model served before the first promotion, now registered
    same_model_as: str | None  # the registered version whose model REV's is (its bytes): assigned, not registered
    uncommitted: list[str]  # the workspace's uncommitted changes when HEAD is promoted: its model is not HEAD's
    had_champion: bool = True  # False: the first promotion, judged against HEAD's model

    @property
    def judged_against(self) -> str:
        """The model the gate set REV against, in words: the champion's, else (the first promotion) HEAD's."""
        label = reference_label(self.champion_before, self.had_champion)
        return f"the {label}" if self.had_champion else f"{label} (no champion yet)"

    def why_not(self) -> str:
        return "too few unseen loans to tell" if self.passed is None else "worse beyond the tolerance"


def reference_label(commit: str, champion: bool) -> str:
    """How tables name the model a promotion is judged against: the champion's, else HEAD's."""
    return f"{'champion' if champion else 'HEAD'} {commit[:12]}"


class AlreadyChampion(Exception):
    """The revision to promote is the champion already: nothing to do (and nothing wrong)."""


@dataclass(frozen=True)
class Rollback:
    champion: str  # the champion now, as the registry names it
    was: str  # the champion before the rollback


def gate_sentence(comparison: Comparison, tolerance: float | None) -> str:
    """The gate's verdict in one line: the ROC AUC change, its paired interval, its word and the tolerance."""
    passed = comparison.passes(tolerance)
    if passed is None:
        return f"gate undecided: {comparison.too_few()}"
    used = comparison.default_tolerance() if tolerance is None else tolerance
    return (
        f"gate {'passes' if passed else 'FAILS'}: roc_auc {comparison.reference['roc_auc']:.4f} -> "
        f"{comparison.candidate['roc_auc']:.4f} ({comparison.interval()}: {comparison.word}; tolerance {used:.4f})"
    )


def promote(rev: str, tolerance: float | None) -> Promotion:
    """Make `rev` the champion (stage prod of the model artifact) if it passes the gate against the current
    champion: registers its model as a version and assigns it prod, as GTO git tags."""
    dvc_seam.require_repo()
    commit = registry.commit_named(rev)
    if commit is None:
        raise UserError(
            f"{rev!r} is not a commit, branch or tag here",
            hint="see `git log --oneline`; an experiment is promoted with `mlops exp promote NAME` (a commit of it)",
        )
    current = registry.champion_commit()
    if current == commit:
        described = registry.describe(commit)  # a version reference typed as such is not named twice
        named = described if described.startswith(f"{rev} ") else f"{rev}: {described}"
        raise AlreadyChampion(f"{named} is already the champion: nothing to do.")
    if current is not None and (md5 := same_model(commit, current)):
        # another commit of the same model (a README change): the gate would judge the model by itself
        raise AlreadyChampion(
            f"{registry.describe(current)} is already the champion: {rev}'s model is the same bytes "
            f"(md5 {md5[:12]}): nothing to do."
        )
    registry.require_tagger()  # before the gate, which takes a while
    registered = registry.version_of_same_model(commit)  # a revert to an earlier model: that version again
    head = dvc_seam.resolve_commit("HEAD")
    uncommitted = git.uncommitted_changes() if commit == head else []
    reference_rev = current or head
    heads_model = current is None and (reference_rev == commit or same_model(commit, head) is not None)
    try:
        served = load_served_model(commit, rev)  # the server must be able to load it: check now
        require_full_data(commit, rev)
        if heads_model:  # the first promotion, of HEAD's model: no other model to judge it against
            first = "the first is HEAD's model" if reference_rev == commit else f"{rev}'s model is HEAD's (same bytes)"
            comparison, verdict, passed = None, f"No champion yet, and {first}: no gate to pass.", True
        else:
            comparison = compare_revisions(
                load_served_model(reference_rev, None if current else "HEAD", champion=current is not None),
                served,
                splits_at(reference_rev, typed=None if current else "HEAD", champion=current is not None),
                splits_at(commit, typed=rev),
                dvc_seam.params_at(commit),
                (reference_label(reference_rev, current is not None), rev),
            )
            verdict, passed = gate_sentence(comparison, tolerance), comparison.passes(tolerance)
    except UserError as error:
        raise named_as_typed(error, commit, rev if registry.resolve(rev) == rev else commit[:12]) from None
    recorded = None
    # Once its tags are written, the promotion is done: a stop then ends nothing half-way, and is said as such.
    with final_step("the promotion was registered") if passed else contextlib.nullcontext():
        if passed:
            served_before = None if heads_model else reference_rev  # the same model: nothing else to roll back to
            registry.promote(
                registered or commit, served_before=served_before, reason=f"promote {rev}: {verdict}", champion=current
            )
            if current is None and served_before:
                recorded = registry.describe(registry.version_of_same_model(reference_rev) or reference_rev)
        described = registry.describe(registered or commit)
        same_model_as = registry.describe(registered) if registered else None
    return Promotion(
        rev=rev,
        commit=commit,
        champion_before=reference_rev,
        comparison=comparison,
        table=table_lines(comparison) if comparison and comparison.enough else [],
        verdict=verdict,
        passed=passed,
        described=described,
        model_md5=served.md5,
        recorded_for_rollback=recorded,
        same_model_as=same_model_as,
        uncommitted=uncommitted,
        had_champion=current is not None,
    )


def require_full_data(commit: str, rev: str) -> None:
    """Refuse a subset run's model (trained on part of the training split): `mlops exp promote` refuses it, and the
    hooks refuse its dvc.lock on a branch, but its commit id (or a tag on it) went through to stage prod."""
    fraction = dvc_seam.params_at(commit).data.sample_frac
    if fraction < 1.0:
        raise UserError(
            f"{rev} is a subset run ({SUBSET_KEY} = {fraction!r}): its model saw {fraction:.0%} of the training "
            "split; no tag written",
            hint=full_data_hint(commit),
        )


def full_data_hint(commit: str) -> str:
    """How to promote a subset run's settings trained on all the data."""
    settings = full_data_settings(flat_params(dvc_seam.params_at(commit)), flat_params(load_params()))
    if not settings:
        return (
            "its other params are the workspace's: promote the workspace's own run on all the data (`mlops repro`, "
            "commit, then `mlops deploy promote HEAD`)"
        )
    return (
        f"run it on all the data (`mlops exp run {settings}`), `mlops exp promote` that run, then "
        "`mlops deploy promote HEAD`"
    )


def same_model(commit: str, other: str) -> str | None:
    """The model md5 both commits' `dvc.lock` record, when they record the same one (the same bytes), else None."""
    md5 = dvc_seam.recorded_md5_at(commit, paths.MODEL, missing_ok=True)
    return md5 if md5 is not None and md5 == dvc_seam.recorded_md5_at(other, paths.MODEL, missing_ok=True) else None


def named_as_typed(error: UserError, commit: str, name: str) -> UserError:
    """`error` with the full commit id the reading was pinned to (so that the commit judged is the one tagged) named
    as the user typed it (`v1`), in its message and in the command its hint gives."""
    if commit == name:
        return error
    hint = error.hint.replace(f"--rev {commit}", f"--rev {shlex.quote(name)}")
    return UserError(error.message.replace(commit, name), hint.replace(commit, name))


def rollback() -> Rollback:
    """Make the previous champion the champion again (prod unassigned from the current one and assigned again to
    the previous one, as GTO git tags), once its model is known to load."""
    dvc_seam.require_repo()
    registry.require_tagger()
    before, after = registry.rollback_pair()
    require_loadable(after, "roll back to")
    with final_step("the rollback was registered"):
        registry.rollback(before, after)
        return Rollback(champion=registry.describe(after), was=registry.describe(before))


def require_loadable(commit: str, action: str) -> None:
    """Load `commit`'s model (hash-checked) before any tag moves: a switch to a model nobody can load would leave
    the registry naming one model while running servers keep another."""
    try:
        load_served_model(commit)
    except UserError as error:
        raise UserError(
            f"cannot {action} {registry.describe(commit)}: its model cannot be loaded ({error.message}); "
            "no tag written",
            hint=f"fetch it first: `{dvc_seam.pull_command(commit[:12])}` (an experiment's: `mlops exp pull`)",
        ) from None
