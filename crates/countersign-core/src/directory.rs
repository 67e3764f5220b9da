//! The directory (`people.toml`): people with levels, teams and keys, and agents.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, SourceFile};
use crate::model::Identity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    levels: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    person: Vec<RawPerson>,
    #[serde(default)]
    agent: Vec<RawAgent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    emails: Vec<Spanned<String>>,
    github: Option<Spanned<String>>,
    level: Spanned<String>,
    #[serde(default)]
    teams: Vec<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    emails: Vec<Spanned<String>>,
    github: Option<Spanned<String>>,
    /// The people who run the agent: responsible for its commits, so they cannot approve them.
    #[serde(default)]
    operators: Vec<Spanned<String>>,
}

/// A position on the level ladder; unknown people rank below every level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    Unknown,
    Level(usize),
}

#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub github: Option<String>,
    pub level: usize,
    pub teams: Vec<String>,
    pub keys: Vec<ssh_key::PublicKey>,
}

#[derive(Clone, Debug)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub emails: Vec<String>,
    pub github: Option<String>,
    /// Directory ids of the people who run it.
    pub operators: Vec<String>,
}

/// Who an identity is according to the directory.
#[derive(Clone, Copy, Debug)]
pub enum Member<'a> {
    Person(&'a Person),
    Agent(&'a Agent),
}

#[derive(Clone, Debug)]
pub struct Directory {
    levels: Vec<String>,
    people: Vec<Person>,
    agents: Vec<Agent>,
    by_email: HashMap<String, (bool, usize)>,
    by_github: HashMap<String, (bool, usize)>,
    by_id: HashMap<String, (bool, usize)>,
    /// False for the stand-in of a people.toml that could not be read: other files are then
    /// checked without their references to people, teams and levels.
    complete: bool,
}

impl Directory {
    /// A directory that knows nobody, standing in for a people.toml with mistakes, so that the
    /// other files' own mistakes are still reported in the same run.
    pub fn unreadable() -> Directory {
        Directory {
            levels: Vec::new(),
            people: Vec::new(),
            agents: Vec::new(),
            by_email: HashMap::new(),
            by_github: HashMap::new(),
            by_id: HashMap::new(),
            complete: false,
        }
    }

    /// Whether references to people, teams and levels can be checked against it.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Parses and validates `people.toml`; every mistake is reported, not only the first.
    pub fn parse(source: &SourceFile) -> Result<Directory, Vec<ConfigError>> {
        let raw: RawDirectory =
            toml::from_str(&source.text).map_err(|error| vec![ConfigError::from_toml(source, &error)])?;
        let mut errors = Vec::new();
        let mut levels = Vec::new();
        if raw.levels.get_ref().is_empty() {
            errors.push(
                ConfigError::new(source, Some(raw.levels.span()), "`levels` is empty")
                    .with_help("list the levels lowest first, e.g. levels = [\"junior\", \"mid\", \"senior\"]"),
            );
        }
        for level in raw.levels.get_ref() {
            if levels.contains(level.get_ref()) {
                errors.push(ConfigError::new(
                    source,
                    Some(level.span()),
                    format!("level `{}` is listed twice", level.get_ref()),
                ));
            } else {
                levels.push(level.get_ref().clone());
            }
        }
        let mut directory = Directory {
            levels,
            people: Vec::new(),
            agents: Vec::new(),
            by_email: HashMap::new(),
            by_github: HashMap::new(),
            by_id: HashMap::new(),
            complete: true,
        };
        // Each person's keys with their spans, to refuse a key listed under two people.
        let mut raw_keys: Vec<(usize, Vec<Spanned<String>>)> = Vec::new();
        for raw_person in raw.person {
            let keys = raw_person.keys.clone();
            if let Some(person) = directory.check_person(source, raw_person, &mut errors) {
                raw_keys.push((directory.people.len(), keys));
                directory.people.push(person);
            }
        }
        // GitHub logins inside noreply addresses identify their person too, like `github`.
        for idx in 0..directory.people.len() {
            for email in directory.people[idx].emails.clone() {
                if let Some(login) = noreply_login(&email.to_ascii_lowercase()) {
                    directory.by_github.entry(login.to_owned()).or_insert((true, idx));
                }
            }
        }
        directory.check_shared_keys(source, &raw_keys, &mut errors);
        for raw_agent in raw.agent {
            let idx = directory.agents.len();
            for operator in &raw_agent.operators {
                if directory.person_index(operator.get_ref()).is_none() {
                    errors.push(
                        ConfigError::new(
                            source,
                            Some(operator.span()),
                            format!("operator `{}` is not a person of this file", operator.get_ref()),
                        )
                        .with_help("list the ids of the people who run the agent"),
                    );
                }
            }
            directory.register_id(source, &raw_agent.id, (false, idx), &mut errors);
            for email in &raw_agent.emails {
                directory.register_email(source, email, (false, idx), &mut errors);
            }
            if let Some(github) = &raw_agent.github {
                directory.register_github(source, github, (false, idx), &mut errors);
            }
            directory.agents.push(Agent {
                id: raw_agent.id.get_ref().clone(),
                name: raw_agent.name.unwrap_or_else(|| raw_agent.id.get_ref().clone()),
                emails: raw_agent.emails.iter().map(|email| email.get_ref().clone()).collect(),
                github: raw_agent.github.map(Spanned::into_inner),
                operators: raw_agent.operators.iter().map(|operator| operator.get_ref().clone()).collect(),
            });
        }
        if errors.is_empty() { Ok(directory) } else { Err(errors) }
    }

    fn check_person(&mut self, source: &SourceFile, raw: RawPerson, errors: &mut Vec<ConfigError>) -> Option<Person> {
        let idx = self.people.len();
        self.register_id(source, &raw.id, (true, idx), errors);
        for email in &raw.emails {
            self.register_email(source, email, (true, idx), errors);
        }
        if let Some(github) = &raw.github {
            self.register_github(source, github, (true, idx), errors);
        }
        let level = self.levels.iter().position(|level| level == raw.level.get_ref());
        if level.is_none() {
            errors.push(
                ConfigError::new(source, Some(raw.level.span()), format!("unknown level `{}`", raw.level.get_ref()))
                    .with_label("not in `levels`")
                    .with_help(format!("use one of: {}", self.levels.join(", "))),
            );
        }
        let mut keys = Vec::new();
        for key in &raw.keys {
            match ssh_key::PublicKey::from_openssh(key.get_ref().trim()) {
                Ok(public_key) => keys.push(public_key),
                Err(error) => errors.push(
                    ConfigError::new(source, Some(key.span()), format!("cannot read SSH public key: {error}"))
                        .with_help("paste one line of an OpenSSH public key file, e.g. \"ssh-ed25519 AAAAC3Nza… alice@laptop\""),
                ),
            }
        }
        Some(Person {
            id: raw.id.get_ref().clone(),
            name: raw.name.unwrap_or_else(|| raw.id.get_ref().clone()),
            emails: raw.emails.iter().map(|email| email.get_ref().clone()).collect(),
            github: raw.github.map(Spanned::into_inner),
            level: level?,
            teams: raw.teams.iter().map(|team| team.get_ref().clone()).collect(),
            keys,
        })
    }

    /// One key under two people would let either sign as the other.
    fn check_shared_keys(
        &self,
        source: &SourceFile,
        raw_keys: &[(usize, Vec<Spanned<String>>)],
        errors: &mut Vec<ConfigError>,
    ) {
        let mut owners: Vec<(&ssh_key::public::KeyData, usize)> = Vec::new();
        for (idx, spans) in raw_keys {
            for (key, span) in self.people[*idx].keys.iter().zip(spans) {
                match owners.iter().find(|(known, _)| *known == key.key_data()).map(|(_, owner)| owner) {
                    Some(other) if other != idx => errors.push(
                        ConfigError::new(
                            source,
                            Some(span.span()),
                            format!(
                                "this key is also listed under `{}`; one key would let either person sign as the other",
                                self.people[*other].id
                            ),
                        )
                        .with_help("each person signs with keys of their own; remove the key from one of them"),
                    ),
                    Some(_) => {}
                    None => owners.push((key.key_data(), *idx)),
                }
            }
        }
    }

    fn register_id(
        &mut self,
        source: &SourceFile,
        id: &Spanned<String>,
        slot: (bool, usize),
        errors: &mut Vec<ConfigError>,
    ) {
        if !is_simple_name(id.get_ref()) {
            errors.push(
                ConfigError::new(source, Some(id.span()), format!("`{}` is not a valid id", id.get_ref()))
                    .with_help("ids are short names of letters, digits, `.`, `_` and `-`, e.g. \"alice\""),
            );
        } else if self.by_id.insert(id.get_ref().clone(), slot).is_some() {
            errors.push(
                ConfigError::new(source, Some(id.span()), format!("id `{}` is used twice", id.get_ref()))
                    .with_help("ids must be unique across people and agents"),
            );
        }
    }

    fn register_email(
        &mut self,
        source: &SourceFile,
        email: &Spanned<String>,
        slot: (bool, usize),
        errors: &mut Vec<ConfigError>,
    ) {
        let value = email.get_ref().trim();
        if !value.contains('@') {
            errors.push(ConfigError::new(source, Some(email.span()), format!("`{value}` is not an e-mail address")));
        } else if self.by_email.insert(value.to_ascii_lowercase(), slot).is_some() {
            errors.push(
                ConfigError::new(source, Some(email.span()), format!("e-mail `{value}` belongs to two entries"))
                    .with_help("an address must identify one person or agent"),
            );
        }
    }

    fn register_github(
        &mut self,
        source: &SourceFile,
        login: &Spanned<String>,
        slot: (bool, usize),
        errors: &mut Vec<ConfigError>,
    ) {
        let value = login.get_ref().trim().trim_start_matches('@');
        if self.by_github.insert(value.to_ascii_lowercase(), slot).is_some() {
            errors.push(ConfigError::new(
                source,
                Some(login.span()),
                format!("GitHub login `{value}` belongs to two entries"),
            ));
        }
    }

    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub fn level_index(&self, name: &str) -> Option<usize> {
        self.levels.iter().position(|level| level == name)
    }

    pub fn level_name(&self, rank: Rank) -> &str {
        match rank {
            Rank::Unknown => "unknown",
            Rank::Level(idx) => &self.levels[idx],
        }
    }

    fn member(&self, (is_person, idx): (bool, usize)) -> Member<'_> {
        if is_person { Member::Person(&self.people[idx]) } else { Member::Agent(&self.agents[idx]) }
    }

    pub fn by_id(&self, id: &str) -> Option<Member<'_>> {
        self.by_id.get(id).map(|slot| self.member(*slot))
    }

    /// The position of a person in `people()`, which evaluation uses as a compact key.
    pub fn person_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).filter(|(is_person, _)| *is_person).map(|(_, idx)| *idx)
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        match self.by_id(id)? {
            Member::Person(person) => Some(person),
            Member::Agent(_) => None,
        }
    }

    pub fn by_github(&self, login: &str) -> Option<Member<'_>> {
        self.by_github.get(&login.trim_start_matches('@').to_ascii_lowercase()).map(|slot| self.member(*slot))
    }

    /// Finds who an e-mail belongs to, including GitHub's `<id>+<login>@users.noreply.github.com`.
    pub fn by_email(&self, email: &str) -> Option<Member<'_>> {
        let email = email.trim().to_ascii_lowercase();
        if let Some(slot) = self.by_email.get(&email) {
            return Some(self.member(*slot));
        }
        self.by_github(noreply_login(&email)?)
    }

    /// A person whose address this one imitates: the same address with a `+tag`, or in other
    /// letter case. For a hint only: it never identifies anyone.
    pub fn resembled(&self, email: &str) -> Option<&Person> {
        let email = email.trim().to_ascii_lowercase();
        let (local, domain) = email.split_once('@')?;
        let bare = format!("{}@{domain}", local.split_once('+').map_or(local, |(bare, _)| bare));
        match self.by_email.get(&bare) {
            Some((true, idx)) if bare != email => Some(&self.people[*idx]),
            _ => None,
        }
    }

    pub fn by_identity(&self, identity: &Identity) -> Option<Member<'_>> {
        self.by_email(&identity.email)
    }

    /// Who requests a deployment. `github:LOGIN`, `email:ADDRESS` and `id:ID` say which kind of
    /// name it is; a bare name is looked up as an id, an e-mail and a GitHub login, and must
    /// not name two different entries (a login equal to someone else's id is ambiguous, not them).
    pub fn requester(&self, key: &str) -> Result<Member<'_>, RequesterError> {
        let key = key.trim();
        let found = if let Some(login) = key.strip_prefix("github:") {
            self.by_github(login)
        } else if let Some(email) = key.strip_prefix("email:") {
            self.by_email(email)
        } else if let Some(id) = key.strip_prefix("id:") {
            self.by_id(id)
        } else {
            let mut candidates: Vec<Member<'_>> = Vec::new();
            let by_email = if key.contains('@') && !key.starts_with('@') { self.by_email(key) } else { None };
            for member in [self.by_id(key), by_email, self.by_github(key)].into_iter().flatten() {
                if !candidates.iter().any(|known| known.id() == member.id()) {
                    candidates.push(member);
                }
            }
            if candidates.len() > 1 {
                let ids = candidates.iter().map(|member| member.id().to_owned()).collect();
                return Err(RequesterError::Ambiguous { key: key.to_owned(), ids });
            }
            candidates.pop()
        };
        found.ok_or_else(|| RequesterError::Unknown(key.to_owned()))
    }

    /// Whether `id` is a person or an agent; `file` names the people.toml in the refusal.
    pub fn known_id(&self, id: &str, file: &str) -> Result<(), UnknownId> {
        if self.by_id(id).is_some() {
            return Ok(());
        }
        let close = self
            .people
            .iter()
            .filter(|person| strsim::levenshtein(&person.id, id) <= 2)
            .map(|person| person.id.clone())
            .collect();
        Err(UnknownId { id: id.to_owned(), file: file.to_owned(), close })
    }

    pub fn is_team(&self, team: &str) -> bool {
        self.people.iter().any(|person| person.in_team(team))
    }

    /// Agents as `(email, id)` pairs for detection.
    pub fn agent_emails(&self) -> Vec<(String, String)> {
        self.agents
            .iter()
            .flat_map(|agent| agent.emails.iter().map(|email| (email.clone(), agent.id.clone())))
            .collect()
    }

    pub fn team_names(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.people
            .iter()
            .flat_map(|person| person.teams.iter().map(String::as_str))
            .filter(|team| seen.insert(*team))
            .collect()
    }
}

/// An id that is neither a person nor an agent of the people.toml `file`, with the people's ids
/// one or two edits away: the typos worth suggesting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{id}` is neither a person nor an agent of {file}{}", did_you_mean(.close))]
pub struct UnknownId {
    pub id: String,
    pub file: String,
    pub close: Vec<String>,
}

fn did_you_mean(close: &[String]) -> String {
    if close.is_empty() {
        return String::new();
    }
    let named: Vec<String> = close.iter().map(|id| format!("`{id}`")).collect();
    format!(" (did you mean {}?)", named.join(" or "))
}

/// Why a requester names nobody, or more than one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequesterError {
    #[error("requester `{0}` is not in people.toml")]
    Unknown(String),
    #[error("requester `{key}` names {}; write github:LOGIN, email:ADDRESS or id:ID", ids.join(" and "))]
    Ambiguous { key: String, ids: Vec<String> },
}

impl Member<'_> {
    pub fn id(&self) -> &str {
        match self {
            Member::Person(person) => &person.id,
            Member::Agent(agent) => &agent.id,
        }
    }
}

/// The login of a GitHub noreply address, `<id>+<login>@users.noreply.github.com` or
/// `<login>@users.noreply.github.com`; lowercase in, lowercase out.
pub fn noreply_login(email: &str) -> Option<&str> {
    let login = email.strip_suffix("@users.noreply.github.com")?;
    Some(login.split_once('+').map_or(login, |(_, login)| login))
}

impl Person {
    pub fn rank(&self) -> Rank {
        Rank::Level(self.level)
    }

    /// Team names match exactly or by the slug of `org/team`.
    pub fn in_team(&self, team: &str) -> bool {
        let slug = team.rsplit('/').next().unwrap_or(team);
        self.teams.iter().any(|own| own == team || own == slug || own.rsplit('/').next() == Some(slug))
    }
}

/// Why someone cannot sign a statement as a person of the directory.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignerRefusal {
    #[error("`{0}` is not a person of people.toml")]
    Unknown(String),
    #[error("`{0}` is an agent; agents cannot approve or reject")]
    Agent(String),
    #[error("{0} has no keys in people.toml; add the public half of the signing key to their `keys`")]
    NoKeys(String),
    #[error("the key is not one of {0}'s keys in people.toml; add its public half there first")]
    OtherKey(String),
}

impl Directory {
    /// The person `id` names, if `key` is one of their keys: who may sign as them.
    pub fn signer(&self, id: &str, key: &ssh_key::PublicKey) -> Result<&Person, SignerRefusal> {
        let person = match self.by_id(id) {
            Some(Member::Person(person)) => person,
            Some(Member::Agent(agent)) => return Err(SignerRefusal::Agent(agent.id.clone())),
            None => return Err(SignerRefusal::Unknown(id.to_owned())),
        };
        if person.keys.is_empty() {
            return Err(SignerRefusal::NoKeys(person.id.clone()));
        }
        if !person.keys.iter().any(|listed| listed.key_data() == key.key_data()) {
            return Err(SignerRefusal::OtherKey(person.id.clone()));
        }
        Ok(person)
    }
}

/// Ids and environment names end up in file names and refs: letters, digits, `.`, `_`, `-`.
pub fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A person proposed for `people.toml` by an import from GitHub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposed {
    pub login: String,
    pub name: Option<String>,
    pub emails: Vec<String>,
    pub teams: Vec<String>,
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text of a proposed `people.toml`: every person with `level = "?"`, which does not load
/// until someone who knows sets each level (nobody becomes senior by an import).
pub fn proposal(org: &str, people: &[Proposed]) -> String {
    let mut text = format!(
        "# Proposed from the members and teams of the GitHub organisation {org}.\n\
         # Set each person's level (one of `levels`) and review the e-mail addresses; agents go in\n\
         # [[agent]] entries. This file does not load while a level is \"?\".\n\
         levels = [\"intern\", \"junior\", \"mid\", \"senior\", \"staff\", \"principal\"]\n"
    );
    let mut people: Vec<&Proposed> = people.iter().collect();
    people.sort_by_key(|person| person.login.to_ascii_lowercase());
    for person in people {
        let id: String = person
            .login
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
            .collect();
        text.push_str(&format!("\n[[person]]\nid = {}\n", toml_string(&id)));
        if let Some(name) = &person.name {
            text.push_str(&format!("name = {}\n", toml_string(name)));
        }
        text.push_str(&format!("github = {}\n", toml_string(&person.login)));
        let emails: Vec<String> = person.emails.iter().map(|email| toml_string(email)).collect();
        text.push_str(&format!("emails = [{}]\n", emails.join(", ")));
        text.push_str("level = \"?\"\n");
        if !person.teams.is_empty() {
            let teams: Vec<String> = person.teams.iter().map(|team| toml_string(team)).collect();
            text.push_str(&format!("teams = [{}]\n", teams.join(", ")));
        }
    }
    text
}
