#!/usr/bin/env python3
"""run.py - the mutation harness: plant each bug of mutants.txt, one at a
time, rebuild, run the test that must catch it, put the tree back, and
print caught/missed with a score.

    make mutants                     every mutant
    make mutants MUTANTS=drain,scope only those (ids, comma-separated)

A mutant is caught when its test fails: the step it names ("step:", a
part of the step's title) must be a "not ok", so that a flaky step
elsewhere is not taken for a catch. A mutant whose text is not found
exactly once, or whose tree does not build, is an error, never a catch.
The tree is restored after every mutant, on Ctrl-C too, and rebuilt at
the end; the harness refuses to start on a tree with uncommitted changes
to a file it would touch.

Format of mutants.txt (lines starting "#" are comments, anywhere):

    == ID: what the bug is
    file: agent/agent-site.c
    test: 0012-deploy
    step: restart under continuous load
    - <exact line(s) of the file, after "- ">
    + <what replaces them, after "+ "; none: the lines go>
"""
import os
import re
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
LIST = os.path.join(TOP, "tests", "mutants", "mutants.txt")


def parse(path):
    muts, cur = [], None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("== "):
            m = re.match(r"== ([a-z0-9-]+): (.+)$", line)
            if not m:
                sys.exit("%s:%d: '== id: what' expected" % (path, n))
            cur = {"id": m.group(1), "what": m.group(2), "old": [],
                   "new": [], "line": n}
            muts.append(cur)
        elif cur is None or line == "" or line.startswith("#"):
            continue
        elif line.startswith(("file: ", "test: ", "step: ")):
            cur[line[:4]] = line[6:]
        elif line.startswith("- ") or line == "-":
            cur["old"].append(line[2:])
        elif line.startswith("+ ") or line == "+":
            cur["new"].append(line[2:])
        else:
            sys.exit("%s:%d: cannot read '%s'" % (path, n, line))
    for m in muts:
        for k in ("file", "test", "step"):
            if k not in m:
                sys.exit("%s:%d: mutant %s has no %s:" % (path, m["line"],
                                                         m["id"], k))
        if not m["old"]:
            sys.exit("%s:%d: mutant %s changes nothing" % (path, m["line"],
                                                          m["id"]))
    ids = [m["id"] for m in muts]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit("%s: ids used twice: %s" % (path, ", ".join(sorted(dup))))
    return muts


def build():
    r = subprocess.run(["make", "-j2", "tools"], cwd=TOP,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    return r.returncode == 0, r.stderr[-2000:]


def main():
    muts = parse(LIST)
    only = [x for x in os.environ.get("MUTANTS", "").split(",") if x]
    if only:
        unknown = set(only) - {m["id"] for m in muts}
        if unknown:
            sys.exit("no such mutant: %s" % ", ".join(sorted(unknown)))
        muts = [m for m in muts if m["id"] in only]
    files = sorted({m["file"] for m in muts})
    dirty = subprocess.run(["git", "status", "--porcelain", "--"] + files,
                           cwd=TOP, capture_output=True, text=True).stdout
    if dirty.strip():
        sys.exit("uncommitted changes in files the mutants touch:\n" + dirty)

    saved = {}
    state = {"file": None}

    def restore(*_):
        if state["file"] is not None:
            with open(os.path.join(TOP, state["file"]), "w") as f:
                f.write(saved[state["file"]])
            state["file"] = None

    def on_signal(sig, _):
        restore()
        sys.exit("interrupted: the tree is restored (make rebuilds it)")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    caught, missed, errors = [], [], []
    for m in muts:
        path = os.path.join(TOP, m["file"])
        text = saved.setdefault(m["file"], open(path).read())
        old = "\n".join(m["old"]) + "\n"
        new = "\n".join(m["new"]) + ("\n" if m["new"] else "")
        if text.count(old) != 1:
            errors.append((m, "its text is in %s %d times, not once" %
                           (m["file"], text.count(old))))
            print("error  %-22s text found %d times" % (m["id"],
                                                        text.count(old)))
            continue
        t0 = time.time()
        state["file"] = m["file"]
        with open(path, "w") as f:
            f.write(text.replace(old, new))
        try:
            ok, why = build()
            if not ok:
                errors.append((m, "does not build: " + why))
                print("error  %-22s does not build" % m["id"])
                continue
            test = os.path.join(TOP, "tests", "t", m["test"] + ".sh")
            env = dict(os.environ, TUG_BUILD=os.path.join(TOP, "build"))
            r = subprocess.run(["bash", test], cwd=TOP, env=env,
                               capture_output=True, text=True)
            out = r.stdout + r.stderr
            hit = [ln for ln in out.splitlines()
                   if ln.startswith("not ok ") and m["step"] in ln]
        finally:
            restore()
        s = time.time() - t0
        if hit:
            caught.append(m)
            print("caught %-22s %5.0f s  %s" % (m["id"], s, hit[0]))
        else:
            missed.append(m)
            other = [ln for ln in out.splitlines() if ln.startswith("not ok")]
            print("MISSED %-22s %5.0f s  %s%s" % (
                m["id"], s, m["what"],
                ("; failed instead: " + "; ".join(other[:3])) if other
                else ""))
    build()
    total = len(caught) + len(missed)
    print("%d caught, %d missed, %d errors; score %d/%d (%.0f%%)" % (
        len(caught), len(missed), len(errors), len(caught), total,
        100.0 * len(caught) / total if total else 0))
    for m, why in errors:
        print("error: %s (%s:%d): %s" % (m["id"], os.path.basename(LIST),
                                         m["line"], why))
    sys.exit(0 if not missed and not errors else 1)


if __name__ == "__main__":
    main()
