"""The ``sparring`` subcommands: each ``cmd_*`` takes the parsed arguments and a console
and returns the exit code; :mod:`sparring.cli` builds the parser and reports errors."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape


def debug_requested() -> bool:
    """Whether ``SPARRING_DEBUG`` asks for full tracebacks (as ``--debug`` does)."""
    return os.environ.get("SPARRING_DEBUG", "").lower() in ("1", "true", "yes")


def _key_values(items: list[str], what: str) -> list[str]:
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} {item!r} must look like key=value")
    return items


def arena_kwargs(items: list[str]) -> dict[str, Any]:
    """``--arena-arg KEY=VALUE`` items as constructor kwargs; values read as TOML (else strings)."""
    from sparring.runs.recipes.config import apply_overrides

    return apply_overrides({}, _key_values(items, "--arena-arg"))


def role_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--role SEAT.FIELD=VALUE`` items per seat; values read as TOML (else strings)."""
    from sparring.runs.recipes.config import parse_override

    roles: dict[str, dict[str, Any]] = {}
    for item in _key_values(items, "--role option"):
        path, value = parse_override(item)
        if len(path) != 2:
            key = item.partition("=")[0].strip()
            raise ValueError(f"--role {key}=... must look like SEAT.FIELD=VALUE (e.g. solver.temperature=1.0)")
        roles.setdefault(path[0], {})[path[1]] = value
    return roles


def adapter_folders(items: list[str]) -> dict[str, str]:
    """``--adapter NAME=PATH`` items (the path is taken as written, not parsed)."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise ValueError(f"--adapter {item!r} must look like NAME=PATH (e.g. judge=out/run/adapters/judge/v3)")
        if name.strip() in out:
            raise ValueError(f"--adapter {name.strip()!r} is given twice")
        out[name.strip()] = path.strip()
    return out


def server_options(items: list[str]) -> dict[str, Any]:
    """``--server KEY=VALUE`` items as the fields of a ``[model.server]`` section; values read
    as TOML (else strings). The keys and values are checked with the engine (before any model loads)."""
    from sparring.runs.recipes.config import apply_overrides

    return apply_overrides({}, _key_values(items, "--server"))


def ray_options(args: argparse.Namespace) -> Any:
    """``--ray [ADDRESS]`` and ``--ray-workers N`` as RayOptions, or ``None`` without ``--ray``."""
    if args.ray is None:
        if args.ray_workers is not None:
            raise ValueError("--ray-workers needs --ray [ADDRESS] (the workers are Ray actors)")
        return None
    if args.ray.endswith(".toml"):
        raise ValueError(f"--ray {args.ray}: that is a file, not a Ray address; put --ray after it or "
                         "write --ray=ADDRESS")
    from sparring.runs.playing.distributed import (
        RayOptions,  # imports no Ray; starting the workers does
    )

    workers = 2 if args.ray_workers is None else args.ray_workers
    return RayOptions(address=args.ray or None, workers=workers)


def cmd_play(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.playing.play import PlayConfig, play
    from sparring.user_errors import print_match_crashes

    config = PlayConfig(
        arena=args.arena, out=args.out, matches=args.matches, seed=args.seed, model=args.model,
        dtype=args.dtype, device=args.device, batch_size=args.batch_size,
        max_in_flight=args.max_in_flight, arena_kwargs=arena_kwargs(args.arena_arg),
        roles=role_options(args.role), adapters=adapter_folders(args.adapter),
        engine=args.engine, server=server_options(args.server),
    )
    summary = play(config, progress=not args.quiet, ray=ray_options(args))
    from rich.table import Table

    table = Table(title=f"{summary.matches} matches played → {summary.out}", show_header=True)
    for col, justify in (("reward", "left"), ("seat", "left"), ("mean", "right"), ("std", "right"), ("n", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for key, stat in summary.rewards.items():
        name, _, seat = key.rpartition("/")
        table.add_row(name, seat, f"{stat['mean']:.3f}", f"{stat['std']:.3f}", f"{int(stat['count'])}")
    console.print(table)
    if summary.seats:
        console.print("parse failures: " + ", ".join(
            f"{seat} {int(s['parse_errors'])}/{int(s['turns'])} ({s['parse_error_rate']:.0%})"
            for seat, s in summary.seats.items()))
    # Arena-declared monitors (Arena.monitors()): printed as the arena names them.
    if summary.monitors:
        console.print("monitors: " + ", ".join(f"{key} {value:.3g}" for key, value in summary.monitors.items()))
    console.print(
        f"matches: {summary.matches} played, {summary.skipped} already stored, {summary.errors} errors; "
        f"turns: {summary.turns} ({summary.parse_errors} unparseable); "
        f"{summary.generated_tokens} tokens in {summary.seconds:.1f} s = "
        f"[bold]{summary.tokens_per_second:.1f} tokens/s[/]"
    )
    print_match_crashes(console, summary.crashes, summary.errors, summary.matches, summary.out,
                        debug=getattr(args, "debug", False) or debug_requested())
    return 0 if summary.errors == 0 else 1


def _adapter_sources(run: Path) -> dict[str, str]:
    config = run / "config.toml"
    if not config.exists():
        return {}
    recorded = tomllib.loads(config.read_text())
    return {name: info.get("source", "?") for name, info in recorded.get("adapters", {}).items()}


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.analysis.show import show
    from sparring.runs.storage.rundir import RunDir

    with RunDir.existing(args.dir).open_store() as store:
        if args.match and any(store.branch(m) for m in args.match):  # a whatif branch: beside its original
            from sparring.runs.analysis.show import render_transcript
            from sparring.runs.analysis.show_branch import render_branch

            for m in args.match:
                info = store.branch(m)
                console.print(render_transcript(store.get(m), role=args.role, full=args.full) if info is None else
                              render_branch(store.get(info["parent"]), store.get(m), info, full=args.full))
            return 0
        if args.match:
            transcripts = [store.get(m) for m in args.match]
            for m in args.match:
                kids = [b["match_id"] for b in store.branches(m)]
                if kids:
                    console.print(f"[dim]{escape(m)} has {len(kids)} whatif branch(es): {escape(', '.join(kids[:5]))}"
                                  f"{' …' if len(kids) > 5 else ''}; show one beside it with --match ID[/]")
        else:
            ids = store.match_ids(role=args.role, status=args.status)
            transcripts = [store.get(m) for m in ids[: args.limit]]
        metrics = [] if args.match else store.metrics()  # held-out figures follow the run's match list
    if not transcripts:
        console.print("no matches stored")
        return 1
    show(console, transcripts, role=args.role, full=args.full, adapters=_adapter_sources(Path(args.dir)),
         metrics=metrics)
    return 0


def _runs_code_notice(command: str, run: str) -> None:
    """The one line ``replay`` and ``rescore`` print on stderr: they import code the run records."""
    Console(stderr=True, soft_wrap=True).print(
        f"note: {command} imports and runs the arena code {escape(run)} records (a file.py:Class arena runs from "
        "its recorded path); use it only on runs you trust")


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from sparring.arenas.replay import replay
    from sparring.runs.storage.rundir import RunDir

    with RunDir.existing(args.dir).open_store() as store:
        _runs_code_notice("replay", args.dir)
        ids = args.match or store.match_ids()
        if not args.match and not args.all:
            ids = ids[:1]
        bad = 0
        for match_id in ids:
            result = replay(store.get(match_id))
            if result.identical:
                console.print(f"[green]✓[/] {escape(match_id)}: transcript reproduced exactly")
            else:
                bad += 1
                console.print(f"[red]✗[/] {escape(match_id)}: replay differs")
                for line in result.differences[:10]:
                    console.print(f"    {escape(line)}")
    if args.all or len(ids) > 1:
        console.print(f"{len(ids) - bad}/{len(ids)} reproduced exactly")
    return 1 if bad else 0


def cmd_arenas(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from sparring.arenas import registered

    table = Table(title="registered arenas")
    for col in ("id", "short name", "seats", "zero-sum", "reward bounds"):
        table.add_column(col)
    for arena_id, cls in sorted(registered().items()):
        table.add_row(arena_id, cls.short_name or "", ", ".join(cls.roles), str(cls.zero_sum), str(cls.reward_bounds))
    console.print(table)
    return 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from sparring.arenas import ConformanceError, check_arena, make, registered
    from sparring.arenas.failures import user_traceback

    debug = getattr(args, "debug", False) or debug_requested()
    names = args.arena or sorted(registered())
    kwargs = arena_kwargs(args.arena_arg)
    failed = 0
    for name in names:
        try:
            report = check_arena(make(name, **kwargs))
        except ConformanceError as exc:
            failed += 1
            console.print(f"[red]✗[/] {escape(str(exc))}")
            for crash in exc.crashes:  # where the arena's, a parser's or a reward's code broke
                console.print(escape(user_traceback(crash, full=debug)))
            continue
        console.print(f"[green]✓[/] {report.arena}: {report.matches} matches, {report.turns} turns")
        console.print("  checked:")
        for rule in report.rules:
            console.print(f"    - {escape(rule)}")
        for warning in report.warnings:
            console.print(f"  [yellow]warning:[/] {escape(warning)}")
    return 1 if failed else 0


MIN_TEST_ITEMS = 500
"""Distinct test items an evaluation needs; ``sparring tasks`` marks a split with fewer."""


def task_splits(names: list[str], draws: int = 20_000, seed: int = 0) -> dict[str, Any]:
    """Distinct items per split of each family (by name, ``.jsonl`` path or ``file.py:attr``;
    every registered family when ``names`` is empty) at each difficulty, counted with
    :meth:`TaskFamily.split_counts` over ``draws`` draws: what ``sparring tasks`` prints."""
    from sparring.arenas.tasks import families, get_family

    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"--draws must be a positive whole number, got {draws!r}")
    out: dict[str, Any] = {}
    for name in names or list(families()):
        family = get_family(name)
        low, high = family.difficulties
        counts = {}
        for difficulty in range(low, high + 1):
            split = family.split_counts(difficulty, draws=draws, seed=seed)
            counts[str(difficulty)] = {**split, "distinct": sum(split.values()),
                                       "test_too_small": split["test"] < MIN_TEST_ITEMS}
        out[name] = {"difficulties": [low, high], "counts": counts}
    return {"draws": draws, "seed": seed, "min_test_items": MIN_TEST_ITEMS, "families": out}


def cmd_tasks(args: argparse.Namespace, console: Console) -> int:
    import json

    from rich import box
    from rich.table import Table

    report = task_splits(args.family, draws=args.draws)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    table = Table(title=f"distinct items per split among {args.draws} draws at each difficulty", box=box.SIMPLE_HEAD)
    for col in ("family", "difficulty", "train", "validation", "test", ""):
        table.add_column(col, justify="left" if col in ("family", "") else "right")
    for name, entry in report["families"].items():
        for difficulty, c in entry["counts"].items():
            note = f"[yellow]too small for a {MIN_TEST_ITEMS}-item test set[/]" if c["test_too_small"] else ""
            table.add_row(escape(name), difficulty, str(c["train"]), str(c["validation"]), str(c["test"]), note)
    console.print(table)
    console.print("counts are lower bounds (distinct prompts seen in the draws); a split's items are chosen by "
                  "a hash of the normalised prompt")
    return 0


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.training.train import train

    ray = ray_options(args)
    if args.resume:
        if args.recipe and not args.recipe.endswith(".toml") and "=" in args.recipe:
            args.overrides.insert(0, args.recipe)
            args.recipe = None
        out = args.resume
        recipe = args.recipe or str(Path(out) / "recipe.toml")
    else:
        if not args.recipe or not args.out:
            raise ValueError("train needs a RECIPE and --out DIR (or --resume DIR)")
        out, recipe = args.out, args.recipe
    reports = train(recipe, out, resume=bool(args.resume), overrides=args.overrides, ray=ray,
                    debug=getattr(args, "debug", False) or debug_requested())
    console.print(f"trained {len(reports)} iteration(s) into {out}")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    if args.format == "html":
        from sparring.runs.analysis.viewer import export_html

        console.print(f"match {escape(str(args.match))} written to {escape(str(export_html(args.dir, args.match, args.to)))}")
        return 0
    if args.match:
        raise ValueError("export: --match selects the match of --format html; dataset formats export every match")
    from sparring.runs.storage.export import export

    rows = export(args.dir, args.format, args.to, role=args.role, reward=args.reward,
                  builder=args.builder, margin=args.margin, min_reward=args.min_reward,
                  iteration=args.iteration)
    console.print(f"{rows} {args.format} rows written to {args.to}")
    return 0


def cmd_view(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.analysis.viewer import serve

    serve(args.dir, host=args.host, port=args.port, allow_remote=args.allow_remote)
    return 0


def cmd_tournament(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.tournaments.tournament import run_tournament
    from sparring.user_errors import print_match_crashes

    summary = run_tournament(args.config, args.out, progress=not args.quiet, overrides=args.overrides,
                             ray=ray_options(args))
    console.print(
        f"tournament → {summary.out}: {summary.scheduled} matches scheduled in {summary.rounds} round(s), "
        f"{summary.played} played, {summary.skipped} already stored, {summary.errors} errors; "
        f"{summary.generated_tokens} tokens in {summary.seconds:.1f} s = {summary.tokens_per_second:.1f} tokens/s"
    )
    print_match_crashes(console, summary.crashes, summary.errors, summary.played, summary.out,
                        debug=getattr(args, "debug", False) or debug_requested())
    console.print(f"rate the players with 'sparring ratings {summary.out}'")
    return 0 if summary.errors == 0 else 1


def cmd_ratings(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from sparring.runs.tournaments.run_ratings import rate_run

    result = rate_run(args.dir, bootstrap=args.bootstrap, seed=args.seed, plots=not args.no_plots)
    report = result.report
    from rich import box

    table = Table(title=f"ratings of {report.games} games ({args.dir})", box=box.SIMPLE_HEAD,
                  caption="W/D/L: wins, draws, losses")
    for col in ("player", "BT", "95% CI", "Elo", "mu", "sigma", "games", "W", "D", "L"):
        table.add_column(col, justify="left" if col == "player" else "right")
    for r in report.ratings:
        table.add_row(escape(r.player), f"{r.bt:.0f}", f"{r.bt_low:.0f}–{r.bt_high:.0f}", f"{r.elo:.0f}",
                      f"{r.mu:.2f}", f"{r.sigma:.2f}", str(r.games), str(r.wins), str(r.draws), str(r.losses))
    console.print(table)
    console.print(f"first-mover advantage (BT seat term): {report.first_mover_advantage:+.0f} rating points "
                  f"(95% CI {report.first_mover_low:+.0f} to {report.first_mover_high:+.0f})")
    console.print("BT: Bradley–Terry MLE (Elo scale, mean 1000) with a seat term and a percentile bootstrap over "
                  f"games resampled within each pairing and seat order ({args.bootstrap} resamples); Elo: online, "
                  "K=16, in play order; mu/sigma: openskill Plackett–Luce")
    if result.no_result:
        console.print(f"{result.no_result} finished match(es) had no result (a seat without a reward) and are left out")
    if report.cycles:
        console.print(f"[yellow]{len(report.cycles)} preference cycle(s) in the pairwise majority graph; "
                      "the BT ratings summarise a non-transitive relation:[/]")
        for cycle in report.cycles[:20]:
            console.print(f"  {escape(str(cycle))}")
        if len(report.cycles) > 20:
            console.print(f"  ... and {len(report.cycles) - 20} more (all in ratings.json)")
    else:
        console.print("no preference cycles: the pairwise majority relation is transitive")
    for path in result.files:
        console.print(f"wrote {escape(str(path))}")
    return 0


def cmd_rescore(args: argparse.Namespace, console: Console) -> int:
    from rich import box
    from rich.table import Table

    from sparring.runs.analysis.rescore import rescore
    from sparring.runs.storage.rundir import RunDir

    RunDir.existing(args.dir)  # a missing run is one error line, before the notice
    _runs_code_notice("rescore", args.dir)
    s = rescore(args.dir, reward=args.reward, metric=args.metric)
    show = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    if s.reward is not None:
        table = Table(title=f"rescore {s.rescore_id}: reward {s.reward} ({s.source}) on {args.dir}", box=box.SIMPLE_HEAD)
        for col in ("reward", "seat", "stored mean", "rescored mean", "stored n", "rescored n", "changed"):
            table.add_column(col, justify="left" if col in ("reward", "seat") else "right")
        for row in s.rewards:
            table.add_row(escape(row.reward), escape(row.seat), show(row.old_mean), show(row.new_mean),
                          str(row.old_count), str(row.new_count), str(row.changed))
        console.print(table)
        console.print(f"{s.scored} matches rescored, {s.skipped} already rescored, {s.abstained} abstained, "
                      f"{s.not_applicable} of arenas without this reward; stored rewards left as they were")
    if s.metric is not None:
        table = Table(title=f"rescore {s.metric_id}: metric {s.metric} on {args.dir}", box=box.SIMPLE_HEAD)
        for col in ("iteration", "metric", "rescored", "stored"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for iteration, key, value, stored in s.metrics:
            table.add_row(str(iteration), escape(key), show(value), show(stored))
        console.print(table)
    return 0


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    import json
    import math

    from sparring.runs.training.adapter_eval import evaluate_targets, resolve_target

    parts = [p.strip() for p in str(args.difficulty).replace("[", "").replace("]", "").split(",")]
    if not all(p.lstrip("-").isdigit() for p in parts) or len(parts) not in (1, 2):
        raise ValueError(f"--difficulty {args.difficulty!r}: give a whole number or LOW,HIGH (e.g. 1,2)")
    difficulty: Any = int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]
    targets = [resolve_target(args.target), *([resolve_target(args.against)] if args.against else [])]
    result = evaluate_targets(targets, family=args.family, split=args.split, difficulty=difficulty, size=args.size,
                              k=args.k, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                              model=args.model, dtype=args.dtype, batch_size=args.batch_size,
                              progress=not args.quiet and args.json != "-")
    text = json.dumps(result, indent=2, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
    if args.json == "-":
        print(text)
        return 0
    if args.json:
        Path(args.json).write_text(text + "\n")
    console.print(f"{result['family']} {result['split']} difficulty {result['difficulty']}: {result['n_items']} "
                  f"items ({result['n_distinct']} distinct), k={result['k']}, temperature {result['temperature']}")
    for label, summary in result["targets"].items():
        for metric, v in summary.items():
            if isinstance(v, dict):
                console.print(f"  {escape(label)}: {metric} {v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]")
    if "comparison" in result:
        c = result["comparison"]
        extra = f", McNemar p={c['mcnemar_p']:.3g} ({c['only_first']:.0f} vs {c['only_second']:.0f} items right " \
                "on one side only)" if "mcnemar_p" in c else ""
        console.print(f"  {escape(c['second'])} - {escape(c['first'])}: {c['metric']} {c['difference']:+.3f} "
                      f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] (paired){extra}")
    return 0
