"""The command line's shared parts: the ``emo-safe`` group, error handling, JSON and terminal
output. Thin: commands parse, call the library, render.

Exit codes: 0 success (for ``verify``: evidence that the file came from this deployment);
1 ``verify`` found no such evidence / ``check`` denied / ``generate`` refused by policy /
``audit report`` has a failing checklist item;
2 usage or input error; 3 integrity failure (tampered manifest or audit log); 128 + N when
stopped by signal N (130 Ctrl-C, 143 SIGTERM), after cleaning up.

Everything the library needs is imported inside the command that uses it, so ``--help`` and
each command start without paying for the others. Text that comes from users or files (names,
paths, reasons) is escaped before it meets rich's markup.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path

import click

from emo_safe._version import __version__
from emo_safe.errors import EmoSafeError, GenerationRefused

_CONSOLES: dict = {}


def _console(stderr: bool = False):
    if stderr not in _CONSOLES:
        from rich.console import Console

        _CONSOLES[stderr] = Console(stderr=stderr)
    return _CONSOLES[stderr]


def say(markup: str = "", *values) -> None:
    """Print ``markup`` with ``values`` (user text, escaped) filled into its ``{}``."""
    from rich.markup import escape

    _console().print(markup.format(*(escape(str(v)) for v in values)), highlight=False,
                     soft_wrap=True)


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    _console(True).print(f"[bold red]emo-safe: error:[/] {escape(message)}", highlight=False,
                         soft_wrap=True)
    sys.exit(code)


def handle_errors(fn):
    """Every failure ends in one clear line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from emo_safe._signals import Terminated, stop_signals_raise

        try:
            with stop_signals_raise():  # clean up on SIGTERM/SIGHUP as on Ctrl-C
                return fn(*args, **kwargs)
        except GenerationRefused:
            raise  # rendered by the command itself
        except EmoSafeError as exc:
            _fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Terminated as exc:
            _fail(str(exc), 128 + exc.signum)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: still no traceback for the user
            if os.environ.get("EMO_SAFE_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}); set EMO_SAFE_DEBUG=1 for details", 2)

    return wrapper


def command(group, name: str | None = None, json_help: str = "Print one JSON object."):
    """A subcommand of ``group`` with ``--json``, the context and the error handling."""

    def wrap(fn):
        fn = click.pass_context(handle_errors(fn))
        cmd = group.command(name)(click.option("--json", "as_json", is_flag=True,
                                               help=json_help)(fn))
        cmd.params.append(cmd.params.pop(0))  # listed last in --help
        return cmd

    return wrap


def _workspace(ctx: click.Context):
    from emo_safe.workspace import Workspace

    return Workspace.locate(ctx.obj.get("workspace"))


def emit(obj: dict) -> None:
    click.echo(json.dumps(obj, indent=None, sort_keys=False, default=str))


def _progress(label: str, enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeRemainingColumn(), console=_console(True), transient=True,
                    disable=not enabled)


def _table(*headers, rows=()):
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # cells are text, never markup
    _console().print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emo-safe")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="Workspace folder (default: $EMO_SAFE_HOME, else the per-user data dir). "
                   "Goes before the command: emo-safe --workspace DIR init.")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """Consent gate, invisible watermark, C2PA signing and an audit ledger for
    audio-driven portrait-video generators."""
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


_DATE = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A date from the command line, taken as UTC."""
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def _utc_iso(value: dt.datetime | None) -> str | None:
    """A --since/--until date (UTC) in the form the log's entry times use."""
    return value.replace(tzinfo=dt.UTC).isoformat() if value else None
