#!/usr/bin/env python3
"""mkman.py - man pages from the texts they document, so they cannot drift.

    mkman.py help NAME SECTION TITLE < HELP-TEXT   a program's --help
    mkman.py md NAME SECTION TITLE < MARKDOWN      a docs/*.md page

The --help form: the first line "usage: ..." is the synopsis, the lines
before the first option the description, every line starting with "-" (after
its indent) an option, and its more-indented lines that option's text; the
rest goes as it stands. The markdown form knows what docs/ use: headings,
paragraphs, lists, fenced code, tables (each row a tagged paragraph) and
`code` / **bold** inline. Output is roff (man macros) on stdout.
"""

import re
import sys


def esc(s):
    s = s.replace("\\", "\\e")
    return s


def line(s):
    """A text line: roff takes a leading . or ' as a request."""
    s = esc(s)
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def inline(s):
    s = esc(s)
    s = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", s)
    s = re.sub(r"\*\*([^*]*)\*\*", r"\\fB\1\\fR", s)
    s = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", s)
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def head(name, section, title):
    # Left-aligned and unhyphenated: options and paths stay whole.
    return ['.TH "%s" "%s" "" "tug" "%s"' % (name.upper(), section, title),
            ".na", ".nh"]


def from_help(name, section, title, text):
    out = head(name, section, title)
    lines = text.rstrip("\n").split("\n")
    out += [".SH NAME", "%s \\- %s" % (name, title), ".SH SYNOPSIS"]
    usage = lines[0]
    if usage.startswith("usage: "):
        usage = usage[7:]
    out += [".nf", line(usage), ".fi", ".SH DESCRIPTION"]
    in_opts = False
    for l in lines[1:]:
        s = l.strip()
        if not s:
            continue
        if re.match(r"^\s*-", l):
            if not in_opts:
                out.append(".SH OPTIONS")
                in_opts = True
            m = re.match(r"^\s*(-\S+(?: [A-Z][A-Z_]*)?)\s+(.*)$", l)
            opt, what = (m.group(1), m.group(2)) if m else (s, "")
            out += [".TP", "\\fB%s\\fR" % esc(opt), line(what)]
        elif in_opts and l.startswith("   "):
            out.append(line(s))
        else:
            if in_opts:
                out.append(".PP")
                in_opts = False
            out.append(line(s))
    return out


def from_md(name, section, title, text):
    out = head(name, section, title)
    out += [".SH NAME", "%s \\- %s" % (name, title)]
    code = False
    for l in text.split("\n"):
        if l.startswith("```"):
            out.append(".fi" if code else ".nf")
            if code:
                out.append(".PP")
            code = not code
            continue
        if code:
            out.append(line(l))
            continue
        s = l.strip()
        if not s:
            out.append(".PP")
        elif s.startswith("# "):
            continue            # the page's own title: NAME says it
        elif s.startswith("## "):
            out.append(".SH %s" % inline(s[3:]).upper())
        elif s.startswith("#"):
            out.append(".SS %s" % inline(s.lstrip("#").strip()))
        elif s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if all(re.match(r"^:?-+:?$", c) for c in cells if c):
                continue
            out += [".TP", inline(cells[0]), " \\(em ".join(
                inline(c) for c in cells[1:] if c)]
        elif re.match(r"^([-*]|\d+\.) ", s):
            out += [".IP \\(bu 2", inline(re.sub(r"^([-*]|\d+\.) ", "", s))]
        else:
            out.append(inline(s))
    # Blank lines in a row are one paragraph break.
    tidy = []
    for o in out:
        if o == ".PP" and tidy and tidy[-1] in (".PP", ".TP"):
            continue
        tidy.append(o)
    return tidy


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("help", "md"):
        sys.exit("usage: mkman.py help|md NAME SECTION TITLE < TEXT")
    kind, name, section, title = sys.argv[1:]
    text = sys.stdin.read()
    page = (from_help if kind == "help" else from_md)(name, section, title,
                                                      text)
    sys.stdout.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
