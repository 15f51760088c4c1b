"""``mrframe plugins``: list installed plugins by kind; ``mrframe plugins show NAME``: a plugin's config."""

from __future__ import annotations

import inspect as pyinspect

import click

from mrframe import registry
from mrframe.cli.options import debug_option
from mrframe.config import describe
from mrframe.errors import PluginError, did_you_mean


@click.group(invoke_without_command=True)
@click.option("--kind", type=click.Choice(list(registry.GROUPS)), help="Only this kind of plugin.")
@debug_option
@click.pass_context
def plugins(ctx: click.Context, kind: str | None, debug: bool) -> None:
    """List installed plugins by kind, with distribution and version; broken ones are marked.

    \b
    Example:
      mrframe plugins
      mrframe plugins --kind encoder
      mrframe plugins show synthetic
    """
    if ctx.invoked_subcommand is not None:
        return
    kinds = [kind] if kind else list(registry.GROUPS)
    total = 0
    for k in kinds:
        statuses = registry.inspect(k)
        total += len(statuses)
        if not statuses:
            continue
        click.echo(f"{k} plugins ({registry.GROUPS[k]}):")
        width = max(len(s.entry.name) for s in statuses)
        origin_width = max(len(s.entry.origin) for s in statuses)
        for status in statuses:
            what = f"BROKEN: {status.error}" if status.error else _first_line(status.plugin)
            click.echo(f"  {status.entry.name:<{width}}  {status.entry.origin:<{origin_width}}  {what}")
    hooks = registry.hook_entries()
    if hooks and not kind:
        click.echo(f"hook plugins ({registry.HOOK_GROUP}):")
        for entry in hooks:
            click.echo(f"  {entry.name}  {entry.origin}")
    if total == 0:
        dists = sorted({registry.FIRST_PARTY[k] for k in kinds})
        click.echo("no plugins installed. The first-party plugins ship in " + ", ".join(dists)
                   + " (pip install -e plugins/<distribution> from a checkout).")


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
    doc = pyinspect.getdoc(cls) or ""
    if doc:
        click.echo("")
        click.echo("  " + doc.replace("\n", "\n  "))
    rows = describe(cls.Config) if hasattr(cls, "Config") else []  # prediction kinds have no config
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
