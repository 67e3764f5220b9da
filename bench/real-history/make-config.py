#!/usr/bin/env python3
"""Writes DIR/naive/{people,services,policy}.toml for replaying a real repository's history with
`countersign simulate --repo PATH --range main --config DIR/naive`. Levels and services come from
`git log main` only, so each choice is explainable (printed to stderr). Standard library only."""
import argparse, collections, json, os, re, subprocess, sys, unicodedata

SENIOR_SHARE, MID_SHARE = 0.50, 0.80  # cumulative commit shares: seniors cover ~50%, mids the next ~30%
MIN_SENIORS, SERVICE_MIN_SHARE = 3, 0.03  # a directory is a service when it holds >= 3% of changed files
MONOREPO_DIRS = {"packages", "internal"}
DOCS_DIRS = {"docs", "doc", "examples", ".github"}
VENDORED = {"vendor", "third_party", "third-party", "node_modules"}  # others' code: no service, not counted

# Non-AI automation: never a person (countersign itself ignores most of these as authors).
BOT = re.compile(r"\[bot\]|dependabot|renovate|github-actions|actions-user|^actions@github\.com$"
                 r"|^noreply@github\.com$|^web-flow@github\.com$")
BOT_NAME = re.compile(r"(^|[-_ ])(ro)?bot$")  # gemini-cli-robot, but not brychanrobot@…
# AI agents: tool addresses and app accounts, a name that is only a tool's, or an "agent" word
# (joestump-agent, "Joe (Agent) Stump").
AI_EMAIL = re.compile(r"^noreply@anthropic\.com$|@cursor\.com$|^(noreply|codex)[^@]*@openai\.com$|@aider\.(chat|dev)$"
                      r"|@ampcode\.com$|^crush@charm\.land$|@crush\.charm\.land$|^noreply@opencode\.ai$|copilot"
                      r"|gemini-code-assist|google-labs-jules|devin-ai|claude\[bot\]|kiro-agent|(^|[-_.+])agent([-_.+]|@)")
AI_NAME = re.compile(r"^(claude|copilot|codex|devin|jules|gemini|cursor|aider|amp)( code| cli)?$|\bagent\b")
# An identity whose commits are nearly all generated (CLA records, version bumps) is automation
# even without a bot name (e.g. charmcli's "chore: auto-update files").
GENERATED = re.compile(r"signed the CLA|auto-update|bump version|^changelog for|^chore\(release\)", re.I)
CO_AUTHOR = re.compile(r"(?im)^[ \t]*co-authored-by:[ \t]*([^<\n]*?)[ \t]*<([^>\n]+)>")
NOREPLY = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$")


def git(repo, *args, stdin=None):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    return subprocess.run(["git", "-C", repo, "-c", "core.quotePath=false", *args], env=env, input=stdin,
                          check=True, capture_output=True, text=True, errors="replace").stdout


def toml_str(text):
    # A JSON string is a TOML basic string, except that TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007F")


def read_history(repo):
    """Authored commits per (name, e-mail); subjects and roles of every identity; changed lines per path."""
    authored, subjects, roles, lines, blobs = (collections.Counter(), collections.defaultdict(list),
                                               collections.defaultdict(set), collections.Counter(), {})
    # --raw reads trees only: it works on mirrors that lack some large blobs.
    out = git(repo, "log", "main", "--raw", "--no-renames", "--no-abbrev",
              "--format=%x1e%H%x00%an%x00%ae%x00%cn%x00%ce%x00%s%x00%b%x00")
    for record in out.split("\x1e")[1:]:
        sha, an, ae, cn, ce, subject, body, raw = record.split("\x00", 7)
        author, committer = (an.strip(), ae.strip().lower()), (cn.strip(), ce.strip().lower())
        authored[author] += 1
        roles[author].add("author")
        roles[committer].add("committer")
        for ident in {author, committer}:
            subjects[ident].append(subject)
        # Committers and co-authors are responsible humans too: their addresses join the people
        # found by authorship (countersign reads every line, not only git's trailer block).
        for name, email in CO_AUTHOR.findall(body):
            roles[(name.strip(), email.strip().lower())].add("co-author")
        blobs[sha] = set()
        for row in raw.splitlines():
            meta, _, path = row.partition("\t")
            if meta.startswith(":"):  # `:old_mode new_mode old_blob new_blob status`; 160000 is a submodule
                old_mode, new_mode, old, new = meta[1:].split()[:4]
                lines[path] += 0
                blobs[sha] |= {b for m, b in ((old_mode, old), (new_mode, new)) if m != "160000" and b.strip("0")}
    # Line counts need the blobs: commits with a missing one count their files but no lines.
    check = git(repo, "cat-file", "--batch-check", stdin="\n".join(set().union(*blobs.values())) + "\n")
    missing = {row.split()[0] for row in check.splitlines() if row.endswith(" missing")}
    whole = [sha for sha, ids in blobs.items() if not ids & missing]
    if missing:
        print(f"{len(missing)} blobs missing: lines of {len(blobs) - len(whole)} commits not counted", file=sys.stderr)
    out = git(repo, "log", "--no-walk=unsorted", "--stdin", "--numstat", "--no-renames", "--format=",
              stdin="\n".join(whole) + "\n") if whole else ""  # no revisions would mean HEAD
    for added, deleted, path in (row.split("\t", 2) for row in out.splitlines() if "\t" in row):
        lines[path] += sum(int(n) for n in (added, deleted) if n.isdigit())  # binary files: "-"
    return authored, subjects, roles, lines


def skip_reason(ident, subjects):
    name, email = ident[0].lower(), ident[1]
    if BOT.search(name) or BOT.search(email) or BOT_NAME.search(name):
        return "bot"
    if AI_EMAIL.search(email) or AI_NAME.search(name):
        return "AI agent"
    generated = sum(1 for s in subjects if GENERATED.search(s))
    if len(subjects) >= 5 and generated >= 0.8 * len(subjects):
        return f"automation ({generated}/{len(subjects)} generated commits)"
    return None


def group_people(idents):
    """Union of identities sharing a name, an e-mail or a GitHub login (case-insensitive)."""
    parent = {}
    def find(key):
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key
    for name, email in idents:
        keys = ["e:" + email] + (["n:" + name.lower()] if name else [])
        login = NOREPLY.match(email)
        if login:  # `7011819+andreynering@…` and `andreynering@…` and a name `andreynering` meet
            keys += ["n:" + login.group(1).lower()]
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    groups = collections.defaultdict(list)
    for ident in sorted(idents):
        groups[find("e:" + ident[1])].append(ident)
    return list(groups.values())


def slug(text):
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def unique_id(base, used):
    ident, n = base, 1
    while ident in used:  # same slug for different people: number them
        n += 1
        ident = f"{base}-{n}"
    used.add(ident)
    return ident


def make_people(authored, subjects, roles):
    human, agents, other = [], collections.defaultdict(set), 0
    print("identities that are not people:", file=sys.stderr)
    for ident in sorted(roles):
        reason = skip_reason(ident, subjects[ident])
        if not reason:
            human.append(ident)
        elif roles[ident] == {"co-author"}:
            other += 1  # AI co-authors: countersign recognises them, and they are no one's address
        else:
            print(f"  skip {ident[0]} <{ident[1]}> ({'/'.join(sorted(roles[ident]))}): {reason}, "
                  f"{authored[ident]} commits", file=sys.stderr)
            if reason == "AI agent":  # listed as [[agent]], so their commits count as AI-assisted
                agents[slug(ident[0]) or slug(ident[1].split("@")[0])].add(ident[1])
    print(f"  and {other} co-author identities of bots and AI tools", file=sys.stderr)
    people = []
    for group in group_people(human):
        commits = sum(authored[i] for i in group)
        if commits == 0:
            continue  # only a committer or co-author: when unsure, not a person
        group.sort(key=lambda ident: (-authored[ident], ident))  # the most used identity names the person
        logins = [m.group(1) for m in (NOREPLY.match(e) for _, e in group) if m]
        people.append({"name": group[0][0], "emails": sorted({email for _, email in group}),
                       "github": logins[0] if logins else None, "commits": commits})
    people.sort(key=lambda p: (-p["commits"], p["name"].lower(), p["emails"]))
    # Levels by cumulative share of human commits, most prolific first.
    total, covered, used = sum(p["commits"] for p in people), 0, set()
    for rank, person in enumerate(people):
        before = covered / total
        person["level"] = ("senior" if before < SENIOR_SHARE or rank < MIN_SENIORS
                           else "mid" if before < MID_SHARE else "junior")
        covered += person["commits"]
        person["id"] = unique_id(slug(person["github"] or "") or slug(person["name"])
                                 or slug(person["emails"][0].split("@")[0]) or "person", used)
    levels = collections.Counter(p["level"] for p in people)
    print(f"people: {len(people)} humans, {total} commits; by commits: {levels['senior']} senior (first ~50%), "
          f"{levels['mid']} mid (next ~30%), {levels['junior']} junior; {len(agents)} AI agents", file=sys.stderr)
    taken = {email for p in people for email in p["emails"]}
    agents = [(unique_id(base or "agent", used), sorted(emails - taken)) for base, emails in sorted(agents.items())]
    return people, [(ident, emails) for ident, emails in agents if emails]


def people_toml(people, agents):
    out = ["# Generated by bench/real-history/make-config.py from the history of main: levels by share",
           "# of commits (senior: the top authors covering ~50% of them, mid: the next ~30%).",
           'levels = ["junior", "mid", "senior"]']
    for p in sorted(people, key=lambda p: p["id"]):
        out += ["", "[[person]]", f"id = {toml_str(p['id'])}", f"name = {toml_str(p['name'])}",
                "emails = [" + ", ".join(map(toml_str, p["emails"])) + "]"]
        if p["github"]:
            out.append(f"github = {toml_str(p['github'])}")
        out += [f"level = {toml_str(p['level'])}",
                f"teams = [{toml_str('maintainers' if p['level'] == 'senior' else 'contributors')}]",
                f"# {p['commits']} commits"]
    for ident, emails in agents:
        out += ["", "[[agent]]", f"id = {toml_str(ident)}", "emails = [" + ", ".join(map(toml_str, emails)) + "]"]
    return "\n".join(out) + "\n"


def service_dir(path):
    """`dir`, or `packages/x` in a monorepo; files at the root belong to no service."""
    parts = path.split("/")
    depth = 2 if parts[0] in MONOREPO_DIRS else 1
    return "/".join(parts[:depth]) if len(parts) > depth else None


def services_toml(lines, tier0):
    lines = {path: n for path, n in lines.items() if path.split("/", 1)[0] not in VENDORED}
    files, changed = collections.Counter(), collections.Counter()
    for path, count in lines.items():
        if (d := service_dir(path)) is not None:
            files[d] += 1
            changed[d] += count
    chosen = sorted(d for d in files if files[d] >= SERVICE_MIN_SHARE * len(lines))
    code = sorted((d for d in chosen if d not in DOCS_DIRS), key=lambda d: (-changed[d], d))
    tiers = {d: 3 for d in chosen if d in DOCS_DIRS}
    # With named tier-0 paths (the code an outage or a breach would come through), the
    # directories are tiers 1 and 2; without, the two with the most changed lines are tier 0.
    first = 1 if tier0 else 0
    tiers.update({d: min(first + rank // 2, 2) for rank, d in enumerate(code)})
    names = collections.Counter(d.rsplit("/", 1)[-1] for d in chosen)
    out = ["# Generated by bench/real-history/make-config.py: directories holding >= 3% of the files",
           "# changed on main, tiered by changed lines; `critical` is tier 0 when named (--tier0)."]
    if tier0:
        out += ["", "[[service]]", 'name = "critical"', "tier = 0",
                "paths = [" + ", ".join(map(toml_str, tier0)) + "]", 'owners = ["maintainers"]']
        print(f"  critical: {', '.join(tier0)} tier 0 (named with --tier0)", file=sys.stderr)
    print(f"services: {len(chosen)} of {len(files)} directories hold >= 3% of {len(lines)} changed files "
          f"(vendored {'/, '.join(sorted(VENDORED))}/ left out)", file=sys.stderr)
    for d in chosen:
        short = d.rsplit("/", 1)[-1]
        name = (short if names[short] == 1 else d.replace("/", "-")).lstrip(".")  # `.github` -> `github`
        glob = re.sub(r"([*?\[\]{}\\])", r"\\\1", d) + "/**"  # a literal directory, even with glob characters
        out += ["", "[[service]]", f"name = {toml_str(name)}", f"tier = {tiers[d]}",
                f"paths = [{toml_str(glob)}]", 'owners = ["maintainers"]']
        why = "docs-like" if d in DOCS_DIRS else f"rank {code.index(d) + 1} by changed lines"
        print(f"  {name}: {d}/ {files[d]} files ({files[d] / len(lines):.1%}), {changed[d]} lines, "
              f"tier {tiers[d]} ({why})", file=sys.stderr)
    return "\n".join(out) + "\n"


POLICY = '''# The naive rule of DESIGN.md: an AI-assisted change whose least senior author is below senior
# needs one senior approval. Nothing else is required.
version = 1

[approvals]
# Without these the replay measures the reconstructed directory, not the rule: a change no rule
# applies to would block (the default), and so would every change with a responsible human the
# history could not name (a human co-author who never authored, automation such as a CLA bot);
# those rank below every level instead, as DESIGN.md section 4 describes.
no_rule_applies = "allow"
unknown_people = "lowest-level"

[[rule]]
name = "ai-senior-signoff"
description = "AI-assisted changes from junior and mid-level engineers need a senior"
when = { ai_assisted = true, author_level_below = "senior" }
requires = { count = 1, min_level = "senior" }
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="a git repository (bare or not) with a branch main")
    parser.add_argument("--out", required=True, help="a new directory; DIR/naive/ gets the configuration")
    parser.add_argument("--tier0", action="append", default=[], metavar="GLOB",
                        help="paths of the tier-0 service `critical` (repeatable); other services are tier 1 and up")
    args = parser.parse_args()
    if os.path.exists(args.out):
        print(f"{args.out} exists; refusing to overwrite it (remove it or choose another --out)", file=sys.stderr)
        return 2
    try:
        authored, subjects, roles, lines = read_history(args.repo)
    except subprocess.CalledProcessError as error:
        print(f"cannot read the history of main in {args.repo}: {error.stderr.strip()}", file=sys.stderr)
        return 2
    files = {"people": people_toml(*make_people(authored, subjects, roles)), "services": services_toml(lines, args.tier0),
             "policy": POLICY}
    out = os.path.join(args.out, "naive")
    os.makedirs(out)
    for name, text in files.items():
        with open(os.path.join(out, name + ".toml"), "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {out}/{{people,services,policy}}.toml", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
