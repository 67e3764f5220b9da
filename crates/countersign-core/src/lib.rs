//! The pure core of countersign: it reads no files, opens no repositories and cannot fail on IO.
//! Adapters hand it owned values; it returns results plus findings, and the texts the CLI prints
//! of them ([`present`]).

/// Writes `as_str`, reads it back with `FromStr`, and serializes as that string.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::lifecycle::UnknownName;

            fn from_str(text: &str) -> Result<$name, $crate::lifecycle::UnknownName> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::lifecycle::UnknownName { kind: stringify!($name), text: text.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod attestation;
pub mod audit;
pub mod calibrate;
pub mod chart;
pub mod codeowners;
pub mod config;
pub mod deployment;
pub mod detect;
pub mod diagnostic;
pub mod directory;
pub mod evaluate;
pub mod finding;
pub mod fingerprint;
pub mod lifecycle;
mod markers;
pub mod model;
pub mod notes;
pub mod policy;
pub mod present;
pub mod risk;
pub mod rollout;
pub mod routing;
pub mod scan;
pub mod services;
pub mod simulate;
