"""What the shell completes for each argument and option (bash, zsh and fish, through click).

Options keep taking plain text, so a bad value is still refused by the builders in one line
with exit 2 (a ``click.Choice`` or ``click.Path`` type would answer with click's own message and
check files before the command runs). Completion only needs a callback per parameter: files
and folders are left to the shell (click prints ``file``/``dir`` and the shell lists them), the
values of an option come from the same constants the checks use.

Enable it with one line in the shell's start-up file (the README says so):

    eval "$(_VIRT_NETXML_COMPLETE=bash_source virt-netxml)"      # ~/.bashrc
    eval "$(_VIRT_NETXML_COMPLETE=zsh_source virt-netxml)"       # ~/.zshrc
    _VIRT_NETXML_COMPLETE=fish_source virt-netxml | source       # ~/.config/fish/config.fish
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click
from click.shell_completion import CompletionItem

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def files(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Files and folders, listed by the shell."""
    return [CompletionItem(incomplete, type="file")]


def folders(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Folders only, listed by the shell."""
    return [CompletionItem(incomplete, type="dir")]


def values(choices: Iterable[str]) -> Completer:
    """The given words that start with what is typed, in the given order."""
    words = tuple(choices)

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(word) for word in words if word.startswith(incomplete)]

    return complete
