"""The commands about `ide` itself: `ide completion` (the shell completion script) and
`help` (a walkthrough, or a command's help).
"""

from __future__ import annotations

import argparse

import shtab

from ide.cli.command import Argument, Command
from ide.cli.options import COMPLETE_PREAMBLE
from ide.errors import IDEError


def _completion(args):
    from ide.cli.parser import build_parser  # the parser is made of the commands, this one too

    print(shtab.complete(build_parser(), args.shell, preamble=COMPLETE_PREAMBLE))


COMPLETION = Command("completion", "print the shell completion script (bash or zsh); see "
                     "`ide help`", _completion, arguments=(
                         Argument("shell", choices=["bash", "zsh"]),))


def _help(args):
    from ide.cli.parser import build_parser

    if not args.topic:
        return print(WALKTHROUGH.strip())
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if args.topic not in sub.choices:
        raise IDEError(f"no command {args.topic!r} (see `ide --help`)")
    sub.choices[args.topic].print_help()


HELP = Command("help", "a short walkthrough; `ide help COMMAND` = `ide COMMAND --help`",
               _help, arguments=(Argument("topic", nargs="?", metavar="COMMAND"),))

WALKTHROUGH = """
ide: a dataset IDE. Fix a model by fixing its labelled examples: train with K-fold
cross-validation, review the labels the model finds least believable, fix them, commit,
retrain. A workspace is a git repository with DVC in it; dataset NAME lives in
datasets/NAME/ (labels.csv in git, images in DVC).

  ide init work                        # make a workspace (then: cd work)
  ide import pets ~/photos             # ~/photos/<class>/<image>, as one commit
  ide issues pets                      # dark, blurry, odd-sized ... images (no model needed)
  ide retrain pets                     # K-fold training of HEAD: out-of-sample probabilities
  ide suspects pets --top 10           # most suspicious labels first
  ide relabel pets cat/0042.jpg dog    # stage a fix (`ide check pets ID`: the label is right)
  ide status pets                      # what is staged, and the state of HEAD's model
  ide commit pets -m "Dogs filed as cats"  # the staged fixes become one commit of labels.csv
  ide retrain pets                     # or keep `ide watch` running: every commit is trained
  ide log pets                         # commits with their edits, accuracy and suspects
  ide diff pets HEAD~1                 # what a commit changed: id: old -> new
  ide serve                            # all of it in the browser, with the retrain worker

`ide COMMAND --help` shows a command's options; `--json` gives output a program can read
(errors as {"error": ...} on stderr). Shell completion:
  ide completion bash > ~/.local/share/bash-completion/completions/ide
  ide completion zsh > ~/.zfunc/_ide   # with fpath+=(~/.zfunc) before compinit
The README has the rest: teams (push, pull, merge), models, the app.
"""
