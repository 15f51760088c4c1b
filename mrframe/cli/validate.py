"""``mrframe validate SPEC``: check a whole spec without loading any data."""

from __future__ import annotations

import click

from mrframe.cli.options import common
from mrframe.engine.tune import space
from mrframe.errors import SpecError
from mrframe.spec import load_spec


@click.command()
@common
def validate(spec: str, overrides: tuple[str, ...], debug: bool) -> None:
    """Check SPEC without loading data and report every problem at once.

    Each problem is one line with its dotted path, e.g.
    `encoders.daily.d_modle: unknown key (did you mean 'd_model'?)`. Exit status 2 if any.

    \b
    Example:
      mrframe validate examples/minimal.toml --set model.d_model=32
    """
    loaded = load_spec(spec, overrides)
    if loaded.tune is not None:  # the search space: its keys exist and its ends make valid specs
        problems = space.problems(loaded.to_dict(), loaded.tune.space)
        if problems:
            raise SpecError(problems, source=spec)
    parts = [
        f"{len(loaded.sources)} source{'s' * (len(loaded.sources) != 1)}",
        f"{len(loaded.encoders)} encoder{'s' * (len(loaded.encoders) != 1)}",
        f"{len(loaded.fusion)} fusion block{'s' * (len(loaded.fusion) != 1)}",
        f"{len(loaded.heads)} head{'s' * (len(loaded.heads) != 1)}",
        f"weighting '{loaded.weighting.component.plugin}'",
    ]
    unused = [name for name in loaded.sources if name not in loaded.encoders
              and all(h.target.source != name for h in loaded.heads.values())]
    click.echo(f"{spec}: OK ({', '.join(parts)})")
    for name in unused:
        click.echo(f"warning: sources.{name} is neither encoded nor a target; it will be loaded for nothing", err=True)
