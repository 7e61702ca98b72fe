"""Best-effort: which files a shell command would write.

A shell is a programming language; this reads the common forms (redirections, ``tee``,
``sed -i``, ``mv``/``cp``/``rm``/``touch``/``truncate``/``dd of=``/``ln``, ``git checkout`` and
``git restore`` of paths, ``python -c``/heredocs are NOT read) so that PreToolUse can refuse a
write to a leased file before it happens. What it misses, PostToolUse notices afterwards from the
file system. Never raises.
"""

from __future__ import annotations

import shlex

SEPARATORS = {";", "&&", "||", "|", "&", "\n", "(", ")", "{", "}", "|&"}
REDIRECTS = (">", ">>", ">|", "&>", "&>>", "1>", "2>", "1>>", "2>>")
WRAPPERS = {"sudo", "env", "nice", "nohup", "time", "command", "exec", "xargs", "stdbuf", "timeout"}


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    out: list[str] = []
    try:
        for tok in lexer:
            out.append(tok)
    except ValueError:  # unbalanced quotes: keep what was read
        pass
    return out


def _commands(tokens: list[str]) -> list[list[str]]:
    cmds: list[list[str]] = [[]]
    for tok in tokens:
        if tok in SEPARATORS:
            cmds.append([])
        else:
            cmds[-1].append(tok)
    return [c for c in cmds if c]


def _strip_wrappers(words: list[str]) -> list[str]:
    i = 0
    while i < len(words):
        w = words[i]
        if "=" in w and not w.startswith("-") and w.split("=", 1)[0].isidentifier():
            i += 1  # VAR=value prefix
        elif w in WRAPPERS:
            i += 1
            while i < len(words) and words[i].startswith("-"):
                i += 1
            if w == "timeout" and i < len(words):
                i += 1  # its duration
        else:
            break
    return words[i:]


def _operands(args: list[str]) -> list[str]:
    out, only = [], False
    for a in args:
        if only:
            out.append(a)
        elif a == "--":
            only = True
        elif not a.startswith("-") or a == "-":
            out.append(a)
    return out


def _redirect_targets(words: list[str]) -> tuple[list[str], list[str]]:
    """(words without redirections, redirection targets)."""
    rest, targets = [], []
    i = 0
    while i < len(words):
        w = words[i]
        if w in REDIRECTS or (w.endswith(">") and w[:-1].isdigit()):
            if i + 1 < len(words):
                target = words[i + 1]
                if not target.startswith("&"):  # 2>&1 is not a file
                    targets.append(target)
            i += 2
            continue
        if w == "<" or w == "<<" or w == "<<<":
            i += 2
            continue
        rest.append(w)
        i += 1
    return rest, targets


def _sed_files(args: list[str]) -> list[str]:
    """The files of ``sed -i`` / ``perl -pi``: operands, minus the script (the first operand
    unless a script came with -e/-f)."""
    files: list[str] = []
    scripted = False
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-e", "-f", "--expression", "--file"):
            scripted, skip = True, True
        elif a.startswith(("--expression=", "--file=")):
            scripted = True
        elif not a.startswith("-"):
            files.append(a)
    return files if scripted else files[1:]


def written_paths(command: object) -> list[str]:
    """Paths the command (a string) would write, in order, without repeats."""
    if not isinstance(command, str) or not command.strip():
        return []
    found: list[str] = []
    for words in _commands(_tokens(command)):
        words, targets = _redirect_targets(words)
        found += targets
        words = _strip_wrappers(words)
        if not words:
            continue
        prog, args = words[0].rsplit("/", 1)[-1], words[1:]
        ops = _operands(args)
        if prog in ("bash", "sh", "zsh", "dash"):
            # -c, also inside a cluster of short options (bash -lc '...')
            i = next(
                (
                    k
                    for k, a in enumerate(args)
                    if a.startswith("-") and not a.startswith("--") and "c" in a
                ),
                None,
            )
            if i is not None and i + 1 < len(args):
                found += written_paths(args[i + 1])
        elif prog == "tee":
            found += ops
        elif prog in ("sed", "perl") and any(
            a.startswith(("-i", "--in-place", "-pi")) for a in args
        ):
            found += _sed_files(args)
        elif prog == "truncate":
            sized = {
                k + 1 for k, a in enumerate(args) if a in ("-s", "--size", "-r", "--reference")
            }
            found += _operands([a for k, a in enumerate(args) if k not in sized])
        elif prog in (
            "rm",
            "touch",
            "shred",
            "unlink",
            "mkdir",
            "rmdir",
            "chmod",
            "chown",
        ):
            found += ops[1:] if prog in ("chmod", "chown") else ops
        elif prog in ("mv",):
            found += ops  # the source disappears, the target appears
        elif prog in ("cp", "ln", "install", "rsync"):
            found += ops[-1:]
        elif prog == "dd":
            found += [a[3:] for a in args if a.startswith("of=")]
        elif prog == "git" and args:
            sub = args[0]
            if sub in ("checkout", "restore") and "--" in args:
                found += args[args.index("--") + 1 :]
            elif sub == "restore":
                found += [a for a in _operands(args[1:])]
            elif sub in ("rm", "mv"):
                found += _operands(args[1:])
    return [p for p in dict.fromkeys(found) if p and p not in ("-", "/dev/null")]
