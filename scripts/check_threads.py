#!/usr/bin/env python3
"""Check seg_reco's thread contract (src/threads.h); scripts/test.sh runs it.

usage: python3 scripts/check_threads.py [--pg-config PATH] [--keep DIR] [-v]

Tasks run on threads PostgreSQL knows nothing of, so a task, and every
function it reaches, may call only plain C on prepared arrays.  This script
fails, naming the path (task -> f -> g -> forbidden), when one does not.

How it works:
  1. Every source of the Makefile's OBJS (src/*.c, src/demo/*.c) is compiled
     again into a scratch directory (never the build's objects) with the
     build's own flags from make, but -O0 (nothing inlined or cloned away),
     -Dalways_inline=noinline (so that forced-inline helpers remain
     functions of their own) and two GCC outputs: -fcallgraph-info (a .ci
     file per object: each function's direct calls with their source line,
     and calls through a pointer as "__indirect_call") and -fdump-ipa-cgraph
     (each function's references: functions whose address it takes, e.g. a
     qsort comparator, and global variables it reads or writes).
  2. The roots are the task functions named at the call sites
     seg_reco_parallel_for(ntasks, fn, arg) and seg_reco_parallel_begin(ntasks,
     fn, arg) in the sources, so a new task is
     covered without editing this script.
  3. From the roots it follows every direct call and every function whose
     address is taken (the comparator given to qsort runs on the task too)
     through seg_reco's functions, and the sort functions made from
     PostgreSQL's lib/sort_template.h, and fails on:
       - a call of a PostgreSQL function: any function the server binary
         exports (nm -D postgres; palloc, errstart/errfinish behind ereport
         and elog, ProcessInterrupts behind CHECK_FOR_INTERRUPTS, SPI_*,
         SearchSysCache*, pg_detoast_*, ...), or an inline function of the
         server headers (MemoryContextSwitchTo, DatumGet*, ...), except the
         pure ones in PG_ALLOWED (pg_qsort: the qsort macro);
       - a read or write of a PostgreSQL global variable (CurrentMemoryContext,
         InterruptPending, ...);
       - OpenBLAS/LAPACK (cblas_*, openblas_*, LAPACKE_*, dpotrf_, ...);
       - malloc and friends (tasks use arrays the caller prepared);
       - seg_reco_parallel_for itself (a task does not start tasks);
       - a call through a function pointer: its target cannot be followed, so
         task code dispatches with a switch of direct calls instead.
     The C library and libm are allowed.  SEG_RECO_CHECK_FOR_INTERRUPTS()
     calls seg_reco_check_for_interrupts_off_tasks() (threads.c), which
     checks for interrupts only off task threads: it is the one exception,
     allowed and not followed.  A plain CHECK_FOR_INTERRUPTS() expands to a
     ProcessInterrupts call and fails.
  4. The allowed set (every seg_reco function reached) must match, both ways,
     the list in src/threads.h and the comments "task-safe: see threads.h"
     above the definitions, so that the contract stays written where a
     reader editing a function sees it.

Limits: calls hidden in inline assembly or reached through data (a function
pointer stored in a global table) are not seen; task code has neither.
Needs gcc (10 or later), nm (binutils) and python3.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
MARKER = "task-safe: see threads.h"
LIST_HEADING = "The allowed set"

# the one function task code may call that checks for interrupts: not followed
INTERRUPT_CHECK = "seg_reco_check_for_interrupts_off_tasks"
# the pool itself: a task never starts tasks
POOL = {"seg_reco_parallel_for", "seg_reco_parallel_workers", "seg_reco_parallel_begin",
        "seg_reco_parallel_end", "seg_reco_parallel_cancel"}
# PostgreSQL functions that are plain C on the caller's arrays
PG_ALLOWED = {"pg_qsort"}
BLAS = re.compile(r"^(cblas_|openblas_|goto_|LAPACKE_|lapack_|[sdcz][a-z0-9]{2,6}_$)")
ALLOC = {"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc",
         "posix_memalign", "memalign", "valloc", "strdup", "strndup"}
# used when the server binary cannot be read (and always, as a safety net)
PG_PATTERNS = re.compile(
    r"^(palloc|pfree|repalloc|pstrdup|pnstrdup|psprintf|MemoryContext|errstart|errfinish|"
    r"elog_|errmsg|errcode|ereport|ProcessInterrupts|SPI_|SearchSysCache|SysCache|"
    r"ReleaseSysCache|pg_detoast|detoast|heap_|table_|relation_|RelationIdGetRelation|"
    r"ReadBuffer|LockBuffer|DirectFunctionCall|FunctionCall|OidFunctionCall|"
    r"construct_|deconstruct_array|text_to_cstring|cstring_to_text|tuplestore_|"
    r"ExceptionalCondition|float_overflow_error|float_underflow_error|float_zero_divide_error)")
# helpers sort_template.h defines beside each sort function
SORT_HELPERS = re.compile(r"_(med3|swap|swapn)$")

CI_NODE = re.compile(r'^node: \{ title: "([^"]*)" label: "([^"\\]*)\\n([^"]*)"( shape : ellipse)? \}')
CI_EDGE = re.compile(r'^edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"(?: label: "([^"]*)")? \}')
CG_NODE = re.compile(r"^(\S+)/\d+ \((\S+)\) @0x")
CG_REF = re.compile(r"(\S+)/\d+ \((addr|read|write)\)")


def die(msg):
    print(f"check_threads: {msg}", file=sys.stderr)
    sys.exit(2)


def rel(path):
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def make_flags(pg_config):
    """The compiler and flags PGXS compiles the objects with."""
    recipe = "print-flags:\n\t@echo '$(CC)'\n\t@echo '$(CPPFLAGS)'\n\t@echo '$(CFLAGS)'\n"
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, f"PG_CONFIG={pg_config}",
                        "-f", "Makefile", "-f", "-", "print-flags"],
                       input=recipe, capture_output=True, text=True)
    if r.returncode != 0:
        die("make could not print the build flags:\n" + r.stderr)
    cc, cppflags, cflags = (r.stdout.splitlines() + ["", "", ""])[:3]
    drop = re.compile(r"^(-O.*|-g.*|-Werror.*|-W.*|-D_FORTIFY_SOURCE.*|-flto.*)$")
    flags = [f for f in (cflags.split() + cppflags.split()) if not drop.match(f)]
    return cc.split() or ["gcc"], flags


def compile_all(cc, flags, sources, out):
    extra = ["-O0", "-w", "-Dalways_inline=noinline", "-fcallgraph-info", "-fdump-ipa-cgraph"]

    def one(src):
        obj = os.path.join(out, os.path.relpath(src, ROOT))[:-2] + ".o"
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        r = subprocess.run(cc + flags + extra + ["-c", src, "-o", obj], cwd=ROOT,
                           capture_output=True, text=True)
        return src, obj, r

    objs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as ex:
        for src, obj, r in ex.map(one, sources):
            if r.returncode != 0:
                die(f"compiling {rel(src)} failed:\n{r.stderr}")
            objs[src] = obj
    return objs


class Graph:
    """Functions (key: 'tu:name' when static, else 'name'), calls, references."""

    def __init__(self):
        self.name = {}            # key -> plain name
        self.loc = {}             # key -> (file, line)
        self.tu = {}              # key -> the source it was compiled from
        self.calls = defaultdict(list)   # key -> [(callee title or key, site)]
        self.refs = defaultdict(list)    # key -> [(name, kind, tu)]
        self.globals = {}         # plain name -> key, functions with external linkage
        self.clones = defaultdict(set)   # plain name -> keys of target_clones functions

    @staticmethod
    def base(title):
        """Strip a target_clones suffix (.default, .fma, ...)."""
        head, _, name = title.rpartition(":")
        name = name.split(".", 1)[0]
        return f"{head}:{name}" if head else name

    def read_ci(self, path, tu):
        for line in open(path, encoding="utf-8", errors="replace"):
            m = CI_NODE.match(line)
            if m:
                title, name, loc, ext = m.groups()
                if ext or title.endswith(".resolver"):
                    continue
                key = self.base(title)
                file, ln = loc.rsplit(":", 2)[:2]
                self.name[key] = name.split(".", 1)[0]
                self.loc.setdefault(key, (file, int(ln)))
                self.tu[key] = tu
                if ":" not in title:
                    self.globals[name] = key
                elif "." in title.rpartition(":")[2]:
                    self.clones[self.name[key]].add(key)
                continue
            m = CI_EDGE.match(line)
            if m:
                src, dst, site = m.groups()
                if src.endswith(".resolver"):
                    continue
                self.calls[self.base(src)].append((self.base(dst), site or ""))

    def read_cgraph(self, path, tu):
        """References of each function: the dump's first symbol table."""
        cur = None
        started = False
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("Initial Symbol table"):
                if started:
                    break
                started = True
                continue
            if not started:
                continue
            m = CG_NODE.match(line)
            if m:
                cur = m.group(1)
                continue
            if line and not line[0].isspace() and line.strip():
                break
            if cur and line.startswith("  References:"):
                for name, kind in CG_REF.findall(line):
                    key = self.local(cur, tu)
                    if key:
                        self.refs[key].append((name, kind, tu))

    def local(self, name, tu):
        """Key of a function name as seen from translation unit tu."""
        k = f"{tu}:{name}"
        if k in self.name:
            return k
        return self.resolve(name)

    def resolve(self, name):
        if name in self.name:
            return name
        if name in self.globals:
            return self.globals[name]
        if len(self.clones.get(name, ())) == 1:
            return next(iter(self.clones[name]))
        return None


def strip_c(text):
    """Comments and string/char literals blanked, line structure kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def find_roots(sources):
    """(name, file, line) of the fn argument of every seg_reco_parallel_for and
    seg_reco_parallel_begin call."""
    roots, problems = [], []
    for src in sources:
        if os.path.basename(src) == "threads.c":
            continue
        text = strip_c(open(src, encoding="utf-8").read())
        for m in re.finditer(r"\bseg_reco_parallel_(for|begin)\s*\(", text):
            depth, i, args, start = 1, m.end(), [], m.end()
            while i < len(text) and depth:
                c = text[i]
                if c in "([{":
                    depth += 1
                elif c in ")]}":
                    depth -= 1
                if (c == "," and depth == 1) or depth == 0:
                    args.append(text[start:i].strip())
                    start = i + 1
                i += 1
            line = text.count("\n", 0, m.start()) + 1
            fn = args[1] if len(args) == 3 else ""   # (ntasks, fn, arg), both calls
            if not re.fullmatch(r"[A-Za-z_]\w*", fn):
                problems.append(f"{rel(src)}:{line}: the task of seg_reco_parallel_for must be "
                                f"a function named at the call (got {fn!r})")
                continue
            roots.append((fn, src, line))
    return roots, problems


def nm_postgres(pg_config):
    """Functions and variables the server binary exports."""
    try:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                check=True).stdout.strip()
        out = subprocess.run(["nm", "-D", "--defined-only", os.path.join(bindir, "postgres")],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"check_threads: note: cannot read the server's symbols ({e}); "
              "using the built-in name patterns only", file=sys.stderr)
        return set(), set()
    funcs, data = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        (funcs if parts[1] in "TWi" else data).add(parts[2].split("@")[0])
    return funcs, data


def has_marker(lines, ln):
    """MARKER in the comments just above line ln (1-based) of a definition."""
    i = ln - 2
    while i >= 0 and i >= ln - 60:
        s = lines[i].strip()
        if s == "" or s == "}" or s.endswith(";") and not s.startswith("*"):
            break
        if MARKER in s:
            return True
        i -= 1
    return False


def parse_list(path):
    """(file, name) pairs of the allowed set in threads.h, and the entry points."""
    lines = open(path, encoding="utf-8").read().splitlines()
    try:
        start = next(i for i, s in enumerate(lines) if LIST_HEADING in s)
    except StopIteration:
        return None, None
    listed, entries = set(), set()
    file = None
    for s in lines[start + 1:]:
        body = s.strip()
        if not body.startswith("*") or body in ("*", "*/"):
            if listed:
                break
            continue
        body = re.sub(r"\([^)]*\)", "", body.lstrip("*"))
        m = re.match(r"\s*([\w/]+\.[ch]):(.*)$", body)
        if m:
            file, body = m.group(1), m.group(2)
        elif file is None:
            continue
        for name, star in re.findall(r"([A-Za-z_]\w*)(\*?)", body):
            listed.add((file, name))
            if star:
                entries.add(name)
    return listed, entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg-config", default=os.environ.get("PG_CONFIG", "pg_config"))
    ap.add_argument("--keep", metavar="DIR", help="compile into DIR and keep it")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the allowed set")
    args = ap.parse_args()
    t0 = time.time()

    sources = sorted(os.path.join(d, f) for d in (SRC, os.path.join(SRC, "demo"))
                     if os.path.isdir(d) for f in os.listdir(d) if f.endswith(".c"))
    cc, flags = make_flags(args.pg_config)
    incdir = subprocess.run([args.pg_config, "--includedir-server"], capture_output=True,
                            text=True).stdout.strip() or "/usr/include/postgresql"
    out = args.keep or tempfile.mkdtemp(prefix="seg_reco_threads.")
    try:
        objs = compile_all(cc, flags, sources, out)
        g = Graph()
        for src, obj in objs.items():
            base = obj[:-2]
            g.read_ci(base + ".ci", src)
            dumps = [f for f in os.listdir(os.path.dirname(obj))
                     if f.startswith(os.path.basename(src)) and f.endswith(".cgraph")]
            if not os.path.exists(base + ".ci") or len(dumps) != 1:
                die(f"{cc[0]} wrote no call graph for {rel(src)} (GCC 10 or later is needed)")
            g.read_cgraph(os.path.join(os.path.dirname(obj), dumps[0]), src)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    pg_funcs, pg_data = nm_postgres(args.pg_config)

    roots, problems = find_roots(sources)
    if not roots and not problems:
        problems.append("no seg_reco_parallel_for call found in the sources")

    def where(site):
        f, _, rest = site.partition(":")
        return f"{rel(f)}:{rest.split(':')[0]}" if rest else rel(f)

    def ours(key):
        return g.loc[key][0].startswith(SRC + os.sep)

    def template(key):
        return g.loc[key][0].endswith("lib/sort_template.h")

    def verdict(name, key):
        """None when a task may call it, else why not."""
        if name == INTERRUPT_CHECK:
            return None
        if name in POOL:
            return "starts tasks from a task"
        if name == "__indirect_call":
            return ("calls through a function pointer, which this check cannot follow: "
                    "call the functions directly (a switch)")
        if key is not None:
            if ours(key) or template(key) or not g.loc[key][0].startswith(incdir):
                return None
            return "is an inline function of PostgreSQL's headers"
        if BLAS.match(name):
            return "is OpenBLAS/LAPACK (not thread-safe inside a backend)"
        if name in ALLOC:
            return "allocates: prepare the arrays before seg_reco_parallel_for"
        if name in PG_ALLOWED:
            return None
        if name in pg_funcs or PG_PATTERNS.match(name):
            hint = ""
            if re.match(r"palloc|repalloc|pfree|MemoryContext|pstrdup|psprintf", name):
                hint = ": allocate in the caller before seg_reco_parallel_for"
            elif re.match(r"errstart|errfinish|elog|errmsg|errcode", name):
                hint = (": write a failure code to the caller's arrays and report it after "
                        "seg_reco_parallel_for returns")
            elif name == "ProcessInterrupts":
                hint = (" (CHECK_FOR_INTERRUPTS): use SEG_RECO_CHECK_FOR_INTERRUPTS() or check "
                        "between seg_reco_parallel_for calls")
            return "is a PostgreSQL function" + hint
        if name.startswith("seg_reco_"):
            return "is not defined in the sources"
        return None

    # breadth first from the roots: shortest paths for the messages
    parent = {}
    queue = deque()
    entry_keys = {}
    for fn, src, line in roots:
        key = g.local(fn, src)
        if key is None:
            problems.append(f"{rel(src)}:{line}: task function {fn} is not defined")
            continue
        entry_keys[key] = (src, line)
        if key not in parent:
            parent[key] = None
            queue.append(key)
    violations = {}
    while queue:
        key = queue.popleft()
        edges = [(callee, site, "calls") for callee, site in g.calls.get(key, [])]
        for name, kind, tu in g.refs.get(key, []):
            k = g.local(name, tu)
            if k is not None:
                edges.append((k, f"{rel(g.loc[key][0])}:{g.loc[key][1]}", "takes the address of"))
            elif name in pg_data and kind in ("read", "write", "addr"):
                violations.setdefault((key, name), (f"{kind}s the PostgreSQL variable",
                                                    f"{rel(g.loc[key][0])}:{g.loc[key][1]}"))
            elif kind == "addr":
                edges.append((name, f"{rel(g.loc[key][0])}:{g.loc[key][1]}", "takes the address of"))
        for callee, site, how in edges:
            ckey = callee if callee in g.name else g.resolve(callee)
            cname = g.name[ckey] if ckey else callee
            why = verdict(cname, ckey)
            if why:
                violations.setdefault((key, cname), (why, where(site)))
            elif ckey and cname != INTERRUPT_CHECK and ckey not in parent:
                parent[ckey] = (key, where(site))
                queue.append(ckey)

    def chain(key):
        names = []
        while key is not None:
            p = parent[key]
            names.append(g.name[key] + (f" ({p[1]})" if p else ""))
            key = p[0] if p else None
        return " -> ".join(reversed(names))

    for (key, name), (why, site) in sorted(violations.items(), key=lambda kv: chain(kv[0][0])):
        if name == "InterruptPending" and (key, "ProcessInterrupts") in violations:
            continue			# both are CHECK_FOR_INTERRUPTS()
        if why.endswith("variable"):
            problems.append(f"{chain(key)} {why} {name}")
        else:
            problems.append(f"{chain(key)} -> {name} ({site}) {why}")

    # the written contract: markers and the list in threads.h
    reached = set(parent)
    expected = set()
    for key in reached:
        if ours(key):
            expected.add((os.path.relpath(g.loc[key][0], SRC), g.name[key]))
        elif template(key) and not SORT_HELPERS.search(g.name[key]):
            expected.add((os.path.relpath(g.tu[key], SRC), g.name[key]))
    cache = {}
    seen = set()
    for key in sorted(g.name):
        if not ours(key) or g.loc[key] in seen:
            continue
        seen.add(g.loc[key])		# a header's inline function, in each file using it
        file, ln = g.loc[key]
        lines = cache.setdefault(file, open(file, encoding="utf-8").read().splitlines())
        marked = has_marker(lines, ln)
        if key in reached and not marked:
            problems.append(f"{rel(file)}:{ln}: {g.name[key]} runs on task threads: put "
                            f"/* {MARKER} */ above it and list it in src/threads.h")
        elif marked and key not in reached:
            problems.append(f"{rel(file)}:{ln}: {g.name[key]} is marked task-safe but no task "
                            "reaches it: remove the marker and its entry in src/threads.h")
    listed, entries = parse_list(os.path.join(SRC, "threads.h"))
    if listed is None:
        problems.append(f"src/threads.h has no list headed \"{LIST_HEADING}\"")
    else:
        for f, n in sorted(expected - listed):
            problems.append(f"src/threads.h: the allowed set lacks {f}: {n}")
        for f, n in sorted(listed - expected):
            problems.append(f"src/threads.h: the allowed set lists {f}: {n}, which no task reaches")
        names = {g.name[k] for k in entry_keys}
        for n in sorted(names - entries):
            problems.append(f"src/threads.h: mark the task entry point {n} with *")
        for n in sorted(entries - names):
            problems.append(f"src/threads.h: {n}* is not a task entry point")

    secs = time.time() - t0
    if args.verbose:
        for f, n in sorted(expected):
            print(f"  {f}: {n}{'*' if n in {g.name[k] for k in entry_keys} else ''}")
    if problems:
        n = len(problems)
        print(f"thread contract broken ({n} problem{'s' if n != 1 else ''}, see src/threads.h):")
        for p in problems:
            print(f"  {p}")
        print(f"checked {len(objs)} files in {secs:.1f}s")
        return 1
    print(f"thread contract holds: {len(entry_keys)} task entry points, {len(expected)} "
          f"task-safe functions, {len(objs)} files checked in {secs:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
