"""The ``sparring`` command line: play, show, replay, arenas, check, train, export, view, tournament, ratings,
rescore.

Errors: a mistake in the input (a bad flag value, an unknown arena, a missing folder, a
recipe field) is printed as one line, ``error: ...``, and exits 2. Anything else is a
bug in sparring or a library under it: its type, the line that raised it and a hint to
rerun with ``--debug`` (or ``SPARRING_DEBUG=1``), which prints the full traceback; it
exits 1. An input mistake is one of the error classes raised for users (``RecipeError``,
``ArenaError``, ``ConformanceError``, the file errors), or a ``ValueError``,
``LookupError``, ``TypeError`` or ``RuntimeError`` raised by a ``raise`` statement in
sparring's own code (its validation and "install X" messages). The same classes raised
inside torch or transformers, or by a failing built-in call in our code (``int("x")``,
``d[missing]``), are bugs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
import traceback
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

_SOURCE_ROOT = Path(__file__).resolve().parents[1]
_PACKAGE_DIRS = ("agents", "arenas", "rewards", "runs", "sparring")


def _key_values(items: list[str], what: str) -> list[str]:
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} {item!r} must look like key=value")
    return items


def arena_kwargs(items: list[str]) -> dict[str, Any]:
    """``--arena-arg KEY=VALUE`` items as constructor kwargs; values read as TOML (else strings)."""
    from sparring.runs.config import apply_overrides

    return apply_overrides({}, _key_values(items, "--arena-arg"))


def role_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--role SEAT.FIELD=VALUE`` items per seat; values read as TOML (else strings)."""
    from sparring.runs.config import parse_override

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
    from sparring.runs.config import apply_overrides

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
    from sparring.runs.distributed import RayOptions  # imports no Ray; starting the workers does

    workers = 2 if args.ray_workers is None else args.ray_workers
    return RayOptions(address=args.ray or None, workers=workers)


def _add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="play the matches on Ray worker actors, each with its own copy of the model; ADDRESS "
                        "of a running cluster (auto, HOST:PORT), else a local Ray instance is started "
                        "(needs pip install 'sparring[ray]')")
    p.add_argument("--ray-workers", type=int, default=None, metavar="N", help="Ray worker actors (default 2)")


def cmd_play(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.play import PlayConfig, play

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
    return 0 if summary.errors == 0 else 1


def _adapter_sources(run: Path) -> dict[str, str]:
    config = run / "config.toml"
    if not config.exists():
        return {}
    recorded = tomllib.loads(config.read_text())
    return {name: info.get("source", "?") for name, info in recorded.get("adapters", {}).items()}


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.rundir import RunDir
    from sparring.runs.show import show

    with RunDir.existing(args.dir).open_store() as store:
        if args.match:
            transcripts = [store.get(m) for m in args.match]
        else:
            ids = store.match_ids(role=args.role, status=args.status)
            transcripts = [store.get(m) for m in ids[: args.limit]]
    if not transcripts:
        console.print("no matches stored")
        return 1
    show(console, transcripts, role=args.role, full=args.full, adapters=_adapter_sources(Path(args.dir)))
    return 0


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from sparring.arenas.replay import replay
    from sparring.runs.rundir import RunDir

    with RunDir.existing(args.dir).open_store() as store:
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

    names = args.arena or sorted(registered())
    kwargs = arena_kwargs(args.arena_arg)
    failed = 0
    for name in names:
        try:
            report = check_arena(make(name, **kwargs))
        except ConformanceError as exc:
            failed += 1
            console.print(f"[red]✗[/] {escape(str(exc))}")
            continue
        console.print(f"[green]✓[/] {report.arena}: {report.matches} matches, {report.turns} turns")
        console.print("  checked:")
        for rule in report.rules:
            console.print(f"    - {escape(rule)}")
        for warning in report.warnings:
            console.print(f"  [yellow]warning:[/] {escape(warning)}")
    return 1 if failed else 0


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.train import train

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
    reports = train(recipe, out, resume=bool(args.resume), overrides=args.overrides, ray=ray)
    console.print(f"trained {len(reports)} iteration(s) into {out}")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    if args.format == "html":
        from sparring.runs.viewer import export_html

        console.print(f"match {escape(str(args.match))} written to {escape(str(export_html(args.dir, args.match, args.to)))}")
        return 0
    if args.match:
        raise ValueError("export: --match selects the match of --format html; dataset formats export every match")
    from sparring.runs.export import export

    rows = export(args.dir, args.format, args.to, role=args.role, reward=args.reward,
                  builder=args.builder, margin=args.margin, min_reward=args.min_reward,
                  iteration=args.iteration)
    console.print(f"{rows} {args.format} rows written to {args.to}")
    return 0


def cmd_view(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.viewer import serve

    serve(args.dir, host=args.host, port=args.port, allow_remote=args.allow_remote)
    return 0


def cmd_tournament(args: argparse.Namespace, console: Console) -> int:
    from sparring.runs.tournament import run_tournament

    summary = run_tournament(args.config, args.out, progress=not args.quiet, overrides=args.overrides,
                             ray=ray_options(args))
    console.print(
        f"tournament → {summary.out}: {summary.scheduled} matches scheduled in {summary.rounds} round(s), "
        f"{summary.played} played, {summary.skipped} already stored, {summary.errors} errors; "
        f"{summary.generated_tokens} tokens in {summary.seconds:.1f} s = {summary.tokens_per_second:.1f} tokens/s"
    )
    console.print(f"rate the players with 'sparring ratings {summary.out}'")
    return 0 if summary.errors == 0 else 1


def cmd_ratings(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from sparring.runs.tournament import rate_run

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
    console.print("BT: Bradley–Terry MLE (Elo scale, mean 1000) with a percentile bootstrap over games "
                  f"({args.bootstrap} resamples); Elo: online, K=16, in match order; mu/sigma: openskill Plackett–Luce")
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


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays behind ``--help``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def cmd_rescore(args: argparse.Namespace, console: Console) -> int:
    from rich import box
    from rich.table import Table

    from sparring.runs.rescore import rescore

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sparring`` command."""
    parser = _Parser(prog="sparring", description="Multi-agent self-play with language models.")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="print the full traceback of any error (also SPARRING_DEBUG=1)")
    # ``--debug`` is accepted after the command too; SUPPRESS keeps a top-level one from being reset.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    p = add("play", help="play matches of an arena and store them in a run directory")
    p.add_argument("arena", help="arena id, short name (qa-verify), file.py:Class or module:Class")
    p.add_argument("--matches", "-n", type=int, default=32, help="matches to play (default 32)")
    p.add_argument("--out", "-o", required=True, help="run directory to write")
    p.add_argument("--model", default="default", help="base model: default (embedded SmolLM2-135M-Instruct), tiny, or a local folder")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="auto, fp32 or bf16 (auto: bf16 only where the CPU has native bf16)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32, help="most rows per forward batch (default 32)")
    p.add_argument("--max-in-flight", type=int, default=64, help="most matches alive at once (default 64)")
    p.add_argument("--arena-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="arena constructor argument, VALUE read as TOML (else a string): "
                        "group_size=8 or 'ops=[\"*\"]' (repeatable)")
    p.add_argument("--role", action="append", default=[], metavar="SEAT.FIELD=VALUE",
                   help="seat override, VALUE read as TOML; fields: adapter, temperature, top_p, "
                        "max_new_tokens, stop; e.g. solver.temperature=1.0 or judge.adapter=judge (repeatable)")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH",
                   help="load a saved peft adapter folder (e.g. RUN/adapters/judge/v3) as adapter NAME; "
                        "play a seat on it with --role SEAT.adapter=NAME (repeatable)")
    p.add_argument("--engine", default="hf", choices=["hf", "vllm", "openai"],
                   help="what generates (a recipe's model.engine): hf (default, in this process), vllm (a "
                        "vLLM server started and stopped with the play) or openai (an OpenAI-compatible "
                        "server; frozen seats, no adapters)")
    p.add_argument("--server", action="append", default=[], metavar="KEY=VALUE",
                   help="engine setting (a recipe's [model.server] field), VALUE read as TOML: openai needs "
                        "base_url=http://127.0.0.1:8000/v1 and model=NAME; also api_key_env, concurrency, "
                        "timeout, retries (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_ray(p)
    p.set_defaults(fn=cmd_play)

    s = add("show", help="render stored transcripts in the terminal")
    s.add_argument("dir")
    s.add_argument("--match", "-m", action="append", help="match id (repeatable)")
    s.add_argument("--role", "-r", help="only this role's turns")
    s.add_argument("--status", help="only matches with this status (finished, error)")
    s.add_argument("--limit", type=int, default=50, help="most matches listed (default 50)")
    s.add_argument("--full", action="store_true", help="do not clip long prompts and replies")
    s.set_defaults(fn=cmd_show)

    r = add("replay", help="re-run stored matches on their recorded replies and diff")
    r.add_argument("dir")
    r.add_argument("--match", "-m", action="append", help="match id (repeatable); default: the first")
    r.add_argument("--all", action="store_true", help="replay every stored match")
    r.set_defaults(fn=cmd_replay)

    t = add("train", help="self-play training from a recipe (resumable)")
    t.add_argument("recipe", nargs="?", help="recipe .toml (or a name in recipes/)")
    t.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="dotted overrides, e.g. train.lr=1e-4 roles.solver.adapter=shared")
    t.add_argument("--out", "-o", help="run directory to create")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed iteration")
    _add_ray(t)
    t.set_defaults(fn=cmd_train)

    e = add("export", help="write stored transcripts as a TRL dataset (dpo, grpo or sft) or one match as html")
    e.add_argument("dir", help="run directory")
    e.add_argument("--format", "-f", required=True, choices=["dpo", "grpo", "sft", "html"])
    e.add_argument("--to", "-o", required=True, help="output file: .jsonl or .parquet (html: .html)")
    e.add_argument("--match", "-m", help="html: the match to write as one self-contained page")
    e.add_argument("--role", "-r", help="only this seat (default: every seat with rewards)")
    e.add_argument("--reward", help="reward to score by (default: the seat's first per-turn reward)")
    e.add_argument("--builder", default="best_worst", choices=["best_worst", "margin"], help="dpo pairs (default best_worst)")
    e.add_argument("--margin", type=float, default=0.5, help="smallest reward gap of a margin pair (default 0.5)")
    e.add_argument("--min-reward", type=float, default=1.0, help="smallest reward of an sft sample (default 1.0)")
    e.add_argument("--iteration", type=int, help="only matches of this iteration")
    e.set_defaults(fn=cmd_export)

    v = add("view", help="browse run directories in a local web page (matches, transcripts, charts, ratings)")
    v.add_argument("dir", nargs="+", help="run, tournament or league directories (each holds store.sqlite)")
    v.add_argument("--port", type=int, default=0, help="port to serve on (default: a free one)")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --allow-remote)")
    v.add_argument("--allow-remote", action="store_true",
                   help="allow --host other than 127.0.0.1 (anyone who reaches it can read every transcript)")
    v.set_defaults(fn=cmd_view)

    tn = add("tournament", help="play a tournament between players (adapter versions, base, scripted); resumable")
    tn.add_argument("config", help="tournament .toml (players, arena and competing seats, schedule)")
    tn.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="dotted overrides, e.g. schedule.budget=40")
    tn.add_argument("--out", "-o", required=True, help="run directory (run again to continue it)")
    tn.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_ray(tn)
    tn.set_defaults(fn=cmd_tournament)

    rt = add("ratings", help="rate the players of a tournament: BT with bootstrap CIs, Elo, openskill, cycles, plots")
    rt.add_argument("dir", help="tournament run directory")
    rt.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    rt.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rt.add_argument("--no-plots", action="store_true", help="write ratings.json only")
    rt.set_defaults(fn=cmd_ratings)

    rs = add("rescore", help="recompute a reward or metric on stored transcripts, without generating")
    rs.add_argument("dir", help="run directory")
    rs.add_argument("--reward", help="a reward of the run's arenas, or file.py:function / module:attr; "
                                     "written beside the stored rewards")
    rs.add_argument("--metric", help="a metric of the run's arenas, a measurement (diversity, entropy, "
                                     "consistency/<reward>, calibration/<conf>/<correct>) or file.py:name")
    rs.set_defaults(fn=cmd_rescore)

    a = add("arenas", help="list registered arenas")
    a.set_defaults(fn=cmd_arenas)

    c = add("check", help="run the arena conformance check (all built-ins by default)")
    c.add_argument("arena", nargs="*", help="arena id, short name, file.py:Class or module:Class")
    c.add_argument("--arena-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="arena constructor argument, VALUE read as TOML (repeatable)")
    c.set_defaults(fn=cmd_check)
    return parser


_INTERRUPTED = {
    "play": "interrupted; run the same command again to finish; stored matches are kept",
    "train": "interrupted; continue from the last completed iteration with 'sparring train --resume {out}'",
    "tournament": "interrupted; run the same command again to continue; stored matches are kept",
}


def _ours(filename: str) -> str | None:
    """``filename`` relative to the source root if it is sparring's own code, else ``None``."""
    try:
        relative = Path(filename).resolve().relative_to(_SOURCE_ROOT)
    except ValueError:
        return None
    return str(relative) if relative.parts[0] in _PACKAGE_DIRS else None


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` reports a mistake in the input (one line) rather than a bug (see module docs)."""
    from sparring.agents.conformance import ConformanceError
    from sparring.agents.errors import InternalError
    from sparring.arenas.errors import ArenaError
    from sparring.runs.recipe import RecipeError

    if isinstance(exc, (RecipeError, ArenaError, ConformanceError, FileNotFoundError, FileExistsError,
                        NotADirectoryError, IsADirectoryError)):
        return True
    if isinstance(exc, InternalError) or not isinstance(exc, (ValueError, LookupError, TypeError, RuntimeError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    return _ours(last.filename) is not None and (last.line or "").lstrip().startswith("raise")


def _where(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return []
    last = frames[-1]
    lines = [f"raised at {_ours(last.filename) or last.filename}:{last.lineno} in {last.name}"]
    if _ours(last.filename) is None:
        mine = [f for f in frames if _ours(f.filename)]
        if mine:
            lines.append(f"called from {_ours(mine[-1].filename)}:{mine[-1].lineno} in {mine[-1].name}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparring`` command.

    Exit codes: 0 done, 1 a bug (or matches that errored, or a failed check), 2 a mistake
    in the input, 130 interrupted.
    """
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("SPARRING_DEBUG", "").lower() in ("1", "true", "yes")
    console = Console(soft_wrap=True)  # an error is one line, whatever the terminal width
    try:
        return args.fn(args, console)
    except KeyboardInterrupt:
        out = getattr(args, "resume", None) or getattr(args, "out", None) or "DIR"
        console.print(f"[yellow]{escape(_INTERRUPTED.get(args.command, 'interrupted').format(out=out))}[/]")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every error is reported
        if debug:
            traceback.print_exception(exc)
        if is_user_error(exc):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            console.print(f"[red]error:[/] {escape(str(message))}")
            return 2
        console.print(f"[red]bug:[/] {escape(f'{type(exc).__name__}: {exc}')}")
        for line in _where(exc):
            console.print(f"  {escape(line)}")
        if not debug:
            console.print("  this is a bug in sparring (or a library under it), not in your input; "
                          "rerun with --debug (or SPARRING_DEBUG=1) for the full traceback")
        return 1


if __name__ == "__main__":
    sys.exit(main())
