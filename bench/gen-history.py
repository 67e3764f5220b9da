#!/usr/bin/env python3
"""Writes a `git fast-import` stream for a synthetic but realistic monorepo history.

    python3 bench/gen-history.py [--commits 200000] [--seed 1] [--feature] > stream
    git init -q --bare repo.git && git -C repo.git fast-import --quiet < stream

What it produces (deterministic for a given --seed and options):

* `--commits` commits on `refs/heads/main`, linear, dated over ~4 years (2022-11-24 .. 2026-11-20)
  with working-hour and weekday bias and per-author time zones;
* ~50 authors with realistic names (some non-ASCII) and e-mails (corporate, GitHub noreply,
  personal), a dependabot bot, a directory agent and AI tool identities;
* multi-paragraph messages: plain commits, conventional commits, GitHub squash merges with bullet
  lists and `---------` separators, Signed-off-by / Reviewed-by / human Co-authored-by trailers;
* ~15% of commits carry AI markers (Claude Code footer and Co-Authored-By, the Copilot coding
  agent as author, `Assisted-by:`, `Made-with: Cursor`, `AI-Tool:`, aider's subject prefix,
  co-author and name suffix, markers buried in squash bullets), plus decoys that must not count
  (`Assisted-by: none`, prose that mentions Claude or Copilot, dependabot);
* each commit adds or modifies 1-5 files among ~3,000 paths (services/<svc>/..., libs/...,
  docs/..., .github/...), related files together, with small line edits so blobs delta well;
* the first commit adds `.countersign/people.toml`, `policy.toml`, `services.toml` and
  `.github/CODEOWNERS` (people.toml lists most human authors with levels and teams, no keys);
* with `--feature`: `refs/heads/feature` off main's tip, `--feature-commits` commits (50) that
  modify `--feature-files` distinct existing files (500) in total, partly AI-assisted.

Only the standard library is used.
"""

import argparse
import random
import sys
import textwrap

START = 1669248000  # 2022-11-24T00:00:00Z
END = 1795132800  # 2026-11-20T00:00:00Z

# ---------------------------------------------------------------------------------------------
# People

LEVELS = ["intern", "junior", "mid", "senior", "staff", "principal"]

# (id, name, email kind, level or None when not in people.toml, teams, tz, signs off, weight)
# email kind: "corp" -> first.last@acme-corp.example, "gh" -> GitHub noreply, "personal".
AUTHORS = [
    ("amoreau", "Alice Moreau", "corp", "senior", ["checkout", "platform"], "+0100", False, 9),
    ("btran", "Bob Tran", "gh", "junior", ["checkout"], "-0800", False, 8),
    ("cdiaz", "Carol Díaz", "corp", "staff", ["platform"], "-0500", True, 6),
    ("dokafor", "David Okafor", "corp", "mid", ["payments"], "+0000", False, 7),
    ("eschmidt", "Eva Schmidt", "corp", "principal", ["platform", "search"], "+0100", True, 3),
    ("fnakamura", "Fumiko Nakamura", "corp", "senior", ["search"], "+0900", False, 6),
    ("gsilva", "Gabriel Silva", "gh", "mid", ["catalog"], "-0300", False, 7),
    ("hpatel", "Harini Patel", "corp", "senior", ["accounts"], "+0530", False, 6),
    ("iwojcik", "Igor Wójcik", "corp", "junior", ["inventory"], "+0100", False, 5),
    ("jkim", "Jisoo Kim", "corp", "mid", ["notifications"], "+0900", False, 6),
    ("klarsen", "Karin Larsen", "corp", "staff", ["shipping", "platform"], "+0100", True, 4),
    ("lrossi", "Luca Rossi", "personal", "mid", ["gateway"], "+0100", False, 6),
    ("mnguyen", "Minh Nguyen", "gh", "junior", ["recommendations"], "+0700", False, 6),
    ("nobrien", "Niamh O'Brien", "corp", "senior", ["billing"], "+0000", False, 5),
    ("oaydin", "Ozan Aydın", "corp", "mid", ["analytics"], "+0300", False, 5),
    ("pkowalski", "Piotr Kowalski", "corp", "senior", ["inventory"], "+0100", True, 5),
    ("qzhang", "Qing Zhang", "corp", "mid", ["search"], "+0800", False, 6),
    ("rgarcia", "Rosa García", "gh", "junior", ["catalog"], "-0600", False, 6),
    ("smueller", "Stefan Müller", "corp", "staff", ["payments", "checkout"], "+0100", True, 4),
    ("tjohnson", "Tanya Johnson", "corp", "mid", ["accounts"], "-0500", False, 6),
    ("uadeyemi", "Uche Adeyemi", "corp", "junior", ["notifications"], "+0100", False, 5),
    ("vpetrov", "Viktor Petrov", "personal", "senior", ["platform"], "+0200", False, 5),
    ("wchen", "Wei Chen", "corp", "mid", ["gateway"], "-0800", False, 6),
    ("xlopez", "Ximena López", "corp", "intern", ["docs"], "-0600", False, 3),
    ("yitoh", "Yuki Itoh", "corp", "mid", ["shipping"], "+0900", False, 5),
    ("zbrown", "Zoë Brown", "gh", "senior", ["billing", "payments"], "+0000", False, 5),
    ("asharma", "Aarav Sharma", "corp", "junior", ["analytics"], "+0530", False, 5),
    ("bfischer", "Birgit Fischer", "corp", "mid", ["checkout"], "+0100", False, 6),
    ("cmartin", "Camille Martin", "corp", "senior", ["recommendations"], "+0100", False, 5),
    ("dpopescu", "Dan Popescu", "corp", "mid", ["platform"], "+0200", False, 5),
    ("ehansen", "Erik Hansen", "corp", "junior", ["inventory"], "+0100", False, 4),
    ("fali", "Fatima Ali", "gh", "mid", ["accounts"], "+0400", False, 5),
    ("gwilliams", "Grace Williams", "corp", "staff", ["search", "recommendations"], "-0500", False, 3),
    ("hsato", "Haruto Satō", "corp", "junior", ["notifications"], "+0900", False, 4),
    ("imendes", "Inês Mendes", "corp", "mid", ["catalog"], "+0000", False, 5),
    # Contributors who are not (or no longer) in people.toml: unknown to the directory.
    ("jdoe", "Jordan Doe", "personal", None, [], "-0700", False, 3),
    ("kevans", "Kai Evans", "gh", None, [], "+1000", False, 2),
    ("lnovak", "Lucie Nováková", "corp", None, [], "+0100", False, 3),
    ("mreyes", "Mateo Reyes", "gh", None, [], "-0500", False, 2),
    ("nhoffmann", "Nils Hoffmann", "corp", None, [], "+0100", True, 2),
    ("ocampbell", "Olivia Campbell", "corp", None, [], "+0000", False, 2),
    ("pyilmaz", "Pınar Yılmaz", "corp", None, [], "+0300", False, 2),
    ("rbianchi", "Riccardo Bianchi", "personal", None, [], "+0100", False, 2),
    ("sabubakar", "Sani Abubakar", "gh", None, [], "+0100", False, 2),
    ("tlindqvist", "Tove Lindqvist", "corp", None, [], "+0100", False, 2),
    ("vkumar", "Vikram Kumar", "corp", None, [], "+0530", False, 3),
    ("wzhou", "Wen Zhou", "gh", None, [], "+0800", False, 2),
    ("ybenali", "Yasmine Benali", "corp", None, [], "+0100", False, 2),
    ("zwang", "Zhen Wang", "corp", None, [], "-0800", False, 2),
    ("ebjork", "Emil Björk", "corp", None, [], "+0100", False, 2),
]

DOMAIN = "acme-corp.example"
PERSONAL_DOMAINS = ["fastmail.example", "mailbox.example", "proton.example"]

GITHUB = ("GitHub", "noreply@github.com", "+0000")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", "+0000")
COPILOT_AGENT = ("Copilot", "198982749+Copilot@users.noreply.github.com", "+0000")
AGENT = ("Release Agent", "release-agent@acme-corp.example", "+0000")


def ascii_fold(text):
    table = {"á": "a", "í": "i", "ó": "o", "ü": "u", "ö": "o", "ë": "e", "ō": "o", "ê": "e", "ı": "i",
             "ş": "s", "ń": "n", "ñ": "n", "é": "e", "ã": "a", "Ö": "O", "Ø": "O", "'": ""}
    return "".join(table.get(char, char) for char in text)


class Author:
    def __init__(self, idx, row):
        self.id, self.name, kind, self.level, self.teams, self.tz, self.signs_off, self.weight = row
        first, last = ascii_fold(self.name).lower().split(" ", 1)
        last = last.replace(" ", "")
        self.github = f"{first[:1]}{last}" if idx % 3 else f"{first}-{last[:4]}"
        if kind == "corp":
            self.email = f"{first}.{last}@{DOMAIN}"
        elif kind == "gh":
            self.email = f"{40_000_000 + idx * 1_234_567}+{self.github}@users.noreply.github.com"
        else:
            self.email = f"{first}{last[:1]}@{PERSONAL_DOMAINS[idx % len(PERSONAL_DOMAINS)]}"
        # People switch machines: a few commits use a second, unlisted address.
        self.alt_email = f"{first}@{last}.example" if idx % 4 == 0 else None
        self.uses_conventional = idx % 3 == 0


# ---------------------------------------------------------------------------------------------
# Paths

SERVICES = [
    # name, language, tier, team
    ("checkout", "py", 0, "checkout"),
    ("payments", "go", 0, "payments"),
    ("accounts", "go", 1, "accounts"),
    ("inventory", "py", 1, "inventory"),
    ("catalog", "ts", 1, "catalog"),
    ("search", "go", 1, "search"),
    ("gateway", "go", 0, "gateway"),
    ("shipping", "py", 2, "shipping"),
    ("notifications", "ts", 2, "notifications"),
    ("recommendations", "py", 2, "recommendations"),
    ("billing", "go", 1, "billing"),
    ("analytics", "py", 3, "analytics"),
]
LIBS = [("payments", "go"), ("auth", "go"), ("logging", "py"), ("http", "ts"), ("db", "py"),
        ("metrics", "go"), ("featureflags", "ts"), ("testing", "py")]
MODULES = ["api", "handlers", "models", "storage", "client", "internal", "jobs", "events", "config",
           "validation", "cache", "middleware", "util", "domain", "adapters", "workers"]
STEMS = ["order", "cart", "price", "discount", "tax", "user", "session", "token", "invoice", "refund",
         "stock", "warehouse", "product", "variant", "query", "index", "ranking", "route", "limit",
         "retry", "queue", "email", "sms", "push", "template", "shipment", "carrier", "label",
         "event", "metric", "report", "export", "import", "schema", "migration", "health", "auth",
         "permission", "audit", "webhook", "subscription", "plan", "coupon", "address", "currency"]
EXT = {"py": "py", "go": "go", "ts": "ts"}
TEST_NAME = {"py": "test_{}.py", "go": "{}_test.go", "ts": "{}.test.ts"}


def build_paths(rng):
    """About 3,000 paths grouped in areas: (area name, weight, [paths])."""
    areas = []
    for name, lang, tier, _team in SERVICES:
        paths = [f"services/{name}/README.md", f"services/{name}/Dockerfile",
                 f"services/{name}/deploy/values.yaml", f"services/{name}/deploy/values-production.yaml"]
        for module in rng.sample(MODULES, 9):
            for stem in rng.sample(STEMS, rng.randint(10, 16)):
                paths.append(f"services/{name}/src/{module}/{stem}.{EXT[lang]}")
                if rng.random() < 0.6:
                    paths.append(f"services/{name}/tests/{module}/" + TEST_NAME[lang].format(stem))
        for number in range(1, rng.randint(15, 40)):
            paths.append(f"services/{name}/migrations/{number:04d}_{rng.choice(STEMS)}_{rng.choice(['add', 'drop', 'alter', 'index'])}.sql")
        weight = 14 if tier == 0 else 10 if tier == 1 else 6
        areas.append((f"services/{name}", weight, paths))
    for name, lang in LIBS:
        paths = [f"libs/{name}/README.md"]
        for module in rng.sample(MODULES, 4):
            for stem in rng.sample(STEMS, rng.randint(6, 10)):
                paths.append(f"libs/{name}/{module}/{stem}.{EXT[lang]}")
                paths.append(f"libs/{name}/{module}/" + TEST_NAME[lang].format(stem))
        areas.append((f"libs/{name}", 4, paths))
    docs = ["docs/README.md", "docs/CODEOWNERS.md"]
    for section in ["architecture", "runbooks", "adr", "guides", "api", "onboarding", "incidents"]:
        for stem in rng.sample(STEMS, 22):
            docs.append(f"docs/{section}/{stem}-{rng.choice(['overview', 'howto', 'notes', 'design'])}.md")
    areas.append(("docs", 5, docs))
    infra = [".github/workflows/ci.yml", ".github/workflows/deploy.yml", ".github/workflows/nightly.yml",
             ".github/dependabot.yml", "Makefile", "README.md", "go.work", "package.json", "pyproject.toml"]
    for env in ["staging", "production"]:
        for svc, *_ in SERVICES:
            infra.append(f"infra/terraform/{env}/{svc}.tf")
    areas.append(("infra", 3, infra))
    for _name, _weight, paths in areas:
        # dedupe while keeping order (random stems can repeat in migrations)
        seen = set()
        paths[:] = [path for path in paths if not (path in seen or seen.add(path))]
    return areas


# ---------------------------------------------------------------------------------------------
# File contents: a pool of plausible lines per language; edits replace, insert and delete lines.

IDENTS = ["order", "cart", "total", "price", "user", "session", "item", "items", "amount", "currency",
          "request", "response", "ctx", "client", "config", "result", "err", "value", "key", "limit",
          "offset", "cursor", "batch", "event", "payload", "retries", "timeout", "deadline", "tax",
          "discount", "quantity", "sku", "stock", "address", "token", "claims", "span", "logger"]


def line_pool(rng, lang, size=4000):
    pool = []
    for _ in range(size):
        a, b, c = rng.choice(IDENTS), rng.choice(IDENTS), rng.choice(IDENTS)
        n = rng.randint(0, 500)
        if lang == "py":
            pool.append(rng.choice([
                f"    {a} = {b}.get(\"{c}\", {n})",
                f"    if {a} is None:",
                f"        raise ValueError(\"{a} must be set for {b}\")",
                f"    return {a}_{b}({c}, limit={n})",
                f"def {a}_{b}({c}, *, {a}=None):",
                f"    logger.info(\"{a} %s {b} %d\", {c}, {n})",
                f"        {a}.append({b}[{n % 7}])",
                f"    for {a} in {b}.{c}s:",
                f"class {a.title()}{b.title()}({c.title()}Base):",
                f"    # {a} is rounded before {b} is applied ({c})",
                f"from acme.{a} import {b}_{c}",
                "",
            ]))
        elif lang == "go":
            pool.append(rng.choice([
                f"\t{a} := {b}.{c.title()}({n})",
                f"\tif err != nil {{\n\t\treturn nil, fmt.Errorf(\"{a} {b}: %w\", err)\n\t}}",
                f"func ({a[0]} *{a.title()}) {b.title()}{c.title()}(ctx context.Context) error {{",
                f"\t{a}.{b.title()} = {c}",
                f"\tfor _, {a} := range {b}.{c.title()}s {{",
                f"\t// {a.title()} is checked before {b} because {c} may be empty.",
                f"\treturn {a}, nil",
                "}",
                f"\t\"github.com/acme/{a}/{b}\"",
                "",
            ]))
        elif lang == "ts":
            pool.append(rng.choice([
                f"  const {a} = await {b}.{c}({n});",
                f"  if (!{a}) throw new Error(\"{a} missing for {b}\");",
                f"export function {a}{b.title()}({c}: {c.title()}): {a.title()} {{",
                f"  return {{ ...{a}, {b}: {c} }};",
                f"import {{ {a}{b.title()} }} from \"../{c}\";",
                f"  // {a} before {b}: see {c}",
                "}",
                f"  {a}.{b}.push({c});",
                "",
            ]))
        elif lang == "sql":
            # Quoted, as some identifiers (order, user, limit, offset) are reserved words in SQL.
            qb, qc = f'"{b}"', f'"{c}"'
            pool.append(rng.choice([
                f"ALTER TABLE {a}s ADD COLUMN {b}_{c} BIGINT NOT NULL DEFAULT {n};",
                f"CREATE INDEX {a}s_{b}_idx ON {a}s ({qb}, {qc});",
                f"UPDATE {a}s SET {qb} = {qc} WHERE {qb} IS NULL;",
                f"-- {a}: backfill {b} from {c}",
            ]))
        elif lang == "md":
            words = " ".join(rng.choice(PROSE_WORDS) for _ in range(rng.randint(6, 14)))
            pool.append(rng.choice([words.capitalize() + ".", f"## {a.title()} and {b}", f"- {words}", "",
                                    f"See `{a}_{b}` in the {c} service.", words.capitalize() + ","]))
        else:  # yaml, tf, Makefile, Dockerfile, json, toml ...
            pool.append(rng.choice([
                f"  {a}_{b}: {n}", f"  {a}: \"{b}-{c}\"", f"{a}:", f"    - {b}", f"# {a} {b} {c}",
                f"  {a} = \"{b}\"", f"resource \"{a}_{b}\" \"{c}\" {{", "}", "",
            ]))
    return pool


def lang_of(path):
    ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return {"py": "py", "go": "go", "ts": "ts", "sql": "sql", "md": "md"}.get(ext, "other")


# ---------------------------------------------------------------------------------------------
# Messages

PROSE_WORDS = ("the a an to of in for on with when before after while because so that it this "
               "request response handler cache retry timeout limit queue worker job event payload "
               "order cart checkout payment refund invoice stock warehouse price discount tax user "
               "session token account search index query ranking route gateway shipment label "
               "email template metric dashboard alert log trace span test fixture migration schema "
               "column table field value error path config flag rollout client server service "
               "endpoint latency throughput memory allocation lock transaction idempotency key "
               "duplicate empty missing stale invalid slow flaky correct consistent previous new "
               "old now still only also instead already never always again first last each every "
               "returns keeps avoids uses moves adds removes checks reads writes sends waits "
               "fails breaks fixes handles skips logs counts rounds parses").split()
VERBS = ["Fix", "Add", "Remove", "Refactor", "Update", "Handle", "Use", "Avoid", "Make", "Move",
         "Rename", "Simplify", "Support", "Improve", "Drop", "Bump", "Document", "Test", "Cache",
         "Validate", "Retry", "Log", "Speed up", "Clean up", "Revert"]
OBJECTS = ["order total rounding", "cart expiry", "discount stacking", "tax calculation", "refund webhook",
           "invoice numbering", "stock reservation", "warehouse sync", "price cache", "search ranking",
           "query timeout", "index rebuild", "session refresh", "token validation", "rate limiter",
           "retry backoff", "queue consumer", "email templates", "push notifications", "shipment labels",
           "carrier API client", "metrics exporter", "audit log", "feature flag checks", "health check",
           "database pool", "migration ordering", "error messages", "flaky integration test",
           "currency conversion", "address validation", "subscription renewal", "coupon expiry",
           "pagination cursor", "trace propagation", "deploy values", "CI cache", "lint warnings",
           "README", "runbook", "API docs", "Dockerfile", "dependency pins", "connection leak"]
PREFIXES = ["fix", "feat", "refactor", "chore", "docs", "test", "perf", "ci"]


def sentence(rng):
    count = rng.randint(7, 22)
    words = [rng.choice(PROSE_WORDS) for _ in range(count)]
    return " ".join(words).capitalize() + "."


def paragraph(rng):
    return textwrap.fill(" ".join(sentence(rng) for _ in range(rng.randint(1, 4))), 72)


def subject(rng, author, area):
    scope = area.split("/")[-1]
    verb, obj = rng.choice(VERBS), rng.choice(OBJECTS)
    if author is not None and author.uses_conventional:
        return f"{rng.choice(PREFIXES)}({scope}): {verb.lower()} {obj}"
    return rng.choice([f"{verb} {obj}", f"{verb} {obj} in {scope}", f"{scope}: {verb.lower()} {obj}",
                       f"{verb} {obj} for {rng.choice(STEMS)}s"])


def body(rng):
    roll = rng.random()
    if roll < 0.25:
        return ""
    paragraphs = [paragraph(rng) for _ in range(1 if roll < 0.6 else rng.randint(2, 4))]
    if rng.random() < 0.15:
        paragraphs.append("\n".join(f"- {sentence(rng)}" for _ in range(rng.randint(2, 5))))
    if rng.random() < 0.3:
        paragraphs.append(rng.choice([f"Fixes #{rng.randint(100, 9999)}", f"Refs ACME-{rng.randint(100, 9999)}",
                                      f"Closes #{rng.randint(100, 9999)}"]))
    return "\n\n".join(paragraphs)


CLAUDE_MODELS = ["Claude", "Claude", "Claude Opus 4.6", "Claude Opus 4.6 (1M context)", "Claude Sonnet 4.5",
                 "Claude Sonnet 4", "Claude Opus 4.1"]
AIDER_MODELS = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-pro", "deepseek/deepseek-chat"]


def claude_footer(rng):
    model = rng.choice(CLAUDE_MODELS)
    lines = []
    if rng.random() < 0.8:
        lines.append("🤖 Generated with [Claude Code](https://claude.com/claude-code)")
        lines.append("")
    lines.append(f"Co-Authored-By: {model} <noreply@anthropic.com>")
    return "\n".join(lines)


def human_trailers(rng, author, people):
    lines = []
    if rng.random() < 0.04:
        other = rng.choice(people)
        if other is not author:
            lines.append(f"Co-authored-by: {other.name} <{other.email}>")
    if rng.random() < 0.05:
        other = rng.choice(people)
        lines.append(f"Reviewed-by: {other.name} <{other.email}>")
    if author is not None and author.signs_off:
        lines.append(f"Signed-off-by: {author.name} <{author.email}>")
    return lines


# ---------------------------------------------------------------------------------------------
# Stream writing


class Stream:
    def __init__(self, out):
        self.out = out
        self.chunks = []
        self.size = 0

    def raw(self, data):
        self.chunks.append(data)
        self.size += len(data)
        if self.size > 1 << 20:
            self.flush()

    def data(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.raw(b"data %d\n" % len(payload))
        self.raw(payload)
        self.raw(b"\n")

    def flush(self):
        self.out.write(b"".join(self.chunks))
        self.chunks.clear()
        self.size = 0


def ident(name, email, when, tz):
    return f"{name} <{email}> {when} {tz}".encode("utf-8")


class Generator:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        rng = self.rng
        self.authors = [Author(idx, row) for idx, row in enumerate(AUTHORS)]
        self.people = [author for author in self.authors if author.level is not None]
        self.author_cum = []
        total = 0
        for author in self.authors:
            total += author.weight
            self.author_cum.append(total)
        self.areas = build_paths(rng)
        self.area_cum = []
        total = 0
        for _name, weight, _paths in self.areas:
            total += weight
            self.area_cum.append(total)
        # Per-path hotness: a few files change all the time, most rarely.
        self.path_cum = []
        for _name, _weight, paths in self.areas:
            cum, total = [], 0.0
            for _ in paths:
                total += rng.paretovariate(1.2)
                cum.append(total)
            self.path_cum.append(cum)
        self.pools = {lang: line_pool(rng, lang) for lang in ["py", "go", "ts", "sql", "md", "other"]}
        self.files = {}  # path -> list of lines
        self.pr_number = 1200

    # -- contents -------------------------------------------------------------------------------

    def new_file(self, path):
        pool = self.pools[lang_of(path)]
        rng = self.rng
        return [rng.choice(pool) for _ in range(rng.randint(15, 110))]

    def edit(self, lines, path, scale=1):
        rng = self.rng
        pool = self.pools[lang_of(path)]
        for _ in range(rng.randint(1, 4) * scale):
            lines[rng.randrange(len(lines))] = rng.choice(pool)
        for _ in range(rng.randint(0, 3) * scale):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(pool))
        for _ in range(rng.randint(0, 3) * scale):
            if len(lines) > 10:
                del lines[rng.randrange(len(lines))]
        while len(lines) > 220:
            del lines[rng.randrange(len(lines))]

    def emit_file(self, stream, path, lines):
        stream.raw(b"M 100644 inline " + path.encode() + b"\n")
        stream.data("\n".join(lines) + "\n")

    # -- authors and messages -------------------------------------------------------------------

    def pick_author(self):
        return self.authors[_bisect(self.author_cum, self.rng.random() * self.author_cum[-1])]

    def author_identity(self, author):
        email = author.alt_email if author.alt_email and self.rng.random() < 0.05 else author.email
        return author.name, email

    def message_and_identities(self, author, area, when):
        """Returns (message, author (name, email, tz), committer (name, email, tz), author time)."""
        rng = self.rng
        name, email = self.author_identity(author)
        author_id = (name, email, author.tz)
        committer_id = author_id
        author_time = when
        trailers = human_trailers(rng, author, self.people)
        ai_roll = rng.random()
        squash = rng.random() < 0.25
        title = subject(rng, author, area)
        text_body = body(rng)
        ai_lines = []
        if ai_roll < 0.055:
            ai_lines = [claude_footer(rng)]
        elif ai_roll < 0.075:  # Copilot coding agent authored, human co-author
            author_id = COPILOT_AGENT
            trailers = [f"Co-authored-by: {author.name} <{author.email}>"]
            if rng.random() < 0.5:
                trailers.append(f"Agent-Logs-Url: https://github.com/acme/monorepo/sessions/{rng.getrandbits(64):016x}")
            squash = True
        elif ai_roll < 0.092:
            ai_lines = [rng.choice(["Assisted-by: Claude:claude-opus-4-6", "Assisted-by: GitHub Copilot",
                                    "Assisted-by: Gemini 2.5 Pro", "Assisted-by: ChatGPT (gpt-5)",
                                    "Generated-by: Claude Code"])]
        elif ai_roll < 0.108:
            ai_lines = ["Made-with: Cursor"]
        elif ai_roll < 0.114:
            ai_lines = [f"AI-Tool: {rng.choice(['claude-code', 'copilot', 'windsurf'])}"]
        elif ai_roll < 0.126:  # aider: subject prefix, co-author trailer or name suffix
            style = rng.randrange(3)
            if style == 0:
                title = "aider: " + title[0].lower() + title[1:]
            elif style == 1:
                ai_lines = [f"Co-authored-by: aider ({rng.choice(AIDER_MODELS)}) <aider@aider.chat>"]
            else:
                author_id = (f"{author.name} (aider)", author.email, author.tz)
        elif ai_roll < 0.150:  # markers buried in a squash merge's bullets
            squash = True
        elif ai_roll < 0.152:
            trailers.append("Assisted-by: none")  # decoy: declared no AI
        elif ai_roll < 0.156:
            text_body = (text_body + "\n\n" if text_body else "") + rng.choice([
                "The Claude integration in the support bot now retries on 529.",
                "Copilot suggestions are disabled in this directory by .editorconfig.",
                "Mentions of ChatGPT in the FAQ are updated."])

        if squash:
            self.pr_number += rng.randint(1, 3)
            bullets = []
            for idx in range(rng.randint(2, 7)):
                bullets.append(f"* {subject(rng, None, area)}")
                if rng.random() < 0.3:
                    bullets.append("")
                    bullets.append(textwrap.fill(sentence(rng), 72))
                if 0.126 <= ai_roll < 0.150 and idx == 0:
                    bullets.append("")
                    bullets.append(rng.choice([
                        "Co-Authored-By: Claude <noreply@anthropic.com>",
                        "  Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>",
                        "* Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
                        "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
                        "Co-authored-by: Cursor Agent <cursoragent@cursor.com>",
                        "Co-authored-by: openai-codex[bot] <199175422+chatgpt-codex-connector[bot]@users.noreply.github.com>",
                    ]))
            parts = [f"{title} (#{self.pr_number})", "\n\n".join(bullets)]
            if ai_lines:
                parts.append("\n".join(ai_lines))
            tail = trailers
            if tail:
                parts.append("---------")
                parts.append("\n".join(tail))
            message = "\n\n".join(parts) + "\n"
            committer_id = GITHUB
            author_time = when - rng.randint(600, 3 * 86400)
        else:
            parts = [title]
            if text_body:
                parts.append(text_body)
            footer = ai_lines + trailers
            if footer:
                parts.append("\n".join(footer))
            message = "\n\n".join(parts) + "\n"
            if rng.random() < 0.1:  # rebased or cherry-picked: authored earlier
                author_time = when - rng.randint(60, 5 * 86400)
        return message, author_id, committer_id, author_time

    # -- commits --------------------------------------------------------------------------------

    def commit_time(self, idx, count):
        span = END - START
        base = START + span * idx // count
        return base + self.rng.randrange(max(1, span // count))

    def first_commit(self, stream, when):
        lead = self.authors[2]  # Carol, staff, platform
        stream.raw(b"commit refs/heads/main\n")
        stream.raw(b"author " + ident(lead.name, lead.email, when, lead.tz) + b"\n")
        stream.raw(b"committer " + ident(lead.name, lead.email, when, lead.tz) + b"\n")
        stream.data("Add the countersign deployment gate\n\nPeople, services and the policy live in .countersign/; CODEOWNERS\nassigns every service to its team.\n\n"
                    f"Signed-off-by: {lead.name} <{lead.email}>\n")
        for path, text in [(".countersign/people.toml", self.people_toml()), (".countersign/policy.toml", POLICY),
                           (".countersign/services.toml", self.services_toml()), (".github/CODEOWNERS", self.codeowners())]:
            stream.raw(b"M 100644 inline " + path.encode() + b"\n")
            stream.data(text)
        for path in ["README.md", "Makefile", ".github/workflows/ci.yml"]:
            self.files[path] = self.new_file(path)
            self.emit_file(stream, path, self.files[path])
        stream.raw(b"\n")

    def main_commits(self, stream):
        count = self.args.commits
        rng = self.rng
        self.first_commit(stream, self.commit_time(0, count))
        for idx in range(1, count):
            when = self.commit_time(idx, count)
            roll = rng.random()
            if roll < 0.012:
                self.dependabot_commit(stream, when)
                continue
            area_idx = _bisect(self.area_cum, rng.random() * self.area_cum[-1])
            area, _weight, paths = self.areas[area_idx]
            cum = self.path_cum[area_idx]
            if roll < 0.016:
                author_id = AGENT
                message = f"Release {area.split('/')[-1]} {idx // 1000}.{idx % 1000 // 10}.{idx % 10}\n\nChangelog regenerated by the release agent.\n"
                committer_id, author_time = AGENT, when
                touched = [paths[0]]
            else:
                author = self.pick_author()
                message, author_id, committer_id, author_time = self.message_and_identities(author, area, when)
                nfiles = rng.choices((1, 2, 3, 4, 5), cum_weights=(40, 65, 80, 92, 100))[0]
                touched = sorted({paths[_bisect(cum, rng.random() * cum[-1])] for _ in range(nfiles)})
            stream.raw(b"commit refs/heads/main\n")
            stream.raw(b"author " + ident(author_id[0], author_id[1], author_time, author_id[2]) + b"\n")
            stream.raw(b"committer " + ident(committer_id[0], committer_id[1], when, committer_id[2]) + b"\n")
            stream.data(message)
            for path in touched:
                lines = self.files.get(path)
                if lines is None:
                    lines = self.files[path] = self.new_file(path)
                else:
                    self.edit(lines, path)
                self.emit_file(stream, path, lines)
            stream.raw(b"\n")
            if idx % 20000 == 0:
                print(f"gen-history: {idx} commits", file=sys.stderr)

    def dependabot_commit(self, stream, when):
        rng = self.rng
        package = rng.choice(["golang.org/x/net", "requests", "axios", "urllib3", "github.com/stretchr/testify",
                              "pydantic", "typescript", "actions/checkout"])
        old, new = f"{rng.randint(0, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}", f"{rng.randint(3, 5)}.{rng.randint(0, 30)}.0"
        self.pr_number += 1
        message = (f"Bump {package} from {old} to {new} (#{self.pr_number})\n\nBumps [{package}](https://github.com/{package}) "
                   f"from {old} to {new}.\n\n---\nupdated-dependencies:\n- dependency-name: {package}\n  dependency-type: direct:production\n"
                   f"  update-type: version-update:semver-major\n...\n\nSigned-off-by: dependabot[bot] <support@github.com>\n")
        path = rng.choice(["package.json", "pyproject.toml", "go.work", ".github/workflows/ci.yml"])
        stream.raw(b"commit refs/heads/main\n")
        stream.raw(b"author " + ident(DEPENDABOT[0], DEPENDABOT[1], when - 3600, "+0000") + b"\n")
        stream.raw(b"committer " + ident(GITHUB[0], GITHUB[1], when, "+0000") + b"\n")
        stream.data(message)
        lines = self.files.get(path)
        if lines is None:
            lines = self.files[path] = self.new_file(path)
        else:
            self.edit(lines, path)
        self.emit_file(stream, path, lines)
        stream.raw(b"\n")

    def feature_commits(self, stream):
        """A branch off main's tip: N commits modifying M distinct existing files in total."""
        rng = self.rng
        ncommits, nfiles = self.args.feature_commits, self.args.feature_files
        existing = sorted(path for path in self.files if not path.startswith((".countersign/", ".github/CODEOWNERS")))
        if len(existing) < nfiles:
            sys.exit(f"gen-history: only {len(existing)} files exist on main; use more --commits")
        # Mostly one service and its library (a realistic cross-cutting change), plus others.
        focus = [path for path in existing if path.startswith(("services/checkout/", "libs/payments/"))]
        chosen = rng.sample(focus, min(len(focus), nfiles * 2 // 5))
        rest = [path for path in existing if path not in set(chosen)]
        chosen += rng.sample(rest, nfiles - len(chosen))
        rng.shuffle(chosen)
        author = next(a for a in self.authors if a.id == "btran")  # junior
        when = END + 3600
        per_commit = [chosen[i::ncommits] for i in range(ncommits)]
        for idx, paths in enumerate(per_commit):
            when += rng.randint(300, 7200)
            title = subject(rng, author, "services/checkout")
            parts = [title, paragraph(rng)]
            if idx % 3 == 0:
                parts.append(claude_footer(rng))
            elif idx % 7 == 1:
                parts.append("Assisted-by: Claude:claude-opus-4-6")
            stream.raw(b"commit refs/heads/feature\n")
            stream.raw(b"author " + ident(author.name, author.email, when, author.tz) + b"\n")
            stream.raw(b"committer " + ident(author.name, author.email, when, author.tz) + b"\n")
            stream.data("\n\n".join(parts) + "\n")
            if idx == 0:
                stream.raw(b"from refs/heads/main\n")
            for path in sorted(paths):
                lines = self.files[path]
                self.edit(lines, path, scale=2)
                self.emit_file(stream, path, lines)
            stream.raw(b"\n")

    # -- configuration ----------------------------------------------------------------------

    def people_toml(self):
        out = ['# Who is who: levels, teams and e-mails of the engineering organisation.',
               'levels = ["' + '", "'.join(LEVELS) + '"]', ""]
        for author in self.people:
            emails = [author.email]
            out += ["[[person]]", f'id = "{author.id}"', f'name = "{author.name}"',
                    "emails = [" + ", ".join(f'"{email}"' for email in emails) + "]",
                    f'github = "{author.github}"', f'level = "{author.level}"',
                    "teams = [" + ", ".join(f'"{team}"' for team in author.teams) + "]", ""]
        out += ["[[agent]]", 'id = "release-agent"', f'name = "{AGENT[0]}"', f'emails = ["{AGENT[1]}"]', ""]
        return "\n".join(out)

    def services_toml(self):
        out = []
        for name, _lang, tier, team in SERVICES:
            paths = [f"services/{name}/**"] + (["libs/payments/**"] if name == "payments" else [])
            out += ["[[service]]", f'name = "{name}"', f"tier = {tier}",
                    "paths = [" + ", ".join(f'"{path}"' for path in paths) + "]", f'owners = ["{team}"]', ""]
        out += ["[[service]]", 'name = "docs"', "tier = 3", 'paths = ["docs/**"]', ""]
        return "\n".join(out)

    def codeowners(self):
        out = ["# Every path has an owner team; the platform team owns the rest.", "* @acme/platform"]
        for name, _lang, _tier, team in SERVICES:
            out.append(f"/services/{name}/ @acme/{team}")
        out += ["/libs/payments/ @acme/payments @acme/checkout", "/docs/", "/.countersign/ @acme/platform", ""]
        return "\n".join(out)


def _bisect(cum, value):
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return min(lo, len(cum) - 1)


POLICY = """version = 1

[ai]
trailers = ["AI-Tool"]              # extra trailer keys that declare AI assistance
contextual_counts = false           # whether branch-name signals alone mark a change

[approvals]
keep_on_rebase = true               # an approval follows the fingerprint, not the head commit
max_age_days = 14
rejections_block = true             # a reviewer's rejection blocks until that reviewer approves

[[rule]]
name = "two-person"
description = "Every production change needs one human reviewer besides its authors"
requires = { count = 1 }

[[rule]]
name = "ai-senior-signoff"
description = "AI-assisted changes from junior and mid-level engineers need a senior"
when = { ai_assisted = true, author_level_below = "senior" }
requires = { count = 1, min_level = "senior" }

[[rule]]
name = "tier0-owners"
when = { tier_at_most = 0 }
requires = { count = 1, owners = true, min_level = "senior" }

[[rule]]
name = "gate-config"
when = { paths = [".countersign/**", "CODEOWNERS", ".github/CODEOWNERS"] }
requires = { count = 2, min_level = "senior" }

[break_glass]
min_level = "senior"
reason_required = true
review_within_hours = 24
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=200_000, help="commits on main (default 200000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feature", action="store_true", help="also write refs/heads/feature off main's tip")
    parser.add_argument("--feature-commits", type=int, default=50)
    parser.add_argument("--feature-files", type=int, default=500)
    parser.add_argument("--output", "-o", help="write the stream here instead of stdout")
    args = parser.parse_args()
    if args.commits < 2:
        parser.error("--commits must be at least 2")
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    stream = Stream(out)
    generator = Generator(args)
    generator.main_commits(stream)
    if args.feature:
        generator.feature_commits(stream)
    stream.raw(b"done\n")
    stream.flush()
    out.flush()
    print(f"gen-history: {args.commits} commits on main, {len(generator.files)} files"
          + (f", feature: {args.feature_commits} commits / {args.feature_files} files" if args.feature else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
