//! Services (`services.toml`): which paths belong to which service, its tier and owners.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, SourceFile};
use crate::directory::Directory;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServices {
    #[serde(default)]
    service: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    tier: Spanned<i64>,
    paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    owners: Vec<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    /// 0 is the most critical.
    pub tier: u32,
    pub paths: Vec<String>,
    /// Team or person ids of the directory.
    pub owners: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Services {
    services: Vec<Service>,
    /// Every service's globs in one set, so a path is matched once against all services.
    combined: GlobSet,
    /// The service of each glob of `combined`.
    glob_service: Vec<usize>,
}

/// Compiles a path glob the way every path pattern of the configuration is read: `*` stays
/// inside one directory, `**` crosses directories.
pub fn compile_glob(pattern: &str) -> Result<Glob, String> {
    if pattern.trim().is_empty() {
        return Err("empty pattern".to_owned());
    }
    GlobBuilder::new(pattern.trim_start_matches('/'))
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|error| error.kind().to_string())
}

/// Compiles a list of spanned globs, reporting each bad one.
pub fn compile_globs(source: &SourceFile, patterns: &[Spanned<String>], errors: &mut Vec<ConfigError>) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        match compile_glob(pattern.get_ref()) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(reason) => errors.push(
                ConfigError::new(source, Some(pattern.span()), format!("bad glob `{}`: {reason}", pattern.get_ref()))
                    .with_help("use `*` within a directory and `**` across directories, e.g. \"services/checkout/**\""),
            ),
        }
    }
    match builder.build() {
        Ok(set) => set,
        // Each glob compiled alone, but not all together (the matcher grew too large): no glob
        // may silently match nothing, so this is a configuration error.
        Err(error) => {
            let span = patterns.first().map(Spanned::span);
            errors.push(
                ConfigError::new(source, span, format!("these globs cannot be compiled together: {error}"))
                    .with_help("use fewer or simpler globs in this list"),
            );
            GlobSet::empty()
        }
    }
}

impl Services {
    pub fn parse(source: &SourceFile, directory: &Directory) -> Result<Services, Vec<ConfigError>> {
        let raw: RawServices =
            toml::from_str(&source.text).map_err(|error| vec![ConfigError::from_toml(source, &error)])?;
        let mut errors = Vec::new();
        let mut services: Vec<Service> = Vec::new();
        for raw_service in raw.service {
            let name = raw_service.name.get_ref().clone();
            if services.iter().any(|service| service.name == name) {
                errors.push(ConfigError::new(
                    source,
                    Some(raw_service.name.span()),
                    format!("service `{name}` is defined twice"),
                ));
            }
            let tier = match u32::try_from(*raw_service.tier.get_ref()) {
                Ok(tier) => tier,
                Err(_) => {
                    errors.push(
                        ConfigError::new(source, Some(raw_service.tier.span()), "tier must be 0 or more")
                            .with_help("0 is the most critical tier"),
                    );
                    0
                }
            };
            if raw_service.paths.get_ref().is_empty() {
                errors.push(
                    ConfigError::new(source, Some(raw_service.paths.span()), format!("service `{name}` has no paths"))
                        .with_help("list the globs of the service's files, e.g. paths = [\"services/checkout/**\"]"),
                );
            }
            // Compiled here for its diagnostics; matching uses the combined set built below.
            compile_globs(source, raw_service.paths.get_ref(), &mut errors);
            for owner in &raw_service.owners {
                let owner_name = owner.get_ref();
                if directory.is_complete() && directory.person(owner_name).is_none() && !directory.is_team(owner_name) {
                    errors.push(
                        ConfigError::new(
                            source,
                            Some(owner.span()),
                            format!("owner `{owner_name}` is neither a team nor a person of people.toml"),
                        )
                        .with_help("owners are team names (from a person's `teams`) or person ids"),
                    );
                }
            }
            services.push(Service {
                name,
                tier,
                paths: raw_service.paths.get_ref().iter().map(|path| path.get_ref().clone()).collect(),
                owners: raw_service.owners.iter().map(|owner| owner.get_ref().clone()).collect(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut builder = GlobSetBuilder::new();
        let mut glob_service = Vec::new();
        for (service_idx, service) in services.iter().enumerate() {
            for pattern in &service.paths {
                if let Ok(glob) = compile_glob(pattern) {
                    builder.add(glob);
                    glob_service.push(service_idx);
                }
            }
        }
        let combined = builder.build().map_err(|error| {
            vec![ConfigError::new(source, None, format!("cannot compile the service globs together: {error}"))]
        })?;
        Ok(Services { services, combined, glob_service })
    }

    pub fn all(&self) -> &[Service] {
        &self.services
    }

    pub fn of_path<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.indices_of(path).into_iter().map(|idx| &self.services[idx])
    }

    /// Positions (in `all()`) of the services a path belongs to, in order.
    pub fn indices_of(&self, path: &str) -> Vec<usize> {
        let mut indices: Vec<usize> =
            self.combined.matches(path).into_iter().map(|glob| self.glob_service[glob]).collect();
        indices.sort_unstable();
        indices.dedup();
        indices
    }
}
