"""Generated help: `/help` lists every command by feature, `/help <command>` explains one.

Help is written from the command declarations and the catalogs, so it is never out of date
and always in the reader's language.
"""
from __future__ import annotations

from core import i18n
from core.commands import Arg, Command, Feature, Text
from core.dispatcher import arg_label, usage_line
from core.work import Context

feature = Feature("help")


def _who(ctx: Context, cmd: Command) -> str:
    return ctx.tr("help.who", who=ctx.tr(f"roles.{cmd.who}"))


def command_help(ctx: Context, cmd: Command, prefix: str = "/") -> str:
    """The full help of one command in the reader's language."""
    lines = [f"`{usage_line(ctx.lang, cmd, prefix)}`", ctx.tr(cmd.key + ".help")]
    for a in cmd.args:
        desc = i18n.t(ctx.lang, f"{cmd.key}.args.{a.name}")
        if desc != f"{cmd.key}.args.{a.name}":
            lines.append(f"  • {arg_label(ctx.lang, a.name)}: {desc}")
    lines.append(_who(ctx, cmd))
    if cmd.aliases:
        lines.append(", ".join(prefix + a for a in cmd.aliases))
    return "\n".join(lines)


@feature.command("help", args=[Arg("command", Text, required=False, rest=True)])
async def help_(ctx: Context, command: str | None) -> str:
    registry = ctx.services.registry
    prefix = "!" if ctx.incoming.text.lstrip().startswith("!") else "/"
    if command:
        words = command.lstrip("/!").split()
        found = registry.find(words)
        if found:
            return command_help(ctx, found[0], prefix)
        group = [c for c in registry.commands if c.name.split()[0] == (words[0] if words else "")]
        if group:
            return "\n\n".join(command_help(ctx, c, prefix) for c in group)
        return ctx.tr("help.unknown", command=prefix + command)
    lines = [ctx.tr("help.intro")]
    for f in registry.features:
        if not f.commands:
            continue
        lines.append("")
        lines.append(ctx.tr("help.section", feature=ctx.tr(f"feature.{f.name}")))
        for c in f.commands:
            lines.append(f"`{prefix}{c.name}` — {ctx.tr(c.key + '.help')}")
    lines.append("")
    lines.append(ctx.tr("help.footer"))
    return "\n".join(lines)


@feature.command("start")
async def start(ctx: Context) -> str:
    if ctx.circle is None:
        return ctx.tr("circles.welcome")
    return await help_(ctx, None)
