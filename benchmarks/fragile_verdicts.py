"""How well the fragile-verdict rules (``selrob.tables.claims``) flag the verdicts that changed
between two hosts: the claims files one host committed and those a second host wrote from a fresh
clone of the same code (``../shared/reference/claims-second-machine/``), where 4 of 34 verdicts
differ.

    python benchmarks/fragile_verdicts.py [--committed COMMIT] [--runs-dir RUNS --data-dir DATA]
    python benchmarks/fragile_verdicts.py --hosts EARLIER LATER

Rule 2 (:func:`~selrob.tables.claims.at_the_edge`, a plausible spread) needs only a claims file,
so it runs on both files, at the chosen spread confidence and at others. Rule 1 (leaving one seed
or pair out) needs the replicates' values: with ``--runs-dir`` it runs on the runs there (a host
that reproduces a study's claims file digit for digit holds its per-seed data; the script says which
file each study's claims there equal). Writes ``benchmarks/results/fragile_verdicts.json``.

With ``--hosts`` it checks the rules out of sample instead: two commits whose claims files two
hosts wrote from a fresh clone of the same code; the verdicts that changed between them, against
what the earlier files marked fragile (both rules, as the files carry them, and rule 2 alone at
several spread confidences). Writes ``benchmarks/results/fragile_verdicts_hosts.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from selrob.tables import claims as claims_module

REPO = Path(__file__).resolve().parents[1]
SECOND = REPO.parent / "shared" / "reference" / "claims-second-machine"
RESULTS = REPO / "benchmarks" / "results"
STUDIES = ("selectivity", "shape_bias")
#: Every study with a claims file, for the out-of-sample check.
ALL_STUDIES = (*STUDIES, "bridge")
#: The commit whose committed claims files the second host's are compared with.
COMMITTED = "243e8d2"


def committed_table(commit: str, study: str) -> pd.DataFrame:
    """The claims table of ``study`` committed at ``commit``."""
    return pd.read_csv(io.StringIO(_committed_text(commit, f"figures/claims_{study}.csv")))


def _committed_text(commit: str, path: str) -> str:
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True)
    if shown.returncode != 0:
        raise SystemExit(f"no {path} at commit {commit}: {shown.stderr.strip()}")
    return shown.stdout


def across_hosts(earlier: str, later: str, confidences: list[float]) -> dict[str, Any]:
    """The verdicts that changed between the claims files committed at ``earlier`` and ``later``,
    and which of them (and of the others) the earlier files had marked fragile."""
    tables = {commit: pd.concat([committed_table(commit, s) for s in ALL_STUDIES], ignore_index=True)
              for commit in (earlier, later)}
    before, after = tables[earlier], tables[later]
    if list(before["claim"]) != list(after["claim"]):
        raise SystemExit(f"the claims of {earlier} and {later} differ; compare files of the same code")
    changed = before["verdict"] != after["verdict"]
    left_out = before["fragile_because"].fillna("").str.contains(claims_module.LEFT_OUT_REASON, regex=False)

    def flagged(flags: pd.Series) -> dict[str, Any]:
        return {"changed_flagged": sorted(before.loc[flags & changed, "claim"]),
                "changed_not_flagged": sorted(before.loc[~flags & changed, "claim"]),
                "others_flagged": int((flags & ~changed).sum()), "others": int((~changed).sum())}

    return {"benchmark": "fragile_verdicts", "device": "-", "earlier": earlier, "later": later,
            "hosts": {commit: sorted(set(_trained_on(commit))) for commit in (earlier, later)},
            "claims": len(before),
            "changed": {row.claim: f"{row.verdict} -> {verdict}" for row, verdict
                        in zip(before[changed].itertuples(), after.loc[changed, "verdict"])},
            "either_rule": flagged(before["fragile"].astype(bool)),
            "rule_1_leave_one_out": flagged(left_out),
            "rule_2_spread": {f"{c:g}": flagged(claims_module.fragile_rows(before, c)) for c in confidences}}


def _trained_on(commit: str) -> list[str]:
    """The "Runs trained on" lines of the claims reports committed at ``commit``."""
    lines = []
    for study in ALL_STUDIES:
        text = _committed_text(commit, f"figures/claims_{study}.md")
        lines += [line.split(" with ")[0].removeprefix("Runs trained on ") for line in text.splitlines()
                  if line.startswith("Runs trained on ")]
    return lines


def rule_two(files: dict[str, pd.DataFrame], changed: set[str], confidences: list[float]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for confidence in confidences:
        for name, table in files.items():
            flags = claims_module.fragile_rows(table, confidence)
            result[f"{confidence:g} {name}"] = {
                "changed_flagged": sorted(table.loc[flags & table["claim"].isin(changed), "claim"]),
                "others_flagged": sorted(table.loc[flags & ~table["claim"].isin(changed), "claim"]),
                "others": int((~table["claim"].isin(changed)).sum()),
            }
    return result


def _differing(table: pd.DataFrame, reference: pd.DataFrame) -> list[str]:
    """The claims whose effect differs from ``reference``'s beyond rounding (all when it has other claims)."""
    merged = table.merge(reference, on="claim", suffixes=("", "_file"))
    if len(merged) != len(table):
        return list(table["claim"])
    tolerance = 1e-9 * merged["effect_file"].abs().clip(lower=1e-12)
    return list(merged.loc[(merged["effect"] - merged["effect_file"]).abs() > tolerance, "claim"])


def rule_one(runs_dir: Path, data_dir: Path | None, files: dict[str, pd.DataFrame], changed: set[str]) -> dict[str, Any]:
    """Leave-one-out on the runs of ``runs_dir``, per study, with which of ``files`` the study's
    claims there reproduce (the file whose per-seed data they are)."""
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.studies import studies

    options = ReproduceOptions(runs_dir=runs_dir, data_dir=data_dir)
    result: dict[str, Any] = {}
    for study in STUDIES:
        table = studies()[study].claims(options, None, None)[0]
        left_out = table["fragile_because"].str.contains(claims_module.LEFT_OUT_REASON, regex=False)
        result[study] = {
            # Per file, the claims whose effect differs: none (or a few) where its per-seed data is these runs.
            "differs_from": {name: _differing(table, reference) for name, reference in files.items()},
            "changed_flagged": sorted(table.loc[left_out & table["claim"].isin(changed), "claim"]),
            "changed_not_flagged": sorted(table.loc[~left_out & table["claim"].isin(changed), "claim"]),
            "others_flagged": sorted(table.loc[left_out & ~table["claim"].isin(changed), "claim"]),
            "others": int((~table["claim"].isin(changed)).sum()),
            "why": {row.claim: row.fragile_because for row in table[left_out].itertuples()}}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--committed", default=COMMITTED, help="the commit whose claims files are compared")
    parser.add_argument("--runs-dir", type=Path, help="runs whose per-seed data rule 1 reads")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--hosts", nargs=2, metavar=("EARLIER", "LATER"),
                        help="two commits whose claims files two hosts wrote: the out-of-sample check")
    args = parser.parse_args()
    if args.hosts is not None and (args.runs_dir is not None or args.committed != COMMITTED):
        parser.error("--hosts compares two commits' claims files; --committed and --runs-dir belong to the other check")
    if args.hosts is not None:
        _write("fragile_verdicts_hosts.json", across_hosts(*args.hosts, [0.6, claims_module.SPREAD_CONFIDENCE, 0.9, 0.95, 0.99]))
        return
    files = {"committed": pd.concat([committed_table(args.committed, s) for s in STUDIES], ignore_index=True),
             "second": pd.concat([pd.read_csv(SECOND / f"claims_{s}.csv") for s in STUDIES], ignore_index=True)}
    merged = files["committed"].merge(files["second"], on="claim", suffixes=("", "_second"))
    changed = set(merged.loc[merged["verdict"] != merged["verdict_second"], "claim"])
    document: dict[str, Any] = {
        "benchmark": "fragile_verdicts", "device": "-", "committed_commit": args.committed,
        "changed_verdicts": sorted(changed), "claims": len(merged),
        "rule_2_spread": rule_two(files, changed, [0.6, claims_module.SPREAD_CONFIDENCE, 0.9]),
    }
    if args.runs_dir is not None:
        document["rule_1_leave_one_out_on_runs"] = rule_one(args.runs_dir, args.data_dir, files, changed)
    _write("fragile_verdicts.json", document)


def _write(name: str, document: dict[str, Any]) -> None:
    """Write ``document`` to ``benchmarks/results/name`` and print it."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
