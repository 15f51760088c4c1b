"""``mrframe plugins``: list installed plugins by kind (``--strict``: fail when any is broken);
``mrframe plugins show NAME``: a plugin's description and config."""

from __future__ import annotations

import inspect as pyinspect
import sys

import click

from mrframe import registry
from mrframe.cli.options import debug_option
from mrframe.config import describe
from mrframe.errors import EXIT_CHECK_FAILED, PluginError, did_you_mean


@click.group(invoke_without_command=True)
@click.option("--kind", type=click.Choice(list(registry.GROUPS)), help="Only this kind of plugin.")
@click.option("--strict", is_flag=True, help="Exit with status 5 when any listed plugin is broken (a CI gate).")
@debug_option
@click.pass_context
def plugins(ctx: click.Context, kind: str | None, strict: bool, debug: bool) -> None:
    """List installed plugins by kind, with distribution and version; broken ones are marked.

    \b
    Example:
      mrframe plugins
      mrframe plugins --kind hook
      mrframe plugins --strict
      mrframe plugins show synthetic
    """
    if ctx.invoked_subcommand is not None:
        return
    kinds = [kind] if kind else list(registry.GROUPS)
    added, broken = 0, 0  # added: plugins beyond the core's own built-in prediction kinds
    for k in kinds:
        statuses = registry.inspect(k)
        added += sum(status.entry.distribution != "mrframe" for status in statuses)
        broken += sum(status.error is not None for status in statuses)
        if not statuses:
            continue
        click.echo(f"{k} plugins ({registry.GROUPS[k]}):")
        width = max(len(s.entry.name) for s in statuses)
        origin_width = max(len(s.entry.origin) for s in statuses)
        for status in statuses:
            what = f"BROKEN: {status.error}" if status.error else _first_line(status.plugin)
            click.echo(f"  {status.entry.name:<{width}}  {status.entry.origin:<{origin_width}}  {what}")
    dists = sorted({d for k in kinds for d in registry.FIRST_PARTY[k] if d != "mrframe"})
    if added == 0 and dists:
        click.echo("no plugins installed beyond the core's own. The first-party plugins ship in " + ", ".join(dists)
                   + " (pip install -e plugins/<distribution> from a checkout).")
    if strict and broken:
        click.echo(f"{broken} broken plugin{'s' * (broken != 1)} (listed as BROKEN above)", err=True)
        sys.exit(EXIT_CHECK_FAILED)


@plugins.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(list(registry.GROUPS)), help="Disambiguate a name used by several kinds.")
@debug_option
def show(name: str, kind: str | None, debug: bool) -> None:
    """Show a plugin's description and config keys (type, default, doc).

    \b
    Example:
      mrframe plugins show synthetic
    """
    kinds = [kind] if kind else [k for k in registry.GROUPS if name in registry.entries(k)]
    if not kinds:
        everything = [n for k in registry.GROUPS for n in registry.names(k)]
        raise PluginError(f"no plugin named '{name}'{did_you_mean(name, everything)}; `mrframe plugins` lists them")
    if len(kinds) > 1:
        raise PluginError(f"'{name}' names a plugin of several kinds ({', '.join(kinds)}): add --kind")
    k = kinds[0]
    entry = registry.entry(k, name)
    cls = registry.load(k, name)
    click.echo(f"{name}: {k} plugin from {entry.origin} ({entry.target})")
    if k == "hook":
        click.echo(f"enable it with [run] hooks = [\"{name}\"]; its options go in a [hooks.{name}] table")
    doc = pyinspect.getdoc(cls) or ""
    if doc:
        click.echo("")
        click.echo("  " + doc.replace("\n", "\n  "))
    rows = describe(registry.config_class(cls))
    click.echo("")
    if not rows:
        click.echo("config: no keys")
        return
    click.echo("config keys:")
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("name", "type", "default")]
    for r in rows:
        click.echo(f"  {r.name:<{widths[0]}}  {r.type:<{widths[1]}}  {r.default:<{widths[2]}}  {r.doc}")


def _first_line(obj: object) -> str:
    doc = pyinspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].rstrip(":") if doc.strip() else ""  # "formula::" opens a literal block
